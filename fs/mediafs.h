/*
 * mediafs: the state of one running daemon, shared by the FUSE handlers,
 * the threads and main().
 *
 * main() creates one struct mediafs, fills it before the session starts
 * and tears it down after the session ends; nothing else is global.
 */
#ifndef MEDIAFS_MEDIAFS_H
#define MEDIAFS_MEDIAFS_H

#include <stdbool.h>

#include "inode.h"
#include "log.h"
#include "store.h"

struct events;
struct fuse_session;

/* How the mount behaves; immutable once the session starts. */
struct fs_settings {
	double entry_timeout_s;		/* how long the kernel may trust a name */
	double attr_timeout_s;		/* ... and attributes */
	double negative_timeout_s;	/* ... and the absence of a name */
	bool writeback;			/* kernel writeback cache */
	bool splice;			/* splice(2) for read and write data */
	bool switch_creds;		/* daemon is root: create as the caller */
};

struct mediafs {
	struct store store;		/* immutable after start */
	struct inode_table inodes;
	struct fs_settings settings;	/* immutable after start */
	struct fuse_session *session;	/* immutable after mount */
	struct events *events;		/* NULL when tracking is off; immutable */
	struct log_ratelimit path_warning; /* for track.c */
};

#endif
