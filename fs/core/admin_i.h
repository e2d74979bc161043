/*
 * admin_i.h: what the files of the admin module share (admin.c,
 * admin_json.c, admin_query.c, admin_action.c): the helpers that build
 * responses and read requests, and the commands that the table in
 * admin.c names.  Internal: nothing outside fs/core/admin*.c includes it;
 * the module's interface is admin.h.
 *
 * Every command takes a request that admin.c has checked (see
 * request_fields there), so the key readers below need not validate
 * types again.  Threads: as admin.h, one context per thread.
 */
#ifndef MEDIAFS_ADMIN_I_H
#define MEDIAFS_ADMIN_I_H

#include "admin.h"

#include <stdint.h>

/* ------------------------------------------------------------------ */
/* admin_json.c                                                         */
/* ------------------------------------------------------------------ */

/*
 * text as a JSON string; bytes that are not UTF-8 are written as \xNN.
 * NULL only when memory runs out.
 */
json_t *admin_text(const char *text);

/* {"ok": false, "kind": kind, "error": the message}; kind is "refused",
 * "usage" or "failed" (see admin.h). */
json_t *admin_failure(const char *kind, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* {"ok": true}. */
json_t *admin_success(void);

/* A failure of the catalog (err, -errno) with the catalog's own message. */
json_t *admin_catalog_failure(struct admin_context *ctx, int err);

/*
 * The answer of a command that read a list: on err (-errno from the
 * catalog), array is freed and the catalog's failure returned; else
 * success with array under key (which takes it).
 */
json_t *admin_list_answer(struct admin_context *ctx, int err, const char *key, json_t *array);

/*
 * Decode hex (two digits a byte, either case) into a malloc()ed string.
 * Returns 0, -EINVAL for an odd length, anything but a digit, or a 00
 * byte, or -ENOMEM; *out is set only on success.
 */
int admin_decode_hex(const char *hex, char **out);

/* The value under key, or fallback (int) / false / NULL when absent. */
int64_t admin_int_field(const json_t *obj, const char *key, int64_t fallback);
bool admin_bool_field(const json_t *obj, const char *key);
const char *admin_string_field(const json_t *obj, const char *key);

/* A catalog row, a scan, and a scan's examples (one a line) as JSON;
 * NULL only when memory runs out. */
json_t *admin_row_json(const struct admin_context *ctx, const struct catalog_row *row);
json_t *admin_scan_json(const struct catalog_scan *scan);
json_t *admin_examples_json(const char *lines);

/* Rows gathered as JSON, by catalog_query_rows() with admin_select_row(). */
struct admin_selection {
	struct admin_context *ctx;
	const char *glob;		/* fnmatch on the path, or NULL */
	json_t *rows;			/* matching quarantined rows */
};

/* Append row to sel->rows when it matches sel->glob: 0 or -ENOMEM. */
int admin_select_row(void *arg, const struct catalog_row *row);

/* ------------------------------------------------------------------ */
/* admin.c                                                              */
/* ------------------------------------------------------------------ */

/* The catalog state called name, or -2 when there is none. */
int admin_parse_state(const char *name);

/* ------------------------------------------------------------------ */
/* The commands: each takes a checked request, returns its response     */
/* ------------------------------------------------------------------ */

/* admin_query.c */
json_t *admin_cmd_status(struct admin_context *ctx, const json_t *request);
json_t *admin_cmd_metrics(struct admin_context *ctx, const json_t *request);
json_t *admin_cmd_ls(struct admin_context *ctx, const json_t *request);
json_t *admin_cmd_show(struct admin_context *ctx, const json_t *request);
json_t *admin_cmd_quarantine(struct admin_context *ctx, const json_t *request);
json_t *admin_cmd_log(struct admin_context *ctx, const json_t *request);
json_t *admin_cmd_du(struct admin_context *ctx, const json_t *request);
json_t *admin_cmd_pins(struct admin_context *ctx, const json_t *request);
json_t *admin_cmd_check(struct admin_context *ctx, const json_t *request);

/* admin_action.c */
json_t *admin_cmd_restore(struct admin_context *ctx, const json_t *request);
json_t *admin_cmd_purge(struct admin_context *ctx, const json_t *request);
json_t *admin_cmd_pin(struct admin_context *ctx, const json_t *request, bool add);
json_t *admin_cmd_reload(struct admin_context *ctx, const json_t *request);
json_t *admin_cmd_scan(struct admin_context *ctx, const json_t *request);
json_t *admin_cmd_decide(struct admin_context *ctx, const json_t *request, bool confirm);

#endif
