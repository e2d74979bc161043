/*
 * mariadb_harness: a throwaway MariaDB server for one test program.
 *
 * Owns a fresh temporary directory holding the data directory
 * (mariadb-install-db), the server's log, its pid file and its unix
 * socket; the server listens on nothing else (--skip-networking) and reads
 * no option file (--no-defaults).  As root (CI) the server runs as the user
 * "mysql" (--user), which owns the directory; as anyone else it runs as
 * the caller.  Accounts: root@localhost has no password (the harness's own
 * connections); MARIADB_HARNESS_PASSWORD_USER must give
 * MARIADB_HARNESS_PASSWORD.  A server is stopped and its directory removed
 * by mariadb_harness_destroy(), at exit of the process that started it,
 * or, if that process was killed, by the next mariadb_harness_start().
 *
 * Never for production: the log is flushed once a second, not at commit.
 *
 * Threads: one harness belongs to one thread.  Forked children (Check's
 * fork mode) may use a copy of it, to stop and restart the server too (the
 * server is found through its pid file); only the starting process
 * destroys it.
 */
#ifndef MEDIAFS_MARIADB_HARNESS_H
#define MEDIAFS_MARIADB_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define MARIADB_HARNESS_PASSWORD_USER "mediafs_pw"
#define MARIADB_HARNESS_PASSWORD "correct horse battery staple"

struct mariadb_harness {
	char dir[128];		/* the temporary directory */
	char socket[160];	/* DIR/sock */
	bool as_mysql;		/* root: the server runs as mysql */
	uid_t uid;		/* who runs it */
	gid_t gid;
	pid_t owner;		/* the process that started it */
	bool started;
};

/*
 * Create the data directory, start the server and wait until it answers.
 * Returns 0; -ENOENT when mariadbd or mariadb-install-db (or, as root, the
 * user mysql) is missing, after printing why to stderr, so that the test
 * can exit 77 (skip); or another -errno, with the server's log on stderr.
 */
int mariadb_harness_start(struct mariadb_harness *h);

/* "mysql://USER@localhost/DB?socket=DIR/sock" into out; user NULL: root. */
void mariadb_harness_url(const struct mariadb_harness *h, const char *db, const char *user,
			 char *out, size_t size);

/*
 * Run sql (one or more statements separated by ';') as root, in database
 * db (NULL: none).  Returns 0, or -EIO after printing the server's message.
 */
int mariadb_harness_exec(const struct mariadb_harness *h, const char *db, const char *sql);

/* Stop the server as an administrator does (SIGTERM) and wait until it is gone. */
int mariadb_harness_stop(const struct mariadb_harness *h);

/* Kill the server (SIGKILL), as if it crashed, and wait until it is gone. */
int mariadb_harness_stop_immediately(const struct mariadb_harness *h);

/* Start the server again after a stop and wait for it; a no-op when it runs. */
int mariadb_harness_restart(const struct mariadb_harness *h);

/* Stop the server and remove the directory; safe to call twice. */
void mariadb_harness_destroy(struct mariadb_harness *h);

#endif
