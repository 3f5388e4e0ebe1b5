/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * supervisor.c - the master process of `batchup serve`.
 *
 * The master opens the listening socket once (listener.c), keeps the pool of
 * workers (pool.c) sized as the process manager says, and from then on only
 * supervises: it never accepts a request and never talks to the database, so
 * nothing a request does can wedge it.  Signals are turned into bytes on a
 * self-pipe (the php-fpm way) and handled in the main loop:
 *
 *   SIGCHLD             reap; a worker that died unasked is logged with its
 *                       cause and replaced, with a backoff when it dies young
 *                       (a crash loop must not spin the CPU)
 *   SIGHUP              read the configuration again; ask the workers to
 *                       finish their request and leave while a fresh set
 *                       starts.  The socket stays open throughout, so the
 *                       kernel queues connections and none fails.
 *   SIGTERM/INT/QUIT    graceful stop: SIGQUIT to every child, which
 *                       finishes its request and exits; after
 *                       shutdown_timeout SIGKILL; exit 0 when all are gone.
 *   SIGUSR1             reopen log_file, then pass SIGUSR1 on to the
 *                       children (each reopens it between two requests).
 *
 * Each turn of the loop (at most 200 ms apart) the process manager looks at
 * the scoreboard; while no worker is idle and the pool may grow, the master
 * also watches the listening socket, so a waiting connection starts a worker
 * at once.  Every gc_interval_seconds it forks a short-lived maintenance
 * child (one gc pass) unless the previous one is still running, so a slow
 * pass never delays supervision.  When a hook is configured it also keeps
 * the hooks child (hooks.c) running, starting it again a second after it
 * ends.  Every child is started by spawn_child (spawn.c) with its role's
 * signal table, and exits from there: none comes back into this loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "batchup/clock.h"
#include "batchup/gc.h"
#include "batchup/hooks.h"
#include "batchup/listener.h"
#include "batchup/log.h"
#include "batchup/metrics.h"
#include "batchup/pool.h"
#include "batchup/scoreboard.h"
#include "batchup/disk.h"
#include "batchup/spawn.h"
#include "batchup/storecheck.h"
#include "batchup/supervisor.h"

static int sig_pipe[2] = {-1, -1};
static pid_t gc_pid;
static pid_t hooks_pid;
static double hooks_at; /* the hooks child is not started before this */

/* The master's state between two turns of its loop. */
struct master {
    struct bu_config *cfg;
    const char *cli_path;
    struct listener listener;
    int stopping;
    double stop_deadline;
    double next_gc;
    double backoff; /* before replacing a worker that died young */
};

static void on_signal(int sig)
{
    int saved = errno;
    unsigned char c = (unsigned char)sig;

    if (write(sig_pipe[1], &c, 1) < 0) {
        /* Pipe full: the loop has plenty to read already. */
    }
    errno = saved;
}

/* The master's signals: each one it acts on becomes a byte on the
 * self-pipe, read by its loop; a web server that hangs up is an EPIPE. */
static const struct spawn_signal master_signals[] = {
    {SIGCHLD, SPAWN_HANDLE, on_signal, true}, {SIGHUP, SPAWN_HANDLE, on_signal, true},
    {SIGTERM, SPAWN_HANDLE, on_signal, true}, {SIGINT, SPAWN_HANDLE, on_signal, true},
    {SIGQUIT, SPAWN_HANDLE, on_signal, true}, {SIGUSR1, SPAWN_HANDLE, on_signal, true},
    {SIGPIPE, SPAWN_IGNORE, NULL, false},
};

static const struct spawn_role master_role = SPAWN_ROLE("master", master_signals, true, 0);

/* The maintenance pass's: the master's handlers are gone (spawn.c), so a
 * stop signal ends it at once (a pass is safe to cut anywhere: each step
 * is its own transaction); SIGUSR1 asks for a log reopen; SIGHUP, the
 * master's alone, is ignored as in every child (a hangup of the terminal
 * reaches the whole process group). */
static const struct spawn_signal gc_signals[] = {
    {SIGUSR1, SPAWN_HANDLE, log_reopen_handler, true},
    {SIGHUP, SPAWN_IGNORE, NULL, false},
    {SIGPIPE, SPAWN_IGNORE, NULL, false},
};

static const struct spawn_role gc_role = SPAWN_ROLE("maintenance pass", gc_signals, false, 0);

/* The self-pipe, then the table.  The pipe and the listening socket stay
 * out of every helper child, the pipe out of the workers too. */
static int install_signals(void)
{
    if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
        return -1;
    spawn_keep_out(sig_pipe[0], false);
    spawn_keep_out(sig_pipe[1], false);
    return spawn_signals(&master_role);
}

/* The master's other children: the maintenance pass and the hooks child. */
static void signal_helpers(int sig)
{
    if (gc_pid > 0)
        kill(gc_pid, sig);
    if (hooks_pid > 0)
        kill(hooks_pid, sig);
}

static int gc_proc(void *data)
{
    struct bu_error err;

    return gc_run(data, &err) == 0 ? 0 : 1;
}

static int hooks_proc(void *data)
{
    return hooks_run(data);
}

/* Start a maintenance pass when one is due. */
static void maybe_gc(struct master *m)
{
    pid_t pid;

    if (m->stopping || m->cfg->gc_interval_seconds <= 0 || gc_pid != 0 || clock_now() < m->next_gc)
        return;
    pid = spawn_child(&gc_role, gc_proc, m->cfg);
    if (pid < 0)
        log_warn("cannot fork the maintenance pass: %s", strerror(errno));
    gc_pid = pid > 0 ? pid : 0;
    m->next_gc = clock_now() + m->cfg->gc_interval_seconds;
}

/* Start the hooks child when hooks are configured and it is not running
 * (again a second after it ended). */
static void maybe_hooks(struct master *m)
{
    pid_t pid;

    if (m->stopping || !hooks_enabled(m->cfg) || hooks_pid != 0 || clock_now() < hooks_at)
        return;
    pid = spawn_child(&hooks_role, hooks_proc, m->cfg);
    if (pid < 0)
        log_warn("cannot fork the hooks child: %s", strerror(errno));
    hooks_pid = pid > 0 ? pid : 0;
    hooks_at = clock_now() + 1;
}

/* SIGCHLD: reap every child that ended. */
static void reap(struct master *m)
{
    int status;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        bool worker;
        if (pid == gc_pid) {
            gc_pid = 0;
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                log_warn("maintenance pass %d ended unsuccessfully (status %d)", (int)pid, status);
        } else if (pid == hooks_pid) {
            hooks_pid = 0;
            hooks_at = clock_now() + 1;
            log_info("hooks child %d ended (status %d)", (int)pid, status);
        } else if (pool_reap_one(pid, status, m->stopping, &worker)) {
            /* Died young: a crash loop must not spin the CPU. */
            pool_hold_until(clock_now() + m->backoff);
            m->backoff = m->backoff * 2 > 5 ? 5 : m->backoff * 2;
        } else if (worker) {
            m->backoff = 0.1;
        }
    }
}

/* SIGHUP: read the configuration again and replace the workers. */
static void reload(struct master *m)
{
    struct bu_config fresh;
    struct bu_error err;

    if (m->stopping)
        return;
    if (config_load(&fresh, m->cli_path, &err) != 0 ||
        config_check_pool(&fresh, listener_on_stdin(), &err) != 0) {
        log_error("reload refused, keeping the running configuration: %s", err.message);
        return;
    }
    if (strcmp(fresh.listen, m->cfg->listen) != 0)
        log_warn("listen changed to %s; it takes effect on restart", fresh.listen);
    snprintf(fresh.listen, sizeof fresh.listen, "%s", m->cfg->listen);
    *m->cfg = fresh;
    log_set_level(m->cfg->log_level);
    log_info("configuration reloaded; replacing workers (up to %d)", m->cfg->workers);
    pool_retire_all();
    if (hooks_pid > 0)
        kill(hooks_pid, SIGQUIT);
}

static void begin_stop(struct master *m)
{
    struct pool_counts c;

    if (m->stopping)
        return;
    pool_count(&c);
    log_info("stopping: letting %d workers finish their requests", c.all);
    m->stopping = 1;
    m->stop_deadline = clock_now() + m->cfg->shutdown_timeout;
    pool_signal(SIGQUIT);
    signal_helpers(SIGQUIT);
}

/* SIGUSR1: the log file was rotated. */
static void reopen_logs(void)
{
    log_reopen();
    pool_signal(SIGUSR1);
    signal_helpers(SIGUSR1);
}

/* Act on the signals the handler queued in the self-pipe. */
static void handle_signals(struct master *m)
{
    unsigned char sigs[64];
    ssize_t n;

    while ((n = read(sig_pipe[0], sigs, sizeof sigs)) > 0) {
        for (ssize_t i = 0; i < n; i++) {
            if (sigs[i] == SIGCHLD)
                reap(m);
            else if (sigs[i] == SIGHUP)
                reload(m);
            else if (sigs[i] == SIGTERM || sigs[i] == SIGINT || sigs[i] == SIGQUIT)
                begin_stop(m);
            else if (sigs[i] == SIGUSR1)
                reopen_logs();
        }
    }
}

/* Open everything the master needs before its loop. */
static int master_init(struct master *m, struct bu_error *err)
{
    if (config_check_pool(m->cfg, listener_on_stdin(), err) != 0)
        return -1;
    if (disk_init(m->cfg, err) != 0 || storecheck_run(m->cfg, err) != 0)
        return -1;
    /* libfcgi installs handlers of its own (SIGPIPE among them): the
     * master's table comes after it, so the table is what holds. */
    if (FCGX_Init() != 0)
        return error_set(err, BU_E_INTERNAL, "FCGX_Init failed");
    if (install_signals() != 0 || metrics_init() != 0 || scoreboard_init() != 0)
        return error_set(err, BU_E_INTERNAL, "cannot set up the master: %s", strerror(errno));
    if (listener_open(m->cfg, &m->listener, err) != 0)
        return -1;
    spawn_keep_out(m->listener.fd, true);
    return 0;
}

/* The connections waiting on the listening socket (for the process
 * manager and the status page; `readable` stands in when the kernel cannot
 * say); a full pool while connections wait is counted (php-fpm's "max
 * children reached"). */
static long note_listen_queue(struct master *m, bool readable)
{
    long queue, backlog;
    struct pool_counts c;

    if (listener_queue(&m->listener, &queue, &backlog) != 0)
        queue = readable;
    scoreboard_pool_listen(queue, backlog);
    pool_count(&c);
    if (queue > 0 && c.idle == 0 && c.live >= m->cfg->workers)
        scoreboard_pool_max_reached();
    return queue;
}

/* Wait up to 200 ms for a signal, or for a waiting connection when the
 * pool should grow for it (but not before its next batch is due).
 * Returns whether the listening socket was readable. */
static bool wait_turn(struct master *m)
{
    struct pollfd p[2] = {{.fd = sig_pipe[0], .events = POLLIN},
                          {.fd = m->listener.fd, .events = POLLIN}};
    double grow = m->stopping ? 0 : pool_wants_listen(m->cfg);
    int watch = grow<0, ms = grow> 0 ? (int)(grow * 1000) + 1 : 200;

    if (poll(p, watch ? 2 : 1, ms) <= 0)
        return false;
    return watch && p[1].revents != 0;
}

int supervisor_run(struct bu_config *cfg, const char *cli_path, struct bu_error *err)
{
    struct master m = {.cfg = cfg, .cli_path = cli_path, .backoff = 0.1, .listener = {.fd = -1}};
    long queue = 0;

    if (master_init(&m, err) != 0)
        return -1;
    log_info("batchup %s master started: pm %s, up to %d workers", BATCHUP_VERSION,
             cfg->pm == CONFIG_PM_STATIC    ? "static"
             : cfg->pm == CONFIG_PM_DYNAMIC ? "dynamic"
                                            : "ondemand",
             cfg->workers);
    m.next_gc = clock_now() + 1;
    for (;;) {
        if (!m.stopping)
            pool_adjust(cfg, m.listener.fd, queue);
        maybe_gc(&m);
        maybe_hooks(&m);
        if (m.stopping && !pool_any() && gc_pid == 0 && hooks_pid == 0)
            break;
        if (m.stopping && clock_now() >= m.stop_deadline) {
            log_warn("shutdown timeout (%ds) passed; killing the remaining children",
                     cfg->shutdown_timeout);
            pool_signal(SIGKILL);
            signal_helpers(SIGKILL);
            m.stop_deadline = clock_now() + 3600;
        }
        bool readable = wait_turn(&m);
        handle_signals(&m);
        queue = note_listen_queue(&m, readable);
    }
    listener_close(&m.listener);
    log_info("master stopped");
    return 0;
}
