/*
 * download.h - getting files out: one file for its owner, and the batch
 * link (a ZIP of the batch, its manifest, and each file) for anyone holding
 * the link's token.
 */
#ifndef BATCHUP_DOWNLOAD_H
#define BATCHUP_DOWNLOAD_H

#include "batchup/http.h"

void download_stream(struct http_request *req, const char *file_id);
/* rest: "" (the ZIP), "/manifest", or "/files/<file id>". */
void download_batch(struct http_request *req, const char *token, const char *rest);

#endif
