/*
 * Unit tests: SCRAM-SHA-256 (src/scram.c) against RFC 7677's example
 * exchange, both sides, plus secrets, MD5 hashes, base64 and hostile
 * SASL messages.
 */
#include "autoconf.h"

#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scram.h"
#include "check_main.h"

#define CLIENT_FIRST "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
#define SERVER_FIRST "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
#define CLIENT_FINAL                                                                                     \
	"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7A" \
	"ndVQ="
#define SERVER_FINAL "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

static struct scram_secret rfc_secret(uint8_t *client_key)
{
	uint8_t salt[64];
	int n = b64_decode("W22ZaJ0SNY7soEsUEjb6gQ==", 24, salt, sizeof(salt));
	ck_assert_int_eq(n, 16);
	struct scram_secret s;
	ck_assert(scram_secret_from_password("pencil", salt, (size_t)n, 4096, &s, client_key));
	return s;
}

/* Secrets Postgres 15 made itself (CREATE ROLE ... PASSWORD, 2026-11-29):
 * the same password, salt and iterations give the very same text, which
 * is what pgtide --scram-secret / --md5 print for userlist.txt. */
START_TEST(secrets_postgres_made)
{
	const char *pg = "SCRAM-SHA-256$4096:4knAkftUZzKGEgrEyxagvQ==$sYTRydIVKvN85tY4Txt+ONwrZjQmpDmA/IXfDcLdHrM=:"
			 "FaB4khs26TgLK6GXObQ6gUQRsfldCsOR3zREDXURKH0=";
	struct scram_secret theirs, mine;
	ck_assert(scram_parse_secret(pg, &theirs));
	ck_assert(scram_secret_from_password("correct horse battery", theirs.salt, theirs.salt_len, theirs.iterations,
					     &mine, NULL));
	char buf[256];
	ck_assert(scram_format_secret(&mine, buf, sizeof(buf)));
	ck_assert_str_eq(buf, pg);
	ck_assert(scram_secret_from_password("correct horse batterY", theirs.salt, theirs.salt_len, theirs.iterations,
					     &mine, NULL));
	ck_assert(scram_format_secret(&mine, buf, sizeof(buf)));
	ck_assert_str_ne(buf, pg);
	/* password_encryption = md5, role bob, password p'w\1 */
	char md5[36];
	md5_password_hash("p'w\\1", "bob", md5);
	ck_assert_str_eq(md5, "md539e23159b5de36cf7a612ec4669518af");
}
END_TEST

START_TEST(rfc7677_client)
{
	struct scram_client c;
	char out[SCRAM_MSG_MAX];
	const char *err;
	scram_client_init_password(&c, "pencil");
	c.username = "user";
	scram_test_set_nonce("rOprNGfwEbeRWgbNEkqO");
	ck_assert(scram_client_first(&c, out, sizeof(out)));
	ck_assert_str_eq(out, CLIENT_FIRST);
	ck_assert(scram_client_final(&c, SERVER_FIRST, strlen(SERVER_FIRST), out, sizeof(out), &err));
	ck_assert_str_eq(out, CLIENT_FINAL);
	ck_assert(scram_client_verify(&c, SERVER_FINAL, strlen(SERVER_FINAL), &err));
	scram_test_set_nonce(NULL);
}
END_TEST

START_TEST(rfc7677_server)
{
	uint8_t ck[SCRAM_KEY_LEN];
	struct scram_secret sec = rfc_secret(ck);
	struct scram_server s;
	char out[SCRAM_MSG_MAX];
	const char *err;
	scram_server_init(&s, &sec);
	scram_test_set_nonce("%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
	ck_assert(scram_server_first(&s, "SCRAM-SHA-256", CLIENT_FIRST, strlen(CLIENT_FIRST), out, sizeof(out), &err));
	ck_assert_str_eq(out, SERVER_FIRST);
	ck_assert(scram_server_final(&s, CLIENT_FINAL, strlen(CLIENT_FINAL), out, sizeof(out), &err));
	ck_assert_str_eq(out, SERVER_FINAL);
	/* the proof gave away ClientKey: what SCRAM pass-through relies on */
	ck_assert_mem_eq(s.client_key, ck, SCRAM_KEY_LEN);
	scram_test_set_nonce(NULL);
}
END_TEST

START_TEST(passthrough_keys_log_in)
{
	/* A client proves itself to pgtide; pgtide reuses the key with the
	 * real server, which holds the same secret. */
	uint8_t ck[SCRAM_KEY_LEN];
	struct scram_secret sec = rfc_secret(ck);
	struct scram_client c;
	struct scram_server s;
	char m1[SCRAM_MSG_MAX], m2[SCRAM_MSG_MAX], m3[SCRAM_MSG_MAX], m4[SCRAM_MSG_MAX];
	const char *err;
	scram_client_init_keys(&c, ck, &sec);
	scram_server_init(&s, &sec);
	ck_assert(scram_client_first(&c, m1, sizeof(m1)));
	ck_assert(scram_server_first(&s, "SCRAM-SHA-256", m1, strlen(m1), m2, sizeof(m2), &err));
	ck_assert(scram_client_final(&c, m2, strlen(m2), m3, sizeof(m3), &err));
	ck_assert(scram_server_final(&s, m3, strlen(m3), m4, sizeof(m4), &err));
	ck_assert(scram_client_verify(&c, m4, strlen(m4), &err));
}
END_TEST

START_TEST(wrong_password_fails)
{
	uint8_t ck[SCRAM_KEY_LEN];
	struct scram_secret sec = rfc_secret(ck);
	struct scram_client c;
	struct scram_server s;
	char m1[SCRAM_MSG_MAX], m2[SCRAM_MSG_MAX], m3[SCRAM_MSG_MAX], m4[SCRAM_MSG_MAX];
	const char *err;
	scram_client_init_password(&c, "pencil2");
	scram_server_init(&s, &sec);
	ck_assert(scram_client_first(&c, m1, sizeof(m1)));
	ck_assert(scram_server_first(&s, "SCRAM-SHA-256", m1, strlen(m1), m2, sizeof(m2), &err));
	ck_assert(scram_client_final(&c, m2, strlen(m2), m3, sizeof(m3), &err));
	ck_assert(!scram_server_final(&s, m3, strlen(m3), m4, sizeof(m4), &err));
	ck_assert_str_eq(err, "password authentication failed");
}
END_TEST

START_TEST(server_rejects_hostile_messages)
{
	uint8_t ck[SCRAM_KEY_LEN];
	struct scram_secret sec = rfc_secret(ck);
	struct scram_server s;
	char out[SCRAM_MSG_MAX];
	const char *err;
	static const char *const bad_first[] = {
		"", "x,,n=,r=abc", "n,n=,r=abc", "n,,r=abc", "n,,n=,", "n,,n=,r=", "n,,n=,r=a,b",
		"p=tls-server-end-point,,n=,r=abc", "n,a=bob,n=,r=abc", "n,,m=ext,n=,r=abc", "y", "n,,n=user",
	};
	for (size_t i = 0; i < sizeof(bad_first) / sizeof(bad_first[0]); i++) {
		scram_server_init(&s, &sec);
		ck_assert_msg(!scram_server_first(&s, "SCRAM-SHA-256", bad_first[i], strlen(bad_first[i]), out,
						  sizeof(out), &err),
			      "accepted bad client-first \"%s\"", bad_first[i]);
	}
	/* an unknown mechanism, and -PLUS when channel binding was not offered */
	scram_server_init(&s, &sec);
	ck_assert(!scram_server_first(&s, "SCRAM-SHA-1", "n,,n=,r=abc", 11, out, sizeof(out), &err));
	scram_server_init(&s, &sec);
	ck_assert(!scram_server_first(&s, "SCRAM-SHA-256-PLUS", "p=tls-server-end-point,,n=,r=abc", 32, out,
				      sizeof(out), &err));
	/* NUL inside, oversized */
	scram_server_init(&s, &sec);
	ck_assert(!scram_server_first(&s, "SCRAM-SHA-256", "n,,n=\0,r=abc", 12, out, sizeof(out), &err));
	char *big = malloc(SCRAM_MSG_MAX + 10);
	memset(big, 'a', SCRAM_MSG_MAX + 10);
	memcpy(big, "n,,n=,r=", 8);
	scram_server_init(&s, &sec);
	ck_assert(!scram_server_first(&s, "SCRAM-SHA-256", big, SCRAM_MSG_MAX + 10, out, sizeof(out), &err));
	free(big);

	/* client-final: wrong nonce, wrong binding, bad base64, missing proof */
	static const char *const bad_final[] = {
		"c=biws,r=WRONG,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		"c=eSws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=!!!",
		"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
		"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=AAAA",
		"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		"",
	};
	for (size_t i = 0; i < sizeof(bad_final) / sizeof(bad_final[0]); i++) {
		scram_server_init(&s, &sec);
		scram_test_set_nonce("%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
		ck_assert(scram_server_first(&s, "SCRAM-SHA-256", CLIENT_FIRST, strlen(CLIENT_FIRST), out,
					     sizeof(out), &err));
		ck_assert_msg(!scram_server_final(&s, bad_final[i], strlen(bad_final[i]), out, sizeof(out), &err),
			      "accepted bad client-final %zu", i);
	}
	/* messages out of order */
	scram_server_init(&s, &sec);
	ck_assert(!scram_server_final(&s, CLIENT_FINAL, strlen(CLIENT_FINAL), out, sizeof(out), &err));
	scram_test_set_nonce(NULL);
}
END_TEST

START_TEST(client_rejects_hostile_server)
{
	struct scram_client c;
	char out[SCRAM_MSG_MAX];
	const char *err;
	static const char *const bad[] = {
		"r=otherNonce123,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",     /* nonce does not extend ours */
		"r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", /* no server part */
		"r=rOprNGfwEbeRWgbNEkqOxyz,s=***,i=4096",
		"r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0",
		"r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=abc",
		"r=rOprNGfwEbeRWgbNEkqOxyz,i=4096",
		"e=other-error",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		scram_client_init_password(&c, "pencil");
		scram_test_set_nonce("rOprNGfwEbeRWgbNEkqO");
		ck_assert(scram_client_first(&c, out, sizeof(out)));
		ck_assert_msg(!scram_client_final(&c, bad[i], strlen(bad[i]), out, sizeof(out), &err),
			      "accepted bad server-first %zu", i);
	}
	/* a forged server signature */
	scram_client_init_password(&c, "pencil");
	c.username = "user";
	ck_assert(scram_client_first(&c, out, sizeof(out)));
	ck_assert(scram_client_final(&c, SERVER_FIRST, strlen(SERVER_FIRST), out, sizeof(out), &err));
	const char *forged = "v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
	ck_assert(!scram_client_verify(&c, forged, strlen(forged), &err));
	scram_test_set_nonce(NULL);
}
END_TEST

START_TEST(secrets)
{
	uint8_t ck[SCRAM_KEY_LEN];
	struct scram_secret s = rfc_secret(ck), p;
	char text[256];
	ck_assert(scram_format_secret(&s, text, sizeof(text)));
	ck_assert(scram_parse_secret(text, &p));
	ck_assert_int_eq(p.iterations, 4096);
	ck_assert_uint_eq(p.salt_len, 16);
	ck_assert_mem_eq(p.stored_key, s.stored_key, SCRAM_KEY_LEN);
	ck_assert_mem_eq(p.server_key, s.server_key, SCRAM_KEY_LEN);
	static const char *const bad[] = {
		"SCRAM-SHA-256$", "SCRAM-SHA-256$4096", "SCRAM-SHA-256$0:abc=$a:b", "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$short:short",
		"SCRAM-SHA-1$4096:W22ZaJ0SNY7soEsUEjb6gQ==$a:b", "md5abc",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(!scram_parse_secret(bad[i], &p), "accepted %s", bad[i]);
}
END_TEST

START_TEST(md5_hashes)
{
	char out[36];
	md5_password_hash("postgres", "postgres", out);
	ck_assert_str_eq(out, "md53175bce1d3201d16594cebf9d7eb3f9d");
	const uint8_t salt[4] = { 1, 2, 3, 4 };
	md5_salted(out, salt, out);
	ck_assert_str_eq(out, "md568be9ed08db75f318087ab337aaea044");
}
END_TEST

START_TEST(base64)
{
	char enc[16];
	uint8_t dec[16];
	ck_assert_int_eq(b64_encode((const uint8_t *)"ab", 2, enc, sizeof(enc)), 4);
	ck_assert_str_eq(enc, "YWI=");
	ck_assert_int_eq(b64_decode("YWI=", 4, dec, sizeof(dec)), 2);
	ck_assert_mem_eq(dec, "ab", 2);
	ck_assert_int_eq(b64_decode("YWI", 3, dec, sizeof(dec)), -1);
	ck_assert_int_eq(b64_decode("Y=WI", 4, dec, sizeof(dec)), -1);
	ck_assert_int_eq(b64_decode("YW*=", 4, dec, sizeof(dec)), -1);
	ck_assert_int_eq(b64_decode("YWJjZGVmZ2hpamtsbW5vcA==", 24, dec, 4), -1); /* too small */
	ck_assert_int_eq(b64_encode((const uint8_t *)"abcdef", 6, enc, 8), -1);
}
END_TEST

/* One full exchange between our client and our server with channel
 * binding settings on each side; returns the step that failed (0: none). */
static int cbind_exchange(char flag, const uint8_t *client_cb, bool offered, const uint8_t *server_cb,
			  const char *mech, const char **err)
{
	uint8_t ck[SCRAM_KEY_LEN];
	struct scram_secret sec = rfc_secret(ck);
	struct scram_client c;
	struct scram_server s;
	char m1[SCRAM_MSG_MAX], m2[SCRAM_MSG_MAX], m3[SCRAM_MSG_MAX], m4[SCRAM_MSG_MAX];
	scram_client_init_password(&c, "pencil");
	scram_client_set_cbind(&c, flag, client_cb, 32);
	scram_server_init(&s, &sec);
	s.cbind_offered = offered;
	s.cbind_data = server_cb;
	s.cbind_len = 32;
	ck_assert(scram_client_first(&c, m1, sizeof(m1)));
	if (!scram_server_first(&s, mech, m1, strlen(m1), m2, sizeof(m2), err))
		return 1;
	ck_assert(scram_client_final(&c, m2, strlen(m2), m3, sizeof(m3), err));
	if (!scram_server_final(&s, m3, strlen(m3), m4, sizeof(m4), err))
		return 2;
	ck_assert(scram_client_verify(&c, m4, strlen(m4), err));
	ck_assert_int_eq(s.cbind, flag == 'p' ? CBIND_TLS_SERVER_END_POINT : flag == 'y' ? CBIND_CLIENT_ONLY : CBIND_NONE);
	return 0;
}

START_TEST(channel_binding)
{
	uint8_t cert_hash[32], other[32];
	memset(cert_hash, 0xA5, sizeof(cert_hash));
	memset(other, 0x5A, sizeof(other));
	const char *err = NULL;
	/* SCRAM-SHA-256-PLUS, both sides see the same certificate */
	ck_assert_int_eq(cbind_exchange('p', cert_hash, true, cert_hash, "SCRAM-SHA-256-PLUS", &err), 0);
	/* a relay in the middle: the client saw another certificate */
	ck_assert_int_eq(cbind_exchange('p', other, true, cert_hash, "SCRAM-SHA-256-PLUS", &err), 2);
	ck_assert_str_eq(err, "SCRAM channel binding check failed");
	/* binding asked for but never offered (no TLS) */
	ck_assert_int_eq(cbind_exchange('p', cert_hash, false, cert_hash, "SCRAM-SHA-256-PLUS", &err), 1);
	ck_assert_str_eq(err, "channel binding was not offered");
	/* 'y' while we offered PLUS: someone stripped it from the list */
	ck_assert_int_eq(cbind_exchange('y', NULL, true, cert_hash, "SCRAM-SHA-256", &err), 1);
	ck_assert_str_eq(err, "SCRAM channel binding negotiation error");
	/* 'y' when we could not bind is fine, as is plain 'n' */
	ck_assert_int_eq(cbind_exchange('y', NULL, false, cert_hash, "SCRAM-SHA-256", &err), 0);
	ck_assert_int_eq(cbind_exchange('n', NULL, true, cert_hash, "SCRAM-SHA-256", &err), 0);
	/* flag and mechanism must agree */
	ck_assert_int_eq(cbind_exchange('n', NULL, true, cert_hash, "SCRAM-SHA-256-PLUS", &err), 1);
	ck_assert_int_eq(cbind_exchange('p', cert_hash, true, cert_hash, "SCRAM-SHA-256", &err), 1);
}
END_TEST

START_TEST(channel_binding_hostile)
{
	uint8_t ck[SCRAM_KEY_LEN];
	struct scram_secret sec = rfc_secret(ck);
	uint8_t cert_hash[32];
	memset(cert_hash, 1, sizeof(cert_hash));
	struct scram_server s;
	char out[SCRAM_MSG_MAX];
	const char *err;
	static const char *bad_first[] = {
		"p=tls-unique,,n=,r=abc",          /* another binding type */
		"p=tls-server-end-point,n=,r=abc", /* header cut short */
		"p=,,n=,r=abc",
		"p",
	};
	for (size_t i = 0; i < sizeof(bad_first) / sizeof(bad_first[0]); i++) {
		scram_server_init(&s, &sec);
		s.cbind_offered = true;
		s.cbind_data = cert_hash;
		s.cbind_len = 32;
		ck_assert_msg(!scram_server_first(&s, "SCRAM-SHA-256-PLUS", bad_first[i], strlen(bad_first[i]), out,
						  sizeof(out), &err), "accepted %s", bad_first[i]);
	}
	/* client-final whose c= drops the certificate hash */
	scram_server_init(&s, &sec);
	s.cbind_offered = true;
	s.cbind_data = cert_hash;
	s.cbind_len = 32;
	const char *first = "p=tls-server-end-point,,n=,r=abcdef";
	ck_assert(scram_server_first(&s, "SCRAM-SHA-256-PLUS", first, strlen(first), out, sizeof(out), &err));
	char final[SCRAM_MSG_MAX], c64[128];
	b64_encode((const uint8_t *)"p=tls-server-end-point,,", 24, c64, sizeof(c64));
	const char *nonce = out + 2;
	snprintf(final, sizeof(final), "c=%s,r=%.*s,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", c64,
		 (int)(strchr(nonce, ',') - nonce), nonce);
	ck_assert(!scram_server_final(&s, final, strlen(final), out, sizeof(out), &err));
	ck_assert_str_eq(err, "SCRAM channel binding check failed");
}
END_TEST

/* RFC 4013 section 3 examples, and Postgres's fallbacks. */
START_TEST(saslprep)
{
	static const struct { const char *in, *out; } cases[] = {
		{ "I\xC2\xAD" "X", "IX" },          /* SOFT HYPHEN mapped to nothing */
		{ "user", "user" },
		{ "USER", "USER" },                  /* no case folding */
		{ "\xC2\xAA", "a" },                 /* FEMININE ORDINAL INDICATOR, NFKC */
		{ "\xE2\x85\xA8", "IX" },            /* ROMAN NUMERAL NINE, NFKC */
		{ "a\xC2\xA0" "b", "a b" },          /* NO-BREAK SPACE mapped to space */
		{ "\x07", "\x07" },                  /* prohibited: used as is (Postgres does) */
		{ "\xD8\xA7" "1", "\xD8\xA7" "1" },  /* bidi rule broken: used as is */
		{ "\xFF\xFE" "abc", "\xFF\xFE" "abc" }, /* not UTF-8: used as is */
		{ "pencil", "pencil" },
		{ "", "" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = scram_saslprep(cases[i].in);
		ck_assert_ptr_nonnull(got);
		ck_assert_msg(strcmp(got, cases[i].out) == 0, "case %zu: got \"%s\"", i, got);
		free(got);
	}
	/* a secret made from the unnormalized form opens with the normalized one */
	uint8_t salt[16] = { 1, 2, 3 };
	struct scram_secret a, b;
	ck_assert(scram_secret_from_password("p@ss\xE2\x85\xA8", salt, sizeof(salt), 4096, &a, NULL));
	ck_assert(scram_secret_from_password("p@ssIX", salt, sizeof(salt), 4096, &b, NULL));
	ck_assert_mem_eq(a.stored_key, b.stored_key, SCRAM_KEY_LEN);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("scram");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, rfc7677_client);
	tcase_add_test(tc, secrets_postgres_made);
	tcase_add_test(tc, rfc7677_server);
	tcase_add_test(tc, passthrough_keys_log_in);
	tcase_add_test(tc, wrong_password_fails);
	tcase_add_test(tc, server_rejects_hostile_messages);
	tcase_add_test(tc, client_rejects_hostile_server);
	tcase_add_test(tc, secrets);
	tcase_add_test(tc, md5_hashes);
	tcase_add_test(tc, base64);
	tcase_add_test(tc, channel_binding);
	tcase_add_test(tc, channel_binding_hostile);
	tcase_add_test(tc, saslprep);
	suite_add_tcase(s, tc);
	return s;
}
