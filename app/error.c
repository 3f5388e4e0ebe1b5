/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * error.c - the error table and filling a struct bu_error.  See error.h for
 * why there is only one error type and one vocabulary.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "batchup/error.h"
#include "batchup/utf8.h"

static const struct {
    int status;
    const char *code;
    const char *sqlstate;
} table[BU_E_COUNT] = {
#define BU_ERROR_ROW(name, status, code, sqlstate) [BU_E_##name] = {status, code, sqlstate},
    BU_ERRORS(BU_ERROR_ROW)
#undef BU_ERROR_ROW
};

/* Every row's status is an HTTP error status, or 0 for the command line's
 * own errors (error.h): checked when batchup is compiled. */
#define BU_ERROR_CHECK(name, status, code, sqlstate)                                               \
    _Static_assert((status) == 0 || ((status) >= 400 && (status) <= 599),                          \
                   "error " #name ": status 0 or an HTTP error status");
BU_ERRORS(BU_ERROR_CHECK)
#undef BU_ERROR_CHECK

/* A message cut by the buffer's size must not end inside a UTF-8 sequence:
 * it goes into JSON and headers.  Step back over continuation bytes and the
 * lead byte they belong to. */
static void trim_partial_utf8(char *s, size_t len)
{
    size_t i = len;

    while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
        i--;
    if (i > 0 && (unsigned char)s[i - 1] >= 0xC0) {
        unsigned char lead = (unsigned char)s[i - 1];
        size_t want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
        if (len - (i - 1) < want)
            s[i - 1] = '\0';
    }
}

/* Messages quote what clients sent (a path, a name), and go into JSON and
 * one-line logs: a byte that is not valid UTF-8, and an ASCII control
 * character (a line break would start a forged log line), become '?'. */
static void replace_invalid_utf8(char *s)
{
    unsigned char *p = (unsigned char *)s;

    while (*p != '\0') {
        uint32_t cp;
        size_t len = utf8_decode(p, &cp);
        if (len == 0 || *p < 0x20 || *p == 0x7F) {
            *p = '?';
            len = 1;
        }
        p += len;
    }
}

int error_set(struct bu_error *err, enum bu_errcode id, const char *fmt, ...)
{
    va_list ap;
    int n;

    if ((unsigned)id >= BU_E_COUNT)
        id = BU_E_INTERNAL;
    err->id = id;
    err->status = table[id].status;
    err->code = table[id].code;
    va_start(ap, fmt);
    n = vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof err->message)
        trim_partial_utf8(err->message, strlen(err->message));
    replace_invalid_utf8(err->message);
    return -1;
}

int error_for_sqlstate(const char *sqlstate)
{
    for (int i = 0; i < BU_E_COUNT; i++)
        if (table[i].sqlstate != NULL && strcmp(table[i].sqlstate, sqlstate) == 0)
            return i;
    return -1;
}

int error_exit_status(const struct bu_error *err)
{
    return (unsigned)err->id < BU_E_COUNT && table[err->id].status == 0 ? 2 : 1;
}
