/*
 * inode: a chained hash table under one mutex.  The critical sections are a
 * few loads and stores, shorter than the system call around each of them,
 * so one lock does not limit the handlers.
 *
 * Descriptor bound: entries whose descriptor may be closed sit on an LRU
 * list.  Closing happens under the lock, after the entry's file handle is
 * saved (also under the lock: it is rare, and nobody may see fd == -1
 * without a handle).  Reopening happens outside the lock.
 *
 * The gate is one slot (the checker moves one file at a time; the admin's
 * purge waits its turn) under the same mutex, and a condition variable
 * that openers of the gated inode and the next gate wait on.  Nothing here
 * does I/O with the lock held.
 */
#include "inode.h"

#include "store.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
	INITIAL_BUCKETS = 1024,
	/* How many held entries an eviction skips before it gives up. */
	EVICT_SCAN_LIMIT = 64,
};

static size_t bucket_of(const struct inode_table *table, dev_t dev, ino_t ino)
{
	uint64_t h = (uint64_t)ino * 0x9e3779b97f4a7c15ULL ^ (uint64_t)dev;

	h ^= h >> 29;
	return (size_t)h & (table->bucket_count - 1);
}

/* Can this process reopen a file from its handle?  Probe with the root. */
static bool can_open_by_handle(int mount_fd, int root_fd)
{
	struct file_handle *handle = store_handle_of(root_fd);
	int fd = handle ? store_open_by_handle(mount_fd, handle) : -1;

	free(handle);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

int inode_table_init(struct inode_table *table, int root_fd,
		     const struct stat *root_stat, size_t max_open_fds)
{
	pthread_mutex_init(&table->lock, NULL);
	pthread_cond_init(&table->gate_left, NULL);
	for (size_t i = 0; i < INODE_REPORT_LOCKS; i++)
		pthread_mutex_init(&table->report_locks[i], NULL);
	table->moves = 0;
	table->gate_active = false;
	table->bucket_count = INITIAL_BUCKETS;
	table->count = 0;
	table->open_fds = 0;
	table->retired = NULL;
	table->mount_fd = max_open_fds && root_fd >= 0 ? store_open_dir(root_fd) : -1;
	if (table->mount_fd >= 0 && !can_open_by_handle(table->mount_fd, root_fd)) {
		close(table->mount_fd);
		table->mount_fd = -1;
	}
	table->max_open_fds = table->mount_fd >= 0 ? max_open_fds : 0;
	table->lru.lru_next = table->lru.lru_prev = &table->lru;
	table->backing_close = NULL;
	table->backing_ctx = NULL;
	table->buckets = calloc(table->bucket_count, sizeof(*table->buckets));
	if (!table->buckets)
		return -ENOMEM;
	table->root = (struct inode){
		.fd = root_fd,
		.dev = root_stat->st_dev,
		.ino = root_stat->st_ino,
		.type = root_stat->st_mode & S_IFMT,
		.nlookup = 1,
		.checked_moves = INODE_UNCHECKED,
	};
	return 0;
}

static void free_entry(struct inode *inode)
{
	if (inode->fd >= 0)
		close(inode->fd);
	free(inode->handle);
	free(inode);
}

static void free_chain(struct inode *inode)
{
	while (inode) {
		struct inode *next = inode->next_in_bucket;
		free_entry(inode);
		inode = next;
	}
}

void inode_table_destroy(struct inode_table *table)
{
	for (size_t i = 0; i < table->bucket_count; i++)
		free_chain(table->buckets[i]);
	/* The kernel sends no forget at unmount. */
	free_chain(table->retired);
	table->retired = NULL;
	free(table->buckets);
	table->buckets = NULL;
	if (table->mount_fd >= 0)
		close(table->mount_fd);
	pthread_cond_destroy(&table->gate_left);
	for (size_t i = 0; i < INODE_REPORT_LOCKS; i++)
		pthread_mutex_destroy(&table->report_locks[i]);
	pthread_mutex_destroy(&table->lock);
}

bool inode_table_bounds_fds(const struct inode_table *table)
{
	return table->max_open_fds > 0;
}

/* Caller holds table->lock. */
static struct inode *find_locked(struct inode_table *table, dev_t dev, ino_t ino)
{
	if (dev == table->root.dev && ino == table->root.ino)
		return &table->root;
	for (struct inode *inode = table->buckets[bucket_of(table, dev, ino)];
	     inode; inode = inode->next_in_bucket) {
		if (inode->ino == ino && inode->dev == dev)
			return inode;
	}
	return NULL;
}

/* Caller holds table->lock.  Growth failure is harmless: chains get longer. */
static void grow_locked(struct inode_table *table)
{
	size_t old_count = table->bucket_count;
	struct inode **old = table->buckets;
	struct inode **fresh = calloc(old_count * 2, sizeof(*fresh));

	if (!fresh)
		return;
	table->buckets = fresh;
	table->bucket_count = old_count * 2;
	for (size_t i = 0; i < old_count; i++) {
		struct inode *inode = old[i];
		while (inode) {
			struct inode *next = inode->next_in_bucket;
			size_t b = bucket_of(table, inode->dev, inode->ino);
			inode->next_in_bucket = fresh[b];
			fresh[b] = inode;
			inode = next;
		}
	}
	free(old);
}

/* Closed entries are the only ones whose number the backing filesystem
 * may have given to another file; the root is never closed. */
static bool is_closed(const struct inode_table *table, const struct inode *inode)
{
	return inode != &table->root && inode->fd < 0;
}

/* LRU list helpers; caller holds table->lock. */
static bool on_lru(const struct inode *inode)
{
	return inode->lru_next != NULL;
}

static void lru_unlink(struct inode *inode)
{
	if (!on_lru(inode))
		return;
	inode->lru_prev->lru_next = inode->lru_next;
	inode->lru_next->lru_prev = inode->lru_prev;
	inode->lru_next = inode->lru_prev = NULL;
}

/* Append as the most recently used, if its descriptor may ever close:
 * handles reopen only on the filesystem of the table's mount_fd. */
static void lru_touch(struct inode_table *table, struct inode *inode)
{
	if (!table->max_open_fds || inode == &table->root ||
	    inode->dev != table->root.dev)
		return;
	lru_unlink(inode);
	inode->lru_prev = table->lru.lru_prev;
	inode->lru_next = &table->lru;
	table->lru.lru_prev->lru_next = inode;
	table->lru.lru_prev = inode;
}

/* Save the handle and close the descriptor of one idle entry. */
static bool close_one_locked(struct inode *inode)
{
	if (!inode->handle)
		inode->handle = store_handle_of(inode->fd);
	if (!inode->handle)
		return false;
	close(inode->fd);
	inode->fd = -1;
	return true;
}

/* Close least recently used idle descriptors down to the bound. */
static void evict_locked(struct inode_table *table)
{
	struct inode *inode = table->lru.lru_next;
	int skipped = 0;

	while (table->open_fds > table->max_open_fds && inode != &table->lru &&
	       skipped < EVICT_SCAN_LIMIT) {
		struct inode *next = inode->lru_next;
		if (inode->holders > 0) {
			skipped++;
		} else {
			lru_unlink(inode);
			/* An inode without a handle keeps its descriptor. */
			if (close_one_locked(inode))
				table->open_fds--;
		}
		inode = next;
	}
}

struct inode *inode_table_find(struct inode_table *table, const struct stat *st)
{
	struct inode *inode;

	pthread_mutex_lock(&table->lock);
	inode = find_locked(table, st->st_dev, st->st_ino);
	/* A closed entry's number may name another file by now: only
	 * inode_table_acquire(), with a descriptor, can tell. */
	if (inode && is_closed(table, inode))
		inode = NULL;
	if (inode)
		inode->nlookup++;
	pthread_mutex_unlock(&table->lock);
	return inode;
}

/* Are a and b handles of the same inode? */
static bool same_handle(const struct file_handle *a, const struct file_handle *b)
{
	return a->handle_type == b->handle_type &&
	       a->handle_bytes == b->handle_bytes &&
	       memcmp(a->f_handle, b->f_handle, a->handle_bytes) == 0;
}

/*
 * Is the closed entry inode the file that fd refers to?  Caller holds
 * table->lock; the one system call is taken under it, as in
 * close_one_locked(), since this happens only when a closed entry's number
 * comes back.  No handle for fd means no.
 */
static bool closed_entry_is_locked(const struct inode *inode, int fd)
{
	struct file_handle *handle = store_handle_of(fd);
	bool same = handle && same_handle(handle, inode->handle);

	free(handle);
	return same;
}

/* Take inode out of its chain (its bucket, or the retired list); caller
 * holds table->lock. */
static void unhash_locked(struct inode_table *table, struct inode *inode)
{
	struct inode **link = inode->retired ? &table->retired :
		&table->buckets[bucket_of(table, inode->dev, inode->ino)];

	while (*link && *link != inode)
		link = &(*link)->next_in_bucket;
	if (*link)
		*link = inode->next_in_bucket;
	inode->next_in_bucket = NULL;
}

/* Move inode from its bucket to the retired list, where no lookup finds
 * it; caller holds table->lock. */
static void retire_locked(struct inode_table *table, struct inode *inode)
{
	unhash_locked(table, inode);
	inode->retired = true;
	inode->next_in_bucket = table->retired;
	table->retired = inode;
}

struct inode *inode_table_acquire(struct inode_table *table,
				  const struct stat *st, int *fd)
{
	struct inode *inode;
	/* Allocated outside the lock; freed again when another thread won. */
	struct inode *fresh = malloc(sizeof(*fresh));

	pthread_mutex_lock(&table->lock);
	inode = find_locked(table, st->st_dev, st->st_ino);
	if (inode && is_closed(table, inode)) {
		if (closed_entry_is_locked(inode, *fd)) {
			/* The same file: keep the caller's descriptor, which
			 * spares the reopening by handle. */
			inode->fd = *fd;
			*fd = -1;
			table->open_fds++;
			lru_touch(table, inode);
			evict_locked(table);
		} else {
			/* The file is gone and the backing filesystem gave its
			 * number to fd's file.  The kernel may still use the
			 * old entry (and reach ESTALE through it); the new file
			 * gets an entry, and so a node id, of its own. */
			retire_locked(table, inode);
			inode = NULL;
		}
	}
	if (inode) {
		inode->nlookup++;
		pthread_mutex_unlock(&table->lock);
		free(fresh);
		return inode;
	}
	if (!fresh) {
		pthread_mutex_unlock(&table->lock);
		return NULL;
	}
	*fresh = (struct inode){
		.fd = *fd,
		.dev = st->st_dev,
		.ino = st->st_ino,
		.type = st->st_mode & S_IFMT,
		.nlookup = 1,
		/* A lookup may have found the name just before the checker
		 * moved the file: the first writable open checks. */
		.checked_moves = INODE_UNCHECKED,
	};
	*fd = -1;
	if (table->count >= table->bucket_count)
		grow_locked(table);
	size_t b = bucket_of(table, fresh->dev, fresh->ino);
	fresh->next_in_bucket = table->buckets[b];
	table->buckets[b] = fresh;
	table->count++;
	table->open_fds++;
	lru_touch(table, fresh);
	if (table->max_open_fds && table->open_fds > table->max_open_fds)
		evict_locked(table);
	pthread_mutex_unlock(&table->lock);
	return fresh;
}

void inode_table_forget(struct inode_table *table, struct inode *inode,
			uint64_t n)
{
	if (inode == &table->root)
		return;
	pthread_mutex_lock(&table->lock);
	if (inode->nlookup > n) {
		inode->nlookup -= n;
		pthread_mutex_unlock(&table->lock);
		return;
	}
	unhash_locked(table, inode);
	table->count--;
	if (inode->fd >= 0)
		table->open_fds--;
	lru_unlink(inode);
	pthread_mutex_unlock(&table->lock);
	/* The kernel has no file open on it any more: its backing file goes. */
	if (inode->backing_id > 0 && table->backing_close)
		table->backing_close(table->backing_ctx, inode->backing_id);
	free_entry(inode);
}

int inode_hold_fd(struct inode_table *table, struct inode *inode)
{
	int fd, reopened;

	/* Without a bound, descriptors never change: no lock needed. */
	if (!table->max_open_fds || inode == &table->root)
		return inode->fd;
	pthread_mutex_lock(&table->lock);
	inode->holders++;
	if (inode->fd >= 0) {
		lru_touch(table, inode);
		fd = inode->fd;
		pthread_mutex_unlock(&table->lock);
		return fd;
	}
	pthread_mutex_unlock(&table->lock);

	/* The handle is only written while fd >= 0, and we hold the entry. */
	reopened = store_open_by_handle(table->mount_fd, inode->handle);
	if (reopened < 0) {
		inode_release_fd(table, inode);
		return reopened;
	}
	pthread_mutex_lock(&table->lock);
	if (inode->fd < 0) {
		inode->fd = reopened;
		table->open_fds++;
		reopened = -1;
	}
	fd = inode->fd;
	lru_touch(table, inode);
	evict_locked(table);
	pthread_mutex_unlock(&table->lock);
	if (reopened >= 0)
		close(reopened);
	return fd;
}

void inode_release_fd(struct inode_table *table, struct inode *inode)
{
	if (!table->max_open_fds || inode == &table->root)
		return;
	pthread_mutex_lock(&table->lock);
	inode->holders--;
	pthread_mutex_unlock(&table->lock);
}

uint64_t inode_table_node_id(struct inode_table *table, dev_t dev, ino_t ino)
{
	uint64_t id = 0;

	pthread_mutex_lock(&table->lock);
	struct inode *inode = find_locked(table, dev, ino);
	if (inode)
		id = inode == &table->root ? INODE_ROOT_ID : (uint64_t)(uintptr_t)inode;
	pthread_mutex_unlock(&table->lock);
	return id;
}

int inode_io_join(struct inode_table *table, struct inode *inode)
{
	int id = -1;

	pthread_mutex_lock(&table->lock);
	if (inode->daemon_opens) {
		inode->daemon_opens++;
		id = 0;
	} else if (inode->backing_id > 0) {
		/* Open in passthrough mode, or kept from the last handle. */
		inode->backing_opens++;
		id = inode->backing_id;
	}
	pthread_mutex_unlock(&table->lock);
	return id;
}

int inode_io_settle(struct inode_table *table, struct inode *inode, int id, int *surplus)
{
	*surplus = 0;
	pthread_mutex_lock(&table->lock);
	if (inode->daemon_opens || inode->backing_id > 0) {
		/* Another handle settled the mode first: follow it. */
		*surplus = id > 0 ? id : 0;
		id = inode->daemon_opens ? 0 : inode->backing_id;
	} else if (id <= 0) {
		id = 0;
	} else {
		inode->backing_id = id;
	}
	if (id > 0)
		inode->backing_opens++;
	else
		inode->daemon_opens++;
	pthread_mutex_unlock(&table->lock);
	return id;
}

void inode_io_leave(struct inode_table *table, struct inode *inode, int backing_id)
{
	pthread_mutex_lock(&table->lock);
	if (backing_id > 0)
		inode->backing_opens--;
	else
		inode->daemon_opens--;
	pthread_mutex_unlock(&table->lock);
}

uint64_t inode_table_moves(struct inode_table *table)
{
	uint64_t moves;

	pthread_mutex_lock(&table->lock);
	moves = table->moves;
	pthread_mutex_unlock(&table->lock);
	return moves;
}

/* Caller holds table->lock. */
static bool gated_locked(const struct inode_table *table, dev_t dev, ino_t ino)
{
	return table->gate_active && table->gate_dev == dev && table->gate_ino == ino;
}

int inode_writer_begin(struct inode_table *table, struct inode *inode, uint64_t opened_at,
		       uint64_t *moves)
{
	int must_check = 0;

	pthread_mutex_lock(&table->lock);
	/* At most one rename or unlink long, and only for this inode. */
	while (gated_locked(table, inode->dev, inode->ino))
		pthread_cond_wait(&table->gate_left, &table->lock);
	inode->writers++;
	*moves = table->moves;
	/* Opened with nothing moved since: the file is where it was. */
	if (opened_at == table->moves)
		inode->checked_moves = table->moves;
	else if (inode->checked_moves != table->moves)
		must_check = 1;
	pthread_mutex_unlock(&table->lock);
	return must_check;
}

void inode_writer_checked(struct inode_table *table, struct inode *inode, uint64_t moves)
{
	pthread_mutex_lock(&table->lock);
	inode->checked_moves = moves;
	pthread_mutex_unlock(&table->lock);
}

void inode_writer_end(struct inode_table *table, struct inode *inode)
{
	pthread_mutex_lock(&table->lock);
	assert(inode->writers > 0);
	inode->writers--;
	pthread_mutex_unlock(&table->lock);
}

int inode_gate_enter(struct inode_table *table, dev_t dev, ino_t ino)
{
	struct inode *inode;

	pthread_mutex_lock(&table->lock);
	while (table->gate_active)
		pthread_cond_wait(&table->gate_left, &table->lock);
	inode = find_locked(table, dev, ino);
	if (inode && inode->writers > 0) {
		pthread_mutex_unlock(&table->lock);
		return -EBUSY;
	}
	table->gate_active = true;
	table->gate_dev = dev;
	table->gate_ino = ino;
	pthread_mutex_unlock(&table->lock);
	return 0;
}

void inode_gate_leave(struct inode_table *table, bool changed)
{
	pthread_mutex_lock(&table->lock);
	assert(table->gate_active);
	if (changed)
		table->moves++;
	table->gate_active = false;
	pthread_cond_broadcast(&table->gate_left);
	pthread_mutex_unlock(&table->lock);
}

static pthread_mutex_t *report_lock_of(struct inode_table *table, const struct inode *inode)
{
	uint64_t h = (uint64_t)inode->ino * 0x9e3779b97f4a7c15ULL ^ (uint64_t)inode->dev;

	return &table->report_locks[(h >> 32) % INODE_REPORT_LOCKS];
}

void inode_report_begin(struct inode_table *table, const struct inode *inode)
{
	pthread_mutex_lock(report_lock_of(table, inode));
}

void inode_report_end(struct inode_table *table, const struct inode *inode)
{
	pthread_mutex_unlock(report_lock_of(table, inode));
}

unsigned int inode_table_writers(struct inode_table *table, dev_t dev, ino_t ino)
{
	unsigned int writers = 0;

	pthread_mutex_lock(&table->lock);
	struct inode *inode = find_locked(table, dev, ino);
	if (inode)
		writers = inode->writers;
	pthread_mutex_unlock(&table->lock);
	return writers;
}

size_t inode_table_count(struct inode_table *table)
{
	size_t count;

	pthread_mutex_lock(&table->lock);
	count = table->count;
	pthread_mutex_unlock(&table->lock);
	return count;
}
