/*
 * Unit tests for refdb/log.c: the line format on a terminal or file, and
 * the priority prefix when systemd's journal reads stderr.
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

/* Point stderr at a fresh temporary file; returns its descriptor. */
static int capture_stderr(void)
{
	char path[] = "/tmp/mediafs-test-log-XXXXXX";
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	unlink(path);
	ck_assert_int_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	return fd;
}

static void read_back(int fd, char *buf, size_t size)
{
	ssize_t n = pread(fd, buf, size - 1, 0);

	ck_assert_int_ge(n, 0);
	buf[n] = '\0';
}

START_TEST(test_journal_stream_gets_priority_prefixes)
{
	char stream[64], buf[512];
	struct stat st;
	int fd = capture_stderr();

	ck_assert_int_eq(fstat(STDERR_FILENO, &st), 0);
	snprintf(stream, sizeof(stream), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", stream, 1);
	log_init("mediafs", LOG_LEVEL_INFO, LOG_TARGET_STDERR);
	log_error("cannot open '%s'", "a.jpg");
	log_warn("held");
	log_info("mounted");
	log_debug("not shown at info");
	read_back(fd, buf, sizeof(buf));
	ck_assert_str_eq(buf, "<3>error: cannot open 'a.jpg'\n<4>warn: held\n<6>info: mounted\n");
}
END_TEST

START_TEST(test_other_stderr_gets_timestamped_lines)
{
	char buf[512];
	int fd;

	/* The journal's stream, inherited by a child whose stderr was
	 * redirected elsewhere, does not count. */
	setenv("JOURNAL_STREAM", "1:1", 1);
	fd = capture_stderr();
	log_init("mediafs", LOG_LEVEL_INFO, LOG_TARGET_STDERR);
	log_warn("held");
	read_back(fd, buf, sizeof(buf));
	ck_assert_msg(strlen(buf) > 24 && buf[4] == '-' && buf[10] == 'T' && buf[0] != '<',
		      "a timestamp first: '%s'", buf);
	ck_assert_msg(strstr(buf, " mediafs[") && strstr(buf, "] warn: held\n"),
		      "ident, pid and level: '%s'", buf);
}
END_TEST

static Suite *log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("format");

	tcase_add_test(tc, test_journal_stream_gets_priority_prefixes);
	tcase_add_test(tc, test_other_stderr_gets_timestamped_lines);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *runner = srunner_create(log_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
