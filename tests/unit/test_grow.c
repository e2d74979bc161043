/*
 * Unit tests for refdb/grow.c: the room doubles from the first size until
 * the need fits, what is in the array moves with it, and a size that
 * cannot be computed is refused with the array and its capacity untouched.
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "grow.h"

START_TEST(test_new_array_starts_at_the_first_size)
{
	size_t capacity = 0;
	int *items = grow_array(NULL, &capacity, 1, sizeof(*items), 8);

	ck_assert_ptr_nonnull(items);
	ck_assert_uint_eq(capacity, 8);
	free(items);
	capacity = 0;
	items = grow_array(NULL, &capacity, 1, sizeof(*items), 0);
	ck_assert_ptr_nonnull(items);
	ck_assert_uint_eq(capacity, 1);
	free(items);
}
END_TEST

START_TEST(test_room_doubles_until_the_need_fits_and_items_move_along)
{
	size_t capacity = 0, count = 0;
	int *items = NULL;

	for (int i = 0; i < 1000; i++) {
		int *grown = grow_array(items, &capacity, count + 1, sizeof(*items), 8);

		ck_assert_ptr_nonnull(grown);
		items = grown;
		items[count++] = i;
	}
	ck_assert_uint_eq(capacity, 1024);
	for (int i = 0; i < 1000; i++)
		ck_assert_int_eq(items[i], i);
	items = grow_array(items, &capacity, 5000, sizeof(*items), 8);
	ck_assert_ptr_nonnull(items);
	ck_assert_uint_eq(capacity, 8192);
	ck_assert_int_eq(items[999], 999);
	free(items);
}
END_TEST

START_TEST(test_enough_room_leaves_the_array_as_it_is)
{
	size_t capacity = 0;
	int *items = grow_array(NULL, &capacity, 16, sizeof(*items), 16);

	ck_assert_ptr_nonnull(items);
	ck_assert_ptr_eq(grow_array(items, &capacity, 16, sizeof(*items), 16), items);
	ck_assert_ptr_eq(grow_array(items, &capacity, 3, sizeof(*items), 16), items);
	ck_assert_uint_eq(capacity, 16);
	free(items);
}
END_TEST

/* Needs whose size in bytes does not fit a size_t. */
static const struct {
	size_t need;
	size_t item_size;
} too_big[] = {
	{ SIZE_MAX, 1 },			/* the doubling overflows */
	{ SIZE_MAX / 2 + 2, 1 },		/* one doubling short */
	{ SIZE_MAX / 16 + 1, 16 },		/* the product overflows */
	{ SIZE_MAX / 4, 64 },
};

START_TEST(test_overflow_is_refused_with_the_items_untouched)
{
	size_t capacity = 0;
	char *items = grow_array(NULL, &capacity, 4, 1, 4);
	char *result;

	ck_assert_ptr_nonnull(items);
	items[0] = 'a', items[3] = 'z';
	errno = 0;
	result = grow_array(items, &capacity, too_big[_i].need, too_big[_i].item_size, 4);
	ck_assert_ptr_null(result);
	ck_assert_int_eq(errno, ENOMEM);
	ck_assert_uint_eq(capacity, 4);
	ck_assert_msg(items[0] == 'a' && items[3] == 'z', "the caller still owns its items");
	free(items);
}
END_TEST

static Suite *grow_suite(void)
{
	Suite *s = suite_create("grow");
	TCase *tc = tcase_create("grow_array");

	tcase_add_test(tc, test_new_array_starts_at_the_first_size);
	tcase_add_test(tc, test_room_doubles_until_the_need_fits_and_items_move_along);
	tcase_add_test(tc, test_enough_room_leaves_the_array_as_it_is);
	tcase_add_loop_test(tc, test_overflow_is_refused_with_the_items_untouched, 0,
			    sizeof(too_big) / sizeof(too_big[0]));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *runner = srunner_create(grow_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
