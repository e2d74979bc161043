/*
 * Integration tests of the reference checker: a real mount, a real
 * application database (a SQLite file, then a throwaway PostgreSQL
 * cluster), mediactl to run scans, and each promise of DESIGN.md checked
 * on the disk and in the catalog.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mount_harness.h"
#include "pg_harness.h"

enum { WAIT_MS = 10000 };

static bool use_pg;
static struct pg_harness pg;
static bool pg_ready;
static struct mount_harness h;
static char app_path[600];
static char config_path[600];

/* ------------------------------------------------------------------ */
/* The application database                                             */
/* ------------------------------------------------------------------ */

static void app_exec(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void app_exec(const char *fmt, ...)
{
	char sql[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	if (use_pg) {
		ck_assert_msg(pg_harness_exec(&pg, "app", sql) == 0, "pg: %s", sql);
		return;
	}
	sqlite3 *db;
	char *error = NULL;
	ck_assert_int_eq(sqlite3_open(app_path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, &error) == SQLITE_OK, "sqlite: %s: %s",
		      sql, error ? error : "");
	sqlite3_close(db);
}

static void app_reset(void)
{
	if (use_pg) {
		pg_harness_exec(&pg, NULL, "DROP DATABASE IF EXISTS app");
		ck_assert_int_eq(pg_harness_exec(&pg, NULL, "CREATE DATABASE app"), 0);
	} else {
		snprintf(app_path, sizeof(app_path), "%s/app.db", h.dir);
		unlink(app_path);
	}
	if (use_pg)
		app_exec("CREATE TABLE photo (id serial primary key, image text);"
			 "CREATE TABLE gallery (id serial primary key, thumb text);");
	else
		app_exec("CREATE TABLE photo (id integer primary key, image text);"
			 "CREATE TABLE gallery (id integer primary key, thumb text);");
}

static void app_reference(const char *table, const char *path)
{
	app_exec("INSERT INTO %s (%s) VALUES ('%s')", table,
		 strcmp(table, "photo") == 0 ? "image" : "thumb", path);
}

/* ------------------------------------------------------------------ */
/* Mount and mediactl                                                   */
/* ------------------------------------------------------------------ */

/* The test's settings, then the defaults for every key it did not set. */
static void write_settings(FILE *f, const char *settings)
{
	static const char *const defaults[] = {
		"interval = 1h", "min_age = 1s", "grace = 1h", "max_fraction = 1",
		"temp_max_age = 0s",
	};

	fprintf(f, "[mediafs]\n%s", settings ? settings : "");
	for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
		char key[32];
		sscanf(defaults[i], "%31s", key);
		if (!settings || !strstr(settings, key))
			fprintf(f, "%s\n", defaults[i]);
	}
}

static void write_config(const char *settings)
{
	char url[1024];
	FILE *f;

	if (use_pg)
		snprintf(url, sizeof(url), "postgresql:///app?host=%s&user=%s", pg.dir,
			 PG_HARNESS_SUPERUSER);
	else
		snprintf(url, sizeof(url), "sqlite:///%s", app_path);
	snprintf(config_path, sizeof(config_path), "%s/mediafs.ini", h.dir);
	f = fopen(config_path, "w");
	ck_assert_ptr_nonnull(f);
	write_settings(f, settings);
	fprintf(f, "\n[source app]\nurl = %s\ncolumns = photo.image, gallery.thumb\n", url);
	fclose(f);
}

static void setup(void)
{
	char runtime[600];

	ck_assert_int_eq(harness_init(&h, use_pg ? "checker-pg" : "checker-sqlite"), 0);
	snprintf(runtime, sizeof(runtime), "%s/run", h.dir);
	setenv("MEDIAFS_RUNTIME_DIR", runtime, 1);
	app_reset();
}

static void teardown(void)
{
	harness_destroy(&h);
}

/* Mount with extra [mediafs] lines and wait for the startup scan. */
static void mount_with(const char *settings)
{
	char option[700];
	const char *args[] = { "-o", option, NULL };

	write_config(settings);
	snprintf(option, sizeof(option), "config=%s", config_path);
	harness_clear_log(&h);
	ck_assert_int_eq(harness_mount(&h, args), 0);
	ck_assert_msg(harness_wait_log(&h, "(startup)", WAIT_MS), "the startup scan runs");
}

/* Run mediactl --json --mount MNT args...; returns its exit status. */
static int mediactl(json_t **out, const char *first, ...)
{
	const char *argv[32] = { getenv("MEDIACTL_BIN"), "--json", "--mount", h.mountpoint };
	int argc = 4, pipe_fds[2], status;
	char buf[1 << 16];
	size_t len = 0;
	ssize_t n;
	va_list ap;

	va_start(ap, first);
	for (const char *arg = first; arg && argc < 31; arg = va_arg(ap, const char *))
		argv[argc++] = arg;
	va_end(ap);
	argv[argc] = NULL;
	ck_assert_int_eq(pipe(pipe_fds), 0);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(pipe_fds[1], STDOUT_FILENO);
		close(pipe_fds[0]);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(pipe_fds[1]);
	while ((n = read(pipe_fds[0], buf + len, sizeof(buf) - len - 1)) > 0)
		len += (size_t)n;
	close(pipe_fds[0]);
	buf[len] = '\0';
	waitpid(pid, &status, 0);
	if (out)
		*out = json_loads(buf, 0, NULL);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static json_t *scan(const char *flag)
{
	json_t *r = NULL;
	int status = mediactl(&r, "scan", flag, NULL);

	ck_assert_msg(r != NULL, "scan answers in JSON");
	ck_assert_msg(status == 0 || status == 1, "scan exits 0 or 1 (%d)", status);
	return r;
}

static const char *scan_status(json_t *r)
{
	return json_string_value(json_object_get(json_object_get(r, "scan"), "status"));
}

static long long scan_number(json_t *r, const char *key)
{
	return json_integer_value(json_object_get(json_object_get(r, "scan"), key));
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* Presence is checked in BACKING: through the mount, a lookup restores a
 * quarantined path (restore_on_access) and would hide a move. */
static bool exists_backing(const char *rel)
{
	struct stat st;

	return lstat(harness_backing_path(&h, rel), &st) == 0;
}

static void put(const char *rel, const char *content)
{
	ck_assert_int_eq(harness_write_file(harness_mount_path(&h, rel), content, strlen(content)),
			 0);
}

/* Count quarantined files with this original path (by walking the dir). */
static int in_quarantine(const char *rel)
{
	char cmd[2048];
	FILE *f;
	int n = 0;

	snprintf(cmd, sizeof(cmd), "cd '%s/.mediafs/quarantine' 2>/dev/null && "
		 "find . -type f -path './*/%s' | wc -l", h.backing, rel);
	f = popen(cmd, "r");
	if (f && fscanf(f, "%d", &n) != 1)
		n = -1;
	if (f)
		pclose(f);
	return n;
}

/* ------------------------------------------------------------------ */
/* Promises                                                             */
/* ------------------------------------------------------------------ */

START_TEST(test_referenced_file_stays_and_orphan_goes)
{
	mount_with(NULL);
	put("used.jpg", "used");
	put("orphan.jpg", "orphan");
	app_reference("photo", "used.jpg");
	sleep_ms(1100);
	json_t *r = scan(NULL);
	ck_assert_str_eq(scan_status(r), "done");
	ck_assert_int_eq(scan_number(r, "quarantined"), 1);
	json_decref(r);
	ck_assert_msg(exists_backing("used.jpg"), "promise 1: the referenced file stays");
	ck_assert_msg(!exists_backing("orphan.jpg"),
		      "the orphan left its place");
	ck_assert_msg(in_quarantine("orphan.jpg") == 1, "the orphan is in the quarantine once");
	ck_assert_int_eq(harness_unmount(&h), 0);
}
END_TEST

START_TEST(test_young_unreferenced_file_survives_until_min_age)
{
	mount_with("min_age = 3s\n");
	put("upload.jpg", "in flight");
	app_reference("photo", "other.jpg");
	json_t *r = scan(NULL);
	ck_assert_int_eq(scan_number(r, "quarantined"), 0);
	json_decref(r);
	ck_assert_msg(exists_backing("upload.jpg"), "promise 2: younger than min_age stays");
	sleep_ms(3100);
	r = scan(NULL);
	ck_assert_int_eq(scan_number(r, "quarantined"), 1);
	json_decref(r);
	ck_assert(!exists_backing("upload.jpg"));
	ck_assert_int_eq(harness_unmount(&h), 0);
}
END_TEST

START_TEST(test_reference_committed_late_keeps_the_file)
{
	mount_with("min_age = 3s\n");
	put("late.jpg", "late");
	sleep_ms(1000);
	json_decref(scan(NULL));
	/* The transaction commits after the upload, within min_age. */
	app_reference("photo", "late.jpg");
	sleep_ms(2500);
	json_t *r = scan(NULL);
	ck_assert_int_eq(scan_number(r, "quarantined"), 0);
	json_decref(r);
	ck_assert(exists_backing("late.jpg"));
	ck_assert_int_eq(harness_unmount(&h), 0);
}
END_TEST

START_TEST(test_file_referenced_from_two_tables_then_one_then_none)
{
	mount_with(NULL);
	put("shared.jpg", "shared");
	app_reference("photo", "shared.jpg");
	app_reference("gallery", "shared.jpg");
	sleep_ms(1100);
	json_decref(scan(NULL));
	ck_assert(exists_backing("shared.jpg"));
	app_exec("DELETE FROM photo");
	json_decref(scan(NULL));
	ck_assert_msg(exists_backing("shared.jpg"), "one reference left is enough");
	app_exec("DELETE FROM gallery");
	put("other.jpg", "keeps the source non-empty");
	app_reference("photo", "other.jpg");
	json_t *r = scan(NULL);
	ck_assert_int_eq(scan_number(r, "quarantined"), 1);
	json_decref(r);
	ck_assert_msg(!exists_backing("shared.jpg"), "no reference left: it goes");
	ck_assert_int_eq(harness_unmount(&h), 0);
}
END_TEST

START_TEST(test_brake_holds_a_scan_when_a_table_is_emptied)
{
	json_t *r;

	mount_with("max_fraction = 0.5\n");
	for (int i = 0; i < 4; i++) {
		char name[32];
		snprintf(name, sizeof(name), "p%d.jpg", i);
		put(name, name);
		app_reference("photo", name);
	}
	sleep_ms(1100);
	json_decref(scan(NULL));
	app_exec("DELETE FROM photo");
	r = scan(NULL);
	ck_assert_msg(strcmp(scan_status(r), "held") == 0, "promise 5: the scan is held");
	long long held_id = scan_number(r, "id");
	json_decref(r);
	for (int i = 0; i < 4; i++) {
		char name[32];
		snprintf(name, sizeof(name), "p%d.jpg", i);
		ck_assert_msg(exists_backing(name), "nothing moved while held");
	}
	ck_assert_msg(harness_log_contains(&h, "ALARM"), "the alarm is in the log");
	ck_assert_int_eq(mediactl(&r, "status", NULL), 0);
	ck_assert_msg(json_object_get(r, "held_scan") != NULL, "the status shows the held scan");
	json_decref(r);
	/* Reject: nothing moves; hold again, confirm: they go. */
	ck_assert_int_eq(mediactl(&r, "reject", NULL), 0);
	json_decref(r);
	ck_assert(exists_backing("p0.jpg"));
	r = scan(NULL);
	ck_assert_str_eq(scan_status(r), "held");
	held_id = scan_number(r, "id");
	json_decref(r);
	char id[32];
	snprintf(id, sizeof(id), "%lld", held_id);
	ck_assert_int_eq(mediactl(&r, "confirm", id, NULL), 0);
	ck_assert_int_eq(scan_number(r, "quarantined"), 4);
	ck_assert_msg(scan_number(r, "id") == held_id && strcmp(scan_status(r), "confirmed") == 0,
		      "the confirmed scan keeps the number the admin was told");
	json_decref(r);
	ck_assert(!exists_backing("p0.jpg"));
	/* So the number the admin confirmed is the one that undoes it. */
	ck_assert_int_eq(mediactl(&r, "restore", "--scan", id, NULL), 0);
	json_decref(r);
	ck_assert_msg(exists_backing("p0.jpg"), "restore --scan N undoes the confirmed scan N");
	ck_assert_int_eq(harness_unmount(&h), 0);
}
END_TEST

START_TEST(test_small_store_is_not_held_for_a_few_orphans)
{
	json_t *r;

	mount_with("max_fraction = 0.10\nhold_min_files = 3\n");
	for (int i = 0; i < 8; i++) {
		char name[32];
		snprintf(name, sizeof(name), "s%d.jpg", i);
		put(name, name);
		if (i < 6)
			app_reference("photo", name);
	}
	sleep_ms(1100);
	r = scan(NULL);
	ck_assert_msg(strcmp(scan_status(r), "done") == 0,
		      "2 orphans of 8 files (25%%) are within hold_min_files: not held");
	ck_assert_int_eq(scan_number(r, "quarantined"), 2);
	json_decref(r);
	app_exec("DELETE FROM photo WHERE image IN ('s0.jpg', 's1.jpg', 's2.jpg', 's3.jpg')");
	r = scan(NULL);
	ck_assert_msg(strcmp(scan_status(r), "held") == 0,
		      "4 candidates, more than hold_min_files and max_fraction: held");
	json_decref(r);
	ck_assert_msg(exists_backing("s0.jpg"), "nothing moved while held");
	ck_assert_int_eq(harness_unmount(&h), 0);
}
END_TEST

START_TEST(test_source_error_quarantines_nothing)
{
	json_t *r;

	mount_with(NULL);
	put("kept.jpg", "kept");
	app_reference("photo", "other.jpg");
	sleep_ms(1100);
	app_exec("DROP TABLE gallery");
	ck_assert_int_eq(mediactl(&r, "scan", NULL), 1);
	ck_assert_str_eq(scan_status(r), "failed");
	ck_assert_int_eq(scan_number(r, "quarantined"), 0);
	json_decref(r);
	ck_assert_msg(exists_backing("kept.jpg"), "promise 4: an error is never 'no references'");
	ck_assert_msg(harness_log_contains(&h, "gallery"), "the log names the table");
	ck_assert_int_eq(mediactl(&r, "status", NULL), 0);
	ck_assert_msg(json_object_get(r, "source_errors") != NULL, "the status shows it");
	json_decref(r);
	ck_assert_int_eq(harness_unmount(&h), 0);
}
END_TEST

START_TEST(test_purge_after_grace_leaves_a_tombstone)
{
	json_t *r;

	mount_with("grace = 2s\n");
	put("old.jpg", "old");
	app_reference("photo", "other.jpg");
	sleep_ms(1100);
	json_decref(scan(NULL));
	ck_assert_int_eq(in_quarantine("old.jpg"), 1);
	r = scan(NULL);
	ck_assert_msg(scan_number(r, "purged") == 0, "not purged within grace");
	json_decref(r);
	sleep_ms(2100);
	r = scan(NULL);
	ck_assert_int_eq(scan_number(r, "purged"), 1);
	json_decref(r);
	ck_assert_msg(in_quarantine("old.jpg") == 0, "promise 3: gone for good after grace");
	ck_assert_int_eq(mediactl(&r, "show", "old.jpg", NULL), 0);
	ck_assert_str_eq(json_string_value(json_object_get(
		json_array_get(json_object_get(r, "files"), 0), "state")), "purged");
	json_decref(r);
	ck_assert_int_eq(harness_unmount(&h), 0);
}
END_TEST

START_TEST(test_restore_by_reference_and_by_access)
{
	json_t *r;
	char buf[32];
	size_t len;

	mount_with(NULL);
	put("again.jpg", "again");
	put("touched.jpg", "touched");
	app_reference("photo", "other.jpg");
	sleep_ms(1100);
	r = scan(NULL);
	ck_assert_int_eq(scan_number(r, "quarantined"), 2);
	json_decref(r);
	app_reference("gallery", "again.jpg");
	r = scan(NULL);
	ck_assert_int_eq(scan_number(r, "restored"), 1);
	json_decref(r);
	ck_assert_int_eq(harness_read_file(harness_mount_path(&h, "again.jpg"), buf, sizeof(buf),
					   &len), 0);
	ck_assert_msg(len == 5 && !memcmp(buf, "again", 5),
		      "promise 8: referenced again, back with its content");
	ck_assert_int_eq(harness_read_file(harness_mount_path(&h, "touched.jpg"), buf, sizeof(buf),
					   &len), 0);
	ck_assert_msg(len == 7 && !memcmp(buf, "touched", 7), "restored when accessed");
	ck_assert_int_eq(mediactl(&r, "status", NULL), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(r, "restores_by_access")), 1);
	json_decref(r);
	ck_assert_int_eq(harness_unmount(&h), 0);
}
END_TEST

START_TEST(test_restore_never_overwrites_a_live_file)
{
	json_t *r;
	char buf[32];
	size_t len;

	mount_with("restore_on_access = no\n");
	put("clash.jpg", "old");
	app_reference("photo", "other.jpg");
	sleep_ms(1100);
	json_decref(scan(NULL));
	put("clash.jpg", "new");
	app_reference("photo", "clash.jpg");
	r = scan(NULL);
	ck_assert_int_eq(scan_number(r, "conflicts"), 1);
	ck_assert_int_eq(scan_number(r, "restored"), 0);
	json_decref(r);
	ck_assert_int_eq(harness_read_file(harness_mount_path(&h, "clash.jpg"), buf, sizeof(buf),
					   &len), 0);
	ck_assert_msg(len == 3 && !memcmp(buf, "new", 3), "the live file was not overwritten");
	ck_assert_int_eq(in_quarantine("clash.jpg"), 1);
	ck_assert_int_eq(mediactl(&r, "restore", "clash.jpg", NULL), 1);
	json_decref(r);
	ck_assert_int_eq(mediactl(&r, "restore", "clash.jpg", "--to", "clash-old.jpg", NULL), 0);
	json_decref(r);
	ck_assert_int_eq(harness_read_file(harness_mount_path(&h, "clash-old.jpg"), buf,
					   sizeof(buf), &len), 0);
	ck_assert_msg(len == 3 && !memcmp(buf, "old", 3), "--to restores it beside");
	ck_assert_int_eq(harness_unmount(&h), 0);
}
END_TEST

START_TEST(test_unlink_and_replace_are_recoverable)
{
	json_t *r;
	char buf[32];
	size_t len;

	mount_with("temp_max_age = 1s\nrestore_on_access = no\n");
	put("deleted.jpg", "precious");
	put("replaced.jpg", "first");
	put("temp.jpg", "scratch");
	sleep_ms(1100);
	ck_assert_int_eq(unlink(harness_mount_path(&h, "deleted.jpg")), 0);
	put("incoming.tmp", "second");
	ck_assert_int_eq(rename(harness_mount_path(&h, "incoming.tmp"),
				harness_mount_path(&h, "replaced.jpg")), 0);
	ck_assert_int_eq(in_quarantine("deleted.jpg"), 1);
	ck_assert_int_eq(in_quarantine("replaced.jpg"), 1);
	put("young.jpg", "young");
	ck_assert_int_eq(unlink(harness_mount_path(&h, "young.jpg")), 0);
	ck_assert_msg(in_quarantine("young.jpg") == 0, "a young temporary file goes for good");
	ck_assert_int_eq(mediactl(&r, "restore", "deleted.jpg", NULL), 0);
	json_decref(r);
	ck_assert_int_eq(harness_read_file(harness_mount_path(&h, "deleted.jpg"), buf, sizeof(buf),
					   &len), 0);
	ck_assert_msg(len == 8 && !memcmp(buf, "precious", 8), "the unlink was undone");
	ck_assert_int_eq(mediactl(&r, "restore", "replaced.jpg", "--to", "replaced-first.jpg",
				  NULL), 0);
	json_decref(r);
	ck_assert_int_eq(harness_read_file(harness_mount_path(&h, "replaced-first.jpg"), buf,
					   sizeof(buf), &len), 0);
	ck_assert_msg(len == 5 && !memcmp(buf, "first", 5), "the replaced file came back");
	ck_assert_int_eq(mediactl(&r, "show", "deleted.jpg", NULL), 0);
	char *shown = json_dumps(r, 0);
	ck_assert_msg(strstr(shown, "\"unlinked\"") != NULL, "the audit says unlinked");
	free(shown);
	json_decref(r);
	ck_assert_int_eq(harness_unmount(&h), 0);
}
END_TEST

START_TEST(test_dry_run_moves_nothing)
{
	json_t *r;

	mount_with(NULL);
	put("orphan.jpg", "orphan");
	app_reference("photo", "other.jpg");
	sleep_ms(1100);
	r = scan("--dry-run");
	ck_assert_str_eq(scan_status(r), "dry-run");
	ck_assert_int_eq(scan_number(r, "candidates"), 1);
	ck_assert_int_eq(scan_number(r, "quarantined"), 0);
	json_decref(r);
	ck_assert(exists_backing("orphan.jpg"));
	ck_assert_int_eq(mediactl(&r, "status", NULL), 0);
	long long last = json_integer_value(json_object_get(json_object_get(r, "last_scan"), "id"));
	json_decref(r);
	ck_assert_int_eq(mediactl(&r, "ls", "--unreferenced", NULL), 0);
	ck_assert_int_eq(json_array_size(json_object_get(r, "files")), 1);
	json_decref(r);
	/* Listing is a question, not a scan: no number taken, nothing logged. */
	ck_assert_int_eq(mediactl(&r, "status", NULL), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(r, "last_scan"), "id")),
			 last);
	json_decref(r);
	char line[64];
	snprintf(line, sizeof(line), "scan %lld (", last + 1);
	ck_assert_msg(!harness_log_contains(&h, line), "ls --unreferenced logged a scan");
	ck_assert(exists_backing("orphan.jpg"));
	ck_assert_int_eq(harness_unmount(&h), 0);
}
END_TEST

START_TEST(test_exclude_globs_and_pins)
{
	json_t *r;

	mount_with("exclude = defaults/*, CACHE/*\n");
	ck_assert_int_eq(mkdir(harness_mount_path(&h, "defaults"), 0755), 0);
	ck_assert_int_eq(mkdir(harness_mount_path(&h, "CACHE"), 0755), 0);
	ck_assert_int_eq(mkdir(harness_mount_path(&h, "CACHE/a"), 0755), 0);
	put("defaults/avatar.png", "a");
	put("CACHE/a/thumb.jpg", "t");
	put("pinned.jpg", "p");
	put("orphan.jpg", "o");
	app_reference("photo", "other.jpg");
	ck_assert_int_eq(mediactl(&r, "pin", "pinned.jpg", NULL), 0);
	json_decref(r);
	sleep_ms(1100);
	r = scan(NULL);
	ck_assert_int_eq(scan_number(r, "quarantined"), 1);
	json_decref(r);
	ck_assert(exists_backing("defaults/avatar.png"));
	ck_assert(exists_backing("CACHE/a/thumb.jpg"));
	ck_assert(exists_backing("pinned.jpg"));
	ck_assert(!exists_backing("orphan.jpg"));
	ck_assert_int_eq(mediactl(&r, "unpin", "pinned.jpg", NULL), 0);
	json_decref(r);
	r = scan(NULL);
	ck_assert_int_eq(scan_number(r, "quarantined"), 1);
	json_decref(r);
	ck_assert(!exists_backing("pinned.jpg"));
	ck_assert_int_eq(harness_unmount(&h), 0);
}
END_TEST

START_TEST(test_emptied_directories_are_removed)
{
	json_t *r;

	mount_with(NULL);
	ck_assert_int_eq(mkdir(harness_mount_path(&h, "album"), 0755), 0);
	ck_assert_int_eq(mkdir(harness_mount_path(&h, "album/2020"), 0755), 0);
	put("album/2020/a.jpg", "a");
	ck_assert_int_eq(mkdir(harness_mount_path(&h, "kept"), 0755), 0);
	put("kept/b.jpg", "b");
	app_reference("photo", "kept/b.jpg");
	sleep_ms(1100);
	/* The kernel forgets the directories once nothing uses them. */
	harness_sh("echo 2 > /proc/sys/vm/drop_caches");
	r = scan(NULL);
	ck_assert_int_eq(scan_number(r, "quarantined"), 1);
	json_decref(r);
	ck_assert_msg(!exists_backing("album/2020") && !exists_backing("album"),
		      "the directories the checker emptied are gone");
	ck_assert(exists_backing("kept/b.jpg"));
	/* An upload into a removed directory path works: the application's
	 * makedirs(exist_ok) finds it (made again on access, since a
	 * quarantined file lies under it) or makes it. */
	ck_assert_msg(mkdir(harness_mount_path(&h, "album"), 0755) == 0 || errno == EEXIST,
		      "mkdir album: %s", strerror(errno));
	put("album/new.jpg", "n");
	ck_assert(exists_backing("album/new.jpg"));
	ck_assert_int_eq(harness_unmount(&h), 0);
}
END_TEST

START_TEST(test_restores_into_a_removed_directory)
{
	json_t *r;
	char buf[16];
	size_t len;

	mount_with(NULL);
	ck_assert_int_eq(mkdir(harness_mount_path(&h, "gone"), 0755), 0);
	ck_assert_int_eq(mkdir(harness_mount_path(&h, "gone/deep"), 0755), 0);
	put("gone/deep/a.jpg", "aaa");
	app_reference("photo", "other.jpg");
	sleep_ms(1100);
	harness_sh("echo 2 > /proc/sys/vm/drop_caches");
	r = scan(NULL);
	ck_assert_int_eq(scan_number(r, "quarantined"), 1);
	json_decref(r);
	ck_assert_msg(!exists_backing("gone"), "the emptied directories were removed");
	/* A lookup walks through the missing directories to the file. */
	ck_assert_int_eq(harness_read_file(harness_mount_path(&h, "gone/deep/a.jpg"), buf,
					   sizeof(buf), &len), 0);
	ck_assert_msg(len == 3 && !memcmp(buf, "aaa", 3), "restored on access through "
		      "directories the checker had removed");
	ck_assert_int_eq(harness_unmount(&h), 0);
}
END_TEST

START_TEST(test_scan_restore_replaces_negative_entries)
{
	struct stat st;
	json_t *r;
	char buf[16];
	size_t len;

	mount_with("restore_on_access = no\n");
	ck_assert_int_eq(mkdir(harness_mount_path(&h, "away"), 0755), 0);
	put("away/b.jpg", "bbb");
	app_reference("photo", "other.jpg");
	sleep_ms(1100);
	harness_sh("echo 2 > /proc/sys/vm/drop_caches");
	r = scan(NULL);
	ck_assert_int_eq(scan_number(r, "quarantined"), 1);
	json_decref(r);
	/* The kernel now caches the absence of "away". */
	ck_assert_int_eq(stat(harness_mount_path(&h, "away"), &st), -1);
	ck_assert_int_eq(errno, ENOENT);
	app_reference("gallery", "away/b.jpg");
	r = scan(NULL);
	ck_assert_int_eq(scan_number(r, "restored"), 1);
	json_decref(r);
	ck_assert_int_eq(harness_read_file(harness_mount_path(&h, "away/b.jpg"), buf,
					   sizeof(buf), &len), 0);
	ck_assert_msg(len == 3 && !memcmp(buf, "bbb", 3), "visible at once after the scan");
	ck_assert_int_eq(harness_unmount(&h), 0);
}
END_TEST

/* How many times each bulk file is in the quarantine (one find, not one
 * per file). */
static void count_quarantined_bulk(int *counts, int count)
{
	char cmd[1024], line[PATH_MAX];
	FILE *f;

	memset(counts, 0, (size_t)count * sizeof(int));
	snprintf(cmd, sizeof(cmd), "cd '%s/.mediafs/quarantine' 2>/dev/null && "
		 "find . -type f -path './*/bulk/f*.jpg'", h.backing);
	f = popen(cmd, "r");
	while (f && fgets(line, sizeof(line), f)) {
		const char *name = strstr(line, "/bulk/f");
		int i;
		if (name && sscanf(name, "/bulk/f%d.jpg", &i) == 1 && i >= 0 && i < count)
			counts[i]++;
	}
	if (f)
		pclose(f);
}

/* Every file written exists exactly once: at its path or in the quarantine. */
static void assert_each_file_once(int count)
{
	int *quarantined = calloc((size_t)count, sizeof(int));

	count_quarantined_bulk(quarantined, count);
	for (int i = 0; i < count; i++) {
		char name[64];
		snprintf(name, sizeof(name), "bulk/f%04d.jpg", i);
		int places = exists_backing(name) + quarantined[i];
		ck_assert_msg(places == 1, "'%s' is in %d places", name, places);
	}
	free(quarantined);
}

static void scan_in_background_and_kill(long after_ms)
{
	pid_t scanner = fork();

	if (scanner == 0) {
		execl(getenv("MEDIACTL_BIN"), "mediactl", "--mount", h.mountpoint, "scan",
		      (char *)NULL);
		_exit(127);
	}
	sleep_ms(after_ms);
	harness_kill(&h);
	waitpid(scanner, NULL, 0);
}

/* The paths the catalog says were purged, via mediactl --backing. */
static json_t *purged_paths(void)
{
	char cmd[2048];
	json_t *r = NULL, *paths = json_object(), *file;
	size_t i;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "%s --json --backing '%s' ls --state purged",
		 getenv("MEDIACTL_BIN"), h.backing);
	f = popen(cmd, "r");
	if (f) {
		r = json_loadf(f, 0, NULL);
		pclose(f);
	}
	json_array_foreach(json_object_get(r, "files"), i, file)
		json_object_set_new(paths, json_string_value(json_object_get(file, "path")),
				    json_true());
	json_decref(r);
	return paths;
}

START_TEST(test_kill_during_scan_and_purge_loses_nothing)
{
	enum { COUNT = 1500 };
	json_t *r;

	mount_with(NULL);
	ck_assert_int_eq(mkdir(harness_mount_path(&h, "bulk"), 0755), 0);
	for (int i = 0; i < COUNT; i++) {
		char name[64];
		snprintf(name, sizeof(name), "bulk/f%04d.jpg", i);
		put(name, name);
	}
	app_reference("photo", "bulk/f0000.jpg");
	sleep_ms(1100);
	/* Killed in the middle of moving files to the quarantine. */
	for (int round = 0; round < 2; round++) {
		scan_in_background_and_kill(30 + 40 * round);
		assert_each_file_once(COUNT);
		mount_with(NULL);
		assert_each_file_once(COUNT);
		ck_assert_int_eq(harness_unmount(&h), 0);
		mount_with(NULL);
	}
	/* Killed in the middle of purging: what is gone must be a purge. */
	ck_assert_int_eq(harness_unmount(&h), 0);
	mount_with("grace = 1s\n");
	ck_assert_int_eq(harness_unmount(&h), 0);
	sleep_ms(1100);
	mount_with("grace = 1s\nmin_age = 1h\n");
	scan_in_background_and_kill(5);
	mount_with("grace = 1h\n");
	ck_assert(exists_backing("bulk/f0000.jpg"));
	ck_assert_int_eq(mediactl(&r, "check", NULL), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(r, "missing_count")), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(r, "untracked_count")), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(r, "dangling_count")), 0);
	json_decref(r);
	ck_assert_int_eq(harness_unmount(&h), 0);
	int *quarantined = calloc(COUNT, sizeof(int));
	json_t *purged = purged_paths();
	count_quarantined_bulk(quarantined, COUNT);
	for (int i = 0; i < COUNT; i++) {
		char name[64];
		snprintf(name, sizeof(name), "bulk/f%04d.jpg", i);
		int places = exists_backing(name) + quarantined[i];
		ck_assert_msg(places <= 1, "'%s' is in two places", name);
		if (places == 0)
			ck_assert_msg(json_object_get(purged, name) != NULL,
				      "'%s' is gone but the catalog does not say purged", name);
	}
	json_decref(purged);
	free(quarantined);
}
END_TEST

static Suite *checker_suite(const char *name)
{
	Suite *s = suite_create(name);
	TCase *tc = tcase_create("promises");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_referenced_file_stays_and_orphan_goes);
	tcase_add_test(tc, test_young_unreferenced_file_survives_until_min_age);
	tcase_add_test(tc, test_reference_committed_late_keeps_the_file);
	tcase_add_test(tc, test_file_referenced_from_two_tables_then_one_then_none);
	tcase_add_test(tc, test_brake_holds_a_scan_when_a_table_is_emptied);
	tcase_add_test(tc, test_small_store_is_not_held_for_a_few_orphans);
	tcase_add_test(tc, test_source_error_quarantines_nothing);
	tcase_add_test(tc, test_purge_after_grace_leaves_a_tombstone);
	tcase_add_test(tc, test_restore_by_reference_and_by_access);
	tcase_add_test(tc, test_restore_never_overwrites_a_live_file);
	tcase_add_test(tc, test_unlink_and_replace_are_recoverable);
	tcase_add_test(tc, test_dry_run_moves_nothing);
	tcase_add_test(tc, test_exclude_globs_and_pins);
	tcase_add_test(tc, test_emptied_directories_are_removed);
	tcase_add_test(tc, test_restores_into_a_removed_directory);
	tcase_add_test(tc, test_scan_restore_replaces_negative_entries);
	tcase_add_test(tc, test_kill_during_scan_and_purge_loses_nothing);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	int failed = 0;
	SRunner *runner;

	harness_require_fuse();
	if (!getenv("MEDIACTL_BIN")) {
		printf("skip: $MEDIACTL_BIN is not set\n");
		return HARNESS_EXIT_SKIP;
	}
	use_pg = false;
	runner = srunner_create(checker_suite("checker-sqlite"));
	srunner_run_all(runner, CK_NORMAL);
	failed += srunner_ntests_failed(runner);
	srunner_free(runner);

	if (pg_harness_start(&pg) != 0) {
		printf("PostgreSQL is not available here: its half of the checker tests is skipped\n");
		return failed ? EXIT_FAILURE : EXIT_SUCCESS;
	}
	pg_ready = true;
	use_pg = true;
	runner = srunner_create(checker_suite("checker-postgresql"));
	srunner_run_all(runner, CK_NORMAL);
	failed += srunner_ntests_failed(runner);
	srunner_free(runner);
	pg_harness_destroy(&pg);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
