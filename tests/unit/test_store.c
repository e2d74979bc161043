/*
 * Unit tests for fs/store.c on a temporary directory: the state directory
 * and its lock, relative paths, and resolution that never leaves BACKING.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"

static char backing[] = "/tmp/mediafs-test-store-XXXXXX";
static struct store st;

static void run(const char *fmt, const char *arg)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), fmt, arg, arg, arg);
	ck_assert_int_eq(system(cmd), 0);
}

static void setup(void)
{
	const char *what;

	strcpy(backing, "/tmp/mediafs-test-store-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(backing));
	run("mkdir -p %s/a/b && echo x > %s/a/b/f && ln -s /etc %s/a/etc", backing);
	ck_assert_int_eq(store_open(&st, backing, &what), 0);
}

static void teardown(void)
{
	store_close(&st);
	run("rm -rf %s", backing);
}

START_TEST(test_open_creates_private_state_directory)
{
	char path[512];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/.mediafs", backing);
	ck_assert_int_eq(lstat(path, &sb), 0);
	ck_assert_msg(S_ISDIR(sb.st_mode), ".mediafs is a directory");
	ck_assert_int_eq(sb.st_mode & 0777, 0700);
}
END_TEST

START_TEST(test_second_open_is_refused_by_the_lock)
{
	struct store other;
	const char *what;

	ck_assert_int_eq(store_open(&other, backing, &what), -EWOULDBLOCK);
	ck_assert_str_eq(what, "lock the state directory");
}
END_TEST

START_TEST(test_state_directory_symlink_is_refused)
{
	char other_backing[] = "/tmp/mediafs-test-store2-XXXXXX";
	struct store other;
	const char *what;

	ck_assert_ptr_nonnull(mkdtemp(other_backing));
	run("ln -s /tmp %s/.mediafs", other_backing);
	ck_assert_int_eq(store_open(&other, other_backing, &what), -ENOTDIR);
	ck_assert_str_eq(what, "open the state directory");
	run("rm -rf %s", other_backing);
}
END_TEST

START_TEST(test_missing_backing_is_enoent)
{
	struct store other;
	const char *what;

	ck_assert_int_eq(store_open(&other, "/nonexistent/mediafs", &what), -ENOENT);
}
END_TEST

START_TEST(test_relative_path_of_descriptors)
{
	char rel[4096];
	int fd = store_open_beneath(&st, "a/b/f", O_PATH, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(store_relative_path(&st, fd, rel, sizeof(rel)), 5);
	ck_assert_str_eq(rel, "a/b/f");
	close(fd);
	ck_assert_int_eq(store_relative_path(&st, st.root_fd, rel, sizeof(rel)), 0);
	ck_assert_str_eq(rel, "");
	ck_assert_int_eq(store_relative_path(&st, st.root_fd, rel, 0), -ENAMETOOLONG);
}
END_TEST

START_TEST(test_relative_path_of_unlinked_file_is_enoent)
{
	char rel[4096];
	int fd = store_open_beneath(&st, "a/b/f", O_RDONLY, 0);

	ck_assert_int_ge(fd, 0);
	run("rm %s/a/b/f", backing);
	ck_assert_int_eq(store_relative_path(&st, fd, rel, sizeof(rel)), -ENOENT);
	close(fd);
}
END_TEST

static const struct {
	const char *path;
	int err;
} escapes[] = {
	{ "../etc/passwd", -EXDEV },
	{ "a/../../etc/passwd", -EXDEV },
	{ "/etc/passwd", -EXDEV },
	{ "a/etc/passwd", -ELOOP },
	{ "a/etc", -ELOOP },
};

START_TEST(test_open_beneath_never_escapes)
{
	int fd = store_open_beneath(&st, escapes[_i].path, O_RDONLY, 0);

	ck_assert_msg(fd == escapes[_i].err, "'%s' gives %d, expected %d",
		      escapes[_i].path, fd, escapes[_i].err);
}
END_TEST

START_TEST(test_open_parent_splits_last_component)
{
	const char *name;
	int dir_fd;
	struct stat sb;

	ck_assert_int_eq(store_open_parent(&st, "a/b/f", &dir_fd, &name), 0);
	ck_assert_str_eq(name, "f");
	ck_assert_int_eq(store_stat_at(dir_fd, name, &sb), 0);
	close(dir_fd);
	ck_assert_int_eq(store_open_parent(&st, "top", &dir_fd, &name), 0);
	ck_assert_str_eq(name, "top");
	close(dir_fd);
	ck_assert_int_eq(store_open_parent(&st, "a/..", &dir_fd, &name), -EINVAL);
	ck_assert_int_eq(store_open_parent(&st, "a/etc/x", &dir_fd, &name), -ENOTDIR);
	ck_assert_int_eq(store_open_parent(&st, "a/etc/x/y", &dir_fd, &name), -ELOOP);
}
END_TEST

static Suite *store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("store");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_open_creates_private_state_directory);
	tcase_add_test(tc, test_second_open_is_refused_by_the_lock);
	tcase_add_test(tc, test_state_directory_symlink_is_refused);
	tcase_add_test(tc, test_missing_backing_is_enoent);
	tcase_add_test(tc, test_relative_path_of_descriptors);
	tcase_add_test(tc, test_relative_path_of_unlinked_file_is_enoent);
	tcase_add_loop_test(tc, test_open_beneath_never_escapes, 0,
			    sizeof(escapes) / sizeof(escapes[0]));
	tcase_add_test(tc, test_open_parent_splits_last_component);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *runner = srunner_create(store_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
