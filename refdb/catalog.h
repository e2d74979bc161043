/*
 * catalog: what mediafs knows about every path written through the mount.
 *
 * One row per tracked file (regular file or symlink), with its path
 * relative to BACKING (bytes as the filesystem has them), its inode, size
 * and mtime, when it was first seen, last written and last changed through
 * the mount, and its state (live, quarantined, purged, missing) with the
 * time and reason of the last change.  An append-only audit log records
 * every change of state and every rename.
 *
 * The interface says nothing about SQLite: the implementation
 * (catalog_sqlite*.c, sharing catalog_sqlite_i.h) keeps the catalog in
 * BACKING/.mediafs/catalog.db (WAL mode, schema versioned with PRAGMA
 * user_version and migrated forward on open), but a PostgreSQL catalog
 * could implement the same functions beside it.
 *
 * Writes arrive as batches of events (catalog_apply_events), each batch one
 * transaction; applying is forgiving, because events from concurrent FUSE
 * requests may arrive slightly out of order: a write to an unknown file
 * adds it, a rename of an unknown file adds the new path, and so on.
 *
 * Adoption reconciles the catalog with the disk after a mount (and so
 * after a crash): catalog_adopt_begin(), catalog_adopt_add() for every
 * file found, catalog_adopt_finish().  Events may be applied in between:
 * paths removed or renamed away meanwhile are not adopted again, and rows
 * changed meanwhile are not declared missing.
 *
 * Errors: functions return 0 or -errno (-EIO for a database error,
 * -EBUSY when locked past the busy timeout, -ENOSPC for a full disk,
 * -ENOMEM) and keep the database's message for catalog_last_error().
 * Nothing here logs.
 *
 * Threads: a struct catalog is one connection and belongs to one thread at
 * a time.  Several connections to one file may be open at once (the event
 * writer, the checker, the control socket, mediactl); WAL lets readers go
 * on while one writes.
 */
#ifndef MEDIAFS_CATALOG_H
#define MEDIAFS_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct catalog;

/* The schema version this build writes; older catalogs are migrated. */
#define CATALOG_SCHEMA_VERSION 5

/* The reason of a restore by access (CATALOG_EVENT_RESTORED), which the
 * catalog counts per file in access_restores. */
#define CATALOG_REASON_ACCESSED "accessed"

/* The catalog file's name in the state directory. */
#define CATALOG_FILE_NAME "catalog.db"

enum catalog_state {
	CATALOG_LIVE,		/* at its path in BACKING */
	CATALOG_QUARANTINED,	/* moved to the quarantine, restorable */
	CATALOG_PURGED,		/* deleted for good; the row is a tombstone */
	CATALOG_MISSING,	/* gone from BACKING behind the daemon's back */
};

enum catalog_kind {
	CATALOG_FILE,
	CATALOG_SYMLINK,
};

enum catalog_event_kind {
	CATALOG_EVENT_CREATED,	/* path is new (create, mknod, symlink) */
	CATALOG_EVENT_LINKED,	/* path is a new hard link */
	CATALOG_EVENT_WRITTEN,	/* the file (dev, ino) was written or truncated; a
				 * quarantined one too (its row records it) */
	CATALOG_EVENT_RENAMED,	/* path moved to path2 (a file) */
	CATALOG_EVENT_RENAMED_DIR, /* every path under path moved under path2 */
	CATALOG_EVENT_EXCHANGED, /* path and path2 swapped (files or directories) */
	CATALOG_EVENT_REMOVED,	/* path was unlinked for good */
	CATALOG_EVENT_QUARANTINED, /* path was moved to quarantine_name */
	CATALOG_EVENT_RESTORED,	/* quarantine_name was moved back to path */
};

/* One change observed through the mount.  Strings are borrowed. */
struct catalog_event {
	enum catalog_event_kind kind;
	int64_t time_ms;
	const char *path;
	const char *path2;		/* RENAMED*, EXCHANGED */
	enum catalog_kind file_kind;	/* CREATED, LINKED */
	bool is_dir;			/* EXCHANGED: path is a directory */
	bool is_dir2;			/* EXCHANGED: path2 is a directory */
	dev_t dev;			/* CREATED, LINKED, WRITTEN */
	ino_t ino;
	int64_t size;
	int64_t mtime_ms;
	const char *quarantine_name;	/* QUARANTINED, RESTORED: in the quarantine */
	const char *reason;		/* QUARANTINED, RESTORED, REMOVED: why */
};

/* One file found on disk during adoption.  path is borrowed. */
struct catalog_found {
	const char *path;
	enum catalog_kind kind;
	dev_t dev;
	ino_t ino;
	int64_t size;		/* -1 when the walk did not stat the file */
	int64_t mtime_ms;	/* -1 likewise */
};

/* What adoption changed. */
struct catalog_adopt_result {
	uint64_t found;		/* files on disk */
	uint64_t adopted;	/* added as live */
	uint64_t reappeared;	/* missing rows found again */
	uint64_t changed;	/* live rows whose file changed behind our back */
	uint64_t missing;	/* live rows whose file is gone */
};

/* One row of the catalog; strings owned by the row (catalog_row_clear). */
struct catalog_row {
	int64_t id;
	char *path;
	enum catalog_kind kind;
	dev_t dev;
	ino_t ino;
	int64_t size;
	int64_t mtime_ms;
	int64_t first_seen_ms;
	int64_t last_written_ms;
	int64_t activity_ms;	/* last create, write, rename or link */
	enum catalog_state state;
	int64_t state_changed_ms;
	char *state_reason;
	char *quarantine_name;	/* NULL unless quarantined */
	int64_t scan_id;	/* scan that quarantined it, 0 when none */
	int64_t last_referenced_ms; /* 0 when no scan ever found it referenced */
	int64_t access_restores; /* times a lookup brought it back (reason "accessed") */
};

/* One audit entry; strings owned (catalog_audit_clear). */
struct catalog_audit {
	int64_t id;
	int64_t time_ms;
	int64_t file_id;
	char *path;
	char *from_state;	/* NULL when the row was new */
	char *to_state;		/* NULL when the row went away */
	char *reason;
	char *detail;		/* NULL or e.g. the old path of a rename */
};

/*
 * Open (creating when create is set) the catalog at path and migrate it
 * to CATALOG_SCHEMA_VERSION.  With create, the file and any -wal and -shm
 * beside it are made (or made again) 0600 whatever the umask, and a link
 * at path is refused.  Returns 0 and sets *out, or -errno with a message
 * in error; -EPROTO when the file was written by a newer mediafs.
 */
int catalog_open(const char *path, bool create, struct catalog **out,
		 char *error, size_t error_size);
void catalog_close(struct catalog *cat);

/* The database's message for the last failure on this connection. */
const char *catalog_last_error(struct catalog *cat);

/* Apply events in order, in one transaction: all or none. */
int catalog_apply_events(struct catalog *cat, const struct catalog_event *events,
			 size_t count);

int catalog_adopt_begin(struct catalog *cat, int64_t start_ms);
/* Record one file found on disk; cheap, batched into the caller's rhythm. */
int catalog_adopt_add(struct catalog *cat, const struct catalog_found *found);
/* Commit what catalog_adopt_add() recorded so far (a progress point). */
int catalog_adopt_commit(struct catalog *cat);
int catalog_adopt_finish(struct catalog *cat, int64_t now_ms,
			 struct catalog_adopt_result *result);

/*
 * Adoption leaves sizes unknown (-1).  catalog_next_unsized() calls fn
 * with up to limit live rows of unknown size whose id is above after_id,
 * in id order (fn returns 0 to go on); catalog_set_sizes() records what a
 * stat found, in one transaction.
 */
struct catalog_size {
	int64_t id;
	int64_t size;
	int64_t mtime_ms;
};

int catalog_next_unsized(struct catalog *cat, int64_t after_id, size_t limit,
			 int (*fn)(void *ctx, int64_t id, const char *path), void *ctx);
int catalog_set_sizes(struct catalog *cat, const struct catalog_size *sizes, size_t count);

/*
 * The current (live or missing) row for path.  Returns 0, -ENOENT when
 * there is none, or -errno.  The caller clears *row.
 */
int catalog_get_current(struct catalog *cat, const char *path,
			struct catalog_row *row);

/* Counts and known bytes of rows by state. */
int catalog_totals_by_state(struct catalog *cat, uint64_t counts[4], uint64_t bytes[4]);

/* What a scan needs of a live or quarantined row; path is borrowed (valid
 * during the call only). */
struct catalog_scan_row {
	int64_t id;
	const char *path;
	size_t path_len;
	enum catalog_state state;
	enum catalog_kind kind;
	ino_t ino;
	/* The earliest the file can have been made: when the catalog first
	 * saw it, or its modification time if that is older (adopted). */
	int64_t born_ms;
	int64_t activity_ms;
	int64_t state_changed_ms;
	int64_t last_referenced_ms;
	const char *quarantine_name;	/* borrowed; NULL unless quarantined */
};

/*
 * Call fn for every row in state (LIVE or QUARANTINED) with only what a
 * scan needs and no copies: the checker's pass over a million rows.
 */
int catalog_each_scan_row(struct catalog *cat, enum catalog_state state,
			  int (*fn)(void *ctx, const struct catalog_scan_row *row),
			  void *ctx);

void catalog_row_clear(struct catalog_row *row);

/* The row with this id, whatever its state.  Returns 0 or -ENOENT. */
int catalog_get_row(struct catalog *cat, int64_t id, struct catalog_row *row);

/* Which rows catalog_query_rows() returns; zero fields do not filter. */
struct catalog_filter {
	const char *prefix;		/* the path is prefix or under prefix/ */
	int state;			/* enum catalog_state, or -1 for any */
	int64_t changed_before_ms;	/* activity (live) or state change older than this */
	int64_t larger_than;		/* size in bytes */
	int64_t scan_id;		/* quarantined by this scan */
	int64_t state_changed_since_ms;	/* state changed at or after this */
	const char *path;		/* exactly this path (any state) */
	size_t limit;			/* 0: no limit */
};

/* Call fn for each row that filter selects, by path.  0, fn's value, -errno. */
int catalog_query_rows(struct catalog *cat, const struct catalog_filter *filter,
		       int (*fn)(void *ctx, const struct catalog_row *row), void *ctx);

/*
 * Call fn for each audit entry at or after since_ms (0: all), about path
 * or about a file that was ever at path, wherever it went (NULL: all),
 * oldest first, at most limit (0: no limit; the newest are kept).  fn
 * returns 0 to go on.  Returns 0, fn's non-zero value, or -errno.
 */
int catalog_query_audit(struct catalog *cat, int64_t since_ms, const char *path,
			size_t limit,
			int (*fn)(void *ctx, const struct catalog_audit *entry), void *ctx);

/*
 * Call fn with the path and inode of every live or quarantined file that
 * a lookup has brought back from the quarantine before (access_restores
 * > 0); path is borrowed for the call; fn returns 0 to go on.  Returns 0,
 * fn's value, or -errno.  One pass over the files table: for startup, not
 * for the request path.
 */
int catalog_each_access_restored(struct catalog *cat,
				 int (*fn)(void *ctx, const char *path, ino_t ino), void *ctx);

/* ---- State changes made by the checker and by an admin ---- */

/*
 * live (or missing) -> quarantined, now at quarantine_name.  The row must
 * still describe inode ino: -ENOENT when it does not, or is not live
 * (a file created at its path since took the row over).
 */
int catalog_set_quarantined(struct catalog *cat, int64_t id, ino_t ino, int64_t now_ms,
			    const char *reason, const char *quarantine_name,
			    int64_t scan_id);

/*
 * quarantined -> live at path (the row's own path when NULL), once the
 * caller has put the file back there (where no file was).  The disk is
 * the truth: a current row at path (missing, live without a file, or
 * live for this very file met by an adoption walk) gives way in the same
 * transaction.  A row already live at path (another thread recorded
 * the same restore) is left as it is and 0 returned; a row neither
 * quarantined nor that is -ENOENT.
 */
int catalog_set_restored(struct catalog *cat, int64_t id, int64_t now_ms,
			 const char *reason, const char *path);

/* quarantined -> purged: the row stays as a tombstone. */
int catalog_set_purged(struct catalog *cat, int64_t id, int64_t now_ms,
		       const char *reason);

/* An audit entry without a change of state (a conflict, a refusal). */
int catalog_note(struct catalog *cat, int64_t id, int64_t now_ms, const char *reason,
		 const char *detail);

/* A scan found these (quarantined) rows referenced. */
int catalog_set_referenced(struct catalog *cat, const int64_t *ids, size_t count,
			   int64_t now_ms);

/* The quarantined row kept at quarantine_name; *id is 0 when none. */
int catalog_find_quarantined(struct catalog *cat, const char *quarantine_name, int64_t *id);

/*
 * A file found in the quarantine that no row describes (a crash came
 * between the move and its record): record it as quarantined from path,
 * reusing the missing row that adoption left for it when there is one.
 * -EEXIST, and nothing changes, when a row holds quarantine_name already
 * (its event came in since the caller looked).  An event that records
 * the move later takes the name from the row made here.
 */
int catalog_recover_quarantined(struct catalog *cat, const char *path,
				const char *quarantine_name, const struct catalog_found *file,
				int64_t now_ms, const char *reason);

/* ---- Scans ---- */

/* Room for the hostile examples of one scan, one line each. */
enum { CATALOG_SCAN_EXAMPLES_BYTES = 1024 };

enum catalog_scan_status {
	CATALOG_SCAN_RUNNING,
	CATALOG_SCAN_DONE,
	CATALOG_SCAN_HELD,	/* waits for an admin: confirm or reject */
	CATALOG_SCAN_CONFIRMED,	/* a held scan an admin confirmed */
	CATALOG_SCAN_REJECTED,	/* a held scan an admin rejected */
	CATALOG_SCAN_FAILED,	/* a source failed: nothing moved */
	CATALOG_SCAN_DRY_RUN,	/* reported, moved nothing */
};

struct catalog_scan {
	int64_t id;
	int64_t started_ms;
	int64_t finished_ms;
	int64_t decided_ms;	/* when an admin confirmed or rejected it */
	char trigger[16];	/* startup, interval, manual, confirm */
	enum catalog_scan_status status;
	uint64_t live;		/* live files considered */
	uint64_t referenced;	/* distinct referenced paths */
	uint64_t candidates;	/* unreferenced and old enough */
	uint64_t quarantined;
	uint64_t restored;
	uint64_t purged;
	uint64_t conflicts;
	uint64_t hostile;	/* unusable values in the sources */
	uint64_t kept_open;	/* moves and purges left: open for writing */
	/* A few of them, one per line: "source 'app': ../x (dotdot)". */
	char hostile_examples[CATALOG_SCAN_EXAMPLES_BYTES];
	/* Files kept because a value names them through a symbolic link or
	 * under another spelling (percent-encoded, another normal form). */
	uint64_t respelled;
	/* Files kept because a value nearly names them (case, whitespace);
	 * a few pairs, one per line, escaped: "'A.jpg' ~ 'a.jpg'". */
	uint64_t near_misses;
	char near_miss_examples[CATALOG_SCAN_EXAMPLES_BYTES];
	char message[512];
};

int catalog_scan_begin(struct catalog *cat, int64_t started_ms, const char *trigger,
		       int64_t *id);
/* Write every field of scan (by scan->id). */
int catalog_scan_end(struct catalog *cat, const struct catalog_scan *scan);
/* Keep the candidates of a held scan until an admin decides. */
int catalog_scan_keep_candidates(struct catalog *cat, int64_t scan_id,
				 const int64_t *file_ids, size_t count);
/* The scan with this id; id 0 is the latest.  0 or -ENOENT. */
int catalog_scan_get(struct catalog *cat, int64_t id, struct catalog_scan *scan);
/* The latest scan still held.  0 or -ENOENT. */
int catalog_scan_get_held(struct catalog *cat, struct catalog_scan *scan);
int catalog_scan_each_candidate(struct catalog *cat, int64_t scan_id,
				int (*fn)(void *ctx, int64_t file_id), void *ctx);
/* held -> confirmed or rejected.  -ENOENT unless the scan is held. */
int catalog_scan_decide(struct catalog *cat, int64_t scan_id,
			enum catalog_scan_status decision, int64_t now_ms);
const char *catalog_scan_status_name(enum catalog_scan_status status);

/* ---- Pins: globs of paths the checker never quarantines ---- */

int catalog_pin_add(struct catalog *cat, const char *pattern, int64_t now_ms);
/* -ENOENT when there was no such pin. */
int catalog_pin_remove(struct catalog *cat, const char *pattern);
int catalog_each_pin(struct catalog *cat,
		     int (*fn)(void *ctx, const char *pattern, int64_t created_ms),
		     void *ctx);

const char *catalog_state_name(enum catalog_state state);

/* ---- Facts about the store ---- */

/* The key under which the daemon records its configuration file. */
#define CATALOG_META_CONFIG_PATH "config_path"

/* Record value under key (replacing what was there).  0 or -errno. */
int catalog_meta_set(struct catalog *cat, const char *key, const char *value);

/*
 * The value recorded under key, in new memory (the caller frees it).
 * Returns 0, -ENOENT when nothing is recorded, or -errno.
 */
int catalog_meta_get(struct catalog *cat, const char *key, char **value);

/* ---- Counts, for metrics ---- */

enum catalog_count_kind {
	CATALOG_COUNT_SCANS,		/* group "scans", name: a scan status */
	/* group: "quarantined", "restored" or "purged"; name: the reason */
	CATALOG_COUNT_TRANSITIONS,
};

/*
 * Call fn(ctx, group, name, count) for each group of scans by status, or
 * of the audit log's moves into the quarantine, out of it (restores) and
 * purges, by reason.  One pass over the table.
 * Returns 0, fn's non-zero value, or -errno.
 */
int catalog_each_count(struct catalog *cat, enum catalog_count_kind kind,
		       int (*fn)(void *ctx, const char *group, const char *name,
				 uint64_t count),
		       void *ctx);

#endif
