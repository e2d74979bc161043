/*
 * catalog: the SQLite implementation of events and adoption (see
 * catalog_sqlite_i.h for the other parts).
 *
 * Layout of this file: the row primitives that state changes share
 * (find, audit, insert, remove); events; adoption; sizing what adoption
 * left unsized.
 *
 * Events are applied forgivingly, since events from concurrent FUSE
 * requests may arrive slightly out of order: a write to an unknown file
 * adds it, a rename of an unknown file adds the new path, and so on.
 */
#include "catalog_sqlite_i.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[] = {
	[CATALOG_FILE] = "file",
	[CATALOG_SYMLINK] = "symlink",
};

/* ------------------------------------------------------------------ */
/* Row primitives                                                       */
/* ------------------------------------------------------------------ */

int catalog_sqlite_find_current(struct catalog *cat, const char *path,
				struct current_row *row)
{
	struct catalog_stmt q;
	const char *state;
	int err;

	memset(row, 0, sizeof(*row));
	catalog_sqlite_cached(cat, &q, ST_FIND_CURRENT, "find a path");
	sql_bind_path(&q, 1, path);
	err = catalog_sqlite_step(&q);
	if (err > 0) {
		state = (const char *)sqlite3_column_text(q.st, 1);
		row->id = sqlite3_column_int64(q.st, 0);
		row->missing = state && strcmp(state, "missing") == 0;
		row->dev = (dev_t)sqlite3_column_int64(q.st, 2);
		row->ino = (ino_t)sqlite3_column_int64(q.st, 3);
		err = state ? 0 : catalog_sqlite_fail(cat, SQLITE_NOMEM, "find a path");
	}
	return catalog_sqlite_end(&q, err);
}

int catalog_sqlite_find_quarantined(struct catalog *cat, const char *qname, int64_t *id)
{
	struct catalog_stmt q;
	int err;

	*id = 0;
	catalog_sqlite_prepare(cat, &q, "SELECT id FROM files WHERE quarantine_name = ?1"
			       " AND state = 'quarantined'", "find a quarantined file");
	sql_bind_path(&q, 1, qname);
	err = catalog_sqlite_step(&q);
	if (err > 0) {
		*id = sqlite3_column_int64(q.st, 0);
		err = 0;
	}
	return catalog_sqlite_end(&q, err);
}

int catalog_sqlite_audit(struct catalog *cat, int64_t time_ms, int64_t file_id,
			 const char *path, const char *from, const char *to, const char *reason,
			 const char *detail)
{
	struct catalog_stmt q;

	catalog_sqlite_cached(cat, &q, ST_INSERT_AUDIT, "add to the audit log");
	sql_bind_int64(&q, 1, time_ms);
	if (file_id)
		sql_bind_int64(&q, 2, file_id);
	sql_bind_path(&q, 3, path);
	sql_bind_text(&q, 4, from);
	sql_bind_text(&q, 5, to);
	sql_bind_text(&q, 6, reason);
	sql_bind_text(&q, 7, detail);
	return catalog_sqlite_run(&q);
}

/* ?2 to ?7 of ST_INSERT_FILE, ST_REVIVE and ST_RECREATE. */
static void bind_file(struct catalog_stmt *q, const struct catalog_found *file,
		      int64_t time_ms)
{
	sql_bind_text(q, 2, kind_names[file->kind]);
	sql_bind_int64(q, 3, (int64_t)file->dev);
	sql_bind_int64(q, 4, (int64_t)file->ino);
	sql_bind_int64(q, 5, file->size);
	sql_bind_int64(q, 6, file->mtime_ms);
	sql_bind_int64(q, 7, time_ms);
}

int catalog_sqlite_insert_file(struct catalog *cat, const char *path,
			       const struct catalog_found *file, int64_t time_ms,
			       const char *reason)
{
	struct catalog_stmt q;

	catalog_sqlite_cached(cat, &q, ST_INSERT_FILE, "record a new file");
	sql_bind_path(&q, 1, path);
	bind_file(&q, file, time_ms);
	sql_bind_text(&q, 8, reason);
	return catalog_sqlite_run(&q);
}

/* A statement that takes a row's id as ?1 and nothing else. */
static int run_on_id(struct catalog *cat, enum catalog_sqlite_statement which, int64_t id,
		     const char *what)
{
	struct catalog_stmt q;

	catalog_sqlite_cached(cat, &q, which, what);
	sql_bind_int64(&q, 1, id);
	return catalog_sqlite_run(&q);
}

/* While adopting, a path that left (or a directory whose files left) must
 * not be adopted again from what the walk saw before. */
static int note_gone(struct catalog *cat, const char *path, bool is_dir)
{
	struct catalog_stmt q;

	if (!cat->adopting)
		return 0;
	catalog_sqlite_cached(cat, &q, ST_ADOPT_GONE, "note a path gone during adoption");
	sql_bind_path(&q, 1, path);
	sql_bind_int64(&q, 2, is_dir);
	return catalog_sqlite_run(&q);
}

int catalog_sqlite_remove_current(struct catalog *cat, const char *path, int64_t time_ms,
				  const char *reason)
{
	struct current_row row;
	int err = catalog_sqlite_find_current(cat, path, &row);

	if (!err)
		err = note_gone(cat, path, false);
	if (err || !row.id)
		return err;
	err = run_on_id(cat, ST_DELETE, row.id, "forget a removed file");
	if (err)
		return err;
	return catalog_sqlite_audit(cat, time_ms, row.id, path,
				    row.missing ? "missing" : "live", NULL, reason, NULL);
}

/* ------------------------------------------------------------------ */
/* Events                                                               */
/* ------------------------------------------------------------------ */

/* A file is at path now: insert it, revive a missing row, or refresh the
 * live row (a new file at the same path, or an event seen twice). */
static int apply_present(struct catalog *cat, const struct catalog_event *ev,
			 const char *reason)
{
	const struct catalog_found file = {
		.kind = ev->file_kind, .dev = ev->dev, .ino = ev->ino, .size = ev->size,
		.mtime_ms = ev->mtime_ms,
	};
	struct current_row row;
	struct catalog_stmt q;
	int err = catalog_sqlite_find_current(cat, ev->path, &row);

	if (err)
		return err;
	if (row.id && !row.missing && row.ino == ev->ino && row.dev == ev->dev)
		return 0;
	if (!row.id) {
		err = catalog_sqlite_insert_file(cat, ev->path, &file, ev->time_ms, reason);
		if (err)
			return err;
		return catalog_sqlite_audit(cat, ev->time_ms, sqlite3_last_insert_rowid(cat->db),
					    ev->path, NULL, "live", reason, NULL);
	}
	catalog_sqlite_cached(cat, &q, row.missing ? ST_REVIVE : ST_RECREATE,
			      "record a new file");
	sql_bind_int64(&q, 1, row.id);
	bind_file(&q, &file, ev->time_ms);
	if (row.missing)
		sql_bind_text(&q, 8, reason);
	err = catalog_sqlite_run(&q);
	if (err)
		return err;
	if (row.missing)
		return catalog_sqlite_audit(cat, ev->time_ms, row.id, ev->path, "missing", "live",
					    reason, NULL);
	return catalog_sqlite_audit(cat, ev->time_ms, row.id, ev->path, "live", "live",
				    "replaced-in-place", NULL);
}

/* ST_UPDATE_WRITTEN or ST_UPDATE_WRITTEN_QUARANTINED for ev. */
static int update_written(struct catalog *cat, enum catalog_sqlite_statement which,
			  const struct catalog_event *ev, const char *what)
{
	struct catalog_stmt q;

	catalog_sqlite_cached(cat, &q, which, what);
	sql_bind_int64(&q, 1, (int64_t)ev->dev);
	sql_bind_int64(&q, 2, (int64_t)ev->ino);
	sql_bind_int64(&q, 3, ev->size);
	sql_bind_int64(&q, 4, ev->mtime_ms);
	sql_bind_int64(&q, 5, ev->time_ms);
	return catalog_sqlite_run(&q);
}

/*
 * A write to a quarantined file, through a descriptor opened before it
 * went there (unlinked or replaced while open): its row records it, with
 * an audit line.  Returns 0, -ENOENT when no quarantined row has the
 * inode, or -errno.
 */
static int apply_written_quarantined(struct catalog *cat, const struct catalog_event *ev)
{
	struct catalog_stmt q;
	int err;

	catalog_sqlite_cached(cat, &q, ST_AUDIT_WRITTEN_QUARANTINED,
			      "audit a write in the quarantine");
	sql_bind_int64(&q, 1, (int64_t)ev->dev);
	sql_bind_int64(&q, 2, (int64_t)ev->ino);
	sql_bind_int64(&q, 3, ev->time_ms);
	err = catalog_sqlite_run(&q);
	if (err)
		return err;
	if (sqlite3_changes(cat->db) == 0)
		return -ENOENT;
	return update_written(cat, ST_UPDATE_WRITTEN_QUARANTINED, ev,
			      "record a write in the quarantine");
}

static int apply_written(struct catalog *cat, const struct catalog_event *ev)
{
	int err = update_written(cat, ST_UPDATE_WRITTEN, ev, "record a write");

	if (err || sqlite3_changes(cat->db) > 0)
		return err;
	err = apply_written_quarantined(cat, ev);
	if (err != -ENOENT || !ev->path)
		return err == -ENOENT ? 0 : err;
	/* Unknown inode: a file the catalog has not met yet. */
	return apply_present(cat, ev, "written");
}

/*
 * The startup reconcile met the file in the quarantine before its event
 * was applied and recorded it as found there: the event's row, which
 * has the file's history, takes the name, and the twin goes.
 */
static int drop_twin(struct catalog *cat, int64_t twin, const struct catalog_event *ev)
{
	int err = run_on_id(cat, ST_DELETE, twin, "drop a file recorded twice");

	if (err)
		return err;
	return catalog_sqlite_audit(cat, ev->time_ms, twin, ev->path, "quarantined", NULL,
				    "recorded by its event", ev->quarantine_name);
}

static int apply_quarantined(struct catalog *cat, const struct catalog_event *ev)
{
	struct current_row row;
	struct catalog_stmt q;
	int64_t twin;
	int err = catalog_sqlite_find_current(cat, ev->path, &row);

	if (!err)
		err = note_gone(cat, ev->path, false);
	if (err)
		return err;
	if (!row.id) {
		/* Quarantined before its creation was recorded: record both. */
		err = apply_present(cat, ev, "created");
		if (!err)
			err = catalog_sqlite_find_current(cat, ev->path, &row);
		if (err)
			return err;
	}
	err = catalog_sqlite_find_quarantined(cat, ev->quarantine_name, &twin);
	if (!err && twin && twin != row.id)
		err = drop_twin(cat, twin, ev);
	if (err)
		return err;
	catalog_sqlite_cached(cat, &q, ST_SET_QUARANTINED, "record a quarantine");
	sql_bind_int64(&q, 1, row.id);
	sql_bind_int64(&q, 2, ev->time_ms);
	sql_bind_text(&q, 3, ev->reason);
	sql_bind_path(&q, 4, ev->quarantine_name);
	err = catalog_sqlite_run(&q);
	if (err)
		return err;
	return catalog_sqlite_audit(cat, ev->time_ms, row.id, ev->path,
				    row.missing ? "missing" : "live", "quarantined", ev->reason,
				    ev->quarantine_name);
}

static int set_path(struct catalog *cat, int64_t id, const char *path, int64_t time_ms)
{
	struct catalog_stmt q;

	catalog_sqlite_cached(cat, &q, ST_SET_PATH, "move a path");
	sql_bind_int64(&q, 1, id);
	sql_bind_path(&q, 2, path);
	sql_bind_int64(&q, 3, time_ms);
	return catalog_sqlite_run(&q);
}

static int delete_missing_at(struct catalog *cat, const char *path)
{
	struct catalog_stmt q;

	catalog_sqlite_cached(cat, &q, ST_DELETE_MISSING_AT, "drop a missing row");
	sql_bind_path(&q, 1, path);
	return catalog_sqlite_run(&q);
}

static int apply_renamed_file(struct catalog *cat, const char *from, const char *to,
			      int64_t time_ms)
{
	struct current_row source, target;
	int err = catalog_sqlite_find_current(cat, from, &source);

	if (!err)
		err = catalog_sqlite_find_current(cat, to, &target);
	if (!err)
		err = note_gone(cat, from, false);
	if (err)
		return err;
	/* A live file at the target was replaced without a quarantine. */
	if (target.id && !target.missing) {
		err = catalog_sqlite_remove_current(cat, to, time_ms, "replaced");
		if (err)
			return err;
	} else if (target.id) {
		err = delete_missing_at(cat, to);
		if (err)
			return err;
	}
	if (!source.id)
		return 0;	/* unknown before: adoption or a later event adds it */
	err = set_path(cat, source.id, to, time_ms);
	if (err)
		return err;
	return catalog_sqlite_audit(cat, time_ms, source.id, to, "live", "live", "renamed",
				    from);
}

/*
 * Run one of the statements over the descendants of directory from:
 * ?1 and ?2 the range, and when to is given ?3 the new prefix, ?4 the
 * length of the old one, ?5 the time.
 */
static int run_on_prefix(struct catalog *cat, enum catalog_sqlite_statement which,
			 const char *from, const char *to, int64_t time_ms, const char *what)
{
	struct catalog_stmt q;
	char *range;
	int err;

	catalog_sqlite_cached(cat, &q, which, what);
	err = catalog_sqlite_bind_under(&q, 1, from, &range);
	if (!err && to) {
		sql_bind_path(&q, 3, to);
		sql_bind_int64(&q, 4, (int64_t)strlen(from));
		sql_bind_int64(&q, 5, time_ms);
	}
	err = err ? catalog_sqlite_end(&q, err) : catalog_sqlite_run(&q);
	free(range);
	return err;
}

static int apply_renamed_dir(struct catalog *cat, const char *from, const char *to,
			     int64_t time_ms)
{
	int err = note_gone(cat, from, true);

	if (!err)
		err = run_on_prefix(cat, ST_DELETE_MISSING_UNDER, to, NULL, time_ms,
				    "drop missing rows under a directory");
	if (!err)
		err = run_on_prefix(cat, ST_AUDIT_DIR_RENAME, from, to, time_ms,
				    "audit a directory rename");
	if (!err)
		err = run_on_prefix(cat, ST_RENAME_DIR, from, to, time_ms,
				    "rename a directory");
	return err;
}

static int apply_renamed(struct catalog *cat, const char *from, const char *to,
			 bool is_dir, int64_t time_ms)
{
	return is_dir ? apply_renamed_dir(cat, from, to, time_ms) :
			apply_renamed_file(cat, from, to, time_ms);
}

/* a and b swapped: move a aside, b to a, then a's old self to b. */
static int apply_exchanged(struct catalog *cat, const struct catalog_event *ev)
{
	static const char aside_suffix[] = "\n.mediafs-exchange";
	size_t len = strlen(ev->path);
	char *aside = malloc(len + sizeof(aside_suffix));
	int err;

	if (!aside)
		return -ENOMEM;
	memcpy(aside, ev->path, len);
	memcpy(aside + len, aside_suffix, sizeof(aside_suffix));
	err = apply_renamed(cat, ev->path, aside, ev->is_dir, ev->time_ms);
	if (!err)
		err = apply_renamed(cat, ev->path2, ev->path, ev->is_dir2, ev->time_ms);
	if (!err)
		err = apply_renamed(cat, aside, ev->path2, ev->is_dir, ev->time_ms);
	if (!err)
		err = note_gone(cat, ev->path2, ev->is_dir2);
	free(aside);
	return err;
}

/* The file at quarantine_name is back at path: the disk is the truth, so
 * a stale current row at path gives way. */
static int apply_restored(struct catalog *cat, const struct catalog_event *ev)
{
	struct current_row current;
	struct catalog_stmt q;
	int64_t id;
	int err = catalog_sqlite_find_quarantined(cat, ev->quarantine_name, &id);

	if (!err)
		err = catalog_sqlite_find_current(cat, ev->path, &current);
	if (err || !id)
		return err;
	if (current.id) {
		err = catalog_sqlite_remove_current(cat, ev->path, ev->time_ms,
						    "superseded by a restore");
		if (err)
			return err;
	}
	/* Restores by access are counted, so that they converge (safekeep.h). */
	catalog_sqlite_prepare(cat, &q, "UPDATE files SET state = 'live', path = ?2,"
			       " quarantine_name = NULL, state_changed_ms = ?3, activity_ms = ?3,"
			       " state_reason = ?4, access_restores = access_restores +"
			       " (?4 = '" CATALOG_REASON_ACCESSED "') WHERE id = ?1",
			       "record a restore");
	sql_bind_int64(&q, 1, id);
	sql_bind_path(&q, 2, ev->path);
	sql_bind_int64(&q, 3, ev->time_ms);
	sql_bind_text(&q, 4, ev->reason);
	err = catalog_sqlite_run(&q);
	if (err)
		return err;
	return catalog_sqlite_audit(cat, ev->time_ms, id, ev->path, "quarantined", "live",
				    ev->reason, ev->quarantine_name);
}

static int apply_event(struct catalog *cat, const struct catalog_event *ev)
{
	switch (ev->kind) {
	case CATALOG_EVENT_CREATED:
		return apply_present(cat, ev, "created");
	case CATALOG_EVENT_LINKED:
		return apply_present(cat, ev, "linked");
	case CATALOG_EVENT_WRITTEN:
		return apply_written(cat, ev);
	case CATALOG_EVENT_RENAMED:
		return apply_renamed(cat, ev->path, ev->path2, false, ev->time_ms);
	case CATALOG_EVENT_RENAMED_DIR:
		return apply_renamed(cat, ev->path, ev->path2, true, ev->time_ms);
	case CATALOG_EVENT_EXCHANGED:
		return apply_exchanged(cat, ev);
	case CATALOG_EVENT_REMOVED:
		return catalog_sqlite_remove_current(cat, ev->path, ev->time_ms,
						     ev->reason ? ev->reason : "unlinked");
	case CATALOG_EVENT_QUARANTINED:
		return apply_quarantined(cat, ev);
	case CATALOG_EVENT_RESTORED:
		return apply_restored(cat, ev);
	}
	return -EINVAL;
}

int catalog_apply_events(struct catalog *cat, const struct catalog_event *events,
			 size_t count)
{
	/* An adoption batch in progress is committed first: one at a time. */
	int err = catalog_sqlite_begin_alone(cat);

	if (err)
		return err;
	for (size_t i = 0; !err && i < count; i++)
		err = apply_event(cat, &events[i]);
	return catalog_sqlite_finish(cat, err);
}

/* ------------------------------------------------------------------ */
/* Adoption                                                             */
/* ------------------------------------------------------------------ */

int catalog_adopt_begin(struct catalog *cat, int64_t start_ms)
{
	int err = catalog_sqlite_exec(cat,
		"DROP TABLE IF EXISTS temp.adopt_seen;"
		"DROP TABLE IF EXISTS temp.adopt_gone;"
		"CREATE TEMP TABLE adopt_seen (path BLOB PRIMARY KEY, kind INTEGER,"
		" dev INTEGER, ino INTEGER, size INTEGER, mtime_ms INTEGER) WITHOUT ROWID;"
		"CREATE TEMP TABLE adopt_gone (path BLOB PRIMARY KEY, is_dir INTEGER)"
		" WITHOUT ROWID;");

	if (err)
		return err;
	cat->adopting = true;
	cat->adopt_start_ms = start_ms;
	return 0;
}

int catalog_adopt_add(struct catalog *cat, const struct catalog_found *found)
{
	struct catalog_stmt q;
	int err = catalog_sqlite_begin(cat);

	if (err)
		return err;
	catalog_sqlite_cached(cat, &q, ST_ADOPT_ADD, "record a file found on disk");
	sql_bind_path(&q, 1, found->path);
	sql_bind_int64(&q, 2, found->kind);
	sql_bind_int64(&q, 3, (int64_t)found->dev);
	sql_bind_int64(&q, 4, (int64_t)found->ino);
	sql_bind_int64(&q, 5, found->size);
	sql_bind_int64(&q, 6, found->mtime_ms);
	return catalog_sqlite_run(&q);
}

int catalog_adopt_commit(struct catalog *cat)
{
	return catalog_sqlite_commit(cat);
}

/* Run one finishing statement with ?1 = now and, when the statement has
 * them, ?2 = the start and ?3 = the last id before adoption. */
static int finish_step(struct catalog *cat, const char *sql, int64_t now_ms,
		       int64_t last_id, uint64_t *changes)
{
	struct catalog_stmt q;
	int err;

	catalog_sqlite_prepare(cat, &q, sql, "finish adoption");
	sql_bind_int64(&q, 1, now_ms);
	if (sql_has_parameter(&q, 2))
		sql_bind_int64(&q, 2, cat->adopt_start_ms);
	if (sql_has_parameter(&q, 3))
		sql_bind_int64(&q, 3, last_id);
	err = catalog_sqlite_run(&q);
	*changes = err ? 0 : (uint64_t)sqlite3_changes(cat->db);
	return err;
}

/* Not adopted again: paths that left during the walk, or whose directory
 * did.  (|| makes text; the casts keep the comparisons between BLOBs.) */
#define NOT_GONE(alias)                                                          \
	" NOT EXISTS (SELECT 1 FROM temp.adopt_gone g WHERE g.path = " alias     \
	".path OR (g.is_dir AND " alias ".path > CAST(g.path || X'2f' AS BLOB)" \
	" AND " alias ".path < CAST(g.path || X'30' AS BLOB)))"

/* The kind of a file the walk found: a path that was a file and is a
 * link now (replaced while unmounted) is tracked as a link, since the
 * checker resolves what a link leads to. */
#define ADOPTED_KIND "CASE s.kind WHEN 1 THEN 'symlink' ELSE 'file' END"

static const char *const finish_sql[] = {
	/* Missing rows whose file is back. */
	"INSERT INTO audit (time_ms, file_id, path, from_state, to_state, reason)"
	" SELECT ?1, f.id, f.path, 'missing', 'live', 'reappeared' FROM files f"
	" JOIN temp.adopt_seen s ON s.path = f.path WHERE f.state = 'missing'",
	"UPDATE files SET state = 'live', state_changed_ms = ?1, state_reason = 'reappeared',"
	" activity_ms = ?1, dev = s.dev, ino = s.ino, size = s.size, mtime_ms = s.mtime_ms,"
	" kind = " ADOPTED_KIND
	" FROM temp.adopt_seen s WHERE files.path = s.path AND files.state = 'missing'",
	/* Live rows whose file changed behind the daemon's back: another inode,
	 * or (when the walk knew them) another size or mtime. */
	"UPDATE files SET dev = s.dev, ino = s.ino, size = s.size, mtime_ms = s.mtime_ms,"
	" last_written_ms = ?1, activity_ms = ?1, kind = " ADOPTED_KIND " FROM temp.adopt_seen s"
	" WHERE files.path = s.path AND files.state = 'live' AND files.activity_ms < ?2"
	" AND (files.ino != s.ino OR (s.size >= 0 AND"
	" (files.size != s.size OR files.mtime_ms != s.mtime_ms)))",
	/* Files the catalog does not know. */
	"INSERT INTO files (path, kind, dev, ino, size, mtime_ms, first_seen_ms,"
	" last_written_ms, activity_ms, state, state_changed_ms, state_reason)"
	" SELECT s.path, " ADOPTED_KIND ", s.dev, s.ino,"
	" s.size, s.mtime_ms, ?1, s.mtime_ms, ?1, 'live', ?1, 'adopted'"
	" FROM temp.adopt_seen s WHERE NOT EXISTS (SELECT 1 FROM files f"
	" WHERE f.path = s.path AND f.state IN ('live', 'missing')) AND" NOT_GONE("s"),
	/* Live rows whose file is gone, unless an event touched them since. */
	"INSERT INTO audit (time_ms, file_id, path, from_state, to_state, reason)"
	" SELECT ?1, f.id, f.path, 'live', 'missing', 'not found when mounted' FROM files f"
	" WHERE f.state = 'live' AND f.activity_ms < ?2 AND NOT EXISTS"
	" (SELECT 1 FROM temp.adopt_seen s WHERE s.path = f.path)",
	"UPDATE files SET state = 'missing', state_changed_ms = ?1,"
	" state_reason = 'not found when mounted' WHERE state = 'live' AND activity_ms < ?2"
	" AND NOT EXISTS (SELECT 1 FROM temp.adopt_seen s WHERE s.path = files.path)",
	/* The adopted rows: they are the ids above the last one before. */
	"INSERT INTO audit (time_ms, file_id, path, from_state, to_state, reason)"
	" SELECT ?1, id, path, NULL, 'live', 'adopted' FROM files"
	" WHERE id > ?3 AND state_reason = 'adopted'",
};

enum { FINISH_REAPPEARED = 1, FINISH_CHANGED = 2, FINISH_ADOPTED = 3, FINISH_MISSING = 5 };

/* How many files the walk found, and the last id before adoption adds any. */
static int count_found(struct catalog *cat, uint64_t *found, int64_t *last_id)
{
	struct catalog_stmt q;
	int err;

	catalog_sqlite_prepare(cat, &q, "SELECT (SELECT count(*) FROM temp.adopt_seen),"
			       " (SELECT coalesce(max(id), 0) FROM files)", "finish adoption");
	err = catalog_sqlite_step(&q);
	if (err > 0) {
		*found = (uint64_t)sqlite3_column_int64(q.st, 0);
		*last_id = sqlite3_column_int64(q.st, 1);
		err = 0;
	}
	return catalog_sqlite_end(&q, err);
}

int catalog_adopt_finish(struct catalog *cat, int64_t now_ms,
			 struct catalog_adopt_result *result)
{
	uint64_t changes[sizeof(finish_sql) / sizeof(finish_sql[0])] = { 0 };
	int64_t last_id = 0;
	int err;

	memset(result, 0, sizeof(*result));
	err = catalog_sqlite_begin_alone(cat);
	if (err)
		return err;
	err = count_found(cat, &result->found, &last_id);
	for (size_t i = 0; !err && i < sizeof(finish_sql) / sizeof(finish_sql[0]); i++)
		err = finish_step(cat, finish_sql[i], now_ms, last_id, &changes[i]);
	if (!err)
		err = catalog_sqlite_exec(cat, "DROP TABLE temp.adopt_seen;"
					  " DROP TABLE temp.adopt_gone;");
	err = catalog_sqlite_finish(cat, err);
	if (err)
		return err;
	cat->adopting = false;
	result->reappeared = changes[FINISH_REAPPEARED];
	result->changed = changes[FINISH_CHANGED];
	result->adopted = changes[FINISH_ADOPTED];
	result->missing = changes[FINISH_MISSING];
	return 0;
}

/* ------------------------------------------------------------------ */
/* Sizes that adoption left unknown                                     */
/* ------------------------------------------------------------------ */

int catalog_next_unsized(struct catalog *cat, int64_t after_id, size_t limit,
			 int (*fn)(void *ctx, int64_t id, const char *path), void *ctx)
{
	struct catalog_stmt q;
	int ret;

	/* "+state" keeps the planner on the rowid: one pass over the table
	 * in slices, not a sort of every live row per slice. */
	catalog_sqlite_prepare(cat, &q, "SELECT id, path FROM files WHERE id > ?1"
			       " AND +state = 'live' AND size < 0 ORDER BY id LIMIT ?2",
			       "find files of unknown size");
	sql_bind_int64(&q, 1, after_id);
	sql_bind_int64(&q, 2, (int64_t)limit);
	while ((ret = catalog_sqlite_step(&q)) > 0) {
		char *path = catalog_sqlite_column_string(q.st, 1);
		ret = path ? fn(ctx, sqlite3_column_int64(q.st, 0), path) : -ENOMEM;
		free(path);
		if (ret)
			break;
	}
	return catalog_sqlite_end(&q, ret);
}

static void bind_size(struct catalog_stmt *q, const void *items, size_t i)
{
	const struct catalog_size *size = (const struct catalog_size *)items + i;

	sql_bind_int64(q, 1, size->id);
	sql_bind_int64(q, 2, size->size);
	sql_bind_int64(q, 3, size->mtime_ms);
}

int catalog_set_sizes(struct catalog *cat, const struct catalog_size *sizes, size_t count)
{
	return catalog_sqlite_run_each(cat, "UPDATE files SET size = ?2, mtime_ms = ?3"
				       " WHERE id = ?1 AND size < 0", "record sizes", count,
				       bind_size, sizes);
}
