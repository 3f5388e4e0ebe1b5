/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * digest.h - the hashes batchup keeps of bytes: SHA-256 (a completed file's
 * checksum and ETag, and the stored form of API tokens), SHA-1 (tus
 * Upload-Checksum), CRC-32 (the ZIP's, recorded at upload), and their hex
 * form.  OpenSSL does the SHA work (with the CPU's SHA extensions where it
 * finds them), ISA-L the CRC (with PCLMULQDQ or AVX-512 where it finds
 * them: about 15 times zlib's speed, which made the CRC an eighth of an
 * upload's CPU).
 *
 * A file's SHA-256 runs on OpenSSL's low-level SHA256_CTX rather than an EVP
 * context, because its state can be saved and restored (digest_save,
 * digest_restore): a file sent over several PATCH requests carries its hash
 * from one request to the next instead of being read back from disk at its
 * end (upload.c).  EVP keeps its state opaque in OpenSSL 3, and the low-level
 * functions run the same code (SHA extensions included).
 */
#ifndef BATCHUP_DIGEST_H
#define BATCHUP_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum digest_algo { DIGEST_SHA1, DIGEST_SHA256 };

#define DIGEST_MAX 32 /* bytes of the longest digest, SHA-256 */
#define DIGEST_HEX_SIZE (2 * DIGEST_MAX + 1)
#define DIGEST_SHA256_HEX 64 /* hex digits of a SHA-256: a token's hash, a file's checksum */

/* The most bytes digest_save writes: a SHA256_CTX (112 on 64-bit
 * OpenSSL 3) and the CRC-32. */
#define DIGEST_STATE_MAX 128

struct evp_md_ctx_st;
struct SHA256state_st;

/* A running hash, optionally with a CRC-32 of the same bytes: SHA-1 through
 * EVP, SHA-256 through SHA256_CTX (whose state can be saved).  Neither
 * pointer set: not started (feeding it does nothing). */
struct digest {
    struct evp_md_ctx_st *ctx;
    struct SHA256state_st *sha256;
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
/* The state of a running SHA-256 (with its CRC-32) into out (cap bytes, at
 * least DIGEST_STATE_MAX): returns its length, or 0 when d is not a running
 * SHA-256.  The bytes are this build's memory layout: only the same build
 * on the same kind of machine may restore them. */
size_t digest_save(const struct digest *d, unsigned char *out, size_t cap);
/* Continue the SHA-256 d (begun with digest_begin) from a saved state of
 * len bytes, which must be the state after exactly `bytes` bytes: its own
 * counters are checked against them.  0, or -1 (d unchanged) when the
 * state is not one digest_save wrote after that many bytes. */
int digest_restore(struct digest *d, const unsigned char *in, size_t len, uint64_t bytes);

/* The CRC-32 (ZIP's and gzip's, as zlib's crc32) of len more bytes after
 * the running crc (0 to start). */
uint32_t digest_crc32(uint32_t crc, const void *buf, size_t len);

/* Lower-case hex of n bytes into out (2n + 1 bytes). */
void digest_hex(const unsigned char *md, size_t n, char *out);
/* The lower-case hex SHA-256 of len bytes. */
void digest_sha256_hex(const void *buf, size_t len, char out[DIGEST_SHA256_HEX + 1]);

#endif
