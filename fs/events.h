/*
 * events: carries what the FUSE handlers observe (files created, written,
 * renamed, removed) to the catalog without making a request wait on the
 * database, and reconciles the catalog with the disk after a mount.
 *
 * Handlers call events_emit(), which copies the event into a bounded queue
 * and returns; one writer thread commits the queue in groups (every
 * EVENT_GROUP_MS or EVENT_GROUP_MAX events, whichever comes first), so the
 * catalog costs one transaction per group, never one per write.  When the
 * queue is full, events_emit() waits (back-pressure) rather than drop.
 *
 * The same thread runs the adoption walk (adopt.h) in slices between
 * groups, so events and adoption are applied in one order.
 *
 * When the catalog cannot be written (a full disk, a broken database) a
 * group is retried, then dropped with an error in the log, and a new
 * adoption walk is started once writing works again: the catalog catches
 * up with the disk, and the data path is never held hostage.  An adoption
 * that fails the same way is retried after a growing wait (at most 30 s),
 * or at once when a group commits again.
 *
 * Threads: events_emit() and events_flush() from any thread; the rest
 * from the thread that owns the daemon.
 */
#ifndef MEDIAFS_EVENTS_H
#define MEDIAFS_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "catalog.h"
#include "store.h"

struct events;

/* Group commit rhythm and queue size. */
#define EVENT_GROUP_MS 50
enum {
	EVENT_GROUP_MAX = 4096,
	EVENT_QUEUE_CAPACITY = 65536,
};

struct events_status {
	uint64_t emitted;		/* events accepted */
	uint64_t committed;		/* events in the catalog */
	uint64_t dropped;		/* events lost to catalog errors */
	bool catalog_behind;		/* some were lost, and no adoption caught up yet */
	bool adopting;			/* an adoption walk is running */
	bool adoption_done;		/* at least one adoption completed */
	uint64_t adoption_files;	/* files seen by the current or last walk */
	struct catalog_adopt_result last_adoption;
};

/*
 * Open a writer connection to the catalog at catalog_path, start the
 * writer thread, and with adopt set start an adoption walk of st's
 * BACKING.  Returns 0 or -errno with a message in error.
 */
int events_start(const char *catalog_path, const struct store *st, bool adopt,
		 struct events **out, char *error, size_t error_size);

/* Commit everything queued, stop the thread and free ev.  An unfinished
 * adoption is abandoned (it runs again at the next mount). */
void events_stop(struct events *ev);

/* Queue a copy of event (its strings are copied).  May wait when full. */
void events_emit(struct events *ev, const struct catalog_event *event);

/* Wait until every event emitted before the call is committed (or dropped). */
void events_flush(struct events *ev);

/* Wait until an adoption walk has completed, up to timeout_ms (< 0: no
 * limit).  Returns true when one has. */
bool events_wait_adoption(struct events *ev, int64_t timeout_ms);

/* Start a new adoption walk (unless one is running). */
void events_request_adoption(struct events *ev);

void events_get_status(struct events *ev, struct events_status *status);

#endif
