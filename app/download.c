/*
 * download.c - downloads: a file for its owner, and the batch link.
 *
 * The batch link's token is the capability: no account is needed, so the
 * token is checked for its exact form, looked up, and refused with 404 when
 * unknown and 410 once the link has expired.  Only completed files are ever
 * served, so a download can never show bytes that were not verified.
 *
 * A single file is served with strong validators taken from its SHA-256
 * (ETag) and completion time (Last-Modified), conditional requests and one
 * byte range.  With `sendfile` set, batchup only decides and the web server
 * sends the bytes (X-Accel-Redirect for nginx, X-Sendfile for Apache and
 * lighttpd), doing Range itself.
 *
 * The ZIP is written by zip.c while it is sent, through one fixed buffer, so
 * a worker's memory does not grow with the batch.  Its exact length is
 * computed first, so browsers get a Content-Length and show progress.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batchup/auth.h"
#include "batchup/download.h"
#include "batchup/headers.h"
#include "batchup/log.h"
#include "batchup/routes.h"
#include "batchup/storage.h"
#include "batchup/zip.h"

static unsigned char out_buf[ZIP_BUFFER_SIZE];

struct file_row {
    const char *id;
    const char *name;
    uint64_t size;
    const char *sha256;
    const char *media_type;
    time_t mtime;
    int64_t crc32; /* -1 when not recorded (completed before migration 004) */
};

static int valid_token(const char *t)
{
    size_t n = strlen(t);

    return n >= 22 && n <= 128 &&
           strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == n;
}

static void not_found(struct http_request *req, const char *what)
{
    struct bu_error err;

    error_set(&err, 404, "not_found", "no such %s", what);
    http_send_error(req, &err);
}

/* Send the whole file or one range of it, honouring conditional requests. */
static void serve_file(struct http_request *req, const struct file_row *f)
{
    char etag[HEADERS_ETAG_SIZE], date[HEADERS_DATE_SIZE], disp[3200], path[1100];
    const char *inm = http_header(req, "If-None-Match");
    const char *ims = http_header(req, "If-Modified-Since");
    enum headers_range range = HEADERS_RANGE_NONE;
    uint64_t first = 0, last = f->size ? f->size - 1 : 0;
    int head_only = strcmp(req->method, "HEAD") == 0, fd = -1;
    time_t since;

    if (headers_etag(etag, sizeof etag, f->sha256) < 0)
        etag[0] = '\0';
    headers_http_date(date, f->mtime);
    if (headers_content_disposition(disp, sizeof disp, "attachment", f->name) < 0)
        snprintf(disp, sizeof disp, "attachment; filename=\"file\"");

    if ((inm != NULL && *etag && headers_etag_matches(inm, etag)) ||
        (inm == NULL && ims != NULL && headers_parse_http_date(ims, &since) == 0 &&
         f->mtime <= since)) {
        http_status(req, 304);
        if (*etag)
            http_add_header(req, "ETag", "%s", etag);
        http_add_header(req, "Last-Modified", "%s", date);
        http_send_empty(req, 304);
        return;
    }
    if (req->cfg->sendfile != CONFIG_SENDFILE_OFF && f->size > 0) {
        http_status(req, 200);
        http_add_header(req, "Content-Type", "%s",
                        *f->media_type ? f->media_type : "application/octet-stream");
        http_add_header(req, "Content-Disposition", "%s", disp);
        http_add_header(req, "Cache-Control", "private");
        /* The validators stay ours whichever process sends the bytes: the
         * internal location in conf/nginx.conf repeats this ETag. */
        if (*etag)
            http_add_header(req, "ETag", "%s", etag);
        http_add_header(req, "Last-Modified", "%s", date);
        if (req->cfg->sendfile == CONFIG_SENDFILE_X_ACCEL) {
            char rel[256];
            storage_final_relpath(f->id, rel, sizeof rel);
            http_add_header(req, "X-Accel-Redirect", "/_batchup_files/%s", rel);
        } else {
            storage_final_path(req->cfg, f->id, path, sizeof path);
            http_add_header(req, "X-Sendfile", "%s", path);
        }
        /* No body and no Content-Length: the web server supplies both. */
        http_flush(req);
        return;
    }

    if (f->size > 0 && headers_if_range_allows(http_header(req, "If-Range"), etag, f->mtime))
        range = headers_parse_range(http_header(req, "Range"), f->size, &first, &last);
    if (range == HEADERS_RANGE_UNSATISFIABLE) {
        struct bu_error err;
        char cr[64];
        headers_content_range(cr, sizeof cr, range, 0, 0, f->size);
        http_status(req, 416);
        http_add_header(req, "Content-Range", "%s", cr);
        error_set(&err, 416, "range_not_satisfiable", "the file has %llu bytes",
                  (unsigned long long)f->size);
        http_send_error(req, &err);
        return;
    }
    if (f->size > 0) {
        storage_final_path(req->cfg, f->id, path, sizeof path);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            struct bu_error err;
            log_error("completed file %s is missing: %s", f->id, strerror(errno));
            error_set(&err, 500, "storage_error", "the file's data is missing");
            http_send_error(req, &err);
            return;
        }
    }
    http_status(req, range == HEADERS_RANGE_SATISFIABLE ? 206 : 200);
    http_add_header(req, "Content-Type", "%s",
                    *f->media_type ? f->media_type : "application/octet-stream");
    http_add_header(req, "Content-Length", "%llu",
                    (unsigned long long)(f->size == 0 ? 0 : last - first + 1));
    if (range == HEADERS_RANGE_SATISFIABLE) {
        char cr[80];
        headers_content_range(cr, sizeof cr, range, first, last, f->size);
        http_add_header(req, "Content-Range", "%s", cr);
    }
    if (*etag)
        http_add_header(req, "ETag", "%s", etag);
    http_add_header(req, "Last-Modified", "%s", date);
    http_add_header(req, "Accept-Ranges", "bytes");
    http_add_header(req, "Content-Disposition", "%s", disp);
    http_add_header(req, "Cache-Control", "private");
    if (head_only || f->size == 0) {
        http_flush(req);
    } else {
        if (http_sendfile(req, fd, first, last - first + 1) != 0 && !req->client_gone)
            log_error("sending %s failed", f->id);
    }
    if (fd >= 0)
        close(fd);
}

static void row_to_file(PGresult *res, int i, int col, struct file_row *f)
{
    f->id = PQgetvalue(res, i, col);
    f->name = PQgetvalue(res, i, col + 1);
    f->size = strtoull(PQgetvalue(res, i, col + 2), NULL, 10);
    f->sha256 = PQgetvalue(res, i, col + 3);
    f->media_type = PQgetvalue(res, i, col + 4);
    f->mtime = (time_t)atoll(PQgetvalue(res, i, col + 5));
    f->crc32 = atoll(PQgetvalue(res, i, col + 6));
}

/* The columns row_to_file reads, FILE_NCOLUMNS of them. */
#define FILE_COLUMNS                                                                               \
    "f.id, f.name, f.size, f.sha256, coalesce(f.media_type, ''),"                                  \
    " floor(extract(epoch FROM f.completed_at))::bigint, coalesce(f.crc32, -1)"
#define FILE_NCOLUMNS 7

void download_stream(struct http_request *req, const char *file_id)
{
    struct bu_error err;
    char user[16];
    const char *params[2] = {file_id, user};
    struct file_row f;
    PGresult *res;

    if (auth_request(req, &err) != 0)
        return http_send_error(req, &err);
    snprintf(user, sizeof user, "%d", req->user_id);
    /* A completed file of an expired batch is gone (batchup.api_files says
     * "expired"): gc removes its data, or is about to. */
    res = db_query(req->db, &err,
                   "SELECT " FILE_COLUMNS ", batchup.batch_api_status(b.status, b.link_expires_at)"
                   " = 'expired' FROM batchup.files f JOIN batchup.batches b ON b.id = f.batch_id"
                   " WHERE f.id = $1::uuid AND f.user_id = $2::int AND f.status = 'completed'",
                   2, params);
    if (res == NULL)
        return http_send_error(req, &err);
    if (PQntuples(res) != 1) {
        PQclear(res);
        return not_found(req, "completed file");
    }
    if (strcmp(PQgetvalue(res, 0, FILE_NCOLUMNS), "t") == 0) {
        PQclear(res);
        error_set(&err, 410, "file_expired", "this file's batch has expired: its data is gone");
        return http_send_error(req, &err);
    }
    row_to_file(res, 0, 0, &f);
    serve_file(req, &f);
    PQclear(res);
}

struct zip_ctx {
    struct http_request *req;
    const struct file_row *files;
    size_t current; /* index of the open file, or (size_t)-1 */
    int fd;
};

/* Make entry index the open file of ctx. */
static int open_entry(struct zip_ctx *ctx, size_t index)
{
    char path[1100];

    if (ctx->current != index || ctx->fd < 0) {
        if (ctx->fd >= 0)
            close(ctx->fd);
        storage_final_path(ctx->req->cfg, ctx->files[index].id, path, sizeof path);
        ctx->fd = open(path, O_RDONLY | O_CLOEXEC);
        ctx->current = index;
        if (ctx->fd < 0) {
            log_error("completed file %s is missing: %s", ctx->files[index].id, strerror(errno));
            return -1;
        }
        posix_fadvise(ctx->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    }
    return 0;
}

static ssize_t read_entry(void *vctx, size_t index, void *buf, size_t cap)
{
    struct zip_ctx *ctx = vctx;

    if (ctx->files[index].size == 0)
        return 0;
    if (open_entry(ctx, index) != 0)
        return -1;
    return read(ctx->fd, buf, cap);
}

/* An entry whose CRC-32 was recorded at upload: its bytes go from the page
 * cache to the socket (sendfile), never through the worker. */
static int send_entry(void *vctx, size_t index, uint64_t size)
{
    struct zip_ctx *ctx = vctx;

    if (open_entry(ctx, index) != 0)
        return -1;
    return http_sendfile(ctx->req, ctx->fd, 0, size);
}

static int write_out(void *vctx, const void *buf, size_t len)
{
    struct zip_ctx *ctx = vctx;

    return http_write(ctx->req, buf, len);
}

static void send_zip(struct http_request *req, const char *batch_id, PGresult *res)
{
    int n = PQgetisnull(res, 0, 2) ? 0 : PQntuples(res);
    struct file_row *files = calloc((size_t)n + 1, sizeof *files);
    struct zip_entry *entries = calloc((size_t)n + 1, sizeof *entries);
    const char **names = calloc((size_t)n + 1, sizeof *names);
    char **safe = calloc((size_t)n + 1, sizeof *safe);
    struct zip_ctx ctx = {.req = req, .files = files, .current = (size_t)-1, .fd = -1};
    uint64_t total = 0;
    struct bu_error err;

    if (files == NULL || entries == NULL || names == NULL || safe == NULL)
        goto oom;
    for (int i = 0; i < n; i++) {
        row_to_file(res, i, 2, &files[i]);
        names[i] = files[i].name;
    }
    if (zip_safe_names(names, (size_t)n, safe) != 0)
        goto oom;
    for (int i = 0; i < n; i++) {
        entries[i].name = safe[i];
        entries[i].size = files[i].size;
        entries[i].mtime = files[i].mtime;
        entries[i].crc32 = (uint32_t)files[i].crc32;
        entries[i].crc_known = files[i].crc32 >= 0;
    }
    if (zip_archive_size(entries, (size_t)n, &total) != 0) {
        error_set(&err, 500, "internal", "the batch cannot be archived");
        http_send_error(req, &err);
        goto done;
    }
    http_status(req, 200);
    http_add_header(req, "Content-Type", "application/zip");
    http_add_header(req, "Content-Length", "%llu", (unsigned long long)total);
    http_add_header(req, "Content-Disposition", "attachment; filename=\"batch-%.8s.zip\"",
                    batch_id);
    http_add_header(req, "Cache-Control", "private");
    http_add_header(req, "X-Accel-Buffering", "no");
    if (strcmp(req->method, "HEAD") == 0) {
        http_flush(req);
        goto done;
    }
    if (zip_stream_send(entries, (size_t)n, read_entry, send_entry, write_out, &ctx, out_buf,
                        sizeof out_buf) != 0 &&
        !req->client_gone)
        log_error("the ZIP of batch %s broke off after %llu bytes", batch_id,
                  (unsigned long long)req->bytes_out);
    goto done;
oom:
    error_set(&err, 500, "internal", "out of memory");
    http_send_error(req, &err);
done:
    if (ctx.fd >= 0)
        close(ctx.fd);
    if (safe != NULL)
        for (int i = 0; i < n; i++)
            free(safe[i]);
    free(safe);
    free(names);
    free(entries);
    free(files);
}

static void send_manifest(struct http_request *req, const char *token, PGresult *res)
{
    int n = PQgetisnull(res, 0, 2) ? 0 : PQntuples(res);
    json_t *files = json_array();

    for (int i = 0; i < n; i++) {
        struct file_row f;
        char url[256];
        row_to_file(res, i, 2, &f);
        snprintf(url, sizeof url, "/api/v1/download/batch/%s/files/%s", token, f.id);
        json_array_append_new(files,
                              json_pack("{s:s,s:s,s:I,s:s,s:s?,s:s}", "id", f.id, "name", f.name,
                                        "size", (json_int_t)f.size, "sha256", f.sha256, "type",
                                        *f.media_type ? f.media_type : NULL, "url", url));
    }
    http_send_json(req, 200,
                   json_pack("{s:s,s:s,s:o}", "batch_id", PQgetvalue(res, 0, 0), "expires_at",
                             PQgetvalue(res, 0, 2 + FILE_NCOLUMNS), "files", files));
}

void download_batch(struct http_request *req, const char *token, const char *rest)
{
    struct bu_error err;
    const char *params[1] = {token};
    PGresult *res;

    if (!valid_token(token))
        return not_found(req, "download link");
    res =
        db_query(req->db, &err,
                 "SELECT b.id, (b.status = 'complete' AND b.link_expires_at > now()), " FILE_COLUMNS
                 ", batchup.rfc3339(b.link_expires_at) FROM batchup.batches b"
                 " LEFT JOIN batchup.files f ON f.batch_id = b.id AND f.status = 'completed'"
                 " WHERE b.download_token = $1 ORDER BY f.ordinal",
                 1, params);
    if (res == NULL)
        return http_send_error(req, &err);
    if (PQntuples(res) == 0) {
        PQclear(res);
        return not_found(req, "download link");
    }
    if (strcmp(PQgetvalue(res, 0, 1), "t") != 0) {
        PQclear(res);
        error_set(&err, 410, "link_expired", "this download link has expired");
        return http_send_error(req, &err);
    }
    if (*rest == '\0') {
        send_zip(req, PQgetvalue(res, 0, 0), res);
    } else if (strcmp(rest, "/manifest") == 0) {
        send_manifest(req, token, res);
    } else if (strncmp(rest, "/files/", 7) == 0 && routes_is_uuid(rest + 7)) {
        int found = 0;
        for (int i = 0; i < PQntuples(res) && !found; i++) {
            if (!PQgetisnull(res, i, 2) && strcmp(PQgetvalue(res, i, 2), rest + 7) == 0) {
                struct file_row f;
                row_to_file(res, i, 2, &f);
                serve_file(req, &f);
                found = 1;
            }
        }
        if (!found)
            not_found(req, "file in this batch");
    } else {
        not_found(req, "resource");
    }
    PQclear(res);
}
