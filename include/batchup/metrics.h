/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * metrics.h - counters shared by the master and every worker.
 *
 * The master maps one page of shared memory before forking; each process
 * bumps the counters with atomic adds, and whichever worker answers
 * GET /metrics reads them all, so the numbers are the server's, not one
 * worker's.
 */
#ifndef BATCHUP_METRICS_H
#define BATCHUP_METRICS_H

#include <stdint.h>

#include "batchup/error.h"

struct http_request;

struct metrics {
    uint64_t requests;
    uint64_t responses_4xx;
    uint64_t responses_5xx;
    uint64_t bytes_received;
    uint64_t bytes_sent;
    uint64_t slot_waits; /* 423 slot_unavailable answers */
    uint64_t uploads_completed;
    uint64_t batches_completed;
    uint64_t worker_restarts;
};

/* Map the shared counters; call once in the master before forking. */
int metrics_init(void);
void metrics_add(uint64_t *counter, uint64_t n);
struct metrics *metrics_shared(void);
/* GET <metrics_path>: Prometheus text format. */
int metrics_get(struct http_request *req, struct bu_error *err);

#define METRICS_ADD(field, n) metrics_add(&metrics_shared()->field, (n))

#endif
