/*
 * routes.h - from (method, path) to handler: the API's one table.
 */
#ifndef BATCHUP_ROUTES_H
#define BATCHUP_ROUTES_H

#include "batchup/http.h"

/* A handler answers the request itself and returns 0, or returns -1 with
 * err, which the router renders (http_send_error).  The path's variable
 * parts are in req->param[]. */
typedef int (*routes_handler)(struct http_request *req, struct bu_error *err);

/* Find the route of req and run it: 404 for an unknown path, 405 with
 * Allow for a known path and another method. */
void routes_dispatch(struct http_request *req);

#endif
