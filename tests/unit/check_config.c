/*
 * Unit tests: configuration loading and validation (src/config.c):
 * PgBouncer-style files, %include, long lines, and broken input reported
 * as FILE:LINE.
 */
#include "autoconf.h"

#include <check.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "tls.h"
#include "check_main.h"

static char tmpdir[256];

static void setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/check_config.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

static char *write_file(const char *name, const char *text)
{
	static char path[512];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	return path;
}

/* Load text; returns config (or NULL) and leaves messages in d. */
static struct config *load(const char *text, struct cfg_diag *d, bool check)
{
	cfg_diag_init(d, check);
	char *p = write_file("pgtide.ini", text);
	return config_load(p, d);
}

static bool has_msg(struct cfg_diag *d, const char *needle)
{
	return d->text.data && strstr(d->text.data, needle);
}

START_TEST(defaults)
{
	struct cfg_diag d;
	struct config *c = load("[pgtide]\nauth_type = trust\n", &d, true);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(c->s.listen_port, 6432);
	ck_assert_int_eq(c->s.pool_mode, POOL_TRANSACTION);
	ck_assert_int_eq(c->s.default_pool_size, 20);
	ck_assert_int_eq(c->s.max_client_conn, 100);
	ck_assert_str_eq(c->s.tenant_setting, "app.current_tenant_id");
	ck_assert_str_eq(c->s.tenant_pattern, "^[A-Za-z0-9_.-]{1,63}$");
	ck_assert_int_eq(c->s.read_routing, RR_EXPLICIT);
	ck_assert_int_eq((int)(c->s.replica_check_period / USEC), 2);
	ck_assert_int_eq(c->s.replica_max_lag, 16 * 1024 * 1024);
	ck_assert_int_eq((int)(c->s.shutdown_timeout / USEC), 30);
	ck_assert_int_eq((int)(c->s.query_wait_timeout / USEC), 120);
	config_free(c);
	cfg_diag_free(&d);
}
END_TEST

START_TEST(pgbouncer_file_loads)
{
	struct cfg_diag d;
	const char *text =
		"; a PgBouncer file\n"
		"[databases]\n"
		"app = host=10.0.0.1 port=5433 dbname=appdb pool_size=7 pool_mode=session\n"
		"\"odd name\" = host=db user=u password='p w\\'x'\n"
		"* = host=fallback\n"
		"\n"
		"[pgbouncer]\n"
		"  listen_addr = *\n"
		"listen_port = 7000\n"
		"auth_type = trust\n"
		"pool_mode = statement ; inline comment\n"
		"server_idle_timeout = 1.5\n"
		"query_wait_timeout = 2min\n"
		"server_check_delay = 250ms\n"
		"admin_users = alice, \"bob\"\n"
		"replica_max_lag = 1GB\n"
		"log_connections = off\n"
		"[users]\n"
		"alice = pool_mode=transaction max_user_connections=3\n"
		"t1 = tenant=acme\n";
	struct config *c = load(text, &d, true);
	ck_assert_msg(c != NULL, "%s", d.text.data);
	ck_assert_str_eq(c->s.listen_addr, "*");
	ck_assert_int_eq(c->s.listen_port, 7000);
	ck_assert_int_eq(c->s.pool_mode, POOL_STATEMENT);
	ck_assert_int_eq(c->s.server_idle_timeout, 1500000);
	ck_assert_int_eq(c->s.query_wait_timeout, 120 * USEC);
	ck_assert_int_eq(c->s.server_check_delay, 250000);
	ck_assert_int_eq(c->s.replica_max_lag, 1LL << 30);
	ck_assert(!c->s.log_connections);
	ck_assert(cfg_list_contains(c->s.admin_users, "alice"));
	ck_assert(cfg_list_contains(c->s.admin_users, "bob"));
	ck_assert(!cfg_list_contains(c->s.admin_users, "carol"));
	ck_assert_int_eq(c->n_dbs, 3);
	const struct db_config *db = config_find_db(c, "app");
	ck_assert_str_eq(db->primary.host, "10.0.0.1");
	ck_assert_int_eq(db->primary.port, 5433);
	ck_assert_str_eq(db->dbname, "appdb");
	ck_assert_int_eq(db_pool_size(c, db), 7);
	ck_assert_int_eq(db_pool_mode(c, db, NULL), POOL_SESSION);
	db = config_find_db(c, "odd name");
	ck_assert_ptr_nonnull(db);
	ck_assert_str_eq(db->password, "p w'x");
	ck_assert_ptr_nonnull(config_find_db(c, "*"));
	const struct user_config *u = config_find_user(c, "alice");
	ck_assert_int_eq(u->pool_mode, POOL_TRANSACTION);
	ck_assert_int_eq(u->max_user_connections, 3);
	ck_assert_str_eq(config_find_user(c, "t1")->tenant, "acme");
	config_free(c);
	cfg_diag_free(&d);
}
END_TEST

START_TEST(pgtide_settings)
{
	struct cfg_diag d;
	const char *text =
		"[databases]\n"
		"app = host=p replicas=r1:5433,[::1]:5434,r3 read_routing=auto tenant_required=1\n"
		"[pgtide]\n"
		"auth_type = trust\n"
		"read_routing = off\n"
		"replica_fallback = error\n"
		"tenant_setting = myapp.tenant\n"
		"tenant_required = yes\n"
		"metrics_port = 9127\n";
	struct config *c = load(text, &d, true);
	ck_assert_msg(c != NULL, "%s", d.text.data);
	const struct db_config *db = config_find_db(c, "app");
	ck_assert_int_eq(db->n_replicas, 3);
	ck_assert_str_eq(db->replicas[0].host, "r1");
	ck_assert_int_eq(db->replicas[0].port, 5433);
	ck_assert_str_eq(db->replicas[1].host, "::1");
	ck_assert_int_eq(db->replicas[1].port, 5434);
	ck_assert_int_eq(db->replicas[2].port, 5432);
	ck_assert_int_eq(db_read_routing(c, db), RR_AUTO);
	ck_assert(db_tenant_required(c, db));
	ck_assert_int_eq(c->s.read_routing, RR_OFF);
	ck_assert_int_eq(c->s.replica_fallback, RF_ERROR);
	config_free(c);
	cfg_diag_free(&d);
}
END_TEST

START_TEST(host_lists)
{
	struct cfg_diag d;
	const char *text =
		"[databases]\n"
		"ha = host=a,b:5433,[::1]:5434,A,b:5433,c port=6000\n"
		"ha2 = hosts=x,x\n"
		"one = host=solo\n"
		"[pgtide]\n"
		"auth_type = trust\n"
		"replica_check_user = monitor\n"
		"replica_check_password = p w\n";
	struct config *c = load(text, &d, true);
	ck_assert_msg(c != NULL, "%s", d.text.data);
	const struct db_config *db = config_find_db(c, "ha");
	/* a host named twice is one server (A is a), not two primaries */
	ck_assert_int_eq(db->n_hosts, 4);
	ck_assert_str_eq(db->hosts[0].host, "a");
	ck_assert_int_eq(db->hosts[0].port, 0); /* the line's port= */
	ck_assert_str_eq(db->hosts[1].host, "b");
	ck_assert_int_eq(db->hosts[1].port, 5433);
	ck_assert_str_eq(db->hosts[2].host, "::1");
	ck_assert_int_eq(db->hosts[2].port, 5434);
	ck_assert_str_eq(db->hosts[3].host, "c");
	ck_assert_int_eq(db->primary.port, 6000);
	/* a list of one host after all is that host: no role checks */
	ck_assert_int_eq(config_find_db(c, "ha2")->n_hosts, 0);
	ck_assert_str_eq(config_find_db(c, "ha2")->primary.host, "x");
	ck_assert_int_eq(config_find_db(c, "one")->n_hosts, 0);
	ck_assert_str_eq(config_find_db(c, "one")->primary.host, "solo");
	ck_assert_str_eq(c->s.replica_check_user, "monitor");
	ck_assert_str_eq(c->s.replica_check_password, "p w");
	config_free(c);
	cfg_diag_free(&d);

	/* roles given and not given at once; broken entries */
	const char *bad =
		"[databases]\n"                          /* 1 */
		"x = host=a,b replicas=c\n"               /* 2 */
		"y = host=a,b:0\n"                        /* 3 */
		"z = hosts=a:99999,b\n";                  /* 4 */
	c = load(bad, &d, true);
	ck_assert_ptr_null(c);
	ck_assert_msg(has_msg(&d, "/pgtide.ini:2: "), "%s", d.text.data);
	ck_assert_msg(has_msg(&d, "/pgtide.ini:3: "), "%s", d.text.data);
	ck_assert_msg(has_msg(&d, "/pgtide.ini:4: "), "%s", d.text.data);
	cfg_diag_free(&d);
}
END_TEST

START_TEST(errors_name_file_and_line)
{
	struct cfg_diag d;
	const char *text =
		"[pgtide]\n"                     /* 1 */
		"listen_port = seventy\n"        /* 2 */
		"pool_mode = sometimes\n"        /* 3 */
		"no_such_setting = 1\n"          /* 4 */
		"this line has no equals\n"      /* 5 */
		"[databases\n"                   /* 6 */
		"[databases]\n"                  /* 7 */
		"app = host=x port=99999\n"      /* 8 */
		"bad = host='unterminated\n"     /* 9 */
		"worse = colour=blue\n"          /* 10 */
		"[users]\n"                      /* 11 */
		"u = tenant=\n"                  /* 12 */
		"[pgtide]\n"                     /* 13 */
		"default_pool_size = -4\n"       /* 14 */
		"server_lifetime = soon\n"       /* 15 */
		"tcp_keepalive = maybe\n"        /* 16 */
		"[databases]\n"                  /* 17 */
		"nameless = host=x =1\n"         /* 18: found by fuzz_files (a NULL key) */
		"quoteless = ='x\n";             /* 19 */
	struct config *c = load(text, &d, true);
	ck_assert_ptr_null(c);
	char exp[512];
	const int lines[] = { 2, 3, 4, 5, 6, 8, 9, 10, 12, 14, 15, 16, 18, 19 };
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		snprintf(exp, sizeof(exp), "/pgtide.ini:%d: ", lines[i]);
		ck_assert_msg(has_msg(&d, exp), "no error at line %d in:\n%s", lines[i], d.text.data);
	}
	ck_assert(has_msg(&d, "listen_port"));
	ck_assert(has_msg(&d, "expected one of session, transaction, statement"));
	ck_assert(has_msg(&d, "unknown setting \"no_such_setting\""));
	ck_assert(has_msg(&d, "unterminated quoted value"));
	ck_assert(has_msg(&d, "unknown parameter \"colour\""));
	ck_assert(has_msg(&d, "a \"=\" with no name before it"));
	cfg_diag_free(&d);
}
END_TEST

START_TEST(peers_and_read_your_writes)
{
	struct cfg_diag d;
	struct config *c = load("[databases]\n"
				"a = host=x replicas=y read_your_writes=tenant\n"
				"b = host=x\n"
				"[pgtide]\nauth_type = trust\npeer_id = 2\nread_your_writes = client\nread_your_writes_timeout = 20ms\n"
				"[peers]\n"
				"3 = host=/run/pgtide/3 port=6433\n"
				"1 = host=10.0.0.1\n"
				"2 = host='/run/pgtide/2'\n"
				"1 = host=10.0.0.9 port=7000\n", /* a later line wins */
				&d, true);
	ck_assert_msg(c != NULL, "%s", d.text.data ? d.text.data : "");
	ck_assert_int_eq(c->s.peer_id, 2);
	ck_assert_int_eq(c->n_peers, 3);
	const struct peer_config *p = config_find_peer(c, 1);
	ck_assert_ptr_nonnull(p);
	ck_assert_str_eq(p->host, "10.0.0.9");
	ck_assert_int_eq(p->port, 7000);
	ck_assert_int_eq(config_find_peer(c, 3)->port, 6433);
	ck_assert_int_eq(config_find_peer(c, 2)->port, 6432); /* the default */
	ck_assert_ptr_null(config_find_peer(c, 4));
	ck_assert_int_eq(db_read_your_writes(c, config_find_db(c, "a")), RYW_TENANT);
	ck_assert_int_eq(db_read_your_writes(c, config_find_db(c, "b")), RYW_CLIENT);
	ck_assert_int_eq(c->s.read_your_writes_timeout, 20000);
	struct config *dup = config_dup(c);
	ck_assert_str_eq(config_find_peer(dup, 3)->host, "/run/pgtide/3");
	config_free(dup);
	config_free(c);
	cfg_diag_free(&d);

	const char *bad =
		"[peers]\n"                     /* 1 */
		"0 = host=a\n"                  /* 2: ids start at 1 */
		"2048 = host=a\n"               /* 3: past PEER_ID_MAX */
		"x = host=a\n"                  /* 4 */
		"5 = port=6432\n"               /* 5: no host */
		"6 = host=a colour=blue\n"      /* 6 */
		"7 = host=a port=70000\n"       /* 7 */
		"[pgtide]\n"                    /* 8 */
		"peer_id = 5000\n"              /* 9 */
		"read_your_writes = always\n"   /* 10 */
		"read_your_writes_timeout = x\n"/* 11 */
		"[databases]\n"                 /* 12 */
		"d = host=x read_your_writes=1\n"; /* 13 */
	c = load(bad, &d, true);
	ck_assert_ptr_null(c);
	char exp[64];
	for (int line = 2; line <= 13; line++) {
		if (line == 8 || line == 12)
			continue;
		snprintf(exp, sizeof(exp), "/pgtide.ini:%d: ", line);
		ck_assert_msg(has_msg(&d, exp), "no error at line %d in:\n%s", line, d.text.data);
	}
	ck_assert(has_msg(&d, "invalid peer id \"0\": expected 1..2047"));
	ck_assert(has_msg(&d, "host= is required"));
	ck_assert(has_msg(&d, "unknown peer setting \"colour\""));
	ck_assert(has_msg(&d, "expected off, client or tenant"));
	cfg_diag_free(&d);
}
END_TEST

START_TEST(unknown_setting_is_warning_at_run_time)
{
	struct cfg_diag d;
	struct config *c = load("[pgbouncer]\nno_such_setting = 1\ndns_max_ttl = 15\nauth_type = any\n", &d, false);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(d.errors, 0);
	ck_assert_int_eq(d.warnings, 2);
	ck_assert(has_msg(&d, ":2: warning: unknown setting"));
	ck_assert(has_msg(&d, ":3: warning: setting \"dns_max_ttl\" is accepted for PgBouncer compatibility"));
	config_free(c);
	cfg_diag_free(&d);
	/* a database line with a newer PgBouncer's parameter: that database is
	 * skipped with a warning, the others load */
	c = load("[databases]\nnew = host=x load_balance_hosts=y\nold = host=x\n[pgbouncer]\nauth_type = any\n", &d, false);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(d.errors, 0);
	ck_assert(has_msg(&d, ":2: warning: database \"new\": unknown parameter \"load_balance_hosts\""));
	ck_assert(has_msg(&d, "the database is skipped"));
	ck_assert_ptr_null(config_find_db(c, "new"));
	ck_assert_ptr_nonnull(config_find_db(c, "old"));
	config_free(c);
	cfg_diag_free(&d);
	/* auth_dbname, on a line and globally */
	c = load("[databases]\nauthdb = host=x\napp = host=x auth_dbname=authdb\n[pgbouncer]\nauth_type = any\n"
		 "auth_dbname = other\n", &d, false);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(d.errors, 0);
	ck_assert_str_eq(config_find_db(c, "app")->auth_dbname, "authdb");
	ck_assert_str_eq(c->s.auth_dbname, "other");
	config_free(c);
	cfg_diag_free(&d);
}
END_TEST

START_TEST(validation_rules)
{
	struct cfg_diag d;
	struct config *c = load("[pgtide]\nauth_type = md5\n", &d, true);
	ck_assert_ptr_null(c);
	ck_assert(has_msg(&d, "pgtide.ini:2: auth_type = md5 needs auth_file"));
	cfg_diag_free(&d);

	c = load("[pgtide]\nauth_type = trust\ntenant_pattern = ^[a-(\n", &d, true);
	ck_assert_ptr_null(c);
	ck_assert(has_msg(&d, "pgtide.ini:3: invalid tenant_pattern"));
	cfg_diag_free(&d);

	c = load("[pgtide]\nauth_type = trust\ntenant_setting = notdotted\n", &d, true);
	ck_assert_ptr_null(c);
	ck_assert(has_msg(&d, "pgtide.ini:3: invalid tenant_setting"));
	cfg_diag_free(&d);

	c = load("[pgtide]\nauth_type = trust\n[users]\nbob = tenant=a'b\n", &d, true);
	ck_assert_ptr_null(c);
	ck_assert(has_msg(&d, "pgtide.ini:4: user \"bob\": tenant \"a'b\" does not match tenant_pattern"));
	cfg_diag_free(&d);

	c = load("[pgtide]\nauth_type = trust\n[databases]\npgbouncer = host=x\n", &d, true);
	ck_assert_ptr_null(c);
	ck_assert(has_msg(&d, "pgtide.ini:4: database name \"pgbouncer\" is reserved"));
	cfg_diag_free(&d);

	c = load("[pgtide]\nauth_type = trust\nlisten_port = 6432\nadmin_listen_port = 6432\n", &d, true);
	ck_assert_ptr_null(c);
	ck_assert(has_msg(&d, "pgtide.ini:4: admin_listen_port must differ"));
	cfg_diag_free(&d);

	c = load("[pgtide]\nauth_type = trust\nclient_tls_protocols = tlsv1.2, sslv3\n", &d, true);
	ck_assert_ptr_null(c);
	ck_assert(has_msg(&d, "pgtide.ini:3: unknown TLS protocol list"));
	cfg_diag_free(&d);

	c = load("[pgtide]\nauth_type = trust\nclient_tls_sslmode = verify-full\nclient_tls_cert_file = a\n"
		 "client_tls_key_file = b\n", &d, true);
	ck_assert_ptr_null(c);
	ck_assert(has_msg(&d, "client_tls_sslmode = verify-full needs client_tls_ca_file"));
	cfg_diag_free(&d);

	c = load("auth_type = trust\n", &d, true);
	ck_assert_ptr_null(c);
	ck_assert(has_msg(&d, "pgtide.ini:1: setting \"auth_type\" outside of any section"));
	cfg_diag_free(&d);
}
END_TEST

START_TEST(tls_protocol_lists)
{
	int lo, hi;
	ck_assert(tls_parse_protocols("secure", &lo, &hi));
	ck_assert_int_eq(lo, TLS1_2_VERSION);
	ck_assert_int_eq(hi, TLS1_3_VERSION);
	ck_assert(tls_parse_protocols("TLSv1.3", &lo, &hi));
	ck_assert_int_eq(lo, TLS1_3_VERSION);
	ck_assert(tls_parse_protocols("tlsv1.1,tlsv1.2", &lo, &hi));
	ck_assert_int_eq(lo, TLS1_1_VERSION);
	ck_assert_int_eq(hi, TLS1_2_VERSION);
	ck_assert(tls_parse_protocols(" all ", &lo, &hi));
	ck_assert_int_eq(lo, TLS1_VERSION);
	ck_assert(tls_parse_protocols("legacy:tlsv1.3", &lo, &hi));
	ck_assert(!tls_parse_protocols("", &lo, &hi));
	ck_assert(!tls_parse_protocols(",", &lo, &hi));
	ck_assert(!tls_parse_protocols("sslv3", &lo, &hi));
	ck_assert(!tls_parse_protocols("tlsv1.2,bogus", &lo, &hi));
	ck_assert(!tls_parse_protocols("tlsv1.", &lo, &hi));
}
END_TEST

START_TEST(include_files)
{
	struct cfg_diag d;
	write_file("dbs.ini", "[databases]\ninc = host=included\n");
	write_file("more.ini", "default_pool_size = 3\n%include dbs.ini\n");
	struct config *c = load("[pgtide]\nauth_type = trust\n%include more.ini\nmax_client_conn = 9\n", &d, true);
	ck_assert_msg(c != NULL, "%s", d.text.data);
	ck_assert_int_eq(c->s.default_pool_size, 3); /* continues the including section */
	ck_assert_int_eq(c->s.max_client_conn, 9);
	ck_assert_ptr_nonnull(config_find_db(c, "inc"));
	config_free(c);
	cfg_diag_free(&d);

	c = load("[pgtide]\n%include missing.ini\n", &d, true);
	ck_assert_ptr_null(c);
	ck_assert(has_msg(&d, "pgtide.ini:2: could not open included file"));
	cfg_diag_free(&d);

	write_file("loop.ini", "%include loop.ini\n");
	c = load("[pgtide]\n%include loop.ini\n", &d, true);
	ck_assert_ptr_null(c);
	ck_assert(has_msg(&d, "nested too deeply"));
	cfg_diag_free(&d);

	/* an error inside an included file names that file */
	write_file("broken.ini", "\n\nlisten_port = x\n");
	c = load("[pgtide]\n%include broken.ini\n", &d, true);
	ck_assert_ptr_null(c);
	ck_assert(has_msg(&d, "/broken.ini:3: invalid value \"x\" for listen_port"));
	cfg_diag_free(&d);
}
END_TEST

START_TEST(long_lines_and_odd_syntax)
{
	struct cfg_diag d;
	char text[4096];
	char longhost[600];
	memset(longhost, 'h', sizeof(longhost) - 1);
	longhost[sizeof(longhost) - 1] = '\0';
	snprintf(text, sizeof(text),
		 "\xEF\xBB\xBF[pgtide]\n"
		 "\tauth_type = trust\n"
		 "    listen_port = 6500\n"
		 "[databases]\n"
		 "big = host=%s port=5000 dbname=x\n"
		 "after = host=y\n",
		 longhost);
	struct config *c = load(text, &d, true);
	ck_assert_msg(c != NULL, "%s", d.text.data);
	ck_assert_int_eq(c->s.listen_port, 6500);
	const struct db_config *db = config_find_db(c, "big");
	ck_assert_ptr_nonnull(db);
	ck_assert_str_eq(db->primary.host, longhost);
	ck_assert_int_eq(db->primary.port, 5000);
	ck_assert_ptr_nonnull(config_find_db(c, "after"));
	config_free(c);
	cfg_diag_free(&d);

	/* a long line with an error still gets the right line number */
	snprintf(text, sizeof(text), "[databases]\n\nbig = host=%s port=banana\n", longhost);
	c = load(text, &d, true);
	ck_assert_ptr_null(c);
	ck_assert(has_msg(&d, "pgtide.ini:3: database \"big\": invalid value \"banana\""));
	cfg_diag_free(&d);
}
END_TEST

START_TEST(value_parsers)
{
	usec_t t;
	ck_assert(parse_time_usec("0", &t) && t == 0);
	ck_assert(parse_time_usec("1.5", &t) && t == 1500000);
	ck_assert(parse_time_usec("10ms", &t) && t == 10000);
	ck_assert(parse_time_usec("2 min", &t) && t == 120 * USEC);
	ck_assert(!parse_time_usec("-1", &t));
	ck_assert(!parse_time_usec("5 fortnights", &t));
	ck_assert(!parse_time_usec("", &t));
	int64_t b;
	ck_assert(parse_bytes("16MB", &b) && b == 16 << 20);
	ck_assert(parse_bytes("100", &b) && b == 100);
	ck_assert(!parse_bytes("-5", &b));
	ck_assert(!parse_bytes("9999999999999TB", &b));
	ck_assert(!parse_bytes("12 parsecs", &b));
	bool v;
	ck_assert(parse_bool("On", &v) && v);
	ck_assert(parse_bool("0", &v) && !v);
	ck_assert(!parse_bool("2", &v));
	ck_assert(tenant_setting_valid("app.current_tenant_id"));
	ck_assert(tenant_setting_valid("a.b.c"));
	ck_assert(!tenant_setting_valid("nodot"));
	ck_assert(!tenant_setting_valid("app.x;drop"));
	ck_assert(!tenant_setting_valid("app."));
	ck_assert(!tenant_setting_valid(".x"));
	ck_assert(!tenant_setting_valid("app.'x'"));
	struct host_port *hp;
	int n;
	char err[128];
	ck_assert(parse_host_port_list("a:1, b ,[fe80::1]:7", &hp, &n, 5432, err, sizeof(err)));
	ck_assert_int_eq(n, 3);
	ck_assert_int_eq(hp[1].port, 5432);
	ck_assert_str_eq(hp[2].host, "fe80::1");
	for (int i = 0; i < n; i++)
		free(hp[i].host);
	free(hp);
	ck_assert(!parse_host_port_list("a:0", &hp, &n, 5432, err, sizeof(err)));
	ck_assert(!parse_host_port_list("[::1", &hp, &n, 5432, err, sizeof(err)));
	ck_assert(!parse_host_port_list(":5", &hp, &n, 5432, err, sizeof(err)));
}
END_TEST

START_TEST(table_access)
{
	struct cfg_diag d;
	struct config *c = load("[pgtide]\nauth_type = trust\nlisten_port = 7001\n", &d, true);
	ck_assert_ptr_nonnull(c);
	char buf[128], msg[256];
	int k = config_key_find("server_lifetime");
	ck_assert_int_ge(k, 0);
	config_format(c, k, buf, sizeof(buf));
	ck_assert_str_eq(buf, "3600");
	ck_assert(config_set(c, "server_lifetime", "90", msg, sizeof(msg)));
	config_format(c, k, buf, sizeof(buf));
	ck_assert_str_eq(buf, "90");
	ck_assert(!config_set(c, "listen_port", "1", msg, sizeof(msg)));
	ck_assert(strstr(msg, "cannot be changed online"));
	ck_assert(!config_set(c, "default_pool_size", "lots", msg, sizeof(msg)));
	ck_assert(!config_set(c, "bogus", "1", msg, sizeof(msg)));

	struct config *c2 = load("[pgtide]\nauth_type = trust\nlisten_port = 7002\ndefault_pool_size = 4\n", &d, true);
	ck_assert_ptr_nonnull(c2);
	ck_assert_int_eq(config_carry_fixed(c2, c, NULL), 1);
	ck_assert_int_eq(c2->s.listen_port, 7001);       /* needs a restart: kept */
	ck_assert_int_eq(c2->s.default_pool_size, 4);    /* reloadable: taken */
	struct config *dup = config_dup(c2);
	ck_assert_int_eq(dup->s.default_pool_size, 4);
	config_free(dup);
	config_free(c2);
	config_free(c);
	cfg_diag_free(&d);
}
END_TEST

/* etc/pgtide.ini documents every setting with its default, and is valid. */
START_TEST(sample_file_documents_every_setting)
{
	const char *src = getenv("srcdir");
	char path[1024];
	snprintf(path, sizeof(path), "%s/etc/pgtide.ini", src ? src : ".");
	FILE *f = fopen(path, "r");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	char *text = NULL;
	size_t cap = 0;
	ssize_t n = getdelim(&text, &cap, '\0', f);
	fclose(f);
	ck_assert_int_gt(n, 0);
	for (int i = 0; i < config_key_count(); i++) {
		const struct cfg_key_info *k = config_key(i);
		char want[512];
		snprintf(want, sizeof(want), "\n;%s = %s\n", k->name, k->def);
		if (!*k->def)
			snprintf(want, sizeof(want), "\n;%s =\n", k->name);
		ck_assert_msg(strstr(text, want) != NULL, "etc/pgtide.ini lacks \"%s\"", want + 1);
	}
	free(text);
	struct cfg_diag d;
	cfg_diag_init(&d, true);
	struct config *c = config_load(path, &d);
	ck_assert_msg(c != NULL, "%s", d.text.data);
	config_free(c);
	cfg_diag_free(&d);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, defaults);
	tcase_add_test(tc, pgbouncer_file_loads);
	tcase_add_test(tc, pgtide_settings);
	tcase_add_test(tc, host_lists);
	tcase_add_test(tc, errors_name_file_and_line);
	tcase_add_test(tc, peers_and_read_your_writes);
	tcase_add_test(tc, unknown_setting_is_warning_at_run_time);
	tcase_add_test(tc, validation_rules);
	tcase_add_test(tc, include_files);
	tcase_add_test(tc, tls_protocol_lists);
	tcase_add_test(tc, long_lines_and_odd_syntax);
	tcase_add_test(tc, value_parsers);
	tcase_add_test(tc, table_access);
	tcase_add_test(tc, sample_file_documents_every_setting);
	suite_add_tcase(s, tc);
	return s;
}
