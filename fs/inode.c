/*
 * inode: a chained hash table under one mutex.  The critical sections are a
 * few loads and stores, shorter than the system call around each of them,
 * so one lock does not limit the handlers.
 */
#include "inode.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

enum { INITIAL_BUCKETS = 1024 };

static size_t bucket_of(const struct inode_table *table, dev_t dev, ino_t ino)
{
	uint64_t h = (uint64_t)ino * 0x9e3779b97f4a7c15ULL ^ (uint64_t)dev;

	h ^= h >> 29;
	return (size_t)h & (table->bucket_count - 1);
}

int inode_table_init(struct inode_table *table, int root_fd,
		     const struct stat *root_stat)
{
	pthread_mutex_init(&table->lock, NULL);
	table->bucket_count = INITIAL_BUCKETS;
	table->count = 0;
	table->buckets = calloc(table->bucket_count, sizeof(*table->buckets));
	if (!table->buckets)
		return -ENOMEM;
	table->root = (struct inode){
		.fd = root_fd,
		.dev = root_stat->st_dev,
		.ino = root_stat->st_ino,
		.type = root_stat->st_mode & S_IFMT,
		.nlookup = 1,
	};
	return 0;
}

void inode_table_destroy(struct inode_table *table)
{
	for (size_t i = 0; i < table->bucket_count; i++) {
		struct inode *inode = table->buckets[i];
		while (inode) {
			struct inode *next = inode->next_in_bucket;
			close(inode->fd);
			free(inode);
			inode = next;
		}
	}
	free(table->buckets);
	table->buckets = NULL;
	pthread_mutex_destroy(&table->lock);
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

struct inode *inode_table_find(struct inode_table *table, const struct stat *st)
{
	struct inode *inode;

	pthread_mutex_lock(&table->lock);
	inode = find_locked(table, st->st_dev, st->st_ino);
	if (inode)
		inode->nlookup++;
	pthread_mutex_unlock(&table->lock);
	return inode;
}

struct inode *inode_table_acquire(struct inode_table *table,
				  const struct stat *st, int *fd)
{
	struct inode *inode;
	/* Allocated outside the lock; freed again when another thread won. */
	struct inode *fresh = malloc(sizeof(*fresh));

	pthread_mutex_lock(&table->lock);
	inode = find_locked(table, st->st_dev, st->st_ino);
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
	};
	*fd = -1;
	if (table->count >= table->bucket_count)
		grow_locked(table);
	size_t b = bucket_of(table, fresh->dev, fresh->ino);
	fresh->next_in_bucket = table->buckets[b];
	table->buckets[b] = fresh;
	table->count++;
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
	struct inode **link = &table->buckets[bucket_of(table, inode->dev, inode->ino)];
	while (*link && *link != inode)
		link = &(*link)->next_in_bucket;
	if (*link)
		*link = inode->next_in_bucket;
	table->count--;
	pthread_mutex_unlock(&table->lock);
	close(inode->fd);
	free(inode);
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

size_t inode_table_count(struct inode_table *table)
{
	size_t count;

	pthread_mutex_lock(&table->lock);
	count = table->count;
	pthread_mutex_unlock(&table->lock);
	return count;
}
