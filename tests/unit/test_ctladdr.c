/*
 * Unit tests for fs/core/ctladdr.c: where the control socket of a mount
 * lives, which the daemon and mediactl must agree on without talking.
 * Names are escaped as systemd escapes paths, so two mount points never
 * share a socket; long ones are hashed to fit a socket address.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctladdr.h"

enum { PATH_BYTES = 512 };

static void setup(void)
{
	ck_assert_int_eq(setenv("MEDIAFS_RUNTIME_DIR", "/run/test", 1), 0);
}

START_TEST(test_runtime_dir_is_chosen_in_order)
{
	char dir[PATH_BYTES], expected[PATH_BYTES];

	ck_assert_int_eq(ctladdr_runtime_dir(dir, sizeof(dir)), 0);
	ck_assert_str_eq(dir, "/run/test");
	ck_assert_int_eq(setenv("MEDIAFS_RUNTIME_DIR", "", 1), 0);
	ck_assert_int_eq(setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1), 0);
	ck_assert_int_eq(ctladdr_runtime_dir(dir, sizeof(dir)), 0);
	ck_assert_str_eq(dir, geteuid() == 0 ? "/run/mediafs" : "/run/user/1000/mediafs");
	ck_assert_int_eq(unsetenv("XDG_RUNTIME_DIR"), 0);
	ck_assert_int_eq(ctladdr_runtime_dir(dir, sizeof(dir)), 0);
	if (geteuid() == 0)
		snprintf(expected, sizeof(expected), "/run/mediafs");
	else
		snprintf(expected, sizeof(expected), "/tmp/mediafs-%u", (unsigned)geteuid());
	ck_assert_str_eq(dir, expected);
	ck_assert_int_eq(ctladdr_runtime_dir(dir, 4), -ENAMETOOLONG);
}
END_TEST

static const struct {
	const char *mountpoint;
	const char *name;
} names[] = {
	{ "/srv/media", "srv-media" },
	{ "/a/b", "a-b" },
	{ "/a-b", "a\\x2db" },
	{ "/with space/caf\xc3\xa9", "with\\x20space-caf\\xc3\\xa9" },
	{ "/v1.2_x", "v1.2_x" },
	{ "/", "-" },
	{ "/-", "\\x2d" },
};

START_TEST(test_mount_point_is_escaped_into_the_socket_name)
{
	char sock[PATH_BYTES], info[PATH_BYTES], expected[PATH_BYTES];

	ck_assert_int_eq(ctladdr_for_mount(names[_i].mountpoint, sock, sizeof(sock), info,
					   sizeof(info)), 0);
	snprintf(expected, sizeof(expected), "/run/test/%s.sock", names[_i].name);
	ck_assert_str_eq(sock, expected);
	snprintf(expected, sizeof(expected), "/run/test/%s.json", names[_i].name);
	ck_assert_str_eq(info, expected);
}
END_TEST

/* A mount point of len bytes, "/mmm...". */
static void long_mount(char *mount, size_t len)
{
	memset(mount, 'm', len);
	mount[0] = '/';
	mount[len] = '\0';
}

START_TEST(test_long_mount_point_gets_a_hashed_name_that_fits)
{
	struct sockaddr_un addr;
	char mount[300], sock[PATH_BYTES], again[PATH_BYTES], other[PATH_BYTES];

	/* "/run/test/" + 92 bytes + ".sock" is 107 bytes: the longest that
	 * fits with its NUL, kept as it is; one more is hashed. */
	long_mount(mount, 93);
	ck_assert_int_eq(ctladdr_for_mount(mount, sock, sizeof(sock), NULL, 0), 0);
	ck_assert_uint_eq(strlen(sock), sizeof(addr.sun_path) - 1);
	ck_assert_msg(strncmp(sock, "/run/test/mmm", 13) == 0, "%s", sock);
	long_mount(mount, 94);
	ck_assert_int_eq(ctladdr_for_mount(mount, sock, sizeof(sock), NULL, 0), 0);
	ck_assert_msg(strncmp(sock, "/run/test/mount-", 16) == 0, "%s", sock);
	long_mount(mount, sizeof(mount) - 1);
	ck_assert_int_eq(ctladdr_for_mount(mount, sock, sizeof(sock), NULL, 0), 0);
	ck_assert_msg(strlen(sock) < sizeof(addr.sun_path), "'%s' fits a socket address", sock);
	ck_assert_msg(strncmp(sock, "/run/test/mount-", 16) == 0, "%s", sock);
	ck_assert_int_eq(ctladdr_for_mount(mount, again, sizeof(again), NULL, 0), 0);
	ck_assert_str_eq(sock, again);
	mount[100] = 'n';
	ck_assert_int_eq(ctladdr_for_mount(mount, other, sizeof(other), NULL, 0), 0);
	ck_assert_str_ne(sock, other);
}
END_TEST

START_TEST(test_short_buffers_are_refused)
{
	char sock[PATH_BYTES], small[12];

	ck_assert_int_eq(ctladdr_for_mount("/srv/media", small, sizeof(small), NULL, 0),
			 -ENAMETOOLONG);
	ck_assert_int_eq(ctladdr_for_mount("/srv/media", sock, sizeof(sock), small,
					   sizeof(small)), -ENAMETOOLONG);
	ck_assert_int_eq(ctladdr_for_mount("/srv/media", NULL, 0, NULL, 0), 0);
}
END_TEST

static Suite *ctladdr_suite(void)
{
	Suite *s = suite_create("ctladdr");
	TCase *tc = tcase_create("ctladdr");

	/* Each test runs in a child of its own (fork mode): the environment
	 * it changes goes with it. */
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_runtime_dir_is_chosen_in_order);
	tcase_add_loop_test(tc, test_mount_point_is_escaped_into_the_socket_name, 0,
			    sizeof(names) / sizeof(names[0]));
	tcase_add_test(tc, test_long_mount_point_gets_a_hashed_name_that_fits);
	tcase_add_test(tc, test_short_buffers_are_refused);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *runner = srunner_create(ctladdr_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
