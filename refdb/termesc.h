/*
 * termesc: names and values made safe to print on a terminal or in a log
 * line.
 *
 * File names and database values are data chosen by users: a newline in
 * one could forge a table row or a log line, and an escape sequence could
 * drive an admin's terminal.  termesc() writes a copy in which every byte
 * that is not printable is shown as an escape, so that the output is one
 * line of printable text and different inputs stay different:
 *   - backslash            -> \\
 *   - \n, \r, \t           -> \n, \r, \t
 *   - other C0 bytes, DEL  -> \xHH
 *   - bytes that are not strict UTF-8 -> \xHH each
 *   - C1 controls (U+0080..U+009F), and the bidirectional overrides and
 *     isolates (U+202A..U+202E, U+2066..U+2069) that reorder what a
 *     terminal shows -> \u{HHHH}
 * Printable UTF-8 passes unchanged, so accented names stay readable.
 *
 * JSON output needs none of this: JSON escapes its own strings.
 *
 * Threads: every function is pure and safe from any thread.
 */
#ifndef MEDIAFS_TERMESC_H
#define MEDIAFS_TERMESC_H

#include <stdbool.h>
#include <stddef.h>

/* Room for the escaped form of n input bytes: at most 8 output bytes each. */
#define TERMESC_BYTES(n) (8 * (n) + 1)

/*
 * Write the escaped form of the len bytes at s into out (size bytes,
 * always NUL-terminated when size > 0).  A result that does not fit is cut
 * at a whole escape and ends in "...".  Returns out.
 */
char *termesc_n(const char *s, size_t len, char *out, size_t size);

/* The same for a NUL-terminated string; NULL prints as "". */
char *termesc(const char *s, char *out, size_t size);

/* The escaped form in new memory (NULL when out of memory); the caller frees. */
char *termesc_dup(const char *s);

/* True when s prints as itself (termesc() would change nothing). */
bool termesc_is_plain(const char *s);

#endif
