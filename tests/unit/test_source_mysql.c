/*
 * Unit tests for refdb/source.c and refdb/source_mysql.c against a real
 * MariaDB server, a throwaway one from tests/lib/mariadb_harness: what a
 * fetch reads, and every way it must fail instead of returning too few
 * references.  Exits 77 (skipped) when no MariaDB server is installed.
 */
#include <check.h>
#include <errno.h>
#include <mysql.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "mariadb_harness.h"
#include "refset.h"
#include "source.h"

enum { BIG_ROWS = 200000, SKIP_EXIT = 77 };

static struct mariadb_harness server;
static char dir[] = "/tmp/mediafs-test-mysql-XXXXXX";
static char ini_path[64];
static struct config cfg;
static struct source *src;
static struct refset *set;
static struct source_report report;
static char error[SOURCE_ERROR_BYTES];

static const char app_schema[] =
	"CREATE TABLE gallery_photo (id serial PRIMARY KEY, image varchar(200), thumb text);"
	"INSERT INTO gallery_photo (image, thumb) VALUES"
	" ('photos/a.jpg', 'thumbs/a.jpg'), ('photos/b.jpg', NULL), ('photos/c.jpg', ''),"
	" ('photos/shared.jpg', 'photos/shared.jpg');"
	"CREATE TABLE docs (id serial, file varchar(200));"
	"INSERT INTO docs (file) VALUES ('docs/manual.pdf'), ('photos/a.jpg');"
	"CREATE TABLE media_urls (url text);"
	"INSERT INTO media_urls VALUES ('/media/a.jpg'), ('https://cdn.example.com/media/b.jpg'),"
	" ('c.jpg'), ('./d//e.jpg'), ('https://other.example.com/x.jpg');"
	"CREATE TABLE evil (p text, n integer, b varbinary(64));"
	"INSERT INTO evil VALUES ('../x', 1, NULL), ('a/../../etc/passwd', 2, NULL),"
	" ('/etc/passwd', 3, NULL), ('tab\\there.jpg', 4, NULL), ('new\\nline.jpg', 5, NULL),"
	" ('back\\\\slash.jpg', 6, NULL), ('caf\xc3\xa9.jpg', 7, x'636166e92e6a7067'),"
	" ('ok.jpg', 8, x'6e756c00627974652e6a7067'), (NULL, NULL, NULL), ('', 10, '');"
	"CREATE TABLE latin (p varchar(50) CHARACTER SET latin1);"
	"INSERT INTO latin VALUES (_latin1 x'636166e92e6a7067');"
	"CREATE TABLE secret (path text); INSERT INTO secret VALUES ('s.jpg');"
	"CREATE TABLE locked (path text); INSERT INTO locked VALUES ('l.jpg');"
	"CREATE TABLE big (path text);"
	"INSERT INTO big SELECT concat('big/', seq, '/image.jpg') FROM seq_1_to_200000;"
	"CREATE DATABASE media;"
	"CREATE TABLE media.asset (file text);"
	"INSERT INTO media.asset VALUES ('assets/logo.svg'), ('assets/logo.svg'),"
	" ('/media/assets/hero.jpg');"
	"CREATE TABLE wp_postmeta (meta_id serial, post_id int, meta_key varchar(255),"
	" meta_value longtext);"
	"INSERT INTO wp_postmeta (post_id, meta_key, meta_value) VALUES"
	" (7, '_wp_attached_file', '2024/05/harbour-scaled.jpg'),"
	" (7, '_wp_attachment_metadata', 'a:4:{s:5:\"width\";i:2560;"
	"s:4:\"file\";s:26:\"2024/05/harbour-scaled.jpg\";s:5:\"sizes\";a:2:{"
	"s:6:\"medium\";a:2:{s:4:\"file\";s:19:\"harbour-300x200.jpg\";s:5:\"width\";i:300;}"
	"s:9:\"thumbnail\";a:1:{s:4:\"file\";s:19:\"harbour-150x150.jpg\";}}"
	"s:14:\"original_image\";s:11:\"harbour.jpg\";}'),"
	" (8, '_wp_attachment_metadata', 'a:1:{s:8:\"filesize\";i:5;}'),"
	" (9, '_wp_attachment_metadata', 'a:1:{s:4:\"file\";s:9:\"cut.jpg\";'),"
	" (10, '_wp_attachment_metadata', 'a:1:{s:4:\"file\";s:13:\"../escape.jpg\";}'),"
	" (7, '_edit_lock', '1717171717:1');"
	"CREATE TABLE renditions (doc json);"
	"INSERT INTO renditions VALUES ('{\"thumb\": \"r/t.jpg\", \"full\": \"r/f.jpg\"}'),"
	" ('[\"r/list.jpg\"]'), (NULL), ('{\"thumb\": 3}');"
	"CREATE TABLE plain (v text); INSERT INTO plain VALUES ('a.jpg'), ('b.jpg');"
	"CREATE USER mediafs_ro@localhost;"
	"GRANT SELECT ON app.gallery_photo TO mediafs_ro@localhost;"
	"GRANT SELECT ON app.docs TO " MARIADB_HARNESS_PASSWORD_USER "@localhost;";

static void setup(void)
{
	strcpy(dir, "/tmp/mediafs-test-mysql-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(ini_path, sizeof(ini_path), "%s/app.ini", dir);
	config_init_defaults(&cfg);
	set = refset_new();
	ck_assert_ptr_nonnull(set);
	src = NULL;
	memset(&report, 0, sizeof(report));
	unsetenv("MYSQL_PWD");
}

static void teardown(void)
{
	char path[128];

	source_close(src);
	refset_free(set);
	config_free(&cfg);
	unlink(ini_path);
	snprintf(path, sizeof(path), "%s/my.cnf", dir);
	unlink(path);
	rmdir(dir);
}

/* The server-stopping tests leave it running for the next test, also
 * when an earlier one failed before its teardown. */
static void setup_running(void)
{
	ck_assert_int_eq(mariadb_harness_restart(&server), 0);
	setup();
}

static void teardown_restart(void)
{
	teardown();
	ck_assert_int_eq(mariadb_harness_restart(&server), 0);
}

static void load_source(const char *url, const char *body)
{
	FILE *f = fopen(ini_path, "w");

	ck_assert_ptr_nonnull(f);
	fprintf(f, "[source app]\nurl = %s\n%s", url, body);
	fclose(f);
	ck_assert_msg(config_load(&cfg, ini_path, error, sizeof(error)) == 0, "config: %s", error);
}

static int open_as(const char *user, const char *extra, const char *body)
{
	char url[512];

	mariadb_harness_url(&server, "app", user, url, sizeof(url));
	if (extra)
		strncat(url, extra, sizeof(url) - strlen(url) - 1);
	load_source(url, body);
	error[0] = '\0';
	return source_open(&cfg.sources[0], &src, error, sizeof(error));
}

static void open_source(const char *body)
{
	ck_assert_msg(open_as(NULL, NULL, body) == 0, "open: %s", error);
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

START_TEST(test_several_columns_of_several_tables_are_read)
{
	char expected[256];

	open_source("columns = gallery_photo.image, gallery_photo.thumb, docs.file\n");
	ck_assert_msg(fetch() == 0, "fetch: %s", error);
	ck_assert_uint_eq(report.rows, 10);
	ck_assert_uint_eq(report.empty, 2);
	ck_assert_uint_eq(report.hostile, 0);
	ck_assert_uint_eq(report.referenced, 8);
	ck_assert_uint_eq(refset_count(set), 6);
	assert_contains("photos/a.jpg");
	assert_contains("thumbs/a.jpg");
	assert_contains("photos/shared.jpg");
	assert_contains("docs/manual.pdf");
	snprintf(expected, sizeof(expected), "mysql host=localhost socket=%s dbname=app user=root",
		 server.socket);
	ck_assert_str_eq(source_description(src), expected);
}
END_TEST

START_TEST(test_a_mariadb_url_and_the_default_user_work)
{
	char url[256];

	snprintf(url, sizeof(url), "mariadb://root@/app?socket=%s", server.socket);
	load_source(url, "columns = docs.file\n");
	ck_assert_msg(source_open(&cfg.sources[0], &src, error, sizeof(error)) == 0, "%s", error);
	ck_assert_msg(fetch() == 0, "fetch: %s", error);
	ck_assert_uint_eq(refset_count(set), 2);
}
END_TEST

START_TEST(test_columns_of_another_database_are_read)
{
	open_source("columns = media.asset.file\nstrip_prefix = /media/\n");
	ck_assert_msg(fetch() == 0, "fetch: %s", error);
	ck_assert_uint_eq(report.rows, 3);
	ck_assert_uint_eq(refset_count(set), 2);
	assert_contains("assets/logo.svg");
	assert_contains("assets/hero.jpg");
}
END_TEST

START_TEST(test_a_custom_query_gives_one_path_per_row)
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

START_TEST(test_prefixes_are_stripped_and_unmatched_urls_are_hostile)
{
	open_source("columns = media_urls.url\nstrip_prefix = /media/, https://cdn.example.com/media/\n");
	ck_assert_msg(fetch() == 0, "fetch: %s", error);
	ck_assert_uint_eq(report.referenced, 4);
	ck_assert_uint_eq(report.hostile, 1);
	assert_contains("a.jpg");
	assert_contains("b.jpg");
	assert_contains("c.jpg");
	assert_contains("d/e.jpg");
	ck_assert_str_eq(report.hostile_examples[0], "https://other.example.com/x.jpg (absolute)");
}
END_TEST

START_TEST(test_hostile_values_are_counted_and_bytes_arrive_as_stored)
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
	assert_contains("caf\xc3\xa9.jpg");
	assert_contains("ok.jpg");
	/* An integer column reads as its digits. */
	assert_contains("8");
	ck_assert_uint_eq(refset_count(set), 5 + 9);
}
END_TEST

START_TEST(test_binary_values_keep_their_bytes_and_latin1_becomes_utf8)
{
	open_source("columns = evil.b, latin.p\n");
	ck_assert_msg(fetch() == 0, "fetch: %s", error);
	ck_assert_uint_eq(report.rows, 11);
	ck_assert_uint_eq(report.hostile, 2);
	ck_assert_str_eq(report.hostile_examples[0], "caf\\xe9.jpg (not-utf8)");
	ck_assert_str_eq(report.hostile_examples[1], "nul\\x00byte.jpg (nul-byte)");
	assert_contains("caf\xc3\xa9.jpg");
	ck_assert_uint_eq(refset_count(set), 1);
}
END_TEST

START_TEST(test_php_metadata_gives_the_original_and_every_size)
{
	open_source("query = SELECT meta_value FROM wp_postmeta\n"
		    "  WHERE meta_key = '_wp_attachment_metadata'\n"
		    "format = php\npaths = file, sizes.*.file, original_image\n"
		    "base = dirname(file)\n");
	ck_assert_msg(fetch() == 0, "fetch: %s", error);
	ck_assert_uint_eq(report.rows, 4);
	ck_assert_uint_eq(report.referenced, 4);
	ck_assert_uint_eq(report.empty, 1);
	ck_assert_uint_eq(report.hostile, 2);
	ck_assert_str_eq(report.hostile_examples[0], "a:1:{s:4:\"file\";s:9:\"cut.jpg\"; (not-php)");
	ck_assert_str_eq(report.hostile_examples[1], "../escape.jpg (dotdot)");
	ck_assert_uint_eq(refset_count(set), 4);
	assert_contains("2024/05/harbour-scaled.jpg");
	assert_contains("2024/05/harbour-300x200.jpg");
	assert_contains("2024/05/harbour-150x150.jpg");
	assert_contains("2024/05/harbour.jpg");
}
END_TEST

START_TEST(test_json_values_give_every_selected_string)
{
	open_source("columns = renditions.doc\nformat = json\npaths = *, thumb, full\n");
	ck_assert_msg(fetch() == 0, "fetch: %s", error);
	ck_assert_uint_eq(report.rows, 4);
	ck_assert_uint_eq(report.empty, 2);
	ck_assert_uint_eq(report.hostile, 0);
	ck_assert_uint_eq(refset_count(set), 3);
	assert_contains("r/t.jpg");
	assert_contains("r/f.jpg");
	assert_contains("r/list.jpg");
}
END_TEST

START_TEST(test_a_column_where_no_value_parses_fails_the_source)
{
	open_source("columns = renditions.doc, plain.v\nformat = json\npaths = *\n");
	ck_assert_int_eq(fetch(), -EINVAL);
	ck_assert_str_eq(error, "source 'app': table 'plain' column 'v': none of its 2 values "
			 "is JSON (is 'format' right?)");
}
END_TEST

static const struct {
	const char *body;
	int err;
	const char *message;
} failures[] = {
	{ "columns = gallery_photo.image, gallery.image\n", -ENOENT,
	  "source 'app': table 'gallery' column 'image': Table 'app.gallery' doesn't exist" },
	{ "columns = gallery_photo.thumbnail\n", -ENOENT,
	  "source 'app': table 'gallery_photo' column 'thumbnail': Unknown column 'thumbnail' in 'SELECT'" },
	{ "columns = nope.asset.file\n", -ENOENT,
	  "source 'app': table 'nope.asset' column 'file': Table 'nope.asset' doesn't exist" },
	{ "query = SELECT image, thumb FROM gallery_photo\n", -EINVAL,
	  "source 'app': query: returns 2 columns; it must return one, the path" },
	{ "query = SELECT image, thumb FROM gallery_photo WHERE false\n", -EINVAL,
	  "source 'app': query: returns 2 columns; it must return one, the path" },
	{ "query = SELEC image FROM gallery_photo\n", -EINVAL,
	  "source 'app': query: is not a SELECT" },
	{ "query = DROP TABLE docs\n", -EINVAL, "source 'app': query: is not a SELECT" },
	{ "query = /* hidden */ CREATE TABLE x (p text)\n", -EINVAL,
	  "source 'app': query: is not a SELECT" },
	{ "query = SELECT path FROM nowhere\n", -ENOENT,
	  "source 'app': query: Table 'app.nowhere' doesn't exist" },
	{ "query = SELECT image FROM gallery_photo; DELETE FROM docs\n", -EINVAL, NULL },
};

START_TEST(test_missing_names_and_bad_queries_fail_with_the_server_message)
{
	open_source(failures[_i].body);
	ck_assert_int_eq(fetch(), failures[_i].err);
	if (failures[_i].message)
		ck_assert_str_eq(error, failures[_i].message);
	/* The failure left the source usable for the next fetch. */
	source_close(src);
	src = NULL;
	config_free(&cfg);
	refset_free(set);
	set = refset_new();
	ck_assert_ptr_nonnull(set);
	open_source("columns = docs.file\n");
	ck_assert_msg(fetch() == 0, "fetch: %s", error);
	ck_assert_uint_eq(refset_count(set), 2);
}
END_TEST

START_TEST(test_a_table_without_select_permission_is_eacces)
{
	ck_assert_msg(open_as("mediafs_ro", NULL, "columns = gallery_photo.image, secret.path\n") == 0,
		      "open: %s", error);
	ck_assert_int_eq(fetch(), -EACCES);
	ck_assert_str_eq(error, "source 'app': table 'secret' column 'path': "
			 "SELECT command denied to user 'mediafs_ro'@'localhost' for table `app`.`secret`");
}
END_TEST

START_TEST(test_a_wrong_password_is_eacces_and_never_shown)
{
	setenv("MYSQL_PWD", "hunter2-wrong", 1);
	ck_assert_int_eq(open_as(MARIADB_HARNESS_PASSWORD_USER, NULL, "columns = docs.file\n"),
			 -EACCES);
	ck_assert_ptr_null(src);
	assert_error_starts("source 'app': cannot connect to mysql host=localhost socket=");
	ck_assert_msg(strstr(error, "Access denied for user 'mediafs_pw'@'localhost' "
			     "(using password: YES)") != NULL, "message: %s", error);
	ck_assert_msg(strstr(error, "hunter2") == NULL, "no password in '%s'", error);
}
END_TEST

START_TEST(test_a_missing_password_is_eacces)
{
	ck_assert_int_eq(open_as(MARIADB_HARNESS_PASSWORD_USER, NULL, "columns = docs.file\n"),
			 -EACCES);
	ck_assert_msg(strstr(error, "(using password: NO)") != NULL, "message: %s", error);
}
END_TEST

START_TEST(test_a_password_in_the_url_is_refused_and_never_shown)
{
	char text[512];
	char url[256];
	int err;

	snprintf(url, sizeof(url), "mysql://%s:hunter2@localhost/app?socket=%s",
		 MARIADB_HARNESS_PASSWORD_USER, server.socket);
	snprintf(text, sizeof(text), "[source app]\nurl = %s\ncolumns = docs.file\n", url);
	err = config_load_buffer(&cfg, "app.ini", text, strlen(text), error, sizeof(error));
	ck_assert_int_eq(err, -EINVAL);
	ck_assert_msg(strstr(error, "the URL holds a password; put it in an option file "
			     "(option_file=) or MYSQL_PWD instead") != NULL, "message: %s", error);
	ck_assert_msg(strstr(error, "hunter2") == NULL, "no password in '%s'", error);
}
END_TEST

START_TEST(test_passwords_come_from_mysql_pwd_or_an_option_file)
{
	char cnf[128];
	char extra[160];
	FILE *f;

	setenv("MYSQL_PWD", MARIADB_HARNESS_PASSWORD, 1);
	ck_assert_msg(open_as(MARIADB_HARNESS_PASSWORD_USER, NULL, "columns = docs.file\n") == 0,
		      "MYSQL_PWD: %s", error);
	ck_assert_msg(fetch() == 0, "fetch: %s", error);
	unsetenv("MYSQL_PWD");
	source_close(src);
	src = NULL;
	config_free(&cfg);

	snprintf(cnf, sizeof(cnf), "%s/my.cnf", dir);
	f = fopen(cnf, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "[mediafs]\npassword = %s\n", MARIADB_HARNESS_PASSWORD);
	fclose(f);
	chmod(cnf, 0600);
	snprintf(extra, sizeof(extra), "&option_file=%s", cnf);
	ck_assert_msg(open_as(MARIADB_HARNESS_PASSWORD_USER, extra, "columns = docs.file\n") == 0,
		      "option file: %s", error);
	ck_assert_msg(fetch() == 0, "fetch: %s", error);
	ck_assert_uint_eq(refset_count(set), 2);
}
END_TEST

START_TEST(test_an_unreachable_server_is_econnrefused)
{
	load_source("mysql://root@localhost/app?socket=/nonexistent-mediafs/sock",
		    "columns = docs.file\n");
	ck_assert_int_eq(source_open(&cfg.sources[0], &src, error, sizeof(error)), -ECONNREFUSED);
	ck_assert_ptr_null(src);
	assert_error_starts("source 'app': cannot connect to mysql host=localhost "
			    "socket=/nonexistent-mediafs/sock dbname=app user=root: ");
}
END_TEST

START_TEST(test_a_missing_database_is_enoent)
{
	char url[256];

	mariadb_harness_url(&server, "nope", NULL, url, sizeof(url));
	load_source(url, "columns = docs.file\n");
	ck_assert_int_eq(source_open(&cfg.sources[0], &src, error, sizeof(error)), -ENOENT);
	ck_assert_msg(strstr(error, "Unknown database 'nope'") != NULL, "message: %s", error);
}
END_TEST

/* A child that holds LOCK TABLES locked WRITE for hold_ms. */
static pid_t hold_table_lock(int hold_ms)
{
	int fds[2];
	char byte;
	pid_t pid;

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		MYSQL *conn = mysql_init(NULL);

		close(fds[0]);
		if (!mysql_real_connect(conn, "localhost", "root", NULL, "app", 0, server.socket, 0) ||
		    mysql_query(conn, "LOCK TABLES locked WRITE") != 0 || write(fds[1], "l", 1) != 1)
			_exit(1);
		usleep((useconds_t)hold_ms * 1000);
		mysql_query(conn, "UNLOCK TABLES");
		mysql_close(conn);
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
	pid = hold_table_lock(10000);
	ck_assert_int_eq(fetch(), -EBUSY);
	ck_assert_str_eq(error, "source 'app': table 'locked' column 'path': "
			 "Lock wait timeout exceeded; try restarting transaction");
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	/* The next fetch starts afresh and works. */
	source_set_busy_timeout(src, 5000);
	ck_assert_msg(fetch() == 0, "fetch: %s", error);
}
END_TEST

START_TEST(test_check_prints_each_column_and_each_error)
{
	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);
	char expected[1024];

	open_source("columns = gallery_photo.thumb, media.asset.file, docs.nope\n");
	ck_assert_int_eq(source_check(src, out, error, sizeof(error)), -ENOENT);
	fclose(out);
	snprintf(expected, sizeof(expected),
		 "source 'app' (%s): gallery_photo.thumb ok, 4 rows (2 paths, 2 empty)\n"
		 "source 'app' (%s): media.asset.file ok, 3 rows (2 paths, 0 empty, 1 unusable, "
		 "e.g. '/media/assets/hero.jpg (absolute)')\n"
		 "error: source 'app': table 'docs' column 'nope': Unknown column 'nope' in 'SELECT'\n",
		 source_description(src), source_description(src));
	ck_assert_str_eq(text, expected);
	free(text);
}
END_TEST

START_TEST(test_a_server_restarted_between_fetches_is_reconnected)
{
	open_source("columns = docs.file\n");
	ck_assert_msg(fetch() == 0, "fetch: %s", error);
	ck_assert_int_eq(mariadb_harness_stop_immediately(&server), 0);
	ck_assert_int_eq(mariadb_harness_restart(&server), 0);
	ck_assert_msg(fetch() == 0, "fetch after restart: %s", error);
	ck_assert_uint_eq(refset_count(set), 2);
}
END_TEST

START_TEST(test_a_stopped_server_fails_the_fetch_until_it_is_back)
{
	open_source("columns = docs.file\n");
	ck_assert_int_eq(mariadb_harness_stop(&server), 0);
	ck_assert_int_eq(fetch(), -ECONNREFUSED);
	assert_error_starts("source 'app': cannot connect to mysql host=localhost");
	ck_assert_int_eq(mariadb_harness_restart(&server), 0);
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
	if (++s->rows == s->stop_after && mariadb_harness_stop_immediately(&server) != 0)
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

static Suite *source_mysql_suite(void)
{
	Suite *s = suite_create("source_mysql");
	TCase *tc = tcase_create("fetch");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_several_columns_of_several_tables_are_read);
	tcase_add_test(tc, test_a_mariadb_url_and_the_default_user_work);
	tcase_add_test(tc, test_columns_of_another_database_are_read);
	tcase_add_test(tc, test_a_custom_query_gives_one_path_per_row);
	tcase_add_test(tc, test_prefixes_are_stripped_and_unmatched_urls_are_hostile);
	tcase_add_test(tc, test_hostile_values_are_counted_and_bytes_arrive_as_stored);
	tcase_add_test(tc, test_binary_values_keep_their_bytes_and_latin1_becomes_utf8);
	tcase_add_test(tc, test_check_prints_each_column_and_each_error);
	tcase_add_test(tc, test_php_metadata_gives_the_original_and_every_size);
	tcase_add_test(tc, test_json_values_give_every_selected_string);
	tcase_add_test(tc, test_a_column_where_no_value_parses_fails_the_source);
	suite_add_tcase(s, tc);

	tc = tcase_create("failures");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, test_missing_names_and_bad_queries_fail_with_the_server_message, 0,
			    sizeof(failures) / sizeof(failures[0]));
	tcase_add_test(tc, test_a_table_without_select_permission_is_eacces);
	tcase_add_test(tc, test_a_wrong_password_is_eacces_and_never_shown);
	tcase_add_test(tc, test_a_missing_password_is_eacces);
	tcase_add_test(tc, test_a_password_in_the_url_is_refused_and_never_shown);
	tcase_add_test(tc, test_passwords_come_from_mysql_pwd_or_an_option_file);
	tcase_add_test(tc, test_an_unreachable_server_is_econnrefused);
	tcase_add_test(tc, test_a_missing_database_is_enoent);
	tcase_add_test(tc, test_a_lock_released_within_the_timeout_is_waited_for);
	tcase_add_test(tc, test_a_lock_held_past_the_timeout_is_ebusy);
	suite_add_tcase(s, tc);

	tc = tcase_create("server");
	tcase_add_checked_fixture(tc, setup_running, teardown_restart);
	tcase_set_timeout(tc, 90);
	tcase_add_test(tc, test_a_server_restarted_between_fetches_is_reconnected);
	tcase_add_test(tc, test_a_stopped_server_fails_the_fetch_until_it_is_back);
	tcase_add_test(tc, test_a_server_that_dies_in_the_middle_fails_the_fetch);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *runner;
	int failed;
	int err;

	err = mariadb_harness_start(&server);
	if (err == -ENOENT)
		return SKIP_EXIT;
	if (err) {
		fprintf(stderr, "cannot start a MariaDB server: %s\n", strerror(-err));
		return EXIT_FAILURE;
	}
	if (mariadb_harness_exec(&server, NULL, "CREATE DATABASE app") != 0 ||
	    mariadb_harness_exec(&server, "app", app_schema) != 0) {
		mariadb_harness_destroy(&server);
		return EXIT_FAILURE;
	}
	runner = srunner_create(source_mysql_suite());
	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	mariadb_harness_destroy(&server);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
