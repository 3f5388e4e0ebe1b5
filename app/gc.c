/*
 * gc.c - the maintenance pass, run by `batchup gc` and periodically by the
 * master in a child of its own.
 *
 * The decisions are the database's (batchup.gc marks what expired, in one
 * transaction, and returns the files whose data is no longer wanted); this
 * file only removes that data.  Removal happens after the commit, so a crash
 * in between leaves an orphan file on disk, never a database row pointing at
 * missing data.
 */
#include <stdio.h>

#include "batchup/db.h"
#include "batchup/gc.h"
#include "batchup/log.h"
#include "batchup/storage.h"

int gc_run(const struct bu_config *cfg)
{
    struct db db;
    struct bu_error err;
    char expiry[16];
    const char *params[1] = {expiry};
    PGresult *res;
    int n;

    db_init(&db, cfg->database);
    snprintf(expiry, sizeof expiry, "%d", cfg->upload_expiry_seconds);
    res = db_query(&db, &err, "SELECT kind, file_id FROM batchup.gc($1::int)", 1, params);
    if (res == NULL) {
        log_warn("maintenance pass failed: %s", err.message);
        db_close(&db);
        return -1;
    }
    n = PQntuples(res);
    for (int i = 0; i < n; i++)
        storage_remove(cfg, PQgetvalue(res, i, 1));
    if (n > 0)
        log_info("maintenance pass removed the data of %d files", n);
    PQclear(res);
    db_close(&db);
    return 0;
}
