/*
 * Unit tests for refdb/phpser.c: the strings a serialized value holds and
 * the keys that lead to them, and every malformed value refused whole.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "phpser.h"

/* Every string seen, as "key/key=value;" lines. */
struct seen {
	char text[2048];
	int calls;
	int stop_after;		/* return -ECANCELED at this call; 0: never */
};

static int record(void *ctx, const struct phpser_key *keys, size_t depth, const char *value,
		  size_t len)
{
	struct seen *s = ctx;
	size_t used = strlen(s->text);

	for (size_t i = 0; i < depth; i++)
		used += (size_t)snprintf(s->text + used, sizeof(s->text) - used, "%s%.*s",
					 i ? "/" : "", (int)keys[i].len, keys[i].text);
	s->text[used++] = '=';
	for (size_t i = 0; i < len && used + 4 < sizeof(s->text); i++) {
		if (value[i] == '\0') {
			s->text[used++] = '\\';
			s->text[used++] = '0';
		} else {
			s->text[used++] = value[i];
		}
	}
	s->text[used++] = ';';
	s->text[used] = '\0';
	return ++s->calls == s->stop_after ? -ECANCELED : 0;
}

static const char wordpress[] =
	"a:6:{s:5:\"width\";i:1200;s:6:\"height\";i:800;s:4:\"file\";s:20:\"2024/05/harbour.jpeg\";"
	"s:8:\"filesize\";i:183412;s:5:\"sizes\";a:2:{s:6:\"medium\";a:5:{s:4:\"file\";"
	"s:20:\"harbour-300x200.jpeg\";s:5:\"width\";i:300;s:6:\"height\";i:200;"
	"s:9:\"mime-type\";s:10:\"image/jpeg\";s:8:\"filesize\";i:12035;}s:9:\"thumbnail\";"
	"a:1:{s:4:\"file\";s:20:\"harbour-150x150.jpeg\";}}s:10:\"image_meta\";a:3:{"
	"s:8:\"aperture\";d:2.8;s:6:\"camera\";s:0:\"\";s:11:\"orientation\";s:1:\"1\";}}";

static const struct {
	const char *value;
	size_t len;		/* 0: strlen(value) */
	const char *seen;
} valid[] = {
	{ wordpress, 0,
	  "file=2024/05/harbour.jpeg;sizes/medium/file=harbour-300x200.jpeg;"
	  "sizes/medium/mime-type=image/jpeg;sizes/thumbnail/file=harbour-150x150.jpeg;"
	  "image_meta/camera=;image_meta/orientation=1;" },
	{ "s:5:\"a.jpg\";", 0, "=a.jpg;" },
	{ "s:0:\"\";", 0, "=;" },
	/* Lengths count bytes: quotes, semicolons and NULs inside are data. */
	{ "s:6:\"a\";\"}b\";", 0, "=a\";\"}b;" },
	{ "a:1:{i:0;s:3:\"a\0b\";}", 20, "0=a\\0b;" },
	{ "a:3:{i:0;N;i:-1;b:1;s:1:\"k\";d:-1.5E-5;}", 0, "" },
	{ "a:2:{i:0;d:INF;i:1;d:NAN;}", 0, "" },
	{ "a:0:{}", 0, "" },
	{ "O:8:\"stdClass\":1:{s:4:\"file\";s:5:\"x.png\";}", 0, "file=x.png;" },
	{ "a:2:{i:0;s:1:\"a\";i:1;r:2;}", 0, "0=a;" },
	{ "E:7:\"Foo:Bar\";", 0, "" },
	{ "a:1:{i:0;s:1:\"a\";}\n", 0, "0=a;" },
	{ "i:+5;", 0, "" },
};

START_TEST(test_every_string_is_seen_with_its_keys)
{
	struct seen s = { .text = "" };
	size_t len = valid[_i].len ? valid[_i].len : strlen(valid[_i].value);

	ck_assert_int_eq(phpser_walk(valid[_i].value, len, record, &s), 0);
	ck_assert_str_eq(s.text, valid[_i].seen);
}
END_TEST

static const char *const invalid[] = {
	"",
	"x",
	"N",
	"s:5:\"a.jpg\"",			/* no ';' */
	"s:6:\"a.jpg\";",			/* length too long */
	"s:4:\"a.jpg\";",			/* length too short */
	"s:99999999999:\"a\";",		/* more digits than any length */
	"s:-1:\"a\";",
	"s:5:a.jpg;",
	"a:2:{i:0;s:1:\"a\";}",		/* fewer entries than counted */
	"a:1:{i:0;s:1:\"a\";i:1;s:1:\"b\";}",	/* more */
	"a:1:{d:1.5;s:1:\"a\";}",		/* a float is no key */
	"a:1:{i:0;s:1:\"a\";",			/* no '}' */
	"a:1:{i:;N;}",
	"b:2;",
	"i:;",
	"d:;",
	"C:3:\"Foo\":0:{}",			/* custom serialization: not read */
	"S:1:\"a\";",
	"s:1:\"a\";s:1:\"b\";",			/* two values */
	"s:1:\"a\";x",
	"a:4294967296:{}",
};

START_TEST(test_a_malformed_value_is_einval)
{
	struct seen s = { .text = "" };

	ck_assert_msg(phpser_walk(invalid[_i], strlen(invalid[_i]), record, &s) == -EINVAL,
		      "'%s' is refused", invalid[_i]);
}
END_TEST

START_TEST(test_nesting_deeper_than_the_limit_is_einval)
{
	char value[PHPSER_MAX_DEPTH * 16 + 64];
	struct seen s = { .text = "" };
	size_t used = 0;

	for (int depth = 0; depth <= PHPSER_MAX_DEPTH; depth++)
		used += (size_t)sprintf(value + used, "a:1:{i:0;");
	used += (size_t)sprintf(value + used, "N;");
	for (int depth = 0; depth <= PHPSER_MAX_DEPTH; depth++)
		value[used++] = '}';
	ck_assert_int_eq(phpser_walk(value, used, record, &s), -EINVAL);
	/* One level less is fine. */
	ck_assert_int_eq(phpser_walk(value + 9, used - 10, record, &s), 0);
}
END_TEST

START_TEST(test_a_length_never_reads_past_the_end)
{
	/* The declared length fits the buffer only if the reader overran it. */
	const char value[] = "s:5:\"a.jpg\";";
	struct seen s = { .text = "" };

	ck_assert_int_eq(phpser_walk(value, 8, record, &s), -EINVAL);
	ck_assert_int_eq(s.calls, 0);
	ck_assert_int_eq(phpser_walk(NULL, 0, record, &s), -EINVAL);
}
END_TEST

START_TEST(test_the_callback_error_stops_the_walk)
{
	struct seen s = { .text = "", .stop_after = 2 };

	ck_assert_int_eq(phpser_walk(wordpress, strlen(wordpress), record, &s), -ECANCELED);
	ck_assert_int_eq(s.calls, 2);
}
END_TEST

static Suite *phpser_suite(void)
{
	Suite *s = suite_create("phpser");
	TCase *tc = tcase_create("walk");

	tcase_add_loop_test(tc, test_every_string_is_seen_with_its_keys, 0,
			    sizeof(valid) / sizeof(valid[0]));
	tcase_add_loop_test(tc, test_a_malformed_value_is_einval, 0,
			    sizeof(invalid) / sizeof(invalid[0]));
	tcase_add_test(tc, test_nesting_deeper_than_the_limit_is_einval);
	tcase_add_test(tc, test_a_length_never_reads_past_the_end);
	tcase_add_test(tc, test_the_callback_error_stops_the_walk);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *runner = srunner_create(phpser_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
