/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_batches.c - the POST /api/v1/batches body: its size bound derived
 * from max_batch_files, and the pre-scan that refuses too many files and
 * shapes no valid body has before jansson builds anything; and the open
 * batch's body ({"open": true}, files optional).
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchup/batches.h"
#include "batchup/check.h"

static enum bu_errcode parse_error(const char *body, int max_files)
{
    struct bu_config cfg;
    struct bu_error err;
    json_t *files;

    config_defaults(&cfg);
    cfg.max_batch_files = max_files;
    files = batches_parse(body, strlen(body), &cfg, &err);
    if (files != NULL) {
        json_decref(files);
        return BU_E_COUNT;
    }
    return err.id;
}

static void test_body_bound(void **state)
{
    struct bu_config cfg;

    (void)state;
    config_defaults(&cfg);
    /* Room for every file at its longest, written as escapes. */
    assert_true(batches_max_body(&cfg) >= (size_t)cfg.max_batch_files * 6 *
                                              (CHECK_FILE_NAME_MAX + CHECK_MEDIA_TYPE_MAX + 64));
    assert_true(batches_max_body(&cfg) < 9u << 20);
    cfg.max_batch_files = 1;
    assert_true(batches_max_body(&cfg) < 16u << 10);
}

static void test_prescan_counts_files(void **state)
{
    char body[4096] = "{\"files\":[";

    (void)state;
    for (int i = 0; i < 9; i++)
        strcat(body, i ? ",{\"name\":\"a,b]\\\"[{\",\"size\":1}" : "{\"name\":\"a\",\"size\":1}");
    strcat(body, "]}");
    assert_int_equal(parse_error(body, 9), BU_E_COUNT);
    assert_int_equal(parse_error(body, 8), BU_E_TOO_MANY_FILES);
    /* Even when the JSON is broken later on, the count is known first. */
    assert_int_equal(parse_error("{\"files\":[{},{},{},{},{}", 3), BU_E_TOO_MANY_FILES);
    assert_int_equal(parse_error("{\"files\":[{},{},{}", 3), BU_E_BAD_JSON);
}

static void test_prescan_shapes(void **state)
{
    (void)state;
    assert_int_equal(parse_error("[{}]", 10), BU_E_BAD_REQUEST);
    assert_int_equal(parse_error("{\"files\":[],\"x\":[]}", 10), BU_E_BAD_REQUEST);
    assert_int_equal(parse_error("{\"files\":{}}", 10), BU_E_BAD_REQUEST);
    assert_int_equal(parse_error("{\"files\":[[1]]}", 10), BU_E_BAD_REQUEST);
    assert_int_equal(parse_error("{\"files\":[{\"name\":[\"a\"],\"size\":1}]}", 10),
                     BU_E_BAD_REQUEST);
    assert_int_equal(parse_error("{\"files\":[{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5}]}", 10),
                     BU_E_BAD_REQUEST);
    assert_int_equal(parse_error("{\"files\":[{\"name\":\"[[[[{{{{,,,,\",\"size\":1}]}", 10),
                     BU_E_COUNT);
    assert_int_equal(parse_error("{\"files\":[{\"name\":\"a\",\"size\":1}]", 10), BU_E_BAD_JSON);
    assert_int_equal(parse_error("", 10), BU_E_BAD_JSON);
}

/* batches_parse_body: the number of files, -1 refused as bad_request, -2
 * any other refusal; *open as read. */
static int parse_open(const char *body, bool *open)
{
    struct bu_config cfg;
    struct bu_error err;
    json_t *files;
    int n;

    config_defaults(&cfg);
    cfg.max_batch_files = 3;
    files = batches_parse_body(body, strlen(body), &cfg, open, &err);
    if (files == NULL)
        return err.id == BU_E_BAD_REQUEST ? -1 : -2;
    n = (int)json_array_size(files);
    json_decref(files);
    return n;
}

static void test_open_bodies(void **state)
{
    bool open = true;

    (void)state;
    assert_int_equal(parse_open("{\"files\":[{\"name\":\"a\",\"size\":1}]}", &open), 1);
    assert_false(open);
    assert_int_equal(parse_open("{\"open\":true}", &open), 0);
    assert_true(open);
    assert_int_equal(parse_open("{\"open\":true,\"files\":[]}", &open), 0);
    assert_int_equal(parse_open("{\"files\":[{\"name\":\"a\",\"size\":1}],\"open\":true}", &open),
                     1);
    assert_true(open);
    assert_int_equal(parse_open("{\"open\":false,\"files\":[{\"name\":\"a\",\"size\":1}]}", &open),
                     1);
    assert_false(open);
    /* Not open: a list of at least one file is needed. */
    assert_int_equal(parse_open("{\"open\":false}", &open), -1);
    assert_int_equal(parse_open("{\"open\":false,\"files\":[]}", &open), -1);
    assert_int_equal(parse_open("{}", &open), -1);
    /* open is a boolean, and the only other key. */
    assert_int_equal(parse_open("{\"open\":\"yes\"}", &open), -1);
    assert_int_equal(parse_open("{\"open\":1,\"files\":[]}", &open), -1);
    assert_int_equal(parse_open("{\"open\":true,\"x\":1}", &open), -1);
    assert_int_equal(parse_open("{\"open\":true,\"files\":[],\"x\":1}", &open), -1);
    assert_int_equal(parse_open("{\"open\":true,\"files\":{}}", &open), -1);
    /* The count still bounds an open batch's list. */
    assert_int_equal(parse_open("{\"open\":true,\"files\":[{},{},{},{}]}", &open), -2);
}

/* A million "{}" is refused by the count, before jansson sees it. */
static void test_prescan_bomb(void **state)
{
    size_t n = 1000000, len = 10 + 3 * n + 2;
    char *body = malloc(len + 1), *p = body;

    (void)state;
    assert_non_null(body);
    p += sprintf(p, "{\"files\":[");
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, i ? ",{}" : "{} ");
    sprintf(p, "]}");
    assert_int_equal(parse_error(body, 1000), BU_E_TOO_MANY_FILES);
    free(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_body_bound),     cmocka_unit_test(test_prescan_counts_files),
        cmocka_unit_test(test_prescan_shapes), cmocka_unit_test(test_prescan_bomb),
        cmocka_unit_test(test_open_bodies), // clang-format keeps one test a line
    };
    return cmocka_run_group_tests_name("batches", tests, NULL, NULL);
}
