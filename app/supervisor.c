/*
 * supervisor.c - the master process of `batchup serve`.
 *
 * The master opens the listening socket once (listener.c), forks the workers, and from then
 * on only supervises: it never accepts a request and never talks to the
 * database, so nothing a request does can wedge it.  Signals are turned into
 * bytes on a self-pipe (the php-fpm way) and handled in the main loop:
 *
 *   SIGCHLD             reap; a worker that died unasked is logged with its
 *                       cause and replaced, with a backoff when it dies young
 *                       (a crash loop must not spin the CPU); a worker that
 *                       left after max_requests is replaced at once
 *   SIGHUP              read the configuration again; start a fresh set of
 *                       workers, then ask the old ones to finish their
 *                       request and leave.  The socket stays open throughout,
 *                       so the kernel queues connections and none fails.
 *   SIGTERM/INT/QUIT    graceful stop: SIGQUIT to every child, which
 *                       finishes its request and exits; after
 *                       shutdown_timeout SIGKILL; exit 0 when all are gone.
 *   SIGUSR1             reopen log_file, then pass SIGUSR1 on to the
 *                       children (each reopens it between two requests).
 *
 * Every gc_interval_seconds it forks a short-lived maintenance child (one gc
 * pass) unless the previous one is still running, so a slow pass never
 * delays supervision.  When a hook is configured it also keeps the hooks
 * child (hooks.c) running, starting it again a second after it ends.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "batchup/clock.h"
#include "batchup/gc.h"
#include "batchup/hooks.h"
#include "batchup/listener.h"
#include "batchup/log.h"
#include "batchup/metrics.h"
#include "batchup/storage.h"
#include "batchup/supervisor.h"
#include "batchup/worker.h"

#define MAX_CHILDREN 1100

struct child {
    double started; /* monotonic seconds */
    pid_t pid;
    int retiring; /* asked to leave; do not replace */
};

static int sig_pipe[2] = {-1, -1};
static struct child children[MAX_CHILDREN];
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
    double respawn_at; /* no worker is started before this (crash backoff) */
    double backoff;
    int young; /* a worker died within a second of starting */
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

static int install_signals(void)
{
    struct sigaction sa;
    static const int sigs[] = {SIGCHLD, SIGHUP, SIGTERM, SIGINT, SIGQUIT, SIGUSR1};

    if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
        return -1;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sa.sa_handler = on_signal;
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaction(sigs[i], &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    return 0;
}

/* In a freshly forked child: forget the master's signal plumbing. */
static void child_reset(void)
{
    struct sigaction sa;
    static const int sigs[] = {SIGCHLD, SIGHUP, SIGTERM, SIGINT, SIGQUIT};

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaction(sigs[i], &sa, NULL);
    log_reopen_signal();
    close(sig_pipe[0]);
    close(sig_pipe[1]);
}

static int live_workers(void)
{
    int n = 0;

    for (int i = 0; i < MAX_CHILDREN; i++)
        if (children[i].pid > 0 && !children[i].retiring)
            n++;
    return n;
}

static int any_children(void)
{
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (children[i].pid > 0)
            return 1;
    return gc_pid > 0 || hooks_pid > 0;
}

/* Fork one worker into a free slot.  Returns 1 in the child (which must
 * return straight to main), 0 in the master, -1 when fork failed. */
static int spawn_worker(const struct bu_config *cfg, int listen_fd, int *child_status)
{
    int slot = -1;
    pid_t pid;

    for (int i = 0; i < MAX_CHILDREN && slot < 0; i++)
        if (children[i].pid == 0)
            slot = i;
    if (slot < 0)
        return -1;
    pid = fork();
    if (pid < 0) {
        log_error("fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        child_reset();
        *child_status = worker_run(cfg, listen_fd);
        return 1;
    }
    children[slot].pid = pid;
    children[slot].started = clock_now();
    children[slot].retiring = 0;
    return 0;
}

static void signal_children(int sig, int workers_only)
{
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (children[i].pid > 0)
            kill(children[i].pid, sig);
    if (!workers_only && gc_pid > 0)
        kill(gc_pid, sig);
    if (!workers_only && hooks_pid > 0)
        kill(hooks_pid, sig);
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

/* Reap children.  Returns how many unasked worker deaths need a replacement
 * and sets *young when one of them died within a second of starting. */
static int reap(int stopping, int *young)
{
    int status, lost = 0;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        char how[128];

        describe_exit(status, how, sizeof how);
        if (pid == gc_pid) {
            gc_pid = 0;
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                log_warn("maintenance pass %d ended with %s", (int)pid, how);
            continue;
        }
        if (pid == hooks_pid) {
            hooks_pid = 0;
            hooks_at = clock_now() + 1;
            log_info("hooks child %d ended with %s", (int)pid, how);
            continue;
        }
        for (int i = 0; i < MAX_CHILDREN; i++) {
            double lived;
            if (children[i].pid != pid)
                continue;
            lived = clock_now() - children[i].started;
            if (children[i].retiring || stopping) {
                log_info("worker %d left (%s)", (int)pid, how);
            } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
                log_info("worker %d recycled after %.1fs", (int)pid, lived);
                lost++;
            } else {
                log_warn("worker %d died after %.1fs: %s; replacing it", (int)pid, lived, how);
                METRICS_ADD(worker_restarts, 1);
                if (lived < 1.0)
                    *young = 1;
                lost++;
            }
            children[i].pid = 0;
        }
    }
    return lost;
}

static void start_gc(const struct bu_config *cfg, int *is_child, int *child_status)
{
    pid_t pid = fork();

    if (pid < 0) {
        log_warn("cannot fork the maintenance pass: %s", strerror(errno));
        return;
    }
    if (pid == 0) {
        child_reset();
        *is_child = 1;
        struct bu_error err;
        *child_status = gc_run(cfg, &err) == 0 ? 0 : 1;
        return;
    }
    gc_pid = pid;
}

/* Keep the pool full (unless stopping); a crash loop waits out its
 * backoff.  Returns 1 in a forked worker (which must return to main with
 * *status), else 0. */
static int fill_pool(struct master *m, int *status)
{
    while (!m->stopping && live_workers() < m->cfg->workers && clock_now() >= m->respawn_at) {
        int rc = spawn_worker(m->cfg, m->listener.fd, status);
        if (rc == 1)
            return 1;
        if (rc < 0) {
            m->respawn_at = clock_now() + 1;
            break;
        }
    }
    return 0;
}

/* Start a maintenance pass when one is due.  1 in the forked child. */
static int maybe_gc(struct master *m, int *status)
{
    int is_child = 0;

    if (m->stopping || m->cfg->gc_interval_seconds <= 0 || gc_pid != 0 || clock_now() < m->next_gc)
        return 0;
    start_gc(m->cfg, &is_child, status);
    m->next_gc = clock_now() + m->cfg->gc_interval_seconds;
    return is_child;
}

/* Start the hooks child when hooks are configured and it is not running
 * (again a second after it ended).  1 in the forked child. */
static int maybe_hooks(struct master *m, int *status)
{
    pid_t pid;

    if (m->stopping || !hooks_enabled(m->cfg) || hooks_pid != 0 || clock_now() < hooks_at)
        return 0;
    pid = fork();
    if (pid == 0) {
        child_reset();
        *status = hooks_run(m->cfg);
        return 1;
    }
    if (pid < 0)
        log_warn("cannot fork the hooks child: %s", strerror(errno));
    hooks_pid = pid > 0 ? pid : 0;
    hooks_at = clock_now() + 1;
    return 0;
}

/* SIGHUP: read the configuration again and replace the workers. */
static void reload(struct master *m)
{
    struct bu_config fresh;
    struct bu_error err;

    if (m->stopping)
        return;
    if (config_load(&fresh, m->cli_path, &err) != 0) {
        log_error("reload refused, keeping the running configuration: %s", err.message);
        return;
    }
    if (strcmp(fresh.listen, m->cfg->listen) != 0)
        log_warn("listen changed to %s; it takes effect on restart", fresh.listen);
    snprintf(fresh.listen, sizeof fresh.listen, "%s", m->cfg->listen);
    *m->cfg = fresh;
    log_set_level(m->cfg->log_level);
    log_info("configuration reloaded; replacing workers (%d)", m->cfg->workers);
    for (int c = 0; c < MAX_CHILDREN; c++)
        if (children[c].pid > 0 && !children[c].retiring) {
            children[c].retiring = 1;
            kill(children[c].pid, SIGQUIT);
        }
    if (hooks_pid > 0)
        kill(hooks_pid, SIGQUIT);
}

static void begin_stop(struct master *m)
{
    if (m->stopping)
        return;
    log_info("stopping: letting %d workers finish their requests", live_workers());
    m->stopping = 1;
    m->stop_deadline = clock_now() + m->cfg->shutdown_timeout;
    signal_children(SIGQUIT, 0);
}

/* Act on the signals the handler queued in the self-pipe. */
static void handle_signals(struct master *m)
{
    unsigned char sigs[64];
    ssize_t n;
    int lost = 0;

    while ((n = read(sig_pipe[0], sigs, sizeof sigs)) > 0) {
        for (ssize_t i = 0; i < n; i++) {
            if (sigs[i] == SIGCHLD)
                lost += reap(m->stopping, &m->young);
            else if (sigs[i] == SIGHUP)
                reload(m);
            else if (sigs[i] == SIGTERM || sigs[i] == SIGINT || sigs[i] == SIGQUIT)
                begin_stop(m);
            else if (sigs[i] == SIGUSR1) {
                log_reopen();
                signal_children(SIGUSR1, 0);
            }
        }
    }
    if (lost > 0 && m->young) {
        m->respawn_at = clock_now() + m->backoff;
        m->backoff = m->backoff * 2 > 5 ? 5 : m->backoff * 2;
        m->young = 0;
    } else if (lost > 0) {
        m->backoff = 0.1;
    }
}

/* Open everything the master needs before its loop. */
static int master_init(struct master *m, struct bu_error *err)
{
    if (storage_init(m->cfg, err) != 0)
        return -1;
    if (install_signals() != 0 || metrics_init() != 0)
        return error_set(err, BU_E_INTERNAL, "cannot set up the master: %s", strerror(errno));
    if (FCGX_Init() != 0)
        return error_set(err, BU_E_INTERNAL, "FCGX_Init failed");
    return listener_open(m->cfg, &m->listener, err);
}

int supervisor_run(struct bu_config *cfg, const char *cli_path, struct bu_error *err)
{
    struct master m = {.cfg = cfg, .cli_path = cli_path, .backoff = 0.1, .listener = {.fd = -1}};
    int status = 0;

    if (master_init(&m, err) != 0)
        return -1;
    log_info("batchup %s master started, %d workers", BATCHUP_VERSION, cfg->workers);
    m.next_gc = clock_now() + 1;
    for (;;) {
        struct pollfd pfd = {.fd = sig_pipe[0], .events = POLLIN};

        if (fill_pool(&m, &status) || maybe_gc(&m, &status) || maybe_hooks(&m, &status))
            return status == 0 ? 0 : error_set(err, BU_E_INTERNAL, "the child process failed");
        if (m.stopping && !any_children())
            break;
        if (m.stopping && clock_now() >= m.stop_deadline) {
            log_warn("shutdown timeout (%ds) passed; killing the remaining children",
                     cfg->shutdown_timeout);
            signal_children(SIGKILL, 0);
            m.stop_deadline = clock_now() + 3600;
        }
        if (poll(&pfd, 1, 200) < 0 && errno != EINTR)
            return error_set(err, BU_E_INTERNAL, "poll: %s", strerror(errno));
        handle_signals(&m);
    }
    listener_close(&m.listener);
    log_info("master stopped");
    return 0;
}
