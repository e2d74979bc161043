/*
 * admin_json: the responses' building blocks (failures, rows, scans, paths
 * that need not be UTF-8) and the readers of a request's keys.
 */
#include "admin_i.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pathnorm.h"

/*
 * text as a JSON string.  Messages quote paths, which need not be UTF-8,
 * and what clients sent; json_string() refuses such text (and a message
 * cut short in the middle of a character), which would leave a request
 * without an answer.  Then every byte outside printable ASCII is written
 * as \xNN instead.  NULL only when memory runs out.
 */
json_t *admin_text(const char *text)
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

json_t *admin_failure(const char *kind, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

json_t *admin_failure(const char *kind, const char *fmt, ...)
{
	char message[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	return json_pack("{s:b, s:s, s:o}", "ok", 0, "kind", kind, "error", admin_text(message));
}

json_t *admin_success(void)
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
int admin_decode_hex(const char *hex, char **out)
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
		return admin_decode_hex(hex, &path) == 0 ? path : NULL;
	return json_is_string(value) ? strdup(json_string_value(value)) : NULL;
}

int64_t admin_int_field(const json_t *obj, const char *key, int64_t fallback)
{
	json_t *value = json_object_get(obj, key);

	return json_is_integer(value) ? json_integer_value(value) : fallback;
}

bool admin_bool_field(const json_t *obj, const char *key)
{
	return json_is_true(json_object_get(obj, key));
}

const char *admin_string_field(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

json_t *admin_row_json(const struct admin_context *ctx, const struct catalog_row *row)
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
json_t *admin_examples_json(const char *lines)
{
	json_t *array = json_array();

	while (array && *lines) {
		size_t len = strcspn(lines, "\n");
		json_array_append_new(array, json_stringn(lines, len));
		lines += len + (lines[len] == '\n');
	}
	return array;
}

json_t *admin_scan_json(const struct catalog_scan *scan)
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
		json_object_set_new(obj, "hostile_examples", admin_examples_json(scan->hostile_examples));
		json_object_set_new(obj, "kept_open", json_integer((json_int_t)scan->kept_open));
		json_object_set_new(obj, "respelled", json_integer((json_int_t)scan->respelled));
		json_object_set_new(obj, "near_misses", json_integer((json_int_t)scan->near_misses));
		json_object_set_new(obj, "near_miss_examples",
				    admin_examples_json(scan->near_miss_examples));
	}
	return obj;
}

json_t *admin_catalog_failure(struct admin_context *ctx, int err)
{
	/* Building the answer ran out, not the catalog. */
	if (err == -ENOMEM)
		return admin_failure("failed", "out of memory");
	return admin_failure("failed", "catalog: %s (%s)", catalog_last_error(ctx->cat), strerror(-err));
}

int admin_select_row(void *arg, const struct catalog_row *row)
{
	struct admin_selection *sel = arg;

	if (sel->glob && fnmatch(sel->glob, row->path, 0) != 0)
		return 0;
	return json_array_append_new(sel->rows, admin_row_json(sel->ctx, row)) == 0 ? 0 : -ENOMEM;
}

json_t *admin_list_answer(struct admin_context *ctx, int err, const char *key, json_t *array)
{
	json_t *response;

	if (err) {
		json_decref(array);
		return admin_catalog_failure(ctx, err);
	}
	response = admin_success();
	json_object_set_new(response, key, array);
	return response;
}
