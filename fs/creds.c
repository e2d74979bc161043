/*
 * creds: setfsuid(2), setfsgid(2) and capset(2) act on the calling thread
 * only, which is what a multi-threaded daemon needs; glibc's setresuid() and
 * friends would change every thread at once.  umask(2) acts on the
 * filesystem context, which threads share until one unshares it.
 */
#include "creds.h"

#include <errno.h>
#include <sched.h>
#include <sys/stat.h>
#include <linux/capability.h>
#include <sys/fsuid.h>
#include <sys/syscall.h>
#include <unistd.h>

/* What a non-zero fsuid drops and a create by the caller still needs: the
 * kernel checked access already; the backing filesystem must not re-check
 * it with the daemon's group list, nor strip a setgid bit it kept. */
static const unsigned int RAISED_CAPS =
	(1u << CAP_DAC_OVERRIDE) | (1u << CAP_DAC_READ_SEARCH) |
	(1u << CAP_FSETID) | (1u << CAP_MKNOD) | (1u << CAP_FOWNER);

static int raise_fs_caps(void)
{
	struct __user_cap_header_struct header = {
		.version = _LINUX_CAPABILITY_VERSION_3,
		.pid = 0,
	};
	struct __user_cap_data_struct data[2];

	if (syscall(SYS_capget, &header, data) < 0)
		return -errno;
	data[0].effective |= RAISED_CAPS & data[0].permitted;
	if (syscall(SYS_capset, &header, data) < 0)
		return -errno;
	return 0;
}

int creds_become(uid_t uid, gid_t gid, struct creds_saved *saved)
{
	int err;

	saved->switched = false;
	if (uid == 0 && gid == 0)
		return 0;
	/* setfsgid first: once fsuid is not 0 the thread may not change it. */
	setfsgid(gid);
	if ((gid_t)setfsgid((gid_t)-1) != gid)
		return -EPERM;
	setfsuid(uid);
	if ((uid_t)setfsuid((uid_t)-1) != uid) {
		setfsgid(0);
		return -EPERM;
	}
	saved->switched = true;
	err = raise_fs_caps();
	if (err) {
		/* Back to fsuid 0: the kernel restores the effective caps. */
		setfsuid(0);
		setfsgid(0);
		saved->switched = false;
		return err;
	}
	return 0;
}

/* Set once this thread has its own filesystem context.  A thread created
 * later starts with false even if its creator shares one with it, so it
 * unshares in turn before it changes the umask. */
static _Thread_local bool thread_has_own_fs;

int creds_use_umask(mode_t mask, struct creds_saved *saved)
{
	if (!thread_has_own_fs) {
		if (unshare(CLONE_FS) != 0)
			return -errno;
		thread_has_own_fs = true;
	}
	saved->old_umask = umask(mask);
	saved->umask_set = true;
	return 0;
}

void creds_restore(const struct creds_saved *saved)
{
	if (saved->umask_set)
		umask(saved->old_umask);
	if (!saved->switched)
		return;
	/* Back to fsuid 0: the kernel restores the effective capabilities. */
	setfsuid(0);
	setfsgid(0);
}
