/*
 * tus.c - tus 1.0.0 on /api/v1/files: how bytes get in.
 *
 * One PATCH, end to end (DESIGN section 2):
 *
 *   1. headers checked, user authenticated;
 *   2. one round trip to batchup.claim_slot: the slot is granted (or its
 *      lease renewed), or the file is queued and the answer is 423 with
 *      Retry-After and Upload-Queue-Position, before a byte of the body is
 *      read.  The worker never waits for a slot;
 *   3. the per-upload lock (a flock, see storage.c) keeps two requests from
 *      writing one upload; the partial file is cut back to the offset the
 *      database has, dropping bytes a killed worker wrote but never recorded;
 *   4. the body streams through one fixed buffer into pwrite, feeding the
 *      SHA-256 of the whole file and, when the client sent Upload-Checksum,
 *      the digest of this request's bytes.  Every slot_lease_seconds / 3 the
 *      data is fdatasync'd and the offset recorded, which also renews the
 *      lease: the offset the database holds never exceeds the bytes that
 *      survive a power cut, and a live upload never loses its slot;
 *   5. the last byte: size and SHA-256 verified, the file made durable and
 *      moved (storage_commit), then batchup.complete_file completes it, frees
 *      its slot and, for the batch's last file, issues the link, all in one
 *      transaction.
 *
 * A body cut off midway keeps what arrived (fdatasync, then record), unless
 * the client asked for a checksum of it: bytes that cannot be verified are
 * dropped.  The whole-file SHA-256 and CRC-32 (the ZIP's, stored so that
 * downloads need not compute it) are computed while streaming when the
 * request starts at offset 0 (the common single-PATCH case); a file
 * assembled over several requests is hashed once, from disk, at completion.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "batchup/auth.h"
#include "batchup/batches.h"
#include "batchup/headers.h"
#include "batchup/log.h"
#include "batchup/metrics.h"
#include "batchup/storage.h"
#include "batchup/tus.h"
#include "batchup/utf8.h"

#define TUS_BUFFER ((size_t)256 * 1024)

/* One buffer per worker process: memory stays constant whatever the size. */
static unsigned char stream_buf[TUS_BUFFER];

/* ---- parsers ------------------------------------------------------------ */

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

long tus_base64_decode(const char *src, size_t len, unsigned char *out, size_t cap)
{
    unsigned acc = 0;
    int bits = 0;
    size_t o = 0, i;

    while (len > 0 && src[len - 1] == '=')
        len--;
    if (len % 4 == 1)
        return -1;
    for (i = 0; i < len; i++) {
        int v = b64_value((unsigned char)src[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= cap)
                return -1;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    return (long)o;
}

/* One "key base64value" pair of an Upload-Metadata header. */
struct meta_pair {
    const char *key;
    size_t keylen;
    const char *value;
    size_t valuelen;
};

/* The pair at *p, advancing *p past it: 1 found, 0 at the end, -1 malformed
 * (an empty pair). */
static int meta_next(const char **p, struct meta_pair *pair)
{
    const char *s = *p, *end, *sp;

    if (*s == '\0')
        return 0;
    end = strchr(s, ',');
    if (end == NULL)
        end = s + strlen(s);
    while (s < end && *s == ' ')
        s++;
    if (s == end)
        return -1;
    sp = memchr(s, ' ', (size_t)(end - s));
    pair->key = s;
    pair->keylen = sp ? (size_t)(sp - s) : (size_t)(end - s);
    pair->value = sp ? sp + 1 : end;
    pair->valuelen = (size_t)(end - pair->value);
    while (pair->valuelen > 0 && pair->value[pair->valuelen - 1] == ' ')
        pair->valuelen--;
    *p = *end ? end + 1 : end;
    return 1;
}

int tus_metadata_get(const char *header, const char *key, char *out, size_t cap)
{
    struct meta_pair pair;
    const char *p = header;
    int rc;

    if (header == NULL)
        return 1;
    while ((rc = meta_next(&p, &pair)) == 1) {
        long n;
        if (pair.keylen != strlen(key) || memcmp(pair.key, key, pair.keylen) != 0)
            continue;
        if (cap == 0)
            return -1;
        n = tus_base64_decode(pair.value, pair.valuelen, (unsigned char *)out, cap - 1);
        if (n < 0)
            return -1;
        out[n] = '\0';
        return strlen(out) == (size_t)n ? 0 : -1; /* -1: an embedded NUL */
    }
    return rc < 0 ? -1 : 1;
}

int tus_metadata_valid(const char *header)
{
    unsigned char scratch[4096];
    struct meta_pair pair;
    const char *p = header;
    int rc;

    while ((rc = meta_next(&p, &pair)) == 1)
        if (tus_base64_decode(pair.value, pair.valuelen, scratch, sizeof scratch) < 0)
            return 0;
    return rc == 0;
}

int tus_parse_checksum(const char *header, struct tus_checksum *out)
{
    const char *sp = strchr(header, ' ');
    long n;

    memset(out, 0, sizeof *out);
    if (sp == NULL)
        return -1;
    if ((size_t)(sp - header) == 4 && strncasecmp(header, "sha1", 4) == 0) {
        out->algo = TUS_ALGO_SHA1;
        out->len = 20;
    } else if ((size_t)(sp - header) == 6 && strncasecmp(header, "sha256", 6) == 0) {
        out->algo = TUS_ALGO_SHA256;
        out->len = 32;
    } else {
        return -2;
    }
    n = tus_base64_decode(sp + 1, strlen(sp + 1), out->digest, sizeof out->digest);
    if (n != (long)out->len)
        return -1;
    return 0;
}

int tus_parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;

    if (s == NULL || *s == '\0' || strlen(s) > 19)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    if (v > (uint64_t)INT64_MAX)
        return -1;
    *out = v;
    return 0;
}

/* ---- small helpers ------------------------------------------------------ */

static void tus_header(struct http_request *req)
{
    http_add_header(req, "Tus-Resumable", "1.0.0");
}

static void fail(struct http_request *req, const struct bu_error *err)
{
    if (req->status != err->status || req->head_len == 0)
        http_status(req, err->status);
    tus_header(req);
    if (err->status == 412)
        http_add_header(req, "Tus-Version", "1.0.0");
    http_send_error(req, err);
}

static int check_resumable(struct http_request *req, struct bu_error *err)
{
    const char *v = http_header(req, "Tus-Resumable");

    if (v == NULL || strcmp(v, "1.0.0") != 0)
        return error_set(err, 412, "unsupported_version",
                         "send 'Tus-Resumable: 1.0.0' (this server speaks tus 1.0.0)");
    return 0;
}

static void expires_header(struct http_request *req)
{
    char date[HEADERS_DATE_SIZE];

    headers_http_date(date, time(NULL) + req->cfg->upload_expiry_seconds);
    http_add_header(req, "Upload-Expires", "%s", date);
}

static double now_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

struct claim {
    char result[16];
    int position;
    uint64_t offset;
    uint64_t size;
};

static int claim_slot(struct http_request *req, const char *file_id, struct claim *c,
                      struct bu_error *err)
{
    char user[16], limit[16], cap[16], lease[16], retry[16];
    const char *params[6] = {file_id, user, limit, cap, lease, retry};
    PGresult *res;

    snprintf(user, sizeof user, "%d", req->user_id);
    snprintf(limit, sizeof limit, "%d", req->cfg->per_user_limit);
    snprintf(cap, sizeof cap, "%d", req->cfg->max_active_users);
    snprintf(lease, sizeof lease, "%d", req->cfg->slot_lease_seconds);
    snprintf(retry, sizeof retry, "%d", req->cfg->queue_retry_seconds);
    res = db_query(req->db, err,
                   "SELECT result, coalesce(queue_position, 0), coalesce(upload_offset, 0),"
                   " coalesce(size, 0) FROM batchup.claim_slot($1::uuid, $2::int, $3::int,"
                   " $4::int, $5::int, $6::int)",
                   6, params);
    if (res == NULL)
        return -1;
    snprintf(c->result, sizeof c->result, "%s", PQgetvalue(res, 0, 0));
    c->position = atoi(PQgetvalue(res, 0, 1));
    c->offset = strtoull(PQgetvalue(res, 0, 2), NULL, 10);
    c->size = strtoull(PQgetvalue(res, 0, 3), NULL, 10);
    PQclear(res);
    return 0;
}

/* The offset the database holds for file_id. */
static int current_offset(struct http_request *req, const char *file_id, uint64_t *offset,
                          struct bu_error *err)
{
    const char *params[1] = {file_id};
    PGresult *res = db_query(
        req->db, err, "SELECT upload_offset FROM batchup.files WHERE id = $1::uuid", 1, params);

    if (res == NULL)
        return -1;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return error_set(err, 404, "not_found", "no such upload");
    }
    *offset = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return 0;
}

/* Record a durable offset (and renew the lease).  1 slot held, 0 slot lost,
 * -1 database error. */
static int record_progress(struct http_request *req, const char *file_id, uint64_t offset,
                           struct bu_error *err)
{
    char off[24], lease[16];
    const char *params[3] = {file_id, off, lease};
    PGresult *res;
    int held;

    snprintf(off, sizeof off, "%llu", (unsigned long long)offset);
    snprintf(lease, sizeof lease, "%d", req->cfg->slot_lease_seconds);
    res = db_query(req->db, err, "SELECT batchup.record_progress($1::uuid, $2::bigint, $3::int)", 3,
                   params);
    if (res == NULL) {
        /* BU410: terminated or expired while this request was writing it.
         * Same answer as a PATCH that arrives after the termination. */
        if (err->status == 410)
            error_set(err, 410, "upload_gone",
                      "this upload was aborted or has expired while it was being written");
        return -1;
    }
    held = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    return held;
}

static void hex(const unsigned char *md, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[md[i] >> 4];
        out[2 * i + 1] = digits[md[i] & 15];
    }
    out[2 * n] = '\0';
}

/* What a completed file is known by: its SHA-256 (the API's checksum and
 * the ETag) and its CRC-32 (for the ZIP, so downloads need not compute it). */
struct digest {
    char sha256[65];
    uint32_t crc32;
};

/* The digest of the first size bytes of fd, read through the stream buffer. */
static int hash_file(int fd, uint64_t size, struct digest *out)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char md[32];
    uint64_t pos = 0;
    uLong crc = crc32(0, Z_NULL, 0);
    int rc = -1;

    if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
        goto out;
    while (pos < size) {
        size_t want = size - pos > TUS_BUFFER ? TUS_BUFFER : (size_t)(size - pos);
        ssize_t n = pread(fd, stream_buf, want, (off_t)pos);
        if (n <= 0)
            goto out;
        EVP_DigestUpdate(ctx, stream_buf, (size_t)n);
        crc = crc32_z(crc, stream_buf, (size_t)n);
        pos += (uint64_t)n;
    }
    EVP_DigestFinal_ex(ctx, md, NULL);
    hex(md, 32, out->sha256);
    out->crc32 = (uint32_t)crc;
    rc = 0;
out:
    EVP_MD_CTX_free(ctx);
    return rc;
}

/* Complete a file whose bytes are all in its partial file: check the
 * declared SHA-256, make it durable and move it (storage_commit), and
 * complete it in the database. */
static int complete(struct http_request *req, const char *file_id, const struct digest *d,
                    struct bu_error *err)
{
    char ttl[16], crc[16];
    const char *params[4] = {file_id, d->sha256, crc, ttl};
    const char *expected;
    PGresult *res;

    res = db_query(req->db, err,
                   "SELECT coalesce(expected_sha256, '') FROM batchup.file_state($1::uuid, NULL)",
                   1, params);
    if (res == NULL)
        return -1;
    expected = PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "";
    if (*expected != '\0' && strcmp(expected, d->sha256) != 0) {
        PQclear(res);
        return error_set(err, 460, "checksum_mismatch",
                         "the file's SHA-256 (%s) is not the one declared for it", d->sha256);
    }
    PQclear(res);
    if (storage_commit(req->cfg, file_id, err) != 0)
        return -1;
    snprintf(ttl, sizeof ttl, "%d", req->cfg->link_ttl_seconds);
    snprintf(crc, sizeof crc, "%u", (unsigned)d->crc32);
    res = db_query(req->db, err,
                   "SELECT batch_complete, file_status FROM batchup.complete_file($1::uuid, $2,"
                   " $3::bigint, $4::int)",
                   4, params);
    if (res == NULL)
        return -1;
    if (PQntuples(res) != 1 || strcmp(PQgetvalue(res, 0, 1), "completed") != 0) {
        /* The file was aborted or expired while its last bytes arrived: the
         * completion lost, and the data goes the way of the file. */
        PQclear(res);
        storage_remove(req->cfg, file_id);
        return error_set(err, 410, "upload_gone", "this upload was aborted or has expired");
    }
    METRICS_ADD(uploads_completed, 1);
    if (PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0)
        METRICS_ADD(batches_completed, 1);
    PQclear(res);
    return 0;
}

/* The result of receiving one request body. */
struct upload {
    uint64_t offset; /* the offset now recorded */
    int position;    /* queue position when err is slot_unavailable */
    int completed;
};

static int pwrite_all(int fd, const unsigned char *p, size_t n, uint64_t at)
{
    while (n > 0) {
        ssize_t w = pwrite(fd, p, n, (off_t)at);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
        at += (uint64_t)w;
    }
    return 0;
}

/* Receive the body of req into file_id at offset.  0 on success (up->offset
 * is the new offset), -1 with err (and up->offset/position where they help). */
static int receive(struct http_request *req, const char *file_id, uint64_t offset,
                   const struct tus_checksum *ck, struct upload *up, struct bu_error *err)
{
    struct claim c;
    EVP_MD_CTX *whole = NULL, *part = NULL;
    uLong whole_crc = crc32(0, Z_NULL, 0);
    uint64_t cur, durable;
    double last_record;
    int lock_fd = -1, fd = -1, rc = -1, over = 0, cut = 0, lost = 0;
    double renew_every = req->cfg->slot_lease_seconds / 3.0;

    memset(up, 0, sizeof *up);
    if (claim_slot(req, file_id, &c, err) != 0)
        return -1;
    up->offset = c.offset;
    if (strcmp(c.result, "not_found") == 0)
        return error_set(err, 404, "not_found", "no such upload");
    if (strcmp(c.result, "gone") == 0)
        return error_set(err, 410, "upload_gone", "this upload was aborted or has expired");
    if (strcmp(c.result, "completed") == 0) {
        if (offset != c.size)
            return error_set(err, 409, "offset_mismatch", "the upload is complete at %llu bytes",
                             (unsigned long long)c.size);
        up->completed = 1;
        return 0;
    }
    if (strcmp(c.result, "queued") == 0) {
        up->position = c.position;
        METRICS_ADD(slot_waits, 1);
        return error_set(err, 423, "slot_unavailable",
                         "all your upload slots are in use; this file is number %d in your queue",
                         c.position);
    }
    if (offset != c.offset)
        return error_set(err, 409, "offset_mismatch", "Upload-Offset is %llu, the upload has %llu",
                         (unsigned long long)offset, (unsigned long long)c.offset);
    if (req->content_length >= 0 && offset + (uint64_t)req->content_length > c.size)
        return error_set(err, 413, "beyond_length", "the body goes past Upload-Length (%llu)",
                         (unsigned long long)c.size);

    lock_fd = storage_lock_upload(req->cfg, file_id, err);
    if (lock_fd < 0)
        return -1;
    /* The offset was read before the lock: a request that held it may have
     * recorded more since.  Cutting the file back to a stale offset would
     * lose bytes the database counts, so look again now that we hold it. */
    if (current_offset(req, file_id, &up->offset, err) != 0)
        goto out;
    if (up->offset != offset) {
        error_set(err, 409, "offset_mismatch", "Upload-Offset is %llu, the upload has %llu",
                  (unsigned long long)offset, (unsigned long long)up->offset);
        goto out;
    }
    if (!storage_final_exists(req->cfg, file_id)) {
        fd = storage_open_partial(req->cfg, file_id, err);
        if (fd < 0)
            goto out;
        if (ftruncate(fd, (off_t)offset) != 0) {
            error_set(err, 500, "storage_error", "the upload cannot be resumed");
            goto out;
        }
    } else {
        /* All bytes were in and moved, but the worker died before the
         * database heard of it: finish that completion now. */
        struct digest d;
        char path[1100];
        int final_fd;
        storage_final_path(req->cfg, file_id, path, sizeof path);
        final_fd = open(path, O_RDONLY | O_CLOEXEC);
        if (final_fd < 0 || hash_file(final_fd, c.size, &d) != 0) {
            if (final_fd >= 0)
                close(final_fd);
            error_set(err, 500, "storage_error", "the stored file cannot be read");
            goto out;
        }
        close(final_fd);
        if (complete(req, file_id, &d, err) != 0)
            goto out;
        up->offset = c.size;
        up->completed = 1;
        rc = 0;
        goto out;
    }

    if (offset == 0) {
        whole = EVP_MD_CTX_new();
        if (whole == NULL || EVP_DigestInit_ex(whole, EVP_sha256(), NULL) != 1) {
            error_set(err, 500, "internal", "no hash context");
            goto out;
        }
    }
    if (ck->algo != TUS_ALGO_NONE) {
        part = EVP_MD_CTX_new();
        if (part == NULL ||
            EVP_DigestInit_ex(part, ck->algo == TUS_ALGO_SHA1 ? EVP_sha1() : EVP_sha256(), NULL) !=
                1) {
            error_set(err, 500, "internal", "no hash context");
            goto out;
        }
    }

    cur = durable = offset;
    last_record = now_s();
    for (;;) {
        ssize_t n = http_read(req, stream_buf, sizeof stream_buf);
        if (n < 0) {
            cut = 1;
            break;
        }
        if (n == 0)
            break;
        if (cur + (uint64_t)n > c.size) {
            over = 1;
            break;
        }
        if (pwrite_all(fd, stream_buf, (size_t)n, cur) != 0) {
            log_error("write to upload %s failed: %s", file_id, strerror(errno));
            error_set(err, 500, "storage_error", "the data could not be stored");
            goto out;
        }
        if (whole != NULL) {
            EVP_DigestUpdate(whole, stream_buf, (size_t)n);
            whole_crc = crc32_z(whole_crc, stream_buf, (size_t)n);
        }
        if (part != NULL)
            EVP_DigestUpdate(part, stream_buf, (size_t)n);
        cur += (uint64_t)n;
        METRICS_ADD(bytes_received, (uint64_t)n);
        if (now_s() - last_record >= renew_every) {
            /* With a per-request checksum nothing is recorded before it is
             * verified; the lease is renewed at the old offset. */
            int held;
            if (part == NULL) {
                if (fdatasync(fd) != 0) {
                    error_set(err, 500, "storage_error", "the data could not be made durable");
                    goto out;
                }
                durable = cur;
            }
            held = record_progress(req, file_id, durable, err);
            if (held < 0)
                goto out;
            last_record = now_s();
            if (held == 0) {
                lost = 1;
                break;
            }
        }
    }

    if (over) {
        error_set(err, 413, "beyond_length", "the body goes past Upload-Length (%llu)",
                  (unsigned long long)c.size);
        if (ftruncate(fd, (off_t)durable) != 0)
            log_warn("cannot cut upload %s back: %s", file_id, strerror(errno));
        up->offset = durable;
        goto out;
    }
    if (part != NULL) {
        unsigned char md[32];
        unsigned int len = 0;
        EVP_DigestFinal_ex(part, md, &len);
        if (cut || len != ck->len || memcmp(md, ck->digest, len) != 0) {
            if (ftruncate(fd, (off_t)offset) != 0)
                log_warn("cannot cut upload %s back: %s", file_id, strerror(errno));
            up->offset = offset;
            if (cut)
                error_set(err, 400, "body_incomplete",
                          "the body ended early; nothing of it was kept (it had a checksum)");
            else
                error_set(err, 460, "checksum_mismatch",
                          "the body does not match Upload-Checksum; nothing of it was kept");
            goto out;
        }
    }
    if (cur == c.size) {
        struct digest d;
        unsigned char md[32];
        if (whole != NULL) {
            EVP_DigestFinal_ex(whole, md, NULL);
            hex(md, 32, d.sha256);
            d.crc32 = (uint32_t)whole_crc;
        } else if (hash_file(fd, c.size, &d) != 0) {
            error_set(err, 500, "storage_error", "the upload cannot be read back");
            goto out;
        }
        if (complete(req, file_id, &d, err) != 0) {
            if (err->status == 460) {
                /* Drop what this request added beyond the recorded offset. */
                if (ftruncate(fd, (off_t)durable) != 0)
                    log_warn("cannot cut upload %s back: %s", file_id, strerror(errno));
                up->offset = durable;
            }
            goto out;
        }
        up->offset = c.size;
        up->completed = 1;
        rc = 0;
        goto out;
    }
    if (cur != durable) {
        int held;
        if (fdatasync(fd) != 0) {
            error_set(err, 500, "storage_error", "the data could not be made durable");
            goto out;
        }
        held = record_progress(req, file_id, cur, err);
        if (held < 0)
            goto out;
        durable = cur;
    }
    up->offset = durable;
    if (cut) {
        error_set(err, 400, "body_incomplete", "the body ended early; %llu bytes are kept",
                  (unsigned long long)durable);
        goto out;
    }
    if (lost) {
        METRICS_ADD(slot_waits, 1);
        error_set(err, 423, "slot_unavailable",
                  "the upload lost its slot (lease expired); %llu bytes are kept, retry",
                  (unsigned long long)durable);
        goto out;
    }
    rc = 0;
out:
    EVP_MD_CTX_free(whole);
    EVP_MD_CTX_free(part);
    if (fd >= 0)
        close(fd);
    if (lock_fd >= 0)
        close(lock_fd);
    return rc;
}

static int read_checksum(struct http_request *req, struct tus_checksum *ck, struct bu_error *err)
{
    const char *h = http_header(req, "Upload-Checksum");
    int rc;

    memset(ck, 0, sizeof *ck);
    if (h == NULL)
        return 0;
    rc = tus_parse_checksum(h, ck);
    if (rc == -2)
        return error_set(err, 400, "unsupported_checksum",
                         "Upload-Checksum supports sha1 and sha256 only");
    if (rc != 0)
        return error_set(err, 400, "bad_checksum", "Upload-Checksum is not '<algorithm> <base64>'");
    return 0;
}

static int is_offset_stream(struct http_request *req)
{
    const char *ct = http_header(req, "Content-Type");

    return ct != NULL && strncasecmp(ct, "application/offset+octet-stream", 31) == 0 &&
           (ct[31] == '\0' || ct[31] == ';' || ct[31] == ' ');
}

/* ---- handlers ----------------------------------------------------------- */

void tus_options(struct http_request *req)
{
    http_status(req, 204);
    tus_header(req);
    http_add_header(req, "Tus-Version", "1.0.0");
    http_add_header(req, "Tus-Extension",
                    "creation,creation-with-upload,termination,checksum,expiration");
    http_add_header(req, "Tus-Checksum-Algorithm", "sha1,sha256");
    if (req->cfg->max_file_size > 0)
        http_add_header(req, "Tus-Max-Size", "%llu", (unsigned long long)req->cfg->max_file_size);
    http_send_empty(req, 204);
}

void tus_patch(struct http_request *req, const char *file_id)
{
    struct bu_error err;
    struct tus_checksum ck;
    struct upload up;
    uint64_t offset;

    if (check_resumable(req, &err) != 0)
        return fail(req, &err);
    if (!is_offset_stream(req)) {
        error_set(&err, 415, "unsupported_media_type",
                  "PATCH bodies must be 'Content-Type: application/offset+octet-stream'");
        return fail(req, &err);
    }
    if (tus_parse_u64(http_header(req, "Upload-Offset"), &offset) != 0) {
        error_set(&err, 400, "bad_offset", "Upload-Offset must be a non-negative integer");
        return fail(req, &err);
    }
    if (read_checksum(req, &ck, &err) != 0 || auth_request(req, &err) != 0)
        return fail(req, &err);
    if (receive(req, file_id, offset, &ck, &up, &err) != 0) {
        http_status(req, err.status);
        if (err.status == 423 && up.position > 0)
            http_add_header(req, "Upload-Queue-Position", "%d", up.position);
        if (err.status == 409 || err.status == 460 || err.status == 413 || err.status == 423)
            http_add_header(req, "Upload-Offset", "%llu", (unsigned long long)up.offset);
        return fail(req, &err);
    }
    http_status(req, 204);
    tus_header(req);
    http_add_header(req, "Upload-Offset", "%llu", (unsigned long long)up.offset);
    if (!up.completed)
        expires_header(req);
    http_send_empty(req, 204);
}

void tus_create(struct http_request *req)
{
    struct bu_error err;
    uint64_t length;
    char name[1025], type[256], batch_id[37], file_id[37];
    const char *params[1] = {batch_id};
    const char *meta = http_header(req, "Upload-Metadata");
    json_t *files;
    PGresult *res;
    int has_body;
    struct tus_checksum ck;
    struct upload up;

    if (check_resumable(req, &err) != 0)
        return fail(req, &err);
    if (http_header(req, "Upload-Defer-Length") != NULL) {
        error_set(&err, 400, "defer_length_unsupported",
                  "Upload-Defer-Length is not supported; send Upload-Length");
        return fail(req, &err);
    }
    if (tus_parse_u64(http_header(req, "Upload-Length"), &length) != 0) {
        error_set(&err, 400, "bad_length", "Upload-Length must be a non-negative integer");
        return fail(req, &err);
    }
    if (req->cfg->max_file_size > 0 && length > req->cfg->max_file_size) {
        error_set(&err, 413, "file_too_large", "Upload-Length exceeds the maximum of %llu bytes",
                  (unsigned long long)req->cfg->max_file_size);
        return fail(req, &err);
    }
    if (tus_metadata_get(meta, "filename", name, sizeof name) != 0 &&
        tus_metadata_get(meta, "name", name, sizeof name) != 0)
        snprintf(name, sizeof name, "file");
    if (tus_metadata_get(meta, "filetype", type, sizeof type) != 0 &&
        tus_metadata_get(meta, "type", type, sizeof type) != 0)
        type[0] = '\0';
    if (meta != NULL && !tus_metadata_valid(meta)) {
        error_set(&err, 400, "bad_metadata", "Upload-Metadata is not 'key base64,key base64'");
        return fail(req, &err);
    }
    if (utf8_has_ascii_control(name)) {
        error_set(&err, 400, "bad_metadata", "the filename has control characters");
        return fail(req, &err);
    }
    for (const char *p = type; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f) {
            error_set(&err, 400, "bad_metadata", "the filetype is not printable ASCII");
            return fail(req, &err);
        }
    if (name[0] == '\0')
        snprintf(name, sizeof name, "file");
    has_body = is_offset_stream(req) && req->content_length != 0;
    if (has_body && read_checksum(req, &ck, &err) != 0)
        return fail(req, &err);
    if (!has_body)
        memset(&ck, 0, sizeof ck);
    if (auth_request(req, &err) != 0)
        return fail(req, &err);

    files = json_pack("[{s:s,s:I}]", "name", name, "size", (json_int_t)length);
    if (files == NULL) {
        error_set(&err, 400, "bad_metadata", "the metadata is not valid UTF-8");
        return fail(req, &err);
    }
    if (type[0] != '\0')
        json_object_set_new(json_array_get(files, 0), "type", json_string(type));
    if (batches_insert(req, files, batch_id, &err) != 0)
        return fail(req, &err);
    res = db_query(req->db, &err, "SELECT id FROM batchup.files WHERE batch_id = $1::uuid", 1,
                   params);
    if (res == NULL)
        return fail(req, &err);
    snprintf(file_id, sizeof file_id, "%s", PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "");
    PQclear(res);

    memset(&up, 0, sizeof up);
    if (has_body && length > 0 && receive(req, file_id, 0, &ck, &up, &err) != 0) {
        /* The upload exists; only its first bytes did not go in (no slot,
         * a checksum mismatch...).  The client goes on with HEAD/PATCH. */
        log_info("creation-with-upload of %s stored no body: %s", file_id, err.message);
    }
    http_status(req, 201);
    tus_header(req);
    http_add_header(req, "Location", "/api/v1/files/%s", file_id);
    http_add_header(req, "Upload-Offset", "%llu",
                    (unsigned long long)(length == 0 ? 0 : up.offset));
    if (!up.completed && length > 0)
        expires_header(req);
    http_send_empty(req, 201);
}

void tus_head(struct http_request *req, const char *file_id)
{
    struct bu_error err;
    char user[16];
    const char *params[2] = {file_id, user};
    PGresult *res;
    const char *status;

    if (check_resumable(req, &err) != 0 || auth_request(req, &err) != 0)
        return fail(req, &err);
    snprintf(user, sizeof user, "%d", req->user_id);
    res = db_query(req->db, &err,
                   "SELECT status, upload_offset, size, coalesce(queue_position, 0), name,"
                   " coalesce(media_type, ''), extract(epoch FROM updated_at)::bigint"
                   " FROM batchup.file_state($1::uuid, $2::int)",
                   2, params);
    if (res == NULL)
        return fail(req, &err);
    if (PQntuples(res) != 1) {
        PQclear(res);
        /* HEAD responses carry no body; the status says it. */
        http_status(req, 404);
        tus_header(req);
        http_add_header(req, "Cache-Control", "no-store");
        http_send_empty(req, 404);
        return;
    }
    status = PQgetvalue(res, 0, 0);
    if (strcmp(status, "aborted") == 0 || strcmp(status, "expired") == 0) {
        http_status(req, 410);
        tus_header(req);
        http_add_header(req, "Cache-Control", "no-store");
        http_send_empty(req, 410);
        PQclear(res);
        return;
    }
    http_status(req, 200);
    tus_header(req);
    http_add_header(req, "Cache-Control", "no-store");
    http_add_header(req, "Upload-Offset", "%s", PQgetvalue(res, 0, 1));
    http_add_header(req, "Upload-Length", "%s", PQgetvalue(res, 0, 2));
    if (strcmp(status, "queued") == 0)
        http_add_header(req, "Upload-Queue-Position", "%s", PQgetvalue(res, 0, 3));
    if (strcmp(status, "completed") != 0) {
        char date[HEADERS_DATE_SIZE];
        headers_http_date(date,
                          (time_t)atoll(PQgetvalue(res, 0, 6)) + req->cfg->upload_expiry_seconds);
        http_add_header(req, "Upload-Expires", "%s", date);
    }
    PQclear(res);
    http_send_empty(req, 200);
}

void tus_delete(struct http_request *req, const char *file_id)
{
    struct bu_error err;
    char user[16], ttl[16];
    const char *params[3] = {file_id, user, ttl};
    PGresult *res;
    char result[16];

    if (check_resumable(req, &err) != 0 || auth_request(req, &err) != 0)
        return fail(req, &err);
    snprintf(user, sizeof user, "%d", req->user_id);
    snprintf(ttl, sizeof ttl, "%d", req->cfg->link_ttl_seconds);
    res =
        db_query(req->db, &err, "SELECT batchup.abort_file($1::uuid, $2::int, $3::int)", 3, params);
    if (res == NULL)
        return fail(req, &err);
    snprintf(result, sizeof result, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    if (strcmp(result, "not_found") == 0) {
        error_set(&err, 404, "not_found", "no such upload");
        return fail(req, &err);
    }
    if (strcmp(result, "gone") == 0) {
        error_set(&err, 410, "upload_gone", "this upload was already aborted or has expired");
        return fail(req, &err);
    }
    if (strcmp(result, "completed") == 0) {
        error_set(&err, 409, "upload_completed",
                  "the upload is complete and belongs to its batch; it cannot be terminated");
        return fail(req, &err);
    }
    storage_remove(req->cfg, file_id);
    http_status(req, 204);
    tus_header(req);
    http_send_empty(req, 204);
}
