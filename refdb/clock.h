/*
 * clock: the one source of "now" for every decision about age (min_age,
 * grace, temp_max_age), so that tests can run with second-scale settings
 * and the policy never reads a clock of its own.
 *
 * The test clock.  Tests must make files older than min_age or a grace
 * without waiting for it: clock_now_ms() adds an offset that a test
 * advances.  The offset is honoured only when the program starts with
 * CLOCK_TEST_OFFSET_ENV naming a file, and only while that file is a
 * regular file (not a link), owned by the user the program runs as (root,
 * for the daemon) and of mode 0600: nobody but that user, who could stop
 * the daemon or rewrite the catalog anyway, can age a file by it.  Not a
 * build option: the tests run the very binary that is installed.  Every
 * program that honours it says so once at info level (the daemon's
 * default), so that a daemon started with the variable by mistake is seen
 * at once.  The file
 * holds a decimal count of milliseconds, never negative; a file that cannot
 * be read or does not parse leaves the last good offset (time never runs
 * backwards) and is logged once.  The file system's own times (mtime,
 * ctime, birth) stay real, so the offset ages every file alike, old and
 * new: a test that needs a young file writes it before it moves the clock.
 * Without the variable, clock_now_ms() is
 * clock_gettime(CLOCK_REALTIME) and nothing else.
 *
 * Threads: any.
 */
#ifndef MEDIAFS_CLOCK_H
#define MEDIAFS_CLOCK_H

#include <stdint.h>
#include <time.h>

/* The environment variable that names the test clock's offset file. */
#define CLOCK_TEST_OFFSET_ENV "MEDIAFS_TEST_CLOCK_OFFSET_FILE"

/* Wall-clock milliseconds since the epoch, plus the test offset. */
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
