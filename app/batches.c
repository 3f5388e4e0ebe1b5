/*
 * batches.c - the batches API.
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
#include "batchup/log.h"
#include "batchup/storage.h"
#include "batchup/utf8.h"

#define BATCHES_MAX_BODY (8u << 20)

static int valid_name(const char *s)
{
    size_t n = strlen(s);

    return n > 0 && n <= 1024 && !utf8_has_ascii_control(s);
}

static int valid_type(const char *s)
{
    size_t n = strlen(s);

    if (n > 255)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
            return 0;
    return 1;
}

json_t *batches_parse(const char *body, size_t len, const struct bu_config *cfg,
                      struct bu_error *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    json_t *files, *out = NULL, *item;
    size_t i;

    if (root == NULL) {
        error_set(err, 400, "bad_json", "the body is not JSON: %s (line %d)", jerr.text, jerr.line);
        return NULL;
    }
    files = json_object_get(root, "files");
    if (!json_is_object(root) || json_object_size(root) != 1 || !json_is_array(files)) {
        error_set(err, 400, "bad_request", "the body must be {\"files\": [...]} and nothing else");
        goto done;
    }
    if (json_array_size(files) == 0) {
        error_set(err, 400, "bad_request", "a batch needs at least one file");
        goto done;
    }
    if (json_array_size(files) > (size_t)cfg->max_batch_files) {
        error_set(err, 413, "too_many_files", "a batch holds at most %d files (max_batch_files)",
                  cfg->max_batch_files);
        goto done;
    }
    out = json_array();
    json_array_foreach(files, i, item)
    {
        json_t *name = json_object_get(item, "name"), *size = json_object_get(item, "size");
        json_t *sha = json_object_get(item, "sha256"), *type = json_object_get(item, "type");
        json_t *clean;
        size_t known = 2;

        if (!json_is_object(item)) {
            error_set(err, 400, "bad_request", "files[%zu] must be an object", i);
            goto fail;
        }
        if (!json_is_string(name) || !valid_name(json_string_value(name))) {
            error_set(err, 400, "bad_name",
                      "files[%zu].name must be 1 to 1024 bytes of UTF-8 without control "
                      "characters",
                      i);
            goto fail;
        }
        if (!json_is_integer(size) || json_integer_value(size) < 0) {
            error_set(err, 400, "bad_size", "files[%zu].size must be a non-negative integer", i);
            goto fail;
        }
        if (cfg->max_file_size > 0 && (uint64_t)json_integer_value(size) > cfg->max_file_size) {
            error_set(err, 413, "file_too_large", "files[%zu].size exceeds max_file_size (%llu)", i,
                      (unsigned long long)cfg->max_file_size);
            goto fail;
        }
        clean = json_pack("{s:O,s:O}", "name", name, "size", size);
        json_array_append_new(out, clean);
        if (sha != NULL) {
            char lower[65];
            const char *v = json_is_string(sha) ? json_string_value(sha) : "";
            known++;
            if (strlen(v) != 64 || strspn(v, "0123456789abcdefABCDEF") != 64) {
                error_set(err, 400, "bad_sha256", "files[%zu].sha256 must be 64 hex digits", i);
                goto fail;
            }
            for (int k = 0; k < 64; k++)
                lower[k] = (char)tolower((unsigned char)v[k]);
            lower[64] = '\0';
            json_object_set_new(clean, "sha256", json_string(lower));
        }
        if (type != NULL) {
            known++;
            if (!json_is_string(type) || !valid_type(json_string_value(type))) {
                error_set(err, 400, "bad_type",
                          "files[%zu].type must be a printable ASCII media type", i);
                goto fail;
            }
            json_object_set(clean, "type", type);
        }
        if (json_object_size(item) != known) {
            error_set(err, 400, "bad_request",
                      "files[%zu] has unknown keys (allowed: name, size, sha256, type)", i);
            goto fail;
        }
    }
    goto done;
fail:
    json_decref(out);
    out = NULL;
done:
    json_decref(root);
    return out;
}

static void send_batch(struct http_request *req, int status, const char *batch_id)
{
    struct bu_error err;
    char user[16];
    const char *params[2] = {batch_id, user};
    PGresult *res;

    snprintf(user, sizeof user, "%d", req->user_id);
    res = db_query(req->db, &err, "SELECT batchup.batch_json($1::uuid, $2::int)", 2, params);
    if (res == NULL)
        return http_send_error(req, &err);
    if (PQgetisnull(res, 0, 0)) {
        PQclear(res);
        error_set(&err, 404, "not_found", "no such batch");
        return http_send_error(req, &err);
    }
    if (status == 201) {
        http_status(req, 201);
        http_add_header(req, "Location", "/api/v1/batches/%s", batch_id);
    }
    http_send_json_text(req, status, PQgetvalue(res, 0, 0));
    PQclear(res);
}

int batches_insert(struct http_request *req, json_t *files, char batch_id[37], struct bu_error *err)
{
    char user[16], ttl[16];
    char *files_text = json_dumps(files, JSON_COMPACT);
    const char *params[3] = {user, files_text, ttl};
    PGresult *res;

    json_decref(files);
    if (files_text == NULL)
        return error_set(err, 400, "bad_request", "the file list cannot be encoded");
    snprintf(user, sizeof user, "%d", req->user_id);
    snprintf(ttl, sizeof ttl, "%d", req->cfg->link_ttl_seconds);
    res = db_query(req->db, err, "SELECT batchup.create_batch($1::int, $2::jsonb, $3::int)", 3,
                   params);
    free(files_text);
    if (res == NULL)
        return -1;
    snprintf(batch_id, 37, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return 0;
}

void batches_create(struct http_request *req)
{
    struct bu_error err;
    char *body, batch_id[37];
    size_t len;
    json_t *files;

    if (auth_request(req, &err) != 0)
        return http_send_error(req, &err);
    body = http_read_all(req, BATCHES_MAX_BODY, &len, &err);
    if (body == NULL)
        return http_send_error(req, &err);
    files = batches_parse(body, len, req->cfg, &err);
    free(body);
    if (files == NULL)
        return http_send_error(req, &err);
    if (batches_insert(req, files, batch_id, &err) != 0)
        return http_send_error(req, &err);
    send_batch(req, 201, batch_id);
}

void batches_list(struct http_request *req)
{
    struct bu_error err;
    char user[16];
    const char *params[1] = {user};
    PGresult *res;

    if (auth_request(req, &err) != 0)
        return http_send_error(req, &err);
    snprintf(user, sizeof user, "%d", req->user_id);
    res = db_query(req->db, &err,
                   "SELECT json_build_object('batches', coalesce(json_agg(j ORDER BY created_at"
                   " DESC), '[]'::json)) FROM (SELECT batchup.batch_json(id, $1::int) AS j,"
                   " created_at FROM batchup.batches WHERE user_id = $1::int"
                   " ORDER BY created_at DESC LIMIT 100) b",
                   1, params);
    if (res == NULL)
        return http_send_error(req, &err);
    http_send_json_text(req, 200, PQgetvalue(res, 0, 0));
    PQclear(res);
}

void batches_get(struct http_request *req, const char *batch_id)
{
    struct bu_error err;

    if (auth_request(req, &err) != 0)
        return http_send_error(req, &err);
    send_batch(req, 200, batch_id);
}

void batches_delete(struct http_request *req, const char *batch_id)
{
    struct bu_error err;
    char user[16], ttl[16];
    const char *params[3] = {batch_id, user, ttl};
    PGresult *res;

    if (auth_request(req, &err) != 0)
        return http_send_error(req, &err);
    snprintf(user, sizeof user, "%d", req->user_id);
    snprintf(ttl, sizeof ttl, "%d", req->cfg->link_ttl_seconds);
    res = db_query(req->db, &err,
                   "SELECT found, file_id FROM batchup.abort_batch($1::uuid, $2::int, $3::int)", 3,
                   params);
    if (res == NULL)
        return http_send_error(req, &err);
    if (PQntuples(res) == 0 || strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
        PQclear(res);
        error_set(&err, 404, "not_found", "no such batch");
        return http_send_error(req, &err);
    }
    for (int i = 0; i < PQntuples(res); i++)
        if (!PQgetisnull(res, i, 1))
            storage_remove(req->cfg, PQgetvalue(res, i, 1));
    PQclear(res);
    http_send_empty(req, 204);
}
