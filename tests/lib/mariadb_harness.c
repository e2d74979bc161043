/*
 * mariadb_harness: runs mariadb-install-db and mariadbd with fork() and
 * execv(), never a shell; their output goes to DIR/harness.log and
 * DIR/server.log, printed when a step fails.  Readiness and a stop are
 * polled (a connection that succeeds, a process that is gone) with a
 * deadline, never slept for.
 *
 * The one piece of global state is the list of servers to remove at exit:
 * atexit() takes no argument.  A server left by a test that was killed
 * (a timeout) is found by its owner.pid file and removed on the next start.
 */
#include "mariadb_harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <mysql.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HARNESS_PREFIX "mediafs-mariadb-"
#define TMP_DIR "/tmp"
#define INSTALL_DB "/usr/bin/mariadb-install-db"
#define SERVER "/usr/sbin/mariadbd"

enum {
	MAX_HARNESSES = 4,
	MAX_ARGS = 32,
	START_TIMEOUT_MS = 60000,
	STOP_TIMEOUT_MS = 60000,
	POLL_MS = 20,
};

/* The servers this process started; removed by the atexit handler. */
static struct mariadb_harness *at_exit_list[MAX_HARNESSES];

static void destroy_all_at_exit(void)
{
	for (size_t i = 0; i < MAX_HARNESSES; i++)
		if (at_exit_list[i])
			mariadb_harness_destroy(at_exit_list[i]);
}

static void remember_for_exit(struct mariadb_harness *h)
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

static void forget_for_exit(struct mariadb_harness *h)
{
	for (size_t i = 0; i < MAX_HARNESSES; i++)
		if (at_exit_list[i] == h)
			at_exit_list[i] = NULL;
}

static long long monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pause_briefly(void)
{
	struct timespec ts = { 0, POLL_MS * 1000000L };

	nanosleep(&ts, NULL);
}

static void path_in(const struct mariadb_harness *h, const char *name, char *out, size_t size)
{
	snprintf(out, size, "%s/%s", h->dir, name);
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

/*
 * fork() and execv() argv with its output appended to log; returns the
 * child.  It runs in a session of its own, as a daemon would: Check kills
 * the process group of a test when the test ends, and a server restarted
 * by one test must outlive it.
 */
static pid_t spawn(const char *log, char *const argv[])
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	setsid();
	int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

	if (fd >= 0) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
	}
	execv(argv[0], argv);
	_exit(127);
}

/* Run argv to its end; 0 when it exits 0. */
static int run(const char *log, char *const argv[])
{
	pid_t pid = spawn(log, argv);
	int status;

	if (pid < 0)
		return -errno;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

/* The server's pid from its pid file, or 0. */
static pid_t server_pid(const struct mariadb_harness *h)
{
	char path[sizeof(h->dir) + 16];
	long pid = 0;
	FILE *f;

	path_in(h, "mariadbd.pid", path, sizeof(path));
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fscanf(f, "%ld", &pid) != 1)
		pid = 0;
	fclose(f);
	return (pid_t)pid;
}

/* Does pid run (a zombie that its parent has not reaped yet does not)? */
static bool is_alive(pid_t pid)
{
	char path[64];
	char stat[256];
	char *close;
	FILE *f;
	size_t n;

	if (pid <= 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	n = fread(stat, 1, sizeof(stat) - 1, f);
	fclose(f);
	stat[n] = '\0';
	close = strrchr(stat, ')');
	return close && close[1] == ' ' && close[2] != 'Z' && close[2] != 'X';
}

/* Connect as root, or NULL; quiet unless loud. */
static MYSQL *connect_root(const struct mariadb_harness *h, const char *db, bool loud)
{
	unsigned int timeout = 10;
	MYSQL *conn = mysql_init(NULL);

	if (!conn)
		return NULL;
	mysql_optionsv(conn, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
	if (!mysql_real_connect(conn, "localhost", "root", NULL, db, 0, h->socket,
				CLIENT_MULTI_STATEMENTS)) {
		if (loud)
			fprintf(stderr, "mariadb_harness: cannot connect: %s\n", mysql_error(conn));
		mysql_close(conn);
		return NULL;
	}
	return conn;
}

/* Poll until the server answers; fail at once when it exited. */
static int wait_until_ready(const struct mariadb_harness *h, pid_t server)
{
	long long deadline = monotonic_ms() + START_TIMEOUT_MS;

	for (;;) {
		MYSQL *conn = connect_root(h, NULL, false);

		if (conn) {
			mysql_close(conn);
			return 0;
		}
		if (waitpid(server, NULL, WNOHANG) == server)
			return -EIO;
		if (monotonic_ms() > deadline)
			return -ETIMEDOUT;
		pause_briefly();
	}
}

static int start_server(const struct mariadb_harness *h)
{
	char datadir[sizeof(h->dir) + 32];
	char socket[sizeof(h->socket) + 16];
	char pid_file[sizeof(h->dir) + 32];
	char error_log[sizeof(h->dir) + 32];
	char log[sizeof(h->dir) + 16];
	char *argv[MAX_ARGS] = {
		SERVER, "--no-defaults", datadir, socket, pid_file, error_log,
		"--skip-networking", "--skip-name-resolve", "--skip-log-bin",
		"--innodb-buffer-pool-size=32M", "--innodb-log-file-size=16M",
		"--innodb-flush-log-at-trx-commit=0", "--performance-schema=OFF",
		"--character-set-server=utf8mb4", "--collation-server=utf8mb4_unicode_ci",
	};
	size_t n = 15;
	pid_t pid;
	int err;

	snprintf(datadir, sizeof(datadir), "--datadir=%s/data", h->dir);
	snprintf(socket, sizeof(socket), "--socket=%s", h->socket);
	snprintf(pid_file, sizeof(pid_file), "--pid-file=%s/mariadbd.pid", h->dir);
	snprintf(error_log, sizeof(error_log), "--log-error=%s/server.log", h->dir);
	if (h->as_mysql)
		argv[n++] = "--user=mysql";
	argv[n] = NULL;
	path_in(h, "harness.log", log, sizeof(log));
	/* A socket left by a killed server: the new one binds afresh. */
	unlink(h->socket);
	pid = spawn(log, argv);
	if (pid < 0)
		return -errno;
	err = wait_until_ready(h, pid);
	if (err) {
		fprintf(stderr, "mariadb_harness: the server did not come up\n");
		path_in(h, "server.log", log, sizeof(log));
		print_log(log);
	}
	/* The server is not waited for here: stop() polls for it to be gone,
	 * and a child of a process that exits is reaped by init. */
	return err;
}

static int stop_with(const struct mariadb_harness *h, int sig)
{
	pid_t pid = server_pid(h);
	long long deadline = monotonic_ms() + STOP_TIMEOUT_MS;

	if (!is_alive(pid))
		return 0;
	if (kill(pid, sig) < 0 && errno != ESRCH)
		return -errno;
	while (is_alive(pid)) {
		if (monotonic_ms() > deadline) {
			fprintf(stderr, "mariadb_harness: server %ld did not stop\n", (long)pid);
			return -ETIMEDOUT;
		}
		pause_briefly();
		/* Our own child: reap it, or it stays a zombie. */
		waitpid(pid, NULL, WNOHANG);
	}
	waitpid(pid, NULL, WNOHANG);
	return 0;
}

int mariadb_harness_stop(const struct mariadb_harness *h)
{
	return stop_with(h, SIGTERM);
}

int mariadb_harness_stop_immediately(const struct mariadb_harness *h)
{
	return stop_with(h, SIGKILL);
}

int mariadb_harness_restart(const struct mariadb_harness *h)
{
	if (is_alive(server_pid(h)))
		return 0;
	return start_server(h);
}

/* Stop and remove the servers of processes that no longer exist. */
static void sweep_stale(const struct mariadb_harness *h)
{
	DIR *tmp = opendir(TMP_DIR);
	struct dirent *e;

	if (!tmp)
		return;
	while ((e = readdir(tmp)) != NULL) {
		struct mariadb_harness stale = *h;
		char pid_path[PATH_MAX];
		FILE *f;
		long pid = 0;

		if (strncmp(e->d_name, HARNESS_PREFIX, strlen(HARNESS_PREFIX)) != 0 ||
		    strlen(e->d_name) + sizeof(TMP_DIR) + 1 > sizeof(stale.dir))
			continue;
		snprintf(stale.dir, sizeof(stale.dir), "%s/%s", TMP_DIR, e->d_name);
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
		mariadb_harness_destroy(&stale);
	}
	closedir(tmp);
}

static int prepare_dir(struct mariadb_harness *h)
{
	char pid_path[sizeof(h->dir) + 16];
	FILE *f;

	snprintf(h->dir, sizeof(h->dir), "%s/%sXXXXXX", TMP_DIR, HARNESS_PREFIX);
	if (!mkdtemp(h->dir))
		return -errno;
	snprintf(h->socket, sizeof(h->socket), "%s/sock", h->dir);
	if (h->as_mysql && chown(h->dir, h->uid, h->gid) < 0)
		return -errno;
	path_in(h, "owner.pid", pid_path, sizeof(pid_path));
	f = fopen(pid_path, "w");
	if (!f)
		return -errno;
	fprintf(f, "%ld\n", (long)getpid());
	return fclose(f) == 0 ? 0 : -errno;
}

static int install_db(const struct mariadb_harness *h)
{
	char datadir[sizeof(h->dir) + 32];
	char log[sizeof(h->dir) + 16];
	char *argv[] = {
		INSTALL_DB, "--no-defaults", datadir, "--auth-root-authentication-method=normal",
		"--skip-test-db", "--skip-name-resolve", h->as_mysql ? "--user=mysql" : NULL, NULL,
	};
	int err;

	snprintf(datadir, sizeof(datadir), "--datadir=%s/data", h->dir);
	path_in(h, "harness.log", log, sizeof(log));
	err = run(log, argv);
	if (err) {
		fprintf(stderr, "mariadb_harness: mariadb-install-db failed\n");
		print_log(log);
	}
	return err;
}

int mariadb_harness_start(struct mariadb_harness *h)
{
	int err;

	memset(h, 0, sizeof(*h));
	h->owner = getpid();
	if (access(SERVER, X_OK) != 0 || access(INSTALL_DB, X_OK) != 0) {
		fprintf(stderr, "mariadb_harness: skipped: no MariaDB server (%s, %s; "
			"apt-get install mariadb-server)\n", SERVER, INSTALL_DB);
		return -ENOENT;
	}
	if (geteuid() == 0) {
		struct passwd *pw = getpwnam("mysql");

		if (!pw) {
			fprintf(stderr, "mariadb_harness: skipped: running as root needs the "
				"user mysql to start a server\n");
			return -ENOENT;
		}
		h->as_mysql = true;
		h->uid = pw->pw_uid;
		h->gid = pw->pw_gid;
	}
	sweep_stale(h);
	err = prepare_dir(h);
	if (err) {
		fprintf(stderr, "mariadb_harness: cannot make a directory in %s: %s\n", TMP_DIR,
			strerror(-err));
		return err;
	}
	h->started = true;
	remember_for_exit(h);
	err = install_db(h);
	if (!err)
		err = start_server(h);
	if (!err)
		err = mariadb_harness_exec(h, NULL, "CREATE USER " MARIADB_HARNESS_PASSWORD_USER
					   "@localhost IDENTIFIED BY '" MARIADB_HARNESS_PASSWORD "'");
	if (err)
		mariadb_harness_destroy(h);
	return err;
}

void mariadb_harness_url(const struct mariadb_harness *h, const char *db, const char *user,
			 char *out, size_t size)
{
	snprintf(out, size, "mysql://%s@localhost/%s?socket=%s", user ? user : "root", db,
		 h->socket);
}

int mariadb_harness_exec(const struct mariadb_harness *h, const char *db, const char *sql)
{
	MYSQL *conn = connect_root(h, db, true);
	int err = 0;
	int more;

	if (!conn)
		return -EIO;
	if (mysql_real_query(conn, sql, strlen(sql)) != 0) {
		fprintf(stderr, "mariadb_harness: '%.200s' failed: %s\n", sql, mysql_error(conn));
		mysql_close(conn);
		return -EIO;
	}
	do {
		MYSQL_RES *res = mysql_store_result(conn);

		if (res)
			mysql_free_result(res);
		more = mysql_next_result(conn);
		if (more > 0) {
			fprintf(stderr, "mariadb_harness: '%.200s' failed: %s\n", sql,
				mysql_error(conn));
			err = -EIO;
		}
	} while (more == 0);
	mysql_close(conn);
	return err;
}

void mariadb_harness_destroy(struct mariadb_harness *h)
{
	char *rm[] = { "/bin/rm", "-rf", h->dir, NULL };

	if (!h->started || h->owner != getpid())
		return;
	stop_with(h, SIGKILL);
	run("/dev/null", rm);
	h->started = false;
	forget_for_exit(h);
}
