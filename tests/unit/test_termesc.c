/*
 * Unit tests of termesc: what a name looks like on a terminal.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "termesc.h"

static const struct {
	const char *in;
	const char *out;
} cases[] = {
	{ "photos/a.jpg", "photos/a.jpg" },
	{ "caf\xc3\xa9.jpg", "caf\xc3\xa9.jpg" },		/* printable UTF-8 stays */
	{ "a\nb", "a\\nb" },					/* a forged line */
	{ "x\x1b[31mred", "x\\x1B[31mred" },			/* terminal escape */
	{ "tab\there\r", "tab\\there\\r" },
	{ "back\\slash", "back\\\\slash" },			/* escapes stay unambiguous */
	{ "del\x7f", "del\\x7F" },
	{ "bad\xff\xfe", "bad\\xFF\\xFE" },			/* not UTF-8 */
	{ "over\xc0\xaf", "over\\xC0\\xAF" },			/* overlong '/' */
	{ "c1\xc2\x9b" "2J", "c1\\u{009B}2J" },			/* C1 CSI */
	{ "rtl\xe2\x80\xae" "gpj.exe", "rtl\\u{202E}gpj.exe" },	/* bidi override */
	{ "", "" },
};

START_TEST(test_each_unsafe_byte_is_shown_as_an_escape)
{
	char out[256];

	termesc(cases[_i].in, out, sizeof(out));
	ck_assert_msg(strcmp(out, cases[_i].out) == 0, "case %d: got '%s'", _i, out);
	ck_assert(termesc_is_plain(cases[_i].in) == (strcmp(cases[_i].in, cases[_i].out) == 0));
	for (const char *p = out; *p; p++)
		ck_assert_msg((unsigned char)*p >= 0x20 && *p != 0x7f, "case %d: raw control", _i);
}
END_TEST

START_TEST(test_a_long_name_is_cut_at_a_whole_escape)
{
	char out[12];

	termesc("abcdefg\n\n\n\n", out, sizeof(out));
	ck_assert_str_eq(out, "abcdefg...");
	termesc("\n\n\n\n\n\n", out, sizeof(out));
	ck_assert_str_eq(out, "\\n\\n\\n\\n...");
	termesc("0123456789a", out, sizeof(out));
	ck_assert_str_eq(out, "0123456789a");
}
END_TEST

START_TEST(test_null_and_embedded_nul_are_safe)
{
	char out[32];
	char *dup;

	ck_assert_str_eq(termesc(NULL, out, sizeof(out)), "");
	ck_assert_str_eq(termesc_n("a\0b", 3, out, sizeof(out)), "a\\x00b");
	dup = termesc_dup("\x1b]0;owned\x07");
	ck_assert_ptr_nonnull(dup);
	ck_assert_str_eq(dup, "\\x1B]0;owned\\x07");
	free(dup);
}
END_TEST

static Suite *termesc_suite(void)
{
	Suite *s = suite_create("termesc");
	TCase *tc = tcase_create("termesc");

	tcase_add_loop_test(tc, test_each_unsafe_byte_is_shown_as_an_escape, 0,
			    (int)(sizeof(cases) / sizeof(cases[0])));
	tcase_add_test(tc, test_a_long_name_is_cut_at_a_whole_escape);
	tcase_add_test(tc, test_null_and_embedded_nul_are_safe);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(termesc_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
