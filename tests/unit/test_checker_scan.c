/*
 * Unit tests of the checker's gathering and acting (fs/checker_gather.c,
 * fs/checker_act.c) without the thread and without a mount: a temporary
 * BACKING with a real SQLite catalog, a real SQLite application database
 * as the source, and fakes only at the seams (store_ops for a rename that
 * fails, source_open_with_ops for a source that fails, an SQLite trigger
 * for a catalog write that fails).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checker_i.h"
#include "clock.h"
#include "mount_hooks.h"
#include "pathmap.h"
#include "refset.h"
#include "safekeep.h"
#include "source_i.h"

enum { HOUR_MS = 60 * 60 * 1000 };

static char backing[] = "/tmp/mediafs-test-checker-XXXXXX";
static char appdir[] = "/tmp/mediafs-test-checker-app-XXXXXX";
static char catalog_path[PATH_MAX];
static struct mediafs fs;
static struct config cfg;
static struct checker *checker;
static struct catalog *cat;	/* the test's own connection */

/* ------------------------------------------------------------------ */
/* The fixture: BACKING, its catalog, the application's database        */
/* ------------------------------------------------------------------ */

static void run_sql(const char *db_path, const char *sql)
{
	sqlite3 *db;
	char *message = NULL;

	ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
	ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, &message) == SQLITE_OK, "%s: %s", sql,
		      message ? message : "?");
	sqlite3_close(db);
}

/* The application's database references exactly these paths. */
static void reference(const char *const *paths, size_t count)
{
	char db[PATH_MAX], sql[512];

	snprintf(db, sizeof(db), "%s/app.db", appdir);
	run_sql(db, "DELETE FROM photo");
	for (size_t i = 0; i < count; i++) {
		snprintf(sql, sizeof(sql), "INSERT INTO photo (image) VALUES ('%s')", paths[i]);
		run_sql(db, sql);
	}
}

/* A file in BACKING that the catalog saw created age_ms ago. */
static void track_file(const char *rel, int64_t age_ms)
{
	char path[PATH_MAX];
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", backing, rel);
	fd = open(path, O_CREAT | O_WRONLY | O_EXCL, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "data", 4), 4);
	ck_assert_int_eq(fstat(fd, &st), 0);
	close(fd);
	struct catalog_event ev = {
		.kind = CATALOG_EVENT_CREATED,
		.time_ms = clock_now_ms() - age_ms,
		.path = rel,
		.file_kind = CATALOG_FILE,
		.dev = st.st_dev,
		.ino = st.st_ino,
		.size = st.st_size,
		.mtime_ms = clock_ms_of(&st.st_mtim),
	};
	ck_assert_int_eq(catalog_apply_events(cat, &ev, 1), 0);
}

static bool in_backing(const char *rel)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", backing, rel);
	return lstat(path, &st) == 0;
}

static int take_state(void *ctx, const struct catalog_row *row)
{
	*(int *)ctx = (int)row->state;
	return 0;
}

/* The catalog state of the one row of rel, or -1. */
static int state_of(const char *rel)
{
	struct catalog_filter filter = { .path = rel, .state = -1 };
	int state = -1;

	ck_assert_int_eq(catalog_query_rows(cat, &filter, take_state, &state), 0);
	return state;
}

static void setup(void)
{
	char why[1024], config_text[PATH_MAX + 256], db[PATH_MAX];
	int err;

	strcpy(backing, "/tmp/mediafs-test-checker-XXXXXX");
	strcpy(appdir, "/tmp/mediafs-test-checker-app-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(backing));
	ck_assert_ptr_nonnull(mkdtemp(appdir));
	snprintf(db, sizeof(db), "%s/app.db", appdir);
	run_sql(db, "CREATE TABLE photo (id INTEGER PRIMARY KEY, image TEXT)");

	memset(&fs, 0, sizeof(fs));
	fs.quarantine.dir_fd = -1;
	ck_assert_int_eq(pthread_rwlock_init(&fs.dir_lock, NULL), 0);
	ck_assert_msg(store_open(&fs.store, backing, why, sizeof(why)) == 0, "%s", why);
	ck_assert_int_eq(inode_table_init(&fs.inodes, fs.store.root_fd, &fs.store.root_stat, 0),
			 0);
	fs.settings.temp_max_age_ms = CONFIG_DEFAULT_TEMP_MAX_AGE_MS;
	ck_assert_int_eq(store_state_path(&fs.store, CATALOG_FILE_NAME, catalog_path,
					  sizeof(catalog_path)), 0);
	err = catalog_open(catalog_path, true, &cat, why, sizeof(why));
	ck_assert_msg(err == 0, "%s", why);
	ck_assert_int_eq(safekeep_open(&fs, cat), 0);
	ck_assert_int_eq(quarantine_open(&fs.quarantine, &fs.store), 0);
	fs.quarantined = pathmap_new();
	fs.quarantined_dirs = pathmap_new();
	fs.young_referenced = pathmap_new();
	ck_assert(fs.quarantined && fs.quarantined_dirs && fs.young_referenced);

	/* Nothing is held for its size: these tests judge single files. */
	snprintf(config_text, sizeof(config_text),
		 "[mediafs]\nmin_age = 1h\ngrace = 7d\nmax_fraction = 1\n"
		 "[source app]\nurl = sqlite:///%s\ncolumns = photo.image\n", db);
	config_init_defaults(&cfg);
	err = config_load_buffer(&cfg, "test.ini", config_text, strlen(config_text), why,
				 sizeof(why));
	ck_assert_msg(err == 0, "%s", why);
}

static void teardown(void)
{
	char cmd[2 * PATH_MAX];

	if (checker)
		checker_free(checker);
	checker = NULL;
	catalog_close(cat);
	config_free(&cfg);
	pathmap_free(fs.quarantined);
	pathmap_free(fs.quarantined_dirs);
	pathmap_free(fs.young_referenced);
	safekeep_close(&fs);
	quarantine_close(&fs.quarantine);
	inode_table_destroy(&fs.inodes);
	store_close(&fs.store);
	pthread_rwlock_destroy(&fs.dir_lock);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", backing, appdir);
	ck_assert_int_eq(system(cmd), 0);
}

/* The checker, made after the test adjusted cfg. */
static void make_checker(void)
{
	char why[1024];

	ck_assert_msg(checker_create(&fs, &cfg, catalog_path, &checker, why, sizeof(why)) == 0,
		      "%s", why);
}

/* A scan's first half, numbered as a real scan. */
static void gather(struct scan_work *work, struct policy_source_outcome *outcomes)
{
	*work = (struct scan_work){ .checker = checker };
	ck_assert_int_eq(catalog_scan_begin(checker->cat, clock_now_ms(), "manual",
					    &work->record.id), 0);
	ck_assert_int_eq(checker_gather(work, outcomes, 0), 0);
}

static const struct policy_decision proceed = {
	.verdict = POLICY_PROCEED,
	.may_quarantine = true,
	.may_restore = true,
	.may_purge = true,
};

static bool is_candidate(const struct scan_work *work, const char *rel)
{
	for (size_t i = 0; i < work->quarantine.count; i++)
		if (strcmp(work->quarantine.items[i].path, rel) == 0)
			return true;
	return false;
}

/* ------------------------------------------------------------------ */
/* A source behind source_open_with_ops(): some values, then maybe a    */
/* failure                                                              */
/* ------------------------------------------------------------------ */

static const char *fake_values[4];
static int fake_fetches_left;	/* fetches that end well; then -EIO */

static int fake_describe(struct source *src, char *why, size_t why_size)
{
	(void)why;
	(void)why_size;
	snprintf(src->description, sizeof(src->description), "fake");
	return 0;
}

static int fake_connect(struct source *src, char *why, size_t why_size)
{
	(void)src;
	(void)why;
	(void)why_size;
	return 0;
}

static void fake_disconnect(struct source *src)
{
	(void)src;
}

static int fake_commit(struct source *src, char *why, size_t why_size)
{
	(void)src;
	(void)why;
	(void)why_size;
	return 0;
}

static int fake_fetch_column(struct source *src, const struct source_column *col,
			     struct source_sink *sink, char *why, size_t why_size)
{
	(void)src;
	(void)col;
	for (size_t i = 0; fake_values[i]; i++) {
		int err = source_take_value(sink, fake_values[i], strlen(fake_values[i]));
		if (err)
			return err;
	}
	/* A server that goes away after part of the rows. */
	if (fake_fetches_left-- <= 0) {
		snprintf(why, why_size, "the server went away in the middle");
		return -EIO;
	}
	return 0;
}

static const struct source_ops fake_ops = {
	.kind = "fake",
	.describe = fake_describe,
	.connect = fake_connect,
	.disconnect = fake_disconnect,
	.begin = fake_commit,
	.commit = fake_commit,
	.rollback = fake_disconnect,
	.fetch_column = fake_fetch_column,
};

/* The checker's source answers as the fake does. */
static void use_fake_source(int good_fetches)
{
	char why[SOURCE_ERROR_BYTES];

	fake_fetches_left = good_fetches;
	ck_assert_msg(source_open_with_ops(&checker->config.sources[0], &fake_ops,
					   &checker->sources[0], why, sizeof(why)) == 0, "%s", why);
}

/* ------------------------------------------------------------------ */
/* The mount's hooks, recorded                                          */
/* ------------------------------------------------------------------ */

static char invalidated[256];	/* names the checker told the kernel about */
static char progress_seen[64];	/* how far the scan said it was, meanwhile */

static void note_invalidated(struct mediafs *on, const char *rel)
{
	ck_assert_ptr_eq(on, &fs);
	snprintf(progress_seen, sizeof(progress_seen), "%s %llu of %llu",
		 checker_phase_name((enum checker_phase)atomic_load(&checker->progress_phase)),
		 (unsigned long long)atomic_load(&checker->progress_done),
		 (unsigned long long)atomic_load(&checker->progress_total));
	snprintf(invalidated + strlen(invalidated), sizeof(invalidated) - strlen(invalidated),
		 "%s;", rel);
}

static size_t no_error_counts(struct mediafs *on, const char **names, uint64_t *counts,
			      size_t max)
{
	(void)on;
	(void)names;
	(void)counts;
	(void)max;
	return 0;
}

static const struct mount_hooks recording_hooks = {
	.invalidate_name = note_invalidated,
	.invalidate_path = note_invalidated,
	.error_counts = no_error_counts,
};

/* ------------------------------------------------------------------ */
/* Gathering                                                            */
/* ------------------------------------------------------------------ */

START_TEST(test_orphan_older_than_min_age_becomes_a_candidate)
{
	struct policy_source_outcome outcomes[1];
	struct scan_work work;

	track_file("old.jpg", 2 * HOUR_MS);
	track_file("young.jpg", HOUR_MS / 6);
	make_checker();
	gather(&work, outcomes);
	ck_assert_uint_eq(work.counts.live, 2);
	ck_assert_msg(is_candidate(&work, "old.jpg"),
		      "an unreferenced file older than min_age is a candidate");
	ck_assert_msg(!is_candidate(&work, "young.jpg"),
		      "an unreferenced file younger than min_age is not");
	ck_assert_uint_eq(work.counts.candidates, 1);
	checker_free_work(&work);
}
END_TEST

START_TEST(test_referenced_file_is_never_a_candidate)
{
	static const char *const values[] = { "exact.jpg", "my%20photo.jpg" };
	struct policy_source_outcome outcomes[1];
	struct scan_work work;

	track_file("exact.jpg", 2 * HOUR_MS);
	track_file("my photo.jpg", 2 * HOUR_MS);
	track_file("orphan.jpg", 2 * HOUR_MS);
	reference(values, 2);
	make_checker();
	gather(&work, outcomes);
	ck_assert_msg(!outcomes[0].failed, "the source answered");
	ck_assert_msg(!is_candidate(&work, "exact.jpg"), "a value that names the file keeps it");
	ck_assert_msg(!is_candidate(&work, "my photo.jpg"),
		      "a value that names the file percent-encoded keeps it");
	ck_assert_msg(is_candidate(&work, "orphan.jpg"), "the orphan beside them goes");
	ck_assert_uint_eq(work.counts.candidates, 1);
	ck_assert_uint_eq(work.record.respelled, 1);
	checker_free_work(&work);
}
END_TEST

START_TEST(test_failing_source_gives_no_candidate)
{
	struct policy_source_outcome outcomes[1];
	struct scan_work work;

	fake_values[0] = "other.jpg";
	track_file("orphan.jpg", 2 * HOUR_MS);
	make_checker();
	use_fake_source(0);
	gather(&work, outcomes);
	ck_assert_msg(outcomes[0].failed, "the fetch that broke off is a failure");
	ck_assert_msg(strstr(work.source_errors, "went away") != NULL,
		      "the source's own words are kept: '%s'", work.source_errors);
	ck_assert_msg(work.quarantine.count == 0,
		      "an incomplete referenced set judges nothing (promise 4)");
	checker_free_work(&work);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Acting                                                               */
/* ------------------------------------------------------------------ */

START_TEST(test_scan_moves_the_orphan_and_keeps_the_referenced)
{
	static const char *const values[] = { "kept.jpg" };
	struct catalog_scan record;

	track_file("kept.jpg", 2 * HOUR_MS);
	track_file("orphan.jpg", 2 * HOUR_MS);
	reference(values, 1);
	/* The files on disk were written just now: min_age 0 lets them go. */
	cfg.settings.min_age_ms = 0;
	fs.hooks = &recording_hooks;
	make_checker();
	checker_run_scan(checker, "manual", false, 0, false, &record);
	ck_assert_int_eq(record.status, CATALOG_SCAN_DONE);
	ck_assert_uint_eq(record.quarantined, 1);
	ck_assert_msg(!in_backing("orphan.jpg"), "the orphan left its path");
	ck_assert_msg(strcmp(invalidated, "orphan.jpg;") == 0,
		      "the kernel hears of the moved name, and of it only: '%s'", invalidated);
	ck_assert_msg(strcmp(progress_seen, "moving 0 of 1") == 0,
		      "while it moves, the scan says how far it is: '%s'", progress_seen);
	ck_assert_int_eq(atomic_load(&checker->progress_phase), CHECKER_PHASE_NONE);
	ck_assert_int_eq(state_of("orphan.jpg"), CATALOG_QUARANTINED);
	ck_assert_msg(in_backing("kept.jpg"), "the referenced file stays");
	ck_assert_int_eq(state_of("kept.jpg"), CATALOG_LIVE);
}
END_TEST

START_TEST(test_file_open_for_writing_is_kept)
{
	struct policy_source_outcome outcomes[1];
	struct scan_work work;
	char path[PATH_MAX];
	struct inode *inode;
	struct stat st;
	uint64_t moves;
	int fd;

	track_file("open.jpg", 2 * HOUR_MS);
	cfg.settings.min_age_ms = 0;
	make_checker();
	snprintf(path, sizeof(path), "%s/open.jpg", backing);
	fd = open(path, O_PATH | O_NOFOLLOW);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	/* What an open for writing through the mount registers. */
	inode = inode_table_acquire(&fs.inodes, &st, &fd);
	ck_assert_ptr_nonnull(inode);
	if (fd >= 0)
		close(fd);
	if (inode_writer_begin(&fs.inodes, inode, INODE_UNCHECKED, &moves) == 1)
		inode_writer_checked(&fs.inodes, inode, moves);

	gather(&work, outcomes);
	ck_assert_msg(is_candidate(&work, "open.jpg"), "unreferenced and old enough");
	ck_assert_int_eq(checker_act(&work, &proceed), 0);
	ck_assert_uint_eq(work.record.kept_open, 1);
	ck_assert_uint_eq(work.record.quarantined, 0);
	ck_assert_msg(in_backing("open.jpg"), "a file open for writing does not move");
	ck_assert_int_eq(state_of("open.jpg"), CATALOG_LIVE);
	checker_free_work(&work);
	inode_writer_end(&fs.inodes, inode);
}
END_TEST

START_TEST(test_failing_source_moves_nothing)
{
	struct catalog_scan record;

	fake_values[0] = "other.jpg";
	track_file("orphan.jpg", 2 * HOUR_MS);
	cfg.settings.min_age_ms = 0;
	make_checker();
	use_fake_source(0);
	checker_run_scan(checker, "manual", false, 0, false, &record);
	ck_assert_int_eq(record.status, CATALOG_SCAN_FAILED);
	ck_assert_uint_eq(record.quarantined, 0);
	ck_assert_msg(strstr(record.message, "went away") != NULL,
		      "the scan says why: '%s'", record.message);
	ck_assert_msg(in_backing("orphan.jpg"), "nothing moves when a source fails");
	ck_assert_int_eq(state_of("orphan.jpg"), CATALOG_LIVE);
}
END_TEST

START_TEST(test_source_failing_at_the_confirmation_moves_nothing)
{
	struct policy_source_outcome outcomes[1];
	struct scan_work work;

	fake_values[0] = "other.jpg";
	track_file("orphan.jpg", 2 * HOUR_MS);
	cfg.settings.min_age_ms = 0;
	make_checker();
	use_fake_source(1);
	gather(&work, outcomes);
	ck_assert_msg(is_candidate(&work, "orphan.jpg"), "the first fetch went well");
	ck_assert_int_eq(checker_act(&work, &proceed), -EIO);
	ck_assert_uint_eq(work.record.quarantined, 0);
	ck_assert_msg(in_backing("orphan.jpg"), "nothing moves when the confirmation fails");
	ck_assert_int_eq(state_of("orphan.jpg"), CATALOG_LIVE);
	checker_free_work(&work);
}
END_TEST

static int failing_renameat2(int olddirfd, const char *oldpath, int newdirfd,
			     const char *newpath, unsigned int flags)
{
	(void)olddirfd;
	(void)oldpath;
	(void)newdirfd;
	(void)newpath;
	(void)flags;
	errno = EIO;
	return -1;
}

START_TEST(test_failed_rename_leaves_the_row_live_and_is_counted)
{
	struct store_ops failing = store_kernel_ops;
	struct policy_source_outcome outcomes[1];
	struct scan_work work;

	failing.renameat2 = failing_renameat2;
	track_file("orphan.jpg", 2 * HOUR_MS);
	cfg.settings.min_age_ms = 0;
	make_checker();
	gather(&work, outcomes);
	fs.store.ops = &failing;
	ck_assert_int_eq(checker_act(&work, &proceed), 0);
	fs.store.ops = &store_kernel_ops;
	ck_assert_int_eq(work.errors, 1);
	ck_assert_uint_eq(work.record.quarantined, 0);
	ck_assert_msg(in_backing("orphan.jpg"), "the file is where it was");
	ck_assert_int_eq(state_of("orphan.jpg"), CATALOG_LIVE);
	checker_free_work(&work);
}
END_TEST

START_TEST(test_purge_whose_record_fails_is_not_reported_done)
{
	/* A source that returns nothing holds the scan: it names another. */
	static const char *const values[] = { "elsewhere.jpg" };
	struct policy_source_outcome outcomes[1];
	struct catalog_scan record;
	struct scan_work work;

	track_file("orphan.jpg", 2 * HOUR_MS);
	reference(values, 1);
	cfg.settings.min_age_ms = 0;
	cfg.settings.grace_ms = 0;
	make_checker();
	checker_run_scan(checker, "manual", false, 0, false, &record);
	ck_assert_uint_eq(record.quarantined, 1);
	ck_assert_int_eq(state_of("orphan.jpg"), CATALOG_QUARANTINED);

	/* The catalog refuses the purge, as a full disk would. */
	run_sql(catalog_path, "CREATE TRIGGER refuse_purge BEFORE UPDATE OF state ON files "
			      "WHEN NEW.state = 'purged' BEGIN SELECT RAISE(ABORT, 'injected'); END");
	gather(&work, outcomes);
	ck_assert_uint_eq(work.others.count, 1);
	ck_assert_int_eq(work.others.items[0].action, POLICY_PURGE);
	ck_assert_int_eq(checker_act(&work, &proceed), 0);
	ck_assert_uint_eq(work.record.purged, 0);
	ck_assert_int_eq(work.errors, 1);
	ck_assert_int_eq(state_of("orphan.jpg"), CATALOG_QUARANTINED);
	checker_free_work(&work);

	/* The next start makes the catalog follow the disk. */
	run_sql(catalog_path, "DROP TRIGGER refuse_purge");
	checker_reconcile_quarantine(checker);
	ck_assert_int_eq(state_of("orphan.jpg"), CATALOG_PURGED);
}
END_TEST

static Suite *checker_scan_suite(void)
{
	Suite *s = suite_create("checker_scan");
	TCase *gathering = tcase_create("gathering");
	TCase *acting = tcase_create("acting");

	tcase_add_checked_fixture(gathering, setup, teardown);
	tcase_add_test(gathering, test_orphan_older_than_min_age_becomes_a_candidate);
	tcase_add_test(gathering, test_referenced_file_is_never_a_candidate);
	tcase_add_test(gathering, test_failing_source_gives_no_candidate);
	suite_add_tcase(s, gathering);
	tcase_add_checked_fixture(acting, setup, teardown);
	tcase_add_test(acting, test_scan_moves_the_orphan_and_keeps_the_referenced);
	tcase_add_test(acting, test_file_open_for_writing_is_kept);
	tcase_add_test(acting, test_failing_source_moves_nothing);
	tcase_add_test(acting, test_source_failing_at_the_confirmation_moves_nothing);
	tcase_add_test(acting, test_failed_rename_leaves_the_row_live_and_is_counted);
	tcase_add_test(acting, test_purge_whose_record_fails_is_not_reported_done);
	suite_add_tcase(s, acting);
	return s;
}

int main(void)
{
	SRunner *runner = srunner_create(checker_scan_suite());
	int failed;

	log_init("test_checker_scan", LOG_LEVEL_WARN, LOG_TARGET_STDERR);
	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
