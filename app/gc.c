/* SPDX-License-Identifier: BSD-2-Clause */
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
 *
 * The sweep deletes what the database does not know, so it must be sure
 * it asks the right database about the right store: pointed at another
 * installation's storage_dir (a shared directory, a restored backup, a
 * configuration edited by mistake) it would delete everything there.  So
 * `batchup migrate` writes the database's identity into storage_dir (the
 * marker file .batchup-database, gc_mark_store), and the sweep runs only
 * where the marker names the database it asks; a store without a marker
 * is adopted only while it holds no data.  And it counts before it
 * deletes: when most of the old files it finds would go (more than half,
 * and at least GC_SWEEP_REFUSE_MIN), it deletes nothing and says so, since
 * that is what a wrong database, or a restored store, looks like.
 */
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
#include "batchup/disk.h"
#include "batchup/store.h"
#include "batchup/storecheck.h"

/* Ids asked about in one round trip. */
#define GC_SWEEP_CHUNK 256
/* The sweep refuses when more than half the old files, and at least this
 * many, would go. */
#define GC_SWEEP_REFUSE_MIN 100
/* The marker of storage_dir: the identity of its database. */
#define GC_MARKER ".batchup-database"

struct orphan {
    char id[STORE_ID_SIZE];
    char path[DISK_PATH_SIZE];
    bool live;
};

struct sweep {
    struct db *db;
    time_t before; /* files modified before this may be orphans */
    bool removing; /* the second walk: remove the orphans; the first only counts */
    size_t n;
    long old;     /* files old enough to be looked at */
    long orphans; /* of those, the ones no live file owns */
    long present; /* data files of any age */
    int removed;
    bool failed;
    struct orphan found[GC_SWEEP_CHUNK];
};

static void remove_data(const char *file_id, void *ctx)
{
    disk_remove(ctx, file_id);
}

static void mark_live(const char *file_id, void *ctx)
{
    struct sweep *sw = ctx;

    for (size_t i = 0; i < sw->n; i++)
        if (strcmp(sw->found[i].id, file_id) == 0)
            sw->found[i].live = true;
}

/* Ask the database about the files found so far; count the orphans, and
 * in the second walk remove them. */
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
        sw->orphans++;
        if (!sw->removing)
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

/* Consider dir/name: a file id, or a file id's ".lock", ".sha" (its saved
 * hash state) or ".sha.tmp" (one being written), old enough. */
static void sweep_entry(struct sweep *sw, const char *dir, const char *name)
{
    struct orphan *o = &sw->found[sw->n];
    size_t len = strlen(name);
    const char *rest = name + (len > 36 ? 36 : len); /* what follows the id */
    struct stat st;

    if (len != 36 && strcmp(rest, ".lock") != 0 && strcmp(rest, ".sha") != 0 &&
        strcmp(rest, ".sha.tmp") != 0)
        return;
    memcpy(o->id, name, 36);
    o->id[36] = '\0';
    snprintf(o->path, sizeof o->path, "%s/%s", dir, name);
    if (!check_uuid(o->id) || lstat(o->path, &st) != 0 || !S_ISREG(st.st_mode))
        return;
    sw->present++;
    if (st.st_mtime >= sw->before)
        return;
    sw->old++;
    o->live = false;
    if (++sw->n == GC_SWEEP_CHUNK)
        sweep_flush(sw);
}

/* disk_walk's visitor: each entry of the layout, while nothing failed. */
static bool sweep_visit(void *ctx, const char *dir, const char *name)
{
    struct sweep *sw = ctx;

    sweep_entry(sw, dir, name);
    return !sw->failed;
}

/* Is a sweep due?  Then mark it as done now (storage_dir/.swept). */
static bool sweep_due(const struct bu_config *cfg)
{
    char stamp[DISK_PATH_SIZE];
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

/* One walk of partial/ and files/<shard>/. */
static void sweep_walk(struct sweep *sw, const struct bu_config *cfg)
{
    sw->n = 0;
    sw->old = sw->orphans = sw->present = 0;
    disk_walk(cfg, sweep_visit, sw);
    sweep_flush(sw);
}

/* The identity in storage_dir's marker into id: 1 read, 0 no marker, -1
 * unreadable or malformed. */
static int marker_read(const struct bu_config *cfg, char id[STORE_ID_SIZE])
{
    char path[DISK_PATH_SIZE], line[64] = "";
    FILE *f;

    snprintf(path, sizeof path, "%s/" GC_MARKER, cfg->storage_dir);
    f = fopen(path, "re");
    if (f == NULL)
        return errno == ENOENT ? 0 : -1;
    if (fgets(line, sizeof line, f) == NULL)
        line[0] = '\0';
    fclose(f);
    line[strcspn(line, "\n")] = '\0';
    if (!check_uuid(line))
        return -1;
    snprintf(id, STORE_ID_SIZE, "%s", line);
    return 1;
}

/* Write the marker (atomically: a temporary file renamed over it). */
static int marker_write(const struct bu_config *cfg, const char *id)
{
    char path[DISK_PATH_SIZE], tmp[DISK_PATH_SIZE];
    FILE *f;
    int rc;

    snprintf(path, sizeof path, "%s/" GC_MARKER, cfg->storage_dir);
    snprintf(tmp, sizeof tmp, "%s.%ld", path, (long)getpid());
    f = fopen(tmp, "we");
    if (f == NULL)
        return -1;
    rc = fprintf(f, "%s\n", id) < 0;
    rc |= fflush(f) != 0 || fsync(fileno(f)) != 0;
    rc |= fclose(f) != 0;
    if (rc != 0 || chmod(tmp, 0644) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

int gc_mark_store(const struct bu_config *cfg, struct db *db, struct bu_error *err)
{
    char id[STORE_ID_SIZE], found[STORE_ID_SIZE];
    int rc;

    if (store_installation_id(db, err, id) != 0)
        return -1;
    rc = marker_read(cfg, found);
    if (rc == 1 && strcmp(found, id) == 0)
        return 0;
    if (rc == 1)
        return error_set(err, BU_E_BAD_CONFIG,
                         "storage_dir %s belongs to database %s, not to this one (%s): the "
                         "orphan sweep will not run there; point storage_dir at this "
                         "database's store, or remove %s/" GC_MARKER " if the store is this one's",
                         cfg->storage_dir, found, id, cfg->storage_dir);
    if (rc < 0)
        return error_set(err, BU_E_INTERNAL,
                         "%s/" GC_MARKER " is unreadable or malformed: the orphan sweep will not "
                         "run there; remove it, then run batchup migrate again",
                         cfg->storage_dir);
    if (marker_write(cfg, id) != 0)
        return error_set(err, BU_E_INTERNAL,
                         "cannot record this database in %s/" GC_MARKER " (%s): the orphan sweep "
                         "will not run there until it is written (run batchup migrate as the "
                         "service's user)",
                         cfg->storage_dir, strerror(errno));
    return 0;
}

int gc_check_marker(const struct bu_config *cfg, const char *id, struct bu_error *err)
{
    char found[STORE_ID_SIZE];
    int rc = marker_read(cfg, found);

    if (rc == 1 && strcmp(found, id) == 0)
        return 0;
    if (rc == 0) {
        log_warn("storage_dir %s has no " GC_MARKER " naming this database (%s): run batchup "
                 "migrate as the service's user to record it",
                 cfg->storage_dir, id);
        return 0;
    }
    if (rc == 1)
        return error_set(err, BU_E_BAD_CONFIG,
                         "storage_dir %s belongs to database %s, not to this one (%s); not "
                         "starting: point storage_dir at this database's store, or database at "
                         "the store's database",
                         cfg->storage_dir, found, id);
    return error_set(err, BU_E_BAD_CONFIG,
                     "%s/" GC_MARKER " is unreadable or malformed; not starting: remove it, then "
                     "run batchup migrate",
                     cfg->storage_dir);
}

/* May the sweep delete in this store?  Its marker must name the database
 * (a store without one is adopted only while it holds no data). */
static bool sweep_store_is_ours(const struct bu_config *cfg, struct sweep *sw)
{
    char id[STORE_ID_SIZE], found[STORE_ID_SIZE];
    struct bu_error err;
    int rc;

    if (store_installation_id(sw->db, &err, id) != 0) {
        log_warn("orphan sweep skipped: %s", err.message);
        return false;
    }
    rc = marker_read(cfg, found);
    if (rc == 1 && strcmp(found, id) == 0)
        return true;
    if (rc == 1) {
        log_warn("orphan sweep refused: storage_dir %s belongs to database %s, not to this one "
                 "(%s)",
                 cfg->storage_dir, found, id);
        return false;
    }
    if (rc < 0) {
        log_warn("orphan sweep refused: %s/" GC_MARKER " is unreadable or malformed",
                 cfg->storage_dir);
        return false;
    }
    sw->before = 0;
    sweep_walk(sw, cfg);
    if (sw->failed || sw->present > 0) {
        log_warn("orphan sweep refused: storage_dir %s holds data but no " GC_MARKER
                 " naming this database; run batchup migrate (as the service's user) to "
                 "record it",
                 cfg->storage_dir);
        return false;
    }
    if (marker_write(cfg, id) != 0)
        log_warn("cannot write %s/" GC_MARKER ": %s", cfg->storage_dir, strerror(errno));
    return false;
}

int gc_sweep_orphans(const struct bu_config *cfg, struct db *db)
{
    struct sweep *sw = calloc(1, sizeof *sw);
    int removed;

    if (sw == NULL)
        return -1;
    sw->db = db;
    if (!sweep_store_is_ours(cfg, sw)) {
        removed = sw->failed ? -1 : 0;
        free(sw);
        return removed;
    }
    /* First count, then remove, asking again (the answers may have changed
     * in between only towards "not live", for files old enough). */
    sw->before = time(NULL) - cfg->orphan_grace_seconds;
    sweep_walk(sw, cfg);
    if (!sw->failed && sw->orphans >= GC_SWEEP_REFUSE_MIN && sw->orphans * 2 > sw->old) {
        log_warn("orphan sweep refused: %ld of the %ld files older than orphan_grace_seconds in "
                 "%s would go, which looks like another database's store; nothing was removed",
                 sw->orphans, sw->old, cfg->storage_dir);
        free(sw);
        return 0;
    }
    sw->removing = true;
    if (!sw->failed)
        sweep_walk(sw, cfg);
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
    if (n >= 0)
        storecheck_renew(&db);
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
