/*
 * Unit tests for fs/inode.c: lookup counting, growth and forgetting.
 */
#include <check.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "inode.h"

static struct stat fake_stat(ino_t ino)
{
	struct stat st = { .st_dev = 7, .st_ino = ino, .st_mode = S_IFREG | 0644 };
	return st;
}

static struct inode_table table;
static struct stat root_stat;

static void setup(void)
{
	root_stat = (struct stat){ .st_dev = 7, .st_ino = 2, .st_mode = S_IFDIR | 0755 };
	ck_assert_int_eq(inode_table_init(&table, -1, &root_stat, 0), 0);
}

static void teardown(void)
{
	inode_table_destroy(&table);
}

START_TEST(test_acquire_inserts_once_and_counts_lookups)
{
	struct stat st = fake_stat(100);
	int fd = open("/", O_PATH);
	int second_fd = open("/", O_PATH);

	struct inode *a = inode_table_acquire(&table, &st, &fd);
	ck_assert_msg(a != NULL, "a new inode is inserted");
	ck_assert_msg(fd == -1, "the table takes the descriptor of a new inode");
	struct inode *b = inode_table_acquire(&table, &st, &second_fd);
	ck_assert_msg(a == b, "the same (dev, ino) gives the same entry");
	ck_assert_msg(second_fd >= 0, "a known inode leaves the descriptor to the caller");
	close(second_fd);
	ck_assert_uint_eq(a->nlookup, 2);
	ck_assert_uint_eq(inode_table_count(&table), 1);
}
END_TEST

START_TEST(test_find_does_not_insert)
{
	struct stat st = fake_stat(101);

	ck_assert_msg(inode_table_find(&table, &st) == NULL,
		      "find of an unknown inode returns NULL");
	ck_assert_uint_eq(inode_table_count(&table), 0);
}
END_TEST

START_TEST(test_forget_frees_at_zero)
{
	struct stat st = fake_stat(102);
	int fd = open("/", O_PATH);
	struct inode *a = inode_table_acquire(&table, &st, &fd);

	ck_assert_ptr_eq(inode_table_find(&table, &st), a);
	inode_table_forget(&table, a, 1);
	ck_assert_msg(inode_table_node_id(&table, 7, 102) != 0,
		      "one lookup remains after forgetting one of two");
	inode_table_forget(&table, a, 1);
	ck_assert_msg(inode_table_node_id(&table, 7, 102) == 0,
		      "the entry is gone after its last lookup is forgotten");
	ck_assert_uint_eq(inode_table_count(&table), 0);
}
END_TEST

START_TEST(test_root_is_found_and_never_freed)
{
	ck_assert_ptr_eq(inode_table_find(&table, &root_stat), &table.root);
	inode_table_forget(&table, &table.root, 1000);
	ck_assert_uint_eq(inode_table_node_id(&table, 7, 2), INODE_ROOT_ID);
}
END_TEST

START_TEST(test_many_inodes_survive_growth)
{
	enum { N = 5000 };
	for (ino_t i = 1000; i < 1000 + N; i++) {
		struct stat st = fake_stat(i);
		int fd = open("/", O_PATH);
		ck_assert_ptr_nonnull(inode_table_acquire(&table, &st, &fd));
	}
	ck_assert_uint_eq(inode_table_count(&table), N);
	for (ino_t i = 1000; i < 1000 + N; i++)
		ck_assert_msg(inode_table_node_id(&table, 7, i) != 0,
			      "inode %lu is still found after the table grew",
			      (unsigned long)i);
	ck_assert_msg(inode_table_node_id(&table, 8, 1000) == 0,
		      "another device's inode of the same number is not found");
}
END_TEST

static Suite *inode_suite(void)
{
	Suite *s = suite_create("inode");
	TCase *tc = tcase_create("table");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_acquire_inserts_once_and_counts_lookups);
	tcase_add_test(tc, test_find_does_not_insert);
	tcase_add_test(tc, test_forget_frees_at_zero);
	tcase_add_test(tc, test_root_is_found_and_never_freed);
	tcase_add_test(tc, test_many_inodes_survive_growth);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *runner = srunner_create(inode_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
