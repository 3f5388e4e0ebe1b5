/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_error_status.c - the command line's own errors: `usage` and
 * `bad_config` carry status 0 (no HTTP meaning) and exit status 2, every
 * other error an HTTP error status and exit status 1; and an error of
 * status 0 that reaches a response is answered 500, with a log line.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batchup/error.h"
#include "batchup/http.h"

static void test_cli_codes_have_no_http_status(void **state)
{
    struct bu_error err;
    int cli = 0;

    (void)state;
    for (int id = 0; id < BU_E_COUNT; id++) {
        error_set(&err, id, "x");
        if (err.status == 0) {
            cli++;
            assert_true(strcmp(err.code, "usage") == 0 || strcmp(err.code, "bad_config") == 0);
            assert_int_equal(error_exit_status(&err), 2);
        } else {
            assert_in_range(err.status, 400, 599);
            assert_int_equal(error_exit_status(&err), 1);
        }
    }
    assert_int_equal(cli, 2);
    error_set(&err, BU_E_USAGE, "x");
    assert_int_equal(err.status, 0);
    error_set(&err, BU_E_BAD_CONFIG, "x");
    assert_int_equal(err.status, 0);
}

static struct fcgi_conn conn;
static struct http_request req;

/* Answer err on a request whose connection never reaches a socket (the
 * head stays in conn.out), with descriptor 2 on a file: what was logged
 * goes to logged. */
static void answer(const struct bu_error *err, char *logged, size_t cap)
{
    FILE *f = tmpfile();
    int saved = dup(2);
    size_t n;

    assert_non_null(f);
    memset(&conn, 0, sizeof conn);
    conn.fd = -1;
    http_request_init(&req, &conn, NULL, NULL);
    req.method = "GET";
    snprintf(req.path, sizeof req.path, "/test");
    dup2(fileno(f), 2);
    http_send_error(&req, err);
    dup2(saved, 2);
    close(saved);
    rewind(f);
    n = fread(logged, 1, cap - 1, f);
    logged[n] = '\0';
    fclose(f);
}

static void test_leak_answered_500(void **state)
{
    struct bu_error err;
    char logged[1024];

    (void)state;
    error_set(&err, BU_E_USAGE, "usage: batchup serve");
    answer(&err, logged, sizeof logged);
    assert_int_equal(req.out.status, 500);
    assert_true(conn.out_len > 12 && memcmp(conn.out, "Status: 500 ", 12) == 0);
    assert_non_null(strstr(logged, "status 0 is not an HTTP status; answering 500"));
    error_set(&err, BU_E_NOT_FOUND, "no such upload");
    answer(&err, logged, sizeof logged);
    assert_int_equal(req.out.status, 404);
    assert_true(conn.out_len > 12 && memcmp(conn.out, "Status: 404 ", 12) == 0);
    assert_string_equal(logged, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli_codes_have_no_http_status),
        cmocka_unit_test(test_leak_answered_500),
    };
    return cmocka_run_group_tests_name("error_status", tests, NULL, NULL);
}
