/*
 * catalog: the SQLite implementation of queries (see catalog_sqlite_i.h
 * for the other parts).
 *
 * Layout of this file: states by name; whole rows; the audit log; totals
 * and counts for status and metrics; the lean pass a scan makes.
 *
 * Nothing here writes.  Strings handed to a callback are borrowed for the
 * call; rows handed to one are cleared after it.
 */
#include "catalog_sqlite_i.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* States by name                                                       */
/* ------------------------------------------------------------------ */

static const char *const state_names[] = {
	[CATALOG_LIVE] = "live",
	[CATALOG_QUARANTINED] = "quarantined",
	[CATALOG_PURGED] = "purged",
	[CATALOG_MISSING] = "missing",
};

const char *catalog_state_name(enum catalog_state state)
{
	return state_names[state];
}

static enum catalog_state parse_state(const char *name)
{
	return (enum catalog_state)catalog_sqlite_parse_name(
		state_names, sizeof(state_names) / sizeof(state_names[0]), name, CATALOG_MISSING);
}

/* ------------------------------------------------------------------ */
/* Whole rows                                                           */
/* ------------------------------------------------------------------ */

/* A row of ROW_COLUMNS into *row: 0, or -ENOMEM with *row cleared. */
static int read_row(sqlite3_stmt *st, struct catalog_row *row)
{
	const char *kind = (const char *)sqlite3_column_text(st, 2);
	const char *state = (const char *)sqlite3_column_text(st, 10);

	row->id = sqlite3_column_int64(st, 0);
	row->path = catalog_sqlite_column_string(st, 1);
	row->kind = kind && strcmp(kind, "symlink") == 0 ? CATALOG_SYMLINK : CATALOG_FILE;
	row->dev = (dev_t)sqlite3_column_int64(st, 3);
	row->ino = (ino_t)sqlite3_column_int64(st, 4);
	row->size = sqlite3_column_int64(st, 5);
	row->mtime_ms = sqlite3_column_int64(st, 6);
	row->first_seen_ms = sqlite3_column_int64(st, 7);
	row->last_written_ms = sqlite3_column_int64(st, 8);
	row->activity_ms = sqlite3_column_int64(st, 9);
	row->state = parse_state(state);
	row->state_changed_ms = sqlite3_column_int64(st, 11);
	row->state_reason = catalog_sqlite_column_string(st, 12);
	row->quarantine_name = catalog_sqlite_column_string(st, 13);
	row->scan_id = sqlite3_column_int64(st, 14);
	row->last_referenced_ms = sqlite3_column_int64(st, 15);
	row->access_restores = sqlite3_column_int64(st, 16);
	if (row->path && row->state_reason &&
	    (row->quarantine_name || sqlite3_column_type(st, 13) == SQLITE_NULL))
		return 0;
	catalog_row_clear(row);
	return -ENOMEM;
}

void catalog_row_clear(struct catalog_row *row)
{
	free(row->path);
	free(row->state_reason);
	free(row->quarantine_name);
	memset(row, 0, sizeof(*row));
}

/* The one row q selects: 0, -ENOENT when there is none, or -errno. */
static int read_one_row(struct catalog_stmt *q, struct catalog_row *row)
{
	int err = catalog_sqlite_step(q);

	memset(row, 0, sizeof(*row));
	if (err > 0)
		err = read_row(q->st, row);
	else if (!err)
		err = -ENOENT;
	return catalog_sqlite_end(q, err);
}

int catalog_get_current(struct catalog *cat, const char *path, struct catalog_row *row)
{
	struct catalog_stmt q;

	catalog_sqlite_cached(cat, &q, ST_GET_CURRENT, "read a row");
	sql_bind_path(&q, 1, path);
	return read_one_row(&q, row);
}

int catalog_get_row(struct catalog *cat, int64_t id, struct catalog_row *row)
{
	struct catalog_stmt q;

	catalog_sqlite_prepare(cat, &q, "SELECT " ROW_COLUMNS " FROM files WHERE id = ?1",
			       "read a row");
	sql_bind_int64(&q, 1, id);
	return read_one_row(&q, row);
}

/* Append a condition to a WHERE clause being built. */
static void add_condition(char *sql, size_t size, const char *condition)
{
	size_t len = strlen(sql);

	snprintf(sql + len, size - len, "%s%s", strstr(sql, " WHERE ") ? " AND " : " WHERE ",
		 condition);
}

/* The statement of catalog_query_rows(): each filter that is set has its
 * own parameter, which catalog_query_rows() binds. */
static void build_row_query(const struct catalog_filter *filter, char *sql, size_t size)
{
	snprintf(sql, size, "SELECT " ROW_COLUMNS " FROM files");
	if (filter->prefix && filter->prefix[0])
		add_condition(sql, size, "(path = ?1 OR (path >= ?2 AND path < ?3))");
	if (filter->state >= 0)
		add_condition(sql, size, "+state = ?4");
	if (filter->changed_before_ms)
		add_condition(sql, size,
			      "(CASE state WHEN 'live' THEN activity_ms ELSE state_changed_ms END) < ?5");
	if (filter->larger_than)
		add_condition(sql, size, "size > ?6");
	if (filter->scan_id)
		add_condition(sql, size, "scan_id = ?7");
	if (filter->state_changed_since_ms)
		add_condition(sql, size, "state_changed_ms >= ?8");
	if (filter->path)
		add_condition(sql, size, "path = ?9");
	snprintf(sql + strlen(sql), size - strlen(sql), " ORDER BY path, id%s",
		 filter->limit ? " LIMIT ?10" : "");
}

int catalog_query_rows(struct catalog *cat, const struct catalog_filter *filter,
		       int (*fn)(void *ctx, const struct catalog_row *row), void *ctx)
{
	char sql[1024];
	char *range = NULL;
	struct catalog_stmt q;
	int ret = 0;

	build_row_query(filter, sql, sizeof(sql));
	catalog_sqlite_prepare(cat, &q, sql, "query rows");
	if (filter->prefix && filter->prefix[0]) {
		sql_bind_path(&q, 1, filter->prefix);
		ret = catalog_sqlite_bind_under(&q, 2, filter->prefix, &range);
	}
	if (filter->state >= 0)
		sql_bind_text(&q, 4, state_names[filter->state]);
	if (filter->changed_before_ms)
		sql_bind_int64(&q, 5, filter->changed_before_ms);
	if (filter->larger_than)
		sql_bind_int64(&q, 6, filter->larger_than);
	if (filter->scan_id)
		sql_bind_int64(&q, 7, filter->scan_id);
	if (filter->state_changed_since_ms)
		sql_bind_int64(&q, 8, filter->state_changed_since_ms);
	if (filter->path)
		sql_bind_path(&q, 9, filter->path);
	if (filter->limit)
		sql_bind_int64(&q, 10, (int64_t)filter->limit);
	while (!ret && (ret = catalog_sqlite_step(&q)) > 0) {
		struct catalog_row row;
		ret = read_row(q.st, &row);
		if (!ret)
			ret = fn(ctx, &row);
		catalog_row_clear(&row);
	}
	ret = catalog_sqlite_end(&q, ret);
	free(range);
	return ret;
}

/* ------------------------------------------------------------------ */
/* The audit log                                                        */
/* ------------------------------------------------------------------ */

static void audit_clear(struct catalog_audit *entry)
{
	free(entry->path);
	free(entry->from_state);
	free(entry->to_state);
	free(entry->reason);
	free(entry->detail);
}

int catalog_query_audit(struct catalog *cat, int64_t since_ms, const char *path,
			size_t limit,
			int (*fn)(void *ctx, const struct catalog_audit *entry), void *ctx)
{
	struct catalog_stmt q;
	int ret;

	catalog_sqlite_prepare(cat, &q,
		"SELECT * FROM (SELECT id, time_ms, file_id, path, from_state, to_state, reason,"
		" detail FROM audit WHERE time_ms >= ?1 AND (?2 IS NULL OR"
		" path = ?2 OR file_id IN (SELECT file_id FROM audit WHERE path = ?2"
		" AND file_id IS NOT NULL))"
		" ORDER BY id DESC LIMIT ?3) ORDER BY id", "read the audit log");
	sql_bind_int64(&q, 1, since_ms);
	if (path)
		sql_bind_path(&q, 2, path);
	sql_bind_int64(&q, 3, limit ? (int64_t)limit : -1);
	while ((ret = catalog_sqlite_step(&q)) > 0) {
		struct catalog_audit entry = {
			.id = sqlite3_column_int64(q.st, 0),
			.time_ms = sqlite3_column_int64(q.st, 1),
			.file_id = sqlite3_column_int64(q.st, 2),
			.path = catalog_sqlite_column_string(q.st, 3),
			.from_state = catalog_sqlite_column_string(q.st, 4),
			.to_state = catalog_sqlite_column_string(q.st, 5),
			.reason = catalog_sqlite_column_string(q.st, 6),
			.detail = catalog_sqlite_column_string(q.st, 7),
		};
		/* path and reason are never NULL in the table. */
		ret = entry.path && entry.reason ? fn(ctx, &entry) : -ENOMEM;
		audit_clear(&entry);
		if (ret)
			break;
	}
	return catalog_sqlite_end(&q, ret);
}

/* ------------------------------------------------------------------ */
/* Totals and counts                                                    */
/* ------------------------------------------------------------------ */

int catalog_totals_by_state(struct catalog *cat, uint64_t counts[4], uint64_t bytes[4])
{
	struct catalog_stmt q;
	int ret;

	memset(counts, 0, 4 * sizeof(counts[0]));
	memset(bytes, 0, 4 * sizeof(bytes[0]));
	catalog_sqlite_prepare(cat, &q, "SELECT state, count(*), sum(max(size, 0))"
			       " FROM files GROUP BY state", "count rows");
	while ((ret = catalog_sqlite_step(&q)) > 0) {
		enum catalog_state state =
			parse_state((const char *)sqlite3_column_text(q.st, 0));
		counts[state] += (uint64_t)sqlite3_column_int64(q.st, 1);
		bytes[state] += (uint64_t)sqlite3_column_int64(q.st, 2);
	}
	return catalog_sqlite_end(&q, ret);
}

int catalog_each_access_restored(struct catalog *cat,
				 int (*fn)(void *ctx, const char *path, ino_t ino), void *ctx)
{
	struct catalog_stmt q;
	int ret;

	catalog_sqlite_prepare(cat, &q, "SELECT path, ino FROM files WHERE access_restores > 0"
			       " AND state IN ('live', 'quarantined')",
			       "read the restores by access");
	while ((ret = catalog_sqlite_step(&q)) > 0) {
		char *path = catalog_sqlite_column_string(q.st, 0);
		ret = path ? fn(ctx, path, (ino_t)sqlite3_column_int64(q.st, 1)) : -ENOMEM;
		free(path);
		if (ret)
			break;
	}
	return catalog_sqlite_end(&q, ret);
}

int catalog_each_count(struct catalog *cat, enum catalog_count_kind kind,
		       int (*fn)(void *ctx, const char *group, const char *name,
				 uint64_t count),
		       void *ctx)
{
	/* One pass over the scans, or over the audit log: the changes of
	 * state, by the state reached and why. */
	static const char *const queries[] = {
		[CATALOG_COUNT_SCANS] = "SELECT 'scans', status, count(*) FROM scans"
					" GROUP BY status",
		[CATALOG_COUNT_TRANSITIONS] = "SELECT CASE to_state WHEN 'live' THEN 'restored'"
					      " ELSE to_state END, reason, count(*) FROM audit"
					      " WHERE (to_state IN ('quarantined', 'purged')"
					      " AND from_state IS NOT to_state)"
					      " OR (to_state = 'live' AND from_state = 'quarantined')"
					      " GROUP BY 1, 2",
	};
	struct catalog_stmt q;
	int ret;

	catalog_sqlite_prepare(cat, &q, queries[kind], "count");
	while ((ret = catalog_sqlite_step(&q)) > 0) {
		ret = fn(ctx, (const char *)sqlite3_column_text(q.st, 0),
			 (const char *)sqlite3_column_text(q.st, 1),
			 (uint64_t)sqlite3_column_int64(q.st, 2));
		if (ret)
			break;
	}
	return catalog_sqlite_end(&q, ret);
}

/* ------------------------------------------------------------------ */
/* The pass of a scan                                                   */
/* ------------------------------------------------------------------ */

/* Call fn with the scan row under q's cursor, its path terminated. */
static int call_with_scan_row(struct catalog_stmt *q, enum catalog_state state,
			      int (*fn)(void *ctx, const struct catalog_scan_row *row),
			      void *ctx)
{
	sqlite3_stmt *st = q->st;
	struct catalog_scan_row row = {
		.id = sqlite3_column_int64(st, 0),
		.path = sqlite3_column_blob(st, 1),
		.path_len = (size_t)sqlite3_column_bytes(st, 1),
		.state = state,
		.ino = (ino_t)sqlite3_column_int64(st, 2),
		.born_ms = sqlite3_column_int64(st, 3),
		.activity_ms = sqlite3_column_int64(st, 4),
		.state_changed_ms = sqlite3_column_int64(st, 5),
		.last_referenced_ms = sqlite3_column_int64(st, 6),
		.quarantine_name = sqlite3_column_type(st, 7) == SQLITE_NULL ? NULL :
				   (const char *)sqlite3_column_text(st, 7),
		.kind = sqlite3_column_int(st, 8) ? CATALOG_SYMLINK : CATALOG_FILE,
	};
	/* A path is bytes without NUL; the blob is not terminated. */
	char stack[512], *path = row.path_len < sizeof(stack) ? stack :
				 malloc(row.path_len + 1);
	int ret;

	if (!path)
		return -ENOMEM;
	if (row.path_len)
		memcpy(path, row.path, row.path_len);
	path[row.path_len] = '\0';
	row.path = path;
	ret = fn(ctx, &row);
	if (path != stack)
		free(path);
	return ret;
}

int catalog_each_scan_row(struct catalog *cat, enum catalog_state state,
			  int (*fn)(void *ctx, const struct catalog_scan_row *row),
			  void *ctx)
{
	struct catalog_stmt q;
	int ret;

	catalog_sqlite_prepare(cat, &q, "SELECT id, path, ino,"
			       " min(first_seen_ms, coalesce(last_written_ms, first_seen_ms)),"
			       " activity_ms, state_changed_ms, coalesce(last_referenced_ms, 0),"
			       " quarantine_name, kind = 'symlink'"
			       " FROM files WHERE +state = ?1", "read rows");
	sql_bind_text(&q, 1, state_names[state]);
	while ((ret = catalog_sqlite_step(&q)) > 0) {
		ret = call_with_scan_row(&q, state, fn, ctx);
		if (ret)
			break;
	}
	return catalog_sqlite_end(&q, ret);
}
