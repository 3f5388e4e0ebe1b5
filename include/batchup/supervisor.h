/*
 * supervisor.h - the master process of `batchup serve`.
 */
#ifndef BATCHUP_SUPERVISOR_H
#define BATCHUP_SUPERVISOR_H

#include "batchup/config.h"

/* Run the master until it is stopped.  cli_path is the -c argument (or NULL)
 * so that SIGHUP can read the same configuration again.  Returns the exit
 * status of the process (the master's, or a worker's in a forked child). */
int supervisor_run(struct bu_config *cfg, const char *cli_path);

#endif
