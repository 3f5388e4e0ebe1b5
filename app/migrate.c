/*
 * migrate.c - `batchup migrate`: apply sql/NNN_*.sql in order.
 *
 * Each migration runs in its own transaction that first takes a
 * transaction-level advisory lock (namespace 1651865713, one above the slot
 * namespace, so batchup.slot_locks never shows it), then checks
 * batchup.schema_migrations.  Two migrate commands at once therefore both
 * succeed: the second waits, then finds the work done.  A migration that
 * fails rolls back whole and stops the run (exit 1).
 *
 * The sql/ folder is found through $BATCHUP_SQL_DIR, else next to the binary
 * (<bindir>/../sql, as in the source tree), else /usr/share/batchup/sql.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batchup/cli.h"
#include "batchup/db.h"

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
        char *slash;
        exe[n] = '\0';
        slash = strrchr(exe, '/');
        if (slash != NULL) {
            *slash = '\0';
            snprintf(out, cap, "%s/../sql", exe);
            if (access(out, R_OK) == 0)
                return 0;
        }
    }
    snprintf(out, cap, "/usr/share/batchup/sql");
    return access(out, R_OK) == 0 ? 0 : -1;
}

static int is_migration(const char *name)
{
    size_t n = strlen(name);

    return n > 8 && name[0] >= '0' && name[0] <= '9' && name[1] >= '0' && name[1] <= '9' &&
           name[2] >= '0' && name[2] <= '9' && name[3] == '_' && strcmp(name + n - 4, ".sql") == 0;
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

/* Run sql (several statements when param is NULL, else one statement with
 * $1 = param) for migration what.  Returns the result, or NULL after saying
 * on stderr why it failed. */
static PGresult *run(PGconn *conn, const char *sql, const char *param, const char *what)
{
    PGresult *res =
        param == NULL ? PQexec(conn, sql) : PQexecParams(conn, sql, 1, NULL, &param, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);

    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return res;
    fprintf(stderr, "batchup: migration %s failed: %s", what, PQerrorMessage(conn));
    PQclear(res);
    return NULL;
}

static int exec_ok(PGconn *conn, const char *sql, const char *what)
{
    PGresult *res = run(conn, sql, NULL, what);

    PQclear(res);
    return res != NULL ? 0 : -1;
}

/* Apply one migration unless recorded; 1 applied, 0 already there, -1 failed. */
static int apply(PGconn *conn, const char *dir, const char *name)
{
    char path[PATH_MAX];
    char *sql;
    PGresult *res;
    int done;

    if (exec_ok(conn,
                "BEGIN; SELECT pg_advisory_xact_lock(1651865713, 1);"
                " CREATE SCHEMA IF NOT EXISTS batchup;"
                " CREATE TABLE IF NOT EXISTS batchup.schema_migrations("
                "   version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now());"
                " COMMENT ON TABLE batchup.schema_migrations IS"
                "   'Migrations applied by batchup migrate, one row each.'",
                name) != 0)
        goto fail;
    res = run(conn, "SELECT 1 FROM batchup.schema_migrations WHERE version = $1", name, name);
    if (res == NULL)
        goto fail;
    done = PQntuples(res) == 1;
    PQclear(res);
    if (done) {
        exec_ok(conn, "COMMIT", name);
        return 0;
    }
    snprintf(path, sizeof path, "%s/%s", dir, name);
    sql = read_file(path);
    if (sql == NULL) {
        fprintf(stderr, "batchup: cannot read %s: %s\n", path, strerror(errno));
        goto fail;
    }
    if (exec_ok(conn, sql, name) != 0) {
        free(sql);
        goto fail;
    }
    free(sql);
    res = run(conn, "INSERT INTO batchup.schema_migrations(version) VALUES ($1)", name, name);
    if (res == NULL)
        goto fail;
    PQclear(res);
    if (exec_ok(conn, "COMMIT", name) != 0)
        return -1;
    return 1;
fail:
    PQclear(PQexec(conn, "ROLLBACK"));
    return -1;
}

int migrate_run(const struct bu_config *cfg)
{
    char dir[PATH_MAX];
    struct dirent *de;
    char *names[1000];
    size_t n = 0;
    int applied = 0, rc = 0;
    struct db db;
    struct bu_error err;
    PGconn *conn;
    DIR *d;

    if (find_sql_dir(dir, sizeof dir) != 0) {
        fprintf(stderr, "batchup: cannot find the sql/ folder; set BATCHUP_SQL_DIR\n");
        return 1;
    }
    d = opendir(dir);
    if (d == NULL) {
        fprintf(stderr, "batchup: cannot open %s: %s\n", dir, strerror(errno));
        return 1;
    }
    while ((de = readdir(d)) != NULL && n < sizeof names / sizeof names[0])
        if (is_migration(de->d_name))
            names[n++] = strdup(de->d_name);
    closedir(d);
    qsort(names, n, sizeof names[0], cmp_names);

    db_init(&db, cfg->database);
    conn = db_connection(&db, &err);
    if (conn == NULL) {
        fprintf(stderr, "batchup: cannot connect to the database (database = '%s'): see above\n",
                cfg->database);
        rc = 1;
    } else {
        PQclear(PQexec(conn, "SET client_min_messages = warning"));
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        int r = apply(conn, dir, names[i]);
        if (r < 0)
            rc = 1;
        else if (r > 0) {
            applied++;
            printf("applied %s\n", names[i]);
        }
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    db_close(&db);
    if (rc == 0)
        printf("migrations: %d applied, %zu total\n", applied, n);
    return rc;
}
