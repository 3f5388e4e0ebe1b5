/*
 * routes.h - the table from (method, path) to handler.
 */
#ifndef BATCHUP_ROUTES_H
#define BATCHUP_ROUTES_H

#include "batchup/http.h"

void routes_dispatch(struct http_request *req);

/* Is s a canonical lowercase UUID (the form of batch and file ids)? */
int routes_is_uuid(const char *s);

#endif
