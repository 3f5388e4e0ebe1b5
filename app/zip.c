/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * zip.c - the ZIP stream of a batch download, written while it is sent.
 *
 * Why not libarchive: a browser shows download progress only when the
 * response carries Content-Length, so the archive's exact length must be
 * known before its first byte is sent. libarchive decides the layout of its
 * headers itself (which extra fields, when ZIP64 starts) and offers no way to
 * ask for the length in advance. The subset needed here is small, so we
 * write it ourselves and keep the layout a pure function of the entries'
 * name lengths and sizes: zip_archive_size() and zip_stream() walk the same
 * rules (entry_is_zip64, local_len, central_len, end_is_zip64), and
 * zip_stream checks at the end that it wrote exactly what was announced.
 *
 * The format (PKWARE APPNOTE 6.3.x), for every entry in order:
 *
 *   local header   method 0 (stored: files are sent as they are, never
 *                  recompressed), flag bit 3 (CRC-32 and sizes follow the
 *                  data, so the CRC is computed while streaming, with
 *                  digest_crc32) and bit 11 (the name is UTF-8);
 *   file data      exactly entry.size bytes from the read callback;
 *   descriptor     signature, CRC-32, sizes: 4-byte sizes, or 8-byte sizes
 *                  when the entry is ZIP64;
 *
 * then one central directory header per entry and the end of central
 * directory record, preceded by the ZIP64 end record and its locator when
 * the entry count, the directory's size or its offset does not fit the
 * classic fields.
 *
 * An entry is ZIP64 when its size or the offset of its local header is
 * 0xFFFFFFFF or more; both are known before its local header is written.
 * A ZIP64 entry's local header carries a ZIP64 extra field (sizes zero, as
 * bit 3 asks, with 0xFFFFFFFF in the 32-bit fields), which is what tells a
 * streaming reader that its descriptor has 8-byte sizes; its central header
 * carries a ZIP64 extra field with exactly the values that do not fit.
 *
 * Times: the DOS date and time fields hold the entry's mtime in UTC, so the
 * archive does not depend on the server's time zone (DOS time has no zone;
 * readers that treat it as local time will be off by the zone's offset).
 * Every header also carries an extended timestamp extra field (0x5455)
 * with the exact UTC mtime, which Info-ZIP unzip, 7-Zip and libarchive
 * prefer. DOS times are clamped to 1980..2107, the extended time to
 * 1970..2038 (a signed 32-bit value).
 *
 * Names: zip_safe_names() turns users' names into names that are safe to
 * extract anywhere; its rules are listed further down, above the code.
 * The archive is flat.
 *
 * Ranges: since the layout is fixed in advance, any byte range of the
 * archive can be produced on its own (zip_stream_range): the archive is
 * walked as for the whole, but only the bytes inside the range are written,
 * an entry whose CRC was recorded at upload and whose data lies outside the
 * range is not read at all, and the walk stops at the range's end.  So a
 * download cut midway resumes (Range, If-Range) where it stopped, with the
 * very bytes the whole archive has there.
 *
 * What this file must never do: hold memory proportional to the files' sizes
 * (data passes through one caller-provided buffer; the central directory is
 * rebuilt from the entries array plus one CRC per entry), or finish an
 * archive that contradicts its announced length or its contents.
 */
#include <ctype.h>
#include <limits.h>
#include <locale.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <wctype.h>

#include "batchup/digest.h"
#include "batchup/utf8.h"
#include "batchup/zip.h"

#define ZIP_SIG_LOCAL 0x04034b50u
#define ZIP_SIG_DESCRIPTOR 0x08074b50u
#define ZIP_SIG_CENTRAL 0x02014b50u
#define ZIP_SIG_END64 0x06064b50u
#define ZIP_SIG_LOCATOR64 0x07064b50u
#define ZIP_SIG_END 0x06054b50u

/* A 32-bit (16-bit) field holding this value means "see the ZIP64 record". */
#define ZIP_MAX32 0xFFFFFFFFu
#define ZIP_MAX16 0xFFFFu

#define ZIP_FLAGS 0x0808u /* bit 3: data descriptor; bit 11: UTF-8 names */
#define ZIP_VERSION 20u
#define ZIP_VERSION_ZIP64 45u
#define ZIP_MADE_BY ((3u << 8) | ZIP_VERSION_ZIP64) /* 3: Unix, so the mode below counts */
#define ZIP_EXTERNAL_ATTR (0100644u << 16)          /* a regular file, rw-r--r-- */

#define ZIP_EXTRA_ZIP64 0x0001u
#define ZIP_EXTRA_TIME 0x5455u

#define ZIP_LOCAL_LEN 30u
#define ZIP_CENTRAL_LEN 46u
#define ZIP_DESCRIPTOR_LEN 16u
#define ZIP_DESCRIPTOR64_LEN 24u
#define ZIP_END_LEN 22u
#define ZIP_END64_LEN 56u
#define ZIP_LOCATOR64_LEN 20u
#define ZIP_EXTRA_TIME_LEN 9u /* tag, length, flags, 32-bit mtime */
#define ZIP_EXTRA_HEAD_LEN 4u /* tag and length of any extra field */

/* Extensions up to this many bytes (dot included) survive name trimming. */
#define ZIP_EXT_KEEP 20u

/* ------------------------------------------------------------------------
 * Layout: the rules shared by zip_archive_size and zip_stream.
 */

static bool entry_is_zip64(uint64_t size, uint64_t offset)
{
    return size >= ZIP_MAX32 || offset >= ZIP_MAX32;
}

static uint64_t local_len(size_t name_len, bool zip64)
{
    uint64_t extra = ZIP_EXTRA_TIME_LEN + (zip64 ? ZIP_EXTRA_HEAD_LEN + 16 : 0);

    return ZIP_LOCAL_LEN + name_len + extra;
}

static uint64_t descriptor_len(bool zip64)
{
    return zip64 ? ZIP_DESCRIPTOR64_LEN : ZIP_DESCRIPTOR_LEN;
}

/* The ZIP64 extra field of a central header holds the sizes when the size
 * does not fit and the offset when the offset does not fit. */
static uint64_t central_zip64_len(uint64_t size, uint64_t offset)
{
    uint64_t len = (size >= ZIP_MAX32 ? 16 : 0) + (offset >= ZIP_MAX32 ? 8 : 0);

    return len ? ZIP_EXTRA_HEAD_LEN + len : 0;
}

static uint64_t central_len(size_t name_len, uint64_t size, uint64_t offset)
{
    return ZIP_CENTRAL_LEN + name_len + ZIP_EXTRA_TIME_LEN + central_zip64_len(size, offset);
}

static bool end_is_zip64(size_t n, uint64_t cd_offset, uint64_t cd_size)
{
    return n >= ZIP_MAX16 || cd_offset >= ZIP_MAX32 || cd_size >= ZIP_MAX32;
}

static bool add_checked(uint64_t *acc, uint64_t v)
{
    if (*acc > UINT64_MAX - v)
        return false;
    *acc += v;
    return true;
}

int zip_archive_size(const struct zip_entry *entries, size_t n, uint64_t *size)
{
    uint64_t offset = 0, cd_size = 0;

    for (size_t i = 0; i < n; i++) {
        const struct zip_entry *e = &entries[i];
        size_t name_len = e->name ? strlen(e->name) : 0;
        bool zip64 = entry_is_zip64(e->size, offset);

        if (name_len == 0 || name_len > ZIP_MAX16)
            return -1;
        if (!add_checked(&cd_size, central_len(name_len, e->size, offset)))
            return -1;
        if (!add_checked(&offset, local_len(name_len, zip64)) || !add_checked(&offset, e->size) ||
            !add_checked(&offset, descriptor_len(zip64)))
            return -1;
    }
    uint64_t total = offset;
    if (!add_checked(&total, cd_size) || !add_checked(&total, ZIP_END_LEN))
        return -1;
    if (end_is_zip64(n, offset, cd_size) && !add_checked(&total, ZIP_END64_LEN + ZIP_LOCATOR64_LEN))
        return -1;
    *size = total;
    return 0;
}

/* ------------------------------------------------------------------------
 * Output: headers and data are gathered in the caller's buffer and handed
 * to the write callback in large pieces.
 */

struct zip_out {
    unsigned char *buf;
    size_t cap;
    size_t used;
    uint64_t total; /* bytes accepted so far: the offset of the next byte */
    zip_write_fn write_fn;
    void *ctx;
    uint64_t from, to; /* the range written: bytes [from, to) of the archive */
};

/* How many of the len bytes at offset `at` of the archive are before the
 * range (*skip) and inside it (the result). */
static uint64_t out_window(const struct zip_out *o, uint64_t at, uint64_t len, uint64_t *skip)
{
    uint64_t lo = at > o->from ? at : o->from, hi = at + len < o->to ? at + len : o->to;

    *skip = lo - at < len ? lo - at : len;
    return hi > lo ? hi - lo : 0;
}

static int out_flush(struct zip_out *o)
{
    if (o->used > 0 && o->write_fn(o->ctx, o->buf, o->used) < 0)
        return -1;
    o->used = 0;
    return 0;
}

static int out_put(struct zip_out *o, const void *data, size_t whole)
{
    uint64_t skip, keep = out_window(o, o->total, whole, &skip);
    const unsigned char *p = (const unsigned char *)data + skip;
    size_t len = (size_t)keep;

    /* Bytes outside the range only move the offset on. */
    o->total += skip;
    while (len > 0) {
        if (o->used == o->cap && out_flush(o) < 0)
            return -1;
        size_t chunk = o->cap - o->used < len ? o->cap - o->used : len;
        memcpy(o->buf + o->used, p, chunk);
        o->used += chunk;
        o->total += chunk;
        p += chunk;
        len -= chunk;
    }
    o->total += whole - skip - keep;
    return 0;
}

static unsigned char *put16(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    return p + 2;
}

static unsigned char *put32(unsigned char *p, uint32_t v)
{
    p = put16(p, v & 0xFFFFu);
    return put16(p, v >> 16);
}

static unsigned char *put64(unsigned char *p, uint64_t v)
{
    p = put32(p, (uint32_t)(v & ZIP_MAX32));
    return put32(p, (uint32_t)(v >> 32));
}

/* A 32-bit field: the value, or the ZIP64 marker when it does not fit. */
static uint32_t field32(uint64_t v)
{
    return v >= ZIP_MAX32 ? ZIP_MAX32 : (uint32_t)v;
}

struct zip_dos_time {
    uint32_t time;
    uint32_t date;
};

static struct zip_dos_time dos_time(time_t t)
{
    struct zip_dos_time d = {0, (1u << 5) | 1u}; /* 1980-01-01 00:00:00 */
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL || tm.tm_year < 80)
        return d;
    if (tm.tm_year > 207) {
        d.time = (23u << 11) | (59u << 5) | 29u;
        d.date = (127u << 9) | (12u << 5) | 31u;
        return d;
    }
    d.time = ((uint32_t)tm.tm_hour << 11) | ((uint32_t)tm.tm_min << 5) |
             ((uint32_t)(tm.tm_sec > 59 ? 59 : tm.tm_sec) / 2);
    d.date = ((uint32_t)(tm.tm_year - 80) << 9) | ((uint32_t)(tm.tm_mon + 1) << 5) |
             (uint32_t)tm.tm_mday;
    return d;
}

static uint32_t unix_time32(time_t t)
{
    if (t < 0)
        return 0;
    if ((uint64_t)t > INT32_MAX)
        return INT32_MAX;
    return (uint32_t)t;
}

static unsigned char *put_time_extra(unsigned char *p, time_t t)
{
    p = put16(p, ZIP_EXTRA_TIME);
    p = put16(p, 5);
    *p++ = 1; /* flags: modification time present */
    return put32(p, unix_time32(t));
}

static int put_local_header(struct zip_out *o, const struct zip_entry *e, size_t name_len,
                            bool zip64)
{
    unsigned char head[ZIP_LOCAL_LEN], extra[64], *p = head, *x = extra;
    struct zip_dos_time d = dos_time(e->mtime);

    if (zip64) {
        x = put16(x, ZIP_EXTRA_ZIP64);
        x = put16(x, 16);
        x = put64(x, 0); /* sizes follow in the data descriptor (bit 3) */
        x = put64(x, 0);
    }
    x = put_time_extra(x, e->mtime);

    p = put32(p, ZIP_SIG_LOCAL);
    p = put16(p, zip64 ? ZIP_VERSION_ZIP64 : ZIP_VERSION);
    p = put16(p, ZIP_FLAGS);
    p = put16(p, 0); /* method: stored */
    p = put16(p, d.time);
    p = put16(p, d.date);
    p = put32(p, 0); /* CRC-32: in the data descriptor */
    p = put32(p, zip64 ? ZIP_MAX32 : 0);
    p = put32(p, zip64 ? ZIP_MAX32 : 0);
    p = put16(p, (uint32_t)name_len);
    put16(p, (uint32_t)(x - extra));

    if (out_put(o, head, sizeof head) < 0 || out_put(o, e->name, name_len) < 0)
        return -1;
    return out_put(o, extra, (size_t)(x - extra));
}

static int put_descriptor(struct zip_out *o, uint32_t crc, uint64_t size, bool zip64)
{
    unsigned char d[ZIP_DESCRIPTOR64_LEN], *p = d;

    p = put32(p, ZIP_SIG_DESCRIPTOR);
    p = put32(p, crc);
    if (zip64) {
        p = put64(p, size); /* compressed size: equal, the entry is stored */
        p = put64(p, size);
    } else {
        p = put32(p, (uint32_t)size);
        p = put32(p, (uint32_t)size);
    }
    return out_put(o, d, (size_t)(p - d));
}

static int put_central_header(struct zip_out *o, const struct zip_entry *e, size_t name_len,
                              uint32_t crc, uint64_t offset)
{
    unsigned char head[ZIP_CENTRAL_LEN], extra[64], *p = head, *x = extra;
    struct zip_dos_time d = dos_time(e->mtime);
    uint64_t zip64_len = central_zip64_len(e->size, offset);

    if (zip64_len > 0) {
        x = put16(x, ZIP_EXTRA_ZIP64);
        x = put16(x, (uint32_t)(zip64_len - ZIP_EXTRA_HEAD_LEN));
        if (e->size >= ZIP_MAX32) {
            x = put64(x, e->size);
            x = put64(x, e->size);
        }
        if (offset >= ZIP_MAX32)
            x = put64(x, offset);
    }
    x = put_time_extra(x, e->mtime);

    p = put32(p, ZIP_SIG_CENTRAL);
    p = put16(p, ZIP_MADE_BY);
    p = put16(p, entry_is_zip64(e->size, offset) ? ZIP_VERSION_ZIP64 : ZIP_VERSION);
    p = put16(p, ZIP_FLAGS);
    p = put16(p, 0);
    p = put16(p, d.time);
    p = put16(p, d.date);
    p = put32(p, crc);
    p = put32(p, field32(e->size));
    p = put32(p, field32(e->size));
    p = put16(p, (uint32_t)name_len);
    p = put16(p, (uint32_t)(x - extra));
    p = put16(p, 0); /* comment length */
    p = put16(p, 0); /* disk number */
    p = put16(p, 0); /* internal attributes */
    p = put32(p, ZIP_EXTERNAL_ATTR);
    put32(p, field32(offset));

    if (out_put(o, head, sizeof head) < 0 || out_put(o, e->name, name_len) < 0)
        return -1;
    return out_put(o, extra, (size_t)(x - extra));
}

static int put_end(struct zip_out *o, size_t n, uint64_t cd_offset, uint64_t cd_size)
{
    unsigned char end[ZIP_END64_LEN + ZIP_LOCATOR64_LEN + ZIP_END_LEN], *p = end;
    uint64_t end64_offset = o->total;

    if (end_is_zip64(n, cd_offset, cd_size)) {
        p = put32(p, ZIP_SIG_END64);
        p = put64(p, ZIP_END64_LEN - 12); /* the record's size after this field */
        p = put16(p, ZIP_MADE_BY);
        p = put16(p, ZIP_VERSION_ZIP64);
        p = put32(p, 0); /* this disk */
        p = put32(p, 0); /* the disk where the central directory starts */
        p = put64(p, n); /* entries on this disk */
        p = put64(p, n); /* entries in all */
        p = put64(p, cd_size);
        p = put64(p, cd_offset);

        p = put32(p, ZIP_SIG_LOCATOR64);
        p = put32(p, 0); /* the disk of the ZIP64 end record */
        p = put64(p, end64_offset);
        p = put32(p, 1); /* disks in all */
    }
    p = put32(p, ZIP_SIG_END);
    p = put16(p, 0);
    p = put16(p, 0);
    p = put16(p, n >= ZIP_MAX16 ? ZIP_MAX16 : (uint32_t)n);
    p = put16(p, n >= ZIP_MAX16 ? ZIP_MAX16 : (uint32_t)n);
    p = put32(p, field32(cd_size));
    p = put32(p, field32(cd_offset));
    p = put16(p, 0); /* comment length */
    return out_put(o, end, (size_t)(p - end));
}

/* Copy exactly e->size bytes of entry index from read_fn to the output,
 * computing their CRC-32 on the way. Reads go straight into the output
 * buffer; it is flushed first when less than a quarter of it is free, so
 * that neither reads nor writes become small. Only the bytes inside the
 * range stay in the buffer; an entry outside it whose CRC is known is not
 * read at all (one whose CRC is not must be, for its descriptor, unless the
 * range ends before it). */
static int stream_data(struct zip_out *o, const struct zip_entry *e, size_t index,
                       zip_read_fn read_fn, uint32_t *crc_out)
{
    uint64_t left = e->size, skip;
    uint32_t crc = 0;

    if ((e->crc_known && out_window(o, o->total, e->size, &skip) == 0) || o->total >= o->to) {
        /* Nothing of it is written; a CRC not known is not needed either
         * when the range ends before the data (the walk stops there). */
        o->total += e->size;
        *crc_out = e->crc32;
        return 0;
    }
    while (left > 0) {
        if ((o->used == o->cap || o->cap - o->used < o->cap / 4) && out_flush(o) < 0)
            return -1;
        size_t want = o->cap - o->used;
        if (want > left)
            want = (size_t)left;
        ssize_t got = read_fn(o->ctx, index, o->buf + o->used, want);
        if (got <= 0 || (size_t)got > want)
            return -1; /* an error, or the entry ended before its size */
        crc = digest_crc32(crc, o->buf + o->used, (size_t)got);
        uint64_t keep = out_window(o, o->total, (uint64_t)got, &skip);
        if (skip > 0 && keep > 0)
            memmove(o->buf + o->used, o->buf + o->used + skip, (size_t)keep);
        o->used += (size_t)keep;
        o->total += (uint64_t)got;
        left -= (uint64_t)got;
    }
    /* A CRC recorded at upload that the bytes no longer match: the stored
     * data changed, and an archive claiming otherwise must not be made. */
    if (e->crc_known && crc != e->crc32)
        return -1;
    *crc_out = crc;
    return 0;
}

/* Send an entry whose CRC is known through send_fn: flush what is buffered,
 * then let the caller write the bytes itself (those inside the range). */
static int send_data(struct zip_out *o, const struct zip_entry *e, size_t index,
                     zip_send_fn send_fn, uint32_t *crc_out)
{
    uint64_t skip, keep = out_window(o, o->total, e->size, &skip);

    if (keep > 0 && (out_flush(o) < 0 || send_fn(o->ctx, index, skip, keep) < 0))
        return -1;
    o->total += e->size;
    *crc_out = e->crc32;
    return 0;
}

int zip_stream(const struct zip_entry *entries, size_t n, zip_read_fn read_fn,
               zip_write_fn write_fn, void *ctx, void *buf, size_t cap)
{
    return zip_stream_send(entries, n, read_fn, NULL, write_fn, ctx, buf, cap);
}

int zip_stream_send(const struct zip_entry *entries, size_t n, zip_read_fn read_fn,
                    zip_send_fn send_fn, zip_write_fn write_fn, void *ctx, void *buf, size_t cap)
{
    return zip_stream_range(entries, n, read_fn, send_fn, write_fn, ctx, buf, cap, 0, UINT64_MAX);
}

int zip_stream_range(const struct zip_entry *entries, size_t n, zip_read_fn read_fn,
                     zip_send_fn send_fn, zip_write_fn write_fn, void *ctx, void *buf, size_t cap,
                     uint64_t first, uint64_t len)
{
    struct zip_out o = {.buf = buf,
                        .cap = cap,
                        .write_fn = write_fn,
                        .ctx = ctx,
                        .from = first,
                        .to = len > UINT64_MAX - first ? UINT64_MAX : first + len};
    uint64_t expected, cd_offset, offset = 0;
    uint32_t *crcs;
    int rc = -1;

    if (buf == NULL || cap == 0 || zip_archive_size(entries, n, &expected) < 0)
        return -1;
    crcs = calloc(n ? n : 1, sizeof *crcs);
    if (crcs == NULL)
        return -1;

    for (size_t i = 0; i < n; i++) {
        const struct zip_entry *e = &entries[i];
        size_t name_len = strlen(e->name);
        bool zip64 = entry_is_zip64(e->size, o.total);

        if (o.total >= o.to)
            goto done; /* the range ends before this entry */
        if (put_local_header(&o, e, name_len, zip64) < 0 ||
            (send_fn != NULL && e->crc_known ? send_data(&o, e, i, send_fn, &crcs[i])
                                             : stream_data(&o, e, i, read_fn, &crcs[i])) < 0 ||
            put_descriptor(&o, crcs[i], e->size, zip64) < 0)
            goto out;
    }

    /* The central directory: every offset is recomputed with the rules the
     * local headers were written by, so nothing per entry but the CRC had to
     * be remembered. */
    cd_offset = o.total;
    for (size_t i = 0; i < n; i++) {
        const struct zip_entry *e = &entries[i];
        size_t name_len = strlen(e->name);
        bool zip64 = entry_is_zip64(e->size, offset);

        if (put_central_header(&o, e, name_len, crcs[i], offset) < 0)
            goto out;
        offset += local_len(name_len, zip64) + e->size + descriptor_len(zip64);
    }
    if (offset != cd_offset || put_end(&o, n, cd_offset, o.total - cd_offset) < 0)
        goto out;
    if (o.total != expected)
        goto out;
done:
    if (out_flush(&o) < 0)
        goto out;
    rc = 0;
out:
    free(crcs);
    return rc;
}

/* ------------------------------------------------------------------------
 * Safe, unique names.
 *
 * Each name is made safe on its own, then duplicates are renamed:
 *
 * - The archive is flat. '/' and '\' separate components; empty, "." and
 *   ".." components are dropped (so "/abs" is "abs" and "../../etc/passwd"
 *   is "etc_passwd") and the rest are joined with '_' ("a/b.txt" is
 *   "a_b.txt"). No name can then be absolute or climb out of the folder it
 *   is extracted to.
 * - Invalid UTF-8 bytes, control characters (C0, DEL, C1), the Unicode
 *   direction overrides that disguise extensions ("exe.txt" shown for
 *   "txt.exe"), the line separators, and the characters Windows forbids in
 *   names (: * ? " < > |) each become '_'.
 * - Leading spaces and trailing spaces and dots are removed (Windows drops
 *   the latter itself); a Windows device name gets a '_' in front: CON, PRN,
 *   AUX, NUL, CONIN$, CONOUT$, COM0-9, LPT0-9 and COM/LPT with a
 *   superscript 1, 2 or 3, in any case, alone or with any extension, and
 *   with spaces or dots before it ("con .txt", "NUL..tar.gz",
 *   "conout$.log"); an empty name becomes "file".
 * - A name longer than ZIP_NAME_MAX bytes is cut at a character boundary,
 *   keeping an extension of up to ZIP_EXT_KEEP bytes.
 * - Names are unique ignoring case, so that no two entries collide when
 *   extracted to a case-insensitive disk (Windows, macOS): "A.txt" and
 *   "a.txt" become "A.txt" and "a (2).txt", and so do the Latin capital
 *   and small E with acute (U+00C9, U+00E9), the Greek capital, small and
 *   final sigma, or the Cyrillic A and a.  Case is folded character by character with
 *   Unicode's simple case mappings (glibc's, in its built-in C.UTF-8
 *   locale): to upper case, then to lower case, so that every letter a
 *   disk could take for another lands on the same one (the final sigma,
 *   the capital sharp s, the Kelvin sign).  Unicode normalisation (a
 *   precomposed U+00E9 against "e" and a combining accent, which macOS
 *   merges) is not folded.  Every first occurrence keeps its name; each later duplicate
 * becomes "name (2).ext", "name (3).ext", ..., skipping every name already taken by an original or
 * a renamed entry, so "same.txt", "same.txt", "same (2).txt" gives "same.txt", "same (3).txt",
 * "same (2).txt". The suffix goes before the last extension ("a.tar (2).gz"); a leading dot does
 * not start one.
 */

static bool char_is_unsafe(uint32_t cp)
{
    return utf8_is_hidden_control(cp) || (cp < 0x80 && strchr(":*?\"<>|", (int)cp) != NULL);
}

/* COM and LPT take a digit, or a superscript 1, 2 or 3 (U+00B9, U+00B2,
 * U+00B3, which Windows treats as the digits); returns the bytes used. */
static size_t device_digit(const char *s)
{
    if (s[0] >= '0' && s[0] <= '9')
        return 1;
    if ((unsigned char)s[0] == 0xC2 &&
        ((unsigned char)s[1] == 0xB9 || (unsigned char)s[1] == 0xB2 || (unsigned char)s[1] == 0xB3))
        return 2;
    return 0;
}

/* Windows takes a name for a device when what comes before its first dot,
 * with trailing spaces dropped, is a device name. */
static bool is_windows_device(const char *s)
{
    static const char *const devices[] = {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"};
    size_t stem = strcspn(s, ".");

    while (stem > 0 && s[stem - 1] == ' ')
        stem--;
    for (size_t i = 0; i < sizeof devices / sizeof devices[0]; i++)
        if (stem == strlen(devices[i]) && strncasecmp(s, devices[i], stem) == 0)
            return true;
    return stem > 3 && (strncasecmp(s, "COM", 3) == 0 || strncasecmp(s, "LPT", 3) == 0) &&
           device_digit(s + 3) == stem - 3;
}

/* Append one component to out (length *len), dropping empty, "." and "..". */
static void join_component(char *out, size_t *len, const char *comp, size_t comp_len)
{
    if (comp_len == 0 || (comp_len == 1 && comp[0] == '.') ||
        (comp_len == 2 && comp[0] == '.' && comp[1] == '.'))
        return;
    if (*len > 0)
        out[(*len)++] = '_';
    memmove(out + *len, comp, comp_len);
    *len += comp_len;
}

static void trim_end(char *s, size_t *len)
{
    while (*len > 0 && (s[*len - 1] == ' ' || s[*len - 1] == '.'))
        (*len)--;
    s[*len] = '\0';
}

/* Cut s to ZIP_NAME_MAX bytes at a character boundary, keeping a short
 * extension. s is valid UTF-8 here. */
static void trim_length(char *s, size_t *len)
{
    if (*len <= ZIP_NAME_MAX)
        return;
    const char *dot = strrchr(s, '.');
    size_t ext = dot && dot != s ? (size_t)(s + *len - dot) : 0;
    if (ext > ZIP_EXT_KEEP)
        ext = 0;
    size_t keep = ZIP_NAME_MAX - ext;
    while (keep > 0 && ((unsigned char)s[keep] & 0xC0) == 0x80)
        keep--;
    memmove(s + keep, s + *len - ext, ext);
    *len = keep + ext;
    s[*len] = '\0';
}

/* One safe name, malloc'd, or NULL when out of memory. */
static char *safe_name(const char *name)
{
    const unsigned char *in = (const unsigned char *)(name ? name : "");
    size_t in_len = strlen((const char *)in);
    char *clean = malloc(in_len + 1), *out = malloc(in_len + sizeof "file" + 1);
    size_t clean_len = 0, len = 0;

    if (clean == NULL || out == NULL) {
        free(clean);
        free(out);
        return NULL;
    }

    /* Replace what is unsafe character by character; separators become '/'. */
    for (size_t i = 0; i < in_len;) {
        uint32_t cp = 0;
        size_t n = utf8_decode(in + i, &cp);

        if (n == 0 || char_is_unsafe(cp)) {
            clean[clean_len++] = '_';
            i += n ? n : 1;
        } else if (cp == '/' || cp == '\\') {
            clean[clean_len++] = '/';
            i++;
        } else {
            memcpy(clean + clean_len, in + i, n);
            clean_len += n;
            i += n;
        }
    }

    /* Flatten the path: a leading '_' is reserved for the device prefix. */
    len = 1;
    for (size_t start = 0, i = 0; i <= clean_len; i++) {
        if (i == clean_len || clean[i] == '/') {
            size_t body = len - 1;
            join_component(out + 1, &body, clean + start, i - start);
            len = body + 1;
            start = i + 1;
        }
    }
    free(clean);

    char *s = out + 1;
    len -= 1;
    s[len] = '\0';
    size_t lead = strspn(s, " ");
    memmove(s, s + lead, len - lead + 1);
    len -= lead;
    trim_end(s, &len);
    if (is_windows_device(s)) {
        s = out;
        s[0] = '_';
        len++;
    }
    trim_length(s, &len);
    trim_end(s, &len);
    if (len == 0) {
        memcpy(s, "file", sizeof "file");
        len = 4;
    }
    if (s != out)
        memmove(out, s, len + 1);
    return out;
}

struct zip_name_slot {
    const char *name;   /* owned by the out array, or NULL */
    unsigned long next; /* the next suffix to try for duplicates of name */
};

struct zip_name_set {
    struct zip_name_slot *slots;
    size_t mask;
};

/* The locale whose case mappings fold names: glibc's built-in C.UTF-8,
 * which has Unicode's simple mappings whatever the process's own locale
 * (a worker runs in "C", which knows ASCII only).  Looked up once; where it
 * is missing, case is folded in ASCII only. */
static locale_t fold_locale(void)
{
    static locale_t loc;
    static bool tried;

    if (!tried) {
        tried = true;
        loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    }
    return loc;
}

/* The next character of a name (valid UTF-8 here; a stray byte stands for
 * itself), with its case folded: upper case, then lower case, so that the
 * letters a case-insensitive disk merges land on one. */
static uint32_t next_folded(const char **s)
{
    const unsigned char *p = (const unsigned char *)*s;
    uint32_t cp = 0;
    size_t n = utf8_decode(p, &cp);
    locale_t loc = fold_locale();

    if (n == 0) {
        cp = *p;
        n = 1;
    }
    *s += n;
    if (cp < 0x80 || loc == (locale_t)0)
        return cp < 0x80 ? (uint32_t)tolower((int)cp) : cp;
    return (uint32_t)towlower_l(towupper_l((wint_t)cp, loc), loc);
}

/* FNV-1a over the name with its case folded: names that differ only in
 * case land in the same chain and compare equal (name_equal). */
static uint64_t name_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325u;

    while (*s) {
        uint32_t cp = next_folded(&s);
        for (int b = 0; b < 4; b++)
            h = (h ^ ((cp >> (8 * b)) & 0xFF)) * 0x100000001b3u;
    }
    return h;
}

static bool name_equal(const char *a, const char *b)
{
    while (*a && *b)
        if (next_folded(&a) != next_folded(&b))
            return false;
    return *a == *b;
}

/* The slot holding s, or the empty slot where s belongs. The set is sized
 * so that it never fills: at most 2n names go in, into at least 4n slots. */
static struct zip_name_slot *set_find(struct zip_name_set *set, const char *s)
{
    size_t i = (size_t)name_hash(s) & set->mask;

    while (set->slots[i].name != NULL && !name_equal(set->slots[i].name, s))
        i = (i + 1) & set->mask;
    return &set->slots[i];
}

/* base with " (k)" inserted before its extension, malloc'd. */
static char *suffixed_name(const char *base, unsigned long k)
{
    const char *dot = strrchr(base, '.');
    size_t stem = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    char suffix[32];
    int suffix_len = snprintf(suffix, sizeof suffix, " (%lu)", k);
    size_t len = strlen(base) + (size_t)suffix_len;
    char *s = malloc(len + 1);

    if (s == NULL)
        return NULL;
    snprintf(s, len + 1, "%.*s%s%s", (int)stem, base, suffix, base + stem);
    return s;
}

int zip_safe_names(const char *const *names, size_t n, char **out)
{
    struct zip_name_set set = {NULL, 0};
    size_t cap = 16;

    if (n > SIZE_MAX / 4 / sizeof *set.slots)
        return -1;
    while (cap < 4 * n)
        cap *= 2;
    set.slots = calloc(cap, sizeof *set.slots);
    set.mask = cap - 1;
    for (size_t i = 0; i < n; i++)
        out[i] = NULL;
    if (set.slots == NULL)
        return -1;

    for (size_t i = 0; i < n; i++) {
        out[i] = safe_name(names[i]);
        if (out[i] == NULL)
            goto fail;
        struct zip_name_slot *slot = set_find(&set, out[i]);
        if (slot->name == NULL) {
            slot->name = out[i];
            slot->next = 2;
        }
    }

    /* Entries whose name belongs to an earlier entry are renamed, keeping
     * their own case. */
    for (size_t i = 0; i < n; i++) {
        struct zip_name_slot *base = set_find(&set, out[i]);
        if (base->name == out[i])
            continue;
        for (;;) {
            char *candidate = suffixed_name(out[i], base->next++);
            if (candidate == NULL)
                goto fail;
            struct zip_name_slot *slot = set_find(&set, candidate);
            if (slot->name == NULL) {
                slot->name = candidate;
                slot->next = 2;
                free(out[i]);
                out[i] = candidate;
                break;
            }
            free(candidate);
        }
    }
    free(set.slots);
    return 0;

fail:
    for (size_t i = 0; i < n; i++) {
        free(out[i]);
        out[i] = NULL;
    }
    free(set.slots);
    return -1;
}
