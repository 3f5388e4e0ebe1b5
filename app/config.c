/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * config.c - reading `key = value` files and BATCHUP_<KEY> variables.
 *
 * Every key is described once in the table below (name, kind, bounds, where
 * it lives in struct bu_config, default, one line of documentation), so
 * parsing, validation, the defaults, the environment overrides and the
 * documents generated from it (`make docs`: batchup.conf(5), the sample
 * conf/batchup.conf, docs/operations.md's table) cannot drift apart.  A bad key or value is
 * reported with the key and the value and the process exits 2: a server must not start on a
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

/* One key: its name, how its text is read and where it is stored, its
 * bounds or words, and what people read about it.  `def` is the default
 * spelled as a configuration file would spell it, applied by
 * config_defaults() through config_set(), the same path as a file's line, so
 * a default cannot escape its own bounds.  `sample` is the value the shipped
 * conf/batchup.conf sets (the paths of an installed service), NULL where the
 * sample leaves the default.  `doc` is one line on what the key does, the
 * text of batchup.conf(5), conf/batchup.conf and docs/operations.md
 * (`make docs`; backquotes mark literal words). */
struct key {
    const char *name;
    enum kind kind;
    size_t offset;
    size_t size;   /* for strings: buffer size */
    long long min; /* for numbers */
    long long max;
    const char *words; /* K_WORD, K_CHOICE: "a|b|c" */
    const char *def;
    const char *sample;
    const char *doc;
};

#define FIELD(f) offsetof(struct bu_config, f), sizeof(((struct bu_config *)0)->f)
#define STR(f) K_STRING, FIELD(f), 0, 0, NULL
#define TEXT(kind, f) kind, FIELD(f), 0, 0, NULL
#define WORD(f, words) K_WORD, FIELD(f), 0, 0, words
#define NUM(f, lo, hi) K_INT, FIELD(f), lo, hi, NULL
#define LONG(f) K_LONG, FIELD(f), 0, LONG_MAX, NULL
#define MODE(f) K_MODE, FIELD(f), 0, 0777, NULL
#define CHOICE(f, words) K_CHOICE, FIELD(f), 0, 0, words
#define BOOL(f) K_BOOL, FIELD(f), 0, 0, "no|yes"
#define U64(f) K_U64, FIELD(f), 0, LLONG_MAX, NULL

_Static_assert(sizeof(enum config_pm) == sizeof(int), "K_CHOICE fields are stored as int");

/* Every key, written here once.  An entry is two lines:
 *
 *     {"name", KIND(field, bounds...), "default", NULL,
 *      "one line on what it does, `literal` words in backquotes"},
 *
 * KIND is one of the macros above (STR, TEXT, WORD, NUM, LONG, MODE,
 * CHOICE, BOOL, U64); NULL is the sample value, set only where
 * conf/batchup.conf must differ from the default.  A new key is a field of
 * struct bu_config, an entry here, and `make docs`, which regenerates
 * conf/batchup.conf, man/batchup.conf.5 and the table of docs/operations.md
 * (tests/integration/06-docs-keys.sh fails until it is run).  The order is
 * the order of those documents.  The default pool: 32 workers carry 25
 * uploads (5 users x 5 files, max_active_users x per_user_limit), 8
 * downloads and 8 batch bodies, at most 28 of them at once, and keep 4 for
 * short requests. */
static const struct key keys[] = {
    {"database", STR(database), "", "host=/var/run/postgresql dbname=batchup",
     "the libpq connection string (empty: libpq's PG* environment); batchup asks for TCP "
     "keepalives "
     "(`keepalives_idle=30 keepalives_interval=10 keepalives_count=3`, overridden by the string) "
     "so a vanished remote server is noticed in about a minute"},
    {"db_statement_timeout", NUM(db_statement_timeout, 0, 86400), "30", NULL,
     "seconds a worker's statement may run before PostgreSQL cancels it (503 "
     "`database_unavailable`); 0: no bound. Set on a direct session; through PgBouncer set "
     "`statement_timeout` on batchup's role instead"},
    {"db_lock_timeout", NUM(db_lock_timeout, 0, 86400), "5", NULL,
     "seconds a worker's statement may wait for a lock (an administrator's `LOCK`, a stuck "
     "transaction) before it is cancelled (503); 0: no bound. Same rule behind a pooler. Health "
     "has its own bounds: it answers 503 within 2 s while `batchup.slots` is locked"},
    {"listen", TEXT(K_LISTEN, listen), "var/batchup.sock", "/run/batchup/batchup.sock",
     "a unix socket path (any value with a `/`, at most 107 bytes; relative to the working "
     "directory unless absolute) or `host:port` (`[::1]:9000` for an IPv6 address)"},
    {"listen_mode", MODE(listen_mode), "0660", NULL,
     "permissions of the unix socket (octal), set as it is bound; owner and group are the "
     "process's"},
    {"listen_allow", TEXT(K_ALLOW, listen_allow), "127.0.0.1 ::1", NULL,
     "on TCP: peer addresses or prefixes (`10.0.0.0/8`, `fd00::/8`) allowed to connect, separated "
     "by spaces or commas; checked on every connection (docs/operations.md, \"Who may connect\")"},
    {"workers", NUM(workers, 1, 1024), "32", NULL,
     "worker processes: the pool's size (`pm = static`) or the most it grows to (`dynamic`, "
     "`ondemand`); must be larger than `per_user_limit` (but 1 under mod_fcgid)"},
    {"pm", CHOICE(pm, "static|dynamic|ondemand"), "dynamic", NULL,
     "`static`, `dynamic` or `ondemand`: how the pool is sized, as php-fpm's process manager "
     "(docs/operations.md, \"serve\")"},
    {"pm_start_servers", NUM(pm_start_servers, 0, 1024), "4", NULL,
     "workers started with `pm = dynamic`"},
    {"pm_min_spare_servers", NUM(pm_min_spare_servers, 0, 1024), "2", NULL,
     "fewer idle workers than this: more are started (`dynamic`)"},
    {"pm_max_spare_servers", NUM(pm_max_spare_servers, 1, 1024), "8", NULL,
     "more idle workers than this: one a second is retired (`dynamic`)"},
    {"pm_process_idle_timeout", NUM(pm_process_idle_timeout, 1, 86400), "10", NULL,
     "seconds an idle worker lives with `pm = ondemand`"},
    {"pool_upload_share", NUM(pool_upload_share, 1, 100), "78", NULL,
     "percent of `workers` (rounded up) that upload bodies (PATCH, tus creation with a body) may "
     "hold at once; beyond, 503 `server_busy` with `Retry-After` (docs/operations.md, "
     "\"Security\")"},
    {"pool_download_share", NUM(pool_download_share, 1, 100), "25", NULL,
     "likewise for downloads (batch ZIPs, single files)"},
    {"pool_body_share", NUM(pool_body_share, 1, 100), "25", NULL,
     "likewise for batch-creation bodies (`POST /api/v1/batches`); one user's at once are also "
     "capped at `per_user_limit`"},
    {"pool_reserve_share", NUM(pool_reserve_share, 0, 99), "12", NULL,
     "percent of `workers` (rounded up, at least 1) that the classes above together never take, "
     "kept for short requests (health, HEAD, claims, status)"},
    {"download_per_address", NUM(download_per_address, 0, 1024), "4", NULL,
     "downloads a worker streams at once to one client address (0 = no cap)"},
    {"download_per_link", NUM(download_per_link, 0, 1024), "4", NULL,
     "downloads streamed at once of one link or file (0 = no cap)"},
    {"max_requests", LONG(max_requests), "0", NULL,
     "requests before a worker is replaced by a fresh one (0 = never)"},
    {"storage_dir", STR(storage_dir), "var/storage", "/var/lib/batchup/storage",
     "where file data lives (`partial/`, `files/<2 chars>/`), relative to the working directory "
     "unless absolute; `x-sendfile` needs it absolute"},
    {"per_user_limit", NUM(per_user_limit, 1, 100000), "5", NULL,
     "uploads one user may have in progress at once, unless set for the user (`batchup user limit "
     "NAME N`); further files wait in a fair queue"},
    {"max_active_users", NUM(max_active_users, 0, 10000000), "5", NULL,
     "users that may hold upload slots at once (0 = no cap); 5 x `per_user_limit` 5 = the 25 "
     "upload workers of the default pool (docs/operations.md, \"Security\")"},
    {"slot_lease_seconds", NUM(slot_lease_seconds, 1, 86400), "30", NULL,
     "a slot not renewed for this long is free"},
    {"queue_retry_seconds", NUM(queue_retry_seconds, 1, 3600), "2", NULL,
     "`Retry-After` given to a queued file; a waiter silent for 3 times this stops blocking the "
     "queue"},
    {"queue_hold_seconds", NUM(queue_hold_seconds, 0, 3600), "20", NULL,
     "seconds a PATCH that finds its file queued waits for the slot, reading none of its body, "
     "before it is answered 423 (0: at once); `Prefer: wait=N` asks for less. Keep it well below "
     "the web server's timeouts for a backend that does not read (60 s in conf/: "
     "docs/operations.md, "
     "\"Timeouts and the hold\")"},
    {"max_file_size", U64(max_file_size), "17179869184", NULL,
     "the largest file accepted, in bytes (16 GiB by default; 0 = no cap); larger: 413 "
     "`file_too_large`"},
    {"max_chunk_size", U64(max_chunk_size), "0", NULL,
     "the largest body of one request (a tus chunk), in bytes (0 = none): announced as "
     "`Batchup-Max-Chunk-Size` on `OPTIONS /api/v1/files` (the upload page sends chunks of that "
     "size), a larger declared body refused with 413 `body_too_large` before it is read. Set it to "
     "the web server's own cap: `conf/apache-fcgid.conf` passes 8388608, its `FcgidMaxRequestLen`"},
    {"max_user_bytes", U64(max_user_bytes), "274877906944", NULL,
     "per user: declared bytes of live files (not aborted or expired, in a batch not expired) that "
     "a new batch may bring the user to (256 GiB by default; 0 = no cap)"},
    {"max_open_batches", NUM(max_open_batches, 0, 10000000), "200", NULL,
     "per user: batches still uploading (0 = no cap)"},
    {"max_user_files", NUM(max_user_files, 0, INT_MAX), "10000", NULL,
     "per user: file rows, empty files included, in batches not deleted or purged, that a new "
     "batch may bring the user to (0 = no cap)"},
    {"max_batch_files", NUM(max_batch_files, 1, 1000000), "1000", NULL, "files in one batch"},
    {"upload_expiry_seconds", NUM(upload_expiry_seconds, 60, INT_MAX), "86400", NULL,
     "a batch with unfinished uploads and no activity (creation, or any file's progress, claim or "
     "completion) for this long: its unfinished files expire; the batch completes with the files "
     "that completed (its link leaves the others out), or expires when none did"},
    {"link_ttl_seconds", NUM(link_ttl_seconds, 1, INT_MAX), "604800", NULL,
     "lifetime of a batch download link, in seconds (7 days by default)"},
    {"retention_seconds", NUM(retention_seconds, 0, INT_MAX), "2592000", NULL,
     "the rows of an expired batch (its files, hook events, dead link answering 410) are deleted "
     "this long after its data was removed (30 days by default; 0: at the next pass)"},
    {"header_timeout", NUM(header_timeout, 1, 3600), "10", NULL,
     "seconds for the web server to send a request's head after connecting"},
    {"body_timeout", NUM(body_timeout, 1, 3600), "30", NULL,
     "seconds without a byte of the request body: the request ends, what arrived is kept"},
    {"send_timeout", NUM(send_timeout, 1, 3600), "30", NULL,
     "seconds without a byte of the response being taken, once it is behind `send_min_rate`"},
    {"body_min_rate", NUM(body_min_rate, 0, INT_MAX), "500", NULL,
     "bytes a second, on average over each `min_rate_window`, below which a request body ends (0 = "
     "no minimum)"},
    {"send_min_rate", NUM(send_min_rate, 0, INT_MAX), "500", NULL,
     "bytes a second a response's reader must take on average since its first byte (with "
     "`send_timeout` of grace): a reader at or above it is never cut, however unevenly it takes "
     "them (0 = no minimum)"},
    {"min_rate_window", NUM(min_rate_window, 1, 3600), "30", NULL,
     "seconds over which `body_min_rate` is measured"},
    {"auth", CHOICE(auth, "token|remote_user"), "token", NULL,
     "`token` (Bearer tokens) or `remote_user` (trust the web server's REMOTE_USER; "
     "docs/operations.md, \"Who may connect\")"},
    {"remote_user_create", BOOL(remote_user_create), "no", NULL,
     "with `remote_user`: create a name seen for the first time (default limit); with `no` an "
     "unknown name is 401 until `batchup user add NAME`"},
    {"remote_user_trust_tcp", BOOL(remote_user_trust_tcp), "no", NULL,
     "with `remote_user`: allow a TCP listener that local processes can reach"},
    {"cors_origins", TEXT(K_ORIGINS, cors_origins), "", NULL,
     "web origins whose pages may call the API (CORS): exact origins such as "
     "`https://www.example.com`, separated by spaces or commas, or `*` for any; empty: no CORS "
     "headers; docs/operations.md, \"Cross-origin pages\""},
    {"sendfile", CHOICE(sendfile, "off|x-accel-redirect|x-sendfile"), "off", NULL,
     "`off`, `x-accel-redirect` (nginx) or `x-sendfile` (Apache, lighttpd)"},
    {"metrics_path", STR(metrics_path), "/metrics", NULL,
     "Prometheus endpoint; empty turns it off"},
    {"status_path", STR(status_path), "", NULL,
     "the status page of the pool, e.g. `/batchup-status` (text; `?json` for JSON); empty: off; "
     "`batchup status` prints it"},
    {"shutdown_timeout", NUM(shutdown_timeout, 1, 86400), "30", NULL,
     "seconds a graceful stop waits for in-flight requests"},
    {"gc_interval_seconds", NUM(gc_interval_seconds, 0, 86400), "10", NULL,
     "seconds between maintenance passes run by the master (0 = none)"},
    {"orphan_grace_seconds", NUM(orphan_grace_seconds, 1, INT_MAX), "3600", NULL,
     "the maintenance pass removes files in `storage_dir` that no live file owns, when older than "
     "this (at most every half of it)"},
    {"log_level", WORD(log_level, "debug|info|warn|error"), "info", NULL,
     "`debug`, `info`, `warn` or `error`"},
    {"log_file", TEXT(K_ABSPATH, log_file), "", NULL,
     "an absolute path: `serve` writes its log there (and everything its processes print on "
     "stderr); empty: standard error; SIGUSR1 reopens it; a change takes effect on restart"},
    {"hook_command", STR(hook_command), "", NULL,
     "a command run by `/bin/sh -c` for each hook event, the JSON event on its standard input; "
     "empty: none (docs/operations.md, \"Hooks\")"},
    {"hook_url", TEXT(K_URL, hook_url), "", NULL,
     "an `http://` or `https://` URL that gets each hook event as a JSON POST; empty: none"},
    {"hook_events", TEXT(K_EVENTS, hook_events), "batch_complete", NULL,
     "the event kinds delivered, comma-separated: `batch_complete`, `file_aborted`, "
     "`file_expired`"},
    {"hook_timeout_seconds", NUM(hook_timeout_seconds, 1, 3600), "10", NULL,
     "seconds one delivery to one target may take; then the command is killed (or the request "
     "abandoned) and the attempt failed"},
    {"hook_max_attempts", NUM(hook_max_attempts, 1, 1000), "10", NULL,
     "attempts before an event is given up (status `failed` in `batchup.hook_deliveries`)"},
    {"hook_retry_seconds", NUM(hook_retry_seconds, 1, 86400), "10", NULL,
     "seconds before the first retry of a failed delivery; doubles with each attempt, up to an "
     "hour"},
};

#define KEY_COUNT (sizeof keys / sizeof keys[0])

static int key_set(struct bu_config *cfg, const struct key *k, const char *value,
                   struct bu_error *err);

/* Every default goes through the setter a file's line goes through, so
 * the parsed forms (listen_addr, listen_peers) are computed where they
 * always are.  A default outside its own bounds would leave its field zero;
 * tests/unit/test_config.c proves none is. */
void config_defaults(struct bu_config *cfg)
{
    struct bu_error unused;

    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < KEY_COUNT; i++)
        (void)key_set(cfg, &keys[i], keys[i].def, &unused);
}

/* `words` ("a|b|c") as "`a`, `b` or `c`". */
static void words_note(const char *words, char *buf, size_t cap)
{
    size_t used = 0;

    buf[0] = '\0';
    for (const char *p = words; *p != '\0' && used < cap;) {
        size_t len = strcspn(p, "|");
        const char *sep = p == words ? "" : p[len] == '\0' ? " or " : ", ";
        used += (size_t)snprintf(buf + used, cap - used, "%s`%.*s`", sep, (int)len, p);
        p += len + (p[len] == '|');
    }
}

/* The values a key takes, in words, from its kind and bounds ("" where
 * its line says them already). */
static void values_note(const struct key *k, char *buf, size_t cap)
{
    static const char *const fixed[] = {
        [K_LISTEN] = "", /* its line says it all */
        [K_ALLOW] = "",
        [K_ABSPATH] = "an absolute path, or empty",
        [K_URL] = "an `http://` or `https://` URL, or empty",
        [K_EVENTS] = "one or more event kinds, separated by commas",
        [K_ORIGINS] = "origins separated by spaces or commas, `*`, or empty",
        [K_MODE] = "an octal mode, at most `0777`",
        [K_BOOL] = "`yes` or `no`",
    };

    if (k->kind == K_WORD || k->kind == K_CHOICE)
        words_note(k->words, buf, cap);
    else if (k->kind == K_STRING)
        snprintf(buf, cap, "text of at most %zu bytes", k->size - 1);
    else if (k->kind == K_MODE || k->kind == K_BOOL || k->kind < K_INT)
        snprintf(buf, cap, "%s", fixed[k->kind]);
    else if (k->max == INT_MAX || k->max == LLONG_MAX)
        snprintf(buf, cap, "a whole number, at least %lld", k->min);
    else
        snprintf(buf, cap, "a whole number from %lld to %lld", k->min, k->max);
}

bool config_doc(size_t i, struct config_doc *out)
{
    if (i >= KEY_COUNT)
        return false;
    out->name = keys[i].name;
    out->def = keys[i].def;
    out->sample = keys[i].sample;
    out->doc = keys[i].doc;
    values_note(&keys[i], out->values, sizeof out->values);
    return true;
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
    struct address_listen listen = {0};
    struct address_allow allow = {0};

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
    for (size_t i = 0; i < KEY_COUNT; i++)
        if (strcmp(keys[i].name, key) == 0)
            return key_set(cfg, &keys[i], value, err);
    return error_set(err, BU_E_BAD_CONFIG, "unknown configuration key '%s' (value '%s')", key,
                     value);
}

/* Set the key k from its text form, by its kind. */
static int key_set(struct bu_config *cfg, const struct key *k, const char *value,
                   struct bu_error *err)
{
    const char *key = k->name;
    char *field = (char *)cfg + k->offset, why[128];
    int index;

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
    for (size_t i = 0; i < KEY_COUNT; i++) {
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
