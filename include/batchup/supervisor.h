/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * supervisor.h - the master process of `batchup serve`.
 */
#ifndef BATCHUP_SUPERVISOR_H
#define BATCHUP_SUPERVISOR_H

#include "batchup/config.h"
#include "batchup/error.h"

/* Run the master until it is stopped.  cli_path is the -c argument (or NULL)
 * so that SIGHUP can read the same configuration again.  Returns 0, or -1
 * with err; a forked worker or maintenance child returns through here too,
 * with its own outcome, so that every process leaves through main. */
int supervisor_run(struct bu_config *cfg, const char *cli_path, struct bu_error *err);

#endif
