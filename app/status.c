/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * status.c - the status page (php-fpm's pm.status_path), and
 * `batchup status`, which reads it.
 *
 * GET <status_path> shows the pool as the scoreboard has it: the process
 * manager's settings, how many workers are idle and busy, the connections
 * accepted and waiting, and every worker's state (reading, handling,
 * receiving which upload for which user, sending; since when; bytes), with
 * the slots held and the files queued from the database.  Plain text by
 * default, JSON with ?json.  It is off unless status_path is set, and the
 * shipped web server configurations let only loopback reach it: it names
 * users and uploads.
 *
 * `batchup status` asks the server itself: it connects to the `listen`
 * socket (the address the configuration parsed, which the listener binds)
 * and speaks FastCGI to it, as the web server would (the records encoded
 * and decoded by fcgi.c, the one codec of the format), and prints the page.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <fastcgi.h>
#include <jansson.h>

#include "batchup/clock.h"
#include "batchup/fcgi.h"
#include "batchup/listener.h"
#include "batchup/scoreboard.h"
#include "batchup/status.h"
#include "batchup/store.h"

static const char *const state_names[] = {
    [SB_FREE] = "free",       [SB_STARTING] = "starting", [SB_IDLE] = "idle",
    [SB_READING] = "reading", [SB_HANDLING] = "handling", [SB_RECEIVING] = "receiving",
    [SB_SENDING] = "sending", [SB_QUEUED] = "queued",
};

static const char *const pm_names[] = {"static", "dynamic", "ondemand"};

#define STATUS_REQUEST_ID 1 /* the one request of `batchup status`'s connection */

static json_t *worker_json(const struct scoreboard_worker *w, double now)
{
    json_t *o = json_pack("{s:i,s:s,s:f,s:I,s:f}", "pid", (int)w->pid, "state",
                          state_names[w->state], "state_seconds", now - w->since, "requests",
                          (json_int_t)w->requests, "uptime_seconds", now - w->started);

    if (w->request_at > 0)
        json_object_set_new(o, "request",
                            json_pack("{s:s,s:s,s:s?,s:s?,s:I,s:I,s:f}", "method", w->method,
                                      "path", w->path, "user", w->user[0] ? w->user : NULL,
                                      "upload", w->upload[0] ? w->upload : NULL, "bytes_in",
                                      (json_int_t)w->bytes_in, "bytes_out",
                                      (json_int_t)w->bytes_out, "seconds", now - w->request_at));
    return o;
}

/* The whole page as JSON: the pool, then every worker. */
static json_t *status_json(struct http_request *req)
{
    const struct bu_config *cfg = req->cfg;
    struct scoreboard_pool pool;
    struct bu_error err;
    json_t *workers = json_array();
    long held = -1, queued = -1;
    int idle = 0, busy = 0;
    double now = clock_now();

    scoreboard_pool_read(&pool);
    for (int i = 0; i < SCOREBOARD_SLOTS; i++) {
        struct scoreboard_worker w;
        scoreboard_read(i, &w);
        if (w.state == SB_FREE)
            continue;
        if (w.state == SB_IDLE || w.state == SB_STARTING)
            idle++;
        else
            busy++;
        json_array_append_new(workers, worker_json(&w, now));
    }
    if (store_upload_counts(req->db, &err, &held, &queued) != 0)
        held = queued = -1;
    return json_pack("{s:{s:s,s:i,s:i,s:i,s:i,s:i,s:f,s:I,s:i,s:i,s:i,s:i,s:i,s:I,s:I,s:I},s:o}",
                     "pool", "pm", pm_names[cfg->pm], "workers", cfg->workers, "start_servers",
                     cfg->pm_start_servers, "min_spare_servers", cfg->pm_min_spare_servers,
                     "max_spare_servers", cfg->pm_max_spare_servers, "process_idle_timeout",
                     cfg->pm_process_idle_timeout, "uptime_seconds", now - pool.started,
                     "accepted_connections", (json_int_t)scoreboard_accepted(), "idle_workers",
                     idle, "busy_workers", busy, "total_workers", idle + busy, "listen_queue",
                     (int)pool.listen_queue, "listen_queue_max", (int)pool.listen_backlog,
                     "max_children_reached", (json_int_t)pool.max_reached, "slots_held",
                     (json_int_t)held, "uploads_queued", (json_int_t)queued, "workers", workers);
}

/* The same as text: "name value" lines, then one line a worker. */
static void text_line(FILE *f, const char *name, json_t *v)
{
    if (json_is_real(v))
        fprintf(f, "%-22s %.0f\n", name, json_real_value(v));
    else if (json_is_integer(v))
        fprintf(f, "%-22s %lld\n", name, (long long)json_integer_value(v));
    else
        fprintf(f, "%-22s %s\n", name, json_string_value(v));
}

static char *status_text(json_t *page)
{
    char *buf = NULL;
    size_t len = 0, i;
    FILE *f = open_memstream(&buf, &len);
    json_t *pool = json_object_get(page, "pool"), *workers = json_object_get(page, "workers");

    if (f == NULL)
        return NULL;
    for (void *it = json_object_iter(pool); it != NULL; it = json_object_iter_next(pool, it))
        text_line(f, json_object_iter_key(it), json_object_iter_value(it));
    fprintf(f, "\n%-8s %-10s %8s %8s  %s\n", "pid", "state", "seconds", "requests", "request");
    for (i = 0; i < json_array_size(workers); i++) {
        json_t *w = json_array_get(workers, i), *r = json_object_get(w, "request");
        fprintf(f, "%-8lld %-10s %8.1f %8lld",
                (long long)json_integer_value(json_object_get(w, "pid")),
                json_string_value(json_object_get(w, "state")),
                json_real_value(json_object_get(w, "state_seconds")),
                (long long)json_integer_value(json_object_get(w, "requests")));
        if (r != NULL)
            fprintf(f, "  %s %s user=%s upload=%s in=%lld out=%lld %.1fs",
                    json_string_value(json_object_get(r, "method")),
                    json_string_value(json_object_get(r, "path")),
                    json_is_string(json_object_get(r, "user"))
                        ? json_string_value(json_object_get(r, "user"))
                        : "-",
                    json_is_string(json_object_get(r, "upload"))
                        ? json_string_value(json_object_get(r, "upload"))
                        : "-",
                    (long long)json_integer_value(json_object_get(r, "bytes_in")),
                    (long long)json_integer_value(json_object_get(r, "bytes_out")),
                    json_real_value(json_object_get(r, "seconds")));
        fputc('\n', f);
    }
    fclose(f);
    return buf;
}

int status_get(struct http_request *req, struct bu_error *err)
{
    json_t *page = status_json(req);
    char *text;

    if (page == NULL)
        return error_set(err, BU_E_INTERNAL, "the status could not be built");
    if (strcmp(req->query, "json") == 0 || strncmp(req->query, "json&", 5) == 0) {
        http_send_json(req, 200, page);
        return 0;
    }
    text = status_text(page);
    json_decref(page);
    if (text == NULL)
        return error_set(err, BU_E_INTERNAL, "out of memory");
    req->out.status = 200;
    http_add_header(req, "Content-Type", "text/plain; charset=utf-8");
    http_add_header(req, "Content-Length", "%zu", strlen(text));
    http_add_header(req, "Cache-Control", "no-store");
    http_write(req, text, strlen(text));
    free(text);
    return 0;
}

/* ---- batchup status: a FastCGI client of our own server ------------- */

/* The request: BEGIN_REQUEST, the params, their end, an empty body; the
 * records encoded by fcgi.c.  The params are at most a few hundred bytes
 * (status_path is bounded by the configuration), so one PARAMS record holds
 * them, with lengths of one or four bytes as each needs.  The size, or 0 when they do not fit in
 * cap. */
static size_t build_request(unsigned char *buf, size_t cap, const char *uri, const char *path,
                            const char *query)
{
    const char *const pairs[][2] = {{"REQUEST_METHOD", "GET"},
                                    {"REQUEST_URI", uri},
                                    {"DOCUMENT_URI", path},
                                    {"QUERY_STRING", query},
                                    {"SERVER_PROTOCOL", "HTTP/1.1"}};
    FCGI_BeginRequestRecord begin = {.body = {.roleB0 = FCGI_RESPONDER}};
    size_t head = sizeof begin + FCGI_HEADER_LEN, params = 0;

    if (cap < head + 2 * (size_t)FCGI_HEADER_LEN)
        return 0;
    fcgi_header_put(&begin.header, FCGI_BEGIN_REQUEST, STATUS_REQUEST_ID, sizeof begin.body, 0);
    memcpy(buf, &begin, sizeof begin);
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        size_t n =
            fcgi_pair_put(buf + head + params, cap - head - params - 2 * (size_t)FCGI_HEADER_LEN,
                          pairs[i][0], strlen(pairs[i][0]), pairs[i][1], strlen(pairs[i][1]));
        if (n == 0)
            return 0;
        params += n;
    }
    if (params > FCGI_MAX_LENGTH)
        return 0;
    fcgi_header_put((FCGI_Header *)(buf + sizeof begin), FCGI_PARAMS, STATUS_REQUEST_ID, params, 0);
    fcgi_header_put((FCGI_Header *)(buf + head + params), FCGI_PARAMS, STATUS_REQUEST_ID, 0, 0);
    fcgi_header_put((FCGI_Header *)(buf + head + params + FCGI_HEADER_LEN), FCGI_STDIN,
                    STATUS_REQUEST_ID, 0, 0);
    return head + params + 2 * (size_t)FCGI_HEADER_LEN;
}

/* Read STDOUT records until END_REQUEST into out (malloc'd). */
static char *read_response(int fd, size_t *len)
{
    FILE *f;
    char *out = NULL;
    FCGI_Header h;
    unsigned char body[FCGI_MAX_LENGTH + 255];

    f = open_memstream(&out, len);
    if (f == NULL)
        return NULL;
    while (recv(fd, &h, sizeof h, MSG_WAITALL) == (ssize_t)sizeof h) {
        size_t clen = fcgi_header_length(&h), plen = h.paddingLength;
        if (clen + plen > 0 && recv(fd, body, clen + plen, MSG_WAITALL) != (ssize_t)(clen + plen))
            break;
        if (h.type == FCGI_STDOUT)
            fwrite(body, 1, clen, f);
        if (h.type == FCGI_END_REQUEST)
            break;
    }
    fclose(f);
    return out;
}

int status_command(const struct bu_config *cfg, bool json, struct bu_error *err)
{
    unsigned char request[2048];
    char uri[sizeof cfg->status_path + 8], *response, *body;
    size_t n, len = 0;
    struct timeval timeout = {.tv_sec = 10};
    int fd, ok;

    if (cfg->status_path[0] == '\0')
        return error_set(err, BU_E_BAD_CONFIG,
                         "the status page is off: set status_path (for example "
                         "status_path = /batchup-status) and reload");
    snprintf(uri, sizeof uri, "%s%s", cfg->status_path, json ? "?json" : "");
    fd = listener_connect(&cfg->listen_addr, err);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    n = build_request(request, sizeof request, uri, cfg->status_path, json ? "json" : "");
    response =
        n > 0 && send(fd, request, n, MSG_NOSIGNAL) == (ssize_t)n ? read_response(fd, &len) : NULL;
    close(fd);
    if (response == NULL)
        return error_set(err, BU_E_INTERNAL, "no answer from %s", cfg->listen);
    body = strstr(response, "\r\n\r\n");
    ok = strncmp(response, "Status: 200", 11) == 0 && body != NULL;
    if (ok)
        fputs(body + 4, stdout);
    else
        error_set(err, BU_E_INTERNAL, "the server answered: %.*s", (int)strcspn(response, "\r"),
                  response);
    free(response);
    return ok ? 0 : -1;
}
