/*
 * direct: open_tree(2), mount_setattr(2) and move_mount(2) on descriptors.
 */
#include "direct.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

/* Is path (canonical) dir or below it? */
static bool is_within(const char *path, const char *dir)
{
	size_t len = strlen(dir);

	if (len == 1 && dir[0] == '/')
		return true;
	return strncmp(path, dir, len) == 0 && (path[len] == '/' || path[len] == '\0');
}

static int refuse(char *why, size_t why_size, int err, const char *fmt, const char *dir)
{
	snprintf(why, why_size, fmt, dir, strerror(-err));
	return err;
}

int direct_attach(struct direct_view *view, int backing_fd, const char *backing_path,
		  const char *dir, const char *mountpoint, char *why, size_t why_size)
{
	struct mount_attr attr = {
		.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
			    MOUNT_ATTR_NOEXEC,
	};
	char real[PATH_MAX], real_mount[PATH_MAX];
	struct stat st;
	int dir_fd, tree_fd = -1, err;

	view->tree_fd = -1;
	snprintf(view->dir, sizeof(view->dir), "%s", dir);
	if (!realpath(dir, real))
		return refuse(why, why_size, -errno, "direct view '%s': %s", dir);
	if (!realpath(mountpoint, real_mount))
		snprintf(real_mount, sizeof(real_mount), "%s", mountpoint);
	if (is_within(real, backing_path) || is_within(backing_path, real) ||
	    strcmp(real, real_mount) == 0)
		return refuse(why, why_size, -EINVAL, "direct view '%s' must lie outside BACKING "
			      "and the mount point (%s)", dir);
	dir_fd = open(real, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dir_fd < 0)
		return refuse(why, why_size, -errno, "direct view '%s': %s", dir);
	/* Only a directory root owns, or a user could swap what it holds. */
	if (fstat(dir_fd, &st) != 0 || st.st_uid != geteuid() || (st.st_mode & 022)) {
		err = -EPERM;
		snprintf(why, why_size, "direct view '%s' must be a directory owned by the "
			 "daemon's user and writable by nobody else", dir);
		goto out_close;
	}
	tree_fd = open_tree(backing_fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC |
			    AT_EMPTY_PATH | AT_RECURSIVE);
	if (tree_fd < 0) {
		err = refuse(why, why_size, -errno, "direct view '%s': cannot clone BACKING: %s",
			     dir);
		goto out_close;
	}
	if (mount_setattr(tree_fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) != 0) {
		err = refuse(why, why_size, -errno, "direct view '%s': cannot make it read-only: "
			     "%s", dir);
		goto out_close;
	}
	if (move_mount(tree_fd, "", dir_fd, "",
		       MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0) {
		err = refuse(why, why_size, -errno, "direct view '%s': cannot attach it: %s", dir);
		goto out_close;
	}
	close(dir_fd);
	view->tree_fd = tree_fd;
	log_info("BACKING is readable at '%s' (read-only, direct view): reads there restore "
		 "nothing from the quarantine", dir);
	return 0;

out_close:
	if (tree_fd >= 0)
		close(tree_fd);
	close(dir_fd);
	return err;
}

void direct_detach(struct direct_view *view)
{
	char path[64];

	if (view->tree_fd < 0)
		return;
	/* The attached tree by its descriptor, not by a name. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", view->tree_fd);
	if (umount2(path, MNT_DETACH) != 0)
		log_warn("cannot detach the direct view at '%s': %s", view->dir, strerror(errno));
	close(view->tree_fd);
	view->tree_fd = -1;
}
