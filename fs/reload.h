/*
 * reload: applies the configuration file again without unmounting, on
 * SIGHUP (systemctl reload) and on `mediactl reload`.
 *
 * The file is read and validated as at startup (the file, then the -o
 * overrides of [mediafs] keys); a file that does not validate is refused in
 * one sentence and the running configuration stays.  A valid one is
 * applied everywhere it is read: the checker (settings and sources, for
 * the next scan; a scan in progress finishes with the old ones), the
 * control socket (what status and check show), and the mount's own
 * settings (restore_on_access, temp_max_age).  Mount options (timeouts,
 * writeback, splice, inode_fds, log_level, allow_other) are not in the
 * file: they change at the next mount only, and a reload says so.
 *
 * SIGHUP is blocked in every thread (reload_start() runs before the
 * daemon starts any) and read from a signalfd by the reload thread, so
 * it never ends the session as libfuse's handler would.
 *
 * Threads: reload_start(), reload_stop() and reload_free() from the main
 * thread;
 * reload_now() from any thread (one reload at a time).
 */
#ifndef MEDIAFS_RELOAD_H
#define MEDIAFS_RELOAD_H

#include <stddef.h>

#include "mediafs.h"

struct daemon_options;

struct reload;

/* Room for a reload's answer. */
enum { RELOAD_MESSAGE_BYTES = 2048 };

/*
 * Block SIGHUP and start the thread that reloads on it.  opts stays the
 * daemon's (its config is replaced on each reload).  Returns 0 or -errno.
 */
int reload_start(struct mediafs *fs, struct daemon_options *opts, struct reload **out);

/*
 * Stop the thread (after a reload in progress); reload_now() refuses from
 * then on.  reload_free() frees it once nothing can call reload_now().
 */
void reload_stop(struct reload *reload);
void reload_free(struct reload *reload);

/*
 * Read the configuration again and apply it.  Returns 0 with what changed
 * in message, or -EINVAL (the file does not validate), -ETIMEDOUT (the
 * checker was busy: it applies the new settings when its scan ends) or
 * -ENOMEM, with one sentence in message.  Logs the outcome.
 */
int reload_now(struct reload *reload, char *message, size_t size);

#endif
