/*
 * store: every system call that touches BACKING.
 *
 * Owns the descriptor of the backing directory, the state directory
 * BACKING/.mediafs and its lock.  All access is relative to descriptors:
 * names arrive one component at a time from the kernel and are opened with
 * O_NOFOLLOW, and relative paths (from the catalog, from an admin) are
 * resolved with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), so neither a
 * name, a path nor a symlink in BACKING can reach outside it.  Nothing here
 * knows FUSE or the catalog.
 *
 * Every function returns 0 (or a descriptor, or a length) on success and a
 * negative errno on failure, and logs nothing: the caller knows the path
 * and decides what is worth a message.
 *
 * Threads: store_open() and store_close() run on the main thread; every
 * other function may be called from any thread at the same time.
 */
#ifndef MEDIAFS_STORE_H
#define MEDIAFS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <time.h>

struct file_handle;

/* The state directory's name in BACKING; hidden from the mount. */
#define STORE_STATE_DIR_NAME ".mediafs"

/* The part of /proc/self/fd/N that precedes N, and room for the whole. */
enum { STORE_PROC_FD_PATH_BYTES = 32 };

/*
 * The raw system calls that the quarantine and state-directory code goes
 * through, so that unit tests can inject EIO, ENOSPC or EXDEV.  The data
 * path calls the kernel directly.
 */
struct store_ops {
	int (*renameat2)(int olddirfd, const char *oldpath, int newdirfd,
			 const char *newpath, unsigned int flags);
	int (*linkat)(int olddirfd, const char *oldpath, int newdirfd,
		      const char *newpath, int flags);
	int (*unlinkat)(int dirfd, const char *path, int flags);
	int (*mkdirat)(int dirfd, const char *path, mode_t mode);
};

struct store {
	int root_fd;		/* O_PATH|O_DIRECTORY on BACKING; immutable after open */
	int state_fd;		/* O_DIRECTORY on BACKING/.mediafs; immutable after open */
	int lock_fd;		/* BACKING/.mediafs/lock, flock()ed; immutable after open */
	struct stat root_stat;	/* BACKING as opened; immutable after open */
	dev_t state_dev;	/* identity of the state directory; immutable */
	ino_t state_ino;
	char *root_path;	/* BACKING as /proc/self/fd shows it; immutable */
	size_t root_path_len;
	const struct store_ops *ops; /* immutable after open (tests may swap before) */
};

/* The ops that call the kernel. */
extern const struct store_ops store_kernel_ops;

/*
 * Open BACKING, create BACKING/.mediafs (mode 0700) when it is missing and
 * take its lock, so that one store has one daemon.  A .mediafs that is a
 * symbolic link, not a directory, owned by another user than the caller's
 * effective one, or writable by group or others is refused (-EPERM); one
 * that is ours but readable by others is made 0700, and so is the lock
 * file 0600, whatever the umask.  Returns 0, -ENOENT or -ENOTDIR for a bad
 * BACKING, -EPERM as said, -EWOULDBLOCK when another process holds the
 * lock, or another -errno; why receives one sentence naming the path and
 * the cause (for -EPERM the owner and mode found), "" on success.
 */
int store_open(struct store *st, const char *backing, char *why, size_t why_size);
void store_close(struct store *st);

/*
 * A path to name in the state directory that works even when BACKING is
 * hidden under the mount (it goes through /proc/self/fd); for libraries
 * that open files by name, such as SQLite.  Returns 0 or -ENAMETOOLONG.
 */
int store_state_path(const struct store *st, const char *name, char *buf,
		     size_t size);

/* Stat what fd refers to, without following a symlink. */
int store_stat(int fd, struct stat *out);

/* Stat name in dir_fd, without following a symlink. */
int store_stat_at(int dir_fd, const char *name, struct stat *out);

/*
 * The same, and the birth time of the inode in *birth_ms (-1 when the
 * filesystem does not record one).
 */
int store_stat_birth_at(int dir_fd, const char *name, struct stat *out, int64_t *birth_ms);

/* Open name in dir_fd as O_PATH without following a final symlink. */
int store_open_path_at(int dir_fd, const char *name);

/* Open a new descriptor on the inode that the O_PATH fd names. */
int store_reopen(int path_fd, int flags);

/*
 * File handles, to reopen an inode whose descriptor was closed:
 * store_handle_of() returns a malloc()ed handle of what fd refers to (NULL
 * with errno set when the filesystem has none); store_open_by_handle()
 * reopens it as O_PATH relative to mount_fd, a non-O_PATH descriptor on
 * the same filesystem, and needs CAP_DAC_READ_SEARCH.
 */
struct file_handle *store_handle_of(int fd);
int store_open_by_handle(int mount_fd, struct file_handle *handle);

/* Open a directory for reading its entries. */
int store_open_dir(int path_fd);

/* One record of store_read_dir(): the kernel's struct linux_dirent64. */
struct store_dirent {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

/* Open the subdirectory name of dir_fd for reading, never through a link. */
int store_open_subdir(int dir_fd, const char *name);

/* Read directory records (getdents64 format) into buf; returns bytes, 0 at
 * the end, or -errno. */
ssize_t store_read_dir(int dir_fd, void *buf, size_t size);

/* Read the target of the symlink that fd names into buf; returns length. */
ssize_t store_read_link(int fd, char *buf, size_t size);

/* Creation.  Modes are used as given (the daemon runs with umask 0). */
int store_make_node(int dir_fd, const char *name, mode_t mode, dev_t rdev);
int store_make_dir(int dir_fd, const char *name, mode_t mode);
int store_make_symlink(int dir_fd, const char *name, const char *target);
/* Returns an open descriptor on the new or existing file. */
int store_create_file(int dir_fd, const char *name, int flags, mode_t mode);
int store_link(int fd, int new_dir_fd, const char *new_name);

int store_remove(int dir_fd, const char *name, bool is_dir);
int store_rename(int old_dir_fd, const char *old_name, int new_dir_fd,
		 const char *new_name, unsigned int flags);

/*
 * Attribute changes on the inode that path_fd names; open_fd, when >= 0,
 * is an open descriptor on the same file and is preferred.
 */
int store_set_mode(int path_fd, int open_fd, mode_t mode);
int store_set_owner(int path_fd, uid_t uid, gid_t gid);
int store_set_size(int path_fd, int open_fd, off_t size);
/* times as utimensat(2): UTIME_NOW and UTIME_OMIT pass through. */
int store_set_times(int path_fd, int open_fd, const struct timespec times[2]);

int store_statfs(const struct store *st, struct statvfs *out);

/* Under this share of its blocks or inodes free, BACKING is nearly full. */
#define STORE_LOW_SPACE_PERCENT 1.0

enum store_health {
	STORE_HEALTHY,
	STORE_NEARLY_FULL,	/* under STORE_LOW_SPACE_PERCENT free */
	STORE_FULL,		/* no block or no inode left: writes fail */
	STORE_READ_ONLY,	/* mounted (or remounted, after an error) read-only */
	STORE_UNKNOWN,		/* statvfs or the write probe failed otherwise */
};

/*
 * How BACKING's filesystem stands for what the mount and the checker
 * write.  why receives one sentence for an alarm or the log, naming BACKING
 * and what fails ("backing directory '/srv/media' is full: 0 B of 8.0 MiB
 * free; uploads fail with 'No space left on device'"), or "" when healthy.
 * Writes the times of the lock file as a probe: a filesystem that went
 * read-only after an error may say so only to a write.
 */
enum store_health store_check_health(const struct store *st, char *why, size_t why_size);

/* Extended attributes of the inode that path_fd names. */
int store_set_xattr(int path_fd, bool is_symlink, const char *name,
		    const void *value, size_t size, int flags);
ssize_t store_get_xattr(int path_fd, bool is_symlink, const char *name,
			void *value, size_t size);
ssize_t store_list_xattr(int path_fd, bool is_symlink, char *list, size_t size);
int store_remove_xattr(int path_fd, bool is_symlink, const char *name);

/*
 * Write into buf (size bytes) the path of what fd refers to, relative to
 * BACKING ("" for BACKING itself).  Returns the length, -ENAMETOOLONG when
 * it does not fit, -ENOENT when the inode has no name any more, or -EXDEV
 * when it is not beneath BACKING.
 */
ssize_t store_relative_path(const struct store *st, int fd, char *buf,
			    size_t size);

/*
 * Open a path relative to BACKING without following any symlink and
 * without leaving BACKING ("" opens BACKING).  flags as openat(2).
 * Returns a descriptor, or -errno (-EXDEV for an escape, -ELOOP for a link).
 */
int store_open_beneath(const struct store *st, const char *rel, int flags,
		       mode_t mode);

/* Stat a path relative to BACKING, resolved as store_open_beneath() does,
 * without following a final symlink. */
int store_stat_beneath(const struct store *st, const char *rel, struct stat *out);

/* The same relative to base_fd (a directory inside BACKING). */
int store_stat_beneath_at(int base_fd, const char *rel, struct stat *out);

/*
 * Split rel into the descriptor of its parent directory (opened O_PATH
 * beneath BACKING) and a pointer to its last component inside rel.
 * Returns 0 or -errno; on success the caller closes *dir_fd.
 */
int store_open_parent(const struct store *st, const char *rel, int *dir_fd,
		      const char **name);

/* The same relative to base_fd (a directory inside BACKING). */
int store_open_parent_at(int base_fd, const char *rel, int *dir_fd, const char **name);

/*
 * Make directory name in dir_fd and return a descriptor open on it
 * (O_RDONLY | O_DIRECTORY).  It is made 0700 and opened without following
 * a link; with like non-NULL it then takes like's owner and mode through
 * that descriptor, never by name (a daemon that is not root keeps the
 * owner).  Returns the descriptor, -EEXIST when name exists, -ENOTDIR
 * when a link or a file took its place, -EAGAIN when another user's
 * directory did, or another -errno.  Uses st->ops->mkdirat.
 */
int store_make_dir_like(const struct store *st, int dir_fd, const char *name,
			const struct stat *like);

/*
 * Like store_open_parent_at(), but make the missing directories of rel
 * first, each with store_make_dir_like(): like the directory at the same
 * place below model_fd (walked alongside, never through a link) when
 * model_fd >= 0 and one is there, else with like_parent like the directory
 * above it, else 0700 and the caller's.  Symlinks are never followed: a
 * link where a directory should be is -ENOTDIR.
 */
int store_make_parents_at(const struct store *st, int base_fd, const char *rel,
			  int model_fd, bool like_parent, int *dir_fd, const char **name);

#endif
