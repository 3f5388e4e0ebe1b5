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

/* The pairs of the input encoded again, and the decoder's view of them. */
struct again {
    unsigned char *buf;
    size_t cap, used;
    size_t n;
};

static int reencode(const unsigned char *name, size_t nlen, const unsigned char *value, size_t vlen,
                    void *ctx)
{
    struct again *a = ctx;
    size_t n = fcgi_pair_put(a->buf + a->used, a->cap - a->used, name, nlen, value, vlen);

    if (n == 0 || n != fcgi_pair_size(nlen, vlen))
        abort();
    a->used += n;
    a->n++;
    return 0;
}

/* Walks the re-encoded pairs beside the original ones: same names, same
 * values, same count. */
struct compare {
    const unsigned char *orig;
    size_t len, at;
    size_t n;
};

static int same_as_original(const unsigned char *name, size_t nlen, const unsigned char *value,
                            size_t vlen, void *ctx)
{
    struct compare *c = ctx;
    const unsigned char *p = c->orig + c->at;
    size_t lens[2];

    /* The original's next pair, read the slow way: each length one byte,
     * or four with the top bit set. */
    for (int k = 0; k < 2; k++) {
        if (*p & 0x80) {
            lens[k] = (size_t)(p[0] & 0x7f) << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
            p += 4;
        } else {
            lens[k] = *p++;
        }
    }
    if (lens[0] != nlen || lens[1] != vlen || memcmp(p, name, nlen) != 0 ||
        memcmp(p + nlen, value, vlen) != 0)
        abort();
    c->at = (size_t)(p - c->orig) + nlen + vlen;
    c->n++;
    return 0;
}

static void check_pairs(const uint8_t *data, size_t size)
{
    struct again a = {.buf = malloc(size + 8 * size + 16), .cap = size + 8 * size + 16};
    struct compare cmp = {.orig = data, .len = size};

    if (a.buf == NULL)
        return;
    if (fcgi_decode_pairs(data, size, reencode, &a) == 0) {
        if (fcgi_decode_pairs(a.buf, a.used, same_as_original, &cmp) != 0 || cmp.n != a.n ||
            cmp.at != size)
            abort();
    }
    free(a.buf);
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
    const char *why = NULL;
    uint64_t total = 0;
    ssize_t n;

    if (fcgi_begin(&c, fd, &limits, &why) != 0) {
        if (why == NULL)
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
