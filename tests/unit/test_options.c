/*
 * Unit tests for fs/options.c: the daemon's command line through libfuse's
 * option parser, without mounting.  BACKING and MOUNTPOINT are taken, the
 * daemon's own -o options read, [mediafs] keys given as -o override the
 * configuration file whatever their order, other options are left for
 * libfuse, and a reload reads the file and the overrides again.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "options.h"

static char dir[] = "/tmp/mediafs-test-options-XXXXXX";
static char config_file[sizeof(dir) + 32];

static void write_config(const char *text)
{
	FILE *f = fopen(config_file, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(fputs(text, f), 0);
	ck_assert_int_eq(fclose(f), 0);
}

static void setup(void)
{
	strcpy(dir, "/tmp/mediafs-test-options-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(config_file, sizeof(config_file), "%s/mediafs.ini", dir);
	write_config("[mediafs]\nmin_age = 2h\ngrace = 7d\n");
	ck_assert_int_eq(chdir(dir), 0);
}

static void teardown(void)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* Parse argv (NULL-terminated) as main() does; args keeps what is left
 * for libfuse. */
static int parse(char **argv, struct fuse_args *args, struct daemon_options *opts)
{
	int argc = 0;

	while (argv[argc])
		argc++;
	*args = (struct fuse_args)FUSE_ARGS_INIT(argc, argv);
	return options_parse(args, opts);
}

/* Is option in what is left for libfuse? */
static int left_for_fuse(const struct fuse_args *args, const char *option)
{
	for (int i = 0; i < args->argc; i++)
		if (strstr(args->argv[i], option))
			return 1;
	return 0;
}

START_TEST(test_backing_mountpoint_and_own_options_are_read)
{
	char *argv[] = { "mediafs", "/srv/backing", "/srv/media", "-o",
			 "timeout=5,notrack,log_level=debug,inode_fds=100,writeback,allow_other",
			 NULL };
	struct daemon_options opts;
	struct fuse_args args;

	ck_assert_int_eq(parse(argv, &args, &opts), 0);
	ck_assert_str_eq(opts.backing, "/srv/backing");
	ck_assert_str_eq(opts.mountpoint, "/srv/media");
	ck_assert_double_eq(opts.timeout_s, 5);
	ck_assert_double_eq(opts.entry_timeout_s, -1);
	ck_assert_int_eq(opts.notrack, 1);
	ck_assert_str_eq(opts.log_level, "debug");
	ck_assert_int_eq(opts.inode_fds, 100);
	ck_assert_int_eq(opts.writeback, 1);
	ck_assert_int_eq(opts.splice, 1);
	ck_assert_msg(left_for_fuse(&args, "allow_other"), "libfuse's option is left to it");
	ck_assert_msg(!left_for_fuse(&args, "notrack"), "ours are taken");
	fuse_opt_free_args(&args);
	options_free(&opts);
}
END_TEST

START_TEST(test_third_argument_is_refused)
{
	char *argv[] = { "mediafs", "/a", "/b", "/c", NULL };
	struct daemon_options opts;
	struct fuse_args args;

	ck_assert_int_eq(parse(argv, &args, &opts), -1);
	fuse_opt_free_args(&args);
	options_free(&opts);
}
END_TEST

START_TEST(test_settings_given_as_options_override_the_file_in_any_order)
{
	char config_opt[sizeof(config_file) + 16];
	char *argv[] = { "mediafs", "-o", "grace=1d", "/b", "/m", "-o", config_opt,
			 "-o", "max_fraction=0.5,nosplice", NULL };
	struct daemon_options opts;
	struct fuse_args args;

	snprintf(config_opt, sizeof(config_opt), "config=%s", "mediafs.ini");
	ck_assert_int_eq(parse(argv, &args, &opts), 0);
	ck_assert_int_eq(opts.config.settings.min_age_ms, 2 * 3600 * 1000);
	ck_assert_int_eq(opts.config.settings.grace_ms, 24 * 3600 * 1000);
	ck_assert_double_eq(opts.config.settings.max_fraction, 0.5);
	ck_assert_int_eq(opts.splice, 0);
	ck_assert_uint_eq(opts.override_count, 2);
	ck_assert_str_eq(opts.config_path, config_file);
	ck_assert_msg(!left_for_fuse(&args, "grace") && !left_for_fuse(&args, "max_fraction"),
		      "settings are not libfuse's");
	fuse_opt_free_args(&args);
	options_free(&opts);
}
END_TEST

static const char *const bad_command_lines[][3] = {
	{ "-o", "min_age=soon", NULL },
	{ "-o", "max_fraction=2", NULL },
	{ "-o", "config=/nonexistent/mediafs.ini", NULL },
};

START_TEST(test_invalid_setting_or_file_is_an_error)
{
	char *argv[] = { "mediafs", "/b", "/m", (char *)bad_command_lines[_i][0],
			 (char *)bad_command_lines[_i][1], NULL };
	struct daemon_options opts;
	struct fuse_args args;

	ck_assert_int_eq(parse(argv, &args, &opts), -1);
	fuse_opt_free_args(&args);
	options_free(&opts);
}
END_TEST

START_TEST(test_reload_reads_the_file_and_the_overrides_again)
{
	char config_opt[sizeof(config_file) + 16], error[1024];
	char *argv[] = { "mediafs", "/b", "/m", "-o", config_opt, "-o", "grace=1d", NULL };
	struct daemon_options opts;
	struct fuse_args args;

	snprintf(config_opt, sizeof(config_opt), "config=%s", config_file);
	ck_assert_int_eq(parse(argv, &args, &opts), 0);
	write_config("[mediafs]\nmin_age = 3h\ngrace = 30d\n");
	ck_assert_int_eq(options_load_config(&opts, &opts.config, error, sizeof(error)), 0);
	ck_assert_int_eq(opts.config.settings.min_age_ms, 3 * 3600 * 1000);
	ck_assert_int_eq(opts.config.settings.grace_ms, 24 * 3600 * 1000);

	/* A file that does not validate leaves the running configuration. */
	write_config("[mediafs]\nmin_age = 4h\ncolour = blue\n");
	ck_assert_int_eq(options_load_config(&opts, &opts.config, error, sizeof(error)),
			 -EINVAL);
	ck_assert_msg(strstr(error, "colour") && !strchr(error, '\n'), "one sentence: %s", error);
	ck_assert_int_eq(opts.config.settings.min_age_ms, 3 * 3600 * 1000);
	fuse_opt_free_args(&args);
	options_free(&opts);
}
END_TEST

static Suite *options_suite(void)
{
	Suite *s = suite_create("options");
	TCase *tc = tcase_create("options");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_backing_mountpoint_and_own_options_are_read);
	tcase_add_test(tc, test_third_argument_is_refused);
	tcase_add_test(tc, test_settings_given_as_options_override_the_file_in_any_order);
	tcase_add_loop_test(tc, test_invalid_setting_or_file_is_an_error, 0,
			    sizeof(bad_command_lines) / sizeof(bad_command_lines[0]));
	tcase_add_test(tc, test_reload_reads_the_file_and_the_overrides_again);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *runner = srunner_create(options_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
