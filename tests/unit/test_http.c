/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_http.c - the response head (app/http.c): the handler sets
 * req->out.status and adds headers, and the head is rendered from that
 * structure in one place when it goes out (issue 25, item 5).  The bytes
 * are read back from the connection's output buffer, where fcgi.c gathers
 * a small response before it frames it into records.
 *
 * The behaviours: the status line comes from out.status, the handler's
 * headers follow in order, then the route's; an error keeps the headers
 * added for its own status and drops those of another (a 201's Location);
 * a head that never had a status, or that does not fit with its blank
 * line, is a bare 500, never a 200 nor a head without its end.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "batchup/http.h"

static struct fcgi_conn conn;
static struct http_request req;

/* A request on a connection that never reaches a socket: the head of any
 * small answer stays in conn.out. */
static void request(const char *method)
{
    memset(&conn, 0, sizeof conn);
    conn.fd = -1;
    http_request_init(&req, &conn, NULL, NULL);
    req.method = method;
    snprintf(req.path, sizeof req.path, "/test");
}

/* What went out, as a string. */
static const char *sent(void)
{
    static char text[FCGI_OUT_SIZE + 1];

    memcpy(text, conn.out, conn.out_len);
    text[conn.out_len] = '\0';
    return text;
}

static void test_head_from_status_field(void **state)
{
    (void)state;
    request("POST");
    req.route_header = "Tus-Resumable: 1.0.0";
    req.out.status = 201;
    http_add_header(&req, "Location", "/api/v1/files/%s", "x");
    http_send_empty(&req, 201);
    assert_string_equal(sent(), "Status: 201 Created\r\n"
                                "Location: /api/v1/files/x\r\n"
                                "Content-Length: 0\r\n"
                                "Tus-Resumable: 1.0.0\r\n"
                                "\r\n");
    assert_int_equal(req.out.status, 201);
    assert_true(req.out.head_sent);
}

static void test_error_keeps_its_own_headers(void **state)
{
    struct bu_error err;

    (void)state;
    request("HEAD");
    error_set(&err, BU_E_RANGE_NOT_SATISFIABLE, "the file has 5 bytes");
    req.out.status = err.status;
    http_add_header(&req, "Content-Range", "bytes */5");
    http_send_error(&req, &err);
    assert_string_equal(sent(), "Status: 416 Range Not Satisfiable\r\n"
                                "Content-Range: bytes */5\r\n"
                                "Cache-Control: no-store\r\n"
                                "\r\n");
}

static void test_error_drops_another_status_headers(void **state)
{
    struct bu_error err;

    (void)state;
    request("HEAD");
    req.out.status = 201;
    http_add_header(&req, "Location", "/api/v1/batches/x");
    error_set(&err, BU_E_INTERNAL, "failed after all");
    http_send_error(&req, &err);
    assert_string_equal(sent(), "Status: 500 Internal Server Error\r\n"
                                "Cache-Control: no-store\r\n"
                                "\r\n");
    assert_int_equal(req.out.status, 500);
}

static void test_no_status_is_500(void **state)
{
    (void)state;
    request("GET");
    http_add_header(&req, "Content-Length", "1");
    http_write(&req, "x", 1);
    assert_string_equal(sent(), "Status: 500 Internal Server Error\r\n\r\nx");
    assert_int_equal(req.out.status, 500);
}

/* Two headers that fill the head to two bytes short of HTTP_HEAD_MAX with
 * its status line: everything fits but the blank line that ends it. */
static void test_head_without_room_for_its_end_is_500(void **state)
{
    char value[2035];

    (void)state;
    request("HEAD"); /* no Content-Length added */
    memset(value, 'v', sizeof value - 1);
    value[sizeof value - 1] = '\0';
    req.out.status = 200; /* "Status: 200 OK\r\n", 16 bytes */
    http_add_header(&req, "A", "%s", value);
    http_add_header(&req, "B", "%s", value);
    assert_int_equal(16 + 2 * (3 + 2034 + 2), HTTP_HEAD_MAX - 2);
    http_send_empty(&req, 200);
    assert_string_equal(sent(), "Status: 500 Internal Server Error\r\n\r\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_head_from_status_field),
        cmocka_unit_test(test_error_keeps_its_own_headers),
        cmocka_unit_test(test_error_drops_another_status_headers),
        cmocka_unit_test(test_no_status_is_500),
        cmocka_unit_test(test_head_without_room_for_its_end_is_500),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
