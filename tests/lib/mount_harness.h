/*
 * mount_harness: start a real mediafs daemon on a temporary BACKING and
 * MOUNTPOINT for integration tests, wait until the mount is up, and always
 * take it down again.
 *
 * The daemon binary comes from $MEDIAFS_BIN (meson sets it).  Every mount
 * started here is recorded and an atexit() handler unmounts whatever is
 * left; a daemon also unmounts itself (SIGTERM) when the process that
 * started it dies, as a failing Check test does with _exit().
 *
 * Threads: test processes only; not thread-safe.
 */
#ifndef MEDIAFS_MOUNT_HARNESS_H
#define MEDIAFS_MOUNT_HARNESS_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

/* meson reports a test that exits with this status as skipped. */
#define HARNESS_EXIT_SKIP 77

/* The stdout a program may print before harness_run() cuts it. */
#define HARNESS_OUTPUT_BYTES (1 << 18)

struct mount_harness {
	char dir[256];			/* temporary directory holding the rest */
	char backing[512];
	char mountpoint[512];
	char log_path[512];		/* the daemon's stderr */
	char clock_path[512];		/* the test clock's offset file, or "" */
	long long clock_offset_ms;	/* what clock_path holds */
	pid_t pid;			/* daemon, 0 when not running */
	pid_t owner;			/* the process that started it */
};

/* What a program printed and how it ended. */
struct harness_output {
	int status;			/* exit status, or -1 when it did not exit */
	char out[HARNESS_OUTPUT_BYTES];	/* stdout, NUL-terminated, cut when longer */
	char err[8192];			/* stderr, the same */
};

/*
 * Exit with HARNESS_EXIT_SKIP and a reason when this machine cannot mount
 * FUSE filesystems (no /dev/fuse, no fusermount3, no $MEDIAFS_BIN).
 */
void harness_require_fuse(void);

/* Create a fresh temporary directory with backing/ and mnt/ in it. */
int harness_init(struct mount_harness *h, const char *name);

/*
 * Start "mediafs -f [args...] [-o $MEDIAFS_TEST_OPTIONS] BACKING MOUNTPOINT"
 * (args is NULL-terminated, may be NULL) and wait up to 10 s for the
 * mount.  Returns 0, or -1 when the daemon exited or the mount did not
 * appear (its log is printed).
 */
int harness_mount(struct mount_harness *h, const char *const args[]);

/* Same with backing and mountpoint given (they may be equal). */
int harness_mount_at(struct mount_harness *h, const char *backing,
		     const char *mountpoint, const char *const args[]);

/*
 * Unmount with fusermount3 -u and wait for the daemon.  Returns its exit
 * status, or -1 when it had to be killed.
 */
int harness_unmount(struct mount_harness *h);

/* SIGKILL the daemon, reap it and lazily detach the dead mount. */
void harness_kill(struct mount_harness *h);

/*
 * Give every program this process starts from now on (the daemon,
 * mediactl) the test clock of refdb/clock.h: an offset file in h->dir,
 * 0600, holding 0, named in this process's environment.  Returns 0 or
 * -errno.
 */
int harness_use_test_clock(struct mount_harness *h);

/*
 * Move the daemon's clock ms milliseconds forward (the file is replaced
 * in one rename; the daemon reads it at each "now").  Files become older
 * at once, for min_age, grace and temp_max_age; nothing that counts real
 * time (timeouts, the scan interval) changes.  Returns 0 or -errno.
 */
int harness_advance_clock(struct mount_harness *h, long ms);

/* Unmount if needed and remove the temporary directory. */
void harness_destroy(struct mount_harness *h);

/* True when path is currently the root of a FUSE mount. */
bool harness_is_mounted(const char *path);

/* "<dir>/<rel>" for the backing directory and the mount point. */
const char *harness_backing_path(struct mount_harness *h, const char *rel);
const char *harness_mount_path(struct mount_harness *h, const char *rel);

/* Run a shell command; returns its exit status (or -1). */
int harness_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The same, with its stdout in out (size bytes, NUL-terminated, cut when
 * longer); returns its exit status, or -1 when it could not run. */
int harness_sh_output(char *out, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Run argv (argv[0] a path; NULL-terminated) as uid (0: as this process,
 * else also as its group uid) and wait for it; stdout and stderr land in
 * *r.  Returns r->status.
 */
int harness_run(struct harness_output *r, uid_t uid, const char *const argv[]);

/* Whole-file helpers; they return 0 or -errno. */
int harness_write_file(const char *path, const void *data, size_t len);
/* Reads at most cap bytes into buf; *len gets the size read. */
int harness_read_file(const char *path, void *buf, size_t cap, size_t *len);

/* Read a small text file into buf (NUL-terminated, cut at size - 1);
 * "" when it cannot be read. */
void harness_slurp(const char *path, char *buf, size_t size);

/*
 * Does the daemon hold a descriptor open for writing on path (a file in
 * BACKING), or on a file under it (a directory)?  A close through the
 * mount returns before the daemon's release of the file, and a file open
 * for writing is never moved.
 */
bool harness_daemon_writes(struct mount_harness *h, const char *path);

/* Does the daemon's log contain needle? */
bool harness_log_contains(struct mount_harness *h, const char *needle);

/* Poll the daemon's log for needle, up to timeout_ms. */
bool harness_wait_log(struct mount_harness *h, const char *needle, long timeout_ms);

/* A monotonic clock in milliseconds, and a pause (for pacing a workload;
 * a test waits on a condition, harness_wait_until, never on time). */
long harness_now_ms(void);
void harness_sleep_ms(long ms);

/* Poll until cond(ctx) is true, up to timeout_ms; returns the last answer. */
bool harness_wait_until(bool (*cond)(void *ctx), void *ctx, long timeout_ms);

/* Truncate the daemon's log (before a remount, to wait for new lines). */
void harness_clear_log(struct mount_harness *h);

#endif
