/*
 * metrics: a store's figures in the Prometheus text exposition format
 * (0.0.4), for node_exporter's textfile collector and `mediactl metrics`.
 *
 * The input is the answer of the admin protocol's "status" command
 * (fs/core/admin.h), so the daemon's textfile and mediactl print the same
 * figures from the same place.  Rendering is a pure function over that
 * JSON: fields it does not find are left out (an offline store has no
 * event queue), never printed as zero.  Label values are escaped as the
 * format requires (backslash, double quote, newline).
 *
 * Names follow Prometheus' conventions: a mediafs_ prefix, base units
 * (_seconds, _bytes), _total for counters, and one metric with a label
 * for a family of figures (mediafs_files{state="quarantined"}).  The list
 * is in docs/operations.md, with an alert for each alarm kind.
 *
 * Threads: any; nothing is shared.
 */
#ifndef MEDIAFS_METRICS_H
#define MEDIAFS_METRICS_H

#include <jansson.h>

/*
 * The exposition text for status, in new memory (the caller frees it), or
 * NULL when memory runs out.
 */
char *metrics_render(const json_t *status);

/*
 * Replace the file at path with text, atomically: written to a temporary
 * file beside it (mode 0644, never through a symbolic link) and renamed
 * over it, so a collector never reads half a file.  Returns 0 or -errno.
 */
int metrics_write_file(const char *path, const char *text);

#endif
