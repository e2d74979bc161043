/*
 * Unit tests for fs/safekeep.c without a mount: the struct mediafs that
 * the module needs (a store on a temporary BACKING, its quarantine, the
 * path maps and a real catalog writer on a real SQLite catalog), and the
 * calls that the FUSE handlers make, with BACKING's root as the parent.
 * An unlink or a replace goes to the quarantine and the catalog says so;
 * temporary files and what is not a file go for good; a lookup brings a
 * file that a scan quarantined back once per file, and only that; failures
 * injected through store_ops refuse the request and keep the file.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog.h"
#include "events.h"
#include "pathmap.h"
#include "safekeep.h"
#include "track.h"

static char backing[] = "/tmp/mediafs-test-safekeep-XXXXXX";
static char catalog_path[PATH_MAX];
static struct mediafs fs;
static struct inode *root;
static int root_fd;

enum { HOUR_MS = 3600 * 1000 };

static void sh(const char *cmd)
{
	char full[2048];

	snprintf(full, sizeof(full), "cd '%s' && %s", backing, cmd);
	ck_assert_msg(system(full) == 0, "%s", cmd);
}

static int stat_rel(const char *rel, struct stat *sb)
{
	char path[1024];

	snprintf(path, sizeof(path), "%s/%s", backing, rel);
	return lstat(path, sb) == 0 ? 0 : -errno;
}

static bool exists_rel(const char *rel)
{
	struct stat sb;

	return stat_rel(rel, &sb) == 0;
}

static ino_t ino_of(const char *rel)
{
	struct stat sb;

	ck_assert_msg(stat_rel(rel, &sb) == 0, "'%s' exists", rel);
	return sb.st_ino;
}

/* Open the catalog, the quarantine and the writer, as the daemon does
 * before it mounts. */
static void start(void)
{
	char error[1024];
	struct catalog *cat;

	ck_assert_int_eq(events_start(catalog_path, &fs.store, false, &fs.events, error,
				      sizeof(error)), 0);
	ck_assert_msg(catalog_open(catalog_path, false, &cat, error, sizeof(error)) == 0, "%s",
		      error);
	ck_assert_int_eq(safekeep_open(&fs, cat), 0);
	catalog_close(cat);
}

static void stop(void)
{
	safekeep_close(&fs);
	events_stop(fs.events);
	fs.events = NULL;
}

static void setup(void)
{
	char why[1024];

	memset(&fs, 0, sizeof(fs));
	strcpy(backing, "/tmp/mediafs-test-safekeep-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(backing));
	ck_assert_msg(store_open(&fs.store, backing, why, sizeof(why)) == 0, "%s", why);
	ck_assert_int_eq(store_state_path(&fs.store, CATALOG_FILE_NAME, catalog_path,
					  sizeof(catalog_path)), 0);
	ck_assert_int_eq(quarantine_open(&fs.quarantine, &fs.store), 0);
	fs.quarantined = pathmap_new();
	fs.quarantined_dirs = pathmap_new();
	fs.young_referenced = pathmap_new();
	ck_assert_msg(fs.quarantined && fs.quarantined_dirs && fs.young_referenced, "maps");
	fs.settings.restore_on_access = true;
	fs.settings.temp_max_age_ms = 0;	/* no file is temporary unless a test says so */
	root = &fs.inodes.root;
	root_fd = fs.store.root_fd;
	start();
	sh("mkdir -p a/b && echo photo > a/b/f.jpg && echo top > top.jpg");
}

static void teardown(void)
{
	char cmd[512];

	stop();
	pathmap_free(fs.quarantined);
	pathmap_free(fs.quarantined_dirs);
	pathmap_free(fs.young_referenced);
	quarantine_close(&fs.quarantine);
	store_close(&fs.store);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", backing);
	ck_assert_int_eq(system(cmd), 0);
}

/* ------------------------------------------------------------------ */
/* What the catalog says                                                 */
/* ------------------------------------------------------------------ */

struct found_row {
	int rows;
	enum catalog_state state;
	char reason[64];
	char qname[QUARANTINE_NAME_BYTES];
	int64_t access_restores;
};

static int note_row(void *ctx, const struct catalog_row *row)
{
	struct found_row *f = ctx;

	/* Tombstones of earlier files at the path come first. */
	f->rows++;
	f->state = row->state;
	snprintf(f->reason, sizeof(f->reason), "%s", row->state_reason ? row->state_reason : "");
	snprintf(f->qname, sizeof(f->qname), "%s", row->quarantine_name ? row->quarantine_name : "");
	f->access_restores = row->access_restores;
	return 0;
}

/* The newest row of path, once every event queued is in the catalog. */
static struct found_row catalog_row(const char *path)
{
	struct catalog_filter filter = { .state = -1, .path = path };
	struct found_row found = { 0 };
	char error[1024];
	struct catalog *cat;

	events_flush(fs.events);
	ck_assert_msg(catalog_open(catalog_path, false, &cat, error, sizeof(error)) == 0, "%s",
		      error);
	ck_assert_int_eq(catalog_query_rows(cat, &filter, note_row, &found), 0);
	catalog_close(cat);
	return found;
}

/* path (under BACKING's root) is new and known to the catalog. */
static void created(const char *name)
{
	struct stat sb;

	ck_assert_int_eq(store_stat_at(root_fd, name, &sb), 0);
	ck_assert_msg(track_created(&fs, root, root_fd, name, &sb, false), "queued");
}

/* What the checker does to path when a scan finds it unreferenced. */
static void quarantine_by_scan(const char *path, const char *id, char *qname)
{
	struct stat sb;

	ck_assert_int_eq(stat_rel(path, &sb), 0);
	ck_assert_int_eq(quarantine_move(&fs.quarantine, path, id, sb.st_ino, qname,
					 QUARANTINE_NAME_BYTES), 0);
	track_quarantined(&fs, path, qname, "unreferenced", &sb);
	safekeep_index_add(&fs, path, qname);
}

static int count_file(void *ctx, const char *qname, const struct stat *sb)
{
	(void)qname, (void)sb;
	++*(int *)ctx;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Failures through store_ops                                            */
/* ------------------------------------------------------------------ */

static int fail_errno;

static int failing_renameat2(int olddirfd, const char *oldpath, int newdirfd,
			     const char *newpath, unsigned int flags)
{
	(void)olddirfd, (void)oldpath, (void)newdirfd, (void)newpath, (void)flags;
	errno = fail_errno;
	return -1;
}

static int failing_linkat(int olddirfd, const char *oldpath, int newdirfd,
			  const char *newpath, int flags)
{
	(void)olddirfd, (void)oldpath, (void)newdirfd, (void)newpath, (void)flags;
	errno = fail_errno;
	return -1;
}

static struct store_ops test_ops;

static void fail_with(int err, bool rename, bool link)
{
	test_ops = store_kernel_ops;
	if (rename)
		test_ops.renameat2 = failing_renameat2;
	if (link)
		test_ops.linkat = failing_linkat;
	fail_errno = err;
	fs.store.ops = &test_ops;
}

/* ------------------------------------------------------------------ */
/* Unlink                                                                */
/* ------------------------------------------------------------------ */

START_TEST(test_unlinked_file_goes_to_the_quarantine_and_the_catalog_says_so)
{
	char qname[QUARANTINE_NAME_BYTES];
	ino_t ino = ino_of("top.jpg");
	struct found_row row;
	struct stat sb;

	created("top.jpg");
	ck_assert_int_eq(safekeep_unlink(&fs, root, root_fd, "top.jpg"), 0);
	ck_assert_msg(!exists_rel("top.jpg"), "the name is gone");
	ck_assert_msg(pathmap_get(fs.quarantined, "top.jpg", qname, sizeof(qname)),
		      "the index knows it");
	ck_assert_msg(qname[0] == 'u' && !strcmp(quarantine_original_path(qname), "top.jpg"),
		      "an unlink's name: '%s'", qname);
	ck_assert_int_eq(quarantine_stat(&fs.quarantine, qname, &sb), 0);
	ck_assert_uint_eq(sb.st_ino, ino);
	row = catalog_row("top.jpg");
	ck_assert_int_eq(row.state, CATALOG_QUARANTINED);
	ck_assert_str_eq(row.reason, "unlinked");
	ck_assert_str_eq(row.qname, qname);
}
END_TEST

START_TEST(test_temporary_file_goes_for_good)
{
	struct found_row row;
	int files = 0;

	fs.settings.temp_max_age_ms = HOUR_MS;
	created("top.jpg");
	ck_assert_int_eq(catalog_row("top.jpg").rows, 1);
	ck_assert_int_eq(safekeep_unlink(&fs, root, root_fd, "top.jpg"), 0);
	ck_assert_msg(!exists_rel("top.jpg"), "the name is gone");
	ck_assert_msg(!pathmap_get(fs.quarantined, "top.jpg", NULL, 0), "nothing is indexed");
	row = catalog_row("top.jpg");
	ck_assert_msg(row.rows == 0, "the catalog forgets it");
	ck_assert_int_eq(quarantine_each(&fs.quarantine, count_file, &files), 0);
	ck_assert_int_eq(files, 0);
}
END_TEST

START_TEST(test_young_file_a_scan_found_referenced_is_kept)
{
	fs.settings.temp_max_age_ms = HOUR_MS;
	ck_assert_int_ge(pathmap_put(fs.young_referenced, "top.jpg", "", 0), 0);
	ck_assert_int_eq(safekeep_unlink(&fs, root, root_fd, "top.jpg"), 0);
	ck_assert_msg(!exists_rel("top.jpg"), "the name is gone");
	ck_assert_msg(pathmap_get(fs.quarantined, "top.jpg", NULL, 0), "but the file is kept");
}
END_TEST

START_TEST(test_what_is_not_a_file_goes_for_good)
{
	sh("mkfifo pipe");
	ck_assert_int_eq(safekeep_unlink(&fs, root, root_fd, "pipe"), 0);
	ck_assert_msg(!exists_rel("pipe"), "the fifo is gone");
	ck_assert_msg(!pathmap_get(fs.quarantined, "pipe", NULL, 0), "and not kept");
}
END_TEST

START_TEST(test_symbolic_link_is_kept_like_a_file)
{
	sh("ln -s top.jpg link.jpg");
	ck_assert_int_eq(safekeep_unlink(&fs, root, root_fd, "link.jpg"), 0);
	ck_assert_msg(!exists_rel("link.jpg"), "the name is gone");
	ck_assert_msg(pathmap_get(fs.quarantined, "link.jpg", NULL, 0), "the link is kept");
	ck_assert_msg(exists_rel("top.jpg"), "its target is left alone");
}
END_TEST

START_TEST(test_unlink_that_cannot_keep_the_file_is_refused)
{
	ino_t ino = ino_of("top.jpg");

	fail_with(EIO, true, false);
	ck_assert_int_eq(safekeep_unlink(&fs, root, root_fd, "top.jpg"), -EIO);
	ck_assert_msg(ino_of("top.jpg") == ino, "the file is not removed");
	ck_assert_msg(!pathmap_get(fs.quarantined, "top.jpg", NULL, 0), "nothing is indexed");
}
END_TEST

START_TEST(test_file_on_another_filesystem_is_removed_for_good)
{
	created("top.jpg");
	ck_assert_int_eq(catalog_row("top.jpg").rows, 1);
	fail_with(EXDEV, true, false);
	ck_assert_int_eq(safekeep_unlink(&fs, root, root_fd, "top.jpg"), 0);
	ck_assert_msg(!exists_rel("top.jpg"), "no rename can keep it: it goes");
	ck_assert_msg(catalog_row("top.jpg").rows == 0, "the catalog forgets it");
}
END_TEST

START_TEST(test_without_tracking_unlink_is_plain)
{
	struct events *events = fs.events;

	fs.events = NULL;
	ck_assert_msg(!safekeep_enabled(&fs), "off without tracking");
	ck_assert_int_eq(safekeep_unlink(&fs, root, root_fd, "top.jpg"), 0);
	fs.events = events;
	ck_assert_msg(!exists_rel("top.jpg"), "the name is gone");
	ck_assert_msg(!pathmap_get(fs.quarantined, "top.jpg", NULL, 0), "and not kept");
}
END_TEST

/* A directory chain whose files have paths longer than PATH_MAX; returns a
 * descriptor on the deepest directory. */
static int make_deep_directory(void)
{
	char name[200];
	int fd = dup(root_fd), next;

	memset(name, 'd', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	ck_assert_int_ge(fd, 0);
	for (int depth = 0; depth < PATH_MAX / (int)sizeof(name) + 2; depth++) {
		ck_assert_int_eq(mkdirat(fd, name, 0755), 0);
		next = openat(fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW);
		ck_assert_int_ge(next, 0);
		close(fd);
		fd = next;
	}
	return fd;
}

START_TEST(test_file_whose_path_cannot_be_recorded_is_refused_unless_temporary)
{
	int deep = make_deep_directory();
	struct stat sb;

	/* parent is any inode but the root: the path is asked of deep. */
	ck_assert_int_eq(mknodat(deep, "old.jpg", S_IFREG | 0644, 0), 0);
	ck_assert_int_eq(safekeep_unlink(&fs, NULL, deep, "old.jpg"), -ENAMETOOLONG);
	ck_assert_int_eq(fstatat(deep, "old.jpg", &sb, AT_SYMLINK_NOFOLLOW), 0);
	fs.settings.temp_max_age_ms = HOUR_MS;
	ck_assert_int_eq(safekeep_unlink(&fs, NULL, deep, "old.jpg"), 0);
	ck_assert_int_eq(fstatat(deep, "old.jpg", &sb, AT_SYMLINK_NOFOLLOW), -1);
	close(deep);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Replace                                                               */
/* ------------------------------------------------------------------ */

START_TEST(test_replaced_file_is_linked_and_recorded_after_the_rename)
{
	struct safekeep_replace replace;
	ino_t ino = ino_of("top.jpg");
	char qname[QUARANTINE_NAME_BYTES];
	struct found_row row;
	struct stat sb;

	created("top.jpg");
	ck_assert_int_eq(safekeep_replace_begin(&fs, root, root_fd, "top.jpg", &replace), 0);
	ck_assert_msg(replace.active, "a link was made");
	ck_assert_str_eq(replace.path, "top.jpg");
	ck_assert_int_eq(quarantine_stat(&fs.quarantine, replace.qname, &sb), 0);
	ck_assert_uint_eq(sb.st_ino, ino);
	sh("echo new > new.jpg && mv new.jpg top.jpg");
	safekeep_replace_end(&fs, &replace, true);
	ck_assert_msg(pathmap_get(fs.quarantined, "top.jpg", qname, sizeof(qname)), "indexed");
	ck_assert_str_eq(qname, replace.qname);
	row = catalog_row("top.jpg");
	ck_assert_int_eq(row.state, CATALOG_QUARANTINED);
	ck_assert_str_eq(row.reason, "replaced");
}
END_TEST

START_TEST(test_failed_rename_takes_the_link_away)
{
	struct safekeep_replace replace;
	struct stat sb;

	ck_assert_int_eq(safekeep_replace_begin(&fs, root, root_fd, "top.jpg", &replace), 0);
	ck_assert_msg(replace.active, "a link was made");
	safekeep_replace_end(&fs, &replace, false);
	ck_assert_int_eq(quarantine_stat(&fs.quarantine, replace.qname, &sb), -ENOENT);
	ck_assert_msg(!pathmap_get(fs.quarantined, "top.jpg", NULL, 0), "nothing is indexed");
	ck_assert_msg(exists_rel("top.jpg"), "the file is left alone");
}
END_TEST

START_TEST(test_rename_onto_nothing_needs_no_link)
{
	struct safekeep_replace replace;

	ck_assert_int_eq(safekeep_replace_begin(&fs, root, root_fd, "none.jpg", &replace), 0);
	ck_assert_msg(!replace.active, "nothing to keep");
	fs.settings.temp_max_age_ms = HOUR_MS;
	ck_assert_int_eq(safekeep_replace_begin(&fs, root, root_fd, "top.jpg", &replace), 0);
	ck_assert_msg(!replace.active, "a temporary file is not kept");
}
END_TEST

START_TEST(test_replace_that_cannot_keep_the_file_is_refused)
{
	struct safekeep_replace replace;

	fail_with(ENOSPC, false, true);
	ck_assert_int_eq(safekeep_replace_begin(&fs, root, root_fd, "top.jpg", &replace),
			 -ENOSPC);
	ck_assert_msg(!replace.active, "no link");
	fail_with(EXDEV, false, true);
	ck_assert_int_eq(safekeep_replace_begin(&fs, root, root_fd, "top.jpg", &replace), 0);
	ck_assert_msg(!replace.active, "across filesystems the rename goes on unkept");
}
END_TEST

/* ------------------------------------------------------------------ */
/* Restore on access                                                     */
/* ------------------------------------------------------------------ */

START_TEST(test_lookup_brings_a_scan_quarantined_file_back_once)
{
	char qname[QUARANTINE_NAME_BYTES];
	struct safekeep_requests requests;
	ino_t ino = ino_of("top.jpg");
	struct found_row row;

	created("top.jpg");
	quarantine_by_scan("top.jpg", "s1", qname);
	ck_assert_int_eq(safekeep_restore_on_access(&fs, root, root_fd, "top.jpg"), 0);
	ck_assert_msg(ino_of("top.jpg") == ino, "the file is back");
	ck_assert_msg(!pathmap_get(fs.quarantined, "top.jpg", NULL, 0), "and left the index");
	row = catalog_row("top.jpg");
	ck_assert_int_eq(row.state, CATALOG_LIVE);
	ck_assert_int_eq(row.access_restores, 1);
	ck_assert_uint_eq(atomic_load(&fs.restores_by_access), 1);

	/* The next scan quarantines it again: a lookup leaves it there, and
	 * the request is counted. */
	quarantine_by_scan("top.jpg", "s2", qname);
	ck_assert_int_eq(safekeep_restore_on_access(&fs, root, root_fd, "top.jpg"), -ENOENT);
	ck_assert_int_eq(safekeep_restore_on_access(&fs, root, root_fd, "top.jpg"), -ENOENT);
	ck_assert_msg(!exists_rel("top.jpg"), "it stays quarantined");
	safekeep_get_requests(&fs, &requests);
	ck_assert_uint_eq(requests.files, 1);
	ck_assert_uint_eq(requests.requests, 2);
	ck_assert_uint_eq(requests.example_count, 1);
	ck_assert_str_eq(requests.examples[0], "top.jpg");
	/* An admin's restore (the index forgets it) clears the request. */
	safekeep_index_remove(&fs, "top.jpg", qname);
	safekeep_get_requests(&fs, &requests);
	ck_assert_uint_eq(requests.files, 0);
}
END_TEST

START_TEST(test_once_per_file_holds_across_a_restart)
{
	char qname[QUARANTINE_NAME_BYTES];

	created("top.jpg");
	quarantine_by_scan("top.jpg", "s1", qname);
	ck_assert_int_eq(safekeep_restore_on_access(&fs, root, root_fd, "top.jpg"), 0);
	ck_assert_int_eq(catalog_row("top.jpg").access_restores, 1);
	stop();
	start();
	quarantine_by_scan("top.jpg", "s2", qname);
	ck_assert_int_eq(safekeep_restore_on_access(&fs, root, root_fd, "top.jpg"), -ENOENT);
	ck_assert_msg(!exists_rel("top.jpg"), "the catalog remembers the first restore");
}
END_TEST

START_TEST(test_what_was_deleted_through_the_mount_stays_deleted)
{
	struct safekeep_requests requests;

	ck_assert_int_eq(safekeep_unlink(&fs, root, root_fd, "top.jpg"), 0);
	ck_assert_int_eq(safekeep_restore_on_access(&fs, root, root_fd, "top.jpg"), -ENOENT);
	ck_assert_msg(!exists_rel("top.jpg"), "a lookup never brings it back");
	safekeep_get_requests(&fs, &requests);
	ck_assert_uint_eq(requests.requests, 0);
}
END_TEST

START_TEST(test_without_restore_on_access_a_lookup_is_an_alarm)
{
	char qname[QUARANTINE_NAME_BYTES];
	struct safekeep_requests requests;

	fs.settings.restore_on_access = false;
	quarantine_by_scan("top.jpg", "s1", qname);
	ck_assert_int_eq(safekeep_restore_on_access(&fs, root, root_fd, "top.jpg"), -ENOENT);
	ck_assert_msg(!exists_rel("top.jpg"), "it stays quarantined");
	safekeep_get_requests(&fs, &requests);
	ck_assert_uint_eq(requests.requests, 1);
}
END_TEST

START_TEST(test_lookup_of_an_emptied_directory_makes_it_again)
{
	char qname[QUARANTINE_NAME_BYTES];
	struct stat sb;

	sh("chmod 0751 a");
	quarantine_by_scan("a/b/f.jpg", "s1", qname);
	sh("rm -r a");
	ck_assert_int_eq(safekeep_restore_on_access(&fs, root, root_fd, "a"), 0);
	ck_assert_int_eq(stat_rel("a", &sb), 0);
	ck_assert_msg(S_ISDIR(sb.st_mode), "a directory again");
	ck_assert_int_eq(sb.st_mode & 07777, 0751);
	ck_assert_int_eq(safekeep_restore_on_access(&fs, root, root_fd, "other"), -ENOENT);
	ck_assert_msg(!exists_rel("other"), "nothing else is made");
}
END_TEST

START_TEST(test_failing_restore_on_access_leaves_the_file_quarantined)
{
	char qname[QUARANTINE_NAME_BYTES];
	struct stat sb;

	quarantine_by_scan("top.jpg", "s1", qname);
	fail_with(EIO, true, false);
	ck_assert_int_eq(safekeep_restore_on_access(&fs, root, root_fd, "top.jpg"), -ENOENT);
	ck_assert_msg(!exists_rel("top.jpg"), "not back");
	ck_assert_int_eq(quarantine_stat(&fs.quarantine, qname, &sb), 0);
	ck_assert_msg(pathmap_get(fs.quarantined, "top.jpg", NULL, 0), "still indexed");
	fs.store.ops = &store_kernel_ops;
	ck_assert_int_eq(safekeep_restore_on_access(&fs, root, root_fd, "top.jpg"), 0);
	ck_assert_msg(exists_rel("top.jpg"), "a later lookup may still bring it back");
}
END_TEST

START_TEST(test_index_counts_directories_of_scan_quarantined_paths_only)
{
	safekeep_index_add(&fs, "x/y/f.jpg", "u1-0/x/y/f.jpg");
	ck_assert_msg(!pathmap_get(fs.quarantined_dirs, "x", NULL, 0), "an unlink's: no");
	safekeep_index_add(&fs, "x/y/f.jpg", "s1/x/y/f.jpg");
	ck_assert_msg(pathmap_get(fs.quarantined_dirs, "x", NULL, 0) &&
		      pathmap_get(fs.quarantined_dirs, "x/y", NULL, 0), "a scan's: yes");
	safekeep_index_remove(&fs, "x/y/f.jpg", "u1-0/x/y/f.jpg");
	ck_assert_msg(pathmap_get(fs.quarantined, "x/y/f.jpg", NULL, 0),
		      "an older name does not remove the newest");
	safekeep_index_remove(&fs, "x/y/f.jpg", "s1/x/y/f.jpg");
	ck_assert_uint_eq(pathmap_count(fs.quarantined), 0);
	ck_assert_uint_eq(pathmap_count(fs.quarantined_dirs), 0);
}
END_TEST

static Suite *safekeep_suite(void)
{
	Suite *s = suite_create("safekeep");
	TCase *unlink_tc = tcase_create("unlink");
	TCase *replace = tcase_create("replace");
	TCase *access = tcase_create("restore on access");

	tcase_add_checked_fixture(unlink_tc, setup, teardown);
	tcase_add_test(unlink_tc, test_unlinked_file_goes_to_the_quarantine_and_the_catalog_says_so);
	tcase_add_test(unlink_tc, test_temporary_file_goes_for_good);
	tcase_add_test(unlink_tc, test_young_file_a_scan_found_referenced_is_kept);
	tcase_add_test(unlink_tc, test_what_is_not_a_file_goes_for_good);
	tcase_add_test(unlink_tc, test_symbolic_link_is_kept_like_a_file);
	tcase_add_test(unlink_tc, test_unlink_that_cannot_keep_the_file_is_refused);
	tcase_add_test(unlink_tc, test_file_on_another_filesystem_is_removed_for_good);
	tcase_add_test(unlink_tc, test_without_tracking_unlink_is_plain);
	tcase_add_test(unlink_tc,
		       test_file_whose_path_cannot_be_recorded_is_refused_unless_temporary);
	suite_add_tcase(s, unlink_tc);

	tcase_add_checked_fixture(replace, setup, teardown);
	tcase_add_test(replace, test_replaced_file_is_linked_and_recorded_after_the_rename);
	tcase_add_test(replace, test_failed_rename_takes_the_link_away);
	tcase_add_test(replace, test_rename_onto_nothing_needs_no_link);
	tcase_add_test(replace, test_replace_that_cannot_keep_the_file_is_refused);
	suite_add_tcase(s, replace);

	tcase_add_checked_fixture(access, setup, teardown);
	tcase_add_test(access, test_lookup_brings_a_scan_quarantined_file_back_once);
	tcase_add_test(access, test_once_per_file_holds_across_a_restart);
	tcase_add_test(access, test_what_was_deleted_through_the_mount_stays_deleted);
	tcase_add_test(access, test_without_restore_on_access_a_lookup_is_an_alarm);
	tcase_add_test(access, test_lookup_of_an_emptied_directory_makes_it_again);
	tcase_add_test(access, test_failing_restore_on_access_leaves_the_file_quarantined);
	tcase_add_test(access, test_index_counts_directories_of_scan_quarantined_paths_only);
	suite_add_tcase(s, access);
	return s;
}

int main(void)
{
	SRunner *runner = srunner_create(safekeep_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
