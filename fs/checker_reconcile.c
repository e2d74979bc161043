/*
 * checker_reconcile: the quarantine and the catalog agree again at
 * startup, after adoption and before the first scan (promise 6).
 *
 * A crash can come between a move and its record, or between a record
 * and the next move.  Every name in the quarantine that no row holds is
 * recorded (or, when the file is still at its path, the extra name made
 * before a replacing rename is removed); every row that says quarantined
 * while its file is not there follows the file: restored when it is back
 * at its path, purged ("missing from the quarantine") otherwise.
 *
 * File map: names in the quarantine (and checker_recover_quarantined());
 * rows in the catalog, and checker_reconcile_quarantine().
 */
#include "checker_i.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "clock.h"
#include "log.h"
#include "quarantine.h"
#include "safekeep.h"
#include "store.h"

/* ------------------------------------------------------------------ */
/* Names in the quarantine                                              */
/* ------------------------------------------------------------------ */

int checker_recover_quarantined(struct checker *checker, const char *path, const char *qname,
				const struct stat *st, int64_t now_ms, const char *reason)
{
	struct catalog_found found = {
		.path = path,
		.kind = S_ISLNK(st->st_mode) ? CATALOG_SYMLINK : CATALOG_FILE,
		.dev = st->st_dev,
		.ino = st->st_ino,
		.size = st->st_size,
		.mtime_ms = clock_ms_of(&st->st_mtim),
	};

	return catalog_recover_quarantined(checker->cat, path, qname, &found, now_ms, reason);
}

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

	if (err) {
		/* Left as it is: the next start looks again. */
		log_write_limited(&checker->warning, LOG_REPEAT_INTERVAL_MS, LOG_LEVEL_ERROR,
				  "quarantine: cannot look up '%s' in the catalog: %s", qname,
				  catalog_last_error(checker->cat));
		return 0;
	}
	if (id)
		return 0;
	/* Linked before a replacing rename that never happened: the file is
	 * still at its path, so the extra name goes. */
	if (store_stat_beneath(&fs->store, path, &live) == 0 && live.st_ino == st->st_ino &&
	    live.st_dev == st->st_dev) {
		err = quarantine_unlink_name(&fs->quarantine, qname);
		if (err)
			log_error("quarantine: cannot remove the extra name '%s' of '%s': %s",
				  qname, path, strerror(-err));
		else
			r->duplicates++;
		return 0;
	}
	err = checker_recover_quarantined(checker, path, qname, st, clock_now_ms(),
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

/* ------------------------------------------------------------------ */
/* Rows in the catalog                                                  */
/* ------------------------------------------------------------------ */

/* Rows that say "quarantined" while their file is not there. */
static int collect_quarantined_row(void *ctx, const struct catalog_scan_row *row)
{
	struct candidates *list = ctx;

	return checker_push_candidate(list, row->id, row->ino, row->path, row->quarantine_name,
				      (struct policy_judgement){ POLICY_KEEP, "" });
}

void checker_reconcile_quarantine(struct checker *checker)
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
	checker_free_candidates(&rows);
	if (r.recovered || r.duplicates || restored || gone)
		log_info("quarantine: %llu files recorded again, %llu duplicate names removed, "
			 "%llu restored before a crash, %llu gone", (unsigned long long)r.recovered,
			 (unsigned long long)r.duplicates, (unsigned long long)restored,
			 (unsigned long long)gone);
}
