/*
 * config_i.h: what the three files of the config module share: config.c
 * (the file, its two passes, [mediafs]), config_source.c (the keys of a
 * [source NAME] section) and config_url.c (database URLs).  Not a public
 * interface.
 */
#ifndef MEDIAFS_CONFIG_I_H
#define MEDIAFS_CONFIG_I_H

#include "config.h"

/* Room for why a value is refused, without the "file:line: key" part. */
enum { WHY_BYTES = 384 };

/* The keys of a [source NAME] section, for messages. */
#define SOURCE_KEYS "url, columns, query, strip_prefix, format, paths or base"

/* snprintf() for messages: cutting a long message short is intended. */
void config_say(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

void config_free_strings(char **list, size_t count);

/* s without leading and trailing white space (cut in place). */
char *config_trim(char *s);

/*
 * Split a comma-separated list into trimmed, non-empty strings.  Returns
 * 0, -EINVAL with why filled for an empty item, or -ENOMEM.
 */
int config_split_list(const char *value, char ***out, size_t *out_count, char *why,
		      size_t why_size);

/* postgresql:// or postgres:// */
bool config_is_postgres_url(const char *url);

/* mysql:// or mariadb:// */
bool config_is_mysql_url(const char *url);

/*
 * Validate value for key of a [source NAME] section and store it in src.
 * Returns 0, -ENOENT for an unknown key, -EINVAL with why filled, or
 * -ENOMEM; src keeps its old value for key on error.
 */
int config_source_apply(struct config_source *src, const char *key, const char *value,
			char *why, size_t why_size);

#endif
