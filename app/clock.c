/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * clock.c - the monotonic clock in seconds (see clock.h).
 */
#include <time.h>

#include "batchup/clock.h"

double clock_now(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}
