/*
 * respell: the other spellings of a database value, and the match of the
 * values that name no file exactly against the files no value names.
 *
 * Owns two rules, in this order:
 *   - Certain: the value names the file once percent-decoded (a stored
 *     URL, "my%20photo.jpg" for "my photo.jpg") or in another Unicode
 *     normal form (NFC in the database and NFD on disk, as files copied
 *     from macOS are, or the reverse).  Two names match when their NFC
 *     forms are equal, so any canonically equivalent form matches.  A
 *     decoded value is normalised again by pathnorm (no prefix): "%2e%2e/x"
 *     is "../x" and matches nothing.
 *   - Near: the value names the file only up to letter case, whitespace
 *     around a segment (" a.jpg", "a.jpg\n"), or a compatibility form
 *     (full-width letters, ligatures): their NFKC case-folded forms with
 *     each segment trimmed are equal.  Not certain, so never silent: the
 *     checker keeps such a file and reports the pair.
 * A value that names a file exactly never gets here: the exact match ends
 * the search.  Nothing here opens a file; paths and values are data.
 *
 * Unicode tables come from libutf8proc.  Names that are not UTF-8 (a file
 * name may be any bytes) match only exactly.
 *
 * Threads: the functions on values are pure.  An index is filled and
 * finished by one thread; after that any number of threads may match.
 */
#ifndef MEDIAFS_RESPELL_H
#define MEDIAFS_RESPELL_H

#include <stdbool.h>
#include <stddef.h>

#include "pathnorm.h"

/* Room for a key: NFKC and case folding can make a name longer. */
enum { RESPELL_KEY_BYTES = 4 * PATHNORM_MAX_BYTES };

enum respell_match {
	RESPELL_NONE,		/* no other spelling of a value names it */
	RESPELL_CERTAIN,	/* percent-decoded or another normal form */
	RESPELL_NEAR,		/* case, whitespace or compatibility form only */
};

/*
 * Percent-decode value (a normalised path, len bytes) and normalise the
 * result again.  Returns 0 with the NUL-terminated path in out (size
 * bytes, PATHNORM_MAX_BYTES is enough) when the value holds at least one
 * %HH escape and the decoded value is a usable path; -EINVAL otherwise
 * (nothing to decode, or decoding makes it hostile: NUL, "..", not UTF-8).
 */
int respell_percent_decode(const char *value, size_t len, char *out, size_t size,
			   size_t *out_len);

/*
 * The certain key of s: its NFC form.  Returns 0 with the key in out (not
 * NUL-terminated), -EILSEQ when s is not UTF-8, -ENAMETOOLONG when the key
 * does not fit in size bytes.
 */
int respell_certain_key(const char *s, size_t len, char *out, size_t size, size_t *out_len);

/* The near key of s: NFKC, case folded, each segment trimmed of ASCII
 * whitespace.  Returns as respell_certain_key(). */
int respell_near_key(const char *s, size_t len, char *out, size_t size, size_t *out_len);

/*
 * Call fn with each certain spelling of value other than value itself that
 * a file on disk could carry: the NFC and NFD forms of the value and of
 * its percent-decoded form (each once, NUL-terminated).  For a lookup by
 * name (mediactl check).  Stops when fn returns non-zero and returns that;
 * 0 otherwise, or -ENOMEM.
 */
int respell_each_spelling(const char *value, size_t len,
			  int (*fn)(void *ctx, const char *spelling, size_t len), void *ctx);

struct respell_index;

/* A new, empty index, or NULL when out of memory. */
struct respell_index *respell_index_new(void);

/*
 * Add a value (a normalised path that names no file exactly) with its
 * keys.  Returns 0 (a value with no usable key is skipped), or -ENOMEM.
 */
int respell_index_add(struct respell_index *index, const char *value, size_t len);

/* Sort the keys; call once, after the last add and before any match. */
void respell_index_finish(struct respell_index *index);

/* The number of values added and kept. */
size_t respell_index_count(const struct respell_index *index);

/*
 * Does a value of the index name path under another spelling?  On
 * RESPELL_CERTAIN or RESPELL_NEAR, *value and *value_len (when not NULL)
 * give one such value (borrowed from the index, not NUL-terminated).
 */
enum respell_match respell_index_match(const struct respell_index *index, const char *path,
				       size_t len, const char **value, size_t *value_len);

/* Free the index; NULL is a no-op. */
void respell_index_free(struct respell_index *index);

/* "certain", "near" or "none". */
const char *respell_match_name(enum respell_match match);

#endif
