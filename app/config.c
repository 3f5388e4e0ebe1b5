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
#include "batchup/listener.h"

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

enum kind {
    K_STRING,
    K_INT,
    K_U64,
    K_AUTH,
    K_SENDFILE,
    K_LISTEN,
    K_LEVEL,
    K_BOOL,
    K_MODE,
    K_ALLOW
};

struct key {
    const char *name;
    enum kind kind;
    size_t offset;
    size_t size;   /* for strings: buffer size */
    long long min; /* for numbers */
    long long max;
};

#define STR(f) K_STRING, offsetof(struct bu_config, f), sizeof(((struct bu_config *)0)->f), 0, 0
#define NUM(f, lo, hi) K_INT, offsetof(struct bu_config, f), sizeof(int), lo, hi
#define BOOL(f) K_BOOL, offsetof(struct bu_config, f), sizeof(bool), 0, 0
#define U64(f, hi) K_U64, offsetof(struct bu_config, f), sizeof(uint64_t), 0, hi

static const struct key keys[] = {
    {"database", STR(database)},
    {"listen", K_LISTEN, offsetof(struct bu_config, listen),
     sizeof(((struct bu_config *)0)->listen), 0, 0},
    {"listen_mode", K_MODE, offsetof(struct bu_config, listen_mode), sizeof(int), 0, 0777},
    {"listen_allow", K_ALLOW, offsetof(struct bu_config, listen_allow),
     sizeof(((struct bu_config *)0)->listen_allow), 0, 0},
    {"workers", NUM(workers, 1, 1024)},
    {"max_requests", K_U64, offsetof(struct bu_config, max_requests), sizeof(long), 0, LONG_MAX},
    {"storage_dir", STR(storage_dir)},
    {"per_user_limit", NUM(per_user_limit, 1, 100000)},
    {"max_active_users", NUM(max_active_users, 0, 10000000)},
    {"slot_lease_seconds", NUM(slot_lease_seconds, 1, 86400)},
    {"queue_retry_seconds", NUM(queue_retry_seconds, 1, 3600)},
    {"max_file_size", U64(max_file_size, LLONG_MAX)},
    {"max_user_bytes", U64(max_user_bytes, LLONG_MAX)},
    {"max_open_batches", NUM(max_open_batches, 0, 10000000)},
    {"max_batch_files", NUM(max_batch_files, 1, 1000000)},
    {"upload_expiry_seconds", NUM(upload_expiry_seconds, 60, INT_MAX)},
    {"link_ttl_seconds", NUM(link_ttl_seconds, 1, INT_MAX)},
    {"auth", K_AUTH, offsetof(struct bu_config, auth), 0, 0, 0},
    {"remote_user_create", BOOL(remote_user_create)},
    {"remote_user_trust_tcp", BOOL(remote_user_trust_tcp)},
    {"sendfile", K_SENDFILE, offsetof(struct bu_config, sendfile), 0, 0, 0},
    {"metrics_path", STR(metrics_path)},
    {"shutdown_timeout", NUM(shutdown_timeout, 1, 86400)},
    {"gc_interval_seconds", NUM(gc_interval_seconds, 0, 86400)},
    {"orphan_grace_seconds", NUM(orphan_grace_seconds, 1, INT_MAX)},
    {"log_level", K_LEVEL, offsetof(struct bu_config, log_level),
     sizeof(((struct bu_config *)0)->log_level), 0, 0},
};

void config_defaults(struct bu_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->listen, sizeof cfg->listen, "var/batchup.sock");
    cfg->listen_mode = 0660;
    snprintf(cfg->listen_allow, sizeof cfg->listen_allow, "127.0.0.1 ::1");
    cfg->workers = 4;
    snprintf(cfg->storage_dir, sizeof cfg->storage_dir, "var/storage");
    cfg->per_user_limit = 5;
    cfg->max_active_users = 25;
    cfg->slot_lease_seconds = 30;
    cfg->queue_retry_seconds = 2;
    cfg->max_file_size = 16ull << 30;
    cfg->max_user_bytes = 256ull << 30;
    cfg->max_open_batches = 200;
    cfg->max_batch_files = 1000;
    cfg->upload_expiry_seconds = 86400;
    cfg->link_ttl_seconds = 604800;
    cfg->auth = CONFIG_AUTH_TOKEN;
    cfg->sendfile = CONFIG_SENDFILE_OFF;
    snprintf(cfg->metrics_path, sizeof cfg->metrics_path, "/metrics");
    cfg->shutdown_timeout = 30;
    cfg->gc_interval_seconds = 10;
    cfg->orphan_grace_seconds = 3600;
    snprintf(cfg->log_level, sizeof cfg->log_level, "info");
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

bool config_listen_is_unix(const char *listen)
{
    return strchr(listen, '/') != NULL;
}

/* Strings: plain, log_level, listen, listen_allow. */
static int set_text(const struct key *k, char *field, const char *value, struct bu_error *err)
{
    struct listener_allow allow;
    long long n;

    if (strlen(value) >= k->size)
        return bad(err, k->name, value, "too long");
    if (k->kind == K_LEVEL && strcmp(value, "debug") != 0 && strcmp(value, "info") != 0 &&
        strcmp(value, "warn") != 0 && strcmp(value, "error") != 0)
        return bad(err, k->name, value, "expected debug, info, warn or error");
    if (k->kind == K_LISTEN && config_listen_is_unix(value) && strchr(value, ':') != NULL)
        return bad(err, k->name, value, "a unix socket path may not hold ':'");
    if (k->kind == K_LISTEN && !config_listen_is_unix(value)) {
        const char *port = strrchr(value, ':');
        if (port == NULL)
            return bad(err, k->name, value, "expected host:port or a unix socket path");
        if (parse_ll(port + 1, &n) != 0 || n < 1 || n > 65535)
            return bad(err, k->name, value, "port must be 1..65535");
    }
    if (k->kind == K_ALLOW && listener_parse_allow(value, &allow, err) != 0)
        return -1;
    memcpy(field, value, strlen(value) + 1);
    return 0;
}

/* Whole numbers, and an octal file mode. */
static int set_number(const struct key *k, char *field, const char *value, struct bu_error *err)
{
    long long n;
    char *end;

    if (k->kind == K_MODE) {
        if (*value < '0' || *value > '7')
            return bad(err, k->name, value, "expected an octal mode such as 0660");
        n = strtoll(value, &end, 8);
        if (*end != '\0' || n > k->max)
            return bad(err, k->name, value, "expected an octal mode such as 0660");
        *(int *)field = (int)n;
        return 0;
    }
    if (parse_ll(value, &n) != 0)
        return bad(err, k->name, value, "expected a whole number");
    if (n < k->min || n > k->max) {
        char why[96];
        snprintf(why, sizeof why, "must be between %lld and %lld", k->min, k->max);
        return bad(err, k->name, value, why);
    }
    if (k->kind == K_INT)
        *(int *)field = (int)n;
    else if (k->size == sizeof(long))
        *(long *)field = (long)n;
    else
        *(uint64_t *)field = (uint64_t)n;
    return 0;
}

/* One of a few words: the enumerations and yes/no. */
static int set_word(struct bu_config *cfg, const struct key *k, char *field, const char *value,
                    struct bu_error *err)
{
    switch (k->kind) {
    case K_AUTH:
        if (strcmp(value, "token") == 0)
            cfg->auth = CONFIG_AUTH_TOKEN;
        else if (strcmp(value, "remote_user") == 0)
            cfg->auth = CONFIG_AUTH_REMOTE_USER;
        else
            return bad(err, k->name, value, "expected token or remote_user");
        return 0;
    case K_SENDFILE:
        if (strcmp(value, "off") == 0)
            cfg->sendfile = CONFIG_SENDFILE_OFF;
        else if (strcmp(value, "x-accel-redirect") == 0)
            cfg->sendfile = CONFIG_SENDFILE_X_ACCEL;
        else if (strcmp(value, "x-sendfile") == 0)
            cfg->sendfile = CONFIG_SENDFILE_X_SENDFILE;
        else
            return bad(err, k->name, value, "expected off, x-accel-redirect or x-sendfile");
        return 0;
    default:
        if (strcmp(value, "yes") == 0 || strcmp(value, "on") == 0 || strcmp(value, "true") == 0)
            *(bool *)field = true;
        else if (strcmp(value, "no") == 0 || strcmp(value, "off") == 0 ||
                 strcmp(value, "false") == 0)
            *(bool *)field = false;
        else
            return bad(err, k->name, value, "expected yes or no");
        return 0;
    }
}

int config_set(struct bu_config *cfg, const char *key, const char *value, struct bu_error *err)
{
    const struct key *k = NULL;
    char *field;

    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (strcmp(keys[i].name, key) == 0)
            k = &keys[i];
    if (k == NULL) {
        return error_set(err, BU_E_BAD_CONFIG, "unknown configuration key '%s' (value '%s')", key,
                         value);
    }
    field = (char *)cfg + k->offset;
    switch (k->kind) {
    case K_STRING:
    case K_LEVEL:
    case K_LISTEN:
    case K_ALLOW:
        return set_text(k, field, value, err);
    case K_INT:
    case K_U64:
    case K_MODE:
        return set_number(k, field, value, err);
    case K_AUTH:
    case K_SENDFILE:
    case K_BOOL:
        return set_word(cfg, k, field, value, err);
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

int config_load(struct bu_config *cfg, const char *cli_path, struct bu_error *err)
{
    const char *path = cli_path;

    config_defaults(cfg);
    if (path == NULL || *path == '\0')
        path = getenv("BATCHUP_CONFIG");
    if ((path == NULL || *path == '\0') && access("/etc/batchup/batchup.conf", F_OK) == 0)
        path = "/etc/batchup/batchup.conf";
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
    /* Keys that only mean something together (a reload is checked too). */
    if (!config_listen_is_unix(cfg->listen) && listener_check_remote_user(cfg, AF_INET, err) != 0)
        return -1;
    return 0;
}
