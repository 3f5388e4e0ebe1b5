/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * store_users.c - the data layer's users (store.h, "users"): tokens, remote users,
 * the command line's user commands and the usage list.
 */
#include <stdlib.h>
#include <string.h>

#include "batchup/store.h"
#include "batchup/store_call.h"

int store_authenticate(struct db *db, struct bu_error *err, const char *token_hash,
                       struct store_user *user)
{
    struct db_args a;
    struct pg_result *res;
    int rows;
    int found;

    db_args_init(&a);
    db_args_text(&a, token_hash);
    rows = store_call(db, err, "SELECT user_id, user_name FROM batchup.authenticate($1)", &a,
                      STORE_ROWS_ANY, &res);
    if (rows < 0)
        return -1;
    found = rows == 1;
    if (found) {
        user->id = (int)store_int(res, 0, "user_id");
        store_copy(user->name, sizeof user->name, res, 0, "user_name");
    }
    db_free(res);
    return found;
}

int store_user_for_remote(struct db *db, struct bu_error *err, const char *name, bool create,
                          int *user_id)
{
    struct db_args a;
    struct pg_result *res;
    int found;

    db_args_init(&a);
    db_args_text(&a, name);
    db_args_text(&a, create ? "true" : "false");
    if (store_call(db, err, "SELECT batchup.user_for_remote($1, $2::boolean) AS id", &a,
                   STORE_ROW_ONE, &res) < 0)
        return -1;
    found = !store_null(res, 0, "id");
    if (found)
        *user_id = (int)store_int(res, 0, "id");
    db_free(res);
    return found;
}

int store_user_add(struct db *db, struct bu_error *err, const char *name, const char *token_hash,
                   int limit)
{
    struct db_args a;
    struct pg_result *res;

    db_args_init(&a);
    db_args_text(&a, name);
    db_args_text(&a, token_hash);
    db_args_int(&a, limit);
    if (store_call(db, err, "SELECT batchup.user_add($1, $2, $3::int)", &a, STORE_ROWS_ANY, &res) <
        0)
        return strcmp(db->sqlstate, "23505") == 0 ? 0 : -1; /* unique_violation: taken */
    db_free(res);
    return 1;
}

/* The user's own slot limit, or default_limit when it has none (0): what
 * GET /api/v1/batches tells a client as upload_limit. */
int store_user_limit(struct db *db, struct bu_error *err, int user_id, int default_limit)
{
    struct db_args a;
    struct pg_result *res;
    int limit;

    db_args_init(&a);
    db_args_int(&a, user_id);
    if (store_call(db, err, "SELECT slot_limit FROM batchup.users WHERE id = $1::int", &a,
                   STORE_ROW_ONE, &res) < 0)
        return -1;
    limit = (int)store_int(res, 0, "slot_limit");
    db_free(res);
    return limit > 0 ? limit : default_limit;
}

int store_user_set_token(struct db *db, struct bu_error *err, const char *name,
                         const char *token_hash)
{
    struct db_args a;

    db_args_init(&a);
    db_args_text(&a, name);
    db_args_text(&a, token_hash);
    return store_found(db, err, "SELECT batchup.user_set_token($1, $2) AS found", &a);
}

int store_user_set_limit(struct db *db, struct bu_error *err, const char *name, int limit)
{
    struct db_args a;

    db_args_init(&a);
    db_args_text(&a, name);
    db_args_int(&a, limit);
    return store_found(db, err, "SELECT batchup.set_user_limit($1, $2::int) AS found", &a);
}

int store_user_list(struct db *db, struct bu_error *err,
                    void (*each)(const struct store_user_usage *u, void *ctx), void *ctx)
{
    struct pg_result *res;
    int rows = store_call(db, err,
                          "SELECT user_name, slot_limit, active, queued FROM batchup.user_usage"
                          " ORDER BY user_name",
                          NULL, STORE_ROWS_ANY, &res);

    if (rows < 0)

        return -1;
    for (int i = 0; i < rows; i++) {
        struct store_user_usage u = {
            .name = store_text(res, i, "user_name"),
            .limit = (int)store_int(res, i, "slot_limit"),
            .active = (int)store_int(res, i, "active"),
            .queued = (int)store_int(res, i, "queued"),
        };
        each(&u, ctx);
    }
    db_free(res);
    return 0;
}
