/*
 * Unit tests for refdb/source.c, refdb/source_sqlite.c and
 * refdb/source_pg.c against real databases: a SQLite file per test, and a
 * throwaway PostgreSQL cluster (tests/lib/pg_harness.h).  The cases that
 * hold for every backend run once per backend, over the same rows; the
 * cases that only one backend has (file names and WAL for SQLite; schemas,
 * roles, passwords and a server that stops for PostgreSQL) are in the
 * TCases marked "sqlite only" and "postgresql only".  Without a
 * PostgreSQL server its half is skipped, with the reason on stdout.
 *
 * File map: the backends, the shared fixture, the cases of every backend,
 * the SQLite-only cases, the PostgreSQL-only cases, the suites.
 */
#include <check.h>
#include <errno.h>
#include <libpq-fe.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "app_harness.h"
#include "config.h"
#include "refset.h"
#include "source.h"

enum { BIG_ROWS = 200000 };

/* ------------------------------------------------------------------ */
/* The backends                                                         */
/* ------------------------------------------------------------------ */

enum backend_id { BACKEND_SQLITE, BACKEND_PG, BACKEND_COUNT };

/* The rows every backend holds: the cases of every backend read them. */
#define COMMON_ROWS \
	"INSERT INTO gallery_photo (image, thumb) VALUES" \
	" ('photos/a.jpg', 'thumbs/a.jpg'), ('photos/b.jpg', NULL), ('photos/c.jpg', '')," \
	" ('photos/shared.jpg', 'photos/shared.jpg');" \
	"INSERT INTO docs (file) VALUES ('docs/manual.pdf'), ('photos/a.jpg');" \
	"CREATE TABLE media_urls (url text);" \
	"INSERT INTO media_urls VALUES ('/media/a.jpg'), ('https://cdn.example.com/media/b.jpg')," \
	" ('c.jpg'), ('./d//e.jpg'), ('https://other.example.com/x.jpg'), ('/media');"

static const char sqlite_schema[] =
	"CREATE TABLE gallery_photo (id INTEGER PRIMARY KEY, image TEXT, thumb TEXT);"
	"CREATE TABLE docs (id INTEGER PRIMARY KEY, file TEXT);"
	COMMON_ROWS;

static const char pg_schema[] =
	"CREATE TABLE gallery_photo (id serial PRIMARY KEY, image text, thumb text);"
	"CREATE TABLE docs (id serial, file varchar(200));"
	COMMON_ROWS
	"CREATE SCHEMA media;"
	"CREATE TABLE media.asset (file text);"
	"INSERT INTO media.asset VALUES ('assets/logo.svg'), ('assets/logo.svg'),"
	" ('/media/assets/hero.jpg');"
	"CREATE TABLE evil (p text, n integer);"
	"INSERT INTO evil VALUES ('../x', 1), ('a/../../etc/passwd', 2), ('/etc/passwd', 3),"
	" (E'tab\\there.jpg', 4), (E'new\\nline.jpg', 5), (E'back\\\\slash.jpg', 6),"
	" (E'\\\\N', 7), ('ok.jpg', 8), (NULL, NULL), ('', 10);"
	"CREATE TABLE secret (path text); INSERT INTO secret VALUES ('s.jpg');"
	"CREATE ROLE mediafs_ro LOGIN;"
	"GRANT SELECT ON gallery_photo TO mediafs_ro;"
	"GRANT SELECT ON docs TO " PG_HARNESS_PASSWORD_ROLE ";"
	"CREATE TABLE locked (path text); INSERT INTO locked VALUES ('l.jpg');"
	"CREATE TABLE big (path text);"
	"INSERT INTO big SELECT 'big/' || g || '/image.jpg' FROM generate_series(1, 200000) g;";

/* Immutable while a suite runs: main() sets it before each. */
static enum backend_id backend;
static struct pg_harness cluster;

/* The current test's (each runs in its own child). */
static char dir[] = "/tmp/mediafs-test-source-XXXXXX";
static char db_path[64];		/* SQLite: the application's file */
static char ini_path[96];
static struct config cfg;
static struct source *src;
static struct refset *set;
static struct source_report report;
static char error[SOURCE_ERROR_BYTES];

/* ------------------------------------------------------------------ */
/* The shared fixture                                                   */
/* ------------------------------------------------------------------ */

static void db_exec_on(const char *path, const char *sql)
{
	sqlite3 *db;
	char *msg = NULL;

	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		ck_abort_msg("sql failed: %s", msg);
	sqlite3_close(db);
}

static void db_exec(const char *sql)
{
	db_exec_on(db_path, sql);
}

static void setup(void)
{
	strcpy(dir, "/tmp/mediafs-test-source-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(db_path, sizeof(db_path), "%s/app.sqlite3", dir);
	snprintf(ini_path, sizeof(ini_path), "%s/app.ini", dir);
	if (backend == BACKEND_SQLITE)
		db_exec(sqlite_schema);
	config_init_defaults(&cfg);
	set = refset_new();
	ck_assert_ptr_nonnull(set);
	src = NULL;
	memset(&report, 0, sizeof(report));
}

static void teardown(void)
{
	char cmd[256];

	source_close(src);
	refset_free(set);
	config_free(&cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* Load a [source app] section with this url, plus body. */
static void load_source(const char *url, const char *body)
{
	FILE *f = fopen(ini_path, "w");

	ck_assert_ptr_nonnull(f);
	fprintf(f, "[source app]\nurl = %s\n%s", url, body);
	fclose(f);
	ck_assert_msg(config_load(&cfg, ini_path, error, sizeof(error)) == 0, "config: %s", error);
}

/* A SQLite url: url_format with the database file's path in it. */
static void load_sqlite_source(const char *url_format, const char *body)
{
	char url[256];

	snprintf(url, sizeof(url), url_format, db_path);
	load_source(url, body);
}

/* Open the application's database as user (NULL: the superuser; SQLite
 * has no users), with extra conninfo words (PostgreSQL). */
static int open_as(const char *user, const char *extra, const char *body)
{
	char url[512];

	if (backend == BACKEND_SQLITE) {
		load_sqlite_source("sqlite://%s", body);
	} else {
		pg_harness_conninfo_for(&cluster, "app", user, url, sizeof(url));
		if (extra) {
			strncat(url, " ", sizeof(url) - strlen(url) - 1);
			strncat(url, extra, sizeof(url) - strlen(url) - 1);
		}
		load_source(url, body);
	}
	error[0] = '\0';
	return source_open(&cfg.sources[0], &src, error, sizeof(error));
}

static void open_source(const char *body)
{
	ck_assert_msg(open_as(NULL, NULL, body) == 0, "open: %s", error);
}

/* How the backend describes the application's database. */
static void expected_description(char *out, size_t size)
{
	if (backend == BACKEND_SQLITE)
		snprintf(out, size, "sqlite %s", db_path);
	else
		snprintf(out, size, "postgresql host=%s port=5432 dbname=app user=postgres",
			 cluster.dir);
}

static int fetch(void)
{
	error[0] = '\0';
	return source_fetch_into(src, set, &report, error, sizeof(error));
}

static void assert_contains(const char *path)
{
	ck_assert_msg(refset_contains(set, path, strlen(path)), "'%s' is referenced", path);
}

static void assert_error_starts(const char *start)
{
	ck_assert_msg(strncmp(error, start, strlen(start)) == 0, "message is '%s'", error);
}

/* ------------------------------------------------------------------ */
/* The cases of every backend                                           */
/* ------------------------------------------------------------------ */

START_TEST(test_several_columns_of_several_tables_are_read)
{
	char expected[256];

	open_source("columns = gallery_photo.image, gallery_photo.thumb, docs.file\n");
	ck_assert_msg(fetch() == 0, "fetch: %s", error);
	ck_assert_uint_eq(report.rows, 10);
	ck_assert_uint_eq(report.empty, 2);
	ck_assert_uint_eq(report.hostile, 0);
	ck_assert_uint_eq(report.referenced, 8);
	/* shared.jpg twice and a.jpg in two tables: 6 distinct paths. */
	ck_assert_uint_eq(refset_count(set), 6);
	assert_contains("photos/a.jpg");
	assert_contains("photos/b.jpg");
	assert_contains("photos/c.jpg");
	assert_contains("photos/shared.jpg");
	assert_contains("thumbs/a.jpg");
	assert_contains("docs/manual.pdf");
	ck_assert_str_eq(source_name(src), "app");
	expected_description(expected, sizeof(expected));
	ck_assert_str_eq(source_description(src), expected);
}
END_TEST

START_TEST(test_a_custom_query_gives_one_path_per_row)
{
	open_source("query = SELECT image FROM gallery_photo WHERE id <= 2\n"
		    "  UNION ALL SELECT file FROM docs;\n");
	ck_assert_msg(fetch() == 0, "fetch: %s", error);
	ck_assert_uint_eq(report.rows, 4);
	ck_assert_uint_eq(refset_count(set), 3);
	assert_contains("photos/b.jpg");
	assert_contains("docs/manual.pdf");
}
END_TEST

START_TEST(test_prefixes_are_stripped_and_unmatched_urls_are_hostile)
{
	open_source("columns = media_urls.url\nstrip_prefix = /media/, https://cdn.example.com/media/\n");
	ck_assert_msg(fetch() == 0, "fetch: %s", error);
	ck_assert_uint_eq(report.rows, 6);
	ck_assert_uint_eq(report.referenced, 4);
	ck_assert_uint_eq(report.hostile, 2);
	assert_contains("a.jpg");
	assert_contains("b.jpg");
	assert_contains("c.jpg");
	assert_contains("d/e.jpg");
	ck_assert_str_eq(report.hostile_examples[0], "https://other.example.com/x.jpg (absolute)");
	ck_assert_str_eq(report.hostile_examples[1], "/media (directory)");
}
END_TEST

/* What each backend says when a name or a query is wrong. */
static const struct {
	const char *body;
	int err;
	const char *message[BACKEND_COUNT];
} failures[] = {
	{ "columns = gallery_photo.image, gallery.image\n", -ENOENT,
	  { "source 'app': table 'gallery' column 'image': no such table: gallery",
	    "source 'app': table 'gallery' column 'image': relation \"gallery\" does not exist" } },
	/* SQLite's default would read "thumbnail" as the string 'thumbnail'. */
	{ "columns = gallery_photo.image, gallery_photo.thumbnail\n", -ENOENT,
	  { "source 'app': table 'gallery_photo' column 'thumbnail': no such column: thumbnail",
	    "source 'app': table 'gallery_photo' column 'thumbnail': "
	    "column \"thumbnail\" does not exist" } },
	{ "query = SELECT image, thumb FROM gallery_photo\n", -EINVAL,
	  { "source 'app': query: returns 2 columns; it must return one, the path",
	    "source 'app': query: returns 2 columns; it must return one, the path" } },
};

/* Fails with the backend's message, and leaves the source usable. */
static void assert_fails_then_works(const char *body, int err, const char *message)
{
	open_source(body);
	ck_assert_int_eq(fetch(), err);
	ck_assert_str_eq(error, message);
	/* The failure left the connection usable for the next fetch. */
	source_close(src);
	src = NULL;
	config_free(&cfg);
	open_source("columns = docs.file\n");
	ck_assert_msg(fetch() == 0, "fetch: %s", error);
}

START_TEST(test_missing_names_and_bad_queries_fail_with_the_backend_message)
{
	assert_fails_then_works(failures[_i].body, failures[_i].err, failures[_i].message[backend]);
}
END_TEST

static int fail_after_two(void *ctx, const char *path, size_t len)
{
	int *calls = ctx;

	(void)path;
	(void)len;
	return ++*calls > 2 ? -ENOSPC : 0;
}

START_TEST(test_an_error_from_emit_stops_the_fetch)
{
	int calls = 0;

	open_source("columns = gallery_photo.image, docs.file\n");
	ck_assert_int_eq(source_fetch(src, fail_after_two, &calls, &report, error, sizeof(error)),
			 -ENOSPC);
	ck_assert_int_eq(calls, 3);
	ck_assert_msg(strstr(error, "source 'app': table 'gallery_photo' column 'image': "
			      "cannot take a path: ") == error, "message: %s", error);
	/* The source is still usable. */
	ck_assert_msg(fetch() == 0, "fetch: %s", error);
	ck_assert_uint_eq(refset_count(set), 5);
}
END_TEST

/* ------------------------------------------------------------------ */
/* SQLite only: files, attached schemas, locks and WAL                  */
/* ------------------------------------------------------------------ */

START_TEST(test_both_url_spellings_open_the_same_file)
{
	load_sqlite_source("sqlite:///%s", "columns = docs.file\n");
	ck_assert_msg(source_open(&cfg.sources[0], &src, error, sizeof(error)) == 0, "%s", error);
	ck_assert_msg(fetch() == 0, "fetch: %s", error);
	ck_assert_uint_eq(refset_count(set), 2);
	char expected[256];
	snprintf(expected, sizeof(expected), "sqlite %s", db_path);
	ck_assert_str_eq(source_description(src), expected);
}
END_TEST

START_TEST(test_schema_qualified_columns_use_the_attached_name)
{
	open_source("columns = main.docs.file\n");
	ck_assert_msg(fetch() == 0, "fetch: %s", error);
	ck_assert_uint_eq(refset_count(set), 2);
	assert_contains("docs/manual.pdf");
}
END_TEST

START_TEST(test_an_unknown_schema_fails_as_missing)
{
	open_source("columns = other.docs.file\n");
	ck_assert_int_eq(fetch(), -ENOENT);
	ck_assert_str_eq(error, "source 'app': table 'other.docs' column 'file': "
			 "no such table: other.docs");
}
END_TEST

START_TEST(test_hostile_values_are_counted_never_emitted)
{
	db_exec("CREATE TABLE evil (p);"
		"INSERT INTO evil VALUES ('../x'), ('a/../../etc/passwd'), ('/etc/passwd'),"
		" (CAST(X'612f00622e6a7067' AS BLOB)), (X'caf0e9'), ('ok.jpg'), (42), (NULL), ('');");
	open_source("columns = evil.p\n");
	ck_assert_msg(fetch() == 0, "fetch: %s", error);
	ck_assert_uint_eq(report.rows, 9);
	ck_assert_uint_eq(report.empty, 2);
	ck_assert_uint_eq(report.hostile, 5);
	ck_assert_uint_eq(report.referenced, 2);
	ck_assert_uint_eq(refset_count(set), 2);
	assert_contains("ok.jpg");
	assert_contains("42");
	ck_assert_str_eq(report.hostile_examples[0], "../x (dotdot)");
	ck_assert_str_eq(report.hostile_examples[1], "a/../../etc/passwd (dotdot)");
	ck_assert_str_eq(report.hostile_examples[2], "/etc/passwd (absolute)");
}
END_TEST

START_TEST(test_a_query_with_two_statements_is_refused)
{
	open_source("query = SELECT image FROM gallery_photo; SELECT file FROM docs\n");
	ck_assert_int_eq(fetch(), -EINVAL);
	ck_assert_str_eq(error, "source 'app': query: holds more than one statement");
}
END_TEST

START_TEST(test_a_missing_database_file_fails_at_open)
{
	load_sqlite_source("sqlite://%s.missing", "columns = docs.file\n");
	ck_assert_int_eq(source_open(&cfg.sources[0], &src, error, sizeof(error)), -ENOENT);
	ck_assert_ptr_null(src);
	ck_assert_msg(strstr(error, "source 'app': cannot open sqlite database '") == error,
		      "message: %s", error);
	ck_assert_msg(strstr(error, "No such file or directory") != NULL, "message: %s", error);
}
END_TEST

START_TEST(test_a_file_that_is_not_a_database_fails_at_open)
{
	FILE *f;

	load_sqlite_source("sqlite://%s.txt", "columns = docs.file\n");
	snprintf(ini_path, sizeof(ini_path), "%s.txt", db_path);
	f = fopen(ini_path, "w");
	ck_assert_ptr_nonnull(f);
	for (int i = 0; i < 200; i++)
		fputs("this is not a database, just text\n", f);
	fclose(f);
	ck_assert_int_eq(source_open(&cfg.sources[0], &src, error, sizeof(error)), -EIO);
	ck_assert_msg(strstr(error, "file is not a database") != NULL, "message: %s", error);
}
END_TEST

START_TEST(test_a_database_replaced_by_rename_is_read_afresh)
{
	char new_path[160];

	open_source("columns = docs.file\n");
	ck_assert_msg(fetch() == 0, "fetch: %s", error);
	ck_assert_uint_eq(refset_count(set), 2);
	snprintf(new_path, sizeof(new_path), "%s/new.sqlite3", dir);
	db_exec_on(new_path, "CREATE TABLE docs (file TEXT); INSERT INTO docs VALUES ('restored.pdf');");
	ck_assert_int_eq(rename(new_path, db_path), 0);
	refset_free(set);
	set = refset_new();
	ck_assert_msg(fetch() == 0, "fetch: %s", error);
	ck_assert_uint_eq(refset_count(set), 1);
	assert_contains("restored.pdf");
}
END_TEST

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A writer in a child process that holds an exclusive lock for hold_ms. */
static pid_t hold_lock(int64_t hold_ms)
{
	int fds[2];
	char byte;
	pid_t pid;

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		sqlite3 *db;

		close(fds[0]);
		if (sqlite3_open(db_path, &db) != SQLITE_OK ||
		    sqlite3_exec(db, "BEGIN EXCLUSIVE; INSERT INTO docs (file) VALUES ('new.pdf')",
				 NULL, NULL, NULL) != SQLITE_OK)
			_exit(1);
		if (write(fds[1], "l", 1) != 1)
			_exit(1);
		usleep((useconds_t)(hold_ms * 1000));
		sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
		sqlite3_close(db);
		_exit(0);
	}
	close(fds[1]);
	ck_assert_int_eq(read(fds[0], &byte, 1), 1);
	close(fds[0]);
	return pid;
}

START_TEST(test_a_lock_released_within_the_busy_timeout_is_waited_for)
{
	int64_t start;
	int status;
	pid_t pid;

	open_source("columns = docs.file\n");
	source_set_busy_timeout(src, 5000);
	pid = hold_lock(400);
	start = now_ms();
	ck_assert_msg(fetch() == 0, "fetch: %s", error);
	ck_assert_int_ge(now_ms() - start, 300);
	/* It waited for the writer, so it saw the writer's row. */
	ck_assert_uint_eq(refset_count(set), 3);
	assert_contains("new.pdf");
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_int_eq(status, 0);
}
END_TEST

START_TEST(test_a_lock_held_past_the_busy_timeout_fails_loudly)
{
	int64_t start;
	pid_t pid;

	open_source("columns = docs.file\n");
	source_set_busy_timeout(src, 300);
	pid = hold_lock(5000);
	start = now_ms();
	ck_assert_int_eq(fetch(), -EBUSY);
	ck_assert_int_lt(now_ms() - start, 3000);
	ck_assert_str_eq(error, "source 'app': table 'docs' column 'file': database is locked");
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}
END_TEST

START_TEST(test_a_wal_database_is_read_while_it_is_written)
{
	enum { WRITES = 400 };
	uint64_t last = 0;
	int fetches = 0;
	int status;
	pid_t pid;

	db_exec("PRAGMA journal_mode = WAL; CREATE TABLE uploads (path TEXT);");
	open_source("columns = uploads.path, docs.file\n");
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		sqlite3 *db;
		char sql[128];

		if (sqlite3_open(db_path, &db) != SQLITE_OK)
			_exit(1);
		sqlite3_busy_timeout(db, 5000);
		for (int i = 0; i < WRITES; i++) {
			snprintf(sql, sizeof(sql), "INSERT INTO uploads VALUES ('up/%d.jpg')", i);
			if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
				_exit(2);
		}
		sqlite3_close(db);
		_exit(0);
	}
	while (waitpid(pid, &status, WNOHANG) == 0) {
		refset_free(set);
		set = refset_new();
		ck_assert_msg(fetch() == 0, "fetch %d: %s", fetches, error);
		/* Each snapshot holds a prefix of the inserts: never fewer. */
		ck_assert_uint_ge(report.rows, last);
		last = report.rows;
		fetches++;
	}
	ck_assert_int_eq(status, 0);
	ck_assert_msg(fetch() == 0, "fetch: %s", error);
	ck_assert_uint_eq(report.rows, WRITES + 2);
	ck_assert_int_gt(fetches, 0);
}
END_TEST

/*
 * source_check() over body fails with -ENOENT and prints format, each of
 * its three %s being name (SQLite: the file) or, when name is NULL, the
 * source's description.
 */
static void assert_check_prints(const char *body, const char *format, const char *name)
{
	char *text = NULL, expected[1024];
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);

	ck_assert_ptr_nonnull(out);
	open_source(body);
	ck_assert_int_eq(source_check(src, out, error, sizeof(error)), -ENOENT);
	fclose(out);
	if (!name)
		name = source_description(src);
	snprintf(expected, sizeof(expected), format, name, name, name);
	ck_assert_str_eq(text, expected);
	free(text);
}

START_TEST(test_check_prints_each_column_and_each_error)
{
	db_exec("CREATE TABLE evil (p TEXT); INSERT INTO evil VALUES ('../x'), ('ok.jpg');");
	assert_check_prints("columns = gallery_photo.image, gallery_photo.thumb, evil.p, "
			    "gallery_photo.nope\n",
			    "source 'app' (sqlite %s): gallery_photo.image ok, 4 rows (4 paths, 0 empty)\n"
			    "source 'app' (sqlite %s): gallery_photo.thumb ok, 4 rows (2 paths, 2 empty)\n"
			    "source 'app' (sqlite %s): evil.p ok, 2 rows (1 paths, 0 empty, 1 unusable, "
			    "e.g. '../x (dotdot)')\n"
			    "error: source 'app': table 'gallery_photo' column 'nope': no such column: "
			    "nope\n", db_path);
	ck_assert_str_eq(error, "source 'app': table 'gallery_photo' column 'nope': "
			 "no such column: nope");
}
END_TEST

START_TEST(test_check_config_opens_every_source)
{
	char *text = NULL;
	size_t size = 0;
	FILE *out;
	FILE *f = fopen(ini_path, "w");

	ck_assert_ptr_nonnull(f);
	fprintf(f, "[source app]\nurl = sqlite://%s\ncolumns = docs.file\n"
		"[source gone]\nurl = sqlite://%s/missing.db\nquery = SELECT 1\n", db_path, dir);
	fclose(f);
	ck_assert_int_eq(config_load(&cfg, ini_path, error, sizeof(error)), 0);
	out = open_memstream(&text, &size);
	ck_assert_int_eq(config_check_sources(&cfg, out), -ENOENT);
	fclose(out);
	ck_assert_msg(strstr(text, "docs.file ok, 2 rows (2 paths, 0 empty)\n") != NULL, "%s", text);
	ck_assert_msg(strstr(text, "error: source 'gone': cannot open sqlite database") != NULL,
		      "%s", text);
	free(text);
}
END_TEST

/* ------------------------------------------------------------------ */
/* PostgreSQL only: schemas, encodings, roles, passwords, the server    */
/* ------------------------------------------------------------------ */

/* The server-stopping tests leave it running for the next test, also
 * when an earlier one failed before its teardown. */
static void setup_running(void)
{
	ck_assert_int_eq(pg_harness_restart(&cluster), 0);
	setup();
}

static void teardown_restart(void)
{
	teardown();
	ck_assert_int_eq(pg_harness_restart(&cluster), 0);
}

START_TEST(test_a_postgresql_url_works_like_a_conninfo)
{
	char url[256];

	snprintf(url, sizeof(url), "postgresql://postgres@/app?host=%s", cluster.dir);
	load_source(url, "columns = docs.file\n");
	ck_assert_msg(source_open(&cfg.sources[0], &src, error, sizeof(error)) == 0, "%s", error);
	ck_assert_msg(fetch() == 0, "fetch: %s", error);
	ck_assert_uint_eq(refset_count(set), 2);
}
END_TEST

START_TEST(test_columns_in_a_non_public_schema_are_read)
{
	open_source("columns = media.asset.file, app.media.asset.file\n"
		    "strip_prefix = /media/\n");
	ck_assert_msg(fetch() == 0, "fetch: %s", error);
	ck_assert_uint_eq(report.rows, 6);
	ck_assert_uint_eq(refset_count(set), 2);
	assert_contains("assets/logo.svg");
	assert_contains("assets/hero.jpg");
}
END_TEST

START_TEST(test_a_column_of_another_database_is_refused)
{
	open_source("columns = other.media.asset.file\n");
	ck_assert_int_eq(fetch(), -EINVAL);
	ck_assert_str_eq(error, "source 'app': table 'other.media.asset' column 'file': "
			 "database 'other' is not the one this source connects to ('app')");
}
END_TEST

START_TEST(test_a_custom_query_over_a_schema_counts_hostile_rows)
{
	open_source("query = SELECT image FROM gallery_photo WHERE id <= 2\n"
		    "  UNION ALL SELECT file FROM media.asset;\n");
	ck_assert_msg(fetch() == 0, "fetch: %s", error);
	ck_assert_uint_eq(report.rows, 5);
	ck_assert_uint_eq(report.hostile, 1);
	assert_contains("photos/b.jpg");
	assert_contains("assets/logo.svg");
}
END_TEST

START_TEST(test_copy_escapes_are_decoded_and_hostile_values_counted)
{
	open_source("columns = evil.p, evil.n\n");
	ck_assert_msg(fetch() == 0, "fetch: %s", error);
	ck_assert_uint_eq(report.rows, 20);
	ck_assert_uint_eq(report.empty, 3);
	ck_assert_uint_eq(report.hostile, 3);
	ck_assert_str_eq(report.hostile_examples[0], "../x (dotdot)");
	ck_assert_str_eq(report.hostile_examples[1], "a/../../etc/passwd (dotdot)");
	ck_assert_str_eq(report.hostile_examples[2], "/etc/passwd (absolute)");
	assert_contains("tab\there.jpg");
	assert_contains("new\nline.jpg");
	assert_contains("back\\slash.jpg");
	assert_contains("\\N");
	assert_contains("ok.jpg");
	/* An integer column reads as its digits. */
	assert_contains("8");
	ck_assert_uint_eq(refset_count(set), 5 + 9);
}
END_TEST

START_TEST(test_bytes_that_are_not_utf8_are_hostile)
{
	char url[256];

	pg_harness_conninfo_for(&cluster, "bytes", NULL, url, sizeof(url));
	load_source(url, "columns = raw.p\n");
	ck_assert_msg(source_open(&cfg.sources[0], &src, error, sizeof(error)) == 0, "%s", error);
	ck_assert_msg(fetch() == 0, "fetch: %s", error);
	ck_assert_uint_eq(report.rows, 2);
	ck_assert_uint_eq(report.hostile, 1);
	ck_assert_str_eq(report.hostile_examples[0], "caf\\xe9.jpg (not-utf8)");
	assert_contains("plain.jpg");
}
END_TEST

/* What only PostgreSQL has: schemas, case, syntax errors at the server. */
static const struct {
	const char *body;
	int err;
	const char *message;
} pg_failures[] = {
	{ "columns = gallery_photo.thumbnail\n", -ENOENT,
	  "source 'app': table 'gallery_photo' column 'thumbnail': column \"thumbnail\" does not exist" },
	{ "columns = nope.asset.file\n", -ENOENT,
	  "source 'app': table 'nope.asset' column 'file': relation \"nope.asset\" does not exist" },
	{ "columns = Gallery_Photo.image\n", -ENOENT,
	  "source 'app': table 'Gallery_Photo' column 'image': relation \"Gallery_Photo\" does not exist" },
	{ "query = SELECT image, thumb FROM gallery_photo WHERE false\n", -EINVAL,
	  "source 'app': query: returns 2 columns; it must return one, the path" },
	{ "query = SELEC image FROM gallery_photo\n", -EINVAL,
	  "source 'app': query: syntax error at or near \"SELEC\"" },
	{ "query = SELECT path FROM nowhere\n", -ENOENT,
	  "source 'app': query: relation \"nowhere\" does not exist" },
};

START_TEST(test_server_names_and_queries_fail_with_the_server_message)
{
	assert_fails_then_works(pg_failures[_i].body, pg_failures[_i].err, pg_failures[_i].message);
}
END_TEST

START_TEST(test_a_table_without_select_permission_is_eacces)
{
	ck_assert_msg(open_as("mediafs_ro", NULL, "columns = gallery_photo.image, secret.path\n") == 0,
		      "open: %s", error);
	ck_assert_int_eq(fetch(), -EACCES);
	ck_assert_str_eq(error, "source 'app': table 'secret' column 'path': "
			 "permission denied for table secret");
}
END_TEST

START_TEST(test_a_wrong_password_is_eacces_and_never_shown)
{
	ck_assert_int_eq(open_as(PG_HARNESS_PASSWORD_ROLE, "password=hunter2-wrong",
				 "columns = docs.file\n"), -EACCES);
	ck_assert_ptr_null(src);
	assert_error_starts("source 'app': cannot connect to postgresql host=");
	ck_assert_msg(strstr(error, "password authentication failed for user \"mediafs_pw\"") != NULL,
		      "message: %s", error);
	ck_assert_msg(strstr(error, "hunter2") == NULL, "no password in '%s'", error);
}
END_TEST

START_TEST(test_a_missing_password_is_eacces)
{
	unsetenv("PGPASSWORD");
	setenv("PGPASSFILE", "/nonexistent/pgpass", 1);
	ck_assert_int_eq(open_as(PG_HARNESS_PASSWORD_ROLE, NULL, "columns = docs.file\n"), -EACCES);
	ck_assert_msg(strstr(error, "no password supplied") != NULL, "message: %s", error);
}
END_TEST

START_TEST(test_passwords_come_from_the_url_pgpassword_or_pgpass)
{
	char pgpass[128];
	FILE *f;

	ck_assert_msg(open_as(PG_HARNESS_PASSWORD_ROLE, "password='" PG_HARNESS_PASSWORD "'",
			      "columns = docs.file\n") == 0, "url: %s", error);
	ck_assert_msg(fetch() == 0, "fetch: %s", error);
	source_close(src);
	src = NULL;
	config_free(&cfg);

	setenv("PGPASSWORD", PG_HARNESS_PASSWORD, 1);
	ck_assert_msg(open_as(PG_HARNESS_PASSWORD_ROLE, NULL, "columns = docs.file\n") == 0,
		      "PGPASSWORD: %s", error);
	unsetenv("PGPASSWORD");
	source_close(src);
	src = NULL;
	config_free(&cfg);

	snprintf(pgpass, sizeof(pgpass), "%s/pgpass", dir);
	f = fopen(pgpass, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "*:*:app:%s:%s\n", PG_HARNESS_PASSWORD_ROLE, PG_HARNESS_PASSWORD);
	fclose(f);
	chmod(pgpass, 0600);
	setenv("PGPASSFILE", pgpass, 1);
	ck_assert_msg(open_as(PG_HARNESS_PASSWORD_ROLE, NULL, "columns = docs.file\n") == 0,
		      "PGPASSFILE: %s", error);
	ck_assert_msg(fetch() == 0, "fetch: %s", error);
	ck_assert_uint_eq(refset_count(set), 2);
	unlink(pgpass);
}
END_TEST

START_TEST(test_an_unreachable_server_is_econnrefused)
{
	load_source("host=/nonexistent-mediafs port=5432 dbname=app user=postgres",
		    "columns = docs.file\n");
	ck_assert_int_eq(source_open(&cfg.sources[0], &src, error, sizeof(error)), -ECONNREFUSED);
	ck_assert_ptr_null(src);
	assert_error_starts("source 'app': cannot connect to postgresql host=/nonexistent-mediafs "
			    "port=5432 dbname=app user=postgres: connection to server on socket");
}
END_TEST

/* A child that holds an ACCESS EXCLUSIVE lock on table locked for hold_ms. */
static pid_t hold_table_lock(int hold_ms)
{
	int fds[2];
	char byte;
	pid_t pid;

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char conninfo[256];
		PGconn *conn;
		PGresult *res;

		close(fds[0]);
		pg_harness_conninfo_for(&cluster, "app", NULL, conninfo, sizeof(conninfo));
		conn = PQconnectdb(conninfo);
		res = PQexec(conn, "BEGIN; LOCK TABLE locked IN ACCESS EXCLUSIVE MODE");
		if (PQresultStatus(res) != PGRES_COMMAND_OK || write(fds[1], "l", 1) != 1)
			_exit(1);
		PQclear(res);
		usleep((useconds_t)hold_ms * 1000);
		PQclear(PQexec(conn, "COMMIT"));
		PQfinish(conn);
		_exit(0);
	}
	close(fds[1]);
	ck_assert_int_eq(read(fds[0], &byte, 1), 1);
	close(fds[0]);
	return pid;
}

START_TEST(test_a_lock_released_within_the_timeout_is_waited_for)
{
	int status;
	pid_t pid;

	open_source("columns = locked.path\n");
	source_set_busy_timeout(src, 5000);
	pid = hold_table_lock(300);
	ck_assert_msg(fetch() == 0, "fetch: %s", error);
	assert_contains("l.jpg");
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_int_eq(status, 0);
}
END_TEST

START_TEST(test_a_lock_held_past_the_timeout_is_ebusy)
{
	pid_t pid;

	open_source("columns = docs.file, locked.path\n");
	source_set_busy_timeout(src, 200);
	pid = hold_table_lock(5000);
	ck_assert_int_eq(fetch(), -EBUSY);
	ck_assert_str_eq(error, "source 'app': table 'locked' column 'path': "
			 "canceling statement due to lock timeout");
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	/* The next fetch starts afresh and works. */
	source_set_busy_timeout(src, 5000);
	ck_assert_msg(fetch() == 0, "fetch: %s", error);
}
END_TEST

START_TEST(test_check_prints_each_column_and_each_error_pg)
{
	assert_check_prints("columns = gallery_photo.thumb, media.asset.file, docs.nope\n",
			    "source 'app' (%s): gallery_photo.thumb ok, 4 rows (2 paths, 2 empty)\n"
			    "source 'app' (%s): media.asset.file ok, 3 rows (2 paths, 0 empty, "
			    "1 unusable, e.g. '/media/assets/hero.jpg (absolute)')\n"
			    "error: source 'app': table 'docs' column 'nope': column \"nope\" does "
			    "not exist\n", NULL);
}
END_TEST

START_TEST(test_a_server_restarted_between_fetches_is_reconnected)
{
	open_source("columns = docs.file\n");
	ck_assert_msg(fetch() == 0, "fetch: %s", error);
	ck_assert_int_eq(pg_harness_stop_immediately(&cluster), 0);
	ck_assert_int_eq(pg_harness_restart(&cluster), 0);
	ck_assert_msg(fetch() == 0, "fetch after restart: %s", error);
	ck_assert_uint_eq(refset_count(set), 2);
}
END_TEST

START_TEST(test_a_stopped_server_fails_the_fetch_until_it_is_back)
{
	open_source("columns = docs.file\n");
	ck_assert_int_eq(pg_harness_stop_immediately(&cluster), 0);
	ck_assert_int_eq(fetch(), -ECONNREFUSED);
	assert_error_starts("source 'app': cannot connect to postgresql host=");
	ck_assert_int_eq(pg_harness_restart(&cluster), 0);
	ck_assert_msg(fetch() == 0, "fetch after restart: %s", error);
}
END_TEST

struct stopper {
	uint64_t rows;
	uint64_t stop_after;
};

static int stop_server_midway(void *ctx, const char *path, size_t len)
{
	struct stopper *s = ctx;

	(void)path;
	(void)len;
	if (++s->rows == s->stop_after && pg_harness_stop_immediately(&cluster) != 0)
		return -ECHILD;
	return 0;
}

START_TEST(test_a_server_that_dies_in_the_middle_fails_the_fetch)
{
	struct stopper stopper = { .stop_after = 1000 };
	int err;

	open_source("columns = docs.file, big.path\n");
	err = source_fetch(src, stop_server_midway, &stopper, &report, error, sizeof(error));
	ck_assert_msg(err == -EIO, "fetch fails with -EIO, not %d (%s)", err, error);
	assert_error_starts("source 'app': table 'big' column 'path': ");
	ck_assert_uint_ge(stopper.rows, 1000);
	ck_assert_uint_lt(stopper.rows, BIG_ROWS);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The suites                                                           */
/* ------------------------------------------------------------------ */

static TCase *new_tcase(Suite *s, const char *name, int timeout_s)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, timeout_s);
	suite_add_tcase(s, tc);
	return tc;
}

/* The cases every backend runs. */
static void add_common_cases(Suite *s)
{
	TCase *tc = new_tcase(s, "fetch", 20);

	tcase_add_test(tc, test_several_columns_of_several_tables_are_read);
	tcase_add_test(tc, test_a_custom_query_gives_one_path_per_row);
	tcase_add_test(tc, test_prefixes_are_stripped_and_unmatched_urls_are_hostile);
	tc = new_tcase(s, "failures", 20);
	tcase_add_loop_test(tc, test_missing_names_and_bad_queries_fail_with_the_backend_message, 0,
			    sizeof(failures) / sizeof(failures[0]));
	tcase_add_test(tc, test_an_error_from_emit_stops_the_fetch);
}

static Suite *source_sqlite_suite(void)
{
	Suite *s = suite_create("source over sqlite");
	TCase *tc;

	add_common_cases(s);
	tc = new_tcase(s, "sqlite only: fetch", 20);
	tcase_add_test(tc, test_both_url_spellings_open_the_same_file);
	tcase_add_test(tc, test_schema_qualified_columns_use_the_attached_name);
	tcase_add_test(tc, test_hostile_values_are_counted_never_emitted);
	tcase_add_test(tc, test_a_database_replaced_by_rename_is_read_afresh);
	tc = new_tcase(s, "sqlite only: failures", 20);
	tcase_add_test(tc, test_an_unknown_schema_fails_as_missing);
	tcase_add_test(tc, test_a_query_with_two_statements_is_refused);
	tcase_add_test(tc, test_a_missing_database_file_fails_at_open);
	tcase_add_test(tc, test_a_file_that_is_not_a_database_fails_at_open);
	tc = new_tcase(s, "sqlite only: concurrency", 30);
	tcase_add_test(tc, test_a_lock_released_within_the_busy_timeout_is_waited_for);
	tcase_add_test(tc, test_a_lock_held_past_the_busy_timeout_fails_loudly);
	tcase_add_test(tc, test_a_wal_database_is_read_while_it_is_written);
	tc = new_tcase(s, "sqlite only: check", 20);
	tcase_add_test(tc, test_check_prints_each_column_and_each_error);
	tcase_add_test(tc, test_check_config_opens_every_source);
	return s;
}

static Suite *source_pg_suite(void)
{
	Suite *s = suite_create("source over postgresql");
	TCase *tc;

	add_common_cases(s);
	tc = new_tcase(s, "postgresql only: fetch", 20);
	tcase_add_test(tc, test_a_postgresql_url_works_like_a_conninfo);
	tcase_add_test(tc, test_columns_in_a_non_public_schema_are_read);
	tcase_add_test(tc, test_a_custom_query_over_a_schema_counts_hostile_rows);
	tcase_add_test(tc, test_copy_escapes_are_decoded_and_hostile_values_counted);
	tcase_add_test(tc, test_bytes_that_are_not_utf8_are_hostile);
	tcase_add_test(tc, test_check_prints_each_column_and_each_error_pg);
	tc = new_tcase(s, "postgresql only: failures", 20);
	tcase_add_test(tc, test_a_column_of_another_database_is_refused);
	tcase_add_loop_test(tc, test_server_names_and_queries_fail_with_the_server_message, 0,
			    sizeof(pg_failures) / sizeof(pg_failures[0]));
	tcase_add_test(tc, test_a_table_without_select_permission_is_eacces);
	tcase_add_test(tc, test_a_wrong_password_is_eacces_and_never_shown);
	tcase_add_test(tc, test_a_missing_password_is_eacces);
	tcase_add_test(tc, test_passwords_come_from_the_url_pgpassword_or_pgpass);
	tcase_add_test(tc, test_an_unreachable_server_is_econnrefused);
	tcase_add_test(tc, test_a_lock_released_within_the_timeout_is_waited_for);
	tcase_add_test(tc, test_a_lock_held_past_the_timeout_is_ebusy);
	tc = tcase_create("postgresql only: server");
	tcase_add_checked_fixture(tc, setup_running, teardown_restart);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_a_server_restarted_between_fetches_is_reconnected);
	tcase_add_test(tc, test_a_stopped_server_fails_the_fetch_until_it_is_back);
	tcase_add_test(tc, test_a_server_that_dies_in_the_middle_fails_the_fetch);
	suite_add_tcase(s, tc);
	return s;
}

static int create_fixtures(void)
{
	int err = pg_harness_exec(&cluster, NULL, "CREATE DATABASE app");

	if (!err)
		err = pg_harness_exec(&cluster, "app", pg_schema);
	/* A database that stores bytes as they come: values need not be UTF-8. */
	if (!err)
		err = pg_harness_exec(&cluster, NULL, "CREATE DATABASE bytes TEMPLATE template0 "
				      "ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C'");
	if (!err)
		err = pg_harness_exec(&cluster, "bytes", "CREATE TABLE raw (p text);"
				      "INSERT INTO raw VALUES (E'caf\\xe9.jpg'), ('plain.jpg')");
	return err;
}

int main(void)
{
	int failed, err;

	backend = BACKEND_SQLITE;
	failed = app_run_suite(source_sqlite_suite());

	err = pg_harness_start(&cluster);
	if (err == -ENOENT) {
		printf("PostgreSQL is not available here: its half of the source tests is "
		       "skipped\n");
		return failed ? EXIT_FAILURE : EXIT_SUCCESS;
	}
	if (err) {
		fprintf(stderr, "cannot start a PostgreSQL cluster: %s\n", strerror(-err));
		return EXIT_FAILURE;
	}
	if (create_fixtures() != 0) {
		pg_harness_destroy(&cluster);
		return EXIT_FAILURE;
	}
	backend = BACKEND_PG;
	failed += app_run_suite(source_pg_suite());
	pg_harness_destroy(&cluster);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
