/*
 * Unit tests for fs/core/admin.c: the requests of the control socket, as bytes
 * from a client, before any of them touches a catalog.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"

/* 400 euro signs: three bytes each, so a 1024-byte message cuts one. */
#define EURO_10 "\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac"
#define EURO_100 EURO_10 EURO_10 EURO_10 EURO_10 EURO_10 EURO_10 EURO_10 EURO_10 EURO_10 EURO_10
#define EURO_400 EURO_100 EURO_100 EURO_100 EURO_100

/* len 0 means strlen(text); a row with an embedded NUL sets it. */
static const struct {
	const char *text;
	size_t len;
	const char *error;	/* NULL: the request is accepted */
} requests[] = {
	{ "{\"command\": \"status\"}", 0, NULL },
	{ "{\"command\": \"ls\", \"prefix\": \"photos\", \"state\": \"quarantined\", "
	  "\"limit\": 10, \"larger_than\": 0, \"older_than_ms\": 3600000, "
	  "\"unreferenced\": false}", 0, NULL },
	{ "{\"command\": \"restore\", \"path\": \"caf\\u00e9\", \"path_hex\": \"636166e9\", "
	  "\"to\": \"b.jpg\", \"pin\": true}", 0, NULL },
	{ "{\"command\": \"pin\", \"pattern_hex\": \"2A2E6A7067\"}", 0, NULL },
	{ "{\"command\": \"confirm\", \"id\": 0}", 0, NULL },
	{ "{\"command\": \"status\", \"from_a_newer_mediactl\": [1, 2]}", 0, NULL },
	{ "", 0, "the request is not JSON" },
	{ "{\"command\": \"status\"", 0, "the request is not JSON" },
	{ "{\"command\": \"status\"}\0{\"command\": \"purge\"}", 43, "the request is not JSON" },
	{ "{\"command\": \"status\", \"command\": \"purge\"}", 0, "the request is not JSON" },
	{ "[\"status\"]", 0, "a request is an object with a \"command\"" },
	{ "{\"command\": 7}", 0, "a request is an object with a \"command\"" },
	{ "{\"command\": \"format\"}", 0, "unknown command 'format'" },
	{ "{\"command\": \"scan\", \"dry_run\": 1}", 0, "'dry_run' must be true or false" },
	{ "{\"command\": \"purge\", \"all\": \"yes\", \"yes\": true}", 0,
	  "'all' must be true or false" },
	{ "{\"command\": \"log\", \"since_ms\": -9223372036854775808}", 0,
	  "'since_ms' must be a whole number, 0 or more" },
	{ "{\"command\": \"ls\", \"limit\": -1}", 0, "'limit' must be a whole number" },
	{ "{\"command\": \"ls\", \"limit\": 1.5}", 0, "'limit' must be a whole number" },
	{ "{\"command\": \"ls\", \"limit\": \"10\"}", 0, "'limit' must be a whole number" },
	{ "{\"command\": \"ls\", \"state\": \"gone\"}", 0, "'state' must name a state" },
	{ "{\"command\": \"show\", \"path\": 12}", 0, "'path' must be a string" },
	{ "{\"command\": \"show\", \"path_hex\": \"616\"}", 0, "'path_hex' must be a string of hex" },
	{ "{\"command\": \"show\", \"path_hex\": \"61zz\"}", 0, "'path_hex' must be a string of hex" },
	{ "{\"command\": \"show\", \"path_hex\": \"+1-1\"}", 0, "'path_hex' must be a string of hex" },
	{ "{\"command\": \"pin\", \"pattern_hex\": \"2a00\"}", 0,
	  "'pattern_hex' must be a string of hex digits, two a byte, with no 00 byte" },
	/* Refusals that quote what is not UTF-8 still have a message. */
	{ "{\"command\": \"a\\\xdc\xa3\"}", 0, "the request is not JSON: invalid escape near" },
	{ "{\"command\": \"" EURO_400 "\"}", 0, "unknown command \\x27\\xe2\\x82\\xac" },
};

START_TEST(test_requests_are_parsed_and_checked_before_they_run)
{
	size_t len = requests[_i].len ? requests[_i].len : strlen(requests[_i].text);
	json_t *refusal = NULL;
	json_t *request = admin_parse_request(requests[_i].text, len, &refusal);

	if (!requests[_i].error) {
		ck_assert_msg(request && !refusal, "'%s' is accepted: %s", requests[_i].text,
			      json_string_value(json_object_get(refusal, "error")));
	} else {
		const char *error = json_string_value(json_object_get(refusal, "error"));

		ck_assert_msg(!request && refusal, "'%s' is refused", requests[_i].text);
		ck_assert(json_is_false(json_object_get(refusal, "ok")));
		ck_assert_str_eq(json_string_value(json_object_get(refusal, "kind")), "usage");
		ck_assert_msg(error && strncmp(error, requests[_i].error,
					       strlen(requests[_i].error)) == 0,
			      "'%s' is refused with '%s', not '%s'", requests[_i].text,
			      requests[_i].error, error);
	}
	json_decref(request);
	json_decref(refusal);
}
END_TEST

START_TEST(test_hex_paths_decode_to_their_bytes_and_win_over_the_text)
{
	static const char text[] = "{\"command\": \"show\", \"path\": \"caf?\", "
				   "\"path_hex\": \"636166E9\"}";
	json_t *refusal = NULL;
	json_t *request = admin_parse_request(text, sizeof(text) - 1, &refusal);
	char *path;

	ck_assert_ptr_nonnull(request);
	path = admin_get_path(request, "path");
	ck_assert_str_eq(path, "caf\xe9");
	free(path);
	json_decref(request);
}
END_TEST

static Suite *admin_suite(void)
{
	Suite *s = suite_create("admin");
	TCase *tc = tcase_create("requests");

	tcase_add_loop_test(tc, test_requests_are_parsed_and_checked_before_they_run, 0,
			    sizeof(requests) / sizeof(requests[0]));
	tcase_add_test(tc, test_hex_paths_decode_to_their_bytes_and_win_over_the_text);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *runner = srunner_create(admin_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
