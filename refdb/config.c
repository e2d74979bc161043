/*
 * config: reads the file in two passes.
 *
 * libinih splits lines into sections, keys and values, strips comments and
 * joins continuation lines.  It is fed through our own line reader, which
 * counts lines (the library does not config_say which line a key is on), refuses
 * lines that would not fit its fixed 200-byte buffer instead of letting
 * them be split silently, and handles section headers itself, so that an
 * empty "[source x]" and a misspelt section are errors too.  The first pass
 * only collects raw key/value pairs with their lines; the second validates
 * them in file order, so a continued value is checked whole.
 *
 * Each [mediafs] key is declared once in the settings table below, with
 * its type and where it goes; config_load() and config_set() share it.
 */
#include "config_i.h"

#include "duration.h"
#include "grow.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { SECTION_NONE = -2, SECTION_MEDIAFS = -1 };
/* First room of a list that grows (grow.h). */
enum { FIRST_LIST_ITEMS = 8 };

static const char DURATION_HINT[] = "use e.g. 30s, 10m, 1h, 7d";
static const char MEDIAFS_KEYS[] = "interval, min_age, grace, max_fraction, temp_max_age, "
				   "hold_min_files, restore_on_access, dry_run, exclude or metrics_file";

/* ---- small helpers ---- */

void config_say(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;

	if (size == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, size, fmt, ap);
	va_end(ap);
}

void config_free_strings(char **list, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(list[i]);
	free(list);
}

char *config_trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

int config_split_list(const char *value, char ***out, size_t *out_count, char *why,
		      size_t why_size)
{
	char *copy = strdup(value);
	char **list = NULL;
	size_t capacity = 0;
	size_t count = 0;
	char *item;
	char *next;
	int err = 0;

	if (!copy)
		return -ENOMEM;
	if (*config_trim(copy) == '\0')
		goto out_done;
	for (item = copy; item; item = next) {
		next = strchr(item, ',');
		if (next)
			*next++ = '\0';
		char *t = config_trim(item);
		if (!*t) {
			config_say(why, why_size, "'%s' has an empty entry in its list", value);
			err = -EINVAL;
			goto out_free_list;
		}
		char **grown = grow_array(list, &capacity, count + 1, sizeof(*list), FIRST_LIST_ITEMS);
		if (!grown) {
			err = -ENOMEM;
			goto out_free_list;
		}
		list = grown;
		list[count] = strdup(t);
		if (!list[count]) {
			err = -ENOMEM;
			goto out_free_list;
		}
		count++;
	}
out_done:
	free(copy);
	*out = list;
	*out_count = count;
	return 0;

out_free_list:
	config_free_strings(list, count);
	free(copy);
	return err;
}

/* ---- [mediafs]: one table of keys ---- */

enum setting_type {
	SETTING_DURATION, SETTING_FRACTION, SETTING_COUNT, SETTING_BOOL, SETTING_GLOBS,
	SETTING_PATH,
};

struct setting {
	const char *key;
	enum setting_type type;
	size_t offset;		/* into struct config_settings */
	int64_t min_ms;		/* SETTING_DURATION only */
};

static const struct setting settings_table[] = {
	{ "interval", SETTING_DURATION, offsetof(struct config_settings, interval_ms), 1000 },
	{ "min_age", SETTING_DURATION, offsetof(struct config_settings, min_age_ms), 0 },
	{ "grace", SETTING_DURATION, offsetof(struct config_settings, grace_ms), 0 },
	{ "max_fraction", SETTING_FRACTION, offsetof(struct config_settings, max_fraction), 0 },
	{ "hold_min_files", SETTING_COUNT, offsetof(struct config_settings, hold_min_files), 0 },
	{ "temp_max_age", SETTING_DURATION, offsetof(struct config_settings, temp_max_age_ms), 0 },
	{ "restore_on_access", SETTING_BOOL,
	  offsetof(struct config_settings, restore_on_access), 0 },
	{ "dry_run", SETTING_BOOL, offsetof(struct config_settings, dry_run), 0 },
	{ "exclude", SETTING_GLOBS, offsetof(struct config_settings, exclude), 0 },
	{ "metrics_file", SETTING_PATH, offsetof(struct config_settings, metrics_file), 0 },
};

static int parse_duration_value(const char *value, int64_t min_ms, int64_t *out, char *why,
				size_t why_size)
{
	char text[DURATION_TEXT_BYTES];
	int64_t ms;
	int err = duration_parse(value, &ms);

	if (err == -ERANGE) {
		config_say(why, why_size, "'%s' is too long a duration", value);
		return -EINVAL;
	}
	if (err) {
		config_say(why, why_size, "'%s' is not a duration (%s)", value, DURATION_HINT);
		return -EINVAL;
	}
	if (ms < min_ms) {
		duration_format(min_ms, text, sizeof(text));
		config_say(why, why_size, "'%s' is too short (at least %s)", value, text);
		return -EINVAL;
	}
	if (ms > CONFIG_MAX_DURATION_MS) {
		duration_format(CONFIG_MAX_DURATION_MS, text, sizeof(text));
		config_say(why, why_size, "'%s' is too long (at most %s)", value, text);
		return -EINVAL;
	}
	*out = ms;
	return 0;
}

static int parse_fraction(const char *value, double *out, char *why, size_t why_size)
{
	char *end;
	double x;

	errno = 0;
	x = strtod(value, &end);
	if (!*value || isspace((unsigned char)*value) || *end || errno || !isfinite(x) ||
	    x <= 0 || x > 1) {
		config_say(why, why_size, "'%s' is not a fraction above 0 and at most 1 "
			 "(use e.g. 0.10)", value);
		return -EINVAL;
	}
	*out = x;
	return 0;
}

static int parse_count(const char *value, int64_t *out, char *why, size_t why_size)
{
	char *end;
	long long x;

	errno = 0;
	x = strtoll(value, &end, 10);
	if (!*value || !isdigit((unsigned char)*value) || *end || errno || x > CONFIG_MAX_COUNT) {
		config_say(why, why_size, "'%s' is not a count from 0 to %d", value, CONFIG_MAX_COUNT);
		return -EINVAL;
	}
	*out = x;
	return 0;
}

static int parse_bool(const char *value, bool *out, char *why, size_t why_size)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcmp(value, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcmp(value, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	config_say(why, why_size, "'%s' is not a boolean (use yes or no)", value);
	return -EINVAL;
}

static int parse_globs(const char *value, struct config_settings *s, char *why, size_t why_size)
{
	char **list;
	size_t count;
	int err = config_split_list(value, &list, &count, why, why_size);

	if (err)
		return err;
	for (size_t i = 0; i < count; i++) {
		if (list[i][0] == '/') {
			config_say(why, why_size, "pattern '%s' is absolute; patterns are relative "
				 "to the media root", list[i]);
			config_free_strings(list, count);
			return -EINVAL;
		}
	}
	config_free_strings(s->exclude, s->exclude_count);
	s->exclude = list;
	s->exclude_count = count;
	return 0;
}

/* An absolute path of one line, or "" for none. */
static int parse_path(const char *value, char *out, char *why, size_t why_size)
{
	size_t len = strlen(value);

	if (len && value[0] != '/') {
		config_say(why, why_size, "'%s' is not an absolute path", value);
		return -EINVAL;
	}
	if (len >= CONFIG_PATH_BYTES || strpbrk(value, "\n\r")) {
		config_say(why, why_size, "the path is too long or holds a line break");
		return -EINVAL;
	}
	memcpy(out, value, len + 1);
	return 0;
}

/*
 * Validate value for key and store it in s.  Returns 0, -ENOENT for a key
 * that is not in the table, -EINVAL with why filled, or -ENOMEM; s is
 * unchanged on error.
 */
static int setting_apply(struct config_settings *s, const char *key, const char *value,
			 char *why, size_t why_size)
{
	const struct setting *setting = NULL;
	char *field;

	for (size_t i = 0; i < sizeof(settings_table) / sizeof(settings_table[0]); i++)
		if (strcmp(key, settings_table[i].key) == 0)
			setting = &settings_table[i];
	if (!setting)
		return -ENOENT;
	field = (char *)s + setting->offset;
	switch (setting->type) {
	case SETTING_DURATION:
		return parse_duration_value(value, setting->min_ms, (int64_t *)(void *)field,
					    why, why_size);
	case SETTING_FRACTION:
		return parse_fraction(value, (double *)(void *)field, why, why_size);
	case SETTING_COUNT:
		return parse_count(value, (int64_t *)(void *)field, why, why_size);
	case SETTING_BOOL:
		return parse_bool(value, (bool *)(void *)field, why, why_size);
	case SETTING_GLOBS:
		return parse_globs(value, s, why, why_size);
	case SETTING_PATH:
		return parse_path(value, field, why, why_size);
	}
	return -ENOENT;
}

/* ---- the file: first pass ---- */

struct raw_entry {
	int section;		/* SECTION_MEDIAFS or an index into sources */
	char *key;
	char *value;		/* continuation lines appended */
	int line;
};

struct parser {
	const char *path;	/* as given, for messages */
	FILE *file;
	char *buf;		/* getline() buffer */
	size_t buf_size;
	int line;		/* the line being parsed */
	int section;		/* SECTION_NONE, SECTION_MEDIAFS or a source index */
	int mediafs_line;	/* line of [mediafs], 0 before it */
	bool have_key;		/* a key was seen in this section (libinih's prev_name) */
	bool continuation;	/* the line being parsed continues the last key */
	struct config next;	/* what the file builds */
	struct raw_entry *entries;
	size_t entry_count;
	size_t entry_capacity;
	size_t source_capacity;	/* of next.sources */
	int err;		/* the first error, 0 before it */
	char *error;
	size_t error_size;
};

static void parser_fail(struct parser *p, int err, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void parser_fail(struct parser *p, int err, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (p->err)
		return;
	p->err = err;
	if (!p->error || p->error_size == 0)
		return;
	n = snprintf(p->error, p->error_size, "%s:%d: ", p->path, line);
	if (n < 0 || (size_t)n >= p->error_size)
		return;
	va_start(ap, fmt);
	vsnprintf(p->error + n, p->error_size - (size_t)n, fmt, ap);
	va_end(ap);
}

static bool is_source_name(const char *name)
{
	if (!*name)
		return false;
	for (; *name; name++)
		if (!isalnum((unsigned char)*name) && !strchr("_-.", *name))
			return false;
	return true;
}

static void parser_add_source(struct parser *p, const char *name)
{
	struct config_source *grown;
	struct config *next = &p->next;

	for (size_t i = 0; i < next->source_count; i++) {
		if (strcmp(next->sources[i].name, name) == 0) {
			parser_fail(p, -EINVAL, p->line, "source '%s' is defined twice (first "
				    "on line %d)", name, next->sources[i].line);
			return;
		}
	}
	grown = grow_array(next->sources, &p->source_capacity, next->source_count + 1,
			   sizeof(*grown), FIRST_LIST_ITEMS);
	if (!grown) {
		parser_fail(p, -ENOMEM, p->line, "out of memory");
		return;
	}
	next->sources = grown;
	memset(&grown[next->source_count], 0, sizeof(*grown));
	grown[next->source_count].name = strdup(name);
	if (!grown[next->source_count].name) {
		parser_fail(p, -ENOMEM, p->line, "out of memory");
		return;
	}
	grown[next->source_count].line = p->line;
	p->section = (int)next->source_count++;
}

/* A "[...]" line: s points at the '['. */
static void parser_begin_section(struct parser *p, const char *s)
{
	char name[CONFIG_MAX_LINE_BYTES + 1];
	const char *end = strchr(s, ']');
	char *t;

	p->have_key = false;
	if (!end) {
		parser_fail(p, -EINVAL, p->line, "expected ']' to close the section name");
		return;
	}
	snprintf(name, sizeof(name), "%.*s", (int)(end - s - 1), s + 1);
	t = config_trim(name);
	if (strcmp(t, "mediafs") == 0) {
		if (p->mediafs_line) {
			parser_fail(p, -EINVAL, p->line, "section [mediafs] appears twice (first "
				    "on line %d)", p->mediafs_line);
			return;
		}
		p->mediafs_line = p->line;
		p->section = SECTION_MEDIAFS;
		return;
	}
	if (strncmp(t, "source", 6) == 0 && (!t[6] || isspace((unsigned char)t[6]))) {
		char *source_name = config_trim(t + 6);

		if (!*source_name)
			parser_fail(p, -EINVAL, p->line, "section [source] needs a name, as in "
				    "[source app]");
		else if (!is_source_name(source_name))
			parser_fail(p, -EINVAL, p->line, "source name '%s' may hold only letters, "
				    "digits, '_', '-' and '.'", source_name);
		else
			parser_add_source(p, source_name);
		return;
	}
	parser_fail(p, -EINVAL, p->line, "unknown section [%s] (use [mediafs] or "
		    "[source NAME])", t);
}

/* Note what kind of line libinih is about to see: the same rules as its. */
static void parser_classify_line(struct parser *p, const char *line)
{
	const char *s = line;
	const char *start;

	if (p->line == 1 && strncmp(s, "\xef\xbb\xbf", 3) == 0)
		s += 3;
	start = s;
	while (isspace((unsigned char)*s))
		s++;
	p->continuation = false;
	if (!*s || *s == ';' || *s == '#')
		return;
	/* libinih tests for a continuation before a section: after a key, an
	 * indented "[...]" line is more of the value, not a new section. */
	if (s > start && p->have_key) {
		p->continuation = true;
		return;
	}
	if (*s == '[')
		parser_begin_section(p, s);
}

/* libinih's fgets(): one whole line, or NULL to stop. */
static char *parser_read_line(char *str, int num, void *stream)
{
	struct parser *p = stream;
	ssize_t n;

	if (p->err)
		return NULL;
	errno = 0;
	n = getline(&p->buf, &p->buf_size, p->file);
	if (n < 0) {
		if (ferror(p->file))
			parser_fail(p, errno ? -errno : -EIO, p->line + 1, "cannot read: %s",
				    strerror(errno ? errno : EIO));
		return NULL;
	}
	p->line++;
	if (memchr(p->buf, '\0', (size_t)n)) {
		parser_fail(p, -EINVAL, p->line, "the line holds a NUL byte");
		return NULL;
	}
	/* Its buffer takes num - 1 bytes; a longer line would be cut in two. */
	if (num <= 0 || n >= num) {
		parser_fail(p, -EINVAL, p->line, "the line is longer than %d bytes (continue "
			    "a long value on indented lines)", num - 2);
		return NULL;
	}
	parser_classify_line(p, p->buf);
	if (p->err)
		return NULL;
	memcpy(str, p->buf, (size_t)n + 1);
	return str;
}

/*
 * libinih 55 strips " ;" comments from "key = value" lines but not from
 * continuation lines: cut them here, so both kinds of line agree.
 */
static size_t continuation_length(const char *value)
{
	size_t len = 0;

	while (value[len] && !(value[len] == ';' && len > 0 && isspace((unsigned char)value[len - 1])))
		len++;
	while (len > 0 && isspace((unsigned char)value[len - 1]))
		len--;
	return len;
}

static int parser_continue(struct parser *p, const char *value)
{
	struct raw_entry *last = &p->entries[p->entry_count - 1];
	size_t old = strlen(last->value);
	size_t len = continuation_length(value);
	char *grown;

	if (len == 0)
		return 0;
	grown = realloc(last->value, old + 1 + len + 1);
	if (!grown) {
		parser_fail(p, -ENOMEM, p->line, "out of memory");
		return -ENOMEM;
	}
	grown[old] = ' ';
	memcpy(grown + old + 1, value, len);
	grown[old + 1 + len] = '\0';
	last->value = grown;
	return 0;
}

/* libinih's handler: nonzero to go on. */
static int parser_handle(void *user, const char *section, const char *key, const char *value)
{
	struct parser *p = user;
	struct raw_entry *grown;

	(void)section;	/* ours is p->section: libinih cuts names at 50 bytes */
	if (p->err)
		return 0;
	if (p->continuation && p->entry_count > 0)
		return parser_continue(p, value) == 0;
	if (p->section == SECTION_NONE) {
		parser_fail(p, -EINVAL, p->line, "key '%s' is outside a section (start with "
			    "[mediafs] or [source NAME])", key);
		return 0;
	}
	for (size_t i = 0; i < p->entry_count; i++) {
		if (p->entries[i].section == p->section && strcmp(p->entries[i].key, key) == 0) {
			parser_fail(p, -EINVAL, p->line, "key '%s' is given twice (first on "
				    "line %d)", key, p->entries[i].line);
			return 0;
		}
	}
	grown = grow_array(p->entries, &p->entry_capacity, p->entry_count + 1, sizeof(*grown),
			   FIRST_LIST_ITEMS);
	if (!grown) {
		parser_fail(p, -ENOMEM, p->line, "out of memory");
		return 0;
	}
	p->entries = grown;
	grown[p->entry_count] = (struct raw_entry){
		.section = p->section,
		.key = strdup(key),
		.value = strdup(value),
		.line = p->line,
	};
	p->entry_count++;
	if (!grown[p->entry_count - 1].key || !grown[p->entry_count - 1].value) {
		parser_fail(p, -ENOMEM, p->line, "out of memory");
		return 0;
	}
	p->have_key = true;
	return 1;
}

/* ---- the file: second pass ---- */

static void parser_apply(struct parser *p, const struct raw_entry *e)
{
	char why[WHY_BYTES];
	int err;

	if (e->section == SECTION_MEDIAFS) {
		err = setting_apply(&p->next.settings, e->key, e->value, why, sizeof(why));
		if (err == -ENOENT)
			parser_fail(p, -EINVAL, e->line, "key '%s': unknown key in [mediafs] "
				    "(use %s)", e->key, MEDIAFS_KEYS);
	} else {
		struct config_source *src = &p->next.sources[e->section];

		err = config_source_apply(src, e->key, e->value, why, sizeof(why));
		if (err == -ENOENT)
			parser_fail(p, -EINVAL, e->line, "key '%s': unknown key in [source %s] "
				    "(use %s)", e->key, src->name, SOURCE_KEYS);
	}
	if (err == -EINVAL)
		parser_fail(p, err, e->line, "key '%s': %s", e->key, why);
	else if (err == -ENOMEM)
		parser_fail(p, err, e->line, "out of memory");
}

/* The line of key in source index, or the section's line when not given. */
static int entry_line(const struct parser *p, int section, const char *key)
{
	for (size_t i = 0; i < p->entry_count; i++)
		if (p->entries[i].section == section && strcmp(p->entries[i].key, key) == 0)
			return p->entries[i].line;
	return p->next.sources[section].line;
}

static void parser_check_source(struct parser *p, int index)
{
	const struct config_source *src = &p->next.sources[index];

	if (!src->url) {
		parser_fail(p, -EINVAL, src->line, "source '%s': key 'url' is missing", src->name);
		return;
	}
	if (src->column_count && src->query) {
		parser_fail(p, -EINVAL, entry_line(p, index, "query"), "key 'query': source '%s' "
			    "has both 'columns' and 'query'; give one of them", src->name);
		return;
	}
	if (!src->column_count && !src->query) {
		parser_fail(p, -EINVAL, src->line, "source '%s': key 'columns' or 'query' is "
			    "missing", src->name);
		return;
	}
	if (src->format == CONFIG_FORMAT_TEXT && (src->path_count || src->base)) {
		parser_fail(p, -EINVAL, entry_line(p, index, src->path_count ? "paths" : "base"),
			    "key '%s': source '%s' reads each value as one path; add format = "
			    "json or php", src->path_count ? "paths" : "base", src->name);
		return;
	}
	if (src->format != CONFIG_FORMAT_TEXT && !src->path_count) {
		parser_fail(p, -EINVAL, entry_line(p, index, "format"), "key 'format': source '%s' "
			    "needs 'paths', the fields that hold paths (e.g. paths = file, "
			    "sizes.*.file)", src->name);
		return;
	}
	for (size_t i = 0; i < src->column_count; i++) {
		if (src->kind != CONFIG_SOURCE_POSTGRESQL && src->columns[i].database) {
			parser_fail(p, -EINVAL, entry_line(p, index, "columns"), "key 'columns': "
				    "'%s.%s.%s.%s' names a database; %s takes "
				    "[schema.]table.column", src->columns[i].database,
				    src->columns[i].schema, src->columns[i].table,
				    src->columns[i].column,
				    src->kind == CONFIG_SOURCE_SQLITE ? "SQLite" : "MySQL (the "
				    "schema is the database)");
			return;
		}
	}
}

static void parser_free(struct parser *p)
{
	for (size_t i = 0; i < p->entry_count; i++) {
		free(p->entries[i].key);
		free(p->entries[i].value);
	}
	free(p->entries);
	free(p->buf);
}

/* ---- public functions ---- */

void config_init_defaults(struct config *cfg)
{
	*cfg = (struct config){
		.settings = {
			.interval_ms = CONFIG_DEFAULT_INTERVAL_MS,
			.min_age_ms = CONFIG_DEFAULT_MIN_AGE_MS,
			.grace_ms = CONFIG_DEFAULT_GRACE_MS,
			.max_fraction = CONFIG_DEFAULT_MAX_FRACTION,
			.hold_min_files = CONFIG_DEFAULT_HOLD_MIN_FILES,
			.temp_max_age_ms = CONFIG_DEFAULT_TEMP_MAX_AGE_MS,
			.restore_on_access = true,
			.dry_run = false,
		},
	};
}

/*
 * Both passes over file, which is closed here; name stands for it in
 * messages and becomes cfg->path.  The contract is config_load()'s.
 */
static int load_stream(struct config *cfg, const char *name, FILE *file, char *error,
		       size_t error_size)
{
	struct parser p = {
		.path = name,
		.file = file,
		.section = SECTION_NONE,
		.error = error,
		.error_size = error_size,
	};
	int line;

	config_init_defaults(&p.next);
	line = ini_parse_stream(parser_read_line, &p, parser_handle, &p);
	fclose(file);
	if (!p.err && line > 0)
		parser_fail(&p, -EINVAL, line, "cannot parse the line (expected '[section]', "
			    "'key = value' or a comment)");
	else if (!p.err && line < 0)
		parser_fail(&p, -ENOMEM, p.line, "out of memory");
	for (size_t i = 0; i < p.entry_count && !p.err; i++)
		parser_apply(&p, &p.entries[i]);
	for (size_t i = 0; i < p.next.source_count && !p.err; i++)
		parser_check_source(&p, (int)i);
	if (!p.err) {
		p.next.path = strdup(name);
		if (!p.next.path)
			parser_fail(&p, -ENOMEM, 0, "out of memory");
	}
	parser_free(&p);
	if (p.err) {
		config_free(&p.next);
		return p.err;
	}
	config_free(cfg);
	*cfg = p.next;
	return 0;
}

int config_load(struct config *cfg, const char *path, char *error, size_t error_size)
{
	FILE *file;

	if (error_size)
		error[0] = '\0';
	file = fopen(path, "re");
	if (!file) {
		int err = -errno;

		snprintf(error, error_size, "cannot open '%s': %s", path, strerror(-err));
		return err;
	}
	return load_stream(cfg, path, file, error, error_size);
}

int config_load_buffer(struct config *cfg, const char *name, const char *text, size_t len,
		       char *error, size_t error_size)
{
	/* fmemopen() wants a buffer even for no bytes: an empty file is valid. */
	static const char empty[1];
	FILE *file;

	if (error_size)
		error[0] = '\0';
	file = fmemopen((void *)(len ? text : empty), len, "r");
	if (!file) {
		int err = -errno;

		snprintf(error, error_size, "cannot read '%s': %s", name, strerror(-err));
		return err;
	}
	return load_stream(cfg, name, file, error, error_size);
}

int config_set(struct config *cfg, const char *key, const char *value, char *error,
	       size_t error_size)
{
	char why[WHY_BYTES];
	int err;

	if (!value) {
		snprintf(error, error_size, "option '%s': needs a value, as in %s=...", key, key);
		return setting_apply(&cfg->settings, key, "", why, sizeof(why)) == -ENOENT ?
			-ENOENT : -EINVAL;
	}
	err = setting_apply(&cfg->settings, key, value, why, sizeof(why));
	if (err == -ENOENT)
		snprintf(error, error_size, "option '%s': unknown key (use %s)", key, MEDIAFS_KEYS);
	else if (err == -EINVAL)
		snprintf(error, error_size, "option '%s': %s", key, why);
	else if (err)
		snprintf(error, error_size, "option '%s': %s", key, strerror(-err));
	return err;
}

int config_copy(struct config *dst, const struct config *src)
{
	config_init_defaults(dst);
	dst->settings = src->settings;
	dst->settings.exclude = NULL;
	dst->settings.exclude_count = 0;
	if (src->path && !(dst->path = strdup(src->path)))
		goto out_free;
	if (src->settings.exclude_count) {
		dst->settings.exclude = calloc(src->settings.exclude_count, sizeof(char *));
		if (!dst->settings.exclude)
			goto out_free;
		for (size_t i = 0; i < src->settings.exclude_count; i++) {
			dst->settings.exclude[i] = strdup(src->settings.exclude[i]);
			if (!dst->settings.exclude[i])
				goto out_free;
			dst->settings.exclude_count++;
		}
	}
	if (src->source_count) {
		dst->sources = calloc(src->source_count, sizeof(*dst->sources));
		if (!dst->sources)
			goto out_free;
		for (size_t i = 0; i < src->source_count; i++) {
			if (config_source_copy(&dst->sources[i], &src->sources[i]) != 0)
				goto out_free;
			dst->source_count++;
		}
	}
	return 0;

out_free:
	config_free(dst);
	return -ENOMEM;
}

void config_free(struct config *cfg)
{
	free(cfg->path);
	config_free_strings(cfg->settings.exclude, cfg->settings.exclude_count);
	for (size_t i = 0; i < cfg->source_count; i++)
		config_source_clear(&cfg->sources[i]);
	free(cfg->sources);
	config_init_defaults(cfg);
}

