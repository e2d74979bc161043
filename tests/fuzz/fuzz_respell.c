/*
 * Fuzz target for refdb/respell.c: a database value and a file name, both
 * chosen by users.
 *
 * The input is one byte n, then a value of n bytes, then a file name (the
 * rest).  The value goes into an index and the name is matched against
 * it, then the other way round.
 *
 * Invariants: a match gives back the value that was added; a certain
 * match of a value without '%' is at least a near match the other way,
 * and both have the same near key; a percent-decoded value is a path that
 * normalises to itself; every spelling differs from the value, is
 * NUL-terminated and fits a path.
 */
#include <string.h>

#include "fuzz.h"
#include "respell.h"

static enum respell_match match_one(const char *value, size_t value_len, const char *path,
				    size_t path_len)
{
	struct respell_index *index = respell_index_new();
	const char *found = NULL;
	size_t found_len = 0;
	enum respell_match match;

	if (!index)
		return RESPELL_NONE;
	if (respell_index_add(index, value, value_len) != 0) {
		respell_index_free(index);
		return RESPELL_NONE;
	}
	respell_index_finish(index);
	match = respell_index_match(index, path, path_len, &found, &found_len);
	if (match != RESPELL_NONE)
		fuzz_check(found_len == value_len && memcmp(found, value, value_len) == 0,
			   "a match gives the value back");
	respell_index_free(index);
	return match;
}

static bool same_near_key(const char *a, size_t a_len, const char *b, size_t b_len)
{
	static char ka[RESPELL_KEY_BYTES], kb[RESPELL_KEY_BYTES];
	size_t la, lb;

	if (respell_near_key(a, a_len, ka, sizeof(ka), &la) != 0 ||
	    respell_near_key(b, b_len, kb, sizeof(kb), &lb) != 0)
		return true;	/* too long for a key: nothing to compare */
	return la == lb && memcmp(ka, kb, la) == 0;
}

struct spelled {
	const char *value;
	size_t len;
};

static int check_spelling(void *ctx, const char *spelling, size_t len)
{
	const struct spelled *v = ctx;

	fuzz_check(strlen(spelling) == len, "a spelling is NUL-terminated");
	fuzz_check(len < PATHNORM_MAX_BYTES, "a spelling fits a path");
	fuzz_check(len != v->len || memcmp(spelling, v->value, len) != 0,
		   "a spelling is not the value");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t value_len = size ? data[0] : 0;
	const char *value, *path;
	size_t path_len;
	char decoded[PATHNORM_MAX_BYTES], again[PATHNORM_MAX_BYTES];
	size_t decoded_len, again_len;

	if (size == 0)
		return 0;
	if (value_len > size - 1)
		value_len = size - 1;
	value = (const char *)data + 1;
	path = value + value_len;
	path_len = size - 1 - value_len;

	enum respell_match forward = match_one(value, value_len, path, path_len);
	if (forward == RESPELL_CERTAIN && !memchr(value, '%', value_len)) {
		fuzz_check(match_one(path, path_len, value, value_len) != RESPELL_NONE,
			   "a certain match is at least near the other way");
		fuzz_check(same_near_key(value, value_len, path, path_len),
			   "names that match for certain have one near key");
	}
	if (respell_percent_decode(value, value_len, decoded, sizeof(decoded), &decoded_len) == 0)
		fuzz_check(pathnorm_normalise(decoded, decoded_len, NULL, again, sizeof(again),
					      &again_len) == PATHNORM_OK &&
			   again_len == decoded_len && memcmp(again, decoded, decoded_len) == 0,
			   "a decoded value is a normalised path");
	struct spelled v = { value, value_len };
	respell_each_spelling(value, value_len, check_spelling, &v);
	return 0;
}
