/*
 * print: mediactl's answers for people (the --json output is printed as
 * the daemon sent it, not here).
 *
 * Owns the tables, the size and time spellings, the colours and the
 * escaping of every name and value shown on a terminal.  Never talks to
 * the daemon.  Runs out of memory by exiting with EXIT_REFUSED: mediactl
 * prints and exits.
 *
 * Threads: one (mediactl's).
 */
#ifndef MEDIAFS_TOOLS_PRINT_H
#define MEDIAFS_TOOLS_PRINT_H

#include <jansson.h>
#include <stdbool.h>

/* mediactl's exit statuses. */
enum {
	EXIT_OK = 0,
	EXIT_REFUSED = 1,	/* the action was refused or failed */
	EXIT_USAGE = 2,
};

/* Colour the tables (a terminal that asked for it). */
void print_set_color(bool on);

/*
 * text made safe for a terminal with termesc().  The result lives until
 * 16 more calls; NULL prints as "".
 */
const char *print_esc(const char *text);

/* Text the daemon escaped already: shown as it is when it is printable
 * ASCII, escaped otherwise. */
const char *print_esc_unless_printable(const char *text);

/* The string at key of obj, "" when there is none (not escaped). */
const char *print_str(const json_t *obj, const char *key);

/* The path at key of obj for people: its bytes (key_hex when it is not
 * UTF-8), escaped. */
const char *print_shown(const json_t *obj, const char *key);

/* The answer to command, as tables and lines on stdout. */
void print_response(const char *command, const json_t *r);

/* The answer to a restore (also printed for a partial failure). */
void print_restore(const json_t *r);

#endif
