/*
 * Configuration: the settings table, the ini loader and validation.
 *
 * Owns: struct config and everything reachable from it (strings, database
 * and user entries). A loaded config is immutable; reload builds a new one
 * and the caller swaps it in (main.c). Must not touch runtime objects
 * (pools, clients): applying a config is pool.c's job.
 */
#ifndef PGTIDE_CONFIG_H
#define PGTIDE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/strbuf.h"

typedef int64_t usec_t; /* durations and times, microseconds */
#define USEC 1000000LL

enum pool_mode { POOL_SESSION, POOL_TRANSACTION, POOL_STATEMENT };
enum auth_type { AUTH_TRUST, AUTH_ANY, AUTH_PLAIN, AUTH_MD5, AUTH_SCRAM, AUTH_HBA, AUTH_CERT };
enum read_routing { RR_OFF, RR_EXPLICIT, RR_AUTO };
enum replica_fallback { RF_PRIMARY, RF_ERROR };
enum read_your_writes { RYW_OFF, RYW_CLIENT, RYW_TENANT };
enum tls_mode { TLS_DISABLE, TLS_ALLOW, TLS_PREFER, TLS_REQUIRE, TLS_VERIFY_CA, TLS_VERIFY_FULL };

struct settings {
	/* listening */
	char *listen_addr;
	int listen_port;
	char *unix_socket_dir;
	int unix_socket_mode;
	char *unix_socket_group;
	int listen_backlog;
	bool so_reuseport;
	int admin_listen_port;
	int metrics_port;
	char *metrics_listen_addr;

	/* authentication */
	int auth_type;
	char *auth_file;
	char *auth_hba_file;
	char *auth_user;
	char *auth_query;
	char *auth_dbname;           /* the database auth_query runs in ("": the client's) */
	char *admin_users;
	char *stats_users;

	/* pooling */
	int pool_mode;
	int max_client_conn;
	int default_pool_size;
	int min_pool_size;
	int reserve_pool_size;
	usec_t reserve_pool_timeout;
	int max_db_connections;
	int max_user_connections;
	bool server_round_robin;
	bool server_fast_close;
	char *server_reset_query;
	bool server_reset_query_always;
	char *server_check_query;
	char *replica_check_user;
	char *replica_check_password;
	usec_t server_check_delay;
	int max_prepared_statements;
	int max_bound_servers;
	int tenant_switch_reset;
	int max_tenant_servers;     /* per tenant and pool; 0: no limit */
	int max_tenant_connections; /* clients per tenant; 0: no limit */
	int tenant_xact_rate;       /* transactions per second per tenant; 0: no limit */
	char *ignore_startup_parameters;
	int max_packet_size;
	int pkt_buf;

	/* timeouts */
	usec_t server_lifetime;
	usec_t server_idle_timeout;
	usec_t server_connect_timeout;
	usec_t server_login_retry;
	usec_t query_timeout;
	usec_t query_wait_timeout;
	usec_t client_idle_timeout;
	usec_t client_login_timeout;
	usec_t idle_transaction_timeout;
	usec_t suspend_timeout;
	usec_t autodb_idle_timeout;
	usec_t shutdown_timeout;

	/* TLS */
	int client_tls_sslmode;
	char *client_tls_cert_file;
	char *client_tls_key_file;
	char *client_tls_ca_file;
	char *client_tls_protocols;
	char *client_tls_ciphers;
	int server_tls_sslmode;
	char *server_tls_ca_file;
	char *server_tls_cert_file;
	char *server_tls_key_file;
	char *server_tls_protocols;
	char *server_tls_ciphers;

	/* TCP */
	bool tcp_keepalive;
	int tcp_keepcnt;
	int tcp_keepidle;
	int tcp_keepintvl;
	int tcp_user_timeout;

	/* logging and stats */
	char *logfile;
	char *pidfile;
	bool syslog;
	char *syslog_ident;
	char *syslog_facility;
	bool log_connections;
	bool log_disconnections;
	bool log_pooler_errors;
	bool log_stats;
	usec_t stats_period;
	int verbose;
	char *user;

	/* tenant context */
	char *tenant_setting;
	char *tenant_pattern;
	bool tenant_required;
	int metrics_top_tenants;

	/* read routing */
	int read_routing;
	usec_t replica_check_period;
	int64_t replica_max_lag;
	int replica_fallback;
	int peer_id;
	int read_your_writes;
	usec_t read_your_writes_timeout;
};

struct host_port {
	char *host; /* name, address, or a unix socket directory starting with '/' */
	int port;
};

/* One [databases] line. Fields at -1 inherit the global setting. */
struct db_config {
	char *name;
	struct host_port primary;
	char *dbname;
	char *user;
	char *password;
	char *auth_user;
	char *auth_query;
	char *auth_dbname;
	char *connect_query;
	char *client_encoding;
	char *datestyle;
	char *timezone;
	char *application_name;
	int pool_size;
	int min_pool_size;
	int reserve_pool;
	int max_db_connections;
	int pool_mode;
	int read_routing;
	int read_your_writes;
	int tenant_required;
	int max_bound_servers;      /* MAX_BOUND_INHERIT: the global setting */
	int max_tenant_servers;     /* -1: the global setting */
	struct host_port *replicas;
	int n_replicas;
	/* host=a,b,c (or hosts=): roles found by the checks (route.c); a
	 * port of 0 means the line's port= */
	struct host_port *hosts;
	int n_hosts;
	const char *file;
	int line;
};

#define MAX_BOUND_INHERIT (-2)

/* One [users] line. */
struct user_config {
	char *name;
	int pool_mode;            /* -1: inherit */
	int max_user_connections; /* -1: inherit */
	char *tenant;             /* bound tenant or NULL */
	const char *file;
	int line;
};

/* A [tenants] line: how a tenant shares pools with the others. */
struct tenant_config {
	char *id;
	int weight;               /* turns per round when pools are busy (1..1000) */
};

/* A [peers] line: another pgtide process of the same service. */
struct peer_config {
	int id;                   /* 1..PEER_ID_MAX */
	char *host;               /* name, address, or a unix socket directory */
	int port;
};
#define PEER_ID_MAX 2047

struct config {
	struct settings s;
	struct peer_config *peers; /* sorted by id */
	int n_peers;
	struct tenant_config *tenants; /* sorted by id */
	int n_tenants;
	struct db_config **dbs;
	int n_dbs;
	struct user_config **users;
	int n_users;
	char *path;          /* main file as given */
	char *dir;           /* its directory, for relative paths */
	char **files;        /* every file read (for FILE:LINE), owned */
	int n_files;
	unsigned char *set_line_file; /* per key: index into files, for errors */
	int *set_line;       /* per key: line where set, 0 = default */
};

/* Diagnostics gathered while loading: "FILE:LINE: message" lines. */
struct cfg_diag {
	int errors;
	int warnings;
	struct strbuf text;
	bool unknown_is_error; /* --check: unknown settings are errors */
};

void cfg_diag_init(struct cfg_diag *d, bool unknown_is_error);
void cfg_diag_free(struct cfg_diag *d);
/* Read a whole file (an auth_file, an hba file) into out; a file that does
 * not open is an error in d naming it ("could not open WHAT"). */
bool cfg_read_file(const char *path, const char *what, struct strbuf *out, struct cfg_diag *d);

/* Load and validate. Returns NULL when any error was found (see d). */
struct config *config_load(const char *path, struct cfg_diag *d);
void config_free(struct config *c);
/* The checks config_load makes once a file is read (for a changed copy). */
bool config_validate(struct config *c, struct cfg_diag *d);

/* Resolve a path from the config relative to the main file's directory;
 * returns a new string. */
char *config_path(const struct config *c, const char *p);

/* Settings table access (SHOW CONFIG, admin SET). */
enum cfg_flags {
	CF_RELOAD = 1 << 0, /* takes effect on reload */
	CF_COMPAT = 1 << 1, /* accepted for PgBouncer compatibility; no effect */
	CF_SECRET = 1 << 2, /* value hidden in SHOW CONFIG */
};
struct cfg_key_info {
	const char *name;
	const char *def;
	unsigned flags;
};
int config_key_count(void);
const struct cfg_key_info *config_key(int i);
int config_key_find(const char *name);
/* Format a setting's current value as text (SHOW CONFIG). */
void config_format(const struct config *c, int key, char *buf, size_t len);
/* Parse one value into c (admin SET). false and msg on error. */
bool config_set(struct config *c, const char *name, const char *value, char *msg, size_t msglen);
/* Copy of a config (admin SET works on a copy, then swaps). */
struct config *config_dup(const struct config *c);
struct db_config *db_config_dup(const struct db_config *db);
void db_config_free(struct db_config *db);
/* Reload: settings that need a restart keep their running values in nc;
 * changed() is told each one that differed. Returns how many. */
int config_carry_fixed(struct config *nc, const struct config *old, void (*changed)(const char *name));
/* Compare two settings values (reload: what changed). */
bool config_key_equal(const struct config *a, const struct config *b, int key);

/* Helpers shared with other modules. */
bool cfg_list_contains(const char *list, const char *name);
const char *pool_mode_name(int mode);
const char *auth_type_name(int t);
const char *read_routing_name(int rr);
const char *tls_mode_name(int m);
bool parse_bool(const char *s, bool *out);
bool parse_time_usec(const char *s, usec_t *out);
bool parse_bytes(const char *s, int64_t *out);
bool parse_int(const char *s, int64_t *out);
bool parse_host_port_list(const char *s, struct host_port **out, int *n, int default_port, char *err, size_t errlen);
bool tenant_setting_valid(const char *name);

/* Effective per-database values. */
int db_pool_size(const struct config *c, const struct db_config *db);
int db_pool_mode(const struct config *c, const struct db_config *db, const struct user_config *u);
int db_read_routing(const struct config *c, const struct db_config *db);
int db_read_your_writes(const struct config *c, const struct db_config *db);
const struct peer_config *config_find_peer(const struct config *c, int id);
const char *read_your_writes_name(int v);
bool db_tenant_required(const struct config *c, const struct db_config *db);

const struct db_config *config_find_db(const struct config *c, const char *name);
const struct user_config *config_find_user(const struct config *c, const char *name);
/* A tenant's weight from [tenants] (1 when not listed). */
int config_tenant_weight(const struct config *c, const char *id);
int db_max_tenant_servers(const struct config *c, const struct db_config *db);

#endif
