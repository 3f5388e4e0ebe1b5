/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * store.c - the data layer's core (see store.h and store_call.h): the one
 * call helper every data-layer function runs its statement through, the
 * column getters, and the one map from result words to enum values.
 *
 * The functions of store.h live beside it by the header's sections:
 * store_users.c, store_batches.c, store_uploads.c, store_downloads.c,
 * store_service.c and store_hooks.c.  Each is one round trip: a call of one
 * batchup.* function or a read of one view.  Arguments go through struct
 * db_args (db.c), columns are read by name, never by position, so a
 * reordered SELECT cannot shift a value into the wrong field.  Nothing in
 * the data layer decides anything: the database does, and these files only
 * translate.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "batchup/store_call.h"

/* ---- running a statement ------------------------------------------- */

int store_call(struct db *db, struct bu_error *err, const char *sql, const struct db_args *args,
               enum store_rows rows, struct pg_result **res)
{
    int n;

    *res = db_query(db, err, sql, args);
    if (*res == NULL)
        return -1;
    n = PQntuples(*res);
    if (rows == STORE_ROW_ONE && n < 1) {
        PQclear(*res);
        *res = NULL;
        return error_set(err, BU_E_DATABASE_ERROR, "the database answered no row");
    }
    return n;
}

int store_command(struct db *db, struct bu_error *err, const char *sql, const struct db_args *args)
{
    struct pg_result *res;

    if (store_call(db, err, sql, args, STORE_ROWS_ANY, &res) < 0)
        return -1;
    PQclear(res);
    return 0;
}

int store_found(struct db *db, struct bu_error *err, const char *sql, const struct db_args *args)
{
    struct pg_result *res;
    int found;

    if (store_call(db, err, sql, args, STORE_ROW_ONE, &res) < 0)
        return -1;
    found = store_bool(res, 0, "found");
    PQclear(res);
    return found;
}

/* ---- reading a row by column name ------------------------------------ */

static int store_column(const PGresult *res, const char *name)
{
    int c = PQfnumber(res, name);

    assert(c >= 0); /* a column every query of the data layer selects */
    return c;
}

const char *store_text(const struct pg_result *res, int row, const char *name)
{
    return PQgetvalue(res, row, store_column(res, name));
}

bool store_null(const struct pg_result *res, int row, const char *name)
{
    return PQgetisnull(res, row, store_column(res, name));
}

long long store_int(const struct pg_result *res, int row, const char *name)
{
    return strtoll(store_text(res, row, name), NULL, 10);
}

bool store_bool(const struct pg_result *res, int row, const char *name)
{
    return strcmp(store_text(res, row, name), "t") == 0;
}

void store_copy(char *dst, size_t cap, const struct pg_result *res, int row, const char *name)
{
    snprintf(dst, cap, "%s", store_text(res, row, name));
}

/* ---- result words --------------------------------------------------- */

int store_word(const char *word, const struct store_word *words, size_t n, int otherwise)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(word, words[i].word) == 0)
            return words[i].value;
    return otherwise;
}
