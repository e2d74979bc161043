/*
 * user_harness: the unprivileged test user, and running work as it.
 */
#include "user_harness.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum {
	EXIT_SKIP = 77,
	COMMAND_BYTES = 8192,
	CHILD_SETUP_FAILED = 126,
};

int user_harness_get(struct test_user *user)
{
	struct passwd *pw;

	if (geteuid() != 0) {
		printf("skip: creating and becoming a test user needs root\n");
		return -1;
	}
	pw = getpwnam(USER_HARNESS_NAME);
	if (!pw) {
		/* Two test programs may get here at once: the loser of the
		 * race fails with "already exists" and finds the user below. */
		if (system("useradd --system --no-create-home --shell /usr/sbin/nologin "
			   USER_HARNESS_NAME " 2>/dev/null") != 0 &&
		    !getpwnam(USER_HARNESS_NAME)) {
			printf("skip: useradd " USER_HARNESS_NAME " failed\n");
			return -1;
		}
		pw = getpwnam(USER_HARNESS_NAME);
		if (!pw) {
			printf("skip: user " USER_HARNESS_NAME " not found after useradd\n");
			return -1;
		}
	}
	user->uid = pw->pw_uid;
	user->gid = pw->pw_gid;
	return 0;
}

void user_harness_require(struct test_user *user)
{
	if (user_harness_get(user) != 0)
		exit(EXIT_SKIP);
}

static int become(const struct test_user *user)
{
	if (setgroups(0, NULL) != 0 || setgid(user->gid) != 0 || setuid(user->uid) != 0)
		return -errno;
	/* A process that became the user must not be able to go back. */
	if (setuid(0) == 0)
		return -EPERM;
	return 0;
}

static int wait_child(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return -1;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int user_harness_run(const struct test_user *user, int (*fn)(void *ctx), void *ctx)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int err = become(user);
		if (err) {
			fprintf(stderr, "cannot become %s: %s\n", USER_HARNESS_NAME, strerror(-err));
			_exit(CHILD_SETUP_FAILED);
		}
		_exit(fn(ctx) & 0xff);
	}
	return wait_child(pid);
}

int user_harness_sh(const struct test_user *user, const char *fmt, ...)
{
	char command[COMMAND_BYTES];
	va_list ap;
	pid_t pid;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(command, sizeof(command), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(command))
		return -1;
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int err = become(user);
		if (err) {
			fprintf(stderr, "cannot become %s: %s\n", USER_HARNESS_NAME, strerror(-err));
			_exit(CHILD_SETUP_FAILED);
		}
		execl("/bin/sh", "sh", "-c", command, (char *)NULL);
		_exit(127);
	}
	return wait_child(pid);
}
