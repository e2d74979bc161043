/*
 * ops: the FUSE low-level handlers; this file holds the session (init),
 * the faults counted on the way out, the open handles, the kernel's
 * caches told of changes, and the operations table.
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
 *
 * Map: ops.c (this file: init, errors, handles, invalidation, the table);
 * ops_attr.c (lookup, forget, attributes, links' targets, xattrs and ACLs,
 * statfs); ops_dir.c (names: mknod, mkdir, symlink, link, unlink, rmdir,
 * rename; directory handles and readdir); ops_file.c (create, open and
 * the calls on open files, up to release).  ops_i.h is what they share.
 */
#include "ops_i.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

_Static_assert(sizeof(fuse_ino_t) >= sizeof(uintptr_t),
	       "a node id must hold a pointer to struct inode");
_Static_assert(INODE_ROOT_ID == FUSE_ROOT_ID, "the root node id is FUSE's");

enum { MAX_WRITE_BYTES = 1 << 20 };

/* ------------------------------------------------------------------ */
/* Open handles                                                         */
/* ------------------------------------------------------------------ */

void fs_handle_register(struct mediafs *fs, struct handle_link *link)
{
	pthread_mutex_lock(&fs->handles_lock);
	link->prev = &fs->handles;
	link->next = fs->handles.next;
	fs->handles.next->prev = link;
	fs->handles.next = link;
	pthread_mutex_unlock(&fs->handles_lock);
}

void fs_handle_unregister(struct mediafs *fs, struct handle_link *link)
{
	pthread_mutex_lock(&fs->handles_lock);
	link->prev->next = link->next;
	link->next->prev = link->prev;
	pthread_mutex_unlock(&fs->handles_lock);
}

/* ------------------------------------------------------------------ */
/* Faults                                                               */
/* ------------------------------------------------------------------ */

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
void fs_reply_err(fuse_req_t req, int errnum)
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

/* ------------------------------------------------------------------ */
/* The session                                                          */
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
			fs_open_file_free(fs, file);
			files++;
		} else {
			fs_dir_handle_free((struct dir_handle *)link);
			dirs++;
		}
	}
	fs->handles.next = fs->handles.prev = &fs->handles;
	pthread_mutex_unlock(&fs->handles_lock);
	if (files || dirs)
		log_debug("closed %zu files and %zu directories the kernel had not released",
			  files, dirs);
}
