/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * disk.h - where file data lives under storage_dir, and how it is made
 * durable.
 *
 *   partial/<file id>                 an upload in progress
 *   partial/<file id>.sha             its running SHA-256 at its recorded
 *                                     offset (upload.c says what it holds)
 *   files/<first 2 chars>/<file id>   a completed file (the shard keeps
 *                                     directories small)
 */
#ifndef BATCHUP_DISK_H
#define BATCHUP_DISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "batchup/config.h"
#include "batchup/error.h"

/* Room for a path below storage_dir: the directory (at most 1023 bytes, as
 * struct bu_config holds it) and a file's place under it. */
#define DISK_PATH_SIZE 1100

/* Create storage_dir/partial and storage_dir/files if missing. */
int disk_init(const struct bu_config *cfg, struct bu_error *err);
void disk_partial_path(const struct bu_config *cfg, const char *file_id, char *buf, size_t cap);
void disk_final_path(const struct bu_config *cfg, const char *file_id, char *buf, size_t cap);
/* The completed file's path relative to storage_dir (for X-Accel-Redirect). */
void disk_final_relpath(const char *file_id, char *buf, size_t cap);
/* Make a partial file complete: fdatasync it through fd (its open
 * descriptor), rename it into files/<shard>/, fsync that directory.  With
 * fd -1, for a file an earlier request moved (and may have died before
 * the directory's fsync): it is synced again where it lies.  A full disk
 * is 507 storage_full. */
int disk_commit(const struct bu_config *cfg, const char *file_id, int fd, struct bu_error *err);
/* fsync partial/: the names of the partial files created in it.  0, or -1
 * (errno). */
int disk_sync_partial_dir(const struct bu_config *cfg);
/* The error for a failed write of file data with errno errnum: 507
 * storage_full for ENOSPC and EDQUOT, else 500 storage_error.  Returns -1. */
int disk_error(int errnum, struct bu_error *err);
/* Open (creating) the partial file for writing. */
int disk_open_partial(const struct bu_config *cfg, const char *file_id, struct bu_error *err);
/* The partial file again, write-only with O_DIRECT (upload.c writes whole
 * aligned blocks through it); -1 where the file system refuses O_DIRECT. */
int disk_open_direct(const struct bu_config *cfg, const char *file_id);
/* Does the completed file exist (moved, possibly before a crash)? */
int disk_final_exists(const struct bu_config *cfg, const char *file_id);
/* Write the n bytes at buf over partial/<id>.sha, in place and not synced
 * (a save torn or lost in a power cut is refused by its own checksum or
 * offset, and the next request hashes from disk).  0, or -1 (logged; the
 * caller goes on without it). */
int disk_save_state(const struct bu_config *cfg, const char *file_id, const void *buf, size_t n);
/* Read partial/<id>.sha into buf: its length (at most cap; a longer file is
 * -1), or -1 when it is missing or unreadable. */
long disk_load_state(const struct bu_config *cfg, const char *file_id, void *buf, size_t cap);
/* Remove partial/<id>.sha (and a temporary one); missing is fine. */
void disk_drop_state(const struct bu_config *cfg, const char *file_id);
/* Cut an open data file to size bytes.  0, or -1 (errno). */
int disk_truncate(int fd, uint64_t size);
/* Make what was written to an open data file durable (fdatasync).  0, or
 * -1 (errno). */
int disk_sync(int fd);
/* The size of an open data file into *size.  0, or -1 (errno). */
int disk_size(int fd, uint64_t *size);
/* Open the completed file read-only, its size into *size: its fd, or -1
 * when it is missing or unreadable. */
int disk_open_final(const struct bu_config *cfg, const char *file_id, uint64_t *size);
/* Move a completed file back to partial/, never over a partial file that
 * is there (a file a writer moved before its commit was refused).  0, or
 * -1 (errno). */
int disk_move_back(const struct bu_config *cfg, const char *file_id);
/* What disk_walk calls for each entry of a data folder: dir is the
 * folder's path, name the entry's.  false stops the walk. */
typedef bool disk_visit_fn(void *ctx, const char *dir, const char *name);
/* Call visit for every entry of partial/ and of each files/<shard>/ (the
 * orphan sweep's walk of the layout); entries are not filtered. */
void disk_walk(const struct bu_config *cfg, disk_visit_fn *visit, void *ctx);
/* tus concatenation: partial/<file_id> created anew (empty) for a final
 * upload; its descriptor (read-write), or -1 with err. */
int disk_concat_open(const struct bu_config *cfg, const char *file_id, struct bu_error *err);
/* Append the completed partial upload part (files/<part>) to fd at *at
 * (advanced), with copy_file_range(2) where the kernel allows it, else
 * through buf (cap bytes).  0, or -1 with err (507 disk_full when the
 * disk is). */
int disk_concat_part(const struct bu_config *cfg, int fd, const char *part, uint64_t *at, void *buf,
                     size_t cap, struct bu_error *err);
/* Remove the data of one file, partial or complete; missing is fine. */
void disk_remove(const struct bu_config *cfg, const char *file_id);

#endif
