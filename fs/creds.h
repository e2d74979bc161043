/*
 * creds: act as the caller while creating a file.
 *
 * A daemon running as root creates files, directories, nodes and symlinks
 * with the uid and gid of the process that asked, as a local filesystem
 * would, so ownership and setgid-directory inheritance come out right.  The
 * switch changes only the calling thread's fsuid and fsgid and raises the
 * capabilities that the change drops, because the kernel has already checked
 * the caller's permissions (the mount uses default_permissions) against its
 * full group list, which the daemon does not have.
 *
 * Threads: per thread; creds_become() and creds_restore() pair up on the
 * same thread.
 */
#ifndef MEDIAFS_CREDS_H
#define MEDIAFS_CREDS_H

#include <stdbool.h>
#include <sys/types.h>

struct creds_saved {
	bool switched;
};

/*
 * Take uid and gid as this thread's filesystem identity, unless both are 0.
 * Only a daemon running as root may call it.  Returns 0 or -errno
 * (identity unchanged).
 */
int creds_become(uid_t uid, gid_t gid, struct creds_saved *saved);

/* Return to the daemon's own identity. */
void creds_restore(const struct creds_saved *saved);

#endif
