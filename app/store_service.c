/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * store_service.c - the data layer's service questions (store.h, "service"): the
 * health ping, the upload counts, the maintenance pass, the files storage
 * still wants, and the installation's identity.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchup/store.h"
#include "batchup/store_call.h"

/* Health's question, answered within about a second and a half whatever
 * the database does: its own lock and statement bounds (SET LOCAL, in the
 * implicit transaction of a one-string query, so they hold through a
 * pooler too and end with it), and a look at batchup.slots, the table
 * every upload's claim needs: an administrator's lock on it, or a server
 * too busy to answer, makes health 503, as the uploads would be. */
int store_ping(struct db *db, struct bu_error *err)
{
    return db_exec_script(db, err,
                          "SET LOCAL lock_timeout = 1000; SET LOCAL statement_timeout = 1500;"
                          " SELECT 1 FROM batchup.slots LIMIT 0");
}

int store_upload_counts(struct db *db, struct bu_error *err, long *active, long *queued)
{
    struct pg_result *res;

    if (store_call(db, err,
                   "SELECT (SELECT count(*) FROM batchup.active_slots) AS active,"
                   " (SELECT count(*) FROM batchup.upload_queue) AS queued",
                   NULL, STORE_ROW_ONE, &res) < 0)

        return -1;
    *active = (long)store_int(res, 0, "active");
    *queued = (long)store_int(res, 0, "queued");
    db_free(res);
    return 0;
}

int store_gc(struct db *db, struct bu_error *err, const struct bu_config *cfg,
             void (*removed)(const char *file_id, void *ctx), void *ctx)
{
    struct db_args a;
    struct pg_result *res;
    int rows;
    int n;

    db_args_init(&a);
    db_args_int(&a, cfg->upload_expiry_seconds);
    db_args_int(&a, cfg->link_ttl_seconds);
    db_args_int(&a, cfg->retention_seconds);
    rows = store_call(db, err, "SELECT kind, file_id FROM batchup.gc($1::int, $2::int, $3::int)",
                      &a, STORE_ROWS_ANY, &res);
    if (rows < 0)
        return -1;
    n = rows;
    for (int i = 0; i < n; i++)
        removed(store_text(res, i, "file_id"), ctx);
    db_free(res);
    return n;
}

int store_live_files(struct db *db, struct bu_error *err, const char *const *ids, size_t n,
                     void (*live)(const char *file_id, void *ctx), void *ctx)
{
    struct db_args a;
    struct pg_result *res;
    int rows;
    char *array = malloc(n * (STORE_ID_SIZE + 1) + 3), *p = array;

    if (array == NULL)
        return error_set(err, BU_E_INTERNAL, "out of memory");
    *p++ = '{';
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%s%s", i > 0 ? "," : "", ids[i]);
    memcpy(p, "}", 2);
    db_args_init(&a);
    db_args_text(&a, array);
    rows = store_call(db, err, "SELECT file_id FROM batchup.live_files($1::uuid[])", &a,
                      STORE_ROWS_ANY, &res);
    free(array);
    if (rows < 0)
        return -1;
    for (int i = 0; i < rows; i++)
        live(store_text(res, i, "file_id"), ctx);
    db_free(res);
    return 0;
}

int store_installation_id(struct db *db, struct bu_error *err, char id[STORE_ID_SIZE])
{
    struct pg_result *res;

    if (store_call(db, err, "SELECT batchup.installation_id()::text AS id", NULL, STORE_ROW_ONE,
                   &res) < 0)

        return -1;
    store_copy(id, STORE_ID_SIZE, res, 0, "id");
    db_free(res);
    return 0;
}

int store_hosts_others(struct db *db, struct bu_error *err, const char *host, int window_seconds,
                       void (*each)(const char *host, const char *nonce, const char *dir,
                                    void *ctx),
                       void *ctx)
{
    struct db_args a;
    struct pg_result *res;
    int rows;

    db_args_init(&a);
    db_args_text(&a, host);
    db_args_int(&a, window_seconds);
    rows = store_call(
        db, err, "SELECT host, nonce, storage_dir FROM batchup.store_hosts_others($1, $2::int)", &a,
        STORE_ROWS_ANY, &res);
    if (rows < 0)
        return -1;
    for (int i = 0; i < rows; i++)
        each(store_text(res, i, "host"), store_text(res, i, "nonce"),
             store_text(res, i, "storage_dir"), ctx);
    db_free(res);
    return rows;
}

int store_host_seen(struct db *db, struct bu_error *err, const char *host, const char *nonce,
                    const char *dir, bool register_it)
{
    struct db_args a;

    db_args_init(&a);
    db_args_text(&a, host);
    db_args_text(&a, nonce);
    db_args_text(&a, dir);
    db_args_text(&a, register_it ? "true" : "false");
    return store_command(db, err, "SELECT batchup.store_host_seen($1, $2, $3, $4::boolean)", &a);
}
