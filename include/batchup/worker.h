/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * worker.h - one worker process: accept a FastCGI connection, answer it,
 * repeat; stop between requests when asked.
 */
#ifndef BATCHUP_WORKER_H
#define BATCHUP_WORKER_H

#include "batchup/config.h"
#include "batchup/http.h"
#include "batchup/spawn.h"

/* A worker's role: its signal table (see worker.c). */
extern const struct spawn_role worker_role;

/* Serve on listen_fd until told to stop (SIGQUIT, SIGTERM or SIGINT) or
 * until max_requests were answered, keeping scoreboard slot `slot` up to
 * date.  Returns the process exit status. */
int worker_run(const struct bu_config *cfg, int listen_fd, int slot);

#endif
