/*
 * source_pg: a reference source in PostgreSQL, through libpq.
 *
 * Each column (or the query) is streamed with COPY (SELECT ...) TO STDOUT
 * in text format: libpq hands over one row at a time, so memory follows
 * the longest row, never the result, and every column type arrives as
 * text.  The rows of a fetch are read in one REPEATABLE READ READ ONLY
 * transaction, so all columns come from one snapshot and nothing can be
 * written by mistake.  A COPY that ends early, a row count that differs
 * from the server's "COPY n", or a failed COMMIT fails the fetch.
 *
 * An error in the middle of a COPY leaves the connection unusable: it is
 * closed, and the next fetch connects again.  A connection that died
 * between fetches (the server restarted) is noticed by BEGIN and replaced
 * once.  The connection string is the URL or conninfo of the config; the
 * password comes from it, PGPASSWORD, or the .pgpass file (libpq's rules),
 * and is scrubbed from every message.
 */
#include "source_i.h"
#include "pathnorm.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

/* Defaults a URL may override: fail a dead host in bounded time. */
static const char *const default_keywords[] = {
	"connect_timeout", "application_name", "keepalives", "keepalives_idle",
	"keepalives_interval", "keepalives_count",
};
static const char *const default_values[] = { "10", "mediafs", "1", "30", "10", "3" };

enum { PARAM_COUNT = sizeof(default_keywords) / sizeof(default_keywords[0]) };

static PGconn *pg(const struct source *src)
{
	return src->conn;
}

/* The first line of a libpq message, with the password scrubbed. */
static void pg_message(const struct source *src, const char *raw, char *out, size_t out_size)
{
	source_say(out, out_size, "%.*s", (int)strcspn(raw ? raw : "", "\n"), raw ? raw : "");
	config_scrub_password(src->cfg.url, out, out_size);
}

/* Map the SQLSTATE of a failed result to -errno; none (a lost connection) is -EIO. */
static int pg_errno(const PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	static const struct {
		const char *state;
		int err;
	} map[] = {
		{ "42P01", -ENOENT },	/* undefined_table */
		{ "42703", -ENOENT },	/* undefined_column */
		{ "3F000", -ENOENT },	/* invalid_schema_name */
		{ "3D000", -ENOENT },	/* invalid_catalog_name */
		{ "42501", -EACCES },	/* insufficient_privilege */
		{ "28000", -EACCES },	/* invalid_authorization_specification */
		{ "28P01", -EACCES },	/* invalid_password */
		{ "55P03", -EBUSY },	/* lock_not_available: lock_timeout */
		{ "57014", -ETIMEDOUT },	/* query_canceled */
		{ "25006", -EINVAL },	/* read_only_sql_transaction */
	};

	if (!state)
		return -EIO;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(state, map[i].state) == 0)
			return map[i].err;
	if (strncmp(state, "42", 2) == 0)	/* syntax error or access rule */
		return -EINVAL;
	return -EIO;
}

/* "label: message" from a failed result (or the connection). */
static int pg_fail(struct source *src, const PGresult *res, const char *label, char *why,
		   size_t why_size)
{
	char msg[512];
	const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

	pg_message(src, primary ? primary : PQerrorMessage(pg(src)), msg, sizeof(msg));
	source_say(why, why_size, "%s: %s", label, msg[0] ? msg : "unknown error");
	return pg_errno(res);
}

static int pg_describe(struct source *src, char *why, size_t why_size)
{
	static const char *const shown[] = { "host", "hostaddr", "port", "dbname", "user" };
	char *parse_error = NULL;
	PQconninfoOption *options = PQconninfoParse(src->cfg.url, &parse_error);
	size_t used;

	if (!options) {
		char msg[256];

		pg_message(src, parse_error ? parse_error : "out of memory", msg, sizeof(msg));
		source_say(why, why_size, "invalid PostgreSQL URL or conninfo: %s", msg);
		PQfreemem(parse_error);
		return -EINVAL;
	}
	used = (size_t)snprintf(src->description, sizeof(src->description), "postgresql");
	for (size_t k = 0; k < sizeof(shown) / sizeof(shown[0]); k++) {
		for (PQconninfoOption *o = options; o->keyword; o++) {
			if (strcmp(o->keyword, shown[k]) != 0 || !o->val || !*o->val ||
			    used >= sizeof(src->description))
				continue;
			used += (size_t)snprintf(src->description + used,
						 sizeof(src->description) - used, " %s=%s",
						 o->keyword, o->val);
		}
	}
	PQconninfoFree(options);
	return 0;
}

static void pg_disconnect(struct source *src)
{
	if (src->conn)
		PQfinish(src->conn);
	src->conn = NULL;
}

/* Server notices (a WARNING before a shutdown) would go to stderr. */
static void ignore_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static int pg_connect(struct source *src, char *why, size_t why_size)
{
	const char *encoding;
	const char *keywords[PARAM_COUNT + 3];
	const char *values[PARAM_COUNT + 3];
	size_t n = 0;
	PGconn *conn;
	int err;

	if (src->conn && PQstatus(src->conn) == CONNECTION_OK)
		return 0;
	pg_disconnect(src);
	for (; n < PARAM_COUNT; n++) {
		keywords[n] = default_keywords[n];
		values[n] = default_values[n];
	}
	/* The URL expands here and overrides the defaults above... */
	keywords[n] = "dbname";
	values[n++] = src->cfg.url;
	/* ...but never the encoding: values are compared as UTF-8 bytes. */
	keywords[n] = "client_encoding";
	values[n++] = "UTF8";
	keywords[n] = NULL;
	values[n] = NULL;
	conn = PQconnectdbParams(keywords, values, 1);
	if (!conn) {
		source_say(why, why_size, "cannot connect to %s: out of memory", src->description);
		return -ENOMEM;
	}
	if (PQstatus(conn) != CONNECTION_OK) {
		char msg[512];

		pg_message(src, PQerrorMessage(conn), msg, sizeof(msg));
		source_say(why, why_size, "cannot connect to %s: %s", src->description, msg);
		/* libpq has no SQLSTATE for a failed connection; it does know
		 * whether a password was asked for. */
		err = PQconnectionNeedsPassword(conn) || PQconnectionUsedPassword(conn) ?
			-EACCES : -ECONNREFUSED;
		PQfinish(conn);
		return err;
	}
	PQsetNoticeProcessor(conn, ignore_notice, NULL);
	/* A SQL_ASCII database holds bytes in no encoding: converting them to
	 * UTF-8 would fail the whole fetch on one bad value.  Take them raw;
	 * pathnorm marks the values that are not UTF-8. */
	encoding = PQparameterStatus(conn, "server_encoding");
	if (encoding && strcmp(encoding, "SQL_ASCII") == 0 &&
	    PQsetClientEncoding(conn, "SQL_ASCII") != 0) {
		char msg[512];

		pg_message(src, PQerrorMessage(conn), msg, sizeof(msg));
		source_say(why, why_size, "cannot set the client encoding: %s", msg);
		PQfinish(conn);
		return -EIO;
	}
	src->conn = conn;
	return 0;
}

/* Run one command that returns no rows. */
static int pg_command(struct source *src, const char *sql, const char *label, char *why,
		      size_t why_size)
{
	PGresult *res = PQexec(pg(src), sql);
	int err = 0;

	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		err = pg_fail(src, res, label, why, why_size);
	PQclear(res);
	return err;
}

static int pg_begin_once(struct source *src, char *why, size_t why_size)
{
	char sql[64];
	int err;

	err = pg_command(src, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
			 "cannot begin a read transaction", why, why_size);
	if (err)
		return err;
	snprintf(sql, sizeof(sql), "SET LOCAL lock_timeout = %" PRId64, src->busy_timeout_ms);
	return pg_command(src, sql, "cannot set lock_timeout", why, why_size);
}

static int pg_begin(struct source *src, char *why, size_t why_size)
{
	int err = pg_begin_once(src, why, why_size);

	/* BEGIN fails on a connection that died since the last fetch (the
	 * server restarted), which libpq may not have noticed as dead yet:
	 * connect again, once.  A second failure is reported. */
	if (err) {
		pg_disconnect(src);
		err = pg_connect(src, why, why_size);
		if (!err)
			err = pg_begin_once(src, why, why_size);
	}
	return err;
}

static int pg_commit(struct source *src, char *why, size_t why_size)
{
	return pg_command(src, "COMMIT", "cannot end the read transaction", why, why_size);
}

static void pg_rollback(struct source *src)
{
	PGresult *res;

	if (!src->conn)
		return;
	if (PQstatus(src->conn) != CONNECTION_OK ||
	    PQtransactionStatus(src->conn) == PQTRANS_ACTIVE) {
		/* In the middle of a COPY or dead: start afresh next time. */
		pg_disconnect(src);
		return;
	}
	res = PQexec(src->conn, "ROLLBACK");
	PQclear(res);
}

/*
 * Decode one row of COPY text format in place (one column: no delimiter
 * to split on).  Returns its length, or -1 for \N, the NULL marker.
 */
static ssize_t copy_decode(char *row, size_t len)
{
	size_t in = 0;
	size_t out = 0;

	if (len > 0 && row[len - 1] == '\n')
		len--;
	if (len == 2 && row[0] == '\\' && row[1] == 'N')
		return -1;
	while (in < len) {
		char c = row[in++];

		if (c != '\\' || in == len) {
			row[out++] = c;
			continue;
		}
		c = row[in++];
		switch (c) {
		case 'b': row[out++] = '\b'; break;
		case 'f': row[out++] = '\f'; break;
		case 'n': row[out++] = '\n'; break;
		case 'r': row[out++] = '\r'; break;
		case 't': row[out++] = '\t'; break;
		case 'v': row[out++] = '\v'; break;
		case 'x': {
			int value = 0;
			int digits = 0;

			while (digits < 2 && in < len && pathnorm_hex_digit(row[in]) >= 0) {
				value = value * 16 + pathnorm_hex_digit(row[in++]);
				digits++;
			}
			if (digits == 0)
				row[out++] = 'x';
			else
				row[out++] = (char)value;
			break;
		}
		default:
			if (c >= '0' && c <= '7') {
				int value = c - '0';

				for (int digits = 1; digits < 3 && in < len && row[in] >= '0' &&
				     row[in] <= '7'; digits++)
					value = value * 8 + (row[in++] - '0');
				row[out++] = (char)value;
			} else {
				row[out++] = c;
			}
		}
	}
	return (ssize_t)out;
}

/* Stream COPY (select) TO STDOUT into sink; label names it in messages. */
static int pg_copy(struct source *src, const char *select, struct source_sink *sink,
		   const char *label, char *why, size_t why_size)
{
	size_t sql_len = strlen(select) + 32;
	char *sql = malloc(sql_len);
	uint64_t rows = 0;
	PGresult *res;
	char *row;
	int n;
	int err = 0;

	if (!sql) {
		source_say(why, why_size, "%s: out of memory", label);
		return -ENOMEM;
	}
	snprintf(sql, sql_len, "COPY (%s) TO STDOUT", select);
	res = PQexec(pg(src), sql);
	free(sql);
	if (PQresultStatus(res) != PGRES_COPY_OUT) {
		err = pg_fail(src, res, label, why, why_size);
		PQclear(res);
		return err;
	}
	PQclear(res);
	while ((n = PQgetCopyData(pg(src), &row, 0)) > 0) {
		ssize_t len = copy_decode(row, (size_t)n);

		rows++;
		err = source_take_value(sink, len < 0 ? NULL : row, len < 0 ? 0 : (size_t)len);
		PQfreemem(row);
		if (err) {
			source_say(why, why_size, "%s: cannot take a path: %s", label,
				   strerror(-err));
			return err;
		}
	}
	if (n == -2) {
		pg_fail(src, NULL, label, why, why_size);
		return -EIO;
	}
	/* n == -1: the COPY is over; its result says whether it completed. */
	res = PQgetResult(pg(src));
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		err = pg_fail(src, res, label, why, why_size);
	} else if (strtoull(PQcmdTuples(res), NULL, 10) != rows) {
		source_say(why, why_size, "%s: the server sent %s rows but %" PRIu64 " arrived",
			   label, PQcmdTuples(res), rows);
		err = -EIO;
	}
	PQclear(res);
	while ((res = PQgetResult(pg(src))) != NULL)
		PQclear(res);
	return err;
}

/* PQescapeIdentifier() into a malloc()ed string, or NULL. */
static char *pg_ident(struct source *src, const char *name)
{
	char *quoted = PQescapeIdentifier(pg(src), name, strlen(name));
	char *copy = quoted ? strdup(quoted) : NULL;

	PQfreemem(quoted);
	return copy;
}

static int pg_fetch_column(struct source *src, const struct source_column *col,
			   struct source_sink *sink, char *why, size_t why_size)
{
	char label[256];
	char *column = NULL;
	char *schema = NULL;
	char *table = NULL;
	char *select = NULL;
	int err = -ENOMEM;

	source_column_label(col, label, sizeof(label));
	if (col->database && strcmp(col->database, PQdb(pg(src))) != 0) {
		source_say(why, why_size, "%s: database '%s' is not the one this source "
			   "connects to ('%s')", label, col->database, PQdb(pg(src)));
		return -EINVAL;
	}
	column = pg_ident(src, col->column);
	table = pg_ident(src, col->table);
	schema = col->schema ? pg_ident(src, col->schema) : NULL;
	if (!column || !table || (col->schema && !schema))
		goto out_nomem;
	size_t len = strlen(column) + strlen(table) + (schema ? strlen(schema) : 0) + 32;
	select = malloc(len);
	if (!select)
		goto out_nomem;
	snprintf(select, len, "SELECT %s FROM %s%s%s", column, schema ? schema : "",
		 schema ? "." : "", table);
	err = pg_copy(src, select, sink, label, why, why_size);
	goto out_free;

out_nomem:
	source_say(why, why_size, "%s: out of memory", label);
out_free:
	free(select);
	free(schema);
	free(table);
	free(column);
	return err;
}

static int pg_fetch_query(struct source *src, const char *query, struct source_sink *sink,
			  char *why, size_t why_size)
{
	PGresult *res;
	int fields;
	int err;

	/* COPY says nothing about columns when no row comes back: ask first. */
	res = PQprepare(pg(src), "", query, 0, NULL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		err = pg_fail(src, res, "query", why, why_size);
		PQclear(res);
		return err;
	}
	PQclear(res);
	res = PQdescribePrepared(pg(src), "");
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		err = pg_fail(src, res, "query", why, why_size);
		PQclear(res);
		return err;
	}
	fields = PQnfields(res);
	PQclear(res);
	if (fields != 1) {
		source_say(why, why_size, "query: returns %d columns; it must return one, "
			   "the path", fields);
		return -EINVAL;
	}
	return pg_copy(src, query, sink, "query", why, why_size);
}

const struct source_ops source_pg_ops = {
	.kind = "postgresql",
	.describe = pg_describe,
	.connect = pg_connect,
	.disconnect = pg_disconnect,
	.begin = pg_begin,
	.commit = pg_commit,
	.rollback = pg_rollback,
	.fetch_column = pg_fetch_column,
	.fetch_query = pg_fetch_query,
};
