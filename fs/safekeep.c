/*
 * safekeep: the decisions are the temporary-file rule; the actions are one
 * rename (unlink), one link (replace) or one rename back (access).
 */
#include "safekeep.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "pathmap.h"
#include "store.h"
#include "track.h"

enum { WARN_INTERVAL_MS = 60000 };

/* Count path's ancestors (delta +1 or -1) in the directory index. */
static void count_directories(struct mediafs *fs, const char *path, int delta)
{
	char dir[PATH_MAX];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	while ((slash = strrchr(dir, '/')) != NULL) {
		*slash = '\0';
		pathmap_count_add(fs->quarantined_dirs, dir, delta);
	}
}

void safekeep_index_add(struct mediafs *fs, const char *path, const char *qname)
{
	if (pathmap_put(fs->quarantined, path, qname, clock_now_ms()) == 1)
		count_directories(fs, path, +1);
}

void safekeep_index_remove(struct mediafs *fs, const char *path, const char *qname)
{
	if (pathmap_remove(fs->quarantined, path, qname))
		count_directories(fs, path, -1);
}

bool safekeep_enabled(const struct mediafs *fs)
{
	return fs->events != NULL && fs->quarantine.dir_fd >= 0;
}

/*
 * Must the file (stat st, born birth_ms, at path) be kept?  Other hard
 * links keep its data; a temporary file (young, never seen referenced)
 * is not worth keeping.
 */
static bool worth_keeping(struct mediafs *fs, const struct stat *st, int64_t birth_ms,
			  const char *path)
{
	if (!S_ISREG(st->st_mode) && !S_ISLNK(st->st_mode))
		return false;
	if (st->st_nlink > 1)
		return false;
	/* Without a birth time the age is unknown: keep it, to be safe. */
	if (birth_ms < 0 || clock_now_ms() - birth_ms >= fs->settings.temp_max_age_ms)
		return true;
	return pathmap_get(fs->young_referenced, path, NULL, 0);
}

int safekeep_unlink(struct mediafs *fs, struct inode *parent, int parent_fd,
		    const char *name)
{
	char path[PATH_MAX], id[QUARANTINE_ID_BYTES], qname[QUARANTINE_NAME_BYTES];
	struct stat st;
	int64_t birth_ms;
	int err;

	if (!safekeep_enabled(fs))
		return store_remove(parent_fd, name, false);
	err = store_stat_birth_at(parent_fd, name, &st, &birth_ms);
	if (err)
		return err;
	/* Without a name for the catalog, nothing can be kept or recorded
	 * (the warning is given); the next adoption notices the file gone. */
	if (track_child_path(fs, parent, parent_fd, name, path) != 0)
		return store_remove(parent_fd, name, false);
	if (!worth_keeping(fs, &st, birth_ms, path)) {
		err = store_remove(parent_fd, name, false);
		if (!err)
			track_removed(fs, path);
		return err;
	}
	quarantine_new_id(&fs->quarantine, clock_now_ms(), id, sizeof(id));
	err = quarantine_move_at(&fs->quarantine, parent_fd, name, path, id, st.st_ino, qname,
				 sizeof(qname));
	if (err == -EXDEV) {
		/* On another filesystem under BACKING no rename can keep it. */
		log_write_limited(&fs->quarantine_warning, WARN_INTERVAL_MS, LOG_LEVEL_WARN,
				  "'%s' is on another filesystem than the quarantine; its "
				  "unlink cannot be undone", path);
		err = store_remove(parent_fd, name, false);
		if (!err)
			track_removed(fs, path);
		return err;
	}
	if (err) {
		log_write_limited(&fs->quarantine_warning, WARN_INTERVAL_MS, LOG_LEVEL_ERROR,
				  "cannot keep unlinked '%s' in the quarantine: %s; it is not "
				  "removed", path, strerror(-err));
		return err;
	}
	safekeep_index_add(fs, path, qname);
	track_quarantined(fs, path, qname, "unlinked", &st);
	return 0;
}

int safekeep_replace_begin(struct mediafs *fs, struct inode *new_parent,
			   int new_parent_fd, const char *new_name,
			   struct safekeep_replace *replace)
{
	char id[QUARANTINE_ID_BYTES];
	int64_t birth_ms;
	int err;

	replace->active = false;
	if (!safekeep_enabled(fs))
		return 0;
	err = store_stat_birth_at(new_parent_fd, new_name, &replace->st, &birth_ms);
	if (err == -ENOENT)
		return 0;
	if (err)
		return err;
	if (track_child_path(fs, new_parent, new_parent_fd, new_name, replace->path) != 0 ||
	    !worth_keeping(fs, &replace->st, birth_ms, replace->path))
		return 0;
	quarantine_new_id(&fs->quarantine, clock_now_ms(), id, sizeof(id));
	err = quarantine_link_at(&fs->quarantine, new_parent_fd, new_name, replace->path, id,
				 replace->qname, sizeof(replace->qname));
	if (err == -EXDEV)
		return 0;
	if (err) {
		log_write_limited(&fs->quarantine_warning, WARN_INTERVAL_MS, LOG_LEVEL_ERROR,
				  "cannot keep '%s' before it is replaced: %s; the rename "
				  "is refused", replace->path, strerror(-err));
		return err;
	}
	replace->active = true;
	return 0;
}

void safekeep_replace_end(struct mediafs *fs, struct safekeep_replace *replace, bool renamed)
{
	if (!replace->active)
		return;
	if (!renamed) {
		quarantine_unlink_name(&fs->quarantine, replace->qname);
		return;
	}
	safekeep_index_add(fs, replace->path, replace->qname);
	track_quarantined(fs, replace->path, replace->qname, "replaced", &replace->st);
}

/* Quarantined files lie under path, whose directory the checker removed
 * when it emptied it: make it again as it was. */
static int recreate_directory(struct mediafs *fs, const char *path)
{
	int err = quarantine_make_dir(&fs->quarantine, path);

	if (!err)
		log_debug("made '%s' again: quarantined files lie under it", path);
	return err;
}

int safekeep_restore_on_access(struct mediafs *fs, struct inode *parent, int parent_fd,
			       const char *name)
{
	char path[PATH_MAX], qname[QUARANTINE_NAME_BYTES];
	int err;

	if (!safekeep_enabled(fs) || !fs->settings.restore_on_access ||
	    pathmap_count(fs->quarantined) == 0)
		return -ENOENT;
	if (track_child_path(fs, parent, parent_fd, name, path) != 0)
		return -ENOENT;
	if (!pathmap_get(fs->quarantined, path, qname, sizeof(qname))) {
		if (pathmap_get(fs->quarantined_dirs, path, NULL, 0) &&
		    recreate_directory(fs, path) == 0)
			return 0;
		return -ENOENT;
	}
	err = quarantine_restore(&fs->quarantine, qname, path);
	if (err == -EEXIST)
		return 0;	/* someone else brought it (or another file) back */
	if (err) {
		if (err == -ENOENT)
			safekeep_index_remove(fs, path, qname);
		log_write_limited(&fs->quarantine_warning, WARN_INTERVAL_MS, LOG_LEVEL_WARN,
				  "cannot restore '%s' on access: %s", path, strerror(-err));
		return -ENOENT;
	}
	safekeep_index_remove(fs, path, qname);
	track_restored(fs, path, qname, "accessed");
	atomic_fetch_add(&fs->restores_by_access, 1);
	log_info("restored '%s' from the quarantine ('%s') because something looked it up; "
		 "many such restores can mean a column is missing from the configuration",
		 path, qname);
	return 0;
}
