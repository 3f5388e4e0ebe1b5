/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * download.c - downloads: a file for its owner, and the batch link.
 *
 * The batch link's token is the capability: no account is needed, so the
 * token is checked for its exact form (by the router), looked up, and
 * refused with 404 when unknown and 410 once the link has expired.  Only
 * completed files are ever served, so a download can never show bytes that
 * were not verified.
 *
 * A single file is served with strong validators taken from its SHA-256
 * (ETag) and completion time (Last-Modified), conditional requests and one
 * byte range.  With `sendfile` set, batchup only decides and the web server
 * sends the bytes (X-Accel-Redirect for nginx, X-Sendfile for Apache and
 * lighttpd), doing Range itself.
 *
 * The ZIP is written by zip.c while it is sent, through one fixed buffer, so
 * a worker's memory does not grow with the batch.  Its exact length is
 * computed first, so browsers get a Content-Length and show progress.  Its
 * layout is a function of the entries alone, so it has a strong ETag (a
 * SHA-256 of everything the bytes depend on) and serves one Range, with
 * If-Range, exactly as a single file does: a download cut midway resumes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batchup/auth.h"
#include "batchup/digest.h"
#include "batchup/download.h"
#include "batchup/headers.h"
#include "batchup/log.h"
#include "batchup/disk.h"
#include "batchup/store.h"
#include "batchup/zip.h"

static unsigned char out_buf[ZIP_BUFFER_SIZE];

/* The validators and headers every answer about one file carries. */
struct file_headers {
    char etag[HEADERS_ETAG_SIZE];
    char date[HEADERS_DATE_SIZE];
    char disposition[HTTP_HEADER_VALUE_MAX]; /* fits http_add_header whole */
};

static void file_headers_init(struct file_headers *h, const struct store_file *f)
{
    if (headers_etag(h->etag, sizeof h->etag, f->sha256) < 0)
        h->etag[0] = '\0';
    headers_http_date(h->date, f->completed_at);
    if (headers_content_disposition(h->disposition, sizeof h->disposition, "attachment", f->name) <
        0)
        snprintf(h->disposition, sizeof h->disposition, "attachment; filename=\"file\"");
}

static void add_validators(struct http_request *req, const struct file_headers *h)
{
    if (h->etag[0] != '\0')
        http_add_header(req, "ETag", "%s", h->etag);
    http_add_header(req, "Last-Modified", "%s", h->date);
}

static void add_representation(struct http_request *req, const struct store_file *f,
                               const struct file_headers *h)
{
    http_add_header(req, "Content-Type", "%s",
                    *f->media_type ? f->media_type : "application/octet-stream");
    http_add_header(req, "Content-Disposition", "%s", h->disposition);
    http_add_header(req, "Cache-Control", "private");
}

/* If-None-Match, else If-Modified-Since: does the client have it already? */
static int not_modified(struct http_request *req, const struct store_file *f,
                        const struct file_headers *h)
{
    const char *inm = http_header(req, "If-None-Match");
    const char *ims = http_header(req, "If-Modified-Since");
    time_t since;

    if (inm != NULL)
        return h->etag[0] != '\0' && headers_etag_matches(inm, h->etag);
    return ims != NULL && headers_parse_http_date(ims, &since) == 0 && f->completed_at <= since;
}

/* Hand the body to the web server (X-Accel-Redirect or X-Sendfile). */
static void redirect_to_server(struct http_request *req, const struct store_file *f,
                               const struct file_headers *h)
{
    char path[DISK_PATH_SIZE];

    req->out.status = 200;
    add_representation(req, f, h);
    /* The validators stay ours whichever process sends the bytes: the
     * internal location in conf/nginx.conf repeats this ETag.  The web
     * server serves ranges of it too. */
    add_validators(req, h);
    http_add_header(req, "Accept-Ranges", "bytes");
    if (req->cfg->sendfile == CONFIG_SENDFILE_X_ACCEL) {
        disk_final_relpath(f->id, path, sizeof path);
        http_add_header(req, "X-Accel-Redirect", "/_batchup_files/%s", path);
    } else {
        disk_final_path(req->cfg, f->id, path, sizeof path);
        http_add_header(req, "X-Sendfile", "%s", path);
    }
    /* No body and no Content-Length: the web server supplies both. */
    http_flush(req);
}

/* Send the whole file or one range of it (first..last), honouring HEAD. */
static int send_body(struct http_request *req, const struct store_file *f,
                     const struct file_headers *h, enum headers_range range, uint64_t first,
                     uint64_t last, struct bu_error *err)
{
    char path[DISK_PATH_SIZE];
    int fd = -1;

    if (f->size > 0) {
        disk_final_path(req->cfg, f->id, path, sizeof path);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            log_error("completed file %s is missing: %s", f->id, strerror(errno));
            return error_set(err, BU_E_STORAGE_ERROR, "the file's data is missing");
        }
    }
    req->out.status = range == HEADERS_RANGE_SATISFIABLE ? 206 : 200;
    add_representation(req, f, h);
    http_add_header(req, "Content-Length", "%llu",
                    (unsigned long long)(f->size == 0 ? 0 : last - first + 1));
    if (range == HEADERS_RANGE_SATISFIABLE) {
        char cr[80];
        headers_content_range(cr, sizeof cr, range, first, last, f->size);
        http_add_header(req, "Content-Range", "%s", cr);
    }
    add_validators(req, h);
    http_add_header(req, "Accept-Ranges", "bytes");
    if (strcmp(req->method, "HEAD") == 0 || f->size == 0)
        http_flush(req);
    else if (http_sendfile(req, fd, first, last - first + 1) != 0 && !req->client_gone)
        log_error("sending %s failed", f->id);
    if (fd >= 0)
        close(fd);
    return 0;
}

/* Answer for one completed file: 304, the web server's sendfile, 416, or
 * the bytes (whole or one range). */
static int serve_file(struct http_request *req, const struct store_file *f, struct bu_error *err)
{
    struct file_headers h;
    enum headers_range range = HEADERS_RANGE_NONE;
    uint64_t first = 0, last = f->size ? f->size - 1 : 0;

    file_headers_init(&h, f);
    if (not_modified(req, f, &h)) {
        req->out.status = 304;
        add_validators(req, &h);
        http_send_empty(req, 304);
        return 0;
    }
    if (req->cfg->sendfile != CONFIG_SENDFILE_OFF && f->size > 0) {
        redirect_to_server(req, f, &h);
        return 0;
    }
    if (f->size > 0 &&
        headers_if_range_allows(http_header(req, "If-Range"), h.etag, f->completed_at))
        range = headers_parse_range(http_header(req, "Range"), f->size, &first, &last);
    if (range == HEADERS_RANGE_UNSATISFIABLE) {
        char cr[64];
        headers_content_range(cr, sizeof cr, range, 0, 0, f->size);
        error_set(err, BU_E_RANGE_NOT_SATISFIABLE, "the file has %llu bytes",
                  (unsigned long long)f->size);
        req->out.status = err->status;
        http_add_header(req, "Content-Range", "%s", cr);
        return -1;
    }
    return send_body(req, f, &h, range, first, last, err);
}

int download_stream(struct http_request *req, struct bu_error *err)
{
    struct store_files files;
    bool expired;
    int found, rc;

    if (auth_request(req, err) != 0)
        return -1;
    found = store_owned_file(req->db, err, req->param[0], req->user_id, &files, &expired);
    if (found <= 0)
        rc = found < 0 ? -1 : error_set(err, BU_E_NOT_FOUND, "no such completed file");
    else if (expired)
        /* The batch expired: gc removes its data, or is about to. */
        rc = error_set(err, BU_E_FILE_EXPIRED, "this file's batch has expired: its data is gone");
    else
        rc = serve_file(req, &files.file[0], err);
    store_files_free(&files);
    return rc;
}

/* ---- the batch link --------------------------------------------------- */

/* The link of req->param[0]: 0 live (free link->files), or -1 with err
 * (404 unknown, 410 expired). */
static int open_link(struct http_request *req, struct store_link *link, struct bu_error *err)
{
    int found = store_link(req->db, err, req->param[0], link);

    if (found <= 0)
        return found < 0 ? -1 : error_set(err, BU_E_NOT_FOUND, "no such download link");
    if (!link->live) {
        store_files_free(&link->files);
        return error_set(err, BU_E_LINK_EXPIRED, "this download link has expired");
    }
    return 0;
}

struct zip_ctx {
    struct http_request *req;
    const struct store_file *files;
    size_t current; /* index of the open file, or (size_t)-1 */
    int fd;
};

/* Make entry index the open file of ctx. */
static int open_entry(struct zip_ctx *ctx, size_t index)
{
    char path[DISK_PATH_SIZE];

    if (ctx->current != index || ctx->fd < 0) {
        if (ctx->fd >= 0)
            close(ctx->fd);
        disk_final_path(ctx->req->cfg, ctx->files[index].id, path, sizeof path);
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
static int send_entry(void *vctx, size_t index, uint64_t offset, uint64_t size)
{
    struct zip_ctx *ctx = vctx;

    if (open_entry(ctx, index) != 0)
        return -1;
    return http_sendfile(ctx->req, ctx->fd, offset, size);
}

static int write_out(void *vctx, const void *buf, size_t len)
{
    struct zip_ctx *ctx = vctx;

    return http_write(ctx->req, buf, len);
}

/* The archive's entries: safe, unique names, sizes, times and CRCs.
 * entries and safe (n each) are the caller's to free. */
static int zip_entries(const struct store_files *files, struct zip_entry *entries, char **safe,
                       struct bu_error *err)
{
    const char **names = calloc(files->n + 1, sizeof *names);
    int rc;

    if (names == NULL)
        return error_set(err, BU_E_INTERNAL, "out of memory");
    for (size_t i = 0; i < files->n; i++)
        names[i] = files->file[i].name;
    rc = zip_safe_names(names, files->n, safe);
    free(names);
    if (rc != 0)
        return error_set(err, BU_E_INTERNAL, "out of memory");
    for (size_t i = 0; i < files->n; i++) {
        entries[i].name = safe[i];
        entries[i].size = files->file[i].size;
        entries[i].mtime = files->file[i].completed_at;
        entries[i].crc32 = (uint32_t)files->file[i].crc32;
        entries[i].crc_known = files->file[i].crc32 >= 0;
    }
    return 0;
}

/* The archive's strong ETag: the SHA-256 of everything its bytes depend
 * on (the layout's version, the batch, and each entry's name, size, time
 * and content hash), so equal tags mean equal archives, byte for byte,
 * and a resumed download can trust the bytes it already has. */
static void zip_etag(const struct store_link *link, const struct zip_entry *entries,
                     char etag[HEADERS_ETAG_SIZE])
{
    unsigned char md[DIGEST_MAX];
    char hex[DIGEST_HEX_SIZE];
    struct digest d;

    etag[0] = '\0';
    if (digest_begin(&d, DIGEST_SHA256, false) != 0)
        return;
    digest_feed(&d, "batchup zip 1", 14);
    digest_feed(&d, link->batch_id, strlen(link->batch_id) + 1);
    for (size_t i = 0; i < link->files.n; i++) {
        const char *name = entries[i].name != NULL ? entries[i].name : "";
        char meta[96];
        int len = snprintf(meta, sizeof meta, "%llu %lld %lld", (unsigned long long)entries[i].size,
                           (long long)entries[i].mtime, (long long)link->files.file[i].crc32);

        digest_feed(&d, name, strlen(name) + 1);
        digest_feed(&d, meta, (size_t)len + 1);
        digest_feed(&d, link->files.file[i].sha256, strlen(link->files.file[i].sha256) + 1);
    }
    if (digest_end(&d, md) == 32) {
        digest_hex(md, 32, hex);
        headers_etag(etag, HEADERS_ETAG_SIZE, hex);
    }
}

static int send_zip(struct http_request *req, const struct store_link *link,
                    struct zip_entry *entries, struct bu_error *err)
{
    struct zip_ctx ctx = {.req = req, .files = link->files.file, .current = (size_t)-1, .fd = -1};
    size_t n = link->files.n;
    uint64_t total = 0, first = 0, last = 0, length;
    enum headers_range range = HEADERS_RANGE_NONE;
    char etag[HEADERS_ETAG_SIZE], cr[80];

    if (zip_archive_size(entries, n, &total) != 0)
        return error_set(err, BU_E_INTERNAL, "the batch cannot be archived");
    zip_etag(link, entries, etag);
    /* If-Range must name this very archive (its ETag: the archive has no
     * Last-Modified, since renaming rules may change it while no file
     * does); anything else gets the whole archive. */
    if (etag[0] != '\0' && headers_if_range_allows(http_header(req, "If-Range"), etag, (time_t)-1))
        range = headers_parse_range(http_header(req, "Range"), total, &first, &last);
    if (range == HEADERS_RANGE_UNSATISFIABLE) {
        headers_content_range(cr, sizeof cr, range, 0, 0, total);
        error_set(err, BU_E_RANGE_NOT_SATISFIABLE, "the archive has %llu bytes",
                  (unsigned long long)total);
        req->out.status = err->status;
        http_add_header(req, "Content-Range", "%s", cr);
        return -1;
    }
    if (range != HEADERS_RANGE_SATISFIABLE) {
        first = 0;
        last = total - 1; /* an archive has at least its end record */
    }
    req->out.status = range == HEADERS_RANGE_SATISFIABLE ? 206 : 200;
    http_add_header(req, "Content-Type", "application/zip");
    length = last - first + 1;
    http_add_header(req, "Content-Length", "%llu", (unsigned long long)length);
    if (range == HEADERS_RANGE_SATISFIABLE) {
        headers_content_range(cr, sizeof cr, range, first, last, total);
        http_add_header(req, "Content-Range", "%s", cr);
    }
    http_add_header(req, "Content-Disposition", "attachment; filename=\"batch-%.8s.zip\"",
                    link->batch_id);
    http_add_header(req, "Cache-Control", "private");
    if (etag[0] != '\0')
        http_add_header(req, "ETag", "%s", etag);
    http_add_header(req, "Accept-Ranges", "bytes");
    if (strcmp(req->method, "HEAD") == 0) {
        http_flush(req);
    } else if (zip_stream_range(entries, n, read_entry, send_entry, write_out, &ctx, out_buf,
                                sizeof out_buf, first, length) != 0 &&
               !req->client_gone) {
        log_error("the ZIP of batch %s broke off after %llu bytes", link->batch_id,
                  (unsigned long long)req->bytes_out);
    }
    if (ctx.fd >= 0)
        close(ctx.fd);
    return 0;
}

int download_zip(struct http_request *req, struct bu_error *err)
{
    struct store_link link;
    struct zip_entry *entries;
    char **safe;
    int rc;

    if (open_link(req, &link, err) < 0)
        return -1;
    entries = calloc(link.files.n + 1, sizeof *entries);
    safe = calloc(link.files.n + 1, sizeof *safe);
    if (entries == NULL || safe == NULL)
        rc = error_set(err, BU_E_INTERNAL, "out of memory");
    else if ((rc = zip_entries(&link.files, entries, safe, err)) == 0)
        rc = send_zip(req, &link, entries, err);
    for (size_t i = 0; safe != NULL && i < link.files.n; i++)
        free(safe[i]);
    free(safe);
    free(entries);
    store_files_free(&link.files);
    return rc;
}

int download_manifest(struct http_request *req, struct bu_error *err)
{
    struct store_link link;
    json_t *files = json_array();

    if (open_link(req, &link, err) < 0) {
        json_decref(files);
        return -1;
    }
    for (size_t i = 0; i < link.files.n; i++) {
        const struct store_file *f = &link.files.file[i];
        char url[256];
        snprintf(url, sizeof url, "/api/v1/download/batch/%s/files/%s", req->param[0], f->id);
        json_array_append_new(files,
                              json_pack("{s:s,s:s,s:I,s:s,s:s?,s:s}", "id", f->id, "name", f->name,
                                        "size", (json_int_t)f->size, "sha256", f->sha256, "type",
                                        *f->media_type ? f->media_type : NULL, "url", url));
    }
    http_send_json(req, 200,
                   json_pack("{s:s,s:s,s:o}", "batch_id", link.batch_id, "expires_at",
                             link.expires_at, "files", files));
    store_files_free(&link.files);
    return 0;
}

int download_link_file(struct http_request *req, struct bu_error *err)
{
    struct store_link link;
    int rc = error_set(err, BU_E_NOT_FOUND, "no such file in this batch");

    if (open_link(req, &link, err) < 0)
        return -1;
    for (size_t i = 0; i < link.files.n; i++)
        if (strcmp(link.files.file[i].id, req->param[1]) == 0) {
            rc = serve_file(req, &link.files.file[i], err);
            break;
        }
    store_files_free(&link.files);
    return rc;
}
