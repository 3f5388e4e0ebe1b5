/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_listener.c - who may connect: listen_allow parsed and matched
 * (address.c), listener_peer_allowed on real connections (a unix
 * socketpair, TCP over IPv4 and IPv6 loopback), the check the worker makes
 * after each accept; and the socket itself, opened from `listen` as the
 * configuration parsed it and reached by listener_connect.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batchup/address.h"
#include "batchup/listener.h"

static bool match(const char *allow_text, const char *address)
{
    struct address_allow allow;
    struct bu_error err;
    struct sockaddr_storage ss;

    memset(&ss, 0, sizeof ss);
    if (inet_pton(AF_INET, address, &((struct sockaddr_in *)&ss)->sin_addr) == 1)
        ss.ss_family = AF_INET;
    else if (inet_pton(AF_INET6, address, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1)
        ss.ss_family = AF_INET6;
    else
        fail_msg("bad test address %s", address);
    assert_int_equal(address_parse_allow(allow_text, &allow, &err), 0);
    return address_allow_match(&allow, (struct sockaddr *)&ss);
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
    struct address_allow allow;
    struct bu_error err;
    char many[2048] = "";

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (address_parse_allow(bad[i], &allow, &err) != -1)
            fail_msg("'%s' was accepted", bad[i]);
        assert_int_equal(err.id, BU_E_BAD_CONFIG);
    }
    for (int i = 0; i <= ADDRESS_ALLOW_MAX; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "10.0.0.%d ", i);
    assert_int_equal(address_parse_allow(many, &allow, &err), -1);
    assert_int_equal(address_parse_allow(" 127.0.0.1,::1\t10.0.0.0/8 ", &allow, &err), 0);
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

/* listener_peer_allowed for fd, with listen_allow set to allow_text. */
static bool allowed_under(struct bu_config *cfg, const char *allow_text, int fd)
{
    struct bu_error err;

    assert_int_equal(config_set(cfg, "listen_allow", allow_text, &err), 0);
    return listener_peer_allowed(cfg, fd);
}

static void test_peer_allowed_on_real_connections(void **state)
{
    struct bu_config cfg;
    int pair[2], fd, client;

    (void)state;
    config_defaults(&cfg);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
    assert_true(allowed_under(&cfg, "192.0.2.1", pair[0])); /* unix: the mode decides */
    close(pair[0]);
    close(pair[1]);

    fd = accepted_from(AF_INET, "127.0.0.1", &client);
    assert_true(fd >= 0);
    assert_true(allowed_under(&cfg, "127.0.0.1 ::1", fd));
    assert_false(allowed_under(&cfg, "::1 10.0.0.0/8", fd));
    assert_true(allowed_under(&cfg, "127.0.0.0/8", fd));
    close(fd);
    close(client);

    fd = accepted_from(AF_INET6, "::1", &client);
    if (fd >= 0) { /* a machine without IPv6 skips this part */
        assert_true(allowed_under(&cfg, "127.0.0.1 ::1", fd));
        assert_false(allowed_under(&cfg, "127.0.0.1", fd));
        close(fd);
        close(client);
    }
    assert_false(listener_peer_allowed(&cfg, -1));
}

/* `listen` parsed once into the structure the listener and `batchup
 * status` share: the rules of each form. */
static void test_parse_listen(void **state)
{
    struct address_listen a;
    struct bu_error err;
    char longest[200];

    (void)state;
    assert_int_equal(address_parse_listen("[::1]:9000", &a, &err), 0);
    assert_false(a.is_unix);
    assert_string_equal(a.host, "::1");
    assert_string_equal(a.port, "9000");
    assert_int_equal(address_parse_listen(":9000", &a, &err), 0);
    assert_string_equal(a.host, "");
    assert_int_equal(address_parse_listen("::1:65535", &a, &err), 0);
    assert_string_equal(a.host, "::1");
    assert_int_equal(address_parse_listen("run/b.sock", &a, &err), 0);
    assert_true(a.is_unix);
    assert_string_equal(a.path, "run/b.sock");
    memset(longest, 'x', sizeof longest);
    longest[0] = '/';
    longest[107] = '\0'; /* 107 bytes: the most a sun_path holds */
    assert_int_equal(address_parse_listen(longest, &a, &err), 0);
    longest[107] = 'x';
    longest[108] = '\0';
    assert_int_equal(address_parse_listen(longest, &a, &err), -1);
    assert_non_null(strstr(err.message, "107"));
    static const char *const bad[] = {"nowhere", "h:0", "h:65536", "h:+80",
                                      "h:80x",   "h:",  "a/b:c",   "h: 80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (address_parse_listen(bad[i], &a, &err) != -1)
            fail_msg("'%s' was accepted", bad[i]);
        assert_int_equal(err.id, BU_E_BAD_CONFIG);
        assert_non_null(strstr(err.message, "'listen'"));
    }
}

/* An IPv6 listen address in brackets is the address inside them: the
 * listener binds ::1 (a machine without IPv6 skips this). */
static void test_open_ipv6_brackets(void **state)
{
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    socklen_t len = sizeof sa;
    struct bu_config cfg;
    struct bu_error err;
    struct listener l;
    char text[64];
    int probe = socket(AF_INET6, SOCK_STREAM, 0), fd;

    (void)state;
    if (probe < 0 || bind(probe, (struct sockaddr *)&sa, sizeof sa) != 0) {
        if (probe >= 0)
            close(probe);
        skip();
    }
    assert_int_equal(getsockname(probe, (struct sockaddr *)&sa, &len), 0);
    close(probe);
    snprintf(text, sizeof text, "[::1]:%d", ntohs(sa.sin6_port));
    config_defaults(&cfg);
    assert_int_equal(config_set(&cfg, "listen", text, &err), 0);
    if (listener_open(&cfg, &l, &err) != 0)
        fail_msg("listen = %s: %s", text, err.message);
    fd = socket(AF_INET6, SOCK_STREAM, 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    close(fd);
    close(l.fd);
}

/* listener_open on `listen` as the configuration parsed it, and
 * listener_connect (what `batchup status` uses) to the same structure: a
 * relative unix socket path, bound close-on-exec and non-blocking with
 * exactly listen_mode; refused while a server answers on it; replaced when
 * nobody does any more (a server that died); and a TCP host:port. */
static void test_open_and_connect(void **state)
{
    char dir[] = "/tmp/batchup-listener-XXXXXX", cwd[1024];
    struct bu_config cfg;
    struct bu_error err;
    struct listener l, second;
    struct stat st;
    int fd, srv;

    (void)state;
    assert_non_null(mkdtemp(dir));
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(dir), 0);
    config_defaults(&cfg);
    assert_int_equal(config_set(&cfg, "listen", "./b.sock", &err), 0);
    assert_int_equal(config_set(&cfg, "listen_mode", "0640", &err), 0);
    assert_int_equal(listener_open(&cfg, &l, &err), 0);
    assert_int_equal(fcntl(l.fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    assert_int_equal(fcntl(l.fd, F_GETFL) & O_NONBLOCK, O_NONBLOCK);
    assert_int_equal(stat("b.sock", &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);
    assert_int_equal(listener_family(), AF_UNIX);

    fd = listener_connect(&cfg.listen_addr, &err);
    assert_true(fd >= 0);
    assert_int_equal(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    srv = accept(l.fd, NULL, NULL);
    assert_true(srv >= 0);
    assert_int_equal(send(fd, "x", 1, 0), 1);
    close(fd);
    close(srv);

    /* A second server on the same path is refused, the socket kept. */
    assert_int_equal(listener_open(&cfg, &second, &err), -1);
    assert_non_null(strstr(err.message, "already answers"));
    assert_int_equal(stat("b.sock", &st), 0);

    /* Nobody answers any more: the stale path is replaced. */
    close(l.fd);
    assert_int_equal(listener_open(&cfg, &second, &err), 0);
    fd = listener_connect(&cfg.listen_addr, &err);
    assert_true(fd >= 0);
    close(fd);
    close(second.fd);
    listener_close(&second);
    assert_int_equal(stat("b.sock", &st), -1);
    assert_int_equal(listener_connect(&cfg.listen_addr, &err), -1);
    assert_non_null(strstr(err.message, "./b.sock"));

    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(rmdir(dir), 0);
}

static void test_open_and_connect_tcp(void **state)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof sa;
    struct bu_config cfg;
    struct bu_error err;
    struct listener l;
    char listen_text[64];
    int probe = socket(AF_INET, SOCK_STREAM, 0), fd, srv;

    (void)state;
    /* A port free a moment ago. */
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(probe, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(probe, (struct sockaddr *)&sa, &len), 0);
    close(probe);
    snprintf(listen_text, sizeof listen_text, "127.0.0.1:%d", ntohs(sa.sin_port));
    config_defaults(&cfg);
    assert_int_equal(config_set(&cfg, "listen", listen_text, &err), 0);
    assert_int_equal(listener_open(&cfg, &l, &err), 0);
    assert_int_equal(fcntl(l.fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    assert_int_equal(listener_family(), AF_INET);
    fd = listener_connect(&cfg.listen_addr, &err);
    assert_true(fd >= 0);
    srv = accept(l.fd, NULL, NULL);
    assert_true(srv >= 0);
    assert_true(listener_peer_allowed(&cfg, srv)); /* 127.0.0.1, the default listen_allow */
    close(srv);
    close(fd);
    close(l.fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_allow_match),
        cmocka_unit_test(test_allow_parse_errors),
        cmocka_unit_test(test_peer_allowed_on_real_connections),
        cmocka_unit_test(test_parse_listen),
        cmocka_unit_test(test_open_ipv6_brackets),
        cmocka_unit_test(test_open_and_connect),
        cmocka_unit_test(test_open_and_connect_tcp),
    };
    return cmocka_run_group_tests_name("listener", tests, NULL, NULL);
}
