/*
 * mount_harness: a real daemon per test case, polled until its mount shows
 * up in statfs(2) (never a fixed sleep), and unmounted on every exit path.
 */
#include "mount_harness.h"

#include "clock.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum {
	FUSE_SUPER_MAGIC = 0x65735546,
	MOUNT_WAIT_MS = 10000,
	UNMOUNT_WAIT_MS = 10000,
	POLL_MS = 5,
	MAX_ARGS = 64,
	MAX_TRACKED = 16,
};

/* Mounts that an atexit() handler must take down; test process only. */
static struct mount_harness *tracked[MAX_TRACKED];
static bool atexit_registered;
static char path_buffer[2][2 * PATH_MAX + 2];
static int path_turn;

static void cleanup_at_exit(void)
{
	/* Check forks a child per test: only the process that mounted a
	 * filesystem takes it down. */
	for (int i = 0; i < MAX_TRACKED; i++) {
		if (tracked[i] && tracked[i]->pid > 0 && tracked[i]->owner == getpid())
			harness_unmount(tracked[i]);
	}
}

static void track(struct mount_harness *h)
{
	h->owner = getpid();
	if (!atexit_registered) {
		atexit(cleanup_at_exit);
		atexit_registered = true;
	}
	for (int i = 0; i < MAX_TRACKED; i++) {
		if (tracked[i] == h)
			return;
	}
	for (int i = 0; i < MAX_TRACKED; i++) {
		if (!tracked[i]) {
			tracked[i] = h;
			return;
		}
	}
}

static void untrack(struct mount_harness *h)
{
	for (int i = 0; i < MAX_TRACKED; i++) {
		if (tracked[i] == h)
			tracked[i] = NULL;
	}
}

long harness_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void harness_sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

void harness_require_fuse(void)
{
	const char *bin = getenv("MEDIAFS_BIN");

	if (access("/dev/fuse", R_OK | W_OK) != 0) {
		printf("skip: /dev/fuse is not usable here\n");
		exit(HARNESS_EXIT_SKIP);
	}
	if (!bin || access(bin, X_OK) != 0) {
		printf("skip: $MEDIAFS_BIN does not name the mediafs binary\n");
		exit(HARNESS_EXIT_SKIP);
	}
	if (system("command -v fusermount3 >/dev/null") != 0) {
		printf("skip: fusermount3 is not installed\n");
		exit(HARNESS_EXIT_SKIP);
	}
}

int harness_init(struct mount_harness *h, const char *name)
{
	memset(h, 0, sizeof(*h));
	snprintf(h->dir, sizeof(h->dir), "/tmp/mediafs-%s-XXXXXX", name);
	if (!mkdtemp(h->dir) || chmod(h->dir, 0755) != 0)
		return -errno;
	snprintf(h->backing, sizeof(h->backing), "%s/backing", h->dir);
	snprintf(h->mountpoint, sizeof(h->mountpoint), "%s/mnt", h->dir);
	snprintf(h->log_path, sizeof(h->log_path), "%s/daemon.log", h->dir);
	if (mkdir(h->backing, 0755) != 0 || mkdir(h->mountpoint, 0755) != 0)
		return -errno;
	return 0;
}

bool harness_is_mounted(const char *path)
{
	struct statfs sf;

	return statfs(path, &sf) == 0 && sf.f_type == FUSE_SUPER_MAGIC;
}

static void print_log(struct mount_harness *h)
{
	char cmd[PATH_MAX + 32];

	snprintf(cmd, sizeof(cmd), "tail -n 30 '%s' >&2", h->log_path);
	if (system(cmd) != 0)
		fprintf(stderr, "(no daemon log)\n");
}

int harness_mount_at(struct mount_harness *h, const char *backing,
		     const char *mountpoint, const char *const args[])
{
	const char *argv[MAX_ARGS];
	int argc = 0;
	long deadline;
	int status;

	if (backing != h->backing)
		snprintf(h->backing, sizeof(h->backing), "%s", backing);
	if (mountpoint != h->mountpoint)
		snprintf(h->mountpoint, sizeof(h->mountpoint), "%s", mountpoint);
	const char *extra = getenv("MEDIAFS_TEST_OPTIONS");

	argv[argc++] = getenv("MEDIAFS_BIN");
	argv[argc++] = "-f";
	for (int i = 0; args && args[i] && argc < MAX_ARGS - 5; i++)
		argv[argc++] = args[i];
	/* Whole suites run once more with other options (tests/run-all). */
	if (extra && *extra) {
		argv[argc++] = "-o";
		argv[argc++] = extra;
	}
	argv[argc++] = h->backing;
	argv[argc++] = h->mountpoint;
	argv[argc] = NULL;

	fflush(NULL);
	h->pid = fork();
	if (h->pid < 0)
		return -1;
	if (h->pid == 0) {
		int fd = open(h->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
			close(fd);
		}
		/* Check ends a failing test with _exit(), which runs no
		 * cleanup: the daemon unmounts itself when its test dies. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	track(h);
	deadline = harness_now_ms() + MOUNT_WAIT_MS;
	while (harness_now_ms() < deadline) {
		if (waitpid(h->pid, &status, WNOHANG) == h->pid) {
			h->pid = 0;
			fprintf(stderr, "mediafs exited before mounting:\n");
			print_log(h);
			return -1;
		}
		if (harness_is_mounted(h->mountpoint))
			return 0;
		harness_sleep_ms(POLL_MS);
	}
	fprintf(stderr, "mount did not appear within %d ms:\n", MOUNT_WAIT_MS);
	print_log(h);
	harness_kill(h);
	return -1;
}

int harness_mount(struct mount_harness *h, const char *const args[])
{
	return harness_mount_at(h, h->backing, h->mountpoint, args);
}

/* Which processes have a directory or a file of the mount open. */
static void print_users(struct mount_harness *h)
{
	harness_sh("ls -l /proc/[0-9]*/cwd /proc/[0-9]*/fd/* 2>/dev/null | grep -F '%s/' | "
		   "head -n 10 >&2", h->mountpoint);
}

int harness_unmount(struct mount_harness *h)
{
	long deadline = harness_now_ms() + UNMOUNT_WAIT_MS;
	int status;

	if (h->pid <= 0)
		return 0;
	/* A busy mount (a process with a directory of it open) cannot be
	 * unmounted: say so, since the daemon then rightly goes on. */
	if (harness_sh("fusermount3 -u '%s'", h->mountpoint) != 0) {
		fprintf(stderr, "fusermount3 -u '%s' failed; processes using it:\n", h->mountpoint);
		print_users(h);
	}
	while (harness_now_ms() < deadline) {
		if (waitpid(h->pid, &status, WNOHANG) == h->pid) {
			h->pid = 0;
			untrack(h);
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		}
		harness_sleep_ms(POLL_MS);
	}
	fprintf(stderr, "mediafs did not exit after unmount; its threads, then its log:\n");
	harness_sh("command -v gdb >/dev/null && gdb -p %d -batch -ex 'thread apply all bt' "
		   "2>/dev/null | grep -E '^(#|Thread)' | head -60 >&2", (int)h->pid);
	harness_sh("tail -n 5 '%s' >&2", h->log_path);
	harness_kill(h);
	return -1;
}

void harness_kill(struct mount_harness *h)
{
	if (h->pid > 0) {
		kill(h->pid, SIGKILL);
		waitpid(h->pid, NULL, 0);
		h->pid = 0;
	}
	untrack(h);
	harness_sh("fusermount3 -u -z '%s' 2>/dev/null", h->mountpoint);
}

/* Write the offset into a new 0600 file and rename it over the old one,
 * so that the daemon never reads half a number. */
static int write_clock(struct mount_harness *h, long long offset_ms)
{
	char tmp[sizeof(h->clock_path) + 8], text[32];
	int len = snprintf(text, sizeof(text), "%lld\n", offset_ms);
	int fd, err = 0;

	snprintf(tmp, sizeof(tmp), "%s.new", h->clock_path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	errno = 0;
	if (fchmod(fd, 0600) != 0 || write(fd, text, (size_t)len) != len)
		err = errno ? -errno : -EIO;
	if (close(fd) != 0 && !err)
		err = -errno;
	if (!err && rename(tmp, h->clock_path) != 0)
		err = -errno;
	if (!err)
		h->clock_offset_ms = offset_ms;
	return err;
}

int harness_use_test_clock(struct mount_harness *h)
{
	int err;

	snprintf(h->clock_path, sizeof(h->clock_path), "%s/clock-offset", h->dir);
	err = write_clock(h, 0);
	if (!err && setenv(CLOCK_TEST_OFFSET_ENV, h->clock_path, 1) != 0)
		err = -errno;
	return err;
}

int harness_advance_clock(struct mount_harness *h, long ms)
{
	if (!h->clock_path[0] || ms < 0)
		return -EINVAL;
	return write_clock(h, h->clock_offset_ms + ms);
}

void harness_destroy(struct mount_harness *h)
{
	harness_unmount(h);
	if (harness_is_mounted(h->mountpoint))
		harness_sh("fusermount3 -u -z '%s' 2>/dev/null", h->mountpoint);
	if (h->dir[0] && !getenv("HARNESS_KEEP"))
		harness_sh("rm -rf '%s'", h->dir);
}

static const char *join(const char *base, const char *rel)
{
	char *out = path_buffer[path_turn];

	path_turn = !path_turn;
	snprintf(out, sizeof(path_buffer[0]), "%s%s%s", base, rel[0] ? "/" : "", rel);
	return out;
}

const char *harness_backing_path(struct mount_harness *h, const char *rel)
{
	return join(h->backing, rel);
}

const char *harness_mount_path(struct mount_harness *h, const char *rel)
{
	return join(h->mountpoint, rel);
}

int harness_sh(const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;
	int status;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	fflush(NULL);
	status = system(cmd);
	if (status < 0 || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

int harness_sh_output(char *out, size_t size, const char *fmt, ...)
{
	char cmd[8192];
	size_t len = 0;
	va_list ap;
	int status;
	FILE *f;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	out[0] = '\0';
	fflush(NULL);
	f = popen(cmd, "r");
	if (!f)
		return -1;
	len = fread(out, 1, size - 1, f);
	out[len] = '\0';
	status = pclose(f);
	if (status < 0 || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/* Read both pipes until both close (poll: neither can fill up and stall
 * the child); each buffer is cut at its size and NUL-terminated. */
static void read_both(int out_fd, char *out, size_t out_size, int err_fd, char *err,
		      size_t err_size)
{
	struct pollfd fds[2] = { { .fd = out_fd, .events = POLLIN },
				 { .fd = err_fd, .events = POLLIN } };
	char *bufs[2] = { out, err }, scratch[4096];
	size_t sizes[2] = { out_size, err_size }, lens[2] = { 0, 0 };
	int open_count = 2;

	while (open_count > 0) {
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int i = 0; i < 2; i++) {
			if (fds[i].fd < 0 || !fds[i].revents)
				continue;
			size_t room = sizes[i] - 1 - lens[i];
			ssize_t n = room ? read(fds[i].fd, bufs[i] + lens[i], room) :
					   read(fds[i].fd, scratch, sizeof(scratch));
			if (n <= 0) {
				fds[i].fd = -1;
				open_count--;
			} else if (room) {
				lens[i] += (size_t)n;
			}
		}
	}
	out[lens[0]] = '\0';
	err[lens[1]] = '\0';
}

int harness_run(struct harness_output *r, uid_t uid, const char *const argv[])
{
	int out_pipe[2], err_pipe[2], status;
	pid_t pid;

	r->status = -1;
	r->out[0] = r->err[0] = '\0';
	if (pipe(out_pipe) != 0)
		return -1;
	if (pipe(err_pipe) != 0) {
		close(out_pipe[0]);
		close(out_pipe[1]);
		return -1;
	}
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		dup2(out_pipe[1], STDOUT_FILENO);
		dup2(err_pipe[1], STDERR_FILENO);
		close(out_pipe[0]);
		close(err_pipe[0]);
		if (uid && (setgroups(0, NULL) != 0 || setgid(uid) != 0 || setuid(uid) != 0))
			_exit(99);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(out_pipe[1]);
	close(err_pipe[1]);
	if (pid > 0)
		read_both(out_pipe[0], r->out, sizeof(r->out), err_pipe[0], r->err,
			  sizeof(r->err));
	close(out_pipe[0]);
	close(err_pipe[0]);
	if (pid > 0 && waitpid(pid, &status, 0) == pid)
		r->status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	return r->status;
}

void harness_slurp(const char *path, char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	if (harness_read_file(path, buf, size - 1, &len) == 0)
		buf[len] = '\0';
}

int harness_write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, data, len);
	if (n < 0 || (size_t)n != len) {
		int err = n < 0 ? -errno : -EIO;
		close(fd);
		return err;
	}
	return close(fd) < 0 ? -errno : 0;
}

int harness_read_file(const char *path, void *buf, size_t cap, size_t *len)
{
	int fd = open(path, O_RDONLY);
	size_t got = 0;
	ssize_t n;

	if (fd < 0)
		return -errno;
	while (got < cap && (n = read(fd, (char *)buf + got, cap - got)) > 0)
		got += (size_t)n;
	close(fd);
	*len = got;
	return 0;
}

/* The open flags of descriptor name of process pid, from its fdinfo. */
static int fd_flags(pid_t pid, const char *name)
{
	char path[64], line[256];
	unsigned int flags;
	int found = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%s", (int)pid, name);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (found < 0 && fgets(line, sizeof(line), f))
		if (sscanf(line, "flags: %o", &flags) == 1)
			found = (int)flags;
	fclose(f);
	return found;
}

bool harness_daemon_writes(struct mount_harness *h, const char *path)
{
	char dir[64], link[64], target[PATH_MAX];
	size_t len = strlen(path);
	struct dirent *e;
	bool writes = false;
	DIR *fds;

	if (h->pid <= 0)
		return false;
	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)h->pid);
	fds = opendir(dir);
	if (!fds)
		return false;
	while (!writes && (e = readdir(fds)) != NULL) {
		ssize_t n;
		int flags;
		if (e->d_name[0] == '.')
			continue;
		snprintf(link, sizeof(link), "%s/%s", dir, e->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (strncmp(target, path, len) != 0 || (target[len] && target[len] != '/'))
			continue;
		flags = fd_flags(h->pid, e->d_name);
		writes = flags >= 0 && !(flags & O_PATH) && (flags & O_ACCMODE) != O_RDONLY;
	}
	closedir(fds);
	return writes;
}

bool harness_log_contains(struct mount_harness *h, const char *needle)
{
	FILE *f = fopen(h->log_path, "r");
	char line[4096];
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

bool harness_wait_until(bool (*cond)(void *ctx), void *ctx, long timeout_ms)
{
	long deadline = harness_now_ms() + timeout_ms;

	while (!cond(ctx)) {
		if (harness_now_ms() > deadline)
			return cond(ctx);
		harness_sleep_ms(POLL_MS);
	}
	return true;
}

struct log_probe {
	struct mount_harness *h;
	const char *needle;
};

static bool log_has(void *ctx)
{
	struct log_probe *probe = ctx;

	return harness_log_contains(probe->h, probe->needle);
}

bool harness_wait_log(struct mount_harness *h, const char *needle, long timeout_ms)
{
	struct log_probe probe = { h, needle };

	return harness_wait_until(log_has, &probe, timeout_ms);
}

void harness_clear_log(struct mount_harness *h)
{
	int fd = open(h->log_path, O_WRONLY | O_TRUNC);

	if (fd >= 0)
		close(fd);
}
