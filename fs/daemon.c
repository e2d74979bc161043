/*
 * daemon: main() of mediafs.  Parses the command line, checks it, opens
 * the store, mounts, runs the session loop and tears everything down in the
 * reverse order.
 *
 * Threads: main() runs the session loop (or waits for it); libfuse runs the
 * FUSE workers.
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
#include "events.h"
#include "log.h"
#include "mediafs.h"
#include "ops.h"
#include "preflight.h"

enum {
	EXIT_USAGE = 2,
	MESSAGE_BYTES = 1024,
	DEFAULT_INODE_FDS = 4096,
};

/* Names and attributes change only through the mount (or the checker,
 * which invalidates), so the kernel may trust them for a while. */
#define DEFAULT_TIMEOUT_S 10.0

struct daemon_options {
	char *backing;
	char *mountpoint;
	double timeout_s;
	double entry_timeout_s;
	double attr_timeout_s;
	double negative_timeout_s;
	int writeback;
	int splice;
	char *log_level;
	int inode_fds;
	int notrack;
};

#define DAEMON_OPT(template, field, value) \
	{ template, offsetof(struct daemon_options, field), value }

static const struct fuse_opt daemon_opt_table[] = {
	DAEMON_OPT("timeout=%lf", timeout_s, 0),
	DAEMON_OPT("entry_timeout=%lf", entry_timeout_s, 0),
	DAEMON_OPT("attr_timeout=%lf", attr_timeout_s, 0),
	DAEMON_OPT("negative_timeout=%lf", negative_timeout_s, 0),
	DAEMON_OPT("writeback", writeback, 1),
	DAEMON_OPT("no_writeback", writeback, 0),
	DAEMON_OPT("splice", splice, 1),
	DAEMON_OPT("nosplice", splice, 0),
	DAEMON_OPT("log_level=%s", log_level, 0),
	DAEMON_OPT("inode_fds=%d", inode_fds, 0),
	DAEMON_OPT("notrack", notrack, 1),
	FUSE_OPT_END
};

static void print_usage(FILE *out)
{
	fprintf(out, "usage: mediafs [options] BACKING MOUNTPOINT\n");
}

static void print_help(void)
{
	print_usage(stdout);
	printf("\n"
"Mounts BACKING at MOUNTPOINT (which may be the same directory) as a\n"
"passthrough filesystem that records which files are written through it.\n"
"\n"
"mediafs options:\n"
"    -o timeout=S           entry, attribute and negative cache time (default %g s)\n"
"    -o entry_timeout=S     how long the kernel trusts a name\n"
"    -o attr_timeout=S      how long the kernel trusts attributes\n"
"    -o negative_timeout=S  how long the kernel trusts that a name is absent\n"
"    -o writeback           kernel writeback cache (faster small writes; write\n"
"                           errors surface at fsync or close)\n"
"    -o nosplice            copy data instead of splicing it\n"
"    -o log_level=LEVEL     error, warn, info (default), debug or trace\n"
"    -o notrack             record nothing in the catalog (to measure its cost)\n"
"    -o inode_fds=N         descriptors kept open on inodes the kernel caches\n"
"                           (default: half the open file limit; as root, the\n"
"                           rest are reopened by file handle when used)\n"
"\n", DEFAULT_TIMEOUT_S);
	fuse_cmdline_help();
	fuse_lowlevel_help();
}

/* Takes the non-option arguments as BACKING and MOUNTPOINT, so that the
 * checks of preflight.c, not libfuse's, explain a bad mount point. */
static int daemon_opt_proc(void *data, const char *arg, int key,
			   struct fuse_args *outargs)
{
	struct daemon_options *opts = data;
	char **slot;

	(void)outargs;
	if (key != FUSE_OPT_KEY_NONOPT)
		return 1;
	slot = !opts->backing ? &opts->backing : !opts->mountpoint ? &opts->mountpoint : NULL;
	if (!slot) {
		fprintf(stderr, "mediafs: unexpected argument '%s'\n", arg);
		return -1;
	}
	*slot = strdup(arg);
	return *slot ? 0 : -1;
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
	settings->switch_creds = geteuid() == 0;
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

/* Open (creating or migrating) the catalog once, so that a broken one is
 * reported before anything is mounted. */
static int check_catalog(struct mediafs *fs)
{
	char path[PATH_MAX], error[MESSAGE_BYTES];
	struct catalog *cat;
	int err = store_state_path(&fs->store, CATALOG_FILE_NAME, path, sizeof(path));

	if (!err)
		err = catalog_open(path, true, &cat, error, sizeof(error));
	if (err) {
		fprintf(stderr, "mediafs: cannot open the catalog: %s\n", error);
		return err;
	}
	catalog_close(cat);
	return 0;
}

/* The catalog writer, and the adoption walk that reconciles the catalog
 * with BACKING in the background.  Threads start after daemonising: a
 * fork keeps only the thread that calls it. */
static int start_tracking(struct mediafs *fs)
{
	char path[PATH_MAX], error[MESSAGE_BYTES];
	int err = store_state_path(&fs->store, CATALOG_FILE_NAME, path, sizeof(path));

	if (!err)
		err = events_start(path, &fs->store, true, &fs->events, error, sizeof(error));
	if (err)
		log_error("cannot start the catalog writer: %s", error);
	return err;
}

static int run_session(struct mediafs *fs, struct fuse_args *args,
		       const struct fuse_cmdline_opts *cmdline, const char *mountpoint,
		       bool tracking)
{
	struct fuse_loop_config *loop_config = NULL;
	int ret = 1;

	fs->session = fuse_session_new(args, &fs_ops, sizeof(fs_ops), fs);
	if (!fs->session)
		return 1;
	if (fuse_set_signal_handlers(fs->session) != 0)
		goto out_destroy;
	if (fuse_session_mount(fs->session, mountpoint) != 0) {
		log_error("cannot mount '%s' (see the message above)", mountpoint);
		goto out_remove_handlers;
	}
	log_info("mounted '%s' on '%s'", fs->store.root_path[0] ? fs->store.root_path : "/",
		 mountpoint);
	if (!cmdline->foreground)
		log_use_syslog();
	fuse_daemonize(cmdline->foreground);
	if (tracking && start_tracking(fs) != 0)
		goto out_unmount;

	if (cmdline->singlethread) {
		ret = fuse_session_loop(fs->session);
	} else {
		loop_config = fuse_loop_cfg_create();
		fuse_loop_cfg_set_clone_fd(loop_config, (unsigned int)cmdline->clone_fd);
		/* UINT_MAX means "not given": keep libfuse's defaults. */
		if (cmdline->max_threads != UINT_MAX)
			fuse_loop_cfg_set_max_threads(loop_config, cmdline->max_threads);
		if (cmdline->max_idle_threads != UINT_MAX)
			fuse_loop_cfg_set_idle_threads(loop_config, cmdline->max_idle_threads);
		ret = fuse_session_loop_mt(fs->session, loop_config);
		fuse_loop_cfg_destroy(loop_config);
	}
	/* Every request has been answered: commit what they reported. */
	events_stop(fs->events);
	fs->events = NULL;
out_unmount:
	fuse_session_unmount(fs->session);
	log_info("unmounted '%s'", mountpoint);
	/* The loop reports the signal that ended it; that is a clean stop. */
	if (ret == SIGTERM || ret == SIGINT || ret == SIGHUP)
		ret = 0;
out_remove_handlers:
	fuse_remove_signal_handlers(fs->session);
out_destroy:
	fuse_session_destroy(fs->session);
	fs->session = NULL;
	return ret != 0;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct daemon_options opts = {
		.timeout_s = -1,
		.entry_timeout_s = -1,
		.attr_timeout_s = -1,
		.negative_timeout_s = -1,
		.writeback = 0,
		.splice = 1,
	};
	struct fuse_cmdline_opts cmdline = { 0 };
	struct mediafs fs = { 0 };
	enum log_level level = LOG_LEVEL_INFO;
	char message[MESSAGE_BYTES];
	const char *what = NULL;
	char *fsname = NULL;
	int ret = 1, err;

	log_init("mediafs", LOG_LEVEL_INFO, LOG_TARGET_STDERR);
	if (fuse_opt_parse(&args, &opts, daemon_opt_table, daemon_opt_proc) != 0 ||
	    fuse_parse_cmdline(&args, &cmdline) != 0) {
		print_usage(stderr);
		ret = EXIT_USAGE;
		goto out_free_args;
	}
	if (cmdline.show_help) {
		print_help();
		ret = 0;
		goto out_free_args;
	}
	if (cmdline.show_version) {
		printf("mediafs %s\n", MEDIAFS_VERSION);
		fuse_lowlevel_version();
		ret = 0;
		goto out_free_args;
	}
	if (!opts.backing || !opts.mountpoint) {
		print_usage(stderr);
		ret = EXIT_USAGE;
		goto out_free_args;
	}
	if (opts.log_level && log_parse_level(opts.log_level, &level) != 0) {
		fprintf(stderr, "mediafs: unknown log level '%s' (use error, warn, info, "
			"debug or trace)\n", opts.log_level);
		ret = EXIT_USAGE;
		goto out_free_args;
	}
	if (cmdline.debug && !opts.log_level)
		level = LOG_LEVEL_DEBUG;
	log_set_level(level);

	if (preflight_check(opts.backing, opts.mountpoint, message, sizeof(message))) {
		fprintf(stderr, "mediafs: %s\n", message);
		goto out_free_args;
	}
	/* Absolute from here on: the daemon leaves its working directory
	 * when it detaches, and unmounts by this name at the end. */
	if (make_absolute(&opts.mountpoint) != 0 || make_absolute(&opts.backing) != 0) {
		fprintf(stderr, "mediafs: cannot resolve '%s': %s\n", opts.mountpoint,
			strerror(errno));
		goto out_free_args;
	}
	err = store_open(&fs.store, opts.backing, &what);
	if (err) {
		if (err == -EWOULDBLOCK)
			fprintf(stderr, "mediafs: backing directory '%s' is in use by another "
				"mediafs (its lock %s/%s/lock is held)\n", opts.backing,
				opts.backing, STORE_STATE_DIR_NAME);
		else
			fprintf(stderr, "mediafs: cannot %s in '%s': %s\n", what,
				opts.backing, strerror(-err));
		goto out_free_args;
	}
	raise_open_file_limit();
	if (inode_table_init(&fs.inodes, fs.store.root_fd, &fs.store.root_stat,
			     opts.inode_fds > 0 ? (size_t)opts.inode_fds :
						  default_inode_fds()) != 0) {
		fprintf(stderr, "mediafs: out of memory\n");
		goto out_close_store;
	}
	settings_from_options(&fs.settings, &opts);
	/* Modes arrive with the caller's umask applied already. */
	umask(0);

	fsname = fsname_option(opts.backing);
	/* The kernel checks permissions: the daemon may run as root for users
	 * who must not see each other's files. */
	if (!fsname || fuse_opt_add_arg(&args, "-odefault_permissions") != 0 ||
	    fuse_opt_add_arg(&args, fsname) != 0 ||
	    fuse_opt_add_arg(&args, "-osubtype=mediafs") != 0) {
		fprintf(stderr, "mediafs: out of memory\n");
		goto out_destroy_inodes;
	}
	if (!opts.notrack && check_catalog(&fs) != 0)
		goto out_destroy_inodes;
	ret = run_session(&fs, &args, &cmdline, opts.mountpoint, !opts.notrack);

out_destroy_inodes:
	inode_table_destroy(&fs.inodes);
out_close_store:
	store_close(&fs.store);
out_free_args:
	free(fsname);
	free(cmdline.mountpoint);
	free(opts.backing);
	free(opts.mountpoint);
	free(opts.log_level);
	fuse_opt_free_args(&args);
	return ret;
}
