/*
 * page.h - the upload page served at GET / (SPEC section 6).
 */
#ifndef BATCHUP_PAGE_H
#define BATCHUP_PAGE_H

#include "batchup/http.h"

void page_handle(struct http_request *req);

#endif
