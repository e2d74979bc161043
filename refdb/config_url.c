/*
 * config_url: what config knows about database URLs: which kind a URL is,
 * the file of a sqlite URL, the parts of a mysql URL, and where a URL
 * holds a password, so that no message ever shows it.
 */
#include "config_i.h"
#include "pathnorm.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *config_sqlite_path(const char *url)
{
	static const char scheme[] = "sqlite://";
	const char *path;

	if (!url || strncmp(url, scheme, sizeof(scheme) - 1) != 0)
		return NULL;
	path = url + sizeof(scheme) - 1;
	if (path[0] != '/')
		return NULL;
	/* "sqlite:////srv/db" has one slash too many for a URL: accept both. */
	while (path[0] == '/' && path[1] == '/')
		path++;
	return path[1] ? path : NULL;
}

bool config_is_postgres_url(const char *url)
{
	return strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0;
}

/*
 * Where the password is in url, as written: the userinfo of a URL, its
 * ?password= or &password= parameter, or the value of a conninfo's
 * password keyword (quoted or not).  Returns false when there is none.
 * *from indexes url; a second password (URL userinfo and parameter) is
 * found by calling again with start past the first (see next_start()).
 */
static bool find_password(const char *url, size_t start, size_t *from, size_t *len)
{
	if (start > strlen(url))
		return false;
	if (config_is_postgres_url(url) || config_is_mysql_url(url)) {
		const char *auth = strstr(url, "://") + 3;
		size_t auth_len = strcspn(auth, "/?");
		const char *at = NULL;

		for (size_t i = 0; i < auth_len; i++)
			if (auth[i] == '@')
				at = auth + i;
		if (at) {
			const char *colon = memchr(auth, ':', (size_t)(at - auth));

			if (colon && (size_t)(colon + 1 - url) >= start) {
				*from = (size_t)(colon + 1 - url);
				*len = (size_t)(at - colon - 1);
				return true;
			}
		}
		for (const char *q = strchr(url, '?'); q; q = strchr(q + 1, '&')) {
			if (strncmp(q + 1, "password=", 9) == 0 && (size_t)(q + 10 - url) >= start) {
				*from = (size_t)(q + 10 - url);
				*len = strcspn(q + 10, "&");
				return true;
			}
		}
		return false;
	}
	for (const char *k = strstr(url + start, "password"); k; k = strstr(k + 1, "password")) {
		const char *v = k + 8;

		if (k != url && !isspace((unsigned char)k[-1]))
			continue;
		while (isspace((unsigned char)*v))
			v++;
		if (*v != '=')
			continue;
		v++;
		while (isspace((unsigned char)*v))
			v++;
		*from = (size_t)(v - url);
		if (*v == '\'') {
			const char *e = v + 1;

			while (*e && *e != '\'')
				e += (*e == '\\' && e[1]) ? 2 : 1;
			*len = (size_t)(e - v) + (*e ? 1 : 0);
		} else {
			*len = strcspn(v, " \t\r\n\f\v");
		}
		return true;
	}
	return false;
}

/*
 * Where to look for the password after the one at from, len bytes long:
 * past it, and past its place when it is empty ("?password=&..."), or it
 * would be found there again and again.
 */
static size_t next_start(size_t from, size_t len)
{
	return from + (len ? len : 1);
}

void config_redact_url(const char *url, char *out, size_t out_size)
{
	size_t used = 0;
	size_t pos = 0;
	size_t start = 0;
	size_t from;
	size_t len;

	if (out_size == 0)
		return;
	while (find_password(url, start, &from, &len)) {
		used += (size_t)snprintf(out + used, out_size - used, "%.*s***",
					 (int)(from - pos), url + pos);
		pos = from + len;
		start = next_start(from, len);
		if (used >= out_size)
			return;
	}
	snprintf(out + used, out_size - used, "%s", url + pos);
}

/*
 * Replace every occurrence of secret in text (text_size bytes, terminated)
 * with "***".  A secret shorter than the mask makes the text grow: its end
 * is cut to stay in text_size, and a secret too close to the end for the
 * whole mask gets as much of the mask as fits.
 */
static void replace_all(char *text, size_t text_size, const char *secret, size_t secret_len)
{
	static const char mask[] = "***";
	const size_t mask_len = sizeof(mask) - 1;
	char *hit;

	if (secret_len == 0)
		return;
	for (char *p = text; (hit = memmem(p, strlen(p), secret, secret_len)) != NULL;) {
		/* Bytes from hit up to, not including, the last one (the NUL's). */
		size_t room = text_size - 1 - (size_t)(hit - text);
		size_t tail = strlen(hit + secret_len);

		if (room < mask_len) {
			memcpy(hit, mask, room);
			hit[room] = '\0';
			return;
		}
		if (tail > room - mask_len)
			tail = room - mask_len;
		memmove(hit + mask_len, hit + secret_len, tail);
		memcpy(hit, mask, mask_len);
		hit[mask_len + tail] = '\0';
		p = hit + mask_len;
	}
}

void config_scrub_password(const char *url, char *text, size_t text_size)
{
	size_t start = 0;
	size_t from;
	size_t len;

	if (!url || !text || text_size == 0)
		return;
	while (find_password(url, start, &from, &len)) {
		char decoded[256];
		size_t n = 0;

		replace_all(text, text_size, url + from, len);
		for (size_t i = from; i < from + len && n < sizeof(decoded); i++) {
			int hi = url[i] == '%' && i + 2 < from + len ? pathnorm_hex_digit(url[i + 1]) : -1;
			int lo = hi >= 0 ? pathnorm_hex_digit(url[i + 2]) : -1;

			if (lo >= 0) {
				decoded[n++] = (char)(hi * 16 + lo);
				i += 2;
			} else {
				decoded[n++] = url[i];
			}
		}
		replace_all(text, text_size, decoded, n);
		start = next_start(from, len);
	}
}


bool config_is_mysql_url(const char *url)
{
	return strncmp(url, "mysql://", 8) == 0 || strncmp(url, "mariadb://", 10) == 0;
}

/*
 * Percent-decode len bytes at s into out (out_size bytes, terminated).
 * Returns false when the result does not fit or would hold a NUL.
 */
static bool url_decode(const char *s, size_t len, char *out, size_t out_size)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		int hi = s[i] == '%' && i + 2 < len ? pathnorm_hex_digit(s[i + 1]) : -1;
		int lo = hi >= 0 ? pathnorm_hex_digit(s[i + 2]) : -1;
		char c = s[i];

		if (lo >= 0) {
			c = (char)(hi * 16 + lo);
			i += 2;
		}
		if (c == '\0' || n + 1 >= out_size)
			return false;
		out[n++] = c;
	}
	out[n] = '\0';
	return true;
}

/* One "name=value" of the query string into out. */
static int mysql_url_parameter(const char *item, size_t len, struct config_mysql_url *out,
			       char *why, size_t why_size)
{
	static const char *const names[] = { "socket", "option_file" };
	char *fields[] = { out->socket, out->option_file };
	const char *eq = memchr(item, '=', len);

	for (size_t k = 0; eq && k < sizeof(names) / sizeof(names[0]); k++) {
		if ((size_t)(eq - item) != strlen(names[k]) ||
		    strncmp(item, names[k], strlen(names[k])) != 0)
			continue;
		if (!url_decode(eq + 1, len - (size_t)(eq + 1 - item), fields[k], CONFIG_PATH_BYTES) ||
		    fields[k][0] != '/') {
			config_say(why, why_size, "parameter '%s' must be an absolute path", names[k]);
			return -EINVAL;
		}
		return 0;
	}
	config_say(why, why_size, "unknown parameter '%.*s' (use socket=/path or "
		   "option_file=/path; a password belongs in an option file or MYSQL_PWD)",
		   (int)(eq ? (size_t)(eq - item) : len), item);
	return -EINVAL;
}

/* "host", "host:port", "[v6]" or "[v6]:port" into out. */
static int mysql_url_host(const char *s, size_t len, struct config_mysql_url *out, char *why,
			  size_t why_size)
{
	const char *end = s + len;
	const char *host = s;
	const char *host_end = end;
	const char *port = NULL;
	unsigned long value = 0;

	if (len && s[0] == '[') {
		const char *close = memchr(s, ']', len);

		if (!close)
			goto out_bad;
		host = s + 1;
		host_end = close;
		if (close + 1 < end) {
			if (close[1] != ':')
				goto out_bad;
			port = close + 2;
		}
	} else {
		const char *colon = memchr(s, ':', len);

		if (colon) {
			host_end = colon;
			port = colon + 1;
		}
	}
	if (!url_decode(host, (size_t)(host_end - host), out->host, sizeof(out->host)))
		goto out_bad;
	if (!port)
		return 0;
	for (const char *p = port; p < end; p++) {
		if (!isdigit((unsigned char)*p))
			goto out_bad;
		value = value * 10 + (unsigned long)(*p - '0');
		if (value > 65535)
			goto out_bad;
	}
	if (value == 0)
		goto out_bad;
	out->port = (unsigned int)value;
	return 0;

out_bad:
	config_say(why, why_size, "'%.*s' is not a host or host:port", (int)len, s);
	return -EINVAL;
}

int config_mysql_parse_url(const char *url, struct config_mysql_url *out, char *why,
			   size_t why_size)
{
	const char *auth;
	const char *path;
	const char *query;
	const char *at = NULL;
	int err;

	memset(out, 0, sizeof(*out));
	if (!config_is_mysql_url(url)) {
		config_say(why, why_size, "not a mysql:// or mariadb:// URL");
		return -EINVAL;
	}
	auth = strstr(url, "://") + 3;
	path = auth + strcspn(auth, "/?");
	for (const char *p = auth; p < path; p++)
		if (*p == '@')
			at = p;
	if (at) {
		if (memchr(auth, ':', (size_t)(at - auth))) {
			config_say(why, why_size, "the URL holds a password; put it in an option "
				   "file (option_file=) or MYSQL_PWD instead");
			return -EINVAL;
		}
		if (!url_decode(auth, (size_t)(at - auth), out->user, sizeof(out->user))) {
			config_say(why, why_size, "the user name is too long");
			return -EINVAL;
		}
		auth = at + 1;
	}
	err = mysql_url_host(auth, (size_t)(path - auth), out, why, why_size);
	if (err)
		return err;
	query = path + strcspn(path, "?");
	if (*path != '/' || query == path + 1 ||
	    !url_decode(path + 1, (size_t)(query - path - 1), out->database, sizeof(out->database)) ||
	    strchr(out->database, '/')) {
		config_say(why, why_size, "the URL names no database (use mysql://user@host/database)");
		return -EINVAL;
	}
	for (const char *item = *query ? query + 1 : NULL; item;) {
		size_t len = strcspn(item, "&");

		err = mysql_url_parameter(item, len, out, why, why_size);
		if (err)
			return err;
		item = item[len] ? item + len + 1 : NULL;
	}
	if (out->socket[0] && out->host[0] && strcmp(out->host, "localhost") != 0) {
		config_say(why, why_size, "a socket needs the host 'localhost' or none, not '%s'",
			   out->host);
		return -EINVAL;
	}
	return 0;
}
