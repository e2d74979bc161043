/*
 * mount_hooks: what the threads that know no FUSE (the checker, the
 * control socket) ask of the mount: tell the kernel that a name changed
 * behind its back, and read the faults that requests met.
 *
 * The daemon installs the FUSE layer's functions (ops.h) in fs->hooks
 * before any thread starts; with no hooks installed (unit tests, which
 * mount nothing) there is no kernel cache to invalidate and no request
 * was served, and the helpers below do nothing.
 *
 * Threads: any; the table is immutable once installed.
 */
#ifndef MEDIAFS_MOUNT_HOOKS_H
#define MEDIAFS_MOUNT_HOOKS_H

#include <stddef.h>
#include <stdint.h>

#include "mediafs.h"

struct mount_hooks {
	/* The name rel (relative to BACKING) moved to or from the
	 * quarantine.  Never from a FUSE handler of its directory. */
	void (*invalidate_name)(struct mediafs *fs, const char *rel);
	/* The same for rel and every directory above it. */
	void (*invalidate_path)(struct mediafs *fs, const char *rel);
	/* Up to max kinds of fault (names are static strings) and their
	 * counts; returns how many. */
	size_t (*error_counts)(struct mediafs *fs, const char **names, uint64_t *counts,
			       size_t max);
};

static inline void mount_hooks_invalidate_name(struct mediafs *fs, const char *rel)
{
	if (fs->hooks)
		fs->hooks->invalidate_name(fs, rel);
}

static inline void mount_hooks_invalidate_path(struct mediafs *fs, const char *rel)
{
	if (fs->hooks)
		fs->hooks->invalidate_path(fs, rel);
}

static inline size_t mount_hooks_error_counts(struct mediafs *fs, const char **names,
					      uint64_t *counts, size_t max)
{
	return fs->hooks ? fs->hooks->error_counts(fs, names, counts, max) : 0;
}

#endif
