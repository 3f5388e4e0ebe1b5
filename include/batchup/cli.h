/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * cli.h - the administrative subcommands: migrate and user.  Each returns 0,
 * or -1 with err, which main prints and turns into the exit status
 * (error_exit_status: 2 for bad usage, 1 for a runtime failure).
 */
#ifndef BATCHUP_CLI_H
#define BATCHUP_CLI_H

#include "batchup/config.h"
#include "batchup/error.h"

/* `batchup migrate`: apply sql/ (see migrate.c). */
int migrate_run(const struct bu_config *cfg, struct bu_error *err);
/* `batchup user add|token|limit|list ...`: argv holds the words after "user". */
int users_command(const struct bu_config *cfg, int argc, char **argv, struct bu_error *err);

#endif
