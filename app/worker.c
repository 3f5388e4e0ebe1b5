/*
 * worker.c - the worker process: accept, answer, repeat.
 *
 * The worker owns its accept(): it polls the shared listening socket
 * (non-blocking, so the workers that lose the race for a connection get
 * EAGAIN) together with a self-pipe that the stop signals write to.  libfcgi
 * then reads the request from the connection we hand it.  This way a stop
 * signal wakes an idle worker at once, while a worker in the middle of a
 * request is never interrupted: the handlers are installed with SA_RESTART,
 * so no read of a request body fails with EINTR, and the worker leaves only
 * after finishing what it was doing.  (libfcgi's own blocking accept cannot
 * be woken without breaking in-flight reads too.)
 *
 * A worker never waits for an upload slot: a file without a slot is answered
 * 423 at once and the client retries.  A fixed pool of workers blocked on
 * slots would let one user's queue starve everyone else.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "batchup/clock.h"
#include "batchup/log.h"
#include "batchup/metrics.h"
#include "batchup/routes.h"
#include "batchup/worker.h"

static volatile sig_atomic_t stopping;
static int wake_pipe[2] = {-1, -1};

static void on_stop(int sig)
{
    int saved = errno;
    char c = (char)sig;

    stopping = 1;
    if (write(wake_pipe[1], &c, 1) < 0) {
        /* The pipe is full: the worker is waking anyway. */
    }
    errno = saved;
}

static int install_signals(void)
{
    struct sigaction sa;

    if (pipe2(wake_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
        return -1;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGQUIT, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGPIPE, &sa, NULL);
    sa.sa_handler = SIG_DFL;
    sigaction(SIGCHLD, &sa, NULL);
    return 0;
}

static void serve_one(FCGX_Request *fcgx, const struct bu_config *cfg, struct db *db)
{
    struct http_request req;

    http_request_init(&req, fcgx, cfg, db);
    routes_dispatch(&req);
    if (!req.head_sent)
        http_send_empty(&req, req.status ? req.status : 500);
    log_request(req.method, req.path, req.status, (unsigned long long)req.bytes_in,
                (unsigned long long)req.bytes_out, (clock_now() - req.start) * 1e3, req.user_name,
                req.client_gone);
    METRICS_ADD(requests, 1);
    METRICS_ADD(bytes_sent, req.bytes_out);
    if (req.status >= 500)
        METRICS_ADD(responses_5xx, 1);
    else if (req.status >= 400)
        METRICS_ADD(responses_4xx, 1);
}

/* Wait for a connection or a stop request; returns a connected fd, or -1
 * when the worker should stop. */
static int next_connection(int listen_fd)
{
    while (!stopping) {
        struct pollfd pfd[2] = {{.fd = listen_fd, .events = POLLIN},
                                {.fd = wake_pipe[0], .events = POLLIN}};
        int fd;

        if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            log_error("poll: %s", strerror(errno));
            return -1;
        }
        if (pfd[1].revents != 0)
            continue; /* stopping is set */
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

int worker_run(const struct bu_config *cfg, int listen_fd)
{
    FCGX_Request fcgx;
    struct db db;
    struct bu_error err;
    long served = 0;

    if (install_signals() != 0) {
        log_error("worker cannot set up signals: %s", strerror(errno));
        return 1;
    }
    /* The connection is opened here, after fork: a PGconn is never shared. */
    db_init(&db, cfg->database);
    db_connect(&db, &err);
    /* listen_sock -1: libfcgi never accepts by itself (see the top comment). */
    FCGX_InitRequest(&fcgx, -1, 0);
    while (!stopping && (cfg->max_requests == 0 || served < cfg->max_requests)) {
        int fd = next_connection(listen_fd);
        if (fd < 0)
            break;
        log_reopen_if_asked();
        fcgx.ipcFd = fd;
        fcgx.keepConnection = 1; /* so Accept does not close the fd we give it */
        if (FCGX_Accept_r(&fcgx) < 0) {
            /* A connection that did not carry a valid request; the next one may. */
            FCGX_Finish_r(&fcgx);
            if (fcgx.ipcFd >= 0)
                close(fcgx.ipcFd);
            fcgx.ipcFd = -1;
            continue;
        }
        serve_one(&fcgx, cfg, &db);
        FCGX_Finish_r(&fcgx);
        if (fcgx.ipcFd >= 0) {
            /* The web server asked to keep the connection (FCGI_KEEP_CONN);
             * we serve one request per connection, which the protocol allows. */
            close(fcgx.ipcFd);
            fcgx.ipcFd = -1;
        }
        served++;
    }
    db_close(&db);
    if (!stopping && cfg->max_requests > 0 && served >= cfg->max_requests)
        log_info("worker recycled after %ld requests", served);
    return 0;
}
