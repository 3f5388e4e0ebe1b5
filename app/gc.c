/*
 * gc.c - the maintenance pass, run by `batchup gc` and periodically by the
 * master in a child of its own.
 *
 * The decisions are the database's (batchup.gc marks what expired, in one
 * transaction, and returns the files whose data is no longer wanted); this
 * file only removes that data.  Removal happens after the commit, so a crash
 * in between leaves an orphan file on disk, never a database row pointing at
 * missing data.
 *
 * Orphans are swept too: files under partial/ and files/ that no live file
 * of the database owns (a crash as above, or a PATCH that re-created its
 * partial file after a DELETE of its batch removed it).  Only files older
 * than orphan_grace_seconds are looked at, so an upload that is just
 * starting is never touched; and since a sweep reads every directory, it
 * runs at most every half grace period (the mtime of storage_dir/.swept
 * tells when the last one ran).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "batchup/check.h"
#include "batchup/db.h"
#include "batchup/gc.h"
#include "batchup/log.h"
#include "batchup/storage.h"
#include "batchup/store.h"

/* Ids asked about in one round trip. */
#define GC_SWEEP_CHUNK 256

struct orphan {
    char id[STORE_ID_SIZE];
    char path[1100];
    bool live;
};

struct sweep {
    struct db *db;
    time_t before; /* files modified before this may be orphans */
    size_t n;
    int removed;
    bool failed;
    struct orphan found[GC_SWEEP_CHUNK];
};

static void remove_data(const char *file_id, void *ctx)
{
    storage_remove(ctx, file_id);
}

static void mark_live(const char *file_id, void *ctx)
{
    struct sweep *sw = ctx;

    for (size_t i = 0; i < sw->n; i++)
        if (strcmp(sw->found[i].id, file_id) == 0)
            sw->found[i].live = true;
}

/* Ask the database about the files found so far; remove the orphans. */
static void sweep_flush(struct sweep *sw)
{
    const char *ids[GC_SWEEP_CHUNK];
    struct bu_error err;

    for (size_t i = 0; i < sw->n; i++)
        ids[i] = sw->found[i].id;
    if (sw->n > 0 && !sw->failed &&
        store_live_files(sw->db, &err, ids, sw->n, mark_live, sw) != 0) {
        log_warn("orphan sweep stopped: %s", err.message);
        sw->failed = true;
    }
    for (size_t i = 0; i < sw->n && !sw->failed; i++) {
        if (sw->found[i].live)
            continue;
        if (unlink(sw->found[i].path) == 0) {
            log_info("removed orphan %s", sw->found[i].path);
            sw->removed++;
        } else if (errno != ENOENT) {
            log_warn("cannot remove orphan %s: %s", sw->found[i].path, strerror(errno));
        }
    }
    sw->n = 0;
}

/* Consider dir/name: a file id, or a file id's ".lock", old enough. */
static void sweep_entry(struct sweep *sw, const char *dir, const char *name)
{
    struct orphan *o = &sw->found[sw->n];
    size_t len = strlen(name);
    struct stat st;

    if (len != 36 && !(len == 41 && strcmp(name + 36, ".lock") == 0))
        return;
    memcpy(o->id, name, 36);
    o->id[36] = '\0';
    snprintf(o->path, sizeof o->path, "%s/%s", dir, name);
    if (!check_uuid(o->id) || lstat(o->path, &st) != 0 || !S_ISREG(st.st_mode) ||
        st.st_mtime >= sw->before)
        return;
    o->live = false;
    if (++sw->n == GC_SWEEP_CHUNK)
        sweep_flush(sw);
}

static void sweep_dir(struct sweep *sw, const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL && !sw->failed)
        sweep_entry(sw, dir, e->d_name);
    closedir(d);
}

/* Is a sweep due?  Then mark it as done now (storage_dir/.swept). */
static bool sweep_due(const struct bu_config *cfg)
{
    char stamp[1100];
    struct stat st;
    int fd;

    snprintf(stamp, sizeof stamp, "%s/.swept", cfg->storage_dir);
    if (stat(stamp, &st) == 0 && st.st_mtime > time(NULL) - cfg->orphan_grace_seconds / 2)
        return false;
    fd = open(stamp, O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
    if (fd >= 0) {
        futimens(fd, NULL);
        close(fd);
    }
    return true;
}

int gc_sweep_orphans(const struct bu_config *cfg, struct db *db)
{
    struct sweep *sw = calloc(1, sizeof *sw);
    char dir[1100];
    DIR *files;
    struct dirent *e;
    int removed;

    if (sw == NULL)
        return -1;
    sw->db = db;
    sw->before = time(NULL) - cfg->orphan_grace_seconds;
    snprintf(dir, sizeof dir, "%s/partial", cfg->storage_dir);
    sweep_dir(sw, dir);
    snprintf(dir, sizeof dir, "%s/files", cfg->storage_dir);
    files = opendir(dir);
    while (files != NULL && (e = readdir(files)) != NULL && !sw->failed) {
        char shard[1100];
        if (strlen(e->d_name) != 2 || e->d_name[0] == '.')
            continue;
        snprintf(shard, sizeof shard, "%s/%s", dir, e->d_name);
        sweep_dir(sw, shard);
    }
    if (files != NULL)
        closedir(files);
    sweep_flush(sw);
    removed = sw->failed ? -1 : sw->removed;
    free(sw);
    return removed;
}

int gc_run(const struct bu_config *cfg, struct bu_error *err)
{
    struct db db;
    int n, orphans = 0;

    db_init(&db, cfg->database);
    n = store_gc(&db, err, cfg, remove_data, (void *)cfg);
    if (n >= 0 && sweep_due(cfg))
        orphans = gc_sweep_orphans(cfg, &db);
    db_close(&db);
    if (n < 0) {
        log_warn("maintenance pass failed: %s", err->message);
        return -1;
    }
    if (n > 0)
        log_info("maintenance pass removed the data of %d files", n);
    if (orphans > 0)
        log_info("maintenance pass removed %d orphan files", orphans);
    return 0;
}
