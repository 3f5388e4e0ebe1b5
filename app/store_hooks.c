/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * store_hooks.c - the data layer's hook outbox (store.h, "hooks"): LISTEN, the
 * deliverer's registration, claiming an event and recording its outcome.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchup/store.h"
#include "batchup/store_call.h"

/* A LISTEN outlives its transaction: it belongs to the server session.
 * Through a pooler in transaction mode (PgBouncer) that session is lent to
 * whichever client runs the next transaction, so a LISTEN would stay on a
 * shared server connection: its notifications would go to some worker in
 * the middle of its own transaction (kept unread by libpq) or be dropped
 * by the pooler with a warning, never to us.  So behind a pooler (db_direct)
 * we do not LISTEN, and the hooks child polls. */
int store_hook_listen(struct db *db, struct bu_error *err)
{
    int direct = db_direct(db, err);

    if (direct <= 0)
        return direct;
    return store_command(db, err, "LISTEN batchup_hook", NULL) == 0 ? 1 : -1;
}

int store_hook_register(struct db *db, struct bu_error *err, const char *deliverer,
                        const char *events, int lease_seconds)
{
    struct db_args a;
    char kinds[128];

    snprintf(kinds, sizeof kinds, "{%s}", events);
    db_args_init(&a);
    db_args_text(&a, deliverer);
    db_args_text(&a, kinds);
    db_args_int(&a, lease_seconds);
    return store_command(db, err, "SELECT batchup.hook_register($1, $2::text[], $3::int)", &a);
}

int store_hook_claim(struct db *db, struct bu_error *err, const char *events, int lease_seconds,
                     struct store_hook_event *ev)
{
    struct db_args a;
    struct pg_result *res;
    int rows;
    char kinds[128];

    memset(ev, 0, sizeof *ev);
    snprintf(kinds, sizeof kinds, "{%s}", events);
    db_args_init(&a);
    db_args_text(&a, kinds);
    db_args_int(&a, lease_seconds);
    rows =
        store_call(db, err,
                   "SELECT event_id, kind, batch_id, coalesce(file_id::text, '') AS file_id,"
                   " user_name, coalesce(download_url, '') AS download_url, attempt, command_done,"
                   " url_done, payload FROM batchup.hook_claim($1::text[], $2::int)",
                   &a, STORE_ROWS_ANY, &res);
    if (rows < 0)
        return -1;
    if (rows != 1) {
        db_free(res);
        return 0;
    }
    store_copy(ev->id, sizeof ev->id, res, 0, "event_id");
    store_copy(ev->kind, sizeof ev->kind, res, 0, "kind");
    store_copy(ev->batch_id, sizeof ev->batch_id, res, 0, "batch_id");
    store_copy(ev->file_id, sizeof ev->file_id, res, 0, "file_id");
    store_copy(ev->user_name, sizeof ev->user_name, res, 0, "user_name");
    store_copy(ev->download_url, sizeof ev->download_url, res, 0, "download_url");
    ev->attempt = (int)store_int(res, 0, "attempt");
    ev->command_done = store_bool(res, 0, "command_done");
    ev->url_done = store_bool(res, 0, "url_done");
    ev->payload = strdup(store_text(res, 0, "payload"));
    db_free(res);
    if (ev->payload == NULL)
        return error_set(err, BU_E_INTERNAL, "out of memory");
    return 1;
}

void store_hook_event_free(struct store_hook_event *ev)
{
    free(ev->payload);
    ev->payload = NULL;
}

int store_hook_target_done(struct db *db, struct bu_error *err, const char *event_id,
                           const char *target)
{
    struct db_args a;

    db_args_init(&a);
    db_args_text(&a, event_id);
    db_args_text(&a, target);
    return store_command(db, err, "SELECT batchup.hook_target_done($1::uuid, $2)", &a);
}

int store_hook_finish(struct db *db, struct bu_error *err, const char *event_id, const char *error,
                      int retry_seconds, int max_attempts, bool *failed)
{
    struct db_args a;
    struct pg_result *res;

    db_args_init(&a);
    db_args_text(&a, event_id);
    db_args_text(&a, error);
    db_args_int(&a, retry_seconds);
    db_args_int(&a, max_attempts);
    if (store_call(db, err, "SELECT batchup.hook_finish($1::uuid, $2, $3::int, $4::int) AS status",
                   &a, STORE_ROW_ONE, &res) < 0)
        return -1;
    *failed = strcmp(store_text(res, 0, "status"), "failed") == 0;
    db_free(res);
    return 0;
}
