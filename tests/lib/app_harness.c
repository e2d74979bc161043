/*
 * app_harness: the application's database, the configuration, the mount
 * and mediactl for the Check tests that run the checker.
 *
 * File map: the database, the configuration and the mount, mediactl, the
 * files.
 */
#include "app_harness.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
	SQL_BYTES = 4096,
	SQLITE_BUSY_MS = 5000,
	MAX_CTL_ARGS = 40,
};

/* ------------------------------------------------------------------ */
/* The application database                                             */
/* ------------------------------------------------------------------ */

static void app_exec_sql(const struct app_harness *app, const char *sql)
{
	char *error = NULL;
	sqlite3 *db;

	if (app->pg) {
		ck_assert_msg(pg_harness_exec(app->pg, "app", sql) == 0, "pg: %s", sql);
		return;
	}
	ck_assert_int_eq(sqlite3_open(app->db_path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, SQLITE_BUSY_MS);
	ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, &error) == SQLITE_OK, "sqlite: %s: %s",
		      sql, error ? error : "");
	sqlite3_close(db);
}

void app_exec(const struct app_harness *app, const char *fmt, ...)
{
	char sql[SQL_BYTES];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	app_exec_sql(app, sql);
}

const char *app_key_type(const struct app_harness *app)
{
	return app->pg ? "serial primary key" : "integer primary key";
}

/* Split "table.column" into its two names. */
static void split_column(const char *column, char *table, char *name, size_t size)
{
	const char *dot = strchr(column, '.');

	ck_assert_msg(dot && (size_t)(dot - column) < size && strlen(dot + 1) < size,
		      "'%s' is not table.column", column);
	snprintf(table, size, "%.*s", (int)(dot - column), column);
	snprintf(name, size, "%s", dot + 1);
}

void app_create_tables(const struct app_harness *app, const char *const columns[])
{
	char table[64], name[64];

	for (size_t i = 0; columns[i]; i++) {
		split_column(columns[i], table, name, sizeof(table));
		app_exec(app, "CREATE TABLE %s (id %s, %s text)", table, app_key_type(app), name);
	}
}

void app_insert(const struct app_harness *app, const char *column, const char *value)
{
	char table[64], name[64];

	split_column(column, table, name, sizeof(table));
	app_exec(app, "INSERT INTO %s (%s) VALUES ('%s')", table, name, value);
}

static void app_reset(const struct app_harness *app)
{
	if (app->pg) {
		pg_harness_exec(app->pg, NULL, "DROP DATABASE IF EXISTS app WITH (FORCE)");
		ck_assert_int_eq(pg_harness_exec(app->pg, NULL, "CREATE DATABASE app"), 0);
		return;
	}
	ck_assert_msg(unlink(app->db_path) == 0 || errno == ENOENT, "unlink '%s': %s",
		      app->db_path, strerror(errno));
}

void app_require_mediactl(void)
{
	harness_require_fuse();
	if (!getenv("MEDIACTL_BIN")) {
		printf("skip: $MEDIACTL_BIN is not set\n");
		exit(HARNESS_EXIT_SKIP);
	}
}

int app_run_suite(Suite *s)
{
	SRunner *runner = srunner_create(s);
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed;
}

int app_run_over_both(Suite *(*make)(bool on_pg), struct pg_harness *pg, bool *on_pg)
{
	int failed;

	*on_pg = false;
	failed = app_run_suite(make(false));
	if (pg_harness_start(pg) != 0) {
		printf("PostgreSQL is not available here: its half of the tests is skipped\n");
		return failed ? EXIT_FAILURE : EXIT_SUCCESS;
	}
	*on_pg = true;
	failed += app_run_suite(make(true));
	pg_harness_destroy(pg);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

void app_setup(struct app_harness *app, struct mount_harness *h, const char *name,
	       const struct pg_harness *pg, const char *defaults)
{
	char runtime[600];

	memset(app, 0, sizeof(*app));
	app->h = h;
	app->pg = pg;
	app->defaults = defaults;
	app->source = "columns = photo.image, gallery.thumb";
	ck_assert_int_eq(harness_init(h, name), 0);
	ck_assert_int_eq(harness_use_test_clock(h), 0);
	snprintf(runtime, sizeof(runtime), "%s/run", h->dir);
	setenv("MEDIAFS_RUNTIME_DIR", runtime, 1);
	snprintf(app->db_path, sizeof(app->db_path), "%s/app.db", h->dir);
	snprintf(app->config_path, sizeof(app->config_path), "%s/mediafs.ini", h->dir);
	app_reset(app);
}

/* ------------------------------------------------------------------ */
/* The configuration and the mount                                      */
/* ------------------------------------------------------------------ */

void app_url(const struct app_harness *app, char *out, size_t size)
{
	if (app->pg)
		snprintf(out, size, "postgresql:///app?host=%s&user=%s", app->pg->dir,
			 PG_HARNESS_SUPERUSER);
	else
		snprintf(out, size, "sqlite:///%s", app->db_path);
}

/* Each default line whose key the settings do not name. */
static void write_defaults(FILE *f, const char *defaults, const char *settings)
{
	const char *line = defaults, *end;

	for (; line && *line; line = *end ? end + 1 : end) {
		char key[64];
		end = strchrnul(line, '\n');
		if (sscanf(line, "%63s", key) == 1 && settings && strstr(settings, key))
			continue;
		fprintf(f, "%.*s\n", (int)(end - line), line);
	}
}

void app_write_config(struct app_harness *app, const char *settings)
{
	char url[1024];
	FILE *f = fopen(app->config_path, "w");

	ck_assert_msg(f != NULL, "create '%s': %s", app->config_path, strerror(errno));
	app_url(app, url, sizeof(url));
	fprintf(f, "[mediafs]\n%s", settings ? settings : "");
	if (settings && *settings && settings[strlen(settings) - 1] != '\n')
		fputc('\n', f);
	write_defaults(f, app->defaults, settings);
	fprintf(f, "\n[source app]\nurl = %s\n%s\n", url, app->source);
	ck_assert_int_eq(fclose(f), 0);
}

void app_mount(struct app_harness *app, const char *settings)
{
	char option[700];
	const char *args[] = { "-o", option, app->options ? "-o" : NULL, app->options, NULL };

	app_write_config(app, settings);
	snprintf(option, sizeof(option), "config=%s", app->config_path);
	harness_clear_log(app->h);
	ck_assert_int_eq(harness_mount(app->h, args), 0);
	ck_assert_msg(harness_wait_log(app->h, "(startup)", APP_WAIT_MS), "the startup scan runs");
}

/* ------------------------------------------------------------------ */
/* mediactl                                                             */
/* ------------------------------------------------------------------ */

/* "mediactl [--json] --mount MNT args..." into *r; returns its status. */
static int run_mediactl(const struct app_harness *app, bool json, struct harness_output *r,
			const char *const args[])
{
	const char *argv[MAX_CTL_ARGS + 1] = { getenv("MEDIACTL_BIN") };
	int argc = 1;

	ck_assert_msg(argv[0] != NULL, "$MEDIACTL_BIN is set");
	if (json)
		argv[argc++] = "--json";
	argv[argc++] = "--mount";
	argv[argc++] = app->h->mountpoint;
	for (int i = 0; args[i]; i++) {
		ck_assert_int_lt(argc, MAX_CTL_ARGS);
		argv[argc++] = args[i];
	}
	argv[argc] = NULL;
	return harness_run(r, 0, argv);
}

int app_mediactl_argv(struct harness_output *r, uid_t uid, const char *const args[])
{
	const char *argv[MAX_CTL_ARGS + 1] = { getenv("MEDIACTL_BIN") };
	int argc = 1;

	ck_assert_msg(argv[0] != NULL, "$MEDIACTL_BIN is set");
	for (int i = 0; args[i]; i++) {
		ck_assert_int_lt(argc, MAX_CTL_ARGS);
		argv[argc++] = args[i];
	}
	argv[argc] = NULL;
	return harness_run(r, uid, argv);
}

int app_ctl_argv(const struct app_harness *app, struct app_ctl *r, const char *const args[])
{
	run_mediactl(app, true, &r->run, args);
	r->json = json_loads(r->run.out, 0, NULL);
	return r->run.status;
}

/* Collect the NULL-terminated arguments after first into args. */
static void collect_args(const char *args[], const char *first, va_list ap)
{
	int argc = 0;

	for (const char *arg = first; arg; arg = va_arg(ap, const char *)) {
		ck_assert_int_lt(argc, MAX_CTL_ARGS - 5);
		args[argc++] = arg;
	}
	args[argc] = NULL;
}

void app_ctl_clear(struct app_ctl *r)
{
	json_decref(r->json);
	r->json = NULL;
}

/* "mediactl [--json] --mount MNT first ..." into a new *r (the caller
 * frees it); returns the exit status. */
static int run_listed(const struct app_harness *app, bool json, struct harness_output **r,
		      const char *first, va_list ap)
{
	const char *args[MAX_CTL_ARGS];

	*r = malloc(sizeof(**r));
	ck_assert_ptr_nonnull(*r);
	collect_args(args, first, ap);
	return run_mediactl(app, json, *r, args);
}

int app_mediactl(const struct app_harness *app, json_t **out, const char *first, ...)
{
	struct harness_output *r;
	json_t *json;
	int status;
	va_list ap;

	va_start(ap, first);
	status = run_listed(app, true, &r, first, ap);
	va_end(ap);
	json = json_loads(r->out, 0, NULL);
	if (out) {
		ck_assert_msg(json != NULL, "mediactl %s answers in JSON (status %d): %s",
			      first ? first : "", status, r->out);
		*out = json;
	} else {
		json_decref(json);
	}
	free(r);
	return status;
}

int app_mediactl_text(const struct app_harness *app, char *out, size_t size,
		      const char *first, ...)
{
	struct harness_output *r;
	int status;
	va_list ap;

	va_start(ap, first);
	status = run_listed(app, false, &r, first, ap);
	va_end(ap);
	snprintf(out, size, "%s", r->out);
	free(r);
	return status;
}

const char *app_scan_status(json_t *answer)
{
	const char *s = json_string_value(json_object_get(json_object_get(answer, "scan"),
							  "status"));

	return s ? s : "";
}

long long app_scan_number(json_t *answer, const char *key)
{
	return json_integer_value(json_object_get(json_object_get(answer, "scan"), key));
}

/* ------------------------------------------------------------------ */
/* Files                                                                */
/* ------------------------------------------------------------------ */

void app_put(const struct app_harness *app, const char *rel, const char *content)
{
	int err = harness_write_file(harness_mount_path(app->h, rel), content, strlen(content));

	ck_assert_msg(err == 0, "write '%s': %s", rel, strerror(-err));
	app_wait_closed(app, rel);
}

bool app_in_backing(const struct app_harness *app, const char *rel)
{
	struct stat st;

	return lstat(harness_backing_path(app->h, rel), &st) == 0;
}

int app_in_quarantine(const struct app_harness *app, const char *rel)
{
	char path[PATH_MAX];
	struct dirent *id;
	struct stat st;
	int n = 0;
	DIR *ids;

	snprintf(path, sizeof(path), "%s/.mediafs/quarantine", app->h->backing);
	ids = opendir(path);
	if (!ids)
		return -1;
	while ((id = readdir(ids)) != NULL) {
		if (id->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/.mediafs/quarantine/%s/%s", app->h->backing,
			 id->d_name, rel);
		n += lstat(path, &st) == 0 && !S_ISDIR(st.st_mode);
	}
	closedir(ids);
	return n;
}

struct closed_probe {
	struct mount_harness *h;
	const char *path;
};

static bool is_closed(void *ctx)
{
	struct closed_probe *probe = ctx;

	return !harness_daemon_writes(probe->h, probe->path);
}

void app_wait_closed(const struct app_harness *app, const char *rel)
{
	char path[PATH_MAX];
	struct closed_probe probe = { app->h, path };

	snprintf(path, sizeof(path), "%s", harness_backing_path(app->h, rel));
	ck_assert_msg(harness_wait_until(is_closed, &probe, APP_WAIT_MS),
		      "the daemon releases '%s'", rel);
}

void app_assert_bytes(const char *path, const char *content, const char *where)
{
	char buf[4096];
	size_t len = 0;
	int err = harness_read_file(path, buf, sizeof(buf), &len);

	ck_assert_msg(err == 0, "%s: cannot read '%s': %s", where, path, strerror(-err));
	ck_assert_msg(len == strlen(content) && memcmp(buf, content, len) == 0,
		      "%s: '%s' holds other bytes (%zu of %zu)", where, path, len,
		      strlen(content));
}

void app_advance_clock(const struct app_harness *app, long ms)
{
	int err = harness_advance_clock(app->h, ms);

	ck_assert_msg(err == 0, "advance the test clock: %s", strerror(-err));
}
