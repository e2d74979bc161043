/*
 * Unit tests for refdb/refset.c: a set of distinct paths whose size follows
 * the distinct paths, not the values added.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "refset.h"

static struct refset *set;

static void setup(void)
{
	set = refset_new();
	ck_assert_ptr_nonnull(set);
}

static void teardown(void)
{
	refset_free(set);
}

START_TEST(test_a_new_set_is_empty)
{
	ck_assert_uint_eq(refset_count(set), 0);
	ck_assert(!refset_contains(set, "a", 1));
	ck_assert(!refset_contains(set, "", 0));
}
END_TEST

START_TEST(test_adding_a_path_twice_keeps_one)
{
	ck_assert_int_eq(refset_add(set, "photos/a.jpg", 12), 0);
	ck_assert_int_eq(refset_add(set, "photos/a.jpg", 12), 0);
	ck_assert_uint_eq(refset_count(set), 1);
	ck_assert(refset_contains(set, "photos/a.jpg", 12));
}
END_TEST

START_TEST(test_paths_are_compared_by_length_and_bytes)
{
	ck_assert_int_eq(refset_add(set, "a/b.jpgXXX", 7), 0);
	ck_assert(refset_contains(set, "a/b.jpg", 7));
	ck_assert(!refset_contains(set, "a/b.jp", 6));
	ck_assert(!refset_contains(set, "a/b.jpgX", 8));
	ck_assert(!refset_contains(set, "A/b.jpg", 7));
	ck_assert_int_eq(refset_add(set, "a\0b", 3), 0);
	ck_assert(refset_contains(set, "a\0b", 3));
	ck_assert(!refset_contains(set, "a\0c", 3));
	ck_assert(!refset_contains(set, "a", 1));
}
END_TEST

START_TEST(test_the_empty_path_is_a_member_like_any_other)
{
	ck_assert_int_eq(refset_add(set, "", 0), 0);
	ck_assert_int_eq(refset_add(set, "", 0), 0);
	ck_assert_uint_eq(refset_count(set), 1);
	ck_assert(refset_contains(set, "", 0));
}
END_TEST

START_TEST(test_an_overlong_path_is_refused_and_not_added)
{
	size_t len = REFSET_MAX_PATH_BYTES + 1;
	char *big = malloc(len);

	ck_assert_ptr_nonnull(big);
	memset(big, 'a', len);
	ck_assert_int_eq(refset_add(set, big, len), -ENAMETOOLONG);
	ck_assert_uint_eq(refset_count(set), 0);
	ck_assert(!refset_contains(set, big, len));
	ck_assert_int_eq(refset_add(set, big, len - 1), 0);
	ck_assert(refset_contains(set, big, len - 1));
	free(big);
}
END_TEST

/* A path like the ones media roots hold, ~40 bytes, distinct per i. */
static size_t make_path(char *buf, size_t size, unsigned long i)
{
	return (size_t)snprintf(buf, size, "photos/2024/%02lu/%08lu-thumbnail.jpg",
				i % 12 + 1, i * 2654435761UL % 100000000UL);
}

START_TEST(test_a_million_paths_with_duplicates_are_all_found)
{
	enum { PATHS = 1000000 };
	char path[64];
	size_t len;

	/* Every path is added twice, the second time in another order.
	 * Check's assertions are slow in a hot loop: test, then abort. */
	for (unsigned long i = 0; i < PATHS; i++) {
		len = make_path(path, sizeof(path), i);
		if (refset_add(set, path, len) != 0)
			ck_abort_msg("adding path %lu fails", i);
	}
	for (unsigned long i = PATHS; i-- > 0;) {
		len = make_path(path, sizeof(path), i);
		if (refset_add(set, path, len) != 0)
			ck_abort_msg("adding path %lu again fails", i);
	}
	ck_assert_uint_eq(refset_count(set), PATHS);
	for (unsigned long i = 0; i < PATHS; i++) {
		len = make_path(path, sizeof(path), i);
		if (!refset_contains(set, path, len))
			ck_abort_msg("path %lu '%s' is missing", i, path);
	}
	for (unsigned long i = PATHS; i < PATHS + 100000; i++) {
		len = make_path(path, sizeof(path), i);
		/* i * 2654435761 mod 1e8 repeats only after 1e8 values. */
		if (refset_contains(set, path, len))
			ck_abort_msg("path %lu '%s' was never added", i, path);
	}
	/* 1M paths of ~38 bytes: the table and the arena, nothing per value. */
	ck_assert_uint_lt(refset_memory_bytes(set), 100u * 1024 * 1024);
}
END_TEST

START_TEST(test_memory_follows_distinct_paths_not_values_added)
{
	char path[64];
	size_t before;

	for (unsigned long i = 0; i < 1000; i++)
		ck_assert_int_eq(refset_add(set, path, make_path(path, sizeof(path), i)), 0);
	before = refset_memory_bytes(set);
	for (int round = 0; round < 200; round++)
		for (unsigned long i = 0; i < 1000; i++)
			if (refset_add(set, path, make_path(path, sizeof(path), i)) != 0)
				ck_abort_msg("adding path %lu again fails", i);
	ck_assert_uint_eq(refset_memory_bytes(set), before);
	ck_assert_uint_eq(refset_count(set), 1000);
}
END_TEST

START_TEST(test_a_presized_set_holds_what_it_was_sized_for_and_more)
{
	/* Sized past the prefaulted huge-table threshold, then filled past
	 * its size so that it grows once. */
	struct refset *set = refset_new_sized(400000);
	char path[32];
	size_t table_bytes;

	ck_assert_ptr_nonnull(set);
	table_bytes = refset_memory_bytes(set);
	for (int i = 0; i < 800000; i++) {
		int len = snprintf(path, sizeof(path), "d%03d/f%07d.jpg", i % 1000, i);
		ck_assert_int_eq(refset_add(set, path, (size_t)len), 0);
	}
	ck_assert_uint_eq(refset_count(set), 800000);
	ck_assert_msg(refset_memory_bytes(set) > table_bytes, "it grew");
	for (int i = 0; i < 800000; i += 997) {
		int len = snprintf(path, sizeof(path), "d%03d/f%07d.jpg", i % 1000, i);
		refset_prefetch(set, path, (size_t)len);
		ck_assert(refset_contains(set, path, (size_t)len));
	}
	ck_assert(!refset_contains(set, "d000/f0800000.jpg", 17));
	refset_prefetch(set, "x", 1);	/* a prefetch of a non-member is harmless */
	refset_free(set);
}
END_TEST

static int collect_unmarked(void *ctx, const char *path, size_t len)
{
	char *seen = ctx;

	ck_assert_uint_eq(len, 1);
	seen[path[0] - 'a'] = 1;
	return 0;
}

START_TEST(test_marks_leave_the_unmarked_paths_to_visit)
{
	struct refset *set = refset_new();
	char seen[4] = { 0 };

	for (char c = 'a'; c <= 'd'; c++)
		ck_assert_int_eq(refset_add(set, &c, 1), 0);
	ck_assert(refset_mark(set, "b", 1));
	ck_assert(refset_mark(set, "b", 1));
	ck_assert(!refset_mark(set, "z", 1));
	ck_assert(refset_is_marked(set, "b", 1));
	ck_assert(!refset_is_marked(set, "a", 1));
	ck_assert(refset_contains(set, "b", 1));
	/* Growing the table keeps the marks. */
	for (int i = 0; i < 5000; i++) {
		char path[16];
		int len = snprintf(path, sizeof(path), "p%d", i);
		ck_assert_int_eq(refset_add(set, path, (size_t)len), 0);
		ck_assert(refset_mark(set, path, (size_t)len));
	}
	ck_assert(refset_is_marked(set, "b", 1));
	ck_assert_int_eq(refset_each_unmarked(set, collect_unmarked, seen), 0);
	ck_assert(seen[0] && !seen[1] && seen[2] && seen[3]);
	refset_free(set);
}
END_TEST

START_TEST(test_free_accepts_null)
{
	refset_free(NULL);
}
END_TEST

static Suite *refset_suite(void)
{
	Suite *s = suite_create("refset");
	TCase *tc = tcase_create("refset");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_a_new_set_is_empty);
	tcase_add_test(tc, test_adding_a_path_twice_keeps_one);
	tcase_add_test(tc, test_paths_are_compared_by_length_and_bytes);
	tcase_add_test(tc, test_the_empty_path_is_a_member_like_any_other);
	tcase_add_test(tc, test_an_overlong_path_is_refused_and_not_added);
	tcase_add_test(tc, test_a_million_paths_with_duplicates_are_all_found);
	tcase_add_test(tc, test_memory_follows_distinct_paths_not_values_added);
	tcase_add_test(tc, test_a_presized_set_holds_what_it_was_sized_for_and_more);
	tcase_add_test(tc, test_marks_leave_the_unmarked_paths_to_visit);
	tcase_add_test(tc, test_free_accepts_null);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *runner = srunner_create(refset_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
