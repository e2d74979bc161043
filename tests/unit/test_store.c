/*
 * Unit tests for fs/core/store.c on a temporary directory: the state directory
 * and its lock, relative paths, resolution that never leaves BACKING, and
 * directories made through descriptors with the owner and mode they mean.
 * The owner tests give directories away, which needs root (as CI runs).
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
	char why[1024];

	strcpy(backing, "/tmp/mediafs-test-store-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(backing));
	run("mkdir -p %s/a/b && echo x > %s/a/b/f && ln -s /etc %s/a/etc", backing);
	ck_assert_msg(store_open(&st, backing, why, sizeof(why)) == 0, "%s", why);
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
	char why[1024];

	ck_assert_int_eq(store_open(&other, backing, why, sizeof(why)), -EWOULDBLOCK);
	ck_assert_msg(strstr(why, "is in use by another mediafs"), "%s", why);
}
END_TEST

/* How a prepared .mediafs is set up, and what the refusal must say. */
static const struct {
	const char *setup;		/* run with the backing directory as %s */
	const char *says;
} unsafe_state_dirs[] = {
	{ "ln -s /tmp %s/.mediafs", "is a symbolic link" },
	{ "mkdir -m 0700 %s/.mediafs && chown 65534 %s/.mediafs", "is owned by another user" },
	{ "mkdir %s/.mediafs && chmod 0777 %s/.mediafs", "is writable by group or others" },
	{ "mkdir %s/.mediafs && chmod 0720 %s/.mediafs", "is writable by group or others" },
	{ "touch %s/.mediafs", "is not a directory" },
};

START_TEST(test_unsafe_state_directory_is_refused_in_one_sentence)
{
	char other_backing[] = "/tmp/mediafs-test-store2-XXXXXX";
	char path[512], why[1024];
	struct store other;
	struct stat before, after;

	ck_assert_ptr_nonnull(mkdtemp(other_backing));
	run(unsafe_state_dirs[_i].setup, other_backing);
	snprintf(path, sizeof(path), "%s/.mediafs", other_backing);
	ck_assert_int_eq(lstat(path, &before), 0);
	ck_assert_int_eq(store_open(&other, other_backing, why, sizeof(why)), -EPERM);
	ck_assert_msg(strstr(why, path) && strstr(why, unsafe_state_dirs[_i].says) &&
		      strstr(why, "owner uid") && strstr(why, "mode 0"), "%s", why);
	ck_assert_ptr_null(strchr(why, '\n'));
	/* Refused means untouched: no lock, no mode taken. */
	ck_assert_int_eq(lstat(path, &after), 0);
	ck_assert_int_eq(after.st_mode, before.st_mode);
	ck_assert_int_eq(after.st_uid, before.st_uid);
	run("rm -rf %s", other_backing);
}
END_TEST

START_TEST(test_readable_state_directory_and_lock_are_taken_back)
{
	char other_backing[] = "/tmp/mediafs-test-store3-XXXXXX";
	char path[512], why[1024];
	struct store other;
	struct stat sb;

	ck_assert_ptr_nonnull(mkdtemp(other_backing));
	run("mkdir -m 0755 %s/.mediafs && touch %s/.mediafs/lock && chmod 0644 %s/.mediafs/lock",
	    other_backing);
	ck_assert_msg(store_open(&other, other_backing, why, sizeof(why)) == 0, "%s", why);
	snprintf(path, sizeof(path), "%s/.mediafs", other_backing);
	ck_assert_int_eq(lstat(path, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 07777, 0700);
	snprintf(path, sizeof(path), "%s/.mediafs/lock", other_backing);
	ck_assert_int_eq(lstat(path, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 07777, 0600);
	store_close(&other);
	run("rm -rf %s", other_backing);
}
END_TEST

START_TEST(test_state_directory_and_lock_modes_ignore_the_umask)
{
	char other_backing[] = "/tmp/mediafs-test-store4-XXXXXX";
	char path[512], why[1024];
	struct store other;
	struct stat sb;
	mode_t old = umask(0);

	ck_assert_ptr_nonnull(mkdtemp(other_backing));
	ck_assert_msg(store_open(&other, other_backing, why, sizeof(why)) == 0, "%s", why);
	umask(old);
	snprintf(path, sizeof(path), "%s/.mediafs/lock", other_backing);
	ck_assert_int_eq(lstat(path, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 07777, 0600);
	store_close(&other);
	run("rm -rf %s", other_backing);
}
END_TEST

START_TEST(test_missing_backing_is_enoent)
{
	struct store other;
	char why[1024];

	ck_assert_int_eq(store_open(&other, "/nonexistent/mediafs", why, sizeof(why)), -ENOENT);
	ck_assert_msg(strstr(why, "/nonexistent/mediafs"), "%s", why);
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

/* ------------------------------------------------------------------ */
/* Directories made through descriptors                                 */
/* ------------------------------------------------------------------ */

static char canary[] = "/tmp/mediafs-test-canary-XXXXXX";

/*
 * A mkdirat after which someone who may write in the directory puts a
 * link to the canary in the new directory's place: what a local user
 * does in the window between a mkdirat and a chmod by name.
 */
static int mkdirat_then_swap(int dir_fd, const char *name, mode_t mode)
{
	int res = mkdirat(dir_fd, name, mode);

	if (res == 0 && (unlinkat(dir_fd, name, AT_REMOVEDIR) != 0 ||
			 symlinkat(canary, dir_fd, name) != 0))
		return -1;
	return res;
}

/* The same with a directory of another user in its place. */
static int mkdirat_then_give_away(int dir_fd, const char *name, mode_t mode)
{
	int res = mkdirat(dir_fd, name, mode);

	if (res == 0 && fchownat(dir_fd, name, 65534, 65534, AT_SYMLINK_NOFOLLOW) != 0)
		return -1;
	return res;
}

static int make_canary(void)
{
	int fd = mkstemp(canary);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fchmod(fd, 0600), 0);
	close(fd);
	return 0;
}

static void assert_canary_untouched(void)
{
	struct stat sb;

	ck_assert_int_eq(lstat(canary, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 07777, 0600);
	ck_assert_int_eq(sb.st_uid, geteuid());
	unlink(canary);
	strcpy(canary, "/tmp/mediafs-test-canary-XXXXXX");
}

START_TEST(test_made_directory_takes_owner_and_mode_whatever_the_umask)
{
	struct stat like = { .st_uid = 65534, .st_gid = 65534, .st_mode = S_IFDIR | 02751 };
	struct stat sb;
	mode_t old = umask(_i ? 0 : 077);
	int fd = store_make_dir_like(&st, st.root_fd, "made", &like);

	umask(old);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(store_stat(fd, &sb), 0);
	ck_assert_msg(S_ISDIR(sb.st_mode), "a directory");
	ck_assert_int_eq(sb.st_uid, 65534);
	ck_assert_int_eq(sb.st_gid, 65534);
	ck_assert_int_eq(sb.st_mode & 07777, 02751);
	close(fd);
	ck_assert_int_eq(store_make_dir_like(&st, st.root_fd, "made", &like), -EEXIST);
	fd = store_make_dir_like(&st, st.root_fd, "plain", NULL);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(store_stat(fd, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 07777, 0700);
	ck_assert_int_eq(sb.st_uid, geteuid());
	close(fd);
}
END_TEST

START_TEST(test_link_swapped_in_after_mkdir_is_never_followed)
{
	const struct store_ops swapping = { .mkdirat = mkdirat_then_swap };
	struct stat like = { .st_uid = 65534, .st_gid = 65534, .st_mode = S_IFDIR | 0777 };
	const char *name;
	int dir_fd;

	make_canary();
	st.ops = &swapping;
	ck_assert_int_eq(store_make_dir_like(&st, st.root_fd, "swapped", &like), -ENOTDIR);
	assert_canary_untouched();
	make_canary();
	ck_assert_int_eq(store_make_parents_at(&st, st.root_fd, "new/f", -1, true, &dir_fd,
					       &name), -ENOTDIR);
	st.ops = &store_kernel_ops;
	assert_canary_untouched();
}
END_TEST

START_TEST(test_directory_of_another_user_swapped_in_is_left_alone)
{
	const struct store_ops giving = { .mkdirat = mkdirat_then_give_away };
	struct stat like = { .st_uid = 0, .st_gid = 0, .st_mode = S_IFDIR | 0755 };
	char path[512];
	struct stat sb;

	st.ops = &giving;
	ck_assert_int_eq(store_make_dir_like(&st, st.root_fd, "theirs", &like), -EAGAIN);
	st.ops = &store_kernel_ops;
	snprintf(path, sizeof(path), "%s/theirs", backing);
	ck_assert_int_eq(lstat(path, &sb), 0);
	ck_assert_int_eq(sb.st_uid, 65534);
	ck_assert_int_eq(sb.st_mode & 07777, 0700);
}
END_TEST

START_TEST(test_made_parents_copy_the_model_tree)
{
	const char *name;
	char path[512];
	struct stat sb;
	int model, dir_fd;

	/* The model has a/ like BACKING's and a/x/ (0750, nobody's); y/ is
	 * missing from it and takes the mode of its parent. */
	run("mkdir -p %s/model/a/x && chown 65534:65534 %s/model/a/x && chmod 0750 %s/model/a/x",
	    backing);
	model = store_open_beneath(&st, "model", O_PATH | O_DIRECTORY, 0);
	ck_assert_int_ge(model, 0);
	ck_assert_int_eq(store_make_parents_at(&st, st.root_fd, "a/x/y/f", model, true, &dir_fd,
					       &name), 0);
	ck_assert_str_eq(name, "f");
	close(dir_fd);
	close(model);
	snprintf(path, sizeof(path), "%s/a/x", backing);
	ck_assert_int_eq(lstat(path, &sb), 0);
	ck_assert_int_eq(sb.st_uid, 65534);
	ck_assert_int_eq(sb.st_gid, 65534);
	ck_assert_int_eq(sb.st_mode & 07777, 0750);
	snprintf(path, sizeof(path), "%s/a/x/y", backing);
	ck_assert_int_eq(lstat(path, &sb), 0);
	ck_assert_int_eq(sb.st_uid, 65534);
	ck_assert_int_eq(sb.st_mode & 07777, 0750);
	/* Without a model or like_parent: 0700 and ours. */
	ck_assert_int_eq(store_make_parents_at(&st, st.root_fd, "p/q/f", -1, false, &dir_fd,
					       &name), 0);
	close(dir_fd);
	snprintf(path, sizeof(path), "%s/p/q", backing);
	ck_assert_int_eq(lstat(path, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 07777, 0700);
	ck_assert_int_eq(sb.st_uid, geteuid());
}
END_TEST

START_TEST(test_made_parents_never_follow_an_existing_link)
{
	const char *name;
	int dir_fd;

	ck_assert_int_eq(store_make_parents_at(&st, st.root_fd, "a/etc/new/f", -1, true, &dir_fd,
					       &name), -ENOTDIR);
}
END_TEST

static Suite *store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("store");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_open_creates_private_state_directory);
	tcase_add_test(tc, test_second_open_is_refused_by_the_lock);
	tcase_add_loop_test(tc, test_unsafe_state_directory_is_refused_in_one_sentence, 0,
			    sizeof(unsafe_state_dirs) / sizeof(unsafe_state_dirs[0]));
	tcase_add_test(tc, test_readable_state_directory_and_lock_are_taken_back);
	tcase_add_test(tc, test_state_directory_and_lock_modes_ignore_the_umask);
	tcase_add_test(tc, test_missing_backing_is_enoent);
	tcase_add_test(tc, test_relative_path_of_descriptors);
	tcase_add_test(tc, test_relative_path_of_unlinked_file_is_enoent);
	tcase_add_loop_test(tc, test_open_beneath_never_escapes, 0,
			    sizeof(escapes) / sizeof(escapes[0]));
	tcase_add_test(tc, test_open_parent_splits_last_component);
	tcase_add_loop_test(tc, test_made_directory_takes_owner_and_mode_whatever_the_umask, 0, 2);
	tcase_add_test(tc, test_link_swapped_in_after_mkdir_is_never_followed);
	tcase_add_test(tc, test_directory_of_another_user_swapped_in_is_left_alone);
	tcase_add_test(tc, test_made_parents_copy_the_model_tree);
	tcase_add_test(tc, test_made_parents_never_follow_an_existing_link);
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
