/*
 * listener.c - the listening socket the workers accept on.
 *
 * The master opens it once, before forking, and every worker accepts on
 * it (non-blocking: the workers that lose the race for a connection get
 * EAGAIN).  When standard input is already a listening socket, a process
 * manager (spawn-fcgi, Apache's mod_fcgid, lighttpd's bin-path) opened it
 * for us, and we serve on it instead of `listen`.
 *
 * libfcgi unlinks a unix socket path without looking; we look first, so a
 * second server cannot silently steal the first one's socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
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

int listener_open(const struct bu_config *cfg, struct listener *l, struct bu_error *err)
{
    int fd;

    l->fd = -1;
    l->owns_path = false;
    if (is_listening_socket(0)) {
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

