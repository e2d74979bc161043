/*
 * quarantine: the moves in and out of BACKING/.mediafs/quarantine.
 */
#include "quarantine.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { QUARANTINE_DIR_MODE = 0700, WALK_BUFFER_BYTES = 16 * 1024 };

int quarantine_open(struct quarantine *q, const struct store *st)
{
	struct stat sb;
	int err;

	q->store = st;
	q->dir_fd = -1;
	atomic_init(&q->counter, 0);
	if (st->ops->mkdirat(st->state_fd, QUARANTINE_DIR_NAME, QUARANTINE_DIR_MODE) != 0 &&
	    errno != EEXIST)
		return -errno;
	q->dir_fd = store_open_subdir(st->state_fd, QUARANTINE_DIR_NAME);
	if (q->dir_fd < 0)
		return q->dir_fd;
	/* 0700 whatever the umask or an older mediafs made it; what is in
	 * the state directory is ours (store_open() saw to that). */
	err = store_stat(q->dir_fd, &sb);
	if (!err && (sb.st_mode & 07777) != QUARANTINE_DIR_MODE &&
	    fchmod(q->dir_fd, QUARANTINE_DIR_MODE) != 0)
		err = -errno;
	if (err) {
		close(q->dir_fd);
		q->dir_fd = -1;
	}
	return err;
}

void quarantine_close(struct quarantine *q)
{
	if (q->dir_fd >= 0)
		close(q->dir_fd);
	q->dir_fd = -1;
}

void quarantine_new_id(struct quarantine *q, int64_t now_ms, char *id, size_t size)
{
	uint64_t n = atomic_fetch_add(&q->counter, 1);

	snprintf(id, size, "u%lld-%llu", (long long)now_ms, (unsigned long long)n);
}

bool quarantine_is_from_scan(const char *qname)
{
	return qname[0] == 's';
}

const char *quarantine_original_path(const char *qname)
{
	const char *slash = strchr(qname, '/');

	return slash ? slash + 1 : qname;
}

static int build_qname(const char *id, const char *rel, char *qname, size_t size)
{
	int n = snprintf(qname, size, "%s/%s", id, rel);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/*
 * The directory of one id, 0700 and the daemon's; with create, made when
 * missing.  Below it the directories mirror those of the original paths
 * (owner and mode, copied at the move), which is what a restore makes
 * again; nobody but the daemon can reach them through the id directory.
 */
static int open_id_dir(struct quarantine *q, const char *id, bool create)
{
	int fd = store_open_subdir(q->dir_fd, id);

	if (fd == -ENOENT && create) {
		fd = store_make_dir_like(q->store, q->dir_fd, id, NULL);
		if (fd == -EEXIST)
			fd = store_open_subdir(q->dir_fd, id);
	}
	return fd;
}

/* The id of qname into id (QUARANTINE_ID_BYTES). */
static int qname_id(const char *qname, char *id)
{
	const char *slash = strchr(qname, '/');
	size_t len = slash ? (size_t)(slash - qname) : 0;

	if (len == 0 || len >= QUARANTINE_ID_BYTES)
		return -EINVAL;
	memcpy(id, qname, len);
	id[len] = '\0';
	return 0;
}

/* Make the directories of <id>/<rel> like those of rel in BACKING. */
static int make_qname_parents(struct quarantine *q, const char *id, const char *rel,
			      int *qdir_fd, const char **qbase)
{
	int id_fd = open_id_dir(q, id, true);
	int err;

	if (id_fd < 0)
		return id_fd;
	err = store_make_parents_at(q->store, id_fd, rel, q->store->root_fd, false, qdir_fd,
				    qbase);
	close(id_fd);
	return err;
}

/* Remove the directories of qname that are empty, deepest first, up to and
 * including its id directory. */
static void prune_empty(struct quarantine *q, const char *qname)
{
	char path[QUARANTINE_NAME_BYTES];
	char *slash;

	snprintf(path, sizeof(path), "%s", qname);
	while ((slash = strrchr(path, '/')) != NULL) {
		const char *name;
		int dir_fd;

		*slash = '\0';
		if (store_open_parent_at(q->dir_fd, path, &dir_fd, &name) != 0)
			return;
		int res = q->store->ops->unlinkat(dir_fd, name, AT_REMOVEDIR);
		close(dir_fd);
		if (res != 0)
			return;
	}
}

/*
 * Name the place of rel under id in qname and make its directories like
 * those of rel: *qdir_fd is then the directory to make *qbase in.  Returns
 * 0 or -errno; on failure no directory it made is left.
 */
static int open_qname_dir(struct quarantine *q, const char *id, const char *rel,
			  char *qname, size_t qname_size, int *qdir_fd, const char **qbase)
{
	int err = build_qname(id, rel, qname, qname_size);

	if (err)
		return err;
	err = make_qname_parents(q, id, rel, qdir_fd, qbase);
	if (err)
		prune_empty(q, qname);
	return err;
}

int quarantine_move_at(struct quarantine *q, int dir_fd, const char *name,
		       const char *rel, const char *id, ino_t expected_ino,
		       char *qname, size_t qname_size)
{
	const struct store_ops *ops = q->store->ops;
	const char *qbase;
	struct stat sb;
	int qdir_fd, err;

	if (expected_ino) {
		err = store_stat_at(dir_fd, name, &sb);
		if (err)
			return err;
		if (sb.st_ino != expected_ino)
			return -ESTALE;
	}
	err = open_qname_dir(q, id, rel, qname, qname_size, &qdir_fd, &qbase);
	if (err)
		return err;
	if (ops->renameat2(dir_fd, name, qdir_fd, qbase, RENAME_NOREPLACE) != 0) {
		err = -errno;
		close(qdir_fd);
		prune_empty(q, qname);
		return err;
	}
	/* The name may have been given to another file between the check
	 * and the rename: that file goes back where it was. */
	if (expected_ino && store_stat_at(qdir_fd, qbase, &sb) == 0 && sb.st_ino != expected_ino) {
		err = ops->renameat2(qdir_fd, qbase, dir_fd, name, RENAME_NOREPLACE) == 0 ?
			      -ESTALE : -EAGAIN;
		if (err == -ESTALE)
			prune_empty(q, qname);
	}
	close(qdir_fd);
	return err;
}

int quarantine_move(struct quarantine *q, const char *rel, const char *id,
		    ino_t expected_ino, char *qname, size_t qname_size)
{
	const char *name;
	int dir_fd, err;

	err = store_open_parent(q->store, rel, &dir_fd, &name);
	if (err)
		return err;
	err = quarantine_move_at(q, dir_fd, name, rel, id, expected_ino, qname, qname_size);
	close(dir_fd);
	return err;
}

int quarantine_link_at(struct quarantine *q, int dir_fd, const char *name,
		       const char *rel, const char *id, char *qname, size_t qname_size)
{
	const char *qbase;
	int qdir_fd, err;

	err = open_qname_dir(q, id, rel, qname, qname_size, &qdir_fd, &qbase);
	if (err)
		return err;
	if (q->store->ops->linkat(dir_fd, name, qdir_fd, qbase, 0) != 0)
		err = -errno;
	close(qdir_fd);
	if (err)
		prune_empty(q, qname);
	return err;
}

/* A descriptor on <id> when <id>/<path> is a directory, else -1. */
static int open_path_in_id(struct quarantine *q, const char *id, const char *path)
{
	char rel[QUARANTINE_NAME_BYTES];
	struct stat sb;
	int fd;

	if (build_qname(id, path, rel, sizeof(rel)) != 0 ||
	    store_stat_beneath_at(q->dir_fd, rel, &sb) != 0 || !S_ISDIR(sb.st_mode))
		return -1;
	fd = store_open_subdir(q->dir_fd, id);
	return fd < 0 ? -1 : fd;
}

int quarantine_restore(struct quarantine *q, const char *qname, const char *rel)
{
	char id[QUARANTINE_ID_BYTES];
	const char *qbase, *tbase;
	int qdir_fd, tdir_fd, id_fd, err;

	err = qname_id(qname, id);
	if (err)
		return err;
	err = store_open_parent_at(q->dir_fd, qname, &qdir_fd, &qbase);
	if (err)
		return err;
	id_fd = open_id_dir(q, id, false);
	if (id_fd < 0) {
		err = id_fd;
		goto out_close_q;
	}
	/* Missing directories come back as they were when the file left;
	 * where rel goes elsewhere (restore --to), like the one above. */
	err = store_make_parents_at(q->store, q->store->root_fd, rel, id_fd, true, &tdir_fd,
				    &tbase);
	close(id_fd);
	if (err)
		goto out_close_q;
	if (q->store->ops->renameat2(qdir_fd, qbase, tdir_fd, tbase, RENAME_NOREPLACE) != 0)
		err = -errno;
	close(tdir_fd);
out_close_q:
	close(qdir_fd);
	if (!err)
		prune_empty(q, qname);
	return err;
}

int quarantine_make_dir(struct quarantine *q, const char *path)
{
	char below[PATH_MAX + 2];
	const struct store_dirent *d;
	const char *name;
	char *buf = NULL;
	ssize_t n = 0, pos = 0;
	int list_fd, model = -1, dir_fd, err;

	if (snprintf(below, sizeof(below), "%s/x", path) >= (int)sizeof(below))
		return -ENAMETOOLONG;
	/* Any id that holds a file under path keeps path's directories. */
	list_fd = store_open_dir(q->dir_fd);
	buf = malloc(WALK_BUFFER_BYTES);
	if (list_fd < 0 || !buf) {
		err = list_fd < 0 ? list_fd : -ENOMEM;
		goto out_free;
	}
	while (model < 0) {
		if (pos >= n) {
			n = store_read_dir(list_fd, buf, WALK_BUFFER_BYTES);
			pos = 0;
			if (n <= 0)
				break;
		}
		d = (const void *)(buf + pos);
		pos += d->d_reclen;
		if (d->d_name[0] != '.')
			model = open_path_in_id(q, d->d_name, path);
	}
	err = n < 0 ? (int)n : 0;
	if (!err)
		err = store_make_parents_at(q->store, q->store->root_fd, below, model, true,
					    &dir_fd, &name);
	if (!err)
		close(dir_fd);
	if (model >= 0)
		close(model);
out_free:
	free(buf);
	if (list_fd >= 0)
		close(list_fd);
	return err;
}

int quarantine_unlink_name(struct quarantine *q, const char *qname)
{
	const char *qbase;
	int qdir_fd, err;

	err = store_open_parent_at(q->dir_fd, qname, &qdir_fd, &qbase);
	if (err)
		return err;
	if (q->store->ops->unlinkat(qdir_fd, qbase, 0) != 0)
		err = -errno;
	close(qdir_fd);
	if (!err)
		prune_empty(q, qname);
	return err;
}

int quarantine_purge(struct quarantine *q, const char *qname)
{
	return quarantine_unlink_name(q, qname);
}

int quarantine_stat(struct quarantine *q, const char *qname, struct stat *st)
{
	const char *qbase;
	int qdir_fd, err;

	err = store_open_parent_at(q->dir_fd, qname, &qdir_fd, &qbase);
	if (err)
		return err;
	err = store_stat_at(qdir_fd, qbase, st);
	close(qdir_fd);
	return err;
}

struct walk {
	int (*fn)(void *ctx, const char *qname, const struct stat *st);
	void *ctx;
	char path[QUARANTINE_NAME_BYTES];
};

static int walk_dir(struct walk *w, int dir_fd, size_t len)
{
	char *buf = malloc(WALK_BUFFER_BYTES);
	ssize_t n;
	int ret = 0;

	if (!buf)
		return -ENOMEM;
	while (!ret && (n = store_read_dir(dir_fd, buf, WALK_BUFFER_BYTES)) > 0) {
		for (ssize_t pos = 0; !ret && pos < n;) {
			const struct store_dirent *d = (const void *)(buf + pos);
			size_t name_len = strlen(d->d_name);
			struct stat st;

			pos += d->d_reclen;
			if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, ".."))
				continue;
			if (len + 1 + name_len + 1 > sizeof(w->path))
				continue;
			if (len)
				w->path[len] = '/';
			memcpy(w->path + len + (len ? 1 : 0), d->d_name, name_len + 1);
			if (store_stat_at(dir_fd, d->d_name, &st) != 0)
				continue;
			if (S_ISDIR(st.st_mode)) {
				int sub = store_open_subdir(dir_fd, d->d_name);
				if (sub >= 0) {
					ret = walk_dir(w, sub, len + (len ? 1 : 0) + name_len);
					close(sub);
				}
			} else {
				ret = w->fn(w->ctx, w->path, &st);
			}
			w->path[len] = '\0';
		}
	}
	free(buf);
	return ret;
}

int quarantine_each(struct quarantine *q,
		    int (*fn)(void *ctx, const char *qname, const struct stat *st),
		    void *ctx)
{
	struct walk *w = calloc(1, sizeof(*w));
	int fd, ret;

	if (!w)
		return -ENOMEM;
	w->fn = fn;
	w->ctx = ctx;
	fd = store_open_dir(q->dir_fd);
	if (fd < 0) {
		free(w);
		return fd;
	}
	ret = walk_dir(w, fd, 0);
	close(fd);
	free(w);
	return ret;
}
