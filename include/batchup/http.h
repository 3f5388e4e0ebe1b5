/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * http.h - HTTP over FastCGI: one request, its headers, its body, and the
 * response.  Handlers never touch the FastCGI records (fcgi.c) directly.
 */
#ifndef BATCHUP_HTTP_H
#define BATCHUP_HTTP_H

/* The longest value of one response header, with its NUL: what
 * http_add_header can send whole.  Callers that build long values (a
 * Content-Disposition) size their buffers with it. */
#define HTTP_HEADER_VALUE_MAX 2048

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "batchup/check.h"
#include "batchup/config.h"
#include "batchup/db.h"
#include "batchup/digest.h"
#include "batchup/error.h"
#include "batchup/fcgi.h"

/* The most bytes of a response head: status line, headers and blank line. */
#define HTTP_HEAD_MAX 4096

/* The answer to one request, as nginx's headers_out: the handler sets the
 * status and adds header lines; the head is rendered from this, in one
 * place (http.c's send_head), when the first body byte or the end of the
 * answer goes out. */
struct http_response {
    int status;                  /* the answer's status; 0 until the handler sets it */
    char headers[HTTP_HEAD_MAX]; /* "Name: value\r\n" lines, in the order added */
    size_t headers_len;
    bool overflow;  /* a header did not fit: the answer becomes a bare 500 */
    bool head_sent; /* the head went out: the status and headers are final */
};

struct http_request {
    struct fcgi_conn *conn;
    const struct bu_config *cfg;
    struct db *db;
    const char *method;
    char path[2048];        /* request path, without the query string */
    const char *query;      /* after '?', or "" */
    int64_t content_length; /* -1 when the web server did not say (chunked) */
    double start;           /* clock_now() when the request arrived */

    struct http_response out; /* the answer, set by the handler */
    uint64_t bytes_out;       /* of the response body (the head not counted) */
    int client_gone;          /* the web server closed the connection */
    int body_aborted;         /* the request body ended before its end */

    int user_id; /* 0 until authenticated */
    char user_name[CHECK_USER_NAME_MAX + 1];
    /* The API token's stored form, while its check waits for the request's
     * first statement (auth_request_with_claim); "" otherwise. */
    char auth_pending[DIGEST_SHA256_HEX + 1];

    /* Set by the router: the path's variable parts ({uuid}, {token}), and
     * header lines every response to this request carries ("Name: value"
     * without CRLF, or NULL). */
    char param[2][130];
    const char *route_header;
};

void http_request_init(struct http_request *req, struct fcgi_conn *conn,
                       const struct bu_config *cfg, struct db *db);

/* A request header by its HTTP name ("Upload-Offset"), or NULL. */
const char *http_header(const struct http_request *req, const char *name);
/* A FastCGI parameter by its CGI name ("REMOTE_USER"), or NULL. */
const char *http_param(const struct http_request *req, const char *name);

/* Add a header line to the answer (req->out): the handler sets
 * req->out.status, adds its headers, then writes the body or sends one of
 * the complete responses below. */
void http_add_header(struct http_request *req, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Write body bytes (sending the head first).  Returns 0, or -1 once the
 * client is gone (further writes are dropped). */
int http_write(struct http_request *req, const void *buf, size_t len);
int http_flush(struct http_request *req);
/* Send len bytes of fd from offset as the body (after the head), with
 * sendfile(2): the bytes never enter the worker.  0, or -1 once the client
 * is gone (or fd ran short: the response is then cut off). */
int http_sendfile(struct http_request *req, int fd, uint64_t offset, uint64_t len);

/* Complete responses; each makes its status req->out.status.  An error keeps the
 * headers added for its own status (a handler may set req->out.status to
 * err->status and add its own, such as Content-Range or Upload-Offset,
 * before returning the error); headers added for another status (a 201's
 * Location before a later failure) belong to an answer never given, and are
 * dropped. */
void http_send_json(struct http_request *req, int status, json_t *body); /* steals body */
void http_send_json_text(struct http_request *req, int status, const char *json);
void http_send_error(struct http_request *req, const struct bu_error *err);
void http_send_empty(struct http_request *req, int status);
/* A CORS preflight (OPTIONS with Access-Control-Request-Method) from an
 * origin cors_origins allows: answered (204 with the CORS headers), 1.
 * Anything else: 0, untouched (an OPTIONS without it is tus's capability
 * request). */
int http_cors_preflight(struct http_request *req);

/* Read request body bytes as they arrive: returns >0 bytes (at most cap),
 * 0 at the clean end of the body, -1 when the body was cut off (the client or
 * the web server went away, a deadline passed, the body was too slow, or the
 * request was asked to stop: req->conn->end says which); bytes that arrived
 * stay valid. */
ssize_t http_read(struct http_request *req, void *buf, size_t cap);
/* Read a whole small body (JSON) of at most max bytes into a malloc'd,
 * NUL-terminated buffer; 413/400 in err on failure. */
char *http_read_all(struct http_request *req, size_t max, size_t *len, struct bu_error *err);

#endif
