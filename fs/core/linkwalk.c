/*
 * linkwalk: the walk as two strings, what is resolved (a directory with no
 * link in its path, so that opening it again beneath BACKING is safe) and
 * what is left to walk (the rest of the path, with link targets put in
 * front as they are met).
 */
#include "linkwalk.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct walk {
	char resolved[PATH_MAX];
	size_t resolved_len;
	char rest[PATH_MAX];
	size_t pos;		/* the next component starts at rest + pos */
};

/* Put target in front of what is left to walk.  false when too long. */
static bool push_target(struct walk *w, const char *target, size_t len)
{
	size_t left = strlen(w->rest + w->pos);
	char joined[PATH_MAX];

	if (len + 1 + left + 1 > sizeof(joined))
		return false;
	memcpy(joined, target, len);
	joined[len] = '/';
	memcpy(joined + len + 1, w->rest + w->pos, left + 1);
	memcpy(w->rest, joined, len + 1 + left + 1);
	w->pos = 0;
	return true;
}

/* Make an absolute target relative to BACKING; false when it is outside. */
static bool strip_root(const struct store *st, const char **target, size_t *len)
{
	const char *t = *target;

	if (st->root_path_len > *len || memcmp(t, st->root_path, st->root_path_len) != 0 ||
	    (t[st->root_path_len] != '/' && t[st->root_path_len] != '\0'))
		return false;
	*target = t + st->root_path_len;
	*len -= st->root_path_len;
	return true;
}

/* Follow the link that fd names: its target goes in front of the rest. */
static int follow(const struct store *st, struct walk *w, int fd, struct linkwalk_result *out)
{
	char buf[PATH_MAX];
	const char *target = buf;
	ssize_t n = store_read_link(fd, buf, sizeof(buf));
	size_t len;

	if (n < 0)
		return (int)n;
	if ((size_t)n >= sizeof(buf)) {
		out->outcome = LINKWALK_LOOP;
		return 1;
	}
	buf[n] = '\0';
	len = (size_t)n;
	if (target[0] == '/') {
		if (!strip_root(st, &target, &len)) {
			out->outcome = LINKWALK_ESCAPES;
			return 1;
		}
		w->resolved_len = 0;
		w->resolved[0] = '\0';
	}
	if (!push_target(w, target, len)) {
		out->outcome = LINKWALK_LOOP;
		return 1;
	}
	return 0;
}

/* The next component of the rest into name; false at the end. */
static bool next_component(struct walk *w, const char **name, size_t *len)
{
	while (w->rest[w->pos] == '/')
		w->pos++;
	if (!w->rest[w->pos])
		return false;
	*name = w->rest + w->pos;
	*len = strcspn(*name, "/");
	w->pos += *len;
	return true;
}

static bool nothing_left(const struct walk *w)
{
	return w->rest[w->pos + strspn(w->rest + w->pos, "/")] == '\0';
}

/*
 * One component: returns 0 to go on, 1 when out->outcome is final, or
 * -errno.
 */
static int step(const struct store *st, struct walk *w, const char *name, size_t len,
		int (*on_link)(void *ctx, const char *link), void *ctx,
		struct linkwalk_result *out)
{
	size_t base = w->resolved_len;
	struct stat sb;
	int fd, err;

	if (len == 1 && name[0] == '.')
		return 0;
	if (len == 2 && name[0] == '.' && name[1] == '.') {
		if (w->resolved_len == 0) {
			out->outcome = LINKWALK_ESCAPES;
			return 1;
		}
		while (w->resolved_len > 0 && w->resolved[w->resolved_len - 1] != '/')
			w->resolved_len--;
		if (w->resolved_len > 0)
			w->resolved_len--;
		w->resolved[w->resolved_len] = '\0';
		return 0;
	}
	if (base == 0 && len == strlen(STORE_STATE_DIR_NAME) &&
	    memcmp(name, STORE_STATE_DIR_NAME, len) == 0) {
		out->outcome = LINKWALK_ESCAPES;
		return 1;
	}
	if (base + 1 + len + 1 > sizeof(w->resolved)) {
		out->outcome = LINKWALK_LOOP;
		return 1;
	}
	if (base)
		w->resolved[w->resolved_len++] = '/';
	memcpy(w->resolved + w->resolved_len, name, len);
	w->resolved_len += len;
	w->resolved[w->resolved_len] = '\0';
	fd = store_open_beneath(st, w->resolved, O_PATH, 0);
	if (fd == -ENOENT || fd == -ENOTDIR) {
		out->outcome = out->links ? LINKWALK_DANGLING : LINKWALK_MISSING;
		return 1;
	}
	if (fd == -EXDEV) {
		out->outcome = LINKWALK_ESCAPES;
		return 1;
	}
	if (fd < 0)
		return fd;
	err = store_stat(fd, &sb);
	if (!err && S_ISLNK(sb.st_mode)) {
		if (out->links == LINKWALK_MAX_LINKS) {
			out->outcome = LINKWALK_LOOP;
			err = 1;
		} else {
			out->links++;
			err = on_link(ctx, w->resolved);
		}
		/* The target resolves against the link's directory. */
		w->resolved_len = base;
		w->resolved[base] = '\0';
		if (!err)
			err = follow(st, w, fd, out);
	} else if (!err && !S_ISDIR(sb.st_mode) && !nothing_left(w)) {
		out->outcome = out->links ? LINKWALK_DANGLING : LINKWALK_MISSING;
		err = 1;
	}
	out->mode = sb.st_mode;
	close(fd);
	return err;
}

int linkwalk_resolve(const struct store *st, const char *rel,
		     int (*on_link)(void *ctx, const char *link), void *ctx,
		     struct linkwalk_result *out)
{
	struct walk w = { .resolved_len = 0 };
	const char *name;
	size_t len;
	int err = 0;

	memset(out, 0, sizeof(*out));
	if (strlen(rel) >= sizeof(w.rest)) {
		out->outcome = LINKWALK_LOOP;
		return 0;
	}
	strcpy(w.rest, rel);
	out->mode = S_IFDIR;
	while (!err && next_component(&w, &name, &len))
		err = step(st, &w, name, len, on_link, ctx, out);
	if (err < 0)
		return err;
	if (err == 0) {
		out->outcome = out->links ? LINKWALK_RESOLVED : LINKWALK_PLAIN;
		memcpy(out->target, w.resolved, w.resolved_len + 1);
	}
	return 0;
}

const char *linkwalk_outcome_name(enum linkwalk_outcome outcome)
{
	static const char *const names[] = {
		[LINKWALK_PLAIN] = "plain",
		[LINKWALK_MISSING] = "missing",
		[LINKWALK_RESOLVED] = "resolved",
		[LINKWALK_DANGLING] = "dangling",
		[LINKWALK_ESCAPES] = "escapes",
		[LINKWALK_LOOP] = "loop",
	};
	return names[outcome];
}
