/*
 * Fuzz target for refdb/duration.c.
 *
 * The input is the text of a duration, as a config file or a -o option
 * gives it (a C string: it ends at its first NUL).  Its first eight bytes
 * are also read as an int64_t for duration_format().
 *
 * Invariants: duration_parse() returns 0, -EINVAL or -ERANGE and leaves
 * its output alone on error; a parsed duration is >= 0; whatever
 * duration_format() writes fits DURATION_TEXT_BYTES, is cut cleanly in a
 * smaller buffer, and parses back to the same value.
 */
#include <errno.h>
#include <string.h>

#include "duration.h"
#include "fuzz.h"

enum { UNTOUCHED = -4242 };

/* Format ms, check the text in every small buffer, and parse it back. */
static void check_format(int64_t ms)
{
	char text[DURATION_TEXT_BYTES];
	int64_t back = UNTOUCHED;

	memset(text, 'x', sizeof(text));
	duration_format(ms, text, sizeof(text));
	fuzz_check(memchr(text, '\0', sizeof(text)) != NULL, "the text is terminated");
	for (size_t size = 1; size < strlen(text) + 1; size++) {
		char cut[DURATION_TEXT_BYTES];

		duration_format(ms, cut, size);
		fuzz_check(strlen(cut) < size && strncmp(cut, text, strlen(cut)) == 0,
			   "a small buffer holds a terminated start of the text");
	}
	if (ms >= 0) {
		fuzz_check(duration_parse(text, &back) == 0 && back == ms,
			   "a formatted duration parses back to itself");
	} else {
		int err = duration_parse(text + 1, &back);

		fuzz_check(text[0] == '-', "a negative duration starts with '-'");
		fuzz_check(ms == INT64_MIN ? err == -ERANGE : err == 0 && back == -ms,
			   "a negative duration is '-' and its magnitude");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	int64_t ms = UNTOUCHED;
	int64_t raw = 0;
	int err;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	err = duration_parse(text, &ms);
	fuzz_check(err == 0 || err == -EINVAL || err == -ERANGE, "only 0, -EINVAL or -ERANGE");
	if (err) {
		fuzz_check(ms == UNTOUCHED, "an error leaves the output alone");
	} else {
		fuzz_check(ms >= 0, "a duration is never negative");
		check_format(ms);
	}
	memcpy(&raw, data, size < sizeof(raw) ? size : sizeof(raw));
	check_format(raw);
	free(text);
	return 0;
}
