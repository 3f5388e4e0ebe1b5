/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * batches.h - the batches API: POST, GET and DELETE /api/v1/batches[/<id>],
 * POST and DELETE /api/v1/batches/<id>/link.
 */
#ifndef BATCHUP_BATCHES_H
#define BATCHUP_BATCHES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "batchup/config.h"
#include "batchup/http.h"

/* Handlers (see routes.c); a batch's id is req->param[0]. */
int batches_create(struct http_request *req, struct bu_error *err);
int batches_list(struct http_request *req, struct bu_error *err);
int batches_get(struct http_request *req, struct bu_error *err);
int batches_delete(struct http_request *req, struct bu_error *err);
int batches_link_create(struct http_request *req, struct bu_error *err);
int batches_link_delete(struct http_request *req, struct bu_error *err);
int batches_close(struct http_request *req, struct bu_error *err);

/* The largest POST body a batch of max_batch_files files can need (see
 * batches.c); a larger one is 413 body_too_large. */
size_t batches_max_body(const struct bu_config *cfg);

/* Validate a POST body (pre-scanned before it is parsed: too many files or
 * a shape no valid body has is refused before any tree is built); on success returns the files
 * array to hand to batchup.create_batch (new reference), else NULL with err.  Exposed for the unit
 * tests and the fuzzer. */
json_t *batches_parse(const char *body, size_t len, const struct bu_config *cfg,
                      struct bu_error *err);
/* batches_parse, also reading "open": true (an open batch, whose file list
 * may then be empty or absent). */
json_t *batches_parse_body(const char *body, size_t len, const struct bu_config *cfg, bool *open,
                           struct bu_error *err);

#endif
