/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pull.c - `batchup pull LINK [-o DIR] [--zip]`: download a batch by its
 * link, the counterpart of `batchup push`.
 *
 * Unpacking does not read the ZIP: the link also offers a manifest and each
 * file on its own (README, "Downloads"), with their original names (paths
 * included, which the ZIP flattens) and SHA-256s, and the single files
 * answer Range.  So each file is fetched into DIR/<name>.batchup-part,
 * resumed from that part's length when the command is run again, checked
 * against the manifest's SHA-256, and renamed into place.  A file already
 * in place with the right hash is not fetched again.
 *
 * Safety: a name is used only when every component is a plain name (no
 * absolute path, no "." or "..", no control character, no backslash), and
 * the directories are walked with openat(O_NOFOLLOW | O_DIRECTORY) from DIR,
 * so neither a hostile name nor a symbolic link planted in DIR can make a
 * write land outside it.
 *
 * --zip keeps the ZIP instead: written to DIR/batch-<token prefix>.zip.part
 * and renamed when complete; a second run asks for the rest with Range and
 * If-Range (the ETag of the first answer, kept beside the part before its
 * first byte is written, so a run killed at any moment resumes) and starts
 * over when the server answers 200 (the ZIP changed, or a server that does
 * not serve ranges of it).
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batchup/digest.h"
#include "batchup/push.h"

#define PULL_MANIFEST_MAX ((size_t)64 << 20)
#define PULL_PART_SUFFIX ".batchup-part"

/* One download into fd (appending), or into memory (fd < 0). */
struct pull_sink {
    CURL *c;
    int fd;
    char *mem;
    size_t len;
    bool started; /* the first body bytes were seen */
    bool discard; /* an error's body: not written to fd */
    bool failed;  /* a write failed */
    char etag[128];
    uint64_t bytes; /* written into fd */
    /* Where the ETag of a ZIP's answer is kept (pull_zip), or etag_dir < 0:
     * saved before the first body byte is written, so that a pull killed
     * at any moment can resume with If-Range. */
    int etag_dir;
    const char *etag_name;
};

static size_t pull_header_cb(char *buf, size_t size, size_t nitems, void *ud)
{
    struct pull_sink *s = ud;
    size_t len = size * nitems;

    if (len > 5 && strncasecmp(buf, "ETag:", 5) == 0) {
        size_t i = 5, n = 0;
        while (i < len && buf[i] == ' ')
            i++;
        while (i < len && buf[i] != '\r' && buf[i] != '\n' && n + 1 < sizeof s->etag)
            s->etag[n++] = buf[i++];
        s->etag[n] = '\0';
    }
    return len;
}

/* Keep the answer's ETag for the part being written (none: remove the
 * old one, the part then cannot be resumed).  false when it cannot be
 * written: a part without its ETag would start over anyway. */
static bool pull_keep_etag(const struct pull_sink *s)
{
    int fd;
    bool ok;

    if (s->etag[0] == '\0')
        return unlinkat(s->etag_dir, s->etag_name, 0) == 0 || errno == ENOENT;
    fd = openat(s->etag_dir, s->etag_name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
                0644);
    if (fd < 0)
        return false;
    ok = write(fd, s->etag, strlen(s->etag)) == (ssize_t)strlen(s->etag);
    return close(fd) == 0 && ok;
}

static size_t pull_write_cb(char *buf, size_t size, size_t nitems, void *ud)
{
    struct pull_sink *s = ud;
    size_t len = size * nitems;

    if (s->fd >= 0 && !s->started) {
        long status = 0;
        s->started = true;
        curl_easy_getinfo(s->c, CURLINFO_RESPONSE_CODE, &status);
        s->discard = status != 200 && status != 206;
        /* A 200 to a Range request is the whole entity: start over. */
        if (status == 200 && (ftruncate(s->fd, 0) != 0 || lseek(s->fd, 0, SEEK_SET) != 0)) {
            s->failed = true;
            return 0;
        }
        if (!s->discard && s->etag_dir >= 0 && !pull_keep_etag(s)) {
            s->failed = true;
            return 0;
        }
    }
    if (s->fd < 0 || s->discard) {
        char *grown;
        if (s->len + len > PULL_MANIFEST_MAX)
            return 0;
        grown = realloc(s->mem, s->len + len + 1);
        if (grown == NULL)
            return 0;
        s->mem = grown;
        memcpy(s->mem + s->len, buf, len);
        s->len += len;
        s->mem[s->len] = '\0';
        return len;
    }
    for (size_t done = 0; done < len;) {
        ssize_t w = write(s->fd, buf + done, len - done);
        if (w <= 0) {
            s->failed = true;
            return 0;
        }
        done += (size_t)w;
    }
    s->bytes += len;
    return len;
}

/* GET url into the sink (fd positioned at its end); range_from > 0 asks
 * for the rest from there.  Returns the status, or -1 with err when no
 * complete answer came. */
static long pull_get(CURL *c, const char *url, uint64_t range_from, const char *if_range,
                     struct pull_sink *s, struct bu_error *err)
{
    struct curl_slist *h = NULL;
    char hdr[200];
    CURLcode rc;
    long status = 0;

    s->c = c;
    if (range_from > 0) {
        snprintf(hdr, sizeof hdr, "Range: bytes=%llu-", (unsigned long long)range_from);
        h = curl_slist_append(h, hdr);
        if (if_range && if_range[0]) {
            snprintf(hdr, sizeof hdr, "If-Range: %s", if_range);
            h = curl_slist_append(h, hdr);
        }
    }
    push_curl_begin(c, url, h, pull_header_cb, pull_write_cb, s);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    rc = curl_easy_perform(c);
    curl_slist_free_all(h);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK)
        return error_set(err, BU_E_INTERNAL, "GET %s: %s", url,
                         s->failed ? strerror(errno) : curl_easy_strerror(rc));
    return status;
}

/* Whether one component of a name is safe to create. */
static bool pull_component_ok(const char *s, size_t n)
{
    if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.') || n > NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f || s[i] == '\\')
            return false;
    return true;
}

/* Open (creating) the directories of name below dirfd; returns the fd of
 * the last directory with *base at the file's own name, or -1 with err. */
static int pull_open_parent(int dirfd, const char *name, const char **base, struct bu_error *err)
{
    int fd = dup(dirfd);
    const char *p = name;

    if (name[0] == '/')
        return close(fd), error_set(err, BU_E_BAD_REQUEST, "refusing the absolute name %s", name);
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        char comp[NAME_MAX + 1];
        int next;

        if (!pull_component_ok(p, n)) {
            close(fd);
            return error_set(err, BU_E_BAD_REQUEST, "refusing the unsafe name %s", name);
        }
        if (slash == NULL) {
            *base = p;
            return fd;
        }
        memcpy(comp, p, n);
        comp[n] = '\0';
        if (mkdirat(fd, comp, 0755) != 0 && errno != EEXIST) {
            close(fd);
            return error_set(err, BU_E_INTERNAL, "%s: %s", name, strerror(errno));
        }
        next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        close(fd);
        if (next < 0)
            return error_set(err, BU_E_BAD_REQUEST, "%s: %s (a symbolic link is not followed)",
                             name, strerror(errno));
        fd = next;
        p = slash + 1;
    }
}

/* The SHA-256 (hex) of what fd holds from its start. */
static int pull_sha256_fd(int fd, char hex[DIGEST_HEX_SIZE])
{
    struct digest d;
    unsigned char buf[65536], md[DIGEST_MAX];
    ssize_t n;
    off_t pos = 0;

    if (digest_begin(&d, DIGEST_SHA256, false) != 0)
        return -1;
    while ((n = pread(fd, buf, sizeof buf, pos)) > 0) {
        digest_feed(&d, buf, (size_t)n);
        pos += n;
    }
    digest_hex(md, digest_end(&d, md), hex);
    return n < 0 ? -1 : 0;
}

/* Whether base in pfd already is the file (its size and SHA-256). */
static bool pull_in_place(int pfd, const char *base, uint64_t size, const char *sha)
{
    char hex[DIGEST_HEX_SIZE];
    struct stat st;
    int fd = openat(pfd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    bool same;

    if (fd < 0)
        return false;
    same = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size == size &&
           pull_sha256_fd(fd, hex) == 0 && strcmp(hex, sha) == 0;
    close(fd);
    return same;
}

/* Bring the part fd, which holds have bytes, to the file's size from url:
 * the rest asked for with Range, and If-Range with the file's ETag (its
 * SHA-256, quoted) so that a range of another content is never appended.
 * A part longer than the file starts over.  0, or -1 with err. */
static int pull_rest(CURL *c, int fd, const char *url, uint64_t have, uint64_t size,
                     const char *sha, uint64_t *got, struct bu_error *err)
{
    struct pull_sink s = {.fd = fd, .etag_dir = -1};
    char etag[80];
    long status;
    int rc = 0;

    if (have > size) {
        if (ftruncate(fd, 0) != 0)
            return error_set(err, BU_E_INTERNAL, "%s: %s", url, strerror(errno));
        have = 0;
    }
    if (have == size)
        return 0;
    lseek(fd, 0, SEEK_END);
    snprintf(etag, sizeof etag, "\"%s\"", sha);
    status = pull_get(c, url, have, etag, &s, err);
    if (status >= 0 && status != 200 && status != 206)
        rc = error_set(err, BU_E_NOT_FOUND, "%s: HTTP %ld", url, status);
    else if (status < 0)
        rc = -1;
    *got += s.bytes;
    free(s.mem);
    return rc;
}

/* Fetch one file of the manifest into dirfd, resuming its part. */
static int pull_file(CURL *c, int dirfd, const char *origin, json_t *file, uint64_t *got,
                     struct bu_error *err)
{
    const char *name = json_string_value(json_object_get(file, "name"));
    const char *url = json_string_value(json_object_get(file, "url"));
    const char *sha = json_string_value(json_object_get(file, "sha256"));
    uint64_t size = (uint64_t)json_integer_value(json_object_get(file, "size"));
    char full[2048], part[NAME_MAX + sizeof PULL_PART_SUFFIX], hex[DIGEST_HEX_SIZE];
    const char *base = NULL;
    struct stat st;
    int pfd, fd, rc;

    if (name == NULL || url == NULL || sha == NULL || url[0] != '/')
        return error_set(err, BU_E_INTERNAL, "the manifest has a file without name, url or sha256");
    pfd = pull_open_parent(dirfd, name, &base, err);
    if (pfd < 0)
        return -1;
    if (base == NULL || pull_in_place(pfd, base, size, sha)) {
        close(pfd);
        return base == NULL ? error_set(err, BU_E_INTERNAL, "%s: no file name", name) : 0;
    }
    snprintf(part, sizeof part, "%s%s", base, PULL_PART_SUFFIX);
    snprintf(full, sizeof full, "%s%s", origin, url);
    fd = openat(pfd, part, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0 || fstat(fd, &st) != 0)
        rc = error_set(err, BU_E_INTERNAL, "%s: %s", name, strerror(errno));
    else
        rc = pull_rest(c, fd, full, (uint64_t)st.st_size, size, sha, got, err);
    if (rc == 0 && (pull_sha256_fd(fd, hex) != 0 || strcmp(hex, sha) != 0)) {
        /* A wrong part is useless for a resume: drop it. */
        unlinkat(pfd, part, 0);
        rc = error_set(err, BU_E_CHECKSUM_MISMATCH, "%s: the SHA-256 is not the manifest's", name);
    }
    if (rc == 0 && (fsync(fd) != 0 || renameat(pfd, part, pfd, base) != 0))
        rc = error_set(err, BU_E_INTERNAL, "%s: %s", name, strerror(errno));
    if (fd >= 0)
        close(fd);
    close(pfd);
    return rc;
}

/* Keep the ZIP: DIR/batch-<token prefix>.zip, its part resumed with Range
 * and If-Range when the first answer gave an ETag (kept beside the part);
 * without one, or when the server answers 200, it starts over. */
static int pull_zip(CURL *c, int dirfd, const char *link, const char *token, uint64_t *got,
                    struct bu_error *err)
{
    char name[64], part[96], etag_name[112], etag[128] = "";
    struct pull_sink s = {.fd = -1, .etag_dir = dirfd, .etag_name = etag_name};
    struct stat st;
    int fd, efd, rc = 0;
    long status;

    snprintf(name, sizeof name, "batch-%.8s.zip", token);
    snprintf(part, sizeof part, "%s%s", name, PULL_PART_SUFFIX);
    snprintf(etag_name, sizeof etag_name, "%s.etag", part);
    efd = openat(dirfd, etag_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (efd >= 0) {
        ssize_t n = read(efd, etag, sizeof etag - 1);
        etag[n > 0 ? n : 0] = '\0';
        close(efd);
    }
    fd = openat(dirfd, part, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0 || fstat(fd, &st) != 0)
        return error_set(err, BU_E_INTERNAL, "%s: %s", part, strerror(errno));
    if (etag[0] == '\0' && st.st_size > 0 && ftruncate(fd, 0) != 0)
        rc = error_set(err, BU_E_INTERNAL, "%s: %s", part, strerror(errno));
    lseek(fd, 0, SEEK_END);
    s.fd = fd;
    if (rc == 0) {
        status = pull_get(c, link, etag[0] ? (uint64_t)st.st_size : 0, etag, &s, err);
        /* 416: the part is no shorter than the ZIP (a run killed before its
         * rename): fetched again whole rather than trusted. */
        if (status == 416 && ftruncate(fd, 0) == 0 && lseek(fd, 0, SEEK_SET) == 0) {
            free(s.mem);
            s = (struct pull_sink){.fd = fd, .etag_dir = dirfd, .etag_name = etag_name};
            status = pull_get(c, link, 0, NULL, &s, err);
        }
        if (status >= 0 && status != 200 && status != 206)
            rc = error_set(err, status == 410 ? BU_E_LINK_EXPIRED : BU_E_NOT_FOUND, "%s: HTTP %ld",
                           link, status);
        else if (status < 0)
            rc = -1;
    }
    *got += s.bytes;
    if (rc == 0 && (fsync(fd) != 0 || renameat(dirfd, part, dirfd, name) != 0))
        rc = error_set(err, BU_E_INTERNAL, "%s: %s", name, strerror(errno));
    if (rc == 0) {
        unlinkat(dirfd, etag_name, 0);
        printf("%s\n", name);
    }
    free(s.mem);
    close(fd);
    return rc;
}

/* A bad command line: main adds the usage line from its command table. */
static int pull_usage(struct bu_error *err, const char *what)
{
    return error_set(err, BU_E_USAGE, "%s", what);
}

/* The words after "pull": the link, -o DIR, --zip. */
static int pull_parse(int argc, char **argv, const char **link, const char **dir, bool *zip,
                      struct bu_error *err)
{
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
            *dir = argv[++i];
        else if (strcmp(argv[i], "--zip") == 0)
            *zip = true;
        else if (argv[i][0] == '-' || *link != NULL)
            return pull_usage(err, "unknown option or a second link");
        else
            *link = argv[i];
    }
    return *link == NULL ? pull_usage(err, "no link") : 0;
}

/* Split a batch link into its origin (scheme, host, port) and its token. */
static int pull_split_link(const char *link, char *origin, size_t cap, const char **token,
                           struct bu_error *err)
{
    static const char mark[] = "/api/v1/download/batch/";
    const char *at = link != NULL ? strstr(link, mark) : NULL;

    if (at == NULL || at == link || strlen(at + strlen(mark)) < 8 ||
        strchr(at + strlen(mark), '/') || (size_t)(at - link) >= cap)
        return pull_usage(err, "not a batch link (http://host/api/v1/download/batch/TOKEN)");
    memcpy(origin, link, (size_t)(at - link));
    origin[at - link] = '\0';
    *token = at + strlen(mark);
    return 0;
}

/* Every file of the link's manifest, each unpacked under dirfd with its
 * path (its name printed once it is in place). */
static int pull_files(CURL *c, int dirfd, const char *link, const char *origin, uint64_t *got,
                      struct bu_error *err)
{
    struct pull_sink s = {.fd = -1, .etag_dir = -1};
    json_t *root = NULL, *files = NULL, *it;
    char murl[2048];
    long status;
    size_t i;
    int rc = 0;

    snprintf(murl, sizeof murl, "%s/manifest", link);
    status = pull_get(c, murl, 0, NULL, &s, err);
    if (status >= 0 && status != 200)
        rc = error_set(err, status == 410 ? BU_E_LINK_EXPIRED : BU_E_NOT_FOUND, "%s: HTTP %ld",
                       murl, status);
    else if (status < 0)
        rc = -1;
    if (rc == 0 && ((root = json_loads(s.mem, 0, NULL)) == NULL ||
                    !json_is_array(files = json_object_get(root, "files"))))
        rc = error_set(err, BU_E_INTERNAL, "%s: not a batch manifest", murl);
    if (rc == 0)
        json_array_foreach(files, i, it)
        {
            if ((rc = pull_file(c, dirfd, origin, it, got, err)) != 0)
                break;
            printf("%s\n", json_string_value(json_object_get(it, "name")));
        }
    json_decref(root);
    free(s.mem);
    return rc;
}

int pull_command(int argc, char **argv, struct bu_error *err)
{
    const char *link = NULL, *dir = ".", *token = NULL;
    char origin[1024];
    bool zip = false;
    int dirfd, rc;
    CURL *c;
    uint64_t got = 0;

    if (pull_parse(argc, argv, &link, &dir, &zip, err) != 0 ||
        pull_split_link(link, origin, sizeof origin, &token, err) != 0)
        return -1;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return error_set(err, BU_E_INTERNAL, "%s: %s", dir, strerror(errno));
    dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        return error_set(err, BU_E_INTERNAL, "%s: %s", dir, strerror(errno));
    curl_global_init(CURL_GLOBAL_DEFAULT);
    c = curl_easy_init();
    if (c == NULL) {
        close(dirfd);
        return error_set(err, BU_E_INTERNAL, "libcurl cannot start");
    }
    rc = zip ? pull_zip(c, dirfd, link, token, &got, err)
             : pull_files(c, dirfd, link, origin, &got, err);
    if (isatty(STDERR_FILENO))
        fprintf(stderr, "batchup: received %llu bytes\n", (unsigned long long)got);
    curl_easy_cleanup(c);
    close(dirfd);
    return rc;
}
