/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_fcgi.c - the FastCGI connection (app/fcgi.c), one test a behaviour,
 * on real sockets: the server end of a unix socketpair goes to fcgi_begin
 * and fcgi_read as a worker's accepted connection does, and the test (or a
 * child process it forks, for a peer that must go on sending while the
 * server works) speaks the protocol on the other end, with the records
 * framed by fcgi.c's own codec.
 *
 * The behaviours: GET_VALUES answered with what was asked; another
 * management type answered UNKNOWN_TYPE; a second BEGIN_REQUEST refused;
 * an unknown role; params up to and over their bound; ABORT_REQUEST; the
 * padding and next header taken in the same read as a record's content;
 * and each deadline, for a silent peer and for a chatty one whose records
 * never let a read block (issue 22, item 8: deadlines are absolute).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "batchup/clock.h"
#include "batchup/fcgi.h"

#define ID 1

static const struct fcgi_limits quick = {.header_timeout = 0.5,
                                         .body_timeout = 0.5,
                                         .send_timeout = 0.5,
                                         .body_min_rate = 0,
                                         .send_min_rate = 0,
                                         .rate_window = 1};

/* A connected pair: [0] the server's end (a worker's accepted socket),
 * [1] the peer's (the web server's). */
static void pair(int fds[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
}

static void send_all(int fd, const void *buf, size_t len)
{
    const unsigned char *p = buf;

    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        assert_true(n > 0);
        p += n;
        len -= (size_t)n;
    }
}

/* One record, header and content and padding, encoded into out: its size. */
static size_t encode(unsigned char *out, int type, uint16_t id, const void *content, size_t len,
                     size_t pad)
{
    fcgi_header_put((FCGI_Header *)out, type, id, len, pad);
    if (len > 0)
        memcpy(out + FCGI_HEADER_LEN, content, len);
    memset(out + FCGI_HEADER_LEN + len, 0xEE, pad);
    return FCGI_HEADER_LEN + len + pad;
}

static void put(int fd, int type, uint16_t id, const void *content, size_t len)
{
    unsigned char rec[FCGI_HEADER_LEN + FCGI_MAX_LENGTH];

    send_all(fd, rec, encode(rec, type, id, content, len, 0));
}

static void put_begin(int fd, uint16_t id, int role)
{
    FCGI_BeginRequestBody b = {.roleB1 = (unsigned char)(role >> 8), .roleB0 = (unsigned char)role};

    put(fd, FCGI_BEGIN_REQUEST, id, &b, sizeof b);
}

/* BEGIN_REQUEST, one PARAMS record with REQUEST_METHOD, the params' end. */
static void put_head(int fd)
{
    unsigned char p[64];
    size_t n = fcgi_pair_put(p, sizeof p, "REQUEST_METHOD", 14, "PUT", 3);

    put_begin(fd, ID, FCGI_RESPONDER);
    put(fd, FCGI_PARAMS, ID, p, n);
    put(fd, FCGI_PARAMS, ID, NULL, 0);
}

/* The next record the server wrote (within 2 s): its header, its content
 * in buf.  False when none came. */
static bool get_record(int fd, FCGI_Header *h, unsigned char *buf)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    size_t len;

    if (poll(&p, 1, 2000) != 1 || recv(fd, h, sizeof *h, MSG_WAITALL) != (ssize_t)sizeof *h)
        return false;
    len = fcgi_header_length(h) + h->paddingLength;
    return len == 0 || recv(fd, buf, len, MSG_WAITALL) == (ssize_t)len;
}

/* fcgi_begin on the server's end of fds. */
static enum fcgi_head begin(struct fcgi_conn *c, int fds[2], const struct fcgi_limits *lim)
{
    return fcgi_begin(c, fds[0], lim);
}

/* The server takes the request head the peer wrote and answers it with one
 * record (a management answer, an END_REQUEST): its header and content. */
static void begin_and_answer(struct fcgi_conn *c, int fds[2], FCGI_Header *h, unsigned char *buf)
{

    assert_int_equal(begin(c, fds, &quick), FCGI_HEAD_OK);
    assert_true(get_record(fds[1], h, buf));
}

/* The peer closes, the server finishes the request. */
static void finish(struct fcgi_conn *c, int fds[2])
{
    close(fds[1]);
    fcgi_finish(c);
}

/* A chatty peer: a child process that keeps the server's receive buffer
 * full of records of `type` for request `id` (small ones, so that the
 * server, at two system calls a record, never catches up and no read of
 * its ever blocks), reading and dropping whatever the server answers
 * (unless `deaf`), until the server closes or `seconds` pass.  The child
 * keeps only the peer's end. */
static pid_t chatter(int fds[2], int type, uint16_t id, double seconds, bool deaf)
{
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        static unsigned char batch[64 * 1024];
        unsigned char rec[64], drop[65536], q[32];
        size_t qn = fcgi_pair_put(q, sizeof q, FCGI_MAX_CONNS, strlen(FCGI_MAX_CONNS), "", 0);
        size_t n = type == FCGI_GET_VALUES ? encode(rec, type, id, q, qn, 0)
                                           : encode(rec, type, id, "0123456789", 10, 6);
        size_t len = sizeof batch / n * n, at = 0;
        double end = clock_now() + seconds;

        /* A deep queue (SO_SNDBUFFORCE: the tests may run as root; else
         * the default) keeps the server busy while this child sleeps. */
        int deep = 16 << 20;

        setsockopt(fds[1], SOL_SOCKET, SO_SNDBUFFORCE, &deep, sizeof deep);
        close(fds[0]);
        for (size_t k = 0; k + n <= len; k += n)
            memcpy(batch + k, rec, n);
        while (clock_now() < end) {
            struct pollfd p = {.fd = fds[1], .events = POLLIN | POLLOUT};
            ssize_t w;
            if (poll(&p, 1, 100) < 0 && errno != EINTR)
                _exit(0);
            while (!deaf && recv(fds[1], drop, sizeof drop, MSG_DONTWAIT) > 0)
                ;
            w = send(fds[1], batch + at, len - at, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (w < 0 && errno != EAGAIN && errno != EINTR)
                _exit(0); /* the server closed */
            if (w > 0)
                at = (at + (size_t)w) % len;
        }
        _exit(0);
    }
    return pid;
}

static void reap(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* ---- the request head ----------------------------------------------- */

static int count_pair(const unsigned char *name, size_t nlen, const unsigned char *value,
                      size_t vlen, void *ctx)
{
    char *seen = ctx;

    snprintf(seen + strlen(seen), 256 - strlen(seen), "%.*s=%.*s;", (int)nlen, (const char *)name,
             (int)vlen, (const char *)value);
    return 0;
}

static void test_get_values_answered(void **state)
{
    unsigned char q[128], buf[FCGI_MAX_LENGTH + 255];
    char seen[256] = "";
    size_t n = 0;
    FCGI_Header h;
    struct fcgi_conn c;
    int fds[2];

    (void)state;
    pair(fds);
    /* Two known variables (one twice) and one we do not know. */
    n += fcgi_pair_put(q + n, sizeof q - n, FCGI_MPXS_CONNS, strlen(FCGI_MPXS_CONNS), "", 0);
    n += fcgi_pair_put(q + n, sizeof q - n, "X_UNKNOWN", 9, "", 0);
    n += fcgi_pair_put(q + n, sizeof q - n, FCGI_MAX_CONNS, strlen(FCGI_MAX_CONNS), "", 0);
    n += fcgi_pair_put(q + n, sizeof q - n, FCGI_MPXS_CONNS, strlen(FCGI_MPXS_CONNS), "", 0);
    put(fds[1], FCGI_GET_VALUES, FCGI_NULL_REQUEST_ID, q, n);
    put_head(fds[1]);
    begin_and_answer(&c, fds, &h, buf);
    assert_int_equal(h.type, FCGI_GET_VALUES_RESULT);
    assert_int_equal(fcgi_header_id(&h), FCGI_NULL_REQUEST_ID);
    assert_int_equal(fcgi_decode_pairs(buf, fcgi_header_length(&h), count_pair, seen), 0);
    assert_string_equal(seen, "FCGI_MPXS_CONNS=0;FCGI_MAX_CONNS=1;");
    assert_string_equal(fcgi_param(&c, "REQUEST_METHOD"), "PUT");
    finish(&c, fds);
}

static void test_unknown_management_type(void **state)
{
    unsigned char buf[FCGI_MAX_LENGTH + 255];
    FCGI_Header h;
    struct fcgi_conn c;
    int fds[2];

    (void)state;
    pair(fds);
    put(fds[1], 99, FCGI_NULL_REQUEST_ID, "abc", 3);
    put_head(fds[1]);
    begin_and_answer(&c, fds, &h, buf);
    assert_int_equal(h.type, FCGI_UNKNOWN_TYPE);
    assert_int_equal(((FCGI_UnknownTypeBody *)buf)->type, 99);
    finish(&c, fds);
}

static void test_second_begin_refused(void **state)
{
    unsigned char buf[FCGI_MAX_LENGTH + 255];
    FCGI_Header h;
    struct fcgi_conn c;
    int fds[2];

    (void)state;
    pair(fds);
    put_begin(fds[1], ID, FCGI_RESPONDER);
    put_begin(fds[1], 7, FCGI_RESPONDER);
    put(fds[1], FCGI_PARAMS, ID, NULL, 0);
    begin_and_answer(&c, fds, &h, buf);
    assert_int_equal(c.id, ID);
    assert_int_equal(h.type, FCGI_END_REQUEST);
    assert_int_equal(fcgi_header_id(&h), 7);
    assert_int_equal(((FCGI_EndRequestBody *)buf)->protocolStatus, FCGI_CANT_MPX_CONN);
    finish(&c, fds);
}

static void test_unknown_role(void **state)
{
    unsigned char buf[FCGI_MAX_LENGTH + 255];
    FCGI_Header h;
    struct fcgi_conn c;
    int fds[2];

    (void)state;
    pair(fds);
    put_begin(fds[1], ID, FCGI_AUTHORIZER);
    put(fds[1], FCGI_PARAMS, ID, NULL, 0);
    assert_int_equal(begin(&c, fds, &quick), FCGI_HEAD_BAD_BEGIN);
    assert_true(get_record(fds[1], &h, buf));
    assert_int_equal(h.type, FCGI_END_REQUEST);
    assert_int_equal(((FCGI_EndRequestBody *)buf)->protocolStatus, FCGI_UNKNOWN_ROLE);
    assert_true(recv(fds[1], buf, 1, 0) <= 0); /* and the connection closed (or reset) */
    close(fds[1]);
}

/* A child sends BEGIN_REQUEST and one param of `value_len` bytes in full
 * PARAMS records, then their end. */
static pid_t send_big_params(int fds[2], size_t value_len)
{
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        size_t cap = value_len + 64, n, off = 0;
        unsigned char *enc = malloc(cap);
        char *value = malloc(value_len);

        close(fds[0]);
        if (enc == NULL || value == NULL)
            _exit(1);
        memset(value, 'v', value_len);
        n = fcgi_pair_put(enc, cap, "HTTP_X_BIG", 10, value, value_len);
        put_begin(fds[1], ID, FCGI_RESPONDER);
        while (off < n) {
            size_t len = n - off > FCGI_MAX_LENGTH ? FCGI_MAX_LENGTH : n - off;
            unsigned char rec[FCGI_HEADER_LEN + FCGI_MAX_LENGTH];
            size_t rn = encode(rec, FCGI_PARAMS, ID, enc + off, len, 0);
            if (send(fds[1], rec, rn, MSG_NOSIGNAL) != (ssize_t)rn)
                _exit(0); /* refused midway: the server closed */
            off += len;
        }
        put(fds[1], FCGI_PARAMS, ID, NULL, 0);
        _exit(0);
    }
    return pid;
}

static void test_params_bound(void **state)
{
    struct fcgi_conn c;
    int fds[2];
    pid_t pid;

    (void)state;
    /* 200,000 bytes (four-byte lengths, four records): taken whole. */
    pair(fds);
    pid = send_big_params(fds, 200000);
    assert_int_equal(begin(&c, fds, &quick), FCGI_HEAD_OK);
    assert_int_equal(strlen(fcgi_param(&c, "HTTP_X_BIG")), 200000);
    reap(pid);
    finish(&c, fds);

    /* Over the 256 KiB bound: refused, and said why. */
    pair(fds);
    pid = send_big_params(fds, 300000);
    assert_int_equal(begin(&c, fds, &quick), FCGI_HEAD_PARAMS_TOO_LARGE);
    reap(pid);
    close(fds[1]);
}

/* ---- the body ------------------------------------------------------- */

static void test_abort_request(void **state)
{
    char buf[64];
    struct fcgi_conn c;
    int fds[2];

    (void)state;
    /* In the body: the bytes before it are handed over, then the end. */
    pair(fds);
    put_head(fds[1]);
    put(fds[1], FCGI_STDIN, ID, "abc", 3);
    put(fds[1], FCGI_ABORT_REQUEST, ID, NULL, 0);
    assert_int_equal(begin(&c, fds, &quick), FCGI_HEAD_OK);
    assert_int_equal(fcgi_read(&c, buf, sizeof buf), 3);
    assert_memory_equal(buf, "abc", 3);
    assert_int_equal(fcgi_read(&c, buf, sizeof buf), 0);
    assert_int_equal(c.end, FCGI_END_ABORTED);
    finish(&c, fds);

    /* In the head: no request. */
    pair(fds);
    put_begin(fds[1], ID, FCGI_RESPONDER);
    put(fds[1], FCGI_ABORT_REQUEST, ID, NULL, 0);
    assert_int_equal(begin(&c, fds, &quick), FCGI_HEAD_ABORTED);
    close(fds[1]);
}

static void test_padding_and_next_header_in_one_read(void **state)
{
    unsigned char wire[256];
    char buf[64];
    size_t n = 0;
    struct fcgi_conn c;
    int fds[2];

    (void)state;
    pair(fds);
    put_head(fds[1]);
    /* One write: a padded record, a record of another request (skipped),
     * a record without padding, the end of the body. */
    n += encode(wire + n, FCGI_STDIN, ID, "hello", 5, 3);
    n += encode(wire + n, FCGI_STDIN, 9, "other", 5, 7);
    n += encode(wire + n, FCGI_STDIN, ID, "world", 5, 0);
    n += encode(wire + n, FCGI_STDIN, ID, NULL, 0, 0);
    send_all(fds[1], wire, n);
    assert_int_equal(begin(&c, fds, &quick), FCGI_HEAD_OK);
    assert_int_equal(fcgi_read(&c, buf, sizeof buf), 10);
    assert_memory_equal(buf, "helloworld", 10);
    assert_int_equal(c.end, FCGI_END_CLEAN);
    assert_int_equal(c.bytes_in, 10);
    finish(&c, fds);
}

/* ---- each deadline ---------------------------------------------------- */

static void test_header_timeout_silent(void **state)
{
    struct fcgi_conn c;
    int fds[2];
    double t0 = clock_now();

    (void)state;
    pair(fds);
    put_begin(fds[1], ID, FCGI_RESPONDER); /* then nothing */
    assert_int_equal(begin(&c, fds, &quick), FCGI_HEAD_TIMEOUT);
    assert_true(clock_now() - t0 >= 0.45 && clock_now() - t0 < 1.5);
    close(fds[1]);
}

/* A peer that never lets a read block still gets header_timeout: records
 * of another request id, and GET_VALUES whose answers it reads. */
static void test_header_timeout_chatty(void **state)
{
    static const int types[] = {FCGI_PARAMS, FCGI_GET_VALUES};

    (void)state;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        struct fcgi_conn c;
        int fds[2];
        double t0 = clock_now(), took;
        pid_t pid;

        pair(fds);
        pid = chatter(fds, types[i], types[i] == FCGI_GET_VALUES ? 0 : 5, 6, false);
        close(fds[1]);
        assert_int_not_equal(begin(&c, fds, &quick), FCGI_HEAD_OK);
        took = clock_now() - t0;
        reap(pid);
        if (took >= 1.5)
            fail_msg("record type %d: fcgi_begin took %.1f s for a header_timeout of 0.5 s",
                     types[i], took);
    }
}

/* A peer that asks GET_VALUES and never reads the answers: the answers
 * fill the socket, and the wait to write one more is bounded by
 * header_timeout too, not by send_timeout alone. */
static void test_header_timeout_unread_answers(void **state)
{
    struct fcgi_limits lim = quick;
    struct fcgi_conn c;
    int fds[2];
    double t0 = clock_now(), took;
    pid_t pid;

    (void)state;
    lim.send_timeout = 5;
    pair(fds);
    pid = chatter(fds, FCGI_GET_VALUES, FCGI_NULL_REQUEST_ID, 8, true);
    close(fds[1]);
    assert_int_not_equal(begin(&c, fds, &lim), FCGI_HEAD_OK);
    took = clock_now() - t0;
    reap(pid);
    if (took >= 1.5)
        fail_msg("fcgi_begin took %.1f s for a header_timeout of 0.5 s", took);
}

static void test_body_timeout_silent(void **state)
{
    char buf[64];
    struct fcgi_conn c;
    int fds[2];
    double t0;

    (void)state;
    pair(fds);
    put_head(fds[1]);
    put(fds[1], FCGI_STDIN, ID, "ab", 2);
    assert_int_equal(begin(&c, fds, &quick), FCGI_HEAD_OK);
    t0 = clock_now();
    assert_int_equal(fcgi_read(&c, buf, sizeof buf), 2);
    assert_int_equal(fcgi_read(&c, buf, sizeof buf), 0);
    assert_int_equal(c.end, FCGI_END_IDLE);
    assert_true(clock_now() - t0 >= 0.45 && clock_now() - t0 < 1.5);
    finish(&c, fds);
}

/* Records of another request id carry no body byte: they must not keep
 * body_timeout from ending the body. */
static void test_body_timeout_chatty(void **state)
{
    char buf[64];
    struct fcgi_conn c;
    int fds[2];
    double t0, took;
    pid_t pid;

    (void)state;
    pair(fds);
    put_head(fds[1]);
    assert_int_equal(begin(&c, fds, &quick), FCGI_HEAD_OK);
    pid = chatter(fds, FCGI_STDIN, 5, 6, false);
    t0 = clock_now();
    while (fcgi_read(&c, buf, sizeof buf) > 0)
        ;
    took = clock_now() - t0;
    reap(pid);
    finish(&c, fds);
    assert_int_equal(c.end, FCGI_END_IDLE);
    if (took >= 1.5)
        fail_msg("the body ended after %.1f s for a body_timeout of 0.5 s", took);
}

/* The caller's tick: a read returns (soft) after `tick` without a byte, and
 * goes on after fcgi_resume; body_timeout still counts from the last byte. */
static void test_tick(void **state)
{
    struct fcgi_limits lim = quick;
    char buf[64];
    struct fcgi_conn c;
    int fds[2];
    double t0;

    (void)state;
    lim.body_timeout = 1.0;
    pair(fds);
    put_head(fds[1]);
    assert_int_equal(begin(&c, fds, &lim), FCGI_HEAD_OK);
    c.tick = 0.2;
    t0 = clock_now();
    assert_int_equal(fcgi_read(&c, buf, sizeof buf), 0);
    assert_int_equal(c.end, FCGI_END_TICK);
    assert_true(clock_now() - t0 >= 0.15 && clock_now() - t0 < 0.6);
    assert_int_equal(fcgi_resume(&c), 0);
    while (c.end == FCGI_END_NONE || c.end == FCGI_END_TICK) {
        if (c.end == FCGI_END_TICK)
            assert_int_equal(fcgi_resume(&c), 0);
        assert_int_equal(fcgi_read(&c, buf, sizeof buf), 0);
    }
    assert_int_equal(c.end, FCGI_END_IDLE);
    assert_true(clock_now() - t0 >= 0.95 && clock_now() - t0 < 1.6);
    finish(&c, fds);
}

/* A body slower than body_min_rate over a window ends SLOW. */
static void test_body_min_rate(void **state)
{
    struct fcgi_limits lim = quick;
    char buf[64];
    struct fcgi_conn c;
    int fds[2];
    double t0;
    pid_t pid;

    (void)state;
    lim.body_min_rate = 1000;
    lim.rate_window = 0.5;
    pair(fds);
    put_head(fds[1]);
    assert_int_equal(begin(&c, fds, &lim), FCGI_HEAD_OK);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) { /* a byte every 50 ms: 20 bytes a second */
        close(fds[0]);
        for (int i = 0; i < 100; i++) {
            unsigned char rec[16];
            if (send(fds[1], rec, encode(rec, FCGI_STDIN, ID, "x", 1, 0), MSG_NOSIGNAL) < 0)
                _exit(0);
            usleep(50000);
        }
        _exit(0);
    }
    t0 = clock_now();
    while (fcgi_read(&c, buf, sizeof buf) > 0 && c.end == FCGI_END_NONE)
        ;
    reap(pid);
    assert_int_equal(c.end, FCGI_END_SLOW);
    assert_true(clock_now() - t0 < 1.5);
    finish(&c, fds);
}

/* ---- the response ----------------------------------------------------- */

/* A web server that stops reading: the response is given up after
 * send_timeout without progress. */
static void test_send_timeout(void **state)
{
    static char big[1 << 20];
    struct fcgi_conn c;
    int fds[2], rc = 0;
    double t0;

    (void)state;
    pair(fds);
    put_head(fds[1]);
    assert_int_equal(begin(&c, fds, &quick), FCGI_HEAD_OK);
    t0 = clock_now();
    for (int i = 0; i < 64 && rc == 0; i++)
        rc = fcgi_write(&c, big, sizeof big);
    assert_int_equal(rc, -1);
    assert_true(c.broken);
    assert_true(clock_now() - t0 >= 0.45 && clock_now() - t0 < 1.5);
    finish(&c, fds);
}

/* After the response the rest of what the peer sends is read and dropped,
 * for at most a moment (2 s), even when it never stops sending. */
static void test_linger_chatty(void **state)
{
    struct fcgi_conn c;
    int fds[2];
    double t0, took;
    pid_t pid;

    (void)state;
    pair(fds);
    put_head(fds[1]);
    assert_int_equal(begin(&c, fds, &quick), FCGI_HEAD_OK);
    assert_int_equal(fcgi_write(&c, "Status: 204\r\n\r\n", 15), 0);
    pid = chatter(fds, FCGI_STDIN, ID, 8, false);
    close(fds[1]);
    t0 = clock_now();
    fcgi_finish(&c);
    took = clock_now() - t0;
    reap(pid);
    if (took >= 3.0)
        fail_msg("fcgi_finish lingered %.1f s for a linger of 2 s", took);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_values_answered),
        cmocka_unit_test(test_unknown_management_type),
        cmocka_unit_test(test_second_begin_refused),
        cmocka_unit_test(test_unknown_role),
        cmocka_unit_test(test_params_bound),
        cmocka_unit_test(test_abort_request),
        cmocka_unit_test(test_padding_and_next_header_in_one_read),
        cmocka_unit_test(test_header_timeout_silent),
        cmocka_unit_test(test_header_timeout_chatty),
        cmocka_unit_test(test_header_timeout_unread_answers),
        cmocka_unit_test(test_body_timeout_silent),
        cmocka_unit_test(test_body_timeout_chatty),
        cmocka_unit_test(test_tick),
        cmocka_unit_test(test_body_min_rate),
        cmocka_unit_test(test_send_timeout),
        cmocka_unit_test(test_linger_chatty),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests_name("fcgi", tests, NULL, NULL);
}
