/*
 * smallfiles: one phase of a small-file workload (uploads), timed.
 *
 * usage: smallfiles [-d dirs] [-n files] [-s bytes] phase dir
 *
 * The tree is dir/dNNN/fNNNNNN, files filled one directory at a time, the
 * way uploads land in dated directories.  Phases, each a separate run so
 * that bench/fs.sh can drop the page cache between them:
 *
 *   create   make the directories, then create, write and close each file
 *   stat     stat() each file and check its size
 *   read     open, read to the end (checking the size) and close each file
 *   open     open and close each file, reading nothing
 *   delete   unlink each file, then remove the directories
 *
 * One process, one file at a time, no fsync (an upload handler does not
 * sync either); bench/fs.sh syncs, untimed, between phases.  Prints one
 * line, "phase files seconds files_per_second".  Exits 0, 1 when a call
 * fails (with a message), 2 on a usage error.
 */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum {
	EXIT_USAGE = 2,
	DEFAULT_FILES = 10000,
	DEFAULT_DIRS = 100,
	DEFAULT_FILE_BYTES = 16 * 1024,
	NAME_BYTES = 64,
};

struct tree {
	int root_fd;
	long files;
	long dirs;
	size_t file_bytes;
	char *buf;		/* file_bytes + 1: a short read must show EOF */
};

static void usage(void)
{
	fprintf(stderr, "usage: smallfiles [-d dirs] [-n files] [-s bytes] "
		"create|stat|read|open|delete dir\n");
	exit(EXIT_USAGE);
}

static long parse_count(const char *arg)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(arg, &end, 10);
	if (errno || *end || n <= 0)
		usage();
	return n;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void dir_name(long d, char *out)
{
	snprintf(out, NAME_BYTES, "d%03ld", d);
}

/* File i lives in directory i / (files per directory, rounded up). */
static void file_name(const struct tree *t, long i, char *out)
{
	long per_dir = (t->files + t->dirs - 1) / t->dirs;

	snprintf(out, NAME_BYTES, "d%03ld/f%06ld", i / per_dir, i);
}

static void write_all(int fd, const char *buf, size_t len, const char *name)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			err(1, "write '%s'", name);
		buf += n;
		len -= (size_t)n;
	}
}

static void phase_create(struct tree *t)
{
	char name[NAME_BYTES];

	for (long d = 0; d < t->dirs; d++) {
		dir_name(d, name);
		if (mkdirat(t->root_fd, name, 0755) != 0 && errno != EEXIST)
			err(1, "mkdir '%s'", name);
	}
	for (long i = 0; i < t->files; i++) {
		file_name(t, i, name);
		int fd = openat(t->root_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			err(1, "create '%s'", name);
		write_all(fd, t->buf, t->file_bytes, name);
		if (close(fd) != 0)
			err(1, "close '%s'", name);
	}
}

static void phase_stat(struct tree *t)
{
	char name[NAME_BYTES];
	struct stat st;

	for (long i = 0; i < t->files; i++) {
		file_name(t, i, name);
		if (fstatat(t->root_fd, name, &st, 0) != 0)
			err(1, "stat '%s'", name);
		if ((size_t)st.st_size != t->file_bytes)
			errx(1, "'%s' has %jd bytes, not %zu", name, (intmax_t)st.st_size,
			     t->file_bytes);
	}
}

static void phase_read(struct tree *t)
{
	char name[NAME_BYTES];

	for (long i = 0; i < t->files; i++) {
		size_t got = 0;
		ssize_t n;

		file_name(t, i, name);
		int fd = openat(t->root_fd, name, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			err(1, "open '%s'", name);
		while ((n = read(fd, t->buf, t->file_bytes + 1)) != 0) {
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				err(1, "read '%s'", name);
			got += (size_t)n;
		}
		if (got != t->file_bytes)
			errx(1, "read %zu bytes of '%s', not %zu", got, name, t->file_bytes);
		close(fd);
	}
}

static void phase_open(struct tree *t)
{
	char name[NAME_BYTES];

	for (long i = 0; i < t->files; i++) {
		file_name(t, i, name);
		int fd = openat(t->root_fd, name, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			err(1, "open '%s'", name);
		close(fd);
	}
}

static void phase_delete(struct tree *t)
{
	char name[NAME_BYTES];

	for (long i = 0; i < t->files; i++) {
		file_name(t, i, name);
		if (unlinkat(t->root_fd, name, 0) != 0)
			err(1, "unlink '%s'", name);
	}
	for (long d = 0; d < t->dirs; d++) {
		dir_name(d, name);
		if (unlinkat(t->root_fd, name, AT_REMOVEDIR) != 0)
			err(1, "rmdir '%s'", name);
	}
}

static const struct {
	const char *name;
	void (*run)(struct tree *t);
} phases[] = {
	{ "create", phase_create },
	{ "stat", phase_stat },
	{ "read", phase_read },
	{ "open", phase_open },
	{ "delete", phase_delete },
};

int main(int argc, char **argv)
{
	struct tree t = {
		.files = DEFAULT_FILES,
		.dirs = DEFAULT_DIRS,
		.file_bytes = DEFAULT_FILE_BYTES,
	};
	size_t which = sizeof(phases) / sizeof(phases[0]);
	double start, elapsed;
	int opt;

	while ((opt = getopt(argc, argv, "d:n:s:")) != -1) {
		switch (opt) {
		case 'd':
			t.dirs = parse_count(optarg);
			break;
		case 'n':
			t.files = parse_count(optarg);
			break;
		case 's':
			t.file_bytes = (size_t)parse_count(optarg);
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 2 || t.dirs > 1000 || t.files > 999999)
		usage();
	for (size_t i = 0; i < sizeof(phases) / sizeof(phases[0]); i++)
		if (strcmp(argv[optind], phases[i].name) == 0)
			which = i;
	if (which == sizeof(phases) / sizeof(phases[0]))
		usage();
	t.buf = malloc(t.file_bytes + 1);
	if (!t.buf)
		err(1, "malloc");
	memset(t.buf, 'm', t.file_bytes + 1);
	if (mkdir(argv[optind + 1], 0755) != 0 && errno != EEXIST)
		err(1, "mkdir '%s'", argv[optind + 1]);
	t.root_fd = open(argv[optind + 1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (t.root_fd < 0)
		err(1, "open '%s'", argv[optind + 1]);

	start = now_s();
	phases[which].run(&t);
	elapsed = now_s() - start;
	printf("%s %ld %.6f %.0f\n", phases[which].name, t.files, elapsed,
	       (double)t.files / elapsed);
	free(t.buf);
	close(t.root_fd);
	return 0;
}
