/*
 * openwrite_shim: an LD_PRELOAD library for test_openwrite that widens one
 * race window in the daemon.  Every rename into the quarantine (the
 * checker's moves, and unlinks kept there) waits $OPENWRITE_RENAME_DELAY_MS
 * milliseconds before it happens, so that opens for writing through the
 * mount keep arriving between the checker's decision to move a file and
 * the move itself.  Nothing else changes.
 */
#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef int (*renameat2_fn)(int, const char *, int, const char *, unsigned int);

static bool in_quarantine(int dir_fd)
{
	char proc[64], path[4096 + 1];
	ssize_t len;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", dir_fd);
	len = readlink(proc, path, sizeof(path) - 1);
	if (len < 0)
		return false;
	path[len] = '\0';
	return strstr(path, "/.mediafs/quarantine") != NULL;
}

int renameat2(int old_dir_fd, const char *old_name, int new_dir_fd, const char *new_name,
	      unsigned int flags)
{
	void *symbol = dlsym(RTLD_NEXT, "renameat2");
	renameat2_fn real;
	const char *delay = getenv("OPENWRITE_RENAME_DELAY_MS");
	long ms = delay ? atol(delay) : 0;

	/* ISO C has no cast from an object pointer to a function pointer. */
	memcpy(&real, &symbol, sizeof(real));

	if (ms > 0 && in_quarantine(new_dir_fd) && !in_quarantine(old_dir_fd)) {
		struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };
		nanosleep(&ts, NULL);
	}
	return real(old_dir_fd, old_name, new_dir_fd, new_name, flags);
}
