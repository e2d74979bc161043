/*
 * daemon: main() of mediafs.  Parses the command line, checks it, opens
 * the store, mounts, starts the threads, runs the session loop and tears
 * everything down in the reverse order.
 *
 * Threads: main() runs the session loop; libfuse runs the FUSE workers;
 * events.c runs the catalog writer; checker.c runs the checker.  Threads
 * start after the daemon detaches from its terminal: fork() keeps only the
 * thread that calls it.
 *
 * Lock order (each module keeps its own locks as leaves, except):
 *   fs->dir_lock (checker, for writing) -> inodes.lock
 *   fs->handles_lock -> one of inodes.report_locks -> events->lock
 *   (a write report; the inode gate is a flag under inodes.lock)
 *   checker->lock, events->lock, pathmap locks: never held together.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog.h"
#include "checker.h"
#include "ctl.h"
#include "direct.h"
#include "events.h"
#include "log.h"
#include "mediafs.h"
#include "mount_hooks.h"
#include "ops.h"
#include "options.h"
#include "passthrough.h"
#include "pathmap.h"
#include "preflight.h"
#include "reload.h"
#include "safekeep.h"
#include "source.h"

enum {
	EXIT_USAGE = 2,
	MESSAGE_BYTES = 1024,
	DEFAULT_INODE_FDS = 4096,
};

/* What the checker and the control socket ask of the FUSE layer. */
static const struct mount_hooks kernel_hooks = {
	.invalidate_name = ops_invalidate_name,
	.invalidate_path = ops_invalidate_path,
	.error_counts = ops_error_counts,
};

/* Names and attributes change only through the mount (or the checker,
 * which invalidates), so the kernel may trust them for a while. */
#define DEFAULT_TIMEOUT_S 10.0

static void print_usage(FILE *out)
{
	fprintf(out, "usage: mediafs [options] BACKING MOUNTPOINT\n"
		     "       mediafs --check-config FILE\n");
}

static void print_help(void)
{
	print_usage(stdout);
	printf("\n"
"Mounts BACKING at MOUNTPOINT (which may be the same directory), records\n"
"which files are written through it, and moves files that no database\n"
"column references to a quarantine, purging them after a grace period.\n"
"\n");
	options_print_help();
	fuse_cmdline_help();
	fuse_lowlevel_help();
}

/* mediafs --check-config FILE: validate, connect, check every column. */
static int check_config(const char *path)
{
	char error[CONFIG_ERROR_BYTES];
	struct config cfg;
	int ret;

	config_init_defaults(&cfg);
	if (config_load(&cfg, path, error, sizeof(error)) != 0) {
		fprintf(stderr, "mediafs: %s\n", error);
		return 1;
	}
	printf("%s: settings are valid; %zu source%s\n", path, cfg.source_count,
	       cfg.source_count == 1 ? "" : "s");
	ret = config_check_sources(&cfg, stdout) == 0 ? 0 : 1;
	config_free(&cfg);
	return ret;
}

static void settings_from_options(struct fs_settings *settings,
				  const struct daemon_options *opts)
{
	double base = opts->timeout_s >= 0 ? opts->timeout_s : DEFAULT_TIMEOUT_S;

	settings->entry_timeout_s = opts->entry_timeout_s >= 0 ? opts->entry_timeout_s : base;
	settings->attr_timeout_s = opts->attr_timeout_s >= 0 ? opts->attr_timeout_s : base;
	settings->negative_timeout_s =
		opts->negative_timeout_s >= 0 ? opts->negative_timeout_s : base;
	settings->writeback = opts->writeback == 1;
	settings->splice = opts->splice != 0;
	settings->passthrough = opts->passthrough != 0;
	settings->switch_creds = geteuid() == 0;
	settings->restore_on_access = opts->config.settings.restore_on_access;
	settings->temp_max_age_ms = opts->config.settings.temp_max_age_ms;
}

/* Replace *path with its canonical absolute form.  Returns 0 or -1. */
static int make_absolute(char **path)
{
	char *resolved = realpath(*path, NULL);

	if (!resolved)
		return -1;
	free(*path);
	*path = resolved;
	return 0;
}

/* Half the descriptors for the inode table; the rest for open files,
 * the databases and the sockets. */
static size_t default_inode_fds(void)
{
	struct rlimit lim;

	if (getrlimit(RLIMIT_NOFILE, &lim) < 0 || lim.rlim_cur == RLIM_INFINITY)
		return DEFAULT_INODE_FDS;
	return lim.rlim_cur / 2;
}

/* Every inode the kernel caches may hold a descriptor here. */
static void raise_open_file_limit(void)
{
	struct rlimit lim;

	if (getrlimit(RLIMIT_NOFILE, &lim) < 0)
		return;
	if (geteuid() == 0 && lim.rlim_max < (1u << 20))
		lim.rlim_max = 1u << 20;
	lim.rlim_cur = lim.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &lim) < 0) {
		getrlimit(RLIMIT_NOFILE, &lim);
		lim.rlim_cur = lim.rlim_max;
		setrlimit(RLIMIT_NOFILE, &lim);
	}
}

/* Escape commas so that a path survives as one -o value. */
static char *fsname_option(const char *backing)
{
	size_t len = strlen(backing);
	char *out = malloc(strlen("-ofsname=") + 2 * len + 1);
	char *p;

	if (!out)
		return NULL;
	p = out + sprintf(out, "-ofsname=");
	for (size_t i = 0; i < len; i++) {
		if (backing[i] == ',' || backing[i] == '\\')
			*p++ = '\\';
		*p++ = backing[i];
	}
	*p = '\0';
	return out;
}

/*
 * Open (creating or migrating) the catalog and the quarantine before
 * anything is mounted, so that a broken one is a message on the terminal.
 */
static int prepare_tracking(struct mediafs *fs, char *catalog_path, size_t size)
{
	char error[MESSAGE_BYTES];
	struct catalog *cat;
	int err = store_state_path(&fs->store, CATALOG_FILE_NAME, catalog_path, size);

	if (!err)
		err = catalog_open(catalog_path, true, &cat, error, sizeof(error));
	if (err) {
		fprintf(stderr, "mediafs: cannot open the catalog: %s\n", error);
		return err;
	}
	err = safekeep_open(fs, cat);
	if (err)
		fprintf(stderr, "mediafs: cannot read the catalog: %s (%s)\n",
			catalog_last_error(cat), strerror(-err));
	catalog_close(cat);
	if (err)
		return err;
	err = quarantine_open(&fs->quarantine, &fs->store);
	if (err) {
		fprintf(stderr, "mediafs: cannot open the quarantine in '%s/%s': %s\n",
			fs->store.root_path, STORE_STATE_DIR_NAME, strerror(-err));
		return err;
	}
	fs->quarantined = pathmap_new();
	fs->quarantined_dirs = pathmap_new();
	fs->young_referenced = pathmap_new();
	if (!fs->quarantined || !fs->quarantined_dirs || !fs->young_referenced) {
		fprintf(stderr, "mediafs: out of memory\n");
		return -ENOMEM;
	}
	return 0;
}

/* The catalog writer (with the adoption walk), the checker and the
 * control socket. */
static int start_threads(struct mediafs *fs, const struct config *cfg,
			 const char *mountpoint, const char *catalog_path)
{
	char error[MESSAGE_BYTES];
	int err = events_start(catalog_path, &fs->store, true, &fs->events, error, sizeof(error));

	if (err) {
		log_error("cannot start the catalog writer: %s", error);
		return err;
	}
	err = checker_start(fs, cfg, catalog_path, &fs->checker, error, sizeof(error));
	if (err) {
		log_error("cannot start the checker: %s", error);
		return err;
	}
	err = ctl_start(fs, cfg, mountpoint, catalog_path, &fs->ctl, error, sizeof(error));
	if (err)
		log_error("cannot start the control socket: %s", error);
	return err;
}

static void stop_threads(struct mediafs *fs)
{
	/* No reload from here on; admins' requests wait for the checker,
	 * which flushes events. */
	reload_stop(fs->reload);
	ctl_stop(fs->ctl);
	fs->ctl = NULL;
	reload_free(fs->reload);
	fs->reload = NULL;
	checker_stop(fs->checker);
	fs->checker = NULL;
	events_stop(fs->events);
	fs->events = NULL;
}

/*
 * Leave the terminal, and say once, before leaving it, where the log goes
 * from now on: syslog when a syslog daemon listens, otherwise standard
 * error, kept open across the detach (mounted from fstab on a system
 * without syslog, the lines would otherwise vanish).
 */
static void detach(const char *mountpoint)
{
	int saved_stderr = -1;

	if (log_use_syslog() == 0) {
		fprintf(stderr, "mediafs: '%s' is mounted; the log goes to syslog "
			"(facility daemon, ident mediafs)\n", mountpoint);
	} else {
		fprintf(stderr, "mediafs: '%s' is mounted; no syslog daemon listens on %s, "
			"so the log goes to this standard error\n", mountpoint,
			LOG_SYSLOG_SOCKET);
		saved_stderr = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
	}
	fuse_daemonize(false);
	if (saved_stderr >= 0) {
		/* SIGPIPE is ignored (fuse_set_signal_handlers): a reader that
		 * went away costs lost lines, never the daemon. */
		if (dup2(saved_stderr, STDERR_FILENO) < 0)
			log_warn("cannot keep standard error for the log: %s", strerror(errno));
		close(saved_stderr);
	}
}

static int run_loop(struct mediafs *fs, const struct fuse_cmdline_opts *cmdline)
{
	struct fuse_loop_config *loop_config;
	int ret;

	if (cmdline->singlethread)
		return fuse_session_loop(fs->session);
	loop_config = fuse_loop_cfg_create();
	fuse_loop_cfg_set_clone_fd(loop_config, (unsigned int)cmdline->clone_fd);
	/* UINT_MAX means "not given": keep libfuse's defaults. */
	if (cmdline->max_threads != UINT_MAX)
		fuse_loop_cfg_set_max_threads(loop_config, cmdline->max_threads);
	if (cmdline->max_idle_threads != UINT_MAX)
		fuse_loop_cfg_set_idle_threads(loop_config, cmdline->max_idle_threads);
	ret = fuse_session_loop_mt(fs->session, loop_config);
	fuse_loop_cfg_destroy(loop_config);
	return ret;
}

static int run_session(struct mediafs *fs, struct fuse_args *args,
		       const struct fuse_cmdline_opts *cmdline,
		       struct daemon_options *opts, const char *catalog_path)
{
	struct passthrough *passthrough = NULL;
	struct direct_view direct = { .tree_fd = -1 };
	char why[MESSAGE_BYTES];
	int ret = 1, err;

	fs->session = fuse_session_new(args, &fs_ops, sizeof(fs_ops), fs);
	if (!fs->session)
		return 1;
	if (fuse_set_signal_handlers(fs->session) != 0)
		goto out_destroy;
	/* Before the mount, which may hide BACKING. */
	if (opts->direct &&
	    direct_attach(&direct, fs->store.root_fd,
			  fs->store.root_path[0] ? fs->store.root_path : "/", opts->direct,
			  opts->mountpoint, why, sizeof(why)) != 0) {
		log_error("%s", why);
		goto out_remove_handlers;
	}
	if (fuse_session_mount(fs->session, opts->mountpoint) != 0) {
		log_error("cannot mount '%s' (see the message above)", opts->mountpoint);
		goto out_remove_handlers;
	}
	log_info("mounted '%s' on '%s'", fs->store.root_path[0] ? fs->store.root_path : "/",
		 opts->mountpoint);
	/* Before the loop reads INIT: the kernel's offer decides the rest. */
	passthrough = calloc(1, sizeof(*passthrough));
	err = passthrough ? passthrough_attach(passthrough, fs->session,
					       fs->settings.passthrough) : -ENOMEM;
	if (err)
		log_warn("passthrough is off: cannot watch the INIT exchange: %s",
			 strerror(-err));
	else
		fs->passthrough = passthrough;
	if (fs->passthrough) {
		fs->inodes.backing_close = passthrough_backing_forget;
		fs->inodes.backing_ctx = fs->passthrough;
	}
	if (!cmdline->foreground)
		detach(opts->mountpoint);
	else
		fuse_daemonize(true);
	/* Before any other thread: they inherit its blocked SIGHUP. */
	err = opts->notrack ? 0 : reload_start(fs, opts, &fs->reload);
	if (err) {
		log_error("cannot start the reload thread: %s", strerror(-err));
		goto out_stop;
	}
	if (!opts->notrack &&
	    start_threads(fs, &opts->config, opts->mountpoint, catalog_path) != 0)
		goto out_stop;
	ret = run_loop(fs, cmdline);
	/* The loop reports the signal that ended it; that is a clean stop. */
	if (ret == SIGTERM || ret == SIGINT || ret == SIGHUP)
		ret = 0;
out_stop:
	/* Every request has been answered: commit what they reported. */
	ops_close_handles(fs);
	stop_threads(fs);
	fuse_session_unmount(fs->session);
	direct_detach(&direct);
	log_info("unmounted '%s'", opts->mountpoint);
out_remove_handlers:
	direct_detach(&direct);
	fuse_remove_signal_handlers(fs->session);
out_destroy:
	fuse_session_destroy(fs->session);
	fs->session = NULL;
	fs->passthrough = NULL;
	free(passthrough);
	return ret != 0;
}

/* Everything that can fail with a message on the terminal, before mount. */
static int prepare(struct mediafs *fs, struct daemon_options *opts, char *catalog_path,
		   size_t size)
{
	char message[MESSAGE_BYTES];
	int err;

	if (preflight_check(opts->backing, opts->mountpoint, message, sizeof(message))) {
		fprintf(stderr, "mediafs: %s\n", message);
		return -1;
	}
	/* Absolute from here on: the daemon leaves its working directory
	 * when it detaches, and unmounts by this name at the end. */
	if (make_absolute(&opts->mountpoint) != 0 || make_absolute(&opts->backing) != 0) {
		fprintf(stderr, "mediafs: cannot resolve '%s': %s\n", opts->mountpoint,
			strerror(errno));
		return -1;
	}
	err = store_open(&fs->store, opts->backing, message, sizeof(message));
	if (err == -EROFS) {
		/* The catalog, the quarantine and the lock live in BACKING:
		 * a mount that could record and keep nothing would break the
		 * promises silently, so it is refused. */
		fprintf(stderr, "mediafs: backing directory '%s' is on a read-only filesystem; "
			"mediafs keeps its catalog and quarantine there and must write them "
			"(remount it read-write)\n", opts->backing);
		return err;
	}
	if (err) {
		fprintf(stderr, "mediafs: %s\n", message);
		return err;
	}
	raise_open_file_limit();
	if (inode_table_init(&fs->inodes, fs->store.root_fd, &fs->store.root_stat,
			     opts->inode_fds > 0 ? (size_t)opts->inode_fds :
						   default_inode_fds()) != 0) {
		fprintf(stderr, "mediafs: out of memory\n");
		return -ENOMEM;
	}
	settings_from_options(&fs->settings, opts);
	if (!opts->notrack)
		return prepare_tracking(fs, catalog_path, size);
	return 0;
}

static void cleanup(struct mediafs *fs)
{
	pathmap_free(fs->quarantined);
	pathmap_free(fs->quarantined_dirs);
	pathmap_free(fs->young_referenced);
	safekeep_close(fs);
	quarantine_close(&fs->quarantine);
	if (fs->inodes.buckets)
		inode_table_destroy(&fs->inodes);
	store_close(&fs->store);
	pthread_rwlock_destroy(&fs->dir_lock);
	pthread_mutex_destroy(&fs->handles_lock);
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts cmdline = { 0 };
	struct daemon_options opts;
	struct mediafs fs = { .quarantine = { .dir_fd = -1 }, .hooks = &kernel_hooks };
	char catalog_path[PATH_MAX];
	enum log_level level = LOG_LEVEL_INFO;
	char *fsname = NULL;
	int ret = 1;

	log_init("mediafs", LOG_LEVEL_INFO, LOG_TARGET_STDERR);
	if (argc == 3 && strcmp(argv[1], "--check-config") == 0)
		return check_config(argv[2]);
	pthread_rwlock_init(&fs.dir_lock, NULL);
	pthread_mutex_init(&fs.handles_lock, NULL);
	fs.handles.next = fs.handles.prev = &fs.handles;
	fs.store.root_fd = fs.store.state_fd = fs.store.lock_fd = -1;
	if (options_parse(&args, &opts) != 0 || fuse_parse_cmdline(&args, &cmdline) != 0) {
		print_usage(stderr);
		ret = EXIT_USAGE;
		goto out_free;
	}
	if (cmdline.show_help || cmdline.show_version) {
		if (cmdline.show_help)
			print_help();
		else
			printf("mediafs %s\n", MEDIAFS_VERSION);
		if (cmdline.show_version)
			fuse_lowlevel_version();
		ret = 0;
		goto out_free;
	}
	if (!opts.backing || !opts.mountpoint) {
		print_usage(stderr);
		ret = EXIT_USAGE;
		goto out_free;
	}
	if (opts.log_level && log_parse_level(opts.log_level, &level) != 0) {
		fprintf(stderr, "mediafs: unknown log level '%s' (use error, warn, info, "
			"debug or trace)\n", opts.log_level);
		ret = EXIT_USAGE;
		goto out_free;
	}
	if (cmdline.debug && !opts.log_level)
		level = LOG_LEVEL_DEBUG;
	log_set_level(level);
	if (prepare(&fs, &opts, catalog_path, sizeof(catalog_path)) != 0)
		goto out_cleanup;
	/* Files created through the mount take the caller's umask, which a
	 * worker applies on its own thread (creds_use_umask()); the daemon's
	 * own files get their modes where they are created. */
	umask(0);
	fsname = fsname_option(opts.backing);
	/* The kernel checks permissions: the daemon may run as root for users
	 * who must not see each other's files. */
	if (!fsname || fuse_opt_add_arg(&args, "-odefault_permissions") != 0 ||
	    fuse_opt_add_arg(&args, fsname) != 0 ||
	    fuse_opt_add_arg(&args, "-osubtype=mediafs") != 0) {
		fprintf(stderr, "mediafs: out of memory\n");
		goto out_cleanup;
	}
	ret = run_session(&fs, &args, &cmdline, &opts, catalog_path);
out_cleanup:
	cleanup(&fs);
out_free:
	free(fsname);
	free(cmdline.mountpoint);
	options_free(&opts);
	fuse_opt_free_args(&args);
	return ret;
}
