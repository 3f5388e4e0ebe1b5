/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * digest.c - SHA-256, SHA-1 and CRC-32 over streams of bytes (see digest.h).
 */
#include <string.h>

#include <isa-l/crc.h>
#include <openssl/evp.h>

#include "batchup/digest.h"

int digest_begin(struct digest *d, enum digest_algo algo, bool with_crc)
{
    memset(d, 0, sizeof *d);
    d->ctx = EVP_MD_CTX_new();
    if (d->ctx == NULL ||
        EVP_DigestInit_ex(d->ctx, algo == DIGEST_SHA1 ? EVP_sha1() : EVP_sha256(), NULL) != 1) {
        digest_free(d);
        return -1;
    }
    d->with_crc = with_crc;
    d->crc32 = 0;
    return 0;
}

void digest_feed(struct digest *d, const void *buf, size_t len)
{
    if (d->ctx == NULL)
        return;
    EVP_DigestUpdate(d->ctx, buf, len);
    if (d->with_crc)
        d->crc32 = digest_crc32(d->crc32, buf, len);
}

size_t digest_end(struct digest *d, unsigned char *md)
{
    unsigned int len = 0;

    if (d->ctx == NULL)
        return 0;
    EVP_DigestFinal_ex(d->ctx, md, &len);
    digest_free(d);
    return len;
}

void digest_free(struct digest *d)
{
    EVP_MD_CTX_free(d->ctx);
    d->ctx = NULL;
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
