/*
 * routes.c - dispatching a request to its handler.
 *
 * Paths are matched literally under /api/v1; ids in paths are checked for
 * their exact form here (UUIDs, URL-safe tokens), so handlers and the storage
 * layer only ever see ids that are safe to put in a file name or a query.
 * A known path with the wrong method is 405 with Allow; anything else 404.
 */
#include <stdio.h>
#include <string.h>

#include "batchup/batches.h"
#include "batchup/download.h"
#include "batchup/log.h"
#include "batchup/metrics.h"
#include "batchup/page.h"
#include "batchup/routes.h"
#include "batchup/tus.h"

int routes_is_uuid(const char *s)
{
    for (int i = 0; i < 36; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return 0;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return 0;
        }
    }
    return s[36] == '\0';
}

static void health(struct http_request *req)
{
    struct bu_error err;
    PGresult *res = db_query(req->db, &err, "SELECT 1", 0, NULL);

    if (res == NULL) {
        http_send_json(req, 503,
                       json_pack("{s:s,s:s}", "status", "unavailable", "database", "down"));
        return;
    }
    PQclear(res);
    http_send_json(
        req, 200,
        json_pack("{s:s,s:s,s:s}", "status", "ok", "database", "ok", "version", BATCHUP_VERSION));
}

static void method_not_allowed(struct http_request *req, const char *allow)
{
    struct bu_error err;

    error_set(&err, 405, "method_not_allowed", "%s is not allowed here; allowed: %s", req->method,
              allow);
    http_status(req, 405);
    http_add_header(req, "Allow", "%s", allow);
    http_send_error(req, &err);
}

static int is(const struct http_request *req, const char *method)
{
    return strcmp(req->method, method) == 0;
}

void routes_dispatch(struct http_request *req)
{
    const char *p = req->path;
    const char *override = http_header(req, "X-HTTP-Method-Override");
    struct bu_error err;

    /* tus clients behind proxies that drop PATCH send POST with this header. */
    if (override != NULL && is(req, "POST") &&
        (strcmp(override, "PATCH") == 0 || strcmp(override, "DELETE") == 0 ||
         strcmp(override, "HEAD") == 0))
        req->method = override;

    if (strcmp(p, "/") == 0) {
        if (is(req, "GET") || is(req, "HEAD"))
            page_handle(req);
        else
            method_not_allowed(req, "GET, HEAD");
        return;
    }
    if (strcmp(p, "/api/v1/health") == 0) {
        if (is(req, "GET") || is(req, "HEAD"))
            health(req);
        else
            method_not_allowed(req, "GET, HEAD");
        return;
    }
    if (req->cfg->metrics_path[0] != '\0' && strcmp(p, req->cfg->metrics_path) == 0) {
        if (is(req, "GET"))
            metrics_handle(req);
        else
            method_not_allowed(req, "GET");
        return;
    }
    if (strcmp(p, "/api/v1/batches") == 0) {
        if (is(req, "POST"))
            batches_create(req);
        else if (is(req, "GET"))
            batches_list(req);
        else
            method_not_allowed(req, "GET, POST");
        return;
    }
    if (strncmp(p, "/api/v1/batches/", 16) == 0 && routes_is_uuid(p + 16)) {
        if (is(req, "GET"))
            batches_get(req, p + 16);
        else if (is(req, "DELETE"))
            batches_delete(req, p + 16);
        else
            method_not_allowed(req, "GET, DELETE");
        return;
    }
    if (strcmp(p, "/api/v1/files") == 0 || strcmp(p, "/api/v1/files/") == 0) {
        if (is(req, "OPTIONS"))
            tus_options(req);
        else if (is(req, "POST"))
            tus_create(req);
        else
            method_not_allowed(req, "OPTIONS, POST");
        return;
    }
    if (strncmp(p, "/api/v1/files/", 14) == 0 && routes_is_uuid(p + 14)) {
        if (is(req, "OPTIONS"))
            tus_options(req);
        else if (is(req, "HEAD"))
            tus_head(req, p + 14);
        else if (is(req, "PATCH"))
            tus_patch(req, p + 14);
        else if (is(req, "DELETE"))
            tus_delete(req, p + 14);
        else
            method_not_allowed(req, "OPTIONS, HEAD, PATCH, DELETE");
        return;
    }
    if (strncmp(p, "/api/v1/download/", 17) == 0) {
        if (!is(req, "GET") && !is(req, "HEAD"))
            return method_not_allowed(req, "GET, HEAD");
        if (strncmp(p + 17, "stream/", 7) == 0 && routes_is_uuid(p + 24))
            return download_stream(req, p + 24);
        if (strncmp(p + 17, "batch/", 6) == 0) {
            char token[129];
            const char *t = p + 23, *slash = strchr(t, '/');
            size_t n = slash ? (size_t)(slash - t) : strlen(t);
            if (n > 0 && n < sizeof token) {
                memcpy(token, t, n);
                token[n] = '\0';
                return download_batch(req, token, t + n);
            }
        }
    }
    error_set(&err, 404, "not_found", "no such resource: %s", p);
    http_send_error(req, &err);
}
