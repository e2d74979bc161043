/*
 * Integration tests of FUSE passthrough (fs/passthrough.h) on a real
 * mount: with it on, reads and writes of open files never reach the
 * daemon, and tracking still records every write; with it off (-o
 * nopassthrough, -o writeback, or MEDIAFS_TEST_OPTIONS=nopassthrough for
 * a whole run) the daemon serves them, and the same tests say so.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app_harness.h"

static struct mount_harness h;
static struct app_harness app;

/* Large enough for passthrough (fs/ops_file.c: 1 MiB and up); smaller
 * files stay with the daemon and its page cache. */
enum { BIG = 1024 * 1024 + 4096, SMALL = 4096 };
static char page[BIG + 8192];

static void setup(void)
{
	static const char *const columns[] = { "photo.image", "gallery.thumb", NULL };

	app_setup(&app, &h, "fuse-passthrough", NULL, APP_SETTINGS_AT_ONCE);
	app_create_tables(&app, columns);
}

static void teardown(void)
{
	harness_destroy(&h);
}

/*
 * Mount with options; returns true when passthrough is on.  A kernel that
 * does not offer it ends the test (it has nothing to say there).
 */
static bool mount_with(const char *options)
{
	app.options = options;
	app_mount(&app, "");
	if (harness_log_contains(&h, "passthrough is on"))
		return true;
	ck_assert_msg(harness_log_contains(&h, "passthrough is off"),
		      "the log says whether passthrough is on");
	return false;
}

/* How many lines of the daemon's log contain needle. */
static int log_count(const char *needle)
{
	char line[4096];
	FILE *f = fopen(h.log_path, "r");
	int n = 0;

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, needle))
			n++;
	fclose(f);
	return n;
}

static void drop_caches(void)
{
	ck_assert_int_eq(harness_sh("sync; echo 1 > /proc/sys/vm/drop_caches"), 0);
}

/* The catalog's (one) row for rel: field as a number. */
static long long catalog_field(const char *rel, const char *field)
{
	json_t *r = NULL, *files;
	long long value;

	ck_assert_int_eq(app_mediactl(&app, &r, "show", rel, NULL), 0);
	files = json_object_get(r, "files");
	ck_assert_msg(json_array_size(files) == 1, "one row for %s", rel);
	value = json_integer_value(json_object_get(json_array_get(files, 0), field));
	json_decref(r);
	return value;
}

static void put_bytes(const char *rel, size_t size, char fill)
{
	char *data = malloc(size + 1);

	ck_assert_ptr_nonnull(data);
	memset(data, fill, size);
	data[size] = '\0';
	app_put(&app, rel, data);
	free(data);
}

START_TEST(test_reads_and_writes_skip_the_daemon_when_on)
{
	size_t len;
	bool on = mount_with("log_level=trace");
	int fd;

	put_bytes("a.jpg", BIG, 'a');
	put_bytes("small.jpg", SMALL, 's');
	drop_caches();
	harness_clear_log(&h);
	ck_assert_int_eq(harness_read_file(harness_mount_path(&h, "a.jpg"), page, sizeof(page),
					   &len), 0);
	ck_assert_uint_eq(len, BIG);
	ck_assert_int_eq(page[len - 1], 'a');
	fd = open(harness_mount_path(&h, "a.jpg"), O_WRONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, "bb", 2, 100), 2);
	ck_assert_int_eq(close(fd), 0);
	app_wait_closed(&app, "a.jpg");
	if (on) {
		ck_assert_msg(log_count(" read ino=") == 0, "no READ reached the daemon");
		ck_assert_msg(log_count(" write ino=") == 0, "no WRITE reached the daemon");
	} else {
		ck_assert_msg(log_count(" read ino=") > 0, "the daemon served the reads");
		ck_assert_msg(log_count(" write ino=") > 0, "the daemon served the write");
	}
	ck_assert_msg(log_count(" open ino=") == 2 && log_count(" release ino=") == 2,
		      "the daemon saw each open and release either way");
	/* A small file is the daemon's either way. */
	ck_assert_int_eq(harness_read_file(harness_mount_path(&h, "small.jpg"), page,
					   sizeof(page), &len), 0);
	ck_assert_uint_eq(len, SMALL);
	ck_assert_msg(log_count(" read ino=") > 0, "the daemon served the small file");
}
END_TEST

/* Every way of writing is recorded, though the daemon sees no write. */
START_TEST(test_writes_are_tracked_without_write_requests)
{
	char *map;
	size_t len;
	int fd;
	long long written, size;

	mount_with(NULL);
	put_bytes("same.jpg", BIG, 's');
	put_bytes("mapped.jpg", BIG, 'm');
	put_bytes("cut.jpg", BIG, 'c');
	written = catalog_field("same.jpg", "last_written_ms");

	/* The same size, other bytes: only the times tell. */
	harness_sleep_ms(20);
	fd = open(harness_mount_path(&h, "same.jpg"), O_WRONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, "SSSS", 4, 0), 4);
	ck_assert_int_eq(close(fd), 0);
	app_wait_closed(&app, "same.jpg");
	ck_assert_msg(catalog_field("same.jpg", "last_written_ms") > written,
		      "an overwrite in place is recorded");

	/* A shared mapping written through. */
	fd = open(harness_mount_path(&h, "mapped.jpg"), O_RDWR);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, BIG + 8192), 0);
	map = mmap(NULL, BIG + 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ck_assert_ptr_ne(map, MAP_FAILED);
	memset(map + BIG + 4096, 'M', 4096);
	ck_assert_int_eq(msync(map, BIG + 8192, MS_SYNC), 0);
	ck_assert_int_eq(munmap(map, BIG + 8192), 0);
	ck_assert_int_eq(close(fd), 0);
	app_wait_closed(&app, "mapped.jpg");
	ck_assert_int_eq(catalog_field("mapped.jpg", "size"), BIG + 8192);
	ck_assert_int_eq(harness_read_file(harness_backing_path(&h, "mapped.jpg"), page,
					   sizeof(page), &len), 0);
	ck_assert_msg(len == BIG + 8192 && page[BIG + 4096] == 'M' && page[BIG + 8191] == 'M',
		      "the mapping's writes reached BACKING");

	/* Truncated by handle. */
	fd = open(harness_mount_path(&h, "cut.jpg"), O_WRONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 10), 0);
	ck_assert_int_eq(close(fd), 0);
	app_wait_closed(&app, "cut.jpg");
	size = catalog_field("cut.jpg", "size");
	ck_assert_msg(size == 10, "the truncation is recorded (size %lld)", size);

	/* Created and written in one go: the size reaches the catalog. */
	put_bytes("new.jpg", 12345, 'n');
	ck_assert_int_eq(catalog_field("new.jpg", "size"), 12345);
}
END_TEST

/* All handles of a file open at once share one backing file: reads see
 * writes, and the next opens after every close work again. */
START_TEST(test_handles_of_one_file_share_its_backing)
{
	char buf[16];
	int reader, writer, again;

	mount_with(NULL);
	put_bytes("shared.jpg", BIG, 'x');
	reader = open(harness_mount_path(&h, "shared.jpg"), O_RDONLY);
	ck_assert_int_ge(reader, 0);
	writer = open(harness_mount_path(&h, "shared.jpg"), O_RDWR);
	ck_assert_msg(writer >= 0, "a second open of an open file works: %s", strerror(errno));
	ck_assert_int_eq(pwrite(writer, "yy", 2, 0), 2);
	ck_assert_int_eq(pread(reader, buf, 8, 0), 8);
	ck_assert_msg(!memcmp(buf, "yyxxxxxx", 8), "the reader sees the writer's bytes");
	ck_assert_int_eq(close(reader), 0);
	again = open(harness_mount_path(&h, "shared.jpg"), O_RDONLY);
	ck_assert_int_ge(again, 0);
	ck_assert_int_eq(pread(again, buf, 8, 0), 8);
	ck_assert_int_eq(close(again), 0);
	ck_assert_int_eq(close(writer), 0);
	app_wait_closed(&app, "shared.jpg");
	for (int i = 0; i < 50; i++) {
		again = open(harness_mount_path(&h, "shared.jpg"), i % 2 ? O_RDWR : O_RDONLY);
		ck_assert_msg(again >= 0, "open %d after every close: %s", i, strerror(errno));
		ck_assert_int_eq(pread(again, buf, 8, 0), 8);
		ck_assert_int_eq(close(again), 0);
	}
	ck_assert_msg(!memcmp(buf, "yyxxxxxx", 8), "the bytes are the file's");
}
END_TEST

/* A file open for reading keeps being read after the checker moves it. */
START_TEST(test_open_file_reads_on_after_a_move)
{
	char buf[8], *dump;
	json_t *r = NULL;
	int fd, status;

	mount_with(NULL);
	/* A source with no reference at all holds the scan: one is kept. */
	put_bytes("kept.jpg", 8, 'k');
	app_insert(&app, "photo.image", "kept.jpg");
	put_bytes("orphan.jpg", BIG, 'o');
	fd = open(harness_mount_path(&h, "orphan.jpg"), O_RDONLY);
	ck_assert_int_ge(fd, 0);
	status = app_mediactl(&app, &r, "scan", NULL);
	dump = json_dumps(r, 0);
	ck_assert_msg(status == 0, "the scan runs: %s", dump);
	free(dump);
	json_decref(r);
	ck_assert_int_eq(app_in_quarantine(&app, "orphan.jpg"), 1);
	ck_assert_int_eq(pread(fd, buf, 8, 0), 8);
	ck_assert_msg(!memcmp(buf, "oooooooo", 8), "the open handle reads the moved file");
	ck_assert_int_eq(close(fd), 0);
}
END_TEST

/* The log says why passthrough is off. */
START_TEST(test_the_log_says_why_it_is_off)
{
	const char *forced = getenv("MEDIAFS_TEST_OPTIONS");

	ck_assert_msg(!mount_with("writeback"), "no passthrough with the writeback cache");
	if (forced && strstr(forced, "nopassthrough"))
		ck_assert(harness_log_contains(&h, "turned off with -o nopassthrough"));
	else
		ck_assert_msg(harness_log_contains(&h, "the writeback cache was asked for"),
			      "the log names the writeback cache");
	ck_assert_int_eq(harness_unmount(&h), 0);
	ck_assert_msg(!mount_with("nopassthrough"), "-o nopassthrough turns it off");
	ck_assert(harness_log_contains(&h, "turned off with -o nopassthrough"));
}
END_TEST

/* Is path the root of a mount (of any filesystem)? */
static bool is_mount_root(const char *path)
{
	struct statx stx;

	ck_assert_int_eq(statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx), 0);
	ck_assert_msg(stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT, "statx tells mount roots");
	return stx.stx_attributes & STATX_ATTR_MOUNT_ROOT;
}

/* -o direct=DIR: BACKING read-only at DIR, for a web server; gone at the
 * unmount; never inside BACKING. */
START_TEST(test_direct_view_is_read_only_and_goes_with_the_mount)
{
	char dir[700], option[800], bad[800], path[900], buf[16];
	const char *args[] = { "-o", option, NULL };
	struct stat st;
	size_t len;

	snprintf(dir, sizeof(dir), "%s/direct", h.dir);
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	snprintf(option, sizeof(option), "direct=%s", dir);
	mount_with(option);
	ck_assert_msg(is_mount_root(dir), "the view is attached at %s", dir);
	put_bytes("served.jpg", 12, 'w');
	snprintf(path, sizeof(path), "%s/served.jpg", dir);
	ck_assert_int_eq(harness_read_file(path, buf, sizeof(buf), &len), 0);
	ck_assert_msg(len == 12 && buf[0] == 'w', "the view shows what the mount wrote");
	ck_assert_msg(open(path, O_WRONLY) < 0 && errno == EROFS, "the view is read-only");
	snprintf(path, sizeof(path), "%s/new.jpg", dir);
	ck_assert_msg(open(path, O_WRONLY | O_CREAT, 0644) < 0 && errno == EROFS,
		      "nothing is created through the view");
	snprintf(path, sizeof(path), "%s/.mediafs", dir);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_msg((st.st_mode & 0077) == 0, "the state directory is the daemon's alone");
	ck_assert_int_eq(harness_unmount(&h), 0);
	ck_assert_msg(!is_mount_root(dir), "the view goes with the mount");

	/* Inside BACKING: refused, nothing mounted. */
	snprintf(bad, sizeof(bad), "%s/inside", h.backing);
	ck_assert_int_eq(mkdir(bad, 0755), 0);
	snprintf(option, sizeof(option), "config=%s,direct=%s", app.config_path, bad);
	ck_assert_int_eq(harness_mount(&h, args), -1);
	ck_assert(harness_log_contains(&h, "must lie outside BACKING"));
	ck_assert_msg(!is_mount_root(bad), "no view inside BACKING");
}
END_TEST

static Suite *passthrough_suite(void)
{
	Suite *s = suite_create("fuse-passthrough");
	TCase *tc = tcase_create("passthrough");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_reads_and_writes_skip_the_daemon_when_on);
	tcase_add_test(tc, test_writes_are_tracked_without_write_requests);
	tcase_add_test(tc, test_handles_of_one_file_share_its_backing);
	tcase_add_test(tc, test_open_file_reads_on_after_a_move);
	tcase_add_test(tc, test_the_log_says_why_it_is_off);
	tcase_add_test(tc, test_direct_view_is_read_only_and_goes_with_the_mount);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *runner;
	int failed;

	harness_require_fuse();
	app_require_mediactl();
	runner = srunner_create(passthrough_suite());
	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? 1 : 0;
}
