/*
 * Fuzz target for refdb/pathnorm.c: a value read from an application's
 * database, which may hold anything.
 *
 * The input is one byte n, then a strip prefix of n bytes (a C string, as
 * the configuration holds it: it ends at its first NUL), then the value,
 * every byte of it.  The first byte also picks the size of the output
 * buffer for a second, cramped call.
 *
 * Invariants: a normalised path is relative, not empty, shorter than
 * PATH_MAX, has no NUL, no empty, "." or ".." segment, no segment longer
 * than NAME_MAX, and normalises to itself; a value with a NUL is always
 * PATHNORM_NUL; a smaller buffer gives the same path or TOO_LONG, never an
 * overflow; pathnorm_escape() writes printable ASCII that decodes back to
 * the value when it has room.
 */
#include <string.h>

#include "fuzz.h"
#include "pathnorm.h"

static bool is_segment(const char *seg, size_t len, const char *name)
{
	return len == strlen(name) && memcmp(seg, name, len) == 0;
}

static void check_path(const char *path, size_t len)
{
	char again[PATHNORM_MAX_BYTES];
	size_t again_len = 0;
	const char *seg = path;

	fuzz_check(len > 0 && len < PATH_MAX, "a path has 1 to PATH_MAX - 1 bytes");
	fuzz_check(strlen(path) == len, "a path holds no NUL");
	fuzz_check(path[0] != '/', "a path is relative");
	fuzz_check(path[len - 1] != '/', "a path does not end in '/'");
	for (;;) {
		const char *slash = strchr(seg, '/');
		size_t seg_len = slash ? (size_t)(slash - seg) : strlen(seg);

		fuzz_check(seg_len > 0, "no empty segment (no '//')");
		fuzz_check(!is_segment(seg, seg_len, "."), "no '.' segment");
		fuzz_check(!is_segment(seg, seg_len, ".."), "no '..' segment");
		fuzz_check(seg_len <= PATHNORM_MAX_SEGMENT_BYTES, "no segment above NAME_MAX");
		if (!slash)
			break;
		seg = slash + 1;
	}
	fuzz_check(pathnorm_normalise(path, len, NULL, again, sizeof(again), &again_len) ==
		   PATHNORM_OK && again_len == len && memcmp(again, path, len) == 0,
		   "a normalised path normalises to itself");
}

static int hex_digit(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* pathnorm_escape() with room to spare, then cramped. */
static void check_escape(const char *value, size_t len, size_t cramped)
{
	size_t size = 4 * len + 1;
	char *out = malloc(size);
	char *small = malloc(cramped + 1);
	size_t pos = 0;
	size_t n = 0;

	if (!out || !small)
		goto out_free;
	pathnorm_escape(value, len, out, size);
	for (; out[pos]; n++) {
		unsigned char c = (unsigned char)out[pos];

		fuzz_check(c >= 0x20 && c < 0x7f, "escaped text is printable ASCII");
		fuzz_check(n < len, "escaped text is no longer than the value");
		if (c == '\\') {
			int high = hex_digit(out[pos + 1] == 'x' ? out[pos + 2] : 'z');
			int low = high >= 0 ? hex_digit(out[pos + 3]) : -1;

			fuzz_check(low >= 0, "a backslash starts \\xNN");
			c = (unsigned char)(high << 4 | low);
			pos += 4;
		} else {
			pos++;
		}
		fuzz_check(c == (unsigned char)value[n], "escaped text decodes to the value");
	}
	fuzz_check(n == len, "the whole value fits when there is room");
	pathnorm_escape(value, len, small, cramped + 1);
	fuzz_check(strlen(small) <= cramped, "cramped text is terminated in its buffer");
out_free:
	free(out);
	free(small);
}

/*
 * The value again, into a heap buffer of exactly size bytes, against the
 * status (and path) it had with room to spare.  Faults rank in the order
 * of the header: TOO_LONG after DOTDOT and before DIRECTORY, wherever
 * each is in the value.
 */
static void check_cramped(const char *value, size_t len, const char *prefix, size_t size,
			  enum pathnorm_status status, const char *path, size_t path_len)
{
	char *out = malloc(size ? size : 1);
	size_t out_len = 0;
	enum pathnorm_status again;

	if (!out)
		return;
	again = pathnorm_normalise(value, len, prefix, out, size, &out_len);
	if (status == PATHNORM_OK && path_len < size)
		fuzz_check(again == PATHNORM_OK && out_len == path_len &&
			   memcmp(out, path, path_len + 1) == 0,
			   "a buffer with room gives the same path");
	else if (status == PATHNORM_OK)
		fuzz_check(again == PATHNORM_TOO_LONG, "a buffer without room is TOO_LONG");
	else if (status == PATHNORM_DIRECTORY)
		fuzz_check(again == status || again == PATHNORM_TOO_LONG,
			   "a directory is still one, or too long");
	else
		fuzz_check(again == status, "the buffer size changes no earlier fault");
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t prefix_len = size ? data[0] : 0;
	char *prefix;
	const char *value;
	size_t len;
	char out[PATHNORM_MAX_BYTES];
	size_t out_len = 0;
	enum pathnorm_status status;
	const char *picked;

	if (size == 0)
		return 0;
	if (prefix_len > size - 1)
		prefix_len = size - 1;
	prefix = strndup((const char *)data + 1, prefix_len);
	if (!prefix)
		return 0;
	value = (const char *)data + 1 + prefix_len;
	len = size - 1 - prefix_len;
	char *const prefixes[] = { prefix, "/", "https://cdn.example.com/media/" };

	status = pathnorm_normalise(value, len, prefix, out, sizeof(out), &out_len);
	fuzz_check(strcmp(pathnorm_status_name(status), "unknown") != 0, "a known status");
	fuzz_check(pathnorm_is_hostile(status) ==
		   (status != PATHNORM_OK && status != PATHNORM_EMPTY), "hostile is not ok");
	fuzz_check((status == PATHNORM_EMPTY) == (len == 0), "empty means no bytes");
	if (len && memchr(value, '\0', len))
		fuzz_check(status == PATHNORM_NUL, "a value with a NUL is PATHNORM_NUL");
	if (status == PATHNORM_OK)
		check_path(out, out_len);

	check_cramped(value, len, prefix, data[0], status, out, out_len);
	picked = pathnorm_pick_prefix(value, len, prefixes, 3);
	fuzz_check(!picked || picked == prefixes[0] || picked == prefixes[1] ||
		   picked == prefixes[2], "the picked prefix is one of those given");
	check_escape(value, len, data[0]);
	free(prefix);
	return 0;
}
