/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fcgi.c - one FastCGI connection, read and written by batchup itself.
 *
 * Why not libfcgi's request functions: FCGX_Accept_r blocks in read(2) for
 * as long as the web server (or any local process that can connect) likes,
 * and its input stream copies every body byte through an 8 KiB buffer.  A
 * worker held by a silent connection is a worker nobody else can have, so
 * here every wait is a poll(2) with a deadline:
 *
 *   the request head   BEGIN_REQUEST and every PARAMS record must arrive
 *                      within header_timeout of the accept;
 *   the body           no byte for body_timeout ends it, and so does a
 *                      trickle: fewer than body_min_rate bytes a second on
 *                      average over a rate_window;
 *   the response       send_min_rate on average since its first byte:
 *                      the web server may take nothing for a while (nginx
 *                      drains an unbuffered response in large gulps), as
 *                      long as what it took is ahead of that average, plus
 *                      send_timeout of grace; once behind, send_timeout
 *                      without progress ends it (see send_deadline).
 *
 * The socket is non-blocking; a read or write is tried first and poll(2) is
 * only asked when it would block, so a fast connection pays nothing for the
 * deadlines.  The deadlines are absolute all the same: they are also looked
 * at after every record, so a peer that never lets a read block (records of
 * another request id, management records, anything after the response)
 * cannot hold the worker past them.  Body bytes are read straight into the
 * caller's buffer, with the padding and header of the next record gathered
 * by the same readv(2).
 *
 * The protocol (FastCGI 1.0): management records (request id 0) are
 * answered (GET_VALUES: one connection, one request, no multiplexing;
 * anything else UNKNOWN_TYPE); a second BEGIN_REQUEST on the connection is
 * refused with CANT_MPX_CONN, a role other than RESPONDER with
 * UNKNOWN_ROLE; records of other request ids are skipped; ABORT_REQUEST
 * ends the body.  Params are bounded (FCGI_PARAMS_MAX).
 *
 * The record format itself (headers, name-value pairs) is encoded and
 * decoded by the fcgi_header_* and fcgi_pair_* functions at the top, the
 * only code that knows its bytes: `batchup status` and the benchmark's
 * floor use them too.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "batchup/clock.h"
#include "batchup/fcgi.h"

#define FCGI_PARAMS_MAX ((size_t)256 * 1024) /* bytes of encoded params */
#define FCGI_SLICE 0.1                       /* a slow body is handed over every 100 ms */
#define FCGI_LINGER 2.0                      /* seconds to read what comes after the response */

/* ---- waiting -------------------------------------------------------- */

/* How a wait for the socket ended. */
enum fcgi_wait {
    WAIT_READY,    /* the socket is ready for the events */
    WAIT_DEADLINE, /* the deadline passed first */
    WAIT_WOKEN,    /* the wake descriptor became readable (when wakeable) */
    WAIT_ERROR,    /* poll failed */
};

/* Wait until the socket is ready for events, or the deadline passes, or
 * (when wakeable) the wake descriptor is readable. */
static enum fcgi_wait wait_fd(const struct fcgi_conn *c, short events, double deadline,
                              bool wakeable)
{
    for (;;) {
        struct pollfd p[2] = {{.fd = c->fd, .events = events},
                              {.fd = c->wake_fd, .events = POLLIN}};
        int nfds = wakeable && c->wake_fd >= 0 ? 2 : 1, n;
        double left = deadline - clock_now();

        if (left <= 0)
            return WAIT_DEADLINE;
        n = poll(p, (nfds_t)nfds, left > 3600 ? 3600000 : (int)(left * 1000) + 1);
        if (n < 0 && errno != EINTR)
            return WAIT_ERROR;
        if (n > 0 && nfds == 2 && p[1].revents != 0)
            return WAIT_WOKEN;
        if (n > 0)
            return WAIT_READY;
    }
}

/* Read exactly len bytes before the deadline: 0, or -1. */
static int read_exact(struct fcgi_conn *c, void *buf, size_t len, double deadline)
{
    size_t got = 0;

    while (got < len) {
        ssize_t n = read(c->fd, (char *)buf + got, len - got);
        if (n > 0) {
            got += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK) ||
            wait_fd(c, POLLIN, deadline, false) != WAIT_READY)
            return -1;
    }
    return 0;
}

/* Over each rate window, at least min_rate bytes a second on average:
 * false when a window ended below it.  The window starts with the first
 * byte it measures. */
static bool window_ok(struct fcgi_window *w, double min_rate, double window, double now)
{
    bool ok = true;

    if (w->start == 0)
        w->start = now;
    if (min_rate <= 0 || now - w->start < window)
        return true;
    ok = (double)w->bytes >= min_rate * window;
    w->start = now;
    w->bytes = 0;
    return ok;
}

/* The response's schedule: when an average of send_min_rate since its
 * first byte would have sent what was sent, plus send_timeout of grace.  A
 * reader that takes at least send_min_rate bytes a second on average is
 * never cut, however unevenly it takes them: the socket may stay full until
 * the schedule, or send_timeout after the last progress when that is later.
 * (Over a window of its own, as the body is measured, a web server that
 * took 256 KiB at once and then nothing while its reader caught up would
 * be cut although the average was far above the rate.) */
static double send_schedule(const struct fcgi_conn *c)
{
    return c->send.start + (double)c->send.bytes / c->lim->send_min_rate + c->lim->send_timeout;
}

static double send_deadline(const struct fcgi_conn *c, double last)
{
    double idle = last + c->lim->send_timeout, schedule;

    if (c->lim->send_min_rate <= 0)
        return idle;
    schedule = send_schedule(c);
    return schedule > idle ? schedule : idle;
}

/* Has the reader fallen behind send_min_rate on average, beyond the grace
 * of send_timeout?  Asked whenever the socket is full: a reader that keeps
 * taking a little but too little is cut, even though it never idles. */
static bool send_behind(const struct fcgi_conn *c)
{
    return c->lim->send_min_rate > 0 && clock_now() > send_schedule(c);
}

/* Write every byte of iov before send_deadline passes and, while the
 * request head is read (an answer to a management record), before the
 * head's own deadline: 0, or -1 (c->broken). */
static int write_iov(struct fcgi_conn *c, struct iovec *iov, int n)
{
    double last = clock_now(), until;

    if (c->send.start == 0)
        c->send.start = last;
    while (n > 0 && !c->broken) {
        ssize_t w = writev(c->fd, iov, n);
        if (w > 0) {
            last = clock_now();
            c->send.bytes += (uint64_t)w;
            while (n > 0 && (size_t)w >= iov->iov_len) {
                w -= (ssize_t)iov->iov_len;
                iov++;
                n--;
            }
            if (n > 0) {
                iov->iov_base = (char *)iov->iov_base + w;
                iov->iov_len -= (size_t)w;
            }
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        /* Broken, or the reader fell behind send_min_rate on average, or
         * took nothing until send_deadline (or the head's deadline). */
        until = send_deadline(c, last);
        if (c->head_deadline > 0 && c->head_deadline < until)
            until = c->head_deadline;
        if (w == 0 || (errno != EAGAIN && errno != EWOULDBLOCK) || send_behind(c) ||
            wait_fd(c, POLLOUT, until, false) != WAIT_READY)
            c->broken = true;
    }
    return c->broken ? -1 : 0;
}

/* ---- the record format ---------------------------------------------- */

void fcgi_header_put(FCGI_Header *h, int type, uint16_t id, size_t len, size_t pad)
{
    assert(len <= FCGI_MAX_LENGTH && pad <= 255);
    memset(h, 0, sizeof *h);
    h->version = FCGI_VERSION_1;
    h->type = (unsigned char)type;
    h->requestIdB1 = (unsigned char)(id >> 8);
    h->requestIdB0 = (unsigned char)id;
    h->contentLengthB1 = (unsigned char)(len >> 8);
    h->contentLengthB0 = (unsigned char)len;
    h->paddingLength = (unsigned char)pad;
}

size_t fcgi_header_length(const FCGI_Header *h)
{
    return (size_t)h->contentLengthB1 << 8 | h->contentLengthB0;
}

uint16_t fcgi_header_id(const FCGI_Header *h)
{
    return (uint16_t)(h->requestIdB1 << 8 | h->requestIdB0);
}

#define FCGI_PAIR_LEN_MAX ((size_t)0x7fffffff) /* four bytes, the top bit a flag */

/* One length of a pair: one byte under 128, else four with the top bit set. */
static size_t pair_length_size(size_t len)
{
    return len < 0x80 ? 1 : 4;
}

static unsigned char *pair_length_put(unsigned char *p, size_t len)
{
    if (len < 0x80) {
        *p++ = (unsigned char)len;
        return p;
    }
    *p++ = (unsigned char)(0x80 | len >> 24);
    *p++ = (unsigned char)(len >> 16);
    *p++ = (unsigned char)(len >> 8);
    *p++ = (unsigned char)len;
    return p;
}

size_t fcgi_pair_size(size_t name_len, size_t value_len)
{
    return pair_length_size(name_len) + pair_length_size(value_len) + name_len + value_len;
}

size_t fcgi_pair_put(unsigned char *buf, size_t cap, const void *name, size_t name_len,
                     const void *value, size_t value_len)
{
    unsigned char *p = buf;

    if (name_len > FCGI_PAIR_LEN_MAX || value_len > FCGI_PAIR_LEN_MAX ||
        fcgi_pair_size(name_len, value_len) > cap)
        return 0;
    p = pair_length_put(p, name_len);
    p = pair_length_put(p, value_len);
    memcpy(p, name, name_len);
    memcpy(p + name_len, value, value_len);
    return (size_t)(p - buf) + name_len + value_len;
}

/* A length of a name-value pair, read: one byte, or four with the top bit set. */
static int pair_length(const unsigned char **p, const unsigned char *end, size_t *len)
{
    if (*p >= end)
        return -1;
    if (**p < 0x80) {
        *len = *(*p)++;
        return 0;
    }
    if (end - *p < 4)
        return -1;
    *len = (size_t)((*p)[0] & 0x7f) << 24 | (size_t)(*p)[1] << 16 | (size_t)(*p)[2] << 8 | (*p)[3];
    *p += 4;
    return 0;
}

int fcgi_decode_pairs(const unsigned char *buf, size_t len,
                      int (*each)(const unsigned char *name, size_t name_len,
                                  const unsigned char *value, size_t value_len, void *ctx),
                      void *ctx)
{
    /* An empty record may come with no buffer at all: NULL + 0 is undefined. */
    const unsigned char *p = buf, *end = len > 0 ? buf + len : buf;

    while (p < end) {
        size_t nlen, vlen;
        if (pair_length(&p, end, &nlen) != 0 || pair_length(&p, end, &vlen) != 0 ||
            nlen > (size_t)(end - p) || vlen > (size_t)(end - p) - nlen)
            return -1;
        if (each(p, nlen, p + nlen, vlen, ctx) != 0)
            return -1;
        p += nlen + vlen;
    }
    return 0;
}

/* ---- records -------------------------------------------------------- */

/* One record: header and content in one writev. */
static int put_record(struct fcgi_conn *c, int type, uint16_t id, const void *buf, size_t len)
{
    FCGI_Header h;
    struct iovec iov[2] = {{&h, sizeof h}, {(void *)buf, len}};

    fcgi_header_put(&h, type, id, len, 0);
    return write_iov(c, iov, len > 0 ? 2 : 1);
}

static int end_request(struct fcgi_conn *c, uint16_t id, unsigned char protocol_status)
{
    FCGI_EndRequestBody body = {.protocolStatus = protocol_status};

    return put_record(c, FCGI_END_REQUEST, id, &body, sizeof body);
}

/* Read and drop len bytes. */
static int skip(struct fcgi_conn *c, size_t len, double deadline)
{
    unsigned char scratch[4096];

    while (len > 0) {
        size_t n = len > sizeof scratch ? sizeof scratch : len;
        if (read_exact(c, scratch, n, deadline) != 0)
            return -1;
        len -= n;
    }
    return 0;
}

/* ---- params --------------------------------------------------------- */

/* Params are kept as "name\0value\0"; a name or value holding a NUL byte
 * could not be looked up, and is refused. */
struct params_out {
    char *buf;
    size_t used;
    size_t n;
};

static int store_pair(const unsigned char *name, size_t nlen, const unsigned char *value,
                      size_t vlen, void *ctx)
{
    struct params_out *o = ctx;

    if (memchr(name, 0, nlen) != NULL || memchr(value, 0, vlen) != NULL)
        return -1;
    memcpy(o->buf + o->used, name, nlen);
    o->buf[o->used + nlen] = '\0';
    o->used += nlen + 1;
    memcpy(o->buf + o->used, value, vlen);
    o->buf[o->used + vlen] = '\0';
    o->used += vlen + 1;
    o->n++;
    return 0;
}

const char *fcgi_param(const struct fcgi_conn *c, const char *name)
{
    const char *p = c->params;

    for (size_t i = 0; i < c->nparams; i++) {
        const char *value = p + strlen(p) + 1;
        if (strcmp(p, name) == 0)
            return value;
        p = value + strlen(value) + 1;
    }
    return NULL;
}

/* ---- the request head ----------------------------------------------- */

/* What GET_VALUES may ask, and our answers: one connection, one request
 * on it, no multiplexing. */
static const struct {
    const char *name, *value;
} fcgi_values[] = {
    {FCGI_MAX_CONNS, "1"},
    {FCGI_MAX_REQS, "1"},
    {FCGI_MPXS_CONNS, "0"},
};

#define FCGI_NVALUES (sizeof fcgi_values / sizeof fcgi_values[0])

/* The GET_VALUES_RESULT being built: each variable asked for that we know,
 * once (so the answer stays small whatever the question repeats). */
struct values_out {
    unsigned char buf[128];
    size_t used;
    bool done[FCGI_NVALUES];
};

static int answer_value(const unsigned char *name, size_t nlen, const unsigned char *value,
                        size_t vlen, void *ctx)
{
    struct values_out *o = ctx;

    (void)value;
    (void)vlen;
    for (size_t i = 0; i < FCGI_NVALUES; i++) {
        const char *n = fcgi_values[i].name, *v = fcgi_values[i].value;
        if (o->done[i] || nlen != strlen(n) || memcmp(name, n, nlen) != 0)
            continue;
        o->done[i] = true;
        o->used +=
            fcgi_pair_put(o->buf + o->used, sizeof o->buf - o->used, n, strlen(n), v, strlen(v));
    }
    return 0;
}

/* Answer a management record (request id 0): GET_VALUES with the
 * variables asked for that we know (none, when the query is malformed);
 * any other type with UNKNOWN_TYPE. */
static int management(struct fcgi_conn *c, const FCGI_Header *h, double deadline)
{
    static unsigned char query[FCGI_MAX_LENGTH];
    size_t len = fcgi_header_length(h);
    FCGI_UnknownTypeBody unknown = {.type = h->type};
    struct values_out o = {.used = 0};

    if (h->type != FCGI_GET_VALUES) {
        if (skip(c, len + h->paddingLength, deadline) != 0)
            return -1;
        return put_record(c, FCGI_UNKNOWN_TYPE, 0, &unknown, sizeof unknown);
    }
    if (read_exact(c, query, len, deadline) != 0 || skip(c, h->paddingLength, deadline) != 0)
        return -1;
    if (fcgi_decode_pairs(query, len, answer_value, &o) != 0)
        o.used = 0;
    return put_record(c, FCGI_GET_VALUES_RESULT, 0, o.buf, o.used);
}

/* What became of a BEGIN_REQUEST. */
enum fcgi_begin_result {
    BEGIN_TAKEN,   /* the request of this connection */
    BEGIN_REFUSED, /* another id while we have one: answered CANT_MPX_CONN, read on */
    BEGIN_FAILED,  /* malformed, a role we do not play, or the socket failed */
};

static enum fcgi_begin_result begin_request(struct fcgi_conn *c, const FCGI_Header *h, bool have,
                                            double deadline)
{
    FCGI_BeginRequestBody body;

    if (fcgi_header_length(h) != sizeof body || read_exact(c, &body, sizeof body, deadline) != 0 ||
        skip(c, h->paddingLength, deadline) != 0)
        return BEGIN_FAILED;
    if (have)
        return end_request(c, fcgi_header_id(h), FCGI_CANT_MPX_CONN) == 0 ? BEGIN_REFUSED
                                                                          : BEGIN_FAILED;
    if ((body.roleB1 << 8 | body.roleB0) != FCGI_RESPONDER) {
        end_request(c, fcgi_header_id(h), FCGI_UNKNOWN_ROLE);
        return BEGIN_FAILED;
    }
    c->id = fcgi_header_id(h);
    return BEGIN_TAKEN;
}

/* Turn the encoded params into "name\0value\0" pairs. */
static int decode_params(struct fcgi_conn *c, const unsigned char *raw, size_t len)
{
    struct params_out o = {.buf = malloc(len + 1)};

    if (o.buf == NULL || fcgi_decode_pairs(raw, len, store_pair, &o) != 0) {
        free(o.buf);
        return -1;
    }
    c->params = o.buf;
    c->nparams = o.n;
    return 0;
}

/* Read records up to the end of the params. */
static enum fcgi_head read_head(struct fcgi_conn *c, double deadline)
{
    unsigned char *raw = NULL;
    size_t used = 0;
    bool have = false;
    enum fcgi_head why = FCGI_HEAD_TIMEOUT;

    for (;;) {
        FCGI_Header h;
        size_t len;
        why = FCGI_HEAD_TIMEOUT;
        /* Checked after every record too: a peer whose records keep
         * coming (GET_VALUES, another request id) never lets a read block. */
        if (clock_now() >= deadline || read_exact(c, &h, sizeof h, deadline) != 0)
            break;
        len = fcgi_header_length(&h);
        why = FCGI_HEAD_NOT_FCGI;
        if (h.version != FCGI_VERSION_1)
            break;
        if (fcgi_header_id(&h) == FCGI_NULL_REQUEST_ID) {
            if (management(c, &h, deadline) != 0)
                break;
        } else if (h.type == FCGI_BEGIN_REQUEST) {
            enum fcgi_begin_result r = begin_request(c, &h, have, deadline);
            why = FCGI_HEAD_BAD_BEGIN;
            if (r == BEGIN_FAILED)
                break;
            have = have || r == BEGIN_TAKEN;
        } else if (h.type == FCGI_PARAMS && have && fcgi_header_id(&h) == c->id && len == 0) {
            why = skip(c, h.paddingLength, deadline) == 0 && decode_params(c, raw, used) == 0
                      ? FCGI_HEAD_OK
                      : FCGI_HEAD_BAD_PARAMS;
            break;
        } else if (h.type == FCGI_PARAMS && have && fcgi_header_id(&h) == c->id) {
            unsigned char *bigger = used + len <= FCGI_PARAMS_MAX ? realloc(raw, used + len) : NULL;
            why = FCGI_HEAD_PARAMS_TOO_LARGE;
            if (bigger == NULL)
                break;
            raw = bigger;
            if (read_exact(c, raw + used, len, deadline) != 0 ||
                skip(c, h.paddingLength, deadline) != 0)
                break;
            used += len;
        } else if (h.type == FCGI_ABORT_REQUEST && have && fcgi_header_id(&h) == c->id) {
            why = FCGI_HEAD_ABORTED;
            break;
        } else if (skip(c, len + h.paddingLength, deadline) != 0) {
            break;
        }
    }
    free(raw);
    return why;
}

const char *fcgi_head_name(enum fcgi_head head)
{
    static const char *const names[] = {
        [FCGI_HEAD_OK] = "a request",
        [FCGI_HEAD_TIMEOUT] = "no complete request head in time (or the connection closed)",
        [FCGI_HEAD_NOT_FCGI] = "not a FastCGI record",
        [FCGI_HEAD_BAD_BEGIN] = "a BEGIN_REQUEST this server cannot take",
        [FCGI_HEAD_BAD_PARAMS] = "malformed params",
        [FCGI_HEAD_PARAMS_TOO_LARGE] = "params larger than the limit",
        [FCGI_HEAD_ABORTED] = "the web server aborted the request",
    };

    return (size_t)head < sizeof names / sizeof names[0] ? names[head] : "?";
}

enum fcgi_head fcgi_begin(struct fcgi_conn *c, int fd, const struct fcgi_limits *lim)
{
    double start = clock_now();
    enum fcgi_head head = FCGI_HEAD_TIMEOUT;

    memset(c, 0, sizeof *c);
    c->fd = fd;
    c->wake_fd = -1;
    c->lim = lim;
    c->head_deadline = start + lim->header_timeout;
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0 ||
        (head = read_head(c, c->head_deadline)) != FCGI_HEAD_OK) {
        close(fd);
        free(c->params);
        c->params = NULL;
        c->fd = -1;
        return head;
    }
    c->head_deadline = 0;
    return FCGI_HEAD_OK;
}

/* ---- the body ------------------------------------------------------- */

/* Parse the record header staged after the content just read. */
static void next_record(struct fcgi_conn *c)
{
    const FCGI_Header *h = (const FCGI_Header *)(c->hdr + c->pad_left);

    c->type = h->type;
    c->content_left = fcgi_header_length(h);
    c->pad_left = h->paddingLength;
    c->hdr_have = 0;
    if (fcgi_header_id(h) != c->id)
        c->type = -1; /* another request's record: its content is skipped */
    else if (h->type == FCGI_ABORT_REQUEST)
        c->end = FCGI_END_ABORTED;
    else if (h->type == FCGI_STDIN && c->content_left == 0)
        c->end = FCGI_END_CLEAN;
}

/* One readv: body content into buf (when the record is STDIN), the padding
 * and next header into c->hdr.  Returns the body bytes delivered (0 when
 * only the record framing progressed), -1 would block, -2 closed. */
static ssize_t read_once(struct fcgi_conn *c, unsigned char *buf, size_t cap)
{
    unsigned char scratch[4096];
    size_t trailer = c->pad_left + FCGI_HEADER_LEN - c->hdr_have, want;
    struct iovec iov[2];
    int n = 0;
    ssize_t got;
    bool body = c->type == FCGI_STDIN, to_the_end = true;

    if (c->content_left > 0) {
        want = c->content_left;
        if (!body)
            want = want > sizeof scratch ? sizeof scratch : want;
        else if (want > cap)
            want = cap;
        iov[n++] = (struct iovec){body ? buf : scratch, want};
        to_the_end = want == c->content_left;
    }
    /* When this read can finish the record, it also takes the padding and
     * the next header: one system call a record. */
    if (to_the_end)
        iov[n++] = (struct iovec){c->hdr + c->hdr_have, trailer};
    got = readv(c->fd, iov, n);
    if (got < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? -1 : -2;
    if (got == 0)
        return -2;
    want = (size_t)got < c->content_left ? (size_t)got : c->content_left;
    c->content_left -= want;
    c->hdr_have += (size_t)got - want;
    if (c->content_left == 0 && c->hdr_have == c->pad_left + FCGI_HEADER_LEN)
        next_record(c);
    return body ? (ssize_t)want : 0;
}

/* How long the read may wait for the next byte: the body's idle deadline,
 * or the caller's tick, whichever comes first. */
static double next_deadline(const struct fcgi_conn *c, bool *is_tick)
{
    double idle = c->last_byte + c->lim->body_timeout;

    *is_tick = c->tick > 0 && c->tick_base + c->tick < idle;
    return *is_tick ? c->tick_base + c->tick : idle;
}

/* After a read that brought no body byte (only framing, or records of
 * another request), the deadlines are checked as if the read had blocked:
 * true when the read must stop (a slice to hand over, or c->end set). */
static bool overdue(struct fcgi_conn *c, double t0, size_t got)
{
    double now = clock_now();
    bool is_tick = false;

    if (got > 0)
        return now - t0 >= FCGI_SLICE;
    if (now < next_deadline(c, &is_tick))
        return false;
    c->end = is_tick ? FCGI_END_TICK : FCGI_END_IDLE;
    return true;
}

ssize_t fcgi_read(struct fcgi_conn *c, void *buf, size_t cap)
{
    double t0 = clock_now();
    size_t got = 0;

    if (c->recv.start == 0)
        c->recv.start = c->last_byte = c->tick_base = t0;
    while (got < cap && c->end == FCGI_END_NONE) {
        ssize_t n = read_once(c, (unsigned char *)buf + got, cap - got);
        bool is_tick = false;
        enum fcgi_wait w;
        if (n >= 0) {
            got += (size_t)n;
            if (n > 0)
                c->last_byte = c->tick_base = clock_now();
            else if (overdue(c, t0, got))
                break;
            continue;
        }
        if (n == -2) {
            c->end = FCGI_END_CLOSED;
            break;
        }
        /* Nothing more yet: hand over what arrived, at most 100 ms late. */
        if (got > 0 && clock_now() - t0 >= FCGI_SLICE)
            break;
        w = wait_fd(c, POLLIN, got > 0 ? t0 + FCGI_SLICE : next_deadline(c, &is_tick), true);
        if (w == WAIT_WOKEN)
            c->end = FCGI_END_WOKEN;
        else if (w == WAIT_ERROR)
            c->end = FCGI_END_CLOSED;
        else if (w == WAIT_DEADLINE && got == 0)
            c->end = is_tick ? FCGI_END_TICK : FCGI_END_IDLE;
        else if (w == WAIT_DEADLINE)
            break;
    }
    c->bytes_in += got;
    c->recv.bytes += got;
    /* A trickle ends the body, even a read that paused (tick, wake-up):
     * the bytes that came are still handed over. */
    if (!window_ok(&c->recv, c->lim->body_min_rate, c->lim->rate_window, clock_now()) &&
        (c->end == FCGI_END_NONE || c->end == FCGI_END_TICK || c->end == FCGI_END_WOKEN))
        c->end = FCGI_END_SLOW;
    return (ssize_t)got;
}

int fcgi_resume(struct fcgi_conn *c)
{
    char drain[64];

    if (c->end == FCGI_END_WOKEN) {
        while (c->wake_fd >= 0 && read(c->wake_fd, drain, sizeof drain) > 0)
            ;
    } else if (c->end == FCGI_END_TICK) {
        c->tick_base = clock_now(); /* body_timeout still counts from the last byte */
    } else {
        return -1;
    }
    c->end = FCGI_END_NONE;
    return 0;
}

/* ---- the response --------------------------------------------------- */

int fcgi_flush(struct fcgi_conn *c)
{
    int rc = 0;

    if (c->out_len > 0 && !c->broken)
        rc = put_record(c, FCGI_STDOUT, c->id, c->out, c->out_len);
    c->bytes_out += c->out_len;
    c->out_len = 0;
    return c->broken ? -1 : rc;
}

int fcgi_write(struct fcgi_conn *c, const void *buf, size_t len)
{
    const unsigned char *p = buf;

    if (c->broken)
        return -1;
    if (len <= sizeof c->out - c->out_len) {
        memcpy(c->out + c->out_len, p, len);
        c->out_len += len;
        return 0;
    }
    if (fcgi_flush(c) != 0)
        return -1;
    while (len >= sizeof c->out) {
        size_t chunk = len > FCGI_MAX_LENGTH ? FCGI_MAX_LENGTH : len;
        if (put_record(c, FCGI_STDOUT, c->id, p, chunk) != 0)
            return -1;
        c->bytes_out += chunk;
        p += chunk;
        len -= chunk;
    }
    memcpy(c->out, p, len);
    c->out_len = len;
    return 0;
}

/* sendfile(2) all len bytes at *at, under the same limits as writes;
 * bytes_out counts each byte as the socket takes it, so a cut midway
 * leaves the bytes that did go out counted. */
static int send_file_bytes(struct fcgi_conn *c, int fd, off_t *at, size_t len)
{
    double last = clock_now();

    while (len > 0 && !c->broken) {
        ssize_t w = sendfile(c->fd, fd, at, len);
        if (w > 0) {
            len -= (size_t)w;
            last = clock_now();
            c->send.bytes += (uint64_t)w;
            c->bytes_out += (uint64_t)w;
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (send_behind(c) || wait_fd(c, POLLOUT, send_deadline(c, last), false) != WAIT_READY)
                c->broken = true;
        } else {
            c->broken = true; /* the file ran short, or the socket broke */
        }
    }
    return c->broken ? -1 : 0;
}

int fcgi_sendfile(struct fcgi_conn *c, int fd, uint64_t offset, uint64_t len)
{
    off_t at = (off_t)offset;

    if (fcgi_flush(c) != 0)
        return -1;
    while (len > 0) {
        size_t chunk = len > FCGI_MAX_LENGTH ? FCGI_MAX_LENGTH : (size_t)len;
        FCGI_Header h;
        struct iovec iov = {&h, sizeof h};
        fcgi_header_put(&h, FCGI_STDOUT, c->id, chunk, 0);
        if (write_iov(c, &iov, 1) != 0 || send_file_bytes(c, fd, &at, chunk) != 0)
            return -1;
        len -= chunk;
    }
    return 0;
}

/* Closing a socket with unread bytes in it resets the connection (on
 * Linux, for unix sockets too), and the web server may then lose the part
 * of the response it has not read yet.  Unread bytes are the rule, not the
 * exception: a GET's empty STDIN record, the body of an upload answered 423
 * before it was read.  So: half-close (the web server has the whole
 * response), then read and drop what still comes until the web server
 * closes its side, for at most a moment. */
static void linger(struct fcgi_conn *c)
{
    double deadline = clock_now() + FCGI_LINGER;
    unsigned char scratch[16384];

    shutdown(c->fd, SHUT_WR);
    /* The deadline holds even for a peer that never stops sending. */
    while (clock_now() < deadline) {
        ssize_t n = read(c->fd, scratch, sizeof scratch);
        if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK))
            return;
        if (n < 0 && errno != EINTR && wait_fd(c, POLLIN, deadline, false) != WAIT_READY)
            return;
    }
}

void fcgi_finish(struct fcgi_conn *c)
{
    if (c->fd < 0)
        return;
    fcgi_flush(c);
    if (!c->broken) {
        FCGI_Header eos;
        FCGI_EndRequestRecord end = {.body = {.protocolStatus = FCGI_REQUEST_COMPLETE}};
        struct iovec iov[2] = {{&eos, sizeof eos}, {&end, sizeof end}};
        fcgi_header_put(&eos, FCGI_STDOUT, c->id, 0, 0);
        fcgi_header_put(&end.header, FCGI_END_REQUEST, c->id, sizeof end.body, 0);
        write_iov(c, iov, 2);
    }
    linger(c);
    close(c->fd);
    c->fd = -1;
    free(c->params);
    c->params = NULL;
    c->nparams = 0;
}
