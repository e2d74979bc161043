/*
 * policy: the checker's decisions, as pure functions over data.
 *
 * Given a file's catalog facts, the set of referenced paths, the settings
 * and "now", policy_judge_file() says what to do with it; given what a
 * whole scan found, policy_decide_scan() says which kinds of action may go
 * ahead.  Nothing here does I/O, reads a clock, logs or keeps state: the
 * promises of DESIGN.md that concern decisions are kept here, and the
 * unit tests hold them without a mount or a database.
 *
 * Promises kept here:
 *   1. a referenced file is never a candidate;
 *   2. a file changed less than min_age ago is never a candidate;
 *   3. only a quarantined file older than grace, and not referenced since
 *      it was quarantined, is purged;
 *   4. a scan in which any source failed does nothing;
 *   5. a scan that would quarantine more than max_fraction of the live
 *      files (and more than hold_min_files of them, or every one), or in
 *      which a source returned no reference while files are tracked,
 *      quarantines and purges nothing until an admin confirms;
 *   8. a quarantined file found referenced again is restored; a lookup
 *      restores a file the checker quarantined at most once, and never
 *      one deleted through the mount (9);
 * and without any source configured nothing is ever quarantined.
 *
 * Threads: any; no state.
 */
#ifndef MEDIAFS_POLICY_H
#define MEDIAFS_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "catalog.h"

struct refset;

struct policy_settings {
	int64_t min_age_ms;
	int64_t grace_ms;
	double max_fraction;
	uint64_t hold_min_files;	/* max_fraction holds only above this many */
	char *const *exclude;		/* globs; a star matches across slashes */
	size_t exclude_count;
	char *const *pins;		/* globs, as exclude */
	size_t pin_count;
};

/* What a scan knows about one tracked file. */
struct policy_file {
	const char *path;
	enum catalog_state state;	/* only LIVE and QUARANTINED are judged */
	int64_t activity_ms;		/* last create, write, rename or link */
	int64_t state_changed_ms;	/* for a quarantined file: when it went */
	int64_t last_referenced_ms;	/* last scan that found it referenced; 0 */
};

enum policy_action {
	POLICY_KEEP,		/* leave it where it is */
	POLICY_QUARANTINE,	/* live, unreferenced, old enough */
	POLICY_RESTORE,		/* quarantined and referenced again */
	POLICY_PURGE,		/* quarantined past grace, never referenced since */
};

struct policy_judgement {
	enum policy_action action;
	const char *reason;	/* a static string, for the audit log */
};

/* What to do with one file. */
struct policy_judgement policy_judge_file(const struct policy_settings *settings,
					  int64_t now_ms, const struct refset *referenced,
					  const struct policy_file *file);

/*
 * Restore on access (promises 8 and 9): what a lookup of a missing path
 * does with the path's newest quarantined version.
 */
struct policy_access {
	bool quarantined_by_scan;	/* the checker moved it; else deleted through the mount */
	bool restored_by_access_before;	/* a lookup brought this file back once already */
	bool restore_on_access;		/* the setting */
};

enum policy_access_action {
	POLICY_ACCESS_REFUSE,	/* deleted through the mount: only an admin restores it */
	POLICY_ACCESS_RESTORE,	/* bring it back (once per file) */
	POLICY_ACCESS_ALARM,	/* stays quarantined; the request is counted and shown */
};

enum policy_access_action policy_judge_access(const struct policy_access *access);

/*
 * policy_judge_file(), when the caller already knows whether the file is referenced
 * (the checker, which also looked through links and other spellings).
 */
struct policy_judgement policy_judge_known(const struct policy_settings *settings,
					   int64_t now_ms, bool referenced,
					   const struct policy_file *file);

/* What policy judges of a catalog row; path is borrowed from row. */
struct policy_file policy_file_of_row(const struct catalog_row *row);

/* What one source returned in a scan. */
struct policy_source_outcome {
	const char *name;
	bool failed;
	uint64_t references;	/* usable paths it returned */
};

struct policy_scan_counts {
	uint64_t live;		/* live files judged */
	uint64_t candidates;	/* of those, to quarantine */
};

enum policy_verdict {
	POLICY_PROCEED,
	POLICY_HOLD_FRACTION,		/* too many candidates */
	POLICY_HOLD_EMPTY_SOURCE,	/* a source returned nothing */
	POLICY_SOURCE_FAILED,		/* a source failed: do nothing */
	POLICY_NO_SOURCES,		/* nothing configured: purge only */
};

struct policy_decision {
	enum policy_verdict verdict;
	bool may_quarantine;
	bool may_restore;
	bool may_purge;
	char reason[256];	/* for the log and the status */
};

/*
 * Which actions a scan may carry out.  confirmed: an admin confirmed this
 * (held) scan; dry_run: report only.
 */
void policy_decide_scan(const struct policy_settings *settings,
			const struct policy_source_outcome *sources, size_t source_count,
			const struct policy_scan_counts *counts, bool confirmed, bool dry_run,
			struct policy_decision *decision);

const char *policy_action_name(enum policy_action action);
const char *policy_verdict_name(enum policy_verdict verdict);

#endif
