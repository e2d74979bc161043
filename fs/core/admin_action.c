/*
 * admin_action: the commands that change the store: restore, purge, pin
 * and unpin; and those that ask the daemon's checker: scan, confirm and
 * reject (through the context's hooks), and reload.
 */
#include "admin_i.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "pathnorm.h"
#include "policy.h"
#include "refmatch.h"
#include "refset.h"
#include "respell.h"
#include "source.h"

/* ------------------------------------------------------------------ */
/* Restore                                                              */
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

/*
 * The quarantined rows a restore or purge names: path (its newest
 * quarantined version), glob, id, scan, or since.  NULL with *error set
 * when the request names nothing usable.
 */
static json_t *select_quarantined(struct admin_context *ctx, const json_t *request,
				  json_t **error)
{
	char *path = admin_get_path(request, "path");
	const char *glob = admin_string_field(request, "glob");
	struct admin_selection sel = { ctx, glob, json_array() };
	struct catalog_filter filter = { .state = CATALOG_QUARANTINED, .path = path };
	int err;

	filter.scan_id = admin_int_field(request, "scan", 0);
	if (admin_int_field(request, "since_ms", 0))
		filter.state_changed_since_ms = clock_now_ms() - admin_int_field(request, "since_ms", 0);
	if (!path && !glob && !filter.scan_id && !filter.state_changed_since_ms &&
	    !json_object_get(request, "id") && !admin_bool_field(request, "all")) {
		*error = admin_failure("usage", "name what: a path, a glob, an id, a scan or a time");
		json_decref(sel.rows);
		return NULL;
	}
	if (json_object_get(request, "id")) {
		struct catalog_row row;
		err = catalog_get_row(ctx->cat, admin_int_field(request, "id", 0), &row);
		if (!err && row.state == CATALOG_QUARANTINED)
			err = admin_select_row(&sel, &row);
		catalog_row_clear(&row);
		if (err == -ENOENT)
			err = 0;
	} else {
		err = catalog_query_rows(ctx->cat, &filter, admin_select_row, &sel);
	}
	free(path);
	if (err) {
		json_decref(sel.rows);
		*error = admin_catalog_failure(ctx, err);
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
	int64_t id = admin_int_field(row, "id", 0), now = clock_now_ms();
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
		if (pin && catalog_pin_add(ctx->cat, target, now) != 0) {
			size_t used = err ? strlen(why) : 0;

			/* Both failed: the client hears of both. */
			snprintf(why + used, why_size - used, "%srestored, but the pin failed: %s",
				 used ? "; " : "", catalog_last_error(ctx->cat));
			err = err ? err : -EIO;
		}
		if (to)
			admin_set_path(row, "restored_to", to);
	}
	free(path);
	free(qname);
	return err;
}

json_t *admin_cmd_restore(struct admin_context *ctx, const json_t *request)
{
	char *to = admin_get_path(request, "to");
	bool pin = admin_bool_field(request, "pin");
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
		return admin_failure("usage", "--to names one new path: the selection holds %zu files",
				     json_array_size(rows));
	}
	json_array_foreach(rows, i, row) {
		char why[PATH_MAX + 128] = "";
		if (restore_row(ctx, row, to, pin, why, sizeof(why)) == 0) {
			json_array_append(restored, row);
		} else {
			json_object_set_new(row, "refused", admin_text(why));
			json_array_append(refused, row);
		}
	}
	free(to);
	json_decref(rows);
	if (json_array_size(restored) == 0 && json_array_size(refused) == 0) {
		json_decref(restored);
		json_decref(refused);
		return admin_failure("refused", "nothing in the quarantine matches");
	}
	response = json_array_size(restored) || !json_array_size(refused) ? admin_success() :
		   admin_failure("refused", "%s", admin_string_field(json_array_get(refused, 0), "refused"));
	json_object_set_new(response, "restored", restored);
	json_object_set_new(response, "refused", refused);
	return response;
}

/* ------------------------------------------------------------------ */
/* Purge                                                                */
/* ------------------------------------------------------------------ */

/*
 * The references every source holds now, for the checker's purge rule.
 * NULL with *error set when a source fails: an error is never "no
 * references" (promise 4), so nothing may be purged then.
 */
static struct refset *fetch_references(struct admin_context *ctx, json_t **error)
{
	struct refset *referenced = refset_new();

	if (!referenced) {
		*error = admin_failure("failed", "out of memory");
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
			*error = admin_failure("failed", "nothing is purged: %s", why);
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
	obj = admin_row_json(e->ctx, row);
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
		*error = admin_failure("failed", "nothing is purged: the references could not be "
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
		*error = admin_catalog_failure(ctx, err);
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

json_t *admin_cmd_purge(struct admin_context *ctx, const json_t *request)
{
	json_t *error = NULL, *rows, *purged = json_array(), *kept = json_array();
	json_t *kept_open = json_array(), *unrecorded = json_array(), *failed = json_array();
	json_t *response, *row;
	int64_t now = clock_now_ms();
	size_t i;

	if (admin_bool_field(request, "all") && !admin_bool_field(request, "yes")) {
		rows = NULL;
		error = admin_failure("usage", "purge --all deletes every quarantined file for good: "
				      "add --yes");
	} else if (admin_bool_field(request, "expired")) {
		rows = select_expired(ctx, kept, &error);
	} else {
		rows = select_quarantined(ctx, request, &error);
	}
	if (!rows) {
		json_decref(purged);
		json_decref(kept);
		json_decref(kept_open);
		json_decref(unrecorded);
		json_decref(failed);
		return error;
	}
	json_array_foreach(rows, i, row) {
		char *qname = admin_get_path(row, "quarantine_name");
		char *path = admin_get_path(row, "path");
		int err = qname ? purge_file(ctx, qname) : -ENOMEM;

		if (err == -EBUSY) {
			json_array_append(kept_open, row);
		} else if (err && err != -ENOENT) {
			/* Still in the quarantine: the client hears why. */
			json_object_set_new(row, "error", admin_text(strerror(-err)));
			json_array_append(failed, row);
		} else {
			if (catalog_set_purged(ctx->cat, admin_int_field(row, "id", 0), now, "admin") != 0) {
				json_object_set_new(row, "error",
						    admin_text(catalog_last_error(ctx->cat)));
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
		response = admin_failure("failed", "%zu files were deleted but the catalog could not "
					 "record it (%s); the next start reconciles it",
					 json_array_size(unrecorded),
					 json_string_value(json_object_get(json_array_get(unrecorded, 0),
									   "error")));
	else if (json_array_size(failed))
		response = admin_failure("failed", "%zu files could not be deleted (%s)",
					 json_array_size(failed),
					 json_string_value(json_object_get(json_array_get(failed, 0),
									   "error")));
	else if (json_array_size(purged) || !json_array_size(kept_open))
		response = admin_success();
	else
		response = admin_failure("refused", "%s is open for writing through the mount: it is "
					 "not purged while open", json_array_size(kept_open) > 1 ?
					 "every file" : "the file");
	json_object_set_new(response, "purged", purged);
	json_object_set_new(response, "kept", kept);
	json_object_set_new(response, "kept_open", kept_open);
	json_object_set_new(response, "unrecorded", unrecorded);
	json_object_set_new(response, "failed", failed);
	return response;
}

/* ------------------------------------------------------------------ */
/* Pins                                                                 */
/* ------------------------------------------------------------------ */

json_t *admin_cmd_pin(struct admin_context *ctx, const json_t *request, bool add)
{
	char *pattern = admin_get_path(request, "pattern");
	int err;

	if (!pattern || !*pattern) {
		free(pattern);
		return admin_failure("usage", "%s needs a path or a glob", add ? "pin" : "unpin");
	}
	err = add ? catalog_pin_add(ctx->cat, pattern, clock_now_ms()) :
		    catalog_pin_remove(ctx->cat, pattern);
	if (err == -ENOENT) {
		json_t *response = admin_failure("refused", "'%s' is not pinned", pattern);
		free(pattern);
		return response;
	}
	free(pattern);
	if (err)
		return admin_catalog_failure(ctx, err);
	return admin_cmd_pins(ctx, request);
}

/* ------------------------------------------------------------------ */
/* The checker's                                                        */
/* ------------------------------------------------------------------ */

static json_t *scan_response(int err, const struct catalog_scan *scan)
{
	json_t *response;

	if (err == -ENOENT)
		return admin_failure("refused", "no such held scan");
	if (err)
		return admin_failure("failed", "the scan did not finish: %s", strerror(-err));
	if (scan->status == CATALOG_SCAN_FAILED && scan->id == 0)
		response = admin_failure("failed", "%s", scan->message);
	else if (scan->status == CATALOG_SCAN_FAILED)
		response = admin_failure("failed", "scan %lld failed: %s", (long long)scan->id,
					 scan->message);
	else
		response = admin_success();
	json_object_set_new(response, "scan", admin_scan_json(scan));
	return response;
}

json_t *admin_cmd_reload(struct admin_context *ctx, const json_t *request)
{
	char message[2048];
	json_t *response;
	int err;

	(void)request;
	if (!ctx->reload)
		return admin_failure("refused", "a reload needs the daemon (--mount): a stopped store "
				     "reads its configuration at each command");
	err = ctx->reload(ctx->daemon, message, sizeof(message));
	if (err)
		return admin_failure(err == -EINVAL ? "refused" : "failed", "%s", message);
	response = admin_success();
	json_object_set_new(response, "message", admin_text(message));
	return response;
}

json_t *admin_cmd_scan(struct admin_context *ctx, const json_t *request)
{
	struct catalog_scan scan;

	if (!ctx->scan)
		return admin_failure("refused", "scans need the running daemon");
	return scan_response(ctx->scan(ctx->daemon, admin_bool_field(request, "dry_run"), &scan), &scan);
}

json_t *admin_cmd_decide(struct admin_context *ctx, const json_t *request, bool confirm)
{
	struct catalog_scan scan;
	int64_t id = admin_int_field(request, "id", 0);

	if (!ctx->decide)
		return admin_failure("refused", "confirm and reject need the running daemon");
	if (!id) {
		int err = catalog_scan_get_held(ctx->cat, &scan);

		if (err == -ENOENT)
			return admin_failure("refused", "no scan is held");
		if (err)
			return admin_catalog_failure(ctx, err);
		id = scan.id;
	}
	return scan_response(ctx->decide(ctx->daemon, id, confirm, &scan), &scan);
}
