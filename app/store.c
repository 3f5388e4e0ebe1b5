/*
 * store.c - the data layer (see store.h): every SQL statement batchup runs,
 * each next to the C function that runs it and turns its row into C.
 *
 * Each function here is one round trip: a call of one batchup.* function or
 * a read of one view.  Arguments go through struct db_args (db.c), columns
 * are read by name, never by position, so a reordered SELECT cannot shift
 * a value into the wrong field.  Nothing here decides anything: the
 * database does, and this file only translates.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "batchup/store.h"

/* ---- reading a row by column name ------------------------------------ */

static int col(const PGresult *res, const char *name)
{
    int c = PQfnumber(res, name);

    assert(c >= 0); /* a column every query of this file selects */
    return c;
}

static const char *get_text(const PGresult *res, int row, const char *name)
{
    return PQgetvalue(res, row, col(res, name));
}

static bool get_null(const PGresult *res, int row, const char *name)
{
    return PQgetisnull(res, row, col(res, name));
}

static long long get_int(const PGresult *res, int row, const char *name)
{
    return strtoll(get_text(res, row, name), NULL, 10);
}

static bool get_bool(const PGresult *res, int row, const char *name)
{
    return strcmp(get_text(res, row, name), "t") == 0;
}

static void copy_text(char *dst, size_t cap, const PGresult *res, int row, const char *name)
{
    snprintf(dst, cap, "%s", get_text(res, row, name));
}

/* Run sql; the result must have at least one row (functions returning a
 * scalar always do).  NULL with err otherwise. */
static PGresult *one_row(struct db *db, struct bu_error *err, const char *sql,
                         const struct db_args *args)
{
    PGresult *res = db_query(db, err, sql, args);

    if (res != NULL && PQntuples(res) < 1) {
        PQclear(res);
        error_set(err, BU_E_DATABASE_ERROR, "the database answered no row");
        return NULL;
    }
    return res;
}

/* A statement whose one boolean column says found (1) or not (0). */
static int found_flag(struct db *db, struct bu_error *err, const char *sql,
                      const struct db_args *args)
{
    PGresult *res = one_row(db, err, sql, args);
    int found;

    if (res == NULL)
        return -1;
    found = get_bool(res, 0, "found");
    PQclear(res);
    return found;
}

/* ---- users ---------------------------------------------------------- */

int store_authenticate(struct db *db, struct bu_error *err, const char *token_hash,
                       struct store_user *user)
{
    struct db_args a;
    PGresult *res;
    int found;

    db_args_init(&a);
    db_args_text(&a, token_hash);
    res = db_query(db, err, "SELECT user_id, user_name FROM batchup.authenticate($1)", &a);
    if (res == NULL)
        return -1;
    found = PQntuples(res) == 1;
    if (found) {
        user->id = (int)get_int(res, 0, "user_id");
        copy_text(user->name, sizeof user->name, res, 0, "user_name");
    }
    PQclear(res);
    return found;
}

int store_user_for_remote(struct db *db, struct bu_error *err, const char *name, bool create,
                          int *user_id)
{
    struct db_args a;
    PGresult *res;
    int found;

    db_args_init(&a);
    db_args_text(&a, name);
    db_args_text(&a, create ? "true" : "false");
    res = one_row(db, err, "SELECT batchup.user_for_remote($1, $2::boolean) AS id", &a);
    if (res == NULL)
        return -1;
    found = !get_null(res, 0, "id");
    if (found)
        *user_id = (int)get_int(res, 0, "id");
    PQclear(res);
    return found;
}

int store_user_add(struct db *db, struct bu_error *err, const char *name, const char *token_hash,
                   int limit)
{
    struct db_args a;
    PGresult *res;

    db_args_init(&a);
    db_args_text(&a, name);
    db_args_text(&a, token_hash);
    db_args_int(&a, limit);
    res = db_query(db, err, "SELECT batchup.user_add($1, $2, $3::int)", &a);
    if (res == NULL)
        return strcmp(db->sqlstate, "23505") == 0 ? 0 : -1; /* unique_violation: taken */
    PQclear(res);
    return 1;
}

int store_user_set_token(struct db *db, struct bu_error *err, const char *name,
                         const char *token_hash)
{
    struct db_args a;

    db_args_init(&a);
    db_args_text(&a, name);
    db_args_text(&a, token_hash);
    return found_flag(db, err, "SELECT batchup.user_set_token($1, $2) AS found", &a);
}

int store_user_set_limit(struct db *db, struct bu_error *err, const char *name, int limit)
{
    struct db_args a;

    db_args_init(&a);
    db_args_text(&a, name);
    db_args_int(&a, limit);
    return found_flag(db, err, "SELECT batchup.set_user_limit($1, $2::int) AS found", &a);
}

int store_user_limit(struct db *db, struct bu_error *err, int user_id, int default_limit)
{
    struct db_args a;
    PGresult *res;
    int limit;

    db_args_init(&a);
    db_args_int(&a, user_id);
    res = one_row(db, err, "SELECT slot_limit FROM batchup.users WHERE id = $1::int", &a);
    if (res == NULL)
        return -1;
    limit = (int)get_int(res, 0, "slot_limit");
    PQclear(res);
    return limit > 0 ? limit : default_limit;
}

int store_user_list(struct db *db, struct bu_error *err,
                    void (*each)(const struct store_user_usage *u, void *ctx), void *ctx)
{
    PGresult *res = db_query(db, err,
                             "SELECT user_name, slot_limit, active, queued FROM batchup.user_usage"
                             " ORDER BY user_name",
                             NULL);

    if (res == NULL)
        return -1;
    for (int i = 0; i < PQntuples(res); i++) {
        struct store_user_usage u = {
            .name = get_text(res, i, "user_name"),
            .limit = (int)get_int(res, i, "slot_limit"),
            .active = (int)get_int(res, i, "active"),
            .queued = (int)get_int(res, i, "queued"),
        };
        each(&u, ctx);
    }
    PQclear(res);
    return 0;
}

/* ---- batches -------------------------------------------------------- */

int store_create_batch(struct db *db, struct bu_error *err, const struct bu_config *cfg,
                       int user_id, const char *files_json, char batch_id[STORE_ID_SIZE])
{
    struct db_args a;
    PGresult *res;

    db_args_init(&a);
    db_args_int(&a, user_id);
    db_args_text(&a, files_json);
    db_args_int(&a, cfg->link_ttl_seconds);
    db_args_int(&a, (long long)cfg->max_user_bytes);
    db_args_int(&a, cfg->max_open_batches);
    db_args_int(&a, cfg->max_user_files);
    res = one_row(db, err,
                  "SELECT batchup.create_batch($1::int, $2::jsonb, $3::int, $4::bigint, $5::int,"
                  " $6::int) AS id",
                  &a);
    if (res == NULL)
        return -1;
    copy_text(batch_id, STORE_ID_SIZE, res, 0, "id");
    PQclear(res);
    return 0;
}

int store_create_upload(struct db *db, struct bu_error *err, const struct bu_config *cfg,
                        int user_id, const char *name, const char *media_type, uint64_t size,
                        char batch_id[STORE_ID_SIZE], char file_id[STORE_ID_SIZE])
{
    struct db_args a;
    PGresult *res;

    db_args_init(&a);
    db_args_int(&a, user_id);
    db_args_text(&a, name);
    db_args_text(&a, media_type);
    db_args_int(&a, (long long)size);
    db_args_int(&a, cfg->link_ttl_seconds);
    db_args_int(&a, (long long)cfg->max_user_bytes);
    db_args_int(&a, cfg->max_open_batches);
    db_args_int(&a, cfg->max_user_files);
    res = one_row(db, err,
                  "SELECT batch_id, file_id FROM batchup.create_upload($1::int, $2, $3,"
                  " $4::bigint, $5::int, $6::bigint, $7::int, $8::int)",
                  &a);
    if (res == NULL)
        return -1;
    copy_text(batch_id, STORE_ID_SIZE, res, 0, "batch_id");
    copy_text(file_id, STORE_ID_SIZE, res, 0, "file_id");
    PQclear(res);
    return 0;
}

int store_create_open_batch(struct db *db, struct bu_error *err, const struct bu_config *cfg,
                            int user_id, const char *files_json, char batch_id[STORE_ID_SIZE])
{
    struct db_args a;
    PGresult *res;

    db_args_init(&a);
    db_args_int(&a, user_id);
    db_args_text(&a, files_json);
    db_args_int(&a, cfg->link_ttl_seconds);
    db_args_int(&a, (long long)cfg->max_user_bytes);
    db_args_int(&a, cfg->max_open_batches);
    db_args_int(&a, cfg->max_user_files);
    res = one_row(db, err,
                  "SELECT batchup.create_open_batch($1::int, $2::jsonb, $3::int, $4::bigint,"
                  " $5::int, $6::int) AS id",
                  &a);
    if (res == NULL)
        return -1;
    copy_text(batch_id, STORE_ID_SIZE, res, 0, "id");
    PQclear(res);
    return 0;
}

static enum store_join_result join_word(const char *word)
{
    static const struct {
        const char *word;
        enum store_join_result result;
    } words[] = {
        {"matched", STORE_JOIN_MATCHED},
        {"existing", STORE_JOIN_EXISTING},
        {"added", STORE_JOIN_ADDED},
        {"no_match", STORE_JOIN_NO_MATCH},
        {"name_taken", STORE_JOIN_NAME_TAKEN},
        {"finished", STORE_JOIN_FINISHED},
        {"too_many_files", STORE_JOIN_TOO_MANY},
    };

    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcmp(word, words[i].word) == 0)
            return words[i].result;
    return STORE_JOIN_NOT_FOUND;
}

int store_join_batch(struct db *db, struct bu_error *err, const struct bu_config *cfg, int user_id,
                     const char *batch_id, const char *name, const char *media_type, uint64_t size,
                     enum store_join_result *result, char file_id[STORE_ID_SIZE], uint64_t *offset)
{
    struct db_args a;
    PGresult *res;

    db_args_init(&a);
    db_args_int(&a, user_id);
    db_args_text(&a, batch_id);
    db_args_text(&a, name);
    db_args_text(&a, media_type);
    db_args_int(&a, (long long)size);
    db_args_int(&a, (long long)cfg->max_user_bytes);
    db_args_int(&a, cfg->max_batch_files);
    db_args_int(&a, cfg->max_user_files);
    res = one_row(db, err,
                  "SELECT result, file_id, upload_offset FROM batchup.join_batch($1::int, $2::uuid,"
                  " $3, $4, $5::bigint, $6::bigint, $7::int, $8::int)",
                  &a);
    if (res == NULL)
        return -1;
    *result = join_word(get_text(res, 0, "result"));
    file_id[0] = '\0';
    *offset = 0;
    if (!get_null(res, 0, "file_id")) {
        copy_text(file_id, STORE_ID_SIZE, res, 0, "file_id");
        *offset = (uint64_t)get_int(res, 0, "upload_offset");
    }
    PQclear(res);
    return 0;
}

int store_create_deferred_upload(struct db *db, struct bu_error *err, const struct bu_config *cfg,
                                 int user_id, const char *name, const char *media_type,
                                 uint64_t max_size, char batch_id[STORE_ID_SIZE],
                                 char file_id[STORE_ID_SIZE])
{
    struct db_args a;
    PGresult *res;

    db_args_init(&a);
    db_args_int(&a, user_id);
    db_args_text(&a, name);
    db_args_text(&a, media_type);
    db_args_int(&a, (long long)max_size);
    db_args_int(&a, cfg->link_ttl_seconds);
    db_args_int(&a, cfg->max_open_batches);
    db_args_int(&a, cfg->max_user_files);
    res = one_row(db, err,
                  "SELECT batch_id, file_id FROM batchup.create_deferred_upload($1::int, $2, $3,"
                  " $4::bigint, $5::int, $6::int, $7::int)",
                  &a);
    if (res == NULL)
        return -1;
    copy_text(batch_id, STORE_ID_SIZE, res, 0, "batch_id");
    copy_text(file_id, STORE_ID_SIZE, res, 0, "file_id");
    PQclear(res);
    return 0;
}

int store_set_upload_length(struct db *db, struct bu_error *err, const struct bu_config *cfg,
                            const char *file_id, int user_id, uint64_t length,
                            enum store_length_result *result)
{
    struct db_args a;
    PGresult *res;
    const char *word;

    db_args_init(&a);
    db_args_text(&a, file_id);
    db_args_int(&a, user_id);
    db_args_int(&a, (long long)length);
    db_args_int(&a, (long long)cfg->max_user_bytes);
    res = one_row(
        db, err, "SELECT batchup.set_upload_length($1::uuid, $2::int, $3::bigint, $4::bigint) AS r",
        &a);
    if (res == NULL)
        return -1;
    word = get_text(res, 0, "r");
    *result = strcmp(word, "set") == 0         ? STORE_LENGTH_SET
              : strcmp(word, "fixed") == 0     ? STORE_LENGTH_FIXED
              : strcmp(word, "short") == 0     ? STORE_LENGTH_SHORT
              : strcmp(word, "too_large") == 0 ? STORE_LENGTH_TOO_LARGE
              : strcmp(word, "gone") == 0      ? STORE_LENGTH_GONE
                                               : STORE_LENGTH_NOT_FOUND;
    PQclear(res);
    return 0;
}

int store_close_batch(struct db *db, struct bu_error *err, const struct bu_config *cfg,
                      const char *batch_id, int user_id, enum store_close_result *result)
{
    struct db_args a;
    PGresult *res;
    const char *word;

    db_args_init(&a);
    db_args_text(&a, batch_id);
    db_args_int(&a, user_id);
    db_args_int(&a, cfg->link_ttl_seconds);
    res = one_row(db, err, "SELECT batchup.close_batch($1::uuid, $2::int, $3::int) AS r", &a);
    if (res == NULL)
        return -1;
    word = get_text(res, 0, "r");
    *result = strcmp(word, "closed") == 0     ? STORE_CLOSE_CLOSED
              : strcmp(word, "not_open") == 0 ? STORE_CLOSE_NOT_OPEN
              : strcmp(word, "empty") == 0    ? STORE_CLOSE_EMPTY
              : strcmp(word, "expired") == 0  ? STORE_CLOSE_EXPIRED
                                              : STORE_CLOSE_NOT_FOUND;
    PQclear(res);
    return 0;
}

/* The first column of the one row of res as a malloc'd string, or NULL
 * (*found 0) when it is NULL. */
static char *take_json(PGresult *res, struct bu_error *err, int *found)
{
    char *text = NULL;

    *found = !get_null(res, 0, "j");
    if (*found) {
        text = strdup(get_text(res, 0, "j"));
        if (text == NULL)
            error_set(err, BU_E_INTERNAL, "out of memory");
    }
    PQclear(res);
    return text;
}

char *store_batch_json(struct db *db, struct bu_error *err, const char *batch_id, int user_id,
                       int *found)
{
    struct db_args a;
    PGresult *res;

    *found = 0;
    db_args_init(&a);
    db_args_text(&a, batch_id);
    db_args_int(&a, user_id);
    res = one_row(db, err, "SELECT batchup.batch_json($1::uuid, $2::int) AS j", &a);
    return res == NULL ? NULL : take_json(res, err, found);
}

char *store_batches_json(struct db *db, struct bu_error *err, int user_id,
                         const struct store_batches_page *page)
{
    struct db_args a;
    PGresult *res;
    int found;

    db_args_init(&a);
    db_args_int(&a, user_id);
    db_args_int(&a, page->limit);
    db_args_text(&a, page->cursor[0] != '\0' ? page->cursor : NULL);
    db_args_text(&a, page->files ? "true" : "false");
    db_args_int(&a, page->max_file_rows);
    res =
        one_row(db, err,
                "SELECT batchup.batches_json($1::int, $2::int, $3, $4::boolean, $5::int) AS j", &a);
    return res == NULL ? NULL : take_json(res, err, &found);
}

int store_delete_batch(struct db *db, struct bu_error *err, const char *batch_id, int user_id,
                       void (*removed)(const char *file_id, void *ctx), void *ctx)
{
    struct db_args a;
    PGresult *res;
    int found;

    db_args_init(&a);
    db_args_text(&a, batch_id);
    db_args_int(&a, user_id);
    res =
        one_row(db, err, "SELECT found, file_id FROM batchup.delete_batch($1::uuid, $2::int)", &a);
    if (res == NULL)
        return -1;
    found = get_bool(res, 0, "found");
    for (int i = 0; found && i < PQntuples(res); i++)
        if (!get_null(res, i, "file_id"))
            removed(get_text(res, i, "file_id"), ctx);
    PQclear(res);
    return found;
}

static enum store_link_result link_result(const char *word)
{
    static const struct {
        const char *word;
        enum store_link_result result;
    } words[] = {{"issued", STORE_LINK_DONE},     {"revoked", STORE_LINK_DONE},
                 {"none", STORE_LINK_NONE},       {"incomplete", STORE_LINK_INCOMPLETE},
                 {"expired", STORE_LINK_EXPIRED}, {"not_found", STORE_LINK_NOT_FOUND}};

    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcmp(word, words[i].word) == 0)
            return words[i].result;
    return STORE_LINK_NOT_FOUND;
}

int store_revoke_link(struct db *db, struct bu_error *err, const char *batch_id, int user_id,
                      enum store_link_result *result)
{
    struct db_args a;
    PGresult *res;

    db_args_init(&a);
    db_args_text(&a, batch_id);
    db_args_int(&a, user_id);
    res = one_row(db, err, "SELECT batchup.revoke_link($1::uuid, $2::int) AS result", &a);
    if (res == NULL)
        return -1;
    *result = link_result(get_text(res, 0, "result"));
    PQclear(res);
    return 0;
}

int store_issue_link(struct db *db, struct bu_error *err, const char *batch_id, int user_id,
                     int link_ttl, enum store_link_result *result)
{
    struct db_args a;
    PGresult *res;

    db_args_init(&a);
    db_args_text(&a, batch_id);
    db_args_int(&a, user_id);
    db_args_int(&a, link_ttl);
    res = one_row(db, err, "SELECT result FROM batchup.issue_link($1::uuid, $2::int, $3::int)", &a);
    if (res == NULL)
        return -1;
    *result = link_result(get_text(res, 0, "result"));
    PQclear(res);
    return 0;
}

/* ---- uploads and slots ---------------------------------------------- */

int store_claim_upload(struct db *db, struct bu_error *err, const struct bu_config *cfg,
                       const char *file_id, int user_id, const char *token_hash, const char *writer,
                       const char *break_holder, struct store_claim *claim)
{
#define CLAIM_COLUMNS                                                                              \
    "c.result, coalesce(c.queue_position, 0) AS queue_position,"                                   \
    " coalesce(c.upload_offset, 0) AS upload_offset, coalesce(c.size, 0) AS size,"                 \
    " coalesce(c.expected_sha256, '') AS expected_sha256, coalesce(c.holder, '') AS holder"
    static const char by_id[] =
        "SELECT " CLAIM_COLUMNS ", $2::int AS user_id, ''::text AS user_name"
        " FROM batchup.claim_upload($1::uuid, $2::int, $3::int, $4::int, $5::int, $6::int,"
        " $7, $8) c";
    /* $2 is the token's hash: its lookup first, and the claim runs once
     * for the user found, or not at all. */
    static const char by_token[] =
        "SELECT " CLAIM_COLUMNS ", a.user_id, a.user_name"
        " FROM batchup.authenticate($2) a"
        " CROSS JOIN LATERAL batchup.claim_upload($1::uuid, a.user_id, $3::int, $4::int, $5::int,"
        " $6::int, $7, $8) c";
#undef CLAIM_COLUMNS
    static const struct {
        const char *word;
        enum store_claim_result result;
    } results[] = {{"granted", STORE_CLAIM_GRANTED}, {"queued", STORE_CLAIM_QUEUED},
                   {"locked", STORE_CLAIM_LOCKED},   {"not_found", STORE_CLAIM_NOT_FOUND},
                   {"gone", STORE_CLAIM_GONE},       {"completed", STORE_CLAIM_COMPLETED}};
    struct db_args a;
    PGresult *res;
    const char *word;

    db_args_init(&a);
    db_args_text(&a, file_id);
    if (token_hash != NULL)
        db_args_text(&a, token_hash);
    else
        db_args_int(&a, user_id);
    db_args_int(&a, cfg->per_user_limit);
    db_args_int(&a, cfg->max_active_users);
    db_args_int(&a, cfg->slot_lease_seconds);
    db_args_int(&a, cfg->queue_retry_seconds);
    db_args_text(&a, writer);
    db_args_text(&a, break_holder);
    res = token_hash != NULL ? db_query(db, err, by_token, &a) : one_row(db, err, by_id, &a);
    if (res == NULL)
        return -1;
    memset(claim, 0, sizeof *claim);
    if (PQntuples(res) < 1) { /* no user has this token */
        claim->result = STORE_CLAIM_NOT_FOUND;
        PQclear(res);
        return 0;
    }
    claim->user_id = (int)get_int(res, 0, "user_id");
    copy_text(claim->user_name, sizeof claim->user_name, res, 0, "user_name");
    word = get_text(res, 0, "result");
    claim->result = STORE_CLAIM_NOT_FOUND;
    for (size_t i = 0; i < sizeof results / sizeof results[0]; i++)
        if (strcmp(word, results[i].word) == 0)
            claim->result = results[i].result;
    claim->queue_position = (int)get_int(res, 0, "queue_position");
    claim->offset = (uint64_t)get_int(res, 0, "upload_offset");
    claim->size = (uint64_t)get_int(res, 0, "size");
    copy_text(claim->expected_sha256, sizeof claim->expected_sha256, res, 0, "expected_sha256");
    copy_text(claim->holder, sizeof claim->holder, res, 0, "holder");
    PQclear(res);
    return 0;
}

static enum store_release release_word(const char *word)
{
    if (strcmp(word, "now") == 0)
        return STORE_RELEASE_NOW;
    if (strcmp(word, "if_quiet") == 0)
        return STORE_RECORD;
    if (strcmp(word, "lost") == 0)
        return STORE_RELEASE_LOST;
    return STORE_RELEASE_NONE;
}

int store_renew_upload(struct db *db, struct bu_error *err, const char *file_id, uint64_t offset,
                       int lease_seconds, const char *writer, struct store_renewal *renewal)
{
    struct db_args a;
    PGresult *res;

    db_args_init(&a);
    db_args_text(&a, file_id);
    db_args_int(&a, (long long)offset);
    db_args_int(&a, lease_seconds);
    db_args_text(&a, writer);
    res = one_row(db, err,
                  "SELECT slot_held, lock_held, coalesce(release, 'none') AS release"
                  " FROM batchup.renew_upload($1::uuid, $2::bigint, $3::int, $4)",
                  &a);
    if (res == NULL)
        return -1;
    renewal->slot_held = get_bool(res, 0, "slot_held");
    renewal->release = get_bool(res, 0, "lock_held") ? release_word(get_text(res, 0, "release"))
                                                     : STORE_RELEASE_LOST;
    PQclear(res);
    return 0;
}

int store_release_requested(struct db *db, struct bu_error *err, const char *file_id,
                            const char *writer, enum store_release *release)
{
    struct db_args a;
    PGresult *res;

    db_args_init(&a);
    db_args_text(&a, file_id);
    db_args_text(&a, writer);
    res = one_row(
        db, err,
        "SELECT coalesce(batchup.upload_release_requested($1::uuid, $2), 'lost') AS release", &a);
    if (res == NULL)
        return -1;
    *release = release_word(get_text(res, 0, "release"));
    PQclear(res);
    return 0;
}

int store_release_upload(struct db *db, struct bu_error *err, const char *file_id,
                         const char *writer)
{
    struct db_args a;

    db_args_init(&a);
    db_args_text(&a, file_id);
    db_args_text(&a, writer);
    return found_flag(db, err, "SELECT batchup.release_upload($1::uuid, $2) AS found", &a) < 0 ? -1
                                                                                               : 0;
}

int store_upload_writer(struct db *db, struct bu_error *err, const char *file_id, int user_id,
                        char *holder, size_t cap)
{
    struct db_args a;
    PGresult *res;
    int found;

    db_args_init(&a);
    db_args_text(&a, file_id);
    db_args_int(&a, user_id);
    res = one_row(db, err, "SELECT batchup.upload_writer($1::uuid, $2::int) AS holder", &a);
    if (res == NULL)
        return -1;
    found = !get_null(res, 0, "holder");
    if (found)
        copy_text(holder, cap, res, 0, "holder");
    PQclear(res);
    return found;
}

static enum store_file_status file_status(const char *word)
{
    static const char *const words[] = {
        [STORE_PENDING] = "pending",     [STORE_QUEUED] = "queued",
        [STORE_UPLOADING] = "uploading", [STORE_COMPLETED] = "completed",
        [STORE_ABORTED] = "aborted",     [STORE_EXPIRED] = "expired"};

    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcmp(word, words[i]) == 0)
            return (enum store_file_status)i;
    return STORE_PENDING;
}

int store_file_state(struct db *db, struct bu_error *err, const char *file_id, int user_id,
                     struct store_file_state *state)
{
    struct db_args a;
    PGresult *res;
    int found;

    db_args_init(&a);
    db_args_text(&a, file_id);
    if (user_id > 0)
        db_args_int(&a, user_id);
    else
        db_args_text(&a, NULL);
    res = db_query(
        db, err,
        "SELECT status, upload_offset, size, coalesce(queue_position, 0) AS queue_position,"
        " coalesce(expected_sha256, '') AS expected_sha256,"
        " extract(epoch FROM updated_at)::bigint AS updated_at,"
        " (SELECT f.length_deferred FROM batchup.files f WHERE f.id = $1::uuid) AS length_deferred"
        " FROM batchup.file_state($1::uuid, $2::int)",
        &a);
    if (res == NULL)
        return -1;
    found = PQntuples(res) == 1;
    if (found) {
        state->status = file_status(get_text(res, 0, "status"));
        state->offset = (uint64_t)get_int(res, 0, "upload_offset");
        state->size = (uint64_t)get_int(res, 0, "size");
        state->queue_position = (int)get_int(res, 0, "queue_position");
        state->updated_at = (time_t)get_int(res, 0, "updated_at");
        copy_text(state->expected_sha256, sizeof state->expected_sha256, res, 0, "expected_sha256");
        state->length_deferred = get_bool(res, 0, "length_deferred");
    }
    PQclear(res);
    return found;
}

int store_complete_file(struct db *db, struct bu_error *err, const char *file_id,
                        const char *sha256, uint32_t crc32, int link_ttl,
                        struct store_completion *done)
{
    struct db_args a;
    PGresult *res;

    db_args_init(&a);
    db_args_text(&a, file_id);
    db_args_text(&a, sha256);
    db_args_int(&a, crc32);
    db_args_int(&a, link_ttl);
    res = db_query(db, err,
                   "SELECT batch_complete, file_status FROM batchup.complete_file($1::uuid, $2,"
                   " $3::bigint, $4::int)",
                   &a);
    if (res == NULL)
        return -1;
    done->completed =
        PQntuples(res) == 1 && strcmp(get_text(res, 0, "file_status"), "completed") == 0;
    done->batch_complete = done->completed && get_bool(res, 0, "batch_complete");
    PQclear(res);
    return 0;
}

int store_abort_file(struct db *db, struct bu_error *err, const char *file_id, int user_id,
                     int link_ttl, enum store_abort_result *result)
{
    struct db_args a;
    PGresult *res;
    const char *word;

    db_args_init(&a);
    db_args_text(&a, file_id);
    db_args_int(&a, user_id);
    db_args_int(&a, link_ttl);
    res = one_row(db, err, "SELECT batchup.abort_file($1::uuid, $2::int, $3::int) AS result", &a);
    if (res == NULL)
        return -1;
    word = get_text(res, 0, "result");
    *result = strcmp(word, "aborted") == 0     ? STORE_ABORTED_NOW
              : strcmp(word, "completed") == 0 ? STORE_ABORT_COMPLETED
              : strcmp(word, "gone") == 0      ? STORE_ABORT_GONE
                                               : STORE_ABORT_NOT_FOUND;
    PQclear(res);
    return 0;
}

/* ---- downloads ------------------------------------------------------ */

void store_files_free(struct store_files *files)
{
    free(files->file);
    PQclear(files->res);
    memset(files, 0, sizeof *files);
}

/* Take the completed files in the rows of res (those whose id is not NULL)
 * into files, which then owns res. */
static int take_files(PGresult *res, struct bu_error *err, struct store_files *files)
{
    int rows = PQntuples(res);

    memset(files, 0, sizeof *files);
    files->res = res;
    files->file = calloc((size_t)rows + 1, sizeof *files->file);
    if (files->file == NULL)
        return error_set(err, BU_E_INTERNAL, "out of memory");
    for (int i = 0; i < rows; i++) {
        struct store_file *f = &files->file[files->n];
        if (get_null(res, i, "id"))
            continue;
        f->id = get_text(res, i, "id");
        f->name = get_text(res, i, "name");
        f->sha256 = get_text(res, i, "sha256");
        f->media_type = get_text(res, i, "media_type");
        f->size = (uint64_t)get_int(res, i, "size");
        f->completed_at = (time_t)get_int(res, i, "completed_epoch");
        f->crc32 = get_int(res, i, "crc32");
        files->n++;
    }
    return 0;
}

int store_owned_file(struct db *db, struct bu_error *err, const char *file_id, int user_id,
                     struct store_files *files, bool *batch_expired)
{
    struct db_args a;
    PGresult *res;

    memset(files, 0, sizeof *files);
    db_args_init(&a);
    db_args_text(&a, file_id);
    db_args_int(&a, user_id);
    res = db_query(db, err, "SELECT * FROM batchup.owned_file($1::uuid, $2::int)", &a);
    if (res == NULL)
        return -1;
    *batch_expired = PQntuples(res) == 1 && get_bool(res, 0, "batch_expired");
    if (take_files(res, err, files) != 0) {
        store_files_free(files);
        return -1;
    }
    return files->n == 1;
}

int store_link(struct db *db, struct bu_error *err, const char *token, struct store_link *link)
{
    struct db_args a;
    PGresult *res;

    memset(link, 0, sizeof *link);
    db_args_init(&a);
    db_args_text(&a, token);
    res = db_query(db, err, "SELECT * FROM batchup.link_files($1)", &a);
    if (res == NULL)
        return -1;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return 0;
    }
    copy_text(link->batch_id, sizeof link->batch_id, res, 0, "batch_id");
    copy_text(link->expires_at, sizeof link->expires_at, res, 0, "expires_at");
    link->live = get_bool(res, 0, "live");
    if (take_files(res, err, &link->files) != 0) {
        store_files_free(&link->files);
        return -1;
    }
    return 1;
}

/* ---- service -------------------------------------------------------- */

int store_ping(struct db *db, struct bu_error *err)
{
    PGresult *res = db_query(db, err, "SELECT 1", NULL);

    if (res == NULL)
        return -1;
    PQclear(res);
    return 0;
}

int store_upload_counts(struct db *db, struct bu_error *err, long *active, long *queued)
{
    PGresult *res = one_row(db, err,
                            "SELECT (SELECT count(*) FROM batchup.active_slots) AS active,"
                            " (SELECT count(*) FROM batchup.upload_queue) AS queued",
                            NULL);

    if (res == NULL)
        return -1;
    *active = (long)get_int(res, 0, "active");
    *queued = (long)get_int(res, 0, "queued");
    PQclear(res);
    return 0;
}

int store_gc(struct db *db, struct bu_error *err, const struct bu_config *cfg,
             void (*removed)(const char *file_id, void *ctx), void *ctx)
{
    struct db_args a;
    PGresult *res;
    int n;

    db_args_init(&a);
    db_args_int(&a, cfg->upload_expiry_seconds);
    db_args_int(&a, cfg->link_ttl_seconds);
    db_args_int(&a, cfg->retention_seconds);
    res = db_query(db, err, "SELECT kind, file_id FROM batchup.gc($1::int, $2::int, $3::int)", &a);
    if (res == NULL)
        return -1;
    n = PQntuples(res);
    for (int i = 0; i < n; i++)
        removed(get_text(res, i, "file_id"), ctx);
    PQclear(res);
    return n;
}

int store_live_files(struct db *db, struct bu_error *err, const char *const *ids, size_t n,
                     void (*live)(const char *file_id, void *ctx), void *ctx)
{
    struct db_args a;
    PGresult *res;
    char *array = malloc(n * (STORE_ID_SIZE + 1) + 3), *p = array;

    if (array == NULL)
        return error_set(err, BU_E_INTERNAL, "out of memory");
    *p++ = '{';
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%s%s", i > 0 ? "," : "", ids[i]);
    memcpy(p, "}", 2);
    db_args_init(&a);
    db_args_text(&a, array);
    res = db_query(db, err, "SELECT file_id FROM batchup.live_files($1::uuid[])", &a);
    free(array);
    if (res == NULL)
        return -1;
    for (int i = 0; i < PQntuples(res); i++)
        live(get_text(res, i, "file_id"), ctx);
    PQclear(res);
    return 0;
}

int store_installation_id(struct db *db, struct bu_error *err, char id[STORE_ID_SIZE])
{
    PGresult *res = one_row(db, err, "SELECT batchup.installation_id()::text AS id", NULL);

    if (res == NULL)
        return -1;
    copy_text(id, STORE_ID_SIZE, res, 0, "id");
    PQclear(res);
    return 0;
}

/* ---- migrations ----------------------------------------------------- */

/* The lock namespace of `batchup migrate`, one above the slot namespace
 * (sql/functions/10_common.sql), so batchup.slot_locks never shows it. */
#define MIGRATION_LOCK "1651865713"

static int command(struct db *db, struct bu_error *err, const char *sql, const struct db_args *args)
{
    PGresult *res = db_query(db, err, sql, args);

    if (res == NULL)
        return -1;
    PQclear(res);
    return 0;
}

int store_migration_begin(struct db *db, struct bu_error *err)
{
    static const char *const steps[] = {
        "BEGIN",
        "SET LOCAL client_min_messages = warning",
        "SELECT pg_advisory_xact_lock(" MIGRATION_LOCK ", 1)",
        "CREATE SCHEMA IF NOT EXISTS batchup",
        "CREATE TABLE IF NOT EXISTS batchup.schema_migrations ("
        " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
        "COMMENT ON TABLE batchup.schema_migrations IS"
        " 'Numbered migrations (sql/NNN_*.sql) applied by batchup migrate, one row each.'",
        "CREATE TABLE IF NOT EXISTS batchup.schema_functions ("
        " name text PRIMARY KEY, sha256 text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())",
        "COMMENT ON TABLE batchup.schema_functions IS"
        " 'The function and view definitions (sql/functions/*.sql) last applied by batchup"
        " migrate, with the SHA-256 of each file: when a file changes, migrate applies them all"
        " again.'",
    };

    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
        if (command(db, err, steps[i], NULL) != 0) {
            store_rollback(db);
            return -1;
        }
    return 0;
}

int store_migration_applied(struct db *db, struct bu_error *err, const char *name)
{
    struct db_args a;
    PGresult *res;
    int found;

    db_args_init(&a);
    db_args_text(&a, name);
    res = db_query(db, err, "SELECT 1 FROM batchup.schema_migrations WHERE version = $1", &a);
    if (res == NULL)
        return -1;
    found = PQntuples(res) == 1;
    PQclear(res);
    return found;
}

int store_migration_record(struct db *db, struct bu_error *err, const char *name)
{
    struct db_args a;

    db_args_init(&a);
    db_args_text(&a, name);
    return command(db, err, "INSERT INTO batchup.schema_migrations (version) VALUES ($1)", &a);
}

/* "name:sha256\n" for each file, in order: the whole set as one text, so
 * that one comparison tells whether anything changed. */
static char *function_set(const char *const *names, const char *const *sha256s, size_t n)
{
    size_t len = 1;
    char *text, *p;

    for (size_t i = 0; i < n; i++)
        len += strlen(names[i]) + strlen(sha256s[i]) + 2;
    text = malloc(len);
    if (text == NULL)
        return NULL;
    p = text;
    *p = '\0';
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%s:%s\n", names[i], sha256s[i]);
    return text;
}

int store_functions_current(struct db *db, struct bu_error *err, const char *const *names,
                            const char *const *sha256s, size_t n)
{
    struct db_args a;
    PGresult *res;
    char *set = function_set(names, sha256s, n);
    int current;

    if (set == NULL)
        return error_set(err, BU_E_INTERNAL, "out of memory");
    db_args_init(&a);
    db_args_text(&a, set);
    res = one_row(db, err,
                  "SELECT coalesce(string_agg(name || ':' || sha256 || E'\\n', '' ORDER BY name "
                  "COLLATE \"C\"),"
                  " '') = $1 AS current FROM batchup.schema_functions",
                  &a);
    free(set);
    if (res == NULL)
        return -1;
    current = get_bool(res, 0, "current");
    PQclear(res);
    return current;
}

int store_functions_record(struct db *db, struct bu_error *err, const char *const *names,
                           const char *const *sha256s, size_t n)
{
    if (command(db, err, "DELETE FROM batchup.schema_functions", NULL) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        struct db_args a;
        db_args_init(&a);
        db_args_text(&a, names[i]);
        db_args_text(&a, sha256s[i]);
        if (command(db, err, "INSERT INTO batchup.schema_functions (name, sha256) VALUES ($1, $2)",
                    &a) != 0)
            return -1;
    }
    return 0;
}

int store_commit(struct db *db, struct bu_error *err)
{
    return command(db, err, "COMMIT", NULL);
}

void store_rollback(struct db *db)
{
    if (db->conn != NULL)
        PQclear(PQexec(db->conn, "ROLLBACK"));
}

/* ---- hooks ---------------------------------------------------------- */

/* A LISTEN outlives its transaction: it belongs to the server session.
 * Through a pooler in transaction mode (PgBouncer) that session is lent to
 * whichever client runs the next transaction, so a LISTEN would stay on a
 * shared server connection: its notifications would go to some worker in
 * the middle of its own transaction (kept unread by libpq) or be dropped
 * by the pooler with a warning, never to us.  So behind a pooler (db_direct)
 * we do not LISTEN, and the hooks child polls. */
int store_hook_listen(struct db *db, struct bu_error *err)
{
    int direct = db_direct(db, err);

    if (direct <= 0)
        return direct;
    return command(db, err, "LISTEN batchup_hook", NULL) == 0 ? 1 : -1;
}

int store_hook_register(struct db *db, struct bu_error *err, const char *deliverer,
                        const char *events, int lease_seconds)
{
    struct db_args a;
    char kinds[128];

    snprintf(kinds, sizeof kinds, "{%s}", events);
    db_args_init(&a);
    db_args_text(&a, deliverer);
    db_args_text(&a, kinds);
    db_args_int(&a, lease_seconds);
    return command(db, err, "SELECT batchup.hook_register($1, $2::text[], $3::int)", &a);
}

int store_hook_claim(struct db *db, struct bu_error *err, const char *events, int lease_seconds,
                     struct store_hook_event *ev)
{
    struct db_args a;
    PGresult *res;
    char kinds[128];

    memset(ev, 0, sizeof *ev);
    snprintf(kinds, sizeof kinds, "{%s}", events);
    db_args_init(&a);
    db_args_text(&a, kinds);
    db_args_int(&a, lease_seconds);
    res = db_query(db, err,
                   "SELECT event_id, kind, batch_id, coalesce(file_id::text, '') AS file_id,"
                   " user_name, coalesce(download_url, '') AS download_url, attempt, command_done,"
                   " url_done, payload FROM batchup.hook_claim($1::text[], $2::int)",
                   &a);
    if (res == NULL)
        return -1;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return 0;
    }
    copy_text(ev->id, sizeof ev->id, res, 0, "event_id");
    copy_text(ev->kind, sizeof ev->kind, res, 0, "kind");
    copy_text(ev->batch_id, sizeof ev->batch_id, res, 0, "batch_id");
    copy_text(ev->file_id, sizeof ev->file_id, res, 0, "file_id");
    copy_text(ev->user_name, sizeof ev->user_name, res, 0, "user_name");
    copy_text(ev->download_url, sizeof ev->download_url, res, 0, "download_url");
    ev->attempt = (int)get_int(res, 0, "attempt");
    ev->command_done = get_bool(res, 0, "command_done");
    ev->url_done = get_bool(res, 0, "url_done");
    ev->payload = strdup(get_text(res, 0, "payload"));
    PQclear(res);
    if (ev->payload == NULL)
        return error_set(err, BU_E_INTERNAL, "out of memory");
    return 1;
}

void store_hook_event_free(struct store_hook_event *ev)
{
    free(ev->payload);
    ev->payload = NULL;
}

int store_hook_target_done(struct db *db, struct bu_error *err, const char *event_id,
                           const char *target)
{
    struct db_args a;

    db_args_init(&a);
    db_args_text(&a, event_id);
    db_args_text(&a, target);
    return command(db, err, "SELECT batchup.hook_target_done($1::uuid, $2)", &a);
}

int store_hook_finish(struct db *db, struct bu_error *err, const char *event_id, const char *error,
                      int retry_seconds, int max_attempts, bool *failed)
{
    struct db_args a;
    PGresult *res;

    db_args_init(&a);
    db_args_text(&a, event_id);
    db_args_text(&a, error);
    db_args_int(&a, retry_seconds);
    db_args_int(&a, max_attempts);
    res = one_row(db, err, "SELECT batchup.hook_finish($1::uuid, $2, $3::int, $4::int) AS status",
                  &a);
    if (res == NULL)
        return -1;
    *failed = strcmp(get_text(res, 0, "status"), "failed") == 0;
    PQclear(res);
    return 0;
}
