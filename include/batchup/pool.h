/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pool.h - the worker processes of the master, and the process manager
 * that sizes them (pm = static, dynamic or ondemand, as in php-fpm).
 */
#ifndef BATCHUP_POOL_H
#define BATCHUP_POOL_H

#include <stdbool.h>
#include <sys/types.h>

#include "batchup/config.h"

/* The counts the process manager decides by. */
struct pool_counts {
    int live;     /* workers not asked to leave */
    int idle;     /* of them, waiting for a connection */
    int starting; /* of them, not yet ready to take one */
    int all;      /* every worker process, leaving ones included */
};

void pool_count(struct pool_counts *n);

/* Start, stop or keep workers as the configuration's pm says, given the
 * counts and the connections waiting on the listening socket (`queue`).
 * Each worker is spawned (spawn.c): it runs worker_run and exits, and
 * never comes back here. */
void pool_adjust(const struct bu_config *cfg, int listen_fd, long queue);
/* Should the master watch the listening socket, to grow the pool when
 * connections wait and no worker is idle?  0: no; -1: yes; a positive
 * number: yes, but not before that many seconds (the next batch). */
double pool_wants_listen(const struct bu_config *cfg);

/* Reap dead workers: log how each died, clear its slot.  Returns whether
 * one died unasked within a second of starting (a crash loop: the pool then
 * waits before starting more). */
bool pool_reap_one(pid_t pid, int status, bool stopping, bool *was_worker);

/* Ask every worker to finish its request and leave (SIGQUIT): a reload's
 * fresh set replaces them.  The process manager starts new ones. */
void pool_retire_all(void);
/* Send sig to every worker. */
void pool_signal(int sig);
/* Is any worker process still running? */
bool pool_any(void);
/* Hold back new workers until `when` (clock_now() seconds): a crash loop's
 * backoff. */
void pool_hold_until(double when);

#endif
