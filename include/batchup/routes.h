/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * routes.h - from (method, path) to handler: the API's one table.
 */
#ifndef BATCHUP_ROUTES_H
#define BATCHUP_ROUTES_H

#include "batchup/http.h"
#include "batchup/scoreboard.h"

/* A handler answers the request itself and returns 0, or returns -1 with
 * err, which the router renders (http_send_error).  The path's variable
 * parts are in req->param[]. */
typedef int (*routes_handler)(struct http_request *req, struct bu_error *err);

/* Find the route of req and run it: 404 for an unknown path, 405 with
 * Allow for a known path and another method. */
void routes_dispatch(struct http_request *req);

/* Admission: take the request's place in long-running class cls (see
 * scoreboard_admit), or return -1 with 503 server_busy in err.  The router
 * does this for downloads before their handler; an upload does it once its
 * slot is granted (upload.c), so a queued file still gets its 423 at once;
 * a batch body once its user is known (batches.c), to cap it per user. */
int routes_admit(struct http_request *req, enum scoreboard_class cls, struct bu_error *err);
/* A queued upload's PATCH that is about to be held until its slot is
 * granted (upload.c): a place among the uploads, marked held, so that a
 * granted upload may take it over.  false when the uploads' share is full
 * (the file is answered 423 at once, as it would be without a hold). */
bool routes_admit_hold(struct http_request *req);

#endif
