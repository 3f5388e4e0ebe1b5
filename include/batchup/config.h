/*
 * config.h - batchup's configuration: every key, parsed and validated in one
 * place (the table in config.c; README.md and conf/batchup.conf describe
 * them).
 */
#ifndef BATCHUP_CONFIG_H
#define BATCHUP_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "batchup/error.h"

enum config_auth { CONFIG_AUTH_TOKEN, CONFIG_AUTH_REMOTE_USER };
enum config_sendfile { CONFIG_SENDFILE_OFF, CONFIG_SENDFILE_X_ACCEL, CONFIG_SENDFILE_X_SENDFILE };

struct bu_config {
    char database[1024];
    char listen[256];
    int listen_mode;         /* permissions of a unix socket, chmod'ed after bind */
    char listen_allow[1024]; /* TCP: peer addresses or prefixes allowed to connect */
    int workers;
    long max_requests;
    char storage_dir[1024];
    int per_user_limit;
    int max_active_users;
    int slot_lease_seconds;
    int queue_retry_seconds;
    uint64_t max_file_size;
    uint64_t max_user_bytes; /* declared bytes a user may hold in live files; 0: no cap */
    int max_open_batches;    /* batches a user may have uploading at once; 0: no cap */
    int max_batch_files;
    int upload_expiry_seconds;
    int link_ttl_seconds;
    enum config_auth auth;
    bool remote_user_create;    /* remote_user: create an unknown name on first sight */
    bool remote_user_trust_tcp; /* remote_user on a TCP listener reachable by local processes */
    enum config_sendfile sendfile;
    char metrics_path[256];
    int shutdown_timeout;
    int gc_interval_seconds;
    int orphan_grace_seconds; /* gc leaves storage files younger than this alone */
    char log_level[16];
    char path[1024]; /* the file it was read from, "" for defaults only */
};

/* Load the configuration: defaults, then the file (`cli_path`, else
 * $BATCHUP_CONFIG, else /etc/batchup/batchup.conf when it exists), then
 * BATCHUP_<KEY> environment overrides.  On failure returns -1 with err
 * bad_config, whose message names the key, the value and where it came from
 * (the caller exits 2). */
int config_load(struct bu_config *cfg, const char *cli_path, struct bu_error *err);

/* Set one key from its text form, validating it; used by the loader and tests. */
int config_set(struct bu_config *cfg, const char *key, const char *value, struct bu_error *err);

void config_defaults(struct bu_config *cfg);

/* Is listen a unix socket path (it holds a '/') rather than host:port? */
bool config_listen_is_unix(const char *listen);

#endif
