/*
 * safekeep: the decisions are the temporary-file rule and
 * policy_judge_access(); the actions are one rename (unlink), one link
 * (replace) or one rename back (access).
 *
 * Lock order: sk->lock, then the pathmaps' own locks.
 */
#include "safekeep.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "catalog.h"
#include "clock.h"
#include "log.h"
#include "pathmap.h"
#include "policy.h"
#include "store.h"
#include "track.h"

enum { FILE_KEY_BYTES = 24 + PATH_MAX };

struct safekeep {
	/* Serialises changes of the quarantine index (a read, then a write,
	 * of fs->quarantined and fs->quarantined_dirs) and the requests. */
	pthread_mutex_t lock;
	/* Files a lookup brought back once, never again: "<inode>:<path>"
	 * (a scan moves a file without changing either; a new file at the
	 * path, even one that reuses the inode number, starts over).  Its
	 * own lock. */
	struct pathmap *restored_by_access;
	struct pathmap *requested;	/* paths refused to a lookup; guarded by lock */
	uint64_t requests;		/* guarded by lock */
	char *examples[SAFEKEEP_REQUEST_EXAMPLES];	/* guarded by lock */
	struct log_ratelimit warning;
};

static void file_key(ino_t ino, const char *path, char *key, size_t size)
{
	snprintf(key, size, "%" PRIuMAX ":%s", (uintmax_t)ino, path);
}

static int load_restored(void *ctx, const char *path, ino_t ino)
{
	char key[FILE_KEY_BYTES];

	file_key(ino, path, key, sizeof(key));
	return pathmap_put(ctx, key, "", 0) < 0 ? -ENOMEM : 0;
}

int safekeep_open(struct mediafs *fs, struct catalog *cat)
{
	struct safekeep *sk = calloc(1, sizeof(*sk));

	if (!sk)
		return -ENOMEM;
	pthread_mutex_init(&sk->lock, NULL);
	sk->restored_by_access = pathmap_new();
	sk->requested = pathmap_new();
	fs->safekeep = sk;
	if (!sk->restored_by_access || !sk->requested)
		return -ENOMEM;
	return catalog_each_access_restored(cat, load_restored, sk->restored_by_access);
}

void safekeep_close(struct mediafs *fs)
{
	struct safekeep *sk = fs->safekeep;

	if (!sk)
		return;
	pathmap_free(sk->restored_by_access);
	pathmap_free(sk->requested);
	for (size_t i = 0; i < SAFEKEEP_REQUEST_EXAMPLES; i++)
		free(sk->examples[i]);
	pthread_mutex_destroy(&sk->lock);
	free(sk);
	fs->safekeep = NULL;
}

/* path left the requests (a new version, a restore, a purge).  Called
 * with sk->lock held. */
static void forget_request_locked(struct safekeep *sk, const char *path)
{
	size_t kept = 0;

	if (!pathmap_remove(sk->requested, path, NULL))
		return;
	for (size_t i = 0; i < SAFEKEEP_REQUEST_EXAMPLES; i++) {
		if (sk->examples[i] && strcmp(sk->examples[i], path) == 0) {
			free(sk->examples[i]);
			sk->examples[i] = NULL;
		}
		if (sk->examples[i])
			sk->examples[kept++] = sk->examples[i];
	}
	for (size_t i = kept; i < SAFEKEEP_REQUEST_EXAMPLES; i++)
		sk->examples[i] = NULL;
}

/* A lookup of path was refused although a scan quarantined it: count it,
 * and say so once per path. */
static void note_request(struct mediafs *fs, const char *path)
{
	struct safekeep *sk = fs->safekeep;
	bool first;

	pthread_mutex_lock(&sk->lock);
	sk->requests++;
	first = pathmap_put(sk->requested, path, "", 0) == 1;
	for (size_t i = 0; first && i < SAFEKEEP_REQUEST_EXAMPLES; i++) {
		if (!sk->examples[i]) {
			sk->examples[i] = strdup(path);
			break;
		}
	}
	pthread_mutex_unlock(&sk->lock);
	/* log.c escapes the whole line: the name cannot split it. */
	if (first)
		log_write_limited(&sk->warning, LOG_REPEAT_INTERVAL_MS, LOG_LEVEL_WARN,
				  "'%s' was requested while quarantined, after a lookup had "
				  "brought it back once: it stays in the quarantine (a column may "
				  "be missing from the configuration; 'mediactl restore --pin' "
				  "keeps it)", path);
}

void safekeep_get_requests(struct mediafs *fs, struct safekeep_requests *out)
{
	struct safekeep *sk = fs->safekeep;

	memset(out, 0, sizeof(*out));
	if (!sk)
		return;
	pthread_mutex_lock(&sk->lock);
	out->files = pathmap_count(sk->requested);
	out->requests = sk->requests;
	for (size_t i = 0; i < SAFEKEEP_REQUEST_EXAMPLES && sk->examples[i]; i++)
		snprintf(out->examples[out->example_count++], PATH_MAX, "%s", sk->examples[i]);
	pthread_mutex_unlock(&sk->lock);
}

/* Count path's ancestors (delta +1 or -1) in the directory index.  Out of
 * memory, a directory may miss its count: a lookup of it then does not make
 * it again, and the admin's restore still does. */
static void count_directories(struct mediafs *fs, const char *path, int delta)
{
	char dir[PATH_MAX];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	while ((slash = strrchr(dir, '/')) != NULL) {
		*slash = '\0';
		if (pathmap_count_add(fs->quarantined_dirs, dir, delta) != 0)
			log_write_limited(&fs->quarantine_warning, LOG_REPEAT_INTERVAL_MS,
					  LOG_LEVEL_WARN, "cannot count '%s' as a directory of "
					  "quarantined files: out of memory", dir);
	}
}

/*
 * Only what a scan quarantined may come back by a lookup, so only such
 * paths make a lookup of their directory make it again.
 */
void safekeep_index_add(struct mediafs *fs, const char *path, const char *qname)
{
	struct safekeep *sk = fs->safekeep;
	char old[QUARANTINE_NAME_BYTES];
	bool had;

	pthread_mutex_lock(&sk->lock);
	had = pathmap_get(fs->quarantined, path, old, sizeof(old));
	if (pathmap_put(fs->quarantined, path, qname, clock_now_ms()) >= 0) {
		if (had && quarantine_is_from_scan(old))
			count_directories(fs, path, -1);
		if (quarantine_is_from_scan(qname))
			count_directories(fs, path, +1);
	}
	forget_request_locked(sk, path);
	pthread_mutex_unlock(&sk->lock);
}

void safekeep_index_remove(struct mediafs *fs, const char *path, const char *qname)
{
	struct safekeep *sk = fs->safekeep;

	pthread_mutex_lock(&sk->lock);
	if (pathmap_remove(fs->quarantined, path, qname)) {
		if (quarantine_is_from_scan(qname))
			count_directories(fs, path, -1);
		forget_request_locked(sk, path);
	}
	pthread_mutex_unlock(&sk->lock);
}

bool safekeep_enabled(const struct mediafs *fs)
{
	return fs->events != NULL && fs->quarantine.dir_fd >= 0;
}

/* Only files and symbolic links are kept. */
static bool is_kept_kind(const struct stat *st)
{
	return S_ISREG(st->st_mode) || S_ISLNK(st->st_mode);
}

/* Born less than temp_max_age ago.  Without a birth time the age is
 * unknown: not young, to be safe. */
static bool is_young(struct mediafs *fs, int64_t birth_ms)
{
	return birth_ms >= 0 && clock_now_ms() - birth_ms < fs->settings.temp_max_age_ms;
}

/*
 * Must the file (stat st, born birth_ms, at path) be kept?  A temporary
 * file (young, never seen referenced) is not worth keeping.  Other hard
 * links do not matter: the name is what the application loses.
 */
static bool worth_keeping(struct mediafs *fs, const struct stat *st, int64_t birth_ms,
			  const char *path)
{
	if (!is_kept_kind(st))
		return false;
	if (!is_young(fs, birth_ms))
		return true;
	return pathmap_get(fs->young_referenced, path, NULL, 0);
}

/*
 * The path of name in parent, for a file that st describes and that is
 * about to leave its name.  When the path cannot be recorded (deeper than
 * PATH_MAX) the quarantine cannot keep the file: -errno, logged, unless
 * it need not be kept (*keep false: no value longer than PATH_MAX is ever
 * a reference, so a young file there is a temporary one).
 */
static int path_to_keep(struct mediafs *fs, struct inode *parent, int parent_fd,
			const char *name, const struct stat *st, int64_t birth_ms,
			const char *what, char *path, bool *keep)
{
	int err = track_build_child_path(fs, parent, parent_fd, name, path);

	*keep = true;
	if (!err)
		return 0;
	if (!is_kept_kind(st) || is_young(fs, birth_ms)) {
		*keep = false;
		return 0;
	}
	log_write_limited(&fs->quarantine_warning, LOG_REPEAT_INTERVAL_MS, LOG_LEVEL_ERROR,
			  "refused to %s '%s': its path cannot be recorded (%s), so the "
			  "quarantine could not keep it; move it to a shorter path first",
			  what, name, strerror(-err));
	return err;
}

int safekeep_unlink(struct mediafs *fs, struct inode *parent, int parent_fd,
		    const char *name)
{
	char path[PATH_MAX], id[QUARANTINE_ID_BYTES], qname[QUARANTINE_NAME_BYTES];
	struct stat st;
	int64_t birth_ms;
	bool keep;
	int err;

	if (!safekeep_enabled(fs))
		return store_remove(parent_fd, name, false);
	err = store_stat_birth_at(parent_fd, name, &st, &birth_ms);
	if (!err)
		err = path_to_keep(fs, parent, parent_fd, name, &st, birth_ms, "unlink", path,
				   &keep);
	if (err)
		return err;
	if (!keep)
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
		log_write_limited(&fs->quarantine_warning, LOG_REPEAT_INTERVAL_MS, LOG_LEVEL_WARN,
				  "'%s' is on another filesystem than the quarantine; its "
				  "unlink cannot be undone", path);
		err = store_remove(parent_fd, name, false);
		if (!err)
			track_removed(fs, path);
		return err;
	}
	if (err) {
		log_write_limited(&fs->quarantine_warning, LOG_REPEAT_INTERVAL_MS, LOG_LEVEL_ERROR,
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
	bool keep;
	int err;

	replace->active = false;
	if (!safekeep_enabled(fs))
		return 0;
	err = store_stat_birth_at(new_parent_fd, new_name, &replace->st, &birth_ms);
	if (err == -ENOENT)
		return 0;
	if (!err)
		err = path_to_keep(fs, new_parent, new_parent_fd, new_name, &replace->st,
				   birth_ms, "replace", replace->path, &keep);
	if (err)
		return err;
	if (!keep || !worth_keeping(fs, &replace->st, birth_ms, replace->path))
		return 0;
	quarantine_new_id(&fs->quarantine, clock_now_ms(), id, sizeof(id));
	err = quarantine_link_at(&fs->quarantine, new_parent_fd, new_name, replace->path, id,
				 replace->qname, sizeof(replace->qname));
	if (err == -EXDEV)
		return 0;
	if (err) {
		log_write_limited(&fs->quarantine_warning, LOG_REPEAT_INTERVAL_MS, LOG_LEVEL_ERROR,
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
		int err = quarantine_unlink_name(&fs->quarantine, replace->qname);

		/* The file stays where it was; only a spare name is left over. */
		if (err)
			log_write_limited(&fs->quarantine_warning, LOG_REPEAT_INTERVAL_MS,
					  LOG_LEVEL_WARN, "cannot remove the spare name '%s' of "
					  "'%s' from the quarantine: %s", replace->qname,
					  replace->path, strerror(-err));
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

/* Has a lookup brought the file at qname (from path) back once already? */
static bool was_restored_by_access(struct mediafs *fs, const char *path, const char *qname,
				   ino_t *ino)
{
	char key[FILE_KEY_BYTES];
	struct stat st;

	*ino = 0;
	if (quarantine_stat(&fs->quarantine, qname, &st) != 0)
		return false;
	*ino = st.st_ino;
	file_key(st.st_ino, path, key, sizeof(key));
	return pathmap_get(fs->safekeep->restored_by_access, key, NULL, 0);
}

static int restore_by_access(struct mediafs *fs, const char *path, const char *qname,
			     ino_t ino)
{
	char key[FILE_KEY_BYTES];
	int err = quarantine_restore(&fs->quarantine, qname, path);

	if (err == -EEXIST)
		return 0;	/* someone else brought it (or another file) back */
	if (err) {
		if (err == -ENOENT)
			safekeep_index_remove(fs, path, qname);
		log_write_limited(&fs->quarantine_warning, LOG_REPEAT_INTERVAL_MS, LOG_LEVEL_WARN,
				  "cannot restore '%s' on access: %s", path, strerror(-err));
		return -ENOENT;
	}
	file_key(ino, path, key, sizeof(key));
	/* Without the note a second lookup could bring the file back again. */
	if (pathmap_put(fs->safekeep->restored_by_access, key, "", 0) < 0)
		log_write_limited(&fs->quarantine_warning, LOG_REPEAT_INTERVAL_MS, LOG_LEVEL_WARN,
				  "cannot note that '%s' came back on access: out of memory",
				  path);
	safekeep_index_remove(fs, path, qname);
	track_restored(fs, path, qname, CATALOG_REASON_ACCESSED);
	atomic_fetch_add(&fs->restores_by_access, 1);
	log_info("restored '%s' from the quarantine ('%s') because something looked it up; "
		 "the next lookup after a scan quarantines it again leaves it there",
		 path, qname);
	return 0;
}

int safekeep_restore_on_access(struct mediafs *fs, struct inode *parent, int parent_fd,
			       const char *name)
{
	char path[PATH_MAX], qname[QUARANTINE_NAME_BYTES];
	struct policy_access access = { .restore_on_access = fs->settings.restore_on_access };
	ino_t ino = 0;

	if (!safekeep_enabled(fs) || pathmap_count(fs->quarantined) == 0)
		return -ENOENT;
	if (track_child_path(fs, parent, parent_fd, name, path) != 0)
		return -ENOENT;
	if (!pathmap_get(fs->quarantined, path, qname, sizeof(qname))) {
		if (fs->settings.restore_on_access &&
		    pathmap_get(fs->quarantined_dirs, path, NULL, 0) &&
		    recreate_directory(fs, path) == 0)
			return 0;
		return -ENOENT;
	}
	access.quarantined_by_scan = quarantine_is_from_scan(qname);
	if (access.quarantined_by_scan)
		access.restored_by_access_before = was_restored_by_access(fs, path, qname, &ino);
	switch (policy_judge_access(&access)) {
	case POLICY_ACCESS_RESTORE:
		return restore_by_access(fs, path, qname, ino);
	case POLICY_ACCESS_ALARM:
		note_request(fs, path);
		break;
	case POLICY_ACCESS_REFUSE:
		break;
	}
	return -ENOENT;
}
