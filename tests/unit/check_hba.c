/*
 * Unit tests: auth_hba_file parsing and matching (src/hba.c): every line
 * kind, address forms, keywords and quoting, first-match order, and
 * malformed or unsupported lines reported as FILE:LINE.
 */
#include "autoconf.h"

#include <arpa/inet.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "hba.h"
#include "check_main.h"

static struct hba *parse(const char *text, struct cfg_diag *d)
{
	cfg_diag_init(d, true);
	return hba_parse(text, strlen(text), "hba.conf", d);
}

static enum hba_method m4(const struct hba *h, const char *ip, bool tls, const char *db, const char *user, int *line)
{
	uint8_t a[16] = { 0 };
	ck_assert_int_eq(inet_pton(AF_INET, ip, a), 1);
	return hba_match(h, AF_INET, a, tls, db, user, line);
}

static enum hba_method m6(const struct hba *h, const char *ip, const char *db, const char *user)
{
	uint8_t a[16];
	int line;
	ck_assert_int_eq(inet_pton(AF_INET6, ip, a), 1);
	return hba_match(h, AF_INET6, a, false, db, user, &line);
}

START_TEST(line_kinds_and_first_match)
{
	struct cfg_diag d;
	struct hba *h = parse("# comment\n"
			      "\n"
			      "local     all       all                          trust\n"
			      "hostnossl all       web          127.0.0.1/32    reject\n"
			      "hostssl   app       certuser     0.0.0.0/0       cert   # trailing comment\n"
			      "host      app,other alice,bob    10.1.0.0/16     scram-sha-256\n"
			      "host      all       all          10.0.0.0 255.0.0.0 md5\n"
			      "host      all       all          ::1/128         password\n"
			      "host      all       all          all             reject\n",
			      &d);
	ck_assert_msg(h != NULL, "%s", d.text.data);
	int line;
	ck_assert_int_eq(hba_match(h, AF_UNIX, NULL, false, "x", "y", &line), HBA_TRUST);
	ck_assert_int_eq(line, 3);
	ck_assert_int_eq(m4(h, "127.0.0.1", false, "app", "web", &line), HBA_REJECT);
	ck_assert_int_eq(line, 4);
	/* hostnossl does not match TLS: falls to the last line */
	ck_assert_int_eq(m4(h, "127.0.0.1", true, "app", "web", &line), HBA_REJECT);
	ck_assert_int_eq(line, 9);
	ck_assert_int_eq(m4(h, "192.168.1.1", true, "app", "certuser", &line), HBA_CERT);
	/* hostssl does not match plain TCP */
	ck_assert_int_eq(m4(h, "192.168.1.1", false, "app", "certuser", &line), HBA_REJECT);
	ck_assert_int_eq(m4(h, "10.1.200.3", false, "other", "bob", &line), HBA_SCRAM);
	ck_assert_int_eq(line, 6);
	ck_assert_int_eq(m4(h, "10.1.200.3", false, "third", "bob", &line), HBA_MD5); /* db not listed */
	ck_assert_int_eq(m4(h, "10.2.0.1", false, "app", "alice", &line), HBA_MD5);
	ck_assert_int_eq(line, 7);
	ck_assert_int_eq(m4(h, "11.0.0.1", false, "app", "alice", &line), HBA_REJECT);
	ck_assert_int_eq(m6(h, "::1", "app", "alice"), HBA_PASSWORD);
	/* an IPv4 rule never matches IPv6, even mapped, as in Postgres */
	ck_assert_int_eq(m6(h, "::ffff:10.2.0.1", "app", "alice"), HBA_REJECT);
	hba_free(h);
	cfg_diag_free(&d);
}
END_TEST

START_TEST(keywords_and_quoting)
{
	struct cfg_diag d;
	struct hba *h = parse("host sameuser all 127.0.0.1/32 trust\n"
			      "host \"all\" \"all\" 127.0.0.1/32 md5\n"
			      "host replication all 127.0.0.1/32 trust\n"
			      "host \"we\"\"ird, db\" u 127.0.0.1/32 password\n"
			      "host all \"Alice\" 127.0.0.1/32 scram-sha-256\n"
			      "host all all 2001:db8::/32 cert\n",
			      &d);
	ck_assert(h == NULL); /* cert on a host line */
	ck_assert_msg(strstr(d.text.data, "hba.conf:6: cert authentication is only supported on hostssl lines"),
		      "%s", d.text.data);
	cfg_diag_free(&d);

	h = parse("host sameuser bob 127.0.0.1/32 trust\n"
		  "host \"all\" \"all\" 127.0.0.1/32 md5\n"
		  "host replication all 127.0.0.1/32 trust\n"
		  "host \"we\"\"ird, db\" u 127.0.0.1/32 password\n"
		  "host all \"Alice\" 127.0.0.1/32 scram-sha-256\n"
		  "hostssl all all 2001:db8::/32 cert\n",
		  &d);
	ck_assert_msg(h != NULL, "%s", d.text.data);
	int line;
	ck_assert_int_eq(m4(h, "127.0.0.1", false, "bob", "bob", &line), HBA_TRUST); /* sameuser */
	/* quoted "all" is a database named all, not the keyword */
	ck_assert_int_eq(m4(h, "127.0.0.1", false, "all", "all", &line), HBA_MD5);
	ck_assert_int_eq(m4(h, "127.0.0.1", false, "replication", "u", &line), HBA_NONE);
	ck_assert_int_eq(m4(h, "127.0.0.1", false, "we\"ird, db", "u", &line), HBA_PASSWORD);
	ck_assert_int_eq(line, 4);
	ck_assert_int_eq(m4(h, "127.0.0.1", false, "x", "Alice", &line), HBA_SCRAM);
	ck_assert_int_eq(m4(h, "127.0.0.1", false, "x", "alice", &line), HBA_NONE); /* case matters */
	uint8_t a[16];
	inet_pton(AF_INET6, "2001:db8:ffff::1", a);
	ck_assert_int_eq(hba_match(h, AF_INET6, a, true, "d", "u", &line), HBA_CERT);
	inet_pton(AF_INET6, "2001:db9::1", a);
	ck_assert_int_eq(hba_match(h, AF_INET6, a, true, "d", "u", &line), HBA_NONE);
	hba_free(h);
	cfg_diag_free(&d);
}
END_TEST

START_TEST(masks)
{
	struct cfg_diag d;
	struct hba *h = parse("host all all 192.168.1.77/24 trust\n"      /* host bits ignored */
			      "host all all 0.0.0.0/0 md5\n",
			      &d);
	ck_assert(h != NULL);
	int line;
	ck_assert_int_eq(m4(h, "192.168.1.1", false, "d", "u", &line), HBA_TRUST);
	ck_assert_int_eq(m4(h, "192.168.2.1", false, "d", "u", &line), HBA_MD5);
	hba_free(h);
	cfg_diag_free(&d);
	h = parse("host all all 10.0.0.1/32 trust\nhost all all ::/0 reject\nhost all all 10.0.0.0/31 md5\n", &d);
	ck_assert(h != NULL);
	ck_assert_int_eq(m4(h, "10.0.0.1", false, "d", "u", &line), HBA_TRUST);
	ck_assert_int_eq(m4(h, "10.0.0.0", false, "d", "u", &line), HBA_MD5);
	ck_assert_int_eq(m4(h, "10.0.0.2", false, "d", "u", &line), HBA_NONE);
	ck_assert_int_eq(m6(h, "fe80::1", "d", "u"), HBA_REJECT);
	hba_free(h);
	cfg_diag_free(&d);
}
END_TEST

/* Every bad line is an error with its line number, and the whole file is
 * refused: a skipped reject line would let someone in. */
START_TEST(malformed_lines)
{
	static const struct { const char *line, *msg; } cases[] = {
		{ "host all all 127.0.0.1/32", "missing authentication method" },
		{ "host all all", "incomplete line" },
		{ "hosts all all 127.0.0.1/32 trust", "invalid connection type" },
		{ "hostgssenc all all 127.0.0.1/32 trust", "GSSAPI" },
		{ "host all all 127.0.0.1/33 trust", "invalid CIDR mask" },
		{ "host all all 127.0.0.1/-1 trust", "invalid CIDR mask" },
		{ "host all all 127.0.0.1/ trust", "invalid CIDR mask" },
		{ "host all all ::1/129 trust", "invalid CIDR mask" },
		{ "host all all 300.0.0.1/32 trust", "invalid IP address" },
		{ "host all all db.example.com trust", "invalid IP address" },
		{ "host all all 127.0.0.1 trust", "invalid IP mask" },
		{ "host all all 127.0.0.1 ffff::0 md5", "invalid IP mask" },
		{ "host all all samenet trust", "samehost and samenet" },
		{ "host all all 127.0.0.1/32 ident", "unsupported authentication method" },
		{ "host all all 127.0.0.1/32 md5 clientcert=verify-full", "authentication options" },
		{ "host all +admins 127.0.0.1/32 md5", "group membership" },
		{ "host @dbs all 127.0.0.1/32 md5", "@file" },
		{ "host all /^a 127.0.0.1/32 md5", "regular expressions" },
		{ "host samerole all 127.0.0.1/32 md5", "samerole" },
		{ "host \"unterminated all 127.0.0.1/32 md5", "unterminated quoted string" },
		{ "host a,,b all 127.0.0.1/32 md5", "empty list item" },
		{ "host all all 127.0.0.1/32,10.0.0.0/8 md5", "single value" },
		{ "local all all 127.0.0.1/32 md5", "unsupported authentication method" },
		{ "a b c d e f g h i j k l m n o p q", "too many fields" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[512];
		snprintf(text, sizeof(text), "local all all trust\n%s\n", cases[i].line);
		struct cfg_diag d;
		struct hba *h = parse(text, &d);
		ck_assert_msg(h == NULL, "accepted: %s", cases[i].line);
		ck_assert_msg(d.text.data && strstr(d.text.data, "hba.conf:2: ") && strstr(d.text.data, cases[i].msg),
			      "%s -> %s", cases[i].line, d.text.data ? d.text.data : "(nothing)");
		cfg_diag_free(&d);
	}
}
END_TEST

START_TEST(hostile_bytes)
{
	struct cfg_diag d;
	cfg_diag_init(&d, true);
	static const char nul[] = "local all all trust\nhost all all 0.0.0.0/0 re\0ject\n";
	struct hba *h = hba_parse(nul, sizeof(nul) - 1, "hba.conf", &d);
	ck_assert(h == NULL);
	ck_assert(strstr(d.text.data, "hba.conf:2: NUL byte"));
	cfg_diag_free(&d);
	/* a very long line, binary garbage, CRLF endings */
	char *big = malloc(200000);
	memset(big, 'a', 199999);
	big[199999] = '\0';
	h = parse(big, &d);
	ck_assert(h == NULL);
	cfg_diag_free(&d);
	free(big);
	h = parse("\xff\xfe\x01 all all 1.2.3.4/8 md5\n", &d);
	ck_assert(h == NULL);
	cfg_diag_free(&d);
	h = parse("host all all 127.0.0.1/32 md5\r\nlocal all all trust\r\n", &d);
	ck_assert_msg(h != NULL, "%s", d.text.data);
	int line;
	ck_assert_int_eq(m4(h, "127.0.0.1", false, "d", "u", &line), HBA_MD5);
	hba_free(h);
	cfg_diag_free(&d);
	/* empty file: nothing matches */
	h = parse("", &d);
	ck_assert(h != NULL);
	ck_assert_int_eq(m4(h, "127.0.0.1", false, "d", "u", &line), HBA_NONE);
	ck_assert_int_eq(line, 0);
	hba_free(h);
	cfg_diag_free(&d);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("hba");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, line_kinds_and_first_match);
	tcase_add_test(tc, keywords_and_quoting);
	tcase_add_test(tc, masks);
	tcase_add_test(tc, malformed_lines);
	tcase_add_test(tc, hostile_bytes);
	suite_add_tcase(s, tc);
	return s;
}
