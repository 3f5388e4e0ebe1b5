/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * hooks.h - batch-completion hooks: the master's delivery child, which
 * runs hook_command and POSTs to hook_url for each event of the outbox
 * (batchup.hook_events).
 */
#ifndef BATCHUP_HOOKS_H
#define BATCHUP_HOOKS_H

#include <stdbool.h>

#include "batchup/config.h"
#include "batchup/spawn.h"

/* The delivery child's role: its signal table (see hooks.c). */
extern const struct spawn_role hooks_role;

/* Is a hook configured (hook_command or hook_url)?  The master runs the
 * delivery child only then. */
bool hooks_enabled(const struct bu_config *cfg);

/* The delivery child's life (spawned with hooks_role): deliver events
 * until a stop signal or the master's death.  Returns the process exit
 * status. */
int hooks_run(const struct bu_config *cfg);

#endif
