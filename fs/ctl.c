/*
 * ctl: an accept thread and one detached worker thread per connection,
 * counted so that ctl_stop() can wait for them.
 *
 * Nobody can starve the socket: at most MAX_CONNECTIONS are served at
 * once, a client beyond that gets a refusal line and a close, and a
 * connection that leaves a request unfinished, or does not read its
 * answer, for the idle timeout is closed.  Every send uses MSG_NOSIGNAL: a
 * client that went away is EPIPE, never a SIGPIPE that kills the daemon.
 */
#include "ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "admin_review.h"
#include "checker.h"
#include "ctladdr.h"
#include "duration.h"
#include "events.h"
#include "grow.h"
#include "log.h"
#include "mount_hooks.h"
#include "pathmap.h"
#include "reload.h"
#include "safekeep.h"

enum {
	MAX_CONNECTIONS = 16,
	MAX_REQUEST_BYTES = 1 << 20,
	SCAN_TIMEOUT_MS = 30 * 60 * 1000,
	DEFAULT_IDLE_TIMEOUT_MS = 60 * 1000,
};

/*
 * The configuration that requests see, replaced whole on a reload: each
 * request holds a reference for its length, so a reload never changes one
 * under a request that is reading it.
 */
struct shared_config {
	struct config config;		/* immutable */
	unsigned refs;			/* guarded by ctl->lock */
};

/* Tests shorten the idle timeout through the environment (a duration). */
#define IDLE_TIMEOUT_ENV "MEDIAFS_CONTROL_IDLE_TIMEOUT"

struct ctl {
	struct mediafs *fs;		/* immutable */
	struct shared_config *config;	/* guarded by lock */
	char *mountpoint;		/* immutable */
	char *catalog_path;		/* immutable */
	char socket_path[108];		/* immutable */
	char info_path[PATH_MAX];	/* immutable */
	int listen_fd;
	int stop_pipe[2];
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t idle;
	int64_t idle_timeout_ms;	/* immutable */
	struct log_ratelimit refusals;	/* for the log of refused clients */
	int connections;		/* guarded by lock */
	int fds[MAX_CONNECTIONS];	/* guarded by lock; -1 when free */
};

struct connection {
	struct ctl *ctl;
	int fd;
};

/* ------------------------------------------------------------------ */
/* The daemon's hooks for admin.c                                       */
/* ------------------------------------------------------------------ */

static void hook_sync(void *daemon)
{
	struct mediafs *fs = daemon;

	events_flush(fs->events);
}

static void hook_restored(void *daemon, const char *path, const char *qname)
{
	struct mediafs *fs = daemon;

	safekeep_index_remove(fs, path, qname);
	mount_hooks_invalidate_path(fs, path);
}

static void hook_purged(void *daemon, const char *path, const char *qname)
{
	struct mediafs *fs = daemon;

	safekeep_index_remove(fs, path, qname);
}

/* An admin's purge goes through the checker's gate (inode.h). */
static int hook_purge_begin(void *daemon, const struct stat *st)
{
	struct mediafs *fs = daemon;

	return inode_gate_enter(&fs->inodes, st->st_dev, st->st_ino);
}

static void hook_purge_end(void *daemon, bool purged)
{
	struct mediafs *fs = daemon;

	inode_gate_leave(&fs->inodes, purged);
}

static int hook_scan(void *daemon, bool dry_run, struct catalog_scan *out)
{
	struct mediafs *fs = daemon;

	return checker_scan_now(fs->checker, dry_run, SCAN_TIMEOUT_MS, out);
}

static int hook_decide(void *daemon, int64_t scan_id, bool confirm, struct catalog_scan *out)
{
	struct mediafs *fs = daemon;

	return checker_decide(fs->checker, scan_id, confirm, SCAN_TIMEOUT_MS, out);
}

/* Files a scan quarantined that lookups keep asking for (safekeep.h). */
static void add_requested_alarm(struct mediafs *fs, json_t *alarms)
{
	struct safekeep_requests *req = malloc(sizeof(*req));
	char message[256];
	json_t *alarm, *paths;

	if (!req)
		return;
	safekeep_get_requests(fs, req);
	if (req->files == 0) {
		free(req);
		return;
	}
	snprintf(message, sizeof(message),
		 "%llu file%s requested while quarantined (%llu lookups refused): "
		 "a column may be missing from the configuration; restore with --pin what "
		 "must stay, the rest is purged after grace",
		 (unsigned long long)req->files, req->files == 1 ? "" : "s",
		 (unsigned long long)req->requests);
	paths = json_array();
	for (size_t i = 0; i < req->example_count; i++) {
		json_t *item = json_object();
		admin_set_path(item, "path", req->examples[i]);
		json_array_append_new(paths, item);
	}
	alarm = json_pack("{s:s, s:s, s:I, s:I, s:o}", "kind", "requested", "message", message,
			  "files", (json_int_t)req->files, "requests", (json_int_t)req->requests,
			  "paths", paths);
	if (alarm)
		json_array_append_new(alarms, alarm);
	free(req);
}

void ctl_add_daemon_status(void *daemon, json_t *status)
{
	struct mediafs *fs = daemon;
	struct checker_status checker;
	struct events_status events;
	json_t *alarms = json_object_get(status, "alarms");

	checker_get_status(fs->checker, &checker);
	events_get_status(fs->events, &events);
	json_object_set_new(status, "pid", json_integer(getpid()));
	json_object_set_new(status, "version", json_string(MEDIAFS_VERSION));
	json_object_set_new(status, "scanning", json_boolean(checker.scanning));
	if (checker.phase != CHECKER_PHASE_NONE)
		json_object_set_new(status, "scan_progress",
				    json_pack("{s:s, s:I, s:I}",
					      "phase", checker_phase_name(checker.phase),
					      "done", (json_int_t)checker.phase_done,
					      "total", (json_int_t)checker.phase_total));
	json_object_set_new(status, "next_scan_ms", json_integer(checker.next_scan_ms));
	json_object_set_new(status, "restores_by_access",
			    json_integer((json_int_t)atomic_load(&fs->restores_by_access)));
	const char *error_names[MEDIAFS_ERROR_KINDS];
	uint64_t error_counts[MEDIAFS_ERROR_KINDS];
	size_t kinds = mount_hooks_error_counts(fs, error_names, error_counts,
						MEDIAFS_ERROR_KINDS);
	json_t *errors = json_object();
	for (size_t k = 0; errors && k < kinds; k++)
		json_object_set_new(errors, error_names[k], json_integer((json_int_t)error_counts[k]));
	json_object_set_new(status, "data_path_errors", errors);
	json_t *source;
	size_t i;
	json_array_foreach(json_object_get(status, "sources"), i, source)
		json_object_set_new(source, "references",
				    json_integer((json_int_t)checker_source_references(fs->checker, i)));
	json_object_set_new(status, "events",
			    json_pack("{s:I, s:I, s:I, s:b, s:b, s:I}",
				      "emitted", (json_int_t)events.emitted,
				      "committed", (json_int_t)events.committed,
				      "dropped", (json_int_t)events.dropped,
				      "adopting", events.adopting,
				      "adoption_done", events.adoption_done,
				      "adoption_files", (json_int_t)events.adoption_files));
	if (checker.source_errors[0]) {
		json_array_append_new(alarms, json_pack("{s:s, s:s}", "kind", "source",
							 "message", checker.source_errors));
		json_object_set_new(status, "source_errors", json_string(checker.source_errors));
	}
	if (checker.held)
		json_array_append_new(alarms, json_pack(
			"{s:s, s:s}", "kind", "held",
			"message", "a scan is held: confirm or reject it"));
	add_requested_alarm(fs, alarms);
	if (events.catalog_behind)
		json_array_append_new(alarms, json_pack(
			"{s:s, s:s}", "kind", "catalog",
			"message", "changes could not be recorded in the catalog (see the log); "
				   "an adoption walk will reconcile it with the disk"));
}

/* ------------------------------------------------------------------ */
/* Connections                                                          */
/* ------------------------------------------------------------------ */

static bool peer_allowed(int fd, uid_t *uid)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
		return false;
	*uid = cred.uid;
	return cred.uid == 0 || cred.uid == geteuid();
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int send_json(int fd, json_t *response)
{
	char *text = json_dumps(response, JSON_COMPACT);
	int ret = -1;

	if (text) {
		ret = write_all(fd, text, strlen(text));
		if (!ret)
			ret = write_all(fd, "\n", 1);
		free(text);
	}
	return ret;
}

static int64_t monotonic_ms(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/*
 * Read one line (without the newline) into a growing buffer; returns its
 * length, -1 at the end, or -ETIMEDOUT when the whole line did not come
 * within timeout_ms (a client sending a byte now and then gains nothing).
 * The last line may come without a newline.  The line is NUL-terminated
 * but may hold NUL bytes: use the length.
 */
static ssize_t read_line(int fd, int64_t timeout_ms, char **buf, size_t *cap)
{
	int64_t deadline = monotonic_ms() + timeout_ms;
	size_t len = 0;

	for (;;) {
		char c;
		ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd p = { .fd = fd, .events = POLLIN };
			int64_t left = deadline - monotonic_ms();
			if (left <= 0)
				return -ETIMEDOUT;
			if (poll(&p, 1, left < INT_MAX ? (int)left : INT_MAX) < 0 &&
			    errno != EINTR)
				return -1;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 && len == 0)
			return -1;
		/* Room for c and the NUL, even for an empty line. */
		if (len + 2 > *cap) {
			char *grown;
			if (len + 2 > MAX_REQUEST_BYTES)
				return -1;
			grown = grow_array(*buf, cap, len + 2, 1, 4096);
			if (!grown)
				return -1;
			*buf = grown;
		}
		if (n <= 0 || c == '\n')
			break;
		(*buf)[len++] = c;
	}
	(*buf)[len] = '\0';
	return (ssize_t)len;
}

static struct shared_config *config_get(struct ctl *ctl)
{
	struct shared_config *shared;

	pthread_mutex_lock(&ctl->lock);
	shared = ctl->config;
	shared->refs++;
	pthread_mutex_unlock(&ctl->lock);
	return shared;
}

static void config_put(struct ctl *ctl, struct shared_config *shared)
{
	bool last;

	pthread_mutex_lock(&ctl->lock);
	last = --shared->refs == 0;
	pthread_mutex_unlock(&ctl->lock);
	if (last) {
		config_free(&shared->config);
		free(shared);
	}
}

static struct shared_config *config_share(const struct config *cfg)
{
	struct shared_config *shared = calloc(1, sizeof(*shared));

	if (!shared)
		return NULL;
	if (config_copy(&shared->config, cfg) != 0) {
		free(shared);
		return NULL;
	}
	shared->refs = 1;
	return shared;
}

int ctl_set_config(struct ctl *ctl, const struct config *cfg)
{
	struct shared_config *next = config_share(cfg), *old;

	if (!next)
		return -ENOMEM;
	pthread_mutex_lock(&ctl->lock);
	old = ctl->config;
	ctl->config = next;
	pthread_mutex_unlock(&ctl->lock);
	config_put(ctl, old);
	return 0;
}

static int hook_unreferenced(void *daemon, int64_t **ids, size_t *count,
			     struct catalog_scan *out)
{
	struct mediafs *fs = daemon;

	return checker_list_unreferenced(fs->checker, SCAN_TIMEOUT_MS, ids, count, out);
}

static int hook_reload(void *daemon, char *message, size_t size)
{
	struct mediafs *fs = daemon;

	return reload_now(fs->reload, message, size);
}

/* A failure line for a client we are about to close; never blocks. */
static void send_farewell(int fd, const char *kind, const char *message)
{
	json_t *line = json_pack("{s:b, s:s, s:s}", "ok", 0, "kind", kind, "error", message);
	char *text = line ? json_dumps(line, JSON_COMPACT) : NULL;

	if (text) {
		size_t len = strlen(text);
		text[len] = '\n';
		/* The socket's buffer is empty: one short line fits. */
		if (send(fd, text, len + 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
			log_debug("control socket: cannot send '%s': %s", message,
				  strerror(errno));
		text[len] = '\0';
	}
	free(text);
	json_decref(line);
}

static void serve(struct ctl *ctl, int fd)
{
	char error[1024], *line = NULL;
	size_t cap = 0;
	ssize_t len;
	struct admin_context admin = {
		.store = &ctl->fs->store,
		.quarantine = &ctl->fs->quarantine,
		.daemon = ctl->fs,
		.reload = hook_reload,
		.unreferenced = hook_unreferenced,
		.sync = hook_sync,
		.on_restored = hook_restored,
		.on_purged = hook_purged,
		.purge_begin = hook_purge_begin,
		.purge_end = hook_purge_end,
		.scan = hook_scan,
		.decide = hook_decide,
		.add_status = ctl_add_daemon_status,
	};
	uid_t uid = 0;

	if (!peer_allowed(fd, &uid)) {
		json_t *refusal = json_pack("{s:b, s:s, s:s}", "ok", 0, "kind", "refused", "error",
					    "permission denied: only root and the mount's owner may "
					    "control it");
		send_json(fd, refusal);
		json_decref(refusal);
		log_warn("control socket: refused uid %u", (unsigned)uid);
		return;
	}
	if (catalog_open(ctl->catalog_path, false, &admin.cat, error, sizeof(error)) != 0) {
		json_t *failed = json_pack("{s:b, s:s, s:s}", "ok", 0, "kind", "failed", "error",
					   error);
		send_json(fd, failed);
		json_decref(failed);
		return;
	}
	while ((len = read_line(fd, ctl->idle_timeout_ms, &line, &cap)) >= 0) {
		/* mediactl review's requests answer with a descriptor. */
		int review = admin_review_serve(&admin, fd, line, (size_t)len);
		if (review != 0) {
			if (review < 0)
				break;
			continue;
		}
		json_t *response = NULL;
		json_t *request = admin_parse_request(line, (size_t)len, &response);

		if (request) {
			struct shared_config *shared = config_get(ctl);
			admin.config = &shared->config;
			response = admin_execute(&admin, request);
			admin.config = NULL;
			config_put(ctl, shared);
		}
		int sent = response ? send_json(fd, response) : -1;
		log_debug("control: %s -> %s", request ? json_string_value(json_object_get(
						   request, "command")) : "(refused)",
			  json_is_true(json_object_get(response, "ok")) ? "ok" : "refused");
		json_decref(request);
		json_decref(response);
		if (sent != 0)
			break;
	}
	if (len == -ETIMEDOUT) {
		char message[128], span[DURATION_TEXT_BYTES];
		duration_format(ctl->idle_timeout_ms, span, sizeof(span));
		snprintf(message, sizeof(message), "no request within %s: connection closed",
			 span);
		send_farewell(fd, "refused", message);
		log_debug("control socket: closed a connection idle for %s", span);
	}
	free(line);
	catalog_close(admin.cat);
}

/* A connection ends: its slot is free (ctl_stop waits for all) and fd closed. */
static void release_slot(struct ctl *ctl, int fd)
{
	pthread_mutex_lock(&ctl->lock);
	for (int i = 0; i < MAX_CONNECTIONS; i++)
		if (ctl->fds[i] == fd)
			ctl->fds[i] = -1;
	ctl->connections--;
	pthread_cond_broadcast(&ctl->idle);
	pthread_mutex_unlock(&ctl->lock);
	close(fd);
}

static void *connection_main(void *arg)
{
	struct connection *conn = arg;

	serve(conn->ctl, conn->fd);
	release_slot(conn->ctl, conn->fd);
	free(conn);
	return NULL;
}

/*
 * A client beyond MAX_CONNECTIONS: tell it why, then close.  What it sent
 * is read first, so that closing does not reset the connection before it
 * reads the refusal.
 */
static void refuse_busy(struct ctl *ctl, int fd)
{
	char message[256], span[DURATION_TEXT_BYTES], sink[4096];

	duration_format(ctl->idle_timeout_ms, span, sizeof(span));
	snprintf(message, sizeof(message), "the control socket is busy: %d connections are "
		 "open (an idle one is closed after %s); try again", MAX_CONNECTIONS, span);
	send_farewell(fd, "refused", message);
	shutdown(fd, SHUT_WR);
	while (recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0)
		;
	close(fd);
	log_write_limited(&ctl->refusals, LOG_REPEAT_INTERVAL_MS, LOG_LEVEL_WARN,
			  "control socket: refused a client: %d connections are open",
			  MAX_CONNECTIONS);
}

static void accept_one(struct ctl *ctl)
{
	struct connection *conn;
	pthread_attr_t attr;
	pthread_t thread;
	int fd = accept4(ctl->listen_fd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return;
	pthread_mutex_lock(&ctl->lock);
	bool full = ctl->connections >= MAX_CONNECTIONS;
	if (!full) {
		ctl->connections++;
		for (int i = 0; i < MAX_CONNECTIONS; i++) {
			if (ctl->fds[i] < 0) {
				ctl->fds[i] = fd;
				break;
			}
		}
	}
	pthread_mutex_unlock(&ctl->lock);
	if (full) {
		refuse_busy(ctl, fd);
		return;
	}
	/* A client that does not read its answer holds its thread no longer
	 * than one that sends nothing. */
	struct timeval send_timeout = {
		.tv_sec = ctl->idle_timeout_ms / 1000,
		.tv_usec = (ctl->idle_timeout_ms % 1000) * 1000,
	};
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof(send_timeout)) != 0)
		log_warn("control socket: cannot set a send timeout: %s", strerror(errno));
	conn = malloc(sizeof(*conn));
	if (!conn) {
		release_slot(ctl, fd);
		return;
	}
	conn->ctl = ctl;
	conn->fd = fd;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&thread, &attr, connection_main, conn) != 0) {
		release_slot(ctl, fd);
		free(conn);
	}
	pthread_attr_destroy(&attr);
}

static void *accept_main(void *arg)
{
	struct ctl *ctl = arg;
	struct pollfd fds[2] = {
		{ .fd = ctl->listen_fd, .events = POLLIN },
		{ .fd = ctl->stop_pipe[0], .events = POLLIN },
	};

	for (;;) {
		if (poll(fds, 2, -1) < 0 && errno != EINTR)
			break;
		if (fds[1].revents)
			break;
		if (fds[0].revents & POLLIN)
			accept_one(ctl);
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Start and stop                                                       */
/* ------------------------------------------------------------------ */

static int write_info(struct ctl *ctl)
{
	json_t *info = json_pack("{s:s, s:s, s:i, s:s}", "mountpoint", ctl->mountpoint,
				 "backing", ctl->fs->store.root_path[0] ? ctl->fs->store.root_path : "/",
				 "pid", (int)getpid(), "socket", ctl->socket_path);
	int ret = -1;
	/* The daemon runs with umask 0: the file's mode is set here. */
	int fd = open(ctl->info_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);

	if (info && fd >= 0 && fchmod(fd, 0644) == 0)
		ret = json_dumpfd(info, fd, JSON_INDENT(2));
	if (fd >= 0)
		close(fd);

	json_decref(info);
	return ret;
}

/* Is a live daemon answering on path? */
static bool socket_answers(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool answers;

	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	answers = fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0;
	if (fd >= 0)
		close(fd);
	return answers;
}

static int listen_at(struct ctl *ctl, char *error, size_t error_size)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	char dir[256];
	mode_t old_mask;

	struct stat st;

	if (ctladdr_runtime_dir(dir, sizeof(dir)) != 0 ||
	    (mkdir(dir, geteuid() == 0 ? 0755 : 0700) != 0 && errno != EEXIST)) {
		snprintf(error, error_size, "cannot create '%s': %s", dir, strerror(errno));
		return -errno;
	}
	/* Someone else's directory (or a link to one) could swap the socket
	 * for their own: it must be ours and writable by nobody else. */
	if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 022)) {
		snprintf(error, error_size, "'%s' is not a directory of ours that only we may "
			 "write; remove it or set MEDIAFS_RUNTIME_DIR", dir);
		return -EPERM;
	}
	if (socket_answers(ctl->socket_path)) {
		snprintf(error, error_size, "'%s' is served by another mediafs", ctl->socket_path);
		return -EADDRINUSE;
	}
	unlink(ctl->socket_path);	/* left by a daemon that was killed */
	ctl->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (ctl->listen_fd < 0)
		goto out_errno;
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", ctl->socket_path);
	old_mask = umask(0177);
	int res = bind(ctl->listen_fd, (struct sockaddr *)&addr, sizeof(addr));
	umask(old_mask);
	if (res != 0 || chmod(ctl->socket_path, 0600) != 0 || listen(ctl->listen_fd, 16) != 0)
		goto out_errno;
	write_info(ctl);
	return 0;

out_errno:
	snprintf(error, error_size, "cannot listen on '%s': %s", ctl->socket_path,
		 strerror(errno));
	return -errno;
}

int ctl_start(struct mediafs *fs, const struct config *cfg, const char *mountpoint,
	      const char *catalog_path, struct ctl **out, char *error, size_t error_size)
{
	const char *timeout = getenv(IDLE_TIMEOUT_ENV);
	int64_t idle_timeout_ms = DEFAULT_IDLE_TIMEOUT_MS;
	struct ctl *ctl;
	int err;

	/* Checked before anything is made, so a bad value leaks nothing. */
	if (timeout && (duration_parse(timeout, &idle_timeout_ms) != 0 || idle_timeout_ms <= 0)) {
		snprintf(error, error_size, "%s='%s' is not a duration (e.g. 30s, 10m)",
			 IDLE_TIMEOUT_ENV, timeout);
		return -EINVAL;
	}
	ctl = calloc(1, sizeof(*ctl));
	if (!ctl)
		return -ENOMEM;
	ctl->fs = fs;
	ctl->config = config_share(cfg);
	if (!ctl->config) {
		free(ctl);
		return -ENOMEM;
	}
	ctl->listen_fd = -1;
	ctl->stop_pipe[0] = ctl->stop_pipe[1] = -1;
	for (int i = 0; i < MAX_CONNECTIONS; i++)
		ctl->fds[i] = -1;
	pthread_mutex_init(&ctl->lock, NULL);
	pthread_cond_init(&ctl->idle, NULL);
	ctl->idle_timeout_ms = idle_timeout_ms;
	ctl->mountpoint = strdup(mountpoint);
	ctl->catalog_path = strdup(catalog_path);
	err = ctl->mountpoint && ctl->catalog_path ? 0 : -ENOMEM;
	if (!err)
		err = ctladdr_for_mount(mountpoint, ctl->socket_path, sizeof(ctl->socket_path),
					ctl->info_path, sizeof(ctl->info_path));
	if (!err)
		err = listen_at(ctl, error, error_size);
	if (!err && pipe2(ctl->stop_pipe, O_CLOEXEC) != 0)
		err = -errno;
	if (!err)
		err = -pthread_create(&ctl->thread, NULL, accept_main, ctl);
	if (err) {
		if (ctl->listen_fd >= 0) {
			close(ctl->listen_fd);
			unlink(ctl->socket_path);
			unlink(ctl->info_path);
		}
		for (int i = 0; i < 2; i++)
			if (ctl->stop_pipe[i] >= 0)
				close(ctl->stop_pipe[i]);
		free(ctl->mountpoint);
		free(ctl->catalog_path);
		config_put(ctl, ctl->config);
		pthread_cond_destroy(&ctl->idle);
		pthread_mutex_destroy(&ctl->lock);
		free(ctl);
		return err;
	}
	*out = ctl;
	return 0;
}

void ctl_stop(struct ctl *ctl)
{
	if (!ctl)
		return;
	if (write(ctl->stop_pipe[1], "x", 1) < 0)
		log_warn("control socket: cannot wake the accept thread");
	pthread_join(ctl->thread, NULL);
	close(ctl->listen_fd);
	unlink(ctl->socket_path);
	unlink(ctl->info_path);
	/* Connections may wait for a client or for the checker (which stops
	 * after this): end their sockets, then wait for them. */
	pthread_mutex_lock(&ctl->lock);
	for (int i = 0; i < MAX_CONNECTIONS; i++)
		if (ctl->fds[i] >= 0)
			shutdown(ctl->fds[i], SHUT_RDWR);
	while (ctl->connections > 0)
		pthread_cond_wait(&ctl->idle, &ctl->lock);
	pthread_mutex_unlock(&ctl->lock);
	close(ctl->stop_pipe[0]);
	close(ctl->stop_pipe[1]);
	free(ctl->mountpoint);
	free(ctl->catalog_path);
	config_put(ctl, ctl->config);
	free(ctl);
}
