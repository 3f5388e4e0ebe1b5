/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * storecheck.h - at start, is storage_dir this database's store, and the
 * one the other hosts share?  (See app/storecheck.c.)
 */
#ifndef BATCHUP_STORECHECK_H
#define BATCHUP_STORECHECK_H

#include "batchup/config.h"
#include "batchup/db.h"
#include "batchup/error.h"

/* Called once by the master before it starts any child.  0 when the store
 * passed, or could not be checked (the database away: a warning); -1 with
 * a configuration error (exit status 2) when its marker names another
 * database or another host's nonce is not found there. */
int storecheck_run(const struct bu_config *cfg, struct bu_error *err);

/* Renew this host's row in batchup.store_hosts (the maintenance pass does,
 * in a child forked after storecheck_run); nothing when the check did not
 * record one. */
void storecheck_renew(struct db *db);

#endif
