/*
 * Unit tests of metrics: the Prometheus text of a status answer.
 */
#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

static char *render(const char *status_json)
{
	json_t *status = json_loads(status_json, 0, NULL);
	char *text;

	ck_assert_ptr_nonnull(status);
	text = metrics_render(status);
	json_decref(status);
	ck_assert_ptr_nonnull(text);
	return text;
}

START_TEST(test_files_and_bytes_by_state)
{
	char *text = render("{\"ok\": true, \"daemon\": true, \"totals\": {"
			    "\"live\": {\"files\": 12, \"bytes\": 3000000000000},"
			    "\"quarantined\": {\"files\": 3, \"bytes\": 4096}}, \"alarms\": []}");

	ck_assert_ptr_nonnull(strstr(text, "# TYPE mediafs_files gauge\n"));
	ck_assert_ptr_nonnull(strstr(text, "mediafs_files{state=\"live\"} 12\n"));
	ck_assert_ptr_nonnull(strstr(text, "mediafs_files{state=\"quarantined\"} 3\n"));
	/* Three terabytes stay exact. */
	ck_assert_ptr_nonnull(strstr(text, "mediafs_size_bytes{state=\"live\"} 3000000000000\n"));
	ck_assert_ptr_nonnull(strstr(text, "mediafs_daemon_up 1\n"));
	free(text);
}
END_TEST

START_TEST(test_label_values_are_escaped)
{
	char *text = render("{\"sources\": [{\"name\": \"a\\\"b\\\\c\\nd\", \"references\": 5}],"
			    " \"transitions\": {\"restored\": {\"admin\": 2}}}");

	ck_assert_msg(strstr(text, "mediafs_source_references{source=\"a\\\"b\\\\c\\nd\"} 5\n"),
		      "%s", text);
	ck_assert_ptr_nonnull(strstr(text, "mediafs_restores_total{cause=\"admin\"} 2\n"));
	free(text);
}
END_TEST

START_TEST(test_absent_figures_are_left_out_not_zero)
{
	char *text = render("{\"daemon\": false, \"alarms\": [{\"kind\": \"backing\"}]}");

	ck_assert_ptr_null(strstr(text, "mediafs_files"));
	ck_assert_ptr_null(strstr(text, "mediafs_catalog_events"));
	ck_assert_ptr_null(strstr(text, "mediafs_last_scan"));
	ck_assert_ptr_nonnull(strstr(text, "mediafs_daemon_up 0\n"));
	ck_assert_ptr_nonnull(strstr(text, "mediafs_alarm{kind=\"backing\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(text, "mediafs_alarm{kind=\"held\"} 0\n"));
	free(text);
}
END_TEST

START_TEST(test_last_scan_duration_and_queue)
{
	char *text = render("{\"last_scan\": {\"status\": \"held\", \"started_ms\": 1000,"
			    " \"finished_ms\": 3500, \"candidates\": 7},"
			    " \"events\": {\"emitted\": 10, \"committed\": 6, \"dropped\": 1}}");

	ck_assert_ptr_nonnull(strstr(text, "mediafs_last_scan_duration_seconds 2.5\n"));
	ck_assert_ptr_nonnull(strstr(text, "mediafs_last_scan_outcome{outcome=\"held\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(text, "mediafs_last_scan_files{figure=\"candidates\"} 7\n"));
	ck_assert_ptr_nonnull(strstr(text, "mediafs_catalog_events_queued 3\n"));
	ck_assert_ptr_nonnull(strstr(text, "mediafs_catalog_events_total{result=\"dropped\"} 1\n"));
	free(text);
}
END_TEST

static Suite *metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("render");

	tcase_add_test(tc, test_files_and_bytes_by_state);
	tcase_add_test(tc, test_label_values_are_escaped);
	tcase_add_test(tc, test_absent_figures_are_left_out_not_zero);
	tcase_add_test(tc, test_last_scan_duration_and_queue);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(metrics_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
