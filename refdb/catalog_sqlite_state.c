/*
 * catalog: the SQLite implementation of state changes and recovery (see
 * catalog_sqlite_i.h for the other parts).
 *
 * Layout of this file: one change of state, checked and audited; the
 * changes the checker and an admin make (quarantined, restored, purged,
 * a note, referenced); recovery of a file found in the quarantine that
 * no row describes.
 *
 * Each change is one transaction of its own: a batch of adoption in
 * progress on the connection is committed first.
 */
#include "catalog_sqlite_i.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* One change of state                                                  */
/* ------------------------------------------------------------------ */

/* Run one UPDATE (binding ?1 = id, ?2.. = the given values), require one
 * changed row, and audit it. */
struct state_change {
	const char *sql;
	int64_t id;
	int64_t now_ms;
	const char *text[3];	/* bound as ?3, ?4, ?5 (NULL: not bound) */
	int64_t number;		/* bound as ?6 (when the statement has it) */
	int64_t ino;		/* bound as ?7 (0: not bound) */
	const char *from, *to, *reason, *detail;
};

/* The row with this id, with a message when there is none. */
static int get_row(struct catalog *cat, int64_t id, struct catalog_row *row)
{
	int err = catalog_get_row(cat, id, row);

	if (err == -ENOENT)
		snprintf(cat->error, sizeof(cat->error), "row %lld is not in the catalog",
			 (long long)id);
	return err;
}

/* change_state's work, inside a transaction the caller holds. */
static int change_state_in_transaction(struct catalog *cat, const struct state_change *change)
{
	struct catalog_row row;
	struct catalog_stmt q;
	int err;

	err = get_row(cat, change->id, &row);
	if (err)
		return err;
	catalog_sqlite_prepare(cat, &q, change->sql, "change a state");
	sql_bind_int64(&q, 1, change->id);
	sql_bind_int64(&q, 2, change->now_ms);
	for (int i = 0; i < 3; i++)
		if (change->text[i])
			sql_bind_path(&q, 3 + i, change->text[i]);
	if (sql_has_parameter(&q, 6))
		sql_bind_int64(&q, 6, change->number);
	if (change->ino)
		sql_bind_int64(&q, 7, change->ino);
	err = catalog_sqlite_run(&q);
	if (err)
		goto out_clear;
	if (sqlite3_changes(cat->db) != 1) {
		snprintf(cat->error, sizeof(cat->error), "row %lld is not %s",
			 (long long)change->id, change->from);
		err = -ENOENT;
		goto out_clear;
	}
	err = catalog_sqlite_audit(cat, change->now_ms, change->id,
				   change->text[0] && change->to &&
						   strcmp(change->to, "live") == 0 ?
					   change->text[0] : row.path,
				   change->from, change->to, change->reason, change->detail);
out_clear:
	catalog_row_clear(&row);
	return err;
}

static int change_state(struct catalog *cat, const struct state_change *change)
{
	int err = catalog_sqlite_begin_alone(cat);

	if (err)
		return err;
	return catalog_sqlite_finish(cat, change_state_in_transaction(cat, change));
}

/* ------------------------------------------------------------------ */
/* Changes by the checker and by an admin                               */
/* ------------------------------------------------------------------ */

int catalog_set_quarantined(struct catalog *cat, int64_t id, ino_t ino, int64_t now_ms,
			    const char *reason, const char *quarantine_name,
			    int64_t scan_id)
{
	struct state_change change = {
		.sql = "UPDATE files SET state = 'quarantined', state_changed_ms = ?2,"
		       " state_reason = CAST(?4 AS TEXT), quarantine_name = ?3,"
		       " scan_id = nullif(?6, 0) WHERE id = ?1 AND state IN ('live', 'missing')"
		       " AND ino = ?7",
		.id = id,
		.ino = (int64_t)ino,
		.now_ms = now_ms,
		.text = { quarantine_name, reason },
		.number = scan_id,
		.from = "live",
		.to = "quarantined",
		.reason = reason,
		.detail = quarantine_name,
	};

	return change_state(cat, &change);
}

/*
 * The caller has put the file back at path, where no file was: a current
 * row there describes no file, or this very file met by an adoption walk
 * before this record.  It gives way in the same transaction, so that no
 * other thread's view of the path (a walk, the startup reconcile, another
 * restore of the same row) can come between the two.
 */
static int restore_in_transaction(struct catalog *cat, int64_t id, int64_t now_ms,
				  const char *reason, const char *path)
{
	struct catalog_row row;
	struct current_row current;
	int err = get_row(cat, id, &row);

	if (err)
		return err;
	if (!path)
		path = row.path;
	if (row.state == CATALOG_LIVE && strcmp(row.path, path) == 0)
		goto out_clear;		/* another thread recorded this restore */
	err = catalog_sqlite_find_current(cat, path, &current);
	if (!err && current.id && current.id != id)
		err = catalog_sqlite_remove_current(cat, path, now_ms, "superseded by a restore");
	if (!err) {
		struct state_change change = {
			.sql = "UPDATE files SET state = 'live', state_changed_ms = ?2,"
			       " state_reason = CAST(?4 AS TEXT), path = ?3, quarantine_name = NULL,"
			       " activity_ms = ?2 WHERE id = ?1 AND state = 'quarantined'",
			.id = id,
			.now_ms = now_ms,
			.text = { path, reason },
			.from = "quarantined",
			.to = "live",
			.reason = reason,
			.detail = row.quarantine_name,
		};
		err = change_state_in_transaction(cat, &change);
	}
out_clear:
	catalog_row_clear(&row);
	return err;
}

int catalog_set_restored(struct catalog *cat, int64_t id, int64_t now_ms,
			 const char *reason, const char *path)
{
	int err = catalog_sqlite_begin_alone(cat);

	if (err)
		return err;
	return catalog_sqlite_finish(cat, restore_in_transaction(cat, id, now_ms, reason, path));
}

int catalog_set_purged(struct catalog *cat, int64_t id, int64_t now_ms, const char *reason)
{
	struct state_change change = {
		.sql = "UPDATE files SET state = 'purged', state_changed_ms = ?2,"
		       " state_reason = CAST(?3 AS TEXT) WHERE id = ?1 AND state = 'quarantined'",
		.id = id,
		.now_ms = now_ms,
		.text = { reason },
		.from = "quarantined",
		.to = "purged",
		.reason = reason,
	};

	return change_state(cat, &change);
}

int catalog_note(struct catalog *cat, int64_t id, int64_t now_ms, const char *reason,
		 const char *detail)
{
	struct catalog_row row;
	const char *state;
	int err = catalog_get_row(cat, id, &row);

	if (err)
		return err;
	state = catalog_state_name(row.state);
	err = catalog_sqlite_begin(cat);
	if (!err)
		err = catalog_sqlite_audit(cat, now_ms, id, row.path, state, state, reason, detail);
	err = catalog_sqlite_finish(cat, err);
	catalog_row_clear(&row);
	return err;
}

struct referenced {
	const int64_t *ids;
	int64_t now_ms;
};

static void bind_referenced(struct catalog_stmt *q, const void *items, size_t i)
{
	const struct referenced *referenced = items;

	sql_bind_int64(q, 1, referenced->ids[i]);
	sql_bind_int64(q, 2, referenced->now_ms);
}

int catalog_set_referenced(struct catalog *cat, const int64_t *ids, size_t count,
			   int64_t now_ms)
{
	const struct referenced referenced = { .ids = ids, .now_ms = now_ms };

	return catalog_sqlite_run_each(cat, "UPDATE files SET last_referenced_ms = ?2"
				       " WHERE id = ?1", "mark referenced", count,
				       bind_referenced, &referenced);
}

/* ------------------------------------------------------------------ */
/* Recovery of files found in the quarantine                            */
/* ------------------------------------------------------------------ */

int catalog_find_quarantined(struct catalog *cat, const char *quarantine_name, int64_t *id)
{
	return catalog_sqlite_find_quarantined(cat, quarantine_name, id);
}

/* The row that will describe the file found: the one adoption declared
 * missing for it, or a new one. */
static int recovery_row(struct catalog *cat, const char *path,
			const struct catalog_found *file, int64_t now_ms, const char *reason,
			int64_t *id)
{
	struct current_row current;
	int err = catalog_sqlite_find_current(cat, path, &current);

	if (err)
		return err;
	if (current.id && current.missing && current.ino == file->ino) {
		*id = current.id;
		return 0;
	}
	/* A row of its own: a live file may hold the path now. */
	err = catalog_sqlite_insert_file(cat, "\n.mediafs-recovering", file, now_ms, reason);
	*id = err ? 0 : sqlite3_last_insert_rowid(cat->db);
	return err;
}

static int recover_in_transaction(struct catalog *cat, const char *path,
				  const char *quarantine_name, const struct catalog_found *file,
				  int64_t now_ms, const char *reason)
{
	struct catalog_stmt q;
	int64_t id;
	/* Its event may have been applied since the caller looked. */
	int err = catalog_sqlite_find_quarantined(cat, quarantine_name, &id);

	if (err)
		return err;
	if (id) {
		snprintf(cat->error, sizeof(cat->error), "a row holds '%s' already",
			 quarantine_name);
		return -EEXIST;
	}
	err = recovery_row(cat, path, file, now_ms, reason, &id);
	if (err)
		return err;
	catalog_sqlite_prepare(cat, &q, "UPDATE files SET state = 'quarantined',"
			       " path = ?2, quarantine_name = ?3, state_changed_ms = ?4,"
			       " state_reason = ?5 WHERE id = ?1", "record a recovered file");
	sql_bind_int64(&q, 1, id);
	sql_bind_path(&q, 2, path);
	sql_bind_path(&q, 3, quarantine_name);
	sql_bind_int64(&q, 4, now_ms);
	sql_bind_text(&q, 5, reason);
	err = catalog_sqlite_run(&q);
	if (err)
		return err;
	return catalog_sqlite_audit(cat, now_ms, id, path, NULL, "quarantined", reason,
				    quarantine_name);
}

int catalog_recover_quarantined(struct catalog *cat, const char *path,
				const char *quarantine_name, const struct catalog_found *file,
				int64_t now_ms, const char *reason)
{
	int err = catalog_sqlite_begin(cat);

	if (err)
		return err;
	return catalog_sqlite_finish(cat, recover_in_transaction(cat, path, quarantine_name,
								file, now_ms, reason));
}
