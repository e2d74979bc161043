/*
 * Unit tests for fs/core/adopt.c on a temporary BACKING: the walk finds every
 * file, and a directory removed while the walk stands in it (as an rmdir
 * through the mount does during the startup adoption) ends that directory
 * rather than the whole walk.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "adopt.h"
#include "store.h"

static char backing[] = "/tmp/mediafs-test-adopt-XXXXXX";
static struct store st;

static void run(const char *fmt, const char *arg)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), fmt, arg, arg, arg);
	ck_assert_int_eq(system(cmd), 0);
}

static void setup(void)
{
	char why[1024];

	strcpy(backing, "/tmp/mediafs-test-adopt-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(backing));
	ck_assert_msg(store_open(&st, backing, why, sizeof(why)) == 0, "%s", why);
}

static void teardown(void)
{
	store_close(&st);
	run("rm -rf %s", backing);
}

struct seen {
	int files;
	char last[256];
};

static int note_found(void *ctx, const struct catalog_found *found)
{
	struct seen *seen = ctx;

	seen->files++;
	snprintf(seen->last, sizeof(seen->last), "%s", found->path);
	return 0;
}

/* Does this process hold a descriptor open on path? */
static bool process_holds(const char *path)
{
	char link[300], target[PATH_MAX];
	bool holds = false;
	struct dirent *d;
	DIR *fds = opendir("/proc/self/fd");
	ssize_t len;

	ck_assert_ptr_nonnull(fds);
	while (!holds && (d = readdir(fds)) != NULL) {
		snprintf(link, sizeof(link), "/proc/self/fd/%s", d->d_name);
		len = readlink(link, target, sizeof(target) - 1);
		if (len < 0)
			continue;
		target[len] = '\0';
		holds = strcmp(target, path) == 0;
	}
	closedir(fds);
	return holds;
}

START_TEST(test_walk_finds_every_file)
{
	struct adopt_walk *walk;
	struct seen seen = { 0 };
	const char *where = NULL;
	int more;

	run("mkdir -p %s/a/b && echo x > %s/a/b/f.jpg && echo y > %s/top.jpg", backing);
	ck_assert_int_eq(adopt_walk_start(&st, &walk), 0);
	while ((more = adopt_walk_step(walk, 1, note_found, &seen, &where)) == 1)
		;
	ck_assert_msg(more == 0, "the walk ends: %d at '%s'", more, where ? where : "");
	ck_assert_int_eq(seen.files, 2);
	ck_assert_uint_eq(adopt_walk_files(walk), 2);
	adopt_walk_free(walk);
}
END_TEST

START_TEST(test_directory_removed_during_the_walk_ends_only_itself)
{
	struct adopt_walk *walk;
	struct seen seen = { 0 };
	const char *where = NULL;
	char gone[300];
	int more;

	/* One entry at a time until the walk has opened "gone" (and not yet
	 * read it): then it goes. */
	run("mkdir %s/gone", backing);
	snprintf(gone, sizeof(gone), "%s/gone", backing);
	ck_assert_int_eq(adopt_walk_start(&st, &walk), 0);
	while (!process_holds(gone))
		ck_assert_int_eq(adopt_walk_step(walk, 1, note_found, &seen, &where), 1);
	ck_assert_int_eq(rmdir(gone), 0);
	while ((more = adopt_walk_step(walk, 1, note_found, &seen, &where)) == 1)
		;
	ck_assert_msg(more == 0, "the walk goes on past the removed directory: %s at '%s'",
		      strerror(-more), where ? where : "");
	adopt_walk_free(walk);
}
END_TEST

static Suite *adopt_suite(void)
{
	Suite *s = suite_create("adopt");
	TCase *tc = tcase_create("walk");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_walk_finds_every_file);
	tcase_add_test(tc, test_directory_removed_during_the_walk_ends_only_itself);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *runner = srunner_create(adopt_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
