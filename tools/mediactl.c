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
#include "admin_review.h"
#include "catalog.h"
#include "clock.h"
#include "config.h"
#include "ctladdr.h"
#include "duration.h"
#include "grow.h"
#include "log.h"
#include "print.h"
#include "quarantine.h"
#include "review.h"
#include "store.h"
#include "termesc.h"

enum { SPINNER_MS = 200, PROGRESS_MS = 1000 };

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
"  review [--scan n | --held | --quarantine] [-o file]\n"
"                             a web page of thumbnails of what a scan moves\n"
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
			return fail(EXIT_USAGE, "cannot use mount '%s': %s", print_esc(opts->mount),
				    strerror(errno));
		if (ctladdr_for_mount(mount, path, size, NULL, 0) != 0)
			return fail(EXIT_USAGE, "mount path too long");
		if (access(path, F_OK) != 0)
			return fail(EXIT_REFUSED, "no mediafs is running on '%s' (no socket at "
				    "'%s'); with the daemon stopped use --backing", print_esc(mount), print_esc(path));
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
			    "one with --mount, or a stopped store with --backing", print_esc(dir));
	return fail(EXIT_USAGE, "%d mounts are running: name one with --mount", found);
}

/*
 * How far a restore or a purge is: how many files have left the
 * quarantine since it began, as the status counts them on a second
 * connection (the catalog records each file in its own transaction).
 * Approximate: a scan or the checker's purge at the same time counts too.
 */
struct progress {
	const char *socket_path;	/* NULL: nothing to count */
	bool scan;			/* a scan: the daemon says how far it is */
	char scan_text[96];		/* what it said last, "" before */
	const char *done_word;		/* "restored", "purged" */
	int64_t before;			/* quarantined files when it began */
	int64_t total;			/* files it will move, or -1 when unknown */
	int64_t left_quarantine;	/* so far, or -1 before the first count */
	int64_t counted_ms;
};

static void spinner(const char *what, int64_t started_ms, bool done,
		    const struct progress *progress)
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
	if (progress && progress->scan_text[0])
		fprintf(stderr, ", %s", progress->scan_text);
	else if (progress && progress->left_quarantine >= 0 && progress->total >= 0)
		fprintf(stderr, ", %lld of %lld files %s", (long long)progress->left_quarantine,
			(long long)progress->total, progress->done_word);
	else if (progress && progress->left_quarantine >= 0)
		fprintf(stderr, ", %lld files %s", (long long)progress->left_quarantine,
			progress->done_word);
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

static json_t *ask_daemon(const char *socket_path, json_t *request, const char *what,
			  struct progress *progress);

/* The files in the quarantine now, or -1 when the status does not say. */
static int64_t quarantined_files(const char *socket_path)
{
	json_t *request = json_pack("{s:s}", "command", "status");
	json_t *status = request ? ask_daemon(socket_path, request, NULL, NULL) : NULL;
	json_t *totals = json_object_get(json_object_get(status, "totals"), "quarantined");
	int64_t files = json_is_integer(json_object_get(totals, "files")) ?
			json_integer_value(json_object_get(totals, "files")) : -1;

	json_decref(request);
	json_decref(status);
	return files;
}

/* How far the daemon's scan is, for people, into progress->scan_text. */
static void scan_progress(struct progress *progress)
{
	json_t *request = json_pack("{s:s}", "command", "status");
	json_t *status = request ? ask_daemon(progress->socket_path, request, NULL, NULL) : NULL;
	json_t *p = json_object_get(status, "scan_progress");
	const char *phase = json_string_value(json_object_get(p, "phase"));
	long long done = json_integer_value(json_object_get(p, "done"));
	long long total = json_integer_value(json_object_get(p, "total"));

	if (!status)
		progress->socket_path = NULL;
	else if (!phase)
		progress->scan_text[0] = '\0';
	else if (!strcmp(phase, "reading"))
		snprintf(progress->scan_text, sizeof(progress->scan_text),
			 "reading the references and the catalog");
	else
		snprintf(progress->scan_text, sizeof(progress->scan_text), "%s: %lld of %lld files",
			 phase, done, total);
	json_decref(request);
	json_decref(status);
}

/* Count again, once a second. */
static void progress_count(struct progress *progress)
{
	int64_t now = clock_now_ms(), files;

	if (!progress || !progress->socket_path || now - progress->counted_ms < PROGRESS_MS)
		return;
	progress->counted_ms = now;
	if (progress->scan) {
		scan_progress(progress);
		return;
	}
	files = quarantined_files(progress->socket_path);
	if (files < 0) {
		progress->socket_path = NULL;
		return;
	}
	progress->left_quarantine = progress->before > files ? progress->before - files : 0;
}

/* Send request, wait for the response line (a spinner, and progress
 * when given, meanwhile). */
static json_t *ask_daemon(const char *socket_path, json_t *request, const char *what,
			  struct progress *progress)
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
		fail(EXIT_REFUSED, "socket path '%s' is too long", print_esc(socket_path));
		goto out;
	}
	memcpy(addr.sun_path, socket_path, strlen(socket_path) + 1);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		fail(EXIT_REFUSED, "cannot reach the daemon at '%s': %s", print_esc(socket_path),
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
			progress_count(progress);
			spinner(what, started, false, progress);
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
	spinner(what, started, true, progress);
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

/*
 * A restore or a purge counts the files that leave the quarantine; purge
 * --all knows how many will.  A scan (or a confirmed one) asks the daemon
 * how far it is.
 */
static void start_progress(struct progress *progress, const char *command,
			   const json_t *request, const char *socket_path)
{
	bool purge = !strcmp(command, "purge");

	if (!strcmp(command, "scan") || !strcmp(command, "confirm")) {
		progress->socket_path = socket_path;
		progress->scan = true;
		progress->counted_ms = clock_now_ms();
		return;
	}
	if (!purge && strcmp(command, "restore") != 0)
		return;
	progress->before = quarantined_files(socket_path);
	if (progress->before < 0)
		return;
	progress->socket_path = socket_path;
	progress->done_word = purge ? "purged" : "restored";
	progress->counted_ms = clock_now_ms();
	if (purge && json_is_true(json_object_get(request, "all")))
		progress->total = progress->before;
}

/* --backing: the store itself, locked against a daemon. */
struct offline {
	struct store st;
	struct quarantine q;
	struct config cfg;
	struct admin_context ctx;
};

/* Open the store of --backing; 0, or an exit status having said why. */
static int offline_open(const struct options *opts, struct offline *off)
{
	char catalog_path[PATH_MAX], error[1024], state_dir[PATH_MAX], why[1024];
	struct stat sb;
	int err;

	off->q = (struct quarantine){ .dir_fd = -1 };
	off->ctx = (struct admin_context){ .config = &off->cfg };
	config_init_defaults(&off->cfg);
	if (opts->config && config_load(&off->cfg, opts->config, error, sizeof(error)) != 0) {
		config_free(&off->cfg);
		return fail(EXIT_USAGE, "%s", print_esc(error));
	}
	snprintf(state_dir, sizeof(state_dir), "%s/%s", opts->backing, STORE_STATE_DIR_NAME);
	/* lstat: a link named .mediafs is a store that store_open() refuses
	 * in its own words. */
	if (lstat(state_dir, &sb) != 0) {
		fail(EXIT_REFUSED, "'%s' is not a mediafs store (no %s)", print_esc(opts->backing),
		     STORE_STATE_DIR_NAME);
		goto out_config;
	}
	err = store_open(&off->st, opts->backing, why, sizeof(why));
	if (err == -EWOULDBLOCK) {
		fail(EXIT_REFUSED, "a mediafs daemon holds '%s': ask it with --mount", print_esc(opts->backing));
		goto out_config;
	}
	if (err) {
		fail(EXIT_REFUSED, "%s", print_esc_unless_printable(why));
		goto out_config;
	}
	/* Each step says what failed: error holds a message only from
	 * catalog_open(). */
	err = quarantine_open(&off->q, &off->st);
	if (err) {
		fail(EXIT_REFUSED, "cannot open the quarantine of '%s': %s", print_esc(opts->backing),
		     strerror(-err));
		goto out_store;
	}
	err = store_state_path(&off->st, CATALOG_FILE_NAME, catalog_path, sizeof(catalog_path));
	if (!err)
		err = catalog_open(catalog_path, false, &off->ctx.cat, error, sizeof(error));
	if (err) {
		fail(EXIT_REFUSED, "cannot open the catalog of '%s': %s", print_esc(opts->backing),
		     err == -ENOENT || err == -ENAMETOOLONG ? strerror(-err) : print_esc(error));
		goto out_store;
	}
	off->ctx.store = &off->st;
	off->ctx.quarantine = &off->q;
	off->ctx.config_origin = opts->config ? "given" : "none";
	if (!opts->config && load_remembered_config(off->ctx.cat, &off->cfg) == 0)
		off->ctx.config_origin = "remembered";
	return EXIT_OK;
out_store:
	quarantine_close(&off->q);
	store_close(&off->st);
out_config:
	config_free(&off->cfg);
	return EXIT_REFUSED;
}

static void offline_close(struct offline *off)
{
	catalog_close(off->ctx.cat);
	quarantine_close(&off->q);
	store_close(&off->st);
	config_free(&off->cfg);
}

static json_t *run_offline(const struct options *opts, json_t *request)
{
	struct offline off;
	json_t *response;

	if (offline_open(opts, &off) != EXIT_OK)
		return NULL;
	response = admin_execute(&off.ctx, request);
	offline_close(&off);
	return response;
}

/* review's backend on the stopped store: its requests and the admin's. */
static json_t *offline_ask(void *arg, const json_t *request, int *fd)
{
	struct offline *off = arg;

	*fd = -1;
	if (admin_review_is_request(request))
		return admin_review_execute(&off->ctx, request, fd);
	return admin_execute(&off->ctx, request);
}

/* mediactl review, on the daemon or the stopped store. */
static int run_review(const struct options *opts, const json_t *request)
{
	struct review_options review = {
		.request = request, .mount = opts->mount, .backing = opts->backing,
		.json = opts->json, .progress = !opts->json && isatty(STDOUT_FILENO),
	};
	struct review_backend backend = { 0 };
	char socket_path[PATH_MAX];
	struct offline off;
	int status;

	if (opts->backing) {
		status = offline_open(opts, &off);
		if (status)
			return status;
		backend.ask = offline_ask;
		backend.ctx = &off;
		status = review_run(&review, &backend);
		offline_close(&off);
		return status;
	}
	status = find_socket(opts, socket_path, sizeof(socket_path));
	if (!status)
		status = review_connect(socket_path, &backend);
	if (status)
		return status;
	status = review_run(&review, &backend);
	review_disconnect(&backend);
	return status;
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
	{ "review", "review [--scan n | --held | --quarantine] [-o file]", "One self-contained "
	  "HTML page of the files a held scan would move (the default), a scan moved, or the "
	  "quarantine holds: thumbnails grouped by directory, sizes, ages, reasons, purge times "
	  "and the restore commands to copy.  The page goes to -o FILE (or to stdout when it "
	  "is not a terminal).", NULL, VALUE_NONE, false, NULL,
	  { { "--scan", "scan", VALUE_INT }, { "--held", "held", VALUE_NONE },
	    { "--quarantine", "quarantine", VALUE_NONE }, { "-o", "output", VALUE_PATH },
	    { "--output", "output", VALUE_PATH }, { 0 } } },
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
			return fail(EXIT_USAGE, "'%s' is not UTF-8", print_esc(text));
		return 0;
	case VALUE_PATH:
		admin_set_path(request, key, text);
		return 0;
	case VALUE_INT:
		errno = 0;
		number = strtoll(text, &end, 10);
		if (errno || *end || number < 0)
			return fail(EXIT_USAGE, "'%s' is not a number", print_esc(text));
		json_object_set_new(request, key, json_integer(number));
		return 0;
	case VALUE_DURATION:
		if (duration_parse(text, &number) != 0)
			return fail(EXIT_USAGE, "'%s' is not a duration (use e.g. 30s, 10m, 1h, 7d)",
				    print_esc(text));
		json_object_set_new(request, key, json_integer(number));
		return 0;
	case VALUE_SIZE:
		if (parse_size(text, &number) != 0)
			return fail(EXIT_USAGE, "'%s' is not a size (use e.g. 500k, 10M, 2G)", print_esc(text));
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
				    print_esc(argv[i]), cmd->usage);
positional:
		if (!cmd->positional || positional_seen)
			return fail(EXIT_USAGE, "unexpected argument '%s'\nusage: mediactl %s",
				    print_esc(argv[i]), cmd->usage);
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
			fprintf(stderr, "mediactl: unknown option '%s'\n%s", print_esc(argv[i]), usage_text);
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
		fprintf(stderr, "mediactl: unknown command '%s'\n%s", print_esc(argv[i]), usage_text);
		return EXIT_USAGE;
	}
	print_set_color(opts.color);
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
	if (!strcmp(cmd->name, "review")) {
		status = run_review(&opts, request);
		json_decref(request);
		return status;
	}
	if (opts.backing) {
		response = run_offline(&opts, request);
	} else {
		/* Progress only for people watching: stdout a terminal, no --json. */
		bool watched = !opts.json && isatty(STDOUT_FILENO);
		struct progress progress = { .left_quarantine = -1, .total = -1 };
		status = find_socket(&opts, socket_path, sizeof(socket_path));
		if (!status && watched)
			start_progress(&progress, cmd->name, request, socket_path);
		response = status ? NULL : ask_daemon(socket_path, request,
						      watched ? cmd->progress : NULL, &progress);
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
		const char *kind = print_str(response, "kind");
		if (!opts.json || isatty(STDERR_FILENO))
			fprintf(stderr, "mediactl: %s: %s\n", cmd->name, print_shown(response, "error"));
		if (!opts.json && !strcmp(cmd->name, "restore"))
			print_restore(response);
		status = !strcmp(kind, "usage") ? EXIT_USAGE : EXIT_REFUSED;
	}
	json_decref(response);
	return status;
}
