/*
 * ops: the table of FUSE low-level handlers.  The session's userdata must
 * be the struct mediafs that the handlers work on.
 */
#ifndef MEDIAFS_OPS_H
#define MEDIAFS_OPS_H

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

extern const struct fuse_lowlevel_ops fs_ops;

#endif
