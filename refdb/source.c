/*
 * source: the backend-independent half of a reference source: choosing the
 * backend, the one-snapshot fetch sequence, normalising and counting
 * values, and the reports of --check-config.
 *
 * The sequence is fixed: connect (or check the connection), begin, read
 * every column or the query, commit.  Any failure rolls back and returns
 * the error; nothing is reported as fetched until commit succeeded.
 */
#include "source_i.h"

#include "fieldpath.h"
#include "pathnorm.h"
#include "refset.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

enum { WHY_BYTES = SOURCE_ERROR_BYTES - 64 };

void source_say(char *why, size_t why_size, const char *fmt, ...)
{
	va_list ap;

	if (why_size == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, why_size, fmt, ap);
	va_end(ap);
}

/* "source 'NAME': why" into error. */
static int source_fail(const struct source *src, int err, const char *why, char *error,
		       size_t error_size)
{
	source_say(error, error_size, "source '%s': %s", src->cfg.name, why);
	return err;
}

void source_column_label(const struct source_column *col, char *out, size_t out_size)
{
	if (col->database)
		source_say(out, out_size, "table '%s.%s.%s' column '%s'", col->database,
			   col->schema, col->table, col->column);
	else if (col->schema)
		source_say(out, out_size, "table '%s.%s' column '%s'", col->schema, col->table,
			   col->column);
	else
		source_say(out, out_size, "table '%s' column '%s'", col->table, col->column);
}

static void column_name(const struct source_column *col, char *out, size_t out_size)
{
	if (col->schema)
		source_say(out, out_size, "%s%s%s.%s.%s", col->database ? col->database : "",
			   col->database ? "." : "", col->schema, col->table, col->column);
	else
		source_say(out, out_size, "%s.%s", col->table, col->column);
}

/* Count a value that can never match a file, keeping the first few. */
static void note_hostile(struct source_report *report, const char *value, size_t len,
			 const char *why)
{
	if (report->hostile < SOURCE_HOSTILE_EXAMPLES) {
		char *example = report->hostile_examples[report->hostile];
		size_t room = SOURCE_EXAMPLE_BYTES - strlen(why) - 3;

		pathnorm_escape(value, len, example, room);
		strcat(example, " (");
		strcat(example, why);
		strcat(example, ")");
	}
	report->hostile++;
}

/* Normalise one path and emit it when usable; *empty says it was none. */
static int take_path(struct source_sink *sink, const char *value, size_t len, bool *empty)
{
	const struct config_source *cfg = &sink->src->cfg;
	struct source_report *report = sink->report;
	char path[PATHNORM_MAX_BYTES];
	enum pathnorm_status status;
	const char *prefix;
	size_t path_len = 0;

	prefix = pathnorm_pick_prefix(value, len, cfg->strip_prefixes, cfg->strip_prefix_count);
	status = pathnorm_normalise(value, len, prefix, path, sizeof(path), &path_len);
	*empty = status == PATHNORM_EMPTY;
	if (*empty)
		return 0;
	if (status != PATHNORM_OK) {
		note_hostile(report, value, len, pathnorm_status_name(status));
		return 0;
	}
	report->referenced++;
	return sink->emit(sink->ctx, path, path_len);
}

/* What fieldpath found in one structured value. */
struct found {
	struct source_sink *sink;
	uint64_t paths;
};

static int take_found(void *ctx, const char *path, size_t len, bool without_base)
{
	struct found *found = ctx;
	bool empty;

	found->paths++;
	if (without_base) {
		note_hostile(found->sink->report, path, len, "no-base");
		return 0;
	}
	return take_path(found->sink, path, len, &empty);
}

int source_take_value(struct source_sink *sink, const char *value, size_t len)
{
	struct source_report *report = sink->report;
	struct found found = { .sink = sink };
	bool empty;
	int err;

	report->rows++;
	if (!sink->src->fieldpath) {
		err = take_path(sink, value, len, &empty);
		if (empty)
			report->empty++;
		return err;
	}
	if (!value || len == 0) {
		report->empty++;
		return 0;
	}
	sink->structured++;
	err = fieldpath_extract(sink->src->fieldpath, value, len, take_found, &found);
	if (err == -EINVAL) {
		sink->unparsed++;
		note_hostile(report, value, len, sink->src->cfg.format == CONFIG_FORMAT_JSON ?
			     "not-json" : "not-php");
		return 0;
	}
	if (!err && found.paths == 0)
		report->empty++;
	return err;
}

/* ---- open and close ---- */

static const struct source_ops *ops_for(const struct config_source *cfg)
{
	switch (cfg->kind) {
	case CONFIG_SOURCE_SQLITE:
		return &source_sqlite_ops;
	case CONFIG_SOURCE_MYSQL:
		return &source_mysql_ops;
	case CONFIG_SOURCE_POSTGRESQL:
		break;
	}
	return &source_pg_ops;
}

int source_open_with_ops(const struct config_source *cfg, const struct source_ops *ops,
			 struct source **out, char *error, size_t error_size)
{
	char why[WHY_BYTES];
	struct source *src = calloc(1, sizeof(*src));
	int err;

	if (!src) {
		source_say(error, error_size, "source '%s': out of memory", cfg->name);
		return -ENOMEM;
	}
	src->ops = ops;
	src->busy_timeout_ms = SOURCE_DEFAULT_BUSY_TIMEOUT_MS;
	err = config_source_copy(&src->cfg, cfg);
	if (err) {
		source_say(error, error_size, "source '%s': out of memory", cfg->name);
		goto out_free;
	}
	if (cfg->format != CONFIG_FORMAT_TEXT) {
		err = fieldpath_new(cfg->format, cfg->paths, cfg->path_count, cfg->base,
				    &src->fieldpath);
		if (err) {
			source_say(why, sizeof(why), "cannot compile the paths: %s", strerror(-err));
			goto out_fail;
		}
	}
	err = ops->describe(src, why, sizeof(why));
	if (err)
		goto out_fail;
	err = ops->connect(src, why, sizeof(why));
	if (err)
		goto out_fail;
	*out = src;
	return 0;

out_fail:
	source_fail(src, err, why, error, error_size);
	fieldpath_free(src->fieldpath);
	config_source_clear(&src->cfg);
out_free:
	free(src);
	return err;
}

int source_open(const struct config_source *cfg, struct source **out, char *error,
		size_t error_size)
{
	return source_open_with_ops(cfg, ops_for(cfg), out, error, error_size);
}

void source_close(struct source *src)
{
	if (!src)
		return;
	src->ops->disconnect(src);
	fieldpath_free(src->fieldpath);
	config_source_clear(&src->cfg);
	free(src);
}

const char *source_name(const struct source *src)
{
	return src->cfg.name;
}

const char *source_description(const struct source *src)
{
	return src->description;
}

void source_set_busy_timeout(struct source *src, int64_t timeout_ms)
{
	src->busy_timeout_ms = timeout_ms;
}

/* ---- fetching ---- */

/*
 * A structured column none of whose values parses is the wrong column or
 * the wrong format: the source fails, as for a missing column, instead
 * of reading as a column without references.
 */
static int check_parsed(const struct source *src, const struct source_sink *sink,
			const char *label, char *why, size_t why_size)
{
	if (sink->structured == 0 || sink->unparsed < sink->structured)
		return 0;
	source_say(why, why_size, "%s: none of its %" PRIu64 " values is %s (is 'format' "
		   "right?)", label, sink->structured,
		   src->cfg.format == CONFIG_FORMAT_JSON ? "JSON" : "PHP serialize()");
	return -EINVAL;
}

/*
 * One snapshot over the columns [first, first + count) of src, or over
 * its query when it has one and count is not 0.
 */
static int fetch_snapshot(struct source *src, size_t first, size_t count,
			  struct source_sink *sink, char *why, size_t why_size)
{
	int err;

	err = src->ops->connect(src, why, why_size);
	if (err)
		return err;
	err = src->ops->begin(src, why, why_size);
	if (err)
		goto out_rollback;
	if (src->cfg.query) {
		sink->structured = sink->unparsed = 0;
		err = src->ops->fetch_query(src, src->cfg.query, sink, why, why_size);
		if (!err)
			err = check_parsed(src, sink, "query", why, why_size);
		if (err)
			goto out_rollback;
	}
	for (size_t i = first; i < first + count && i < src->cfg.column_count; i++) {
		char label[256];

		sink->structured = sink->unparsed = 0;
		err = src->ops->fetch_column(src, &src->cfg.columns[i], sink, why, why_size);
		if (!err) {
			source_column_label(&src->cfg.columns[i], label, sizeof(label));
			err = check_parsed(src, sink, label, why, why_size);
		}
		if (err)
			goto out_rollback;
	}
	err = src->ops->commit(src, why, why_size);
	if (err)
		goto out_rollback;
	return 0;

out_rollback:
	src->ops->rollback(src);
	return err;
}

int source_fetch(struct source *src, source_emit_fn emit, void *ctx,
		 struct source_report *report, char *error, size_t error_size)
{
	struct source_sink sink = { .src = src, .emit = emit, .ctx = ctx, .report = report };
	char why[WHY_BYTES];
	int err;

	memset(report, 0, sizeof(*report));
	err = fetch_snapshot(src, 0, src->cfg.column_count, &sink, why, sizeof(why));
	if (err)
		return source_fail(src, err, why, error, error_size);
	return 0;
}

static int emit_into_refset(void *ctx, const char *path, size_t len)
{
	return refset_add(ctx, path, len);
}

int source_fetch_into(struct source *src, struct refset *set, struct source_report *report,
		      char *error, size_t error_size)
{
	return source_fetch(src, emit_into_refset, set, report, error, error_size);
}

/* ---- checking ---- */

static int emit_nothing(void *ctx, const char *path, size_t len)
{
	(void)ctx;
	(void)path;
	(void)len;
	return 0;
}

static void print_report(const struct source *src, const char *what,
			 const struct source_report *r, FILE *out)
{
	fprintf(out, "source '%s' (%s): %s ok, %" PRIu64 " rows (%" PRIu64 " paths, %" PRIu64
		" empty", src->cfg.name, src->description, what, r->rows, r->referenced, r->empty);
	if (r->hostile) {
		fprintf(out, ", %" PRIu64 " unusable, e.g.", r->hostile);
		for (uint64_t i = 0; i < r->hostile && i < SOURCE_HOSTILE_EXAMPLES; i++)
			fprintf(out, "%s '%s'", i ? "," : "", r->hostile_examples[i]);
	}
	fprintf(out, ")\n");
}

int source_check(struct source *src, FILE *out, char *error, size_t error_size)
{
	size_t parts = src->cfg.query ? 1 : src->cfg.column_count;
	char why[WHY_BYTES];
	char message[SOURCE_ERROR_BYTES];
	char what[256];
	int first_err = 0;

	for (size_t i = 0; i < parts; i++) {
		struct source_report report = { 0 };
		struct source_sink sink = {
			.src = src, .emit = emit_nothing, .report = &report,
		};
		int err;

		if (src->cfg.query)
			source_say(what, sizeof(what), "query");
		else
			column_name(&src->cfg.columns[i], what, sizeof(what));
		/* A query source ignores the column range; a column source reads one. */
		err = fetch_snapshot(src, i, src->cfg.query ? 0 : 1, &sink, why, sizeof(why));
		if (err) {
			source_fail(src, err, why, message, sizeof(message));
			fprintf(out, "error: %s\n", message);
			if (!first_err) {
				first_err = err;
				source_say(error, error_size, "%s", message);
			}
			continue;
		}
		print_report(src, what, &report, out);
	}
	return first_err;
}

int config_check_sources(const struct config *cfg, FILE *out)
{
	char error[SOURCE_ERROR_BYTES];
	int first_err = 0;

	for (size_t i = 0; i < cfg->source_count; i++) {
		struct source *src;
		int err = source_open(&cfg->sources[i], &src, error, sizeof(error));

		if (err) {
			fprintf(out, "error: %s\n", error);
		} else {
			err = source_check(src, out, error, sizeof(error));
			source_close(src);
		}
		if (err && !first_err)
			first_err = err;
	}
	return first_err;
}
