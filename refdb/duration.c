/*
 * duration: parsing and formatting of "1h30m"-style durations.
 *
 * Parsing walks the text once: a run of digits, then a unit, again and
 * again.  Every multiplication and addition is checked, so a huge number is
 * -ERANGE rather than a wrapped, small, dangerous duration (a grace period
 * that overflows to a few seconds would purge files at once).
 */
#include "duration.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

struct duration_unit {
	const char *name;
	int64_t ms;
};

/* Largest first: duration_format() walks this table in order. */
static const struct duration_unit units[] = {
	{ "d", 24LL * 60 * 60 * 1000 },
	{ "h", 60LL * 60 * 1000 },
	{ "m", 60LL * 1000 },
	{ "s", 1000 },
	{ "ms", 1 },
};

enum { UNIT_COUNT = sizeof(units) / sizeof(units[0]) };

/* Match the unit at *p; "ms" must win over "m". Returns NULL if none. */
static const struct duration_unit *match_unit(const char **p)
{
	const struct duration_unit *best = NULL;
	size_t best_len = 0;

	for (size_t i = 0; i < UNIT_COUNT; i++) {
		size_t len = strlen(units[i].name);

		if (strncmp(*p, units[i].name, len) == 0 && len > best_len) {
			best = &units[i];
			best_len = len;
		}
	}
	*p += best_len;
	return best;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

int duration_parse(const char *text, int64_t *out_ms)
{
	const char *p = text;
	int64_t total = 0;
	bool range = false;

	if (!text || !*text)
		return -EINVAL;
	if (strcmp(text, "0") == 0) {
		*out_ms = 0;
		return 0;
	}
	while (*p) {
		int64_t number = 0;
		int64_t part;

		if (!is_digit(*p))
			return -EINVAL;
		while (is_digit(*p)) {
			if (__builtin_mul_overflow(number, 10, &number) ||
			    __builtin_add_overflow(number, *p - '0', &number))
				range = true;
			p++;
		}
		const struct duration_unit *unit = match_unit(&p);
		if (!unit)
			return -EINVAL;
		if (range || __builtin_mul_overflow(number, unit->ms, &part) ||
		    __builtin_add_overflow(total, part, &total))
			range = true;
	}
	/* Syntax errors win over range errors: both are checked to the end. */
	if (range)
		return -ERANGE;
	*out_ms = total;
	return 0;
}

void duration_format(int64_t ms, char *buf, size_t size)
{
	size_t len = 0;
	uint64_t rest;

	if (size == 0)
		return;
	buf[0] = '\0';
	if (ms == 0) {
		snprintf(buf, size, "0");
		return;
	}
	if (ms < 0) {
		snprintf(buf, size, "-");
		len = strlen(buf);
		rest = (uint64_t)0 - (uint64_t)ms;
	} else {
		rest = (uint64_t)ms;
	}
	for (size_t i = 0; i < UNIT_COUNT && rest > 0 && len < size; i++) {
		uint64_t count = rest / (uint64_t)units[i].ms;

		if (count == 0)
			continue;
		rest -= count * (uint64_t)units[i].ms;
		int n = snprintf(buf + len, size - len, "%llu%s",
				 (unsigned long long)count, units[i].name);
		if (n < 0)
			return;
		len += (size_t)n;
	}
}
