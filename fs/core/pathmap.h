/*
 * pathmap: a map from paths to strings, under its own lock, for the small
 * in-memory indexes that FUSE handlers consult without a database: which
 * paths have a quarantined version (restore on access), which young files
 * a scan has seen referenced (the temporary-file rule).
 *
 * Threads: every function is safe from any thread.
 */
#ifndef MEDIAFS_PATHMAP_H
#define MEDIAFS_PATHMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pathmap;

struct pathmap *pathmap_new(void);
void pathmap_free(struct pathmap *map);

/* Set key to value (both copied), replacing any value.  Returns 1 when
 * key is new, 0 when it replaced a value, or -ENOMEM. */
int pathmap_put(struct pathmap *map, const char *key, const char *value, int64_t stamp);

/* Add delta to key's stamp (a count), making it at 0 and removing it when
 * the count falls to 0 or below.  0 or -ENOMEM. */
int pathmap_count_add(struct pathmap *map, const char *key, int64_t delta);

/* Copy key's value into out (size bytes).  Returns true when found. */
bool pathmap_get(struct pathmap *map, const char *key, char *out, size_t size);

/* Remove key; with value non-NULL only when its value equals value.
 * Returns true when an entry was removed. */
bool pathmap_remove(struct pathmap *map, const char *key, const char *value);

/* Remove every entry whose stamp is below stamp. */
void pathmap_prune(struct pathmap *map, int64_t stamp);

size_t pathmap_count(struct pathmap *map);

#endif
