/*
 * phpser: a recursive-descent reader of PHP's serialize() format.
 *
 * The grammar, as PHP writes it (php_var_serialize):
 *
 *	value  = "N;" | "b:" [01] ";" | "i:" int ";" | "d:" float ";"
 *	       | "s:" len ':"' len bytes '";'
 *	       | "a:" count ":{" count * (key value) "}"
 *	       | "O:" len ':"' class '":' count ":{" count * (key value) "}"
 *	       | "r:" int ";" | "R:" int ";" | "E:" len ':"' len bytes '";'
 *	key    = "i:" int ";" | "s:" len ':"' len bytes '";'
 *
 * Every length and count is checked against the bytes that are left
 * before it is used, so a hostile value cannot make the reader look
 * past its end or loop for long: each step consumes at least one byte.
 * Recursion is bounded by PHPSER_MAX_DEPTH.
 */
#include "phpser.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

/* The most digits a length or count may have (10^10 > any value's size). */
enum { MAX_DIGITS = 10 };

struct reader {
	const char *p;			/* the next byte */
	const char *end;
	phpser_string_fn on_string;
	void *ctx;
	size_t depth;			/* keys in use */
	struct phpser_key keys[PHPSER_MAX_DEPTH];
};

static bool take(struct reader *r, char c)
{
	if (r->p < r->end && *r->p == c) {
		r->p++;
		return true;
	}
	return false;
}

/* Take the bytes of word (two or three, such as "a:"). */
static bool take_word(struct reader *r, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
		return false;
	r->p += n;
	return true;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* An unsigned length or count, no larger than the bytes that are left. */
static bool take_size(struct reader *r, size_t *out)
{
	size_t value = 0;
	int digits = 0;

	while (r->p < r->end && is_digit(*r->p)) {
		if (++digits > MAX_DIGITS)
			return false;
		value = value * 10 + (size_t)(*r->p++ - '0');
	}
	if (digits == 0 || value > (size_t)(r->end - r->p))
		return false;
	*out = value;
	return true;
}

/* [+-]digits then ';': an integer, as text (its digits are a key's text). */
static bool take_int(struct reader *r, const char **text, size_t *len)
{
	const char *start = r->p;

	if (r->p < r->end && (*r->p == '-' || *r->p == '+'))
		r->p++;
	if (r->p >= r->end || !is_digit(*r->p))
		return false;
	while (r->p < r->end && is_digit(*r->p))
		r->p++;
	*text = start;
	*len = (size_t)(r->p - start);
	return take(r, ';');
}

/* A float as PHP writes it (1.5, -2.0E-5, INF, -INF, NAN), then ';'. */
static bool take_float(struct reader *r)
{
	const char *start = r->p;

	if (take_word(r, "INF;") || take_word(r, "-INF;") || take_word(r, "NAN;"))
		return true;
	while (r->p < r->end && (is_digit(*r->p) || (*r->p && strchr(".eE+-", *r->p))))
		r->p++;
	return r->p > start && take(r, ';');
}

/* len ':"' bytes '"': the part after "s:" (or "E:", or the class of "O:"). */
static bool take_quoted(struct reader *r, const char **text, size_t *len)
{
	size_t n;

	if (!take_size(r, &n) || !take(r, ':') || !take(r, '"') || (size_t)(r->end - r->p) < n)
		return false;
	*text = r->p;
	*len = n;
	r->p += n;
	return take(r, '"');
}

static int take_value(struct reader *r);

/* "count:{" entries "}", each a key and a value, one level deeper. */
static int take_entries(struct reader *r)
{
	size_t count;
	int err;

	if (!take_size(r, &count) || !take(r, ':') || !take(r, '{') ||
	    r->depth >= PHPSER_MAX_DEPTH)
		return -EINVAL;
	for (size_t i = 0; i < count; i++) {
		struct phpser_key *key = &r->keys[r->depth];
		bool ok;

		if (take_word(r, "i:"))
			ok = take_int(r, &key->text, &key->len);
		else if (take_word(r, "s:"))
			ok = take_quoted(r, &key->text, &key->len) && take(r, ';');
		else
			ok = false;
		if (!ok)
			return -EINVAL;
		r->depth++;
		err = take_value(r);
		r->depth--;
		if (err)
			return err;
	}
	return take(r, '}') ? 0 : -EINVAL;
}

static int take_value(struct reader *r)
{
	const char *text;
	size_t len;

	if (r->end - r->p < 2 || r->p[1] != (r->p[0] == 'N' ? ';' : ':'))
		return -EINVAL;
	switch (r->p[0]) {
	case 'N':
		r->p += 2;
		return 0;
	case 'b':
		r->p += 2;
		return (take(r, '0') || take(r, '1')) && take(r, ';') ? 0 : -EINVAL;
	case 'i':
	case 'r':
	case 'R':
		r->p += 2;
		return take_int(r, &text, &len) ? 0 : -EINVAL;
	case 'd':
		r->p += 2;
		return take_float(r) ? 0 : -EINVAL;
	case 's':
		r->p += 2;
		if (!take_quoted(r, &text, &len) || !take(r, ';'))
			return -EINVAL;
		return r->on_string(r->ctx, r->keys, r->depth, text, len);
	case 'E':
		r->p += 2;
		return take_quoted(r, &text, &len) && take(r, ';') ? 0 : -EINVAL;
	case 'a':
		r->p += 2;
		return take_entries(r);
	case 'O':
		r->p += 2;
		if (!take_quoted(r, &text, &len) || !take(r, ':'))
			return -EINVAL;
		return take_entries(r);
	}
	return -EINVAL;
}

int phpser_walk(const char *data, size_t len, phpser_string_fn on_string, void *ctx)
{
	struct reader r = { .p = data, .end = data + len, .on_string = on_string, .ctx = ctx };
	int err = take_value(&r);

	if (err)
		return err;
	while (r.p < r.end && *r.p && strchr(" \t\r\n", *r.p))
		r.p++;
	return r.p == r.end ? 0 : -EINVAL;
}
