/*
 * duration: the durations of the configuration, as int64 milliseconds.
 *
 * Owns the one spelling of a duration that users write and read: a
 * non-negative integer with a unit (ms, s, m, h, d), several of them in a
 * row ("1h30m"), or a bare "0".  It never reads a clock and never logs.
 *
 * Threads: every function is pure and safe from any thread.
 */
#ifndef MEDIAFS_DURATION_H
#define MEDIAFS_DURATION_H

#include <stddef.h>
#include <stdint.h>

/* Room for the longest text duration_format() writes, with its NUL. */
enum { DURATION_TEXT_BYTES = 48 };

/*
 * Parse text such as "30s", "10m", "1h", "7d", "250ms", "1h30m" or "0"
 * into milliseconds.  No sign, no spaces, no fractions, every number has a
 * unit (except a bare "0"), units may repeat but are summed.  Returns 0,
 * -EINVAL for anything else (including NULL and ""), or -ERANGE when the
 * total does not fit in int64_t milliseconds.  On error *out_ms is
 * untouched.
 */
int duration_parse(const char *text, int64_t *out_ms);

/*
 * Write ms for people, largest units first and zero parts left out:
 * 604800000 -> "7d", 5400000 -> "1h30m", 250 -> "250ms", 0 -> "0".  The
 * text parses back to the same value.  A negative ms is written with a
 * leading '-'.  The output is truncated (and NUL-terminated) when size is
 * smaller than DURATION_TEXT_BYTES; nothing is written when size is 0.
 */
void duration_format(int64_t ms, char *buf, size_t size);

#endif
