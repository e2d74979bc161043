/*
 * checker_i.h: what the files of the checker share.  Not a public
 * interface: the daemon and the control socket use checker.h.
 *
 *   checker.c            the thread, its requests, and the scan sequence
 *                        (gather, decide, act, record)
 *   checker_gather.c     gathering and judging: the catalog's rows and the
 *                        sources' references become candidates, through
 *                        refdb/policy.h
 *   checker_act.c        acting on candidates: the confirmation, moves into
 *                        and out of the quarantine, purges, emptied
 *                        directories
 *   checker_reconcile.c  the quarantine and the catalog agree again at
 *                        startup
 *
 * Every function here runs on the checker thread (or, for the unit tests,
 * on the one thread that owns a checker made by checker_create()).
 */
#ifndef MEDIAFS_CHECKER_I_H
#define MEDIAFS_CHECKER_I_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "catalog.h"
#include "checker.h"
#include "config.h"
#include "log.h"
#include "mediafs.h"
#include "policy.h"
#include "refmatch.h"

struct refset;
struct source;

/* Room for one source's or one step's message. */
enum { CHECKER_ERROR_BYTES = 1024 };

enum checker_request_kind {
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
	enum checker_request_kind request;	/* guarded by lock */
	int64_t request_scan_id;		/* guarded by lock */
	uint64_t requested, finished;		/* guarded by lock */
	int request_result;			/* guarded by lock */
	struct catalog_scan request_scan;	/* guarded by lock */
	struct checker_status status;		/* guarded by lock */
	/* The scan's progress, written by the checker thread alone and read
	 * by checker_get_status() without the lock. */
	atomic_int progress_phase;
	atomic_uint_fast64_t progress_done, progress_total;
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

/* One file to quarantine, restore or purge, with the policy's reason. */
struct candidate {
	int64_t id;
	ino_t ino;
	char *path;
	char *quarantine_name;	/* restores and purges */
	enum policy_action action;
	const char *reason;	/* static, from policy.h */
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

/* Everything one scan gathers, decides and does. */
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
	size_t held_count, held_capacity;
	char **emptied_dirs;		/* parents of moved files */
	size_t emptied_count, emptied_capacity;
	/* Moves, restores and purges that failed, or were done on disk but
	 * not recorded in the catalog: none of them counts as done. */
	int errors;
	/* What the sources said when a fetch or the confirmation failed. */
	char source_errors[sizeof(((struct checker_status *)0)->source_errors)];
};

/* ---- checker.c ---- */

/*
 * Everything checker_start() sets up but the sources' connections and the
 * thread: the copy of cfg and the checker's own catalog connection.  For
 * checker_start(), and for unit tests that drive scans on their own
 * thread.  Returns 0 or -errno with a message in error.
 */
int checker_create(struct mediafs *fs, const struct config *cfg, const char *catalog_path,
		   struct checker **out, char *error, size_t error_size);

/* Close the sources and the catalog and free checker (no thread runs). */
void checker_free(struct checker *checker);

/*
 * One scan: gather, decide, act, record; trigger is startup, interval,
 * manual or confirm.  With confirmed_scan_id only that held scan's
 * candidates may move.  A query is a dry run that records nothing (no scan
 * number, no candidates kept, no line at info): its candidates' ids go to
 * checker->query_ids.  *out (may be NULL) receives the scan's record.
 */
void checker_run_scan(struct checker *checker, const char *trigger, bool dry_run,
		      int64_t confirmed_scan_id, bool query, struct catalog_scan *out);

/* Connect source i unless it is connected; 0 or -errno with a message. */
int checker_connect_source(struct checker *checker, size_t i, char *error, size_t size);

/* Show a failed source in the status until a scan succeeds again. */
void checker_publish_source_errors(struct checker *checker, const char *errors);

/* ---- checker_gather.c ---- */

/*
 * Gather and judge: fetch every source (on another thread) while the live
 * rows are read from the catalog, judge every live and quarantined row,
 * and leave in work->quarantine and work->others what policy says to do,
 * with work->counts.  A source that failed leaves its message in
 * work->source_errors and no candidate.  Returns 0 or -errno (the catalog
 * could not be read, or work->unresolved: the references could not be
 * resolved in BACKING); outcomes receives one entry per source.
 */
int checker_gather(struct scan_work *work, struct policy_source_outcome *outcomes,
		   int64_t confirmed_scan_id);

/* Append one candidate (path and quarantine_name are copied).  0 or -ENOMEM. */
int checker_push_candidate(struct candidates *list, int64_t id, ino_t ino, const char *path,
			   const char *quarantine_name, struct policy_judgement judgement);
void checker_free_candidates(struct candidates *list);

/* Free what a scan gathered; work itself is the caller's. */
void checker_free_work(struct scan_work *work);

/* ---- checker_act.c ---- */

/*
 * Restore, quarantine and purge as decision allows.  Returns 0, or -errno
 * when the confirmation failed: then nothing was moved or purged, and the
 * scan has failed as if its first fetch had.  What moved is counted in
 * work->record; what failed, or moved without its catalog record, in
 * work->errors.
 */
int checker_act(struct scan_work *work, const struct policy_decision *decision);

/* ---- checker_reconcile.c ---- */

/*
 * Make the quarantine and the catalog agree after a crash: files in the
 * quarantine that no row describes are recorded, extra names of files
 * still in place removed, and rows whose file left the quarantine follow
 * it (restored, or gone).  Logs what it changed and what it could not.
 */
void checker_reconcile_quarantine(struct checker *checker);

/*
 * Record the file st, found in the quarantine as qname, as quarantined
 * from path: catalog_recover_quarantined() with what st says of it.
 */
int checker_recover_quarantined(struct checker *checker, const char *path, const char *qname,
				const struct stat *st, int64_t now_ms, const char *reason);

/* Say how far the scan is: phase, with total files to act on (0: the
 * reading phase) and none done yet; checker_progress_step() counts one. */
static inline void checker_progress_set(struct checker *checker, enum checker_phase phase,
					uint64_t total)
{
	atomic_store_explicit(&checker->progress_done, 0, memory_order_relaxed);
	atomic_store_explicit(&checker->progress_total, total, memory_order_relaxed);
	atomic_store_explicit(&checker->progress_phase, (int)phase, memory_order_release);
}

static inline void checker_progress_step(struct checker *checker)
{
	atomic_fetch_add_explicit(&checker->progress_done, 1, memory_order_relaxed);
}

#endif
