/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz_config.c - libFuzzer harness for the configuration's value parsers,
 * listen_allow above all (its entries decide which peers may connect):
 * the input, split at its first newline into a key and a value, goes
 * through config_set for that key and for listen_allow, listen_mode and
 * listen; and through address_parse_allow directly.
 *
 *   make fuzz; build/fuzz/fuzz_config -max_total_time=30 tests/fuzz/corpus/fuzz_config
 *
 * Besides memory errors it checks the parser's promises: an accepted list
 * has 1..ADDRESS_ALLOW_MAX entries of a known family with a prefix within
 * its address length, matches its own entries' addresses (IPv4-mapped ones
 * are IPv4: an IPv6 entry never covers them), and a value
 * refused leaves the configuration as it was; every message is one line.
 */
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "batchup/config.h"
#include "batchup/address.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned char mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};

static void check_allow(const char *value)
{
    struct address_allow allow;
    struct bu_error err;

    if (address_parse_allow(value, &allow, &err) != 0) {
        if (err.id != BU_E_BAD_CONFIG || strchr(err.message, '\n') != NULL)
            abort();
        return;
    }
    if (allow.n == 0 || allow.n > ADDRESS_ALLOW_MAX)
        abort();
    for (size_t i = 0; i < allow.n; i++) {
        const struct address_net *net = &allow.net[i];
        struct sockaddr_storage ss;
        memset(&ss, 0, sizeof ss);
        if (net->family == AF_INET && net->prefix <= 32) {
            ss.ss_family = AF_INET;
            memcpy(&((struct sockaddr_in *)&ss)->sin_addr, net->addr, 4);
        } else if (net->family == AF_INET6 && net->prefix <= 128) {
            /* An IPv4-mapped address is matched as IPv4, never against an
             * IPv6 entry (a prefix shorter than /96 over ::ffff:0:0/96). */
            if (memcmp(net->addr, mapped_prefix, sizeof mapped_prefix) == 0)
                continue;
            ss.ss_family = AF_INET6;
            memcpy(&((struct sockaddr_in6 *)&ss)->sin6_addr, net->addr, 16);
        } else {
            abort();
        }
        if (!address_allow_match(&allow, (struct sockaddr *)&ss))
            abort();
    }
}

static void check_set(const char *key, const char *value)
{
    struct bu_config cfg, before;
    struct bu_error err;

    config_defaults(&cfg);
    memcpy(&before, &cfg, sizeof cfg);
    if (config_set(&cfg, key, value, &err) != 0 &&
        (memcmp(&cfg, &before, sizeof cfg) != 0 || strchr(err.message, '\n') != NULL))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1), *value;

    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    value = strchr(s, '\n');
    if (value != NULL) {
        *value++ = '\0';
        check_set(s, value);
    } else {
        value = s;
    }
    check_allow(value);
    check_set("listen_allow", value);
    check_set("listen_mode", value);
    check_set("listen", value);
    free(s);
    return 0;
}
