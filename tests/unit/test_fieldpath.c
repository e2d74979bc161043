/*
 * Unit tests for refdb/fieldpath.c: selectors and bases as the config
 * writes them, and the paths they find in JSON and PHP values, joined to
 * a base directory where one applies.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fieldpath.h"

static const struct {
	const char *text;
	bool base;
	const char *why;	/* NULL: valid */
} selectors[] = {
	{ "file", false, NULL },
	{ "sizes.*.file", false, NULL },
	{ "*", false, NULL },
	{ "renditions.\"2x.webp\".path", false, NULL },
	{ "0.mime-type", false, NULL },
	{ "dirname(file)", true, NULL },
	{ "meta.dir", true, NULL },
	{ "", false, "'' has an empty key or a character to quote (use \"...\" around a key "
		     "with . * , \" ( ) or spaces)" },
	{ "a..b", false, "'a..b' has an empty key or a character to quote" },
	{ "a.", false, "'a.' has an empty key or a character to quote" },
	{ "a b", false, "'a b': expected '.' between keys" },
	{ "a*", false, "'a*': expected '.' between keys" },
	{ "\"a", false, "'\"a' has an empty or unclosed quoted key" },
	{ "\"\"", false, "'\"\"' has an empty or unclosed quoted key" },
	{ "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q", false, "'a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q' has "
							"more than 16 keys" },
	{ "dirname(file", true, "'dirname(file': expected '.' between keys" },
	{ "sizes.*.file", true, "the base 'sizes.*.file' must name one field, without '*'" },
	{ "dirname(*)", true, "the base '*' must name one field, without '*'" },
	{ "dirname()", true, "'' has an empty key or a character to quote" },
};

START_TEST(test_selectors_are_checked_as_written)
{
	char why[256] = "";
	int err = fieldpath_check(selectors[_i].text, selectors[_i].base, why, sizeof(why));

	if (!selectors[_i].why) {
		ck_assert_msg(err == 0, "'%s': %s", selectors[_i].text, why);
		return;
	}
	ck_assert_int_eq(err, -EINVAL);
	ck_assert_msg(strncmp(why, selectors[_i].why, strlen(selectors[_i].why)) == 0,
		      "message is '%s'", why);
}
END_TEST

/* The paths found, as "path;" (and "!path;" without a base). */
struct found {
	char text[1024];
	int stop_at;
	int calls;
};

static int record(void *ctx, const char *path, size_t len, bool without_base)
{
	struct found *f = ctx;
	size_t used = strlen(f->text);

	snprintf(f->text + used, sizeof(f->text) - used, "%s%.*s;", without_base ? "!" : "",
		 (int)len, path);
	return ++f->calls == f->stop_at ? -ECANCELED : 0;
}

static const char wp_meta[] =
	"a:5:{s:5:\"width\";i:2560;s:4:\"file\";s:26:\"2024/05/harbour-scaled.jpg\";"
	"s:5:\"sizes\";a:2:{s:6:\"medium\";a:2:{s:4:\"file\";s:19:\"harbour-300x200.jpg\";"
	"s:9:\"mime-type\";s:10:\"image/jpeg\";}s:5:\"large\";a:1:{s:4:\"file\";"
	"s:20:\"harbour-1024x683.jpg\";}}s:10:\"image_meta\";a:0:{}"
	"s:14:\"original_image\";s:11:\"harbour.jpg\";}";

static const struct {
	enum config_format format;
	const char *paths[3];
	const char *base;
	const char *value;
	int err;
	const char *found;
} cases[] = {
	/* WordPress: file is whole, the sizes and the original are beside it. */
	{ CONFIG_FORMAT_PHP, { "file", "sizes.*.file", "original_image" }, "dirname(file)", wp_meta,
	  0, "2024/05/harbour-scaled.jpg;2024/05/harbour-300x200.jpg;2024/05/harbour-1024x683.jpg;"
	  "2024/05/harbour.jpg;" },
	/* The same without a base: names as they are. */
	{ CONFIG_FORMAT_PHP, { "sizes.*.file" }, NULL, wp_meta, 0,
	  "harbour-300x200.jpg;harbour-1024x683.jpg;" },
	/* A file at the top of the uploads: no directory to add. */
	{ CONFIG_FORMAT_PHP, { "file", "sizes.*.file" }, "dirname(file)",
	  "a:2:{s:4:\"file\";s:5:\"a.jpg\";s:5:\"sizes\";a:1:{s:1:\"s\";a:1:{s:4:\"file\";"
	  "s:7:\"a-s.jpg\";}}}", 0, "a.jpg;a-s.jpg;" },
	/* No base in the value: the names are reported, not guessed. */
	{ CONFIG_FORMAT_PHP, { "sizes.*.file" }, "dirname(file)",
	  "a:1:{s:5:\"sizes\";a:1:{s:1:\"s\";a:1:{s:4:\"file\";s:7:\"a-s.jpg\";}}}", 0,
	  "!a-s.jpg;" },
	/* A non-image attachment: no path at all. */
	{ CONFIG_FORMAT_PHP, { "file", "sizes.*.file" }, "dirname(file)",
	  "a:1:{s:8:\"filesize\";i:5;}", 0, "" },
	{ CONFIG_FORMAT_PHP, { "file" }, NULL, "a:1:{s:4:\"file\";s:5:\"a.jpg\"", -EINVAL, "" },
	/* JSON: a list, a dict of renditions, a base field that comes last. */
	{ CONFIG_FORMAT_JSON, { "*" }, NULL, "[\"a.jpg\", \"b.jpg\", 3, null]", 0, "a.jpg;b.jpg;" },
	{ CONFIG_FORMAT_JSON, { "renditions.*", "renditions.\"2x.webp\"" }, "dir",
	  "{\"renditions\": {\"thumb\": \"t.jpg\", \"2x.webp\": \"x.webp\"}, \"dir\": \"img/7/\"}",
	  0, "img/7/t.jpg;img/7/x.webp;" },
	{ CONFIG_FORMAT_JSON, { "files.1.path" }, NULL,
	  "{\"files\": [{\"path\": \"a\"}, {\"path\": \"b\"}]}", 0, "b;" },
	{ CONFIG_FORMAT_JSON, { "path" }, NULL, "{\"path\": \"a\\u0000b\"}", 0, "a;" },
	{ CONFIG_FORMAT_JSON, { "path" }, NULL, "{\"path\": \"\"}", 0, "" },
	{ CONFIG_FORMAT_JSON, { "path" }, NULL, "{\"path\": \"a.jpg\"", -EINVAL, "" },
	{ CONFIG_FORMAT_JSON, { "path" }, NULL, "a:1:{s:4:\"path\";s:1:\"a\";}", -EINVAL, "" },
};

START_TEST(test_paths_are_found_and_joined_to_their_base)
{
	struct fieldpath *fp;
	struct found f = { .text = "" };
	size_t count = 0;

	while (count < 3 && cases[_i].paths[count])
		count++;
	ck_assert_int_eq(fieldpath_new(cases[_i].format, (char *const *)cases[_i].paths, count,
				       cases[_i].base, &fp), 0);
	/* Twice: the scratch state of one value never leaks into the next. */
	for (int round = 0; round < 2; round++) {
		f.text[0] = '\0';
		ck_assert_int_eq(fieldpath_extract(fp, cases[_i].value, strlen(cases[_i].value),
						   record, &f), cases[_i].err);
		ck_assert_str_eq(f.text, cases[_i].found);
	}
	fieldpath_free(fp);
}
END_TEST

START_TEST(test_the_emit_error_stops_the_extraction)
{
	const char *paths[] = { "file", "sizes.*.file" };
	struct fieldpath *fp;
	struct found f = { .text = "", .stop_at = 2 };

	ck_assert_int_eq(fieldpath_new(CONFIG_FORMAT_PHP, (char *const *)paths, 2, "dirname(file)",
				       &fp), 0);
	ck_assert_int_eq(fieldpath_extract(fp, wp_meta, strlen(wp_meta), record, &f), -ECANCELED);
	ck_assert_int_eq(f.calls, 2);
	fieldpath_free(fp);
}
END_TEST

static Suite *fieldpath_suite(void)
{
	Suite *s = suite_create("fieldpath");
	TCase *tc = tcase_create("selectors");

	tcase_add_loop_test(tc, test_selectors_are_checked_as_written, 0,
			    sizeof(selectors) / sizeof(selectors[0]));
	suite_add_tcase(s, tc);
	tc = tcase_create("extract");
	tcase_add_loop_test(tc, test_paths_are_found_and_joined_to_their_base, 0,
			    sizeof(cases) / sizeof(cases[0]));
	tcase_add_test(tc, test_the_emit_error_stops_the_extraction);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *runner = srunner_create(fieldpath_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
