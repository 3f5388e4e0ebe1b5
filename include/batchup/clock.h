/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * clock.h - the one clock batchup measures durations with.
 *
 * Deadlines, lease renewals, backoffs and request durations all use the
 * monotonic clock (it never jumps when the wall clock is set), read here
 * as seconds in a double: microsecond resolution for centuries.
 */
#ifndef BATCHUP_CLOCK_H
#define BATCHUP_CLOCK_H

/* Seconds on the monotonic clock (CLOCK_MONOTONIC). */
double clock_now(void);

#endif
