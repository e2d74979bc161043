/*
 * review: `mediactl review`, one self-contained HTML page of what a held
 * scan would move, what a scan moved, or what the quarantine holds, with
 * thumbnails (docs/mediactl.md, "Reviewing before it goes").
 *
 * Owns the page and the thumbnails' sandbox (review_thumb.c).  Asks for
 * the files and for read-only descriptors on them (fs/core/admin_review.h)
 * through a backend: the daemon's control socket, or mediactl's offline
 * store.  Never changes the store.
 *
 * Threads: one (mediactl's); forks one child per thumbnail.
 */
#ifndef MEDIAFS_TOOLS_REVIEW_H
#define MEDIAFS_TOOLS_REVIEW_H

#include <jansson.h>
#include <stdbool.h>

/* Where the answers come from. */
struct review_backend {
	/*
	 * The answer to request, or NULL having said why on stderr; *fd
	 * receives a descriptor that came with it (the caller closes it), or
	 * -1.
	 */
	json_t *(*ask)(void *ctx, const json_t *request, int *fd);
	void *ctx;
};

/* How the page is asked for and what it says to copy. */
struct review_options {
	const json_t *request;	/* mediactl's: "scan", "held", "quarantine", "output" */
	const char *mount;	/* --mount or --backing as given, for the commands shown */
	const char *backing;
	bool json;		/* answer on stdout as JSON */
	bool progress;		/* stdout is a terminal: say how far the thumbnails are */
};

/*
 * A backend on the daemon's control socket at socket_path, one connection
 * for the whole review.  0, or an exit status having said why.
 */
int review_connect(const char *socket_path, struct review_backend *backend);
void review_disconnect(struct review_backend *backend);

/* Write the page; returns mediactl's exit status (print.h). */
int review_run(const struct review_options *opts, const struct review_backend *backend);

#endif
