/*
 * reload: the configuration applied again without unmounting (reload.h).
 */
#include "reload.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "options.h"
#include "checker.h"
#include "ctl.h"
#include "log.h"

enum {
	/* A scan in progress finishes first; past this the answer says the
	 * settings apply when it ends. */
	RELOAD_WAIT_MS = 30000,
	CHANGES_BYTES = 1024,
};

struct reload {
	struct mediafs *fs;		/* immutable */
	struct daemon_options *opts;	/* opts->config guarded by lock */
	pthread_mutex_t lock;		/* one reload at a time */
	bool stopped;			/* guarded by lock */
	int signal_fd;			/* SIGHUP; immutable */
	int stop_fd;			/* eventfd; immutable */
	pthread_t thread;
	bool thread_done;		/* main thread only */
};

/* ------------------------------------------------------------------ */
/* What changed                                                         */
/* ------------------------------------------------------------------ */

struct changes {
	char text[CHANGES_BYTES];
	size_t used;
};

static void changed(struct changes *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void changed(struct changes *c, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (c->used >= sizeof(c->text) - 1)
		return;
	if (c->used)
		c->used += (size_t)snprintf(c->text + c->used, sizeof(c->text) - c->used, ", ");
	if (c->used >= sizeof(c->text) - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(c->text + c->used, sizeof(c->text) - c->used, fmt, ap);
	va_end(ap);
	if (n > 0)
		c->used += (size_t)n;
	if (c->used > sizeof(c->text) - 1)
		c->used = sizeof(c->text) - 1;
}

static bool same_string(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool same_strings(char *const *a, size_t a_count, char *const *b, size_t b_count)
{
	if (a_count != b_count)
		return false;
	for (size_t i = 0; i < a_count; i++)
		if (!same_string(a[i], b[i]))
			return false;
	return true;
}

static bool same_source(const struct config_source *a, const struct config_source *b)
{
	if (!same_string(a->url, b->url) || !same_string(a->query, b->query) ||
	    a->column_count != b->column_count ||
	    !same_strings(a->strip_prefixes, a->strip_prefix_count, b->strip_prefixes,
			  b->strip_prefix_count))
		return false;
	for (size_t i = 0; i < a->column_count; i++) {
		const struct source_column *x = &a->columns[i], *y = &b->columns[i];
		if (!same_string(x->database, y->database) || !same_string(x->schema, y->schema) ||
		    !same_string(x->table, y->table) || !same_string(x->column, y->column))
			return false;
	}
	return true;
}

static const struct config_source *find_source(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->source_count; i++)
		if (strcmp(cfg->sources[i].name, name) == 0)
			return &cfg->sources[i];
	return NULL;
}

/* The [mediafs] keys and the sources that differ, by name. */
static void describe_changes(const struct config *old, const struct config *next,
			     struct changes *c)
{
	const struct config_settings *a = &old->settings, *b = &next->settings;

	if (a->interval_ms != b->interval_ms)
		changed(c, "interval");
	if (a->min_age_ms != b->min_age_ms)
		changed(c, "min_age");
	if (a->grace_ms != b->grace_ms)
		changed(c, "grace");
	if (a->max_fraction != b->max_fraction)
		changed(c, "max_fraction");
	if (a->hold_min_files != b->hold_min_files)
		changed(c, "hold_min_files");
	if (a->temp_max_age_ms != b->temp_max_age_ms)
		changed(c, "temp_max_age");
	if (a->restore_on_access != b->restore_on_access)
		changed(c, "restore_on_access");
	if (a->dry_run != b->dry_run)
		changed(c, "dry_run (now %s)", b->dry_run ? "yes" : "no");
	if (!same_strings(a->exclude, a->exclude_count, b->exclude, b->exclude_count))
		changed(c, "exclude");
	if (strcmp(a->metrics_file, b->metrics_file) != 0)
		changed(c, "metrics_file");
	for (size_t i = 0; i < next->source_count; i++) {
		const struct config_source *was = find_source(old, next->sources[i].name);
		if (!was)
			changed(c, "source '%s' added", next->sources[i].name);
		else if (!same_source(was, &next->sources[i]))
			changed(c, "source '%s' changed", next->sources[i].name);
	}
	for (size_t i = 0; i < old->source_count; i++)
		if (!find_source(next, old->sources[i].name))
			changed(c, "source '%s' removed", old->sources[i].name);
}

/* ------------------------------------------------------------------ */
/* Reloading                                                            */
/* ------------------------------------------------------------------ */

static const char MOUNT_OPTIONS_NOTE[] =
	"mount options (timeouts, writeback, splice, inode_fds, log_level, allow_other) "
	"change only at the next mount";

int reload_now(struct reload *reload, char *message, size_t size)
{
	struct mediafs *fs = reload->fs;
	const char *path = reload->opts->config_path ? reload->opts->config_path : "(no file)";
	char error[CONFIG_ERROR_BYTES + 64];
	struct changes c = { .used = 0 };
	struct config next;
	int err;

	config_init_defaults(&next);
	pthread_mutex_lock(&reload->lock);
	if (reload->stopped) {
		snprintf(message, size, "the daemon is stopping: nothing is reloaded");
		err = -ESHUTDOWN;
		goto out_unlock;
	}
	err = options_load_config(reload->opts, &next, error, sizeof(error));
	if (err) {
		snprintf(message, size, "the configuration was not reloaded, the running one "
			 "stays: %s", error);
		log_error("%s", message);
		goto out_unlock;
	}
	describe_changes(&reload->opts->config, &next, &c);
	/* The mount's own settings: read by FUSE workers, stored atomically. */
	atomic_store(&fs->settings.restore_on_access, next.settings.restore_on_access);
	atomic_store(&fs->settings.temp_max_age_ms, next.settings.temp_max_age_ms);
	if (fs->ctl)
		err = ctl_set_config(fs->ctl, &next);
	if (!err && fs->checker)
		err = checker_reload(fs->checker, &next, RELOAD_WAIT_MS);
	if (err == -ETIMEDOUT) {
		snprintf(message, size, "reloaded '%s' (%s); the checker is busy with a scan and "
			 "takes the new settings when it ends; %s", path,
			 c.used ? c.text : "nothing changed", MOUNT_OPTIONS_NOTE);
	} else if (err) {
		snprintf(message, size, "the configuration could not be applied: %s; the running "
			 "one stays", strerror(-err));
		log_error("%s", message);
		goto out_unlock;
	} else {
		snprintf(message, size, "reloaded '%s': %s; %s", path,
			 c.used ? c.text : "nothing changed", MOUNT_OPTIONS_NOTE);
	}
	config_free(&reload->opts->config);
	reload->opts->config = next;
	config_init_defaults(&next);
	log_info("%s", message);
out_unlock:
	pthread_mutex_unlock(&reload->lock);
	config_free(&next);
	return err == -ETIMEDOUT ? 0 : err;
}

/* ------------------------------------------------------------------ */
/* The thread                                                           */
/* ------------------------------------------------------------------ */

static void *reload_main(void *arg)
{
	struct reload *reload = arg;
	struct pollfd fds[2] = {
		{ .fd = reload->signal_fd, .events = POLLIN },
		{ .fd = reload->stop_fd, .events = POLLIN },
	};
	char message[RELOAD_MESSAGE_BYTES];

	for (;;) {
		struct signalfd_siginfo info;

		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_error("the reload thread stops: poll: %s", strerror(errno));
			return NULL;
		}
		if (fds[1].revents)
			return NULL;
		if (read(reload->signal_fd, &info, sizeof(info)) != sizeof(info))
			continue;
		log_info("SIGHUP from pid %u: reloading the configuration", info.ssi_pid);
		/* reload_now() logs its outcome. */
		reload_now(reload, message, sizeof(message));
	}
}

int reload_start(struct mediafs *fs, struct daemon_options *opts, struct reload **out)
{
	struct reload *reload = calloc(1, sizeof(*reload));
	sigset_t hup;
	int err;

	if (!reload)
		return -ENOMEM;
	reload->fs = fs;
	reload->opts = opts;
	reload->signal_fd = reload->stop_fd = -1;
	pthread_mutex_init(&reload->lock, NULL);
	sigemptyset(&hup);
	sigaddset(&hup, SIGHUP);
	/* Every thread started from here on inherits the mask: SIGHUP is
	 * only ever read from the signalfd. */
	err = -pthread_sigmask(SIG_BLOCK, &hup, NULL);
	if (!err) {
		reload->signal_fd = signalfd(-1, &hup, SFD_CLOEXEC);
		reload->stop_fd = eventfd(0, EFD_CLOEXEC);
		if (reload->signal_fd < 0 || reload->stop_fd < 0)
			err = -errno;
	}
	if (!err)
		err = -pthread_create(&reload->thread, NULL, reload_main, reload);
	if (err) {
		if (reload->signal_fd >= 0)
			close(reload->signal_fd);
		if (reload->stop_fd >= 0)
			close(reload->stop_fd);
		pthread_mutex_destroy(&reload->lock);
		free(reload);
		return err;
	}
	*out = reload;
	return 0;
}

void reload_stop(struct reload *reload)
{
	uint64_t one = 1;

	if (!reload)
		return;
	/* Waits for a reload in progress; later ones are refused. */
	pthread_mutex_lock(&reload->lock);
	reload->stopped = true;
	pthread_mutex_unlock(&reload->lock);
	if (write(reload->stop_fd, &one, sizeof(one)) != sizeof(one)) {
		/* An eventfd write of 1 cannot fail; if it did, the thread
		 * would outlive the struct: keep it. */
		log_error("cannot stop the reload thread: %s", strerror(errno));
		return;
	}
	pthread_join(reload->thread, NULL);
	reload->thread_done = true;
}

void reload_free(struct reload *reload)
{
	if (!reload || !reload->thread_done)
		return;
	close(reload->signal_fd);
	close(reload->stop_fd);
	pthread_mutex_destroy(&reload->lock);
	free(reload);
}
