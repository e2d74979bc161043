/*
 * Security tests of promise 1: a reference protects what it resolves to
 * inside BACKING.  On a real mount with a real application database (a
 * SQLite file; the spellings again on PostgreSQL), each test references
 * files through symbolic links, under other spellings and by near misses,
 * runs a scan with mediactl and checks BACKING: what is referenced stays,
 * and one true orphan in each test goes to the quarantine, which proves
 * that the checker ran and moved what it should.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "app_harness.h"

static bool use_pg;
static struct pg_harness pg;
static struct mount_harness h;
static struct app_harness app;

/* ------------------------------------------------------------------ */
/* The application database and the mount                               */
/* ------------------------------------------------------------------ */

static void setup(void)
{
	static const char *const columns[] = { "photo.image", NULL };

	app_setup(&app, &h, use_pg ? "references-pg" : "references", use_pg ? &pg : NULL,
		  APP_SETTINGS_AT_ONCE);
	app_create_tables(&app, columns);
}

static void teardown(void)
{
	harness_destroy(&h);
}

/* Mount with min_age 0 (files are candidates at once), the source read
 * as source_lines say, and wait for the startup scan. */
static void mount_reading(const char *source_lines)
{
	app.source = source_lines;
	app_mount(&app, NULL);
}

static void mount_now(void)
{
	mount_reading("columns = photo.image");
}

/* Run a scan; returns its "scan" object (the caller decrefs *whole). */
static json_t *scan(json_t **whole)
{
	int status = app_mediactl(&app, whole, "scan", NULL);

	ck_assert_msg(*whole != NULL, "scan answers in JSON");
	ck_assert_msg(status == 0, "scan exits 0 (%d)", status);
	json_t *s = json_object_get(*whole, "scan");
	ck_assert_str_eq(json_string_value(json_object_get(s, "status")), "done");
	return s;
}

static long long number(json_t *obj, const char *key)
{
	return json_integer_value(json_object_get(obj, key));
}

/* A file that holds its own name. */
static void put(const char *rel)
{
	app_put(&app, rel, rel);
}

static void link_to(const char *target, const char *rel)
{
	ck_assert_msg(symlink(target, harness_mount_path(&h, rel)) == 0, "symlink '%s': %s", rel,
		      strerror(errno));
}

/* The kind the catalog gives path ("file" or "symlink"). */
static void assert_kind(const char *rel, const char *kind)
{
	json_t *r;

	ck_assert_int_eq(app_mediactl(&app, &r, "show", rel, NULL), 0);
	json_t *file = json_array_get(json_object_get(r, "files"), 0);
	ck_assert_msg(file && json_string_value(json_object_get(file, "kind")) &&
		      strcmp(json_string_value(json_object_get(file, "kind")), kind) == 0,
		      "'%s' is tracked as a %s", rel, kind);
	json_decref(r);
}

/* Does one of the strings of array contain needle? */
static bool array_mentions(json_t *array, const char *needle)
{
	json_t *item;
	size_t i;

	json_array_foreach(array, i, item)
		if (json_string_value(item) && strstr(json_string_value(item), needle))
			return true;
	return false;
}

/* ------------------------------------------------------------------ */
/* Symbolic links                                                       */
/* ------------------------------------------------------------------ */

START_TEST(test_links_keep_their_targets_and_themselves)
{
	char absolute[1024];
	json_t *whole;

	/* An adopted link: made in BACKING before the mount. */
	ck_assert_int_eq(harness_sh("mkdir -p '%s/old' && echo old > '%s/old/banner.png' && "
				    "ln -s banner.png '%s/old/current.png'", h.backing, h.backing,
				    h.backing), 0);
	mount_now();
	ck_assert_int_eq(mkdir(harness_mount_path(&h, "photos"), 0755), 0);
	ck_assert_int_eq(mkdir(harness_mount_path(&h, "photos/2024"), 0755), 0);
	put("photos/2024/a.jpg");
	link_to("2024", "photos/current");		/* a directory link */
	put("logo-2024.png");
	link_to("logo-2024.png", "logo.png");		/* a file link */
	put("chain-end.jpg");
	link_to("chain-end.jpg", "chain-2.jpg");	/* a chain of two */
	link_to("chain-2.jpg", "chain-1.jpg");
	put("abs-target.jpg");
	snprintf(absolute, sizeof(absolute), "%s/abs-target.jpg", h.backing);
	link_to(absolute, "abs.jpg");			/* absolute, inside BACKING */
	put("orphan.jpg");
	app_insert(&app, "photo.image", "photos/current/a.jpg");
	app_insert(&app, "photo.image", "logo.png");
	app_insert(&app, "photo.image", "chain-1.jpg");
	app_insert(&app, "photo.image", "abs.jpg");
	app_insert(&app, "photo.image", "old/current.png");

	json_t *s = scan(&whole);
	ck_assert_int_eq(number(s, "quarantined"), 1);
	ck_assert_msg(number(s, "respelled") >= 5, "the scan counts the values through links");
	json_decref(whole);
	ck_assert_msg(!app_in_backing(&app, "orphan.jpg"), "the orphan goes: the checker ran");
	ck_assert_msg(app_in_backing(&app, "photos/2024/a.jpg"), "a directory link keeps the file");
	ck_assert_msg(app_in_backing(&app, "photos/current"), "and the link itself");
	ck_assert_msg(app_in_backing(&app, "logo-2024.png") && app_in_backing(&app, "logo.png"),
		      "a file link keeps its target and itself");
	ck_assert_msg(app_in_backing(&app, "chain-end.jpg") && app_in_backing(&app, "chain-2.jpg") &&
		      app_in_backing(&app, "chain-1.jpg"), "a chain keeps every link and the end");
	ck_assert_msg(app_in_backing(&app, "abs-target.jpg") && app_in_backing(&app, "abs.jpg"),
		      "an absolute link inside BACKING is followed");
	ck_assert_msg(app_in_backing(&app, "old/banner.png") && app_in_backing(&app, "old/current.png"),
		      "an adopted link keeps its target");
	assert_kind("logo.png", "symlink");
	assert_kind("photos/current", "symlink");
	assert_kind("old/current.png", "symlink");
	assert_kind("logo-2024.png", "file");
	ck_assert_int_eq(harness_unmount(&h), 0);
}
END_TEST

START_TEST(test_links_out_of_backing_are_never_followed)
{
	char outside[600], absolute[1024], content[64] = "";
	size_t len = 0;
	json_t *whole;

	/* A canary outside BACKING, next to it. */
	snprintf(outside, sizeof(outside), "%s/outside", h.dir);
	ck_assert_int_eq(mkdir(outside, 0755), 0);
	ck_assert_int_eq(harness_sh("echo canary > '%s/canary.jpg'", outside), 0);
	mount_now();
	snprintf(absolute, sizeof(absolute), "%s/canary.jpg", outside);
	link_to(absolute, "escape.jpg");		/* absolute, outside */
	link_to("../outside/canary.jpg", "up.jpg");	/* ".." above the root */
	link_to(outside, "ext");			/* a directory outside */
	link_to("loop-2", "loop-1");			/* a loop */
	link_to("loop-1", "loop-2");
	put("orphan.jpg");
	app_insert(&app, "photo.image", "escape.jpg");
	app_insert(&app, "photo.image", "up.jpg");
	app_insert(&app, "photo.image", "ext/canary.jpg");
	app_insert(&app, "photo.image", "loop-1/a.jpg");

	json_t *s = scan(&whole);
	ck_assert_int_eq(number(s, "quarantined"), 1);
	json_decref(whole);
	ck_assert_msg(!app_in_backing(&app, "orphan.jpg"), "the orphan goes: the checker ran");
	ck_assert_msg(app_in_backing(&app, "escape.jpg") && app_in_backing(&app, "up.jpg") && app_in_backing(&app, "ext"),
		      "a link out of BACKING stays, unfollowed");
	ck_assert_msg(app_in_backing(&app, "loop-1") && app_in_backing(&app, "loop-2"),
		      "every link of a loop stays");
	ck_assert_int_eq(harness_read_file(absolute, content, sizeof(content) - 1, &len), 0);
	content[len] = '\0';
	ck_assert_msg(strcmp(content, "canary\n") == 0, "nothing outside BACKING is touched");
	ck_assert_msg(harness_log_contains(&h, "not followed"), "the log says so");
	ck_assert_int_eq(harness_unmount(&h), 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Other spellings and near misses                                      */
/* ------------------------------------------------------------------ */

#define NFC_E "\xc3\xa9"		/* U+00E9 */
#define NFD_E "e\xcc\x81"		/* e, U+0301 */
#define NFC_I "\xc3\xaf"		/* U+00EF */
#define NFD_I "i\xcc\x88"		/* i, U+0308 */

START_TEST(test_other_spellings_keep_the_file_and_near_misses_are_reported)
{
	json_t *whole, *r;

	mount_now();
	put("my photo.jpg");
	put("caf" NFD_E ".jpg");		/* NFD on disk, as macOS copies */
	put("na" NFC_I "ve.jpg");		/* NFC on disk */
	put("Case.JPG");
	put("space.jpg");
	put("orphan.jpg");
	app_insert(&app, "photo.image", "my%20photo.jpg");
	app_insert(&app, "photo.image", "caf" NFC_E ".jpg");		/* NFC in the database */
	app_insert(&app, "photo.image", "na" NFD_I "ve.jpg");		/* NFD in the database */
	app_insert(&app, "photo.image", "case.jpg");			/* a near miss: case */
	app_insert(&app, "photo.image", " space.jpg ");		/* a near miss: whitespace */

	json_t *s = scan(&whole);
	ck_assert_int_eq(number(s, "quarantined"), 1);
	ck_assert_int_eq(number(s, "respelled"), 3);
	ck_assert_int_eq(number(s, "near_misses"), 2);
	ck_assert_msg(array_mentions(json_object_get(s, "near_miss_examples"), "'case.jpg' ~ 'Case.JPG'"),
		      "the case near miss is listed");
	ck_assert_msg(array_mentions(json_object_get(s, "near_miss_examples"),
				     "' space.jpg ' ~ 'space.jpg'"),
		      "the whitespace near miss is listed");
	json_decref(whole);
	ck_assert_msg(!app_in_backing(&app, "orphan.jpg"), "the orphan goes: the checker ran");
	ck_assert_msg(app_in_backing(&app, "my photo.jpg"), "a percent-encoded value keeps its file");
	ck_assert_msg(app_in_backing(&app, "caf" NFD_E ".jpg"), "an NFC value keeps an NFD file");
	ck_assert_msg(app_in_backing(&app, "na" NFC_I "ve.jpg"), "an NFD value keeps an NFC file");
	ck_assert_msg(app_in_backing(&app, "Case.JPG") && app_in_backing(&app, "space.jpg"),
		      "near misses protect");
	ck_assert_msg(harness_log_contains(&h, "nearly names"), "the log reports near misses");

	ck_assert_int_eq(app_mediactl(&app, &r, "check", NULL), 0);
	ck_assert_msg(r != NULL, "check answers in JSON");
	ck_assert_int_eq(number(r, "near_misses"), 2);
	ck_assert_msg(array_mentions(json_object_get(r, "near_miss_examples"), "Case.JPG"),
		      "check lists the near misses");
	ck_assert_msg(number(r, "respelled_count") >= 3,
		      "check does not call the other spellings dangling");
	json_decref(r);
	ck_assert_int_eq(harness_unmount(&h), 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The confirmation before each move                                    */
/* ------------------------------------------------------------------ */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* SQL that counts to n, and how many steps make about seconds of it. */
#define SPIN_SQL "SELECT count(*) FROM (WITH RECURSIVE c(x) AS (SELECT 1\n" \
		 "  UNION ALL SELECT x + 1 FROM c WHERE x < %ld) SELECT x FROM c)"

static long spin_steps_for(double seconds)
{
	char sql[256];
	sqlite3 *db;
	long steps = 1000000;
	double took;

	ck_assert_int_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
	for (;;) {
		double start = now_s();
		snprintf(sql, sizeof(sql), SPIN_SQL, steps);
		ck_assert_int_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
		took = now_s() - start;
		if (took > 0.2)
			break;
		steps *= 4;
	}
	sqlite3_close(db);
	return (long)((double)steps * seconds / took);
}

/*
 * The value through a link appears between the scan's fetch and the
 * confirmation's: the source's query yields it only once the time in
 * the table gate has passed, and spends about three seconds after that
 * test in every fetch, so the scan's fetch asks before the gate opens
 * and the confirmation's after.  The candidate must stay, and the log
 * must say the confirmation kept it.
 */
START_TEST(test_the_confirmation_applies_the_same_matching)
{
	char source[1024], sql[256];
	json_t *whole;
	double spin = 3.0;

	app_exec(&app, "%s", "CREATE TABLE gate (t real); INSERT INTO gate VALUES (1e9)");
	snprintf(source, sizeof(source),
		 "query = SELECT image FROM photo\n"
		 "  UNION ALL SELECT 'photos/current/late.jpg' FROM gate\n"
		 "  WHERE julianday('now') > gate.t\n"
		 "  UNION ALL SELECT NULL FROM (\n  " SPIN_SQL ")", spin_steps_for(spin));
	mount_reading(source);
	ck_assert_int_eq(mkdir(harness_mount_path(&h, "photos"), 0755), 0);
	ck_assert_int_eq(mkdir(harness_mount_path(&h, "photos/2024"), 0755), 0);
	put("photos/2024/late.jpg");
	link_to("2024", "photos/current");
	put("orphan.jpg");
	put("kept.jpg");
	app_insert(&app, "photo.image", "kept.jpg");
	/* The gate opens halfway through the scan's fetch. */
	snprintf(sql, sizeof(sql), "UPDATE gate SET t = julianday('now') + %f / 86400.0",
		 spin / 2);
	app_exec(&app, "%s", sql);

	json_t *s = scan(&whole);
	ck_assert_msg(number(s, "candidates") >= 2, "the scan did not see the late value");
	ck_assert_int_eq(number(s, "quarantined"), 1);
	json_decref(whole);
	ck_assert_msg(!app_in_backing(&app, "orphan.jpg"), "the orphan goes: the checker ran");
	ck_assert_msg(app_in_backing(&app, "photos/2024/late.jpg"),
		      "a value through a link read at the confirmation keeps the file");
	ck_assert_msg(harness_log_contains(&h, "'photos/2024/late.jpg' is referenced now"),
		      "the confirmation kept it");
	ck_assert_int_eq(harness_unmount(&h), 0);
}
END_TEST

/* PostgreSQL runs the spellings again; links are the same there. */
static Suite *references_suite(bool on_pg)
{
	Suite *s = suite_create(on_pg ? "references-postgresql" : "references-sqlite");
	TCase *tc = tcase_create("promise 1");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	if (!on_pg) {
		tcase_add_test(tc, test_links_keep_their_targets_and_themselves);
		tcase_add_test(tc, test_links_out_of_backing_are_never_followed);
		tcase_add_test(tc, test_the_confirmation_applies_the_same_matching);
	}
	tcase_add_test(tc, test_other_spellings_keep_the_file_and_near_misses_are_reported);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	app_require_mediactl();
	return app_run_over_both(references_suite, &pg, &use_pg);
}
