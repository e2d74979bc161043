/*
 * Unit tests for fs/events.c: the catalog writer thread on a real SQLite
 * catalog in a temporary BACKING.  Queued events reach the catalog in the
 * order they were emitted, across groups and at a stop; a write that
 * fails (a trigger added from another connection makes SQLite refuse it)
 * is retried, or dropped after its attempts and reported, and the
 * adoption that follows catches the catalog up with the disk.
 *
 * The writer waits RETRY_DELAY_MS (1 s) after each failed attempt, so the
 * two failure tests take about 4 s between them.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "events.h"

static char backing[] = "/tmp/mediafs-test-events-XXXXXX";
static char catalog_path[PATH_MAX];
static struct store st;
static struct events *ev;

enum {
	WAIT_MS = 20000,
	MANY_EVENTS = 2 * EVENT_GROUP_MAX + 17,
	/* Check's limit per test: several thousand commits under ASan on a
	 * loaded machine take seconds. */
	TEST_TIMEOUT_S = 30,
};

static void sh(const char *cmd)
{
	char full[2048];

	snprintf(full, sizeof(full), "cd '%s' && %s", backing, cmd);
	ck_assert_msg(system(full) == 0, "%s", cmd);
}

static void start(bool adopt)
{
	char error[1024];

	ck_assert_msg(events_start(catalog_path, &st, adopt, &ev, error, sizeof(error)) == 0,
		      "%s", error);
}

static void setup(void)
{
	char why[1024];

	strcpy(backing, "/tmp/mediafs-test-events-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(backing));
	ck_assert_msg(store_open(&st, backing, why, sizeof(why)) == 0, "%s", why);
	ck_assert_int_eq(store_state_path(&st, CATALOG_FILE_NAME, catalog_path,
					  sizeof(catalog_path)), 0);
	ev = NULL;
}

static void teardown(void)
{
	char cmd[512];

	events_stop(ev);
	store_close(&st);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", backing);
	ck_assert_int_eq(system(cmd), 0);
}

/* ------------------------------------------------------------------ */
/* Events and what the catalog says                                     */
/* ------------------------------------------------------------------ */

static void emit_created(const char *path, ino_t ino)
{
	struct catalog_event e = {
		.kind = CATALOG_EVENT_CREATED,
		.time_ms = clock_now_ms(),
		.path = path,
		.file_kind = CATALOG_FILE,
		.dev = 1,
		.ino = ino,
	};

	events_emit(ev, &e);
}

static void emit_renamed(const char *from, const char *to)
{
	struct catalog_event e = {
		.kind = CATALOG_EVENT_RENAMED,
		.time_ms = clock_now_ms(),
		.path = from,
		.path2 = to,
	};

	events_emit(ev, &e);
}

static void emit_removed(const char *path)
{
	struct catalog_event e = {
		.kind = CATALOG_EVENT_REMOVED,
		.time_ms = clock_now_ms(),
		.path = path,
		.reason = "unlinked",
	};

	events_emit(ev, &e);
}

struct rows {
	uint64_t count;
	char last_path[256];
	int64_t last_size;
	enum catalog_state last_state;
};

static int note_row(void *ctx, const struct catalog_row *row)
{
	struct rows *r = ctx;

	r->count++;
	snprintf(r->last_path, sizeof(r->last_path), "%s", row->path);
	r->last_size = row->size;
	r->last_state = row->state;
	return 0;
}

/* The rows of the catalog in state (-1: all), read on a connection of
 * the test's own, with filter.path when path is not NULL. */
static struct rows catalog_rows(int state, const char *path)
{
	struct catalog_filter filter = { .state = state, .path = path };
	struct rows rows = { 0 };
	struct catalog *cat;
	char error[1024];

	ck_assert_msg(catalog_open(catalog_path, false, &cat, error, sizeof(error)) == 0, "%s",
		      error);
	ck_assert_int_eq(catalog_query_rows(cat, &filter, note_row, &rows), 0);
	catalog_close(cat);
	return rows;
}

/* Run SQL on the catalog from another connection. */
static void catalog_sql(const char *sql)
{
	char *message = NULL;
	sqlite3 *db;

	ck_assert_int_eq(sqlite3_open(catalog_path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, WAIT_MS);
	ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, &message) == SQLITE_OK, "%s: %s", sql,
		      message ? message : "");
	sqlite3_close(db);
}

/* Make SQLite refuse to add files to the catalog ('when' as a trigger's
 * WHEN clause). */
static void refuse_inserts(const char *when)
{
	char sql[512];

	snprintf(sql, sizeof(sql),
		 "CREATE TRIGGER test_refuse BEFORE INSERT ON files WHEN %s"
		 " BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;", when);
	catalog_sql(sql);
}

static void accept_inserts(void)
{
	catalog_sql("DROP TRIGGER test_refuse;");
}

/* Standard error into a pipe whose read end is returned: the writer's
 * messages, to wait for. */
static int capture_stderr(void)
{
	int fds[2];

	ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
	ck_assert_int_eq(dup2(fds[1], STDERR_FILENO), STDERR_FILENO);
	close(fds[1]);
	return fds[0];
}

/* Wait until text appears on the captured standard error. */
static void wait_for_message(int fd, const char *text)
{
	char seen[8192];
	size_t used = 0;
	int64_t deadline = clock_monotonic_ms() + WAIT_MS;

	seen[0] = '\0';
	while (!strstr(seen, text)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = deadline - clock_monotonic_ms();
		ssize_t n;

		ck_assert_msg(left > 0 && poll(&p, 1, (int)left) == 1, "no '%s' in: %s", text, seen);
		if (used == sizeof(seen) - 1)
			used = 0;	/* only the newest lines matter */
		n = read(fd, seen + used, sizeof(seen) - 1 - used);
		ck_assert_int_gt(n, 0);
		used += (size_t)n;
		seen[used] = '\0';
	}
}

/* ------------------------------------------------------------------ */
/* Order                                                                 */
/* ------------------------------------------------------------------ */

START_TEST(test_events_reach_the_catalog_in_the_order_emitted)
{
	struct events_status status;
	struct catalog_event written = {
		.kind = CATALOG_EVENT_WRITTEN,
		.dev = 1,
		.ino = 10,
		.size = 4242,
	};
	struct rows rows;

	start(false);
	emit_created("a.jpg", 10);
	emit_renamed("a.jpg", "b.jpg");
	written.time_ms = clock_now_ms();
	events_emit(ev, &written);
	emit_renamed("b.jpg", "c.jpg");
	emit_created("a.jpg", 11);
	emit_removed("a.jpg");
	events_flush(ev);
	events_get_status(ev, &status);
	ck_assert_uint_eq(status.emitted, 6);
	ck_assert_uint_eq(status.committed, 6);
	ck_assert_uint_eq(status.dropped, 0);
	rows = catalog_rows(CATALOG_LIVE, NULL);
	ck_assert_uint_eq(rows.count, 1);
	ck_assert_str_eq(rows.last_path, "c.jpg");
	ck_assert_int_eq(rows.last_size, 4242);
}
END_TEST

START_TEST(test_many_events_keep_their_order_across_groups)
{
	char path[64];
	struct events_status status;

	start(false);
	/* Each file is created, renamed and removed but every tenth: applied
	 * out of order, a rename or a removal would miss its file. */
	for (int i = 0; i < MANY_EVENTS / 3; i++) {
		char to[64];

		snprintf(path, sizeof(path), "f%d.jpg", i);
		snprintf(to, sizeof(to), "g%d.jpg", i);
		emit_created(path, (ino_t)i + 100);
		emit_renamed(path, to);
		if (i % 10)
			emit_removed(to);
	}
	events_flush(ev);
	events_get_status(ev, &status);
	ck_assert_uint_eq(status.committed, status.emitted);
	ck_assert_uint_eq(status.dropped, 0);
	ck_assert_uint_eq(catalog_rows(CATALOG_LIVE, NULL).count, (MANY_EVENTS / 3 + 9) / 10);
	ck_assert_uint_eq(catalog_rows(-1, "f10.jpg").count, 0);
	ck_assert_uint_eq(catalog_rows(CATALOG_LIVE, "g10.jpg").count, 1);
}
END_TEST

START_TEST(test_stop_commits_everything_queued)
{
	char path[64];

	/* More than one group's worth: the writer takes one at a time. */
	start(false);
	for (int i = 0; i < 2 * EVENT_GROUP_MAX + 1; i++) {
		snprintf(path, sizeof(path), "f%d.jpg", i);
		emit_created(path, (ino_t)i + 100);
	}
	events_stop(ev);
	ev = NULL;
	ck_assert_uint_eq(catalog_rows(CATALOG_LIVE, NULL).count, 2 * EVENT_GROUP_MAX + 1);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Failures                                                              */
/* ------------------------------------------------------------------ */

START_TEST(test_failed_write_is_retried)
{
	int log_fd = capture_stderr();
	struct events_status status;

	start(false);
	refuse_inserts("1");
	emit_created("a.jpg", 10);
	wait_for_message(log_fd, "cannot write 1 events to the catalog");
	accept_inserts();
	events_flush(ev);
	events_get_status(ev, &status);
	ck_assert_uint_eq(status.committed, 1);
	ck_assert_uint_eq(status.dropped, 0);
	ck_assert_msg(!status.catalog_behind, "nothing was lost");
	ck_assert_uint_eq(catalog_rows(CATALOG_LIVE, "a.jpg").count, 1);
	close(log_fd);
}
END_TEST

START_TEST(test_write_failing_every_attempt_is_dropped_and_adoption_catches_up)
{
	int log_fd = capture_stderr();
	struct events_status status;

	start(false);
	sh("echo x > kept.jpg");
	refuse_inserts("CAST(NEW.path AS TEXT) = 'kept.jpg'");
	emit_created("kept.jpg", 10);
	events_flush(ev);
	events_get_status(ev, &status);
	ck_assert_uint_eq(status.dropped, 1);
	ck_assert_uint_eq(status.committed, 0);
	ck_assert_msg(status.catalog_behind, "the status says the catalog is behind");
	wait_for_message(log_fd, "dropped 1 events after 3 attempts");
	ck_assert_uint_eq(catalog_rows(-1, "kept.jpg").count, 0);

	/* Writing works again: the next group commits, and an adoption walk
	 * records what was dropped. */
	accept_inserts();
	emit_created("other.jpg", 11);
	events_flush(ev);
	ck_assert_msg(events_wait_adoption(ev, WAIT_MS), "an adoption ran");
	events_get_status(ev, &status);
	ck_assert_msg(!status.catalog_behind, "caught up");
	ck_assert_uint_eq(catalog_rows(CATALOG_LIVE, "kept.jpg").count, 1);
	close(log_fd);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Adoption                                                              */
/* ------------------------------------------------------------------ */

START_TEST(test_adoption_at_start_records_every_file_and_then_its_size)
{
	struct events_status status;
	int64_t deadline = clock_monotonic_ms() + WAIT_MS;
	struct rows rows;

	sh("mkdir -p a/b && printf 12345 > a/b/f.jpg && ln -s a/b/f.jpg link.jpg"
	   " && echo top > top.jpg");
	start(true);
	ck_assert_msg(events_wait_adoption(ev, WAIT_MS), "the adoption completes");
	events_get_status(ev, &status);
	ck_assert_msg(status.adoption_done && !status.adopting, "done");
	ck_assert_uint_eq(status.last_adoption.found, 3);
	ck_assert_uint_eq(status.last_adoption.adopted, 3);
	ck_assert_uint_eq(catalog_rows(CATALOG_LIVE, NULL).count, 3);
	ck_assert_uint_eq(catalog_rows(-1, ".mediafs/catalog.db").count, 0);
	/* Sizes are filled in afterwards, a slice at a time. */
	while ((rows = catalog_rows(CATALOG_LIVE, "a/b/f.jpg")).last_size != 5) {
		struct timespec pause = { .tv_nsec = 10 * 1000 * 1000 };

		ck_assert_msg(clock_monotonic_ms() < deadline, "size %lld",
			      (long long)rows.last_size);
		nanosleep(&pause, NULL);
	}
}
END_TEST

START_TEST(test_requested_adoption_finds_changes_behind_the_daemon)
{
	struct events_status status;

	start(false);
	emit_created("ghost.jpg", 10);
	events_flush(ev);
	sh("echo x > behind.jpg");
	ck_assert_msg(!events_wait_adoption(ev, 0), "no adoption was asked for yet");
	events_request_adoption(ev);
	ck_assert_msg(events_wait_adoption(ev, WAIT_MS), "the adoption completes");
	events_get_status(ev, &status);
	ck_assert_uint_eq(status.last_adoption.adopted, 1);
	ck_assert_uint_eq(status.last_adoption.missing, 1);
	ck_assert_uint_eq(catalog_rows(CATALOG_LIVE, "behind.jpg").count, 1);
	ck_assert_uint_eq(catalog_rows(CATALOG_MISSING, "ghost.jpg").count, 1);
}
END_TEST

static Suite *events_suite(void)
{
	Suite *s = suite_create("events");
	TCase *order = tcase_create("order");
	TCase *failures = tcase_create("failures");
	TCase *adoption = tcase_create("adoption");

	tcase_add_checked_fixture(order, setup, teardown);
	tcase_add_test(order, test_events_reach_the_catalog_in_the_order_emitted);
	tcase_add_test(order, test_many_events_keep_their_order_across_groups);
	tcase_add_test(order, test_stop_commits_everything_queued);
	tcase_set_timeout(order, TEST_TIMEOUT_S);
	suite_add_tcase(s, order);

	tcase_add_checked_fixture(failures, setup, teardown);
	tcase_add_test(failures, test_failed_write_is_retried);
	tcase_add_test(failures, test_write_failing_every_attempt_is_dropped_and_adoption_catches_up);
	tcase_set_timeout(failures, TEST_TIMEOUT_S);
	suite_add_tcase(s, failures);

	tcase_add_checked_fixture(adoption, setup, teardown);
	tcase_add_test(adoption, test_adoption_at_start_records_every_file_and_then_its_size);
	tcase_add_test(adoption, test_requested_adoption_finds_changes_behind_the_daemon);
	tcase_set_timeout(adoption, TEST_TIMEOUT_S);
	suite_add_tcase(s, adoption);
	return s;
}

int main(void)
{
	SRunner *runner = srunner_create(events_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
