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
 * The caller's umask is applied the same way, per thread: the mount asks
 * the kernel for unmasked modes (FUSE_CAP_DONT_MASK, see ops.c), because
 * only the backing filesystem knows whether the parent directory has a
 * default ACL, which replaces the umask.  With the caller's umask as the
 * thread's own, the backing filesystem decides as it would natively.
 *
 * Threads: per thread; creds_become(), creds_use_umask() and
 * creds_restore() pair up on the same thread.
 */
#ifndef MEDIAFS_CREDS_H
#define MEDIAFS_CREDS_H

#include <stdbool.h>
#include <sys/types.h>

struct creds_saved {
	bool switched;		/* fsuid and fsgid were changed */
	bool umask_set;		/* old_umask holds the thread's umask */
	mode_t old_umask;
};

/*
 * Take uid and gid as this thread's filesystem identity, unless both are 0.
 * Only a daemon running as root may call it.  Returns 0 or -errno
 * (identity unchanged).
 */
int creds_become(uid_t uid, gid_t gid, struct creds_saved *saved);

/*
 * Take mask as this thread's umask until creds_restore().  The first call
 * on a thread gives it a umask of its own (unshare(CLONE_FS)), so other
 * threads keep theirs.  Returns 0 or -errno (umask unchanged).
 */
int creds_use_umask(mode_t mask, struct creds_saved *saved);

/* Return to the daemon's own identity and umask. */
void creds_restore(const struct creds_saved *saved);

#endif
