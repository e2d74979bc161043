/*
 * clock: clock_gettime(2) in milliseconds, and the test clock's offset
 * (see clock.h for who may set it and why).
 *
 * File map: the test offset (clock_test_*), then the clocks.
 */
#include "clock.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "termesc.h"

/* The longest offset file read: a decimal int64 and a newline. */
enum { CLOCK_OFFSET_TEXT_BYTES = 32 };

static pthread_once_t clock_test_once = PTHREAD_ONCE_INIT;
static const char *clock_test_path;		/* written once, under clock_test_once */
static atomic_int_least64_t clock_test_offset_ms;	/* the last good offset */
static atomic_bool clock_test_complained;

static void clock_test_init(void)
{
	const char *path = getenv(CLOCK_TEST_OFFSET_ENV);
	char shown[TERMESC_BYTES(256)];

	if (!path || !*path)
		return;
	clock_test_path = path;
	log_info("clock: a test offset from '%s' is added to the time: ages are not real",
		 termesc(path, shown, sizeof(shown)));
}

/* Log the first refusal only: the clock is read on every request. */
static void clock_test_complain(const char *why)
{
	char shown[TERMESC_BYTES(256)];

	if (atomic_exchange(&clock_test_complained, true))
		return;
	log_error("clock: test offset file '%s' ignored: %s",
		  termesc(clock_test_path, shown, sizeof(shown)), why);
}

/* Read the offset file into *offset_ms; 0, or -errno with *why set. */
static int clock_test_read(int64_t *offset_ms, const char **why)
{
	char text[CLOCK_OFFSET_TEXT_BYTES], *end;
	struct stat st;
	ssize_t len;
	long long value;
	int fd, err = 0;

	fd = open(clock_test_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		*why = strerror(errno);
		return -errno;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 07777) != 0600) {
		*why = "not a regular file of mode 0600 owned by this program's user";
		err = -EPERM;
		goto out_close;
	}
	len = read(fd, text, sizeof(text) - 1);
	if (len < 0) {
		*why = strerror(errno);
		err = -errno;
		goto out_close;
	}
	text[len] = '\0';
	errno = 0;
	value = strtoll(text, &end, 10);
	if (errno || end == text || (*end && *end != '\n') || value < 0) {
		*why = "not a non-negative count of milliseconds";
		err = -EINVAL;
		goto out_close;
	}
	*offset_ms = value;
out_close:
	if (close(fd) != 0 && !err) {
		*why = strerror(errno);
		err = -errno;
	}
	return err;
}

/* The offset to add to the wall clock: 0 without the test clock. */
static int64_t clock_test_offset(void)
{
	const char *why = NULL;
	int64_t offset = 0;

	pthread_once(&clock_test_once, clock_test_init);
	if (!clock_test_path)
		return 0;
	if (clock_test_read(&offset, &why) != 0) {
		clock_test_complain(why);
		return atomic_load(&clock_test_offset_ms);
	}
	/* Never backwards, whatever the file says now. */
	int64_t last = atomic_load(&clock_test_offset_ms);
	while (offset > last && !atomic_compare_exchange_weak(&clock_test_offset_ms, &last, offset))
		;
	return offset > last ? offset : last;
}

int64_t clock_ms_of(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000 + ts->tv_nsec / 1000000;
}

int64_t clock_now_ms(void)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	return clock_ms_of(&now) + clock_test_offset();
}

int64_t clock_monotonic_ms(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return clock_ms_of(&now);
}

void clock_monotonic_deadline(struct timespec *ts, int64_t ms)
{
	if (ms < 0)
		ms = 0;
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}
