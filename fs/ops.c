/*
 * ops: the FUSE low-level handlers.
 *
 * mediafs passes every operation through to BACKING.  Each handler resolves
 * its inode, traces its arguments, calls one fs_do_*() helper that returns
 * 0 or -errno, and replies exactly once.  The helpers work on descriptors
 * through store.c and never wait on a database.
 *
 * What it deliberately leaves to the kernel: permission checks (the mount
 * always uses default_permissions; POSIX ACLs too, which the kernel reads
 * through getxattr), POSIX and flock locks (kept by the kernel for the
 * mount, which is the only way to the files), and access(2).
 * The trap: BACKING/.mediafs must stay invisible, so every name and every
 * inode that comes back from the backing filesystem is checked against it.
 */
#include "ops.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "creds.h"
#include "log.h"
#include "mediafs.h"
#include "safekeep.h"
#include "track.h"

_Static_assert(sizeof(fuse_ino_t) >= sizeof(uintptr_t),
	       "a node id must hold a pointer to struct inode");
_Static_assert(INODE_ROOT_ID == FUSE_ROOT_ID, "the root node id is FUSE's");

enum {
	MAX_WRITE_BYTES = 1 << 20,
	DIR_BUFFER_BYTES = 32 * 1024,
};

enum handle_kind { HANDLE_FILE, HANDLE_DIR };

/* An open regular file. */
struct open_file {
	struct handle_link link;	/* first: the list holds links */
	int fd;
	atomic_bool dirty;	/* written since the last flush, fsync or release */
	bool path_known;	/* its creation, with its path, went to the catalog */
	struct inode *writer;	/* counted in its writers (opened with write
				 * access), or NULL; the kernel keeps the
				 * inode until the release is answered */
};

/*
 * An open directory; the kernel serialises readdir calls on one handle.
 * The backing directory is opened at the first readdir or fsyncdir: a
 * process that opens directories only to fchdir() into them (or to hold
 * them) then costs the daemon no descriptor and no buffer.
 */
struct dir_handle {
	struct handle_link link;	/* first: the list holds links */
	int fd;			/* -1 until first needed */
	off_t offset;		/* directory offset of buf[pos] */
	size_t len;		/* bytes of getdents64 records in buf */
	size_t pos;
	char *buf;		/* DIR_BUFFER_BYTES, with fd */
};

/* ------------------------------------------------------------------ */
/* Accessors                                                            */
/* ------------------------------------------------------------------ */

static struct mediafs *fs_from_req(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static struct inode *fs_inode(struct mediafs *fs, fuse_ino_t ino)
{
	if (ino == FUSE_ROOT_ID)
		return &fs->inodes.root;
	return (struct inode *)(uintptr_t)ino;
}

static fuse_ino_t fs_node_id(struct mediafs *fs, struct inode *inode)
{
	if (inode == &fs->inodes.root)
		return FUSE_ROOT_ID;
	return (fuse_ino_t)(uintptr_t)inode;
}

static struct open_file *fs_open_file(struct fuse_file_info *fi)
{
	return (struct open_file *)(uintptr_t)fi->fh;
}

static struct dir_handle *fs_dir_handle(struct fuse_file_info *fi)
{
	return (struct dir_handle *)(uintptr_t)fi->fh;
}

/* ------------------------------------------------------------------ */
/* Open handles                                                         */
/* ------------------------------------------------------------------ */

static void handle_register(struct mediafs *fs, struct handle_link *link)
{
	pthread_mutex_lock(&fs->handles_lock);
	link->prev = &fs->handles;
	link->next = fs->handles.next;
	fs->handles.next->prev = link;
	fs->handles.next = link;
	pthread_mutex_unlock(&fs->handles_lock);
}

static void handle_unregister(struct mediafs *fs, struct handle_link *link)
{
	pthread_mutex_lock(&fs->handles_lock);
	link->prev->next = link->next;
	link->next->prev = link->prev;
	pthread_mutex_unlock(&fs->handles_lock);
}

static void open_file_free(struct mediafs *fs, struct open_file *file)
{
	if (file->writer)
		inode_writer_end(&fs->inodes, file->writer);
	close(file->fd);
	free(file);
}

/* .mediafs in the root is the daemon's; the mount never shows it. */
static bool fs_is_reserved_name(struct mediafs *fs, struct inode *parent,
				const char *name)
{
	return parent == &fs->inodes.root &&
	       strcmp(name, STORE_STATE_DIR_NAME) == 0;
}

/* Also catches the state directory reached by any other route. */
static bool fs_is_state_dir(struct mediafs *fs, const struct stat *st)
{
	return st->st_ino == fs->store.state_ino &&
	       st->st_dev == fs->store.state_dev;
}

/*
 * The O_PATH descriptor of an inode, held for the length of one request
 * (the table may close idle descriptors; see inode.h).
 */
static int fs_hold(struct mediafs *fs, struct inode *inode)
{
	return inode_hold_fd(&fs->inodes, inode);
}

static void fs_release(struct mediafs *fs, struct inode *inode)
{
	inode_release_fd(&fs->inodes, inode);
}

/* Does a handle opened with flags write to its file?  O_TRUNC without
 * write access truncates all the same. */
static bool fs_flags_write(int flags)
{
	return (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
}

/*
 * Is the file open as fd at a name in the tree, outside the state
 * directory?  One readlink of /proc/self/fd/N, paid only when the checker
 * moved or purged something since the inode was last checked.
 */
static bool fs_file_is_in_tree(struct mediafs *fs, int fd)
{
	char path[PATH_MAX];
	ssize_t len = store_relative_path(&fs->store, fd, path, sizeof(path));
	size_t state_len = sizeof(STORE_STATE_DIR_NAME) - 1;
	struct stat st;

	/* Too long a path to read back: the checker never moves a file
	 * whose place in the quarantine would be that long (checker.c).
	 * Outside BACKING's path: BACKING itself was renamed. */
	if (len == -ENAMETOOLONG || len == -EXDEV)
		return true;
	/* Gone (purged), or unreadable: not a place to write to. */
	if (len < 0)
		return false;
	if ((size_t)len < state_len || memcmp(path, STORE_STATE_DIR_NAME, state_len) != 0 ||
	    (path[state_len] != '/' && path[state_len] != '\0'))
		return true;
	/* The descriptor's name is in the quarantine, but another link may
	 * be live, and a write is recorded by inode there. */
	return store_stat(fd, &st) == 0 && st.st_nlink > 1;
}

/*
 * Count one handle with write access on inode, whose file fd is (opened
 * while the move count was opened_at, or INODE_UNCHECKED for a file not
 * opened yet).  Returns 0, or -ESTALE with nothing counted when the file
 * is in the quarantine or gone: the checker moved it, and a write must not
 * land there unseen.  The kernel retries an open that fails with ESTALE
 * once with a fresh lookup of the name, which finds what is there now.
 */
static int fs_writer_begin(struct mediafs *fs, struct inode *inode, int fd, uint64_t opened_at)
{
	uint64_t moves;

	if (inode_writer_begin(&fs->inodes, inode, opened_at, &moves) == 0 ||
	    !safekeep_enabled(fs))
		return 0;
	if (!fs_file_is_in_tree(fs, fd)) {
		inode_writer_end(&fs->inodes, inode);
		log_debug("refused to open ino=%ju for writing: its file left the tree",
			  (uintmax_t)inode->ino);
		return -ESTALE;
	}
	inode_writer_checked(&fs->inodes, inode, moves);
	return 0;
}

static void fs_fill_entry_timeouts(struct mediafs *fs, struct fuse_entry_param *e)
{
	e->attr_timeout = fs->settings.attr_timeout_s;
	e->entry_timeout = fs->settings.entry_timeout_s;
}

/*
 * Errors of the backing filesystem (or of the daemon's own resources) that
 * requests through the mount met, counted for the status and the metrics:
 * an upload failing on a full disk shows there, not only in the
 * application's log.  ENOENT, EACCES and the like are answers, not faults.
 */
static const struct {
	int errnum;
	const char *name;
} counted_errors[] = {
	{ EIO, "EIO" }, { ENOSPC, "ENOSPC" }, { EDQUOT, "EDQUOT" }, { EROFS, "EROFS" },
	{ EFBIG, "EFBIG" }, { EMFILE, "EMFILE" }, { ENFILE, "ENFILE" }, { ENOMEM, "ENOMEM" },
};

_Static_assert(sizeof(counted_errors) / sizeof(counted_errors[0]) <= MEDIAFS_ERROR_KINDS,
	       "struct mediafs counts every kind");

/* Reply errnum (0: success) and count it when it is a fault. */
static void fs_reply_err(fuse_req_t req, int errnum)
{
	for (size_t i = 0; errnum && i < sizeof(counted_errors) / sizeof(counted_errors[0]); i++) {
		if (counted_errors[i].errnum == errnum) {
			atomic_fetch_add(&fs_from_req(req)->data_path_errors[i], 1);
			break;
		}
	}
	fuse_reply_err(req, errnum);
}

size_t ops_error_counts(struct mediafs *fs, const char **names, uint64_t *counts, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < sizeof(counted_errors) / sizeof(counted_errors[0]) && n < max; i++) {
		names[n] = counted_errors[i].name;
		counts[n++] = atomic_load(&fs->data_path_errors[i]);
	}
	return n;
}

/*
 * How the kernel treats a file opened or created through the mount.
 *
 * keep_cache: every change reaches the file through this mount, where the
 * kernel sees it, or through the checker, which invalidates; the page
 * cache stays valid between opens.
 *
 * noflush: a flush would do nothing here that release does not (the
 * written report; mediafs keeps no per-close state and closes the backing
 * file at release), and without it close() waits for no round trip: the
 * release comes asynchronously after the last close.  With the writeback
 * cache the kernel still flushes, to write back dirty pages.
 */
static void fs_set_open_flags(struct fuse_file_info *fi)
{
	fi->keep_cache = 1;
	fi->noflush = 1;
}

/* ------------------------------------------------------------------ */
/* Helpers: the work, returning 0 or -errno                             */
/* ------------------------------------------------------------------ */

/*
 * Find name in parent, fill e and add one lookup to its inode.  A known
 * inode costs one fstatat(); a new one is opened O_PATH and checked to be
 * the same file that was stat()ed.
 */
static int fs_do_lookup(struct mediafs *fs, struct inode *parent,
			const char *name, struct fuse_entry_param *e)
{
	struct inode *inode;
	int parent_fd, fd, err;

	memset(e, 0, sizeof(*e));
	fs_fill_entry_timeouts(fs, e);
	if (fs_is_reserved_name(fs, parent, name))
		return -ENOENT;
	parent_fd = fs_hold(fs, parent);
	if (parent_fd < 0)
		return parent_fd;
	err = store_stat_at(parent_fd, name, &e->attr);
	if (!err && fs_is_state_dir(fs, &e->attr))
		err = -ENOENT;
	if (err)
		goto out_release;
	inode = inode_table_find(&fs->inodes, &e->attr);
	if (!inode) {
		/* The checker removes empty directories the kernel does not
		 * know; this one becomes known under the lock, or is gone. */
		bool is_dir = S_ISDIR(e->attr.st_mode) && safekeep_enabled(fs);
		if (is_dir)
			pthread_rwlock_rdlock(&fs->dir_lock);
		fd = store_open_path_at(parent_fd, name);
		err = fd < 0 ? fd : store_stat(fd, &e->attr);
		if (!err && fs_is_state_dir(fs, &e->attr))
			err = -ENOENT;
		if (!err) {
			inode = inode_table_acquire(&fs->inodes, &e->attr, &fd);
			if (!inode)
				err = -ENOMEM;
		}
		if (is_dir)
			pthread_rwlock_unlock(&fs->dir_lock);
		if (fd >= 0)
			close(fd);
		if (err)
			goto out_release;
	}
	e->ino = fs_node_id(fs, inode);
out_release:
	fs_release(fs, parent);
	return err;
}

/*
 * The entry for a file just created as name in parent and open as fd: the
 * inode is taken from fd, so a concurrent rename cannot swap it.
 */
static int fs_do_entry_for_open_file(struct mediafs *fs, int parent_fd,
				     const char *name, int fd,
				     struct fuse_entry_param *e)
{
	struct inode *inode;
	struct stat named;
	int path_fd, err;

	memset(e, 0, sizeof(*e));
	fs_fill_entry_timeouts(fs, e);
	err = store_stat(fd, &e->attr);
	if (err)
		return err;
	inode = inode_table_find(&fs->inodes, &e->attr);
	if (!inode) {
		path_fd = store_open_path_at(parent_fd, name);
		if (path_fd >= 0 && (store_stat(path_fd, &named) != 0 ||
				     named.st_ino != e->attr.st_ino ||
				     named.st_dev != e->attr.st_dev)) {
			close(path_fd);
			path_fd = -1;
		}
		if (path_fd < 0)
			path_fd = store_reopen(fd, O_PATH);
		if (path_fd < 0)
			return path_fd;
		inode = inode_table_acquire(&fs->inodes, &e->attr, &path_fd);
		if (path_fd >= 0)
			close(path_fd);
		if (!inode)
			return -ENOMEM;
	}
	e->ino = fs_node_id(fs, inode);
	return 0;
}

struct fs_new_node {
	mode_t mode;		/* S_IFDIR, S_IFLNK or a mknod(2) type, with bits */
	dev_t rdev;
	const char *link_target;
};

/*
 * Create as the caller: its fsuid and fsgid (when the daemon is root) and
 * its umask.  Modes arrive unmasked (FUSE_CAP_DONT_MASK): the backing
 * filesystem applies the umask only when the parent has no default ACL,
 * as it does natively.  Undo with creds_restore().  Returns 0 or -errno.
 */
static int fs_become_creator(struct mediafs *fs, const struct fuse_ctx *ctx,
			     struct creds_saved *saved)
{
	int err = creds_use_umask(ctx->umask, saved);

	if (!err && fs->settings.switch_creds)
		err = creds_become(ctx->uid, ctx->gid, saved);
	if (err)
		creds_restore(saved);
	return err;
}

/* mknod, mkdir and symlink: create as the caller, then look the name up. */
static int fs_do_make(fuse_req_t req, struct inode *parent, const char *name,
		      const struct fs_new_node *node, struct fuse_entry_param *e)
{
	struct mediafs *fs = fs_from_req(req);
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct creds_saved saved = { 0 };
	int parent_fd, err;

	if (fs_is_reserved_name(fs, parent, name))
		return -EPERM;
	parent_fd = fs_hold(fs, parent);
	if (parent_fd < 0)
		return parent_fd;
	err = fs_become_creator(fs, ctx, &saved);
	if (err)
		goto out_release;
	if (S_ISDIR(node->mode))
		err = store_make_dir(parent_fd, name, node->mode & ~S_IFMT);
	else if (S_ISLNK(node->mode))
		err = store_make_symlink(parent_fd, name, node->link_target);
	else
		err = store_make_node(parent_fd, name, node->mode, node->rdev);
	creds_restore(&saved);
	if (!err)
		err = fs_do_lookup(fs, parent, name, e);
	if (!err)
		track_created(fs, parent, parent_fd, name, &e->attr, false);
out_release:
	fs_release(fs, parent);
	return err;
}

static int fs_do_create(fuse_req_t req, struct inode *parent, const char *name,
			mode_t mode, struct fuse_file_info *fi,
			struct fuse_entry_param *e)
{
	struct mediafs *fs = fs_from_req(req);
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct creds_saved saved = { 0 };
	struct open_file *file;
	int parent_fd, fd, err, flags = fi->flags;
	uint64_t moves;

	if (fs_is_reserved_name(fs, parent, name))
		return -EPERM;
	if (fs->settings.writeback) {
		/* The kernel writes back pages at offsets it chooses and may
		 * read a page it only meant to write. */
		flags &= ~O_APPEND;
		if ((flags & O_ACCMODE) == O_WRONLY)
			flags = (flags & ~O_ACCMODE) | O_RDWR;
	}
	file = malloc(sizeof(*file));
	if (!file)
		return -ENOMEM;
	parent_fd = fs_hold(fs, parent);
	if (parent_fd < 0) {
		err = parent_fd;
		goto out_free;
	}
	err = fs_become_creator(fs, ctx, &saved);
	if (err)
		goto out_release;
	/* Without O_EXCL the name may be an old file that the checker is
	 * moving: read before the open, the count tells whether it did. */
	moves = inode_table_moves(&fs->inodes);
	fd = store_create_file(parent_fd, name, flags, mode & ~S_IFMT);
	creds_restore(&saved);
	if (fd < 0) {
		err = fd;
		goto out_release;
	}
	err = fs_do_entry_for_open_file(fs, parent_fd, name, fd, e);
	if (err)
		goto out_close;
	file->writer = fs_flags_write(flags) ? fs_inode(fs, e->ino) : NULL;
	err = file->writer ? fs_writer_begin(fs, file->writer, fd, moves) : 0;
	if (err) {
		inode_table_forget(&fs->inodes, file->writer, 1);
		goto out_close;
	}
	file->path_known = track_created(fs, parent, parent_fd, name, &e->attr, false);
	file->link.kind = HANDLE_FILE;
	file->fd = fd;
	atomic_init(&file->dirty, false);
	fi->fh = (uintptr_t)file;
	fs_release(fs, parent);
	return 0;

out_close:
	close(fd);
out_release:
	fs_release(fs, parent);
out_free:
	free(file);
	return err;
}

static int fs_do_link(struct mediafs *fs, struct inode *inode,
		      struct inode *new_parent, const char *new_name,
		      struct fuse_entry_param *e)
{
	int fd, new_parent_fd, err;

	if (fs_is_reserved_name(fs, new_parent, new_name))
		return -EPERM;
	fd = fs_hold(fs, inode);
	if (fd < 0)
		return fd;
	new_parent_fd = fs_hold(fs, new_parent);
	if (new_parent_fd < 0) {
		err = new_parent_fd;
		goto out_release_inode;
	}
	err = store_link(fd, new_parent_fd, new_name);
	if (err)
		goto out_release_parent;
	memset(e, 0, sizeof(*e));
	fs_fill_entry_timeouts(fs, e);
	/* Fresh attributes carry the new link count and ctime. */
	err = store_stat(fd, &e->attr);
	if (!err && !inode_table_find(&fs->inodes, &e->attr))
		err = -ESTALE;
	e->ino = fs_node_id(fs, inode);
	if (!err)
		track_created(fs, new_parent, new_parent_fd, new_name, &e->attr, true);
out_release_parent:
	fs_release(fs, new_parent);
out_release_inode:
	fs_release(fs, inode);
	return err;
}

static int fs_do_remove(struct mediafs *fs, struct inode *parent,
			const char *name, bool is_dir)
{
	int parent_fd, err;

	if (fs_is_reserved_name(fs, parent, name))
		return -ENOENT;
	parent_fd = fs_hold(fs, parent);
	if (parent_fd < 0)
		return parent_fd;
	if (is_dir)
		err = store_remove(parent_fd, name, true);
	else
		err = safekeep_unlink(fs, parent, parent_fd, name);
	fs_release(fs, parent);
	return err;
}

/* The rename itself, with both directories held; the catalog needs to
 * know beforehand whether a directory moves. */
static int fs_do_rename_fds(struct mediafs *fs, struct inode *parent, int parent_fd,
			    const char *name, struct inode *new_parent, int new_parent_fd,
			    const char *new_name, unsigned int flags)
{
	struct stat st = { 0 }, target_st = { 0 };
	struct safekeep_replace replace = { .active = false };
	int err;

	if (track_enabled(fs)) {
		err = store_stat_at(parent_fd, name, &st);
		if (!err && (flags & RENAME_EXCHANGE))
			err = store_stat_at(new_parent_fd, new_name, &target_st);
		/* A plain rename may replace a file that must be kept. */
		if (!err && !(flags & (RENAME_EXCHANGE | RENAME_NOREPLACE)) &&
		    !S_ISDIR(st.st_mode))
			err = safekeep_replace_begin(fs, new_parent, new_parent_fd, new_name,
						     &replace);
		if (err)
			return err;
		/* A rename onto another link of the same file changes nothing. */
		if (replace.active && replace.st.st_ino == st.st_ino) {
			safekeep_replace_end(fs, &replace, false);
			replace.active = false;
		}
	}
	err = store_rename(parent_fd, name, new_parent_fd, new_name, flags);
	safekeep_replace_end(fs, &replace, err == 0);
	if (!err)
		track_renamed(fs, parent, parent_fd, name, new_parent, new_parent_fd,
			      new_name, flags, &st, &target_st);
	return err;
}

static int fs_do_rename(struct mediafs *fs, struct inode *parent,
			const char *name, struct inode *new_parent,
			const char *new_name, unsigned int flags)
{
	int parent_fd, new_parent_fd, err;

	if (fs_is_reserved_name(fs, parent, name))
		return -ENOENT;
	if (fs_is_reserved_name(fs, new_parent, new_name))
		return -EPERM;
	parent_fd = fs_hold(fs, parent);
	if (parent_fd < 0)
		return parent_fd;
	new_parent_fd = fs_hold(fs, new_parent);
	if (new_parent_fd < 0) {
		err = new_parent_fd;
		goto out_release_parent;
	}
	err = fs_do_rename_fds(fs, parent, parent_fd, name, new_parent, new_parent_fd,
			       new_name, flags);
	fs_release(fs, new_parent);
out_release_parent:
	fs_release(fs, parent);
	return err;
}

/* Apply each change that to_set names, in the order chmod, chown,
 * truncate, utimens, like a sequence of the separate system calls.  The
 * caller holds path_fd. */
static int fs_do_setattr_fd(struct mediafs *fs, struct inode *inode, int path_fd,
			    const struct stat *attr, int to_set, struct fuse_file_info *fi)
{
	int open_fd = fi ? fs_open_file(fi)->fd : -1;
	int err;

	if (to_set & FUSE_SET_ATTR_MODE) {
		err = store_set_mode(path_fd, open_fd, attr->st_mode);
		if (err)
			return err;
	}
	if (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		uid_t uid = (to_set & FUSE_SET_ATTR_UID) ? attr->st_uid : (uid_t)-1;
		gid_t gid = (to_set & FUSE_SET_ATTR_GID) ? attr->st_gid : (gid_t)-1;
		err = store_set_owner(path_fd, uid, gid);
		if (err)
			return err;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		err = store_set_size(path_fd, open_fd, attr->st_size);
		if (err)
			return err;
		if (fi) {
			atomic_store(&fs_open_file(fi)->dirty, true);
		} else {
			inode_report_begin(&fs->inodes, inode);
			track_written(fs, path_fd, false);
			inode_report_end(&fs->inodes, inode);
		}
	}
	if ((to_set & ~(FUSE_SET_ATTR_CTIME | FUSE_SET_ATTR_FORCE)) == 0) {
		/* chown(f, -1, -1) arrives as a setattr that changes nothing;
		 * it still updates the ctime, and so does the same call on the
		 * backing file. */
		err = store_set_owner(path_fd, (uid_t)-1, (gid_t)-1);
		if (err)
			return err;
	}
	if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)) {
		struct timespec times[2] = {
			{ .tv_nsec = UTIME_OMIT },
			{ .tv_nsec = UTIME_OMIT },
		};
		if (to_set & FUSE_SET_ATTR_ATIME_NOW)
			times[0].tv_nsec = UTIME_NOW;
		else if (to_set & FUSE_SET_ATTR_ATIME)
			times[0] = attr->st_atim;
		if (to_set & FUSE_SET_ATTR_MTIME_NOW)
			times[1].tv_nsec = UTIME_NOW;
		else if (to_set & FUSE_SET_ATTR_MTIME)
			times[1] = attr->st_mtim;
		err = store_set_times(path_fd, open_fd, times);
		if (err)
			return err;
	}
	return 0;
}

static int fs_do_setattr(struct mediafs *fs, struct inode *inode,
			 const struct stat *attr, int to_set,
			 struct fuse_file_info *fi)
{
	/* truncate(2) by name writes like a handle, for one call. */
	bool writes = (to_set & FUSE_SET_ATTR_SIZE) && !fi;
	int fd = fs_hold(fs, inode);
	int err;

	if (fd < 0)
		return fd;
	err = writes ? fs_writer_begin(fs, inode, fd, INODE_UNCHECKED) : 0;
	if (err)
		goto out_release;
	err = fs_do_setattr_fd(fs, inode, fd, attr, to_set, fi);
	if (writes)
		inode_writer_end(&fs->inodes, inode);
out_release:
	fs_release(fs, inode);
	return err;
}

static int fs_do_open(struct mediafs *fs, struct inode *inode,
		      struct fuse_file_info *fi)
{
	struct open_file *file;
	int flags = fi->flags;
	int path_fd, fd;
	bool writes;

	if (fs->settings.writeback) {
		flags &= ~O_APPEND;
		if ((flags & O_ACCMODE) == O_WRONLY)
			flags = (flags & ~O_ACCMODE) | O_RDWR;
	}
	writes = fs_flags_write(flags);
	file = malloc(sizeof(*file));
	if (!file)
		return -ENOMEM;
	path_fd = fs_hold(fs, inode);
	if (path_fd < 0) {
		free(file);
		return path_fd;
	}
	/* Counted before the open: from here on the checker leaves it. */
	fd = writes ? fs_writer_begin(fs, inode, path_fd, INODE_UNCHECKED) : 0;
	if (fd == 0) {
		fd = store_reopen(path_fd, flags);
		if (fd < 0 && writes)
			inode_writer_end(&fs->inodes, inode);
	}
	fs_release(fs, inode);
	if (fd < 0) {
		free(file);
		return fd;
	}
	file->link.kind = HANDLE_FILE;
	file->fd = fd;
	file->writer = writes ? inode : NULL;
	atomic_init(&file->dirty, (flags & O_TRUNC) != 0);
	file->path_known = false;
	fi->fh = (uintptr_t)file;
	fs_set_open_flags(fi);
	return 0;
}

static int fs_do_opendir(struct fuse_file_info *fi)
{
	struct dir_handle *dir = malloc(sizeof(*dir));

	if (!dir)
		return -ENOMEM;
	*dir = (struct dir_handle){ .link.kind = HANDLE_DIR, .fd = -1 };
	fi->fh = (uintptr_t)dir;
	fi->cache_readdir = 0;
	return 0;
}

/* Open the backing directory of a handle on first use. */
static int fs_do_dir_open_backing(struct mediafs *fs, struct inode *inode,
				  struct dir_handle *dir)
{
	int path_fd;

	if (dir->fd >= 0)
		return 0;
	if (!dir->buf) {
		dir->buf = malloc(DIR_BUFFER_BYTES);
		if (!dir->buf)
			return -ENOMEM;
	}
	path_fd = fs_hold(fs, inode);
	if (path_fd < 0)
		return path_fd;
	dir->fd = store_open_dir(path_fd);
	fs_release(fs, inode);
	return dir->fd < 0 ? dir->fd : 0;
}

static void dir_handle_free(struct dir_handle *dir)
{
	if (dir->fd >= 0)
		close(dir->fd);
	free(dir->buf);
	free(dir);
}

/* Make buf[pos] the entry at offset; refill from the kernel when needed.
 * Returns 1 when an entry is ready, 0 at the end, or -errno. */
static int dir_next_entry(struct dir_handle *dir, off_t offset)
{
	ssize_t n;

	if (offset != dir->offset) {
		if (lseek(dir->fd, offset, SEEK_SET) < 0)
			return -errno;
		dir->offset = offset;
		dir->len = dir->pos = 0;
	}
	if (dir->pos < dir->len)
		return 1;
	n = store_read_dir(dir->fd, dir->buf, DIR_BUFFER_BYTES);
	if (n < 0)
		return (int)n;
	dir->len = (size_t)n;
	dir->pos = 0;
	return n > 0;
}

static bool is_dot_or_dotdot(const char *name)
{
	return name[0] == '.' &&
	       (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
}

/*
 * Fill reply (size bytes) with entries from offset on; with plus, each
 * entry but "." and ".." is looked up (one lookup each, as the kernel
 * expects).  Returns the bytes used, or -errno when not even one fit.
 */
static ssize_t fs_do_readdir(fuse_req_t req, struct inode *inode,
			     struct dir_handle *dir, char *reply, size_t size,
			     off_t offset, bool plus)
{
	struct mediafs *fs = fs_from_req(req);
	bool is_root = inode == &fs->inodes.root;
	size_t used = 0;
	int ready;

	ready = fs_do_dir_open_backing(fs, inode, dir);
	if (ready < 0)
		return ready;
	while ((ready = dir_next_entry(dir, offset)) > 0) {
		struct store_dirent *d = (void *)(dir->buf + dir->pos);
		struct fuse_entry_param e = { 0 };
		size_t entry_size;
		int err = 0;

		if (is_root && strcmp(d->d_name, STORE_STATE_DIR_NAME) == 0)
			goto next;
		if (!plus) {
			e.attr.st_ino = d->d_ino;
			e.attr.st_mode = (mode_t)d->d_type << 12;
			entry_size = fuse_add_direntry(req, reply + used, size - used,
						       d->d_name, &e.attr, d->d_off);
		} else {
			if (is_dot_or_dotdot(d->d_name)) {
				e.attr.st_ino = d->d_ino;
				e.attr.st_mode = (mode_t)d->d_type << 12;
			} else {
				err = fs_do_lookup(fs, inode, d->d_name, &e);
				/* Gone since getdents, or the state dir. */
				if (err == -ENOENT)
					goto next;
				if (err)
					return used ? (ssize_t)used : err;
			}
			entry_size = fuse_add_direntry_plus(req, reply + used,
							    size - used, d->d_name,
							    &e, d->d_off);
		}
		if (entry_size > size - used) {
			if (plus && e.ino)
				inode_table_forget(&fs->inodes, fs_inode(fs, e.ino), 1);
			break;
		}
		used += entry_size;
next:
		dir->pos += d->d_reclen;
		dir->offset = offset = d->d_off;
	}
	if (ready < 0 && used == 0)
		return ready;
	return (ssize_t)used;
}

static int fs_do_restore_on_access(struct mediafs *fs, struct inode *parent,
				   const char *name)
{
	int parent_fd, err;

	if (!safekeep_enabled(fs) || fs_is_reserved_name(fs, parent, name))
		return -ENOENT;
	parent_fd = fs_hold(fs, parent);
	if (parent_fd < 0)
		return parent_fd;
	err = safekeep_restore_on_access(fs, parent, parent_fd, name);
	fs_release(fs, parent);
	return err;
}

static int fs_do_getattr(struct mediafs *fs, struct inode *inode,
			 struct fuse_file_info *fi, struct stat *st)
{
	int fd, err;

	if (fi)
		return fstat(fs_open_file(fi)->fd, st) < 0 ? -errno : 0;
	fd = fs_hold(fs, inode);
	if (fd < 0)
		return fd;
	err = store_stat(fd, st);
	fs_release(fs, inode);
	return err;
}

static ssize_t fs_do_readlink(struct mediafs *fs, struct inode *inode,
			      char *target, size_t size)
{
	int fd = fs_hold(fs, inode);
	ssize_t len;

	if (fd < 0)
		return fd;
	len = store_read_link(fd, target, size);
	fs_release(fs, inode);
	return len;
}

/* One of the four xattr calls, on a held descriptor. */
struct fs_xattr_call {
	enum { XATTR_SET, XATTR_GET, XATTR_LIST, XATTR_REMOVE } op;
	const char *name;
	char *buf;
	size_t size;
	int flags;
	fuse_req_t req;		/* XATTR_SET: the caller */
};

enum { GROUPS_ON_STACK = 64 };

/* Is gid among the caller's groups (its own and its supplementary)?  When
 * they cannot be read, no: the answer then takes a privilege away. */
static bool fs_caller_in_group(fuse_req_t req, gid_t gid)
{
	gid_t some[GROUPS_ON_STACK], *groups = some;
	int size = GROUPS_ON_STACK, n = fuse_req_getgroups(req, size, some);
	bool found = fuse_req_ctx(req)->gid == gid;

	if (n > size) {
		size = n;
		groups = malloc((size_t)size * sizeof(*groups));
		n = groups ? fuse_req_getgroups(req, size, groups) : -ENOMEM;
	}
	/* The count is the total, which may have grown meanwhile. */
	for (int i = 0; i < n && i < size && !found; i++)
		found = groups[i] == gid;
	if (groups != some)
		free(groups);
	return found;
}

/*
 * Setting an access ACL clears the setgid bit when the caller is neither
 * in the file's group nor root, as natively (posix_acl_update_mode()).
 * The kernel asks for it with a flag that libfuse 3.14 does not pass on
 * (FUSE_SETXATTR_ACL_KILL_SGID), and the backing filesystem sees root, so
 * it is done here.  Returns 0 or -errno.
 */
static int fs_do_acl_kill_sgid(fuse_req_t req, int fd)
{
	struct stat st;
	int err = store_stat(fd, &st);

	if (err || !(st.st_mode & S_ISGID) || fuse_req_ctx(req)->uid == 0 ||
	    fs_caller_in_group(req, st.st_gid))
		return err;
	return store_set_mode(fd, -1, st.st_mode & 07777 & ~S_ISGID);
}

static bool is_acl_name(const char *name)
{
	return strcmp(name, "system.posix_acl_access") == 0 ||
	       strcmp(name, "system.posix_acl_default") == 0;
}

static ssize_t fs_do_xattr(struct mediafs *fs, struct inode *inode,
			   const struct fs_xattr_call *call)
{
	bool is_symlink = inode->type == S_IFLNK;
	int fd = fs_hold(fs, inode);
	ssize_t res = 0;

	if (fd < 0)
		return fd;
	switch (call->op) {
	case XATTR_SET:
		res = store_set_xattr(fd, is_symlink, call->name, call->buf,
				      call->size, call->flags);
		if (res == 0 && strcmp(call->name, "system.posix_acl_access") == 0)
			res = fs_do_acl_kill_sgid(call->req, fd);
		break;
	case XATTR_GET:
		res = store_get_xattr(fd, is_symlink, call->name, call->buf, call->size);
		/* The kernel asks for ACLs to check permissions: on a filesystem
		 * without them (mounted inside BACKING), a file has none. */
		if (res == -EOPNOTSUPP && is_acl_name(call->name))
			res = -ENODATA;
		break;
	case XATTR_LIST:
		res = store_list_xattr(fd, is_symlink, call->buf, call->size);
		break;
	case XATTR_REMOVE:
		res = store_remove_xattr(fd, is_symlink, call->name);
		break;
	}
	fs_release(fs, inode);
	return res;
}

/* ------------------------------------------------------------------ */
/* Handlers                                                             */
/* ------------------------------------------------------------------ */

static void fs_op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct mediafs *fs = userdata;

	conn->max_write = MAX_WRITE_BYTES;
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
	if (conn->capable & FUSE_CAP_AUTO_INVAL_DATA)
		conn->want |= FUSE_CAP_AUTO_INVAL_DATA;
	if (fs->settings.writeback && (conn->capable & FUSE_CAP_WRITEBACK_CACHE))
		conn->want |= FUSE_CAP_WRITEBACK_CACHE;
	else
		conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	if (fs->settings.splice) {
		conn->want |= conn->capable &
			(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
	} else {
		conn->want &= ~(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE |
				FUSE_CAP_SPLICE_MOVE);
	}
	/* Locks stay in the kernel: the mount is the only way to the files. */
	conn->want &= ~(FUSE_CAP_POSIX_LOCKS | FUSE_CAP_FLOCK_LOCKS);
	/* POSIX ACLs hold as natively: the kernel checks them (it reads them
	 * through getxattr) and leaves the umask to us, since a default ACL
	 * on the parent replaces it; see fs_become_creator(). */
	if ((conn->capable & FUSE_CAP_POSIX_ACL) && (conn->capable & FUSE_CAP_DONT_MASK))
		conn->want |= FUSE_CAP_POSIX_ACL | FUSE_CAP_DONT_MASK;
	else
		log_warn("the kernel cannot check POSIX ACLs through FUSE: ACLs in '%s' "
			 "are not enforced through the mount", fs->store.root_path);
}

static void fs_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct mediafs *fs = fs_from_req(req);
	struct fuse_entry_param e;
	int err;

	log_trace("lookup parent=%" PRIu64 " name='%s'", parent, name);
	err = fs_do_lookup(fs, fs_inode(fs, parent), name, &e);
	if (err == -ENOENT && fs_do_restore_on_access(fs, fs_inode(fs, parent), name) == 0)
		err = fs_do_lookup(fs, fs_inode(fs, parent), name, &e);
	if (err == -ENOENT && fs->settings.negative_timeout_s > 0) {
		e.ino = 0;
		e.entry_timeout = fs->settings.negative_timeout_s;
		fuse_reply_entry(req, &e);
		return;
	}
	if (err)
		fs_reply_err(req, -err);
	else
		fuse_reply_entry(req, &e);
}

static void fs_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct mediafs *fs = fs_from_req(req);

	inode_table_forget(&fs->inodes, fs_inode(fs, ino), nlookup);
	fuse_reply_none(req);
}

static void fs_op_forget_multi(fuse_req_t req, size_t count,
			       struct fuse_forget_data *forgets)
{
	struct mediafs *fs = fs_from_req(req);

	for (size_t i = 0; i < count; i++)
		inode_table_forget(&fs->inodes, fs_inode(fs, forgets[i].ino),
				   forgets[i].nlookup);
	fuse_reply_none(req);
}

static void fs_op_getattr(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	struct mediafs *fs = fs_from_req(req);
	struct stat st;
	int err;

	log_trace("getattr ino=%" PRIu64, ino);
	err = fs_do_getattr(fs, fs_inode(fs, ino), fi, &st);
	if (err)
		fs_reply_err(req, -err);
	else
		fuse_reply_attr(req, &st, fs->settings.attr_timeout_s);
}

static void fs_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
			  int to_set, struct fuse_file_info *fi)
{
	struct mediafs *fs = fs_from_req(req);
	struct inode *inode = fs_inode(fs, ino);
	int err;

	log_trace("setattr ino=%" PRIu64 " to_set=%#x", ino, to_set);
	err = fs_do_setattr(fs, inode, attr, to_set, fi);
	if (err) {
		fs_reply_err(req, -err);
		return;
	}
	fs_op_getattr(req, ino, fi);
}

static void fs_op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct mediafs *fs = fs_from_req(req);
	char target[PATH_MAX + 1];
	ssize_t len;

	log_trace("readlink ino=%" PRIu64, ino);
	len = fs_do_readlink(fs, fs_inode(fs, ino), target, sizeof(target));
	if (len < 0) {
		fs_reply_err(req, (int)-len);
		return;
	}
	if ((size_t)len >= sizeof(target)) {
		fs_reply_err(req, ENAMETOOLONG);
		return;
	}
	target[len] = '\0';
	fuse_reply_readlink(req, target);
}

static void fs_reply_entry_or_err(fuse_req_t req, int err,
				  const struct fuse_entry_param *e)
{
	if (err)
		fs_reply_err(req, -err);
	else
		fuse_reply_entry(req, e);
}

static void fs_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
			mode_t mode, dev_t rdev)
{
	struct mediafs *fs = fs_from_req(req);
	struct fs_new_node node = { .mode = mode, .rdev = rdev };
	struct fuse_entry_param e;

	log_trace("mknod parent=%" PRIu64 " name='%s' mode=%#o", parent, name, mode);
	fs_reply_entry_or_err(req, fs_do_make(req, fs_inode(fs, parent), name,
					      &node, &e), &e);
}

static void fs_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
			mode_t mode)
{
	struct mediafs *fs = fs_from_req(req);
	struct fs_new_node node = { .mode = S_IFDIR | (mode & ~S_IFMT) };
	struct fuse_entry_param e;

	log_trace("mkdir parent=%" PRIu64 " name='%s' mode=%#o", parent, name, mode);
	fs_reply_entry_or_err(req, fs_do_make(req, fs_inode(fs, parent), name,
					      &node, &e), &e);
}

static void fs_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
			  const char *name)
{
	struct mediafs *fs = fs_from_req(req);
	struct fs_new_node node = { .mode = S_IFLNK, .link_target = link };
	struct fuse_entry_param e;

	log_trace("symlink parent=%" PRIu64 " name='%s'", parent, name);
	fs_reply_entry_or_err(req, fs_do_make(req, fs_inode(fs, parent), name,
					      &node, &e), &e);
}

static void fs_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t new_parent,
		       const char *new_name)
{
	struct mediafs *fs = fs_from_req(req);
	struct fuse_entry_param e;

	log_trace("link ino=%" PRIu64 " new_parent=%" PRIu64 " name='%s'",
		  ino, new_parent, new_name);
	fs_reply_entry_or_err(req, fs_do_link(fs, fs_inode(fs, ino),
					      fs_inode(fs, new_parent), new_name,
					      &e), &e);
}

static void fs_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct mediafs *fs = fs_from_req(req);

	log_trace("unlink parent=%" PRIu64 " name='%s'", parent, name);
	fs_reply_err(req, -fs_do_remove(fs, fs_inode(fs, parent), name, false));
}

static void fs_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct mediafs *fs = fs_from_req(req);

	log_trace("rmdir parent=%" PRIu64 " name='%s'", parent, name);
	fs_reply_err(req, -fs_do_remove(fs, fs_inode(fs, parent), name, true));
}

static void fs_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
			 fuse_ino_t new_parent, const char *new_name,
			 unsigned int flags)
{
	struct mediafs *fs = fs_from_req(req);

	log_trace("rename parent=%" PRIu64 " name='%s' new_parent=%" PRIu64
		  " new_name='%s' flags=%#x", parent, name, new_parent, new_name, flags);
	fs_reply_err(req, -fs_do_rename(fs, fs_inode(fs, parent), name,
					  fs_inode(fs, new_parent), new_name, flags));
}

static void fs_op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
			 mode_t mode, struct fuse_file_info *fi)
{
	struct mediafs *fs = fs_from_req(req);
	struct fuse_entry_param e;
	int err;

	log_trace("create parent=%" PRIu64 " name='%s' mode=%#o flags=%#x",
		  parent, name, mode, fi->flags);
	err = fs_do_create(req, fs_inode(fs, parent), name, mode, fi, &e);
	if (err) {
		fs_reply_err(req, -err);
		return;
	}
	fs_set_open_flags(fi);
	handle_register(fs, &fs_open_file(fi)->link);
	if (fuse_reply_create(req, &e, fi) == -ENOENT) {
		/* The caller was interrupted: no release will come. */
		handle_unregister(fs, &fs_open_file(fi)->link);
		open_file_free(fs, fs_open_file(fi));
	}
}

static void fs_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mediafs *fs = fs_from_req(req);
	int err;

	log_trace("open ino=%" PRIu64 " flags=%#x", ino, fi->flags);
	err = fs_do_open(fs, fs_inode(fs, ino), fi);
	if (err) {
		fs_reply_err(req, -err);
		return;
	}
	handle_register(fs, &fs_open_file(fi)->link);
	if (fuse_reply_open(req, fi) == -ENOENT) {
		handle_unregister(fs, &fs_open_file(fi)->link);
		open_file_free(fs, fs_open_file(fi));
	}
}

static void fs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);

	log_trace("read ino=%" PRIu64 " size=%zu off=%jd", ino, size, (intmax_t)off);
	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].fd = fs_open_file(fi)->fd;
	buf.buf[0].pos = off;
	fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

static void fs_op_write_buf(fuse_req_t req, fuse_ino_t ino,
			    struct fuse_bufvec *in, off_t off,
			    struct fuse_file_info *fi)
{
	struct open_file *file = fs_open_file(fi);
	struct fuse_bufvec out = FUSE_BUFVEC_INIT(fuse_buf_size(in));
	ssize_t res;

	log_trace("write ino=%" PRIu64 " size=%zu off=%jd", ino,
		  fuse_buf_size(in), (intmax_t)off);
	out.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	out.buf[0].fd = file->fd;
	out.buf[0].pos = off;
	res = fuse_buf_copy(&out, in, 0);
	if (res < 0) {
		fs_reply_err(req, (int)-res);
		return;
	}
	atomic_store_explicit(&file->dirty, true, memory_order_relaxed);
	fuse_reply_write(req, (size_t)res);
}

/* A written file is reported when it is synced or released (or flushed,
 * which only the writeback cache still sends), not at every write. */
static void fs_report_if_written(struct mediafs *fs, struct open_file *file)
{
	/* Only handles with write access are ever dirty. */
	if (!atomic_exchange(&file->dirty, false) || !file->writer)
		return;
	inode_report_begin(&fs->inodes, file->writer);
	track_written(fs, file->fd, file->path_known);
	inode_report_end(&fs->inodes, file->writer);
}

static void fs_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	log_trace("flush ino=%" PRIu64, ino);
	fs_report_if_written(fs_from_req(req), fs_open_file(fi));
	fs_reply_err(req, 0);
}

static void fs_op_release(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	struct open_file *file = fs_open_file(fi);

	log_trace("release ino=%" PRIu64, ino);
	fs_report_if_written(fs_from_req(req), file);
	handle_unregister(fs_from_req(req), &file->link);
	open_file_free(fs_from_req(req), file);
	fs_reply_err(req, 0);
}

static void fs_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
			struct fuse_file_info *fi)
{
	int fd = fs_open_file(fi)->fd;
	int res;

	log_trace("fsync ino=%" PRIu64 " datasync=%d", ino, datasync);
	res = datasync ? fdatasync(fd) : fsync(fd);
	fs_report_if_written(fs_from_req(req), fs_open_file(fi));
	fs_reply_err(req, res < 0 ? errno : 0);
}

static void fs_op_opendir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	int err;

	log_trace("opendir ino=%" PRIu64, ino);
	err = fs_do_opendir(fi);
	if (err) {
		fs_reply_err(req, -err);
		return;
	}
	handle_register(fs_from_req(req), &fs_dir_handle(fi)->link);
	if (fuse_reply_open(req, fi) == -ENOENT) {
		handle_unregister(fs_from_req(req), &fs_dir_handle(fi)->link);
		dir_handle_free(fs_dir_handle(fi));
	}
}

static void fs_reply_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
			     off_t off, struct fuse_file_info *fi, bool plus)
{
	struct mediafs *fs = fs_from_req(req);
	char *reply = malloc(size);
	ssize_t used;

	log_trace("readdir%s ino=%" PRIu64 " size=%zu off=%jd", plus ? "plus" : "",
		  ino, size, (intmax_t)off);
	if (!reply) {
		fs_reply_err(req, ENOMEM);
		return;
	}
	used = fs_do_readdir(req, fs_inode(fs, ino), fs_dir_handle(fi), reply,
			     size, off, plus);
	if (used < 0)
		fs_reply_err(req, (int)-used);
	else
		fuse_reply_buf(req, reply, (size_t)used);
	free(reply);
}

static void fs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
			  off_t off, struct fuse_file_info *fi)
{
	fs_reply_readdir(req, ino, size, off, fi, false);
}

static void fs_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			      off_t off, struct fuse_file_info *fi)
{
	fs_reply_readdir(req, ino, size, off, fi, true);
}

static void fs_op_releasedir(fuse_req_t req, fuse_ino_t ino,
			     struct fuse_file_info *fi)
{
	struct dir_handle *dir = fs_dir_handle(fi);

	log_trace("releasedir ino=%" PRIu64, ino);
	handle_unregister(fs_from_req(req), &dir->link);
	dir_handle_free(dir);
	fs_reply_err(req, 0);
}

static void fs_op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
			   struct fuse_file_info *fi)
{
	struct mediafs *fs = fs_from_req(req);
	struct dir_handle *dir = fs_dir_handle(fi);
	int err;

	log_trace("fsyncdir ino=%" PRIu64, ino);
	err = fs_do_dir_open_backing(fs, fs_inode(fs, ino), dir);
	if (!err && (datasync ? fdatasync(dir->fd) : fsync(dir->fd)) < 0)
		err = -errno;
	fs_reply_err(req, -err);
}

static void fs_op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct mediafs *fs = fs_from_req(req);
	struct statvfs st;
	int err;

	log_trace("statfs ino=%" PRIu64, ino);
	err = store_statfs(&fs->store, &st);
	if (err)
		fs_reply_err(req, -err);
	else
		fuse_reply_statfs(req, &st);
}

static void fs_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			   const char *value, size_t size, int flags)
{
	struct mediafs *fs = fs_from_req(req);
	struct inode *inode = fs_inode(fs, ino);

	log_trace("setxattr ino=%" PRIu64 " name='%s'", ino, name);
	fs_reply_err(req, -fs_do_xattr(fs, inode, &(struct fs_xattr_call){
		.op = XATTR_SET, .name = name, .buf = (char *)value, .size = size,
		.flags = flags, .req = req }));
}

/* getxattr and listxattr: a size of zero asks for the size only. */
static void fs_reply_xattr_result(fuse_req_t req, char *buf, size_t size,
				  ssize_t res)
{
	if (res < 0)
		fs_reply_err(req, (int)-res);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)res);
	else
		fuse_reply_buf(req, buf, (size_t)res);
}

static void fs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			   size_t size)
{
	struct mediafs *fs = fs_from_req(req);
	struct inode *inode = fs_inode(fs, ino);
	char *buf = size ? malloc(size) : NULL;

	log_trace("getxattr ino=%" PRIu64 " name='%s' size=%zu", ino, name, size);
	if (size && !buf) {
		fs_reply_err(req, ENOMEM);
		return;
	}
	fs_reply_xattr_result(req, buf, size,
			      fs_do_xattr(fs, inode, &(struct fs_xattr_call){
				      .op = XATTR_GET, .name = name, .buf = buf,
				      .size = size }));
	free(buf);
}

static void fs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct mediafs *fs = fs_from_req(req);
	struct inode *inode = fs_inode(fs, ino);
	char *buf = size ? malloc(size) : NULL;

	log_trace("listxattr ino=%" PRIu64 " size=%zu", ino, size);
	if (size && !buf) {
		fs_reply_err(req, ENOMEM);
		return;
	}
	fs_reply_xattr_result(req, buf, size,
			      fs_do_xattr(fs, inode, &(struct fs_xattr_call){
				      .op = XATTR_LIST, .buf = buf, .size = size }));
	free(buf);
}

static void fs_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct mediafs *fs = fs_from_req(req);
	struct inode *inode = fs_inode(fs, ino);

	log_trace("removexattr ino=%" PRIu64 " name='%s'", ino, name);
	fs_reply_err(req, -fs_do_xattr(fs, inode, &(struct fs_xattr_call){
		.op = XATTR_REMOVE, .name = name }));
}

static void fs_op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode,
			    off_t offset, off_t length, struct fuse_file_info *fi)
{
	struct open_file *file = fs_open_file(fi);
	int res;

	log_trace("fallocate ino=%" PRIu64 " mode=%#x off=%jd len=%jd", ino, mode,
		  (intmax_t)offset, (intmax_t)length);
	do {
		res = fallocate(file->fd, mode, offset, length);
	} while (res < 0 && errno == EINTR);
	if (res == 0)
		atomic_store(&file->dirty, true);
	fs_reply_err(req, res < 0 ? errno : 0);
}

static void fs_op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in,
				  off_t off_in, struct fuse_file_info *fi_in,
				  fuse_ino_t ino_out, off_t off_out,
				  struct fuse_file_info *fi_out, size_t len,
				  int flags)
{
	struct open_file *out = fs_open_file(fi_out);
	ssize_t res;

	log_trace("copy_file_range in=%" PRIu64 " out=%" PRIu64 " len=%zu",
		  ino_in, ino_out, len);
	res = copy_file_range(fs_open_file(fi_in)->fd, &off_in, out->fd, &off_out,
			      len, (unsigned int)flags);
	if (res < 0) {
		fs_reply_err(req, errno);
		return;
	}
	atomic_store(&out->dirty, true);
	fuse_reply_write(req, (size_t)res);
}

static void fs_op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
			struct fuse_file_info *fi)
{
	off_t res;

	log_trace("lseek ino=%" PRIu64 " off=%jd whence=%d", ino, (intmax_t)off, whence);
	res = lseek(fs_open_file(fi)->fd, off, whence);
	if (res < 0)
		fs_reply_err(req, errno);
	else
		fuse_reply_lseek(req, res);
}

void ops_invalidate_name(struct mediafs *fs, const char *rel)
{
	const char *name;
	struct stat st;
	int dir_fd;

	if (!fs->session || store_open_parent(&fs->store, rel, &dir_fd, &name) != 0)
		return;
	if (store_stat(dir_fd, &st) == 0) {
		uint64_t node = inode_table_node_id(&fs->inodes, st.st_dev, st.st_ino);
		if (node)
			fuse_lowlevel_notify_inval_entry(fs->session, node, name, strlen(name));
	}
	close(dir_fd);
}

void ops_invalidate_path(struct mediafs *fs, const char *rel)
{
	char prefix[PATH_MAX];
	const char *slash = rel;

	while ((slash = strchr(slash, '/')) != NULL) {
		snprintf(prefix, sizeof(prefix), "%.*s", (int)(slash - rel), rel);
		ops_invalidate_name(fs, prefix);
		slash++;
	}
	ops_invalidate_name(fs, rel);
}

const struct fuse_lowlevel_ops fs_ops = {
	.init = fs_op_init,
	.lookup = fs_op_lookup,
	.forget = fs_op_forget,
	.forget_multi = fs_op_forget_multi,
	.getattr = fs_op_getattr,
	.setattr = fs_op_setattr,
	.readlink = fs_op_readlink,
	.mknod = fs_op_mknod,
	.mkdir = fs_op_mkdir,
	.symlink = fs_op_symlink,
	.link = fs_op_link,
	.unlink = fs_op_unlink,
	.rmdir = fs_op_rmdir,
	.rename = fs_op_rename,
	.create = fs_op_create,
	.open = fs_op_open,
	.read = fs_op_read,
	.write_buf = fs_op_write_buf,
	.flush = fs_op_flush,
	.release = fs_op_release,
	.fsync = fs_op_fsync,
	.opendir = fs_op_opendir,
	.readdir = fs_op_readdir,
	.readdirplus = fs_op_readdirplus,
	.releasedir = fs_op_releasedir,
	.fsyncdir = fs_op_fsyncdir,
	.statfs = fs_op_statfs,
	.setxattr = fs_op_setxattr,
	.getxattr = fs_op_getxattr,
	.listxattr = fs_op_listxattr,
	.removexattr = fs_op_removexattr,
	.fallocate = fs_op_fallocate,
	.copy_file_range = fs_op_copy_file_range,
	.lseek = fs_op_lseek,
};

void ops_close_handles(struct mediafs *fs)
{
	struct handle_link *link, *next;
	size_t files = 0, dirs = 0;

	pthread_mutex_lock(&fs->handles_lock);
	for (link = fs->handles.next; link != &fs->handles; link = next) {
		next = link->next;
		if (link->kind == HANDLE_FILE) {
			struct open_file *file = (struct open_file *)link;

			fs_report_if_written(fs, file);
			open_file_free(fs, file);
			files++;
		} else {
			dir_handle_free((struct dir_handle *)link);
			dirs++;
		}
	}
	fs->handles.next = fs->handles.prev = &fs->handles;
	pthread_mutex_unlock(&fs->handles_lock);
	if (files || dirs)
		log_debug("closed %zu files and %zu directories the kernel had not released",
			  files, dirs);
}
