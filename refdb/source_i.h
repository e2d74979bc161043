/*
 * source_i.h: what source.c shares with the database backends
 * (source_sqlite.c, source_pg.c, source_mysql.c).  Not a public
 * interface.
 *
 * A backend reads raw values and hands each one to source_take_value(),
 * which normalises, counts and emits it; the backend never sees paths.
 * Backend functions return 0 or -errno and write what went wrong, without
 * the "source 'NAME': " prefix, into why (why_size bytes).
 */
#ifndef MEDIAFS_SOURCE_I_H
#define MEDIAFS_SOURCE_I_H

#include <stdbool.h>

#include "source.h"

/* Where the values of one fetch go. */
struct source_sink {
	const struct source *src;
	source_emit_fn emit;
	void *ctx;
	struct source_report *report;
	/* Structured values of the column being read: how many were not
	 * empty, and how many of those did not parse. */
	uint64_t structured;
	uint64_t unparsed;
};

struct source_ops {
	const char *kind;	/* "sqlite", "postgresql", "mysql" */
	/* Fill src->description; called once by source_open(). */
	int (*describe)(struct source *src, char *why, size_t why_size);
	/* Connect, or check that the connection is still good and reconnect
	 * if it is not.  Called at open and before each fetch. */
	int (*connect)(struct source *src, char *why, size_t why_size);
	void (*disconnect)(struct source *src);
	/* Start and end one read-only snapshot. */
	int (*begin)(struct source *src, char *why, size_t why_size);
	int (*commit)(struct source *src, char *why, size_t why_size);
	/* Undo begin() after a failure; best effort, never fails. */
	void (*rollback)(struct source *src);
	int (*fetch_column)(struct source *src, const struct source_column *col,
			    struct source_sink *sink, char *why, size_t why_size);
	int (*fetch_query)(struct source *src, const char *query, struct source_sink *sink,
			   char *why, size_t why_size);
};

struct source {
	struct config_source cfg;	/* a private copy */
	const struct source_ops *ops;	/* immutable after open */
	void *conn;			/* the backend's state, NULL when closed */
	int64_t busy_timeout_ms;
	struct fieldpath *fieldpath;	/* format json or php; NULL for text */
	char description[256];		/* never holds a password */
};

extern const struct source_ops source_sqlite_ops;
extern const struct source_ops source_pg_ops;
extern const struct source_ops source_mysql_ops;

/*
 * source_open() with the given backend instead of the one the URL names
 * (source_open() calls it with the URL's).
 */
int source_open_with_ops(const struct config_source *cfg, const struct source_ops *ops,
			 struct source **out, char *error, size_t error_size);

/*
 * Take one raw value (value NULL for SQL NULL): normalise it (or, for a
 * structured format, every path it holds), count it in the report and
 * emit what is usable.  A structured value that does not parse is counted
 * as hostile, and in sink->unparsed.  Returns 0, -ENOMEM or the -errno of
 * emit.
 */
int source_take_value(struct source_sink *sink, const char *value, size_t len);

/* Write "table 'schema.table' column 'column'" for messages. */
void source_column_label(const struct source_column *col, char *out, size_t out_size);

/* snprintf() into why, where cutting a long message short is intended. */
void source_say(char *why, size_t why_size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
