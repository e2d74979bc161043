/*
 * Unit tests for fs/reload.c without a mount, a checker or a control
 * socket (their pointers in struct mediafs stay NULL, as reload.c
 * allows): a reload reads the file and the -o overrides again, says what
 * changed, applies the mount's own settings, refuses a file that does not
 * validate with the running configuration kept, runs on SIGHUP, and
 * refuses once stopped.
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "options.h"
#include "reload.h"

static char dir[] = "/tmp/mediafs-test-reload-XXXXXX";
static char config_file[sizeof(dir) + 32];
static struct mediafs fs;
static struct daemon_options opts;
static struct fuse_args args;
static struct reload *reload;
static bool stopped;		/* a test stopped the thread itself */

enum { WAIT_MS = 20000 };

static void write_config(const char *text)
{
	char tmp[sizeof(config_file) + 8];
	FILE *f;

	/* Replaced in one rename: the reload thread may read it any time. */
	snprintf(tmp, sizeof(tmp), "%s.new", config_file);
	f = fopen(tmp, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(fputs(text, f), 0);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(rename(tmp, config_file), 0);
}

static void setup(void)
{
	static char config_opt[sizeof(config_file) + 16];
	static char *argv[] = { "mediafs", "/b", "/m", "-o", config_opt, "-o",
				"grace=1d", NULL };

	memset(&fs, 0, sizeof(fs));
	stopped = false;
	strcpy(dir, "/tmp/mediafs-test-reload-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(config_file, sizeof(config_file), "%s/mediafs.ini", dir);
	write_config("[mediafs]\nmin_age = 2h\ntemp_max_age = 60s\n"
		     "[source app]\nurl = sqlite:////srv/app.db\ncolumns = photo.image\n"
		     "[source old]\nurl = sqlite:////srv/old.db\ncolumns = photo.image\n");
	snprintf(config_opt, sizeof(config_opt), "config=%s", config_file);
	args = (struct fuse_args)FUSE_ARGS_INIT(7, argv);
	ck_assert_int_eq(options_parse(&args, &opts), 0);
	fs.settings.restore_on_access = opts.config.settings.restore_on_access;
	fs.settings.temp_max_age_ms = opts.config.settings.temp_max_age_ms;
	ck_assert_int_eq(reload_start(&fs, &opts, &reload), 0);
}

static void teardown(void)
{
	char cmd[256];

	if (!stopped)
		reload_stop(reload);
	reload_free(reload);
	fuse_opt_free_args(&args);
	options_free(&opts);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

START_TEST(test_reload_applies_the_file_and_says_what_changed)
{
	char message[RELOAD_MESSAGE_BYTES];

	write_config("[mediafs]\nmin_age = 3h\ntemp_max_age = 5m\nrestore_on_access = no\n"
		     "[source app]\nurl = sqlite:////srv/app.db\ncolumns = photo.thumb\n"
		     "[source new]\nurl = sqlite:////srv/new.db\ncolumns = photo.image\n");
	ck_assert_int_eq(reload_now(reload, message, sizeof(message)), 0);
	ck_assert_msg(strstr(message, "min_age") && strstr(message, "temp_max_age") &&
		      strstr(message, "restore_on_access") && !strstr(message, "grace") &&
		      strstr(message, "source 'app' changed") &&
		      strstr(message, "source 'new' added") &&
		      strstr(message, "source 'old' removed") &&
		      strstr(message, "change only at the next mount"), "%s", message);
	ck_assert_int_eq(atomic_load(&fs.settings.temp_max_age_ms), 5 * 60 * 1000);
	ck_assert_msg(!atomic_load(&fs.settings.restore_on_access), "applied to the mount");
	ck_assert_int_eq(opts.config.settings.min_age_ms, 3 * 3600 * 1000);
	ck_assert_int_eq(opts.config.settings.grace_ms, 24 * 3600 * 1000);
	ck_assert_uint_eq(opts.config.source_count, 2);

	ck_assert_int_eq(reload_now(reload, message, sizeof(message)), 0);
	ck_assert_msg(strstr(message, "nothing changed"), "%s", message);
}
END_TEST

START_TEST(test_file_that_does_not_validate_keeps_the_running_configuration)
{
	char message[RELOAD_MESSAGE_BYTES];

	write_config("[mediafs]\nmin_age = 3h\ntemp_max_age = 5m\ncolour = blue\n");
	ck_assert_int_eq(reload_now(reload, message, sizeof(message)), -EINVAL);
	ck_assert_msg(strstr(message, "not reloaded") && strstr(message, "colour") &&
		      !strchr(message, '\n'), "%s", message);
	ck_assert_int_eq(atomic_load(&fs.settings.temp_max_age_ms), 60 * 1000);
	ck_assert_int_eq(opts.config.settings.min_age_ms, 2 * 3600 * 1000);
	ck_assert_uint_eq(opts.config.source_count, 2);
}
END_TEST

START_TEST(test_sighup_reloads)
{
	int64_t deadline = clock_monotonic_ms() + WAIT_MS;

	write_config("[mediafs]\ntemp_max_age = 7m\n");
	ck_assert_int_eq(kill(getpid(), SIGHUP), 0);
	while (atomic_load(&fs.settings.temp_max_age_ms) != 7 * 60 * 1000) {
		struct timespec pause = { .tv_nsec = 10 * 1000 * 1000 };

		ck_assert_msg(clock_monotonic_ms() < deadline, "no reload after SIGHUP");
		nanosleep(&pause, NULL);
	}
}
END_TEST

START_TEST(test_stopped_reload_refuses)
{
	char message[RELOAD_MESSAGE_BYTES];

	write_config("[mediafs]\ntemp_max_age = 7m\n");
	reload_stop(reload);
	stopped = true;
	ck_assert_int_eq(reload_now(reload, message, sizeof(message)), -ESHUTDOWN);
	ck_assert_msg(strstr(message, "stopping"), "%s", message);
	ck_assert_int_eq(atomic_load(&fs.settings.temp_max_age_ms), 60 * 1000);
}
END_TEST

static Suite *reload_suite(void)
{
	Suite *s = suite_create("reload");
	TCase *tc = tcase_create("reload");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_reload_applies_the_file_and_says_what_changed);
	tcase_add_test(tc, test_file_that_does_not_validate_keeps_the_running_configuration);
	tcase_add_test(tc, test_sighup_reloads);
	tcase_add_test(tc, test_stopped_reload_refuses);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *runner = srunner_create(reload_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
