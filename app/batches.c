/*
 * batches.c - the batches API: POST, GET and DELETE /api/v1/batches[/<id>].
 *
 * A batch is created whole, from a list of files with names and sizes, so
 * the server knows from the start how many files must complete before the
 * link is issued.  The body is validated strictly here (shape, types,
 * bounds, no unknown keys) and again by the database's constraints; a body
 * that fails is a 4xx and creates nothing.  The JSON a client reads back is
 * built by batchup.batch_json, in the same query that checks ownership, so
 * another user's batch is exactly as invisible as a missing one.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchup/auth.h"
#include "batchup/batches.h"
#include "batchup/check.h"
#include "batchup/storage.h"
#include "batchup/store.h"

#define BATCHES_MAX_BODY (8u << 20)
#define BATCHES_LIST_MAX 100

/* Check files[i]; on success *clean is its copy to store (name, size,
 * sha256 in lower case, type). */
static int parse_file(json_t *item, size_t i, const struct bu_config *cfg, json_t **clean,
                      struct bu_error *err)
{
    json_t *name = json_object_get(item, "name"), *size = json_object_get(item, "size");
    json_t *sha = json_object_get(item, "sha256"), *type = json_object_get(item, "type");
    size_t known = 2 + (sha != NULL) + (type != NULL);
    const char *hex = json_is_string(sha) ? json_string_value(sha) : "";
    char lower[65];

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
        return error_set(err, BU_E_BAD_TYPE,
                         "files[%zu].type must be a printable ASCII media type", i);
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

json_t *batches_parse(const char *body, size_t len, const struct bu_config *cfg,
                      struct bu_error *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    json_t *files, *out = NULL;
    size_t i;

    if (root == NULL) {
        error_set(err, BU_E_BAD_JSON, "the body is not JSON: %s (line %d)", jerr.text, jerr.line);
        return NULL;
    }
    files = json_object_get(root, "files");
    if (!json_is_object(root) || json_object_size(root) != 1 || !json_is_array(files))
        error_set(err, BU_E_BAD_REQUEST, "the body must be {\"files\": [...]} and nothing else");
    else if (json_array_size(files) == 0)
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
    json_decref(root);
    return out;
}

static int send_batch(struct http_request *req, int status, const char *batch_id,
                      struct bu_error *err)
{
    int found;
    char *json = store_batch_json(req->db, err, batch_id, req->user_id, &found);

    if (json == NULL)
        return found ? -1 : error_set(err, BU_E_NOT_FOUND, "no such batch");
    if (status == 201) {
        http_status(req, 201);
        http_add_header(req, "Location", "/api/v1/batches/%s", batch_id);
    }
    http_send_json_text(req, status, json);
    free(json);
    return 0;
}

int batches_create(struct http_request *req, struct bu_error *err)
{
    char *body, *files_text, batch_id[STORE_ID_SIZE];
    size_t len;
    json_t *files;
    int rc;

    if (auth_request(req, err) != 0)
        return -1;
    body = http_read_all(req, BATCHES_MAX_BODY, &len, err);
    if (body == NULL)
        return -1;
    files = batches_parse(body, len, req->cfg, err);
    free(body);
    if (files == NULL)
        return -1;
    files_text = json_dumps(files, JSON_COMPACT);
    json_decref(files);
    if (files_text == NULL)
        return error_set(err, BU_E_BAD_REQUEST, "the file list cannot be encoded");
    rc = store_create_batch(req->db, err, req->user_id, files_text, req->cfg->link_ttl_seconds,
                            batch_id);
    free(files_text);
    return rc != 0 ? -1 : send_batch(req, 201, batch_id, err);
}

int batches_list(struct http_request *req, struct bu_error *err)
{
    char *json;

    if (auth_request(req, err) != 0)
        return -1;
    json = store_batches_json(req->db, err, req->user_id, BATCHES_LIST_MAX);
    if (json == NULL)
        return -1;
    http_send_json_text(req, 200, json);
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
    storage_remove(ctx, file_id);
}

int batches_delete(struct http_request *req, struct bu_error *err)
{
    int found;

    if (auth_request(req, err) != 0)
        return -1;
    found = store_abort_batch(req->db, err, req->param[0], req->user_id,
                              req->cfg->link_ttl_seconds, remove_data, (void *)req->cfg);
    if (found <= 0)
        return found < 0 ? -1 : error_set(err, BU_E_NOT_FOUND, "no such batch");
    http_send_empty(req, 204);
    return 0;
}
