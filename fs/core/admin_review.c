/*
 * admin_review: the files of a review and read-only descriptors on them
 * (see admin_review.h).
 *
 * Layout: answers; listing the files; opening one; the socket's hook.
 */
#include "admin_review.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "grow.h"
#include "log.h"

/* Up to this many candidates are read one by one, more in one pass. */
enum { CANDIDATES_ONE_BY_ONE = 2000 };

/* ------------------------------------------------------------------ */
/* Answers                                                              */
/* ------------------------------------------------------------------ */

static json_t *refusal(const char *kind, const char *message)
{
	return json_pack("{s:b, s:s, s:s}", "ok", 0, "kind", kind, "error", message);
}

static json_t *catalog_refusal(struct admin_context *ctx, int err)
{
	char message[512];

	snprintf(message, sizeof(message), "catalog: %s (%s)", catalog_last_error(ctx->cat),
		 strerror(-err));
	return refusal("failed", message);
}

/* A number under key, 0 or more, or fallback when there is none; -1 when
 * the value is not such a number. */
static int64_t number_field(const json_t *request, const char *key, int64_t fallback)
{
	const json_t *value = json_object_get(request, key);

	if (!value)
		return fallback;
	if (!json_is_integer(value) || json_integer_value(value) < 0)
		return -1;
	return json_integer_value(value);
}

/* ------------------------------------------------------------------ */
/* The files                                                            */
/* ------------------------------------------------------------------ */

struct file_list {
	struct admin_context *ctx;
	json_t *files;
};

static int add_file(void *arg, const struct catalog_row *row)
{
	struct file_list *list = arg;
	json_t *file = json_pack("{s:I, s:I, s:s, s:I, s:I, s:s}",
				 "id", (json_int_t)row->id, "size", (json_int_t)row->size,
				 "state", catalog_state_name(row->state),
				 "changed_ms", (json_int_t)row->state_changed_ms,
				 "written_ms", (json_int_t)row->last_written_ms,
				 "reason", row->state_reason ? row->state_reason : "");

	if (!file)
		return -ENOMEM;
	admin_set_path(file, "path", row->path);
	return json_array_append_new(list->files, file) == 0 ? 0 : -ENOMEM;
}

/* The ids of a scan's candidates, sorted. */
struct id_set {
	int64_t *ids;
	size_t count, capacity;
};

static int add_id(void *arg, int64_t id)
{
	struct id_set *set = arg;
	int64_t *grown = grow_array(set->ids, &set->capacity, set->count + 1, sizeof(*grown),
				    1024);

	if (!grown)
		return -ENOMEM;
	set->ids = grown;
	set->ids[set->count++] = id;
	return 0;
}

static int compare_ids(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

struct candidate_list {
	struct file_list *list;
	const struct id_set *set;
};

static int add_live_candidate(void *arg, const struct catalog_row *row)
{
	struct candidate_list *c = arg;

	if (!bsearch(&row->id, c->set->ids, c->set->count, sizeof(int64_t), compare_ids))
		return 0;
	return add_file(c->list, row);
}

/*
 * The candidates of a held or dry-run scan that are still live (one that
 * went since is not shown).  Few are asked for one by one; many by one
 * pass over the live rows, as 100,000 point queries take seconds.
 */
static int list_candidates(struct admin_context *ctx, int64_t scan_id, struct file_list *list)
{
	struct id_set set = { 0 };
	struct catalog_filter live = { .state = CATALOG_LIVE };
	struct candidate_list c = { list, &set };
	int err = catalog_scan_each_candidate(ctx->cat, scan_id, add_id, &set);

	if (!err && set.count > CANDIDATES_ONE_BY_ONE) {
		qsort(set.ids, set.count, sizeof(*set.ids), compare_ids);
		err = catalog_query_rows(ctx->cat, &live, add_live_candidate, &c);
	}
	for (size_t i = 0; !err && set.count <= CANDIDATES_ONE_BY_ONE && i < set.count; i++) {
		struct catalog_row row;
		err = catalog_get_row(ctx->cat, set.ids[i], &row);
		if (err == -ENOENT) {
			err = 0;
			continue;
		}
		if (!err && row.state == CATALOG_LIVE)
			err = add_file(list, &row);
		catalog_row_clear(&row);
	}
	free(set.ids);
	return err;
}

static json_t *scan_summary(const struct catalog_scan *scan)
{
	return json_pack("{s:I, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:s}",
			 "id", (json_int_t)scan->id, "status",
			 catalog_scan_status_name(scan->status), "trigger", scan->trigger,
			 "started_ms", (json_int_t)scan->started_ms,
			 "live", (json_int_t)scan->live, "referenced", (json_int_t)scan->referenced,
			 "candidates", (json_int_t)scan->candidates,
			 "quarantined", (json_int_t)scan->quarantined,
			 "hostile", (json_int_t)scan->hostile, "message", scan->message);
}

/*
 * A held or dry-run scan moved nothing: its kept candidates are the
 * files.  Any other scan: the files it quarantined that are still there.
 */
static int list_scan(struct admin_context *ctx, const struct catalog_scan *scan,
		     struct file_list *list)
{
	struct catalog_filter filter = { .state = CATALOG_QUARANTINED, .scan_id = scan->id };

	if (scan->status == CATALOG_SCAN_HELD || scan->status == CATALOG_SCAN_DRY_RUN)
		return list_candidates(ctx, scan->id, list);
	return catalog_query_rows(ctx->cat, &filter, add_file, list);
}

static json_t *review_files(struct admin_context *ctx, const json_t *request)
{
	struct file_list list = { ctx, json_array() };
	struct catalog_filter quarantined = { .state = CATALOG_QUARANTINED };
	struct catalog_scan scan;
	bool held = json_is_true(json_object_get(request, "held"));
	bool whole = json_is_true(json_object_get(request, "quarantine"));
	int64_t scan_id = number_field(request, "scan", 0);
	json_t *response;
	int err;

	if (scan_id < 0 || held + whole + (scan_id > 0) != 1) {
		json_decref(list.files);
		return refusal("usage", "review_files names one of: \"held\": true, \"scan\": N, "
			       "\"quarantine\": true");
	}
	if (ctx->sync)
		ctx->sync(ctx->daemon);
	if (whole) {
		err = catalog_query_rows(ctx->cat, &quarantined, add_file, &list);
	} else {
		err = held ? catalog_scan_get_held(ctx->cat, &scan) :
			     catalog_scan_get(ctx->cat, scan_id, &scan);
		if (err == -ENOENT) {
			json_decref(list.files);
			return refusal("refused", held ? "no scan is held" : "no such scan");
		}
		if (!err)
			err = list_scan(ctx, &scan, &list);
	}
	if (err) {
		json_decref(list.files);
		return err == -ENOMEM ? refusal("failed", "out of memory") :
					catalog_refusal(ctx, err);
	}
	response = json_pack("{s:b, s:o}", "ok", 1, "files", list.files);
	if (response && !whole)
		json_object_set_new(response, "scan", scan_summary(&scan));
	return response;
}

/* ------------------------------------------------------------------ */
/* Opening one                                                          */
/* ------------------------------------------------------------------ */

/*
 * Open rel beneath base_fd (BACKING or the quarantine) read-only: the
 * parent without any link, the file itself as O_PATH without following
 * it, and only a regular file is opened for reading (a FIFO or a device
 * is never opened).  O_NOATIME where the kernel allows it: looking is
 * not an access.  Returns the descriptor, -ELOOP for a symbolic link
 * (anywhere on the way), -EINVAL for another file that is not regular, or
 * another -errno.
 */
static int open_regular_beneath(int base_fd, const char *rel)
{
	const char *name;
	struct stat sb;
	int dir_fd, path_fd, fd;
	int err = store_open_parent_at(base_fd, rel, &dir_fd, &name);

	if (err)
		return err;
	path_fd = store_open_path_at(dir_fd, name);
	close(dir_fd);
	if (path_fd < 0)
		return path_fd;
	err = store_stat(path_fd, &sb);
	if (!err && !S_ISREG(sb.st_mode))
		err = S_ISLNK(sb.st_mode) ? -ELOOP : -EINVAL;
	fd = err ? err : store_reopen(path_fd, O_RDONLY | O_NOATIME);
	if (fd == -EPERM)
		fd = store_reopen(path_fd, O_RDONLY);
	close(path_fd);
	return fd;
}

static json_t *review_open(struct admin_context *ctx, const json_t *request, int *fd)
{
	int64_t id = number_field(request, "id", -1);
	struct catalog_row row;
	char message[128];
	int err;

	if (id < 0)
		return refusal("usage", "review_open needs an \"id\", a whole number");
	err = catalog_get_row(ctx->cat, id, &row);
	if (err == -ENOENT)
		return refusal("refused", "the catalog has no such file");
	if (err)
		return catalog_refusal(ctx, err);
	if (row.state == CATALOG_LIVE)
		err = open_regular_beneath(ctx->store->root_fd, row.path);
	else if (row.state == CATALOG_QUARANTINED && row.quarantine_name)
		err = open_regular_beneath(ctx->quarantine->dir_fd, row.quarantine_name);
	else
		err = -ENOENT;
	catalog_row_clear(&row);
	if (err < 0) {
		snprintf(message, sizeof(message), "file %lld cannot be opened: %s", (long long)id,
			 err == -EINVAL ? "not a regular file" :
			 err == -ELOOP ? "a symbolic link, never followed" : strerror(-err));
		return refusal("refused", message);
	}
	*fd = err;
	return json_pack("{s:b, s:I}", "ok", 1, "id", (json_int_t)id);
}

bool admin_review_is_request(const json_t *request)
{
	const char *name = json_string_value(json_object_get(request, "command"));

	return name && (!strcmp(name, "review_files") || !strcmp(name, "review_open"));
}

json_t *admin_review_execute(struct admin_context *ctx, const json_t *request, int *fd)
{
	const char *name = json_string_value(json_object_get(request, "command"));

	*fd = -1;
	if (name && !strcmp(name, "review_open"))
		return review_open(ctx, request, fd);
	return review_files(ctx, request);
}

/* ------------------------------------------------------------------ */
/* The control socket                                                   */
/* ------------------------------------------------------------------ */

/* text (len bytes), passing fd (>= 0) with its first byte. */
static int send_passing(int sock, const char *text, size_t len, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} control;
	struct iovec iov = { .iov_base = (void *)text, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (fd >= 0) {
		memset(&control, 0, sizeof(control));
		msg.msg_control = control.buf;
		msg.msg_controllen = sizeof(control.buf);
		struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
	}
	do {
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	/* The descriptor went with the first byte; the rest goes plain. */
	while ((size_t)n < len) {
		ssize_t more = send(sock, text + n, len - (size_t)n, MSG_NOSIGNAL);
		if (more < 0 && errno == EINTR)
			continue;
		if (more <= 0)
			return more < 0 ? -errno : -EPIPE;
		n += more;
	}
	return 0;
}

int admin_review_serve(struct admin_context *ctx, int sock, const char *line, size_t len)
{
	json_t *request = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL), *response;
	char *text = NULL;
	int fd = -1, err = -ENOMEM;

	if (!request || !admin_review_is_request(request)) {
		json_decref(request);
		return 0;
	}
	response = admin_review_execute(ctx, request, &fd);
	json_decref(request);
	if (response)
		text = json_dumps(response, JSON_COMPACT);
	json_decref(response);
	if (text) {
		size_t text_len = strlen(text);
		char *with_newline = realloc(text, text_len + 2);
		if (with_newline) {
			text = with_newline;
			memcpy(text + text_len, "\n", 2);
			err = send_passing(sock, text, text_len + 1, fd);
		}
	}
	if (err)
		log_debug("control socket: cannot answer a review request: %s", strerror(-err));
	if (fd >= 0)
		close(fd);
	free(text);
	return err ? -1 : 1;
}
