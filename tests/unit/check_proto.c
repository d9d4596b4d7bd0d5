/*
 * Unit tests: protocol parsing (src/proto.c) and message builders
 * (src/pktbuf.c), including truncated, oversized and hostile input.
 */
#include "autoconf.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pktbuf.h"
#include "proto.h"
#include "check_main.h"

static size_t build_startup(uint8_t *buf, size_t cap, const char *const *kv)
{
	struct pktbuf pb;
	pkt_init_fixed(&pb, buf, cap);
	pkt_begin_untyped(&pb);
	pkt_put_int32(&pb, PROTO_V3);
	for (int i = 0; kv[i]; i++)
		pkt_put_cstr(&pb, kv[i]);
	pkt_put_byte(&pb, 0);
	pkt_end_untyped(&pb);
	ck_assert(!pb.failed);
	return pb.len;
}

START_TEST(header_needs_five_bytes)
{
	uint8_t b[5] = { 'Q', 0, 0, 0, 5 };
	struct pmsg m;
	for (size_t i = 0; i < 5; i++)
		ck_assert_int_eq(proto_header(b, i, 1000, &m), PROTO_MORE);
	ck_assert_int_eq(proto_header(b, 5, 1000, &m), PROTO_OK);
	ck_assert_int_eq(m.type, 'Q');
	ck_assert_uint_eq(m.len, 6);
	ck_assert_uint_eq(m.body_len, 1);
}
END_TEST

START_TEST(header_rejects_bad_lengths)
{
	struct pmsg m;
	uint8_t small[5] = { 'Q', 0, 0, 0, 3 };
	ck_assert_int_eq(proto_header(small, 5, 1000, &m), PROTO_BAD);
	uint8_t huge[5] = { 'Q', 0x7f, 0xff, 0xff, 0xff };
	ck_assert_int_eq(proto_header(huge, 5, 1000, &m), PROTO_BAD);
	uint8_t neg[5] = { 'Q', 0xff, 0xff, 0xff, 0xff };
	ck_assert_int_eq(proto_header(neg, 5, 0x7fffffff, &m), PROTO_BAD);
	uint8_t exact[5] = { 'Q', 0, 0, 3, 0xe7 }; /* 999 + type = 1000 */
	ck_assert_int_eq(proto_header(exact, 5, 1000, &m), PROTO_OK);
	uint8_t over[5] = { 'Q', 0, 0, 3, 0xe8 };
	ck_assert_int_eq(proto_header(over, 5, 1000, &m), PROTO_BAD);
}
END_TEST

START_TEST(startup_normal)
{
	uint8_t buf[256];
	const char *kv[] = { "user", "alice", "database", "app", "application_name", "psql", NULL };
	size_t n = build_startup(buf, sizeof(buf), kv);
	struct startup_packet sp;
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(proto_read_startup(buf, i, &sp), PROTO_MORE);
	ck_assert_int_eq(proto_read_startup(buf, n, &sp), PROTO_OK);
	ck_assert_int_eq(sp.kind, SP_STARTUP);
	ck_assert_int_eq(sp.nparams, 3);
	ck_assert_str_eq(startup_param(&sp, "user"), "alice");
	ck_assert_str_eq(startup_param(&sp, "database"), "app");
	ck_assert_ptr_null(startup_param(&sp, "options"));
}
END_TEST

START_TEST(startup_special_codes)
{
	uint8_t ssl[8] = { 0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f };
	struct startup_packet sp;
	ck_assert_int_eq(proto_read_startup(ssl, 8, &sp), PROTO_OK);
	ck_assert_int_eq(sp.kind, SP_SSL);
	uint8_t gss[8] = { 0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30 };
	ck_assert_int_eq(proto_read_startup(gss, 8, &sp), PROTO_OK);
	ck_assert_int_eq(sp.kind, SP_GSSENC);
	uint8_t cancel[16] = { 0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e, 0, 0, 0, 7, 0xde, 0xad, 0xbe, 0xef };
	ck_assert_int_eq(proto_read_startup(cancel, 16, &sp), PROTO_OK);
	ck_assert_int_eq(sp.kind, SP_CANCEL);
	ck_assert_uint_eq(sp.cancel_pid, 7);
	ck_assert_uint_eq(sp.cancel_key, 0xdeadbeef);
	/* a cancel request with the wrong length is refused */
	uint8_t badcancel[12] = { 0, 0, 0, 12, 0x04, 0xd2, 0x16, 0x2e, 0, 0, 0, 7 };
	ck_assert_int_eq(proto_read_startup(badcancel, 12, &sp), PROTO_BAD);
	uint8_t badssl[12] = { 0, 0, 0, 12, 0x04, 0xd2, 0x16, 0x2f, 0, 0, 0, 0 };
	ck_assert_int_eq(proto_read_startup(badssl, 12, &sp), PROTO_BAD);
}
END_TEST

START_TEST(startup_hostile)
{
	struct startup_packet sp;
	/* too short, too long */
	uint8_t tiny[8] = { 0, 0, 0, 4, 0, 3, 0, 0 };
	ck_assert_int_eq(proto_read_startup(tiny, 8, &sp), PROTO_BAD);
	uint8_t huge[8] = { 0, 0x10, 0, 0, 0, 3, 0, 0 };
	ck_assert_int_eq(proto_read_startup(huge, 8, &sp), PROTO_BAD);
	/* protocol 2 and nonsense versions */
	uint8_t v2[9] = { 0, 0, 0, 9, 0, 2, 0, 0, 0 };
	ck_assert_int_eq(proto_read_startup(v2, 9, &sp), PROTO_BAD);
	/* unterminated parameter list */
	uint8_t unterm[13] = { 0, 0, 0, 13, 0, 3, 0, 0, 'u', 's', 'e', 'r', 0 };
	ck_assert_int_eq(proto_read_startup(unterm, 13, &sp), PROTO_BAD);
	/* name without value */
	uint8_t noval[14] = { 0, 0, 0, 14, 0, 3, 0, 0, 'u', 's', 'e', 'r', 0, 0 };
	ck_assert_int_eq(proto_read_startup(noval, 14, &sp), PROTO_BAD);
	/* duplicate parameter */
	uint8_t buf[256];
	const char *dup[] = { "user", "a", "user", "b", NULL };
	size_t n = build_startup(buf, sizeof(buf), dup);
	ck_assert_int_eq(proto_read_startup(buf, n, &sp), PROTO_BAD);
	/* bytes after the terminator */
	const char *kv[] = { "user", "a", NULL };
	n = build_startup(buf, sizeof(buf), kv);
	buf[3] = (uint8_t)(n + 2);
	buf[n] = 'x';
	buf[n + 1] = 0;
	ck_assert_int_eq(proto_read_startup(buf, n + 2, &sp), PROTO_BAD);
	/* too many parameters */
	uint8_t big[4096];
	struct pktbuf pb;
	pkt_init_fixed(&pb, big, sizeof(big));
	pkt_begin_untyped(&pb);
	pkt_put_int32(&pb, PROTO_V3);
	for (int i = 0; i < STARTUP_MAX_PARAMS + 1; i++) {
		char name[16];
		snprintf(name, sizeof(name), "p%d", i);
		pkt_put_cstr(&pb, name);
		pkt_put_cstr(&pb, "v");
	}
	pkt_put_byte(&pb, 0);
	pkt_end_untyped(&pb);
	ck_assert_int_eq(proto_read_startup(big, pb.len, &sp), PROTO_BAD);
}
END_TEST

static struct pmsg msg_of(const uint8_t *buf, size_t len)
{
	struct pmsg m;
	ck_assert_int_eq(proto_header(buf, len, 1 << 20, &m), PROTO_OK);
	ck_assert_uint_eq(m.len, len);
	return m;
}

START_TEST(error_roundtrip)
{
	uint8_t buf[512];
	struct pktbuf pb;
	pkt_init_fixed(&pb, buf, sizeof(buf));
	pkt_error(&pb, "ERROR", "22023", "bad tenant \"%s\"", "x'y");
	ck_assert(!pb.failed);
	struct pmsg m = msg_of(buf, pb.len);
	struct msg_error e;
	ck_assert(proto_parse_error(&m, &e));
	ck_assert_str_eq(e.severity, "ERROR");
	ck_assert_str_eq(e.sqlstate, "22023");
	ck_assert_str_eq(e.message, "bad tenant \"x'y\"");
	/* cut the terminator off: must be refused, not over-read */
	for (size_t cut = 1; cut < m.body_len; cut++) {
		struct pmsg t = m;
		t.body_len = m.body_len - (uint32_t)cut;
		ck_assert(!proto_parse_error(&t, &e));
	}
}
END_TEST

START_TEST(small_messages)
{
	uint8_t buf[256];
	struct pktbuf pb;
	pkt_init_fixed(&pb, buf, sizeof(buf));
	pkt_rfq(&pb, 'T');
	struct pmsg m = msg_of(buf, pb.len);
	char st;
	ck_assert(proto_parse_rfq(&m, &st));
	ck_assert_int_eq(st, 'T');
	buf[5] = 'X';
	ck_assert(!proto_parse_rfq(&m, &st));

	pkt_init_fixed(&pb, buf, sizeof(buf));
	pkt_param_status(&pb, "TimeZone", "UTC");
	m = msg_of(buf, pb.len);
	const char *n, *v;
	ck_assert(proto_parse_param_status(&m, &n, &v));
	ck_assert_str_eq(n, "TimeZone");
	ck_assert_str_eq(v, "UTC");
	m.body_len--;
	ck_assert(!proto_parse_param_status(&m, &n, &v));

	pkt_init_fixed(&pb, buf, sizeof(buf));
	pkt_backend_key(&pb, 42, 0xabcdef01);
	m = msg_of(buf, pb.len);
	uint32_t pid, key;
	ck_assert(proto_parse_backend_key(&m, &pid, &key));
	ck_assert_uint_eq(pid, 42);
	ck_assert_uint_eq(key, 0xabcdef01);

	pkt_init_fixed(&pb, buf, sizeof(buf));
	pkt_close(&pb, 'S', "stmt1");
	m = msg_of(buf, pb.len);
	char kind;
	const char *name;
	ck_assert(proto_parse_describe_close(&m, &kind, &name));
	ck_assert_int_eq(kind, 'S');
	ck_assert_str_eq(name, "stmt1");
	buf[5] = 'Z';
	ck_assert(!proto_parse_describe_close(&m, &kind, &name));

	pkt_init_fixed(&pb, buf, sizeof(buf));
	pkt_command_complete(&pb, "SELECT 1");
	m = msg_of(buf, pb.len);
	const char *tag;
	ck_assert(proto_parse_command_complete(&m, &tag));
	ck_assert_str_eq(tag, "SELECT 1");
}
END_TEST

START_TEST(parse_and_bind)
{
	uint8_t buf[512];
	struct pktbuf pb;
	pkt_init_fixed(&pb, buf, sizeof(buf));
	pkt_begin(&pb, 'P');
	pkt_put_cstr(&pb, "s1");
	pkt_put_cstr(&pb, "select $1::int");
	pkt_put_int16(&pb, 1);
	pkt_put_int32(&pb, 23);
	pkt_end(&pb);
	struct pmsg m = msg_of(buf, pb.len);
	struct msg_parse p;
	ck_assert(proto_parse_parse(&m, &p));
	ck_assert_str_eq(p.name, "s1");
	ck_assert_str_eq(p.query, "select $1::int");
	ck_assert_uint_eq(p.nparams, 1);
	/* claims more parameter types than it carries */
	buf[m.len - 5] = 9;
	ck_assert(!proto_parse_parse(&m, &p));

	pkt_init_fixed(&pb, buf, sizeof(buf));
	pkt_begin(&pb, 'B');
	pkt_put_cstr(&pb, "");
	pkt_put_cstr(&pb, "s1");
	pkt_put_int16(&pb, 0);
	pkt_put_int16(&pb, 2);
	pkt_put_int32(&pb, 2);
	pkt_put_bytes(&pb, "42", 2);
	pkt_put_int32(&pb, 0xFFFFFFFFu); /* NULL */
	pkt_put_int16(&pb, 0);
	pkt_end(&pb);
	m = msg_of(buf, pb.len);
	struct msg_bind b;
	ck_assert(proto_parse_bind(&m, &b));
	ck_assert_str_eq(b.portal, "");
	ck_assert_str_eq(b.stmt, "s1");
	/* a parameter length running past the end */
	size_t plen_at = 5 + 1 + 3 + 2 + 2;
	proto_put32(buf + plen_at, 1000);
	ck_assert(!proto_parse_bind(&m, &b));
	proto_put32(buf + plen_at, 0x7FFFFFFFu);
	ck_assert(!proto_parse_bind(&m, &b));
}
END_TEST

START_TEST(fixed_buffer_overflow_is_sticky)
{
	uint8_t buf[16];
	struct pktbuf pb;
	pkt_init_fixed(&pb, buf, sizeof(buf));
	pkt_query(&pb, "select a long statement that does not fit");
	ck_assert(pb.failed);
	pkt_rfq(&pb, 'I');
	ck_assert(pb.failed);
	ck_assert_uint_le(pb.len, sizeof(buf));
}
END_TEST

/* s is a NUL-terminated string that starts and ends inside b[0..len) */
static bool in_body(const uint8_t *b, size_t len, const char *s)
{
	const char *start = (const char *)b, *end = start + len;
	return s >= start && s < end && memchr(s, 0, (size_t)(end - s)) != NULL;
}

START_TEST(readers_never_overread)
{
	/* Every parser on every prefix of random bytes: ASan watches. */
	srand(12345);
	for (int iter = 0; iter < 20000; iter++) {
		size_t len = (size_t)(rand() % 64);
		uint8_t *b = malloc(len + 1);
		for (size_t i = 0; i < len; i++)
			b[i] = (uint8_t)(rand() % 4 == 0 ? 0 : rand());
		struct pmsg m = { .type = 'X', .len = (uint32_t)len + 5, .body = b, .body_len = (uint32_t)len };
		struct msg_error e;
		struct msg_parse p;
		struct msg_bind bd;
		const char *s1, *s2;
		char c;
		uint32_t u1, u2;
		const uint8_t *d;
		size_t dl;
		/* whatever a reader accepts lies inside the message, terminator
		 * included: asserted here, so a plain build catches an over-read
		 * too, not only a sanitizer build */
		if (proto_parse_error(&m, &e)) {
			ck_assert(!e.severity || in_body(b, len, e.severity));
			ck_assert(!e.sqlstate || in_body(b, len, e.sqlstate));
			ck_assert(!e.message || in_body(b, len, e.message));
		}
		if (proto_parse_parse(&m, &p)) {
			ck_assert(in_body(b, len, p.name));
			ck_assert(p.query >= (const char *)b && p.query + p.query_len <= (const char *)b + len);
			ck_assert(p.nparams == 0 || (p.param_types >= b && p.param_types + 4u * p.nparams <= b + len));
		}
		proto_parse_bind(&m, &bd);
		if (proto_parse_param_status(&m, &s1, &s2))
			ck_assert(in_body(b, len, s1) && in_body(b, len, s2));
		if (proto_parse_describe_close(&m, &c, &s1))
			ck_assert(in_body(b, len, s1));
		if (proto_parse_query(&m, &s1, &dl))
			ck_assert(s1 >= (const char *)b && s1 + dl <= (const char *)b + len);
		proto_parse_rfq(&m, &c);
		if (proto_parse_backend_key(&m, &u1, &u2))
			ck_assert_uint_ge(len, 8);
		if (proto_parse_auth(&m, &u1, &d, &dl))
			ck_assert(dl == 0 || (d >= b && d + dl <= b + len));
		if (proto_parse_command_complete(&m, &s1))
			ck_assert(in_body(b, len, s1));
		struct startup_packet sp;
		proto_read_startup(b, len, &sp);
		struct pmsg h;
		proto_header(b, len, 1 << 20, &h);
		free(b);
	}
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("proto");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, header_needs_five_bytes);
	tcase_add_test(tc, header_rejects_bad_lengths);
	tcase_add_test(tc, startup_normal);
	tcase_add_test(tc, startup_special_codes);
	tcase_add_test(tc, startup_hostile);
	tcase_add_test(tc, error_roundtrip);
	tcase_add_test(tc, small_messages);
	tcase_add_test(tc, parse_and_bind);
	tcase_add_test(tc, fixed_buffer_overflow_is_sticky);
	tcase_add_test(tc, readers_never_overread);
	suite_add_tcase(s, tc);
	return s;
}
