/*
 * Security tests of the surface that a local user, a file name or a
 * database value reaches (issue 13, "no local user gains anything"):
 *
 *   - POSIX ACLs hold through the mount as on the native filesystem: every
 *     case runs as the unprivileged test user in a native directory and
 *     through the mount, and the two must agree (and agree with what ACLs
 *     mean, so that two equal wrong answers fail too);
 *   - names and values are data on a terminal: mediactl's output for
 *     people and the daemon's log carry no control byte and no forged line
 *     whatever the names in the mount and the values in the database;
 *   - the control socket cannot be starved: a client beyond the limit is
 *     told so, idle and trickling clients are closed, and restore takes
 *     a path literally unless --glob is given.
 *
 * Needs root, /dev/fuse and an ACL-capable /tmp; skips (77) otherwise.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mount_harness.h"
#include "user_harness.h"

enum {
	WAIT_MS = 10000,
	OUTPUT_BYTES = 1 << 17,
	ACL_BYTES = 2048,
	MAX_CONNECTIONS = 16,	/* the daemon's limit (fs/ctl.c) */
	TRICKLE_MS = 300,
};

/* The control socket's idle timeout in these tests; the default is 60 s. */
#define IDLE_TIMEOUT "2s"
#define IDLE_TIMEOUT_MS 2000

static struct mount_harness h;
static struct test_user user;
static char native[600];		/* a plain directory beside the mount */

/* ------------------------------------------------------------------ */
/* Helpers                                                              */
/* ------------------------------------------------------------------ */

static void teardown(void)
{
	harness_destroy(&h);
}

/* ------------------------------------------------------------------ */
/* POSIX ACLs                                                           */
/* ------------------------------------------------------------------ */

static void acl_setup(void)
{
	static const char *const args[] = { "-o", "allow_other", NULL };

	ck_assert_int_eq(harness_init(&h, "surface-acl"), 0);
	snprintf(native, sizeof(native), "%s/native", h.dir);
	ck_assert_int_eq(mkdir(native, 0755), 0);
	if (harness_sh("setfacl -m u:%u:r '%s' 2>/dev/null && setfacl -b '%s'",
		       (unsigned)user.uid, native, native) != 0) {
		printf("skip: setfacl does not work in /tmp (no acl package, or no ACLs)\n");
		harness_destroy(&h);
		exit(HARNESS_EXIT_SKIP);
	}
	ck_assert_int_eq(harness_mount(&h, args), 0);
}

/* The two places every ACL case runs in: native first, then the mount. */
static const char *place(int i, const char *rel)
{
	static char paths[2][2][800];
	static int turn;
	char *out = paths[i][turn];

	turn = !turn;
	snprintf(out, sizeof(paths[0][0]), "%s/%s", i == 0 ? native : h.mountpoint, rel);
	return out;
}

static const char *const place_names[] = { "native", "mount" };

/* getfacl's text (without the header naming the file) for path. */
static void getfacl(const char *path, char *out, size_t size)
{
	char cmd[1024];
	FILE *p;
	size_t n;

	snprintf(cmd, sizeof(cmd), "getfacl -c -n -p -- '%s' 2>&1", path);
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	n = fread(out, 1, size - 1, p);
	out[n] = '\0';
	pclose(p);
}

struct open_probe {
	const char *path;
	int flags;
};

/* As the user: open path; 0 or the errno. */
static int probe_open(void *arg)
{
	const struct open_probe *probe = arg;
	int fd = open(probe->path, probe->flags | O_CLOEXEC);

	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}

static int open_as_user(const char *path, int flags)
{
	struct open_probe probe = { path, flags };

	return user_harness_run(&user, probe_open, &probe);
}

struct create_probe {
	const char *dir;
	mode_t umask;
};

/* As the user with a umask: create file (0666), dir (0777), fifo (0666). */
static int probe_create(void *arg)
{
	const struct create_probe *probe = arg;
	char path[900];
	int fd;

	umask(probe->umask);
	snprintf(path, sizeof(path), "%s/file", probe->dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (fd < 0)
		return errno;
	close(fd);
	snprintf(path, sizeof(path), "%s/dir", probe->dir);
	if (mkdir(path, 0777) != 0)
		return errno;
	snprintf(path, sizeof(path), "%s/fifo", probe->dir);
	if (mkfifo(path, 0666) != 0)
		return errno;
	return 0;
}

static mode_t mode_of(const char *path)
{
	struct stat st;

	ck_assert_msg(stat(path, &st) == 0, "stat '%s': %s", path, strerror(errno));
	return st.st_mode & 07777;
}

/* Both places hold rel with the same mode and getfacl text; returns the mode. */
static mode_t assert_same_acl(const char *rel, char *acl, size_t size)
{
	char other[ACL_BYTES];
	mode_t mode = mode_of(place(0, rel));

	getfacl(place(0, rel), acl, size);
	getfacl(place(1, rel), other, sizeof(other));
	ck_assert_msg(mode_of(place(1, rel)) == mode, "%s: mode %04o natively, %04o through the "
		      "mount", rel, (unsigned)mode, (unsigned)mode_of(place(1, rel)));
	ck_assert_msg(strcmp(acl, other) == 0, "%s: getfacl natively:\n%s\nthrough the mount:\n%s",
		      rel, acl, other);
	return mode;
}

START_TEST(test_acl_entry_denying_the_user_is_enforced)
{
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(harness_write_file(place(i, "open.txt"), "open", 4), 0);
		ck_assert_int_eq(harness_write_file(place(i, "deny.txt"), "secret", 6), 0);
		ck_assert_int_eq(chmod(place(i, "open.txt"), 0644), 0);
		ck_assert_int_eq(chmod(place(i, "deny.txt"), 0644), 0);
		ck_assert_int_eq(harness_sh("setfacl -m u:%u:--- '%s'", (unsigned)user.uid,
					    place(i, "deny.txt")), 0);
	}
	for (int i = 0; i < 2; i++) {
		/* The mode alone lets the user read: only the ACL denies. */
		ck_assert_msg(open_as_user(place(i, "open.txt"), O_RDONLY) == 0,
			      "%s: a 0644 file is readable", place_names[i]);
		ck_assert_msg(open_as_user(place(i, "deny.txt"), O_RDONLY) == EACCES,
			      "%s: an ACL entry u:%u:--- denies reading (EACCES)", place_names[i],
			      (unsigned)user.uid);
	}
}
END_TEST

START_TEST(test_acl_entry_granting_the_user_is_honoured)
{
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(harness_write_file(place(i, "grant.txt"), "shared", 6), 0);
		ck_assert_int_eq(chmod(place(i, "grant.txt"), 0600), 0);
		ck_assert_int_eq(harness_sh("setfacl -m u:%u:rw '%s'", (unsigned)user.uid,
					    place(i, "grant.txt")), 0);
		ck_assert_int_eq(mkdir(place(i, "drop"), 0700), 0);
		ck_assert_int_eq(harness_sh("setfacl -m u:%u:rwx '%s'", (unsigned)user.uid,
					    place(i, "drop")), 0);
	}
	for (int i = 0; i < 2; i++) {
		char path[900];

		ck_assert_msg(open_as_user(place(i, "grant.txt"), O_RDWR) == 0,
			      "%s: u:%u:rw grants a 0600 file", place_names[i], (unsigned)user.uid);
		snprintf(path, sizeof(path), "%s/new.txt", place(i, "drop"));
		ck_assert_msg(open_as_user(path, O_WRONLY | O_CREAT | O_EXCL) == 0,
			      "%s: u:%u:rwx on a 0700 directory lets the user create in it",
			      place_names[i], (unsigned)user.uid);
	}
}
END_TEST

START_TEST(test_default_acl_is_inherited_and_replaces_the_umask)
{
	char acl[ACL_BYTES], entry[64];

	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(mkdir(place(i, "inherit"), 0777), 0);
		ck_assert_int_eq(chmod(place(i, "inherit"), 0777), 0);
		ck_assert_int_eq(harness_sh("setfacl -d -m u:%u:rwx,g::r-x,o::--- '%s'",
					    (unsigned)user.uid, place(i, "inherit")), 0);
		struct create_probe probe = { place(i, "inherit"), 022 };
		ck_assert_msg(user_harness_run(&user, probe_create, &probe) == 0,
			      "%s: the user creates in a directory with a default ACL",
			      place_names[i]);
	}
	snprintf(entry, sizeof(entry), "user:%u:rwx", (unsigned)user.uid);
	/* The default ACL's mask (rwx, computed by setfacl) replaces the
	 * umask 022: the group class keeps its w. */
	ck_assert_uint_eq(assert_same_acl("inherit/file", acl, sizeof(acl)), 0660);
	ck_assert_msg(strstr(acl, entry) && strstr(acl, "mask::rw-"), "inherited: %s", acl);
	ck_assert_uint_eq(assert_same_acl("inherit/fifo", acl, sizeof(acl)), 0660);
	ck_assert_uint_eq(assert_same_acl("inherit/dir", acl, sizeof(acl)), 0770);
	ck_assert_msg(strstr(acl, entry) && strstr(acl, "default:user::rwx") &&
		      strstr(acl, "mask::rwx"), "a directory inherits the default too: %s", acl);
}
END_TEST

START_TEST(test_umask_applies_without_a_default_acl)
{
	char acl[ACL_BYTES];

	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(mkdir(place(i, "plain"), 0777), 0);
		ck_assert_int_eq(chmod(place(i, "plain"), 0777), 0);
		struct create_probe probe = { place(i, "plain"), 027 };
		ck_assert_msg(user_harness_run(&user, probe_create, &probe) == 0,
			      "%s: the user creates in a 0777 directory", place_names[i]);
	}
	ck_assert_uint_eq(assert_same_acl("plain/file", acl, sizeof(acl)), 0640);
	ck_assert_uint_eq(assert_same_acl("plain/fifo", acl, sizeof(acl)), 0640);
	ck_assert_uint_eq(assert_same_acl("plain/dir", acl, sizeof(acl)), 0750);
	ck_assert_msg(!strstr(acl, "mask"), "no ACL appears from nowhere: %s", acl);
}
END_TEST

START_TEST(test_chmod_updates_the_acl_mask)
{
	char acl[ACL_BYTES];

	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(harness_write_file(place(i, "masked.txt"), "m", 1), 0);
		ck_assert_int_eq(harness_sh("setfacl -m u:%u:rw '%s'", (unsigned)user.uid,
					    place(i, "masked.txt")), 0);
		/* The group bits of a mode with an ACL are its mask: r-- now. */
		ck_assert_int_eq(chmod(place(i, "masked.txt"), 0646), 0);
	}
	ck_assert_uint_eq(assert_same_acl("masked.txt", acl, sizeof(acl)), 0646);
	ck_assert_msg(strstr(acl, "mask::r--") && strstr(acl, "#effective:r--"),
		      "chmod narrowed the mask: %s", acl);
	for (int i = 0; i < 2; i++)
		/* Others may write, but the user's own entry, masked, may not. */
		ck_assert_msg(open_as_user(place(i, "masked.txt"), O_WRONLY) == EACCES,
			      "%s: the named entry, masked to r--, denies writing",
			      place_names[i]);
}
END_TEST

START_TEST(test_getfacl_is_the_same_on_the_mount_and_in_backing)
{
	char through[ACL_BYTES], backing[ACL_BYTES], natively[ACL_BYTES];

	ck_assert_int_eq(mkdir(place(1, "acl-dir"), 0750), 0);
	ck_assert_int_eq(mkdir(place(0, "acl-dir"), 0750), 0);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(harness_sh("setfacl -m u:%u:rx,g:%u:r -d -m u:%u:rw '%s'",
					    (unsigned)user.uid, (unsigned)user.gid,
					    (unsigned)user.uid, place(i, "acl-dir")), 0);
	getfacl(place(1, "acl-dir"), through, sizeof(through));
	getfacl(harness_backing_path(&h, "acl-dir"), backing, sizeof(backing));
	getfacl(place(0, "acl-dir"), natively, sizeof(natively));
	ck_assert_str_eq(through, backing);
	ck_assert_str_eq(through, natively);
	ck_assert_msg(strstr(through, "default:user:"), "a default ACL: %s", through);
	/* Removing it through the mount removes it. */
	ck_assert_int_eq(harness_sh("setfacl -b -k '%s'", place(1, "acl-dir")), 0);
	getfacl(harness_backing_path(&h, "acl-dir"), backing, sizeof(backing));
	ck_assert_msg(!strstr(backing, "user:") || !strstr(backing, "default"),
		      "removed: %s", backing);
}
END_TEST

static Suite *surface_suite(void)
{
	Suite *s = suite_create("surface");
	TCase *tc;

	tc = tcase_create("acl");
	tcase_add_checked_fixture(tc, acl_setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_acl_entry_denying_the_user_is_enforced);
	tcase_add_test(tc, test_acl_entry_granting_the_user_is_honoured);
	tcase_add_test(tc, test_default_acl_is_inherited_and_replaces_the_umask);
	tcase_add_test(tc, test_umask_applies_without_a_default_acl);
	tcase_add_test(tc, test_chmod_updates_the_acl_mask);
	tcase_add_test(tc, test_getfacl_is_the_same_on_the_mount_and_in_backing);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *runner;
	int failed;

	harness_require_fuse();
	user_harness_require(&user);
	runner = srunner_create(surface_suite());
	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
