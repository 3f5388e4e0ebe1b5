/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * utf8.h - strict UTF-8 decoding, shared by everything that cleans a file
 * name for the outside world (ZIP entry names, Content-Disposition).
 */
#ifndef BATCHUP_UTF8_H
#define BATCHUP_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The length of the valid UTF-8 sequence at s (1 to 4) and its code point,
 * or 0 when the bytes at s are not valid UTF-8 (RFC 3629: no overlong forms,
 * no surrogates, nothing above U+10FFFF).  s is NUL-terminated. */
size_t utf8_decode(const unsigned char *s, uint32_t *cp);

/* Code points that must never reach a file name shown to a person: controls
 * (C0, DEL, C1), the direction marks and overrides that disguise extensions,
 * and the line and paragraph separators. */
bool utf8_is_hidden_control(uint32_t cp);

/* Does s hold an ASCII control character (below 0x20, or DEL)?  Names
 * (users, files) never may: they are printed, logged and sent in headers. */
bool utf8_has_ascii_control(const char *s);

#endif
