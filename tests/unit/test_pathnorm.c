/*
 * Unit tests for refdb/pathnorm.c: what a database value becomes, and every
 * kind of value that must never name a file.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "pathnorm.h"

/* len 0 means strlen(value); a table row with an embedded NUL sets it. */
static const struct {
	const char *value;
	size_t len;
	const char *prefix;
	enum pathnorm_status status;
	const char *path;
} cases[] = {
	{ "photos/a.jpg", 0, NULL, PATHNORM_OK, "photos/a.jpg" },
	{ "a.jpg", 0, "", PATHNORM_OK, "a.jpg" },
	{ "./a//b", 0, NULL, PATHNORM_OK, "a/b" },
	{ "a/./b/.//c", 0, NULL, PATHNORM_OK, "a/b/c" },
	{ "././a", 0, NULL, PATHNORM_OK, "a" },
	{ "a b/ü ñ.jpg", 0, NULL, PATHNORM_OK, "a b/ü ñ.jpg" },
	{ "..a/b..", 0, NULL, PATHNORM_OK, "..a/b.." },
	{ "...", 0, NULL, PATHNORM_OK, "..." },
	{ " a.jpg ", 0, NULL, PATHNORM_OK, " a.jpg " },
	{ "a\\b.jpg", 0, NULL, PATHNORM_OK, "a\\b.jpg" },
	{ "a\nb", 0, NULL, PATHNORM_OK, "a\nb" },
	{ "a%2e%2e/b", 0, NULL, PATHNORM_OK, "a%2e%2e/b" },
	/* prefixes, with and without their trailing slash */
	{ "/media/a/b.jpg", 0, "/media/", PATHNORM_OK, "a/b.jpg" },
	{ "/media/a/b.jpg", 0, "/media", PATHNORM_OK, "a/b.jpg" },
	{ "/media//a.jpg", 0, "/media/", PATHNORM_OK, "a.jpg" },
	{ "/media/./a.jpg", 0, "/media/", PATHNORM_OK, "a.jpg" },
	{ "a/b.jpg", 0, "/media/", PATHNORM_OK, "a/b.jpg" },
	{ "media/a.jpg", 0, "media/", PATHNORM_OK, "a.jpg" },
	{ "https://cdn.example.com/media/a/b.jpg", 0, "https://cdn.example.com/media/",
	  PATHNORM_OK, "a/b.jpg" },
	{ "https://cdn.example.com/media/a/b.jpg", 0, "https://cdn.example.com/media",
	  PATHNORM_OK, "a/b.jpg" },
	{ "/a.jpg", 0, "/", PATHNORM_OK, "a.jpg" },
	{ "/mediafoo/a.jpg", 0, "/media/", PATHNORM_ABSOLUTE, NULL },
	{ "/media", 0, "/media/", PATHNORM_DIRECTORY, NULL },
	{ "/media/", 0, "/media", PATHNORM_DIRECTORY, NULL },
	{ "/media/../etc/passwd", 0, "/media/", PATHNORM_DOTDOT, NULL },
	{ "/media//etc/passwd", 0, "/media/", PATHNORM_OK, "etc/passwd" },
	{ "https://other.example.com/media/a.jpg", 0, "https://cdn.example.com/media/",
	  PATHNORM_ABSOLUTE, NULL },
	/* empty is not hostile */
	{ NULL, 0, NULL, PATHNORM_EMPTY, NULL },
	{ "", 0, NULL, PATHNORM_EMPTY, NULL },
	{ "", 0, "/media/", PATHNORM_EMPTY, NULL },
	/* hostile values */
	{ "/etc/passwd", 0, NULL, PATHNORM_ABSOLUTE, NULL },
	{ "/etc/passwd", 0, "/media/", PATHNORM_ABSOLUTE, NULL },
	{ "//etc/passwd", 0, NULL, PATHNORM_ABSOLUTE, NULL },
	{ "http://evil.example.com/x", 0, NULL, PATHNORM_ABSOLUTE, NULL },
	{ "file:///etc/passwd", 0, NULL, PATHNORM_ABSOLUTE, NULL },
	{ "../x", 0, NULL, PATHNORM_DOTDOT, NULL },
	{ "..", 0, NULL, PATHNORM_DOTDOT, NULL },
	{ "a/../../etc/passwd", 0, NULL, PATHNORM_DOTDOT, NULL },
	{ "a/b/../c", 0, NULL, PATHNORM_DOTDOT, NULL },
	{ "a/..", 0, NULL, PATHNORM_DOTDOT, NULL },
	{ "a\0/etc/passwd", 13, NULL, PATHNORM_NUL, NULL },
	{ "a.jpg\0", 6, NULL, PATHNORM_NUL, NULL },
	{ "\xff\xfe", 0, NULL, PATHNORM_NOT_UTF8, NULL },
	{ "a\xc3", 0, NULL, PATHNORM_NOT_UTF8, NULL },
	{ "\xc0\xaf", 0, NULL, PATHNORM_NOT_UTF8, NULL },
	{ "\xe0\x80\xaf", 0, NULL, PATHNORM_NOT_UTF8, NULL },
	{ "\xed\xa0\x80", 0, NULL, PATHNORM_NOT_UTF8, NULL },
	{ "\xf4\x90\x80\x80", 0, NULL, PATHNORM_NOT_UTF8, NULL },
	{ "caf\xe9.jpg", 0, NULL, PATHNORM_NOT_UTF8, NULL },
	{ "\xf0\x9f\x98\x80.jpg", 0, NULL, PATHNORM_OK, "\xf0\x9f\x98\x80.jpg" },
	/* directories: never a file */
	{ "a/", 0, NULL, PATHNORM_DIRECTORY, NULL },
	{ "a/.", 0, NULL, PATHNORM_DIRECTORY, NULL },
	{ ".", 0, NULL, PATHNORM_DIRECTORY, NULL },
	{ "./", 0, NULL, PATHNORM_DIRECTORY, NULL },
	{ "/", 0, NULL, PATHNORM_ABSOLUTE, NULL },
};

START_TEST(test_values_normalise_as_the_table_says)
{
	const char *value = cases[_i].value;
	size_t len = cases[_i].len ? cases[_i].len : (value ? strlen(value) : 0);
	char out[PATHNORM_MAX_BYTES];
	size_t out_len = 0;
	enum pathnorm_status status;

	status = pathnorm_normalise(value, len, cases[_i].prefix, out, sizeof(out), &out_len);
	ck_assert_msg(status == cases[_i].status, "'%s' with prefix '%s' is %s, not %s",
		      value ? value : "(null)", cases[_i].prefix ? cases[_i].prefix : "(null)",
		      pathnorm_status_name(cases[_i].status), pathnorm_status_name(status));
	if (status == PATHNORM_OK) {
		ck_assert_str_eq(out, cases[_i].path);
		ck_assert_uint_eq(out_len, strlen(cases[_i].path));
	}
	ck_assert_msg(pathnorm_is_hostile(status) ==
		      (status != PATHNORM_OK && status != PATHNORM_EMPTY),
		      "only usable and empty values are not hostile");
}
END_TEST

START_TEST(test_a_5000_byte_value_is_too_long)
{
	char value[5000];
	char out[PATHNORM_MAX_BYTES];
	size_t out_len;

	/* 50-byte segments: each is fine, the whole is not. */
	memset(value, 'a', sizeof(value));
	for (size_t i = 50; i < sizeof(value); i += 51)
		value[i] = '/';
	ck_assert_int_eq(pathnorm_normalise(value, sizeof(value), NULL, out, sizeof(out), &out_len),
			 PATHNORM_TOO_LONG);
}
END_TEST

START_TEST(test_a_path_of_exactly_path_max_minus_one_bytes_is_accepted)
{
	char value[PATHNORM_MAX_BYTES - 1];
	char out[PATHNORM_MAX_BYTES];
	size_t out_len;

	memset(value, 'a', sizeof(value));
	for (size_t i = 200; i < sizeof(value); i += 201)
		value[i] = '/';
	ck_assert_int_eq(pathnorm_normalise(value, sizeof(value), NULL, out, sizeof(out), &out_len),
			 PATHNORM_OK);
	ck_assert_uint_eq(out_len, sizeof(value));
	ck_assert_int_eq(pathnorm_normalise(value, sizeof(value), NULL, out, sizeof(value), &out_len),
			 PATHNORM_TOO_LONG);
}
END_TEST

START_TEST(test_a_300_byte_component_is_too_long)
{
	char value[2 + 300 + 6];
	char out[PATHNORM_MAX_BYTES];
	size_t out_len;

	memcpy(value, "a/", 2);
	memset(value + 2, 'b', 300);
	memcpy(value + 302, "/c.jpg", 6);
	ck_assert_int_eq(pathnorm_normalise(value, sizeof(value), NULL, out, sizeof(out), &out_len),
			 PATHNORM_TOO_LONG);
	/* 255 bytes is the limit and is fine. */
	ck_assert_int_eq(pathnorm_normalise(value + 47, sizeof(value) - 47, NULL, out,
					    sizeof(out), &out_len), PATHNORM_OK);
}
END_TEST

START_TEST(test_dotdot_is_the_fault_reported_wherever_a_length_fault_is)
{
	char value[300 + 3];
	char out[PATHNORM_MAX_BYTES];
	size_t out_len;

	/* The header's order, not the value's: ".." before a length fault. */
	memset(value, 'b', 300);
	memcpy(value + 300, "/..", 3);
	ck_assert_int_eq(pathnorm_normalise(value, sizeof(value), NULL, out, sizeof(out), &out_len),
			 PATHNORM_DOTDOT);
	ck_assert_int_eq(pathnorm_normalise("a/b/../c", 8, NULL, out, 2, &out_len),
			 PATHNORM_DOTDOT);
	/* And a length fault before a directory. */
	ck_assert_int_eq(pathnorm_normalise(value, 301, NULL, out, sizeof(out), &out_len),
			 PATHNORM_TOO_LONG);
}
END_TEST

START_TEST(test_longest_matching_prefix_is_picked)
{
	char *prefixes[] = { "/media/", "https://cdn.example.com/media/", "/media/photos" };
	const char *v1 = "https://cdn.example.com/media/a.jpg";
	const char *v2 = "/media/photos/a.jpg";
	const char *v3 = "/media/other/a.jpg";
	const char *v4 = "/static/a.jpg";

	ck_assert_ptr_eq(pathnorm_pick_prefix(v1, strlen(v1), prefixes, 3), prefixes[1]);
	ck_assert_ptr_eq(pathnorm_pick_prefix(v2, strlen(v2), prefixes, 3), prefixes[2]);
	ck_assert_ptr_eq(pathnorm_pick_prefix(v3, strlen(v3), prefixes, 3), prefixes[0]);
	ck_assert_ptr_null(pathnorm_pick_prefix(v4, strlen(v4), prefixes, 3));
	ck_assert_ptr_null(pathnorm_pick_prefix(NULL, 0, prefixes, 3));
	ck_assert_ptr_null(pathnorm_pick_prefix(v1, strlen(v1), prefixes, 0));
}
END_TEST

static const struct {
	const char *value;
	size_t len;
	size_t out_size;
	const char *escaped;
} escapes[] = {
	{ "a.jpg", 5, 128, "a.jpg" },
	{ "../x", 4, 128, "../x" },
	{ "a\0b", 3, 128, "a\\x00b" },
	{ "caf\xe9", 4, 128, "caf\\xe9" },
	{ "it's\\", 5, 128, "it\\x27s\\x5c" },
	{ "abcdefg", 7, 8, "abcdefg" },
	{ "abcdefgh", 8, 8, "abcd..." },
	{ "\n\n\n", 3, 8, "\\x0a..." },
	{ "abc", 3, 1, "" },
};

START_TEST(test_escape_makes_values_printable_and_bounded)
{
	char out[128];

	memset(out, 'x', sizeof(out));
	pathnorm_escape(escapes[_i].value, escapes[_i].len, out, escapes[_i].out_size);
	ck_assert_str_eq(out, escapes[_i].escaped);
}
END_TEST

START_TEST(test_every_status_has_a_name)
{
	for (int s = PATHNORM_OK; s <= PATHNORM_DIRECTORY; s++)
		ck_assert_str_ne(pathnorm_status_name((enum pathnorm_status)s), "unknown");
	ck_assert_str_eq(pathnorm_status_name(PATHNORM_DOTDOT), "dotdot");
	ck_assert_str_eq(pathnorm_status_name((enum pathnorm_status)99), "unknown");
}
END_TEST

static Suite *pathnorm_suite(void)
{
	Suite *s = suite_create("pathnorm");
	TCase *tc = tcase_create("normalise");

	tcase_add_loop_test(tc, test_values_normalise_as_the_table_says, 0,
			    sizeof(cases) / sizeof(cases[0]));
	tcase_add_test(tc, test_a_5000_byte_value_is_too_long);
	tcase_add_test(tc, test_a_path_of_exactly_path_max_minus_one_bytes_is_accepted);
	tcase_add_test(tc, test_a_300_byte_component_is_too_long);
	tcase_add_test(tc, test_dotdot_is_the_fault_reported_wherever_a_length_fault_is);
	suite_add_tcase(s, tc);

	tc = tcase_create("prefix");
	tcase_add_test(tc, test_longest_matching_prefix_is_picked);
	suite_add_tcase(s, tc);

	tc = tcase_create("escape");
	tcase_add_loop_test(tc, test_escape_makes_values_printable_and_bounded, 0,
			    sizeof(escapes) / sizeof(escapes[0]));
	tcase_add_test(tc, test_every_status_has_a_name);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *runner = srunner_create(pathnorm_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
