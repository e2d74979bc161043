/*
 * catalog: the SQLite implementation, part one of five (the others and
 * what they share: catalog_sqlite_i.h).
 *
 * Layout of this file: schema and migrations; the statements every
 * connection keeps; errors; the statement layer; transactions; opening
 * and closing; facts about the store.
 *
 * Paths are stored as BLOBs (the filesystem's bytes, compared with
 * memcmp), states as their names so that the sqlite3 shell shows them.
 * A partial unique index keeps at most one live-or-missing row per path;
 * quarantined and purged rows are history and may repeat a path.
 *
 * Durability: WAL with synchronous=NORMAL.  A crash of the daemon loses
 * nothing that was committed; a power cut may lose the last transactions,
 * which the adoption at the next mount reconciles with the disk anyway.
 */
#include "catalog_sqlite_i.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
	BUSY_TIMEOUT_MS = 10000,
};

/* ------------------------------------------------------------------ */
/* Schema and migrations                                                */
/* ------------------------------------------------------------------ */

/* Migration N takes a catalog from user_version N to N + 1. */
static const char *const migrations[] = {
	/* 0 -> 1: the first schema. */
	"CREATE TABLE files ("
	"  id INTEGER PRIMARY KEY,"
	"  path BLOB NOT NULL,"
	"  kind TEXT NOT NULL DEFAULT 'file' CHECK (kind IN ('file', 'symlink')),"
	"  dev INTEGER NOT NULL DEFAULT 0,"
	"  ino INTEGER NOT NULL DEFAULT 0,"
	"  size INTEGER NOT NULL DEFAULT 0,"
	"  mtime_ms INTEGER NOT NULL DEFAULT 0,"
	"  first_seen_ms INTEGER NOT NULL,"
	"  last_written_ms INTEGER NOT NULL,"
	"  activity_ms INTEGER NOT NULL,"
	"  state TEXT NOT NULL CHECK (state IN ('live', 'quarantined', 'purged', 'missing')),"
	"  state_changed_ms INTEGER NOT NULL,"
	"  state_reason TEXT NOT NULL,"
	"  quarantine_name BLOB,"
	"  scan_id INTEGER,"
	"  last_referenced_ms INTEGER"
	");"
	"CREATE UNIQUE INDEX files_current_path ON files(path)"
	"  WHERE state IN ('live', 'missing');"
	"CREATE INDEX files_live_ino ON files(ino) WHERE state = 'live';"
	"CREATE INDEX files_quarantined ON files(state_changed_ms)"
	"  WHERE state = 'quarantined';"
	"CREATE TABLE audit ("
	"  id INTEGER PRIMARY KEY,"
	"  time_ms INTEGER NOT NULL,"
	"  file_id INTEGER,"
	"  path BLOB NOT NULL,"
	"  from_state TEXT,"
	"  to_state TEXT,"
	"  reason TEXT NOT NULL,"
	"  detail TEXT"
	");"
	"CREATE INDEX audit_path ON audit(path);"
	"CREATE INDEX audit_time ON audit(time_ms);"
	"CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;",
	/* 1 -> 2: scans (held ones keep their candidates) and pins. */
	"CREATE TABLE scans ("
	"  id INTEGER PRIMARY KEY,"
	"  started_ms INTEGER NOT NULL,"
	"  finished_ms INTEGER,"
	"  trigger TEXT NOT NULL,"
	"  status TEXT NOT NULL,"
	"  live INTEGER NOT NULL DEFAULT 0,"
	"  referenced INTEGER NOT NULL DEFAULT 0,"
	"  candidates INTEGER NOT NULL DEFAULT 0,"
	"  quarantined INTEGER NOT NULL DEFAULT 0,"
	"  restored INTEGER NOT NULL DEFAULT 0,"
	"  purged INTEGER NOT NULL DEFAULT 0,"
	"  conflicts INTEGER NOT NULL DEFAULT 0,"
	"  hostile INTEGER NOT NULL DEFAULT 0,"
	"  message TEXT,"
	"  decided_ms INTEGER"
	");"
	"CREATE TABLE scan_candidates ("
	"  scan_id INTEGER NOT NULL,"
	"  file_id INTEGER NOT NULL,"
	"  PRIMARY KEY (scan_id, file_id)"
	") WITHOUT ROWID;"
	"CREATE INDEX files_scan ON files(scan_id) WHERE scan_id IS NOT NULL;"
	"CREATE INDEX files_quarantine_name ON files(quarantine_name)"
	"  WHERE quarantine_name IS NOT NULL;"
	"CREATE TABLE pins ("
	"  pattern BLOB PRIMARY KEY,"
	"  created_ms INTEGER NOT NULL"
	") WITHOUT ROWID;",
	/* 2 -> 3: examples of the values that can never name a file. */
	"ALTER TABLE scans ADD COLUMN hostile_examples TEXT;",
	/* 3 -> 4: references matched under another spelling or through a
	 * symbolic link, near misses, and restores on access per file (so
	 * that restore on access converges). */
	"ALTER TABLE scans ADD COLUMN respelled INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE scans ADD COLUMN near_misses INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE scans ADD COLUMN near_miss_examples TEXT;"
	"ALTER TABLE files ADD COLUMN access_restores INTEGER NOT NULL DEFAULT 0;",
	/* 4 -> 5: the audit log by file, so that a file's history follows it
	 * from path to path (a restore --to, a rename); files a scan left
	 * because they were open for writing, and writes to quarantined files
	 * (through descriptors opened before the quarantine) found by inode. */
	"CREATE INDEX audit_file ON audit(file_id) WHERE file_id IS NOT NULL;"
	"ALTER TABLE scans ADD COLUMN kept_open INTEGER NOT NULL DEFAULT 0;"
	"CREATE INDEX files_quarantined_ino ON files(ino) WHERE state = 'quarantined';",
};

_Static_assert(sizeof(migrations) / sizeof(migrations[0]) == CATALOG_SCHEMA_VERSION,
	       "one migration per schema version");

/* ------------------------------------------------------------------ */
/* Statements every connection keeps                                    */
/* ------------------------------------------------------------------ */

static const char *const statement_sql[STATEMENT_COUNT] = {
	[ST_FIND_CURRENT] =
		"SELECT id, state, dev, ino FROM files"
		" WHERE path = ?1 AND state IN ('live', 'missing')",
	[ST_INSERT_FILE] =
		"INSERT INTO files (path, kind, dev, ino, size, mtime_ms, first_seen_ms,"
		" last_written_ms, activity_ms, state, state_changed_ms, state_reason)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?7, 'live', ?7, ?8)",
	[ST_REVIVE] =
		"UPDATE files SET state = 'live', kind = ?2, dev = ?3, ino = ?4, size = ?5,"
		" mtime_ms = ?6, first_seen_ms = ?7, last_written_ms = ?7, activity_ms = ?7,"
		" state_changed_ms = ?7, state_reason = ?8 WHERE id = ?1",
	[ST_RECREATE] =
		"UPDATE files SET kind = ?2, dev = ?3, ino = ?4, size = ?5, mtime_ms = ?6,"
		" first_seen_ms = ?7, last_written_ms = ?7, activity_ms = ?7 WHERE id = ?1",
	[ST_UPDATE_WRITTEN] =
		"UPDATE files SET size = ?3, mtime_ms = ?4, last_written_ms = ?5,"
		" activity_ms = ?5 WHERE ino = ?2 AND dev = ?1 AND state = 'live'",
	[ST_AUDIT_WRITTEN_QUARANTINED] =
		"INSERT INTO audit (time_ms, file_id, path, from_state, to_state, reason, detail)"
		" SELECT ?3, id, path, 'quarantined', 'quarantined', 'written',"
		" CAST(quarantine_name AS TEXT) FROM files"
		" WHERE ino = ?2 AND dev = ?1 AND state = 'quarantined'",
	[ST_UPDATE_WRITTEN_QUARANTINED] =
		"UPDATE files SET size = ?3, mtime_ms = ?4, last_written_ms = ?5,"
		" activity_ms = ?5 WHERE ino = ?2 AND dev = ?1 AND state = 'quarantined'",
	[ST_SET_PATH] =
		"UPDATE files SET path = ?2, activity_ms = ?3 WHERE id = ?1",
	[ST_DELETE] = "DELETE FROM files WHERE id = ?1",
	[ST_DELETE_MISSING_AT] =
		"DELETE FROM files WHERE path = ?1 AND state = 'missing'",
	[ST_SET_QUARANTINED] =
		"UPDATE files SET state = 'quarantined', state_changed_ms = ?2,"
		" state_reason = ?3, quarantine_name = ?4, activity_ms = ?2 WHERE id = ?1",
	[ST_INSERT_AUDIT] =
		"INSERT INTO audit (time_ms, file_id, path, from_state, to_state, reason, detail)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	/* ?1 old prefix + '/', ?2 old prefix + '0' (the byte after '/'),
	 * ?3 new prefix, ?4 length of the old prefix, ?5 now. */
	[ST_AUDIT_DIR_RENAME] =
		"INSERT INTO audit (time_ms, file_id, path, from_state, to_state, reason, detail)"
		" SELECT ?5, id, CAST(?3 || substr(path, ?4 + 1) AS BLOB), state, state,"
		" 'renamed', CAST(path AS TEXT) FROM files"
		" WHERE path >= ?1 AND path < ?2 AND state = 'live'",
	[ST_DELETE_MISSING_UNDER] =
		"DELETE FROM files WHERE path >= ?1 AND path < ?2 AND state = 'missing'",
	[ST_RENAME_DIR] =
		"UPDATE files SET path = CAST(?3 || substr(path, ?4 + 1) AS BLOB),"
		" activity_ms = ?5 WHERE path >= ?1 AND path < ?2 AND state = 'live'",
	[ST_ADOPT_ADD] =
		"INSERT OR REPLACE INTO temp.adopt_seen (path, kind, dev, ino, size, mtime_ms)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[ST_ADOPT_GONE] =
		"INSERT OR IGNORE INTO temp.adopt_gone (path, is_dir) VALUES (?1, ?2)",
	[ST_GET_CURRENT] =
		"SELECT " ROW_COLUMNS " FROM files WHERE path = ?1"
		" AND state IN ('live', 'missing')",
};

/* ------------------------------------------------------------------ */
/* Errors                                                               */
/* ------------------------------------------------------------------ */

static int sqlite_to_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW:
		return 0;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_CANTOPEN:
		return -ENOENT;
	case SQLITE_CONSTRAINT:
		return -EEXIST;
	default:
		return -EIO;
	}
}

/*
 * For an I/O error SQLite's words ("disk I/O error") hide the cause, so
 * the system's error is added ("disk I/O error (Read-only file system)")
 * and returned.
 */
int catalog_sqlite_fail(struct catalog *cat, int rc, const char *what)
{
	bool from_system = (rc & 0xff) == SQLITE_IOERR || (rc & 0xff) == SQLITE_CANTOPEN;
	int sys = from_system && cat->db ? sqlite3_system_errno(cat->db) : 0;

	snprintf(cat->error, sizeof(cat->error), "%s: %s%s%s%s", what,
		 cat->db ? sqlite3_errmsg(cat->db) : sqlite3_errstr(rc), sys ? " (" : "",
		 sys ? strerror(sys) : "", sys ? ")" : "");
	if (sys)
		return -sys;
	return sqlite_to_errno(rc) ? sqlite_to_errno(rc) : -EIO;
}

int catalog_sqlite_exec(struct catalog *cat, const char *sql)
{
	int rc = sqlite3_exec(cat->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : catalog_sqlite_fail(cat, rc, sql);
}

/* ------------------------------------------------------------------ */
/* The statement layer                                                  */
/* ------------------------------------------------------------------ */

void catalog_sqlite_prepare(struct catalog *cat, struct catalog_stmt *q, const char *sql,
			    const char *what)
{
	*q = (struct catalog_stmt){ .cat = cat, .what = what };
	q->rc = sqlite3_prepare_v2(cat->db, sql, -1, &q->st, NULL);
}

void catalog_sqlite_cached(struct catalog *cat, struct catalog_stmt *q,
			   enum catalog_sqlite_statement which, const char *what)
{
	sqlite3_stmt **slot = &cat->statements[which];

	*q = (struct catalog_stmt){ .cat = cat, .what = what, .cached = true };
	if (!*slot)
		q->rc = sqlite3_prepare_v3(cat->db, statement_sql[which], -1,
					   SQLITE_PREPARE_PERSISTENT, slot, NULL);
	q->st = *slot;
}

int catalog_sqlite_step(struct catalog_stmt *q)
{
	int rc;

	if (q->rc != SQLITE_OK)
		return catalog_sqlite_fail(q->cat, q->rc, q->what);
	rc = sqlite3_step(q->st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	q->rc = rc;
	return catalog_sqlite_fail(q->cat, rc, q->what);
}

/*
 * Both sqlite3_reset() and sqlite3_finalize() return the failure of the
 * last step again: the caller has it already (err), so only a failure of
 * their own, after a good step, is reported here.
 */
int catalog_sqlite_end(struct catalog_stmt *q, int err)
{
	int rc = SQLITE_OK;

	if (q->st && q->cached) {
		rc = sqlite3_reset(q->st);
		if (sqlite3_clear_bindings(q->st) != SQLITE_OK && rc == SQLITE_OK)
			rc = SQLITE_MISUSE;
	} else if (q->st) {
		rc = sqlite3_finalize(q->st);
	}
	q->st = NULL;
	if (!err && rc != SQLITE_OK && q->rc == SQLITE_OK)
		err = catalog_sqlite_fail(q->cat, rc, q->what);
	return err;
}

int catalog_sqlite_run(struct catalog_stmt *q)
{
	int err = catalog_sqlite_step(q);

	return catalog_sqlite_end(q, err > 0 ? 0 : err);
}

int catalog_sqlite_run_each(struct catalog *cat, const char *sql, const char *what,
			    size_t count,
			    void (*bind)(struct catalog_stmt *q, const void *items, size_t i),
			    const void *items)
{
	struct catalog_stmt q;
	int err = catalog_sqlite_begin_alone(cat);

	if (err)
		return err;
	catalog_sqlite_prepare(cat, &q, sql, what);
	for (size_t i = 0; !err && i < count; i++) {
		int rc;

		bind(&q, items, i);
		err = catalog_sqlite_step(&q);
		if (err > 0)
			err = 0;
		/* The next item starts from a reset statement. */
		rc = err ? SQLITE_OK : sqlite3_reset(q.st);
		if (rc != SQLITE_OK)
			err = catalog_sqlite_fail(cat, rc, what);
	}
	err = catalog_sqlite_end(&q, err);
	return catalog_sqlite_finish(cat, err);
}

int catalog_sqlite_bind_under(struct catalog_stmt *q, int index, const char *prefix,
			      char **storage)
{
	size_t len = strlen(prefix);
	char *buf = malloc(2 * (len + 1));

	*storage = buf;
	if (!buf)
		return -ENOMEM;
	memcpy(buf, prefix, len);
	buf[len] = '/';
	memcpy(buf + len + 1, prefix, len);
	buf[2 * len + 1] = '0';
	sql_bind_blob(q, index, buf, len + 1);
	sql_bind_blob(q, index + 1, buf + len + 1, len + 1);
	return 0;
}

size_t catalog_sqlite_parse_name(const char *const *names, size_t count, const char *name,
				 size_t fallback)
{
	for (size_t i = 0; name && i < count; i++)
		if (strcmp(name, names[i]) == 0)
			return i;
	return fallback;
}

char *catalog_sqlite_column_string(sqlite3_stmt *st, int column)
{
	const void *bytes = sqlite3_column_blob(st, column);
	int len = sqlite3_column_bytes(st, column);
	char *out;

	if (sqlite3_column_type(st, column) == SQLITE_NULL)
		return NULL;
	out = malloc((size_t)len + 1);
	if (!out)
		return NULL;
	if (len)
		memcpy(out, bytes, (size_t)len);
	out[len] = '\0';
	return out;
}

/* ------------------------------------------------------------------ */
/* Transactions                                                         */
/* ------------------------------------------------------------------ */

/*
 * Undo what is left of a failed transaction.  The error that made it
 * fail is the one worth reporting: a failure to roll back is added to
 * it.  A COMMIT that failed on a full disk may have rolled back by itself
 * already, and a ROLLBACK then fails with "no transaction is active".
 */
static void roll_back(struct catalog *cat)
{
	size_t len;

	if (sqlite3_get_autocommit(cat->db) ||
	    sqlite3_exec(cat->db, "ROLLBACK", NULL, NULL, NULL) == SQLITE_OK)
		return;
	len = strlen(cat->error);
	snprintf(cat->error + len, sizeof(cat->error) - len, " (and rolling back: %s)",
		 sqlite3_errmsg(cat->db));
}

int catalog_sqlite_begin(struct catalog *cat)
{
	int err;

	if (cat->in_transaction)
		return 0;
	err = catalog_sqlite_exec(cat, "BEGIN IMMEDIATE");
	if (!err)
		cat->in_transaction = true;
	return err;
}

int catalog_sqlite_commit(struct catalog *cat)
{
	int err;

	if (!cat->in_transaction)
		return 0;
	err = catalog_sqlite_exec(cat, "COMMIT");
	if (err)
		roll_back(cat);
	cat->in_transaction = false;
	return err;
}

int catalog_sqlite_begin_alone(struct catalog *cat)
{
	int err = catalog_sqlite_commit(cat);

	return err ? err : catalog_sqlite_begin(cat);
}

int catalog_sqlite_finish(struct catalog *cat, int err)
{
	if (!err)
		return catalog_sqlite_commit(cat);
	if (cat->in_transaction)
		roll_back(cat);
	cat->in_transaction = false;
	return err;
}

/* ------------------------------------------------------------------ */
/* Opening and closing                                                  */
/* ------------------------------------------------------------------ */

/*
 * SQLite's unix VFS resolves symlinks in a database's name.  The daemon
 * names its catalog /proc/self/fd/N/catalog.db so that it can reach it when
 * BACKING is hidden under its own mount; resolving that magic link would
 * lead through the mount, into the daemon itself.  This VFS is the unix one
 * with names kept exactly as given.
 */
static sqlite3_vfs verbatim_vfs;		/* written once, by pthread_once */
static sqlite3_vfs *unix_vfs;			/* written once, by pthread_once */
static int verbatim_rc;				/* written once, by pthread_once */
static pthread_once_t verbatim_once = PTHREAD_ONCE_INIT;

static int verbatim_full_pathname(sqlite3_vfs *vfs, const char *name, int size, char *out)
{
	(void)vfs;
	if (name[0] != '/')
		return unix_vfs->xFullPathname(unix_vfs, name, size, out);
	if ((int)strlen(name) >= size)
		return SQLITE_CANTOPEN;
	memcpy(out, name, strlen(name) + 1);
	return SQLITE_OK;
}

/* Without a unix VFS (another platform) the default one serves. */
static void register_verbatim_vfs(void)
{
	unix_vfs = sqlite3_vfs_find("unix");
	if (!unix_vfs)
		return;
	/* The unix VFS keeps its own state in pAppData: the copy shares it. */
	verbatim_vfs = *unix_vfs;
	verbatim_vfs.zName = "mediafs-verbatim";
	verbatim_vfs.xFullPathname = verbatim_full_pathname;
	verbatim_vfs.pNext = NULL;
	verbatim_rc = sqlite3_vfs_register(&verbatim_vfs, 0);
}

static int read_version(struct catalog *cat, int *version)
{
	struct catalog_stmt q;
	int err;

	*version = 0;
	catalog_sqlite_prepare(cat, &q, "PRAGMA user_version", "read the schema version");
	err = catalog_sqlite_step(&q);
	if (err > 0) {
		*version = sqlite3_column_int(q.st, 0);
		err = 0;
	} else if (!err) {
		err = catalog_sqlite_fail(cat, SQLITE_CORRUPT, "read the schema version");
	}
	return catalog_sqlite_end(&q, err);
}

static int migrate(struct catalog *cat)
{
	char sql[64];
	int version, err;

	err = read_version(cat, &version);
	if (err)
		return err;
	if (version > CATALOG_SCHEMA_VERSION) {
		snprintf(cat->error, sizeof(cat->error),
			 "the catalog has schema version %d; this mediafs knows up to %d",
			 version, CATALOG_SCHEMA_VERSION);
		return -EPROTO;
	}
	for (; !err && version < CATALOG_SCHEMA_VERSION; version++) {
		err = catalog_sqlite_begin(cat);
		if (err)
			return err;
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", version + 1);
		err = catalog_sqlite_exec(cat, migrations[version]);
		if (!err)
			err = catalog_sqlite_exec(cat, sql);
		err = catalog_sqlite_finish(cat, err);
	}
	return err;
}

/*
 * SQLite makes a database 0644 less the umask, and its -wal and -shm files
 * with the database's mode: the database is made here first, 0600 whatever
 * the umask, never through a link, and one left readable by others (by an
 * older mediafs, or a crash that kept -wal and -shm) is taken back.
 */
enum { CATALOG_FILE_MODE = 0600 };

static int make_private(const char *path, char *error, size_t error_size)
{
	static const char *const suffixes[] = { "", "-wal", "-shm" };
	char name[PATH_MAX];
	struct stat sb;
	int fd, err = 0;

	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, CATALOG_FILE_MODE);
	if (fd >= 0 && fchmod(fd, CATALOG_FILE_MODE) != 0)
		err = -errno;
	if (fd >= 0)
		close(fd);
	else if (errno != EEXIST)
		err = -errno;
	for (size_t i = 0; !err && i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		if (snprintf(name, sizeof(name), "%s%s", path, suffixes[i]) >= (int)sizeof(name)) {
			err = -ENAMETOOLONG;
			break;
		}
		fd = open(name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			err = errno == ENOENT ? 0 : -errno;
			continue;
		}
		if (fstat(fd, &sb) != 0 || ((sb.st_mode & 07777) != CATALOG_FILE_MODE &&
					    fchmod(fd, CATALOG_FILE_MODE) != 0))
			err = -errno;
		close(fd);
	}
	if (err)
		snprintf(error, error_size, "catalog '%s': cannot make it private (0600): %s",
			 path, strerror(-err));
	return err;
}

/* The pragmas of every connection.  Adoption of a large tree builds
 * indexes of a million paths: hence the cache of 16 MiB. */
static const char connection_sql[] =
	"PRAGMA journal_mode = WAL;"
	"PRAGMA synchronous = NORMAL;"
	"PRAGMA cache_size = -16384;"
	"PRAGMA foreign_keys = OFF;";

static int open_connection(struct catalog *cat, const char *path, bool create)
{
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
		    (create ? SQLITE_OPEN_CREATE : 0);
	int rc;

	if (pthread_once(&verbatim_once, register_verbatim_vfs) != 0)
		return catalog_sqlite_fail(cat, SQLITE_ERROR, "set up the catalog's file access");
	if (verbatim_rc != SQLITE_OK)
		return catalog_sqlite_fail(cat, verbatim_rc, "register the verbatim VFS");
	rc = sqlite3_open_v2(path, &cat->db, flags,
			     verbatim_vfs.zName ? verbatim_vfs.zName : NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_busy_timeout(cat->db, BUSY_TIMEOUT_MS);
	if (rc == SQLITE_OK)
		rc = sqlite3_extended_result_codes(cat->db, 1);
	if (rc != SQLITE_OK)
		return catalog_sqlite_fail(cat, rc, "open");
	return catalog_sqlite_exec(cat, connection_sql);
}

int catalog_open(const char *path, bool create, struct catalog **out,
		 char *error, size_t error_size)
{
	struct catalog *cat = calloc(1, sizeof(*cat));
	int err;

	if (!cat) {
		snprintf(error, error_size, "out of memory");
		return -ENOMEM;
	}
	if (create) {
		err = make_private(path, error, error_size);
		if (err) {
			free(cat);
			return err;
		}
	}
	err = open_connection(cat, path, create);
	if (!err)
		err = migrate(cat);
	if (err)
		goto out_close;
	*out = cat;
	return 0;

out_close:
	snprintf(error, error_size, "catalog '%s': %s", path, cat->error);
	catalog_close(cat);
	return err;
}

/*
 * Every use of a cached statement ends with a reset, after which
 * finalizing it cannot fail, and sqlite3_close_v2() cannot fail on a
 * connection that sqlite3_open_v2() gave (nor on NULL): a failure here
 * is a broken assumption, not a condition to report.
 */
void catalog_close(struct catalog *cat)
{
	int rc = SQLITE_OK;

	if (!cat)
		return;
	for (int i = 0; i < STATEMENT_COUNT; i++)
		if (sqlite3_finalize(cat->statements[i]) != SQLITE_OK)
			rc = SQLITE_MISUSE;
	if (sqlite3_close_v2(cat->db) != SQLITE_OK)
		rc = SQLITE_MISUSE;
	assert(rc == SQLITE_OK);
	(void)rc;
	free(cat);
}

const char *catalog_last_error(struct catalog *cat)
{
	return cat->error;
}

/* ------------------------------------------------------------------ */
/* Facts about the store                                                */
/* ------------------------------------------------------------------ */

int catalog_meta_set(struct catalog *cat, const char *key, const char *value)
{
	struct catalog_stmt q;

	catalog_sqlite_prepare(cat, &q, "INSERT INTO meta (key, value) VALUES (?1, ?2)"
			       " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
			       "record a fact");
	sql_bind_text(&q, 1, key);
	sql_bind_text(&q, 2, value);
	return catalog_sqlite_run(&q);
}

int catalog_meta_get(struct catalog *cat, const char *key, char **value)
{
	struct catalog_stmt q;
	const char *text;
	int err;

	*value = NULL;
	catalog_sqlite_prepare(cat, &q, "SELECT value FROM meta WHERE key = ?1", "read a fact");
	sql_bind_text(&q, 1, key);
	err = catalog_sqlite_step(&q);
	text = err > 0 ? (const char *)sqlite3_column_text(q.st, 0) : NULL;
	if (text) {
		*value = strdup(text);
		err = *value ? 0 : -ENOMEM;
	} else if (err >= 0) {
		err = -ENOENT;
	}
	return catalog_sqlite_end(&q, err);
}
