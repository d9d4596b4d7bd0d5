/*
 * Configuration: the settings table, the ini loader and validation.
 *
 * Owns: struct config. inih does the ini syntax; this file feeds it one line
 * at a time through its own reader (which counts lines for FILE:LINE
 * messages, expands %include, lifts inih's 200-byte line limit and drops
 * leading indentation), then validates each value against the key table.
 * Must not touch runtime objects: applying a config belongs to pool.c.
 */
#include "autoconf.h"

#include "config.h"
#include "tls.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/strbuf.h"

enum cfg_type { T_INT, T_BOOL, T_STR, T_ENUM, T_TIME, T_BYTES, T_OCTAL, T_NONE };

struct cfg_enum {
	const char *name;
	int value;
};

struct cfg_key {
	const char *name;
	enum cfg_type type;
	size_t off;
	const char *def;
	unsigned flags;
	const struct cfg_enum *en;
	int64_t min, max;
};

static const struct cfg_enum pool_modes[] = {
	{ "session", POOL_SESSION }, { "transaction", POOL_TRANSACTION },
	{ "statement", POOL_STATEMENT }, { NULL, 0 },
};
static const struct cfg_enum auth_types[] = {
	{ "trust", AUTH_TRUST }, { "any", AUTH_ANY }, { "plain", AUTH_PLAIN },
	{ "md5", AUTH_MD5 }, { "scram-sha-256", AUTH_SCRAM }, { "hba", AUTH_HBA },
	{ "cert", AUTH_CERT }, { NULL, 0 },
};
static const struct cfg_enum routings[] = {
	{ "off", RR_OFF }, { "explicit", RR_EXPLICIT }, { "auto", RR_AUTO }, { NULL, 0 },
};
static const struct cfg_enum fallbacks[] = {
	{ "primary", RF_PRIMARY }, { "error", RF_ERROR }, { NULL, 0 },
};
static const struct cfg_enum ryw_modes[] = {
	{ "off", RYW_OFF }, { "client", RYW_CLIENT }, { "tenant", RYW_TENANT }, { NULL, 0 },
};
static const struct cfg_enum switch_resets[] = {
	{ "off", 0 }, { "bound", 1 }, { "always", 2 }, { NULL, 0 },
};
static const struct cfg_enum tls_modes[] = {
	{ "disable", TLS_DISABLE }, { "allow", TLS_ALLOW }, { "prefer", TLS_PREFER },
	{ "require", TLS_REQUIRE }, { "verify-ca", TLS_VERIFY_CA },
	{ "verify-full", TLS_VERIFY_FULL }, { NULL, 0 },
};

#define OFF(f) offsetof(struct settings, f)
#define NOOFF ((size_t)-1)
#define R CF_RELOAD
#define I32 0, INT_MAX

/* One row per setting: name, type, storage, default, flags, limits. */
static const struct cfg_key keys[] = {
	/* listening: sockets are opened once, so these need a restart */
	{ "listen_addr", T_STR, OFF(listen_addr), "127.0.0.1", 0, NULL, 0, 0 },
	{ "listen_port", T_INT, OFF(listen_port), "6432", 0, NULL, 1, 65535 },
	{ "unix_socket_dir", T_STR, OFF(unix_socket_dir), "/tmp", 0, NULL, 0, 0 },
	{ "unix_socket_mode", T_OCTAL, OFF(unix_socket_mode), "0777", 0, NULL, 0, 0777 },
	{ "unix_socket_group", T_STR, OFF(unix_socket_group), "", 0, NULL, 0, 0 },
	{ "listen_backlog", T_INT, OFF(listen_backlog), "128", 0, NULL, 1, 65535 },
	{ "so_reuseport", T_BOOL, OFF(so_reuseport), "0", 0, NULL, 0, 0 },
	{ "peer_id", T_INT, OFF(peer_id), "0", 0, NULL, 0, PEER_ID_MAX },
	{ "admin_listen_port", T_INT, OFF(admin_listen_port), "0", 0, NULL, 0, 65535 },
	{ "metrics_port", T_INT, OFF(metrics_port), "0", 0, NULL, 0, 65535 },
	{ "metrics_listen_addr", T_STR, OFF(metrics_listen_addr), "", 0, NULL, 0, 0 },

	/* authentication */
	{ "auth_type", T_ENUM, OFF(auth_type), "md5", R, auth_types, 0, 0 },
	{ "auth_file", T_STR, OFF(auth_file), "", R, NULL, 0, 0 },
	{ "auth_hba_file", T_STR, OFF(auth_hba_file), "", R, NULL, 0, 0 },
	{ "auth_user", T_STR, OFF(auth_user), "", R, NULL, 0, 0 },
	{ "auth_dbname", T_STR, OFF(auth_dbname), "", R, NULL, 0, 0 },
	{ "auth_query", T_STR, OFF(auth_query),
	  "SELECT rolname, CASE WHEN rolvaliduntil < now() THEN NULL ELSE rolpassword END "
	  "FROM pg_authid WHERE rolname=$1 AND rolcanlogin", R, NULL, 0, 0 },
	{ "admin_users", T_STR, OFF(admin_users), "", R, NULL, 0, 0 },
	{ "stats_users", T_STR, OFF(stats_users), "", R, NULL, 0, 0 },

	/* pooling */
	{ "pool_mode", T_ENUM, OFF(pool_mode), "transaction", R, pool_modes, 0, 0 },
	{ "max_client_conn", T_INT, OFF(max_client_conn), "100", R, NULL, 1, INT_MAX },
	{ "default_pool_size", T_INT, OFF(default_pool_size), "20", R, NULL, I32 },
	{ "min_pool_size", T_INT, OFF(min_pool_size), "0", R, NULL, I32 },
	{ "reserve_pool_size", T_INT, OFF(reserve_pool_size), "0", R, NULL, I32 },
	{ "reserve_pool_timeout", T_TIME, OFF(reserve_pool_timeout), "5", R, NULL, 0, 0 },
	{ "max_db_connections", T_INT, OFF(max_db_connections), "0", R, NULL, I32 },
	{ "max_user_connections", T_INT, OFF(max_user_connections), "0", R, NULL, I32 },
	{ "server_round_robin", T_BOOL, OFF(server_round_robin), "0", R, NULL, 0, 0 },
	{ "server_fast_close", T_BOOL, OFF(server_fast_close), "0", R, NULL, 0, 0 },
	{ "server_reset_query", T_STR, OFF(server_reset_query), "DISCARD ALL", R, NULL, 0, 0 },
	{ "server_reset_query_always", T_BOOL, OFF(server_reset_query_always), "0", R, NULL, 0, 0 },
	{ "server_check_query", T_STR, OFF(server_check_query), "select 1", R, NULL, 0, 0 },
	{ "server_check_delay", T_TIME, OFF(server_check_delay), "30", R, NULL, 0, 0 },
	{ "max_prepared_statements", T_INT, OFF(max_prepared_statements), "200", R, NULL, I32 },
	{ "max_bound_servers", T_INT, OFF(max_bound_servers), "-1", R, NULL, -1, INT_MAX },
	{ "tenant_switch_reset", T_ENUM, OFF(tenant_switch_reset), "bound", R, switch_resets, 0, 0 },
	{ "max_tenant_servers", T_INT, OFF(max_tenant_servers), "0", R, NULL, I32 },
	{ "max_tenant_connections", T_INT, OFF(max_tenant_connections), "0", R, NULL, I32 },
	{ "tenant_xact_rate", T_INT, OFF(tenant_xact_rate), "0", R, NULL, 0, 1000000 },
	{ "ignore_startup_parameters", T_STR, OFF(ignore_startup_parameters), "", R, NULL, 0, 0 },
	{ "max_packet_size", T_INT, OFF(max_packet_size), "2147483647", R, NULL, 9, INT_MAX },
	{ "pkt_buf", T_INT, OFF(pkt_buf), "16384", 0, NULL, 1024, 1048576 },

	/* timeouts */
	{ "server_lifetime", T_TIME, OFF(server_lifetime), "3600", R, NULL, 0, 0 },
	{ "server_idle_timeout", T_TIME, OFF(server_idle_timeout), "600", R, NULL, 0, 0 },
	{ "server_connect_timeout", T_TIME, OFF(server_connect_timeout), "15", R, NULL, 0, 0 },
	{ "server_login_retry", T_TIME, OFF(server_login_retry), "15", R, NULL, 0, 0 },
	{ "query_timeout", T_TIME, OFF(query_timeout), "0", R, NULL, 0, 0 },
	{ "query_wait_timeout", T_TIME, OFF(query_wait_timeout), "120", R, NULL, 0, 0 },
	{ "client_idle_timeout", T_TIME, OFF(client_idle_timeout), "0", R, NULL, 0, 0 },
	{ "client_login_timeout", T_TIME, OFF(client_login_timeout), "60", R, NULL, 0, 0 },
	{ "idle_transaction_timeout", T_TIME, OFF(idle_transaction_timeout), "0", R, NULL, 0, 0 },
	{ "suspend_timeout", T_TIME, OFF(suspend_timeout), "10", R, NULL, 0, 0 },
	{ "autodb_idle_timeout", T_TIME, OFF(autodb_idle_timeout), "3600", R, NULL, 0, 0 },
	{ "shutdown_timeout", T_TIME, OFF(shutdown_timeout), "30", R, NULL, 0, 0 },

	/* TLS */
	{ "client_tls_sslmode", T_ENUM, OFF(client_tls_sslmode), "disable", R, tls_modes, 0, 0 },
	{ "client_tls_cert_file", T_STR, OFF(client_tls_cert_file), "", R, NULL, 0, 0 },
	{ "client_tls_key_file", T_STR, OFF(client_tls_key_file), "", R, NULL, 0, 0 },
	{ "client_tls_ca_file", T_STR, OFF(client_tls_ca_file), "", R, NULL, 0, 0 },
	{ "client_tls_protocols", T_STR, OFF(client_tls_protocols), "secure", R, NULL, 0, 0 },
	{ "client_tls_ciphers", T_STR, OFF(client_tls_ciphers), "fast", R, NULL, 0, 0 },
	{ "server_tls_sslmode", T_ENUM, OFF(server_tls_sslmode), "disable", R, tls_modes, 0, 0 },
	{ "server_tls_ca_file", T_STR, OFF(server_tls_ca_file), "", R, NULL, 0, 0 },
	{ "server_tls_cert_file", T_STR, OFF(server_tls_cert_file), "", R, NULL, 0, 0 },
	{ "server_tls_key_file", T_STR, OFF(server_tls_key_file), "", R, NULL, 0, 0 },
	{ "server_tls_protocols", T_STR, OFF(server_tls_protocols), "secure", R, NULL, 0, 0 },
	{ "server_tls_ciphers", T_STR, OFF(server_tls_ciphers), "fast", R, NULL, 0, 0 },

	/* TCP */
	{ "tcp_keepalive", T_BOOL, OFF(tcp_keepalive), "1", R, NULL, 0, 0 },
	{ "tcp_keepcnt", T_INT, OFF(tcp_keepcnt), "0", R, NULL, I32 },
	{ "tcp_keepidle", T_INT, OFF(tcp_keepidle), "0", R, NULL, I32 },
	{ "tcp_keepintvl", T_INT, OFF(tcp_keepintvl), "0", R, NULL, I32 },
	{ "tcp_user_timeout", T_INT, OFF(tcp_user_timeout), "0", R, NULL, I32 },

	/* logging and statistics */
	{ "logfile", T_STR, OFF(logfile), "", R, NULL, 0, 0 },
	{ "pidfile", T_STR, OFF(pidfile), "", 0, NULL, 0, 0 },
	{ "syslog", T_BOOL, OFF(syslog), "0", R, NULL, 0, 0 },
	{ "syslog_ident", T_STR, OFF(syslog_ident), "pgtide", R, NULL, 0, 0 },
	{ "syslog_facility", T_STR, OFF(syslog_facility), "daemon", R, NULL, 0, 0 },
	{ "log_connections", T_BOOL, OFF(log_connections), "1", R, NULL, 0, 0 },
	{ "log_disconnections", T_BOOL, OFF(log_disconnections), "1", R, NULL, 0, 0 },
	{ "log_pooler_errors", T_BOOL, OFF(log_pooler_errors), "1", R, NULL, 0, 0 },
	{ "log_stats", T_BOOL, OFF(log_stats), "1", R, NULL, 0, 0 },
	{ "stats_period", T_TIME, OFF(stats_period), "60", R, NULL, 0, 0 },
	{ "verbose", T_INT, OFF(verbose), "0", R, NULL, 0, 2 },
	{ "user", T_STR, OFF(user), "", 0, NULL, 0, 0 },

	/* tenant context (pgtide) */
	{ "tenant_setting", T_STR, OFF(tenant_setting), "app.current_tenant_id", R, NULL, 0, 0 },
	{ "tenant_pattern", T_STR, OFF(tenant_pattern), "^[A-Za-z0-9_.-]{1,63}$", R, NULL, 0, 0 },
	{ "tenant_required", T_BOOL, OFF(tenant_required), "0", R, NULL, 0, 0 },
	{ "metrics_top_tenants", T_INT, OFF(metrics_top_tenants), "0", R, NULL, 0, 10000 },

	/* read routing (pgtide) */
	{ "read_routing", T_ENUM, OFF(read_routing), "explicit", R, routings, 0, 0 },
	{ "replica_check_period", T_TIME, OFF(replica_check_period), "2", R, NULL, 0, 0 },
	{ "replica_max_lag", T_BYTES, OFF(replica_max_lag), "16MB", R, NULL, 0, INT64_MAX },
	{ "replica_fallback", T_ENUM, OFF(replica_fallback), "primary", R, fallbacks, 0, 0 },
	{ "replica_check_user", T_STR, OFF(replica_check_user), "", R, NULL, 0, 0 },
	{ "replica_check_password", T_STR, OFF(replica_check_password), "", R, NULL, 0, 0 },
	{ "read_your_writes", T_ENUM, OFF(read_your_writes), "off", R, ryw_modes, 0, 0 },
	{ "read_your_writes_timeout", T_TIME, OFF(read_your_writes_timeout), "50ms", R, NULL, 0, 0 },

	/* PgBouncer settings accepted so its files load unchanged; no effect here */
	{ "dns_max_ttl", T_NONE, NOOFF, "15", CF_COMPAT, NULL, 0, 0 },
	{ "dns_nxdomain_ttl", T_NONE, NOOFF, "15", CF_COMPAT, NULL, 0, 0 },
	{ "dns_zone_check_period", T_NONE, NOOFF, "0", CF_COMPAT, NULL, 0, 0 },
	{ "resolv_conf", T_NONE, NOOFF, "", CF_COMPAT, NULL, 0, 0 },
	{ "sbuf_loopcnt", T_NONE, NOOFF, "5", CF_COMPAT, NULL, 0, 0 },
	{ "tcp_defer_accept", T_NONE, NOOFF, "0", CF_COMPAT, NULL, 0, 0 },
	{ "tcp_socket_buffer", T_NONE, NOOFF, "0", CF_COMPAT, NULL, 0, 0 },
	{ "application_name_add_host", T_NONE, NOOFF, "0", CF_COMPAT, NULL, 0, 0 },
	{ "disable_pqexec", T_NONE, NOOFF, "0", CF_COMPAT, NULL, 0, 0 },
	{ "track_extra_parameters", T_NONE, NOOFF, "IntervalStyle", CF_COMPAT, NULL, 0, 0 },
	{ "client_tls_dheparams", T_NONE, NOOFF, "auto", CF_COMPAT, NULL, 0, 0 },
	{ "client_tls_ecdhcurve", T_NONE, NOOFF, "auto", CF_COMPAT, NULL, 0, 0 },
	{ "client_tls13_ciphers", T_NONE, NOOFF, "", CF_COMPAT, NULL, 0, 0 },
	{ "server_tls13_ciphers", T_NONE, NOOFF, "", CF_COMPAT, NULL, 0, 0 },
	{ "peer_id", T_NONE, NOOFF, "0", CF_COMPAT, NULL, 0, 0 },
	{ "service_name", T_NONE, NOOFF, "", CF_COMPAT, NULL, 0, 0 },
	{ "job_name", T_NONE, NOOFF, "", CF_COMPAT, NULL, 0, 0 },
	{ "conffile", T_NONE, NOOFF, "", CF_COMPAT, NULL, 0, 0 },
	{ "query_wait_notify", T_NONE, NOOFF, "5", CF_COMPAT, NULL, 0, 0 },
};
#define NKEYS ((int)(sizeof(keys) / sizeof(keys[0])))

#undef R
#undef I32

/* ---------- diagnostics ---------- */

bool cfg_read_file(const char *path, const char *what, struct strbuf *out, struct cfg_diag *d)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		strbuf_printf(&d->text, "%s: could not open %s: %s\n", path, what, strerror(errno));
		d->errors++;
		return false;
	}
	char buf[8192];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		strbuf_append(out, buf, n);
	fclose(f);
	return true;
}

void cfg_diag_init(struct cfg_diag *d, bool unknown_is_error)
{
	d->errors = 0;
	d->warnings = 0;
	strbuf_init(&d->text);
	d->unknown_is_error = unknown_is_error;
}

void cfg_diag_free(struct cfg_diag *d)
{
	strbuf_free(&d->text);
}

static void diag(struct cfg_diag *d, bool error, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void diag(struct cfg_diag *d, bool error, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	if (error)
		d->errors++;
	else
		d->warnings++;
	if (line > 0)
		strbuf_printf(&d->text, "%s:%d: %s", file, line, error ? "" : "warning: ");
	else
		strbuf_printf(&d->text, "%s: %s", file, error ? "" : "warning: ");
	va_start(ap, fmt);
	strbuf_vprintf(&d->text, fmt, ap);
	va_end(ap);
	strbuf_putc(&d->text, '\n');
}

/* ---------- value parsers (also used by admin SET and tests) ---------- */

bool parse_bool(const char *s, bool *out)
{
	static const char *const t[] = { "1", "on", "yes", "true", NULL };
	static const char *const f[] = { "0", "off", "no", "false", NULL };
	for (int i = 0; t[i]; i++)
		if (strcasecmp(s, t[i]) == 0) {
			*out = true;
			return true;
		}
	for (int i = 0; f[i]; i++)
		if (strcasecmp(s, f[i]) == 0) {
			*out = false;
			return true;
		}
	return false;
}

bool parse_int(const char *s, int64_t *out)
{
	char *end;
	errno = 0;
	while (isspace((unsigned char)*s))
		s++;
	if (!*s)
		return false;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s)
		return false;
	while (isspace((unsigned char)*end))
		end++;
	if (*end)
		return false;
	*out = v;
	return true;
}

/* "1.5", "250ms", "2min": number and optional unit; bare numbers are seconds. */
bool parse_time_usec(const char *s, usec_t *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || v < 0 || v != v)
		return false;
	while (isspace((unsigned char)*end))
		end++;
	double mult = 1e6;
	if (*end) {
		static const struct { const char *u; double m; } units[] = {
			{ "us", 1 }, { "ms", 1e3 }, { "s", 1e6 }, { "sec", 1e6 },
			{ "min", 60e6 }, { "h", 3600e6 }, { "d", 86400e6 },
		};
		bool found = false;
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (strcasecmp(end, units[i].u) == 0) {
				mult = units[i].m;
				found = true;
				break;
			}
		if (!found)
			return false;
	}
	double r = v * mult;
	if (r > 9.2e18)
		return false;
	*out = (usec_t)(r + 0.5);
	return true;
}

/* "16MB", "1024", "8kB": bytes with Postgres' 1024-based units. */
bool parse_bytes(const char *s, int64_t *out)
{
	char *end;
	errno = 0;
	while (isspace((unsigned char)*s))
		s++;
	if (*s == '-')
		return false;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s)
		return false;
	while (isspace((unsigned char)*end))
		end++;
	unsigned long long mult = 1;
	if (*end) {
		static const struct { const char *u; unsigned long long m; } units[] = {
			{ "B", 1 }, { "kB", 1ULL << 10 }, { "KB", 1ULL << 10 }, { "MB", 1ULL << 20 },
			{ "GB", 1ULL << 30 }, { "TB", 1ULL << 40 },
		};
		bool found = false;
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (strcmp(end, units[i].u) == 0) {
				mult = units[i].m;
				found = true;
				break;
			}
		if (!found)
			return false;
	}
	if (v > (unsigned long long)INT64_MAX / mult)
		return false;
	*out = (int64_t)(v * mult);
	return true;
}

/* "host:port,host:port" or "[v6addr]:port"; a missing port takes default_port. */
bool parse_host_port_list(const char *s, struct host_port **out, int *n, int default_port,
			  char *err, size_t errlen)
{
	struct host_port *list = NULL;
	int cnt = 0;
	char *copy = xstrdup(s);
	char *save = NULL;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		tok = str_trim(tok);
		if (!*tok)
			continue;
		char *host = tok;
		char *portstr = NULL;
		if (*tok == '[') {
			char *close = strchr(tok, ']');
			if (!close) {
				snprintf(err, errlen, "unterminated '[' in \"%s\"", tok);
				goto fail;
			}
			*close = '\0';
			host = tok + 1;
			if (close[1] == ':')
				portstr = close + 2;
			else if (close[1]) {
				snprintf(err, errlen, "unexpected text after ']' in \"%s\"", tok);
				goto fail;
			}
		} else {
			char *colon = strrchr(tok, ':');
			if (colon && strchr(tok, ':') == colon) {
				*colon = '\0';
				portstr = colon + 1;
			}
		}
		int64_t port = default_port;
		if (portstr && (!parse_int(portstr, &port) || port < 1 || port > 65535)) {
			snprintf(err, errlen, "invalid port \"%s\"", portstr);
			goto fail;
		}
		if (!*host) {
			snprintf(err, errlen, "empty host name");
			goto fail;
		}
		list = xrealloc(list, sizeof(*list) * (size_t)(cnt + 1));
		list[cnt].host = xstrdup(host);
		list[cnt].port = (int)port;
		cnt++;
	}
	free(copy);
	*out = list;
	*n = cnt;
	return true;
fail:
	for (int i = 0; i < cnt; i++)
		free(list[i].host);
	free(list);
	free(copy);
	return false;
}

/* A custom setting name Postgres accepts: parts of letters, digits, _ and $,
 * joined by dots, at least one dot. */
bool tenant_setting_valid(const char *name)
{
	int parts = 0;
	const char *p = name;
	while (*p) {
		if (!(isalpha((unsigned char)*p) || *p == '_'))
			return false;
		while (isalnum((unsigned char)*p) || *p == '_' || *p == '$')
			p++;
		parts++;
		if (*p == '.') {
			p++;
			if (!*p)
				return false;
		} else if (*p) {
			return false;
		}
	}
	return parts >= 2 && strlen(name) < 64;
}

bool cfg_list_contains(const char *list, const char *name)
{
	if (!list || !name)
		return false;
	size_t nlen = strlen(name);
	const char *p = list;
	while (*p) {
		while (*p == ',' || isspace((unsigned char)*p))
			p++;
		const char *start = p;
		while (*p && *p != ',')
			p++;
		const char *end = p;
		while (end > start && isspace((unsigned char)end[-1]))
			end--;
		size_t len = (size_t)(end - start);
		if (len >= 2 && start[0] == '"' && end[-1] == '"') {
			start++;
			len -= 2;
		}
		if (len == nlen && strncmp(start, name, nlen) == 0)
			return true;
	}
	return false;
}

static const char *enum_name(const struct cfg_enum *en, int v)
{
	for (; en->name; en++)
		if (en->value == v)
			return en->name;
	return "?";
}

const char *pool_mode_name(int mode)
{
	return enum_name(pool_modes, mode);
}

const char *auth_type_name(int t)
{
	return enum_name(auth_types, t);
}

const char *tls_mode_name(int m)
{
	return enum_name(tls_modes, m);
}

const char *read_routing_name(int rr)
{
	return enum_name(routings, rr);
}

static bool parse_enum(const struct cfg_enum *en, const char *s, int *out)
{
	for (; en->name; en++)
		if (strcasecmp(en->name, s) == 0) {
			*out = en->value;
			return true;
		}
	return false;
}

static void enum_choices(const struct cfg_enum *en, char *buf, size_t len)
{
	size_t n = 0;
	buf[0] = '\0';
	for (; en->name && n < len; en++)
		n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? ", " : "", en->name);
}

/* Store s into setting k of st. false with msg on a bad value. */
static bool key_store(const struct cfg_key *k, struct settings *st, const char *s, char *msg, size_t mlen)
{
	void *dst = k->off == NOOFF ? NULL : (char *)st + k->off;
	int64_t iv;
	switch (k->type) {
	case T_NONE:
		return true;
	case T_STR:
		free(*(char **)dst);
		*(char **)dst = xstrdup(s);
		return true;
	case T_BOOL:
		if (!parse_bool(s, (bool *)dst)) {
			snprintf(msg, mlen, "invalid value \"%s\" for %s: expected 0/1, on/off, yes/no or true/false", s, k->name);
			return false;
		}
		return true;
	case T_INT:
		if (!parse_int(s, &iv) || iv < k->min || iv > k->max) {
			snprintf(msg, mlen, "invalid value \"%s\" for %s: expected an integer from %lld to %lld",
				 s, k->name, (long long)k->min, (long long)k->max);
			return false;
		}
		*(int *)dst = (int)iv;
		return true;
	case T_OCTAL: {
		char *end;
		errno = 0;
		long v = strtol(s, &end, 8);
		if (errno || end == s || *end || v < k->min || v > k->max) {
			snprintf(msg, mlen, "invalid value \"%s\" for %s: expected an octal mode like 0777", s, k->name);
			return false;
		}
		*(int *)dst = (int)v;
		return true;
	}
	case T_ENUM: {
		int v;
		if (!parse_enum(k->en, s, &v)) {
			char choices[256];
			enum_choices(k->en, choices, sizeof(choices));
			snprintf(msg, mlen, "invalid value \"%s\" for %s: expected one of %s", s, k->name, choices);
			return false;
		}
		*(int *)dst = v;
		return true;
	}
	case T_TIME:
		if (!parse_time_usec(s, (usec_t *)dst)) {
			snprintf(msg, mlen, "invalid value \"%s\" for %s: expected seconds, optionally with a unit (ms, s, min, h, d)", s, k->name);
			return false;
		}
		return true;
	case T_BYTES:
		if (!parse_bytes(s, (int64_t *)dst)) {
			snprintf(msg, mlen, "invalid value \"%s\" for %s: expected bytes, optionally with a unit (kB, MB, GB)", s, k->name);
			return false;
		}
		return true;
	}
	return false;
}

/* ---------- key table access ---------- */

int config_key_count(void)
{
	return NKEYS;
}

const struct cfg_key_info *config_key(int i)
{
	static struct cfg_key_info info;
	if (i < 0 || i >= NKEYS)
		return NULL;
	info.name = keys[i].name;
	info.def = keys[i].def;
	info.flags = keys[i].flags;
	return &info;
}

int config_key_find(const char *name)
{
	for (int i = 0; i < NKEYS; i++)
		if (strcasecmp(keys[i].name, name) == 0)
			return i;
	return -1;
}

void config_format(const struct config *c, int key, char *buf, size_t len)
{
	const struct cfg_key *k = &keys[key];
	const void *src = k->off == NOOFF ? NULL : (const char *)&c->s + k->off;
	switch (k->type) {
	case T_NONE:
		snprintf(buf, len, "%s", k->def);
		break;
	case T_STR:
		snprintf(buf, len, "%s", *(char *const *)src ? *(char *const *)src : "");
		break;
	case T_BOOL:
		snprintf(buf, len, "%d", *(const bool *)src ? 1 : 0);
		break;
	case T_INT:
		snprintf(buf, len, "%d", *(const int *)src);
		break;
	case T_OCTAL:
		snprintf(buf, len, "0%o", (unsigned)*(const int *)src);
		break;
	case T_ENUM:
		snprintf(buf, len, "%s", enum_name(k->en, *(const int *)src));
		break;
	case T_TIME: {
		usec_t v = *(const usec_t *)src;
		if (v % USEC == 0)
			snprintf(buf, len, "%lld", (long long)(v / USEC));
		else
			snprintf(buf, len, "%g", (double)v / USEC);
		break;
	}
	case T_BYTES:
		snprintf(buf, len, "%lld", (long long)*(const int64_t *)src);
		break;
	}
}

bool config_key_equal(const struct config *a, const struct config *b, int key)
{
	char x[1024], y[1024];
	config_format(a, key, x, sizeof(x));
	config_format(b, key, y, sizeof(y));
	return strcmp(x, y) == 0;
}

/* ---------- [databases] and [users] values ---------- */

/*
 * Split "k=v k2='quoted v' ..." (libpq conninfo syntax: single quotes,
 * backslash escapes inside them) and call fn for each pair.
 */
static bool connstr_each(const char *s, char *err, size_t errlen,
			 bool (*fn)(void *arg, const char *k, const char *v, char *err, size_t errlen), void *arg)
{
	const char *p = s;
	struct strbuf key, val;
	bool ok = true;
	strbuf_init(&key);
	strbuf_init(&val);
	for (;;) {
		while (isspace((unsigned char)*p))
			p++;
		if (!*p)
			break;
		strbuf_reset(&key);
		strbuf_reset(&val);
		while (*p && *p != '=' && !isspace((unsigned char)*p))
			strbuf_putc(&key, *p++);
		while (isspace((unsigned char)*p))
			p++;
		if (*p != '=') {
			snprintf(err, errlen, "missing \"=\" after \"%s\"", key.data ? key.data : "");
			ok = false;
			break;
		}
		if (!key.data || !key.len) {
			snprintf(err, errlen, "a \"=\" with no name before it");
			ok = false;
			break;
		}
		p++;
		while (isspace((unsigned char)*p))
			p++;
		if (*p == '\'') {
			p++;
			for (;;) {
				if (!*p) {
					snprintf(err, errlen, "unterminated quoted value for \"%s\"", key.data);
					ok = false;
					goto out;
				}
				if (*p == '\\' && p[1]) {
					strbuf_putc(&val, p[1]);
					p += 2;
					continue;
				}
				if (*p == '\'') {
					p++;
					break;
				}
				strbuf_putc(&val, *p++);
			}
		} else {
			while (*p && !isspace((unsigned char)*p)) {
				if (*p == '\\' && p[1])
					p++;
				strbuf_putc(&val, *p++);
			}
		}
		if (!fn(arg, key.data, val.data ? val.data : "", err, errlen)) {
			ok = false;
			break;
		}
	}
out:
	strbuf_free(&key);
	strbuf_free(&val);
	return ok;
}

static bool set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = xstrdup(v);
	return true;
}

static bool set_int_field(int *dst, const char *k, const char *v, int64_t min, int64_t max, char *err, size_t errlen)
{
	int64_t iv;
	if (!parse_int(v, &iv) || iv < min || iv > max) {
		snprintf(err, errlen, "invalid value \"%s\" for %s: expected an integer from %lld to %lld",
			 v, k, (long long)min, (long long)max);
		return false;
	}
	*dst = (int)iv;
	return true;
}

static bool db_kv(void *arg, const char *k, const char *v, char *err, size_t errlen)
{
	struct db_config *db = arg;
	if (strcmp(k, "host") == 0 && !strchr(v, ','))
		return set_str(&db->primary.host, v);
	if (strcmp(k, "host") == 0 || strcmp(k, "hosts") == 0) {
		/* several hosts, as libpq takes them: which is the primary is
		 * found by the checks */
		for (int i = 0; i < db->n_hosts; i++)
			free(db->hosts[i].host);
		free(db->hosts);
		db->hosts = NULL;
		db->n_hosts = 0;
		if (!parse_host_port_list(v, &db->hosts, &db->n_hosts, 0, err, errlen))
			return false;
		/* the same host twice is one server, not two primaries (PgBouncer's
		 * host lists balance connections, and its users write a,a) */
		int kept = 0;
		for (int i = 0; i < db->n_hosts; i++) {
			bool dup = false;
			for (int j = 0; j < kept && !dup; j++)
				dup = db->hosts[j].port == db->hosts[i].port &&
				      strcasecmp(db->hosts[j].host, db->hosts[i].host) == 0;
			if (dup)
				free(db->hosts[i].host);
			else
				db->hosts[kept++] = db->hosts[i];
		}
		db->n_hosts = kept;
		if (kept == 1) {
			/* one server after all: a plain host, nothing to find out
			 * by checks (PgBouncer's test.ini writes a,a) */
			free(db->primary.host);
			db->primary.host = db->hosts[0].host;
			if (db->hosts[0].port)
				db->primary.port = db->hosts[0].port;
			free(db->hosts);
			db->hosts = NULL;
			db->n_hosts = 0;
		}
		return true;
	}
	if (strcmp(k, "port") == 0)
		return set_int_field(&db->primary.port, k, v, 1, 65535, err, errlen);
	if (strcmp(k, "dbname") == 0)
		return set_str(&db->dbname, v);
	if (strcmp(k, "user") == 0)
		return set_str(&db->user, v);
	if (strcmp(k, "password") == 0)
		return set_str(&db->password, v);
	if (strcmp(k, "auth_user") == 0)
		return set_str(&db->auth_user, v);
	if (strcmp(k, "auth_query") == 0)
		return set_str(&db->auth_query, v);
	if (strcmp(k, "auth_dbname") == 0)
		return set_str(&db->auth_dbname, v);
	if (strcmp(k, "connect_query") == 0)
		return set_str(&db->connect_query, v);
	if (strcmp(k, "client_encoding") == 0)
		return set_str(&db->client_encoding, v);
	if (strcmp(k, "datestyle") == 0)
		return set_str(&db->datestyle, v);
	if (strcmp(k, "timezone") == 0)
		return set_str(&db->timezone, v);
	if (strcmp(k, "application_name") == 0)
		return set_str(&db->application_name, v);
	if (strcmp(k, "pool_size") == 0)
		return set_int_field(&db->pool_size, k, v, 0, INT_MAX, err, errlen);
	if (strcmp(k, "min_pool_size") == 0)
		return set_int_field(&db->min_pool_size, k, v, 0, INT_MAX, err, errlen);
	if (strcmp(k, "reserve_pool") == 0 || strcmp(k, "reserve_pool_size") == 0)
		return set_int_field(&db->reserve_pool, k, v, 0, INT_MAX, err, errlen);
	if (strcmp(k, "max_db_connections") == 0)
		return set_int_field(&db->max_db_connections, k, v, 0, INT_MAX, err, errlen);
	if (strcmp(k, "pool_mode") == 0) {
		if (!parse_enum(pool_modes, v, &db->pool_mode)) {
			snprintf(err, errlen, "invalid pool_mode \"%s\": expected session, transaction or statement", v);
			return false;
		}
		return true;
	}
	if (strcmp(k, "read_routing") == 0) {
		if (!parse_enum(routings, v, &db->read_routing)) {
			snprintf(err, errlen, "invalid read_routing \"%s\": expected off, explicit or auto", v);
			return false;
		}
		return true;
	}
	if (strcmp(k, "read_your_writes") == 0) {
		if (!parse_enum(ryw_modes, v, &db->read_your_writes)) {
			snprintf(err, errlen, "invalid read_your_writes \"%s\": expected off, client or tenant", v);
			return false;
		}
		return true;
	}
	if (strcmp(k, "tenant_required") == 0) {
		bool b;
		if (!parse_bool(v, &b)) {
			snprintf(err, errlen, "invalid tenant_required \"%s\": expected 0 or 1", v);
			return false;
		}
		db->tenant_required = b;
		return true;
	}
	if (strcmp(k, "max_bound_servers") == 0)
		return set_int_field(&db->max_bound_servers, k, v, -1, INT_MAX, err, errlen);
	if (strcmp(k, "max_tenant_servers") == 0)
		return set_int_field(&db->max_tenant_servers, k, v, 0, INT_MAX, err, errlen);
	if (strcmp(k, "replicas") == 0) {
		for (int i = 0; i < db->n_replicas; i++)
			free(db->replicas[i].host);
		free(db->replicas);
		db->replicas = NULL;
		db->n_replicas = 0;
		return parse_host_port_list(v, &db->replicas, &db->n_replicas, 5432, err, errlen);
	}
	snprintf(err, errlen, "unknown parameter \"%s\" in database definition", k);
	return false;
}

static bool user_kv(void *arg, const char *k, const char *v, char *err, size_t errlen)
{
	struct user_config *u = arg;
	if (strcmp(k, "pool_mode") == 0) {
		if (!parse_enum(pool_modes, v, &u->pool_mode)) {
			snprintf(err, errlen, "invalid pool_mode \"%s\": expected session, transaction or statement", v);
			return false;
		}
		return true;
	}
	if (strcmp(k, "max_user_connections") == 0)
		return set_int_field(&u->max_user_connections, k, v, 0, INT_MAX, err, errlen);
	if (strcmp(k, "tenant") == 0) {
		if (!*v) {
			snprintf(err, errlen, "empty tenant");
			return false;
		}
		return set_str(&u->tenant, v);
	}
	snprintf(err, errlen, "unknown parameter \"%s\" in user definition", k);
	return false;
}

void db_config_free(struct db_config *db)
{
	if (!db)
		return;
	free(db->name);
	free(db->primary.host);
	free(db->dbname);
	free(db->user);
	free(db->password);
	free(db->auth_user);
	free(db->auth_query);
	free(db->auth_dbname);
	free(db->connect_query);
	free(db->client_encoding);
	free(db->datestyle);
	free(db->timezone);
	free(db->application_name);
	for (int i = 0; i < db->n_replicas; i++)
		free(db->replicas[i].host);
	free(db->replicas);
	for (int i = 0; i < db->n_hosts; i++)
		free(db->hosts[i].host);
	free(db->hosts);
	free(db);
}

static void user_config_free(struct user_config *u)
{
	if (!u)
		return;
	free(u->name);
	free(u->tenant);
	free(u);
}

/* Names may be written "quoted" to allow odd characters. */
static char *unquote_name(const char *n)
{
	size_t len = strlen(n);
	if (len >= 2 && n[0] == '"' && n[len - 1] == '"') {
		char *r = xstrdup(n + 1);
		r[len - 2] = '\0';
		return r;
	}
	return xstrdup(n);
}

/* ---------- the ini reader and handler ---------- */

enum section { SEC_NONE, SEC_MAIN, SEC_DATABASES, SEC_USERS, SEC_TENANTS, SEC_PEERS, SEC_UNKNOWN };

struct ini_ctx {
	struct config *c;
	struct cfg_diag *d;
	FILE *fp;
	const char *file;  /* points into c->files */
	int file_idx;
	int line;
	int depth;
	enum section cur;  /* section of the line being read; set by the reader */
	char **longs;      /* values of lines too long for inih, by index */
	int n_longs;
	char *linebuf;
	size_t linecap;
};

#define LONG_MARK "\x01pgtide-long:"

static enum section section_of(const char *name)
{
	if (!*name)
		return SEC_NONE;
	if (strcasecmp(name, "pgtide") == 0 || strcasecmp(name, "pgbouncer") == 0)
		return SEC_MAIN;
	if (strcasecmp(name, "databases") == 0)
		return SEC_DATABASES;
	if (strcasecmp(name, "users") == 0)
		return SEC_USERS;
	if (strcasecmp(name, "tenants") == 0)
		return SEC_TENANTS;
	if (strcasecmp(name, "peers") == 0)
		return SEC_PEERS;
	return SEC_UNKNOWN;
}

static int add_file(struct config *c, const char *path)
{
	c->files = xrealloc(c->files, sizeof(char *) * (size_t)(c->n_files + 1));
	c->files[c->n_files] = xstrdup(path);
	return c->n_files++;
}

static void parse_file(struct config *c, struct cfg_diag *d, const char *path, const char *from_file,
		       int from_line, int depth, enum section inherited);

/* The value as the user wrote it, undoing the long-line stand-in. */
static const char *real_value(struct ini_ctx *x, const char *value)
{
	size_t ml = strlen(LONG_MARK);
	if (strncmp(value, LONG_MARK, ml) == 0) {
		int idx = atoi(value + ml);
		if (idx >= 0 && idx < x->n_longs)
			return x->longs[idx];
	}
	return value;
}

static void handle_main(struct ini_ctx *x, const char *name, const char *value)
{
	int i = config_key_find(name);
	if (i < 0) {
		diag(x->d, x->d->unknown_is_error, x->file, x->line, "unknown setting \"%s\"", name);
		return;
	}
	const struct cfg_key *k = &keys[i];
	if (k->flags & CF_COMPAT) {
		diag(x->d, false, x->file, x->line,
		     "setting \"%s\" is accepted for PgBouncer compatibility and has no effect in pgtide", name);
		return;
	}
	char msg[512];
	if (!key_store(k, &x->c->s, value, msg, sizeof(msg))) {
		diag(x->d, true, x->file, x->line, "%s", msg);
		return;
	}
	x->c->set_line[i] = x->line;
	x->c->set_line_file[i] = (unsigned char)(x->file_idx < 255 ? x->file_idx : 255);
}

static void handle_database(struct ini_ctx *x, const char *name, const char *value)
{
	struct config *c = x->c;
	char *dbname = unquote_name(name);
	if (!*dbname) {
		diag(x->d, true, x->file, x->line, "empty database name");
		free(dbname);
		return;
	}
	struct db_config *db = xcalloc(1, sizeof(*db));
	db->name = dbname;
	db->primary.port = 5432;
	db->pool_size = db->min_pool_size = db->reserve_pool = db->max_db_connections = -1;
	db->pool_mode = db->read_routing = db->read_your_writes = db->tenant_required = -1;
	db->max_bound_servers = MAX_BOUND_INHERIT;
	db->max_tenant_servers = -1;
	db->file = x->file;
	db->line = x->line;
	char err[512];
	if (!connstr_each(value, err, sizeof(err), db_kv, db)) {
		/* An unknown parameter (a newer PgBouncer's) skips this database
		 * at run time, as PgBouncer does, and fails --check; anything
		 * else wrong on the line is an error. */
		bool unknown = strncmp(err, "unknown parameter", 17) == 0;
		bool error = !unknown || x->d->unknown_is_error;
		diag(x->d, error, x->file, x->line, "database \"%s\": %s%s", db->name, err,
		     error ? "" : "; the database is skipped");
		db_config_free(db);
		return;
	}
	if (db->n_hosts && db->n_replicas) {
		diag(x->d, true, x->file, x->line,
		     "database \"%s\": a host list (host=a,b) finds its primary and replicas itself; replicas= "
		     "cannot be added to it", db->name);
		db_config_free(db);
		return;
	}
	for (int i = 0; i < c->n_dbs; i++) {
		if (strcmp(c->dbs[i]->name, db->name) == 0) {
			/* a later definition wins, as in PgBouncer */
			db_config_free(c->dbs[i]);
			c->dbs[i] = db;
			return;
		}
	}
	c->dbs = xrealloc(c->dbs, sizeof(*c->dbs) * (size_t)(c->n_dbs + 1));
	c->dbs[c->n_dbs++] = db;
}

static void handle_user(struct ini_ctx *x, const char *name, const char *value)
{
	struct config *c = x->c;
	struct user_config *u = xcalloc(1, sizeof(*u));
	u->name = unquote_name(name);
	u->pool_mode = -1;
	u->max_user_connections = -1;
	u->file = x->file;
	u->line = x->line;
	char err[512];
	if (!*u->name) {
		diag(x->d, true, x->file, x->line, "empty user name");
		user_config_free(u);
		return;
	}
	if (!connstr_each(value, err, sizeof(err), user_kv, u)) {
		diag(x->d, true, x->file, x->line, "user \"%s\": %s", u->name, err);
		user_config_free(u);
		return;
	}
	for (int i = 0; i < c->n_users; i++) {
		if (strcmp(c->users[i]->name, u->name) == 0) {
			user_config_free(c->users[i]);
			c->users[i] = u;
			return;
		}
	}
	c->users = xrealloc(c->users, sizeof(*c->users) * (size_t)(c->n_users + 1));
	c->users[c->n_users++] = u;
}

static bool tenant_kv(void *arg, const char *k, const char *v, char *err, size_t errlen)
{
	struct tenant_config *t = arg;
	if (strcmp(k, "weight") == 0)
		return set_int_field(&t->weight, k, v, 1, 1000, err, errlen);
	snprintf(err, errlen, "unknown tenant setting \"%s\" (known: weight)", k);
	return false;
}

/* [tenants] ID = weight=N */
static void handle_tenant(struct ini_ctx *x, const char *name, const char *value)
{
	struct config *c = x->c;
	struct tenant_config t = { unquote_name(name), 1 };
	char err[512];
	if (!*t.id) {
		diag(x->d, true, x->file, x->line, "empty tenant id");
		free(t.id);
		return;
	}
	if (!connstr_each(value, err, sizeof(err), tenant_kv, &t)) {
		diag(x->d, true, x->file, x->line, "tenant \"%s\": %s", t.id, err);
		free(t.id);
		return;
	}
	for (int i = 0; i < c->n_tenants; i++) {
		if (strcmp(c->tenants[i].id, t.id) == 0) {
			free(c->tenants[i].id);
			c->tenants[i] = t;
			return;
		}
	}
	c->tenants = xrealloc(c->tenants, sizeof(*c->tenants) * (size_t)(c->n_tenants + 1));
	c->tenants[c->n_tenants++] = t;
}

static bool peer_kv(void *arg, const char *k, const char *v, char *err, size_t errlen)
{
	struct peer_config *p = arg;
	if (strcmp(k, "host") == 0) {
		free(p->host);
		p->host = xstrdup(v);
		return true;
	}
	if (strcmp(k, "port") == 0)
		return set_int_field(&p->port, k, v, 1, 65535, err, errlen);
	snprintf(err, errlen, "unknown peer setting \"%s\" (known: host, port)", k);
	return false;
}

/* [peers] ID = host=H port=P (PgBouncer's shape) */
static void handle_peer(struct ini_ctx *x, const char *name, const char *value)
{
	struct config *c = x->c;
	char *end;
	long id = strtol(name, &end, 10);
	if (end == name || *end || id < 1 || id > PEER_ID_MAX) {
		diag(x->d, true, x->file, x->line, "invalid peer id \"%s\": expected 1..%d", name, PEER_ID_MAX);
		return;
	}
	struct peer_config p = { (int)id, NULL, 6432 };
	char err[512];
	if (!connstr_each(value, err, sizeof(err), peer_kv, &p) || !p.host || !*p.host) {
		diag(x->d, true, x->file, x->line, "peer %ld: %s", id, p.host && *p.host ? err : "host= is required");
		free(p.host);
		return;
	}
	for (int i = 0; i < c->n_peers; i++) {
		if (c->peers[i].id == p.id) {
			free(c->peers[i].host);
			c->peers[i] = p;
			return;
		}
	}
	c->peers = xrealloc(c->peers, sizeof(*c->peers) * (size_t)(c->n_peers + 1));
	c->peers[c->n_peers++] = p;
}

static int peer_cmp(const void *a, const void *b)
{
	return ((const struct peer_config *)a)->id - ((const struct peer_config *)b)->id;
}

const struct peer_config *config_find_peer(const struct config *c, int id)
{
	struct peer_config key = { id, NULL, 0 };
	return c->n_peers ? bsearch(&key, c->peers, (size_t)c->n_peers, sizeof(key), peer_cmp) : NULL;
}

static int tenant_cmp(const void *a, const void *b)
{
	return strcmp(((const struct tenant_config *)a)->id, ((const struct tenant_config *)b)->id);
}

int config_tenant_weight(const struct config *c, const char *id)
{
	struct tenant_config key = { (char *)id, 0 };
	const struct tenant_config *t =
		c->n_tenants ? bsearch(&key, c->tenants, (size_t)c->n_tenants, sizeof(key), tenant_cmp) : NULL;
	return t ? t->weight : 1;
}

int db_max_tenant_servers(const struct config *c, const struct db_config *db)
{
	return db && db->max_tenant_servers >= 0 ? db->max_tenant_servers : c->s.max_tenant_servers;
}

static void handle_pair(struct ini_ctx *x, const char *name, const char *value)
{
	switch (x->cur) {
	case SEC_MAIN:
		handle_main(x, name, value);
		break;
	case SEC_DATABASES:
		handle_database(x, name, value);
		break;
	case SEC_USERS:
		handle_user(x, name, value);
		break;
	case SEC_TENANTS:
		handle_tenant(x, name, value);
		break;
	case SEC_PEERS:
		handle_peer(x, name, value);
		break;
	case SEC_NONE:
		diag(x->d, true, x->file, x->line, "setting \"%s\" outside of any section", name);
		break;
	case SEC_UNKNOWN:
		break; /* reported once, at the section header */
	}
}

/* inih's callback. The section comes from the reader (x->cur), which has
 * just read this very line; inih's own section name is not needed. */
static int cfg_ini_handler(void *user, const char *section, const char *name, const char *value)
{
	struct ini_ctx *x = user;
	(void)section;
	handle_pair(x, name, real_value(x, value));
	return 1; /* errors are collected in x->d; never stop inih */
}

static char *emit(char *dst, int num, const char *s)
{
	snprintf(dst, (size_t)num, "%s\n", s);
	return dst;
}

/* Cut an inline " ;comment" the way inih does, and trim. */
static char *strip_value(char *value)
{
	value = str_trim(value);
	for (char *p = value; (p = strchr(p, ';')) != NULL; p++) {
		if (p > value && isspace((unsigned char)p[-1])) {
			*p = '\0';
			break;
		}
	}
	return str_trim(value);
}

/*
 * inih's line source. Each call hands inih exactly one physical line, so
 * the line numbers agree. Lines inih could not take are rewritten first:
 * %include is expanded here and passed on as a comment; indentation is
 * dropped (inih would read it as a continuation line, PgBouncer allows it);
 * a pair longer than inih's 200-byte buffer is passed as a short stand-in
 * with the value kept aside; malformed lines are reported here, all of
 * them, with their line numbers.
 */
static char *cfg_ini_reader(char *dst, int num, void *stream)
{
	struct ini_ctx *x = stream;
	ssize_t got = getline(&x->linebuf, &x->linecap, x->fp);
	if (got < 0)
		return NULL;
	x->line++;
	char *line = x->linebuf;
	while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r'))
		line[--got] = '\0';
	if (x->line == 1 && (unsigned char)line[0] == 0xEF && (unsigned char)line[1] == 0xBB &&
	    (unsigned char)line[2] == 0xBF)
		line += 3;
	line = str_trim(line);

	if (!*line || *line == ';' || *line == '#')
		return emit(dst, num, ";");

	if (strncmp(line, "%include", 8) == 0 && (line[8] == ' ' || line[8] == '\t')) {
		char *path = str_trim(line + 8);
		char *full = config_path(x->c, path);
		parse_file(x->c, x->d, full, x->file, x->line, x->depth + 1, x->cur);
		free(full);
		return emit(dst, num, ";");
	}
	if (*line == '%') {
		diag(x->d, true, x->file, x->line, "unknown directive \"%s\"", line);
		return emit(dst, num, ";");
	}

	if (*line == '[') {
		char *end = strchr(line, ']');
		if (!end) {
			diag(x->d, true, x->file, x->line, "syntax error: section header without \"]\"");
			return emit(dst, num, ";");
		}
		*end = '\0';
		char *name = str_trim(line + 1);
		x->cur = section_of(name);
		if (x->cur == SEC_NONE)
			diag(x->d, true, x->file, x->line, "syntax error: empty section name");
		else if (x->cur == SEC_UNKNOWN)
			diag(x->d, x->d->unknown_is_error, x->file, x->line, "unknown section [%s]", name);
		return emit(dst, num, ";");
	}

	char *eq = strchr(line, '=');
	if (!eq) {
		diag(x->d, true, x->file, x->line, "syntax error: expected NAME = VALUE");
		return emit(dst, num, ";");
	}
	if ((size_t)got + 2 < (size_t)num && !memchr(line, ':', (size_t)(eq - line)))
		return emit(dst, num, line); /* the common case: inih takes it as is */

	/* Too long for inih, or a ':' in the name that inih would split at. */
	*eq = '\0';
	char *name = str_trim(line);
	char *value = strip_value(eq + 1);
	if (!*name) {
		diag(x->d, true, x->file, x->line, "syntax error: empty name before \"=\"");
		return emit(dst, num, ";");
	}
	if (strchr(name, ':') || strlen(name) + strlen(LONG_MARK) + 16 >= (size_t)num) {
		handle_pair(x, name, value);
		return emit(dst, num, ";");
	}
	x->longs = xrealloc(x->longs, sizeof(char *) * (size_t)(x->n_longs + 1));
	x->longs[x->n_longs] = xstrdup(value);
	snprintf(dst, (size_t)num, "%s = %s%d\n", name, LONG_MARK, x->n_longs);
	x->n_longs++;
	return dst;
}

static void parse_file(struct config *c, struct cfg_diag *d, const char *path, const char *from_file,
		       int from_line, int depth, enum section inherited)
{
	if (depth > 10) {
		diag(d, true, from_file, from_line, "%%include nested too deeply (more than 10 levels)");
		return;
	}
	FILE *fp = fopen(path, "r");
	if (!fp) {
		if (from_file)
			diag(d, true, from_file, from_line, "could not open included file \"%s\": %s", path,
			     strerror(errno));
		else
			diag(d, true, path, 0, "could not open configuration file: %s", strerror(errno));
		return;
	}
	struct ini_ctx x = { 0 };
	x.c = c;
	x.d = d;
	x.fp = fp;
	x.file_idx = add_file(c, path);
	x.file = c->files[x.file_idx];
	x.depth = depth;
	x.cur = inherited;
	int rc = ini_parse_stream(cfg_ini_reader, &x, cfg_ini_handler, &x);
	if (rc > 0)
		diag(d, true, x.file, rc, "syntax error");
	else if (rc < 0 || ferror(fp))
		diag(d, true, x.file, 0, "could not read file");
	fclose(fp);
	for (int i = 0; i < x.n_longs; i++)
		free(x.longs[i]);
	free(x.longs);
	free(x.linebuf);
}

/* ---------- validation ---------- */

static const char *key_file(const struct config *c, int k)
{
	return c->files[c->set_line_file[k]];
}

static int key_line(const struct config *c, const char *name)
{
	return c->set_line[config_key_find(name)];
}

#define KERR(c, d, name, ...) \
	diag((d), true, key_file((c), config_key_find(name)), key_line((c), (name)), __VA_ARGS__)

static void validate(struct config *c, struct cfg_diag *d)
{
	struct settings *s = &c->s;

	if ((s->auth_type == AUTH_MD5 || s->auth_type == AUTH_PLAIN || s->auth_type == AUTH_SCRAM) &&
	    !*s->auth_file && !*s->auth_user)
		KERR(c, d, "auth_type", "auth_type = %s needs auth_file (or auth_user with auth_query) to know passwords",
		     auth_type_name(s->auth_type));
	if (s->auth_type == AUTH_HBA && !*s->auth_hba_file)
		KERR(c, d, "auth_type", "auth_type = hba needs auth_hba_file");
	if (s->admin_listen_port && s->admin_listen_port == s->listen_port)
		KERR(c, d, "admin_listen_port", "admin_listen_port must differ from listen_port (%d)", s->listen_port);
	if (s->metrics_port && (s->metrics_port == s->listen_port || s->metrics_port == s->admin_listen_port))
		KERR(c, d, "metrics_port", "metrics_port must differ from listen_port and admin_listen_port");
	if (!*s->listen_addr && !*s->unix_socket_dir)
		KERR(c, d, "listen_addr", "nothing to listen on: listen_addr and unix_socket_dir are both empty");
	if (*s->tenant_setting && !tenant_setting_valid(s->tenant_setting))
		KERR(c, d, "tenant_setting",
		     "invalid tenant_setting \"%s\": expected a custom setting name such as app.current_tenant_id",
		     s->tenant_setting);
	if (*s->tenant_pattern) {
		regex_t re;
		int rc = regcomp(&re, s->tenant_pattern, REG_EXTENDED | REG_NOSUB);
		if (rc != 0) {
			char msg[256];
			regerror(rc, &re, msg, sizeof(msg));
			KERR(c, d, "tenant_pattern", "invalid tenant_pattern \"%s\": %s", s->tenant_pattern, msg);
		} else {
			regfree(&re);
		}
	}
	if (s->client_tls_sslmode != TLS_DISABLE && (!*s->client_tls_cert_file || !*s->client_tls_key_file))
		KERR(c, d, "client_tls_sslmode", "client_tls_sslmode = %s needs client_tls_cert_file and client_tls_key_file",
		     enum_name(tls_modes, s->client_tls_sslmode));
	if ((s->client_tls_sslmode == TLS_VERIFY_CA || s->client_tls_sslmode == TLS_VERIFY_FULL) && !*s->client_tls_ca_file)
		KERR(c, d, "client_tls_sslmode", "client_tls_sslmode = %s needs client_tls_ca_file to check client certificates",
		     enum_name(tls_modes, s->client_tls_sslmode));
	int lo, hi;
	if (!tls_parse_protocols(s->client_tls_protocols, &lo, &hi))
		KERR(c, d, "client_tls_protocols", "unknown TLS protocol list \"%s\" (tlsv1.0 ... tlsv1.3, secure, all, legacy)",
		     s->client_tls_protocols);
	if (!tls_parse_protocols(s->server_tls_protocols, &lo, &hi))
		KERR(c, d, "server_tls_protocols", "unknown TLS protocol list \"%s\" (tlsv1.0 ... tlsv1.3, secure, all, legacy)",
		     s->server_tls_protocols);
	if (s->syslog_facility && *s->syslog_facility) {
		static const char *const fac[] = { "auth", "authpriv", "daemon", "user", "local0", "local1", "local2",
						   "local3", "local4", "local5", "local6", "local7", NULL };
		bool ok = false;
		for (int i = 0; fac[i]; i++)
			ok |= strcasecmp(fac[i], s->syslog_facility) == 0;
		if (!ok)
			KERR(c, d, "syslog_facility", "unknown syslog_facility \"%s\"", s->syslog_facility);
	}

	regex_t tre;
	bool have_re = *s->tenant_pattern && regcomp(&tre, s->tenant_pattern, REG_EXTENDED | REG_NOSUB) == 0;
	for (int i = 0; i < c->n_users; i++) {
		struct user_config *u = c->users[i];
		if (u->tenant && have_re && regexec(&tre, u->tenant, 0, NULL, 0) != 0)
			diag(d, true, u->file, u->line, "user \"%s\": tenant \"%s\" does not match tenant_pattern",
			     u->name, u->tenant);
		if (u->tenant && strpbrk(u->tenant, "'\\"))
			diag(d, true, u->file, u->line, "user \"%s\": a tenant id may not contain quotes or backslashes", u->name);
		if (u->tenant && !*s->tenant_setting)
			diag(d, true, u->file, u->line, "user \"%s\": tenant= needs tenant_setting", u->name);
	}
	if (have_re)
		regfree(&tre);

	for (int i = 0; i < c->n_dbs; i++) {
		struct db_config *db = c->dbs[i];
		if (strcmp(db->name, "pgtide") == 0 || strcmp(db->name, "pgbouncer") == 0)
			diag(d, true, db->file, db->line, "database name \"%s\" is reserved for the admin console",
			     db->name);
	}
}

/* ---------- load / free ---------- */

static void set_defaults(struct config *c)
{
	char msg[256];
	for (int i = 0; i < NKEYS; i++) {
		if (keys[i].type == T_NONE)
			continue;
		if (!key_store(&keys[i], &c->s, keys[i].def, msg, sizeof(msg)))
			abort(); /* a broken default is a bug in the table */
	}
}

char *config_path(const struct config *c, const char *p)
{
	if (!p || !*p)
		return xstrdup(p ? p : "");
	if (p[0] == '/' || !c->dir)
		return xstrdup(p);
	struct strbuf sb;
	strbuf_init(&sb);
	strbuf_printf(&sb, "%s/%s", c->dir, p);
	return strbuf_steal(&sb);
}

static struct config *config_new(const char *path)
{
	struct config *c = xcalloc(1, sizeof(*c));
	c->set_line = xcalloc((size_t)NKEYS, sizeof(int));
	c->set_line_file = xcalloc((size_t)NKEYS, 1);
	set_defaults(c);
	if (path) {
		c->path = xstrdup(path);
		const char *slash = strrchr(path, '/');
		if (slash) {
			c->dir = xstrdup(path);
			c->dir[slash - path] = '\0';
			if (!*c->dir) {
				free(c->dir);
				c->dir = xstrdup("/");
			}
		}
	}
	return c;
}

bool config_validate(struct config *c, struct cfg_diag *d)
{
	int before = d->errors;
	validate(c, d);
	return d->errors == before;
}

struct config *config_load(const char *path, struct cfg_diag *d)
{
	struct config *c = config_new(path);
	int errors_before = d->errors;
	parse_file(c, d, path, NULL, 0, 0, SEC_NONE);
	if (c->n_tenants > 1)
		qsort(c->tenants, (size_t)c->n_tenants, sizeof(*c->tenants), tenant_cmp); /* for bsearch */
	if (c->n_peers > 1)
		qsort(c->peers, (size_t)c->n_peers, sizeof(*c->peers), peer_cmp);
	if (d->errors == errors_before)
		validate(c, d);
	if (d->errors > errors_before) {
		config_free(c);
		return NULL;
	}
	return c;
}

void config_free(struct config *c)
{
	if (!c)
		return;
	for (int i = 0; i < NKEYS; i++)
		if (keys[i].type == T_STR)
			free(*(char **)((char *)&c->s + keys[i].off));
	for (int i = 0; i < c->n_dbs; i++)
		db_config_free(c->dbs[i]);
	free(c->dbs);
	for (int i = 0; i < c->n_users; i++)
		user_config_free(c->users[i]);
	free(c->users);
	for (int i = 0; i < c->n_tenants; i++)
		free(c->tenants[i].id);
	free(c->tenants);
	for (int i = 0; i < c->n_peers; i++)
		free(c->peers[i].host);
	free(c->peers);
	for (int i = 0; i < c->n_files; i++)
		free(c->files[i]);
	free(c->files);
	free(c->set_line);
	free(c->set_line_file);
	free(c->path);
	free(c->dir);
	free(c);
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

struct db_config *db_config_dup(const struct db_config *s)
{
	struct db_config *db = xcalloc(1, sizeof(*db));
	*db = *s;
	db->name = dup_or_null(s->name);
	db->primary.host = dup_or_null(s->primary.host);
	db->dbname = dup_or_null(s->dbname);
	db->user = dup_or_null(s->user);
	db->password = dup_or_null(s->password);
	db->auth_user = dup_or_null(s->auth_user);
	db->auth_query = dup_or_null(s->auth_query);
	db->auth_dbname = dup_or_null(s->auth_dbname);
	db->connect_query = dup_or_null(s->connect_query);
	db->client_encoding = dup_or_null(s->client_encoding);
	db->datestyle = dup_or_null(s->datestyle);
	db->timezone = dup_or_null(s->timezone);
	db->application_name = dup_or_null(s->application_name);
	db->replicas = s->n_replicas ? xcalloc((size_t)s->n_replicas, sizeof(*db->replicas)) : NULL;
	for (int r = 0; r < s->n_replicas; r++) {
		db->replicas[r].host = xstrdup(s->replicas[r].host);
		db->replicas[r].port = s->replicas[r].port;
	}
	db->hosts = s->n_hosts ? xcalloc((size_t)s->n_hosts, sizeof(*db->hosts)) : NULL;
	for (int r = 0; r < s->n_hosts; r++) {
		db->hosts[r].host = xstrdup(s->hosts[r].host);
		db->hosts[r].port = s->hosts[r].port;
	}
	return db;
}

struct config *config_dup(const struct config *src)
{
	struct config *c = xcalloc(1, sizeof(*c));
	c->s = src->s;
	for (int i = 0; i < NKEYS; i++)
		if (keys[i].type == T_STR) {
			char **p = (char **)((char *)&c->s + keys[i].off);
			*p = dup_or_null(*p);
		}
	c->path = dup_or_null(src->path);
	c->dir = dup_or_null(src->dir);
	c->n_files = src->n_files;
	c->files = xcalloc((size_t)(src->n_files ? src->n_files : 1), sizeof(char *));
	for (int i = 0; i < src->n_files; i++)
		c->files[i] = xstrdup(src->files[i]);
	c->set_line = xcalloc((size_t)NKEYS, sizeof(int));
	memcpy(c->set_line, src->set_line, sizeof(int) * (size_t)NKEYS);
	c->set_line_file = xcalloc((size_t)NKEYS, 1);
	memcpy(c->set_line_file, src->set_line_file, (size_t)NKEYS);
	c->n_dbs = src->n_dbs;
	c->dbs = xcalloc((size_t)(src->n_dbs ? src->n_dbs : 1), sizeof(*c->dbs));
	for (int i = 0; i < src->n_dbs; i++) {
		struct db_config *db = db_config_dup(src->dbs[i]);
		/* file names point into the copy's own list */
		for (int f = 0; f < src->n_files; f++)
			if (src->dbs[i]->file == src->files[f])
				db->file = c->files[f];
		c->dbs[i] = db;
	}
	c->n_tenants = src->n_tenants;
	c->tenants = src->n_tenants ? xcalloc((size_t)src->n_tenants, sizeof(*c->tenants)) : NULL;
	for (int i = 0; i < src->n_tenants; i++) {
		c->tenants[i].id = xstrdup(src->tenants[i].id);
		c->tenants[i].weight = src->tenants[i].weight;
	}
	c->n_peers = src->n_peers;
	c->peers = src->n_peers ? xcalloc((size_t)src->n_peers, sizeof(*c->peers)) : NULL;
	for (int i = 0; i < src->n_peers; i++) {
		c->peers[i] = src->peers[i];
		c->peers[i].host = xstrdup(src->peers[i].host);
	}
	c->n_users = src->n_users;
	c->users = xcalloc((size_t)(src->n_users ? src->n_users : 1), sizeof(*c->users));
	for (int i = 0; i < src->n_users; i++) {
		const struct user_config *s = src->users[i];
		struct user_config *u = xcalloc(1, sizeof(*u));
		*u = *s;
		u->name = xstrdup(s->name);
		u->tenant = dup_or_null(s->tenant);
		for (int f = 0; f < src->n_files; f++)
			if (s->file == src->files[f])
				u->file = c->files[f];
		c->users[i] = u;
	}
	return c;
}

int config_carry_fixed(struct config *nc, const struct config *old, void (*changed)(const char *name))
{
	int n = 0;
	for (int i = 0; i < NKEYS; i++) {
		const struct cfg_key *k = &keys[i];
		if ((k->flags & (CF_RELOAD | CF_COMPAT)) || k->off == NOOFF || config_key_equal(nc, old, i))
			continue;
		void *dst = (char *)&nc->s + k->off;
		const void *src = (const char *)&old->s + k->off;
		switch (k->type) {
		case T_STR:
			free(*(char **)dst);
			*(char **)dst = xstrdup(*(char *const *)src);
			break;
		case T_BOOL:
			*(bool *)dst = *(const bool *)src;
			break;
		case T_TIME:
		case T_BYTES:
			*(int64_t *)dst = *(const int64_t *)src;
			break;
		default:
			*(int *)dst = *(const int *)src;
			break;
		}
		if (changed)
			changed(k->name);
		n++;
	}
	return n;
}

bool config_set(struct config *c, const char *name, const char *value, char *msg, size_t msglen)
{
	int i = config_key_find(name);
	if (i < 0) {
		snprintf(msg, msglen, "unknown setting \"%s\"", name);
		return false;
	}
	if (!(keys[i].flags & CF_RELOAD) || (keys[i].flags & CF_COMPAT)) {
		snprintf(msg, msglen, "setting \"%s\" cannot be changed online", keys[i].name);
		return false;
	}
	return key_store(&keys[i], &c->s, value, msg, msglen);
}

/* ---------- effective values ---------- */

const struct db_config *config_find_db(const struct config *c, const char *name)
{
	for (int i = 0; i < c->n_dbs; i++)
		if (strcmp(c->dbs[i]->name, name) == 0)
			return c->dbs[i];
	return NULL;
}

const struct user_config *config_find_user(const struct config *c, const char *name)
{
	for (int i = 0; i < c->n_users; i++)
		if (strcmp(c->users[i]->name, name) == 0)
			return c->users[i];
	return NULL;
}

int db_pool_size(const struct config *c, const struct db_config *db)
{
	return db && db->pool_size >= 0 ? db->pool_size : c->s.default_pool_size;
}

int db_pool_mode(const struct config *c, const struct db_config *db, const struct user_config *u)
{
	if (u && u->pool_mode >= 0)
		return u->pool_mode;
	if (db && db->pool_mode >= 0)
		return db->pool_mode;
	return c->s.pool_mode;
}

int db_read_routing(const struct config *c, const struct db_config *db)
{
	return db && db->read_routing >= 0 ? db->read_routing : c->s.read_routing;
}

int db_read_your_writes(const struct config *c, const struct db_config *db)
{
	return db && db->read_your_writes >= 0 ? db->read_your_writes : c->s.read_your_writes;
}

const char *read_your_writes_name(int v)
{
	return v == RYW_CLIENT ? "client" : v == RYW_TENANT ? "tenant" : "off";
}

bool db_tenant_required(const struct config *c, const struct db_config *db)
{
	return db && db->tenant_required >= 0 ? db->tenant_required : c->s.tenant_required;
}
