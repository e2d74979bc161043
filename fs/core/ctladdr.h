/*
 * ctladdr: where the control socket of a mount lives, so that the daemon
 * and mediactl agree without a configuration: in the runtime directory
 * ($MEDIAFS_RUNTIME_DIR, else /run/mediafs for root, else
 * $XDG_RUNTIME_DIR/mediafs, else /tmp/mediafs-UID), named after the mount
 * point, with a .json file beside it that says which mount it serves.
 * Outside BACKING on purpose: a mount over its own backing directory hides
 * BACKING/.mediafs.
 *
 * Threads: any.
 */
#ifndef MEDIAFS_CTLADDR_H
#define MEDIAFS_CTLADDR_H

#include <stddef.h>

/* The runtime directory into buf.  0 or -ENAMETOOLONG. */
int ctladdr_runtime_dir(char *buf, size_t size);

/*
 * The socket path for a mount point (absolute, canonical) into buf, and
 * the info file's path into info (both may be NULL).  Long mount points
 * get a hashed name: a socket path has at most 107 bytes.
 */
int ctladdr_for_mount(const char *mountpoint, char *socket_path, size_t socket_size,
		      char *info_path, size_t info_size);

#endif
