/*
 * adopt: the walk of BACKING that finds every file, so that the catalog
 * can adopt files it does not know and notice the ones that disappeared.
 *
 * The walk streams: it holds one open directory and one buffer per level
 * of depth, never a list of paths, and it is advanced a bounded number of
 * entries at a time so that its caller (the catalog writer) can apply
 * events in between.  It never follows a symlink and skips the state
 * directory.  Regular files and symlinks are reported, with the inode
 * number from the directory entry and size and mtime unknown (-1): a stat
 * per file would cost more than the rest of the walk.  Other types (FIFOs,
 * sockets, devices) are not media.
 *
 * Threads: a walk belongs to one thread.
 */
#ifndef MEDIAFS_ADOPT_H
#define MEDIAFS_ADOPT_H

#include <stddef.h>
#include <stdint.h>

#include "catalog.h"
#include "store.h"

struct adopt_walk;

/* Called for each file found; return 0 to go on, -errno to stop. */
typedef int (*adopt_found_fn)(void *ctx, const struct catalog_found *found);

/* Start a walk of st's BACKING.  Returns 0 or -errno. */
int adopt_walk_start(const struct store *st, struct adopt_walk **out);

/*
 * Visit up to max_entries directory entries.  Returns 1 while there is
 * more to do, 0 when the walk is complete, or -errno when a directory
 * could not be read (the walk is then incomplete and must not be used to
 * declare files missing); *where names it.  A directory removed while
 * the walk is in it is not an error: it was empty when it went.
 */
int adopt_walk_step(struct adopt_walk *walk, size_t max_entries,
		    adopt_found_fn found, void *ctx, const char **where);

/* Files reported so far. */
uint64_t adopt_walk_files(const struct adopt_walk *walk);

void adopt_walk_free(struct adopt_walk *walk);

#endif
