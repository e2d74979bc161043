/*
 * catalog: the SQLite implementation.
 *
 * Layout of this file: schema and migrations; opening; statement cache;
 * events; adoption; queries.
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
#include "catalog.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
	BUSY_TIMEOUT_MS = 10000,
	ERROR_BYTES = 512,
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

static const char *const state_names[] = {
	[CATALOG_LIVE] = "live",
	[CATALOG_QUARANTINED] = "quarantined",
	[CATALOG_PURGED] = "purged",
	[CATALOG_MISSING] = "missing",
};

static const char *const kind_names[] = {
	[CATALOG_FILE] = "file",
	[CATALOG_SYMLINK] = "symlink",
};

/* ------------------------------------------------------------------ */
/* Statements                                                           */
/* ------------------------------------------------------------------ */

enum statement {
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

#define ROW_COLUMNS \
	"id, path, kind, dev, ino, size, mtime_ms, first_seen_ms, last_written_ms," \
	" activity_ms, state, state_changed_ms, state_reason, quarantine_name," \
	" scan_id, last_referenced_ms, access_restores"

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

struct catalog {
	sqlite3 *db;
	sqlite3_stmt *statements[STATEMENT_COUNT];	/* prepared on first use */
	bool in_transaction;
	bool adopting;
	int64_t adopt_start_ms;
	char error[ERROR_BYTES];
};

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
 * Record the database's message and turn rc into -errno.  For an I/O
 * error SQLite's words ("disk I/O error") hide the cause, so the system's
 * error is added ("disk I/O error (Read-only file system)") and returned.
 */
static int fail(struct catalog *cat, int rc, const char *what)
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

static int exec(struct catalog *cat, const char *sql)
{
	int rc = sqlite3_exec(cat->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : fail(cat, rc, sql);
}

/* The cached statement, reset and unbound, ready for binding. */
static sqlite3_stmt *statement(struct catalog *cat, enum statement which)
{
	sqlite3_stmt **slot = &cat->statements[which];

	if (!*slot) {
		int rc = sqlite3_prepare_v3(cat->db, statement_sql[which], -1,
					    SQLITE_PREPARE_PERSISTENT, slot, NULL);
		if (rc != SQLITE_OK) {
			fail(cat, rc, "prepare");
			return NULL;
		}
	} else {
		sqlite3_reset(*slot);
		sqlite3_clear_bindings(*slot);
	}
	return *slot;
}

static void bind_path(sqlite3_stmt *st, int index, const char *path)
{
	sqlite3_bind_blob(st, index, path, (int)strlen(path), SQLITE_STATIC);
}

static void bind_text_or_null(sqlite3_stmt *st, int index, const char *text)
{
	if (text)
		sqlite3_bind_text(st, index, text, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, index);
}

static char *column_string(sqlite3_stmt *st, int column);

/* Step a statement that returns no rows. */
static int run(struct catalog *cat, sqlite3_stmt *st, const char *what)
{
	int rc;

	if (!st)
		return -EIO;
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : fail(cat, rc, what);
}

/* ------------------------------------------------------------------ */
/* Opening                                                              */
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
	sqlite3_vfs_register(&verbatim_vfs, 0);
}

/*
 * Undo what is left of a failed transaction without touching cat->error:
 * the error that made it fail is the one worth reporting.  A COMMIT that
 * failed on a full disk may have rolled back by itself already, and a
 * ROLLBACK then fails with "no transaction is active".
 */
static void roll_back_quietly(struct catalog *cat)
{
	if (!sqlite3_get_autocommit(cat->db))
		sqlite3_exec(cat->db, "ROLLBACK", NULL, NULL, NULL);
}

static int read_version(struct catalog *cat, int *version)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(cat->db, "PRAGMA user_version", -1, &st, NULL);

	if (rc != SQLITE_OK)
		return fail(cat, rc, "read the schema version");
	rc = sqlite3_step(st);
	*version = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : fail(cat, rc, "read the schema version");
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
	for (; version < CATALOG_SCHEMA_VERSION; version++) {
		err = exec(cat, "BEGIN IMMEDIATE");
		if (err)
			return err;
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", version + 1);
		err = exec(cat, migrations[version]);
		if (!err)
			err = exec(cat, sql);
		if (!err)
			err = exec(cat, "COMMIT");
		if (err) {
			roll_back_quietly(cat);
			return err;
		}
	}
	return 0;
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

int catalog_open(const char *path, bool create, struct catalog **out,
		 char *error, size_t error_size)
{
	struct catalog *cat = calloc(1, sizeof(*cat));
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
		    (create ? SQLITE_OPEN_CREATE : 0);
	int rc, err;

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
	pthread_once(&verbatim_once, register_verbatim_vfs);
	rc = sqlite3_open_v2(path, &cat->db, flags,
			     verbatim_vfs.zName ? verbatim_vfs.zName : NULL);
	if (rc != SQLITE_OK) {
		err = fail(cat, rc, "open");
		goto out_close;
	}
	sqlite3_busy_timeout(cat->db, BUSY_TIMEOUT_MS);
	sqlite3_extended_result_codes(cat->db, 1);
	err = exec(cat, "PRAGMA journal_mode = WAL");
	if (!err)
		err = exec(cat, "PRAGMA synchronous = NORMAL");
	/* Adoption of a large tree builds indexes of a million paths. */
	if (!err)
		err = exec(cat, "PRAGMA cache_size = -16384");
	if (!err)
		err = exec(cat, "PRAGMA foreign_keys = OFF");
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

void catalog_close(struct catalog *cat)
{
	if (!cat)
		return;
	for (int i = 0; i < STATEMENT_COUNT; i++)
		sqlite3_finalize(cat->statements[i]);
	sqlite3_close_v2(cat->db);
	free(cat);
}

const char *catalog_last_error(struct catalog *cat)
{
	return cat->error;
}

int catalog_schema_version(struct catalog *cat)
{
	int version = -1;

	read_version(cat, &version);
	return version;
}

const char *catalog_state_name(enum catalog_state state)
{
	return state_names[state];
}

static int begin(struct catalog *cat)
{
	int err;

	if (cat->in_transaction)
		return 0;
	err = exec(cat, "BEGIN IMMEDIATE");
	if (!err)
		cat->in_transaction = true;
	return err;
}

static int commit(struct catalog *cat)
{
	int err;

	if (!cat->in_transaction)
		return 0;
	err = exec(cat, "COMMIT");
	if (err)
		roll_back_quietly(cat);
	cat->in_transaction = false;
	return err;
}

static void rollback(struct catalog *cat)
{
	if (cat->in_transaction)
		roll_back_quietly(cat);
	cat->in_transaction = false;
}

/* ------------------------------------------------------------------ */
/* Events                                                               */
/* ------------------------------------------------------------------ */

struct current_row {
	int64_t id;		/* 0 when there is none */
	bool missing;
	dev_t dev;
	ino_t ino;
};

static int find_current(struct catalog *cat, const char *path, struct current_row *row)
{
	sqlite3_stmt *st = statement(cat, ST_FIND_CURRENT);
	int rc;

	memset(row, 0, sizeof(*row));
	if (!st)
		return -EIO;
	bind_path(st, 1, path);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		row->id = sqlite3_column_int64(st, 0);
		row->missing = strcmp((const char *)sqlite3_column_text(st, 1), "missing") == 0;
		row->dev = (dev_t)sqlite3_column_int64(st, 2);
		row->ino = (ino_t)sqlite3_column_int64(st, 3);
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : fail(cat, rc, "find a path");
}

static int audit(struct catalog *cat, int64_t time_ms, int64_t file_id, const char *path,
		 const char *from, const char *to, const char *reason, const char *detail)
{
	sqlite3_stmt *st = statement(cat, ST_INSERT_AUDIT);

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, time_ms);
	if (file_id)
		sqlite3_bind_int64(st, 2, file_id);
	bind_path(st, 3, path);
	bind_text_or_null(st, 4, from);
	bind_text_or_null(st, 5, to);
	sqlite3_bind_text(st, 6, reason, -1, SQLITE_STATIC);
	bind_text_or_null(st, 7, detail);
	return run(cat, st, "add to the audit log");
}

/* While adopting, a path that left (or a directory whose files left) must
 * not be adopted again from what the walk saw before. */
static int note_gone(struct catalog *cat, const char *path, bool is_dir)
{
	sqlite3_stmt *st;

	if (!cat->adopting)
		return 0;
	st = statement(cat, ST_ADOPT_GONE);
	if (!st)
		return -EIO;
	bind_path(st, 1, path);
	sqlite3_bind_int(st, 2, is_dir);
	return run(cat, st, "note a path gone during adoption");
}

/* A file is at path now: insert it, revive a missing row, or refresh the
 * live row (a new file at the same path, or an event seen twice). */
static int apply_present(struct catalog *cat, const struct catalog_event *ev,
			 const char *reason)
{
	struct current_row row;
	sqlite3_stmt *st;
	int err = find_current(cat, ev->path, &row);

	if (err)
		return err;
	if (row.id && !row.missing && row.ino == ev->ino && row.dev == ev->dev)
		return 0;
	st = statement(cat, !row.id ? ST_INSERT_FILE : row.missing ? ST_REVIVE : ST_RECREATE);
	if (!st)
		return -EIO;
	if (row.id) {
		sqlite3_bind_int64(st, 1, row.id);
		sqlite3_bind_text(st, 2, kind_names[ev->file_kind], -1, SQLITE_STATIC);
	} else {
		bind_path(st, 1, ev->path);
		sqlite3_bind_text(st, 2, kind_names[ev->file_kind], -1, SQLITE_STATIC);
	}
	sqlite3_bind_int64(st, 3, (int64_t)ev->dev);
	sqlite3_bind_int64(st, 4, (int64_t)ev->ino);
	sqlite3_bind_int64(st, 5, ev->size);
	sqlite3_bind_int64(st, 6, ev->mtime_ms);
	sqlite3_bind_int64(st, 7, ev->time_ms);
	if (!row.id || row.missing)
		sqlite3_bind_text(st, 8, reason, -1, SQLITE_STATIC);
	err = run(cat, st, "record a new file");
	if (err)
		return err;
	if (!row.id)
		return audit(cat, ev->time_ms, sqlite3_last_insert_rowid(cat->db), ev->path,
			     NULL, "live", reason, NULL);
	if (row.missing)
		return audit(cat, ev->time_ms, row.id, ev->path, "missing", "live", reason, NULL);
	return audit(cat, ev->time_ms, row.id, ev->path, "live", "live", "replaced-in-place",
		     NULL);
}

/* The parameters of ST_UPDATE_WRITTEN and ST_UPDATE_WRITTEN_QUARANTINED. */
static void bind_written(sqlite3_stmt *st, const struct catalog_event *ev)
{
	sqlite3_bind_int64(st, 1, (int64_t)ev->dev);
	sqlite3_bind_int64(st, 2, (int64_t)ev->ino);
	sqlite3_bind_int64(st, 3, ev->size);
	sqlite3_bind_int64(st, 4, ev->mtime_ms);
	sqlite3_bind_int64(st, 5, ev->time_ms);
}

/*
 * A write to a quarantined file, through a descriptor opened before it
 * went there (unlinked or replaced while open): its row records it, with
 * an audit line.  Returns 0, -ENOENT when no quarantined row has the
 * inode, or -errno.
 */
static int apply_written_quarantined(struct catalog *cat, const struct catalog_event *ev)
{
	sqlite3_stmt *st = statement(cat, ST_AUDIT_WRITTEN_QUARANTINED);
	int err;

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, (int64_t)ev->dev);
	sqlite3_bind_int64(st, 2, (int64_t)ev->ino);
	sqlite3_bind_int64(st, 3, ev->time_ms);
	err = run(cat, st, "audit a write in the quarantine");
	if (err)
		return err;
	if (sqlite3_changes(cat->db) == 0)
		return -ENOENT;
	st = statement(cat, ST_UPDATE_WRITTEN_QUARANTINED);
	if (!st)
		return -EIO;
	bind_written(st, ev);
	return run(cat, st, "record a write in the quarantine");
}

static int apply_written(struct catalog *cat, const struct catalog_event *ev)
{
	sqlite3_stmt *st = statement(cat, ST_UPDATE_WRITTEN);
	int err;

	if (!st)
		return -EIO;
	bind_written(st, ev);
	err = run(cat, st, "record a write");
	if (err || sqlite3_changes(cat->db) > 0)
		return err;
	err = apply_written_quarantined(cat, ev);
	if (err != -ENOENT || !ev->path)
		return err == -ENOENT ? 0 : err;
	/* Unknown inode: a file the catalog has not met yet. */
	return apply_present(cat, ev, "written");
}

/* The row at path (if any) leaves for good. */
static int apply_removed(struct catalog *cat, const char *path, int64_t time_ms,
			 const char *reason)
{
	struct current_row row;
	sqlite3_stmt *st;
	int err = find_current(cat, path, &row);

	if (!err)
		err = note_gone(cat, path, false);
	if (err || !row.id)
		return err;
	st = statement(cat, ST_DELETE);
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, row.id);
	err = run(cat, st, "forget a removed file");
	if (err)
		return err;
	return audit(cat, time_ms, row.id, path, row.missing ? "missing" : "live", NULL,
		     reason, NULL);
}

/* The id of the quarantined row kept at qname, 0 when there is none. */
static int find_quarantined(struct catalog *cat, const char *qname, int64_t *id)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(cat->db, "SELECT id FROM files WHERE quarantine_name = ?1"
				    " AND state = 'quarantined'", -1, &st, NULL);

	*id = 0;
	if (rc != SQLITE_OK)
		return fail(cat, rc, "find a quarantined file");
	bind_path(st, 1, qname);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : fail(cat, rc, "find a quarantined file");
}

/*
 * The startup reconcile met the file in the quarantine before its event
 * was applied and recorded it as found there: the event's row, which
 * has the file's history, takes the name, and the twin goes.
 */
static int drop_twin(struct catalog *cat, int64_t twin, const struct catalog_event *ev)
{
	sqlite3_stmt *st = statement(cat, ST_DELETE);
	int err;

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, twin);
	err = run(cat, st, "drop a file recorded twice");
	if (err)
		return err;
	return audit(cat, ev->time_ms, twin, ev->path, "quarantined", NULL,
		     "recorded by its event", ev->quarantine_name);
}

static int apply_quarantined(struct catalog *cat, const struct catalog_event *ev)
{
	struct current_row row;
	sqlite3_stmt *st;
	int64_t twin;
	int err = find_current(cat, ev->path, &row);

	if (!err)
		err = note_gone(cat, ev->path, false);
	if (err)
		return err;
	if (!row.id) {
		/* Quarantined before its creation was recorded: record both. */
		err = apply_present(cat, ev, "created");
		if (!err)
			err = find_current(cat, ev->path, &row);
		if (err)
			return err;
	}
	err = find_quarantined(cat, ev->quarantine_name, &twin);
	if (!err && twin && twin != row.id)
		err = drop_twin(cat, twin, ev);
	if (err)
		return err;
	st = statement(cat, ST_SET_QUARANTINED);
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, row.id);
	sqlite3_bind_int64(st, 2, ev->time_ms);
	sqlite3_bind_text(st, 3, ev->reason, -1, SQLITE_STATIC);
	bind_path(st, 4, ev->quarantine_name);
	err = run(cat, st, "record a quarantine");
	if (err)
		return err;
	return audit(cat, ev->time_ms, row.id, ev->path, row.missing ? "missing" : "live",
		     "quarantined", ev->reason, ev->quarantine_name);
}

static int set_path(struct catalog *cat, int64_t id, const char *path, int64_t time_ms)
{
	sqlite3_stmt *st = statement(cat, ST_SET_PATH);

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, id);
	bind_path(st, 2, path);
	sqlite3_bind_int64(st, 3, time_ms);
	return run(cat, st, "move a path");
}

static int delete_missing_at(struct catalog *cat, const char *path)
{
	sqlite3_stmt *st = statement(cat, ST_DELETE_MISSING_AT);

	if (!st)
		return -EIO;
	bind_path(st, 1, path);
	return run(cat, st, "drop a missing row");
}

static int apply_renamed_file(struct catalog *cat, const char *from, const char *to,
			      int64_t time_ms)
{
	struct current_row source, target;
	int err = find_current(cat, from, &source);

	if (!err)
		err = find_current(cat, to, &target);
	if (!err)
		err = note_gone(cat, from, false);
	if (err)
		return err;
	/* A live file at the target was replaced without a quarantine. */
	if (target.id && !target.missing) {
		err = apply_removed(cat, to, time_ms, "replaced");
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
	return audit(cat, time_ms, source.id, to, "live", "live", "renamed", from);
}

/* Bind the byte range [prefix "/", prefix "0") that holds prefix's
 * descendants; '0' is the byte after '/'.  *storage is freed by the caller. */
static int bind_prefix_range(sqlite3_stmt *st, const char *prefix, char **storage)
{
	size_t len = strlen(prefix);
	char *buf = malloc(2 * (len + 1));

	if (!buf)
		return -ENOMEM;
	memcpy(buf, prefix, len);
	buf[len] = '/';
	memcpy(buf + len + 1, prefix, len);
	buf[2 * len + 1] = '0';
	sqlite3_bind_blob(st, 1, buf, (int)len + 1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, buf + len + 1, (int)len + 1, SQLITE_STATIC);
	*storage = buf;
	return 0;
}

/* Run one of the statements over a directory's descendants. */
static int run_on_prefix(struct catalog *cat, enum statement which, const char *from,
			 const char *to, int64_t time_ms, const char *what)
{
	sqlite3_stmt *st = statement(cat, which);
	char *range = NULL;
	int err;

	if (!st)
		return -EIO;
	err = bind_prefix_range(st, from, &range);
	if (err)
		return err;
	if (sqlite3_bind_parameter_count(st) >= 3) {
		sqlite3_bind_blob(st, 3, to, (int)strlen(to), SQLITE_STATIC);
		sqlite3_bind_int(st, 4, (int)strlen(from));
		sqlite3_bind_int64(st, 5, time_ms);
	}
	err = run(cat, st, what);
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
	sqlite3_stmt *st;
	int64_t id;
	int rc, err = find_quarantined(cat, ev->quarantine_name, &id);

	if (!err)
		err = find_current(cat, ev->path, &current);
	if (err || !id)
		return err;
	if (current.id) {
		err = apply_removed(cat, ev->path, ev->time_ms, "superseded by a restore");
		if (err)
			return err;
	}
	/* Restores by access are counted, so that they converge (safekeep.h). */
	rc = sqlite3_prepare_v2(cat->db, "UPDATE files SET state = 'live', path = ?2,"
				" quarantine_name = NULL, state_changed_ms = ?3, activity_ms = ?3,"
				" state_reason = ?4, access_restores = access_restores +"
				" (?4 = '" CATALOG_REASON_ACCESSED "') WHERE id = ?1", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return fail(cat, rc, "record a restore");
	sqlite3_bind_int64(st, 1, id);
	bind_path(st, 2, ev->path);
	sqlite3_bind_int64(st, 3, ev->time_ms);
	sqlite3_bind_text(st, 4, ev->reason, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return fail(cat, rc, "record a restore");
	return audit(cat, ev->time_ms, id, ev->path, "quarantined", "live", ev->reason,
		     ev->quarantine_name);
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
		return apply_removed(cat, ev->path, ev->time_ms,
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
	int err;

	/* An adoption batch in progress is committed first: one at a time. */
	err = commit(cat);
	if (!err)
		err = begin(cat);
	for (size_t i = 0; !err && i < count; i++)
		err = apply_event(cat, &events[i]);
	if (err) {
		rollback(cat);
		return err;
	}
	return commit(cat);
}

/* ------------------------------------------------------------------ */
/* Adoption                                                             */
/* ------------------------------------------------------------------ */

int catalog_adopt_begin(struct catalog *cat, int64_t start_ms)
{
	int err = exec(cat,
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

bool catalog_is_adopting(const struct catalog *cat)
{
	return cat->adopting;
}

int catalog_adopt_add(struct catalog *cat, const struct catalog_found *found)
{
	sqlite3_stmt *st;
	int err = begin(cat);

	if (err)
		return err;
	st = statement(cat, ST_ADOPT_ADD);
	if (!st)
		return -EIO;
	bind_path(st, 1, found->path);
	sqlite3_bind_int(st, 2, found->kind);
	sqlite3_bind_int64(st, 3, (int64_t)found->dev);
	sqlite3_bind_int64(st, 4, (int64_t)found->ino);
	sqlite3_bind_int64(st, 5, found->size);
	sqlite3_bind_int64(st, 6, found->mtime_ms);
	return run(cat, st, "record a file found on disk");
}

int catalog_adopt_commit(struct catalog *cat)
{
	return commit(cat);
}

/* Run one finishing statement with ?1 = now and ?2 = the start. */
static int finish_step(struct catalog *cat, const char *sql, int64_t now_ms,
		       uint64_t *changes)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(cat->db, sql, -1, &st, NULL);

	if (rc != SQLITE_OK)
		return fail(cat, rc, "prepare adoption");
	sqlite3_bind_int64(st, 1, now_ms);
	sqlite3_bind_int64(st, 2, cat->adopt_start_ms);
	rc = sqlite3_step(st);
	if (changes)
		*changes = (uint64_t)sqlite3_changes(cat->db);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : fail(cat, rc, "finish adoption");
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
};

enum { FINISH_REAPPEARED = 1, FINISH_CHANGED = 2, FINISH_ADOPTED = 3, FINISH_MISSING = 5 };

int catalog_adopt_finish(struct catalog *cat, int64_t now_ms,
			 struct catalog_adopt_result *result)
{
	uint64_t changes[sizeof(finish_sql) / sizeof(finish_sql[0])] = { 0 };
	int64_t last_id = 0;
	sqlite3_stmt *st;
	int err;

	memset(result, 0, sizeof(*result));
	err = commit(cat);
	if (!err)
		err = begin(cat);
	if (err)
		return err;
	if (sqlite3_prepare_v2(cat->db, "SELECT (SELECT count(*) FROM temp.adopt_seen),"
			       " (SELECT coalesce(max(id), 0) FROM files)", -1, &st,
			       NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW) {
			result->found = (uint64_t)sqlite3_column_int64(st, 0);
			last_id = sqlite3_column_int64(st, 1);
		}
		sqlite3_finalize(st);
	}
	for (size_t i = 0; !err && i < sizeof(finish_sql) / sizeof(finish_sql[0]); i++)
		err = finish_step(cat, finish_sql[i], now_ms, &changes[i]);
	if (!err) {
		/* Audit the adopted rows: they are the ids above last_id. */
		char sql[256];
		snprintf(sql, sizeof(sql),
			 "INSERT INTO audit (time_ms, file_id, path, from_state, to_state, reason)"
			 " SELECT ?1, id, path, NULL, 'live', 'adopted' FROM files"
			 " WHERE id > %lld AND state_reason = 'adopted'", (long long)last_id);
		err = finish_step(cat, sql, now_ms, NULL);
	}
	if (!err)
		err = exec(cat, "DROP TABLE temp.adopt_seen; DROP TABLE temp.adopt_gone;");
	if (err) {
		rollback(cat);
		return err;
	}
	err = commit(cat);
	if (err)
		return err;
	cat->adopting = false;
	result->reappeared = changes[FINISH_REAPPEARED];
	result->changed = changes[FINISH_CHANGED];
	result->adopted = changes[FINISH_ADOPTED];
	result->missing = changes[FINISH_MISSING];
	return 0;
}

int catalog_next_unsized(struct catalog *cat, int64_t after_id, size_t limit,
			 int (*fn)(void *ctx, int64_t id, const char *path), void *ctx)
{
	sqlite3_stmt *st;
	int rc, ret = 0;

	/* "+state" keeps the planner on the rowid: one pass over the table
	 * in slices, not a sort of every live row per slice. */
	rc = sqlite3_prepare_v2(cat->db, "SELECT id, path FROM files WHERE id > ?1"
				" AND +state = 'live' AND size < 0 ORDER BY id LIMIT ?2",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		return fail(cat, rc, "find files of unknown size");
	sqlite3_bind_int64(st, 1, after_id);
	sqlite3_bind_int64(st, 2, (int64_t)limit);
	while (!ret && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		char *path = column_string(st, 1);
		ret = path ? fn(ctx, sqlite3_column_int64(st, 0), path) : -ENOMEM;
		free(path);
	}
	sqlite3_finalize(st);
	if (ret)
		return ret;
	return rc == SQLITE_DONE ? 0 : fail(cat, rc, "find files of unknown size");
}

int catalog_set_sizes(struct catalog *cat, const struct catalog_size *sizes, size_t count)
{
	sqlite3_stmt *st;
	int rc, err;

	err = commit(cat);
	if (!err)
		err = begin(cat);
	if (err)
		return err;
	rc = sqlite3_prepare_v2(cat->db, "UPDATE files SET size = ?2, mtime_ms = ?3"
				" WHERE id = ?1 AND size < 0", -1, &st, NULL);
	if (rc != SQLITE_OK) {
		rollback(cat);
		return fail(cat, rc, "record sizes");
	}
	rc = SQLITE_DONE;
	for (size_t i = 0; i < count && rc == SQLITE_DONE; i++) {
		sqlite3_bind_int64(st, 1, sizes[i].id);
		sqlite3_bind_int64(st, 2, sizes[i].size);
		sqlite3_bind_int64(st, 3, sizes[i].mtime_ms);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		err = fail(cat, rc, "record sizes");
		rollback(cat);
		return err;
	}
	return commit(cat);
}

/* ------------------------------------------------------------------ */
/* Queries                                                              */
/* ------------------------------------------------------------------ */

static char *column_string(sqlite3_stmt *st, int column)
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

static enum catalog_state parse_state(const char *name)
{
	for (size_t i = 0; i < sizeof(state_names) / sizeof(state_names[0]); i++)
		if (name && strcmp(name, state_names[i]) == 0)
			return (enum catalog_state)i;
	return CATALOG_MISSING;
}

static void read_row(sqlite3_stmt *st, struct catalog_row *row)
{
	const char *kind = (const char *)sqlite3_column_text(st, 2);
	const char *state = (const char *)sqlite3_column_text(st, 10);

	row->id = sqlite3_column_int64(st, 0);
	row->path = column_string(st, 1);
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
	row->state_reason = column_string(st, 12);
	row->quarantine_name = column_string(st, 13);
	row->scan_id = sqlite3_column_int64(st, 14);
	row->last_referenced_ms = sqlite3_column_int64(st, 15);
	row->access_restores = sqlite3_column_int64(st, 16);
}

void catalog_row_clear(struct catalog_row *row)
{
	free(row->path);
	free(row->state_reason);
	free(row->quarantine_name);
	memset(row, 0, sizeof(*row));
}

int catalog_get_current(struct catalog *cat, const char *path, struct catalog_row *row)
{
	sqlite3_stmt *st = statement(cat, ST_GET_CURRENT);
	int rc;

	memset(row, 0, sizeof(*row));
	if (!st)
		return -EIO;
	bind_path(st, 1, path);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		read_row(st, row);
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return -ENOENT;
	return rc == SQLITE_ROW ? 0 : fail(cat, rc, "read a row");
}

int catalog_count_by_state(struct catalog *cat, uint64_t counts[4])
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(cat->db,
				    "SELECT state, count(*) FROM files GROUP BY state",
				    -1, &st, NULL);

	memset(counts, 0, 4 * sizeof(counts[0]));
	if (rc != SQLITE_OK)
		return fail(cat, rc, "count rows");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		counts[parse_state((const char *)sqlite3_column_text(st, 0))] +=
			(uint64_t)sqlite3_column_int64(st, 1);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : fail(cat, rc, "count rows");
}


int catalog_each_row(struct catalog *cat, int state,
		     int (*fn)(void *ctx, const struct catalog_row *row), void *ctx)
{
	sqlite3_stmt *st;
	int rc, ret = 0;

	rc = sqlite3_prepare_v2(cat->db,
				state < 0 ? "SELECT " ROW_COLUMNS " FROM files ORDER BY id" :
					    "SELECT " ROW_COLUMNS " FROM files WHERE +state = ?1"
					    " ORDER BY id",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		return fail(cat, rc, "read rows");
	if (state >= 0)
		sqlite3_bind_text(st, 1, state_names[state], -1, SQLITE_STATIC);
	while (!ret && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct catalog_row row;
		read_row(st, &row);
		ret = fn(ctx, &row);
		catalog_row_clear(&row);
	}
	sqlite3_finalize(st);
	if (ret)
		return ret;
	return rc == SQLITE_DONE ? 0 : fail(cat, rc, "read rows");
}

int catalog_each_access_restored(struct catalog *cat,
				 int (*fn)(void *ctx, const char *path, ino_t ino), void *ctx)
{
	sqlite3_stmt *st;
	int rc, ret = 0;

	rc = sqlite3_prepare_v2(cat->db, "SELECT path, ino FROM files WHERE access_restores > 0"
				" AND state IN ('live', 'quarantined')", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return fail(cat, rc, "read the restores by access");
	while (!ret && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		char *path = column_string(st, 0);
		ret = path ? fn(ctx, path, (ino_t)sqlite3_column_int64(st, 1)) : -ENOMEM;
		free(path);
	}
	sqlite3_finalize(st);
	if (ret)
		return ret;
	return rc == SQLITE_DONE ? 0 : fail(cat, rc, "read the restores by access");
}

int catalog_get_row(struct catalog *cat, int64_t id, struct catalog_row *row)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(cat->db, "SELECT " ROW_COLUMNS " FROM files WHERE id = ?1",
				    -1, &st, NULL);

	memset(row, 0, sizeof(*row));
	if (rc != SQLITE_OK)
		return fail(cat, rc, "read a row");
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		read_row(st, row);
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE)
		return -ENOENT;
	return rc == SQLITE_ROW ? 0 : fail(cat, rc, "read a row");
}

/* ------------------------------------------------------------------ */
/* State changes by the checker and by an admin                         */
/* ------------------------------------------------------------------ */

/* Run one UPDATE (binding ?1 = id, ?2.. = the given values), require one
 * changed row, and audit it; all in one transaction. */
struct state_change {
	const char *sql;
	int64_t id;
	int64_t now_ms;
	const char *text[3];	/* bound as ?3, ?4, ?5 (NULL: not bound) */
	int64_t number;		/* bound as ?6 */
	int64_t ino;		/* bound as ?7 (0: not bound) */
	const char *from, *to, *reason, *detail;
};

/* change_state's work, inside a transaction the caller holds. */
static int change_state_in_transaction(struct catalog *cat, const struct state_change *change)
{
	struct catalog_row row;
	sqlite3_stmt *st;
	int rc, err;

	err = catalog_get_row(cat, change->id, &row);
	if (err == -ENOENT)
		snprintf(cat->error, sizeof(cat->error), "row %lld is not in the catalog",
			 (long long)change->id);
	if (err)
		return err;
	rc = sqlite3_prepare_v2(cat->db, change->sql, -1, &st, NULL);
	if (rc != SQLITE_OK) {
		err = fail(cat, rc, "change a state");
		goto out_clear;
	}
	sqlite3_bind_int64(st, 1, change->id);
	sqlite3_bind_int64(st, 2, change->now_ms);
	for (int i = 0; i < 3; i++)
		if (change->text[i])
			sqlite3_bind_blob(st, 3 + i, change->text[i], (int)strlen(change->text[i]),
					  SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, change->number);
	if (change->ino)
		sqlite3_bind_int64(st, 7, change->ino);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		err = fail(cat, rc, "change a state");
		goto out_clear;
	}
	if (sqlite3_changes(cat->db) != 1) {
		snprintf(cat->error, sizeof(cat->error), "row %lld is not %s",
			 (long long)change->id, change->from);
		err = -ENOENT;
		goto out_clear;
	}
	err = audit(cat, change->now_ms, change->id,
		    change->text[0] && change->to && strcmp(change->to, "live") == 0 ?
			    change->text[0] : row.path,
		    change->from, change->to, change->reason, change->detail);
out_clear:
	catalog_row_clear(&row);
	return err;
}

static int change_state(struct catalog *cat, const struct state_change *change)
{
	int err = commit(cat);

	if (!err)
		err = begin(cat);
	if (!err)
		err = change_state_in_transaction(cat, change);
	if (err) {
		rollback(cat);
		return err;
	}
	return commit(cat);
}

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
int catalog_set_restored(struct catalog *cat, int64_t id, int64_t now_ms,
			 const char *reason, const char *path)
{
	struct catalog_row row;
	struct current_row current;
	int err = commit(cat);

	if (!err)
		err = begin(cat);
	if (err)
		return err;
	err = catalog_get_row(cat, id, &row);
	if (err == -ENOENT)
		snprintf(cat->error, sizeof(cat->error), "row %lld is not in the catalog",
			 (long long)id);
	if (err)
		goto out_rollback;
	if (!path)
		path = row.path;
	if (row.state == CATALOG_LIVE && strcmp(row.path, path) == 0)
		goto out_clear;		/* another thread recorded this restore */
	err = find_current(cat, path, &current);
	if (!err && current.id && current.id != id)
		err = apply_removed(cat, path, now_ms, "superseded by a restore");
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
	if (!err)
		return commit(cat);
out_rollback:
	rollback(cat);
	return err;
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
	state = state_names[row.state];
	err = begin(cat);
	if (!err)
		err = audit(cat, now_ms, id, row.path, state, state, reason, detail);
	err = err ? (rollback(cat), err) : commit(cat);
	catalog_row_clear(&row);
	return err;
}

int catalog_set_referenced(struct catalog *cat, const int64_t *ids, size_t count,
			   int64_t now_ms)
{
	sqlite3_stmt *st;
	int rc = SQLITE_DONE, err = begin(cat);

	if (err)
		return err;
	if (sqlite3_prepare_v2(cat->db, "UPDATE files SET last_referenced_ms = ?2 WHERE id = ?1",
			       -1, &st, NULL) != SQLITE_OK) {
		rollback(cat);
		return fail(cat, SQLITE_ERROR, "mark referenced");
	}
	for (size_t i = 0; i < count && rc == SQLITE_DONE; i++) {
		sqlite3_bind_int64(st, 1, ids[i]);
		sqlite3_bind_int64(st, 2, now_ms);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		err = fail(cat, rc, "mark referenced");
		rollback(cat);
		return err;
	}
	return commit(cat);
}

/* ------------------------------------------------------------------ */
/* Scans                                                                */
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
	for (size_t i = 0; i < sizeof(scan_status_names) / sizeof(scan_status_names[0]); i++)
		if (name && strcmp(name, scan_status_names[i]) == 0)
			return (enum catalog_scan_status)i;
	return CATALOG_SCAN_FAILED;
}

int catalog_scan_begin(struct catalog *cat, int64_t started_ms, const char *trigger,
		       int64_t *id)
{
	sqlite3_stmt *st;
	int rc, err = commit(cat);

	if (err)
		return err;
	rc = sqlite3_prepare_v2(cat->db, "INSERT INTO scans (started_ms, trigger, status)"
				" VALUES (?1, ?2, 'running')", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return fail(cat, rc, "start a scan");
	sqlite3_bind_int64(st, 1, started_ms);
	sqlite3_bind_text(st, 2, trigger, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return fail(cat, rc, "start a scan");
	*id = sqlite3_last_insert_rowid(cat->db);
	return 0;
}

int catalog_scan_end(struct catalog *cat, const struct catalog_scan *scan)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(cat->db,
		"UPDATE scans SET finished_ms = ?2, status = ?3, live = ?4, referenced = ?5,"
		" candidates = ?6, quarantined = ?7, restored = ?8, purged = ?9, conflicts = ?10,"
		" hostile = ?11, message = ?12, decided_ms = nullif(?13, 0),"
		" hostile_examples = nullif(?14, ''), kept_open = ?15, respelled = ?16,"
		" near_misses = ?17, near_miss_examples = nullif(?18, '') WHERE id = ?1",
		-1, &st, NULL);

	if (rc != SQLITE_OK)
		return fail(cat, rc, "record a scan");
	sqlite3_bind_int64(st, 1, scan->id);
	sqlite3_bind_int64(st, 2, scan->finished_ms);
	sqlite3_bind_text(st, 3, scan_status_names[scan->status], -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (int64_t)scan->live);
	sqlite3_bind_int64(st, 5, (int64_t)scan->referenced);
	sqlite3_bind_int64(st, 6, (int64_t)scan->candidates);
	sqlite3_bind_int64(st, 7, (int64_t)scan->quarantined);
	sqlite3_bind_int64(st, 8, (int64_t)scan->restored);
	sqlite3_bind_int64(st, 9, (int64_t)scan->purged);
	sqlite3_bind_int64(st, 10, (int64_t)scan->conflicts);
	sqlite3_bind_int64(st, 11, (int64_t)scan->hostile);
	sqlite3_bind_text(st, 12, scan->message, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 13, scan->decided_ms);
	sqlite3_bind_text(st, 14, scan->hostile_examples, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 15, (int64_t)scan->kept_open);
	sqlite3_bind_int64(st, 16, (int64_t)scan->respelled);
	sqlite3_bind_int64(st, 17, (int64_t)scan->near_misses);
	sqlite3_bind_text(st, 18, scan->near_miss_examples, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : fail(cat, rc, "record a scan");
}

int catalog_scan_keep_candidates(struct catalog *cat, int64_t scan_id,
				 const int64_t *file_ids, size_t count)
{
	sqlite3_stmt *st;
	int rc = SQLITE_DONE, err = commit(cat);

	if (!err)
		err = begin(cat);
	if (err)
		return err;
	if (sqlite3_prepare_v2(cat->db, "INSERT OR IGNORE INTO scan_candidates (scan_id, file_id)"
			       " VALUES (?1, ?2)", -1, &st, NULL) != SQLITE_OK) {
		rollback(cat);
		return fail(cat, SQLITE_ERROR, "keep candidates");
	}
	for (size_t i = 0; i < count && rc == SQLITE_DONE; i++) {
		sqlite3_bind_int64(st, 1, scan_id);
		sqlite3_bind_int64(st, 2, file_ids[i]);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		err = fail(cat, rc, "keep candidates");
		rollback(cat);
		return err;
	}
	return commit(cat);
}

#define SCAN_COLUMNS \
	"id, started_ms, coalesce(finished_ms, 0), coalesce(decided_ms, 0), trigger, status," \
	" live, referenced, candidates, quarantined, restored, purged, conflicts, hostile," \
	" coalesce(message, ''), coalesce(hostile_examples, ''), kept_open, respelled, near_misses," \
	" coalesce(near_miss_examples, '')"

static void read_scan(sqlite3_stmt *st, struct catalog_scan *scan)
{
	memset(scan, 0, sizeof(*scan));
	scan->id = sqlite3_column_int64(st, 0);
	scan->started_ms = sqlite3_column_int64(st, 1);
	scan->finished_ms = sqlite3_column_int64(st, 2);
	scan->decided_ms = sqlite3_column_int64(st, 3);
	snprintf(scan->trigger, sizeof(scan->trigger), "%s",
		 (const char *)sqlite3_column_text(st, 4));
	scan->status = parse_scan_status((const char *)sqlite3_column_text(st, 5));
	scan->live = (uint64_t)sqlite3_column_int64(st, 6);
	scan->referenced = (uint64_t)sqlite3_column_int64(st, 7);
	scan->candidates = (uint64_t)sqlite3_column_int64(st, 8);
	scan->quarantined = (uint64_t)sqlite3_column_int64(st, 9);
	scan->restored = (uint64_t)sqlite3_column_int64(st, 10);
	scan->purged = (uint64_t)sqlite3_column_int64(st, 11);
	scan->conflicts = (uint64_t)sqlite3_column_int64(st, 12);
	scan->hostile = (uint64_t)sqlite3_column_int64(st, 13);
	snprintf(scan->message, sizeof(scan->message), "%s",
		 (const char *)sqlite3_column_text(st, 14));
	snprintf(scan->hostile_examples, sizeof(scan->hostile_examples), "%s",
		 (const char *)sqlite3_column_text(st, 15));
	scan->kept_open = (uint64_t)sqlite3_column_int64(st, 16);
	scan->respelled = (uint64_t)sqlite3_column_int64(st, 17);
	scan->near_misses = (uint64_t)sqlite3_column_int64(st, 18);
	snprintf(scan->near_miss_examples, sizeof(scan->near_miss_examples), "%s",
		 (const char *)sqlite3_column_text(st, 19));
}

static int scan_query_one(struct catalog *cat, const char *sql, int64_t id,
			  struct catalog_scan *scan)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(cat->db, sql, -1, &st, NULL);

	if (rc != SQLITE_OK)
		return fail(cat, rc, "read a scan");
	if (sqlite3_bind_parameter_count(st) > 0)
		sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		read_scan(st, scan);
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE)
		return -ENOENT;
	return rc == SQLITE_ROW ? 0 : fail(cat, rc, "read a scan");
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

int catalog_scan_each_candidate(struct catalog *cat, int64_t scan_id,
				int (*fn)(void *ctx, int64_t file_id), void *ctx)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(cat->db, "SELECT file_id FROM scan_candidates"
				    " WHERE scan_id = ?1", -1, &st, NULL);
	int ret = 0;

	if (rc != SQLITE_OK)
		return fail(cat, rc, "read candidates");
	sqlite3_bind_int64(st, 1, scan_id);
	while (!ret && (rc = sqlite3_step(st)) == SQLITE_ROW)
		ret = fn(ctx, sqlite3_column_int64(st, 0));
	sqlite3_finalize(st);
	if (ret)
		return ret;
	return rc == SQLITE_DONE ? 0 : fail(cat, rc, "read candidates");
}

int catalog_scan_each(struct catalog *cat, size_t limit,
		      int (*fn)(void *ctx, const struct catalog_scan *scan), void *ctx)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(cat->db, "SELECT " SCAN_COLUMNS " FROM scans"
				    " ORDER BY id DESC LIMIT ?1", -1, &st, NULL);
	int ret = 0;

	if (rc != SQLITE_OK)
		return fail(cat, rc, "read scans");
	sqlite3_bind_int64(st, 1, (int64_t)limit);
	while (!ret && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct catalog_scan scan;
		read_scan(st, &scan);
		ret = fn(ctx, &scan);
	}
	sqlite3_finalize(st);
	if (ret)
		return ret;
	return rc == SQLITE_DONE ? 0 : fail(cat, rc, "read scans");
}

int catalog_scan_decide(struct catalog *cat, int64_t scan_id,
			enum catalog_scan_status decision, int64_t now_ms)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(cat->db, "UPDATE scans SET status = ?2, decided_ms = ?3"
				    " WHERE id = ?1 AND status = 'held'", -1, &st, NULL);

	if (rc != SQLITE_OK)
		return fail(cat, rc, "decide a scan");
	sqlite3_bind_int64(st, 1, scan_id);
	sqlite3_bind_text(st, 2, scan_status_names[decision], -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now_ms);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return fail(cat, rc, "decide a scan");
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
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(cat->db, "INSERT OR IGNORE INTO pins (pattern, created_ms)"
				    " VALUES (?1, ?2)", -1, &st, NULL);

	if (rc != SQLITE_OK)
		return fail(cat, rc, "pin");
	bind_path(st, 1, pattern);
	sqlite3_bind_int64(st, 2, now_ms);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : fail(cat, rc, "pin");
}

int catalog_pin_remove(struct catalog *cat, const char *pattern)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(cat->db, "DELETE FROM pins WHERE pattern = ?1", -1, &st,
				    NULL);

	if (rc != SQLITE_OK)
		return fail(cat, rc, "unpin");
	bind_path(st, 1, pattern);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return fail(cat, rc, "unpin");
	return sqlite3_changes(cat->db) ? 0 : -ENOENT;
}

int catalog_each_pin(struct catalog *cat,
		     int (*fn)(void *ctx, const char *pattern, int64_t created_ms), void *ctx)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(cat->db, "SELECT pattern, created_ms FROM pins"
				    " ORDER BY pattern", -1, &st, NULL);
	int ret = 0;

	if (rc != SQLITE_OK)
		return fail(cat, rc, "read pins");
	while (!ret && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		char *pattern = column_string(st, 0);
		ret = pattern ? fn(ctx, pattern, sqlite3_column_int64(st, 1)) : -ENOMEM;
		free(pattern);
	}
	sqlite3_finalize(st);
	if (ret)
		return ret;
	return rc == SQLITE_DONE ? 0 : fail(cat, rc, "read pins");
}

int catalog_find_quarantined(struct catalog *cat, const char *quarantine_name, int64_t *id)
{
	return find_quarantined(cat, quarantine_name, id);
}

int catalog_recover_quarantined(struct catalog *cat, const char *path,
				const char *quarantine_name, const struct catalog_found *file,
				int64_t now_ms, const char *reason)
{
	struct current_row current;
	int64_t id;
	int err = begin(cat);

	/* Its event may have been applied since the caller looked. */
	if (!err)
		err = find_quarantined(cat, quarantine_name, &id);
	if (!err && id) {
		snprintf(cat->error, sizeof(cat->error), "a row holds '%s' already",
			 quarantine_name);
		err = -EEXIST;
	}
	if (!err)
		err = find_current(cat, path, &current);
	if (!err && current.id && current.missing && current.ino == file->ino) {
		id = current.id;	/* the row adoption declared missing */
	} else if (!err) {
		struct catalog_event ev = {
			.time_ms = now_ms, .path = path, .file_kind = file->kind,
			.dev = file->dev, .ino = file->ino, .size = file->size,
			.mtime_ms = file->mtime_ms,
		};
		sqlite3_stmt *st = statement(cat, ST_INSERT_FILE);
		if (!st) {
			err = -EIO;
		} else {
			/* A row of its own: a live file may hold the path now. */
			bind_path(st, 1, "\n.mediafs-recovering");
			sqlite3_bind_text(st, 2, kind_names[ev.file_kind], -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 3, (int64_t)ev.dev);
			sqlite3_bind_int64(st, 4, (int64_t)ev.ino);
			sqlite3_bind_int64(st, 5, ev.size);
			sqlite3_bind_int64(st, 6, ev.mtime_ms);
			sqlite3_bind_int64(st, 7, now_ms);
			sqlite3_bind_text(st, 8, reason, -1, SQLITE_STATIC);
			err = run(cat, st, "record a recovered file");
		}
		id = sqlite3_last_insert_rowid(cat->db);
	}
	if (!err) {
		sqlite3_stmt *st;
		int rc = sqlite3_prepare_v2(cat->db, "UPDATE files SET state = 'quarantined',"
					    " path = ?2, quarantine_name = ?3, state_changed_ms = ?4,"
					    " state_reason = ?5 WHERE id = ?1", -1, &st, NULL);
		if (rc != SQLITE_OK) {
			err = fail(cat, rc, "record a recovered file");
		} else {
			sqlite3_bind_int64(st, 1, id);
			bind_path(st, 2, path);
			bind_path(st, 3, quarantine_name);
			sqlite3_bind_int64(st, 4, now_ms);
			sqlite3_bind_text(st, 5, reason, -1, SQLITE_STATIC);
			rc = sqlite3_step(st);
			sqlite3_finalize(st);
			err = rc == SQLITE_DONE ? 0 : fail(cat, rc, "record a recovered file");
		}
	}
	if (!err)
		err = audit(cat, now_ms, id, path, NULL, "quarantined", reason, quarantine_name);
	if (err) {
		rollback(cat);
		return err;
	}
	return commit(cat);
}

/* Append a condition to a WHERE clause being built. */
static void add_condition(char *sql, size_t size, const char *condition)
{
	size_t len = strlen(sql);

	snprintf(sql + len, size - len, "%s%s", strstr(sql, " WHERE ") ? " AND " : " WHERE ",
		 condition);
}

int catalog_query_rows(struct catalog *cat, const struct catalog_filter *filter,
		       int (*fn)(void *ctx, const struct catalog_row *row), void *ctx)
{
	char sql[1024] = "SELECT " ROW_COLUMNS " FROM files";
	char *range = NULL;
	sqlite3_stmt *st;
	int rc, ret = 0;

	if (filter->prefix && filter->prefix[0])
		add_condition(sql, sizeof(sql), "(path = ?1 OR (path >= ?2 AND path < ?3))");
	if (filter->state >= 0)
		add_condition(sql, sizeof(sql), "+state = ?4");
	if (filter->changed_before_ms)
		add_condition(sql, sizeof(sql),
			      "(CASE state WHEN 'live' THEN activity_ms ELSE state_changed_ms END) < ?5");
	if (filter->larger_than)
		add_condition(sql, sizeof(sql), "size > ?6");
	if (filter->scan_id)
		add_condition(sql, sizeof(sql), "scan_id = ?7");
	if (filter->state_changed_since_ms)
		add_condition(sql, sizeof(sql), "state_changed_ms >= ?8");
	if (filter->path)
		add_condition(sql, sizeof(sql), "path = ?9");
	snprintf(sql + strlen(sql), sizeof(sql) - strlen(sql), " ORDER BY path, id%s",
		 filter->limit ? " LIMIT ?10" : "");
	rc = sqlite3_prepare_v2(cat->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return fail(cat, rc, "query rows");
	if (filter->prefix && filter->prefix[0]) {
		size_t len = strlen(filter->prefix);
		range = malloc(2 * (len + 1));
		if (!range) {
			sqlite3_finalize(st);
			return -ENOMEM;
		}
		memcpy(range, filter->prefix, len);
		range[len] = '/';
		memcpy(range + len + 1, filter->prefix, len);
		range[2 * len + 1] = '0';
		sqlite3_bind_blob(st, 1, filter->prefix, (int)len, SQLITE_STATIC);
		sqlite3_bind_blob(st, 2, range, (int)len + 1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 3, range + len + 1, (int)len + 1, SQLITE_STATIC);
	}
	if (filter->state >= 0)
		sqlite3_bind_text(st, 4, state_names[filter->state], -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, filter->changed_before_ms);
	sqlite3_bind_int64(st, 6, filter->larger_than);
	sqlite3_bind_int64(st, 7, filter->scan_id);
	sqlite3_bind_int64(st, 8, filter->state_changed_since_ms);
	if (filter->path)
		bind_path(st, 9, filter->path);
	sqlite3_bind_int64(st, 10, (int64_t)filter->limit);
	while (!ret && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct catalog_row row;
		read_row(st, &row);
		ret = fn(ctx, &row);
		catalog_row_clear(&row);
	}
	sqlite3_finalize(st);
	free(range);
	if (ret)
		return ret;
	return rc == SQLITE_DONE ? 0 : fail(cat, rc, "query rows");
}

int catalog_query_audit(struct catalog *cat, int64_t since_ms, const char *path,
			size_t limit,
			int (*fn)(void *ctx, const struct catalog_audit *entry), void *ctx)
{
	sqlite3_stmt *st;
	int rc, ret = 0;

	rc = sqlite3_prepare_v2(cat->db,
		"SELECT * FROM (SELECT id, time_ms, file_id, path, from_state, to_state, reason,"
		" detail FROM audit WHERE time_ms >= ?1 AND (?2 IS NULL OR"
		" path = ?2 OR file_id IN (SELECT file_id FROM audit WHERE path = ?2"
		" AND file_id IS NOT NULL))"
		" ORDER BY id DESC LIMIT ?3) ORDER BY id", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return fail(cat, rc, "read the audit log");
	sqlite3_bind_int64(st, 1, since_ms);
	if (path)
		bind_path(st, 2, path);
	sqlite3_bind_int64(st, 3, limit ? (int64_t)limit : -1);
	while (!ret && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct catalog_audit entry = {
			.id = sqlite3_column_int64(st, 0),
			.time_ms = sqlite3_column_int64(st, 1),
			.file_id = sqlite3_column_int64(st, 2),
			.path = column_string(st, 3),
			.from_state = column_string(st, 4),
			.to_state = column_string(st, 5),
			.reason = column_string(st, 6),
			.detail = column_string(st, 7),
		};
		ret = fn(ctx, &entry);
		free(entry.path);
		free(entry.from_state);
		free(entry.to_state);
		free(entry.reason);
		free(entry.detail);
	}
	sqlite3_finalize(st);
	if (ret)
		return ret;
	return rc == SQLITE_DONE ? 0 : fail(cat, rc, "read the audit log");
}

int catalog_totals_by_state(struct catalog *cat, uint64_t counts[4], uint64_t bytes[4])
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(cat->db, "SELECT state, count(*), sum(max(size, 0))"
				    " FROM files GROUP BY state", -1, &st, NULL);

	memset(counts, 0, 4 * sizeof(counts[0]));
	memset(bytes, 0, 4 * sizeof(bytes[0]));
	if (rc != SQLITE_OK)
		return fail(cat, rc, "count rows");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		enum catalog_state state = parse_state((const char *)sqlite3_column_text(st, 0));
		counts[state] += (uint64_t)sqlite3_column_int64(st, 1);
		bytes[state] += (uint64_t)sqlite3_column_int64(st, 2);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : fail(cat, rc, "count rows");
}

int catalog_each_scan_row(struct catalog *cat, enum catalog_state state,
			  int (*fn)(void *ctx, const struct catalog_scan_row *row),
			  void *ctx)
{
	sqlite3_stmt *st;
	int rc, ret = 0;

	rc = sqlite3_prepare_v2(cat->db, "SELECT id, path, ino,"
				" min(first_seen_ms, coalesce(last_written_ms, first_seen_ms)),"
				" activity_ms, state_changed_ms, coalesce(last_referenced_ms, 0),"
				" quarantine_name, kind = 'symlink'"
				" FROM files WHERE +state = ?1", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return fail(cat, rc, "read rows");
	sqlite3_bind_text(st, 1, state_names[state], -1, SQLITE_STATIC);
	while (!ret && (rc = sqlite3_step(st)) == SQLITE_ROW) {
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
		if (!path) {
			ret = -ENOMEM;
			break;
		}
		memcpy(path, row.path, row.path_len);
		path[row.path_len] = '\0';
		row.path = path;
		ret = fn(ctx, &row);
		if (path != stack)
			free(path);
	}
	sqlite3_finalize(st);
	if (ret)
		return ret;
	return rc == SQLITE_DONE ? 0 : fail(cat, rc, "read rows");
}

/* ------------------------------------------------------------------ */
/* Counts for metrics                                                   */
/* ------------------------------------------------------------------ */

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
	sqlite3_stmt *st;
	int rc, ret = 0;

	rc = sqlite3_prepare_v2(cat->db, queries[kind], -1, &st, NULL);
	if (rc != SQLITE_OK)
		return fail(cat, rc, "count");
	while (!ret && (rc = sqlite3_step(st)) == SQLITE_ROW)
		ret = fn(ctx, (const char *)sqlite3_column_text(st, 0),
			 (const char *)sqlite3_column_text(st, 1),
			 (uint64_t)sqlite3_column_int64(st, 2));
	sqlite3_finalize(st);
	if (ret)
		return ret;
	return rc == SQLITE_DONE ? 0 : fail(cat, rc, "count");
}

/* ------------------------------------------------------------------ */
/* Facts about the store                                                */
/* ------------------------------------------------------------------ */

int catalog_meta_set(struct catalog *cat, const char *key, const char *value)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(cat->db, "INSERT INTO meta (key, value) VALUES (?1, ?2)"
				    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
				    -1, &st, NULL);

	if (rc != SQLITE_OK)
		return fail(cat, rc, "record a fact");
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : fail(cat, rc, "record a fact");
}

int catalog_meta_get(struct catalog *cat, const char *key, char **value)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(cat->db, "SELECT value FROM meta WHERE key = ?1", -1, &st,
				    NULL);
	int err = -ENOENT;

	*value = NULL;
	if (rc != SQLITE_OK)
		return fail(cat, rc, "read a fact");
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_text(st, 0)) {
		*value = strdup((const char *)sqlite3_column_text(st, 0));
		err = *value ? 0 : -ENOMEM;
	} else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		err = fail(cat, rc, "read a fact");
	}
	sqlite3_finalize(st);
	return err;
}
