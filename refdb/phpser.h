/*
 * phpser: a reader of PHP's serialize() format, the one WordPress keeps
 * in wp_postmeta (_wp_attachment_metadata: the original image and every
 * size it generated).
 *
 * Owns nothing: it walks the bytes it is given, once, and reports every
 * string value with the keys that lead to it; it never builds a tree and
 * never allocates.  It reads N; b:; i:; d:; s:len:"..."; a:n:{...};
 * O:len:"class":n:{...} (properties as keys), and skips r:/R: references
 * and E: enums; anything else, a length or a count that does not match,
 * nesting deeper than PHPSER_MAX_DEPTH, or bytes after the value (other
 * than white space) make the whole value invalid.  Values are data: the
 * reader trusts no length it reads and never reads past len.
 *
 * Threads: any; no state outside the call.
 */
#ifndef MEDIAFS_PHPSER_H
#define MEDIAFS_PHPSER_H

#include <stddef.h>

/* The deepest nesting of arrays and objects a value may have. */
enum { PHPSER_MAX_DEPTH = 64 };

/* One key on the way to a value: the bytes of a string key, or the
 * decimal digits of an integer key, as serialized. */
struct phpser_key {
	const char *text;	/* points into the value being walked */
	size_t len;
};

/*
 * Called with each string value: its bytes (inside the walked buffer, not
 * NUL-terminated) and the depth keys that lead to it, outermost first
 * (depth 0 for a value that is a bare string).  Return 0 to go on or
 * -errno to stop the walk with that error.
 */
typedef int (*phpser_string_fn)(void *ctx, const struct phpser_key *keys, size_t depth,
				const char *value, size_t len);

/*
 * Walk the serialized value in the len bytes at data (no NUL needed) and
 * call on_string for every string value in it, in order.  Returns 0 when
 * the whole of data is one valid value; -EINVAL when it is not (then
 * on_string may have been called for the strings before the fault); or
 * the -errno on_string returned.
 */
int phpser_walk(const char *data, size_t len, phpser_string_fn on_string, void *ctx);

#endif
