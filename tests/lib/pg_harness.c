/*
 * pg_harness: runs initdb and pg_ctl with fork() and execv(), never a
 * shell, and sends their output to DIR/harness.log, which is printed when
 * a step fails.
 *
 * The one piece of global state is the list of clusters to remove at exit:
 * atexit() takes no argument.  A cluster left by a test that was killed
 * (a timeout) is found by its owner.pid file and removed on the next start.
 */
#include "pg_harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define HARNESS_PREFIX "mediafs-pg-"
#define TMP_DIR "/tmp"

enum { MAX_HARNESSES = 4, MAX_ARGS = 24 };

/* The clusters this process started; removed by the atexit handler. */
static struct pg_harness *at_exit_list[MAX_HARNESSES];

static void destroy_all_at_exit(void)
{
	for (size_t i = 0; i < MAX_HARNESSES; i++)
		if (at_exit_list[i])
			pg_harness_destroy(at_exit_list[i]);
}

static void remember_for_exit(struct pg_harness *h)
{
	static bool registered;

	if (!registered && atexit(destroy_all_at_exit) == 0)
		registered = true;
	for (size_t i = 0; i < MAX_HARNESSES; i++) {
		if (!at_exit_list[i]) {
			at_exit_list[i] = h;
			return;
		}
	}
}

static void forget_for_exit(struct pg_harness *h)
{
	for (size_t i = 0; i < MAX_HARNESSES; i++)
		if (at_exit_list[i] == h)
			at_exit_list[i] = NULL;
}

/* Run argv (argv[0] a full path), as postgres when h says so; output to log. */
static int run(const char *uid_dir, bool as_postgres, const char *log, char *const argv[])
{
	char *full[MAX_ARGS + 4];
	size_t n = 0;
	int status;
	pid_t pid;

	if (as_postgres) {
		full[n++] = "/usr/sbin/runuser";
		full[n++] = "-u";
		full[n++] = "postgres";
		full[n++] = "--";
	}
	for (size_t i = 0; argv[i] && n < MAX_ARGS; i++)
		full[n++] = argv[i];
	full[n] = NULL;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		if (uid_dir && chdir(uid_dir) < 0)
			_exit(126);
		execv(full[0], full);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

static void print_log(const char *path)
{
	char line[512];
	FILE *f = fopen(path, "r");

	if (!f)
		return;
	fprintf(stderr, "---- %s ----\n", path);
	while (fgets(line, sizeof(line), f))
		fputs(line, stderr);
	fclose(f);
}

static void path_in(const struct pg_harness *h, const char *name, char *out, size_t size)
{
	snprintf(out, size, "%s/%s", h->dir, name);
}

static int run_tool(const struct pg_harness *h, const char *tool, char *const args[])
{
	char exe[PATH_MAX + 16];
	char log[sizeof(h->dir) + 16];
	char *argv[MAX_ARGS + 1];
	size_t n = 0;
	int err;

	snprintf(exe, sizeof(exe), "%s/%s", h->bindir, tool);
	path_in(h, "harness.log", log, sizeof(log));
	argv[n++] = exe;
	for (size_t i = 0; args[i] && n < MAX_ARGS; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	err = run(h->dir, h->as_postgres, log, argv);
	if (err) {
		fprintf(stderr, "pg_harness: %s failed\n", tool);
		print_log(log);
	}
	return err;
}

static int find_bindir(struct pg_harness *h)
{
	static const char *const fallbacks[] = { "/usr/lib/postgresql/15/bin" };
	const char *env = getenv("PG_BINDIR");
	char path[PATH_MAX + 16];
	FILE *p;

	if (env && *env)
		snprintf(h->bindir, sizeof(h->bindir), "%s", env);
	else if ((p = popen("pg_config --bindir 2>/dev/null", "r")) != NULL) {
		if (!fgets(h->bindir, sizeof(h->bindir), p))
			h->bindir[0] = '\0';
		h->bindir[strcspn(h->bindir, "\n")] = '\0';
		pclose(p);
	}
	for (size_t i = 0; i <= sizeof(fallbacks) / sizeof(fallbacks[0]); i++) {
		snprintf(path, sizeof(path), "%s/initdb", h->bindir);
		if (h->bindir[0] && access(path, X_OK) == 0)
			return 0;
		if (i < sizeof(fallbacks) / sizeof(fallbacks[0]))
			snprintf(h->bindir, sizeof(h->bindir), "%s", fallbacks[i]);
	}
	fprintf(stderr, "pg_harness: skipped: no PostgreSQL server binaries (initdb) in "
		"$PG_BINDIR, pg_config --bindir or /usr/lib/postgresql/15/bin\n");
	return -ENOENT;
}

/* Stop and remove the clusters of processes that no longer exist. */
static void sweep_stale(struct pg_harness *h)
{
	DIR *tmp = opendir(TMP_DIR);
	struct dirent *e;

	if (!tmp)
		return;
	while ((e = readdir(tmp)) != NULL) {
		struct pg_harness stale = *h;
		char pid_path[PATH_MAX];
		FILE *f;
		long pid = 0;

		if (strncmp(e->d_name, HARNESS_PREFIX, strlen(HARNESS_PREFIX)) != 0 ||
		    strlen(e->d_name) + sizeof(TMP_DIR) + 1 > sizeof(stale.dir))
			continue;
		if (snprintf(stale.dir, sizeof(stale.dir), "%s/%s", TMP_DIR, e->d_name) < 0)
			continue;
		snprintf(pid_path, sizeof(pid_path), "%s/owner.pid", stale.dir);
		f = fopen(pid_path, "r");
		if (!f)
			continue;
		if (fscanf(f, "%ld", &pid) != 1)
			pid = 0;
		fclose(f);
		if (pid <= 0 || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		stale.owner = getpid();
		stale.started = true;
		pg_harness_destroy(&stale);
	}
	closedir(tmp);
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -errno;
	fputs(text, f);
	return fclose(f) == 0 ? 0 : -errno;
}

static int prepare_dir(struct pg_harness *h)
{
	char pid_path[sizeof(h->dir) + 16];
	char pid_text[32];

	snprintf(h->dir, sizeof(h->dir), "%s/%sXXXXXX", TMP_DIR, HARNESS_PREFIX);
	if (!mkdtemp(h->dir))
		return -errno;
	if (h->as_postgres && chown(h->dir, h->uid, h->gid) < 0)
		return -errno;
	path_in(h, "owner.pid", pid_path, sizeof(pid_path));
	snprintf(pid_text, sizeof(pid_text), "%ld\n", (long)getpid());
	return write_file(pid_path, pid_text);
}

static int start_server(const struct pg_harness *h)
{
	char data[sizeof(h->dir) + 8];
	char log[sizeof(h->dir) + 16];
	char options[sizeof(h->dir) + 160];
	char *args[] = { "-w", "-t", "60", "-D", data, "-l", log, "-o", options, "start", NULL };

	path_in(h, "data", data, sizeof(data));
	path_in(h, "server.log", log, sizeof(log));
	snprintf(options, sizeof(options), "-c listen_addresses='' -k %s -c fsync=off "
		 "-c full_page_writes=off -c synchronous_commit=off", h->dir);
	return run_tool(h, "pg_ctl", args);
}

static int configure_auth(const struct pg_harness *h)
{
	char hba[sizeof(h->dir) + 32];
	const char *rules = "local all " PG_HARNESS_PASSWORD_ROLE " scram-sha-256\n"
			    "local all all trust\n";
	int err;

	path_in(h, "data/pg_hba.conf", hba, sizeof(hba));
	err = write_file(hba, rules);
	if (err)
		return err;
	if (h->as_postgres && chown(hba, h->uid, h->gid) < 0)
		return -errno;
	return 0;
}

int pg_harness_start(struct pg_harness *h)
{
	char data[sizeof(h->dir) + 8];
	char *initdb_args[] = { "-D", data, "-U", PG_HARNESS_SUPERUSER, "-E", "UTF8",
				"--no-locale", "--auth=trust", "--no-sync", NULL };
	int err;

	memset(h, 0, sizeof(*h));
	h->owner = getpid();
	err = find_bindir(h);
	if (err)
		return err;
	if (geteuid() == 0) {
		struct passwd *pw = getpwnam("postgres");

		if (!pw || access("/usr/sbin/runuser", X_OK) != 0) {
			fprintf(stderr, "pg_harness: skipped: running as root needs the user "
				"postgres and runuser to start a server\n");
			return -ENOENT;
		}
		h->as_postgres = true;
		h->uid = pw->pw_uid;
		h->gid = pw->pw_gid;
	}
	sweep_stale(h);
	err = prepare_dir(h);
	if (err) {
		fprintf(stderr, "pg_harness: cannot make a directory in %s: %s\n", TMP_DIR,
			strerror(-err));
		return err;
	}
	h->started = true;
	remember_for_exit(h);
	snprintf(h->conninfo, sizeof(h->conninfo), "host=%s port=5432 dbname=postgres user=%s",
		 h->dir, PG_HARNESS_SUPERUSER);
	path_in(h, "data", data, sizeof(data));
	err = run_tool(h, "initdb", initdb_args);
	if (!err)
		err = configure_auth(h);
	if (!err)
		err = start_server(h);
	if (!err)
		err = pg_harness_exec(h, NULL, "CREATE ROLE " PG_HARNESS_PASSWORD_ROLE
				      " LOGIN PASSWORD '" PG_HARNESS_PASSWORD "'");
	if (err) {
		char log[sizeof(h->dir) + 16];

		path_in(h, "server.log", log, sizeof(log));
		print_log(log);
		pg_harness_destroy(h);
	}
	return err;
}

const char *pg_harness_conninfo(const struct pg_harness *h)
{
	return h->conninfo;
}

void pg_harness_conninfo_for(const struct pg_harness *h, const char *dbname, const char *user,
			     char *out, size_t size)
{
	snprintf(out, size, "host=%s port=5432 dbname=%s user=%s", h->dir,
		 dbname ? dbname : "postgres", user ? user : PG_HARNESS_SUPERUSER);
}

int pg_harness_exec(const struct pg_harness *h, const char *dbname, const char *sql)
{
	char conninfo[sizeof(h->conninfo) + 64];
	PGconn *conn;
	PGresult *res;
	int err = 0;

	pg_harness_conninfo_for(h, dbname, NULL, conninfo, sizeof(conninfo));
	conn = PQconnectdb(conninfo);
	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "pg_harness: cannot connect: %s", PQerrorMessage(conn));
		PQfinish(conn);
		return -EIO;
	}
	res = PQexec(conn, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
		fprintf(stderr, "pg_harness: '%.200s' failed: %s", sql, PQerrorMessage(conn));
		err = -EIO;
	}
	PQclear(res);
	PQfinish(conn);
	return err;
}

static int stop_server(const struct pg_harness *h, char *mode)
{
	char data[sizeof(h->dir) + 8];
	char *args[] = { "-w", "-D", data, "-m", mode, "stop", NULL };

	path_in(h, "data", data, sizeof(data));
	return run_tool(h, "pg_ctl", args);
}

int pg_harness_stop(const struct pg_harness *h)
{
	return stop_server(h, "fast");
}

int pg_harness_stop_immediately(const struct pg_harness *h)
{
	return stop_server(h, "immediate");
}

int pg_harness_restart(const struct pg_harness *h)
{
	char data[sizeof(h->dir) + 8];
	char log[sizeof(h->dir) + 16];
	char *argv[] = { NULL, "-D", data, "status", NULL };
	char exe[PATH_MAX + 16];

	path_in(h, "data", data, sizeof(data));
	path_in(h, "harness.log", log, sizeof(log));
	snprintf(exe, sizeof(exe), "%s/pg_ctl", h->bindir);
	argv[0] = exe;
	/* pg_ctl status exits 0 when the server runs, 3 when it does not. */
	if (run(h->dir, h->as_postgres, log, argv) == 0)
		return 0;
	return start_server(h);
}

void pg_harness_destroy(struct pg_harness *h)
{
	char data[sizeof(h->dir) + 8];
	char log[sizeof(h->dir) + 16];
	char *stop[] = { NULL, "-w", "-D", data, "-m", "immediate", "stop", NULL };
	char *rm[] = { "/bin/rm", "-rf", h->dir, NULL };
	char exe[PATH_MAX + 16];

	if (!h->started || h->owner != getpid())
		return;
	path_in(h, "data", data, sizeof(data));
	snprintf(log, sizeof(log), "/dev/null");
	snprintf(exe, sizeof(exe), "%s/pg_ctl", h->bindir);
	stop[0] = exe;
	/* Fails harmlessly when the server is already stopped. */
	run(h->dir, h->as_postgres, log, stop);
	run(NULL, false, log, rm);
	h->started = false;
	forget_for_exit(h);
}
