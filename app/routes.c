/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * routes.c - the API's routes, in one table.
 *
 * Each row is (methods, path pattern, handler, headers): a pattern is
 * literal but for its variable segments, {uuid} (a canonical lower-case
 * UUID: batch and file ids) and {token} (a download-link token), which are
 * checked for their exact form here, so handlers and the storage layer only
 * ever see ids that are safe to put in a file name or a query.  "Allow" and
 * 405 follow from the table: a path that some row matches, asked with a
 * method none of those rows has, is 405 with the union of their methods;
 * any other path is 404.  The paths of the metrics endpoint and the status
 * page are the configuration's (metrics_path, status_path; empty turns
 * them off).
 *
 * To find where a request is handled, find its row here: the handler's
 * prefix names its file (tus_patch is in app/tus.c).
 *
 * Before a handler that may hold its worker for as long as the client
 * likes runs (a download), the request takes a place in its class on the
 * scoreboard (admission; an upload body and a batch body take theirs in
 * upload.c and batches.c, once the slot is granted or the user is known,
 * and a queued upload held for its slot a held place, which a granted one
 * may take over: routes_admit_hold):
 * each class may hold a share of the pool, so short requests always find a
 * worker, and a request beyond its class's share is answered 503 with
 * Retry-After at once, never made to wait.
 */
#include <stdio.h>
#include <string.h>

#include "batchup/batches.h"
#include "batchup/check.h"
#include "batchup/download.h"
#include "batchup/health.h"
#include "batchup/metrics.h"
#include "batchup/page.h"
#include "batchup/routes.h"
#include "batchup/scoreboard.h"
#include "batchup/status.h"
#include "batchup/tus.h"

#define METRICS_PATH "@metrics_path"
#define STATUS_PATH "@status_path"
#define TUS "Tus-Resumable: 1.0.0"

struct route {
    const char *methods; /* space-separated */
    const char *pattern;
    routes_handler handler;
    const char *header; /* a header line for every response, or NULL */
};

static const struct route routes[] = {
    {"GET HEAD", "/", page_get, NULL},
    {"GET HEAD", "/api/v1/health", health_get, NULL},
    {"GET", METRICS_PATH, metrics_get, NULL},
    {"GET", STATUS_PATH, status_get, NULL},

    {"POST", "/api/v1/batches", batches_create, NULL},
    {"GET", "/api/v1/batches", batches_list, NULL},
    {"GET", "/api/v1/batches/{uuid}", batches_get, NULL},
    {"DELETE", "/api/v1/batches/{uuid}", batches_delete, NULL},
    {"POST", "/api/v1/batches/{uuid}/link", batches_link_create, NULL},
    {"DELETE", "/api/v1/batches/{uuid}/link", batches_link_delete, NULL},
    {"POST", "/api/v1/batches/{uuid}/close", batches_close, NULL},

    {"OPTIONS", "/api/v1/files", tus_options, TUS},
    {"POST", "/api/v1/files", tus_create, TUS},
    {"OPTIONS", "/api/v1/files/", tus_options, TUS},
    {"POST", "/api/v1/files/", tus_create, TUS},
    {"OPTIONS", "/api/v1/files/{uuid}", tus_options, TUS},
    {"HEAD", "/api/v1/files/{uuid}", tus_head, TUS},
    {"PATCH", "/api/v1/files/{uuid}", tus_patch, TUS},
    {"DELETE", "/api/v1/files/{uuid}", tus_delete, TUS},

    {"GET HEAD", "/api/v1/download/stream/{uuid}", download_stream, NULL},
    {"GET HEAD", "/api/v1/download/batch/{token}", download_zip, NULL},
    {"GET HEAD", "/api/v1/download/batch/{token}/manifest", download_manifest, NULL},
    {"GET HEAD", "/api/v1/download/batch/{token}/files/{uuid}", download_link_file, NULL},
};

/* Download-link tokens: 43 characters as issued; older or hand-made ones
 * may differ in length, never in alphabet. */
#define LINK_TOKEN_MIN 22
#define LINK_TOKEN_MAX 128

/* Does one variable segment (len bytes at s) have the form kind asks for? */
static int segment_fits(const char *kind, size_t kind_len, const char *s, size_t len,
                        char out[sizeof((struct http_request *)0)->param[0]])
{
    if (len >= sizeof((struct http_request *)0)->param[0])
        return 0;
    memcpy(out, s, len);
    out[len] = '\0';
    if (kind_len == 6 && memcmp(kind, "{uuid}", 6) == 0)
        return check_uuid(out);
    if (kind_len == 7 && memcmp(kind, "{token}", 7) == 0)
        return check_token(out, LINK_TOKEN_MIN, LINK_TOKEN_MAX);
    return 0;
}

/* Match path against pattern segment by segment, capturing the variable
 * segments into req->param. */
static int match(const char *pattern, const char *path, struct http_request *req)
{
    int nparam = 0;

    while (*pattern != '\0' && *path != '\0') {
        size_t plen = strcspn(pattern + 1, "/") + 1, slen = strcspn(path + 1, "/") + 1;
        if (pattern[1] == '{') {
            if (nparam == 2 || path[0] != '/' ||
                !segment_fits(pattern + 1, plen - 1, path + 1, slen - 1, req->param[nparam]))
                return 0;
            nparam++;
        } else if (plen != slen || memcmp(pattern, path, plen) != 0) {
            return 0;
        }
        pattern += plen;
        path += slen;
    }
    return *pattern == '\0' && *path == '\0';
}

static int route_matches(const struct route *r, struct http_request *req)
{
    if (strcmp(r->pattern, METRICS_PATH) == 0)
        return req->cfg->metrics_path[0] != '\0' && strcmp(req->path, req->cfg->metrics_path) == 0;
    if (strcmp(r->pattern, STATUS_PATH) == 0)
        return req->cfg->status_path[0] != '\0' && strcmp(req->path, req->cfg->status_path) == 0;
    return match(r->pattern, req->path, req);
}

static int has_method(const char *methods, const char *method)
{
    size_t n = strlen(method);

    for (const char *p = methods; *p != '\0'; p += strcspn(p, " "), p += *p == ' ') {
        if (strncmp(p, method, n) == 0 && (p[n] == ' ' || p[n] == '\0'))
            return 1;
    }
    return 0;
}

/* Add methods to a space-separated set, each once. */
static void methods_add(char *set, size_t cap, const char *methods)
{
    for (const char *p = methods; *p != '\0'; p += strcspn(p, " "), p += *p == ' ') {
        char one[16];
        snprintf(one, sizeof one, "%.*s", (int)strcspn(p, " "), p);
        if (!has_method(set, one))
            snprintf(set + strlen(set), cap - strlen(set), "%s%s", *set ? " " : "", one);
    }
}

static int method_not_allowed(struct http_request *req, const char *methods, struct bu_error *err)
{
    char allow[160] = "";

    /* "GET HEAD" is listed "GET, HEAD". */
    for (const char *p = methods; *p != '\0'; p += strcspn(p, " "), p += *p == ' ')
        snprintf(allow + strlen(allow), sizeof allow - strlen(allow), "%s%.*s", *allow ? ", " : "",
                 (int)strcspn(p, " "), p);
    error_set(err, BU_E_METHOD_NOT_ALLOWED, "%s is not allowed here; allowed: %s", req->method,
              allow);
    req->out.status = err->status;
    http_add_header(req, "Allow", "%s", allow);
    return -1;
}

/* ---- admission ------------------------------------------------------ */

/* A 64-bit FNV-1a hash of s, never 0 (0 means "not counted"). */
static uint64_t routes_key(const char *s)
{
    uint64_t h = 1469598103934665603ull;

    for (; s != NULL && *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h != 0 ? h : 1;
}

/* Which long-running class the request of route r belongs to, as far as
 * the router decides: a HEAD of a download sends no body; upload bodies
 * are admitted by upload.c once their slot is granted, batch bodies by
 * batches.c once the user is known. */
static enum scoreboard_class routes_class(const struct http_request *req, const struct route *r)
{
    if (strcmp(req->method, "HEAD") == 0)
        return SB_CLASS_SHORT;
    if (r->handler == download_zip || r->handler == download_stream ||
        r->handler == download_link_file)
        return SB_CLASS_DOWNLOAD;
    return SB_CLASS_SHORT;
}

/* Take the request's place in its class: 0, or -1 with 503 server_busy
 * (and Retry-After) when the class holds its share of the pool already, or
 * the client its own: a download's address or link, a batch body's user
 * (per_user_limit bodies at once, so that one account cannot fill the
 * class behind a web server that streams bodies). */
int routes_admit(struct http_request *req, enum scoreboard_class cls, struct bu_error *err)
{
    struct scoreboard_admission a = {.cls = cls};
    struct config_caps caps;
    static const char *const names[] = {[SB_CLASS_UPLOAD] = "uploads",
                                        [SB_CLASS_DOWNLOAD] = "downloads",
                                        [SB_CLASS_BODY] = "batch bodies"};

    if (a.cls == SB_CLASS_SHORT)
        return 0;
    config_class_caps(req->cfg, &caps);
    a.cap = a.cls == SB_CLASS_UPLOAD     ? caps.upload
            : a.cls == SB_CLASS_DOWNLOAD ? caps.download
                                         : caps.body;
    a.long_cap = caps.long_total;
    if (a.cls == SB_CLASS_BODY && req->user_id != 0) {
        char user[24];
        snprintf(user, sizeof user, "user %d", req->user_id);
        a.client_key = routes_key(user);
        a.per_client = req->cfg->per_user_limit;
    }
    if (a.cls == SB_CLASS_DOWNLOAD) {
        a.client_key = routes_key(http_param(req, "REMOTE_ADDR"));
        a.per_client = req->cfg->download_per_address;
        /* The link's token, or the owner's file id. */
        a.link_key = routes_key(req->param[0]);
        a.per_link = req->cfg->download_per_link;
    }
    if (scoreboard_admit(&a))
        return 0;
    error_set(err, BU_E_SERVER_BUSY,
              "the server is busy with other %s (or this client's or link's share of them): "
              "retry in a moment",
              names[a.cls]);
    return -1; /* http_send_error adds Retry-After to every 503 */
}

bool routes_admit_hold(struct http_request *req)
{
    struct scoreboard_admission a = {.cls = SB_CLASS_UPLOAD, .held = true};
    struct config_caps caps;

    config_class_caps(req->cfg, &caps);
    a.cap = caps.upload;
    a.long_cap = caps.long_total;
    return scoreboard_admit(&a);
}

void routes_dispatch(struct http_request *req)
{
    char methods[128] = "";
    struct bu_error err;

    if (http_cors_preflight(req))
        return;
    /* X-HTTP-Method-Override is not honoured: it would turn a POST, which a
     * cross-site form may send, into a DELETE or PATCH. */
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        const struct route *r = &routes[i];
        if (!route_matches(r, req))
            continue;
        if (!has_method(r->methods, req->method)) {
            methods_add(methods, sizeof methods, r->methods);
            continue;
        }
        req->route_header = r->header;
        if (routes_admit(req, routes_class(req, r), &err) != 0 || r->handler(req, &err) != 0)
            http_send_error(req, &err);
        /* The answer is written: the worker only finishes the connection
         * now (a moment's linger), which must not count as a long request. */
        scoreboard_leave();
        return;
    }
    if (methods[0] != '\0')
        method_not_allowed(req, methods, &err);
    else
        error_set(&err, BU_E_NOT_FOUND, "no such resource: %s", req->path);
    http_send_error(req, &err);
}
