/*
 * Integration tests of the daemon as a new user meets it: one clear
 * sentence and a non-zero exit for each likely mistake, a clean unmount on
 * SIGTERM and SIGINT, and a mount over its own backing directory.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "app_harness.h"

struct run_result {
	int status;		/* exit status, or -1 when killed */
	char output[8192];	/* stdout and stderr */
};

/* Run mediafs in the foreground with argv; kill it after timeout_s. */
static void run_mediafs(const char *const argv_tail[], int timeout_s,
			struct run_result *out)
{
	char log[] = "/tmp/mediafs-daemon-out-XXXXXX";
	const char *argv[32] = { getenv("MEDIAFS_BIN"), "-f" };
	int argc = 2, fd = mkstemp(log), status;
	pid_t pid;

	ck_assert_int_ge(fd, 0);
	for (int i = 0; argv_tail[i]; i++)
		argv[argc++] = argv_tail[i];
	pid = fork();
	if (pid == 0) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	for (int waited = 0;; waited++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
		if (waited > timeout_s * 100) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			break;
		}
		struct timespec ten_ms = { .tv_nsec = 10 * 1000 * 1000 };
		nanosleep(&ten_ms, NULL);
	}
	out->status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	ssize_t n = pread(fd, out->output, sizeof(out->output) - 1, 0);
	out->output[n > 0 ? n : 0] = '\0';
	close(fd);
	unlink(log);
}

static struct mount_harness h;

static void setup(void)
{
	ck_assert_int_eq(harness_init(&h, "daemon"), 0);
}

static void teardown(void)
{
	harness_destroy(&h);
}

static void assert_refused(const char *const argv[], const char *sentence)
{
	struct run_result r;

	run_mediafs(argv, 10, &r);
	ck_assert_msg(r.status == 1, "mediafs exits 1 (got %d): %s", r.status, r.output);
	ck_assert_msg(strstr(r.output, sentence) != NULL,
		      "the message says '%s'; it was: %s", sentence, r.output);
	ck_assert_msg(!harness_is_mounted(h.mountpoint), "nothing was mounted");
}

START_TEST(test_missing_backing_is_one_clear_sentence)
{
	const char *argv[] = { "/nonexistent/media", h.mountpoint, NULL };

	assert_refused(argv, "cannot use backing directory '/nonexistent/media': "
			     "No such file or directory");
}
END_TEST

START_TEST(test_backing_that_is_a_file_is_refused)
{
	const char *file = harness_backing_path(&h, "file");
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s", file);
	ck_assert_int_eq(harness_write_file(path, "x", 1), 0);
	const char *argv[] = { path, h.mountpoint, NULL };
	assert_refused(argv, "is not a directory");
}
END_TEST

START_TEST(test_missing_mountpoint_is_one_clear_sentence)
{
	const char *argv[] = { h.backing, "/nonexistent/mnt", NULL };

	assert_refused(argv, "cannot use mount point '/nonexistent/mnt': No such file "
			     "or directory (create the directory first)");
}
END_TEST

START_TEST(test_busy_mountpoint_is_refused)
{
	char other[PATH_MAX];

	ck_assert_int_eq(harness_mount(&h, NULL), 0);
	snprintf(other, sizeof(other), "%s/other-backing", h.dir);
	ck_assert_int_eq(mkdir(other, 0755), 0);
	const char *argv[] = { other, h.mountpoint, NULL };
	struct run_result r;
	run_mediafs(argv, 10, &r);
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.output, "is busy") != NULL, "output: %s", r.output);
	ck_assert_msg(harness_is_mounted(h.mountpoint), "the first mount is untouched");
}
END_TEST

START_TEST(test_backing_in_use_is_refused)
{
	char other_mnt[PATH_MAX];

	ck_assert_int_eq(harness_mount(&h, NULL), 0);
	snprintf(other_mnt, sizeof(other_mnt), "%s/mnt2", h.dir);
	ck_assert_int_eq(mkdir(other_mnt, 0755), 0);
	const char *argv[] = { h.backing, other_mnt, NULL };
	struct run_result r;
	run_mediafs(argv, 10, &r);
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.output, "is in use by another mediafs") != NULL,
		      "output: %s", r.output);
	ck_assert_msg(!harness_is_mounted(other_mnt), "the second mount did not happen");
}
END_TEST

START_TEST(test_mountpoint_inside_backing_is_refused)
{
	char inner[PATH_MAX];

	snprintf(inner, sizeof(inner), "%s/sub", h.backing);
	ck_assert_int_eq(mkdir(inner, 0755), 0);
	const char *argv[] = { h.backing, inner, NULL };
	assert_refused(argv, "is inside backing directory");
}
END_TEST

START_TEST(test_unknown_option_is_refused)
{
	const char *argv[] = { "-o", "no_such_option", h.backing, h.mountpoint, NULL };
	struct run_result r;

	run_mediafs(argv, 10, &r);
	ck_assert_msg(r.status != 0, "mediafs fails on an unknown option");
	ck_assert_msg(strstr(r.output, "no_such_option") != NULL, "output: %s", r.output);
	ck_assert_msg(!harness_is_mounted(h.mountpoint), "nothing was mounted");
}
END_TEST

START_TEST(test_missing_arguments_print_usage)
{
	const char *argv[] = { h.backing, NULL };
	struct run_result r;

	run_mediafs(argv, 10, &r);
	ck_assert_int_eq(r.status, 2);
	ck_assert_msg(strstr(r.output, "usage: mediafs [options] BACKING MOUNTPOINT") != NULL,
		      "output: %s", r.output);
}
END_TEST

START_TEST(test_help_and_version)
{
	const char *help[] = { "--help", NULL };
	const char *version[] = { "--version", NULL };
	struct run_result r;

	run_mediafs(help, 10, &r);
	ck_assert_int_eq(r.status, 0);
	ck_assert_msg(strstr(r.output, "-o timeout=S") != NULL, "help lists options");
	run_mediafs(version, 10, &r);
	ck_assert_int_eq(r.status, 0);
	ck_assert_msg(strstr(r.output, "mediafs ") != NULL, "version: %s", r.output);
}
END_TEST

START_TEST(test_missing_dev_fuse_is_one_clear_sentence)
{
	struct run_result r;
	char script[2048];

	if (harness_sh("command -v unshare >/dev/null") != 0 || geteuid() != 0)
		return;
	/* A private /dev without the fuse device, as in a bare container. */
	snprintf(script, sizeof(script),
		 "mount -t tmpfs none /dev && exec %s -f %s %s",
		 getenv("MEDIAFS_BIN"), h.backing, h.mountpoint);
	const char *argv[] = { "-m", "sh", "-c", script, NULL };
	const char *unshare_argv[8] = { "/usr/bin/unshare" };
	for (int i = 0; argv[i]; i++)
		unshare_argv[i + 1] = argv[i];
	int fds[2];
	ck_assert_int_eq(pipe(fds), 0);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fds[1], STDERR_FILENO);
		execv(unshare_argv[0], (char *const *)unshare_argv);
		_exit(127);
	}
	close(fds[1]);
	ssize_t n = read(fds[0], r.output, sizeof(r.output) - 1);
	r.output[n > 0 ? n : 0] = '\0';
	int status;
	waitpid(pid, &status, 0);
	ck_assert_int_eq(WEXITSTATUS(status), 1);
	ck_assert_msg(strstr(r.output, "/dev/fuse is missing") != NULL, "output: %s", r.output);
}
END_TEST

START_TEST(test_unreadable_backing_is_permission_denied)
{
	char locked[PATH_MAX];
	char cmd[PATH_MAX * 3];

	if (geteuid() != 0)
		return;
	snprintf(locked, sizeof(locked), "%s/locked", h.dir);
	ck_assert_int_eq(mkdir(locked, 0700), 0);
	ck_assert_int_eq(mkdir(harness_backing_path(&h, "../locked/media"), 0755), 0);
	ck_assert_int_eq(chmod(h.mountpoint, 0777), 0);
	snprintf(cmd, sizeof(cmd),
		 "setpriv --reuid=5555 --regid=5555 --clear-groups %s -f %s/media %s 2>&1 | "
		 "grep -q \"cannot use backing directory '%s/media': Permission denied\"",
		 getenv("MEDIAFS_BIN"), locked, h.mountpoint, locked);
	ck_assert_msg(harness_sh("%s", cmd) == 0, "a user without access is told so");
}
END_TEST

static void assert_signal_unmounts(int sig)
{
	pid_t pid;
	int status;

	ck_assert_int_eq(harness_mount(&h, NULL), 0);
	ck_assert_int_eq(harness_write_file(harness_mount_path(&h, "f"), "x", 1), 0);
	pid = h.pid;
	ck_assert_int_eq(kill(pid, sig), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	h.pid = 0;
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "the daemon exits 0 on signal %d", sig);
	ck_assert_msg(!harness_is_mounted(h.mountpoint), "the mount is gone");
	ck_assert_int_eq(access(harness_backing_path(&h, "f"), F_OK), 0);
}

START_TEST(test_sigterm_unmounts_cleanly)
{
	assert_signal_unmounts(SIGTERM);
}
END_TEST

START_TEST(test_sigint_unmounts_cleanly)
{
	assert_signal_unmounts(SIGINT);
}
END_TEST

START_TEST(test_mount_over_own_backing_directory)
{
	char buf[16];
	size_t len;
	struct stat st;

	ck_assert_int_eq(harness_write_file(harness_backing_path(&h, "old.jpg"), "old", 3), 0);
	ck_assert_int_eq(harness_mount_at(&h, h.backing, h.backing, NULL), 0);
	ck_assert_int_eq(harness_read_file(harness_backing_path(&h, "old.jpg"), buf,
					   sizeof(buf), &len), 0);
	ck_assert_msg(len == 3 && memcmp(buf, "old", 3) == 0,
		      "a file that was there before the mount reads through it");
	ck_assert_int_eq(harness_write_file(harness_backing_path(&h, "new.jpg"), "new", 3), 0);
	ck_assert_int_eq(stat(harness_backing_path(&h, ".mediafs"), &st), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(harness_unmount(&h), 0);
	ck_assert_int_eq(harness_read_file(harness_backing_path(&h, "new.jpg"), buf,
					   sizeof(buf), &len), 0);
	ck_assert_msg(len == 3 && memcmp(buf, "new", 3) == 0,
		      "a file written through the mount is in the directory afterwards");
	ck_assert_int_eq(stat(harness_backing_path(&h, ".mediafs"), &st), 0);
}
END_TEST

static Suite *daemon_suite(void)
{
	Suite *s = suite_create("daemon");
	TCase *errors = tcase_create("errors");
	TCase *lifecycle = tcase_create("lifecycle");

	tcase_add_checked_fixture(errors, setup, teardown);
	tcase_set_timeout(errors, 60);
	tcase_add_test(errors, test_missing_backing_is_one_clear_sentence);
	tcase_add_test(errors, test_backing_that_is_a_file_is_refused);
	tcase_add_test(errors, test_missing_mountpoint_is_one_clear_sentence);
	tcase_add_test(errors, test_busy_mountpoint_is_refused);
	tcase_add_test(errors, test_backing_in_use_is_refused);
	tcase_add_test(errors, test_mountpoint_inside_backing_is_refused);
	tcase_add_test(errors, test_unknown_option_is_refused);
	tcase_add_test(errors, test_missing_arguments_print_usage);
	tcase_add_test(errors, test_help_and_version);
	tcase_add_test(errors, test_missing_dev_fuse_is_one_clear_sentence);
	tcase_add_test(errors, test_unreadable_backing_is_permission_denied);
	suite_add_tcase(s, errors);

	tcase_add_checked_fixture(lifecycle, setup, teardown);
	tcase_set_timeout(lifecycle, 60);
	tcase_add_test(lifecycle, test_sigterm_unmounts_cleanly);
	tcase_add_test(lifecycle, test_sigint_unmounts_cleanly);
	tcase_add_test(lifecycle, test_mount_over_own_backing_directory);
	suite_add_tcase(s, lifecycle);
	return s;
}

int main(void)
{
	int failed;

	harness_require_fuse();
	failed = app_run_suite(daemon_suite());
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
