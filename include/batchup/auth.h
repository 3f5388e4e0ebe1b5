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
void auth_hash_token(const char *token, char out[65]);
/* Authenticate req (sets req->user_id and user_name); 401 in err if not. */
int auth_request(struct http_request *req, struct bu_error *err);

#endif
