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

struct file_handle;

struct inode {
	dev_t dev;			/* immutable */
	ino_t ino;			/* immutable */
	mode_t type;			/* S_IFMT bits; immutable */
	uint64_t nlookup;		/* guarded by table->lock */
	int fd;				/* O_PATH, -1 while closed; guarded by table->lock */
	unsigned int holders;		/* requests using fd; guarded by table->lock */
	struct file_handle *handle;	/* to reopen fd; guarded by table->lock */
	struct inode *next_in_bucket;	/* or in table->retired; guarded by table->lock */
	bool retired;			/* its number went to another file;
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
	struct inode root;		/* never freed; its fd is the store's */
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

/* Entries held, the root excluded. */
size_t inode_table_count(struct inode_table *table);

/* Descriptors held open, the root excluded. */
size_t inode_table_open_fds(struct inode_table *table);

#endif
