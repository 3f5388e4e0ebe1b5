/*
 * db.h - one PostgreSQL connection per process, reconnecting with backoff.
 *
 * Every statement goes through db_query with parameters (never SQL built
 * from input).  When the server is gone the call fails fast with a 503
 * error, and the next call after the backoff tries to connect again, so a
 * restarted PostgreSQL is picked up without restarting batchup.
 */
#ifndef BATCHUP_DB_H
#define BATCHUP_DB_H

#include <libpq-fe.h>
#include <time.h>

#include "batchup/error.h"

struct db {
    PGconn *conn;
    char conninfo[1024];
    struct timespec next_attempt; /* monotonic; no connect before this */
    int backoff_ms;
    char sqlstate[6]; /* of the last failed statement, "" if none */
};

void db_init(struct db *db, const char *conninfo);
/* Returns the live connection, connecting if needed, or NULL (err = 503). */
PGconn *db_connection(struct db *db, struct bu_error *err);
/* Run one parameterised statement.  On success returns a result whose
 * status is TUPLES_OK or COMMAND_OK (the caller PQclear()s it); on failure
 * returns NULL with err filled: 503 when the database is unreachable, 500
 * for any other database error (logged with the SQL state). */
PGresult *db_query(struct db *db, struct bu_error *err, const char *sql, int nparams,
                   const char *const *params);
void db_close(struct db *db);

#endif
