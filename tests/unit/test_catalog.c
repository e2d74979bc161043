/*
 * Unit tests for the SQLite catalog (refdb/catalog_sqlite*.c) on a
 * temporary database: every event, directory renames with many
 * descendants, adoption and its races with events, migrations.
 */
#include <check.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "catalog.h"

static char dir[] = "/tmp/mediafs-test-catalog-XXXXXX";
static char db_path[256];
static struct catalog *cat;

static void setup(void)
{
	char error[512];

	strcpy(dir, "/tmp/mediafs-test-catalog-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(db_path, sizeof(db_path), "%s/catalog.db", dir);
	ck_assert_msg(catalog_open(db_path, true, &cat, error, sizeof(error)) == 0, "%s", error);
}

static void teardown(void)
{
	char cmd[512];

	catalog_close(cat);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static void apply(struct catalog_event ev)
{
	ck_assert_msg(catalog_apply_events(cat, &ev, 1) == 0, "apply: %s",
		      catalog_last_error(cat));
}

static struct catalog_event created(const char *path, ino_t ino, int64_t t)
{
	return (struct catalog_event){ .kind = CATALOG_EVENT_CREATED, .time_ms = t,
				       .path = path, .dev = 1, .ino = ino, .size = 0,
				       .mtime_ms = t };
}

static bool has_current(const char *path, enum catalog_state state)
{
	struct catalog_row row;
	bool found = catalog_get_current(cat, path, &row) == 0 && row.state == state;

	catalog_row_clear(&row);
	return found;
}

/* The first column of the first row of sql, run on the database at path. */
static int count_sql_in(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int n = -1;

	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

static int count_sql(const char *sql)
{
	return count_sql_in(db_path, sql);
}

/* The schema version written in the file, as the next open reads it. */
static int schema_version(const char *path)
{
	return count_sql_in(path, "PRAGMA user_version");
}

struct audit_probe {
	const char *reason;
	int count;
	char last_detail[256];
};

static int probe_audit(void *ctx, const struct catalog_audit *entry)
{
	struct audit_probe *probe = ctx;

	if (strcmp(entry->reason, probe->reason) == 0) {
		probe->count++;
		snprintf(probe->last_detail, sizeof(probe->last_detail), "%s",
			 entry->detail ? entry->detail : "");
	}
	return 0;
}

static int audit_count(const char *path, const char *reason)
{
	struct audit_probe probe = { .reason = reason };

	ck_assert_int_eq(catalog_query_audit(cat, 0, path, 0, probe_audit, &probe), 0);
	return probe.count;
}

START_TEST(test_new_catalog_has_current_schema)
{
	ck_assert_int_eq(schema_version(db_path), CATALOG_SCHEMA_VERSION);
}
END_TEST

START_TEST(test_version_zero_database_is_migrated)
{
	char path[300], error[512];
	struct catalog *other;
	sqlite3 *db;

	snprintf(path, sizeof(path), "%s/old.db", dir);
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "CREATE TABLE unrelated (x)", NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	ck_assert_int_eq(catalog_open(path, false, &other, error, sizeof(error)), 0);
	ck_assert_int_eq(schema_version(path), CATALOG_SCHEMA_VERSION);
	struct catalog_event ev = created("x.jpg", 5, 100);
	ck_assert_int_eq(catalog_apply_events(other, &ev, 1), 0);
	catalog_close(other);
}
END_TEST

START_TEST(test_scan_record_keeps_its_spellings_and_near_misses)
{
	struct catalog_scan scan = { .status = CATALOG_SCAN_DONE, .respelled = 3,
				     .near_misses = 2 }, read;

	ck_assert_int_eq(catalog_scan_begin(cat, 100, "manual", &scan.id), 0);
	snprintf(scan.near_miss_examples, sizeof(scan.near_miss_examples),
		 "'case.jpg' ~ 'Case.JPG'\n' a.jpg' ~ 'a.jpg'");
	ck_assert_int_eq(catalog_scan_end(cat, &scan), 0);
	ck_assert_int_eq(catalog_scan_get(cat, scan.id, &read), 0);
	ck_assert_uint_eq(read.respelled, 3);
	ck_assert_uint_eq(read.near_misses, 2);
	ck_assert_str_eq(read.near_miss_examples, scan.near_miss_examples);
}
END_TEST

START_TEST(test_scan_record_keeps_its_hostile_examples)
{
	struct catalog_scan scan = { .status = CATALOG_SCAN_DONE, .hostile = 2 }, read;

	ck_assert_int_eq(catalog_scan_begin(cat, 100, "manual", &scan.id), 0);
	snprintf(scan.hostile_examples, sizeof(scan.hostile_examples),
		 "source 'app': ../x (dotdot)\nsource 'app': /etc/passwd (absolute)");
	ck_assert_int_eq(catalog_scan_end(cat, &scan), 0);
	ck_assert_int_eq(catalog_scan_get(cat, scan.id, &read), 0);
	ck_assert_uint_eq(read.hostile, 2);
	ck_assert_str_eq(read.hostile_examples, scan.hostile_examples);
}
END_TEST

START_TEST(test_newer_schema_is_refused)
{
	char path[300], error[512];
	struct catalog *other;
	sqlite3 *db;

	snprintf(path, sizeof(path), "%s/new.db", dir);
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	ck_assert_int_eq(catalog_open(path, false, &other, error, sizeof(error)), -EPROTO);
	ck_assert_msg(strstr(error, "schema version 99") != NULL, "%s", error);
}
END_TEST

START_TEST(test_created_file_is_live_with_audit)
{
	struct catalog_row row;

	apply(created("photos/a.jpg", 10, 1000));
	ck_assert_int_eq(catalog_get_current(cat, "photos/a.jpg", &row), 0);
	ck_assert_int_eq(row.state, CATALOG_LIVE);
	ck_assert_int_eq(row.first_seen_ms, 1000);
	ck_assert_int_eq(row.activity_ms, 1000);
	ck_assert_int_eq(row.ino, 10);
	ck_assert_str_eq(row.state_reason, "created");
	catalog_row_clear(&row);
	ck_assert_int_eq(audit_count("photos/a.jpg", "created"), 1);
	apply(created("photos/a.jpg", 10, 1001));
	ck_assert_msg(audit_count("photos/a.jpg", "created") == 1,
		      "the same creation seen twice is one row and one entry");
}
END_TEST

START_TEST(test_written_updates_by_inode)
{
	struct catalog_row row;

	apply(created("a.jpg", 10, 1000));
	apply((struct catalog_event){ .kind = CATALOG_EVENT_WRITTEN, .time_ms = 2000,
				      .dev = 1, .ino = 10, .size = 1234, .mtime_ms = 1999 });
	ck_assert_int_eq(catalog_get_current(cat, "a.jpg", &row), 0);
	ck_assert_int_eq(row.size, 1234);
	ck_assert_int_eq(row.mtime_ms, 1999);
	ck_assert_int_eq(row.last_written_ms, 2000);
	ck_assert_int_eq(row.activity_ms, 2000);
	ck_assert_int_eq(row.first_seen_ms, 1000);
	catalog_row_clear(&row);
}
END_TEST

START_TEST(test_written_unknown_file_is_added)
{
	apply((struct catalog_event){ .kind = CATALOG_EVENT_WRITTEN, .time_ms = 2000,
				      .path = "new.jpg", .dev = 1, .ino = 77, .size = 5 });
	ck_assert(has_current("new.jpg", CATALOG_LIVE));
}
END_TEST

START_TEST(test_written_quarantined_file_is_recorded_on_its_row)
{
	apply(created("a.jpg", 10, 1000));
	apply((struct catalog_event){ .kind = CATALOG_EVENT_QUARANTINED, .time_ms = 2000,
				      .path = "a.jpg", .dev = 1, .ino = 10, .size = 3,
				      .quarantine_name = "u1/a.jpg", .reason = "unlinked" });
	/* Written through a descriptor opened before the unlink. */
	apply((struct catalog_event){ .kind = CATALOG_EVENT_WRITTEN, .time_ms = 3000,
				      .dev = 1, .ino = 10, .size = 4321, .mtime_ms = 2999 });
	ck_assert_int_eq(count_sql("SELECT count(*) FROM files WHERE state = 'quarantined'"
				   " AND size = 4321 AND last_written_ms = 3000"
				   " AND state_changed_ms = 2000"), 1);
	ck_assert_msg(!has_current("a.jpg", CATALOG_LIVE), "no live row appears");
	ck_assert_int_eq(audit_count("a.jpg", "written"), 1);
	ck_assert_int_eq(count_sql("SELECT count(*) FROM files"), 1);
}
END_TEST

START_TEST(test_quarantine_of_a_row_another_file_took_is_refused)
{
	struct catalog_row row;

	apply(created("a.jpg", 10, 1000));
	ck_assert_int_eq(catalog_get_current(cat, "a.jpg", &row), 0);
	/* The checker moved inode 10; a new file was created at the path
	 * and its event applied before the move was recorded. */
	apply(created("a.jpg", 11, 2000));
	ck_assert_int_eq(catalog_set_quarantined(cat, row.id, 10, 2001, "unreferenced",
						 "s1/a.jpg", 1), -ENOENT);
	ck_assert_msg(has_current("a.jpg", CATALOG_LIVE), "the row stays with the new file");
	ck_assert_int_eq(catalog_set_quarantined(cat, row.id, 11, 2002, "unreferenced",
						 "s1/a.jpg", 1), 0);
	catalog_row_clear(&row);
}
END_TEST

START_TEST(test_link_and_symlink_add_rows)
{
	apply(created("a.jpg", 10, 1000));
	struct catalog_event link = created("b.jpg", 10, 1100);
	link.kind = CATALOG_EVENT_LINKED;
	apply(link);
	struct catalog_event sym = created("s.jpg", 11, 1200);
	sym.file_kind = CATALOG_SYMLINK;
	apply(sym);
	ck_assert(has_current("a.jpg", CATALOG_LIVE));
	ck_assert(has_current("b.jpg", CATALOG_LIVE));
	ck_assert_int_eq(audit_count("b.jpg", "linked"), 1);
	struct catalog_row row;
	ck_assert_int_eq(catalog_get_current(cat, "s.jpg", &row), 0);
	ck_assert_int_eq(row.kind, CATALOG_SYMLINK);
	catalog_row_clear(&row);
}
END_TEST

START_TEST(test_rename_moves_row_and_replaces_target)
{
	struct audit_probe probe = { .reason = "renamed" };
	struct catalog_row row;

	apply(created("a.jpg", 10, 1000));
	apply(created("b.jpg", 11, 1000));
	apply((struct catalog_event){ .kind = CATALOG_EVENT_RENAMED, .time_ms = 3000,
				      .path = "a.jpg", .path2 = "b.jpg" });
	ck_assert_int_eq(catalog_get_current(cat, "a.jpg", &row), -ENOENT);
	ck_assert_int_eq(catalog_get_current(cat, "b.jpg", &row), 0);
	ck_assert_int_eq(row.ino, 10);
	ck_assert_msg(row.activity_ms == 3000, "a rename counts as activity for min_age");
	catalog_row_clear(&row);
	ck_assert_int_eq(catalog_query_audit(cat, 0, "b.jpg", 0, probe_audit, &probe), 0);
	ck_assert_int_eq(probe.count, 1);
	ck_assert_str_eq(probe.last_detail, "a.jpg");
	ck_assert_int_eq(audit_count("b.jpg", "replaced"), 1);
	ck_assert_int_eq(count_sql("SELECT count(*) FROM files"), 1);
}
END_TEST

START_TEST(test_directory_rename_moves_every_descendant)
{
	enum { N = 1000 };
	struct catalog_event *events = calloc(N, sizeof(*events));
	char (*paths)[64] = calloc(N, 64);

	for (int i = 0; i < N; i++) {
		snprintf(paths[i], 64, "old/sub%d/f%04d.jpg", i % 10, i);
		events[i] = created(paths[i], (ino_t)(100 + i), 1000);
	}
	ck_assert_int_eq(catalog_apply_events(cat, events, N), 0);
	/* Neighbours that share the prefix's bytes but not the directory. */
	apply(created("old-other.jpg", 5000, 1000));
	apply(created("old0/x.jpg", 5001, 1000));
	apply(created("oldx", 5002, 1000));
	apply((struct catalog_event){ .kind = CATALOG_EVENT_RENAMED_DIR, .time_ms = 4000,
				      .path = "old", .path2 = "new/place" });
	ck_assert_int_eq(count_sql("SELECT count(*) FROM files WHERE"
				   " CAST(path AS TEXT) LIKE 'new/place/sub%/f%.jpg'"
				   " AND typeof(path) = 'blob'"), N);
	ck_assert_int_eq(count_sql("SELECT count(*) FROM files WHERE"
				   " CAST(path AS TEXT) LIKE 'old/%'"), 0);
	ck_assert(has_current("new/place/sub3/f0003.jpg", CATALOG_LIVE));
	ck_assert(has_current("old-other.jpg", CATALOG_LIVE));
	ck_assert(has_current("old0/x.jpg", CATALOG_LIVE));
	ck_assert(has_current("oldx", CATALOG_LIVE));
	ck_assert_int_eq(count_sql("SELECT count(*) FROM audit WHERE reason = 'renamed'"), N);
	free(events);
	free(paths);
}
END_TEST

START_TEST(test_exchange_swaps_files_and_directories)
{
	struct catalog_row row;

	apply(created("a.jpg", 10, 1000));
	apply(created("b.jpg", 11, 1000));
	apply((struct catalog_event){ .kind = CATALOG_EVENT_EXCHANGED, .time_ms = 2000,
				      .path = "a.jpg", .path2 = "b.jpg" });
	ck_assert_int_eq(catalog_get_current(cat, "a.jpg", &row), 0);
	ck_assert_int_eq(row.ino, 11);
	catalog_row_clear(&row);
	ck_assert_int_eq(catalog_get_current(cat, "b.jpg", &row), 0);
	ck_assert_int_eq(row.ino, 10);
	catalog_row_clear(&row);

	apply(created("d1/x", 20, 1000));
	apply(created("d2/y", 21, 1000));
	apply((struct catalog_event){ .kind = CATALOG_EVENT_EXCHANGED, .time_ms = 2000,
				      .path = "d1", .path2 = "d2", .is_dir = true,
				      .is_dir2 = true });
	ck_assert(has_current("d2/x", CATALOG_LIVE));
	ck_assert(has_current("d1/y", CATALOG_LIVE));
	ck_assert_int_eq(count_sql("SELECT count(*) FROM files"), 4);
}
END_TEST

START_TEST(test_removed_file_leaves_an_audit_entry)
{
	apply(created("a.jpg", 10, 1000));
	apply((struct catalog_event){ .kind = CATALOG_EVENT_REMOVED, .time_ms = 2000,
				      .path = "a.jpg", .reason = "unlinked" });
	ck_assert(!has_current("a.jpg", CATALOG_LIVE));
	ck_assert_int_eq(audit_count("a.jpg", "unlinked"), 1);
}
END_TEST

START_TEST(test_quarantined_file_keeps_its_path)
{
	struct catalog_row row;
	uint64_t counts[4], bytes[4];

	apply(created("a.jpg", 10, 1000));
	apply((struct catalog_event){ .kind = CATALOG_EVENT_QUARANTINED, .time_ms = 2000,
				      .path = "a.jpg", .dev = 1, .ino = 10,
				      .quarantine_name = "q1/a.jpg", .reason = "unlinked" });
	ck_assert_int_eq(catalog_get_current(cat, "a.jpg", &row), -ENOENT);
	ck_assert_int_eq(catalog_totals_by_state(cat, counts, bytes), 0);
	ck_assert_int_eq(counts[CATALOG_QUARANTINED], 1);
	ck_assert_int_eq(counts[CATALOG_LIVE], 0);
	apply(created("a.jpg", 12, 3000));
	ck_assert_msg(has_current("a.jpg", CATALOG_LIVE),
		      "a new file may take the path of a quarantined one");
	ck_assert_int_eq(catalog_totals_by_state(cat, counts, bytes), 0);
	ck_assert_int_eq(counts[CATALOG_QUARANTINED], 1);
	ck_assert_int_eq(counts[CATALOG_LIVE], 1);
	(void)row;
}
END_TEST

static int collect_ino(void *ctx, const char *path, ino_t ino)
{
	ino_t *seen = ctx;

	ck_assert_str_eq(path, "a.jpg");
	*seen = ino;
	return 0;
}

START_TEST(test_restores_by_access_are_counted_per_file)
{
	struct catalog_event quarantined = {
		.kind = CATALOG_EVENT_QUARANTINED, .time_ms = 2000, .path = "a.jpg", .dev = 1,
		.ino = 10, .quarantine_name = "s1/a.jpg", .reason = "unreferenced",
	};
	struct catalog_event restored = {
		.kind = CATALOG_EVENT_RESTORED, .time_ms = 3000, .path = "a.jpg",
		.quarantine_name = "s1/a.jpg", .reason = CATALOG_REASON_ACCESSED,
	};
	struct catalog_row row;
	ino_t seen = 0;

	apply(created("a.jpg", 10, 1000));
	ck_assert_int_eq(catalog_each_access_restored(cat, collect_ino, &seen), 0);
	ck_assert_msg(seen == 0, "no file was restored by access yet");
	apply(quarantined);
	apply(restored);
	ck_assert_int_eq(catalog_get_current(cat, "a.jpg", &row), 0);
	ck_assert_int_eq(row.access_restores, 1);
	catalog_row_clear(&row);
	/* A restore for another reason is not counted. */
	quarantined.quarantine_name = restored.quarantine_name = "s2/a.jpg";
	apply(quarantined);
	restored.reason = "referenced-again";
	apply(restored);
	ck_assert_int_eq(catalog_get_current(cat, "a.jpg", &row), 0);
	ck_assert_int_eq(row.access_restores, 1);
	catalog_row_clear(&row);
	ck_assert_int_eq(catalog_each_access_restored(cat, collect_ino, &seen), 0);
	ck_assert_int_eq(seen, 10);
}
END_TEST

START_TEST(test_events_apply_all_or_none)
{
	struct catalog_event events[2] = {
		created("a.jpg", 10, 1000),
		{ .kind = (enum catalog_event_kind)99, .path = "x" },
	};

	ck_assert_int_eq(catalog_apply_events(cat, events, 2), -EINVAL);
	ck_assert_msg(!has_current("a.jpg", CATALOG_LIVE),
		      "the first event was rolled back with the second");
}
END_TEST

START_TEST(test_paths_are_bytes)
{
	const char path[] = "raw/\xff\xfe-name.jpg";

	apply(created(path, 10, 1000));
	struct catalog_row row;
	ck_assert_int_eq(catalog_get_current(cat, path, &row), 0);
	ck_assert_msg(memcmp(row.path, path, sizeof(path)) == 0, "bytes come back unchanged");
	catalog_row_clear(&row);
}
END_TEST

static void found(const char *path, ino_t ino, int64_t size)
{
	struct catalog_found f = { .path = path, .dev = 1, .ino = ino, .size = size };

	ck_assert_int_eq(catalog_adopt_add(cat, &f), 0);
}

START_TEST(test_adoption_adds_unknown_and_marks_missing)
{
	struct catalog_adopt_result result;
	struct catalog_row row;

	apply(created("known.jpg", 10, 1000));
	apply(created("gone.jpg", 11, 1000));
	ck_assert_int_eq(catalog_adopt_begin(cat, 5000), 0);
	found("known.jpg", 10, 0);
	found("new.jpg", 12, 7);
	ck_assert_int_eq(catalog_adopt_finish(cat, 6000, &result), 0);
	ck_assert_uint_eq(result.found, 2);
	ck_assert_uint_eq(result.adopted, 1);
	ck_assert_uint_eq(result.missing, 1);
	ck_assert_int_eq(catalog_get_current(cat, "new.jpg", &row), 0);
	ck_assert_msg(row.first_seen_ms == 6000 && row.activity_ms == 6000,
		      "an adopted file is first seen now, so min_age protects it");
	ck_assert_int_eq(row.size, 7);
	catalog_row_clear(&row);
	ck_assert(has_current("gone.jpg", CATALOG_MISSING));
	ck_assert_int_eq(audit_count("new.jpg", "adopted"), 1);
	ck_assert_int_eq(audit_count("gone.jpg", "not found when mounted"), 1);
	/* Adoption is over: a removal applies without noting the path for a
	 * walk (whose table went with the adoption). */
	apply((struct catalog_event){ .kind = CATALOG_EVENT_REMOVED, .time_ms = 7000,
				      .path = "new.jpg" });
	ck_assert(!has_current("new.jpg", CATALOG_LIVE));
}
END_TEST

START_TEST(test_adoption_revives_missing_and_notices_changes)
{
	struct catalog_adopt_result result;
	struct catalog_row row;

	apply(created("a.jpg", 10, 1000));
	ck_assert_int_eq(catalog_adopt_begin(cat, 5000), 0);
	ck_assert_int_eq(catalog_adopt_finish(cat, 6000, &result), 0);
	ck_assert(has_current("a.jpg", CATALOG_MISSING));
	apply(created("b.jpg", 20, 1000));
	ck_assert_int_eq(catalog_adopt_begin(cat, 7000), 0);
	found("a.jpg", 10, 0);
	found("b.jpg", 21, 99);
	ck_assert_int_eq(catalog_adopt_finish(cat, 8000, &result), 0);
	ck_assert_uint_eq(result.reappeared, 1);
	ck_assert_uint_eq(result.changed, 1);
	ck_assert(has_current("a.jpg", CATALOG_LIVE));
	ck_assert_int_eq(catalog_get_current(cat, "b.jpg", &row), 0);
	ck_assert_int_eq(row.ino, 21);
	ck_assert_int_eq(row.activity_ms, 8000);
	catalog_row_clear(&row);
}
END_TEST

/* A file replaced by a symbolic link while unmounted is a link now. */
START_TEST(test_adoption_tracks_a_file_that_became_a_link_as_a_link)
{
	struct catalog_adopt_result result;
	struct catalog_row row;
	struct catalog_found link = { .path = "logo.png", .kind = CATALOG_SYMLINK, .dev = 1,
				      .ino = 31, .size = 12 };
	struct catalog_found gone_link = { .path = "old.png", .kind = CATALOG_SYMLINK, .dev = 1,
					   .ino = 41, .size = 9 };

	apply(created("logo.png", 30, 1000));
	apply(created("old.png", 40, 1000));
	ck_assert_int_eq(catalog_adopt_begin(cat, 5000), 0);
	found("logo.png", 30, 0);
	ck_assert_int_eq(catalog_adopt_finish(cat, 6000, &result), 0);
	ck_assert(has_current("old.png", CATALOG_MISSING));
	ck_assert_int_eq(catalog_adopt_begin(cat, 7000), 0);
	ck_assert_int_eq(catalog_adopt_add(cat, &link), 0);
	ck_assert_int_eq(catalog_adopt_add(cat, &gone_link), 0);
	ck_assert_int_eq(catalog_adopt_finish(cat, 8000, &result), 0);
	ck_assert_int_eq(catalog_get_current(cat, "logo.png", &row), 0);
	ck_assert_msg(row.kind == CATALOG_SYMLINK, "a changed file that is a link now is one");
	catalog_row_clear(&row);
	ck_assert_int_eq(catalog_get_current(cat, "old.png", &row), 0);
	ck_assert_msg(row.state == CATALOG_LIVE && row.kind == CATALOG_SYMLINK,
		      "a missing file back as a link is one");
	catalog_row_clear(&row);
}
END_TEST

START_TEST(test_adoption_respects_events_during_the_walk)
{
	struct catalog_adopt_result result;

	apply(created("stays.jpg", 10, 1000));
	ck_assert_int_eq(catalog_adopt_begin(cat, 5000), 0);
	found("deleted-later.jpg", 11, 0);
	found("dir/moved-later.jpg", 12, 0);
	found("stays.jpg", 10, 0);
	ck_assert_int_eq(catalog_adopt_commit(cat), 0);
	/* Events after the walk saw these paths. */
	apply(created("deleted-later.jpg", 11, 5100));
	apply((struct catalog_event){ .kind = CATALOG_EVENT_REMOVED, .time_ms = 5200,
				      .path = "deleted-later.jpg" });
	apply((struct catalog_event){ .kind = CATALOG_EVENT_RENAMED_DIR, .time_ms = 5300,
				      .path = "dir", .path2 = "dir2" });
	apply(created("created-during.jpg", 13, 5400));
	ck_assert_int_eq(catalog_adopt_finish(cat, 6000, &result), 0);
	ck_assert_msg(!has_current("deleted-later.jpg", CATALOG_LIVE),
		      "a file removed during the walk is not adopted again");
	ck_assert_msg(!has_current("dir/moved-later.jpg", CATALOG_LIVE),
		      "a file whose directory moved during the walk is not adopted");
	ck_assert_msg(has_current("created-during.jpg", CATALOG_LIVE),
		      "a file created during the walk is not declared missing");
	ck_assert(has_current("stays.jpg", CATALOG_LIVE));
}
END_TEST

START_TEST(test_adoption_of_many_files_is_one_pass)
{
	enum { N = 20000 };
	struct catalog_adopt_result result;
	char path[64];

	ck_assert_int_eq(catalog_adopt_begin(cat, 5000), 0);
	for (int i = 0; i < N; i++) {
		snprintf(path, sizeof(path), "d%03d/f%05d.jpg", i % 100, i);
		found(path, (ino_t)(1000 + i), i);
		if (i % 5000 == 0)
			ck_assert_int_eq(catalog_adopt_commit(cat), 0);
	}
	ck_assert_int_eq(catalog_adopt_finish(cat, 6000, &result), 0);
	ck_assert_uint_eq(result.adopted, N);
	ck_assert_int_eq(count_sql("SELECT count(*) FROM files WHERE state = 'live'"), N);
	ck_assert_int_eq(count_sql("SELECT count(*) FROM audit WHERE reason = 'adopted'"), N);
	/* A second adoption of the same tree changes nothing. */
	ck_assert_int_eq(catalog_adopt_begin(cat, 7000), 0);
	for (int i = 0; i < N; i++) {
		snprintf(path, sizeof(path), "d%03d/f%05d.jpg", i % 100, i);
		found(path, (ino_t)(1000 + i), i);
	}
	ck_assert_int_eq(catalog_adopt_finish(cat, 8000, &result), 0);
	ck_assert_uint_eq(result.adopted, 0);
	ck_assert_uint_eq(result.missing, 0);
	ck_assert_uint_eq(result.changed, 0);
}
END_TEST

/* a.jpg (inode 10) unlinked into the quarantine: its row's id. */
static int64_t quarantine_a(void)
{
	int64_t id;

	apply(created("a.jpg", 10, 1000));
	apply((struct catalog_event){ .kind = CATALOG_EVENT_QUARANTINED, .time_ms = 2000,
				      .path = "a.jpg", .dev = 1, .ino = 10,
				      .quarantine_name = "q1/a.jpg", .reason = "unlinked" });
	ck_assert_int_eq(catalog_find_quarantined(cat, "q1/a.jpg", &id), 0);
	ck_assert_int_ne(id, 0);
	return id;
}

/*
 * The order a loaded daemon met: a restore puts a.jpg back; an adoption
 * walk, retried meanwhile, meets the file and adopts it; the startup
 * reconcile records the restore; then the restore itself records it, on
 * its own connection.  The row stays live, with its history.
 */
START_TEST(test_restore_recorded_twice_after_an_adoption_keeps_the_row)
{
	struct catalog_adopt_result result;
	struct catalog *admin;
	struct catalog_row row;
	char error[512];
	int64_t id = quarantine_a();

	ck_assert_int_eq(catalog_adopt_begin(cat, 3000), 0);
	found("a.jpg", 10, 0);
	ck_assert_int_eq(catalog_adopt_finish(cat, 4000, &result), 0);
	ck_assert_uint_eq(result.adopted, 1);
	ck_assert_msg(catalog_set_restored(cat, id, 5000, "recovered", NULL) == 0,
		      "the reconcile: %s", catalog_last_error(cat));
	ck_assert_msg(catalog_open(db_path, false, &admin, error, sizeof(error)) == 0, "%s",
		      error);
	ck_assert_msg(catalog_set_restored(admin, id, 5001, "admin", "a.jpg") == 0,
		      "the restore: %s", catalog_last_error(admin));
	catalog_close(admin);

	ck_assert_int_eq(catalog_get_current(cat, "a.jpg", &row), 0);
	ck_assert_int_eq(row.id, id);
	ck_assert_int_eq(row.state, CATALOG_LIVE);
	catalog_row_clear(&row);
	ck_assert_int_eq(count_sql("SELECT count(*) FROM files"), 1);
	ck_assert_int_eq(audit_count("a.jpg", "superseded by a restore"), 1);
	ck_assert_int_eq(audit_count("a.jpg", "recovered"), 1);
}
END_TEST

/* A missing or live row left at the path gives way; a purged row cannot
 * come back, and says so. */
START_TEST(test_restore_replaces_a_current_row_in_one_step)
{
	struct catalog_row row;
	int64_t id = quarantine_a();

	apply(created("a.jpg", 11, 3000));
	ck_assert_msg(catalog_set_restored(cat, id, 4000, "admin", NULL) == 0, "%s",
		      catalog_last_error(cat));
	ck_assert_int_eq(catalog_get_current(cat, "a.jpg", &row), 0);
	ck_assert_int_eq(row.id, id);
	catalog_row_clear(&row);
	ck_assert_int_eq(count_sql("SELECT count(*) FROM files WHERE state = 'live'"), 1);

	apply((struct catalog_event){ .kind = CATALOG_EVENT_QUARANTINED, .time_ms = 5000,
				      .path = "a.jpg", .dev = 1, .ino = 10,
				      .quarantine_name = "q2/a.jpg", .reason = "unlinked" });
	ck_assert_int_eq(catalog_set_purged(cat, id, 6000, "expired"), 0);
	ck_assert_int_eq(catalog_set_restored(cat, id, 7000, "admin", NULL), -ENOENT);
	ck_assert_int_eq(catalog_set_restored(cat, id + 100, 7000, "admin", NULL), -ENOENT);
	ck_assert_msg(strstr(catalog_last_error(cat), "not in the catalog"), "%s",
		      catalog_last_error(cat));
}
END_TEST

static const struct catalog_found moved_a = { .path = "a.jpg", .dev = 1, .ino = 10 };

/* The startup reconcile meets q1/a.jpg before the event of the unlink
 * that put it there is applied: one row keeps the name, the one with
 * the file's history. */
START_TEST(test_quarantine_recorded_by_reconcile_then_event_is_one_row)
{
	struct catalog_event unlinked = {
		.kind = CATALOG_EVENT_QUARANTINED, .time_ms = 2000, .path = "a.jpg", .dev = 1,
		.ino = 10, .quarantine_name = "q1/a.jpg", .reason = "unlinked" };
	int64_t id;

	apply(created("a.jpg", 10, 1000));
	ck_assert_int_eq(catalog_recover_quarantined(cat, "a.jpg", "q1/a.jpg", &moved_a, 1500,
						     "recovered from the quarantine"), 0);
	apply(unlinked);
	ck_assert_int_eq(count_sql("SELECT count(*) FROM files"), 1);
	ck_assert_int_eq(catalog_find_quarantined(cat, "q1/a.jpg", &id), 0);
	ck_assert_int_eq(count_sql("SELECT count(*) FROM files WHERE first_seen_ms = 1000"
				   " AND state = 'quarantined'"), 1);
	ck_assert_int_eq(audit_count("a.jpg", "recorded by its event"), 1);
}
END_TEST

/* The event is applied between the reconcile's look and its record. */
START_TEST(test_quarantine_recorded_by_event_is_not_recovered_again)
{
	struct catalog_row row;
	int64_t id = quarantine_a();

	ck_assert_int_eq(catalog_recover_quarantined(cat, "a.jpg", "q1/a.jpg", &moved_a, 3000,
						     "recovered from the quarantine"), -EEXIST);
	ck_assert_int_eq(count_sql("SELECT count(*) FROM files"), 1);
	ck_assert_int_eq(catalog_get_row(cat, id, &row), 0);
	ck_assert_int_eq(row.state, CATALOG_QUARANTINED);
	catalog_row_clear(&row);
}
END_TEST

static int count_row(void *ctx, const struct catalog_row *row)
{
	(void)row;
	(*(int *)ctx)++;
	return 0;
}

static int query_count(struct catalog_filter filter)
{
	int n = 0;

	ck_assert_msg(catalog_query_rows(cat, &filter, count_row, &n) == 0, "query: %s",
		      catalog_last_error(cat));
	return n;
}

START_TEST(test_query_rows_applies_each_filter)
{
	struct catalog_row row;

	apply(created("photos/a.jpg", 10, 1000));
	apply(created("photos/b.jpg", 11, 2000));
	apply(created("photosx/c.jpg", 12, 3000));
	apply(created("photos", 13, 3000));
	apply((struct catalog_event){ .kind = CATALOG_EVENT_WRITTEN, .time_ms = 4000,
				      .path = "photos/b.jpg", .dev = 1, .ino = 11, .size = 500,
				      .mtime_ms = 4000 });
	apply((struct catalog_event){ .kind = CATALOG_EVENT_QUARANTINED, .time_ms = 5000,
				      .path = "photos/a.jpg", .quarantine_name = "q1/a.jpg",
				      .reason = "unlinked" });
	ck_assert_int_eq(catalog_get_current(cat, "photosx/c.jpg", &row), 0);
	ck_assert_int_eq(catalog_set_quarantined(cat, row.id, 12, 6000, "unreferenced",
						 "q2/c.jpg", 7), 0);
	catalog_row_clear(&row);

	ck_assert_int_eq(query_count((struct catalog_filter){ .state = -1 }), 4);
	ck_assert_msg(query_count((struct catalog_filter){ .state = -1, .prefix = "photos" }) == 3,
		      "a prefix selects itself and what is under it, not photosx/");
	ck_assert_int_eq(query_count((struct catalog_filter){ .state = CATALOG_LIVE }), 2);
	ck_assert_msg(query_count((struct catalog_filter){ .state = -1,
							   .changed_before_ms = 3500 }) == 1,
		      "live rows by activity (the write counts), others by their change");
	ck_assert_int_eq(query_count((struct catalog_filter){ .state = -1, .larger_than = 100 }),
			 1);
	ck_assert_int_eq(query_count((struct catalog_filter){ .state = -1, .scan_id = 7 }), 1);
	ck_assert_int_eq(query_count((struct catalog_filter){
				 .state = -1, .state_changed_since_ms = 5000 }), 2);
	ck_assert_int_eq(query_count((struct catalog_filter){ .state = -1,
							      .path = "photos/b.jpg" }), 1);
	ck_assert_int_eq(query_count((struct catalog_filter){ .state = -1, .limit = 3 }), 3);
	ck_assert_int_eq(query_count((struct catalog_filter){
				 .state = CATALOG_QUARANTINED, .prefix = "photos",
				 .state_changed_since_ms = 5000, .limit = 10 }), 1);
}
END_TEST

static int collect_candidate(void *ctx, int64_t file_id)
{
	int64_t *sum = ctx;

	*sum += file_id;
	return 0;
}

START_TEST(test_held_scan_keeps_its_candidates_until_decided)
{
	const int64_t ids[] = { 3, 5, 5, 9 };
	struct catalog_scan scan = { .status = CATALOG_SCAN_HELD }, held;
	int64_t sum = 0;

	ck_assert_int_eq(catalog_scan_begin(cat, 100, "interval", &scan.id), 0);
	ck_assert_int_eq(catalog_scan_keep_candidates(cat, scan.id, ids, 4), 0);
	ck_assert_int_eq(catalog_scan_end(cat, &scan), 0);
	ck_assert_int_eq(catalog_scan_get_held(cat, &held), 0);
	ck_assert_int_eq(held.id, scan.id);
	ck_assert_str_eq(held.trigger, "interval");
	ck_assert_int_eq(catalog_scan_each_candidate(cat, scan.id, collect_candidate, &sum), 0);
	ck_assert_msg(sum == 17, "each candidate once: %lld", (long long)sum);
	ck_assert_int_eq(catalog_scan_decide(cat, scan.id, CATALOG_SCAN_CONFIRMED, 200), 0);
	ck_assert_int_eq(catalog_scan_decide(cat, scan.id, CATALOG_SCAN_REJECTED, 300), -ENOENT);
	ck_assert_int_eq(catalog_scan_get_held(cat, &held), -ENOENT);
	ck_assert_int_eq(catalog_scan_get(cat, 0, &held), 0);
	ck_assert_int_eq(held.status, CATALOG_SCAN_CONFIRMED);
	ck_assert_int_eq(held.decided_ms, 200);
}
END_TEST

struct unsized {
	int64_t ids[4];
	size_t count;
};

static int collect_unsized(void *ctx, int64_t id, const char *path)
{
	struct unsized *unsized = ctx;

	ck_assert_ptr_nonnull(path);
	ck_assert_uint_lt(unsized->count, 4);
	unsized->ids[unsized->count++] = id;
	return 0;
}

START_TEST(test_sizes_left_unknown_by_adoption_are_filled)
{
	struct catalog_adopt_result result;
	struct unsized unsized = { .count = 0 };
	struct catalog_size sizes[2];
	struct catalog_row row;

	ck_assert_int_eq(catalog_adopt_begin(cat, 5000), 0);
	found("a.jpg", 10, -1);
	found("b.jpg", 11, -1);
	found("c.jpg", 12, 30);
	ck_assert_int_eq(catalog_adopt_finish(cat, 6000, &result), 0);
	ck_assert_int_eq(catalog_next_unsized(cat, 0, 10, collect_unsized, &unsized), 0);
	ck_assert_uint_eq(unsized.count, 2);
	for (size_t i = 0; i < 2; i++)
		sizes[i] = (struct catalog_size){ .id = unsized.ids[i], .size = 100 + (int64_t)i,
						  .mtime_ms = 4000 };
	ck_assert_int_eq(catalog_set_sizes(cat, sizes, 2), 0);
	unsized.count = 0;
	ck_assert_int_eq(catalog_next_unsized(cat, 0, 10, collect_unsized, &unsized), 0);
	ck_assert_uint_eq(unsized.count, 0);
	ck_assert_int_eq(catalog_get_current(cat, "b.jpg", &row), 0);
	ck_assert_int_eq(row.size, 101);
	catalog_row_clear(&row);
}
END_TEST

static int count_pin(void *ctx, const char *pattern, int64_t created_ms)
{
	(void)pattern;
	(void)created_ms;
	(*(int *)ctx)++;
	return 0;
}

START_TEST(test_pins_and_facts_round_trip)
{
	char *value;
	int pins = 0;

	ck_assert_int_eq(catalog_pin_add(cat, "logos/*", 100), 0);
	ck_assert_int_eq(catalog_pin_add(cat, "logos/*", 200), 0);
	ck_assert_int_eq(catalog_each_pin(cat, count_pin, &pins), 0);
	ck_assert_int_eq(pins, 1);
	ck_assert_int_eq(catalog_pin_remove(cat, "logos/*"), 0);
	ck_assert_int_eq(catalog_pin_remove(cat, "logos/*"), -ENOENT);
	ck_assert_int_eq(catalog_meta_get(cat, CATALOG_META_CONFIG_PATH, &value), -ENOENT);
	ck_assert_ptr_null(value);
	ck_assert_int_eq(catalog_meta_set(cat, CATALOG_META_CONFIG_PATH, "/etc/a.ini"), 0);
	ck_assert_int_eq(catalog_meta_set(cat, CATALOG_META_CONFIG_PATH, "/etc/b.ini"), 0);
	ck_assert_int_eq(catalog_meta_get(cat, CATALOG_META_CONFIG_PATH, &value), 0);
	ck_assert_str_eq(value, "/etc/b.ini");
	free(value);
}
END_TEST

static Suite *catalog_suite(void)
{
	Suite *s = suite_create("catalog");
	TCase *schema = tcase_create("schema");
	TCase *events = tcase_create("events");
	TCase *adoption = tcase_create("adoption");
	TCase *queries = tcase_create("queries, scans and pins");

	tcase_add_checked_fixture(schema, setup, teardown);
	tcase_add_test(schema, test_new_catalog_has_current_schema);
	tcase_add_test(schema, test_version_zero_database_is_migrated);
	tcase_add_test(schema, test_newer_schema_is_refused);
	tcase_add_test(schema, test_scan_record_keeps_its_hostile_examples);
	tcase_add_test(schema, test_scan_record_keeps_its_spellings_and_near_misses);
	suite_add_tcase(s, schema);

	tcase_add_checked_fixture(events, setup, teardown);
	tcase_add_test(events, test_created_file_is_live_with_audit);
	tcase_add_test(events, test_written_updates_by_inode);
	tcase_add_test(events, test_written_unknown_file_is_added);
	tcase_add_test(events, test_written_quarantined_file_is_recorded_on_its_row);
	tcase_add_test(events, test_quarantine_of_a_row_another_file_took_is_refused);
	tcase_add_test(events, test_link_and_symlink_add_rows);
	tcase_add_test(events, test_rename_moves_row_and_replaces_target);
	tcase_add_test(events, test_directory_rename_moves_every_descendant);
	tcase_add_test(events, test_exchange_swaps_files_and_directories);
	tcase_add_test(events, test_removed_file_leaves_an_audit_entry);
	tcase_add_test(events, test_quarantined_file_keeps_its_path);
	tcase_add_test(events, test_restores_by_access_are_counted_per_file);
	tcase_add_test(events, test_events_apply_all_or_none);
	tcase_add_test(events, test_paths_are_bytes);
	suite_add_tcase(s, events);

	tcase_add_checked_fixture(adoption, setup, teardown);
	tcase_set_timeout(adoption, 60);
	tcase_add_test(adoption, test_adoption_adds_unknown_and_marks_missing);
	tcase_add_test(adoption, test_adoption_revives_missing_and_notices_changes);
	tcase_add_test(adoption, test_adoption_tracks_a_file_that_became_a_link_as_a_link);
	tcase_add_test(adoption, test_adoption_respects_events_during_the_walk);
	tcase_add_test(adoption, test_adoption_of_many_files_is_one_pass);
	tcase_add_test(adoption, test_restore_recorded_twice_after_an_adoption_keeps_the_row);
	tcase_add_test(adoption, test_restore_replaces_a_current_row_in_one_step);
	tcase_add_test(adoption, test_quarantine_recorded_by_reconcile_then_event_is_one_row);
	tcase_add_test(adoption, test_quarantine_recorded_by_event_is_not_recovered_again);
	suite_add_tcase(s, adoption);

	tcase_add_checked_fixture(queries, setup, teardown);
	tcase_add_test(queries, test_query_rows_applies_each_filter);
	tcase_add_test(queries, test_held_scan_keeps_its_candidates_until_decided);
	tcase_add_test(queries, test_sizes_left_unknown_by_adoption_are_filled);
	tcase_add_test(queries, test_pins_and_facts_round_trip);
	suite_add_tcase(s, queries);
	return s;
}

int main(void)
{
	SRunner *runner = srunner_create(catalog_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
