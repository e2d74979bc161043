/*
 * checker_gather: gathering and judging, the first half of a scan.
 *
 * The sources are fetched on a second thread into one referenced set
 * while the checker thread copies the live rows from the catalog into a
 * compact pool; the live rows are then judged in two halves on two
 * threads (policy_judge_known()), the values that named no live file
 * exactly are resolved through links and other spellings (refmatch.h),
 * and the quarantined rows are judged last.  What comes out is the list
 * of candidates in struct scan_work; nothing here moves a file.
 *
 * File map: the live pool; candidates; the pins and the sources'
 * references; judging; values that name no tracked file exactly; a
 * confirmed scan's candidates; merging, the two judging threads and
 * checker_gather().
 */
#include "checker_i.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "grow.h"
#include "log.h"
#include "pathmap.h"
#include "refset.h"
#include "respell.h"
#include "source.h"
#include "termesc.h"

enum {
	PREFETCH_ROWS_AHEAD = 8,	/* judging: lookups in flight at once */
	FIRST_LIVE_ROWS = 4096,		/* room of a pool without a hint */
	FIRST_PATH_BYTES = 1 << 20,
	FIRST_CANDIDATES = 256,
	FIRST_PINS = 16,
	FIRST_HELD_IDS = 256,
};

/* ------------------------------------------------------------------ */
/* The live pool                                                        */
/* ------------------------------------------------------------------ */

/*
 * The live rows, copied compactly from the catalog on the checker thread
 * while another thread fetches the sources: on two cores the two halves of
 * the gathering overlap.
 */
struct live_entry {
	int64_t id;
	ino_t ino;
	int64_t born_ms;
	int64_t activity_ms;
	/* The offset of the path in live_pool.paths (NUL-terminated) times
	 * two, plus one for a symbolic link: a million rows would spend 8 MB
	 * of padding on a field of its own (see entry_path, entry_kind). */
	size_t path_and_kind;
};

_Static_assert(sizeof(struct live_entry) == 40, "a live row costs 40 bytes");

static enum catalog_kind entry_kind(const struct live_entry *entry)
{
	return entry->path_and_kind & 1 ? CATALOG_SYMLINK : CATALOG_FILE;
}

struct live_pool {
	struct live_entry *entries;
	size_t count, capacity;
	char *paths;
	size_t paths_used, paths_capacity;
};

static const char *entry_path(const struct live_pool *pool, const struct live_entry *entry)
{
	return pool->paths + (entry->path_and_kind >> 1);
}

static int pool_add(void *ctx, const struct catalog_scan_row *row)
{
	struct live_pool *pool = ctx;
	struct live_entry *entries = grow_array(pool->entries, &pool->capacity, pool->count + 1,
						sizeof(*entries), FIRST_LIVE_ROWS);
	char *paths;

	if (!entries)
		return -ENOMEM;
	pool->entries = entries;
	paths = grow_array(pool->paths, &pool->paths_capacity,
			   pool->paths_used + row->path_len + 1, 1, FIRST_PATH_BYTES);
	if (!paths)
		return -ENOMEM;
	pool->paths = paths;
	memcpy(pool->paths + pool->paths_used, row->path, row->path_len + 1);
	pool->entries[pool->count++] = (struct live_entry){
		.id = row->id,
		.ino = row->ino,
		.born_ms = row->born_ms,
		.activity_ms = row->activity_ms,
		.path_and_kind = pool->paths_used << 1 | (row->kind == CATALOG_SYMLINK),
	};
	pool->paths_used += row->path_len + 1;
	return 0;
}

/* Room for about live rows and path_bytes of paths, with some slack. */
static void pool_reserve(struct live_pool *pool, size_t live, size_t path_bytes)
{
	live += live / 16;
	path_bytes += path_bytes / 16;
	if (live && (pool->entries = malloc(live * sizeof(*pool->entries))))
		pool->capacity = live;
	if (path_bytes && (pool->paths = malloc(path_bytes)))
		pool->paths_capacity = path_bytes;
}

static void pool_free(struct live_pool *pool)
{
	free(pool->entries);
	free(pool->paths);
	memset(pool, 0, sizeof(*pool));
}

/* ------------------------------------------------------------------ */
/* Candidates                                                           */
/* ------------------------------------------------------------------ */

int checker_push_candidate(struct candidates *list, int64_t id, ino_t ino, const char *path,
			   const char *quarantine_name, struct policy_judgement judgement)
{
	struct candidate *items = grow_array(list->items, &list->capacity, list->count + 1,
					     sizeof(*items), FIRST_CANDIDATES);
	struct candidate *c;

	if (!items)
		return -ENOMEM;
	list->items = items;
	c = &items[list->count];
	*c = (struct candidate){
		.id = id,
		.ino = ino,
		.path = strdup(path),
		.quarantine_name = quarantine_name ? strdup(quarantine_name) : NULL,
		.action = judgement.action,
		.reason = judgement.reason,
	};
	if (!c->path || (quarantine_name && !c->quarantine_name)) {
		free(c->path);
		free(c->quarantine_name);
		return -ENOMEM;
	}
	list->count++;
	return 0;
}

void checker_free_candidates(struct candidates *list)
{
	for (size_t i = 0; i < list->count; i++) {
		free(list->items[i].path);
		free(list->items[i].quarantine_name);
	}
	free(list->items);
	memset(list, 0, sizeof(*list));
}

void checker_free_work(struct scan_work *work)
{
	checker_free_candidates(&work->quarantine);
	checker_free_candidates(&work->others);
	for (size_t i = 0; i < work->pin_count; i++)
		free(work->pins[i]);
	free(work->pins);
	for (size_t i = 0; i < work->emptied_count; i++)
		free(work->emptied_dirs[i]);
	free(work->emptied_dirs);
	free(work->held_ids);
	free(work->unreferenced.items);
	refmatch_clear(&work->match);
	refset_free(work->referenced);
}

/* ------------------------------------------------------------------ */
/* The pins and the sources' references                                 */
/* ------------------------------------------------------------------ */

static int collect_pin(void *ctx, const char *pattern, int64_t created_ms)
{
	struct scan_work *work = ctx;
	char **pins = grow_array(work->pins, &work->pin_capacity, work->pin_count + 1,
				 sizeof(*pins), FIRST_PINS);

	(void)created_ms;
	if (!pins)
		return -ENOMEM;
	work->pins = pins;
	pins[work->pin_count] = strdup(pattern);
	if (!pins[work->pin_count])
		return -ENOMEM;
	work->pin_count++;
	return 0;
}

/*
 * Count a source's hostile values in the scan record, keep its examples
 * there (the first few of the scan, for mediactl), and log them once.
 */
static void note_hostile(struct scan_work *work, const char *source,
			 const struct source_report *report)
{
	char *kept = work->record.hostile_examples;
	size_t room = sizeof(work->record.hostile_examples);
	size_t shown = report->hostile < SOURCE_HOSTILE_EXAMPLES ? report->hostile :
				       SOURCE_HOSTILE_EXAMPLES;
	char listed[SOURCE_HOSTILE_EXAMPLES * (SOURCE_EXAMPLE_BYTES + 2)] = "";

	work->record.hostile += report->hostile;
	for (size_t i = 0; i < shown; i++) {
		size_t used = strlen(kept);
		/* One line each; an example that does not fit is left out whole. */
		int n = snprintf(kept + used, room - used, "%ssource '%s': %s", used ? "\n" : "",
				 source, report->hostile_examples[i]);
		if (n < 0 || (size_t)n >= room - used)
			kept[used] = '\0';
		snprintf(listed + strlen(listed), sizeof(listed) - strlen(listed), "%s%s",
			 i ? ", " : "", report->hostile_examples[i]);
	}
	log_warn("scan %lld: source '%s' holds %llu values that can never name a file, e.g. %s",
		 (long long)work->record.id, source, (unsigned long long)report->hostile, listed);
}

/*
 * Fetch every source into work->referenced; fill outcomes.  A failure is
 * logged once here, with the source's own message.
 */
static void fetch_references(struct scan_work *work, struct policy_source_outcome *outcomes,
			     char *errors, size_t errors_size)
{
	struct checker *checker = work->checker;
	char error[CHECKER_ERROR_BYTES];
	size_t used = 0;

	errors[0] = '\0';
	for (size_t i = 0; i < checker->config.source_count; i++) {
		struct source_report report = { 0 };
		int err = checker_connect_source(checker, i, error, sizeof(error));

		outcomes[i] = (struct policy_source_outcome){
			.name = checker->config.sources[i].name,
		};
		if (!err)
			err = source_fetch_into(checker->sources[i], work->referenced, &report,
						error, sizeof(error));
		if (err) {
			outcomes[i].failed = true;
			log_error("scan %lld: %s", (long long)work->record.id, error);
			used += (size_t)snprintf(errors + used, used < errors_size ? errors_size - used : 0,
						 "%s%s", used ? "; " : "", error);
			if (used >= errors_size)
				used = errors_size - 1;
			continue;
		}
		outcomes[i].references = report.referenced;
		if (report.hostile)
			note_hostile(work, outcomes[i].name, &report);
	}
}

/* ------------------------------------------------------------------ */
/* Judging                                                              */
/* ------------------------------------------------------------------ */

/* Where judgements go: one per judging thread, merged afterwards. */
struct judge_sink {
	struct scan_work *work;
	struct policy_scan_counts counts;
	struct candidates quarantine;
	struct candidates others;
	struct unreferenced unreferenced;
	uint64_t matched;
};

/*
 * Judge the file of row id (inode ino, at quarantine_name when
 * quarantined; born_ms for a live one) and keep the judgement.
 */
static int judge_known(struct judge_sink *sink, const struct policy_file *file, int64_t id,
		       ino_t ino, const char *quarantine_name, int64_t born_ms, bool referenced)
{
	struct scan_work *work = sink->work;
	struct policy_judgement judgement =
		policy_judge_known(&work->settings, work->now_ms, referenced, file);
	struct mediafs *fs = work->checker->fs;

	if (file->state == CATALOG_LIVE) {
		sink->counts.live++;
		/* The temporary-file rule of unlink needs to know which young
		 * files were ever seen referenced.  Files adopted at mount
		 * are seen young but were born when last modified: the first
		 * scan after adopting a million of them records none. */
		if (work->now_ms - born_ms < fs->settings.temp_max_age_ms &&
		    judgement.action == POLICY_KEEP && strcmp(judgement.reason, "referenced") == 0 &&
		    pathmap_put(fs->young_referenced, file->path, "", born_ms) < 0)
			log_write_limited(&work->checker->warning, LOG_REPEAT_INTERVAL_MS,
					  LOG_LEVEL_WARN, "scan %lld: cannot remember '%s' as "
					  "referenced: out of memory; an unlink within temp_max_age "
					  "deletes it for good", (long long)work->record.id, file->path);
	}
	switch (judgement.action) {
	case POLICY_QUARANTINE:
		sink->counts.candidates++;
		return checker_push_candidate(&sink->quarantine, id, ino, file->path, NULL,
					      judgement);
	case POLICY_RESTORE:
	case POLICY_PURGE:
		return checker_push_candidate(&sink->others, id, ino, file->path, quarantine_name,
					      judgement);
	case POLICY_KEEP:
		break;
	}
	return 0;
}

static int push_unreferenced(struct unreferenced *list, size_t index)
{
	size_t *items = grow_array(list->items, &list->capacity, list->count + 1, sizeof(*items),
				   FIRST_CANDIDATES);

	if (!items)
		return -ENOMEM;
	list->items = items;
	items[list->count++] = index;
	return 0;
}

/*
 * A live row, on a judging thread.  A value that names a regular file
 * exactly is marked in the referenced set: the values left unmarked are
 * the only ones that may reach a file some other way (protect_unmatched).
 * A value that names a symbolic link keeps the link and stays unmarked,
 * since what the link resolves to needs keeping too.
 */
static int judge_live(struct judge_sink *sink, const struct live_pool *pool, size_t index)
{
	const struct live_entry *entry = &pool->entries[index];
	const char *path = entry_path(pool, entry);
	size_t len = strlen(path);
	struct refset *referenced = sink->work->referenced;
	bool is_file = entry_kind(entry) == CATALOG_FILE;
	bool is_referenced = is_file ? refset_mark(referenced, path, len) :
				       refset_contains(referenced, path, len);
	struct policy_file file = {
		.path = path,
		.state = CATALOG_LIVE,
		.activity_ms = entry->activity_ms,
	};
	int err;

	if (is_referenced && is_file)
		sink->matched++;
	if (!is_referenced) {
		err = push_unreferenced(&sink->unreferenced, index);
		if (err)
			return err;
	}
	return judge_known(sink, &file, entry->id, entry->ino, NULL, entry->born_ms,
			   is_referenced);
}

static bool matcher_keeps(struct scan_work *work, const char *path, size_t len);

/* A quarantined row, on the checker thread, after the matching. */
static int judge_quarantined(void *ctx, const struct catalog_row *row)
{
	struct judge_sink *sink = ctx;
	struct scan_work *work = sink->work;
	struct policy_file file = policy_file_of_row(row);
	size_t len = strlen(row->path);
	bool referenced = refset_contains(work->referenced, row->path, len) ||
			  matcher_keeps(work, row->path, len);

	return judge_known(sink, &file, row->id, row->ino, row->quarantine_name, 0, referenced);
}

/* ------------------------------------------------------------------ */
/* Values that name no tracked file exactly: links and other spellings  */
/* ------------------------------------------------------------------ */

/* Count one file kept under another spelling; keep a near miss's pair. */
static void note_spelling(struct scan_work *work, enum respell_match match, const char *value,
			  size_t value_len, const char *path, size_t path_len)
{
	char *kept = work->record.near_miss_examples;
	size_t used = strlen(kept), room = sizeof(work->record.near_miss_examples);
	char shown_value[TERMESC_BYTES(96)], shown_path[TERMESC_BYTES(96)];
	int n;

	if (match == RESPELL_CERTAIN) {
		work->record.respelled++;
		return;
	}
	work->record.near_misses++;
	termesc_n(value, value_len < 96 ? value_len : 96, shown_value, sizeof(shown_value));
	termesc_n(path, path_len < 96 ? path_len : 96, shown_path, sizeof(shown_path));
	/* One line each; a pair that does not fit is left out whole. */
	n = snprintf(kept + used, room - used, "%s'%s' ~ '%s'", used ? "\n" : "", shown_value,
		     shown_path);
	if (n < 0 || (size_t)n >= room - used)
		kept[used] = '\0';
}

/*
 * Is path (a quarantined row, or a live one no value names exactly) kept
 * through a link or by another spelling?  Counts it when it is.
 */
static bool matcher_keeps(struct scan_work *work, const char *path, size_t len)
{
	struct refmatch *m = &work->match;
	const char *value;
	size_t value_len;
	enum respell_match match;

	if (!refmatch_is_active(m))
		return false;	/* every value named a live file exactly */
	if (refmatch_is_kept(m, path, len))
		return true;
	match = refmatch_spelling(m, path, len, &value, &value_len);
	if (match == RESPELL_NONE)
		return false;
	note_spelling(work, match, value, value_len, path, len);
	/* Once is enough: a failure to remember costs a second count only. */
	(void)refmatch_keep(m, path, len);
	return true;
}

/* Drop the candidates that the matching keeps. */
static void drop_kept_candidates(struct scan_work *work)
{
	size_t kept = 0;

	for (size_t i = 0; i < work->quarantine.count; i++) {
		struct candidate *c = &work->quarantine.items[i];
		if (refmatch_is_kept(&work->match, c->path, strlen(c->path))) {
			free(c->path);
			free(c->quarantine_name);
			work->counts.candidates--;
		} else {
			work->quarantine.items[kept++] = *c;
		}
	}
	work->quarantine.count = kept;
}

/* Say once per scan what the matching found. */
static void report_matching(struct scan_work *work)
{
	const struct refmatch *m = &work->match;
	char listed[sizeof(work->record.near_miss_examples) + 64];

	if (work->record.near_misses) {
		const char *line = work->record.near_miss_examples;
		size_t used = 0;

		/* One log line: the examples (escaped already), "; " between. */
		listed[0] = '\0';
		while (*line && used < sizeof(listed)) {
			size_t len = strcspn(line, "\n");
			int n = snprintf(listed + used, sizeof(listed) - used, "%s%.*s",
					 used ? "; " : "", (int)len, line);
			used += n > 0 ? (size_t)n : 0;
			line += len + (line[len] == '\n');
		}
		log_warn("scan %lld: %llu files are kept because a value nearly names them "
			 "(another case, whitespace or form; fix the value or the name): %s",
			 (long long)work->record.id, (unsigned long long)work->record.near_misses,
			 listed);
	}
	if (work->record.respelled)
		log_info("scan %lld: %llu files are kept through a symbolic link or under "
			 "another spelling", (long long)work->record.id,
			 (unsigned long long)work->record.respelled);
	if (m->escaped)
		log_warn("scan %lld: %llu values go through a link that leads out of BACKING "
			 "or loops, e.g. '%s'; it is not followed and the link is kept",
			 (long long)work->record.id, (unsigned long long)m->escaped,
			 m->escape_example);
}

/*
 * After the live rows are judged: the values left unmarked, resolved
 * through links and matched under other spellings against the live rows
 * that no value names exactly.  Candidates so kept are dropped.  Returns
 * 0 or -errno (then the scan moves nothing: a value not looked at may be
 * the one that keeps a file).
 */
static int protect_unmatched(struct scan_work *work, const struct live_pool *pool)
{
	struct refmatch *m = &work->match;
	int err;

	if (work->matched == refset_count(work->referenced))
		return 0;	/* every value names a live file: the usual case */
	err = refmatch_init(m, &work->checker->fs->store);
	if (!err)
		err = refmatch_take_all(m, work->referenced);
	if (err) {
		log_error("scan %lld: cannot resolve the references in BACKING: %s; nothing "
			  "is moved", (long long)work->record.id, strerror(-err));
		return err;
	}
	work->record.respelled += m->linked;
	for (size_t i = 0; i < work->unreferenced.count; i++) {
		const struct live_entry *entry = &pool->entries[work->unreferenced.items[i]];
		const char *path = entry_path(pool, entry), *value;
		size_t len = strlen(path), value_len;
		enum respell_match match;

		if (refmatch_is_kept(m, path, len))
			continue;
		match = refmatch_spelling(m, path, len, &value, &value_len);
		if (match == RESPELL_NONE)
			continue;
		err = refmatch_keep(m, path, len);
		if (err)
			return err;
		note_spelling(work, match, value, value_len, path, len);
	}
	drop_kept_candidates(work);
	return 0;
}

/* ------------------------------------------------------------------ */
/* A confirmed scan's candidates                                        */
/* ------------------------------------------------------------------ */

static int collect_held_id(void *ctx, int64_t file_id)
{
	struct scan_work *work = ctx;
	int64_t *ids = grow_array(work->held_ids, &work->held_capacity, work->held_count + 1,
				  sizeof(*ids), FIRST_HELD_IDS);

	if (!ids)
		return -ENOMEM;
	work->held_ids = ids;
	ids[work->held_count++] = file_id;
	return 0;
}

static int compare_ids(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* A confirmed scan moves only what the admin saw in the held scan. */
static void keep_held_candidates(struct scan_work *work)
{
	size_t kept = 0;

	if (work->held_count)
		qsort(work->held_ids, work->held_count, sizeof(int64_t), compare_ids);
	for (size_t i = 0; i < work->quarantine.count; i++) {
		struct candidate *c = &work->quarantine.items[i];
		if (work->held_count && bsearch(&c->id, work->held_ids, work->held_count, sizeof(int64_t),
			    compare_ids)) {
			work->quarantine.items[kept++] = *c;
		} else {
			free(c->path);
			free(c->quarantine_name);
		}
	}
	work->quarantine.count = kept;
}

/* ------------------------------------------------------------------ */
/* Merging, the two judging threads, and the whole gathering            */
/* ------------------------------------------------------------------ */

static void set_settings(struct scan_work *work)
{
	const struct config_settings *cfg = &work->checker->config.settings;

	work->settings = (struct policy_settings){
		.min_age_ms = cfg->min_age_ms,
		.grace_ms = cfg->grace_ms,
		.max_fraction = cfg->max_fraction,
		.hold_min_files = (uint64_t)cfg->hold_min_files,
		.exclude = cfg->exclude,
		.exclude_count = cfg->exclude_count,
		.pins = work->pins,
		.pin_count = work->pin_count,
	};
}

/* Move a sink's judgements into work (the strings change hands). */
static int append_candidates(struct candidates *to, struct candidates *from)
{
	struct candidate *items;

	if (!from->count)
		return 0;
	items = grow_array(to->items, &to->capacity, to->count + from->count, sizeof(*items),
			   FIRST_CANDIDATES);
	if (!items)
		return -ENOMEM;
	to->items = items;
	memcpy(items + to->count, from->items, from->count * sizeof(*from->items));
	to->count += from->count;
	from->count = 0;
	return 0;
}

static int merge_sink(struct scan_work *work, struct judge_sink *sink)
{
	int err = append_candidates(&work->quarantine, &sink->quarantine);

	if (!err)
		err = append_candidates(&work->others, &sink->others);
	for (size_t i = 0; !err && i < sink->unreferenced.count; i++)
		err = push_unreferenced(&work->unreferenced, sink->unreferenced.items[i]);
	work->matched += sink->matched;
	work->counts.live += sink->counts.live;
	work->counts.candidates += sink->counts.candidates;
	return err;
}

struct judge_job {
	struct judge_sink sink;
	const struct live_pool *pool;
	size_t begin, end;
	int err;
};

static void *judge_main(void *arg)
{
	struct judge_job *job = arg;
	const struct live_pool *pool = job->pool;
	const struct refset *referenced = job->sink.work->referenced;

	for (size_t i = job->begin; !job->err && i < job->end; i++) {
		/* Each lookup is a cache miss: start one a few rows ahead. */
		if (i + PREFETCH_ROWS_AHEAD < job->end) {
			const char *ahead = entry_path(pool,
						       &pool->entries[i + PREFETCH_ROWS_AHEAD]);
			refset_prefetch(referenced, ahead, strlen(ahead));
		}
		job->err = judge_live(&job->sink, pool, i);
	}
	return NULL;
}

/* Judge the live rows in two halves, one on another thread: the lookups
 * in the referenced set are cache misses that two cores overlap. */
static int judge_pool(struct scan_work *work, const struct live_pool *pool)
{
	struct judge_job jobs[2] = {
		{ .sink = { .work = work }, .pool = pool, .begin = 0, .end = pool->count / 2 },
		{ .sink = { .work = work }, .pool = pool, .begin = pool->count / 2,
		  .end = pool->count },
	};
	pthread_t helper;
	bool threaded = pthread_create(&helper, NULL, judge_main, &jobs[0]) == 0;
	int err;

	if (!threaded)
		judge_main(&jobs[0]);
	judge_main(&jobs[1]);
	if (threaded)
		pthread_join(helper, NULL);
	err = jobs[0].err ? jobs[0].err : jobs[1].err;
	for (int i = 0; i < 2; i++) {
		if (!err)
			err = merge_sink(work, &jobs[i].sink);
		checker_free_candidates(&jobs[i].sink.quarantine);
		checker_free_candidates(&jobs[i].sink.others);
		free(jobs[i].sink.unreferenced.items);
	}
	return err;
}

struct fetch_job {
	struct scan_work *work;
	struct policy_source_outcome *outcomes;
	char errors[sizeof(((struct checker_status *)0)->source_errors)];
};

static void *fetch_main(void *arg)
{
	struct fetch_job *job = arg;

	fetch_references(job->work, job->outcomes, job->errors, sizeof(job->errors));
	return NULL;
}

int checker_gather(struct scan_work *work, struct policy_source_outcome *outcomes,
		   int64_t confirmed_scan_id)
{
	struct checker *checker = work->checker;
	struct catalog *cat = checker->cat;
	struct fetch_job job = { .work = work, .outcomes = outcomes };
	struct live_pool pool = { 0 };
	int64_t started = clock_monotonic_ms();
	pthread_t fetcher;
	bool threaded;
	int err;

	work->referenced = refset_new_sized(checker->last_references);
	if (!work->referenced)
		return -ENOMEM;
	pool_reserve(&pool, checker->last_live, checker->last_path_bytes);
	/* "now" is taken before reading: a row written while the scan reads
	 * is younger than now says, never older. */
	work->now_ms = clock_now_ms();
	threaded = pthread_create(&fetcher, NULL, fetch_main, &job) == 0;
	if (!threaded)
		fetch_main(&job);
	err = catalog_each_pin(cat, collect_pin, work);
	set_settings(work);
	if (!err)
		err = catalog_each_scan_row(cat, CATALOG_LIVE, pool_add, &pool);
	int64_t streamed = clock_monotonic_ms();
	if (threaded)
		pthread_join(fetcher, NULL);
	checker_publish_source_errors(checker, job.errors);
	memcpy(work->source_errors, job.errors, sizeof(job.errors));
	work->record.referenced = refset_count(work->referenced);
	log_debug("scan %lld: %llu references fetched (%zu bytes) and %zu live rows read in "
		  "%lld ms (catalog alone %lld ms)", (long long)work->record.id,
		  (unsigned long long)work->record.referenced,
		  refset_memory_bytes(work->referenced), pool.count,
		  (long long)(clock_monotonic_ms() - started), (long long)(streamed - started));
	started = clock_monotonic_ms();
	/* A failed source leaves an incomplete referenced set: judging by it
	 * would report every file it missed as a candidate. */
	if (!err && work->source_errors[0]) {
		work->counts.live = pool.count;
		pool_free(&pool);
		return 0;
	}
	if (!err) {
		checker->last_references = refset_count(work->referenced);
		checker->last_live = pool.count;
		checker->last_path_bytes = pool.paths_used;
		err = judge_pool(work, &pool);
		if (!err) {
			int64_t judged = clock_monotonic_ms();
			err = protect_unmatched(work, &pool);
			work->unresolved = err != 0;
			log_debug("scan %lld: live rows judged in %lld ms, %llu values that name no "
				  "live file exactly looked at in %lld ms",
				  (long long)work->record.id, (long long)(judged - started),
				  (unsigned long long)(refset_count(work->referenced) - work->matched),
				  (long long)(clock_monotonic_ms() - judged));
		}
	}
	pool_free(&pool);
	if (!err) {
		struct judge_sink sink = { .work = work };
		struct catalog_filter quarantined = { .state = CATALOG_QUARANTINED };
		/* Whole rows, as mediactl purge --expired judges them: the
		 * quarantine holds few next to the live files. */
		err = catalog_query_rows(cat, &quarantined, judge_quarantined, &sink);
		if (!err)
			err = merge_sink(work, &sink);
		checker_free_candidates(&sink.quarantine);
		checker_free_candidates(&sink.others);
		free(sink.unreferenced.items);
	}
	if (!err)
		report_matching(work);
	if (!err && confirmed_scan_id)
		err = catalog_scan_each_candidate(cat, confirmed_scan_id, collect_held_id, work);
	if (!err && confirmed_scan_id)
		keep_held_candidates(work);
	log_debug("scan %lld: catalog judged in %lld ms", (long long)work->record.id,
		  (long long)(clock_monotonic_ms() - started));
	/* The young-referenced index forgets files no longer young. */
	pathmap_prune(checker->fs->young_referenced,
		      work->now_ms - checker->fs->settings.temp_max_age_ms);
	return err;
}
