/*
 * humanize: sizes for people, in one spelling everywhere (the daemon's
 * log, mediactl's tables): binary units, "512 B", "8.0 KiB", "1.5 GiB".
 *
 * Threads: any; pure.
 */
#ifndef MEDIAFS_HUMANIZE_H
#define MEDIAFS_HUMANIZE_H

#include <stddef.h>
#include <stdint.h>

/* Room for the longest text humanize_size() writes, with its NUL. */
enum { HUMANIZE_SIZE_BYTES = 32 };

/* Write bytes for people into out (truncated to size, NUL-terminated). */
void humanize_size(uint64_t bytes, char *out, size_t size);

#endif
