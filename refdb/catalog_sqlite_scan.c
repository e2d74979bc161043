/*
 * catalog: the SQLite implementation of scans and pins (see
 * catalog_sqlite_i.h for the other parts).
 *
 * Layout of this file: scan statuses by name; the record of a scan; the
 * candidates a held scan keeps and an admin's decision; pins.
 */
#include "catalog_sqlite_i.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Scan statuses by name                                                */
/* ------------------------------------------------------------------ */

static const char *const scan_status_names[] = {
	[CATALOG_SCAN_RUNNING] = "running",
	[CATALOG_SCAN_DONE] = "done",
	[CATALOG_SCAN_HELD] = "held",
	[CATALOG_SCAN_CONFIRMED] = "confirmed",
	[CATALOG_SCAN_REJECTED] = "rejected",
	[CATALOG_SCAN_FAILED] = "failed",
	[CATALOG_SCAN_DRY_RUN] = "dry-run",
};

const char *catalog_scan_status_name(enum catalog_scan_status status)
{
	return scan_status_names[status];
}

static enum catalog_scan_status parse_scan_status(const char *name)
{
	return (enum catalog_scan_status)catalog_sqlite_parse_name(
		scan_status_names, sizeof(scan_status_names) / sizeof(scan_status_names[0]),
		name, CATALOG_SCAN_FAILED);
}

/* ------------------------------------------------------------------ */
/* The record of a scan                                                 */
/* ------------------------------------------------------------------ */

int catalog_scan_begin(struct catalog *cat, int64_t started_ms, const char *trigger,
		       int64_t *id)
{
	struct catalog_stmt q;
	int err = catalog_sqlite_commit(cat);

	if (err)
		return err;
	catalog_sqlite_prepare(cat, &q, "INSERT INTO scans (started_ms, trigger, status)"
			       " VALUES (?1, ?2, 'running')", "start a scan");
	sql_bind_int64(&q, 1, started_ms);
	sql_bind_text(&q, 2, trigger);
	err = catalog_sqlite_run(&q);
	if (!err)
		*id = sqlite3_last_insert_rowid(cat->db);
	return err;
}

int catalog_scan_end(struct catalog *cat, const struct catalog_scan *scan)
{
	struct catalog_stmt q;

	catalog_sqlite_prepare(cat, &q,
		"UPDATE scans SET finished_ms = ?2, status = ?3, live = ?4, referenced = ?5,"
		" candidates = ?6, quarantined = ?7, restored = ?8, purged = ?9, conflicts = ?10,"
		" hostile = ?11, message = ?12, decided_ms = nullif(?13, 0),"
		" hostile_examples = nullif(?14, ''), kept_open = ?15, respelled = ?16,"
		" near_misses = ?17, near_miss_examples = nullif(?18, '') WHERE id = ?1",
		"record a scan");
	sql_bind_int64(&q, 1, scan->id);
	sql_bind_int64(&q, 2, scan->finished_ms);
	sql_bind_text(&q, 3, scan_status_names[scan->status]);
	sql_bind_int64(&q, 4, (int64_t)scan->live);
	sql_bind_int64(&q, 5, (int64_t)scan->referenced);
	sql_bind_int64(&q, 6, (int64_t)scan->candidates);
	sql_bind_int64(&q, 7, (int64_t)scan->quarantined);
	sql_bind_int64(&q, 8, (int64_t)scan->restored);
	sql_bind_int64(&q, 9, (int64_t)scan->purged);
	sql_bind_int64(&q, 10, (int64_t)scan->conflicts);
	sql_bind_int64(&q, 11, (int64_t)scan->hostile);
	sql_bind_text(&q, 12, scan->message);
	sql_bind_int64(&q, 13, scan->decided_ms);
	sql_bind_text(&q, 14, scan->hostile_examples);
	sql_bind_int64(&q, 15, (int64_t)scan->kept_open);
	sql_bind_int64(&q, 16, (int64_t)scan->respelled);
	sql_bind_int64(&q, 17, (int64_t)scan->near_misses);
	sql_bind_text(&q, 18, scan->near_miss_examples);
	return catalog_sqlite_run(&q);
}

#define SCAN_COLUMNS \
	"id, started_ms, coalesce(finished_ms, 0), coalesce(decided_ms, 0), trigger, status," \
	" live, referenced, candidates, quarantined, restored, purged, conflicts, hostile," \
	" coalesce(message, ''), coalesce(hostile_examples, ''), kept_open, respelled, near_misses," \
	" coalesce(near_miss_examples, '')"

/* A text column into a fixed buffer, cut short if need be ("" for NULL). */
static void copy_text(sqlite3_stmt *st, int column, char *out, size_t size)
{
	const char *text = (const char *)sqlite3_column_text(st, column);

	snprintf(out, size, "%s", text ? text : "");
}

static void read_scan(sqlite3_stmt *st, struct catalog_scan *scan)
{
	memset(scan, 0, sizeof(*scan));
	scan->id = sqlite3_column_int64(st, 0);
	scan->started_ms = sqlite3_column_int64(st, 1);
	scan->finished_ms = sqlite3_column_int64(st, 2);
	scan->decided_ms = sqlite3_column_int64(st, 3);
	copy_text(st, 4, scan->trigger, sizeof(scan->trigger));
	scan->status = parse_scan_status((const char *)sqlite3_column_text(st, 5));
	scan->live = (uint64_t)sqlite3_column_int64(st, 6);
	scan->referenced = (uint64_t)sqlite3_column_int64(st, 7);
	scan->candidates = (uint64_t)sqlite3_column_int64(st, 8);
	scan->quarantined = (uint64_t)sqlite3_column_int64(st, 9);
	scan->restored = (uint64_t)sqlite3_column_int64(st, 10);
	scan->purged = (uint64_t)sqlite3_column_int64(st, 11);
	scan->conflicts = (uint64_t)sqlite3_column_int64(st, 12);
	scan->hostile = (uint64_t)sqlite3_column_int64(st, 13);
	copy_text(st, 14, scan->message, sizeof(scan->message));
	copy_text(st, 15, scan->hostile_examples, sizeof(scan->hostile_examples));
	scan->kept_open = (uint64_t)sqlite3_column_int64(st, 16);
	scan->respelled = (uint64_t)sqlite3_column_int64(st, 17);
	scan->near_misses = (uint64_t)sqlite3_column_int64(st, 18);
	copy_text(st, 19, scan->near_miss_examples, sizeof(scan->near_miss_examples));
}

/* The one scan sql selects (with ?1 = id when it has a parameter). */
static int scan_query_one(struct catalog *cat, const char *sql, int64_t id,
			  struct catalog_scan *scan)
{
	struct catalog_stmt q;
	int err;

	catalog_sqlite_prepare(cat, &q, sql, "read a scan");
	if (id)
		sql_bind_int64(&q, 1, id);
	err = catalog_sqlite_step(&q);
	if (err > 0)
		read_scan(q.st, scan);
	return catalog_sqlite_end(&q, err > 0 ? 0 : err == 0 ? -ENOENT : err);
}

int catalog_scan_get(struct catalog *cat, int64_t id, struct catalog_scan *scan)
{
	if (id == 0)
		return scan_query_one(cat, "SELECT " SCAN_COLUMNS " FROM scans ORDER BY id DESC"
				      " LIMIT 1", 0, scan);
	return scan_query_one(cat, "SELECT " SCAN_COLUMNS " FROM scans WHERE id = ?1", id, scan);
}

int catalog_scan_get_held(struct catalog *cat, struct catalog_scan *scan)
{
	return scan_query_one(cat, "SELECT " SCAN_COLUMNS " FROM scans WHERE status = 'held'"
			      " ORDER BY id DESC LIMIT 1", 0, scan);
}

/* ------------------------------------------------------------------ */
/* Held scans: their candidates and an admin's decision                 */
/* ------------------------------------------------------------------ */

struct candidates {
	int64_t scan_id;
	const int64_t *file_ids;
};

static void bind_candidate(struct catalog_stmt *q, const void *items, size_t i)
{
	const struct candidates *candidates = items;

	sql_bind_int64(q, 1, candidates->scan_id);
	sql_bind_int64(q, 2, candidates->file_ids[i]);
}

int catalog_scan_keep_candidates(struct catalog *cat, int64_t scan_id,
				 const int64_t *file_ids, size_t count)
{
	const struct candidates candidates = { .scan_id = scan_id, .file_ids = file_ids };

	return catalog_sqlite_run_each(cat, "INSERT OR IGNORE INTO scan_candidates"
				       " (scan_id, file_id) VALUES (?1, ?2)", "keep candidates",
				       count, bind_candidate, &candidates);
}

int catalog_scan_each_candidate(struct catalog *cat, int64_t scan_id,
				int (*fn)(void *ctx, int64_t file_id), void *ctx)
{
	struct catalog_stmt q;
	int ret;

	catalog_sqlite_prepare(cat, &q, "SELECT file_id FROM scan_candidates"
			       " WHERE scan_id = ?1", "read candidates");
	sql_bind_int64(&q, 1, scan_id);
	while ((ret = catalog_sqlite_step(&q)) > 0) {
		ret = fn(ctx, sqlite3_column_int64(q.st, 0));
		if (ret)
			break;
	}
	return catalog_sqlite_end(&q, ret);
}

int catalog_scan_decide(struct catalog *cat, int64_t scan_id,
			enum catalog_scan_status decision, int64_t now_ms)
{
	struct catalog_stmt q;
	int err;

	catalog_sqlite_prepare(cat, &q, "UPDATE scans SET status = ?2, decided_ms = ?3"
			       " WHERE id = ?1 AND status = 'held'", "decide a scan");
	sql_bind_int64(&q, 1, scan_id);
	sql_bind_text(&q, 2, scan_status_names[decision]);
	sql_bind_int64(&q, 3, now_ms);
	err = catalog_sqlite_run(&q);
	if (err)
		return err;
	if (sqlite3_changes(cat->db) == 0) {
		snprintf(cat->error, sizeof(cat->error), "scan %lld is not held",
			 (long long)scan_id);
		return -ENOENT;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Pins                                                                 */
/* ------------------------------------------------------------------ */

int catalog_pin_add(struct catalog *cat, const char *pattern, int64_t now_ms)
{
	struct catalog_stmt q;

	catalog_sqlite_prepare(cat, &q, "INSERT OR IGNORE INTO pins (pattern, created_ms)"
			       " VALUES (?1, ?2)", "pin");
	sql_bind_path(&q, 1, pattern);
	sql_bind_int64(&q, 2, now_ms);
	return catalog_sqlite_run(&q);
}

int catalog_pin_remove(struct catalog *cat, const char *pattern)
{
	struct catalog_stmt q;
	int err;

	catalog_sqlite_prepare(cat, &q, "DELETE FROM pins WHERE pattern = ?1", "unpin");
	sql_bind_path(&q, 1, pattern);
	err = catalog_sqlite_run(&q);
	if (err)
		return err;
	return sqlite3_changes(cat->db) ? 0 : -ENOENT;
}

int catalog_each_pin(struct catalog *cat,
		     int (*fn)(void *ctx, const char *pattern, int64_t created_ms), void *ctx)
{
	struct catalog_stmt q;
	int ret;

	catalog_sqlite_prepare(cat, &q, "SELECT pattern, created_ms FROM pins"
			       " ORDER BY pattern", "read pins");
	while ((ret = catalog_sqlite_step(&q)) > 0) {
		char *pattern = catalog_sqlite_column_string(q.st, 0);
		ret = pattern ? fn(ctx, pattern, sqlite3_column_int64(q.st, 1)) : -ENOMEM;
		free(pattern);
		if (ret)
			break;
	}
	return catalog_sqlite_end(&q, ret);
}
