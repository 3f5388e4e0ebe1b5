/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * download.h - getting files out: one file for its owner, and the batch
 * link (a ZIP of the batch, its manifest, and each file) for anyone holding
 * the link's token.
 */
#ifndef BATCHUP_DOWNLOAD_H
#define BATCHUP_DOWNLOAD_H

#include "batchup/http.h"

/* Handlers (see routes.c).  GET /api/v1/download/stream/{uuid}: the
 * owner's completed file. */
int download_stream(struct http_request *req, struct bu_error *err);
/* GET /api/v1/download/batch/{token}: the ZIP of the batch. */
int download_zip(struct http_request *req, struct bu_error *err);
/* .../{token}/manifest: JSON list of the files. */
int download_manifest(struct http_request *req, struct bu_error *err);
/* .../{token}/files/{uuid}: one file of the batch. */
int download_link_file(struct http_request *req, struct bu_error *err);

#endif
