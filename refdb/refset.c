/*
 * refset: an open-addressing hash set (linear probing, at most 3/4 full)
 * whose strings live in an arena of large chunks.
 *
 * Each slot is 16 bytes: the upper 32 bits of the hash as a tag, the
 * length, and a pointer into the arena.  The tag also gives the home slot
 * (tag modulo the table size), so growing the table moves slots without
 * hashing a string again.  A probe compares tag and length before it
 * touches the string, so a lookup mostly reads one cache line of the table
 * and one of the arena.  Strings are packed back to back in
 * chunks of ARENA_CHUNK_BYTES and never move, so growing the table copies
 * slots, not strings, and no path costs a malloc of its own (with 1M paths
 * of ~40 bytes, one malloc per path doubled the insert time and added a
 * third to the memory; numbers in docs/sources.md).
 *
 * The hash is SipHash-1-3 with a random key per set: an attacker who can
 * name uploads cannot make the probes degenerate.
 */
#include "refset.h"

#include <endian.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

enum {
	INITIAL_SLOTS = 1024,			/* a power of two */
	HUGE_PAGE_BYTES = 2 * 1024 * 1024,
	HUGE_TABLE_BYTES = 4 * 1024 * 1024,	/* from here, alloc_slots prefaults */
	ARENA_CHUNK_BYTES = 1024 * 1024,
	MAX_LOAD_NUMERATOR = 3,			/* grow above 3/4 full */
	MAX_LOAD_DENOMINATOR = 4,
};

#define MAX_SLOTS ((size_t)1 << 32)

_Static_assert((INITIAL_SLOTS & (INITIAL_SLOTS - 1)) == 0, "slot count is a power of two");
_Static_assert((size_t)REFSET_MAX_PATH_BYTES < (size_t)ARENA_CHUNK_BYTES, "a path fits in one chunk");

struct refset_slot {
	const char *str;	/* NULL: the slot is free */
	uint32_t tag;		/* upper half of the hash */
	uint16_t len;
	/* Set by refset_mark(); a byte of its own, so that threads marking
	 * different slots never write what another thread's probe reads. */
	uint8_t marked;
};

_Static_assert(REFSET_MAX_PATH_BYTES <= UINT16_MAX, "a length fits in a slot");
_Static_assert(sizeof(struct refset_slot) == 16, "a slot is 16 bytes");

struct arena_chunk {
	struct arena_chunk *next;
	size_t used;
	size_t size;
	char data[];
};

struct refset {
	struct refset_slot *slots;
	size_t slot_count;	/* a power of two */
	size_t count;
	struct arena_chunk *chunks;	/* newest first */
	size_t arena_bytes;
	uint64_t key[2];	/* SipHash key */
};

/* ---- SipHash-1-3 (Aumasson and Bernstein), 64-bit output ---- */

static uint64_t rotl(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

#define SIPROUND(v0, v1, v2, v3)                                  \
	do {                                                      \
		v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32); \
		v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;            \
		v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;            \
		v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32); \
	} while (0)

static uint64_t siphash13(const uint64_t key[2], const char *data, size_t len)
{
	const unsigned char *p = (const unsigned char *)data;
	uint64_t v0 = 0x736f6d6570736575ULL ^ key[0];
	uint64_t v1 = 0x646f72616e646f6dULL ^ key[1];
	uint64_t v2 = 0x6c7967656e657261ULL ^ key[0];
	uint64_t v3 = 0x7465646279746573ULL ^ key[1];
	uint64_t b = (uint64_t)len << 56;
	size_t full = len & ~(size_t)7;

	for (size_t i = 0; i < full; i += 8) {
		uint64_t m;

		memcpy(&m, p + i, sizeof(m));
		m = le64toh(m);	/* SipHash reads words little-endian */
		v3 ^= m;
		SIPROUND(v0, v1, v2, v3);
		v0 ^= m;
	}
	for (size_t i = full; i < len; i++)
		b |= (uint64_t)p[i] << (8 * (i - full));
	v3 ^= b;
	SIPROUND(v0, v1, v2, v3);
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND(v0, v1, v2, v3);
	SIPROUND(v0, v1, v2, v3);
	SIPROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

/* ---- the arena ---- */

static const char *arena_copy(struct refset *set, const char *path, size_t len)
{
	struct arena_chunk *chunk = set->chunks;

	if (!chunk || chunk->size - chunk->used < len) {
		size_t size = ARENA_CHUNK_BYTES - sizeof(*chunk);

		chunk = malloc(sizeof(*chunk) + size);
		if (!chunk)
			return NULL;
		chunk->next = set->chunks;
		chunk->used = 0;
		chunk->size = size;
		set->chunks = chunk;
		set->arena_bytes += sizeof(*chunk) + size;
	}
	char *copy = chunk->data + chunk->used;
	memcpy(copy, path, len);
	chunk->used += len;
	return copy;
}

/* ---- the table ---- */

static void seed_key(uint64_t key[2])
{
	if (getrandom(key, 2 * sizeof(key[0]), GRND_NONBLOCK) == 2 * sizeof(key[0]))
		return;
	/* No entropy yet (early boot): a weaker seed still beats none. */
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	key[0] = (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32) ^ (uintptr_t)key;
	key[1] = (uint64_t)ts.tv_sec * 0x9e3779b97f4a7c15ULL;
}

/*
 * A zeroed slot table.  Large tables are written once right away rather
 * than left to calloc's lazily mapped zero pages: the first lookup would
 * map a page read-only and the first insert fault it again, each time
 * shooting down the other cores' TLBs.  They ask for huge pages too,
 * since every probe lands on a random page.
 */
static struct refset_slot *alloc_slots(size_t count)
{
	size_t bytes = count * sizeof(struct refset_slot);
	void *slots;

	if (bytes < HUGE_TABLE_BYTES)
		return calloc(count, sizeof(struct refset_slot));
	if (posix_memalign(&slots, HUGE_PAGE_BYTES, bytes) != 0)
		return NULL;
	(void)madvise(slots, bytes, MADV_HUGEPAGE);	/* a hint; fine if refused */
	memset(slots, 0, bytes);
	return slots;
}

struct refset *refset_new_sized(size_t expected)
{
	struct refset *set = calloc(1, sizeof(*set));
	size_t slot_count = INITIAL_SLOTS;

	if (!set)
		return NULL;
	while (slot_count < MAX_SLOTS &&
	       expected * MAX_LOAD_DENOMINATOR >= slot_count * MAX_LOAD_NUMERATOR)
		slot_count *= 2;
	set->slots = alloc_slots(slot_count);
	if (!set->slots) {
		free(set);
		return NULL;
	}
	set->slot_count = slot_count;
	seed_key(set->key);
	return set;
}

struct refset *refset_new(void)
{
	return refset_new_sized(0);
}

/* The slot that holds path, or the free slot where it would go. */
static struct refset_slot *find_slot(struct refset_slot *slots, size_t slot_count,
				     uint32_t tag, const char *path, size_t len)
{
	size_t mask = slot_count - 1;
	size_t i = tag & mask;

	for (;;) {
		struct refset_slot *slot = &slots[i];

		if (!slot->str)
			return slot;
		if (slot->tag == tag && slot->len == len && memcmp(slot->str, path, len) == 0)
			return slot;
		i = (i + 1) & mask;
	}
}

static int grow(struct refset *set)
{
	size_t slot_count = set->slot_count * 2;
	struct refset_slot *slots;

	/* The home slot comes from a 32-bit tag: more slots would not help. */
	if (slot_count > MAX_SLOTS)
		return -ENOMEM;
	slots = alloc_slots(slot_count);
	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < set->slot_count; i++) {
		struct refset_slot *old = &set->slots[i];

		if (!old->str)
			continue;
		*find_slot(slots, slot_count, old->tag, old->str, old->len) = *old;
	}
	free(set->slots);
	set->slots = slots;
	set->slot_count = slot_count;
	return 0;
}

/* The tag: the upper half of the keyed hash. */
static uint32_t path_tag(const struct refset *set, const char *path, size_t len)
{
	return (uint32_t)(siphash13(set->key, path, len) >> 32);
}

int refset_add(struct refset *set, const char *path, size_t len)
{
	uint32_t tag;
	struct refset_slot *slot;
	int err;

	if (len > REFSET_MAX_PATH_BYTES)
		return -ENAMETOOLONG;
	tag = path_tag(set, path, len);
	slot = find_slot(set->slots, set->slot_count, tag, path, len);
	if (slot->str)
		return 0;
	if ((set->count + 1) * MAX_LOAD_DENOMINATOR > set->slot_count * MAX_LOAD_NUMERATOR) {
		err = grow(set);
		if (err)
			return err;
		slot = find_slot(set->slots, set->slot_count, tag, path, len);
	}
	/* An empty path still needs a non-NULL pointer: NULL marks a free slot. */
	const char *copy = len ? arena_copy(set, path, len) : "";
	if (!copy)
		return -ENOMEM;
	slot->str = copy;
	slot->len = (uint16_t)len;
	slot->tag = tag;
	slot->marked = 0;
	set->count++;
	return 0;
}

bool refset_contains(const struct refset *set, const char *path, size_t len)
{
	if (len > REFSET_MAX_PATH_BYTES)
		return false;
	return find_slot(set->slots, set->slot_count, path_tag(set, path, len), path,
			 len)->str != NULL;
}

bool refset_mark(struct refset *set, const char *path, size_t len)
{
	struct refset_slot *slot;

	if (len > REFSET_MAX_PATH_BYTES)
		return false;
	slot = find_slot(set->slots, set->slot_count, path_tag(set, path, len), path, len);
	if (!slot->str)
		return false;
	if (!slot->marked)
		slot->marked = 1;
	return true;
}

bool refset_is_marked(const struct refset *set, const char *path, size_t len)
{
	if (len > REFSET_MAX_PATH_BYTES)
		return false;
	return find_slot(set->slots, set->slot_count, path_tag(set, path, len), path,
			 len)->marked;
}

int refset_each_unmarked(const struct refset *set,
			 int (*fn)(void *ctx, const char *path, size_t len), void *ctx)
{
	for (size_t i = 0; i < set->slot_count; i++) {
		const struct refset_slot *slot = &set->slots[i];
		int err;

		if (!slot->str || slot->marked)
			continue;
		err = fn(ctx, slot->str, slot->len);
		if (err)
			return err;
	}
	return 0;
}

void refset_prefetch(const struct refset *set, const char *path, size_t len)
{
	if (len > REFSET_MAX_PATH_BYTES)
		return;
	__builtin_prefetch(&set->slots[path_tag(set, path, len) & (set->slot_count - 1)]);
}

size_t refset_count(const struct refset *set)
{
	return set->count;
}

size_t refset_memory_bytes(const struct refset *set)
{
	return sizeof(*set) + set->slot_count * sizeof(*set->slots) + set->arena_bytes;
}

void refset_free(struct refset *set)
{
	if (!set)
		return;
	while (set->chunks) {
		struct arena_chunk *next = set->chunks->next;

		free(set->chunks);
		set->chunks = next;
	}
	free(set->slots);
	free(set);
}
