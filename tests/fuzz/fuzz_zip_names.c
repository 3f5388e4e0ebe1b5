/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz_zip_names.c - libFuzzer harness for zip_safe_names (and the stream).
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude \
 *       -o build/fuzz_zip_names tests/fuzz/fuzz_zip_names.c app/zip.c -lz
 *   build/fuzz_zip_names -max_total_time=30
 *
 * The input is split at '\n' into up to 64 names (a NUL inside a name ends
 * it, as it would in C). Every name produced must be safe (valid UTF-8, no
 * separator, control character or Windows-forbidden character, not empty,
 * not "." or "..", no leading space, no trailing space or dot, short) and
 * all must differ, ignoring case in all of Unicode (glibc's mappings, asked
 * here through the C library's multibyte functions in the C.UTF-8 locale,
 * not through zip.c's code). The names are then streamed into a ZIP whose length must
 * be the one zip_archive_size announced.
 */
#include <locale.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <wchar.h>
#include <wctype.h>

#include "batchup/zip.h"

#define MAX_NAMES 64

/* Strict UTF-8 (RFC 3629) without C1 controls or direction overrides,
 * written independently of zip.c's decoder. */
static bool safe_utf8(const unsigned char *s)
{
    while (*s) {
        unsigned char c = *s;
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            s++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 2, cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 3, cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            n = 4, cp = c & 0x07;
        } else {
            return false;
        }
        for (size_t i = 1; i < n; i++) {
            if ((s[i] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (s[i] & 0x3F);
        }
        if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) || (cp >= 0x80 && cp <= 0x9F) ||
            (cp >= 0x202A && cp <= 0x202E))
            return false;
        s += n;
    }
    return true;
}

static void check_name(const char *s)
{
    size_t len = strlen(s);

    if (len == 0 || len > ZIP_NAME_MAX + 24 || !safe_utf8((const unsigned char *)s))
        abort();
    if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0 || s[0] == ' ' || s[len - 1] == ' ' ||
        s[len - 1] == '.')
        abort();
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7F || strchr("/\\:*?\"<>|", *p) != NULL)
            abort();
}

/* Two names a case-insensitive disk would take for one: equal once every
 * character is mapped to upper case, then to lower case. */
static bool same_ignoring_case(const char *a, const char *b)
{
    mbstate_t sa, sb;

    memset(&sa, 0, sizeof sa);
    memset(&sb, 0, sizeof sb);
    while (*a && *b) {
        wchar_t wa, wb;
        size_t na = mbrtowc(&wa, a, strlen(a), &sa), nb = mbrtowc(&wb, b, strlen(b), &sb);
        if (na == 0 || nb == 0 || na > 4 || nb > 4)
            abort(); /* the names are valid UTF-8 (check_name) */
        if (towlower(towupper((wint_t)wa)) != towlower(towupper((wint_t)wb)))
            return false;
        a += na;
        b += nb;
    }
    return *a == *b;
}

struct counter {
    uint64_t written;
    uint64_t pos[MAX_NAMES];
};

static ssize_t fake_read(void *ctx, size_t index, void *buf, size_t cap)
{
    struct counter *c = ctx;
    uint64_t left = index % 3 - c->pos[index];
    size_t n = left < cap ? (size_t)left : cap;

    memset(buf, 'z', n);
    c->pos[index] += n;
    return (ssize_t)n;
}

static int count_write(void *ctx, const void *buf, size_t len)
{
    (void)buf;
    ((struct counter *)ctx)->written += len;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 1), *out[MAX_NAMES];
    const char *in[MAX_NAMES];
    size_t n = 0;

    if (copy == NULL || setlocale(LC_CTYPE, "C.UTF-8") == NULL)
        abort();
    memcpy(copy, data, size);
    copy[size] = '\0';
    for (char *p = copy; n < MAX_NAMES;) {
        char *nl = memchr(p, '\n', (size_t)(copy + size - p));
        in[n] = p;
        n++;
        if (nl == NULL)
            break;
        *nl = '\0';
        p = nl + 1;
    }

    if (zip_safe_names(in, n, out) != 0)
        abort();
    for (size_t i = 0; i < n; i++) {
        check_name(out[i]);
        for (size_t j = 0; j < i; j++)
            if (same_ignoring_case(out[i], out[j])) /* unique ignoring case */
                abort();
    }

    struct zip_entry entries[MAX_NAMES];
    struct counter c = {0, {0}};
    unsigned char buf[97];
    uint64_t expected;
    for (size_t i = 0; i < n; i++)
        entries[i] = (struct zip_entry){out[i], i % 3, (time_t)i * 1000003};
    if (zip_archive_size(entries, n, &expected) != 0 ||
        zip_stream(entries, n, fake_read, count_write, &c, buf, sizeof buf) != 0 ||
        c.written != expected)
        abort();

    for (size_t i = 0; i < n; i++)
        free(out[i]);
    free(copy);
    return 0;
}
