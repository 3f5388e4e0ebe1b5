/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * storecheck.c - the start-time check that storage_dir is the right store:
 * the one of this database, and the same one the other hosts use.
 *
 * The database decides everything, but the bytes live in storage_dir, so a
 * server pointed at the wrong directory keeps answering while it loses
 * data: an upload resumed on a host whose storage_dir is a private disk
 * (a shared mount that failed, a path mistyped) finds a partial file
 * shorter than the recorded offset, and the orphan sweep of a host whose
 * store belongs to another database would delete that database's files.
 * Both are cheap to see at start and expensive to find later, so `batchup
 * serve` refuses to start (a configuration error: exit status 2) when:
 *
 *   - storage_dir's marker (.batchup-database, app/gc.c) names another
 *     database than the one `database` reaches;
 *   - another host that shares this database (batchup.store_hosts,
 *     migration 016) wrote a nonce into storage_dir/.batchup-hosts/<its
 *     host name> that this host cannot read back: a missing file or a
 *     different nonce means its storage_dir is not this one.
 *
 * Each start compares first, and only when that passed writes a fresh
 * random nonce into .batchup-hosts/<host>, then records it in the
 * database: a refused host changes nothing, so it never makes the good
 * ones refuse (but when the first host to start is the one with the
 * private disk, the others refuse, naming it).  A host restarting at the
 * very moment of another's comparison may show a file newer than its row:
 * a mismatch is looked at once more after a second.
 * The maintenance pass renews the row (storecheck_renew); rows not renewed
 * for STORECHECK_WINDOW are forgotten, so a host removed for good ages out.
 * Hosts are told apart by their host name, as hook deliverers are.
 *
 * When the database cannot be reached at start the check is skipped with a
 * warning: the server starts and answers 503 until the database is back,
 * as it always did.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batchup/db.h"
#include "batchup/gc.h"
#include "batchup/log.h"
#include "batchup/disk.h"
#include "batchup/store.h"
#include "batchup/storecheck.h"

/* The folder of the hosts' nonce files, in storage_dir. */
#define STORECHECK_DIR ".batchup-hosts"
/* A host not seen (started, or renewed by a maintenance pass) for this
 * long is no longer compared with. */
#define STORECHECK_WINDOW 86400
#define STORECHECK_NONCE_SIZE 33
#define STORECHECK_HOST_SIZE 256

/* This process's host name and nonce, once the check passed: the
 * maintenance children forked later renew the row with them. */
static char sc_host[STORECHECK_HOST_SIZE];
static char sc_nonce[STORECHECK_NONCE_SIZE];

struct comparison {
    const struct bu_config *cfg;
    int mismatches;
    char first[512]; /* the first mismatch, said in full */
};

/* A host name usable as a file name and a row key, or false. */
static bool host_name(char name[STORECHECK_HOST_SIZE])
{
    size_t n;

    if (gethostname(name, STORECHECK_HOST_SIZE - 1) != 0)
        return false;
    name[STORECHECK_HOST_SIZE - 1] = '\0';
    n = strlen(name);
    return n > 0 && name[0] != '.' && name[0] != '-' &&
           strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

static int new_nonce(char nonce[STORECHECK_NONCE_SIZE])
{
    unsigned char raw[16];

    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
        return -1;
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(nonce + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

/* Write this host's nonce file atomically (a temporary file renamed over
 * it, both synced), so that another host reads either nonce whole. */
static int nonce_write(const struct bu_config *cfg, const char *host, const char *nonce)
{
    char dir[DISK_PATH_SIZE], path[DISK_PATH_SIZE], tmp[DISK_PATH_SIZE];
    int fd, rc;

    snprintf(dir, sizeof dir, "%s/" STORECHECK_DIR, cfg->storage_dir);
    snprintf(path, sizeof path, "%s/%s", dir, host);
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
    if (mkdir(dir, 0750) != 0 && errno != EEXIST)
        return -1;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0)
        return -1;
    rc = dprintf(fd, "%s\n", nonce) < 0 || fsync(fd) != 0;
    rc |= close(fd) != 0;
    if (rc != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    return 0;
}

/* Does this storage_dir hold host's nonce?  Says why not into c. */
static void compare_one(const char *host, const char *nonce, const char *dir, void *ctx)
{
    struct comparison *c = ctx;
    char path[DISK_PATH_SIZE], line[64] = "";
    FILE *f;

    snprintf(path, sizeof path, "%s/" STORECHECK_DIR "/%s", c->cfg->storage_dir, host);
    f = fopen(path, "re");
    if (f != NULL) {
        if (fgets(line, sizeof line, f) == NULL)
            line[0] = '\0';
        fclose(f);
        line[strcspn(line, "\n")] = '\0';
        if (strcmp(line, nonce) == 0)
            return;
    }
    if (c->mismatches++ == 0)
        snprintf(c->first, sizeof c->first, "host %s (storage_dir %s) wrote nonce %s, but %s %s",
                 host, dir, nonce, path, f == NULL ? "does not exist" : "holds another");
}

/* Compare with the other hosts, once more after a second when some did
 * not match (a host restarting in between).  0, or -1 with err. */
static int compare_all(const struct bu_config *cfg, struct db *db, const char *host,
                       struct bu_error *err)
{
    struct comparison c = {.cfg = cfg};

    for (int round = 0; round < 2; round++) {
        if (round > 0)
            sleep(1);
        c.mismatches = 0;
        if (store_hosts_others(db, err, host, STORECHECK_WINDOW, compare_one, &c) < 0)
            return -1;
        if (c.mismatches == 0)
            return 0;
    }
    log_error("storage_dir %s is not the store the other hosts use: %s", cfg->storage_dir, c.first);
    return error_set(err, BU_E_BAD_CONFIG,
                     "storage_dir %s on host %s is not the other hosts' store; not starting "
                     "(mount the shared store there): %s",
                     cfg->storage_dir, host, c.first);
}

/* The nonce part of the check: write, compare, record.  0 or -1 with err
 * (a configuration error, or the database's). */
static int check_shared(const struct bu_config *cfg, struct db *db, struct bu_error *err)
{
    char host[STORECHECK_HOST_SIZE], nonce[STORECHECK_NONCE_SIZE];

    if (!host_name(host)) {
        log_warn("storage check: the host name is not usable as a file name; the check that "
                 "storage_dir is shared is skipped");
        return 0;
    }
    if (compare_all(cfg, db, host, err) != 0)
        return -1;
    if (new_nonce(nonce) != 0 || nonce_write(cfg, host, nonce) != 0)
        return error_set(err, BU_E_BAD_CONFIG,
                         "cannot write %s/" STORECHECK_DIR "/%s (%s); not starting",
                         cfg->storage_dir, host, strerror(errno));
    if (store_host_seen(db, err, host, nonce, cfg->storage_dir, true) != 0)
        return -1;
    snprintf(sc_host, sizeof sc_host, "%s", host);
    snprintf(sc_nonce, sizeof sc_nonce, "%s", nonce);
    return 0;
}

int storecheck_run(const struct bu_config *cfg, struct bu_error *err)
{
    char id[STORE_ID_SIZE];
    struct db db;
    int rc = 0;

    err->id = BU_E_INTERNAL;
    err->message[0] = '\0';
    db_init(&db, cfg->database);
    if (store_installation_id(&db, err, id) != 0) {
        log_warn("storage check skipped, the database did not answer: %s", err->message);
        db_close(&db);
        return 0;
    }
    if (gc_check_marker(cfg, id, err) != 0 ||
        (check_shared(cfg, &db, err) != 0 && err->id == BU_E_BAD_CONFIG))
        rc = -1;
    else if (err->id != BU_E_BAD_CONFIG && sc_nonce[0] == '\0' && err->message[0] != '\0')
        log_warn("storage check not finished, the database failed: %s", err->message);
    db_close(&db);
    return rc;
}

void storecheck_renew(struct db *db)
{
    struct bu_error err;

    if (sc_nonce[0] == '\0')
        return;
    if (store_host_seen(db, &err, sc_host, sc_nonce, "", false) != 0)
        log_warn("storage check: cannot renew this host's row: %s", err.message);
}
