/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * store.h - the data layer: one C function per batchup.* SQL function or
 * view the program uses, returning C types.
 *
 * Every question batchup asks PostgreSQL is here, and nowhere else but the
 * migration runner's bookkeeping of its own ledgers (migrate.c): the
 * handlers, the command line and the maintenance pass call these functions
 * and never see SQL, libpq or a column number.  They live in app/store_*.c,
 * one file per section below, on the helper of store_call.h (store.c).
 * The database keeps every decision (the functions in sql/functions/), so
 * each call is one round trip and reads no table directly: it calls a
 * function or a view.
 *
 * Conventions: every function takes the process's struct db and an error
 * to fill.  Functions that look something up return 1 found, 0 not found,
 * -1 error; the others 0 or -1.  Strings handed back live in the struct
 * they are returned in (fixed buffers), except for the lists of files
 * (struct store_files), which point into a result freed by
 * store_files_free.
 */
#ifndef BATCHUP_STORE_H
#define BATCHUP_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "batchup/check.h"
#include "batchup/config.h"
#include "batchup/db.h"
#include "batchup/digest.h"

#define STORE_ID_SIZE 37     /* a UUID and its NUL */
#define STORE_WRITER_MAX 200 /* a writer's name, as batchup.uploads.writer allows */

/* ---- users ---------------------------------------------------------- */

struct store_user {
    int id;
    char name[CHECK_USER_NAME_MAX + 1];
};

/* The user whose token hashes to token_hash (lower-case hex SHA-256). */
int store_authenticate(struct db *db, struct bu_error *err, const char *token_hash,
                       struct store_user *user);
/* The id of the user called name (remote_user); when create is true a
 * missing user is created.  1 found (or created), 0 no such user. */
int store_user_for_remote(struct db *db, struct bu_error *err, const char *name, bool create,
                          int *user_id);
/* Create a user: 1 created, 0 the name is taken, -1 error. */
int store_user_add(struct db *db, struct bu_error *err, const char *name, const char *token_hash,
                   int limit);
/* Replace name's token hash / slot limit: 1 done, 0 no such user. */
int store_user_set_token(struct db *db, struct bu_error *err, const char *name,
                         const char *token_hash);
int store_user_set_limit(struct db *db, struct bu_error *err, const char *name, int limit);
/* The user's concurrent-upload limit: users.slot_limit, or default_limit
 * when that is 0; -1 with err. */
int store_user_limit(struct db *db, struct bu_error *err, int user_id, int default_limit);

struct store_user_usage {
    const char *name;
    int limit; /* 0: the server's per_user_limit */
    int active;
    int queued;
};

/* Call each for every user, by name (batchup.user_usage). */
int store_user_list(struct db *db, struct bu_error *err,
                    void (*each)(const struct store_user_usage *u, void *ctx), void *ctx);

/* ---- batches -------------------------------------------------------- */

/* Create a batch from a JSON file list (as batches_parse returns it), with
 * the configuration's link lifetime and quotas (max_user_bytes,
 * max_open_batches): 413 quota_exceeded over a quota. */
int store_create_batch(struct db *db, struct bu_error *err, const struct bu_config *cfg,
                       int user_id, const char *files_json, char batch_id[STORE_ID_SIZE]);
/* tus creation: a batch holding one file (media_type "" for none), under
 * the same quotas. */
int store_create_upload(struct db *db, struct bu_error *err, const struct bu_config *cfg,
                        int user_id, const char *name, const char *media_type, uint64_t size,
                        char batch_id[STORE_ID_SIZE], char file_id[STORE_ID_SIZE]);
/* POST /api/v1/batches with {"open": true}: an open batch declaring the
 * files of files_json (a JSON array, "[]" for none), under the same quotas
 * (batchup.create_open_batch). */
int store_create_open_batch(struct db *db, struct bu_error *err, const struct bu_config *cfg,
                            int user_id, const char *files_json, char batch_id[STORE_ID_SIZE]);

/* What a tus creation naming a batch got (batchup.join_batch). */
enum store_join_result {
    STORE_JOIN_MATCHED,    /* a declared file without an upload */
    STORE_JOIN_EXISTING,   /* the file an earlier creation took (a retry) */
    STORE_JOIN_ADDED,      /* a new file of an open batch */
    STORE_JOIN_NO_MATCH,   /* no such declared file, and the batch is not open */
    STORE_JOIN_NAME_TAKEN, /* an open batch has this name with another size */
    STORE_JOIN_FINISHED,   /* the batch is complete or expired */
    STORE_JOIN_TOO_MANY,   /* the open batch holds max_batch_files files */
    STORE_JOIN_NOT_FOUND,  /* no such batch of this user */
};

/* tus creation into batch_id: *result, and for MATCHED, EXISTING and ADDED
 * the file and its offset. */
int store_join_batch(struct db *db, struct bu_error *err, const struct bu_config *cfg, int user_id,
                     const char *batch_id, const char *name, const char *media_type, uint64_t size,
                     enum store_join_result *result, char file_id[STORE_ID_SIZE], uint64_t *offset);

/* tus concatenation (013): a partial upload of size bytes (at least 1),
 * in a batch of its own that is never listed nor completed, under the
 * quotas of a creation (batchup.create_partial_upload). */
int store_create_partial_upload(struct db *db, struct bu_error *err, const struct bu_config *cfg,
                                int user_id, uint64_t size, char file_id[STORE_ID_SIZE]);

enum store_final_result {
    STORE_FINAL_NEW,            /* a new final file (a batch of its own, or joined) */
    STORE_FINAL_EXISTING,       /* the final of the same parts: a retry */
    STORE_FINAL_PART_NOT_FOUND, /* a part is no partial upload of this user */
    STORE_FINAL_PART_GONE,      /* a part was aborted or has expired */
    STORE_FINAL_INCOMPLETE,     /* a part is short of its length */
    STORE_FINAL_TOO_LARGE,      /* the parts sum past max_file_size */
    STORE_FINAL_TAKEN,          /* a part belongs to another final */
    STORE_FINAL_JOIN_REFUSED,   /* the batch refused it: join says why */
};

struct store_final {
    enum store_final_result result;
    enum store_join_result join; /* for STORE_FINAL_JOIN_REFUSED */
    char file_id[STORE_ID_SIZE]; /* for NEW and EXISTING */
    uint64_t offset;             /* where the final stands */
    uint64_t size;               /* the parts' sum */
};

/* tus creation with Upload-Concat: final (batchup.create_final): parts is
 * a PostgreSQL array of the partial uploads' ids ("{id,id}"), batch_id the
 * batch it joins or NULL for a batch of its own. */
int store_create_final(struct db *db, struct bu_error *err, const struct bu_config *cfg,
                       int user_id, const char *parts, const char *name, const char *media_type,
                       const char *batch_id, struct store_final *out);

/* tus creation with Upload-Defer-Length: a batch of one file whose length
 * is not known yet; max_size is the most it may take
 * (batchup.create_deferred_upload). */
int store_create_deferred_upload(struct db *db, struct bu_error *err, const struct bu_config *cfg,
                                 int user_id, const char *name, const char *media_type,
                                 uint64_t max_size, char batch_id[STORE_ID_SIZE],
                                 char file_id[STORE_ID_SIZE]);

enum store_length_result {
    STORE_LENGTH_SET,       /* set now, or the same length before */
    STORE_LENGTH_FIXED,     /* the length is known, and is another */
    STORE_LENGTH_SHORT,     /* less than the bytes stored */
    STORE_LENGTH_TOO_LARGE, /* more than the upload may take */
    STORE_LENGTH_GONE,      /* aborted or expired */
    STORE_LENGTH_NOT_FOUND, /* no such upload of this user */
};

/* A PATCH's Upload-Length for a deferred upload (batchup.set_upload_length),
 * checked against max_user_bytes. */
int store_set_upload_length(struct db *db, struct bu_error *err, const struct bu_config *cfg,
                            const char *file_id, int user_id, uint64_t length,
                            enum store_length_result *result);

enum store_close_result {
    STORE_CLOSE_CLOSED,    /* closed now, or before */
    STORE_CLOSE_NOT_OPEN,  /* created with its list: never open */
    STORE_CLOSE_EMPTY,     /* open with no file: stays open */
    STORE_CLOSE_EXPIRED,   /* the open batch expired */
    STORE_CLOSE_NOT_FOUND, /* no such batch of this user */
};

/* Close an open batch (batchup.close_batch). */
int store_close_batch(struct db *db, struct bu_error *err, const struct bu_config *cfg,
                      const char *batch_id, int user_id, enum store_close_result *result);

/* The API's JSON of one batch of user_id (malloc'd; NULL: see *found / err). */
char *store_batch_json(struct db *db, struct bu_error *err, const char *batch_id, int user_id,
                       int *found);
/* One page of GET /api/v1/batches. */
struct store_batches_page {
    int limit;         /* batches, at most */
    char cursor[128];  /* where the page starts (a "next" link's), "" : the newest */
    bool files;        /* each batch's files too, not only their counts */
    int max_file_rows; /* with files: the page ends once it holds this many */
};

/* {"batches": [...], "next": ...}: a page of the user's batches, newest
 * first (malloc'd; NULL on error: bad_request for a malformed cursor). */
char *store_batches_json(struct db *db, struct bu_error *err, int user_id,
                         const struct store_batches_page *page);
/* Delete the user's batch with all its files and its link, calling removed
 * for each file (its data is to go).  1 done, 0 no such batch of user_id. */
int store_delete_batch(struct db *db, struct bu_error *err, const char *batch_id, int user_id,
                       void (*removed)(const char *file_id, void *ctx), void *ctx);

enum store_link_result {
    STORE_LINK_DONE,       /* issued, or revoked */
    STORE_LINK_NONE,       /* revoke: there was no link */
    STORE_LINK_INCOMPLETE, /* issue: files are left to upload */
    STORE_LINK_EXPIRED,    /* issue: the batch expired */
    STORE_LINK_NOT_FOUND,  /* no such batch of this user */
};

/* Withdraw the batch's download link (batchup.revoke_link). */
int store_revoke_link(struct db *db, struct bu_error *err, const char *batch_id, int user_id,
                      enum store_link_result *result);
/* Issue a new download link, valid link_ttl seconds (batchup.issue_link). */
int store_issue_link(struct db *db, struct bu_error *err, const char *batch_id, int user_id,
                     int link_ttl, enum store_link_result *result);

/* ---- uploads and slots ---------------------------------------------- */

enum store_claim_result {
    STORE_CLAIM_GRANTED,   /* the slot and the writer lock are the caller's */
    STORE_CLAIM_QUEUED,    /* waiting: queue_position >= 1 */
    STORE_CLAIM_LOCKED,    /* another request (holder) writes it: asked to let go */
    STORE_CLAIM_NOT_FOUND, /* no such file of this user */
    STORE_CLAIM_GONE,      /* aborted or expired */
    STORE_CLAIM_COMPLETED,
};

struct store_claim {
    enum store_claim_result result;
    int queue_position;
    uint64_t offset; /* recorded, durable; read under the lock when granted */
    uint64_t size;
    char expected_sha256[DIGEST_SHA256_HEX + 1]; /* announced at creation, "" for none */
    char holder[STORE_WRITER_MAX + 1];           /* the writer holding it, when locked */
    int user_id;                                 /* the token's user (token_hash given): 0 none */
    char user_name[CHECK_USER_NAME_MAX + 1];
    bool final; /* a final upload (tus concatenation): no PATCH writes it */
};

/* batchup.claim_upload with the configuration's limits: the slot and the
 * writer lock for writer (break_holder: a writer known to be gone, or "").
 * With token_hash (not NULL) the user is the one that token names, found
 * by batchup.authenticate in the same statement (user_id is ignored): no
 * such user, and claim->user_id is 0 and nothing else happened. */
int store_claim_upload(struct db *db, struct bu_error *err, const struct bu_config *cfg,
                       const char *file_id, int user_id, const char *token_hash, const char *writer,
                       const char *break_holder, struct store_claim *claim);

/* What a newer request asked of a writer. */
enum store_release {
    STORE_RELEASE_NONE,
    STORE_RECORD, /* record what arrived and go on (the column's "if_quiet") */
    STORE_RELEASE_NOW,
    STORE_RELEASE_LOST, /* the writer no longer holds the lock */
};

struct store_renewal {
    bool slot_held; /* false: the slot's lease had run out */
    enum store_release release;
};

/* Record a durable offset for writer, renewing the slot's and the lock's
 * leases.  -1 on error (upload_gone, ...). */
int store_renew_upload(struct db *db, struct bu_error *err, const char *file_id, uint64_t offset,
                       int lease_seconds, const char *writer, struct store_renewal *renewal);
/* What was asked of writer while it waits for bytes. */
int store_release_requested(struct db *db, struct bu_error *err, const char *file_id,
                            const char *writer, enum store_release *release);
/* The writer lets go of the upload's lock. */
int store_release_upload(struct db *db, struct bu_error *err, const char *file_id,
                         const char *writer);
/* The live writer of the user's upload (1, into holder), or none (0). */
int store_upload_writer(struct db *db, struct bu_error *err, const char *file_id, int user_id,
                        char *holder, size_t cap);

enum store_file_status {
    STORE_PENDING,
    STORE_QUEUED,
    STORE_UPLOADING,
    STORE_COMPLETED,
    STORE_ABORTED,
    STORE_EXPIRED,
};

/* A file as the API reports it (batchup.file_state). */
/* The longest Upload-Concat a HEAD reports: "final;" and 16 URLs of
 * /api/v1/files/<id> (tus.c takes at most TUS_CONCAT_PARTS parts). */
#define STORE_CONCAT_MAX 1024

struct store_file_state {
    enum store_file_status status;
    uint64_t offset;
    uint64_t size;
    int queue_position; /* 0 unless queued */
    time_t updated_at;
    char expected_sha256[DIGEST_SHA256_HEX + 1]; /* "" when none was announced */
    bool length_deferred; /* created without its length: size is its maximum */
    /* tus Upload-Concat: "partial", "final;<url> <url>...", or "". */
    char concat[STORE_CONCAT_MAX + 1];
};

/* user_id 0: any user's file (the completion checks its own upload). */
int store_file_state(struct db *db, struct bu_error *err, const char *file_id, int user_id,
                     struct store_file_state *state);

struct store_completion {
    bool completed;      /* false: the file was aborted or expired meanwhile */
    bool batch_complete; /* this completion issued the batch's link */
    bool partial;        /* a partial upload's last byte: recorded, its slot freed */
};

/* batchup.complete_file: the file's bytes are durable in files/, and
 * writer holds the upload's writer lock (else upload_locked, 423). */
int store_complete_file(struct db *db, struct bu_error *err, const char *file_id,
                        const char *sha256, uint32_t crc32, int link_ttl, const char *writer,
                        struct store_completion *done);

enum store_abort_result {
    STORE_ABORTED_NOW,
    STORE_ABORT_NOT_FOUND,
    STORE_ABORT_COMPLETED, /* nothing changed */
    STORE_ABORT_GONE,      /* already aborted or expired */
};

int store_abort_file(struct db *db, struct bu_error *err, const char *file_id, int user_id,
                     int link_ttl, enum store_abort_result *result);

/* ---- downloads ------------------------------------------------------ */

/* A completed file as downloads serve it. */
struct store_file {
    const char *id;
    const char *name;
    const char *sha256;
    const char *media_type; /* "" when none */
    uint64_t size;
    time_t completed_at; /* whole seconds: Last-Modified */
    int64_t crc32;       /* -1 when not recorded */
};

struct store_files {
    size_t n;
    struct store_file *file; /* n of them, pointing into res */
    struct pg_result *res;
};

void store_files_free(struct store_files *files);

/* The owner's completed file (files.n is 1 when found); *batch_expired
 * tells that its batch expired (its data is gone). */
int store_owned_file(struct db *db, struct bu_error *err, const char *file_id, int user_id,
                     struct store_files *files, bool *batch_expired);

struct store_link {
    char batch_id[STORE_ID_SIZE];
    bool live; /* false once the link expired */
    char expires_at[32];
    struct store_files files; /* completed files, in upload order */
};

/* The batch behind a download token, with its files (free link->files). */
int store_link(struct db *db, struct bu_error *err, const char *token, struct store_link *link);

/* ---- service -------------------------------------------------------- */

/* Does the database answer? */
int store_ping(struct db *db, struct bu_error *err);
/* Slots held and live waiters now, on every host. */
int store_upload_counts(struct db *db, struct bu_error *err, long *active, long *queued);
/* One maintenance pass with the configuration's upload expiry, link
 * lifetime and retention: calls removed for each file whose data is to
 * go; returns how many, or -1. */
int store_gc(struct db *db, struct bu_error *err, const struct bu_config *cfg,
             void (*removed)(const char *file_id, void *ctx), void *ctx);
/* This database's identity (batchup.installation_id), for the marker file
 * of storage_dir. */
int store_installation_id(struct db *db, struct bu_error *err, char id[STORE_ID_SIZE]);
/* The other hosts sharing storage_dir, seen within window_seconds
 * (batchup.store_hosts_others): each one's name, nonce and storage_dir
 * handed to each().  Returns how many, or -1 with err. */
int store_hosts_others(struct db *db, struct bu_error *err, const char *host, int window_seconds,
                       void (*each)(const char *host, const char *nonce, const char *dir,
                                    void *ctx),
                       void *ctx);
/* Record host's nonce (register) or renew its row while the nonce is still
 * its own (batchup.store_host_seen). */
int store_host_seen(struct db *db, struct bu_error *err, const char *host, const char *nonce,
                    const char *dir, bool register_it);

/* ---- hooks ---------------------------------------------------------- */

/* A hook event claimed for delivery (batchup.hook_claim). */
struct store_hook_event {
    char id[STORE_ID_SIZE];
    char kind[32];
    char batch_id[STORE_ID_SIZE];
    char file_id[STORE_ID_SIZE]; /* "" for batch_complete */
    char user_name[CHECK_USER_NAME_MAX + 1];
    char download_url[128]; /* the link's path, "" when the batch has none */
    int attempt;
    bool command_done; /* accepted by a target in an earlier attempt */
    bool url_done;
    char *payload; /* the JSON document, malloc'd: store_hook_event_free */
};

/* LISTEN batchup_hook on this connection (NOTIFY wakes the deliverer) when
 * it is a session of our own: 1 listening, 0 not (a connection pooler is in
 * between, see store_hooks.c), -1 error. */
int store_hook_listen(struct db *db, struct bu_error *err);
/* Register deliverer (this host's hooks child) for the kinds in events,
 * for lease_seconds: the database queues only events somebody receives. */
int store_hook_register(struct db *db, struct bu_error *err, const char *deliverer,
                        const char *events, int lease_seconds);
/* Claim one due event of the kinds in events ("batch_complete,file_aborted"),
 * leased for lease_seconds: 1 claimed, 0 none due, -1 error. */
int store_hook_claim(struct db *db, struct bu_error *err, const char *events, int lease_seconds,
                     struct store_hook_event *ev);
void store_hook_event_free(struct store_hook_event *ev);
/* Target "command" or "url" accepted the event. */
int store_hook_target_done(struct db *db, struct bu_error *err, const char *event_id,
                           const char *target);
/* The attempt's outcome: error NULL when delivered.  Sets *failed when the
 * event was given up (max_attempts reached). */
int store_hook_finish(struct db *db, struct bu_error *err, const char *event_id, const char *error,
                      int retry_seconds, int max_attempts, bool *failed);
/* Of the n file ids found in storage, call live for each whose data the
 * database still wants (batchup.live_files).  0 or -1. */
int store_live_files(struct db *db, struct bu_error *err, const char *const *ids, size_t n,
                     void (*live)(const char *file_id, void *ctx), void *ctx);

#endif
