/*
 * safekeep: makes deletes through the mount recoverable and brings
 * quarantined files back when they are looked up.
 *
 * An unlink of a tracked file, and a rename that replaces one, move the
 * old file into the quarantine (reasons "unlinked" and "replaced") with one
 * rename or link on one filesystem, instead of destroying it.  The
 * exceptions, deleted for real: files with other hard links (their data
 * stays), and temporary files, born less than temp_max_age ago and never
 * seen referenced by a scan.  A lookup of a name that does not exist but
 * has a quarantined version restores it (reason "accessed").
 *
 * These run on FUSE workers: they make file system calls only, and report
 * to the catalog through the event queue.
 *
 * Threads: FUSE workers.
 */
#ifndef MEDIAFS_SAFEKEEP_H
#define MEDIAFS_SAFEKEEP_H

#include <limits.h>
#include <stdbool.h>
#include <sys/stat.h>

#include "mediafs.h"
#include "quarantine.h"

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
 * name was not found in parent: if it has a quarantined version, move it
 * back; if quarantined files lie under it (the checker removed the
 * directory it emptied), make the directory again.  Returns 0 when the
 * name exists now, -ENOENT otherwise.
 */
int safekeep_restore_on_access(struct mediafs *fs, struct inode *parent, int parent_fd,
			       const char *name);

#endif
