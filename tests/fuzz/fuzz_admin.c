/*
 * Fuzz target for fs/core/admin.c: one line from a client of the control
 * socket, any bytes at all, through admin_parse_request(): the layer that
 * decides what reaches the commands.  Commands themselves are not run (they
 * need a store and a catalog); the checks are what they rely on.
 *
 * Invariants: a line gives exactly one of a request and a refusal; a
 * refusal is a well-formed "usage" response that can be sent; a request
 * survives being written out and parsed back (so it passes the checks
 * again, unchanged), and every path it gives (as text or hex) decodes to a
 * string of the right length that admin_set_path() writes back losslessly.
 */
#include <string.h>

#include "admin.h"
#include "fuzz.h"

/* The keys that carry paths, each also as key_hex. */
static const char *const path_keys[] = { "path", "prefix", "to", "pattern" };

static void check_refusal(const json_t *refusal)
{
	const char *error = json_string_value(json_object_get(refusal, "error"));
	const char *kind = json_string_value(json_object_get(refusal, "kind"));
	char *text;

	fuzz_check(json_is_object(refusal), "a refusal is an object");
	fuzz_check(json_is_false(json_object_get(refusal, "ok")), "a refusal is not ok");
	fuzz_check(kind && strcmp(kind, "usage") == 0, "a refusal of a request is a usage error");
	fuzz_check(error && *error, "a refusal says why");
	text = json_dumps(refusal, JSON_COMPACT);
	fuzz_check(text != NULL, "a refusal can be sent");
	free(text);
}

static void check_path(const json_t *request, const char *key)
{
	char hex_key[64];
	const char *hex;
	char *path = admin_get_path(request, key);
	json_t *copy;
	char *back;

	snprintf(hex_key, sizeof(hex_key), "%s_hex", key);
	hex = json_string_value(json_object_get(request, hex_key));
	if (!path) {
		fuzz_check(!hex && !json_object_get(request, key), "a path that is given decodes");
		return;
	}
	if (hex)
		fuzz_check(strlen(path) * 2 == strlen(hex), "a hex path is all its bytes");
	copy = json_object();
	if (copy) {
		admin_set_path(copy, key, path);
		back = admin_get_path(copy, key);
		fuzz_check(back && strcmp(back, path) == 0, "a path written out reads back");
		free(back);
		json_decref(copy);
	}
	free(path);
}

static void check_request(const json_t *request)
{
	json_t *refusal = NULL;
	json_t *reparsed;
	char *text;

	for (size_t i = 0; i < sizeof(path_keys) / sizeof(path_keys[0]); i++)
		check_path(request, path_keys[i]);
	text = json_dumps(request, JSON_COMPACT);
	if (!text)
		return;
	reparsed = admin_parse_request(text, strlen(text), &refusal);
	fuzz_check(reparsed && !refusal, "a request written out parses again");
	fuzz_check(json_equal(reparsed, request), "and is the same request");
	json_decref(reparsed);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *refusal = NULL;
	json_t *request = admin_parse_request((const char *)data, size, &refusal);

	fuzz_check(!request != !refusal, "a line is a request or a refusal, not both");
	if (refusal)
		check_refusal(refusal);
	else
		check_request(request);
	json_decref(request);
	json_decref(refusal);
	return 0;
}
