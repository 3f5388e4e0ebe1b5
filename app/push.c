/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * push.c - `batchup push`: the command-line uploader.  It turns files and
 * directories into one batch (created with its declared file list, so the
 * server knows every name and size from the start and gives one link),
 * then sends each file's bytes with tus PATCHes to its upload_url, and
 * prints the batch's absolute download URL on standard output once the
 * batch is complete.
 *
 * Why it is built this way:
 * - Resumable by design: before any byte is sent, the batch id and what
 *   each file was (size, mtime) are written to a state file under
 *   $XDG_STATE_HOME/batchup/ (default ~/.local/state/batchup/), named by a
 *   SHA-256 of the server URL and the absolute paths given.  The same
 *   command run again finds it, asks the server (HEAD) where each file
 *   stands and sends only the rest: no byte the server has is sent twice.
 *   A file that changed since is an error, never a silently mixed upload.
 * - The per-user limit is the server's business: each file first claims a
 *   slot with an empty PATCH (no bandwidth wasted while queued) and honours
 *   423 with Retry-After and Upload-Queue-Position for as long as the queue
 *   lasts.  --parallel defaults to the limit the server announces in
 *   GET /api/v1/batches ("upload_limit"), so no more streams are opened
 *   than can hold a slot.
 * - Bounded memory: each active file streams through libcurl's own buffer
 *   (the read callback preads into it); what grows with the number of
 *   files is one small record per file (its path and name), which the
 *   batch's declared list needs anyway.
 * - Output: standard output carries the link alone.  On a terminal,
 *   standard error shows one line per active file and a total line;
 *   with --json, standard error carries one JSON event per line instead;
 *   otherwise it stays quiet but for errors.
 */
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "batchup/digest.h"
#include "batchup/push.h"

/* A JSON answer larger than this is not one batchup sends. */
#define PUSH_BODY_MAX ((size_t)64 << 20)
/* The longest wait between two claims, whatever Retry-After says. */
#define PUSH_RETRY_MAX 60
/* Network failures in a row on one file before the push gives up (the
 * state stays: running the command again continues). */
#define PUSH_NET_TRIES 8
#define PUSH_PARALLEL_MAX 64

enum push_state { PUSH_PENDING, PUSH_QUEUED, PUSH_SENDING, PUSH_DONE };

struct push_file {
    char *path; /* absolute */
    char *name; /* the name in the batch: relative path under its argument */
    uint64_t size;
    int64_t mtime_ns;
    char url[128];     /* upload_url, relative to the server */
    uint64_t offset;   /* the server's offset, as last known */
    uint64_t sent;     /* bytes this run sent of the file (atomic) */
    uint64_t progress; /* the offset the PATCH in flight has reached (atomic) */
    int state;         /* enum push_state (atomic) */
    long queue_pos;    /* while queued */
};

struct push_run {
    char base[1024]; /* the server URL without a trailing slash */
    char auth[600];  /* "Authorization: Bearer ..." */
    int parallel;
    bool json, tty;
    struct push_file *files;
    size_t n, cap;
    uint64_t total; /* bytes of every file */
    uint64_t had;   /* bytes the server had when this run started */
    char batch_id[40];
    char state_path[PATH_MAX];
    pthread_mutex_t lock; /* next, failed, err, and json output */
    size_t next;
    bool failed;
    struct bu_error err;
    int active_workers;
};

/* One HTTP answer: the status, the few headers the client reads, and the
 * body (bounded by PUSH_BODY_MAX). */
struct push_resp {
    long status;
    char *body;
    size_t len;
    bool too_big;
    long long upload_offset; /* -1: absent */
    long retry_after;        /* -1: absent */
    long queue_pos;          /* -1: absent */
};

/* ---- small helpers ----------------------------------------------------- */

static double push_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void push_fmt_bytes(char *out, size_t size, double v)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    snprintf(out, size, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
}

/* The server's error sentence from a JSON error body, else a generic one. */
static void push_server_message(const struct push_resp *r, char *out, size_t size)
{
    json_t *root = r->body ? json_loadb(r->body, r->len, 0, NULL) : NULL;
    const char *code = NULL, *msg = NULL;
    json_t *e = root ? json_object_get(root, "error") : NULL;
    if (e) {
        code = json_string_value(json_object_get(e, "code"));
        msg = json_string_value(json_object_get(e, "message"));
    }
    if (code && msg)
        snprintf(out, size, "HTTP %ld %s: %s", r->status, code, msg);
    else
        snprintf(out, size, "HTTP %ld", r->status);
    json_decref(root);
}

/* ---- HTTP ---------------------------------------------------------------- */

static long push_header_long(const char *v)
{
    char *end;
    long long n;
    while (*v == ' ' || *v == '\t')
        v++;
    errno = 0;
    n = strtoll(v, &end, 10);
    if (end == v || errno != 0 || n < 0)
        return -1;
    return n > LONG_MAX ? LONG_MAX : (long)n;
}

static size_t push_header_cb(char *buf, size_t size, size_t nitems, void *ud)
{
    struct push_resp *r = ud;
    size_t len = size * nitems;
    char line[256];
    size_t n = len < sizeof line - 1 ? len : sizeof line - 1;
    char *colon;

    memcpy(line, buf, n);
    line[n] = '\0';
    colon = strchr(line, ':');
    if (strncmp(line, "HTTP/", 5) == 0) {
        /* A new answer (after a redirect or 100 Continue): forget the last. */
        r->upload_offset = -1;
        r->retry_after = -1;
        r->queue_pos = -1;
    }
    if (colon == NULL)
        return len;
    *colon = '\0';
    if (strcasecmp(line, "Upload-Offset") == 0) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(colon + 1, &end, 10);
        r->upload_offset = (end == colon + 1 || errno) ? -1 : (long long)v;
    } else if (strcasecmp(line, "Retry-After") == 0) {
        r->retry_after = push_header_long(colon + 1);
    } else if (strcasecmp(line, "Upload-Queue-Position") == 0) {
        r->queue_pos = push_header_long(colon + 1);
    }
    return len;
}

static size_t push_body_cb(char *buf, size_t size, size_t nitems, void *ud)
{
    struct push_resp *r = ud;
    size_t len = size * nitems;
    char *grown;

    if (r->len + len > PUSH_BODY_MAX) {
        r->too_big = true;
        return 0;
    }
    grown = realloc(r->body, r->len + len + 1);
    if (grown == NULL)
        return 0;
    r->body = grown;
    memcpy(r->body + r->len, buf, len);
    r->len += len;
    r->body[r->len] = '\0';
    return len;
}

static void push_resp_reset(struct push_resp *r)
{
    free(r->body);
    memset(r, 0, sizeof *r);
    r->upload_offset = -1;
    r->retry_after = -1;
    r->queue_pos = -1;
}

void push_curl_begin(CURL *c, const char *url, struct curl_slist *headers,
                     curl_write_callback on_header, curl_write_callback on_body, void *data)
{
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, data);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, data);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 20L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
}

/* The headers of every request of push: the token, tus's version, no
 * 100-continue, and "Prefer: wait=0" (push shows the queue itself: a
 * queued file's 423 at once, not held); then a content type and an
 * Upload-Offset when given (offset < 0: none). */
static struct curl_slist *push_headers(const struct push_run *run, const char *content_type,
                                       long long offset)
{
    struct curl_slist *h = NULL;
    char line[160];

    h = curl_slist_append(h, run->auth);
    h = curl_slist_append(h, "Tus-Resumable: 1.0.0");
    h = curl_slist_append(h, "Prefer: wait=0");
    h = curl_slist_append(h, "Expect:");
    if (content_type) {
        snprintf(line, sizeof line, "Content-Type: %s", content_type);
        h = curl_slist_append(h, line);
    }
    if (offset >= 0) {
        snprintf(line, sizeof line, "Upload-Offset: %lld", offset);
        h = curl_slist_append(h, line);
    }
    return h;
}

/* One request with a small body (or none) to base + path.  Returns 0 with
 * resp filled (any status), or -1 with err when no answer came. */
static int push_request(const struct push_run *run, CURL *c, const char *method, const char *path,
                        const char *content_type, const char *body, long long upload_offset,
                        struct push_resp *resp, struct bu_error *err)
{
    char url[2048];
    struct curl_slist *h = push_headers(run, content_type, upload_offset);
    CURLcode rc;

    push_resp_reset(resp);
    snprintf(url, sizeof url, "%s%s", run->base, path);
    push_curl_begin(c, url, h, push_header_cb, push_body_cb, resp);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? strlen(body) : 0));
    }
    rc = curl_easy_perform(c);
    curl_slist_free_all(h);
    if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && resp->too_big))
        return error_set(err, BU_E_INTERNAL, "%s %s: %s", method, url, curl_easy_strerror(rc));
    if (resp->too_big)
        return error_set(err, BU_E_INTERNAL, "%s %s: the answer is too large", method, url);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    return 0;
}

/* ---- the files ------------------------------------------------------------ */

static int push_add(struct push_run *run, const char *path, const char *name, const struct stat *st,
                    struct bu_error *err)
{
    struct push_file *f;

    if (run->n == run->cap) {
        size_t cap = run->cap ? run->cap * 2 : 64;
        struct push_file *grown = realloc(run->files, cap * sizeof *grown);
        if (grown == NULL)
            return error_set(err, BU_E_INTERNAL, "out of memory");
        run->files = grown;
        run->cap = cap;
    }
    f = &run->files[run->n];
    memset(f, 0, sizeof *f);
    f->path = strdup(path);
    f->name = strdup(name);
    if (f->path == NULL || f->name == NULL) {
        free(f->path);
        free(f->name);
        return error_set(err, BU_E_INTERNAL, "out of memory");
    }
    f->size = (uint64_t)st->st_size;
    f->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
    run->n++;
    run->total += f->size;
    return 0;
}

/* Add the regular files under dir (absolute), named prefix/relative path.
 * Symbolic links and special files are skipped with a warning: following
 * a link could upload what lies outside the tree the user named. */
static int push_walk(struct push_run *run, const char *dir, const char *prefix,
                     struct bu_error *err)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int rc = 0;

    if (d == NULL)
        return error_set(err, BU_E_BAD_REQUEST, "%s: %s", dir, strerror(errno));
    while (rc == 0 && (de = readdir(d)) != NULL) {
        char path[PATH_MAX], name[PATH_MAX];
        struct stat st;

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, de->d_name) >= sizeof path ||
            (size_t)snprintf(name, sizeof name, "%s/%s", prefix, de->d_name) >= sizeof name) {
            rc = error_set(err, BU_E_BAD_REQUEST, "%s/%s: path too long", dir, de->d_name);
            break;
        }
        if (lstat(path, &st) != 0)
            rc = error_set(err, BU_E_BAD_REQUEST, "%s: %s", path, strerror(errno));
        else if (S_ISDIR(st.st_mode))
            rc = push_walk(run, path, name, err);
        else if (S_ISREG(st.st_mode))
            rc = push_add(run, path, name, &st, err);
        else
            fprintf(stderr, "batchup: skipping %s (not a regular file or directory)\n", path);
    }
    closedir(d);
    return rc;
}

/* Add one command-line argument: a file (named by its base name) or a
 * directory (its files named by the directory's base name and their path
 * below it). */
static int push_add_arg(struct push_run *run, const char *arg, struct bu_error *err)
{
    char abs[PATH_MAX];
    const char *base;
    struct stat st;

    if (realpath(arg, abs) == NULL || stat(abs, &st) != 0)
        return error_set(err, BU_E_BAD_REQUEST, "%s: %s", arg, strerror(errno));
    base = strrchr(abs, '/');
    base = (base && base[1]) ? base + 1 : "root";
    if (S_ISDIR(st.st_mode))
        return push_walk(run, abs, base, err);
    if (S_ISREG(st.st_mode))
        return push_add(run, abs, base, &st, err);
    return error_set(err, BU_E_BAD_REQUEST, "%s: not a regular file or directory", arg);
}

static int push_cmp_name(const void *a, const void *b)
{
    return strcmp(((const struct push_file *)a)->name, ((const struct push_file *)b)->name);
}

/* ---- the state file ------------------------------------------------------ */

/* The state file's path: $XDG_STATE_HOME/batchup/push-<sha256>.json, the
 * hash over the URL and each argument's absolute path. */
static int push_state_path(struct push_run *run, int nargs, char **args, struct bu_error *err)
{
    struct digest d;
    unsigned char md[DIGEST_MAX];
    char hex[DIGEST_HEX_SIZE], dir[PATH_MAX];
    const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");

    if (xdg && xdg[0] == '/')
        snprintf(dir, sizeof dir, "%s/batchup", xdg);
    else if (home && home[0] == '/')
        snprintf(dir, sizeof dir, "%s/.local/state/batchup", home);
    else
        return error_set(err, BU_E_USAGE, "neither $XDG_STATE_HOME nor $HOME is set");
    if (digest_begin(&d, DIGEST_SHA256, false) != 0)
        return error_set(err, BU_E_INTERNAL, "out of memory");
    digest_feed(&d, run->base, strlen(run->base) + 1);
    for (int i = 0; i < nargs; i++) {
        char abs[PATH_MAX];
        const char *p = realpath(args[i], abs) ? abs : args[i];
        digest_feed(&d, p, strlen(p) + 1);
    }
    digest_hex(md, digest_end(&d, md), hex);
    /* Make the directory and its parents (0700: it names what one uploads). */
    for (char *s = dir + 1;; s++) {
        if (*s == '/' || *s == '\0') {
            char c = *s;
            *s = '\0';
            if (mkdir(dir, 0700) != 0 && errno != EEXIST)
                return error_set(err, BU_E_INTERNAL, "%s: %s", dir, strerror(errno));
            *s = c;
            if (c == '\0')
                break;
        }
    }
    snprintf(run->state_path, sizeof run->state_path, "%s/push-%.32s.json", dir, hex);
    return 0;
}

/* Write the state (batch id and the files as they are now) atomically:
 * a crash leaves the old state or the new, never half of one. */
static int push_state_write(const struct push_run *run, struct bu_error *err)
{
    char tmp[PATH_MAX + 8];
    json_t *root = json_pack("{s:s,s:s,s:[]}", "url", run->base, "batch", run->batch_id, "files");
    json_t *files = json_object_get(root, "files");
    FILE *fp;
    int ok;

    for (size_t i = 0; i < run->n; i++)
        json_array_append_new(files,
                              json_pack("{s:s,s:s,s:I,s:I}", "name", run->files[i].name, "path",
                                        run->files[i].path, "size", (json_int_t)run->files[i].size,
                                        "mtime_ns", (json_int_t)run->files[i].mtime_ns));
    snprintf(tmp, sizeof tmp, "%s.tmp", run->state_path);
    fp = fopen(tmp, "w");
    ok = fp != NULL && json_dumpf(root, fp, JSON_COMPACT) == 0;
    ok = fp != NULL && fflush(fp) == 0 && fsync(fileno(fp)) == 0 && ok;
    if (fp)
        ok = fclose(fp) == 0 && ok;
    json_decref(root);
    if (!ok || rename(tmp, run->state_path) != 0) {
        unlink(tmp);
        return error_set(err, BU_E_INTERNAL, "cannot write %s: %s", run->state_path,
                         strerror(errno));
    }
    return 0;
}

static struct push_file *push_find(struct push_run *run, const char *name)
{
    struct push_file key = {.name = (char *)name};
    return name ? bsearch(&key, run->files, run->n, sizeof key, push_cmp_name) : NULL;
}

/* Read the state of an interrupted push: 1 found (batch_id set, every file
 * checked against what it was), 0 none, -1 err (a file changed). */
static int push_state_read(struct push_run *run, struct bu_error *err)
{
    json_error_t jerr;
    json_t *root = json_load_file(run->state_path, 0, &jerr), *files, *it;
    const char *batch;
    size_t i, matched = 0;
    int rc = 1;

    if (root == NULL)
        return access(run->state_path, F_OK) == 0
                   ? error_set(err, BU_E_INTERNAL,
                               "%s: unreadable state (%s); remove it to start anew",
                               run->state_path, jerr.text)
                   : 0;
    batch = json_string_value(json_object_get(root, "batch"));
    files = json_object_get(root, "files");
    if (batch == NULL || strlen(batch) >= sizeof run->batch_id || !json_is_array(files)) {
        json_decref(root);
        return error_set(err, BU_E_INTERNAL, "%s: not a push state; remove it to start anew",
                         run->state_path);
    }
    snprintf(run->batch_id, sizeof run->batch_id, "%s", batch);
    json_array_foreach(files, i, it)
    {
        struct push_file *f = push_find(run, json_string_value(json_object_get(it, "name")));
        json_int_t size = json_integer_value(json_object_get(it, "size"));
        json_int_t mtime = json_integer_value(json_object_get(it, "mtime_ns"));
        const char *path = json_string_value(json_object_get(it, "path"));

        if (f == NULL) {
            rc = error_set(err, BU_E_BAD_REQUEST,
                           "%s is gone since the interrupted push of batch %s; restore it, or "
                           "remove %s to push a new batch",
                           path ? path : "a file", run->batch_id, run->state_path);
            break;
        }
        if ((uint64_t)size != f->size || mtime != f->mtime_ns) {
            rc = error_set(err, BU_E_BAD_REQUEST,
                           "%s changed since the interrupted push of batch %s (size or "
                           "modification time); remove %s to push a new batch",
                           f->path, run->batch_id, run->state_path);
            break;
        }
        matched++;
    }
    if (rc == 1 && matched != run->n)
        rc = error_set(err, BU_E_BAD_REQUEST,
                       "files were added since the interrupted push of batch %s; remove %s to "
                       "push a new batch",
                       run->batch_id, run->state_path);
    json_decref(root);
    return rc;
}

/* ---- the batch -------------------------------------------------------------- */

/* Take the files' ids, URLs and progress from a batch answer.  Returns the
 * batch's status string into status (or "" when absent). */
static const char *push_str(json_t *obj, const char *key)
{
    const char *v = json_string_value(json_object_get(obj, key));
    return v ? v : "";
}

static int push_take_batch(struct push_run *run, const char *body, char *status, size_t ssize,
                           char *link, size_t lsize, struct bu_error *err)
{
    json_t *root = json_loads(body, 0, NULL), *files, *it;
    size_t i;

    if (root == NULL)
        return error_set(err, BU_E_INTERNAL, "the server's batch answer is not JSON");
    snprintf(status, ssize, "%s", push_str(root, "status"));
    snprintf(link, lsize, "%s", push_str(root, "download_url"));
    if (run->batch_id[0] == '\0')
        snprintf(run->batch_id, sizeof run->batch_id, "%s", push_str(root, "id"));
    files = json_object_get(root, "files");
    json_array_foreach(files, i, it)
    {
        struct push_file *f = push_find(run, json_string_value(json_object_get(it, "name")));
        const char *url = json_string_value(json_object_get(it, "upload_url"));
        const char *st = json_string_value(json_object_get(it, "status"));

        if (f == NULL || url == NULL)
            continue;
        snprintf(f->url, sizeof f->url, "%s", url);
        f->offset = (uint64_t)json_integer_value(json_object_get(it, "offset"));
        if (st && strcmp(st, "completed") == 0) {
            f->offset = f->size;
            f->state = PUSH_DONE;
        } else if (st && (strcmp(st, "aborted") == 0 || strcmp(st, "expired") == 0)) {
            json_decref(root);
            return error_set(err, BU_E_UPLOAD_GONE, "%s: the server %s it in batch %s", f->path, st,
                             run->batch_id);
        }
    }
    json_decref(root);
    if (run->batch_id[0] == '\0')
        return error_set(err, BU_E_INTERNAL, "the server's batch answer has no id");
    for (i = 0; i < run->n; i++)
        if (run->files[i].url[0] == '\0')
            return error_set(err, BU_E_INTERNAL, "batch %s has no file named %s", run->batch_id,
                             run->files[i].name);
    return 0;
}

/* POST the batch with its declared list. */
static int push_create(struct push_run *run, CURL *c, struct bu_error *err)
{
    json_t *root = json_pack("{s:[]}", "files"), *files = json_object_get(root, "files");
    struct push_resp resp = {0};
    char status[32], link[512], msg[512];
    char *body;
    int rc;

    for (size_t i = 0; i < run->n; i++)
        json_array_append_new(files, json_pack("{s:s,s:I}", "name", run->files[i].name, "size",
                                               (json_int_t)run->files[i].size));
    body = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (body == NULL)
        return error_set(err, BU_E_INTERNAL, "out of memory");
    rc = push_request(run, c, "POST", "/api/v1/batches", "application/json", body, -1, &resp, err);
    free(body);
    if (rc == 0 && resp.status != 201) {
        push_server_message(&resp, msg, sizeof msg);
        rc = error_set(err, BU_E_BAD_REQUEST, "creating the batch: %s", msg);
    }
    if (rc == 0)
        rc = push_take_batch(run, resp.body, status, sizeof status, link, sizeof link, err);
    push_resp_reset(&resp);
    return rc;
}

/* GET the batch; 1 with status and link, 0 when it is gone (404/410). */
static int push_get_batch(struct push_run *run, CURL *c, char *status, size_t ssize, char *link,
                          size_t lsize, struct bu_error *err)
{
    struct push_resp resp = {0};
    char path[128], msg[512];
    int rc;

    snprintf(path, sizeof path, "/api/v1/batches/%s", run->batch_id);
    rc = push_request(run, c, "GET", path, NULL, NULL, -1, &resp, err);
    if (rc == 0 && (resp.status == 404 || resp.status == 410)) {
        rc = 0;
    } else if (rc == 0 && resp.status != 200) {
        push_server_message(&resp, msg, sizeof msg);
        rc = error_set(err, BU_E_INTERNAL, "reading batch %s: %s", run->batch_id, msg);
    } else if (rc == 0) {
        rc = push_take_batch(run, resp.body, status, ssize, link, lsize, err) == 0 ? 1 : -1;
    }
    push_resp_reset(&resp);
    return rc;
}

/* The user's limit from GET /api/v1/batches?limit=1 ("upload_limit"), or 0
 * when the server does not say. */
static int push_server_limit(struct push_run *run, CURL *c)
{
    struct push_resp resp = {0};
    struct bu_error ignored;
    int limit = 0;

    if (push_request(run, c, "GET", "/api/v1/batches?limit=1", NULL, NULL, -1, &resp, &ignored) ==
            0 &&
        resp.status == 200) {
        json_t *root = json_loads(resp.body, 0, NULL);
        json_int_t v = json_integer_value(json_object_get(root, "upload_limit"));
        limit = v > 0 && v <= PUSH_PARALLEL_MAX ? (int)v : 0;
        json_decref(root);
    }
    push_resp_reset(&resp);
    return limit;
}

/* ---- events and progress ---------------------------------------------------- */

/* One --json event line on stderr (under run->lock: lines never mix). */
static void push_event(struct push_run *run, json_t *ev)
{
    if (run->json) {
        char *s = json_dumps(ev, JSON_COMPACT);
        pthread_mutex_lock(&run->lock);
        if (s)
            fprintf(stderr, "%s\n", s);
        fflush(stderr);
        pthread_mutex_unlock(&run->lock);
        free(s);
    }
    json_decref(ev);
}

static uint64_t push_sent_total(const struct push_run *run)
{
    uint64_t sent = 0;
    for (size_t i = 0; i < run->n; i++)
        sent += __atomic_load_n(&run->files[i].sent, __ATOMIC_RELAXED);
    return sent;
}

/* Redraw the terminal's progress block: one line per active file and the
 * total.  lines is how many lines the previous block took. */
static int push_draw(struct push_run *run, int lines, double started)
{
    double elapsed = push_now() - started;
    uint64_t sent = push_sent_total(run);
    uint64_t have = run->had + sent;
    double rate = elapsed > 0.5 ? (double)sent / elapsed : 0;
    char a[32], b[32], r[32], eta[32] = "--:--";
    int drawn = 0, queued = 0;

    if (lines > 0)
        fprintf(stderr, "\033[%dA", lines);
    for (size_t i = 0; i < run->n; i++) {
        struct push_file *f = &run->files[i];
        int st = __atomic_load_n(&f->state, __ATOMIC_RELAXED);
        if (st == PUSH_QUEUED) {
            queued++;
            fprintf(stderr, "\033[K  %-40.40s queued, position %ld\n", f->name,
                    __atomic_load_n(&f->queue_pos, __ATOMIC_RELAXED));
            drawn++;
        } else if (st == PUSH_SENDING) {
            uint64_t off = __atomic_load_n(&f->progress, __ATOMIC_RELAXED);
            push_fmt_bytes(a, sizeof a, (double)off);
            push_fmt_bytes(b, sizeof b, (double)f->size);
            fprintf(stderr, "\033[K  %-40.40s %10s / %-10s %3d%%\n", f->name, a, b,
                    f->size ? (int)(100 * off / f->size) : 100);
            drawn++;
        }
    }
    if (rate > 0) {
        long s = (long)((double)(run->total - have) / rate);
        snprintf(eta, sizeof eta, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    }
    push_fmt_bytes(a, sizeof a, (double)have);
    push_fmt_bytes(b, sizeof b, (double)run->total);
    push_fmt_bytes(r, sizeof r, rate);
    fprintf(stderr, "\033[K  total %s / %s, %s/s, ETA %s, %d queued\n", a, b, r, eta, queued);
    drawn++;
    /* Clear what the previous, longer block left below. */
    for (int i = drawn; i < lines; i++)
        fprintf(stderr, "\033[K\n");
    if (lines > drawn)
        fprintf(stderr, "\033[%dA", lines - drawn);
    fflush(stderr);
    return drawn;
}

/* ---- one file's upload ---------------------------------------------------- */

struct push_body {
    struct push_file *f;
    int fd;
    uint64_t pos; /* the next byte of the file to send */
};

static size_t push_read_cb(char *buf, size_t size, size_t nitems, void *ud)
{
    struct push_body *b = ud;
    size_t want = size * nitems;
    ssize_t got;

    if (b->pos + want > b->f->size)
        want = (size_t)(b->f->size - b->pos);
    if (want == 0)
        return 0;
    got = pread(b->fd, buf, want, (off_t)b->pos);
    if (got <= 0)
        return CURL_READFUNC_ABORT; /* the file shrank or cannot be read */
    b->pos += (uint64_t)got;
    __atomic_store_n(&b->f->progress, b->pos, __ATOMIC_RELAXED);
    __atomic_add_fetch(&b->f->sent, (uint64_t)got, __ATOMIC_RELAXED);
    return (size_t)got;
}

/* PATCH the rest of f from f->offset.  Returns 0 with resp (any status), or
 * -1 with err when the connection failed. */
static int push_send(struct push_run *run, CURL *c, struct push_file *f, int fd,
                     struct push_resp *resp, struct bu_error *err)
{
    char url[2048];
    struct curl_slist *h =
        push_headers(run, "application/offset+octet-stream", (long long)f->offset);
    struct push_body body = {.f = f, .fd = fd, .pos = f->offset};
    CURLcode rc;

    push_resp_reset(resp);
    snprintf(url, sizeof url, "%s%s", run->base, f->url);
    push_curl_begin(c, url, h, push_header_cb, push_body_cb, resp);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PATCH");
    curl_easy_setopt(c, CURLOPT_READFUNCTION, push_read_cb);
    curl_easy_setopt(c, CURLOPT_READDATA, &body);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)(f->size - f->offset));
    /* A stalled connection (network down, laptop closed) is given up after
     * 60 s below 1 byte/s; the file is then resumed from the server's offset. */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    rc = curl_easy_perform(c);
    curl_slist_free_all(h);
    if (rc != CURLE_OK)
        return error_set(err, BU_E_INTERNAL, "PATCH %s: %s", url, curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    return 0;
}

/* Sleep s seconds unless another file failed meanwhile. */
static void push_wait(struct push_run *run, long s)
{
    for (long i = 0; i < s * 10; i++) {
        bool failed;
        pthread_mutex_lock(&run->lock);
        failed = run->failed;
        pthread_mutex_unlock(&run->lock);
        if (failed)
            return;
        usleep(100000);
    }
}

static void push_set_state(struct push_run *run, struct push_file *f, int state)
{
    int old = __atomic_exchange_n(&f->state, state, __ATOMIC_RELAXED);
    if (old == state && state != PUSH_QUEUED)
        return;
    if (state == PUSH_QUEUED)
        push_event(run, json_pack("{s:s,s:s,s:i}", "event", "queued", "name", f->name, "position",
                                  (int)f->queue_pos));
    else if (state == PUSH_SENDING)
        push_event(run, json_pack("{s:s,s:s,s:I,s:I}", "event", "uploading", "name", f->name,
                                  "offset", (json_int_t)f->offset, "size", (json_int_t)f->size));
    else if (state == PUSH_DONE)
        push_event(run, json_pack("{s:s,s:s,s:I,s:I}", "event", "completed", "name", f->name,
                                  "size", (json_int_t)f->size, "sent",
                                  (json_int_t)__atomic_load_n(&f->sent, __ATOMIC_RELAXED)));
}

/* A 423 to the claim: the file waits in the queue as long as the server
 * says (Retry-After), unless another file failed meanwhile (-1). */
static int push_queued(struct push_run *run, struct push_file *f, const struct push_resp *resp,
                       struct bu_error *err)
{
    long wait = resp->retry_after > 0 ? resp->retry_after : 2;
    int rc;

    f->queue_pos = resp->queue_pos;
    push_set_state(run, f, PUSH_QUEUED);
    push_wait(run, wait < PUSH_RETRY_MAX ? wait : PUSH_RETRY_MAX);
    pthread_mutex_lock(&run->lock);
    rc = run->failed ? error_set(err, BU_E_INTERNAL, "stopped: another file failed") : 0;
    pthread_mutex_unlock(&run->lock);
    return rc;
}

/* What one step of a file's upload says to the next. */
enum push_step {
    PUSH_STEP_AGAIN,   /* go round: claim again (queued, another offset) */
    PUSH_STEP_SENT,    /* bytes went: go round with the network tries reset */
    PUSH_STEP_DONE,    /* the server has the whole file */
    PUSH_STEP_NETWORK, /* no answer: retry from the server's offset */
    PUSH_STEP_ERROR    /* give up (err says why) */
};

/* For `return push_step_error(error_set(err, ...));`. */
static enum push_step push_step_error(int rc)
{
    (void)rc;
    return PUSH_STEP_ERROR;
}

static void push_offset(struct push_file *f, long long offset)
{
    __atomic_store_n(&f->offset, (uint64_t)offset, __ATOMIC_RELAXED);
}

/* Whether the file still is what the batch declared (size, mtime). */
static int push_unchanged(const struct push_file *f, int fd, struct bu_error *err)
{
    struct stat st;

    if (fstat(fd, &st) != 0 || (uint64_t)st.st_size != f->size ||
        (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec != f->mtime_ns)
        return error_set(err, BU_E_BAD_REQUEST,
                         "%s changed during the push (size or modification time)", f->path);
    return 0;
}

/* Learn the server's offset of f. */
static enum push_step push_head(struct push_run *run, CURL *c, struct push_file *f,
                                struct push_resp *resp, struct bu_error *neterr,
                                struct bu_error *err)
{
    if (push_request(run, c, "HEAD", f->url, NULL, NULL, -1, resp, neterr) != 0)
        return PUSH_STEP_NETWORK;
    if (resp->status != 200 || resp->upload_offset < 0)
        return push_step_error(error_set(err, BU_E_UPLOAD_GONE, "%s: HEAD %s answered %ld", f->path,
                                         f->url, resp->status));
    push_offset(f, resp->upload_offset);
    return PUSH_STEP_AGAIN;
}

/* The server's answer as the reason to give up on f. */
static enum push_step push_refused(const struct push_file *f, const struct push_resp *resp,
                                   struct bu_error *err)
{
    char msg[512];

    push_server_message(resp, msg, sizeof msg);
    return push_step_error(error_set(err, BU_E_INTERNAL, "%s: %s", f->path, msg));
}

/* One round from the known offset: claim (or renew) the slot with an
 * empty PATCH, waiting in the queue as the server says, then send the
 * rest. */
static enum push_step push_round(struct push_run *run, CURL *c, struct push_file *f, int fd,
                                 struct push_resp *resp, struct bu_error *neterr,
                                 struct bu_error *err)
{
    if (f->offset >= f->size) {
        push_set_state(run, f, PUSH_DONE);
        return PUSH_STEP_DONE;
    }
    if (push_request(run, c, "PATCH", f->url, "application/offset+octet-stream", NULL,
                     (long long)f->offset, resp, neterr) != 0)
        return PUSH_STEP_NETWORK;
    if (resp->status == 423)
        return push_queued(run, f, resp, err) == 0 ? PUSH_STEP_AGAIN : PUSH_STEP_ERROR;
    if (resp->status == 409 && resp->upload_offset >= 0) {
        push_offset(f, resp->upload_offset);
        return PUSH_STEP_AGAIN;
    }
    if (resp->status != 204)
        return push_refused(f, resp, err);
    __atomic_store_n(&f->progress, f->offset, __ATOMIC_RELAXED);
    push_set_state(run, f, PUSH_SENDING);
    if (push_send(run, c, f, fd, resp, neterr) != 0)
        return PUSH_STEP_NETWORK;
    if (resp->upload_offset >= 0)
        push_offset(f, resp->upload_offset);
    /* Done, the slot lost meanwhile, or another offset: go round. */
    if (resp->status == 204 || resp->status == 423 || resp->status == 409)
        return PUSH_STEP_SENT;
    return push_refused(f, resp, err);
}

/* No answer: wait longer each time, and give up after PUSH_NET_TRIES. */
static int push_network(struct push_run *run, struct push_file *f, int *tries,
                        const struct bu_error *neterr, struct bu_error *err)
{
    if (++*tries >= PUSH_NET_TRIES)
        return error_set(err, BU_E_INTERNAL,
                         "%s; giving up after %d tries (run the same command again to continue)",
                         neterr->message, *tries);
    push_event(run, json_pack("{s:s,s:s,s:s}", "event", "retry", "name", f->name, "error",
                              neterr->message));
    push_wait(run, 1L << (*tries < 5 ? *tries : 5));
    return 0;
}

/* Upload one file to its end: HEAD for the server's offset, then rounds
 * of claim and send.  Network failures are retried from the server's
 * offset. */
static int push_file_upload(struct push_run *run, CURL *c, struct push_file *f,
                            struct bu_error *err)
{
    struct push_resp resp = {0};
    struct bu_error neterr;
    enum push_step step = PUSH_STEP_AGAIN;
    int tries = 0, fd = open(f->path, O_RDONLY | O_CLOEXEC);
    bool need_head = true;

    if (fd < 0)
        return error_set(err, BU_E_BAD_REQUEST, "%s: %s", f->path, strerror(errno));
    while (step != PUSH_STEP_DONE && step != PUSH_STEP_ERROR) {
        if (push_unchanged(f, fd, err) != 0)
            step = PUSH_STEP_ERROR;
        else if (need_head)
            step = push_head(run, c, f, &resp, &neterr, err);
        else
            step = push_round(run, c, f, fd, &resp, &neterr, err);
        if (step == PUSH_STEP_AGAIN)
            need_head = false;
        if (step == PUSH_STEP_SENT)
            tries = 0;
        if (step == PUSH_STEP_NETWORK) {
            need_head = true;
            if (push_network(run, f, &tries, &neterr, err) != 0)
                step = PUSH_STEP_ERROR;
        }
    }
    close(fd);
    push_resp_reset(&resp);
    return step == PUSH_STEP_ERROR ? -1 : 0;
}

static void *push_worker(void *arg)
{
    struct push_run *run = arg;
    CURL *c = curl_easy_init();

    for (;;) {
        struct push_file *f = NULL;
        struct bu_error err;

        pthread_mutex_lock(&run->lock);
        while (!run->failed && run->next < run->n && run->files[run->next].state == PUSH_DONE)
            run->next++;
        if (!run->failed && run->next < run->n && c != NULL)
            f = &run->files[run->next++];
        pthread_mutex_unlock(&run->lock);
        if (f == NULL)
            break;
        if (push_file_upload(run, c, f, &err) != 0) {
            pthread_mutex_lock(&run->lock);
            if (!run->failed)
                run->err = err;
            run->failed = true;
            pthread_mutex_unlock(&run->lock);
        }
    }
    if (c == NULL) {
        pthread_mutex_lock(&run->lock);
        if (!run->failed)
            error_set(&run->err, BU_E_INTERNAL, "libcurl cannot start");
        run->failed = true;
        pthread_mutex_unlock(&run->lock);
    }
    curl_easy_cleanup(c);
    pthread_mutex_lock(&run->lock);
    run->active_workers--;
    pthread_mutex_unlock(&run->lock);
    return NULL;
}

/* ---- the command ------------------------------------------------------------ */

/* A bad command line: main adds the usage line from its command table. */
static int push_usage(struct bu_error *err, const char *what)
{
    return error_set(err, BU_E_USAGE, "%s", what);
}

/* Upload every file with run->parallel workers, showing progress. */
static int push_upload_all(struct push_run *run, struct bu_error *err)
{
    pthread_t tids[PUSH_PARALLEL_MAX];
    int started = 0, lines = 0;
    double t0 = push_now(), last_event = t0;

    run->active_workers = run->parallel;
    for (int i = 0; i < run->parallel; i++) {
        if (pthread_create(&tids[i], NULL, push_worker, run) != 0)
            break;
        started++;
    }
    pthread_mutex_lock(&run->lock);
    run->active_workers -= run->parallel - started;
    if (started == 0) {
        run->failed = true;
        error_set(&run->err, BU_E_INTERNAL, "cannot start an upload thread");
    }
    pthread_mutex_unlock(&run->lock);
    for (;;) {
        int active;
        pthread_mutex_lock(&run->lock);
        active = run->active_workers;
        pthread_mutex_unlock(&run->lock);
        if (run->tty)
            lines = push_draw(run, lines, t0);
        if (run->json && push_now() - last_event >= 1.0) {
            uint64_t sent = push_sent_total(run);
            last_event = push_now();
            push_event(run, json_pack("{s:s,s:I,s:I,s:I}", "event", "progress", "bytes",
                                      (json_int_t)run->had + (json_int_t)sent, "total",
                                      (json_int_t)run->total, "sent", (json_int_t)sent));
        }
        if (active == 0)
            break;
        usleep(250000);
    }
    for (int i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    if (run->failed) {
        *err = run->err;
        return -1;
    }
    return 0;
}

/* Read the options into run and the paths into paths (*npaths of them). */
static int push_parse(struct push_run *run, int argc, char **argv, char **paths, int *npaths,
                      struct bu_error *err)
{
    const char *url = getenv("BATCHUP_URL"), *token = getenv("BATCHUP_TOKEN");

    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--url") == 0 && i + 1 < argc) {
            url = argv[++i];
        } else if (strcmp(a, "--token") == 0 && i + 1 < argc) {
            token = argv[++i];
        } else if (strcmp(a, "--parallel") == 0 && i + 1 < argc) {
            char *end;
            long n = strtol(argv[++i], &end, 10);
            if (*end != '\0' || n < 1 || n > PUSH_PARALLEL_MAX)
                return push_usage(err, "--parallel takes 1 to 64");
            run->parallel = (int)n;
        } else if (strcmp(a, "--json") == 0) {
            run->json = true;
        } else if (a[0] == '-' && strcmp(a, "-") != 0) {
            return push_usage(err, "unknown option or missing value");
        } else {
            paths[(*npaths)++] = argv[i];
        }
    }
    if (*npaths == 0)
        return push_usage(err, "no file or directory to push");
    if (url == NULL || url[0] == '\0')
        return push_usage(err, "no server: give --url or set $BATCHUP_URL");
    if (token == NULL || token[0] == '\0')
        return push_usage(err, "no token: give --token or set $BATCHUP_TOKEN");
    snprintf(run->base, sizeof run->base, "%s", url);
    for (size_t l = strlen(run->base); l > 0 && run->base[l - 1] == '/'; l--)
        run->base[l - 1] = '\0';
    snprintf(run->auth, sizeof run->auth, "Authorization: Bearer %s", token);
    run->tty = !run->json && isatty(STDERR_FILENO);
    return 0;
}

/* Collect the files of the paths, sorted by name, and find the state file. */
static int push_prepare(struct push_run *run, int npaths, char **paths, struct bu_error *err)
{
    for (int i = 0; i < npaths; i++)
        if (push_add_arg(run, paths[i], err) != 0)
            return -1;
    if (run->n == 0)
        return error_set(err, BU_E_BAD_REQUEST, "no regular file to push");
    qsort(run->files, run->n, sizeof *run->files, push_cmp_name);
    for (size_t i = 1; i < run->n; i++)
        if (strcmp(run->files[i - 1].name, run->files[i].name) == 0)
            return error_set(err, BU_E_USAGE, "two files would be named %s in the batch",
                             run->files[i].name);
    return push_state_path(run, npaths, paths, err);
}

/* The batch: the interrupted push's (when its state is found and the
 * server still has it), else a new one, its state written before any
 * byte is sent.  *resumed tells which. */
static int push_open_batch(struct push_run *run, CURL *c, bool *resumed, struct bu_error *err)
{
    char status[32] = "", link[512] = "";
    int found = push_state_read(run, err);

    if (found < 0)
        return -1;
    if (found == 1) {
        found = push_get_batch(run, c, status, sizeof status, link, sizeof link, err);
        if (found < 0)
            return -1;
        if (found == 0 || strcmp(status, "expired") == 0) {
            fprintf(stderr, "batchup: batch %s of the interrupted push is gone; pushing anew\n",
                    run->batch_id);
            found = 0;
        }
    }
    *resumed = found == 1;
    if (found == 1)
        return 0;
    run->batch_id[0] = '\0';
    if (push_create(run, c, err) != 0)
        return -1;
    return push_state_write(run, err);
}

/* Every file committed: the batch completes with the last one.  Print its
 * link and forget the state. */
static int push_finish(struct push_run *run, CURL *c, struct bu_error *err)
{
    char status[32] = "", link[512] = "", full[sizeof run->base + sizeof link];

    for (int i = 0;; i++) {
        int found = push_get_batch(run, c, status, sizeof status, link, sizeof link, err);
        if (found < 0)
            return -1;
        if (found == 0)
            return error_set(err, BU_E_NOT_FOUND, "batch %s is gone", run->batch_id);
        if (strcmp(status, "complete") == 0 && link[0] != '\0')
            break;
        if (i == 99)
            return error_set(err, BU_E_INTERNAL, "batch %s is %s after every file was sent",
                             run->batch_id, status);
        usleep(100000);
    }
    snprintf(full, sizeof full, "%s%s", run->base, link);
    printf("%s\n", full);
    fflush(stdout);
    unlink(run->state_path);
    push_event(run, json_pack("{s:s,s:s,s:s,s:I}", "event", "done", "id", run->batch_id, "link",
                              full, "sent", (json_int_t)push_sent_total(run)));
    return 0;
}

int push_command(int argc, char **argv, struct bu_error *err)
{
    struct push_run run = {.parallel = 0};
    int npaths = 0, rc;
    char **paths = calloc((size_t)argc + 1, sizeof *paths);
    CURL *c = NULL;
    bool resumed = false;

    if (paths == NULL)
        return error_set(err, BU_E_INTERNAL, "out of memory");
    pthread_mutex_init(&run.lock, NULL);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = push_parse(&run, argc, argv, paths, &npaths, err);
    if (rc == 0)
        rc = push_prepare(&run, npaths, paths, err);
    if (rc == 0 && (c = curl_easy_init()) == NULL)
        rc = error_set(err, BU_E_INTERNAL, "libcurl cannot start");
    if (rc == 0)
        rc = push_open_batch(&run, c, &resumed, err);
    if (rc == 0) {
        for (size_t i = 0; i < run.n; i++)
            run.had +=
                run.files[i].offset < run.files[i].size ? run.files[i].offset : run.files[i].size;
        if (run.parallel == 0)
            run.parallel = push_server_limit(&run, c);
        if (run.parallel == 0)
            run.parallel = 4;
        if ((size_t)run.parallel > run.n)
            run.parallel = (int)run.n;
        push_event(&run, json_pack("{s:s,s:s,s:b,s:i,s:I,s:I,s:i,s:s}", "event", "batch", "id",
                                   run.batch_id, "resumed", resumed, "files", (int)run.n, "bytes",
                                   (json_int_t)run.total, "server_has", (json_int_t)run.had,
                                   "parallel", run.parallel, "state", run.state_path));
        rc = push_upload_all(&run, err);
    }
    if (rc == 0)
        rc = push_finish(&run, c, err);
    else if (run.batch_id[0])
        push_event(&run,
                   json_pack("{s:s,s:s,s:I,s:s}", "event", "failed", "id", run.batch_id, "sent",
                             (json_int_t)push_sent_total(&run), "error", err->message));
    curl_easy_cleanup(c);
    for (size_t i = 0; i < run.n; i++) {
        free(run.files[i].path);
        free(run.files[i].name);
    }
    free(run.files);
    free(paths);
    pthread_mutex_destroy(&run.lock);
    return rc;
}
