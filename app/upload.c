/*
 * upload.c - the byte path: one request's body into one upload.
 *
 * A request goes through five stages, each a function below, around one
 * struct upload that carries everything they share:
 *
 *   admit   one round trip to batchup.claim_slot: the slot is granted (or
 *           its lease renewed), or the file is queued and the answer is 423
 *           with Upload-Queue-Position before a byte of the body is read.
 *           The worker never waits for a slot.  Also 404, 410, 409 (the
 *           offset), 413 (a declared length past the file's size).
 *   open    the per-upload lock (a flock, see storage.c) keeps two requests
 *           from writing one upload; the offset is read again under it (a
 *           request that held it may have recorded more), and the partial
 *           file is cut back to that offset, dropping bytes a killed worker
 *           wrote but never recorded.  When the file is already in files/
 *           (a worker died between the rename and the database's commit),
 *           the completion is finished here instead.
 *   stream  the body flows through one fixed buffer into pwrite, feeding the
 *           digests.  Every slot_lease_seconds / 3 what arrived is made
 *           durable and recorded (keep), which renews the lease: the offset
 *           the database holds never exceeds the bytes that survive a power
 *           cut, and a live upload never loses its slot.
 *   settle  a switch over how the body ended: past the upload's length (cut
 *           back, 413), or at its end, cut off, or with the slot lost: the
 *           request's checksum verified (a mismatch stores nothing), then
 *           either the last byte (complete: size and SHA-256 checked, the
 *           file made durable and moved, batchup.complete_file frees the slot
 *           and, for the batch's last file, issues the link, in one
 *           transaction) or what arrived kept.
 *   close   descriptors and digests released, whatever happened.
 *
 * The file's SHA-256 and CRC-32 (the ZIP's) are computed while streaming
 * when the request starts at offset 0, the common single-PATCH case; a file
 * assembled over several requests is hashed once, from disk, at completion.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "batchup/clock.h"
#include "batchup/log.h"
#include "batchup/metrics.h"
#include "batchup/storage.h"
#include "batchup/store.h"
#include "batchup/upload.h"

#define UPLOAD_BUFFER ((size_t)256 * 1024)

/* One buffer per worker process: memory stays constant whatever the size. */
static unsigned char stream_buf[UPLOAD_BUFFER];

/* How the body ended. */
enum upload_end {
    UPLOAD_CLEAN,     /* at the end the web server announced */
    UPLOAD_CUT,       /* the client or the web server went away mid-body */
    UPLOAD_OVER,      /* past the upload's length */
    UPLOAD_SLOT_LOST, /* the lease ran out under us (the database said so) */
};

struct upload {
    struct http_request *req;
    const struct upload_request *in;
    struct upload_result *res;
    struct store_claim claim; /* admit's answer: the size, the recorded offset */
    int lock_fd;
    int fd; /* the partial file */
    uint64_t written; /* bytes in the partial file */
    uint64_t durable; /* of them, fdatasync'd and recorded */
    bool verifying;   /* a checksum of this body is pending: record nothing */
    struct digest whole; /* the file's SHA-256 and CRC-32, when started at 0 */
    struct digest part;  /* the request's checksum */
    double last_record;
    enum upload_end end;
};

/* ---- shared steps ------------------------------------------------------ */

static void cut_back(struct upload *up, uint64_t to)
{
    if (ftruncate(up->fd, (off_t)to) != 0)
        log_warn("cannot cut upload %s back to %llu: %s", up->in->file_id,
                 (unsigned long long)to, strerror(errno));
    up->written = to;
}

static void feed(struct upload *up, const void *buf, size_t n)
{
    digest_feed(&up->whole, buf, n);
    digest_feed(&up->part, buf, n);
}

/* Make what was written durable, then record it, renewing the lease: 1 the
 * slot is still held, 0 it was lost, -1 error.  While a checksum of the body
 * is pending nothing unverified is recorded: the lease is renewed at the old
 * offset. */
static int keep(struct upload *up, struct bu_error *err)
{
    int held;

    if (!up->verifying && up->written != up->durable) {
        if (fdatasync(up->fd) != 0)
            return error_set(err, BU_E_STORAGE_ERROR, "the data could not be made durable");
        up->durable = up->written;
    }
    assert(up->durable <= up->written && up->written <= up->claim.size);
    held = store_record_progress(up->req->db, err, up->in->file_id, up->durable,
                                 up->req->cfg->slot_lease_seconds);
    if (held < 0 && err->id == BU_E_UPLOAD_GONE)
        error_set(err, BU_E_UPLOAD_GONE,
                  "this upload was aborted or has expired while it was being written");
    up->last_record = clock_now();
    return held;
}

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

/* The SHA-256 (hex) and CRC-32 of the first size bytes of fd, read back
 * through the stream buffer. */
static int hash_file(int fd, uint64_t size, char sha256[65], uint32_t *crc32,
                     struct bu_error *err)
{
    struct digest d;
    unsigned char md[DIGEST_MAX];
    uint64_t pos = 0;

    if (digest_begin(&d, DIGEST_SHA256, true) != 0)
        return error_set(err, BU_E_INTERNAL, "no hash context");
    while (pos < size) {
        size_t want = size - pos > UPLOAD_BUFFER ? UPLOAD_BUFFER : (size_t)(size - pos);
        ssize_t n = pread(fd, stream_buf, want, (off_t)pos);
        if (n <= 0) {
            digest_free(&d);
            return error_set(err, BU_E_STORAGE_ERROR, "the upload cannot be read back");
        }
        digest_feed(&d, stream_buf, (size_t)n);
        pos += (uint64_t)n;
    }
    *crc32 = d.crc32;
    digest_hex(md, digest_end(&d, md), sha256);
    return 0;
}

/* Commit a file whose bytes are all in storage: check the announced
 * SHA-256, make the file durable and move it (storage_commit), and complete
 * it in the database. */
static int commit(struct upload *up, const char *sha256, uint32_t crc32, struct bu_error *err)
{
    const struct bu_config *cfg = up->req->cfg;
    struct store_file_state state;
    struct store_completion done;
    int found = store_file_state(up->req->db, err, up->in->file_id, 0, &state);

    if (found < 0)
        return -1;
    if (found && state.expected_sha256[0] != '\0' && strcmp(state.expected_sha256, sha256) != 0)
        return error_set(err, BU_E_CHECKSUM_MISMATCH,
                         "the file's SHA-256 (%s) is not the one declared for it", sha256);
    if (storage_commit(cfg, up->in->file_id, err) != 0 ||
        store_complete_file(up->req->db, err, up->in->file_id, sha256, crc32,
                            cfg->link_ttl_seconds, &done) != 0)
        return -1;
    if (!done.completed) {
        /* The file was aborted or expired while its last bytes arrived: the
         * completion lost, and the data goes the way of the file. */
        storage_remove(cfg, up->in->file_id);
        return error_set(err, BU_E_UPLOAD_GONE, "this upload was aborted or has expired");
    }
    assert(up->written == up->claim.size || up->fd < 0);
    METRICS_ADD(uploads_completed, 1);
    if (done.batch_complete)
        METRICS_ADD(batches_completed, 1);
    up->res->offset = up->claim.size;
    up->res->completed = true;
    return 0;
}

/* ---- the stages -------------------------------------------------------- */

/* Take or renew the slot.  0 go on, 1 nothing to receive (the file is
 * complete at the client's offset), -1 error. */
static int admit(struct upload *up, struct bu_error *err)
{
    const struct upload_request *in = up->in;
    struct store_claim *c = &up->claim;
    int64_t declared = up->req->content_length;

    if (store_claim_slot(up->req->db, err, up->req->cfg, in->file_id, up->req->user_id, c) != 0)
        return -1;
    up->res->offset = c->offset;
    switch (c->result) {
    case STORE_CLAIM_NOT_FOUND:
        return error_set(err, BU_E_NOT_FOUND, "no such upload");
    case STORE_CLAIM_GONE:
        return error_set(err, BU_E_UPLOAD_GONE, "this upload was aborted or has expired");
    case STORE_CLAIM_COMPLETED:
        if (in->offset != c->size)
            return error_set(err, BU_E_OFFSET_MISMATCH, "the upload is complete at %llu bytes",
                             (unsigned long long)c->size);
        up->res->completed = true;
        return 1;
    case STORE_CLAIM_QUEUED:
        up->res->queue_position = c->queue_position;
        METRICS_ADD(slot_waits, 1);
        return error_set(err, BU_E_SLOT_UNAVAILABLE,
                         "all your upload slots are in use; this file is number %d in your queue",
                         c->queue_position);
    case STORE_CLAIM_GRANTED:
        break;
    }
    if (in->offset != c->offset)
        return error_set(err, BU_E_OFFSET_MISMATCH, "Upload-Offset is %llu, the upload has %llu",
                         (unsigned long long)in->offset, (unsigned long long)c->offset);
    if (declared >= 0 && in->offset + (uint64_t)declared > c->size)
        return error_set(err, BU_E_BEYOND_LENGTH, "the body goes past Upload-Length (%llu)",
                         (unsigned long long)c->size);
    return 0;
}

/* All bytes were in and moved, but the worker died before the database
 * heard of it: finish that completion now, from the stored file. */
static int finish_left_over(struct upload *up, struct bu_error *err)
{
    char path[1100], sha256[65];
    uint32_t crc32 = 0;
    int fd, rc;

    storage_final_path(up->req->cfg, up->in->file_id, path, sizeof path);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return error_set(err, BU_E_STORAGE_ERROR, "the stored file cannot be read");
    rc = hash_file(fd, up->claim.size, sha256, &crc32, err);
    close(fd);
    return rc != 0 ? -1 : commit(up, sha256, crc32, err);
}

/* Lock the upload and open its partial file at the recorded offset.  0 go
 * on, 1 done (a left-over completion was finished), -1 error. */
static int open_upload(struct upload *up, struct bu_error *err)
{
    const struct upload_request *in = up->in;
    const struct bu_config *cfg = up->req->cfg;
    int found;

    up->lock_fd = storage_lock_upload(cfg, in->file_id, err);
    if (up->lock_fd < 0)
        return -1;
    found = store_upload_offset(up->req->db, err, in->file_id, &up->res->offset);
    if (found <= 0)
        return found < 0 ? -1 : error_set(err, BU_E_NOT_FOUND, "no such upload");
    if (up->res->offset != in->offset)
        return error_set(err, BU_E_OFFSET_MISMATCH, "Upload-Offset is %llu, the upload has %llu",
                         (unsigned long long)in->offset, (unsigned long long)up->res->offset);
    if (storage_final_exists(cfg, in->file_id))
        return finish_left_over(up, err) == 0 ? 1 : -1;
    up->fd = storage_open_partial(cfg, in->file_id, err);
    if (up->fd < 0)
        return -1;
    up->durable = in->offset;
    if (ftruncate(up->fd, (off_t)in->offset) != 0)
        return error_set(err, BU_E_STORAGE_ERROR, "the upload cannot be resumed");
    up->written = in->offset;
    if ((in->offset == 0 && digest_begin(&up->whole, DIGEST_SHA256, true) != 0) ||
        (in->verify && digest_begin(&up->part, in->algo, false) != 0))
        return error_set(err, BU_E_INTERNAL, "no hash context");
    up->verifying = in->verify;
    return 0;
}

/* Move the body to the partial file until it ends (up->end says how).
 * 0, or -1 on a storage or database error. */
static int stream(struct upload *up, struct bu_error *err)
{
    double renew_every = up->req->cfg->slot_lease_seconds / 3.0;

    up->last_record = clock_now();
    for (;;) {
        ssize_t n = http_read(up->req, stream_buf, sizeof stream_buf);
        int held;

        if (n <= 0) {
            up->end = n < 0 ? UPLOAD_CUT : UPLOAD_CLEAN;
            return 0;
        }
        if (up->written + (uint64_t)n > up->claim.size) {
            up->end = UPLOAD_OVER;
            return 0;
        }
        if (pwrite_all(up->fd, stream_buf, (size_t)n, up->written) != 0) {
            log_error("write to upload %s failed: %s", up->in->file_id, strerror(errno));
            return error_set(err, BU_E_STORAGE_ERROR, "the data could not be stored");
        }
        feed(up, stream_buf, (size_t)n);
        up->written += (uint64_t)n;
        METRICS_ADD(bytes_received, (uint64_t)n);
        if (clock_now() - up->last_record < renew_every)
            continue;
        held = keep(up, err);
        if (held <= 0) {
            up->end = UPLOAD_SLOT_LOST;
            return held;
        }
    }
}

/* The client's checksum of this body, when it sent one: a body cut off or
 * not matching stores nothing of itself. */
static int verify_body(struct upload *up, struct bu_error *err)
{
    unsigned char md[DIGEST_MAX];
    size_t len;

    if (!up->verifying)
        return 0;
    len = digest_end(&up->part, md);
    if (up->end == UPLOAD_CLEAN && len == up->in->digest_len &&
        memcmp(md, up->in->digest, len) == 0) {
        up->verifying = false;
        return 0;
    }
    cut_back(up, up->in->offset);
    up->res->offset = up->in->offset;
    if (up->end == UPLOAD_CUT)
        return error_set(err, BU_E_BODY_INCOMPLETE,
                         "the body ended early; nothing of it was kept (it had a checksum)");
    return error_set(err, BU_E_CHECKSUM_MISMATCH,
                     "the body does not match Upload-Checksum; nothing of it was kept");
}

/* The last byte is in: the file's digest, then the commit. */
static int complete(struct upload *up, struct bu_error *err)
{
    char sha256[65];
    uint32_t crc32 = up->whole.crc32;
    unsigned char md[DIGEST_MAX];
    size_t len = digest_end(&up->whole, md);

    if (len > 0)
        digest_hex(md, len, sha256);
    else if (hash_file(up->fd, up->claim.size, sha256, &crc32, err) != 0)
        return -1;
    if (commit(up, sha256, crc32, err) == 0)
        return 0;
    if (err->id == BU_E_CHECKSUM_MISMATCH) {
        /* Drop what this request added beyond the recorded offset. */
        cut_back(up, up->durable);
        up->res->offset = up->durable;
    }
    return -1;
}

static int settle(struct upload *up, struct bu_error *err)
{
    /* The stream never writes past the upload's length, nor records more
     * than it wrote. */
    assert(up->durable <= up->written && up->written <= up->claim.size);
    switch (up->end) {
    case UPLOAD_OVER:
        cut_back(up, up->durable);
        up->res->offset = up->durable;
        return error_set(err, BU_E_BEYOND_LENGTH, "the body goes past Upload-Length (%llu)",
                         (unsigned long long)up->claim.size);
    case UPLOAD_CLEAN:
    case UPLOAD_CUT:
    case UPLOAD_SLOT_LOST:
        if (verify_body(up, err) != 0)
            return -1;
        if (up->written == up->claim.size)
            return complete(up, err);
        if (up->written != up->durable && keep(up, err) < 0)
            return -1;
        up->res->offset = up->durable;
        break;
    }
    if (up->end == UPLOAD_CUT)
        return error_set(err, BU_E_BODY_INCOMPLETE, "the body ended early; %llu bytes are kept",
                         (unsigned long long)up->durable);
    if (up->end == UPLOAD_SLOT_LOST) {
        METRICS_ADD(slot_waits, 1);
        return error_set(err, BU_E_SLOT_UNAVAILABLE,
                         "the upload lost its slot (lease expired); %llu bytes are kept, retry",
                         (unsigned long long)up->durable);
    }
    return 0;
}

static void close_upload(struct upload *up)
{
    digest_free(&up->whole);
    digest_free(&up->part);
    if (up->fd >= 0)
        close(up->fd);
    if (up->lock_fd >= 0)
        close(up->lock_fd);
}

int upload_receive(struct http_request *req, const struct upload_request *in,
                   struct upload_result *res, struct bu_error *err)
{
    struct upload up = {.req = req, .in = in, .res = res, .lock_fd = -1, .fd = -1};
    int rc;

    memset(res, 0, sizeof *res);
    rc = admit(&up, err);
    if (rc == 0)
        rc = open_upload(&up, err);
    if (rc == 0)
        rc = stream(&up, err);
    if (rc == 0)
        rc = settle(&up, err);
    close_upload(&up);
    return rc < 0 ? -1 : 0;
}
