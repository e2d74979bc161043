/*
 * policy: the rules, each a few lines, in the order they are applied.
 */
#include "policy.h"

#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

#include "refset.h"

static bool matches_any(char *const *globs, size_t count, const char *path)
{
	for (size_t i = 0; i < count; i++) {
		/* No FNM_PATHNAME: a trailing star covers whole subtrees. */
		if (fnmatch(globs[i], path, 0) == 0)
			return true;
	}
	return false;
}

static struct policy_judgement judge(enum policy_action action, const char *reason)
{
	return (struct policy_judgement){ .action = action, .reason = reason };
}

static struct policy_judgement judge_live(const struct policy_settings *settings,
					  int64_t now_ms, bool referenced,
					  const struct policy_file *file)
{
	if (referenced)
		return judge(POLICY_KEEP, "referenced");
	if (matches_any(settings->pins, settings->pin_count, file->path))
		return judge(POLICY_KEEP, "pinned");
	if (matches_any(settings->exclude, settings->exclude_count, file->path))
		return judge(POLICY_KEEP, "excluded");
	/* Promise 2: an upload whose transaction has not committed yet. */
	if (now_ms - file->activity_ms < settings->min_age_ms)
		return judge(POLICY_KEEP, "younger than min_age");
	return judge(POLICY_QUARANTINE, "unreferenced");
}

static struct policy_judgement judge_quarantined(const struct policy_settings *settings,
						 int64_t now_ms, bool referenced,
						 const struct policy_file *file)
{
	if (referenced)
		return judge(POLICY_RESTORE, "referenced-again");
	/* Promise 3: referenced at any scan since it went means not purged
	 * (a restore that conflicted leaves exactly that trace). */
	if (file->last_referenced_ms >= file->state_changed_ms)
		return judge(POLICY_KEEP, "referenced since quarantined");
	if (now_ms - file->state_changed_ms < settings->grace_ms)
		return judge(POLICY_KEEP, "within grace");
	return judge(POLICY_PURGE, "grace expired");
}

struct policy_judgement policy_judge_file(const struct policy_settings *settings,
					  int64_t now_ms, const struct refset *referenced,
					  const struct policy_file *file)
{
	return policy_judge_known(settings, now_ms,
				  refset_contains(referenced, file->path, strlen(file->path)),
				  file);
}

struct policy_judgement policy_judge_known(const struct policy_settings *settings,
					   int64_t now_ms, bool is_referenced,
					   const struct policy_file *file)
{
	switch (file->state) {
	case CATALOG_LIVE:
		return judge_live(settings, now_ms, is_referenced, file);
	case CATALOG_QUARANTINED:
		return judge_quarantined(settings, now_ms, is_referenced, file);
	case CATALOG_PURGED:
	case CATALOG_MISSING:
		break;
	}
	return judge(POLICY_KEEP, "not on disk");
}

enum policy_access_action policy_judge_access(const struct policy_access *access)
{
	/* Promise 9: what the application deleted stays deleted. */
	if (!access->quarantined_by_scan)
		return POLICY_ACCESS_REFUSE;
	/* Promise 8 converges: a crawler that keeps asking for an orphan
	 * brings it back once; then the request is an alarm (a column may
	 * be missing), and the orphan is purged after grace. */
	if (access->restore_on_access && !access->restored_by_access_before)
		return POLICY_ACCESS_RESTORE;
	return POLICY_ACCESS_ALARM;
}

void policy_decide_scan(const struct policy_settings *settings,
			const struct policy_source_outcome *sources, size_t source_count,
			const struct policy_scan_counts *counts, bool confirmed, bool dry_run,
			struct policy_decision *decision)
{
	memset(decision, 0, sizeof(*decision));
	decision->verdict = POLICY_PROCEED;

	/* Without a source every file looks unreferenced. */
	if (source_count == 0) {
		decision->verdict = POLICY_NO_SOURCES;
		snprintf(decision->reason, sizeof(decision->reason),
			 "no source is configured: only expired quarantined files are purged");
		decision->may_purge = !dry_run;
		return;
	}

	/* Promise 4: an error is never "no references". */
	for (size_t i = 0; i < source_count; i++) {
		if (sources[i].failed) {
			decision->verdict = POLICY_SOURCE_FAILED;
			snprintf(decision->reason, sizeof(decision->reason),
				 "source '%s' failed: nothing is moved", sources[i].name);
			return;
		}
	}
	/* Promise 5: an emptied table looks like "everything is an orphan". */
	for (size_t i = 0; i < source_count && counts->live > 0; i++) {
		if (sources[i].references == 0) {
			decision->verdict = POLICY_HOLD_EMPTY_SOURCE;
			snprintf(decision->reason, sizeof(decision->reason),
				 "source '%s' returned no reference while %llu files are live",
				 sources[i].name, (unsigned long long)counts->live);
			break;
		}
	}
	/* A wrong column or prefix makes (nearly) every file a candidate:
	 * a large share of a large store, or all of a small one.  A few
	 * orphans of a small store are neither. */
	if (decision->verdict == POLICY_PROCEED && counts->candidates > 0 &&
	    (double)counts->candidates > settings->max_fraction * (double)counts->live &&
	    (counts->candidates > settings->hold_min_files ||
	     counts->candidates >= counts->live)) {
		decision->verdict = POLICY_HOLD_FRACTION;
		snprintf(decision->reason, sizeof(decision->reason),
			 "%llu of %llu live files (%.1f%%) would be quarantined, more than "
			 "max_fraction %.1f%%", (unsigned long long)counts->candidates,
			 (unsigned long long)counts->live,
			 100.0 * (double)counts->candidates / (double)counts->live,
			 100.0 * settings->max_fraction);
	}
	if (confirmed && decision->verdict != POLICY_PROCEED) {
		snprintf(decision->reason, sizeof(decision->reason), "confirmed by an admin");
		decision->verdict = POLICY_PROCEED;
	}
	if (dry_run)
		return;
	/* Bringing a file back is always safe; moving or deleting is not. */
	decision->may_restore = true;
	decision->may_quarantine = decision->verdict == POLICY_PROCEED;
	decision->may_purge = decision->verdict == POLICY_PROCEED;
}

const char *policy_action_name(enum policy_action action)
{
	static const char *const names[] = {
		[POLICY_KEEP] = "keep",
		[POLICY_QUARANTINE] = "quarantine",
		[POLICY_RESTORE] = "restore",
		[POLICY_PURGE] = "purge",
	};
	return names[action];
}

const char *policy_verdict_name(enum policy_verdict verdict)
{
	static const char *const names[] = {
		[POLICY_PROCEED] = "proceed",
		[POLICY_HOLD_FRACTION] = "held: too many candidates",
		[POLICY_HOLD_EMPTY_SOURCE] = "held: a source returned nothing",
		[POLICY_SOURCE_FAILED] = "source failed",
		[POLICY_NO_SOURCES] = "no sources",
	};
	return names[verdict];
}

struct policy_file policy_file_of_row(const struct catalog_row *row)
{
	return (struct policy_file){
		.path = row->path,
		.state = row->state,
		.activity_ms = row->activity_ms,
		.state_changed_ms = row->state_changed_ms,
		.last_referenced_ms = row->last_referenced_ms,
	};
}
