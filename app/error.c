/*
 * error.c - filling a struct bu_error.  See error.h for why there is only
 * one error type.
 */
#include <stdarg.h>
#include <stdio.h>

#include "batchup/error.h"

int error_set(struct bu_error *err, int status, const char *code, const char *fmt, ...)
{
    va_list ap;

    err->status = status;
    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return -1;
}
