/*
 * checker: the reference-checker thread of the daemon.
 *
 * It runs the fixed sequence around the pure decisions of refdb/policy.h:
 * gather (flush the event queue, fetch the referenced set from every
 * source, stream the catalog), decide (policy_judge_file for each file,
 * policy_decide_scan for the scan), confirm (fetch again and drop every
 * candidate now referenced), act (one rename per file into or out of the
 * quarantine, deletes past grace, empty directories), and record (catalog
 * state, audit, scan row, log).  It also reconciles the quarantine with the
 * catalog at startup, after adoption.
 *
 * Scans run at startup, every interval, and on demand; a held scan waits
 * in the catalog until an admin confirms or rejects it.
 *
 * Threads: checker_start() and checker_stop() from the main thread; the
 * control functions from any thread (they wait for the checker thread).
 */
#ifndef MEDIAFS_CHECKER_H
#define MEDIAFS_CHECKER_H

#include <stdbool.h>
#include <stdint.h>

#include "catalog.h"
#include "config.h"
#include "mediafs.h"

struct checker;

/* How far the scan in progress is (mediactl scan shows it). */
enum checker_phase {
	CHECKER_PHASE_NONE,
	CHECKER_PHASE_READING,	/* the references, the catalog, the judging */
	CHECKER_PHASE_RESTORING,
	CHECKER_PHASE_MOVING,	/* into the quarantine */
	CHECKER_PHASE_PURGING,
};

/* "reading", "restoring", "moving", "purging", or "" for none. */
const char *checker_phase_name(enum checker_phase phase);

struct checker_status {
	bool scanning;
	enum checker_phase phase;	/* while scanning */
	uint64_t phase_done, phase_total; /* files, in the acting phases */
	int64_t next_scan_ms;		/* wall clock; 0 when none is planned */
	struct catalog_scan last;	/* last finished scan; id 0 when none */
	bool held;			/* a scan waits for an admin */
	struct catalog_scan held_scan;
	char source_errors[512];	/* from the last scan, "" when healthy */
};

/*
 * Start the checker for fs with the settings and sources of cfg (copied).
 * Returns 0 or -errno with a message in error.
 */
int checker_start(struct mediafs *fs, const struct config *cfg, const char *catalog_path,
		  struct checker **out, char *error, size_t error_size);

/* Finish the scan in progress (if any) and stop. */
void checker_stop(struct checker *checker);

/*
 * Run a scan now (dry_run: report only) and wait up to timeout_ms for it;
 * *result receives its record.  Returns 0, -ETIMEDOUT or -ESHUTDOWN.
 */
int checker_scan_now(struct checker *checker, bool dry_run, int64_t timeout_ms,
		     struct catalog_scan *result);

/*
 * Confirm (run the held scan's confirmed candidates now) or reject a held
 * scan, and wait for the result.  Returns 0, -ENOENT when scan_id is not
 * held, -ETIMEDOUT or -ESHUTDOWN.
 */
int checker_decide(struct checker *checker, int64_t scan_id, bool confirm,
		   int64_t timeout_ms, struct catalog_scan *result);

/*
 * The live files that no source references and that are old enough, as a
 * scan would find them, without a scan: nothing is recorded (no scan
 * number, no line at info).  *ids (freed by the caller) and *count receive
 * their catalog ids; *result the counts (status failed when a source
 * failed, then *ids is NULL).  Returns 0, -ETIMEDOUT, -ESHUTDOWN or
 * -ENOMEM.
 */
int checker_list_unreferenced(struct checker *checker, int64_t timeout_ms, int64_t **ids,
			      size_t *count, struct catalog_scan *result);

/*
 * Take new settings and sources (cfg is copied) for the next scans, after
 * the scan in progress.  Returns 0 once the checker thread applied them,
 * -ETIMEDOUT when it was busy for timeout_ms (they apply when it is free),
 * -ESHUTDOWN or -ENOMEM.
 */
int checker_reload(struct checker *checker, const struct config *cfg, int64_t timeout_ms);

void checker_get_status(struct checker *checker, struct checker_status *status);

/* References the last successful fetch of source i (config order) gave. */
uint64_t checker_source_references(struct checker *checker, size_t i);

#endif
