/*
 * Unit tests for fs/inode.c: lookup counting, growth and forgetting, and
 * the writers and the gate that keep the checker off files open for writing,
 * and inode numbers that the backing filesystem gives again.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static struct inode *acquire_fake(ino_t ino)
{
	struct stat st = fake_stat(ino);
	int fd = open("/", O_PATH);
	struct inode *inode = inode_table_acquire(&table, &st, &fd);

	ck_assert_ptr_nonnull(inode);
	return inode;
}

START_TEST(test_gate_is_refused_while_a_writer_is_open)
{
	struct inode *a = acquire_fake(200);
	uint64_t moves;

	inode_writer_begin(&table, a, INODE_UNCHECKED, &moves);
	ck_assert_uint_eq(inode_table_writers(&table, 7, 200), 1);
	ck_assert_int_eq(inode_gate_enter(&table, 7, 200), -EBUSY);
	ck_assert_msg(inode_gate_enter(&table, 7, 201) == 0,
		      "another inode, or one the table does not know, may move");
	inode_gate_leave(&table, true);
	inode_writer_end(&table, a);
	ck_assert_uint_eq(inode_table_writers(&table, 7, 200), 0);
	ck_assert_int_eq(inode_gate_enter(&table, 7, 200), 0);
	inode_gate_leave(&table, false);
}
END_TEST

START_TEST(test_writer_checks_after_a_move_and_once_only)
{
	struct inode *a = acquire_fake(210);
	uint64_t moves;

	ck_assert_msg(inode_writer_begin(&table, a, INODE_UNCHECKED, &moves) == 1,
		      "a new entry is checked at its first writable open");
	inode_writer_checked(&table, a, moves);
	inode_writer_end(&table, a);
	ck_assert_int_eq(inode_writer_begin(&table, a, INODE_UNCHECKED, &moves), 0);
	inode_writer_end(&table, a);
	ck_assert_int_eq(inode_gate_enter(&table, 7, 999), 0);
	inode_gate_leave(&table, false);
	ck_assert_msg(inode_writer_begin(&table, a, INODE_UNCHECKED, &moves) == 0,
		      "a gate that moved nothing changes nothing");
	inode_writer_end(&table, a);
	ck_assert_int_eq(inode_gate_enter(&table, 7, 999), 0);
	inode_gate_leave(&table, true);
	ck_assert_msg(inode_writer_begin(&table, a, INODE_UNCHECKED, &moves) == 1,
		      "after any move, the next writable open checks");
	inode_writer_end(&table, a);
}
END_TEST

START_TEST(test_writer_of_a_file_opened_before_nothing_moved_need_not_check)
{
	struct inode *a = acquire_fake(220);
	uint64_t opened_at = inode_table_moves(&table), moves;

	ck_assert_int_eq(inode_writer_begin(&table, a, opened_at, &moves), 0);
	inode_writer_end(&table, a);
	ck_assert_int_eq(inode_gate_enter(&table, 7, 220), 0);
	inode_gate_leave(&table, true);
	ck_assert_msg(inode_writer_begin(&table, a, opened_at, &moves) == 1,
		      "opened before a move: the file may be where the move put it");
	inode_writer_end(&table, a);
}
END_TEST

struct opener {
	struct inode *inode;
	int result;
	atomic_bool done;
};

static void *open_for_writing(void *arg)
{
	struct opener *o = arg;
	uint64_t moves;

	o->result = inode_writer_begin(&table, o->inode, INODE_UNCHECKED, &moves);
	atomic_store(&o->done, true);
	return NULL;
}

START_TEST(test_writable_open_waits_for_the_gate_of_its_inode)
{
	struct opener o = { .inode = acquire_fake(230) };
	uint64_t moves;
	pthread_t thread;

	ck_assert_int_eq(inode_writer_begin(&table, o.inode, INODE_UNCHECKED, &moves), 1);
	inode_writer_checked(&table, o.inode, moves);
	inode_writer_end(&table, o.inode);
	ck_assert_int_eq(inode_gate_enter(&table, 7, 230), 0);
	ck_assert_int_eq(pthread_create(&thread, NULL, open_for_writing, &o), 0);
	/* It cannot finish while the gate is held; give it time to try. */
	for (int i = 0; i < 50; i++) {
		ck_assert_msg(!atomic_load(&o.done), "the open waits while its file moves");
		usleep(1000);
	}
	inode_gate_leave(&table, true);
	pthread_join(thread, NULL);
	ck_assert_msg(o.result == 1, "after the move it must check where its file is");
	ck_assert_msg(inode_gate_enter(&table, 7, 230) == -EBUSY,
		      "and the next move waits for it");
	inode_writer_end(&table, o.inode);
}
END_TEST

/*
 * A table over a real directory that keeps one descriptor open, so that
 * entries get closed; the rest reopen by handle.
 */
struct real_table {
	char dir[PATH_MAX];
	int dir_fd;
	struct inode_table table;
};

/* Returns false (and says why) when this process cannot close entries. */
static bool real_table_init(struct real_table *rt)
{
	const char *tmp = getenv("TMPDIR");
	struct stat st;

	snprintf(rt->dir, sizeof(rt->dir), "%s/test_inode-XXXXXX", tmp ? tmp : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(rt->dir));
	rt->dir_fd = open(rt->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(rt->dir_fd, 0);
	ck_assert_int_eq(fstat(rt->dir_fd, &st), 0);
	ck_assert_int_eq(inode_table_init(&rt->table, rt->dir_fd, &st, 1), 0);
	if (!inode_table_bounds_fds(&rt->table)) {
		fprintf(stderr, "skip: cannot reopen files by handle in %s "
			"(needs CAP_DAC_READ_SEARCH and file handles)\n", rt->dir);
		return false;
	}
	return true;
}

static void real_table_destroy(struct real_table *rt)
{
	char cmd[PATH_MAX + 16];

	inode_table_destroy(&rt->table);
	close(rt->dir_fd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", rt->dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* Create the symbolic link name -> target and acquire its entry. */
static struct inode *acquire_new_symlink(struct real_table *rt, const char *name,
					 const char *target, struct stat *st)
{
	int fd;
	struct inode *inode;

	ck_assert_int_eq(symlinkat(target, rt->dir_fd, name), 0);
	fd = openat(rt->dir_fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, st), 0);
	inode = inode_table_acquire(&rt->table, st, &fd);
	ck_assert_ptr_nonnull(inode);
	if (fd >= 0)
		close(fd);
	return inode;
}

START_TEST(test_closed_entry_of_the_same_file_is_found_again)
{
	struct real_table rt;
	struct stat st, other_st;

	if (!real_table_init(&rt))
		return;
	struct inode *a = acquire_new_symlink(&rt, "a", "target-a", &st);
	acquire_new_symlink(&rt, "b", "target-b", &other_st);
	ck_assert_msg(a->fd < 0, "a second entry closes the first (bound 1)");
	ck_assert_msg(inode_table_find(&rt.table, &st) == NULL,
		      "find does not vouch for a closed entry");

	int fd = openat(rt.dir_fd, "a", O_PATH | O_NOFOLLOW | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_ptr_eq(inode_table_acquire(&rt.table, &st, &fd), a);
	ck_assert_msg(fd == -1, "the closed entry takes the descriptor of its own file");
	ck_assert_uint_eq(a->nlookup, 2);
	ck_assert_uint_eq(inode_table_count(&rt.table), 2);
	real_table_destroy(&rt);
}
END_TEST

START_TEST(test_reused_number_gets_an_entry_of_its_own)
{
	enum { TRIES = 1000 };
	struct real_table rt;
	struct stat old_st, st;
	char name[32], target[PATH_MAX];
	int i, fd;

	if (!real_table_init(&rt))
		return;
	struct inode *old = acquire_new_symlink(&rt, "old", "target-old", &old_st);
	acquire_new_symlink(&rt, "other", "target-other", &st);
	ck_assert_msg(old->fd < 0, "a second entry closes the first (bound 1)");
	/* The kernel still holds old's node id; the file goes. */
	ck_assert_int_eq(unlinkat(rt.dir_fd, "old", 0), 0);
	for (i = 0; i < TRIES; i++) {
		snprintf(name, sizeof(name), "new%d", i);
		ck_assert_int_eq(symlinkat("target-new", rt.dir_fd, name), 0);
		ck_assert_int_eq(fstatat(rt.dir_fd, name, &st, AT_SYMLINK_NOFOLLOW), 0);
		if (st.st_ino == old_st.st_ino && st.st_dev == old_st.st_dev)
			break;
	}
	if (i == TRIES) {
		fprintf(stderr, "skip: the filesystem of %s gave no inode number "
			"again in %d files\n", rt.dir, TRIES);
		real_table_destroy(&rt);
		return;
	}
	ck_assert_msg(inode_table_find(&rt.table, &st) == NULL,
		      "find does not give the dead file's entry to the new one");
	fd = openat(rt.dir_fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	struct inode *fresh = inode_table_acquire(&rt.table, &st, &fd);
	ck_assert_ptr_nonnull(fresh);
	ck_assert_msg(fresh != old, "a reused inode number gets a new entry, "
		      "so a new node id");
	ck_assert_int_eq(fd, -1);

	int held = inode_hold_fd(&rt.table, fresh);
	ck_assert_int_ge(held, 0);
	ssize_t len = readlinkat(held, "", target, sizeof(target));
	ck_assert_int_eq(len, (ssize_t)strlen("target-new"));
	ck_assert_msg(memcmp(target, "target-new", (size_t)len) == 0,
		      "the new entry reads the new file");
	inode_release_fd(&rt.table, fresh);
	ck_assert_int_eq(inode_hold_fd(&rt.table, old), -ESTALE);
	inode_release_fd(&rt.table, old);

	ck_assert_uint_eq(inode_table_node_id(&rt.table, st.st_dev, st.st_ino),
			  (uint64_t)(uintptr_t)fresh);
	inode_table_forget(&rt.table, old, 1);
	ck_assert_msg(inode_table_node_id(&rt.table, st.st_dev, st.st_ino) ==
		      (uint64_t)(uintptr_t)fresh,
		      "forgetting the old entry leaves the new one");
	ck_assert_uint_eq(inode_table_count(&rt.table), 2);
	real_table_destroy(&rt);
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
	tcase_add_test(tc, test_gate_is_refused_while_a_writer_is_open);
	tcase_add_test(tc, test_writer_checks_after_a_move_and_once_only);
	tcase_add_test(tc, test_writer_of_a_file_opened_before_nothing_moved_need_not_check);
	tcase_add_test(tc, test_writable_open_waits_for_the_gate_of_its_inode);
	suite_add_tcase(s, tc);

	TCase *reuse = tcase_create("reuse");
	tcase_add_test(reuse, test_closed_entry_of_the_same_file_is_found_again);
	tcase_add_test(reuse, test_reused_number_gets_an_entry_of_its_own);
	suite_add_tcase(s, reuse);
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
