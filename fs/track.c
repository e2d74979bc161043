/*
 * track: builds catalog events from handler results.
 */
#include "track.h"

#include <errno.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "events.h"
#include "log.h"

bool track_enabled(const struct mediafs *fs)
{
	return fs->events != NULL;
}

int track_build_child_path(struct mediafs *fs, struct inode *parent, int parent_fd,
			   const char *name, char *buf)
{
	size_t name_len = strlen(name);
	ssize_t len = 0;

	if (parent != &fs->inodes.root) {
		len = store_relative_path(&fs->store, parent_fd, buf, PATH_MAX);
		if (len < 0)
			return (int)len;
		if (len > 0)
			buf[len++] = '/';
	}
	if ((size_t)len + name_len + 1 > PATH_MAX)
		return -ENAMETOOLONG;
	memcpy(buf + len, name, name_len + 1);
	return 0;
}

int track_child_path(struct mediafs *fs, struct inode *parent, int parent_fd,
		     const char *name, char *buf)
{
	int err = track_build_child_path(fs, parent, parent_fd, name, buf);

	if (err)
		log_write_limited(&fs->path_warning, LOG_REPEAT_INTERVAL_MS, LOG_LEVEL_WARN,
				  "cannot name '%s' for the catalog: %s; the next adoption "
				  "will record it", name, strerror(-err));
	return err;
}

/* An event of kind about the file st (at path, or NULL), now. */
static struct catalog_event event_of_file(enum catalog_event_kind kind, const char *path,
					  const struct stat *st)
{
	return (struct catalog_event){
		.kind = kind,
		.time_ms = clock_now_ms(),
		.path = path,
		.file_kind = S_ISLNK(st->st_mode) ? CATALOG_SYMLINK : CATALOG_FILE,
		.dev = st->st_dev,
		.ino = st->st_ino,
		.size = st->st_size,
		.mtime_ms = clock_ms_of(&st->st_mtim),
	};
}

bool track_created(struct mediafs *fs, struct inode *parent, int parent_fd,
		   const char *name, const struct stat *st, bool is_link)
{
	char path[PATH_MAX];
	struct catalog_event ev;

	if (!fs->events || (!S_ISREG(st->st_mode) && !S_ISLNK(st->st_mode)) ||
	    track_child_path(fs, parent, parent_fd, name, path) != 0)
		return false;
	ev = event_of_file(is_link ? CATALOG_EVENT_LINKED : CATALOG_EVENT_CREATED, path, st);
	events_emit(fs->events, &ev);
	return true;
}

void track_written(struct mediafs *fs, int fd, bool path_known)
{
	char path[PATH_MAX];
	struct stat st;
	struct catalog_event ev;

	if (!fs->events || store_stat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		return;
	ev = event_of_file(CATALOG_EVENT_WRITTEN, NULL, &st);
	/* The path only matters when the catalog does not know the inode (and
	 * costs a readlink of /proc/self/fd/N); an open file moved to the
	 * quarantine has a path that is not media. */
	if (!path_known && st.st_nlink > 0 &&
	    store_relative_path(&fs->store, fd, path, sizeof(path)) > 0 &&
	    strncmp(path, STORE_STATE_DIR_NAME "/", sizeof(STORE_STATE_DIR_NAME)) != 0)
		ev.path = path;
	events_emit(fs->events, &ev);
}

void track_removed(struct mediafs *fs, const char *path)
{
	struct catalog_event ev = {
		.kind = CATALOG_EVENT_REMOVED,
		.time_ms = clock_now_ms(),
		.path = path,
		.reason = "unlinked",
	};

	if (fs->events)
		events_emit(fs->events, &ev);
}

void track_quarantined(struct mediafs *fs, const char *path, const char *qname,
		       const char *reason, const struct stat *st)
{
	struct catalog_event ev = event_of_file(CATALOG_EVENT_QUARANTINED, path, st);

	ev.quarantine_name = qname;
	ev.reason = reason;
	if (fs->events)
		events_emit(fs->events, &ev);
}

void track_restored(struct mediafs *fs, const char *path, const char *qname,
		    const char *reason)
{
	struct catalog_event ev = {
		.kind = CATALOG_EVENT_RESTORED,
		.time_ms = clock_now_ms(),
		.path = path,
		.quarantine_name = qname,
		.reason = reason,
	};

	if (fs->events)
		events_emit(fs->events, &ev);
}

void track_renamed(struct mediafs *fs, struct inode *parent, int parent_fd,
		   const char *name, struct inode *new_parent, int new_parent_fd,
		   const char *new_name, unsigned int flags, const struct stat *st,
		   const struct stat *target_st)
{
	char from[PATH_MAX], to[PATH_MAX];
	struct catalog_event ev = {
		.time_ms = clock_now_ms(),
		.path = from,
		.path2 = to,
		.is_dir = S_ISDIR(st->st_mode),
	};

	if (!fs->events || track_child_path(fs, parent, parent_fd, name, from) != 0 ||
	    track_child_path(fs, new_parent, new_parent_fd, new_name, to) != 0)
		return;
	if (flags & RENAME_EXCHANGE) {
		ev.kind = CATALOG_EVENT_EXCHANGED;
		ev.is_dir2 = S_ISDIR(target_st->st_mode);
	} else {
		ev.kind = ev.is_dir ? CATALOG_EVENT_RENAMED_DIR : CATALOG_EVENT_RENAMED;
	}
	events_emit(fs->events, &ev);
}
