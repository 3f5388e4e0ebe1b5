/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * gc.h - one maintenance pass: expired leases, expired uploads and their
 * partial data, expired links and their files, orphaned files on disk.
 */
#ifndef BATCHUP_GC_H
#define BATCHUP_GC_H

#include "batchup/config.h"
#include "batchup/db.h"
#include "batchup/error.h"

/* Run one pass with its own database connection.  Returns 0, or -1 with err
 * (also logged). */
int gc_run(const struct bu_config *cfg, struct bu_error *err);

/* Remove the files under partial/ and files/ older than
 * orphan_grace_seconds that belong to no live file of the database
 * (batchup.live_files), provided storage_dir's marker names this database
 * and most of those files are not to go.  gc_run calls it every half grace
 * period.  Returns how many it removed (0 when it refused, with a warning
 * in the log), or -1 when the database could not be asked. */
int gc_sweep_orphans(const struct bu_config *cfg, struct db *db);

/* Record the database's identity in storage_dir (the marker file
 * .batchup-database), as `batchup migrate` does after its commit.  -1
 * with err when the marker names another database (it is left alone) or
 * cannot be written. */
int gc_mark_store(const struct bu_config *cfg, struct db *db, struct bu_error *err);

/* At start (app/storecheck.c): does storage_dir's marker name the
 * database whose identity is id?  0 when it does, or when there is no
 * marker (a warning: migrate writes it); -1 with a configuration error
 * naming both identities when it names another database, or when it is
 * unreadable. */
int gc_check_marker(const struct bu_config *cfg, const char *id, struct bu_error *err);

#endif
