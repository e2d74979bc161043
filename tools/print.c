/*
 * print: mediactl's answers for people.  Tables sized to their widest
 * cell, sizes and times in one spelling, colours only on a terminal, and
 * every name and value from the daemon escaped (file names and database
 * values are user data).  --json output does not come here.
 */
#include "print.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin.h"
#include "clock.h"
#include "duration.h"
#include "grow.h"
#include "humanize.h"
#include "termesc.h"

static bool use_color;

void print_set_color(bool on)
{
	use_color = on;
}

static const char *color(const char *code)
{
	return use_color ? code : "";
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

const char *print_str(const json_t *obj, const char *key)
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

const char *print_esc(const char *text)
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
const char *print_esc_unless_printable(const char *text)
{
	for (const char *p = text ? text : ""; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			return print_esc(text);
	return text ? text : "";
}

/* The value of key for people: its bytes (from key_hex when the path is
 * not UTF-8), escaped. */
const char *print_shown(const json_t *obj, const char *key)
{
	char *raw = json_object_get(obj, key) ? admin_get_path(obj, key) : NULL;
	const char *escaped = print_esc(raw ? raw : print_str(obj, key));

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

static void exit_out_of_memory(void)
{
	fputs("mediactl: out of memory\n", stderr);
	exit(EXIT_REFUSED);
}

static void table_add(struct table *t, const char *row_color, ...)
{
	va_list ap;

	char **cells = grow_array(t->cells, &t->cell_capacity, (t->rows + 1) * t->columns,
				  sizeof(*cells), 64);
	const char **colors;

	if (!cells)
		exit_out_of_memory();
	t->cells = cells;
	colors = grow_array(t->colors, &t->color_capacity, t->rows + 1, sizeof(*colors), 16);
	if (!colors)
		exit_out_of_memory();
	t->colors = colors;
	va_start(ap, row_color);
	for (size_t c = 0; c < t->columns; c++) {
		const char *cell = va_arg(ap, const char *);
		char *copy = strdup(cell ? cell : "");
		if (!copy)
			exit_out_of_memory();
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
	       !strcmp(print_str(scan, "status"), "held") || !strcmp(print_str(scan, "status"), "failed") ?
		       RED : "", print_shown(scan, "status"), RESET, print_shown(scan, "trigger"), when,
	       (long long)num(scan, "live"), (long long)num(scan, "referenced"),
	       (long long)num(scan, "candidates"), (long long)num(scan, "quarantined"),
	       (long long)num(scan, "restored"), (long long)num(scan, "purged"),
	       (long long)num(scan, "conflicts"));
	if (print_str(scan, "message")[0])
		printf("%-12s %s\n", "", print_shown(scan, "message"));
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
			printf("%-12s   %s\n", "", print_esc_unless_printable(json_string_value(example)));
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
	printf("%-12s %s%s\n", "backing", print_shown(r, "backing"),
	       json_is_true(json_object_get(r, "daemon")) ? "" : " (daemon stopped)");
	if (json_object_get(r, "pid"))
		printf("%-12s pid %lld, mediafs %s\n", "daemon", (long long)num(r, "pid"),
		       print_shown(r, "version"));
	json_t *config = json_object_get(r, "config");
	if (config && !strcmp(print_str(config, "origin"), "none"))
		printf("%-12s none known: the settings shown are the defaults and no source is "
		       "read (give --config FILE)\n", "config");
	else if (config && print_str(config, "path")[0])
		printf("%-12s %s%s\n", "config", print_shown(config, "path"),
		       !strcmp(print_str(config, "origin"), "remembered") ?
			       " (the file the daemon last ran with)" : "");
	printf("%-12s", "sources");
	json_array_foreach(sources, i, item)
		printf(" %s", print_shown(item, "name"));
	printf("%s\n", json_array_size(sources) ? "" : " none (nothing is quarantined)");
	if (json_object_get(r, "source_errors"))
		printf("%-12s %s%s%s\n", "", RED, print_shown(r, "source_errors"), RESET);
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

		printf("%-12s %s%s%s\n", i ? "" : "alarms", RED, print_shown(item, "message"), RESET);
		/* Names are data: escaped, one per line. */
		json_array_foreach(json_object_get(item, "paths"), j, path)
			printf("%-12s   %s\n", "", print_shown(path, "path"));
	}
}

static void print_purge(const json_t *r)
{
	size_t i;
	json_t *f;

	printf("purged %zu files\n", json_array_size(json_object_get(r, "purged")));
	json_array_foreach(json_object_get(r, "kept"), i, f)
		printf("kept #%lld %s: %s\n", (long long)num(f, "id"), print_shown(f, "path"),
		       print_shown(f, "kept"));
	json_array_foreach(json_object_get(r, "kept_open"), i, f)
		printf("kept #%lld %s: open for writing through the mount\n",
		       (long long)num(f, "id"), print_shown(f, "path"));
	json_array_foreach(json_object_get(r, "unrecorded"), i, f)
		printf("%sunrecorded%s #%lld %s: %s\n", RED, RESET, (long long)num(f, "id"),
		       print_shown(f, "path"), print_shown(f, "error"));
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
		human_when(!strcmp(print_str(f, "state"), "live") ? num(f, "activity_ms") :
			   num(f, "state_changed_ms"), changed, sizeof(changed));
		if (quarantine_view) {
			human_when(num(f, "purge_at_ms"), purge, sizeof(purge));
			/* A file deleted through the mount has no scan. */
			if (num(f, "scan_id") > 0)
				snprintf(scan, sizeof(scan), "%lld", (long long)num(f, "scan_id"));
			else
				snprintf(scan, sizeof(scan), "-");
			table_add(&t, "", id, size, changed, print_shown(f, "reason"), scan, purge,
				  print_shown(f, "path"));
		} else {
			table_add(&t, state_color(print_str(f, "state")), id, print_shown(f, "state"), size,
				  changed, print_shown(f, "path"));
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
		snprintf(change, sizeof(change), "%s -> %s", print_str(e, "from")[0] ? print_shown(e, "from") : "new",
			 print_str(e, "to")[0] ? print_shown(e, "to") : "gone");
		table_add(&t, state_color(print_str(e, "to")), when, change, print_shown(e, "reason"),
			  print_shown(e, "path"), print_shown(e, "detail"));
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
		printf("%s#%lld %s%s %s (%s)\n", state_color(print_str(f, "state")), (long long)num(f, "id"),
		       print_shown(f, "state"), RESET, print_shown(f, "path"), print_shown(f, "reason"));
		printf("  size %s, first seen %s, last written %s, state since %s\n", size, seen,
		       written, changed);
		if (json_object_get(f, "quarantine_name") && !strcmp(print_str(f, "state"), "purged")) {
			printf("  was in the quarantine as %s%s; purged %s\n",
			       print_shown(f, "quarantine_name"), scan_note(f), changed);
		} else if (json_object_get(f, "quarantine_name")) {
			char purge[64];
			human_when(num(f, "purge_at_ms"), purge, sizeof(purge));
			printf("  in the quarantine as %s%s; purged %s\n",
			       print_shown(f, "quarantine_name"), scan_note(f), purge);
		}
		if (num(f, "access_restores"))
			printf("  brought back by a lookup %lld time%s: a lookup no longer "
			       "restores it\n", (long long)num(f, "access_restores"),
			       num(f, "access_restores") == 1 ? "" : "s");
	}
	printf("\nhistory:\n");
	print_audit(json_object_get(r, "audit"));
}

void print_restore(const json_t *r)
{
	size_t i;
	json_t *f;

	json_array_foreach(json_object_get(r, "restored"), i, f)
		printf("%srestored%s %s%s%s%s\n", GREEN, RESET,
		       json_object_get(f, "restored_to") ? print_shown(f, "restored_to") : print_shown(f, "path"),
		       json_object_get(f, "restored_to") ? " (was " : "",
		       json_object_get(f, "restored_to") ? print_shown(f, "path") : "",
		       json_object_get(f, "restored_to") ? ")" : "");
	json_array_foreach(json_object_get(r, "refused"), i, f)
		printf("%srefused%s  %s: %s\n", RED, RESET, print_shown(f, "path"), print_shown(f, "refused"));
}

static void print_check(const json_t *r)
{
	size_t i;
	json_t *item;

	if (json_object_get(r, "note"))
		printf("%s%s%s\n", RED, print_shown(r, "note"), RESET);
	json_array_foreach(json_object_get(r, "sources"), i, item)
		printf("source %s: %s%s%s\n", print_shown(item, "name"),
		       json_is_true(json_object_get(item, "ok")) ? GREEN : RED,
		       json_is_true(json_object_get(item, "ok")) ? "read" : print_shown(item, "error"),
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
		printf("  %s%s%s%s\n", print_shown(item, "path"),
		       json_is_true(json_object_get(item, "quarantined")) ? " (quarantined as " : "",
		       json_is_true(json_object_get(item, "quarantined")) ?
			       print_shown(item, "quarantine_name") : "",
		       json_is_true(json_object_get(item, "quarantined")) ? ")" : "");
	printf("%lld live rows have no file%s\n", (long long)num(r, "missing_count"),
	       num(r, "missing_count") ? ":" : "");
	json_array_foreach(json_object_get(r, "missing"), i, item)
		printf("  %s\n", print_shown(item, "path"));
	printf("%lld files are not in the catalog%s\n", (long long)num(r, "untracked_count"),
	       num(r, "untracked_count") ? ":" : "");
	json_array_foreach(json_object_get(r, "untracked"), i, item)
		printf("  %s\n", print_shown(item, "path"));
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
		table_add(&t, "", live, lf, quarantined, qf, print_esc(dir));
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
		printf("%s\n", print_shown(p, "pattern"));
}

void print_response(const char *command, const json_t *r)
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
		fputs(print_str(r, "text"), stdout);
	else if (!strcmp(command, "reload"))
		printf("%s\n", print_shown(r, "message"));
}
