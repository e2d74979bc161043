/*
 * fieldpath: the paths inside a structured column value, a JSON document
 * or a PHP serialize() string, as a source's `format`, `paths` and `base`
 * keys describe them (docs/sources.md, "Structured values").
 *
 * A selector names fields by their keys, outermost first, separated by
 * dots: `file`, `sizes.*.file`, `0`, `renditions."2x"`.  `*` is every key
 * of an object or array at that level; a number is an array index (JSON)
 * or an integer key (PHP); a key holding `.`, `*`, `,`, `"`, parentheses
 * or white space is written in double quotes.  Only string values are
 * paths.  `base = SELECTOR` takes the base directory from a field,
 * `base = dirname(SELECTOR)` from the directory part of a field; every
 * path found is then joined to it, except one found by the selector the
 * base is taken from (WordPress's `file` is a whole path and gives the
 * directory of every size).
 *
 * Owns the compiled selectors and a scratch buffer reused from one value
 * to the next; never opens or checks a path (the caller normalises what it
 * gets with pathnorm), never logs.
 *
 * Threads: a struct fieldpath belongs to one thread at a time (it keeps
 * scratch state); different ones may be used on different threads.
 */
#ifndef MEDIAFS_FIELDPATH_H
#define MEDIAFS_FIELDPATH_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* The most keys a selector may have. */
enum { FIELDPATH_MAX_STEPS = 16 };

struct fieldpath;

/*
 * Check the syntax of one selector (base false) or of a base (base true:
 * a selector or dirname(selector), without '*').  Returns 0 or -EINVAL
 * with why filled.
 */
int fieldpath_check(const char *text, bool base, char *why, size_t why_size);

/*
 * Compile the selectors of a source whose values are in format (JSON or
 * PHP): count selectors (at least one) and base (NULL for none), all of
 * which fieldpath_check() accepts.  Returns 0 and sets *out, -EINVAL for a
 * selector that does not check, or -ENOMEM.
 */
int fieldpath_new(enum config_format format, char *const *selectors, size_t count,
		  const char *base, struct fieldpath **out);

/* Free fp; NULL is a no-op. */
void fieldpath_free(struct fieldpath *fp);

/*
 * Called with each path found: its bytes (not NUL-terminated, never
 * empty).  without_base is true for a name that is relative to a base the
 * value does not have: it is not a usable path.  Return 0 to go on or
 * -errno to stop.
 */
typedef int (*fieldpath_emit_fn)(void *ctx, const char *path, size_t len, bool without_base);

/*
 * Parse the len bytes at value in fp's format and call emit with each
 * string that a selector names, joined to the base where one applies.
 * Returns 0; -EINVAL when value is not valid JSON or PHP serialize (emit
 * may have been called before the fault was found); -ENOMEM; or the
 * -errno of emit.
 */
int fieldpath_extract(struct fieldpath *fp, const char *value, size_t len,
		      fieldpath_emit_fn emit, void *ctx);

#endif
