/*
 * ops_file: the FUSE handlers of regular files: create and open, read and
 * write, fallocate, copy_file_range and lseek, and flush, fsync and
 * release, which report a written file to the catalog.  A handle with
 * write access is counted in its inode's writers (inode.h), so that the
 * checker leaves its file alone while it is open.  See ops.c for the shape
 * every handler has.
 */
#include "ops_i.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "passthrough.h"
#include "safekeep.h"
#include "track.h"

void fs_open_file_free(struct mediafs *fs, struct open_file *file)
{
	if (file->io_inode)
		inode_io_leave(&fs->inodes, file->io_inode, file->backing_id);
	if (file->writer)
		inode_writer_end(&fs->inodes, file->writer);
	if (file->fd >= 0)
		close(file->fd);
	free(file);
}

int fs_file_fd(struct mediafs *fs, struct open_file *file)
{
	int fd = __atomic_load_n(&file->fd, __ATOMIC_ACQUIRE);
	int expected = -1, path_fd;

	if (fd >= 0)
		return fd;
	/* Only passthrough readers start without one, and they know their
	 * inode (the kernel keeps it until the release). */
	path_fd = fs_hold(fs, file->io_inode);
	if (path_fd < 0)
		return path_fd;
	fd = store_reopen(path_fd, O_RDONLY);
	fs_release(fs, file->io_inode);
	if (fd < 0)
		return fd;
	if (!__atomic_compare_exchange_n(&file->fd, &expected, fd, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		close(fd);	/* another request of this handle was first */
		return expected;
	}
	return fd;
}

/*
 * Files this large or larger open in passthrough mode.  Smaller ones stay
 * with the daemon: a web server serves them from the page cache, which
 * keep_cache keeps between opens, with an OPEN and a RELEASE each; in
 * passthrough mode every read also makes the kernel forget the file's
 * atime, so the server's fstat() after each open costs a GETATTR more
 * (measured with bench/nginx.sh: 11k against 17.7k requests/s on 8-96
 * KiB images).  Large files gain most: no byte passes the daemon.
 */
enum { PASSTHROUGH_MIN_BYTES = 1024 * 1024 };

/* Can handles of inode be in passthrough mode? */
static bool fs_passthrough_usable(struct mediafs *fs, struct inode *inode)
{
	return fs->passthrough && passthrough_on(fs->passthrough) && inode->type == S_IFREG;
}

/*
 * Choose who does the I/O of file, open on inode: the kernel on the
 * backing file (passthrough, on the inode's one backing id) or the daemon.
 * Every handle of an inode open at one time gets the same answer
 * (inode.h).  Never fails: the daemon can always serve.
 */
static void fs_io_begin(struct mediafs *fs, struct inode *inode, struct open_file *file)
{
	struct stat st;
	bool stated = false;
	int id, surplus;

	file->io_inode = NULL;
	file->backing_id = 0;
	if (!fs_passthrough_usable(fs, inode))
		return;
	id = inode_io_join(&fs->inodes, inode);
	if (id < 0) {
		/* The first handle decides, by the file's size (a failed stat
		 * leaves it to the daemon). */
		stated = store_stat(file->fd, &st) == 0;
		if (stated && st.st_size >= PASSTHROUGH_MIN_BYTES)
			id = passthrough_backing_open(fs->passthrough, file->fd);
		id = inode_io_settle(&fs->inodes, inode, id, &surplus);
		if (surplus > 0)
			(void)passthrough_backing_close(fs->passthrough, surplus);
	}
	file->io_inode = inode;
	file->backing_id = id;
	if (id <= 0 || !file->writer)
		return;
	/* The stat that decided serves as the first one to compare with;
	 * without any, the first report counts the file as written. */
	if (!stated && store_stat(file->fd, &st) != 0)
		memset(&st, 0, sizeof(st));
	file->seen = st;
}

/* Has the file changed since file->seen?  (Passthrough writers only.) */
static bool fs_changed_on_disk(struct open_file *file)
{
	struct stat now;
	bool changed;

	if (store_stat(file->fd, &now) != 0)
		return true;	/* track_written() says why, once */
	changed = now.st_size != file->seen.st_size ||
		  now.st_mtim.tv_sec != file->seen.st_mtim.tv_sec ||
		  now.st_mtim.tv_nsec != file->seen.st_mtim.tv_nsec ||
		  now.st_ctim.tv_sec != file->seen.st_ctim.tv_sec ||
		  now.st_ctim.tv_nsec != file->seen.st_ctim.tv_nsec;
	file->seen = now;
	return changed;
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
int fs_writer_begin(struct mediafs *fs, struct inode *inode, int fd, uint64_t opened_at)
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

/*
 * The flags to open the backing file with for a request's flags.  With
 * the writeback cache the kernel writes back pages at offsets it chooses
 * and may read a page it only meant to write: no O_APPEND, and read
 * access with write access.
 */
static int fs_backing_flags(struct mediafs *fs, int flags)
{
	if (fs->settings.writeback) {
		flags &= ~O_APPEND;
		if ((flags & O_ACCMODE) == O_WRONLY)
			flags = (flags & ~O_ACCMODE) | O_RDWR;
	}
	return flags;
}

/* ------------------------------------------------------------------ */
/* Helpers: the work, returning 0 or -errno                             */
/* ------------------------------------------------------------------ */

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

static int fs_do_create(fuse_req_t req, struct inode *parent, const char *name,
			mode_t mode, struct fuse_file_info *fi,
			struct fuse_entry_param *e)
{
	struct mediafs *fs = fs_from_req(req);
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct creds_saved saved = { 0 };
	struct open_file *file;
	int parent_fd, fd, err, flags = fs_backing_flags(fs, fi->flags);
	uint64_t moves;

	if (fs_is_reserved_name(fs, parent, name))
		return -EPERM;
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
	fs_io_begin(fs, fs_inode(fs, e->ino), file);
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

static int fs_do_open(struct mediafs *fs, struct inode *inode,
		      struct fuse_file_info *fi)
{
	struct open_file *file;
	int flags = fs_backing_flags(fs, fi->flags);
	int path_fd, fd, id;
	bool writes;

	writes = fs_flags_write(flags);
	file = malloc(sizeof(*file));
	if (!file)
		return -ENOMEM;
	/* A reader of a file whose backing id the kernel has: no system call
	 * at all.  The kernel reads; a descriptor is opened if a request
	 * ever needs one (fs_file_fd). */
	if (!writes && fs_passthrough_usable(fs, inode)) {
		id = inode_io_join(&fs->inodes, inode);
		if (id > 0) {
			*file = (struct open_file){
				.link.kind = HANDLE_FILE,
				.fd = -1,
				.io_inode = inode,
				.backing_id = id,
			};
			fi->fh = (uintptr_t)file;
			fs_set_open_flags(fi);
			return 0;
		}
		/* Served by the daemon meanwhile: counted; or none yet. */
		if (id == 0)
			inode_io_leave(&fs->inodes, inode, 0);
	}
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
	fs_io_begin(fs, inode, file);
	fi->fh = (uintptr_t)file;
	fs_set_open_flags(fi);
	return 0;
}

/* A written file is reported when it is synced or released (or flushed,
 * which only the writeback cache still sends), not at every write. */
void fs_report_if_written(struct mediafs *fs, struct open_file *file)
{
	bool dirty = atomic_exchange(&file->dirty, false);

	/* Only handles with write access are ever dirty.  In passthrough
	 * mode the kernel writes without telling: compare with the file. */
	if (!file->writer)
		return;
	if (!dirty && file->backing_id > 0)
		dirty = fs_changed_on_disk(file);
	if (!dirty)
		return;
	inode_report_begin(&fs->inodes, file->writer);
	track_written(fs, file->fd, file->path_known);
	inode_report_end(&fs->inodes, file->writer);
}

/* ------------------------------------------------------------------ */
/* Handlers                                                             */
/* ------------------------------------------------------------------ */

void fs_op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
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
	fs_handle_register(fs, &fs_open_file(fi)->link);
	if (fs_open_file(fi)->backing_id > 0)
		err = passthrough_reply_create(req, &e, fi, fs_open_file(fi)->backing_id);
	else
		err = fuse_reply_create(req, &e, fi);
	if (err == -ENOENT) {
		/* The caller was interrupted: no release will come. */
		fs_handle_unregister(fs, &fs_open_file(fi)->link);
		fs_open_file_free(fs, fs_open_file(fi));
	}
}

void fs_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mediafs *fs = fs_from_req(req);
	int err;

	log_trace("open ino=%" PRIu64 " flags=%#x", ino, fi->flags);
	err = fs_do_open(fs, fs_inode(fs, ino), fi);
	if (err) {
		fs_reply_err(req, -err);
		return;
	}
	fs_handle_register(fs, &fs_open_file(fi)->link);
	if (fs_open_file(fi)->backing_id > 0)
		err = passthrough_reply_open(req, fi, fs_open_file(fi)->backing_id);
	else
		err = fuse_reply_open(req, fi);
	if (err == -ENOENT) {
		fs_handle_unregister(fs, &fs_open_file(fi)->link);
		fs_open_file_free(fs, fs_open_file(fi));
	}
}

void fs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		struct fuse_file_info *fi)
{
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);

	log_trace("read ino=%" PRIu64 " size=%zu off=%jd", ino, size, (intmax_t)off);
	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].fd = fs_file_fd(fs_from_req(req), fs_open_file(fi));
	buf.buf[0].pos = off;
	if (buf.buf[0].fd < 0)
		fs_reply_err(req, -buf.buf[0].fd);
	else
		fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

void fs_op_write_buf(fuse_req_t req, fuse_ino_t ino,
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

void fs_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	log_trace("flush ino=%" PRIu64, ino);
	fs_report_if_written(fs_from_req(req), fs_open_file(fi));
	fs_reply_err(req, 0);
}

void fs_op_release(fuse_req_t req, fuse_ino_t ino,
		   struct fuse_file_info *fi)
{
	struct open_file *file = fs_open_file(fi);

	log_trace("release ino=%" PRIu64, ino);
	fs_report_if_written(fs_from_req(req), file);
	fs_handle_unregister(fs_from_req(req), &file->link);
	fs_open_file_free(fs_from_req(req), file);
	fs_reply_err(req, 0);
}

void fs_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		 struct fuse_file_info *fi)
{
	int fd = fs_file_fd(fs_from_req(req), fs_open_file(fi));
	int res;

	log_trace("fsync ino=%" PRIu64 " datasync=%d", ino, datasync);
	if (fd < 0) {
		fs_reply_err(req, -fd);
		return;
	}
	res = datasync ? fdatasync(fd) : fsync(fd);
	fs_report_if_written(fs_from_req(req), fs_open_file(fi));
	fs_reply_err(req, res < 0 ? errno : 0);
}

void fs_op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode,
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

void fs_op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in,
			   off_t off_in, struct fuse_file_info *fi_in,
			   fuse_ino_t ino_out, off_t off_out,
			   struct fuse_file_info *fi_out, size_t len,
			   int flags)
{
	struct open_file *out = fs_open_file(fi_out);
	ssize_t res;

	log_trace("copy_file_range in=%" PRIu64 " out=%" PRIu64 " len=%zu",
		  ino_in, ino_out, len);
	int in_fd = fs_file_fd(fs_from_req(req), fs_open_file(fi_in));

	if (in_fd < 0) {
		fs_reply_err(req, -in_fd);
		return;
	}
	res = copy_file_range(in_fd, &off_in, out->fd, &off_out,
			      len, (unsigned int)flags);
	if (res < 0) {
		fs_reply_err(req, errno);
		return;
	}
	atomic_store(&out->dirty, true);
	fuse_reply_write(req, (size_t)res);
}

void fs_op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		 struct fuse_file_info *fi)
{
	off_t res;

	log_trace("lseek ino=%" PRIu64 " off=%jd whence=%d", ino, (intmax_t)off, whence);
	int fd = fs_file_fd(fs_from_req(req), fs_open_file(fi));

	if (fd < 0) {
		fs_reply_err(req, -fd);
		return;
	}
	res = lseek(fd, off, whence);
	if (res < 0)
		fs_reply_err(req, errno);
	else
		fuse_reply_lseek(req, res);
}

