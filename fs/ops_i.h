/*
 * ops_i.h: what the files of the ops module share (ops.c, ops_attr.c,
 * ops_dir.c, ops_file.c): the open file handle, the accessors that keep
 * the casts from request and node ids in one place, and the handlers
 * that the operations table in ops.c names.  Internal: nothing outside
 * fs/ops*.c includes it; the module's interface is ops.h.
 *
 * Threads: every function here runs on a FUSE worker, but for
 * fs_report_if_written() and fs_open_file_free(), which
 * ops_close_handles() also calls after the session loop has ended.
 */
#ifndef MEDIAFS_OPS_I_H
#define MEDIAFS_OPS_I_H

#include "ops.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include "creds.h"
#include "mediafs.h"

enum handle_kind { HANDLE_FILE, HANDLE_DIR };

/* An open regular file. */
struct open_file {
	struct handle_link link;	/* first: the list holds links */
	int fd;			/* the daemon's descriptor on the file; -1 for a
				 * reading handle in passthrough mode until a
				 * request needs one (fs_file_fd) */
	atomic_bool dirty;	/* written since the last flush, fsync or release */
	bool path_known;	/* its creation, with its path, went to the catalog */
	struct inode *writer;	/* counted in its writers (opened with write
				 * access), or NULL; the kernel keeps the
				 * inode until the release is answered */
	struct inode *io_inode;	/* counted in its io modes (inode_io_join),
				 * or NULL when passthrough is off */
	int backing_id;		/* > 0: the kernel does its I/O (passthrough) */
	struct stat seen;	/* with backing_id and writer: the file as the
				 * last report saw it; the daemon sees no
				 * writes, so a change shows here */
};

/* An open directory (ops_dir.c). */
struct dir_handle;

/* ------------------------------------------------------------------ */
/* Accessors                                                            */
/* ------------------------------------------------------------------ */

static inline struct mediafs *fs_from_req(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static inline struct inode *fs_inode(struct mediafs *fs, fuse_ino_t ino)
{
	if (ino == FUSE_ROOT_ID)
		return &fs->inodes.root;
	return (struct inode *)(uintptr_t)ino;
}

static inline fuse_ino_t fs_node_id(struct mediafs *fs, struct inode *inode)
{
	if (inode == &fs->inodes.root)
		return FUSE_ROOT_ID;
	return (fuse_ino_t)(uintptr_t)inode;
}

static inline struct open_file *fs_open_file(struct fuse_file_info *fi)
{
	return (struct open_file *)(uintptr_t)fi->fh;
}

/* .mediafs in the root is the daemon's; the mount never shows it. */
static inline bool fs_is_reserved_name(struct mediafs *fs, struct inode *parent,
				       const char *name)
{
	return parent == &fs->inodes.root &&
	       strcmp(name, STORE_STATE_DIR_NAME) == 0;
}

/* Also catches the state directory reached by any other route. */
static inline bool fs_is_state_dir(struct mediafs *fs, const struct stat *st)
{
	return st->st_ino == fs->store.state_ino &&
	       st->st_dev == fs->store.state_dev;
}

/*
 * The O_PATH descriptor of an inode, held for the length of one request
 * (the table may close idle descriptors; see inode.h).
 */
static inline int fs_hold(struct mediafs *fs, struct inode *inode)
{
	return inode_hold_fd(&fs->inodes, inode);
}

static inline void fs_release(struct mediafs *fs, struct inode *inode)
{
	inode_release_fd(&fs->inodes, inode);
}

static inline void fs_fill_entry_timeouts(struct mediafs *fs, struct fuse_entry_param *e)
{
	e->attr_timeout = fs->settings.attr_timeout_s;
	e->entry_timeout = fs->settings.entry_timeout_s;
}

/* ------------------------------------------------------------------ */
/* ops.c                                                                */
/* ------------------------------------------------------------------ */

/* Reply errnum (0: success) and count it when it is a fault. */
void fs_reply_err(fuse_req_t req, int errnum);

/* Add a handle to the list of those the kernel has not released, or take
 * it out (at its release, or when the reply that opened it failed). */
void fs_handle_register(struct mediafs *fs, struct handle_link *link);
void fs_handle_unregister(struct mediafs *fs, struct handle_link *link);

/* ------------------------------------------------------------------ */
/* ops_attr.c                                                           */
/* ------------------------------------------------------------------ */

/*
 * Find name in parent, fill e and add one lookup to its inode.  Returns 0
 * or -errno (-ENOENT for the state directory, by any route).
 */
int fs_do_lookup(struct mediafs *fs, struct inode *parent, const char *name,
		 struct fuse_entry_param *e);

void fs_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
void fs_op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets);
void fs_op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		   struct fuse_file_info *fi);
void fs_op_readlink(fuse_req_t req, fuse_ino_t ino);
void fs_op_statfs(fuse_req_t req, fuse_ino_t ino);
void fs_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
		    size_t size, int flags);
void fs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void fs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void fs_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

/* ------------------------------------------------------------------ */
/* ops_dir.c                                                            */
/* ------------------------------------------------------------------ */

/*
 * Create as the caller: its fsuid and fsgid (when the daemon is root) and
 * its umask.  Undo with creds_restore().  Returns 0 or -errno.
 */
int fs_become_creator(struct mediafs *fs, const struct fuse_ctx *ctx,
		      struct creds_saved *saved);

/* Close a directory handle's backing directory and free it. */
void fs_dir_handle_free(struct dir_handle *dir);

void fs_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		 dev_t rdev);
void fs_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode);
void fs_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name);
void fs_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t new_parent, const char *new_name);
void fs_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		  fuse_ino_t new_parent, const char *new_name, unsigned int flags);
void fs_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		   struct fuse_file_info *fi);
void fs_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi);
void fs_op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);

/* ------------------------------------------------------------------ */
/* ops_file.c                                                           */
/* ------------------------------------------------------------------ */

/*
 * Count one handle with write access on inode, whose file fd is (opened
 * while the move count was opened_at, or INODE_UNCHECKED).  Returns 0, or
 * -ESTALE with nothing counted when the checker moved the file out of the
 * tree.  The caller ends it with inode_writer_end().
 */
int fs_writer_begin(struct mediafs *fs, struct inode *inode, int fd, uint64_t opened_at);

/* Report file to the catalog if it was written since the last report. */
void fs_report_if_written(struct mediafs *fs, struct open_file *file);

/* End file's count as a writer, close it and free it. */
void fs_open_file_free(struct mediafs *fs, struct open_file *file);

/* file's descriptor, opened for reading on first use by a handle that
 * had none (passthrough); -errno when it cannot be opened. */
int fs_file_fd(struct mediafs *fs, struct open_file *file);

void fs_op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		  struct fuse_file_info *fi);
void fs_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		struct fuse_file_info *fi);
void fs_op_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *in, off_t off,
		     struct fuse_file_info *fi);
void fs_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void fs_op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
		     struct fuse_file_info *fi);
void fs_op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			   struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,
			   struct fuse_file_info *fi_out, size_t len, int flags);
void fs_op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		 struct fuse_file_info *fi);

#endif
