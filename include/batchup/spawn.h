/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * spawn.h - starting child processes, and each process role's signals.
 *
 * A role (the master, a worker, the maintenance pass, the hooks child, a
 * hook command, the command line) is a table of the signals it handles,
 * ignores or blocks, plus what a child of that role needs at birth.  One
 * function installs a table; one function starts a child: the child runs
 * its procedure and exits with its status, so no child ever returns into
 * its parent's call stack.
 */
#ifndef BATCHUP_SPAWN_H
#define BATCHUP_SPAWN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum spawn_action {
    SPAWN_DEFAULT, /* the kernel's default action */
    SPAWN_IGNORE,
    SPAWN_HANDLE, /* run handler */
    SPAWN_BLOCK,  /* held pending in the mask, default action */
};

struct spawn_signal {
    int sig;
    enum spawn_action action;
    void (*handler)(int); /* for SPAWN_HANDLE */
    bool restart;         /* SA_RESTART: a slow call resumes after the handler */
};

struct spawn_role {
    const char *name; /* "worker", "maintenance pass", ... for the log */
    const struct spawn_signal *signals;
    size_t nsignals;
    bool serves;          /* keeps the listening socket */
    int parent_death_sig; /* sent to the child when its parent dies; 0: none */
};

#define SPAWN_ROLE(name, table, serves, pdeath)                                                    \
    {                                                                                              \
        (name), (table), sizeof(table) / sizeof((table)[0]), (serves), (pdeath)                    \
    }

/* Install role's table: the dispositions it names, and a mask holding
 * exactly its SPAWN_BLOCK signals.  Signals it does not name keep their
 * disposition.  0, or -1 with errno. */
int spawn_signals(const struct spawn_role *role);

/* A descriptor the children must not inherit: closed in every child (made
 * /dev/null when it is 0, 1 or 2), except in roles that serve when
 * serving_keeps. */
void spawn_keep_out(int fd, bool serving_keeps);

/* Fork a child of role that runs proc(data) and _exits with its status.
 * In the parent: the child's pid, or -1 with errno. */
pid_t spawn_child(const struct spawn_role *role, int (*proc)(void *), void *data);

#endif
