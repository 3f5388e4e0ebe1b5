/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_log.c - the request line's path redaction: a download-link token
 * never reaches the log, however the path spells it; other paths pass
 * untouched; the output is bounded by its buffer.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "batchup/log.h"

#define TOKEN "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-abcde"

static void expect_redacted(const char *path, const char *want)
{
    char out[256];
    size_t n = log_redact_path(path, out, sizeof out);

    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));
}

static void test_tokens_are_cut(void **state)
{
    (void)state;
    expect_redacted("/api/v1/download/batch/" TOKEN, "/api/v1/download/batch/AbCd...");
    expect_redacted("/api/v1/download/batch/" TOKEN "/manifest",
                    "/api/v1/download/batch/AbCd.../manifest");
    expect_redacted("/api/v1/download/batch/" TOKEN "/files/x",
                    "/api/v1/download/batch/AbCd.../files/x");
    expect_redacted("/API/V1/DOWNLOAD/BATCH/" TOKEN, "/API/V1/DOWNLOAD/BATCH/AbCd...");
    expect_redacted("/api/v1/download/batch///" TOKEN, "/api/v1/download/batch///AbCd...");
    expect_redacted("/x/download/batch/" TOKEN "/download/batch/" TOKEN,
                    "/x/download/batch/AbCd.../download/batch/AbCd...");
    expect_redacted("/api/v1/download/batch/ab", "/api/v1/download/batch/ab...");
}

static void test_other_paths_pass(void **state)
{
    (void)state;
    expect_redacted("/api/v1/batches/0b6c3f1e-0000-4000-8000-000000000001",
                    "/api/v1/batches/0b6c3f1e-0000-4000-8000-000000000001");
    expect_redacted("/api/v1/download/stream/x", "/api/v1/download/stream/x");
    expect_redacted("/api/v1/download/batch/", "/api/v1/download/batch/");
    expect_redacted("", "");
}

static void test_bounded(void **state)
{
    char out[30];

    (void)state;
    memset(out, 'z', sizeof out);
    log_redact_path("/api/v1/download/batch/" TOKEN, out, sizeof out);
    assert_true(strlen(out) < sizeof out);
    assert_null(strstr(out, "EfGh"));
    memset(out, 'z', sizeof out);
    log_redact_path("/a/very/long/path/that/does/not/fit/here", out, 8);
    assert_string_equal(out, "/a/very");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokens_are_cut),
        cmocka_unit_test(test_other_paths_pass),
        cmocka_unit_test(test_bounded),
    };
    return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
