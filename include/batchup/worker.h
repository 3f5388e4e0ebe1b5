/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * worker.h - one worker process: accept a FastCGI connection, answer it,
 * repeat; stop between requests when asked.
 */
#ifndef BATCHUP_WORKER_H
#define BATCHUP_WORKER_H

#include <stdbool.h>

#include "batchup/config.h"
#include "batchup/http.h"
#include "batchup/spawn.h"

/* A worker's role: its signal table (see worker.c). */
extern const struct spawn_role worker_role;

/* Serve on listen_fd until told to stop (SIGQUIT, SIGTERM or SIGINT) or
 * until max_requests were answered, keeping scoreboard slot `slot` up to
 * date.  Returns the process exit status. */
int worker_run(const struct bu_config *cfg, int listen_fd, int slot);
/* A descriptor that becomes readable when the worker is asked to stop (a
 * graceful stop or a reload; -1 outside a worker), and whether it was:
 * what a wait inside a request (an upload's hold) watches. */
int worker_stop_fd(void);
bool worker_stopping(void);

#endif
