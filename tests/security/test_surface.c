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

#include "app_harness.h"
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
static struct app_harness app;

/* ------------------------------------------------------------------ */
/* Helpers                                                              */
/* ------------------------------------------------------------------ */

#define MEDIACTL(r, ...) app_mediactl_argv((r), 0, (const char *const[]){ __VA_ARGS__, NULL })

/* Mount with a config over an application database holding paths. */
static void mount_with_app(const char *name, const char *extra_option)
{
	static const char *const columns[] = { "photo.image", NULL };

	app_setup(&app, &h, name, NULL, "interval = 1h\nmin_age = 1h\ngrace = 1h\n"
		  "max_fraction = 1\ntemp_max_age = 0s\nrestore_on_access = no\n");
	app.source = "columns = photo.image";
	app.options = extra_option;
	app_create_tables(&app, columns);
	app_mount(&app, NULL);
}

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
	ck_assert_int_ge(harness_sh_output(out, size, "getfacl -c -n -p -- '%s' 2>&1", path), 0);
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

START_TEST(test_setting_an_acl_clears_setgid_as_natively)
{
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(harness_write_file(place(i, "sgid-other.txt"), "s", 1), 0);
		ck_assert_int_eq(harness_write_file(place(i, "sgid-own.txt"), "s", 1), 0);
		/* The user owns both; only the second is in one of its groups. */
		ck_assert_int_eq(chown(place(i, "sgid-other.txt"), user.uid, 0), 0);
		ck_assert_int_eq(chown(place(i, "sgid-own.txt"), user.uid, user.gid), 0);
		ck_assert_int_eq(chmod(place(i, "sgid-other.txt"), 02775), 0);
		ck_assert_int_eq(chmod(place(i, "sgid-own.txt"), 02775), 0);
		ck_assert_int_eq(user_harness_sh(&user, "setfacl -m u:0:r '%s' '%s'",
						 place(i, "sgid-other.txt"),
						 place(i, "sgid-own.txt")), 0);
	}
	for (int i = 0; i < 2; i++) {
		ck_assert_msg(mode_of(place(i, "sgid-other.txt")) == 0775,
			      "%s: an ACL set by a user outside the file's group clears "
			      "setgid: %04o", place_names[i],
			      (unsigned)mode_of(place(i, "sgid-other.txt")));
		ck_assert_msg(mode_of(place(i, "sgid-own.txt")) == 02775,
			      "%s: set by a member of the group, setgid stays: %04o",
			      place_names[i], (unsigned)mode_of(place(i, "sgid-own.txt")));
	}
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

/* ------------------------------------------------------------------ */
/* Names and values on a terminal and in the log                        */
/* ------------------------------------------------------------------ */

/* File names a user can give through the mount. */
static const char *const hostile_names[] = {
	"nl\nname.jpg",
	"esc\x1b[31mred.jpg",
	"cr\rname.jpg",
	"row.jpg\nFORGED 99  live  1 B  now  evil.jpg",
	"title\x1b]0;owned\x07.jpg",
	"bad\xff\xfe.jpg",
};

/* How each shows when escaped: proof that its row was printed at all. */
static const char *const hostile_shown[] = {
	"nl\\nname.jpg",
	"esc\\x1B[31mred.jpg",
	"cr\\rname.jpg",
	"row.jpg\\nFORGED 99  live  1 B  now  evil.jpg",
	"title\\x1B]0;owned\\x07.jpg",
	"bad\\xFF\\xFE.jpg",
};

#define HOSTILE_DIR "dir\x1b[2J\nFORGED"

static void names_setup(void)
{
	char path[1024];

	mount_with_app("surface-names", "log_level=trace");
	for (size_t i = 0; i < sizeof(hostile_names) / sizeof(hostile_names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", h.mountpoint, hostile_names[i]);
		ck_assert_int_eq(harness_write_file(path, "data", 4), 0);
	}
	snprintf(path, sizeof(path), "%s/%s", h.mountpoint, HOSTILE_DIR);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/%s/in.jpg", h.mountpoint, HOSTILE_DIR);
	ck_assert_int_eq(harness_write_file(path, "data", 4), 0);
	/* Deleted through the mount: quarantined, with audit rows. */
	snprintf(path, sizeof(path), "%s/%s", h.mountpoint, hostile_names[1]);
	ck_assert_int_eq(unlink(path), 0);
	snprintf(path, sizeof(path), "%s/%s", h.mountpoint, hostile_names[3]);
	ck_assert_int_eq(unlink(path), 0);
	/* Values that name no file ("check") and can never name one. */
	app_exec(&app, "%s", "INSERT INTO photo (image) VALUES ('ghost' || char(27) || '[31m' || "
		 "char(10) || 'FORGED ghost.jpg'), ('../' || char(27) || ']0;x' || char(7) || "
		 "char(10) || 'FORGED hostile');");
}

/* No control byte but the newlines between lines, and no line that a
 * name started. */
static void assert_printable(const char *what, const char *text)
{
	const char *line = text;

	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		ck_assert_msg(*p >= 0x20 || *p == '\n', "%s: control byte 0x%02x at offset %zu:\n%s",
			      what, *p, (size_t)((const char *)p - text), text);
		ck_assert_msg(*p != 0x7f, "%s: DEL at offset %zu", what,
			      (size_t)((const char *)p - text));
		/* A C1 control (U+0080..U+009F) is C2 80..C2 9F in UTF-8. */
		ck_assert_msg(!(*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f),
			      "%s: a C1 control at offset %zu", what,
			      (size_t)((const char *)p - text));
		if (*p == 0xff || *p == 0xfe)
			ck_abort_msg("%s: a byte that is not UTF-8 at offset %zu", what,
				     (size_t)((const char *)p - text));
	}
	for (; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
		ck_assert_msg(strncmp(line, "FORGED", 6) != 0, "%s: a forged line:\n%s", what,
			      text);
}

static void assert_command_printable(const char *what, struct harness_output *r, int status)
{
	ck_assert_msg(r->status == status, "%s: exit %d (expected %d): %s", what, r->status,
		      status, r->err);
	assert_printable(what, r->out);
	assert_printable(what, r->err);
}

START_TEST(test_mediactl_tables_escape_names_and_values)
{
	struct harness_output *r = malloc(sizeof(*r));

	ck_assert_ptr_nonnull(r);
	MEDIACTL(r, "scan");
	assert_command_printable("scan", r, 0);
	MEDIACTL(r, "ls");
	assert_command_printable("ls", r, 0);
	for (size_t i = 0; i < sizeof(hostile_shown) / sizeof(hostile_shown[0]); i++)
		ck_assert_msg(strstr(r->out, hostile_shown[i]), "ls shows '%s':\n%s",
			      hostile_shown[i], r->out);
	MEDIACTL(r, "quarantine");
	assert_command_printable("quarantine", r, 0);
	ck_assert_msg(strstr(r->out, hostile_shown[1]) && strstr(r->out, hostile_shown[3]),
		      "quarantine lists both:\n%s", r->out);
	MEDIACTL(r, "log");
	assert_command_printable("log", r, 0);
	ck_assert_msg(strstr(r->out, hostile_shown[3]), "log:\n%s", r->out);
	MEDIACTL(r, "show", hostile_names[3]);
	assert_command_printable("show", r, 0);
	ck_assert_msg(strstr(r->out, hostile_shown[3]), "show:\n%s", r->out);
	MEDIACTL(r, "show", hostile_names[5]);
	assert_command_printable("show (not UTF-8)", r, 0);
	ck_assert_msg(strstr(r->out, hostile_shown[5]), "show:\n%s", r->out);
	MEDIACTL(r, "check");
	assert_command_printable("check", r, 0);
	ck_assert_msg(strstr(r->out, "ghost\\x1B[31m\\nFORGED ghost.jpg"), "check:\n%s", r->out);
	MEDIACTL(r, "status");
	assert_command_printable("status", r, 0);
	MEDIACTL(r, "du");
	assert_command_printable("du", r, 0);
	ck_assert_msg(strstr(r->out, "dir\\x1B[2J\\nFORGED"), "du:\n%s", r->out);
	/* Error messages that quote a name. */
	MEDIACTL(r, "restore", "nothing\x1b[31m\nFORGED.jpg");
	assert_command_printable("restore (refused)", r, 1);
	MEDIACTL(r, "ls", "--state", "x\x1b[31m\nFORGED");
	assert_command_printable("ls --state (refused)", r, 2);
	free(r);
}
END_TEST

START_TEST(test_json_output_stays_exact)
{
	struct harness_output *r = malloc(sizeof(*r));
	json_t *json, *file;
	size_t i;
	bool found = false;

	ck_assert_ptr_nonnull(r);
	MEDIACTL(r, "--json", "ls");
	ck_assert_int_eq(r->status, 0);
	json = json_loads(r->out, 0, NULL);
	ck_assert_ptr_nonnull(json);
	json_array_foreach(json_object_get(json, "files"), i, file)
		found = found || strcmp(json_string_value(json_object_get(file, "path")),
					hostile_names[0]) == 0;
	ck_assert_msg(found, "the raw name in JSON:\n%s", r->out);
	json_decref(json);
	free(r);
}
END_TEST

START_TEST(test_daemon_log_escapes_names)
{
	char *log = malloc(1 << 22);
	size_t len;

	ck_assert_ptr_nonnull(log);
	/* A scan logs the hostile values it found; trace logs every name. */
	struct harness_output *r = malloc(sizeof(*r));
	ck_assert_ptr_nonnull(r);
	MEDIACTL(r, "scan");
	ck_assert_int_eq(r->status, 0);
	free(r);
	ck_assert(harness_wait_log(&h, "values that can never name a file", WAIT_MS));
	ck_assert_int_eq(harness_read_file(h.log_path, log, (1 << 22) - 1, &len), 0);
	log[len] = '\0';
	ck_assert_msg(strstr(log, hostile_shown[1]) && strstr(log, hostile_shown[3]),
		      "the names are in the log, escaped");
	assert_printable("daemon log", log);
	/* Every line is the daemon's: a timestamp, its name and a level. */
	for (char *line = log; *line; line = strchr(line, '\n') + 1) {
		ck_assert_msg(strncmp(line + 23, " mediafs[", 9) == 0, "a line not the daemon's: %.200s",
			      line);
		ck_assert_ptr_nonnull(strchr(line, '\n'));
	}
	free(log);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The control socket                                                   */
/* ------------------------------------------------------------------ */

static char socket_path[512];

static void control_setup(void)
{
	char dir[700];
	struct dirent *d;
	DIR *listing;

	setenv("MEDIAFS_CONTROL_IDLE_TIMEOUT", IDLE_TIMEOUT, 1);
	mount_with_app("surface-ctl", NULL);
	snprintf(dir, sizeof(dir), "%s/run", h.dir);
	listing = opendir(dir);
	ck_assert_ptr_nonnull(listing);
	socket_path[0] = '\0';
	while ((d = readdir(listing)))
		if (strlen(d->d_name) > 5 && !strcmp(d->d_name + strlen(d->d_name) - 5, ".sock"))
			snprintf(socket_path, sizeof(socket_path), "%s/%s", dir, d->d_name);
	closedir(listing);
	ck_assert_msg(socket_path[0], "a socket in %s", dir);
}

static int connect_control(void)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", socket_path);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	return fd;
}

/* What the daemon sends before it closes fd, waiting up to timeout_ms. */
static bool read_until_closed(int fd, char *buf, size_t size, long timeout_ms)
{
	size_t len = 0;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, (int)timeout_ms) <= 0)
			return false;
		ssize_t n = recv(fd, buf + len, size - len - 1, 0);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return true;
}

START_TEST(test_a_client_beyond_the_limit_is_refused_with_a_line)
{
	int idle[MAX_CONNECTIONS], extra;
	char line[1024];
	struct harness_output *r = malloc(sizeof(*r));

	ck_assert_ptr_nonnull(r);
	for (int i = 0; i < MAX_CONNECTIONS; i++)
		idle[i] = connect_control();
	extra = connect_control();
	ck_assert_msg(read_until_closed(extra, line, sizeof(line), WAIT_MS),
		      "the daemon closes the connection beyond the limit");
	ck_assert_msg(strstr(line, "\"ok\":false") && strstr(line, "busy") &&
		      line[strlen(line) - 1] == '\n', "a refusal line: '%s'", line);
	close(extra);
	/* mediactl says so and exits 1: no SIGPIPE, no silent close. */
	MEDIACTL(r, "status");
	ck_assert_msg(r->status == 1 && strstr(r->err, "the control socket is busy"),
		      "status while full: exit %d: %s", r->status, r->err);
	/* The idle ones are closed after the timeout, with a line saying why. */
	for (int i = 0; i < MAX_CONNECTIONS; i++) {
		ck_assert_msg(read_until_closed(idle[i], line, sizeof(line), WAIT_MS),
			      "idle connection %d closed", i);
		ck_assert_msg(strstr(line, "no request within " IDLE_TIMEOUT), "'%s'", line);
		close(idle[i]);
	}
	MEDIACTL(r, "status");
	ck_assert_msg(r->status == 0, "status once they are gone: %s", r->err);
	free(r);
}
END_TEST

START_TEST(test_a_trickling_client_is_closed_after_the_idle_timeout)
{
	int fd = connect_control();
	long waited = 0;
	char buf[512];

	/* A byte now and then, never a whole line: the timeout counts from
	 * the start of the line, not from the last byte. */
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int ready = poll(&p, 1, TRICKLE_MS);
		ck_assert_int_ge(ready, 0);
		if (ready > 0)
			break;
		waited += TRICKLE_MS;
		ck_assert_msg(waited < 3 * IDLE_TIMEOUT_MS, "still open after %ld ms", waited);
		ck_assert_int_eq(send(fd, "{", 1, MSG_NOSIGNAL), 1);
	}
	ck_assert(read_until_closed(fd, buf, sizeof(buf), WAIT_MS));
	ck_assert_msg(strstr(buf, "no request within"), "'%s'", buf);
	close(fd);
}
END_TEST

START_TEST(test_restore_takes_brackets_literally_unless_glob)
{
	struct harness_output *r = malloc(sizeof(*r));
	struct stat st;

	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(harness_write_file(harness_mount_path(&h, "a[1].jpg"), "bracket", 7), 0);
	ck_assert_int_eq(harness_write_file(harness_mount_path(&h, "a1.jpg"), "plain", 5), 0);
	ck_assert_int_eq(unlink(harness_mount_path(&h, "a[1].jpg")), 0);
	ck_assert_int_eq(unlink(harness_mount_path(&h, "a1.jpg")), 0);
	MEDIACTL(r, "restore", "a[1].jpg");
	ck_assert_msg(r->status == 0, "restore a[1].jpg: %s", r->err);
	ck_assert_int_eq(stat(harness_backing_path(&h, "a[1].jpg"), &st), 0);
	ck_assert_msg(stat(harness_backing_path(&h, "a1.jpg"), &st) != 0,
		      "a[1].jpg is a name, not a pattern that matches a1.jpg");
	MEDIACTL(r, "restore", "a?.jpg");
	ck_assert_msg(r->status == 1, "no file is named a?.jpg: exit %d", r->status);
	MEDIACTL(r, "restore", "--glob", "a?.jpg");
	ck_assert_msg(r->status == 0, "restore --glob: %s", r->err);
	ck_assert_int_eq(stat(harness_backing_path(&h, "a1.jpg"), &st), 0);
	free(r);
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
	tcase_add_test(tc, test_setting_an_acl_clears_setgid_as_natively);
	tcase_add_test(tc, test_getfacl_is_the_same_on_the_mount_and_in_backing);
	suite_add_tcase(s, tc);

	tc = tcase_create("names");
	tcase_add_checked_fixture(tc, names_setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_mediactl_tables_escape_names_and_values);
	tcase_add_test(tc, test_json_output_stays_exact);
	tcase_add_test(tc, test_daemon_log_escapes_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("control");
	tcase_add_checked_fixture(tc, control_setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_a_client_beyond_the_limit_is_refused_with_a_line);
	tcase_add_test(tc, test_a_trickling_client_is_closed_after_the_idle_timeout);
	tcase_add_test(tc, test_restore_takes_brackets_literally_unless_glob);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	int failed;

	app_require_mediactl();
	user_harness_require(&user);
	failed = app_run_suite(surface_suite());
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
