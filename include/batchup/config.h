/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * config.h - batchup's configuration: every key, parsed and validated in one
 * place (the table in config.c; docs/operations.md and conf/batchup.conf describe
 * them).
 */
#ifndef BATCHUP_CONFIG_H
#define BATCHUP_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "batchup/address.h"
#include "batchup/error.h"

/* Room for a path built from a directory of at most 1023 bytes (the size
 * of the path keys below) and a name under it. */
#define CONFIG_PATH_SIZE 1100

/* The orders of these enums are the orders of the words in config.c. */
enum config_pm { CONFIG_PM_STATIC, CONFIG_PM_DYNAMIC, CONFIG_PM_ONDEMAND };
enum config_auth { CONFIG_AUTH_TOKEN, CONFIG_AUTH_REMOTE_USER };
enum config_sendfile { CONFIG_SENDFILE_OFF, CONFIG_SENDFILE_X_ACCEL, CONFIG_SENDFILE_X_SENDFILE };

struct bu_config {
    char database[1024];
    int db_statement_timeout; /* seconds a worker's statement may run; 0 = no limit */
    int db_lock_timeout;      /* seconds it may wait for a lock; 0 = no limit */
    char listen[256];
    int listen_mode;                   /* permissions of a unix socket, chmod'ed after bind */
    char listen_allow[1024];           /* TCP: peer addresses or prefixes allowed to connect */
    struct address_listen listen_addr; /* listen, parsed when set */
    struct address_allow listen_peers; /* listen_allow, parsed when set */
    int workers; /* the pool's size (static) or its upper bound (dynamic, ondemand) */
    enum config_pm pm;
    int pm_start_servers;
    int pm_min_spare_servers;
    int pm_max_spare_servers;
    int pm_process_idle_timeout;
    /* Admission: percents of `workers` each long-running class may hold
     * (uploads, downloads, batch bodies), and the percent (at least one
     * worker) that only short requests may take; see config_class_caps. */
    int pool_upload_share;
    int pool_download_share;
    int pool_body_share;
    int pool_reserve_share;
    int download_per_address; /* downloads streaming at once to one address; 0 = no cap */
    int download_per_link;    /* ...of one link; 0 = no cap */
    long max_requests;
    char storage_dir[1024];
    int per_user_limit;
    int max_active_users;
    int slot_lease_seconds;
    int queue_retry_seconds;
    int queue_hold_seconds; /* a queued PATCH waits this long for its slot; 0 = answer at once */
    uint64_t max_file_size;
    uint64_t max_chunk_size; /* the largest body of one PATCH, announced to clients; 0: none */
    uint64_t max_user_bytes; /* declared bytes a user may hold in live files; 0: no cap */
    int max_open_batches;    /* batches a user may have uploading at once; 0: no cap */
    int max_user_files;      /* file rows a user may hold in batches not purged; 0: no cap */
    int max_batch_files;
    int upload_expiry_seconds;
    int link_ttl_seconds;
    int retention_seconds; /* a purged batch's rows are deleted this long after purging */
    int header_timeout;    /* seconds; these six bound every wait on a client */
    int body_timeout;
    int send_timeout;
    int body_min_rate; /* bytes a second, over each min_rate_window; 0 = none */
    int send_min_rate;
    int min_rate_window;
    enum config_auth auth;
    bool remote_user_create;    /* remote_user: create an unknown name on first sight */
    bool remote_user_trust_tcp; /* remote_user on a TCP listener reachable by local processes */
    enum config_sendfile sendfile;
    char metrics_path[256];
    char status_path[256]; /* "" : no status page */
    int shutdown_timeout;
    int gc_interval_seconds;
    int orphan_grace_seconds; /* gc leaves storage files younger than this alone */
    char log_level[16];
    char log_file[1024];      /* "" : standard error */
    char hook_command[1024];  /* run by /bin/sh -c for each event; "" : none */
    char hook_url[1024];      /* an event is POSTed here as JSON; "" : none */
    char hook_events[64];     /* the kinds delivered, comma-separated, normalised */
    int hook_timeout_seconds; /* one delivery to one target */
    int hook_max_attempts;    /* then the event is given up (status failed) */
    int hook_retry_seconds;   /* first retry delay; doubles, at most an hour */
    char cors_origins[2048];  /* "" : no CORS; "*"; or exact origins, space-separated */
    char path[1024];          /* the file it was read from, "" for defaults only */
};

/* Load the configuration: defaults, then the file (`cli_path`, else
 * $BATCHUP_CONFIG, else /etc/batchup/batchup.conf when it exists), then
 * BATCHUP_<KEY> environment overrides.  On failure returns -1 with err
 * bad_config, whose message names the key, the value and where it came from
 * (the caller exits 2). */
int config_load(struct bu_config *cfg, const char *cli_path, struct bu_error *err);

/* Set one key from its text form, validating it; used by the loader and tests. */
int config_set(struct bu_config *cfg, const char *key, const char *value, struct bu_error *err);

/* The pool rule: one user's per_user_limit uploads must leave a worker for
 * everyone else, so workers > per_user_limit.  The exception is a process
 * manager that starts one batchup per request in flight (mod_fcgid):
 * `one_per_process` (the listening socket came on standard input) with
 * workers = 1, where the manager decides how many run. */
int config_check_pool(const struct bu_config *cfg, bool one_per_process, struct bu_error *err);

void config_defaults(struct bu_config *cfg);

/* Is auth = remote_user safe on a listener of this address family?  On TCP
 * only with remote_user_trust_tcp, or a listen_allow that names no address
 * of this host (so no local process can connect).  0, or -1 with err
 * bad_config saying what to set. */
int config_check_remote_user(const struct bu_config *cfg, int family, struct bu_error *err);

/* The workers each long-running class may hold at once (uploads,
 * downloads, batch bodies: the shares of `workers`, rounded up), and the
 * most all of them together may hold: `workers` less the reserve
 * (pool_reserve_share, rounded up, at least one).  A pool of one
 * worker (mod_fcgid) reserves nothing: its manager decides. */
struct config_caps {
    int upload, download, body, long_total;
};
void config_class_caps(const struct bu_config *cfg, struct config_caps *caps);

/* Is listen a unix socket path (it holds a '/') rather than host:port? */
bool config_listen_is_unix(const char *listen);

/* Is kind ("file_aborted") one of the comma-separated hook_events? */
bool config_has_event(const char *events, const char *kind);

#endif
