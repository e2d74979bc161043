/*
 * adopt: an explicit depth-first stack of open directories.
 */
#include "adopt.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "grow.h"

enum { WALK_BUFFER_BYTES = 32 * 1024 };

struct walk_level {
	int fd;
	dev_t dev;		/* of this directory, for the files in it */
	size_t path_len;	/* length of this directory's path in walk->path */
	size_t len, pos;	/* records in buf */
	char buf[WALK_BUFFER_BYTES];
};

struct adopt_walk {
	struct walk_level **levels;	/* the stack; levels[depth - 1] is current */
	size_t depth, capacity;
	char path[PATH_MAX];		/* the current directory's path, then a name */
	uint64_t files;
};

static int push_level(struct adopt_walk *walk, int fd, size_t path_len)
{
	struct walk_level *level;
	struct stat st;
	int err = store_stat(fd, &st);

	if (err)
		return err;
	if (walk->depth == walk->capacity) {
		struct walk_level **levels = grow_array(walk->levels, &walk->capacity,
							walk->depth + 1, sizeof(*levels), 16);
		if (!levels)
			return -ENOMEM;
		walk->levels = levels;
	}
	level = malloc(sizeof(*level));
	if (!level)
		return -ENOMEM;
	level->fd = fd;
	level->dev = st.st_dev;
	level->path_len = path_len;
	level->len = level->pos = 0;
	walk->levels[walk->depth++] = level;
	return 0;
}

static void pop_level(struct adopt_walk *walk)
{
	struct walk_level *level = walk->levels[--walk->depth];

	close(level->fd);
	free(level);
}

int adopt_walk_start(const struct store *st, struct adopt_walk **out)
{
	struct adopt_walk *walk = calloc(1, sizeof(*walk));
	int fd, err;

	if (!walk)
		return -ENOMEM;
	fd = store_open_dir(st->root_fd);
	if (fd < 0) {
		free(walk);
		return fd;
	}
	err = push_level(walk, fd, 0);
	if (err) {
		close(fd);
		free(walk);
		return err;
	}
	*out = walk;
	return 0;
}

/* Append "/name" (or "name" at the top) to the current directory's path. */
static size_t join_name(struct adopt_walk *walk, size_t dir_len, const char *name)
{
	size_t name_len = strlen(name);
	size_t sep = dir_len ? 1 : 0;

	if (dir_len + sep + name_len + 1 > sizeof(walk->path))
		return 0;
	if (sep)
		walk->path[dir_len] = '/';
	memcpy(walk->path + dir_len + sep, name, name_len + 1);
	return dir_len + sep + name_len;
}

/*
 * The directory entry's type and inode number are enough: a stat per file
 * would load every inode (about 20 us each when it is not cached, most of
 * the walk), so sizes are left unknown (-1) for the catalog to fill in
 * later.  Only entries of unknown type are stat()ed.
 */
static int visit(struct adopt_walk *walk, struct walk_level *level,
		 const struct store_dirent *d, adopt_found_fn found, void *ctx)
{
	struct catalog_found file = {
		.path = walk->path,
		.dev = level->dev,
		.ino = d->d_ino,
		.size = -1,
		.mtime_ms = -1,
	};
	unsigned char type = d->d_type;
	struct stat st;
	size_t len;
	int err, fd;

	if (d->d_name[0] == '.' && (d->d_name[1] == '\0' ||
				    (d->d_name[1] == '.' && d->d_name[2] == '\0')))
		return 0;
	if (walk->depth == 1 && strcmp(d->d_name, STORE_STATE_DIR_NAME) == 0)
		return 0;
	len = join_name(walk, level->path_len, d->d_name);
	if (!len)
		return 0;	/* too long to be a path: nothing could reach it */
	if (type == DT_UNKNOWN) {
		err = store_stat_at(level->fd, d->d_name, &st);
		if (err == -ENOENT)
			return 0;	/* gone since the directory was read */
		if (err)
			return err;
		type = IFTODT(st.st_mode);
		file.dev = st.st_dev;
		file.ino = st.st_ino;
		file.size = st.st_size;
		file.mtime_ms = clock_ms_of(&st.st_mtim);
	}
	if (type == DT_DIR) {
		fd = store_open_subdir(level->fd, d->d_name);
		if (fd == -ENOENT || fd == -ENOTDIR || fd == -ELOOP)
			return 0;	/* replaced since the stat */
		if (fd < 0)
			return fd;
		err = push_level(walk, fd, len);
		if (err)
			close(fd);
		return err;
	}
	if (type != DT_REG && type != DT_LNK)
		return 0;
	file.kind = type == DT_LNK ? CATALOG_SYMLINK : CATALOG_FILE;
	walk->files++;
	return found(ctx, &file);
}

int adopt_walk_step(struct adopt_walk *walk, size_t max_entries,
		    adopt_found_fn found, void *ctx, const char **where)
{
	size_t visited = 0;

	while (walk->depth > 0 && visited < max_entries) {
		struct walk_level *level = walk->levels[walk->depth - 1];
		if (level->pos >= level->len) {
			ssize_t n = store_read_dir(level->fd, level->buf, sizeof(level->buf));
			/* Removed since it was opened: it was empty then, like
			 * a directory that is gone before its open. */
			if (n == -ENOENT)
				n = 0;
			if (n < 0) {
				walk->path[level->path_len] = '\0';
				*where = walk->path;
				return (int)n;
			}
			if (n == 0) {
				pop_level(walk);
				continue;
			}
			level->len = (size_t)n;
			level->pos = 0;
		}
		const struct store_dirent *d = (const void *)(level->buf + level->pos);
		level->pos += d->d_reclen;
		visited++;
		int err = visit(walk, level, d, found, ctx);
		if (err) {
			*where = walk->path;
			return err;
		}
	}
	return walk->depth > 0;
}

uint64_t adopt_walk_files(const struct adopt_walk *walk)
{
	return walk->files;
}

void adopt_walk_free(struct adopt_walk *walk)
{
	if (!walk)
		return;
	while (walk->depth > 0)
		pop_level(walk);
	free(walk->levels);
	free(walk);
}
