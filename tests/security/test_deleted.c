/*
 * Security suite, area "deleted": deleted means deleted (issue 13,
 * promises 8 and 9 of DESIGN.md), on real mounts with a real SQLite
 * application database, as root and as an unprivileged user.
 *
 *   - a file the application deleted through the mount comes back only by
 *     an admin's restore, never by anybody's lookup;
 *   - a new file under a deleted name (O_TRUNC, O_EXCL, a rename onto it)
 *     leaves the old version in the quarantine;
 *   - a crawler that keeps asking for an orphan brings it back once, then
 *     gets ENOENT and an alarm in the status, and the orphan is purged
 *     after grace;
 *   - mediactl purge --expired keeps what the checker keeps;
 *   - one name of a hard-linked file, and a file deeper than PATH_MAX,
 *     are never lost for good by an unlink.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "app_harness.h"
#include "user_harness.h"

enum {
	WAIT_MS = 20000,
	DEEP_NAME_BYTES = 250,
	DEEP_LEVELS = 17,
	GRACE_2S_PASSED_MS = 2100,	/* for "grace = 2s" */
	GRACE_6S_PASSED_MS = 6100,	/* for "grace = 6s" */
};

/* An orphan whose name would drive a terminal. */
#define ESCAPE_NAME "orphan\033c.jpg"

static struct mount_harness h;
static struct test_user user;
static struct app_harness app;

/* ------------------------------------------------------------------ */
/* The application database, the mount and mediactl                    */
/* ------------------------------------------------------------------ */

static void setup(void)
{
	static const char *const columns[] = { "photo.image", NULL };

	app_setup(&app, &h, "deleted", NULL, "interval = 1h\nmax_fraction = 1\n");
	app.source = "columns = photo.image";
	/* allow_other: the test user reaches the files. */
	app.options = "allow_other";
	app_create_tables(&app, columns);
	/* A source that returns nothing would hold every scan. */
	app_insert(&app, "photo.image", "other.jpg");
}

static void teardown(void)
{
	harness_destroy(&h);
}

static json_t *scan(void)
{
	json_t *r;
	int status = app_mediactl(&app, &r, "scan", NULL);

	ck_assert_msg(status == 0, "scan exits 0 (%d)", status);
	return r;
}

/* ------------------------------------------------------------------ */
/* Files                                                                */
/* ------------------------------------------------------------------ */

/* The quarantined versions of rel, as paths in BACKING, one per line. */
static int quarantined_versions(const char *rel, char *out, size_t size)
{
	char cmd[2048];
	size_t len = 0;
	int count = 0;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "find '%s/.mediafs/quarantine' -path '*/%s' \\( -type f "
		 "-o -type l \\) 2>/dev/null", h.backing, rel);
	f = popen(cmd, "r");
	ck_assert_ptr_nonnull(f);
	out[0] = '\0';
	while (fgets(out + len, (int)(size - len), f)) {
		len += strlen(out + len);
		count++;
	}
	pclose(f);
	return count;
}

static int in_quarantine(const char *rel)
{
	char lines[4096];

	return quarantined_versions(rel, lines, sizeof(lines));
}

/* The one quarantined version of rel holds expected. */
static void assert_quarantined_content(const char *rel, const char *expected)
{
	char lines[4096];

	ck_assert_int_eq(quarantined_versions(rel, lines, sizeof(lines)), 1);
	lines[strcspn(lines, "\n")] = '\0';
	app_assert_bytes(lines, expected, "the file");
}

/* stat(2) through the mount as the unprivileged user: 0 when it exists. */
static int user_stat(const char *rel)
{
	return user_harness_sh(&user, "stat -- '%s' >/dev/null 2>&1", harness_mount_path(&h, rel));
}

/* mediactl show rel, and whether its audit log has an entry for reason. */
static bool audit_has_reason(const char *rel, const char *reason)
{
	json_t *r, *entry;
	bool found = false;
	size_t i;

	ck_assert_int_eq(app_mediactl(&app, &r, "show", rel, NULL), 0);
	json_array_foreach(json_object_get(r, "audit"), i, entry)
		found = found || strcmp(json_string_value(json_object_get(entry, "reason")) ?
					json_string_value(json_object_get(entry, "reason")) : "",
					reason) == 0;
	json_decref(r);
	return found;
}

/* The catalog rows of rel in state, and the reason of the last one. */
static int rows_in_state(const char *rel, const char *state, char *reason, size_t size)
{
	json_t *r, *row;
	int count = 0;
	size_t i;

	ck_assert_int_eq(app_mediactl(&app, &r, "show", rel, NULL), 0);
	json_array_foreach(json_object_get(r, "files"), i, row) {
		if (strcmp(json_string_value(json_object_get(row, "state")), state) != 0)
			continue;
		count++;
		snprintf(reason, size, "%s", json_string_value(json_object_get(row, "reason")));
	}
	json_decref(r);
	return count;
}

/* ------------------------------------------------------------------ */
/* What the application deleted stays deleted                           */
/* ------------------------------------------------------------------ */

START_TEST(test_lookup_never_brings_back_a_deleted_file)
{
	struct stat st;
	json_t *r;

	app_mount(&app, "temp_max_age = 0s\n");
	app_put(&app, "photo.jpg", "precious");
	ck_assert_int_eq(unlink(harness_mount_path(&h, "photo.jpg")), 0);
	ck_assert_int_eq(in_quarantine("photo.jpg"), 1);
	/* A web server serving an old URL, as another user. */
	ck_assert_msg(user_stat("photo.jpg") != 0, "the user's stat finds nothing");
	ck_assert_int_eq(user_harness_sh(&user, "cat -- '%s' >/dev/null 2>&1",
					 harness_mount_path(&h, "photo.jpg")), 1);
	ck_assert_int_eq(stat(harness_mount_path(&h, "photo.jpg"), &st), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_msg(!app_in_backing(&app, "photo.jpg"), "nothing came back in BACKING");
	ck_assert_msg(in_quarantine("photo.jpg") == 1, "the deleted file stays in the quarantine");
	ck_assert_msg(!audit_has_reason("photo.jpg", "accessed"), "no restore by access");
	/* Only an admin brings it back. */
	ck_assert_int_eq(app_mediactl(&app, &r, "restore", "photo.jpg", NULL), 0);
	json_decref(r);
	ck_assert_int_eq(user_stat("photo.jpg"), 0);
	app_assert_bytes(harness_mount_path(&h, "photo.jpg"), "precious", "the file");
	ck_assert_int_eq(harness_unmount(&h), 0);
}
END_TEST

START_TEST(test_new_file_under_a_deleted_name_keeps_the_old_version)
{
	char reason[64];
	int fd;

	app_mount(&app, "temp_max_age = 0s\n");
	app_put(&app, "trunc.jpg", "old trunc");
	app_put(&app, "excl.jpg", "old excl");
	app_put(&app, "renamed.jpg", "old renamed");
	ck_assert_int_eq(unlink(harness_mount_path(&h, "trunc.jpg")), 0);
	ck_assert_int_eq(unlink(harness_mount_path(&h, "excl.jpg")), 0);
	ck_assert_int_eq(unlink(harness_mount_path(&h, "renamed.jpg")), 0);

	/* open(O_CREAT | O_TRUNC): the lookup before it restored the old
	 * version, which the open then truncated. */
	fd = open(harness_mount_path(&h, "trunc.jpg"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "new trunc", 9), 9);
	ck_assert_int_eq(close(fd), 0);
	app_assert_bytes(harness_mount_path(&h, "trunc.jpg"), "new trunc", "the file");
	assert_quarantined_content("trunc.jpg", "old trunc");

	/* open(O_CREAT | O_EXCL): EEXIST when the lookup restored it. */
	fd = open(harness_mount_path(&h, "excl.jpg"), O_WRONLY | O_CREAT | O_EXCL, 0644);
	ck_assert_msg(fd >= 0, "O_EXCL creates the deleted name: %s", strerror(errno));
	ck_assert_int_eq(write(fd, "new excl", 8), 8);
	ck_assert_int_eq(close(fd), 0);
	app_assert_bytes(harness_mount_path(&h, "excl.jpg"), "new excl", "the file");
	assert_quarantined_content("excl.jpg", "old excl");

	/* A rename onto the name: the old version stays the one the
	 * application deleted, not a restored file replaced again. */
	app_put(&app, "incoming.tmp", "new renamed");
	ck_assert_int_eq(rename(harness_mount_path(&h, "incoming.tmp"),
				harness_mount_path(&h, "renamed.jpg")), 0);
	app_assert_bytes(harness_mount_path(&h, "renamed.jpg"), "new renamed", "the file");
	assert_quarantined_content("renamed.jpg", "old renamed");

	for (int i = 0; i < 3; i++) {
		const char *name = (const char *[]){ "trunc.jpg", "excl.jpg", "renamed.jpg" }[i];
		ck_assert_msg(rows_in_state(name, "quarantined", reason, sizeof(reason)) == 1,
			      "'%s' has one quarantined version", name);
		ck_assert_msg(strcmp(reason, "unlinked") == 0, "'%s' is quarantined as %s", name,
			      reason);
		ck_assert_msg(!audit_has_reason(name, "accessed"), "'%s' never came back", name);
		ck_assert_int_eq(rows_in_state(name, "live", reason, sizeof(reason)), 1);
	}
	ck_assert_int_eq(harness_unmount(&h), 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Restore on access converges                                          */
/* ------------------------------------------------------------------ */

/* The status's alarm of kind "requested", or NULL (the caller decrefs r). */
static json_t *requested_alarm(json_t **r)
{
	json_t *alarm;
	size_t i;

	ck_assert_int_eq(app_mediactl(&app, r, "status", NULL), 0);
	json_array_foreach(json_object_get(*r, "alarms"), i, alarm) {
		if (strcmp(json_string_value(json_object_get(alarm, "kind")), "requested") == 0)
			return alarm;
	}
	return NULL;
}

static bool alarm_names(json_t *alarm, const char *rel)
{
	json_t *item;
	size_t i;

	json_array_foreach(json_object_get(alarm, "paths"), i, item) {
		if (strcmp(json_string_value(json_object_get(item, "path")), rel) == 0)
			return true;
	}
	return false;
}

/* The crawler: n requests for each name, as the test user; exits 0 only
 * when every one found nothing. */
static int crawl(const char *a, const char *b, int n)
{
	return user_harness_sh(&user, "for i in $(seq %d); do stat -- '%s' && exit 1; "
			       "stat -- '%s' && exit 1; done >/dev/null 2>&1; exit 0", n,
			       harness_mount_path(&h, a), harness_mount_path(&h, b));
}

static bool purged_by_a_scan(void *ctx)
{
	json_t *r = scan();
	bool purged = app_scan_number(r, "purged") > 0;

	(void)ctx;
	json_decref(r);
	return purged;
}

START_TEST(test_crawler_loop_converges_and_raises_the_alarm)
{
	const char *settings = "min_age = 0s\ngrace = 6s\n";
	char text[1 << 14];
	json_t *r, *alarm, *row;

	app_mount(&app, settings);
	app_put(&app, "orphan-a.jpg", "a");
	app_put(&app, "orphan-b.jpg", "b");
	app_put(&app, ESCAPE_NAME, "c");
	r = scan();
	ck_assert_int_eq(app_scan_number(r, "quarantined"), 3);
	json_decref(r);
	/* The first request brings each back: a column may be missing. */
	ck_assert_int_eq(user_stat("orphan-a.jpg"), 0);
	ck_assert_int_eq(user_stat("orphan-b.jpg"), 0);
	ck_assert_int_eq(user_stat(ESCAPE_NAME), 0);
	ck_assert_int_eq(app_mediactl(&app, &r, "show", "orphan-a.jpg", NULL), 0);
	row = json_array_get(json_object_get(r, "files"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(row, "state")), "live");
	ck_assert_int_eq(json_integer_value(json_object_get(row, "access_restores")), 1);
	json_decref(r);
	r = scan();
	ck_assert_int_eq(app_scan_number(r, "quarantined"), 3);
	json_decref(r);

	/* The crawler keeps asking: nothing comes back a second time. */
	ck_assert_msg(crawl("orphan-a.jpg", "orphan-b.jpg", 5) == 0,
		      "a crawler's requests find nothing once the file went back");
	ck_assert_int_ne(user_stat(ESCAPE_NAME), 0);
	ck_assert(!app_in_backing(&app, "orphan-a.jpg") && !app_in_backing(&app, "orphan-b.jpg"));
	ck_assert_int_eq(in_quarantine("orphan-a.jpg"), 1);
	ck_assert_int_eq(in_quarantine("orphan-b.jpg"), 1);
	alarm = requested_alarm(&r);
	ck_assert_msg(alarm != NULL, "the status raises the alarm");
	ck_assert_int_eq(json_integer_value(json_object_get(alarm, "files")), 3);
	ck_assert_int_ge(json_integer_value(json_object_get(alarm, "requests")), 3);
	ck_assert(alarm_names(alarm, "orphan-a.jpg") && alarm_names(alarm, "orphan-b.jpg"));
	ck_assert(alarm_names(alarm, ESCAPE_NAME));
	json_decref(r);
	ck_assert_int_eq(app_mediactl_text(&app, text, sizeof(text), "status", NULL), 0);
	ck_assert_msg(strstr(text, "requested while quarantined") && strstr(text, "orphan-a.jpg"),
		      "the text status shows the alarm and the paths: %s", text);
	ck_assert_msg(strstr(text, "orphan\\x1Bc.jpg") && !strstr(text, ESCAPE_NAME),
		      "a name reaches the terminal escaped: %s", text);
	ck_assert(harness_log_contains(&h, "was requested while quarantined"));

	/* The count is in the catalog: a new daemon does not restore them. */
	ck_assert_int_eq(harness_unmount(&h), 0);
	app_mount(&app, settings);
	ck_assert_msg(crawl("orphan-a.jpg", "orphan-b.jpg", 1) == 0,
		      "after a remount, still nothing comes back");
	ck_assert(!app_in_backing(&app, "orphan-a.jpg"));

	/* An admin keeps one; the other is purged after grace. */
	ck_assert_int_eq(app_mediactl(&app, &r, "restore", "orphan-b.jpg", "--pin", NULL), 0);
	json_decref(r);
	ck_assert_int_eq(user_stat("orphan-b.jpg"), 0);
	alarm = requested_alarm(&r);
	ck_assert_msg(alarm && json_integer_value(json_object_get(alarm, "files")) == 1,
		      "the restored file leaves the alarm");
	ck_assert(alarm_names(alarm, "orphan-a.jpg") && !alarm_names(alarm, "orphan-b.jpg"));
	json_decref(r);
	app_advance_clock(&app, GRACE_6S_PASSED_MS);
	ck_assert_msg(harness_wait_until(purged_by_a_scan, NULL, WAIT_MS),
		      "the orphan is purged after grace");
	ck_assert_int_eq(in_quarantine("orphan-a.jpg"), 0);
	ck_assert_msg(requested_alarm(&r) == NULL, "the alarm ends with the purge");
	json_decref(r);
	ck_assert(app_in_backing(&app, "orphan-b.jpg"));
	ck_assert_int_eq(harness_unmount(&h), 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* mediactl purge --expired keeps what the checker keeps                */
/* ------------------------------------------------------------------ */

static bool grace_over(void *ctx)
{
	json_t *r, *row;
	bool over = true;
	size_t i;

	(void)ctx;
	ck_assert_int_eq(app_mediactl(&app, &r, "quarantine", NULL), 0);
	json_array_foreach(json_object_get(r, "files"), i, row) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		/* The daemon's now: the real time and the test clock's offset. */
		over = over && json_integer_value(json_object_get(row, "purge_at_ms")) <
				       (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 +
					       h.clock_offset_ms;
	}
	json_decref(r);
	return over;
}

START_TEST(test_purge_expired_keeps_what_the_checker_keeps)
{
	json_t *r;

	app_mount(&app, "min_age = 0s\ngrace = 2s\nrestore_on_access = no\n");
	app_put(&app, "gone.jpg", "gone");
	app_put(&app, "again.jpg", "again");
	app_put(&app, "clash.jpg", "old clash");
	app_put(&app, "my photo.jpg", "spelled");
	r = scan();
	ck_assert_int_eq(app_scan_number(r, "quarantined"), 4);
	json_decref(r);
	/* A new file holds the name when its reference comes back: the
	 * scan notes a conflict and the checker keeps the old version. */
	app_put(&app, "clash.jpg", "new clash");
	app_insert(&app, "photo.image", "clash.jpg");
	r = scan();
	ck_assert_int_eq(app_scan_number(r, "conflicts"), 1);
	json_decref(r);
	/* Referenced again after the last scan, one of them under another
	 * spelling (a stored URL): the checker would restore both. */
	app_insert(&app, "photo.image", "again.jpg");
	app_insert(&app, "photo.image", "my%20photo.jpg");
	app_advance_clock(&app, GRACE_2S_PASSED_MS);
	ck_assert(harness_wait_until(grace_over, NULL, WAIT_MS));

	ck_assert_int_eq(app_mediactl(&app, &r, "purge", "--expired", NULL), 0);
	ck_assert_int_eq(json_array_size(json_object_get(r, "purged")), 1);
	ck_assert_int_eq(json_array_size(json_object_get(r, "kept")), 3);
	json_decref(r);
	ck_assert_msg(in_quarantine("gone.jpg") == 0, "the orphan past grace is purged");
	ck_assert_msg(in_quarantine("again.jpg") == 1, "a file referenced now is kept");
	ck_assert_msg(in_quarantine("my photo.jpg") == 1,
		      "a file referenced under another spelling is kept, as the checker keeps it");
	assert_quarantined_content("clash.jpg", "old clash");

	/* A source that fails is never "no references". */
	app_exec(&app, "DROP TABLE photo");
	ck_assert_int_eq(app_mediactl(&app, &r, "purge", "--expired", NULL), 1);
	json_decref(r);
	ck_assert(in_quarantine("again.jpg") == 1 && in_quarantine("clash.jpg") == 1);
	ck_assert_int_eq(harness_unmount(&h), 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Hard links and paths beyond PATH_MAX                                 */
/* ------------------------------------------------------------------ */

START_TEST(test_unlinked_name_of_a_hard_linked_file_is_recoverable)
{
	struct stat st;
	char reason[64];
	json_t *r;

	app_mount(&app, "temp_max_age = 0s\n");
	app_put(&app, "first.jpg", "shared");
	ck_assert_int_eq(link(harness_mount_path(&h, "first.jpg"),
			      harness_mount_path(&h, "second.jpg")), 0);
	ck_assert_int_eq(unlink(harness_mount_path(&h, "second.jpg")), 0);
	ck_assert_msg(in_quarantine("second.jpg") == 1, "the name went to the quarantine");
	ck_assert_int_eq(rows_in_state("second.jpg", "quarantined", reason, sizeof(reason)), 1);
	ck_assert_str_eq(reason, "unlinked");
	ck_assert_msg(user_stat("second.jpg") != 0, "a lookup does not bring it back");
	app_assert_bytes(harness_mount_path(&h, "first.jpg"), "shared", "the file");
	ck_assert_int_eq(app_mediactl(&app, &r, "restore", "second.jpg", NULL), 0);
	json_decref(r);
	app_assert_bytes(harness_mount_path(&h, "second.jpg"), "shared", "the file");
	ck_assert_int_eq(stat(harness_mount_path(&h, "second.jpg"), &st), 0);
	ck_assert_int_eq(st.st_nlink, 2);
	ck_assert_int_eq(harness_unmount(&h), 0);
}
END_TEST

/* Open (making it) a directory deeper than PATH_MAX through the mount. */
static int open_deep_dir(void)
{
	char name[DEEP_NAME_BYTES + 1];
	int fd = open(h.mountpoint, O_RDONLY | O_DIRECTORY);

	memset(name, 'd', DEEP_NAME_BYTES);
	name[DEEP_NAME_BYTES] = '\0';
	for (int i = 0; fd >= 0 && i < DEEP_LEVELS; i++) {
		int next;
		ck_assert_int_eq(mkdirat(fd, name, 0755), 0);
		next = openat(fd, name, O_RDONLY | O_DIRECTORY);
		close(fd);
		fd = next;
	}
	ck_assert_int_ge(fd, 0);
	return fd;
}

static void put_at(int dir_fd, const char *name, const char *content)
{
	int fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	ck_assert_int_eq(close(fd), 0);
}

static void assert_content_at(int dir_fd, const char *name, const char *expected)
{
	char buf[64];
	int fd = openat(dir_fd, name, O_RDONLY);
	ssize_t n;

	ck_assert_msg(fd >= 0, "'%s' is still there: %s", name, strerror(errno));
	n = read(fd, buf, sizeof(buf));
	close(fd);
	ck_assert_msg(n == (ssize_t)strlen(expected) && memcmp(buf, expected, (size_t)n) == 0,
		      "'%s' keeps its content", name);
}

START_TEST(test_unlink_deeper_than_path_max_is_refused)
{
	_Static_assert((DEEP_NAME_BYTES + 1) * DEEP_LEVELS > PATH_MAX,
		       "the directory is deeper than PATH_MAX");
	int dir_fd;

	app_mount(&app, "temp_max_age = 0s\n");
	dir_fd = open_deep_dir();
	put_at(dir_fd, "deep.jpg", "deep");
	ck_assert_int_eq(unlinkat(dir_fd, "deep.jpg", 0), -1);
	ck_assert_int_eq(errno, ENAMETOOLONG);
	assert_content_at(dir_fd, "deep.jpg", "deep");
	/* A rename onto it would destroy it as surely. */
	put_at(dir_fd, "incoming.tmp", "new");
	ck_assert_int_eq(renameat(dir_fd, "incoming.tmp", dir_fd, "deep.jpg"), -1);
	ck_assert_int_eq(errno, ENAMETOOLONG);
	assert_content_at(dir_fd, "deep.jpg", "deep");
	ck_assert(harness_log_contains(&h, "refused to unlink 'deep.jpg'"));
	close(dir_fd);
	ck_assert_int_eq(harness_unmount(&h), 0);
}
END_TEST

static Suite *deleted_suite(void)
{
	Suite *s = suite_create("deleted");
	TCase *tc = tcase_create("deleted");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_lookup_never_brings_back_a_deleted_file);
	tcase_add_test(tc, test_new_file_under_a_deleted_name_keeps_the_old_version);
	tcase_add_test(tc, test_crawler_loop_converges_and_raises_the_alarm);
	tcase_add_test(tc, test_purge_expired_keeps_what_the_checker_keeps);
	tcase_add_test(tc, test_unlinked_name_of_a_hard_linked_file_is_recoverable);
	tcase_add_test(tc, test_unlink_deeper_than_path_max_is_refused);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	int failed;

	harness_require_fuse();
	user_harness_require(&user);
	failed = app_run_suite(deleted_suite());
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
