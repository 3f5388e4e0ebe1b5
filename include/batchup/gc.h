/*
 * gc.h - one maintenance pass: expired leases, expired uploads and their
 * partial data, expired links and their files.
 */
#ifndef BATCHUP_GC_H
#define BATCHUP_GC_H

#include "batchup/config.h"
#include "batchup/error.h"

/* Run one pass with its own database connection.  Returns 0, or -1 with err
 * (also logged). */
int gc_run(const struct bu_config *cfg, struct bu_error *err);

#endif
