/*
 * checker: the thread, its requests, and the sequence of one scan.
 *
 * The thread waits for adoption, reconciles the quarantine
 * (checker_reconcile.c), scans at startup and every interval, and serves
 * the requests that the control socket and the reload thread hand it
 * (a scan now, a dry run, confirm or reject a held scan, a query of the
 * unreferenced files, new settings).  One scan is the fixed sequence
 * gather and judge (checker_gather.c), decide (policy_decide_scan()), act
 * (checker_act.c) and record (the scan's row, the log, the metrics file).
 *
 * File map: the sources; the scan sequence; the thread and its requests;
 * start and stop.  checker_i.h lists the other files.
 *
 * Lock order: checker->lock is taken alone.
 */
#include "checker_i.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin.h"
#include "clock.h"
#include "ctl.h"
#include "events.h"
#include "log.h"
#include "metrics.h"
#include "source.h"

enum { ADOPTION_POLL_MS = 1000 };

/* ------------------------------------------------------------------ */
/* The sources                                                          */
/* ------------------------------------------------------------------ */

int checker_connect_source(struct checker *checker, size_t i, char *error, size_t size)
{
	if (checker->sources[i])
		return 0;
	return source_open(&checker->config.sources[i], &checker->sources[i], error, size);
}

/* Connect every source; one that cannot be reached fails the next scans. */
static void connect_sources(struct checker *checker)
{
	for (size_t i = 0; i < checker->config.source_count; i++) {
		char message[CHECKER_ERROR_BYTES];
		if (checker_connect_source(checker, i, message, sizeof(message)) != 0)
			log_error("%s; scans move nothing until it answers", message);
	}
}

void checker_publish_source_errors(struct checker *checker, const char *errors)
{
	pthread_mutex_lock(&checker->lock);
	snprintf(checker->status.source_errors, sizeof(checker->status.source_errors), "%s",
		 errors);
	pthread_mutex_unlock(&checker->lock);
}

/* ------------------------------------------------------------------ */
/* The scan sequence                                                    */
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
			 work->errors ? "some files could not be moved or recorded (see the log)" :
					"");
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

void checker_run_scan(struct checker *checker, const char *trigger, bool dry_run,
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
	checker_progress_set(checker, CHECKER_PHASE_READING, 0);
	err = checker_gather(&work, outcomes, confirmed_scan_id);
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
	if (!err && checker_act(&work, &decision) != 0) {
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
	checker_progress_set(checker, CHECKER_PHASE_NONE, 0);
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
	checker_free_work(&work);
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
		checker_run_scan(checker, "confirm", false, scan_id, false, out);
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
	int err = catalog_scan_get_held(checker->cat, &held);
	bool is_held = err == 0;

	/* The status says "none held" until the catalog answers again. */
	if (err && err != -ENOENT)
		log_write_limited(&checker->warning, LOG_REPEAT_INTERVAL_MS, LOG_LEVEL_ERROR,
				  "cannot read the held scan from the catalog: %s",
				  catalog_last_error(checker->cat));

	pthread_mutex_lock(&checker->lock);
	checker->status.held = is_held;
	if (is_held)
		checker->status.held_scan = held;
	pthread_mutex_unlock(&checker->lock);
}

/* Wait for a request or the next interval.  Returns false to stop. */
static bool wait_for_work(struct checker *checker, int64_t due_ms, enum checker_request_kind *kind,
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
	connect_sources(checker);
	return 0;
}

static void *checker_main(void *arg)
{
	struct checker *checker = arg;
	int64_t due;

	if (!wait_for_adoption(checker))
		return NULL;
	checker_reconcile_quarantine(checker);
	refresh_held(checker);
	checker_run_scan(checker, "startup", false, 0, false, NULL);
	refresh_held(checker);
	due = clock_monotonic_ms() + checker->config.settings.interval_ms;
	for (;;) {
		struct catalog_scan scan = { 0 };
		enum checker_request_kind kind;
		int64_t scan_id;
		int result = 0;

		if (!wait_for_work(checker, due, &kind, &scan_id))
			break;
		switch (kind) {
		case REQUEST_NONE:
			checker_run_scan(checker, "interval", false, 0, false, &scan);
			due = clock_monotonic_ms() + checker->config.settings.interval_ms;
			break;
		case REQUEST_QUERY:
			checker_run_scan(checker, "query", true, 0, true, &scan);
			break;
		case REQUEST_RELOAD:
			result = apply_reload(checker);
			/* A changed interval counts from now. */
			due = clock_monotonic_ms() + checker->config.settings.interval_ms;
			break;
		case REQUEST_SCAN:
		case REQUEST_DRY_RUN:
			checker_run_scan(checker, "manual", kind == REQUEST_DRY_RUN, 0, false, &scan);
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

static int request(struct checker *checker, enum checker_request_kind kind, int64_t scan_id,
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
	checker->pending_config = copy;
	pthread_mutex_unlock(&checker->lock);
	return request(checker, REQUEST_RELOAD, 0, timeout_ms, NULL);
}

const char *checker_phase_name(enum checker_phase phase)
{
	switch (phase) {
	case CHECKER_PHASE_READING:
		return "reading";
	case CHECKER_PHASE_RESTORING:
		return "restoring";
	case CHECKER_PHASE_MOVING:
		return "moving";
	case CHECKER_PHASE_PURGING:
		return "purging";
	case CHECKER_PHASE_NONE:
		break;
	}
	return "";
}

void checker_get_status(struct checker *checker, struct checker_status *status)
{
	pthread_mutex_lock(&checker->lock);
	*status = checker->status;
	pthread_mutex_unlock(&checker->lock);
	status->phase = status->scanning ?
		(enum checker_phase)atomic_load_explicit(&checker->progress_phase,
							 memory_order_acquire) :
		CHECKER_PHASE_NONE;
	status->phase_done = atomic_load_explicit(&checker->progress_done, memory_order_relaxed);
	status->phase_total = atomic_load_explicit(&checker->progress_total, memory_order_relaxed);
}

/* ------------------------------------------------------------------ */
/* Start and stop                                                       */
/* ------------------------------------------------------------------ */

/* The lock and the two conditions, which wait on the monotonic clock. */
static int init_sync(struct checker *checker)
{
	pthread_condattr_t attr;
	int err = pthread_condattr_init(&attr);

	if (err)
		return -err;
	err = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (err)
		goto out_attr;
	err = pthread_mutex_init(&checker->lock, NULL);
	if (err)
		goto out_attr;
	err = pthread_cond_init(&checker->wake, &attr);
	if (err)
		goto out_lock;
	err = pthread_cond_init(&checker->done, &attr);
	if (!err)
		goto out_attr;
	pthread_cond_destroy(&checker->wake);
out_lock:
	pthread_mutex_destroy(&checker->lock);
out_attr:
	pthread_condattr_destroy(&attr);
	return -err;
}

void checker_free(struct checker *checker)
{
	for (size_t i = 0; checker->sources && i < checker->config.source_count; i++)
		source_close(checker->sources[i]);
	free(checker->sources);
	free(checker->source_references);
	free(checker->query_ids);
	catalog_close(checker->cat);
	config_free(&checker->config);
	config_free(&checker->pending_config);
	free(checker->catalog_path);
	pthread_mutex_destroy(&checker->lock);
	pthread_cond_destroy(&checker->wake);
	pthread_cond_destroy(&checker->done);
	free(checker);
}

int checker_create(struct mediafs *fs, const struct config *cfg, const char *catalog_path,
		   struct checker **out, char *error, size_t error_size)
{
	struct checker *checker = calloc(1, sizeof(*checker));
	int err = checker ? init_sync(checker) : -ENOMEM;

	if (err) {
		snprintf(error, error_size, "cannot set up the checker: %s", strerror(-err));
		free(checker);
		return err;
	}
	checker->fs = fs;
	err = config_copy(&checker->config, cfg);
	checker->catalog_path = strdup(catalog_path);
	checker->sources = calloc(cfg->source_count + 1, sizeof(*checker->sources));
	checker->source_references = calloc(cfg->source_count + 1,
					    sizeof(*checker->source_references));
	if (err || !checker->catalog_path || !checker->sources || !checker->source_references) {
		snprintf(error, error_size, "out of memory");
		checker_free(checker);
		return -ENOMEM;
	}
	err = catalog_open(catalog_path, false, &checker->cat, error, error_size);
	if (err) {
		checker_free(checker);
		return err;
	}
	/* mediactl --backing reads the same file when the daemon is stopped. */
	if (catalog_meta_set(checker->cat, CATALOG_META_CONFIG_PATH, cfg->path ? cfg->path : "") != 0)
		log_warn("cannot record the configuration file in the catalog: %s",
			 catalog_last_error(checker->cat));
	*out = checker;
	return 0;
}

int checker_start(struct mediafs *fs, const struct config *cfg, const char *catalog_path,
		  struct checker **out, char *error, size_t error_size)
{
	struct checker *checker;
	int err = checker_create(fs, cfg, catalog_path, &checker, error, error_size);

	if (err)
		return err;
	/* A source that cannot be reached now is retried at every scan;
	 * those scans fail and move nothing. */
	connect_sources(checker);
	/* Published before the thread starts: the status that the thread
	 * writes into the metrics file reads it. */
	*out = checker;
	err = -pthread_create(&checker->thread, NULL, checker_main, checker);
	if (err) {
		snprintf(error, error_size, "cannot start the checker: %s", strerror(-err));
		*out = NULL;
		checker_free(checker);
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
	checker_free(checker);
}
