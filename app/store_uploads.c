/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * store_uploads.c - the data layer's uploads and slots (store.h, "uploads and
 * slots"): the claim of a slot and the writer lock, renewal and release,
 * a file's state, its completion and its abort.
 */
#include <stdlib.h>
#include <string.h>

#include "batchup/store.h"
#include "batchup/store_call.h"

/* The words of batchup.claim_upload's result. */
static const struct store_word claim_words[] = {
    {"granted", STORE_CLAIM_GRANTED}, {"queued", STORE_CLAIM_QUEUED},
    {"locked", STORE_CLAIM_LOCKED},   {"not_found", STORE_CLAIM_NOT_FOUND},
    {"gone", STORE_CLAIM_GONE},       {"completed", STORE_CLAIM_COMPLETED},
};

/* The claim's one row into claim. */
static void store_claim_read(const struct pg_result *res, struct store_claim *claim)
{
    claim->user_id = (int)store_int(res, 0, "user_id");
    store_copy(claim->user_name, sizeof claim->user_name, res, 0, "user_name");
    claim->result = STORE_WORD(store_text(res, 0, "result"), claim_words, STORE_CLAIM_NOT_FOUND);
    claim->queue_position = (int)store_int(res, 0, "queue_position");
    claim->offset = (uint64_t)store_int(res, 0, "upload_offset");
    claim->size = (uint64_t)store_int(res, 0, "size");
    store_copy(claim->expected_sha256, sizeof claim->expected_sha256, res, 0, "expected_sha256");
    store_copy(claim->holder, sizeof claim->holder, res, 0, "holder");
    claim->final = store_bool(res, 0, "final");
}

int store_claim_upload(struct db *db, struct bu_error *err, const struct bu_config *cfg,
                       const char *file_id, int user_id, const char *token_hash, const char *writer,
                       const char *break_holder, struct store_claim *claim)
{
#define CLAIM_COLUMNS                                                                              \
    "c.result, coalesce(c.queue_position, 0) AS queue_position,"                                   \
    " coalesce(c.upload_offset, 0) AS upload_offset, coalesce(c.size, 0) AS size,"                 \
    " coalesce(c.expected_sha256, '') AS expected_sha256, coalesce(c.holder, '') AS holder,"       \
    " EXISTS (SELECT 1 FROM batchup.files f WHERE f.id = $1::uuid"                                 \
    " AND f.concat_parts IS NOT NULL) AS final"
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
    struct db_args a;
    struct pg_result *res;
    int rows;

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
    rows = token_hash != NULL ? store_call(db, err, by_token, &a, STORE_ROWS_ANY, &res)
                              : store_call(db, err, by_id, &a, STORE_ROW_ONE, &res);
    if (rows < 0)
        return -1;
    memset(claim, 0, sizeof *claim);
    if (rows < 1) { /* no user has this token */
        claim->result = STORE_CLAIM_NOT_FOUND;
        db_free(res);
        return 0;
    }
    store_claim_read(res, claim);
    db_free(res);
    return 0;
}

/* What batchup.renew_upload and batchup.upload_release_requested ask of a
 * writer. */
static const struct store_word release_words[] = {
    {"now", STORE_RELEASE_NOW},
    {"if_quiet", STORE_RECORD},
    {"lost", STORE_RELEASE_LOST},
};

int store_renew_upload(struct db *db, struct bu_error *err, const char *file_id, uint64_t offset,
                       int lease_seconds, const char *writer, struct store_renewal *renewal)
{
    struct db_args a;
    struct pg_result *res;

    db_args_init(&a);
    db_args_text(&a, file_id);
    db_args_int(&a, (long long)offset);
    db_args_int(&a, lease_seconds);
    db_args_text(&a, writer);
    if (store_call(db, err,
                   "SELECT slot_held, lock_held, coalesce(release, 'none') AS release"
                   " FROM batchup.renew_upload($1::uuid, $2::bigint, $3::int, $4)",
                   &a, STORE_ROW_ONE, &res) < 0)
        return -1;
    renewal->slot_held = store_bool(res, 0, "slot_held");
    renewal->release =
        store_bool(res, 0, "lock_held")
            ? STORE_WORD(store_text(res, 0, "release"), release_words, STORE_RELEASE_NONE)
            : STORE_RELEASE_LOST;
    db_free(res);
    return 0;
}

int store_release_requested(struct db *db, struct bu_error *err, const char *file_id,
                            const char *writer, enum store_release *release)
{
    struct db_args a;
    struct pg_result *res;

    db_args_init(&a);
    db_args_text(&a, file_id);
    db_args_text(&a, writer);
    if (store_call(
            db, err,
            "SELECT coalesce(batchup.upload_release_requested($1::uuid, $2), 'lost') AS release",
            &a, STORE_ROW_ONE, &res) < 0)
        return -1;
    *release = STORE_WORD(store_text(res, 0, "release"), release_words, STORE_RELEASE_NONE);
    db_free(res);
    return 0;
}

int store_release_upload(struct db *db, struct bu_error *err, const char *file_id,
                         const char *writer)
{
    struct db_args a;

    db_args_init(&a);
    db_args_text(&a, file_id);
    db_args_text(&a, writer);
    return store_found(db, err, "SELECT batchup.release_upload($1::uuid, $2) AS found", &a) < 0 ? -1
                                                                                                : 0;
}

int store_upload_writer(struct db *db, struct bu_error *err, const char *file_id, int user_id,
                        char *holder, size_t cap)
{
    struct db_args a;
    struct pg_result *res;
    int found;

    db_args_init(&a);
    db_args_text(&a, file_id);
    db_args_int(&a, user_id);
    if (store_call(db, err, "SELECT batchup.upload_writer($1::uuid, $2::int) AS holder", &a,
                   STORE_ROW_ONE, &res) < 0)
        return -1;
    found = !store_null(res, 0, "holder");
    if (found)
        store_copy(holder, cap, res, 0, "holder");
    db_free(res);
    return found;
}

/* The words of batchup.file_state's status. */
static const struct store_word status_words[] = {
    {"pending", STORE_PENDING},     {"queued", STORE_QUEUED},   {"uploading", STORE_UPLOADING},
    {"completed", STORE_COMPLETED}, {"aborted", STORE_ABORTED}, {"expired", STORE_EXPIRED},
};

int store_file_state(struct db *db, struct bu_error *err, const char *file_id, int user_id,
                     struct store_file_state *state)
{
    struct db_args a;
    struct pg_result *res;
    int rows;
    int found;

    db_args_init(&a);
    db_args_text(&a, file_id);
    if (user_id > 0)
        db_args_int(&a, user_id);
    else
        db_args_text(&a, NULL);
    rows = store_call(
        db, err,
        "SELECT status, upload_offset, size, coalesce(queue_position, 0) AS queue_position,"
        " coalesce(expected_sha256, '') AS expected_sha256,"
        " extract(epoch FROM updated_at)::bigint AS updated_at,"
        " (SELECT f.length_deferred FROM batchup.files f WHERE f.id = $1::uuid) AS length_deferred,"
        " coalesce(batchup.upload_concat($1::uuid), '') AS concat"
        " FROM batchup.file_state($1::uuid, $2::int)",
        &a, STORE_ROWS_ANY, &res);
    if (rows < 0)
        return -1;
    found = rows == 1;
    if (found) {
        state->status = STORE_WORD(store_text(res, 0, "status"), status_words, STORE_PENDING);
        state->offset = (uint64_t)store_int(res, 0, "upload_offset");
        state->size = (uint64_t)store_int(res, 0, "size");
        state->queue_position = (int)store_int(res, 0, "queue_position");
        state->updated_at = (time_t)store_int(res, 0, "updated_at");
        store_copy(state->expected_sha256, sizeof state->expected_sha256, res, 0,
                   "expected_sha256");
        state->length_deferred = store_bool(res, 0, "length_deferred");
        store_copy(state->concat, sizeof state->concat, res, 0, "concat");
    }
    db_free(res);
    return found;
}

int store_complete_file(struct db *db, struct bu_error *err, const char *file_id,
                        const char *sha256, uint32_t crc32, int link_ttl, const char *writer,
                        struct store_completion *done)
{
    struct db_args a;
    struct pg_result *res;
    int rows;

    db_args_init(&a);
    db_args_text(&a, file_id);
    db_args_text(&a, sha256);
    db_args_int(&a, crc32);
    db_args_int(&a, link_ttl);
    db_args_text(&a, writer);
    rows = store_call(db, err,
                      "SELECT batch_complete, file_status FROM batchup.complete_file($1::uuid, $2,"
                      " $3::bigint, $4::int, $5)",
                      &a, STORE_ROWS_ANY, &res);
    if (rows < 0)
        return -1;
    done->completed = rows == 1 && strcmp(store_text(res, 0, "file_status"), "completed") == 0;
    done->partial = rows == 1 && strcmp(store_text(res, 0, "file_status"), "partial") == 0;
    done->batch_complete = done->completed && store_bool(res, 0, "batch_complete");
    db_free(res);
    return 0;
}

/* The words of batchup.abort_file's result. */
static const struct store_word abort_words[] = {
    {"aborted", STORE_ABORTED_NOW},
    {"completed", STORE_ABORT_COMPLETED},
    {"gone", STORE_ABORT_GONE},
};

int store_abort_file(struct db *db, struct bu_error *err, const char *file_id, int user_id,
                     int link_ttl, enum store_abort_result *result)
{
    struct db_args a;
    struct pg_result *res;

    db_args_init(&a);
    db_args_text(&a, file_id);
    db_args_int(&a, user_id);
    db_args_int(&a, link_ttl);
    if (store_call(db, err, "SELECT batchup.abort_file($1::uuid, $2::int, $3::int) AS result", &a,
                   STORE_ROW_ONE, &res) < 0)
        return -1;
    *result = STORE_WORD(store_text(res, 0, "result"), abort_words, STORE_ABORT_NOT_FOUND);
    db_free(res);
    return 0;
}
