/*
 * checker: the thread, the scan sequence and the startup reconcile.
 *
 * Layout: requests and the thread; gathering; acting; reconcile; scans.
 *
 * Lock order: checker->lock is taken alone.  fs->dir_lock is taken (for
 * writing) only around the removal of one empty directory.
 */
#include "checker.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "clock.h"
#include "ctl.h"
#include "events.h"
#include "log.h"
#include "metrics.h"
#include "ops.h"
#include "pathmap.h"
#include "policy.h"
#include "refmatch.h"
#include "refset.h"
#include "respell.h"
#include "safekeep.h"
#include "source.h"
#include "termesc.h"

enum {
	ERROR_BYTES = 1024,
	ADOPTION_POLL_MS = 1000,
	PREFETCH_ROWS_AHEAD = 8,	/* judging: lookups in flight at once */
};

enum request_kind {
	REQUEST_NONE,
	REQUEST_SCAN,
	REQUEST_DRY_RUN,
	REQUEST_CONFIRM,
	REQUEST_REJECT,
	REQUEST_RELOAD,
	REQUEST_QUERY,
};

struct checker {
	struct mediafs *fs;			/* immutable */
	struct config config;			/* private copy; immutable */
	char *catalog_path;			/* immutable */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;			/* a request, or stop */
	pthread_cond_t done;			/* a request finished */
	bool stopping;				/* guarded by lock */
	enum request_kind request;		/* guarded by lock */
	int64_t request_scan_id;		/* guarded by lock */
	uint64_t requested, finished;		/* guarded by lock */
	int request_result;			/* guarded by lock */
	struct catalog_scan request_scan;	/* guarded by lock */
	struct checker_status status;		/* guarded by lock */
	uint64_t *source_references;		/* guarded by lock; per source, last scan */
	struct config pending_config;		/* guarded by lock; for REQUEST_RELOAD */
	int64_t *query_ids;			/* guarded by lock; REQUEST_QUERY's answer */
	size_t query_count;			/* guarded by lock */
	/* Checker thread only: */
	struct catalog *cat;
	struct source **sources;		/* NULL entries are not connected */
	struct log_ratelimit warning;
	/* What the last scan gathered: the next one allocates that much at
	 * once instead of doubling, which holds old and new arrays at once. */
	size_t last_references, last_live, last_path_bytes;
};

/* ------------------------------------------------------------------ */
/* Work of one scan                                                     */
/* ------------------------------------------------------------------ */

struct candidate {
	int64_t id;
	ino_t ino;
	char *path;
	char *quarantine_name;	/* restores and purges */
	enum policy_action action;
	const char *reason;
};

struct candidates {
	struct candidate *items;
	size_t count, capacity;
};

/* Indexes into the live pool: the live rows no value names exactly. */
struct unreferenced {
	size_t *items;
	size_t count, capacity;
};

struct scan_work {
	struct checker *checker;
	struct catalog_scan record;
	struct policy_settings settings;
	char **pins;
	size_t pin_count, pin_capacity;
	struct refset *referenced;
	int64_t now_ms;
	struct policy_scan_counts counts;
	struct candidates quarantine;	/* live files to move */
	struct candidates others;	/* restores and purges */
	struct unreferenced unreferenced; /* live rows no value names exactly */
	uint64_t matched;		/* values that name a live file exactly */
	struct refmatch match;		/* for the values that do not */
	bool unresolved;		/* the matching failed: nothing may move */
	int64_t *held_ids;		/* a confirmed scan: its candidates, sorted */
	size_t held_count;
	char **emptied_dirs;		/* parents of moved files */
	size_t emptied_count, emptied_capacity;
	int errors;
	/* What the sources said when a fetch or the confirmation failed. */
	char source_errors[sizeof(((struct checker_status *)0)->source_errors)];
};

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

	if (pool->count == pool->capacity) {
		size_t capacity = pool->capacity ? 2 * pool->capacity : 4096;
		struct live_entry *entries = realloc(pool->entries, capacity * sizeof(*entries));
		if (!entries)
			return -ENOMEM;
		pool->entries = entries;
		pool->capacity = capacity;
	}
	if (pool->paths_used + row->path_len + 1 > pool->paths_capacity) {
		size_t capacity = pool->paths_capacity ? 2 * pool->paths_capacity : 1 << 20;
		while (capacity < pool->paths_used + row->path_len + 1)
			capacity *= 2;
		char *paths = realloc(pool->paths, capacity);
		if (!paths)
			return -ENOMEM;
		pool->paths = paths;
		pool->paths_capacity = capacity;
	}
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

static int push_candidate(struct candidates *list, int64_t id, ino_t ino, const char *path,
			  const char *quarantine_name, struct policy_judgement judgement)
{
	if (list->count == list->capacity) {
		size_t capacity = list->capacity ? 2 * list->capacity : 256;
		struct candidate *items = realloc(list->items, capacity * sizeof(*items));
		if (!items)
			return -ENOMEM;
		list->items = items;
		list->capacity = capacity;
	}
	struct candidate *c = &list->items[list->count];
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

static void free_candidates(struct candidates *list)
{
	for (size_t i = 0; i < list->count; i++) {
		free(list->items[i].path);
		free(list->items[i].quarantine_name);
	}
	free(list->items);
	memset(list, 0, sizeof(*list));
}

static void free_work(struct scan_work *work)
{
	free_candidates(&work->quarantine);
	free_candidates(&work->others);
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
/* Gathering                                                            */
/* ------------------------------------------------------------------ */

static int collect_pin(void *ctx, const char *pattern, int64_t created_ms)
{
	struct scan_work *work = ctx;

	(void)created_ms;
	if (work->pin_count == work->pin_capacity) {
		size_t capacity = work->pin_capacity ? 2 * work->pin_capacity : 16;
		char **pins = realloc(work->pins, capacity * sizeof(*pins));
		if (!pins)
			return -ENOMEM;
		work->pins = pins;
		work->pin_capacity = capacity;
	}
	work->pins[work->pin_count] = strdup(pattern);
	return work->pins[work->pin_count++] ? 0 : -ENOMEM;
}

/* Connect a source that is not connected; 0 or -errno with a message. */
static int connect_source(struct checker *checker, size_t i, char *error, size_t size)
{
	if (checker->sources[i])
		return 0;
	return source_open(&checker->config.sources[i], &checker->sources[i], error, size);
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
	char error[ERROR_BYTES];
	size_t used = 0;

	errors[0] = '\0';
	for (size_t i = 0; i < checker->config.source_count; i++) {
		struct source_report report = { 0 };
		int err = connect_source(checker, i, error, sizeof(error));

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

/* Where judgements go: one per judging thread, merged afterwards. */
struct judge_sink {
	struct scan_work *work;
	struct policy_scan_counts counts;
	struct candidates quarantine;
	struct candidates others;
	struct unreferenced unreferenced;
	uint64_t matched;
};

static int judge_known(struct judge_sink *sink, const struct catalog_scan_row *row,
		       bool referenced)
{
	struct scan_work *work = sink->work;
	struct policy_file file = {
		.path = row->path,
		.state = row->state,
		.activity_ms = row->activity_ms,
		.state_changed_ms = row->state_changed_ms,
		.last_referenced_ms = row->last_referenced_ms,
	};
	struct policy_judgement judgement =
		policy_judge_known(&work->settings, work->now_ms, referenced, &file);
	struct mediafs *fs = work->checker->fs;

	if (row->state == CATALOG_LIVE) {
		sink->counts.live++;
		/* The temporary-file rule of unlink needs to know which young
		 * files were ever seen referenced.  Files adopted at mount
		 * are seen young but were born when last modified: the first
		 * scan after adopting a million of them records none. */
		if (work->now_ms - row->born_ms < fs->settings.temp_max_age_ms &&
		    judgement.action == POLICY_KEEP && strcmp(judgement.reason, "referenced") == 0)
			pathmap_put(fs->young_referenced, row->path, "", row->born_ms);
	}
	switch (judgement.action) {
	case POLICY_QUARANTINE:
		sink->counts.candidates++;
		return push_candidate(&sink->quarantine, row->id, row->ino, row->path, NULL,
				      judgement);
	case POLICY_RESTORE:
	case POLICY_PURGE:
		return push_candidate(&sink->others, row->id, row->ino, row->path,
				      row->quarantine_name, judgement);
	case POLICY_KEEP:
		break;
	}
	return 0;
}

static int push_unreferenced(struct unreferenced *list, size_t index)
{
	if (list->count == list->capacity) {
		size_t capacity = list->capacity ? 2 * list->capacity : 256;
		size_t *items = realloc(list->items, capacity * sizeof(*items));
		if (!items)
			return -ENOMEM;
		list->items = items;
		list->capacity = capacity;
	}
	list->items[list->count++] = index;
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
	struct catalog_scan_row row = {
		.id = entry->id,
		.path = path,
		.path_len = len,
		.state = CATALOG_LIVE,
		.kind = entry_kind(entry),
		.ino = entry->ino,
		.born_ms = entry->born_ms,
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
	return judge_known(sink, &row, is_referenced);
}

static bool matcher_keeps(struct scan_work *work, const char *path, size_t len);

/* A quarantined row, on the checker thread, after the matching. */
static int judge_quarantined(void *ctx, const struct catalog_scan_row *row)
{
	struct judge_sink *sink = ctx;
	struct scan_work *work = sink->work;
	bool referenced = refset_contains(work->referenced, row->path, row->path_len) ||
			  matcher_keeps(work, row->path, row->path_len);

	return judge_known(sink, row, referenced);
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

static int collect_held_id(void *ctx, int64_t file_id)
{
	struct scan_work *work = ctx;
	int64_t *ids = realloc(work->held_ids, (work->held_count + 1) * sizeof(*ids));

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
/* Confirmation: the databases are asked again right before moving       */
/* ------------------------------------------------------------------ */

struct confirmation {
	struct refset *candidates;	/* paths still to move */
	struct refset *now_referenced;	/* candidates found referenced again */
	const struct refset *scanned;	/* the scan's values, marked when exact */
	struct refset *others;		/* values to resolve and respell */
};

/*
 * A value read again.  One that named a live regular file exactly at the
 * scan can keep no candidate but that file; any other may reach one
 * through a link or another spelling, and is looked at after the fetch.
 */
static int note_if_candidate(void *ctx, const char *path, size_t len)
{
	struct confirmation *conf = ctx;

	if (refset_contains(conf->candidates, path, len))
		return refset_add(conf->now_referenced, path, len);
	if (refset_is_marked(conf->scanned, path, len))
		return 0;
	return refset_add(conf->others, path, len);
}

/* Is candidate path kept by the values read again? */
static bool confirmation_keeps(const struct confirmation *conf, const struct refmatch *m,
			       const char *path)
{
	size_t len = strlen(path);

	return refset_contains(conf->now_referenced, path, len) ||
	       refmatch_is_kept(m, path, len) ||
	       refmatch_spelling(m, path, len, NULL, NULL) != RESPELL_NONE;
}

/* Show a failed source in the status until a scan succeeds again. */
static void publish_source_errors(struct checker *checker, const char *errors)
{
	pthread_mutex_lock(&checker->lock);
	snprintf(checker->status.source_errors, sizeof(checker->status.source_errors), "%s",
		 errors);
	pthread_mutex_unlock(&checker->lock);
}

/*
 * Drop from work->quarantine every path that a source references now.
 * Returns 0, or -errno when a source failed (then nothing may move, and
 * work->source_errors says why).
 */
static int confirm_candidates(struct scan_work *work)
{
	struct checker *checker = work->checker;
	struct confirmation conf = {
		refset_new(), refset_new(), work->referenced, refset_new(),
	};
	struct refmatch m = { 0 };
	char error[ERROR_BYTES] = "out of memory";
	char shown[TERMESC_BYTES(256)];
	size_t kept = 0;
	int err = conf.candidates && conf.now_referenced && conf.others ? 0 : -ENOMEM;

	for (size_t i = 0; !err && i < work->quarantine.count; i++)
		err = refset_add(conf.candidates, work->quarantine.items[i].path,
				 strlen(work->quarantine.items[i].path));
	for (size_t i = 0; !err && i < checker->config.source_count; i++) {
		struct source_report report;
		err = connect_source(checker, i, error, sizeof(error));
		if (!err)
			err = source_fetch(checker->sources[i], note_if_candidate, &conf, &report,
					   error, sizeof(error));
	}
	/* The same matching as the scan's, for the values it needs. */
	if (!err && refset_count(conf.others) > 0) {
		err = refmatch_init(&m, &checker->fs->store);
		if (!err)
			err = refmatch_take_all(&m, conf.others);
		if (err)
			snprintf(error, sizeof(error), "cannot resolve the references in BACKING: %s",
				 strerror(-err));
	}
	if (err) {
		log_error("scan %lld: confirmation failed, nothing is moved: %s",
			  (long long)work->record.id, error);
		snprintf(work->source_errors, sizeof(work->source_errors), "%.*s",
			 (int)sizeof(work->source_errors) - 1, error);
		publish_source_errors(checker, work->source_errors);
	}
	for (size_t i = 0; !err && i < work->quarantine.count; i++) {
		struct candidate *c = &work->quarantine.items[i];
		if (confirmation_keeps(&conf, &m, c->path)) {
			log_info("scan %lld: '%s' is referenced now; it stays",
				 (long long)work->record.id, termesc(c->path, shown, sizeof(shown)));
			free(c->path);
			free(c->quarantine_name);
		} else {
			work->quarantine.items[kept++] = *c;
		}
	}
	if (!err)
		work->quarantine.count = kept;
	refmatch_clear(&m);
	refset_free(conf.candidates);
	refset_free(conf.now_referenced);
	refset_free(conf.others);
	return err;
}

/* ------------------------------------------------------------------ */
/* Acting                                                               */
/* ------------------------------------------------------------------ */

static void remember_parent(struct scan_work *work, const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir;

	if (!slash)
		return;
	dir = strndup(path, (size_t)(slash - path));
	if (!dir)
		return;
	for (size_t i = 0; i < work->emptied_count; i++) {
		if (strcmp(work->emptied_dirs[i], dir) == 0) {
			free(dir);
			return;
		}
	}
	if (work->emptied_count == work->emptied_capacity) {
		size_t capacity = work->emptied_capacity ? 2 * work->emptied_capacity : 64;
		char **dirs = realloc(work->emptied_dirs, capacity * sizeof(*dirs));
		if (!dirs) {
			free(dir);
			return;
		}
		work->emptied_dirs = dirs;
		work->emptied_capacity = capacity;
	}
	work->emptied_dirs[work->emptied_count++] = dir;
}

/* A file open for writing through the mount stays where it is for now. */
static void keep_open(struct scan_work *work, const char *path, const char *what)
{
	work->record.kept_open++;
	log_debug("scan %lld: '%s' is open for writing; it is not %s now",
		  (long long)work->record.id, path, what);
}

/*
 * Could a writer read back where the file went?  It checks with a
 * readlink of /proc/self/fd, whose answer must fit in PATH_MAX: a file
 * whose place in the quarantine would not fit stays live (and is logged).
 */
static bool fits_in_quarantine(struct scan_work *work, const char *path, const char *scan_qid)
{
	size_t len = work->checker->fs->store.root_path_len +
		     sizeof("/" STORE_STATE_DIR_NAME "/" QUARANTINE_DIR_NAME "/") +
		     strlen(scan_qid) + 1 + strlen(path);

	if (len < PATH_MAX)
		return true;
	log_write_limited(&work->checker->warning, LOG_REPEAT_INTERVAL_MS, LOG_LEVEL_WARN,
			  "scan %lld: '%s' is not quarantined: its path in the quarantine would "
			  "be longer than %d bytes", (long long)work->record.id, path, PATH_MAX);
	return false;
}

/*
 * Record c, just moved to qname, as quarantined.  The catalog writer works
 * beside the checker: a file created at the path right after the move may
 * have taken c's row over already.  Then the row stays with the new file
 * and the moved one gets a row of its own.
 */
static void record_quarantined(struct scan_work *work, const struct candidate *c,
			       const char *qname, int64_t now)
{
	struct checker *checker = work->checker;
	struct stat st;
	int err = catalog_set_quarantined(checker->cat, c->id, c->ino, now, c->reason, qname,
					  work->record.id);

	if (err == -ENOENT && quarantine_stat(&checker->fs->quarantine, qname, &st) == 0) {
		struct catalog_found found = {
			.path = c->path,
			.kind = S_ISLNK(st.st_mode) ? CATALOG_SYMLINK : CATALOG_FILE,
			.dev = st.st_dev,
			.ino = st.st_ino,
			.size = st.st_size,
			.mtime_ms = clock_ms_of(&st.st_mtim),
		};
		err = catalog_recover_quarantined(checker->cat, c->path, qname, &found, now,
						  c->reason);
	}
	if (err)
		log_error("scan %lld: '%s' moved to '%s' but not recorded: %s; the next start "
			  "reconciles it", (long long)work->record.id, c->path, qname,
			  catalog_last_error(checker->cat));
}

static void quarantine_one(struct scan_work *work, const struct candidate *c,
			   const char *scan_qid)
{
	struct checker *checker = work->checker;
	struct mediafs *fs = checker->fs;
	char qname[QUARANTINE_NAME_BYTES];
	struct stat st;
	int64_t now = clock_now_ms(), touched;
	int err = store_stat_beneath(&fs->store, c->path, &st);

	/* Gone or replaced since the catalog said so: events will tell. */
	if (err == -ENOENT || (!err && st.st_ino != c->ino))
		return;
	if (err)
		goto out_warn;
	/* Written on disk since (an open file): promise 2 again. */
	touched = clock_ms_of(&st.st_mtim) > clock_ms_of(&st.st_ctim) ?
			  clock_ms_of(&st.st_mtim) : clock_ms_of(&st.st_ctim);
	if (now - touched < work->settings.min_age_ms ||
	    !fits_in_quarantine(work, c->path, scan_qid))
		return;
	/* No writable open of the file can begin while it moves, and none
	 * may be open: a write through it would land in the quarantine. */
	if (inode_gate_enter(&fs->inodes, st.st_dev, st.st_ino) != 0) {
		keep_open(work, c->path, "quarantined");
		return;
	}
	err = quarantine_move(&fs->quarantine, c->path, scan_qid, c->ino, qname, sizeof(qname));
	inode_gate_leave(&fs->inodes, err == 0);
	if (err == -ESTALE || err == -ENOENT)
		return;
	if (err)
		goto out_warn;
	record_quarantined(work, c, qname, now);
	safekeep_index_add(fs, c->path, qname);
	ops_invalidate_name(fs, c->path);
	remember_parent(work, c->path);
	work->record.quarantined++;
	log_debug("scan %lld: quarantined '%s' as '%s'", (long long)work->record.id, c->path,
		  qname);
	return;

out_warn:
	work->errors++;
	log_write_limited(&checker->warning, LOG_REPEAT_INTERVAL_MS, LOG_LEVEL_WARN,
			  "scan %lld: cannot quarantine '%s': %s", (long long)work->record.id,
			  c->path, strerror(-err));
}

static void restore_one(struct scan_work *work, const struct candidate *c)
{
	struct checker *checker = work->checker;
	struct mediafs *fs = checker->fs;
	int64_t now = clock_now_ms();
	int err = quarantine_restore(&fs->quarantine, c->quarantine_name, c->path);

	if (err == -EEXIST) {
		/* Nothing is overwritten: the conflict is recorded and
		 * reported, and the file is not purged while it lasts. */
		work->record.conflicts++;
		/* Referenced now: the purge rule keeps it while the conflict
		 * lasts, so a failure to record that must not pass unsaid. */
		if (catalog_note(checker->cat, c->id, now, "conflict: a live file holds the path",
				 c->quarantine_name) != 0 ||
		    catalog_set_referenced(checker->cat, &c->id, 1, now) != 0) {
			work->errors++;
			log_error("scan %lld: cannot record the conflict of '%s': %s",
				  (long long)work->record.id, c->path,
				  catalog_last_error(checker->cat));
		}
		log_warn("scan %lld: '%s' is referenced again but a live file holds its path; "
			 "it stays in the quarantine as '%s'", (long long)work->record.id,
			 c->path, c->quarantine_name);
		return;
	}
	if (err) {
		work->errors++;
		log_warn("scan %lld: cannot restore '%s' from '%s': %s",
			 (long long)work->record.id, c->path, c->quarantine_name, strerror(-err));
		return;
	}
	/* A live row without its file gives way: the disk is the truth. */
	err = catalog_set_restored(checker->cat, c->id, now, c->reason, NULL);
	if (err)
		log_error("scan %lld: '%s' restored but not recorded: %s",
			  (long long)work->record.id, c->path, catalog_last_error(checker->cat));
	safekeep_index_remove(fs, c->path, c->quarantine_name);
	ops_invalidate_path(fs, c->path);
	work->record.restored++;
	log_info("scan %lld: restored '%s' (%s)", (long long)work->record.id, c->path, c->reason);
}

static void purge_one(struct scan_work *work, const struct candidate *c)
{
	struct checker *checker = work->checker;
	struct mediafs *fs = checker->fs;
	struct stat st;
	int err = quarantine_stat(&fs->quarantine, c->quarantine_name, &st);

	if (!err) {
		/* Unlinked or replaced while open, and still written. */
		if (inode_gate_enter(&fs->inodes, st.st_dev, st.st_ino) != 0) {
			keep_open(work, c->path, "purged");
			return;
		}
		err = quarantine_purge(&fs->quarantine, c->quarantine_name);
		inode_gate_leave(&fs->inodes, err == 0);
	}
	if (err && err != -ENOENT) {
		work->errors++;
		log_warn("scan %lld: cannot purge '%s': %s", (long long)work->record.id,
			 c->quarantine_name, strerror(-err));
		return;
	}
	err = catalog_set_purged(checker->cat, c->id, clock_now_ms(), c->reason);
	if (err)
		log_error("scan %lld: '%s' purged but not recorded: %s",
			  (long long)work->record.id, c->quarantine_name,
			  catalog_last_error(checker->cat));
	safekeep_index_remove(fs, c->path, c->quarantine_name);
	work->record.purged++;
}

static int compare_depth_desc(const void *a, const void *b)
{
	const char *x = *(char *const *)a, *y = *(char *const *)b;
	size_t dx = 0, dy = 0;

	for (; *x; x++)
		dx += *x == '/';
	for (; *y; y++)
		dy += *y == '/';
	return (dy > dx) - (dy < dx);
}

/*
 * Remove dir (relative to BACKING) if it is empty, older than min_age and
 * unknown to the kernel.  Returns true when it was removed.
 */
static bool remove_if_empty(struct scan_work *work, const char *dir)
{
	struct mediafs *fs = work->checker->fs;
	const char *name;
	struct stat st;
	int64_t birth_ms;
	bool removed = false;
	int dir_fd;

	if (store_open_parent(&fs->store, dir, &dir_fd, &name) != 0)
		return false;
	pthread_rwlock_wrlock(&fs->dir_lock);
	/* A directory the kernel knows may be about to receive a file;
	 * an unknown one must be looked up first, which waits on dir_lock. */
	if (store_stat_birth_at(dir_fd, name, &st, &birth_ms) == 0 && S_ISDIR(st.st_mode) &&
	    birth_ms >= 0 && work->now_ms - birth_ms >= work->settings.min_age_ms &&
	    inode_table_node_id(&fs->inodes, st.st_dev, st.st_ino) == 0)
		removed = store_remove(dir_fd, name, true) == 0;
	pthread_rwlock_unlock(&fs->dir_lock);
	close(dir_fd);
	if (removed)
		log_debug("scan %lld: removed empty directory '%s'", (long long)work->record.id, dir);
	return removed;
}

static void remove_emptied_dirs(struct scan_work *work)
{
	/* No array at all when no moved file had a parent directory. */
	if (work->emptied_count)
		qsort(work->emptied_dirs, work->emptied_count, sizeof(char *), compare_depth_desc);
	for (size_t i = 0; i < work->emptied_count; i++) {
		char *dir = work->emptied_dirs[i];
		char *slash;
		/* Up the tree while each level empties. */
		while (remove_if_empty(work, dir) && (slash = strrchr(dir, '/')) != NULL)
			*slash = '\0';
	}
}

/* ------------------------------------------------------------------ */
/* Reconcile the quarantine with the catalog (at startup)               */
/* ------------------------------------------------------------------ */

struct reconcile {
	struct checker *checker;
	uint64_t recovered, duplicates;
};

static int reconcile_entry(void *ctx, const char *qname, const struct stat *st)
{
	struct reconcile *r = ctx;
	struct checker *checker = r->checker;
	struct mediafs *fs = checker->fs;
	const char *path = quarantine_original_path(qname);
	struct stat live;
	int64_t id;
	int err = catalog_find_quarantined(checker->cat, qname, &id);

	if (err || id)
		return 0;
	/* Linked before a replacing rename that never happened: the file is
	 * still at its path, so the extra name goes. */
	if (store_stat_beneath(&fs->store, path, &live) == 0 && live.st_ino == st->st_ino &&
	    live.st_dev == st->st_dev) {
		if (quarantine_unlink_name(&fs->quarantine, qname) == 0)
			r->duplicates++;
		return 0;
	}
	struct catalog_found found = {
		.path = path,
		.kind = S_ISLNK(st->st_mode) ? CATALOG_SYMLINK : CATALOG_FILE,
		.dev = st->st_dev,
		.ino = st->st_ino,
		.size = st->st_size,
		.mtime_ms = clock_ms_of(&st->st_mtim),
	};
	err = catalog_recover_quarantined(checker->cat, path, qname, &found, clock_now_ms(),
					  "recovered from the quarantine");
	if (err == -EEXIST)
		return 0;	/* moved by this daemon: its event recorded it */
	if (err)
		log_error("cannot record quarantined '%s': %s", qname,
			  catalog_last_error(checker->cat));
	else
		r->recovered++;
	return 0;
}

/* Rows that say "quarantined" while their file is not there. */
static int collect_quarantined_row(void *ctx, const struct catalog_scan_row *row)
{
	struct candidates *list = ctx;

	return push_candidate(list, row->id, row->ino, row->path, row->quarantine_name,
			      (struct policy_judgement){ POLICY_KEEP, "" });
}

static void reconcile_quarantine(struct checker *checker)
{
	struct mediafs *fs = checker->fs;
	struct reconcile r = { .checker = checker };
	struct candidates rows = { 0 };
	uint64_t restored = 0, gone = 0;
	int64_t now = clock_now_ms();

	int err = quarantine_each(&fs->quarantine, reconcile_entry, &r);

	if (err)
		log_error("quarantine: cannot read all of it to reconcile: %s", strerror(-err));
	err = catalog_each_scan_row(checker->cat, CATALOG_QUARANTINED, collect_quarantined_row,
				    &rows);
	if (err) {
		/* Acting on part of the rows is safe; saying so is required. */
		log_error("quarantine: cannot read the catalog to reconcile: %s",
			  catalog_last_error(checker->cat));
	}
	for (size_t i = 0; i < rows.count; i++) {
		struct candidate *c = &rows.items[i];
		struct stat st;
		if (quarantine_stat(&fs->quarantine, c->quarantine_name, &st) == 0) {
			safekeep_index_add(fs, c->path, c->quarantine_name);
			continue;
		}
		if (store_stat_beneath(&fs->store, c->path, &st) == 0 && st.st_ino == c->ino) {
			/* Restored before a crash (or by a restore that
			 * records it now): the row follows the file. */
			if (catalog_set_restored(checker->cat, c->id, now, "recovered", NULL) != 0)
				log_error("cannot record '%s' as restored: %s", c->path,
					  catalog_last_error(checker->cat));
			else
				restored++;
		} else if (catalog_set_purged(checker->cat, c->id, now,
					      "missing from the quarantine") != 0) {
			log_error("cannot record '%s' as gone from the quarantine: %s", c->path,
				  catalog_last_error(checker->cat));
		} else {
			gone++;
		}
	}
	free_candidates(&rows);
	if (r.recovered || r.duplicates || restored || gone)
		log_info("quarantine: %llu files recorded again, %llu duplicate names removed, "
			 "%llu restored before a crash, %llu gone", (unsigned long long)r.recovered,
			 (unsigned long long)r.duplicates, (unsigned long long)restored,
			 (unsigned long long)gone);
}

/* ------------------------------------------------------------------ */
/* Scans                                                                */
/* ------------------------------------------------------------------ */

static enum catalog_scan_status status_of(const struct policy_decision *decision, bool dry_run)
{
	if (decision->verdict == POLICY_SOURCE_FAILED)
		return CATALOG_SCAN_FAILED;
	if (dry_run)
		return CATALOG_SCAN_DRY_RUN;
	if (decision->verdict == POLICY_HOLD_FRACTION ||
	    decision->verdict == POLICY_HOLD_EMPTY_SOURCE)
		return CATALOG_SCAN_HELD;
	return CATALOG_SCAN_DONE;
}

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
	if (to->count + from->count > to->capacity) {
		size_t capacity = to->count + from->count;
		struct candidate *items = realloc(to->items, capacity * sizeof(*items));
		if (!items)
			return -ENOMEM;
		to->items = items;
		to->capacity = capacity;
	}
	if (from->count)
		memcpy(to->items + to->count, from->items, from->count * sizeof(*from->items));
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
		free_candidates(&jobs[i].sink.quarantine);
		free_candidates(&jobs[i].sink.others);
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

/* Gather and decide.  Returns 0 or -errno (the catalog failed). */
static int gather(struct scan_work *work, struct policy_source_outcome *outcomes,
		  int64_t confirmed_scan_id)
{
	struct checker *checker = work->checker;
	struct catalog *cat = checker->cat;
	int err;

	struct fetch_job job = { .work = work, .outcomes = outcomes };
	struct live_pool pool = { 0 };
	int64_t started = clock_monotonic_ms();
	pthread_t fetcher;
	bool threaded;

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
	publish_source_errors(checker, job.errors);
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
		err = catalog_each_scan_row(cat, CATALOG_QUARANTINED, judge_quarantined, &sink);
		if (!err)
			err = merge_sink(work, &sink);
		free(sink.quarantine.items);
		free(sink.others.items);
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

/*
 * Restore, quarantine and purge as decision allows.  Returns 0, or -errno
 * when the confirmation failed: then nothing was moved or purged, and the
 * scan has failed as if its first fetch had.
 */
static int act(struct scan_work *work, const struct policy_decision *decision)
{
	char scan_qid[QUARANTINE_ID_BYTES];
	int err;

	snprintf(scan_qid, sizeof(scan_qid), "s%lld", (long long)work->record.id);
	for (size_t i = 0; decision->may_restore && i < work->others.count; i++)
		if (work->others.items[i].action == POLICY_RESTORE)
			restore_one(work, &work->others.items[i]);
	if (decision->may_quarantine && work->quarantine.count > 0) {
		err = confirm_candidates(work);
		if (err)
			return err;
		for (size_t i = 0; i < work->quarantine.count; i++)
			quarantine_one(work, &work->quarantine.items[i], scan_qid);
		remove_emptied_dirs(work);
	}
	for (size_t i = 0; decision->may_purge && i < work->others.count; i++)
		if (work->others.items[i].action == POLICY_PURGE)
			purge_one(work, &work->others.items[i]);
	return 0;
}

/* Keep the candidates in the catalog: a held scan's wait for an admin,
 * a dry run's answer "mediactl ls --unreferenced". */
static void keep_candidates(struct scan_work *work)
{
	struct catalog *cat = work->checker->cat;
	int64_t *ids = malloc((work->quarantine.count + 1) * sizeof(*ids));

	for (size_t i = 0; ids && i < work->quarantine.count; i++)
		ids[i] = work->quarantine.items[i].id;
	if (!ids || catalog_scan_keep_candidates(cat, work->record.id, ids,
						 work->quarantine.count) != 0)
		log_error("scan %lld: cannot keep the candidates: %s",
			  (long long)work->record.id, catalog_last_error(cat));
	free(ids);
}

static void hold(struct scan_work *work, const struct policy_decision *decision)
{
	keep_candidates(work);
	log_warn("ALARM: scan %lld is held: %s. Nothing was quarantined; confirm with "
		 "'mediactl confirm %lld' or reject with 'mediactl reject %lld'",
		 (long long)work->record.id, decision->reason, (long long)work->record.id,
		 (long long)work->record.id);
}

/*
 * The scan's message, as mediactl shows it: the decision, and for a failed
 * source the source's own words, so that the answer to "mediactl scan"
 * says what to fix without a look at the log.
 */
static void describe_scan(struct scan_work *work, const struct policy_decision *decision)
{
	char *message = work->record.message;
	size_t size = sizeof(work->record.message);

	if (work->record.status == CATALOG_SCAN_FAILED && work->source_errors[0]) {
		/* The source's words may not fit whole: they go last. */
		int used = snprintf(message, size, "%s: ",
				    decision->verdict == POLICY_SOURCE_FAILED ?
					    "nothing is moved" : decision->reason);
		snprintf(message + used, size - (size_t)used, "%.*s", (int)(size - (size_t)used - 1),
			 work->source_errors);
	} else {
		snprintf(message, size, "%s%s%s", decision->reason,
			 work->errors ? (decision->reason[0] ? "; " : "") : "",
			 work->errors ? "some files could not be moved (see the log)" : "");
	}
}

/*
 * Say once per scan what is wrong with BACKING's filesystem.  Returns
 * -EROFS when it is read-only: nothing could be moved or recorded, so the
 * scan fails at once with that sentence as its message.  A full one is
 * only a warning: a move into the quarantine is a rename and needs no
 * space, and the catalog reports its own failures.
 */
static int check_backing(struct scan_work *work)
{
	char why[sizeof(work->record.message)];

	switch (store_check_health(&work->checker->fs->store, why, sizeof(why))) {
	case STORE_READ_ONLY:
		snprintf(work->record.message, sizeof(work->record.message), "%s", why);
		return -EROFS;
	case STORE_FULL:
	case STORE_NEARLY_FULL:
	case STORE_UNKNOWN:
		log_warn("%s", why);
		break;
	case STORE_HEALTHY:
		break;
	}
	return 0;
}

/*
 * One scan.  trigger: startup, interval, manual, confirm.  With
 * confirmed_scan_id the candidates are limited to that held scan's.
 */
/*
 * The textfile that node_exporter's collector reads (metrics_file),
 * rewritten after each scan from the same status that mediactl sees.
 */
static void write_metrics(struct checker *checker)
{
	struct mediafs *fs = checker->fs;
	const char *path = checker->config.settings.metrics_file;
	struct admin_context admin = {
		.cat = checker->cat,
		.store = &fs->store,
		.quarantine = &fs->quarantine,
		.config = &checker->config,
		.daemon = fs,
		.add_status = ctl_add_daemon_status,
	};
	json_t *request = json_pack("{s:s}", "command", "metrics");
	json_t *response = request ? admin_execute(&admin, request) : NULL;
	const char *text = json_string_value(json_object_get(response, "text"));
	const char *why = json_string_value(json_object_get(response, "error"));
	int err = text ? metrics_write_file(path, text) : -EIO;

	if (err)
		log_write_limited(&checker->warning, LOG_REPEAT_INTERVAL_MS, LOG_LEVEL_WARN,
				  "cannot write the metrics file '%s': %s", path,
				  text || !why ? strerror(-err) : why);
	json_decref(request);
	json_decref(response);
}

/*
 * A query's answer: the candidates, handed to the requester instead of
 * being kept in the catalog under a scan number.
 */
static void answer_query(struct checker *checker, struct scan_work *work)
{
	int64_t *ids = malloc((work->quarantine.count + 1) * sizeof(*ids));

	for (size_t i = 0; ids && i < work->quarantine.count; i++)
		ids[i] = work->quarantine.items[i].id;
	pthread_mutex_lock(&checker->lock);
	free(checker->query_ids);
	checker->query_ids = ids;
	checker->query_count = ids ? work->quarantine.count : 0;
	pthread_mutex_unlock(&checker->lock);
}

/*
 * One scan: gather, decide, act, record.  A query (query set) is a dry
 * run that records nothing: no scan number, no candidates kept, no line
 * at info, no change to the status; it only answers what is unreferenced.
 */
static void run_scan_as(struct checker *checker, const char *trigger, bool dry_run,
			int64_t confirmed_scan_id, bool query, struct catalog_scan *out);

static void run_scan(struct checker *checker, const char *trigger, bool dry_run,
		     int64_t confirmed_scan_id, struct catalog_scan *out)
{
	run_scan_as(checker, trigger, dry_run, confirmed_scan_id, false, out);
}

static void run_scan_as(struct checker *checker, const char *trigger, bool dry_run,
			int64_t confirmed_scan_id, bool query, struct catalog_scan *out)
{
	size_t source_count = checker->config.source_count;
	struct policy_source_outcome *outcomes = calloc(source_count + 1, sizeof(*outcomes));
	struct scan_work work = { .checker = checker };
	struct policy_decision decision = { 0 };
	int err;

	dry_run = dry_run || checker->config.settings.dry_run;
	snprintf(work.record.trigger, sizeof(work.record.trigger), "%s", trigger);
	work.record.started_ms = clock_now_ms();
	if (checker->fs->events)
		events_flush(checker->fs->events);
	err = outcomes ? check_backing(&work) : -ENOMEM;
	if (!err && confirmed_scan_id) {
		/* A confirmed scan goes on as itself: the number the admin
		 * confirmed is the one whose files move, so 'restore --scan N'
		 * undoes what 'confirm N' did. */
		struct catalog_scan held;
		err = catalog_scan_get(checker->cat, confirmed_scan_id, &held);
		if (!err) {
			work.record.id = held.id;
			work.record.decided_ms = held.decided_ms;
			memcpy(work.record.trigger, held.trigger, sizeof(work.record.trigger));
		}
	} else if (!err && !query) {
		err = catalog_scan_begin(checker->cat, clock_now_ms(), trigger, &work.record.id);
	}
	if (err) {
		/* No scan row to record it in: the answer and the log say it. */
		if (err == -ENOMEM)
			snprintf(work.record.message, sizeof(work.record.message),
				 "nothing is moved: out of memory");
		else if (!work.record.message[0])
			snprintf(work.record.message, sizeof(work.record.message),
				 "nothing is moved: the catalog cannot be written (%s)",
				 catalog_last_error(checker->cat));
		work.record.status = CATALOG_SCAN_FAILED;
		work.record.finished_ms = clock_now_ms();
		log_error("%s", work.record.message);
		goto out_free;
	}
	err = gather(&work, outcomes, confirmed_scan_id);
	if (err) {
		/* protect_unmatched() said why already. */
		if (!work.unresolved)
			log_error("scan %lld: cannot read the catalog: %s", (long long)work.record.id,
				  catalog_last_error(checker->cat));
		decision.verdict = POLICY_SOURCE_FAILED;
		snprintf(decision.reason, sizeof(decision.reason), "%s",
			 work.unresolved ? "the references could not be resolved in BACKING" :
					   "the catalog could not be read");
	} else {
		policy_decide_scan(&work.settings, outcomes, source_count, &work.counts,
				   confirmed_scan_id != 0, dry_run, &decision);
	}
	work.record.live = work.counts.live;
	work.record.candidates = work.counts.candidates;
	work.record.status = status_of(&decision, dry_run);
	if (confirmed_scan_id && work.record.status == CATALOG_SCAN_DONE)
		work.record.status = CATALOG_SCAN_CONFIRMED;
	if (!err && act(&work, &decision) != 0) {
		work.record.status = CATALOG_SCAN_FAILED;
		snprintf(decision.reason, sizeof(decision.reason),
			 "the confirmation failed, nothing is moved");
	}
	if (query) {
		describe_scan(&work, &decision);
		work.record.finished_ms = clock_now_ms();
		answer_query(checker, &work);
		log_debug("query: %llu live, %llu unreferenced and old enough",
			  (unsigned long long)work.record.live,
			  (unsigned long long)work.record.candidates);
		if (out)
			*out = work.record;
		goto out_quiet;
	}
	if (work.record.status == CATALOG_SCAN_HELD)
		hold(&work, &decision);
	else if (work.record.status == CATALOG_SCAN_DRY_RUN)
		keep_candidates(&work);
	describe_scan(&work, &decision);
	work.record.finished_ms = clock_now_ms();
	if (catalog_scan_end(checker->cat, &work.record) != 0)
		log_error("scan %lld: cannot record the scan: %s", (long long)work.record.id,
			  catalog_last_error(checker->cat));
	log_info("scan %lld (%s): %s; %llu live, %llu referenced, %llu candidates, "
		 "%llu quarantined, %llu restored, %llu purged, %llu conflicts in %lld ms%s%s",
		 (long long)work.record.id, trigger,
		 catalog_scan_status_name(work.record.status),
		 (unsigned long long)work.record.live, (unsigned long long)work.record.referenced,
		 (unsigned long long)work.record.candidates,
		 (unsigned long long)work.record.quarantined,
		 (unsigned long long)work.record.restored, (unsigned long long)work.record.purged,
		 (unsigned long long)work.record.conflicts,
		 (long long)(work.record.finished_ms - work.record.started_ms),
		 decision.reason[0] ? ": " : "", decision.reason);
out_free:
	if (out)
		*out = work.record;
	pthread_mutex_lock(&checker->lock);
	checker->status.last = work.record;
	for (size_t i = 0; outcomes && i < source_count; i++)
		if (!outcomes[i].failed)
			checker->source_references[i] = outcomes[i].references;
	pthread_mutex_unlock(&checker->lock);
	if (checker->config.settings.metrics_file[0])
		write_metrics(checker);
out_quiet:
	free_work(&work);
	free(outcomes);
	/* A scan of a million files frees a hundred megabytes in pieces;
	 * give them back rather than keep them until the next scan. */
	malloc_trim(0);
}

/* Confirm or reject a held scan on the checker thread. */
static int decide(struct checker *checker, int64_t scan_id, bool confirm,
		  struct catalog_scan *out)
{
	int64_t now = clock_now_ms();
	int err = catalog_scan_decide(checker->cat, scan_id,
				      confirm ? CATALOG_SCAN_CONFIRMED : CATALOG_SCAN_REJECTED, now);

	if (err)
		return err;
	log_info("scan %lld %s by an admin", (long long)scan_id,
		 confirm ? "confirmed" : "rejected");
	if (confirm)
		run_scan(checker, "confirm", false, scan_id, out);
	else if (catalog_scan_get(checker->cat, scan_id, out) != 0)
		log_error("scan %lld was rejected, but cannot be read back: %s", (long long)scan_id,
			  catalog_last_error(checker->cat));
	return 0;
}

/* ------------------------------------------------------------------ */
/* The thread and its requests                                          */
/* ------------------------------------------------------------------ */

static void refresh_held(struct checker *checker)
{
	struct catalog_scan held;
	bool is_held = catalog_scan_get_held(checker->cat, &held) == 0;

	pthread_mutex_lock(&checker->lock);
	checker->status.held = is_held;
	if (is_held)
		checker->status.held_scan = held;
	pthread_mutex_unlock(&checker->lock);
}

/* Wait for a request or the next interval.  Returns false to stop. */
static bool wait_for_work(struct checker *checker, int64_t due_ms, enum request_kind *kind,
			  int64_t *scan_id)
{
	struct timespec deadline;
	int64_t wait_ms = due_ms - clock_monotonic_ms();

	clock_monotonic_deadline(&deadline, wait_ms > 0 ? wait_ms : 0);
	pthread_mutex_lock(&checker->lock);
	checker->status.next_scan_ms = clock_now_ms() + (wait_ms > 0 ? wait_ms : 0);
	while (!checker->stopping && checker->request == REQUEST_NONE &&
	       pthread_cond_timedwait(&checker->wake, &checker->lock, &deadline) != ETIMEDOUT)
		;
	*kind = checker->request;
	*scan_id = checker->request_scan_id;
	checker->status.scanning = !checker->stopping;
	bool go = !checker->stopping;
	pthread_mutex_unlock(&checker->lock);
	return go;
}

static void finish_request(struct checker *checker, int result, const struct catalog_scan *scan)
{
	pthread_mutex_lock(&checker->lock);
	checker->request = REQUEST_NONE;
	checker->request_result = result;
	if (scan)
		checker->request_scan = *scan;
	checker->finished = checker->requested;
	checker->status.scanning = false;
	pthread_cond_broadcast(&checker->done);
	pthread_mutex_unlock(&checker->lock);
}

static bool wait_for_adoption(struct checker *checker)
{
	for (;;) {
		if (!checker->fs->events ||
		    events_wait_adoption(checker->fs->events, ADOPTION_POLL_MS))
			return true;
		pthread_mutex_lock(&checker->lock);
		bool stopping = checker->stopping;
		pthread_mutex_unlock(&checker->lock);
		if (stopping)
			return false;
	}
}

/*
 * Take the configuration that checker_reload() left: new settings and
 * sources for the next scan.  Sources are closed and opened again (a
 * changed url or column list takes effect at once; one that cannot be
 * reached fails the next scan, as at startup).
 */
static int apply_reload(struct checker *checker)
{
	struct config next;
	struct source **sources;
	uint64_t *references;

	pthread_mutex_lock(&checker->lock);
	next = checker->pending_config;
	config_init_defaults(&checker->pending_config);
	pthread_mutex_unlock(&checker->lock);
	sources = calloc(next.source_count + 1, sizeof(*sources));
	references = calloc(next.source_count + 1, sizeof(*references));
	if (!sources || !references) {
		free(sources);
		free(references);
		config_free(&next);
		return -ENOMEM;
	}
	for (size_t i = 0; i < checker->config.source_count; i++)
		source_close(checker->sources[i]);
	free(checker->sources);
	config_free(&checker->config);
	checker->config = next;
	checker->sources = sources;
	pthread_mutex_lock(&checker->lock);
	free(checker->source_references);
	checker->source_references = references;
	pthread_mutex_unlock(&checker->lock);
	for (size_t i = 0; i < checker->config.source_count; i++) {
		char message[ERROR_BYTES];
		if (connect_source(checker, i, message, sizeof(message)) != 0)
			log_error("%s; scans move nothing until it answers", message);
	}
	return 0;
}

static void *checker_main(void *arg)
{
	struct checker *checker = arg;
	int64_t due;

	if (!wait_for_adoption(checker))
		return NULL;
	reconcile_quarantine(checker);
	refresh_held(checker);
	run_scan(checker, "startup", false, 0, NULL);
	refresh_held(checker);
	due = clock_monotonic_ms() + checker->config.settings.interval_ms;
	for (;;) {
		struct catalog_scan scan = { 0 };
		enum request_kind kind;
		int64_t scan_id;
		int result = 0;

		if (!wait_for_work(checker, due, &kind, &scan_id))
			break;
		switch (kind) {
		case REQUEST_NONE:
			run_scan(checker, "interval", false, 0, &scan);
			due = clock_monotonic_ms() + checker->config.settings.interval_ms;
			break;
		case REQUEST_QUERY:
			run_scan_as(checker, "query", true, 0, true, &scan);
			break;
		case REQUEST_RELOAD:
			result = apply_reload(checker);
			/* A changed interval counts from now. */
			due = clock_monotonic_ms() + checker->config.settings.interval_ms;
			break;
		case REQUEST_SCAN:
		case REQUEST_DRY_RUN:
			run_scan(checker, "manual", kind == REQUEST_DRY_RUN, 0, &scan);
			break;
		case REQUEST_CONFIRM:
		case REQUEST_REJECT:
			result = decide(checker, scan_id, kind == REQUEST_CONFIRM, &scan);
			break;
		}
		refresh_held(checker);
		if (kind != REQUEST_NONE)
			finish_request(checker, result, &scan);
		else
			finish_request(checker, 0, NULL);
	}
	return NULL;
}

static int request(struct checker *checker, enum request_kind kind, int64_t scan_id,
		   int64_t timeout_ms, struct catalog_scan *result)
{
	struct timespec deadline;
	uint64_t ticket;
	int err = 0;

	clock_monotonic_deadline(&deadline, timeout_ms);
	pthread_mutex_lock(&checker->lock);
	while (checker->request != REQUEST_NONE && !checker->stopping && !err)
		err = pthread_cond_timedwait(&checker->done, &checker->lock, &deadline);
	if (checker->stopping || err) {
		pthread_mutex_unlock(&checker->lock);
		return checker->stopping ? -ESHUTDOWN : -ETIMEDOUT;
	}
	checker->request = kind;
	checker->request_scan_id = scan_id;
	ticket = ++checker->requested;
	pthread_cond_signal(&checker->wake);
	while (checker->finished < ticket && !checker->stopping && !err)
		err = pthread_cond_timedwait(&checker->done, &checker->lock, &deadline);
	if (checker->finished >= ticket) {
		err = checker->request_result;
		if (result)
			*result = checker->request_scan;
	} else {
		err = checker->stopping ? -ESHUTDOWN : -ETIMEDOUT;
	}
	pthread_mutex_unlock(&checker->lock);
	return err;
}

int checker_scan_now(struct checker *checker, bool dry_run, int64_t timeout_ms,
		     struct catalog_scan *result)
{
	return request(checker, dry_run ? REQUEST_DRY_RUN : REQUEST_SCAN, 0, timeout_ms, result);
}

int checker_decide(struct checker *checker, int64_t scan_id, bool confirm,
		   int64_t timeout_ms, struct catalog_scan *result)
{
	return request(checker, confirm ? REQUEST_CONFIRM : REQUEST_REJECT, scan_id, timeout_ms,
		       result);
}

uint64_t checker_source_references(struct checker *checker, size_t i)
{
	uint64_t references;

	if (i >= checker->config.source_count)
		return 0;
	pthread_mutex_lock(&checker->lock);
	references = checker->source_references[i];
	pthread_mutex_unlock(&checker->lock);
	return references;
}

int checker_list_unreferenced(struct checker *checker, int64_t timeout_ms, int64_t **ids,
			      size_t *count, struct catalog_scan *result)
{
	int err = request(checker, REQUEST_QUERY, 0, timeout_ms, result);

	*ids = NULL;
	*count = 0;
	if (err)
		return err;
	pthread_mutex_lock(&checker->lock);
	*ids = checker->query_ids;
	*count = checker->query_count;
	checker->query_ids = NULL;
	checker->query_count = 0;
	pthread_mutex_unlock(&checker->lock);
	return *ids || result->status == CATALOG_SCAN_FAILED ? 0 : -ENOMEM;
}

int checker_reload(struct checker *checker, const struct config *cfg, int64_t timeout_ms)
{
	struct config copy;
	int err = config_copy(&copy, cfg);

	if (err)
		return err;
	pthread_mutex_lock(&checker->lock);
	config_free(&checker->pending_config);
	free(checker->query_ids);
	checker->pending_config = copy;
	pthread_mutex_unlock(&checker->lock);
	return request(checker, REQUEST_RELOAD, 0, timeout_ms, NULL);
}

void checker_get_status(struct checker *checker, struct checker_status *status)
{
	pthread_mutex_lock(&checker->lock);
	*status = checker->status;
	pthread_mutex_unlock(&checker->lock);
}

static void free_checker(struct checker *checker)
{
	for (size_t i = 0; checker->sources && i < checker->config.source_count; i++)
		source_close(checker->sources[i]);
	free(checker->sources);
	free(checker->source_references);
	catalog_close(checker->cat);
	config_free(&checker->config);
	config_free(&checker->pending_config);
	free(checker->catalog_path);
	pthread_mutex_destroy(&checker->lock);
	pthread_cond_destroy(&checker->wake);
	pthread_cond_destroy(&checker->done);
	free(checker);
}

int checker_start(struct mediafs *fs, const struct config *cfg, const char *catalog_path,
		  struct checker **out, char *error, size_t error_size)
{
	struct checker *checker = calloc(1, sizeof(*checker));
	pthread_condattr_t attr;
	int err;

	if (!checker)
		return -ENOMEM;
	checker->fs = fs;
	pthread_mutex_init(&checker->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&checker->wake, &attr);
	pthread_cond_init(&checker->done, &attr);
	pthread_condattr_destroy(&attr);
	err = config_copy(&checker->config, cfg);
	checker->catalog_path = strdup(catalog_path);
	checker->sources = calloc(cfg->source_count + 1, sizeof(*checker->sources));
	checker->source_references = calloc(cfg->source_count + 1,
					    sizeof(*checker->source_references));
	if (err || !checker->catalog_path || !checker->sources || !checker->source_references) {
		snprintf(error, error_size, "out of memory");
		free_checker(checker);
		return -ENOMEM;
	}
	err = catalog_open(catalog_path, false, &checker->cat, error, error_size);
	if (err) {
		free_checker(checker);
		return err;
	}
	/* mediactl --backing reads the same file when the daemon is stopped. */
	if (catalog_meta_set(checker->cat, CATALOG_META_CONFIG_PATH, cfg->path ? cfg->path : "") != 0)
		log_warn("cannot record the configuration file in the catalog: %s",
			 catalog_last_error(checker->cat));
	/* A source that cannot be reached now is retried at every scan;
	 * those scans fail and move nothing. */
	for (size_t i = 0; i < checker->config.source_count; i++) {
		char message[ERROR_BYTES];
		if (connect_source(checker, i, message, sizeof(message)) != 0)
			log_error("%s; scans move nothing until it answers", message);
	}
	/* Published before the thread starts: the status that the thread
	 * writes into the metrics file reads it. */
	*out = checker;
	err = -pthread_create(&checker->thread, NULL, checker_main, checker);
	if (err) {
		snprintf(error, error_size, "cannot start the checker: %s", strerror(-err));
		*out = NULL;
		free_checker(checker);
		return err;
	}
	return 0;
}

void checker_stop(struct checker *checker)
{
	if (!checker)
		return;
	pthread_mutex_lock(&checker->lock);
	checker->stopping = true;
	pthread_cond_broadcast(&checker->wake);
	pthread_cond_broadcast(&checker->done);
	pthread_mutex_unlock(&checker->lock);
	pthread_join(checker->thread, NULL);
	free_checker(checker);
}
