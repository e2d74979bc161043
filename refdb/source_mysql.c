/*
 * source_mysql: a reference source in MariaDB or MySQL, through Debian's
 * libmariadb (MariaDB Connector/C).
 *
 * Each column (or the query) is read with mysql_use_result(): the server
 * streams the rows and the client holds one network buffer and one row at
 * a time, so memory follows the reference set, never the result.  A
 * stream ends with an end-of-data packet; a row pointer of NULL without it
 * (mysql_errno() set) is a server or a connection lost in the middle, and
 * fails the fetch.  All rows of a fetch are read in one REPEATABLE READ
 * READ ONLY transaction WITH CONSISTENT SNAPSHOT, so every column comes
 * from one snapshot; lock_wait_timeout and innodb_lock_wait_timeout bound
 * the wait for a lock (whole seconds, rounded up).
 *
 * A statement that would end that transaction and write (DDL commits
 * implicitly) never runs: a query must start with SELECT, WITH or '('.
 * After an error the transaction is rolled back; a connection that cannot
 * do that is closed, and the next fetch connects again.  One that died
 * between fetches (a restart, wait_timeout) fails a ping before the fetch
 * and is replaced.
 *
 * Passwords come only from an option file (the URL's option_file=, or the
 * default files, groups [client] and [mediafs]) or MYSQL_PWD: the URL
 * cannot hold one (config refuses it), so no message can show it.
 */
#include "source_i.h"

#include <ctype.h>
#include <errmsg.h>
#include <errno.h>
#include <inttypes.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <stdlib.h>
#include <string.h>

/* Bound the wait for a server that stopped answering (seconds). */
enum { MYSQL_CONNECT_TIMEOUT_S = 10, MYSQL_READ_TIMEOUT_S = 600, MYSQL_WRITE_TIMEOUT_S = 60 };

/* The option file group read besides [client]. */
#define MYSQL_OPTION_GROUP "mediafs"

static MYSQL *my(const struct source *src)
{
	return src->conn;
}

/* Map a client or server error number to -errno. */
static int mysrc_errno_of(unsigned int code, const char *state)
{
	switch (code) {
	case ER_NO_SUCH_TABLE:
	case ER_BAD_FIELD_ERROR:
	case ER_BAD_DB_ERROR:
	case ER_BAD_TABLE_ERROR:
		return -ENOENT;
	case ER_ACCESS_DENIED_ERROR:
	case ER_DBACCESS_DENIED_ERROR:
	case ER_TABLEACCESS_DENIED_ERROR:
	case ER_COLUMNACCESS_DENIED_ERROR:
	case ER_SPECIFIC_ACCESS_DENIED_ERROR:
		return -EACCES;
	case ER_LOCK_WAIT_TIMEOUT:
		return -EBUSY;
	case ER_STATEMENT_TIMEOUT:
	case ER_QUERY_INTERRUPTED:
		return -ETIMEDOUT;
	case CR_CONNECTION_ERROR:
	case CR_CONN_HOST_ERROR:
	case CR_UNKNOWN_HOST:
	case CR_SERVER_HANDSHAKE_ERR:
		return -ECONNREFUSED;
	case CR_OUT_OF_MEMORY:
		return -ENOMEM;
	case ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION:
	case ER_PARSE_ERROR:
		return -EINVAL;
	}
	if (state && strncmp(state, "42", 2) == 0)	/* syntax error or access rule */
		return -EINVAL;
	return -EIO;
}

/* "label: the server's message" from the last error of the connection. */
static int mysrc_fail(struct source *src, const char *label, char *why, size_t why_size)
{
	MYSQL *db = my(src);
	const char *msg = mysql_error(db);

	source_say(why, why_size, "%s: %s", label, msg && *msg ? msg : "unknown error");
	return mysrc_errno_of(mysql_errno(db), mysql_sqlstate(db));
}

static int mysrc_describe(struct source *src, char *why, size_t why_size)
{
	struct config_mysql_url url;
	char reason[256];
	char port[16] = "";

	if (config_mysql_parse_url(src->cfg.url, &url, reason, sizeof(reason)) != 0) {
		source_say(why, why_size, "invalid mysql URL: %s", reason);
		return -EINVAL;
	}
	if (url.port)
		source_say(port, sizeof(port), " port=%u", url.port);
	source_say(src->description, sizeof(src->description), "mysql host=%s%s%s%s dbname=%s%s%s",
		   url.host[0] ? url.host : "localhost", port, url.socket[0] ? " socket=" : "",
		   url.socket, url.database, url.user[0] ? " user=" : "", url.user);
	return 0;
}

static void mysrc_disconnect(struct source *src)
{
	if (src->conn)
		mysql_close(src->conn);
	src->conn = NULL;
}

/* The options of a new handle: timeouts, character set, option files. */
static int mysrc_set_options(MYSQL *db, const struct config_mysql_url *url)
{
	unsigned int connect_s = MYSQL_CONNECT_TIMEOUT_S;
	unsigned int read_s = MYSQL_READ_TIMEOUT_S;
	unsigned int write_s = MYSQL_WRITE_TIMEOUT_S;
	unsigned int no = 0;
	int rc = 0;

	rc |= mysql_optionsv(db, MYSQL_OPT_CONNECT_TIMEOUT, &connect_s);
	rc |= mysql_optionsv(db, MYSQL_OPT_READ_TIMEOUT, &read_s);
	rc |= mysql_optionsv(db, MYSQL_OPT_WRITE_TIMEOUT, &write_s);
	/* Values are compared as UTF-8 bytes: the server converts them. */
	rc |= mysql_optionsv(db, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	rc |= mysql_optionsv(db, MYSQL_OPT_LOCAL_INFILE, &no);
	rc |= mysql_optionsv(db, MYSQL_READ_DEFAULT_GROUP, MYSQL_OPTION_GROUP);
	if (url->option_file[0])
		rc |= mysql_optionsv(db, MYSQL_READ_DEFAULT_FILE, url->option_file);
	return rc ? -ENOMEM : 0;
}

static int mysrc_connect(struct source *src, char *why, size_t why_size)
{
	struct config_mysql_url url;
	char reason[256];
	MYSQL *db;
	int err;

	/* A connection that died since the last fetch (a restart, the server's
	 * wait_timeout) fails the ping: it is replaced, once. */
	if (src->conn && mysql_ping(src->conn) == 0)
		return 0;
	mysrc_disconnect(src);
	if (config_mysql_parse_url(src->cfg.url, &url, reason, sizeof(reason)) != 0) {
		source_say(why, why_size, "invalid mysql URL: %s", reason);
		return -EINVAL;
	}
	db = mysql_init(NULL);
	if (!db || mysrc_set_options(db, &url) != 0) {
		source_say(why, why_size, "cannot connect to %s: out of memory", src->description);
		mysql_close(db);
		return -ENOMEM;
	}
	/* "localhost" (or none) is the unix socket, as the mysql client has it;
	 * the password comes from the option files or MYSQL_PWD. */
	if (!mysql_real_connect(db, url.host[0] ? url.host : "localhost",
				url.user[0] ? url.user : NULL, NULL, url.database, url.port,
				url.socket[0] ? url.socket : NULL, 0)) {
		source_say(why, why_size, "cannot connect to %s: %s", src->description,
			   mysql_error(db));
		err = mysrc_errno_of(mysql_errno(db), mysql_sqlstate(db));
		if (err == -EIO || err == -EINVAL)
			err = -ECONNREFUSED;
		mysql_close(db);
		return err;
	}
	src->conn = db;
	return 0;
}

/* Run one statement that returns no rows. */
static int mysrc_command(struct source *src, const char *sql, const char *label, char *why,
			 size_t why_size)
{
	if (mysql_real_query(my(src), sql, strlen(sql)) != 0)
		return mysrc_fail(src, label, why, why_size);
	return 0;
}

static int mysrc_begin(struct source *src, char *why, size_t why_size)
{
	/* Whole seconds, at least one: the server takes nothing finer. */
	int64_t wait_s = (src->busy_timeout_ms + 999) / 1000;
	char sql[128];
	int err;

	snprintf(sql, sizeof(sql), "SET SESSION lock_wait_timeout = %" PRId64
		 ", innodb_lock_wait_timeout = %" PRId64, wait_s < 1 ? 1 : wait_s,
		 wait_s < 1 ? 1 : wait_s);
	err = mysrc_command(src, sql, "cannot set lock_wait_timeout", why, why_size);
	if (!err)
		err = mysrc_command(src, "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
				    "cannot set the isolation level", why, why_size);
	if (!err)
		err = mysrc_command(src, "START TRANSACTION READ ONLY, WITH CONSISTENT SNAPSHOT",
				    "cannot begin a read transaction", why, why_size);
	return err;
}

static int mysrc_commit(struct source *src, char *why, size_t why_size)
{
	return mysrc_command(src, "COMMIT", "cannot end the read transaction", why, why_size);
}

static void mysrc_rollback(struct source *src)
{
	if (src->conn && mysql_real_query(src->conn, "ROLLBACK", 8) != 0)
		mysrc_disconnect(src);
}

/*
 * Run select and stream its one column into sink; label names it in
 * messages.  A result of another width is refused before any row is read.
 */
static int mysrc_stream(struct source *src, const char *select, struct source_sink *sink,
			const char *label, char *why, size_t why_size)
{
	MYSQL *db = my(src);
	MYSQL_RES *res;
	MYSQL_ROW row;
	unsigned int fields;
	int err = 0;

	if (mysql_real_query(db, select, strlen(select)) != 0)
		return mysrc_fail(src, label, why, why_size);
	res = mysql_use_result(db);
	if (!res) {
		if (mysql_errno(db))
			return mysrc_fail(src, label, why, why_size);
		source_say(why, why_size, "%s: returns no rows; it must be a SELECT", label);
		return -EINVAL;
	}
	fields = mysql_num_fields(res);
	if (fields != 1) {
		source_say(why, why_size, "%s: returns %u columns; it must return one, the path",
			   label, fields);
		err = -EINVAL;
		goto out_free;
	}
	while ((row = mysql_fetch_row(res)) != NULL) {
		unsigned long *lengths = mysql_fetch_lengths(res);

		err = source_take_value(sink, row[0], row[0] ? lengths[0] : 0);
		if (err) {
			source_say(why, why_size, "%s: cannot take a path: %s", label,
				   strerror(-err));
			goto out_free;
		}
	}
	/* NULL is the end of the rows only when no error came with it. */
	if (mysql_errno(db)) {
		err = mysrc_fail(src, label, why, why_size);
		if (err == -ECONNREFUSED || err == -EINVAL)
			err = -EIO;
	}
out_free:
	/* Reads what is left of a stream cut short, or fails on a dead one:
	 * either way the rollback that follows finds out. */
	mysql_free_result(res);
	return err;
}

/* Append name quoted with backticks to *out (doubling any inside). */
static char *quote_append(char *out, const char *name)
{
	*out++ = '`';
	for (; *name; name++) {
		if (*name == '`')
			*out++ = '`';
		*out++ = *name;
	}
	*out++ = '`';
	*out = '\0';
	return out;
}

static int mysrc_fetch_column(struct source *src, const struct source_column *col,
			      struct source_sink *sink, char *why, size_t why_size)
{
	char label[256];
	size_t len = 32 + 2 * (strlen(col->column) + strlen(col->table) +
			       (col->schema ? strlen(col->schema) : 0)) + 8;
	char *select = malloc(len);
	char *p;
	int err;

	source_column_label(col, label, sizeof(label));
	if (!select) {
		source_say(why, why_size, "%s: out of memory", label);
		return -ENOMEM;
	}
	p = select + sprintf(select, "SELECT ");
	p = quote_append(p, col->column);
	p += sprintf(p, " FROM ");
	if (col->schema) {
		p = quote_append(p, col->schema);
		*p++ = '.';
	}
	quote_append(p, col->table);
	err = mysrc_stream(src, select, sink, label, why, why_size);
	free(select);
	return err;
}

/* Skip white space and comments (-- , #, C style) at the start of sql. */
static const char *skip_blank(const char *sql)
{
	for (;;) {
		while (isspace((unsigned char)*sql))
			sql++;
		if (*sql == '#' || (sql[0] == '-' && sql[1] == '-' &&
				    (isspace((unsigned char)sql[2]) || !sql[2]))) {
			sql += strcspn(sql, "\n");
		} else if (sql[0] == '/' && sql[1] == '*') {
			const char *end = strstr(sql + 2, "*/");

			if (!end)
				return sql;
			sql = end + 2;
		} else {
			return sql;
		}
	}
}

static bool starts_with_word(const char *sql, const char *word)
{
	size_t len = strlen(word);

	return strncasecmp(sql, word, len) == 0 && !isalnum((unsigned char)sql[len]) &&
	       sql[len] != '_';
}

static int mysrc_fetch_query(struct source *src, const char *query, struct source_sink *sink,
			     char *why, size_t why_size)
{
	const char *start = skip_blank(query);

	/* DDL commits the read transaction implicitly and then writes. */
	if (*start != '(' && !starts_with_word(start, "SELECT") && !starts_with_word(start, "WITH")) {
		source_say(why, why_size, "query: is not a SELECT");
		return -EINVAL;
	}
	return mysrc_stream(src, query, sink, "query", why, why_size);
}

const struct source_ops source_mysql_ops = {
	.kind = "mysql",
	.describe = mysrc_describe,
	.connect = mysrc_connect,
	.disconnect = mysrc_disconnect,
	.begin = mysrc_begin,
	.commit = mysrc_commit,
	.rollback = mysrc_rollback,
	.fetch_column = mysrc_fetch_column,
	.fetch_query = mysrc_fetch_query,
};
