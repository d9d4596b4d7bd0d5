/*
 * The core objects: users, databases, pools, clients and servers, and the
 * process-wide state that ties them together.
 *
 * Owns: type definitions only. Each object's behaviour lives in its own
 * file (pool.c, client.c, server.c); the comment on each state names the
 * list that holds an object in that state, as PgBouncer's bouncer.h does.
 */
#ifndef PGTIDE_PGTIDE_H
#define PGTIDE_PGTIDE_H

#include <event2/event.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "authfile.h"
#include "config.h"
#include "params.h"
#include "sbuf.h"
#include "scram.h"
#include "util/hash.h"
#include "util/list.h"

struct pool;
struct server;
struct client;
struct tenant;
struct sset;
struct sess_capture;
struct listen_pool;
struct listen_client;
struct cancel_conn;

/* ---- users ---- */


struct user {
	struct hnode hn;             /* users table, by name */
	char *name;
	enum secret_kind kind;
	char *secret;                /* as written in auth_file */
	struct scram_secret scram;   /* parsed when kind == SECRET_SCRAM */
	bool have_client_key;        /* learned from a client's SCRAM proof */
	uint8_t client_key[SCRAM_KEY_LEN];
	bool in_auth_file;
	usec_t authq_time;           /* when auth_query gave the secret; 0: not from there */
	int pool_mode;               /* [users]; -1 inherits */
	int max_user_connections;    /* [users]; -1 inherits */
	struct istr *tenant;         /* [users] tenant=: bound user */
	int server_count;            /* server connections, all pools */
	int client_count;
};

/* ---- databases ---- */

struct route_db;
struct ryw_db;

/*
 * Why pgtide closed a server connection: counted per database (SHOW
 * SERVER_CLOSES, pgtide_server_closed_total{reason} in /metrics) so that
 * a pool that churns through backends is seen at once. The names are in
 * stats.c; keep the two in step.
 */
enum close_reason {
	CR_UNCLEAN,        /* released in a protocol state pgtide cannot prove clean: a bug */
	CR_CLIENT_GONE,    /* its client left in the middle of a transaction */
	CR_SERVER_GONE,    /* the server closed the connection or the socket failed */
	CR_SERVER_ERROR,   /* a FATAL error from the server */
	CR_PROTOCOL,       /* the server sent something pgtide did not expect */
	CR_LOGIN_FAILED,   /* the connection or its login failed */
	CR_LIFETIME,       /* server_lifetime */
	CR_IDLE_TIMEOUT,   /* server_idle_timeout */
	CR_QUERY_TIMEOUT,  /* query_timeout: the query did not stop after a cancel */
	CR_RECONNECT,      /* configuration changed, RECONNECT, a host left */
	CR_ADMIN,          /* PAUSE, KILL from the console */
	CR_EVICTED,        /* room for another pool under max_db/user_connections */
	CR_SHUTDOWN,       /* pgtide is stopping */
	CR_RESET_FAILED,   /* a check, reset, settings or tenant statement of pgtide's failed */
	CR_SESSION_STATE,  /* state nothing can undo (LOAD), or a transaction in statement mode */
	CR_NOT_NEEDED,     /* a LISTEN or health-check connection no longer needed */
	CR_INTERNAL,       /* out of memory, a full queue: pgtide could not go on with it */
	CR_N
};

struct database {
	struct hnode hn;             /* databases table, by name */
	struct route_db *route;      /* replicas and their health (route.c) */
	struct ryw_db *ryw;          /* commit positions of its tenants (ryw.c) */
	char *name;
	struct db_config *cfg;       /* own deep copy; replaced on reload */
	bool autodb;                 /* made from the "*" entry */
	bool removed;                /* gone from the config; kept while in use */
	bool paused;
	bool disabled;
	int server_count;            /* for max_db_connections */
	int client_count;
	usec_t last_used;
	uint64_t servers_opened;     /* logins that succeeded */
	uint64_t servers_closed[CR_N]; /* by enum close_reason */
	struct list pools;           /* struct pool.db_node */
};

/* ---- pools: one per (database, user) ---- */

struct route_target;

/* A pool's waiting clients grouped by tenant (schedule.c). */
struct pool_sched {
	struct htab slots;           /* struct sched_slot by tenant */
	struct list ring;            /* slots that may be served now, in turn */
	struct list held;            /* slots waiting for their tenant's rate */
	struct list spare;           /* freed slots, reused: no allocation per transaction */
	int blocked;                 /* waiting clients whose slot is not in the ring */
	struct event timer;          /* the earliest rate refill of a held slot */
	bool timer_armed;
};

struct pool {
	struct list db_node;
	struct list all_node;
	struct database *db;
	struct user *user;           /* the user servers log in as */
	struct route_target *target; /* a replica, or NULL for the primary */

	struct list idle_servers;    /* SV_IDLE, most recently released first */
	struct list active_servers;  /* SV_ACTIVE: linked to a client */
	struct list tested_servers;  /* SV_TESTED: running a check/reset query */
	struct list login_servers;   /* SV_LOGIN: connecting and authenticating */
	struct list listen_servers;  /* SV_LISTEN: the shared LISTEN connection (listen.c) */
	struct list check_servers;   /* SV_CHECK: a server lent to its host's health check (health.c) */
	struct listen_pool *listen;  /* channels its clients listen to, or NULL */
	struct list active_clients;  /* CL_ACTIVE: logged in */
	struct list waiting_clients; /* CL_WAITING: FIFO for a server */
	int n_servers;               /* in any state but closing */
	int n_bound;                 /* servers kept for one client (session.c) */
	uint64_t bound_total;
	int n_waiting;
	struct pool_sched sched;     /* who of the waiting is served next */

	/* What new clients are told at login: the first server's report. */
	int n_welcome;
	struct istr **welcome_names;
	struct istr **welcome_values;
	struct pset *welcome_set;

	/* Server login failures: back off, and tell waiting clients why. */
	usec_t next_launch;
	usec_t retry_delay;
	char *last_error;
	char last_sqlstate[6];
	bool last_definitive;

	/* statistics (SHOW STATS) */
	uint64_t xact_count, query_count, bytes_in, bytes_out;
	uint64_t client_parse_count, server_parse_count, bind_count;
	uint64_t xact_time, query_time, wait_time;
	uint64_t errors;
};

/* ---- clients ---- */

enum client_state {
	CL_LOGIN,       /* login list: startup packet and authentication */
	CL_WAITING,     /* pool->waiting_clients: needs a server */
	CL_ACTIVE,      /* pool->active_clients (or admin list): logged in */
	CL_CANCEL,      /* cancel list: a CancelRequest connection */
	CL_JUSTFREE,    /* justfree list: closed, freed at end of loop */
};

/* pgtide plays the server for an aborted transaction it lost (emulate()
 * in client.c): where an extended-protocol ROLLBACK stands. */
enum emu_state { EMU_NONE, EMU_EXIT_PARSED };

/*
 * A lone BEGIN kept for a replay (a transaction's start runs again on
 * another server if its server dies before the client saw more than the
 * BEGIN's answer). One field, one setter (client_begin_replay), instead of
 * four booleans:
 *
 *   BR_NONE --retain a lone BEGIN--> BR_KEPT --its CommandComplete--> BR_ANSWERED
 *   BR_ANSWERED --the next request joins the kept bytes--> BR_JOINED
 *   BR_ANSWERED/BR_JOINED --the server dies: client_replay--> BR_REPLAYING
 *   BR_REPLAYING --the BEGIN sent again, its replies swallowed--> BR_ANSWERED
 *   any but BR_REPLAYING --client_replay_drop--> BR_NONE
 */
enum begin_replay {
	BR_NONE,      /* no lone BEGIN kept (another request may be) */
	BR_KEPT,      /* a lone BEGIN is kept, not answered yet */
	BR_ANSWERED,  /* the client has its answer; the next request joins it */
	BR_JOINED,    /* ... and the next request did */
	BR_REPLAYING, /* sent again on a new server: its replies are not the client's */
};

/* Bytes of a request, to send again elsewhere. */
struct replay {
	size_t len;
	bool pooled;            /* a bufpool block, else malloc'd */
	uint8_t data[];
};

/* An error decided while the client waited; sent for its next request. */
struct pending_error {
	char sqlstate[6];
	char message[];
};

/* Everything a client needs while logging in; freed once it is in. */
struct login_state {
	char *user_name;
	char *db_name;
	char *values[NPARAMS];      /* tracked parameters from the startup packet */
	char *tenant;               /* tenant from the startup packet, if any */
	int n_sets;                 /* other settings from the startup packet */
	char **set_names;           /* ... (session.c carries them) */
	char **set_values;
	bool wait_welcome;          /* authenticated; the pool has no parameters yet */
	bool peer_admin;            /* console user of pgtide's own OS uid (unix socket) */
	/* authentication exchange */
	int method;
	int step;
	uint8_t md5_salt[4];
	struct scram_server *scram;
	uint8_t cbind[64];          /* tls-server-end-point hash of our certificate */
	bool unknown_user;          /* go through the motions, then refuse */
	bool scram_from_plain;      /* SCRAM secret made up from a plain password */
	bool authq_waiting;         /* auth_query lookup in flight */
	bool authq_done;            /* looked up (found or not) */
};

struct client {
	struct sbuf sb;
	struct list node;            /* in the list of its state */
	struct hnode id_hn;          /* clients by id (cancel, KILL_CLIENT) */
	struct pool *pool;           /* home pool: the primary's, for this db and user */
	struct pool *wait_pool;      /* where it waits (CL_WAITING): home or a replica's */
	/* Sharing pools between tenants: schedule.c's alone to write. */
	struct client_sched {
		struct list node;           /* in its slot's FIFO while waiting */
		struct sched_slot *wait;    /* the slot it waits in */
		struct sched_slot *held;    /* the slot its server counts against */
		struct pool *pool;          /* that slot's pool */
		struct tenant *tenant;      /* the tenant its server counts for */
	} sched;
	/* Read your writes: ryw.c's alone to write. */
	struct client_ryw {
		struct list node;           /* in the list of reads waiting for a replica */
		usec_t since;               /* its read waits since; 0: it does not */
		uint64_t lsn;               /* its last commit's position */
		uint32_t pending;           /* commits whose position is being asked */
		bool write;                 /* its transaction on the primary may write */
	} ryw;
	struct server *server;       /* linked server */
	struct user *user;
	struct database *db;
	struct pset *params;         /* what the client believes is set */
	struct tenant *tenant;
	struct login_state *login;   /* heap, only while logging in */
	struct pending_error *pending_error; /* answer for the next request */
	struct client_stmts *stmts;  /* prepared statement names (prepare.c) */
	struct sset *sess;           /* session settings it has set (session.c) */
	struct listen_client *listen; /* channels it listens to (listen.c), or NULL */
	struct replay *replay;       /* a replica's first request, kept for a replay */
	enum begin_replay begin_replay; /* a lone BEGIN in it (client_begin_replay) */
	usec_t connect_time;
	usec_t request_time;
	usec_t wait_start;
	usec_t xact_start;
	usec_t query_start;
	uint32_t id;                 /* also the pid clients see in BackendKeyData */
	uint32_t cancel_key;
	uint16_t port;
	uint8_t family;
	uint8_t addr[16];
	uint8_t state;
	enum emu_state emu;          /* emulate() */
	uint16_t bound_flags;        /* SE_* why its server is kept for it; 0: not bound */
	char status;                 /* transaction status last told to the client */
	/* flags, as bits: an idle client's size is what 100k of them cost */
	bool admin : 1;
	bool admin_listener : 1;       /* came in on admin_listen_port */
	bool admin_full : 1;           /* admin_users, not only stats_users */
	bool close_after_xact : 1;     /* shutdown: leave after this transaction */
	bool served : 1;               /* a transaction of its has started */
	bool failed_block : 1;         /* pgtide emulates an aborted transaction */
	bool skip_to_sync : 1;         /* extended protocol: ignore until Sync */
	bool in_copy : 1;              /* COPY IN from client in progress */
	bool want_server : 1;          /* waiting is for a transaction */
	bool route_primary : 1;        /* the next transaction runs on the primary */
	bool counted : 1;              /* counted in user/db client totals */
	bool notify_sent : 1;          /* its transaction may NOTIFY, and it listens (listen.c) */
};

/* ---- servers ---- */

enum server_state {
	SV_LOGIN,       /* pool->login_servers: connecting, authenticating */
	SV_IDLE,        /* pool->idle_servers: ready */
	SV_ACTIVE,      /* pool->active_servers: linked to a client */
	SV_TESTED,      /* pool->tested_servers: pgtide's own query running */
	SV_LISTEN,      /* pool->listen_servers: LISTENs for the pool's clients */
	SV_CHECK,       /* pool->check_servers: checks its host (route.c) */
	SV_JUSTFREE,    /* justfree list */
};

/*
 * Inside a state, two small machines say what a server is in the middle
 * of; each changes only through its setter in server.c, which checks the
 * change against its diagram and logs any other with "please report
 * this" (the integration tests fail on that line).
 *
 * The extended protocol as Postgres sees it (server_set_sync):
 *
 *            Parse/Bind/Describe/Execute/Close
 *   SYNC_NONE -------------------------------> SYNC_OPEN
 *       ^  ^ <------- Sync, or a Query ---------- |
 *       |  |                                      | an error, its Sync not
 *       |  |  an error after a Query closed       | yet sent
 *       |  |  the group (Postgres skips it too)   v
 *       |  +----------------------------------- SYNC_SKIPPING
 *       +------------------- Sync -------------------+
 *
 * While it skips, Postgres discards everything up to the client's Sync, a
 * Query included: only a Sync leaves SYNC_SKIPPING.
 */
enum server_sync {
	SYNC_NONE,      /* no extended message since the last Sync */
	SYNC_OPEN,      /* a group is open: its Sync is not sent yet */
	SYNC_SKIPPING,  /* an error: the server skips to a Sync not yet sent */
};

/*
 * Where a linked server is in its client's transaction (server_set_phase):
 *
 *                 the client's COMMIT/ROLLBACK sent
 *   TX_SERVING ------------------------------------> TX_EXITING
 *     ^  |  ^  <---------- its ReadyForQuery ----------- |
 *     |  |  |                                            |
 *     |  |  +--- answers in --- TX_ASKING <--+           |
 *     |  |        (session capture, commit   |           |
 *     |  |         position: pgtide's own)   |           |
 *     |  +-- the transaction is over --------+           |
 *     |  |   (asks first when a question is due)         |
 *     |  v                                               |
 *     +- TX_RELEASING <----------------------------------+
 *        (released once the client has read all its replies;
 *         back to TX_SERVING when the client goes on using it)
 *
 * A server that is unlinked, idle, logging in or pgtide's own is
 * TX_SERVING.
 */
enum server_phase {
	TX_SERVING,     /* serving its client's requests (or nobody's) */
	TX_EXITING,     /* the client's COMMIT or ROLLBACK is in flight, until
			 * the ReadyForQuery that ends it (RQ_AUX_EXIT: an
			 * earlier request's, in a pipeline, ends nothing) */
	TX_ASKING,      /* over; pgtide's questions about it are in flight */
	TX_RELEASING,   /* over; released once the client has its replies */
};

/* What a server connection is for; set when it is launched or lent. */
enum server_role {
	ROLE_POOL,      /* serves the pool's clients */
	ROLE_LISTENER,  /* the pool's LISTEN connection (listen.c) */
	ROLE_CHECK,     /* lent to its host's health check (health.c) */
};

/* One reply the server owes, in order (see server.c). */
struct rq_entry {
	uint8_t type;   /* frontend message that asked: Q P B D E C S F */
	uint8_t pad;
	uint16_t flags;
	uint32_t aux;
};

#define RQ_CONSUME 0x01      /* pgtide's own message: replies are not forwarded */
#define RQ_DESC_STMT 0x02    /* Describe of a statement: 't' then 'T'/'n' */
#define RQ_GOT_T 0x04
#define RQ_PARAMS 0x08       /* parameter sync query */
#define RQ_TENANT 0x10       /* tenant injection */
#define RQ_CHECK 0x20        /* check or reset query */
#define RQ_WAIT 0x40         /* the client waits for this one's ReadyForQuery */
#define RQ_RESET 0x80        /* server_reset_query: session state is gone */
#define RQ_SYNTH 0x100       /* pgtide answers this one itself (aux: a backend type, or enum synth_tag) */
#define RQ_MAPPED 0x200      /* a mapped Parse: has an entry in the statement FIFO */
#define RQ_CONSUME_OK 0x400  /* pgtide's own: success is consumed, an error goes to the client */
#define RQ_RETRYABLE 0x800   /* a Bind that may be retried after a plan change */
#define RQ_FAILED 0x1000     /* an error came for this Query before its ReadyForQuery */
#define RQ_SESS 0x2000       /* session settings apply (session.c) */
#define RQ_CAPTURE 0x4000    /* asking a server something after a transaction (aux: enum capture_what) */
enum capture_what { CAP_SETTINGS, CAP_POSITION }; /* session settings (session.c), a commit's position (ryw.c) */
#define RQ_SIDE 0x8000       /* on a side connection: LISTEN/UNLISTEN (listen.c) or a host check (route.c) */
/* aux of a client's Query or Sync whose ReadyForQuery ends a transaction
 * the client ended (COMMIT, ROLLBACK in it): TX_EXITING lasts until then */
#define RQ_AUX_EXIT 0x80000000u

#define RQ_CAP 512

struct server_login;

struct server {
	struct sbuf sb;
	struct list node;
	struct pool *pool;
	struct client *client;
	struct server_login *login;  /* heap, only while logging in */
	struct pset *params;
	usec_t connect_time;
	usec_t request_time;         /* last time a client used it */
	usec_t release_time;
	usec_t query_start;          /* query_timeout */
	uint32_t id;
	uint32_t be_pid, be_key;
	uint32_t last_client_id;     /* the client it serves or served last (NOTIFY's sender, listen.c) */
	uint8_t state;               /* enum server_state (server_set_state) */
	uint8_t sync;                /* enum server_sync (server_set_sync) */
	uint8_t phase;               /* enum server_phase (server_set_phase) */
	uint8_t role;                /* enum server_role */
	char status;                 /* transaction status from its last ReadyForQuery */
	bool connect_pending;        /* its deferred connect has not run yet (not freed before) */
	const char *close_why;       /* close when released (reload, lifetime): static words for the log; NULL: no */
	uint8_t close_reason;        /* ... and the enum close_reason it will be counted under */
	bool in_copy;                /* a COPY runs (CopyIn/CopyOut until its end) */
	bool rq_blocked;             /* client stopped: reply queue was full */
	bool txn_bad;                /* an error or ROLLBACK in the open transaction */
	bool portal_suspendable;     /* the client ran the unnamed portal with a row limit */
	bool group_start;            /* the message being handled starts a request group */
	bool route_retry;            /* a replica refused a write: replay on the primary */
	/* The tenant its session has: tenant.c's alone to write. */
	struct server_tenant {
		struct tenant *val;
		uint32_t client;     /* the client that SET went with */
		char *wait_error;    /* a waited-for SET failed: "SQLSTATE could not set ..." */
		bool known;          /* val is what the session has */
		bool pending;        /* ... but its transaction is still open */
		bool bound;          /* ... and was set for a bound user */
	} ten;
	struct server_stmts *stmts;  /* statements prepared here (prepare.c) */
	/* What its session carries: session.c's alone to write. */
	struct server_session {
		struct sset *sess;           /* settings its session has, beyond params */
		struct sess_capture *cap;    /* asking what a transaction left */
		struct tenant *last_tenant;  /* tenant of the last client it served */
		uint8_t reset;               /* enum sess_reset: before the next client */
		bool used;                   /* served a client since it was clean */
		bool last_bound_user;        /* ... and that client was a bound user */
		bool discard_seen;           /* a client sent DISCARD ALL */
		bool dirty;                  /* session mode: its client's session may be left */
	} ses;
	/* The commit position asked after a write: ryw.c's alone to write. */
	struct server_pos {
		bool pending;        /* the position query is in flight */
		uint64_t lsn;        /* its answer */
		struct tenant *tenant; /* the tenant whose position it raises */
	} pos;
	struct route_target *check_target; /* ROLE_CHECK: of this host; NULL once detached */
	struct route_target *dest;   /* the host a primary pool's server went to (a host list) */
	struct cancel_conn *cancels; /* CancelRequests in flight for it (server.c) */
	struct server_cancel {
		bool sent;           /* a cancel went to its backend for this client */
		bool by_timeout;     /* ... by pgtide, for query_timeout */
		bool parked;         /* released, held back while a cancel is in flight */
	} cancel;
	struct pktbuf holdback;      /* replies held until the request ran (replay); */
	bool holding;                /* its buffer is kept for the next one */
	uint16_t rq_head, rq_len;
	struct rq_entry rq[RQ_CAP];
};

/* ---- listeners ---- */

struct listener {
	struct list node;
	int fd;
	struct event ev;
	bool admin_only;
	bool unix_socket;
	char addr[64];
	int port;
	char *path;                  /* unix socket file */
	char *lock_path;
	int lock_fd;
	struct event retry_ev;       /* accept paused after EMFILE */
	bool paused;
};

/* ---- the process ---- */

struct pgtide {
	struct event_base *base;
	struct config *cfg;
	char *config_path;
	struct htab users;           /* struct user, by name */
	struct htab databases;       /* struct database, by name */
	struct htab clients_by_id;   /* struct client */
	struct list pools;           /* struct pool.all_node */
	struct list login_clients;   /* CL_LOGIN */
	struct list admin_clients;   /* CL_ACTIVE admin console */
	struct list cancel_clients;  /* CL_CANCEL */
	struct list justfree_clients;
	struct list justfree_servers;
	struct list listeners;
	int n_clients;               /* all client connections */
	uint64_t servers_opened;     /* all databases, removed ones too (/metrics) */
	uint64_t servers_closed[CR_N];
	uint32_t next_client_id;
	uint32_t next_server_id;
	bool shutting_down;
	bool paused;                 /* SIGUSR1 / PAUSE */
	usec_t shutdown_deadline;
	usec_t start_time;           /* wall clock at start */
	usec_t start_mono;           /* monotonic clock at start */
	bool suspended;
	char *tenant_setting;        /* effective tenant setting (lowercase) */
	struct hba *hba;             /* auth_hba_file rules, when auth_type = hba */
};

extern struct pgtide g;

/*
 * What a policy module (tenant, session, prepare, route) decides about a
 * client message. It does not send, close or queue for the client itself:
 * client.c acts on the verdict (client_act).
 */
enum verdict {
	V_FORWARD,  /* send the message on to the server */
	V_ANSWERED, /* handled: rewritten for the server, or answered */
	V_WAIT,     /* leave it unread; the connection code continues it */
	V_DENY,     /* refuse this request: an ERROR (struct refusal) */
	V_CLOSE,    /* close the client (struct refusal) */
};
struct refusal {
	char sqlstate[6];
	char msg[256];
};

/*
 * What the admin console may ask of the daemon. main.c owns start-up,
 * reload and shutdown and registers these at start, so that no module
 * depends on main.c (globals.c holds the pointer).
 */
struct daemon_ops {
	/* Reload the configuration (SIGHUP, RELOAD). false keeps the running one. */
	bool (*reload)(void);
	/* Console SET: change one reloadable setting of the running config. */
	bool (*set_setting)(const char *key, const char *value, char *msg, size_t msglen, char *notice, size_t nlen);
	/* PAUSE/RESUME from signals and the console. */
	void (*pause)(bool on);
	/* SUSPEND (and RESUME after it): also stop accepting clients. */
	void (*suspend)(bool on);
	/* Graceful shutdown (first SIGINT/SIGTERM, SHUTDOWN); immediate ends now. */
	void (*shutdown)(bool immediate);
};
extern const struct daemon_ops *daemon_ops;

/* Monotonic and wall clocks (globals.c). */
usec_t now_usec(void);
usec_t wall_usec(void);

/* Per-database effective values, resolved against the live config. */
static inline const struct settings *S(void)
{
	return &g.cfg->s;
}

/* A pool's size and mode as configured now (the database's line, the
 * user's, the defaults): plain reads of the configuration, for every layer. */
static inline int pool_size_of(const struct pool *p)
{
	return db_pool_size(g.cfg, p->db->cfg);
}

/* The pool mode for a client logged in as client_user (NULL: the pool's). */
static inline int pool_mode_of(const struct pool *p, const struct user *client_user)
{
	if (client_user && client_user->pool_mode >= 0)
		return client_user->pool_mode;
	if (p->user->pool_mode >= 0)
		return p->user->pool_mode;
	return db_pool_mode(g.cfg, p->db->cfg, NULL);
}

/* Plain reads of a server's protocol machine (enum server_sync), for every
 * layer: a group is open or skipping (its Sync not sent yet), or skipping. */
static inline bool server_unsynced(const struct server *s)
{
	return s->sync != SYNC_NONE;
}

static inline bool server_skipping(const struct server *s)
{
	return s->sync == SYNC_SKIPPING;
}

/* No transaction, nothing owed, no group open. */
static inline bool server_is_idle_for_txn(const struct server *s)
{
	return s->status == 'I' && s->rq_len == 0 && s->sync == SYNC_NONE;
}

/* ... and no COPY, no question of pgtide's in flight, no replies held
 * back, no half-forwarded message: the only state in which a server may
 * serve another client (release.c). */
static inline bool server_is_clean(const struct server *s)
{
	return server_is_idle_for_txn(s) && !s->in_copy && s->phase != TX_ASKING && !s->holding && !s->sb.fwd_partial;
}

/* server_close_later was called: s goes when it is released. */
static inline bool server_close_due(const struct server *s)
{
	return s->close_why != NULL;
}

#endif
