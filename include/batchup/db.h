/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * db.h - one PostgreSQL connection per process, reconnecting with backoff.
 *
 * Only the data layer (store.c) and the migration runner talk to the
 * database, and only through here: every statement is parameterised (never
 * SQL built from input), its arguments collected in a struct db_args.  When
 * the server is gone a call fails fast with a 503 error, and the next call
 * after the backoff tries to connect again, so a restarted PostgreSQL is
 * picked up without restarting batchup.  libpq itself stays behind this
 * header: callers see its connection and result only as opaque pointers.
 */
#ifndef BATCHUP_DB_H
#define BATCHUP_DB_H

#include <stdbool.h>
#include <stdint.h>

#include "batchup/error.h"

struct pg_conn;
struct pg_result;

/* Statements a long-lived process keeps prepared on its connection. */
#define DB_MAX_PREPARED 32

struct db {
    struct pg_conn *conn;
    char conninfo[1024];
    double next_attempt; /* clock_now() seconds; no connect before this */
    int backoff_ms;
    char sqlstate[6];         /* of the last failed statement, "" if none */
    unsigned long connects;   /* connections made so far: each a new session */
    bool keep_plans;          /* db_keep_plans: prepare statements on a direct session */
    int direct;               /* this connection: -1 not asked yet, 0 a pooler's, 1 the server's */
    int statement_timeout_ms; /* db_set_timeouts; 0: the server's default */
    int lock_timeout_ms;
    unsigned generation; /* in prepared statements' names; raised when they went stale */
    int n_prepared;
    char *prepared[DB_MAX_PREPARED]; /* the text of statement bu<generation>_<i> */
};

/* The arguments $1, $2, ... of one statement, as text (NULL is SQL NULL).
 * Numbers are formatted into the struct itself, so it needs no memory. */
#define DB_MAX_ARGS 8
struct db_args {
    int n;
    const char *value[DB_MAX_ARGS];
    char number[DB_MAX_ARGS][24];
};

void db_args_init(struct db_args *a);
void db_args_text(struct db_args *a, const char *value);
void db_args_int(struct db_args *a, long long value);

void db_init(struct db *db, const char *conninfo);
/* For a process that runs the same statements for a long time (a worker):
 * each statement is parsed and planned once per connection (the first
 * DB_MAX_PREPARED distinct ones are kept as prepared statements) instead of
 * at every call.  Only on a connection to the server itself: through a
 * pooler the session, and with it a prepared statement, belongs to whoever
 * runs the next transaction (db_direct). */
void db_keep_plans(struct db *db);
/* A worker's bounds on a stalled database: its statements are cancelled
 * after statement_seconds, its waits for a lock after lock_seconds (0: no
 * bound), set on each direct session (db_direct) as it opens; a statement
 * cancelled so fails with database_unavailable (503). */
void db_set_timeouts(struct db *db, int statement_seconds, int lock_seconds);
/* 1 when the connection is the server's own session, 0 when a pooler lends
 * it (PgBouncer), -1 with err when the question failed.  Asked once per
 * connection: a pooler gives libpq a process id of its own invention, never
 * the server's pg_backend_pid(). */
int db_direct(struct db *db, struct bu_error *err);
/* Connect unless connected.  0, or -1 with err = 503 database_unavailable
 * (and a backoff before the next attempt). */
int db_connect(struct db *db, struct bu_error *err);
/* Run one parameterised statement.  On success returns its result (rows or
 * none), which the caller frees with db_free; on failure returns NULL with
 * err: 503 when the database is unreachable, batchup's own SQLSTATEs as
 * their table errors, rejected input (class 22, 23) as 400, anything else
 * 500 (logged with the SQL state). */
struct pg_result *db_query(struct db *db, struct bu_error *err, const char *sql,
                           const struct db_args *args);
/* Run a script of several statements without parameters (a migration).
 * 0, or -1 with err (the server's message, for the operator). */
int db_exec_script(struct db *db, struct bu_error *err, const char *sql);
/* Wait up to timeout_ms for a notification on a connection that LISTENs:
 * 1 one (or more) arrived, 0 none (or no connection: the wait is then a
 * sleep), -1 the connection broke (closed; the next query reconnects). */
int db_wait_notify(struct db *db, int timeout_ms);
void db_free(struct pg_result *res);
void db_close(struct db *db);

#endif
