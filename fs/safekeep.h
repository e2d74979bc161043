/*
 * safekeep: makes deletes through the mount recoverable and brings files
 * the checker quarantined back when they are looked up, once.
 *
 * An unlink of a tracked file, and a rename that replaces one, move the
 * old file into the quarantine (reasons "unlinked" and "replaced") with one
 * rename or link on one filesystem, instead of destroying it.  A name of a
 * file with other hard links moves like any name (its quarantined version
 * shares the inode with the other links).  The exceptions, deleted for
 * real: temporary files, born less than temp_max_age ago and never seen
 * referenced by a scan, and what is not a file or a symbolic link.  A file
 * whose path cannot be recorded (longer than PATH_MAX) cannot be kept:
 * its unlink, or a rename onto it, is refused (-ENAMETOOLONG) unless it is
 * a temporary file.
 *
 * Restore on access (promises 8 and 9, decided by policy_judge_access()):
 * a lookup of a name that does not exist looks at the path's newest
 * quarantined version.
 *   - Deleted through the mount (unlinked, replaced): the lookup fails;
 *     only an admin's restore brings it back.
 *   - Quarantined by a scan, never brought back by a lookup before:
 *     restored (reason "accessed", which the catalog counts per file in
 *     access_restores).
 *   - Quarantined by a scan after a lookup had brought it back once (or
 *     with restore_on_access off): the lookup fails, and the request is
 *     counted and shown as an alarm (safekeep_get_requests()), because a
 *     crawler keeping an orphan alive for ever, or a column missing from
 *     the configuration, looks like this.
 *
 * These run on FUSE workers: they make file system calls only, and report
 * to the catalog through the event queue.
 *
 * Threads: FUSE workers; the index functions also from the checker and
 * the control socket; safekeep_open() and safekeep_close() from main().
 */
#ifndef MEDIAFS_SAFEKEEP_H
#define MEDIAFS_SAFEKEEP_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "mediafs.h"
#include "quarantine.h"

struct catalog;

/*
 * Set up fs->safekeep: what restore on access remembers besides the
 * quarantine index, with the files the catalog says a lookup brought back
 * before.  Before the mount, with tracking on.  Returns 0 or -errno (with
 * cat's message for a catalog error).
 */
int safekeep_open(struct mediafs *fs, struct catalog *cat);
void safekeep_close(struct mediafs *fs);

/* Safekeeping is on (tracking is). */
bool safekeep_enabled(const struct mediafs *fs);

/*
 * Unlink name from parent (held as parent_fd): into the quarantine, or
 * for good as described above.  Returns 0 or -errno (nothing removed).
 */
int safekeep_unlink(struct mediafs *fs, struct inode *parent, int parent_fd,
		    const char *name);

/* A file about to be replaced by a rename, linked into the quarantine. */
struct safekeep_replace {
	bool active;			/* a link was made */
	char path[PATH_MAX];		/* the replaced file's path */
	char qname[QUARANTINE_NAME_BYTES];
	struct stat st;
};

/*
 * Before a rename onto new_name: when it would replace a file that must be
 * kept, link that file into the quarantine (replace->active).  Returns 0
 * or -errno (then the rename must not happen).
 */
int safekeep_replace_begin(struct mediafs *fs, struct inode *new_parent,
			   int new_parent_fd, const char *new_name,
			   struct safekeep_replace *replace);

/*
 * After the rename: on success record the replaced file as quarantined;
 * on failure take the quarantine link away again.
 */
void safekeep_replace_end(struct mediafs *fs, struct safekeep_replace *replace, bool renamed);

/*
 * The in-memory index of what is quarantined, which restore on access
 * consults: path -> its newest quarantine name, and every directory above
 * a quarantined path.  Everything that moves files in or out of the
 * quarantine keeps it up to date through these two.
 */
void safekeep_index_add(struct mediafs *fs, const char *path, const char *qname);
void safekeep_index_remove(struct mediafs *fs, const char *path, const char *qname);

/*
 * name was not found in parent: if its newest quarantined version may come
 * back (see above), move it back; if files a scan quarantined lie under it
 * (the checker removed the directory it emptied), make the directory
 * again.  Returns 0 when the name exists now, -ENOENT otherwise.
 */
int safekeep_restore_on_access(struct mediafs *fs, struct inode *parent, int parent_fd,
			       const char *name);

/* How many files stay quarantined although something asked for them. */
enum { SAFEKEEP_REQUEST_EXAMPLES = 5 };

struct safekeep_requests {
	uint64_t files;		/* such paths still quarantined */
	uint64_t requests;	/* lookups refused since the daemon started */
	size_t example_count;
	char examples[SAFEKEEP_REQUEST_EXAMPLES][PATH_MAX];	/* a few of the paths */
};

/* A copy of the counts, for the status.  Any thread. */
void safekeep_get_requests(struct mediafs *fs, struct safekeep_requests *out);

#endif
