/*
 * store: the system calls on BACKING.
 *
 * Inodes are named by O_PATH descriptors.  Operations that the kernel does
 * not offer on an O_PATH descriptor (chmod, truncate, xattrs, reopening)
 * go through /proc/self/fd/N, which resolves to the inode itself without a
 * path walk, so they work when BACKING is hidden under the mount and can
 * never be redirected by a rename or a symlink.
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "humanize.h"

enum { STATE_DIR_MODE = 0700, LOCK_FILE_MODE = 0600 };

static int kernel_renameat2(int olddirfd, const char *oldpath, int newdirfd,
			    const char *newpath, unsigned int flags)
{
	return renameat2(olddirfd, oldpath, newdirfd, newpath, flags);
}

const struct store_ops store_kernel_ops = {
	.renameat2 = kernel_renameat2,
	.linkat = linkat,
	.unlinkat = unlinkat,
	.mkdirat = mkdirat,
};

static int neg_errno(void)
{
	return errno ? -errno : -EIO;
}

/* Build "/proc/self/fd/N" in buf (STORE_PROC_FD_PATH_BYTES). */
static void store_proc_path(int fd, char *buf)
{
	snprintf(buf, STORE_PROC_FD_PATH_BYTES, "/proc/self/fd/%d", fd);
}

/* BACKING for messages: "/" has an empty root_path. */
static const char *root_name(const struct store *st)
{
	return st->root_path[0] ? st->root_path : "/";
}

static int openat2_beneath(int dir_fd, const char *rel, int flags, mode_t mode)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW),
		.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
			   RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
	};
	long fd;

	do {
		fd = syscall(SYS_openat2, dir_fd, rel, &how, sizeof(how));
	} while (fd < 0 && (errno == EINTR || errno == EAGAIN));
	return fd < 0 ? neg_errno() : (int)fd;
}

/* "a symbolic link", "owned by uid 1001", ...: what is wrong with the state
 * directory sb describes, or NULL when it is the daemon's alone. */
static const char *state_dir_fault(const struct stat *sb)
{
	if (S_ISLNK(sb->st_mode))
		return "is a symbolic link";
	if (!S_ISDIR(sb->st_mode))
		return "is not a directory";
	if (sb->st_uid != geteuid())
		return "is owned by another user";
	if (sb->st_mode & (S_IWGRP | S_IWOTH))
		return "is writable by group or others";
	return NULL;
}

/*
 * Make .mediafs when it is missing, and refuse one that somebody else
 * could have prepared or can change: the catalog and the quarantine in it
 * decide what root moves, restores and deletes.  One that is ours but
 * readable by others is taken back (0700): nobody else can have put
 * anything in it.
 */
static int open_state_dir(struct store *st, char *why, size_t why_size)
{
	const char *fault;
	struct stat sb;
	int fd, err;

	if (mkdirat(st->root_fd, STORE_STATE_DIR_NAME, STATE_DIR_MODE) < 0 && errno != EEXIST) {
		err = neg_errno();
		snprintf(why, why_size, "cannot create the state directory in '%s': %s",
			 root_name(st), strerror(-err));
		return err;
	}
	err = store_stat_at(st->root_fd, STORE_STATE_DIR_NAME, &sb);
	if (err) {
		snprintf(why, why_size, "cannot find the state directory in '%s': %s",
			 root_name(st), strerror(-err));
		return err;
	}
	fault = state_dir_fault(&sb);
	if (fault)
		goto out_refuse;
	fd = openat2_beneath(st->root_fd, STORE_STATE_DIR_NAME, O_RDONLY | O_DIRECTORY, 0);
	if (fd < 0) {
		snprintf(why, why_size, "cannot open the state directory in '%s': %s",
			 root_name(st), strerror(-fd));
		return fd;
	}
	/* The name may have changed hands since the stat: judge the inode
	 * that was opened. */
	err = store_stat(fd, &sb);
	fault = err ? NULL : state_dir_fault(&sb);
	if (!err && !fault && (sb.st_mode & 07777) != STATE_DIR_MODE &&
	    fchmod(fd, STATE_DIR_MODE) < 0)
		err = neg_errno();
	if (err || fault) {
		close(fd);
		if (fault)
			goto out_refuse;
		snprintf(why, why_size, "cannot make the state directory in '%s' private: %s",
			 root_name(st), strerror(-err));
		return err;
	}
	st->state_fd = fd;
	st->state_dev = sb.st_dev;
	st->state_ino = sb.st_ino;
	return 0;

out_refuse:
	snprintf(why, why_size, "state directory '%s/%s' %s (owner uid %u, group gid %u, "
		 "mode %04o): mediafs keeps its catalog and quarantine only in a directory "
		 "of uid %u that nobody else may write; look at what is in it, then remove "
		 "it or make it a directory of uid %u with mode 0700", st->root_path,
		 STORE_STATE_DIR_NAME, fault, (unsigned)sb.st_uid, (unsigned)sb.st_gid,
		 (unsigned)(sb.st_mode & 07777), (unsigned)geteuid(), (unsigned)geteuid());
	return -EPERM;
}

/* The lock file, 0600 whatever the umask or an older mediafs made it. */
static int open_lock(struct store *st, char *why, size_t why_size)
{
	struct stat sb;
	int err;

	st->lock_fd = openat2_beneath(st->state_fd, "lock", O_RDWR | O_CREAT, LOCK_FILE_MODE);
	err = st->lock_fd < 0 ? st->lock_fd : store_stat(st->lock_fd, &sb);
	if (!err && !S_ISREG(sb.st_mode))
		err = -EINVAL;
	if (!err && (sb.st_mode & 07777) != LOCK_FILE_MODE && fchmod(st->lock_fd, LOCK_FILE_MODE) < 0)
		err = neg_errno();
	if (err) {
		snprintf(why, why_size, "cannot open the lock %s/%s/lock: %s", st->root_path,
			 STORE_STATE_DIR_NAME, strerror(-err));
		return err;
	}
	if (flock(st->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		err = neg_errno();
		snprintf(why, why_size, err == -EWOULDBLOCK ?
			 "backing directory '%s' is in use by another mediafs (its lock %s/%s/lock "
			 "is held)" : "cannot lock '%s' (%s/%s/lock): %s", root_name(st),
			 st->root_path, STORE_STATE_DIR_NAME, strerror(-err));
		return err;
	}
	return 0;
}

int store_open(struct store *st, const char *backing, char *why, size_t why_size)
{
	char proc[STORE_PROC_FD_PATH_BYTES];
	char resolved[PATH_MAX];
	ssize_t len;
	int err;

	memset(st, 0, sizeof(*st));
	st->root_fd = st->state_fd = st->lock_fd = -1;
	st->ops = &store_kernel_ops;

	st->root_fd = open(backing, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (st->root_fd < 0) {
		err = neg_errno();
		goto out_fail;
	}
	err = store_stat(st->root_fd, &st->root_stat);
	if (err)
		goto out_fail;

	store_proc_path(st->root_fd, proc);
	len = readlink(proc, resolved, sizeof(resolved) - 1);
	if (len < 0) {
		err = neg_errno();
		goto out_fail;
	}
	resolved[len] = '\0';
	/* "/" is the one root whose children do not need a separator. */
	if (len == 1)
		len = 0;
	st->root_path = strndup(resolved, (size_t)len);
	if (!st->root_path) {
		err = -ENOMEM;
		goto out_fail;
	}
	st->root_path_len = (size_t)len;

	err = open_state_dir(st, why, why_size);
	if (!err)
		err = open_lock(st, why, why_size);
	if (err)
		goto out_close;
	why[0] = '\0';
	return 0;

out_fail:
	snprintf(why, why_size, "cannot open the backing directory '%s': %s", backing,
		 strerror(-err));
out_close:
	store_close(st);
	return err;
}

void store_close(struct store *st)
{
	if (st->lock_fd >= 0)
		close(st->lock_fd);
	if (st->state_fd >= 0)
		close(st->state_fd);
	if (st->root_fd >= 0)
		close(st->root_fd);
	free(st->root_path);
	st->root_path = NULL;
	st->root_fd = st->state_fd = st->lock_fd = -1;
}

int store_state_path(const struct store *st, const char *name, char *buf,
		     size_t size)
{
	int n = snprintf(buf, size, "/proc/self/fd/%d/%s", st->state_fd, name);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int store_stat(int fd, struct stat *out)
{
	if (fstatat(fd, "", out, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return neg_errno();
	return 0;
}

int store_stat_at(int dir_fd, const char *name, struct stat *out)
{
	if (fstatat(dir_fd, name, out, AT_SYMLINK_NOFOLLOW) < 0)
		return neg_errno();
	return 0;
}

int store_stat_birth_at(int dir_fd, const char *name, struct stat *out, int64_t *birth_ms)
{
	struct statx sx;

	if (statx(dir_fd, name, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS | STATX_BTIME, &sx) < 0)
		return neg_errno();
	memset(out, 0, sizeof(*out));
	out->st_dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
	out->st_ino = sx.stx_ino;
	out->st_mode = sx.stx_mode;
	out->st_nlink = sx.stx_nlink;
	out->st_uid = sx.stx_uid;
	out->st_gid = sx.stx_gid;
	out->st_size = (off_t)sx.stx_size;
	out->st_mtim.tv_sec = sx.stx_mtime.tv_sec;
	out->st_mtim.tv_nsec = sx.stx_mtime.tv_nsec;
	out->st_ctim.tv_sec = sx.stx_ctime.tv_sec;
	out->st_ctim.tv_nsec = sx.stx_ctime.tv_nsec;
	*birth_ms = (sx.stx_mask & STATX_BTIME) ?
		(int64_t)sx.stx_btime.tv_sec * 1000 + sx.stx_btime.tv_nsec / 1000000 : -1;
	return 0;
}

int store_open_path_at(int dir_fd, const char *name)
{
	int fd = openat(dir_fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);

	return fd < 0 ? neg_errno() : fd;
}

int store_reopen(int path_fd, int flags)
{
	char proc[STORE_PROC_FD_PATH_BYTES];
	int fd;

	store_proc_path(path_fd, proc);
	/* The name was resolved when the inode was looked up; O_CREAT and
	 * O_NOFOLLOW would apply to the magic link itself. */
	flags &= ~(O_CREAT | O_EXCL | O_NOCTTY | O_NOFOLLOW);
	do {
		fd = open(proc, flags | O_CLOEXEC);
	} while (fd < 0 && errno == EINTR);
	return fd < 0 ? neg_errno() : fd;
}

struct file_handle *store_handle_of(int fd)
{
	struct file_handle *handle = malloc(sizeof(*handle) + MAX_HANDLE_SZ);
	int mount_id;

	if (!handle)
		return NULL;
	handle->handle_bytes = MAX_HANDLE_SZ;
	if (name_to_handle_at(fd, "", handle, &mount_id, AT_EMPTY_PATH) != 0) {
		free(handle);
		return NULL;
	}
	return handle;
}

int store_open_by_handle(int mount_fd, struct file_handle *handle)
{
	int fd = open_by_handle_at(mount_fd, handle, O_PATH | O_CLOEXEC);

	return fd < 0 ? neg_errno() : fd;
}

int store_open_dir(int path_fd)
{
	int fd = openat(path_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	return fd < 0 ? neg_errno() : fd;
}

int store_open_subdir(int dir_fd, const char *name)
{
	int fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	return fd < 0 ? neg_errno() : fd;
}

ssize_t store_read_dir(int dir_fd, void *buf, size_t size)
{
	long n = syscall(SYS_getdents64, dir_fd, buf, size);

	return n < 0 ? neg_errno() : (ssize_t)n;
}

ssize_t store_read_link(int fd, char *buf, size_t size)
{
	ssize_t len = readlinkat(fd, "", buf, size);

	return len < 0 ? neg_errno() : len;
}

int store_make_node(int dir_fd, const char *name, mode_t mode, dev_t rdev)
{
	return mknodat(dir_fd, name, mode, rdev) < 0 ? neg_errno() : 0;
}

int store_make_dir(int dir_fd, const char *name, mode_t mode)
{
	return mkdirat(dir_fd, name, mode) < 0 ? neg_errno() : 0;
}

int store_make_symlink(int dir_fd, const char *name, const char *target)
{
	return symlinkat(target, dir_fd, name) < 0 ? neg_errno() : 0;
}

int store_create_file(int dir_fd, const char *name, int flags, mode_t mode)
{
	int fd;

	do {
		fd = openat(dir_fd, name,
			    (flags | O_CREAT | O_NOFOLLOW | O_CLOEXEC) & ~O_NOCTTY,
			    mode);
	} while (fd < 0 && errno == EINTR);
	return fd < 0 ? neg_errno() : fd;
}

int store_link(int fd, int new_dir_fd, const char *new_name)
{
	char proc[STORE_PROC_FD_PATH_BYTES];

	if (linkat(fd, "", new_dir_fd, new_name, AT_EMPTY_PATH) == 0)
		return 0;
	if (errno != ENOENT && errno != EPERM)
		return neg_errno();
	/* Without CAP_DAC_READ_SEARCH, AT_EMPTY_PATH is refused; the magic
	 * link names the same inode. */
	store_proc_path(fd, proc);
	if (linkat(AT_FDCWD, proc, new_dir_fd, new_name, AT_SYMLINK_FOLLOW) < 0)
		return neg_errno();
	return 0;
}

int store_remove(int dir_fd, const char *name, bool is_dir)
{
	return unlinkat(dir_fd, name, is_dir ? AT_REMOVEDIR : 0) < 0 ?
		       neg_errno() : 0;
}

int store_rename(int old_dir_fd, const char *old_name, int new_dir_fd,
		 const char *new_name, unsigned int flags)
{
	if (renameat2(old_dir_fd, old_name, new_dir_fd, new_name, flags) < 0)
		return neg_errno();
	return 0;
}

int store_set_mode(int path_fd, int open_fd, mode_t mode)
{
	char proc[STORE_PROC_FD_PATH_BYTES];

	if (open_fd >= 0)
		return fchmod(open_fd, mode) < 0 ? neg_errno() : 0;
	store_proc_path(path_fd, proc);
	return chmod(proc, mode) < 0 ? neg_errno() : 0;
}

int store_set_owner(int path_fd, uid_t uid, gid_t gid)
{
	if (fchownat(path_fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return neg_errno();
	return 0;
}

int store_set_size(int path_fd, int open_fd, off_t size)
{
	char proc[STORE_PROC_FD_PATH_BYTES];
	int res;

	if (open_fd >= 0) {
		do {
			res = ftruncate(open_fd, size);
		} while (res < 0 && errno == EINTR);
		return res < 0 ? neg_errno() : 0;
	}
	store_proc_path(path_fd, proc);
	do {
		res = truncate(proc, size);
	} while (res < 0 && errno == EINTR);
	return res < 0 ? neg_errno() : 0;
}

int store_set_times(int path_fd, int open_fd, const struct timespec times[2])
{
	char proc[STORE_PROC_FD_PATH_BYTES];

	if (open_fd >= 0)
		return futimens(open_fd, times) < 0 ? neg_errno() : 0;
	/* utimensat() with AT_EMPTY_PATH on an O_PATH descriptor works for
	 * every file type, symlinks included. */
	if (utimensat(path_fd, "", times, AT_EMPTY_PATH) == 0)
		return 0;
	if (errno != EINVAL)
		return neg_errno();
	store_proc_path(path_fd, proc);
	return utimensat(AT_FDCWD, proc, times, 0) < 0 ? neg_errno() : 0;
}

int store_statfs(const struct store *st, struct statvfs *out)
{
	return fstatvfs(st->root_fd, out) < 0 ? neg_errno() : 0;
}

static bool is_low(uint64_t available, uint64_t total)
{
	return total > 0 && (double)available < (double)total * STORE_LOW_SPACE_PERCENT / 100;
}

enum store_health store_check_health(const struct store *st, char *why, size_t why_size)
{
	const char *root = st->root_path[0] ? st->root_path : "/";
	char free_text[32], total_text[32];
	uint64_t available, total;
	struct statvfs sv;
	int err = store_statfs(st, &sv);

	why[0] = '\0';
	if (err) {
		snprintf(why, why_size, "cannot check the filesystem of backing directory '%s': %s",
			 root, strerror(-err));
		return STORE_UNKNOWN;
	}
	/* ext4 keeps its read-only state after an error out of statvfs on
	 * newer kernels: only a write shows it.  Touching the lock file's
	 * times is the smallest write there is. */
	err = (sv.f_flag & ST_RDONLY) ? -EROFS : futimens(st->lock_fd, NULL) < 0 ? neg_errno() : 0;
	if (err == -EROFS) {
		snprintf(why, why_size, "backing directory '%s' is on a read-only filesystem: "
			 "uploads fail and nothing is quarantined or recorded", root);
		return STORE_READ_ONLY;
	}
	if (err) {
		snprintf(why, why_size, "backing directory '%s' cannot be written: %s", root,
			 strerror(-err));
		return STORE_UNKNOWN;
	}
	available = (uint64_t)sv.f_bavail * sv.f_frsize;
	total = (uint64_t)sv.f_blocks * sv.f_frsize;
	humanize_size(available, free_text, sizeof(free_text));
	humanize_size(total, total_text, sizeof(total_text));
	/* Filesystems without an inode limit report f_files as 0. */
	if (sv.f_bavail == 0 || (sv.f_files > 0 && sv.f_favail == 0)) {
		snprintf(why, why_size, "backing directory '%s' is full: %s of %s and %llu inodes "
			 "free; uploads fail with 'No space left on device'", root, free_text,
			 total_text, (unsigned long long)sv.f_favail);
		return STORE_FULL;
	}
	if (is_low(sv.f_bavail, sv.f_blocks) || is_low(sv.f_favail, sv.f_files)) {
		snprintf(why, why_size, "backing directory '%s' is nearly full: %s of %s and %llu "
			 "inodes free", root, free_text, total_text,
			 (unsigned long long)sv.f_favail);
		return STORE_NEARLY_FULL;
	}
	return STORE_HEALTHY;
}

/*
 * xattrs have no *at() form; /proc/self/fd/N follows the magic link to the
 * inode itself.  A symlink's own xattrs need the l*xattr() form, which does
 * not follow the final (symlink) component that the magic link resolves to.
 */
int store_set_xattr(int path_fd, bool is_symlink, const char *name,
		    const void *value, size_t size, int flags)
{
	char proc[STORE_PROC_FD_PATH_BYTES];
	int res;

	store_proc_path(path_fd, proc);
	res = is_symlink ? lsetxattr(proc, name, value, size, flags) :
			   setxattr(proc, name, value, size, flags);
	return res < 0 ? neg_errno() : 0;
}

ssize_t store_get_xattr(int path_fd, bool is_symlink, const char *name,
			void *value, size_t size)
{
	char proc[STORE_PROC_FD_PATH_BYTES];
	ssize_t res;

	store_proc_path(path_fd, proc);
	res = is_symlink ? lgetxattr(proc, name, value, size) :
			   getxattr(proc, name, value, size);
	return res < 0 ? neg_errno() : res;
}

ssize_t store_list_xattr(int path_fd, bool is_symlink, char *list, size_t size)
{
	char proc[STORE_PROC_FD_PATH_BYTES];
	ssize_t res;

	store_proc_path(path_fd, proc);
	res = is_symlink ? llistxattr(proc, list, size) :
			   listxattr(proc, list, size);
	return res < 0 ? neg_errno() : res;
}

int store_remove_xattr(int path_fd, bool is_symlink, const char *name)
{
	char proc[STORE_PROC_FD_PATH_BYTES];
	int res;

	store_proc_path(path_fd, proc);
	res = is_symlink ? lremovexattr(proc, name) : removexattr(proc, name);
	return res < 0 ? neg_errno() : 0;
}

ssize_t store_relative_path(const struct store *st, int fd, char *buf,
			    size_t size)
{
	char proc[STORE_PROC_FD_PATH_BYTES];
	char full[PATH_MAX + 1];
	static const char deleted[] = " (deleted)";
	ssize_t len;
	size_t rel_len;

	store_proc_path(fd, proc);
	len = readlink(proc, full, sizeof(full));
	if (len < 0)
		return neg_errno();
	if ((size_t)len >= sizeof(full))
		return -ENAMETOOLONG;
	full[len] = '\0';

	if ((size_t)len >= sizeof(deleted) - 1 &&
	    strcmp(full + len - (sizeof(deleted) - 1), deleted) == 0) {
		struct stat sb;
		/* A name may end in " (deleted)" too; the link count tells. */
		if (store_stat(fd, &sb) == 0 && sb.st_nlink == 0)
			return -ENOENT;
	}
	if ((size_t)len == st->root_path_len + (st->root_path_len ? 0 : 1) &&
	    strncmp(full, st->root_path, st->root_path_len) == 0) {
		if (size < 1)
			return -ENAMETOOLONG;
		buf[0] = '\0';
		return 0;
	}
	if ((size_t)len <= st->root_path_len + 1 ||
	    strncmp(full, st->root_path, st->root_path_len) != 0 ||
	    full[st->root_path_len] != '/')
		return -EXDEV;
	rel_len = (size_t)len - st->root_path_len - 1;
	if (rel_len + 1 > size)
		return -ENAMETOOLONG;
	memcpy(buf, full + st->root_path_len + 1, rel_len + 1);
	return (ssize_t)rel_len;
}

int store_open_beneath(const struct store *st, const char *rel, int flags,
		       mode_t mode)
{
	return openat2_beneath(st->root_fd, rel[0] ? rel : ".", flags, mode);
}

int store_stat_beneath(const struct store *st, const char *rel, struct stat *out)
{
	return store_stat_beneath_at(st->root_fd, rel[0] ? rel : ".", out);
}

int store_stat_beneath_at(int base_fd, const char *rel, struct stat *out)
{
	int fd = openat2_beneath(base_fd, rel, O_PATH, 0);
	int err;

	if (fd < 0)
		return fd;
	err = store_stat(fd, out);
	close(fd);
	return err;
}

int store_open_parent_at(int base_fd, const char *rel, int *dir_fd, const char **name)
{
	const char *slash = strrchr(rel, '/');
	char *dir;
	int fd;

	if (!slash) {
		fd = openat2_beneath(base_fd, ".", O_PATH | O_DIRECTORY, 0);
		*name = rel;
	} else {
		dir = strndup(rel, (size_t)(slash - rel));
		if (!dir)
			return -ENOMEM;
		fd = openat2_beneath(base_fd, dir, O_PATH | O_DIRECTORY, 0);
		free(dir);
		*name = slash + 1;
	}
	if (fd < 0)
		return fd;
	if (**name == '\0' || strcmp(*name, ".") == 0 || strcmp(*name, "..") == 0) {
		close(fd);
		return -EINVAL;
	}
	*dir_fd = fd;
	return 0;
}

int store_open_parent(const struct store *st, const char *rel, int *dir_fd,
		      const char **name)
{
	return store_open_parent_at(st->root_fd, rel, dir_fd, name);
}

int store_make_dir_like(const struct store *st, int dir_fd, const char *name,
			const struct stat *like)
{
	struct stat sb;
	int fd, err;

	/* 0700 until it has its owner and mode: nobody else can put anything
	 * in it meanwhile. */
	if (st->ops->mkdirat(dir_fd, name, 0700) != 0)
		return neg_errno();
	/* Whoever may write in dir_fd may have put something else under the
	 * name since: never a link (O_NOFOLLOW), and a directory of somebody
	 * else is not ours to change. */
	fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return neg_errno();
	err = store_stat(fd, &sb);
	if (!err && sb.st_uid != geteuid())
		err = -EAGAIN;
	if (err || !like)
		goto out;
	/* Only root gives a directory away; any other daemon keeps it. */
	if ((sb.st_uid != like->st_uid || sb.st_gid != like->st_gid) &&
	    fchown(fd, like->st_uid, like->st_gid) != 0 && (errno != EPERM || geteuid() == 0))
		err = neg_errno();
	/* After the owner: chown clears the set-id bits. */
	if (!err && fchmod(fd, like->st_mode & 07777) != 0)
		err = neg_errno();
out:
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

/* O_PATH on the directory name in dir_fd, never through a link. */
static int open_subdir_path(int dir_fd, const char *name)
{
	int fd = openat(dir_fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	return fd < 0 ? neg_errno() : fd;
}

/* The directory component of a model tree, or -1 when there is none. */
static int open_model_step(int model_fd, const char *part)
{
	int fd = model_fd < 0 ? -1 : open_subdir_path(model_fd, part);

	return fd < 0 ? -1 : fd;
}

/* Make part in fd like the model's directory, or like fd itself. */
static int make_dir_modelled(const struct store *st, int fd, const char *part,
			     int model_fd, bool like_parent)
{
	struct stat like;
	const struct stat *use = NULL;
	int err = 0;

	if (model_fd >= 0 && store_stat(model_fd, &like) == 0)
		use = &like;
	else if (like_parent && (err = store_stat(fd, &like)) == 0)
		use = &like;
	if (err)
		return err;
	return store_make_dir_like(st, fd, part, use);
}

int store_make_parents_at(const struct store *st, int base_fd, const char *rel,
			  int model_fd, bool like_parent, int *dir_fd, const char **name)
{
	const char *component = rel;
	const char *slash;
	int fd, model = -1, err;

	fd = openat(base_fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return neg_errno();
	if (model_fd >= 0) {
		model = openat(model_fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (model < 0) {
			err = neg_errno();
			goto out_close;
		}
	}
	while ((slash = strchr(component, '/')) != NULL) {
		char part[NAME_MAX + 1];
		size_t len = (size_t)(slash - component);
		int next, next_model;

		if (len == 0 || len > NAME_MAX || (len == 1 && component[0] == '.') ||
		    (len == 2 && component[0] == '.' && component[1] == '.')) {
			err = -EINVAL;
			goto out_close;
		}
		memcpy(part, component, len);
		part[len] = '\0';
		next_model = open_model_step(model, part);
		if (model >= 0)
			close(model);
		model = next_model;
		next = open_subdir_path(fd, part);
		if (next == -ENOENT) {
			next = make_dir_modelled(st, fd, part, model, like_parent);
			/* Made by somebody else meanwhile: theirs is used as is. */
			if (next == -EEXIST)
				next = open_subdir_path(fd, part);
		}
		if (next < 0) {
			err = next;
			goto out_close;
		}
		close(fd);
		fd = next;
		component = slash + 1;
	}
	if (*component == '\0' || strcmp(component, ".") == 0 || strcmp(component, "..") == 0) {
		err = -EINVAL;
		goto out_close;
	}
	if (model >= 0)
		close(model);
	*dir_fd = fd;
	*name = component;
	return 0;

out_close:
	if (model >= 0)
		close(model);
	close(fd);
	return err;
}
