/*
 * track: what the FUSE handlers report to the catalog.  Each function
 * turns one completed operation into a catalog event (paths relative to
 * BACKING, computed from descriptors) and queues it with events_emit();
 * none waits for the database.  With tracking off (fs->events NULL) each
 * is a no-op.
 *
 * A path that cannot be computed (too long, or an inode reopened by handle
 * whose name the kernel no longer knows) is skipped with a rate-limited
 * warning; the next adoption walk catches the catalog up.
 *
 * Threads: FUSE workers.
 */
#ifndef MEDIAFS_TRACK_H
#define MEDIAFS_TRACK_H

#include <stdbool.h>
#include <sys/stat.h>

#include "mediafs.h"

/* Tracking is on. */
bool track_enabled(const struct mediafs *fs);

/* A file, symlink or node was created as name in the directory parent
 * (held as parent_fd); st is the new inode.  Directories are not tracked.
 * Returns true when the event was queued: the catalog will know the inode
 * and its path. */
bool track_created(struct mediafs *fs, struct inode *parent, int parent_fd,
		   const char *name, const struct stat *st, bool is_link);

/* The file open as (or named by) fd was written or truncated.  The event
 * carries the file's path, for a catalog that does not know the inode,
 * unless path_known says its creation was reported (track_created()). */
void track_written(struct mediafs *fs, int fd, bool path_known);

/* path (relative to BACKING) was unlinked for good. */
void track_removed(struct mediafs *fs, const char *path);

/* "dir/name" relative to BACKING into buf (PATH_MAX bytes); 0 or -errno
 * (-ENAMETOOLONG beyond PATH_MAX), logging nothing. */
int track_build_child_path(struct mediafs *fs, struct inode *parent, int parent_fd,
			   const char *name, char *buf);

/* The same, with a rate-limited warning on failure. */
int track_child_path(struct mediafs *fs, struct inode *parent, int parent_fd,
		     const char *name, char *buf);

/* path (a file as st describes) went to the quarantine as qname. */
void track_quarantined(struct mediafs *fs, const char *path, const char *qname,
		       const char *reason, const struct stat *st);

/* qname came back from the quarantine to path. */
void track_restored(struct mediafs *fs, const char *path, const char *qname,
		    const char *reason);

/* A rename (flags as renameat2) of what st describes; target_st describes
 * what an exchange swapped it with. */
void track_renamed(struct mediafs *fs, struct inode *parent, int parent_fd,
		   const char *name, struct inode *new_parent, int new_parent_fd,
		   const char *new_name, unsigned int flags, const struct stat *st,
		   const struct stat *target_st);

#endif
