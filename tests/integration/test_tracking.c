/*
 * Integration tests of the catalog through a real mount: each operation
 * leaves the expected rows and audit entries, a directory rename of 1,000
 * files, adoption of files that appeared or vanished behind the daemon's
 * back, and crashes (SIGKILL during a burst of writes and renames)
 * after which catalog and disk agree.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "app_harness.h"

enum { WAIT_MS = 5000 };

static struct mount_harness h;

static void setup(void)
{
	ck_assert_int_eq(harness_init(&h, "tracking"), 0);
}

static void teardown(void)
{
	harness_destroy(&h);
}

static void mount_and_wait_adoption(const char *const args[])
{
	harness_clear_log(&h);
	ck_assert_int_eq(harness_mount(&h, args), 0);
	ck_assert_msg(harness_wait_log(&h, "adoption: ", WAIT_MS) &&
		      harness_wait_log(&h, " adopted, ", WAIT_MS), "adoption completes");
}

/* A number from the catalog (read-only connection; -1 on error). */
static long long catalog_number(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static long long catalog_number(const char *fmt, ...)
{
	char path[1024], sql[4096];
	sqlite3 *db;
	sqlite3_stmt *st;
	long long n = -1;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	snprintf(path, sizeof(path), "%s/.mediafs/catalog.db", h.backing);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		sqlite3_close(db);
		return -1;
	}
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			n = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	return n;
}

struct query_expectation {
	char sql[4096];
	long long expected;
};

static bool query_matches(void *ctx)
{
	struct query_expectation *q = ctx;

	return catalog_number("%s", q->sql) == q->expected;
}

/* Poll until the query returns expected (events commit in groups). */
#define assert_eventually(expected_value, ...)                                         \
	do {                                                                           \
		struct query_expectation q_ = { .expected = (expected_value) };        \
		snprintf(q_.sql, sizeof(q_.sql), __VA_ARGS__);                          \
		ck_assert_msg(harness_wait_until(query_matches, &q_, WAIT_MS),          \
			      "'%s' gives %lld, expected %lld", q_.sql,                 \
			      catalog_number("%s", q_.sql), q_.expected);               \
	} while (0)

static const char *mnt(const char *rel)
{
	return harness_mount_path(&h, rel);
}

#define LIVE(path) "SELECT count(*) FROM files WHERE path = CAST('" path "' AS BLOB)" \
		   " AND state = 'live'"
#define AUDIT(path, reason) "SELECT count(*) FROM audit WHERE path = CAST('" path \
			    "' AS BLOB) AND reason = '" reason "'"

START_TEST(test_each_operation_is_recorded)
{
	int fd;

	mount_and_wait_adoption(NULL);
	ck_assert_int_eq(mkdir(mnt("d"), 0755), 0);
	fd = open(mnt("d/a.jpg"), O_CREAT | O_WRONLY, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "12345", 5), 5);
	assert_eventually(1, LIVE("d/a.jpg"));
	ck_assert_int_eq(close(fd), 0);
	assert_eventually(5, "SELECT size FROM files WHERE path = CAST('d/a.jpg' AS BLOB)");
	ck_assert_int_eq(truncate(mnt("d/a.jpg"), 2), 0);
	assert_eventually(2, "SELECT size FROM files WHERE path = CAST('d/a.jpg' AS BLOB)");
	assert_eventually(1, AUDIT("d/a.jpg", "created"));

	ck_assert_int_eq(link(mnt("d/a.jpg"), mnt("d/hard.jpg")), 0);
	ck_assert_int_eq(symlink("a.jpg", mnt("d/soft.jpg")), 0);
	ck_assert_int_eq(mknod(mnt("d/node.jpg"), S_IFREG | 0644, 0), 0);
	assert_eventually(1, AUDIT("d/hard.jpg", "linked"));
	assert_eventually(1, LIVE("d/soft.jpg") " AND kind = 'symlink'");
	assert_eventually(1, LIVE("d/node.jpg"));

	ck_assert_int_eq(rename(mnt("d/node.jpg"), mnt("d/moved.jpg")), 0);
	assert_eventually(1, LIVE("d/moved.jpg"));
	assert_eventually(0, LIVE("d/node.jpg"));
	assert_eventually(1, AUDIT("d/moved.jpg", "renamed") " AND detail = 'd/node.jpg'");

	/* A rename over an existing file replaces its row. */
	ck_assert_int_eq(rename(mnt("d/moved.jpg"), mnt("d/hard.jpg")), 0);
	assert_eventually(1, AUDIT("d/hard.jpg", "replaced"));
	assert_eventually(1, LIVE("d/hard.jpg"));

	ck_assert_int_eq(harness_write_file(mnt("d/x.jpg"), "x", 1), 0);
	ck_assert_int_eq(renameat2(AT_FDCWD, mnt("d/x.jpg"), AT_FDCWD, mnt("d/soft.jpg"),
				   RENAME_EXCHANGE), 0);
	assert_eventually(1, LIVE("d/x.jpg") " AND kind = 'symlink'");
	assert_eventually(1, LIVE("d/soft.jpg") " AND kind = 'file'");

	ck_assert_int_eq(unlink(mnt("d/x.jpg")), 0);
	assert_eventually(0, LIVE("d/x.jpg"));
	assert_eventually(1, AUDIT("d/x.jpg", "unlinked"));
	ck_assert_int_eq(harness_unmount(&h), 0);
}
END_TEST

static double elapsed_since(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) + (now.tv_nsec - start->tv_nsec) / 1e9;
}

START_TEST(test_write_is_in_the_catalog_within_a_second)
{
	struct timespec start;

	mount_and_wait_adoption(NULL);
	clock_gettime(CLOCK_MONOTONIC, &start);
	ck_assert_int_eq(harness_write_file(mnt("fresh.jpg"), "abc", 3), 0);
	while (catalog_number("SELECT size FROM files WHERE path = CAST('fresh.jpg' AS BLOB)")
	       != 3 && elapsed_since(&start) < 1.0) {
		struct timespec ms = { .tv_nsec = 1000000 };
		nanosleep(&ms, NULL);
	}
	ck_assert_msg(elapsed_since(&start) < 1.0, "the write was recorded after %.3f s",
		      elapsed_since(&start));
	ck_assert_int_eq(harness_unmount(&h), 0);
}
END_TEST

START_TEST(test_directory_rename_of_1000_files)
{
	char path[PATH_MAX];

	mount_and_wait_adoption(NULL);
	ck_assert_int_eq(mkdir(mnt("album"), 0755), 0);
	for (int s = 0; s < 10; s++) {
		snprintf(path, sizeof(path), "album/s%d", s);
		ck_assert_int_eq(mkdir(mnt(path), 0755), 0);
	}
	for (int i = 0; i < 1000; i++) {
		snprintf(path, sizeof(path), "album/s%d/p%04d.jpg", i % 10, i);
		ck_assert_int_eq(harness_write_file(mnt(path), "p", 1), 0);
	}
	assert_eventually(1000, "SELECT count(*) FROM files WHERE state = 'live'");
	ck_assert_int_eq(rename(mnt("album"), mnt("renamed")), 0);
	assert_eventually(1000, "SELECT count(*) FROM files WHERE state = 'live' AND"
			  " CAST(path AS TEXT) LIKE 'renamed/s_/p____.jpg'");
	assert_eventually(0, "SELECT count(*) FROM files WHERE CAST(path AS TEXT) LIKE 'album/%%'");
	ck_assert_int_eq(harness_unmount(&h), 0);
}
END_TEST

START_TEST(test_adoption_of_files_behind_the_daemons_back)
{
	mount_and_wait_adoption(NULL);
	ck_assert_int_eq(harness_write_file(mnt("tracked.jpg"), "t", 1), 0);
	ck_assert_int_eq(harness_write_file(mnt("doomed.jpg"), "d", 1), 0);
	assert_eventually(2, "SELECT count(*) FROM files WHERE state = 'live'");
	ck_assert_int_eq(harness_unmount(&h), 0);

	/* While unmounted, someone adds and removes files in BACKING. */
	ck_assert_int_eq(mkdir(harness_backing_path(&h, "sideload"), 0755), 0);
	ck_assert_int_eq(harness_write_file(harness_backing_path(&h, "sideload/new.jpg"),
					    "n", 1), 0);
	ck_assert_int_eq(unlink(harness_backing_path(&h, "doomed.jpg")), 0);

	mount_and_wait_adoption(NULL);
	assert_eventually(1, LIVE("sideload/new.jpg") " AND state_reason = 'adopted'");
	assert_eventually(1, "SELECT count(*) FROM files WHERE path = CAST('doomed.jpg' AS BLOB)"
			  " AND state = 'missing'");
	assert_eventually(1, AUDIT("doomed.jpg", "not found when mounted"));
	assert_eventually(1, LIVE("tracked.jpg"));
	ck_assert_msg(harness_log_contains(&h, "1 adopted") &&
		      harness_log_contains(&h, "1 missing"), "the adoption is logged");
	ck_assert_int_eq(harness_unmount(&h), 0);
}
END_TEST

START_TEST(test_tracking_off_records_nothing)
{
	static const char *const args[] = { "-o", "notrack", NULL };

	ck_assert_int_eq(harness_mount(&h, args), 0);
	ck_assert_int_eq(harness_write_file(mnt("untracked.jpg"), "u", 1), 0);
	ck_assert_int_eq(harness_unmount(&h), 0);
	ck_assert_msg(catalog_number(LIVE("untracked.jpg")) <= 0,
		      "with notrack the catalog does not learn of the file");
}
END_TEST

START_TEST(test_catalog_works_when_mounted_over_backing)
{
	ck_assert_int_eq(harness_mount_at(&h, h.backing, h.backing, NULL), 0);
	ck_assert_int_eq(harness_write_file(harness_backing_path(&h, "over.jpg"), "o", 1), 0);
	ck_assert_int_eq(harness_unmount(&h), 0);
	ck_assert_int_eq(catalog_number(LIVE("over.jpg")), 1);
}
END_TEST

/* ---- crash test ---- */

/* Renames and writes in a loop until killed or the mount dies. */
static void burst(const char *root, unsigned seed)
{
	char a[PATH_MAX], b[PATH_MAX], dir[PATH_MAX];

	srand(seed);
	for (long i = 0;; i++) {
		int d = rand() % 8;
		snprintf(dir, sizeof(dir), "%s/dir%d", root, d);
		mkdir(dir, 0755);
		snprintf(a, sizeof(a), "%s/f%ld.jpg", dir, i);
		int fd = open(a, O_CREAT | O_WRONLY | O_TRUNC, 0644);
		if (fd < 0) {
			if (errno == ENOTCONN || errno == ENOENT)
				_exit(0);
			continue;
		}
		if (write(fd, a, strlen(a)) < 0 && errno == ENOTCONN)
			_exit(0);
		close(fd);
		switch (rand() % 4) {
		case 0:
			snprintf(b, sizeof(b), "%s/dir%d/r%ld.jpg", root, rand() % 8, i);
			rename(a, b);
			break;
		case 1:
			unlink(a);
			break;
		case 2:
			snprintf(b, sizeof(b), "%s/moved%ld", root, i);
			if (rename(dir, b) == 0)
				rename(b, dir);
			break;
		default:
			break;
		}
	}
}

struct disk_scan {
	char root[PATH_MAX];
	long files;
	long untracked;
	char first_untracked[PATH_MAX];
};

static void scan_disk(struct disk_scan *scan, const char *rel)
{
	char path[PATH_MAX * 2];
	DIR *dir;
	struct dirent *d;

	snprintf(path, sizeof(path), "%s%s%s", scan->root, rel[0] ? "/" : "", rel);
	dir = opendir(path);
	ck_assert_ptr_nonnull(dir);
	while ((d = readdir(dir))) {
		char sub[PATH_MAX];
		if (d->d_name[0] == '.' && (!d->d_name[1] || !strcmp(d->d_name, "..") ||
					    !strcmp(d->d_name, ".mediafs")))
			continue;
		snprintf(sub, sizeof(sub), "%s%s%s", rel, rel[0] ? "/" : "", d->d_name);
		if (d->d_type == DT_DIR) {
			scan_disk(scan, sub);
			continue;
		}
		scan->files++;
		if (catalog_number("SELECT count(*) FROM files WHERE path = CAST('%s' AS BLOB)"
				   " AND state = 'live'", sub) != 1) {
			if (!scan->untracked++)
				snprintf(scan->first_untracked, PATH_MAX, "%s", sub);
		}
	}
	closedir(dir);
}

struct live_check {
	long live;
	long absent;
	char first_absent[PATH_MAX];
};

static void check_live_rows(struct live_check *check)
{
	char path[1024];
	sqlite3 *db;
	sqlite3_stmt *st;

	snprintf(path, sizeof(path), "%s/.mediafs/catalog.db", h.backing);
	ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT CAST(path AS TEXT) FROM files"
					    " WHERE state = 'live'", -1, &st, NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *rel = (const char *)sqlite3_column_text(st, 0);
		struct stat sb;
		check->live++;
		if (lstat(harness_backing_path(&h, rel), &sb) != 0 && !check->absent++)
			snprintf(check->first_absent, sizeof(check->first_absent), "%s", rel);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
}

START_TEST(test_catalog_agrees_with_disk_after_sigkill)
{
	for (int round = 0; round < 3; round++) {
		struct disk_scan scan = { 0 };
		struct live_check check = { 0 };
		pid_t writer;
		int status;

		mount_and_wait_adoption(NULL);
		writer = fork();
		if (writer == 0)
			burst(h.mountpoint, (unsigned)(round + 1));
		struct timespec pause = { .tv_nsec = (200 + 150 * round) * 1000000L };
		nanosleep(&pause, NULL);
		harness_kill(&h);
		kill(writer, SIGKILL);
		waitpid(writer, &status, 0);

		mount_and_wait_adoption(NULL);
		ck_assert_int_eq(harness_unmount(&h), 0);
		snprintf(scan.root, sizeof(scan.root), "%s", h.backing);
		scan_disk(&scan, "");
		check_live_rows(&check);
		ck_assert_msg(scan.files > 0, "round %d: the burst wrote files", round);
		ck_assert_msg(scan.untracked == 0,
			      "round %d: %ld of %ld files on disk have no live row (e.g. '%s')",
			      round, scan.untracked, scan.files, scan.first_untracked);
		ck_assert_msg(check.absent == 0,
			      "round %d: %ld of %ld live rows have no file (e.g. '%s')",
			      round, check.absent, check.live, check.first_absent);
		ck_assert_int_eq(check.live, scan.files);
	}
}
END_TEST

static Suite *tracking_suite(void)
{
	Suite *s = suite_create("tracking");
	TCase *ops = tcase_create("operations");
	TCase *crash = tcase_create("crash");

	tcase_add_checked_fixture(ops, setup, teardown);
	tcase_set_timeout(ops, 120);
	tcase_add_test(ops, test_each_operation_is_recorded);
	tcase_add_test(ops, test_write_is_in_the_catalog_within_a_second);
	tcase_add_test(ops, test_directory_rename_of_1000_files);
	tcase_add_test(ops, test_adoption_of_files_behind_the_daemons_back);
	tcase_add_test(ops, test_tracking_off_records_nothing);
	tcase_add_test(ops, test_catalog_works_when_mounted_over_backing);
	suite_add_tcase(s, ops);

	tcase_add_checked_fixture(crash, setup, teardown);
	tcase_set_timeout(crash, 300);
	tcase_add_test(crash, test_catalog_agrees_with_disk_after_sigkill);
	suite_add_tcase(s, crash);
	return s;
}

int main(void)
{
	int failed;

	harness_require_fuse();
	failed = app_run_suite(tracking_suite());
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
