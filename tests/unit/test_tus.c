/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_tus.c - the tus header parsers (base64, Upload-Metadata,
 * Upload-Checksum, offsets), the batch body validator and API tokens:
 * everything in the upload path that reads a client's bytes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchup/auth.h"
#include "batchup/batches.h"
#include "batchup/tus.h"

static void test_base64(void **state)
{
    unsigned char out[32];

    (void)state;
    assert_int_equal(tus_base64_decode("aGVsbG8=", 8, out, sizeof out), 5);
    assert_memory_equal(out, "hello", 5);
    assert_int_equal(tus_base64_decode("aGVsbG8", 7, out, sizeof out), 5); /* no padding */
    assert_int_equal(tus_base64_decode("", 0, out, sizeof out), 0);
    assert_int_equal(tus_base64_decode("aGVs*G8=", 8, out, sizeof out), -1);
    assert_int_equal(tus_base64_decode("a", 1, out, sizeof out), -1);
    assert_int_equal(tus_base64_decode("aGVsbG8=", 8, out, 4), -1); /* does not fit */
}

static void test_metadata(void **state)
{
    char v[64];

    (void)state;
    /* filename "a b.txt", filetype "text/plain", and a key without value. */
    const char *h = "filename YSBiLnR4dA==,filetype dGV4dC9wbGFpbg==,is_confidential";
    assert_true(tus_metadata_valid(h));
    assert_int_equal(tus_metadata_get(h, "filename", v, sizeof v), TUS_METADATA_FOUND);
    assert_string_equal(v, "a b.txt");
    assert_int_equal(tus_metadata_get(h, "filetype", v, sizeof v), TUS_METADATA_FOUND);
    assert_string_equal(v, "text/plain");
    assert_int_equal(tus_metadata_get(h, "is_confidential", v, sizeof v), TUS_METADATA_FOUND);
    assert_string_equal(v, "");
    assert_int_equal(tus_metadata_get(h, "name", v, sizeof v), TUS_METADATA_ABSENT);
    assert_int_equal(tus_metadata_get(NULL, "name", v, sizeof v), TUS_METADATA_ABSENT);
    assert_false(tus_metadata_valid("filename ***"));
    assert_false(tus_metadata_valid("filename YQ==,,x"));
    assert_false(tus_metadata_valid("filename YQ== x"));
    /* A value with an embedded NUL ("a\0b") is refused, not truncated. */
    assert_int_equal(tus_metadata_get("filename YQBi", "filename", v, sizeof v), TUS_METADATA_BAD);
    /* A value too long for the buffer is refused. */
    assert_int_equal(tus_metadata_get("filename YWJjZGVmZ2hpams=", "filename", v, 4),
                     TUS_METADATA_BAD);
}

static void test_checksum(void **state)
{
    struct tus_checksum ck;

    (void)state;
    /* sha1("") and sha256("") in base64. */
    assert_int_equal(tus_parse_checksum("sha1 2jmj7l5rSw0yVb/vlWAYkK/YBwk=", &ck), TUS_CHECKSUM_OK);
    assert_int_equal(ck.algo, TUS_ALGO_SHA1);
    assert_int_equal(ck.len, 20);
    assert_int_equal(ck.digest[0], 0xda);
    assert_int_equal(tus_parse_checksum("sha256 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", &ck),
                     TUS_CHECKSUM_OK);
    assert_int_equal(ck.algo, TUS_ALGO_SHA256);
    assert_int_equal(ck.digest[0], 0xe3);
    assert_int_equal(tus_parse_checksum("md5 1B2M2Y8AsgTpgAmY7PhCfg==", &ck),
                     TUS_CHECKSUM_UNSUPPORTED);
    assert_int_equal(tus_parse_checksum("sha1", &ck), TUS_CHECKSUM_MALFORMED);
    assert_int_equal(tus_parse_checksum("sha1 AAAA", &ck),
                     TUS_CHECKSUM_MALFORMED); /* wrong length */
    assert_int_equal(tus_parse_checksum("sha256 !!!", &ck), TUS_CHECKSUM_MALFORMED);
}

static void test_u64(void **state)
{
    uint64_t v;

    (void)state;
    assert_int_equal(tus_parse_u64("0", &v), 0);
    assert_true(v == 0);
    assert_int_equal(tus_parse_u64("9223372036854775807", &v), 0);
    assert_true(v == 9223372036854775807ULL);
    assert_int_equal(tus_parse_u64("9223372036854775808", &v), -1);
    assert_int_equal(tus_parse_u64("99999999999999999999", &v), -1);
    assert_int_equal(tus_parse_u64("-1", &v), -1);
    assert_int_equal(tus_parse_u64(" 1", &v), -1);
    assert_int_equal(tus_parse_u64("1e3", &v), -1);
    assert_int_equal(tus_parse_u64("", &v), -1);
    assert_int_equal(tus_parse_u64(NULL, &v), -1);
}

static void expect_batch_error(const char *body, int status, const char *code)
{
    struct bu_config cfg;
    struct bu_error err = {0};
    json_t *files;

    config_defaults(&cfg);
    cfg.max_batch_files = 3;
    cfg.max_file_size = 1000;
    files = batches_parse(body, strlen(body), &cfg, &err);
    if (files != NULL) {
        json_decref(files);
        fail_msg("accepted: %s", body);
    }
    if (err.status != status || strcmp(err.code, code) != 0)
        fail_msg("%s: got %d %s (%s), expected %d %s", body, err.status, err.code, err.message,
                 status, code);
}

static void test_batch_body(void **state)
{
    struct bu_config cfg;
    struct bu_error err = {0};
    const char *ok =
        "{\"files\":[{\"name\":\"a.jpg\",\"size\":10,\"type\":\"image/jpeg\","
        "\"sha256\":\"E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855\"},"
        "{\"name\":\"\xc3\xa9\",\"size\":0}]}";
    json_t *files;

    (void)state;
    config_defaults(&cfg);
    files = batches_parse(ok, strlen(ok), &cfg, &err);
    assert_non_null(files);
    assert_int_equal(json_array_size(files), 2);
    /* The checksum is normalised to lower case. */
    assert_string_equal(json_string_value(json_object_get(json_array_get(files, 0), "sha256")),
                        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    json_decref(files);

    expect_batch_error("", 400, "bad_json");
    expect_batch_error("{\"files\":[", 400, "bad_json");
    expect_batch_error("[]", 400, "bad_request");
    expect_batch_error("{\"files\":[]}", 400, "bad_request");
    expect_batch_error("{\"files\":{}}", 400, "bad_request");
    expect_batch_error("{\"files\":[],\"x\":1}", 400, "bad_request");
    expect_batch_error("{\"files\":[1]}", 400, "bad_request");
    expect_batch_error("{\"files\":[{\"size\":1}]}", 400, "bad_name");
    expect_batch_error("{\"files\":[{\"name\":\"\",\"size\":1}]}", 400, "bad_name");
    expect_batch_error("{\"files\":[{\"name\":\"a\\tb\",\"size\":1}]}", 400, "bad_name");
    expect_batch_error("{\"files\":[{\"name\":\"a\\u0000b\",\"size\":1}]}", 400, "bad_json");
    expect_batch_error("{\"files\":[{\"name\":\"a\"}]}", 400, "bad_size");
    expect_batch_error("{\"files\":[{\"name\":\"a\",\"size\":-1}]}", 400, "bad_size");
    expect_batch_error("{\"files\":[{\"name\":\"a\",\"size\":1.5}]}", 400, "bad_size");
    expect_batch_error("{\"files\":[{\"name\":\"a\",\"size\":\"1\"}]}", 400, "bad_size");
    expect_batch_error("{\"files\":[{\"name\":\"a\",\"size\":99999999999999999999999}]}", 400,
                       "bad_json");
    expect_batch_error("{\"files\":[{\"name\":\"a\",\"size\":1001}]}", 413, "file_too_large");
    expect_batch_error("{\"files\":[{\"name\":\"a\",\"size\":1,\"sha256\":\"abc\"}]}", 400,
                       "bad_sha256");
    expect_batch_error("{\"files\":[{\"name\":\"a\",\"size\":1,\"type\":\"t\\n\"}]}", 400,
                       "bad_type");
    expect_batch_error("{\"files\":[{\"name\":\"a\",\"size\":1,\"color\":\"red\"}]}", 400,
                       "bad_request");
    expect_batch_error("{\"files\":[{\"name\":\"a\",\"size\":1,\"name\":\"b\"}]}", 400, "bad_json");
    expect_batch_error("{\"files\":[{\"name\":\"a\",\"size\":1},{\"name\":\"a\",\"size\":1},"
                       "{\"name\":\"a\",\"size\":1},{\"name\":\"a\",\"size\":1}]}",
                       413, "too_many_files");
    expect_batch_error("{\"files\":[{\"name\":\"\xff\",\"size\":1}]}", 400, "bad_json");
}

static void test_tokens(void **state)
{
    char a[AUTH_TOKEN_LEN + 1], b[AUTH_TOKEN_LEN + 1], h[65];

    (void)state;
    assert_int_equal(auth_new_token(a), 0);
    assert_int_equal(auth_new_token(b), 0);
    assert_int_equal(strlen(a), AUTH_TOKEN_LEN);
    assert_string_not_equal(a, b);
    assert_int_equal(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                     AUTH_TOKEN_LEN);
    auth_hash_token("abc", h);
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base64),     cmocka_unit_test(test_metadata),
        cmocka_unit_test(test_checksum),   cmocka_unit_test(test_u64),
        cmocka_unit_test(test_batch_body), cmocka_unit_test(test_tokens),
    };
    return cmocka_run_group_tests_name("tus", tests, NULL, NULL);
}
