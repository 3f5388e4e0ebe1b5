/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * store_call.h - private to the data layer (app/store*.c) and the
 * migration runner (app/migrate.c): the one way they run a statement and
 * read its row, and the one way they turn a result word into an enum.
 *
 * Every data-layer function is the same four steps: collect the arguments
 * (struct db_args), run one statement, check what came back, read columns.
 * The second and third step are store_call; the fourth is the getters,
 * which read a column by its name, never by its position, so a reordered
 * SELECT cannot shift a value into the wrong field.  The handlers never
 * include this header: they call the functions of store.h.
 */
#ifndef BATCHUP_STORE_CALL_H
#define BATCHUP_STORE_CALL_H

#include <stdbool.h>
#include <stddef.h>

#include "batchup/db.h"
#include "batchup/error.h"

/* What a statement must answer. */
enum store_rows {
    STORE_ROWS_ANY, /* any number, none too (a lookup that may find nothing) */
    STORE_ROW_ONE,  /* at least one row (a function returning a scalar always
                       has one): none is 500 database_error */
};

/* Run sql with args (NULL for none).  Returns the number of rows, with *res
 * to free with db_free; or -1 with err and *res NULL. */
int store_call(struct db *db, struct bu_error *err, const char *sql, const struct db_args *args,
               enum store_rows rows, struct pg_result **res);
/* Run sql for its effect: 0, or -1 with err. */
int store_command(struct db *db, struct bu_error *err, const char *sql, const struct db_args *args);
/* A statement whose one row has a boolean column "found": 1 true, 0 false,
 * -1 error. */
int store_found(struct db *db, struct bu_error *err, const char *sql, const struct db_args *args);

/* Column name of row row: its text ("" for NULL), whether it is NULL, as a
 * number, as a boolean, copied into dst of cap bytes (cut to fit). */
const char *store_text(const struct pg_result *res, int row, const char *name);
bool store_null(const struct pg_result *res, int row, const char *name);
long long store_int(const struct pg_result *res, int row, const char *name);
bool store_bool(const struct pg_result *res, int row, const char *name);
void store_copy(char *dst, size_t cap, const struct pg_result *res, int row, const char *name);

/* One result word and the enum value it stands for. */
struct store_word {
    const char *word;
    int value;
};

/* The value of word in the n entries of words, or otherwise when it is none
 * of them. */
int store_word(const char *word, const struct store_word *words, size_t n, int otherwise);
#define STORE_WORD(word, words, otherwise)                                                         \
    store_word((word), (words), sizeof(words) / sizeof((words)[0]), (otherwise))

#endif
