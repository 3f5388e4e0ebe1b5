/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * status.h - the status page of the pool, and `batchup status`.
 */
#ifndef BATCHUP_STATUS_H
#define BATCHUP_STATUS_H

#include <stdbool.h>

#include "batchup/config.h"
#include "batchup/http.h"

/* GET <status_path>: text, or JSON with ?json. */
int status_get(struct http_request *req, struct bu_error *err);
/* `batchup status [--json]`: ask the running server through its FastCGI
 * socket (`listen`) and print the page. */
int status_command(const struct bu_config *cfg, bool json, struct bu_error *err);

#endif
