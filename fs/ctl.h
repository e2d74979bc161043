/*
 * ctl: the control socket of a running daemon.
 *
 * A unix stream socket (mode 0600) at the address of ctladdr.h, serving
 * the JSON-lines protocol of admin.h: one request per line, one response
 * per line.  Only root and the user the daemon runs as may connect (the
 * peer's credentials are checked as well as the mode).  Each connection
 * gets a thread and its own catalog connection, so a long scan requested
 * by one admin does not block another's status.
 *
 * At most 16 connections are served at once; one more gets the line
 * {"ok": false, "kind": "refused", "error": "the control socket is busy:
 * ..."} and is closed.  A connection that has not sent a whole request
 * line, or not read its answer, within the idle timeout (60 s, or the
 * duration in $MEDIAFS_CONTROL_IDLE_TIMEOUT when the daemon starts) gets
 * a refusal line too and is closed.
 *
 * Threads: ctl_start() and ctl_stop() from the main thread.
 */
#ifndef MEDIAFS_CTL_H
#define MEDIAFS_CTL_H

#include <jansson.h>

#include "config.h"
#include "mediafs.h"

struct ctl;

/*
 * Listen for mountpoint.  Returns 0 or -errno with a message in error
 * (another daemon holding the socket is -EADDRINUSE).
 */
int ctl_start(struct mediafs *fs, const struct config *cfg, const char *mountpoint,
	      const char *catalog_path, struct ctl **out, char *error, size_t error_size);

/* Stop listening, wait for the connections to finish, remove the socket. */
void ctl_stop(struct ctl *ctl);

/*
 * Requests from now on see cfg (copied); those in progress finish with
 * the configuration they started with.  Returns 0 or -ENOMEM.
 */
int ctl_set_config(struct ctl *ctl, const struct config *cfg);

/*
 * The running daemon's part of a status answer (admin_context.add_status):
 * pid, scanning, the event queue, references per source, the alarms of
 * the checker and the event writer.  daemon is the struct mediafs.  Any
 * thread.
 */
void ctl_add_daemon_status(void *daemon, json_t *status);

#endif
