/*
 * replay: a main() for a fuzz target without libFuzzer.
 *
 *	usage: fuzz_NAME dir|file ...
 *
 * Runs LLVMFuzzerTestOneInput() once over every file named and every file
 * in every directory named (names starting with '.' are skipped), in name
 * order, each in a heap buffer of exactly its size so that AddressSanitizer
 * sees a read past its end.  This is how the corpus and the regressions
 * stay tests in every build.  Exits 0 when every input ran, 1 when a file
 * cannot be read or no input was found (an empty corpus tests nothing); a
 * broken invariant has aborted before that.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* Read all of path into a malloc()ed buffer.  0 or -errno. */
static int read_whole(const char *path, uint8_t **out, size_t *out_size)
{
	FILE *file = fopen(path, "rb");
	uint8_t *data = NULL;
	size_t size = 0;
	size_t cap = 0;
	int err = 0;

	if (!file)
		return -errno;
	for (;;) {
		if (size == cap) {
			size_t next = cap ? 2 * cap : 4096;
			uint8_t *grown = realloc(data, next);

			if (!grown) {
				err = -ENOMEM;
				goto out_close;
			}
			data = grown;
			cap = next;
		}
		size_t n = fread(data + size, 1, cap - size, file);
		size += n;
		if (n == 0)
			break;
	}
	if (ferror(file)) {
		err = -EIO;
		goto out_close;
	}
	/* Exactly size bytes (at least one, so that malloc() gives a pointer). */
	uint8_t *exact = malloc(size ? size : 1);
	if (!exact) {
		err = -ENOMEM;
		goto out_close;
	}
	memcpy(exact, data, size);
	*out = exact;
	*out_size = size;
out_close:
	free(data);
	fclose(file);
	return err;
}

static int run_file(const char *path)
{
	uint8_t *data = NULL;
	size_t size = 0;
	int err = read_whole(path, &data, &size);

	if (err) {
		fprintf(stderr, "replay: cannot read '%s': %s\n", path, strerror(-err));
		return err;
	}
	LLVMFuzzerTestOneInput(data, size);
	free(data);
	return 0;
}

static int skip_hidden(const struct dirent *entry)
{
	return entry->d_name[0] != '.';
}

/* Run every file of dir.  The number of inputs run, or -errno. */
static int run_dir(const char *dir)
{
	struct dirent **entries;
	int count = scandir(dir, &entries, skip_hidden, alphasort);
	int ran = 0;
	int err = 0;

	if (count < 0) {
		err = -errno;
		fprintf(stderr, "replay: cannot list '%s': %s\n", dir, strerror(errno));
		return err;
	}
	for (int i = 0; i < count; i++) {
		char path[4096];

		snprintf(path, sizeof(path), "%s/%s", dir, entries[i]->d_name);
		if (!err) {
			err = run_file(path);
			ran++;
		}
		free(entries[i]);
	}
	free(entries);
	return err ? err : ran;
}

int main(int argc, char **argv)
{
	int total = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;
		int ran;

		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "replay: cannot find '%s': %s\n", argv[i], strerror(errno));
			return 1;
		}
		ran = S_ISDIR(st.st_mode) ? run_dir(argv[i]) : run_file(argv[i]) == 0 ? 1 : -1;
		if (ran < 0)
			return 1;
		printf("%s: %d inputs\n", argv[i], ran);
		total += ran;
	}
	if (total == 0) {
		fprintf(stderr, "replay: no inputs\n");
		return 1;
	}
	printf("%d inputs, no invariant broken\n", total);
	return 0;
}
