/*
 * direct: a read-only view of BACKING for a web server that reads the
 * media itself (the "direct" topology, docs/operations.md), so that
 * serving a file costs no FUSE request at all while the application
 * writes through the mount.
 *
 * With -o direct=DIR the daemon, before it mounts, attaches a clone of
 * BACKING's mount tree at DIR, read-only, nosuid, nodev and noexec, and
 * detaches it after it unmounts.  Everything works on descriptors (the
 * new mount API): BACKING is the store's descriptor and DIR is opened once
 * with O_NOFOLLOW, so no name a user can swap is acted on.  What the view
 * gives up: reads through it are not lookups through the mount, so they
 * never restore a quarantined file (restore on access), and BACKING's
 * state directory is there too, guarded only by its mode (0700).
 *
 * Threads: main thread only.
 */
#ifndef MEDIAFS_DIRECT_H
#define MEDIAFS_DIRECT_H

#include <stddef.h>

struct direct_view {
	int tree_fd;		/* the attached tree, -1 when none */
	char dir[4096];		/* where, for the log */
};

/*
 * Attach BACKING (backing_fd, an O_PATH descriptor on it, whose path is
 * backing_path) read-only at dir, an existing empty directory outside
 * BACKING and other than mountpoint.  0, or -errno with why set.
 */
int direct_attach(struct direct_view *view, int backing_fd, const char *backing_path,
		  const char *dir, const char *mountpoint, char *why, size_t why_size);

/* Detach the view (lazily: open files of the web server keep working).
 * A view never attached (tree_fd -1) is left alone. */
void direct_detach(struct direct_view *view);

#endif
