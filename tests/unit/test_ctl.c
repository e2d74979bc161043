/*
 * Unit tests for fs/ctl.c: the control socket's protocol without a mount
 * or a checker.  The daemon's side is a minimal struct mediafs (a store
 * on a temporary BACKING, its quarantine and a real catalog writer); the
 * requests sent are those that need neither the checker nor safekeep
 * (pin, pins, ls).  The socket is private and described, requests are
 * answered line by line, a bad line is refused without closing, an idle
 * client and a seventeenth one are told why they are closed, and a stop
 * ends open connections and removes the socket.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"
#include "ctl.h"
#include "ctladdr.h"
#include "events.h"

#define MOUNTPOINT "/srv/mediafs-test-ctl"

enum { WAIT_MS = 20000, CONNECTIONS = 16 };

static char dir[] = "/tmp/mediafs-test-ctl-XXXXXX";
static char socket_path[108], info_path[PATH_MAX];
static struct mediafs fs;
static struct config cfg;
static struct ctl *ctl;

static void start(void)
{
	char catalog_path[PATH_MAX], error[1024];

	ck_assert_int_eq(store_state_path(&fs.store, CATALOG_FILE_NAME, catalog_path,
					  sizeof(catalog_path)), 0);
	ck_assert_msg(events_start(catalog_path, &fs.store, false, &fs.events, error,
				   sizeof(error)) == 0, "%s", error);
	ck_assert_msg(ctl_start(&fs, &cfg, MOUNTPOINT, catalog_path, &ctl, error,
				sizeof(error)) == 0, "%s", error);
}

static void setup(void)
{
	char path[PATH_MAX], why[1024];

	memset(&fs, 0, sizeof(fs));
	strcpy(dir, "/tmp/mediafs-test-ctl-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/run", dir);
	ck_assert_int_eq(setenv("MEDIAFS_RUNTIME_DIR", path, 1), 0);
	snprintf(path, sizeof(path), "%s/backing", dir);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	ck_assert_msg(store_open(&fs.store, path, why, sizeof(why)) == 0, "%s", why);
	ck_assert_int_eq(quarantine_open(&fs.quarantine, &fs.store), 0);
	config_init_defaults(&cfg);
	ck_assert_int_eq(ctladdr_for_mount(MOUNTPOINT, socket_path, sizeof(socket_path),
					   info_path, sizeof(info_path)), 0);
	ctl = NULL;
	start();
}

/* Each test runs in a child of its own: the variable goes with it. */
static void setup_idle(void)
{
	ck_assert_int_eq(setenv("MEDIAFS_CONTROL_IDLE_TIMEOUT", "1s", 1), 0);
	setup();
}

static void teardown(void)
{
	char cmd[256];

	ctl_stop(ctl);
	events_stop(fs.events);
	config_free(&cfg);
	quarantine_close(&fs.quarantine);
	store_close(&fs.store);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* ------------------------------------------------------------------ */
/* A client                                                              */
/* ------------------------------------------------------------------ */

static int client(void)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", socket_path);
	ck_assert_msg(connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0, "connect: %s",
		      strerror(errno));
	return fd;
}

static void say(int fd, const char *text)
{
	size_t len = strlen(text);

	ck_assert_int_eq(send(fd, text, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* What a client received and has not parsed yet. */
static struct {
	int fd;
	char buf[16384];
	size_t used;
} pending = { .fd = -1 };

/* One line from fd, parsed; NULL at the end of the stream.  Bytes after
 * the line are kept for the next call on the same fd. */
static json_t *answer(int fd)
{
	int64_t deadline = clock_monotonic_ms() + WAIT_MS;
	char *newline;
	json_t *line;

	if (pending.fd != fd) {
		pending.fd = fd;
		pending.used = 0;
	}
	while (!(newline = memchr(pending.buf, '\n', pending.used))) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = deadline - clock_monotonic_ms();
		ssize_t n;

		ck_assert_msg(left > 0 && poll(&p, 1, (int)left) == 1, "no answer");
		n = recv(fd, pending.buf + pending.used, sizeof(pending.buf) - pending.used, 0);
		ck_assert_int_ge(n, 0);
		if (n == 0)
			return NULL;
		pending.used += (size_t)n;
	}
	*newline = '\0';
	line = json_loads(pending.buf, 0, NULL);
	ck_assert_msg(line != NULL, "not JSON: %s", pending.buf);
	pending.used -= (size_t)(newline + 1 - pending.buf);
	memmove(pending.buf, newline + 1, pending.used);
	return line;
}

static bool is_ok(const json_t *line)
{
	return json_is_true(json_object_get(line, "ok"));
}

static const char *text_of(const json_t *line, const char *key)
{
	const char *s = json_string_value(json_object_get(line, key));

	return s ? s : "";
}

/* ------------------------------------------------------------------ */
/* Tests                                                                 */
/* ------------------------------------------------------------------ */

START_TEST(test_socket_is_private_and_described)
{
	char error[1024];
	struct ctl *second;
	json_t *info;
	struct stat sb;

	ck_assert_int_eq(lstat(socket_path, &sb), 0);
	ck_assert_msg(S_ISSOCK(sb.st_mode), "a socket");
	ck_assert_int_eq(sb.st_mode & 07777, 0600);
	ck_assert_int_eq(sb.st_uid, geteuid());
	info = json_load_file(info_path, 0, NULL);
	ck_assert_ptr_nonnull(info);
	ck_assert_str_eq(text_of(info, "mountpoint"), MOUNTPOINT);
	ck_assert_str_eq(text_of(info, "socket"), socket_path);
	ck_assert_int_eq(json_integer_value(json_object_get(info, "pid")), getpid());
	json_decref(info);
	ck_assert_int_eq(ctl_start(&fs, &cfg, MOUNTPOINT, "/nonexistent", &second, error,
				   sizeof(error)), -EADDRINUSE);
	ck_assert_msg(strstr(error, "served by another mediafs"), "%s", error);
}
END_TEST

/* A bad idle timeout is refused with its name, before anything is made
 * (under ASan a leak here fails the run). */
START_TEST(test_bad_idle_timeout_is_refused_and_leaks_nothing)
{
	char error[1024] = "";
	struct ctl *second = NULL;

	ck_assert_int_eq(setenv("MEDIAFS_CONTROL_IDLE_TIMEOUT", "soon", 1), 0);
	ck_assert_int_eq(ctl_start(&fs, &cfg, "/elsewhere", "/nonexistent", &second, error,
				   sizeof(error)), -EINVAL);
	ck_assert_ptr_null(second);
	ck_assert_msg(strstr(error, "MEDIAFS_CONTROL_IDLE_TIMEOUT='soon' is not a duration"),
		      "%s", error);
	ck_assert_int_eq(unsetenv("MEDIAFS_CONTROL_IDLE_TIMEOUT"), 0);
}
END_TEST

START_TEST(test_requests_are_answered_line_by_line)
{
	int fd = client();
	json_t *line, *pins;
	char *listed;

	/* Two requests in one write, then a bad line, then one more. */
	say(fd, "{\"command\": \"pin\", \"pattern\": \"keep/*\"}\n{\"command\": \"pins\"}\n");
	line = answer(fd);
	ck_assert_msg(is_ok(line), "pin: %s", text_of(line, "error"));
	json_decref(line);
	line = answer(fd);
	ck_assert_msg(is_ok(line), "pins: %s", text_of(line, "error"));
	pins = json_object_get(line, "pins");
	ck_assert_uint_eq(json_array_size(pins), 1);
	listed = json_dumps(pins, JSON_COMPACT);
	ck_assert_msg(listed && strstr(listed, "keep/*"), "the pin is listed: %s", listed);
	free(listed);
	json_decref(line);
	say(fd, "nonsense\n");
	line = answer(fd);
	ck_assert_msg(!is_ok(line), "refused");
	ck_assert_msg(strstr(text_of(line, "error"), "not JSON"), "%s", text_of(line, "error"));
	json_decref(line);
	say(fd, "{\"command\": \"ls\"}\n");
	line = answer(fd);
	ck_assert_msg(is_ok(line), "the connection goes on: %s", text_of(line, "error"));
	json_decref(line);
	close(fd);
}
END_TEST

START_TEST(test_idle_client_is_told_why_it_is_closed)
{
	int fd = client();
	json_t *line = answer(fd);

	ck_assert_msg(!is_ok(line), "refused");
	ck_assert_str_eq(text_of(line, "kind"), "refused");
	ck_assert_msg(strstr(text_of(line, "error"), "no request within 1s"), "%s",
		      text_of(line, "error"));
	json_decref(line);
	ck_assert_ptr_null(answer(fd));
	close(fd);
}
END_TEST

START_TEST(test_client_beyond_the_limit_is_refused_busy)
{
	int fds[CONNECTIONS], extra;
	json_t *line;

	for (int i = 0; i < CONNECTIONS; i++)
		fds[i] = client();
	extra = client();
	line = answer(extra);
	ck_assert_msg(!is_ok(line), "refused");
	ck_assert_msg(strstr(text_of(line, "error"), "the control socket is busy"), "%s",
		      text_of(line, "error"));
	json_decref(line);
	close(extra);
	/* Those admitted are served. */
	say(fds[CONNECTIONS - 1], "{\"command\": \"ls\"}\n");
	line = answer(fds[CONNECTIONS - 1]);
	ck_assert_msg(is_ok(line), "%s", text_of(line, "error"));
	json_decref(line);
	for (int i = 0; i < CONNECTIONS; i++)
		close(fds[i]);
}
END_TEST

START_TEST(test_stop_ends_open_connections_and_removes_the_socket)
{
	int fd = client();
	int64_t started = clock_monotonic_ms();
	struct stat sb;

	say(fd, "{\"command\": \"ls\"}\n");
	json_decref(answer(fd));
	ctl_stop(ctl);
	ctl = NULL;
	ck_assert_msg(clock_monotonic_ms() - started < WAIT_MS,
		      "an idle client does not hold the stop for its timeout");
	ck_assert_int_eq(lstat(socket_path, &sb), -1);
	ck_assert_int_eq(lstat(info_path, &sb), -1);
	ck_assert_ptr_null(answer(fd));
	close(fd);
}
END_TEST

static Suite *ctl_suite(void)
{
	Suite *s = suite_create("ctl");
	TCase *tc = tcase_create("protocol");
	TCase *idle = tcase_create("idle");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_socket_is_private_and_described);
	tcase_add_test(tc, test_bad_idle_timeout_is_refused_and_leaks_nothing);
	tcase_add_test(tc, test_requests_are_answered_line_by_line);
	tcase_add_test(tc, test_client_beyond_the_limit_is_refused_busy);
	tcase_add_test(tc, test_stop_ends_open_connections_and_removes_the_socket);
	suite_add_tcase(s, tc);

	tcase_add_checked_fixture(idle, setup_idle, teardown);
	tcase_add_test(idle, test_idle_client_is_told_why_it_is_closed);
	suite_add_tcase(s, idle);
	return s;
}

int main(void)
{
	SRunner *runner = srunner_create(ctl_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
