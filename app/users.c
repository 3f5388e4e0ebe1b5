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
#include "batchup/cli.h"
#include "batchup/db.h"
#include "batchup/utf8.h"

static int usage(void)
{
    fprintf(stderr,
            "usage: batchup user add NAME [--limit N] | token NAME | limit NAME N | list\n");
    return 2;
}

static int valid_name(const char *name)
{
    size_t n = strlen(name);

    return n > 0 && n <= 200 && !utf8_has_ascii_control(name);
}

static int parse_limit(const char *s, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);

    if (*s == '\0' || *end != '\0' || v < 0 || v > 100000)
        return -1;
    *out = (int)v;
    return 0;
}

static PGresult *run(struct db *db, const char *sql, int n, const char *const *params)
{
    struct bu_error err;
    PGresult *res = db_query(db, &err, sql, n, params);

    if (res == NULL)
        fprintf(stderr, "batchup: %s\n", err.message);
    return res;
}

static int user_add(struct db *db, const char *name, int limit)
{
    char token[AUTH_TOKEN_LEN + 1], hash[65], lim[16];
    const char *params[3] = {name, hash, lim};
    PGresult *res;

    if (auth_new_token(token) != 0) {
        fprintf(stderr, "batchup: no random bytes for a token\n");
        return 1;
    }
    auth_hash_token(token, hash);
    snprintf(lim, sizeof lim, "%d", limit);
    res = run(db, "SELECT batchup.user_add($1, $2, $3::int)", 3, params);
    if (res == NULL) {
        if (strcmp(db->sqlstate, "23505") == 0)
            fprintf(stderr,
                    "batchup: user '%s' already exists; 'batchup user token %s' issues a "
                    "new token\n",
                    name, name);
        return 1;
    }
    PQclear(res);
    printf("%s\n", token);
    return 0;
}

static int user_token(struct db *db, const char *name)
{
    char token[AUTH_TOKEN_LEN + 1], hash[65];
    const char *params[2] = {name, hash};
    PGresult *res;
    int found;

    if (auth_new_token(token) != 0) {
        fprintf(stderr, "batchup: no random bytes for a token\n");
        return 1;
    }
    auth_hash_token(token, hash);
    res = run(db, "SELECT batchup.user_set_token($1, $2)", 2, params);
    if (res == NULL)
        return 1;
    found = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    if (!found) {
        fprintf(stderr, "batchup: no user '%s'; create it with 'batchup user add %s'\n", name,
                name);
        return 1;
    }
    printf("%s\n", token);
    return 0;
}

static int user_limit(struct db *db, const char *name, int limit)
{
    char lim[16];
    const char *params[2] = {name, lim};
    PGresult *res;
    int found;

    snprintf(lim, sizeof lim, "%d", limit);
    res = run(db, "SELECT batchup.set_user_limit($1, $2::int)", 2, params);
    if (res == NULL)
        return 1;
    found = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    if (!found) {
        fprintf(stderr, "batchup: no user '%s'\n", name);
        return 1;
    }
    return 0;
}

static int user_list(struct db *db, int default_limit)
{
    PGresult *res = run(db,
                        "SELECT user_name, slot_limit, active, queued FROM batchup.user_usage"
                        " ORDER BY user_name",
                        0, NULL);

    if (res == NULL)
        return 1;
    printf("%-24s %7s %7s %7s\n", "user", "limit", "active", "queued");
    for (int i = 0; i < PQntuples(res); i++) {
        int limit = atoi(PQgetvalue(res, i, 1));
        char shown[32];
        if (limit == 0)
            snprintf(shown, sizeof shown, "%d*", default_limit);
        else
            snprintf(shown, sizeof shown, "%d", limit);
        printf("%-24s %7s %7s %7s\n", PQgetvalue(res, i, 0), shown, PQgetvalue(res, i, 2),
               PQgetvalue(res, i, 3));
    }
    printf("(* = the server default, per_user_limit)\n");
    PQclear(res);
    return 0;
}

int users_command(const struct bu_config *cfg, int argc, char **argv)
{
    struct db db;
    int rc, limit = 0;

    if (argc < 1)
        return usage();
    if (strcmp(argv[0], "add") == 0) {
        if (argc != 2 && !(argc == 4 && strcmp(argv[2], "--limit") == 0))
            return usage();
        if (argc == 4 && parse_limit(argv[3], &limit) != 0) {
            fprintf(stderr, "batchup: bad --limit '%s' (a whole number 0..100000; 0 = default)\n",
                    argv[3]);
            return 2;
        }
    } else if (strcmp(argv[0], "token") == 0) {
        if (argc != 2)
            return usage();
    } else if (strcmp(argv[0], "limit") == 0) {
        if (argc != 3)
            return usage();
        if (parse_limit(argv[2], &limit) != 0) {
            fprintf(stderr, "batchup: bad limit '%s' (a whole number 0..100000; 0 = default)\n",
                    argv[2]);
            return 2;
        }
    } else if (strcmp(argv[0], "list") == 0) {
        if (argc != 1)
            return usage();
    } else {
        return usage();
    }
    if (argc >= 2 && !valid_name(argv[1])) {
        fprintf(stderr, "batchup: bad user name (1 to 200 characters, no control characters)\n");
        return 2;
    }
    db_init(&db, cfg->database);
    if (argv[0][0] == 'a')
        rc = user_add(&db, argv[1], limit);
    else if (argv[0][0] == 't')
        rc = user_token(&db, argv[1]);
    else if (strcmp(argv[0], "limit") == 0)
        rc = user_limit(&db, argv[1], limit);
    else
        rc = user_list(&db, cfg->per_user_limit);
    db_close(&db);
    return rc;
}
