/*
 * Unit tests for refdb/policy.c: the promises that concern decisions,
 * each as a table of cases, without a mount or a database.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "refset.h"

#define MIN 60000LL
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)
#define NOW (1000 * DAY)

static char *excluded[] = { "defaults/*", "CACHE/*" };
static char *pinned[] = { "keep/this.jpg", "logos/*.png" };

static const struct policy_settings settings = {
	.min_age_ms = HOUR,
	.grace_ms = 7 * DAY,
	.max_fraction = 0.10,
	.hold_min_files = 10,
	.exclude = excluded,
	.exclude_count = 2,
	.pins = pinned,
	.pin_count = 2,
};

static struct refset *referenced_set(void)
{
	static const char *const refs[] = { "photos/used.jpg", "shared.jpg", "back.jpg" };
	struct refset *set = refset_new();

	for (size_t i = 0; i < sizeof(refs) / sizeof(refs[0]); i++)
		ck_assert_int_eq(refset_add(set, refs[i], strlen(refs[i])), 0);
	return set;
}

static const struct {
	const char *name;
	struct policy_file file;
	enum policy_action expected;
	const char *reason;
} cases[] = {
	{ "a referenced old file stays",
	  { "photos/used.jpg", CATALOG_LIVE, NOW - 30 * DAY, 0, 0 }, POLICY_KEEP, "referenced" },
	{ "an unreferenced old file goes",
	  { "photos/orphan.jpg", CATALOG_LIVE, NOW - 2 * HOUR, 0, 0 }, POLICY_QUARANTINE,
	  "unreferenced" },
	{ "an unreferenced file younger than min_age stays",
	  { "photos/upload.jpg", CATALOG_LIVE, NOW - HOUR + 1, 0, 0 }, POLICY_KEEP,
	  "younger than min_age" },
	{ "a file exactly min_age old may go",
	  { "photos/edge.jpg", CATALOG_LIVE, NOW - HOUR, 0, 0 }, POLICY_QUARANTINE,
	  "unreferenced" },
	{ "an excluded file stays",
	  { "defaults/avatar.png", CATALOG_LIVE, NOW - 30 * DAY, 0, 0 }, POLICY_KEEP,
	  "excluded" },
	{ "an exclude glob covers subdirectories",
	  { "CACHE/a/b/c.jpg", CATALOG_LIVE, NOW - 30 * DAY, 0, 0 }, POLICY_KEEP, "excluded" },
	{ "a pinned path stays",
	  { "keep/this.jpg", CATALOG_LIVE, NOW - 30 * DAY, 0, 0 }, POLICY_KEEP, "pinned" },
	{ "a pinned glob stays",
	  { "logos/x.png", CATALOG_LIVE, NOW - 30 * DAY, 0, 0 }, POLICY_KEEP, "pinned" },
	{ "a near miss of a pin goes",
	  { "logos/x.jpg", CATALOG_LIVE, NOW - 30 * DAY, 0, 0 }, POLICY_QUARANTINE,
	  "unreferenced" },
	{ "a quarantined file referenced again comes back",
	  { "back.jpg", CATALOG_QUARANTINED, 0, NOW - 30 * DAY, 0 }, POLICY_RESTORE,
	  "referenced-again" },
	{ "a quarantined file within grace stays",
	  { "q.jpg", CATALOG_QUARANTINED, 0, NOW - 7 * DAY + 1, 0 }, POLICY_KEEP,
	  "within grace" },
	{ "a quarantined file past grace is purged",
	  { "q.jpg", CATALOG_QUARANTINED, 0, NOW - 7 * DAY, 0 }, POLICY_PURGE,
	  "grace expired" },
	{ "a quarantined file referenced since it went is not purged",
	  { "q.jpg", CATALOG_QUARANTINED, 0, NOW - 30 * DAY, NOW - 10 * DAY }, POLICY_KEEP,
	  "referenced since quarantined" },
	{ "a purged tombstone is left alone",
	  { "p.jpg", CATALOG_PURGED, 0, NOW - 30 * DAY, 0 }, POLICY_KEEP, "not on disk" },
	{ "a missing row is left alone",
	  { "m.jpg", CATALOG_MISSING, 0, NOW - 30 * DAY, 0 }, POLICY_KEEP, "not on disk" },
};

START_TEST(test_each_file_gets_the_promised_action)
{
	struct refset *set = referenced_set();
	struct policy_judgement j = policy_judge_file(&settings, NOW, set, &cases[_i].file);

	ck_assert_msg(j.action == cases[_i].expected, "%s: got %s, expected %s",
		      cases[_i].name, policy_action_name(j.action),
		      policy_action_name(cases[_i].expected));
	ck_assert_str_eq(j.reason, cases[_i].reason);
	refset_free(set);
}
END_TEST

static const struct {
	const char *name;
	struct policy_source_outcome sources[2];
	size_t source_count;
	struct policy_scan_counts counts;
	bool confirmed, dry_run;
	enum policy_verdict verdict;
	bool may_quarantine, may_restore, may_purge;
} scans[] = {
	{ "an ordinary scan proceeds", { { "app", false, 100 } }, 1, { 1000, 50 },
	  false, false, POLICY_PROCEED, true, true, true },
	{ "a failed source moves nothing", { { "app", false, 100 }, { "shop", true, 0 } }, 2,
	  { 1000, 50 }, false, false, POLICY_SOURCE_FAILED, false, false, false },
	{ "a failed source moves nothing even when confirmed", { { "app", true, 0 } }, 1,
	  { 1000, 50 }, true, false, POLICY_SOURCE_FAILED, false, false, false },
	{ "more than max_fraction is held", { { "app", false, 100 } }, 1, { 1000, 101 },
	  false, false, POLICY_HOLD_FRACTION, false, true, false },
	{ "exactly max_fraction proceeds", { { "app", false, 100 } }, 1, { 1000, 100 },
	  false, false, POLICY_PROCEED, true, true, true },
	{ "a held scan proceeds once confirmed", { { "app", false, 100 } }, 1, { 1000, 900 },
	  true, false, POLICY_PROCEED, true, true, true },
	{ "an empty source is held", { { "app", false, 100 }, { "shop", false, 0 } }, 2,
	  { 1000, 10 }, false, false, POLICY_HOLD_EMPTY_SOURCE, false, true, false },
	{ "an empty source with nothing tracked proceeds", { { "app", false, 0 } }, 1, { 0, 0 },
	  false, false, POLICY_PROCEED, true, true, true },
	{ "without sources nothing is quarantined, expired files are purged", { { 0 } }, 0,
	  { 1000, 1000 }, false, false, POLICY_NO_SOURCES, false, false, true },
	{ "without sources even a confirmed scan quarantines nothing", { { 0 } }, 0,
	  { 1000, 1000 }, true, false, POLICY_NO_SOURCES, false, false, true },
	{ "a dry run does nothing", { { "app", false, 100 } }, 1, { 1000, 5 },
	  false, true, POLICY_PROCEED, false, false, false },
	{ "a dry run still reports the brake", { { "app", false, 100 } }, 1, { 1000, 500 },
	  false, true, POLICY_HOLD_FRACTION, false, false, false },
	{ "a few orphans of a small store are not held", { { "app", false, 10 } }, 1, { 12, 2 },
	  false, false, POLICY_PROCEED, true, true, true },
	{ "hold_min_files orphans of a small store are not held", { { "app", false, 3 } }, 1,
	  { 13, 10 }, false, false, POLICY_PROCEED, true, true, true },
	{ "one more than hold_min_files is held", { { "app", false, 3 } }, 1, { 14, 11 },
	  false, false, POLICY_HOLD_FRACTION, false, true, false },
	{ "every file of a small store is held (a wrong column)", { { "app", false, 5 } }, 1,
	  { 5, 5 }, false, false, POLICY_HOLD_FRACTION, false, true, false },
};

START_TEST(test_each_scan_gets_the_promised_verdict)
{
	struct policy_decision d;

	policy_decide_scan(&settings, scans[_i].sources, scans[_i].source_count,
			   &scans[_i].counts, scans[_i].confirmed, scans[_i].dry_run, &d);
	ck_assert_msg(d.verdict == scans[_i].verdict, "%s: verdict %s", scans[_i].name,
		      policy_verdict_name(d.verdict));
	ck_assert_msg(d.may_quarantine == scans[_i].may_quarantine, "%s: may_quarantine",
		      scans[_i].name);
	ck_assert_msg(d.may_restore == scans[_i].may_restore, "%s: may_restore",
		      scans[_i].name);
	ck_assert_msg(d.may_purge == scans[_i].may_purge, "%s: may_purge", scans[_i].name);
	ck_assert_msg(d.verdict == POLICY_PROCEED || d.reason[0], "%s: a reason is given",
		      scans[_i].name);
}
END_TEST

START_TEST(test_brake_reason_names_the_numbers)
{
	struct policy_source_outcome app = { "app", false, 10 };
	struct policy_scan_counts counts = { 200, 150 };
	struct policy_decision d;

	policy_decide_scan(&settings, &app, 1, &counts, false, false, &d);
	ck_assert_msg(strstr(d.reason, "150 of 200") != NULL, "%s", d.reason);
}
END_TEST

static const struct {
	const char *name;
	struct policy_access access;
	enum policy_access_action expected;
} accesses[] = {
	{ "a file deleted through the mount never comes back by a lookup",
	  { false, false, true }, POLICY_ACCESS_REFUSE },
	{ "nor with restore_on_access off",
	  { false, false, false }, POLICY_ACCESS_REFUSE },
	{ "a file a scan quarantined comes back at its first lookup",
	  { true, false, true }, POLICY_ACCESS_RESTORE },
	{ "but not twice: the request is an alarm",
	  { true, true, true }, POLICY_ACCESS_ALARM },
	{ "with restore_on_access off, a request is an alarm at once",
	  { true, false, false }, POLICY_ACCESS_ALARM },
};

START_TEST(test_each_lookup_gets_the_promised_action)
{
	ck_assert_msg(policy_judge_access(&accesses[_i].access) == accesses[_i].expected, "%s",
		      accesses[_i].name);
}
END_TEST

static Suite *policy_suite(void)
{
	Suite *s = suite_create("policy");
	TCase *files = tcase_create("files");
	TCase *verdicts = tcase_create("scans");

	tcase_add_loop_test(files, test_each_file_gets_the_promised_action, 0,
			    sizeof(cases) / sizeof(cases[0]));
	suite_add_tcase(s, files);
	tcase_add_loop_test(verdicts, test_each_scan_gets_the_promised_verdict, 0,
			    sizeof(scans) / sizeof(scans[0]));
	tcase_add_test(verdicts, test_brake_reason_names_the_numbers);
	suite_add_tcase(s, verdicts);
	TCase *lookups = tcase_create("lookups");
	tcase_add_loop_test(lookups, test_each_lookup_gets_the_promised_action, 0,
			    sizeof(accesses) / sizeof(accesses[0]));
	suite_add_tcase(s, lookups);
	return s;
}

int main(void)
{
	SRunner *runner = srunner_create(policy_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
