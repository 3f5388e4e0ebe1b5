/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz_headers.c - libFuzzer harness for every parser and formatter in
 * headers.c.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude \
 *       -o build/fuzz_headers tests/fuzz/fuzz_headers.c app/headers.c
 *   build/fuzz_headers -max_total_time=30
 *
 * The input, as a C string, is given to each function as the header value
 * (or name) a client would send. Besides memory errors, the harness checks
 * the promises of headers.h: a satisfiable range lies inside the file; a
 * parsed date formats and parses back to itself; an ETag is a quoted lower
 * case hash; a Content-Disposition value is one line of printable ASCII
 * whose quoted part holds no quote or backslash.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "batchup/headers.h"
#include "batchup/http.h"

#define TAG "\"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\""

static void check_range(const char *s, uint64_t size)
{
    uint64_t first = 0, last = 0;
    enum headers_range r = headers_parse_range(s, size, &first, &last);
    char buf[80];

    if (r == HEADERS_RANGE_SATISFIABLE && !(first <= last && last < size))
        abort();
    if (r != HEADERS_RANGE_NONE && headers_content_range(buf, sizeof buf, r, first, last, size) < 0)
        abort();
}

static void check_date(const char *s)
{
    char buf[HEADERS_DATE_SIZE];
    time_t t, back;

    if (headers_parse_http_date(s, &t) != 0)
        return;
    if (headers_http_date(buf, t) != 29 || headers_parse_http_date(buf, &back) != 0 || back != t)
        abort();
    (void)headers_if_range_allows(s, TAG, t);
}

/* filename*'s value: every '%' starts a whole escape. */
static void check_escapes(const char *buf)
{
    const char *p = strstr(buf, "filename*=UTF-8''");

    for (p = p ? p : ""; *p; p++)
        if (*p == '%' && (!isxdigit((unsigned char)p[1]) || !isxdigit((unsigned char)p[2])))
            abort();
}

static void check_disposition(const char *disposition, const char *name, size_t cap)
{
    char buf[8192];
    int n = headers_content_disposition(buf, cap, disposition, name);

    if (n < 0) {
        if (buf[0] != '\0')
            abort();
        return;
    }
    check_escapes(buf);
    if ((size_t)n != strlen(buf) || (size_t)n >= cap)
        abort();
    for (int i = 0; i < n; i++)
        if (buf[i] < 0x20 || buf[i] > 0x7E)
            abort();
    const char *open = strchr(buf, '"');
    const char *close = open ? strchr(open + 1, '"') : NULL;
    if (close == NULL || strchr(close + 1, '"') != NULL ||
        strncmp(close, "\"; filename*=UTF-8''", 20) != 0 || memchr(open, '\\', close - open))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1), etag[HEADERS_ETAG_SIZE];

    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';

    check_range(s, 0);
    check_range(s, 1);
    check_range(s, 1000);
    check_range(s, UINT64_MAX);
    check_date(s);
    (void)headers_etag_matches(s, TAG);
    (void)headers_etag_matches(TAG, s);
    (void)headers_etag_matches(s, s);
    (void)headers_if_range_allows(s, TAG, 0);
    (void)headers_if_range_allows(TAG, s, 0);
    if (headers_etag(etag, sizeof etag, s) == 66) {
        if (etag[0] != '"' || etag[65] != '"' || strspn(etag + 1, "0123456789abcdef") != 64 ||
            !headers_etag_matches(etag, etag) || !headers_if_range_allows(etag, etag, 0))
            abort();
    }
    check_disposition(NULL, s, 8192);
    check_disposition(s, "name.txt", 8192);
    check_disposition(NULL, s, HTTP_HEADER_VALUE_MAX);
    check_disposition(NULL, s, 64 + size % 64); /* a name cut short, at every length */
    free(s);
    return 0;
}
