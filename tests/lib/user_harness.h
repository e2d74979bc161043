/*
 * user_harness: an unprivileged local user for tests that attack mediafs
 * as somebody who is not root.
 *
 * The user is a system account named USER_HARNESS_NAME, created with
 * useradd the first time a test asks for it (no home, no login shell) and
 * kept: creating it again would race between test programs.  Work runs as
 * that user in a forked child that drops every group and both ids, so the
 * test process itself stays root for its checks.
 *
 * Threads: test processes only.
 */
#ifndef MEDIAFS_USER_HARNESS_H
#define MEDIAFS_USER_HARNESS_H

#include <stdbool.h>
#include <sys/types.h>

#define USER_HARNESS_NAME "mediafs-test"

struct test_user {
	uid_t uid;
	gid_t gid;
};

/*
 * Find (or create) the test user.  Returns 0, or -1 with a reason printed
 * when this process is not root or useradd fails.
 */
int user_harness_get(struct test_user *user);

/* The same, but exit with HARNESS_EXIT_SKIP (77) and the reason instead. */
void user_harness_require(struct test_user *user);

/*
 * Run fn(ctx) as user in a child process; its return value becomes the
 * child's exit status.  Returns that status (0-255), or -1 when the child
 * could not be started or did not exit normally.
 */
int user_harness_run(const struct test_user *user, int (*fn)(void *ctx), void *ctx);

/*
 * Run "/bin/sh -c COMMAND" as user.  Returns its exit status, or -1 as
 * above.
 */
int user_harness_sh(const struct test_user *user, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
