/*
 * Unit tests for refdb/config.c: the INI file of DESIGN.md, its defaults,
 * its errors (each naming file, line and key) and the -o options.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static char dir[] = "/tmp/mediafs-test-config-XXXXXX";
static char path[sizeof(dir) + 16];
static struct config cfg;
static char error[CONFIG_ERROR_BYTES];

static void write_file(const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fputs(text, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
}

static int load(const char *text)
{
	write_file(text);
	return config_load(&cfg, path, error, sizeof(error));
}

static void setup(void)
{
	strcpy(dir, "/tmp/mediafs-test-config-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/app.ini", dir);
	config_init_defaults(&cfg);
	error[0] = '\0';
}

static void teardown(void)
{
	config_free(&cfg);
	unlink(path);
	rmdir(dir);
}

/* The example of DESIGN.md, comments and all. */
static const char design_example[] =
	"[mediafs]\n"
	"interval = 10m            ; time between scans (a scan also runs at start)\n"
	"min_age = 1h              ; never quarantine a file written more recently\n"
	"grace = 7d                ; purge a quarantined file after this long\n"
	"max_fraction = 0.10       ; hold a scan that would quarantine more, until confirmed\n"
	"temp_max_age = 60s        ; unlinked files younger than this are really deleted\n"
	"restore_on_access = yes   ; a lookup of a quarantined path brings it back\n"
	"dry_run = no              ; report what a scan would do, move nothing\n"
	"exclude = defaults/*, CACHE/*   ; globs the checker never touches\n"
	"\n"
	"[source app]              ; one section per database; any name after \"source\"\n"
	"url = sqlite:////srv/site/db.sqlite3      ; or postgresql://user@host/db, or a libpq conninfo\n"
	"columns = gallery_photo.image, gallery_photo.thumb   ; table.column (schema.table.column)\n"
	"; query = SELECT path FROM ...            ; instead of columns: one path per row\n"
	"strip_prefix = /media/                   ; removed from values before matching\n";

START_TEST(test_defaults_are_those_of_the_design)
{
	ck_assert_int_eq(cfg.settings.interval_ms, 10 * 60 * 1000);
	ck_assert_int_eq(cfg.settings.min_age_ms, 60 * 60 * 1000);
	ck_assert_int_eq(cfg.settings.grace_ms, 7LL * 24 * 60 * 60 * 1000);
	ck_assert_double_eq(cfg.settings.max_fraction, 0.10);
	ck_assert_int_eq(cfg.settings.temp_max_age_ms, 60 * 1000);
	ck_assert(cfg.settings.restore_on_access);
	ck_assert(!cfg.settings.dry_run);
	ck_assert_uint_eq(cfg.settings.exclude_count, 0);
	ck_assert_uint_eq(cfg.source_count, 0);
	ck_assert_ptr_null(cfg.path);
}
END_TEST

START_TEST(test_the_design_example_loads_with_its_inline_comments)
{
	ck_assert_msg(load(design_example) == 0, "loads: %s", error);
	ck_assert_str_eq(cfg.path, path);
	ck_assert_int_eq(cfg.settings.grace_ms, 7LL * 24 * 60 * 60 * 1000);
	ck_assert_double_eq(cfg.settings.max_fraction, 0.10);
	ck_assert_uint_eq(cfg.settings.exclude_count, 2);
	ck_assert_str_eq(cfg.settings.exclude[0], "defaults/*");
	ck_assert_str_eq(cfg.settings.exclude[1], "CACHE/*");
	ck_assert_uint_eq(cfg.source_count, 1);
	const struct config_source *src = &cfg.sources[0];
	ck_assert_str_eq(src->name, "app");
	ck_assert_int_eq(src->line, 11);
	ck_assert_str_eq(src->url, "sqlite:////srv/site/db.sqlite3");
	ck_assert_int_eq(src->kind, CONFIG_SOURCE_SQLITE);
	ck_assert_str_eq(config_sqlite_path(src->url), "/srv/site/db.sqlite3");
	ck_assert_uint_eq(src->column_count, 2);
	ck_assert_ptr_null(src->columns[0].schema);
	ck_assert_str_eq(src->columns[0].table, "gallery_photo");
	ck_assert_str_eq(src->columns[0].column, "image");
	ck_assert_str_eq(src->columns[1].column, "thumb");
	ck_assert_ptr_null(src->query);
	ck_assert_uint_eq(src->strip_prefix_count, 1);
	ck_assert_str_eq(src->strip_prefixes[0], "/media/");
}
END_TEST

START_TEST(test_a_file_without_mediafs_section_keeps_the_defaults)
{
	ck_assert_msg(load("# only a source\n[source a]\nurl = sqlite:///x.db\n"
			   "query = SELECT p FROM t;\n") == 0, "loads: %s", error);
	ck_assert_int_eq(cfg.settings.min_age_ms, 60 * 60 * 1000);
	ck_assert(cfg.settings.restore_on_access);
	ck_assert_str_eq(cfg.sources[0].query, "SELECT p FROM t");
	ck_assert_uint_eq(cfg.sources[0].strip_prefix_count, 0);
}
END_TEST

START_TEST(test_several_sources_of_both_kinds_load_in_order)
{
	ck_assert_msg(load("[mediafs]\ndry_run = on\nrestore_on_access = 0\n"
			   "[source site]\nurl = postgresql://app@db.example.com/site\n"
			   "columns = public.gallery_photo.image, site.media.asset.file,\n"
			   "    cms_page.hero\n"
			   "strip_prefix = /media/, https://cdn.example.com/media/\n"
			   "[source legacy]\nurl = host=/run/postgresql dbname=legacy user=ro\n"
			   "query = SELECT path\n  FROM files\n  WHERE deleted IS NULL ;\n"
			   "[source local]\nurl = sqlite:///var/lib/app/app.db\n"
			   "columns = main.docs.file\n") == 0, "loads: %s", error);
	ck_assert(cfg.settings.dry_run);
	ck_assert(!cfg.settings.restore_on_access);
	ck_assert_uint_eq(cfg.source_count, 3);
	ck_assert_str_eq(cfg.sources[0].name, "site");
	ck_assert_int_eq(cfg.sources[0].kind, CONFIG_SOURCE_POSTGRESQL);
	ck_assert_uint_eq(cfg.sources[0].column_count, 3);
	ck_assert_str_eq(cfg.sources[0].columns[0].schema, "public");
	ck_assert_ptr_null(cfg.sources[0].columns[0].database);
	ck_assert_str_eq(cfg.sources[0].columns[1].database, "site");
	ck_assert_str_eq(cfg.sources[0].columns[1].schema, "media");
	ck_assert_str_eq(cfg.sources[0].columns[1].table, "asset");
	ck_assert_str_eq(cfg.sources[0].columns[1].column, "file");
	ck_assert_str_eq(cfg.sources[0].columns[2].table, "cms_page");
	ck_assert_uint_eq(cfg.sources[0].strip_prefix_count, 2);
	ck_assert_str_eq(cfg.sources[0].strip_prefixes[1], "https://cdn.example.com/media/");
	ck_assert_str_eq(cfg.sources[1].name, "legacy");
	ck_assert_int_eq(cfg.sources[1].kind, CONFIG_SOURCE_POSTGRESQL);
	ck_assert_int_eq(cfg.sources[1].line, 9);
	ck_assert_str_eq(cfg.sources[1].query, "SELECT path FROM files WHERE deleted IS NULL");
	ck_assert_str_eq(cfg.sources[2].columns[0].schema, "main");
	ck_assert_str_eq(config_sqlite_path(cfg.sources[2].url), "/var/lib/app/app.db");
}
END_TEST

/* Each file fails; the message starts with "app.ini:<line>: <what>". */
static const struct {
	const char *text;
	const char *message;
} bad_files[] = {
	{ "[mediafs]\ngracee = 7d\n",
	  "2: key 'gracee': unknown key in [mediafs] (use interval, min_age, grace, " },
	{ "[mediafs]\ninterval = 10m\ngrace = 7 days\n",
	  "3: key 'grace': '7 days' is not a duration (use e.g. 30s, 10m, 1h, 7d)" },
	{ "[mediafs]\ngrace = 7 days ; a week\n",
	  "2: key 'grace': '7 days' is not a duration (use e.g. 30s, 10m, 1h, 7d)" },
	{ "[mediafs]\nmin_age = -1h\n", "2: key 'min_age': '-1h' is not a duration" },
	{ "[mediafs]\ngrace = 999999999999d\n", "2: key 'grace': '999999999999d' is too long a duration" },
	{ "[mediafs]\ninterval = 0\n", "2: key 'interval': '0' is too short (at least 1s)" },
	{ "[mediafs]\ninterval = 106751991167d\n",
	  "2: key 'interval': '106751991167d' is too long (at most 36500d)" },
	{ "[mediafs]\ngrace = 36500d1ms\n", "2: key 'grace': '36500d1ms' is too long (at most 36500d)" },
	{ "[mediafs]\nmax_fraction = 0\n", "2: key 'max_fraction': '0' is not a fraction above 0" },
	{ "[mediafs]\nmax_fraction = 1.5\n", "2: key 'max_fraction': '1.5' is not a fraction" },
	{ "[mediafs]\nmax_fraction = 10%\n", "2: key 'max_fraction': '10%' is not a fraction" },
	{ "[mediafs]\nmax_fraction = nan\n", "2: key 'max_fraction': 'nan' is not a fraction" },
	{ "[mediafs]\nhold_min_files = -1\n",
	  "2: key 'hold_min_files': '-1' is not a count from 0 to 1000000000" },
	{ "[mediafs]\nhold_min_files = 1e3\n", "2: key 'hold_min_files': '1e3' is not a count" },
	{ "[mediafs]\ndry_run = maybe\n", "2: key 'dry_run': 'maybe' is not a boolean (use yes or no)" },
	{ "[mediafs]\nexclude = /srv/media/*\n",
	  "2: key 'exclude': pattern '/srv/media/*' is absolute; patterns are relative to the media root" },
	{ "[mediafs]\nexclude = a/*,,b/*\n", "2: key 'exclude': 'a/*,,b/*' has an empty entry in its list" },
	{ "[mediafs]\ngrace = 1d\n\ngrace = 2d\n", "4: key 'grace' is given twice (first on line 2)" },
	{ "grace = 1d\n", "1: key 'grace' is outside a section (start with [mediafs] or [source NAME])" },
	{ "[mediafs]\n[mediafs]\n", "2: section [mediafs] appears twice (first on line 1)" },
	{ "[media]\ngrace = 1d\n", "1: unknown section [media] (use [mediafs] or [source NAME])" },
	{ "[sources app]\n", "1: unknown section [sources app]" },
	{ "[source]\nurl = sqlite:///a.db\n", "1: section [source] needs a name, as in [source app]" },
	{ "[source my app]\n", "1: source name 'my app' may hold only letters, digits, '_', '-' and '.'" },
	{ "[source app\n", "1: expected ']' to close the section name" },
	{ "[mediafs]\nthis line is not ini\n", "2: cannot parse the line (expected '[section]', 'key = value' or a comment)" },
	{ "[source a]\nurl = sqlite:///a.db\nquery = SELECT 1\n[source a]\n",
	  "4: source 'a' is defined twice (first on line 1)" },
	{ "\n[source a]\ncolumns = t.c\n", "2: source 'a': key 'url' is missing" },
	{ "[source a]\nurl = sqlite:///a.db\n", "1: source 'a': key 'columns' or 'query' is missing" },
	{ "[source a]\nurl = sqlite:///a.db\ncolumns = t.c\nquery = SELECT 1\n",
	  "4: key 'query': source 'a' has both 'columns' and 'query'; give one of them" },
	{ "[source a]\nurl = sqlite:///a.db\ncolumn = t.c\n",
	  "3: key 'column': unknown key in [source a] (use url, columns, query, strip_prefix, format, paths or base)" },
	{ "[source a]\nurl = sqlite:///a.db\ncolumns = t.c\nformat = xml\n",
	  "4: key 'format': 'xml' is not a format (use text, json or php)" },
	{ "[source a]\nurl = sqlite:///a.db\ncolumns = t.c\nformat = php\n",
	  "4: key 'format': source 'a' needs 'paths', the fields that hold paths (e.g. paths = file, sizes.*.file)" },
	{ "[source a]\nurl = sqlite:///a.db\ncolumns = t.c\npaths = file\n",
	  "4: key 'paths': source 'a' reads each value as one path; add format = json or php" },
	{ "[source a]\nurl = sqlite:///a.db\ncolumns = t.c\nbase = dirname(file)\n",
	  "4: key 'base': source 'a' reads each value as one path; add format = json or php" },
	{ "[source a]\nurl = sqlite:///a.db\ncolumns = t.c\nformat = json\npaths = a b\n",
	  "5: key 'paths': 'a b': expected '.' between keys" },
	{ "[source a]\nurl = sqlite:///a.db\ncolumns = t.c\nformat = json\npaths = a,,b\n",
	  "5: key 'paths': 'a,,b' has an empty entry in its list" },
	{ "[source a]\nurl = sqlite:///a.db\ncolumns = t.c\nformat = json\npaths = a\nbase = x.*\n",
	  "6: key 'base': the base 'x.*' must name one field, without '*'" },
	{ "[source a]\nurl = ftp://db/app\n",
	  "2: key 'url': 'ftp://db/app' is not a database URL (use sqlite:///path, postgresql://..., a libpq conninfo or mysql://...)" },
	{ "[source a]\nurl = sqlite://app.db\n",
	  "2: key 'url': 'sqlite://app.db' does not name an absolute path (use sqlite:///absolute/path)" },
	{ "[source a]\nurl = sqlite:app.db\n", "2: key 'url': 'sqlite:app.db' does not name an absolute path" },
	{ "[source a]\nurl = sqlite:///\n", "2: key 'url': 'sqlite:///' does not name an absolute path" },
	{ "[source a]\nurl = host=db bogus=1 dbname=app\n",
	  "2: key 'url': 'host=db bogus=1 dbname=app' is not a valid PostgreSQL URL or conninfo: "
	  "invalid connection option \"bogus\"" },
	{ "[source a]\nurl = dbname = 'unterminated\n",
	  "2: key 'url': 'dbname = 'unterminated' is not a valid PostgreSQL URL or conninfo" },
	{ "[source a]\nurl = sqlite:///a.db\ncolumns = gallery\n",
	  "3: key 'columns': 'gallery' is not table.column, schema.table.column or database.schema.table.column" },
	{ "[source a]\nurl = sqlite:///a.db\ncolumns = a.b.c.d.e\n", "3: key 'columns': 'a.b.c.d.e' is not table.column" },
	{ "[source a]\nurl = sqlite:///a.db\ncolumns = t..c\n",
	  "3: key 'columns': 't..c' has an empty or invalid name (no spaces or quotes)" },
	{ "[source a]\nurl = sqlite:///a.db\ncolumns = t.c d\n", "3: key 'columns': 't.c d' has an empty or invalid name" },
	{ "[source a]\nurl = sqlite:///a.db\ncolumns = t.c, u.d, t.c\n", "3: key 'columns': 't.c' is listed twice" },
	{ "[source a]\nurl = sqlite:///a.db\ncolumns = ,\n", "3: key 'columns': ',' has an empty entry in its list" },
	{ "[source a]\nurl = sqlite:///a.db\ncolumns = db.main.t.c\n",
	  "3: key 'columns': 'db.main.t.c' names a database; SQLite takes [schema.]table.column" },
	{ "[source a]\nurl = sqlite:///a.db\nquery = ;\n", "3: key 'query': the query is empty" },
	{ "[source a]\nurl = sqlite:///a.db\nquery = SELECT 1\nstrip_prefix = /media/,\n",
	  "4: key 'strip_prefix': '/media/,' has an empty entry in its list" },
	{ "[mediafs]\nexclude = aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
	  "2: the line is longer than 198 bytes (continue a long value on indented lines)" },
};

START_TEST(test_every_error_names_file_line_and_what_is_wrong)
{
	char expected[CONFIG_ERROR_BYTES];
	int err = load(bad_files[_i].text);

	snprintf(expected, sizeof(expected), "%s:%s", path, bad_files[_i].message);
	ck_assert_msg(err == -EINVAL, "file %d is refused with -EINVAL, not %d", _i, err);
	ck_assert_msg(strncmp(error, expected, strlen(expected)) == 0,
		      "message is\n  '%s'\nnot\n  '%s'", error, expected);
	ck_assert_uint_eq(cfg.source_count, 0);
	ck_assert_ptr_null(cfg.path);
}
END_TEST

START_TEST(test_a_failed_load_leaves_the_config_unchanged)
{
	ck_assert_int_eq(load("[mediafs]\ngrace = 2d\n[source a]\nurl = sqlite:///a.db\n"
			      "query = SELECT 1\n"), 0);
	ck_assert_int_eq(load("[mediafs]\ngrace = 3d\n[source b]\n"), -EINVAL);
	ck_assert_int_eq(cfg.settings.grace_ms, 2LL * 24 * 60 * 60 * 1000);
	ck_assert_uint_eq(cfg.source_count, 1);
	ck_assert_str_eq(cfg.sources[0].name, "a");
}
END_TEST

START_TEST(test_a_missing_file_is_enoent_with_its_name)
{
	char expected[CONFIG_ERROR_BYTES];

	ck_assert_int_eq(config_load(&cfg, "/nonexistent/app.ini", error, sizeof(error)), -ENOENT);
	snprintf(expected, sizeof(expected), "cannot open '/nonexistent/app.ini': %s",
		 strerror(ENOENT));
	ck_assert_str_eq(error, expected);
}
END_TEST

START_TEST(test_an_indented_bracket_line_continues_the_value_as_libinih_reads_it)
{
	ck_assert_msg(load("[source a]\nurl = sqlite:///a.db\nquery = SELECT path\n"
			   "  [source b]\n") == 0, "loads: %s", error);
	ck_assert_uint_eq(cfg.source_count, 1);
	ck_assert_str_eq(cfg.sources[0].query, "SELECT path [source b]");
	/* Not a source b that takes the key before it and a url after it. */
	ck_assert_int_eq(load("[source a]\nurl = sqlite:///a.db\nquery = SELECT 1\n"
			      "  [source b]\nurl = sqlite:///b.db\n"), -EINVAL);
	ck_assert_msg(strstr(error, ":5: key 'url' is given twice") != NULL, "error '%s'", error);
	/* Before any key, an indented header is a header. */
	ck_assert_msg(load("  [source a]\nurl = sqlite:///a.db\nquery = SELECT 1\n") == 0,
		      "loads: %s", error);
	ck_assert_str_eq(cfg.sources[0].name, "a");
}
END_TEST

START_TEST(test_a_buffer_loads_like_the_same_file)
{
	ck_assert_msg(config_load_buffer(&cfg, "buffer.ini", design_example,
					 strlen(design_example), error, sizeof(error)) == 0,
		      "loads: %s", error);
	ck_assert_str_eq(cfg.path, "buffer.ini");
	ck_assert_int_eq(cfg.settings.grace_ms, 7LL * 24 * 60 * 60 * 1000);
	ck_assert_uint_eq(cfg.source_count, 1);
	ck_assert_str_eq(cfg.sources[0].strip_prefixes[0], "/media/");
	ck_assert_int_eq(cfg.sources[0].line, 11);
}
END_TEST

START_TEST(test_a_buffer_is_read_to_its_length_and_no_further)
{
	static const char text[] = "[mediafs]\ngrace = 1d\n\0[bogus]\n";

	ck_assert_int_eq(config_load_buffer(&cfg, "nul.ini", text, sizeof(text) - 1, error,
					    sizeof(error)), -EINVAL);
	ck_assert_str_eq(error, "nul.ini:3: the line holds a NUL byte");
	ck_assert_msg(config_load_buffer(&cfg, "cut.ini", text, strlen(text), error,
					 sizeof(error)) == 0, "loads: %s", error);
	ck_assert_int_eq(cfg.settings.grace_ms, 24LL * 60 * 60 * 1000);
	ck_assert_int_eq(config_load_buffer(&cfg, "empty.ini", NULL, 0, error, sizeof(error)), 0);
	ck_assert_str_eq(cfg.path, "empty.ini");
	ck_assert_int_eq(cfg.settings.grace_ms, CONFIG_DEFAULT_GRACE_MS);
}
END_TEST

START_TEST(test_long_values_continue_on_indented_lines)
{
	ck_assert_msg(load("[source a]\nurl = sqlite:///a.db\nquery = SELECT image\n"
			   "  FROM gallery_photo ; first part\n"
			   "\n"
			   "  ; a comment between\n"
			   "  UNION SELECT thumb FROM gallery_photo\n") == 0, "loads: %s", error);
	ck_assert_str_eq(cfg.sources[0].query,
			 "SELECT image FROM gallery_photo UNION SELECT thumb FROM gallery_photo");
}
END_TEST

START_TEST(test_passwords_never_appear_in_url_errors)
{
	ck_assert_int_eq(load("[source a]\nurl = postgresql://bob:s3cr%zzet@db/app?sslmode=nope\n"), -EINVAL);
	ck_assert_msg(strstr(error, "s3cr") == NULL, "no password in '%s'", error);
	ck_assert_msg(strstr(error, "bob:***@db") != NULL, "redacted URL in '%s'", error);
	ck_assert_int_eq(load("[source a]\nurl = host=db password=hunter2 bogus=x\n"), -EINVAL);
	ck_assert_msg(strstr(error, "hunter2") == NULL, "no password in '%s'", error);
}
END_TEST

static const struct {
	const char *url;
	const char *shown;
} redactions[] = {
	{ "postgresql://bob:secret@db.example.com:5432/app", "postgresql://bob:***@db.example.com:5432/app" },
	{ "postgres://bob@db/app", "postgres://bob@db/app" },
	{ "postgresql://db/app?user=bob&password=secret&sslmode=require",
	  "postgresql://db/app?user=bob&password=***&sslmode=require" },
	{ "postgresql://bob:pw@db/app?password=pw2", "postgresql://bob:***@db/app?password=***" },
	{ "postgresql://bob:p@ss@db/app", "postgresql://bob:***@db/app" },
	{ "host=db password=secret dbname=app", "host=db password=*** dbname=app" },
	{ "host=db password = 'se cret' dbname=app", "host=db password = *** dbname=app" },
	{ "password=x", "password=***" },
	{ "host=db passwordless=1 dbname=app", "host=db passwordless=1 dbname=app" },
	{ "sqlite:////srv/db.sqlite3", "sqlite:////srv/db.sqlite3" },
};

START_TEST(test_redacted_urls_hide_every_password)
{
	char out[256];

	config_redact_url(redactions[_i].url, out, sizeof(out));
	ck_assert_str_eq(out, redactions[_i].shown);
}
END_TEST

START_TEST(test_scrub_removes_raw_and_decoded_passwords_from_messages)
{
	char text[128] = "failed for 'p%40ss' and 'p@ss' and 'other'";

	config_scrub_password("postgresql://bob:p%40ss@db/app", text, sizeof(text));
	ck_assert_str_eq(text, "failed for '***' and '***' and 'other'");
}
END_TEST

START_TEST(test_scrub_stays_in_a_full_buffer_when_the_mask_is_longer)
{
	/* Full to its last byte, with a one-byte password at the very end. */
	char text[16] = "pw is q, and q";
	char tight[4] = "abq";

	config_scrub_password("host=db password=q", text, sizeof(text) - 1);
	ck_assert_str_eq(text, "pw is ***, and");
	config_scrub_password("host=db password=q", tight, sizeof(tight));
	ck_assert_str_eq(tight, "ab*");
}
END_TEST

START_TEST(test_an_empty_password_is_redacted_once_and_scrubbing_ends)
{
	char out[256];
	char text[64] = "bad query parameter in postgresql://h/db";

	config_redact_url("postgresql://bob:@h/db?password=&sslmode=x", out, sizeof(out));
	ck_assert_str_eq(out, "postgresql://bob:***@h/db?password=***&sslmode=x");
	config_redact_url("host=h password=", out, sizeof(out));
	ck_assert_str_eq(out, "host=h password=***");
	config_scrub_password("postgresql://h/db?password=", text, sizeof(text));
	config_scrub_password("postgresql://bob:@h/db", text, sizeof(text));
	config_scrub_password("host=h password=", text, sizeof(text));
	ck_assert_str_eq(text, "bad query parameter in postgresql://h/db");
	ck_assert_int_eq(load("[source a]\nurl = postgres://h/db?password=&bogus=1\n"
			      "columns = t.c\n"), -EINVAL);
	ck_assert_msg(strstr(error, "password=***&bogus=1") != NULL, "redacted in '%s'", error);
}
END_TEST

static const struct {
	const char *url;
	const char *path;
} sqlite_urls[] = {
	{ "sqlite:///srv/db.sqlite3", "/srv/db.sqlite3" },
	{ "sqlite:////srv/db.sqlite3", "/srv/db.sqlite3" },
	{ "sqlite://srv/db.sqlite3", NULL },
	{ "sqlite:db.sqlite3", NULL },
	{ "sqlite:///", NULL },
	{ "postgresql://db/app", NULL },
};

START_TEST(test_sqlite_urls_name_absolute_paths_only)
{
	const char *got = config_sqlite_path(sqlite_urls[_i].url);

	if (sqlite_urls[_i].path)
		ck_assert_str_eq(got, sqlite_urls[_i].path);
	else
		ck_assert_ptr_null(got);
}
END_TEST

static const struct {
	const char *url;
	const char *user, *host, *database, *socket, *option_file;
	unsigned int port;
	const char *why;	/* NULL when the URL is valid */
} mysql_urls[] = {
	{ "mysql://app@db.example.com/shop", "app", "db.example.com", "shop", "", "", 0, NULL },
	{ "mariadb://app@db:3307/shop", "app", "db", "shop", "", "", 3307, NULL },
	{ "mysql://app@[::1]:3307/shop", "app", "::1", "shop", "", "", 3307, NULL },
	{ "mysql://ro%40site@localhost/my%20db?socket=/run/mysqld/mysqld.sock",
	  "ro@site", "localhost", "my db", "/run/mysqld/mysqld.sock", "", 0, NULL },
	{ "mysql:///wp?option_file=/etc/mediafs/my.cnf&socket=/tmp/s", "", "", "wp", "/tmp/s",
	  "/etc/mediafs/my.cnf", 0, NULL },
	{ "mysql://app:secret@db/shop", NULL, NULL, NULL, NULL, NULL, 0,
	  "the URL holds a password; put it in an option file (option_file=) or MYSQL_PWD instead" },
	{ "mysql://app@db/shop?password=secret", NULL, NULL, NULL, NULL, NULL, 0,
	  "unknown parameter 'password' (use socket=/path or option_file=/path; a password "
	  "belongs in an option file or MYSQL_PWD)" },
	{ "mysql://app@db", NULL, NULL, NULL, NULL, NULL, 0,
	  "the URL names no database (use mysql://user@host/database)" },
	{ "mysql://app@db/", NULL, NULL, NULL, NULL, NULL, 0,
	  "the URL names no database (use mysql://user@host/database)" },
	{ "mysql://app@db/a/b", NULL, NULL, NULL, NULL, NULL, 0,
	  "the URL names no database (use mysql://user@host/database)" },
	{ "mysql://app@db:99999/shop", NULL, NULL, NULL, NULL, NULL, 0,
	  "'db:99999' is not a host or host:port" },
	{ "mysql://app@db:/shop", NULL, NULL, NULL, NULL, NULL, 0, "'db:' is not a host or host:port" },
	{ "mysql://app@[::1/shop", NULL, NULL, NULL, NULL, NULL, 0,
	  "'[::1' is not a host or host:port" },
	{ "mysql://app@db/shop?socket=relative", NULL, NULL, NULL, NULL, NULL, 0,
	  "parameter 'socket' must be an absolute path" },
	{ "mysql://app@db/shop?socket=/tmp/s", NULL, NULL, NULL, NULL, NULL, 0,
	  "a socket needs the host 'localhost' or none, not 'db'" },
	{ "mysql://app@db/sh%00op", NULL, NULL, NULL, NULL, NULL, 0,
	  "the URL names no database (use mysql://user@host/database)" },
};

START_TEST(test_mysql_urls_are_split_and_passwords_refused)
{
	struct config_mysql_url url;
	char why[256] = "";
	int err = config_mysql_parse_url(mysql_urls[_i].url, &url, why, sizeof(why));

	if (mysql_urls[_i].why) {
		ck_assert_int_eq(err, -EINVAL);
		ck_assert_str_eq(why, mysql_urls[_i].why);
		ck_assert_msg(strstr(why, "secret") == NULL, "no password in '%s'", why);
		return;
	}
	ck_assert_msg(err == 0, "'%s': %s", mysql_urls[_i].url, why);
	ck_assert_str_eq(url.user, mysql_urls[_i].user);
	ck_assert_str_eq(url.host, mysql_urls[_i].host);
	ck_assert_str_eq(url.database, mysql_urls[_i].database);
	ck_assert_str_eq(url.socket, mysql_urls[_i].socket);
	ck_assert_str_eq(url.option_file, mysql_urls[_i].option_file);
	ck_assert_uint_eq(url.port, mysql_urls[_i].port);
}
END_TEST

START_TEST(test_a_structured_source_keeps_its_format_paths_and_base)
{
	struct config_source copy;

	ck_assert_msg(load("[source wp]\nurl = mysql://wp@localhost/wordpress\n"
			   "query = SELECT meta_value FROM wp_postmeta\n"
			   "  WHERE meta_key = '_wp_attachment_metadata'\n"
			   "format = php\npaths = file, sizes.*.file, original_image\n"
			   "base = dirname(file)\n") == 0, "load: %s", error);
	ck_assert_int_eq(cfg.sources[0].format, CONFIG_FORMAT_PHP);
	ck_assert_uint_eq(cfg.sources[0].path_count, 3);
	ck_assert_str_eq(cfg.sources[0].paths[1], "sizes.*.file");
	ck_assert_str_eq(cfg.sources[0].base, "dirname(file)");
	ck_assert_int_eq(config_source_copy(&copy, &cfg.sources[0]), 0);
	ck_assert_int_eq(copy.format, CONFIG_FORMAT_PHP);
	ck_assert_ptr_ne(copy.paths[2], cfg.sources[0].paths[2]);
	ck_assert_str_eq(copy.paths[2], "original_image");
	ck_assert_str_eq(copy.base, "dirname(file)");
	config_source_clear(&copy);
}
END_TEST

START_TEST(test_a_mysql_source_loads_and_its_url_errors_hide_the_password)
{
	ck_assert_int_eq(load("[source wp]\nurl = mysql://wp@localhost/wordpress\n"
			      "columns = wp_postmeta.meta_value, other.t.c\n"), 0);
	ck_assert_int_eq(cfg.sources[0].kind, CONFIG_SOURCE_MYSQL);
	ck_assert_int_eq(load("[source wp]\nurl = mysql://wp:hunter2@localhost/wordpress\n"
			      "columns = t.c\n"), -EINVAL);
	ck_assert_msg(strstr(error, "'mysql://wp:***@localhost/wordpress' is not a valid mysql URL: "
			     "the URL holds a password") != NULL, "message: %s", error);
	ck_assert_msg(strstr(error, "hunter2") == NULL, "no password in '%s'", error);
	ck_assert_int_eq(load("[source wp]\nurl = mysql://wp@localhost/wordpress\n"
			      "columns = a.b.c.d\n"), -EINVAL);
	ck_assert_msg(strstr(error, "'a.b.c.d' names a database; MySQL (the schema is the "
			     "database) takes [schema.]table.column") != NULL, "message: %s", error);
}
END_TEST

static const struct {
	const char *key;
	const char *value;
	int err;
	const char *message;
} options[] = {
	{ "min_age", "2h", 0, NULL },
	{ "grace", "14d", 0, NULL },
	{ "max_fraction", "0.5", 0, NULL },
	{ "dry_run", "true", 0, NULL },
	{ "exclude", "tmp/*", 0, NULL },
	{ "grace", "36500d", 0, NULL },
	{ "interval", "36500d1s", -EINVAL, "option 'interval': '36500d1s' is too long (at most 36500d)" },
	{ "grace", "7 days", -EINVAL,
	  "option 'grace': '7 days' is not a duration (use e.g. 30s, 10m, 1h, 7d)" },
	{ "max_fraction", "2", -EINVAL, "option 'max_fraction': '2' is not a fraction above 0 and at most 1 (use e.g. 0.10)" },
	{ "restore_on_access", "si", -EINVAL, "option 'restore_on_access': 'si' is not a boolean (use yes or no)" },
	{ "allow_other", NULL, -ENOENT, "option 'allow_other': needs a value, as in allow_other=..." },
	{ "grace", NULL, -EINVAL, "option 'grace': needs a value, as in grace=..." },
	{ "url", "sqlite:///a.db", -ENOENT, "option 'url': unknown key (use interval, min_age, grace, " },
};

START_TEST(test_mount_options_set_mediafs_keys_with_the_same_validation)
{
	struct config_settings before = cfg.settings;
	int err = config_set(&cfg, options[_i].key, options[_i].value, error, sizeof(error));

	ck_assert_int_eq(err, options[_i].err);
	if (err) {
		ck_assert_msg(strncmp(error, options[_i].message, strlen(options[_i].message)) == 0,
			      "message is '%s'", error);
		ck_assert_int_eq(cfg.settings.grace_ms, before.grace_ms);
		ck_assert_double_eq(cfg.settings.max_fraction, before.max_fraction);
		ck_assert_int_eq(cfg.settings.restore_on_access, before.restore_on_access);
	}
}
END_TEST

START_TEST(test_mount_options_override_the_file)
{
	ck_assert_int_eq(load(design_example), 0);
	ck_assert_int_eq(config_set(&cfg, "min_age", "2h", error, sizeof(error)), 0);
	ck_assert_int_eq(config_set(&cfg, "exclude", "tmp/*", error, sizeof(error)), 0);
	ck_assert_int_eq(cfg.settings.min_age_ms, 2 * 60 * 60 * 1000);
	ck_assert_uint_eq(cfg.settings.exclude_count, 1);
	ck_assert_str_eq(cfg.settings.exclude[0], "tmp/*");
	ck_assert_int_eq(config_set(&cfg, "exclude", "", error, sizeof(error)), 0);
	ck_assert_uint_eq(cfg.settings.exclude_count, 0);
}
END_TEST

START_TEST(test_a_source_copy_is_deep)
{
	struct config_source copy;

	ck_assert_int_eq(load("[source a]\nurl = postgresql://db/app\n"
			      "columns = s.t.c, t.d\nstrip_prefix = /m/\n"), 0);
	ck_assert_int_eq(config_source_copy(&copy, &cfg.sources[0]), 0);
	config_free(&cfg);
	ck_assert_str_eq(copy.name, "a");
	ck_assert_str_eq(copy.url, "postgresql://db/app");
	ck_assert_uint_eq(copy.column_count, 2);
	ck_assert_str_eq(copy.columns[0].schema, "s");
	ck_assert_ptr_null(copy.columns[1].schema);
	ck_assert_str_eq(copy.strip_prefixes[0], "/m/");
	config_source_clear(&copy);
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("load");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_defaults_are_those_of_the_design);
	tcase_add_test(tc, test_the_design_example_loads_with_its_inline_comments);
	tcase_add_test(tc, test_a_file_without_mediafs_section_keeps_the_defaults);
	tcase_add_test(tc, test_several_sources_of_both_kinds_load_in_order);
	tcase_add_loop_test(tc, test_every_error_names_file_line_and_what_is_wrong, 0,
			    sizeof(bad_files) / sizeof(bad_files[0]));
	tcase_add_test(tc, test_a_failed_load_leaves_the_config_unchanged);
	tcase_add_test(tc, test_a_missing_file_is_enoent_with_its_name);
	tcase_add_test(tc, test_long_values_continue_on_indented_lines);
	tcase_add_test(tc, test_an_indented_bracket_line_continues_the_value_as_libinih_reads_it);
	tcase_add_test(tc, test_a_buffer_loads_like_the_same_file);
	tcase_add_test(tc, test_a_buffer_is_read_to_its_length_and_no_further);
	tcase_add_test(tc, test_a_source_copy_is_deep);
	suite_add_tcase(s, tc);

	tc = tcase_create("urls");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_passwords_never_appear_in_url_errors);
	tcase_add_loop_test(tc, test_redacted_urls_hide_every_password, 0,
			    sizeof(redactions) / sizeof(redactions[0]));
	tcase_add_test(tc, test_scrub_removes_raw_and_decoded_passwords_from_messages);
	tcase_add_test(tc, test_scrub_stays_in_a_full_buffer_when_the_mask_is_longer);
	tcase_add_test(tc, test_an_empty_password_is_redacted_once_and_scrubbing_ends);
	tcase_add_loop_test(tc, test_mysql_urls_are_split_and_passwords_refused, 0,
			    sizeof(mysql_urls) / sizeof(mysql_urls[0]));
	tcase_add_test(tc, test_a_mysql_source_loads_and_its_url_errors_hide_the_password);
	tcase_add_test(tc, test_a_structured_source_keeps_its_format_paths_and_base);
	tcase_add_loop_test(tc, test_sqlite_urls_name_absolute_paths_only, 0,
			    sizeof(sqlite_urls) / sizeof(sqlite_urls[0]));
	suite_add_tcase(s, tc);

	tc = tcase_create("options");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_mount_options_set_mediafs_keys_with_the_same_validation, 0,
			    sizeof(options) / sizeof(options[0]));
	tcase_add_test(tc, test_mount_options_override_the_file);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *runner = srunner_create(config_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
