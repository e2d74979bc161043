/*
 * catalog_sqlite_i.h: what the files of the SQLite catalog share.  Not a
 * public interface: callers include catalog.h only.
 *
 * The SQLite catalog is split by job:
 *
 *   catalog_sqlite.c         schema and migrations, opening, the statement
 *                            layer below, transactions, facts (meta)
 *   catalog_sqlite_events.c  events and adoption (and sizing what it left)
 *   catalog_sqlite_query.c   rows, the audit log, totals and counts, the
 *                            pass of a scan over live or quarantined rows
 *   catalog_sqlite_state.c   state changes by the checker and an admin,
 *                            and recovery of files found in the quarantine
 *   catalog_sqlite_scan.c    scans and pins
 *
 * Every function here that links starts with catalog_sqlite_, so that a
 * second implementation (catalog_pg_*.c with its catalog_pg_i.h) can sit
 * beside it in the same library; the rest (ST_*, the sql_* binders,
 * struct catalog_stmt) is seen only by the files that include this.
 *
 * The statement layer carries a failure from preparing or binding to the
 * step, which reports it: a sequence prepare, bind, bind, run needs one
 * check, at the end, and no result is lost on the way.
 */
#ifndef MEDIAFS_CATALOG_SQLITE_I_H
#define MEDIAFS_CATALOG_SQLITE_I_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "catalog.h"

enum {
	CATALOG_SQLITE_ERROR_BYTES = 512,
};

/* The statements every connection keeps prepared (catalog_sqlite.c). */
enum catalog_sqlite_statement {
	ST_FIND_CURRENT,
	ST_INSERT_FILE,
	ST_REVIVE,
	ST_RECREATE,
	ST_UPDATE_WRITTEN,
	ST_AUDIT_WRITTEN_QUARANTINED,
	ST_UPDATE_WRITTEN_QUARANTINED,
	ST_SET_PATH,
	ST_DELETE,
	ST_DELETE_MISSING_AT,
	ST_SET_QUARANTINED,
	ST_INSERT_AUDIT,
	ST_AUDIT_DIR_RENAME,
	ST_DELETE_MISSING_UNDER,
	ST_RENAME_DIR,
	ST_ADOPT_ADD,
	ST_ADOPT_GONE,
	ST_GET_CURRENT,
	STATEMENT_COUNT,
};

/* The columns of a whole row, in the order catalog_sqlite_query.c reads. */
#define ROW_COLUMNS \
	"id, path, kind, dev, ino, size, mtime_ms, first_seen_ms, last_written_ms," \
	" activity_ms, state, state_changed_ms, state_reason, quarantine_name," \
	" scan_id, last_referenced_ms, access_restores"

/* One connection; belongs to one thread at a time. */
struct catalog {
	sqlite3 *db;
	sqlite3_stmt *statements[STATEMENT_COUNT];	/* prepared on first use */
	bool in_transaction;
	bool adopting;		/* between catalog_adopt_begin() and _finish() */
	int64_t adopt_start_ms;
	char error[CATALOG_SQLITE_ERROR_BYTES];	/* for catalog_last_error() */
};

/* ---- Statements ---- */

/* One use of a statement, from its preparation (or the cache) to its end. */
struct catalog_stmt {
	struct catalog *cat;
	sqlite3_stmt *st;	/* NULL when preparing failed */
	const char *what;	/* what it does, for the message of a failure */
	int rc;			/* the first failure to prepare or bind, else SQLITE_OK */
	bool cached;		/* cat's own: reset at the end, not finalized */
};

/*
 * Record the database's message ("what: message") and turn rc into
 * -errno.  For an I/O error the system's error is added and returned.
 */
int catalog_sqlite_fail(struct catalog *cat, int rc, const char *what);

/* Run sql (one or more statements without parameters).  0 or -errno. */
int catalog_sqlite_exec(struct catalog *cat, const char *sql);

/* Start a use of sql, prepared now; a failure waits for the step. */
void catalog_sqlite_prepare(struct catalog *cat, struct catalog_stmt *q, const char *sql,
			    const char *what);

/* Start a use of the connection's cached statement which. */
void catalog_sqlite_cached(struct catalog *cat, struct catalog_stmt *q,
			   enum catalog_sqlite_statement which, const char *what);

/*
 * Step q: 1 for a row, 0 when done, or -errno (recorded) when it, its
 * preparation or a binding failed.
 */
int catalog_sqlite_step(struct catalog_stmt *q);

/*
 * End the use of q (reset a cached statement, finalize another) and
 * return err; when err is 0, a failure to end is recorded and returned.
 */
int catalog_sqlite_end(struct catalog_stmt *q, int err);

/* Step q once (rows are not expected) and end it.  0 or -errno. */
int catalog_sqlite_run(struct catalog_stmt *q);

/*
 * Run sql once per item, binding each with bind(q, items, i), in one
 * transaction of its own (a batch in progress is committed first).
 */
int catalog_sqlite_run_each(struct catalog *cat, const char *sql, const char *what,
			    size_t count,
			    void (*bind)(struct catalog_stmt *q, const void *items, size_t i),
			    const void *items);

/* Bind a path (bytes, no terminating NUL) as a BLOB. */
static inline void sql_bind_path(struct catalog_stmt *q, int index, const char *path)
{
	if (q->rc == SQLITE_OK)
		q->rc = sqlite3_bind_blob(q->st, index, path, (int)strlen(path), SQLITE_STATIC);
}

/* Bind len bytes as a BLOB; they must outlive the use of q. */
static inline void sql_bind_blob(struct catalog_stmt *q, int index, const void *bytes,
				 size_t len)
{
	if (q->rc == SQLITE_OK)
		q->rc = sqlite3_bind_blob(q->st, index, bytes, (int)len, SQLITE_STATIC);
}

/* Bind text, or NULL when text is NULL. */
static inline void sql_bind_text(struct catalog_stmt *q, int index, const char *text)
{
	if (q->rc == SQLITE_OK)
		q->rc = text ? sqlite3_bind_text(q->st, index, text, -1, SQLITE_STATIC) :
			       sqlite3_bind_null(q->st, index);
}

static inline void sql_bind_int64(struct catalog_stmt *q, int index, int64_t value)
{
	if (q->rc == SQLITE_OK)
		q->rc = sqlite3_bind_int64(q->st, index, value);
}

/* True when q's statement has a parameter ?index (it is prepared and
 * uses ?index or one above): for binding where one caller serves several
 * statements. */
static inline bool sql_has_parameter(const struct catalog_stmt *q, int index)
{
	return q->rc == SQLITE_OK && index <= sqlite3_bind_parameter_count(q->st);
}

/*
 * Bind ?index and ?index + 1 to the byte range [prefix "/", prefix "0")
 * that holds prefix's descendants ('0' is the byte after '/').  *storage
 * holds the bytes until the caller frees it, after the use of q.
 */
int catalog_sqlite_bind_under(struct catalog_stmt *q, int index, const char *prefix,
			      char **storage);

/* The index of name among count names (states and statuses are stored
 * by name), or fallback when it is none of them or NULL. */
size_t catalog_sqlite_parse_name(const char *const *names, size_t count, const char *name,
				 size_t fallback);

/* A column as a new NUL-terminated string; NULL for SQL NULL or no memory. */
char *catalog_sqlite_column_string(sqlite3_stmt *st, int column);

/* ---- Transactions ---- */

/* Begin a transaction, or go on with the one in progress (an adoption batch). */
int catalog_sqlite_begin(struct catalog *cat);

/* Commit the batch in progress, if any, and begin a transaction of one's own. */
int catalog_sqlite_begin_alone(struct catalog *cat);

/* Commit the transaction in progress, if any. */
int catalog_sqlite_commit(struct catalog *cat);

/* Commit when err is 0, else roll back; returns err or the commit's failure. */
int catalog_sqlite_finish(struct catalog *cat, int err);

/* ---- Rows, shared by events, state changes and recovery ---- */

/* What the events need of the current (live or missing) row at a path. */
struct current_row {
	int64_t id;		/* 0 when there is none */
	bool missing;
	dev_t dev;
	ino_t ino;
};

/* The current row at path into *row (id 0 when none).  0 or -errno. */
int catalog_sqlite_find_current(struct catalog *cat, const char *path,
				struct current_row *row);

/* The id of the quarantined row kept at qname into *id, 0 when none. */
int catalog_sqlite_find_quarantined(struct catalog *cat, const char *qname, int64_t *id);

/* Add an audit entry (file_id 0: none; from, to, detail may be NULL). */
int catalog_sqlite_audit(struct catalog *cat, int64_t time_ms, int64_t file_id,
			 const char *path, const char *from, const char *to, const char *reason,
			 const char *detail);

/* Insert a live row at path for file (file->path is not used), audited
 * by the caller; the new id is sqlite3_last_insert_rowid(). */
int catalog_sqlite_insert_file(struct catalog *cat, const char *path,
			       const struct catalog_found *file, int64_t time_ms,
			       const char *reason);

/* The current row at path (if any) leaves for good, audited with reason. */
int catalog_sqlite_remove_current(struct catalog *cat, const char *path, int64_t time_ms,
				  const char *reason);

#endif
