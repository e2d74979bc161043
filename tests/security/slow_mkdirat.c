/*
 * slow_mkdirat: an LD_PRELOAD shim for the privilege tests that holds one
 * mkdirat(2) open as a race window.  After the real mkdirat of
 * $MEDIAFS_SHIM_MKDIRAT_NAME in the directory $MEDIAFS_SHIM_MKDIRAT_DIR
 * succeeds, the call waits until the file $MEDIAFS_SHIM_GO exists (at most
 * SHIM_WAIT_MS) before it returns, so that a test can swap the new
 * directory for a link every time, not once in a thousand runs.  Every
 * other call goes straight through.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { SHIM_WAIT_MS = 10000, SHIM_POLL_MS = 1 };

int mkdirat(int dir_fd, const char *name, mode_t mode);

/* Is dir_fd/name the directory to hold? */
static int is_watched(int dir_fd, const char *name)
{
	const char *dir = getenv("MEDIAFS_SHIM_MKDIRAT_DIR");
	const char *watched = getenv("MEDIAFS_SHIM_MKDIRAT_NAME");
	char proc[64], path[PATH_MAX];
	ssize_t len;

	if (!dir || !watched || strcmp(name, watched) != 0)
		return 0;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", dir_fd);
	len = readlink(proc, path, sizeof(path) - 1);
	if (len < 0)
		return 0;
	path[len] = '\0';
	return strcmp(path, dir) == 0;
}

static void wait_for_go(void)
{
	const char *go = getenv("MEDIAFS_SHIM_GO");
	struct timespec pause = { .tv_nsec = SHIM_POLL_MS * 1000000L };
	struct stat sb;

	for (int waited = 0; go && waited < SHIM_WAIT_MS; waited += SHIM_POLL_MS) {
		if (stat(go, &sb) == 0)
			return;
		nanosleep(&pause, NULL);
	}
}

int mkdirat(int dir_fd, const char *name, mode_t mode)
{
	int (*real)(int, const char *, mode_t);
	void *symbol = dlsym(RTLD_NEXT, "mkdirat");
	int res, saved;

	/* ISO C has no cast from an object pointer to a function pointer. */
	memcpy(&real, &symbol, sizeof(real));
	if (!symbol) {
		errno = ENOSYS;
		return -1;
	}
	res = real(dir_fd, name, mode);
	saved = errno;
	if (res == 0 && is_watched(dir_fd, name))
		wait_for_go();
	errno = saved;
	return res;
}
