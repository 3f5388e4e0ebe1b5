/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * listener.h - the listening socket the workers accept on, and who may
 * connect to it.
 */
#ifndef BATCHUP_LISTENER_H
#define BATCHUP_LISTENER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "batchup/config.h"
#include "batchup/error.h"

struct listener {
    int fd;         /* non-blocking, shared by every worker */
    bool owns_path; /* a unix socket path we created, removed by listener_close */
    char path[256];
};

/* Is standard input a listening socket (a process manager started us)? */
bool listener_on_stdin(void);

/* Take the socket systemd passed (socket activation: LISTEN_PID,
 * LISTEN_FDS, descriptor 3), else the one handed over on standard input
 * (spawn-fcgi, mod_fcgid, lighttpd's bin-path), else open cfg->listen_addr
 * (close-on-exec from the start; a unix socket gets cfg->listen_mode).
 * Refuses (bad_config) auth = remote_user on a TCP socket that local
 * processes can reach, unless the operator said so. */
int listener_open(const struct bu_config *cfg, struct listener *l, struct bu_error *err);
/* Connect to the server listening at a, as a web server would (for
 * `batchup status`): the descriptor (close-on-exec), or -1 with err. */
int listener_connect(const struct address_listen *a, struct bu_error *err);
/* The address family of the socket this process (or its master) listens
 * on: AF_UNIX, AF_INET, AF_INET6, or AF_UNSPEC when none was opened. */
int listener_family(void);
/* How many connections wait to be accepted, and the most that may: from
 * the kernel (TCP_INFO, or the unix socket diagnostics).  0, or -1 when
 * it cannot tell (*queue and *backlog are then -1). */
int listener_queue(const struct listener *l, long *queue, long *backlog);
/* Close it, removing a unix socket path we created. */
void listener_close(struct listener *l);

/* May the peer of the accepted connection fd talk to us?  A unix socket
 * peer always may (the socket's permissions decide); a TCP peer must be in
 * cfg->listen_allow (as parsed with the configuration).  A refused peer is
 * logged. */
bool listener_peer_allowed(const struct bu_config *cfg, int fd);

#endif
