/*
 * Unit tests for fs/preflight.c: each likely mistake of a new user is one
 * sentence naming the path and what to do, and a sound pair of
 * directories passes.  No mount is made; a FUSE mount point being busy is
 * left to the integration tests.
 */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "preflight.h"

static char dir[] = "/tmp/mediafs-test-preflight-XXXXXX";
static char backing[sizeof(dir) + 16], mountpoint[sizeof(dir) + 16];

static void setup(void)
{
	strcpy(dir, "/tmp/mediafs-test-preflight-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(backing, sizeof(backing), "%s/backing", dir);
	snprintf(mountpoint, sizeof(mountpoint), "%s/media", dir);
	ck_assert_int_eq(mkdir(backing, 0755), 0);
	ck_assert_int_eq(mkdir(mountpoint, 0755), 0);
}

static void teardown(void)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* A path under the test's directory. */
static const char *at(const char *name)
{
	static char path[2][sizeof(dir) + 64];
	static int next;
	char *p = path[next++ % 2];

	snprintf(p, sizeof(path[0]), "%s/%s", dir, name);
	return p;
}

START_TEST(test_sound_directories_pass)
{
	char message[1024] = "";
	struct stat sb;
	int expected = stat("/dev/fuse", &sb) == 0 ? 0 : -ENODEV;

	ck_assert_msg(preflight_check(backing, mountpoint, message, sizeof(message)) == expected,
		      "%s", message);
	ck_assert_msg(preflight_check(backing, backing, message, sizeof(message)) == expected,
		      "a mount over its own backing directory: %s", message);
	snprintf(mountpoint, sizeof(mountpoint), "%s/backing-2", dir);
	ck_assert_int_eq(mkdir(mountpoint, 0755), 0);
	ck_assert_msg(preflight_check(backing, mountpoint, message, sizeof(message)) == expected,
		      "a sibling whose name starts like it: %s", message);
}
END_TEST

static const struct {
	const char *setup;		/* run in the test's directory; NULL: nothing */
	const char *backing;		/* names under it */
	const char *mountpoint;
	int err;
	const char *says;
	bool names_mountpoint;		/* else the backing directory */
} mistakes[] = {
	{ NULL, "none", "media", -ENOENT, "cannot use backing directory", false },
	{ "touch file", "file", "media", -ENOTDIR, "is not a directory", false },
	{ NULL, "backing", "none", -ENOENT, "(create the directory first)", true },
	{ "touch file", "backing", "file", -ENOTDIR, "is not a directory", true },
	{ "mkdir backing/inner", "backing", "backing/inner", -EINVAL,
	  "is inside backing directory", true },
	{ "mkdir backing/inner && ln -s backing/inner link", "backing", "link", -EINVAL,
	  "is inside backing directory", true },
};

START_TEST(test_each_mistake_is_one_sentence)
{
	char cmd[512], message[1024] = "";
	const char *b = at(mistakes[_i].backing), *m = at(mistakes[_i].mountpoint);

	if (mistakes[_i].setup) {
		snprintf(cmd, sizeof(cmd), "cd '%s' && %s", dir, mistakes[_i].setup);
		ck_assert_int_eq(system(cmd), 0);
	}
	ck_assert_int_eq(preflight_check(b, m, message, sizeof(message)), mistakes[_i].err);
	ck_assert_msg(strstr(message, mistakes[_i].says), "%s", message);
	ck_assert_msg(strstr(message, mistakes[_i].names_mountpoint ? m : b), "names the path: %s",
		      message);
	ck_assert_ptr_null(strchr(message, '\n'));
}
END_TEST

START_TEST(test_plain_directory_is_no_fuse_mount)
{
	ck_assert_msg(!preflight_is_fuse_mount(mountpoint), "a plain directory");
	ck_assert_msg(!preflight_is_fuse_mount("/"), "the root is not FUSE here");
	ck_assert_msg(!preflight_is_fuse_mount(at("none")), "a missing path");
}
END_TEST

static Suite *preflight_suite(void)
{
	Suite *s = suite_create("preflight");
	TCase *tc = tcase_create("preflight");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_sound_directories_pass);
	tcase_add_loop_test(tc, test_each_mistake_is_one_sentence, 0,
			    sizeof(mistakes) / sizeof(mistakes[0]));
	tcase_add_test(tc, test_plain_directory_is_no_fuse_mount);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *runner = srunner_create(preflight_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
