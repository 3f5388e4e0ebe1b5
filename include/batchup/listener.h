/*
 * listener.h - the listening socket the workers accept on.
 */
#ifndef BATCHUP_LISTENER_H
#define BATCHUP_LISTENER_H

#include <stdbool.h>

#include "batchup/config.h"
#include "batchup/error.h"

struct listener {
    int fd;         /* non-blocking, shared by every worker */
    bool owns_path; /* a unix socket path we created, removed by listener_close */
    char path[256];
};

/* Take the socket systemd passed (socket activation: LISTEN_PID,
 * LISTEN_FDS, descriptor 3), else the one handed over on standard input
 * (spawn-fcgi, mod_fcgid, lighttpd's bin-path), else open cfg->listen. */
int listener_open(const struct bu_config *cfg, struct listener *l, struct bu_error *err);
/* How many connections wait to be accepted, and the most that may: from
 * the kernel (TCP_INFO, or the unix socket diagnostics).  0, or -1 when
 * it cannot tell (*queue and *backlog are then -1). */
int listener_queue(const struct listener *l, long *queue, long *backlog);
/* Close it, removing a unix socket path we created. */
void listener_close(struct listener *l);

#endif
