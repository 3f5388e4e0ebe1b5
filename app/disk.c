/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * disk.c - file data on disk, and its durability.
 *
 * Every file system call of the byte path lives here, beside the layout
 * it works on (disk.h): upload.c streams a body with pwrite into the
 * descriptors this file opens, and calls these functions for the rest
 * (cut back, make durable, measure, finish a completion a killed worker
 * left); gc.c's orphan sweep walks the layout through disk_walk.  So the
 * layout and the order of durable steps are written in one place.
 *
 * The order of operations is the contract with the database: bytes are
 * written and fdatasync'd before the offset that covers them is recorded
 * (and before the first offset of a file is recorded, partial/ is fsync'd
 * once, so that the file's name survives too), and a completed file is
 * fdatasync'd, renamed into files/<shard>/ and that directory fsync'd
 * before the database calls it completed.  So after a crash the database
 * never claims bytes the disk does not have.  Each fsync covers this:
 *
 *   fdatasync of the data file   its bytes and its length
 *   fsync of partial/            the partial file's name, once per file,
 *                                with its first recorded offset
 *   fsync of files/<shard>/      the completed file's name there
 *
 * A file sent in one PATCH pays the first and the last, as the app floor
 * pays its one fdatasync: the rename's removal from partial/ needs no
 * fsync (disk_commit says why).
 *
 * Beside a partial file lies, between the PATCH requests of a file sent in
 * several, the SHA-256 state at its recorded offset (partial/<id>.sha,
 * upload.c).  It is a cache, never a source of truth: written after the
 * offset it describes is recorded, refused unless it matches that offset
 * and its own checksum, and rebuilt from the partial file when refused.
 *
 * A final upload of tus's concatenation extension is assembled here from
 * its partial uploads' files (disk_concat_part): with copy_file_range(2),
 * which moves the bytes inside the kernel (and on a file system that
 * shares extents, such as XFS or btrfs, does not copy them at all), and
 * read/write through the caller's buffer where the kernel refuses it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batchup/log.h"
#include "batchup/disk.h"

static int mkdir_p(const char *path)
{
    char tmp[DISK_PATH_SIZE];
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

int disk_init(const struct bu_config *cfg, struct bu_error *err)
{
    static const char *const dirs[] = {"partial", "files"};
    char path[DISK_PATH_SIZE];

    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", cfg->storage_dir, dirs[i]);
        if (mkdir_p(path) != 0)
            return error_set(err, BU_E_STORAGE_ERROR, "cannot create storage folder '%s': %s", path,
                             strerror(errno));
    }
    return 0;
}

void disk_partial_path(const struct bu_config *cfg, const char *file_id, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/partial/%s", cfg->storage_dir, file_id);
}

void disk_final_relpath(const char *file_id, char *buf, size_t cap)
{
    snprintf(buf, cap, "files/%.2s/%s", file_id, file_id);
}

void disk_final_path(const struct bu_config *cfg, const char *file_id, char *buf, size_t cap)
{
    char rel[256];

    disk_final_relpath(file_id, rel, sizeof rel);
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

int disk_error(int errnum, struct bu_error *err)
{
    return write_failed(errnum, err, "the file could not be stored");
}

/* Open path with flags and sync it with sync (fsync, or fdatasync for a
 * file's data).  0, or -1 (errno). */
static int sync_path(const char *path, int flags, int (*sync)(int))
{
    int fd = open(path, flags | O_CLOEXEC);
    int rc;

    if (fd < 0)
        return -1;
    rc = sync(fd);
    close(fd);
    return rc;
}

static int fsync_path(const char *path, int flags)
{
    return sync_path(path, flags, fsync);
}

/* fdatasync, not fsync: the file's length, all a reader needs besides its
 * bytes, is data in fdatasync's sense; its times are not.  files/ itself
 * exists (disk_init); only the shard may be missing, and is made when the
 * rename says so. */
static int move_synced(int fd, const char *partial, const char *final, const char *dir)
{
    int rc = fdatasync(fd);

    if (rc == 0) {
        rc = rename(partial, final);
        if (rc != 0 && errno == ENOENT && (mkdir(dir, 0750) == 0 || errno == EEXIST))
            rc = rename(partial, final);
    }
    return rc == 0 ? fsync_path(dir, O_RDONLY | O_DIRECTORY) : -1;
}

int disk_commit(const struct bu_config *cfg, const char *file_id, int fd, struct bu_error *err)
{
    char partial[DISK_PATH_SIZE], final[DISK_PATH_SIZE], dir[DISK_PATH_SIZE];
    int rc;

    disk_partial_path(cfg, file_id, partial, sizeof partial);
    disk_final_path(cfg, file_id, final, sizeof final);
    snprintf(dir, sizeof dir, "%s/files/%.2s", cfg->storage_dir, file_id);
    if (fd >= 0) {
        rc = move_synced(fd, partial, final, dir);
    } else if ((fd = open(partial, O_RDONLY | O_CLOEXEC)) >= 0) {
        rc = move_synced(fd, partial, final, dir);
        close(fd);
    } else {
        /* An earlier request moved it and died, maybe before the folder's
         * fsync: both syncs are made again before the database hears. */
        rc = sync_path(final, O_RDONLY, fdatasync) == 0 ? fsync_path(dir, O_RDONLY | O_DIRECTORY)
                                                        : -1;
    }
    if (rc != 0) {
        int saved = errno;
        log_error("cannot commit %s: %s", file_id, strerror(saved));
        return disk_error(saved, err);
    }
    /* No fsync of partial/: should the old name's removal be lost in a
     * power cut, the file is complete under both names, and every reader
     * looks in files/ first (upload.c's open, disk_remove removes both). */
    return 0;
}

int disk_sync_partial_dir(const struct bu_config *cfg)
{
    char dir[DISK_PATH_SIZE];

    snprintf(dir, sizeof dir, "%s/partial", cfg->storage_dir);
    return fsync_path(dir, O_RDONLY | O_DIRECTORY);
}

int disk_open_partial(const struct bu_config *cfg, const char *file_id, struct bu_error *err)
{
    char path[DISK_PATH_SIZE];
    int fd;

    disk_partial_path(cfg, file_id, path, sizeof path);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        int saved = errno;
        log_error("cannot open %s: %s", path, strerror(saved));
        return write_failed(saved, err, "the upload cannot be opened");
    }
    return fd;
}

int disk_open_direct(const struct bu_config *cfg, const char *file_id)
{
    char path[DISK_PATH_SIZE];

    disk_partial_path(cfg, file_id, path, sizeof path);
    return open(path, O_WRONLY | O_DIRECT | O_CLOEXEC);
}

int disk_final_exists(const struct bu_config *cfg, const char *file_id)
{
    char path[DISK_PATH_SIZE];
    struct stat st;

    disk_final_path(cfg, file_id, path, sizeof path);
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
int disk_save_state(const struct bu_config *cfg, const char *file_id, const void *buf, size_t n)
{
    char path[DISK_PATH_SIZE];
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

long disk_load_state(const struct bu_config *cfg, const char *file_id, void *buf, size_t cap)
{
    char path[DISK_PATH_SIZE];
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

void disk_drop_state(const struct bu_config *cfg, const char *file_id)
{
    char path[DISK_PATH_SIZE];

    state_path(cfg, file_id, "", path, sizeof path);
    if (unlink(path) != 0 && errno != ENOENT)
        log_warn("cannot remove %s: %s", path, strerror(errno));
    /* A temporary one a killed worker left behind. */
    state_path(cfg, file_id, ".tmp", path, sizeof path);
    unlink(path);
}

int disk_truncate(int fd, uint64_t size)
{
    return ftruncate(fd, (off_t)size);
}

int disk_sync(int fd)
{
    return fdatasync(fd);
}

int disk_size(int fd, uint64_t *size)
{
    struct stat st;

    if (fstat(fd, &st) != 0)
        return -1;
    *size = (uint64_t)st.st_size;
    return 0;
}

int disk_open_final(const struct bu_config *cfg, const char *file_id, uint64_t *size)
{
    char path[DISK_PATH_SIZE];
    int fd;

    disk_final_path(cfg, file_id, path, sizeof path);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0 && disk_size(fd, size) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

int disk_move_back(const struct bu_config *cfg, const char *file_id)
{
    char path[DISK_PATH_SIZE], partial[DISK_PATH_SIZE];

    disk_final_path(cfg, file_id, path, sizeof path);
    disk_partial_path(cfg, file_id, partial, sizeof partial);
    return renameat2(AT_FDCWD, path, AT_FDCWD, partial, RENAME_NOREPLACE);
}

/* Visit every entry of one folder; false when the visitor stopped. */
static bool walk_dir(const char *dir, disk_visit_fn *visit, void *ctx)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    bool go = true;

    if (d == NULL)
        return true;
    while (go && (e = readdir(d)) != NULL)
        go = visit(ctx, dir, e->d_name);
    closedir(d);
    return go;
}

void disk_walk(const struct bu_config *cfg, disk_visit_fn *visit, void *ctx)
{
    char dir[DISK_PATH_SIZE];
    DIR *files;
    struct dirent *e;
    bool go;

    snprintf(dir, sizeof dir, "%s/partial", cfg->storage_dir);
    go = walk_dir(dir, visit, ctx);
    snprintf(dir, sizeof dir, "%s/files", cfg->storage_dir);
    files = opendir(dir);
    while (go && files != NULL && (e = readdir(files)) != NULL) {
        char shard[DISK_PATH_SIZE];
        if (strlen(e->d_name) != 2 || e->d_name[0] == '.')
            continue;
        snprintf(shard, sizeof shard, "%s/%s", dir, e->d_name);
        go = walk_dir(shard, visit, ctx);
    }
    if (files != NULL)
        closedir(files);
}

void disk_remove(const struct bu_config *cfg, const char *file_id)
{
    char path[DISK_PATH_SIZE];

    disk_drop_state(cfg, file_id);

    /* A lock file of an older release (the writer lock lives in the
     * database now); none is made any more. */
    snprintf(path, sizeof path, "%s/partial/%s.lock", cfg->storage_dir, file_id);
    unlink(path);

    disk_partial_path(cfg, file_id, path, sizeof path);
    if (unlink(path) != 0 && errno != ENOENT)
        log_warn("cannot remove %s: %s", path, strerror(errno));
    disk_final_path(cfg, file_id, path, sizeof path);
    if (unlink(path) != 0 && errno != ENOENT)
        log_warn("cannot remove %s: %s", path, strerror(errno));
}

/* Copy what is left of in (from its current position) to out at *at,
 * through buf: the fallback of copy_part.  0, or -1 (errno). */
static int copy_by_hand(int in, int out, uint64_t *at, void *buf, size_t cap)
{
    for (;;) {
        ssize_t n = read(in, buf, cap), w = 0;
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return (int)n;
        while (w < n) {
            ssize_t k = pwrite(out, (char *)buf + w, (size_t)(n - w), (off_t)(*at + (uint64_t)w));
            if (k < 0 && errno != EINTR)
                return -1;
            w += k > 0 ? k : 0;
        }
        *at += (uint64_t)n;
    }
}

/* Append all of in to out at *at: copy_file_range while the kernel takes
 * it, else (EXDEV across file systems on older kernels, ENOSYS, EINVAL or
 * EOPNOTSUPP where the file system has no such copy) by hand, from where
 * the kernel stopped.  0, or -1 (errno). */
static int copy_part(int in, int out, uint64_t *at, void *buf, size_t cap)
{
    for (;;) {
        loff_t to = (loff_t)*at;
        ssize_t n = copy_file_range(in, NULL, out, &to, (size_t)1 << 30, 0);
        if (n > 0) {
            *at += (uint64_t)n;
            continue;
        }
        if (n == 0)
            return 0;
        if (errno == EINTR)
            continue;
        if (errno != EXDEV && errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP)
            return -1;
        return copy_by_hand(in, out, at, buf, cap);
    }
}

int disk_concat_open(const struct bu_config *cfg, const char *file_id, struct bu_error *err)
{
    char path[DISK_PATH_SIZE];
    int fd;

    disk_partial_path(cfg, file_id, path, sizeof path);
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0)
        return write_failed(errno, err, "the final upload cannot be created");
    return fd;
}

int disk_concat_part(const struct bu_config *cfg, int fd, const char *part, uint64_t *at, void *buf,
                     size_t cap, struct bu_error *err)
{
    char path[DISK_PATH_SIZE];
    int in, saved;

    disk_final_path(cfg, part, path, sizeof path);
    in = open(path, O_RDONLY | O_CLOEXEC);
    if (in >= 0 && copy_part(in, fd, at, buf, cap) == 0) {
        close(in);
        return 0;
    }
    saved = errno;
    log_error("cannot append %s to a final upload: %s", path, strerror(saved));
    if (in >= 0)
        close(in);
    return write_failed(saved, err,
                        "the final upload cannot be assembled from its partial uploads");
}
