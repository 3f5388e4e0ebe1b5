/*
 * cli.h - the administrative subcommands: migrate, user, gc.
 * Each returns the process exit status (0, 1 runtime failure, 2 bad usage).
 */
#ifndef BATCHUP_CLI_H
#define BATCHUP_CLI_H

#include "batchup/config.h"

int migrate_run(const struct bu_config *cfg);
int users_command(const struct bu_config *cfg, int argc, char **argv);

#endif
