/*
 * respell: keys by libutf8proc, and an index of keys kept as two sorted
 * arrays searched by bisection.
 *
 * Why sorted arrays and not a hash table: the values come from users
 * (upload names), and a sorted array has no worst case to craft; the
 * index holds only the values that name no file exactly, usually few,
 * and a scan looks up only the files that no value names exactly.
 *
 * ASCII names skip libutf8proc: their NFC form is themselves and their
 * near key a lower-case copy, which keeps a scan with many dangling
 * references (files deleted long ago) cheap.
 */
#include "respell.h"

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "grow.h"

enum { INITIAL_ENTRIES = 64, INITIAL_ARENA_BYTES = 4096 };

static bool is_ascii(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			return false;
	return true;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

int respell_percent_decode(const char *value, size_t len, char *out, size_t size,
			   size_t *out_len)
{
	char decoded[PATHNORM_MAX_BYTES];
	size_t n = 0;
	bool escaped = false;

	for (size_t i = 0; i < len; i++) {
		int high = i + 2 < len && value[i] == '%' ? pathnorm_hex_digit(value[i + 1]) : -1;
		int low = high >= 0 ? pathnorm_hex_digit(value[i + 2]) : -1;

		if (n + 1 >= sizeof(decoded))
			return -EINVAL;
		if (low >= 0) {
			decoded[n++] = (char)(high << 4 | low);
			i += 2;
			escaped = true;
		} else {
			decoded[n++] = value[i];
		}
	}
	if (!escaped)
		return -EINVAL;
	return pathnorm_normalise(decoded, n, NULL, out, size, out_len) == PATHNORM_OK ? 0 :
	       -EINVAL;
}

/* s through libutf8proc with options, into out. */
static int map_utf8(const char *s, size_t len, utf8proc_option_t options, char *out, size_t size,
		    size_t *out_len)
{
	utf8proc_uint8_t *mapped = NULL;
	utf8proc_ssize_t n;

	if (len > (size_t)INT32_MAX)
		return -ENAMETOOLONG;
	n = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)len, &mapped,
			 options | UTF8PROC_STABLE);
	if (n < 0)
		return n == UTF8PROC_ERROR_NOMEM ? -ENOMEM : -EILSEQ;
	if ((size_t)n > size) {
		free(mapped);
		return -ENAMETOOLONG;
	}
	memcpy(out, mapped, (size_t)n);
	free(mapped);
	*out_len = (size_t)n;
	return 0;
}

int respell_certain_key(const char *s, size_t len, char *out, size_t size, size_t *out_len)
{
	if (is_ascii(s, len)) {
		if (len > size)
			return -ENAMETOOLONG;
		memcpy(out, s, len);
		*out_len = len;
		return 0;
	}
	return map_utf8(s, len, UTF8PROC_COMPOSE, out, size, out_len);
}

/* Trim ASCII whitespace around each segment of key, in place. */
static size_t trim_segments(char *key, size_t len)
{
	size_t n = 0, i = 0;

	while (i <= len) {
		size_t end = i;

		while (end < len && key[end] != '/')
			end++;
		size_t first = i, last = end;
		while (first < last && is_space(key[first]))
			first++;
		while (last > first && is_space(key[last - 1]))
			last--;
		memmove(key + n, key + first, last - first);
		n += last - first;
		if (end < len)
			key[n++] = '/';
		i = end + 1;
	}
	return n;
}

int respell_near_key(const char *s, size_t len, char *out, size_t size, size_t *out_len)
{
	int err;

	if (is_ascii(s, len)) {
		if (len > size)
			return -ENAMETOOLONG;
		for (size_t i = 0; i < len; i++)
			out[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] - 'A' + 'a' : s[i]);
		*out_len = len;
	} else {
		err = map_utf8(s, len, UTF8PROC_COMPOSE | UTF8PROC_COMPAT | UTF8PROC_CASEFOLD, out,
			       size, out_len);
		if (err)
			return err;
	}
	*out_len = trim_segments(out, *out_len);
	return 0;
}

/* ---- spellings for a lookup by name ---- */

struct spellings {
	const char *value;
	size_t len;
	/* At most five: NFC and NFD of the value, the decoded value and its
	 * NFC and NFD forms. */
	char seen[5][PATHNORM_MAX_BYTES];
	size_t seen_len[5];
	size_t count;
};

/* Offer s unless it is the value, no usable path, or offered already. */
static int offer(struct spellings *sp, const char *s, size_t len,
		 int (*fn)(void *ctx, const char *spelling, size_t len), void *ctx)
{
	char path[PATHNORM_MAX_BYTES];
	size_t path_len;

	if (len == sp->len && memcmp(s, sp->value, len) == 0)
		return 0;
	/* A spelling is a path as pathnorm makes them, whatever the value. */
	if (pathnorm_normalise(s, len, NULL, path, sizeof(path), &path_len) != PATHNORM_OK ||
	    path_len != len || memcmp(path, s, len) != 0)
		return 0;
	for (size_t i = 0; i < sp->count; i++)
		if (sp->seen_len[i] == len && memcmp(sp->seen[i], s, len) == 0)
			return 0;
	assert(sp->count < sizeof(sp->seen) / sizeof(sp->seen[0]));
	memcpy(sp->seen[sp->count], path, len + 1);
	sp->seen_len[sp->count] = len;
	return fn(ctx, sp->seen[sp->count++], len);
}

/* The NFC and NFD forms of s. */
static int offer_forms(struct spellings *sp, const char *s, size_t len,
		       int (*fn)(void *ctx, const char *spelling, size_t len), void *ctx)
{
	static const utf8proc_option_t forms[] = { UTF8PROC_COMPOSE, UTF8PROC_DECOMPOSE };
	char form[PATHNORM_MAX_BYTES];
	size_t form_len;
	int err = offer(sp, s, len, fn, ctx);

	for (size_t i = 0; !err && !is_ascii(s, len) && i < 2; i++) {
		err = map_utf8(s, len, forms[i], form, sizeof(form) - 1, &form_len);
		if (err == -ENOMEM)
			return err;
		err = err ? 0 : offer(sp, form, form_len, fn, ctx);
	}
	return err;
}

int respell_each_spelling(const char *value, size_t len,
			  int (*fn)(void *ctx, const char *spelling, size_t len), void *ctx)
{
	struct spellings *sp = calloc(1, sizeof(*sp));
	char decoded[PATHNORM_MAX_BYTES];
	size_t decoded_len;
	int err;

	if (!sp)
		return -ENOMEM;
	sp->value = value;
	sp->len = len;
	err = offer_forms(sp, value, len, fn, ctx);
	if (!err && respell_percent_decode(value, len, decoded, sizeof(decoded), &decoded_len) == 0)
		err = offer_forms(sp, decoded, decoded_len, fn, ctx);
	free(sp);
	return err;
}

/* ---- the index ---- */

struct key_entry {
	size_t key;		/* offsets into the arena */
	size_t key_len;
	size_t value;
	size_t value_len;
};

struct key_list {
	struct key_entry *items;
	size_t count, capacity;
};

struct respell_index {
	struct key_list certain;
	struct key_list near;
	char *arena;		/* keys and values; grows, so entries hold offsets */
	size_t used, capacity;
	size_t values;
	bool finished;
};

struct respell_index *respell_index_new(void)
{
	return calloc(1, sizeof(struct respell_index));
}

/* Copy bytes into the arena; *at gets their offset. */
static int arena_put(struct respell_index *index, const char *s, size_t len, size_t *at)
{
	/* Allocated at the first entry, even an empty one: keys are compared
	 * in it, and memcmp wants a pointer. */
	if (!index->arena || index->used + len > index->capacity) {
		char *arena = grow_array(index->arena, &index->capacity, index->used + len + 1,
					 1, INITIAL_ARENA_BYTES);
		if (!arena)
			return -ENOMEM;
		index->arena = arena;
	}
	memcpy(index->arena + index->used, s, len);
	*at = index->used;
	index->used += len;
	return 0;
}

static int list_push(struct key_list *list, struct key_entry entry)
{
	if (list->count == list->capacity) {
		struct key_entry *items = grow_array(list->items, &list->capacity, list->count + 1,
						     sizeof(*items), INITIAL_ENTRIES);
		if (!items)
			return -ENOMEM;
		list->items = items;
	}
	list->items[list->count++] = entry;
	return 0;
}

/* Add key (unless it is the value itself: that matched nothing exactly). */
static int add_key(struct respell_index *index, struct key_list *list, const char *key,
		   size_t key_len, size_t value, size_t value_len)
{
	struct key_entry entry = { .value = value, .value_len = value_len };
	int err = arena_put(index, key, key_len, &entry.key);

	entry.key_len = key_len;
	return err ? err : list_push(list, entry);
}

/* The certain and near keys of one spelling (the value or its decoded form). */
static int add_spelling(struct respell_index *index, const char *s, size_t len, size_t value,
			size_t value_len, bool is_value)
{
	char key[RESPELL_KEY_BYTES];
	size_t key_len;
	int err = 0;

	/* An ASCII value is its own NFC form, which names nothing (a file
	 * whose NFC form is ASCII, such as a Kelvin sign for K, still
	 * matches it as a near miss). */
	if (!err && !(is_value && is_ascii(s, len)) &&
	    respell_certain_key(s, len, key, RESPELL_KEY_BYTES, &key_len) == 0)
		err = add_key(index, &index->certain, key, key_len, value, value_len);
	if (!err && respell_near_key(s, len, key, RESPELL_KEY_BYTES, &key_len) == 0)
		err = add_key(index, &index->near, key, key_len, value, value_len);
	return err;
}

int respell_index_add(struct respell_index *index, const char *value, size_t len)
{
	char decoded[PATHNORM_MAX_BYTES];
	size_t decoded_len, at;
	int err = arena_put(index, value, len, &at);

	if (err)
		return err;
	err = add_spelling(index, value, len, at, len, true);
	if (!err && respell_percent_decode(value, len, decoded, sizeof(decoded), &decoded_len) == 0)
		err = add_spelling(index, decoded, decoded_len, at, len, false);
	if (!err)
		index->values++;
	return err;
}

static int compare_keys(const char *arena, const struct key_entry *a, const char *key,
			size_t key_len)
{
	size_t n = a->key_len < key_len ? a->key_len : key_len;
	int c = memcmp(arena + a->key, key, n);

	if (c)
		return c;
	return (a->key_len > key_len) - (a->key_len < key_len);
}

static int compare_entries(const void *x, const void *y, void *arena)
{
	const struct key_entry *a = x, *b = y;

	return compare_keys(arena, a, (const char *)arena + b->key, b->key_len);
}

void respell_index_finish(struct respell_index *index)
{
	/* An empty list has no array to give qsort. */
	if (index->certain.count)
		qsort_r(index->certain.items, index->certain.count, sizeof(struct key_entry),
			compare_entries, index->arena);
	if (index->near.count)
		qsort_r(index->near.items, index->near.count, sizeof(struct key_entry),
			compare_entries, index->arena);
	index->finished = true;
}

size_t respell_index_count(const struct respell_index *index)
{
	return index->values;
}

static const struct key_entry *find_key(const struct respell_index *index,
					const struct key_list *list, const char *key,
					size_t key_len)
{
	size_t low = 0, high = list->count;

	while (low < high) {
		size_t mid = low + (high - low) / 2;
		int c = compare_keys(index->arena, &list->items[mid], key, key_len);

		if (c == 0)
			return &list->items[mid];
		if (c < 0)
			low = mid + 1;
		else
			high = mid;
	}
	return NULL;
}

enum respell_match respell_index_match(const struct respell_index *index, const char *path,
				       size_t len, const char **value, size_t *value_len)
{
	char key[RESPELL_KEY_BYTES];
	size_t key_len;
	const struct key_entry *found = NULL;
	enum respell_match match = RESPELL_NONE;

	assert(index->finished);
	if (index->certain.count == 0 && index->near.count == 0)
		return RESPELL_NONE;
	if (respell_certain_key(path, len, key, RESPELL_KEY_BYTES, &key_len) == 0 &&
	    (found = find_key(index, &index->certain, key, key_len)) != NULL)
		match = RESPELL_CERTAIN;
	else if (respell_near_key(path, len, key, RESPELL_KEY_BYTES, &key_len) == 0 &&
		 (found = find_key(index, &index->near, key, key_len)) != NULL)
		match = RESPELL_NEAR;
	if (found && value)
		*value = index->arena + found->value;
	if (found && value_len)
		*value_len = found->value_len;
	return match;
}

void respell_index_free(struct respell_index *index)
{
	if (!index)
		return;
	free(index->certain.items);
	free(index->near.items);
	free(index->arena);
	free(index);
}

const char *respell_match_name(enum respell_match match)
{
	switch (match) {
	case RESPELL_CERTAIN:
		return "certain";
	case RESPELL_NEAR:
		return "near";
	case RESPELL_NONE:
		break;
	}
	return "none";
}
