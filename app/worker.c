/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * worker.c - the worker process: accept, answer, repeat.
 *
 * The worker owns its accept(): it waits on the shared listening socket
 * (non-blocking, so a worker that loses the race for a connection gets
 * EAGAIN) together with a self-pipe that the stop signals write to, in an
 * epoll instance of its own with EPOLLEXCLUSIVE, so that a connection
 * wakes one idle worker and not every one (accept_wait_open).  The
 * request's records are then read and written by fcgi.c, with a deadline on
 * every wait.  This way a stop signal wakes an idle worker at once, while a
 * worker in the middle of a request is never interrupted: the handlers are
 * installed with SA_RESTART, the request finishes, then the worker leaves.
 *
 * A second self-pipe is written by SIGUSR2: another worker wants the upload
 * this one is writing (takeover, see upload.c).  Its read end is the
 * request's wake descriptor, so a body read wakes at once.
 *
 * The worker keeps its slot of the scoreboard up to date (idle, reading,
 * handling, receiving, sending), so the master can grow and shrink the pool
 * and the status page can show it.  It opens its database connection at
 * its first query (lazily: a pool of idle workers holds no connections) and
 * closes it when it leaves.  It dies with the master (its role's parent
 * death signal, see spawn.c).
 *
 * A worker waits for an upload slot only within bounds (upload.c, "hold"):
 * for at most queue_hold_seconds, as one of the uploads' share of the pool,
 * and giving its place up to any upload whose slot is granted; beyond that
 * a file without a slot is answered 423 at once and the client retries.  A
 * pool of workers blocked on slots would let one user's queue starve
 * everyone else.  A stop signal ends a hold at once (worker_stop_fd).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "batchup/clock.h"
#include "batchup/fcgi.h"
#include "batchup/listener.h"
#include "batchup/log.h"
#include "batchup/metrics.h"
#include "batchup/routes.h"
#include "batchup/scoreboard.h"
#include "batchup/spawn.h"
#include "batchup/worker.h"

static volatile sig_atomic_t stopping;
static int stop_pipe[2] = {-1, -1};
static int release_pipe[2] = {-1, -1};

static void wake(int fd, int sig)
{
    char c = (char)sig;

    if (write(fd, &c, 1) < 0) {
        /* The pipe is full: the worker is waking anyway. */
    }
}

static void on_stop(int sig)
{
    int saved = errno;

    stopping = 1;
    wake(stop_pipe[1], sig);
    errno = saved;
}

int worker_stop_fd(void)
{
    return stop_pipe[0];
}

bool worker_stopping(void)
{
    return stopping != 0;
}

static void on_release(int sig)
{
    int saved = errno;

    wake(release_pipe[1], sig);
    errno = saved;
}

/* A worker's signals (installed by spawn.c when the worker starts): the
 * stop signals and SIGUSR2 write to their self-pipes and resume whatever
 * they interrupted (SA_RESTART), SIGUSR1 asks for the log to be reopened
 * between two requests, SIGHUP is the master's business only, a client
 * that leaves is an EPIPE and not a death, and a worker starts no child of
 * its own.  It dies with its master (SIGTERM on the master's death). */
static const struct spawn_signal worker_signals[] = {
    {SIGTERM, SPAWN_HANDLE, on_stop, true},
    {SIGINT, SPAWN_HANDLE, on_stop, true},
    {SIGQUIT, SPAWN_HANDLE, on_stop, true},
    {SIGUSR2, SPAWN_HANDLE, on_release, true},
    {SIGUSR1, SPAWN_HANDLE, log_reopen_handler, true},
    {SIGHUP, SPAWN_IGNORE, NULL, false},
    {SIGPIPE, SPAWN_IGNORE, NULL, false},
    {SIGCHLD, SPAWN_DEFAULT, NULL, false},
};

const struct spawn_role worker_role = SPAWN_ROLE("worker", worker_signals, true, SIGTERM);

/* The self-pipes the handlers write to.  A stop signal that comes before
 * they exist still sets `stopping`, which the loop reads first. */
static int open_pipes(void)
{
    if (pipe2(stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0 ||
        pipe2(release_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
        return -1;
    return 0;
}

static void limits_init(struct fcgi_limits *lim, const struct bu_config *cfg)
{
    lim->header_timeout = cfg->header_timeout;
    lim->body_timeout = cfg->body_timeout;
    lim->send_timeout = cfg->send_timeout;
    lim->body_min_rate = cfg->body_min_rate;
    lim->send_min_rate = cfg->send_min_rate;
    lim->rate_window = cfg->min_rate_window;
}

/* The request line's flag: how the body or the response ended, when
 * either ended early ("-" when neither did). */
static void end_flag(const struct fcgi_conn *conn, char *buf, size_t cap)
{
    static const char *const body_ends[] = {
        [FCGI_END_CLOSED] = "body-cut",   [FCGI_END_ABORTED] = "body-aborted",
        [FCGI_END_IDLE] = "body-timeout", [FCGI_END_SLOW] = "body-too-slow",
        [FCGI_END_WOKEN] = "taken-over",  [FCGI_END_TICK] = "taken-over",
    };
    const char *body =
        (size_t)conn->end < sizeof body_ends / sizeof body_ends[0] ? body_ends[conn->end] : NULL;

    snprintf(buf, cap, "%s%s%s", body != NULL ? body : "", body != NULL && conn->broken ? "," : "",
             conn->broken ? "client-gone" : "");
    if (buf[0] == '\0')
        snprintf(buf, cap, "-");
}

static void serve_one(struct fcgi_conn *conn, const struct bu_config *cfg, struct db *db)
{
    struct http_request req;
    char flag[64];

    conn->wake_fd = release_pipe[0];
    http_request_init(&req, conn, cfg, db);
    scoreboard_request(req.method, req.path);
    routes_dispatch(&req);
    if (!req.out.head_sent)
        http_send_empty(&req, req.out.status ? req.out.status : 500);
    fcgi_flush(conn);
    end_flag(conn, flag, sizeof flag);
    log_request(req.method, req.path, req.out.status, (unsigned long long)conn->bytes_in,
                (unsigned long long)req.bytes_out, (clock_now() - req.start) * 1e3, req.user_name,
                flag);
    METRICS_ADD(requests, 1);
    METRICS_ADD(bytes_sent, req.bytes_out);
    if (req.out.status >= 500)
        METRICS_ADD(responses_5xx, 1);
    else if (req.out.status >= 400)
        METRICS_ADD(responses_4xx, 1);
}

/* The worker's own epoll instance for the accept wait: the listening
 * socket with EPOLLEXCLUSIVE, and the stop pipe.  With poll(2) every new
 * connection woke every idle worker, and all but one found nothing to
 * accept: a static pool of 1020 idle workers accepted 425 of 1000
 * connections arriving at once in 30 s, with 264,000 context switches.
 * An exclusive wait wakes one waiting worker per connection; a worker
 * that was busy meanwhile finds the connections still queued when it next
 * waits (level-triggered).  -1 (plain poll) when the kernel refuses. */
static int accept_epoll = -1;

static void accept_wait_open(int listen_fd)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.fd = listen_fd};

    accept_epoll = epoll_create1(EPOLL_CLOEXEC);
    if (accept_epoll < 0)
        return;
    if (epoll_ctl(accept_epoll, EPOLL_CTL_ADD, listen_fd, &ev) == 0) {
        ev = (struct epoll_event){.events = EPOLLIN, .data.fd = stop_pipe[0]};
        if (epoll_ctl(accept_epoll, EPOLL_CTL_ADD, stop_pipe[0], &ev) == 0)
            return;
    }
    log_warn("epoll for the accept wait: %s; waiting with poll", strerror(errno));
    close(accept_epoll);
    accept_epoll = -1;
}

/* An exclusive wakeup goes to one waiting worker.  Should that worker not
 * accept (a kernel before 6.1 may wake a worker already woken), the
 * connection would wait for the next one to arrive, however many workers
 * sleep.  So the wait has a deadline, after which the worker tries an
 * accept all the same: a connection waits at most this long for an idle
 * worker, at the price of one wakeup a second for each. */
#define ACCEPT_RECHECK_MS 1000

/* Wait until a connection may be waiting or a stop signal came: 0, or -1
 * with errno. */
static int accept_wait(int listen_fd)
{
    struct pollfd pfd[2] = {{.fd = listen_fd, .events = POLLIN},
                            {.fd = stop_pipe[0], .events = POLLIN}};
    struct epoll_event ev[2];

    if (accept_epoll >= 0)
        return epoll_wait(accept_epoll, ev, 2, ACCEPT_RECHECK_MS) < 0 ? -1 : 0;
    return poll(pfd, 2, -1) < 0 ? -1 : 0;
}

/* Wait for a connection or a stop request; returns a connected fd, or -1
 * when the worker should stop.  A worker told to stop as it was woken
 * still takes a connection that is there (and answers it before it
 * leaves): the wakeup may have been that connection's only one. */
static int next_connection(int listen_fd)
{
    while (!stopping) {
        int fd;

        if (accept_wait(listen_fd) < 0) {
            if (errno == EINTR)
                continue;
            log_error("accept wait: %s", strerror(errno));
            return -1;
        }
        fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0)
            return fd;
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED) {
            log_error("accept: %s", strerror(errno));
            return -1;
        }
    }
    return -1;
}

/* Forget takeover requests meant for an earlier request. */
static void drain_release(void)
{
    char buf[64];

    while (read(release_pipe[0], buf, sizeof buf) > 0)
        ;
    scoreboard_take_release();
}

int worker_run(const struct bu_config *cfg, int listen_fd, int slot)
{
    struct fcgi_limits lim;
    struct fcgi_conn conn;
    struct db db;
    long served = 0;

    scoreboard_attach(slot);
    if (open_pipes() != 0) {
        log_error("worker cannot set up signals: %s", strerror(errno));
        return 1;
    }
    accept_wait_open(listen_fd);
    limits_init(&lim, cfg);
    /* Connected at the first query, after fork: a PGconn is never shared. */
    db_init(&db, cfg->database);
    db_keep_plans(&db);
    db_set_timeouts(&db, cfg->db_statement_timeout, cfg->db_lock_timeout);
    while (!stopping && (cfg->max_requests == 0 || served < cfg->max_requests)) {
        enum fcgi_head head;
        int fd;
        scoreboard_state(SB_IDLE);
        fd = next_connection(listen_fd);
        if (fd < 0)
            break;
        log_reopen_if_asked();
        if (!listener_peer_allowed(cfg, fd)) { /* logged by listener.c */
            close(fd);
            continue;
        }
        scoreboard_state(SB_READING);
        drain_release();
        head = fcgi_begin(&conn, fd, &lim);
        if (head != FCGI_HEAD_OK) {
            /* A connection that carried no valid request in time. */
            log_info("connection dropped: %s", fcgi_head_name(head));
            continue;
        }
        serve_one(&conn, cfg, &db);
        fcgi_finish(&conn);
        scoreboard_done();
        served++;
    }
    db_close(&db);
    if (!stopping && cfg->max_requests > 0 && served >= cfg->max_requests)
        log_info("worker recycled after %ld requests", served);
    return 0;
}
