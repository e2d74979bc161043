/*
 * pg_harness: a throwaway PostgreSQL cluster for one test program.
 *
 * Owns a fresh temporary directory holding the cluster (initdb), its log
 * and its unix socket; the server listens on nothing else.  As root (CI),
 * the server binaries run as the user "postgres" through runuser, because
 * initdb refuses root; as anyone else they run directly.  Authentication:
 * the role PG_HARNESS_PASSWORD_ROLE must give PG_HARNESS_PASSWORD
 * (scram-sha-256); every other role, the superuser "postgres" included, is
 * trusted on the socket.  A cluster is stopped and removed by
 * pg_harness_destroy(), at exit of the process that started it, or, if that
 * process was killed, by the next pg_harness_start() on the machine.
 *
 * Never for production: fsync is off.
 *
 * Threads: one harness belongs to one thread.  Forked children (Check's
 * fork mode) may use a copy of it; only the starting process destroys it.
 */
#ifndef MEDIAFS_PG_HARNESS_H
#define MEDIAFS_PG_HARNESS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define PG_HARNESS_SUPERUSER "postgres"
#define PG_HARNESS_PASSWORD_ROLE "mediafs_pw"
#define PG_HARNESS_PASSWORD "correct horse battery staple"

struct pg_harness {
	char dir[128];		/* the temporary directory; also the socket dir */
	char bindir[PATH_MAX];	/* initdb, pg_ctl */
	char conninfo[256];	/* superuser, database "postgres" */
	bool as_postgres;	/* root: run the server binaries as postgres */
	uid_t uid;		/* who runs them */
	gid_t gid;
	pid_t owner;		/* the process that started the cluster */
	bool started;
};

/*
 * Create, start and wait for a cluster.  Returns 0; -ENOENT when the
 * PostgreSQL server binaries (or, as root, the user postgres) are missing,
 * after printing why to stderr, so that the test can exit 77 (skip); or
 * another -errno, with the server's log on stderr.
 */
int pg_harness_start(struct pg_harness *h);

/* "host=DIR port=5432 dbname=postgres user=postgres" */
const char *pg_harness_conninfo(const struct pg_harness *h);

/* Write a conninfo for dbname and user (NULL: the defaults) into out. */
void pg_harness_conninfo_for(const struct pg_harness *h, const char *dbname, const char *user,
			     char *out, size_t size);

/*
 * Run sql (one or more statements) as the superuser in dbname (NULL:
 * "postgres").  Returns 0, or -EIO after printing the server's message.
 */
int pg_harness_exec(const struct pg_harness *h, const char *dbname, const char *sql);

/*
 * Stop the server as an administrator does ("pg_ctl stop -m fast"): open
 * connections are ended with an error, and what was committed is kept.
 */
int pg_harness_stop(const struct pg_harness *h);

/*
 * Stop the server at once ("pg_ctl stop -m immediate"), as if it crashed.
 * The harness runs with synchronous_commit off: the last commits may be
 * lost; run CHECKPOINT first to keep them.
 */
int pg_harness_stop_immediately(const struct pg_harness *h);

/* Start the server again after a stop; a no-op when it is running. */
int pg_harness_restart(const struct pg_harness *h);

/* Stop the server and remove the directory; safe to call twice. */
void pg_harness_destroy(struct pg_harness *h);

#endif
