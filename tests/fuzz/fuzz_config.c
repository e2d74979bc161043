/*
 * Fuzz target for refdb/config.c: a configuration file, whoever wrote it.
 *
 * The input is the whole file, given to config_load_buffer().  Its first
 * line is also taken as a database URL for config_redact_url() and
 * config_scrub_password(), which see the URLs of the file only when they
 * are already valid (redact) or only through libpq's messages (scrub).
 *
 * Invariants: a load returns 0, -EINVAL or -ENOMEM; a failed load leaves
 * the config as it was and says where, with the name of the file; a
 * loaded config holds only values the header promises (durations in range,
 * 0 < max_fraction <= 1, relative globs, every source with a URL of its
 * kind and exactly one of columns and query, ...); a source copies deeply;
 * redacted URLs and scrubbed messages stay inside their buffers.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"

static const char NAME[] = "fuzz.ini";

/* A list item: not empty, no comma, no space at either end. */
static bool is_clean_item(const char *s)
{
	size_t len = strlen(s);

	return len > 0 && !strchr(s, ',') && !isspace((unsigned char)s[0]) &&
	       !isspace((unsigned char)s[len - 1]);
}

/* A part of a column name: not empty, no '.', space, control or quote. */
static bool is_clean_name(const char *s)
{
	if (!s || !*s)
		return false;
	for (; *s; s++)
		if (*s == '.' || *s == '"' || isspace((unsigned char)*s) ||
		    iscntrl((unsigned char)*s))
			return false;
	return true;
}

static bool same_string(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void check_copy(const struct config_source *src)
{
	struct config_source copy;

	if (config_source_copy(&copy, src) != 0)
		return;
	fuzz_check(same_string(copy.name, src->name) && same_string(copy.url, src->url) &&
		   same_string(copy.query, src->query) && copy.kind == src->kind &&
		   copy.column_count == src->column_count &&
		   copy.strip_prefix_count == src->strip_prefix_count,
		   "a copied source is the source");
	for (size_t i = 0; i < src->column_count; i++)
		fuzz_check(copy.columns[i].table != src->columns[i].table &&
			   same_string(copy.columns[i].table, src->columns[i].table) &&
			   same_string(copy.columns[i].column, src->columns[i].column) &&
			   same_string(copy.columns[i].schema, src->columns[i].schema) &&
			   same_string(copy.columns[i].database, src->columns[i].database),
			   "a copied column is a deep copy");
	config_source_clear(&copy);
}

static void check_source(const struct config *cfg, size_t index)
{
	const struct config_source *src = &cfg->sources[index];

	fuzz_check(src->name && *src->name && src->line > 0, "a source has a name and a line");
	for (size_t i = 0; i < index; i++)
		fuzz_check(strcmp(cfg->sources[i].name, src->name) != 0, "source names are unique");
	fuzz_check(src->url != NULL, "a source has a url");
	if (src->kind == CONFIG_SOURCE_SQLITE)
		fuzz_check(config_sqlite_path(src->url) != NULL, "a sqlite url names a path");
	else
		fuzz_check(src->kind == CONFIG_SOURCE_POSTGRESQL || src->kind == CONFIG_SOURCE_MYSQL,
			   "a source is of a known kind");
	fuzz_check((src->column_count > 0) != (src->query != NULL),
		   "a source has columns or a query, not both");
	for (size_t i = 0; i < src->column_count; i++) {
		const struct source_column *col = &src->columns[i];

		fuzz_check(is_clean_name(col->table) && is_clean_name(col->column),
			   "a column has a table and a column name");
		fuzz_check(!col->schema || is_clean_name(col->schema), "a schema is a name");
		fuzz_check(!col->database || (col->schema && is_clean_name(col->database)),
			   "a database comes with a schema");
		fuzz_check(!col->database || src->kind != CONFIG_SOURCE_SQLITE,
			   "sqlite columns name no database");
	}
	if (src->query) {
		size_t len = strlen(src->query);

		fuzz_check(len > 0 && src->query[len - 1] != ';' &&
			   !isspace((unsigned char)src->query[len - 1]),
			   "a query is not empty and has no final ';'");
	}
	fuzz_check((src->strip_prefix_count > 0) == (src->strip_prefixes != NULL),
		   "prefixes are counted");
	for (size_t i = 0; i < src->strip_prefix_count; i++)
		fuzz_check(is_clean_item(src->strip_prefixes[i]), "a prefix is a clean item");
	check_copy(src);
}

static void check_config(const struct config *cfg)
{
	const struct config_settings *s = &cfg->settings;

	fuzz_check(cfg->path && strcmp(cfg->path, NAME) == 0, "the config names its file");
	fuzz_check(s->interval_ms >= 1000, "interval is at least 1s");
	fuzz_check(s->min_age_ms >= 0 && s->grace_ms >= 0 && s->temp_max_age_ms >= 0,
		   "durations are not negative");
	fuzz_check(s->interval_ms <= CONFIG_MAX_DURATION_MS &&
		   s->min_age_ms <= CONFIG_MAX_DURATION_MS &&
		   s->grace_ms <= CONFIG_MAX_DURATION_MS &&
		   s->temp_max_age_ms <= CONFIG_MAX_DURATION_MS,
		   "durations can be added to a clock reading");
	fuzz_check(isfinite(s->max_fraction) && s->max_fraction > 0 && s->max_fraction <= 1,
		   "0 < max_fraction <= 1");
	fuzz_check((s->exclude_count > 0) == (s->exclude != NULL), "globs are counted");
	for (size_t i = 0; i < s->exclude_count; i++)
		fuzz_check(is_clean_item(s->exclude[i]) && s->exclude[i][0] != '/',
			   "a glob is a clean, relative item");
	fuzz_check((cfg->source_count > 0) == (cfg->sources != NULL), "sources are counted");
	for (size_t i = 0; i < cfg->source_count; i++)
		check_source(cfg, i);
}

/* Redact and scrub url in buffers of every small size and one of a message's. */
static void check_url(const char *url, const char *text)
{
	size_t text_len = strlen(text);
	char *message = malloc(text_len + 1);
	char redacted[64];

	for (size_t size = 1; size <= sizeof(redacted); size *= 2) {
		memset(redacted, 'x', sizeof(redacted));
		config_redact_url(url, redacted, size);
		fuzz_check(memchr(redacted, '\0', size) != NULL, "a redacted url is terminated");
	}
	if (!message)
		return;
	memcpy(message, text, text_len + 1);
	/* Full to the last byte: the worst case for a password shorter than "***". */
	config_scrub_password(url, message, text_len + 1);
	fuzz_check(strlen(message) <= text_len, "a scrubbed message stays in its buffer");
	free(message);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char error[CONFIG_ERROR_BYTES];
	struct config cfg;
	char *text;
	int err;

	config_init_defaults(&cfg);
	memset(error, 'x', sizeof(error));
	err = config_load_buffer(&cfg, NAME, (const char *)data, size, error, sizeof(error));
	fuzz_check(err == 0 || err == -EINVAL || err == -ENOMEM, "only 0, -EINVAL or -ENOMEM");
	fuzz_check(memchr(error, '\0', sizeof(error)) != NULL, "the error is terminated");
	if (err == 0) {
		fuzz_check(error[0] == '\0', "no error after a load");
		check_config(&cfg);
	} else {
		fuzz_check(strncmp(error, NAME, strlen(NAME)) == 0, "an error names the file");
		fuzz_check(!cfg.path && cfg.source_count == 0 &&
			   cfg.settings.grace_ms == CONFIG_DEFAULT_GRACE_MS,
			   "a failed load leaves the config as it was");
	}
	config_free(&cfg);

	text = strndup((const char *)data, size);
	if (text) {
		char *url = strndup(text, strcspn(text, "\n"));

		if (url)
			check_url(url, text);
		free(url);
		free(text);
	}
	return 0;
}
