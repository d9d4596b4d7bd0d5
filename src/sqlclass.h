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
/* After a PREPARE token: is it PREPARE TRANSACTION 'id' (two-phase
 * commit), not a prepared statement? lx is not advanced. */
bool sql_is_prepare_transaction(const struct sqllex *after_prepare);
/* Value of a string literal or identifier token, unescaped, into buf
 * (truncated to len-1). Returns false for tokens it cannot decode. */
bool tok_text(const struct sqltok *t, char *buf, size_t len);

/* ROLLBACK / ABORT / COMMIT / END (not TO SAVEPOINT, not PREPARED): a
 * statement that ends a failed transaction block. */
bool sql_is_txn_exit(const char *q, size_t len);

/* One cheap pass over a statement's bytes, for the classifiers to skip the
 * nearly every statement that needs no closer look: QS_SESSION, it may
 * have a session effect (sql_session_effects says which); QS_SET_CONFIG,
 * it names set_config; QS_WORD, word (lowercase identifier characters)
 * occurs in it, in any case; QS_TXN_END, a statement starts with COMMIT,
 * ROLLBACK, END or ABORT (sql_is_txn_exit says whether it ends a block);
 * QS_TXN_BEGIN, one starts with BEGIN or START; QS_NOTIFY, one starts with
 * NOTIFY or pg_notify occurs. */
enum { QS_SESSION = 1, QS_SET_CONFIG = 2, QS_WORD = 4, QS_TXN_END = 8, QS_TXN_BEGIN = 16, QS_NOTIFY = 32 };
unsigned sql_quick_scan(const char *q, size_t len, const char *word);

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
/* The same, given the statement's sql_quick_scan with setting's last part
 * as the word (sql_session_effects leaves it in scan): one pass saved. */
bool sql_tenant_write_attempt_scanned(const char *q, size_t len, const char *setting, unsigned scan);

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

/*
 * What a query string leaves in the session beyond its transaction, for
 * session.c to decide on. Every statement of the string is looked at, and
 * the bodies of DO blocks and of strings run with EXECUTE inside them.
 * Conservative: a flag is set when in doubt; SE_UNKNOWN says that state
 * changed in a way pgtide cannot follow by name.
 */
enum sql_session_flags {
	SE_SETTINGS = 1 << 0,       /* SET, RESET, set_config(.., false), SET ROLE, ... */
	SE_UNKNOWN = 1 << 1,        /* session state pgtide cannot name (computed set_config, dynamic PREPARE) */
	SE_RESET_ALL = 1 << 2,      /* RESET ALL */
	SE_DISCARD_ALL = 1 << 3,    /* DISCARD ALL */
	SE_TEMP = 1 << 4,           /* a temporary table, view, sequence or function that outlives the transaction */
	SE_HOLD_CURSOR = 1 << 5,    /* DECLARE ... WITH HOLD */
	SE_ADVISORY = 1 << 6,       /* a session-level advisory lock */
	SE_LISTEN = 1 << 7,         /* LISTEN or UNLISTEN */
	SE_LOAD = 1 << 8,           /* LOAD: a library stays loaded, nothing undoes it */
	SE_PREPARE_STMT = 1 << 9,   /* a PREPARE, EXECUTE or DEALLOCATE statement */
	SE_DEALLOCATE = 1 << 10,    /* statements on the server may be gone (DEALLOCATE, DISCARD) */
	SE_MULTI = 1 << 11,         /* more than one statement */
};
#define SE_BINDS (SE_TEMP | SE_HOLD_CURSOR | SE_ADVISORY | SE_LISTEN | SE_LOAD)
#define SQL_SESS_NAMES 8
#define SQL_SESS_NAME_LEN 64

struct sql_session {
	unsigned flags;
	unsigned scan;              /* sql_quick_scan's answer, for callers to reuse */
	/* Dotted (custom) setting names set or reset by name, lowercased:
	 * Postgres does not list these in pg_settings, so pgtide asks for
	 * them by name. More than fit sets SE_UNKNOWN. */
	int n_names;
	char names[SQL_SESS_NAMES][SQL_SESS_NAME_LEN];
};
/* ignore: a setting pgtide manages itself (the tenant setting): changing
 * only it is no session effect here. */
/* ignore: the tenant setting (not a session setting here); out->scan is
 * sql_quick_scan's with its last part as the word. */
void sql_session_effects(const char *q, size_t len, const char *ignore, struct sql_session *out);
/* Words for the first binding flag set in flags ("a temporary table"). */
const char *sql_session_bind_reason(unsigned flags);

/* Is this DISCARD ALL (a reset query that leaves nothing)? */
bool sql_is_discard_all(const char *q);

/* A whole LISTEN ch / UNLISTEN ch / UNLISTEN * statement: 'L' or 'U'
 * (channel "*" for all), channel as Postgres folds it; 0 otherwise. */
char sql_listen_statement(const char *q, size_t len, char *channel, size_t clen);

#endif
