/*
 * A small SQL lexer and the statement classifiers built on it.
 *
 * Owns: nothing; pure functions of (text, length). Not a parser: it knows
 * enough of Postgres' lexical rules (comments, nested comments, '' and E''
 * strings, dollar quotes, quoted identifiers) to find keywords reliably, and
 * each classifier answers one question about a statement conservatively.
 */
#ifndef PGTIDE_SQLCLASS_H
#define PGTIDE_SQLCLASS_H

#include <stdbool.h>
#include <stddef.h>

enum sqltok_type {
	TK_EOF,
	TK_WORD,     /* identifier or keyword, unquoted */
	TK_QIDENT,   /* "quoted identifier" */
	TK_STRING,   /* any string literal or dollar-quoted body */
	TK_NUMBER,
	TK_PARAM,    /* $1 */
	TK_SEMI,
	TK_LPAREN,
	TK_RPAREN,
	TK_COMMA,
	TK_DOT,
	TK_OP,       /* any other operator or punctuation */
	TK_ERROR,    /* unterminated string, comment or identifier */
};

struct sqltok {
	enum sqltok_type type;
	const char *start;
	size_t len;
};

struct sqllex {
	const char *p;
	const char *end;
};

void sqllex_init(struct sqllex *lx, const char *s, size_t len);
struct sqltok sqllex_next(struct sqllex *lx);
/* Case-insensitive keyword test on a TK_WORD token. */
bool tok_is(const struct sqltok *t, const char *kw);
/* Value of a string literal or identifier token, unescaped, into buf
 * (truncated to len-1). Returns false for tokens it cannot decode. */
bool tok_text(const struct sqltok *t, char *buf, size_t len);

/* ROLLBACK / ABORT / COMMIT / END (not TO SAVEPOINT, not PREPARED): a
 * statement that ends a failed transaction block. */
bool sql_is_txn_exit(const char *q, size_t len);

/* Case-insensitive substring search (needle is lowercase). */
bool sql_icontains(const char *q, size_t len, const char *needle);

/* The first keyword, lowercased, into buf ("" if none). */
void sql_first_word(const char *q, size_t len, char *buf, size_t buflen);

/* A whole statement that sets the tenant setting for the session, which
 * pgtide answers itself:
 *   SET [SESSION] name {= | TO} value | DEFAULT,  RESET name,
 *   SELECT [pg_catalog.]set_config('name', 'value', false)
 * setting is the lowercase dotted name. For TS_SET and TS_SET_CONFIG the
 * new value is copied to value (TS_VALUE_TOO_LONG if it does not fit). */
enum tenant_stmt { TS_NONE, TS_SET, TS_RESET, TS_SET_CONFIG, TS_VALUE_TOO_LONG };
enum tenant_stmt sql_tenant_statement(const char *q, size_t len, const char *setting, char *value, size_t vlen);

/* Does the statement change (or try to) the tenant setting, in any form
 * other than a read (SHOW name, current_setting('name'))? Conservative:
 * set_config with a computed name, and the name inside a DO body or any
 * string, count as attempts. */
bool sql_tenant_write_attempt(const char *q, size_t len, const char *setting);

/* Statements Postgres refuses inside a transaction block or pipeline
 * (VACUUM, CREATE DATABASE, ... CONCURRENTLY, ALTER SYSTEM...). */
bool sql_needs_own_transaction(const char *q, size_t len);

/* BEGIN / START TRANSACTION and the access mode it asks for (any other
 * modes in any order; later statements in the same string are ignored). */
enum begin_mode { BM_NOT_BEGIN, BM_BEGIN, BM_READ_ONLY, BM_READ_WRITE };
enum begin_mode sql_begin_mode(const char *q, size_t len);

/* Exactly one statement (trailing semicolons allowed). */
bool sql_single_statement(const char *q, size_t len);

/* A single statement that only reads, for read_routing = auto: SELECT,
 * WITH, TABLE, VALUES or SHOW, with no locking clause, no INTO, no
 * data-modifying CTE, and nothing that depends on the session or locks
 * (currval, advisory locks, NOTIFY). false when in doubt. */
bool sql_is_read(const char *q, size_t len);

#endif
