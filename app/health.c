/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * health.c - GET /api/v1/health (see health.h).  Load balancers and
 * monitoring poll it, so it costs one trivial query and no authentication.
 */
#include <jansson.h>

#include "batchup/health.h"
#include "batchup/store.h"

int health_get(struct http_request *req, struct bu_error *err)
{
    if (store_ping(req->db, err) != 0) {
        http_send_json(req, 503,
                       json_pack("{s:s,s:s}", "status", "unavailable", "database", "down"));
        return 0;
    }
    http_send_json(
        req, 200,
        json_pack("{s:s,s:s,s:s}", "status", "ok", "database", "ok", "version", BATCHUP_VERSION));
    return 0;
}
