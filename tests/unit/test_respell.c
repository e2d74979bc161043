/*
 * Unit tests for refdb/respell.c: which values name which files under
 * another spelling, which only nearly, and which not at all.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "respell.h"

#define NFC_E "\xc3\xa9"		/* U+00E9 */
#define NFD_E "e\xcc\x81"		/* e, U+0301 */
#define FULLWIDTH_A "\xef\xbc\xa1"	/* U+FF21 */
#define KELVIN "\xe2\x84\xaa"		/* U+212A */

/* A value, a file name, and how the value names the file. */
static const struct {
	const char *value;
	const char *path;
	enum respell_match match;
} matches[] = {
	{ "my%20photo.jpg", "my photo.jpg", RESPELL_CERTAIN },
	{ "a%2Fb.jpg", "a/b.jpg", RESPELL_CERTAIN },
	{ "caf%C3%A9.jpg", "caf" NFC_E ".jpg", RESPELL_CERTAIN },
	{ "caf%C3%A9.jpg", "caf" NFD_E ".jpg", RESPELL_CERTAIN },
	{ "caf" NFC_E ".jpg", "caf" NFD_E ".jpg", RESPELL_CERTAIN },
	{ "caf" NFD_E ".jpg", "caf" NFC_E ".jpg", RESPELL_CERTAIN },
	{ "d/caf" NFD_E "/x.jpg", "d/caf" NFC_E "/x.jpg", RESPELL_CERTAIN },
	/* near misses */
	{ "case.jpg", "Case.JPG", RESPELL_NEAR },
	{ "CAF" NFC_E ".jpg", "caf" NFD_E ".jpg", RESPELL_NEAR },
	{ " space.jpg ", "space.jpg", RESPELL_NEAR },
	{ "space.jpg\n", "space.jpg", RESPELL_NEAR },
	{ "dir /a.jpg", "dir/a.jpg", RESPELL_NEAR },
	{ "my%20Photo.jpg", "my photo.jpg", RESPELL_NEAR },
	{ FULLWIDTH_A ".jpg", "a.jpg", RESPELL_NEAR },
	{ KELVIN ".jpg", "k.jpg", RESPELL_NEAR },
	/* nothing */
	{ "a.jpg", "b.jpg", RESPELL_NONE },
	{ "a b.jpg", "ab.jpg", RESPELL_NONE },
	{ "%2e%2e/a.jpg", "../a.jpg", RESPELL_NONE },
	{ "a%00b.jpg", "a", RESPELL_NONE },
	{ "caf%E9.jpg", "caf" NFC_E ".jpg", RESPELL_NONE },
	{ "my+photo.jpg", "my photo.jpg", RESPELL_NONE },
	{ "a.jpg", "a.jpg\xff", RESPELL_NONE },
};

START_TEST(test_values_name_files_as_the_table_says)
{
	struct respell_index *index = respell_index_new();
	const char *value = NULL;
	size_t value_len = 0;

	ck_assert_ptr_nonnull(index);
	ck_assert_int_eq(respell_index_add(index, matches[_i].value, strlen(matches[_i].value)),
			 0);
	respell_index_finish(index);
	enum respell_match match = respell_index_match(index, matches[_i].path,
						       strlen(matches[_i].path), &value, &value_len);
	ck_assert_msg(match == matches[_i].match, "'%s' names '%s': %s, not %s",
		      matches[_i].value, matches[_i].path, respell_match_name(match),
		      respell_match_name(matches[_i].match));
	if (match != RESPELL_NONE)
		ck_assert_msg(value_len == strlen(matches[_i].value) &&
			      memcmp(value, matches[_i].value, value_len) == 0,
			      "the match gives the value back");
	respell_index_free(index);
}
END_TEST

START_TEST(test_an_index_of_many_values_finds_each)
{
	struct respell_index *index = respell_index_new();
	char value[64], path[64];

	for (int i = 0; i < 5000; i++) {
		snprintf(value, sizeof(value), "d%03d/F%05d.JPG", i % 100, i);
		ck_assert_int_eq(respell_index_add(index, value, strlen(value)), 0);
	}
	respell_index_finish(index);
	ck_assert_uint_eq(respell_index_count(index), 5000);
	for (int i = 0; i < 5000; i += 7) {
		const char *found;
		size_t found_len;

		snprintf(path, sizeof(path), "d%03d/f%05d.jpg", i % 100, i);
		ck_assert_int_eq(respell_index_match(index, path, strlen(path), &found, &found_len),
				 RESPELL_NEAR);
		snprintf(value, sizeof(value), "d%03d/F%05d.JPG", i % 100, i);
		ck_assert(found_len == strlen(value) && memcmp(found, value, found_len) == 0);
	}
	ck_assert_int_eq(respell_index_match(index, "d000/f99999.jpg", 15, NULL, NULL),
			 RESPELL_NONE);
	respell_index_free(index);
}
END_TEST

START_TEST(test_an_empty_index_matches_nothing)
{
	struct respell_index *index = respell_index_new();

	respell_index_finish(index);
	ck_assert_int_eq(respell_index_match(index, "a.jpg", 5, NULL, NULL), RESPELL_NONE);
	respell_index_free(index);
	respell_index_free(NULL);
}
END_TEST

START_TEST(test_percent_decoding_renormalises)
{
	char out[PATHNORM_MAX_BYTES];
	size_t len;

	ck_assert_int_eq(respell_percent_decode("a%20b", 5, out, sizeof(out), &len), 0);
	ck_assert_str_eq(out, "a b");
	ck_assert_int_eq(respell_percent_decode("a%2F%2Fb", 8, out, sizeof(out), &len), 0);
	ck_assert_str_eq(out, "a/b");
	ck_assert_int_eq(respell_percent_decode("a.jpg", 5, out, sizeof(out), &len), -EINVAL);
	ck_assert_int_eq(respell_percent_decode("a%zz", 4, out, sizeof(out), &len), -EINVAL);
	ck_assert_int_eq(respell_percent_decode("a%2", 3, out, sizeof(out), &len), -EINVAL);
	ck_assert_int_eq(respell_percent_decode("%2e%2e/x", 8, out, sizeof(out), &len), -EINVAL);
	ck_assert_int_eq(respell_percent_decode("%2Fetc", 6, out, sizeof(out), &len), -EINVAL);
	ck_assert_int_eq(respell_percent_decode("a%00", 4, out, sizeof(out), &len), -EINVAL);
	ck_assert_int_eq(respell_percent_decode("a%ff", 4, out, sizeof(out), &len), -EINVAL);
}
END_TEST

START_TEST(test_near_keys_fold_case_and_trim_segments)
{
	char key[RESPELL_KEY_BYTES];
	size_t len;

	ck_assert_int_eq(respell_near_key(" A/ B .JPG\t/c", 13, key, sizeof(key), &len), 0);
	ck_assert(len == 10 && memcmp(key, "a/b .jpg/c", 10) == 0);
	ck_assert_int_eq(respell_near_key("a\xff", 2, key, sizeof(key), &len), -EILSEQ);
	ck_assert_int_eq(respell_certain_key("caf" NFD_E, 6, key, sizeof(key), &len), 0);
	ck_assert(len == 5 && memcmp(key, "caf" NFC_E, 5) == 0);
	ck_assert_int_eq(respell_certain_key("caf" NFD_E, 6, key, 3, &len), -ENAMETOOLONG);
}
END_TEST

struct collected {
	char items[8][64];
	int count;
};

static int collect(void *ctx, const char *spelling, size_t len)
{
	struct collected *c = ctx;

	ck_assert_uint_eq(strlen(spelling), len);
	ck_assert_int_lt(c->count, 8);
	snprintf(c->items[c->count++], sizeof(c->items[0]), "%s", spelling);
	return 0;
}

static bool collected_has(const struct collected *c, const char *s)
{
	for (int i = 0; i < c->count; i++)
		if (strcmp(c->items[i], s) == 0)
			return true;
	return false;
}

START_TEST(test_spellings_of_a_value_for_a_lookup_by_name)
{
	struct collected c = { .count = 0 };

	ck_assert_int_eq(respell_each_spelling("caf%C3%A9.jpg", 13, collect, &c), 0);
	ck_assert_msg(collected_has(&c, "caf" NFC_E ".jpg"), "the decoded NFC form");
	ck_assert_msg(collected_has(&c, "caf" NFD_E ".jpg"), "the decoded NFD form");
	ck_assert_msg(!collected_has(&c, "caf%C3%A9.jpg"), "never the value itself");
	c.count = 0;
	ck_assert_int_eq(respell_each_spelling("plain.jpg", 9, collect, &c), 0);
	ck_assert_int_eq(c.count, 0);
}
END_TEST

/* Found by fuzz_respell: the fifth spelling was passed unterminated. */
START_TEST(test_all_five_spellings_are_terminated_paths)
{
	static const char value[] = "caf%C3%A9/caf" NFD_E "/caf" NFC_E ".jpg";
	struct collected c = { .count = 0 };

	ck_assert_int_eq(respell_each_spelling(value, strlen(value), collect, &c), 0);
	ck_assert_int_eq(c.count, 5);
	ck_assert_msg(collected_has(&c, "caf" NFC_E "/caf" NFC_E "/caf" NFC_E ".jpg"),
		      "the decoded NFC form");
	c.count = 0;
	ck_assert_int_eq(respell_each_spelling("a\0b" NFD_E, 5, collect, &c), 0);
	ck_assert_msg(c.count == 0, "a value with a NUL has no spelling");
}
END_TEST

static Suite *respell_suite(void)
{
	Suite *s = suite_create("respell");
	TCase *tc = tcase_create("match");

	tcase_add_loop_test(tc, test_values_name_files_as_the_table_says, 0,
			    sizeof(matches) / sizeof(matches[0]));
	tcase_add_test(tc, test_an_index_of_many_values_finds_each);
	tcase_add_test(tc, test_an_empty_index_matches_nothing);
	suite_add_tcase(s, tc);

	tc = tcase_create("spellings");
	tcase_add_test(tc, test_percent_decoding_renormalises);
	tcase_add_test(tc, test_near_keys_fold_case_and_trim_segments);
	tcase_add_test(tc, test_spellings_of_a_value_for_a_lookup_by_name);
	tcase_add_test(tc, test_all_five_spellings_are_terminated_paths);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *runner = srunner_create(respell_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
