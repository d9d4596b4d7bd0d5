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

#endif
