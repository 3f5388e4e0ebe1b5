/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * auth.h - who is asking: API tokens and the web server's REMOTE_USER.
 */
#ifndef BATCHUP_AUTH_H
#define BATCHUP_AUTH_H

#include "batchup/http.h"

#define AUTH_TOKEN_LEN 43 /* 32 random bytes, base64url without padding */

/* A fresh random token (NUL-terminated, AUTH_TOKEN_LEN chars). */
int auth_new_token(char out[AUTH_TOKEN_LEN + 1]);
/* The stored form of a token: lowercase hex SHA-256. */
void auth_hash_token(const char *token, char out[DIGEST_SHA256_HEX + 1]);
/* Authenticate req (sets req->user_id and user_name); 401 in err if not. */
int auth_request(struct http_request *req, struct bu_error *err);
/* As auth_request, but an API token is only checked for its form here and
 * left in req->auth_pending: the request's first statement (the upload's
 * claim) looks it up in the same round trip and then calls auth_resolve.
 * REMOTE_USER is authenticated at once. */
int auth_request_with_claim(struct http_request *req, struct bu_error *err);
/* The pending token's user (user_id 0: no such token, 401 in err). */
int auth_resolve(struct http_request *req, int user_id, const char *user_name,
                 struct bu_error *err);

#endif
