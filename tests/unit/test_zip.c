/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_zip.c - the ZIP stream and safe names.
 *
 * Archives are built in memory, checked against zip_archive_size, then
 * written to a temporary folder and opened by two independent readers:
 * Info-ZIP's `unzip` (integrity test and real extraction) and Python's
 * zipfile (/usr/bin/python3). A ZIP64 archive of more than 4 GiB is streamed
 * through a counting sink, its tail kept and parsed here. Faults (short
 * reads, read and write errors) must fail the stream.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "batchup/zip.h"

static char tmpdir[] = "/tmp/batchup-test-zip-XXXXXX";

/* ------------------------------------------------------------------------
 * Sources and sinks.
 */

struct mem_source {
    const unsigned char *const *data;
    const struct zip_entry *entries;
    uint64_t pos[16];
    size_t reads;
};

static ssize_t mem_read(void *ctx, size_t index, void *buf, size_t cap)
{
    struct mem_source *src = ctx;
    uint64_t left = src->entries[index].size - src->pos[index];
    size_t n = left < cap ? (size_t)left : cap;

    memcpy(buf, src->data[index] + src->pos[index], n);
    src->pos[index] += n;
    src->reads++;
    return (ssize_t)n;
}

struct mem_sink {
    unsigned char *buf;
    size_t len, cap;
    size_t writes;
    size_t fail_at_write; /* fail the n-th write (1-based); 0: never */
};

static int mem_write(void *ctx, const void *buf, size_t len)
{
    struct mem_sink *sink = ctx;

    if (++sink->writes == sink->fail_at_write)
        return -1;
    if (sink->len + len > sink->cap) {
        sink->cap = (sink->len + len) * 2;
        sink->buf = realloc(sink->buf, sink->cap);
        assert_non_null(sink->buf);
    }
    memcpy(sink->buf + sink->len, buf, len);
    sink->len += len;
    return 0;
}

/* One context for both callbacks, as zip_stream passes one ctx to both. */
struct mem_io {
    struct mem_source src;
    struct mem_sink sink;
};

static ssize_t io_read(void *ctx, size_t index, void *buf, size_t cap)
{
    return mem_read(&((struct mem_io *)ctx)->src, index, buf, cap);
}

static int io_write(void *ctx, const void *buf, size_t len)
{
    return mem_write(&((struct mem_io *)ctx)->sink, buf, len);
}

/* Stream entries into memory with a buffer of cap bytes; returns zip_stream's result. */
static int zip_to_memory(const struct zip_entry *e, size_t n, const unsigned char *const *data,
                         size_t cap, struct mem_sink *out)
{
    struct mem_io io = {{data, e, {0}, 0}, {NULL, 0, 0, 0, 0}};
    void *buf = malloc(cap);
    int rc;

    assert_non_null(buf);
    io.sink.fail_at_write = out->fail_at_write;
    rc = zip_stream(e, n, io_read, io_write, &io, buf, cap);
    free(buf);
    *out = io.sink;
    return rc;
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *data = NULL;
    size_t cap = 0, n;

    if (f == NULL)
        return NULL;
    *len = 0;
    do {
        if (*len == cap) {
            cap = cap ? cap * 2 : 4096;
            data = realloc(data, cap + 1);
            assert_non_null(data);
        }
        n = fread(data + *len, 1, cap - *len, f);
        *len += n;
    } while (n > 0);
    fclose(f);
    data[*len] = '\0';
    return data;
}

static char *hex(const unsigned char *p, size_t len)
{
    char *s = malloc(2 * len + 1);

    assert_non_null(s);
    for (size_t i = 0; i < len; i++)
        sprintf(s + 2 * i, "%02x", p[i]);
    s[2 * len] = '\0';
    return s;
}

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int run(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return system(cmd);
}

/* Python's zipfile tests every CRC, then lists "hex(name) hex(data)" per
 * member, in archive order. */
static const char py_list[] = "import sys, zipfile\n"
                              "z = zipfile.ZipFile(sys.argv[1])\n"
                              "assert z.testzip() is None\n"
                              "with open(sys.argv[2], 'w') as f:\n"
                              "    for i in z.infolist():\n"
                              "        f.write(i.filename.encode().hex() + ' ' + z.read(i).hex() + "
                              "'\\n')\n";

/* Check an archive with both readers: it must list exactly these names with
 * exactly these contents, and extract to them. */
static void verify_archive(const char *label, const struct mem_sink *zip, const struct zip_entry *e,
                           size_t n, const unsigned char *const *data)
{
    char path[512], list[512], script[512], out[512];
    size_t len;

    snprintf(path, sizeof path, "%s/%s.zip", tmpdir, label);
    snprintf(list, sizeof list, "%s/%s.list", tmpdir, label);
    snprintf(script, sizeof script, "%s/list.py", tmpdir);
    snprintf(out, sizeof out, "%s/%s.out", tmpdir, label);
    write_file(path, zip->buf, zip->len);
    write_file(script, py_list, strlen(py_list));

    /* unzip calls an empty archive a warning (exit status 1). */
    assert_int_equal(run("unzip -tqq '%s' %s", path, n == 0 ? ">/dev/null" : ""),
                     n == 0 ? 1 << 8 : 0);
    assert_int_equal(run("/usr/bin/python3 -I '%s' '%s' '%s'", script, path, list), 0);

    unsigned char *text = read_file(list, &len);
    assert_non_null(text);
    char *line = (char *)text;
    for (size_t i = 0; i < n; i++) {
        char *name_hex = hex((const unsigned char *)e[i].name, strlen(e[i].name));
        char *data_hex = hex(data[i], (size_t)e[i].size);
        char *end = strchr(line, '\n');
        assert_non_null(end);
        *end = '\0';
        char *space = strchr(line, ' ');
        assert_non_null(space);
        *space = '\0';
        assert_string_equal(line, name_hex);
        assert_string_equal(space + 1, data_hex);
        free(name_hex);
        free(data_hex);
        line = end + 1;
    }
    assert_int_equal(*line, '\0');
    free(text);

    /* Real extraction: every file lands under out/, under its own name. */
    assert_int_equal(run("LC_ALL=C.UTF-8 unzip -qq '%s' -d '%s'", path, out), n == 0 ? 1 << 8 : 0);
    for (size_t i = 0; i < n; i++) {
        char file[1024];
        snprintf(file, sizeof file, "%s/%s", out, e[i].name);
        unsigned char *got = read_file(file, &len);
        assert_non_null(got);
        assert_int_equal(len, e[i].size);
        assert_memory_equal(got, data[i], len);
        free(got);
    }
}

static uint16_t get16(const unsigned char *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)get16(p) | (uint32_t)get16(p + 2) << 16;
}

static uint64_t get64(const unsigned char *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* ------------------------------------------------------------------------
 * Archives.
 */

static void test_roundtrip_unicode_names(void **state)
{
    (void)state;
    const char *originals[] = {
        "hello.txt",     "café déjà vu.txt", "Привет, мир.txt",  "日本語のファイル名.txt",
        "😀 party 🎉.bin", "empty.dat",        "../../etc/passwd", "hello.txt",
        "big.bin",
    };
    enum { N = sizeof originals / sizeof originals[0] };
    static unsigned char big[300 * 1024];
    const unsigned char *data[N] = {
        (const unsigned char *)"Hello, world!\n",
        (const unsigned char *)"accents\n",
        (const unsigned char *)"кириллица\n",
        (const unsigned char *)"漢字\n",
        (const unsigned char *)"\x00\x01\x02\xff",
        (const unsigned char *)"",
        (const unsigned char *)"root:x:0:0\n",
        (const unsigned char *)"second hello\n",
        big,
    };
    uint64_t sizes[N] = {14, 8, 19, 7, 4, 0, 11, 13, sizeof big};
    char *names[N];
    struct zip_entry e[N];
    uint64_t expected;

    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (unsigned char)((i * 2654435761u) >> 13);
    assert_int_equal(zip_safe_names(originals, N, names), 0);
    assert_string_equal(names[1], "café déjà vu.txt");
    assert_string_equal(names[2], "Привет, мир.txt");
    assert_string_equal(names[3], "日本語のファイル名.txt");
    assert_string_equal(names[4], "😀 party 🎉.bin");
    assert_string_equal(names[6], "etc_passwd");
    assert_string_equal(names[7], "hello (2).txt");
    for (size_t i = 0; i < N; i++)
        e[i] = (struct zip_entry){names[i], sizes[i], 1700000000 + (time_t)i * 3600};

    assert_int_equal(zip_archive_size(e, N, &expected), 0);
    struct mem_sink zip = {0};
    assert_int_equal(zip_to_memory(e, N, data, ZIP_BUFFER_SIZE, &zip), 0);
    assert_int_equal(zip.len, expected);
    verify_archive("unicode", &zip, e, N, data);

    /* The buffer size changes how bytes are grouped, never the bytes. */
    size_t caps[] = {1, 7, 4096};
    for (size_t c = 0; c < sizeof caps / sizeof caps[0]; c++) {
        struct mem_sink other = {0};
        assert_int_equal(zip_to_memory(e, N, data, caps[c], &other), 0);
        assert_int_equal(other.len, zip.len);
        assert_memory_equal(other.buf, zip.buf, zip.len);
        free(other.buf);
    }
    free(zip.buf);
    for (size_t i = 0; i < N; i++)
        free(names[i]);
}

/* io_send: the bytes of an entry whose CRC is known, written straight to the
 * sink, as download.c does with sendfile(2). */
static int io_send(void *ctx, size_t index, uint64_t offset, uint64_t size)
{
    struct mem_io *io = ctx;

    assert_true(offset + size <= io->src.entries[index].size);
    io->src.reads++;
    return mem_write(&io->sink, io->src.data[index] + offset, (size_t)size);
}

static void test_known_crcs_sent_directly(void **state)
{
    (void)state;
    static unsigned char big[600 * 1024];
    const unsigned char *data[3] = {(const unsigned char *)"first\n", big,
                                    (const unsigned char *)"third!\n"};
    struct zip_entry e[3] = {
        {"a.txt", 6, 1700000000}, {"big.bin", sizeof big, 1700000000}, {"c.txt", 7, 1700000000}};
    struct mem_sink streamed = {0};
    struct mem_io io = {{data, e, {0}, 0}, {NULL, 0, 0, 0, 0}};
    static unsigned char buf[4096];

    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (unsigned char)((i * 2654435761u) >> 11);
    assert_int_equal(zip_to_memory(e, 3, data, sizeof buf, &streamed), 0);

    /* Entries 0 and 1 carry their CRC; entry 2 is read and checksummed. */
    for (size_t i = 0; i < 2; i++) {
        e[i].crc32 = (uint32_t)crc32(0, data[i], (uInt)e[i].size);
        e[i].crc_known = true;
    }
    assert_int_equal(zip_stream_send(e, 3, io_read, io_send, io_write, &io, buf, sizeof buf), 0);
    assert_int_equal(io.sink.len, streamed.len);
    assert_memory_equal(io.sink.buf, streamed.buf, streamed.len);
    assert_true(io.src.pos[0] == 0 && io.src.pos[1] == 0); /* never read */
    assert_true(io.src.pos[2] == 7);
    free(io.sink.buf);

    /* Without a send callback a known CRC is checked against the bytes read:
     * stored data that changed since the upload fails the stream. */
    struct mem_sink checked = {0};
    assert_int_equal(zip_to_memory(e, 3, data, sizeof buf, &checked), 0);
    assert_memory_equal(checked.buf, streamed.buf, streamed.len);
    free(checked.buf);
    e[1].crc32 ^= 1;
    struct mem_sink wrong = {0};
    assert_int_equal(zip_to_memory(e, 3, data, sizeof buf, &wrong), -1);
    free(wrong.buf);
    free(streamed.buf);
}

/* Any byte range of the archive, produced on its own, is exactly that
 * slice of the whole archive, with and without a send callback, whatever
 * the buffer; entries outside the range whose CRC is known are never read
 * or sent, and the walk stops at the range's end. */
static void test_ranges(void **state)
{
    (void)state;
    static unsigned char big[300 * 1024];
    const unsigned char *data[4] = {(const unsigned char *)"first\n", big,
                                    (const unsigned char *)"", (const unsigned char *)"fourth\n"};
    struct zip_entry e[4] = {{"a.txt", 6, 1700000000},
                             {"big.bin", sizeof big, 1700000000},
                             {"empty", 0, 1700000000},
                             {"d.txt", 7, 1700000000}};
    struct mem_sink whole = {0};
    static unsigned char buf[4096];
    uint64_t size;

    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (unsigned char)((i * 2654435761u) >> 9);
    assert_int_equal(zip_to_memory(e, 4, data, sizeof buf, &whole), 0);
    assert_int_equal(zip_archive_size(e, 4, &size), 0);
    assert_int_equal(whole.len, size);
    e[1].crc32 = (uint32_t)crc32(0, big, sizeof big);
    e[1].crc_known = true;

    /* Starts and lengths around every boundary: headers, data, the central
     * directory, the end record. */
    uint64_t firsts[] = {0,          1,         29,      30, 40, 50, 1000, 4096, sizeof big / 2,
                         size - 200, size - 22, size - 1};
    uint64_t lens[] = {1, 7, 100, 5000, sizeof big, UINT64_MAX};
    for (size_t f = 0; f < sizeof firsts / sizeof firsts[0]; f++)
        for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++) {
            uint64_t first = firsts[f], len = lens[l];
            uint64_t want = len > size - first ? size - first : len;
            for (int with_send = 0; with_send < 2; with_send++) {
                struct mem_io io = {{data, e, {0}, 0}, {NULL, 0, 0, 0, 0}};
                assert_int_equal(zip_stream_range(e, 4, io_read, with_send ? io_send : NULL,
                                                  io_write, &io, buf, sizeof buf, first, len),
                                 0);
                assert_int_equal(io.sink.len, want);
                assert_memory_equal(io.sink.buf, whole.buf + first, (size_t)want);
                free(io.sink.buf);
            }
        }

    /* A range inside the last entry's data reads nothing of the big entry,
     * whose CRC is known, and a range in the first entry stops there. */
    struct mem_io io = {{data, e, {0}, 0}, {NULL, 0, 0, 0, 0}};
    assert_int_equal(
        zip_stream_range(e, 4, io_read, io_send, io_write, &io, buf, sizeof buf, size - 200, 10),
        0);
    assert_true(io.src.pos[1] == 0);
    free(io.sink.buf);
    struct mem_io head = {{data, e, {0}, 0}, {NULL, 0, 0, 0, 0}};
    assert_int_equal(
        zip_stream_range(e, 4, io_read, io_send, io_write, &head, buf, sizeof buf, 0, 20), 0);
    assert_true(head.src.reads == 0 && head.sink.len == 20);
    free(head.sink.buf);
    free(whole.buf);
}

static void test_empty_archive(void **state)
{
    (void)state;
    uint64_t size = 0;
    struct mem_sink zip = {0};

    assert_int_equal(zip_archive_size(NULL, 0, &size), 0);
    assert_int_equal(size, 22);
    assert_int_equal(zip_to_memory(NULL, 0, NULL, 64, &zip), 0);
    assert_int_equal(zip.len, 22);
    assert_int_equal(get32(zip.buf), 0x06054b50);
    verify_archive("empty", &zip, NULL, 0, NULL);
    free(zip.buf);
}

static void test_header_fields(void **state)
{
    (void)state;
    /* 2024-02-29 12:34:57 UTC; DOS time keeps even seconds. */
    struct zip_entry e[2] = {{"a.txt", 3, 1709210097}, {"old.txt", 1, 0}};
    const unsigned char *data[2] = {(const unsigned char *)"abc", (const unsigned char *)"x"};
    struct mem_sink zip = {0};

    assert_int_equal(zip_to_memory(e, 2, data, 512, &zip), 0);
    const unsigned char *p = zip.buf;
    assert_int_equal(get32(p), 0x04034b50);
    assert_int_equal(get16(p + 4), 20);     /* version needed */
    assert_int_equal(get16(p + 6), 0x0808); /* descriptor, UTF-8 */
    assert_int_equal(get16(p + 8), 0);      /* stored */
    assert_int_equal(get16(p + 10), (12 << 11) | (34 << 5) | 28);
    assert_int_equal(get16(p + 12), (44 << 9) | (2 << 5) | 29);
    assert_int_equal(get32(p + 14), 0); /* CRC in the descriptor */
    assert_int_equal(get16(p + 28), 9); /* the extended timestamp */
    assert_int_equal(get16(p + 30 + 5), 0x5455);
    assert_int_equal(get32(p + 30 + 5 + 5), 1709210097);
    p += 30 + 5 + 9 + 3;
    assert_int_equal(get32(p), 0x08074b50);
    assert_int_equal(get32(p + 4), crc32(0, (const Bytef *)"abc", 3));
    assert_int_equal(get32(p + 8), 3);
    assert_int_equal(get32(p + 12), 3);
    p += 16;
    /* Before 1980, the DOS date is its first day. */
    assert_int_equal(get16(p + 10), 0);
    assert_int_equal(get16(p + 12), (1 << 5) | 1);
    free(zip.buf);
}

/* More than 65534 entries need the ZIP64 end of central directory. */
static void test_many_entries(void **state)
{
    (void)state;
    enum { N = 70000 };
    struct zip_entry *e = calloc(N, sizeof *e);
    char(*names)[16] = calloc(N, sizeof *names);
    const unsigned char **data = calloc(N, sizeof *data);
    struct mem_sink zip = {0};
    struct mem_io io = {{data, e, {0}, 0}, {NULL, 0, 0, 0, 0}};
    static unsigned char buf[ZIP_BUFFER_SIZE];
    uint64_t expected;

    assert_true(e && names && data);
    for (size_t i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "f%05zu", i);
        e[i] = (struct zip_entry){names[i], 0, 1700000000};
    }
    assert_int_equal(zip_archive_size(e, N, &expected), 0);
    assert_int_equal(zip_stream(e, N, io_read, io_write, &io, buf, sizeof buf), 0);
    zip = io.sink;
    assert_int_equal(zip.len, expected);
    /* The classic end record points to the ZIP64 one. */
    const unsigned char *end = zip.buf + zip.len - 22;
    assert_int_equal(get32(end), 0x06054b50);
    assert_int_equal(get16(end + 10), 0xFFFF);
    const unsigned char *loc = end - 20;
    assert_int_equal(get32(loc), 0x07064b50);
    const unsigned char *end64 = zip.buf + get64(loc + 8);
    assert_int_equal(get32(end64), 0x06064b50);
    assert_int_equal(get64(end64 + 32), N);

    char path[512];
    snprintf(path, sizeof path, "%s/many.zip", tmpdir);
    write_file(path, zip.buf, zip.len);
    assert_int_equal(run("unzip -tqq '%s'", path), 0);
    assert_int_equal(
        run("/usr/bin/python3 -I -c 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); "
            "assert z.testzip() is None; assert len(z.namelist()) == %d' '%s'",
            N, path),
        0);
    free(zip.buf);
    free(e);
    free(names);
    free(data);
}

/* ------------------------------------------------------------------------
 * ZIP64: an entry over 4 GiB, generated, into a sink that only counts (and
 * keeps the last bytes, to parse the directory).
 */

#define BIG_SIZE (UINT64_C(0x100000000) + 123)
#define TAIL_LEN 4096

struct big_io {
    uint64_t pos[3];
    uint64_t written;
    uint64_t tail_from;
    unsigned char tail[TAIL_LEN];
    unsigned char head[256];
};

static const struct zip_entry big_entries[3] = {
    {"before.txt", 5, 1700000000},
    {"big.bin", BIG_SIZE, 1700000000},
    {"after.txt", 10, 1700000000},
};

static ssize_t big_read(void *ctx, size_t index, void *buf, size_t cap)
{
    struct big_io *io = ctx;
    uint64_t left = big_entries[index].size - io->pos[index];
    size_t n = left < cap ? (size_t)left : cap;

    if (index == 1)
        memset(buf, 0, n);
    else
        memcpy(buf, (index == 0 ? "12345" : "0123456789") + io->pos[index], n);
    io->pos[index] += n;
    return (ssize_t)n;
}

static int big_write(void *ctx, const void *buf, size_t len)
{
    struct big_io *io = ctx;
    const unsigned char *p = buf;

    for (size_t i = 0; i < len; i++) {
        uint64_t at = io->written + i;
        if (at < sizeof io->head)
            io->head[at] = p[i];
        else if (at >= io->tail_from)
            io->tail[at - io->tail_from] = p[i];
        else
            i += (size_t)(io->tail_from - at < len - i ? io->tail_from - at : len - i) - 1;
    }
    io->written += len;
    return 0;
}

static void test_zip64_big_entry(void **state)
{
    (void)state;
    static struct big_io io;
    static unsigned char buf[ZIP_BUFFER_SIZE];
    uint64_t expected;

    assert_int_equal(zip_archive_size(big_entries, 3, &expected), 0);
    io.tail_from = expected - TAIL_LEN;
    assert_int_equal(zip_stream(big_entries, 3, big_read, big_write, &io, buf, sizeof buf), 0);
    assert_int_equal(io.written, expected);

    /* The big entry's local header announces ZIP64 (sizes zero: bit 3). */
    const unsigned char *local = io.head + 30 + 10 + 9 + 5 + 16;
    assert_int_equal(get32(local), 0x04034b50);
    assert_int_equal(get16(local + 4), 45);
    assert_int_equal(get32(local + 18), 0xFFFFFFFF);
    assert_int_equal(get16(local + 28), 20 + 9);
    assert_int_equal(get16(local + 30 + 7), 0x0001);
    assert_int_equal(get64(local + 30 + 7 + 4), 0);

    /* End records: ZIP64 because the directory starts beyond 4 GiB. */
    const unsigned char *end = io.tail + TAIL_LEN - 22;
    assert_int_equal(get32(end), 0x06054b50);
    assert_int_equal(get16(end + 10), 3);
    assert_int_equal(get32(end + 16), 0xFFFFFFFF);
    const unsigned char *loc = end - 20;
    assert_int_equal(get32(loc), 0x07064b50);
    uint64_t end64_at = get64(loc + 8);
    const unsigned char *end64 = io.tail + (end64_at - io.tail_from);
    assert_int_equal(get32(end64), 0x06064b50);
    uint64_t cd_size = get64(end64 + 40), cd_at = get64(end64 + 48);
    assert_int_equal(cd_at + cd_size, end64_at);

    /* The CRC of the zeros, computed without streaming them again. */
    unsigned char zeros[4096] = {0};
    uLong block = crc32(0, zeros, sizeof zeros), crc = crc32(0, Z_NULL, 0);
    for (uint64_t i = 0; i < BIG_SIZE / sizeof zeros; i++)
        crc = crc32_combine(crc, block, sizeof zeros);
    crc = crc32_combine(crc, crc32(0, zeros, BIG_SIZE % sizeof zeros), BIG_SIZE % sizeof zeros);

    /* The big entry's descriptor has 8-byte sizes and the entry after it,
     * which starts beyond 4 GiB, is ZIP64 too. */
    uint64_t after_at = 0;
    const unsigned char *cd = io.tail + (cd_at - io.tail_from);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(get32(cd), 0x02014b50);
        uint16_t name_len = get16(cd + 28), extra_len = get16(cd + 30);
        const unsigned char *x = cd + 46 + name_len;
        if (i == 0) {
            assert_int_equal(get16(cd + 6), 20);
            assert_int_equal(extra_len, 9);
        } else if (i == 1) {
            assert_int_equal(get16(cd + 6), 45);
            assert_int_equal(get32(cd + 16), (uint32_t)crc);
            assert_int_equal(get32(cd + 20), 0xFFFFFFFF);
            assert_int_equal(get32(cd + 24), 0xFFFFFFFF);
            assert_int_equal(get16(x), 0x0001);
            assert_int_equal(get16(x + 2), 16);
            assert_int_equal(get64(x + 4), BIG_SIZE);
            assert_int_equal(get64(x + 12), BIG_SIZE);
        } else {
            assert_int_equal(get16(cd + 6), 45);
            assert_int_equal(get32(cd + 20), 10);
            assert_int_equal(get32(cd + 42), 0xFFFFFFFF);
            assert_int_equal(get16(x), 0x0001);
            assert_int_equal(get16(x + 2), 8);
            after_at = get64(x + 4);
            assert_true(after_at > UINT32_MAX);
        }
        cd += 46 + name_len + extra_len;
    }
    const unsigned char *desc = io.tail + (after_at - 24 - io.tail_from);
    assert_int_equal(get32(desc), 0x08074b50);
    assert_int_equal(get32(desc + 4), (uint32_t)crc);
    assert_int_equal(get64(desc + 8), BIG_SIZE);
    assert_int_equal(get64(desc + 16), BIG_SIZE);
    const unsigned char *after = io.tail + (after_at - io.tail_from);
    assert_int_equal(get32(after), 0x04034b50);
    assert_int_equal(get16(after + 4), 45);
}

/* ------------------------------------------------------------------------
 * Faults: the stream fails instead of lying.
 */

static ssize_t short_read(void *ctx, size_t index, void *buf, size_t cap)
{
    (void)ctx;
    (void)index;
    (void)buf;
    (void)cap;
    return 0;
}

static ssize_t failing_read(void *ctx, size_t index, void *buf, size_t cap)
{
    (void)ctx;
    (void)index;
    (void)buf;
    (void)cap;
    return -1;
}

static ssize_t greedy_read(void *ctx, size_t index, void *buf, size_t cap)
{
    (void)ctx;
    (void)index;
    (void)buf;
    return (ssize_t)cap + 1;
}

/* Delivers one byte less than the declared size of "b.txt" (100 bytes). */
static ssize_t truncated_read(void *ctx, size_t index, void *buf, size_t cap)
{
    uint64_t *delivered = ctx;
    uint64_t left = (index == 0 ? 3 : 99) - delivered[index];
    size_t n = left < cap ? (size_t)left : cap;

    memset(buf, 'x', n);
    delivered[index] += n;
    return (ssize_t)n;
}

static int null_write(void *ctx, const void *buf, size_t len)
{
    (void)ctx;
    (void)buf;
    (void)len;
    return 0;
}

static void test_faults(void **state)
{
    (void)state;
    struct zip_entry e[2] = {{"a.txt", 3, 0}, {"b.txt", 100, 0}};
    const unsigned char data0[] = "abc", data1[100] = {0};
    const unsigned char *data[2] = {data0, data1};
    unsigned char buf[64];

    assert_int_equal(zip_stream(e, 2, short_read, null_write, NULL, buf, sizeof buf), -1);
    assert_int_equal(zip_stream(e, 2, failing_read, null_write, NULL, buf, sizeof buf), -1);
    assert_int_equal(zip_stream(e, 2, greedy_read, null_write, NULL, buf, sizeof buf), -1);
    assert_int_equal(zip_stream(e, 2, short_read, null_write, NULL, NULL, 64), -1);
    assert_int_equal(zip_stream(e, 2, short_read, null_write, NULL, buf, 0), -1);

    /* A source that ends one byte before its declared size. */
    uint64_t delivered[2] = {0, 0};
    assert_int_equal(zip_stream(e, 2, truncated_read, null_write, delivered, buf, sizeof buf), -1);
    assert_int_equal(delivered[0], 3);
    assert_int_equal(delivered[1], 99);

    /* Every single write failing, in turn, fails the stream. */
    struct mem_sink ok = {0};
    assert_int_equal(zip_to_memory(e, 2, data, 16, &ok), 0);
    assert_true(ok.writes > 3);
    for (size_t i = 1; i <= ok.writes; i++) {
        struct mem_sink failing = {0};
        failing.fail_at_write = i;
        assert_int_equal(zip_to_memory(e, 2, data, 16, &failing), -1);
        free(failing.buf);
    }
    free(ok.buf);

    /* Names that cannot be stored. */
    uint64_t size;
    struct zip_entry bad[1] = {{"", 1, 0}};
    assert_int_equal(zip_archive_size(bad, 1, &size), -1);
    bad[0].name = NULL;
    assert_int_equal(zip_archive_size(bad, 1, &size), -1);
    char *long_name = malloc(70000);
    memset(long_name, 'a', 69999);
    long_name[69999] = '\0';
    bad[0].name = long_name;
    assert_int_equal(zip_archive_size(bad, 1, &size), -1);
    assert_int_equal(zip_stream(bad, 1, short_read, null_write, NULL, buf, sizeof buf), -1);
    free(long_name);

    /* Sizes whose sum passes 2^64. */
    struct zip_entry huge[2] = {{"a", UINT64_MAX - 10, 0}, {"b", UINT64_MAX - 10, 0}};
    assert_int_equal(zip_archive_size(huge, 1, &size), -1);
    assert_int_equal(zip_archive_size(huge, 2, &size), -1);
}

/* ------------------------------------------------------------------------
 * Safe names.
 */

static void expect_names(const char *const *in, size_t n, const char *const *want)
{
    char *out[16];

    assert_true(n <= 16);
    assert_int_equal(zip_safe_names(in, n, out), 0);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(out[i], want[i]);
        free(out[i]);
    }
}

static void expect_name(const char *in, const char *want)
{
    expect_names(&in, 1, &want);
}

static void test_names_hostile(void **state)
{
    (void)state;
    expect_name("../../etc/passwd", "etc_passwd");
    expect_name("/abs", "abs");
    expect_name("/", "file");
    expect_name("a\\b", "a_b");
    expect_name("C:\\Users\\me\\x.txt", "C__Users_me_x.txt");
    expect_name("a/b.txt", "a_b.txt");
    expect_name("./a/./b/../c", "a_b_c");
    expect_name("..", "file");
    expect_name(".", "file");
    expect_name("...", "file");
    expect_name("", "file");
    expect_name(NULL, "file");
    expect_name("bad\x01name\x7f\x1b[31m.txt", "bad_name__[31m.txt");
    expect_name("tab\there\nnewline\r", "tab_here_newline_");
    expect_name("c1\xc2\x85x", "c1_x");
    expect_name("\xff\xfe.txt", "__.txt");
    expect_name("\xc0\xaf", "__");              /* overlong '/' */
    expect_name("\xed\xa0\x80.txt", "___.txt"); /* a surrogate */
    expect_name("\xf4\x90\x80\x80", "____");    /* above U+10FFFF */
    expect_name("cut\xe6\x97", "cut__");        /* truncated sequence */
    expect_name("invoice\xe2\x80\xae"
                "fdp.exe",
                "invoice_fdp.exe");
    expect_name("a:b*c?d\"e<f>g|h", "a_b_c_d_e_f_g_h");
    expect_name("  leading and trailing . . ", "leading and trailing");
    expect_name("CON", "_CON");
    expect_name("con.txt", "_con.txt");
    expect_name("Lpt9.tar.gz", "_Lpt9.tar.gz");
    expect_name("COM0", "_COM0");
    expect_name("CONSOLE.txt", "CONSOLE.txt");
    expect_name(".bashrc", ".bashrc");
    expect_name("\xc4\xb1:", "\xc4\xb1_"); /* U+0131 is not ':' */
}

/* Every Windows device name, in any case, with any extension, with
 * trailing dots or spaces, becomes a plain file name. */
static void test_names_windows_devices(void **state)
{
    static const char *const stems[] = {"CON", "PRN", "AUX", "NUL"};
    char in[64], want[64];

    (void)state;
    for (size_t i = 0; i < 4; i++) {
        snprintf(in, sizeof in, "%s", stems[i]);
        snprintf(want, sizeof want, "_%s", stems[i]);
        expect_name(in, want);
        snprintf(in, sizeof in, "%c%s.anything.ext", stems[i][0] + 32, stems[i] + 1);
        snprintf(want, sizeof want, "_%s", in);
        expect_name(in, want);
    }
    for (int d = 0; d <= 9; d++) {
        snprintf(in, sizeof in, "com%d.txt", d);
        snprintf(want, sizeof want, "_com%d.txt", d);
        expect_name(in, want);
        snprintf(in, sizeof in, "LpT%d", d);
        snprintf(want, sizeof want, "_LpT%d", d);
        expect_name(in, want);
    }
    expect_name("COM\xc2\xb9.txt", "_COM\xc2\xb9.txt"); /* COM and a superscript one */
    expect_name("lpt\xc2\xb3", "_lpt\xc2\xb3");
    expect_name("CON .txt", "_CON .txt"); /* spaces before the dot are dropped */
    expect_name("nul..tar.gz", "_nul..tar.gz");
    expect_name("aux. . .", "_aux");           /* trailing dots and spaces go first */
    expect_name("dir/PRN.log", "dir_PRN.log"); /* flattened: no longer a device */
    expect_name("COM10", "COM10");
    expect_name("COM", "COM");
    expect_name("LPT\xc2\xb9\xc2\xb9", "LPT\xc2\xb9\xc2\xb9");
    /* The console's input and output are devices too (Windows 10 and
     * later), alone or with an extension, in any case. */
    expect_name("CONIN$", "_CONIN$");
    expect_name("conout$.txt", "_conout$.txt");
    expect_name("CONOUT$ .log", "_CONOUT$ .log");
    expect_name("CONIN$X", "CONIN$X");
    expect_name("CONIN", "CONIN");
    expect_name("trailing. ", "trailing");
    const char *devs[] = {"con", "CON", "Con.txt", "CON.TXT"};
    expect_names(devs, 4, (const char *[]){"_con", "_CON (2)", "_Con.txt", "_CON (2).TXT"});
}

static void expect_valid_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    while (*p) {
        size_t n = *p < 0x80 ? 1 : *p < 0xE0 ? 2 : *p < 0xF0 ? 3 : 4;
        for (size_t i = 1; i < n; i++)
            assert_int_equal(p[i] & 0xC0, 0x80);
        p += n;
    }
}

static void test_names_long(void **state)
{
    (void)state;
    char in[1024], *out;
    const char *p = in;

    memset(in, 'a', 300);
    strcpy(in + 300, ".pdf");
    assert_int_equal(zip_safe_names(&p, 1, &out), 0);
    assert_int_equal(strlen(out), ZIP_NAME_MAX);
    assert_string_equal(out + ZIP_NAME_MAX - 4, ".pdf");
    free(out);

    /* 3-byte characters: the cut falls on a character boundary. */
    in[0] = '\0';
    for (int i = 0; i < 100; i++)
        strcat(in, "日");
    assert_int_equal(zip_safe_names(&p, 1, &out), 0);
    assert_int_equal(strlen(out), 198);
    expect_valid_utf8(out);
    free(out);

    /* 4-byte characters and a too long "extension" (not kept). */
    in[0] = '\0';
    strcat(in, "x.");
    for (int i = 0; i < 60; i++)
        strcat(in, "😀");
    assert_int_equal(zip_safe_names(&p, 1, &out), 0);
    assert_int_equal(strlen(out), 198);
    expect_valid_utf8(out);
    free(out);

    /* Cutting leaves only dots and spaces: the name becomes "file". */
    memset(in, '.', 150);
    memset(in + 150, ' ', 100);
    strcpy(in + 250, "x");
    assert_int_equal(zip_safe_names(&p, 1, &out), 0);
    assert_string_equal(out, "file");
    free(out);
}

static void test_names_unique(void **state)
{
    (void)state;
    const char *same[] = {"same.txt", "same.txt", "same.txt"};
    expect_names(same, 3, (const char *[]){"same.txt", "same (2).txt", "same (3).txt"});

    const char *later[] = {"a.txt", "a.txt", "a (2).txt"};
    expect_names(later, 3, (const char *[]){"a.txt", "a (3).txt", "a (2).txt"});

    const char *chain[] = {"x", "x", "x (2)", "x (2)", "x (3)"};
    expect_names(chain, 5, (const char *[]){"x", "x (4)", "x (2)", "x (2) (2)", "x (3)"});

    /* Unique ignoring case: a case-insensitive disk would merge them. */
    const char *cases[] = {"A.txt", "a.txt", "A.TXT"};
    expect_names(cases, 3, (const char *[]){"A.txt", "a (2).txt", "A (3).TXT"});
    const char *taken[] = {"Report.pdf", "report (2).PDF", "REPORT.pdf"};
    expect_names(taken, 3, (const char *[]){"Report.pdf", "report (2).PDF", "REPORT (3).pdf"});

    /* Case outside ASCII: Windows and macOS merge these too (É/é,
     * Greek, Cyrillic, the final sigma, the capital sharp s, fullwidth
     * letters, the Kelvin sign and a plain k). */
    const char *latin[] = {"\xc3\x89t\xc3\xa9.txt", "\xc3\xa9T\xc3\x89.TXT"};
    expect_names(latin, 2, (const char *[]){"\xc3\x89t\xc3\xa9.txt", "\xc3\xa9T\xc3\x89 (2).TXT"});
    const char *greek[] = {"\xce\xa3\xce\x9f\xce\xa6\xce\x99\xce\x91", /* ΣΟΦΙΑ */
                           "\xcf\x83\xce\xbf\xcf\x86\xce\xb9\xce\xb1", /* σοφια */
                           "\xcf\x82"};                                /* ς */
    expect_names(greek, 3,
                 (const char *[]){"\xce\xa3\xce\x9f\xce\xa6\xce\x99\xce\x91",
                                  "\xcf\x83\xce\xbf\xcf\x86\xce\xb9\xce\xb1 (2)", "\xcf\x82"});
    const char *sigma[] = {"\xcf\x82.txt", "\xcf\x83.txt", "\xce\xa3.txt"}; /* ς σ Σ */
    expect_names(sigma, 3,
                 (const char *[]){"\xcf\x82.txt", "\xcf\x83 (2).txt", "\xce\xa3 (3).txt"});
    const char *cyr[] = {"\xd0\x90\xd0\x91.doc", "\xd0\xb0\xd0\xb1.doc"}; /* АБ аб */
    expect_names(cyr, 2, (const char *[]){"\xd0\x90\xd0\x91.doc", "\xd0\xb0\xd0\xb1 (2).doc"});
    const char *sharp[] = {"stra\xc3\x9f"
                           "e",
                           "STRA\xe1\xba\x9e"
                           "E"}; /* ß, ẞ */
    expect_names(sharp, 2,
                 (const char *[]){"stra\xc3\x9f"
                                  "e",
                                  "STRA\xe1\xba\x9e"
                                  "E (2)"});
    const char *wide[] = {"\xef\xbc\xa1", "\xef\xbd\x81"}; /* fullwidth A, a */
    expect_names(wide, 2, (const char *[]){"\xef\xbc\xa1", "\xef\xbd\x81 (2)"});
    const char *kelvin[] = {"k.txt", "\xe2\x84\xaa.txt"}; /* k, KELVIN SIGN */
    expect_names(kelvin, 2, (const char *[]){"k.txt", "\xe2\x84\xaa (2).txt"});
    /* Letters that differ are left alone: é is not e. */
    const char *accents[] = {"e.txt", "\xc3\xa9.txt", "\xc3\xa8.txt"};
    expect_names(accents, 3, (const char *[]){"e.txt", "\xc3\xa9.txt", "\xc3\xa8.txt"});

    const char *dots[] = {".bashrc", ".bashrc", "a.tar.gz", "a.tar.gz", "", NULL, "/"};
    expect_names(dots, 7,
                 (const char *[]){".bashrc", ".bashrc (2)", "a.tar.gz", "a.tar (2).gz", "file",
                                  "file (2)", "file (3)"});

    /* Names that become equal only once made safe. */
    const char *paths[] = {"a/b", "a\\b", "a_b", "a:b"};
    expect_names(paths, 4, (const char *[]){"a_b", "a_b (2)", "a_b (3)", "a_b (4)"});
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_names_many_duplicates(void **state)
{
    (void)state;
    enum { N = 20000 };
    const char **in = calloc(N, sizeof *in);
    char **out = calloc(N, sizeof *out);

    assert_true(in && out);
    for (size_t i = 0; i < N; i++)
        in[i] = i % 3 == 0 ? "dup.txt" : i % 3 == 1 ? "dup (5).txt" : "other";
    assert_int_equal(zip_safe_names(in, N, out), 0);
    qsort(out, N, sizeof *out, compare_strings);
    for (size_t i = 1; i < N; i++)
        assert_true(strcmp(out[i - 1], out[i]) != 0);
    for (size_t i = 0; i < N; i++)
        free(out[i]);
    free(in);
    free(out);
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return run("rm -rf '%s'", tmpdir) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_unicode_names),
        cmocka_unit_test(test_known_crcs_sent_directly),
        cmocka_unit_test(test_empty_archive),
        cmocka_unit_test(test_header_fields),
        cmocka_unit_test(test_many_entries),
        cmocka_unit_test(test_zip64_big_entry),
        cmocka_unit_test(test_faults),
        cmocka_unit_test(test_names_hostile),
        cmocka_unit_test(test_names_long),
        cmocka_unit_test(test_names_unique),
        cmocka_unit_test(test_names_windows_devices),
        cmocka_unit_test(test_names_many_duplicates),
        cmocka_unit_test(test_ranges),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
