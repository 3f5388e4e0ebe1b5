/*
 * batches.h - the batches API: POST, GET and DELETE /api/v1/batches[/<id>].
 */
#ifndef BATCHUP_BATCHES_H
#define BATCHUP_BATCHES_H

#include "batchup/http.h"

void batches_create(struct http_request *req);
void batches_list(struct http_request *req);
void batches_get(struct http_request *req, const char *batch_id);
void batches_delete(struct http_request *req, const char *batch_id);

/* Create a batch of the user's files (validated as batches_parse returns
 * them; the reference is taken) and write its id into batch_id. */
int batches_insert(struct http_request *req, json_t *files, char batch_id[37],
                   struct bu_error *err);

/* Validate a POST body; on success returns the files array to hand to
 * batchup.create_batch (new reference), else NULL with err.  Exposed for the
 * unit tests and the fuzzer. */
json_t *batches_parse(const char *body, size_t len, const struct bu_config *cfg,
                      struct bu_error *err);

#endif
