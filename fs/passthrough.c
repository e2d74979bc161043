/*
 * passthrough: FUSE passthrough through the kernel's ABI.
 *
 * File map: the kernel ABI this module needs (defined here when the
 * system's <linux/fuse.h> is older than the running kernel); the custom io
 * that watches the INIT exchange; backing ids; open and create replies.
 */
#include "passthrough.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/fuse.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* The kernel ABI (7.40), for a <linux/fuse.h> from before it           */
/* ------------------------------------------------------------------ */

#define INIT_EXT_FLAG (1u << 30)			/* FUSE_INIT_EXT */
#define PASSTHROUGH_FLAG2 (1u << (37 - 32))		/* FUSE_PASSTHROUGH */
#define WRITEBACK_CACHE_FLAG (1u << 16)			/* FUSE_WRITEBACK_CACHE */
#define OPEN_PASSTHROUGH (1u << 7)			/* FOPEN_PASSTHROUGH */
#define OPEN_DIRECT_IO (1u << 0)			/* FOPEN_DIRECT_IO */
#define OPEN_NOFLUSH (1u << 5)				/* FOPEN_NOFLUSH */
#define DEV_IOC_MAGIC 229
#define STACK_DEPTH 1	/* BACKING on a plain filesystem; mediafs may be stacked on once */

struct backing_map {				/* struct fuse_backing_map */
	int32_t fd;
	uint32_t flags;
	uint64_t padding;
};
#define DEV_IOC_BACKING_OPEN _IOW(DEV_IOC_MAGIC, 1, struct backing_map)
#define DEV_IOC_BACKING_CLOSE _IOW(DEV_IOC_MAGIC, 2, uint32_t)

/* The INIT reply's words, as 7.40 lays them out. */
enum {
	INIT_OUT_FLAGS = 3,		/* uint32_t flags */
	INIT_OUT_FLAGS2 = 8,		/* uint32_t flags2 */
	INIT_OUT_MAX_STACK_DEPTH = 9,	/* uint32_t max_stack_depth */
	INIT_OUT_MIN_BYTES = 4 * (INIT_OUT_MAX_STACK_DEPTH + 1),
	INIT_IN_FLAGS = 3,
	INIT_IN_FLAGS2 = 4,
	INIT_IN_MIN_BYTES = 4 * (INIT_IN_FLAGS2 + 1),
};

struct open_out {				/* struct fuse_open_out, 7.40 */
	uint64_t fh;
	uint32_t open_flags;
	int32_t backing_id;
};

_Static_assert(sizeof(struct open_out) == sizeof(struct fuse_open_out),
	       "fuse_open_out keeps its size");

/* ------------------------------------------------------------------ */
/* Watching INIT                                                        */
/* ------------------------------------------------------------------ */

static bool has_sys_admin(void)
{
	struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	if (syscall(SYS_capget, &header, data) != 0)
		return false;
	return data[CAP_SYS_ADMIN / 32].effective & (1u << (CAP_SYS_ADMIN % 32));
}

/* The kernel's INIT request: does it offer passthrough? */
static void watch_request(struct passthrough *pt, const void *buf, ssize_t len)
{
	const struct fuse_in_header *in = buf;
	const uint32_t *words;

	if (len < (ssize_t)sizeof(*in) || in->opcode != FUSE_INIT)
		return;
	words = (const uint32_t *)(in + 1);
	if ((size_t)len >= sizeof(*in) + INIT_IN_MIN_BYTES &&
	    (words[INIT_IN_FLAGS] & INIT_EXT_FLAG) && (words[INIT_IN_FLAGS2] & PASSTHROUGH_FLAG2))
		atomic_store(&pt->offered, true);
	atomic_store(&pt->init_unique, in->unique);
}

/* Why passthrough cannot be asked for in this INIT reply, or NULL. */
static const char *reason_against(const struct passthrough *pt, const struct iovec *reply)
{
	const uint32_t *words = reply->iov_base;

	if (!pt->wanted)
		return "turned off with -o nopassthrough";
	if (!atomic_load(&pt->offered))
		return "the kernel does not offer it (Linux 6.9 or later with "
		       "CONFIG_FUSE_PASSTHROUGH)";
	if (reply->iov_len < INIT_OUT_MIN_BYTES)
		return "libfuse's INIT reply is too short to carry it";
	if (words[INIT_OUT_FLAGS] & WRITEBACK_CACHE_FLAG)
		return "the writeback cache was asked for (-o writeback)";
	if (!has_sys_admin())
		return "the daemon lacks CAP_SYS_ADMIN (not root)";
	return NULL;
}

/* libfuse's INIT reply: ask for passthrough when everything allows it. */
static void edit_init_reply(struct passthrough *pt, struct iovec *iov, int count)
{
	const struct fuse_out_header *out = iov[0].iov_base;
	const char *why;

	if (count < 2 || iov[0].iov_len < sizeof(*out) ||
	    out->unique != atomic_load(&pt->init_unique))
		return;
	atomic_store(&pt->init_unique, 0);
	why = out->error ? "INIT failed" : reason_against(pt, &iov[1]);
	if (why) {
		snprintf(pt->why_not, sizeof(pt->why_not), "%s", why);
		log_info("passthrough is off: %s; the daemon serves reads and writes", why);
	} else {
		uint32_t *words = iov[1].iov_base;

		words[INIT_OUT_FLAGS] |= INIT_EXT_FLAG;
		words[INIT_OUT_FLAGS2] |= PASSTHROUGH_FLAG2;
		words[INIT_OUT_MAX_STACK_DEPTH] = STACK_DEPTH;
		atomic_store(&pt->on, true);
		log_info("passthrough is on: the kernel reads and writes open files directly");
	}
	/* After why_not: readers look at it once this is set. */
	atomic_store(&pt->init_done, true);
}

/*
 * libfuse hands the custom io the session's userdata (the daemon's), not
 * ours; a process has one session, so the module keeps the one it serves.
 */
static struct passthrough *attached;

static ssize_t io_read(int fd, void *buf, size_t len, void *userdata)
{
	ssize_t n = read(fd, buf, len);

	(void)userdata;
	/* INIT is the first request, and always comes through read(). */
	if (n > 0 && !atomic_load(&attached->init_done))
		watch_request(attached, buf, n);
	return n;
}

static ssize_t io_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	(void)userdata;
	if (atomic_load(&attached->init_unique))
		edit_init_reply(attached, iov, count);
	return writev(fd, iov, count);
}

/* With a custom io, libfuse splices only through these. */
static ssize_t io_splice(int fd_in, off_t *off_in, int fd_out, off_t *off_out, size_t len,
			 unsigned int flags, void *userdata)
{
	(void)userdata;
	return splice(fd_in, off_in, fd_out, off_out, len, flags);
}

int passthrough_attach(struct passthrough *pt, struct fuse_session *se, bool wanted)
{
	static const struct fuse_custom_io io = {
		.read = io_read,
		.writev = io_writev,
		.splice_receive = io_splice,
		.splice_send = io_splice,
	};

	pt->dev_fd = fuse_session_fd(se);
	pt->wanted = wanted;
	atomic_store(&pt->on, false);
	atomic_store(&pt->offered, false);
	atomic_store(&pt->init_unique, 0);
	atomic_store(&pt->init_done, false);
	pt->why_not[0] = '\0';
	pt->warning = (struct log_ratelimit){ 0 };
	attached = pt;
	/* The descriptor stays the session's: fuse_session_unmount() closes it. */
	return fuse_session_custom_io(se, &io, pt->dev_fd);
}

bool passthrough_on(const struct passthrough *pt)
{
	return atomic_load(&pt->on);
}

const char *passthrough_why_not(const struct passthrough *pt)
{
	if (atomic_load(&pt->on))
		return "";
	return atomic_load(&pt->init_done) ? pt->why_not : "the kernel has not sent INIT yet";
}

/* ------------------------------------------------------------------ */
/* Backing ids                                                          */
/* ------------------------------------------------------------------ */

int passthrough_backing_open(struct passthrough *pt, int fd)
{
	struct backing_map map = { .fd = fd };
	int id, err;

	if (!atomic_load(&pt->on))
		return -EOPNOTSUPP;
	id = ioctl(pt->dev_fd, DEV_IOC_BACKING_OPEN, &map);
	/* 0 is never an id: the kernel counts from 1. */
	if (id > 0)
		return id;
	err = id < 0 ? -errno : -EPROTO;
	if (err == -EPERM || err == -ELOOP) {
		snprintf(pt->why_not, sizeof(pt->why_not), "the kernel refused a backing file: %s",
			 strerror(-err));
		if (atomic_exchange(&pt->on, false))
			log_warn("passthrough is off for files opened from now on: the kernel "
				 "refused a backing file (%s)", strerror(-err));
		return err;
	}
	log_write_limited(&pt->warning, LOG_REPEAT_INTERVAL_MS, LOG_LEVEL_WARN,
			  "cannot register a backing file for passthrough: %s; the file is "
			  "served by the daemon", strerror(-err));
	return err;
}

int passthrough_backing_close(struct passthrough *pt, int id)
{
	uint32_t backing_id = (uint32_t)id;
	int err;

	if (ioctl(pt->dev_fd, DEV_IOC_BACKING_CLOSE, &backing_id) == 0)
		return 0;
	err = -errno;
	log_write_limited(&pt->warning, LOG_REPEAT_INTERVAL_MS, LOG_LEVEL_WARN,
			  "cannot release passthrough backing id %d: %s; the kernel keeps it "
			  "until the unmount", id, strerror(-err));
	return err;
}

void passthrough_backing_forget(void *ctx, int id)
{
	(void)passthrough_backing_close(ctx, id);
}

/* ------------------------------------------------------------------ */
/* Replies                                                              */
/* ------------------------------------------------------------------ */

/* fill_open() of libfuse, minus what passthrough refuses. */
static void fill_open(struct open_out *out, const struct fuse_file_info *fi, int backing_id)
{
	*out = (struct open_out){ .fh = fi->fh, .backing_id = backing_id };
	out->open_flags = OPEN_PASSTHROUGH;
	if (fi->direct_io)
		out->open_flags |= OPEN_DIRECT_IO;
	if (fi->noflush)
		out->open_flags |= OPEN_NOFLUSH;
}

static uint64_t timeout_sec(double t)
{
	if (t >= (double)UINT64_MAX)
		return UINT64_MAX;
	return t > 0 ? (uint64_t)t : 0;
}

static uint32_t timeout_nsec(double t)
{
	double fraction = t - (double)timeout_sec(t);

	if (fraction <= 0)
		return 0;
	return fraction >= 0.999999999 ? 999999999 : (uint32_t)(fraction * 1e9);
}

static void fill_entry(struct fuse_entry_out *out, const struct fuse_entry_param *e)
{
	const struct stat *st = &e->attr;

	*out = (struct fuse_entry_out){
		.nodeid = e->ino,
		.generation = e->generation,
		.entry_valid = timeout_sec(e->entry_timeout),
		.entry_valid_nsec = timeout_nsec(e->entry_timeout),
		.attr_valid = timeout_sec(e->attr_timeout),
		.attr_valid_nsec = timeout_nsec(e->attr_timeout),
		.attr = {
			.ino = st->st_ino,
			.size = (uint64_t)st->st_size,
			.blocks = (uint64_t)st->st_blocks,
			.atime = (uint64_t)st->st_atim.tv_sec,
			.mtime = (uint64_t)st->st_mtim.tv_sec,
			.ctime = (uint64_t)st->st_ctim.tv_sec,
			.atimensec = (uint32_t)st->st_atim.tv_nsec,
			.mtimensec = (uint32_t)st->st_mtim.tv_nsec,
			.ctimensec = (uint32_t)st->st_ctim.tv_nsec,
			.mode = st->st_mode,
			.nlink = (uint32_t)st->st_nlink,
			.uid = st->st_uid,
			.gid = st->st_gid,
			.rdev = (uint32_t)st->st_rdev,
			.blksize = (uint32_t)st->st_blksize,
		},
	};
}

int passthrough_reply_open(fuse_req_t req, const struct fuse_file_info *fi, int backing_id)
{
	struct open_out out;
	struct iovec iov = { .iov_base = &out, .iov_len = sizeof(out) };

	fill_open(&out, fi, backing_id);
	return fuse_reply_iov(req, &iov, 1);
}

int passthrough_reply_create(fuse_req_t req, const struct fuse_entry_param *e,
			     const struct fuse_file_info *fi, int backing_id)
{
	struct fuse_entry_out entry;
	struct open_out out;
	struct iovec iov[2] = {
		{ .iov_base = &entry, .iov_len = sizeof(entry) },
		{ .iov_base = &out, .iov_len = sizeof(out) },
	};

	fill_entry(&entry, e);
	fill_open(&out, fi, backing_id);
	return fuse_reply_iov(req, iov, 2);
}
