/*
 * review_thumb: thumbnails made by libvips in a child process that holds
 * nothing worth taking (see review_i.h).
 *
 * The child: the input on descriptor 0, the pipe on 1 and no other
 * descriptor; killed with its parent; groups, group and user dropped to
 * nobody's when mediactl runs as root; no new privileges; no core, no
 * file written, a CPU limit.  libvips starts only then (never in
 * mediactl itself), blocks its untrusted loaders, generates no code, and
 * only its JPEG, PNG, WebP and GIF loaders may decode.  The answer on the
 * pipe is a header line "jpeg|png WIDTH HEIGHT\n" and the image, or one
 * line of error and exit status CHILD_UNDECODABLE.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vips/vips.h>
#include <vips/vector.h>

#include "clock.h"
#include "review_i.h"

enum {
	CHILD_UNDECODABLE = 1,
	CHILD_SANDBOX = 2,	/* could not drop its privileges: did nothing */
	CPU_LIMIT_S = 10,
	OPEN_FILES_LIMIT = 64,
	JPEG_QUALITY = 60,
};

/* The loaders a thumbnail may come from: the formats the page promises. */
static const char *const allowed_loaders[] = {
	"VipsForeignLoadJpegSource", "VipsForeignLoadPngSource", "VipsForeignLoadWebpSource",
	"VipsForeignLoadNsgifSource", "VipsForeignLoadGifSource",
};

int review_sandbox_init(struct review_sandbox *sb)
{
	struct passwd *nobody;

	sb->drop = geteuid() == 0;
	if (!sb->drop)
		return 0;
	errno = 0;
	nobody = getpwnam("nobody");
	if (!nobody)
		return errno ? -errno : -ENOENT;
	sb->uid = nobody->pw_uid;
	sb->gid = nobody->pw_gid;
	return 0;
}

static void child_write(const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(STDOUT_FILENO, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(CHILD_UNDECODABLE);
		p += n;
		len -= (size_t)n;
	}
}

static void child_fail(const char *message)
{
	size_t len = strcspn(message, "\n");

	child_write(message, len);
	_exit(CHILD_UNDECODABLE);
}

static void child_confine(const struct review_sandbox *sb)
{
	struct rlimit cpu = { CPU_LIMIT_S, CPU_LIMIT_S + 1 }, none = { 0, 0 };
	struct rlimit files = { OPEN_FILES_LIMIT, OPEN_FILES_LIMIT };

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
		_exit(CHILD_SANDBOX);
	if (sb->drop && (setgroups(0, NULL) != 0 || setgid(sb->gid) != 0 || setuid(sb->uid) != 0))
		_exit(CHILD_SANDBOX);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_DUMPABLE, 0) != 0 ||
	    setrlimit(RLIMIT_CPU, &cpu) != 0 || setrlimit(RLIMIT_CORE, &none) != 0 ||
	    setrlimit(RLIMIT_FSIZE, &none) != 0 || setrlimit(RLIMIT_NOFILE, &files) != 0)
		_exit(CHILD_SANDBOX);
}

static bool loader_allowed(const char *loader)
{
	for (size_t i = 0; i < sizeof(allowed_loaders) / sizeof(allowed_loaders[0]); i++)
		if (loader && !strcmp(loader, allowed_loaders[i]))
			return true;
	return false;
}

/* The child's work: descriptor 0 in, 1 out.  Never returns. */
static void child_main(const struct review_sandbox *sb)
{
	VipsSource *source;
	VipsImage *thumb;
	const char *loader;
	char header[64];
	void *data;
	size_t len;
	bool alpha;

	child_confine(sb);
	if (VIPS_INIT("mediactl") != 0)
		child_fail("libvips does not start");
	vips_block_untrusted_set(TRUE);
	/* No run-time code generation (liborc writes and maps executable
	 * files): the sandbox writes nothing. */
	vips_vector_set_enabled(FALSE);
	vips_concurrency_set(1);
	source = vips_source_new_from_descriptor(STDIN_FILENO);
	if (!source)
		child_fail(vips_error_buffer());
	loader = vips_foreign_find_load_source(source);
	if (!loader)
		child_fail("not an image libvips knows");
	if (!loader_allowed(loader))
		child_fail("not a JPEG, PNG, WebP or GIF image");
	if (vips_thumbnail_source(source, &thumb, REVIEW_THUMB_PX, "height", REVIEW_THUMB_PX,
				  NULL) != 0)
		child_fail(vips_error_buffer());
	alpha = vips_image_hasalpha(thumb);
	if (vips_image_write_to_buffer(thumb, alpha ? ".png" : ".jpg", &data, &len,
				       "strip", TRUE, alpha ? NULL : "Q", JPEG_QUALITY, NULL) != 0)
		child_fail(vips_error_buffer());
	snprintf(header, sizeof(header), "%s %d %d\n", alpha ? "png" : "jpeg",
		 vips_image_get_width(thumb), vips_image_get_height(thumb));
	child_write(header, strlen(header));
	child_write(data, len);
	_exit(0);
}

/* Read the child's answer into out (at most REVIEW_THUMB_MAX_BYTES) until
 * it closes the pipe or the deadline; -ETIMEDOUT, -EFBIG or 0. */
static int read_answer(int fd, int64_t deadline_ms, char **out, size_t *len)
{
	char *buf = malloc(REVIEW_THUMB_MAX_BYTES);

	*out = NULL;
	*len = 0;
	if (!buf)
		return -ENOMEM;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = deadline_ms - clock_now_ms();
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) == 0) {
			free(buf);
			return -ETIMEDOUT;
		}
		if (*len == REVIEW_THUMB_MAX_BYTES) {
			free(buf);
			return -EFBIG;
		}
		n = read(fd, buf + *len, REVIEW_THUMB_MAX_BYTES - *len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			break;
		*len += (size_t)n;
	}
	*out = buf;
	return 0;
}

/* The header line of a good answer into thumb; 0 or -EINVAL. */
static int parse_answer(char *answer, size_t len, struct review_thumb *thumb)
{
	char *newline = memchr(answer, '\n', len), format[8];

	if (!newline)
		return -EINVAL;
	*newline = '\0';
	if (sscanf(answer, "%7s %d %d", format, &thumb->width, &thumb->height) != 3 ||
	    thumb->width <= 0 || thumb->height <= 0 ||
	    (strcmp(format, "jpeg") != 0 && strcmp(format, "png") != 0))
		return -EINVAL;
	thumb->mime = !strcmp(format, "png") ? "image/png" : "image/jpeg";
	thumb->len = len - (size_t)(newline + 1 - answer);
	thumb->data = malloc(thumb->len ? thumb->len : 1);
	if (!thumb->data)
		return -ENOMEM;
	memcpy(thumb->data, newline + 1, thumb->len);
	return 0;
}

int review_thumb_make(int fd, const struct review_sandbox *sb, struct review_thumb *thumb,
		      char *note, size_t note_size)
{
	int64_t deadline = clock_now_ms() + REVIEW_THUMB_TIMEOUT_MS;
	char *answer = NULL;
	size_t len = 0;
	int pipe_fds[2], status = 0, err;
	pid_t pid;

	memset(thumb, 0, sizeof(*thumb));
	if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
		snprintf(note, note_size, "no thumbnail: %s", strerror(errno));
		return -errno;
	}
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		if (dup2(fd, STDIN_FILENO) < 0 || dup2(pipe_fds[1], STDOUT_FILENO) < 0 ||
		    close_range(STDERR_FILENO, ~0U, 0) != 0)
			_exit(CHILD_SANDBOX);
		child_main(sb);
	}
	close(pipe_fds[1]);
	if (pid < 0) {
		err = -errno;
		close(pipe_fds[0]);
		snprintf(note, note_size, "no thumbnail: %s", strerror(-err));
		return err;
	}
	err = read_answer(pipe_fds[0], deadline, &answer, &len);
	close(pipe_fds[0]);
	if (err == -ETIMEDOUT || err == -EFBIG)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (err == -ETIMEDOUT)
		snprintf(note, note_size, "the decoder took longer than %d s: stopped",
			 REVIEW_THUMB_TIMEOUT_MS / 1000);
	else if (err == -EFBIG)
		snprintf(note, note_size, "the decoder's answer was too large");
	else if (err)
		snprintf(note, note_size, "no thumbnail: %s", strerror(-err));
	else if (WIFSIGNALED(status))
		snprintf(note, note_size, "the decoder crashed (%s)", strsignal(WTERMSIG(status)));
	else if (WEXITSTATUS(status) == CHILD_SANDBOX)
		snprintf(note, note_size, "the decoder could not drop its privileges: not run");
	else if (WEXITSTATUS(status) != 0)
		snprintf(note, note_size, "does not decode: %.*s", (int)len, answer);
	else if (parse_answer(answer, len, thumb) != 0)
		snprintf(note, note_size, "the decoder's answer is not an image");
	else
		err = 1;
	free(answer);
	return err == 1 ? 0 : (err ? err : -EINVAL);
}

void review_thumb_clear(struct review_thumb *thumb)
{
	free(thumb->data);
	memset(thumb, 0, sizeof(*thumb));
}
