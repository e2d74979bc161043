/*
 * Unit tests for refdb/humanize.c: one spelling of sizes, in binary
 * units, with the boundaries where a unit changes.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "humanize.h"

static const struct {
	uint64_t bytes;
	const char *text;
} sizes[] = {
	{ 0, "0 B" },
	{ 1, "1 B" },
	{ 1023, "1023 B" },
	{ 1024, "1.0 KiB" },
	{ 1536, "1.5 KiB" },
	{ 10 * 1024 - 1, "10.0 KiB" },
	{ 1024 * 1024 - 1, "1.0 MiB" },
	{ 1024 * 1024, "1.0 MiB" },
	{ 1024 * 1024 - 52, "1023.9 KiB" },
	{ 8 * 1024 * 1024, "8.0 MiB" },
	{ 3ULL * 1024 * 1024 * 1024 / 2, "1.5 GiB" },
	{ 1ULL << 40, "1.0 TiB" },
	{ 1ULL << 50, "1.0 PiB" },
	{ 1ULL << 60, "1.0 EiB" },
	{ UINT64_MAX, "16.0 EiB" },
};

START_TEST(test_sizes_are_spelt_in_binary_units)
{
	char out[HUMANIZE_SIZE_BYTES];

	humanize_size(sizes[_i].bytes, out, sizeof(out));
	ck_assert_str_eq(out, sizes[_i].text);
}
END_TEST

START_TEST(test_short_buffer_is_cut_and_terminated)
{
	char out[8];

	memset(out, 'x', sizeof(out));
	humanize_size(1536, out, 4);
	ck_assert_str_eq(out, "1.5");
	ck_assert_int_eq(out[4], 'x');
	humanize_size(1536, out, 0);
	ck_assert_int_eq(out[0], '1');
}
END_TEST

static Suite *humanize_suite(void)
{
	Suite *s = suite_create("humanize");
	TCase *tc = tcase_create("humanize_size");

	tcase_add_loop_test(tc, test_sizes_are_spelt_in_binary_units, 0,
			    sizeof(sizes) / sizeof(sizes[0]));
	tcase_add_test(tc, test_short_buffer_is_cut_and_terminated);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *runner = srunner_create(humanize_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
