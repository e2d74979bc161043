/*
 * admin: one function per command, each building its response.
 *
 * Layout: JSON helpers; reading (status, ls, show, quarantine, log, du);
 * changing (restore, purge, pin, unpin); the checker's (scan, confirm,
 * reject); check; dispatch.
 */
#include "admin.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adopt.h"
#include "clock.h"
#include "linkwalk.h"
#include "log.h"
#include "metrics.h"
#include "pathnorm.h"
#include "policy.h"
#include "refmatch.h"
#include "refset.h"
#include "respell.h"
#include "source.h"

enum {
	DEFAULT_LIMIT = 1000,
	CHECK_EXAMPLES = 50,
	DU_MAX_DIRS = 10000,
};

/* ------------------------------------------------------------------ */
/* JSON helpers                                                         */
/* ------------------------------------------------------------------ */

/*
 * text as a JSON string.  Messages quote paths, which need not be UTF-8,
 * and what clients sent; json_string() refuses such text (and a message
 * cut short in the middle of a character), which would leave a request
 * without an answer.  Then every byte outside printable ASCII is written
 * as \xNN instead.  NULL only when memory runs out.
 */
static json_t *text_json(const char *text)
{
	json_t *value = json_string(text);
	size_t len = strlen(text);
	char *escaped;

	if (value)
		return value;
	escaped = malloc(4 * len + 1);
	if (!escaped)
		return NULL;
	pathnorm_escape(text, len, escaped, 4 * len + 1);
	value = json_string(escaped);
	free(escaped);
	return value;
}

static json_t *failure(const char *kind, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static json_t *failure(const char *kind, const char *fmt, ...)
{
	char message[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	return json_pack("{s:b, s:s, s:o}", "ok", 0, "kind", kind, "error", text_json(message));
}

static json_t *success(void)
{
	return json_pack("{s:b}", "ok", 1);
}

void admin_set_path(json_t *obj, const char *key, const char *path)
{
	json_t *value = json_string(path);
	char hex_key[64], *hex, *escaped;
	size_t len;

	if (value) {
		json_object_set_new(obj, key, value);
		return;
	}
	len = strlen(path);
	hex = malloc(2 * len + 1);
	escaped = malloc(4 * len + 1);
	if (hex && escaped) {
		for (size_t i = 0; i < len; i++)
			sprintf(hex + 2 * i, "%02x", (unsigned char)path[i]);
		pathnorm_escape(path, len, escaped, 4 * len + 1);
		snprintf(hex_key, sizeof(hex_key), "%s_hex", key);
		json_object_set_new(obj, key, json_string(escaped));
		json_object_set_new(obj, hex_key, json_string(hex));
	}
	free(hex);
	free(escaped);
}

/*
 * Decode hex (two digits a byte, either case) into a malloc()ed string.
 * Returns 0, -EINVAL for an odd length, anything but a digit, or a 00
 * byte (a path never holds one, and cutting the path there would name
 * another file), or -ENOMEM; *out is set only on success.
 */
static int decode_hex(const char *hex, char **out)
{
	size_t len = strlen(hex);
	char *bytes;

	if (len % 2)
		return -EINVAL;
	bytes = malloc(len / 2 + 1);
	if (!bytes)
		return -ENOMEM;
	for (size_t i = 0; i < len / 2; i++) {
		int high = pathnorm_hex_digit(hex[2 * i]);
		int low = pathnorm_hex_digit(hex[2 * i + 1]);

		if (high < 0 || low < 0 || (high == 0 && low == 0)) {
			free(bytes);
			return -EINVAL;
		}
		bytes[i] = (char)(high << 4 | low);
	}
	bytes[len / 2] = '\0';
	*out = bytes;
	return 0;
}

char *admin_get_path(const json_t *obj, const char *key)
{
	char hex_key[64];
	const char *hex;
	char *path;
	json_t *value = json_object_get(obj, key);

	snprintf(hex_key, sizeof(hex_key), "%s_hex", key);
	hex = json_string_value(json_object_get(obj, hex_key));
	if (hex)
		return decode_hex(hex, &path) == 0 ? path : NULL;
	return json_is_string(value) ? strdup(json_string_value(value)) : NULL;
}

static int64_t int_field(const json_t *obj, const char *key, int64_t fallback)
{
	json_t *value = json_object_get(obj, key);

	return json_is_integer(value) ? json_integer_value(value) : fallback;
}

static bool bool_field(const json_t *obj, const char *key)
{
	return json_is_true(json_object_get(obj, key));
}

static const char *string_field(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

static json_t *row_json(const struct admin_context *ctx, const struct catalog_row *row)
{
	json_t *obj = json_pack("{s:I, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:s}",
				"id", (json_int_t)row->id,
				"state", catalog_state_name(row->state),
				"kind", row->kind == CATALOG_SYMLINK ? "symlink" : "file",
				"size", (json_int_t)row->size,
				"first_seen_ms", (json_int_t)row->first_seen_ms,
				"last_written_ms", (json_int_t)row->last_written_ms,
				"activity_ms", (json_int_t)row->activity_ms,
				"state_changed_ms", (json_int_t)row->state_changed_ms,
				"scan_id", (json_int_t)row->scan_id,
				"reason", row->state_reason ? row->state_reason : "");

	if (!obj)
		return NULL;
	admin_set_path(obj, "path", row->path);
	json_object_set_new(obj, "access_restores", json_integer((json_int_t)row->access_restores));
	if (row->quarantine_name)
		admin_set_path(obj, "quarantine_name", row->quarantine_name);
	if (row->state == CATALOG_QUARANTINED)
		json_object_set_new(obj, "purge_at_ms",
				    json_integer(row->state_changed_ms +
						 ctx->config->settings.grace_ms));
	return obj;
}

/* The scan's hostile examples, one per line, as a JSON array. */
static json_t *examples_json(const char *lines)
{
	json_t *array = json_array();

	while (array && *lines) {
		size_t len = strcspn(lines, "\n");
		json_array_append_new(array, json_stringn(lines, len));
		lines += len + (lines[len] == '\n');
	}
	return array;
}

static json_t *scan_json(const struct catalog_scan *scan)
{
	json_t *obj = json_pack("{s:I, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I,"
				" s:I, s:I, s:s}",
				"id", (json_int_t)scan->id, "trigger", scan->trigger,
				"status", catalog_scan_status_name(scan->status),
				"started_ms", (json_int_t)scan->started_ms,
				"finished_ms", (json_int_t)scan->finished_ms,
				"decided_ms", (json_int_t)scan->decided_ms,
				"live", (json_int_t)scan->live,
				"referenced", (json_int_t)scan->referenced,
				"candidates", (json_int_t)scan->candidates,
				"quarantined", (json_int_t)scan->quarantined,
				"restored", (json_int_t)scan->restored,
				"purged", (json_int_t)scan->purged,
				"conflicts", (json_int_t)scan->conflicts,
				"hostile", (json_int_t)scan->hostile, "message", scan->message);

	if (obj) {
		json_object_set_new(obj, "hostile_examples", examples_json(scan->hostile_examples));
		json_object_set_new(obj, "kept_open", json_integer((json_int_t)scan->kept_open));
		json_object_set_new(obj, "respelled", json_integer((json_int_t)scan->respelled));
		json_object_set_new(obj, "near_misses", json_integer((json_int_t)scan->near_misses));
		json_object_set_new(obj, "near_miss_examples",
				    examples_json(scan->near_miss_examples));
	}
	return obj;
}

struct row_list {
	const struct admin_context *ctx;
	json_t *array;
};

static int append_row(void *arg, const struct catalog_row *row)
{
	struct row_list *list = arg;
	json_t *obj = row_json(list->ctx, row);

	return obj && json_array_append_new(list->array, obj) == 0 ? 0 : -ENOMEM;
}

static json_t *catalog_failure(struct admin_context *ctx, int err)
{
	return failure("failed", "catalog: %s (%s)", catalog_last_error(ctx->cat), strerror(-err));
}

/* ------------------------------------------------------------------ */
/* Reading                                                              */
/* ------------------------------------------------------------------ */

/* The status's alarms about BACKING itself: full, or read-only. */
static json_t *backing_alarms(struct admin_context *ctx)
{
	json_t *alarms = json_array();
	char why[PATH_MAX + 256];

	if (store_check_health(ctx->store, why, sizeof(why)) != STORE_HEALTHY)
		json_array_append_new(alarms, json_pack("{s:s, s:s}", "kind", "backing",
							 "message", why));
	return alarms;
}

/* One count of catalog_each_count() into {group: {name: count}}. */
static int add_count(void *arg, const char *group, const char *name, uint64_t count)
{
	json_t *groups = arg, *names = json_object_get(groups, group);

	if (!group || !name)
		return 0;
	if (!names) {
		names = json_object();
		if (json_object_set_new(groups, group, names) != 0)
			return -ENOMEM;
	}
	return json_object_set_new(names, name, json_integer((json_int_t)count)) ? -ENOMEM : 0;
}

/*
 * The cumulative counts that metrics export: scans by outcome, and the
 * audit log's changes of state (restores by cause, purges, quarantines).
 */
static int add_counts(struct admin_context *ctx, json_t *status)
{
	json_t *scans = json_object(), *transitions = json_object();
	int err = scans && transitions ? 0 : -ENOMEM;

	if (!err)
		err = catalog_each_count(ctx->cat, CATALOG_COUNT_SCANS, add_count, scans);
	if (!err)
		err = catalog_each_count(ctx->cat, CATALOG_COUNT_TRANSITIONS, add_count,
					 transitions);
	if (!err) {
		json_t *by_status = json_object_get(scans, "scans");
		json_object_set(status, "scan_counts", by_status ? by_status : json_object());
		json_object_set(status, "transitions", transitions);
	}
	json_decref(scans);
	json_decref(transitions);
	return err;
}

static json_t *cmd_status(struct admin_context *ctx, const json_t *request)
{
	static const enum catalog_state states[] = {
		CATALOG_LIVE, CATALOG_QUARANTINED, CATALOG_PURGED, CATALOG_MISSING,
	};
	uint64_t counts[4], bytes[4];
	struct catalog_scan scan;
	json_t *response = success(), *totals = json_object();
	int err = catalog_totals_by_state(ctx->cat, counts, bytes);

	(void)request;
	if (err) {
		json_decref(response);
		json_decref(totals);
		return catalog_failure(ctx, err);
	}
	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		json_object_set_new(totals, catalog_state_name(states[i]),
				    json_pack("{s:I, s:I}", "files", (json_int_t)counts[states[i]],
					      "bytes", (json_int_t)bytes[states[i]]));
	json_object_set_new(response, "totals", totals);
	json_object_set_new(response, "backing", json_string(ctx->store->root_path[0] ?
							      ctx->store->root_path : "/"));
	if (catalog_scan_get(ctx->cat, 0, &scan) == 0)
		json_object_set_new(response, "last_scan", scan_json(&scan));
	if (catalog_scan_get_held(ctx->cat, &scan) == 0)
		json_object_set_new(response, "held_scan", scan_json(&scan));
	json_t *settings = json_pack("{s:I, s:I, s:I, s:f, s:I, s:b, s:b}",
		"interval_ms", (json_int_t)ctx->config->settings.interval_ms,
		"min_age_ms", (json_int_t)ctx->config->settings.min_age_ms,
		"grace_ms", (json_int_t)ctx->config->settings.grace_ms,
		"max_fraction", ctx->config->settings.max_fraction,
		"temp_max_age_ms", (json_int_t)ctx->config->settings.temp_max_age_ms,
		"restore_on_access", ctx->config->settings.restore_on_access,
		"dry_run", ctx->config->settings.dry_run);
	json_object_set_new(response, "settings", settings);
	json_t *sources = json_array();
	for (size_t i = 0; i < ctx->config->source_count; i++)
		json_array_append_new(sources, json_pack("{s:s}", "name",
							 ctx->config->sources[i].name));
	json_object_set_new(response, "sources", sources);
	json_object_set_new(response, "daemon", json_boolean(ctx->daemon != NULL));
	json_object_set_new(response, "config", json_pack("{s:s?, s:s}",
		"path", ctx->config->path,
		"origin", ctx->config_origin ? ctx->config_origin : "daemon"));
	json_object_set_new(response, "alarms", backing_alarms(ctx));
	err = add_counts(ctx, response);
	if (err) {
		json_decref(response);
		return catalog_failure(ctx, err);
	}
	if (ctx->add_status)
		ctx->add_status(ctx->daemon, response);
	return response;
}

/* The status in Prometheus' text format, as "text". */
static json_t *cmd_metrics(struct admin_context *ctx, const json_t *request)
{
	json_t *status = cmd_status(ctx, request), *response;
	char *text;

	if (!json_is_true(json_object_get(status, "ok")))
		return status;
	text = metrics_render(status);
	json_decref(status);
	if (!text)
		return failure("failed", "out of memory");
	response = success();
	json_object_set_new(response, "text", json_string(text));
	free(text);
	return response;
}

static json_t *query(struct admin_context *ctx, const struct catalog_filter *filter)
{
	struct row_list list = { ctx, json_array() };
	json_t *response;
	int err = catalog_query_rows(ctx->cat, filter, append_row, &list);

	if (err) {
		json_decref(list.array);
		return catalog_failure(ctx, err);
	}
	response = success();
	json_object_set_new(response, "files", list.array);
	return response;
}

static int parse_state_name(const char *name)
{
	for (int s = CATALOG_LIVE; s <= CATALOG_MISSING; s++)
		if (strcmp(name, catalog_state_name((enum catalog_state)s)) == 0)
			return s;
	return -2;
}

struct unreferenced {
	struct admin_context *ctx;
	const char *prefix;
	json_t *files;
};

static bool under_prefix(const char *path, const char *prefix)
{
	size_t len = prefix ? strlen(prefix) : 0;

	return !len || (strncmp(path, prefix, len) == 0 && (path[len] == '\0' || path[len] == '/'));
}

static int add_candidate_row(void *arg, int64_t id)
{
	struct unreferenced *u = arg;
	struct catalog_row row;

	if (catalog_get_row(u->ctx->cat, id, &row) != 0)
		return 0;
	if (row.state == CATALOG_LIVE && under_prefix(row.path, u->prefix))
		json_array_append_new(u->files, row_json(u->ctx, &row));
	catalog_row_clear(&row);
	return 0;
}

/* ls --unreferenced: the candidates of a fresh dry-run scan (the daemon
 * keeps the candidates of dry runs as it does those of held scans). */
static json_t *unreferenced_files(struct admin_context *ctx, const char *prefix)
{
	struct unreferenced u = { ctx, prefix, json_array() };
	struct catalog_scan scan;
	json_t *response;
	int64_t *ids = NULL;
	size_t count = 0;
	int err;

	if (!ctx->unreferenced) {
		json_decref(u.files);
		return failure("refused", "--unreferenced needs the running daemon (it asks the "
			       "databases)");
	}
	/* Asked as a scan would ask, but nothing is recorded: no scan
	 * number, no candidates kept, no line in the log. */
	err = ctx->unreferenced(ctx->daemon, &ids, &count, &scan);
	if (!err && scan.status == CATALOG_SCAN_FAILED) {
		json_decref(u.files);
		return failure("failed", "%s", scan.message);
	}
	for (size_t i = 0; !err && i < count; i++)
		err = add_candidate_row(&u, ids[i]);
	free(ids);
	if (err) {
		json_decref(u.files);
		return failure("failed", "the databases could not be asked: %s", strerror(-err));
	}
	response = success();
	json_object_set_new(response, "live", json_integer((json_int_t)scan.live));
	json_object_set_new(response, "referenced", json_integer((json_int_t)scan.referenced));
	json_object_set_new(response, "files", u.files);
	return response;
}

static json_t *cmd_ls(struct admin_context *ctx, const json_t *request)
{
	const char *state = string_field(request, "state");
	char *prefix = admin_get_path(request, "prefix");
	struct catalog_filter filter = {
		.prefix = prefix,
		.state = -1,
		.larger_than = int_field(request, "larger_than", 0),
		.limit = (size_t)int_field(request, "limit", 0),
	};
	json_t *response;
	int64_t older = int_field(request, "older_than_ms", 0);

	if (state)
		filter.state = parse_state_name(state);
	if (older)
		filter.changed_before_ms = clock_now_ms() - older;
	if (bool_field(request, "unreferenced"))
		response = unreferenced_files(ctx, prefix);
	else
		response = query(ctx, &filter);
	free(prefix);
	return response;
}

struct audit_list {
	json_t *array;
};

static int append_audit(void *arg, const struct catalog_audit *entry)
{
	struct audit_list *list = arg;
	json_t *obj = json_pack("{s:I, s:I, s:I, s:s?, s:s?, s:s}",
				"id", (json_int_t)entry->id, "time_ms", (json_int_t)entry->time_ms,
				"file_id", (json_int_t)entry->file_id,
				"from", entry->from_state, "to", entry->to_state,
				"reason", entry->reason ? entry->reason : "");

	if (!obj)
		return -ENOMEM;
	admin_set_path(obj, "path", entry->path);
	if (entry->detail)
		admin_set_path(obj, "detail", entry->detail);
	return json_array_append_new(list->array, obj) == 0 ? 0 : -ENOMEM;
}

static json_t *cmd_show(struct admin_context *ctx, const json_t *request)
{
	char *path = admin_get_path(request, "path");
	struct catalog_filter filter = { .state = -1, .path = path };
	struct audit_list audit = { json_array() };
	json_t *response;
	int err;

	if (!path) {
		json_decref(audit.array);
		return failure("usage", "show needs a path");
	}
	response = query(ctx, &filter);
	err = catalog_query_audit(ctx->cat, 0, path, 0, append_audit, &audit);
	if (!err && json_is_true(json_object_get(response, "ok")) &&
	    json_array_size(json_object_get(response, "files")) == 0 &&
	    json_array_size(audit.array) == 0) {
		json_decref(response);
		json_decref(audit.array);
		response = failure("refused", "the catalog knows nothing of '%s'", path);
		free(path);
		return response;
	}
	free(path);
	if (err) {
		json_decref(response);
		json_decref(audit.array);
		return catalog_failure(ctx, err);
	}
	json_object_set_new(response, "audit", audit.array);
	return response;
}

static json_t *cmd_quarantine(struct admin_context *ctx, const json_t *request)
{
	struct catalog_filter filter = {
		.state = CATALOG_QUARANTINED,
		.limit = (size_t)int_field(request, "limit", 0),
	};

	return query(ctx, &filter);
}

static json_t *cmd_log(struct admin_context *ctx, const json_t *request)
{
	char *path = admin_get_path(request, "path");
	int64_t since = int_field(request, "since_ms", 0);
	struct audit_list list = { json_array() };
	json_t *response;
	int err;

	if (since)
		since = clock_now_ms() - since;
	err = catalog_query_audit(ctx->cat, since, path,
				  (size_t)int_field(request, "limit", DEFAULT_LIMIT), append_audit,
				  &list);
	free(path);
	if (err) {
		json_decref(list.array);
		return catalog_failure(ctx, err);
	}
	response = success();
	json_object_set_new(response, "entries", list.array);
	return response;
}

/* du: bytes and files by first directory level under a prefix, by state. */
struct du {
	const char *prefix;
	json_t *dirs;		/* name -> {live_files, live_bytes, ...} */
	uint64_t reclaimable;
};

static int du_row(void *arg, const struct catalog_row *row)
{
	struct du *du = arg;
	const char *rest = row->path + (du->prefix ? strlen(du->prefix) : 0);
	char key[512], field[64];
	const char *slash;
	json_t *dir;

	if (*rest == '/')
		rest++;
	slash = strchr(rest, '/');
	snprintf(key, sizeof(key), "%.*s", slash ? (int)(slash - rest) : 0, rest);
	if (!slash)
		snprintf(key, sizeof(key), ".");
	if (row->state != CATALOG_LIVE && row->state != CATALOG_QUARANTINED)
		return 0;
	dir = json_object_get(du->dirs, key);
	if (!dir) {
		if (json_object_size(du->dirs) >= DU_MAX_DIRS)
			return 0;
		dir = json_pack("{s:I, s:I, s:I, s:I}", "live_files", (json_int_t)0,
				"live_bytes", (json_int_t)0, "quarantined_files", (json_int_t)0,
				"quarantined_bytes", (json_int_t)0);
		json_object_set_new(du->dirs, key, dir);
	}
	const char *state = row->state == CATALOG_LIVE ? "live" : "quarantined";
	snprintf(field, sizeof(field), "%s_files", state);
	json_object_set_new(dir, field, json_integer(int_field(dir, field, 0) + 1));
	snprintf(field, sizeof(field), "%s_bytes", state);
	json_object_set_new(dir, field, json_integer(int_field(dir, field, 0) +
						     (row->size > 0 ? row->size : 0)));
	if (row->state == CATALOG_QUARANTINED && row->size > 0)
		du->reclaimable += (uint64_t)row->size;
	return 0;
}

static json_t *cmd_du(struct admin_context *ctx, const json_t *request)
{
	char *prefix = admin_get_path(request, "prefix");
	struct du du = { prefix && *prefix ? prefix : NULL, json_object(), 0 };
	struct catalog_filter filter = { .state = -1, .prefix = du.prefix };
	json_t *response;
	int err = catalog_query_rows(ctx->cat, &filter, du_row, &du);

	free(prefix);
	if (err) {
		json_decref(du.dirs);
		return catalog_failure(ctx, err);
	}
	response = success();
	json_object_set_new(response, "dirs", du.dirs);
	json_object_set_new(response, "reclaimable_bytes", json_integer((json_int_t)du.reclaimable));
	return response;
}

/* ------------------------------------------------------------------ */
/* Changing                                                             */
/* ------------------------------------------------------------------ */

/* A restore target must be a plain path inside the mount, outside the
 * state directory: "../", absolute paths and .mediafs are refused. */
static bool is_valid_target(const char *path)
{
	char normalised[PATH_MAX];
	size_t len;

	if (pathnorm_normalise(path, strlen(path), NULL, normalised, sizeof(normalised), &len) !=
	    PATHNORM_OK || strcmp(normalised, path) != 0)
		return false;
	return strcmp(path, STORE_STATE_DIR_NAME) != 0 &&
	       strncmp(path, STORE_STATE_DIR_NAME "/", sizeof(STORE_STATE_DIR_NAME)) != 0;
}

struct selection {
	struct admin_context *ctx;
	const char *glob;		/* fnmatch on the path, or NULL */
	json_t *rows;			/* matching quarantined rows */
};

static int select_row(void *arg, const struct catalog_row *row)
{
	struct selection *sel = arg;

	if (sel->glob && fnmatch(sel->glob, row->path, 0) != 0)
		return 0;
	return json_array_append_new(sel->rows, row_json(sel->ctx, row)) == 0 ? 0 : -ENOMEM;
}

/*
 * The quarantined rows a restore or purge names: path (its newest
 * quarantined version), glob, id, scan, or since.  NULL with *error set
 * when the request names nothing usable.
 */
static json_t *select_quarantined(struct admin_context *ctx, const json_t *request,
				  json_t **error)
{
	char *path = admin_get_path(request, "path");
	const char *glob = string_field(request, "glob");
	struct selection sel = { ctx, glob, json_array() };
	struct catalog_filter filter = { .state = CATALOG_QUARANTINED, .path = path };
	int err;

	filter.scan_id = int_field(request, "scan", 0);
	if (int_field(request, "since_ms", 0))
		filter.state_changed_since_ms = clock_now_ms() - int_field(request, "since_ms", 0);
	if (!path && !glob && !filter.scan_id && !filter.state_changed_since_ms &&
	    !json_object_get(request, "id") && !bool_field(request, "all")) {
		*error = failure("usage", "name what: a path, a glob, an id, a scan or a time");
		json_decref(sel.rows);
		return NULL;
	}
	if (json_object_get(request, "id")) {
		struct catalog_row row;
		err = catalog_get_row(ctx->cat, int_field(request, "id", 0), &row);
		if (!err && row.state == CATALOG_QUARANTINED)
			err = select_row(&sel, &row);
		catalog_row_clear(&row);
		if (err == -ENOENT)
			err = 0;
	} else {
		err = catalog_query_rows(ctx->cat, &filter, select_row, &sel);
	}
	free(path);
	if (err) {
		json_decref(sel.rows);
		*error = catalog_failure(ctx, err);
		return NULL;
	}
	/* One version per path for a path: the newest. */
	if (path && json_array_size(sel.rows) > 1) {
		json_t *newest = json_incref(json_array_get(sel.rows, json_array_size(sel.rows) - 1));
		json_decref(sel.rows);
		sel.rows = json_array();
		json_array_append_new(sel.rows, newest);
	}
	return sel.rows;
}

static int restore_row(struct admin_context *ctx, json_t *row, const char *to, bool pin,
		       char *why, size_t why_size)
{
	char *path = admin_get_path(row, "path");
	char *qname = admin_get_path(row, "quarantine_name");
	const char *target = to ? to : path;
	int64_t id = int_field(row, "id", 0), now = clock_now_ms();
	int err = path && qname ? 0 : -ENOMEM;

	if (!err && !is_valid_target(target)) {
		snprintf(why, why_size, "'%s' is not a path inside the mount", target);
		err = -EINVAL;
	}
	if (!err)
		err = quarantine_restore(ctx->quarantine, qname, target);
	if (err == -EEXIST)
		snprintf(why, why_size, "a live file holds '%s' (restore it elsewhere with --to)",
			 target);
	else if (err == -ENOENT)
		snprintf(why, why_size, "'%s' is not in the quarantine", qname);
	else if (err == -ENOTDIR || err == -ELOOP)
		snprintf(why, why_size, "cannot restore to '%s': one of its directories is a "
			 "symbolic link or a file (a restore never follows a link)", target);
	else if (err && err != -EINVAL)
		snprintf(why, why_size, "%s", strerror(-err));
	if (!err) {
		err = catalog_set_restored(ctx->cat, id, now, "admin", target);
		if (err)
			snprintf(why, why_size, "restored, but the catalog failed: %s",
				 catalog_last_error(ctx->cat));
		/* The daemon's log tells each admin restore, as the checker's. */
		if (to)
			log_info("admin restored '%s' from '%s' to '%s'", path, qname, to);
		else
			log_info("admin restored '%s' from '%s'", path, qname);
		if (ctx->on_restored)
			ctx->on_restored(ctx->daemon, target, qname);
		if (pin && catalog_pin_add(ctx->cat, target, now) != 0 && !err) {
			snprintf(why, why_size, "restored, but the pin failed: %s",
				 catalog_last_error(ctx->cat));
			err = -EIO;
		}
		if (to)
			admin_set_path(row, "restored_to", to);
	}
	free(path);
	free(qname);
	return err;
}

static json_t *cmd_restore(struct admin_context *ctx, const json_t *request)
{
	char *to = admin_get_path(request, "to");
	bool pin = bool_field(request, "pin");
	json_t *error = NULL, *rows = select_quarantined(ctx, request, &error);
	json_t *restored = json_array(), *refused = json_array(), *response;
	size_t i;
	json_t *row;

	if (!rows) {
		free(to);
		json_decref(restored);
		json_decref(refused);
		return error;
	}
	if (to && json_array_size(rows) > 1) {
		free(to);
		json_decref(rows);
		json_decref(restored);
		json_decref(refused);
		return failure("usage", "--to names one new path: the selection holds %zu files",
			       json_array_size(rows));
	}
	json_array_foreach(rows, i, row) {
		char why[PATH_MAX + 128] = "";
		if (restore_row(ctx, row, to, pin, why, sizeof(why)) == 0) {
			json_array_append(restored, row);
		} else {
			json_object_set_new(row, "refused", text_json(why));
			json_array_append(refused, row);
		}
	}
	free(to);
	json_decref(rows);
	if (json_array_size(restored) == 0 && json_array_size(refused) == 0) {
		json_decref(restored);
		json_decref(refused);
		return failure("refused", "nothing in the quarantine matches");
	}
	response = json_array_size(restored) || !json_array_size(refused) ? success() :
		   failure("refused", "%s", string_field(json_array_get(refused, 0), "refused"));
	json_object_set_new(response, "restored", restored);
	json_object_set_new(response, "refused", refused);
	return response;
}

/*
 * The references every source holds now, for the checker's purge rule.
 * NULL with *error set when a source fails: an error is never "no
 * references" (promise 4), so nothing may be purged then.
 */
static struct refset *fetch_references(struct admin_context *ctx, json_t **error)
{
	struct refset *referenced = refset_new();

	if (!referenced) {
		*error = failure("failed", "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < ctx->config->source_count; i++) {
		char why[SOURCE_ERROR_BYTES];
		struct source_report report;
		struct source *src;
		int err = source_open(&ctx->config->sources[i], &src, why, sizeof(why));
		if (!err) {
			err = source_fetch_into(src, referenced, &report, why, sizeof(why));
			source_close(src);
		}
		if (err) {
			refset_free(referenced);
			*error = failure("failed", "nothing is purged: %s", why);
			return NULL;
		}
	}
	return referenced;
}

struct expired {
	struct admin_context *ctx;
	struct policy_settings settings;
	const struct refset *referenced;
	const struct refmatch *match;	/* through links and other spellings */
	int64_t now_ms;
	json_t *rows;			/* what the checker would purge */
	json_t *kept;			/* past grace, but kept by the rule */
};

/* policy_judge_file(), as the checker calls it for a quarantined row. */
static int judge_expired(void *arg, const struct catalog_row *row)
{
	struct expired *e = arg;
	struct policy_file file = policy_file_of_row(row);
	size_t len = strlen(row->path);
	/* Referenced as the checker sees it: exactly, through a link, or
	 * under another spelling (near misses protect too). */
	bool referenced = refset_contains(e->referenced, row->path, len) ||
			  refmatch_is_kept(e->match, row->path, len) ||
			  refmatch_spelling(e->match, row->path, len, NULL, NULL) != RESPELL_NONE;
	struct policy_judgement judgement =
		policy_judge_known(&e->settings, e->now_ms, referenced, &file);
	json_t *obj;

	if (judgement.action != POLICY_PURGE &&
	    e->now_ms - row->state_changed_ms < e->settings.grace_ms)
		return 0;
	obj = row_json(e->ctx, row);
	if (!obj)
		return -ENOMEM;
	if (judgement.action == POLICY_PURGE)
		return json_array_append_new(e->rows, obj) == 0 ? 0 : -ENOMEM;
	json_object_set_new(obj, "kept", json_string(judgement.action == POLICY_RESTORE ?
						     "referenced now" : judgement.reason));
	return json_array_append_new(e->kept, obj) == 0 ? 0 : -ENOMEM;
}

/*
 * The quarantined files past grace that the checker itself would purge
 * now: never one referenced again (now, or at any scan since it went,
 * as a restore that conflicted leaves it), whatever its age.
 */
static json_t *select_expired(struct admin_context *ctx, json_t *kept, json_t **error)
{
	struct catalog_filter filter = { .state = CATALOG_QUARANTINED };
	struct expired e = {
		.ctx = ctx,
		.settings = {
			.min_age_ms = ctx->config->settings.min_age_ms,
			.grace_ms = ctx->config->settings.grace_ms,
			.max_fraction = ctx->config->settings.max_fraction,
		},
		.now_ms = clock_now_ms(),
		.rows = json_array(),
		.kept = kept,
	};
	struct refset *referenced = fetch_references(ctx, error);
	struct refmatch match = { 0 };
	int err;

	if (!referenced) {
		json_decref(e.rows);
		return NULL;
	}
	/* Every value is resolved on disk, as the checker resolves those
	 * that name no live file exactly: an admin's purge is not a hot
	 * path, and a value's file may be the quarantined one. */
	err = refmatch_init(&match, ctx->store);
	if (!err)
		err = refmatch_take_all(&match, referenced);
	if (err) {
		refmatch_clear(&match);
		refset_free(referenced);
		json_decref(e.rows);
		*error = failure("failed", "nothing is purged: the references could not be "
				 "resolved in BACKING: %s", strerror(-err));
		return NULL;
	}
	e.referenced = referenced;
	e.match = &match;
	err = catalog_query_rows(ctx->cat, &filter, judge_expired, &e);
	refmatch_clear(&match);
	refset_free(referenced);
	if (err) {
		json_decref(e.rows);
		*error = catalog_failure(ctx, err);
		return NULL;
	}
	return e.rows;
}

/* Purge qname, unless the daemon says it is open for writing (-EBUSY). */
static int purge_file(struct admin_context *ctx, const char *qname)
{
	struct stat st;
	int err;

	if (!ctx->purge_begin)
		return quarantine_purge(ctx->quarantine, qname);
	err = quarantine_stat(ctx->quarantine, qname, &st);
	if (!err)
		err = ctx->purge_begin(ctx->daemon, &st);
	if (err)
		return err;
	err = quarantine_purge(ctx->quarantine, qname);
	ctx->purge_end(ctx->daemon, err == 0);
	return err;
}

static json_t *cmd_purge(struct admin_context *ctx, const json_t *request)
{
	json_t *error = NULL, *rows, *purged = json_array(), *kept = json_array();
	json_t *kept_open = json_array(), *unrecorded = json_array(), *response, *row;
	int64_t now = clock_now_ms();
	size_t i;

	if (bool_field(request, "all") && !bool_field(request, "yes")) {
		rows = NULL;
		error = failure("usage", "purge --all deletes every quarantined file for good: "
				"add --yes");
	} else if (bool_field(request, "expired")) {
		rows = select_expired(ctx, kept, &error);
	} else {
		rows = select_quarantined(ctx, request, &error);
	}
	if (!rows) {
		json_decref(purged);
		json_decref(kept);
		json_decref(kept_open);
		json_decref(unrecorded);
		return error;
	}
	json_array_foreach(rows, i, row) {
		char *qname = admin_get_path(row, "quarantine_name");
		char *path = admin_get_path(row, "path");
		int err = qname ? purge_file(ctx, qname) : -ENOMEM;

		if (err == -EBUSY)
			json_array_append(kept_open, row);
		if (!err || err == -ENOENT) {
			if (catalog_set_purged(ctx->cat, int_field(row, "id", 0), now, "admin") != 0) {
				json_object_set_new(row, "error",
						    text_json(catalog_last_error(ctx->cat)));
				json_array_append(unrecorded, row);
			} else {
				json_array_append(purged, row);
			}
			if (ctx->on_purged && path)
				ctx->on_purged(ctx->daemon, path, qname);
		}
		free(qname);
		free(path);
	}
	json_decref(rows);
	if (json_array_size(unrecorded))
		response = failure("failed", "%zu files were deleted but the catalog could not "
				   "record it (%s); the next start reconciles it",
				   json_array_size(unrecorded),
				   json_string_value(json_object_get(json_array_get(unrecorded, 0),
								     "error")));
	else if (json_array_size(purged) || !json_array_size(kept_open))
		response = success();
	else
		response = failure("refused", "%s is open for writing through the mount: it is "
				   "not purged while open", json_array_size(kept_open) > 1 ?
				   "every file" : "the file");
	json_object_set_new(response, "purged", purged);
	json_object_set_new(response, "kept", kept);
	json_object_set_new(response, "kept_open", kept_open);
	json_object_set_new(response, "unrecorded", unrecorded);
	return response;
}

static int append_pin(void *arg, const char *pattern, int64_t created_ms)
{
	json_t *obj = json_pack("{s:I}", "created_ms", (json_int_t)created_ms);

	admin_set_path(obj, "pattern", pattern);
	return json_array_append_new(arg, obj);
}

static json_t *cmd_pins(struct admin_context *ctx, const json_t *request)
{
	json_t *pins = json_array(), *response;
	int err;

	(void)request;
	err = catalog_each_pin(ctx->cat, append_pin, pins);
	if (err) {
		json_decref(pins);
		return catalog_failure(ctx, err);
	}
	response = success();
	json_object_set_new(response, "pins", pins);
	return response;
}

static json_t *cmd_pin(struct admin_context *ctx, const json_t *request, bool add)
{
	char *pattern = admin_get_path(request, "pattern");
	int err;

	if (!pattern || !*pattern) {
		free(pattern);
		return failure("usage", "%s needs a path or a glob", add ? "pin" : "unpin");
	}
	err = add ? catalog_pin_add(ctx->cat, pattern, clock_now_ms()) :
		    catalog_pin_remove(ctx->cat, pattern);
	if (err == -ENOENT) {
		json_t *response = failure("refused", "'%s' is not pinned", pattern);
		free(pattern);
		return response;
	}
	free(pattern);
	if (err)
		return catalog_failure(ctx, err);
	return cmd_pins(ctx, request);
}

/* ------------------------------------------------------------------ */
/* The checker's                                                        */
/* ------------------------------------------------------------------ */

static json_t *scan_response(int err, const struct catalog_scan *scan)
{
	json_t *response;

	if (err == -ENOENT)
		return failure("refused", "no such held scan");
	if (err)
		return failure("failed", "the scan did not finish: %s", strerror(-err));
	if (scan->status == CATALOG_SCAN_FAILED && scan->id == 0)
		response = failure("failed", "%s", scan->message);
	else if (scan->status == CATALOG_SCAN_FAILED)
		response = failure("failed", "scan %lld failed: %s", (long long)scan->id,
				   scan->message);
	else
		response = success();
	json_object_set_new(response, "scan", scan_json(scan));
	return response;
}

static json_t *cmd_reload(struct admin_context *ctx, const json_t *request)
{
	char message[2048];
	json_t *response;
	int err;

	(void)request;
	if (!ctx->reload)
		return failure("refused", "a reload needs the daemon (--mount): a stopped store "
			       "reads its configuration at each command");
	err = ctx->reload(ctx->daemon, message, sizeof(message));
	if (err)
		return failure(err == -EINVAL ? "refused" : "failed", "%s", message);
	response = success();
	json_object_set_new(response, "message", text_json(message));
	return response;
}

static json_t *cmd_scan(struct admin_context *ctx, const json_t *request)
{
	struct catalog_scan scan;

	if (!ctx->scan)
		return failure("refused", "scans need the running daemon");
	return scan_response(ctx->scan(ctx->daemon, bool_field(request, "dry_run"), &scan), &scan);
}

static json_t *cmd_decide(struct admin_context *ctx, const json_t *request, bool confirm)
{
	struct catalog_scan scan;
	int64_t id = int_field(request, "id", 0);

	if (!ctx->decide)
		return failure("refused", "confirm and reject need the running daemon");
	if (!id) {
		if (catalog_scan_get_held(ctx->cat, &scan) != 0)
			return failure("refused", "no scan is held");
		id = scan.id;
	}
	return scan_response(ctx->decide(ctx->daemon, id, confirm, &scan), &scan);
}

/* ------------------------------------------------------------------ */
/* check                                                                */
/* ------------------------------------------------------------------ */

struct check {
	struct admin_context *ctx;
	json_t *dangling;	/* referenced paths with no file */
	uint64_t dangling_count;
	json_t *untracked;	/* files on disk the catalog does not know */
	uint64_t untracked_count;
	json_t *missing;	/* live rows without a file */
	uint64_t missing_count;
	uint64_t respelled_count;	/* through a link or another spelling */
};

static int keep_nothing(void *ctx, const char *link)
{
	(void)ctx;
	(void)link;
	return 0;
}

static int spelling_exists(void *ctx, const char *spelling, size_t len)
{
	struct stat st;

	(void)len;
	return store_stat_beneath(ctx, spelling, &st) == 0;
}

/* Does a value that names nothing exactly name a file as the checker
 * reads it: through a link, or under another certain spelling? */
static bool check_respelled(const struct store *store, const char *path)
{
	struct linkwalk_result res;

	if (linkwalk_resolve(store, path, keep_nothing, NULL, &res) == 0 &&
	    res.outcome == LINKWALK_RESOLVED)
		return true;
	return respell_each_spelling(path, strlen(path), spelling_exists, (void *)store) > 0;
}

static int check_reference(void *arg, const char *path, size_t len)
{
	struct check *check = arg;
	struct stat st;
	char copy[PATH_MAX];

	(void)len;
	snprintf(copy, sizeof(copy), "%s", path);
	if (store_stat_beneath(check->ctx->store, copy, &st) == 0 && !S_ISLNK(st.st_mode))
		return 0;
	if (check_respelled(check->ctx->store, copy)) {
		check->respelled_count++;
		return 0;
	}
	if (check->dangling_count++ < CHECK_EXAMPLES) {
		struct catalog_filter filter = { .state = CATALOG_QUARANTINED, .path = copy };
		struct selection sel = { check->ctx, NULL, json_array() };
		int err = catalog_query_rows(check->ctx->cat, &filter, select_row, &sel);
		if (err) {
			/* Stops the fetch: the check fails with the cause. */
			json_decref(sel.rows);
			return err;
		}
		json_t *obj = json_pack("{s:b}", "quarantined", json_array_size(sel.rows) > 0);
		admin_set_path(obj, "path", copy);
		if (json_array_size(sel.rows) > 0)
			json_object_set(obj, "quarantine_name",
					json_object_get(json_array_get(sel.rows, 0),
							"quarantine_name"));
		json_decref(sel.rows);
		json_array_append_new(check->dangling, obj);
	}
	return 0;
}

static int check_found(void *arg, const struct catalog_found *found)
{
	struct check *check = arg;
	struct catalog_row row;
	int err = catalog_get_current(check->ctx->cat, found->path, &row);

	if (err == -ENOENT || (!err && row.state != CATALOG_LIVE)) {
		if (check->untracked_count++ < CHECK_EXAMPLES) {
			json_t *obj = json_object();
			admin_set_path(obj, "path", found->path);
			json_array_append_new(check->untracked, obj);
		}
	}
	catalog_row_clear(&row);
	return 0;
}

static int check_live_row(void *arg, const struct catalog_row *row)
{
	struct check *check = arg;
	struct stat st;

	if (store_stat_beneath(check->ctx->store, row->path, &st) == 0)
		return 0;
	if (check->missing_count++ < CHECK_EXAMPLES) {
		json_t *obj = json_pack("{s:I}", "id", (json_int_t)row->id);
		admin_set_path(obj, "path", row->path);
		json_array_append_new(check->missing, obj);
	}
	return 0;
}

/* The near misses of the last scan: only a scan sees the files that no
 * value names exactly, so check shows what the last one found. */
static void check_near_misses(struct admin_context *ctx, json_t *response)
{
	struct catalog_scan scan;

	if (catalog_scan_get(ctx->cat, 0, &scan) != 0)
		return;
	json_object_set_new(response, "near_miss_scan", json_integer((json_int_t)scan.id));
	json_object_set_new(response, "near_misses", json_integer((json_int_t)scan.near_misses));
	json_object_set_new(response, "near_miss_examples", examples_json(scan.near_miss_examples));
}

static json_t *cmd_check(struct admin_context *ctx, const json_t *request)
{
	struct check check = { ctx, json_array(), 0, json_array(), 0, json_array(), 0, 0 };
	struct catalog_filter live = { .state = CATALOG_LIVE };
	struct adopt_walk *walk = NULL;
	json_t *response, *sources = json_array();
	const char *where = NULL;
	int err, more;

	(void)request;
	for (size_t i = 0; i < ctx->config->source_count; i++) {
		char error[SOURCE_ERROR_BYTES];
		struct source_report report;
		struct source *src;
		err = source_open(&ctx->config->sources[i], &src, error, sizeof(error));
		if (!err) {
			err = source_fetch(src, check_reference, &check, &report, error,
					   sizeof(error));
			source_close(src);
		}
		json_t *obj = json_pack("{s:s, s:b}", "name", ctx->config->sources[i].name,
					"ok", err == 0);
		if (err)
			json_object_set_new(obj, "error", text_json(error));
		json_array_append_new(sources, obj);
	}
	err = catalog_query_rows(ctx->cat, &live, check_live_row, &check);
	if (!err)
		err = adopt_walk_start(ctx->store, &walk);
	while (!err && (more = adopt_walk_step(walk, 10000, check_found, &check, &where)) > 0)
		;
	if (!err && more < 0)
		err = more;
	adopt_walk_free(walk);
	response = err ? failure("failed", "check stopped: %s", strerror(-err)) : success();
	json_object_set_new(response, "sources", sources);
	json_object_set_new(response, "dangling", check.dangling);
	json_object_set_new(response, "dangling_count", json_integer((json_int_t)check.dangling_count));
	json_object_set_new(response, "untracked", check.untracked);
	json_object_set_new(response, "untracked_count", json_integer((json_int_t)check.untracked_count));
	json_object_set_new(response, "missing", check.missing);
	json_object_set_new(response, "missing_count", json_integer((json_int_t)check.missing_count));
	json_object_set_new(response, "respelled_count",
			    json_integer((json_int_t)check.respelled_count));
	check_near_misses(ctx, response);
	if (ctx->config->source_count == 0)
		json_object_set_new(response, "note", json_string(
			"no source is configured: no reference was checked (give --config FILE)"));
	return response;
}

/* ------------------------------------------------------------------ */
/* Dispatch                                                             */
/* ------------------------------------------------------------------ */

static json_t *cmd_confirm(struct admin_context *ctx, const json_t *request)
{
	return cmd_decide(ctx, request, true);
}

static json_t *cmd_reject(struct admin_context *ctx, const json_t *request)
{
	return cmd_decide(ctx, request, false);
}

static json_t *cmd_pin_add(struct admin_context *ctx, const json_t *request)
{
	return cmd_pin(ctx, request, true);
}

static json_t *cmd_pin_remove(struct admin_context *ctx, const json_t *request)
{
	return cmd_pin(ctx, request, false);
}

struct command {
	const char *name;
	json_t *(*run)(struct admin_context *ctx, const json_t *request);
};

static const struct command commands[] = {
	{ "status", cmd_status },
	{ "metrics", cmd_metrics },
	{ "reload", cmd_reload },
	{ "ls", cmd_ls },
	{ "show", cmd_show },
	{ "quarantine", cmd_quarantine },
	{ "restore", cmd_restore },
	{ "pin", cmd_pin_add },
	{ "unpin", cmd_pin_remove },
	{ "pins", cmd_pins },
	{ "scan", cmd_scan },
	{ "confirm", cmd_confirm },
	{ "reject", cmd_reject },
	{ "purge", cmd_purge },
	{ "check", cmd_check },
	{ "log", cmd_log },
	{ "du", cmd_du },
};

/*
 * What each key of a request must hold, whichever command reads it.  The
 * commands read them with int_field() and friends, which fall back to a
 * default on a wrong type: without this check "dry_run": 1 would run a
 * real scan and "since_ms": -1 would overflow "now - since".  Keys not
 * listed are ignored, so an older daemon still serves a newer mediactl.
 */
enum field_type {
	FIELD_STRING,	/* a string */
	FIELD_STATE,	/* the name of a catalog state */
	FIELD_PATH,	/* a string under key, or the bytes in hex under key_hex */
	FIELD_FLAG,	/* true or false */
	FIELD_NUMBER,	/* an integer, 0 or more: a count, a size, an id, a duration */
};

static const struct {
	const char *key;
	enum field_type type;
} request_fields[] = {
	{ "state", FIELD_STATE },
	{ "glob", FIELD_STRING },
	{ "path", FIELD_PATH },
	{ "prefix", FIELD_PATH },
	{ "to", FIELD_PATH },
	{ "pattern", FIELD_PATH },
	{ "unreferenced", FIELD_FLAG },
	{ "pin", FIELD_FLAG },
	{ "dry_run", FIELD_FLAG },
	{ "expired", FIELD_FLAG },
	{ "all", FIELD_FLAG },
	{ "yes", FIELD_FLAG },
	{ "limit", FIELD_NUMBER },
	{ "larger_than", FIELD_NUMBER },
	{ "id", FIELD_NUMBER },
	{ "scan", FIELD_NUMBER },
	{ "older_than_ms", FIELD_NUMBER },
	{ "since_ms", FIELD_NUMBER },
};

/* The usage failure for a bad value under key, or NULL when it is fine. */
static json_t *check_field(const json_t *request, const char *key, enum field_type type)
{
	const json_t *value = json_object_get(request, key);
	char hex_key[64];
	const json_t *hex;
	char *path;
	int err;

	switch (type) {
	case FIELD_STRING:
		if (value && !json_is_string(value))
			return failure("usage", "'%s' must be a string", key);
		return NULL;
	case FIELD_STATE:
		if (value && (!json_is_string(value) ||
			      parse_state_name(json_string_value(value)) < 0))
			return failure("usage", "'%s' must name a state (live, quarantined, "
				       "purged, missing)", key);
		return NULL;
	case FIELD_PATH:
		if (value && !json_is_string(value))
			return failure("usage", "'%s' must be a string", key);
		snprintf(hex_key, sizeof(hex_key), "%s_hex", key);
		hex = json_object_get(request, hex_key);
		if (!hex)
			return NULL;
		err = json_is_string(hex) ? decode_hex(json_string_value(hex), &path) : -EINVAL;
		if (err == -ENOMEM)
			return failure("failed", "out of memory");
		if (err)
			return failure("usage", "'%s' must be a string of hex digits, two a byte, "
				       "with no 00 byte", hex_key);
		free(path);
		return NULL;
	case FIELD_FLAG:
		if (value && !json_is_boolean(value))
			return failure("usage", "'%s' must be true or false", key);
		return NULL;
	case FIELD_NUMBER:
		if (value && (!json_is_integer(value) || json_integer_value(value) < 0))
			return failure("usage", "'%s' must be a whole number, 0 or more", key);
		return NULL;
	}
	return NULL;
}

/* The command called name, or NULL when there is none. */
static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(name, commands[i].name) == 0)
			return &commands[i];
	return NULL;
}

json_t *admin_check_request(const json_t *request)
{
	const char *name = string_field(request, "command");
	json_t *refusal;

	if (!json_is_object(request) || !name)
		return failure("usage", "a request is an object with a \"command\"");
	if (!find_command(name))
		return failure("usage", "unknown command '%s'", name);
	for (size_t i = 0; i < sizeof(request_fields) / sizeof(request_fields[0]); i++) {
		refusal = check_field(request, request_fields[i].key, request_fields[i].type);
		if (refusal)
			return refusal;
	}
	return NULL;
}

json_t *admin_parse_request(const char *text, size_t len, json_t **refusal)
{
	json_error_t error;
	json_t *request = json_loadb(text, len, JSON_REJECT_DUPLICATES, &error);

	if (!request) {
		*refusal = failure("usage", "the request is not JSON: %s", error.text);
		return NULL;
	}
	*refusal = admin_check_request(request);
	if (*refusal) {
		json_decref(request);
		return NULL;
	}
	return request;
}

json_t *admin_execute(struct admin_context *ctx, const json_t *request)
{
	json_t *refusal = admin_check_request(request);

	if (refusal)
		return refusal;
	/* The catalog answers as of now: events still queued are committed. */
	if (ctx->sync)
		ctx->sync(ctx->daemon);
	return find_command(string_field(request, "command"))->run(ctx, request);
}
