/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * page.h - the upload page served at GET /.
 */
#ifndef BATCHUP_PAGE_H
#define BATCHUP_PAGE_H

#include "batchup/http.h"

int page_get(struct http_request *req, struct bu_error *err);

#endif
