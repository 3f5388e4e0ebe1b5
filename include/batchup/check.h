/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * check.h - the rules for what a client may name things, each defined once.
 *
 * Every value that comes from outside and is later stored, put in a file
 * name, a query or a header is checked by one of these, wherever it enters:
 * the batches API and tus creation check a file name with the same
 * function, so they cannot disagree.  The database's CHECK constraints
 * repeat the rules, as a second line.
 */
#ifndef BATCHUP_CHECK_H
#define BATCHUP_CHECK_H

#include <stdbool.h>
#include <stddef.h>

#define CHECK_FILE_NAME_MAX 1024 /* bytes */
#define CHECK_USER_NAME_MAX 200  /* bytes */
#define CHECK_MEDIA_TYPE_MAX 255 /* bytes */

/* A canonical lower-case UUID, the form of every batch and file id. */
bool check_uuid(const char *s);
/* A file name: 1 to CHECK_FILE_NAME_MAX bytes of valid UTF-8 without
 * control characters (it is printed, logged and sent in headers). */
bool check_file_name(const char *s);
/* A user name: 1 to CHECK_USER_NAME_MAX bytes of valid UTF-8 without
 * control characters. */
bool check_user_name(const char *s);
/* A media type as a client declares it: at most CHECK_MEDIA_TYPE_MAX bytes
 * of printable ASCII (empty allowed: none). */
bool check_media_type(const char *s);
/* The alphabet of tokens: base64url (RFC 4648), no padding. */
#define CHECK_TOKEN_ALPHABET "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

/* A URL-safe token (CHECK_TOKEN_ALPHABET) of min to max characters: API
 * tokens and download-link tokens. */
bool check_token(const char *s, size_t min, size_t max);

#endif
