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
#include "batchup/db.h"
#include "batchup/gc.h"
#include "batchup/log.h"
#include "batchup/storage.h"
#include "batchup/store.h"

static void remove_data(const char *file_id, void *ctx)
{
    storage_remove(ctx, file_id);
}

int gc_run(const struct bu_config *cfg, struct bu_error *err)
{
    struct db db;
    int n;

    db_init(&db, cfg->database);
    n = store_gc(&db, err, cfg->upload_expiry_seconds, remove_data, (void *)cfg);
    db_close(&db);
    if (n < 0) {
        log_warn("maintenance pass failed: %s", err->message);
        return -1;
    }
    if (n > 0)
        log_info("maintenance pass removed the data of %d files", n);
    return 0;
}
