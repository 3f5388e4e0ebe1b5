/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fcgi.h - one FastCGI connection, read and written by batchup itself.
 *
 * libfcgi's <fastcgi.h> defines the protocol's records; the records of
 * each connection are read and written here, on a non-blocking socket, so
 * that every wait has a deadline (the request head, the body, the response)
 * and body bytes go straight from the socket into the caller's buffer.  One
 * request per connection: the web server may ask to keep it, and the
 * protocol lets the application close it anyway.  The record format's
 * encoder and decoder (headers, name-value pairs) are here too, for every
 * other speaker of it (`batchup status`, the benchmark's floor).
 */
#ifndef BATCHUP_FCGI_H
#define BATCHUP_FCGI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <fastcgi.h>

/* The waits of one connection (seconds, bytes per second). */
struct fcgi_limits {
    double header_timeout; /* the whole request head (params) */
    double body_timeout;   /* without a byte of the body */
    double send_timeout;   /* without a byte of the response accepted */
    double body_min_rate;  /* on average over each window; 0 = none */
    double send_min_rate;
    double rate_window;
};

/* Why reading the body stopped. */
enum fcgi_end {
    FCGI_END_NONE,    /* still reading */
    FCGI_END_CLEAN,   /* the web server's end of the body */
    FCGI_END_CLOSED,  /* the connection closed or broke mid-body */
    FCGI_END_ABORTED, /* the web server aborted the request (client gone) */
    FCGI_END_IDLE,    /* no byte for body_timeout */
    FCGI_END_SLOW,    /* fewer than body_min_rate bytes a second over a window */
    FCGI_END_WOKEN,   /* the wake descriptor became readable (soft: see fcgi_resume) */
    FCGI_END_TICK,    /* no byte for `tick` seconds (soft) */
};

#define FCGI_OUT_SIZE 16384 /* small writes are gathered into one record */

struct fcgi_conn {
    int fd;
    int wake_fd; /* polled while waiting for the body, or -1 */
    double tick; /* > 0: a read returns after this long without a byte */
    const struct fcgi_limits *lim;
    uint16_t id;
    double head_deadline; /* while the head is read, every wait ends by it (0: after) */
    bool broken;          /* the response can no longer be written */
    enum fcgi_end end;

    /* Params: "name\0value\0" pairs, n of them (malloc'd). */
    char *params;
    size_t nparams;

    /* The record being read: what is left of its content and padding, and
     * the header after it, staged in hdr. */
    int type;
    size_t content_left;
    size_t pad_left;
    unsigned char hdr[FCGI_HEADER_LEN + 255];
    size_t hdr_have;

    /* The rate windows of the body and of the response: bytes since
     * start (0: not started). */
    struct fcgi_window {
        double start;
        uint64_t bytes;
    } recv, send;
    double last_byte; /* of the body, for body_timeout */
    double tick_base; /* the last byte or tick, for the next tick */

    unsigned char out[FCGI_OUT_SIZE];
    size_t out_len;
    uint64_t bytes_in, bytes_out;
};

/* How reading a request head ended. */
enum fcgi_head {
    FCGI_HEAD_OK,               /* a request, its params read */
    FCGI_HEAD_TIMEOUT,          /* no complete head in time, or the connection closed */
    FCGI_HEAD_NOT_FCGI,         /* a record of another protocol version */
    FCGI_HEAD_BAD_BEGIN,        /* a BEGIN_REQUEST this server cannot take (role, a second) */
    FCGI_HEAD_BAD_PARAMS,       /* params that do not decode as name-value pairs */
    FCGI_HEAD_PARAMS_TOO_LARGE, /* params over FCGI_PARAMS_MAX (or cut while read) */
    FCGI_HEAD_ABORTED,          /* the web server aborted the request */
};

/* A head's ending in words, for the log. */
const char *fcgi_head_name(enum fcgi_head head);

/* Start a request on an accepted connection: read its BEGIN_REQUEST and
 * params within lim->header_timeout.  FCGI_HEAD_OK, or why the connection
 * carried no valid request in time (it is then finished and closed). */
enum fcgi_head fcgi_begin(struct fcgi_conn *c, int fd, const struct fcgi_limits *lim);
/* A param by its CGI name ("REQUEST_METHOD", "HTTP_UPLOAD_OFFSET"), or NULL. */
const char *fcgi_param(const struct fcgi_conn *c, const char *name);

/* Read body bytes as they arrive: >0 bytes (at most cap), or 0 when the
 * body ended, c->end saying how (FCGI_END_CLEAN, or why it was cut). A slow
 * body returns what it has every 100 ms, so the caller can store it. */
ssize_t fcgi_read(struct fcgi_conn *c, void *buf, size_t cap);
/* After a soft end (FCGI_END_WOKEN, FCGI_END_TICK), go on reading: the wake
 * descriptor is drained.  0, or -1 when the end was not soft. */
int fcgi_resume(struct fcgi_conn *c);

/* Response bytes: buffered into records, or sent as records of their own
 * when large; from a file with sendfile(2).  0, or -1 once the response
 * cannot be written (c->broken; the web server went away or stopped
 * reading for longer than the limits allow). */
int fcgi_write(struct fcgi_conn *c, const void *buf, size_t len);
int fcgi_sendfile(struct fcgi_conn *c, int fd, uint64_t offset, uint64_t len);
int fcgi_flush(struct fcgi_conn *c);
/* End the request (the last records) and close the connection. */
void fcgi_finish(struct fcgi_conn *c);

/* ---- the record format (FastCGI 1.0) --------------------------------
 *
 * The one encoder and decoder of FastCGI framing, used by this file, by
 * `batchup status` (a client of our own socket) and by the benchmark's
 * floor (tests/bench/fcgi_floor.c); <fastcgi.h> gives the types. */

/* A record header: version 1, type, request id, content length (at most
 * FCGI_MAX_LENGTH) and padding (at most 255). */
void fcgi_header_put(FCGI_Header *h, int type, uint16_t id, size_t len, size_t pad);
/* A header's content length and request id. */
size_t fcgi_header_length(const FCGI_Header *h);
uint16_t fcgi_header_id(const FCGI_Header *h);

/* The encoded size of one name-value pair: each length in one byte when
 * under 128, else in four with the top bit set. */
size_t fcgi_pair_size(size_t name_len, size_t value_len);
/* Encode one name-value pair at buf (cap bytes free): the bytes written,
 * or 0 when it does not fit or a length is over 2^31 - 1. */
size_t fcgi_pair_put(unsigned char *buf, size_t cap, const void *name, size_t name_len,
                     const void *value, size_t value_len);
/* Decode name-value pairs: calls each for every pair; -1 when buf is
 * malformed or each refused one. */
int fcgi_decode_pairs(const unsigned char *buf, size_t len,
                      int (*each)(const unsigned char *name, size_t name_len,
                                  const unsigned char *value, size_t value_len, void *ctx),
                      void *ctx);

#endif
