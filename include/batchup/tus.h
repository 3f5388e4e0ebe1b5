/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tus.h - the tus 1.0.0 protocol on /api/v1/files (core, creation,
 * creation-with-upload, termination, checksum, expiration), and its header
 * parsers (exposed for the unit tests and the fuzzers).
 */
#ifndef BATCHUP_TUS_H
#define BATCHUP_TUS_H

#include <stddef.h>
#include <stdint.h>

#include "batchup/http.h"

enum tus_algo { TUS_ALGO_NONE, TUS_ALGO_SHA1, TUS_ALGO_SHA256 };

struct tus_checksum {
    enum tus_algo algo;
    unsigned char digest[32];
    size_t len; /* 20 for sha1, 32 for sha256 */
};

/* Strict base64 (RFC 4648, padding optional).  Returns the decoded length,
 * or -1 when src is not base64 or does not fit in cap. */
long tus_base64_decode(const char *src, size_t srclen, unsigned char *out, size_t cap);
/* What tus_metadata_get found. */
enum tus_metadata {
    TUS_METADATA_FOUND,  /* out holds the value, NUL-terminated */
    TUS_METADATA_ABSENT, /* no such key, or no header */
    TUS_METADATA_BAD,    /* a malformed pair before it, a value that is not
                            base64, longer than out holds, or with a NUL byte */
};

/* Find key in an Upload-Metadata header ("key b64,key b64,key") and decode
 * its value into out. */
enum tus_metadata tus_metadata_get(const char *header, const char *key, char *out, size_t cap);
/* Is the whole Upload-Metadata header well formed? */
int tus_metadata_valid(const char *header);
/* What an Upload-Checksum header came to. */
enum tus_checksum_parse {
    TUS_CHECKSUM_OK,          /* out holds the algorithm and the digest */
    TUS_CHECKSUM_MALFORMED,   /* not "<algorithm> <base64>" of the digest's length */
    TUS_CHECKSUM_UNSUPPORTED, /* an algorithm other than sha1 and sha256 */
};

/* Upload-Checksum: "sha1 <b64>" or "sha256 <b64>". */
enum tus_checksum_parse tus_parse_checksum(const char *header, struct tus_checksum *out);
/* A non-negative decimal header value (Upload-Offset, Upload-Length). */
int tus_parse_u64(const char *s, uint64_t *out);

/* Handlers (see routes.c); the upload's id is req->param[0]. */
int tus_options(struct http_request *req, struct bu_error *err);
int tus_create(struct http_request *req, struct bu_error *err);
int tus_head(struct http_request *req, struct bu_error *err);
int tus_patch(struct http_request *req, struct bu_error *err);
int tus_delete(struct http_request *req, struct bu_error *err);

#endif
