/*
 * The admin console's command language: SHOW what, SET key = value, and
 * the verbs that take a database name or a client id.
 *
 * Owns: struct admin_cmd. Pure parsing of one Query's text, bounded by the
 * buffers below, with no I/O and no knowledge of pools or clients: admin.c
 * acts on what it returns.
 */
#ifndef PGTIDE_ADMINCMD_H
#define PGTIDE_ADMINCMD_H

#include <stdbool.h>

enum admin_verb {
	AC_EMPTY,       /* nothing but blanks and semicolons */
	AC_SHOW,
	AC_SET,
	AC_RELOAD,
	AC_PAUSE,
	AC_RESUME,
	AC_SUSPEND,
	AC_DISABLE,
	AC_ENABLE,
	AC_KILL,
	AC_KILL_CLIENT,
	AC_RECONNECT,
	AC_WAIT_CLOSE,
	AC_SHUTDOWN,
	AC_UNKNOWN,     /* word says which */
};

struct admin_cmd {
	enum admin_verb verb;
	char word[64];       /* the first word, upper-cased */
	char subject[64];    /* SHOW's subject, upper-cased */
	char arg[256];       /* a database name (quotes removed) or a client id */
	char key[128];       /* SET key */
	char value[1024];    /* SET value ('' quoted or bare) */
	bool bad_set;        /* SET without "=" or "TO" */
};

void admin_parse(const char *q, struct admin_cmd *out);

#endif
