/*
 * log: the diagnostic log of every mediafs program.
 *
 * Owns where messages go (stderr or syslog) and which levels pass.  It never
 * records state changes of files: those are data and go to the catalog's
 * audit log.  Messages follow git's style: lowercase, no final full stop,
 * names quoted, what failed first and the cause after it.
 *
 * Threads: log_init() and log_set_level() are called by main() before any
 * thread starts; every other function is safe from any thread.
 */
#ifndef MEDIAFS_LOG_H
#define MEDIAFS_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
	LOG_LEVEL_TRACE,
};

enum log_target {
	LOG_TARGET_STDERR,
	LOG_TARGET_SYSLOG,
};

/* Set the program name, the lowest level that passes and the target. */
void log_init(const char *ident, enum log_level level, enum log_target target);
void log_set_level(enum log_level level);

/* Where syslog(3) sends lines; without a socket there they are lost. */
#define LOG_SYSLOG_SOCKET "/dev/log"

/*
 * Switch to syslog, e.g. when the daemon detaches from its terminal.
 * Returns 0, or -ENOENT when no syslog daemon listens (no socket at
 * LOG_SYSLOG_SOCKET): the target stays standard error, since lines sent
 * to syslog would vanish.
 */
int log_use_syslog(void);

/* True when a message of this level would be written; cheap. */
bool log_enabled(enum log_level level);

/*
 * Parse "error", "warn", "info", "debug" or "trace".  Returns 0, or -EINVAL
 * for anything else (*level untouched).
 */
int log_parse_level(const char *name, enum log_level *level);

/* Write one line (a newline is added).  Never fails visibly. */
void log_write(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * A limit of one message per interval for a warning that can repeat (a full
 * disk, a database that is down).  Zero-initialise one per call site.
 */
struct log_ratelimit {
	int64_t last_ms;	/* guarded by the log module's lock */
	uint64_t suppressed;	/* guarded by the log module's lock */
};

/*
 * How often a repeated warning is written: once a minute tells an admin
 * that it still happens without filling the log.
 */
enum { LOG_REPEAT_INTERVAL_MS = 60 * 1000 };

/* Like log_write() at most once per interval_ms for this limit. */
void log_write_limited(struct log_ratelimit *limit, int64_t interval_ms,
		       enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#define log_error(...) log_write(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_write(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_write(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...)                                         \
	do {                                                   \
		if (log_enabled(LOG_LEVEL_DEBUG))              \
			log_write(LOG_LEVEL_DEBUG, __VA_ARGS__); \
	} while (0)
#define log_trace(...)                                         \
	do {                                                   \
		if (log_enabled(LOG_LEVEL_TRACE))              \
			log_write(LOG_LEVEL_TRACE, __VA_ARGS__); \
	} while (0)

#endif
