/*
 * review_html: the page of `mediactl review` (see review_i.h).
 *
 * One HTML file with everything inline: the style, the thumbnails as
 * data: URLs, the icons drawn by CSS.  It holds no script and forbids
 * every script and every fetch by its Content-Security-Policy, so it
 * opens from disk, offline, anywhere.  Every name and value that comes
 * from the store is escaped twice: for people first (termesc: controls,
 * bytes that are not UTF-8 and bidirectional overrides become visible
 * escapes), then for HTML (& < > " ').
 *
 * Layout: writing and escaping; the summary; the tiles; the table.
 */
#include <errno.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "humanize.h"
#include "review_i.h"
#include "termesc.h"

enum {
	MAX_REASONS = 32,
	TABLE_CHUNK_ROWS = 1000,
	TABLE_ROW_PX = 24,		/* a guess at a row's height, for the scroll bar */
	TILE_ROW_PX = 290,		/* the same for a row of tiles, 4 a row */
};

static const char style[] =
"body{font:14px/1.4 system-ui,sans-serif;margin:0 1.5em 2em;color:#222;background:#fafafa}"
"h1{font-size:1.5em;margin:.8em 0 .2em}h2{font-size:1.15em;margin:1.4em 0 .4em;"
"word-break:break-all}h2 small{font-weight:normal;color:#666}"
"table{border-collapse:collapse;margin:.4em 0}td,th{padding:.15em .6em;text-align:left;"
"border-bottom:1px solid #ddd;vertical-align:top}td.n{text-align:right}"
".rest td:first-child{word-break:break-all}table.rest{table-layout:fixed;width:100%}"
".rest th:first-child{width:45%}.chunk,.grid{content-visibility:auto}"
"code{background:#eee;padding:0 .3em;border-radius:3px;user-select:all}"
".limits,.brake{background:#fff6d5;border:1px solid #e6c84f;padding:.5em .8em}"
".grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(190px,1fr));gap:.8em}"
".tile{margin:0;background:#fff;border:1px solid #ddd;border-radius:4px;padding:.5em;"
"font-size:12px;overflow:hidden}.tile img,.icon{display:block;margin:0 auto .4em;"
"max-width:160px;max-height:160px}"
".icon{width:120px;height:120px;border-radius:6px;color:#fff;font:bold 22px/120px "
"system-ui,sans-serif;text-align:center;background:#8a8a8a}"
".icon.video{background:#7a4fb5}.icon.audio{background:#2f8f6a}"
".icon.document{background:#3c6fb0}.icon.archive{background:#a8702a}"
".icon.image{background:#b04040}"
".name{font-weight:bold;word-break:break-all}.path{color:#666;word-break:break-all}"
".note{color:#a33}.tile code{display:block;margin-top:.3em;word-break:break-all}";

/* Writes count failures; the first errno is kept. */
struct writer {
	FILE *out;
	int err;
};

static void put(struct writer *w, const char *text)
{
	if (fputs(text, w->out) == EOF && !w->err)
		w->err = errno ? -errno : -EIO;
}

static void putf(struct writer *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void putf(struct writer *w, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vfprintf(w->out, fmt, ap) < 0 && !w->err)
		w->err = errno ? -errno : -EIO;
	va_end(ap);
}

/* len bytes of text (already escaped for people) escaped for HTML. */
static void put_html_n(struct writer *w, const char *text, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		switch (text[i]) {
		case '&': put(w, "&amp;"); break;
		case '<': put(w, "&lt;"); break;
		case '>': put(w, "&gt;"); break;
		case '"': put(w, "&quot;"); break;
		case '\'': put(w, "&#39;"); break;
		default:
			if (fputc(text[i], w->out) == EOF && !w->err)
				w->err = -EIO;
		}
	}
}

static void put_html(struct writer *w, const char *text)
{
	put_html_n(w, text ? text : "", text ? strlen(text) : 0);
}

/* A value from the daemon: escaped for people, then for HTML. */
static void put_value(struct writer *w, const char *raw)
{
	char *shown = termesc_dup(raw ? raw : "");

	if (!shown && !w->err)
		w->err = -ENOMEM;
	put_html(w, shown);
	free(shown);
}

static void put_base64(struct writer *w, const unsigned char *data, size_t len)
{
	static const char digits[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char quad[5] = "";

	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)data[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)data[i + 1] << 8;
		if (i + 2 < len)
			v |= data[i + 2];
		quad[0] = digits[(v >> 18) & 63];
		quad[1] = digits[(v >> 12) & 63];
		quad[2] = i + 1 < len ? digits[(v >> 6) & 63] : '=';
		quad[3] = i + 2 < len ? digits[v & 63] : '=';
		put(w, quad);
	}
}

static const char *json_text(const json_t *obj, const char *key)
{
	const char *text = json_string_value(json_object_get(obj, key));

	return text ? text : "";
}

static long long json_number(const json_t *obj, const char *key)
{
	return (long long)json_integer_value(json_object_get(obj, key));
}

/* A span of time for people, to the nearest of one unit: 45s, 12m, 5h,
 * 3d (a grace of 7d just begun is "7d", not "6d"). */
static void format_age(int64_t ms, char *buf, size_t size)
{
	static const struct {
		int64_t below_s, unit_s;
		const char *suffix;
	} units[] = {
		{ 60, 1, "s" }, { 3600, 60, "m" }, { 2 * 86400, 3600, "h" }, { INT64_MAX, 86400, "d" },
	};
	int64_t s = (ms < 0 ? -ms : ms) / 1000;
	size_t i = 0;

	while (s >= units[i].below_s)
		i++;
	snprintf(buf, size, "%lld%s", (long long)((s + units[i].unit_s / 2) / units[i].unit_s),
		 units[i].suffix);
}

static void format_time(int64_t ms, char *buf, size_t size)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(buf, size, "%Y-%m-%d %H:%M UTC", &tm))
		snprintf(buf, size, "?");
}

static void format_size(int64_t bytes, char *buf, size_t size)
{
	humanize_size(bytes > 0 ? (uint64_t)bytes : 0, buf, size);
}

/* ------------------------------------------------------------------ */
/* The summary                                                          */
/* ------------------------------------------------------------------ */

struct reason_total {
	const char *reason;
	size_t files;
	int64_t bytes;
};

static void put_reasons(struct writer *w, const struct review_page *page)
{
	struct reason_total totals[MAX_REASONS];
	size_t kinds = 0, files = 0;
	int64_t bytes = 0;
	char size[HUMANIZE_SIZE_BYTES];

	for (size_t i = 0; i < page->count; i++) {
		const char *reason = page->files[i].reason[0] ? page->files[i].reason :
				     "(none given)";
		size_t k = 0;
		while (k < kinds && strcmp(totals[k].reason, reason) != 0)
			k++;
		if (k == kinds && kinds == MAX_REASONS)
			k = kinds - 1, totals[k].reason = "(other reasons)";
		if (k == kinds)
			totals[kinds++] = (struct reason_total){ reason, 0, 0 };
		totals[k].files++;
		totals[k].bytes += page->files[i].size;
		files++;
		bytes += page->files[i].size;
	}
	put(w, "<table><tr><th>reason<th>files<th>bytes\n");
	for (size_t k = 0; k < kinds; k++) {
		format_size(totals[k].bytes, size, sizeof(size));
		put(w, "<tr><td>");
		put_html(w, totals[k].reason);
		putf(w, "<td class=n>%zu<td class=n>%s\n", totals[k].files, size);
	}
	format_size(bytes, size, sizeof(size));
	putf(w, "<tr><th>all<th class=n>%zu<th class=n>%s</table>\n", files, size);
}

static void put_sources(struct writer *w, const struct review_page *page)
{
	const json_t *sources = json_object_get(page->status, "sources"), *source;
	size_t i;

	if (json_array_size(sources) == 0) {
		put(w, "<p>No source is known to this store.</p>\n");
		return;
	}
	put(w, "<table><tr><th>source<th>references\n");
	json_array_foreach(sources, i, source) {
		put(w, "<tr><td>");
		put_value(w, json_text(source, "name"));
		if (json_object_get(source, "references"))
			putf(w, "<td class=n>%lld\n", json_number(source, "references"));
		else
			put(w, "<td>(the daemon is not running)\n");
	}
	put(w, "</table>\n");
}

static void put_command(struct writer *w, const struct review_page *page, const char *args)
{
	put(w, "<code>mediactl");
	put_value(w, page->target);
	putf(w, " %s</code>", args);
}

static void put_summary(struct writer *w, const struct review_page *page)
{
	const json_t *scan = page->scan;
	char when[64], args[64];
	long long id = json_number(scan, "id");

	put(w, "<section id=summary><h2>Summary</h2>\n");
	if (scan) {
		format_time(json_number(scan, "started_ms"), when, sizeof(when));
		put(w, "<p>Scan ");
		putf(w, "%lld (", id);
		put_value(w, json_text(scan, "trigger"));
		put(w, "), started ");
		put_html(w, when);
		put(w, ", is <b>");
		put_value(w, json_text(scan, "status"));
		putf(w, "</b>: %lld live files, %lld referenced paths, %lld candidates, "
		     "%lld quarantined, %lld unusable values in the sources.</p>\n",
		     json_number(scan, "live"), json_number(scan, "referenced"),
		     json_number(scan, "candidates"), json_number(scan, "quarantined"),
		     json_number(scan, "hostile"));
		if (json_text(scan, "message")[0]) {
			put(w, "<p class=brake>");
			put_value(w, json_text(scan, "message"));
			put(w, "</p>\n");
		}
	}
	put(w, "<p>Backing directory ");
	put_value(w, json_text(page->status, "backing"));
	put(w, ".</p>\n");
	put_reasons(w, page);
	put_sources(w, page);
	put(w, "<p>");
	if (scan && !strcmp(json_text(scan, "status"), "held")) {
		snprintf(args, sizeof(args), "confirm %lld", id);
		put(w, "Let it go ahead: ");
		put_command(w, page, args);
		snprintf(args, sizeof(args), "reject %lld", id);
		put(w, "; or keep every file: ");
		put_command(w, page, args);
	} else if (scan && page->quarantined) {
		snprintf(args, sizeof(args), "restore --scan %lld", id);
		put(w, "Undo the whole scan: ");
		put_command(w, page, args);
	} else if (page->quarantined) {
		put(w, "Delete for good what is past grace: ");
		put_command(w, page, "purge --expired");
	}
	put(w, "</p>\n");
	putf(w, "<p class=limits>%zu files: the first %zu as tiles, grouped by directory "
	     "(thumbnails %dpx for the first %d JPEG, PNG, WebP and GIF files, judged by "
	     "their names; a typed icon for the others), ", page->count, page->tiles,
	     REVIEW_THUMB_PX, REVIEW_THUMB_LIMIT);
	if (page->count > page->tiles)
		putf(w, "the other %zu in <a href=\"#rest\">a table</a> below.</p>\n",
		     page->count - page->tiles);
	else
		put(w, "no table.</p>\n");
	put(w, "</section>\n");
}

/* ------------------------------------------------------------------ */
/* The tiles and the table                                              */
/* ------------------------------------------------------------------ */

static bool same_dir(const struct review_file *a, const struct review_file *b)
{
	return a->dir_len == b->dir_len && !memcmp(a->path, b->path, a->dir_len);
}

static void put_times(struct writer *w, const struct review_page *page,
		      const struct review_file *file, const char *separator)
{
	char age[32], when[64];

	if (!strcmp(file->state, "quarantined")) {
		int64_t purge = file->changed_ms + page->grace_ms;
		format_age(page->now_ms - file->changed_ms, age, sizeof(age));
		putf(w, "quarantined %s ago%s", age, separator);
		format_time(purge, when, sizeof(when));
		format_age(purge - page->now_ms, age, sizeof(age));
		putf(w, "purged after %s (%s %s)", when, purge > page->now_ms ? "in" : "due",
		     age);
	} else if (file->written_ms > 0) {
		format_age(page->now_ms - file->written_ms, age, sizeof(age));
		putf(w, "written %s ago", age);
	} else {
		/* Adopted, never written through the mount: since the catalog
		 * knows it. */
		format_age(page->now_ms - file->changed_ms, age, sizeof(age));
		putf(w, "known for %s", age);
	}
}

static void put_tile(struct writer *w, const struct review_page *page,
		     const struct review_file *file)
{
	const char *name = file->path + file->dir_len + (file->dir_len > 0);
	char size[HUMANIZE_SIZE_BYTES], args[64];

	putf(w, "<figure class=tile id=f%lld>", (long long)file->id);
	if (file->thumb.mime) {
		putf(w, "<img width=%d height=%d alt=\"\" src=\"data:%s;base64,", file->thumb.width,
		     file->thumb.height, file->thumb.mime);
		put_base64(w, file->thumb.data, file->thumb.len);
		put(w, "\">");
	} else {
		putf(w, "<div class=\"icon %s\">%s</div>", file->type,
		     file->ext[0] ? file->ext : "?");
	}
	put(w, "<figcaption><div class=name>");
	put_html(w, name);
	put(w, "</div><div class=path>");
	put_html(w, file->path);
	format_size(file->size, size, sizeof(size));
	putf(w, "</div><div>%s, ", size);
	/* "quarantined 2h ago" says the state already. */
	if (strcmp(file->state, "quarantined") != 0)
		putf(w, "%s, ", file->state);
	put_times(w, page, file, ", ");
	put(w, "</div><div>");
	put_html(w, file->reason[0] ? file->reason : "no reason given");
	put(w, "</div>");
	if (file->note) {
		put(w, "<div class=note>");
		put_html(w, file->note);
		put(w, "</div>");
	}
	if (!strcmp(file->state, "quarantined")) {
		snprintf(args, sizeof(args), "restore --id %lld", (long long)file->id);
		put_command(w, page, args);
	}
	put(w, "</figcaption></figure>\n");
}

static void put_tiles(struct writer *w, const struct review_page *page)
{
	size_t start = 0;

	while (start < page->tiles) {
		const struct review_file *first = &page->files[start];
		size_t end = start + 1;
		int64_t bytes = first->size;
		char size[HUMANIZE_SIZE_BYTES];

		while (end < page->tiles && same_dir(first, &page->files[end]))
			bytes += page->files[end++].size;
		format_size(bytes, size, sizeof(size));
		put(w, "<h2>");
		if (first->dir_len)
			put_html_n(w, first->path, first->dir_len);
		putf(w, "/ <small>%zu files, %s</small></h2>\n<div class=grid style=\"contain-"
		     "intrinsic-size:auto %zupx\">\n", end - start, size,
		     (end - start + 3) / 4 * TILE_ROW_PX);
		for (size_t i = start; i < end; i++)
			put_tile(w, page, &page->files[i]);
		put(w, "</div>\n");
		start = end;
	}
}

/*
 * The table is most of a large page: rows with optional end tags, in
 * tables of TABLE_CHUNK_ROWS that the browser lays out only when they come
 * into view (content-visibility), each with a fixed layout.  One table of
 * 95,000 rows took Chromium 55 s to open; chunks take 9 s.
 */
static void put_table(struct writer *w, const struct review_page *page)
{
	char size[HUMANIZE_SIZE_BYTES];

	if (page->count <= page->tiles)
		return;
	putf(w, "<section id=rest><h2>The other %zu files</h2>\n", page->count - page->tiles);
	if (page->quarantined) {
		put(w, "<p>");
		put_command(w, page, "restore --id ID");
		put(w, " brings one back.</p>\n");
	}
	for (size_t i = page->tiles; i < page->count; i++) {
		const struct review_file *file = &page->files[i];
		if ((i - page->tiles) % TABLE_CHUNK_ROWS == 0)
			putf(w, "%s<div class=chunk style=\"contain-intrinsic-size:auto %dpx\">"
			     "<table class=rest><tr><th>path<th>size<th>state<th>when<th>reason"
			     "<th>id\n", i > page->tiles ? "</table></div>\n" : "",
			     TABLE_CHUNK_ROWS * TABLE_ROW_PX);
		format_size(file->size, size, sizeof(size));
		put(w, "<tr><td>");
		put_html(w, file->path);
		putf(w, "<td class=n>%s<td>%s<td>", size, file->state);
		put_times(w, page, file, "; ");
		put(w, "<td>");
		put_html(w, file->reason);
		putf(w, "<td class=n>%lld\n", (long long)file->id);
	}
	put(w, "</table></div></section>\n");
}

int review_html_write(FILE *out, const struct review_page *page)
{
	struct writer w = { out, 0 };
	char when[64];

	format_time(page->now_ms, when, sizeof(when));
	put(&w, "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>\n"
	    "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
	    "img-src data:; style-src 'unsafe-inline'\">\n"
	    "<meta name=viewport content=\"width=device-width\">\n<title>mediafs review: ");
	put_html(&w, page->title);
	putf(&w, "</title>\n<style>%s</style></head><body>\n<h1>", style);
	put_html(&w, page->title);
	put(&w, "</h1>\n<p>Made by <code>mediactl review</code> at ");
	put_html(&w, when);
	put(&w, "; it moves nothing.</p>\n");
	put_summary(&w, page);
	put_tiles(&w, page);
	put_table(&w, page);
	put(&w, "</body></html>\n");
	return w.err;
}
