/*
 * mediactl: the admin's tool.  Turns a command line into a request of the
 * admin protocol (fs/core/admin.h), sends it to the running daemon over its
 * control socket, or with --backing runs it on the stopped store itself,
 * and prints the response as a table (or as JSON with --json).
 *
 * Exit status: 0 on success, 1 when the action was refused or failed, 2 on
 * a usage error.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "catalog.h"
#include "clock.h"
#include "config.h"
#include "ctladdr.h"
#include "duration.h"
#include "grow.h"
#include "humanize.h"
#include "log.h"
#include "quarantine.h"
#include "store.h"
#include "termesc.h"

enum {
	EXIT_OK = 0,
	EXIT_REFUSED = 1,
	EXIT_USAGE = 2,
	SPINNER_MS = 200,
};

struct options {
	bool json;
	const char *mount;
	const char *backing;
	const char *config;
	bool color;
};

static const char usage_text[] =
"usage: mediactl [--json] [--mount dir | --backing dir [--config file]] command [args]\n"
"\n"
"commands:\n"
"  status                     the mount, its sources, scans, counts and alarms\n"
"  ls [prefix] [--state s] [--older-than d] [--larger-than n] [--unreferenced]\n"
"                             tracked files\n"
"  show path                  everything the catalog knows of a path\n"
"  quarantine                 what is quarantined, why, and when it is purged\n"
"  restore path|--glob pattern|--id n|--scan n|--since d [--to newpath] [--pin]\n"
"                             bring quarantined files back\n"
"  pin path|glob, unpin path|glob, pins\n"
"                             paths the checker never quarantines\n"
"  scan [--dry-run]           run a scan now and wait for it\n"
"  confirm [n], reject [n]    decide on a held scan\n"
"  purge --expired | --id n | --all --yes\n"
"                             delete quarantined files for good\n"
"  check                      dangling references, catalog against the disk\n"
"  log [--since d] [--path p] [--limit n]\n"
"                             the audit log\n"
"  du [prefix]                bytes by directory and state\n"
"  metrics                    the figures in Prometheus' text format\n"
"  reload                     read the configuration file again and apply it\n"
"\n"
"'mediactl command --help' describes one command.  Durations: 30s, 10m, 1h, 7d.\n";

/* ------------------------------------------------------------------ */
/* Printing                                                             */
/* ------------------------------------------------------------------ */

static const struct options *out_opts;

static const char *color(const char *code)
{
	return out_opts && out_opts->color ? code : "";
}

#define RESET color("\033[0m")
#define RED color("\033[31m")
#define GREEN color("\033[32m")
#define YELLOW color("\033[33m")
#define GREY color("\033[90m")
#define BOLD color("\033[1m")

static const char *state_color(const char *state)
{
	if (!state)
		return "";
	if (!strcmp(state, "live"))
		return GREEN;
	if (!strcmp(state, "quarantined"))
		return YELLOW;
	if (!strcmp(state, "missing"))
		return RED;
	return GREY;
}

/* Sizes in the daemon's spelling; "?" when the answer had none. */
static void human_size(int64_t bytes, char *buf, size_t size)
{
	if (bytes < 0)
		snprintf(buf, size, "?");
	else
		humanize_size((uint64_t)bytes, buf, size);
}

/* "3h ago" or "in 6d" for a wall-clock time in ms. */
static void human_when(int64_t when_ms, char *buf, size_t size)
{
	char span[64];
	int64_t delta = when_ms - clock_now_ms();

	if (when_ms <= 0) {
		snprintf(buf, size, "-");
		return;
	}
	duration_format(delta < 0 ? -delta : delta, span, sizeof(span));
	/* Seconds are enough for people. */
	char *ms = strstr(span, "ms");
	if (ms && ms != span && (delta < 0 ? -delta : delta) >= 1000) {
		char *p = ms;
		while (p > span && p[-1] >= '0' && p[-1] <= '9')
			p--;
		*p = '\0';
	}
	if (!span[0] || (delta > -1000 && delta < 1000))
		snprintf(buf, size, "now");
	else
		snprintf(buf, size, delta < 0 ? "%s ago" : "in %s", span);
}

static void human_time(int64_t ms, char *buf, size_t size)
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;

	localtime_r(&secs, &tm);
	strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm);
}

static const char *str(const json_t *obj, const char *key)
{
	const char *value = json_string_value(json_object_get(obj, key));

	return value ? value : "";
}

/*
 * Names and values for people: file names and database values may hold
 * newlines and escape sequences (a forged table row, a command to the
 * terminal), so whatever the daemon sends is shown through termesc().  The
 * result lives until ESCAPED_SLOTS more calls; mediactl prints and exits.
 */
enum { ESCAPED_SLOTS = 16 };

static const char *esc(const char *text)
{
	static char *slots[ESCAPED_SLOTS];
	static unsigned next;
	char *escaped = termesc_dup(text ? text : "");

	if (!escaped)
		exit(EXIT_REFUSED);
	free(slots[next % ESCAPED_SLOTS]);
	slots[next++ % ESCAPED_SLOTS] = escaped;
	return escaped;
}

/* Text the daemon has escaped already (the examples of hostile values,
 * in pathnorm_escape()'s form): printable ASCII cannot split a line or
 * reach the terminal, so it is shown as it is rather than escaped twice;
 * anything else is escaped. */
static const char *esc_unless_printable(const char *text)
{
	for (const char *p = text ? text : ""; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			return esc(text);
	return text ? text : "";
}

/* The value of key for people: its bytes (from key_hex when the path is
 * not UTF-8), escaped. */
static const char *shown(const json_t *obj, const char *key)
{
	char *raw = json_object_get(obj, key) ? admin_get_path(obj, key) : NULL;
	const char *escaped = esc(raw ? raw : str(obj, key));

	free(raw);
	return escaped;
}

static int64_t num(const json_t *obj, const char *key)
{
	return json_integer_value(json_object_get(obj, key));
}

/* A table: columns sized to their widest cell, the last one free. */
struct table {
	size_t columns;
	size_t rows;
	char **cells;		/* rows x columns */
	const char **colors;	/* per row */
	size_t cell_capacity, color_capacity;
	size_t widths[8];
};

static int fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void table_add(struct table *t, const char *row_color, ...)
{
	va_list ap;

	char **cells = grow_array(t->cells, &t->cell_capacity, (t->rows + 1) * t->columns,
				  sizeof(*cells), 64);
	const char **colors;

	if (!cells)
		exit(fail(EXIT_REFUSED, "out of memory"));
	t->cells = cells;
	colors = grow_array(t->colors, &t->color_capacity, t->rows + 1, sizeof(*colors), 16);
	if (!colors)
		exit(fail(EXIT_REFUSED, "out of memory"));
	t->colors = colors;
	va_start(ap, row_color);
	for (size_t c = 0; c < t->columns; c++) {
		const char *cell = va_arg(ap, const char *);
		char *copy = strdup(cell ? cell : "");
		if (!copy)
			exit(fail(EXIT_REFUSED, "out of memory"));
		size_t len = strlen(copy);
		t->cells[t->rows * t->columns + c] = copy;
		if (len > t->widths[c])
			t->widths[c] = len;
	}
	va_end(ap);
	t->colors[t->rows++] = row_color;
}

static void table_print(struct table *t)
{
	for (size_t r = 0; r < t->rows; r++) {
		printf("%s%s", r == 0 ? BOLD : t->colors[r], "");
		for (size_t c = 0; c < t->columns; c++) {
			const char *cell = t->cells[r * t->columns + c];
			if (c + 1 < t->columns)
				printf("%-*s  ", (int)t->widths[c], cell);
			else
				printf("%s", cell);
			free(t->cells[r * t->columns + c]);
		}
		printf("%s\n", RESET);
	}
	free(t->cells);
	free(t->colors);
}

/* ------------------------------------------------------------------ */
/* Talking to the daemon                                                */
/* ------------------------------------------------------------------ */

static int fail(int status, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "mediactl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	return status;
}

/* Find the socket: of --mount, or the only one running. */
static int find_socket(const struct options *opts, char *path, size_t size)
{
	char dir[256], mount[PATH_MAX];
	struct dirent *d;
	int found = 0;
	DIR *listing;

	if (opts->mount) {
		if (!realpath(opts->mount, mount))
			return fail(EXIT_USAGE, "cannot use mount '%s': %s", esc(opts->mount),
				    strerror(errno));
		if (ctladdr_for_mount(mount, path, size, NULL, 0) != 0)
			return fail(EXIT_USAGE, "mount path too long");
		if (access(path, F_OK) != 0)
			return fail(EXIT_REFUSED, "no mediafs is running on '%s' (no socket at "
				    "'%s'); with the daemon stopped use --backing", esc(mount), esc(path));
		return EXIT_OK;
	}
	ctladdr_runtime_dir(dir, sizeof(dir));
	listing = opendir(dir);
	while (listing && (d = readdir(listing))) {
		size_t len = strlen(d->d_name);
		if (len > 5 && strcmp(d->d_name + len - 5, ".sock") == 0) {
			if (found++ == 0)
				snprintf(path, size, "%s/%s", dir, d->d_name);
		}
	}
	if (listing)
		closedir(listing);
	if (found == 1)
		return EXIT_OK;
	if (found == 0)
		return fail(EXIT_REFUSED, "no mediafs is running here (nothing in '%s'); name "
			    "one with --mount, or a stopped store with --backing", esc(dir));
	return fail(EXIT_USAGE, "%d mounts are running: name one with --mount", found);
}

static void spinner(const char *what, int64_t started_ms, bool done)
{
	static const char frames[] = "|/-\\";
	static int frame;

	if (!isatty(STDERR_FILENO) || !what)
		return;
	if (done) {
		fprintf(stderr, "\r\033[K");
		return;
	}
	fprintf(stderr, "\r%c %s... %llds", frames[frame++ % 4], what,
		(long long)((clock_now_ms() - started_ms) / 1000));
}

/* text and a newline; MSG_NOSIGNAL: a closed socket is EPIPE, not a signal. */
static int send_line(int fd, const char *text)
{
	size_t len = strlen(text);

	while (len > 0) {
		ssize_t n = send(fd, text, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		text += n;
		len -= (size_t)n;
	}
	return send(fd, "\n", 1, MSG_NOSIGNAL) == 1 ? 0 : -1;
}

/* Send request, wait for the response line (a spinner meanwhile). */
static json_t *ask_daemon(const char *socket_path, json_t *request, const char *what)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	char *text = json_dumps(request, JSON_COMPACT);
	char *line = NULL;
	size_t len = 0, cap = 0;
	bool out_of_memory = false;
	int64_t started = clock_now_ms();
	json_t *response = NULL;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (strlen(socket_path) >= sizeof(addr.sun_path)) {
		fail(EXIT_REFUSED, "socket path '%s' is too long", esc(socket_path));
		goto out;
	}
	memcpy(addr.sun_path, socket_path, strlen(socket_path) + 1);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		fail(EXIT_REFUSED, "cannot reach the daemon at '%s': %s", esc(socket_path),
		     strerror(errno));
		goto out;
	}
	/* A daemon that refuses the connection (too many open) answers and
	 * closes without reading: its answer says why, so read it. */
	if (!text || send_line(fd, text) != 0) {
		if (!text || (errno != EPIPE && errno != ECONNRESET)) {
			fail(EXIT_REFUSED, "cannot send to the daemon: %s", strerror(errno));
			goto out;
		}
	}
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		char buf[4096];
		ssize_t n;

		if (poll(&p, 1, SPINNER_MS) == 0) {
			spinner(what, started, false);
			continue;
		}
		n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		if (len + (size_t)n + 1 > cap) {
			char *grown = grow_array(line, &cap, len + (size_t)n + 1, 1, 4096);
			/* The answer so far is freed, not leaked, and no
			 * half answer is parsed. */
			if (!grown) {
				free(line);
				line = NULL;
				out_of_memory = true;
				break;
			}
			line = grown;
		}
		memcpy(line + len, buf, (size_t)n);
		len += (size_t)n;
		if (memchr(buf, '\n', (size_t)n))
			break;
	}
	spinner(what, started, true);
	if (line) {
		line[len] = '\0';
		response = json_loads(line, 0, NULL);
	}
	if (!response)
		fail(EXIT_REFUSED, "%s", out_of_memory ? "out of memory reading the daemon's answer" :
		     "the daemon closed the connection without an answer");
out:
	if (fd >= 0)
		close(fd);
	free(text);
	free(line);
	return response;
}

/*
 * Without --config: the file the daemon last ran with, as the store
 * recorded it.  Returns 0 when it was loaded; otherwise says why once (a
 * store that never recorded one says nothing: the status tells).
 */
static int load_remembered_config(struct catalog *cat, struct config *cfg)
{
	char error[CONFIG_ERROR_BYTES], *path = NULL;
	int err = catalog_meta_get(cat, CATALOG_META_CONFIG_PATH, &path);

	if (!err && !path[0])
		err = -ENOENT;
	if (!err && config_load(cfg, path, error, sizeof(error)) != 0) {
		fprintf(stderr, "mediactl: the store's configuration cannot be read (%s); "
			"settings are the defaults and no source is known: give --config\n",
			error);
		err = -EINVAL;
	}
	free(path);
	return err;
}

/* --backing: the store itself, locked against a daemon. */
static json_t *run_offline(const struct options *opts, json_t *request)
{
	char catalog_path[PATH_MAX], error[1024], state_dir[PATH_MAX], why[1024];
	struct store st;
	struct quarantine q = { .dir_fd = -1 };
	struct config cfg;
	struct admin_context ctx = { .config = &cfg };
	json_t *response = NULL;
	struct stat sb;
	int err;

	config_init_defaults(&cfg);
	if (opts->config && config_load(&cfg, opts->config, error, sizeof(error)) != 0) {
		fail(EXIT_USAGE, "%s", esc(error));
		return NULL;
	}
	snprintf(state_dir, sizeof(state_dir), "%s/%s", opts->backing, STORE_STATE_DIR_NAME);
	/* lstat: a link named .mediafs is a store that store_open() refuses
	 * in its own words. */
	if (lstat(state_dir, &sb) != 0) {
		fail(EXIT_REFUSED, "'%s' is not a mediafs store (no %s)", esc(opts->backing),
		     STORE_STATE_DIR_NAME);
		goto out_config;
	}
	err = store_open(&st, opts->backing, why, sizeof(why));
	if (err == -EWOULDBLOCK) {
		fail(EXIT_REFUSED, "a mediafs daemon holds '%s': ask it with --mount", esc(opts->backing));
		goto out_config;
	}
	if (err) {
		fail(EXIT_REFUSED, "%s", esc_unless_printable(why));
		goto out_config;
	}
	/* Each step says what failed: error holds a message only from
	 * catalog_open(). */
	err = quarantine_open(&q, &st);
	if (err) {
		fail(EXIT_REFUSED, "cannot open the quarantine of '%s': %s", esc(opts->backing),
		     strerror(-err));
		goto out_store;
	}
	err = store_state_path(&st, CATALOG_FILE_NAME, catalog_path, sizeof(catalog_path));
	if (!err)
		err = catalog_open(catalog_path, false, &ctx.cat, error, sizeof(error));
	if (err) {
		fail(EXIT_REFUSED, "cannot open the catalog of '%s': %s", esc(opts->backing),
		     err == -ENOENT || err == -ENAMETOOLONG ? strerror(-err) : esc(error));
		goto out_store;
	}
	ctx.store = &st;
	ctx.quarantine = &q;
	ctx.config_origin = opts->config ? "given" : "none";
	if (!opts->config && load_remembered_config(ctx.cat, &cfg) == 0)
		ctx.config_origin = "remembered";
	response = admin_execute(&ctx, request);
	catalog_close(ctx.cat);
out_store:
	quarantine_close(&q);
	store_close(&st);
out_config:
	config_free(&cfg);
	return response;
}

/* ------------------------------------------------------------------ */
/* Formatting responses                                                 */
/* ------------------------------------------------------------------ */

/*
 * Example lines of a scan (values and names).  The daemon escaped each
 * value and name with termesc() when it recorded them, and escaping
 * again would double every backslash; a line that is not plain anyway
 * (not written by a daemon of this version) is escaped here.
 */
static void print_examples(const json_t *examples)
{
	json_t *example;
	size_t i;

	json_array_foreach(examples, i, example) {
		const char *line = json_string_value(example);
		bool plain = line && !strpbrk(line, "\x01\x02\x03\x04\x05\x06\x07\x08\t\n\v\f\r"
						   "\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17"
						   "\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x7f");
		char *shown = plain ? NULL : termesc_dup(line);

		printf("%-12s   %s\n", "", plain ? line : shown ? shown : "(out of memory)");
		free(shown);
	}
}

/* Files kept through a link or another spelling, and near misses. */
static void print_spellings(const json_t *scan)
{
	if (num(scan, "respelled"))
		printf("%-12s %lld files kept through a symbolic link or under another spelling\n",
		       "", (long long)num(scan, "respelled"));
	if (num(scan, "near_misses")) {
		printf("%-12s %s%lld files kept because a value nearly names them (another case, "
		       "whitespace or form)%s%s\n", "", RED, (long long)num(scan, "near_misses"),
		       RESET, json_array_size(json_object_get(scan, "near_miss_examples")) ?
				      ", e.g. value ~ file:" : "");
		print_examples(json_object_get(scan, "near_miss_examples"));
	}
}

static void print_scan(const char *label, const json_t *scan)
{
	char when[64];

	human_when(num(scan, "finished_ms") ? num(scan, "finished_ms") : num(scan, "started_ms"),
		   when, sizeof(when));
	printf("%-12s #%lld %s%s%s (%s, %s): %lld live, %lld referenced, %lld candidates, "
	       "%lld quarantined, %lld restored, %lld purged, %lld conflicts\n",
	       label, (long long)num(scan, "id"),
	       !strcmp(str(scan, "status"), "held") || !strcmp(str(scan, "status"), "failed") ?
		       RED : "", shown(scan, "status"), RESET, shown(scan, "trigger"), when,
	       (long long)num(scan, "live"), (long long)num(scan, "referenced"),
	       (long long)num(scan, "candidates"), (long long)num(scan, "quarantined"),
	       (long long)num(scan, "restored"), (long long)num(scan, "purged"),
	       (long long)num(scan, "conflicts"));
	if (str(scan, "message")[0])
		printf("%-12s %s\n", "", shown(scan, "message"));
	if (num(scan, "kept_open"))
		printf("%-12s %lld files open for writing were left for a later scan\n", "",
		       (long long)num(scan, "kept_open"));
	if (num(scan, "hostile")) {
		json_t *example;
		size_t i;

		printf("%-12s %lld values can never name a file%s\n", "",
		       (long long)num(scan, "hostile"),
		       json_array_size(json_object_get(scan, "hostile_examples")) ? ", e.g." : "");
		json_array_foreach(json_object_get(scan, "hostile_examples"), i, example)
			printf("%-12s   %s\n", "", esc_unless_printable(json_string_value(example)));
	}
	print_spellings(scan);
}

static void print_status(const json_t *r)
{
	json_t *totals = json_object_get(r, "totals"), *sources = json_object_get(r, "sources");
	char live[32], quarantined[32], when[64];
	size_t i;
	json_t *item;

	human_size(num(json_object_get(totals, "live"), "bytes"), live, sizeof(live));
	human_size(num(json_object_get(totals, "quarantined"), "bytes"), quarantined,
		   sizeof(quarantined));
	printf("%-12s %s%s\n", "backing", shown(r, "backing"),
	       json_is_true(json_object_get(r, "daemon")) ? "" : " (daemon stopped)");
	if (json_object_get(r, "pid"))
		printf("%-12s pid %lld, mediafs %s\n", "daemon", (long long)num(r, "pid"),
		       shown(r, "version"));
	json_t *config = json_object_get(r, "config");
	if (config && !strcmp(str(config, "origin"), "none"))
		printf("%-12s none known: the settings shown are the defaults and no source is "
		       "read (give --config FILE)\n", "config");
	else if (config && str(config, "path")[0])
		printf("%-12s %s%s\n", "config", shown(config, "path"),
		       !strcmp(str(config, "origin"), "remembered") ?
			       " (the file the daemon last ran with)" : "");
	printf("%-12s", "sources");
	json_array_foreach(sources, i, item)
		printf(" %s", shown(item, "name"));
	printf("%s\n", json_array_size(sources) ? "" : " none (nothing is quarantined)");
	if (json_object_get(r, "source_errors"))
		printf("%-12s %s%s%s\n", "", RED, shown(r, "source_errors"), RESET);
	printf("%-12s live %lld (%s), quarantined %lld (%s), purged %lld, missing %lld\n",
	       "files", (long long)num(json_object_get(totals, "live"), "files"), live,
	       (long long)num(json_object_get(totals, "quarantined"), "files"), quarantined,
	       (long long)num(json_object_get(totals, "purged"), "files"),
	       (long long)num(json_object_get(totals, "missing"), "files"));
	if (json_object_get(r, "last_scan"))
		print_scan("last scan", json_object_get(r, "last_scan"));
	if (json_object_get(r, "next_scan_ms")) {
		human_when(num(r, "next_scan_ms"), when, sizeof(when));
		printf("%-12s %s%s\n", "next scan", json_is_true(json_object_get(r, "scanning")) ?
		       "running now" : when, "");
	}
	if (json_object_get(r, "held_scan")) {
		print_scan("held scan", json_object_get(r, "held_scan"));
		printf("%-12s %sconfirm with 'mediactl confirm %lld' or reject with 'mediactl "
		       "reject %lld'%s\n", "", RED, (long long)num(json_object_get(r, "held_scan"), "id"),
		       (long long)num(json_object_get(r, "held_scan"), "id"), RESET);
	}
	if (json_object_get(r, "restores_by_access"))
		printf("%-12s %lld%s\n", "by access", (long long)num(r, "restores_by_access"),
		       num(r, "restores_by_access") ?
			       " restores (a column may be missing from the configuration)" :
			       " restores");
	const char *error_name;
	json_t *error_count;
	bool any_error = false;
	json_object_foreach(json_object_get(r, "data_path_errors"), error_name, error_count) {
		if (!json_integer_value(error_count))
			continue;
		printf("%s %s %lld", any_error ? "," : "errors       requests failed with",
		       error_name, (long long)json_integer_value(error_count));
		any_error = true;
	}
	if (any_error)
		printf("\n");
	json_array_foreach(json_object_get(r, "alarms"), i, item) {
		json_t *path;
		size_t j;

		printf("%-12s %s%s%s\n", i ? "" : "alarms", RED, shown(item, "message"), RESET);
		/* Names are data: escaped, one per line. */
		json_array_foreach(json_object_get(item, "paths"), j, path)
			printf("%-12s   %s\n", "", shown(path, "path"));
	}
}

static void print_purge(const json_t *r)
{
	size_t i;
	json_t *f;

	printf("purged %zu files\n", json_array_size(json_object_get(r, "purged")));
	json_array_foreach(json_object_get(r, "kept"), i, f)
		printf("kept #%lld %s: %s\n", (long long)num(f, "id"), shown(f, "path"),
		       shown(f, "kept"));
	json_array_foreach(json_object_get(r, "kept_open"), i, f)
		printf("kept #%lld %s: open for writing through the mount\n",
		       (long long)num(f, "id"), shown(f, "path"));
	json_array_foreach(json_object_get(r, "unrecorded"), i, f)
		printf("%sunrecorded%s #%lld %s: %s\n", RED, RESET, (long long)num(f, "id"),
		       shown(f, "path"), shown(f, "error"));
}

static void print_files(const json_t *r, bool quarantine_view)
{
	struct table t = { .columns = quarantine_view ? 7 : 5 };
	size_t i;
	json_t *f;

	if (quarantine_view)
		table_add(&t, "", "ID", "SIZE", "QUARANTINED", "REASON", "SCAN", "PURGE", "PATH");
	else
		table_add(&t, "", "ID", "STATE", "SIZE", "CHANGED", "PATH");
	json_array_foreach(json_object_get(r, "files"), i, f) {
		char id[32], size[32], changed[64], purge[64], scan[32];
		snprintf(id, sizeof(id), "%lld", (long long)num(f, "id"));
		human_size(num(f, "size"), size, sizeof(size));
		human_when(!strcmp(str(f, "state"), "live") ? num(f, "activity_ms") :
			   num(f, "state_changed_ms"), changed, sizeof(changed));
		if (quarantine_view) {
			human_when(num(f, "purge_at_ms"), purge, sizeof(purge));
			/* A file deleted through the mount has no scan. */
			if (num(f, "scan_id") > 0)
				snprintf(scan, sizeof(scan), "%lld", (long long)num(f, "scan_id"));
			else
				snprintf(scan, sizeof(scan), "-");
			table_add(&t, "", id, size, changed, shown(f, "reason"), scan, purge,
				  shown(f, "path"));
		} else {
			table_add(&t, state_color(str(f, "state")), id, shown(f, "state"), size,
				  changed, shown(f, "path"));
		}
	}
	if (t.rows == 1)
		printf("%s\n", quarantine_view ? "the quarantine is empty" : "no files match");
	else
		table_print(&t);
}

static void print_audit(const json_t *entries)
{
	struct table t = { .columns = 5 };
	size_t i;
	json_t *e;

	table_add(&t, "", "TIME", "CHANGE", "REASON", "PATH", "DETAIL");
	json_array_foreach(entries, i, e) {
		char when[64], change[64];
		human_time(num(e, "time_ms"), when, sizeof(when));
		snprintf(change, sizeof(change), "%s -> %s", str(e, "from")[0] ? shown(e, "from") : "new",
			 str(e, "to")[0] ? shown(e, "to") : "gone");
		table_add(&t, state_color(str(e, "to")), when, change, shown(e, "reason"),
			  shown(e, "path"), shown(e, "detail"));
	}
	table_print(&t);
}

/* " (scan N)" for a file a scan moved, "" for one deleted through the mount. */
static const char *scan_note(const json_t *f)
{
	static char note[48];

	if (num(f, "scan_id") <= 0)
		return "";
	snprintf(note, sizeof(note), " (scan %lld)", (long long)num(f, "scan_id"));
	return note;
}

static void print_show(const json_t *r)
{
	size_t i;
	json_t *f;

	json_array_foreach(json_object_get(r, "files"), i, f) {
		char size[32], seen[64], written[64], changed[64];
		human_size(num(f, "size"), size, sizeof(size));
		human_time(num(f, "first_seen_ms"), seen, sizeof(seen));
		if (num(f, "last_written_ms") > 0)
			human_time(num(f, "last_written_ms"), written, sizeof(written));
		else
			snprintf(written, sizeof(written), "never through the mount");
		human_time(num(f, "state_changed_ms"), changed, sizeof(changed));
		printf("%s#%lld %s%s %s (%s)\n", state_color(str(f, "state")), (long long)num(f, "id"),
		       shown(f, "state"), RESET, shown(f, "path"), shown(f, "reason"));
		printf("  size %s, first seen %s, last written %s, state since %s\n", size, seen,
		       written, changed);
		if (json_object_get(f, "quarantine_name") && !strcmp(str(f, "state"), "purged")) {
			printf("  was in the quarantine as %s%s; purged %s\n",
			       shown(f, "quarantine_name"), scan_note(f), changed);
		} else if (json_object_get(f, "quarantine_name")) {
			char purge[64];
			human_when(num(f, "purge_at_ms"), purge, sizeof(purge));
			printf("  in the quarantine as %s%s; purged %s\n",
			       shown(f, "quarantine_name"), scan_note(f), purge);
		}
		if (num(f, "access_restores"))
			printf("  brought back by a lookup %lld time%s: a lookup no longer "
			       "restores it\n", (long long)num(f, "access_restores"),
			       num(f, "access_restores") == 1 ? "" : "s");
	}
	printf("\nhistory:\n");
	print_audit(json_object_get(r, "audit"));
}

static void print_restore(const json_t *r)
{
	size_t i;
	json_t *f;

	json_array_foreach(json_object_get(r, "restored"), i, f)
		printf("%srestored%s %s%s%s%s\n", GREEN, RESET,
		       json_object_get(f, "restored_to") ? shown(f, "restored_to") : shown(f, "path"),
		       json_object_get(f, "restored_to") ? " (was " : "",
		       json_object_get(f, "restored_to") ? shown(f, "path") : "",
		       json_object_get(f, "restored_to") ? ")" : "");
	json_array_foreach(json_object_get(r, "refused"), i, f)
		printf("%srefused%s  %s: %s\n", RED, RESET, shown(f, "path"), shown(f, "refused"));
}

static void print_check(const json_t *r)
{
	size_t i;
	json_t *item;

	if (json_object_get(r, "note"))
		printf("%s%s%s\n", RED, shown(r, "note"), RESET);
	json_array_foreach(json_object_get(r, "sources"), i, item)
		printf("source %s: %s%s%s\n", shown(item, "name"),
		       json_is_true(json_object_get(item, "ok")) ? GREEN : RED,
		       json_is_true(json_object_get(item, "ok")) ? "read" : shown(item, "error"),
		       RESET);
	if (num(r, "respelled_count"))
		printf("%lld references name a file through a symbolic link or under another "
		       "spelling\n", (long long)num(r, "respelled_count"));
	if (json_object_get(r, "near_miss_scan")) {
		printf("%lld files kept by near misses in the last scan (#%lld)%s\n",
		       (long long)num(r, "near_misses"), (long long)num(r, "near_miss_scan"),
		       num(r, "near_misses") ? ", value ~ file:" : "");
		print_examples(json_object_get(r, "near_miss_examples"));
	}
	printf("%lld references name no file%s\n", (long long)num(r, "dangling_count"),
	       num(r, "dangling_count") ? ":" : "");
	json_array_foreach(json_object_get(r, "dangling"), i, item)
		printf("  %s%s%s%s\n", shown(item, "path"),
		       json_is_true(json_object_get(item, "quarantined")) ? " (quarantined as " : "",
		       json_is_true(json_object_get(item, "quarantined")) ?
			       shown(item, "quarantine_name") : "",
		       json_is_true(json_object_get(item, "quarantined")) ? ")" : "");
	printf("%lld live rows have no file%s\n", (long long)num(r, "missing_count"),
	       num(r, "missing_count") ? ":" : "");
	json_array_foreach(json_object_get(r, "missing"), i, item)
		printf("  %s\n", shown(item, "path"));
	printf("%lld files are not in the catalog%s\n", (long long)num(r, "untracked_count"),
	       num(r, "untracked_count") ? ":" : "");
	json_array_foreach(json_object_get(r, "untracked"), i, item)
		printf("  %s\n", shown(item, "path"));
}

static void print_du(const json_t *r)
{
	struct table t = { .columns = 5 };
	const char *dir;
	json_t *d;
	char reclaimable[32];

	table_add(&t, "", "LIVE", "FILES", "QUARANTINED", "FILES", "DIRECTORY");
	json_object_foreach(json_object_get(r, "dirs"), dir, d) {
		char live[32], quarantined[32], lf[32], qf[32];
		human_size(num(d, "live_bytes"), live, sizeof(live));
		human_size(num(d, "quarantined_bytes"), quarantined, sizeof(quarantined));
		snprintf(lf, sizeof(lf), "%lld", (long long)num(d, "live_files"));
		snprintf(qf, sizeof(qf), "%lld", (long long)num(d, "quarantined_files"));
		table_add(&t, "", live, lf, quarantined, qf, esc(dir));
	}
	table_print(&t);
	human_size(num(r, "reclaimable_bytes"), reclaimable, sizeof(reclaimable));
	printf("reclaimable (quarantined): %s\n", reclaimable);
}

static void print_pins(const json_t *r)
{
	size_t i;
	json_t *p;

	if (json_array_size(json_object_get(r, "pins")) == 0)
		printf("nothing is pinned\n");
	json_array_foreach(json_object_get(r, "pins"), i, p)
		printf("%s\n", shown(p, "pattern"));
}

static void print_response(const char *command, const json_t *r)
{
	if (!strcmp(command, "status"))
		print_status(r);
	else if (!strcmp(command, "ls"))
		print_files(r, false);
	else if (!strcmp(command, "quarantine"))
		print_files(r, true);
	else if (!strcmp(command, "show"))
		print_show(r);
	else if (!strcmp(command, "restore"))
		print_restore(r);
	else if (!strcmp(command, "scan") || !strcmp(command, "confirm") ||
		 !strcmp(command, "reject"))
		print_scan("scan", json_object_get(r, "scan"));
	else if (!strcmp(command, "purge"))
		print_purge(r);
	else if (!strcmp(command, "check"))
		print_check(r);
	else if (!strcmp(command, "log"))
		print_audit(json_object_get(r, "entries"));
	else if (!strcmp(command, "du"))
		print_du(r);
	else if (!strcmp(command, "pin") || !strcmp(command, "unpin") || !strcmp(command, "pins"))
		print_pins(r);
	else if (!strcmp(command, "metrics"))
		fputs(str(r, "text"), stdout);
	else if (!strcmp(command, "reload"))
		printf("%s\n", shown(r, "message"));
}

/* ------------------------------------------------------------------ */
/* Command lines into requests                                          */
/* ------------------------------------------------------------------ */

enum value_type {
	VALUE_NONE,		/* a boolean flag */
	VALUE_STRING,
	VALUE_PATH,		/* a path: UTF-8 as a string, other bytes as hex */
	VALUE_INT,
	VALUE_DURATION,		/* 30s, 10m, 1h, 7d -> milliseconds */
	VALUE_SIZE,		/* 10M, 2G -> bytes */
};

struct flag {
	const char *name;
	const char *key;
	enum value_type type;
};

struct command {
	const char *name;
	const char *usage;
	const char *help;
	const char *positional;		/* request key of the argument, or NULL */
	enum value_type positional_type;
	bool positional_required;
	const char *progress;		/* what the spinner says, or NULL */
	struct flag flags[8];
};

static const struct command commands[] = {
	{ "status", "status", "The mount, its sources, the last and next scan, counts and bytes "
	  "by state, a held scan, alarms, restores by access.", NULL, VALUE_NONE, false, NULL,
	  { { 0 } } },
	{ "ls", "ls [prefix] [--state s] [--older-than d] [--larger-than n] [--unreferenced] "
	  "[--limit n]", "Tracked files under prefix.  --unreferenced asks the databases as a scan would and "
	  "lists the live files no source references (and older than min_age).", "prefix",
	  VALUE_PATH, false, "asking the databases",
	  { { "--state", "state", VALUE_STRING }, { "--older-than", "older_than_ms", VALUE_DURATION },
	    { "--larger-than", "larger_than", VALUE_SIZE },
	    { "--unreferenced", "unreferenced", VALUE_NONE }, { "--limit", "limit", VALUE_INT },
	    { 0 } } },
	{ "show", "show path", "Every row the catalog has for path, and its audit history.",
	  "path", VALUE_PATH, true, NULL, { { 0 } } },
	{ "quarantine", "quarantine [--limit n]", "What is quarantined, when, why, how big, and "
	  "when it will be purged.", NULL, VALUE_NONE, false, NULL,
	  { { "--limit", "limit", VALUE_INT }, { 0 } } },
	{ "restore", "restore path|--glob pattern|--id n|--scan n|--since d [--to newpath] "
	  "[--pin]", "Bring quarantined files back to their paths: one (path, --id), many "
	  "(--glob, --since), or everything one scan moved (--scan).  A path is always "
	  "taken literally, brackets and stars included; --glob matches a pattern (* ? [...], "
	  "'*' crosses '/').  A live file is never overwritten: restore it elsewhere with "
	  "--to.  --pin keeps it from the checker.",
	  "path", VALUE_PATH, false, "restoring",
	  { { "--glob", "glob", VALUE_STRING },
	    { "--id", "id", VALUE_INT }, { "--scan", "scan", VALUE_INT },
	    { "--since", "since_ms", VALUE_DURATION }, { "--to", "to", VALUE_PATH },
	    { "--pin", "pin", VALUE_NONE }, { 0 } } },
	{ "pin", "pin path|glob", "Never quarantine what matches.", "pattern", VALUE_PATH, true,
	  NULL, { { 0 } } },
	{ "unpin", "unpin path|glob", "Remove a pin.", "pattern", VALUE_PATH, true, NULL,
	  { { 0 } } },
	{ "pins", "pins", "The pins.", NULL, VALUE_NONE, false, NULL, { { 0 } } },
	{ "scan", "scan [--dry-run]", "Run a scan now and wait for its result; --dry-run "
	  "reports and moves nothing.", NULL, VALUE_NONE, false, "scanning",
	  { { "--dry-run", "dry_run", VALUE_NONE }, { 0 } } },
	{ "confirm", "confirm [n]", "Confirm the held scan (or scan n): its candidates are "
	  "confirmed against the databases and quarantined.", "id", VALUE_INT, false, "scanning",
	  { { 0 } } },
	{ "reject", "reject [n]", "Reject the held scan (or scan n): nothing moves.", "id",
	  VALUE_INT, false, NULL, { { 0 } } },
	{ "purge", "purge --expired | --id n | --all --yes", "Delete quarantined files for "
	  "good: those past grace, one, or all of them.", NULL, VALUE_NONE, false, "purging",
	  { { "--expired", "expired", VALUE_NONE }, { "--id", "id", VALUE_INT },
	    { "--all", "all", VALUE_NONE }, { "--yes", "yes", VALUE_NONE }, { 0 } } },
	{ "check", "check", "References that name no file (and whether a quarantined version "
	  "exists), live rows without a file, files the catalog does not know.", NULL,
	  VALUE_NONE, false, "checking", { { 0 } } },
	{ "log", "log [--since d] [--path p] [--limit n]", "The audit log, oldest first.", NULL,
	  VALUE_NONE, false, NULL,
	  { { "--since", "since_ms", VALUE_DURATION }, { "--path", "path", VALUE_PATH },
	    { "--limit", "limit", VALUE_INT }, { 0 } } },
	{ "du", "du [prefix]", "Bytes by directory and state, and what purging would free.",
	  "prefix", VALUE_PATH, false, NULL, { { 0 } } },
	{ "metrics", "metrics", "The store's figures in Prometheus' text exposition format "
	  "(files and bytes by state, scans, restores, purges, alarms, the event queue), "
	  "as node_exporter's textfile collector reads them.", NULL, VALUE_NONE, false, NULL,
	  { { 0 } } },
	{ "reload", "reload", "Read the configuration file again and apply it without "
	  "unmounting (as SIGHUP does): settings and sources take effect at the next scan.  "
	  "A file that does not validate is refused and the running configuration stays.",
	  NULL, VALUE_NONE, false, "reloading", { { 0 } } },
};

static int parse_size(const char *text, int64_t *out)
{
	char *end;
	double value = strtod(text, &end);
	int64_t scale = 1;

	if (end == text || value < 0)
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': scale = 1000; end++; break;
	case 'M': scale = 1000 * 1000; end++; break;
	case 'G': scale = 1000LL * 1000 * 1000; end++; break;
	case 'T': scale = 1000LL * 1000 * 1000 * 1000; end++; break;
	default: break;
	}
	if (*end == 'B')
		end++;
	if (*end)
		return -EINVAL;
	value *= (double)scale;
	/* NaN, infinity and sizes past 8 EB have no int64_t. */
	if (!(value < 9.2e18))
		return -EINVAL;
	*out = (int64_t)value;
	return 0;
}

static int set_value(json_t *request, const char *key, enum value_type type, const char *text)
{
	int64_t number;
	char *end;

	switch (type) {
	case VALUE_NONE:
		json_object_set_new(request, key, json_true());
		return 0;
	case VALUE_STRING:
		if (json_object_set_new(request, key, json_string(text)) != 0)
			return fail(EXIT_USAGE, "'%s' is not UTF-8", esc(text));
		return 0;
	case VALUE_PATH:
		admin_set_path(request, key, text);
		return 0;
	case VALUE_INT:
		errno = 0;
		number = strtoll(text, &end, 10);
		if (errno || *end || number < 0)
			return fail(EXIT_USAGE, "'%s' is not a number", esc(text));
		json_object_set_new(request, key, json_integer(number));
		return 0;
	case VALUE_DURATION:
		if (duration_parse(text, &number) != 0)
			return fail(EXIT_USAGE, "'%s' is not a duration (use e.g. 30s, 10m, 1h, 7d)",
				    esc(text));
		json_object_set_new(request, key, json_integer(number));
		return 0;
	case VALUE_SIZE:
		if (parse_size(text, &number) != 0)
			return fail(EXIT_USAGE, "'%s' is not a size (use e.g. 500k, 10M, 2G)", esc(text));
		json_object_set_new(request, key, json_integer(number));
		return 0;
	}
	return EXIT_USAGE;
}

static void command_help(const struct command *cmd)
{
	printf("usage: mediactl [--json] [--mount dir | --backing dir] %s\n\n%s\n", cmd->usage,
	       cmd->help);
}

/* Build the request for argv (after the command name).  0 or an exit status. */
/*
 * A global option (--json, --mount DIR, --backing DIR, --config FILE) where
 * people type it, after the command.  Returns how many arguments it took
 * (0: not a global option), or -1 when its value is missing.
 */
static int take_global_option(struct options *opts, int argc, char **argv, int i)
{
	static const struct {
		const char *name;
		size_t offset;
	} with_value[] = {
		{ "--mount", offsetof(struct options, mount) },
		{ "--backing", offsetof(struct options, backing) },
		{ "--config", offsetof(struct options, config) },
	};

	if (!strcmp(argv[i], "--json")) {
		opts->json = true;
		return 1;
	}
	for (size_t k = 0; k < sizeof(with_value) / sizeof(with_value[0]); k++) {
		if (strcmp(argv[i], with_value[k].name) != 0)
			continue;
		if (i + 1 >= argc)
			return -1;
		*(const char **)(void *)((char *)opts + with_value[k].offset) = argv[i + 1];
		return 2;
	}
	return 0;
}

static int build_request(const struct command *cmd, int argc, char **argv, json_t *request,
			 struct options *opts)
{
	bool positional_seen = false, options_end = false;

	json_object_set_new(request, "command", json_string(cmd->name));
	for (int i = 0; i < argc; i++) {
		const struct flag *flag = NULL;
		int taken;

		/* "--" ends the options: a path may then start with a dash. */
		if (!options_end && !strcmp(argv[i], "--")) {
			options_end = true;
			continue;
		}
		if (options_end)
			goto positional;
		taken = take_global_option(opts, argc, argv, i);
		if (taken < 0)
			return fail(EXIT_USAGE, "%s needs a value\n%s", argv[i], usage_text);
		if (taken > 0) {
			i += taken - 1;
			continue;
		}
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			command_help(cmd);
			exit(EXIT_OK);
		}
		for (const struct flag *f = cmd->flags; f->name; f++)
			if (!strcmp(argv[i], f->name))
				flag = f;
		if (flag) {
			if (flag->type != VALUE_NONE && i + 1 >= argc)
				return fail(EXIT_USAGE, "%s needs a value\nusage: mediactl %s",
					    flag->name, cmd->usage);
			int err = set_value(request, flag->key, flag->type,
					    flag->type == VALUE_NONE ? NULL : argv[++i]);
			if (err)
				return err;
			continue;
		}
		if (argv[i][0] == '-' && argv[i][1] == '-')
			return fail(EXIT_USAGE, "%s does not take %s\nusage: mediactl %s", cmd->name,
				    esc(argv[i]), cmd->usage);
positional:
		if (!cmd->positional || positional_seen)
			return fail(EXIT_USAGE, "unexpected argument '%s'\nusage: mediactl %s",
				    esc(argv[i]), cmd->usage);
		int err = set_value(request, cmd->positional, cmd->positional_type, argv[i]);
		if (err)
			return err;
		positional_seen = true;
	}
	if (cmd->positional_required && !positional_seen)
		return fail(EXIT_USAGE, "%s needs an argument\nusage: mediactl %s", cmd->name,
			    cmd->usage);
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	struct options opts = { .color = isatty(STDOUT_FILENO) && !getenv("NO_COLOR") };
	const struct command *cmd = NULL;
	char socket_path[PATH_MAX];
	json_t *request, *response;
	int i, status;

	log_init("mediactl", LOG_LEVEL_WARN, LOG_TARGET_STDERR);
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--json")) {
			opts.json = true;
		} else if (!strcmp(argv[i], "--mount") && i + 1 < argc) {
			opts.mount = argv[++i];
		} else if (!strcmp(argv[i], "--backing") && i + 1 < argc) {
			opts.backing = argv[++i];
		} else if (!strcmp(argv[i], "--config") && i + 1 < argc) {
			opts.config = argv[++i];
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(usage_text, stdout);
			return EXIT_OK;
		} else {
			fprintf(stderr, "mediactl: unknown option '%s'\n%s", esc(argv[i]), usage_text);
			return EXIT_USAGE;
		}
	}
	if (i >= argc) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	for (size_t c = 0; c < sizeof(commands) / sizeof(commands[0]); c++)
		if (!strcmp(argv[i], commands[c].name))
			cmd = &commands[c];
	if (!cmd) {
		fprintf(stderr, "mediactl: unknown command '%s'\n%s", esc(argv[i]), usage_text);
		return EXIT_USAGE;
	}
	out_opts = &opts;
	request = json_object();
	status = build_request(cmd, argc - i - 1, argv + i + 1, request, &opts);
	if (status) {
		json_decref(request);
		return status;
	}
	if (opts.mount && opts.backing) {
		json_decref(request);
		return fail(EXIT_USAGE, "use --mount (a running daemon) or --backing (a stopped "
			    "store), not both");
	}
	if (opts.backing) {
		response = run_offline(&opts, request);
	} else {
		status = find_socket(&opts, socket_path, sizeof(socket_path));
		response = status ? NULL : ask_daemon(socket_path, request, cmd->progress);
	}
	json_decref(request);
	if (!response)
		return status ? status : EXIT_REFUSED;
	if (opts.json) {
		char *text = json_dumps(response, JSON_INDENT(2));
		printf("%s\n", text ? text : "{}");
		free(text);
	}
	if (json_is_true(json_object_get(response, "ok"))) {
		if (!opts.json)
			print_response(cmd->name, response);
		status = EXIT_OK;
	} else {
		const char *kind = str(response, "kind");
		if (!opts.json || isatty(STDERR_FILENO))
			fprintf(stderr, "mediactl: %s: %s\n", cmd->name, shown(response, "error"));
		if (!opts.json && !strcmp(cmd->name, "restore"))
			print_restore(response);
		status = !strcmp(kind, "usage") ? EXIT_USAGE : EXIT_REFUSED;
	}
	json_decref(response);
	return status;
}
