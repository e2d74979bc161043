/*
 * grow: the one way an array grows.  Capacity doubles from a first size,
 * so that appending n items costs O(n) copies, and the size computation
 * cannot overflow.
 *
 * Threads: any; the caller owns the array.
 */
#ifndef MEDIAFS_GROW_H
#define MEDIAFS_GROW_H

#include <stddef.h>

/*
 * Make room for at least need items of item_size bytes in items, whose
 * room is *capacity items (0 with items NULL for a new array).  The room
 * doubles, starting from first items, until need fits.  Returns the array,
 * moved or not, and updates *capacity; or NULL (errno ENOMEM) with items
 * and *capacity untouched, so that the caller still owns what it had.
 *
 *	struct entry *grown = grow_array(list->items, &list->capacity,
 *					 list->count + 1, sizeof(*grown), 64);
 *	if (!grown)
 *		return -ENOMEM;
 *	list->items = grown;
 */
void *grow_array(void *items, size_t *capacity, size_t need, size_t item_size, size_t first);

#endif
