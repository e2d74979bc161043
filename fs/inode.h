/*
 * inode: the table of inodes that the kernel knows, keyed by the backing
 * (st_dev, st_ino).
 *
 * Each entry holds an O_PATH descriptor on the backing inode, so the inode
 * stays valid (and its number is not reused) while the kernel may still ask
 * about it, whatever happens to its names; but see "Numbers come back".  The FUSE node id of an entry is
 * its address; the root is the table's embedded entry.
 *
 * The kernel may cache more inodes than the process may hold descriptors.
 * When the daemon may reopen files by handle (open_by_handle_at(2) needs
 * CAP_DAC_READ_SEARCH), the table keeps at most max_open_fds descriptors:
 * it closes the least recently used ones that no request holds, after
 * saving their file handle, and reopens them by handle on the next use.
 * Without that capability every descriptor stays open.
 *
 * Writers and the gate: each entry counts the handles open on it with write
 * access (inode_writer_begin/end).  The checker, before it moves a file
 * into the quarantine or purges one, enters the gate for that (dev, ino)
 * (inode_gate_enter): it is refused while a writable handle is open, and
 * while it is inside, a writable open of that inode waits.  When it leaves
 * having moved or purged the file, the table's move count goes up; a
 * writable open on an entry not checked since then must check where its
 * file is before it writes (inode_writer_begin says so), because the
 * file may now be in the quarantine, or the entry may have been made by a
 * lookup that raced with the move.  So a write can never reach a file the
 * checker moved without somebody looking first, and the data path pays a
 * mutex and, after each scan that moved something, one check per inode.
 * Numbers come back: a closed entry no longer pins its inode, so once the
 * file is deleted the backing filesystem may give its number to a new file
 * while the kernel still uses the old entry.  The new file must not get the
 * old entry (the kernel would serve it the old one's cached data, such as a
 * symbolic link's target, and the daemon would reopen the dead file): a
 * closed entry is only matched through a descriptor whose file handle is
 * compared with the saved one, and a mismatch leaves the old entry to the
 * kernel under its node id and gives the new file an entry of its own.
 *
 * Lifetime: an entry lives while its lookup count (the kernel's references)
 * is above zero.  The kernel never sends a request for a node id it has
 * forgotten, so a handler may use an entry without further locking, but it
 * must hold the descriptor (inode_hold_fd) while it uses it.
 *
 * Threads: every function is safe from any FUSE worker.
 */
#ifndef MEDIAFS_INODE_H
#define MEDIAFS_INODE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

/* The node id of the root; equal to FUSE_ROOT_ID (checked in ops.c). */
#define INODE_ROOT_ID 1

/* An entry whose file was never found outside the quarantine. */
#define INODE_UNCHECKED UINT64_MAX

/* Inodes share this many report locks (inode_report_begin). */
#define INODE_REPORT_LOCKS 64

struct file_handle;

struct inode {
	dev_t dev;			/* immutable */
	ino_t ino;			/* immutable */
	mode_t type;			/* S_IFMT bits; immutable */
	uint64_t nlookup;		/* guarded by table->lock */
	int fd;				/* O_PATH, -1 while closed; guarded by table->lock */
	unsigned int holders;		/* requests using fd; guarded by table->lock */
	unsigned int writers;		/* handles open with write access;
					 * guarded by table->lock */
	uint64_t checked_moves;		/* table->moves when the file was last
					 * found outside the quarantine, or
					 * INODE_UNCHECKED; guarded by table->lock */
	struct file_handle *handle;	/* to reopen fd; guarded by table->lock */
	struct inode *next_in_bucket;	/* or in table->retired; guarded by table->lock */
	bool retired;			/* its number went to another file;
					 * guarded by table->lock */
	int backing_id;			/* passthrough id, kept while the entry
					 * lives (0: none); */
	unsigned int backing_opens;	/* handles in passthrough mode; */
	unsigned int daemon_opens;	/* handles served by the daemon; both
					 * guarded by table->lock */
	struct inode *lru_prev;		/* closable descriptors, oldest first; */
	struct inode *lru_next;		/* guarded by table->lock */
};

struct inode_table {
	pthread_mutex_t lock;
	struct inode **buckets;		/* guarded by lock */
	struct inode *retired;		/* entries no lookup finds, until the
					 * kernel forgets them; guarded by lock */
	size_t bucket_count;		/* guarded by lock; a power of two */
	size_t count;			/* guarded by lock; excludes the root */
	size_t open_fds;		/* guarded by lock; descriptors held */
	size_t max_open_fds;		/* immutable; 0 when nothing is closed */
	int mount_fd;			/* owned, for reopening by handle; -1 when
					 * the process cannot; immutable */
	struct inode lru;		/* sentinel of the LRU list; guarded by lock */
	uint64_t moves;			/* files moved or purged through the gate;
					 * guarded by lock */
	bool gate_active;		/* the checker is inside the gate; */
	dev_t gate_dev;			/* for this (dev, ino); */
	ino_t gate_ino;			/* all three guarded by lock */
	pthread_cond_t gate_left;	/* the gate was left; with lock */
	/* Taken alone or before the event queue's lock, never with lock. */
	pthread_mutex_t report_locks[INODE_REPORT_LOCKS];
	struct inode root;		/* never freed; its fd is the store's */
	/* Closes an entry's backing id when the entry is freed; set before
	 * the session starts (NULL: passthrough off). */
	void (*backing_close)(void *ctx, int id);
	void *backing_ctx;
};

/*
 * Set up an empty table whose root is root_fd (not owned).  max_open_fds
 * bounds the descriptors held (0: no bound); the bound applies only when
 * this process can reopen files by handle.  Returns 0 or -ENOMEM.
 */
int inode_table_init(struct inode_table *table, int root_fd,
		     const struct stat *root_stat, size_t max_open_fds);

/* Close every descriptor and free every entry but the root. */
void inode_table_destroy(struct inode_table *table);

/* True when the table closes descriptors beyond its bound. */
bool inode_table_bounds_fds(const struct inode_table *table);

/*
 * Find the entry for st and add one lookup.  Returns NULL when there is
 * none, or when its descriptor is closed (the number may belong to another
 * file by now: open st's file and use inode_table_acquire()); never
 * allocates.
 */
struct inode *inode_table_find(struct inode_table *table, const struct stat *st);

/*
 * Find or insert the entry for st and add one lookup.  When a new entry is
 * inserted, or a closed entry proves to be *fd's file, the entry takes *fd
 * (an O_PATH descriptor on st's inode) and *fd is set to -1; otherwise *fd
 * is left for the caller to close.  A closed entry of another file (its
 * number reused) is left to the kernel's forget and a new entry inserted.
 * Returns NULL only when memory runs out.
 */
struct inode *inode_table_acquire(struct inode_table *table,
				  const struct stat *st, int *fd);

/* Drop n lookups; the entry is freed (and its fd closed) at zero. */
void inode_table_forget(struct inode_table *table, struct inode *inode,
			uint64_t n);

/*
 * The O_PATH descriptor of inode, reopened by handle when it was closed,
 * held until inode_release_fd().  Returns the descriptor or -errno
 * (-ESTALE when the file is gone and was closed meanwhile).
 */
int inode_hold_fd(struct inode_table *table, struct inode *inode);
void inode_release_fd(struct inode_table *table, struct inode *inode);

/*
 * The node id of the entry for (dev, ino), or 0 when the kernel does not
 * know it.  The id is only a hint, good for cache invalidation: the entry
 * may be forgotten as soon as the lock is dropped.
 */
uint64_t inode_table_node_id(struct inode_table *table, dev_t dev, ino_t ino);

/*
 * Passthrough (passthrough.h).  The kernel wants the handles open on an
 * inode at one time to be all in passthrough mode, on one backing id, or
 * all served by the daemon.  inode_io_join() counts a new handle when the
 * inode decides: it returns the backing id (> 0) the handle must use, 0
 * when it must be served by the daemon, or -1 when no handle is open and
 * the caller may register a backing file (nothing counted).  The caller
 * then calls inode_io_settle() with the id it got (or -errno), which
 * counts the handle and returns the id to use (0: the daemon's); when
 * another handle settled first, *surplus is set to the caller's id to
 * close (0 when none).  inode_io_leave() uncounts a handle that used
 * backing_id (0: the daemon's).
 *
 * A backing id outlives the handles: the next open of the file reuses it
 * with no system call, which is what makes serving small files cheap.  It
 * is closed through table->backing_close when the kernel forgets the
 * entry (an unlinked or moved file is forgotten soon after).
 */
int inode_io_join(struct inode_table *table, struct inode *inode);
int inode_io_settle(struct inode_table *table, struct inode *inode, int id, int *surplus);
void inode_io_leave(struct inode_table *table, struct inode *inode, int backing_id);

/*
 * The move count now, to read before opening a file whose entry is not
 * known yet (a create): see inode_writer_begin().
 */
uint64_t inode_table_moves(struct inode_table *table);

/*
 * Count one handle with write access on inode, about to be opened
 * (opened_at INODE_UNCHECKED) or opened while the move count was
 * opened_at.  Waits while the checker is inside the gate for this inode.
 * Returns 0 when the file is known to be outside the quarantine, or 1
 * when a move or purge happened since it was last checked: the caller
 * must then find out where the file is, and call inode_writer_checked()
 * with *moves if it is in place, or inode_writer_end() and fail if not.
 * Never blocks on I/O.
 */
int inode_writer_begin(struct inode_table *table, struct inode *inode, uint64_t opened_at,
		       uint64_t *moves);
void inode_writer_checked(struct inode_table *table, struct inode *inode, uint64_t moves);

/* The handle counted by inode_writer_begin() is closed. */
void inode_writer_end(struct inode_table *table, struct inode *inode);

/*
 * Enter the gate for the file (dev, ino) before moving it to the
 * quarantine or purging it: waits while another thread is inside, then
 * returns -EBUSY (and stays out) when a handle with write access is open
 * on it, or 0.  A file the table does not know cannot be open.  The
 * caller does its one move or purge, then leaves with inode_gate_leave(),
 * changed saying whether the file moved or went.  Only the checker and
 * the admin's purge enter; they hold the gate across one rename or unlink
 * and nothing else.
 */
int inode_gate_enter(struct inode_table *table, dev_t dev, ino_t ino);
void inode_gate_leave(struct inode_table *table, bool changed);

/*
 * Around reading an inode's size and queueing the write report: two
 * reports of one inode (two handles released at once, which the kernel
 * does asynchronously after close) then reach the catalog in the order
 * they read the size, and the last one says the last size.  Held across
 * one fstat and one events_emit(); inodes share the locks by hash.
 */
void inode_report_begin(struct inode_table *table, const struct inode *inode);
void inode_report_end(struct inode_table *table, const struct inode *inode);

/* Handles with write access open on (dev, ino); for tests and logs. */
unsigned int inode_table_writers(struct inode_table *table, dev_t dev, ino_t ino);

/* Entries held, the root excluded. */
size_t inode_table_count(struct inode_table *table);

#endif
