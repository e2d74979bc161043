/*
 * Unit tests for fs/creds.c: a thread creates files as the caller (owner,
 * group, setgid inheritance, umask) while the daemon's other threads keep
 * their own identity and umask.  Needs root, as the daemon that switches
 * does; without it the program exits 77 (skip).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "creds.h"

enum { NOBODY = 65534, GROUP = 4321 };

static char dir[] = "/tmp/mediafs-test-creds-XXXXXX";
static int dir_fd;

static void setup(void)
{
	strcpy(dir, "/tmp/mediafs-test-creds-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	/* 0700 and root's: only the raised capabilities let nobody in. */
	ck_assert_int_eq(chmod(dir, 0700), 0);
	dir_fd = open(dir, O_PATH | O_DIRECTORY);
	ck_assert_int_ge(dir_fd, 0);
}

static void teardown(void)
{
	char cmd[256];

	close(dir_fd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static struct stat create(const char *name, mode_t mode)
{
	struct stat sb;
	int fd = openat(dir_fd, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, mode);

	ck_assert_msg(fd >= 0, "create '%s': %s", name, strerror(errno));
	ck_assert_int_eq(fstat(fd, &sb), 0);
	close(fd);
	return sb;
}

START_TEST(test_file_is_created_as_the_caller_and_then_as_the_daemon)
{
	struct creds_saved saved = { 0 };
	struct stat sb;

	ck_assert_int_eq(creds_become(NOBODY, NOBODY, &saved), 0);
	ck_assert_msg(saved.switched, "switched");
	sb = create("theirs", 0644);
	creds_restore(&saved);
	ck_assert_int_eq(sb.st_uid, NOBODY);
	ck_assert_int_eq(sb.st_gid, NOBODY);
	sb = create("ours", 0644);
	ck_assert_int_eq(sb.st_uid, 0);
	ck_assert_int_eq(sb.st_gid, 0);
}
END_TEST

START_TEST(test_root_caller_needs_no_switch)
{
	struct creds_saved saved = { 0 };

	ck_assert_int_eq(creds_become(0, 0, &saved), 0);
	ck_assert_msg(!saved.switched, "nothing to switch");
	creds_restore(&saved);
	ck_assert_int_eq(create("ours", 0644).st_uid, 0);
}
END_TEST

START_TEST(test_setgid_directory_gives_its_group_and_keeps_its_bit)
{
	struct creds_saved saved = { 0 };
	struct stat sb;
	char path[256];

	ck_assert_int_eq(fchownat(dir_fd, "", 0, GROUP, AT_EMPTY_PATH), 0);
	ck_assert_int_eq(chmod(dir, 02770), 0);
	ck_assert_int_eq(creds_become(NOBODY, NOBODY, &saved), 0);
	sb = create("theirs", 0644);
	ck_assert_int_eq(mkdirat(dir_fd, "sub", 0755), 0);
	creds_restore(&saved);
	ck_assert_int_eq(sb.st_uid, NOBODY);
	ck_assert_int_eq(sb.st_gid, GROUP);
	snprintf(path, sizeof(path), "%s/sub", dir);
	ck_assert_int_eq(lstat(path, &sb), 0);
	ck_assert_int_eq(sb.st_gid, GROUP);
	ck_assert_msg(sb.st_mode & S_ISGID, "a directory inherits the setgid bit");
}
END_TEST

struct other_thread {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	int step;		/* 1: main switched; 2: other created */
	struct stat sb;
	mode_t umask_seen;
};

static struct other_thread other = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.changed = PTHREAD_COND_INITIALIZER,
};

static void wait_step(int step)
{
	pthread_mutex_lock(&other.lock);
	while (other.step < step)
		pthread_cond_wait(&other.changed, &other.lock);
	pthread_mutex_unlock(&other.lock);
}

static void set_step(int step)
{
	pthread_mutex_lock(&other.lock);
	other.step = step;
	pthread_cond_broadcast(&other.changed);
	pthread_mutex_unlock(&other.lock);
}

/* Create a file while the main thread is switched, and read the umask. */
static void *other_main(void *arg)
{
	int fd;

	(void)arg;
	wait_step(1);
	fd = openat(dir_fd, "other", O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0666);
	if (fd >= 0) {
		fstat(fd, &other.sb);
		close(fd);
	}
	other.umask_seen = umask(0);
	umask(other.umask_seen);
	set_step(2);
	return NULL;
}

START_TEST(test_other_threads_keep_their_identity_and_umask)
{
	struct creds_saved saved = { 0 };
	pthread_t thread;
	struct stat sb;

	umask(022);
	ck_assert_int_eq(pthread_create(&thread, NULL, other_main, NULL), 0);
	ck_assert_int_eq(creds_become(NOBODY, NOBODY, &saved), 0);
	ck_assert_int_eq(creds_use_umask(077, &saved), 0);
	set_step(1);
	wait_step(2);
	sb = create("theirs", 0666);
	creds_restore(&saved);
	ck_assert_int_eq(pthread_join(thread, NULL), 0);
	ck_assert_int_eq(sb.st_uid, NOBODY);
	ck_assert_int_eq(sb.st_mode & 0777, 0600);
	ck_assert_int_eq(other.sb.st_uid, 0);
	ck_assert_int_eq(other.sb.st_mode & 0777, 0644);
	ck_assert_int_eq(other.umask_seen, 022);
	ck_assert_int_eq(umask(022), 022);
}
END_TEST

START_TEST(test_umask_is_the_callers_until_restored)
{
	struct creds_saved saved = { 0 };

	umask(022);
	ck_assert_int_eq(creds_use_umask(027, &saved), 0);
	ck_assert_int_eq(create("masked", 0666).st_mode & 0777, 0640);
	creds_restore(&saved);
	ck_assert_int_eq(create("daemon", 0666).st_mode & 0777, 0644);
}
END_TEST

static Suite *creds_suite(void)
{
	Suite *s = suite_create("creds");
	TCase *tc = tcase_create("creds");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_file_is_created_as_the_caller_and_then_as_the_daemon);
	tcase_add_test(tc, test_root_caller_needs_no_switch);
	tcase_add_test(tc, test_setgid_directory_gives_its_group_and_keeps_its_bit);
	tcase_add_test(tc, test_other_threads_keep_their_identity_and_umask);
	tcase_add_test(tc, test_umask_is_the_callers_until_restored);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *runner;
	int failed;

	if (geteuid() != 0) {
		fprintf(stderr, "test_creds: skipped: switching the filesystem identity needs root\n");
		return 77;
	}
	runner = srunner_create(creds_suite());
	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
