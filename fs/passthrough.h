/*
 * passthrough: the kernel's FUSE passthrough (Linux >= 6.9) on a libfuse
 * that predates it.
 *
 * With passthrough the kernel reads and writes an open file's backing file
 * itself: no READ or WRITE request reaches the daemon, which still sees
 * every open, create and release (all that tracking needs).  libfuse 3.16
 * offers it as conn->want_ext |= FUSE_CAP_PASSTHROUGH,
 * fuse_passthrough_open() / fuse_passthrough_close() and fi->backing_id.
 * Debian 12 ships libfuse 3.14, so this module speaks the kernel's ABI
 * (include/uapi/linux/fuse.h) directly:
 *
 *  - the INIT reply: fuse_session_custom_io() puts this module between
 *    libfuse and /dev/fuse; it sets FUSE_PASSTHROUGH (bit 37, in flags2)
 *    and max_stack_depth in libfuse's reply when the kernel offered it
 *    and the daemon did not ask for the writeback cache (the kernel
 *    refuses the two together);
 *  - FUSE_DEV_IOC_BACKING_OPEN / _CLOSE on /dev/fuse register a backing
 *    descriptor and return its id (CAP_SYS_ADMIN);
 *  - open and create replies carry FOPEN_PASSTHROUGH and the backing id,
 *    written by hand and sent with fuse_reply_iov().
 *
 * When the platform's libfuse reaches 3.16, this module reduces to those
 * three libfuse calls and can be dropped.
 *
 * Rules the kernel sets (fs/fuse/iomode.c): every open of an inode that is
 * open in passthrough mode must be passthrough too, with the same backing
 * id; FOPEN_KEEP_CACHE is refused with it.  The caller keeps one backing
 * id per inode while any handle on it is open.
 *
 * Threads: passthrough_attach() before the session loop; the rest from
 * any FUSE worker.
 */
#ifndef MEDIAFS_PASSTHROUGH_H
#define MEDIAFS_PASSTHROUGH_H

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "log.h"

enum { PASSTHROUGH_WHY_BYTES = 160 };

struct passthrough {
	int dev_fd;			/* the session's /dev/fuse descriptor */
	bool wanted;			/* not -o nopassthrough */
	atomic_bool on;			/* the INIT reply asked for it */
	atomic_uint_fast64_t init_unique; /* of the kernel's INIT request */
	atomic_bool offered;		/* the kernel's INIT offered it */
	atomic_bool init_done;		/* the INIT reply went out */
	char why_not[PASSTHROUGH_WHY_BYTES]; /* when off, for the log */
	struct log_ratelimit warning;	/* failed registrations */
};

/*
 * Put the module between the mounted session se and /dev/fuse.  wanted is
 * false with -o nopassthrough.  The INIT exchange decides whether
 * passthrough is on; until then passthrough_on() is false.  0 or -errno.
 */
int passthrough_attach(struct passthrough *pt, struct fuse_session *se, bool wanted);

/* Did the INIT reply turn passthrough on?  (Set before the first open.) */
bool passthrough_on(const struct passthrough *pt);

/* Why passthrough is off, for the log; "" when on. */
const char *passthrough_why_not(const struct passthrough *pt);

/*
 * Register fd (a regular file open through the daemon) as a backing file.
 * Returns its id (> 0) or -errno (-EOPNOTSUPP when off).  A failure is
 * logged here, rate-limited; one that every file would meet (-EPERM
 * without CAP_SYS_ADMIN, -ELOOP when BACKING is itself stacked too deep)
 * turns passthrough off for the handles opened from then on.
 */
int passthrough_backing_open(struct passthrough *pt, int fd);

/* Forget backing id; open files that use it keep working.  0 or -errno. */
int passthrough_backing_close(struct passthrough *pt, int id);

/* The same for the inode table's backing_close (ctx: the passthrough);
 * a failure is logged there. */
void passthrough_backing_forget(void *ctx, int id);

/*
 * Reply to OPEN or CREATE with the handle fi (fh, noflush, direct_io as
 * libfuse would send them; keep_cache is dropped, as the kernel wants) in
 * passthrough mode on backing id.  Return what fuse_reply_*() returns:
 * -ENOENT when the open was interrupted and the handle must be released.
 */
int passthrough_reply_open(fuse_req_t req, const struct fuse_file_info *fi, int backing_id);
int passthrough_reply_create(fuse_req_t req, const struct fuse_entry_param *e,
			     const struct fuse_file_info *fi, int backing_id);

#endif
