/*
 * pathmap: open addressing with linear probing and tombstones; it is
 * rebuilt when tombstones and entries fill half of it.
 */
#include "pathmap.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum { INITIAL_SLOTS = 64 };

/* A slot whose entry was removed; probing goes on past it. */
static char tombstone;

struct entry {
	char *key;		/* NULL: empty; &tombstone: removed */
	char *value;
	int64_t stamp;
};

struct pathmap {
	pthread_mutex_t lock;
	struct entry *slots;	/* guarded by lock */
	size_t slot_count;	/* a power of two */
	size_t used;		/* entries and tombstones */
	size_t count;		/* entries */
};

static uint64_t hash_of(const char *key)
{
	uint64_t h = 1469598103934665603ULL;

	while (*key) {
		h ^= (unsigned char)*key++;
		h *= 1099511628211ULL;
	}
	return h;
}

static void remove_entry(struct pathmap *map, struct entry *e);

struct pathmap *pathmap_new(void)
{
	struct pathmap *map = calloc(1, sizeof(*map));

	if (!map)
		return NULL;
	map->slots = calloc(INITIAL_SLOTS, sizeof(*map->slots));
	if (!map->slots) {
		free(map);
		return NULL;
	}
	map->slot_count = INITIAL_SLOTS;
	pthread_mutex_init(&map->lock, NULL);
	return map;
}

static bool is_entry(const struct entry *e)
{
	return e->key && e->key != &tombstone;
}

void pathmap_free(struct pathmap *map)
{
	if (!map)
		return;
	for (size_t i = 0; i < map->slot_count; i++) {
		if (is_entry(&map->slots[i])) {
			free(map->slots[i].key);
			free(map->slots[i].value);
		}
	}
	free(map->slots);
	pthread_mutex_destroy(&map->lock);
	free(map);
}

/* The slot of key, or the first free slot on its probe path. */
static struct entry *find_slot(struct pathmap *map, const char *key)
{
	size_t mask = map->slot_count - 1;
	struct entry *free_slot = NULL;

	for (size_t i = hash_of(key) & mask;; i = (i + 1) & mask) {
		struct entry *e = &map->slots[i];
		if (!e->key)
			return free_slot ? free_slot : e;
		if (e->key == &tombstone) {
			if (!free_slot)
				free_slot = e;
		} else if (strcmp(e->key, key) == 0) {
			return e;
		}
	}
}

static int rebuild_locked(struct pathmap *map, size_t slot_count)
{
	struct entry *old = map->slots;
	size_t old_count = map->slot_count;

	map->slots = calloc(slot_count, sizeof(*map->slots));
	if (!map->slots) {
		map->slots = old;
		return -ENOMEM;
	}
	map->slot_count = slot_count;
	map->used = map->count;
	for (size_t i = 0; i < old_count; i++)
		if (is_entry(&old[i]))
			*find_slot(map, old[i].key) = old[i];
	free(old);
	return 0;
}

/*
 * Insert or replace key under the lock, taking key_copy and value_copy
 * (freeing what it does not keep).  With add, an existing entry's stamp
 * grows by stamp and keeps its value.  1 when new, 0 when it existed, or
 * -ENOMEM (both copies freed).
 */
static int put_locked(struct pathmap *map, char *key_copy, char *value_copy, int64_t stamp,
		      bool add)
{
	struct entry *e;
	int err = 0;

	if ((map->used + 1) * 2 > map->slot_count)
		err = rebuild_locked(map, map->count * 4 > map->slot_count ?
					  map->slot_count * 2 : map->slot_count);
	if (err) {
		free(value_copy);
		free(key_copy);
		return err;
	}
	e = find_slot(map, key_copy);
	if (is_entry(e)) {
		free(key_copy);
		if (add) {
			free(value_copy);
			e->stamp += stamp;
			if (e->stamp <= 0)
				remove_entry(map, e);
			return 0;
		}
		free(e->value);
		e->value = value_copy;
		e->stamp = stamp;
		return 0;
	}
	if (!e->key)
		map->used++;
	map->count++;
	e->key = key_copy;
	e->value = value_copy;
	e->stamp = stamp;
	return 1;
}

int pathmap_put(struct pathmap *map, const char *key, const char *value, int64_t stamp)
{
	char *value_copy = strdup(value);
	char *key_copy = strdup(key);
	int ret;

	if (!value_copy || !key_copy) {
		free(value_copy);
		free(key_copy);
		return -ENOMEM;
	}
	pthread_mutex_lock(&map->lock);
	ret = put_locked(map, key_copy, value_copy, stamp, false);
	pthread_mutex_unlock(&map->lock);
	return ret;
}

int pathmap_count_add(struct pathmap *map, const char *key, int64_t delta)
{
	struct entry *e;
	char *key_copy, *value_copy;
	int ret;

	if (delta <= 0) {
		/* Only ever lowers or removes: nothing to allocate. */
		pthread_mutex_lock(&map->lock);
		e = find_slot(map, key);
		if (is_entry(e)) {
			e->stamp += delta;
			if (e->stamp <= 0)
				remove_entry(map, e);
		}
		pthread_mutex_unlock(&map->lock);
		return 0;
	}
	/* Find and insert under one lock: two threads adding the same new
	 * key both count. */
	key_copy = strdup(key);
	value_copy = strdup("");
	if (!key_copy || !value_copy) {
		free(key_copy);
		free(value_copy);
		return -ENOMEM;
	}
	pthread_mutex_lock(&map->lock);
	ret = put_locked(map, key_copy, value_copy, delta, true);
	pthread_mutex_unlock(&map->lock);
	return ret < 0 ? ret : 0;
}

bool pathmap_get(struct pathmap *map, const char *key, char *out, size_t size)
{
	bool found;

	pthread_mutex_lock(&map->lock);
	struct entry *e = find_slot(map, key);
	found = is_entry(e);
	if (found && out && size) {
		strncpy(out, e->value, size - 1);
		out[size - 1] = '\0';
	}
	pthread_mutex_unlock(&map->lock);
	return found;
}

static void remove_entry(struct pathmap *map, struct entry *e)
{
	free(e->key);
	free(e->value);
	e->key = &tombstone;
	e->value = NULL;
	map->count--;
}

bool pathmap_remove(struct pathmap *map, const char *key, const char *value)
{
	bool removed = false;

	pthread_mutex_lock(&map->lock);
	struct entry *e = find_slot(map, key);
	if (is_entry(e) && (!value || strcmp(e->value, value) == 0)) {
		remove_entry(map, e);
		removed = true;
	}
	pthread_mutex_unlock(&map->lock);
	return removed;
}

void pathmap_prune(struct pathmap *map, int64_t stamp)
{
	pthread_mutex_lock(&map->lock);
	for (size_t i = 0; i < map->slot_count; i++)
		if (is_entry(&map->slots[i]) && map->slots[i].stamp < stamp)
			remove_entry(map, &map->slots[i]);
	pthread_mutex_unlock(&map->lock);
}

size_t pathmap_count(struct pathmap *map)
{
	size_t count;

	pthread_mutex_lock(&map->lock);
	count = map->count;
	pthread_mutex_unlock(&map->lock);
	return count;
}
