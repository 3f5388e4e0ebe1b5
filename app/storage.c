/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * storage.c - file data on disk, and its durability.
 *
 * The order of operations is the contract with the database: bytes are
 * written and fdatasync'd before the offset that covers them is recorded, and
 * a completed file is fsync'd, renamed into files/ and its directory fsync'd
 * before the database calls it completed.  So after a crash the database
 * never claims bytes the disk does not have.
 *
 * Beside a partial file lies, between the PATCH requests of a file sent in
 * several, the SHA-256 state at its recorded offset (partial/<id>.sha,
 * upload.c).  It is a cache, never a source of truth: written after the
 * offset it describes is recorded, refused unless it matches that offset
 * and its own checksum, and rebuilt from the partial file when refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batchup/log.h"
#include "batchup/storage.h"

static int mkdir_p(const char *path)
{
    char tmp[STORAGE_PATH_SIZE];
    size_t len = strlen(path);

    if (len >= sizeof tmp)
        return -1;
    memcpy(tmp, path, len + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0750) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(tmp, 0750) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

int storage_init(const struct bu_config *cfg, struct bu_error *err)
{
    static const char *const dirs[] = {"partial", "files"};
    char path[STORAGE_PATH_SIZE];

    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", cfg->storage_dir, dirs[i]);
        if (mkdir_p(path) != 0)
            return error_set(err, BU_E_STORAGE_ERROR, "cannot create storage folder '%s': %s", path,
                             strerror(errno));
    }
    return 0;
}

void storage_partial_path(const struct bu_config *cfg, const char *file_id, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/partial/%s", cfg->storage_dir, file_id);
}

void storage_final_relpath(const char *file_id, char *buf, size_t cap)
{
    snprintf(buf, cap, "files/%.2s/%s", file_id, file_id);
}

void storage_final_path(const struct bu_config *cfg, const char *file_id, char *buf, size_t cap)
{
    char rel[256];

    storage_final_relpath(file_id, rel, sizeof rel);
    snprintf(buf, cap, "%s/%s", cfg->storage_dir, rel);
}

/* The error for a failed write of file data: 507 when the disk (or the
 * quota of batchup's user) is full, so clients know to retry later. */
static int write_failed(int errnum, struct bu_error *err, const char *what)
{
    if (errnum == ENOSPC || errnum == EDQUOT)
        return error_set(err, BU_E_STORAGE_FULL, "the server's storage is full; retry later");
    return error_set(err, BU_E_STORAGE_ERROR, "%s", what);
}

int storage_error(int errnum, struct bu_error *err)
{
    return write_failed(errnum, err, "the file could not be stored");
}

static int fsync_path(const char *path, int flags)
{
    int fd = open(path, flags | O_CLOEXEC);
    int rc;

    if (fd < 0)
        return -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}

int storage_commit(const struct bu_config *cfg, const char *file_id, struct bu_error *err)
{
    char partial[STORAGE_PATH_SIZE], final[STORAGE_PATH_SIZE], dir[STORAGE_PATH_SIZE];
    struct stat st;

    storage_partial_path(cfg, file_id, partial, sizeof partial);
    storage_final_path(cfg, file_id, final, sizeof final);
    if (stat(partial, &st) != 0 && stat(final, &st) == 0)
        return 0; /* an earlier attempt moved it already */
    snprintf(dir, sizeof dir, "%s/files/%.2s", cfg->storage_dir, file_id);
    if (mkdir_p(dir) != 0 || fsync_path(partial, O_RDONLY) != 0 || rename(partial, final) != 0 ||
        fsync_path(dir, O_RDONLY | O_DIRECTORY) != 0) {
        int saved = errno;
        log_error("cannot commit %s: %s", file_id, strerror(saved));
        return storage_error(saved, err);
    }
    snprintf(dir, sizeof dir, "%s/partial", cfg->storage_dir);
    fsync_path(dir, O_RDONLY | O_DIRECTORY);
    /* The hash state is of no use once the file is complete. */
    storage_drop_state(cfg, file_id);
    return 0;
}

int storage_lock_upload(const struct bu_config *cfg, const char *file_id, struct bu_error *err)
{
    char path[STORAGE_PATH_SIZE];
    int fd;

    snprintf(path, sizeof path, "%s/partial/%s.lock", cfg->storage_dir, file_id);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        log_error("cannot open %s: %s", path, strerror(errno));
        return error_set(err, BU_E_STORAGE_ERROR, "the upload cannot be opened");
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        close(fd);
        return error_set(err, BU_E_UPLOAD_LOCKED,
                         "another request is writing this upload; retry when it has finished");
    }
    return fd;
}

int storage_open_partial(const struct bu_config *cfg, const char *file_id, struct bu_error *err)
{
    char path[STORAGE_PATH_SIZE];
    int fd;

    storage_partial_path(cfg, file_id, path, sizeof path);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        int saved = errno;
        log_error("cannot open %s: %s", path, strerror(saved));
        return write_failed(saved, err, "the upload cannot be opened");
    }
    return fd;
}

int storage_open_direct(const struct bu_config *cfg, const char *file_id)
{
    char path[STORAGE_PATH_SIZE];

    storage_partial_path(cfg, file_id, path, sizeof path);
    return open(path, O_WRONLY | O_DIRECT | O_CLOEXEC);
}

int storage_final_exists(const struct bu_config *cfg, const char *file_id)
{
    char path[STORAGE_PATH_SIZE];
    struct stat st;

    storage_final_path(cfg, file_id, path, sizeof path);
    return stat(path, &st) == 0;
}

static void state_path(const struct bu_config *cfg, const char *file_id, const char *suffix,
                       char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/partial/%s.sha%s", cfg->storage_dir, file_id, suffix);
}

/* Written in place, never through a temporary file and a rename, and not
 * synced: with a thousand uploads recording their offsets, a create and a
 * rename in partial/ per checkpoint queued hundreds of workers on that
 * directory's lock (tests/bench/liveness.sh, docs/benchmarks.md).  The
 * state is a cache that checks itself: a save torn or lost in a crash is
 * refused by its checksum or offset, and the next request hashes from
 * disk.  Only the first save of a file creates it. */
int storage_save_state(const struct bu_config *cfg, const char *file_id, const void *buf, size_t n)
{
    char path[STORAGE_PATH_SIZE];
    struct stat st;
    int fd, rc;

    state_path(cfg, file_id, "", path, sizeof path);
    fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ENOENT)
        fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (fd < 0)
        rc = -1;
    else
        rc = pwrite(fd, buf, n, 0) == (ssize_t)n && fstat(fd, &st) == 0 &&
                     (st.st_size == (off_t)n || ftruncate(fd, (off_t)n) == 0)
                 ? 0
                 : -1;
    if (fd >= 0 && close(fd) != 0)
        rc = -1;
    if (rc == 0)
        return 0;
    log_warn("cannot save the hash state of %s (the next request hashes from disk): %s", file_id,
             strerror(errno));
    return -1;
}

long storage_load_state(const struct bu_config *cfg, const char *file_id, void *buf, size_t cap)
{
    char path[STORAGE_PATH_SIZE];
    ssize_t n;
    int fd;

    state_path(cfg, file_id, "", path, sizeof path);
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -1;
    n = read(fd, buf, cap);
    /* One byte more than cap means a file too long: not one of ours. */
    if (n == (ssize_t)cap) {
        char more;
        if (read(fd, &more, 1) != 0)
            n = -1;
    }
    close(fd);
    return n;
}

void storage_drop_state(const struct bu_config *cfg, const char *file_id)
{
    char path[STORAGE_PATH_SIZE];

    state_path(cfg, file_id, "", path, sizeof path);
    if (unlink(path) != 0 && errno != ENOENT)
        log_warn("cannot remove %s: %s", path, strerror(errno));
    /* A temporary one a killed worker left behind. */
    state_path(cfg, file_id, ".tmp", path, sizeof path);
    unlink(path);
}

void storage_remove(const struct bu_config *cfg, const char *file_id)
{
    char path[STORAGE_PATH_SIZE];

    storage_drop_state(cfg, file_id);

    snprintf(path, sizeof path, "%s/partial/%s.lock", cfg->storage_dir, file_id);
    unlink(path);

    storage_partial_path(cfg, file_id, path, sizeof path);
    if (unlink(path) != 0 && errno != ENOENT)
        log_warn("cannot remove %s: %s", path, strerror(errno));
    storage_final_path(cfg, file_id, path, sizeof path);
    if (unlink(path) != 0 && errno != ENOENT)
        log_warn("cannot remove %s: %s", path, strerror(errno));
}
