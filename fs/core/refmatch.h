/*
 * refmatch: what the values that name no tracked file exactly still
 * protect in BACKING, through symbolic links (fs/core/linkwalk.h) and under
 * other spellings (refdb/respell.h).
 *
 * The checker gives it the values that judging left unmarked (the ones
 * that did not name a live regular file exactly), then asks it about the
 * files that no value names exactly.  Each value is resolved inside
 * BACKING: the links on its way and what it resolves to are kept; a value
 * that names nothing on disk goes into a respell index.  Most such values
 * are dangling (their file was deleted long ago), so a directory's answer
 * is remembered: one walk per directory, then one stat per value, none at
 * all under a directory that does not exist.
 *
 * It never opens anything outside BACKING and never logs: the checker
 * reports what it counted.
 *
 * Threads: one thread at a time per struct refmatch (the checker's).
 * Blocks on the disk.
 */
#ifndef MEDIAFS_REFMATCH_H
#define MEDIAFS_REFMATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "respell.h"
#include "store.h"
#include "termesc.h"

struct refset;

enum { REFMATCH_EXAMPLE_BYTES = TERMESC_BYTES(128) };

struct refmatch {
	const struct store *store;
	struct refset *kept;		/* paths kept through a link or a spelling */
	struct respell_index *spellings; /* values that name nothing on disk */
	struct refset *plain_dirs;	/* parents that exist, no link on the way */
	struct refset *missing_dirs;	/* parents that do not exist */
	uint64_t linked;		/* values that resolved through a link */
	uint64_t escaped;		/* values whose link leaves BACKING or loops */
	char escape_example[REFMATCH_EXAMPLE_BYTES]; /* the first, escaped */
};

/* Set m up for the store.  Returns 0 or -ENOMEM (then refmatch_clear). */
int refmatch_init(struct refmatch *m, const struct store *st);

/* Free what m holds; a zeroed m is fine. */
void refmatch_clear(struct refmatch *m);

/*
 * Resolve every value of values that is not marked, then make the respell
 * index ready.  Returns 0, or -errno when the disk failed in a way that
 * says nothing about a value (-EIO, -EACCES, -ENOMEM): then what a value
 * protects is unknown, and nothing may be moved.
 */
int refmatch_take_all(struct refmatch *m, const struct refset *values);

/* True when m was set up (some value did not name a file exactly). */
bool refmatch_is_active(const struct refmatch *m);

/* True when path is kept through a link (or was kept before). */
bool refmatch_is_kept(const struct refmatch *m, const char *path, size_t len);

/*
 * Does a value name path under another spelling?  As
 * respell_index_match(); RESPELL_NONE when m is not active.
 */
enum respell_match refmatch_spelling(const struct refmatch *m, const char *path, size_t len,
				     const char **value, size_t *value_len);

/* Remember path as kept.  Returns 0 or -ENOMEM. */
int refmatch_keep(struct refmatch *m, const char *path, size_t len);

#endif
