/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * check.c - the rules for names, media types, ids and tokens (see check.h).
 */
#include <stdint.h>
#include <string.h>

#include "batchup/check.h"
#include "batchup/utf8.h"

bool check_uuid(const char *s)
{
    for (int i = 0; i < 36; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return false;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return s[36] == '\0';
}

/* 1 to max bytes of valid UTF-8 without an ASCII control character. */
static bool printable_utf8(const char *s, size_t max)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);

    if (n == 0 || n > max || utf8_has_ascii_control(s))
        return false;
    while (*p != '\0') {
        uint32_t cp;
        size_t len = utf8_decode(p, &cp);
        if (len == 0)
            return false;
        p += len;
    }
    return true;
}

bool check_file_name(const char *s)
{
    return printable_utf8(s, CHECK_FILE_NAME_MAX);
}

bool check_user_name(const char *s)
{
    return printable_utf8(s, CHECK_USER_NAME_MAX);
}

bool check_media_type(const char *s)
{
    size_t n = strlen(s);

    if (n > CHECK_MEDIA_TYPE_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
            return false;
    return true;
}

bool check_token(const char *s, size_t min, size_t max)
{
    size_t n = strlen(s);

    return n >= min && n <= max && strspn(s, CHECK_TOKEN_ALPHABET) == n;
}
