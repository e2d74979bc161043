/*
 * metrics: the Prometheus text exposition of a status answer (see
 * metrics.h).
 */
#include "metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "grow.h"

/* The alarm kinds the daemon raises; each is exported, 0 when quiet, so
 * that an alert rule can test "== 1" without an absent series. */
static const char *const alarm_kinds[] = {
	"backing", "source", "held", "catalog", "requested",
};

static const char *const file_states[] = { "live", "quarantined", "purged", "missing" };

static const char *const scan_figures[] = {
	"live", "referenced", "candidates", "quarantined", "restored", "purged",
	"conflicts", "hostile",
};

/* A growing text buffer; ok turns false for good when memory runs out. */
struct text {
	char *buf;
	size_t len, cap;
	bool ok;
};

static void text_printf(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void text_printf(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!t->ok)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->ok = false;
			return;
		}
		if ((size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		}
		char *buf = grow_array(t->buf, &t->cap, t->len + (size_t)n + 1, 1, 4096);
		if (!buf) {
			t->ok = false;
			return;
		}
		t->buf = buf;
	}
}

/* A label value as the format wants it: \\, \" and \n escaped. */
static void text_label_value(struct text *t, const char *value)
{
	for (const char *p = value; *p && t->ok; p++) {
		if (*p == '\\')
			text_printf(t, "\\\\");
		else if (*p == '"')
			text_printf(t, "\\\"");
		else if (*p == '\n')
			text_printf(t, "\\n");
		else
			text_printf(t, "%c", *p);
	}
}

static void header(struct text *t, const char *name, const char *type, const char *help)
{
	text_printf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample(struct text *t, const char *name, const char *label, const char *value,
		   double number)
{
	text_printf(t, "%s", name);
	if (label) {
		text_printf(t, "{%s=\"", label);
		text_label_value(t, value);
		text_printf(t, "\"}");
	}
	/* Exact for counts below 10^15 and for milliseconds since the epoch. */
	text_printf(t, " %.15g\n", number);
}

static bool number_of(const json_t *obj, const char *key, double *out)
{
	const json_t *value = json_object_get(obj, key);

	if (!json_is_number(value))
		return false;
	*out = json_number_value(value);
	return true;
}

static void render_totals(struct text *t, const json_t *status)
{
	const json_t *totals = json_object_get(status, "totals");
	double n;

	if (!json_is_object(totals))
		return;
	header(t, "mediafs_files", "gauge", "Tracked files by state.");
	for (size_t i = 0; i < sizeof(file_states) / sizeof(file_states[0]); i++)
		if (number_of(json_object_get(totals, file_states[i]), "files", &n))
			sample(t, "mediafs_files", "state", file_states[i], n);
	header(t, "mediafs_size_bytes", "gauge", "Known bytes of tracked files by state.");
	for (size_t i = 0; i < sizeof(file_states) / sizeof(file_states[0]); i++)
		if (number_of(json_object_get(totals, file_states[i]), "bytes", &n))
			sample(t, "mediafs_size_bytes", "state", file_states[i], n);
}

/* A JSON object of name -> count as one labelled family. */
static void render_counts(struct text *t, const json_t *counts, const char *name,
			  const char *type, const char *help, const char *label)
{
	const char *key;
	const json_t *value;

	if (!json_is_object(counts))
		return;
	header(t, name, type, help);
	json_object_foreach((json_t *)counts, key, value)
		if (json_is_number(value))
			sample(t, name, label, key, json_number_value(value));
}

static void render_last_scan(struct text *t, const json_t *status)
{
	const json_t *scan = json_object_get(status, "last_scan");
	const char *outcome = json_string_value(json_object_get(scan, "status"));
	double started, finished, n;

	if (!json_is_object(scan))
		return;
	if (number_of(scan, "started_ms", &started) && number_of(scan, "finished_ms", &finished) &&
	    finished >= started) {
		header(t, "mediafs_last_scan_duration_seconds", "gauge",
		       "How long the last finished scan took.");
		sample(t, "mediafs_last_scan_duration_seconds", NULL, NULL,
		       (finished - started) / 1000.0);
		header(t, "mediafs_last_scan_timestamp_seconds", "gauge",
		       "When the last scan finished, in seconds since the epoch.");
		sample(t, "mediafs_last_scan_timestamp_seconds", NULL, NULL, finished / 1000.0);
	}
	if (outcome) {
		header(t, "mediafs_last_scan_outcome", "gauge",
		       "The outcome of the last scan: 1 for the outcome it had.");
		sample(t, "mediafs_last_scan_outcome", "outcome", outcome, 1);
	}
	header(t, "mediafs_last_scan_files", "gauge",
	       "What the last scan counted: live files, references, candidates, moves.");
	for (size_t i = 0; i < sizeof(scan_figures) / sizeof(scan_figures[0]); i++)
		if (number_of(scan, scan_figures[i], &n))
			sample(t, "mediafs_last_scan_files", "figure", scan_figures[i], n);
}

static void render_sources(struct text *t, const json_t *status)
{
	const json_t *sources = json_object_get(status, "sources"), *source;
	size_t i;
	bool any = false;

	json_array_foreach(sources, i, source) {
		const char *name = json_string_value(json_object_get(source, "name"));
		double n;

		if (!name || !number_of(source, "references", &n))
			continue;
		if (!any)
			header(t, "mediafs_source_references", "gauge",
			       "References the last scan fetched from each source.");
		any = true;
		sample(t, "mediafs_source_references", "source", name, n);
	}
}

static void render_alarms(struct text *t, const json_t *status)
{
	const json_t *alarms = json_object_get(status, "alarms"), *alarm;
	size_t i;

	if (!json_is_array(alarms))
		return;
	header(t, "mediafs_alarm", "gauge", "1 while an alarm of this kind is raised.");
	for (size_t k = 0; k < sizeof(alarm_kinds) / sizeof(alarm_kinds[0]); k++) {
		bool raised = false;
		json_array_foreach(alarms, i, alarm) {
			const char *kind = json_string_value(json_object_get(alarm, "kind"));
			raised |= kind && strcmp(kind, alarm_kinds[k]) == 0;
		}
		sample(t, "mediafs_alarm", "kind", alarm_kinds[k], raised);
	}
}

static void render_daemon(struct text *t, const json_t *status)
{
	const json_t *events = json_object_get(status, "events");
	double emitted, committed, dropped, n;

	header(t, "mediafs_daemon_up", "gauge", "1 when these figures come from a running daemon.");
	sample(t, "mediafs_daemon_up", NULL, NULL, json_is_true(json_object_get(status, "daemon")));
	if (number_of(events, "emitted", &emitted) && number_of(events, "committed", &committed) &&
	    number_of(events, "dropped", &dropped)) {
		double queued = emitted - committed - dropped;
		header(t, "mediafs_catalog_events_queued", "gauge",
		       "Changes seen through the mount and not yet committed to the catalog.");
		sample(t, "mediafs_catalog_events_queued", NULL, NULL, queued > 0 ? queued : 0);
		header(t, "mediafs_catalog_events_total", "counter",
		       "Changes seen through the mount, committed to the catalog, or dropped.");
		sample(t, "mediafs_catalog_events_total", "result", "emitted", emitted);
		sample(t, "mediafs_catalog_events_total", "result", "committed", committed);
		sample(t, "mediafs_catalog_events_total", "result", "dropped", dropped);
	}
	if (number_of(status, "next_scan_ms", &n) && n > 0) {
		header(t, "mediafs_next_scan_timestamp_seconds", "gauge",
		       "When the next scan is due, in seconds since the epoch.");
		sample(t, "mediafs_next_scan_timestamp_seconds", NULL, NULL, n / 1000.0);
	}
	render_counts(t, json_object_get(status, "data_path_errors"),
		      "mediafs_data_path_errors_total", "counter",
		      "Requests through the mount that failed with an error of the backing "
		      "filesystem, by error.", "error");
}

char *metrics_render(const json_t *status)
{
	const json_t *moves = json_object_get(status, "transitions");
	struct text t = { .cap = 4096, .ok = true };

	t.buf = malloc(t.cap);
	if (!t.buf)
		return NULL;
	t.buf[0] = '\0';
	render_daemon(&t, status);
	render_totals(&t, status);
	render_counts(&t, json_object_get(status, "scan_counts"), "mediafs_scans_total",
		      "counter", "Scans by outcome.", "outcome");
	render_last_scan(&t, status);
	render_sources(&t, status);
	render_counts(&t, json_object_get(moves, "quarantined"), "mediafs_quarantines_total",
		      "counter", "Files moved to the quarantine, by reason.", "reason");
	render_counts(&t, json_object_get(moves, "restored"), "mediafs_restores_total",
		      "counter", "Files brought back from the quarantine, by cause.", "cause");
	render_counts(&t, json_object_get(moves, "purged"), "mediafs_purges_total",
		      "counter", "Quarantined files deleted for good, by reason.", "reason");
	render_alarms(&t, status);
	if (!t.ok) {
		free(t.buf);
		return NULL;
	}
	return t.buf;
}

int metrics_write_file(const char *path, const char *text)
{
	char tmp[PATH_MAX];
	size_t len = strlen(text), done = 0;
	int fd, err = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	/* O_EXCL: a name planted beforehand (a link to another file) is
	 * never written through; a stale one of ours is removed once. */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0 && errno == EEXIST && unlink(tmp) == 0)
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	/* The daemon runs with umask 0: the mode is set, not masked. */
	if (fchmod(fd, 0644) != 0)
		err = -errno;
	while (!err && done < len) {
		ssize_t n = write(fd, text + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			err = -errno;
		else
			done += (size_t)n;
	}
	if (close(fd) != 0 && !err)
		err = -errno;
	if (!err && rename(tmp, path) != 0)
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}
