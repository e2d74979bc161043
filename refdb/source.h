/*
 * source: one application database whose columns hold the paths of media
 * files: a SQLite file, a PostgreSQL server, or a MariaDB or MySQL server.
 *
 * Owns the connection and turns every value it reads into a normalised
 * path (refdb/pathnorm.h) before handing it on; a value in JSON or PHP's
 * serialize() format (config key format) into each path its selected
 * fields hold (refdb/fieldpath.h).  Fetching is total or it
 * fails: a connection error, a missing table or column, a permission
 * error, a server that dies in the middle, a database locked for longer
 * than the busy timeout all return -errno with a message that names the
 * source, the table and column (or "query") and the server's own words.
 * A fetch never returns 0 after a partial read, because an error taken for
 * "no references" would quarantine files that are in use.  All columns of
 * a fetch are read in one read-only transaction, so they are one snapshot.
 *
 * It never writes to a database, never logs (the message goes back to the
 * caller, who logs it once) and never shows a password: messages describe
 * a PostgreSQL or MySQL source by host, port, database and user only.
 *
 * Threads: a struct source belongs to one thread at a time (the checker);
 * every call may block on the disk or the network, so never call one from
 * a FUSE worker.  Different sources may be used on different threads.
 */
#ifndef MEDIAFS_SOURCE_H
#define MEDIAFS_SOURCE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"

struct refset;
struct source;

enum {
	SOURCE_HOSTILE_EXAMPLES = 3,	/* examples kept per fetch */
	SOURCE_EXAMPLE_BYTES = 128,	/* one escaped example, with its NUL */
	SOURCE_ERROR_BYTES = 1024,	/* room for any message of this module */
};

/* How long a fetch waits for a lock held by the application's writers. */
#define SOURCE_DEFAULT_BUSY_TIMEOUT_MS 5000

/* What one fetch read; filled by source_fetch() and source_fetch_into(). */
struct source_report {
	uint64_t rows;		/* values read */
	uint64_t empty;		/* NULL or '' */
	uint64_t hostile;	/* values that can never match a file */
	/* The first few hostile values, escaped, with why: "../x (dotdot)". */
	char hostile_examples[SOURCE_HOSTILE_EXAMPLES][SOURCE_EXAMPLE_BYTES];
	uint64_t referenced;	/* usable paths emitted (before dedupe) */
};

/* Called with each normalised path; return 0 to go on or -errno to stop. */
typedef int (*source_emit_fn)(void *ctx, const char *path, size_t len);

/*
 * Open the database that cfg describes (a private copy of cfg is kept) and
 * connect to it.  Returns 0 and sets *out, or -errno (-ENOENT, -EACCES,
 * -ECONNREFUSED, -EIO, -ENOMEM, ...) with a message in error
 * (SOURCE_ERROR_BYTES is enough) and *out untouched.
 */
int source_open(const struct config_source *cfg, struct source **out, char *error,
		size_t error_size);

/*
 * Read every configured column (or the query) in one snapshot, normalise
 * each value and call emit with each usable path, in no particular order;
 * count what was read in *report (zeroed first).  Reconnects first if the
 * connection was lost since the last call.  Returns 0 only when every row
 * was read and the snapshot ended cleanly; otherwise -errno (-ENOENT for a
 * missing table, column or database, -EACCES for a permission or password
 * error, -EBUSY for a lock held past the busy timeout, -ECONNREFUSED when
 * the server cannot be reached, -EIO when it goes away in the middle, -EINVAL
 * for a bad query, or the -errno that emit returned) with a message in
 * error; then the paths already emitted and *report are incomplete and must
 * not be used.
 */
int source_fetch(struct source *src, source_emit_fn emit, void *ctx,
		 struct source_report *report, char *error, size_t error_size);

/* source_fetch() that adds every path to set (which dedupes them). */
int source_fetch_into(struct source *src, struct refset *set, struct source_report *report,
		      char *error, size_t error_size);

/*
 * Check that every configured column exists and can be read (or that the
 * query runs and returns one column), and print one line per column (or
 * query) to out: "source 'app' (sqlite /srv/db.sqlite3): gallery_photo.image
 * ok, 1234 rows (1200 paths, 34 empty)", or "error: source 'app': ...".
 * Reads every value, so that unusable values (a strip_prefix that does not
 * match) show up with examples.  Returns 0 when all are fine, else the
 * first -errno with its message in error.
 */
int source_check(struct source *src, FILE *out, char *error, size_t error_size);

/* The name of the [source NAME] section; never NULL. */
const char *source_name(const struct source *src);

/* "sqlite /srv/db.sqlite3", "postgresql host=db port=5432 dbname=app
 * user=app" or "mysql host=localhost socket=/run/mysqld/mysqld.sock
 * dbname=app user=app": what messages show, never with a password. */
const char *source_description(const struct source *src);

/* Change how long a fetch waits for a lock (SQLite's busy timeout,
 * PostgreSQL's lock_timeout); applies from the next fetch. */
void source_set_busy_timeout(struct source *src, int64_t timeout_ms);

/* Disconnect and free src; NULL is a no-op. */
void source_close(struct source *src);

/*
 * For "mediafs --check-config": open every source of cfg, run
 * source_check() on it and print its lines (errors as "error: ...") to out.
 * Returns 0 only if every source is fine, else the first -errno.
 */
int config_check_sources(const struct config *cfg, FILE *out);

#endif
