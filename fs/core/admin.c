/*
 * admin: the requests of the control socket, parsed, checked and
 * dispatched to one function per command.
 *
 * Map: admin.c (this file: the command table, the rules for each key of
 * a request, parsing and dispatch); admin_json.c (building responses and
 * reading requests: paths, rows, scans, failures); admin_query.c (what
 * only reads: status, metrics, ls, show, quarantine, log, du, pins,
 * check); admin_action.c (what changes the store: restore, purge, pin
 * and unpin, and the checker's scan, confirm, reject and reload).
 * admin_i.h is what they share.
 */
#include "admin_i.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Dispatch                                                             */
/* ------------------------------------------------------------------ */

static json_t *admin_cmd_confirm(struct admin_context *ctx, const json_t *request)
{
	return admin_cmd_decide(ctx, request, true);
}

static json_t *admin_cmd_reject(struct admin_context *ctx, const json_t *request)
{
	return admin_cmd_decide(ctx, request, false);
}

static json_t *admin_cmd_pin_add(struct admin_context *ctx, const json_t *request)
{
	return admin_cmd_pin(ctx, request, true);
}

static json_t *admin_cmd_pin_remove(struct admin_context *ctx, const json_t *request)
{
	return admin_cmd_pin(ctx, request, false);
}

struct command {
	const char *name;
	json_t *(*run)(struct admin_context *ctx, const json_t *request);
};

static const struct command commands[] = {
	{ "status", admin_cmd_status },
	{ "metrics", admin_cmd_metrics },
	{ "reload", admin_cmd_reload },
	{ "ls", admin_cmd_ls },
	{ "show", admin_cmd_show },
	{ "quarantine", admin_cmd_quarantine },
	{ "restore", admin_cmd_restore },
	{ "pin", admin_cmd_pin_add },
	{ "unpin", admin_cmd_pin_remove },
	{ "pins", admin_cmd_pins },
	{ "scan", admin_cmd_scan },
	{ "confirm", admin_cmd_confirm },
	{ "reject", admin_cmd_reject },
	{ "purge", admin_cmd_purge },
	{ "check", admin_cmd_check },
	{ "log", admin_cmd_log },
	{ "du", admin_cmd_du },
};

/*
 * What each key of a request must hold, whichever command reads it.  The
 * commands read them with admin_int_field() and friends, which fall back to a
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

int admin_parse_state(const char *name)
{
	for (int s = CATALOG_LIVE; s <= CATALOG_MISSING; s++)
		if (strcmp(name, catalog_state_name((enum catalog_state)s)) == 0)
			return s;
	return -2;
}

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
			return admin_failure("usage", "'%s' must be a string", key);
		return NULL;
	case FIELD_STATE:
		if (value && (!json_is_string(value) ||
			      admin_parse_state(json_string_value(value)) < 0))
			return admin_failure("usage", "'%s' must name a state (live, quarantined, "
					     "purged, missing)", key);
		return NULL;
	case FIELD_PATH:
		if (value && !json_is_string(value))
			return admin_failure("usage", "'%s' must be a string", key);
		snprintf(hex_key, sizeof(hex_key), "%s_hex", key);
		hex = json_object_get(request, hex_key);
		if (!hex)
			return NULL;
		err = json_is_string(hex) ? admin_decode_hex(json_string_value(hex), &path) : -EINVAL;
		if (err == -ENOMEM)
			return admin_failure("failed", "out of memory");
		if (err)
			return admin_failure("usage", "'%s' must be a string of hex digits, two a byte, "
					     "with no 00 byte", hex_key);
		free(path);
		return NULL;
	case FIELD_FLAG:
		if (value && !json_is_boolean(value))
			return admin_failure("usage", "'%s' must be true or false", key);
		return NULL;
	case FIELD_NUMBER:
		if (value && (!json_is_integer(value) || json_integer_value(value) < 0))
			return admin_failure("usage", "'%s' must be a whole number, 0 or more", key);
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

static json_t *admin_check_request(const json_t *request)
{
	const char *name = admin_string_field(request, "command");
	json_t *refusal;

	if (!json_is_object(request) || !name)
		return admin_failure("usage", "a request is an object with a \"command\"");
	if (!find_command(name))
		return admin_failure("usage", "unknown command '%s'", name);
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
		*refusal = admin_failure("usage", "the request is not JSON: %s", error.text);
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
	return find_command(admin_string_field(request, "command"))->run(ctx, request);
}
