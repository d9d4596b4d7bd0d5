/*
 * Unit tests for src/tenant.c's tenant_valid: the gate every tenant id
 * passes before pgtide writes it into a SET. Hostile ids (quotes,
 * backslashes, control bytes, overlong, off-pattern) are refused with a
 * message naming the setting; good ones pass.
 */
#include "autoconf.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "pgtide.h"
#include "tenant.h"

#include "check_load.h"
#include "check_main.h"

/* a running configuration with this tenant_pattern ("" = none) */
static void configure(const char *pattern)
{
	char ini[512];
	snprintf(ini, sizeof(ini), "[pgtide]\nauth_type = trust\ntenant_pattern = %s\n", pattern);
	check_load_config(ini);
	g.tenant_setting = "app.current_tenant_id";
	tenant_module_init();
	char err[256];
	ck_assert_msg(tenant_configure(err, sizeof(err)), "%s", err);
}

static void unconfigure(void)
{
	tenant_module_free();
	config_free(g.cfg);
	g.cfg = NULL;
	g.tenant_setting = NULL;
}

static bool valid(const char *id, char *err, size_t len)
{
	err[0] = '\0';
	return tenant_valid(id, err, len);
}

START_TEST(default_pattern)
{
	configure("^[A-Za-z0-9_.-]{1,63}$");
	char err[256];
	ck_assert(valid("acme", err, sizeof(err)));
	ck_assert(valid("t_1.eu-west", err, sizeof(err)));
	ck_assert(valid("x", err, sizeof(err)));
	const char *bad[] = { "", "a b", "a'b", "';--", "caf\xc3\xa9", "a\nb",
			      "0123456789012345678901234567890123456789012345678901234567890123" /* 64 */ };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(!valid(bad[i], err, sizeof(err)), "accepted [%s]", bad[i]);
		/* the message names the setting, as Postgres names a parameter */
		ck_assert_msg(strstr(err, "invalid value for parameter \"app.current_tenant_id\""), "%s", err);
	}
	ck_assert(!valid("a b", err, sizeof(err)));
	ck_assert(strstr(err, "does not match tenant_pattern"));
	unconfigure();
}
END_TEST

START_TEST(never_whatever_the_pattern)
{
	/* an operator's pattern that allows anything still cannot let a byte
	 * through that could leave the quoted literal */
	configure("");
	char err[256];
	ck_assert(valid("any thing at all, even ; and --", err, sizeof(err)));
	ck_assert(valid("caf\xc3\xa9", err, sizeof(err)));
	const char *bad[] = { "a'b", "a\\b", "\\", "'", "a\x01", "\x7f", "tab\there", "nl\n" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(!valid(bad[i], err, sizeof(err)), "accepted [%s]", bad[i]);
		ck_assert_msg(strstr(err, "quotes, backslashes and control characters"), "%s", err);
	}
	/* length: 1024 bytes at most */
	char *id = malloc(1026);
	memset(id, 'a', 1025);
	id[1025] = '\0';
	ck_assert(!valid(id, err, sizeof(err)));
	ck_assert(strstr(err, "1 to 1024 bytes"));
	id[1024] = '\0';
	ck_assert(valid(id, err, sizeof(err)));
	free(id);
	/* a tiny error buffer is never overrun */
	char small[8];
	memset(small, '#', sizeof(small));
	ck_assert(!tenant_valid("a'b", small, 4));
	ck_assert_int_eq(small[3], '\0');
	ck_assert_int_eq(small[4], '#');
	unconfigure();
}
END_TEST

START_TEST(echo_is_bounded)
{
	configure("^[a-z]+$");
	char err[512];
	char id[300];
	memset(id, 'A', sizeof(id) - 1);
	id[sizeof(id) - 1] = '\0';
	ck_assert(!valid(id, err, sizeof(err)));
	/* an off-pattern id is echoed, cut at 64 bytes */
	ck_assert(strstr(err, "...\" does not match tenant_pattern"));
	ck_assert_uint_lt(strlen(err), 200);
	unconfigure();
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("tenant");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, default_pattern);
	tcase_add_test(tc, never_whatever_the_pattern);
	tcase_add_test(tc, echo_is_bounded);
	suite_add_tcase(s, tc);
	return s;
}
