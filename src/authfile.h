/*
 * auth_file (PgBouncer's userlist.txt): one "user" "secret" pair per line.
 *
 * Owns: the parser and the entries it returns. Pure: it reads bytes (or a
 * file, then its bytes) and reports FILE:LINE problems; it knows nothing of
 * clients or pools. The secret may be a plain password, md5 + 32 hex
 * digits, or a SCRAM-SHA-256 secret.
 */
#ifndef PGTIDE_AUTHFILE_H
#define PGTIDE_AUTHFILE_H

#include <stddef.h>

#include "config.h"

enum secret_kind { SECRET_NONE, SECRET_PLAIN, SECRET_MD5, SECRET_SCRAM };

struct auth_entry {
	char *user;
	char *secret;
	int line;
};

/* Parse an auth_file. Problems go to d as FILE:LINE lines; returns entries
 * (NULL-terminated array) or NULL when the file cannot be read. */
struct auth_entry *auth_file_load(const char *path, struct cfg_diag *d);
/* The same from bytes in memory; name is the FILE in messages. */
struct auth_entry *auth_file_parse(const char *text, size_t len, const char *name, struct cfg_diag *d);
void auth_entries_free(struct auth_entry *e);
/* What a secret as written in auth_file is. */
enum secret_kind secret_kind_of(const char *secret);

#endif
