/*
 * test_listener.c - who may connect: listen_allow parsed and matched, and
 * listener_peer_allowed on real connections (a unix socketpair, TCP over
 * IPv4 and IPv6 loopback), the check the worker makes after each accept.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "batchup/listener.h"

static bool match(const char *allow_text, const char *address)
{
    struct listener_allow allow;
    struct bu_error err;
    struct sockaddr_storage ss;

    memset(&ss, 0, sizeof ss);
    if (inet_pton(AF_INET, address, &((struct sockaddr_in *)&ss)->sin_addr) == 1)
        ss.ss_family = AF_INET;
    else if (inet_pton(AF_INET6, address, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1)
        ss.ss_family = AF_INET6;
    else
        fail_msg("bad test address %s", address);
    assert_int_equal(listener_parse_allow(allow_text, &allow, &err), 0);
    return listener_allow_match(&allow, (struct sockaddr *)&ss);
}

static void test_allow_match(void **state)
{
    (void)state;
    assert_true(match("127.0.0.1 ::1", "127.0.0.1"));
    assert_true(match("127.0.0.1 ::1", "::1"));
    assert_false(match("127.0.0.1 ::1", "127.0.0.2"));
    assert_false(match("127.0.0.1 ::1", "10.0.0.1"));
    assert_true(match("127.0.0.1", "::ffff:127.0.0.1")); /* IPv4-mapped */
    assert_false(match("::1", "127.0.0.1"));
    assert_true(match("::ffff:127.0.0.1", "127.0.0.1")); /* found by fuzz_config */
    assert_true(match("::ffff:10.0.0.0/104", "::ffff:10.9.8.7"));
    assert_false(match("::ffff:10.0.0.0/104", "11.0.0.1"));
    assert_true(match("10.0.0.0/8", "10.255.1.2"));
    assert_false(match("10.0.0.0/8", "11.0.0.1"));
    assert_true(match("192.168.4.0/22", "192.168.7.255"));
    assert_false(match("192.168.4.0/22", "192.168.8.0"));
    assert_true(match("0.0.0.0/0", "203.0.113.9"));
    assert_false(match("0.0.0.0/0", "2001:db8::1"));
    assert_true(match("2001:db8::/32,fe80::/10", "2001:db8:ffff::1"));
    assert_true(match("2001:db8::/32,fe80::/10", "fe80::1"));
    assert_false(match("2001:db8::/32,fe80::/10", "2001:db9::1"));
    assert_true(match("1.2.3.4/31", "1.2.3.5"));
    assert_false(match("1.2.3.4/31", "1.2.3.6"));
}

static void test_allow_parse_errors(void **state)
{
    static const char *const bad[] = {"",         " , ",        "localhost",  "1.2.3",
                                      "1.2.3.4/", "1.2.3.4/-1", "1.2.3.4/33", "::1/129",
                                      "::1/1x",   "1.2.3.4 x",  "1.2.3.4/ 8", "[::1]"};
    struct listener_allow allow;
    struct bu_error err;
    char many[2048] = "";

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (listener_parse_allow(bad[i], &allow, &err) != -1)
            fail_msg("'%s' was accepted", bad[i]);
        assert_int_equal(err.id, BU_E_BAD_CONFIG);
    }
    for (int i = 0; i <= LISTENER_ALLOW_MAX; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "10.0.0.%d ", i);
    assert_int_equal(listener_parse_allow(many, &allow, &err), -1);
    assert_int_equal(listener_parse_allow(" 127.0.0.1,::1\t10.0.0.0/8 ", &allow, &err), 0);
    assert_int_equal(allow.n, 3);
}

/* Connect to a fresh listener on address (family) and return the accepted
 * end, as the worker gets it from accept4; -1 when the family is missing. */
static int accepted_from(int family, const char *address, int *client)
{
    struct sockaddr_storage ss;
    socklen_t len = family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    int l = socket(family, SOCK_STREAM, 0), fd;

    memset(&ss, 0, sizeof ss);
    ss.ss_family = (sa_family_t)family;
    inet_pton(family, address,
              family == AF_INET ? (void *)&((struct sockaddr_in *)&ss)->sin_addr
                                : (void *)&((struct sockaddr_in6 *)&ss)->sin6_addr);
    if (l < 0 || bind(l, (struct sockaddr *)&ss, len) != 0 || listen(l, 1) != 0) {
        if (l >= 0)
            close(l);
        return -1;
    }
    getsockname(l, (struct sockaddr *)&ss, &len);
    *client = socket(family, SOCK_STREAM, 0);
    assert_int_equal(connect(*client, (struct sockaddr *)&ss, len), 0);
    fd = accept(l, NULL, NULL);
    close(l);
    return fd;
}

static void test_peer_allowed_on_real_connections(void **state)
{
    struct bu_config cfg;
    int pair[2], fd, client;

    (void)state;
    config_defaults(&cfg);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
    snprintf(cfg.listen_allow, sizeof cfg.listen_allow, "192.0.2.1");
    assert_true(listener_peer_allowed(&cfg, pair[0])); /* unix: the mode decides */
    close(pair[0]);
    close(pair[1]);

    fd = accepted_from(AF_INET, "127.0.0.1", &client);
    assert_true(fd >= 0);
    snprintf(cfg.listen_allow, sizeof cfg.listen_allow, "127.0.0.1 ::1");
    assert_true(listener_peer_allowed(&cfg, fd));
    snprintf(cfg.listen_allow, sizeof cfg.listen_allow, "::1 10.0.0.0/8");
    assert_false(listener_peer_allowed(&cfg, fd));
    snprintf(cfg.listen_allow, sizeof cfg.listen_allow, "127.0.0.0/8");
    assert_true(listener_peer_allowed(&cfg, fd));
    close(fd);
    close(client);

    fd = accepted_from(AF_INET6, "::1", &client);
    if (fd >= 0) { /* a machine without IPv6 skips this part */
        snprintf(cfg.listen_allow, sizeof cfg.listen_allow, "127.0.0.1 ::1");
        assert_true(listener_peer_allowed(&cfg, fd));
        snprintf(cfg.listen_allow, sizeof cfg.listen_allow, "127.0.0.1");
        assert_false(listener_peer_allowed(&cfg, fd));
        close(fd);
        close(client);
    }
    assert_false(listener_peer_allowed(&cfg, -1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_allow_match),
        cmocka_unit_test(test_allow_parse_errors),
        cmocka_unit_test(test_peer_allowed_on_real_connections),
    };
    return cmocka_run_group_tests_name("listener", tests, NULL, NULL);
}
