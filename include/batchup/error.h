/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * error.h - the one way batchup fails, and every way it can.
 *
 * A problem is described where it is found, by one of the errors in the
 * table below and a human sentence, and rendered in exactly one place
 * (http_send_error for requests, main for the command line).  The table is
 * the whole vocabulary: each error has its HTTP status, its stable
 * machine-readable code (what clients and tests match on), and, when the
 * database raises it too, the SQLSTATE batchup's SQL functions use for the
 * same condition, so a condition has one name whichever layer finds it.
 *
 * An error whose status is 0 belongs to the command line (a bad usage, a
 * bad configuration): main turns it into exit status 2, and it has no HTTP
 * meaning.  Should one ever reach a request, http_send_error answers 500 and
 * logs it.
 *
 * The SQLSTATEs are of the class "BU" followed by the HTTP status; each is
 * raised by sql/functions/ for exactly one condition (see the comment at the
 * top of sql/functions/10_common.sql).
 */
#ifndef BATCHUP_ERROR_H
#define BATCHUP_ERROR_H

/* X(NAME, HTTP status, code, SQLSTATE or NULL) */
#define BU_ERRORS(X)                                                                               \
    X(BAD_REQUEST, 400, "bad_request", "BU400")                                                    \
    X(BAD_JSON, 400, "bad_json", NULL)                                                             \
    X(BAD_NAME, 400, "bad_name", NULL)                                                             \
    X(BAD_SIZE, 400, "bad_size", NULL)                                                             \
    X(BAD_TYPE, 400, "bad_type", NULL)                                                             \
    X(BAD_SHA256, 400, "bad_sha256", NULL)                                                         \
    X(BAD_LENGTH, 400, "bad_length", NULL)                                                         \
    X(BAD_OFFSET, 400, "bad_offset", NULL)                                                         \
    X(BAD_METADATA, 400, "bad_metadata", NULL)                                                     \
    X(BAD_CHECKSUM, 400, "bad_checksum", NULL)                                                     \
    X(UNSUPPORTED_CHECKSUM, 400, "unsupported_checksum", NULL)                                     \
    X(DEFER_LENGTH_UNSUPPORTED, 400, "defer_length_unsupported", NULL)                             \
    X(BODY_INCOMPLETE, 400, "body_incomplete", NULL)                                               \
    X(BAD_CONCAT, 400, "bad_concat", NULL)                                                         \
    X(CONCAT_INCOMPLETE, 400, "concat_incomplete", NULL)                                           \
    X(INVALID_INPUT, 400, "invalid_input", NULL)                                                   \
    X(UNAUTHORIZED, 401, "unauthorized", NULL)                                                     \
    X(UPLOAD_IS_FINAL, 403, "upload_is_final", NULL)                                               \
    X(NOT_FOUND, 404, "not_found", "BU404")                                                        \
    X(METHOD_NOT_ALLOWED, 405, "method_not_allowed", NULL)                                         \
    X(OFFSET_MISMATCH, 409, "offset_mismatch", "BU409")                                            \
    X(UPLOAD_COMPLETED, 409, "upload_completed", NULL)                                             \
    X(BATCH_INCOMPLETE, 409, "batch_incomplete", NULL)                                             \
    X(BATCH_NO_MATCH, 409, "batch_no_match", NULL)                                                 \
    X(BATCH_NAME_TAKEN, 409, "batch_name_taken", NULL)                                             \
    X(BATCH_FINISHED, 409, "batch_finished", NULL)                                                 \
    X(BATCH_NOT_OPEN, 409, "batch_not_open", NULL)                                                 \
    X(BATCH_EMPTY, 409, "batch_empty", NULL)                                                       \
    X(CONCAT_PART_TAKEN, 409, "concat_part_taken", NULL)                                           \
    X(UPLOAD_GONE, 410, "upload_gone", "BU410")                                                    \
    X(FILE_EXPIRED, 410, "file_expired", NULL)                                                     \
    X(LINK_EXPIRED, 410, "link_expired", NULL)                                                     \
    X(BATCH_EXPIRED, 410, "batch_expired", NULL)                                                   \
    X(UNSUPPORTED_VERSION, 412, "unsupported_version", NULL)                                       \
    X(BEYOND_LENGTH, 413, "beyond_length", NULL)                                                   \
    X(BODY_TOO_LARGE, 413, "body_too_large", NULL)                                                 \
    X(FILE_TOO_LARGE, 413, "file_too_large", NULL)                                                 \
    X(TOO_MANY_FILES, 413, "too_many_files", NULL)                                                 \
    X(QUOTA_EXCEEDED, 413, "quota_exceeded", "BU413")                                              \
    X(UNSUPPORTED_MEDIA_TYPE, 415, "unsupported_media_type", NULL)                                 \
    X(RANGE_NOT_SATISFIABLE, 416, "range_not_satisfiable", NULL)                                   \
    X(SLOT_UNAVAILABLE, 423, "slot_unavailable", NULL)                                             \
    X(UPLOAD_LOCKED, 423, "upload_locked", "BU423")                                                \
    X(CHECKSUM_MISMATCH, 460, "checksum_mismatch", "BU460")                                        \
    X(INTERNAL, 500, "internal", NULL)                                                             \
    X(STORAGE_ERROR, 500, "storage_error", NULL)                                                   \
    X(UPLOAD_DAMAGED, 500, "upload_damaged", NULL)                                                 \
    X(DATABASE_ERROR, 500, "database_error", NULL)                                                 \
    X(DATABASE_UNAVAILABLE, 503, "database_unavailable", NULL)                                     \
    X(SERVER_BUSY, 503, "server_busy", NULL)                                                       \
    X(STORAGE_FULL, 507, "storage_full", NULL)                                                     \
    /* The command line's own: status 0, exit status 2, never an HTTP answer. */                   \
    X(BAD_CONFIG, 0, "bad_config", NULL)                                                           \
    X(USAGE, 0, "usage", NULL)

enum bu_errcode {
#define BU_ERROR_ENUM(name, status, code, sqlstate) BU_E_##name,
    BU_ERRORS(BU_ERROR_ENUM)
#undef BU_ERROR_ENUM
        BU_E_COUNT
};

struct bu_error {
    enum bu_errcode id;
    int status;        /* HTTP status, from the table; 0: the command line's own */
    const char *code;  /* from the table: stable across releases */
    char message[512]; /* one line for people: valid UTF-8, no control character */
};

/* Fill err with error id and a printf-style message.  Returns -1 so that
 * callers can write `return error_set(err, ...);`. */
int error_set(struct bu_error *err, enum bu_errcode id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The error batchup's SQL raises with sqlstate ("BU410"), or -1 when the
 * state is not one of the table's. */
int error_for_sqlstate(const char *sqlstate);

/* The exit status of a command that failed with err: 2 for bad usage or a
 * bad configuration, 1 for everything else. */
int error_exit_status(const struct bu_error *err);

#endif
