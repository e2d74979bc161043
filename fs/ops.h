/*
 * ops: the table of FUSE low-level handlers.  The session's userdata must
 * be the struct mediafs that the handlers work on.
 */
#ifndef MEDIAFS_OPS_H
#define MEDIAFS_OPS_H

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

extern const struct fuse_lowlevel_ops fs_ops;

struct mediafs;

/*
 * Tell the kernel that the name rel (relative to BACKING) changed behind
 * its back (moved to or from the quarantine), if it caches the directory.
 * Never call it from a FUSE handler of that directory.
 */
void ops_invalidate_name(struct mediafs *fs, const char *rel);

/* The same for rel and every directory above it: after a restore that
 * made directories again, the kernel may hold negative entries for them. */
void ops_invalidate_path(struct mediafs *fs, const char *rel);

/*
 * The faults requests through the mount met so far (EIO, ENOSPC, ...):
 * fills up to max names (static strings) and counts, returns how many.
 * Any thread.
 */
size_t ops_error_counts(struct mediafs *fs, const char **names, uint64_t *counts, size_t max);

/* After the session loop has ended: report and close every handle whose
 * release request never came (an unmount can outrun them). */
void ops_close_handles(struct mediafs *fs);

#endif
