/*
 * Session parameters pgtide keeps in step between clients and servers.
 *
 * Owns: interned strings (struct istr) and interned parameter sets (struct
 * pset), both reference-counted. A client and a server each point at one
 * pset: equal sets are the same pointer, so "does this server need SETs
 * before this client's transaction" is one comparison, and an idle client
 * costs one pointer however many parameters it set.
 */
#ifndef PGTIDE_PARAMS_H
#define PGTIDE_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pktbuf.h"
#include "util/hash.h"
#include "util/list.h"

enum tracked_param {
	P_CLIENT_ENCODING,
	P_DATESTYLE,
	P_TIMEZONE,
	P_STANDARD_CONFORMING_STRINGS,
	P_APPLICATION_NAME,
	P_INTERVALSTYLE,
	P_EXTRA_FLOAT_DIGITS,
	P_DEFAULT_TRANSACTION_READ_ONLY,
	NPARAMS
};

struct istr {
	struct hnode hn;
	uint32_t refs;
	uint32_t len;
	char s[];
};

struct pset {
	struct hnode hn;
	uint32_t refs;
	struct istr *v[NPARAMS]; /* NULL: not set (server default) */
};

void params_init(void);
/* At exit, after every holder let go. */
void params_free(void);
/* Index of a tracked parameter by name (case-insensitive), or -1. */
int param_index(const char *name);
/* Parameters Postgres reports with ParameterStatus (others cannot be
 * followed once a client changes them with SET). */
bool param_reported(int idx);
/* The value as Postgres reports it: client_encoding's canonical name
 * (utf-8, unicode -> UTF8; eucjp -> EUC_JP), so a client told its
 * encoding sees what Postgres would say, and a server already on it is
 * not sent a SET. Other values, and names Postgres does not know, as
 * given. */
const char *param_canonical(int idx, const char *value);

struct istr *istr_get(const char *s);       /* +1 ref */
struct istr *istr_ref(struct istr *s);
void istr_unref(struct istr *s);

struct pset *pset_empty(void);              /* +1 ref */
struct pset *pset_ref(struct pset *p);
void pset_unref(struct pset *p);
/* A set equal to p with one value replaced (value NULL clears it). +1 ref. */
struct pset *pset_with(struct pset *p, int idx, const char *value);
/* Drop the parameters Postgres does not report (a RESET ALL or DISCARD ALL
 * cannot be followed for them): *p is replaced, the old set unreferenced. */
void pset_forget_unreported(struct pset **p);
/* Values of `want` that differ from `have`: builds "SET a = 'x'; SET b = ..."
 * into sb-like buffer; returns number of SETs. */
int pset_diff_sql(const struct pset *have, const struct pset *want, char *buf, size_t len);
size_t pset_count(void);

/* Quote a string as a SQL literal that means the same under either
 * standard_conforming_strings setting. false if buf is too small. */
bool sql_quote_literal(const char *s, char *buf, size_t len);

#endif
