/*
 * admin_query: the commands that only read: status and metrics, ls, show,
 * quarantine, log, du, pins, and check (the references, the catalog and
 * BACKING compared).
 */
#include "admin_i.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adopt.h"
#include "clock.h"
#include "linkwalk.h"
#include "metrics.h"
#include "respell.h"
#include "source.h"

enum {
	DEFAULT_LIMIT = 1000,
	CHECK_EXAMPLES = 50,
	DU_MAX_DIRS = 10000,
};

/* ------------------------------------------------------------------ */
/* Status                                                               */
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

json_t *admin_cmd_status(struct admin_context *ctx, const json_t *request)
{
	static const enum catalog_state states[] = {
		CATALOG_LIVE, CATALOG_QUARANTINED, CATALOG_PURGED, CATALOG_MISSING,
	};
	uint64_t counts[4], bytes[4];
	struct catalog_scan scan;
	json_t *response = admin_success(), *totals = json_object();
	int err = catalog_totals_by_state(ctx->cat, counts, bytes);

	(void)request;
	if (err) {
		json_decref(response);
		json_decref(totals);
		return admin_catalog_failure(ctx, err);
	}
	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		json_object_set_new(totals, catalog_state_name(states[i]),
				    json_pack("{s:I, s:I}", "files", (json_int_t)counts[states[i]],
					      "bytes", (json_int_t)bytes[states[i]]));
	json_object_set_new(response, "totals", totals);
	json_object_set_new(response, "backing", json_string(ctx->store->root_path[0] ?
							      ctx->store->root_path : "/"));
	err = catalog_scan_get(ctx->cat, 0, &scan);
	if (!err)
		json_object_set_new(response, "last_scan", admin_scan_json(&scan));
	if (!err || err == -ENOENT)
		err = catalog_scan_get_held(ctx->cat, &scan);
	if (!err)
		json_object_set_new(response, "held_scan", admin_scan_json(&scan));
	if (err && err != -ENOENT) {
		json_decref(response);
		return admin_catalog_failure(ctx, err);
	}
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
		return admin_catalog_failure(ctx, err);
	}
	if (ctx->add_status)
		ctx->add_status(ctx->daemon, response);
	return response;
}

/* The status in Prometheus' text format, as "text". */
json_t *admin_cmd_metrics(struct admin_context *ctx, const json_t *request)
{
	json_t *status = admin_cmd_status(ctx, request), *response;
	char *text;

	if (!json_is_true(json_object_get(status, "ok")))
		return status;
	text = metrics_render(status);
	json_decref(status);
	if (!text)
		return admin_failure("failed", "out of memory");
	response = admin_success();
	json_object_set_new(response, "text", json_string(text));
	free(text);
	return response;
}

/* ------------------------------------------------------------------ */
/* Rows and the audit log                                               */
/* ------------------------------------------------------------------ */

struct row_list {
	const struct admin_context *ctx;
	json_t *array;
};

static int append_row(void *arg, const struct catalog_row *row)
{
	struct row_list *list = arg;
	json_t *obj = admin_row_json(list->ctx, row);

	return obj && json_array_append_new(list->array, obj) == 0 ? 0 : -ENOMEM;
}

static json_t *query(struct admin_context *ctx, const struct catalog_filter *filter)
{
	struct row_list list = { ctx, json_array() };
	int err = catalog_query_rows(ctx->cat, filter, append_row, &list);

	return admin_list_answer(ctx, err, "files", list.array);
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
	int err = catalog_get_row(u->ctx->cat, id, &row);

	/* Gone since the scan asked: nothing to list. */
	if (err == -ENOENT)
		return 0;
	if (!err && row.state == CATALOG_LIVE && under_prefix(row.path, u->prefix) &&
	    json_array_append_new(u->files, admin_row_json(u->ctx, &row)) != 0)
		err = -ENOMEM;
	catalog_row_clear(&row);
	return err;
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
		return admin_failure("refused", "--unreferenced needs the running daemon (it asks the "
				     "databases)");
	}
	/* Asked as a scan would ask, but nothing is recorded: no scan
	 * number, no candidates kept, no line in the log. */
	err = ctx->unreferenced(ctx->daemon, &ids, &count, &scan);
	if (err || scan.status == CATALOG_SCAN_FAILED) {
		free(ids);
		json_decref(u.files);
		if (err)
			return admin_failure("failed", "the databases could not be asked: %s",
					     strerror(-err));
		return admin_failure("failed", "%s", scan.message);
	}
	for (size_t i = 0; !err && i < count; i++)
		err = add_candidate_row(&u, ids[i]);
	free(ids);
	if (err) {
		json_decref(u.files);
		return admin_catalog_failure(ctx, err);
	}
	response = admin_success();
	json_object_set_new(response, "live", json_integer((json_int_t)scan.live));
	json_object_set_new(response, "referenced", json_integer((json_int_t)scan.referenced));
	json_object_set_new(response, "files", u.files);
	return response;
}

json_t *admin_cmd_ls(struct admin_context *ctx, const json_t *request)
{
	const char *state = admin_string_field(request, "state");
	char *prefix = admin_get_path(request, "prefix");
	struct catalog_filter filter = {
		.prefix = prefix,
		.state = -1,
		.larger_than = admin_int_field(request, "larger_than", 0),
		.limit = (size_t)admin_int_field(request, "limit", 0),
	};
	json_t *response;
	int64_t older = admin_int_field(request, "older_than_ms", 0);

	if (state)
		filter.state = admin_parse_state(state);
	if (older)
		filter.changed_before_ms = clock_now_ms() - older;
	if (admin_bool_field(request, "unreferenced"))
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

json_t *admin_cmd_show(struct admin_context *ctx, const json_t *request)
{
	char *path = admin_get_path(request, "path");
	struct catalog_filter filter = { .state = -1, .path = path };
	struct audit_list audit = { json_array() };
	json_t *response;
	int err;

	if (!path) {
		json_decref(audit.array);
		return admin_failure("usage", "show needs a path");
	}
	response = query(ctx, &filter);
	err = catalog_query_audit(ctx->cat, 0, path, 0, append_audit, &audit);
	if (!err && json_is_true(json_object_get(response, "ok")) &&
	    json_array_size(json_object_get(response, "files")) == 0 &&
	    json_array_size(audit.array) == 0) {
		json_decref(response);
		json_decref(audit.array);
		response = admin_failure("refused", "the catalog knows nothing of '%s'", path);
		free(path);
		return response;
	}
	free(path);
	if (err) {
		json_decref(response);
		json_decref(audit.array);
		return admin_catalog_failure(ctx, err);
	}
	json_object_set_new(response, "audit", audit.array);
	return response;
}

json_t *admin_cmd_quarantine(struct admin_context *ctx, const json_t *request)
{
	struct catalog_filter filter = {
		.state = CATALOG_QUARANTINED,
		.limit = (size_t)admin_int_field(request, "limit", 0),
	};

	return query(ctx, &filter);
}

json_t *admin_cmd_log(struct admin_context *ctx, const json_t *request)
{
	char *path = admin_get_path(request, "path");
	int64_t since = admin_int_field(request, "since_ms", 0);
	struct audit_list list = { json_array() };
	int err;

	if (since)
		since = clock_now_ms() - since;
	err = catalog_query_audit(ctx->cat, since, path,
				  (size_t)admin_int_field(request, "limit", DEFAULT_LIMIT), append_audit,
				  &list);
	free(path);
	return admin_list_answer(ctx, err, "entries", list.array);
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
	json_object_set_new(dir, field, json_integer(admin_int_field(dir, field, 0) + 1));
	snprintf(field, sizeof(field), "%s_bytes", state);
	json_object_set_new(dir, field, json_integer(admin_int_field(dir, field, 0) +
						     (row->size > 0 ? row->size : 0)));
	if (row->state == CATALOG_QUARANTINED && row->size > 0)
		du->reclaimable += (uint64_t)row->size;
	return 0;
}

json_t *admin_cmd_du(struct admin_context *ctx, const json_t *request)
{
	char *prefix = admin_get_path(request, "prefix");
	struct du du = { prefix && *prefix ? prefix : NULL, json_object(), 0 };
	struct catalog_filter filter = { .state = -1, .prefix = du.prefix };
	json_t *response;
	int err = catalog_query_rows(ctx->cat, &filter, du_row, &du);

	free(prefix);
	response = admin_list_answer(ctx, err, "dirs", du.dirs);
	if (!err)
		json_object_set_new(response, "reclaimable_bytes",
				    json_integer((json_int_t)du.reclaimable));
	return response;
}

static int append_pin(void *arg, const char *pattern, int64_t created_ms)
{
	json_t *obj = json_pack("{s:I}", "created_ms", (json_int_t)created_ms);

	if (!obj)
		return -ENOMEM;
	admin_set_path(obj, "pattern", pattern);
	return json_array_append_new(arg, obj) == 0 ? 0 : -ENOMEM;
}

json_t *admin_cmd_pins(struct admin_context *ctx, const json_t *request)
{
	json_t *pins = json_array();

	(void)request;
	return admin_list_answer(ctx, catalog_each_pin(ctx->cat, append_pin, pins), "pins", pins);
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
		struct admin_selection sel = { check->ctx, NULL, json_array() };
		int err = catalog_query_rows(check->ctx->cat, &filter, admin_select_row, &sel);
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
		err = 0;
		if (check->untracked_count++ < CHECK_EXAMPLES) {
			json_t *obj = json_object();
			admin_set_path(obj, "path", found->path);
			json_array_append_new(check->untracked, obj);
		}
	}
	catalog_row_clear(&row);
	/* Stops the walk: the check fails with the cause. */
	return err;
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

/* The near misses of the last scan (read as last, 0 or -errno, -ENOENT
 * when there was none): only a scan sees the files that no value names
 * exactly, so check shows what the last one found. */
static void check_near_misses(const struct catalog_scan *last, json_t *response)
{
	json_object_set_new(response, "near_miss_scan", json_integer((json_int_t)last->id));
	json_object_set_new(response, "near_misses", json_integer((json_int_t)last->near_misses));
	json_object_set_new(response, "near_miss_examples",
			    admin_examples_json(last->near_miss_examples));
}

json_t *admin_cmd_check(struct admin_context *ctx, const json_t *request)
{
	struct check check = { ctx, json_array(), 0, json_array(), 0, json_array(), 0, 0 };
	struct catalog_filter live = { .state = CATALOG_LIVE };
	struct adopt_walk *walk = NULL;
	struct catalog_scan last;
	json_t *response, *sources = json_array();
	const char *where = NULL;
	int err, more, last_err;

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
			json_object_set_new(obj, "error", admin_text(error));
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
	last_err = catalog_scan_get(ctx->cat, 0, &last);
	if (!err && last_err != -ENOENT)
		err = last_err;
	response = err ? admin_failure("failed", "check stopped: %s", strerror(-err)) : admin_success();
	json_object_set_new(response, "sources", sources);
	json_object_set_new(response, "dangling", check.dangling);
	json_object_set_new(response, "dangling_count", json_integer((json_int_t)check.dangling_count));
	json_object_set_new(response, "untracked", check.untracked);
	json_object_set_new(response, "untracked_count", json_integer((json_int_t)check.untracked_count));
	json_object_set_new(response, "missing", check.missing);
	json_object_set_new(response, "missing_count", json_integer((json_int_t)check.missing_count));
	json_object_set_new(response, "respelled_count",
			    json_integer((json_int_t)check.respelled_count));
	if (last_err == 0)
		check_near_misses(&last, response);
	if (ctx->config->source_count == 0)
		json_object_set_new(response, "note", json_string(
			"no source is configured: no reference was checked (give --config FILE)"));
	return response;
}
