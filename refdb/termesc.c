/*
 * termesc: printable escapes for names and values (see termesc.h).
 */
#include "termesc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_ESCAPE_BYTES = 8, ELLIPSIS_BYTES = 3 };

/*
 * Length of the strict UTF-8 sequence at s (at most left bytes), and its
 * code point in *cp; 0 when the bytes there are not one.
 */
static size_t utf8_sequence(const unsigned char *s, size_t left, uint32_t *cp)
{
	size_t n;
	uint32_t c, min;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	} else if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2, c = s[0] & 0x1f, min = 0x80;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3, c = s[0] & 0x0f, min = 0x800;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4, c = s[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n > left)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

/* Code points a terminal would act on rather than show. */
static bool is_hidden_control(uint32_t cp)
{
	return (cp >= 0x80 && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e) ||
	       (cp >= 0x2066 && cp <= 0x2069);
}

/*
 * The escape for the input at s into piece; returns its length and the
 * input bytes it stands for in *used.
 */
static size_t escape_one(const unsigned char *s, size_t left, char *piece, size_t *used)
{
	uint32_t cp;
	size_t n = utf8_sequence(s, left, &cp);

	*used = n ? n : 1;
	if (n == 0)
		return (size_t)snprintf(piece, MAX_ESCAPE_BYTES + 1, "\\x%02X", s[0]);
	if (n > 1) {
		if (is_hidden_control(cp))
			return (size_t)snprintf(piece, MAX_ESCAPE_BYTES + 1, "\\u{%04X}",
						(unsigned)cp);
		memcpy(piece, s, n);
		return n;
	}
	switch (cp) {
	case '\\':
		return (size_t)snprintf(piece, MAX_ESCAPE_BYTES + 1, "\\\\");
	case '\n':
		return (size_t)snprintf(piece, MAX_ESCAPE_BYTES + 1, "\\n");
	case '\r':
		return (size_t)snprintf(piece, MAX_ESCAPE_BYTES + 1, "\\r");
	case '\t':
		return (size_t)snprintf(piece, MAX_ESCAPE_BYTES + 1, "\\t");
	default:
		if (cp < 0x20 || cp == 0x7f)
			return (size_t)snprintf(piece, MAX_ESCAPE_BYTES + 1, "\\x%02X",
						(unsigned)cp);
		piece[0] = (char)cp;
		return 1;
	}
}

/* Length of the escaped form of the len bytes at in. */
static size_t escaped_length(const unsigned char *in, size_t len)
{
	size_t total = 0, used;
	char piece[MAX_ESCAPE_BYTES + 1];

	for (size_t i = 0; i < len; i += used)
		total += escape_one(in + i, len - i, piece, &used);
	return total;
}

char *termesc_n(const char *s, size_t len, char *out, size_t size)
{
	const unsigned char *in = (const unsigned char *)s;
	/* When the whole does not fit, whole escapes up to room for "...". */
	size_t room = escaped_length(in, len) + 1 <= size ? size - 1 :
		      size > ELLIPSIS_BYTES ? size - 1 - ELLIPSIS_BYTES : 0;
	size_t pos = 0, used = 0, i;
	char piece[MAX_ESCAPE_BYTES + 1];

	if (size == 0)
		return out;
	for (i = 0; i < len; i += used) {
		size_t n = escape_one(in + i, len - i, piece, &used);
		if (pos + n > room)
			break;
		memcpy(out + pos, piece, n);
		pos += n;
	}
	if (i < len && pos + ELLIPSIS_BYTES < size) {
		memcpy(out + pos, "...", ELLIPSIS_BYTES);
		pos += ELLIPSIS_BYTES;
	}
	out[pos] = '\0';
	return out;
}

char *termesc(const char *s, char *out, size_t size)
{
	if (!s)
		s = "";
	return termesc_n(s, strlen(s), out, size);
}

char *termesc_dup(const char *s)
{
	size_t len = s ? strlen(s) : 0;
	char *out = malloc(TERMESC_BYTES(len));

	if (out)
		termesc_n(s ? s : "", len, out, TERMESC_BYTES(len));
	return out;
}

bool termesc_is_plain(const char *s)
{
	const unsigned char *in = (const unsigned char *)s;
	size_t len = strlen(s), used;
	char piece[MAX_ESCAPE_BYTES + 1];

	for (size_t i = 0; i < len; i += used) {
		size_t n = escape_one(in + i, len - i, piece, &used);
		if (n != used || memcmp(piece, in + i, n) != 0)
			return false;
	}
	return true;
}
