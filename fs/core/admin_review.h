/*
 * admin_review: the two requests behind `mediactl review`, which builds a
 * page of thumbnails of what a scan would move or the quarantine holds.
 *
 *   {"command": "review_files", "held": true | "scan": N | "quarantine": true}
 *     the files to show: the candidates of a held (or dry-run) scan, the
 *     files a finished scan quarantined, or the whole quarantine; with the
 *     scan.  Each file is {"id", "path" (and "path_hex"), "size", "state",
 *     "changed_ms", "written_ms", "reason"}.
 *   {"command": "review_open", "id": N}
 *     a read-only descriptor on the file of catalog row N, live or
 *     quarantined, opened beneath BACKING (never through the mount, so
 *     reading it restores nothing) without following a link, only when
 *     it is a regular file.  Over the control socket the descriptor rides
 *     with the answer line (SCM_RIGHTS on its first byte).
 *
 * Only rows the catalog knows are opened: a client names an id, never a
 * path.  The socket admits root and the daemon's user only, who may read
 * BACKING anyway; a descriptor gives them nothing more, and no write.
 *
 * These requests live beside the admin protocol (admin.h) rather than in
 * it because an answer there is JSON only.  Never changes the catalog or
 * a file.  Threads: as admin.h, one context per thread.
 */
#ifndef MEDIAFS_ADMIN_REVIEW_H
#define MEDIAFS_ADMIN_REVIEW_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "admin.h"

/* Is request one of the two above (by its "command")? */
bool admin_review_is_request(const json_t *request);

/*
 * Answer request (one of the two above).  *fd receives the descriptor a
 * "review_open" opened (the caller closes it), else -1.  Returns the
 * response (NULL only when memory runs out).
 */
json_t *admin_review_execute(struct admin_context *ctx, const json_t *request, int *fd);

/*
 * The control socket's hook: when the request line (len bytes) is one of
 * the two above, answer it on sock, passing the descriptor with the line,
 * and return 1 (-1 when sending failed: the connection is over); return
 * 0 for any other line, which the caller serves as it would have.
 */
int admin_review_serve(struct admin_context *ctx, int sock, const char *line, size_t len);

#endif
