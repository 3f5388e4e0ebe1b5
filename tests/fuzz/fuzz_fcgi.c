/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz_fcgi.c - libFuzzer harness for app/fcgi.c, the parser of the bytes
 * any process that can reach the FastCGI socket may send.
 *
 *   make fuzz; build/fuzz/fuzz_fcgi -max_total_time=30 tests/fuzz/corpus/fuzz_fcgi
 *
 * The input is written into one end of a unix socketpair, which is then
 * shut for writing (so that no read waits: the server meets the end of the
 * stream where the input ends), and the other end goes through what a
 * worker does with an accepted connection: fcgi_begin, fcgi_read in a loop
 * (with a buffer size taken from the first input byte, so that records are
 * cut at every place), a small response, fcgi_finish.  The same bytes also
 * go through the pair decoder directly.
 *
 * Besides memory errors it checks the parser's promises: a request that
 * begins has a request id other than 0 and params that are all found by
 * name (the value of its first occurrence); a read never returns more than asked, and returns 0
 * only with a reason (c->end); bytes_in counts exactly the body bytes returned; every decoded pair,
 * encoded again with fcgi_pair_put (in fcgi_pair_size bytes), decodes to the same pair.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "batchup/fcgi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The waits are never reached (the stream ends where the input does)
 * except a response the socket cannot take, which is given up at once. */
static const struct fcgi_limits limits = {.header_timeout = 1,
                                          .body_timeout = 1,
                                          .send_timeout = 0.01,
                                          .body_min_rate = 0,
                                          .send_min_rate = 0,
                                          .rate_window = 1};

/* The pairs of the input as the decoder gave them, and the same pairs
 * encoded again. */
struct seen {
    const unsigned char **ptr; /* name, value, name, value ... */
    size_t *len;
    size_t n, cap;
    unsigned char *again;
    size_t again_used, again_cap;
};

static int collect(const unsigned char *name, size_t nlen, const unsigned char *value, size_t vlen,
                   void *ctx)
{
    struct seen *s = ctx;
    size_t n = fcgi_pair_put(s->again + s->again_used, s->again_cap - s->again_used, name, nlen,
                             value, vlen);

    if (s->n + 2 > s->cap || n == 0 || n != fcgi_pair_size(nlen, vlen))
        abort();
    s->again_used += n;
    s->ptr[s->n] = name;
    s->len[s->n++] = nlen;
    s->ptr[s->n] = value;
    s->len[s->n++] = vlen;
    return 0;
}

/* The pairs decoded from the encoding again: each the same bytes as the
 * original's pair at the same place. */
static int same_as_first(const unsigned char *name, size_t nlen, const unsigned char *value,
                         size_t vlen, void *ctx)
{
    struct seen *s = ctx;

    if (s->n + 2 > s->cap || s->len[s->n] != nlen || memcmp(s->ptr[s->n], name, nlen) != 0 ||
        s->len[s->n + 1] != vlen || memcmp(s->ptr[s->n + 1], value, vlen) != 0)
        abort();
    s->n += 2;
    return 0;
}

static void check_pairs(const uint8_t *data, size_t size)
{
    /* Every pair takes at least two bytes; each length grows at most from
     * one byte to four when encoded again. */
    struct seen s = {.cap = size + 2, .again_cap = 4 * size + 16};
    size_t pairs;

    s.ptr = malloc(s.cap * sizeof *s.ptr);
    s.len = malloc(s.cap * sizeof *s.len);
    s.again = malloc(s.again_cap);
    if (s.ptr != NULL && s.len != NULL && s.again != NULL &&
        fcgi_decode_pairs(data, size, collect, &s) == 0) {
        pairs = s.n;
        s.n = 0;
        if (fcgi_decode_pairs(s.again, s.again_used, same_as_first, &s) != 0 || s.n != pairs)
            abort();
    }
    free(s.ptr);
    free(s.len);
    free(s.again);
}

/* Each param is found by its name: the value of its first occurrence. */
static void check_params(const struct fcgi_conn *c)
{
    const char *p = c->params;

    for (size_t i = 0; i < c->nparams; i++) {
        const char *value = p + strlen(p) + 1, *q = c->params;
        bool first = true;
        for (size_t j = 0; j < i && first; j++) {
            first = strcmp(q, p) != 0;
            q += strlen(q) + 1;
            q += strlen(q) + 1;
        }
        if (first && fcgi_param(c, p) != value)
            abort();
        p = value + strlen(value) + 1;
    }
}

static void serve(int fd, size_t cap)
{
    static unsigned char buf[65536];
    struct fcgi_conn c;
    enum fcgi_head head;
    uint64_t total = 0;
    ssize_t n;

    head = fcgi_begin(&c, fd, &limits);
    if (head != FCGI_HEAD_OK) {
        if (strcmp(fcgi_head_name(head), "?") == 0)
            abort();
        return;
    }
    if (c.id == FCGI_NULL_REQUEST_ID)
        abort();
    check_params(&c);
    while ((n = fcgi_read(&c, buf, cap)) > 0) {
        if ((size_t)n > cap)
            abort();
        total += (uint64_t)n;
    }
    if (n < 0 || c.end == FCGI_END_NONE || total != c.bytes_in)
        abort();
    fcgi_write(&c, "Status: 204 No Content\r\n\r\n", 27);
    fcgi_finish(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fds[2];
    size_t sent = 0, cap = size > 0 ? (size_t)data[0] * 256 + 1 : 65536; /* <= 65536 */

    check_pairs(data, size);
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
        return 0;
    /* What the socket takes at once (an input larger than its buffer is
     * cut there: the harness has no second thread to feed it). */
    while (sent < size) {
        ssize_t w = send(fds[1], data + sent, size - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w <= 0)
            break;
        sent += (size_t)w;
    }
    shutdown(fds[1], SHUT_WR);
    serve(fds[0], cap);
    close(fds[1]);
    return 0;
}
