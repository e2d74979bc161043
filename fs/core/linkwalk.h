/*
 * linkwalk: what a path relative to BACKING resolves to inside BACKING,
 * through the symbolic links on its way, and which links those are.
 *
 * The walk goes one component at a time: each is opened with O_PATH and
 * O_NOFOLLOW beneath BACKING (store_open_beneath, which refuses links and
 * escapes), and a link is read on its descriptor (readlinkat), never by a
 * name the kernel would resolve.  Link targets:
 *   - relative ones resolve against the link's directory, ".." included,
 *     as the kernel would;
 *   - absolute ones are followed only when they name BACKING or a path
 *     under it as the store opened it ("/srv/media/2024" for BACKING
 *     /srv/media), since that is what an application sees when BACKING is
 *     also the mount point;
 *   - anything else (an absolute path elsewhere, ".." above BACKING, a
 *     mount point inside it, the state directory .mediafs) ends the walk
 *     as LINKWALK_ESCAPES: nothing outside is opened;
 *   - more than LINKWALK_MAX_LINKS links end it as LINKWALK_LOOP.
 * The walk is a snapshot: a tree changing meanwhile may give a stale
 * answer, never an open outside BACKING.
 *
 * Threads: any; no state.  Blocks on the disk: never on a FUSE worker's
 * request path.
 */
#ifndef MEDIAFS_LINKWALK_H
#define MEDIAFS_LINKWALK_H

#include <limits.h>
#include <sys/types.h>

#include "store.h"

/* As the kernel's limit on links in one lookup (MAXSYMLINKS). */
enum { LINKWALK_MAX_LINKS = 40 };

enum linkwalk_outcome {
	LINKWALK_PLAIN,		/* it exists, no link on the way */
	LINKWALK_MISSING,	/* a component is missing, no link on the way */
	LINKWALK_RESOLVED,	/* through one link or more, to something that exists */
	LINKWALK_DANGLING,	/* through links, to nothing */
	LINKWALK_ESCAPES,	/* a link leads out of BACKING: not followed */
	LINKWALK_LOOP,		/* too many links, or a target too long to follow */
};

struct linkwalk_result {
	enum linkwalk_outcome outcome;
	unsigned links;		/* links passed */
	/* PLAIN and RESOLVED: the path (relative to BACKING, no link in it)
	 * and type of what it resolves to. */
	char target[PATH_MAX];
	mode_t mode;
};

/*
 * Resolve rel (relative to BACKING, NUL-terminated) and call on_link with
 * the path of each link passed, in order (on_link returns 0 to go on or
 * -errno to stop).  Returns 0 with *out filled, or -errno for a failure
 * that says nothing about the path (-EIO, -EACCES, -ENOMEM, or on_link's).
 */
int linkwalk_resolve(const struct store *st, const char *rel,
		     int (*on_link)(void *ctx, const char *link), void *ctx,
		     struct linkwalk_result *out);

/* "plain", "missing", "resolved", "dangling", "escapes" or "loop". */
const char *linkwalk_outcome_name(enum linkwalk_outcome outcome);

#endif
