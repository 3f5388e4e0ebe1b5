/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * config.c - reading `key = value` files and BATCHUP_<KEY> variables.
 *
 * Every key is described once in the table below (name, kind, bounds, where
 * it lives in struct bu_config), so parsing, validation and the environment
 * overrides cannot drift apart.  A bad key or value is reported with the key
 * and the value and the process exits 2: a server must not start on a
 * configuration that does not mean what the operator thinks.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "batchup/config.h"

/* Add " in <where>" to the message of err.  Returns -1. */
static int error_where(struct bu_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int error_where(struct bu_error *err, const char *fmt, ...)
{
    size_t used = strlen(err->message);
    va_list ap;

    if (used + 4 >= sizeof err->message)
        return -1;
    memcpy(err->message + used, " in ", 4);
    used += 4;
    va_start(ap, fmt);
    vsnprintf(err->message + used, sizeof err->message - used, fmt, ap);
    va_end(ap);
    return -1;
}

/* K_CHOICE stores the index of the value among `words` in an int (the
 * enums of config.h follow the same order); K_WORD checks the value against
 * `words` and stores it as a string.  K_ABSPATH is an absolute path or
 * nothing, K_URL an http(s) URL or nothing, K_EVENTS a list of hook event
 * kinds, K_ALLOW a list of peer addresses, K_MODE an octal file mode,
 * K_ORIGINS the web origins allowed cross-origin requests (or "*"). */
enum kind {
    K_STRING,
    K_WORD,
    K_CHOICE,
    K_BOOL,
    K_LISTEN,
    K_ALLOW,
    K_ABSPATH,
    K_URL,
    K_EVENTS,
    K_ORIGINS,
    K_INT,
    K_LONG,
    K_U64,
    K_MODE
};

struct key {
    const char *name;
    enum kind kind;
    size_t offset;
    size_t size;   /* for strings: buffer size */
    long long min; /* for numbers */
    long long max;
    const char *words; /* K_WORD, K_CHOICE: "a|b|c" */
};

#define FIELD(f) offsetof(struct bu_config, f), sizeof(((struct bu_config *)0)->f)
#define STR(f) K_STRING, FIELD(f), 0, 0, NULL
#define NUM(f, lo, hi) K_INT, FIELD(f), lo, hi, NULL
#define CHOICE(f, words) K_CHOICE, FIELD(f), 0, 0, words
#define BOOL(f) K_BOOL, FIELD(f), 0, 0, "no|yes"
#define U64(f) K_U64, FIELD(f), 0, LLONG_MAX, NULL

_Static_assert(sizeof(enum config_pm) == sizeof(int), "K_CHOICE fields are stored as int");

static const struct key keys[] = {
    {"database", STR(database)},
    {"db_statement_timeout", NUM(db_statement_timeout, 0, 86400)},
    {"db_lock_timeout", NUM(db_lock_timeout, 0, 86400)},
    {"listen", K_LISTEN, FIELD(listen), 0, 0, NULL},
    {"listen_mode", K_MODE, FIELD(listen_mode), 0, 0777, NULL},
    {"listen_allow", K_ALLOW, FIELD(listen_allow), 0, 0, NULL},
    {"workers", NUM(workers, 1, 1024)},
    {"pm", CHOICE(pm, "static|dynamic|ondemand")},
    {"pm_start_servers", NUM(pm_start_servers, 0, 1024)},
    {"pm_min_spare_servers", NUM(pm_min_spare_servers, 0, 1024)},
    {"pm_max_spare_servers", NUM(pm_max_spare_servers, 1, 1024)},
    {"pm_process_idle_timeout", NUM(pm_process_idle_timeout, 1, 86400)},
    {"pool_upload_share", NUM(pool_upload_share, 1, 100)},
    {"pool_download_share", NUM(pool_download_share, 1, 100)},
    {"pool_body_share", NUM(pool_body_share, 1, 100)},
    {"pool_reserve_share", NUM(pool_reserve_share, 0, 99)},
    {"download_per_address", NUM(download_per_address, 0, 1024)},
    {"download_per_link", NUM(download_per_link, 0, 1024)},
    {"max_requests", K_LONG, FIELD(max_requests), 0, LONG_MAX, NULL},
    {"storage_dir", STR(storage_dir)},
    {"per_user_limit", NUM(per_user_limit, 1, 100000)},
    {"max_active_users", NUM(max_active_users, 0, 10000000)},
    {"slot_lease_seconds", NUM(slot_lease_seconds, 1, 86400)},
    {"queue_retry_seconds", NUM(queue_retry_seconds, 1, 3600)},
    {"queue_hold_seconds", NUM(queue_hold_seconds, 0, 3600)},
    {"max_file_size", U64(max_file_size)},
    {"max_chunk_size", U64(max_chunk_size)},
    {"max_user_bytes", U64(max_user_bytes)},
    {"max_open_batches", NUM(max_open_batches, 0, 10000000)},
    {"max_user_files", NUM(max_user_files, 0, INT_MAX)},
    {"max_batch_files", NUM(max_batch_files, 1, 1000000)},
    {"upload_expiry_seconds", NUM(upload_expiry_seconds, 60, INT_MAX)},
    {"link_ttl_seconds", NUM(link_ttl_seconds, 1, INT_MAX)},
    {"retention_seconds", NUM(retention_seconds, 0, INT_MAX)},
    {"header_timeout", NUM(header_timeout, 1, 3600)},
    {"body_timeout", NUM(body_timeout, 1, 3600)},
    {"send_timeout", NUM(send_timeout, 1, 3600)},
    {"body_min_rate", NUM(body_min_rate, 0, INT_MAX)},
    {"send_min_rate", NUM(send_min_rate, 0, INT_MAX)},
    {"min_rate_window", NUM(min_rate_window, 1, 3600)},
    {"auth", CHOICE(auth, "token|remote_user")},
    {"remote_user_create", BOOL(remote_user_create)},
    {"remote_user_trust_tcp", BOOL(remote_user_trust_tcp)},
    {"cors_origins", K_ORIGINS, FIELD(cors_origins), 0, 0, NULL},
    {"sendfile", CHOICE(sendfile, "off|x-accel-redirect|x-sendfile")},
    {"metrics_path", STR(metrics_path)},
    {"status_path", STR(status_path)},
    {"shutdown_timeout", NUM(shutdown_timeout, 1, 86400)},
    {"gc_interval_seconds", NUM(gc_interval_seconds, 0, 86400)},
    {"orphan_grace_seconds", NUM(orphan_grace_seconds, 1, INT_MAX)},
    {"log_level", K_WORD, FIELD(log_level), 0, 0, "debug|info|warn|error"},
    {"log_file", K_ABSPATH, FIELD(log_file), 0, 0, NULL},
    {"hook_command", STR(hook_command)},
    {"hook_url", K_URL, FIELD(hook_url), 0, 0, NULL},
    {"hook_events", K_EVENTS, FIELD(hook_events), 0, 0, NULL},
    {"hook_timeout_seconds", NUM(hook_timeout_seconds, 1, 3600)},
    {"hook_max_attempts", NUM(hook_max_attempts, 1, 1000)},
    {"hook_retry_seconds", NUM(hook_retry_seconds, 1, 86400)},
};

void config_defaults(struct bu_config *cfg)
{
    struct bu_error unused;

    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->listen, sizeof cfg->listen, "var/batchup.sock");
    cfg->db_statement_timeout = 30;
    cfg->db_lock_timeout = 5;
    cfg->listen_mode = 0660;
    snprintf(cfg->listen_allow, sizeof cfg->listen_allow, "127.0.0.1 ::1");
    /* Their parsed forms (the defaults always parse). */
    address_parse_listen(cfg->listen, &cfg->listen_addr, &unused);
    address_parse_allow(cfg->listen_allow, &cfg->listen_peers, &unused);
    cfg->workers = 32;
    cfg->pm = CONFIG_PM_DYNAMIC;
    cfg->pm_start_servers = 4;
    cfg->pm_min_spare_servers = 2;
    cfg->pm_max_spare_servers = 8;
    cfg->pm_process_idle_timeout = 10;
    /* 32 workers: 25 for uploads (5 users x 5 files, max_active_users x
     * per_user_limit), 8 for downloads, 8 for batch bodies, at most 28 for
     * all of them, 4 kept for short requests (docs/operations.md, "Security"). */
    cfg->pool_upload_share = 78;
    cfg->pool_download_share = 25;
    cfg->pool_body_share = 25;
    cfg->pool_reserve_share = 12;
    cfg->download_per_address = 4;
    cfg->download_per_link = 4;
    snprintf(cfg->storage_dir, sizeof cfg->storage_dir, "var/storage");
    cfg->per_user_limit = 5;
    cfg->max_active_users = 5;
    cfg->slot_lease_seconds = 30;
    cfg->queue_retry_seconds = 2;
    /* A queued PATCH waits this long for its slot before it is answered
     * 423: a third of the 60 s that nginx (fastcgi_send_timeout), Apache
     * (Timeout) and lighttpd (write-timeout) give a backend that does not
     * read, and below body_timeout (docs/operations.md, "Timeouts"). */
    cfg->queue_hold_seconds = 20;
    cfg->max_file_size = 16ull << 30;
    cfg->max_user_bytes = 256ull << 30;
    cfg->max_open_batches = 200;
    cfg->max_user_files = 10000;
    cfg->max_batch_files = 1000;
    cfg->upload_expiry_seconds = 86400;
    cfg->link_ttl_seconds = 604800;
    cfg->retention_seconds = 2592000;
    cfg->header_timeout = 10;
    cfg->body_timeout = 30;
    cfg->send_timeout = 30;
    cfg->body_min_rate = 500;
    cfg->send_min_rate = 500;
    cfg->min_rate_window = 30;
    cfg->auth = CONFIG_AUTH_TOKEN;
    cfg->sendfile = CONFIG_SENDFILE_OFF;
    snprintf(cfg->metrics_path, sizeof cfg->metrics_path, "/metrics");
    cfg->shutdown_timeout = 30;
    cfg->gc_interval_seconds = 10;
    cfg->orphan_grace_seconds = 3600;
    snprintf(cfg->log_level, sizeof cfg->log_level, "info");
    snprintf(cfg->hook_events, sizeof cfg->hook_events, "batch_complete");
    cfg->hook_timeout_seconds = 10;
    cfg->hook_max_attempts = 10;
    cfg->hook_retry_seconds = 10;
}

static int bad(struct bu_error *err, const char *key, const char *value, const char *why)
{
    return error_set(err, BU_E_BAD_CONFIG, "bad value for '%s': '%s' (%s)", key, value, why);
}

/* Strict decimal: digits only (a leading '-' is reported as out of range). */
static int parse_ll(const char *s, long long *out)
{
    char *end;

    if (*s == '\0' || isspace((unsigned char)*s))
        return -1;
    errno = 0;
    *out = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    return 0;
}

/* The index of value among "a|b|c", or -1. */
static int word_index(const char *words, const char *value)
{
    size_t n = strlen(value);
    int i = 0;

    for (const char *p = words; *p != '\0'; i++) {
        size_t len = strcspn(p, "|");
        if (len == n && strncmp(p, value, n) == 0)
            return i;
        p += len + (p[len] == '|');
    }
    return -1;
}

/* The rules of the text kinds that are not free text: log_file is an
 * absolute path or empty, hook_url an http(s) URL without spaces or control
 * characters, or empty. */
static int check_text(enum kind kind, const char *key, const char *value, struct bu_error *err)
{
    if (kind == K_ABSPATH && value[0] != '\0' && value[0] != '/')
        return bad(err, key, value, "expected an absolute path, or nothing");
    if (kind != K_URL || value[0] == '\0')
        return 0;
    if (strncmp(value, "http://", 7) != 0 && strncmp(value, "https://", 8) != 0)
        return bad(err, key, value, "expected an http:// or https:// URL, or nothing");
    for (const char *p = value; *p != '\0'; p++)
        if ((unsigned char)*p <= ' ' || (unsigned char)*p == 0x7f)
            return bad(err, key, value, "a URL has no spaces or control characters");
    return 0;
}

bool config_has_event(const char *events, const char *kind)
{
    size_t len = strlen(kind);

    for (const char *p = events; (p = strstr(p, kind)) != NULL; p += len)
        if ((p == events || p[-1] == ',') && (p[len] == '\0' || p[len] == ','))
            return true;
    return false;
}

/* hook_events: one or more of the event kinds, separated by commas or
 * spaces; stored as a comma-separated list without repeats. */
static int set_events(struct bu_config *cfg, const char *key, const char *value,
                      struct bu_error *err)
{
    static const char *const kinds[] = {"batch_complete", "file_aborted", "file_expired"};
    char out[sizeof cfg->hook_events] = "";
    const char *p = value;

    while (*p != '\0') {
        size_t len = strcspn(p, ", "), i;
        for (i = 0; len > 0 && i < sizeof kinds / sizeof kinds[0]; i++)
            if (strlen(kinds[i]) == len && strncmp(p, kinds[i], len) == 0)
                break;
        if (len > 0 && i == sizeof kinds / sizeof kinds[0])
            return bad(err, key, value, "expected batch_complete, file_aborted or file_expired");
        if (len > 0 && !config_has_event(out, kinds[i]))
            snprintf(out + strlen(out), sizeof out - strlen(out), "%s%s", out[0] ? "," : "",
                     kinds[i]);
        p += len + (p[len] != '\0');
    }
    if (out[0] == '\0')
        return bad(err, key, value, "name at least one event kind");
    memcpy(cfg->hook_events, out, strlen(out) + 1);
    return 0;
}

/* Is [p, p+len) one web origin as a browser sends it: http or https, a
 * host (letters, digits, '.', '-', or a bracketed IPv6 address), an
 * optional port, and nothing after (no path, no trailing slash)? */
static bool origin_valid(const char *p, size_t len)
{
    size_t i = strncmp(p, "https://", 8) == 0 ? 8 : strncmp(p, "http://", 7) == 0 ? 7 : 0;
    size_t host = i;

    if (i == 0 || len <= i)
        return false;
    if (p[i] == '[') {
        while (i < len && p[i] != ']')
            i++;
        if (i == len)
            return false;
        i++;
    } else {
        while (i < len && (isalnum((unsigned char)p[i]) || p[i] == '.' || p[i] == '-'))
            i++;
    }
    if (i == host)
        return false;
    if (i < len && p[i] == ':') {
        size_t digits = ++i;
        while (i < len && isdigit((unsigned char)p[i]))
            i++;
        if (i == digits || i - digits > 5)
            return false;
    }
    return i == len;
}

/* cors_origins: nothing (off), "*", or origins separated by commas or
 * spaces; stored space-separated, each as given (matched byte for byte). */
static int set_origins(struct bu_config *cfg, const char *key, const char *value,
                       struct bu_error *err)
{
    char out[sizeof cfg->cors_origins] = "";
    const char *p = value;

    if (strlen(value) >= sizeof out)
        return bad(err, key, value, "too long");
    if (strcmp(value, "*") == 0) {
        snprintf(cfg->cors_origins, sizeof cfg->cors_origins, "*");
        return 0;
    }
    while (*p != '\0') {
        size_t len = strcspn(p, ", ");
        if (len > 0 && !origin_valid(p, len))
            return bad(err, key, value,
                       "expected '*' alone, or origins such as https://www.example.com:8443 "
                       "(scheme, host, optional port; no path)");
        if (len > 0)
            snprintf(out + strlen(out), sizeof out - strlen(out), "%s%.*s", out[0] ? " " : "",
                     (int)len, p);
        p += len + (p[len] != '\0');
    }
    memcpy(cfg->cors_origins, out, strlen(out) + 1);
    return 0;
}

bool config_listen_is_unix(const char *listen)
{
    return strchr(listen, '/') != NULL;
}

/* Strings: free text, log_file, hook_url. */
static int set_text(const struct key *k, char *field, const char *value, struct bu_error *err)
{
    if (strlen(value) >= k->size)
        return bad(err, k->name, value, "too long");
    if (check_text(k->kind, k->name, value, err) != 0)
        return -1;
    memcpy(field, value, strlen(value) + 1);
    return 0;
}

/* listen and listen_allow: the text, and its parsed form (address.c), which
 * the listener, its check of every TCP peer and `batchup status` use, so
 * that nothing parses them again. */
static int set_address(struct bu_config *cfg, const struct key *k, char *field, const char *value,
                       struct bu_error *err)
{
    struct address_listen listen;
    struct address_allow allow;

    if (strlen(value) >= k->size)
        return bad(err, k->name, value, "too long");
    if (k->kind == K_LISTEN && address_parse_listen(value, &listen, err) != 0)
        return -1;
    if (k->kind == K_ALLOW && address_parse_allow(value, &allow, err) != 0)
        return -1;
    if (k->kind == K_LISTEN)
        cfg->listen_addr = listen;
    else
        cfg->listen_peers = allow;
    memcpy(field, value, strlen(value) + 1);
    return 0;
}

static int set_number(const struct key *k, char *field, const char *value, struct bu_error *err)
{
    long long n;
    char why[96], *end;

    if (k->kind == K_MODE) {
        n = *value >= '0' && *value <= '7' ? strtoll(value, &end, 8) : -1;
        if (n < 0 || *end != '\0' || n > k->max)
            return bad(err, k->name, value, "expected an octal mode such as 0660");
        *(int *)field = (int)n;
        return 0;
    }
    if (parse_ll(value, &n) != 0)
        return bad(err, k->name, value, "expected a whole number");
    if (n < k->min || n > k->max) {
        snprintf(why, sizeof why, "must be between %lld and %lld", k->min, k->max);
        return bad(err, k->name, value, why);
    }
    if (k->kind == K_INT)
        *(int *)field = (int)n;
    else if (k->kind == K_LONG)
        *(long *)field = (long)n;
    else
        *(uint64_t *)field = (uint64_t)n;
    return 0;
}

int config_set(struct bu_config *cfg, const char *key, const char *value, struct bu_error *err)
{
    const struct key *k = NULL;
    char *field, why[128];
    int index;

    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (strcmp(keys[i].name, key) == 0)
            k = &keys[i];
    if (k == NULL)
        return error_set(err, BU_E_BAD_CONFIG, "unknown configuration key '%s' (value '%s')", key,
                         value);
    field = (char *)cfg + k->offset;
    switch (k->kind) {
    case K_STRING:
    case K_ABSPATH:
    case K_URL:
        return set_text(k, field, value, err);
    case K_LISTEN:
    case K_ALLOW:
        return set_address(cfg, k, field, value, err);
    case K_EVENTS:
        return set_events(cfg, key, value, err);
    case K_ORIGINS:
        return set_origins(cfg, key, value, err);
    case K_WORD:
    case K_CHOICE:
    case K_BOOL:
        index = word_index(k->words, value);
        if (index < 0 && k->kind == K_BOOL)
            index = word_index("off|on", value) >= 0 ? word_index("off|on", value)
                                                     : word_index("false|true", value);
        snprintf(why, sizeof why, "expected one of %s", k->words);
        if (index < 0)
            return bad(err, key, value, why);
        if (k->kind == K_CHOICE)
            *(int *)field = index;
        if (k->kind == K_BOOL)
            *(bool *)field = index == 1;
        return k->kind == K_WORD ? set_text(k, field, value, err) : 0;
    case K_INT:
    case K_LONG:
    case K_U64:
    case K_MODE:
        return set_number(k, field, value, err);
    }
    return -1;
}

static char *trim(char *s)
{
    char *end;

    while (isspace((unsigned char)*s))
        s++;
    end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

static int load_file(struct bu_config *cfg, const char *path, struct bu_error *err)
{
    FILE *f = fopen(path, "r");
    char line[2048];
    int lineno = 0;

    if (f == NULL) {
        return error_set(err, BU_E_BAD_CONFIG, "cannot read configuration file '%s': %s", path,
                         strerror(errno));
    }
    while (fgets(line, sizeof line, f) != NULL) {
        char *s, *eq, *key, *value;

        lineno++;
        if (strchr(line, '\n') == NULL && !feof(f)) {
            fclose(f);
            return error_set(err, BU_E_BAD_CONFIG, "%s:%d: line too long", path, lineno);
        }
        s = trim(line);
        if (*s == '\0' || *s == '#')
            continue;
        eq = strchr(s, '=');
        if (eq == NULL) {
            fclose(f);
            return error_set(err, BU_E_BAD_CONFIG, "%s:%d: expected 'key = value', got '%s'", path,
                             lineno, s);
        }
        *eq = '\0';
        key = trim(s);
        value = trim(eq + 1);
        /* Allow the value to be quoted, as libpq connection strings often are. */
        if (strlen(value) >= 2 && value[0] == '"' && value[strlen(value) - 1] == '"') {
            value[strlen(value) - 1] = '\0';
            value++;
        }
        if (config_set(cfg, key, value, err) != 0) {
            fclose(f);
            return error_where(err, "%s:%d", path, lineno);
        }
    }
    fclose(f);
    return 0;
}

/* The rules between keys.  The pool must carry one user's whole set of
 * uploads and still have a worker for everyone else; the process manager's
 * spare and start counts are capped at the pool's size (so that a small
 * `workers` needs no other key), and must be in order. */
/* percent of workers, rounded up: a small pool keeps its proportions
 * (uploads 78 % of 6 workers are 5), and every class gets a worker. */
static int share_of(int workers, int percent)
{
    int n = (int)(((long long)workers * percent + 99) / 100);

    return n > 0 ? n : 1;
}

void config_class_caps(const struct bu_config *cfg, struct config_caps *caps)
{
    int reserve = (int)(((long long)cfg->workers * cfg->pool_reserve_share + 99) / 100);

    if (reserve < 1)
        reserve = 1;
    caps->long_total = cfg->workers > 1 ? cfg->workers - reserve : 1;
    if (caps->long_total < 1)
        caps->long_total = 1;
    caps->upload = share_of(cfg->workers, cfg->pool_upload_share);
    caps->download = share_of(cfg->workers, cfg->pool_download_share);
    caps->body = share_of(cfg->workers, cfg->pool_body_share);
}

int config_check_pool(const struct bu_config *cfg, bool one_per_process, struct bu_error *err)
{
    if (one_per_process && cfg->workers == 1)
        return 0;
    if (cfg->workers <= cfg->per_user_limit)
        return error_set(err, BU_E_BAD_CONFIG,
                         "workers (%d) cannot carry one user's %d uploads (per_user_limit) and "
                         "still answer anyone else: set workers to at least %d",
                         cfg->workers, cfg->per_user_limit, cfg->per_user_limit + 1);
    return 0;
}

static int config_check(struct bu_config *cfg, struct bu_error *err)
{
    char cwd[1024];

    /* storage_dir is made absolute now: X-Sendfile and the web server need
     * an absolute path, and the processes never change directory. */
    if (cfg->storage_dir[0] != '/' && getcwd(cwd, sizeof cwd) != NULL) {
        char rel[sizeof cfg->storage_dir];
        snprintf(rel, sizeof rel, "%s", cfg->storage_dir);
        if ((size_t)snprintf(cfg->storage_dir, sizeof cfg->storage_dir, "%s/%s", cwd, rel) >=
            sizeof cfg->storage_dir)
            return error_set(err, BU_E_BAD_CONFIG, "storage_dir '%s' is too long once absolute",
                             rel);
    }
    if (cfg->pm_min_spare_servers > cfg->pm_max_spare_servers)
        return error_set(err, BU_E_BAD_CONFIG,
                         "pm_min_spare_servers (%d) is above pm_max_spare_servers (%d)",
                         cfg->pm_min_spare_servers, cfg->pm_max_spare_servers);
    if (cfg->pm_max_spare_servers > cfg->workers)
        cfg->pm_max_spare_servers = cfg->workers;
    if (cfg->pm_min_spare_servers > cfg->pm_max_spare_servers)
        cfg->pm_min_spare_servers = cfg->pm_max_spare_servers;
    if (cfg->pm_start_servers > cfg->pm_max_spare_servers)
        cfg->pm_start_servers = cfg->pm_max_spare_servers;
    if (cfg->pm_start_servers < cfg->pm_min_spare_servers)
        cfg->pm_start_servers = cfg->pm_min_spare_servers;
    /* remote_user on a TCP socket other local processes can reach: refused
     * unless the operator says so. */
    if (!cfg->listen_addr.is_unix && config_check_remote_user(cfg, AF_INET, err) != 0)
        return -1;
    return 0;
}

int config_check_remote_user(const struct bu_config *cfg, int family, struct bu_error *err)
{
    if (cfg->auth != CONFIG_AUTH_REMOTE_USER || family == AF_UNIX || cfg->remote_user_trust_tcp)
        return 0;
    if (!address_allow_reaches_local(&cfg->listen_peers))
        return 0;
    return error_set(err, BU_E_BAD_CONFIG,
                     "auth = remote_user on the TCP listener %s: any local process could connect "
                     "and claim any user; listen on a unix socket, or set remote_user_trust_tcp = "
                     "yes, or a listen_allow naming only the web server's address on another host",
                     cfg->listen_addr.is_unix ? "passed as standard input" : cfg->listen);
}

/* The file read when neither -c nor $BATCHUP_CONFIG names one, if it
 * exists: /etc/batchup/batchup.conf, else <bindir>/../etc/batchup/batchup.conf
 * (`make install` under another PREFIX, such as /usr/local). */
static const char *default_path(char *buf, size_t cap)
{
    char exe[1024];
    ssize_t n;
    char *slash;

    if (access("/etc/batchup/batchup.conf", F_OK) == 0)
        return "/etc/batchup/batchup.conf";
    n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return NULL;
    exe[n] = '\0';
    slash = strrchr(exe, '/');
    if (slash == NULL)
        return NULL;
    *slash = '\0';
    snprintf(buf, cap, "%s/../etc/batchup/batchup.conf", exe);
    return access(buf, F_OK) == 0 ? buf : NULL;
}

int config_load(struct bu_config *cfg, const char *cli_path, struct bu_error *err)
{
    const char *path = cli_path;
    char installed[CONFIG_PATH_SIZE];

    config_defaults(cfg);
    if (path == NULL || *path == '\0')
        path = getenv("BATCHUP_CONFIG");
    if (path == NULL || *path == '\0')
        path = default_path(installed, sizeof installed);
    if (path != NULL && *path != '\0') {
        if (load_file(cfg, path, err) != 0)
            return -1;
        snprintf(cfg->path, sizeof cfg->path, "%s", path);
    }
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char var[64];
        const char *value;

        snprintf(var, sizeof var, "BATCHUP_");
        for (size_t j = 0; keys[i].name[j] != '\0' && j + 9 < sizeof var; j++) {
            var[8 + j] = (char)toupper((unsigned char)keys[i].name[j]);
            var[9 + j] = '\0';
        }
        value = getenv(var);
        if (value != NULL && config_set(cfg, keys[i].name, value, err) != 0)
            return error_where(err, "environment variable %s", var);
    }
    return config_check(cfg, err);
}
