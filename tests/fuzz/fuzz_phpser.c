/*
 * Fuzz target for refdb/phpser.c and refdb/fieldpath.c.
 *
 * The input is one column value, as a database hands it over: any bytes,
 * no NUL terminator.  It is walked as PHP serialize(), then extracted with
 * WordPress's selectors (PHP) and with a selector over every level (JSON).
 *
 * Invariants: phpser_walk() returns 0 or -EINVAL and is deterministic;
 * every string and key it reports lies inside the input, at a depth of at
 * most PHPSER_MAX_DEPTH; fieldpath_extract() returns 0, -EINVAL or
 * -ENOMEM, and every path it emits is non-empty and no longer than the
 * input twice over plus the '/' that joins a base.
 */
#include <errno.h>
#include <string.h>

#include "fieldpath.h"
#include "fuzz.h"
#include "phpser.h"

struct walk {
	const char *data;
	size_t size;
	size_t strings;
};

static bool inside(const struct walk *w, const char *p, size_t len)
{
	return p >= w->data && len <= w->size && (size_t)(p - w->data) <= w->size - len;
}

static int check_string(void *ctx, const struct phpser_key *keys, size_t depth,
			const char *value, size_t len)
{
	struct walk *w = ctx;

	fuzz_check(depth <= PHPSER_MAX_DEPTH, "depth is bounded");
	fuzz_check(inside(w, value, len), "a string lies inside the input");
	for (size_t i = 0; i < depth; i++)
		fuzz_check(inside(w, keys[i].text, keys[i].len), "a key lies inside the input");
	w->strings++;
	return 0;
}

static int check_path(void *ctx, const char *path, size_t len, bool without_base)
{
	const struct walk *w = ctx;

	(void)without_base;
	fuzz_check(path != NULL && len > 0, "a path is never empty");
	fuzz_check(len <= 2 * w->size + 1, "a joined path is at most base, '/' and name");
	return 0;
}

static void extract(enum config_format format, char *const *paths, size_t count,
		    const char *base, struct walk *w)
{
	struct fieldpath *fp;
	int err;

	if (fieldpath_new(format, paths, count, base, &fp) != 0)
		return;
	for (int round = 0; round < 2; round++) {
		err = fieldpath_extract(fp, w->data, w->size, check_path, w);
		fuzz_check(err == 0 || err == -EINVAL || err == -ENOMEM,
			   "only 0, -EINVAL or -ENOMEM");
	}
	fieldpath_free(fp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *const wordpress[] = { "file", "sizes.*.file", "original_image" };
	static char *const anything[] = { "*", "*.*", "*.*.*" };
	struct walk first = { (const char *)data, size, 0 };
	struct walk again = first;
	int err = phpser_walk(first.data, size, check_string, &first);

	fuzz_check(err == 0 || err == -EINVAL, "only 0 or -EINVAL");
	fuzz_check(phpser_walk(again.data, size, check_string, &again) == err &&
		   again.strings == first.strings, "a walk is deterministic");
	extract(CONFIG_FORMAT_PHP, wordpress, 3, "dirname(file)", &first);
	extract(CONFIG_FORMAT_JSON, anything, 3, "dir", &first);
	return 0;
}
