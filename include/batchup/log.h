/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * log.h - one line per event: time, level, pid, message, on standard
 * error or, for `serve` with log_file set, in that file (reopened on
 * SIGUSR1 for log rotation).  One line per request in a fixed format
 * (log_request), with download-link tokens cut out.
 */
#ifndef BATCHUP_LOG_H
#define BATCHUP_LOG_H

#include <stddef.h>

#include "batchup/error.h"

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_level(const char *name);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

/* Open path (log_file; "" keeps standard error) for appending, onto
 * descriptor 2, and remember it for log_reopen.  0, or -1 with err. */
int log_open(const char *path, struct bu_error *err);
/* Open the remembered path again (after rotation); on failure the old file
 * stays and the failure is logged there. */
void log_reopen(void);
/* The SIGUSR1 handler of the master's children (their role tables name
 * it; the master itself handles SIGUSR1 in its loop): asks for a reopen. */
void log_reopen_handler(int sig);
/* Reopen when SIGUSR1 asked for it since the last call. */
void log_reopen_if_asked(void);

/* One request: `request "METHOD" "PATH" STATUS BYTES_IN BYTES_OUT MS USER
 * FLAG` after the usual prefix (see docs/operations.md, "Logs").  user "" or NULL:
 * not authenticated; flag: how the request ended early ("client-gone",
 * "body-timeout", ..., comma-separated), "-" or NULL when it did not. */
void log_request(const char *method, const char *path, int status, unsigned long long bytes_in,
                 unsigned long long bytes_out, double ms, const char *user, const char *flag);
/* path with the segment after each "/download/batch/" (a link token) cut to
 * its first 4 characters and "...".  Returns the length written to out. */
size_t log_redact_path(const char *path, char *out, size_t cap);

#endif
