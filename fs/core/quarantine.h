/*
 * quarantine: moves files between their place in BACKING and
 * BACKING/.mediafs/quarantine, always with one rename(2) on one filesystem,
 * so a file is in exactly one of the two places at every instant.
 *
 * Layout: quarantine/<id>/<original path>.  The quarantine and each id
 * directory are 0700 and the daemon's; the directories below an id take
 * the owner and mode of the original ones at the move, so that a restore
 * can make them again as they were.  An id is new for each
 * unlink (u<ms>-<n>) and for each scan (s<scan id>), so names never
 * collide, and the original path can be read back from the layout alone
 * (the catalog keeps it too): after a crash, whatever is in the quarantine
 * can be put back where it came from.  A quarantine_name is "<id>/<path>".
 *
 * Nothing here knows the catalog or FUSE; every call returns 0 or -errno
 * and logs nothing.  System calls that matter for failure handling go
 * through the store's ops, so tests can inject EIO, ENOSPC or EXDEV.
 *
 * Threads: any; the only shared state is an atomic counter.
 */
#ifndef MEDIAFS_QUARANTINE_H
#define MEDIAFS_QUARANTINE_H

#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "store.h"

#define QUARANTINE_DIR_NAME "quarantine"

/* Room for a quarantine id, and for a quarantine name. */
enum {
	QUARANTINE_ID_BYTES = 64,
	QUARANTINE_NAME_BYTES = PATH_MAX + QUARANTINE_ID_BYTES,
};

struct quarantine {
	const struct store *store;	/* immutable */
	int dir_fd;			/* O_PATH on the quarantine; immutable */
	atomic_uint_fast64_t counter;	/* for unlink ids */
};

/* Create (if needed) and open the quarantine directory of st. */
int quarantine_open(struct quarantine *q, const struct store *st);
void quarantine_close(struct quarantine *q);

/* A fresh id for one unlink or replace. */
void quarantine_new_id(struct quarantine *q, int64_t now_ms, char *id, size_t size);

/*
 * Move name (in dir_fd, which is the directory of rel) to <id>/<rel>.
 * With expected_ino non-zero the file must be that inode: otherwise
 * nothing is moved and -ESTALE returned; a file replaced between the check
 * and the move is moved back.  qname receives "<id>/<rel>".
 */
int quarantine_move_at(struct quarantine *q, int dir_fd, const char *name,
		       const char *rel, const char *id, ino_t expected_ino,
		       char *qname, size_t qname_size);

/* The same, with rel resolved beneath BACKING. */
int quarantine_move(struct quarantine *q, const char *rel, const char *id,
		    ino_t expected_ino, char *qname, size_t qname_size);

/*
 * Hard-link name (in dir_fd, the directory of rel) to <id>/<rel>: the file
 * survives a rename that replaces it.  quarantine_unlink_name() undoes it.
 */
int quarantine_link_at(struct quarantine *q, int dir_fd, const char *name,
		       const char *rel, const char *id, char *qname, size_t qname_size);

/*
 * Move qname back to rel in BACKING.  Missing directories are made again
 * with the owner and mode that they had when the file was quarantined
 * (the directories below its id mirror them); those that rel has and the
 * original path had not (a restore elsewhere) take the owner and mode of
 * the directory above them.  Every directory is made and changed through
 * a descriptor, never by a name somebody could swap.  Never replaces: -EEXIST when something holds rel, -ENOENT when
 * qname is not in the quarantine.
 */
int quarantine_restore(struct quarantine *q, const char *qname, const char *rel);

/*
 * Make directory path (relative to BACKING) and its missing parents again,
 * as they were when a file under them was quarantined, or like the
 * directory above where no id of the quarantine has them.  Returns 0 or
 * -errno; the cost grows with the number of ids.
 */
int quarantine_make_dir(struct quarantine *q, const char *path);

/* Delete qname for good, and the directories it leaves empty in its id. */
int quarantine_purge(struct quarantine *q, const char *qname);

/* Remove the name qname from the quarantine (and empty directories). */
int quarantine_unlink_name(struct quarantine *q, const char *qname);

/* Stat qname without following a symlink. */
int quarantine_stat(struct quarantine *q, const char *qname, struct stat *st);

/*
 * Call fn for every file in the quarantine with its quarantine name and
 * stat; fn returns 0 to go on.  Returns 0, fn's value, or -errno.
 */
int quarantine_each(struct quarantine *q,
		    int (*fn)(void *ctx, const char *qname, const struct stat *st),
		    void *ctx);

/* True when qname was moved there by a scan (id s<scan id>), false for an
 * unlink or replace through the mount (u...) and anything else. */
bool quarantine_is_from_scan(const char *qname);

/* The original path inside a quarantine name ("<id>/<path>" -> "<path>"). */
const char *quarantine_original_path(const char *qname);

#endif
