/*
 * ctladdr: names are the mount point with '/' as '-' and every other byte
 * that is not alphanumeric, '.' or '_' as \xNN, as systemd escapes paths.
 */
#include "ctladdr.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

int ctladdr_runtime_dir(char *buf, size_t size)
{
	const char *dir = getenv("MEDIAFS_RUNTIME_DIR");
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	int n;

	if (dir && *dir)
		n = snprintf(buf, size, "%s", dir);
	else if (geteuid() == 0)
		n = snprintf(buf, size, "/run/mediafs");
	else if (xdg && *xdg)
		n = snprintf(buf, size, "%s/mediafs", xdg);
	else
		n = snprintf(buf, size, "/tmp/mediafs-%u", (unsigned)geteuid());
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static void escape(const char *path, char *out, size_t size)
{
	size_t used = 0;

	while (*path == '/')
		path++;
	/* The root is "-", as systemd names it; a '-' in a name is \x2d. */
	if (!*path) {
		snprintf(out, size, "-");
		return;
	}
	for (; *path && used + 5 < size; path++) {
		unsigned char c = (unsigned char)*path;
		if (c == '/')
			out[used++] = '-';
		else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			 (c >= '0' && c <= '9') || c == '.' || c == '_')
			out[used++] = (char)c;
		else
			used += (size_t)snprintf(out + used, size - used, "\\x%02x", c);
	}
	out[used] = '\0';
}

int ctladdr_for_mount(const char *mountpoint, char *socket_path, size_t socket_size,
		      char *info_path, size_t info_size)
{
	struct sockaddr_un addr;
	char dir[256], name[1024];
	int n;

	if (ctladdr_runtime_dir(dir, sizeof(dir)) != 0)
		return -ENAMETOOLONG;
	escape(mountpoint, name, sizeof(name));
	if (strlen(dir) + strlen(name) + sizeof("/.sock") > sizeof(addr.sun_path)) {
		uint64_t h = 1469598103934665603ULL;
		for (const char *p = mountpoint; *p; p++)
			h = (h ^ (unsigned char)*p) * 1099511628211ULL;
		snprintf(name, sizeof(name), "mount-%016llx", (unsigned long long)h);
	}
	if (socket_path) {
		n = snprintf(socket_path, socket_size, "%s/%s.sock", dir, name);
		if (n < 0 || (size_t)n >= socket_size)
			return -ENAMETOOLONG;
	}
	if (info_path) {
		n = snprintf(info_path, info_size, "%s/%s.json", dir, name);
		if (n < 0 || (size_t)n >= info_size)
			return -ENAMETOOLONG;
	}
	return 0;
}
