/*
 * mediafs: the state of one running daemon, shared by the FUSE handlers,
 * the threads and main().
 *
 * main() creates one struct mediafs, fills it before the session starts
 * and tears it down after the session ends; nothing else is global.
 */
#ifndef MEDIAFS_MEDIAFS_H
#define MEDIAFS_MEDIAFS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "inode.h"
#include "log.h"
#include "quarantine.h"
#include "store.h"

struct checker;
struct ctl;
struct events;
struct fuse_session;
struct mount_hooks;
struct passthrough;
struct pathmap;
struct reload;
struct safekeep;

/* Room for the kinds of fault the data path counts (ops.c). */
enum { MEDIAFS_ERROR_KINDS = 16 };

/* A link in the list of open file and directory handles. */
struct handle_link {
	struct handle_link *prev, *next;
	int kind;			/* what the link is the first member of */
};

/* How the mount behaves; immutable once the session starts, but for the
 * two settings a reload changes. */
struct fs_settings {
	double entry_timeout_s;		/* how long the kernel may trust a name */
	double attr_timeout_s;		/* ... and attributes */
	double negative_timeout_s;	/* ... and the absence of a name */
	bool writeback;			/* kernel writeback cache */
	bool splice;			/* splice(2) for read and write data */
	bool passthrough;		/* ask the kernel for FUSE passthrough */
	bool switch_creds;		/* daemon is root: create as the caller */
	/* These two change on a reload (reload.c): atomic. */
	atomic_bool restore_on_access;	/* a lookup brings a quarantined path back */
	atomic_int_fast64_t temp_max_age_ms; /* unlinked younger files go for good */
};

struct mediafs {
	struct store store;		/* immutable after start */
	struct inode_table inodes;
	struct fs_settings settings;	/* immutable after start */
	struct fuse_session *session;	/* immutable after mount */
	/* The FUSE layer's services for the threads that know no FUSE
	 * (mount_hooks.h); immutable after start, NULL without a mount. */
	const struct mount_hooks *hooks;
	struct passthrough *passthrough; /* set at mount; on or off after INIT */
	struct events *events;		/* NULL when tracking is off; immutable */
	struct log_ratelimit path_warning; /* for track.c */
	/* With tracking on (immutable after start): */
	struct quarantine quarantine;
	struct pathmap *quarantined;	/* path -> newest quarantine name */
	struct pathmap *quarantined_dirs; /* directory -> quarantined paths under it */
	struct pathmap *young_referenced; /* young paths a scan found referenced */
	struct safekeep *safekeep;	/* restores by access and refused requests */
	struct checker *checker;
	struct ctl *ctl;		/* the control socket */
	struct reload *reload;		/* SIGHUP and mediactl reload */
	/* Read-held by lookups of directories, write-held by the checker
	 * while it removes an empty directory that the kernel does not know:
	 * an upload can never land in a directory removed under it. */
	pthread_rwlock_t dir_lock;
	atomic_uint_fast64_t restores_by_access;
	/* Faults that requests through the mount met, by kind (ops.c). */
	atomic_uint_fast64_t data_path_errors[MEDIAFS_ERROR_KINDS];
	struct log_ratelimit quarantine_warning;
	/* Handles the kernel has not released yet: an unmount can end the
	 * session before their release requests arrive. */
	pthread_mutex_t handles_lock;
	struct handle_link handles;	/* circular list head */
};

#endif
