/*
 * refset: the set of paths that the application's databases reference.
 *
 * Owns its memory, which grows with the number of DISTINCT paths and never
 * with the number of values added: a path that many rows share costs one
 * entry.  Paths are byte strings compared exactly (they come normalised
 * from pathnorm); a path may contain any byte, NUL included.  Hashing is
 * keyed with a per-set random seed, so values chosen by users (upload
 * names) cannot be crafted to collide.
 *
 * A path in the set can be marked (refset_mark): the checker marks the
 * references that name a tracked file exactly, and looks at the others,
 * which may go through a symbolic link or spell a name another way.
 *
 * Threads: a set has no lock.  One thread fills it; after that any number
 * of threads may call the const functions and refset_mark() at the same
 * time (a mark is a byte of its own, which no lookup reads).
 */
#ifndef MEDIAFS_REFSET_H
#define MEDIAFS_REFSET_H

#include <stdbool.h>
#include <stddef.h>

/* The longest path a set takes, in bytes (pathnorm never makes longer). */
enum { REFSET_MAX_PATH_BYTES = 65535 };

struct refset;

/* A new, empty set, or NULL when out of memory. */
struct refset *refset_new(void);

/* The same, sized for about expected paths: a set that would have grown
 * to that size never holds its old and new tables at once. */
struct refset *refset_new_sized(size_t expected);

/*
 * Add path (len bytes, need not be NUL-terminated) unless it is there
 * already.  Returns 0 when added or already present, -ENAMETOOLONG for a
 * path over REFSET_MAX_PATH_BYTES, or -ENOMEM (the set is unchanged).
 */
int refset_add(struct refset *set, const char *path, size_t len);

/* True when path (len bytes) is in the set. */
bool refset_contains(const struct refset *set, const char *path, size_t len);

/* True when path (len bytes) is in the set, and then mark it. */
bool refset_mark(struct refset *set, const char *path, size_t len);

/* True when path is in the set and marked. */
bool refset_is_marked(const struct refset *set, const char *path, size_t len);

/*
 * Call fn with each path not marked (not NUL-terminated), in no particular
 * order, until it returns non-zero.  Returns 0 or fn's value.  The set
 * must not change meanwhile.
 */
int refset_each_unmarked(const struct refset *set,
			 int (*fn)(void *ctx, const char *path, size_t len), void *ctx);

/* Start loading the slot where path would be: a caller that tests many
 * paths prefetches a few ahead, so that their cache misses overlap. */
void refset_prefetch(const struct refset *set, const char *path, size_t len);

/* The number of distinct paths. */
size_t refset_count(const struct refset *set);

/* The bytes the set holds (table and strings), for reports. */
size_t refset_memory_bytes(const struct refset *set);

/* Free the set and every path in it; NULL is a no-op. */
void refset_free(struct refset *set);

#endif
