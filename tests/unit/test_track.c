/*
 * Unit tests for fs/track.c without a mount: what the handlers report
 * reaches a real SQLite catalog through a real writer thread, with paths
 * computed from descriptors (BACKING's root, or a directory below it, as
 * the parent).  A minimal struct mediafs holds the store and the writer.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog.h"
#include "events.h"
#include "track.h"

static char backing[] = "/tmp/mediafs-test-track-XXXXXX";
static char catalog_path[PATH_MAX];
static struct mediafs fs;
static struct inode *root;
static int root_fd;

static void sh(const char *cmd)
{
	char full[2048];

	snprintf(full, sizeof(full), "cd '%s' && %s", backing, cmd);
	ck_assert_msg(system(full) == 0, "%s", cmd);
}

static void setup(void)
{
	char why[1024];

	memset(&fs, 0, sizeof(fs));
	strcpy(backing, "/tmp/mediafs-test-track-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(backing));
	ck_assert_msg(store_open(&fs.store, backing, why, sizeof(why)) == 0, "%s", why);
	ck_assert_int_eq(store_state_path(&fs.store, CATALOG_FILE_NAME, catalog_path,
					  sizeof(catalog_path)), 0);
	ck_assert_msg(events_start(catalog_path, &fs.store, false, &fs.events, why,
				   sizeof(why)) == 0, "%s", why);
	root = &fs.inodes.root;
	root_fd = fs.store.root_fd;
	sh("mkdir -p a/b && printf 12345 > a/b/f.jpg && echo top > top.jpg");
}

static void teardown(void)
{
	char cmd[512];

	events_stop(fs.events);
	store_close(&fs.store);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", backing);
	ck_assert_int_eq(system(cmd), 0);
}

/* A descriptor on a directory of BACKING, as the inode table holds. */
static int open_dir(const char *rel)
{
	int fd = store_open_beneath(&fs.store, rel, O_PATH | O_DIRECTORY, 0);

	ck_assert_int_ge(fd, 0);
	return fd;
}

static struct stat stat_at(int dir_fd, const char *name)
{
	struct stat sb;

	ck_assert_int_eq(store_stat_at(dir_fd, name, &sb), 0);
	return sb;
}

struct found_row {
	int rows;
	char path[256];
	enum catalog_state state;
	ino_t ino;
	int64_t size;
	enum catalog_kind kind;
};

static int note_row(void *ctx, const struct catalog_row *row)
{
	struct found_row *f = ctx;

	f->rows++;
	snprintf(f->path, sizeof(f->path), "%s", row->path);
	f->state = row->state;
	f->ino = row->ino;
	f->size = row->size;
	f->kind = row->kind;
	return 0;
}

/* The rows at path (any state; all rows when NULL) once every event
 * queued is in the catalog; the last one's fields. */
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

START_TEST(test_created_file_is_recorded_with_its_path_from_the_descriptor)
{
	int dir = open_dir("a/b");
	struct stat sb = stat_at(dir, "f.jpg");
	struct found_row row;

	ck_assert_msg(track_created(&fs, NULL, dir, "f.jpg", &sb, false), "queued");
	close(dir);
	row = catalog_row("a/b/f.jpg");
	ck_assert_int_eq(row.rows, 1);
	ck_assert_int_eq(row.state, CATALOG_LIVE);
	ck_assert_uint_eq(row.ino, sb.st_ino);
	ck_assert_int_eq(row.size, 5);
	sb = stat_at(root_fd, "top.jpg");
	ck_assert_msg(track_created(&fs, root, root_fd, "top.jpg", &sb, false), "queued");
	ck_assert_int_eq(catalog_row("top.jpg").rows, 1);
}
END_TEST

START_TEST(test_directories_and_nodes_are_not_tracked)
{
	struct stat sb = stat_at(root_fd, "a");

	ck_assert_msg(!track_created(&fs, root, root_fd, "a", &sb, false), "a directory");
	sh("mkfifo pipe");
	sb = stat_at(root_fd, "pipe");
	ck_assert_msg(!track_created(&fs, root, root_fd, "pipe", &sb, false), "a fifo");
	ck_assert_int_eq(catalog_row(NULL).rows, 0);
}
END_TEST

START_TEST(test_symbolic_link_is_recorded_as_one)
{
	struct stat sb;

	sh("ln -s top.jpg link.jpg");
	sb = stat_at(root_fd, "link.jpg");
	ck_assert_msg(track_created(&fs, root, root_fd, "link.jpg", &sb, false), "queued");
	ck_assert_int_eq(catalog_row("link.jpg").kind, CATALOG_SYMLINK);
}
END_TEST

START_TEST(test_without_tracking_nothing_is_queued)
{
	struct events *events = fs.events;
	struct stat sb = stat_at(root_fd, "top.jpg");

	fs.events = NULL;
	ck_assert_msg(!track_enabled(&fs), "off");
	ck_assert_msg(!track_created(&fs, root, root_fd, "top.jpg", &sb, false), "not queued");
	track_removed(&fs, "top.jpg");
	fs.events = events;
	ck_assert_int_eq(catalog_row(NULL).rows, 0);
}
END_TEST

START_TEST(test_child_paths_are_built_from_descriptors)
{
	char path[PATH_MAX];
	int dir = open_dir("a/b");

	ck_assert_int_eq(track_build_child_path(&fs, NULL, dir, "f.jpg", path), 0);
	ck_assert_str_eq(path, "a/b/f.jpg");
	ck_assert_int_eq(track_child_path(&fs, NULL, dir, "f.jpg", path), 0);
	ck_assert_str_eq(path, "a/b/f.jpg");
	/* The directory moved: the descriptor knows where it is now. */
	sh("mv a/b a/c");
	ck_assert_int_eq(track_build_child_path(&fs, NULL, dir, "f.jpg", path), 0);
	ck_assert_str_eq(path, "a/c/f.jpg");
	close(dir);
	ck_assert_int_eq(track_build_child_path(&fs, root, root_fd, "top.jpg", path), 0);
	ck_assert_str_eq(path, "top.jpg");
	/* BACKING itself as a parent that is not the root entry. */
	ck_assert_int_eq(track_build_child_path(&fs, NULL, root_fd, "top.jpg", path), 0);
	ck_assert_str_eq(path, "top.jpg");
}
END_TEST

START_TEST(test_path_longer_than_path_max_is_refused)
{
	char name[200], path[PATH_MAX];
	int fd = dup(root_fd), next;

	memset(name, 'd', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	ck_assert_int_ge(fd, 0);
	for (int depth = 0; depth < PATH_MAX / (int)sizeof(name); depth++) {
		ck_assert_int_eq(mkdirat(fd, name, 0755), 0);
		next = openat(fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW);
		ck_assert_int_ge(next, 0);
		close(fd);
		fd = next;
	}
	/* The directory's own path fits; one more name does not. */
	ck_assert_int_eq(track_build_child_path(&fs, NULL, fd, "x", path), 0);
	ck_assert_int_eq(track_build_child_path(&fs, NULL, fd, name, path), -ENAMETOOLONG);
	ck_assert_int_eq(track_child_path(&fs, NULL, fd, name, path), -ENAMETOOLONG);
	close(fd);
}
END_TEST

START_TEST(test_written_file_unknown_to_the_catalog_is_added_by_its_path)
{
	int fd = store_open_beneath(&fs.store, "a/b/f.jpg", O_RDONLY, 0);
	struct found_row row;

	ck_assert_int_ge(fd, 0);
	track_written(&fs, fd, false);
	close(fd);
	row = catalog_row("a/b/f.jpg");
	ck_assert_int_eq(row.rows, 1);
	ck_assert_int_eq(row.size, 5);
	/* A file of the state directory is never media. */
	fd = store_open_beneath(&fs.store, ".mediafs/lock", O_RDONLY, 0);
	ck_assert_int_ge(fd, 0);
	track_written(&fs, fd, false);
	close(fd);
	ck_assert_int_eq(catalog_row(NULL).rows, 1);
}
END_TEST

START_TEST(test_written_known_file_gets_its_new_size)
{
	struct stat sb = stat_at(root_fd, "top.jpg");
	int fd;

	ck_assert_msg(track_created(&fs, root, root_fd, "top.jpg", &sb, false), "queued");
	sh("printf 1234567890 > top.jpg");
	fd = store_open_beneath(&fs.store, "top.jpg", O_RDONLY, 0);
	ck_assert_int_ge(fd, 0);
	track_written(&fs, fd, true);
	close(fd);
	ck_assert_int_eq(catalog_row("top.jpg").size, 10);
}
END_TEST

START_TEST(test_renames_move_rows_files_directories_and_exchanges)
{
	struct stat file = stat_at(root_fd, "top.jpg"), f = stat_at(root_fd, "a/b/f.jpg");
	struct stat dir, other;
	int a;

	ck_assert_msg(track_created(&fs, root, root_fd, "top.jpg", &file, false), "queued");
	ck_assert_msg(track_created(&fs, root, root_fd, "a/b/f.jpg", &f, false), "queued");
	/* A file. */
	sh("mv top.jpg moved.jpg");
	track_renamed(&fs, root, root_fd, "top.jpg", root, root_fd, "moved.jpg", 0, &file, NULL);
	ck_assert_int_eq(catalog_row("top.jpg").rows, 0);
	ck_assert_uint_eq(catalog_row("moved.jpg").ino, file.st_ino);
	/* A directory and what is under it. */
	a = open_dir("a");
	dir = stat_at(a, "b");
	sh("mv a/b a/c");
	track_renamed(&fs, NULL, a, "b", NULL, a, "c", 0, &dir, NULL);
	close(a);
	ck_assert_uint_eq(catalog_row("a/c/f.jpg").ino, f.st_ino);
	ck_assert_int_eq(catalog_row("a/b/f.jpg").rows, 0);
	/* An exchange. */
	sh("mv moved.jpg a/c/g.jpg");
	track_renamed(&fs, root, root_fd, "moved.jpg", root, root_fd, "a/c/g.jpg", 0, &file,
		      NULL);
	ck_assert_int_eq(renameat2(root_fd, "a/c/f.jpg", root_fd, "a/c/g.jpg", RENAME_EXCHANGE),
			 0);
	other = stat_at(root_fd, "a/c/f.jpg");
	track_renamed(&fs, root, root_fd, "a/c/f.jpg", root, root_fd, "a/c/g.jpg",
		      RENAME_EXCHANGE, &f, &other);
	ck_assert_uint_eq(catalog_row("a/c/g.jpg").ino, f.st_ino);
	ck_assert_uint_eq(catalog_row("a/c/f.jpg").ino, file.st_ino);
}
END_TEST

START_TEST(test_removed_quarantined_and_restored_change_the_state)
{
	struct stat sb = stat_at(root_fd, "top.jpg"), f = stat_at(root_fd, "a/b/f.jpg");
	struct found_row row;

	ck_assert_msg(track_created(&fs, root, root_fd, "top.jpg", &sb, false), "queued");
	ck_assert_msg(track_created(&fs, root, root_fd, "a/b/f.jpg", &f, false), "queued");
	track_removed(&fs, "top.jpg");
	ck_assert_int_eq(catalog_row("top.jpg").rows, 0);
	track_quarantined(&fs, "a/b/f.jpg", "u1-0/a/b/f.jpg", "unlinked", &f);
	row = catalog_row("a/b/f.jpg");
	ck_assert_int_eq(row.state, CATALOG_QUARANTINED);
	track_restored(&fs, "a/b/f.jpg", "u1-0/a/b/f.jpg", "restored");
	row = catalog_row("a/b/f.jpg");
	ck_assert_int_eq(row.state, CATALOG_LIVE);
	ck_assert_uint_eq(row.ino, f.st_ino);
}
END_TEST

static Suite *track_suite(void)
{
	Suite *s = suite_create("track");
	TCase *tc = tcase_create("track");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_created_file_is_recorded_with_its_path_from_the_descriptor);
	tcase_add_test(tc, test_directories_and_nodes_are_not_tracked);
	tcase_add_test(tc, test_symbolic_link_is_recorded_as_one);
	tcase_add_test(tc, test_without_tracking_nothing_is_queued);
	tcase_add_test(tc, test_child_paths_are_built_from_descriptors);
	tcase_add_test(tc, test_path_longer_than_path_max_is_refused);
	tcase_add_test(tc, test_written_file_unknown_to_the_catalog_is_added_by_its_path);
	tcase_add_test(tc, test_written_known_file_gets_its_new_size);
	tcase_add_test(tc, test_renames_move_rows_files_directories_and_exchanges);
	tcase_add_test(tc, test_removed_quarantined_and_restored_change_the_state);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *runner = srunner_create(track_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
