/*
 * admin: what an admin can ask of a store, as requests and responses in
 * JSON (the protocol of the control socket, see docs/mediactl.md).
 *
 * The same code serves the running daemon (through the control socket)
 * and mediactl's offline mode (on the catalog directly, with the store's
 * lock held), so both answer the same way.  Commands that need the
 * daemon's threads (scan, confirm, reject) go through hooks that are NULL
 * offline.  Nothing here knows FUSE; the daemon's hooks tell the kernel.
 *
 * A response is {"ok": true, ...} or {"ok": false, "error": "...",
 * "kind": "refused" | "usage" | "failed"}: mediactl exits 1 for refused
 * and failed, 2 for usage.
 *
 * Paths travel as JSON strings when they are UTF-8; otherwise as "path"
 * (escaped for display) plus "path_hex" (the bytes), and requests accept
 * "path_hex" wherever they accept "path".
 *
 * Threads: one struct admin_context per thread (it holds a catalog
 * connection).
 */
#ifndef MEDIAFS_ADMIN_H
#define MEDIAFS_ADMIN_H

#include <jansson.h>
#include <stdbool.h>

#include "catalog.h"
#include "config.h"
#include "quarantine.h"
#include "store.h"

struct admin_context {
	struct catalog *cat;
	const struct store *store;
	struct quarantine *quarantine;
	const struct config *config;		/* settings; sources for "check" */
	/* Where config came from offline: "given" (--config), "remembered"
	 * (the file the daemon last ran with) or "none" (the defaults, no
	 * source); NULL in the daemon. */
	const char *config_origin;
	/* Daemon only; NULL offline. */
	void *daemon;
	void (*sync)(void *daemon);	/* commit what the mount reported so far */
	void (*on_restored)(void *daemon, const char *path, const char *qname);
	void (*on_purged)(void *daemon, const char *path, const char *qname);
	/* Around the purge of the quarantined file st: purge_begin returns
	 * -EBUSY (and the file stays) while it is open for writing through
	 * the mount, else 0; purge_end follows, purged saying if it went. */
	int (*purge_begin)(void *daemon, const struct stat *st);
	void (*purge_end)(void *daemon, bool purged);
	int (*scan)(void *daemon, bool dry_run, struct catalog_scan *out);
	/* The ids of the live files no source references (and old enough),
	 * found as a scan would without recording a scan; *ids is freed by
	 * the caller. */
	int (*unreferenced)(void *daemon, int64_t **ids, size_t *count, struct catalog_scan *out);
	int (*decide)(void *daemon, int64_t scan_id, bool confirm, struct catalog_scan *out);
	void (*add_status)(void *daemon, json_t *status);
	/* Read the configuration file again and apply it; 0 or -errno, with
	 * one sentence in message either way. */
	int (*reload)(void *daemon, char *message, size_t size);
};

/*
 * Parse one request line as it came from a client (len bytes, no newline,
 * no NUL terminator needed; any bytes at all) and check it: it must be an
 * object whose "command" names a command and whose keys hold what the
 * commands read from them (flags are booleans, numbers are integers >= 0,
 * paths are strings and their *_hex forms are hex without a 00 byte,
 * "state" names a state; other keys are ignored).  Returns the request,
 * which the caller owns and hands to admin_execute(), or NULL with
 * *refusal set to the response to send instead (a "usage" failure; NULL
 * only when memory runs out).  Touches nothing but memory: safe from any
 * thread.
 */
json_t *admin_parse_request(const char *text, size_t len, json_t **refusal);

/*
 * Execute one request ({"command": NAME, ...}) and return the response
 * (never NULL unless memory runs out).  The request is checked first as
 * admin_parse_request() checks it, so mediactl's offline requests and the
 * socket's are held to the same rules.
 */
json_t *admin_execute(struct admin_context *ctx, const json_t *request);

/* A path as JSON (see above) under key in obj. */
void admin_set_path(json_t *obj, const char *key, const char *path);

/*
 * The path a request gives under key (or key_hex, which wins), malloc()ed;
 * NULL if there is none, if key_hex is not valid hex or holds a 00 byte,
 * or if memory runs out.
 */
char *admin_get_path(const json_t *obj, const char *key);

#endif
