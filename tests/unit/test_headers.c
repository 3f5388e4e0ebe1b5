/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_headers.c - Range, Content-Range, HTTP dates, ETags, conditions and
 * Content-Disposition, including the values a hostile client would send.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchup/headers.h"
#include "batchup/http.h"

/* ------------------------------------------------------------------------
 * Range.
 */

static void expect_range(const char *value, uint64_t size, enum headers_range want,
                         uint64_t want_first, uint64_t want_last)
{
    uint64_t first = 12345, last = 67890;
    enum headers_range got = headers_parse_range(value, size, &first, &last);

    if (got != want)
        fail_msg("Range \"%s\" (size %llu): got %d, expected %d", value ? value : "(null)",
                 (unsigned long long)size, got, want);
    if (want == HEADERS_RANGE_SATISFIABLE) {
        assert_int_equal(first, want_first);
        assert_int_equal(last, want_last);
    }
}

static void expect_none(const char *value)
{
    expect_range(value, 1000, HEADERS_RANGE_NONE, 0, 0);
}

static void expect_unsatisfiable(const char *value, uint64_t size)
{
    expect_range(value, size, HEADERS_RANGE_UNSATISFIABLE, 0, 0);
}

static void expect_bytes(const char *value, uint64_t first, uint64_t last)
{
    expect_range(value, 1000, HEADERS_RANGE_SATISFIABLE, first, last);
}

static void test_range_forms(void **state)
{
    (void)state;
    expect_bytes("bytes=0-499", 0, 499);
    expect_bytes("bytes=500-", 500, 999);
    expect_bytes("bytes=-200", 800, 999);
    expect_bytes("bytes=-2000", 0, 999);
    expect_bytes("bytes=0-0", 0, 0);
    expect_bytes("bytes=999-999", 999, 999);
    expect_bytes("bytes=999-", 999, 999);
    expect_bytes("bytes=0-99999", 0, 999);
    expect_bytes("bytes=-1", 999, 999);
    expect_bytes("bytes=0000-0001", 0, 1);
    expect_unsatisfiable("bytes=1000-", 1000);
    expect_unsatisfiable("bytes=1000-2000", 1000);
    expect_unsatisfiable("bytes=-0", 1000);
    expect_unsatisfiable("bytes=0-", 0);
    expect_unsatisfiable("bytes=-1", 0);
}

static void test_range_syntax(void **state)
{
    (void)state;
    /* Case and whitespace the RFC allows (and a little it does not). */
    expect_bytes("BYTES=0-1", 0, 1);
    expect_bytes("Bytes=0-1", 0, 1);
    expect_bytes("  bytes=0-1 \t", 0, 1);
    expect_bytes("bytes = 0-1", 0, 1);
    expect_bytes("bytes=0-1,", 0, 1);
    expect_bytes("bytes=, ,0-1", 0, 1);
    expect_bytes("bytes=0-1 , ", 0, 1);

    /* No range, another unit, several ranges, nonsense: ignored. */
    expect_none(NULL);
    expect_none("");
    expect_none("bytes");
    expect_none("bytes=");
    expect_none("bytes=,");
    expect_none("bytes=-");
    expect_none("bytes=--1");
    expect_none("bytes=0--1");
    expect_none("bytes=5-4");
    expect_none("bytes=abc");
    expect_none("bytes=+1-2");
    expect_none("bytes=0x10-");
    expect_none("bytes=1 -2");
    expect_none("bytes=1- 2");
    expect_none("bytes=1-2;");
    expect_none("bytes=1-2 3");
    expect_none("bytes 0-1");
    expect_none("bytesx=0-1");
    expect_none("items=0-1");
    expect_none("bytes=0-1,2-3");
    expect_none("bytes=0-1,0-1");
    expect_none("bytes=-1,-2");
    expect_none("bytes=0-1\r\n");
    expect_bytes("bytes=0-1\0-2", 0, 1); /* a NUL ends the value */
}

static void test_range_overflow(void **state)
{
    (void)state;
    expect_unsatisfiable("bytes=99999999999999999999999999-", 1000);
    expect_unsatisfiable("bytes=18446744073709551616-18446744073709551617", 1000);
    expect_bytes("bytes=0-99999999999999999999999999", 0, 999);
    expect_bytes("bytes=-99999999999999999999999999", 0, 999);
    expect_bytes("bytes=10-18446744073709551615", 10, 999);
    expect_range("bytes=18446744073709551614-", UINT64_MAX, HEADERS_RANGE_SATISFIABLE,
                 UINT64_MAX - 1, UINT64_MAX - 1);
    expect_range("bytes=-18446744073709551615", UINT64_MAX, HEADERS_RANGE_SATISFIABLE, 0,
                 UINT64_MAX - 1);
    expect_unsatisfiable("bytes=18446744073709551615-", UINT64_MAX);
    expect_none("bytes=99999999999999999999999999-1"); /* last < first */

    char long_value[5000] = "bytes=";
    memset(long_value + 6, '9', 4000);
    strcat(long_value, "-");
    expect_unsatisfiable(long_value, 1000);
}

static void test_content_range(void **state)
{
    (void)state;
    char buf[128];

    assert_int_equal(
        headers_content_range(buf, sizeof buf, HEADERS_RANGE_SATISFIABLE, 0, 499, 1000), 16);
    assert_string_equal(buf, "bytes 0-499/1000");
    assert_int_equal(
        headers_content_range(buf, sizeof buf, HEADERS_RANGE_UNSATISFIABLE, 0, 0, 1000), 12);
    assert_string_equal(buf, "bytes */1000");
    assert_int_equal(headers_content_range(buf, sizeof buf, HEADERS_RANGE_SATISFIABLE,
                                           UINT64_MAX - 1, UINT64_MAX - 1, UINT64_MAX),
                     68);
    assert_string_equal(buf, "bytes 18446744073709551614-18446744073709551614/"
                             "18446744073709551615");
    assert_int_equal(headers_content_range(buf, sizeof buf, HEADERS_RANGE_NONE, 0, 0, 10), -1);
    assert_int_equal(headers_content_range(buf, sizeof buf, HEADERS_RANGE_SATISFIABLE, 5, 4, 10),
                     -1);
    assert_int_equal(headers_content_range(buf, 16, HEADERS_RANGE_SATISFIABLE, 0, 499, 1000), -1);
    assert_string_equal(buf, "");
    assert_int_equal(headers_content_range(buf, 17, HEADERS_RANGE_SATISFIABLE, 0, 499, 1000), 16);
}

/* ------------------------------------------------------------------------
 * Dates.
 */

static void expect_date(time_t t, const char *want)
{
    char buf[HEADERS_DATE_SIZE];

    assert_int_equal(headers_http_date(buf, t), 29);
    assert_string_equal(buf, want);
}

static void test_http_date_format(void **state)
{
    (void)state;
    char buf[HEADERS_DATE_SIZE];

    expect_date(784111777, "Sun, 06 Nov 1994 08:49:37 GMT");
    expect_date(0, "Thu, 01 Jan 1970 00:00:00 GMT");
    expect_date(-1, "Wed, 31 Dec 1969 23:59:59 GMT");
    expect_date(951782400, "Tue, 29 Feb 2000 00:00:00 GMT");
    expect_date(4107542400, "Mon, 01 Mar 2100 00:00:00 GMT"); /* 2100 is no leap year */
    expect_date(253402300799, "Fri, 31 Dec 9999 23:59:59 GMT");
    assert_int_equal(headers_http_date(buf, 253402300800), -1);
    assert_string_equal(buf, "");
    assert_int_equal(headers_http_date(buf, -62167219201), -1); /* year -1 */
}

static void expect_parsed(const char *s, time_t want)
{
    time_t t = 0;

    if (headers_parse_http_date(s, &t) != 0)
        fail_msg("date \"%s\" did not parse", s);
    assert_int_equal(t, want);
}

static void expect_rejected(const char *s)
{
    time_t t = 42;

    if (headers_parse_http_date(s, &t) == 0)
        fail_msg("date \"%s\" parsed", s ? s : "(null)");
    assert_int_equal(t, 42);
}

static void test_http_date_parse(void **state)
{
    (void)state;
    expect_parsed("Sun, 06 Nov 1994 08:49:37 GMT", 784111777);
    expect_parsed("Sunday, 06-Nov-94 08:49:37 GMT", 784111777);
    expect_parsed("Sun Nov  6 08:49:37 1994", 784111777);
    expect_parsed("Sun Nov 06 08:49:37 1994", 784111777);
    expect_parsed("  Sun, 06 Nov 1994 08:49:37 GMT\t", 784111777);
    expect_parsed("Thursday, 01-Jan-70 00:00:00 GMT", 0);
    expect_parsed("Wednesday, 01-Jan-69 00:00:00 GMT", 3124224000);
    expect_parsed("Tue, 29 Feb 2000 00:00:00 GMT", 951782400);
    expect_parsed("Sun, 06 Nov 1994 08:49:60 GMT", 784111800); /* a leap second */
    expect_parsed("Wed, 31 Dec 1969 23:59:59 GMT", -1);
    expect_parsed("Fri, 31 Dec 9999 23:59:59 GMT", 253402300799);
    /* The day name is checked to be a day name, not to be the right one. */
    expect_parsed("Mon, 06 Nov 1994 08:49:37 GMT", 784111777);

    expect_rejected(NULL);
    expect_rejected("");
    expect_rejected("   ");
    expect_rejected("Fri, 31 Dec 9999 23:59:60 GMT"); /* the year 10000 */
    expect_rejected("Sun, 06 Nov 1994 08:49:37 gmt");
    expect_rejected("Sun, 06 Nov 1994 08:49:37 UTC");
    expect_rejected("Sun, 06 Nov 1994 08:49:37 +0000");
    expect_rejected("Sun, 6 Nov 1994 08:49:37 GMT");
    expect_rejected("Sun, 06 nov 1994 08:49:37 GMT");
    expect_rejected("sun, 06 Nov 1994 08:49:37 GMT");
    expect_rejected("Sun,  06 Nov 1994 08:49:37 GMT");
    expect_rejected("Sun, 06 Nov 94 08:49:37 GMT");
    expect_rejected("Sun, 31 Feb 1994 08:49:37 GMT");
    expect_rejected("Sun, 29 Feb 1900 08:49:37 GMT");
    expect_rejected("Sun, 00 Nov 1994 08:49:37 GMT");
    expect_rejected("Sun, 32 Dec 1994 08:49:37 GMT");
    expect_rejected("Sun, 06 Nov 1994 24:00:00 GMT");
    expect_rejected("Sun, 06 Nov 1994 08:60:00 GMT");
    expect_rejected("Sun, 06 Nov 1994 08:49:61 GMT");
    expect_rejected("Sun, 06 Nov 1994 08:49:37 GMT x");
    expect_rejected("Sun, 06 Nov 1994 08:49:37");
    expect_rejected("Sun, 06 Nov 1994 8:49:37 GMT");
    expect_rejected("Sun, 06 Nov 1994 08:49:3 GMT");
    expect_rejected("Sun, 06 Nov 1994");
    expect_rejected("Sunday, 06-Nov-1994 08:49:37 GMT");
    expect_rejected("Sun Nov 6 08:49:37 1994");
    expect_rejected("Sun Nov  6 08:49:37 94");
    expect_rejected("1994-11-06T08:49:37Z");
    expect_rejected("784111777");
    expect_rejected("Sun, 06 Nov 1994 08:49:37 GMT\r\nX: y");
}

static void test_http_date_roundtrip(void **state)
{
    (void)state;
    char buf[HEADERS_DATE_SIZE];

    for (time_t t = -62135596800; t < 253402300800; t += 7777777 + t % 997) {
        time_t back = 0;
        assert_int_equal(headers_http_date(buf, t), 29);
        assert_int_equal(headers_parse_http_date(buf, &back), 0);
        assert_int_equal(back, t);
    }
}

/* ------------------------------------------------------------------------
 * ETags and conditions.
 */

#define SHA "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"
#define TAG "\"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\""

static void test_etag(void **state)
{
    (void)state;
    char buf[HEADERS_ETAG_SIZE + 8];

    assert_int_equal(headers_etag(buf, sizeof buf, SHA), 66);
    assert_string_equal(buf, TAG);
    assert_int_equal(headers_etag(buf, HEADERS_ETAG_SIZE, SHA), 66);
    assert_int_equal(headers_etag(buf, HEADERS_ETAG_SIZE - 1, SHA), -1);
    assert_string_equal(buf, "");
    assert_int_equal(headers_etag(buf, sizeof buf, NULL), -1);
    assert_int_equal(headers_etag(buf, sizeof buf, ""), -1);
    assert_int_equal(headers_etag(buf, sizeof buf, SHA "0"), -1);
    assert_int_equal(headers_etag(buf, sizeof buf, &SHA[1]), -1);

    char bad[65];
    const char *hostile = "g\"\x10\x11 \r\n/";
    for (const char *h = hostile; *h; h++) {
        memcpy(bad, SHA, sizeof bad);
        bad[10] = *h;
        assert_int_equal(headers_etag(buf, sizeof buf, bad), -1);
        assert_string_equal(buf, "");
    }
}

static void test_etag_matches(void **state)
{
    (void)state;
    const char *tag = "\"abc\"";

    assert_true(headers_etag_matches("*", tag));
    assert_true(headers_etag_matches(" * ", tag));
    assert_true(headers_etag_matches("\"abc\"", tag));
    assert_true(headers_etag_matches("W/\"abc\"", tag));
    assert_true(headers_etag_matches("\"x\", \"abc\"", tag));
    assert_true(headers_etag_matches(" \"x\" ,W/\"abc\" ", tag));
    assert_true(headers_etag_matches(",,\"abc\",,", tag));
    assert_true(headers_etag_matches("\"abc\"", "W/\"abc\""));
    assert_true(headers_etag_matches("W/\"abc\"", "W/\"abc\""));
    assert_true(headers_etag_matches(TAG, TAG));

    assert_false(headers_etag_matches(NULL, tag));
    assert_false(headers_etag_matches("*", NULL));
    assert_false(headers_etag_matches("\"abc\"", "abc"));
    assert_false(headers_etag_matches("", tag));
    assert_false(headers_etag_matches("\"x\"", tag));
    assert_false(headers_etag_matches("\"ABC\"", tag));
    assert_false(headers_etag_matches("\"abc \"", tag));
    assert_false(headers_etag_matches("abc", tag));
    assert_false(headers_etag_matches("\"abc", tag));
    assert_false(headers_etag_matches("w/\"abc\"", tag));
    assert_false(headers_etag_matches("W/ \"abc\"", tag));
    assert_false(headers_etag_matches("*, \"abc\"", tag));
    assert_false(headers_etag_matches("\"abc\", *", tag));
    assert_false(headers_etag_matches("\"abc\" \"abc\"", tag));
    assert_false(headers_etag_matches("\"abc\", garbage", tag));
    assert_false(headers_etag_matches("\"abc\";", tag));
    assert_false(headers_etag_matches("\"a\x7f\", \"abc\"", tag));
    assert_false(headers_etag_matches("\"a\nb\", \"abc\"", tag));
}

static void test_if_range(void **state)
{
    (void)state;
    const char *tag = "\"abc\"";
    time_t mtime = 784111777;

    assert_true(headers_if_range_allows(NULL, tag, mtime));
    assert_true(headers_if_range_allows("\"abc\"", tag, mtime));
    assert_true(headers_if_range_allows(" \"abc\" ", tag, mtime));
    assert_true(headers_if_range_allows("Sun, 06 Nov 1994 08:49:37 GMT", tag, mtime));
    assert_true(headers_if_range_allows("Sunday, 06-Nov-94 08:49:37 GMT", tag, mtime));

    assert_false(headers_if_range_allows("W/\"abc\"", tag, mtime));
    assert_false(headers_if_range_allows("\"abc\"", "W/\"abc\"", mtime));
    assert_false(headers_if_range_allows("\"abd\"", tag, mtime));
    assert_false(headers_if_range_allows("\"abc\", \"abc\"", tag, mtime));
    assert_false(headers_if_range_allows("\"abc\"", NULL, mtime));
    assert_false(headers_if_range_allows("Sun, 06 Nov 1994 08:49:38 GMT", tag, mtime));
    assert_false(headers_if_range_allows("", tag, mtime));
    assert_false(headers_if_range_allows("*", tag, mtime));
    assert_false(headers_if_range_allows("yesterday", tag, mtime));
}

/* ------------------------------------------------------------------------
 * Content-Disposition.
 */

static void expect_disposition(const char *name, const char *want)
{
    char buf[1024];
    int n = headers_content_disposition(buf, sizeof buf, "attachment", name);

    assert_int_equal(n, (int)strlen(want));
    assert_string_equal(buf, want);
}

static void test_disposition_names(void **state)
{
    (void)state;
    expect_disposition("report.pdf",
                       "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf");
    expect_disposition("naïve café.txt", "attachment; filename=\"na_ve caf_.txt\"; "
                                         "filename*=UTF-8''na%C3%AFve%20caf%C3%A9.txt");
    expect_disposition("Привет.doc", "attachment; filename=\"______.doc\"; "
                                     "filename*=UTF-8''%D0%9F%D1%80%D0%B8%D0%B2%D0%B5%D1%82.doc");
    expect_disposition("日本.txt",
                       "attachment; filename=\"__.txt\"; filename*=UTF-8''%E6%97%A5%E6%9C%AC.txt");
    expect_disposition("😀.png",
                       "attachment; filename=\"_.png\"; filename*=UTF-8''%F0%9F%98%80.png");
    expect_disposition("a\"b\\c/d.txt",
                       "attachment; filename=\"a_b_c_d.txt\"; filename*=UTF-8''a%22b_c_d.txt");
    expect_disposition("100%.txt",
                       "attachment; filename=\"100_.txt\"; filename*=UTF-8''100%25.txt");
    expect_disposition("x\r\nSet-Cookie: a=b", "attachment; filename=\"x__Set-Cookie: a=b\"; "
                                               "filename*=UTF-8''x__Set-Cookie%3A%20a%3Db");
    expect_disposition("\xff\xfe.bin", "attachment; filename=\"__.bin\"; filename*=UTF-8''__.bin");
    expect_disposition("\xe6\x97", "attachment; filename=\"__\"; filename*=UTF-8''__");
    expect_disposition("\xc0\xaf", "attachment; filename=\"__\"; filename*=UTF-8''__");
    expect_disposition("evil\xe2\x80\xae"
                       "fdp.exe",
                       "attachment; filename=\"evil_fdp.exe\"; filename*=UTF-8''evil_fdp.exe");
    expect_disposition("tab\there\x7f",
                       "attachment; filename=\"tab_here_\"; filename*=UTF-8''tab_here_");
    expect_disposition("", "attachment; filename=\"file\"; filename*=UTF-8''file");
    expect_disposition(NULL, "attachment; filename=\"file\"; filename*=UTF-8''file");
    expect_disposition("!#$&+-.^_`|~'()*", "attachment; filename=\"!#$&+-.^_`|~'()*\"; "
                                           "filename*=UTF-8''!#$&+-.^_`|~%27%28%29%2A");
}

static void test_disposition_types_and_space(void **state)
{
    (void)state;
    char buf[256];
    const char *want = "attachment; filename=\"a\"; filename*=UTF-8''a";
    int len = (int)strlen(want);

    assert_int_equal(headers_content_disposition(buf, sizeof buf, NULL, "a"), len);
    assert_string_equal(buf, want);
    assert_int_equal(headers_content_disposition(buf, sizeof buf, "inline", "a"), len - 4);
    assert_string_equal(buf, "inline; filename=\"a\"; filename*=UTF-8''a");
    assert_int_equal(headers_content_disposition(buf, sizeof buf, "", "a"), -1);
    assert_int_equal(headers_content_disposition(buf, sizeof buf, "attachment; x=y", "a"), -1);
    assert_int_equal(headers_content_disposition(buf, sizeof buf, "in\r\nline", "a"), -1);
    assert_string_equal(buf, "");

    assert_int_equal(headers_content_disposition(buf, (size_t)len + 1, NULL, "a"), len);
    assert_int_equal(headers_content_disposition(buf, (size_t)len, NULL, "a"), -1);
    assert_string_equal(buf, "");
    assert_int_equal(headers_content_disposition(buf, 1, NULL, "a"), -1);
    assert_int_equal(headers_content_disposition(buf, 0, NULL, "a"), -1);
}

/* Whatever the name, the value is one safe header line: printable ASCII,
 * and the quoted fallback holds no quote or backslash. */
static void expect_safe_value(const char *name)
{
    char buf[4096];
    int n = headers_content_disposition(buf, sizeof buf, NULL, name);

    assert_true(n > 0);
    for (int i = 0; i < n; i++)
        assert_true(buf[i] >= 0x20 && buf[i] < 0x7F);
    const char *open = strchr(buf, '"'), *close = strchr(open + 1, '"');
    assert_non_null(close);
    assert_string_equal(close, strstr(buf, "\"; filename*=UTF-8''"));
    for (const char *p = open + 1; p < close; p++)
        assert_true(*p != '\\');
    assert_null(strchr(close + 1, '"'));
}

static void test_disposition_every_byte(void **state)
{
    (void)state;
    char name[4];
    unsigned seed = 1;

    for (int c = 1; c < 256; c++) {
        snprintf(name, sizeof name, "%c", c);
        expect_safe_value(name);
    }
    for (int round = 0; round < 20000; round++) {
        char random_name[32];
        size_t len = (size_t)(rand_r(&seed) % 31);
        for (size_t i = 0; i < len; i++)
            random_name[i] = (char)(1 + rand_r(&seed) % 255);
        random_name[len] = '\0';
        expect_safe_value(random_name);
    }
}

/* Percent-decode s into out (cap bytes); false on a broken escape. */
static bool percent_decode(const char *s, char *out, size_t cap)
{
    size_t o = 0;

    for (; *s; s++) {
        unsigned v;
        if (o + 1 >= cap)
            return false;
        if (*s != '%') {
            out[o++] = *s;
            continue;
        }
        if (!isxdigit((unsigned char)s[1]) || !isxdigit((unsigned char)s[2]) ||
            sscanf(s + 1, "%2x", &v) != 1)
            return false;
        out[o++] = (char)v;
        s += 2;
    }
    out[o] = '\0';
    return true;
}

static bool valid_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    while (*p) {
        size_t n = *p < 0x80 ? 1 : *p >= 0xF0 ? 4 : *p >= 0xE0 ? 3 : *p >= 0xC0 ? 2 : 0;
        if (n == 0)
            return false;
        for (size_t k = 1; k < n; k++)
            if ((p[k] & 0xC0) != 0x80)
                return false;
        p += n;
    }
    return true;
}

/* A name as long as a file name may be (1024 bytes) of one repeated
 * character, then ext. */
static void long_name(char *name, const char *ch, const char *ext)
{
    size_t n = strlen(ch), len = 0;

    while (len + n + strlen(ext) <= 1024) {
        memcpy(name + len, ch, n);
        len += n;
    }
    memcpy(name + len, ext, strlen(ext) + 1);
}

/* The longest names fit one header value (what http_add_header sends
 * whole): cut at a character, never inside an escape, the extension kept,
 * both parameters cut alike. */
static void test_disposition_long_names(void **state)
{
    static const char *const chars[] = {
        "\xc3\xa9", "\xe6\x97\xa5", "\xf0\x9f\x98\x80", "a", " ", "%", "\xe2\x80\xae", "\xff"};
    char name[1100], buf[HTTP_HEADER_VALUE_MAX], decoded[4096];

    (void)state;
    for (size_t i = 0; i < sizeof chars / sizeof chars[0]; i++) {
        long_name(name, chars[i], ".pdf");
        int n = headers_content_disposition(buf, sizeof buf, "attachment", name);
        assert_true(n > 0 && n < (int)sizeof buf);
        assert_int_equal((int)strlen(buf), n);
        const char *ext = strstr(buf, "filename*=UTF-8''");
        assert_non_null(ext);
        assert_true(percent_decode(ext + strlen("filename*=UTF-8''"), decoded, sizeof decoded));
        assert_true(valid_utf8(decoded));
        assert_true(strlen(decoded) >= 4);
        assert_string_equal(decoded + strlen(decoded) - 4, ".pdf");
        /* The fallback has one character for each of filename*'s. */
        const char *open = strchr(buf, '"') + 1, *close = strchr(open, '"');
        size_t chars_in = 0;
        for (const unsigned char *p = (const unsigned char *)decoded; *p; p++)
            chars_in += (*p & 0xC0) != 0x80;
        assert_int_equal((size_t)(close - open), chars_in);
        assert_memory_equal(close - 4, ".pdf", 4);
    }
    /* A name that fits is never cut. */
    long_name(name, "\xc3\xa9", ".txt");
    name[200] = '\0';
    assert_true(headers_content_disposition(buf, sizeof buf, NULL, name) > 0);
    assert_true(percent_decode(strstr(buf, "''") + 2, decoded, sizeof decoded));
    assert_string_equal(decoded, name);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_range_forms),
        cmocka_unit_test(test_range_syntax),
        cmocka_unit_test(test_range_overflow),
        cmocka_unit_test(test_content_range),
        cmocka_unit_test(test_http_date_format),
        cmocka_unit_test(test_http_date_parse),
        cmocka_unit_test(test_http_date_roundtrip),
        cmocka_unit_test(test_etag),
        cmocka_unit_test(test_etag_matches),
        cmocka_unit_test(test_if_range),
        cmocka_unit_test(test_disposition_names),
        cmocka_unit_test(test_disposition_types_and_space),
        cmocka_unit_test(test_disposition_every_byte),
        cmocka_unit_test(test_disposition_long_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
