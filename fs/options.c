/*
 * options: one fuse_opt table for the daemon's own options, and a filter
 * that sorts every other -o option into "a [mediafs] key" or "libfuse's".
 */
#include "options.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"

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
	DAEMON_OPT("passthrough", passthrough, 1),
	DAEMON_OPT("nopassthrough", passthrough, 0),
	DAEMON_OPT("log_level=%s", log_level, 0),
	DAEMON_OPT("inode_fds=%d", inode_fds, 0),
	DAEMON_OPT("notrack", notrack, 1),
	DAEMON_OPT("config=%s", config_path, 0),
	DAEMON_OPT("direct=%s", direct, 0),
	FUSE_OPT_END
};

void options_print_help(void)
{
	printf(
"mediafs options:\n"
"    -o config=FILE         the configuration file: [mediafs] settings and\n"
"                           [source NAME] databases (see docs/configuration.md)\n"
"    -o KEY=VALUE           any [mediafs] setting: interval, min_age, grace,\n"
"                           max_fraction, temp_max_age, restore_on_access,\n"
"                           dry_run, exclude, metrics_file (overrides the file)\n"
"    -o timeout=S           entry, attribute and negative cache time (default 10 s)\n"
"    -o entry_timeout=S     how long the kernel trusts a name\n"
"    -o attr_timeout=S      how long the kernel trusts attributes\n"
"    -o negative_timeout=S  how long the kernel trusts that a name is absent\n"
"    -o writeback           kernel writeback cache (faster small writes; write\n"
"                           errors surface at fsync or close)\n"
"    -o direct=DIR          also show BACKING read-only at DIR, for a web\n"
"                           server that reads it directly (no restore on access)\n"
"    -o nosplice            copy data instead of splicing it\n"
"    -o nopassthrough       serve reads and writes of open files in the daemon\n"
"                           (default: the kernel does them itself, FUSE\n"
"                           passthrough, where it can; not with -o writeback)\n"
"    -o notrack             record nothing in the catalog (to measure its cost)\n"
"    -o inode_fds=N         descriptors kept open on inodes the kernel caches\n"
"                           (default: half the open file limit; as root, the\n"
"                           rest are reopened by file handle when used)\n"
"    -o log_level=LEVEL     error, warn, info (default), debug or trace\n"
"\n");
}

static int keep_override(struct daemon_options *opts, const char *arg)
{
	char **list = grow_array(opts->overrides, &opts->override_capacity,
				 opts->override_count + 1, sizeof(*list), 8);

	if (!list)
		return -1;
	opts->overrides = list;
	list[opts->override_count] = strdup(arg);
	return list[opts->override_count++] ? 0 : -1;
}

/* Is key one of the [mediafs] settings?  Ask the config module. */
static bool is_setting(const char *arg)
{
	char key[64], error[CONFIG_ERROR_BYTES];
	const char *eq = strchr(arg, '=');
	size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
	struct config scratch;
	bool known;

	if (len >= sizeof(key))
		return false;
	memcpy(key, arg, len);
	key[len] = '\0';
	config_init_defaults(&scratch);
	known = config_set(&scratch, key, eq ? eq + 1 : NULL, error, sizeof(error)) != -ENOENT;
	config_free(&scratch);
	return known;
}

/* BACKING and MOUNTPOINT are ours (preflight explains them); so are the
 * [mediafs] keys given as -o options. */
static int daemon_opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct daemon_options *opts = data;
	char **slot;

	(void)outargs;
	if (key == FUSE_OPT_KEY_OPT)
		return is_setting(arg) ? keep_override(opts, arg) : 1;
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

int options_load_config(const struct daemon_options *opts, struct config *cfg, char *error,
			size_t error_size)
{
	char why[CONFIG_ERROR_BYTES];
	struct config next;

	config_init_defaults(&next);
	if (opts->config_path && config_load(&next, opts->config_path, error, error_size) != 0)
		goto out_free;
	for (size_t i = 0; i < opts->override_count; i++) {
		const char *arg = opts->overrides[i];
		size_t key_len = strcspn(arg, "=");
		char key[CONFIG_ERROR_BYTES];

		snprintf(key, sizeof(key), "%.*s", (int)key_len, arg);
		if (config_set(&next, key, arg[key_len] ? arg + key_len + 1 : NULL, why,
			       sizeof(why)) != 0) {
			snprintf(error, error_size, "option -o %s: %s", arg, why);
			goto out_free;
		}
	}
	config_free(cfg);
	*cfg = next;
	return 0;

out_free:
	config_free(&next);
	return -EINVAL;
}

static int apply_configuration(struct daemon_options *opts)
{
	char error[CONFIG_ERROR_BYTES + 64];

	/* Absolute, so that the path the store remembers (for mediactl
	 * --backing) and a reload name the file from anywhere. */
	char *absolute = opts->config_path ? realpath(opts->config_path, NULL) : NULL;
	if (absolute) {
		free(opts->config_path);
		opts->config_path = absolute;
	}
	if (options_load_config(opts, &opts->config, error, sizeof(error)) != 0) {
		fprintf(stderr, "mediafs: %s\n", error);
		return -1;
	}
	return 0;
}

int options_parse(struct fuse_args *args, struct daemon_options *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->timeout_s = -1;
	opts->entry_timeout_s = -1;
	opts->attr_timeout_s = -1;
	opts->negative_timeout_s = -1;
	opts->splice = 1;
	opts->passthrough = 1;
	config_init_defaults(&opts->config);
	if (fuse_opt_parse(args, opts, daemon_opt_table, daemon_opt_proc) != 0)
		return -1;
	return apply_configuration(opts);
}

void options_free(struct daemon_options *opts)
{
	free(opts->backing);
	free(opts->mountpoint);
	free(opts->log_level);
	free(opts->config_path);
	free(opts->direct);
	for (size_t i = 0; i < opts->override_count; i++)
		free(opts->overrides[i]);
	free(opts->overrides);
	config_free(&opts->config);
}
