/*
 * refmatch: one value at a time (refmatch_take), with the answers for
 * parent directories kept in two sets.
 */
#include "refmatch.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "linkwalk.h"
#include "pathnorm.h"
#include "refset.h"

int refmatch_init(struct refmatch *m, const struct store *st)
{
	*m = (struct refmatch){
		.store = st,
		.kept = refset_new(),
		.spellings = respell_index_new(),
		.plain_dirs = refset_new(),
		.missing_dirs = refset_new(),
	};
	return m->kept && m->spellings && m->plain_dirs && m->missing_dirs ? 0 : -ENOMEM;
}

void refmatch_clear(struct refmatch *m)
{
	refset_free(m->kept);
	respell_index_free(m->spellings);
	refset_free(m->plain_dirs);
	refset_free(m->missing_dirs);
	memset(m, 0, sizeof(*m));
}

/* A link on the way of a value: kept with what it leads to. */
static int keep_link(void *ctx, const char *link)
{
	struct refmatch *m = ctx;

	return refset_add(m->kept, link, strlen(link));
}

/* The whole walk of path: keep its links and what it resolves to. */
static int walk(struct refmatch *m, const char *path, size_t len)
{
	struct linkwalk_result res;
	int err = linkwalk_resolve(m->store, path, keep_link, m, &res);

	if (err)
		return err;
	switch (res.outcome) {
	case LINKWALK_PLAIN:
	case LINKWALK_DANGLING:
		return 0;
	case LINKWALK_MISSING:
		return respell_index_add(m->spellings, path, len);
	case LINKWALK_RESOLVED:
		m->linked++;
		return refset_add(m->kept, res.target, strlen(res.target));
	case LINKWALK_ESCAPES:
	case LINKWALK_LOOP:
		if (m->escaped++ == 0)
			termesc(path, m->escape_example, sizeof(m->escape_example));
		return 0;
	}
	return 0;
}

/* One value that names no tracked regular file exactly. */
static int take(void *ctx, const char *value, size_t len)
{
	struct refmatch *m = ctx;
	char path[PATHNORM_MAX_BYTES];
	const char *slash;
	size_t parent_len;
	struct stat sb;
	int err;

	if (len >= sizeof(path))
		return 0;	/* pathnorm makes none: nothing could reach it */
	memcpy(path, value, len);
	path[len] = '\0';
	slash = memrchr(path, '/', len);
	parent_len = slash ? (size_t)(slash - path) : 0;
	if (parent_len && refset_contains(m->missing_dirs, path, parent_len))
		return respell_index_add(m->spellings, path, len);
	if (parent_len && !refset_contains(m->plain_dirs, path, parent_len)) {
		struct linkwalk_result res;

		path[parent_len] = '\0';
		err = linkwalk_resolve(m->store, path, keep_link, m, &res);
		path[parent_len] = '/';
		if (err)
			return err;
		if (res.outcome == LINKWALK_MISSING) {
			err = refset_add(m->missing_dirs, path, parent_len);
			return err ? err : respell_index_add(m->spellings, path, len);
		}
		if (res.outcome != LINKWALK_PLAIN || !S_ISDIR(res.mode))
			return walk(m, path, len);
		err = refset_add(m->plain_dirs, path, parent_len);
		if (err)
			return err;
	}
	err = store_stat_beneath(m->store, path, &sb);
	if (err == -ENOENT || err == -ENOTDIR)
		return respell_index_add(m->spellings, path, len);
	if (!err && !S_ISLNK(sb.st_mode))
		return 0;	/* a directory, or a file the catalog does not track */
	return walk(m, path, len);
}

int refmatch_take_all(struct refmatch *m, const struct refset *values)
{
	int err = refset_each_unmarked(values, take, m);

	if (!err)
		respell_index_finish(m->spellings);
	return err;
}

bool refmatch_is_active(const struct refmatch *m)
{
	return m->kept != NULL;
}

bool refmatch_is_kept(const struct refmatch *m, const char *path, size_t len)
{
	return m->kept && refset_contains(m->kept, path, len);
}

enum respell_match refmatch_spelling(const struct refmatch *m, const char *path, size_t len,
				     const char **value, size_t *value_len)
{
	if (!m->spellings)
		return RESPELL_NONE;
	return respell_index_match(m->spellings, path, len, value, value_len);
}

int refmatch_keep(struct refmatch *m, const char *path, size_t len)
{
	return refset_add(m->kept, path, len);
}
