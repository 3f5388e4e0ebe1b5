/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * log.c - logging: one line per event, on standard error or in log_file.
 *
 * Each line is formatted into one buffer and written with a single
 * write(2) on descriptor 2, so lines from several processes sharing it
 * never interleave mid-line.  With log_file set, `serve` opens that file
 * onto descriptor 2 (so whatever else a process prints on standard error
 * lands there too); SIGUSR1 asks a process to open it again, by path, which
 * is how log rotation works: the master reopens at once and signals its
 * children, each of which reopens at a moment of its choosing (a worker
 * between two requests) by calling log_reopen_if_asked.  The swap is one
 * dup2(2): no line is lost or split.
 *
 * The request line (log_request) has a fixed format for log processors,
 * described in docs/operations.md ("Logs") and batchup(8).  Download-link tokens are
 * capabilities: they never reach a log line (log_redact_path).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "batchup/log.h"

#define LOG_LINE_MAX 12288

static enum log_level min_level = LOG_INFO;
static const char *const names[] = {"debug", "info", "warn", "error"};
static char log_path[1024];
static volatile sig_atomic_t reopen_asked;

void log_set_level(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(name, names[i]) == 0)
            min_level = (enum log_level)i;
}

static void emit(enum log_level level, const char *fmt, va_list ap)
{
    char line[LOG_LINE_MAX];
    struct timeval tv;
    struct tm tm;
    size_t n;

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, sizeof line - n, ".%03ldZ %s [%d] ", (long)tv.tv_usec / 1000,
                          names[level], (int)getpid());
    vsnprintf(line + n, sizeof line - n, fmt, ap);
    n = strlen(line);
    if (n >= sizeof line - 1)
        n = sizeof line - 2;
    line[n++] = '\n';
    if (write(STDERR_FILENO, line, n) < 0) {
        /* Nowhere left to report it. */
    }
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    va_list ap;

    if (level < min_level)
        return;
    va_start(ap, fmt);
    emit(level, fmt, ap);
    va_end(ap);
}

/* ---- log_file and SIGUSR1 -------------------------------------------- */

/* Open log_path onto descriptor 2. */
static int open_onto_stderr(void)
{
    int fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);

    if (fd < 0)
        return -1;
    if (dup2(fd, STDERR_FILENO) < 0) {
        close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

int log_open(const char *path, struct bu_error *err)
{
    if (path[0] == '\0')
        return 0;
    snprintf(log_path, sizeof log_path, "%s", path);
    if (open_onto_stderr() != 0)
        return error_set(err, BU_E_INTERNAL, "cannot open log_file %s: %s", path, strerror(errno));
    return 0;
}

void log_reopen(void)
{
    if (log_path[0] == '\0')
        return;
    if (open_onto_stderr() != 0)
        log_error("cannot reopen log_file %s (still writing to the old one): %s", log_path,
                  strerror(errno));
    else
        log_info("reopened log_file %s", log_path);
}

void log_reopen_handler(int sig)
{
    (void)sig;
    reopen_asked = 1;
}

void log_reopen_if_asked(void)
{
    if (!reopen_asked)
        return;
    reopen_asked = 0;
    log_reopen();
}

/* ---- the request line ------------------------------------------------ */

size_t log_redact_path(const char *path, char *out, size_t cap)
{
    static const char mark[] = "/download/batch/";
    size_t o = 0;
    const char *p = path;

    if (cap == 0)
        return 0;
    while (*p != '\0' && o + 1 < cap) {
        size_t seg, keep;
        if (strncasecmp(p, mark, sizeof mark - 1) != 0) {
            out[o++] = *p++;
            continue;
        }
        for (size_t i = 0; i < sizeof mark - 1 && o + 1 < cap; i++)
            out[o++] = *p++;
        while (*p == '/' && o + 1 < cap)
            out[o++] = *p++;
        seg = strcspn(p, "/");
        keep = seg < 4 ? seg : 4;
        if (seg > 0 && o + keep + 4 < cap) {
            memcpy(out + o, p, keep);
            memcpy(out + o + keep, "...", 3);
            o += keep + 3;
        }
        p += seg;
    }
    out[o] = '\0';
    return o;
}

/* s between double quotes, with '"' and '\' escaped by a backslash and
 * every byte outside printable ASCII as \xHH. */
static size_t quote(const char *s, char *out, size_t cap)
{
    size_t o = 0;

    if (cap < 3)
        return 0;
    out[o++] = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0' && o + 6 < cap; p++) {
        if (*p == '"' || *p == '\\') {
            out[o++] = '\\';
            out[o++] = (char)*p;
        } else if (*p < 0x20 || *p >= 0x7f) {
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", *p);
        } else {
            out[o++] = (char)*p;
        }
    }
    out[o++] = '"';
    out[o] = '\0';
    return o;
}

void log_request(const char *method, const char *path, int status, unsigned long long bytes_in,
                 unsigned long long bytes_out, double ms, const char *user, const char *flag)
{
    char redacted[2048], qmethod[160], qpath[8200], quser[820];

    if (LOG_INFO < min_level)
        return;
    quote(method, qmethod, sizeof qmethod);
    log_redact_path(path, redacted, sizeof redacted);
    quote(redacted, qpath, sizeof qpath);
    if (user != NULL && user[0] != '\0')
        quote(user, quser, sizeof quser);
    else
        snprintf(quser, sizeof quser, "-");
    log_msg(LOG_INFO, "request %s %s %d %llu %llu %.1f %s %s", qmethod, qpath, status, bytes_in,
            bytes_out, ms, quser, flag != NULL && flag[0] != '\0' ? flag : "-");
}
