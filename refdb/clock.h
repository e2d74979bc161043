/*
 * clock: the one source of "now" for every decision about age (min_age,
 * grace, temp_max_age), so that tests can run with second-scale settings
 * and the policy never reads a clock of its own.
 *
 * Threads: any.
 */
#ifndef MEDIAFS_CLOCK_H
#define MEDIAFS_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Wall-clock milliseconds since the epoch. */
int64_t clock_now_ms(void);

/* Milliseconds of a struct timespec (e.g. st_mtim). */
int64_t clock_ms_of(const struct timespec *ts);

/* A monotonic millisecond counter, for intervals and timeouts. */
int64_t clock_monotonic_ms(void);

/*
 * The CLOCK_MONOTONIC time ms milliseconds from now, for
 * pthread_cond_timedwait() on a condition made with that clock; a
 * negative ms is now.
 */
void clock_monotonic_deadline(struct timespec *ts, int64_t ms);

#endif
