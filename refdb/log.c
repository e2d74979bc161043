/*
 * log: formats one line per message and writes it with a single write(2) so
 * that lines from concurrent threads never interleave.  The formatted
 * message goes through termesc() here, in one place: names and values in
 * it are data chosen by users, and a newline or an escape sequence in one
 * must not split a line, forge one, or drive the terminal of whoever reads
 * the log.
 *
 * The module keeps its settings in one static struct: they are set by main()
 * before threads start and only read afterwards, except the rate limits,
 * which take the lock.
 */
#include "log.h"
#include "termesc.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

enum { LOG_LINE_BYTES = 4096 };

static struct {
	const char *ident;
	enum log_level level;
	enum log_target target;
	bool stderr_is_journal;	/* systemd's journal reads our stderr */
	pthread_mutex_t lock;	/* guards every struct log_ratelimit */
} log_state = {
	.ident = "mediafs",
	.level = LOG_LEVEL_INFO,
	.target = LOG_TARGET_STDERR,
	.lock = PTHREAD_MUTEX_INITIALIZER,
};

static const char *const level_names[] = {
	[LOG_LEVEL_ERROR] = "error",
	[LOG_LEVEL_WARN] = "warn",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
	[LOG_LEVEL_TRACE] = "trace",
};

static const int syslog_priorities[] = {
	[LOG_LEVEL_ERROR] = LOG_ERR,
	[LOG_LEVEL_WARN] = LOG_WARNING,
	[LOG_LEVEL_INFO] = LOG_INFO,
	[LOG_LEVEL_DEBUG] = LOG_DEBUG,
	[LOG_LEVEL_TRACE] = LOG_DEBUG,
};

/* systemd sets JOURNAL_STREAM to the device and inode of the stream it
 * connected to stderr; a child that inherited another stderr must not
 * take it for the journal. */
static bool stderr_is_journal(void)
{
	const char *stream = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!stream || sscanf(stream, "%llu:%llu", &dev, &ino) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) != 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_init(const char *ident, enum log_level level, enum log_target target)
{
	log_state.stderr_is_journal = stderr_is_journal();
	log_state.ident = ident;
	log_state.level = level;
	log_state.target = target;
	if (target == LOG_TARGET_SYSLOG)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void log_set_level(enum log_level level)
{
	log_state.level = level;
}

int log_use_syslog(void)
{
	struct stat st;

	if (log_state.target == LOG_TARGET_SYSLOG)
		return 0;
	/* journald and rsyslog both listen there; a container or a minimal
	 * system may have neither. */
	if (stat(LOG_SYSLOG_SOCKET, &st) != 0 || !S_ISSOCK(st.st_mode))
		return -ENOENT;
	openlog(log_state.ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	log_state.target = LOG_TARGET_SYSLOG;
	return 0;
}

bool log_enabled(enum log_level level)
{
	return level <= log_state.level;
}

int log_parse_level(const char *name, enum log_level *level)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*level = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

static void log_vwrite(enum log_level level, const char *fmt, va_list ap)
{
	char line[LOG_LINE_BYTES], message[LOG_LINE_BYTES];
	int saved_errno = errno;
	size_t len = 0;

	vsnprintf(message, sizeof(message), fmt, ap);
	if (log_state.target == LOG_TARGET_SYSLOG) {
		termesc(message, line, sizeof(line));
		syslog(syslog_priorities[level], "%s", line);
		errno = saved_errno;
		return;
	}

	int n;
	if (log_state.stderr_is_journal) {
		/* The journal stamps time and pid itself, and reads the
		 * priority from the "<N>" prefix. */
		n = snprintf(line, sizeof(line), "<%d>%s: ", syslog_priorities[level],
			     level_names[level]);
		if (n > 0)
			len = (size_t)n;
		goto message;
	}

	struct timespec now;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &now);
	localtime_r(&now.tv_sec, &tm);
	len = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(line + len, sizeof(line) - len, ".%03ld %s[%d] %s: ",
		     now.tv_nsec / 1000000, log_state.ident, (int)getpid(),
		     level_names[level]);
	if (n > 0)
		len += (size_t)n;
message:
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	/* Room for the newline; a message cut short ends in "...". */
	termesc(message, line + len, sizeof(line) - len - 1);
	len += strlen(line + len);
	line[len++] = '\n';
	/* One write per line: a short write on stderr is not worth a retry. */
	if (write(STDERR_FILENO, line, len) < 0)
		(void)0;
	errno = saved_errno;
}

void log_write(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	log_vwrite(level, fmt, ap);
	va_end(ap);
}

void log_write_limited(struct log_ratelimit *limit, int64_t interval_ms,
		       enum log_level level, const char *fmt, ...)
{
	struct timespec now;
	va_list ap;
	uint64_t suppressed;

	if (!log_enabled(level))
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	int64_t now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;

	pthread_mutex_lock(&log_state.lock);
	if (limit->last_ms != 0 && now_ms - limit->last_ms < interval_ms) {
		limit->suppressed++;
		pthread_mutex_unlock(&log_state.lock);
		return;
	}
	limit->last_ms = now_ms;
	suppressed = limit->suppressed;
	limit->suppressed = 0;
	pthread_mutex_unlock(&log_state.lock);

	va_start(ap, fmt);
	log_vwrite(level, fmt, ap);
	va_end(ap);
	if (suppressed > 0)
		log_write(level, "(%llu similar messages suppressed)",
			  (unsigned long long)suppressed);
}
