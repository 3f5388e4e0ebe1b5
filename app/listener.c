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
 * libfcgi unlinks a unix socket path without looking; we look first, so a
 * second server cannot silently steal the first one's socket.
 *
 * Whoever can connect can speak FastCGI, and so set any REMOTE_USER or
 * client address it likes.  A unix socket is guarded by its permissions
 * (listen_mode, applied through the umask while binding so that there is no
 * moment when it is wider, then with chmod); a TCP socket by listen_allow,
 * the peers that may connect, checked on every accepted connection.  With
 * auth = remote_user a TCP listener that local processes can reach would let
 * any of them be anyone: batchup refuses to start on one unless the
 * operator says it is fine (remote_user_trust_tcp).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
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

#include <fcgiapp.h>

#include "batchup/listener.h"
#include "batchup/log.h"

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

/* Bind the unix socket with no moment wider than mode, then set mode
 * exactly (the umask can only take bits away). */
static int open_unix(const struct bu_config *cfg, struct listener *l, struct bu_error *err)
{
    mode_t old;
    int fd;

    if (unix_socket_answers(cfg->listen))
        return error_set(err, BU_E_INTERNAL, "another server already answers on %s; not starting",
                         cfg->listen);
    old = umask((mode_t)(~cfg->listen_mode & 0777));
    fd = FCGX_OpenSocket(cfg->listen, 1024);
    umask(old);
    if (fd < 0)
        return error_set(err, BU_E_INTERNAL, "cannot listen on %s: %s", cfg->listen,
                         strerror(errno));
    l->owns_path = true;
    snprintf(l->path, sizeof l->path, "%s", cfg->listen);
    if (chmod(cfg->listen, (mode_t)cfg->listen_mode) != 0) {
        close(fd);
        return error_set(err, BU_E_INTERNAL, "cannot set the mode of %s: %s", cfg->listen,
                         strerror(errno));
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
        if (listener_check_remote_user(cfg, socket_family(3), err) != 0)
            return -1;
        log_info("serving on the socket systemd passed (socket activation)");
    } else if (is_listening_socket(0)) {
        if (listener_check_remote_user(cfg, socket_family(0), err) != 0)
            return -1;
        log_info("serving on the listening socket passed as standard input");
        fd = 0;
    } else if (config_listen_is_unix(cfg->listen)) {
        fd = open_unix(cfg, l, err);
        if (fd < 0)
            return -1;
        log_info("listening on %s (mode %04o)", cfg->listen, (unsigned)cfg->listen_mode);
    } else {
        if (listener_check_remote_user(cfg, AF_INET, err) != 0)
            return -1;
        fd = FCGX_OpenSocket(cfg->listen, 1024);
        if (fd < 0)
            return error_set(err, BU_E_INTERNAL, "cannot listen on %s: %s", cfg->listen,
                             strerror(errno));
        log_info("listening on %s (peers allowed: %s)", cfg->listen, cfg->listen_allow);
    }
    /* Non-blocking for the workers' accept race; close-on-exec so that no
     * program a child runs (a hook command, and whatever it starts) keeps
     * the socket open after batchup is gone: a restart would find it still
     * answering and refuse to start. */
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0 ||
        fcntl(fd, F_SETFD, FD_CLOEXEC) != 0)
        return error_set(err, BU_E_INTERNAL, "cannot set up the listening socket: %s",
                         strerror(errno));
    l->fd = fd;
    opened_family = socket_family(fd);
    return 0;
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
/* ---- who may connect ------------------------------------------------ */

/* The first 12 bytes of an IPv4-mapped IPv6 address. */
static const unsigned char mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};

/* Parse one entry ("127.0.0.1", "::1", "10.0.0.0/8") of len bytes. */
static int parse_net(const char *s, size_t len, struct listener_net *net)
{
    char text[INET6_ADDRSTRLEN + 8];
    char *slash, *end;
    long prefix;

    if (len == 0 || len >= sizeof text)
        return -1;
    memcpy(text, s, len);
    text[len] = '\0';
    slash = strchr(text, '/');
    if (slash != NULL)
        *slash = '\0';
    memset(net, 0, sizeof *net);
    if (inet_pton(AF_INET, text, net->addr) == 1)
        net->family = AF_INET;
    else if (inet_pton(AF_INET6, text, net->addr) == 1)
        net->family = AF_INET6;
    else
        return -1;
    net->prefix = net->family == AF_INET ? 32 : 128;
    if (slash != NULL) {
        if (slash[1] < '0' || slash[1] > '9')
            return -1;
        errno = 0;
        prefix = strtol(slash + 1, &end, 10);
        if (errno != 0 || *end != '\0' || prefix > net->prefix)
            return -1;
        net->prefix = (int)prefix;
    }
    /* An IPv4-mapped entry (::ffff:10.0.0.1) is the IPv4 address it maps,
     * since peers are matched in that form (address_bytes). */
    if (net->family == AF_INET6 && net->prefix >= 96 && memcmp(net->addr, mapped_prefix, 12) == 0) {
        memmove(net->addr, net->addr + 12, 4);
        memset(net->addr + 4, 0, 12);
        net->family = AF_INET;
        net->prefix -= 96;
    }
    return 0;
}

int listener_parse_allow(const char *text, struct listener_allow *out, struct bu_error *err)
{
    static const char sep[] = " \t,";

    out->n = 0;
    for (const char *p = text + strspn(text, sep); *p != '\0'; p += strspn(p, sep)) {
        size_t len = strcspn(p, sep);
        if (out->n == LISTENER_ALLOW_MAX)
            return error_set(err, BU_E_BAD_CONFIG, "listen_allow holds more than %d entries",
                             LISTENER_ALLOW_MAX);
        if (parse_net(p, len, &out->net[out->n]) != 0)
            return error_set(err, BU_E_BAD_CONFIG,
                             "listen_allow: '%.*s' is not an IPv4 or IPv6 address or prefix "
                             "(such as 127.0.0.1, ::1 or 10.0.0.0/8)",
                             (int)len, p);
        out->n++;
        p += len;
    }
    if (out->n == 0)
        return error_set(err, BU_E_BAD_CONFIG,
                         "listen_allow is empty: no web server could connect (loopback is "
                         "127.0.0.1 ::1)");
    return 0;
}

static bool net_contains(const struct listener_net *net, int family, const unsigned char *addr)
{
    int full = net->prefix / 8, rest = net->prefix % 8;

    if (net->family != family || memcmp(net->addr, addr, (size_t)full) != 0)
        return false;
    if (rest == 0)
        return true;
    return ((net->addr[full] ^ addr[full]) & (0xFF << (8 - rest)) & 0xFF) == 0;
}

/* The family and bytes of an address, an IPv4-mapped IPv6 one as IPv4;
 * false for another family. */
static bool address_bytes(const struct sockaddr *sa, int *family, const unsigned char **addr)
{
    if (sa->sa_family == AF_INET) {
        *family = AF_INET;
        *addr = (const unsigned char *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr;
        return true;
    }
    if (sa->sa_family != AF_INET6)
        return false;
    *addr = ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr;
    *family = AF_INET6;
    if (memcmp(*addr, mapped_prefix, sizeof mapped_prefix) == 0) {
        *family = AF_INET;
        *addr += sizeof mapped_prefix;
    }
    return true;
}

bool listener_allow_match(const struct listener_allow *allow, const struct sockaddr *sa)
{
    const unsigned char *addr;
    int family;

    if (!address_bytes(sa, &family, &addr))
        return false;
    for (size_t i = 0; i < allow->n; i++)
        if (net_contains(&allow->net[i], family, addr))
            return true;
    return false;
}

bool listener_peer_allowed(const struct bu_config *cfg, int fd)
{
    struct sockaddr_storage peer;
    socklen_t len = sizeof peer;
    struct listener_allow allow;
    struct bu_error err;
    char text[INET6_ADDRSTRLEN] = "?";
    const unsigned char *addr;
    int family;

    if (socket_family(fd) == AF_UNIX)
        return true;
    memset(&peer, 0, sizeof peer);
    if (getpeername(fd, (struct sockaddr *)&peer, &len) != 0) {
        log_warn("refused a connection whose peer is unknown: %s", strerror(errno));
        return false;
    }
    if (listener_parse_allow(cfg->listen_allow, &allow, &err) == 0 &&
        listener_allow_match(&allow, (const struct sockaddr *)&peer))
        return true;
    if (address_bytes((const struct sockaddr *)&peer, &family, &addr))
        inet_ntop(family, addr, text, sizeof text);
    log_warn("refused a connection from %s: not in listen_allow (%s)", text, cfg->listen_allow);
    return false;
}

/* Does an entry of allow cover a loopback address or one of this host's? */
static bool allow_reaches_local(const struct listener_allow *allow)
{
    struct sockaddr_in v4 = {.sin_family = AF_INET};
    struct sockaddr_in6 v6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    struct ifaddrs *ifs, *i;
    bool local;

    v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    local = listener_allow_match(allow, (const struct sockaddr *)&v4) ||
            listener_allow_match(allow, (const struct sockaddr *)&v6);

    for (size_t k = 0; k < allow->n && !local; k++) {
        const struct listener_net *net = &allow->net[k];
        local = net->family == AF_INET && net->addr[0] == 127;
    }
    if (local || getifaddrs(&ifs) != 0)
        return true;
    for (i = ifs; i != NULL && !local; i = i->ifa_next)
        local = i->ifa_addr != NULL && listener_allow_match(allow, i->ifa_addr);
    freeifaddrs(ifs);
    return local;
}

int listener_check_remote_user(const struct bu_config *cfg, int family, struct bu_error *err)
{
    struct listener_allow allow;

    if (cfg->auth != CONFIG_AUTH_REMOTE_USER || family == AF_UNIX || cfg->remote_user_trust_tcp)
        return 0;
    if (listener_parse_allow(cfg->listen_allow, &allow, err) != 0)
        return -1;
    if (!allow_reaches_local(&allow))
        return 0;
    return error_set(err, BU_E_BAD_CONFIG,
                     "auth = remote_user on the TCP listener %s: any local process could connect "
                     "and claim any user; listen on a unix socket, or set remote_user_trust_tcp = "
                     "yes, or a listen_allow naming only the web server's address on another host",
                     config_listen_is_unix(cfg->listen) ? "passed as standard input" : cfg->listen);
}
