/*
 * Unit tests for refdb/source.c and refdb/source_sqlite.c against real
 * SQLite files: what a fetch reads, how values are counted, and every way
 * a fetch must fail instead of returning too few references.
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "refset.h"
#include "source.h"

static char dir[] = "/tmp/mediafs-test-sqlite-XXXXXX";
static char db_path[64];
static char ini_path[96];
static struct config cfg;
static struct source *src;
static struct refset *set;
static struct source_report report;
static char error[SOURCE_ERROR_BYTES];

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

static const char app_schema[] =
	"CREATE TABLE gallery_photo (id INTEGER PRIMARY KEY, image TEXT, thumb TEXT);"
	"CREATE TABLE docs (id INTEGER PRIMARY KEY, file TEXT);"
	"INSERT INTO gallery_photo (image, thumb) VALUES"
	" ('photos/a.jpg', 'thumbs/a.jpg'),"
	" ('photos/b.jpg', NULL),"
	" ('photos/c.jpg', ''),"
	" ('photos/shared.jpg', 'photos/shared.jpg');"
	"INSERT INTO docs (file) VALUES ('docs/manual.pdf'), ('photos/a.jpg');";

static void setup(void)
{
	strcpy(dir, "/tmp/mediafs-test-sqlite-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(db_path, sizeof(db_path), "%s/app.sqlite3", dir);
	snprintf(ini_path, sizeof(ini_path), "%s/app.ini", dir);
	db_exec(app_schema);
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

/* Load a [source app] section with url pointing at db_path, plus body. */
static void load_source(const char *url_format, const char *body)
{
	char url[256];
	FILE *f = fopen(ini_path, "w");

	ck_assert_ptr_nonnull(f);
	snprintf(url, sizeof(url), url_format, db_path);
	fprintf(f, "[source app]\nurl = %s\n%s", url, body);
	fclose(f);
	ck_assert_msg(config_load(&cfg, ini_path, error, sizeof(error)) == 0, "config: %s", error);
}

static void open_source(const char *body)
{
	load_source("sqlite://%s", body);
	ck_assert_msg(source_open(&cfg.sources[0], &src, error, sizeof(error)) == 0,
		      "open: %s", error);
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

START_TEST(test_several_columns_of_several_tables_are_read)
{
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
}
END_TEST

START_TEST(test_both_url_spellings_open_the_same_file)
{
	load_source("sqlite:///%s", "columns = docs.file\n");
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
	db_exec("CREATE TABLE media (url TEXT);"
		"INSERT INTO media VALUES ('/media/a.jpg'), ('https://cdn.example.com/media/b.jpg'),"
		" ('c.jpg'), ('./d//e.jpg'), ('https://other.example.com/x.jpg'), ('/media');");
	open_source("columns = media.url\nstrip_prefix = /media/, https://cdn.example.com/media/\n");
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

START_TEST(test_a_missing_table_fails_and_names_it)
{
	open_source("columns = gallery_photo.image, gallery.image\n");
	ck_assert_int_eq(fetch(), -ENOENT);
	ck_assert_str_eq(error, "source 'app': table 'gallery' column 'image': "
			 "no such table: gallery");
}
END_TEST

START_TEST(test_a_missing_column_fails_and_names_it)
{
	/* SQLite's default would read "thumbnail" as the string 'thumbnail'. */
	open_source("columns = gallery_photo.image, gallery_photo.thumbnail\n");
	ck_assert_int_eq(fetch(), -ENOENT);
	ck_assert_str_eq(error, "source 'app': table 'gallery_photo' column 'thumbnail': "
			 "no such column: thumbnail");
}
END_TEST

START_TEST(test_a_query_with_two_columns_is_refused)
{
	open_source("query = SELECT image, thumb FROM gallery_photo\n");
	ck_assert_int_eq(fetch(), -EINVAL);
	ck_assert_str_eq(error, "source 'app': query: returns 2 columns; it must return one, "
			 "the path");
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
	load_source("sqlite://%s.missing", "columns = docs.file\n");
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

	load_source("sqlite://%s.txt", "columns = docs.file\n");
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

START_TEST(test_check_prints_each_column_and_each_error)
{
	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);
	char expected[1024];

	db_exec("CREATE TABLE evil (p TEXT); INSERT INTO evil VALUES ('../x'), ('ok.jpg');");
	open_source("columns = gallery_photo.image, gallery_photo.thumb, evil.p, gallery_photo.nope\n");
	ck_assert_int_eq(source_check(src, out, error, sizeof(error)), -ENOENT);
	fclose(out);
	snprintf(expected, sizeof(expected),
		 "source 'app' (sqlite %s): gallery_photo.image ok, 4 rows (4 paths, 0 empty)\n"
		 "source 'app' (sqlite %s): gallery_photo.thumb ok, 4 rows (2 paths, 2 empty)\n"
		 "source 'app' (sqlite %s): evil.p ok, 2 rows (1 paths, 0 empty, 1 unusable, "
		 "e.g. '../x (dotdot)')\n"
		 "error: source 'app': table 'gallery_photo' column 'nope': no such column: nope\n",
		 db_path, db_path, db_path);
	ck_assert_str_eq(text, expected);
	ck_assert_str_eq(error, "source 'app': table 'gallery_photo' column 'nope': "
			 "no such column: nope");
	free(text);
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

static Suite *source_sqlite_suite(void)
{
	Suite *s = suite_create("source_sqlite");
	TCase *tc = tcase_create("fetch");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_several_columns_of_several_tables_are_read);
	tcase_add_test(tc, test_both_url_spellings_open_the_same_file);
	tcase_add_test(tc, test_schema_qualified_columns_use_the_attached_name);
	tcase_add_test(tc, test_a_custom_query_gives_one_path_per_row);
	tcase_add_test(tc, test_prefixes_are_stripped_and_unmatched_urls_are_hostile);
	tcase_add_test(tc, test_hostile_values_are_counted_never_emitted);
	tcase_add_test(tc, test_a_database_replaced_by_rename_is_read_afresh);
	suite_add_tcase(s, tc);

	tc = tcase_create("failures");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_an_unknown_schema_fails_as_missing);
	tcase_add_test(tc, test_a_missing_table_fails_and_names_it);
	tcase_add_test(tc, test_a_missing_column_fails_and_names_it);
	tcase_add_test(tc, test_a_query_with_two_columns_is_refused);
	tcase_add_test(tc, test_a_query_with_two_statements_is_refused);
	tcase_add_test(tc, test_a_missing_database_file_fails_at_open);
	tcase_add_test(tc, test_a_file_that_is_not_a_database_fails_at_open);
	tcase_add_test(tc, test_an_error_from_emit_stops_the_fetch);
	suite_add_tcase(s, tc);

	tc = tcase_create("concurrency");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_a_lock_released_within_the_busy_timeout_is_waited_for);
	tcase_add_test(tc, test_a_lock_held_past_the_busy_timeout_fails_loudly);
	tcase_add_test(tc, test_a_wal_database_is_read_while_it_is_written);
	suite_add_tcase(s, tc);

	tc = tcase_create("check");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_check_prints_each_column_and_each_error);
	tcase_add_test(tc, test_check_config_opens_every_source);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *runner = srunner_create(source_sqlite_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
