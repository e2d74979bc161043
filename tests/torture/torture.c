/*
 * torture: many writers behaving like a web application on a real mediafs
 * mount over its own media directory, with a real SQLite application
 * database, while the checker scans every second and the daemon is killed
 * with SIGKILL and mounted again, again and again.
 *
 * Each writer loops: write a new file through the mount (random size and
 * bytes), then, after a random delay shorter than min_age, commit a row
 * that references it (with its checksum) -- or roll the transaction back,
 * or point an existing row at the new file, or delete a row, or let two
 * rows share the file.  I/O that fails while the daemon is down is retried.
 *
 * At the end, with the writers stopped, min_age waited out and a final
 * scan: every path a row references must be at its place in BACKING with
 * the exact bytes (lost must be 0); every unreferenced file must have left
 * (quarantined or purged); mediactl check must find the catalog and the
 * disk in agreement; and no path may be both at its place and in the
 * quarantine.
 *
 * usage: torture MEDIAFS MEDIACTL [SECONDS [WRITERS [KILLS]]]
 * Prints the figures and exits 0, 1 on any loss or disagreement, 77 when
 * FUSE is missing.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "mount_harness.h"

enum {
	MAX_WRITERS = 32,
	MAX_FILE_BYTES = 48 * 1024,
	COMMIT_DELAY_MS = 400,		/* the longest an upload waits for its row */
	MIN_AGE_S = 2,			/* above COMMIT_DELAY_MS, as promise 2 needs */
	GRACE_S = 4,
	RETRY_MS = 20,
	RELEASE_WAIT_MS = 10000,
};

static const char *mediactl_bin;
static struct mount_harness h;		/* main thread only */
static const char *media;		/* BACKING and the mount point: h.backing */
static char app_db[512], config[512];
static atomic_bool stopping;
static atomic_long operations, retries;
static atomic_int kills;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "torture: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

/* Start the daemon (mount over its own media directory) and wait. */
static void mount_media(void)
{
	char option[700];
	const char *args[] = { "-o", option, NULL };

	snprintf(option, sizeof(option), "config=%s", config);
	if (harness_mount_at(&h, media, media, args) != 0)
		die("the mount did not come up (see %s)", h.log_path);
}

static uint64_t checksum(const unsigned char *data, size_t len)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < len; i++)
		h = (h ^ data[i]) * 1099511628211ULL;
	return h;
}

/* Write a whole file through the mount, retrying while the daemon is
 * down; the bytes are the writer's, so a retry writes them again. */
static void write_file(const char *rel, const unsigned char *data, size_t len)
{
	char path[1024];

	snprintf(path, sizeof(path), "%s/%s", media, rel);
	for (;;) {
		int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
		bool ok = fd >= 0 && write(fd, data, len) == (ssize_t)len;
		if (fd >= 0)
			ok = close(fd) == 0 && ok;
		if (ok)
			return;
		atomic_fetch_add(&retries, 1);
		if (errno != ENOTCONN && errno != EIO && errno != ENOENT && errno != EINTR &&
		    errno != ECONNABORTED)
			die("write '%s': %s", rel, strerror(errno));
		harness_sleep_ms(RETRY_MS);
	}
}

static void db_exec(sqlite3 *db, const char *sql)
{
	char *error = NULL;

	while (sqlite3_exec(db, sql, NULL, NULL, &error) != SQLITE_OK) {
		if (strstr(error ? error : "", "locked") || strstr(error ? error : "", "busy")) {
			sqlite3_free(error);
			error = NULL;
			harness_sleep_ms(5);
			continue;
		}
		die("sqlite: %s: %s", sql, error ? error : "?");
	}
}

struct writer {
	int id;
	unsigned seed;
	pthread_t thread;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	unsigned char *data = malloc(MAX_FILE_BYTES);
	char rel[128], sql[512];
	sqlite3 *db;

	if (!data || sqlite3_open(app_db, &db) != SQLITE_OK)
		die("writer %d cannot start", w->id);
	sqlite3_busy_timeout(db, 10000);
	for (long n = 0; !atomic_load(&stopping); n++) {
		size_t len = 1 + (size_t)rand_r(&w->seed) % MAX_FILE_BYTES;
		for (size_t i = 0; i < len; i++)
			data[i] = (unsigned char)rand_r(&w->seed);
		snprintf(rel, sizeof(rel), "w%02d/%07ld.bin", w->id, n);
		write_file(rel, data, len);
		uint64_t sum = checksum(data, len);
		harness_sleep_ms(rand_r(&w->seed) % COMMIT_DELAY_MS);
		int action = rand_r(&w->seed) % 10;
		if (action < 6) {		/* an ordinary upload */
			snprintf(sql, sizeof(sql), "INSERT INTO media (path, sum) VALUES ('%s', '%llu')",
				 rel, (unsigned long long)sum);
			db_exec(db, sql);
		} else if (action == 6) {	/* the transaction rolls back */
			db_exec(db, "BEGIN IMMEDIATE");
			snprintf(sql, sizeof(sql), "INSERT INTO media (path, sum) VALUES ('%s', '%llu')",
				 rel, (unsigned long long)sum);
			db_exec(db, sql);
			db_exec(db, "ROLLBACK");
		} else if (action == 7) {	/* a row gets a new file */
			snprintf(sql, sizeof(sql), "UPDATE media SET path = '%s', sum = '%llu' WHERE id = "
				 "(SELECT id FROM media WHERE path LIKE 'w%02d/%%' ORDER BY random() LIMIT 1)",
				 rel, (unsigned long long)sum, w->id);
			db_exec(db, sql);
		} else if (action == 8) {	/* a row is deleted; this upload is abandoned */
			snprintf(sql, sizeof(sql), "DELETE FROM media WHERE id = (SELECT id FROM media "
				 "WHERE path LIKE 'w%02d/%%' ORDER BY random() LIMIT 1)", w->id);
			db_exec(db, sql);
		} else {			/* two rows share the file */
			snprintf(sql, sizeof(sql), "INSERT INTO media (path, sum) VALUES ('%s', '%llu'),"
				 " ('%s', '%llu')", rel, (unsigned long long)sum, rel,
				 (unsigned long long)sum);
			db_exec(db, sql);
		}
		atomic_fetch_add(&operations, 1);
	}
	sqlite3_close(db);
	free(data);
	return NULL;
}

/* Kill the daemon at random moments, spread over the run. */
static void run_kills(long seconds, int count, unsigned seed)
{
	long start = harness_now_ms(), end = start + seconds * 1000;

	for (int k = 0; k < count; k++) {
		long at = start + (long)(k + 1) * (end - start) / (count + 1) +
			  (long)(rand_r(&seed) % 700) - 350;
		while (harness_now_ms() < at)
			harness_sleep_ms(10);
		harness_kill(&h);
		atomic_fetch_add(&kills, 1);
		harness_sleep_ms(50 + rand_r(&seed) % 200);	/* the site runs without mediafs */
		mount_media();
	}
	while (harness_now_ms() < end)
		harness_sleep_ms(50);
}

/* Run "mediactl --json --mount MEDIA command"; its JSON, or NULL. */
static json_t *mediactl(const char *command)
{
	const char *argv[] = { mediactl_bin, "--json", "--mount", media, command, NULL };
	struct harness_output *r = malloc(sizeof(*r));
	json_t *json;

	if (!r)
		die("cannot run mediactl");
	harness_run(r, 0, argv);
	json = json_loads(r->out, 0, NULL);
	free(r);
	return json;
}

/* A number of the answer (in its "scan" object when it has one); -1 when
 * it has none. */
static long json_number(json_t *answer, const char *key)
{
	json_t *scan = json_object_get(answer, "scan");
	json_t *value = json_object_get(scan ? scan : answer, key);

	return json_is_integer(value) ? (long)json_integer_value(value) : -1;
}

struct verdict {
	long referenced, lost, orphans_left, in_two_places, files_on_disk;
};

static bool in_quarantine(const char *rel)
{
	char cmd[1024];
	int n = 0;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "find '%s/.mediafs/quarantine' -path '*/%s' 2>/dev/null | wc -l",
		 media, rel);
	f = popen(cmd, "r");
	if (f && fscanf(f, "%d", &n) != 1)
		n = 0;
	if (f)
		pclose(f);
	return n > 0;
}

static void verify_references(struct verdict *v)
{
	unsigned char *data = malloc(MAX_FILE_BYTES + 1);
	sqlite3_stmt *st;
	sqlite3 *db;

	if (sqlite3_open(app_db, &db) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT DISTINCT path, sum FROM media", -1, &st, NULL) != SQLITE_OK)
		die("cannot read the application database");
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *rel = (const char *)sqlite3_column_text(st, 0);
		unsigned long long sum = strtoull((const char *)sqlite3_column_text(st, 1), NULL, 10);
		char path[1024];
		ssize_t len = -1;
		int fd;

		v->referenced++;
		/* Read BACKING's file itself: through the mount a lookup
		 * could bring back a file the checker wrongly moved. */
		snprintf(path, sizeof(path), "%s/%s", media, rel);
		fd = open(path, O_RDONLY);
		if (fd >= 0) {
			len = read(fd, data, MAX_FILE_BYTES + 1);
			close(fd);
		}
		if (len < 0 || checksum(data, (size_t)len) != sum) {
			v->lost++;
			fprintf(stderr, "LOST: '%s' (%s)\n", rel, len < 0 ? strerror(errno) :
				"wrong bytes");
		}
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(data);
}

static bool is_referenced(sqlite3 *db, const char *rel)
{
	sqlite3_stmt *st;
	bool found = false;

	if (sqlite3_prepare_v2(db, "SELECT 1 FROM media WHERE path = ?1", -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, rel, -1, SQLITE_STATIC);
		found = sqlite3_step(st) == SQLITE_ROW;
		sqlite3_finalize(st);
	}
	return found;
}

/* Walk the writers' directories in BACKING (unmounted now). */
static void verify_orphans(struct verdict *v)
{
	sqlite3 *db;

	if (sqlite3_open(app_db, &db) != SQLITE_OK)
		die("cannot read the application database");
	for (int w = 0; w < MAX_WRITERS; w++) {
		char dir[600], rel[700];
		struct dirent *d;
		DIR *listing;

		snprintf(dir, sizeof(dir), "%s/w%02d", media, w);
		listing = opendir(dir);
		while (listing && (d = readdir(listing))) {
			if (d->d_name[0] == '.')
				continue;
			snprintf(rel, sizeof(rel), "w%02d/%s", w, d->d_name);
			v->files_on_disk++;
			if (!is_referenced(db, rel)) {
				v->orphans_left++;
				if (v->orphans_left <= 5)
					fprintf(stderr, "orphan left: '%s'\n", rel);
			}
			if (in_quarantine(rel)) {
				v->in_two_places++;
				fprintf(stderr, "TWO PLACES: '%s'\n", rel);
			}
		}
		if (listing)
			closedir(listing);
	}
	sqlite3_close(db);
}

static void write_config(void)
{
	FILE *f = fopen(config, "w");

	if (!f)
		die("cannot write %s", config);
	fprintf(f, "[mediafs]\ninterval = 1s\nmin_age = %ds\ngrace = %ds\nmax_fraction = 1\n"
		   "temp_max_age = 0s\nrestore_on_access = no\n\n[source app]\n"
		   "url = sqlite:///%s\ncolumns = media.path\n", MIN_AGE_S, GRACE_S, app_db);
	fclose(f);
}

/* No upload of the writers' directories is open in the daemon (its
 * catalog, in BACKING too, always is). */
static bool daemon_released_all(void *ctx)
{
	int writers = *(int *)ctx;

	for (int w = 0; w < writers; w++) {
		char dir[600];
		snprintf(dir, sizeof(dir), "%s/w%02d", media, w);
		if (harness_daemon_writes(&h, dir))
			return false;
	}
	return true;
}

int main(int argc, char **argv)
{
	long seconds = argc > 3 ? atol(argv[3]) : 30;
	int writers = argc > 4 ? atoi(argv[4]) : 4;
	int kill_count = argc > 5 ? atoi(argv[5]) : 3;
	struct writer ws[MAX_WRITERS];
	struct verdict v = { 0 };
	long started = harness_now_ms();
	sqlite3 *db;

	if (argc < 3 || writers < 1 || writers > MAX_WRITERS) {
		fprintf(stderr, "usage: torture MEDIAFS MEDIACTL [SECONDS [WRITERS [KILLS]]]\n");
		return 2;
	}
	/* The harness runs $MEDIAFS_BIN: this run's argument. */
	setenv("MEDIAFS_BIN", argv[1], 1);
	harness_require_fuse();
	mediactl_bin = argv[2];
	if (harness_init(&h, "torture") != 0 || harness_use_test_clock(&h) != 0)
		die("cannot make a work directory");
	media = h.backing;
	snprintf(app_db, sizeof(app_db), "%s/app.db", h.dir);
	snprintf(config, sizeof(config), "%s/mediafs.ini", h.dir);
	setenv("MEDIAFS_RUNTIME_DIR", h.dir, 1);
	for (int w = 0; w < writers; w++) {
		char dir[600];
		snprintf(dir, sizeof(dir), "%s/w%02d", media, w);
		mkdir(dir, 0755);
	}
	if (sqlite3_open(app_db, &db) != SQLITE_OK)
		die("cannot create the application database");
	db_exec(db, "PRAGMA journal_mode = WAL; CREATE TABLE media (id INTEGER PRIMARY KEY,"
		    " path TEXT NOT NULL, sum TEXT NOT NULL);");
	sqlite3_close(db);
	write_config();
	mount_media();

	for (int w = 0; w < writers; w++) {
		ws[w] = (struct writer){ .id = w, .seed = (unsigned)(w * 7919 + 17) };
		if (pthread_create(&ws[w].thread, NULL, writer_main, &ws[w]) != 0)
			die("cannot start writer %d", w);
	}
	run_kills(seconds, kill_count, 4242);
	atomic_store(&stopping, true);
	for (int w = 0; w < writers; w++)
		pthread_join(ws[w].thread, NULL);

	/* Final: the daemon has released every upload (a file open for
	 * writing is never moved), min_age passes (on the daemon's test
	 * clock), then one scan decides about everything. */
	if (!harness_wait_until(daemon_released_all, &writers, RELEASE_WAIT_MS))
		die("the daemon still holds an upload open for writing");
	if (harness_advance_clock(&h, MIN_AGE_S * 1000 + 300) != 0)
		die("cannot move the test clock");
	json_t *scan = mediactl("scan");
	long quarantined = json_number(scan, "quarantined");
	json_decref(scan);
	json_t *check = mediactl("check");
	long missing = json_number(check, "missing_count");
	long untracked = json_number(check, "untracked_count");
	long dangling = json_number(check, "dangling_count");
	json_decref(check);
	json_decref(mediactl("status"));

	/* Unmounted, the media directory is BACKING itself. */
	if (harness_unmount(&h) != 0)
		fprintf(stderr, "torture: the daemon did not exit cleanly after the unmount\n");
	verify_references(&v);
	verify_orphans(&v);

	printf("torture: %ld s, %d writers, %ld operations, %ld retried writes, %d kills survived\n",
	       (harness_now_ms() - started) / 1000, writers, atomic_load(&operations),
	       atomic_load(&retries), atomic_load(&kills));
	printf("torture: final scan quarantined %ld; check: %ld missing, %ld untracked, "
	       "%ld dangling\n", quarantined, missing, untracked, dangling);
	printf("torture: %ld referenced files, %ld lost, %ld orphans left behind, "
	       "%ld in two places, %ld files on disk\n", v.referenced, v.lost, v.orphans_left,
	       v.in_two_places, v.files_on_disk);
	bool ok = v.lost == 0 && v.orphans_left == 0 && v.in_two_places == 0 && missing == 0 &&
		  untracked == 0 && dangling == 0 && atomic_load(&kills) == kill_count &&
		  v.referenced > 0;
	if (ok)
		harness_destroy(&h);
	else
		fprintf(stderr, "torture: FAILED; the work directory stays: %s\n", h.dir);
	return ok ? 0 : 1;
}
