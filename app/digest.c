/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * digest.c - SHA-256, SHA-1 and CRC-32 over streams of bytes (see digest.h).
 *
 * SHA-256 uses OpenSSL's low-level SHA256_CTX, deprecated in OpenSSL 3 but
 * kept there: it is the one form of the hash whose state can be saved and
 * restored (digest_save, digest_restore), which EVP does not offer.  The
 * deprecation is silenced for this file only.
 */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <stdlib.h>
#include <string.h>

#include <isa-l/crc.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "batchup/digest.h"

int digest_begin(struct digest *d, enum digest_algo algo, bool with_crc)
{
    memset(d, 0, sizeof *d);
    if (algo == DIGEST_SHA256) {
        d->sha256 = malloc(sizeof *d->sha256);
        if (d->sha256 == NULL || SHA256_Init(d->sha256) != 1) {
            digest_free(d);
            return -1;
        }
    } else {
        d->ctx = EVP_MD_CTX_new();
        if (d->ctx == NULL || EVP_DigestInit_ex(d->ctx, EVP_sha1(), NULL) != 1) {
            digest_free(d);
            return -1;
        }
    }
    d->with_crc = with_crc;
    d->crc32 = 0;
    return 0;
}

void digest_feed(struct digest *d, const void *buf, size_t len)
{
    if (d->sha256 != NULL)
        SHA256_Update(d->sha256, buf, len);
    else if (d->ctx != NULL)
        EVP_DigestUpdate(d->ctx, buf, len);
    else
        return;
    if (d->with_crc)
        d->crc32 = digest_crc32(d->crc32, buf, len);
}

size_t digest_end(struct digest *d, unsigned char *md)
{
    unsigned int len = 0;

    if (d->sha256 != NULL) {
        SHA256_Final(md, d->sha256);
        len = SHA256_DIGEST_LENGTH;
    } else if (d->ctx != NULL) {
        EVP_DigestFinal_ex(d->ctx, md, &len);
    }
    digest_free(d);
    return len;
}

void digest_free(struct digest *d)
{
    EVP_MD_CTX_free(d->ctx);
    d->ctx = NULL;
    if (d->sha256 != NULL)
        OPENSSL_cleanse(d->sha256, sizeof *d->sha256);
    free(d->sha256);
    d->sha256 = NULL;
}

size_t digest_save(const struct digest *d, unsigned char *out, size_t cap)
{
    size_t n = sizeof *d->sha256;

    if (d->sha256 == NULL || cap < n + sizeof d->crc32)
        return 0;
    memcpy(out, d->sha256, n);
    memcpy(out + n, &d->crc32, sizeof d->crc32);
    return n + sizeof d->crc32;
}

int digest_restore(struct digest *d, const unsigned char *in, size_t len, uint64_t bytes)
{
    SHA256_CTX c;
    uint64_t bits;

    if (d->sha256 == NULL || len != sizeof c + sizeof d->crc32)
        return -1;
    memcpy(&c, in, sizeof c);
    /* The state's own counters must say it has taken exactly `bytes` bytes
     * (and be a SHA-256's, not a SHA-224's): a state of another offset, or
     * of another layout, is refused here as well as by its file's checks. */
    bits = ((uint64_t)c.Nh << 32) | c.Nl;
    if (bits != bytes * 8 || c.num != bytes % SHA256_CBLOCK || c.md_len != SHA256_DIGEST_LENGTH)
        return -1;
    memcpy(d->sha256, &c, sizeof c);
    memcpy(&d->crc32, in + sizeof c, sizeof d->crc32);
    OPENSSL_cleanse(&c, sizeof c);
    return 0;
}

uint32_t digest_crc32(uint32_t crc, const void *buf, size_t len)
{
    return crc32_gzip_refl(crc, buf, len);
}

void digest_hex(const unsigned char *md, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[md[i] >> 4];
        out[2 * i + 1] = digits[md[i] & 15];
    }
    out[2 * n] = '\0';
}

void digest_sha256_hex(const void *buf, size_t len, char out[DIGEST_SHA256_HEX + 1])
{
    unsigned char md[32];
    unsigned int n = 0;

    EVP_Digest(buf, len, md, &n, EVP_sha256(), NULL);
    digest_hex(md, 32, out);
}
