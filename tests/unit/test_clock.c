/*
 * Unit tests for refdb/clock.c: the test clock's offset is honoured only
 * from a regular 0600 file of this process's user, never moves time
 * backwards, and without its variable the clock is the wall clock.  Each
 * test runs in its own child (Check's fork mode), so each reads the
 * variable afresh.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

/* How far apart two reads of the clock may be in these tests. */
enum { SLACK_MS = 1000, OFFSET_MS = 5000000 };

static char dir[] = "/tmp/mediafs-test-clock-XXXXXX";
static char path[128];

static int64_t wall_ms(void)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* Write text into the offset file (mode applied after) and name it. */
static void write_offset(const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(fputs(text, f), 0);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(chmod(path, mode), 0);
	ck_assert_int_eq(setenv(CLOCK_TEST_OFFSET_ENV, path, 1), 0);
}

/* The clock is ahead of the wall clock by about offset_ms. */
static void assert_ahead_by(int64_t offset_ms)
{
	int64_t ahead = clock_now_ms() - wall_ms();

	ck_assert_msg(ahead > offset_ms - SLACK_MS && ahead < offset_ms + SLACK_MS,
		      "the clock is %lld ms ahead, not about %lld", (long long)ahead,
		      (long long)offset_ms);
}

static void setup(void)
{
	strcpy(dir, "/tmp/mediafs-test-clock-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/offset", dir);
	unsetenv(CLOCK_TEST_OFFSET_ENV);
}

static void teardown(void)
{
	char link_path[160];

	snprintf(link_path, sizeof(link_path), "%s/link", dir);
	unlink(link_path);
	unlink(path);
	rmdir(dir);
}

START_TEST(test_without_the_variable_the_clock_is_the_wall_clock)
{
	write_offset("5000000\n", 0600);
	unsetenv(CLOCK_TEST_OFFSET_ENV);
	assert_ahead_by(0);
}
END_TEST

START_TEST(test_a_0600_file_of_this_user_moves_the_clock_forward)
{
	write_offset("5000000\n", 0600);
	assert_ahead_by(OFFSET_MS);
	/* Read at each call: a test advances it while the daemon runs. */
	write_offset("9000000\n", 0600);
	assert_ahead_by(9000000);
}
END_TEST

START_TEST(test_a_file_others_can_read_or_write_is_ignored)
{
	write_offset("5000000\n", 0644);
	assert_ahead_by(0);
	write_offset("5000000\n", 0666);
	assert_ahead_by(0);
}
END_TEST

START_TEST(test_a_link_to_a_good_file_is_ignored)
{
	char link_path[160];

	write_offset("5000000\n", 0600);
	snprintf(link_path, sizeof(link_path), "%s/link", dir);
	ck_assert_int_eq(symlink(path, link_path), 0);
	ck_assert_int_eq(setenv(CLOCK_TEST_OFFSET_ENV, link_path, 1), 0);
	assert_ahead_by(0);
}
END_TEST

START_TEST(test_time_never_runs_backwards)
{
	write_offset("5000000\n", 0600);
	assert_ahead_by(OFFSET_MS);
	write_offset("1000\n", 0600);
	assert_ahead_by(OFFSET_MS);
	/* Nor when the file stops making sense or goes away. */
	write_offset("soon\n", 0600);
	assert_ahead_by(OFFSET_MS);
	write_offset("-7000000\n", 0600);
	assert_ahead_by(OFFSET_MS);
	ck_assert_int_eq(unlink(path), 0);
	assert_ahead_by(OFFSET_MS);
}
END_TEST

static Suite *clock_suite(void)
{
	Suite *s = suite_create("clock");
	TCase *tc = tcase_create("test offset");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_without_the_variable_the_clock_is_the_wall_clock);
	tcase_add_test(tc, test_a_0600_file_of_this_user_moves_the_clock_forward);
	tcase_add_test(tc, test_a_file_others_can_read_or_write_is_ignored);
	tcase_add_test(tc, test_a_link_to_a_good_file_is_ignored);
	tcase_add_test(tc, test_time_never_runs_backwards);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *runner = srunner_create(clock_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
