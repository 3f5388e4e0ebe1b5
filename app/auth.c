/*
 * auth.c - authentication.
 *
 * Tokens are 256 random bits from OpenSSL's CSPRNG, shown once and stored
 * only as their SHA-256: a leaked users table gives no usable token.  A plain
 * hash (no salt, no slow KDF) is right here because the tokens are random and
 * long; it also keeps the lookup one indexed equality.  With
 * auth = remote_user the web server has authenticated the person and batchup
 * trusts REMOTE_USER, creating the user on first sight.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "batchup/auth.h"
#include "batchup/utf8.h"

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int auth_new_token(char out[AUTH_TOKEN_LEN + 1])
{
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

void auth_hash_token(const char *token, char out[65])
{
    unsigned char md[32];
    unsigned int len = 0;
    static const char hex[] = "0123456789abcdef";

    EVP_Digest(token, strlen(token), md, &len, EVP_sha256(), NULL);
    for (size_t i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
}

static int valid_token(const char *t)
{
    size_t n = strlen(t);

    if (n < 16 || n > 256)
        return 0;
    return strspn(t, b64url) == n;
}

int auth_request(struct http_request *req, struct bu_error *err)
{
    PGresult *res;

    if (req->cfg->auth == CONFIG_AUTH_REMOTE_USER) {
        const char *name = http_param(req, "REMOTE_USER");
        const char *params[1] = {name};
        if (name == NULL || *name == '\0' || strlen(name) > 200)
            return error_set(err, 401, "unauthorized", "the web server sent no REMOTE_USER");
        if (utf8_has_ascii_control(name))
            return error_set(err, 401, "unauthorized", "REMOTE_USER is not a valid name");
        res = db_query(req->db, err, "SELECT batchup.user_for_remote($1)", 1, params);
        if (res == NULL)
            return -1;
        req->user_id = atoi(PQgetvalue(res, 0, 0));
        snprintf(req->user_name, sizeof req->user_name, "%s", name);
        PQclear(res);
        return 0;
    } else {
        const char *h = http_header(req, "Authorization");
        char hash[65];
        const char *params[1] = {hash};

        if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
            return error_set(err, 401, "unauthorized",
                             "send 'Authorization: Bearer <token>' (batchup user token NAME)");
        h += 7;
        while (*h == ' ')
            h++;
        if (!valid_token(h))
            return error_set(err, 401, "unauthorized", "the token is not valid");
        auth_hash_token(h, hash);
        res = db_query(req->db, err, "SELECT user_id, user_name FROM batchup.authenticate($1)", 1,
                       params);
        if (res == NULL)
            return -1;
        if (PQntuples(res) != 1) {
            PQclear(res);
            return error_set(err, 401, "unauthorized", "the token is not valid");
        }
        req->user_id = atoi(PQgetvalue(res, 0, 0));
        snprintf(req->user_name, sizeof req->user_name, "%s", PQgetvalue(res, 0, 1));
        PQclear(res);
        return 0;
    }
}
