/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * users.c - `batchup user add|token|limit|list`.
 *
 * A token is printed once, alone on stdout (so `TOKEN=$(batchup user add x)`
 * works), and stored only as its hash.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchup/auth.h"
#include "batchup/check.h"
#include "batchup/cli.h"
#include "batchup/store.h"

static int parse_limit(const char *s, int *out, struct bu_error *err)
{
    char *end;
    long v = strtol(s, &end, 10);

    if (*s == '\0' || *end != '\0' || v < 0 || v > 100000)
        return error_set(err, BU_E_USAGE,
                         "bad limit '%s' (a whole number 0..100000; 0 = the server default)", s);
    *out = (int)v;
    return 0;
}

/* A new token for name; its hash goes to the database. */
static int new_token(char token[AUTH_TOKEN_LEN + 1], char hash[DIGEST_SHA256_HEX + 1],
                     struct bu_error *err)
{
    if (auth_new_token(token) != 0)
        return error_set(err, BU_E_INTERNAL, "no random bytes for a token");
    auth_hash_token(token, hash);
    return 0;
}

static int user_add(struct db *db, const char *name, int limit, struct bu_error *err)
{
    char token[AUTH_TOKEN_LEN + 1], hash[DIGEST_SHA256_HEX + 1];
    int created;

    if (new_token(token, hash, err) != 0)
        return -1;
    created = store_user_add(db, err, name, hash, limit);
    if (created <= 0)
        return created < 0 ? -1
                           : error_set(err, BU_E_BAD_REQUEST,
                                       "user '%s' already exists; 'batchup user token %s' issues a "
                                       "new token",
                                       name, name);
    printf("%s\n", token);
    return 0;
}

static int user_token(struct db *db, const char *name, struct bu_error *err)
{
    char token[AUTH_TOKEN_LEN + 1], hash[DIGEST_SHA256_HEX + 1];
    int found;

    if (new_token(token, hash, err) != 0)
        return -1;
    found = store_user_set_token(db, err, name, hash);
    if (found <= 0)
        return found < 0
                   ? -1
                   : error_set(err, BU_E_NOT_FOUND,
                               "no user '%s'; create it with 'batchup user add %s'", name, name);
    printf("%s\n", token);
    return 0;
}

static int user_limit(struct db *db, const char *name, int limit, struct bu_error *err)
{
    int found = store_user_set_limit(db, err, name, limit);

    if (found <= 0)
        return found < 0 ? -1 : error_set(err, BU_E_NOT_FOUND, "no user '%s'", name);
    return 0;
}

static void print_usage(const struct store_user_usage *u, void *ctx)
{
    int default_limit = *(const int *)ctx;
    char shown[32];

    if (u->limit == 0)
        snprintf(shown, sizeof shown, "%d*", default_limit);
    else
        snprintf(shown, sizeof shown, "%d", u->limit);
    printf("%-24s %7s %7d %7d\n", u->name, shown, u->active, u->queued);
}

static int user_list(struct db *db, int default_limit, struct bu_error *err)
{
    printf("%-24s %7s %7s %7s\n", "user", "limit", "active", "queued");
    if (store_user_list(db, err, print_usage, &default_limit) != 0)
        return -1;
    printf("(* = the server default, per_user_limit)\n");
    return 0;
}

/* Check the words after "user"; *limit gets --limit N or limit's N. */
static int parse_args(int argc, char **argv, int *limit, struct bu_error *err)
{
    const char *cmd = argc > 0 ? argv[0] : "";

    *limit = 0;
    if (strcmp(cmd, "add") == 0 && (argc == 2 || (argc == 4 && strcmp(argv[2], "--limit") == 0))) {
        if (argc == 4 && parse_limit(argv[3], limit, err) != 0)
            return -1;
    } else if (strcmp(cmd, "limit") == 0 && argc == 3) {
        if (parse_limit(argv[2], limit, err) != 0)
            return -1;
    } else if (!(strcmp(cmd, "token") == 0 && argc == 2) &&
               !(strcmp(cmd, "list") == 0 && argc == 1)) {
        /* main adds the command's usage line from its command table. */
        return error_set(err, BU_E_USAGE, "wrong operands for 'user %s'", cmd);
    }
    if (argc >= 2 && !check_user_name(argv[1]))
        return error_set(err, BU_E_USAGE,
                         "bad user name (1 to %d bytes of UTF-8, no control characters)",
                         CHECK_USER_NAME_MAX);
    return 0;
}

int users_command(const struct bu_config *cfg, int argc, char **argv, struct bu_error *err)
{
    struct db db;
    int rc, limit;

    if (parse_args(argc, argv, &limit, err) != 0)
        return -1;
    db_init(&db, cfg->database);
    if (strcmp(argv[0], "add") == 0)
        rc = user_add(&db, argv[1], limit, err);
    else if (strcmp(argv[0], "token") == 0)
        rc = user_token(&db, argv[1], err);
    else if (strcmp(argv[0], "limit") == 0)
        rc = user_limit(&db, argv[1], limit, err);
    else
        rc = user_list(&db, cfg->per_user_limit, err);
    db_close(&db);
    return rc;
}
