/*
 * preflight: the checks that turn a new user's likely mistakes into one
 * clear sentence before anything is mounted: a missing or wrong BACKING or
 * MOUNTPOINT, a mount point that is already mounted, a mount point inside
 * its own backing directory, no /dev/fuse.
 *
 * Threads: main thread, before the session starts.
 */
#ifndef MEDIAFS_PREFLIGHT_H
#define MEDIAFS_PREFLIGHT_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Check backing and mountpoint.  Returns 0, or -errno with a sentence for
 * the user (no trailing newline) in message.
 */
int preflight_check(const char *backing, const char *mountpoint,
		    char *message, size_t message_size);

/*
 * True when path is the mount point of a FUSE filesystem now, according
 * to /proc/self/mountinfo.
 */
bool preflight_is_fuse_mount(const char *path);

#endif
