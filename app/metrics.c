/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * metrics.c - Prometheus counters shared across processes (see metrics.h).
 * Gauges that the database knows better (active and queued uploads) are read
 * from it at scrape time, so they are true for every host, not this one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "batchup/http.h"
#include "batchup/metrics.h"
#include "batchup/store.h"

static struct metrics fallback;
static struct metrics *shared = &fallback;

int metrics_init(void)
{
    void *p = mmap(NULL, sizeof(struct metrics), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                   -1, 0);
    if (p == MAP_FAILED)
        return -1;
    memset(p, 0, sizeof(struct metrics));
    shared = p;
    return 0;
}

struct metrics *metrics_shared(void)
{
    return shared;
}

void metrics_add(uint64_t *counter, uint64_t n)
{
    __atomic_add_fetch(counter, n, __ATOMIC_RELAXED);
}

static uint64_t get(const uint64_t *counter)
{
    return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

int metrics_get(struct http_request *req, struct bu_error *err)
{
    char body[4096];
    size_t n = 0;
    long active = -1, queued = -1;

    /* Without the database the counters are still worth reading. */
    if (store_upload_counts(req->db, err, &active, &queued) != 0)
        active = queued = -1;
#define LINE(name, type, help, value)                                                              \
    n += (size_t)snprintf(body + n, sizeof body - n,                                               \
                          "# HELP batchup_" name " " help "\n# TYPE batchup_" name " " type        \
                          "\nbatchup_" name " %llu\n",                                             \
                          (unsigned long long)(value))
    LINE("requests_total", "counter", "HTTP requests answered.", get(&shared->requests));
    LINE("responses_4xx_total", "counter", "Responses with a 4xx status.",
         get(&shared->responses_4xx));
    LINE("responses_5xx_total", "counter", "Responses with a 5xx status.",
         get(&shared->responses_5xx));
    LINE("bytes_received_total", "counter", "Upload bytes stored.", get(&shared->bytes_received));
    LINE("bytes_sent_total", "counter", "Response body bytes sent.", get(&shared->bytes_sent));
    LINE("slot_waits_total", "counter", "PATCH requests answered 423 because no slot was free.",
         get(&shared->slot_waits));
    LINE("uploads_completed_total", "counter", "Files completed.", get(&shared->uploads_completed));
    LINE("batches_completed_total", "counter", "Batches completed (links issued).",
         get(&shared->batches_completed));
    LINE("worker_restarts_total", "counter", "Workers that died and were replaced.",
         get(&shared->worker_restarts));
    if (active >= 0) {
        LINE("uploads_active", "gauge", "Upload slots held now (all hosts).", active);
        LINE("uploads_queued", "gauge", "Files waiting for a slot now (all hosts).", queued);
    }
#undef LINE
    req->out.status = 200;
    http_add_header(req, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    http_add_header(req, "Content-Length", "%zu", n);
    http_write(req, body, n);
    return 0;
}
