/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz_tus.c - libFuzzer harness for the upload path's parsers of client
 * bytes: Upload-Metadata, Upload-Checksum, Upload-Offset and the JSON body
 * of POST /api/v1/batches.
 *
 *   make fuzz     (or by hand:)
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -DBATCHUP_VERSION='"fuzz"' \
 *       -D_GNU_SOURCE -Iinclude -I/usr/include/postgresql -o build/fuzz_tus \
 *       tests/fuzz/fuzz_tus.c app/tus.c app/batches.c app/config.c app/error.c \
 *       app/auth.c app/http.c app/db.c app/log.c app/headers.c app/disk.c \
 *       app/metrics.c -lfcgi -lpq -ljansson -lcrypto
 *   build/fuzz_tus -max_total_time=30
 *
 * Besides memory errors it checks the parsers' promises: a metadata value
 * that is returned is NUL-free and fits; a checksum that parses has the
 * digest length of its algorithm; a batch body that is accepted is an array
 * of 1..max_batch_files objects with a name and a non-negative size.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "batchup/batches.h"
#include "batchup/tus.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    char value[64];
    struct tus_checksum ck;
    struct bu_config cfg;
    struct bu_error err;
    uint64_t v;
    json_t *files;

    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';

    if (tus_metadata_valid(s)) {
        if (tus_metadata_get(s, "filename", value, sizeof value) == TUS_METADATA_FOUND &&
            strlen(value) >= sizeof value)
            abort();
    }
    if (tus_parse_checksum(s, &ck) == TUS_CHECKSUM_OK &&
        !((ck.algo == TUS_ALGO_SHA1 && ck.len == 20) ||
          (ck.algo == TUS_ALGO_SHA256 && ck.len == 32)))
        abort();
    if (tus_parse_u64(s, &v) == 0 && v > (uint64_t)INT64_MAX)
        abort();

    config_defaults(&cfg);
    cfg.max_batch_files = 8;
    files = batches_parse((const char *)data, size, &cfg, &err);
    if (files != NULL) {
        size_t i;
        json_t *f;
        if (json_array_size(files) == 0 || json_array_size(files) > 8)
            abort();
        json_array_foreach(files, i, f)
        {
            if (!json_is_string(json_object_get(f, "name")) ||
                json_integer_value(json_object_get(f, "size")) < 0)
                abort();
        }
        json_decref(files);
    }
    free(s);
    return 0;
}
