/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * store_batches.c - the data layer's batches (store.h, "batches"): creation in its
 * three forms, tus joins and deferred lengths, closing, the JSON views,
 * deletion and the download link.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchup/store.h"
#include "batchup/store_call.h"

/* The limits every new batch is checked against, after a call's own
 * arguments: the link's lifetime, the user's byte quota when quota is set
 * (a deferred upload meets it only when its length is set), the open
 * batches and the user's files. */
static void store_args_limits(struct db_args *a, const struct bu_config *cfg, bool quota)
{
    db_args_int(a, cfg->link_ttl_seconds);
    if (quota)
        db_args_int(a, (long long)cfg->max_user_bytes);
    db_args_int(a, cfg->max_open_batches);
    db_args_int(a, cfg->max_user_files);
}

/* A batch from a JSON file list, by sql (batchup.create_batch or
 * batchup.create_open_batch, which take the same arguments). */
static int store_batch_from_list(struct db *db, struct bu_error *err, const char *sql,
                                 const struct bu_config *cfg, int user_id, const char *files_json,
                                 char batch_id[STORE_ID_SIZE])
{
    struct db_args a;
    struct pg_result *res;

    db_args_init(&a);
    db_args_int(&a, user_id);
    db_args_text(&a, files_json);
    store_args_limits(&a, cfg, true);
    if (store_call(db, err, sql, &a, STORE_ROW_ONE, &res) < 0)
        return -1;
    store_copy(batch_id, STORE_ID_SIZE, res, 0, "id");
    db_free(res);
    return 0;
}

int store_create_batch(struct db *db, struct bu_error *err, const struct bu_config *cfg,
                       int user_id, const char *files_json, char batch_id[STORE_ID_SIZE])
{
    return store_batch_from_list(
        db, err,
        "SELECT batchup.create_batch($1::int, $2::jsonb, $3::int, $4::bigint, $5::int,"
        " $6::int) AS id",
        cfg, user_id, files_json, batch_id);
}

int store_create_open_batch(struct db *db, struct bu_error *err, const struct bu_config *cfg,
                            int user_id, const char *files_json, char batch_id[STORE_ID_SIZE])
{
    return store_batch_from_list(
        db, err,
        "SELECT batchup.create_open_batch($1::int, $2::jsonb, $3::int, $4::bigint,"
        " $5::int, $6::int) AS id",
        cfg, user_id, files_json, batch_id);
}

/* The three tus creations of a batch holding one upload differ only in
 * what they pass: a partial upload has no name nor media type, and a
 * deferred one meets the byte quota later.  Each returns the batch and the
 * file. */
struct store_new_form {
    const char *sql;
    bool named; /* passes the file's name and media type */
    bool quota; /* passes max_user_bytes */
};

static const struct store_new_form store_new_upload_form = {
    "SELECT batch_id, file_id FROM batchup.create_upload($1::int, $2, $3, $4::bigint, $5::int,"
    " $6::bigint, $7::int, $8::int)",
    true, true};
static const struct store_new_form store_new_deferred_form = {
    "SELECT batch_id, file_id FROM batchup.create_deferred_upload($1::int, $2, $3, $4::bigint,"
    " $5::int, $6::int, $7::int)",
    true, false};
static const struct store_new_form store_new_partial_form = {
    "SELECT batch_id, file_id FROM batchup.create_partial_upload($1::int, $2::bigint, $3::int,"
    " $4::bigint, $5::int, $6::int)",
    false, true};

/* One tus creation by form: size is the upload's length (for a deferred
 * one the most it may take); batch_id may be NULL when the caller does not
 * want it. */
static int store_new_upload(struct db *db, struct bu_error *err, const struct bu_config *cfg,
                            const struct store_new_form *form, int user_id, const char *name,
                            const char *media_type, uint64_t size, char batch_id[STORE_ID_SIZE],
                            char file_id[STORE_ID_SIZE])
{
    struct db_args a;
    struct pg_result *res;

    db_args_init(&a);
    db_args_int(&a, user_id);
    if (form->named) {
        db_args_text(&a, name);
        db_args_text(&a, media_type);
    }
    db_args_int(&a, (long long)size);
    store_args_limits(&a, cfg, form->quota);
    if (store_call(db, err, form->sql, &a, STORE_ROW_ONE, &res) < 0)
        return -1;
    if (batch_id != NULL)
        store_copy(batch_id, STORE_ID_SIZE, res, 0, "batch_id");
    store_copy(file_id, STORE_ID_SIZE, res, 0, "file_id");
    db_free(res);
    return 0;
}

int store_create_upload(struct db *db, struct bu_error *err, const struct bu_config *cfg,
                        int user_id, const char *name, const char *media_type, uint64_t size,
                        char batch_id[STORE_ID_SIZE], char file_id[STORE_ID_SIZE])
{
    return store_new_upload(db, err, cfg, &store_new_upload_form, user_id, name, media_type, size,
                            batch_id, file_id);
}

int store_create_deferred_upload(struct db *db, struct bu_error *err, const struct bu_config *cfg,
                                 int user_id, const char *name, const char *media_type,
                                 uint64_t max_size, char batch_id[STORE_ID_SIZE],
                                 char file_id[STORE_ID_SIZE])
{
    return store_new_upload(db, err, cfg, &store_new_deferred_form, user_id, name, media_type,
                            max_size, batch_id, file_id);
}

int store_create_partial_upload(struct db *db, struct bu_error *err, const struct bu_config *cfg,
                                int user_id, uint64_t size, char file_id[STORE_ID_SIZE])
{
    return store_new_upload(db, err, cfg, &store_new_partial_form, user_id, NULL, NULL, size, NULL,
                            file_id);
}

/* The words of batchup.join_batch's result. */
static const struct store_word join_words[] = {
    {"matched", STORE_JOIN_MATCHED},
    {"existing", STORE_JOIN_EXISTING},
    {"added", STORE_JOIN_ADDED},
    {"no_match", STORE_JOIN_NO_MATCH},
    {"name_taken", STORE_JOIN_NAME_TAKEN},
    {"finished", STORE_JOIN_FINISHED},
    {"too_many_files", STORE_JOIN_TOO_MANY},
};

int store_join_batch(struct db *db, struct bu_error *err, const struct bu_config *cfg, int user_id,
                     const char *batch_id, const char *name, const char *media_type, uint64_t size,
                     enum store_join_result *result, char file_id[STORE_ID_SIZE], uint64_t *offset)
{
    struct db_args a;
    struct pg_result *res;

    db_args_init(&a);
    db_args_int(&a, user_id);
    db_args_text(&a, batch_id);
    db_args_text(&a, name);
    db_args_text(&a, media_type);
    db_args_int(&a, (long long)size);
    db_args_int(&a, (long long)cfg->max_user_bytes);
    db_args_int(&a, cfg->max_batch_files);
    db_args_int(&a, cfg->max_user_files);
    if (store_call(
            db, err,
            "SELECT result, file_id, upload_offset FROM batchup.join_batch($1::int, $2::uuid,"
            " $3, $4, $5::bigint, $6::bigint, $7::int, $8::int)",
            &a, STORE_ROW_ONE, &res) < 0)
        return -1;
    *result = STORE_WORD(store_text(res, 0, "result"), join_words, STORE_JOIN_NOT_FOUND);
    file_id[0] = '\0';
    *offset = 0;
    if (!store_null(res, 0, "file_id")) {
        store_copy(file_id, STORE_ID_SIZE, res, 0, "file_id");
        *offset = (uint64_t)store_int(res, 0, "upload_offset");
    }
    db_free(res);
    return 0;
}

/* The words of batchup.create_final's result that are not join_batch's. */
static const struct store_word final_words[] = {
    {"created", STORE_FINAL_NEW},
    {"matched", STORE_FINAL_NEW},
    {"added", STORE_FINAL_NEW},
    {"existing", STORE_FINAL_EXISTING},
    {"not_found", STORE_FINAL_PART_NOT_FOUND},
    {"gone", STORE_FINAL_PART_GONE},
    {"incomplete", STORE_FINAL_INCOMPLETE},
    {"too_large", STORE_FINAL_TOO_LARGE},
    {"taken", STORE_FINAL_TAKEN},
};

/* create_final's row into out: a join_batch refusal is any word of
 * join_words that final_words does not know. */
static void store_final_read(const struct pg_result *res, struct store_final *out)
{
    const char *word = store_text(res, 0, "result");

    out->result = STORE_WORD(word, final_words, STORE_FINAL_JOIN_REFUSED);
    out->join = STORE_WORD(word, join_words, STORE_JOIN_NOT_FOUND);
    out->size = (uint64_t)store_int(res, 0, "size");
    if (!store_null(res, 0, "file_id")) {
        store_copy(out->file_id, STORE_ID_SIZE, res, 0, "file_id");
        out->offset = (uint64_t)store_int(res, 0, "upload_offset");
    }
}

int store_create_final(struct db *db, struct bu_error *err, const struct bu_config *cfg,
                       int user_id, const char *parts, const char *name, const char *media_type,
                       const char *batch_id, struct store_final *out)
{
    struct db_args a;
    struct pg_result *res;
    char limits[160];

    memset(out, 0, sizeof *out);
    /* Six limits in one argument: a call takes at most DB_MAX_ARGS. */
    snprintf(limits, sizeof limits, "{%llu,%d,%llu,%d,%d,%d}",
             (unsigned long long)cfg->max_file_size, cfg->link_ttl_seconds,
             (unsigned long long)cfg->max_user_bytes, cfg->max_open_batches, cfg->max_user_files,
             cfg->max_batch_files);
    db_args_init(&a);
    db_args_int(&a, user_id);
    db_args_text(&a, parts);
    db_args_text(&a, name);
    db_args_text(&a, media_type);
    db_args_text(&a, batch_id);
    db_args_text(&a, limits);
    if (store_call(db, err,
                   "SELECT result, file_id, upload_offset, size FROM batchup.create_final($1::int,"
                   " $2::uuid[], $3, $4, $5::uuid, ($6::bigint[])[1], ($6::bigint[])[2]::int,"
                   " ($6::bigint[])[3], ($6::bigint[])[4]::int, ($6::bigint[])[5]::int,"
                   " ($6::bigint[])[6]::int)",
                   &a, STORE_ROW_ONE, &res) < 0)
        return -1;
    store_final_read(res, out);
    db_free(res);
    return 0;
}

/* The words of batchup.set_upload_length's result. */
static const struct store_word length_words[] = {
    {"set", STORE_LENGTH_SET},     {"fixed", STORE_LENGTH_FIXED},
    {"short", STORE_LENGTH_SHORT}, {"too_large", STORE_LENGTH_TOO_LARGE},
    {"gone", STORE_LENGTH_GONE},
};

int store_set_upload_length(struct db *db, struct bu_error *err, const struct bu_config *cfg,
                            const char *file_id, int user_id, uint64_t length,
                            enum store_length_result *result)
{
    struct db_args a;
    struct pg_result *res;

    db_args_init(&a);
    db_args_text(&a, file_id);
    db_args_int(&a, user_id);
    db_args_int(&a, (long long)length);
    db_args_int(&a, (long long)cfg->max_user_bytes);
    if (store_call(
            db, err,
            "SELECT batchup.set_upload_length($1::uuid, $2::int, $3::bigint, $4::bigint) AS r", &a,
            STORE_ROW_ONE, &res) < 0)
        return -1;
    *result = STORE_WORD(store_text(res, 0, "r"), length_words, STORE_LENGTH_NOT_FOUND);
    db_free(res);
    return 0;
}

/* The words of batchup.close_batch's result. */
static const struct store_word close_words[] = {
    {"closed", STORE_CLOSE_CLOSED},
    {"not_open", STORE_CLOSE_NOT_OPEN},
    {"empty", STORE_CLOSE_EMPTY},
    {"expired", STORE_CLOSE_EXPIRED},
};

int store_close_batch(struct db *db, struct bu_error *err, const struct bu_config *cfg,
                      const char *batch_id, int user_id, enum store_close_result *result)
{
    struct db_args a;
    struct pg_result *res;

    db_args_init(&a);
    db_args_text(&a, batch_id);
    db_args_int(&a, user_id);
    db_args_int(&a, cfg->link_ttl_seconds);
    if (store_call(db, err, "SELECT batchup.close_batch($1::uuid, $2::int, $3::int) AS r", &a,
                   STORE_ROW_ONE, &res) < 0)
        return -1;
    *result = STORE_WORD(store_text(res, 0, "r"), close_words, STORE_CLOSE_NOT_FOUND);
    db_free(res);
    return 0;
}

/* The first column of the one row of res as a malloc'd string, or NULL
 * (*found 0) when it is NULL. */
static char *store_take_json(struct pg_result *res, struct bu_error *err, int *found)
{
    char *text = NULL;

    *found = !store_null(res, 0, "j");
    if (*found) {
        text = strdup(store_text(res, 0, "j"));
        if (text == NULL)
            error_set(err, BU_E_INTERNAL, "out of memory");
    }
    db_free(res);
    return text;
}

char *store_batch_json(struct db *db, struct bu_error *err, const char *batch_id, int user_id,
                       int *found)
{
    struct db_args a;
    struct pg_result *res;

    *found = 0;
    db_args_init(&a);
    db_args_text(&a, batch_id);
    db_args_int(&a, user_id);
    if (store_call(db, err, "SELECT batchup.batch_json($1::uuid, $2::int) AS j", &a, STORE_ROW_ONE,
                   &res) < 0)
        return NULL;
    return store_take_json(res, err, found);
}

char *store_batches_json(struct db *db, struct bu_error *err, int user_id,
                         const struct store_batches_page *page)
{
    struct db_args a;
    struct pg_result *res;
    int found;

    db_args_init(&a);
    db_args_int(&a, user_id);
    db_args_int(&a, page->limit);
    db_args_text(&a, page->cursor[0] != '\0' ? page->cursor : NULL);
    db_args_text(&a, page->files ? "true" : "false");
    db_args_int(&a, page->max_file_rows);
    if (store_call(db, err,
                   "SELECT batchup.batches_json($1::int, $2::int, $3, $4::boolean, $5::int) AS j",
                   &a, STORE_ROW_ONE, &res) < 0)
        return NULL;
    return store_take_json(res, err, &found);
}

int store_delete_batch(struct db *db, struct bu_error *err, const char *batch_id, int user_id,
                       void (*removed)(const char *file_id, void *ctx), void *ctx)
{
    struct db_args a;
    struct pg_result *res;
    int rows, found;

    db_args_init(&a);
    db_args_text(&a, batch_id);
    db_args_int(&a, user_id);
    rows = store_call(db, err, "SELECT found, file_id FROM batchup.delete_batch($1::uuid, $2::int)",
                      &a, STORE_ROW_ONE, &res);
    if (rows < 0)
        return -1;
    found = store_bool(res, 0, "found");
    for (int i = 0; found && i < rows; i++)
        if (!store_null(res, i, "file_id"))
            removed(store_text(res, i, "file_id"), ctx);
    db_free(res);
    return found;
}

/* The words of batchup.issue_link's and batchup.revoke_link's results. */
static const struct store_word link_words[] = {
    {"issued", STORE_LINK_DONE},     {"revoked", STORE_LINK_DONE},
    {"none", STORE_LINK_NONE},       {"incomplete", STORE_LINK_INCOMPLETE},
    {"expired", STORE_LINK_EXPIRED}, {"not_found", STORE_LINK_NOT_FOUND},
};

int store_revoke_link(struct db *db, struct bu_error *err, const char *batch_id, int user_id,
                      enum store_link_result *result)
{
    struct db_args a;
    struct pg_result *res;

    db_args_init(&a);
    db_args_text(&a, batch_id);
    db_args_int(&a, user_id);
    if (store_call(db, err, "SELECT batchup.revoke_link($1::uuid, $2::int) AS result", &a,
                   STORE_ROW_ONE, &res) < 0)
        return -1;
    *result = STORE_WORD(store_text(res, 0, "result"), link_words, STORE_LINK_NOT_FOUND);
    db_free(res);
    return 0;
}

int store_issue_link(struct db *db, struct bu_error *err, const char *batch_id, int user_id,
                     int link_ttl, enum store_link_result *result)
{
    struct db_args a;
    struct pg_result *res;

    db_args_init(&a);
    db_args_text(&a, batch_id);
    db_args_int(&a, user_id);
    db_args_int(&a, link_ttl);
    if (store_call(db, err, "SELECT result FROM batchup.issue_link($1::uuid, $2::int, $3::int)", &a,
                   STORE_ROW_ONE, &res) < 0)
        return -1;
    *result = STORE_WORD(store_text(res, 0, "result"), link_words, STORE_LINK_NOT_FOUND);
    db_free(res);
    return 0;
}
