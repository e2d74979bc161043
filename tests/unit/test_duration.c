/*
 * Unit tests for refdb/duration.c: the durations users write in the
 * configuration and on the mount command line.
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "duration.h"

enum { SECOND_MS = 1000, MINUTE_MS = 60 * SECOND_MS, HOUR_MS = 60 * MINUTE_MS };
#define DAY_MS (24LL * HOUR_MS)

static const struct {
	const char *text;
	int64_t ms;
} valid[] = {
	{ "0", 0 },
	{ "0s", 0 },
	{ "250ms", 250 },
	{ "30s", 30 * SECOND_MS },
	{ "10m", 10 * MINUTE_MS },
	{ "1h", HOUR_MS },
	{ "7d", 7 * DAY_MS },
	{ "1h30m", HOUR_MS + 30 * MINUTE_MS },
	{ "1d2h3m4s5ms", DAY_MS + 2 * HOUR_MS + 3 * MINUTE_MS + 4 * SECOND_MS + 5 },
	{ "90m", 90 * MINUTE_MS },
	{ "1m1m", 2 * MINUTE_MS },
	{ "007s", 7 * SECOND_MS },
	{ "106751991167d", 106751991167LL * DAY_MS },
	{ "9223372036854775807ms", INT64_MAX },
};

START_TEST(test_valid_durations_parse_to_milliseconds)
{
	int64_t ms = -1;

	ck_assert_msg(duration_parse(valid[_i].text, &ms) == 0,
		      "'%s' is a valid duration", valid[_i].text);
	ck_assert_msg(ms == valid[_i].ms, "'%s' is %lld ms, not %lld",
		      valid[_i].text, (long long)valid[_i].ms, (long long)ms);
}
END_TEST

static const struct {
	const char *text;
	int err;
} invalid[] = {
	{ "", -EINVAL },
	{ "7", -EINVAL },
	{ "00", -EINVAL },
	{ "-1s", -EINVAL },
	{ "+1s", -EINVAL },
	{ "1.5h", -EINVAL },
	{ "7 days", -EINVAL },
	{ "7days", -EINVAL },
	{ " 7d", -EINVAL },
	{ "7d ", -EINVAL },
	{ "1h30", -EINVAL },
	{ "h", -EINVAL },
	{ "1w", -EINVAL },
	{ "1S", -EINVAL },
	{ "10mss", -EINVAL },
	{ "9223372036854775808ms", -ERANGE },
	{ "106751991168d", -ERANGE },
	{ "99999999999999999999999s", -ERANGE },
	{ "9223372036854775807ms1ms", -ERANGE },
	{ "99999999999999999999999x", -EINVAL },
};

START_TEST(test_invalid_durations_are_refused_and_leave_output_untouched)
{
	int64_t ms = 4242;

	ck_assert_msg(duration_parse(invalid[_i].text, &ms) == invalid[_i].err,
		      "'%s' is refused with %d", invalid[_i].text, invalid[_i].err);
	ck_assert_msg(ms == 4242, "'%s' leaves the output untouched", invalid[_i].text);
}
END_TEST

START_TEST(test_null_text_is_invalid)
{
	int64_t ms = 1;

	ck_assert_int_eq(duration_parse(NULL, &ms), -EINVAL);
	ck_assert_int_eq(ms, 1);
}
END_TEST

static const struct {
	int64_t ms;
	const char *text;
} formatted[] = {
	{ 0, "0" },
	{ 250, "250ms" },
	{ 30 * SECOND_MS, "30s" },
	{ 10 * MINUTE_MS, "10m" },
	{ HOUR_MS + 30 * MINUTE_MS, "1h30m" },
	{ 7 * DAY_MS, "7d" },
	{ DAY_MS + 1, "1d1ms" },
	{ -1500, "-1s500ms" },
	{ INT64_MAX, "106751991167d7h12m55s807ms" },
	{ INT64_MIN, "-106751991167d7h12m55s808ms" },
};

START_TEST(test_format_writes_largest_units_first)
{
	char buf[DURATION_TEXT_BYTES];

	duration_format(formatted[_i].ms, buf, sizeof(buf));
	ck_assert_str_eq(buf, formatted[_i].text);
}
END_TEST

START_TEST(test_formatted_text_parses_back_to_the_same_value)
{
	char buf[DURATION_TEXT_BYTES];
	int64_t ms = -1;

	duration_format(valid[_i].ms, buf, sizeof(buf));
	ck_assert_int_eq(duration_parse(buf, &ms), 0);
	ck_assert_msg(ms == valid[_i].ms, "'%s' parses back", buf);
}
END_TEST

START_TEST(test_format_truncates_to_the_buffer)
{
	char buf[4] = "xxx";

	duration_format(HOUR_MS + 30 * MINUTE_MS, buf, sizeof(buf));
	ck_assert_str_eq(buf, "1h3");
	duration_format(HOUR_MS, buf, 0);
	ck_assert_str_eq(buf, "1h3");
}
END_TEST

static Suite *duration_suite(void)
{
	Suite *s = suite_create("duration");
	TCase *tc = tcase_create("parse");

	tcase_add_loop_test(tc, test_valid_durations_parse_to_milliseconds, 0,
			    sizeof(valid) / sizeof(valid[0]));
	tcase_add_loop_test(tc, test_invalid_durations_are_refused_and_leave_output_untouched,
			    0, sizeof(invalid) / sizeof(invalid[0]));
	tcase_add_test(tc, test_null_text_is_invalid);
	suite_add_tcase(s, tc);

	tc = tcase_create("format");
	tcase_add_loop_test(tc, test_format_writes_largest_units_first, 0,
			    sizeof(formatted) / sizeof(formatted[0]));
	tcase_add_loop_test(tc, test_formatted_text_parses_back_to_the_same_value, 0,
			    sizeof(valid) / sizeof(valid[0]));
	tcase_add_test(tc, test_format_truncates_to_the_buffer);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *runner = srunner_create(duration_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
