/*
 * source_sqlite: a reference source in a SQLite file, opened read-only.
 *
 * The application keeps writing while we read: the file is opened with
 * SQLITE_OPEN_READONLY and a busy timeout, and a fetch is one deferred
 * read transaction.  In WAL mode that snapshot never blocks the writer; in
 * rollback-journal mode it holds a SHARED lock for the length of the fetch
 * (about half a second for a million rows), which writers wait out with
 * their own busy timeout.
 *
 * The file is identified by device and inode when it is opened, and before
 * each fetch: an application that restores a backup or swaps in a new file
 * by rename would otherwise leave us reading the old, deleted file for
 * ever, and its stale references would hide the new ones.
 */
#include "source_i.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct sqlite_conn {
	sqlite3 *db;
	dev_t dev;		/* identity of the file that db has open */
	ino_t ino;
};

static const char *db_path(const struct source *src)
{
	return config_sqlite_path(src->cfg.url);
}

/* Map a (primary or extended) result code to -errno. */
static int sqlite_errno(sqlite3 *db, int rc)
{
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_CANTOPEN: {
		int sys = db ? sqlite3_system_errno(db) : 0;
		return sys ? -sys : -ENOENT;
	}
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_INTERRUPT:
		return -EINTR;
	case SQLITE_ERROR:
		return -EINVAL;
	default:
		return -EIO;
	}
}

static int sqlite_describe(struct source *src, char *why, size_t why_size)
{
	(void)why;
	(void)why_size;
	source_say(src->description, sizeof(src->description), "sqlite %s", db_path(src));
	return 0;
}

static void sqlite_disconnect(struct source *src)
{
	struct sqlite_conn *c = src->conn;

	if (!c)
		return;
	sqlite3_close_v2(c->db);
	free(c);
	src->conn = NULL;
}

/* Still the file that the path names? */
static bool sqlite_is_current(const struct sqlite_conn *c, const struct stat *sb)
{
	return c->dev == sb->st_dev && c->ino == sb->st_ino;
}

static int sqlite_connect(struct source *src, char *why, size_t why_size)
{
	const char *path = db_path(src);
	struct sqlite_conn *c = src->conn;
	struct stat sb;
	int rc;
	int err;

	/* stat() before open: if the file is swapped in between, the next
	 * fetch sees a different inode and opens again, never the reverse. */
	if (stat(path, &sb) < 0) {
		err = -errno;
		source_say(why, why_size, "cannot open sqlite database '%s': %s", path,
			   strerror(errno));
		return err;
	}
	if (c && sqlite_is_current(c, &sb)) {
		sqlite3_busy_timeout(c->db, (int)src->busy_timeout_ms);
		return 0;
	}
	sqlite_disconnect(src);
	c = calloc(1, sizeof(*c));
	if (!c) {
		source_say(why, why_size, "out of memory");
		return -ENOMEM;
	}
	c->dev = sb.st_dev;
	c->ino = sb.st_ino;
	rc = sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK)
		goto out_fail;
	sqlite3_extended_result_codes(c->db, 1);
	/* Without this, SELECT "missing_column" FROM t quietly returns the
	 * string 'missing_column' for every row: a made-up reference instead
	 * of an error. */
	sqlite3_db_config(c->db, SQLITE_DBCONFIG_DQS_DML, 0, (int *)NULL);
	sqlite3_db_config(c->db, SQLITE_DBCONFIG_DQS_DDL, 0, (int *)NULL);
	sqlite3_busy_timeout(c->db, (int)src->busy_timeout_ms);
	/* Opening reads nothing: read the schema now to know it is a database. */
	rc = sqlite3_exec(c->db, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		goto out_fail;
	src->conn = c;
	return 0;

out_fail:
	err = sqlite_errno(c->db, rc);
	if (err == -EINVAL)
		err = -EIO;
	source_say(why, why_size, "cannot open sqlite database '%s': %s", path,
		   c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
	sqlite3_close_v2(c->db);
	free(c);
	return err;
}

static int sqlite_exec(struct source *src, const char *sql, const char *what, char *why,
		       size_t why_size)
{
	struct sqlite_conn *c = src->conn;
	int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);

	if (rc == SQLITE_OK)
		return 0;
	source_say(why, why_size, "cannot %s: %s", what, sqlite3_errmsg(c->db));
	return sqlite_errno(c->db, rc);
}

static int sqlite_begin(struct source *src, char *why, size_t why_size)
{
	return sqlite_exec(src, "BEGIN", "begin a read transaction", why, why_size);
}

static int sqlite_commit(struct source *src, char *why, size_t why_size)
{
	return sqlite_exec(src, "COMMIT", "end the read transaction", why, why_size);
}

static void sqlite_rollback(struct source *src)
{
	struct sqlite_conn *c = src->conn;

	if (c && !sqlite3_get_autocommit(c->db))
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
}

/* Run stmt to the end, handing each value of its first column to sink. */
static int sqlite_read_rows(struct source *src, sqlite3_stmt *stmt, struct source_sink *sink,
			    const char *label, char *why, size_t why_size)
{
	struct sqlite_conn *c = src->conn;
	int rc;
	int err;

	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		const char *value = NULL;
		size_t len = 0;

		/* Any type reads as text: integers as digits, blobs as bytes. */
		if (sqlite3_column_type(stmt, 0) != SQLITE_NULL) {
			value = (const char *)sqlite3_column_text(stmt, 0);
			len = (size_t)sqlite3_column_bytes(stmt, 0);
			if (!value) {
				source_say(why, why_size, "%s: out of memory", label);
				return -ENOMEM;
			}
		}
		err = source_take_value(sink, value, len);
		if (err) {
			source_say(why, why_size, "%s: cannot take a path: %s", label,
				   strerror(-err));
			return err;
		}
	}
	if (rc == SQLITE_DONE)
		return 0;
	err = sqlite_errno(c->db, rc);
	source_say(why, why_size, "%s: %s", label, sqlite3_errmsg(c->db));
	return err == -EINVAL ? -EIO : err;
}

/* Prepare sql; a missing table, column or schema is -ENOENT. */
static int sqlite_prepare(struct source *src, const char *sql, sqlite3_stmt **stmt,
			  const char *label, char *why, size_t why_size)
{
	struct sqlite_conn *c = src->conn;
	const char *tail = NULL;
	int rc = sqlite3_prepare_v2(c->db, sql, -1, stmt, &tail);
	const char *msg;
	int err;

	if (rc == SQLITE_OK && *stmt) {
		tail += strspn(tail, " \t\r\n;");
		if (!*tail)
			return 0;
		source_say(why, why_size, "%s: holds more than one statement", label);
		sqlite3_finalize(*stmt);
		*stmt = NULL;
		return -EINVAL;
	}
	msg = rc == SQLITE_OK ? "no statement" : sqlite3_errmsg(c->db);
	err = rc == SQLITE_OK ? -EINVAL : sqlite_errno(c->db, rc);
	if (strncmp(msg, "no such table", 13) == 0 || strncmp(msg, "no such column", 14) == 0 ||
	    strncmp(msg, "unknown database", 16) == 0)
		err = -ENOENT;
	source_say(why, why_size, "%s: %s", label, msg);
	sqlite3_finalize(*stmt);
	*stmt = NULL;
	return err;
}

static int sqlite_fetch_column(struct source *src, const struct source_column *col,
			       struct source_sink *sink, char *why, size_t why_size)
{
	char label[256];
	char *sql;
	sqlite3_stmt *stmt = NULL;
	int err;

	source_column_label(col, label, sizeof(label));
	/* %w doubles the quotes inside an identifier. */
	if (col->schema)
		sql = sqlite3_mprintf("SELECT \"%w\" FROM \"%w\".\"%w\"", col->column,
				      col->schema, col->table);
	else
		sql = sqlite3_mprintf("SELECT \"%w\" FROM \"%w\"", col->column, col->table);
	if (!sql) {
		source_say(why, why_size, "%s: out of memory", label);
		return -ENOMEM;
	}
	err = sqlite_prepare(src, sql, &stmt, label, why, why_size);
	sqlite3_free(sql);
	if (err)
		return err;
	err = sqlite_read_rows(src, stmt, sink, label, why, why_size);
	sqlite3_finalize(stmt);
	return err;
}

static int sqlite_fetch_query(struct source *src, const char *query, struct source_sink *sink,
			      char *why, size_t why_size)
{
	sqlite3_stmt *stmt = NULL;
	int err;

	err = sqlite_prepare(src, query, &stmt, "query", why, why_size);
	if (err)
		return err;
	if (sqlite3_column_count(stmt) != 1) {
		source_say(why, why_size, "query: returns %d columns; it must return one, "
			   "the path", sqlite3_column_count(stmt));
		err = -EINVAL;
		goto out_finalize;
	}
	if (!sqlite3_stmt_readonly(stmt)) {
		source_say(why, why_size, "query: is not a read-only SELECT");
		err = -EINVAL;
		goto out_finalize;
	}
	err = sqlite_read_rows(src, stmt, sink, "query", why, why_size);
out_finalize:
	sqlite3_finalize(stmt);
	return err;
}

const struct source_ops source_sqlite_ops = {
	.kind = "sqlite",
	.describe = sqlite_describe,
	.connect = sqlite_connect,
	.disconnect = sqlite_disconnect,
	.begin = sqlite_begin,
	.commit = sqlite_commit,
	.rollback = sqlite_rollback,
	.fetch_column = sqlite_fetch_column,
	.fetch_query = sqlite_fetch_query,
};
