/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * headers.h - HTTP header values for downloads: Range, Content-Range,
 * Content-Disposition, HTTP dates, ETags and their conditions.
 *
 * Pure functions: no I/O, no allocation, no global state. Every parser takes
 * a client's bytes as they came (NULL meaning "header absent") and never
 * fails in a way that could turn into a 500; every formatter writes into a
 * caller's buffer and returns the length written, or -1 when the buffer is
 * too small or the input cannot be represented, leaving a NUL-terminated
 * (possibly empty) string.
 */
#ifndef BATCHUP_HEADERS_H
#define BATCHUP_HEADERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

enum headers_range {
    HEADERS_RANGE_NONE,          /* no Range, or one to ignore: send 200, whole */
    HEADERS_RANGE_SATISFIABLE,   /* send 206 with bytes first..last (inclusive) */
    HEADERS_RANGE_UNSATISFIABLE, /* send 416 with Content-Range: bytes * / size */
};

/* Interpret a Range header value for a representation of size bytes (RFC
 * 9110, section 14.2). Only one byte range is served: a multi-range request,
 * another unit, or a value that does not parse is ignored (NONE), which RFC
 * 9110 allows. Numbers of any length are read without overflow. On
 * SATISFIABLE, *first and *last are set (first <= last < size). */
enum headers_range headers_parse_range(const char *value, uint64_t size, uint64_t *first,
                                       uint64_t *last);

/* The Content-Range value for a parse result: "bytes first-last/size" when
 * SATISFIABLE, "bytes * /size" (no space) when UNSATISFIABLE; -1 for NONE. */
int headers_content_range(char *buf, size_t cap, enum headers_range range, uint64_t first,
                          uint64_t last, uint64_t size);

/* Length of an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") with its NUL. */
#define HEADERS_DATE_SIZE 30

/* Format t as an IMF-fixdate. Returns 29, or -1 when t's year is outside
 * 0000..9999 (buf is then ""). */
int headers_http_date(char buf[HEADERS_DATE_SIZE], time_t t);

/* Parse an HTTP-date: IMF-fixdate, and the obsolete RFC 850 and asctime
 * forms that RFC 9110 asks recipients to accept. Surrounding whitespace is
 * allowed; anything else that does not match fails. Returns 0, or -1. */
int headers_parse_http_date(const char *s, time_t *out);

/* Size of a strong ETag built from a SHA-256: two quotes, 64 hex digits, NUL. */
#define HEADERS_ETAG_SIZE 67

/* Build the strong ETag "\"<sha256 hex, lower case>\"" from 64 hex digits.
 * The full hash is kept: it is what the client may verify the file against.
 * Returns 66, or -1 when sha256_hex is not 64 hex digits or cap is short. */
int headers_etag(char *buf, size_t cap, const char *sha256_hex);

/* Does an If-None-Match value match our etag? "*" matches; otherwise any
 * entity-tag of the list matches by weak comparison (W/ ignored on both
 * sides, RFC 9110 section 8.8.3.2). A malformed value matches nothing, so
 * the full response is sent. NULL on either side: false. */
bool headers_etag_matches(const char *if_none_match, const char *etag);

/* May a Range be honoured under this If-Range value (RFC 9110, 13.1.5)?
 * True when if_range is NULL (absent); when it is an entity-tag equal to
 * etag by strong comparison (neither weak); or when it is an HTTP-date equal
 * to last_modified. Anything else (a weak tag, a malformed value): false,
 * and the whole representation is sent. */
bool headers_if_range_allows(const char *if_range, const char *etag, time_t last_modified);

/* Build a Content-Disposition value (RFC 6266, RFC 8187/5987):
 *   attachment; filename="fallback"; filename*=UTF-8''percent-encoded
 * disposition must be a token ("attachment", "inline"); NULL means
 * "attachment". The fallback is the name in printable ASCII, with each other
 * character (and '"', '\', '/', '%') as '_'; filename* carries the exact
 * UTF-8 name, percent-encoding everything but RFC 8187 attr-char. In both,
 * invalid UTF-8 bytes, control characters, direction overrides and slashes
 * become '_', and an empty or NULL name is "file". The result never holds a
 * CR, LF or other control character. A name too long for cap is shortened
 * at a character boundary (never inside a %XX escape or a UTF-8 sequence),
 * the same in both parameters, keeping a short extension. Returns its
 * length, or -1 (a bad disposition, or cap too small for any name). */
int headers_content_disposition(char *buf, size_t cap, const char *disposition,
                                const char *utf8_name);

#endif
