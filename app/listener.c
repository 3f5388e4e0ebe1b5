/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * listener.c - the listening socket the workers accept on, and who may
 * connect to it.
 *
 * The master opens it once, before forking, and every worker accepts on
 * it (non-blocking: the workers that lose the race for a connection get
 * EAGAIN).  When systemd started us through a socket unit (socket
 * activation), the socket is descriptor 3; when standard input is already a
 * listening socket, a process manager (spawn-fcgi, Apache's mod_fcgid,
 * lighttpd's bin-path) opened it for us.  Either way we serve on it instead
 * of `listen`.
 *
 * Otherwise it opens `listen` itself, as parsed once into the
 * configuration (address.c), the structure `batchup status` connects to as
 * well (listener_connect).  The socket is close-on-exec from the moment it
 * exists.  A unix socket path is removed before binding only when no
 * server answers on it, so a second server cannot silently steal the first
 * one's socket.
 *
 * Whoever can connect can speak FastCGI, and so set any REMOTE_USER or
 * client address it likes.  A unix socket is guarded by its permissions
 * (listen_mode, applied through the umask while binding so that there is no
 * moment when it is wider, then with chmod); a TCP socket by listen_allow,
 * the peers that may connect (parsed with the configuration), checked on
 * every accepted connection.  With auth = remote_user a TCP listener that
 * local processes can reach would let any of them be anyone: batchup
 * refuses to start on one unless the operator says it is fine
 * (remote_user_trust_tcp; the rule is config_check_remote_user's).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "batchup/listener.h"
#include "batchup/log.h"

#define LISTENER_BACKLOG 1024 /* the kernel caps it at net.core.somaxconn */

/* The family of the socket listener_open opened or took over, inherited by
 * the workers: AF_UNSPEC before it ran. */
static int opened_family = AF_UNSPEC;

static int is_listening_socket(int fd)
{
    int val = 0;
    socklen_t len = sizeof val;

    return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &val, &len) == 0 && val;
}

bool listener_on_stdin(void)
{
    return is_listening_socket(0);
}

/* Does another server answer on this unix socket path? */
static int unix_socket_answers(const char *path)
{
    struct sockaddr_un sa;
    int fd, rc;

    if (strlen(path) >= sizeof sa.sun_path)
        return 0;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    close(fd);
    return rc == 0;
}

/* systemd socket activation, the sd_listen_fds(3) protocol written out
 * (three environment variables and descriptor 3, rather than a link to
 * libsystemd, so the binary runs the same where systemd is absent): the
 * socket is ours when LISTEN_PID is our pid.  The variables are removed so
 * that no child (a hook command) takes them for its own.  Returns 3, or -1
 * when not activated, or -2 with err when activated with other than one
 * listening socket. */
static int socket_activated(struct bu_error *err)
{
    const char *pid = getenv("LISTEN_PID"), *env_fds = getenv("LISTEN_FDS");
    char fds[32];
    long long n = 0;
    char *end;

    if (pid == NULL || env_fds == NULL || strtoll(pid, &end, 10) != (long long)getpid() ||
        *end != '\0')
        return -1;
    snprintf(fds, sizeof fds, "%s", env_fds); /* unsetenv may free it */
    n = strtoll(fds, &end, 10);
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    if (n != 1 || *end != '\0') {
        error_set(err, BU_E_INTERNAL,
                  "socket activation passed LISTEN_FDS=%s; batchup serves on exactly one socket",
                  fds);
        return -2;
    }
    if (!is_listening_socket(3) || fcntl(3, F_SETFD, FD_CLOEXEC) != 0) {
        error_set(err, BU_E_INTERNAL, "socket activation: descriptor 3 is not a listening socket");
        return -2;
    }
    return 3;
}

/* The address family of the socket fd (AF_UNIX, AF_INET, ...), or -1. */
static int socket_family(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;

    memset(&ss, 0, sizeof ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return -1;
    return ss.ss_family;
}

/* The socket address of a parsed `listen`: the unix path, or the first
 * address its host resolves to (for a server, passive: an empty host is
 * every IPv4 address, as libfcgi binds it; for a client, loopback).  0, or
 * -1 with err. */
static int resolve(const struct address_listen *a, bool passive, struct sockaddr_storage *ss,
                   socklen_t *len, struct bu_error *err)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    const char *host = a->host[0] != '\0' ? a->host : passive ? NULL : "127.0.0.1";
    int rc;

    memset(ss, 0, sizeof *ss);
    if (a->is_unix) {
        struct sockaddr_un *sun = (struct sockaddr_un *)ss;
        sun->sun_family = AF_UNIX;
        memcpy(sun->sun_path, a->path, strlen(a->path) + 1);
        *len = sizeof *sun;
        return 0;
    }
    if (host == NULL) {
        hints.ai_family = AF_INET;
        hints.ai_flags = AI_PASSIVE;
    }
    rc = getaddrinfo(host, a->port, &hints, &ai);
    if (rc != 0)
        return error_set(err, BU_E_INTERNAL, "cannot resolve %s: %s", a->host, gai_strerror(rc));
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    *len = ai->ai_addrlen;
    freeaddrinfo(ai);
    return 0;
}

/* Open, bind and listen: close-on-exec and non-blocking from the start, so
 * that no program a child runs (a hook command, and whatever it starts)
 * ever holds the socket, not even for a moment after a fork.  A unix
 * socket is bound with no moment wider than listen_mode (the umask can only
 * take bits away), then given the mode exactly; a path nobody answers on
 * any more (a server that died) is removed first. */
static int open_socket(const struct bu_config *cfg, struct listener *l, struct bu_error *err)
{
    const struct address_listen *a = &cfg->listen_addr;
    struct sockaddr_storage ss;
    socklen_t len = 0;
    mode_t old = 0;
    int fd, one = 1, rc;

    if (resolve(a, true, &ss, &len, err) != 0)
        return -1;
    if (a->is_unix && unix_socket_answers(a->path))
        return error_set(err, BU_E_INTERNAL, "another server already answers on %s; not starting",
                         a->path);
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return error_set(err, BU_E_INTERNAL, "cannot listen on %s: %s", cfg->listen,
                         strerror(errno));
    if (a->is_unix) {
        unlink(a->path);
        old = umask((mode_t)(~cfg->listen_mode & 0777));
    } else {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    }
    rc = bind(fd, (struct sockaddr *)&ss, len) == 0 && listen(fd, LISTENER_BACKLOG) == 0 ? 0 : -1;
    if (a->is_unix)
        umask(old);
    if (rc != 0) {
        error_set(err, BU_E_INTERNAL, "cannot listen on %s: %s", cfg->listen, strerror(errno));
        close(fd);
        return -1;
    }
    if (a->is_unix) {
        l->owns_path = true;
        snprintf(l->path, sizeof l->path, "%s", a->path);
        if (chmod(a->path, (mode_t)cfg->listen_mode) != 0) {
            error_set(err, BU_E_INTERNAL, "cannot set the mode of %s: %s", a->path,
                      strerror(errno));
            close(fd);
            return -1;
        }
    }
    return fd;
}

int listener_open(const struct bu_config *cfg, struct listener *l, struct bu_error *err)
{
    int fd;

    l->fd = -1;
    l->owns_path = false;
    if ((fd = socket_activated(err)) == -2)
        return -1;
    if (fd == 3) {
        if (config_check_remote_user(cfg, socket_family(3), err) != 0)
            return -1;
        log_info("serving on the socket systemd passed (socket activation)");
    } else if (is_listening_socket(0)) {
        if (config_check_remote_user(cfg, socket_family(0), err) != 0)
            return -1;
        log_info("serving on the listening socket passed as standard input");
        fd = 0;
    } else if (cfg->listen_addr.is_unix) {
        fd = open_socket(cfg, l, err);
        if (fd < 0)
            return -1;
        log_info("listening on %s (mode %04o)", cfg->listen, (unsigned)cfg->listen_mode);
    } else {
        if (config_check_remote_user(cfg, AF_INET, err) != 0)
            return -1;
        fd = open_socket(cfg, l, err);
        if (fd < 0)
            return -1;
        log_info("listening on %s (peers allowed: %s)", cfg->listen, cfg->listen_allow);
    }
    /* A socket we were handed (systemd's, standard input's) gets the same
     * flags: non-blocking for the workers' accept race, close-on-exec so
     * that no program a child runs keeps it open after batchup is gone (a
     * restart would find it still answering and refuse to start). */
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0 ||
        fcntl(fd, F_SETFD, FD_CLOEXEC) != 0)
        return error_set(err, BU_E_INTERNAL, "cannot set up the listening socket: %s",
                         strerror(errno));
    l->fd = fd;
    opened_family = socket_family(fd);
    return 0;
}

int listener_connect(const struct address_listen *a, struct bu_error *err)
{
    struct sockaddr_storage ss;
    socklen_t len = 0;
    int fd;

    if (resolve(a, false, &ss, &len, err) != 0)
        return -1;
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&ss, len) == 0)
        return fd;
    error_set(err, BU_E_INTERNAL, "cannot connect to %s (is batchup serve running?): %s",
              a->is_unix   ? a->path
              : a->host[0] ? a->host
                           : "127.0.0.1",
              strerror(errno));
    if (fd >= 0)
        close(fd);
    return -1;
}

int listener_family(void)
{
    return opened_family;
}

void listener_close(struct listener *l)
{
    if (l->owns_path)
        unlink(l->path);
    l->owns_path = false;
}

/* The accept queue of a unix listening socket, from the kernel's socket
 * diagnostics (what `ss -xl` shows): its "receive queue" is the
 * connections waiting, its "send queue" the backlog. */
static int unix_queue(int fd, long *queue, long *backlog)
{
    struct {
        struct nlmsghdr nlh;
        struct unix_diag_req req;
    } ask = {0};
    char buf[4096];
    struct stat st;
    int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG), rc = -1;
    ssize_t n;

    if (nl < 0 || fstat(fd, &st) != 0)
        goto done;
    ask.nlh.nlmsg_len = sizeof ask;
    ask.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    ask.nlh.nlmsg_flags = NLM_F_REQUEST;
    ask.req.sdiag_family = AF_UNIX;
    ask.req.udiag_states = ~0u;
    ask.req.udiag_ino = (unsigned)st.st_ino;
    ask.req.udiag_show = UDIAG_SHOW_RQLEN;
    ask.req.udiag_cookie[0] = ask.req.udiag_cookie[1] = INET_DIAG_NOCOOKIE;
    if (send(nl, &ask, sizeof ask, 0) != (ssize_t)sizeof ask ||
        (n = recv(nl, buf, sizeof buf, 0)) <= 0)
        goto done;
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n);
         h = NLMSG_NEXT(h, n)) {
        struct unix_diag_msg *msg = NLMSG_DATA(h);
        int left = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof *msg));
        if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY)
            break;
        for (struct rtattr *a = (struct rtattr *)(msg + 1); RTA_OK(a, left); a = RTA_NEXT(a, left))
            if (a->rta_type == UNIX_DIAG_RQLEN) {
                const struct unix_diag_rqlen *q = RTA_DATA(a);
                *queue = q->udiag_rqueue;
                *backlog = q->udiag_wqueue;
                rc = 0;
            }
    }
done:
    if (nl >= 0)
        close(nl);
    return rc;
}

int listener_queue(const struct listener *l, long *queue, long *backlog)
{
    struct sockaddr_storage sa = {0};
    socklen_t len = sizeof sa;
    struct tcp_info info;
    socklen_t ilen = sizeof info;

    *queue = *backlog = -1;
    if (getsockname(l->fd, (struct sockaddr *)&sa, &len) != 0)
        return -1;
    if (sa.ss_family == AF_UNIX)
        return unix_queue(l->fd, queue, backlog);
    /* A TCP listener: the accept queue's length and its bound. */
    if (getsockopt(l->fd, IPPROTO_TCP, TCP_INFO, &info, &ilen) != 0)
        return -1;
    *queue = info.tcpi_unacked;
    *backlog = info.tcpi_sacked;
    return 0;
}

/* ---- who may connect ------------------------------------------------ */

bool listener_peer_allowed(const struct bu_config *cfg, int fd)
{
    struct sockaddr_storage peer;
    socklen_t len = sizeof peer;
    char text[INET6_ADDRSTRLEN] = "?";

    if (socket_family(fd) == AF_UNIX)
        return true;
    memset(&peer, 0, sizeof peer);
    if (getpeername(fd, (struct sockaddr *)&peer, &len) != 0) {
        log_warn("refused a connection whose peer is unknown: %s", strerror(errno));
        return false;
    }
    if (address_allow_match(&cfg->listen_peers, (const struct sockaddr *)&peer))
        return true;
    getnameinfo((const struct sockaddr *)&peer, len, text, sizeof text, NULL, 0, NI_NUMERICHOST);
    log_warn("refused a connection from %s: not in listen_allow (%s)", text, cfg->listen_allow);
    return false;
}
