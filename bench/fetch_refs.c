/*
 * fetch_refs: time one fetch of a configured source into a refset, for
 * bench/refs.sh.  Not a test: it prints numbers and judges nothing.
 *
 * usage: fetch_refs config.ini source-name
 * Prints one line: "rows distinct hostile wall_ms maxrss_kb".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "config.h"
#include "refset.h"
#include "source.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
	char error[SOURCE_ERROR_BYTES];
	struct source_report report;
	const struct config_source *cs = NULL;
	struct config cfg;
	struct source *src;
	struct refset *set;
	struct rusage ru;
	double start;
	int err;

	if (argc != 3) {
		fprintf(stderr, "usage: fetch_refs config.ini source-name\n");
		return 2;
	}
	config_init_defaults(&cfg);
	if (config_load(&cfg, argv[1], error, sizeof(error)) != 0) {
		fprintf(stderr, "fetch_refs: %s\n", error);
		return 1;
	}
	for (size_t i = 0; i < cfg.source_count; i++)
		if (strcmp(cfg.sources[i].name, argv[2]) == 0)
			cs = &cfg.sources[i];
	if (!cs) {
		fprintf(stderr, "fetch_refs: no source '%s' in '%s'\n", argv[2], argv[1]);
		return 1;
	}
	start = now_ms();
	err = source_open(cs, &src, error, sizeof(error));
	if (err) {
		fprintf(stderr, "fetch_refs: %s\n", error);
		return 1;
	}
	set = refset_new();
	if (!set)
		return 1;
	err = source_fetch_into(src, set, &report, error, sizeof(error));
	if (err) {
		fprintf(stderr, "fetch_refs: %s\n", error);
		return 1;
	}
	double elapsed = now_ms() - start;
	getrusage(RUSAGE_SELF, &ru);
	printf("%llu %zu %llu %.0f %ld\n", (unsigned long long)report.rows, refset_count(set),
	       (unsigned long long)report.hostile, elapsed, ru.ru_maxrss);
	refset_free(set);
	source_close(src);
	config_free(&cfg);
	return 0;
}
