/*
 * pathnorm: turns one value read from an application's database into a
 * path relative to the media root, or says why it can never name a file.
 *
 * Owns the normalisation rules, which are always the same steps in the same
 * order:
 *   1. NULL or "" is EMPTY: the row has no file.  Not hostile.
 *   2. An embedded NUL byte is NUL; bytes that are not strict UTF-8 are
 *      NOT_UTF8.
 *   3. The strip prefix, if the value starts with it, is removed.  The
 *      prefix matches with or without its trailing slash but only up to a
 *      '/' boundary: "/media/" and "/media" both strip "/media/a.jpg" to
 *      "a.jpg" and neither touches "/mediafoo/a.jpg".  A URL prefix such as
 *      "https://cdn.example.com/media/" works the same way.  Every slash
 *      right after the prefix goes with it.
 *   4. What is left must be relative: a leading '/' or a URL ("scheme://")
 *      is ABSOLUTE.
 *   5. Segments are walked: empty ones (duplicate slashes) and "." go, ".."
 *      anywhere is DOTDOT (even when it would stay inside the root), a
 *      segment longer than 255 bytes or a result longer than PATH_MAX - 1
 *      bytes is TOO_LONG.
 *   6. A value that ends in '/' or "/.", or that is nothing but the prefix,
 *      names a directory and never a file: DIRECTORY.
 * Values are bytes and are compared byte for byte: no percent-decoding, no
 * case folding, no trimming of spaces.  Nothing here opens a file: the
 * result is data to compare with tracked paths, never a path to open.
 *
 * Threads: every function is pure and safe from any thread.
 */
#ifndef MEDIAFS_PATHNORM_H
#define MEDIAFS_PATHNORM_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

/* The longest normalised path, with its NUL, and the longest segment. */
enum { PATHNORM_MAX_BYTES = PATH_MAX, PATHNORM_MAX_SEGMENT_BYTES = NAME_MAX };

enum pathnorm_status {
	PATHNORM_OK,		/* out holds a relative path */
	PATHNORM_EMPTY,		/* NULL or "": no file; not hostile */
	PATHNORM_ABSOLUTE,	/* absolute path or URL after the prefix */
	PATHNORM_DOTDOT,	/* a ".." segment */
	PATHNORM_NUL,		/* an embedded NUL byte */
	PATHNORM_TOO_LONG,	/* > PATH_MAX - 1 bytes, or a segment > 255 */
	PATHNORM_NOT_UTF8,	/* not strict UTF-8 */
	PATHNORM_DIRECTORY,	/* trailing '/', ".", or only the prefix */
};

/*
 * Normalise value (len bytes, NULL allowed) with the rules above.  On
 * PATHNORM_OK, out holds the NUL-terminated path and *out_len its length;
 * on any other status out and *out_len are unspecified.  strip_prefix may
 * be NULL or "".  out_size should be PATHNORM_MAX_BYTES; a result that does
 * not fit in out_size is PATHNORM_TOO_LONG.
 */
enum pathnorm_status pathnorm_normalise(const char *value, size_t len,
					const char *strip_prefix, char *out,
					size_t out_size, size_t *out_len);

/*
 * Of the count prefixes, the longest that value starts with (by the
 * matching rule of step 3), or NULL when none does.  Lets a source with
 * several prefixes (a path prefix and a CDN URL) pick the one to strip.
 */
const char *pathnorm_pick_prefix(const char *value, size_t len,
				 char *const *prefixes, size_t count);

/* True for the statuses of values that can never name a file but are not
 * empty: everything but PATHNORM_OK and PATHNORM_EMPTY. */
bool pathnorm_is_hostile(enum pathnorm_status status);

/* A short lowercase name such as "dotdot" or "not-utf8"; never NULL. */
const char *pathnorm_status_name(enum pathnorm_status status);

/*
 * Write value in printable form for messages: bytes outside printable ASCII,
 * '\\' and '\'' become \xNN, and a value that does not fit ends in "...".
 * Always NUL-terminates when out_size > 0.
 */
void pathnorm_escape(const char *value, size_t len, char *out, size_t out_size);

/* The value of one hexadecimal digit (either case), or -1: for reading
 * escapes back, in paths, URLs and PostgreSQL's bytea output. */
int pathnorm_hex_digit(char c);

#endif
