/*
 * events: a ring buffer under one mutex, drained by one writer thread.
 *
 * Lock order: ev->lock is a leaf; the writer never holds it while it talks
 * to the catalog.
 */
#include "events.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adopt.h"
#include "clock.h"
#include "log.h"

enum {
	ADOPT_SLICE_ENTRIES = 5000,	/* directory entries per slice */
	ADOPT_PROGRESS_FILES = 100000,	/* log a progress line this often */
	SIZING_SLICE_FILES = 1000,	/* files stat()ed per slice */
	RETRY_COUNT = 3,
	RETRY_DELAY_MS = 1000,
	ADOPTION_RETRY_MAX_MS = 30000,	/* the longest wait between failed adoptions */
};

struct queued_event {
	struct catalog_event event;	/* its strings point into strings */
	char *strings;
};

struct events {
	pthread_mutex_t lock;
	pthread_cond_t not_empty;	/* queue gained events, or stop */
	pthread_cond_t not_full;	/* queue lost events */
	pthread_cond_t progress;	/* committed or adoption changed */
	struct queued_event *ring;	/* guarded by lock */
	size_t head, count;		/* guarded by lock */
	uint64_t emitted, committed, dropped; /* guarded by lock */
	bool stopping;			/* guarded by lock */
	bool adoption_requested;	/* guarded by lock */
	bool needs_adoption;		/* guarded by lock: a group or an adoption failed */
	int64_t adoption_due_ms;	/* guarded by lock: no retry before (monotonic) */
	uint64_t dropped_before_walk;	/* guarded by lock: dropped when the walk began */
	struct events_status status;	/* guarded by lock (adoption fields) */
	pthread_t thread;
	/* Writer thread only: */
	struct catalog *cat;
	const struct store *store;
	struct adopt_walk *walk;
	int64_t walk_next_progress;
	int64_t sizing_after_id;	/* -1 when no sizes are being filled in */
	int64_t adoption_backoff_ms;	/* the wait after the next failed adoption */
	struct log_ratelimit error_limit;
};

/* ------------------------------------------------------------------ */
/* Producers                                                            */
/* ------------------------------------------------------------------ */

static size_t string_size(const char *s)
{
	return s ? strlen(s) + 1 : 0;
}

static const char *copy_string(char **cursor, const char *s)
{
	char *out;
	size_t len;

	if (!s)
		return NULL;
	len = strlen(s) + 1;
	out = *cursor;
	memcpy(out, s, len);
	*cursor += len;
	return out;
}

/* Copy an event and its strings into one allocation. */
static int copy_event(struct queued_event *slot, const struct catalog_event *event)
{
	size_t size = string_size(event->path) + string_size(event->path2) +
		      string_size(event->quarantine_name) + string_size(event->reason);
	char *cursor;

	slot->strings = size ? malloc(size) : NULL;
	if (size && !slot->strings)
		return -ENOMEM;
	cursor = slot->strings;
	slot->event = *event;
	slot->event.path = copy_string(&cursor, event->path);
	slot->event.path2 = copy_string(&cursor, event->path2);
	slot->event.quarantine_name = copy_string(&cursor, event->quarantine_name);
	slot->event.reason = copy_string(&cursor, event->reason);
	return 0;
}

void events_emit(struct events *ev, const struct catalog_event *event)
{
	struct queued_event copy;

	if (copy_event(&copy, event) != 0) {
		log_write_limited(&ev->error_limit, LOG_REPEAT_INTERVAL_MS, LOG_LEVEL_ERROR,
				  "cannot record a change of '%s': out of memory",
				  event->path ? event->path : "?");
		pthread_mutex_lock(&ev->lock);
		ev->dropped++;
		ev->status.catalog_behind = true;
		ev->adoption_requested = true;
		pthread_mutex_unlock(&ev->lock);
		return;
	}
	pthread_mutex_lock(&ev->lock);
	while (ev->count == EVENT_QUEUE_CAPACITY)
		pthread_cond_wait(&ev->not_full, &ev->lock);
	ev->ring[(ev->head + ev->count) % EVENT_QUEUE_CAPACITY] = copy;
	ev->count++;
	ev->emitted++;
	if (ev->count == 1 || ev->count == EVENT_GROUP_MAX)
		pthread_cond_signal(&ev->not_empty);
	pthread_mutex_unlock(&ev->lock);
}

void events_flush(struct events *ev)
{
	pthread_mutex_lock(&ev->lock);
	uint64_t target = ev->emitted;
	pthread_cond_signal(&ev->not_empty);
	while (ev->committed + ev->dropped < target && !ev->stopping)
		pthread_cond_wait(&ev->progress, &ev->lock);
	pthread_mutex_unlock(&ev->lock);
}

bool events_wait_adoption(struct events *ev, int64_t timeout_ms)
{
	struct timespec deadline;
	bool done;

	clock_monotonic_deadline(&deadline, timeout_ms < 0 ? 0 : timeout_ms);
	pthread_mutex_lock(&ev->lock);
	while (!ev->status.adoption_done && !ev->stopping) {
		if (timeout_ms < 0)
			pthread_cond_wait(&ev->progress, &ev->lock);
		else if (pthread_cond_timedwait(&ev->progress, &ev->lock, &deadline) == ETIMEDOUT)
			break;
	}
	done = ev->status.adoption_done;
	pthread_mutex_unlock(&ev->lock);
	return done;
}

void events_request_adoption(struct events *ev)
{
	pthread_mutex_lock(&ev->lock);
	ev->adoption_requested = true;
	pthread_cond_signal(&ev->not_empty);
	pthread_mutex_unlock(&ev->lock);
}

void events_get_status(struct events *ev, struct events_status *status)
{
	pthread_mutex_lock(&ev->lock);
	*status = ev->status;
	status->emitted = ev->emitted;
	status->committed = ev->committed;
	status->dropped = ev->dropped;
	pthread_mutex_unlock(&ev->lock);
}

/* ------------------------------------------------------------------ */
/* The writer thread                                                    */
/* ------------------------------------------------------------------ */

/* Is a retry of a failed adoption (or one after dropped events) due?
 * Called with ev->lock held. */
static bool adoption_is_due(const struct events *ev)
{
	return ev->needs_adoption && clock_monotonic_ms() >= ev->adoption_due_ms;
}

/* Take up to EVENT_GROUP_MAX events, waiting for a group to form.
 * Returns how many were moved into group. */
static size_t take_group(struct events *ev, struct queued_event *group)
{
	struct timespec deadline;
	size_t n = 0;

	pthread_mutex_lock(&ev->lock);
	bool background = ev->walk || ev->sizing_after_id >= 0;

	while (ev->count == 0 && !ev->stopping && !background && !ev->adoption_requested &&
	       !adoption_is_due(ev)) {
		if (!ev->needs_adoption) {
			pthread_cond_wait(&ev->not_empty, &ev->lock);
			continue;
		}
		clock_monotonic_deadline(&deadline, ev->adoption_due_ms - clock_monotonic_ms());
		pthread_cond_timedwait(&ev->not_empty, &ev->lock, &deadline);
	}
	if (ev->count > 0 && ev->count < EVENT_GROUP_MAX && !ev->stopping && !background) {
		/* Let a group form: one transaction for many events. */
		clock_monotonic_deadline(&deadline, EVENT_GROUP_MS);
		while (ev->count < EVENT_GROUP_MAX && !ev->stopping &&
		       pthread_cond_timedwait(&ev->not_empty, &ev->lock, &deadline) != ETIMEDOUT)
			;
	}
	while (n < EVENT_GROUP_MAX && ev->count > 0) {
		group[n++] = ev->ring[ev->head];
		ev->head = (ev->head + 1) % EVENT_QUEUE_CAPACITY;
		ev->count--;
	}
	if (n)
		pthread_cond_broadcast(&ev->not_full);
	pthread_mutex_unlock(&ev->lock);
	return n;
}

static void sleep_ms(int64_t ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static void commit_group(struct events *ev, struct queued_event *group, size_t n)
{
	struct catalog_event *events = malloc(n * sizeof(*events));
	int err = events ? 0 : -ENOMEM;

	for (size_t i = 0; events && i < n; i++)
		events[i] = group[i].event;
	for (int attempt = 0; events && attempt < RETRY_COUNT; attempt++) {
		err = catalog_apply_events(ev->cat, events, n);
		if (!err)
			break;
		log_write_limited(&ev->error_limit, LOG_REPEAT_INTERVAL_MS, LOG_LEVEL_ERROR,
				  "cannot write %zu events to the catalog: %s", n,
				  catalog_last_error(ev->cat));
		/* A pause between attempts, none after the last. */
		if (attempt + 1 < RETRY_COUNT)
			sleep_ms(RETRY_DELAY_MS);
	}
	for (size_t i = 0; i < n; i++)
		free(group[i].strings);
	free(events);

	pthread_mutex_lock(&ev->lock);
	if (err) {
		ev->dropped += n;
		ev->status.catalog_behind = true;
		ev->needs_adoption = true;
	} else {
		ev->committed += n;
		/* Writing works again: an adoption that failed may go now. */
		ev->adoption_due_ms = 0;
	}
	pthread_cond_broadcast(&ev->progress);
	pthread_mutex_unlock(&ev->lock);
	if (err)
		log_error("dropped %zu events after %d attempts (%s); the catalog will be "
			  "reconciled with the disk", n, RETRY_COUNT, strerror(-err));
}

static int adopt_found(void *ctx, const struct catalog_found *found)
{
	struct events *ev = ctx;

	return catalog_adopt_add(ev->cat, found);
}

/*
 * An adoption failed (the catalog cannot be written: a full disk, a
 * read-only one): try again after a wait that doubles up to
 * ADOPTION_RETRY_MAX_MS, or as soon as an event group commits, so that a
 * long outage neither spins nor floods the log, and the catalog catches
 * up with the disk once it can.
 */
static void retry_adoption_later(struct events *ev)
{
	pthread_mutex_lock(&ev->lock);
	ev->needs_adoption = true;
	ev->adoption_due_ms = clock_monotonic_ms() + ev->adoption_backoff_ms;
	pthread_mutex_unlock(&ev->lock);
	ev->adoption_backoff_ms = ev->adoption_backoff_ms * 2 < ADOPTION_RETRY_MAX_MS ?
					  ev->adoption_backoff_ms * 2 : ADOPTION_RETRY_MAX_MS;
}

static void start_walk(struct events *ev)
{
	int err = adopt_walk_start(ev->store, &ev->walk);

	if (!err)
		err = catalog_adopt_begin(ev->cat, clock_now_ms());
	if (err) {
		log_error("cannot start adoption: %s (%s); retrying in %lld s", strerror(-err),
			  catalog_last_error(ev->cat), (long long)ev->adoption_backoff_ms / 1000);
		adopt_walk_free(ev->walk);
		ev->walk = NULL;
		retry_adoption_later(ev);
		return;
	}
	ev->walk_next_progress = ADOPT_PROGRESS_FILES;
	log_info("adoption: walking the backing directory");
	pthread_mutex_lock(&ev->lock);
	ev->status.adopting = true;
	ev->status.adoption_files = 0;
	ev->dropped_before_walk = ev->dropped;
	pthread_mutex_unlock(&ev->lock);
}

static void end_walk(struct events *ev, int err, const char *where)
{
	struct catalog_adopt_result result = { 0 };
	uint64_t files = adopt_walk_files(ev->walk);

	if (!err)
		err = catalog_adopt_finish(ev->cat, clock_now_ms(), &result);
	else
		log_error("adoption stopped at '%s': %s; no file is declared missing",
			  where ? where : "", strerror(-err));
	adopt_walk_free(ev->walk);
	ev->walk = NULL;
	if (!err)
		log_info("adoption: %llu files, %llu adopted, %llu reappeared, %llu changed, "
			 "%llu missing", (unsigned long long)result.found,
			 (unsigned long long)result.adopted,
			 (unsigned long long)result.reappeared,
			 (unsigned long long)result.changed, (unsigned long long)result.missing);
	else if (where == NULL)
		log_error("cannot finish adoption: %s; retrying in %lld s",
			  catalog_last_error(ev->cat), (long long)ev->adoption_backoff_ms / 1000);
	pthread_mutex_lock(&ev->lock);
	ev->status.adopting = false;
	ev->status.adoption_files = files;
	if (!err) {
		ev->status.adoption_done = true;
		ev->status.last_adoption = result;
		/* Caught up, unless more was dropped while it walked. */
		if (ev->dropped == ev->dropped_before_walk)
			ev->status.catalog_behind = false;
	}
	pthread_cond_broadcast(&ev->progress);
	pthread_mutex_unlock(&ev->lock);
	if (err) {
		retry_adoption_later(ev);
		return;
	}
	ev->adoption_backoff_ms = RETRY_DELAY_MS;
	ev->sizing_after_id = 0;
}

struct sizing_slice {
	struct events *ev;
	struct catalog_size sizes[SIZING_SLICE_FILES];
	size_t count, seen;
	int64_t last_id;
};

static int size_one(void *ctx, int64_t id, const char *path)
{
	struct sizing_slice *slice = ctx;
	struct stat st;

	slice->seen++;
	slice->last_id = id;
	/* Gone meanwhile: the events or the next adoption will say so. */
	if (store_stat_beneath(slice->ev->store, path, &st) != 0)
		return 0;
	slice->sizes[slice->count++] = (struct catalog_size){
		.id = id,
		.size = st.st_size,
		.mtime_ms = clock_ms_of(&st.st_mtim),
	};
	return 0;
}

/* Fill in, a slice at a time, the sizes that adoption left unknown. */
static void sizing_slice(struct events *ev)
{
	struct sizing_slice *slice = calloc(1, sizeof(*slice));
	int err;

	if (!slice)
		return;
	slice->ev = ev;
	err = catalog_next_unsized(ev->cat, ev->sizing_after_id, SIZING_SLICE_FILES,
				   size_one, slice);
	if (!err && slice->count)
		err = catalog_set_sizes(ev->cat, slice->sizes, slice->count);
	if (err) {
		log_error("cannot record file sizes: %s", catalog_last_error(ev->cat));
		ev->sizing_after_id = -1;
	} else if (slice->seen < SIZING_SLICE_FILES) {
		ev->sizing_after_id = -1;
		log_debug("adoption: sizes recorded");
	} else {
		ev->sizing_after_id = slice->last_id;
	}
	free(slice);
}

static void walk_slice(struct events *ev)
{
	const char *where = NULL;
	int more = adopt_walk_step(ev->walk, ADOPT_SLICE_ENTRIES, adopt_found, ev, &where);
	uint64_t files = adopt_walk_files(ev->walk);
	int err = more < 0 ? more : catalog_adopt_commit(ev->cat);

	if (files >= (uint64_t)ev->walk_next_progress) {
		log_info("adoption: %llu files seen", (unsigned long long)files);
		ev->walk_next_progress += ADOPT_PROGRESS_FILES;
	}
	pthread_mutex_lock(&ev->lock);
	ev->status.adoption_files = files;
	pthread_mutex_unlock(&ev->lock);
	if (err || more == 0)
		end_walk(ev, err, more < 0 ? where : NULL);
}

static void *writer_main(void *arg)
{
	struct events *ev = arg;
	struct queued_event *group = malloc(EVENT_GROUP_MAX * sizeof(*group));

	if (!group) {
		log_error("catalog writer: out of memory");
		return NULL;
	}
	for (;;) {
		size_t n = take_group(ev, group);
		bool stop, start;

		if (n)
			commit_group(ev, group, n);
		pthread_mutex_lock(&ev->lock);
		stop = ev->stopping && ev->count == 0;
		start = !ev->walk && !stop && (ev->adoption_requested ||
					       (adoption_is_due(ev) && !n));
		if (start) {
			ev->adoption_requested = false;
			ev->needs_adoption = false;
		}
		pthread_mutex_unlock(&ev->lock);
		if (stop)
			break;
		if (start)
			start_walk(ev);
		else if (ev->walk)
			walk_slice(ev);
		else if (ev->sizing_after_id >= 0)
			sizing_slice(ev);
	}
	if (ev->walk) {
		log_info("adoption: unfinished at unmount; it runs again at the next mount");
		adopt_walk_free(ev->walk);
		ev->walk = NULL;
	}
	free(group);
	return NULL;
}

int events_start(const char *catalog_path, const struct store *st, bool adopt,
		 struct events **out, char *error, size_t error_size)
{
	struct events *ev = calloc(1, sizeof(*ev));
	int err;

	if (!ev)
		return -ENOMEM;
	ev->ring = calloc(EVENT_QUEUE_CAPACITY, sizeof(*ev->ring));
	if (!ev->ring) {
		free(ev);
		return -ENOMEM;
	}
	err = catalog_open(catalog_path, true, &ev->cat, error, error_size);
	if (err) {
		free(ev->ring);
		free(ev);
		return err;
	}
	ev->store = st;
	ev->adoption_requested = adopt;
	ev->sizing_after_id = -1;
	ev->adoption_backoff_ms = RETRY_DELAY_MS;
	pthread_mutex_init(&ev->lock, NULL);
	pthread_cond_init(&ev->not_full, NULL);
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&ev->not_empty, &attr);
	pthread_cond_init(&ev->progress, &attr);
	pthread_condattr_destroy(&attr);
	err = -pthread_create(&ev->thread, NULL, writer_main, ev);
	if (err) {
		catalog_close(ev->cat);
		free(ev->ring);
		free(ev);
		snprintf(error, error_size, "cannot start the catalog writer: %s", strerror(-err));
		return err;
	}
	*out = ev;
	return 0;
}

void events_stop(struct events *ev)
{
	if (!ev)
		return;
	pthread_mutex_lock(&ev->lock);
	ev->stopping = true;
	pthread_cond_broadcast(&ev->not_empty);
	pthread_cond_broadcast(&ev->not_full);
	pthread_cond_broadcast(&ev->progress);
	pthread_mutex_unlock(&ev->lock);
	pthread_join(ev->thread, NULL);
	catalog_close(ev->cat);
	pthread_mutex_destroy(&ev->lock);
	pthread_cond_destroy(&ev->not_empty);
	pthread_cond_destroy(&ev->not_full);
	pthread_cond_destroy(&ev->progress);
	free(ev->ring);
	free(ev);
}
