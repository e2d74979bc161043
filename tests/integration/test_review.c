/*
 * Integration tests of `mediactl review`: a held scan of real JPEG and PNG
 * files, a file that is no image, a corrupt JPEG and a hostile name,
 * reviewed through the daemon and offline; the page opened in headless
 * Chromium (every thumbnail decodes, no name runs a script; a screenshot
 * is kept in the build directory); a review of 100,000 files in bounded
 * time and size.
 *
 * Three meson tests run one case each (CK_RUN_CASE): "page", "browser"
 * (skipped without chromium) and "large".
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <vips/vips.h>

#include "mount_harness.h"

enum { WAIT_MS = 10000, LARGE_FILES = 100000, LARGE_DIRS = 100 };

/* What the large review may take (on the 2-core CI machine, under ASan
 * too) and weigh. */
#define LARGE_SECONDS 30
#define LARGE_BYTES (30L * 1024 * 1024)

/* A name that would inject markup and script if it were not escaped. */
#define HOSTILE_NAME "x\"'><script>document.title='pwned'<" \
	"\n<img src=x onerror=\"document.title='pwned'\">.png"

static struct mount_harness h;
static char app_path[600], page_path[700];

struct result {
	int status;
	char *out;
	char err[8192];
	json_t *json;
};

static void app_exec(const char *sql)
{
	sqlite3 *db;

	ck_assert_int_eq(sqlite3_open(app_path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static char *read_all(int fd)
{
	size_t len = 0, cap = 1 << 16;
	char *buf = malloc(cap);
	ssize_t n;

	ck_assert_ptr_nonnull(buf);
	while ((n = read(fd, buf + len, cap - len - 1)) > 0) {
		len += (size_t)n;
		if (cap - len < 4096) {
			cap *= 2;
			buf = realloc(buf, cap);
			ck_assert_ptr_nonnull(buf);
		}
	}
	buf[len] = '\0';
	return buf;
}

/* Run argv[0] (a path) with argv; stdout kept whole, --json parsed. */
static void run_program(struct result *r, const char *const *argv)
{
	int out_pipe[2], err_pipe[2], status;
	bool json = false;

	for (int i = 0; argv[i]; i++)
		json = json || strcmp(argv[i], "--json") == 0;
	ck_assert_int_eq(pipe(out_pipe), 0);
	ck_assert_int_eq(pipe(err_pipe), 0);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(out_pipe[1], STDOUT_FILENO);
		dup2(err_pipe[1], STDERR_FILENO);
		close(out_pipe[0]);
		close(err_pipe[0]);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(out_pipe[1]);
	close(err_pipe[1]);
	r->out = read_all(out_pipe[0]);
	ssize_t n = read(err_pipe[0], r->err, sizeof(r->err) - 1);
	r->err[n > 0 ? n : 0] = '\0';
	close(out_pipe[0]);
	close(err_pipe[0]);
	waitpid(pid, &status, 0);
	r->status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	r->json = json ? json_loads(r->out, 0, NULL) : NULL;
}

static void result_clear(struct result *r)
{
	free(r->out);
	json_decref(r->json);
	memset(r, 0, sizeof(*r));
}

#define MEDIACTL(r, ...) \
	run_program((r), (const char *const[]){ getenv("MEDIACTL_BIN"), __VA_ARGS__, NULL })

static int64_t number_at(const json_t *obj, const char *key)
{
	return json_integer_value(json_object_get(obj, key));
}

static int64_t quarantined_files(void)
{
	struct result r;
	int64_t files;

	MEDIACTL(&r, "--json", "status");
	ck_assert_int_eq(r.status, 0);
	files = number_at(json_object_get(json_object_get(r.json, "totals"), "quarantined"),
			  "files");
	result_clear(&r);
	return files;
}

/* A real image in format (".jpg", ".png"), width x height, from libvips. */
static void write_image(const char *path, const char *format, int width, int height,
			bool alpha)
{
	VipsImage *xyz, *bands, *pixels;
	void *data;
	size_t len;

	ck_assert_int_eq(vips_xyz(&xyz, width, height, NULL), 0);
	if (alpha) {
		ck_assert_int_eq(vips_bandjoin_const1(xyz, &bands, 200, NULL), 0);
		g_object_unref(xyz);
	} else {
		bands = xyz;
	}
	ck_assert_int_eq(vips_cast_uchar(bands, &pixels, NULL), 0);
	ck_assert_int_eq(vips_image_write_to_buffer(pixels, format, &data, &len, NULL), 0);
	ck_assert_int_eq(harness_write_file(path, data, len), 0);
	g_free(data);
	g_object_unref(pixels);
	g_object_unref(bands);
}

static void mount_with(const char *settings)
{
	char config[600], option[700];
	const char *args[] = { "-o", option, NULL };
	FILE *f;

	snprintf(config, sizeof(config), "%s/mediafs.ini", h.dir);
	f = fopen(config, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "[mediafs]\ninterval = 1h\nmin_age = 1s\ngrace = 7d\n%s"
		   "\n[source app]\nurl = sqlite:///%s\ncolumns = photo.image\n", settings,
		app_path);
	ck_assert_int_eq(fclose(f), 0);
	snprintf(option, sizeof(option), "config=%s", config);
	ck_assert_int_eq(harness_mount(&h, args), 0);
	ck_assert(harness_wait_log(&h, "(startup)", 60000));
}

static void setup(void)
{
	char runtime[600];

	/* libvips starts here, in the process of one test, not before
	 * Check forks it. */
	ck_assert_int_eq(VIPS_INIT("test_review"), 0);
	ck_assert_int_eq(harness_init(&h, "review"), 0);
	snprintf(runtime, sizeof(runtime), "%s/run", h.dir);
	setenv("MEDIAFS_RUNTIME_DIR", runtime, 1);
	snprintf(app_path, sizeof(app_path), "%s/app.db", h.dir);
	app_exec("CREATE TABLE photo (id integer primary key, image text);"
		 "INSERT INTO photo (image) VALUES ('kept.jpg');");
}

static void teardown(void)
{
	harness_destroy(&h);
}

/* The files of the page: two JPEGs, two PNGs (one with the hostile
 * name), two text files (one named in Latin-1) and a corrupt JPEG; the source then loses every
 * row, so the scan is held (the brake). */
static int64_t held_scan_of_the_files(void)
{
	struct result r;
	int64_t id;

	mount_with("restore_on_access = yes\n");
	ck_assert_int_eq(mkdir(harness_mount_path(&h, "photos"), 0755), 0);
	ck_assert_int_eq(mkdir(harness_mount_path(&h, "docs"), 0755), 0);
	write_image(harness_mount_path(&h, "photos/wide.jpg"), ".jpg", 640, 360, false);
	write_image(harness_mount_path(&h, "photos/tall.jpg"), ".jpg", 200, 500, false);
	write_image(harness_mount_path(&h, "photos/alpha.png"), ".png", 300, 300, true);
	write_image(harness_mount_path(&h, "docs/" HOSTILE_NAME), ".png", 120, 90, false);
	ck_assert_int_eq(harness_write_file(harness_mount_path(&h, "docs/notes.txt"), "notes",
					    5), 0);
	ck_assert_int_eq(harness_write_file(harness_mount_path(&h, "docs/caf\xe9.txt"), "latin-1",
					    7), 0);
	ck_assert_int_eq(harness_write_file(harness_mount_path(&h, "photos/broken.jpg"),
					    "\xff\xd8\xff\xe0 not a jpeg", 15), 0);
	sleep_ms(1100);
	app_exec("DELETE FROM photo");
	MEDIACTL(&r, "--json", "scan");
	ck_assert_msg(r.status == 0, "scan: %s", r.err);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(r.json, "scan"),
							   "status")), "held");
	id = number_at(json_object_get(r.json, "scan"), "id");
	result_clear(&r);
	return id;
}

/* Generate the page of the held scan into page_path; the JSON summary. */
static void review_held(struct result *r)
{
	snprintf(page_path, sizeof(page_path), "%s/review.html", h.dir);
	MEDIACTL(r, "--json", "review", "--held", "-o", page_path);
	ck_assert_msg(r->status == 0, "review: %s", r->err);
}

static char *read_page(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *text;

	ck_assert_int_ge(fd, 0);
	text = read_all(fd);
	close(fd);
	return text;
}

START_TEST(test_page_of_a_held_scan_then_of_the_quarantine)
{
	struct result r;
	char id_text[32], command[900], *page;
	int64_t id = held_scan_of_the_files();

	review_held(&r);
	ck_assert_int_eq(number_at(r.json, "files"), 7);
	ck_assert_msg(number_at(r.json, "thumbnails") == 4, "4 thumbnails: %s", r.out);
	ck_assert_msg(!strstr(r.err, "thumbnails:"), "no progress without a terminal");
	result_clear(&r);
	/* On a terminal (script(1) gives it one), progress and a last line. */
	snprintf(command, sizeof(command), "%s review --held -o %s/tty.html",
		 getenv("MEDIACTL_BIN"), h.dir);
	run_program(&r, (const char *const[]){ "script", "-qec", command, "/dev/null", NULL });
	ck_assert_msg(r.status == 0 && strstr(r.out, "thumbnails: 4 of 5") &&
		      strstr(r.out, "wrote ") && strstr(r.out, "7 files, 4 thumbnails"),
		      "progress on a terminal: %s", r.out);
	result_clear(&r);
	page = read_page(page_path);
	snprintf(id_text, sizeof(id_text), "reject %lld", (long long)id);
	ck_assert_msg(strstr(page, "<title>mediafs review: Held scan") && strstr(page, id_text),
		      "the page names the held scan and how to reject it");
	ck_assert_msg(strstr(page, "data:image/jpeg;base64,") &&
		      strstr(page, "data:image/png;base64,"), "JPEG and PNG thumbnails");
	ck_assert_msg(strstr(page, "does not decode"), "the corrupt JPEG has a note");
	ck_assert_msg(strstr(page, "icon document\">TXT"), "the text file has its icon");
	ck_assert_msg(!strstr(page, "<script") && !strstr(page, "<img src=x"),
		      "the hostile name is no markup");
	ck_assert_msg(strstr(page, "x&quot;&#39;&gt;&lt;script&gt;document.title=&#39;pwned"
				   "&#39;&lt;\\n&lt;img src=x onerror="),
		      "the hostile name is shown escaped, its newline as \\n");
	ck_assert_msg(strstr(page, "docs/caf\\xE9.txt"), "a name that is not UTF-8 shows its byte");
	free(page);

	/* Nothing was read through the mount: the files are where they were. */
	ck_assert_int_eq(access(harness_backing_path(&h, "photos/wide.jpg"), F_OK), 0);
	MEDIACTL(&r, "confirm");
	ck_assert_msg(r.status == 0, "confirm: %s", r.err);
	result_clear(&r);
	ck_assert_int_eq(quarantined_files(), 7);
	/* The scan, now that it moved its files. */
	snprintf(page_path, sizeof(page_path), "%s/scan.html", h.dir);
	snprintf(id_text, sizeof(id_text), "%lld", (long long)id);
	MEDIACTL(&r, "--json", "review", "--scan", id_text, "-o", page_path);
	ck_assert_msg(r.status == 0 && number_at(r.json, "files") == 7, "%s %s", r.out, r.err);
	result_clear(&r);
	page = read_page(page_path);
	snprintf(id_text, sizeof(id_text), "restore --scan %lld", (long long)id);
	ck_assert_msg(strstr(page, id_text), "the page of a scan says how to undo it");
	free(page);
	snprintf(page_path, sizeof(page_path), "%s/quarantine.html", h.dir);
	MEDIACTL(&r, "--json", "review", "--quarantine", "-o", page_path);
	ck_assert_msg(r.status == 0 && number_at(r.json, "thumbnails") == 4, "%s %s", r.out,
		      r.err);
	result_clear(&r);
	/* restore_on_access is on, and thumbnails of quarantined files
	 * restored none of them. */
	ck_assert_int_eq(quarantined_files(), 7);
	page = read_page(page_path);
	ck_assert_msg(strstr(page, "restore --id ") && strstr(page, "purged after "),
		      "each tile has its restore command and its purge time");
	free(page);

	/* The same offline, on the stopped store. */
	ck_assert_int_eq(harness_unmount(&h), 0);
	snprintf(page_path, sizeof(page_path), "%s/offline.html", h.dir);
	MEDIACTL(&r, "--json", "--backing", h.backing, "review", "--quarantine", "-o",
		 page_path);
	ck_assert_msg(r.status == 0 && number_at(r.json, "thumbnails") == 4, "%s %s", r.out,
		      r.err);
	result_clear(&r);
	page = read_page(page_path);
	ck_assert_msg(strstr(page, "mediactl --backing &#39;"), "offline commands name the store");
	free(page);
}
END_TEST

/* The daemon opens only regular files beneath BACKING, never through a
 * link: a link to an image outside and a FIFO get notes, not thumbnails,
 * and nothing waits on the FIFO. */
START_TEST(test_links_and_fifos_are_not_opened)
{
	char outside[700], *page;
	struct result r;

	held_scan_of_the_files();
	snprintf(outside, sizeof(outside), "%s/outside.jpg", h.dir);
	write_image(outside, ".jpg", 100, 100, false);
	ck_assert_int_eq(unlink(harness_backing_path(&h, "photos/tall.jpg")), 0);
	ck_assert_int_eq(symlink(outside, harness_backing_path(&h, "photos/tall.jpg")), 0);
	ck_assert_int_eq(unlink(harness_backing_path(&h, "photos/wide.jpg")), 0);
	ck_assert_int_eq(mkfifo(harness_backing_path(&h, "photos/wide.jpg"), 0644), 0);
	review_held(&r);
	ck_assert_msg(number_at(r.json, "thumbnails") == 2, "2 thumbnails: %s", r.out);
	result_clear(&r);
	page = read_page(page_path);
	ck_assert_msg(strstr(page, "cannot be opened: not a regular file"), "the FIFO's note");
	ck_assert_msg(strstr(page, "cannot be opened: a symbolic link, never followed"),
		      "the link's note");
	free(page);
}
END_TEST

START_TEST(test_usage)
{
	char target[700], link[700], *page;
	struct result r;

	held_scan_of_the_files();
	MEDIACTL(&r, "review", "--held", "--quarantine", "-o", "/dev/null");
	ck_assert_int_eq(r.status, 2);
	result_clear(&r);
	/* A link where the page goes is not followed. */
	snprintf(target, sizeof(target), "%s/target", h.dir);
	snprintf(link, sizeof(link), "%s/link.html", h.dir);
	ck_assert_int_eq(harness_write_file(target, "kept", 4), 0);
	ck_assert_int_eq(symlink(target, link), 0);
	MEDIACTL(&r, "review", "-o", link);
	ck_assert_msg(r.status == 1 && strstr(r.err, "cannot write"), "%s", r.err);
	result_clear(&r);
	page = read_page(target);
	ck_assert_str_eq(page, "kept");
	free(page);
	MEDIACTL(&r, "reject");
	ck_assert_int_eq(r.status, 0);
	result_clear(&r);
	MEDIACTL(&r, "review", "--held", "-o", "/dev/null");
	ck_assert_msg(r.status == 1 && strstr(r.err, "no scan is held"), "%s", r.err);
	result_clear(&r);
}
END_TEST

/* The page in headless Chromium, through the DevTools protocol
 * (review_browser.py): what the browser made of it. */
START_TEST(test_page_in_a_browser)
{
	char screenshot[700], script[700], title[64];
	struct result r;
	json_t *images, *image;
	size_t i;

	snprintf(title, sizeof(title), "mediafs review: Held scan %lld",
		 (long long)held_scan_of_the_files());
	review_held(&r);
	result_clear(&r);
	snprintf(screenshot, sizeof(screenshot), "%s/review-screenshot.png",
		 getenv("REVIEW_ARTEFACTS"));
	snprintf(script, sizeof(script), "%s", getenv("REVIEW_BROWSER"));
	run_program(&r, (const char *const[]){ "python3", script, page_path, screenshot, NULL });
	ck_assert_msg(r.status == 0, "the browser check failed: %s", r.err);
	r.json = json_loads(r.out, 0, NULL);
	ck_assert_ptr_nonnull(r.json);
	ck_assert_str_eq(json_string_value(json_object_get(r.json, "title")), title);
	ck_assert_int_eq(number_at(r.json, "scripts"), 0);
	ck_assert_int_eq(number_at(r.json, "handlers"), 0);
	ck_assert_int_eq(number_at(r.json, "tiles"), 7);
	images = json_object_get(r.json, "images");
	ck_assert_int_eq(json_array_size(images), 4);
	json_array_foreach(images, i, image)
		ck_assert_msg(json_integer_value(image) > 0, "thumbnail %zu decodes", i);
	ck_assert_msg(strstr(json_string_value(json_object_get(r.json, "text")),
			     "<script>document.title='pwned'<\\n<img src=x onerror="),
		      "the hostile name is text on the page");
	result_clear(&r);
	ck_assert_int_eq(access(screenshot, R_OK), 0);
}
END_TEST

/* 100,000 files in BACKING, adopted at the mount, all candidates of a
 * held scan; a few are images. */
START_TEST(test_review_of_100000_files)
{
	struct result r;
	struct stat sb;
	char dir[700], path[800];
	struct timespec start, end;

	for (int d = 0; d < LARGE_DIRS; d++) {
		snprintf(dir, sizeof(dir), "%s/dir%03d", h.backing, d);
		ck_assert_int_eq(mkdir(dir, 0755), 0);
		for (int f = 0; f < LARGE_FILES / LARGE_DIRS; f++) {
			snprintf(path, sizeof(path), "%s/file%04d.txt", dir, f);
			int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
			ck_assert_int_ge(fd, 0);
			close(fd);
		}
	}
	for (int i = 0; i < 20; i++) {
		snprintf(path, sizeof(path), "%s/dir000/image%02d.jpg", h.backing, i);
		write_image(path, ".jpg", 320, 240, false);
	}
	mount_with("");
	sleep_ms(1100);
	app_exec("DELETE FROM photo");
	MEDIACTL(&r, "--json", "scan");
	ck_assert_msg(r.status == 0, "scan: %s", r.err);
	ck_assert_int_eq(number_at(json_object_get(r.json, "scan"), "candidates"),
			 LARGE_FILES + 20);
	result_clear(&r);
	clock_gettime(CLOCK_MONOTONIC, &start);
	review_held(&r);
	clock_gettime(CLOCK_MONOTONIC, &end);
	double seconds = (double)(end.tv_sec - start.tv_sec) + (double)(end.tv_nsec - start.tv_nsec) / 1e9;
	ck_assert_int_eq(number_at(r.json, "files"), LARGE_FILES + 20);
	ck_assert_int_eq(number_at(r.json, "thumbnails"), 20);
	ck_assert_int_eq(number_at(r.json, "tiles"), 5000);
	result_clear(&r);
	ck_assert_int_eq(stat(page_path, &sb), 0);
	printf("review of %d files: %.1f s, %lld bytes\n", LARGE_FILES + 20, seconds,
	       (long long)sb.st_size);
	ck_assert_msg(seconds < LARGE_SECONDS, "the review took %.1f s", seconds);
	ck_assert_msg(sb.st_size < LARGE_BYTES, "the page weighs %lld bytes",
		      (long long)sb.st_size);
}
END_TEST

static Suite *review_suite(void)
{
	Suite *s = suite_create("review");
	TCase *page = tcase_create("page"), *browser = tcase_create("browser");
	TCase *large = tcase_create("large");

	tcase_add_checked_fixture(page, setup, teardown);
	tcase_set_timeout(page, 120);
	tcase_add_test(page, test_page_of_a_held_scan_then_of_the_quarantine);
	tcase_add_test(page, test_links_and_fifos_are_not_opened);
	tcase_add_test(page, test_usage);
	suite_add_tcase(s, page);
	tcase_add_checked_fixture(browser, setup, teardown);
	tcase_set_timeout(browser, 120);
	tcase_add_test(browser, test_page_in_a_browser);
	suite_add_tcase(s, browser);
	tcase_add_checked_fixture(large, setup, teardown);
	tcase_set_timeout(large, 120);
	tcase_add_test(large, test_review_of_100000_files);
	suite_add_tcase(s, large);
	return s;
}

/* Does the browser test have what it needs?  NULL, or why not. */
static const char *browser_missing(void)
{
	const char *run_case = getenv("CK_RUN_CASE");

	if (!run_case || strcmp(run_case, "browser") != 0)
		return NULL;
	if (harness_sh("command -v chromium >/dev/null 2>&1") != 0)
		return "chromium is not installed (Debian's package chromium)";
	if (harness_sh("command -v python3 >/dev/null 2>&1") != 0)
		return "python3 is not installed";
	if (!getenv("REVIEW_BROWSER") || !getenv("REVIEW_ARTEFACTS"))
		return "$REVIEW_BROWSER and $REVIEW_ARTEFACTS are not set (meson sets them)";
	return NULL;
}

int main(void)
{
	SRunner *runner;
	const char *missing;
	int failed;

	harness_require_fuse();
	if (!getenv("MEDIACTL_BIN")) {
		printf("skip: $MEDIACTL_BIN is not set\n");
		return HARNESS_EXIT_SKIP;
	}
	missing = browser_missing();
	if (missing) {
		printf("skip: %s\n", missing);
		return HARNESS_EXIT_SKIP;
	}
	runner = srunner_create(review_suite());
	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
