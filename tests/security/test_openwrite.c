/*
 * Security suite, area "openwrite": a file open for writing is never
 * quarantined or purged while open, and a write made through a descriptor
 * opened before a quarantine never ends there unrecorded.
 *
 * Real mounts over a real SQLite application database; the writers are an
 * unprivileged user (tests/lib/user_harness.h), driven over pipes, and
 * scans run through mediactl.  The race case preloads openwrite_shim into
 * the daemon, which makes every move into the quarantine wait a few
 * milliseconds after the checker decided on it.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "app_harness.h"
#include "user_harness.h"

enum {
	WAIT_MS = 10000,
	/* How long the catalog may take to show what a close reported
	 * (the release is asynchronous; events commit every 50 ms). */
	RECORD_WAIT_MS = 5000,
	LINE_BYTES = 4096,
	RACE_WRITERS = 2,
	RACE_FILES = 3,
	RACE_MS = 3000,
	RACE_RENAME_DELAY_MS = 5,
	PAST_1S_MS = 1200,	/* past min_age or grace "1s", with the 100 ms margin */
};

static struct mount_harness h;
static struct test_user user;
static struct app_harness app;

/* ------------------------------------------------------------------ */
/* The application database, the mount and mediactl                    */
/* ------------------------------------------------------------------ */

static void setup(void)
{
	char up[700];

	user_harness_require(&user);
	app_setup(&app, &h, "openwrite", NULL,
		  "interval = 1h\nmax_fraction = 1\ntemp_max_age = 0s\n");
	app.source = "columns = photo.image";
	/* Debug lines say why a file stayed; the user reaches the files. */
	app.options = "allow_other,log_level=debug";
	/* One referenced file keeps the source from looking emptied. */
	app_exec(&app, "CREATE TABLE photo (id integer primary key, image text);"
		 "INSERT INTO photo (image) VALUES ('keep.jpg');");
	/* The user's upload directory. */
	snprintf(up, sizeof(up), "%s/up", h.backing);
	ck_assert_int_eq(mkdir(up, 0755), 0);
	ck_assert_int_eq(chown(up, user.uid, user.gid), 0);
}

static void teardown(void)
{
	harness_destroy(&h);
}

/* Run a scan; *scan gets its record (owned by the caller). */
static json_t *scan(void)
{
	json_t *r = NULL;
	int status = app_mediactl(&app, &r, "scan", NULL);

	ck_assert_msg(r != NULL, "scan answers in JSON");
	ck_assert_msg(status == 0, "the scan works (%d)", status);
	json_t *record = json_incref(json_object_get(r, "scan"));
	json_decref(r);
	return record;
}

static long long number(json_t *obj, const char *key)
{
	return json_integer_value(json_object_get(obj, key));
}

/* The catalog's row for path in this state (NULL if none), a new ref. */
static json_t *catalog_row(const char *path, const char *state)
{
	json_t *r = NULL, *row, *found = NULL;
	size_t i;

	if (app_mediactl(&app, &r, "show", path, NULL) != 0) {
		json_decref(r);
		return NULL;
	}
	json_array_foreach(json_object_get(r, "files"), i, row) {
		if (!found && strcmp(json_string_value(json_object_get(row, "state")), state) == 0)
			found = json_incref(row);
	}
	json_decref(r);
	return found;
}

/* Where a catalog row's file is in BACKING. */
static const char *row_file(json_t *row)
{
	static char path[2048];
	const char *qname = json_string_value(json_object_get(row, "quarantine_name"));

	if (qname)
		snprintf(path, sizeof(path), "%s/.mediafs/quarantine/%s", h.backing, qname);
	else
		snprintf(path, sizeof(path), "%s/%s", h.backing,
			 json_string_value(json_object_get(row, "path")));
	return path;
}

static long long size_of(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* The catalog says the size the file has on disk: every write recorded. */
struct recorded {
	const char *path;
	const char *state;
	long long disk, catalog;
};

static bool is_recorded(void *arg)
{
	struct recorded *r = arg;
	json_t *row = catalog_row(r->path, r->state);

	r->disk = r->catalog = -2;
	if (row) {
		r->disk = size_of(row_file(row));
		r->catalog = number(row, "size");
	}
	json_decref(row);
	return r->disk >= 0 && r->disk == r->catalog;
}

static void assert_recorded(const char *path, const char *state)
{
	struct recorded r = { path, state, 0, 0 };

	ck_assert_msg(harness_wait_until(is_recorded, &r, RECORD_WAIT_MS),
		      "'%s' (%s): %lld bytes on disk, the catalog says %lld: writes went "
		      "unrecorded", path, state, r.disk, r.catalog);
}

/* Does the file hold every line "<prefix><n>" for n < count? */
static bool holds_lines(const char *file, const char *prefix, int count)
{
	char buf[65536], line[64];
	size_t len;

	if (harness_read_file(file, buf, sizeof(buf) - 1, &len) != 0)
		return false;
	buf[len] = '\0';
	for (int i = 0; i < count; i++) {
		snprintf(line, sizeof(line), "%s%d\n", prefix, i);
		if (!strstr(buf, line))
			return false;
	}
	return true;
}

static bool file_is(const char *file, const char *content)
{
	char buf[256];
	size_t len;

	return harness_read_file(file, buf, sizeof(buf), &len) == 0 && len == strlen(content) &&
	       memcmp(buf, content, len) == 0;
}

static bool older_than_1s(void *arg)
{
	struct stat st;
	struct timespec now;

	/* The daemon's now: the real time and the test clock's offset. */
	clock_gettime(CLOCK_REALTIME, &now);
	return lstat(arg, &st) == 0 &&
	       (now.tv_sec - st.st_ctim.tv_sec) * 1000 +
			       (now.tv_nsec - st.st_ctim.tv_nsec) / 1000000 +
			       h.clock_offset_ms > 1100;
}

/* Move the test clock past min_age = 1s, then check that it did. */
static void wait_older_than_1s(const char *path)
{
	app_advance_clock(&app, PAST_1S_MS);
	ck_assert_msg(harness_wait_until(older_than_1s, (void *)path, WAIT_MS),
		      "'%s' grows old", path);
}

/* ------------------------------------------------------------------ */
/* The writer: the unprivileged user, one command per line              */
/* ------------------------------------------------------------------ */

/*
 * Commands: "open SLOT PATH" (O_WRONLY | O_CREAT | O_APPEND), "write SLOT
 * TEXT" (TEXT and a newline, in one write), "unlink PATH", "close SLOT",
 * "quit".  Each answers one line: 0 or -errno.
 */
struct writer {
	pid_t pid;
	FILE *commands;
	FILE *answers;
	int in_fd, out_fd;	/* the user's ends */
};

static int writer_serve(void *arg)
{
	struct writer *w = arg;
	FILE *in = fdopen(w->in_fd, "r"), *out = fdopen(w->out_fd, "w");
	char line[LINE_BYTES], arg1[LINE_BYTES];
	int fds[8], slot, res;

	while (in && out && fgets(line, sizeof(line), in)) {
		line[strcspn(line, "\n")] = '\0';
		res = 0;
		if (sscanf(line, "open %d %4095s", &slot, arg1) == 2) {
			fds[slot] = open(arg1, O_WRONLY | O_CREAT | O_APPEND, 0644);
			res = fds[slot] < 0 ? -errno : 0;
		} else if (sscanf(line, "write %d %4095s", &slot, arg1) == 2) {
			size_t len = strlen(arg1);
			arg1[len++] = '\n';
			ssize_t n = write(fds[slot], arg1, len);
			res = n < 0 ? -errno : (size_t)n == len ? 0 : -EIO;
		} else if (sscanf(line, "unlink %4095s", arg1) == 1) {
			res = unlink(arg1) < 0 ? -errno : 0;
		} else if (sscanf(line, "close %d", &slot) == 1) {
			res = close(fds[slot]) < 0 ? -errno : 0;
		} else if (strcmp(line, "quit") == 0) {
			return 0;
		} else {
			res = -EINVAL;
		}
		fprintf(out, "%d\n", res);
		fflush(out);
	}
	return 1;
}

static void writer_start(struct writer *w)
{
	int commands[2], answers[2];

	ck_assert_int_eq(pipe(commands), 0);
	ck_assert_int_eq(pipe(answers), 0);
	w->in_fd = commands[0];
	w->out_fd = answers[1];
	fflush(NULL);
	w->pid = fork();
	ck_assert_int_ge(w->pid, 0);
	if (w->pid == 0) {
		close(commands[1]);
		close(answers[0]);
		_exit(user_harness_run(&user, writer_serve, w));
	}
	close(commands[0]);
	close(answers[1]);
	w->commands = fdopen(commands[1], "w");
	w->answers = fdopen(answers[0], "r");
	ck_assert(w->commands && w->answers);
}

static int writer_do(struct writer *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int writer_do(struct writer *w, const char *fmt, ...)
{
	char line[LINE_BYTES];
	va_list ap;
	int res;

	va_start(ap, fmt);
	vfprintf(w->commands, fmt, ap);
	va_end(ap);
	fputc('\n', w->commands);
	fflush(w->commands);
	ck_assert_msg(fgets(line, sizeof(line), w->answers) != NULL, "the writer answers");
	ck_assert_int_eq(sscanf(line, "%d", &res), 1);
	return res;
}

static void writer_stop(struct writer *w)
{
	int status;

	fputs("quit\n", w->commands);
	fclose(w->commands);
	fclose(w->answers);
	ck_assert_int_eq(waitpid(w->pid, &status, 0), w->pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the writer ran as the user");
}

/* ------------------------------------------------------------------ */
/* (a) open past min_age: kept while open, quarantined after close      */
/* ------------------------------------------------------------------ */

static bool scan_moves_it(void *arg)
{
	json_t *record = scan();
	bool moved = number(record, "quarantined") == 1;

	(void)arg;
	json_decref(record);
	return moved;
}

START_TEST(test_file_open_for_writing_past_min_age_is_not_quarantined)
{
	struct writer w;
	json_t *record;

	app_mount(&app, "min_age = 1s\ngrace = 1h\n");
	writer_start(&w);
	ck_assert_int_eq(writer_do(&w, "open 0 %s", harness_mount_path(&h, "up/held.jpg")), 0);
	ck_assert_int_eq(writer_do(&w, "write 0 first"), 0);
	/* Old on disk and in the catalog, unreferenced, and still open. */
	wait_older_than_1s(harness_backing_path(&h, "up/held.jpg"));
	record = scan();
	ck_assert_msg(number(record, "candidates") == 1, "the file is a candidate");
	ck_assert_msg(number(record, "quarantined") == 0,
		      "a file open for writing is never quarantined");
	ck_assert_int_eq(number(record, "kept_open"), 1);
	json_decref(record);
	ck_assert_int_eq(size_of(harness_backing_path(&h, "up/held.jpg")), 6);
	ck_assert_msg(harness_log_contains(&h, "'up/held.jpg' is open for writing"),
		      "the log says why it stayed");
	ck_assert_int_eq(writer_do(&w, "write 0 second"), 0);
	ck_assert_int_eq(writer_do(&w, "close 0"), 0);
	writer_stop(&w);
	ck_assert_msg(file_is(harness_backing_path(&h, "up/held.jpg"), "first\nsecond\n"),
		      "both writes are in the live file");
	wait_older_than_1s(harness_backing_path(&h, "up/held.jpg"));
	ck_assert_msg(harness_wait_until(scan_moves_it, NULL, RECORD_WAIT_MS),
		      "closed, the orphan goes to the quarantine");
	assert_recorded("up/held.jpg", "quarantined");
	ck_assert_int_eq(harness_unmount(&h), 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* (b) writes after each scan: none lands in the quarantine unrecorded  */
/* ------------------------------------------------------------------ */

START_TEST(test_writes_after_each_scan_are_never_lost_in_the_quarantine)
{
	enum { SCANS = 4 };
	struct writer w;
	char line[32];

	app_mount(&app, "min_age = 0s\ngrace = 1h\n");
	writer_start(&w);
	/* Slot 0: an upload held open.  Slot 1: a temporary file the
	 * application unlinks and goes on writing, which goes to the
	 * quarantine (temp_max_age = 0s). */
	ck_assert_int_eq(writer_do(&w, "open 0 %s", harness_mount_path(&h, "up/b.jpg")), 0);
	ck_assert_int_eq(writer_do(&w, "write 0 b0"), 0);
	ck_assert_int_eq(writer_do(&w, "open 1 %s", harness_mount_path(&h, "up/spool.tmp")), 0);
	ck_assert_int_eq(writer_do(&w, "write 1 t0"), 0);
	ck_assert_int_eq(writer_do(&w, "unlink %s", harness_mount_path(&h, "up/spool.tmp")), 0);
	/* A file with two names, closed: the first scan moves the
	 * unreferenced one while the kernel knows the inode. */
	ck_assert_int_eq(writer_do(&w, "open 2 %s", harness_mount_path(&h, "up/h1.jpg")), 0);
	ck_assert_int_eq(writer_do(&w, "write 2 h0"), 0);
	ck_assert_int_eq(writer_do(&w, "close 2"), 0);
	ck_assert_int_eq(link(harness_mount_path(&h, "up/h1.jpg"),
			      harness_mount_path(&h, "up/h2.jpg")), 0);
	app_insert(&app, "photo.image", "up/h2.jpg");
	for (int i = 1; i <= SCANS; i++) {
		json_t *record = scan();
		ck_assert_msg(size_of(harness_backing_path(&h, "up/b.jpg")) >= 0,
			      "scan %d moved the open upload", i);
		ck_assert_int_eq(number(record, "kept_open"), 1);
		ck_assert_int_eq(number(record, "quarantined"), i == 1);
		json_decref(record);
		snprintf(line, sizeof(line), "b%d", i);
		ck_assert_int_eq(writer_do(&w, "write 0 %s", line), 0);
		snprintf(line, sizeof(line), "t%d", i);
		ck_assert_int_eq(writer_do(&w, "write 1 %s", line), 0);
	}
	ck_assert_int_eq(writer_do(&w, "close 0"), 0);
	ck_assert_int_eq(writer_do(&w, "close 1"), 0);
	/* One name in the quarantine, the other live: it opens for writing. */
	ck_assert_int_eq(writer_do(&w, "open 2 %s", harness_mount_path(&h, "up/h2.jpg")), 0);
	ck_assert_int_eq(writer_do(&w, "write 2 h1"), 0);
	ck_assert_int_eq(writer_do(&w, "close 2"), 0);
	writer_stop(&w);
	assert_recorded("up/h2.jpg", "live");
	ck_assert_msg(holds_lines(harness_backing_path(&h, "up/b.jpg"), "b", SCANS + 1),
		      "every write to the held upload is in the live file");
	assert_recorded("up/b.jpg", "live");
	/* The unlinked file: all of it in the quarantine, and recorded. */
	json_t *row = catalog_row("up/spool.tmp", "quarantined");
	ck_assert_msg(row != NULL, "the unlinked file is quarantined");
	ck_assert_msg(holds_lines(row_file(row), "t", SCANS + 1),
		      "the writes after the unlink are in the quarantined file");
	json_decref(row);
	assert_recorded("up/spool.tmp", "quarantined");
	json_t *r = NULL;
	ck_assert_int_eq(app_mediactl(&app, &r, "show", "up/spool.tmp", NULL), 0);
	char *shown = json_dumps(json_object_get(r, "audit"), 0);
	ck_assert_msg(strstr(shown, "\"written\"") != NULL,
		      "the audit log has the writes in the quarantine: %s", shown);
	free(shown);
	json_decref(r);
	ck_assert_int_eq(harness_unmount(&h), 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* (c) open-write-close rounds against back-to-back scans               */
/* ------------------------------------------------------------------ */

struct race_writer {
	int id;
	char results[700];	/* the lines it wrote, one per line */
};

/* As the user: rounds of open, write one line, close, for RACE_MS. */
static int race_rounds(void *arg)
{
	struct race_writer *rw = arg;
	struct timespec start, now;
	FILE *results = fopen(rw->results, "w");
	int opened = 0, refused = 0;

	if (!results)
		return 2;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (int round = 0;; round++) {
		char path[1024], line[64];
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 >
		    RACE_MS)
			break;
		snprintf(path, sizeof(path), "%s/up/race%d.jpg", h.mountpoint, round % RACE_FILES);
		int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd < 0) {
			/* ESTALE twice in a row: the file moved again. */
			refused++;
			continue;
		}
		opened++;
		int len = snprintf(line, sizeof(line), "w%d-%d\n", rw->id, round);
		if (write(fd, line, (size_t)len) == len)
			fputs(line, results);
		if (close(fd) != 0)
			return 3;
	}
	fclose(results);
	return opened > 0 ? 0 : 4;
}

/* Append every file's content to all: the live ones and the quarantined. */
static void collect(const char *dir, char **all, size_t *len)
{
	char cmd[1200];
	FILE *f;
	char buf[4096];
	size_t n;

	snprintf(cmd, sizeof(cmd), "find '%s' -type f -name 'race*.jpg' -exec cat {} +", dir);
	f = popen(cmd, "r");
	ck_assert_ptr_nonnull(f);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
		*all = realloc(*all, *len + n + 1);
		memcpy(*all + *len, buf, n);
		*len += n;
		(*all)[*len] = '\0';
	}
	pclose(f);
}

/* Every row of the catalog in a state: size == the file's size. */
struct rows_check {
	const char *state;
	size_t rows;
};

static bool rows_recorded(void *arg)
{
	struct rows_check *check = arg;
	json_t *r = NULL, *row;
	bool ok = true;
	size_t i;

	ck_assert_int_eq(app_mediactl(&app, &r, "ls", "up", "--state", check->state, NULL), 0);
	check->rows = json_array_size(json_object_get(r, "files"));
	json_array_foreach(json_object_get(r, "files"), i, row) {
		if (size_of(row_file(row)) != number(row, "size")) {
			ok = false;
			fprintf(stderr, "%s '%s': %lld bytes on disk, %lld in the catalog\n",
				check->state, row_file(row), size_of(row_file(row)),
				number(row, "size"));
		}
	}
	json_decref(r);
	return ok;
}

START_TEST(test_open_write_close_races_with_scans_lose_nothing)
{
	struct race_writer writers[RACE_WRITERS];
	pid_t pids[RACE_WRITERS];
	char delay[16], shim_env[1100];
	const char *shim = getenv("OPENWRITE_SHIM");
	int scans = 0, running = RACE_WRITERS;
	long long moved = 0, kept = 0;

	ck_assert_msg(shim && access(shim, R_OK) == 0, "$OPENWRITE_SHIM names the shim");
	snprintf(delay, sizeof(delay), "%d", RACE_RENAME_DELAY_MS);
	setenv("OPENWRITE_RENAME_DELAY_MS", delay, 1);
	snprintf(shim_env, sizeof(shim_env), "%s", shim);
	setenv("LD_PRELOAD", shim_env, 1);
	/* Under ASan the runtime must come first, unless told not to care. */
	setenv("ASAN_OPTIONS", "verify_asan_link_order=0", 1);
	app_mount(&app, "min_age = 0s\ngrace = 1h\nrestore_on_access = no\n");
	unsetenv("LD_PRELOAD");
	for (int i = 0; i < RACE_WRITERS; i++) {
		writers[i].id = i;
		snprintf(writers[i].results, sizeof(writers[i].results), "%s/results%d", h.dir, i);
		ck_assert_int_eq(harness_write_file(writers[i].results, "", 0), 0);
		ck_assert_int_eq(chown(writers[i].results, user.uid, user.gid), 0);
		fflush(NULL);
		pids[i] = fork();
		ck_assert_int_ge(pids[i], 0);
		if (pids[i] == 0)
			_exit(user_harness_run(&user, race_rounds, &writers[i]));
	}
	while (running > 0) {
		json_t *record = scan();
		moved += number(record, "quarantined");
		kept += number(record, "kept_open");
		json_decref(record);
		scans++;
		for (int i = 0; i < RACE_WRITERS; i++) {
			int status;
			if (pids[i] > 0 && waitpid(pids[i], &status, WNOHANG) == pids[i]) {
				ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
					      "writer %d failed (%d)", i, status);
				pids[i] = 0;
				running--;
			}
		}
	}
	printf("race: %d scans, %lld files moved, %lld kept open\n", scans, moved, kept);
	ck_assert_msg(moved > 0, "the scans moved files while the writers wrote");
	/* Every line a writer wrote is in a live or a quarantined file... */
	char *all = NULL;
	size_t len = 0;
	collect(h.backing, &all, &len);
	ck_assert_ptr_nonnull(all);
	for (int i = 0; i < RACE_WRITERS; i++) {
		char line[64];
		FILE *f = fopen(writers[i].results, "r");
		ck_assert_ptr_nonnull(f);
		while (fgets(line, sizeof(line), f))
			ck_assert_msg(strstr(all, line) != NULL, "line %s was lost", line);
		fclose(f);
	}
	free(all);
	/* ...and the catalog records each file's size where it is. */
	struct rows_check live = { "live", 0 }, quarantined = { "quarantined", 0 };
	ck_assert_msg(harness_wait_until(rows_recorded, &live, RECORD_WAIT_MS),
		      "the live files are recorded");
	ck_assert_msg(harness_wait_until(rows_recorded, &quarantined, RECORD_WAIT_MS),
		      "no write reached the quarantine unrecorded");
	ck_assert_msg(quarantined.rows == (size_t)moved,
		      "%zu live rows, %zu quarantined rows for %lld moves", live.rows,
		      quarantined.rows, moved);
	ck_assert_int_eq(harness_unmount(&h), 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* (d) an unlinked file still being written is not purged while open    */
/* ------------------------------------------------------------------ */

static bool purge_is_due(void *arg)
{
	json_t *row = catalog_row(arg, "quarantined");
	struct timespec now;
	bool due;

	clock_gettime(CLOCK_REALTIME, &now);
	due = row && number(row, "purge_at_ms") < (long long)now.tv_sec * 1000 +
							   now.tv_nsec / 1000000 +
							   h.clock_offset_ms - 100;
	json_decref(row);
	return due;
}

static bool scan_purges_it(void *arg)
{
	json_t *record = scan();
	bool purged = number(record, "purged") == 1;

	(void)arg;
	json_decref(record);
	return purged;
}

START_TEST(test_unlinked_file_being_written_is_not_purged_while_open)
{
	struct writer w;
	json_t *record, *row, *r = NULL;
	char id[32];

	app_mount(&app, "min_age = 1h\ngrace = 1s\n");
	writer_start(&w);
	ck_assert_int_eq(writer_do(&w, "open 0 %s", harness_mount_path(&h, "up/part.tmp")), 0);
	ck_assert_int_eq(writer_do(&w, "write 0 p0"), 0);
	ck_assert_int_eq(writer_do(&w, "unlink %s", harness_mount_path(&h, "up/part.tmp")), 0);
	app_advance_clock(&app, PAST_1S_MS);
	ck_assert_msg(harness_wait_until(purge_is_due, "up/part.tmp", WAIT_MS),
		      "the quarantined file's grace runs out");
	record = scan();
	ck_assert_msg(number(record, "purged") == 0, "a file open for writing is never purged");
	ck_assert_int_eq(number(record, "kept_open"), 1);
	json_decref(record);
	row = catalog_row("up/part.tmp", "quarantined");
	ck_assert_ptr_nonnull(row);
	ck_assert_msg(size_of(row_file(row)) == 3, "it is still in the quarantine");
	/* An admin's purge keeps it too, and says so. */
	snprintf(id, sizeof(id), "%lld", number(row, "id"));
	ck_assert_int_eq(app_mediactl(&app, &r, "purge", "--id", id, NULL), 1);
	ck_assert_int_eq(json_array_size(json_object_get(r, "kept_open")), 1);
	json_decref(r);
	ck_assert_msg(size_of(row_file(row)) == 3, "the admin's purge left it");
	ck_assert_int_eq(writer_do(&w, "write 0 p1"), 0);
	ck_assert_int_eq(writer_do(&w, "close 0"), 0);
	writer_stop(&w);
	ck_assert_msg(holds_lines(row_file(row), "p", 2), "the write after the unlink is there");
	assert_recorded("up/part.tmp", "quarantined");
	json_decref(row);
	ck_assert_msg(harness_wait_until(scan_purges_it, NULL, RECORD_WAIT_MS),
		      "closed, it is purged after its grace");
	row = catalog_row("up/part.tmp", "purged");
	ck_assert_msg(row != NULL, "the catalog says purged");
	json_decref(row);
	ck_assert_int_eq(harness_unmount(&h), 0);
}
END_TEST

static Suite *openwrite_suite(void)
{
	Suite *s = suite_create("openwrite");
	TCase *tc = tcase_create("open for writing");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_file_open_for_writing_past_min_age_is_not_quarantined);
	tcase_add_test(tc, test_writes_after_each_scan_are_never_lost_in_the_quarantine);
	tcase_add_test(tc, test_open_write_close_races_with_scans_lose_nothing);
	tcase_add_test(tc, test_unlinked_file_being_written_is_not_purged_while_open);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	int failed;

	app_require_mediactl();
	user_harness_require(&user);
	failed = app_run_suite(openwrite_suite());
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
