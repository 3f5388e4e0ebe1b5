/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pool.c - the master's worker processes, and the process manager.
 *
 * Each worker has a slot here and the same slot in the scoreboard, where it
 * says what it is doing.  The process manager reads the scoreboard every
 * turn of the master's loop and decides, as php-fpm's does:
 *
 *   static    exactly `workers` processes;
 *   dynamic   pm_start_servers at first; more whenever fewer than
 *             pm_min_spare_servers are idle, or connections wait and none
 *             is idle, up to `workers`; one idle worker retired a turn
 *             while more than pm_max_spare_servers are idle;
 *   ondemand  none at first; one more whenever connections wait and none
 *             is idle, up to `workers`; a worker idle for
 *             pm_process_idle_timeout is retired.
 *
 * Workers still starting are neither idle nor busy: they are counted as
 * spares (so a quiet pool does not start twice the workers it wants) but
 * not as capacity for connections already waiting.  When connections wait
 * in the listening socket's queue, the deficit (waiting connections minus
 * workers about to take them) is started in batches that double every
 * GROWTH_STEP while it lasts (1, 2, 4 ... 32), so a burst of hundreds of
 * connections fills the pool in about a second without a fork storm, and
 * the batch starts again at 1 once nothing waits.  A worker retired for
 * idleness is idle when asked (SIGQUIT): it leaves at once, or after the
 * request it just took.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "batchup/clock.h"
#include "batchup/log.h"
#include "batchup/metrics.h"
#include "batchup/pool.h"
#include "batchup/scoreboard.h"
#include "batchup/spawn.h"
#include "batchup/worker.h"

struct child {
    pid_t pid;
    bool retiring; /* asked to leave: not counted, not replaced */
};

static struct child children[SCOREBOARD_SLOTS];
#define GROWTH_STEP 0.1 /* seconds between two batches of new workers */
#define GROWTH_MAX 32   /* workers in one batch */

static double hold_until;   /* no new worker before this */
static double next_batch;   /* nor another batch before this */
static double last_retired; /* idle workers are retired one a second */
static int spawn_batch = 1;

void pool_count(struct pool_counts *n)
{
    memset(n, 0, sizeof *n);
    for (int i = 0; i < SCOREBOARD_SLOTS; i++) {
        struct scoreboard_worker w;
        if (children[i].pid == 0)
            continue;
        n->all++;
        if (children[i].retiring)
            continue;
        n->live++;
        scoreboard_read(i, &w);
        n->idle += w.state == SB_IDLE;
        n->starting += w.state == SB_STARTING;
    }
}

/* What a worker's procedure needs, on the master's stack while the child
 * runs it (spawn_child never returns in the child). */
struct worker_args {
    const struct bu_config *cfg;
    int listen_fd;
    int slot;
};

static int worker_proc(void *data)
{
    const struct worker_args *a = data;

    return worker_run(a->cfg, a->listen_fd, a->slot);
}

/* Start one worker in a free slot.  0, or -1 when there is no slot or the
 * fork failed. */
static int spawn(const struct bu_config *cfg, int listen_fd)
{
    struct worker_args args = {.cfg = cfg, .listen_fd = listen_fd, .slot = -1};
    pid_t pid;

    for (int i = 0; i < SCOREBOARD_SLOTS && args.slot < 0; i++)
        if (children[i].pid == 0)
            args.slot = i;
    if (args.slot < 0)
        return -1;
    scoreboard_assign(args.slot);
    pid = spawn_child(&worker_role, worker_proc, &args);
    if (pid < 0) {
        log_error("fork: %s", strerror(errno));
        scoreboard_clear(args.slot);
        return -1;
    }
    children[args.slot].pid = pid;
    children[args.slot].retiring = false;
    return 0;
}

/* Start up to n workers (fewer when the pool is full or held back). */
static void spawn_some(const struct bu_config *cfg, int listen_fd, int n)
{
    struct pool_counts c;

    pool_count(&c);
    for (int i = 0; i < n && c.live + i < cfg->workers && clock_now() >= hold_until; i++) {
        if (spawn(cfg, listen_fd) != 0) {
            hold_until = clock_now() + 1;
            return;
        }
    }
}

/* Retire the worker idle the longest, if it has been idle at least
 * min_idle seconds. */
static void retire_idlest(double min_idle)
{
    int best = -1;
    double best_since = 0;

    if (clock_now() - last_retired < 1.0)
        return;
    for (int i = 0; i < SCOREBOARD_SLOTS; i++) {
        struct scoreboard_worker w;
        if (children[i].pid == 0 || children[i].retiring)
            continue;
        scoreboard_read(i, &w);
        if (w.state == SB_IDLE && clock_now() - w.since >= min_idle &&
            (best < 0 || w.since < best_since)) {
            best = i;
            best_since = w.since;
        }
    }
    if (best >= 0) {
        children[best].retiring = true;
        kill(children[best].pid, SIGQUIT);
        last_retired = clock_now();
    }
}

/* How many workers the process manager wants started now, with `queue`
 * connections waiting to be accepted. */
static int wanted(const struct bu_config *cfg, const struct pool_counts *c, long queue)
{
    int want = 0, spares = c->idle + c->starting;
    long deficit = queue - spares;

    switch (cfg->pm) {
    case CONFIG_PM_STATIC:
        return cfg->workers - c->live;
    case CONFIG_PM_DYNAMIC:
        if (c->live < cfg->pm_start_servers && c->all == c->live)
            want = cfg->pm_start_servers - c->live;
        if (spares < cfg->pm_min_spare_servers && cfg->pm_min_spare_servers - spares > want)
            want = cfg->pm_min_spare_servers - spares;
        break;
    case CONFIG_PM_ONDEMAND:
        break;
    }
    if (deficit > 0 && want < spawn_batch)
        want = deficit < spawn_batch ? (int)deficit : spawn_batch;
    return want;
}

void pool_adjust(const struct bu_config *cfg, int listen_fd, long queue)
{
    struct pool_counts c;
    int want;

    pool_count(&c);
    want = wanted(cfg, &c, queue);
    if (want > 0) {
        if (clock_now() < next_batch)
            return;
        spawn_some(cfg, listen_fd, want);
        next_batch = clock_now() + GROWTH_STEP;
        if (queue > c.idle + c.starting)
            spawn_batch = spawn_batch < GROWTH_MAX ? spawn_batch * 2 : GROWTH_MAX;
        return;
    }
    if (queue <= 0)
        spawn_batch = 1;
    if ((cfg->pm == CONFIG_PM_DYNAMIC && c.idle > cfg->pm_max_spare_servers) ||
        (cfg->pm == CONFIG_PM_STATIC && c.live > cfg->workers))
        retire_idlest(0);
    else if (cfg->pm == CONFIG_PM_ONDEMAND)
        retire_idlest(cfg->pm_process_idle_timeout);
}

double pool_wants_listen(const struct bu_config *cfg)
{
    struct pool_counts c;
    double now = clock_now();

    if (cfg->pm == CONFIG_PM_STATIC || now < hold_until)
        return 0;
    pool_count(&c);
    if (c.idle > 0 || c.live >= cfg->workers)
        return 0;
    return now < next_batch ? next_batch - now : -1;
}

static void describe_exit(int status, char *buf, size_t cap)
{
    if (WIFEXITED(status))
        snprintf(buf, cap, "exit status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, cap, "signal %d (%s)%s", WTERMSIG(status), strsignal(WTERMSIG(status)),
                 WCOREDUMP(status) ? ", core dumped" : "");
    else
        snprintf(buf, cap, "status %d", status);
}

bool pool_reap_one(pid_t pid, int status, bool stopping, bool *was_worker)
{
    char how[128];

    *was_worker = false;
    describe_exit(status, how, sizeof how);
    for (int i = 0; i < SCOREBOARD_SLOTS; i++) {
        struct scoreboard_worker w;
        double lived;
        if (children[i].pid != pid)
            continue;
        *was_worker = true;
        scoreboard_read(i, &w);
        lived = clock_now() - w.started;
        children[i].pid = 0;
        scoreboard_clear(i);
        if (children[i].retiring || stopping) {
            log_info("worker %d left (%s)", (int)pid, how);
        } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
            log_info("worker %d recycled after %.1fs", (int)pid, lived);
        } else {
            log_warn("worker %d died after %.1fs: %s; replacing it", (int)pid, lived, how);
            METRICS_ADD(worker_restarts, 1);
            return lived < 1.0;
        }
        return false;
    }
    return false;
}

void pool_retire_all(void)
{
    for (int i = 0; i < SCOREBOARD_SLOTS; i++)
        if (children[i].pid > 0 && !children[i].retiring) {
            children[i].retiring = true;
            kill(children[i].pid, SIGQUIT);
        }
}

void pool_signal(int sig)
{
    for (int i = 0; i < SCOREBOARD_SLOTS; i++)
        if (children[i].pid > 0)
            kill(children[i].pid, sig);
}

bool pool_any(void)
{
    for (int i = 0; i < SCOREBOARD_SLOTS; i++)
        if (children[i].pid > 0)
            return true;
    return false;
}

void pool_hold_until(double when)
{
    hold_until = when;
}
