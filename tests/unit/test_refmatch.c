/*
 * Unit tests for fs/core/refmatch.c on a temporary BACKING: what values
 * that name no tracked file exactly still protect.  A value through a
 * link keeps the link and what it resolves to; a value that names nothing
 * goes into the respell index, so that another spelling of it on disk is
 * found; a link out of BACKING keeps only itself and is counted; a missing
 * directory is walked once.
 */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "refmatch.h"
#include "refset.h"

static char backing[] = "/tmp/mediafs-test-refmatch-XXXXXX";
static struct store st;
static struct refmatch m;
static struct refset *values;

static void sh(const char *cmd)
{
	char full[2048];

	snprintf(full, sizeof(full), "cd '%s' && %s", backing, cmd);
	ck_assert_msg(system(full) == 0, "%s", cmd);
}

static void setup(void)
{
	char why[1024];

	strcpy(backing, "/tmp/mediafs-test-refmatch-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(backing));
	ck_assert_msg(store_open(&st, backing, why, sizeof(why)) == 0, "%s", why);
	sh("mkdir -p photos/2024 && echo a > photos/2024/a.jpg && echo b > photos/2024/b.jpg"
	   " && ln -s 2024 photos/current && echo logo > logo-2024.png"
	   " && ln -s logo-2024.png logo.png && ln -s /etc escape && ln -s nowhere dangling.png"
	   " && echo c > 'caf\xc3\xa9.jpg' && echo p > photo.jpg");
	ck_assert_int_eq(refmatch_init(&m, &st), 0);
	values = refset_new();
	ck_assert_ptr_nonnull(values);
}

static void teardown(void)
{
	char cmd[512];

	refset_free(values);
	refmatch_clear(&m);
	store_close(&st);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", backing);
	ck_assert_int_eq(system(cmd), 0);
}

static void add(const char *value)
{
	ck_assert_int_eq(refset_add(values, value, strlen(value)), 0);
}

static bool kept(const char *path)
{
	return refmatch_is_kept(&m, path, strlen(path));
}

START_TEST(test_value_through_a_link_keeps_the_link_and_its_target)
{
	add("photos/current/b.jpg");
	add("logo.png");
	ck_assert_int_eq(refmatch_take_all(&m, values), 0);
	ck_assert_msg(kept("photos/current"), "the directory link on the way");
	ck_assert_msg(kept("photos/2024/b.jpg"), "what the value resolves to");
	ck_assert_msg(kept("logo.png") && kept("logo-2024.png"), "a file link and its target");
	ck_assert_msg(!kept("photos/2024/a.jpg"), "nothing else");
	ck_assert_uint_eq(m.linked, 2);
	ck_assert_uint_eq(m.escaped, 0);
}
END_TEST

START_TEST(test_marked_values_and_plain_files_keep_nothing)
{
	add("photos/2024/a.jpg");
	ck_assert_msg(refset_mark(values, "photos/2024/a.jpg", 17), "marked");
	add("photos/2024/b.jpg");	/* a file the catalog does not track */
	add("photos/2024");		/* a directory */
	ck_assert_int_eq(refmatch_take_all(&m, values), 0);
	ck_assert_msg(!kept("photos/2024/a.jpg") && !kept("photos/2024/b.jpg") &&
		      !kept("photos/2024"), "nothing kept");
	ck_assert_uint_eq(m.linked, 0);
}
END_TEST

START_TEST(test_link_out_of_backing_keeps_only_itself_and_is_counted)
{
	add("escape/passwd");
	add("escape/group");
	add("dangling.png");
	ck_assert_int_eq(refmatch_take_all(&m, values), 0);
	ck_assert_uint_eq(m.escaped, 2);
	ck_assert_msg(strncmp(m.escape_example, "escape/", 7) == 0, "example '%s'",
		      m.escape_example);
	ck_assert_msg(kept("escape") && kept("dangling.png"),
		      "a link that a value passes is kept, wherever it leads");
	ck_assert_msg(!kept("escape/passwd"), "what lies beyond it is not in BACKING");
	ck_assert_uint_eq(m.linked, 0);
}
END_TEST

START_TEST(test_value_naming_nothing_finds_another_spelling_on_disk)
{
	const char *value;
	size_t value_len;

	add("caf%C3%A9.jpg");
	add("PHOTO.JPG");
	ck_assert_int_eq(refmatch_take_all(&m, values), 0);
	ck_assert_int_eq(refmatch_spelling(&m, "caf\xc3\xa9.jpg", 9, &value, &value_len),
			 RESPELL_CERTAIN);
	ck_assert_uint_eq(value_len, 13);
	ck_assert_msg(memcmp(value, "caf%C3%A9.jpg", 13) == 0, "the value that names it");
	ck_assert_int_eq(refmatch_spelling(&m, "photo.jpg", 9, &value, &value_len), RESPELL_NEAR);
	ck_assert_int_eq(refmatch_spelling(&m, "logo.png", 8, &value, &value_len), RESPELL_NONE);
}
END_TEST

START_TEST(test_missing_directory_is_walked_once)
{
	add("gone/a.jpg");
	add("gone/b.jpg");
	add("gone/c.jpg");
	add("photos/2024/none.jpg");
	ck_assert_int_eq(refmatch_take_all(&m, values), 0);
	ck_assert_msg(refset_contains(m.missing_dirs, "gone", 4), "remembered as missing");
	ck_assert_uint_eq(refset_count(m.missing_dirs), 1);
	ck_assert_msg(refset_contains(m.plain_dirs, "photos/2024", 11), "remembered as plain");
	ck_assert_msg(!refset_contains(m.plain_dirs, "photos/current", 14) &&
		      !refset_contains(m.missing_dirs, "photos/current", 14), "no link is either");
}
END_TEST

START_TEST(test_missing_directory_values_are_respelt_too)
{
	const char *value;
	size_t value_len;

	sh("mkdir photos/%%41 && echo x > photos/%%41/x.jpg");
	add("photos/%2541/x.jpg");
	ck_assert_int_eq(refmatch_take_all(&m, values), 0);
	ck_assert_int_eq(refmatch_spelling(&m, "photos/%41/x.jpg", 16, &value, &value_len),
			 RESPELL_CERTAIN);
}
END_TEST

START_TEST(test_unset_match_is_inactive_and_keep_remembers)
{
	struct refmatch zero = { 0 };
	const char *value;
	size_t value_len;

	ck_assert_msg(!refmatch_is_active(&zero), "a zeroed match is not active");
	ck_assert_msg(!refmatch_is_kept(&zero, "x", 1), "and keeps nothing");
	ck_assert_int_eq(refmatch_spelling(&zero, "x", 1, &value, &value_len), RESPELL_NONE);
	refmatch_clear(&zero);
	ck_assert_msg(refmatch_is_active(&m), "set up");
	ck_assert_int_eq(refmatch_keep(&m, "later.jpg", 9), 0);
	ck_assert_msg(kept("later.jpg"), "kept");
}
END_TEST

static Suite *refmatch_suite(void)
{
	Suite *s = suite_create("refmatch");
	TCase *tc = tcase_create("refmatch");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_value_through_a_link_keeps_the_link_and_its_target);
	tcase_add_test(tc, test_marked_values_and_plain_files_keep_nothing);
	tcase_add_test(tc, test_link_out_of_backing_keeps_only_itself_and_is_counted);
	tcase_add_test(tc, test_value_naming_nothing_finds_another_spelling_on_disk);
	tcase_add_test(tc, test_missing_directory_is_walked_once);
	tcase_add_test(tc, test_missing_directory_values_are_respelt_too);
	tcase_add_test(tc, test_unset_match_is_inactive_and_keep_remembers);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *runner = srunner_create(refmatch_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
