/*
 * Differential test: the same random sequence of file operations runs on a
 * native directory and through a mediafs mount of another directory on the
 * same filesystem, and every result must be the same: return values, errno,
 * data read, attributes, and finally the whole tree.
 *
 * The sequence is fsx-like: a small namespace of names so that operations
 * collide (renames over open files, links, unlinked open files, directory
 * renames), files open across operations, writes at random offsets, holes,
 * fallocate, copy_file_range and shared mappings.
 *
 * DIFF_SEEDS (default 6) sequences of DIFF_STEPS (default 3000) steps run;
 * DIFF_SEED picks the first seed, so a failure can be replayed.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "app_harness.h"

enum {
	SLOTS = 4,
	MAX_IO = 96 * 1024,
	MAX_OFFSET = 384 * 1024,
	WORLDS = 2,
};

static const char *const names[] = {
	"a", "b", "c", "d", "d/a", "d/b", "d/e", "d/e/f", "g", "g/h",
};
#define NAME_COUNT (sizeof(names) / sizeof(names[0]))

struct world {
	char root[512];
	int fds[SLOTS];
};

struct outcome {
	long ret;
	int err;
};

static struct mount_harness h;
static struct world worlds[WORLDS];
static char *io_buffer[WORLDS];
static char *data_pattern;
static uint64_t rng_state;
static char op_description[512];

static uint64_t next_random(void)
{
	/* xorshift64*: reproducible from the seed, good enough here. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

static unsigned pick(unsigned n)
{
	return (unsigned)(next_random() % n);
}

static const char *in_world(struct world *w, const char *name)
{
	static char buf[WORLDS][2][600];
	static int turn;
	char *out = buf[w == &worlds[0] ? 0 : 1][turn++ & 1];

	snprintf(out, sizeof(buf[0][0]), "%s/%s", w->root, name);
	return out;
}

static struct outcome result(long ret)
{
	return (struct outcome){ .ret = ret, .err = ret < 0 ? errno : 0 };
}

/* One generated operation, applied to one world. */
struct op {
	int kind;
	unsigned slot, slot2, name, name2;
	int flags;
	mode_t mode;
	size_t len;
	off_t off, off2;
	unsigned pattern_at;
};

enum op_kind {
	OP_OPEN, OP_CLOSE, OP_PWRITE, OP_WRITE, OP_PREAD, OP_FTRUNCATE, OP_TRUNCATE,
	OP_FSYNC, OP_FALLOCATE, OP_SEEK, OP_COPY_RANGE, OP_MMAP_WRITE, OP_UNLINK,
	OP_RMDIR, OP_MKDIR, OP_RENAME, OP_LINK, OP_SYMLINK, OP_CHMOD, OP_UTIMENS,
	OP_SETXATTR, OP_REMOVEXATTR, OP_STAT, OP_FSTAT, OP_LISTDIR, OP_KIND_COUNT,
};

static const int open_flag_choices[] = {
	O_RDONLY,
	O_WRONLY | O_CREAT,
	O_RDWR | O_CREAT,
	O_RDWR | O_CREAT | O_TRUNC,
	O_WRONLY | O_APPEND | O_CREAT,
	O_RDWR | O_CREAT | O_EXCL,
	O_RDONLY | O_DIRECTORY,
};

static struct op generate(void)
{
	struct op op = {
		.kind = (int)pick(OP_KIND_COUNT),
		.slot = pick(SLOTS),
		.slot2 = pick(SLOTS),
		.name = pick(NAME_COUNT),
		.name2 = pick(NAME_COUNT),
		.len = pick(MAX_IO) + 1,
		.off = pick(MAX_OFFSET),
		.off2 = pick(MAX_OFFSET),
		.pattern_at = pick(MAX_IO),
	};
	switch (op.kind) {
	case OP_OPEN:
		op.flags = open_flag_choices[pick(sizeof(open_flag_choices) / sizeof(int))];
		break;
	case OP_FALLOCATE: {
		static const int modes[] = { 0, FALLOC_FL_KEEP_SIZE,
					     FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE };
		op.flags = modes[pick(3)];
		break;
	}
	case OP_SEEK:
		op.flags = pick(2) ? SEEK_DATA : SEEK_HOLE;
		break;
	case OP_RENAME: {
		static const int flags[] = { 0, 0, RENAME_NOREPLACE, RENAME_EXCHANGE };
		op.flags = flags[pick(4)];
		break;
	}
	case OP_CHMOD:
		op.mode = (mode_t)(0600 | pick(0200)) | (pick(4) == 0 ? S_ISGID : 0);
		break;
	default:
		break;
	}
	return op;
}

static void describe(const struct op *op, int step)
{
	snprintf(op_description, sizeof(op_description),
		 "step %d: kind %d slot %u/%u name '%s'/'%s' flags %#x len %zu off %jd/%jd",
		 step, op->kind, op->slot, op->slot2, names[op->name], names[op->name2],
		 op->flags, op->len, (intmax_t)op->off, (intmax_t)op->off2);
}

static struct outcome apply_file_op(struct world *w, int wi, const struct op *op)
{
	int fd = w->fds[op->slot];
	const char *data = data_pattern + op->pattern_at;

	switch (op->kind) {
	case OP_PWRITE:
		return result(pwrite(fd, data, op->len, op->off));
	case OP_WRITE:
		return result(write(fd, data, op->len));
	case OP_PREAD:
		return result(pread(fd, io_buffer[wi], op->len, op->off));
	case OP_FTRUNCATE:
		return result(ftruncate(fd, op->off));
	case OP_FSYNC:
		return result(op->len & 1 ? fsync(fd) : fdatasync(fd));
	case OP_FALLOCATE:
		return result(fallocate(fd, op->flags, op->off, (off_t)op->len));
	case OP_SEEK: {
		/* The kernel answers SEEK_DATA/SEEK_HOLE on a FUSE directory
		 * itself (ext4 gives its hash-order answer): regular files only. */
		struct stat st;
		if (fd >= 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
			return (struct outcome){ .ret = -2 };
		/* Both answers may be right and still differ (see
		 * seek_answers_agree()): keep the file position out of it. */
		off_t position = lseek(fd, 0, SEEK_CUR);
		struct outcome out = result(lseek(fd, op->off, op->flags));
		if (position >= 0)
			lseek(fd, position, SEEK_SET);
		return out;
	}
	case OP_COPY_RANGE: {
		loff_t in = op->off, out = op->off2;
		return result(copy_file_range(fd, &in, w->fds[op->slot2], &out, op->len, 0));
	}
	case OP_MMAP_WRITE: {
		struct stat st;
		if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0)
			return result(-1);
		size_t len = op->len < (size_t)st.st_size ? op->len : (size_t)st.st_size;
		char *map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (map == MAP_FAILED)
			return result(-1);
		memcpy(map, data, len);
		long ret = msync(map, len, MS_SYNC);
		munmap(map, len);
		return result(ret);
	}
	case OP_FSTAT: {
		struct stat st;
		long ret = fstat(fd, &st);
		if (ret == 0)
			snprintf(io_buffer[wi], 256, "%o %jd %lu", st.st_mode,
				 (intmax_t)st.st_size, (unsigned long)st.st_nlink);
		return result(ret == 0 ? (long)strlen(io_buffer[wi]) : ret);
	}
	default:
		return result(-1);
	}
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "name,name,..." of a directory, sorted, into out. */
static long list_dir(const char *path, char *out, size_t size)
{
	DIR *dir = opendir(path);
	char *entries[256];
	int n = 0;
	size_t used = 0;
	struct dirent *d;

	if (!dir)
		return -1;
	while ((d = readdir(dir)) && n < 256)
		entries[n++] = strdup(d->d_name);
	closedir(dir);
	qsort(entries, (size_t)n, sizeof(char *), compare_names);
	out[0] = '\0';
	for (int i = 0; i < n; i++) {
		used += (size_t)snprintf(out + used, size - used, "%s,", entries[i]);
		free(entries[i]);
	}
	return (long)used;
}

static struct outcome apply(struct world *w, int wi, const struct op *op)
{
	const char *path = in_world(w, names[op->name]);
	const char *path2 = in_world(w, names[op->name2]);

	switch (op->kind) {
	case OP_OPEN: {
		if (w->fds[op->slot] >= 0)
			close(w->fds[op->slot]);
		w->fds[op->slot] = open(path, op->flags, 0644);
		return result(w->fds[op->slot] < 0 ? -1 : 0);
	}
	case OP_CLOSE: {
		long ret = w->fds[op->slot] < 0 ? 0 : close(w->fds[op->slot]);
		w->fds[op->slot] = -1;
		return result(ret);
	}
	case OP_TRUNCATE:
		return result(truncate(path, op->off));
	case OP_UNLINK:
		return result(unlink(path));
	case OP_RMDIR:
		return result(rmdir(path));
	case OP_MKDIR:
		return result(mkdir(path, 0755));
	case OP_RENAME:
		return result(renameat2(AT_FDCWD, path, AT_FDCWD, path2, (unsigned)op->flags));
	case OP_LINK:
		return result(link(path, path2));
	case OP_SYMLINK:
		return result(symlink(names[op->name2], path));
	case OP_CHMOD:
		return result(chmod(path, op->mode));
	case OP_UTIMENS: {
		struct timespec t[2] = { { .tv_sec = op->off }, { .tv_sec = op->off2 } };
		return result(utimensat(AT_FDCWD, path, t, AT_SYMLINK_NOFOLLOW));
	}
	case OP_SETXATTR:
		return result(setxattr(path, op->len & 1 ? "user.one" : "user.two",
				       data_pattern + op->pattern_at, op->len % 200, 0));
	case OP_REMOVEXATTR:
		return result(removexattr(path, op->len & 1 ? "user.one" : "user.two"));
	case OP_STAT: {
		struct stat st;
		long ret = lstat(path, &st);
		if (ret == 0)
			snprintf(io_buffer[wi], 256, "%o %jd %lu %u %u", st.st_mode,
				 S_ISDIR(st.st_mode) ? (intmax_t)0 : (intmax_t)st.st_size,
				 (unsigned long)st.st_nlink, st.st_uid, st.st_gid);
		return result(ret == 0 ? (long)strlen(io_buffer[wi]) : ret);
	}
	case OP_LISTDIR:
		return result(list_dir(path, io_buffer[wi], MAX_IO));
	default:
		return apply_file_op(w, wi, op);
	}
}

static bool returns_data(int kind)
{
	return kind == OP_PREAD || kind == OP_STAT || kind == OP_FSTAT ||
	       kind == OP_LISTDIR;
}

/* Walk both trees and compare every entry. */
static void compare_trees(const char *rel)
{
	char a[2048], b[2048];
	char list_a[8192], list_b[8192];

	snprintf(a, sizeof(a), "%s/%s", worlds[0].root, rel);
	snprintf(b, sizeof(b), "%s/%s", worlds[1].root, rel);
	long na = list_dir(a, list_a, sizeof(list_a));
	long nb = list_dir(b, list_b, sizeof(list_b));
	ck_assert_msg(na == nb && strcmp(list_a, list_b) == 0,
		      "directory '%s' differs: native '%s', mount '%s'", rel, list_a, list_b);
	for (char *save = NULL, *name = strtok_r(list_a, ",", &save); name;
	     name = strtok_r(NULL, ",", &save)) {
		char sub[1024], pa[2048], pb[2048];
		struct stat sa, sb;
		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			continue;
		snprintf(sub, sizeof(sub), "%s%s%s", rel, rel[0] ? "/" : "", name);
		snprintf(pa, sizeof(pa), "%s/%s", worlds[0].root, sub);
		snprintf(pb, sizeof(pb), "%s/%s", worlds[1].root, sub);
		ck_assert_int_eq(lstat(pa, &sa), 0);
		ck_assert_int_eq(lstat(pb, &sb), 0);
		ck_assert_msg(sa.st_mode == sb.st_mode && sa.st_nlink == sb.st_nlink,
			      "'%s': mode %o/%o nlink %lu/%lu", sub, sa.st_mode, sb.st_mode,
			      (unsigned long)sa.st_nlink, (unsigned long)sb.st_nlink);
		if (S_ISDIR(sa.st_mode)) {
			compare_trees(sub);
		} else if (S_ISREG(sa.st_mode)) {
			ck_assert_msg(sa.st_size == sb.st_size, "'%s': size %jd/%jd", sub,
				      (intmax_t)sa.st_size, (intmax_t)sb.st_size);
			ck_assert_msg(harness_sh("cmp -s '%s' '%s'", pa, pb) == 0,
				      "'%s': contents differ", sub);
		}
	}
}

/* True when [from, to) of the file holds only zero bytes. */
static bool range_is_zero(int fd, off_t from, off_t to)
{
	while (from < to) {
		size_t chunk = (size_t)(to - from) < MAX_IO ? (size_t)(to - from) : MAX_IO;
		ssize_t n = pread(fd, io_buffer[0], chunk, from);
		if (n <= 0)
			return false;
		for (ssize_t i = 0; i < n; i++)
			if (io_buffer[0][i] != 0)
				return false;
		from += n;
	}
	return true;
}

/*
 * Whether ext4 reports an unwritten extent as data or as a hole depends on
 * which of its pages happen to be in the page cache, and readahead through
 * FUSE differs from native, so the two answers may differ and both be
 * right.  Each is checked against the contents instead: SEEK_DATA may skip
 * only zeros, and a hole must start at zeros or at the end of the file.
 */
static bool seek_answers_agree(const struct op *op, const struct outcome out[WORLDS])
{
	char proc[64];
	struct stat st;
	bool valid = true;
	int fd;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", worlds[0].fds[op->slot]);
	fd = open(proc, O_RDONLY);
	if (fd < 0)
		return false;
	if (fstat(fd, &st) != 0)
		valid = false;
	for (int wi = 0; valid && wi < WORLDS; wi++) {
		off_t answer = out[wi].ret;
		if (answer < 0) {
			/* ENXIO: no data (or no hole) at or after off. */
			valid = out[wi].err == ENXIO &&
				(op->off >= st.st_size ||
				 (op->flags == SEEK_DATA && range_is_zero(fd, op->off, st.st_size)));
		} else if (answer < op->off || answer > st.st_size) {
			valid = false;
		} else if (op->flags == SEEK_DATA) {
			valid = answer < st.st_size && range_is_zero(fd, op->off, answer);
		} else {
			valid = answer == st.st_size || range_is_zero(fd, answer, answer + 1);
		}
	}
	close(fd);
	return valid;
}

static void run_sequence(uint64_t seed, int steps)
{
	rng_state = seed * 0x9e3779b97f4a7c15ULL + 1;
	for (int wi = 0; wi < WORLDS; wi++) {
		for (int s = 0; s < SLOTS; s++)
			worlds[wi].fds[s] = -1;
		harness_sh("rm -rf '%s' && mkdir '%s'", worlds[wi].root, worlds[wi].root);
	}
	for (int step = 0; step < steps; step++) {
		struct op op = generate();
		struct outcome out[WORLDS];

		describe(&op, step);
		for (int wi = 0; wi < WORLDS; wi++)
			out[wi] = apply(&worlds[wi], wi, &op);
		if (op.kind == OP_SEEK && seek_answers_agree(&op, out))
			continue;
		ck_assert_msg(out[0].ret == out[1].ret && out[0].err == out[1].err,
			      "seed %llu %s: native %ld (%s), mount %ld (%s)",
			      (unsigned long long)seed, op_description, out[0].ret,
			      strerror(out[0].err), out[1].ret, strerror(out[1].err));
		if (returns_data(op.kind) && out[0].ret > 0)
			ck_assert_msg(memcmp(io_buffer[0], io_buffer[1], (size_t)out[0].ret) == 0,
				      "seed %llu %s: data differs ('%.60s' / '%.60s')",
				      (unsigned long long)seed, op_description,
				      io_buffer[0], io_buffer[1]);
	}
	for (int wi = 0; wi < WORLDS; wi++)
		for (int s = 0; s < SLOTS; s++)
			if (worlds[wi].fds[s] >= 0)
				close(worlds[wi].fds[s]);
	compare_trees("");
}

static void mount_once(void)
{
	ck_assert_int_eq(harness_init(&h, "differential"), 0);
	ck_assert_int_eq(harness_mount(&h, NULL), 0);
	snprintf(worlds[0].root, sizeof(worlds[0].root), "%s/native", h.dir);
	snprintf(worlds[1].root, sizeof(worlds[1].root), "%s/tree", h.mountpoint);
	data_pattern = malloc(2 * MAX_IO);
	for (int i = 0; i < 2 * MAX_IO; i++)
		data_pattern[i] = (char)('a' + (i * 7 + i / 13) % 26);
	for (int wi = 0; wi < WORLDS; wi++)
		io_buffer[wi] = malloc(MAX_IO);
}

static void unmount_once(void)
{
	ck_assert_int_eq(harness_unmount(&h), 0);
	harness_destroy(&h);
}

static int env_int(const char *name, int fallback)
{
	const char *v = getenv(name);

	return v && *v ? atoi(v) : fallback;
}

START_TEST(test_random_sequences_match_native)
{
	uint64_t seed = (uint64_t)env_int("DIFF_SEED", 1) + (uint64_t)_i;

	run_sequence(seed, env_int("DIFF_STEPS", 3000));
}
END_TEST

static Suite *differential_suite(void)
{
	Suite *s = suite_create("differential");
	TCase *tc = tcase_create("random");

	tcase_add_unchecked_fixture(tc, mount_once, unmount_once);
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, test_random_sequences_match_native, 0,
			    env_int("DIFF_SEEDS", 6));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	int failed;

	harness_require_fuse();
	failed = app_run_suite(differential_suite());
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
