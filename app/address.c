/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * address.c - the addresses of the FastCGI socket, parsed once, when the
 * configuration is read: `listen` into the unix path or host and port that
 * the listener binds and `batchup status` connects to, and `listen_allow`
 * into the prefixes that the listener matches every TCP peer against.
 *
 * It sits below config.c and listener.c and knows neither: config.c keeps
 * the parsed forms beside the text (struct bu_config), so no connection
 * parses the policy again, and the listener and the status command read
 * one structure instead of each taking the text apart its own way.
 *
 * listen_allow entries are IPv4 or IPv6 addresses, each with an optional
 * prefix length; an IPv4-mapped IPv6 entry or peer is taken as the IPv4
 * address it maps, so that one entry covers a peer however the socket
 * reports it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchup/address.h"

/* ---- listen ----------------------------------------------------------- */

static int bad_listen(struct bu_error *err, const char *text, const char *why)
{
    return error_set(err, BU_E_BAD_CONFIG, "bad value for 'listen': '%s' (%s)", text, why);
}

int address_parse_listen(const char *text, struct address_listen *out, struct bu_error *err)
{
    const char *colon = strrchr(text, ':'), *host = text;
    size_t host_len;
    char *end;
    long port;

    memset(out, 0, sizeof *out);
    if (strchr(text, '/') != NULL) {
        if (colon != NULL)
            return bad_listen(err, text, "a unix socket path may not hold ':'");
        if (strlen(text) >= sizeof out->path)
            return bad_listen(err, text, "a unix socket path is at most 107 bytes");
        out->is_unix = true;
        memcpy(out->path, text, strlen(text) + 1);
        return 0;
    }
    if (colon == NULL)
        return bad_listen(err, text, "expected host:port or a unix socket path");
    errno = 0;
    port = colon[1] >= '0' && colon[1] <= '9' ? strtol(colon + 1, &end, 10) : -1;
    if (port < 1 || port > 65535 || errno != 0 || *end != '\0')
        return bad_listen(err, text, "port must be 1..65535");
    host_len = (size_t)(colon - text);
    /* An IPv6 address in brackets ("[::1]:9000") is the address inside. */
    if (host_len >= 2 && text[0] == '[' && text[host_len - 1] == ']') {
        host++;
        host_len -= 2;
    }
    if (host_len >= sizeof out->host)
        return bad_listen(err, text, "the host name is too long");
    memcpy(out->host, host, host_len);
    snprintf(out->port, sizeof out->port, "%ld", port);
    return 0;
}

/* ---- listen_allow ------------------------------------------------------ */

/* The first 12 bytes of an IPv4-mapped IPv6 address. */
static const unsigned char mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};

/* Parse one entry ("127.0.0.1", "::1", "10.0.0.0/8") of len bytes. */
static int parse_net(const char *s, size_t len, struct address_net *net)
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

int address_parse_allow(const char *text, struct address_allow *out, struct bu_error *err)
{
    static const char sep[] = " \t,";

    out->n = 0;
    for (const char *p = text + strspn(text, sep); *p != '\0'; p += strspn(p, sep)) {
        size_t len = strcspn(p, sep);
        if (out->n == ADDRESS_ALLOW_MAX)
            return error_set(err, BU_E_BAD_CONFIG, "listen_allow holds more than %d entries",
                             ADDRESS_ALLOW_MAX);
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

static bool net_contains(const struct address_net *net, int family, const unsigned char *addr)
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

bool address_allow_match(const struct address_allow *allow, const struct sockaddr *sa)
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

bool address_allow_reaches_local(const struct address_allow *allow)
{
    struct sockaddr_in v4 = {.sin_family = AF_INET};
    struct sockaddr_in6 v6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    struct ifaddrs *ifs, *i;
    bool local;

    v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    local = address_allow_match(allow, (const struct sockaddr *)&v4) ||
            address_allow_match(allow, (const struct sockaddr *)&v6);

    for (size_t k = 0; k < allow->n && !local; k++) {
        const struct address_net *net = &allow->net[k];
        local = net->family == AF_INET && net->addr[0] == 127;
    }
    if (local || getifaddrs(&ifs) != 0)
        return true;
    for (i = ifs; i != NULL && !local; i = i->ifa_next)
        local = i->ifa_addr != NULL && address_allow_match(allow, i->ifa_addr);
    freeifaddrs(ifs);
    return local;
}
