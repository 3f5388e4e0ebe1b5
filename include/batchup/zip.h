/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * zip.h - a streaming ZIP writer for batch downloads.
 *
 * The archive holds stored (uncompressed) entries and is produced through
 * callbacks, so this module knows nothing about HTTP or the disk. Its exact
 * length is known before the first byte is written (zip_archive_size), which
 * lets the download handler send Content-Length. See zip.c for the format.
 */
#ifndef BATCHUP_ZIP_H
#define BATCHUP_ZIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* The longest name zip_safe_names produces, in bytes, before a " (N)"
 * suffix is added; with the suffix a name stays under 255 bytes. */
#define ZIP_NAME_MAX 200

/* A buffer size that suits zip_stream: large writes, constant memory. */
#define ZIP_BUFFER_SIZE (256 * 1024)

struct zip_entry {
    const char *name; /* safe, unique, UTF-8 (see zip_safe_names) */
    uint64_t size;    /* exact number of bytes read() will deliver */
    time_t mtime;     /* modification time, stored as UTC */
    uint32_t crc32;   /* the entry's CRC-32, when crc_known */
    bool crc_known;   /* computed at upload: no need to read the bytes for it */
};

/* Read up to cap bytes of entry index into buf. Returns the number of bytes
 * read, 0 at the end of the entry, or a negative value on error. */
typedef ssize_t (*zip_read_fn)(void *ctx, size_t index, void *buf, size_t cap);

/* Write all len bytes of buf. Returns 0, or -1 on error. */
typedef int (*zip_write_fn)(void *ctx, const void *buf, size_t len);

/* Compute the exact length of the archive zip_stream will write for these
 * entries, from the name lengths and sizes alone. Returns 0 and stores the
 * length in *size, or -1 when the entries cannot be archived (a name longer
 * than 65535 bytes, or a total beyond 2^64). */
int zip_archive_size(const struct zip_entry *entries, size_t n, uint64_t *size);

/* Write the archive of entries through write_fn, reading each entry's bytes
 * through read_fn. buf (cap bytes, at least 1; ZIP_BUFFER_SIZE suits) is the
 * only buffer used for data; besides it, n CRC values are allocated. Exactly
 * entries[i].size bytes are read from each entry: a read error, or an entry
 * that ends early, fails the stream (-1) instead of producing an archive
 * whose contents contradict its length. Returns 0 on success, -1 on error
 * (read, write, out of memory or invalid entries). */
int zip_stream(const struct zip_entry *entries, size_t n, zip_read_fn read_fn,
               zip_write_fn write_fn, void *ctx, void *buf, size_t cap);

/* Write exactly size bytes of entry index, from offset within it, straight
 * to the output (for example with sendfile(2)), after everything before
 * them was written.  Returns 0, or -1 on error. */
typedef int (*zip_send_fn)(void *ctx, size_t index, uint64_t offset, uint64_t size);

/* zip_stream, where each entry whose CRC is known is not read through
 * read_fn but handed to send_fn: the archive's bytes never pass through
 * buf and no CRC is computed for it. The result is the same archive. */
int zip_stream_send(const struct zip_entry *entries, size_t n, zip_read_fn read_fn,
                    zip_send_fn send_fn, zip_write_fn write_fn, void *ctx, void *buf, size_t cap);

/* zip_stream_send, writing only bytes [first, first + len) of the archive
 * (a byte range: the same bytes the whole archive has there).  An entry
 * outside the range whose CRC is known is not read; one whose CRC is not
 * known is read for it.  The walk stops at the range's end. */
int zip_stream_range(const struct zip_entry *entries, size_t n, zip_read_fn read_fn,
                     zip_send_fn send_fn, zip_write_fn write_fn, void *ctx, void *buf, size_t cap,
                     uint64_t first, uint64_t len);

/* Turn n original file names (any bytes, NULL allowed) into names that are
 * safe to extract and unique, ignoring ASCII case, within the archive. out[i]
 * is malloc'd; free each with free(). Returns 0, or -1 when out of memory
 * (then out holds nothing to free). See zip.c for the rules. */
int zip_safe_names(const char *const *names, size_t n, char **out);

#endif
