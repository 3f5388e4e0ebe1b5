/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * http.c - the HTTP layer over FastCGI.
 *
 * Responses: the answer is a structure (req->out, as nginx's headers_out):
 * the handler sets its status and adds headers in a fixed buffer, and the
 * head (Status line, headers, the route's and CORS's) is rendered from it
 * in one place, render_head, when the first body byte or the end of the
 * answer goes out; so a handler can add headers until it writes, and no
 * state says whether a status "was set" but the field itself.  Every JSON
 * response and every error goes through here, so the one error shape of the
 * API is produced in one place.
 *
 * Request bodies: CONTENT_LENGTH is only a hint.  nginx with request
 * buffering off sends chunked bodies without it, Apache's mod_proxy_fcgi
 * likewise, so the body is read until the FastCGI stream ends, and a body
 * that contradicts a declared length is rejected by the caller.  http_read
 * returns what has arrived instead of waiting for a full buffer, so a slow
 * upload still gets its lease renewed between reads.  The records
 * themselves, and every deadline on the client, are fcgi.c's.
 *
 * CORS (cors_origins): the headers that let a page of another origin use
 * the API are added to every response head in render_head, and a preflight
 * is answered by http_cors_preflight before any route runs.
 */
#include <assert.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchup/clock.h"
#include "batchup/http.h"
#include "batchup/log.h"
#include "batchup/scoreboard.h"

void http_request_init(struct http_request *req, struct fcgi_conn *conn,
                       const struct bu_config *cfg, struct db *db)
{
    const char *uri, *q, *cl;
    size_t n;

    memset(req, 0, sizeof *req);
    req->conn = conn;
    req->cfg = cfg;
    req->db = db;
    req->start = clock_now();
    req->method = fcgi_param(conn, "REQUEST_METHOD");
    if (req->method == NULL)
        req->method = "GET";
    uri = fcgi_param(conn, "REQUEST_URI");
    if (uri == NULL)
        uri = fcgi_param(conn, "DOCUMENT_URI");
    if (uri == NULL)
        uri = fcgi_param(conn, "SCRIPT_NAME");
    if (uri == NULL)
        uri = "/";
    q = strchr(uri, '?');
    n = q ? (size_t)(q - uri) : strlen(uri);
    if (n >= sizeof req->path)
        n = sizeof req->path - 1;
    memcpy(req->path, uri, n);
    req->path[n] = '\0';
    req->query = q ? q + 1 : "";
    req->content_length = -1;
    cl = fcgi_param(conn, "CONTENT_LENGTH");
    if (cl != NULL && *cl != '\0') {
        char *end;
        long long v = strtoll(cl, &end, 10);
        if (*end == '\0' && v >= 0)
            req->content_length = v;
    }
}

const char *http_param(const struct http_request *req, const char *name)
{
    return fcgi_param(req->conn, name);
}

const char *http_header(const struct http_request *req, const char *name)
{
    char cgi[128] = "HTTP_";
    size_t i;

    if (strcasecmp(name, "Content-Type") == 0)
        return http_param(req, "CONTENT_TYPE");
    if (strcasecmp(name, "Content-Length") == 0)
        return http_param(req, "CONTENT_LENGTH");
    for (i = 0; name[i] != '\0' && i + 6 < sizeof cgi; i++)
        cgi[5 + i] = name[i] == '-' ? '_' : (char)toupper((unsigned char)name[i]);
    cgi[5 + i] = '\0';
    return http_param(req, cgi);
}

static const char *http_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 206:
        return "Partial Content";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 411:
        return "Length Required";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Content Too Large";
    case 415:
        return "Unsupported Media Type";
    case 416:
        return "Range Not Satisfiable";
    case 423:
        return "Locked";
    case 460:
        return "Checksum Mismatch";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    case 507:
        return "Insufficient Storage";
    default:
        return "Unknown";
    }
}

/* Append to a head being built in buf (cap bytes, *len used); false once
 * it does not fit, and from then on. */
static bool head_append(char *buf, size_t cap, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static bool head_append(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf + *len, cap - *len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= cap - *len)
        return false;
    *len += (size_t)n;
    assert(*len < cap);
    return true;
}

void http_add_header(struct http_request *req, const char *name, const char *fmt, ...)
{
    char value[HTTP_HEADER_VALUE_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(value, sizeof value, fmt, ap);
    va_end(ap);
    /* A header value never carries a line break: that would be response
     * splitting.  Values come from our own formatting, so this is a guard. */
    for (char *p = value; *p; p++)
        if (*p == '\r' || *p == '\n')
            *p = ' ';
    if (!req->out.overflow && !head_append(req->out.headers, sizeof req->out.headers,
                                           &req->out.headers_len, "%s: %s\r\n", name, value))
        req->out.overflow = true;
}

/* ---- CORS ----------------------------------------------------------------
 *
 * With cors_origins set, a page of another origin (an upload widget on
 * www.example.com, batchup on upload.example.com) may call the API.  The
 * headers go on every response, errors included, so that the browser shows
 * the status instead of a CORS failure; they are added when the head is
 * rendered (render_head), and nowhere else.  An Origin is allowed when
 * cors_origins is "*" or lists it byte for byte: no pattern, so
 * https://example.com.evil.net never passes for https://example.com. */

#define CORS_METHODS "POST, GET, HEAD, PATCH, DELETE, OPTIONS"
#define CORS_REQUEST_HEADERS                                                                       \
    "Authorization, Content-Type, Tus-Resumable, Upload-Length, Upload-Offset, Upload-Metadata, "  \
    "Upload-Checksum, Upload-Defer-Length, Upload-Concat, X-Requested-With, Prefer"
#define CORS_EXPOSED_HEADERS                                                                       \
    "Upload-Offset, Upload-Length, Location, Tus-Version, Tus-Resumable, Tus-Max-Size, "           \
    "Tus-Extension, Tus-Checksum-Algorithm, Upload-Metadata, Upload-Expires, "                     \
    "Upload-Defer-Length, "                                                                        \
    "Upload-Concat, Upload-Queue-Position, Retry-After, Batchup-Max-Chunk-Size"
/* How long a browser may reuse a preflight's answer (Chromium caps it at
 * two hours, Firefox at one day). */
#define CORS_MAX_AGE 86400

/* The request's Origin when cors_origins allows it, "*" when it allows
 * any, or NULL: no CORS headers. */
static const char *cors_origin(const struct http_request *req)
{
    const char *list = req->cfg ? req->cfg->cors_origins : "";
    const char *origin = http_header(req, "Origin");
    size_t n;

    if (list[0] == '\0' || origin == NULL || origin[0] == '\0')
        return NULL;
    if (strcmp(list, "*") == 0)
        return "*";
    n = strlen(origin);
    for (const char *p = list; *p != '\0'; p += strcspn(p, " "), p += *p == ' ')
        if (strcspn(p, " ") == n && memcmp(p, origin, n) == 0)
            return origin;
    return NULL;
}

/* The CORS headers into the head being rendered; false when they do not
 * fit. */
static bool cors_headers(const struct http_request *req, char *buf, size_t cap, size_t *len)
{
    const char *origin = cors_origin(req);

    /* A response that depends on Origin says so, allowed or not, so that a
     * cache never hands one origin's answer to another. */
    if (req->cfg != NULL && req->cfg->cors_origins[0] != '\0' &&
        strcmp(req->cfg->cors_origins, "*") != 0 && !head_append(buf, cap, len, "Vary: Origin\r\n"))
        return false;
    if (origin == NULL)
        return true;
    return head_append(buf, cap, len,
                       "Access-Control-Allow-Origin: %s\r\n"
                       "Access-Control-Allow-Methods: " CORS_METHODS "\r\n"
                       "Access-Control-Allow-Headers: " CORS_REQUEST_HEADERS "\r\n"
                       "Access-Control-Expose-Headers: " CORS_EXPOSED_HEADERS "\r\n"
                       "Access-Control-Max-Age: %d\r\n",
                       origin, CORS_MAX_AGE);
}

int http_cors_preflight(struct http_request *req)
{
    /* The tus capability request is an OPTIONS too: a preflight is the one
     * that carries Access-Control-Request-Method. */
    if (strcmp(req->method, "OPTIONS") != 0 ||
        http_header(req, "Access-Control-Request-Method") == NULL || cors_origin(req) == NULL)
        return 0;
    http_send_empty(req, 204);
    return 1;
}

/* The head of req->out, rendered into buf: the status line, the handler's
 * headers, the route's, CORS's and the blank line.  A status the handler
 * never set, or a head too large, is the server's fault: a bare 500. */
static size_t render_head(struct http_request *req, char *buf, size_t cap)
{
    struct http_response *out = &req->out;
    size_t len = 0;
    char path[sizeof req->path];

    if (out->status >= 100 && out->status <= 599 && !out->overflow &&
        head_append(buf, cap, &len, "Status: %d %s\r\n%.*s", out->status, http_reason(out->status),
                    (int)out->headers_len, out->headers) &&
        (req->route_header == NULL || head_append(buf, cap, &len, "%s\r\n", req->route_header)) &&
        cors_headers(req, buf, cap, &len) && head_append(buf, cap, &len, "\r\n"))
        return len;
    log_redact_path(req->path, path, sizeof path);
    log_error("%s for %s %s",
              out->overflow ? "response head too large" : "no valid response status set",
              req->method, path);
    out->status = 500;
    len = 0;
    head_append(buf, cap, &len, "Status: 500 %s\r\n\r\n", http_reason(500));
    return len;
}

/* Send the head, once: from here on the status and headers are final. */
static int send_head(struct http_request *req)
{
    char head[HTTP_HEAD_MAX];
    size_t len;

    if (req->out.head_sent)
        return 0;
    req->out.head_sent = true;
    len = render_head(req, head, sizeof head);
    if (fcgi_write(req->conn, head, len) != 0) {
        req->client_gone = 1;
        return -1;
    }
    return 0;
}

/* The bytes of a response body go out through fcgi.c: small writes
 * gathered into records, large ones as records of their own, file bytes
 * with sendfile(2) so that they never enter the worker. */
int http_write(struct http_request *req, const void *buf, size_t len)
{
    if (req->client_gone || send_head(req) != 0)
        return -1;
    if (fcgi_write(req->conn, buf, len) != 0) {
        req->client_gone = 1;
        return -1;
    }
    req->bytes_out += len;
    scoreboard_bytes(req->conn->bytes_in, req->bytes_out);
    return 0;
}

/* What went out is counted even when the client left midway: the file's
 * bytes the connection took (after the buffered ones are flushed, counted
 * already by http_write), so that the log line and bytes_sent say how much
 * of a cut download was sent, not nothing. */
int http_sendfile(struct http_request *req, int fd, uint64_t offset, uint64_t len)
{
    uint64_t before;
    int rc;

    if (req->client_gone || send_head(req) != 0)
        return -1;
    if (fcgi_flush(req->conn) != 0) {
        req->client_gone = 1;
        return -1;
    }
    before = req->conn->bytes_out;
    rc = fcgi_sendfile(req->conn, fd, offset, len);
    req->bytes_out += req->conn->bytes_out - before;
    scoreboard_bytes(req->conn->bytes_in, req->bytes_out);
    if (rc != 0) {
        req->client_gone = 1;
        return -1;
    }
    return 0;
}

int http_flush(struct http_request *req)
{
    if (req->client_gone || send_head(req) != 0)
        return -1;
    if (fcgi_flush(req->conn) != 0) {
        req->client_gone = 1;
        return -1;
    }
    return 0;
}

void http_send_json_text(struct http_request *req, int status, const char *json)
{
    size_t len = strlen(json);

    req->out.status = status;
    http_add_header(req, "Content-Type", "application/json; charset=utf-8");
    http_add_header(req, "Content-Length", "%zu", len + 1);
    http_add_header(req, "Cache-Control", "no-store");
    http_write(req, json, len);
    http_write(req, "\n", 1);
}

void http_send_json(struct http_request *req, int status, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);

    json_decref(body);
    if (text == NULL) {
        struct bu_error err;
        error_set(&err, BU_E_INTERNAL, "could not encode the response");
        http_send_error(req, &err);
        return;
    }
    http_send_json_text(req, status, text);
    free(text);
}

void http_send_error(struct http_request *req, const struct bu_error *err)
{
    json_t *body = json_pack("{s:{s:s,s:s}}", "error", "code", err->code ? err->code : "internal",
                             "message", err->message);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    size_t len;
    int status;

    json_decref(body);
    if (req->out.head_sent) {
        /* Too late for a status: the body has begun.  Ending it short is the
         * only signal left (the client sees a truncated response). */
        free(text);
        return;
    }
    /* Headers added for another status belong to an answer that is not
     * given (a 201's Location before a later failure). */
    if (err->status == 0)
        /* Status 0 marks the command line's own errors (error.h): one that
         * reached a request is a bug, answered as one. */
        log_error("status %d is not an HTTP status; answering 500", err->status);
    status = text != NULL && err->status != 0 ? err->status : 500;
    if (req->out.status != status || text == NULL) {
        req->out.headers_len = 0;
        req->out.overflow = false;
    }
    req->out.status = status;
    if (text == NULL) {
        http_write(req, "", 0);
        return;
    }
    len = strlen(text);
    http_add_header(req, "Cache-Control", "no-store");
    if (err->status == 423 || err->status == 503)
        http_add_header(req, "Retry-After", "%d", req->cfg ? req->cfg->queue_retry_seconds : 2);
    if (err->status == 401)
        http_add_header(req, "WWW-Authenticate", "Bearer realm=\"batchup\"");
    if (strcmp(req->method, "HEAD") == 0) {
        /* HEAD answers carry no body: the status says it. */
        send_head(req);
    } else {
        http_add_header(req, "Content-Type", "application/json; charset=utf-8");
        http_add_header(req, "Content-Length", "%zu", len + 1);
        http_write(req, text, len);
        http_write(req, "\n", 1);
    }
    free(text);
}

void http_send_empty(struct http_request *req, int status)
{
    req->out.status = status;
    if (status != 204 && status != 304 && strcmp(req->method, "HEAD") != 0)
        http_add_header(req, "Content-Length", "0");
    send_head(req);
}

ssize_t http_read(struct http_request *req, void *buf, size_t cap)
{
    ssize_t n = fcgi_read(req->conn, buf, cap);
    enum fcgi_end end = req->conn->end;

    if (n > 0)
        return n;
    if (end == FCGI_END_CLEAN &&
        (req->content_length < 0 || req->conn->bytes_in >= (uint64_t)req->content_length))
        return 0;
    /* A wake-up or a tick is a pause, not an end: the caller may read on. */
    if (end != FCGI_END_WOKEN && end != FCGI_END_TICK)
        req->body_aborted = 1;
    return -1;
}

char *http_read_all(struct http_request *req, size_t max, size_t *len, struct bu_error *err)
{
    size_t cap = 4096, used = 0;
    char *buf = malloc(cap + 1);

    if (buf == NULL) {
        error_set(err, BU_E_INTERNAL, "out of memory");
        return NULL;
    }
    for (;;) {
        ssize_t n;
        if (used == cap) {
            char *bigger;
            if (cap >= max) {
                free(buf);
                error_set(err, BU_E_BODY_TOO_LARGE, "the request body is larger than %zu bytes",
                          max);
                return NULL;
            }
            cap = cap * 2 > max ? max : cap * 2;
            bigger = realloc(buf, cap + 1);
            if (bigger == NULL) {
                free(buf);
                error_set(err, BU_E_INTERNAL, "out of memory");
                return NULL;
            }
            buf = bigger;
        }
        n = http_read(req, buf + used, cap - used);
        if (n < 0) {
            free(buf);
            error_set(err, BU_E_BODY_INCOMPLETE, "the request body ended early");
            return NULL;
        }
        if (n == 0)
            break;
        used += (size_t)n;
    }
    buf[used] = '\0';
    *len = used;
    return buf;
}
