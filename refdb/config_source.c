/*
 * config_source: the keys of a [source NAME] section, checked one by one
 * as config.c's second pass hands them over, and the deep copy of a
 * source that outlives its configuration.
 */
#include "config_i.h"
#include "fieldpath.h"

#include <ctype.h>
#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void free_columns(struct source_column *columns, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		free(columns[i].database);
		free(columns[i].schema);
		free(columns[i].table);
		free(columns[i].column);
	}
	free(columns);
}

static bool is_identifier_part(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (isspace((unsigned char)*s) || iscntrl((unsigned char)*s) || *s == '"')
			return false;
	return true;
}

/* Split "[[database.]schema.]table.column" into col. */
static int parse_column(const char *text, struct source_column *col, char *why, size_t why_size)
{
	char *parts[4] = { NULL };
	char *copy = strdup(text);
	char *p = copy;
	size_t count = 0;
	int err = -EINVAL;

	if (!copy)
		return -ENOMEM;
	while (p && count < 4) {
		parts[count++] = p;
		p = strchr(p, '.');
		if (p)
			*p++ = '\0';
	}
	if (p || count < 2) {
		config_say(why, why_size, "'%s' is not table.column, schema.table.column or "
			 "database.schema.table.column", text);
		goto out_free;
	}
	for (size_t i = 0; i < count; i++) {
		if (!is_identifier_part(parts[i])) {
			config_say(why, why_size, "'%s' has an empty or invalid name (no spaces "
				 "or quotes)", text);
			goto out_free;
		}
	}
	memset(col, 0, sizeof(*col));
	err = -ENOMEM;
	col->column = strdup(parts[count - 1]);
	col->table = strdup(parts[count - 2]);
	col->schema = count >= 3 ? strdup(parts[count - 3]) : NULL;
	col->database = count == 4 ? strdup(parts[0]) : NULL;
	if (!col->column || !col->table || (count >= 3 && !col->schema) ||
	    (count == 4 && !col->database)) {
		free(col->column);
		free(col->table);
		free(col->schema);
		free(col->database);
		goto out_free;
	}
	err = 0;
out_free:
	free(copy);
	return err;
}

static bool same_column(const struct source_column *a, const struct source_column *b)
{
	return strcmp(a->table, b->table) == 0 && strcmp(a->column, b->column) == 0 &&
	       !a->schema == !b->schema && (!a->schema || strcmp(a->schema, b->schema) == 0) &&
	       !a->database == !b->database &&
	       (!a->database || strcmp(a->database, b->database) == 0);
}

static int parse_columns(const char *value, struct config_source *src, char *why,
			 size_t why_size)
{
	char **items;
	size_t count;
	struct source_column *columns;
	size_t done = 0;
	int err = config_split_list(value, &items, &count, why, why_size);

	if (err)
		return err;
	if (count == 0) {
		config_say(why, why_size, "no column given");
		config_free_strings(items, count);
		return -EINVAL;
	}
	columns = calloc(count, sizeof(*columns));
	if (!columns) {
		config_free_strings(items, count);
		return -ENOMEM;
	}
	for (; done < count; done++) {
		err = parse_column(items[done], &columns[done], why, why_size);
		if (err)
			goto out_free_columns;
		for (size_t k = 0; k < done; k++) {
			if (same_column(&columns[k], &columns[done])) {
				config_say(why, why_size, "'%s' is listed twice", items[done]);
				done++;
				err = -EINVAL;
				goto out_free_columns;
			}
		}
	}
	config_free_strings(items, count);
	free_columns(src->columns, src->column_count);
	src->columns = columns;
	src->column_count = count;
	return 0;

out_free_columns:
	free_columns(columns, done);
	config_free_strings(items, count);
	return err;
}

static int parse_url(const char *value, struct config_source *src, char *why, size_t why_size)
{
	char shown[256];
	char *libpq_error = NULL;
	PQconninfoOption *options;
	enum config_source_kind kind;

	config_redact_url(value, shown, sizeof(shown));
	if (strncmp(value, "sqlite:", 7) == 0) {
		if (!config_sqlite_path(value)) {
			config_say(why, why_size, "'%s' does not name an absolute path (use "
				 "sqlite:///absolute/path)", shown);
			return -EINVAL;
		}
		kind = CONFIG_SOURCE_SQLITE;
	} else if (config_is_mysql_url(value)) {
		struct config_mysql_url parts;
		char reason[256];

		if (config_mysql_parse_url(value, &parts, reason, sizeof(reason)) != 0) {
			config_say(why, why_size, "'%s' is not a valid mysql URL: %s", shown, reason);
			return -EINVAL;
		}
		kind = CONFIG_SOURCE_MYSQL;
	} else if (config_is_postgres_url(value) || strchr(value, '=')) {
		options = PQconninfoParse(value, &libpq_error);
		if (!options) {
			char msg[256];

			snprintf(msg, sizeof(msg), "%s", libpq_error ? libpq_error : "out of memory");
			msg[strcspn(msg, "\n")] = '\0';
			config_scrub_password(value, msg, sizeof(msg));
			config_say(why, why_size, "'%s' is not a valid PostgreSQL URL or conninfo: %s",
				 shown, msg);
			PQfreemem(libpq_error);
			return -EINVAL;
		}
		PQconninfoFree(options);
		kind = CONFIG_SOURCE_POSTGRESQL;
	} else {
		config_say(why, why_size, "'%s' is not a database URL (use sqlite:///path, "
			 "postgresql://..., a libpq conninfo or mysql://...)", shown);
		return -EINVAL;
	}
	char *copy = strdup(value);
	if (!copy)
		return -ENOMEM;
	free(src->url);
	src->url = copy;
	src->kind = kind;
	return 0;
}

static int parse_query(const char *value, struct config_source *src, char *why, size_t why_size)
{
	char *copy = strdup(value);
	char *end;

	if (!copy)
		return -ENOMEM;
	/* COPY (query) refuses a final ';', and it means nothing here. */
	end = copy + strlen(copy);
	while (end > copy && (isspace((unsigned char)end[-1]) || end[-1] == ';'))
		*--end = '\0';
	if (!*copy) {
		config_say(why, why_size, "the query is empty");
		free(copy);
		return -EINVAL;
	}
	free(src->query);
	src->query = copy;
	return 0;
}

/* config_split_list() that wants at least one item, a what. */
static int split_required(const char *value, const char *what, char ***list, size_t *count,
			  char *why, size_t why_size)
{
	int err = config_split_list(value, list, count, why, why_size);

	if (!err && *count == 0) {
		config_say(why, why_size, "no %s given", what);
		err = -EINVAL;
	}
	return err;
}

static int parse_prefixes(const char *value, struct config_source *src, char *why,
			  size_t why_size)
{
	char **list;
	size_t count;
	int err = split_required(value, "prefix", &list, &count, why, why_size);

	if (err)
		return err;
	config_free_strings(src->strip_prefixes, src->strip_prefix_count);
	src->strip_prefixes = list;
	src->strip_prefix_count = count;
	return 0;
}

static int parse_format(const char *value, struct config_source *src, char *why, size_t why_size)
{
	static const char *const names[] = {
		[CONFIG_FORMAT_TEXT] = "text", [CONFIG_FORMAT_JSON] = "json",
		[CONFIG_FORMAT_PHP] = "php",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(value, names[i]) == 0) {
			src->format = (enum config_format)i;
			return 0;
		}
	}
	config_say(why, why_size, "'%s' is not a format (use text, json or php)", value);
	return -EINVAL;
}

static int parse_paths(const char *value, struct config_source *src, char *why, size_t why_size)
{
	char **list = NULL;
	size_t count = 0;
	int err = split_required(value, "selector", &list, &count, why, why_size);

	for (size_t i = 0; !err && i < count; i++)
		err = fieldpath_check(list[i], false, why, why_size);
	if (err) {
		config_free_strings(list, count);
		return err;
	}
	config_free_strings(src->paths, src->path_count);
	src->paths = list;
	src->path_count = count;
	return 0;
}

static int parse_base(const char *value, struct config_source *src, char *why, size_t why_size)
{
	char *copy;
	int err = fieldpath_check(value, true, why, why_size);

	if (err)
		return err;
	copy = strdup(value);
	if (!copy)
		return -ENOMEM;
	free(src->base);
	src->base = copy;
	return 0;
}

int config_source_apply(struct config_source *src, const char *key, const char *value,
			char *why, size_t why_size)
{
	if (strcmp(key, "url") == 0)
		return parse_url(value, src, why, why_size);
	if (strcmp(key, "columns") == 0)
		return parse_columns(value, src, why, why_size);
	if (strcmp(key, "query") == 0)
		return parse_query(value, src, why, why_size);
	if (strcmp(key, "strip_prefix") == 0)
		return parse_prefixes(value, src, why, why_size);
	if (strcmp(key, "format") == 0)
		return parse_format(value, src, why, why_size);
	if (strcmp(key, "paths") == 0)
		return parse_paths(value, src, why, why_size);
	if (strcmp(key, "base") == 0)
		return parse_base(value, src, why, why_size);
	return -ENOENT;
}


void config_source_clear(struct config_source *src)
{
	free(src->name);
	free(src->url);
	free_columns(src->columns, src->column_count);
	free(src->query);
	config_free_strings(src->strip_prefixes, src->strip_prefix_count);
	config_free_strings(src->paths, src->path_count);
	free(src->base);
	memset(src, 0, sizeof(*src));
}


static char *dup_or_null(const char *s, bool *failed)
{
	char *copy;

	if (!s)
		return NULL;
	copy = strdup(s);
	if (!copy)
		*failed = true;
	return copy;
}

/* A copy of count strings; *copied says how many slots it has to free. */
static char **dup_strings(char *const *list, size_t count, size_t *copied, bool *failed)
{
	char **copy;

	*copied = 0;
	if (!count)
		return NULL;
	copy = calloc(count, sizeof(*copy));
	if (!copy) {
		*failed = true;
		return NULL;
	}
	for (size_t i = 0; i < count; i++)
		copy[i] = dup_or_null(list[i], failed);
	*copied = count;
	return copy;
}

int config_source_copy(struct config_source *dst, const struct config_source *src)
{
	bool failed = false;

	memset(dst, 0, sizeof(*dst));
	dst->kind = src->kind;
	dst->line = src->line;
	dst->name = dup_or_null(src->name, &failed);
	dst->url = dup_or_null(src->url, &failed);
	dst->query = dup_or_null(src->query, &failed);
	if (src->column_count) {
		dst->columns = calloc(src->column_count, sizeof(*dst->columns));
		if (!dst->columns)
			failed = true;
		else
			dst->column_count = src->column_count;
	}
	for (size_t i = 0; i < dst->column_count; i++) {
		dst->columns[i].database = dup_or_null(src->columns[i].database, &failed);
		dst->columns[i].schema = dup_or_null(src->columns[i].schema, &failed);
		dst->columns[i].table = dup_or_null(src->columns[i].table, &failed);
		dst->columns[i].column = dup_or_null(src->columns[i].column, &failed);
	}
	dst->strip_prefixes = dup_strings(src->strip_prefixes, src->strip_prefix_count,
					  &dst->strip_prefix_count, &failed);
	dst->format = src->format;
	dst->base = dup_or_null(src->base, &failed);
	dst->paths = dup_strings(src->paths, src->path_count, &dst->path_count, &failed);
	if (failed) {
		config_source_clear(dst);
		return -ENOMEM;
	}
	return 0;
}
