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
	/* Daemon only; NULL offline. */
	void *daemon;
	void (*sync)(void *daemon);	/* commit what the mount reported so far */
	void (*on_restored)(void *daemon, const char *path, const char *qname);
	void (*on_purged)(void *daemon, const char *path, const char *qname);
	int (*scan)(void *daemon, bool dry_run, struct catalog_scan *out);
	int (*decide)(void *daemon, int64_t scan_id, bool confirm, struct catalog_scan *out);
	void (*add_status)(void *daemon, json_t *status);
};

/*
 * Execute one request ({"command": NAME, ...}) and return the response
 * (never NULL unless memory runs out).
 */
json_t *admin_execute(struct admin_context *ctx, const json_t *request);

/* A path as JSON (see above) under key in obj. */
void admin_set_path(json_t *obj, const char *key, const char *path);

/* The path a request gives under key (or key_hex), malloc()ed; NULL if none. */
char *admin_get_path(const json_t *obj, const char *key);

#endif
