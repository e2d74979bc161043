/*
 * Integration tests of the reference checker: a real mount, a real
 * application database (a SQLite file, then a throwaway PostgreSQL
 * cluster), mediactl to run scans, and each promise of DESIGN.md checked
 * on the disk and in the catalog.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "app_harness.h"

/* Just past the default min_age of 1 s (APP_SETTINGS_CHECKER). */
enum {
	PAST_MIN_AGE_MS = 1100,
	GRACE_1H_PASSED_MS = 3600 * 1000 + 100,
};

static struct pg_harness pg;
static bool use_pg;
static struct mount_harness h;
static struct app_harness app;

static void setup(void)
{
	static const char *const columns[] = { "photo.image", "gallery.thumb", NULL };

	app_setup(&app, &h, use_pg ? "checker-pg" : "checker-sqlite", use_pg ? &pg : NULL,
		  APP_SETTINGS_CHECKER);
	app_create_tables(&app, columns);
}

static void teardown(void)
{
	harness_destroy(&h);
}

static json_t *scan(const char *flag)
{
	json_t *r = NULL;
	int status = app_mediactl(&app, &r, "scan", flag, NULL);

	ck_assert_msg(r != NULL, "scan answers in JSON");
	ck_assert_msg(status == 0 || status == 1, "scan exits 0 or 1 (%d)", status);
	return r;
}

/* ------------------------------------------------------------------ */
/* Promises                                                             */
/* ------------------------------------------------------------------ */

START_TEST(test_referenced_file_stays_and_orphan_goes)
{
	app_mount(&app, NULL);
	app_put(&app, "used.jpg", "used");
	app_put(&app, "orphan.jpg", "orphan");
	app_insert(&app, "photo.image", "used.jpg");
	app_advance_clock(&app, PAST_MIN_AGE_MS);
	json_t *r = scan(NULL);
	ck_assert_str_eq(app_scan_status(r), "done");
	ck_assert_int_eq(app_scan_number(r, "quarantined"), 1);
	json_decref(r);
	ck_assert_msg(app_in_backing(&app, "used.jpg"), "promise 1: the referenced file stays");
	ck_assert_msg(!app_in_backing(&app, "orphan.jpg"),
		      "the orphan left its place");
	ck_assert_msg(app_in_quarantine(&app, "orphan.jpg") == 1, "the orphan is in the quarantine once");
	ck_assert_int_eq(harness_unmount(&h), 0);
}
END_TEST

START_TEST(test_young_unreferenced_file_survives_until_min_age)
{
	app_mount(&app, "min_age = 3s\n");
	app_put(&app, "upload.jpg", "in flight");
	app_insert(&app, "photo.image", "other.jpg");
	json_t *r = scan(NULL);
	ck_assert_int_eq(app_scan_number(r, "quarantined"), 0);
	json_decref(r);
	ck_assert_msg(app_in_backing(&app, "upload.jpg"), "promise 2: younger than min_age stays");
	app_advance_clock(&app, 3100);
	r = scan(NULL);
	ck_assert_int_eq(app_scan_number(r, "quarantined"), 1);
	json_decref(r);
	ck_assert(!app_in_backing(&app, "upload.jpg"));
	ck_assert_int_eq(harness_unmount(&h), 0);
}
END_TEST

START_TEST(test_reference_committed_late_keeps_the_file)
{
	app_mount(&app, "min_age = 3s\n");
	app_put(&app, "late.jpg", "late");
	app_advance_clock(&app, 1000);
	json_decref(scan(NULL));
	/* The transaction commits after the upload, within min_age. */
	app_insert(&app, "photo.image", "late.jpg");
	app_advance_clock(&app, 2500);
	json_t *r = scan(NULL);
	ck_assert_int_eq(app_scan_number(r, "quarantined"), 0);
	json_decref(r);
	ck_assert(app_in_backing(&app, "late.jpg"));
	ck_assert_int_eq(harness_unmount(&h), 0);
}
END_TEST

START_TEST(test_file_referenced_from_two_tables_then_one_then_none)
{
	app_mount(&app, NULL);
	app_put(&app, "shared.jpg", "shared");
	app_insert(&app, "photo.image", "shared.jpg");
	app_insert(&app, "gallery.thumb", "shared.jpg");
	app_advance_clock(&app, PAST_MIN_AGE_MS);
	json_decref(scan(NULL));
	ck_assert(app_in_backing(&app, "shared.jpg"));
	app_exec(&app, "DELETE FROM photo");
	json_decref(scan(NULL));
	ck_assert_msg(app_in_backing(&app, "shared.jpg"), "one reference left is enough");
	app_exec(&app, "DELETE FROM gallery");
	app_put(&app, "other.jpg", "keeps the source non-empty");
	app_insert(&app, "photo.image", "other.jpg");
	json_t *r = scan(NULL);
	ck_assert_int_eq(app_scan_number(r, "quarantined"), 1);
	json_decref(r);
	ck_assert_msg(!app_in_backing(&app, "shared.jpg"), "no reference left: it goes");
	ck_assert_int_eq(harness_unmount(&h), 0);
}
END_TEST

START_TEST(test_brake_holds_a_scan_when_a_table_is_emptied)
{
	json_t *r;

	app_mount(&app, "max_fraction = 0.5\n");
	for (int i = 0; i < 4; i++) {
		char name[32];
		snprintf(name, sizeof(name), "p%d.jpg", i);
		app_put(&app, name, name);
		app_insert(&app, "photo.image", name);
	}
	app_advance_clock(&app, PAST_MIN_AGE_MS);
	json_decref(scan(NULL));
	app_exec(&app, "DELETE FROM photo");
	r = scan(NULL);
	ck_assert_msg(strcmp(app_scan_status(r), "held") == 0, "promise 5: the scan is held");
	long long held_id = app_scan_number(r, "id");
	json_decref(r);
	for (int i = 0; i < 4; i++) {
		char name[32];
		snprintf(name, sizeof(name), "p%d.jpg", i);
		ck_assert_msg(app_in_backing(&app, name), "nothing moved while held");
	}
	ck_assert_msg(harness_log_contains(&h, "ALARM"), "the alarm is in the log");
	ck_assert_int_eq(app_mediactl(&app, &r, "status", NULL), 0);
	ck_assert_msg(json_object_get(r, "held_scan") != NULL, "the status shows the held scan");
	json_decref(r);
	/* Reject: nothing moves; hold again, confirm: they go. */
	ck_assert_int_eq(app_mediactl(&app, &r, "reject", NULL), 0);
	json_decref(r);
	ck_assert(app_in_backing(&app, "p0.jpg"));
	r = scan(NULL);
	ck_assert_str_eq(app_scan_status(r), "held");
	held_id = app_scan_number(r, "id");
	json_decref(r);
	char id[32];
	snprintf(id, sizeof(id), "%lld", held_id);
	ck_assert_int_eq(app_mediactl(&app, &r, "confirm", id, NULL), 0);
	ck_assert_int_eq(app_scan_number(r, "quarantined"), 4);
	ck_assert_msg(app_scan_number(r, "id") == held_id && strcmp(app_scan_status(r), "confirmed") == 0,
		      "the confirmed scan keeps the number the admin was told");
	json_decref(r);
	ck_assert(!app_in_backing(&app, "p0.jpg"));
	/* So the number the admin confirmed is the one that undoes it. */
	ck_assert_int_eq(app_mediactl(&app, &r, "restore", "--scan", id, NULL), 0);
	json_decref(r);
	ck_assert_msg(app_in_backing(&app, "p0.jpg"), "restore --scan N undoes the confirmed scan N");
	ck_assert_int_eq(harness_unmount(&h), 0);
}
END_TEST

START_TEST(test_small_store_is_not_held_for_a_few_orphans)
{
	json_t *r;

	app_mount(&app, "max_fraction = 0.10\nhold_min_files = 3\n");
	for (int i = 0; i < 8; i++) {
		char name[32];
		snprintf(name, sizeof(name), "s%d.jpg", i);
		app_put(&app, name, name);
		if (i < 6)
			app_insert(&app, "photo.image", name);
	}
	app_advance_clock(&app, PAST_MIN_AGE_MS);
	r = scan(NULL);
	ck_assert_msg(strcmp(app_scan_status(r), "done") == 0,
		      "2 orphans of 8 files (25%%) are within hold_min_files: not held");
	ck_assert_int_eq(app_scan_number(r, "quarantined"), 2);
	json_decref(r);
	app_exec(&app, "DELETE FROM photo WHERE image IN ('s0.jpg', 's1.jpg', 's2.jpg', 's3.jpg')");
	r = scan(NULL);
	ck_assert_msg(strcmp(app_scan_status(r), "held") == 0,
		      "4 candidates, more than hold_min_files and max_fraction: held");
	json_decref(r);
	ck_assert_msg(app_in_backing(&app, "s0.jpg"), "nothing moved while held");
	ck_assert_int_eq(harness_unmount(&h), 0);
}
END_TEST

START_TEST(test_source_error_quarantines_nothing)
{
	json_t *r;

	app_mount(&app, NULL);
	app_put(&app, "kept.jpg", "kept");
	app_insert(&app, "photo.image", "other.jpg");
	app_advance_clock(&app, PAST_MIN_AGE_MS);
	app_exec(&app, "DROP TABLE gallery");
	ck_assert_int_eq(app_mediactl(&app, &r, "scan", NULL), 1);
	ck_assert_str_eq(app_scan_status(r), "failed");
	ck_assert_int_eq(app_scan_number(r, "quarantined"), 0);
	json_decref(r);
	ck_assert_msg(app_in_backing(&app, "kept.jpg"), "promise 4: an error is never 'no references'");
	ck_assert_msg(harness_log_contains(&h, "gallery"), "the log names the table");
	ck_assert_int_eq(app_mediactl(&app, &r, "status", NULL), 0);
	ck_assert_msg(json_object_get(r, "source_errors") != NULL, "the status shows it");
	json_decref(r);
	ck_assert_int_eq(harness_unmount(&h), 0);
}
END_TEST

START_TEST(test_purge_after_grace_leaves_a_tombstone)
{
	json_t *r;

	app_mount(&app, "grace = 2s\n");
	app_put(&app, "old.jpg", "old");
	app_insert(&app, "photo.image", "other.jpg");
	app_advance_clock(&app, PAST_MIN_AGE_MS);
	json_decref(scan(NULL));
	ck_assert_int_eq(app_in_quarantine(&app, "old.jpg"), 1);
	r = scan(NULL);
	ck_assert_msg(app_scan_number(r, "purged") == 0, "not purged within grace");
	json_decref(r);
	app_advance_clock(&app, 2100);
	r = scan(NULL);
	ck_assert_int_eq(app_scan_number(r, "purged"), 1);
	json_decref(r);
	ck_assert_msg(app_in_quarantine(&app, "old.jpg") == 0, "promise 3: gone for good after grace");
	ck_assert_int_eq(app_mediactl(&app, &r, "show", "old.jpg", NULL), 0);
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

	app_mount(&app, NULL);
	app_put(&app, "again.jpg", "again");
	app_put(&app, "touched.jpg", "touched");
	app_insert(&app, "photo.image", "other.jpg");
	app_advance_clock(&app, PAST_MIN_AGE_MS);
	r = scan(NULL);
	ck_assert_int_eq(app_scan_number(r, "quarantined"), 2);
	json_decref(r);
	app_insert(&app, "gallery.thumb", "again.jpg");
	r = scan(NULL);
	ck_assert_int_eq(app_scan_number(r, "restored"), 1);
	json_decref(r);
	ck_assert_int_eq(harness_read_file(harness_mount_path(&h, "again.jpg"), buf, sizeof(buf),
					   &len), 0);
	ck_assert_msg(len == 5 && !memcmp(buf, "again", 5),
		      "promise 8: referenced again, back with its content");
	ck_assert_int_eq(harness_read_file(harness_mount_path(&h, "touched.jpg"), buf, sizeof(buf),
					   &len), 0);
	ck_assert_msg(len == 7 && !memcmp(buf, "touched", 7), "restored when accessed");
	ck_assert_int_eq(app_mediactl(&app, &r, "status", NULL), 0);
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

	app_mount(&app, "restore_on_access = no\n");
	app_put(&app, "clash.jpg", "old");
	app_insert(&app, "photo.image", "other.jpg");
	app_advance_clock(&app, PAST_MIN_AGE_MS);
	json_decref(scan(NULL));
	app_put(&app, "clash.jpg", "new");
	app_insert(&app, "photo.image", "clash.jpg");
	r = scan(NULL);
	ck_assert_int_eq(app_scan_number(r, "conflicts"), 1);
	ck_assert_int_eq(app_scan_number(r, "restored"), 0);
	json_decref(r);
	ck_assert_int_eq(harness_read_file(harness_mount_path(&h, "clash.jpg"), buf, sizeof(buf),
					   &len), 0);
	ck_assert_msg(len == 3 && !memcmp(buf, "new", 3), "the live file was not overwritten");
	ck_assert_int_eq(app_in_quarantine(&app, "clash.jpg"), 1);
	ck_assert_int_eq(app_mediactl(&app, &r, "restore", "clash.jpg", NULL), 1);
	json_decref(r);
	ck_assert_int_eq(app_mediactl(&app, &r, "restore", "clash.jpg", "--to", "clash-old.jpg", NULL), 0);
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

	app_mount(&app, "temp_max_age = 1s\nrestore_on_access = no\n");
	app_put(&app, "deleted.jpg", "precious");
	app_put(&app, "replaced.jpg", "first");
	app_put(&app, "temp.jpg", "scratch");
	/* Young before the test clock moves: it ages every file alike. */
	app_put(&app, "young.jpg", "young");
	ck_assert_int_eq(unlink(harness_mount_path(&h, "young.jpg")), 0);
	ck_assert_msg(app_in_quarantine(&app, "young.jpg") == 0,
		      "a young temporary file goes for good");
	app_advance_clock(&app, PAST_MIN_AGE_MS);
	ck_assert_int_eq(unlink(harness_mount_path(&h, "deleted.jpg")), 0);
	app_put(&app, "incoming.tmp", "second");
	ck_assert_int_eq(rename(harness_mount_path(&h, "incoming.tmp"),
				harness_mount_path(&h, "replaced.jpg")), 0);
	ck_assert_int_eq(app_in_quarantine(&app, "deleted.jpg"), 1);
	ck_assert_int_eq(app_in_quarantine(&app, "replaced.jpg"), 1);
	ck_assert_int_eq(app_mediactl(&app, &r, "restore", "deleted.jpg", NULL), 0);
	json_decref(r);
	ck_assert_int_eq(harness_read_file(harness_mount_path(&h, "deleted.jpg"), buf, sizeof(buf),
					   &len), 0);
	ck_assert_msg(len == 8 && !memcmp(buf, "precious", 8), "the unlink was undone");
	ck_assert_int_eq(app_mediactl(&app, &r, "restore", "replaced.jpg", "--to", "replaced-first.jpg",
				  NULL), 0);
	json_decref(r);
	ck_assert_int_eq(harness_read_file(harness_mount_path(&h, "replaced-first.jpg"), buf,
					   sizeof(buf), &len), 0);
	ck_assert_msg(len == 5 && !memcmp(buf, "first", 5), "the replaced file came back");
	ck_assert_int_eq(app_mediactl(&app, &r, "show", "deleted.jpg", NULL), 0);
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

	app_mount(&app, NULL);
	app_put(&app, "orphan.jpg", "orphan");
	app_insert(&app, "photo.image", "other.jpg");
	app_advance_clock(&app, PAST_MIN_AGE_MS);
	r = scan("--dry-run");
	ck_assert_str_eq(app_scan_status(r), "dry-run");
	ck_assert_int_eq(app_scan_number(r, "candidates"), 1);
	ck_assert_int_eq(app_scan_number(r, "quarantined"), 0);
	json_decref(r);
	ck_assert(app_in_backing(&app, "orphan.jpg"));
	ck_assert_int_eq(app_mediactl(&app, &r, "status", NULL), 0);
	long long last = json_integer_value(json_object_get(json_object_get(r, "last_scan"), "id"));
	json_decref(r);
	ck_assert_int_eq(app_mediactl(&app, &r, "ls", "--unreferenced", NULL), 0);
	ck_assert_int_eq(json_array_size(json_object_get(r, "files")), 1);
	json_decref(r);
	/* Listing is a question, not a scan: no number taken, nothing logged. */
	ck_assert_int_eq(app_mediactl(&app, &r, "status", NULL), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(r, "last_scan"), "id")),
			 last);
	json_decref(r);
	char line[64];
	snprintf(line, sizeof(line), "scan %lld (", last + 1);
	ck_assert_msg(!harness_log_contains(&h, line), "ls --unreferenced logged a scan");
	ck_assert(app_in_backing(&app, "orphan.jpg"));
	ck_assert_int_eq(harness_unmount(&h), 0);
}
END_TEST

START_TEST(test_exclude_globs_and_pins)
{
	json_t *r;

	app_mount(&app, "exclude = defaults/*, CACHE/*\n");
	ck_assert_int_eq(mkdir(harness_mount_path(&h, "defaults"), 0755), 0);
	ck_assert_int_eq(mkdir(harness_mount_path(&h, "CACHE"), 0755), 0);
	ck_assert_int_eq(mkdir(harness_mount_path(&h, "CACHE/a"), 0755), 0);
	app_put(&app, "defaults/avatar.png", "a");
	app_put(&app, "CACHE/a/thumb.jpg", "t");
	app_put(&app, "pinned.jpg", "p");
	app_put(&app, "orphan.jpg", "o");
	app_insert(&app, "photo.image", "other.jpg");
	ck_assert_int_eq(app_mediactl(&app, &r, "pin", "pinned.jpg", NULL), 0);
	json_decref(r);
	app_advance_clock(&app, PAST_MIN_AGE_MS);
	r = scan(NULL);
	ck_assert_int_eq(app_scan_number(r, "quarantined"), 1);
	json_decref(r);
	ck_assert(app_in_backing(&app, "defaults/avatar.png"));
	ck_assert(app_in_backing(&app, "CACHE/a/thumb.jpg"));
	ck_assert(app_in_backing(&app, "pinned.jpg"));
	ck_assert(!app_in_backing(&app, "orphan.jpg"));
	ck_assert_int_eq(app_mediactl(&app, &r, "unpin", "pinned.jpg", NULL), 0);
	json_decref(r);
	r = scan(NULL);
	ck_assert_int_eq(app_scan_number(r, "quarantined"), 1);
	json_decref(r);
	ck_assert(!app_in_backing(&app, "pinned.jpg"));
	ck_assert_int_eq(harness_unmount(&h), 0);
}
END_TEST

START_TEST(test_emptied_directories_are_removed)
{
	json_t *r;

	app_mount(&app, NULL);
	ck_assert_int_eq(mkdir(harness_mount_path(&h, "album"), 0755), 0);
	ck_assert_int_eq(mkdir(harness_mount_path(&h, "album/2020"), 0755), 0);
	app_put(&app, "album/2020/a.jpg", "a");
	ck_assert_int_eq(mkdir(harness_mount_path(&h, "kept"), 0755), 0);
	app_put(&app, "kept/b.jpg", "b");
	app_insert(&app, "photo.image", "kept/b.jpg");
	app_advance_clock(&app, PAST_MIN_AGE_MS);
	/* The kernel forgets the directories once nothing uses them. */
	harness_sh("echo 2 > /proc/sys/vm/drop_caches");
	r = scan(NULL);
	ck_assert_int_eq(app_scan_number(r, "quarantined"), 1);
	json_decref(r);
	ck_assert_msg(!app_in_backing(&app, "album/2020") && !app_in_backing(&app, "album"),
		      "the directories the checker emptied are gone");
	ck_assert(app_in_backing(&app, "kept/b.jpg"));
	/* An upload into a removed directory path works: the application's
	 * makedirs(exist_ok) finds it (made again on access, since a
	 * quarantined file lies under it) or makes it. */
	ck_assert_msg(mkdir(harness_mount_path(&h, "album"), 0755) == 0 || errno == EEXIST,
		      "mkdir album: %s", strerror(errno));
	app_put(&app, "album/new.jpg", "n");
	ck_assert(app_in_backing(&app, "album/new.jpg"));
	ck_assert_int_eq(harness_unmount(&h), 0);
}
END_TEST

START_TEST(test_restores_into_a_removed_directory)
{
	json_t *r;
	char buf[16];
	size_t len;

	app_mount(&app, NULL);
	ck_assert_int_eq(mkdir(harness_mount_path(&h, "gone"), 0755), 0);
	ck_assert_int_eq(mkdir(harness_mount_path(&h, "gone/deep"), 0755), 0);
	app_put(&app, "gone/deep/a.jpg", "aaa");
	app_insert(&app, "photo.image", "other.jpg");
	app_advance_clock(&app, PAST_MIN_AGE_MS);
	harness_sh("echo 2 > /proc/sys/vm/drop_caches");
	r = scan(NULL);
	ck_assert_int_eq(app_scan_number(r, "quarantined"), 1);
	json_decref(r);
	ck_assert_msg(!app_in_backing(&app, "gone"), "the emptied directories were removed");
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

	app_mount(&app, "restore_on_access = no\n");
	ck_assert_int_eq(mkdir(harness_mount_path(&h, "away"), 0755), 0);
	app_put(&app, "away/b.jpg", "bbb");
	app_insert(&app, "photo.image", "other.jpg");
	app_advance_clock(&app, PAST_MIN_AGE_MS);
	harness_sh("echo 2 > /proc/sys/vm/drop_caches");
	r = scan(NULL);
	ck_assert_int_eq(app_scan_number(r, "quarantined"), 1);
	json_decref(r);
	/* The kernel now caches the absence of "away". */
	ck_assert_int_eq(stat(harness_mount_path(&h, "away"), &st), -1);
	ck_assert_int_eq(errno, ENOENT);
	app_insert(&app, "gallery.thumb", "away/b.jpg");
	r = scan(NULL);
	ck_assert_int_eq(app_scan_number(r, "restored"), 1);
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
		int places = app_in_backing(&app, name) + quarantined[i];
		ck_assert_msg(places == 1, "'%s' is in %d places", name, places);
	}
	free(quarantined);
}

/* How many entries a directory has (-1 when it cannot be read). */
static int entries_in(const char *path)
{
	struct dirent *e;
	int n = 0;
	DIR *d = opendir(path);

	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* How many bulk files are in the quarantine, under any scan id. */
static int bulk_in_quarantine(void)
{
	char path[PATH_MAX];
	struct dirent *id;
	int n = 0;
	DIR *ids;

	snprintf(path, sizeof(path), "%s/.mediafs/quarantine", h.backing);
	ids = opendir(path);
	if (!ids)
		return 0;
	while ((id = readdir(ids)) != NULL) {
		if (id->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/.mediafs/quarantine/%s/bulk", h.backing,
			 id->d_name);
		int count = entries_in(path);
		n += count > 0 ? count : 0;
	}
	closedir(ids);
	return n;
}

/* A scan under way, and how to tell that it has started its work. */
struct scan_watch {
	pid_t scanner;
	bool exited;
	int (*count)(void);	/* files at their place or in the quarantine */
	int before;		/* count() when the scan began */
};

static int bulk_in_place(void)
{
	return entries_in(harness_backing_path(&h, "bulk"));
}

/* The scan moved or purged a file, or it is over (nothing to do). */
static bool scan_is_at_work(void *ctx)
{
	struct scan_watch *w = ctx;

	if (waitpid(w->scanner, NULL, WNOHANG) == w->scanner) {
		w->exited = true;
		return true;
	}
	return w->count() < w->before;
}

/* Start a scan and SIGKILL the daemon as soon as the count of files
 * (at their place, or in the quarantine) starts to fall. */
static void scan_in_background_and_kill(int (*count)(void))
{
	struct scan_watch w = { .count = count, .before = count() };

	w.scanner = fork();
	ck_assert_int_ge(w.scanner, 0);
	if (w.scanner == 0) {
		execl(getenv("MEDIACTL_BIN"), "mediactl", "--mount", h.mountpoint, "scan",
		      (char *)NULL);
		_exit(127);
	}
	ck_assert_msg(harness_wait_until(scan_is_at_work, &w, APP_WAIT_MS),
		      "the scan moves files or ends");
	harness_kill(&h);
	if (!w.exited)
		waitpid(w.scanner, NULL, 0);
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

	app_mount(&app, NULL);
	ck_assert_int_eq(mkdir(harness_mount_path(&h, "bulk"), 0755), 0);
	/* Written without waiting for each release: a file the daemon still
	 * holds open is kept in its place, which this test allows. */
	for (int i = 0; i < COUNT; i++) {
		char name[64];
		snprintf(name, sizeof(name), "bulk/f%04d.jpg", i);
		ck_assert_int_eq(harness_write_file(harness_mount_path(&h, name), name,
						    strlen(name)), 0);
	}
	app_insert(&app, "photo.image", "bulk/f0000.jpg");
	app_advance_clock(&app, PAST_MIN_AGE_MS);
	/* Killed in the middle of moving files to the quarantine. */
	for (int round = 0; round < 2; round++) {
		scan_in_background_and_kill(bulk_in_place);
		assert_each_file_once(COUNT);
		app_mount(&app, NULL);
		assert_each_file_once(COUNT);
		ck_assert_int_eq(harness_unmount(&h), 0);
		app_mount(&app, NULL);
	}
	/* Killed in the middle of purging: what is gone must be a purge.
	 * The grace passes on the test clock after the startup scan, so
	 * that the purge is the killed scan's. */
	ck_assert_int_eq(harness_unmount(&h), 0);
	app_mount(&app, "grace = 1h\nmin_age = 1h\n");
	app_advance_clock(&app, GRACE_1H_PASSED_MS);
	scan_in_background_and_kill(bulk_in_quarantine);
	app_mount(&app, "grace = 1h\n");
	ck_assert(app_in_backing(&app, "bulk/f0000.jpg"));
	ck_assert_int_eq(app_mediactl(&app, &r, "check", NULL), 0);
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
		int places = app_in_backing(&app, name) + quarantined[i];
		ck_assert_msg(places <= 1, "'%s' is in two places", name);
		if (places == 0)
			ck_assert_msg(json_object_get(purged, name) != NULL,
				      "'%s' is gone but the catalog does not say purged", name);
	}
	json_decref(purged);
	free(quarantined);
}
END_TEST

static Suite *checker_suite(bool on_pg)
{
	Suite *s = suite_create(on_pg ? "checker-postgresql" : "checker-sqlite");
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
	app_require_mediactl();
	return app_run_over_both(checker_suite, &pg, &use_pg);
}
