/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * db.c - the PostgreSQL connection of one process.
 *
 * A worker opens its connection after fork (a PGconn must never cross a
 * fork) and keeps it.  When the connection breaks, the statement that saw it
 * fails with 503 and the connection is dropped; reconnect attempts are spaced
 * by a doubling backoff (100 ms up to 5 s) so a database outage never turns
 * into a connection storm, and never into a hang: connect_timeout bounds each
 * attempt.
 *
 * A worker runs the same few statements thousands of times, and parsing
 * and planning one (a function call, with its arguments' types resolved)
 * cost PostgreSQL more than a tenth of a small upload's work.  So a worker
 * (db_keep_plans) prepares each statement the first time its connection
 * runs it and executes the prepared one from then on.  A prepared statement
 * lives in the server session; through a pooler (PgBouncer) the session is
 * not ours, so there every statement is sent whole, as everywhere else.
 *
 * A stalled database must not hold a worker for as long as it stalls: a
 * worker's session gets a statement_timeout and a lock_timeout
 * (db_set_timeouts, the keys db_statement_timeout and db_lock_timeout),
 * and a statement they cancel answers 503 like a database that is down.
 * They are set on the session, so only on a direct one: through a pooler
 * a session setting would stick to a server connection other clients
 * share, so there they belong on the role (ALTER ROLE ... SET).  Every
 * connection asks for TCP keepalives, so a remote server that vanished
 * without closing the connection (a host power cut, a dropped route) is
 * noticed in about a minute, not after the kernel's two hours; libpq
 * ignores them on a unix socket, and the operator's conninfo overrides
 * them.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "batchup/clock.h"
#include "batchup/db.h"
#include "batchup/log.h"

void db_args_init(struct db_args *a)
{
    a->n = 0;
}

void db_args_text(struct db_args *a, const char *value)
{
    if (a->n < DB_MAX_ARGS)
        a->value[a->n++] = value;
}

void db_args_int(struct db_args *a, long long value)
{
    if (a->n >= DB_MAX_ARGS)
        return;
    snprintf(a->number[a->n], sizeof a->number[a->n], "%lld", value);
    a->value[a->n] = a->number[a->n];
    a->n++;
}

void db_init(struct db *db, const char *conninfo)
{
    memset(db, 0, sizeof *db);
    snprintf(db->conninfo, sizeof db->conninfo, "%s", conninfo);
    db->direct = -1;
}

void db_keep_plans(struct db *db)
{
    db->keep_plans = true;
}

void db_set_timeouts(struct db *db, int statement_seconds, int lock_seconds)
{
    db->statement_timeout_ms = statement_seconds * 1000;
    db->lock_timeout_ms = lock_seconds * 1000;
}

/* The prepared statements are gone with their session, or stale: the next
 * ones get new names, so none can collide with one the server still has. */
static void forget_plans(struct db *db)
{
    for (int i = 0; i < db->n_prepared; i++)
        free(db->prepared[i]);
    db->n_prepared = 0;
    db->generation++;
}

static void schedule_retry(struct db *db)
{
    db->backoff_ms = db->backoff_ms == 0 ? 100 : db->backoff_ms * 2;
    if (db->backoff_ms > 5000)
        db->backoff_ms = 5000;
    db->next_attempt = clock_now() + db->backoff_ms / 1000.0;
}

void db_close(struct db *db)
{
    if (db->conn != NULL)
        PQfinish(db->conn);
    db->conn = NULL;
    db->direct = -1;
    forget_plans(db);
}

void db_free(struct pg_result *res)
{
    PQclear(res);
}

static int unavailable(struct bu_error *err)
{
    return error_set(err, BU_E_DATABASE_UNAVAILABLE, "the database is unavailable; retry shortly");
}

int db_connect(struct db *db, struct bu_error *err)
{
    /* Later keywords win, so the operator's conninfo overrides our defaults. */
    static const char *const keys[] = {
        "connect_timeout",     "application_name", "keepalives", "keepalives_idle",
        "keepalives_interval", "keepalives_count", "dbname",     NULL};
    const char *values[] = {"5", "batchup", "1", "30", "10", "3", db->conninfo, NULL};
    char msg[256];

    if (db->conn != NULL && PQstatus(db->conn) == CONNECTION_OK)
        return 0;
    db_close(db);
    if (clock_now() < db->next_attempt)
        return unavailable(err);
    db->conn = PQconnectdbParams(keys, values, 1);
    if (PQstatus(db->conn) == CONNECTION_OK) {
        db->backoff_ms = 0;
        db->connects++;
        return 0;
    }
    snprintf(msg, sizeof msg, "%s", PQerrorMessage(db->conn));
    msg[strcspn(msg, "\n")] = '\0';
    db_close(db);
    schedule_retry(db);
    log_warn("database connection failed (next try in %d ms): %s", db->backoff_ms, msg);
    return unavailable(err);
}

/* Turn a refused statement into the API's error.  batchup's own functions
 * raise SQLSTATEs "BU<http status>" whose messages we wrote for clients
 * (error.h's table names each); a constraint or data error (class 22, 23)
 * means input the C checks let through, which is still the client's input:
 * 400, never 500, with a fixed sentence: PostgreSQL's own message names
 * tables, constraints and values, which are for the log, not for clients.
 * Anything else is ours: 500. */
static void db_error(struct db *db, PGresult *res, struct bu_error *err)
{
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    int id;

    if (state == NULL)
        state = "";
    if (msg == NULL)
        msg = "";
    snprintf(db->sqlstate, sizeof db->sqlstate, "%s", state);
    id = error_for_sqlstate(state);
    if (strcmp(state, "55P03") == 0 || strcmp(state, "57014") == 0) {
        /* lock_timeout or statement_timeout: the database is stalled (a
         * lock held for long, an overloaded server), not the request
         * wrong; the client retries, as after an outage. */
        log_warn("database statement cancelled: %s %s", state, msg);
        error_set(err, BU_E_DATABASE_UNAVAILABLE, "the database is busy; retry shortly");
    } else if (id >= 0) {
        log_info("database refused: %s %s", state, msg);
        error_set(err, (enum bu_errcode)id, "%s", msg);
    } else if (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0) {
        log_warn("database rejected input: %s %s", state, msg);
        error_set(err, BU_E_INVALID_INPUT,
                  "the request was rejected: a value is out of range or breaks a rule (%s)", state);
    } else {
        log_error("database error %s: %s", state, msg);
        error_set(err, BU_E_DATABASE_ERROR, "the database refused the operation (%s)", state);
    }
}

/* A statement failed: either the connection broke (503, reconnect later)
 * or the server refused it (db_error). */
static void failed(struct db *db, PGresult *res, struct bu_error *err)
{
    if (PQstatus(db->conn) != CONNECTION_OK) {
        log_warn("database connection lost: %s", PQerrorMessage(db->conn));
        db_close(db);
        schedule_retry(db);
        unavailable(err);
    } else {
        db_error(db, res, err);
    }
    PQclear(res);
}

int db_direct(struct db *db, struct bu_error *err)
{
    PGresult *res;

    if (db_connect(db, err) != 0)
        return -1;
    if (db->direct >= 0)
        return db->direct;
    res = PQexec(db->conn, "SELECT pg_backend_pid()");
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        failed(db, res, err);
        return -1;
    }
    db->direct = atoi(PQgetvalue(res, 0, 0)) == PQbackendPID(db->conn);
    PQclear(res);
    if (db->direct == 1 && (db->statement_timeout_ms > 0 || db->lock_timeout_ms > 0)) {
        char sql[128];
        snprintf(sql, sizeof sql, "SET statement_timeout = %d; SET lock_timeout = %d",
                 db->statement_timeout_ms, db->lock_timeout_ms);
        res = PQexec(db->conn, sql);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            failed(db, res, err);
            return -1;
        }
        PQclear(res);
    }
    return db->direct;
}

static PGresult *run_whole(struct db *db, const char *sql, const struct db_args *args)
{
    return PQexecParams(db->conn, sql, args ? args->n : 0, NULL, args ? args->value : NULL, NULL,
                        NULL, 0);
}

/* Run sql as this connection's prepared statement, preparing it the first
 * time (a failed preparation is the statement's error: nothing ran); sent
 * whole (*prepared false) when plans are not kept or there is no room. */
static PGresult *run(struct db *db, const char *sql, const struct db_args *args, bool *prepared)
{
    char name[32];
    int i;

    *prepared = false;
    if (!db->keep_plans || db->direct != 1)
        return run_whole(db, sql, args);
    for (i = 0; i < db->n_prepared && strcmp(db->prepared[i], sql) != 0; i++)
        ;
    if (i == DB_MAX_PREPARED)
        return run_whole(db, sql, args);
    snprintf(name, sizeof name, "bu%u_%d", db->generation, i);
    if (i == db->n_prepared) {
        char *copy = strdup(sql);
        PGresult *res;

        if (copy == NULL)
            return run_whole(db, sql, args);
        res = PQprepare(db->conn, name, sql, 0, NULL);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            free(copy);
            return res;
        }
        PQclear(res);
        db->prepared[db->n_prepared++] = copy;
    }
    *prepared = true;
    return PQexecPrepared(db->conn, name, args ? args->n : 0, args ? args->value : NULL, NULL, NULL,
                          0);
}

/* A prepared statement the server no longer has (26000: somebody ran
 * DISCARD ALL), or one whose result changed shape since it was prepared
 * (0A000, "cached plan must not change result type": a migration replaced
 * a function while we ran).  Either is refused before it runs. */
static bool stale_plan(PGresult *res)
{
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

    return state != NULL && (strcmp(state, "26000") == 0 || strcmp(state, "0A000") == 0);
}

static bool succeeded(PGresult *res)
{
    ExecStatusType st = PQresultStatus(res);

    return st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK;
}

struct pg_result *db_query(struct db *db, struct bu_error *err, const char *sql,
                           const struct db_args *args)
{
    PGresult *res;
    bool prepared;

    db->sqlstate[0] = '\0';
    if (db_connect(db, err) != 0)
        return NULL;
    if ((db->keep_plans || db->statement_timeout_ms > 0 || db->lock_timeout_ms > 0) &&
        db->direct < 0 && db_direct(db, err) < 0)
        return NULL;
    res = run(db, sql, args, &prepared);
    if (succeeded(res))
        return res;
    if (prepared && stale_plan(res)) {
        /* Prepare afresh from now on.  Outside a transaction block the
         * failed statement left nothing behind, so it is sent again, whole
         * (a real 0A000 from inside a function then comes back as itself);
         * inside one the caller sees the error and rolls back. */
        forget_plans(db);
        if (PQtransactionStatus(db->conn) == PQTRANS_IDLE) {
            PQclear(res);
            res = run_whole(db, sql, args);
            if (succeeded(res))
                return res;
        }
    }
    failed(db, res, err);
    return NULL;
}

int db_exec_script(struct db *db, struct bu_error *err, const char *sql)
{
    PGresult *res;
    char msg[200];

    db->sqlstate[0] = '\0';
    if (db_connect(db, err) != 0)
        return -1;
    res = PQexec(db->conn, sql);
    if (PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK) {
        PQclear(res);
        return 0;
    }
    /* A migration's error is for the operator: the server's own words. */
    snprintf(msg, sizeof msg, "%s", PQerrorMessage(db->conn));
    msg[strcspn(msg, "\n")] = '\0';
    failed(db, res, err);
    if (err->id != BU_E_DATABASE_UNAVAILABLE)
        error_set(err, BU_E_DATABASE_ERROR, "%s", msg);
    return -1;
}

/* Drop the notifications that arrived; 1 when there was one. */
static int drain_notifies(struct db *db)
{
    PGnotify *n;
    int got = 0;

    while ((n = PQnotifies(db->conn)) != NULL) {
        PQfreemem(n);
        got = 1;
    }
    return got;
}

int db_wait_notify(struct db *db, int timeout_ms)
{
    struct pollfd pfd;

    if (db->conn == NULL) {
        poll(NULL, 0, timeout_ms);
        return 0;
    }
    if (drain_notifies(db))
        return 1;
    pfd.fd = PQsocket(db->conn);
    pfd.events = POLLIN;
    if (pfd.fd < 0 || poll(&pfd, 1, timeout_ms) <= 0)
        return 0;
    if (!PQconsumeInput(db->conn)) {
        log_warn("database connection lost: %s", PQerrorMessage(db->conn));
        db_close(db);
        schedule_retry(db);
        return -1;
    }
    return drain_notifies(db);
}
