/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * health.h - GET /api/v1/health: does this worker reach the database?
 */
#ifndef BATCHUP_HEALTH_H
#define BATCHUP_HEALTH_H

#include "batchup/http.h"

/* 200 {"status": "ok", ...} when the database answers, 503 otherwise (at
 * once, never after a hang: the connection backs off). */
int health_get(struct http_request *req, struct bu_error *err);

#endif
