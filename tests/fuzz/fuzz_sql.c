/*
 * libFuzzer: the SQL lexer and every classifier on arbitrary text, and
 * sql_quote_literal's promise: whatever the text, the literal it makes
 * lexes as exactly one string token.
 */
#include "autoconf.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "params.h"
#include "sqlclass.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *q = malloc(size + 1);
	memcpy(q, data, size);
	q[size] = '\0';
	struct sqllex lx;
	sqllex_init(&lx, q, size);
	for (int i = 0; i < 100000; i++) {
		struct sqltok t = sqllex_next(&lx);
		if (t.type == TK_EOF || t.type == TK_ERROR)
			break;
		if (t.start < q || t.start + t.len > q + size)
			__builtin_trap();
		char buf[64];
		(void)tok_text(&t, buf, sizeof(buf));
	}
	char value[256], first[16], ch[64];
	(void)sql_is_txn_exit(q, size);
	(void)sql_icontains(q, size, "set_config");
	sql_first_word(q, size, first, sizeof(first));
	(void)sql_tenant_statement(q, size, "app.current_tenant_id", value, sizeof(value));
	(void)sql_tenant_write_attempt(q, size, "app.current_tenant_id");
	(void)sql_needs_own_transaction(q, size);
	(void)sql_begin_mode(q, size);
	(void)sql_single_statement(q, size);
	(void)sql_is_read(q, size);
	(void)sql_listen_statement(q, size, ch, sizeof(ch));
	(void)sql_quick_scan(q, size, "current_tenant_id");
	(void)sql_is_discard_all(q);
	struct sql_session se;
	sql_session_effects(q, size, "app.current_tenant_id", &se);
	if (se.n_names < 0 || se.n_names > SQL_SESS_NAMES)
		__builtin_trap();
	(void)sql_session_bind_reason(se.flags);

	/* quoting: a NUL ends the text, as in every C string pgtide quotes */
	size_t cap = 2 * strlen(q) + 4;
	char *lit = malloc(cap);
	if (sql_quote_literal(q, lit, cap)) {
		struct sqllex l2;
		sqllex_init(&l2, lit, strlen(lit));
		struct sqltok t = sqllex_next(&l2);
		struct sqltok end = sqllex_next(&l2);
		if (t.type != TK_STRING || t.len != strlen(lit) || end.type != TK_EOF)
			__builtin_trap();
		if (lit[0] == '\'') { /* no backslash: the value reads back */
			char *back = malloc(strlen(q) + 1);
			if (!tok_text(&t, back, strlen(q) + 1) || strcmp(back, q) != 0)
				__builtin_trap();
			free(back);
		}
	}
	free(lit);
	free(q);
	return 0;
}
