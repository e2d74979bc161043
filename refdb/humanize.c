/*
 * humanize: sizes in binary units.
 */
#include "humanize.h"

#include <stdio.h>

void humanize_size(uint64_t bytes, char *out, size_t size)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double value = (double)bytes;
	size_t unit = 0;

	if (!size)
		return;
	if (bytes < 1024) {
		snprintf(out, size, "%llu B", (unsigned long long)bytes);
		return;
	}
	value /= 1024;
	/* 1023.95 and up would print as "1024.0": that is the next unit. */
	while (value >= 1023.95 && unit + 1 < sizeof(units) / sizeof(units[0])) {
		value /= 1024;
		unit++;
	}
	snprintf(out, size, "%.1f %s", value, units[unit]);
}
