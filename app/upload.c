/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * upload.c - the byte path: one request's body into one upload.
 *
 * A request goes through five stages, each a function below, around one
 * struct upload that carries everything they share:
 *
 *   admit   one round trip to batchup.claim_upload: the slot is granted (or
 *           its lease renewed) together with the upload's writer lock, or
 *           the file is queued.  A queued file's request is held (hold,
 *           below), and still queued when the hold ends it is answered 423
 *           with Upload-Queue-Position, before a byte of the body is read.
 *           When another request holds the lock, it is asked to let go
 *           (takeover, below) and the claim is tried again for a moment.
 *   open    the partial file, checked against the recorded offset (never
 *           shorter: bytes the database counts must exist) and cut back to
 *           it, dropping bytes a killed worker wrote but never recorded.
 *           When the file is already in files/ (a worker died between the
 *           rename and the database's commit), the completion is finished
 *           here instead.
 *   stream  the body flows through one fixed buffer onto disk (whole blocks
 *           with O_DIRECT, see flush), feeding the digests.  Every
 *           slot_lease_seconds / 3 what arrived is made durable and
 *           recorded (keep), which renews the slot and the lock, while
 *           bytes flow and on the tick of a pause alike: the offset the
 *           database holds never exceeds the bytes that survive a power
 *           cut, and a live upload never loses its slot (one whose lease
 *           lapsed all the same takes it again when nobody else wants it,
 *           and keeps what arrived).
 *   settle  a switch over how the body ended: past the upload's length (cut
 *           back, 413), or at its end, cut off, timed out, too slow, taken
 *           over, or with the slot lost: the request's checksum verified (a
 *           mismatch stores nothing), then either the last byte (complete:
 *           size and SHA-256 checked, the file made durable and moved,
 *           batchup.complete_file frees the slot and the lock and, for the
 *           batch's last file, issues the link, in one transaction) or what
 *           arrived kept.
 *   close   the lock released, descriptors and digests freed, whatever
 *           happened.
 *
 * Takeover.  A client whose connection went half-open resumes on a new one
 * while the old request still waits for bytes that will never come.  The
 * new request finds the writer lock taken; the claim marks it "release
 * requested" in the database, and when the holder is a worker of this pool
 * (the lock's name starts with the pool's id) the scoreboard finds it and
 * SIGUSR2 wakes it at once.  The holder keeps what it received (durable,
 * recorded), lets go, and the new request proceeds, within a second.  A
 * holder of another pool (another host) sees the request within a second
 * while it waits (it asks the database every second of silence), or at its
 * next renewal while bytes flow.  A holder that is gone (a killed worker of
 * this pool) is overruled at once; one of another pool, when its lease runs
 * out.  A writer stops writing on its own once its lease may have run out
 * (its renewals failing), so a lock taken over after its lease never has
 * two writers.
 *
 * Hold.  Stock tus clients retry a 423 only a few times (tus-js-client:
 * four retries over about 9 s), so a file queued longer would fail there.
 * A queued request therefore waits in the worker for its slot, for at most
 * queue_hold_seconds (less when the client says "Prefer: wait=N"; the
 * upload page and batchup push say wait=0 and show the queue themselves),
 * claiming again every HOLD_TICK: the same claim as a retry, so the
 * database's fair order decides, the place in the queue stays alive, and
 * the limit stays exact (no byte is read before the slot is granted).
 * Granted, the request streams its body as if granted at once.  The hold
 * is bounded on every side: it takes a place in the uploads' share of the
 * pool (none left: the 423 at once), gives that place to any upload whose
 * slot is granted, ends at once on a graceful stop or a reload, and a
 * database error ends it as any claim's would (503).
 *
 * A HEAD (the client looking for its offset, before it resumes) asks the
 * writer of this pool to record what it received and waits a moment for
 * it: the offset reported is then exactly the bytes the server holds, and
 * the PATCH that follows takes over without a 409.  The writer goes on
 * receiving: a HEAD never cuts a live upload, however slow its link.
 *
 * The file's SHA-256 and CRC-32 (the ZIP's) are computed while streaming,
 * in every request.  A file sent over several requests carries them from
 * one to the next: each checkpoint (keep: fdatasync, then the offset
 * recorded) saves their state at that offset beside the partial file
 * (partial/<id>.sha, disk.c), and the next request restores it when it
 * is exactly the state at the recorded offset it resumes from.  Anything
 * else is refused and the state rebuilt by hashing the partial file from
 * disk up to that offset: a state of another offset (a crash between the
 * record and the save, or a save that failed), a torn, truncated or
 * foreign file (its magic, byte order, file id, length and a SHA-256 of
 * itself are checked, and the hash's own byte counter must equal the
 * offset), one of another build or machine (the same checks).  So the
 * stored SHA-256 never depends on the state file being right: at worst a
 * request pays the read-back that every resumed file paid before.
 *
 * Why a file beside the data, not a column of the database: the state is
 * about the bytes on this disk, it is written only by the lock's holder
 * after the database has recorded its offset, and keeping it out of the
 * database keeps the schema, the renewal statement and its round trip as
 * they are (a state in the row would have to travel with every renewal).
 * Its durability needs no fsync of the directory: the state is saved after
 * the record, so a save lost in a power cut leaves an older state, whose
 * offset no longer matches, and the recorded offset never moves back, so a
 * state that matches it always describes the same, durable bytes.  The
 * state never leaves the server, so a client cannot forge it.
 */
#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "batchup/auth.h"
#include "batchup/clock.h"
#include "batchup/digest.h"
#include "batchup/log.h"
#include "batchup/metrics.h"
#include "batchup/routes.h"
#include "batchup/scoreboard.h"
#include "batchup/disk.h"
#include "batchup/store.h"
#include "batchup/upload.h"
#include "batchup/worker.h"

/* 1 MiB: each O_DIRECT write is one request to the disk, with its
 * submission, its wait and its interrupt.  With 256 KiB a worker spent
 * about 15% more CPU on a 64 MiB upload (docs/benchmarks.md). */
#define UPLOAD_BUFFER ((size_t)1024 * 1024)
/* The body is read, and hashed, 64 KiB at a time, while those bytes are
 * still in the CPU's cache: 4.5% less worker CPU than hashing each whole
 * 1 MiB fill (docs/benchmarks.md). */
#define READ_PIECE ((size_t)64 * 1024)
#define DIRECT_ALIGN ((size_t)4096) /* O_DIRECT's offset, length and address unit */
#define TAKEOVER_WAIT 2.0           /* seconds a request waits for a writer to let go */
#define TICK 1.0        /* seconds of silence between a writer's looks at the database */
#define FLUSH_AFTER 0.1 /* seconds bytes may wait in the buffer for more */
/* Seconds between a held request's claims: how late it may learn of its
 * slot, and twice a second a claim (one round trip) per held request. */
#define HOLD_TICK 0.5

/* One buffer per worker process: memory stays constant whatever the size.
 * Aligned, and one block longer than a fill, for O_DIRECT (see flush). */
static _Alignas(4096) unsigned char stream_buf[UPLOAD_BUFFER + DIRECT_ALIGN];

/* How the body ended. */
enum upload_end {
    UPLOAD_CLEAN,     /* at the end the web server announced */
    UPLOAD_CUT,       /* cut off: the connection broke, a deadline, a trickle */
    UPLOAD_OVER,      /* past the upload's length */
    UPLOAD_SLOT_LOST, /* the slot's or the lock's lease ran out under us */
    UPLOAD_RELEASED,  /* a newer request took the upload over */
};

struct upload {
    struct http_request *req;
    const struct upload_request *in;
    struct upload_result *res;
    struct store_claim claim; /* admit's answer: the size, the recorded offset */
    char writer[64];          /* "<pool id>/<token>": this request's lock */
    bool locked;
    int fd;           /* the partial file */
    int direct_fd;    /* the same file opened O_DIRECT, or -1 */
    uint64_t written; /* bytes in the partial file */
    size_t pending;   /* bytes received after them, in stream_buf, not yet written */
    double flushed_at;
    uint64_t durable;    /* of them, fdatasync'd and recorded */
    bool verifying;      /* a checksum of this body is pending: record nothing */
    struct digest whole; /* the file's SHA-256 and CRC-32 of the bytes written */
    struct digest part;  /* the request's checksum */
    double last_record;
    double lock_valid_until; /* our lease, as far as we can know it */
    bool overruled;          /* the lock was taken from a holder believed gone */
    bool admitted;           /* a place among the uploads taken by the hold */
    enum upload_end end;
};

/* ---- shared steps ------------------------------------------------------ */

static void cut_back(struct upload *up, uint64_t to)
{
    if (disk_truncate(up->fd, to) != 0)
        log_warn("cannot cut upload %s back to %llu: %s", up->in->file_id, (unsigned long long)to,
                 strerror(errno));
    up->written = to;
}

static void feed(struct upload *up, const void *buf, size_t n)
{
    digest_feed(&up->whole, buf, n);
    digest_feed(&up->part, buf, n);
}

static int flush(struct upload *up, bool all, struct bu_error *err);

/* partial/<id>.sha: the state of up->whole after `offset` bytes, with what
 * it takes to refuse any other (see the top of this file). */
#define STATE_MAGIC "bu-sha1\n"
#define STATE_ORDER 0x01020304u
struct hash_state {
    char magic[8];
    uint32_t order; /* STATE_ORDER in the writer's byte order */
    uint32_t len;   /* bytes of state used */
    char file_id[40];
    uint64_t offset;
    unsigned char state[DIGEST_STATE_MAX];
    char check[72]; /* hex SHA-256 of every byte above */
};

static void state_check(const struct hash_state *st, char out[DIGEST_SHA256_HEX + 1])
{
    digest_sha256_hex(st, offsetof(struct hash_state, check), out);
}

/* Save the running hash at the offset just recorded.  A failure only costs
 * the next request a read-back. */
static void save_state(struct upload *up)
{
    struct hash_state st;

    memset(&st, 0, sizeof st);
    memcpy(st.magic, STATE_MAGIC, sizeof st.magic);
    st.order = STATE_ORDER;
    st.len = (uint32_t)digest_save(&up->whole, st.state, sizeof st.state);
    snprintf(st.file_id, sizeof st.file_id, "%s", up->in->file_id);
    st.offset = up->durable;
    if (st.len == 0)
        return;
    state_check(&st, st.check);
    disk_save_state(up->req->cfg, up->in->file_id, &st, sizeof st);
}

/* Continue up->whole from the saved state when it is exactly the state at
 * the recorded offset this request resumes from.  true when it was. */
static bool restore_state(struct upload *up)
{
    struct hash_state st;
    char check[DIGEST_SHA256_HEX + 1];
    long n = disk_load_state(up->req->cfg, up->in->file_id, &st, sizeof st);

    if (n < 0) {
        log_info("upload %s: no saved hash state; hashing its first %llu bytes from disk",
                 up->in->file_id, (unsigned long long)up->in->offset);
        return false;
    }
    if (n != (long)sizeof st || memcmp(st.magic, STATE_MAGIC, sizeof st.magic) != 0 ||
        st.order != STATE_ORDER || st.len > sizeof st.state ||
        memchr(st.file_id, '\0', sizeof st.file_id) == NULL ||
        strcmp(st.file_id, up->in->file_id) != 0 || st.offset != up->in->offset)
        goto refused;
    state_check(&st, check);
    if (memcmp(check, st.check, sizeof check) != 0 ||
        digest_restore(&up->whole, st.state, st.len, up->in->offset) != 0)
        goto refused;
    return true;
refused:
    log_info("upload %s: its saved hash state is not the one at offset %llu (refused); hashing "
             "its first %llu bytes from disk",
             up->in->file_id, (unsigned long long)up->in->offset,
             (unsigned long long)up->in->offset);
    return false;
}

/* Make what was written durable, then record it, renewing the slot and the
 * lock: *release says what a newer request asked.  While a checksum of the
 * body is pending, or when advance is false (the upload's last byte is in:
 * only the completion may record it), nothing new is recorded: the leases
 * are renewed at the old offset.  0, or -1 (err). */
static int keep(struct upload *up, struct store_renewal *renewal, bool advance,
                struct bu_error *err)
{
    int lease = up->req->cfg->slot_lease_seconds;
    double asked = clock_now();
    bool advanced = false;

    if (flush(up, true, err) != 0)
        return -1;
    if (advance && !up->verifying && up->written != up->durable) {
        if (disk_sync(up->fd) != 0)
            return disk_error(errno, err);
        /* A file's first recorded offset: its name in partial/ must
         * survive a power cut as its bytes do (disk.c's contract). */
        if (up->durable == 0 && disk_sync_partial_dir(up->req->cfg) != 0)
            return disk_error(errno, err);
        up->durable = up->written;
        advanced = true;
    }
    assert(up->durable <= up->written && up->written <= up->claim.size);
    if (store_renew_upload(up->req->db, err, up->in->file_id, up->durable, lease, up->writer,
                           renewal) != 0) {
        if (err->id == BU_E_UPLOAD_GONE)
            error_set(err, BU_E_UPLOAD_GONE,
                      "this upload was aborted or has expired while it was being written");
        return -1;
    }
    up->last_record = clock_now();
    if (renewal->release != STORE_RELEASE_LOST) {
        up->lock_valid_until = asked + lease - 1;
        /* Recorded: the hash of exactly these bytes is saved for the next
         * request, after the record and never before it (top of file). */
        if (advanced)
            save_state(up);
    }
    return 0;
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

/* Write the pending bytes of stream_buf to the partial file.  They sit in
 * the buffer at the position congruent to their file offset modulo
 * DIRECT_ALIGN (stream), so the whole aligned blocks among them go out
 * with O_DIRECT, straight from the buffer to the disk: on the machines
 * measured, copying a body into fresh page-cache pages was most of an
 * upload's CPU (copy_folio_from_iter_atomic, 71% of a worker's samples),
 * and a file being uploaded is not read again soon.  The unaligned head
 * and tail (a resume at any offset, a body's last bytes) go through the
 * page cache; no block is ever written both ways.  A full buffer in mid-
 * stream (all false) keeps its unaligned tail for the next write, moved to
 * the buffer's start, so that a long body goes out in whole blocks only.
 * Durability is unchanged: keep() still fdatasyncs before it records, and
 * O_DIRECT alone promises nothing about the device's cache.  Where
 * O_DIRECT is refused (EINVAL: a file system without it, an odd block
 * size) everything goes through the page cache.  0, or -1 (err). */
static int flush(struct upload *up, bool all, struct bu_error *err)
{
    const unsigned char *p = stream_buf + up->written % DIRECT_ALIGN;
    uint64_t at = up->written;
    size_t n = up->pending, head = (DIRECT_ALIGN - at % DIRECT_ALIGN) % DIRECT_ALIGN, mid;

    if (up->direct_fd < 0 || n < head + DIRECT_ALIGN)
        head = n; /* no whole block: all through the page cache */
    mid = (n - head) / DIRECT_ALIGN * DIRECT_ALIGN;
    if (pwrite_all(up->fd, p, head, at) != 0)
        goto failed;
    if (mid > 0 && pwrite_all(up->direct_fd, p + head, mid, at + head) != 0) {
        if (errno != EINVAL)
            goto failed;
        log_warn("upload %s: O_DIRECT refused here; writing through the page cache",
                 up->in->file_id);
        close(up->direct_fd);
        up->direct_fd = -1;
        if (pwrite_all(up->fd, p + head, mid, at + head) != 0)
            goto failed;
    }
    if (!all && up->direct_fd >= 0 && mid > 0) {
        memmove(stream_buf, p + head + mid, n - head - mid);
        up->written += head + mid;
        up->pending = n - head - mid;
        return 0;
    }
    if (pwrite_all(up->fd, p + head + mid, n - head - mid, at + head + mid) != 0)
        goto failed;
    up->written += n;
    up->pending = 0;
    up->flushed_at = clock_now();
    return 0;
failed:
    log_error("write to upload %s failed: %s", up->in->file_id, strerror(errno));
    return disk_error(errno, err);
}

/* Feed d the first size bytes of fd, read back through the stream buffer
 * (so never while a body is in it).  0, or -1 (err). */
static int hash_prefix(int fd, uint64_t size, struct digest *d, struct bu_error *err)
{
    uint64_t pos = 0;

    while (pos < size) {
        size_t want = size - pos > UPLOAD_BUFFER ? UPLOAD_BUFFER : (size_t)(size - pos);
        ssize_t n = pread(fd, stream_buf, want, (off_t)pos);
        if (n <= 0)
            return error_set(err, BU_E_STORAGE_ERROR, "the upload cannot be read back");
        digest_feed(d, stream_buf, (size_t)n);
        pos += (uint64_t)n;
    }
    return 0;
}

/* The SHA-256 (hex) and CRC-32 of the first size bytes of fd. */
static int hash_file(int fd, uint64_t size, char sha256[DIGEST_SHA256_HEX + 1], uint32_t *crc32,
                     struct bu_error *err)
{
    struct digest d;
    unsigned char md[DIGEST_MAX];

    if (digest_begin(&d, DIGEST_SHA256, true) != 0)
        return error_set(err, BU_E_INTERNAL, "no hash context");
    if (hash_prefix(fd, size, &d, err) != 0) {
        digest_free(&d);
        return -1;
    }
    *crc32 = d.crc32;
    digest_hex(md, digest_end(&d, md), sha256);
    return 0;
}

/* Commit a file whose bytes are all in storage: check the announced
 * SHA-256, make the file durable and move it (disk_commit), and complete
 * it in the database (which also frees the slot and the lock). */
static int commit(struct upload *up, const char *sha256, uint32_t crc32, struct bu_error *err)
{
    const struct bu_config *cfg = up->req->cfg;
    struct store_completion done;
    const char *expected = up->claim.expected_sha256;

    if (expected[0] != '\0' && strcmp(expected, sha256) != 0)
        return error_set(err, BU_E_CHECKSUM_MISMATCH,
                         "the file's SHA-256 (%s) is not the one declared for it", sha256);
    if (disk_commit(cfg, up->in->file_id, up->fd, err) != 0 ||
        store_complete_file(up->req->db, err, up->in->file_id, sha256, crc32, cfg->link_ttl_seconds,
                            up->writer, &done) != 0) {
        /* upload_locked: another request holds the lock now (a takeover
         * after our lease): the file, moved or not, is its to finish. */
        if (err->id == BU_E_UPLOAD_LOCKED)
            up->locked = false;
        return -1;
    }
    up->locked = false;
    /* The hash state is of no use once the file is complete; only a file
     * that recorded an offset can have one (save_state). */
    if (up->in->offset > 0 || up->durable > 0)
        disk_drop_state(cfg, up->in->file_id);
    if (done.partial) {
        /* A partial upload's last byte (tus concatenation): its bytes are
         * durable in files/, its slot is free; its final takes them. */
        up->res->offset = up->claim.size;
        up->res->completed = true;
        return 0;
    }
    if (!done.completed) {
        /* The file was aborted or expired while its last bytes arrived: the
         * completion lost, and the data goes the way of the file. */
        disk_remove(cfg, up->in->file_id);
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

/* ---- admit: the slot, the lock, and takeover ------------------------- */

/* A name for this request's lock: the pool, so that others know whether
 * the scoreboard can find us, and a random token. */
static void writer_name(struct upload *up)
{
    unsigned char raw[8];
    char token[17];

    if (getrandom(raw, sizeof raw, 0) == (ssize_t)sizeof raw)
        digest_hex(raw, sizeof raw, token);
    else
        snprintf(token, sizeof token, "%08x%08x", (unsigned)getpid(),
                 (unsigned)(clock_now() * 1e6));
    snprintf(up->writer, sizeof up->writer, "%s/%s", scoreboard_pool_id(), token);
}

/* The holder's token when it is a worker of this pool, else NULL. */
static const char *same_pool_token(const char *holder)
{
    size_t n = strlen(scoreboard_pool_id());

    return strncmp(holder, scoreboard_pool_id(), n) == 0 && holder[n] == '/' ? holder + n + 1
                                                                             : NULL;
}

/* The upload is locked by holder: ask it to let go.  Returns 1 when the
 * holder is gone (a worker of this pool that no longer holds it: the lock
 * may be overruled), else 0 after a short pause. */
static int ask_holder(const char *holder)
{
    const char *token = same_pool_token(holder);
    unsigned recorded;
    struct timespec pause = {0, 100L * 1000 * 1000};

    if (token != NULL && !scoreboard_ask(token, SB_RELEASE_NOW, &recorded))
        return 1;
    nanosleep(&pause, NULL);
    return 0;
}

/* Claim the slot and the lock, taking the upload over from a writer that
 * holds it, for at most TAKEOVER_WAIT. */
static int claim(struct upload *up, struct bu_error *err)
{
    struct http_request *req = up->req;
    struct store_claim *c = &up->claim;
    double deadline = clock_now() + TAKEOVER_WAIT;
    char gone[sizeof c->holder] = "";

    writer_name(up);
    /* On the scoreboard before the database grants the lock: a request
     * that finds us holding it must find us here too, or it would take us
     * for gone and overrule a live writer. */
    scoreboard_upload(up->in->file_id, same_pool_token(up->writer));
    for (;;) {
        const char *token = req->auth_pending[0] ? req->auth_pending : NULL;

        if (store_claim_upload(req->db, err, req->cfg, up->in->file_id, req->user_id, token,
                               up->writer, gone, c) != 0 ||
            (token != NULL && auth_resolve(req, c->user_id, c->user_name, err) != 0))
            return -1;
        if (c->result != STORE_CLAIM_LOCKED)
            break;
        if (clock_now() >= deadline)
            return error_set(err, BU_E_UPLOAD_LOCKED,
                             "another request is writing this upload and did not let go; retry");
        if (ask_holder(c->holder))
            snprintf(gone, sizeof gone, "%s", c->holder);
    }
    up->locked = c->result == STORE_CLAIM_GRANTED;
    up->overruled = up->locked && gone[0] != '\0';
    up->lock_valid_until = clock_now() + req->cfg->slot_lease_seconds - 1;
    return 0;
}

/* What a stage of the upload says to the next: go on, the upload is done
 * (nothing to receive, or a left-over completion was finished), or an
 * error (err says which). */
enum upload_stage { STAGE_GO, STAGE_DONE, STAGE_ERROR };

/* For `return stage_error(error_set(err, ...));`. */
static enum upload_stage stage_error(int rc)
{
    (void)rc;
    return STAGE_ERROR;
}

/* How long this request may be held for its slot: queue_hold_seconds, or
 * less when the client asks (RFC 7240 "Prefer: wait=N"; wait=0 for a
 * client that shows the queue itself and wants its 423 at once). */
static int hold_seconds(const struct http_request *req)
{
    const char *p = http_header(req, "Prefer");
    int most = req->cfg->queue_hold_seconds;

    for (; p != NULL && *p != '\0'; p += strcspn(p, ","), p += *p == ',') {
        long wait;
        char *end;
        p += strspn(p, " \t");
        if (strncasecmp(p, "wait", 4) != 0 || p[4 + strspn(p + 4, " \t")] != '=')
            continue;
        p += 4 + strspn(p + 4, " \t") + 1;
        p += strspn(p, " \t\"");
        wait = strtol(p, &end, 10);
        if (end != p && wait >= 0 && wait < most)
            most = (int)wait;
    }
    return most;
}

/* Sleep until the next look at the queue: HOLD_TICK, the end of the hold,
 * a stop signal or a granted upload taking our place, whichever is first. */
static void hold_pause(struct upload *up, double until)
{
    struct pollfd pfd[2] = {
        {.fd = worker_stop_fd(), .events = POLLIN},
        {.fd = up->req->conn != NULL ? up->req->conn->wake_fd : -1, .events = POLLIN}};
    double left = until - clock_now();
    char drain[64];

    if (left > HOLD_TICK)
        left = HOLD_TICK;
    if (left > 0 && poll(pfd, 2, (int)(left * 1000) + 1) > 0 && (pfd[1].revents & POLLIN) &&
        read(pfd[1].fd, drain, sizeof drain) < 0) {
        /* Nothing to drain: another request's wake-up was taken already. */
    }
}

/* The file is queued: hold the request, reading nothing of its body, and
 * claim again every HOLD_TICK (which keeps its place in the queue alive)
 * until the slot is granted, for at most `seconds`.  The hold ends early,
 * with the same 423, when the worker is asked to stop or a granted upload
 * needs its place; the hold needs a place among the uploads' share to
 * begin with.  A client that goes away meanwhile is not seen (that would
 * take reading the body): the hold bounds what it costs.  0, or -1 (a
 * database error: the claim's answer). */
static int hold(struct upload *up, int seconds, struct bu_error *err)
{
    double until = clock_now() + seconds;

    if (!routes_admit_hold(up->req))
        return 0;
    up->admitted = true;
    scoreboard_state(SB_QUEUED);
    while (!worker_stopping() && !scoreboard_hold_ended() && clock_now() < until) {
        hold_pause(up, until);
        if (worker_stopping() || scoreboard_hold_ended())
            break;
        if (claim(up, err) != 0)
            return -1;
        if (up->claim.result != STORE_CLAIM_QUEUED)
            break;
    }
    if (up->claim.result != STORE_CLAIM_QUEUED)
        scoreboard_state(SB_RECEIVING);
    if (up->claim.result == STORE_CLAIM_GRANTED && !scoreboard_unhold())
        return error_set(err, BU_E_SERVER_BUSY,
                         "the server is busy with other uploads: retry in a moment");
    if (up->claim.result == STORE_CLAIM_QUEUED)
        scoreboard_leave(); /* answered at once from here: no place needed */
    return 0;
}

/* Take or renew the slot and the lock; STAGE_DONE when there is nothing
 * to receive (the file is complete at the client's offset). */
static enum upload_stage admit(struct upload *up, struct bu_error *err)
{
    const struct upload_request *in = up->in;
    struct store_claim *c = &up->claim;
    int64_t declared = up->req->content_length;

    if (claim(up, err) != 0)
        return STAGE_ERROR;
    if (c->result == STORE_CLAIM_QUEUED && up->req->cfg->queue_hold_seconds > 0) {
        int seconds = hold_seconds(up->req);
        if (seconds > 0 && hold(up, seconds, err) != 0)
            return STAGE_ERROR;
    }
    up->res->offset = c->offset;
    switch (c->result) {
    case STORE_CLAIM_NOT_FOUND:
        return stage_error(error_set(err, BU_E_NOT_FOUND, "no such upload"));
    case STORE_CLAIM_GONE:
        return stage_error(
            error_set(err, BU_E_UPLOAD_GONE, "this upload was aborted or has expired"));
    case STORE_CLAIM_COMPLETED:
        if (in->offset != c->size)
            return stage_error(error_set(err, BU_E_OFFSET_MISMATCH,
                                         "the upload is complete at %llu bytes",
                                         (unsigned long long)c->size));
        up->res->completed = true;
        return STAGE_DONE;
    case STORE_CLAIM_QUEUED:
        up->res->queue_position = c->queue_position;
        METRICS_ADD(slot_waits, 1);
        return stage_error(
            error_set(err, BU_E_SLOT_UNAVAILABLE,
                      "all your upload slots are in use; this file is number %d in your queue",
                      c->queue_position));
    case STORE_CLAIM_LOCKED:
    case STORE_CLAIM_GRANTED:
        break;
    }
    scoreboard_upload(in->file_id, same_pool_token(up->writer));
    if (in->offset != c->offset)
        return stage_error(
            error_set(err, BU_E_OFFSET_MISMATCH, "Upload-Offset is %llu, the upload has %llu",
                      (unsigned long long)in->offset, (unsigned long long)c->offset));
    if (declared >= 0 && in->offset + (uint64_t)declared > c->size)
        return stage_error(error_set(err, BU_E_BEYOND_LENGTH,
                                     "the body goes past Upload-Length (%llu)",
                                     (unsigned long long)c->size));
    return STAGE_GO;
}

/* ---- open ---------------------------------------------------------------- */

/* All bytes were in and moved, but the worker died before the database
 * heard of it: finish that completion now, from the stored file.  A file
 * shorter than the upload was moved by a writer whose commit was refused
 * (it had lost the lock, and the holder had not finished): it goes back to
 * partial/ and the upload resumes (STAGE_GO). */
static enum upload_stage finish_left_over(struct upload *up, struct bu_error *err)
{
    char sha256[DIGEST_SHA256_HEX + 1];
    uint32_t crc32 = 0;
    uint64_t size;
    int fd, rc;

    fd = disk_open_final(up->req->cfg, up->in->file_id, &size);
    if (fd < 0)
        return stage_error(error_set(err, BU_E_STORAGE_ERROR, "the stored file cannot be read"));
    if (size < up->claim.size) {
        close(fd);
        if (disk_move_back(up->req->cfg, up->in->file_id) != 0)
            return stage_error(error_set(err, BU_E_STORAGE_ERROR, "the upload cannot be resumed"));
        log_warn("upload %s: an unfinished file was in files/ (a writer that lost the lock moved "
                 "it); it is resumed",
                 up->in->file_id);
        return STAGE_GO;
    }
    rc = hash_file(fd, up->claim.size, sha256, &crc32, err);
    close(fd);
    return rc != 0 || commit(up, sha256, crc32, err) != 0 ? STAGE_ERROR : STAGE_DONE;
}

/* The partial file must hold every byte the database counts: a shorter one
 * lost data (a lost write, a restore, an operator's mistake), and resuming
 * from it would fill the hole with zeros. */
static int check_partial(struct upload *up, struct bu_error *err)
{
    uint64_t size;

    if (disk_size(up->fd, &size) != 0)
        return error_set(err, BU_E_STORAGE_ERROR, "the upload cannot be opened");
    if (size >= up->in->offset)
        return 0;
    log_error("upload %s is damaged: its partial file has %lld bytes, the database counts %llu",
              up->in->file_id, (long long)size, (unsigned long long)up->in->offset);
    return error_set(err, BU_E_UPLOAD_DAMAGED,
                     "the stored part of this upload is shorter than its recorded offset "
                     "(%lld < %llu bytes): it cannot be resumed",
                     (long long)size, (unsigned long long)up->in->offset);
}

/* Open the partial file at the recorded offset; STAGE_DONE when a
 * left-over completion was finished instead. */
static enum upload_stage open_upload(struct upload *up, struct bu_error *err)
{
    const struct upload_request *in = up->in;
    const struct bu_config *cfg = up->req->cfg;

    if (disk_final_exists(cfg, in->file_id)) {
        enum upload_stage left = finish_left_over(up, err);
        if (left != STAGE_GO)
            return left;
    }
    up->fd = disk_open_partial(cfg, in->file_id, err);
    if (up->fd < 0 || check_partial(up, err) != 0)
        return STAGE_ERROR;
    up->direct_fd = disk_open_direct(cfg, in->file_id);
    up->durable = in->offset;
    if (disk_truncate(up->fd, in->offset) != 0)
        return stage_error(error_set(err, BU_E_STORAGE_ERROR, "the upload cannot be resumed"));
    up->written = in->offset;
    if (digest_begin(&up->whole, DIGEST_SHA256, true) != 0 ||
        (in->verify && digest_begin(&up->part, in->algo, false) != 0))
        return stage_error(error_set(err, BU_E_INTERNAL, "no hash context"));
    /* A resumed file's hash goes on from the state saved with its recorded
     * offset, or is rebuilt from the bytes on disk (top of file). */
    if (in->offset > 0 && !restore_state(up) &&
        hash_prefix(up->fd, in->offset, &up->whole, err) != 0)
        return STAGE_ERROR;
    up->verifying = in->verify;
    return STAGE_GO;
}

/* ---- stream -------------------------------------------------------------- */

/* What a step of the stream says: read on, the stream is over (up->end
 * says why), or an error (err says which). */
enum upload_flow { FLOW_ON, FLOW_OVER, FLOW_ERROR };

/* The slot's lease ran out under a writer that still holds the upload's
 * lock (a renewal came late: a pause, a slow database).  Nobody else has
 * written, so nothing is lost yet: the slot is claimed again, through the
 * same decision as any PATCH (batchup.claim_upload, under the user's lock),
 * and granted when the user's limit still has room for it, that is, when
 * nobody else wants it.  FLOW_ON: the slot is ours again; FLOW_OVER: it
 * is not (another file of the user took it: the request ends, what arrived
 * is kept). */
static enum upload_flow retake_slot(struct upload *up, struct bu_error *err)
{
    struct http_request *req = up->req;
    struct store_claim again;
    double asked = clock_now();

    if (store_claim_upload(req->db, err, req->cfg, up->in->file_id, req->user_id, NULL, up->writer,
                           "", &again) != 0)
        return FLOW_ERROR;
    if (again.result != STORE_CLAIM_GRANTED)
        return FLOW_OVER;
    up->lock_valid_until = asked + req->cfg->slot_lease_seconds - 1;
    return FLOW_ON;
}

/* Record what arrived (durable first), renewing the slot and the lock; a
 * lost lock, a lost slot that cannot be taken again, or a newer request's
 * "now", ends the stream.  Never the last byte before the completion has
 * checked the file: an upload recorded complete whose SHA-256 then fails
 * could neither complete nor take its last bytes again; with the last byte
 * in, the leases are renewed at the old offset (a client that pauses
 * before the end of its body keeps its slot too). */
static enum upload_flow record(struct upload *up, struct bu_error *err)
{
    struct store_renewal r = {.slot_held = true, .release = STORE_RELEASE_NONE};
    enum upload_flow again;

    if (keep(up, &r, up->written + up->pending != up->claim.size, err) != 0)
        return FLOW_ERROR;
    if (r.release == STORE_RELEASE_LOST) {
        up->end = UPLOAD_SLOT_LOST;
        return FLOW_OVER;
    }
    if (r.release == STORE_RELEASE_NOW) {
        up->end = UPLOAD_RELEASED;
        return FLOW_OVER;
    }
    if (!r.slot_held) {
        again = retake_slot(up, err);
        if (again != FLOW_ON)
            up->end = UPLOAD_SLOT_LOST;
        return again;
    }
    return FLOW_ON;
}

/* Our lease may have run out (the last renewal is older than the lease
 * allows for).  Before another byte is written, the database says whether
 * the lock is still ours, renewing it at the recorded offset: when it is,
 * nobody else wrote, and the bytes that arrived are kept (the next record
 * retakes the slot if it lapsed); when it is not, another request may be
 * writing, and the stream ends without them. */
static enum upload_flow still_ours(struct upload *up, struct bu_error *err)
{
    struct store_renewal r = {.slot_held = true, .release = STORE_RELEASE_NONE};
    int lease = up->req->cfg->slot_lease_seconds;
    double asked = clock_now();

    if (store_renew_upload(up->req->db, err, up->in->file_id, up->durable, lease, up->writer, &r) !=
        0)
        return FLOW_ERROR;
    if (r.release == STORE_RELEASE_LOST) {
        up->end = UPLOAD_SLOT_LOST;
        return FLOW_OVER;
    }
    up->lock_valid_until = asked + lease - 1;
    if (!r.slot_held)
        up->last_record = 0; /* record (and retake the slot) with these bytes */
    return FLOW_ON;
}

static enum upload_flow renew_if_due(struct upload *up, struct bu_error *err)
{
    if (clock_now() - up->last_record < up->req->cfg->slot_lease_seconds / 3.0)
        return FLOW_ON;
    return record(up, err);
}

/* The read stopped without bytes: another request woke it, a second of
 * silence passed, or the body ended.  A PATCH of the same upload (its
 * client moved on) makes it let go; a HEAD makes it record what arrived,
 * so that the offset the HEAD reports is the one to resume from, and go on
 * (a live upload on a slow link is never cut by a HEAD).  FLOW_OVER with
 * up->end set. */
static enum upload_flow after_pause(struct upload *up, struct bu_error *err)
{
    struct fcgi_conn *c = up->req->conn;
    enum store_release asked = STORE_RELEASE_NONE;
    enum upload_flow go;

    if (c->end == FCGI_END_WOKEN) {
        enum scoreboard_release r = scoreboard_take_release();
        asked = r == SB_RELEASE_NOW ? STORE_RELEASE_NOW
                : r == SB_RECORD    ? STORE_RECORD
                                    : STORE_RELEASE_NONE;
    } else if (c->end == FCGI_END_TICK &&
               clock_now() - up->last_record >= up->req->cfg->slot_lease_seconds / 3.0) {
        /* A pause in the body: the leases are renewed on the tick as while
         * bytes flow (the renewal also says what a newer request asked),
         * so a client that pauses longer than the lease keeps its slot. */
        go = record(up, err);
        if (go != FLOW_ON)
            return go;
        fcgi_resume(c);
        return FLOW_ON;
    } else if (c->end == FCGI_END_TICK && store_release_requested(up->req->db, err, up->in->file_id,
                                                                  up->writer, &asked) != 0) {
        return FLOW_ERROR;
    } else if (c->end != FCGI_END_WOKEN && c->end != FCGI_END_TICK) {
        up->end = up->req->body_aborted ? UPLOAD_CUT : UPLOAD_CLEAN;
        return FLOW_OVER;
    }
    if (asked == STORE_RELEASE_NOW || asked == STORE_RELEASE_LOST) {
        up->end = asked == STORE_RELEASE_LOST ? UPLOAD_SLOT_LOST : UPLOAD_RELEASED;
        return FLOW_OVER;
    }
    if (asked == STORE_RECORD) {
        go = record(up, err);
        scoreboard_recorded();
        if (go != FLOW_ON)
            return go;
    }
    fcgi_resume(c);
    return FLOW_ON;
}

/* Move the body to the partial file until it ends (up->end says how):
 * each read lands in stream_buf behind the bytes still pending, which are
 * written when the buffer is full, when what arrived is recorded (keep),
 * and when the body ends.  Never once the lease may have run out without
 * asking first (still_ours): when the lock is no longer ours the pending
 * bytes are dropped, another request may be writing.  0, or -1 on a
 * storage or database error. */
static int stream(struct upload *up, struct bu_error *err)
{
    struct fcgi_conn *c = up->req->conn;
    bool full;
    enum upload_flow go = FLOW_ON;

    c->tick = TICK;
    up->last_record = up->flushed_at = clock_now();
    while (go == FLOW_ON) {
        unsigned char *to = stream_buf + up->written % DIRECT_ALIGN + up->pending;
        size_t room = UPLOAD_BUFFER - up->pending;
        ssize_t n = http_read(up->req, to, room < READ_PIECE ? room : READ_PIECE);
        if (n <= 0) {
            go = after_pause(up, err);
            continue;
        }
        if (up->written + up->pending + (uint64_t)n > up->claim.size) {
            up->end = UPLOAD_OVER;
            break;
        }
        if (clock_now() >= up->lock_valid_until && (go = still_ours(up, err)) != FLOW_ON)
            break;
        feed(up, to, (size_t)n);
        up->pending += (size_t)n;
        METRICS_ADD(bytes_received, (uint64_t)n);
        scoreboard_bytes(c->bytes_in, 0);
        /* A fast body fills the buffer at once; a slow one's bytes reach
         * the file within FLUSH_AFTER, as they come. */
        full = up->pending == UPLOAD_BUFFER;
        if ((full || clock_now() - up->flushed_at >= FLUSH_AFTER) && flush(up, !full, err) != 0)
            go = FLOW_ERROR;
        else
            go = renew_if_due(up, err);
    }
    c->tick = 0;
    if (go == FLOW_ERROR || up->end == UPLOAD_SLOT_LOST) {
        up->pending = 0; /* unrecorded: a resume starts before them anyway */
        return go == FLOW_ERROR ? -1 : 0;
    }
    return flush(up, true, err);
}

/* ---- settle -------------------------------------------------------------- */

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
    if (up->end != UPLOAD_CLEAN)
        return error_set(err, BU_E_BODY_INCOMPLETE,
                         "the body ended early; nothing of it was kept (it had a checksum)");
    return error_set(err, BU_E_CHECKSUM_MISMATCH,
                     "the body does not match Upload-Checksum; nothing of it was kept");
}

/* The last byte is in: the file's digest, then the commit.  A file that
 * does not match the SHA-256 announced for it keeps nothing of this request
 * (not even what a renewal recorded meanwhile is lost: the recorded offset
 * stays, the bytes past it go), so the client can send it again. */
static int complete(struct upload *up, struct bu_error *err)
{
    char sha256[DIGEST_SHA256_HEX + 1];
    uint32_t crc32 = up->whole.crc32;
    unsigned char md[DIGEST_MAX];
    size_t len = digest_end(&up->whole, md);

    /* After overruling a holder taken for gone, the file is hashed as it
     * is on disk: should that holder have written after all, what is
     * recorded is still what is stored. */
    if (len > 0 && !up->overruled)
        digest_hex(md, len, sha256);
    else if (hash_file(up->fd, up->claim.size, sha256, &crc32, err) != 0)
        return -1;
    if (commit(up, sha256, crc32, err) == 0)
        return 0;
    if (err->id == BU_E_CHECKSUM_MISMATCH) {
        cut_back(up, up->durable);
        up->res->offset = up->durable;
    }
    return -1;
}

/* The answer for a body that ended before the upload's end. */
static int ended_early(struct upload *up, struct bu_error *err)
{
    unsigned long long kept = up->durable;

    switch (up->end) {
    case UPLOAD_CUT:
        return error_set(err, BU_E_BODY_INCOMPLETE, "the body ended early; %llu bytes are kept",
                         kept);
    case UPLOAD_SLOT_LOST:
        METRICS_ADD(slot_waits, 1);
        return error_set(err, BU_E_SLOT_UNAVAILABLE,
                         "the upload lost its slot (lease expired); %llu bytes are kept, retry",
                         kept);
    case UPLOAD_RELEASED:
        return error_set(err, BU_E_UPLOAD_LOCKED,
                         "a newer request took this upload over; %llu bytes are kept", kept);
    case UPLOAD_CLEAN:
    case UPLOAD_OVER:
        break;
    }
    return 0;
}

static int settle(struct upload *up, struct bu_error *err)
{
    struct store_renewal r;

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
    case UPLOAD_RELEASED:
        if (verify_body(up, err) != 0)
            return -1;
        if (up->written == up->claim.size && up->end != UPLOAD_SLOT_LOST)
            return complete(up, err);
        if (up->written != up->durable && up->end != UPLOAD_SLOT_LOST &&
            keep(up, &r, true, err) != 0)
            return -1;
        up->res->offset = up->durable;
        break;
    }
    return ended_early(up, err);
}

/* ---- close --------------------------------------------------------------- */

static void close_upload(struct upload *up)
{
    struct bu_error err;

    if (up->locked && store_release_upload(up->req->db, &err, up->in->file_id, up->writer) != 0)
        log_warn("upload %s: the lock could not be released (it lapses with its lease): %s",
                 up->in->file_id, err.message);
    scoreboard_upload("", "");
    digest_free(&up->whole);
    digest_free(&up->part);
    if (up->fd >= 0)
        close(up->fd);
    if (up->direct_fd >= 0)
        close(up->direct_fd);
}

void upload_record_writer(struct http_request *req, const char *file_id)
{
    char holder[STORE_WRITER_MAX + 1];
    const char *token;
    struct bu_error err;
    struct timespec pause = {0, 20L * 1000 * 1000};
    unsigned before;
    double deadline = clock_now() + TAKEOVER_WAIT;

    if (store_upload_writer(req->db, &err, file_id, req->user_id, holder, sizeof holder) != 1)
        return;
    token = same_pool_token(holder);
    if (token == NULL || !scoreboard_ask(token, SB_RECORD, &before))
        return;
    while (clock_now() < deadline && !scoreboard_recorded_since(token, before))
        nanosleep(&pause, NULL);
}

int upload_receive(struct http_request *req, const struct upload_request *in,
                   struct upload_result *res, struct bu_error *err)
{
    struct upload up = {.req = req, .in = in, .res = res, .fd = -1, .direct_fd = -1};
    enum upload_stage stage;

    memset(res, 0, sizeof *res);
    stage = admit(&up, err);
    /* A final upload's bytes are its partials' (tus concatenation): tus
     * answers a PATCH of it 403. */
    if (up.claim.final)
        stage = stage_error(error_set(err, BU_E_UPLOAD_IS_FINAL,
                                      "this is a final upload (Upload-Concat: final): its bytes "
                                      "come from its partial uploads, not from a PATCH"));
    /* The slot is granted: a body may hold the worker from here, within
     * the uploads' share of the pool (a claim, with no body, is short). */
    if (stage == STAGE_GO && req->content_length != 0 && !up.admitted &&
        routes_admit(req, SB_CLASS_UPLOAD, err) != 0)
        stage = STAGE_ERROR;
    if (stage == STAGE_GO)
        stage = open_upload(&up, err);
    if (stage == STAGE_GO && (stream(&up, err) != 0 || settle(&up, err) != 0))
        stage = STAGE_ERROR;
    close_upload(&up);
    return stage == STAGE_ERROR ? -1 : 0;
}

/* ---- assemble: a final upload of tus concatenation ---------------------- */

/* Between the parts of a final, its slot and lock are renewed (at offset
 * 0: nothing of it is recorded before its commit), so that a long
 * assembly keeps them as a long stream does; a lock taken over meanwhile
 * ends it.  0, or -1 (err). */
static int renew_final(struct upload *up, struct bu_error *err)
{
    struct store_renewal r = {.slot_held = true, .release = STORE_RELEASE_NONE};

    if (store_renew_upload(up->req->db, err, up->in->file_id, 0, up->req->cfg->slot_lease_seconds,
                           up->writer, &r) != 0)
        return -1;
    if (r.release == STORE_RELEASE_LOST)
        return error_set(err, BU_E_UPLOAD_LOCKED,
                         "another request took this final upload over; retry its creation");
    return 0;
}

/* The final's bytes are its partials', in order: copied into its partial
 * file (disk_concat_part: copy_file_range where the file system allows), then
 * read once for the SHA-256 and CRC-32.  Reading the copy, rather than the
 * parts while writing it by hand, keeps the copy in the kernel (no byte
 * through user space; a file system that shares extents copies nothing),
 * and the one read that hashing needs is a read either way.  Then the
 * same commit as a streamed file: fsync, rename into files/, fsync of the
 * directory, batchup.complete_file (which deletes the partials' rows in
 * its transaction).  0, or -1 (err). */
static int assemble(struct upload *up, const char *const *parts, size_t n, struct bu_error *err)
{
    const struct bu_config *cfg = up->req->cfg;
    char sha256[DIGEST_SHA256_HEX + 1];
    uint32_t crc32 = 0;
    uint64_t size = 0;

    if (disk_final_exists(cfg, up->in->file_id)) {
        enum upload_stage left = finish_left_over(up, err);
        if (left != STAGE_GO)
            return left == STAGE_ERROR ? -1 : 0;
    }
    up->fd = disk_concat_open(cfg, up->in->file_id, err);
    if (up->fd < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (disk_concat_part(cfg, up->fd, parts[i], &up->written, stream_buf, UPLOAD_BUFFER, err) !=
                0 ||
            renew_final(up, err) != 0)
            return -1;
    if (disk_size(up->fd, &size) != 0 || size != up->claim.size)
        return error_set(err, BU_E_UPLOAD_DAMAGED,
                         "the partial uploads hold %llu bytes, not the %llu recorded for them",
                         (unsigned long long)size, (unsigned long long)up->claim.size);
    up->written = up->claim.size;
    if (hash_file(up->fd, up->claim.size, sha256, &crc32, err) != 0)
        return -1;
    return commit(up, sha256, crc32, err);
}

int upload_assemble(struct http_request *req, const struct upload_request *in,
                    const char *const *parts, size_t n, struct upload_result *res,
                    struct bu_error *err)
{
    struct upload up = {.req = req, .in = in, .res = res, .fd = -1, .direct_fd = -1};
    enum upload_stage stage;

    memset(res, 0, sizeof *res);
    stage = admit(&up, err);
    /* Assembling is a stream's work on the disk: within the uploads'
     * share of the pool, as a body is. */
    if (stage == STAGE_GO && ((!up.admitted && routes_admit(req, SB_CLASS_UPLOAD, err) != 0) ||
                              assemble(&up, parts, n, err) != 0))
        stage = STAGE_ERROR;
    close_upload(&up);
    if (stage != STAGE_ERROR && res->completed) {
        /* The final committed, and its partials' rows with it: their data
         * goes now (after a crash here, the orphan sweep removes it). */
        for (size_t i = 0; i < n; i++)
            disk_remove(req->cfg, parts[i]);
    }
    return stage == STAGE_ERROR ? -1 : 0;
}
