/*
 * pathnorm: one pass over the value per step, no allocation.
 *
 * The order of the checks is part of the contract: a value with several
 * faults reports the first one in the order of the header, so tests and
 * messages are stable.
 */
#include "pathnorm.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static const char *const status_names[] = {
	[PATHNORM_OK] = "ok",
	[PATHNORM_EMPTY] = "empty",
	[PATHNORM_ABSOLUTE] = "absolute",
	[PATHNORM_DOTDOT] = "dotdot",
	[PATHNORM_NUL] = "nul-byte",
	[PATHNORM_TOO_LONG] = "too-long",
	[PATHNORM_NOT_UTF8] = "not-utf8",
	[PATHNORM_DIRECTORY] = "directory",
};

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, <= U+10FFFF. */
static bool is_utf8(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		size_t need;
		uint32_t cp;

		/* Paths are mostly ASCII: skip eight such bytes at a time. */
		if (len - i >= sizeof(uint64_t)) {
			uint64_t word;

			memcpy(&word, s + i, sizeof(word));
			if ((word & 0x8080808080808080ULL) == 0) {
				i += sizeof(word);
				continue;
			}
		}
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (len - i - 1 < need)
			return false;
		for (size_t k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return false;
		i += need + 1;
	}
	return true;
}

/* Length of prefix without its trailing slashes ("/" becomes ""). */
static size_t prefix_core_len(const char *prefix)
{
	size_t n = strlen(prefix);

	while (n > 0 && prefix[n - 1] == '/')
		n--;
	return n;
}

/*
 * Does value start with prefix at a '/' boundary?  A prefix of only
 * slashes matches any value that starts with '/'.
 */
static bool prefix_matches(const char *value, size_t len, const char *prefix)
{
	size_t n;

	if (!prefix || !*prefix)
		return false;
	n = prefix_core_len(prefix);
	if (n == 0)
		return len > 0 && value[0] == '/';
	if (len < n || memcmp(value, prefix, n) != 0)
		return false;
	return len == n || value[n] == '/';
}

/* "scheme://" at the start: an unstripped URL, never a relative path. */
static bool starts_with_url(const char *s, size_t len)
{
	size_t i = 0;

	if (len == 0 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
		return false;
	while (i < len && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
			   (s[i] >= '0' && s[i] <= '9') || s[i] == '+' ||
			   s[i] == '-' || s[i] == '.'))
		i++;
	return len - i >= 3 && memcmp(s + i, "://", 3) == 0;
}

/* Steps 5 and 6: copy the segments of rel into out. */
static enum pathnorm_status copy_segments(const char *rel, size_t len, char *out,
					  size_t out_size, size_t *out_len)
{
	size_t pos = 0;
	size_t used = 0;
	bool dir = false;
	bool too_long = false;

	while (pos < len) {
		const char *seg = rel + pos;
		const char *slash = memchr(seg, '/', len - pos);
		size_t seg_len = slash ? (size_t)(slash - seg) : len - pos;

		pos += seg_len + (slash ? 1 : 0);
		dir = slash != NULL;
		if (seg_len == 0)
			continue;
		if (seg_len == 1 && seg[0] == '.') {
			dir = true;
			continue;
		}
		if (seg_len == 2 && seg[0] == '.' && seg[1] == '.')
			return PATHNORM_DOTDOT;
		/* A length fault ranks after "..": walk on, copying nothing,
		 * so that a ".." further on is still the fault reported. */
		if (too_long)
			continue;
		size_t need = used + (used ? 1 : 0) + seg_len;
		if (seg_len > PATHNORM_MAX_SEGMENT_BYTES || need >= PATHNORM_MAX_BYTES ||
		    need >= out_size) {
			too_long = true;
			continue;
		}
		if (used)
			out[used++] = '/';
		memcpy(out + used, seg, seg_len);
		used += seg_len;
	}
	if (too_long)
		return PATHNORM_TOO_LONG;
	if (dir || used == 0)
		return PATHNORM_DIRECTORY;
	out[used] = '\0';
	*out_len = used;
	return PATHNORM_OK;
}

enum pathnorm_status pathnorm_normalise(const char *value, size_t len,
					const char *strip_prefix, char *out,
					size_t out_size, size_t *out_len)
{
	const char *rel = value;
	size_t rel_len = len;

	if (!value || len == 0)
		return PATHNORM_EMPTY;
	if (memchr(value, '\0', len))
		return PATHNORM_NUL;
	if (!is_utf8((const unsigned char *)value, len))
		return PATHNORM_NOT_UTF8;
	if (prefix_matches(value, len, strip_prefix)) {
		size_t n = prefix_core_len(strip_prefix);

		rel += n;
		rel_len -= n;
		while (rel_len > 0 && rel[0] == '/') {
			rel++;
			rel_len--;
		}
		if (rel_len == 0)
			return PATHNORM_DIRECTORY;
	}
	if (rel[0] == '/' || starts_with_url(rel, rel_len))
		return PATHNORM_ABSOLUTE;
	return copy_segments(rel, rel_len, out, out_size, out_len);
}

const char *pathnorm_pick_prefix(const char *value, size_t len,
				 char *const *prefixes, size_t count)
{
	const char *best = NULL;
	size_t best_len = 0;

	if (!value)
		return NULL;
	for (size_t i = 0; i < count; i++) {
		size_t n = prefix_core_len(prefixes[i]);

		if (prefix_matches(value, len, prefixes[i]) && (!best || n > best_len)) {
			best = prefixes[i];
			best_len = n;
		}
	}
	return best;
}

bool pathnorm_is_hostile(enum pathnorm_status status)
{
	return status != PATHNORM_OK && status != PATHNORM_EMPTY;
}

const char *pathnorm_status_name(enum pathnorm_status status)
{
	if ((size_t)status >= sizeof(status_names) / sizeof(status_names[0]))
		return "unknown";
	return status_names[status];
}

static bool is_plain(unsigned char c)
{
	return c >= 0x20 && c < 0x7f && c != '\\' && c != '\'';
}

void pathnorm_escape(const char *value, size_t len, char *out, size_t out_size)
{
	static const char ellipsis[] = "...";
	size_t total = 0;
	size_t used = 0;
	size_t reserve;

	if (out_size == 0)
		return;
	for (size_t i = 0; value && i < len; i++)
		total += is_plain((unsigned char)value[i]) ? 1 : 4;
	/* Room for "..." only when the whole value does not fit. */
	reserve = total < out_size ? 0 : sizeof(ellipsis) - 1;
	for (size_t i = 0; value && i < len; i++) {
		unsigned char c = (unsigned char)value[i];
		size_t width = is_plain(c) ? 1 : 4;

		if (used + width + reserve >= out_size) {
			if (used + sizeof(ellipsis) <= out_size) {
				memcpy(out + used, ellipsis, sizeof(ellipsis) - 1);
				used += sizeof(ellipsis) - 1;
			}
			break;
		}
		if (width == 1)
			out[used++] = (char)c;
		else
			used += (size_t)snprintf(out + used, out_size - used, "\\x%02x", c);
	}
	out[used] = '\0';
}

int pathnorm_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}
