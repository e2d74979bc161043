/*
 * Fault injection through a real mount with a real application database:
 * a PostgreSQL server that stops before and during scans, a BACKING that
 * fills up, a BACKING that is or becomes read-only, and database values
 * that try to name files outside BACKING.  Every test ends by checking that
 * nothing was lost (each referenced file readable with its exact bytes
 * through the mount and in BACKING, no file in two places) and that the
 * fault is reported in the daemon's log and in "mediactl status --json".
 *
 * Faults on BACKING need root: BACKING becomes a small tmpfs, or an ext4
 * image on a loop device that an injected error turns read-only (a
 * filesystem that is remounted read-only by hand while the catalog is
 * open for writing cannot be: the kernel refuses with EBUSY).  Check runs
 * each test in a child that exits at the first failed assertion without
 * running its teardown, so every test starts by detaching whatever an
 * earlier test of this run left mounted, and main() does so at the end.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "app_harness.h"

enum {
	WAIT_MS = 15000,		/* for anything that should happen soon */
	POLL_MS = 10,
	CTL_OUTPUT_BYTES = 1 << 16,
	MAX_MOUNTS = 64,
	TMPFS_BYTES = 8 << 20,
	EXT4_IMAGE_BYTES = 64 << 20,
	FILL_CHUNK_BYTES = 256 << 10,
	FILL_TIMEOUT_S = 60,		/* a write that hangs fails the test */
	DAEMON_EXIT_WAIT_MS = 15000,
};

/* Immutable after main() starts the suites. */
static char run_prefix[64];		/* every directory of this run starts so */
static struct pg_harness pg;
static bool pg_ready;

/* The current test's (each runs in its own child). */
static struct mount_harness h;
static bool use_pg;
static struct app_harness app;

/* ------------------------------------------------------------------ */
/* Small helpers                                                        */
/* ------------------------------------------------------------------ */

static const char *in_dir(const char *name)
{
	static char path[2][1024];
	static int turn;

	turn = !turn;
	snprintf(path[turn], sizeof(path[turn]), "%s/%s", h.dir, name);
	return path[turn];
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape_octal(char *s)
{
	char *out = s;

	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '7' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*out++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 4;
		} else {
			*out++ = *s++;
		}
	}
	*out = '\0';
}

static int longer_first(const void *a, const void *b)
{
	return (int)strlen(*(char *const *)b) - (int)strlen(*(char *const *)a);
}

/*
 * Detach every mount of this run (tmpfs, ext4, a FUSE mount whose daemon
 * died with its test), innermost first.  Only paths under run_prefix,
 * which no one else uses, are touched.
 */
static void detach_leftover_mounts(void)
{
	char *found[MAX_MOUNTS];
	size_t count = 0, cap = 0;
	char *line = NULL;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	if (!f || !run_prefix[0]) {
		if (f)
			fclose(f);
		return;
	}
	while (count < MAX_MOUNTS && getline(&line, &cap, f) > 0) {
		char point[4096];
		/* id parent major:minor root MOUNTPOINT ... */
		if (sscanf(line, "%*s %*s %*s %*s %4095s", point) != 1)
			continue;
		unescape_octal(point);
		if (strncmp(point, run_prefix, strlen(run_prefix)) == 0)
			found[count++] = strdup(point);
	}
	free(line);
	fclose(f);
	qsort(found, count, sizeof(found[0]), longer_first);
	for (size_t i = 0; i < count; i++) {
		if (found[i] && umount2(found[i], MNT_DETACH) != 0)
			fprintf(stderr, "cannot detach '%s': %s\n", found[i], strerror(errno));
		free(found[i]);
	}
}

/* ------------------------------------------------------------------ */
/* The application database                                             */
/* ------------------------------------------------------------------ */

/* Insert len raw bytes into photo.image: NUL and invalid UTF-8 included. */
static void app_insert_bytes(const void *value, size_t len, bool as_blob)
{
	sqlite3_stmt *st;
	sqlite3 *db;

	ck_assert(!use_pg);
	ck_assert_int_eq(sqlite3_open(app.db_path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "INSERT INTO photo (image) VALUES (?1)", -1, &st,
					    NULL), SQLITE_OK);
	if (as_blob)
		sqlite3_bind_blob(st, 1, value, (int)len, SQLITE_TRANSIENT);
	else
		sqlite3_bind_text(st, 1, value, (int)len, SQLITE_TRANSIENT);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* A connection of the test's own to the application's PostgreSQL database. */
static PGconn *pg_open_app(void)
{
	char conninfo[512];
	PGconn *conn;

	pg_harness_conninfo_for(&pg, "app", NULL, conninfo, sizeof(conninfo));
	conn = PQconnectdb(conninfo);
	ck_assert_msg(PQstatus(conn) == CONNECTION_OK, "connect: %s", PQerrorMessage(conn));
	return conn;
}

static void pg_must(PGconn *conn, const char *sql)
{
	PGresult *res = PQexec(conn, sql);

	ck_assert_msg(PQresultStatus(res) == PGRES_COMMAND_OK ||
		      PQresultStatus(res) == PGRES_TUPLES_OK, "%s: %s", sql,
		      PQerrorMessage(conn));
	PQclear(res);
}

/* The number that a one-row, one-column query returns; -1 on error. */
static long pg_count(PGconn *conn, const char *sql)
{
	PGresult *res = PQexec(conn, sql);
	long n = -1;

	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		n = atol(PQgetvalue(res, 0, 0));
	PQclear(res);
	return n;
}

struct lock_wait {
	PGconn *observer;
	const char *table;
	int pid;		/* a backend of the test's, or 0 for the daemon's */
};

/* Is the daemon's backend (or pid) waiting for a lock on the table? */
static bool waits_for_lock(void *ctx)
{
	struct lock_wait *w = ctx;
	char sql[512];

	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
		 " WHERE NOT l.granted AND l.relation = '%s'::regclass AND ", w->table);
	if (w->pid)
		snprintf(sql + strlen(sql), sizeof(sql) - strlen(sql), "l.pid = %d", w->pid);
	else
		snprintf(sql + strlen(sql), sizeof(sql) - strlen(sql),
			 "a.application_name = 'mediafs'");
	return pg_count(w->observer, sql) > 0;
}

static void wait_for_lock_wait(PGconn *observer, const char *table, int pid, const char *what)
{
	struct lock_wait w = { observer, table, pid };

	ck_assert_msg(harness_wait_until(waits_for_lock, &w, WAIT_MS), "%s", what);
}

/* ------------------------------------------------------------------ */
/* Mount, daemon and mediactl                                           */
/* ------------------------------------------------------------------ */

/* What mediactl said about a failure: its JSON "error" and its stderr. */
static const char *ctl_said(const struct app_ctl *r)
{
	static char said[sizeof(r->run.err) + 1024];
	const char *error = json_string_value(json_object_get(r->json, "error"));

	snprintf(said, sizeof(said), "%s%s%s", error ? error : "", error ? " / " : "", r->run.err);
	return said;
}

static json_t *scan_of(const struct app_ctl *r)
{
	return json_object_get(r->json, "scan");
}

static const char *scan_text(const struct app_ctl *r, const char *key)
{
	const char *s = json_string_value(json_object_get(scan_of(r), key));

	return s ? s : "";
}

/* The whole JSON answer as text, for substring checks and messages. */
static char *dump(const json_t *j)
{
	static char text[CTL_OUTPUT_BYTES];
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

	snprintf(text, sizeof(text), "%s", s ? s : "(no JSON)");
	free(s);
	return text;
}

/* Does "mediactl status" list an alarm of this kind whose message holds needle? */
static bool status_has_alarm(const char *kind, const char *needle)
{
	struct app_ctl r = { 0 };
	json_t *alarm;
	size_t i;
	bool found = false;

	APP_CTL(&app, &r, "status");
	json_array_foreach(json_object_get(r.json, "alarms"), i, alarm) {
		const char *k = json_string_value(json_object_get(alarm, "kind"));
		const char *m = json_string_value(json_object_get(alarm, "message"));
		if (k && m && strcmp(k, kind) == 0 && (!needle || strstr(m, needle)))
			found = true;
	}
	app_ctl_clear(&r);
	return found;
}

/* How many requests through the mount failed with this error, by the status. */
static long long data_path_errors(const char *name)
{
	struct app_ctl r = { 0 };
	long long count;

	APP_CTL(&app, &r, "status");
	count = json_integer_value(json_object_get(json_object_get(r.json, "data_path_errors"),
						   name));
	app_ctl_clear(&r);
	return count;
}

struct expected {
	const char *rel;
	const char *content;
};

/*
 * Nothing lost: each file in BACKING with its exact bytes, not also in the
 * quarantine, and readable through the mount with the same bytes.  BACKING
 * is checked first: a lookup through the mount could restore a
 * quarantined path and hide a move.
 */
static void assert_intact(const struct expected *files, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		app_assert_bytes(harness_backing_path(&h, files[i].rel), files[i].content, "BACKING");
		ck_assert_msg(app_in_quarantine(&app, files[i].rel) == 0, "'%s' is also in the quarantine",
			      files[i].rel);
	}
	for (size_t i = 0; i < count; i++)
		app_assert_bytes(harness_mount_path(&h, files[i].rel), files[i].content, "mount");
}

/* The orphan left its place and is in the quarantine exactly once. */
static void assert_quarantined_once(const char *rel)
{
	ck_assert_msg(!app_in_backing(&app, rel), "'%s' is still in its place", rel);
	ck_assert_msg(app_in_quarantine(&app, rel) == 1, "'%s' is in the quarantine %d times", rel,
		      app_in_quarantine(&app, rel));
}

static void setup_common(const char *name, bool on_pg)
{
	static const char *const columns[] = { "photo.image", "gallery.thumb", NULL };
	char label[64];

	detach_leftover_mounts();
	if (pg_ready)
		ck_assert_int_eq(pg_harness_restart(&pg), 0);
	snprintf(label, sizeof(label), "%s%s", run_prefix + strlen("/tmp/mediafs-"), name);
	use_pg = on_pg;
	app_setup(&app, &h, label, on_pg ? &pg : NULL, APP_SETTINGS_AT_ONCE);
	app_create_tables(&app, columns);
}

static void setup_sqlite(void)
{
	setup_common("sqlite", false);
}

static void setup_pg(void)
{
	setup_common("pg", true);
}

static void teardown(void)
{
	harness_unmount(&h);
	detach_leftover_mounts();
	harness_destroy(&h);
	if (pg_ready)
		pg_harness_restart(&pg);
}

/* ------------------------------------------------------------------ */
/* 1. PostgreSQL stops                                                  */
/* ------------------------------------------------------------------ */

static const struct expected pg_files[] = {
	{ "used.jpg", "used by photo" },
	{ "thumbs/used.png", "used by gallery" },
};

static void put_pg_files(void)
{
	ck_assert_int_eq(mkdir(harness_mount_path(&h, "thumbs"), 0755), 0);
	for (size_t i = 0; i < 2; i++)
		app_put(&app, pg_files[i].rel, pg_files[i].content);
	app_put(&app, "orphan.jpg", "nobody's");
	app_insert(&app, "photo.image", "used.jpg");
	app_insert(&app, "gallery.thumb", "thumbs/used.png");
}

/* The failed scan's answer, log and status name the source and the cause. */
static void assert_source_failure_reported(struct app_ctl *r, const char *cause)
{
	ck_assert_msg(r->run.status == 1, "a failed scan exits 1 (%d): %s", r->run.status, r->run.out);
	ck_assert_msg(strcmp(scan_text(r, "status"), "failed") == 0, "status: %s", dump(r->json));
	ck_assert_int_eq(app_scan_number(r->json, "quarantined"), 0);
	ck_assert_int_eq(app_scan_number(r->json, "purged"), 0);
	ck_assert_msg(strstr(scan_text(r, "message"), "source 'app'") != NULL,
		      "the scan names the source: %s", scan_text(r, "message"));
	ck_assert_msg(strstr(scan_text(r, "message"), cause) != NULL,
		      "the scan gives the cause '%s': %s", cause, scan_text(r, "message"));
	ck_assert_msg(harness_log_contains(&h, cause), "the log gives the cause '%s'", cause);
	ck_assert_msg(status_has_alarm("source", "source 'app'"),
		      "mediactl status raises a source alarm naming the source");
}

/* After the restart the next scan works normally and the alarm is gone. */
static void assert_recovered_after_restart(void)
{
	struct app_ctl r = { 0 };

	ck_assert_int_eq(pg_harness_restart(&pg), 0);
	APP_CTL(&app, &r, "scan");
	ck_assert_msg(r.run.status == 0, "the scan after the restart works: %s", dump(r.json));
	ck_assert_str_eq(scan_text(&r, "status"), "done");
	ck_assert_int_eq(app_scan_number(r.json, "quarantined"), 1);
	app_ctl_clear(&r);
	ck_assert_msg(!status_has_alarm("source", NULL), "the source alarm is gone");
	assert_intact(pg_files, 2);
	assert_quarantined_once("orphan.jpg");
	ck_assert_int_eq(harness_unmount(&h), 0);
}

START_TEST(test_pg_down_at_scan_time_moves_nothing)
{
	struct app_ctl r = { 0 };

	app_mount(&app, NULL);
	put_pg_files();
	ck_assert_int_eq(pg_harness_stop(&pg), 0);
	APP_CTL(&app, &r, "scan");
	assert_source_failure_reported(&r, "cannot connect");
	app_ctl_clear(&r);
	/* A second scan while it is still down: the same, nothing moves. */
	APP_CTL(&app, &r, "scan");
	ck_assert_int_eq(r.run.status, 1);
	ck_assert_int_eq(app_scan_number(r.json, "quarantined"), 0);
	app_ctl_clear(&r);
	assert_intact(pg_files, 2);
	ck_assert_msg(app_in_backing(&app, "orphan.jpg"), "promise 4: the orphan was not moved");
	assert_recovered_after_restart();
}
END_TEST

/* Run "mediactl scan" in a child; its answer lands in out_path. */
static pid_t scan_in_background(const char *out_path)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd >= 0)
			dup2(fd, STDOUT_FILENO);
		execl(getenv("MEDIACTL_BIN"), "mediactl", "--json", "--mount", h.mountpoint,
		      "scan", (char *)NULL);
		_exit(127);
	}
	return pid;
}

static void finish_background_scan(pid_t pid, const char *out_path, struct app_ctl *r)
{
	int status;

	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	r->run.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	harness_slurp(out_path, r->run.out, sizeof(r->run.out));
	r->json = json_loads(r->run.out, 0, NULL);
}

/*
 * The server crashes while the scan reads: the test holds a lock on the
 * first table, so the daemon's fetch is inside its read transaction,
 * waiting, when the server goes away.
 */
START_TEST(test_pg_stopped_while_the_scan_reads)
{
	const char *answer = in_dir("scan.json");
	struct app_ctl r = { 0 };
	PGconn *holder, *observer;
	pid_t scanner;

	app_mount(&app, NULL);
	put_pg_files();
	holder = pg_open_app();
	observer = pg_open_app();
	/* The crash below must not take the test's own rows with it. */
	pg_must(observer, "CHECKPOINT");
	pg_must(holder, "BEGIN; LOCK TABLE photo IN ACCESS EXCLUSIVE MODE");
	scanner = scan_in_background(answer);
	wait_for_lock_wait(observer, "photo", 0, "the scan's fetch waits inside its transaction");
	PQfinish(observer);
	ck_assert_int_eq(pg_harness_stop_immediately(&pg), 0);
	PQfinish(holder);
	finish_background_scan(scanner, answer, &r);
	assert_source_failure_reported(&r, "photo");
	app_ctl_clear(&r);
	assert_intact(pg_files, 2);
	ck_assert(app_in_backing(&app, "orphan.jpg"));
	assert_recovered_after_restart();
}
END_TEST

/*
 * The server crashes after the scan's fetch and before the confirmation
 * that precedes each move.  Lock order arranges it: the test holds both
 * tables; it lets the fetch read photo, queues its own lock on photo
 * behind the fetch's, and lets the fetch read gallery and commit.  The
 * queued lock is granted then, so the confirmation, which reads photo
 * again, waits behind it when the server stops.  A crash, not a clean
 * stop: a clean stop ends the test's connection, and with it the lock,
 * in no particular order with the daemon's, and the confirmation could
 * slip through.
 */
START_TEST(test_pg_stopped_between_fetch_and_confirmation)
{
	const char *answer = in_dir("scan.json");
	struct app_ctl r = { 0 };
	PGconn *photo_lock, *gallery_lock, *observer;
	PGresult *res;
	pid_t scanner;

	app_mount(&app, NULL);
	put_pg_files();
	photo_lock = pg_open_app();
	gallery_lock = pg_open_app();
	observer = pg_open_app();
	pg_must(observer, "CHECKPOINT");
	pg_must(photo_lock, "BEGIN; LOCK TABLE photo IN ACCESS EXCLUSIVE MODE");
	pg_must(gallery_lock, "BEGIN; LOCK TABLE gallery IN ACCESS EXCLUSIVE MODE");
	scanner = scan_in_background(answer);
	wait_for_lock_wait(observer, "photo", 0, "the fetch waits for photo");
	pg_must(photo_lock, "COMMIT");
	wait_for_lock_wait(observer, "gallery", 0, "the fetch read photo and waits for gallery");
	pg_must(photo_lock, "BEGIN");
	ck_assert(PQsendQuery(photo_lock, "LOCK TABLE photo IN ACCESS EXCLUSIVE MODE"));
	wait_for_lock_wait(observer, "photo", PQbackendPID(photo_lock),
			   "the test's lock on photo queues behind the fetch");
	pg_must(gallery_lock, "COMMIT");
	/* Granted once the fetch committed: the first read is over. */
	while ((res = PQgetResult(photo_lock)) != NULL) {
		ck_assert_msg(PQresultStatus(res) == PGRES_COMMAND_OK, "lock: %s",
			      PQerrorMessage(photo_lock));
		PQclear(res);
	}
	wait_for_lock_wait(observer, "photo", 0, "the confirmation waits for photo");
	PQfinish(observer);
	ck_assert_int_eq(pg_harness_stop_immediately(&pg), 0);
	PQfinish(photo_lock);
	PQfinish(gallery_lock);
	finish_background_scan(scanner, answer, &r);
	ck_assert_msg(harness_log_contains(&h, "confirmation failed"),
		      "the log says the confirmation failed: %s", dump(r.json));
	assert_source_failure_reported(&r, "photo");
	app_ctl_clear(&r);
	assert_intact(pg_files, 2);
	ck_assert_msg(app_in_backing(&app, "orphan.jpg"), "no candidate moved without confirmation");
	assert_recovered_after_restart();
}
END_TEST

/* ------------------------------------------------------------------ */
/* 2. A full BACKING                                                    */
/* ------------------------------------------------------------------ */

/* BACKING becomes a small tmpfs of its own (detached by every teardown). */
static void mount_tmpfs_backing(void)
{
	char options[64];

	snprintf(options, sizeof(options), "size=%d,mode=0755", TMPFS_BYTES);
	ck_assert_msg(mount("tmpfs", h.backing, "tmpfs", MS_NOSUID | MS_NODEV, options) == 0,
		      "mount a tmpfs on '%s': %s", h.backing, strerror(errno));
}

/*
 * Write to path until a write fails and return that errno.  The writing
 * happens in a child with an alarm: a write that hangs fails the test
 * with a message instead of stalling it.
 */
static int write_until_error(const char *path)
{
	static char chunk[FILL_CHUNK_BYTES];
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		alarm(FILL_TIMEOUT_S);
		if (fd < 0)
			_exit(errno);
		memset(chunk, 'f', sizeof(chunk));
		for (;;)
			if (write(fd, chunk, sizeof(chunk)) < 0)
				_exit(errno);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(!WIFSIGNALED(status), "writing '%s' hung or crashed (signal %d)", path,
		      WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	return WEXITSTATUS(status);
}

static unsigned long long backing_free_bytes(void)
{
	struct statvfs sv;

	ck_assert_int_eq(statvfs(h.backing, &sv), 0);
	return (unsigned long long)sv.f_bavail * sv.f_frsize;
}

static bool has_free_space(void *ctx)
{
	(void)ctx;
	return backing_free_bytes() > TMPFS_BYTES / 2;
}

/* mediactl check finds the catalog and the disk in agreement. */
static bool catalog_agrees_with_disk(void *ctx)
{
	struct app_ctl r = { 0 };
	bool agrees;

	(void)ctx;
	APP_CTL(&app, &r, "check");
	agrees = r.run.status == 0 &&
		 json_integer_value(json_object_get(r.json, "missing_count")) == 0 &&
		 json_integer_value(json_object_get(r.json, "untracked_count")) == 0;
	app_ctl_clear(&r);
	return agrees;
}

static const struct expected full_files[] = {
	{ "keep/a.jpg", "first referenced file" },
	{ "keep/b.jpg", "second referenced file" },
	{ "keep/c.jpg", "third referenced file, written last" },
};

/*
 * BACKING on an 8 MiB tmpfs, filled through the mount: the application
 * gets ENOSPC (no crash, no hang), the catalog on the same filesystem
 * stays usable, a scan moves the orphans (a rename needs no space) or
 * fails with a logged error, and once space is freed everything written
 * before is tracked and intact.
 */
START_TEST(test_full_backing_gives_enospc_and_loses_nothing)
{
	struct app_ctl r = { 0 };
	int fd, err;

	mount_tmpfs_backing();
	app_mount(&app, "temp_max_age = 1h\nexclude = fill/*\n");
	ck_assert_int_eq(mkdir(harness_mount_path(&h, "keep"), 0755), 0);
	ck_assert_int_eq(mkdir(harness_mount_path(&h, "fill"), 0755), 0);
	for (size_t i = 0; i < 3; i++) {
		app_put(&app, full_files[i].rel, full_files[i].content);
		app_insert(&app, "photo.image", full_files[i].rel);
	}
	app_put(&app, "orphan1.jpg", "orphan one");
	app_put(&app, "orphan2.jpg", "orphan two");

	err = write_until_error(harness_mount_path(&h, "fill/big"));
	ck_assert_msg(err == ENOSPC, "filling BACKING ends with ENOSPC, not '%s'", strerror(err));
	ck_assert_msg(backing_free_bytes() < 64 * 1024, "BACKING is full (%llu bytes free)",
		      backing_free_bytes());
	/* A new upload fails cleanly too. */
	fd = open(harness_mount_path(&h, "late.jpg"), O_WRONLY | O_CREAT | O_EXCL, 0644);
	if (fd >= 0) {
		char data[8192];
		memset(data, 'l', sizeof(data));
		errno = 0;
		ck_assert_int_eq(write(fd, data, sizeof(data)), -1);
		err = errno;
		close(fd);
	} else {
		err = errno;
	}
	ck_assert_msg(err == ENOSPC, "an upload to a full BACKING fails with ENOSPC, not '%s'",
		      strerror(err));
	assert_intact(full_files, 3);
	ck_assert_msg(status_has_alarm("backing", "full"),
		      "mediactl status says that BACKING is full");
	/* With passthrough the kernel writes, and fails, without the daemon:
	 * the alarm above is what shows it.  Without, the daemon counts. */
	if (!harness_log_contains(&h, "passthrough is on"))
		ck_assert_msg(data_path_errors("ENOSPC") >= 2,
			      "the status counts the uploads that failed on the full disk");

	APP_CTL(&app, &r, "scan");
	ck_assert_msg(harness_log_contains(&h, "full: "), "the scan logs that BACKING is full");
	if (r.run.status == 0) {
		ck_assert_msg(strcmp(scan_text(&r, "status"), "done") == 0, "%s", dump(r.json));
		assert_quarantined_once("orphan1.jpg");
		assert_quarantined_once("orphan2.jpg");
	} else {
		ck_assert_msg(r.run.status == 1 && strstr(ctl_said(&r), "full"),
			      "a scan on a full disk moves the orphans or fails with the cause: %s",
			      ctl_said(&r));
		ck_assert_msg(harness_log_contains(&h, "nothing is moved"), "the log says so");
		ck_assert(app_in_backing(&app, "orphan1.jpg") && app_in_backing(&app, "orphan2.jpg"));
	}
	app_ctl_clear(&r);

	/* The application deletes its failed upload: young, never
	 * referenced, it is deleted for good and frees the space. */
	ck_assert_int_eq(unlink(harness_mount_path(&h, "fill/big")), 0);
	ck_assert_msg(app_in_quarantine(&app, "fill/big") == 0, "a failed upload is not kept");
	/* The kernel releases the daemon's descriptor on it a little later. */
	ck_assert_msg(harness_wait_until(has_free_space, NULL, WAIT_MS),
		      "the space is free again (%llu bytes)", backing_free_bytes());
	app_put(&app, "after.jpg", "written after the space came back");
	app_insert(&app, "photo.image", "after.jpg");
	ck_assert_msg(harness_wait_until(catalog_agrees_with_disk, NULL, WAIT_MS),
		      "the catalog tracks every file again");
	ck_assert_msg(!status_has_alarm("backing", NULL), "the full-disk alarm is gone");
	APP_CTL(&app, &r, "scan");
	ck_assert_msg(r.run.status == 0, "scans work again: %s", dump(r.json));
	app_ctl_clear(&r);
	assert_intact(full_files, 3);
	const struct expected after[] = { { "after.jpg", "written after the space came back" } };
	assert_intact(after, 1);
	ck_assert_int_eq(app_in_quarantine(&app, "orphan1.jpg") + app_in_backing(&app, "orphan1.jpg"), 1);
	ck_assert_int_eq(harness_unmount(&h), 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* 3. A read-only BACKING                                               */
/* ------------------------------------------------------------------ */

static void remount_backing(bool read_only)
{
	unsigned long flags = MS_REMOUNT | MS_NOSUID | MS_NODEV | (read_only ? MS_RDONLY : 0);

	ck_assert_msg(mount(NULL, h.backing, NULL, flags, NULL) == 0, "remount %s: %s",
		      read_only ? "ro" : "rw", strerror(errno));
}

/*
 * Start the daemon on h.backing with the test's config and wait for it to
 * exit by itself; returns its exit status, with its output in the log.
 * A daemon that mounts or stays up fails the test.
 */
static int daemon_exit_status(void)
{
	char option[800];
	long waited = 0;
	int status;
	pid_t pid;

	app_write_config(&app, NULL);
	snprintf(option, sizeof(option), "config=%s", app.config_path);
	harness_clear_log(&h);
	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = open(h.log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		execl(getenv("MEDIAFS_BIN"), "mediafs", "-f", "-o", option, h.backing,
		      h.mountpoint, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (waited > DAEMON_EXIT_WAIT_MS || harness_is_mounted(h.mountpoint)) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			umount2(h.mountpoint, MNT_DETACH);
			ck_abort_msg("mediafs mounted (or hung) on a read-only BACKING");
		}
		harness_sleep_ms(POLL_MS);
		waited += POLL_MS;
	}
	ck_assert_msg(WIFEXITED(status), "mediafs died of signal %d", WTERMSIG(status));
	return WEXITSTATUS(status);
}

/* The daemon's whole output is one sentence that names BACKING and why. */
static void assert_refusal_is_one_clear_sentence(void)
{
	char log[4096];

	harness_slurp(h.log_path, log, sizeof(log));
	ck_assert_msg(strchr(log, '\n') == log + strlen(log) - 1, "one line: %s", log);
	ck_assert_msg(strncmp(log, "mediafs: ", 9) == 0 && strstr(log, h.backing) &&
		      strstr(log, "read-only"), "it names BACKING and says read-only: %s", log);
}

/*
 * A read-only BACKING is refused at mount, new or already in use: mediafs
 * would record nothing, keep nothing in the quarantine and fail every
 * upload, so it says so and exits 1 instead of serving a half-working
 * mount.  Nothing in BACKING changes, and it mounts again once writable.
 */
START_TEST(test_read_only_backing_is_refused_at_mount)
{
	const struct expected files[] = { { "keep/a.jpg", "written before it went read-only" } };

	mount_tmpfs_backing();
	remount_backing(true);
	ck_assert_int_eq(daemon_exit_status(), 1);
	assert_refusal_is_one_clear_sentence();
	ck_assert(!harness_is_mounted(h.mountpoint));

	/* A store in use, then made read-only while unmounted. */
	remount_backing(false);
	app_mount(&app, NULL);
	ck_assert_int_eq(mkdir(harness_mount_path(&h, "keep"), 0755), 0);
	app_put(&app, files[0].rel, files[0].content);
	app_insert(&app, "photo.image", files[0].rel);
	ck_assert_int_eq(harness_unmount(&h), 0);
	remount_backing(true);
	ck_assert_int_eq(daemon_exit_status(), 1);
	assert_refusal_is_one_clear_sentence();
	app_assert_bytes(harness_backing_path(&h, files[0].rel), files[0].content, "BACKING");

	remount_backing(false);
	app_mount(&app, NULL);
	assert_intact(files, 1);
	ck_assert_int_eq(harness_unmount(&h), 0);
}
END_TEST

/* BACKING on an ext4 image on a loop device, remounted read-only on error. */
static void mount_ext4_backing(bool fresh)
{
	const char *image = in_dir("backing.img");

	if (fresh) {
		int fd = open(image, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(ftruncate(fd, EXT4_IMAGE_BYTES), 0);
		close(fd);
		/* No journal: an error then needs no journal recovery. */
		ck_assert_int_eq(harness_sh("mkfs.ext4 -q -F -O ^has_journal '%s' >/dev/null 2>&1",
					    image), 0);
	}
	ck_assert_int_eq(harness_sh("mount -o loop,errors=remount-ro,nosuid,nodev '%s' '%s'",
				    image, h.backing), 0);
	ck_assert_int_eq(chmod(h.backing, 0755), 0);
}

static void sync_backing(void)
{
	int fd = open(h.backing, O_RDONLY | O_DIRECTORY);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(syncfs(fd), 0);
	close(fd);
}

/* /sys/fs/ext4/loopN/trigger_fs_error for the filesystem on h.backing. */
static void ext4_error_trigger(char *out, size_t size)
{
	char cmd[800], device[128] = "";
	FILE *f;

	snprintf(cmd, sizeof(cmd), "findmnt -n -o SOURCE --mountpoint '%s'", h.backing);
	f = popen(cmd, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(device, sizeof(device), f));
	pclose(f);
	device[strcspn(device, "\n")] = '\0';
	snprintf(out, size, "/sys/fs/ext4/%s/trigger_fs_error",
		 strrchr(device, '/') ? strrchr(device, '/') + 1 : device);
}

/* Writes fail with EROFS (newer kernels keep ext4's emergency read-only
 * state out of statvfs: a write is the one way to see it). */
static bool backing_is_read_only(void *ctx)
{
	int fd = open(in_dir("backing/probe"), O_WRONLY | O_CREAT, 0600);

	(void)ctx;
	if (fd >= 0) {
		close(fd);
		unlink(in_dir("backing/probe"));
		return false;
	}
	return errno == EROFS;
}

/* What a write through the mount gets: 0 or an errno. */
static int write_errno(const char *rel, int flags)
{
	int fd = open(harness_mount_path(&h, rel), O_WRONLY | flags, 0644);
	int err = 0;

	if (fd < 0)
		return errno;
	if (write(fd, "x", 1) != 1)
		err = errno;
	close(fd);
	return err;
}

static const struct expected ro_files[] = {
	{ "keep/a.jpg", "referenced, written before the error" },
	{ "keep/b.jpg", "also referenced" },
};

/*
 * BACKING turns read-only under the mount, as a filesystem does after an
 * I/O error (an ext4 image with errors=remount-ro and an injected error):
 * writes fail with EROFS, reads go on, a scan quarantines nothing and
 * says why, and nothing is lost.  Linux keeps such a filesystem read-only
 * until it is unmounted, so recovery is: unmount mediafs (it exits 0),
 * repair and mount the filesystem again, mount mediafs; the catalog then
 * catches up, and scans and uploads work as before.
 */
START_TEST(test_backing_turning_read_only_loses_nothing)
{
	char trigger[300];
	struct app_ctl r = { 0 };

	mount_ext4_backing(true);
	app_mount(&app, NULL);
	ck_assert_int_eq(mkdir(harness_mount_path(&h, "keep"), 0755), 0);
	for (size_t i = 0; i < 2; i++) {
		app_put(&app, ro_files[i].rel, ro_files[i].content);
		app_insert(&app, "photo.image", ro_files[i].rel);
	}
	app_put(&app, "orphan.jpg", "unreferenced");
	APP_CTL(&app, &r, "scan", "--dry-run");
	ck_assert_msg(r.run.status == 0 && app_scan_number(r.json, "candidates") == 1, "%s", dump(r.json));
	app_ctl_clear(&r);

	/* What the kernel has not written back when a filesystem fails is
	 * lost with it, through mediafs or not: the error comes later. */
	sync_backing();
	ext4_error_trigger(trigger, sizeof(trigger));
	ck_assert_int_eq(harness_write_file(trigger, "1", 1), 0);
	ck_assert_msg(harness_wait_until(backing_is_read_only, NULL, WAIT_MS),
		      "the injected error made BACKING read-only");

	ck_assert_int_eq(write_errno("new.jpg", O_CREAT | O_EXCL), EROFS);
	ck_assert_int_eq(write_errno("keep/a.jpg", O_TRUNC), EROFS);
	ck_assert_int_eq(write_errno("keep/b.jpg", O_APPEND), EROFS);
	ck_assert_int_eq(mkdir(harness_mount_path(&h, "newdir"), 0755), -1);
	ck_assert_int_eq(errno, EROFS);
	ck_assert_int_eq(unlink(harness_mount_path(&h, "orphan.jpg")), -1);
	ck_assert_int_eq(errno, EROFS);
	ck_assert_int_eq(rename(harness_mount_path(&h, "orphan.jpg"),
				harness_mount_path(&h, "moved.jpg")), -1);
	ck_assert_int_eq(errno, EROFS);
	assert_intact(ro_files, 2);

	APP_CTL(&app, &r, "scan");
	ck_assert_msg(r.run.status == 1 && strcmp(scan_text(&r, "status"), "failed") == 0 &&
		      app_scan_number(r.json, "quarantined") == 0, "%s", dump(r.json));
	ck_assert_msg(strstr(ctl_said(&r), "read-only"), "the scan says why: %s", ctl_said(&r));
	app_ctl_clear(&r);
	ck_assert_msg(harness_log_contains(&h, "read-only filesystem"), "the log says why");
	ck_assert_msg(status_has_alarm("backing", "read-only"),
		      "mediactl status says that BACKING is read-only");
	ck_assert_msg(app_in_backing(&app, "orphan.jpg") && app_in_quarantine(&app, "orphan.jpg") == 0,
		      "nothing was moved");

	/* Recovery: the daemon stops cleanly; the filesystem is repaired. */
	ck_assert_int_eq(harness_unmount(&h), 0);
	ck_assert_int_eq(umount2(h.backing, 0), 0);
	ck_assert_msg(harness_sh("e2fsck -f -y '%s' >/dev/null 2>&1", in_dir("backing.img")) <= 1,
		      "e2fsck repairs the image");
	mount_ext4_backing(false);
	app_mount(&app, NULL);
	assert_intact(ro_files, 2);
	app_put(&app, "new.jpg", "an upload after the repair");
	app_insert(&app, "gallery.thumb", "new.jpg");
	APP_CTL(&app, &r, "scan");
	ck_assert_msg(r.run.status == 0 && strcmp(scan_text(&r, "status"), "done") == 0, "%s",
		      dump(r.json));
	app_ctl_clear(&r);
	/* The startup scan or this one moved it. */
	assert_quarantined_once("orphan.jpg");
	ck_assert_msg(!status_has_alarm("backing", NULL), "the alarm is gone");
	ck_assert_msg(harness_wait_until(catalog_agrees_with_disk, NULL, WAIT_MS),
		      "the catalog tracks every file");
	assert_intact(ro_files, 2);
	ck_assert_int_eq(harness_unmount(&h), 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* 4. Hostile column values                                             */
/* ------------------------------------------------------------------ */

/* What must not change: a file's identity, size, times and bytes. */
struct fingerprint {
	struct stat st;
	char bytes[4096];
	size_t len;
};

static void take_fingerprint(const char *path, struct fingerprint *fp)
{
	memset(fp, 0, sizeof(*fp));
	ck_assert_msg(lstat(path, &fp->st) == 0, "canary '%s': %s", path, strerror(errno));
	ck_assert_int_eq(harness_read_file(path, fp->bytes, sizeof(fp->bytes), &fp->len), 0);
}

static void assert_fingerprint(const char *path, const struct fingerprint *before)
{
	struct fingerprint now;

	take_fingerprint(path, &now);
	ck_assert_msg(now.st.st_ino == before->st.st_ino && now.st.st_size == before->st.st_size &&
		      now.st.st_mtim.tv_sec == before->st.st_mtim.tv_sec &&
		      now.st.st_mtim.tv_nsec == before->st.st_mtim.tv_nsec &&
		      now.st.st_ctim.tv_sec == before->st.st_ctim.tv_sec &&
		      now.st.st_ctim.tv_nsec == before->st.st_ctim.tv_nsec &&
		      now.len == before->len && memcmp(now.bytes, before->bytes, now.len) == 0,
		      "canary '%s' was touched", path);
}

/* The names in a directory, sorted, one per line. */
static void list_dir(const char *dir, char *out, size_t size)
{
	ck_assert_int_eq(harness_sh_output(out, size, "ls -A '%s' | sort", dir), 0);
}

static void mkdirs_through_mount(const char *rel)
{
	char path[1024];

	snprintf(path, sizeof(path), "%s", rel);
	for (char *slash = strchr(path, '/'); slash; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		ck_assert_msg(mkdir(harness_mount_path(&h, path), 0755) == 0 || errno == EEXIST,
			      "mkdir '%s': %s", path, strerror(errno));
		*slash = '/';
	}
}

static void put_deep(const char *rel, const char *content)
{
	mkdirs_through_mount(rel);
	app_put(&app, rel, content);
}

#define BAD_UTF8_NAME "bad\xff\xfe.jpg"

/*
 * Values that name files outside BACKING, or nothing at all, count as
 * hostile with examples; they keep and restore nothing, not even the
 * same-named files inside BACKING; canaries at the places they would
 * resolve to outside BACKING are untouched; and the ordinary work of the
 * same scan (a referenced file kept, an orphan moved, a file referenced
 * again restored) happens as usual.
 */
START_TEST(test_hostile_values_touch_nothing_and_keep_nothing)
{
	static const char nul_value[] = "nul.jpg\0/../../x";
	static const char *const canary_names[] = { "outside.jpg", "x", "abs-canary.jpg" };
	char canaries[3][600];
	struct fingerprint canary_prints[3], passwd_print;
	char abs_value[600], abs_twin[600], long_value[5001];
	char outside_before[4096], outside_after[4096];
	struct app_ctl r = { 0 };
	json_t *example;
	size_t i;

	for (i = 0; i < 3; i++) {
		snprintf(canaries[i], sizeof(canaries[i]), "%s", in_dir(canary_names[i]));
		ck_assert_int_eq(harness_write_file(canaries[i], "canary", 6), 0);
		take_fingerprint(canaries[i], &canary_prints[i]);
	}
	take_fingerprint("/etc/passwd", &passwd_print);
	snprintf(abs_value, sizeof(abs_value), "%s", canaries[2]);
	snprintf(abs_twin, sizeof(abs_twin), "%s", canaries[2] + 1);
	app_mount(&app, "restore_on_access = no\n");

	/* Scan 1: same-named files inside BACKING go to the quarantine. */
	app_put(&app, "used.jpg", "used");
	app_put(&app, "back.jpg", "referenced again later");
	app_put(&app, "outside.jpg", "inside twin of ../outside.jpg");
	put_deep("etc/passwd", "inside twin of /etc/passwd");
	put_deep(abs_twin, "inside twin of the absolute canary");
	app_insert(&app, "photo.image", "used.jpg");
	APP_CTL(&app, &r, "scan");
	ck_assert_msg(r.run.status == 0 && app_scan_number(r.json, "quarantined") == 4, "scan 1: %s",
		      dump(r.json));
	app_ctl_clear(&r);

	/* Scan 2: the hostile rows arrive with more same-named files. */
	app_put(&app, "x", "inside twin of a/../../x");
	put_deep("a/x", "inside twin of a/../../x, one level down");
	app_put(&app, BAD_UTF8_NAME, "inside twin of the invalid UTF-8 value");
	app_put(&app, "nul.jpg", "inside twin of the value with a NUL");
	app_put(&app, "orphan2.jpg", "an ordinary orphan");
	app_insert(&app, "gallery.thumb", "back.jpg");
	app_insert(&app, "photo.image", "../outside.jpg");
	app_insert(&app, "photo.image", "/etc/passwd");
	app_insert(&app, "photo.image", abs_value);
	app_insert(&app, "photo.image", "a/../../x");
	memset(long_value, 'd', sizeof(long_value) - 1);
	for (i = 1; i < sizeof(long_value) - 1; i += 2)
		long_value[i] = '/';
	long_value[sizeof(long_value) - 1] = '\0';
	app_insert_bytes(long_value, strlen(long_value), false);
	app_insert_bytes(BAD_UTF8_NAME, strlen(BAD_UTF8_NAME), false);
	app_insert_bytes(nul_value, sizeof(nul_value) - 1, true);
	list_dir(h.dir, outside_before, sizeof(outside_before));
	APP_CTL(&app, &r, "scan");
	ck_assert_msg(r.run.status == 0, "scan 2: %s", dump(r.json));
	ck_assert_msg(app_scan_number(r.json, "hostile") == 7, "7 hostile values: %s", dump(r.json));
	ck_assert_msg(json_array_size(json_object_get(scan_of(&r), "hostile_examples")) > 0,
		      "the scan shows examples: %s", dump(r.json));
	json_array_foreach(json_object_get(scan_of(&r), "hostile_examples"), i, example)
		ck_assert_msg(strstr(json_string_value(example), "(") != NULL,
			      "an example says why: %s", json_string_value(example));
	ck_assert_msg(app_scan_number(r.json, "quarantined") == 5, "the 4 twins and the orphan: %s",
		      dump(r.json));
	ck_assert_msg(app_scan_number(r.json, "restored") == 1, "back.jpg came back: %s", dump(r.json));
	app_ctl_clear(&r);
	ck_assert_msg(harness_log_contains(&h, "can never name a file"),
		      "the log counts the hostile values");
	ck_assert_msg(harness_log_contains(&h, "../outside.jpg (dotdot)"),
		      "the log gives examples");

	/* Outside BACKING nothing was touched or created. */
	for (i = 0; i < 3; i++)
		assert_fingerprint(canaries[i], &canary_prints[i]);
	assert_fingerprint("/etc/passwd", &passwd_print);
	list_dir(h.dir, outside_after, sizeof(outside_after));
	ck_assert_msg(strcmp(outside_before, outside_after) == 0,
		      "nothing appeared or vanished next to BACKING:\n%s---\n%s", outside_before,
		      outside_after);
	/* Inside, the hostile values kept nothing and restored nothing. */
	assert_quarantined_once("outside.jpg");
	assert_quarantined_once("etc/passwd");
	assert_quarantined_once(abs_twin);
	assert_quarantined_once("x");
	assert_quarantined_once("a/x");
	assert_quarantined_once(BAD_UTF8_NAME);
	assert_quarantined_once("nul.jpg");
	assert_quarantined_once("orphan2.jpg");
	const struct expected kept[] = {
		{ "used.jpg", "used" }, { "back.jpg", "referenced again later" },
	};
	assert_intact(kept, 2);
	ck_assert_int_eq(harness_unmount(&h), 0);
}
END_TEST

/* Restore targets outside the mount are refused and write nothing there. */
START_TEST(test_restore_targets_outside_the_mount_are_refused)
{
	static const char outside[] = "not a path inside the mount";
	struct {
		const char *to;
		const char *escape;	/* where it would land, relative to h.dir */
		const char *why;	/* what mediactl must say */
	} targets[] = {
		{ "../escape.jpg", "escape.jpg", outside },
		{ NULL, "escape-abs.jpg", outside },	/* absolute: filled in below */
		{ "sub/../../escape.jpg", "escape.jpg", outside },
		{ "link/escape-link.jpg", "escape-link.jpg", "symbolic link" },
		{ "./.mediafs/x.jpg", NULL, outside },
		{ ".mediafs/quarantine/x.jpg", NULL, outside },
	};
	char absolute[600];
	struct app_ctl r = { 0 };

	snprintf(absolute, sizeof(absolute), "%s", in_dir("escape-abs.jpg"));
	targets[1].to = absolute;
	app_mount(&app, NULL);
	app_put(&app, "gone.jpg", "precious");
	app_insert(&app, "photo.image", "other.jpg");
	APP_CTL(&app, &r, "scan");
	ck_assert_int_eq(app_scan_number(r.json, "quarantined"), 1);
	app_ctl_clear(&r);
	ck_assert_int_eq(mkdir(harness_mount_path(&h, "sub"), 0755), 0);
	/* A symlink inside BACKING that points out of it. */
	ck_assert_int_eq(symlink(h.dir, harness_mount_path(&h, "link")), 0);
	for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
		APP_CTL(&app, &r, "restore", "gone.jpg", "--to", targets[i].to);
		ck_assert_msg(r.run.status == 1, "restore --to '%s' is refused (exit %d): %s",
			      targets[i].to, r.run.status, r.run.out);
		ck_assert_msg(strstr(ctl_said(&r), targets[i].why) &&
			      strstr(ctl_said(&r), targets[i].to),
			      "restore --to '%s' says why: %s", targets[i].to, ctl_said(&r));
		app_ctl_clear(&r);
		if (targets[i].escape)
			ck_assert_msg(access(in_dir(targets[i].escape), F_OK) != 0,
				      "nothing was written at '%s'", targets[i].escape);
	}
	ck_assert_msg(app_in_quarantine(&app, "gone.jpg") == 1, "the file is still in the quarantine");
	APP_CTL(&app, &r, "restore", "gone.jpg", "--to", "sub/back.jpg");
	ck_assert_msg(r.run.status == 0, "a plain target works: %s", r.run.out);
	app_ctl_clear(&r);
	app_assert_bytes(harness_backing_path(&h, "sub/back.jpg"), "precious", "BACKING");
	ck_assert_int_eq(harness_unmount(&h), 0);
}
END_TEST

/* Names through the mount that the state directory tests do not cover. */
START_TEST(test_state_directory_tricks_through_the_mount)
{
	struct stat st;

	app_mount(&app, NULL);
	ck_assert_int_eq(mknod(harness_mount_path(&h, ".mediafs"), S_IFIFO | 0644, 0), -1);
	ck_assert_int_eq(errno, EPERM);
	ck_assert_int_eq(mkdir(harness_mount_path(&h, "dir"), 0755), 0);
	app_put(&app, "file", "f");
	/* An exchange needs both names: the state directory is not one. */
	ck_assert_int_eq(renameat2(AT_FDCWD, harness_mount_path(&h, "dir"), AT_FDCWD,
				   harness_mount_path(&h, ".mediafs"), RENAME_EXCHANGE), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(rename(harness_mount_path(&h, "dir"),
				harness_mount_path(&h, ".mediafs")), -1);
	ck_assert_int_eq(errno, EPERM);
	ck_assert_int_eq(rename(harness_mount_path(&h, ".mediafs"),
				harness_mount_path(&h, "stolen")), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(stat(harness_mount_path(&h, "dir/../.mediafs/catalog.db"), &st), -1);
	ck_assert_int_eq(errno, ENOENT);
	/* Below the root, .mediafs is an ordinary name. */
	app_put(&app, "dir/.mediafs", "mine");
	app_assert_bytes(harness_backing_path(&h, "dir/.mediafs"), "mine", "BACKING");
	ck_assert_msg(stat(harness_backing_path(&h, ".mediafs/catalog.db"), &st) == 0,
		      "the state directory is intact");
	ck_assert_int_eq(harness_unmount(&h), 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* main                                                                 */
/* ------------------------------------------------------------------ */

/* What this machine allows; each missing piece skips its tests only. */
struct abilities {
	bool postgresql;
	const char *no_tmpfs;		/* why not, or NULL */
	const char *no_ext4_errors;	/* why not, or NULL */
};

static const char *probe_tmpfs(const char *dir)
{
	if (mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m") != 0)
		return errno == EPERM ? "mounting a tmpfs needs root" : strerror(errno);
	umount2(dir, MNT_DETACH);
	return NULL;
}

/* ext4 on a loop device with the sysfs knob that injects an error. */
static const char *probe_ext4_errors(const char *dir)
{
	char image[300], mnt[300], device[128] = "", cmd[1024];
	const char *why = NULL;
	FILE *f;

	if (harness_sh("command -v mkfs.ext4 >/dev/null && command -v e2fsck >/dev/null && "
		       "command -v findmnt >/dev/null") != 0)
		return "mkfs.ext4, e2fsck or findmnt is missing";
	snprintf(image, sizeof(image), "%s/probe.img", dir);
	snprintf(mnt, sizeof(mnt), "%s/mnt", dir);
	if (mkdir(mnt, 0700) != 0 ||
	    harness_sh("truncate -s 8M '%s' && mkfs.ext4 -q -F -O ^has_journal '%s' >/dev/null "
		       "2>&1", image, image) != 0)
		return "cannot make an ext4 image";
	if (harness_sh("mount -o loop '%s' '%s' 2>/dev/null", image, mnt) != 0)
		return "cannot mount an ext4 image on a loop device";
	snprintf(cmd, sizeof(cmd), "findmnt -n -o SOURCE --mountpoint '%s'", mnt);
	f = popen(cmd, "r");
	if (!f || !fgets(device, sizeof(device), f))
		why = "cannot find the loop device";
	if (f)
		pclose(f);
	device[strcspn(device, "\n")] = '\0';
	snprintf(cmd, sizeof(cmd), "/sys/fs/ext4/%s/trigger_fs_error",
		 strrchr(device, '/') ? strrchr(device, '/') + 1 : device);
	if (!why && access(cmd, W_OK) != 0)
		why = "this kernel has no /sys/fs/ext4/DEV/trigger_fs_error";
	umount2(mnt, 0);
	return why;
}

static void probe_abilities(struct abilities *can)
{
	char dir[128];

	snprintf(dir, sizeof(dir), "%sprobe-XXXXXX", run_prefix);
	can->no_tmpfs = can->no_ext4_errors = "cannot make a temporary directory";
	if (mkdtemp(dir)) {
		can->no_tmpfs = probe_tmpfs(dir);
		can->no_ext4_errors = can->no_tmpfs ? can->no_tmpfs : probe_ext4_errors(dir);
		detach_leftover_mounts();
		harness_sh("rm -rf '%s'", dir);
	}
	can->postgresql = pg_harness_start(&pg) == 0;
	pg_ready = can->postgresql;
}

static TCase *fault_case(const char *name, void (*setup)(void), int timeout_s)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, timeout_s);
	return tc;
}

static Suite *faults_suite(const struct abilities *can)
{
	Suite *s = suite_create("faults");
	TCase *tc;

	if (can->postgresql) {
		tc = fault_case("postgresql", setup_pg, 90);
		tcase_add_test(tc, test_pg_down_at_scan_time_moves_nothing);
		tcase_add_test(tc, test_pg_stopped_while_the_scan_reads);
		tcase_add_test(tc, test_pg_stopped_between_fetch_and_confirmation);
		suite_add_tcase(s, tc);
	} else {
		printf("skip: postgresql: no PostgreSQL server binaries (see above)\n");
	}
	if (!can->no_tmpfs) {
		tc = fault_case("tmpfs", setup_sqlite, 90);
		tcase_add_test(tc, test_full_backing_gives_enospc_and_loses_nothing);
		tcase_add_test(tc, test_read_only_backing_is_refused_at_mount);
		suite_add_tcase(s, tc);
	} else {
		printf("skip: tmpfs (a full or read-only BACKING): %s\n", can->no_tmpfs);
	}
	if (!can->no_ext4_errors) {
		tc = fault_case("ext4-errors", setup_sqlite, 90);
		tcase_add_test(tc, test_backing_turning_read_only_loses_nothing);
		suite_add_tcase(s, tc);
	} else {
		printf("skip: ext4-errors (BACKING read-only while mounted): %s\n",
		       can->no_ext4_errors);
	}
	tc = fault_case("hostile", setup_sqlite, 60);
	tcase_add_test(tc, test_hostile_values_touch_nothing_and_keep_nothing);
	tcase_add_test(tc, test_restore_targets_outside_the_mount_are_refused);
	tcase_add_test(tc, test_state_directory_tricks_through_the_mount);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	struct abilities can;
	int failed;

	app_require_mediactl();
	snprintf(run_prefix, sizeof(run_prefix), "/tmp/mediafs-faults%ld-", (long)getpid());
	probe_abilities(&can);
	failed = app_run_suite(faults_suite(&can));
	detach_leftover_mounts();
	if (pg_ready)
		pg_harness_destroy(&pg);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
