/*
 * preflight: read-only checks; nothing here opens BACKING for use.
 */
#include "preflight.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape_mountinfo(char *s)
{
	char *out = s;

	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '7' && s[2] >= '0' &&
		    s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*out++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 4;
		} else {
			*out++ = *s++;
		}
	}
	*out = '\0';
}

bool preflight_is_fuse_mount(const char *path)
{
	char resolved[PATH_MAX];
	char *line = NULL;
	size_t cap = 0;
	bool found = false;
	FILE *f;

	if (!realpath(path, resolved))
		return false;
	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return false;
	while (getline(&line, &cap, f) > 0) {
		/* id parent major:minor root MOUNTPOINT opts ... - FSTYPE ... */
		char *sep = strstr(line, " - ");
		char *fields[5];
		char *save = NULL, *tok;
		int n = 0;

		if (!sep)
			continue;
		*sep = '\0';
		for (tok = strtok_r(line, " ", &save); tok && n < 5;
		     tok = strtok_r(NULL, " ", &save))
			fields[n++] = tok;
		if (n < 5)
			continue;
		unescape_mountinfo(fields[4]);
		if (strcmp(fields[4], resolved) == 0 && strncmp(sep + 3, "fuse", 4) == 0)
			found = true;
	}
	free(line);
	fclose(f);
	return found;
}

static bool is_beneath(const char *inner, const char *outer)
{
	size_t len = strlen(outer);

	if (len == 1)	/* "/" holds everything */
		return strcmp(inner, "/") != 0;
	return strncmp(inner, outer, len) == 0 && inner[len] == '/';
}

int preflight_check(const char *backing, const char *mountpoint,
		    char *message, size_t message_size)
{
	char backing_real[PATH_MAX], mount_real[PATH_MAX];
	struct stat st;

	if (stat(backing, &st) < 0) {
		int err = errno;
		snprintf(message, message_size, "cannot use backing directory '%s': %s",
			 backing, strerror(err));
		return -err;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(message, message_size,
			 "backing directory '%s' is not a directory", backing);
		return -ENOTDIR;
	}
	if (stat(mountpoint, &st) < 0) {
		int err = errno;
		snprintf(message, message_size, "cannot use mount point '%s': %s%s",
			 mountpoint, strerror(err),
			 err == ENOENT ? " (create the directory first)" :
			 err == ENOTCONN ? " (a stopped FUSE daemon left it; "
					   "run fusermount3 -u on it first)" : "");
		return -err;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(message, message_size, "mount point '%s' is not a directory",
			 mountpoint);
		return -ENOTDIR;
	}
	if (preflight_is_fuse_mount(mountpoint)) {
		snprintf(message, message_size,
			 "mount point '%s' is busy: a FUSE filesystem is already mounted there "
			 "(unmount it with: fusermount3 -u '%s')", mountpoint, mountpoint);
		return -EBUSY;
	}
	if (!realpath(backing, backing_real) || !realpath(mountpoint, mount_real)) {
		int err = errno;
		snprintf(message, message_size, "cannot resolve '%s': %s", backing,
			 strerror(err));
		return -err;
	}
	if (is_beneath(mount_real, backing_real)) {
		snprintf(message, message_size,
			 "mount point '%s' is inside backing directory '%s'; use the backing "
			 "directory itself or a directory outside it", mountpoint, backing);
		return -EINVAL;
	}
	if (stat("/dev/fuse", &st) < 0) {
		snprintf(message, message_size,
			 "/dev/fuse is missing: load the fuse kernel module (modprobe fuse) "
			 "or, in a container, pass the device in");
		return -ENODEV;
	}
	return 0;
}
