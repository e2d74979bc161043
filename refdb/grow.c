/*
 * grow: doubling realloc with overflow checks.
 */
#include "grow.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

void *grow_array(void *items, size_t *capacity, size_t need, size_t item_size, size_t first)
{
	size_t room = *capacity ? *capacity : (first ? first : 1);
	void *grown;

	if (need <= *capacity && items)
		return items;
	while (room < need) {
		if (room > SIZE_MAX / 2)
			goto too_big;
		room *= 2;
	}
	if (item_size && room > SIZE_MAX / item_size)
		goto too_big;
	grown = realloc(items, room * item_size);
	if (!grown)
		return NULL;
	*capacity = room;
	return grown;

too_big:
	errno = ENOMEM;
	return NULL;
}
