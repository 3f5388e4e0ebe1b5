/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * batches.c - the batches API: POST, GET and DELETE /api/v1/batches[/<id>],
 * and the batch's link: POST and DELETE /api/v1/batches/<id>/link.
 *
 * A batch is created whole, from a list of files with names and sizes, so
 * the server knows from the start how many files must complete before the
 * link is issued; or open ({"open": true}, the list optional), when the
 * client does not know its files in advance (Uppy's tus uploads): tus
 * creations naming it add files until POST /api/v1/batches/<id>/close.  The body is validated
 * strictly here (shape, types, bounds, no unknown keys) and again by the database's constraints; a
 * body that fails is a 4xx and creates nothing.  The JSON a client reads back is built by
 * batchup.batch_json, in the same query that checks ownership, so another user's batch is exactly
 * as invisible as a missing one.
 *
 * A body is bounded twice before it costs memory: its size by what
 * max_batch_files files can need (batches_max_body), and its shape by a
 * pre-scan of the raw bytes (prescan) that counts the files and refuses
 * nesting no valid body has, before jansson builds a tree: a few MiB of
 * "{}," would otherwise become millions of objects, hundreds of MiB that a
 * worker keeps.  Only application/json is accepted, which a cross-site
 * HTML form cannot send.
 *
 * The list (GET /api/v1/batches) is paged, because a worker builds each
 * answer in memory: at most BATCHES_LIST_MAX batches a page, summarised by
 * their counts of files, and with ?files=1 their files too, the page then
 * ending once it holds BATCHES_PAGE_FILES files.  The largest answer is so
 * one batch's files, whatever the user stored.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "batchup/auth.h"
#include "batchup/batches.h"
#include "batchup/check.h"
#include "batchup/routes.h"
#include "batchup/disk.h"
#include "batchup/store.h"

/* Batches in one page of the list: by default, and at most. */
#define BATCHES_LIST_DEFAULT 50
#define BATCHES_LIST_MAX 100
/* With ?files=1, a page ends once it holds this many files. */
#define BATCHES_PAGE_FILES 1000

/* The most JSON one valid file can take: its name and type with every byte
 * written as a \u escape (6 bytes), the 64 digits of its sha256 likewise,
 * a 20-digit size, the four keys with their quotes and separators, and
 * room for indentation: 8,398 bytes, 8.4 MB for 1000 files. */
#define BATCHES_FILE_JSON_MAX                                                                      \
    (6 * CHECK_FILE_NAME_MAX + 6 * CHECK_MEDIA_TYPE_MAX + 6 * 64 + 20 + 64 + 256)
/* {"files": [ ]} and whitespace around it. */
#define BATCHES_BODY_SLACK 4096
/* Keys a file may have: name, size, sha256, type. */
#define BATCHES_FILE_KEYS 4

size_t batches_max_body(const struct bu_config *cfg)
{
    return (size_t)cfg->max_batch_files * BATCHES_FILE_JSON_MAX + BATCHES_BODY_SLACK;
}

/* The pre-scan's state: the depth of the container being read (1: the
 * root) and the commas seen in the container open at each depth. */
struct scan {
    int depth;
    size_t commas[4];
};

static int bad_shape(struct bu_error *err)
{
    return error_set(err, BU_E_BAD_REQUEST,
                     "the body must be {\"files\": [...]} or {\"open\": true, \"files\": [...]} "
                     "and nothing else");
}

/* One structural character c (outside strings) of the body. */
static int scan_char(struct scan *st, char c, const struct bu_config *cfg, struct bu_error *err)
{
    if (c == '[' || c == '{') {
        if (++st->depth > 3)
            return error_set(err, BU_E_BAD_REQUEST,
                             "a file's values must be strings or numbers, not arrays or objects");
        st->commas[st->depth] = 0;
        if ((st->depth == 1 && c == '[') || (st->depth == 2 && c == '{'))
            return bad_shape(err);
        if (st->depth == 3 && c == '[')
            return error_set(err, BU_E_BAD_REQUEST, "every file must be an object");
    } else if ((c == ']' || c == '}') && st->depth > 0) {
        st->depth--;
    } else if (c == ',' && st->depth > 0) {
        size_t items = ++st->commas[st->depth] + 1;
        if (st->depth == 1 && items > 2) /* "files" and "open" */
            return bad_shape(err);
        if (st->depth == 2 && items > (size_t)cfg->max_batch_files)
            return error_set(err, BU_E_TOO_MANY_FILES,
                             "a batch holds at most %d files (max_batch_files)",
                             cfg->max_batch_files);
        if (st->depth == 3 && items > BATCHES_FILE_KEYS)
            return error_set(err, BU_E_BAD_REQUEST,
                             "a file has unknown keys (allowed: name, size, sha256, type)");
    }
    return 0;
}

/* Walk the raw body once, skipping strings, and refuse what no valid body
 * looks like before anything is allocated for it.  Syntax errors are left
 * to jansson, which says where they are. */
static int prescan(const char *body, size_t len, const struct bu_config *cfg, struct bu_error *err)
{
    struct scan st = {0, {0}};
    bool in_string = false;

    for (size_t i = 0; i < len; i++) {
        char c = body[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (scan_char(&st, c, cfg, err) != 0) {
            return -1;
        }
    }
    return 0;
}

/* Check files[i]; on success *clean is its copy to store (name, size,
 * sha256 in lower case, type). */
static int parse_file(json_t *item, size_t i, const struct bu_config *cfg, json_t **clean,
                      struct bu_error *err)
{
    json_t *name = json_object_get(item, "name"), *size = json_object_get(item, "size");
    json_t *sha = json_object_get(item, "sha256"), *type = json_object_get(item, "type");
    size_t known = 2 + (sha != NULL) + (type != NULL);
    const char *hex = json_is_string(sha) ? json_string_value(sha) : "";
    char lower[DIGEST_SHA256_HEX + 1];

    if (!json_is_object(item))
        return error_set(err, BU_E_BAD_REQUEST, "files[%zu] must be an object", i);
    if (!json_is_string(name) || !check_file_name(json_string_value(name)))
        return error_set(err, BU_E_BAD_NAME,
                         "files[%zu].name must be 1 to %d bytes of UTF-8 without control "
                         "characters",
                         i, CHECK_FILE_NAME_MAX);
    if (!json_is_integer(size) || json_integer_value(size) < 0)
        return error_set(err, BU_E_BAD_SIZE, "files[%zu].size must be a non-negative integer", i);
    if (cfg->max_file_size > 0 && (uint64_t)json_integer_value(size) > cfg->max_file_size)
        return error_set(err, BU_E_FILE_TOO_LARGE, "files[%zu].size exceeds max_file_size (%llu)",
                         i, (unsigned long long)cfg->max_file_size);
    if (sha != NULL && (strlen(hex) != 64 || strspn(hex, "0123456789abcdefABCDEF") != 64))
        return error_set(err, BU_E_BAD_SHA256, "files[%zu].sha256 must be 64 hex digits", i);
    if (type != NULL && (!json_is_string(type) || !check_media_type(json_string_value(type))))
        return error_set(err, BU_E_BAD_TYPE, "files[%zu].type must be a printable ASCII media type",
                         i);
    if (json_object_size(item) != known)
        return error_set(err, BU_E_BAD_REQUEST,
                         "files[%zu] has unknown keys (allowed: name, size, sha256, type)", i);
    *clean = json_pack("{s:O,s:O}", "name", name, "size", size);
    if (sha != NULL) {
        for (int k = 0; k < 64; k++)
            lower[k] = (char)tolower((unsigned char)hex[k]);
        lower[64] = '\0';
        json_object_set_new(*clean, "sha256", json_string(lower));
    }
    if (type != NULL)
        json_object_set(*clean, "type", type);
    return 0;
}

/* The body's "open" member: false when absent, and the keys the root must
 * have.  -1 when it is not a boolean. */
static int open_member(json_t *root, bool *open, size_t *keys)
{
    json_t *v = json_object_get(root, "open");

    *open = json_is_true(v);
    *keys = 1 + (v != NULL);
    return v == NULL || json_is_boolean(v) ? 0 : -1;
}

json_t *batches_parse_body(const char *body, size_t len, const struct bu_config *cfg, bool *open,
                           struct bu_error *err)
{
    json_error_t jerr;
    json_t *root, *files, *out = NULL, *none = NULL;
    size_t i, keys = 1;

    *open = false;
    if (prescan(body, len, cfg, err) != 0)
        return NULL;
    root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        error_set(err, BU_E_BAD_JSON, "the body is not JSON: %s (line %d)", jerr.text, jerr.line);
        return NULL;
    }
    if (json_is_object(root) && open_member(root, open, &keys) != 0) {
        error_set(err, BU_E_BAD_REQUEST, "\"open\" must be true or false");
        json_decref(root);
        return NULL;
    }
    /* An open batch may start with no file: its files come by tus
     * creation. */
    files = json_object_get(root, "files");
    if (files == NULL && *open) {
        files = none = json_array();
        keys--;
    }
    if (!json_is_object(root) || json_object_size(root) != keys || !json_is_array(files))
        bad_shape(err);
    else if (json_array_size(files) == 0 && !*open)
        error_set(err, BU_E_BAD_REQUEST, "a batch needs at least one file");
    else if (json_array_size(files) > (size_t)cfg->max_batch_files)
        error_set(err, BU_E_TOO_MANY_FILES, "a batch holds at most %d files (max_batch_files)",
                  cfg->max_batch_files);
    else
        out = json_array();
    for (i = 0; out != NULL && i < json_array_size(files); i++) {
        json_t *clean = NULL;
        if (parse_file(json_array_get(files, i), i, cfg, &clean, err) != 0) {
            json_decref(out);
            out = NULL;
        } else {
            json_array_append_new(out, clean);
        }
    }
    json_decref(none);
    json_decref(root);
    return out;
}

json_t *batches_parse(const char *body, size_t len, const struct bu_config *cfg,
                      struct bu_error *err)
{
    bool open;

    return batches_parse_body(body, len, cfg, &open, err);
}

static int send_batch(struct http_request *req, int status, const char *batch_id,
                      struct bu_error *err)
{
    int found;
    char *json = store_batch_json(req->db, err, batch_id, req->user_id, &found);

    if (json == NULL)
        return found ? -1 : error_set(err, BU_E_NOT_FOUND, "no such batch");
    if (status == 201) {
        req->out.status = 201;
        http_add_header(req, "Location", "/api/v1/batches/%s", batch_id);
    }
    http_send_json_text(req, status, json);
    free(json);
    return 0;
}

/* application/json, with or without parameters ("; charset=utf-8"). */
static bool is_json(const char *content_type)
{
    static const char json[] = "application/json";
    size_t n = sizeof json - 1;

    if (content_type == NULL || strncasecmp(content_type, json, n) != 0)
        return false;
    content_type += n;
    content_type += strspn(content_type, " \t");
    return *content_type == '\0' || *content_type == ';';
}

int batches_create(struct http_request *req, struct bu_error *err)
{
    char *body, *files_text, batch_id[STORE_ID_SIZE];
    size_t len;
    json_t *files;
    bool open;
    int rc;

    if (auth_request(req, err) != 0)
        return -1;
    if (!is_json(http_header(req, "Content-Type")))
        return error_set(err, BU_E_UNSUPPORTED_MEDIA_TYPE,
                         "send the batch as 'Content-Type: application/json'");
    /* Reading the body may hold the worker as long as the client likes
     * (behind a web server that streams it): within the share of the pool
     * for batch bodies, and the user's own. */
    if (routes_admit(req, SB_CLASS_BODY, err) != 0)
        return -1;
    body = http_read_all(req, batches_max_body(req->cfg), &len, err);
    if (body == NULL)
        return -1;
    files = batches_parse_body(body, len, req->cfg, &open, err);
    free(body);
    if (files == NULL)
        return -1;
    files_text = json_dumps(files, JSON_COMPACT);
    json_decref(files);
    if (files_text == NULL)
        return error_set(err, BU_E_BAD_REQUEST, "the file list cannot be encoded");
    rc = open ? store_create_open_batch(req->db, err, req->cfg, req->user_id, files_text, batch_id)
              : store_create_batch(req->db, err, req->cfg, req->user_id, files_text, batch_id);
    free(files_text);
    return rc != 0 ? -1 : send_batch(req, 201, batch_id, err);
}

/* What a query parameter came to. */
enum batches_param {
    PARAM_ABSENT,   /* not in the query */
    PARAM_FOUND,    /* its value is in out */
    PARAM_TOO_LONG, /* longer than out holds: out is untouched */
};

/* The value of parameter name in query ("a=1&b=2") into out (cap bytes),
 * undecoded: the list's parameters are digits and URL-safe base64, which
 * need no percent-encoding. */
static enum batches_param query_value(const char *query, const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);

    for (const char *p = query; *p != '\0'; p += strcspn(p, "&"), p += *p == '&') {
        size_t len;
        if (strncmp(p, name, n) != 0 || p[n] != '=')
            continue;
        len = strcspn(p + n + 1, "&");
        if (len >= cap)
            return PARAM_TOO_LONG;
        memcpy(out, p + n + 1, len);
        out[len] = '\0';
        return PARAM_FOUND;
    }
    return PARAM_ABSENT;
}

/* ?limit=N&cursor=C&files=0|1 of the list. */
static int parse_page(const char *query, struct store_batches_page *page, struct bu_error *err)
{
    char value[16];
    enum batches_param rc;

    page->limit = BATCHES_LIST_DEFAULT;
    page->files = false;
    page->max_file_rows = BATCHES_PAGE_FILES;
    page->cursor[0] = '\0';
    rc = query_value(query, "limit", value, sizeof value);
    if (rc != PARAM_ABSENT) {
        char *end = value;
        long limit = rc == PARAM_FOUND ? strtol(value, &end, 10) : 0;
        if (rc == PARAM_TOO_LONG || value[0] < '0' || value[0] > '9' || *end != '\0' || limit < 1 ||
            limit > BATCHES_LIST_MAX)
            return error_set(err, BU_E_BAD_REQUEST, "limit must be a number from 1 to %d",
                             BATCHES_LIST_MAX);
        page->limit = (int)limit;
    }
    rc = query_value(query, "files", value, sizeof value);
    if (rc == PARAM_TOO_LONG ||
        (rc == PARAM_FOUND && strcmp(value, "0") != 0 && strcmp(value, "1") != 0))
        return error_set(err, BU_E_BAD_REQUEST, "files must be 0 or 1");
    page->files = rc == PARAM_FOUND && value[0] == '1';
    rc = query_value(query, "cursor", page->cursor, sizeof page->cursor);
    if (rc == PARAM_TOO_LONG ||
        (rc == PARAM_FOUND &&
         (page->cursor[0] == '\0' ||
          strspn(page->cursor, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                               "0123456789-_") != strlen(page->cursor))))
        return error_set(err, BU_E_BAD_REQUEST, "cursor is not one this server gave");
    return 0;
}

int batches_list(struct http_request *req, struct bu_error *err)
{
    struct store_batches_page page;
    char *json, *answer;
    int limit;

    if (auth_request(req, err) != 0 || parse_page(req->query, &page, err) != 0)
        return -1;
    limit = store_user_limit(req->db, err, req->user_id, req->cfg->per_user_limit);
    if (limit < 0)
        return -1;
    json = store_batches_json(req->db, err, req->user_id, &page);
    if (json == NULL)
        return -1;
    /* The page is one JSON object: "upload_limit" goes in front of its
     * keys, so that a client (batchup push) can open no more streams than
     * the server lets this user run at once. */
    if (json[0] == '{' && (answer = malloc(strlen(json) + 40)) != NULL) {
        snprintf(answer, strlen(json) + 40, "{\"upload_limit\": %d, %s", limit, json + 1);
        http_send_json_text(req, 200, answer);
        free(answer);
    } else {
        http_send_json_text(req, 200, json);
    }
    free(json);
    return 0;
}

int batches_get(struct http_request *req, struct bu_error *err)
{
    if (auth_request(req, err) != 0)
        return -1;
    return send_batch(req, 200, req->param[0], err);
}

static void remove_data(const char *file_id, void *ctx)
{
    disk_remove(ctx, file_id);
}

int batches_delete(struct http_request *req, struct bu_error *err)
{
    int found;

    if (auth_request(req, err) != 0)
        return -1;
    found = store_delete_batch(req->db, err, req->param[0], req->user_id, remove_data,
                               (void *)req->cfg);
    if (found <= 0)
        return found < 0 ? -1 : error_set(err, BU_E_NOT_FOUND, "no such batch");
    http_send_empty(req, 204);
    return 0;
}

int batches_link_delete(struct http_request *req, struct bu_error *err)
{
    enum store_link_result result;

    if (auth_request(req, err) != 0 ||
        store_revoke_link(req->db, err, req->param[0], req->user_id, &result) != 0)
        return -1;
    if (result == STORE_LINK_NOT_FOUND)
        return error_set(err, BU_E_NOT_FOUND, "no such batch");
    if (result == STORE_LINK_NONE)
        return error_set(err, BU_E_NOT_FOUND, "this batch has no download link");
    http_send_empty(req, 204);
    return 0;
}

int batches_link_create(struct http_request *req, struct bu_error *err)
{
    enum store_link_result result;

    if (auth_request(req, err) != 0 || store_issue_link(req->db, err, req->param[0], req->user_id,
                                                        req->cfg->link_ttl_seconds, &result) != 0)
        return -1;
    switch (result) {
    case STORE_LINK_DONE:
        return send_batch(req, 201, req->param[0], err);
    case STORE_LINK_INCOMPLETE:
        return error_set(err, BU_E_BATCH_INCOMPLETE,
                         "the batch gets a link when all its files have been uploaded");
    case STORE_LINK_EXPIRED:
        return error_set(err, BU_E_BATCH_EXPIRED, "the batch expired; its files are gone");
    default:
        return error_set(err, BU_E_NOT_FOUND, "no such batch");
    }
}

/* POST /api/v1/batches/<id>/close: an open batch takes no more files, and
 * completes as soon as every file has (at once, if all have). */
int batches_close(struct http_request *req, struct bu_error *err)
{
    enum store_close_result result;

    if (auth_request(req, err) != 0 ||
        store_close_batch(req->db, err, req->cfg, req->param[0], req->user_id, &result) != 0)
        return -1;
    switch (result) {
    case STORE_CLOSE_CLOSED:
        return send_batch(req, 200, req->param[0], err);
    case STORE_CLOSE_NOT_OPEN:
        return error_set(err, BU_E_BATCH_NOT_OPEN,
                         "the batch was created with its file list; there is nothing to close");
    case STORE_CLOSE_EMPTY:
        return error_set(err, BU_E_BATCH_EMPTY,
                         "the batch has no file yet; add files by tus creation before closing it");
    case STORE_CLOSE_EXPIRED:
        return error_set(err, BU_E_BATCH_EXPIRED, "the batch expired; its files are gone");
    case STORE_CLOSE_NOT_FOUND:
        break;
    }
    return error_set(err, BU_E_NOT_FOUND, "no such batch");
}
