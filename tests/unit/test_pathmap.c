/*
 * Unit tests for fs/core/pathmap.c: values by path, replaced and removed;
 * counts that vanish at zero; pruning by stamp; a table that grows and
 * reuses the slots of removed entries without losing one; and many
 * threads at once.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pathmap.h"

static struct pathmap *map;

static void setup(void)
{
	map = pathmap_new();
	ck_assert_ptr_nonnull(map);
}

static void teardown(void)
{
	pathmap_free(map);
}

START_TEST(test_put_says_whether_the_key_is_new_and_get_copies_the_value)
{
	char out[64];

	ck_assert_int_eq(pathmap_put(map, "a/b.jpg", "s1/a/b.jpg", 5), 1);
	ck_assert_int_eq(pathmap_put(map, "a/b.jpg", "s2/a/b.jpg", 6), 0);
	ck_assert_uint_eq(pathmap_count(map), 1);
	ck_assert_msg(pathmap_get(map, "a/b.jpg", out, sizeof(out)), "found");
	ck_assert_str_eq(out, "s2/a/b.jpg");
	ck_assert_msg(pathmap_get(map, "a/b.jpg", NULL, 0), "found without a copy");
	ck_assert_msg(!pathmap_get(map, "a/c.jpg", out, sizeof(out)), "another key is not");
	ck_assert_msg(!pathmap_get(map, "a/b.jp", out, sizeof(out)), "nor a prefix");
}
END_TEST

START_TEST(test_value_is_cut_to_the_buffer)
{
	char out[4];

	ck_assert_int_eq(pathmap_put(map, "k", "abcdef", 0), 1);
	ck_assert_msg(pathmap_get(map, "k", out, sizeof(out)), "found");
	ck_assert_str_eq(out, "abc");
}
END_TEST

START_TEST(test_remove_with_a_value_removes_only_that_value)
{
	ck_assert_int_eq(pathmap_put(map, "p", "new", 0), 1);
	ck_assert_msg(!pathmap_remove(map, "p", "old"), "an older value removes nothing");
	ck_assert_msg(pathmap_get(map, "p", NULL, 0), "still there");
	ck_assert_msg(pathmap_remove(map, "p", "new"), "its own value removes it");
	ck_assert_msg(!pathmap_get(map, "p", NULL, 0), "gone");
	ck_assert_int_eq(pathmap_put(map, "p", "again", 0), 1);
	ck_assert_msg(pathmap_remove(map, "p", NULL), "any value");
	ck_assert_msg(!pathmap_remove(map, "p", NULL), "once");
	ck_assert_uint_eq(pathmap_count(map), 0);
}
END_TEST

START_TEST(test_counts_go_up_and_vanish_at_zero)
{
	ck_assert_int_eq(pathmap_count_add(map, "dir", 1), 0);
	ck_assert_int_eq(pathmap_count_add(map, "dir", 2), 0);
	ck_assert_int_eq(pathmap_count_add(map, "dir", -2), 0);
	ck_assert_msg(pathmap_get(map, "dir", NULL, 0), "one left");
	ck_assert_int_eq(pathmap_count_add(map, "dir", -1), 0);
	ck_assert_msg(!pathmap_get(map, "dir", NULL, 0), "none left: gone");
	ck_assert_int_eq(pathmap_count_add(map, "other", -1), 0);
	ck_assert_msg(!pathmap_get(map, "other", NULL, 0), "a count below zero is not made");
	ck_assert_uint_eq(pathmap_count(map), 0);
}
END_TEST

START_TEST(test_prune_removes_entries_stamped_before)
{
	ck_assert_int_eq(pathmap_put(map, "old", "", 10), 1);
	ck_assert_int_eq(pathmap_put(map, "edge", "", 20), 1);
	ck_assert_int_eq(pathmap_put(map, "new", "", 30), 1);
	pathmap_prune(map, 20);
	ck_assert_msg(!pathmap_get(map, "old", NULL, 0), "older: removed");
	ck_assert_msg(pathmap_get(map, "edge", NULL, 0), "at the stamp: kept");
	ck_assert_msg(pathmap_get(map, "new", NULL, 0), "newer: kept");
	ck_assert_uint_eq(pathmap_count(map), 2);
}
END_TEST

START_TEST(test_many_entries_survive_growth)
{
	char key[32], value[32], out[32];

	for (int i = 0; i < 20000; i++) {
		snprintf(key, sizeof(key), "photos/%d.jpg", i);
		snprintf(value, sizeof(value), "v%d", i);
		ck_assert_int_eq(pathmap_put(map, key, value, i), 1);
	}
	ck_assert_uint_eq(pathmap_count(map), 20000);
	for (int i = 0; i < 20000; i++) {
		snprintf(key, sizeof(key), "photos/%d.jpg", i);
		snprintf(value, sizeof(value), "v%d", i);
		ck_assert_msg(pathmap_get(map, key, out, sizeof(out)), "'%s' found", key);
		ck_assert_str_eq(out, value);
	}
}
END_TEST

START_TEST(test_slots_of_removed_entries_are_reused)
{
	char key[32];

	/* Far more puts and removes than slots, with few entries at a time:
	 * removed entries must neither fill the table nor hide live ones. */
	ck_assert_int_eq(pathmap_put(map, "stays", "", 0), 1);
	for (int i = 0; i < 20000; i++) {
		snprintf(key, sizeof(key), "tmp/%d", i);
		ck_assert_int_eq(pathmap_put(map, key, "", 0), 1);
		if (i >= 10) {
			snprintf(key, sizeof(key), "tmp/%d", i - 10);
			ck_assert_msg(pathmap_remove(map, key, NULL), "'%s' removed", key);
		}
	}
	ck_assert_uint_eq(pathmap_count(map), 11);
	ck_assert_msg(pathmap_get(map, "stays", NULL, 0), "the first entry is still found");
	ck_assert_msg(pathmap_get(map, "tmp/19999", NULL, 0), "the last one too");
}
END_TEST

enum { THREADS = 4, PER_THREAD = 5000 };

static void *fill(void *arg)
{
	long t = (long)arg;
	char key[32];

	for (int i = 0; i < PER_THREAD; i++) {
		snprintf(key, sizeof(key), "t%ld/%d", t, i);
		if (pathmap_put(map, key, key, i) != 1)
			return (void *)1;
		if (pathmap_count_add(map, "shared", 1) != 0)
			return (void *)1;
	}
	return NULL;
}

START_TEST(test_threads_at_once_lose_nothing)
{
	pthread_t threads[THREADS];
	char out[32];
	void *res;

	ck_assert_int_eq(pathmap_count_add(map, "shared", 1), 0);
	for (long t = 0; t < THREADS; t++)
		ck_assert_int_eq(pthread_create(&threads[t], NULL, fill, (void *)t), 0);
	for (int t = 0; t < THREADS; t++) {
		ck_assert_int_eq(pthread_join(threads[t], &res), 0);
		ck_assert_ptr_null(res);
	}
	ck_assert_uint_eq(pathmap_count(map), THREADS * PER_THREAD + 1);
	ck_assert_msg(pathmap_get(map, "t3/4999", out, sizeof(out)), "found");
	ck_assert_str_eq(out, "t3/4999");
	for (int i = 0; i < THREADS * PER_THREAD; i++)
		ck_assert_int_eq(pathmap_count_add(map, "shared", -1), 0);
	ck_assert_msg(pathmap_get(map, "shared", NULL, 0), "every count was added");
}
END_TEST

enum { NEW_KEYS = 2000 };

static void *count_new_keys(void *arg)
{
	char key[32];

	(void)arg;
	for (int i = 0; i < NEW_KEYS; i++) {
		snprintf(key, sizeof(key), "new/%d", i);
		if (pathmap_count_add(map, key, 1) != 0)
			return (void *)1;
	}
	return NULL;
}

/* Threads that make the same keys at once each add their count. */
START_TEST(test_first_counts_at_once_all_count)
{
	pthread_t threads[THREADS];
	char key[32];
	void *res;

	for (long t = 0; t < THREADS; t++)
		ck_assert_int_eq(pthread_create(&threads[t], NULL, count_new_keys, NULL), 0);
	for (int t = 0; t < THREADS; t++) {
		ck_assert_int_eq(pthread_join(threads[t], &res), 0);
		ck_assert_ptr_null(res);
	}
	for (int i = 0; i < NEW_KEYS; i++) {
		snprintf(key, sizeof(key), "new/%d", i);
		ck_assert_int_eq(pathmap_count_add(map, key, -(THREADS - 1)), 0);
		ck_assert_msg(pathmap_get(map, key, NULL, 0), "%s counted %d times", key, THREADS);
		ck_assert_int_eq(pathmap_count_add(map, key, -1), 0);
		ck_assert_msg(!pathmap_get(map, key, NULL, 0), "%s counted once too often", key);
	}
}
END_TEST

static Suite *pathmap_suite(void)
{
	Suite *s = suite_create("pathmap");
	TCase *tc = tcase_create("pathmap");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_put_says_whether_the_key_is_new_and_get_copies_the_value);
	tcase_add_test(tc, test_value_is_cut_to_the_buffer);
	tcase_add_test(tc, test_remove_with_a_value_removes_only_that_value);
	tcase_add_test(tc, test_counts_go_up_and_vanish_at_zero);
	tcase_add_test(tc, test_prune_removes_entries_stamped_before);
	tcase_add_test(tc, test_many_entries_survive_growth);
	tcase_add_test(tc, test_slots_of_removed_entries_are_reused);
	tcase_add_test(tc, test_threads_at_once_lose_nothing);
	tcase_add_test(tc, test_first_counts_at_once_all_count);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *runner = srunner_create(pathmap_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
