/*
 * Unit tests for fs/core/linkwalk.c on a temporary BACKING: what a path
 * resolves to through links, which links it passes, and every way a link
 * could lead out of BACKING, none of which is followed.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "linkwalk.h"

static char root[] = "/tmp/mediafs-test-linkwalk-XXXXXX";
static char backing[sizeof(root) + 16];
static struct store st;

static void sh(const char *cmd)
{
	char full[2048];

	snprintf(full, sizeof(full), "cd '%s' && %s", backing, cmd);
	ck_assert_msg(system(full) == 0, "%s", cmd);
}

static void setup(void)
{
	char why[1024];

	strcpy(root, "/tmp/mediafs-test-linkwalk-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(root));
	snprintf(backing, sizeof(backing), "%s/media", root);
	ck_assert_int_eq(mkdir(backing, 0755), 0);
	ck_assert_msg(store_open(&st, backing, why, sizeof(why)) == 0, "%s", why);
	sh("mkdir -p photos/2024 && echo a > photos/2024/a.jpg && ln -s 2024 photos/current"
	   " && echo logo > logo-2024.png && ln -s logo-2024.png logo.png"
	   " && ln -s logo.png chain.png && ln -s ../logo.png photos/up.png"
	   " && ln -s loop-b loop-a && ln -s loop-a loop-b && ln -s nowhere dangling.png"
	   " && ln -s ../outside escape-up && ln -s /etc escape-abs && ln -s .mediafs state"
	   " && mkdir ../outside && echo canary > ../outside/canary");
}

static void teardown(void)
{
	char cmd[512];

	store_close(&st);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	ck_assert_int_eq(system(cmd), 0);
}

struct links {
	char seen[8][128];
	int count;
};

static int note_link(void *ctx, const char *link)
{
	struct links *l = ctx;

	if (l->count < 8)
		snprintf(l->seen[l->count], sizeof(l->seen[0]), "%s", link);
	l->count++;
	return 0;
}

static const struct {
	const char *path;
	enum linkwalk_outcome outcome;
	const char *target;		/* PLAIN and RESOLVED */
	const char *links;		/* the links passed, joined by spaces */
} walks[] = {
	{ "photos/2024/a.jpg", LINKWALK_PLAIN, "photos/2024/a.jpg", "" },
	{ "photos", LINKWALK_PLAIN, "photos", "" },
	{ "photos/none.jpg", LINKWALK_MISSING, NULL, "" },
	{ "none/a.jpg", LINKWALK_MISSING, NULL, "" },
	{ "logo-2024.png/x", LINKWALK_MISSING, NULL, "" },
	{ "photos/current/a.jpg", LINKWALK_RESOLVED, "photos/2024/a.jpg", "photos/current" },
	{ "photos/current", LINKWALK_RESOLVED, "photos/2024", "photos/current" },
	{ "logo.png", LINKWALK_RESOLVED, "logo-2024.png", "logo.png" },
	{ "chain.png", LINKWALK_RESOLVED, "logo-2024.png", "chain.png logo.png" },
	{ "photos/up.png", LINKWALK_RESOLVED, "logo-2024.png", "photos/up.png logo.png" },
	{ "photos/current/../current/a.jpg", LINKWALK_RESOLVED, "photos/2024/a.jpg",
	  "photos/current photos/current" },
	{ "photos/current/none.jpg", LINKWALK_DANGLING, NULL, "photos/current" },
	{ "dangling.png", LINKWALK_DANGLING, NULL, "dangling.png" },
	{ "loop-a", LINKWALK_LOOP, NULL, NULL },
	{ "escape-up/canary", LINKWALK_ESCAPES, NULL, "escape-up" },
	{ "escape-abs/passwd", LINKWALK_ESCAPES, NULL, "escape-abs" },
	{ "state/catalog.db", LINKWALK_ESCAPES, NULL, "state" },
	{ ".mediafs/lock", LINKWALK_ESCAPES, NULL, "" },
	{ "../outside/canary", LINKWALK_ESCAPES, NULL, "" },
};

START_TEST(test_paths_resolve_as_the_table_says)
{
	struct linkwalk_result res;
	struct links l = { .count = 0 };
	char joined[1024] = "";

	ck_assert_int_eq(linkwalk_resolve(&st, walks[_i].path, note_link, &l, &res), 0);
	ck_assert_msg(res.outcome == walks[_i].outcome, "'%s': %s, not %s", walks[_i].path,
		      linkwalk_outcome_name(res.outcome), linkwalk_outcome_name(walks[_i].outcome));
	if (walks[_i].target)
		ck_assert_str_eq(res.target, walks[_i].target);
	for (int i = 0; i < l.count && i < 8; i++)
		snprintf(joined + strlen(joined), sizeof(joined) - strlen(joined), "%s%s",
			 i ? " " : "", l.seen[i]);
	if (walks[_i].links)
		ck_assert_str_eq(joined, walks[_i].links);
	ck_assert_uint_eq(res.links, (unsigned)l.count);
}
END_TEST

START_TEST(test_an_absolute_link_into_backing_is_followed)
{
	struct linkwalk_result res;
	struct links l = { .count = 0 };
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "ln -s '%s/photos/2024' abs", backing);
	sh(cmd);
	snprintf(cmd, sizeof(cmd), "ln -s '%s' whole", backing);
	sh(cmd);
	ck_assert_int_eq(linkwalk_resolve(&st, "abs/a.jpg", note_link, &l, &res), 0);
	ck_assert_int_eq(res.outcome, LINKWALK_RESOLVED);
	ck_assert_str_eq(res.target, "photos/2024/a.jpg");
	ck_assert_int_eq(linkwalk_resolve(&st, "whole/logo.png", note_link, &l, &res), 0);
	ck_assert_int_eq(res.outcome, LINKWALK_RESOLVED);
	ck_assert_str_eq(res.target, "logo-2024.png");
	/* A sibling whose name starts like BACKING's is outside. */
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s-other' && ln -s '%s-other' sibling", backing,
		 backing);
	sh(cmd);
	ck_assert_int_eq(linkwalk_resolve(&st, "sibling/x", note_link, &l, &res), 0);
	ck_assert_int_eq(res.outcome, LINKWALK_ESCAPES);
}
END_TEST

static int stop_at_link(void *ctx, const char *link)
{
	(void)ctx;
	(void)link;
	return -ECANCELED;
}

START_TEST(test_a_callback_error_stops_the_walk)
{
	struct linkwalk_result res;

	ck_assert_int_eq(linkwalk_resolve(&st, "logo.png", stop_at_link, NULL, &res), -ECANCELED);
}
END_TEST

static Suite *linkwalk_suite(void)
{
	Suite *s = suite_create("linkwalk");
	TCase *tc = tcase_create("resolve");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_paths_resolve_as_the_table_says, 0,
			    sizeof(walks) / sizeof(walks[0]));
	tcase_add_test(tc, test_an_absolute_link_into_backing_is_followed);
	tcase_add_test(tc, test_a_callback_error_stops_the_walk);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *runner = srunner_create(linkwalk_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
