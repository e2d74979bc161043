/*
 * Security tests, area "privilege": no local user gains anything from a
 * daemon that runs as root (issue 13, DESIGN.md promise 10).
 *
 * On real mounts, with an unprivileged user created for the test:
 *   - a link swapped in between the mkdirat and the chmod of a restore
 *     never makes root change a file outside BACKING (the race window is
 *     held open by the slow_mkdirat shim, loaded into the daemon with
 *     LD_PRELOAD, so the swap wins every time on code that is open to it);
 *   - a restore makes a removed directory again with its own owner and
 *     mode, not its parent's;
 *   - a .mediafs owned by the user, writable by others, or a link is
 *     refused by the daemon and by mediactl --backing in one sentence;
 *   - under any umask everything in .mediafs is 0600 or 0700.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "app_harness.h"
#include "user_harness.h"

enum { WAIT_MS = 10000, POLL_MS = 2, OUTPUT_BYTES = 1 << 16 };

static struct mount_harness h;
static struct test_user user;
static char backing[PATH_MAX];	/* h.backing as the kernel names it */

static void setup(void)
{
	char runtime[600];

	ck_assert_int_eq(harness_init(&h, "privilege"), 0);
	snprintf(runtime, sizeof(runtime), "%s/run", h.dir);
	setenv("MEDIAFS_RUNTIME_DIR", runtime, 1);
	ck_assert_ptr_nonnull(realpath(h.backing, backing));
}

static void teardown(void)
{
	harness_destroy(&h);
}

static const char *in_dir(const char *rel)
{
	static char path[4][PATH_MAX];
	static int next;
	char *out = path[next++ % 4];

	snprintf(out, PATH_MAX, "%s/%s", h.dir, rel);
	return out;
}

/* Make a directory in BACKING with this owner and mode. */
static void make_dir(const char *rel, uid_t uid, gid_t gid, mode_t mode)
{
	const char *path = harness_backing_path(&h, rel);

	ck_assert_msg(mkdir(path, 0700) == 0, "mkdir %s: %s", path, strerror(errno));
	ck_assert_int_eq(chown(path, uid, gid), 0);
	ck_assert_int_eq(chmod(path, mode), 0);
}

static void make_file(const char *rel)
{
	ck_assert_int_eq(harness_write_file(harness_backing_path(&h, rel), "data", 4), 0);
}

/* Mount with the settings these tests need: every unlink is kept. */
static int mount_store(void)
{
	const char *args[] = { "-o", "temp_max_age=0s,min_age=1h,interval=1h", NULL };

	harness_clear_log(&h);
	return harness_mount(&h, args);
}

/* Run argv with stdout and stderr into out; returns the exit status. */
static int run_capture(const char *const argv[], char *out, size_t size)
{
	int pipe_fds[2], status;
	size_t len = 0;
	ssize_t n;
	pid_t pid;

	ck_assert_int_eq(pipe(pipe_fds), 0);
	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(pipe_fds[1], STDOUT_FILENO);
		dup2(pipe_fds[1], STDERR_FILENO);
		close(pipe_fds[0]);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(pipe_fds[1]);
	while (len + 1 < size && (n = read(pipe_fds[0], out + len, size - len - 1)) > 0)
		len += (size_t)n;
	close(pipe_fds[0]);
	out[len] = '\0';
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int restore(const char *rel, char *out, size_t size)
{
	const char *argv[] = { getenv("MEDIACTL_BIN"), "--mount", h.mountpoint, "restore", rel,
			       NULL };

	return run_capture(argv, out, size);
}

static void assert_owner_mode(const char *rel, uid_t uid, gid_t gid, mode_t mode)
{
	const char *path = harness_backing_path(&h, rel);
	struct stat sb;

	ck_assert_msg(lstat(path, &sb) == 0, "%s: %s", path, strerror(errno));
	ck_assert_msg(S_ISDIR(sb.st_mode), "%s is a directory", path);
	ck_assert_msg(sb.st_uid == uid && sb.st_gid == gid && (sb.st_mode & 07777) == mode,
		      "%s is %u:%u %04o, not %u:%u %04o", path, (unsigned)sb.st_uid,
		      (unsigned)sb.st_gid, (unsigned)(sb.st_mode & 07777), (unsigned)uid,
		      (unsigned)gid, (unsigned)mode);
}

/* ------------------------------------------------------------------ */
/* (a) a link swapped in while a restore makes a directory              */
/* ------------------------------------------------------------------ */

struct swap {
	const char *dir;	/* the directory the restore makes */
	const char *target;	/* what the link points at */
};

/* As the user: wait for the directory, then put a link in its place. */
static int swap_for_link(void *ctx)
{
	const struct swap *swap = ctx;
	struct timespec pause = { .tv_nsec = POLL_MS * 1000000L };
	struct stat sb;

	for (int waited = 0; lstat(swap->dir, &sb) != 0; waited += POLL_MS) {
		if (waited >= WAIT_MS)
			return 2;
		nanosleep(&pause, NULL);
	}
	if (rmdir(swap->dir) != 0 || symlink(swap->target, swap->dir) != 0)
		return 3;
	return 0;
}

/* LD_PRELOAD the shim into the daemon only: set around the mount. */
static void hold_mkdirat_in(const char *dir, const char *name, const char *go)
{
	char asan[1024];
	const char *old = getenv("ASAN_OPTIONS");

	setenv("LD_PRELOAD", getenv("MEDIAFS_SHIM_SLOW_MKDIRAT"), 1);
	setenv("MEDIAFS_SHIM_MKDIRAT_DIR", dir, 1);
	setenv("MEDIAFS_SHIM_MKDIRAT_NAME", name, 1);
	setenv("MEDIAFS_SHIM_GO", go, 1);
	/* The sanitizer runtime wants to come first; the shim does. */
	snprintf(asan, sizeof(asan), "%s%sverify_asan_link_order=0", old ? old : "",
		 old && *old ? ":" : "");
	setenv("ASAN_OPTIONS", asan, 1);
}

static void stop_holding(const char *old_asan)
{
	unsetenv("LD_PRELOAD");
	unsetenv("MEDIAFS_SHIM_MKDIRAT_DIR");
	unsetenv("MEDIAFS_SHIM_MKDIRAT_NAME");
	unsetenv("MEDIAFS_SHIM_GO");
	if (old_asan)
		setenv("ASAN_OPTIONS", old_asan, 1);
	else
		unsetenv("ASAN_OPTIONS");
}

START_TEST(test_link_swapped_in_during_restore_changes_nothing_outside)
{
	const char *canary = in_dir("canary"), *go = in_dir("go");
	char *old_asan = getenv("ASAN_OPTIONS") ? strdup(getenv("ASAN_OPTIONS")) : NULL;
	char shared[PATH_MAX], sub[PATH_MAX], output[OUTPUT_BYTES];
	struct swap swap = { .dir = sub, .target = canary };
	const char *argv[] = { getenv("MEDIACTL_BIN"), "--mount", h.mountpoint, "restore",
			       "shared/sub/f.jpg", NULL };
	int pipe_fds[2], status, swapped;
	size_t len = 0;
	struct stat sb;
	pid_t pid;

	ck_assert_msg(getenv("MEDIAFS_SHIM_SLOW_MKDIRAT"), "meson sets the shim's path");
	ck_assert_int_eq(harness_write_file(canary, "secret", 6), 0);
	ck_assert_int_eq(chmod(canary, 0600), 0);
	/* A directory of BACKING that the user may write in. */
	make_dir("shared", user.uid, user.gid, 0755);
	make_dir("shared/sub", user.uid, user.gid, 0755);
	make_file("shared/sub/f.jpg");
	snprintf(shared, sizeof(shared), "%s/shared", backing);
	snprintf(sub, sizeof(sub), "%s/shared/sub", backing);

	hold_mkdirat_in(shared, "sub", go);
	ck_assert_int_eq(mount_store(), 0);
	stop_holding(old_asan);
	free(old_asan);
	ck_assert_int_eq(unlink(harness_mount_path(&h, "shared/sub/f.jpg")), 0);
	ck_assert_int_eq(rmdir(harness_mount_path(&h, "shared/sub")), 0);

	/* root restores; the daemon makes shared/sub and waits for "go". */
	ck_assert_int_eq(pipe(pipe_fds), 0);
	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(pipe_fds[1], STDOUT_FILENO);
		dup2(pipe_fds[1], STDERR_FILENO);
		close(pipe_fds[0]);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(pipe_fds[1]);
	swapped = user_harness_run(&user, swap_for_link, &swap);
	ck_assert_int_eq(harness_write_file(go, "", 0), 0);
	for (ssize_t n; len + 1 < sizeof(output) &&
			(n = read(pipe_fds[0], output + len, sizeof(output) - len - 1)) > 0;)
		len += (size_t)n;
	output[len] = '\0';
	close(pipe_fds[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(swapped == 0, "the user swapped the directory for a link (%d)", swapped);

	ck_assert_int_eq(lstat(canary, &sb), 0);
	ck_assert_msg((sb.st_mode & 07777) == 0600 && sb.st_uid == 0 && sb.st_gid == 0,
		      "the canary outside BACKING became %u:%u %04o", (unsigned)sb.st_uid,
		      (unsigned)sb.st_gid, (unsigned)(sb.st_mode & 07777));
	/* The restore met a link where its directory was: refused. */
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1, "restore exits 1 (%d): %s",
		      WIFEXITED(status) ? WEXITSTATUS(status) : -1, output);
	ck_assert_int_eq(lstat(sub, &sb), 0);
	ck_assert_msg(S_ISLNK(sb.st_mode), "the link is left as the user made it");
}
END_TEST

/* ------------------------------------------------------------------ */
/* (b) a restored directory is the one that was removed                 */
/* ------------------------------------------------------------------ */

START_TEST(test_restore_makes_removed_directories_as_they_were)
{
	char output[OUTPUT_BYTES];

	make_dir("photos", 0, 0, 0755);
	make_dir("photos/2024", user.uid, user.gid, 0750);
	make_file("photos/2024/a.jpg");
	make_dir("deep", user.uid, user.gid, 0711);
	make_dir("deep/er", 0, user.gid, 02770);
	make_file("deep/er/b.jpg");
	ck_assert_int_eq(mount_store(), 0);

	ck_assert_int_eq(unlink(harness_mount_path(&h, "photos/2024/a.jpg")), 0);
	ck_assert_int_eq(unlink(harness_mount_path(&h, "deep/er/b.jpg")), 0);
	ck_assert_int_eq(rmdir(harness_mount_path(&h, "photos/2024")), 0);
	ck_assert_int_eq(rmdir(harness_mount_path(&h, "deep/er")), 0);
	ck_assert_int_eq(rmdir(harness_mount_path(&h, "deep")), 0);

	ck_assert_msg(restore("photos/2024/a.jpg", output, sizeof(output)) == 0, "%s", output);
	assert_owner_mode("photos/2024", user.uid, user.gid, 0750);
	ck_assert_msg(restore("deep/er/b.jpg", output, sizeof(output)) == 0, "%s", output);
	assert_owner_mode("deep", user.uid, user.gid, 0711);
	assert_owner_mode("deep/er", 0, user.gid, 02770);
	ck_assert_int_eq(access(harness_mount_path(&h, "deep/er/b.jpg"), F_OK), 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* (c) a state directory that is not the daemon's alone                 */
/* ------------------------------------------------------------------ */

static const struct {
	const char *says;
	int kind;		/* 0: the user's, 1: mode 0777, 2: a link */
} unsafe[] = {
	{ "is owned by another user", 0 },
	{ "is writable by group or others", 1 },
	{ "is a symbolic link", 2 },
};

START_TEST(test_unsafe_state_directory_is_refused)
{
	char state[PATH_MAX], expected[PATH_MAX + 64], output[OUTPUT_BYTES];
	const char *argv[] = { getenv("MEDIACTL_BIN"), "--backing", h.backing, "status", NULL };
	struct stat before, after;
	int status;

	snprintf(state, sizeof(state), "%s/.mediafs", h.backing);
	if (unsafe[_i].kind == 2) {
		ck_assert_int_eq(mkdir(in_dir("elsewhere"), 0700), 0);
		ck_assert_int_eq(symlink(in_dir("elsewhere"), state), 0);
	} else {
		ck_assert_int_eq(mkdir(state, 0700), 0);
		if (unsafe[_i].kind == 0)
			ck_assert_int_eq(chown(state, user.uid, user.gid), 0);
		else
			ck_assert_int_eq(chmod(state, 0777), 0);
	}
	ck_assert_int_eq(lstat(state, &before), 0);
	snprintf(expected, sizeof(expected), "state directory '%s/.mediafs' %s (owner uid %u",
		 backing, unsafe[_i].says, (unsigned)before.st_uid);

	ck_assert_msg(mount_store() != 0, "the daemon refuses to mount");
	ck_assert_msg(harness_log_contains(&h, expected), "the daemon says: %s", expected);
	status = run_capture(argv, output, sizeof(output));
	ck_assert_msg(status == 1, "mediactl --backing exits 1 (%d): %s", status, output);
	ck_assert_msg(strstr(output, expected), "mediactl says '%s': %s", expected, output);
	ck_assert_int_eq(lstat(state, &after), 0);
	ck_assert_msg(after.st_mode == before.st_mode && after.st_uid == before.st_uid,
		      "a refused state directory is left as it was");
}
END_TEST

/* ------------------------------------------------------------------ */
/* (d) modes in the state directory under any umask                     */
/* ------------------------------------------------------------------ */

static const mode_t umasks[] = { 022, 0 };

/* Check one entry of .mediafs (or of its quarantine): 0700 or 0600. */
static void assert_private(const char *path, bool must_be_dir)
{
	struct stat sb;

	ck_assert_msg(lstat(path, &sb) == 0, "%s: %s", path, strerror(errno));
	ck_assert_msg(S_ISDIR(sb.st_mode) || (!must_be_dir && S_ISREG(sb.st_mode)),
		      "%s is a %s", path, must_be_dir ? "directory" : "file or directory");
	ck_assert_msg(sb.st_uid == geteuid(), "%s belongs to the daemon", path);
	ck_assert_msg((sb.st_mode & 07777) == (S_ISDIR(sb.st_mode) ? 0700u : 0600u),
		      "%s has mode %04o", path, (unsigned)(sb.st_mode & 07777));
}

/* Every entry of dir, as assert_private(); returns how many. */
static int assert_entries_private(const char *dir, bool dirs_only)
{
	char command[PATH_MAX + 32], line[PATH_MAX];
	int count = 0;
	FILE *list;

	snprintf(command, sizeof(command), "ls -A '%s'", dir);
	list = popen(command, "r");
	ck_assert_ptr_nonnull(list);
	while (fgets(line, sizeof(line), list)) {
		char path[2 * PATH_MAX];
		line[strcspn(line, "\n")] = '\0';
		snprintf(path, sizeof(path), "%s/%s", dir, line);
		assert_private(path, dirs_only);
		count++;
	}
	ck_assert_int_eq(pclose(list), 0);
	return count;
}

START_TEST(test_state_directory_modes_hold_under_any_umask)
{
	const char *names[] = { "lock", "catalog.db", "catalog.db-wal", "catalog.db-shm",
				"quarantine" };
	const char *argv[] = { getenv("MEDIACTL_BIN"), "--mount", h.mountpoint, "status", NULL };
	char state[PATH_MAX], path[2 * PATH_MAX], output[OUTPUT_BYTES];
	mode_t old = umask(umasks[_i]);
	int mounted = mount_store();

	umask(old);
	snprintf(state, sizeof(state), "%s/.mediafs", h.backing);
	ck_assert_int_eq(mounted, 0);
	ck_assert_int_eq(harness_write_file(harness_mount_path(&h, "gone.jpg"), "x", 1), 0);
	ck_assert_int_eq(unlink(harness_mount_path(&h, "gone.jpg")), 0);
	/* The control socket answers once every thread has its catalog. */
	ck_assert_msg(run_capture(argv, output, sizeof(output)) == 0, "%s", output);

	assert_private(state, true);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", state, names[i]);
		assert_private(path, false);
	}
	assert_entries_private(state, false);
	/* Each id directory of the quarantine; below them lie the files
	 * themselves, with their own modes. */
	snprintf(path, sizeof(path), "%s/quarantine", state);
	ck_assert_msg(assert_entries_private(path, true) >= 1, "the unlinked file is kept");
}
END_TEST

static Suite *privilege_suite(void)
{
	Suite *s = suite_create("privilege");
	TCase *tc = tcase_create("privilege");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_link_swapped_in_during_restore_changes_nothing_outside);
	tcase_add_test(tc, test_restore_makes_removed_directories_as_they_were);
	tcase_add_loop_test(tc, test_unsafe_state_directory_is_refused, 0,
			    sizeof(unsafe) / sizeof(unsafe[0]));
	tcase_add_loop_test(tc, test_state_directory_modes_hold_under_any_umask, 0,
			    sizeof(umasks) / sizeof(umasks[0]));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	int failed;

	harness_require_fuse();
	if (geteuid() != 0) {
		printf("skip: the privilege tests attack a daemon that runs as root\n");
		return HARNESS_EXIT_SKIP;
	}
	user_harness_require(&user);
	failed = app_run_suite(privilege_suite());
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
