/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * migrate.c - `batchup migrate`: bring the database to what sql/ says.
 *
 * sql/ holds two kinds of files:
 *
 *   sql/NNN_*.sql        numbered migrations: tables, indexes, triggers,
 *                        data.  Each is applied once, in order, and recorded
 *                        in batchup.schema_migrations.
 *   sql/functions/NN_*.sql  the functions and views: code, not data.  They are
 *                        all applied again, in name order, whenever any of
 *                        them changed (batchup.schema_functions keeps the
 *                        SHA-256 of each), so the database always runs what
 *                        the files say.  Every definition is CREATE OR
 *                        REPLACE.
 *
 * The whole run is one transaction: the pending migrations in order, then
 * the definitions when any changed, then one commit.  So the database is
 * never left between versions (no moment with new tables and old
 * functions, or a migration that dropped views the definitions have not
 * made again), and a run that fails anywhere rolls back whole and stops
 * (exit 1), changing nothing.  The transaction first takes a
 * transaction-level advisory lock (namespace 1651865713, one above the slot
 * namespace, so batchup.slot_locks never shows it), then reads its
 * ledgers.  Two migrate commands at once therefore both succeed: the second
 * waits, then finds the work done.
 *
 * The sql/ folder is found through $BATCHUP_SQL_DIR, else next to the binary
 * (<bindir>/../sql, as in the source tree; <bindir>/../share/batchup/sql, as
 * `make install` lays it out under any PREFIX), else /usr/share/batchup/sql.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "batchup/cli.h"
#include "batchup/digest.h"
#include "batchup/gc.h"
#include "batchup/store_call.h"

#define MIGRATE_MAX_FILES 1000

/* The files of one kind, sorted by name, with their contents' SHA-256. */
struct sql_files {
    size_t n;
    char *name[MIGRATE_MAX_FILES];
    char *sha256[MIGRATE_MAX_FILES];
};

static int find_sql_dir(char *out, size_t cap)
{
    const char *env = getenv("BATCHUP_SQL_DIR");
    char exe[PATH_MAX];
    ssize_t n;

    if (env != NULL && *env != '\0') {
        snprintf(out, cap, "%s", env);
        return access(out, R_OK) == 0 ? 0 : -1;
    }
    n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        static const char *const beside[] = {"../sql", "../share/batchup/sql"};
        char *slash;
        exe[n] = '\0';
        slash = strrchr(exe, '/');
        if (slash != NULL) {
            *slash = '\0';
            for (size_t i = 0; i < sizeof beside / sizeof beside[0]; i++) {
                snprintf(out, cap, "%s/%s", exe, beside[i]);
                if (access(out, R_OK) == 0)
                    return 0;
            }
        }
    }
    snprintf(out, cap, "/usr/share/batchup/sql");
    return access(out, R_OK) == 0 ? 0 : -1;
}

/* "NNN_name.sql" when numbered, "NN_name.sql" or longer for definitions. */
static int is_sql_file(const char *name, int numbered)
{
    size_t n = strlen(name), digits = strspn(name, "0123456789");

    if (n < 6 || strcmp(name + n - 4, ".sql") != 0 || name[digits] != '_')
        return 0;
    return numbered ? digits == 3 : digits >= 2;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long len;

    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)len + 1);
        if (buf != NULL && fread(buf, 1, (size_t)len, f) != (size_t)len) {
            free(buf);
            buf = NULL;
        } else if (buf != NULL) {
            buf[len] = '\0';
        }
    }
    fclose(f);
    return buf;
}

static void files_free(struct sql_files *files)
{
    for (size_t i = 0; i < files->n; i++) {
        free(files->name[i]);
        free(files->sha256[i]);
    }
    files->n = 0;
}

/* List dir's files of one kind, sorted, with their SHA-256 (a missing
 * folder is an empty list). */
static int files_list(const char *dir, int numbered, struct sql_files *files, struct bu_error *err)
{
    DIR *d = opendir(dir);
    struct dirent *de;

    files->n = 0;
    if (d == NULL)
        return errno == ENOENT && !numbered
                   ? 0
                   : error_set(err, BU_E_INTERNAL, "cannot open %s: %s", dir, strerror(errno));
    while ((de = readdir(d)) != NULL && files->n < MIGRATE_MAX_FILES)
        if (is_sql_file(de->d_name, numbered))
            files->name[files->n++] = strdup(de->d_name);
    closedir(d);
    qsort(files->name, files->n, sizeof files->name[0], cmp_names);
    for (size_t i = 0; i < files->n; i++) {
        char path[PATH_MAX], *sql;
        snprintf(path, sizeof path, "%s/%s", dir, files->name[i]);
        sql = read_file(path);
        files->sha256[i] = malloc(65);
        if (sql == NULL || files->sha256[i] == NULL) {
            free(sql);
            files->n = i + 1;
            return error_set(err, BU_E_INTERNAL, "cannot read %s: %s", path, strerror(errno));
        }
        digest_sha256_hex(sql, strlen(sql), files->sha256[i]);
        free(sql);
    }
    return 0;
}

static int run_file(struct db *db, struct bu_error *err, const char *dir, const char *name)
{
    char path[PATH_MAX];
    char *sql;
    int rc;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    sql = read_file(path);
    if (sql == NULL)
        return error_set(err, BU_E_INTERNAL, "cannot read %s: %s", path, strerror(errno));
    rc = db_exec_script(db, err, sql);
    free(sql);
    if (rc != 0) {
        char why[sizeof err->message];
        snprintf(why, sizeof why, "%s", err->message);
        error_set(err, BU_E_DATABASE_ERROR, "migration %s failed: %s", name, why);
    }
    return rc;
}

/* ---- the ledgers: what was applied ---------------------------------- */
/* The lock namespace of `batchup migrate`, one above the slot namespace
 * (sql/functions/10_common.sql), so batchup.slot_locks never shows it. */
#define MIGRATION_LOCK "1651865713"

static void migrate_rollback(struct db *db)
{
    if (db->conn != NULL)
        PQclear(PQexec(db->conn, "ROLLBACK"));
}

/* Begin the transaction of a run: the migration lock (advisory, so two
 * runs at once take turns), schema batchup and its two ledgers created when
 * missing.  The bookkeeping below reads and writes those ledgers, tables of
 * this runner's own, so it lives here and not in the data layer, which only
 * calls batchup.* functions and views. */
static int migrate_begin(struct db *db, struct bu_error *err)
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
        if (store_command(db, err, steps[i], NULL) != 0) {
            migrate_rollback(db);
            return -1;
        }
    return 0;
}

static int migrate_applied(struct db *db, struct bu_error *err, const char *name)
{
    struct db_args a;
    struct pg_result *res;
    int rows, found;

    db_args_init(&a);
    db_args_text(&a, name);
    rows = store_call(db, err, "SELECT 1 FROM batchup.schema_migrations WHERE version = $1", &a,
                      STORE_ROWS_ANY, &res);
    if (rows < 0)
        return -1;
    found = rows == 1;
    db_free(res);
    return found;
}

static int migrate_record(struct db *db, struct bu_error *err, const char *name)
{
    struct db_args a;

    db_args_init(&a);
    db_args_text(&a, name);
    return store_command(db, err, "INSERT INTO batchup.schema_migrations (version) VALUES ($1)",
                         &a);
}

/* "name:sha256\n" for each file, in order: the whole set as one text, so
 * that one comparison tells whether anything changed. */
static char *migrate_function_set(const char *const *names, const char *const *sha256s, size_t n)
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

static int migrate_functions_current(struct db *db, struct bu_error *err, const char *const *names,
                                     const char *const *sha256s, size_t n)
{
    struct db_args a;
    struct pg_result *res;
    char *set = migrate_function_set(names, sha256s, n);
    int rows, current;

    if (set == NULL)
        return error_set(err, BU_E_INTERNAL, "out of memory");
    db_args_init(&a);
    db_args_text(&a, set);
    rows =
        store_call(db, err,
                   "SELECT coalesce(string_agg(name || ':' || sha256 || E'\\n', '' ORDER BY name "
                   "COLLATE \"C\"),"
                   " '') = $1 AS current FROM batchup.schema_functions",
                   &a, STORE_ROW_ONE, &res);
    free(set);
    if (rows < 0)
        return -1;
    current = store_bool(res, 0, "current");
    db_free(res);
    return current;
}

static int migrate_functions_record(struct db *db, struct bu_error *err, const char *const *names,
                                    const char *const *sha256s, size_t n)
{
    if (store_command(db, err, "DELETE FROM batchup.schema_functions", NULL) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        struct db_args a;
        db_args_init(&a);
        db_args_text(&a, names[i]);
        db_args_text(&a, sha256s[i]);
        if (store_command(db, err,
                          "INSERT INTO batchup.schema_functions (name, sha256) VALUES ($1, $2)",
                          &a) != 0)
            return -1;
    }
    return 0;
}

static int migrate_commit(struct db *db, struct bu_error *err)
{
    return store_command(db, err, "COMMIT", NULL);
}

/* ---- applying -------------------------------------------------------- */

/* Apply one numbered migration unless recorded, inside the run's
 * transaction: 1 applied, 0 already there, -1 failed. */
static int apply_numbered(struct db *db, struct bu_error *err, const char *dir, const char *name)
{
    int applied = migrate_applied(db, err, name);

    if (applied == 0 && (run_file(db, err, dir, name) != 0 || migrate_record(db, err, name) != 0))
        applied = -1;
    return applied < 0 ? -1 : !applied;
}

/* Apply every definition file when the set changed: 1 applied, 0 current,
 * -1 failed. */
static int apply_functions(struct db *db, struct bu_error *err, const char *dir,
                           const struct sql_files *files)
{
    const char *const *names = (const char *const *)files->name;
    const char *const *shas = (const char *const *)files->sha256;
    int current = migrate_functions_current(db, err, names, shas, files->n);

    for (size_t i = 0; current == 0 && i < files->n; i++)
        if (run_file(db, err, dir, files->name[i]) != 0)
            current = -1;
    if (current == 0 && migrate_functions_record(db, err, names, shas, files->n) != 0)
        current = -1;
    return current < 0 ? -1 : !current;
}

static int migrate(struct db *db, const char *dir, struct bu_error *err)
{
    struct sql_files numbered, functions;
    char fdir[PATH_MAX];
    bool applied[MIGRATE_MAX_FILES] = {false};
    int n_applied = 0, rc = 0, r = 0;

    /* Both lists are freed at the end, also when the first could not be
     * read and the second was never listed. */
    numbered.n = functions.n = 0;
    snprintf(fdir, sizeof fdir, "%s/functions", dir);
    if (files_list(dir, 1, &numbered, err) != 0 || files_list(fdir, 0, &functions, err) != 0 ||
        migrate_begin(db, err) != 0)
        rc = -1;
    for (size_t i = 0; i < numbered.n && rc == 0; i++) {
        r = apply_numbered(db, err, dir, numbered.name[i]);
        applied[i] = r > 0;
        n_applied += r > 0;
        rc = r < 0 ? -1 : 0;
    }
    if (rc == 0)
        rc = (r = apply_functions(db, err, fdir, &functions)) < 0 ? -1 : 0;
    if (rc == 0 && migrate_commit(db, err) != 0)
        rc = -1;
    if (rc != 0) {
        migrate_rollback(db);
    } else {
        /* Said once committed: until then nothing was applied. */
        for (size_t i = 0; i < numbered.n; i++)
            if (applied[i])
                printf("applied %s\n", numbered.name[i]);
        if (r > 0)
            printf("applied functions/ (%zu files)\n", functions.n);
        printf("migrations: %d applied, %zu total\n", n_applied, numbered.n);
    }
    files_free(&numbered);
    files_free(&functions);
    return rc;
}

int migrate_run(const struct bu_config *cfg, struct bu_error *err)
{
    char dir[PATH_MAX];
    struct db db;
    struct bu_error mark_err;
    int rc;

    if (find_sql_dir(dir, sizeof dir) != 0)
        return error_set(err, BU_E_INTERNAL, "cannot find the sql/ folder; set BATCHUP_SQL_DIR");
    db_init(&db, cfg->database);
    if (db_connect(&db, err) != 0) {
        /* Never the connection string itself: it may carry a password. */
        error_set(err, BU_E_DATABASE_UNAVAILABLE,
                  "cannot connect to the database (the 'database' setting): see above");
        return -1;
    }
    rc = migrate(&db, dir, err);
    /* The store is marked as this database's (the orphan sweep's guard);
     * failing that is said, but the database is migrated all the same. */
    if (rc == 0 && gc_mark_store(cfg, &db, &mark_err) != 0)
        fprintf(stderr, "batchup migrate: warning: %s\n", mark_err.message);
    db_close(&db);
    return rc;
}
