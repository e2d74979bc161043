/*
 * Unit tests for refdb/log.c: the line format on a terminal or file, the
 * priority prefix when systemd's journal reads stderr, and names that
 * cannot split a line or reach the terminal.
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

START_TEST(test_names_cannot_split_or_forge_a_line)
{
	char buf[8192];
	int fd;

	setenv("JOURNAL_STREAM", "1:1", 1);
	fd = capture_stderr();
	log_init("mediafs", LOG_LEVEL_INFO, LOG_TARGET_STDERR);
	log_warn("cannot quarantine '%s': %s",
		 "a.jpg\n2026-01-01T00:00:00.000 mediafs[1] info: forged\r\x1b[31mred\x1b]0;t\x07\xff",
		 "Permission denied");
	read_back(fd, buf, sizeof(buf));
	ck_assert_msg(strchr(buf, '\n') == buf + strlen(buf) - 1, "one line: '%s'", buf);
	for (const char *p = buf; *p; p++)
		ck_assert_msg((unsigned char)*p >= 0x20 || *p == '\n',
			      "no control byte (0x%02x) in '%s'", (unsigned char)*p, buf);
	ck_assert_msg(strstr(buf, "] warn: cannot quarantine 'a.jpg\\n2026-01-01T00:00:00.000 "
			      "mediafs[1] info: forged\\r\\x1B[31mred\\x1B]0;t\\x07\\xFF': "
			      "Permission denied\n"), "escaped in place: '%s'", buf);
}
END_TEST

START_TEST(test_long_messages_stay_one_line)
{
	static char name[6000];
	char buf[8192];
	int fd;

	memset(name, '\n', sizeof(name) - 1);
	setenv("JOURNAL_STREAM", "1:1", 1);
	fd = capture_stderr();
	log_init("mediafs", LOG_LEVEL_INFO, LOG_TARGET_STDERR);
	log_error("'%s'", name);
	log_info("next");
	read_back(fd, buf, sizeof(buf));
	char *first_end = strchr(buf, '\n');
	ck_assert_ptr_nonnull(first_end);
	ck_assert_msg(first_end[-1] == '.' && first_end[-2] == '.' && first_end[-3] == '.',
		      "cut with an ellipsis");
	ck_assert_msg(strstr(first_end + 1, "info: next\n") &&
		      strchr(first_end + 1, '\n') == buf + strlen(buf) - 1, "two lines");
}
END_TEST

static Suite *log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("format");

	tcase_add_test(tc, test_journal_stream_gets_priority_prefixes);
	tcase_add_test(tc, test_other_stderr_gets_timestamped_lines);
	tcase_add_test(tc, test_names_cannot_split_or_forge_a_line);
	tcase_add_test(tc, test_long_messages_stay_one_line);
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
