/*
 * Integration tests of mediactl: every command against a live mount with
 * a real application database, in both output forms, the exit statuses,
 * another user refused on the socket, undoing a whole scan, a restore
 * conflict, a mount over its own backing directory, and the offline mode.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <linux/fs.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "app_harness.h"

enum { WAIT_MS = 10000, OUTPUT_BYTES = 1 << 16 };

static struct mount_harness h;
static struct app_harness app;
static char metrics_line[800];	/* the defaults, with the metrics file */

struct result {
	struct harness_output run;
	json_t *json;		/* when --json was given */
};

/* Run mediactl with args (NULL-terminated), optionally as another uid. */
static void run(struct result *r, uid_t uid, const char *const *args)
{
	bool json = false;

	for (int i = 0; args[i]; i++)
		json = json || strcmp(args[i], "--json") == 0;
	app_mediactl_argv(&r->run, uid, args);
	r->json = json ? json_loads(r->run.out, 0, NULL) : NULL;
}

#define MEDIACTL(r, ...) run((r), 0, (const char *const[]){ __VA_ARGS__, NULL })

/* Past min_age = 1s on the daemon's test clock. */
enum { PAST_MIN_AGE_MS = 1100 };

static void setup(void)
{
	app_setup(&app, &h, "mediactl", NULL, NULL);
	snprintf(metrics_line, sizeof(metrics_line), "interval = 1h\nmin_age = 1s\n"
		 "max_fraction = 1\ntemp_max_age = 0s\nmetrics_file = %s/metrics.prom\n", h.dir);
	app.defaults = metrics_line;
	app.source = "columns = photo.image";
	app_exec(&app, "CREATE TABLE photo (id integer primary key, image text);"
		 "INSERT INTO photo (image) VALUES ('keep/used.jpg');");
	app_mount(&app, "grace = 1h\nrestore_on_access = no\n");
	ck_assert_int_eq(mkdir(harness_mount_path(&h, "keep"), 0755), 0);
	ck_assert_int_eq(mkdir(harness_mount_path(&h, "old"), 0755), 0);
	ck_assert_int_eq(harness_write_file(harness_mount_path(&h, "keep/used.jpg"), "used", 4), 0);
	ck_assert_int_eq(harness_write_file(harness_mount_path(&h, "old/a.jpg"), "aaaa", 4), 0);
	ck_assert_int_eq(harness_write_file(harness_mount_path(&h, "old/b.jpg"), "bbbbbbbb", 8), 0);
	/* Closed for the daemon too: a file open for writing is never moved. */
	app_wait_closed(&app, "keep/used.jpg");
	app_wait_closed(&app, "old/a.jpg");
	app_wait_closed(&app, "old/b.jpg");
	app_advance_clock(&app, PAST_MIN_AGE_MS);
}

static void teardown(void)
{
	harness_destroy(&h);
}

static void quarantine_old(struct result *r)
{
	MEDIACTL(r, "--json", "scan");
	ck_assert_int_eq(r->run.status, 0);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(r->json, "scan"),
							    "quarantined")), 2);
}

static long long scan_id(struct result *r)
{
	return json_integer_value(json_object_get(json_object_get(r->json, "scan"), "id"));
}

START_TEST(test_status_in_both_forms)
{
	struct result r;

	MEDIACTL(&r, "status");
	ck_assert_int_eq(r.run.status, 0);
	ck_assert_msg(strstr(r.run.out, "sources      app") && strstr(r.run.out, "last scan"),
		      "the table names the source and the last scan: %s", r.run.out);
	MEDIACTL(&r, "--json", "status");
	ck_assert_int_eq(r.run.status, 0);
	ck_assert(json_is_true(json_object_get(r.json, "ok")));
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(
		json_object_get(r.json, "totals"), "live"), "files")), 3);
	ck_assert(json_object_get(r.json, "restores_by_access") != NULL);
	ck_assert(json_object_get(r.json, "next_scan_ms") != NULL);
	json_decref(r.json);
}
END_TEST

START_TEST(test_ls_filters_in_both_forms)
{
	struct result r;

	MEDIACTL(&r, "ls", "old");
	ck_assert_int_eq(r.run.status, 0);
	ck_assert_msg(strstr(r.run.out, "old/a.jpg") && strstr(r.run.out, "old/b.jpg") &&
		      !strstr(r.run.out, "keep/used.jpg"), "a prefix selects: %s", r.run.out);
	MEDIACTL(&r, "--json", "ls", "--larger-than", "5");
	ck_assert_int_eq(json_array_size(json_object_get(r.json, "files")), 1);
	json_decref(r.json);
	MEDIACTL(&r, "--json", "ls", "--older-than", "1h");
	ck_assert_int_eq(json_array_size(json_object_get(r.json, "files")), 0);
	json_decref(r.json);
	MEDIACTL(&r, "--json", "ls", "--unreferenced");
	ck_assert_int_eq(r.run.status, 0);
	ck_assert_int_eq(json_array_size(json_object_get(r.json, "files")), 2);
	json_decref(r.json);
	MEDIACTL(&r, "ls", "--state", "bogus");
	ck_assert_int_eq(r.run.status, 2);
	MEDIACTL(&r, "ls", "--older-than", "soon");
	ck_assert_int_eq(r.run.status, 2);
}
END_TEST

START_TEST(test_show_quarantine_and_log)
{
	struct result r;

	quarantine_old(&r);
	json_decref(r.json);
	MEDIACTL(&r, "show", "old/a.jpg");
	ck_assert_int_eq(r.run.status, 0);
	ck_assert_msg(strstr(r.run.out, "quarantined") && strstr(r.run.out, "history:") &&
		      strstr(r.run.out, "unreferenced"), "show tells state and history: %s", r.run.out);
	MEDIACTL(&r, "--json", "show", "old/a.jpg");
	ck_assert_int_eq(json_array_size(json_object_get(r.json, "audit")), 2);
	json_decref(r.json);
	MEDIACTL(&r, "show", "never/was.jpg");
	ck_assert_int_eq(r.run.status, 1);
	/* A refusal that quotes a path that is not UTF-8 still comes back. */
	MEDIACTL(&r, "show", "never/caf\xe9.jpg");
	ck_assert_int_eq(r.run.status, 1);
	ck_assert_msg(strstr(r.run.err, "knows nothing of") != NULL, "answered: %s", r.run.err);
	MEDIACTL(&r, "quarantine");
	ck_assert_msg(strstr(r.run.out, "old/b.jpg") && strstr(r.run.out, "unreferenced") &&
		      strstr(r.run.out, "in 5"), "quarantine lists why and when it is purged: %s",
		      r.run.out);
	MEDIACTL(&r, "--json", "quarantine");
	ck_assert_int_eq(json_array_size(json_object_get(r.json, "files")), 2);
	ck_assert(json_object_get(json_array_get(json_object_get(r.json, "files"), 0),
				  "purge_at_ms") != NULL);
	json_decref(r.json);
	MEDIACTL(&r, "log", "--path", "old/a.jpg");
	ck_assert_msg(strstr(r.run.out, "live -> quarantined"), "%s", r.run.out);
	MEDIACTL(&r, "--json", "log", "--since", "1h");
	ck_assert(json_array_size(json_object_get(r.json, "entries")) >= 5);
	json_decref(r.json);
}
END_TEST

START_TEST(test_restore_by_scan_undoes_the_whole_scan)
{
	struct result r;
	char id[32];

	quarantine_old(&r);
	snprintf(id, sizeof(id), "%lld", scan_id(&r));
	json_decref(r.json);
	MEDIACTL(&r, "restore", "--scan", id);
	ck_assert_int_eq(r.run.status, 0);
	ck_assert_msg(strstr(r.run.out, "restored old/a.jpg") && strstr(r.run.out, "restored old/b.jpg"),
		      "%s", r.run.out);
	struct stat st;
	ck_assert_int_eq(stat(harness_backing_path(&h, "old/a.jpg"), &st), 0);
	ck_assert_int_eq(stat(harness_backing_path(&h, "old/b.jpg"), &st), 0);
	MEDIACTL(&r, "--json", "quarantine");
	ck_assert_int_eq(json_array_size(json_object_get(r.json, "files")), 0);
	json_decref(r.json);
}
END_TEST

START_TEST(test_restore_by_glob_id_since_and_pin)
{
	struct result r;
	char id[32];

	quarantine_old(&r);
	json_decref(r.json);
	MEDIACTL(&r, "--json", "restore", "--glob", "old/*.jpg", "--pin");
	ck_assert_int_eq(r.run.status, 0);
	ck_assert_int_eq(json_array_size(json_object_get(r.json, "restored")), 2);
	json_decref(r.json);
	MEDIACTL(&r, "pins");
	ck_assert_msg(strstr(r.run.out, "old/a.jpg") && strstr(r.run.out, "old/b.jpg"), "%s", r.run.out);
	MEDIACTL(&r, "--json", "scan");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(r.json, "scan"),
							    "quarantined")), 0);
	json_decref(r.json);
	MEDIACTL(&r, "unpin", "old/b.jpg");
	ck_assert_int_eq(r.run.status, 0);
	MEDIACTL(&r, "unpin", "old/b.jpg");
	ck_assert_int_eq(r.run.status, 1);
	app_advance_clock(&app, PAST_MIN_AGE_MS);
	MEDIACTL(&r, "--json", "scan");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(r.json, "scan"),
							    "quarantined")), 1);
	json_decref(r.json);
	MEDIACTL(&r, "--json", "quarantine");
	snprintf(id, sizeof(id), "%lld", (long long)json_integer_value(json_object_get(
		json_array_get(json_object_get(r.json, "files"), 0), "id")));
	json_decref(r.json);
	MEDIACTL(&r, "restore", "--id", id);
	ck_assert_int_eq(r.run.status, 0);
	MEDIACTL(&r, "restore", "--since", "1h");
	ck_assert_msg(r.run.status == 1, "nothing left to restore is a refusal");
	MEDIACTL(&r, "restore");
	ck_assert_int_eq(r.run.status, 2);
}
END_TEST

/* Does an audit entry about path end in state to? */
static bool audit_mentions(const json_t *entries, const char *path, const char *to)
{
	size_t i;
	json_t *e;

	json_array_foreach(entries, i, e)
		if (!strcmp(json_string_value(json_object_get(e, "path")), path) &&
		    json_string_value(json_object_get(e, "to")) &&
		    !strcmp(json_string_value(json_object_get(e, "to")), to))
			return true;
	return false;
}

START_TEST(test_restore_conflict_needs_to)
{
	struct result r;
	char buf[16];
	size_t len;

	quarantine_old(&r);
	json_decref(r.json);
	/* The scan may have removed the directory it emptied, if the kernel
	 * had forgotten it: the application makes it again. */
	ck_assert(mkdir(harness_mount_path(&h, "old"), 0755) == 0 || errno == EEXIST);
	ck_assert_int_eq(harness_write_file(harness_mount_path(&h, "old/a.jpg"), "new", 3), 0);
	MEDIACTL(&r, "restore", "old/a.jpg");
	ck_assert_int_eq(r.run.status, 1);
	ck_assert_msg(strstr(r.run.err, "a live file holds") != NULL, "%s", r.run.err);
	MEDIACTL(&r, "restore", "old/a.jpg", "--to", "../escape.jpg");
	ck_assert_msg(r.run.status == 1 && strstr(r.run.err, "not a path inside the mount"),
		      "a restore cannot leave the mount: %s", r.run.err);
	MEDIACTL(&r, "restore", "old/a.jpg", "--to", ".mediafs/x");
	ck_assert_int_eq(r.run.status, 1);
	MEDIACTL(&r, "restore", "old/a.jpg", "--to", "old/a-before.jpg");
	ck_assert_int_eq(r.run.status, 0);
	ck_assert_msg(strstr(r.run.out, "old/a-before.jpg (was old/a.jpg)\n"),
		      "the answer names both places: %s", r.run.out);
	/* One story at both paths: show NEW tells how it left OLD, and
	 * log --path OLD tells where it went. */
	MEDIACTL(&r, "--json", "show", "old/a-before.jpg");
	ck_assert_msg(audit_mentions(json_object_get(r.json, "audit"), "old/a.jpg",
				     "quarantined"), "show NEW has the quarantine at OLD");
	json_decref(r.json);
	MEDIACTL(&r, "--json", "log", "--path", "old/a.jpg");
	ck_assert_msg(audit_mentions(json_object_get(r.json, "entries"), "old/a-before.jpg",
				     "live"), "log --path OLD has the restore to NEW");
	json_decref(r.json);
	ck_assert_int_eq(harness_read_file(harness_backing_path(&h, "old/a-before.jpg"), buf,
					   sizeof(buf), &len), 0);
	ck_assert_msg(len == 4 && memcmp(buf, "aaaa", 4) == 0, "the old content is back");
	ck_assert_int_eq(harness_read_file(harness_backing_path(&h, "old/a.jpg"), buf,
					   sizeof(buf), &len), 0);
	ck_assert_msg(len == 3 && memcmp(buf, "new", 3) == 0, "the live file is untouched");
}
END_TEST

START_TEST(test_held_scan_confirm_reject_and_purge)
{
	struct result r;

	app_exec(&app, "DELETE FROM photo");
	MEDIACTL(&r, "--json", "scan");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(r.json, "scan"),
							   "status")), "held");
	json_decref(r.json);
	MEDIACTL(&r, "status");
	ck_assert_msg(strstr(r.run.out, "held scan") && strstr(r.run.out, "mediactl confirm"), "%s", r.run.out);
	MEDIACTL(&r, "reject");
	ck_assert_int_eq(r.run.status, 0);
	MEDIACTL(&r, "reject");
	ck_assert_msg(r.run.status == 1, "nothing held any more");
	MEDIACTL(&r, "scan");
	MEDIACTL(&r, "--json", "confirm");
	ck_assert_int_eq(r.run.status, 0);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(r.json, "scan"),
							    "quarantined")), 3);
	json_decref(r.json);
	MEDIACTL(&r, "purge", "--all");
	ck_assert_int_eq(r.run.status, 2);
	MEDIACTL(&r, "--json", "purge", "--expired");
	ck_assert_int_eq(json_array_size(json_object_get(r.json, "purged")), 0);
	json_decref(r.json);
	MEDIACTL(&r, "--json", "purge", "--all", "--yes");
	ck_assert_int_eq(json_array_size(json_object_get(r.json, "purged")), 3);
	json_decref(r.json);
	MEDIACTL(&r, "purge", "--id", "1");
	ck_assert_msg(r.run.status == 0, "purging a purged id purges nothing");
}
END_TEST

/* Set or clear the immutable flag of path: a file even root cannot unlink.
 * Returns 0 or -errno (-ENOTTY or -EOPNOTSUPP where the filesystem has no
 * such flag). */
static int set_immutable(const char *path, bool on)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), flags, err = 0;

	if (fd < 0)
		return -errno;
	if (ioctl(fd, FS_IOC_GETFLAGS, &flags) < 0) {
		err = -errno;
	} else {
		flags = on ? flags | FS_IMMUTABLE_FL : flags & ~FS_IMMUTABLE_FL;
		if (ioctl(fd, FS_IOC_SETFLAGS, &flags) < 0)
			err = -errno;
	}
	close(fd);
	return err;
}

START_TEST(test_purge_that_cannot_delete_says_so)
{
	char rel[600];
	const char *qname;
	struct result r;
	int err;

	app_exec(&app, "DELETE FROM photo");
	MEDIACTL(&r, "scan");
	MEDIACTL(&r, "confirm");
	ck_assert_int_eq(r.run.status, 0);
	MEDIACTL(&r, "--json", "quarantine");
	qname = json_string_value(json_object_get(json_array_get(json_object_get(r.json, "files"),
								 0), "quarantine_name"));
	ck_assert_ptr_nonnull(qname);
	snprintf(rel, sizeof(rel), ".mediafs/quarantine/%s", qname);
	json_decref(r.json);
	err = set_immutable(harness_backing_path(&h, rel), true);
	if (err == -ENOTTY || err == -EOPNOTSUPP) {
		printf("skip: %s has no immutable flag to make a purge fail\n", h.dir);
		return;
	}
	ck_assert_int_eq(err, 0);
	MEDIACTL(&r, "--json", "purge", "--all", "--yes");
	ck_assert_int_eq(set_immutable(harness_backing_path(&h, rel), false), 0);
	ck_assert_msg(r.run.status == 1, "a file left in the quarantine fails the purge: %s", r.run.out);
	ck_assert_int_eq(json_array_size(json_object_get(r.json, "failed")), 1);
	ck_assert_int_eq(json_array_size(json_object_get(r.json, "purged")), 2);
	ck_assert_msg(strstr(json_string_value(json_object_get(r.json, "error")),
			     "could not be deleted"), "%s", r.run.out);
	json_decref(r.json);
	MEDIACTL(&r, "--json", "quarantine");
	ck_assert_msg(json_array_size(json_object_get(r.json, "files")) == 1,
		      "the file not deleted is still quarantined: %s", r.run.out);
	json_decref(r.json);
}
END_TEST

START_TEST(test_check_and_du)
{
	struct result r;

	app_exec(&app, "INSERT INTO photo (image) VALUES ('gone/missing.jpg')");
	MEDIACTL(&r, "--json", "check");
	ck_assert_int_eq(r.run.status, 0);
	ck_assert_int_eq(json_integer_value(json_object_get(r.json, "dangling_count")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(r.json, "missing_count")), 0);
	json_decref(r.json);
	MEDIACTL(&r, "check");
	ck_assert_msg(strstr(r.run.out, "gone/missing.jpg"), "%s", r.run.out);
	quarantine_old(&r);
	json_decref(r.json);
	MEDIACTL(&r, "du");
	ck_assert_msg(strstr(r.run.out, "reclaimable (quarantined): 12 B"), "%s", r.run.out);
	MEDIACTL(&r, "--json", "du");
	ck_assert_int_eq(json_integer_value(json_object_get(r.json, "reclaimable_bytes")), 12);
	json_decref(r.json);
}
END_TEST

START_TEST(test_usage_errors_and_help)
{
	static const char *const commands[] = {
		"status", "ls", "show", "quarantine", "restore", "pin", "unpin", "pins", "scan",
		"confirm", "reject", "purge", "check", "log", "du",
	};
	struct result r;

	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		MEDIACTL(&r, commands[i], "--help");
		ck_assert_msg(r.run.status == 0 && strstr(r.run.out, "usage: mediactl"),
			      "%s --help prints its usage", commands[i]);
	}
	MEDIACTL(&r, "--help");
	ck_assert_int_eq(r.run.status, 0);
	MEDIACTL(&r, "frobnicate");
	ck_assert_int_eq(r.run.status, 2);
	MEDIACTL(&r, "show");
	ck_assert_int_eq(r.run.status, 2);
	MEDIACTL(&r, "scan", "--now");
	ck_assert_int_eq(r.run.status, 2);
	/* Sizes no int64_t holds are usage errors, not undefined behaviour. */
	MEDIACTL(&r, "ls", "--larger-than", "1e30");
	ck_assert_int_eq(r.run.status, 2);
	MEDIACTL(&r, "ls", "--larger-than", "inf");
	ck_assert_int_eq(r.run.status, 2);
}
END_TEST

START_TEST(test_other_user_is_refused)
{
	struct result r;

	if (geteuid() != 0)
		return;
	run(&r, 5555, (const char *const[]){ "--mount", h.mountpoint, "status", NULL });
	ck_assert_msg(r.run.status == 1, "another user's mediactl is refused (%d): %s", r.run.status,
		      r.run.err);
	ck_assert_msg(strstr(r.run.err, "ermission denied") != NULL, "%s", r.run.err);
}
END_TEST

START_TEST(test_offline_mode)
{
	struct result r;

	MEDIACTL(&r, "--backing", h.backing, "status");
	ck_assert_msg(r.run.status == 1 && strstr(r.run.err, "holds"),
		      "the running daemon's store is refused offline: %s", r.run.err);
	quarantine_old(&r);
	json_decref(r.json);
	ck_assert_int_eq(harness_unmount(&h), 0);
	MEDIACTL(&r, "status");
	ck_assert_msg(r.run.status == 1, "no daemon, no socket: %s", r.run.err);
	MEDIACTL(&r, "--backing", h.backing, "status");
	ck_assert_int_eq(r.run.status, 0);
	ck_assert_msg(strstr(r.run.out, "daemon stopped"), "%s", r.run.out);
	/* Without --config, the settings and sources of the file the daemon
	 * ran with, which the store remembers; never the defaults unsaid. */
	MEDIACTL(&r, "--json", "--backing", h.backing, "status");
	ck_assert_int_eq(r.run.status, 0);
	json_t *config = json_object_get(r.json, "config");
	ck_assert_str_eq(json_string_value(json_object_get(config, "origin")), "remembered");
	ck_assert_msg(strstr(json_string_value(json_object_get(config, "path")), "mediafs.ini"),
		      "the remembered file is the daemon's");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(r.json, "settings"),
							    "grace_ms")), 3600 * 1000);
	ck_assert_int_eq(json_array_size(json_object_get(r.json, "sources")), 1);
	json_decref(r.json);
	MEDIACTL(&r, "--json", "--backing", h.backing, "check");
	ck_assert_int_eq(r.run.status, 0);
	ck_assert_msg(json_object_get(r.json, "note") == NULL &&
		      json_array_size(json_object_get(r.json, "sources")) == 1,
		      "check reads the remembered source");
	json_decref(r.json);
	char config_file[700], moved[720];
	snprintf(config_file, sizeof(config_file), "%s/mediafs.ini", h.dir);
	snprintf(moved, sizeof(moved), "%s.moved", config_file);
	ck_assert_int_eq(rename(config_file, moved), 0);
	MEDIACTL(&r, "--json", "--backing", h.backing, "check");
	ck_assert_int_eq(r.run.status, 0);
	ck_assert_msg(strstr(r.run.err, "configuration cannot be read") != NULL,
		      "a remembered file that is gone is said: %s", r.run.err);
	ck_assert_msg(json_object_get(r.json, "note") != NULL,
		      "a check that read no source says so");
	json_decref(r.json);
	ck_assert_int_eq(rename(moved, config_file), 0);
	MEDIACTL(&r, "--json", "--backing", h.backing, "quarantine");
	ck_assert_int_eq(json_array_size(json_object_get(r.json, "files")), 2);
	json_decref(r.json);
	MEDIACTL(&r, "--backing", h.backing, "restore", "old/a.jpg");
	ck_assert_int_eq(r.run.status, 0);
	struct stat st;
	ck_assert_int_eq(stat(harness_backing_path(&h, "old/a.jpg"), &st), 0);
	MEDIACTL(&r, "--backing", h.backing, "scan");
	ck_assert_msg(r.run.status == 1, "scans need the daemon");
	MEDIACTL(&r, "--backing", h.dir, "status");
	ck_assert_msg(r.run.status == 1 && strstr(r.run.err, "not a mediafs store"), "%s", r.run.err);

	/* A store whose quarantine cannot be opened says so, and which. */
	char broken[700];
	snprintf(broken, sizeof(broken), "%s/broken", h.dir);
	ck_assert_int_eq(mkdir(broken, 0755), 0);
	ck_assert_int_eq(harness_sh("mkdir -m 0700 '%s/.mediafs' && touch '%s/.mediafs/quarantine'",
				    broken, broken), 0);
	MEDIACTL(&r, "--backing", broken, "status");
	ck_assert_msg(r.run.status == 1 && strstr(r.run.err, "cannot open the quarantine of '") &&
		      strstr(r.run.err, "Not a directory"), "%s", r.run.err);
}
END_TEST

START_TEST(test_mount_over_own_backing_is_found_alone)
{
	struct result r;
	char over[600];

	ck_assert_int_eq(harness_unmount(&h), 0);
	snprintf(over, sizeof(over), "%s", h.backing);
	ck_assert_int_eq(harness_mount_at(&h, over, over, NULL), 0);
	run(&r, 0, (const char *const[]){ "status", NULL });
	ck_assert_msg(r.run.status == 0, "the only mount is found without --mount: %s", r.run.err);
	MEDIACTL(&r, "--mount", over, "--json", "ls");
	ck_assert_int_eq(r.run.status, 0);
	ck_assert(json_array_size(json_object_get(r.json, "files")) >= 3);
	json_decref(r.json);
}
END_TEST

/* Every sample line is "name[{label="value"}] number". */
static void assert_exposition_format(const char *text)
{
	char line[512];
	const char *p = text;

	while (*p) {
		size_t len = strcspn(p, "\n");
		char name[128];
		double value;
		int used = 0;

		ck_assert_msg(len < sizeof(line), "a line is too long");
		memcpy(line, p, len);
		line[len] = '\0';
		p += len + (p[len] == '\n');
		if (line[0] == '#') {
			ck_assert_msg(strncmp(line, "# HELP mediafs_", 15) == 0 ||
				      strncmp(line, "# TYPE mediafs_", 15) == 0, "comment: %s", line);
			continue;
		}
		ck_assert_msg(sscanf(line, "%127[a-z_]%n", name, &used) == 1 &&
			      strncmp(name, "mediafs_", 8) == 0, "sample name: %s", line);
		const char *rest = line + used;
		if (*rest == '{') {
			rest = strchr(rest, '}');
			ck_assert_msg(rest != NULL, "unclosed labels: %s", line);
			rest++;
		}
		ck_assert_msg(sscanf(rest, " %lf", &value) == 1, "sample value: %s", line);
	}
}

static bool metrics_count_two_quarantined(void *path)
{
	char text[OUTPUT_BYTES];

	harness_slurp(path, text, sizeof(text));
	return strstr(text, "mediafs_files{state=\"quarantined\"} 2\n") != NULL;
}

START_TEST(test_metrics_textfile_after_scan_and_command)
{
	char path[700], text[OUTPUT_BYTES];
	size_t len;
	struct stat st;
	struct result r;

	quarantine_old(&r);
	json_decref(r.json);
	snprintf(path, sizeof(path), "%s/metrics.prom", h.dir);
	/* The file is rewritten after the scan's answer: wait for its figures. */
	harness_wait_until(metrics_count_two_quarantined, path, WAIT_MS);
	ck_assert_int_eq(harness_read_file(path, text, sizeof(text) - 1, &len), 0);
	text[len] = '\0';
	ck_assert_msg(strstr(text, "mediafs_files{state=\"quarantined\"} 2\n") &&
		      strstr(text, "mediafs_files{state=\"live\"} 1\n"),
		      "the textfile counts files by state: %s", text);
	ck_assert_msg(strstr(text, "mediafs_quarantines_total{reason=\"unreferenced\"} 2\n"),
		      "the textfile counts quarantines by reason: %s", text);
	ck_assert_msg(strstr(text, "mediafs_source_references{source=\"app\"} 1\n"),
		      "the textfile has the references per source: %s", text);
	ck_assert_msg(strstr(text, "mediafs_alarm{kind=\"held\"} 0\n"),
		      "every alarm kind is exported: %s", text);
	ck_assert_msg(strstr(text, "# TYPE mediafs_scans_total counter\n"), "%s", text);
	assert_exposition_format(text);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0644);

	MEDIACTL(&r, "restore", "old/a.jpg");
	ck_assert_int_eq(r.run.status, 0);
	ck_assert_msg(harness_wait_log(&h, "admin restored 'old/a.jpg' from '", WAIT_MS),
		      "the daemon's log tells each admin restore");
	MEDIACTL(&r, "metrics");
	ck_assert_int_eq(r.run.status, 0);
	ck_assert_msg(strstr(r.run.out, "mediafs_restores_total{cause=\"admin\"} 1\n") &&
		      strstr(r.run.out, "mediafs_daemon_up 1\n") &&
		      strstr(r.run.out, "mediafs_catalog_events_queued "),
		      "mediactl metrics: %s", r.run.out);
	assert_exposition_format(r.run.out);
}
END_TEST

static long long status_setting(const char *key)
{
	struct result r;
	long long value;

	MEDIACTL(&r, "--json", "status");
	ck_assert_int_eq(r.run.status, 0);
	json_t *setting = json_object_get(json_object_get(r.json, "settings"), key);
	value = json_is_boolean(setting) ? json_is_true(setting) : json_integer_value(setting);
	json_decref(r.json);
	return value;
}

START_TEST(test_reload_applies_the_file_without_unmounting)
{
	struct result r;
	struct stat st;

	/* mediactl reload: dry run on, a new grace, at the next scan. */
	app_write_config(&app, "grace = 2h\nrestore_on_access = no\ndry_run = yes\n");
	MEDIACTL(&r, "reload");
	ck_assert_msg(r.run.status == 0, "reload: %s%s", r.run.out, r.run.err);
	ck_assert_msg(strstr(r.run.out, "grace") && strstr(r.run.out, "dry_run (now yes)") &&
		      strstr(r.run.out, "next mount"), "the answer names what changed: %s", r.run.out);
	ck_assert_int_eq(status_setting("grace_ms"), 2 * 3600 * 1000);
	ck_assert_int_eq(status_setting("dry_run"), 1);
	MEDIACTL(&r, "--json", "scan");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(r.json, "scan"),
							   "status")), "dry-run");
	json_decref(r.json);

	/* A file that does not validate: refused, the running one stays. */
	app_write_config(&app, "grace = 2h\nrestore_on_access = no\ndry_run = yes\nno_such_key = 1\n");
	MEDIACTL(&r, "reload");
	ck_assert_msg(r.run.status == 1 && strstr(r.run.err, "not reloaded") &&
		      strstr(r.run.err, "no_such_key"), "refused in one sentence: %s", r.run.err);
	ck_assert_int_eq(status_setting("dry_run"), 1);
	ck_assert(harness_wait_log(&h, "the configuration was not reloaded", WAIT_MS));

	/* SIGHUP (systemctl reload) reloads too, and never unmounts. */
	app_write_config(&app, "grace = 2h\nrestore_on_access = yes\n");
	harness_clear_log(&h);
	ck_assert_int_eq(kill(h.pid, SIGHUP), 0);
	ck_assert_msg(harness_wait_log(&h, "reloaded '", WAIT_MS), "SIGHUP reloads");
	ck_assert_msg(harness_is_mounted(h.mountpoint), "SIGHUP does not unmount");
	ck_assert_int_eq(status_setting("dry_run"), 0);
	quarantine_old(&r);
	json_decref(r.json);
	/* restore_on_access is the mount's own setting: it changed too. */
	ck_assert_int_eq(stat(harness_mount_path(&h, "old/b.jpg"), &st), 0);
}
END_TEST

START_TEST(test_output_for_people)
{
	struct result r;

	/* Global options are taken where people type them. */
	MEDIACTL(&r, "status", "--json");
	ck_assert_msg(r.run.status == 0 && r.json != NULL, "--json after the command: %s", r.run.err);
	json_decref(r.json);
	quarantine_old(&r);
	json_decref(r.json);
	MEDIACTL(&r, "quarantine");
	ck_assert_int_eq(r.run.status, 0);
	ck_assert_msg(strstr(r.run.out, "SCAN") != NULL, "the quarantine shows each file's scan: %s",
		      r.run.out);
	/* A purged file says so, with no purge time to come. */
	MEDIACTL(&r, "purge", "--all", "--yes");
	ck_assert_int_eq(r.run.status, 0);
	MEDIACTL(&r, "show", "old/b.jpg");
	ck_assert_int_eq(r.run.status, 0);
	ck_assert_msg(strstr(r.run.out, "was in the quarantine as ") && strstr(r.run.out, "; purged ") &&
		      !strstr(r.run.out, "purged -"), "%s", r.run.out);
	/* The status says where its settings come from. */
	MEDIACTL(&r, "status");
	ck_assert_msg(strstr(r.run.out, "config       ") && strstr(r.run.out, "mediafs.ini"), "%s", r.run.out);
}
END_TEST

static Suite *mediactl_suite(void)
{
	Suite *s = suite_create("mediactl");
	TCase *tc = tcase_create("commands");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_status_in_both_forms);
	tcase_add_test(tc, test_ls_filters_in_both_forms);
	tcase_add_test(tc, test_show_quarantine_and_log);
	tcase_add_test(tc, test_restore_by_scan_undoes_the_whole_scan);
	tcase_add_test(tc, test_restore_by_glob_id_since_and_pin);
	tcase_add_test(tc, test_restore_conflict_needs_to);
	tcase_add_test(tc, test_held_scan_confirm_reject_and_purge);
	tcase_add_test(tc, test_purge_that_cannot_delete_says_so);
	tcase_add_test(tc, test_check_and_du);
	tcase_add_test(tc, test_usage_errors_and_help);
	tcase_add_test(tc, test_other_user_is_refused);
	tcase_add_test(tc, test_offline_mode);
	tcase_add_test(tc, test_mount_over_own_backing_is_found_alone);
	tcase_add_test(tc, test_metrics_textfile_after_scan_and_command);
	tcase_add_test(tc, test_reload_applies_the_file_without_unmounting);
	tcase_add_test(tc, test_output_for_people);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	int failed;

	app_require_mediactl();
	failed = app_run_suite(mediactl_suite());
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
