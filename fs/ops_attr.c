/*
 * ops_attr: the FUSE handlers of names and attributes: lookup (and the
 * restore on access a failed lookup may start), forget, getattr and
 * setattr, readlink, statfs, and the extended attributes, POSIX ACLs
 * among them.  See ops.c for the shape every handler has.
 */
#include "ops_i.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "safekeep.h"
#include "track.h"

/* ------------------------------------------------------------------ */
/* Helpers: the work, returning 0 or -errno                             */
/* ------------------------------------------------------------------ */

/*
 * Find name in parent, fill e and add one lookup to its inode.  A known
 * inode costs one fstatat(); a new one is opened O_PATH and checked to be
 * the same file that was stat()ed.
 */
int fs_do_lookup(struct mediafs *fs, struct inode *parent,
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

void fs_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
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

void fs_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct mediafs *fs = fs_from_req(req);

	inode_table_forget(&fs->inodes, fs_inode(fs, ino), nlookup);
	fuse_reply_none(req);
}

void fs_op_forget_multi(fuse_req_t req, size_t count,
			struct fuse_forget_data *forgets)
{
	struct mediafs *fs = fs_from_req(req);

	for (size_t i = 0; i < count; i++)
		inode_table_forget(&fs->inodes, fs_inode(fs, forgets[i].ino),
				   forgets[i].nlookup);
	fuse_reply_none(req);
}

void fs_op_getattr(fuse_req_t req, fuse_ino_t ino,
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

void fs_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
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

void fs_op_readlink(fuse_req_t req, fuse_ino_t ino)
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

void fs_op_statfs(fuse_req_t req, fuse_ino_t ino)
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

void fs_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
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

void fs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
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

void fs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
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

void fs_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct mediafs *fs = fs_from_req(req);
	struct inode *inode = fs_inode(fs, ino);

	log_trace("removexattr ino=%" PRIu64 " name='%s'", ino, name);
	fs_reply_err(req, -fs_do_xattr(fs, inode, &(struct fs_xattr_call){
		.op = XATTR_REMOVE, .name = name }));
}
