/*
 * options: the command line of mediafs.
 *
 * Owns the names of the daemon's own -o options and how they combine with
 * the configuration file: "-o config=FILE" loads the INI file of
 * DESIGN.md, and every [mediafs] key given as -o (min_age=1h,grace=7d)
 * overrides the file, whatever the order on the command line.  Options it
 * does not know are left for libfuse.
 *
 * Threads: main thread.
 */
#ifndef MEDIAFS_OPTIONS_H
#define MEDIAFS_OPTIONS_H

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"

struct daemon_options {
	char *backing;
	char *mountpoint;
	double timeout_s;
	double entry_timeout_s;
	double attr_timeout_s;
	double negative_timeout_s;
	int writeback;
	int splice;
	int passthrough;
	char *direct;			/* -o direct=DIR, or NULL */
	char *log_level;
	int inode_fds;
	int notrack;
	char *config_path;
	struct config config;		/* the file, then the -o overrides */
	char **overrides;		/* "key=value" of [mediafs] keys, in order */
	size_t override_count, override_capacity;
};

/*
 * Parse args (FUSE's are left in args) into opts, load the configuration
 * and apply the overrides.  Returns 0, or -1 after printing a message
 * (usage errors, an invalid configuration).
 */
int options_parse(struct fuse_args *args, struct daemon_options *opts);

void options_free(struct daemon_options *opts);

/*
 * Load the configuration again as options_parse() did: the file, then the
 * -o overrides, into *cfg (freed and replaced on success).  Returns 0, or
 * -EINVAL with one sentence in error and *cfg untouched.  For a reload.
 */
int options_load_config(const struct daemon_options *opts, struct config *cfg, char *error,
			size_t error_size);

/* The daemon's part of --help. */
void options_print_help(void);

#endif
