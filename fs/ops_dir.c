/*
 * ops_dir: the FUSE handlers of names and directories: mknod, mkdir,
 * symlink and link (made as the caller), unlink and rmdir, rename, and
 * directory handles with readdir and readdirplus.  See ops.c for the
 * shape every handler has.
 */
#include "ops_i.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "safekeep.h"
#include "track.h"

enum { DIR_BUFFER_BYTES = 32 * 1024 };

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

static struct dir_handle *fs_dir_handle(struct fuse_file_info *fi)
{
	return (struct dir_handle *)(uintptr_t)fi->fh;
}

/* ------------------------------------------------------------------ */
/* Helpers: the work, returning 0 or -errno                             */
/* ------------------------------------------------------------------ */

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
int fs_become_creator(struct mediafs *fs, const struct fuse_ctx *ctx,
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

/*
 * Hold the descriptors of two inodes (maybe the same) for one request:
 * 0 with both held, or -errno with neither.
 */
static int fs_hold_two(struct mediafs *fs, struct inode *a, int *a_fd, struct inode *b,
		       int *b_fd)
{
	*a_fd = fs_hold(fs, a);
	if (*a_fd < 0)
		return *a_fd;
	*b_fd = fs_hold(fs, b);
	if (*b_fd < 0) {
		fs_release(fs, a);
		return *b_fd;
	}
	return 0;
}

static void fs_release_two(struct mediafs *fs, struct inode *a, struct inode *b)
{
	fs_release(fs, b);
	fs_release(fs, a);
}

static int fs_do_link(struct mediafs *fs, struct inode *inode,
		      struct inode *new_parent, const char *new_name,
		      struct fuse_entry_param *e)
{
	int fd, new_parent_fd, err;

	if (fs_is_reserved_name(fs, new_parent, new_name))
		return -EPERM;
	err = fs_hold_two(fs, inode, &fd, new_parent, &new_parent_fd);
	if (err)
		return err;
	err = store_link(fd, new_parent_fd, new_name);
	if (err)
		goto out_release;
	memset(e, 0, sizeof(*e));
	fs_fill_entry_timeouts(fs, e);
	/* Fresh attributes carry the new link count and ctime. */
	err = store_stat(fd, &e->attr);
	if (!err && !inode_table_find(&fs->inodes, &e->attr))
		err = -ESTALE;
	e->ino = fs_node_id(fs, inode);
	if (!err)
		track_created(fs, new_parent, new_parent_fd, new_name, &e->attr, true);
out_release:
	fs_release_two(fs, inode, new_parent);
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
	err = fs_hold_two(fs, parent, &parent_fd, new_parent, &new_parent_fd);
	if (err)
		return err;
	err = fs_do_rename_fds(fs, parent, parent_fd, name, new_parent, new_parent_fd,
			       new_name, flags);
	fs_release_two(fs, parent, new_parent);
	return err;
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

void fs_dir_handle_free(struct dir_handle *dir)
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

/* ------------------------------------------------------------------ */
/* Handlers                                                             */
/* ------------------------------------------------------------------ */

static void fs_reply_entry_or_err(fuse_req_t req, int err,
				  const struct fuse_entry_param *e)
{
	if (err)
		fs_reply_err(req, -err);
	else
		fuse_reply_entry(req, e);
}

void fs_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		 mode_t mode, dev_t rdev)
{
	struct mediafs *fs = fs_from_req(req);
	struct fs_new_node node = { .mode = mode, .rdev = rdev };
	struct fuse_entry_param e;

	log_trace("mknod parent=%" PRIu64 " name='%s' mode=%#o", parent, name, mode);
	fs_reply_entry_or_err(req, fs_do_make(req, fs_inode(fs, parent), name,
					      &node, &e), &e);
}

void fs_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		 mode_t mode)
{
	struct mediafs *fs = fs_from_req(req);
	struct fs_new_node node = { .mode = S_IFDIR | (mode & ~S_IFMT) };
	struct fuse_entry_param e;

	log_trace("mkdir parent=%" PRIu64 " name='%s' mode=%#o", parent, name, mode);
	fs_reply_entry_or_err(req, fs_do_make(req, fs_inode(fs, parent), name,
					      &node, &e), &e);
}

void fs_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		   const char *name)
{
	struct mediafs *fs = fs_from_req(req);
	struct fs_new_node node = { .mode = S_IFLNK, .link_target = link };
	struct fuse_entry_param e;

	log_trace("symlink parent=%" PRIu64 " name='%s'", parent, name);
	fs_reply_entry_or_err(req, fs_do_make(req, fs_inode(fs, parent), name,
					      &node, &e), &e);
}

void fs_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t new_parent,
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

void fs_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct mediafs *fs = fs_from_req(req);

	log_trace("unlink parent=%" PRIu64 " name='%s'", parent, name);
	fs_reply_err(req, -fs_do_remove(fs, fs_inode(fs, parent), name, false));
}

void fs_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct mediafs *fs = fs_from_req(req);

	log_trace("rmdir parent=%" PRIu64 " name='%s'", parent, name);
	fs_reply_err(req, -fs_do_remove(fs, fs_inode(fs, parent), name, true));
}

void fs_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		  fuse_ino_t new_parent, const char *new_name,
		  unsigned int flags)
{
	struct mediafs *fs = fs_from_req(req);

	log_trace("rename parent=%" PRIu64 " name='%s' new_parent=%" PRIu64
		  " new_name='%s' flags=%#x", parent, name, new_parent, new_name, flags);
	fs_reply_err(req, -fs_do_rename(fs, fs_inode(fs, parent), name,
					  fs_inode(fs, new_parent), new_name, flags));
}

void fs_op_opendir(fuse_req_t req, fuse_ino_t ino,
		   struct fuse_file_info *fi)
{
	int err;

	log_trace("opendir ino=%" PRIu64, ino);
	err = fs_do_opendir(fi);
	if (err) {
		fs_reply_err(req, -err);
		return;
	}
	fs_handle_register(fs_from_req(req), &fs_dir_handle(fi)->link);
	if (fuse_reply_open(req, fi) == -ENOENT) {
		fs_handle_unregister(fs_from_req(req), &fs_dir_handle(fi)->link);
		fs_dir_handle_free(fs_dir_handle(fi));
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

void fs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
		   off_t off, struct fuse_file_info *fi)
{
	fs_reply_readdir(req, ino, size, off, fi, false);
}

void fs_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
		       off_t off, struct fuse_file_info *fi)
{
	fs_reply_readdir(req, ino, size, off, fi, true);
}

void fs_op_releasedir(fuse_req_t req, fuse_ino_t ino,
		      struct fuse_file_info *fi)
{
	struct dir_handle *dir = fs_dir_handle(fi);

	log_trace("releasedir ino=%" PRIu64, ino);
	fs_handle_unregister(fs_from_req(req), &dir->link);
	fs_dir_handle_free(dir);
	fs_reply_err(req, 0);
}

void fs_op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
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

