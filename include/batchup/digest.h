/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * digest.h - the hashes batchup keeps of bytes: SHA-256 (a completed file's
 * checksum and ETag, and the stored form of API tokens), SHA-1 (tus
 * Upload-Checksum), CRC-32 (the ZIP's, recorded at upload), and their hex
 * form.  OpenSSL does the SHA work (with the CPU's SHA extensions where it
 * finds them), ISA-L the CRC (with PCLMULQDQ or AVX-512 where it finds
 * them: about 15 times zlib's speed, which made the CRC an eighth of an
 * upload's CPU).
 */
#ifndef BATCHUP_DIGEST_H
#define BATCHUP_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum digest_algo { DIGEST_SHA1, DIGEST_SHA256 };

#define DIGEST_MAX 32                   /* bytes of the longest digest, SHA-256 */
#define DIGEST_HEX_SIZE (2 * DIGEST_MAX + 1)
#define DIGEST_SHA256_HEX 64 /* hex digits of a SHA-256: a token's hash, a file's checksum */

struct evp_md_ctx_st;

/* A running hash, optionally with a CRC-32 of the same bytes. */
struct digest {
    struct evp_md_ctx_st *ctx; /* NULL: not started (feeding it does nothing) */
    uint32_t crc32;
    bool with_crc;
};

/* Start d.  Returns 0, or -1 when OpenSSL cannot (out of memory). */
int digest_begin(struct digest *d, enum digest_algo algo, bool with_crc);
void digest_feed(struct digest *d, const void *buf, size_t len);
/* Finish d into md (DIGEST_MAX bytes of room); returns the digest's length
 * (20 or 32), or 0 when d was never started.  d is freed. */
size_t digest_end(struct digest *d, unsigned char *md);
/* Free d without finishing it; harmless on a freed or unstarted digest. */
void digest_free(struct digest *d);

/* The CRC-32 (ZIP's and gzip's, as zlib's crc32) of len more bytes after
 * the running crc (0 to start). */
uint32_t digest_crc32(uint32_t crc, const void *buf, size_t len);

/* Lower-case hex of n bytes into out (2n + 1 bytes). */
void digest_hex(const unsigned char *md, size_t n, char *out);
/* The lower-case hex SHA-256 of len bytes. */
void digest_sha256_hex(const void *buf, size_t len, char out[DIGEST_SHA256_HEX + 1]);

#endif
