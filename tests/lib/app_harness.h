/*
 * app_harness: an application beside a real mediafs mount, for the Check
 * tests that run the checker: its database (a SQLite file, or a database
 * "app" in a pg_harness cluster), the configuration that reads it, the
 * mount with that configuration, mediactl with its JSON answer, and the
 * files seen in BACKING and in the quarantine.
 *
 * Every function asserts with Check (ck_assert): a failure ends the test
 * with a message, so callers only state what they expect.  Only for Check
 * tests in fork mode; mount_harness.h is the harness without Check.
 *
 * Threads: test processes only; not thread-safe.
 */
#ifndef MEDIAFS_APP_HARNESS_H
#define MEDIAFS_APP_HARNESS_H

#include <check.h>
#include <jansson.h>
#include <stdbool.h>

#include "mount_harness.h"
#include "pg_harness.h"

/* How long a test waits for the daemon to do what it should do soon. */
#define APP_WAIT_MS 15000

/* The [mediafs] lines of a configuration that tests start from. */
#define APP_SETTINGS_CHECKER \
	"interval = 1h\nmin_age = 1s\ngrace = 1h\nmax_fraction = 1\ntemp_max_age = 0s\n"
#define APP_SETTINGS_AT_ONCE \
	"interval = 1h\nmin_age = 0s\ngrace = 1h\nmax_fraction = 1\ntemp_max_age = 0s\n"

struct app_harness {
	struct mount_harness *h;
	const struct pg_harness *pg;	/* the cluster, or NULL: the SQLite file */
	char db_path[600];		/* the SQLite file */
	char config_path[600];
	const char *defaults;		/* [mediafs] lines, one key each, kept unless
					 * the test's settings name the key */
	const char *source;		/* the lines of [source app] after its url */
	const char *options;		/* more -o options for the daemon, or NULL */
};

/*
 * Exit with HARNESS_EXIT_SKIP and a reason when FUSE is missing
 * (harness_require_fuse) or $MEDIACTL_BIN is not set.
 */
void app_require_mediactl(void);

/* Run a suite (Check's fork mode); returns how many of its tests failed. */
int app_run_suite(Suite *s);

/*
 * Run make(false), the cases over a SQLite file; then, when pg can start
 * (pg_harness_start), make(true) over it with *on_pg true while it runs.
 * Without a PostgreSQL server that half is skipped, with the reason on
 * stdout.  Returns EXIT_SUCCESS or EXIT_FAILURE, for main().
 */
int app_run_over_both(Suite *(*make)(bool on_pg), struct pg_harness *pg, bool *on_pg);

/*
 * Make h (harness_init with name) and an empty application database, and
 * point MEDIAFS_RUNTIME_DIR into h->dir.  pg: use the database "app" of
 * this cluster (dropped and made again), or NULL for a SQLite file.  The
 * configuration starts as defaults (e.g. APP_SETTINGS_CHECKER) and
 * "columns = photo.image, gallery.thumb".
 */
void app_setup(struct app_harness *app, struct mount_harness *h, const char *name,
	       const struct pg_harness *pg, const char *defaults);

/* Run SQL (printf format) in the application's database. */
void app_exec(const struct app_harness *app, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* "integer primary key" or "serial primary key": an id column's type. */
const char *app_key_type(const struct app_harness *app);

/* CREATE TABLE table (id <key>, column text) for each "table.column". */
void app_create_tables(const struct app_harness *app, const char *const columns[]);

/* INSERT one row whose column ("table.column") holds value (no quote). */
void app_insert(const struct app_harness *app, const char *column, const char *value);

/* The source's url, as the configuration spells it. */
void app_url(const struct app_harness *app, char *out, size_t size);

/* Write the configuration: settings, then the defaults they leave out. */
void app_write_config(struct app_harness *app, const char *settings);

/* Write the configuration, mount and wait for the startup scan. */
void app_mount(struct app_harness *app, const char *settings);

/* mediactl's answer: its output and exit status, and its JSON. */
struct app_ctl {
	struct harness_output run;
	json_t *json;			/* NULL when stdout was not JSON */
};

/*
 * Run "mediactl --json --mount MNT args..." (args NULL-terminated) and
 * wait.  Returns its exit status; r->json belongs to r (app_ctl_clear).
 */
int app_ctl_argv(const struct app_harness *app, struct app_ctl *r, const char *const args[]);
#define APP_CTL(app, r, ...) app_ctl_argv((app), (r), (const char *const[]){ __VA_ARGS__, NULL })

/*
 * Run "mediactl args..." exactly so (no --mount, no --json) as uid (0:
 * as this process) and wait.  Returns its exit status.
 */
int app_mediactl_argv(struct harness_output *r, uid_t uid, const char *const args[]);

/* Drop r's JSON; r may be used again. */
void app_ctl_clear(struct app_ctl *r);

/*
 * The same for callers that keep only the JSON: "mediactl --json --mount
 * MNT first ..." (NULL-terminated).  With out, asserts that the answer is
 * JSON and gives it to *out (the caller decrefs).  Returns the exit status.
 */
int app_mediactl(const struct app_harness *app, json_t **out, const char *first, ...)
	__attribute__((sentinel));

/*
 * "mediactl --mount MNT first ..." in its text form: stdout into out
 * (size bytes, NUL-terminated, cut when longer).  Returns the exit status.
 */
int app_mediactl_text(const struct app_harness *app, char *out, size_t size,
		      const char *first, ...) __attribute__((sentinel));

/* A "scan" answer's status and numbers ("" and 0 when absent). */
const char *app_scan_status(json_t *answer);
long long app_scan_number(json_t *answer, const char *key);

/* Write content to rel through the mount, and wait until the daemon has
 * released it (app_wait_closed): a scan may move it from then on. */
void app_put(const struct app_harness *app, const char *rel, const char *content);

/* Is rel in BACKING (not following a final link)?  Presence is checked
 * there: through the mount, a lookup could restore a quarantined path. */
bool app_in_backing(const struct app_harness *app, const char *rel);

/* How many times rel is in the quarantine (under how many scan ids);
 * -1 when there is no quarantine. */
int app_in_quarantine(const struct app_harness *app, const char *rel);

/*
 * Wait until the daemon has released rel: it holds no descriptor open
 * for writing on it (a release is asynchronous, and a file still open
 * for writing is never moved).
 */
void app_wait_closed(const struct app_harness *app, const char *rel);

/* The file at path holds exactly content (where names the side). */
void app_assert_bytes(const char *path, const char *content, const char *where);

/* Make the daemon's files ms older (harness_advance_clock), asserted. */
void app_advance_clock(const struct app_harness *app, long ms);

#endif
