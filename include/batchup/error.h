/*
 * error.h - the one way batchup fails.
 *
 * A problem is described where it is found, as an HTTP status, a stable
 * machine-readable code ("slot_unavailable", "bad_request", ...) and a
 * human sentence, and rendered in exactly one place (http_send_error).
 * Command-line paths reuse the same type and print the message.
 */
#ifndef BATCHUP_ERROR_H
#define BATCHUP_ERROR_H

struct bu_error {
    int status;        /* HTTP status; 0 means "no error" */
    const char *code;  /* static string, stable across releases */
    char message[256]; /* one sentence, for people */
};

/* Fill err (status, code, printf-style message). Returns -1 so that callers
 * can write `return error_set(err, ...);`. */
int error_set(struct bu_error *err, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
