/*
 * checker_act: acting on a scan's candidates, the second half of a scan.
 *
 * Right before the first move, every source is read again and each
 * candidate that a value now keeps (exactly, through a link or under
 * another spelling) is dropped; a source that fails then stops the whole
 * scan.  Each move is one rename into the quarantine, through the inode
 * gate (no file open for writing moves), after the file's inode and age
 * on disk are checked again; restores are one rename back, purges one
 * unlink.  Directories the moves emptied go last, deepest first.  What is
 * done on disk is recorded in the catalog; a move or purge whose record
 * fails is logged and counted in work->errors, not as done.
 *
 * File map: the confirmation; one file (quarantine, restore, purge);
 * emptied directories; checker_act().
 *
 * Lock order: fs->dir_lock is taken (for writing) only around the removal
 * of one empty directory; the inode gate only around one rename or unlink.
 */
#include "checker_i.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "grow.h"
#include "log.h"
#include "mount_hooks.h"
#include "refset.h"
#include "respell.h"
#include "safekeep.h"
#include "source.h"
#include "termesc.h"

enum { FIRST_EMPTIED_DIRS = 64 };

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
	char error[CHECKER_ERROR_BYTES] = "out of memory";
	char shown[TERMESC_BYTES(256)];
	size_t kept = 0;
	int err = conf.candidates && conf.now_referenced && conf.others ? 0 : -ENOMEM;

	for (size_t i = 0; !err && i < work->quarantine.count; i++)
		err = refset_add(conf.candidates, work->quarantine.items[i].path,
				 strlen(work->quarantine.items[i].path));
	for (size_t i = 0; !err && i < checker->config.source_count; i++) {
		struct source_report report;
		err = checker_connect_source(checker, i, error, sizeof(error));
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
		checker_publish_source_errors(checker, work->source_errors);
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
/* One file: quarantine, restore, purge                                 */
/* ------------------------------------------------------------------ */

/*
 * Note path's directory for remove_emptied_dirs().  Best effort: out of
 * memory, a directory the moves emptied stays, which is harmless.
 */
static void remember_parent(struct scan_work *work, const char *path)
{
	const char *slash = strrchr(path, '/');
	char **dirs;
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
	dirs = grow_array(work->emptied_dirs, &work->emptied_capacity, work->emptied_count + 1,
			  sizeof(*dirs), FIRST_EMPTIED_DIRS);
	if (!dirs) {
		free(dir);
		return;
	}
	work->emptied_dirs = dirs;
	dirs[work->emptied_count++] = dir;
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
 * After a change made on disk: true when its catalog record (err) went
 * through; otherwise the change is counted as failed, not as done, and
 * said once.  The next start's reconcile makes the catalog follow the
 * disk.
 */
static bool is_recorded(struct scan_work *work, int err, const char *path, const char *done)
{
	if (!err)
		return true;
	work->errors++;
	log_error("scan %lld: '%s' %s but not recorded: %s; the next start reconciles it",
		  (long long)work->record.id, path, done, catalog_last_error(work->checker->cat));
	return false;
}

/*
 * Record c, just moved to qname, as quarantined.  The catalog writer works
 * beside the checker: a file created at the path right after the move may
 * have taken c's row over already.  Then the row stays with the new file
 * and the moved one gets a row of its own.  Returns 0 or -errno.
 */
static int record_quarantined(struct scan_work *work, const struct candidate *c,
			      const char *qname, int64_t now)
{
	struct checker *checker = work->checker;
	struct stat st;
	int err = catalog_set_quarantined(checker->cat, c->id, c->ino, now, c->reason, qname,
					  work->record.id);

	if (err == -ENOENT && quarantine_stat(&checker->fs->quarantine, qname, &st) == 0)
		err = checker_recover_quarantined(checker, c->path, qname, &st, now, c->reason);
	return err;
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
	/* Moved: whether recorded or not, the mount must see it gone. */
	err = record_quarantined(work, c, qname, now);
	safekeep_index_add(fs, c->path, qname);
	mount_hooks_invalidate_name(fs, c->path);
	remember_parent(work, c->path);
	if (!is_recorded(work, err, c->path, "moved to the quarantine"))
		return;
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
	safekeep_index_remove(fs, c->path, c->quarantine_name);
	mount_hooks_invalidate_path(fs, c->path);
	if (!is_recorded(work, err, c->path, "restored"))
		return;
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
	/* Gone from the disk: the index forgets it, recorded or not. */
	err = catalog_set_purged(checker->cat, c->id, clock_now_ms(), c->reason);
	safekeep_index_remove(fs, c->path, c->quarantine_name);
	if (!is_recorded(work, err, c->quarantine_name, "purged"))
		return;
	work->record.purged++;
}

/* ------------------------------------------------------------------ */
/* Emptied directories                                                  */
/* ------------------------------------------------------------------ */

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
/* checker_act()                                                        */
/* ------------------------------------------------------------------ */

/* How many candidates of list have action. */
static uint64_t count_action(const struct candidates *list, enum policy_action action)
{
	uint64_t n = 0;

	for (size_t i = 0; i < list->count; i++)
		n += list->items[i].action == action;
	return n;
}

int checker_act(struct scan_work *work, const struct policy_decision *decision)
{
	char scan_qid[QUARANTINE_ID_BYTES];
	int err;

	snprintf(scan_qid, sizeof(scan_qid), "s%lld", (long long)work->record.id);
	checker_progress_set(work->checker, CHECKER_PHASE_RESTORING, decision->may_restore ?
			     count_action(&work->others, POLICY_RESTORE) : 0);
	for (size_t i = 0; decision->may_restore && i < work->others.count; i++)
		if (work->others.items[i].action == POLICY_RESTORE) {
			restore_one(work, &work->others.items[i]);
			checker_progress_step(work->checker);
		}
	if (decision->may_quarantine && work->quarantine.count > 0) {
		err = confirm_candidates(work);
		if (err)
			return err;
		checker_progress_set(work->checker, CHECKER_PHASE_MOVING, work->quarantine.count);
		for (size_t i = 0; i < work->quarantine.count; i++) {
			quarantine_one(work, &work->quarantine.items[i], scan_qid);
			checker_progress_step(work->checker);
		}
		remove_emptied_dirs(work);
	}
	checker_progress_set(work->checker, CHECKER_PHASE_PURGING, decision->may_purge ?
			     count_action(&work->others, POLICY_PURGE) : 0);
	for (size_t i = 0; decision->may_purge && i < work->others.count; i++)
		if (work->others.items[i].action == POLICY_PURGE) {
			purge_one(work, &work->others.items[i]);
			checker_progress_step(work->checker);
		}
	return 0;
}
