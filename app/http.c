/*
 * http.c - the HTTP layer over FastCGI.
 *
 * Responses: the head (Status line and headers) is built in a fixed buffer
 * and sent with the first body byte, so a handler can add headers until it
 * writes.  Every JSON response and every error goes through here, so the one
 * error shape of the API is produced in one place.
 *
 * Request bodies: CONTENT_LENGTH is only a hint.  nginx with request
 * buffering off sends chunked bodies without it, Apache's mod_proxy_fcgi
 * likewise, so the body is read until libfcgi reports its end, and a body
 * that contradicts a declared length is rejected by the caller.  http_read
 * returns what has arrived instead of waiting for a full buffer, so a slow
 * upload still gets its lease renewed between reads.
 */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fastcgi.h>

#include "batchup/clock.h"
#include "batchup/http.h"
#include "batchup/log.h"

void http_request_init(struct http_request *req, FCGX_Request *fcgx, const struct bu_config *cfg,
                       struct db *db)
{
    const char *uri, *q, *cl;
    size_t n;

    memset(req, 0, sizeof *req);
    req->fcgx = fcgx;
    req->cfg = cfg;
    req->db = db;
    req->start = clock_now();
    req->method = FCGX_GetParam("REQUEST_METHOD", fcgx->envp);
    if (req->method == NULL)
        req->method = "GET";
    uri = FCGX_GetParam("REQUEST_URI", fcgx->envp);
    if (uri == NULL)
        uri = FCGX_GetParam("DOCUMENT_URI", fcgx->envp);
    if (uri == NULL)
        uri = FCGX_GetParam("SCRIPT_NAME", fcgx->envp);
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
    cl = FCGX_GetParam("CONTENT_LENGTH", fcgx->envp);
    if (cl != NULL && *cl != '\0') {
        char *end;
        long long v = strtoll(cl, &end, 10);
        if (*end == '\0' && v >= 0)
            req->content_length = v;
    }
}

const char *http_param(const struct http_request *req, const char *name)
{
    return FCGX_GetParam(name, req->fcgx->envp);
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
    default:
        return "Unknown";
    }
}

static void head_append(struct http_request *req, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void head_append(struct http_request *req, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (req->head_overflow)
        return;
    va_start(ap, fmt);
    n = vsnprintf(req->head + req->head_len, sizeof req->head - req->head_len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof req->head - req->head_len)
        req->head_overflow = 1;
    else
        req->head_len += (size_t)n;
    assert(req->head_len < sizeof req->head);
}

void http_status(struct http_request *req, int status)
{
    req->status = status;
    req->head_len = 0;
    req->head_overflow = 0;
    head_append(req, "Status: %d %s\r\n", status, http_reason(status));
}

void http_add_header(struct http_request *req, const char *name, const char *fmt, ...)
{
    char value[2048];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(value, sizeof value, fmt, ap);
    va_end(ap);
    /* A header value never carries a line break: that would be response
     * splitting.  Values come from our own formatting, so this is a guard. */
    for (char *p = value; *p; p++)
        if (*p == '\r' || *p == '\n')
            *p = ' ';
    head_append(req, "%s: %s\r\n", name, value);
}

static int send_head(struct http_request *req)
{
    if (req->head_sent)
        return 0;
    req->head_sent = 1;
    if (req->status == 0)
        http_status(req, 200);
    if (req->route_header != NULL)
        head_append(req, "%s\r\n", req->route_header);
    if (req->head_overflow) {
        char path[sizeof req->path];
        log_redact_path(req->path, path, sizeof path);
        log_error("response head too large for %s %s", req->method, path);
        http_status(req, 500);
    }
    head_append(req, "\r\n");
    if (FCGX_PutStr(req->head, (int)req->head_len, req->fcgx->out) < 0) {
        req->client_gone = 1;
        return -1;
    }
    return 0;
}

/* Response bodies go out as FastCGI STDOUT records written straight to the
 * connection, each carrying up to FCGI_MAX_LENGTH bytes.  libfcgi buffers
 * its output in 8 KiB records, one write(2) each; for file bodies and ZIP
 * streams that is 130,000 system calls a GiB, on both sides (nginx reads
 * them one by one too).  libfcgi's own buffer is flushed first, so the
 * stream stays in order, and it still writes the end-of-stream and
 * end-of-request records itself.
 *
 * write_record is the one record writer: the header, then the content,
 * from memory (buf) or, when buf is NULL, from fd at *at with sendfile(2),
 * so that file bytes never enter the worker. */
static int write_all(int fd, const void *p, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p = (const char *)p + w;
        len -= (size_t)w;
    }
    return 0;
}

static int write_record(struct http_request *req, const void *buf, int fd, off_t *at, size_t len)
{
    FCGI_Header h = {
        .version = FCGI_VERSION_1,
        .type = FCGI_STDOUT,
        .requestIdB1 = (unsigned char)(req->fcgx->requestId >> 8),
        .requestIdB0 = (unsigned char)req->fcgx->requestId,
        .contentLengthB1 = (unsigned char)(len >> 8),
        .contentLengthB0 = (unsigned char)len,
    };
    int sock = req->fcgx->ipcFd;
    size_t done = 0;

    assert(len <= FCGI_MAX_LENGTH);
    if (buf == NULL) {
        if (write_all(sock, &h, sizeof h) != 0)
            return -1;
        while (done < len) {
            ssize_t w = sendfile(sock, fd, at, len - done);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                /* The record promised bytes that cannot come (a client gone,
                 * or a file shorter than it should be): the stream cannot be
                 * continued, so end the connection; the web server sees a
                 * truncated response. */
                shutdown(sock, SHUT_RDWR);
                return -1;
            }
            done += (size_t)w;
        }
        return 0;
    }
    while (done < sizeof h + len) {
        struct iovec iov[2];
        int n = 0;
        ssize_t w;
        if (done < sizeof h)
            iov[n++] = (struct iovec){(char *)&h + done, sizeof h - done};
        iov[n++] = (struct iovec){(char *)buf + (done > sizeof h ? done - sizeof h : 0),
                                  len - (done > sizeof h ? done - sizeof h : 0)};
        w = writev(sock, iov, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        done += (size_t)w;
    }
    return 0;
}

/* Send len bytes (from buf, or from fd at offset) as STDOUT records. */
static int write_stdout(struct http_request *req, const void *buf, int fd, uint64_t offset,
                        uint64_t len)
{
    off_t at = (off_t)offset;

    if (req->client_gone || send_head(req) != 0 || FCGX_FFlush(req->fcgx->out) < 0)
        goto gone;
    while (len > 0) {
        size_t chunk = len > FCGI_MAX_LENGTH ? FCGI_MAX_LENGTH : (size_t)len;
        if (write_record(req, buf, fd, &at, chunk) != 0)
            goto gone;
        req->bytes_out += chunk;
        if (buf != NULL)
            buf = (const char *)buf + chunk;
        len -= chunk;
    }
    return 0;
gone:
    req->client_gone = 1;
    return -1;
}

int http_sendfile(struct http_request *req, int fd, uint64_t offset, uint64_t len)
{
    return write_stdout(req, NULL, fd, offset, len);
}

int http_write(struct http_request *req, const void *buf, size_t len)
{
    if (req->client_gone)
        return -1;
    if (send_head(req) != 0)
        return -1;
    if (len >= 16384)
        return write_stdout(req, buf, -1, 0, len);
    while (len > 0) {
        int chunk = len > (1u << 30) ? (1 << 30) : (int)len;
        if (FCGX_PutStr(buf, chunk, req->fcgx->out) < 0) {
            req->client_gone = 1;
            return -1;
        }
        req->bytes_out += (uint64_t)chunk;
        buf = (const char *)buf + chunk;
        len -= (size_t)chunk;
    }
    return 0;
}

int http_flush(struct http_request *req)
{
    if (req->client_gone || send_head(req) != 0)
        return -1;
    if (FCGX_FFlush(req->fcgx->out) < 0) {
        req->client_gone = 1;
        return -1;
    }
    return 0;
}

/* Start status unless the caller already did (to add headers of its own). */
static void begin(struct http_request *req, int status)
{
    if (req->status != status || req->head_len == 0)
        http_status(req, status);
}

void http_send_json_text(struct http_request *req, int status, const char *json)
{
    size_t len = strlen(json);

    begin(req, status);
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

    json_decref(body);
    if (req->head_sent) {
        /* Too late for a status: the body has begun.  Ending it short is the
         * only signal left (the client sees a truncated response). */
        free(text);
        return;
    }
    if (text == NULL) {
        http_status(req, 500);
        http_write(req, "", 0);
        return;
    }
    len = strlen(text);
    begin(req, err->status ? err->status : 500);
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
    begin(req, status);
    if (status != 204 && status != 304 && strcmp(req->method, "HEAD") != 0)
        http_add_header(req, "Content-Length", "0");
    send_head(req);
}

ssize_t http_read(struct http_request *req, void *buf, size_t cap)
{
    FCGX_Stream *in = req->fcgx->in;
    char *out = buf;
    size_t got = 0;
    double t0 = clock_now();

    if (cap > (1u << 30))
        cap = 1u << 30;
    while (got < cap) {
        size_t avail = (size_t)(in->stop - in->rdNext);
        int n;

        if (avail == 0) {
            /* A slow body returns what it has every 100 ms, so the caller
             * can store it and renew its lease; a fast one fills the buffer.
             * (A clock read is far cheaper than asking the socket.) */
            if (got > 0 && clock_now() - t0 >= 0.1)
                break;
            avail = 1; /* blocks for the next record */
        }
        if (avail > cap - got)
            avail = cap - got;
        n = FCGX_GetStr(out + got, (int)avail, in);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    req->bytes_in += got;
    if (got > 0)
        return (ssize_t)got;
    if (FCGX_GetError(in) != 0 ||
        (req->content_length >= 0 && req->bytes_in < (uint64_t)req->content_length)) {
        req->body_aborted = 1;
        return -1;
    }
    return 0;
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
