/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * address.h - the addresses of the FastCGI socket, parsed once: `listen`
 * (where the listener binds and `batchup status` connects) and
 * `listen_allow` (the TCP peers that may connect).
 */
#ifndef BATCHUP_ADDRESS_H
#define BATCHUP_ADDRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "batchup/error.h"

/* `listen`: a unix socket path (it holds a '/'), or host:port, where host
 * may be empty (every address) or an IPv6 address in brackets. */
struct address_listen {
    bool is_unix;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* unix */
    char host[256];                                         /* TCP: "" = any */
    char port[8];
};

/* One entry of listen_allow: an address, or a prefix ("10.0.0.0/8"). */
struct address_net {
    int family; /* AF_INET or AF_INET6 */
    int prefix; /* leading bits that must match */
    unsigned char addr[16];
};

#define ADDRESS_ALLOW_MAX 32

struct address_allow {
    size_t n;
    struct address_net net[ADDRESS_ALLOW_MAX];
};

/* Parse a listen value.  0, or -1 with err bad_config naming the value and
 * what is wrong with it. */
int address_parse_listen(const char *text, struct address_listen *out, struct bu_error *err);

/* Parse a listen_allow value: addresses and prefixes separated by spaces or
 * commas (at least one, at most ADDRESS_ALLOW_MAX).  0, or -1 with err
 * bad_config naming the entry. */
int address_parse_allow(const char *text, struct address_allow *out, struct bu_error *err);
/* Does the address sa (IPv4, IPv6, IPv4-mapped IPv6) match an entry? */
bool address_allow_match(const struct address_allow *allow, const struct sockaddr *sa);
/* Does an entry cover a loopback address or one of this host's (so that a
 * local process could connect)? */
bool address_allow_reaches_local(const struct address_allow *allow);

#endif
