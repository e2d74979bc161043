/*
 * fuzz: what every fuzz target shares.
 *
 * A target is one LLVMFuzzerTestOneInput() per file.  It is linked either
 * with libFuzzer (meson -Dfuzz=true, clang; see run.sh) or with replay.c,
 * which runs it over the files of its corpus and regressions as a test.
 * Either way a broken invariant must end the process with abort(): that
 * is what libFuzzer records as a crash and what fails the test.
 */
#ifndef MEDIAFS_FUZZ_H
#define MEDIAFS_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* The entry point libFuzzer calls once per input; always returns 0. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* abort() with the place and the invariant when ok is false. */
#define fuzz_check(ok, what) fuzz_check_at((ok), (what), __FILE__, __LINE__)

static inline void fuzz_check_at(bool ok, const char *what, const char *file, int line)
{
	if (ok)
		return;
	fprintf(stderr, "%s:%d: invariant broken: %s\n", file, line, what);
	abort();
}

#endif
