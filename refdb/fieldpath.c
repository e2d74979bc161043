/*
 * fieldpath: selectors compiled once per source, matched against every
 * string of a value as the value is walked (phpser for PHP, a jansson tree
 * for JSON).
 *
 * A string that a selector names is emitted at once when no base applies
 * to it.  Otherwise it is kept in a scratch arena until the walk is over,
 * because the field holding the base may come after the names that need
 * it; then each is joined to the base and emitted.  The arena and the list
 * of kept names live in the struct fieldpath and are reused from one value
 * to the next, so a fetch of a million values allocates only while the
 * largest value so far grows them.
 */
#include "fieldpath.h"

#include "grow.h"
#include "phpser.h"

#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* First room of the scratch arrays; they double from there. */
enum { FIRST_ARENA_BYTES = 1024, FIRST_PENDING = 16, INDEX_TEXT_BYTES = 24 };

struct step {
	const char *key;	/* into selector.keys; NULL for '*' */
	size_t len;
};

struct selector {
	struct step steps[FIELDPATH_MAX_STEPS];
	size_t count;
	char *keys;		/* the unquoted key bytes the steps point into */
};

/* A name kept until the base is known: bytes in the arena. */
struct pending {
	size_t offset;
	size_t len;
};

struct fieldpath {
	enum config_format format;	/* immutable after fieldpath_new() */
	struct selector *selectors;
	bool *is_base_field;		/* selectors[i] is the base's own field */
	size_t count;
	bool has_base;
	bool base_dirname;		/* base = dirname(selector) */
	struct selector base;
	/* Scratch state of the value being walked. */
	fieldpath_emit_fn emit;
	void *ctx;
	char *arena;
	size_t arena_used;
	size_t arena_capacity;
	struct pending *pending;
	size_t pending_count;
	size_t pending_capacity;
	bool have_base;
	struct pending base_value;	/* in the arena */
	char *joined;			/* base + '/' + name */
	size_t joined_capacity;
};

/* ---- selectors ---- */

static bool is_key_byte(char c)
{
	return c && !strchr(".*\",() \t\r\n", c);
}

/* Parse text into sel (which then owns sel->keys).  why says what is wrong. */
static int selector_parse(const char *text, struct selector *sel, char *why, size_t why_size)
{
	const char *p = text;
	char *w;

	memset(sel, 0, sizeof(*sel));
	sel->keys = malloc(strlen(text) + 1);
	if (!sel->keys)
		return -ENOMEM;
	w = sel->keys;
	for (;;) {
		struct step *step = &sel->steps[sel->count];
		const char *start;

		if (sel->count == FIELDPATH_MAX_STEPS) {
			snprintf(why, why_size, "'%s' has more than %d keys", text, FIELDPATH_MAX_STEPS);
			goto out_invalid;
		}
		sel->count++;
		if (*p == '*') {
			step->key = NULL;
			p++;
		} else if (*p == '"') {
			const char *close = strchr(p + 1, '"');

			if (!close || close == p + 1) {
				snprintf(why, why_size, "'%s' has an empty or unclosed quoted key", text);
				goto out_invalid;
			}
			step->key = w;
			step->len = (size_t)(close - p - 1);
			memcpy(w, p + 1, step->len);
			w += step->len;
			p = close + 1;
		} else {
			for (start = p; is_key_byte(*p); p++)
				;
			if (p == start) {
				snprintf(why, why_size, "'%s' has an empty key or a character to quote "
					 "(use \"...\" around a key with . * , \" ( ) or spaces)", text);
				goto out_invalid;
			}
			step->key = w;
			step->len = (size_t)(p - start);
			memcpy(w, start, step->len);
			w += step->len;
		}
		if (!*p)
			return 0;
		if (*p != '.') {
			snprintf(why, why_size, "'%s': expected '.' between keys", text);
			goto out_invalid;
		}
		p++;
	}

out_invalid:
	free(sel->keys);
	sel->keys = NULL;
	return -EINVAL;
}

static bool selector_has_any(const struct selector *sel)
{
	for (size_t i = 0; i < sel->count; i++)
		if (!sel->steps[i].key)
			return true;
	return false;
}

static bool selector_equal(const struct selector *a, const struct selector *b)
{
	if (a->count != b->count)
		return false;
	for (size_t i = 0; i < a->count; i++) {
		const struct step *x = &a->steps[i];
		const struct step *y = &b->steps[i];

		if (!x->key != !y->key || x->len != y->len ||
		    (x->key && memcmp(x->key, y->key, x->len) != 0))
			return false;
	}
	return true;
}

static bool selector_matches(const struct selector *sel, const struct phpser_key *keys,
			     size_t depth)
{
	if (sel->count != depth)
		return false;
	for (size_t i = 0; i < depth; i++) {
		const struct step *step = &sel->steps[i];

		if (step->key && (step->len != keys[i].len || memcmp(step->key, keys[i].text,
								     step->len) != 0))
			return false;
	}
	return true;
}

/* "dirname(sel)" gives sel's text (a copy in inner) and sets *dirname. */
static int base_parse(const char *text, struct selector *sel, bool *dirname, char *why,
		      size_t why_size)
{
	static const char prefix[] = "dirname(";
	size_t len = strlen(text);
	char inner[CONFIG_MAX_LINE_BYTES * 4];
	int err;

	*dirname = strncmp(text, prefix, sizeof(prefix) - 1) == 0 && len >= sizeof(prefix) &&
		   text[len - 1] == ')';
	if (*dirname) {
		if (len - sizeof(prefix) >= sizeof(inner)) {
			snprintf(why, why_size, "the base is too long");
			return -EINVAL;
		}
		memcpy(inner, text + sizeof(prefix) - 1, len - sizeof(prefix));
		inner[len - sizeof(prefix)] = '\0';
		text = inner;
	}
	err = selector_parse(text, sel, why, why_size);
	if (err)
		return err;
	if (selector_has_any(sel)) {
		snprintf(why, why_size, "the base '%s' must name one field, without '*'", text);
		free(sel->keys);
		sel->keys = NULL;
		return -EINVAL;
	}
	return 0;
}

int fieldpath_check(const char *text, bool base, char *why, size_t why_size)
{
	struct selector sel;
	bool dirname;
	int err = base ? base_parse(text, &sel, &dirname, why, why_size) :
		  selector_parse(text, &sel, why, why_size);

	if (err == -ENOMEM)
		snprintf(why, why_size, "out of memory");
	if (!err)
		free(sel.keys);
	return err;
}

int fieldpath_new(enum config_format format, char *const *selectors, size_t count,
		  const char *base, struct fieldpath **out)
{
	struct fieldpath *fp = calloc(1, sizeof(*fp));
	char why[256];
	int err = -ENOMEM;

	if (!fp)
		return -ENOMEM;
	fp->format = format;
	fp->selectors = calloc(count, sizeof(*fp->selectors));
	fp->is_base_field = calloc(count, sizeof(*fp->is_base_field));
	if (!fp->selectors || !fp->is_base_field)
		goto out_free;
	if (base) {
		err = base_parse(base, &fp->base, &fp->base_dirname, why, sizeof(why));
		if (err)
			goto out_free;
		fp->has_base = true;
	}
	for (; fp->count < count; fp->count++) {
		err = selector_parse(selectors[fp->count], &fp->selectors[fp->count], why,
				     sizeof(why));
		if (err)
			goto out_free;
		fp->is_base_field[fp->count] = base && selector_equal(&fp->selectors[fp->count],
								      &fp->base);
	}
	*out = fp;
	return 0;

out_free:
	fieldpath_free(fp);
	return err;
}

void fieldpath_free(struct fieldpath *fp)
{
	if (!fp)
		return;
	for (size_t i = 0; i < fp->count; i++)
		free(fp->selectors[i].keys);
	free(fp->selectors);
	free(fp->is_base_field);
	free(fp->base.keys);
	free(fp->arena);
	free(fp->pending);
	free(fp->joined);
	free(fp);
}

/* ---- one value ---- */

/* Copy len bytes into the arena; *at is where they went. */
static int arena_keep(struct fieldpath *fp, const char *bytes, size_t len, struct pending *at)
{
	char *grown = grow_array(fp->arena, &fp->arena_capacity, fp->arena_used + len, 1,
				 FIRST_ARENA_BYTES);

	if (!grown)
		return -ENOMEM;
	fp->arena = grown;
	memcpy(fp->arena + fp->arena_used, bytes, len);
	at->offset = fp->arena_used;
	at->len = len;
	fp->arena_used += len;
	return 0;
}

static int on_string(void *ctx, const struct phpser_key *keys, size_t depth, const char *value,
		     size_t len)
{
	struct fieldpath *fp = ctx;
	struct pending *grown;
	int err;

	if (len == 0)
		return 0;
	if (fp->has_base && !fp->have_base && selector_matches(&fp->base, keys, depth)) {
		err = arena_keep(fp, value, len, &fp->base_value);
		if (err)
			return err;
		fp->have_base = true;
	}
	for (size_t i = 0; i < fp->count; i++) {
		if (!selector_matches(&fp->selectors[i], keys, depth))
			continue;
		if (!fp->has_base || fp->is_base_field[i])
			return fp->emit(fp->ctx, value, len, false);
		grown = grow_array(fp->pending, &fp->pending_capacity, fp->pending_count + 1,
				   sizeof(*grown), FIRST_PENDING);
		if (!grown)
			return -ENOMEM;
		fp->pending = grown;
		return arena_keep(fp, value, len, &fp->pending[fp->pending_count++]);
	}
	return 0;
}

/* Emit every kept name, joined to the base the value gave. */
static int emit_pending(struct fieldpath *fp)
{
	const char *dir = fp->have_base ? fp->arena + fp->base_value.offset : "";
	size_t dir_len = fp->have_base ? fp->base_value.len : 0;
	int err;

	if (fp->have_base && fp->base_dirname) {
		const char *slash = memrchr(dir, '/', dir_len);

		dir_len = slash ? (size_t)(slash - dir) : 0;
	}
	while (dir_len > 0 && dir[dir_len - 1] == '/')
		dir_len--;
	for (size_t i = 0; i < fp->pending_count; i++) {
		const char *name = fp->arena + fp->pending[i].offset;
		size_t len = fp->pending[i].len;
		char *grown;

		if (!fp->have_base || dir_len == 0) {
			err = fp->emit(fp->ctx, name, len, !fp->have_base);
			if (err)
				return err;
			continue;
		}
		grown = grow_array(fp->joined, &fp->joined_capacity, dir_len + 1 + len, 1,
				   FIRST_ARENA_BYTES);
		if (!grown)
			return -ENOMEM;
		fp->joined = grown;
		memcpy(fp->joined, dir, dir_len);
		fp->joined[dir_len] = '/';
		memcpy(fp->joined + dir_len + 1, name, len);
		err = fp->emit(fp->ctx, fp->joined, dir_len + 1 + len, false);
		if (err)
			return err;
	}
	return 0;
}

/* Walk a JSON value; keys beyond FIELDPATH_MAX_STEPS can match nothing. */
static int walk_json(struct fieldpath *fp, json_t *v, struct phpser_key *keys, size_t depth,
		     char (*index_text)[INDEX_TEXT_BYTES])
{
	const char *key;
	json_t *child;
	size_t i;
	int err = 0;

	switch (json_typeof(v)) {
	case JSON_STRING:
		return on_string(fp, keys, depth, json_string_value(v), json_string_length(v));
	case JSON_OBJECT:
		if (depth == FIELDPATH_MAX_STEPS)
			return 0;
		json_object_foreach(v, key, child) {
			keys[depth] = (struct phpser_key){ key, strlen(key) };
			err = walk_json(fp, child, keys, depth + 1, index_text);
			if (err)
				return err;
		}
		return 0;
	case JSON_ARRAY:
		if (depth == FIELDPATH_MAX_STEPS)
			return 0;
		json_array_foreach(v, i, child) {
			int n = snprintf(index_text[depth], INDEX_TEXT_BYTES, "%zu", i);

			keys[depth] = (struct phpser_key){ index_text[depth], (size_t)n };
			err = walk_json(fp, child, keys, depth + 1, index_text);
			if (err)
				return err;
		}
		return 0;
	default:
		return 0;
	}
}

static int extract_json(struct fieldpath *fp, const char *value, size_t len)
{
	struct phpser_key keys[FIELDPATH_MAX_STEPS];
	char index_text[FIELDPATH_MAX_STEPS][INDEX_TEXT_BYTES];
	json_error_t error;
	json_t *root = json_loadb(value, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &error);
	int err;

	if (!root)
		return json_error_code(&error) == json_error_out_of_memory ? -ENOMEM : -EINVAL;
	err = walk_json(fp, root, keys, 0, index_text);
	json_decref(root);
	return err;
}

int fieldpath_extract(struct fieldpath *fp, const char *value, size_t len,
		      fieldpath_emit_fn emit, void *ctx)
{
	int err;

	fp->emit = emit;
	fp->ctx = ctx;
	fp->arena_used = 0;
	fp->pending_count = 0;
	fp->have_base = false;
	if (fp->format == CONFIG_FORMAT_JSON)
		err = extract_json(fp, value, len);
	else
		err = phpser_walk(value, len, on_string, fp);
	if (err)
		return err;
	return emit_pending(fp);
}
