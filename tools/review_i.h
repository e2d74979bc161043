/*
 * review_i.h: what review.c (the data), review_html.c (the page) and
 * review_thumb.c (the sandboxed thumbnails) share.
 */
#ifndef MEDIAFS_TOOLS_REVIEW_I_H
#define MEDIAFS_TOOLS_REVIEW_I_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "review.h"

enum {
	REVIEW_THUMB_PX = 160,			/* the longer side of a thumbnail */
	REVIEW_THUMB_LIMIT = 2000,		/* images with a thumbnail */
	REVIEW_TILE_LIMIT = 5000,		/* files shown as tiles; the rest in a table */
	REVIEW_THUMB_TIMEOUT_MS = 10000,	/* one decode */
	REVIEW_THUMB_MAX_BYTES = 1 << 20,	/* one thumbnail's bytes */
	REVIEW_NOTE_BYTES = 256,
};

/* Who the decoding child becomes. */
struct review_sandbox {
	bool drop;		/* mediactl is root: become uid/gid */
	uid_t uid;
	gid_t gid;
};

struct review_thumb {
	const char *mime;	/* "image/jpeg" or "image/png"; NULL: none */
	unsigned char *data;
	size_t len;
	int width, height;
};

/* One file of the page. */
struct review_file {
	int64_t id, size, changed_ms, written_ms;
	char *path;		/* escaped for people (termesc), not yet for HTML */
	size_t dir_len;		/* bytes of path before its last '/' (0: top) */
	const char *state;	/* "live", "quarantined" (static) */
	char *reason;		/* escaped for people */
	const char *type;	/* "image", "video", "audio", "document", "archive", "file" */
	char ext[8];		/* the extension, upper case, for the icon */
	struct review_thumb thumb;
	char *note;		/* why there is no thumbnail, or NULL */
};

/* What the page shows besides the files. */
struct review_page {
	const char *title;		/* "Held scan 7", "Scan 7", "The quarantine" */
	const json_t *status;		/* the status answer */
	const json_t *scan;		/* the scan, or NULL for the quarantine */
	const char *target;		/* " --mount '/srv/media'" or "" */
	int64_t now_ms, grace_ms;
	struct review_file *files;	/* sorted by directory, then name */
	size_t count;
	size_t tiles;			/* the first tiles are tiles, the rest a table */
	size_t thumbs;			/* thumbnails made */
	bool quarantined;		/* files are quarantined: restore commands */
};

/* 0, or -errno when the name of nobody cannot be found. */
int review_sandbox_init(struct review_sandbox *sb);

/*
 * A thumbnail of the file open at fd (read only from that descriptor),
 * made in a sandboxed child.  0 with thumb filled, or -errno with note
 * saying why in one line (not decodable, crashed, timed out); never
 * fails otherwise.
 */
int review_thumb_make(int fd, const struct review_sandbox *sb, struct review_thumb *thumb,
		      char *note, size_t note_size);
void review_thumb_clear(struct review_thumb *thumb);

/* Write the page to out; 0 or -errno (a write failed). */
int review_html_write(FILE *out, const struct review_page *page);

#endif
