/*
 * Sets of session settings (name = value pairs a session has changed from
 * its defaults), interned: equal sets are one pointer, so "does this server
 * already have this client's settings" is one comparison, and a client
 * that set nothing costs a pointer to the shared empty set.
 *
 * Owns: struct sset and its intern table, the builder that turns a server's
 * answer (rows of name and value) into a set, the parser of those rows,
 * and the SQL that brings a session from one set to another. Pure: no
 * connection, no I/O, no policy (session.c decides what goes in a set).
 */
#ifndef PGTIDE_SSET_H
#define PGTIDE_SSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/strbuf.h"

/* A client carries at most this much: more is not followed. */
#define SSET_MAX_ENTRIES 256
#define SSET_MAX_BYTES 65536
#define SSET_NAME_MAX 63

struct sset;
struct istr;

void sset_module_init(void);
/* At exit, after every holder let go (before params_free). */
void sset_module_free(void);
struct sset *sset_empty(void);              /* +1 ref */
struct sset *sset_ref(struct sset *s);
void sset_unref(struct sset *s);
size_t sset_len(const struct sset *s);
size_t sset_count(void);                    /* distinct sets alive (SHOW MEM) */
/* The value of a name (lowercase) in s, or NULL. */
const char *sset_value(const struct sset *s, const char *name);
/* The i-th name of s (sorted), or NULL past the end. */
const char *sset_name_at(const struct sset *s, size_t i);

/* Is this a name a setting may have: 1 to 63 letters, digits, _ and .,
 * not starting with a digit or a dot? */
bool sset_name_ok(const char *name);
/* A set from pairs, later names winning (a client's startup settings,
 * in the order given). Names are lowercased. +1 ref. */
struct sset *sset_from_pairs(char *const *names, char *const *values, int n);

/* Build a set from rows; the first row of a name wins. */
struct sset_builder {
	struct sset_entry *rows;
	int n, cap;
	size_t bytes;
	bool overflow;     /* over SSET_MAX_ENTRIES or SSET_MAX_BYTES */
};
void sset_builder_init(struct sset_builder *b);
/* name is lowercased here; neither needs a NUL. */
void sset_builder_add(struct sset_builder *b, const char *name, size_t nlen, const char *value, size_t vlen);
/* The set (+1 ref), or NULL when it overflowed. Empties the builder. */
struct sset *sset_builder_finish(struct sset_builder *b);
void sset_builder_free(struct sset_builder *b);

/* A DataRow body of two text cells (name, value): pointers into body,
 * *value NULL for SQL NULL. false: malformed (wrong count, lengths past
 * the end, a NUL inside a cell, a NULL name). */
bool sset_parse_row(const uint8_t *body, size_t len, const char **name, uint32_t *nlen, const char **value,
		    uint32_t *vlen);

/*
 * The statement that brings a session that has `have` to `want`:
 * "SELECT pg_catalog.set_config(...), ..." into sb (replacing what it
 * held). Settings set to NULL go back to their defaults. The session
 * authorization and role go back to the login's first when either
 * differs (other settings may need its privileges), and are set last,
 * session authorization before role (setting it resets the role).
 * false: the two are equal, nothing to send.
 */
bool sset_apply_sql(const struct sset *have, const struct sset *want, struct strbuf *sb);

#endif
