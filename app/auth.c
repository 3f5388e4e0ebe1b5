/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * auth.c - authentication.
 *
 * Tokens are 256 random bits from OpenSSL's CSPRNG, shown once and stored
 * only as their SHA-256: a leaked users table gives no usable token.  A plain
 * hash (no salt, no slow KDF) is right here because the tokens are random and
 * long; it also keeps the lookup one indexed equality.  With
 * auth = remote_user the web server has authenticated the person and batchup
 * trusts REMOTE_USER: only on a listener that no other local process can
 * reach (listener.c refuses to start otherwise, and each request checks it
 * again, since a reload may switch auth), and only for users that exist,
 * unless remote_user_create lets the first request of a name create it.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/rand.h>

#include "batchup/auth.h"
#include "batchup/check.h"
#include "batchup/digest.h"
#include "batchup/listener.h"
#include "batchup/log.h"
#include "batchup/scoreboard.h"
#include "batchup/store.h"

/* API tokens as issued are AUTH_TOKEN_LEN characters; the lookup accepts
 * the same alphabet within these bounds. */
#define AUTH_TOKEN_MIN 16
#define AUTH_TOKEN_MAX 256

int auth_new_token(char out[AUTH_TOKEN_LEN + 1])
{
    static const char b64url[] = CHECK_TOKEN_ALPHABET;
    unsigned char raw[33] = {0};
    int o = 0;

    if (RAND_bytes(raw, 32) != 1)
        return -1;
    for (int i = 0; i < 33; i += 3) {
        unsigned v = (unsigned)raw[i] << 16 | (unsigned)raw[i + 1] << 8 | raw[i + 2];
        for (int k = 0; k < 4 && o < AUTH_TOKEN_LEN; k++)
            out[o++] = b64url[(v >> (18 - 6 * k)) & 63];
    }
    out[o] = '\0';
    return 0;
}

void auth_hash_token(const char *token, char out[DIGEST_SHA256_HEX + 1])
{
    digest_sha256_hex(token, strlen(token), out);
}

static int auth_remote_user(struct http_request *req, struct bu_error *err)
{
    const char *name = http_param(req, "REMOTE_USER");
    int found;

    if (config_check_remote_user(req->cfg, listener_family(), err) != 0) {
        log_error("%s", err->message);
        return error_set(err, BU_E_UNAUTHORIZED,
                         "REMOTE_USER is not trusted on this listener (see the server's log)");
    }
    if (name == NULL || *name == '\0')
        return error_set(err, BU_E_UNAUTHORIZED, "the web server sent no REMOTE_USER");
    if (!check_user_name(name))
        return error_set(err, BU_E_UNAUTHORIZED, "REMOTE_USER is not a valid name");
    found = store_user_for_remote(req->db, err, name, req->cfg->remote_user_create, &req->user_id);
    if (found <= 0)
        return found < 0 ? -1
                         : error_set(err, BU_E_UNAUTHORIZED,
                                     "there is no batchup user '%s': an administrator creates it "
                                     "with 'batchup user add NAME', or sets remote_user_create = "
                                     "yes",
                                     name);
    snprintf(req->user_name, sizeof req->user_name, "%s", name);
    return 0;
}

/* The Authorization header's token, in its stored form. */
static int bearer_hash(struct http_request *req, char hash[DIGEST_SHA256_HEX + 1],
                       struct bu_error *err)
{
    const char *h = http_header(req, "Authorization");

    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
        return error_set(err, BU_E_UNAUTHORIZED,
                         "send 'Authorization: Bearer <token>' (batchup user token NAME)");
    h += 7;
    while (*h == ' ')
        h++;
    if (!check_token(h, AUTH_TOKEN_MIN, AUTH_TOKEN_MAX))
        return error_set(err, BU_E_UNAUTHORIZED, "the token is not valid");
    auth_hash_token(h, hash);
    return 0;
}

int auth_resolve(struct http_request *req, int user_id, const char *user_name, struct bu_error *err)
{
    req->auth_pending[0] = '\0';
    if (user_id <= 0)
        return error_set(err, BU_E_UNAUTHORIZED, "the token is not valid");
    req->user_id = user_id;
    snprintf(req->user_name, sizeof req->user_name, "%s", user_name);
    scoreboard_user(req->user_name);
    return 0;
}

static int auth_bearer(struct http_request *req, struct bu_error *err)
{
    struct store_user user = {0};
    char hash[DIGEST_SHA256_HEX + 1];
    int found;

    if (bearer_hash(req, hash, err) != 0)
        return -1;
    found = store_authenticate(req->db, err, hash, &user);
    if (found < 0)
        return -1;
    return auth_resolve(req, found ? user.id : 0, user.name, err);
}

int auth_request(struct http_request *req, struct bu_error *err)
{
    if (req->cfg->auth != CONFIG_AUTH_REMOTE_USER)
        return auth_bearer(req, err);
    if (auth_remote_user(req, err) != 0)
        return -1;
    scoreboard_user(req->user_name);
    return 0;
}

/* A PATCH's only statements are its claim and its completion: the token's
 * lookup rides on the claim (batchup.claim_upload behind
 * batchup.authenticate), which saves a round trip and a transaction for
 * every chunk.  Nothing is read or written for a token that matches no
 * user: the claim runs only for the user the token names. */
int auth_request_with_claim(struct http_request *req, struct bu_error *err)
{
    if (req->cfg->auth == CONFIG_AUTH_REMOTE_USER)
        return auth_request(req, err);
    return bearer_hash(req, req->auth_pending, err);
}
