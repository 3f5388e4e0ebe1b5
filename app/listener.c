/*
 * listener.c - the listening socket the workers accept on.
 *
 * The master opens it once, before forking, and every worker accepts on
 * it (non-blocking: the workers that lose the race for a connection get
 * EAGAIN).  When systemd started us through a socket unit (socket
 * activation), the socket is descriptor 3; when standard input is already a
 * listening socket, a process manager (spawn-fcgi, Apache's mod_fcgid,
 * lighttpd's bin-path) opened it for us.  Either way we serve on it instead
 * of `listen`.
 *
 * libfcgi unlinks a unix socket path without looking; we look first, so a
 * second server cannot silently steal the first one's socket.
 */
#include <errno.h>
#include <fcntl.h>
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

#include <fcgiapp.h>

#include "batchup/listener.h"
#include "batchup/log.h"

static int is_listening_socket(int fd)
{
    int val = 0;
    socklen_t len = sizeof val;

    return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &val, &len) == 0 && val;
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

int listener_open(const struct bu_config *cfg, struct listener *l, struct bu_error *err)
{
    int fd;

    l->fd = -1;
    l->owns_path = false;
    if ((fd = socket_activated(err)) == -2)
        return -1;
    if (fd == 3) {
        log_info("serving on the socket systemd passed (socket activation)");
    } else if (is_listening_socket(0)) {
        log_info("serving on the listening socket passed as standard input");
        fd = 0;
    } else {
        if (cfg->listen[0] == '/' && unix_socket_answers(cfg->listen))
            return error_set(err, BU_E_INTERNAL, "another server already answers on %s; not starting",
                             cfg->listen);
        fd = FCGX_OpenSocket(cfg->listen, 1024);
        if (fd < 0)
            return error_set(err, BU_E_INTERNAL, "cannot listen on %s: %s", cfg->listen,
                             strerror(errno));
        if (cfg->listen[0] == '/') {
            l->owns_path = true;
            snprintf(l->path, sizeof l->path, "%s", cfg->listen);
        }
        log_info("listening on %s", cfg->listen);
    }
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0)
        return error_set(err, BU_E_INTERNAL, "cannot make the listening socket non-blocking: %s",
                         strerror(errno));
    l->fd = fd;
    return 0;
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
    if (send(nl, &ask, sizeof ask, 0) != (ssize_t)sizeof ask || (n = recv(nl, buf, sizeof buf, 0)) <= 0)
        goto done;
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
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
