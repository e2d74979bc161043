/*
 * config: the INI configuration of a mount, and the -o options that carry
 * its [mediafs] settings.
 *
 * Owns the names of the keys, their defaults and their validation: every
 * value is checked when it is read, so a loaded struct config holds only
 * usable values.  Errors are returned as text that names the file, the
 * line and the key ("app.ini:7: key 'grace': '7 days' is not a duration
 * (use e.g. 30s, 10m, 1h, 7d)"); this module logs nothing and never opens
 * a connection (config_check_sources() in source.h does that).  Passwords
 * in URLs never appear in an error.
 *
 * The file format is what libinih reads: [sections], "key = value", whole
 * line comments starting with ';' or '#', inline comments starting with
 * " ;" (whitespace, then a semicolon), and long values continued on
 * indented lines (joined with one space; after a key, every indented line
 * continues it, even one that starts with '[').  A line holds at most
 * CONFIG_MAX_LINE_BYTES bytes.
 *
 * Threads: a struct config has no lock.  Load or change it on one thread;
 * after that it may be read from any thread.
 */
#ifndef MEDIAFS_CONFIG_H
#define MEDIAFS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_DEFAULT_INTERVAL_MS (10LL * 60 * 1000)
#define CONFIG_DEFAULT_MIN_AGE_MS (60LL * 60 * 1000)
#define CONFIG_DEFAULT_GRACE_MS (7LL * 24 * 60 * 60 * 1000)
#define CONFIG_DEFAULT_MAX_FRACTION 0.10
/* max_fraction holds a scan only when it would quarantine more files than
 * this (or every live file): a small store is not held at every scan. */
#define CONFIG_DEFAULT_HOLD_MIN_FILES 10
/* The largest count a setting takes. */
#define CONFIG_MAX_COUNT 1000000000
#define CONFIG_DEFAULT_TEMP_MAX_AGE_MS (60LL * 1000)
/* The longest duration a setting takes, 100 years: the daemon adds them to
 * clock readings, and INT64_MAX milliseconds would wrap "now + interval". */
#define CONFIG_MAX_DURATION_MS (36500LL * 24 * 60 * 60 * 1000)

/* The longest line libinih reads, newline excluded (its buffer is 200). */
enum { CONFIG_MAX_LINE_BYTES = 198 };

/* Room for an error message from this module. */
enum { CONFIG_ERROR_BYTES = 512 };

/* Room for a path setting, with its NUL. */
enum { CONFIG_PATH_BYTES = 4096 };

struct config_settings {		/* [mediafs] */
	/* Every duration is at most CONFIG_MAX_DURATION_MS. */
	int64_t interval_ms;		/* time between scans; >= 1s */
	int64_t min_age_ms;		/* never quarantine a file written more recently */
	int64_t grace_ms;		/* purge a quarantined file after this long */
	double max_fraction;		/* hold a larger scan; 0 < x <= 1 */
	int64_t hold_min_files;		/* ... but not one of this many files or fewer */
	int64_t temp_max_age_ms;	/* unlinked files younger than this go for good */
	bool restore_on_access;		/* a lookup brings a quarantined path back */
	bool dry_run;			/* report what a scan would do, move nothing */
	char **exclude;			/* globs relative to the media root */
	size_t exclude_count;
	/* Prometheus textfile written after each scan; "" for none. */
	char metrics_file[CONFIG_PATH_BYTES];
};

enum config_source_kind {
	CONFIG_SOURCE_SQLITE,		/* url = sqlite:///abs/path */
	CONFIG_SOURCE_POSTGRESQL,	/* postgresql://, postgres:// or conninfo */
	CONFIG_SOURCE_MYSQL,		/* mysql:// or mariadb:// */
};

/* How a column value holds its paths (key format). */
enum config_format {
	CONFIG_FORMAT_TEXT,		/* the value is one path (the default) */
	CONFIG_FORMAT_JSON,		/* a JSON document; paths selects its fields */
	CONFIG_FORMAT_PHP,		/* PHP serialize(); paths selects its fields */
};

/* One "[database.][schema.]table.column" of a columns list. */
struct source_column {
	char *database;		/* NULL when not given; PostgreSQL only */
	char *schema;		/* NULL when not given */
	char *table;
	char *column;
};

struct config_source {			/* [source NAME] */
	char *name;
	char *url;			/* as written; may hold a password */
	enum config_source_kind kind;	/* from url */
	struct source_column *columns;	/* exactly one of columns and query */
	size_t column_count;
	char *query;			/* one path per row; trailing ';' removed */
	char **strip_prefixes;		/* tried longest first; may be empty */
	size_t strip_prefix_count;
	enum config_format format;
	char **paths;			/* selectors (refdb/fieldpath.h); JSON and PHP only */
	size_t path_count;		/* at least one unless format is text */
	char *base;			/* "selector", "dirname(selector)" or NULL */
	int line;			/* line of the section header */
};

struct config {
	char *path;			/* the file loaded, NULL before a load */
	struct config_settings settings;
	struct config_source *sources;
	size_t source_count;
};

/* Set every setting to its default, with no file and no source.  Cannot fail. */
void config_init_defaults(struct config *cfg);

/*
 * Load the INI file at path on top of the defaults.  cfg must have been
 * set up by config_init_defaults() or an earlier load.  Returns 0 and
 * replaces (and frees) the old contents of cfg, or returns -EINVAL for an
 * invalid file, -ENOMEM, or the -errno of opening or reading it, with a
 * message in error (error_size bytes, CONFIG_ERROR_BYTES is enough) and cfg
 * unchanged.  The first error found is the one reported.
 */
int config_load(struct config *cfg, const char *path, char *error, size_t error_size);

/*
 * Like config_load(), on the len bytes at text instead of a file (they
 * need no NUL terminator and may hold any byte).  name stands for the file
 * in messages and becomes cfg->path.  For tests and the fuzzer; never
 * opens a file.
 */
int config_load_buffer(struct config *cfg, const char *name, const char *text, size_t len,
		       char *error, size_t error_size);

/*
 * Set one [mediafs] key from a -o mount option, with the validation of the
 * file.  A later call for the same key wins; exclude replaces the whole
 * list.  value NULL means the option came without "=value".  Returns 0,
 * -ENOENT when key is not a [mediafs] key (so that the caller can hand it
 * to FUSE), -EINVAL for an invalid or missing value, or -ENOMEM;
 * on error cfg is unchanged and error holds a message.
 */
int config_set(struct config *cfg, const char *key, const char *value, char *error,
	       size_t error_size);

/* Free what cfg holds and leave it as config_init_defaults() does. */
/*
 * A deep copy of src into dst (which holds nothing that needs freeing).
 * Returns 0, or -ENOMEM with dst freed back to the defaults.
 */
int config_copy(struct config *dst, const struct config *src);

void config_free(struct config *cfg);

/*
 * Deep-copy src into *dst (for a source that must outlive its config).
 * Returns 0 or -ENOMEM (*dst then holds nothing to free).
 */
int config_source_copy(struct config_source *dst, const struct config_source *src);

/* Free what a copied config_source holds. */
void config_source_clear(struct config_source *src);

/*
 * The file path in a valid sqlite URL: "sqlite:///srv/db" and
 * "sqlite:////srv/db" both give "/srv/db" (a pointer into url).  NULL when
 * url is not such a URL.
 */
const char *config_sqlite_path(const char *url);

/* Room for a name in a mysql URL (user, host, database), with its NUL. */
enum { CONFIG_MYSQL_NAME_BYTES = 256 };

/* The parts of a mysql:// (or mariadb://) URL, percent-decoded. */
struct config_mysql_url {
	char user[CONFIG_MYSQL_NAME_BYTES];	/* "": the option file's or the login's */
	char host[CONFIG_MYSQL_NAME_BYTES];	/* "" or "localhost": the unix socket */
	unsigned int port;			/* 0: the default (3306) */
	char database[CONFIG_MYSQL_NAME_BYTES];	/* never "" */
	char socket[CONFIG_PATH_BYTES];		/* ?socket=/path; "" for the default */
	char option_file[CONFIG_PATH_BYTES];	/* ?option_file=/path; "" for none */
};

/*
 * Split "mysql://[user@][host][:port]/database[?socket=/path&option_file=/path]"
 * into *out.  A URL that holds a password is refused: MySQL passwords come
 * from an option file or MYSQL_PWD only.  Returns 0, or -EINVAL with why
 * filled (never quoting a password).
 */
int config_mysql_parse_url(const char *url, struct config_mysql_url *out, char *why,
			   size_t why_size);

/*
 * Write url with any password replaced by "***" (userinfo of a URL, the
 * "password" keyword and ?password= of a conninfo).  Always terminates out
 * when out_size > 0.
 */
void config_redact_url(const char *url, char *out, size_t out_size);

/*
 * Replace in text (text_size bytes, NUL-terminated) every occurrence of the
 * password that url carries, as written and percent-decoded, with "***":
 * for messages from a library that may quote a piece of the URL.
 */
void config_scrub_password(const char *url, char *text, size_t text_size);

#endif
