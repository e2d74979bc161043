/*
 * review: the data of `mediactl review` (see review.h).
 *
 * Layout: the daemon's connection (answers that bring descriptors); the
 * files (from the answers, sorted by directory); thumbnails; the run.
 */
#include "review_i.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "admin.h"
#include "clock.h"
#include "grow.h"
#include "humanize.h"
#include "print.h"
#include "termesc.h"

/* ------------------------------------------------------------------ */
/* The daemon's connection                                              */
/* ------------------------------------------------------------------ */

struct connection {
	struct sockaddr_un addr;
	int sock;		/* -1 when closed */
	char *buf;		/* what came after the last answer line */
	size_t len, cap;
};

static int say(int status, const char *what, const char *detail)
{
	fprintf(stderr, "mediactl: review: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	return status;
}

/* Read until a newline, keeping a descriptor that comes along in *fd. */
static int receive_line(struct connection *c, size_t *line_len, int *fd)
{
	for (;;) {
		union {
			char buf[CMSG_SPACE(sizeof(int))];
			struct cmsghdr align;
		} control;
		char *newline = c->len ? memchr(c->buf, '\n', c->len) : NULL;
		struct iovec iov;
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
				      .msg_control = control.buf,
				      .msg_controllen = sizeof(control.buf) };
		ssize_t n;

		if (newline) {
			*line_len = (size_t)(newline - c->buf);
			return 0;
		}
		if (c->len + 4096 > c->cap) {
			char *grown = grow_array(c->buf, &c->cap, c->len + 4096, 1, 65536);
			if (!grown)
				return -ENOMEM;
			c->buf = grown;
		}
		iov.iov_base = c->buf + c->len;
		iov.iov_len = c->cap - c->len;
		n = recvmsg(c->sock, &msg, MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -ECONNRESET;
		for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg); cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
			if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS ||
			    cmsg->cmsg_len != CMSG_LEN(sizeof(int)))
				continue;
			int passed;
			memcpy(&passed, CMSG_DATA(cmsg), sizeof(int));
			if (*fd >= 0)
				close(*fd);
			*fd = passed;
		}
		c->len += (size_t)n;
	}
}

/* A new connection; 0 or -errno. */
static int connection_open(struct connection *c)
{
	if (c->sock >= 0)
		close(c->sock);
	c->len = 0;
	c->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->sock < 0)
		return -errno;
	if (connect(c->sock, (struct sockaddr *)&c->addr, sizeof(c->addr)) != 0) {
		int err = -errno;
		close(c->sock);
		c->sock = -1;
		return err;
	}
	return 0;
}

/*
 * The daemon closes a connection idle for its timeout (while a slow
 * thumbnail was made) with a farewell line: anything to read before a
 * question is asked means that, and a new connection is made.
 */
static int connection_ready(struct connection *c)
{
	struct pollfd p = { .fd = c->sock, .events = POLLIN };

	if (c->sock >= 0 && c->len == 0 && poll(&p, 1, 0) == 0)
		return 0;
	return connection_open(c);
}

static int send_all(int sock, const char *text, size_t len)
{
	while (len > 0) {
		ssize_t n = send(sock, text, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		text += n;
		len -= (size_t)n;
	}
	return 0;
}

static json_t *connection_ask(void *ctx, const json_t *request, int *fd)
{
	struct connection *c = ctx;
	char *text = json_dumps(request, JSON_COMPACT);
	size_t len = text ? strlen(text) : 0, line_len = 0;
	json_t *response = NULL;
	int err = text ? connection_ready(c) : -ENOMEM;

	*fd = -1;
	if (!err) {
		text[len++] = '\n';	/* json_dumps leaves room: its NUL */
		err = send_all(c->sock, text, len);
	}
	free(text);
	if (!err)
		err = receive_line(c, &line_len, fd);
	if (!err) {
		response = json_loadb(c->buf, line_len, 0, NULL);
		c->len -= line_len + 1;
		memmove(c->buf, c->buf + line_len + 1, c->len);
	}
	if (!response) {
		say(EXIT_REFUSED, "the daemon did not answer", err ? strerror(-err) :
		    "its answer is not JSON");
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
	}
	return response;
}

int review_connect(const char *socket_path, struct review_backend *backend)
{
	struct connection *c = calloc(1, sizeof(*c));
	int err;

	if (!c)
		return say(EXIT_REFUSED, "out of memory", NULL);
	if (strlen(socket_path) >= sizeof(c->addr.sun_path)) {
		free(c);
		return say(EXIT_REFUSED, "the socket's path is too long", print_esc(socket_path));
	}
	c->addr.sun_family = AF_UNIX;
	strcpy(c->addr.sun_path, socket_path);
	c->sock = -1;
	err = connection_open(c);
	if (err) {
		free(c);
		fprintf(stderr, "mediactl: cannot reach the daemon at '%s': %s\n",
			print_esc(socket_path), strerror(-err));
		return EXIT_REFUSED;
	}
	backend->ask = connection_ask;
	backend->ctx = c;
	return EXIT_OK;
}

void review_disconnect(struct review_backend *backend)
{
	struct connection *c = backend->ctx;

	if (!c)
		return;
	if (c->sock >= 0)
		close(c->sock);
	free(c->buf);
	free(c);
	backend->ctx = NULL;
}

/* ------------------------------------------------------------------ */
/* The files                                                            */
/* ------------------------------------------------------------------ */

static const struct {
	const char *ext;
	const char *type;
} types[] = {
	{ "jpg", "image" }, { "jpeg", "image" }, { "png", "image" }, { "webp", "image" },
	{ "gif", "image" },
	{ "mp4", "video" }, { "mov", "video" }, { "webm", "video" }, { "mkv", "video" },
	{ "avi", "video" }, { "mp3", "audio" }, { "ogg", "audio" }, { "wav", "audio" },
	{ "flac", "audio" }, { "m4a", "audio" }, { "pdf", "document" }, { "doc", "document" },
	{ "docx", "document" }, { "odt", "document" }, { "txt", "document" },
	{ "csv", "document" }, { "xls", "document" }, { "xlsx", "document" },
	{ "zip", "archive" }, { "gz", "archive" }, { "tar", "archive" }, { "7z", "archive" },
};

/* The type of a file by its extension (its bytes are looked at only when
 * it claims to be an image). */
static void set_type(struct review_file *file, const char *raw_path)
{
	const char *base = strrchr(raw_path, '/'), *dot;
	size_t i;

	base = base ? base + 1 : raw_path;
	dot = strrchr(base, '.');
	file->type = "file";
	file->ext[0] = '\0';
	if (!dot || dot == base || strlen(dot + 1) >= sizeof(file->ext))
		return;
	for (i = 0; dot[1 + i]; i++) {
		unsigned char ch = (unsigned char)dot[1 + i];
		if (!isalnum(ch) || ch > 127) {
			file->ext[0] = '\0';
			return;
		}
		file->ext[i] = (char)toupper(ch);
	}
	file->ext[i] = '\0';
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcasecmp(dot + 1, types[i].ext))
			file->type = types[i].type;
}

static int file_from_json(struct review_file *file, const json_t *obj)
{
	char *raw = admin_get_path(obj, "path");
	const char *state = json_string_value(json_object_get(obj, "state"));
	const char *slash;

	memset(file, 0, sizeof(*file));
	if (!raw)
		return -ENOMEM;
	file->id = json_integer_value(json_object_get(obj, "id"));
	file->size = json_integer_value(json_object_get(obj, "size"));
	file->changed_ms = json_integer_value(json_object_get(obj, "changed_ms"));
	file->written_ms = json_integer_value(json_object_get(obj, "written_ms"));
	file->state = state && !strcmp(state, "quarantined") ? "quarantined" :
		      state && !strcmp(state, "live") ? "live" : "gone";
	set_type(file, raw);
	file->path = termesc_dup(raw);
	/* A live file is here as a candidate: no source names it.  Its own
	 * reason tells how it became live, which is not the question. */
	file->reason = termesc_dup(!strcmp(file->state, "live") ? "unreferenced (a candidate)" :
				   print_str(obj, "reason"));
	free(raw);
	if (!file->path || !file->reason)
		return -ENOMEM;
	slash = strrchr(file->path, '/');
	file->dir_len = slash ? (size_t)(slash - file->path) : 0;
	return 0;
}

static void file_clear(struct review_file *file)
{
	free(file->path);
	free(file->reason);
	free(file->note);
	review_thumb_clear(&file->thumb);
}

/* By directory, then by name: a directory's files stay together. */
static int compare_files(const void *a, const void *b)
{
	const struct review_file *x = a, *y = b;
	size_t common = x->dir_len < y->dir_len ? x->dir_len : y->dir_len;
	int order = memcmp(x->path, y->path, common);

	if (order)
		return order;
	if (x->dir_len != y->dir_len)
		return x->dir_len < y->dir_len ? -1 : 1;
	return strcmp(x->path + x->dir_len, y->path + y->dir_len);
}

/* ------------------------------------------------------------------ */
/* Thumbnails                                                           */
/* ------------------------------------------------------------------ */

static void progress(const struct review_options *opts, size_t done, size_t total, bool end)
{
	if (!opts->progress || total == 0)
		return;
	if (end)
		fprintf(stderr, "\r\033[K");
	else
		fprintf(stderr, "\rthumbnails: %zu of %zu", done, total);
	fflush(stderr);
}

static void thumbnail_one(const struct review_backend *backend, const struct review_sandbox *sb,
			  struct review_file *file)
{
	json_t *request = json_pack("{s:s, s:I}", "command", "review_open", "id",
				    (json_int_t)file->id);
	char note[REVIEW_NOTE_BYTES] = "";
	json_t *response = NULL;
	int fd = -1;

	if (request)
		response = backend->ask(backend->ctx, request, &fd);
	json_decref(request);
	if (!response)
		snprintf(note, sizeof(note), "no thumbnail: the file could not be asked for");
	else if (fd < 0)
		snprintf(note, sizeof(note), "no thumbnail: %s", print_str(response, "error"));
	else
		review_thumb_make(fd, sb, &file->thumb, note, sizeof(note));
	if (fd >= 0)
		close(fd);
	json_decref(response);
	if (note[0])
		file->note = termesc_dup(note);
}

/* Thumbnails for the images among the first tiles; returns how many. */
static size_t make_thumbnails(const struct review_options *opts,
			      const struct review_backend *backend, struct review_page *page)
{
	struct review_sandbox sb;
	size_t wanted = 0, done = 0, made = 0;
	int err = review_sandbox_init(&sb);

	if (err) {
		say(0, "no thumbnails: the user nobody cannot be found", strerror(-err));
		return 0;
	}
	for (size_t i = 0; i < page->tiles; i++)
		if (!strcmp(page->files[i].type, "image") && wanted < REVIEW_THUMB_LIMIT)
			wanted++;
	for (size_t i = 0; i < page->tiles && done < wanted; i++) {
		struct review_file *file = &page->files[i];
		if (strcmp(file->type, "image") != 0)
			continue;
		progress(opts, done, wanted, false);
		thumbnail_one(backend, &sb, file);
		made += file->thumb.mime != NULL;
		done++;
	}
	progress(opts, done, wanted, true);
	return made;
}

/* ------------------------------------------------------------------ */
/* The run                                                              */
/* ------------------------------------------------------------------ */

static json_t *ask_ok(const struct review_backend *backend, json_t *request)
{
	int fd = -1;
	json_t *response = request ? backend->ask(backend->ctx, request, &fd) : NULL;

	json_decref(request);
	if (fd >= 0)
		close(fd);
	if (response && !json_is_true(json_object_get(response, "ok"))) {
		fprintf(stderr, "mediactl: review: %s\n", print_shown(response, "error"));
		json_decref(response);
		return NULL;
	}
	return response;
}

/* The request for the files, from mediactl's; NULL after a usage error. */
static json_t *files_request(const json_t *request)
{
	const json_t *scan = json_object_get(request, "scan");
	bool held = json_is_true(json_object_get(request, "held"));
	bool whole = json_is_true(json_object_get(request, "quarantine"));

	if ((scan != NULL) + held + whole > 1) {
		say(0, "name one of --scan N, --held, --quarantine", NULL);
		return NULL;
	}
	if (scan)
		return json_pack("{s:s, s:O}", "command", "review_files", "scan", scan);
	if (whole)
		return json_pack("{s:s, s:b}", "command", "review_files", "quarantine", 1);
	return json_pack("{s:s, s:b}", "command", "review_files", "held", 1);
}

/* " --mount 'dir'" for the commands on the page, quoted for a shell. */
static char *target_option(const struct review_options *opts)
{
	const char *flag = opts->backing ? "--backing" : "--mount";
	const char *dir = opts->backing ? opts->backing : opts->mount;
	char *out, *p;

	if (!dir)
		return strdup("");
	out = malloc(strlen(flag) + 4 * strlen(dir) + 8);
	if (!out)
		return NULL;
	p = out + sprintf(out, " %s '", flag);
	for (const char *s = dir; *s; s++)
		p += *s == '\'' ? sprintf(p, "'\\''") : sprintf(p, "%c", *s);
	strcpy(p, "'");
	return out;
}

/*
 * The page names private files: it is made 0600 (scp it as its owner), and
 * a symbolic link in its place (in /tmp, by another user) is refused, not
 * followed.  NULL with errno set.
 */
static FILE *open_output(const char *path)
{
	FILE *out;
	int fd;

	if (!path)
		return stdout;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return NULL;
	out = fdopen(fd, "w");
	if (!out) {
		int err = errno;
		close(fd);
		errno = err;
	}
	return out;
}

static int write_page(const struct review_options *opts, struct review_page *page,
		      size_t *bytes)
{
	char *path = admin_get_path(opts->request, "output");
	FILE *out = open_output(path);
	int err;

	if (!out) {
		err = errno;
		fprintf(stderr, "mediactl: review: cannot write '%s': %s\n", print_esc(path),
			strerror(err));
		free(path);
		return EXIT_REFUSED;
	}
	err = review_html_write(out, page);
	long end = ftell(out);

	*bytes = end > 0 ? (size_t)end : 0;
	if (out == stdout) {
		if (fflush(out) != 0 && !err)
			err = -errno;
	} else if (fclose(out) != 0 && !err) {
		err = -errno;
	}
	if (err)
		fprintf(stderr, "mediactl: review: cannot write '%s': %s\n",
			path ? print_esc(path) : "stdout", strerror(-err));
	free(path);
	return err ? EXIT_REFUSED : EXIT_OK;
}

static void report(const struct review_options *opts, const struct review_page *page,
		   size_t bytes, int64_t started_ms)
{
	char size[HUMANIZE_SIZE_BYTES];
	const char *output = print_str(opts->request, "output");
	int64_t took = clock_now_ms() - started_ms;

	if (opts->json) {
		json_t *summary = json_pack("{s:b, s:I, s:I, s:I, s:I, s:I}", "ok", 1,
					    "files", (json_int_t)page->count,
					    "tiles", (json_int_t)page->tiles,
					    "thumbnails", (json_int_t)page->thumbs,
					    "bytes", (json_int_t)bytes, "ms", (json_int_t)took);
		char *text = summary ? json_dumps(summary, JSON_INDENT(2)) : NULL;
		printf("%s\n", text ? text : "{}");
		free(text);
		json_decref(summary);
		return;
	}
	if (!output[0])
		return;
	humanize_size(bytes, size, sizeof(size));
	printf("wrote %s: %zu files, %zu thumbnails, %s, in %.1f s\n", print_esc(output),
	       page->count, page->thumbs, size, (double)took / 1000);
}

int review_run(const struct review_options *opts, const struct review_backend *backend)
{
	struct review_page page = { .now_ms = clock_now_ms() };
	json_t *status = NULL, *answer = NULL, *request = files_request(opts->request), *file;
	char title[128];
	char *target = NULL;
	size_t i, bytes = 0;
	int result = EXIT_REFUSED;

	if (!request)
		return EXIT_USAGE;
	if (!print_str(opts->request, "output")[0] && (isatty(STDOUT_FILENO) || opts->json)) {
		json_decref(request);
		return say(EXIT_USAGE, "name the page's file with -o FILE", NULL);
	}
	status = ask_ok(backend, json_pack("{s:s}", "command", "status"));
	if (status)
		answer = ask_ok(backend, request);
	else
		json_decref(request);
	target = target_option(opts);
	if (!answer || !target)
		goto out;
	page.status = status;
	page.scan = json_object_get(answer, "scan");
	page.target = target;
	page.grace_ms = json_integer_value(json_object_get(json_object_get(status, "settings"),
							    "grace_ms"));
	if (page.scan) {
		bool held = !strcmp(print_str(page.scan, "status"), "held");
		snprintf(title, sizeof(title), "%s %lld", held ? "Held scan" : "Scan",
			 (long long)json_integer_value(json_object_get(page.scan, "id")));
	} else {
		snprintf(title, sizeof(title), "The quarantine");
	}
	page.title = title;
	page.files = calloc(json_array_size(json_object_get(answer, "files")) + 1,
			    sizeof(*page.files));
	if (!page.files) {
		say(0, "out of memory", NULL);
		goto out;
	}
	json_array_foreach(json_object_get(answer, "files"), i, file) {
		if (file_from_json(&page.files[page.count++], file) != 0) {
			say(0, "out of memory", NULL);
			goto out;
		}
		page.quarantined |= !strcmp(page.files[i].state, "quarantined");
	}
	qsort(page.files, page.count, sizeof(*page.files), compare_files);
	page.tiles = page.count < REVIEW_TILE_LIMIT ? page.count : REVIEW_TILE_LIMIT;
	page.thumbs = make_thumbnails(opts, backend, &page);
	result = write_page(opts, &page, &bytes);
	if (result == EXIT_OK)
		report(opts, &page, bytes, page.now_ms);
out:
	for (i = 0; i < page.count; i++)
		file_clear(&page.files[i]);
	free(page.files);
	free(target);
	json_decref(answer);
	json_decref(status);
	return result;
}
