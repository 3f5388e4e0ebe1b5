/*
 * db.c - the PostgreSQL connection of one process.
 *
 * A worker opens its connection after fork (a PGconn must never cross a
 * fork) and keeps it.  When the connection breaks, the statement that saw it
 * fails with 503 and the connection is dropped; reconnect attempts are spaced
 * by a doubling backoff (100 ms up to 5 s) so a database outage never turns
 * into a connection storm, and never into a hang: connect_timeout bounds each
 * attempt.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchup/db.h"
#include "batchup/log.h"

void db_init(struct db *db, const char *conninfo)
{
    memset(db, 0, sizeof *db);
    snprintf(db->conninfo, sizeof db->conninfo, "%s", conninfo);
}

static long ms_until(const struct timespec *t)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (t->tv_sec - now.tv_sec) * 1000 + (t->tv_nsec - now.tv_nsec) / 1000000;
}

static void schedule_retry(struct db *db)
{
    clock_gettime(CLOCK_MONOTONIC, &db->next_attempt);
    db->backoff_ms = db->backoff_ms == 0 ? 100 : db->backoff_ms * 2;
    if (db->backoff_ms > 5000)
        db->backoff_ms = 5000;
    db->next_attempt.tv_sec += db->backoff_ms / 1000;
    db->next_attempt.tv_nsec += (long)(db->backoff_ms % 1000) * 1000000;
    if (db->next_attempt.tv_nsec >= 1000000000) {
        db->next_attempt.tv_sec++;
        db->next_attempt.tv_nsec -= 1000000000;
    }
}

void db_close(struct db *db)
{
    if (db->conn != NULL)
        PQfinish(db->conn);
    db->conn = NULL;
}

PGconn *db_connection(struct db *db, struct bu_error *err)
{
    /* Later keywords win, so the operator's conninfo overrides our defaults. */
    static const char *const keys[] = {"connect_timeout", "application_name", "dbname", NULL};
    const char *values[] = {"5", "batchup", db->conninfo, NULL};

    if (db->conn != NULL && PQstatus(db->conn) == CONNECTION_OK)
        return db->conn;
    db_close(db);
    if (ms_until(&db->next_attempt) > 0) {
        error_set(err, 503, "database_unavailable", "the database is unavailable; retry shortly");
        return NULL;
    }
    db->conn = PQconnectdbParams(keys, values, 1);
    if (PQstatus(db->conn) != CONNECTION_OK) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", PQerrorMessage(db->conn));
        msg[strcspn(msg, "\n")] = '\0';
        db_close(db);
        schedule_retry(db);
        log_warn("database connection failed (next try in %d ms): %s", db->backoff_ms, msg);
        error_set(err, 503, "database_unavailable", "the database is unavailable; retry shortly");
        return NULL;
    }
    db->backoff_ms = 0;
    return db->conn;
}

/* Turn a refused statement into the API's error.  batchup's own functions
 * raise SQLSTATEs "BU<http status>" (BU400, BU404, BU409, BU410, BU460) whose
 * messages we wrote for clients; a constraint or data error (class 22, 23)
 * means input the C checks let through, which is still the client's input:
 * 400, never 500.  Anything else is ours: 500. */
static void db_error(struct db *db, PGresult *res, struct bu_error *err)
{
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

    if (state == NULL)
        state = "";
    if (msg == NULL)
        msg = "";
    snprintf(db->sqlstate, sizeof db->sqlstate, "%s", state);
    if (strncmp(state, "BU", 2) == 0) {
        int status = atoi(state + 2);
        static const struct {
            int status;
            const char *code;
        } codes[] = {{400, "bad_request"},
                     {404, "not_found"},
                     {409, "conflict"},
                     {410, "gone"},
                     {460, "checksum_mismatch"}};
        for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
            if (codes[i].status == status) {
                log_info("database refused: %s %s", state, msg);
                error_set(err, status, codes[i].code, "%s", msg);
                return;
            }
    }
    if (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0) {
        log_warn("database rejected input: %s %s", state, msg);
        error_set(err, 400, "invalid_input", "the request was rejected: %s", msg);
        return;
    }
    log_error("database error %s: %s", state, msg);
    error_set(err, 500, "database_error", "the database refused the operation (%s)", state);
}

PGresult *db_query(struct db *db, struct bu_error *err, const char *sql, int nparams,
                   const char *const *params)
{
    PGconn *conn = db_connection(db, err);
    PGresult *res;
    ExecStatusType st;

    db->sqlstate[0] = '\0';
    if (conn == NULL)
        return NULL;
    res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
    st = PQresultStatus(res);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
        return res;
    if (PQstatus(conn) != CONNECTION_OK) {
        log_warn("database connection lost: %s", PQerrorMessage(conn));
        PQclear(res);
        db_close(db);
        schedule_retry(db);
        error_set(err, 503, "database_unavailable", "the database is unavailable; retry shortly");
        return NULL;
    }
    db_error(db, res, err);
    PQclear(res);
    return NULL;
}
