/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * upload.h - the byte path: one request's body into one upload.
 *
 * tus.c speaks the protocol (headers, parsing, answers); this module moves
 * the bytes: it takes (or renews) the upload's slot, locks the upload,
 * streams the body to disk, makes it durable before the database counts
 * it, and commits the file when its last byte has arrived.
 */
#ifndef BATCHUP_UPLOAD_H
#define BATCHUP_UPLOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "batchup/digest.h"
#include "batchup/http.h"

/* What the client asked for. */
struct upload_request {
    const char *file_id;
    uint64_t offset; /* its Upload-Offset */
    /* A checksum of this request's body (tus Upload-Checksum), or none. */
    bool verify;
    enum digest_algo algo;
    const unsigned char *digest;
    size_t digest_len;
};

/* What became of it, in success and in failure. */
struct upload_result {
    uint64_t offset;    /* the upload's recorded (durable) offset now */
    int queue_position; /* when the error is slot_unavailable: 1 = next */
    bool completed;     /* the file is complete (now or before) */
};

/* Receive req's body into the upload.  0 when the body was stored (and the
 * file completed if it was the last byte), or -1 with err: slot_unavailable
 * (423, queued: no byte of the body was read), upload_locked, not_found,
 * upload_gone, offset_mismatch, beyond_length, checksum_mismatch,
 * body_incomplete (what arrived is kept, unless it had a checksum), and the
 * storage and database errors.  *res is filled in both cases. */
int upload_receive(struct http_request *req, const struct upload_request *in,
                   struct upload_result *res, struct bu_error *err);

/* Assemble the final upload in->file_id (tus concatenation) from the n
 * completed partial uploads parts, in order: its slot and lock taken as a
 * PATCH takes them (queued: 423 slot_unavailable), the bytes copied and
 * hashed, the file committed as a streamed one is, and the partials'
 * data removed.  A final already complete (a retry) is left as it is.
 * 0 with res->completed, or -1 with err. */
int upload_assemble(struct http_request *req, const struct upload_request *in,
                    const char *const *parts, size_t n, struct upload_result *res,
                    struct bu_error *err);

/* Before an offset is reported (HEAD): the writer of this pool receiving
 * the upload, if any, is asked to record what arrived, and given a moment,
 * so that the offset includes it.  The writer goes on receiving. */
void upload_record_writer(struct http_request *req, const char *file_id);

#endif
