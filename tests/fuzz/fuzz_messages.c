/*
 * libFuzzer: a stream of protocol messages as pgtide reads them from a
 * client or a server: framing (proto_header), then every parser that looks
 * inside a message of that type, and the SQL classifiers on any query text.
 * The first byte picks the direction.
 */
#include "autoconf.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "ryw.h"
#include "sqlclass.h"
#include "sset.h"

static void classify(const char *q, size_t len)
{
	struct sql_session se;
	sql_session_effects(q, len, "app.current_tenant_id", &se);
	(void)sql_is_read(q, len);
	(void)sql_begin_mode(q, len);
	(void)sql_tenant_write_attempt(q, len, "app.current_tenant_id");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	bool from_server = data[0] & 1;
	const uint8_t *p = data + 1;
	size_t left = size - 1;
	while (left > 0) {
		struct pmsg m;
		enum proto_result r = proto_header(p, left, 1 << 20, &m);
		if (r != PROTO_OK || m.len > left)
			break;
		m.body = p + PROTO_HDR;
		m.body_len = m.len - PROTO_HDR;
		/* the parsers get exactly the body, in a buffer of its own size */
		uint8_t *copy = malloc(m.body_len ? m.body_len : 1);
		memcpy(copy, m.body, m.body_len);
		m.body = copy;
		if (!from_server) {
			const char *q;
			size_t qlen;
			struct msg_parse mp;
			struct msg_bind b;
			char kind;
			const char *name;
			switch (m.type) {
			case 'Q':
				if (proto_parse_query(&m, &q, &qlen))
					classify(q, qlen);
				break;
			case 'P':
				if (proto_parse_parse(&m, &mp))
					classify(mp.query, mp.query_len);
				break;
			case 'B':
				(void)proto_parse_bind(&m, &b);
				break;
			case 'D':
			case 'C':
				(void)proto_parse_describe_close(&m, &kind, &name);
				break;
			default:
				(void)proto_frontend_type_valid(m.type);
			}
		} else {
			struct msg_error e;
			const char *a, *b;
			char st;
			uint32_t x, y;
			const uint8_t *d;
			size_t n;
			uint32_t nl, vl;
			switch (m.type) {
			case 'E':
			case 'N':
				(void)proto_parse_error(&m, &e);
				break;
			case 'S':
				(void)proto_parse_param_status(&m, &a, &b);
				break;
			case 'Z':
				(void)proto_parse_rfq(&m, &st);
				break;
			case 'K':
				(void)proto_parse_backend_key(&m, &x, &y);
				break;
			case 'R':
				(void)proto_parse_auth(&m, &x, &d, &n);
				break;
			case 'C':
				(void)proto_parse_command_complete(&m, &a);
				break;
			case 'D': {
				static struct server sv; /* only its pos_lsn is written */
				(void)sset_parse_row(m.body, m.body_len, &a, &nl, &b, &vl);
				(void)ryw_position_row(&sv, &m);
				(void)ryw_parse_lsn((const char *)m.body, m.body_len);
				break;
			}
			default:
				(void)proto_backend_type_valid(m.type);
			}
		}
		free(copy);
		p += m.len;
		left -= m.len;
	}
	return 0;
}
