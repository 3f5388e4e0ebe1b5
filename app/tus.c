/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tus.c - the tus 1.0.0 protocol on /api/v1/files: core, creation,
 * creation-with-upload, creation-defer-length, termination, checksum,
 * expiration and concatenation.
 *
 * This file is the protocol layer: it parses and checks the tus headers
 * (Tus-Resumable, Upload-Offset, Upload-Length, Upload-Metadata,
 * Upload-Checksum), asks the data layer (store.c) or the byte path
 * (upload.c) to act, and turns the outcome into tus's answers: 204 with
 * Upload-Offset and Upload-Expires, 423 with Upload-Queue-Position and
 * Retry-After for a queued file, and every error with the header values a
 * tus client needs to resume (Upload-Offset on 409, 413, 423 and 460).
 * Every response carries Tus-Resumable (the route table adds it).
 *
 * A creation may name a batch (Upload-Metadata "batch"): it then becomes
 * that batch's file (batchup.join_batch decides which), so a stock tus
 * client such as Uppy uploads many files into one batch with one link;
 * without it, a creation is a batch of its own.
 *
 * Concatenation (tus-js-client's parallelUploads): a creation with
 * "Upload-Concat: partial" is a partial upload, an upload stream like any
 * other (a slot while it receives, the quotas, expiry) that belongs to no
 * batch the user sees; one with "Upload-Concat: final;<url> <url>..." is
 * the file made of those partials, in order, created (or joined to its
 * batch by name and summed length) and assembled in the same request
 * (upload_assemble), which then answers 201 with the file's URL.  The same
 * list again finds the same final.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "batchup/auth.h"
#include "batchup/check.h"
#include "batchup/headers.h"
#include "batchup/log.h"
#include "batchup/disk.h"
#include "batchup/store.h"
#include "batchup/tus.h"
#include "batchup/upload.h"

/* ---- parsers ------------------------------------------------------------ */

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

long tus_base64_decode(const char *src, size_t len, unsigned char *out, size_t cap)
{
    unsigned acc = 0;
    int bits = 0;
    size_t o = 0, i;

    while (len > 0 && src[len - 1] == '=')
        len--;
    if (len % 4 == 1)
        return -1;
    for (i = 0; i < len; i++) {
        int v = b64_value((unsigned char)src[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= cap)
                return -1;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    return (long)o;
}

/* One "key base64value" pair of an Upload-Metadata header. */
struct meta_pair {
    const char *key;
    size_t keylen;
    const char *value;
    size_t valuelen;
};

/* What meta_next found at *p. */
enum meta_step {
    META_PAIR,      /* a pair, *p past it */
    META_END,       /* the end of the header */
    META_MALFORMED, /* an empty pair */
};

/* The pair at *p, advancing *p past it. */
static enum meta_step meta_next(const char **p, struct meta_pair *pair)
{
    const char *s = *p, *end, *sp;

    if (*s == '\0')
        return META_END;
    end = strchr(s, ',');
    if (end == NULL)
        end = s + strlen(s);
    while (s < end && *s == ' ')
        s++;
    if (s == end)
        return META_MALFORMED;
    sp = memchr(s, ' ', (size_t)(end - s));
    pair->key = s;
    pair->keylen = sp ? (size_t)(sp - s) : (size_t)(end - s);
    pair->value = sp ? sp + 1 : end;
    pair->valuelen = (size_t)(end - pair->value);
    while (pair->valuelen > 0 && pair->value[pair->valuelen - 1] == ' ')
        pair->valuelen--;
    *p = *end ? end + 1 : end;
    return META_PAIR;
}

enum tus_metadata tus_metadata_get(const char *header, const char *key, char *out, size_t cap)
{
    struct meta_pair pair;
    const char *p = header;
    enum meta_step step;

    if (header == NULL)
        return TUS_METADATA_ABSENT;
    while ((step = meta_next(&p, &pair)) == META_PAIR) {
        long n;
        if (pair.keylen != strlen(key) || memcmp(pair.key, key, pair.keylen) != 0)
            continue;
        if (cap == 0)
            return TUS_METADATA_BAD;
        n = tus_base64_decode(pair.value, pair.valuelen, (unsigned char *)out, cap - 1);
        if (n < 0)
            return TUS_METADATA_BAD;
        out[n] = '\0';
        /* An embedded NUL would cut the value short: refused. */
        return strlen(out) == (size_t)n ? TUS_METADATA_FOUND : TUS_METADATA_BAD;
    }
    return step == META_MALFORMED ? TUS_METADATA_BAD : TUS_METADATA_ABSENT;
}

int tus_metadata_valid(const char *header)
{
    unsigned char scratch[4096];
    struct meta_pair pair;
    const char *p = header;
    enum meta_step step;

    while ((step = meta_next(&p, &pair)) == META_PAIR)
        if (tus_base64_decode(pair.value, pair.valuelen, scratch, sizeof scratch) < 0)
            return 0;
    return step == META_END;
}

enum tus_checksum_parse tus_parse_checksum(const char *header, struct tus_checksum *out)
{
    const char *sp = strchr(header, ' ');
    long n;

    memset(out, 0, sizeof *out);
    if (sp == NULL)
        return TUS_CHECKSUM_MALFORMED;
    if ((size_t)(sp - header) == 4 && strncasecmp(header, "sha1", 4) == 0) {
        out->algo = TUS_ALGO_SHA1;
        out->len = 20;
    } else if ((size_t)(sp - header) == 6 && strncasecmp(header, "sha256", 6) == 0) {
        out->algo = TUS_ALGO_SHA256;
        out->len = 32;
    } else {
        return TUS_CHECKSUM_UNSUPPORTED;
    }
    n = tus_base64_decode(sp + 1, strlen(sp + 1), out->digest, sizeof out->digest);
    return n == (long)out->len ? TUS_CHECKSUM_OK : TUS_CHECKSUM_MALFORMED;
}

int tus_parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;

    if (s == NULL || *s == '\0' || strlen(s) > 19)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    if (v > (uint64_t)INT64_MAX)
        return -1;
    *out = v;
    return 0;
}

/* ---- checks shared by the handlers ----------------------------------- */

static int check_resumable(struct http_request *req, struct bu_error *err)
{
    const char *v = http_header(req, "Tus-Resumable");

    if (v != NULL && strcmp(v, "1.0.0") == 0)
        return 0;
    error_set(err, BU_E_UNSUPPORTED_VERSION,
              "send 'Tus-Resumable: 1.0.0' (this server speaks tus 1.0.0)");
    req->out.status = err->status;
    http_add_header(req, "Tus-Version", "1.0.0");
    return -1;
}

static int is_offset_stream(struct http_request *req)
{
    const char *ct = http_header(req, "Content-Type");

    return ct != NULL && strncasecmp(ct, "application/offset+octet-stream", 31) == 0 &&
           (ct[31] == '\0' || ct[31] == ';' || ct[31] == ' ');
}

/* Upload-Checksum, when sent, into what the byte path verifies. */
static int read_checksum(struct http_request *req, struct tus_checksum *ck,
                         struct upload_request *in, struct bu_error *err)
{
    const char *h = http_header(req, "Upload-Checksum");
    enum tus_checksum_parse rc;

    memset(ck, 0, sizeof *ck);
    in->verify = false;
    if (h == NULL)
        return 0;
    rc = tus_parse_checksum(h, ck);
    if (rc == TUS_CHECKSUM_UNSUPPORTED)
        return error_set(err, BU_E_UNSUPPORTED_CHECKSUM,
                         "Upload-Checksum supports sha1 and sha256 only");
    if (rc != TUS_CHECKSUM_OK)
        return error_set(err, BU_E_BAD_CHECKSUM, "Upload-Checksum is not '<algorithm> <base64>'");
    in->verify = true;
    in->algo = ck->algo == TUS_ALGO_SHA1 ? DIGEST_SHA1 : DIGEST_SHA256;
    in->digest = ck->digest;
    in->digest_len = ck->len;
    return 0;
}

static void expires_header(struct http_request *req, time_t from)
{
    char date[HEADERS_DATE_SIZE];

    headers_http_date(date, from + req->cfg->upload_expiry_seconds);
    http_add_header(req, "Upload-Expires", "%s", date);
}

/* ---- OPTIONS ---------------------------------------------------------- */

int tus_options(struct http_request *req, struct bu_error *err)
{
    (void)err;
    req->out.status = 204;
    http_add_header(req, "Tus-Version", "1.0.0");
    http_add_header(req, "Tus-Extension",
                    "creation,creation-with-upload,creation-defer-length,termination,checksum,"
                    "expiration,concatenation");
    http_add_header(req, "Tus-Checksum-Algorithm", "sha1,sha256");
    if (req->cfg->max_file_size > 0)
        http_add_header(req, "Tus-Max-Size", "%llu", (unsigned long long)req->cfg->max_file_size);
    /* tus has no word for it: where the web server caps one request's
     * body (mod_fcgid's FcgidMaxRequestLen), clients learn the largest
     * chunk here (the upload page does) instead of by trial. */
    if (req->cfg->max_chunk_size > 0)
        http_add_header(req, "Batchup-Max-Chunk-Size", "%llu",
                        (unsigned long long)req->cfg->max_chunk_size);
    http_send_empty(req, 204);
    return 0;
}

/* ---- POST: creation (and creation-with-upload) ------------------------ */

/* The value of the first of two metadata keys that is present; out is ""
 * when neither is. */
static enum tus_metadata metadata_either(const char *meta, const char *key, const char *alt,
                                         char *out, size_t cap)
{
    enum tus_metadata got = tus_metadata_get(meta, key, out, cap);

    if (got == TUS_METADATA_ABSENT)
        got = tus_metadata_get(meta, alt, out, cap);
    if (got == TUS_METADATA_ABSENT)
        out[0] = '\0';
    return got;
}

/* The file's name and media type from Upload-Metadata, checked by the same
 * rules as the batches API's.  No name, or an empty one: "file". */
static int creation_metadata(struct http_request *req, char *name, size_t name_cap, char *type,
                             size_t type_cap, struct bu_error *err)
{
    const char *meta = http_header(req, "Upload-Metadata");

    if (meta != NULL && !tus_metadata_valid(meta))
        return error_set(err, BU_E_BAD_METADATA, "Upload-Metadata is not 'key base64,key base64'");
    if (metadata_either(meta, "filename", "name", name, name_cap) == TUS_METADATA_BAD ||
        (name[0] != '\0' && !check_file_name(name)))
        return error_set(err, BU_E_BAD_NAME,
                         "the filename must be 1 to %d bytes of UTF-8 without control characters",
                         CHECK_FILE_NAME_MAX);
    if (name[0] == '\0')
        snprintf(name, name_cap, "file");
    if (metadata_either(meta, "filetype", "type", type, type_cap) == TUS_METADATA_BAD ||
        !check_media_type(type))
        return error_set(err, BU_E_BAD_TYPE, "the filetype must be a printable ASCII media type");
    return 0;
}

/* The most a deferred upload may take until its length is known. */
static uint64_t deferred_max(const struct bu_config *cfg)
{
    return cfg->max_file_size > 0 ? cfg->max_file_size : (uint64_t)INT64_MAX;
}

/* Upload-Length, or Upload-Defer-Length: 1 (*deferred, *length then the
 * most the upload may take). */
static int creation_length(struct http_request *req, uint64_t *length, bool *deferred,
                           struct bu_error *err)
{
    const char *defer = http_header(req, "Upload-Defer-Length");

    *deferred = defer != NULL;
    if (defer != NULL && (strcmp(defer, "1") != 0 || http_header(req, "Upload-Length") != NULL))
        return error_set(err, BU_E_BAD_LENGTH,
                         "send either Upload-Length or 'Upload-Defer-Length: 1', not both");
    if (*deferred) {
        *length = deferred_max(req->cfg);
        return 0;
    }
    if (tus_parse_u64(http_header(req, "Upload-Length"), length) != 0)
        return error_set(err, BU_E_BAD_LENGTH, "Upload-Length must be a non-negative integer");
    if (req->cfg->max_file_size > 0 && *length > req->cfg->max_file_size)
        return error_set(err, BU_E_FILE_TOO_LARGE,
                         "Upload-Length exceeds the maximum of %llu bytes",
                         (unsigned long long)req->cfg->max_file_size);
    return 0;
}

/* Where a creation's file goes (creation_batch). */
enum creation_into {
    INTO_BATCH, /* the batch the metadata "batch" names: batch_id */
    INTO_OWN,   /* a batch of its own (no "batch") */
    INTO_ERROR, /* a "batch" that is no batch id: err is set */
};

/* The batch a creation joins: Upload-Metadata "batch", a batch id. */
static enum creation_into creation_batch(struct http_request *req, char batch_id[STORE_ID_SIZE],
                                         struct bu_error *err)
{
    enum tus_metadata got =
        tus_metadata_get(http_header(req, "Upload-Metadata"), "batch", batch_id, STORE_ID_SIZE);

    if (got == TUS_METADATA_ABSENT)
        return INTO_OWN;
    if (got == TUS_METADATA_BAD || !check_uuid(batch_id)) {
        error_set(err, BU_E_BAD_METADATA,
                  "the metadata 'batch' must be a batch id (a lower-case UUID)");
        return INTO_ERROR;
    }
    return INTO_BATCH;
}

static int creation_join_refused(struct http_request *req, enum store_join_result result,
                                 const char *name, uint64_t length, struct bu_error *err);

/* The file of batch batch_id this creation is for (batchup.join_batch):
 * a declared file of its name and length with no upload yet, the one an
 * earlier creation took (a retry gets the same URL), or a new file of an
 * open batch.  *offset is where that file stands. */
static int creation_join(struct http_request *req, const char *batch_id, const char *name,
                         const char *type, uint64_t length, char file_id[STORE_ID_SIZE],
                         uint64_t *offset, struct bu_error *err)
{
    enum store_join_result result;

    if (store_join_batch(req->db, err, req->cfg, req->user_id, batch_id, name, type, length,
                         &result, file_id, offset) != 0)
        return -1;
    return creation_join_refused(req, result, name, length, err);
}

/* The answer to join_batch's result: 0 when the creation has its file,
 * else -1 with the batch's refusal (a final's join too). */
static int creation_join_refused(struct http_request *req, enum store_join_result result,
                                 const char *name, uint64_t length, struct bu_error *err)
{
    switch (result) {
    case STORE_JOIN_MATCHED:
    case STORE_JOIN_EXISTING:
    case STORE_JOIN_ADDED:
        return 0;
    case STORE_JOIN_NO_MATCH:
        return error_set(err, BU_E_BATCH_NO_MATCH,
                         "the batch declares no file named '%s' of %llu bytes without an upload, "
                         "and it is not open",
                         name, (unsigned long long)length);
    case STORE_JOIN_NAME_TAKEN:
        return error_set(err, BU_E_BATCH_NAME_TAKEN,
                         "the batch already has a file named '%s' of another size", name);
    case STORE_JOIN_FINISHED:
        return error_set(err, BU_E_BATCH_FINISHED,
                         "the batch is complete or has expired; it takes no more files");
    case STORE_JOIN_TOO_MANY:
        return error_set(err, BU_E_TOO_MANY_FILES,
                         "a batch holds at most %d files (max_batch_files)",
                         req->cfg->max_batch_files);
    case STORE_JOIN_NOT_FOUND:
        break;
    }
    return error_set(err, BU_E_NOT_FOUND, "no such batch");
}

/* A body declared larger than max_chunk_size is refused before a byte of
 * it is read (413): the client sends smaller chunks, as OPTIONS told it. */
static int chunk_too_large(const struct http_request *req, struct bu_error *err)
{
    uint64_t cap = req->cfg->max_chunk_size;

    if (cap == 0 || req->content_length < 0 || (uint64_t)req->content_length <= cap)
        return 0;
    return error_set(err, BU_E_BODY_TOO_LARGE,
                     "a request body may hold at most %llu bytes here (Batchup-Max-Chunk-Size); "
                     "send the upload in smaller chunks",
                     (unsigned long long)cap);
}

/* ---- POST with Upload-Concat: concatenation ------------------------------ */

/* The most partial uploads a final names: tus-js-client's parallelUploads
 * is a handful; the HEAD of a final lists them all in one header. */
#define TUS_CONCAT_PARTS 16
#define TUS_FILES_PATH "/api/v1/files/"

/* One URL of a final's list (len bytes at url) into id: a path
 * /api/v1/files/<id>, or an absolute http(s) URL of this host (the request's
 * Host) with that path, as tus-js-client sends its upload URLs.  0, or -1. */
static int concat_url(struct http_request *req, const char *url, size_t len, char id[STORE_ID_SIZE])
{
    const char *host = http_header(req, "Host"), *path = url;
    size_t skip = len > 8 && strncmp(url, "https://", 8) == 0  ? 8
                  : len > 7 && strncmp(url, "http://", 7) == 0 ? 7
                                                               : 0;
    size_t prefix = strlen(TUS_FILES_PATH);

    if (skip > 0) {
        const char *slash = memchr(url + skip, '/', len - skip);
        if (slash == NULL || host == NULL || strlen(host) != (size_t)(slash - url - skip) ||
            strncasecmp(host, url + skip, strlen(host)) != 0)
            return -1;
        path = slash;
    }
    len -= (size_t)(path - url);
    if (len != prefix + STORE_ID_SIZE - 1 || strncmp(path, TUS_FILES_PATH, prefix) != 0)
        return -1;
    memcpy(id, path + prefix, STORE_ID_SIZE - 1);
    id[STORE_ID_SIZE - 1] = '\0';
    return check_uuid(id) ? 0 : -1;
}

/* The list after "final;" into ids (and *n), and the PostgreSQL array of
 * them into array.  Every element must be one of this service's upload
 * URLs, separated by spaces. */
static int concat_list(struct http_request *req, const char *list,
                       char ids[TUS_CONCAT_PARTS][STORE_ID_SIZE], size_t *n, char *array,
                       size_t cap, struct bu_error *err)
{
    size_t used = 0;

    *n = 0;
    while (*list != '\0') {
        size_t len = strcspn(list, " ");
        if (len > 0) {
            if (*n == TUS_CONCAT_PARTS || concat_url(req, list, len, ids[*n]) != 0)
                return error_set(err, BU_E_BAD_CONCAT,
                                 "Upload-Concat must be 'final;' and 1 to %d URLs of partial "
                                 "uploads of this server, separated by spaces",
                                 TUS_CONCAT_PARTS);
            used += (size_t)snprintf(array + used, cap - used, "%s%s", *n ? "," : "{", ids[*n]);
            (*n)++;
        }
        list += len + (list[len] == ' ');
    }
    if (*n == 0)
        return error_set(err, BU_E_BAD_CONCAT, "Upload-Concat 'final;' names no partial upload");
    snprintf(array + used, cap - used, "}");
    return 0;
}

/* What a final upload comes to (final_outcome). */
enum final_next {
    FINAL_ASSEMBLE,     /* a final to assemble (or already assembled) */
    FINAL_REFUSED,      /* refused for its parts or length: err is set */
    FINAL_JOIN_REFUSED, /* its batch refused it: creation_join_refused says why */
};

/* What create_final answered, as the client is told it. */
static enum final_next final_outcome(struct http_request *req, const struct store_final *f,
                                     struct bu_error *err)
{
    switch (f->result) {
    case STORE_FINAL_NEW:
    case STORE_FINAL_EXISTING:
        return FINAL_ASSEMBLE;
    case STORE_FINAL_PART_NOT_FOUND:
        error_set(err, BU_E_NOT_FOUND, "a partial upload of the list does not exist");
        break;
    case STORE_FINAL_PART_GONE:
        error_set(err, BU_E_UPLOAD_GONE, "a partial upload of the list was aborted or expired");
        break;
    case STORE_FINAL_INCOMPLETE:
        error_set(err, BU_E_CONCAT_INCOMPLETE,
                  "a partial upload of the list has not received all its bytes yet");
        break;
    case STORE_FINAL_TOO_LARGE:
        error_set(err, BU_E_FILE_TOO_LARGE,
                  "the partial uploads sum to %llu bytes, over the maximum of %llu",
                  (unsigned long long)f->size, (unsigned long long)req->cfg->max_file_size);
        break;
    case STORE_FINAL_TAKEN:
        error_set(err, BU_E_CONCAT_PART_TAKEN,
                  "a partial upload of the list belongs to another final upload");
        break;
    case STORE_FINAL_JOIN_REFUSED:
        return FINAL_JOIN_REFUSED;
    }
    return FINAL_REFUSED;
}

/* POST with "Upload-Concat: final;<url> <url>...": the final upload, its
 * length the sum of its partials' (an Upload-Length must agree), created
 * or found again, assembled, and answered 201 with its URL. */
static int create_final(struct http_request *req, const char *list, struct bu_error *err)
{
    char ids[TUS_CONCAT_PARTS][STORE_ID_SIZE], array[TUS_CONCAT_PARTS * STORE_ID_SIZE + 3];
    char name[CHECK_FILE_NAME_MAX + 2], type[CHECK_MEDIA_TYPE_MAX + 2], batch_id[STORE_ID_SIZE];
    const char *parts[TUS_CONCAT_PARTS], *length = http_header(req, "Upload-Length");
    struct store_final f;
    struct upload_request in = {.file_id = f.file_id};
    struct upload_result res;
    size_t n;
    enum creation_into into;
    enum final_next next;
    uint64_t declared = 0;

    if (concat_list(req, list, ids, &n, array, sizeof array, err) != 0 ||
        creation_metadata(req, name, sizeof name, type, sizeof type, err) != 0 ||
        (into = creation_batch(req, batch_id, err)) == INTO_ERROR)
        return -1;
    if (http_header(req, "Upload-Defer-Length") != NULL ||
        (length != NULL && tus_parse_u64(length, &declared) != 0))
        return error_set(err, BU_E_BAD_LENGTH, "a final upload's length is its partials' sum");
    if (req->content_length > 0)
        return error_set(err, BU_E_BAD_CONCAT, "a final upload takes no body");
    if (auth_request(req, err) != 0 ||
        store_create_final(req->db, err, req->cfg, req->user_id, array, name, type,
                           into == INTO_BATCH ? batch_id : NULL, &f) != 0)
        return -1;
    next = final_outcome(req, &f, err);
    if (next == FINAL_JOIN_REFUSED)
        return creation_join_refused(req, f.join, name, f.size, err);
    if (next == FINAL_REFUSED)
        return -1;
    if (length != NULL && declared != f.size)
        return error_set(err, BU_E_BAD_LENGTH,
                         "Upload-Length is %llu, the partial uploads sum to %llu",
                         (unsigned long long)declared, (unsigned long long)f.size);
    for (size_t i = 0; i < n; i++)
        parts[i] = ids[i];
    in.offset = f.offset;
    if (upload_assemble(req, &in, parts, n, &res, err) != 0)
        return -1;
    req->out.status = 201;
    http_add_header(req, "Location", TUS_FILES_PATH "%s", f.file_id);
    http_add_header(req, "Upload-Offset", "%llu", (unsigned long long)res.offset);
    http_send_empty(req, 201);
    return 0;
}

/* A partial upload ("Upload-Concat: partial") has its length, and belongs
 * to no batch: its final does.  0, or -1 (err). */
static int partial_allowed(bool deferred, enum creation_into into, struct bu_error *err)
{
    if (deferred)
        return error_set(err, BU_E_DEFER_LENGTH_UNSUPPORTED,
                         "a partial upload needs its Upload-Length");
    if (into == INTO_BATCH)
        return error_set(err, BU_E_BAD_CONCAT,
                         "a partial upload joins no batch; name the batch in its final upload");
    return 0;
}

/* ---- POST: the creation itself ------------------------------------------- */

/* One creation: what its headers declare, and the file it made. */
struct creation {
    char name[CHECK_FILE_NAME_MAX + 2], type[CHECK_MEDIA_TYPE_MAX + 2];
    char batch_id[STORE_ID_SIZE], file_id[STORE_ID_SIZE];
    uint64_t length;
    bool deferred, partial, has_body;
    enum creation_into into;
    struct tus_checksum ck;
    struct upload_request in;
    struct upload_result res;
};

/* The creation's headers into c, each refused in this order, then the
 * user: a client's mistake is told before its credentials are checked. */
static int creation_read(struct http_request *req, struct creation *c, struct bu_error *err)
{
    if (creation_length(req, &c->length, &c->deferred, err) != 0 ||
        creation_metadata(req, c->name, sizeof c->name, c->type, sizeof c->type, err) != 0 ||
        (c->into = creation_batch(req, c->batch_id, err)) == INTO_ERROR ||
        (c->partial && partial_allowed(c->deferred, c->into, err) != 0))
        return -1;
    c->has_body = is_offset_stream(req) && req->content_length != 0;
    if (c->has_body && chunk_too_large(req, err) != 0)
        return -1;
    if ((c->has_body && read_checksum(req, &c->ck, &c->in, err) != 0) ||
        auth_request(req, err) != 0)
        return -1;
    return 0;
}

/* The upload itself, by the data layer's creation that fits c: 0 and
 * c->file_id set (c->res.offset where a joined file stands), or -1. */
static int creation_store(struct http_request *req, struct creation *c, struct bu_error *err)
{
    if (c->into == INTO_BATCH && c->deferred)
        /* A declared file is matched by its size, and an open batch's
         * quota counts it: both need the length. */
        return error_set(err, BU_E_DEFER_LENGTH_UNSUPPORTED,
                         "a creation that joins a batch needs its Upload-Length");
    if (c->deferred)
        return store_create_deferred_upload(req->db, err, req->cfg, req->user_id, c->name, c->type,
                                            c->length, c->batch_id, c->file_id);
    if (c->into == INTO_BATCH)
        return creation_join(req, c->batch_id, c->name, c->type, c->length, c->file_id,
                             &c->res.offset, err);
    if (c->partial)
        return store_create_partial_upload(req->db, err, req->cfg, req->user_id, c->length,
                                           c->file_id);
    return store_create_upload(req->db, err, req->cfg, req->user_id, c->name, c->type, c->length,
                               c->batch_id, c->file_id);
}

/* The body's bytes, if any, then 201 with the upload's URL. */
static void creation_answer(struct http_request *req, struct creation *c, struct bu_error *err)
{
    /* A body is the upload's first bytes: it goes in only where the upload
     * stands at 0 (a retried creation of a file under way does not). */
    if (c->has_body && c->length > 0 && c->res.offset == 0 &&
        upload_receive(req, &c->in, &c->res, err) != 0) {
        /* The upload exists; only its first bytes did not go in (no slot,
         * a checksum mismatch...).  The client goes on with HEAD/PATCH. */
        log_info("creation-with-upload of %s stored no body: %s", c->file_id, err->message);
    }
    req->out.status = 201;
    http_add_header(req, "Location", "/api/v1/files/%s", c->file_id);
    http_add_header(req, "Upload-Offset", "%llu", (unsigned long long)c->res.offset);
    if (!c->res.completed && (c->deferred || c->res.offset < c->length))
        expires_header(req, time(NULL));
    http_send_empty(req, 201);
}

int tus_create(struct http_request *req, struct bu_error *err)
{
    const char *concat = http_header(req, "Upload-Concat");
    struct creation c = {0};

    if (check_resumable(req, err) != 0)
        return -1;
    if (concat != NULL && strcmp(concat, "partial") != 0)
        return strncmp(concat, "final;", 6) == 0
                   ? create_final(req, concat + 6, err)
                   : error_set(err, BU_E_BAD_CONCAT,
                               "Upload-Concat is 'partial' or 'final;<urls>'");
    c.partial = concat != NULL;
    c.in.file_id = c.file_id;
    if (creation_read(req, &c, err) != 0 || creation_store(req, &c, err) != 0)
        return -1;
    creation_answer(req, &c, err);
    return 0;
}

/* ---- HEAD ------------------------------------------------------------- */

int tus_head(struct http_request *req, struct bu_error *err)
{
    struct store_file_state st;
    int found;

    if (check_resumable(req, err) != 0 || auth_request(req, err) != 0)
        return -1;
    upload_record_writer(req, req->param[0]);
    found = store_file_state(req->db, err, req->param[0], req->user_id, &st);
    if (found <= 0)
        return found < 0 ? -1 : error_set(err, BU_E_NOT_FOUND, "no such upload");
    if (st.status == STORE_ABORTED || st.status == STORE_EXPIRED)
        return error_set(err, BU_E_UPLOAD_GONE, "this upload was aborted or has expired");
    req->out.status = 200;
    http_add_header(req, "Cache-Control", "no-store");
    http_add_header(req, "Upload-Offset", "%llu", (unsigned long long)st.offset);
    if (st.length_deferred)
        http_add_header(req, "Upload-Defer-Length", "1");
    else
        http_add_header(req, "Upload-Length", "%llu", (unsigned long long)st.size);
    if (st.status == STORE_QUEUED)
        http_add_header(req, "Upload-Queue-Position", "%d", st.queue_position);
    if (st.concat[0] != '\0')
        http_add_header(req, "Upload-Concat", "%s", st.concat);
    if (st.status != STORE_COMPLETED)
        expires_header(req, st.updated_at);
    http_send_empty(req, 200);
    return 0;
}

/* ---- PATCH ------------------------------------------------------------ */

/* A PATCH's Upload-Length: the length of a deferred upload, told once it is
 * known (tus-js-client sends it with the last bytes).  The user is looked
 * up first, since the length is checked against the user's quota before
 * the claim. */
static int patch_length(struct http_request *req, struct bu_error *err)
{
    enum store_length_result result;
    uint64_t length;

    if (tus_parse_u64(http_header(req, "Upload-Length"), &length) != 0)
        return error_set(err, BU_E_BAD_LENGTH, "Upload-Length must be a non-negative integer");
    if (auth_request(req, err) != 0 ||
        store_set_upload_length(req->db, err, req->cfg, req->param[0], req->user_id, length,
                                &result) != 0)
        return -1;
    switch (result) {
    case STORE_LENGTH_SET:
        return 0;
    case STORE_LENGTH_FIXED:
        return error_set(err, BU_E_BAD_LENGTH, "the upload's length is known, and is not %llu",
                         (unsigned long long)length);
    case STORE_LENGTH_SHORT:
        return error_set(err, BU_E_BAD_LENGTH, "Upload-Length %llu is less than the bytes stored",
                         (unsigned long long)length);
    case STORE_LENGTH_TOO_LARGE:
        return error_set(err, BU_E_FILE_TOO_LARGE,
                         "Upload-Length exceeds the maximum of %llu bytes",
                         (unsigned long long)deferred_max(req->cfg));
    case STORE_LENGTH_GONE:
        return error_set(err, BU_E_UPLOAD_GONE, "this upload was aborted or has expired");
    case STORE_LENGTH_NOT_FOUND:
        break;
    }
    return error_set(err, BU_E_NOT_FOUND, "no such upload");
}

int tus_patch(struct http_request *req, struct bu_error *err)
{
    struct upload_request in = {.file_id = req->param[0]};
    struct upload_result res;
    struct tus_checksum ck;

    if (check_resumable(req, err) != 0)
        return -1;
    if (!is_offset_stream(req))
        return error_set(err, BU_E_UNSUPPORTED_MEDIA_TYPE,
                         "PATCH bodies must be 'Content-Type: application/offset+octet-stream'");
    if (tus_parse_u64(http_header(req, "Upload-Offset"), &in.offset) != 0)
        return error_set(err, BU_E_BAD_OFFSET, "Upload-Offset must be a non-negative integer");
    if (chunk_too_large(req, err) != 0)
        return -1;
    if (read_checksum(req, &ck, &in, err) != 0)
        return -1;
    if (http_header(req, "Upload-Length") != NULL ? patch_length(req, err) != 0
                                                  : auth_request_with_claim(req, err) != 0)
        return -1;
    if (upload_receive(req, &in, &res, err) != 0) {
        /* What a client needs to go on: where the upload stands, and its
         * place in the queue. */
        req->out.status = err->status;
        if (err->id == BU_E_SLOT_UNAVAILABLE && res.queue_position > 0)
            http_add_header(req, "Upload-Queue-Position", "%d", res.queue_position);
        if (err->status == 409 || err->status == 460 || err->status == 413 || err->status == 423)
            http_add_header(req, "Upload-Offset", "%llu", (unsigned long long)res.offset);
        return -1;
    }
    req->out.status = 204;
    http_add_header(req, "Upload-Offset", "%llu", (unsigned long long)res.offset);
    if (!res.completed)
        expires_header(req, time(NULL));
    http_send_empty(req, 204);
    return 0;
}

/* ---- DELETE: termination ---------------------------------------------- */

int tus_delete(struct http_request *req, struct bu_error *err)
{
    enum store_abort_result result;

    if (check_resumable(req, err) != 0 || auth_request(req, err) != 0 ||
        store_abort_file(req->db, err, req->param[0], req->user_id, req->cfg->link_ttl_seconds,
                         &result) != 0)
        return -1;
    switch (result) {
    case STORE_ABORT_NOT_FOUND:
        return error_set(err, BU_E_NOT_FOUND, "no such upload");
    case STORE_ABORT_GONE:
        return error_set(err, BU_E_UPLOAD_GONE, "this upload was already aborted or has expired");
    case STORE_ABORT_COMPLETED:
        return error_set(
            err, BU_E_UPLOAD_COMPLETED,
            "the upload is complete and belongs to its batch; it cannot be terminated");
    case STORE_ABORTED_NOW:
        break;
    }
    disk_remove(req->cfg, req->param[0]);
    http_send_empty(req, 204);
    return 0;
}
