/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * store_downloads.c - the data layer's downloads (store.h, "downloads"): the owner's
 * completed file and the batch behind a link, as lists of files.
 */
#include <stdlib.h>
#include <string.h>

#include "batchup/store.h"
#include "batchup/store_call.h"

void store_files_free(struct store_files *files)
{
    free(files->file);
    db_free(files->res);
    memset(files, 0, sizeof *files);
}

/* Take the completed files in the rows of res (those whose id is not NULL)
 * into files, which then owns res. */
static int store_take_files(struct pg_result *res, int rows, struct bu_error *err,
                            struct store_files *files)
{

    memset(files, 0, sizeof *files);
    files->res = res;
    files->file = calloc((size_t)rows + 1, sizeof *files->file);
    if (files->file == NULL)
        return error_set(err, BU_E_INTERNAL, "out of memory");
    for (int i = 0; i < rows; i++) {
        struct store_file *f = &files->file[files->n];
        if (store_null(res, i, "id"))
            continue;
        f->id = store_text(res, i, "id");
        f->name = store_text(res, i, "name");
        f->sha256 = store_text(res, i, "sha256");
        f->media_type = store_text(res, i, "media_type");
        f->size = (uint64_t)store_int(res, i, "size");
        f->completed_at = (time_t)store_int(res, i, "completed_epoch");
        f->crc32 = store_int(res, i, "crc32");
        files->n++;
    }
    return 0;
}

int store_owned_file(struct db *db, struct bu_error *err, const char *file_id, int user_id,
                     struct store_files *files, bool *batch_expired)
{
    struct db_args a;
    struct pg_result *res;
    int rows;

    memset(files, 0, sizeof *files);
    db_args_init(&a);
    db_args_text(&a, file_id);
    db_args_int(&a, user_id);
    rows = store_call(db, err, "SELECT * FROM batchup.owned_file($1::uuid, $2::int)", &a,
                      STORE_ROWS_ANY, &res);
    if (rows < 0)
        return -1;
    *batch_expired = rows == 1 && store_bool(res, 0, "batch_expired");
    if (store_take_files(res, rows, err, files) != 0) {
        store_files_free(files);
        return -1;
    }
    return files->n == 1;
}

int store_link(struct db *db, struct bu_error *err, const char *token, struct store_link *link)
{
    struct db_args a;
    struct pg_result *res;
    int rows;

    memset(link, 0, sizeof *link);
    db_args_init(&a);
    db_args_text(&a, token);
    rows = store_call(db, err, "SELECT * FROM batchup.link_files($1)", &a, STORE_ROWS_ANY, &res);
    if (rows < 0)
        return -1;
    if (rows == 0) {
        db_free(res);
        return 0;
    }
    store_copy(link->batch_id, sizeof link->batch_id, res, 0, "batch_id");
    store_copy(link->expires_at, sizeof link->expires_at, res, 0, "expires_at");
    link->live = store_bool(res, 0, "live");
    if (store_take_files(res, rows, err, &link->files) != 0) {
        store_files_free(&link->files);
        return -1;
    }
    return 1;
}
