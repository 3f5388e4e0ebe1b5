/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fcgi_floor.c - the least work a FastCGI upload responder can do: the app
 * floor of tests/bench/upload.sh.
 *
 *   fcgi_floor SOCKET DIR PROCESSES
 *
 * PROCESSES processes accept connections on the unix socket SOCKET, one
 * FastCGI request per connection (nginx without fastcgi_keep_conn).  Each
 * request body is read from the socket, hashed with SHA-256 and CRC-32
 * (app/digest.c, as batchup does: OpenSSL and ISA-L), written with O_DIRECT
 * writes of 1 MiB to DIR/<last segment of DOCUMENT_URI>, made durable by one
 * fdatasync, and answered 204 with the SHA-256 in an X-Sha256 header.
 *
 * Nothing else: no database, no deadlines, no protocol checks beyond the
 * record framing, which is app/fcgi.c's codec (fcgi_header_*, the pair
 * decoder), as batchup's.  Any server that must hash every byte nginx
 * passes it and make it durable does at least this, so batchup's app CPU
 * per GB is measured against it.
 *
 * FLOOR_READ chooses how the body leaves the socket:
 *   records (default)  one readv(2) per record: its content straight into
 *                      the write buffer, its padding and the next header
 *                      beside it (what app/fcgi.c does);
 *   big                read(2)s of up to 1 MiB into a staging buffer, the
 *                      content hashed there and copied out of the framing
 *                      into the write buffer (fewer system calls, one more
 *                      copy).
 * FLOOR_HASH=0 skips SHA-256 and CRC-32: the socket and the disk alone.
 *
 * A bench tool: errors end the request (or the process) with a message on
 * stderr; the benchmark checks every stored file's SHA-256 afterwards.
 */
#include <errno.h>
#include <fastcgi.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "batchup/digest.h"
#include "batchup/fcgi.h"

#define HDR FCGI_HEADER_LEN
#define WBUF ((size_t)1 << 20) /* one O_DIRECT write */
#define STAGE ((size_t)1 << 20)
#define ALIGN 4096

struct sink {
    int fd;
    unsigned char *buf; /* WBUF bytes, ALIGN-aligned */
    size_t fill;
    uint64_t size;
    struct digest d; /* not started under FLOOR_HASH=0: fed, it does nothing */
    bool hash;
};

/* Read (or, when out, write) exactly len bytes: 0, or -1. */
static int full(int fd, void *buf, size_t len, bool out)
{
    size_t done = 0;

    while (done < len) {
        ssize_t n = out ? write(fd, (char *)buf + done, len - done)
                        : read(fd, (char *)buf + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        done += (size_t)n;
    }
    return 0;
}

/* Write the full buffer (or, at the end, the rest rounded up to ALIGN: the
 * file is cut to its size afterwards). */
static int drain(struct sink *s)
{
    size_t len = (s->fill + ALIGN - 1) / ALIGN * ALIGN;

    if (s->fill == 0)
        return 0;
    memset(s->buf + s->fill, 0, len - s->fill);
    if (pwrite(s->fd, s->buf, len, (off_t)s->size) != (ssize_t)len) {
        perror("fcgi_floor: pwrite");
        return -1;
    }
    s->size += s->fill;
    s->fill = 0;
    return 0;
}

/* The body, one readv per record: the content into the write buffer, then
 * the padding and the next header in the same call. */
static int body_records(int fd, struct sink *s, const FCGI_Header *first)
{
    unsigned char hdr[HDR + 255];
    size_t content = fcgi_header_length(first), pad = first->paddingLength;
    int type = first->type;

    while (!(type == FCGI_STDIN && content == 0)) {
        size_t trailer = pad + HDR, have = 0;
        while (content > 0 || have < trailer) {
            struct iovec iov[2];
            int n = 0;
            ssize_t got;
            size_t want = content < WBUF - s->fill ? content : WBUF - s->fill;
            bool to_end = want == content;
            if (content > 0)
                iov[n++] = (struct iovec){s->buf + s->fill, want};
            if (to_end)
                iov[n++] = (struct iovec){hdr + have, trailer - have};
            got = readv(fd, iov, n);
            if (got < 0 && errno == EINTR)
                continue;
            if (got <= 0)
                return -1;
            want = (size_t)got < content ? (size_t)got : content;
            if (type == FCGI_STDIN) {
                digest_feed(&s->d, s->buf + s->fill, want);
                s->fill += want;
            }
            content -= want;
            have += (size_t)got - want;
            if (s->fill == WBUF && drain(s) < 0)
                return -1;
        }
        {
            const FCGI_Header *next = (const FCGI_Header *)(hdr + pad);
            type = next->type;
            content = fcgi_header_length(next);
            pad = next->paddingLength;
        }
    }
    return 0;
}

/* The body, read in large pieces and taken out of its framing. */
static int body_big(int fd, struct sink *s, const FCGI_Header *first)
{
    static unsigned char stage[STAGE];
    FCGI_Header hdr;
    size_t content = fcgi_header_length(first), pad = first->paddingLength, have = 0;
    int type = first->type;

    if (type == FCGI_STDIN && content == 0)
        return pad == 0 ? 0 : -1;
    for (;;) {
        ssize_t got = read(fd, stage, sizeof stage);
        size_t i = 0;
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return -1;
        while (i < (size_t)got) {
            size_t left = (size_t)got - i;
            if (content > 0) {
                size_t m = content < left ? content : left;
                if (type == FCGI_STDIN) {
                    digest_feed(&s->d, stage + i, m);
                    for (size_t k = 0; k < m;) {
                        size_t c = m - k < WBUF - s->fill ? m - k : WBUF - s->fill;
                        memcpy(s->buf + s->fill, stage + i + k, c);
                        s->fill += c;
                        k += c;
                        if (s->fill == WBUF && drain(s) < 0)
                            return -1;
                    }
                }
                content -= m;
                i += m;
            } else if (pad > 0) {
                size_t m = pad < left ? pad : left;
                pad -= m;
                i += m;
            } else {
                size_t m = HDR - have < left ? HDR - have : left;
                memcpy((unsigned char *)&hdr + have, stage + i, m);
                have += m;
                i += m;
                if (have == HDR) {
                    type = hdr.type;
                    content = fcgi_header_length(&hdr);
                    pad = hdr.paddingLength;
                    have = 0;
                    if (type == FCGI_STDIN && content == 0)
                        return i == (size_t)got && pad == 0 ? 0 : -1;
                }
            }
        }
    }
}

/* DOCUMENT_URI's last segment, taken from the params by the pair decoder. */
struct name_out {
    char *buf;
    size_t cap;
};

static int name_pair(const unsigned char *name, size_t nlen, const unsigned char *v, size_t vlen,
                     void *ctx)
{
    struct name_out *o = ctx;
    const unsigned char *slash;
    size_t off;

    if (nlen != 12 || memcmp(name, "DOCUMENT_URI", 12) != 0)
        return 0;
    slash = memrchr(v, '/', vlen);
    off = slash ? (size_t)(slash - v) + 1 : 0;
    if (vlen > off && vlen - off < o->cap && !memchr(v + off, '.', 1))
        snprintf(o->buf, o->cap, "%.*s", (int)(vlen - off), (const char *)v + off);
    return 0;
}

/* DOCUMENT_URI's last segment from the encoded params, or "body". */
static void file_name(const unsigned char *p, size_t len, char *out, size_t cap)
{
    struct name_out o = {out, cap};

    snprintf(out, cap, "body");
    fcgi_decode_pairs(p, len, name_pair, &o);
}

static void serve(int fd, int dir, struct sink *s, bool big)
{
    static unsigned char params[256 * 1024];
    unsigned char md[DIGEST_MAX], out[512];
    FCGI_Header h;
    size_t plen = 0, n;
    char name[256], hex[DIGEST_HEX_SIZE] = "-";

    /* The head: BEGIN_REQUEST and PARAMS up to the empty one. */
    for (;;) {
        size_t len;
        if (full(fd, &h, HDR, false) < 0)
            return;
        len = fcgi_header_length(&h) + h.paddingLength;
        if (h.type == FCGI_PARAMS && len == 0)
            break;
        if (h.type == FCGI_PARAMS && plen + len <= sizeof params) {
            if (full(fd, params + plen, len, false) < 0)
                return;
            plen += fcgi_header_length(&h);
        } else if (full(fd, out, len > sizeof out ? 0 : len, false) < 0 || len > sizeof out) {
            return;
        }
    }
    file_name(params, plen, name, sizeof name);
    s->fd = openat(dir, name, O_WRONLY | O_CREAT | O_TRUNC | O_DIRECT | O_CLOEXEC, 0644);
    if (s->fd < 0) {
        perror("fcgi_floor: open");
        return;
    }
    s->fill = 0;
    s->size = 0;
    if (s->hash && digest_begin(&s->d, DIGEST_SHA256, true) != 0) {
        close(s->fd);
        return;
    }
    if (full(fd, &h, HDR, false) < 0 || (big ? body_big(fd, s, &h) : body_records(fd, s, &h)) < 0 ||
        drain(s) < 0 || ftruncate(s->fd, (off_t)s->size) < 0 || fdatasync(s->fd) < 0) {
        fprintf(stderr, "fcgi_floor: %s: the body failed\n", name);
        digest_free(&s->d);
        close(s->fd);
        return;
    }
    close(s->fd);
    if (digest_end(&s->d, md) > 0)
        digest_hex(md, DIGEST_MAX, hex);
    n = (size_t)snprintf((char *)out + HDR, sizeof out - HDR,
                         "Status: 204 No Content\r\nX-Sha256: %s\r\nX-Crc32: %08x\r\n\r\n", hex,
                         (unsigned)s->d.crc32);
    fcgi_header_put((FCGI_Header *)out, FCGI_STDOUT, fcgi_header_id(&h), n, 0);
    fcgi_header_put((FCGI_Header *)(out + HDR + n), FCGI_STDOUT, fcgi_header_id(&h), 0, 0);
    fcgi_header_put((FCGI_Header *)(out + 2 * HDR + n), FCGI_END_REQUEST, fcgi_header_id(&h),
                    sizeof(FCGI_EndRequestBody), 0);
    memset(out + 3 * HDR + n, 0, sizeof(FCGI_EndRequestBody));
    if (full(fd, out, 4 * HDR + n, true) < 0)
        fprintf(stderr, "fcgi_floor: %s: the answer failed\n", name);
}

int main(int argc, char **argv)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    const char *mode = getenv("FLOOR_READ"), *hash_env = getenv("FLOOR_HASH");
    bool big = mode && strcmp(mode, "big") == 0;
    int ls, dir, procs;

    if (argc != 4 || (procs = atoi(argv[3])) < 1 || strlen(argv[1]) >= sizeof a.sun_path ||
        (mode && strcmp(mode, "big") != 0 && strcmp(mode, "records") != 0)) {
        fprintf(stderr,
                "usage: [FLOOR_READ=records|big] [FLOOR_HASH=0] fcgi_floor SOCKET DIR PROCESSES\n");
        return 2;
    }
    strcpy(a.sun_path, argv[1]);
    unlink(argv[1]);
    dir = open(argv[2], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (dir < 0 || ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 64) < 0) {
        perror("fcgi_floor");
        return 1;
    }
    for (int i = 0; i < procs; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            perror("fcgi_floor: fork");
            return 1;
        }
        if (pid == 0) {
            struct sink s = {.hash = !(hash_env && strcmp(hash_env, "0") == 0)};
            prctl(PR_SET_PDEATHSIG, SIGTERM);
            if (getppid() == 1 || posix_memalign((void **)&s.buf, ALIGN, WBUF) != 0)
                _exit(1);
            for (;;) {
                int c = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
                if (c < 0) {
                    if (errno == EINTR || errno == ECONNABORTED)
                        continue;
                    perror("fcgi_floor: accept");
                    _exit(1);
                }
                serve(c, dir, &s, big);
                close(c);
            }
        }
    }
    while (wait(NULL) > 0 || errno == EINTR)
        ;
    return 0;
}
