/*
 * pgtide: command line, daemon start-up, signals, reload and shutdown.
 *
 * Owns: the order in which everything starts and stops, and the swap of
 * configurations on reload. Must not contain protocol or pooling logic.
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "auth.h"
#include "bufpool.h"
#include "client.h"
#include "config.h"
#include "dns.h"
#include "janitor.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "params.h"
#include "pgtide.h"
#include "pool.h"
#include "prepare.h"
#include "peer.h"
#include "health.h"
#include "route.h"
#include "server.h"
#include "session.h"
#include "stats.h"
#include "tenant.h"
#include "authq.h"
#include "hba.h"
#include "tls.h"
#include "scram.h"
#include "util/hash.h"
#include "util/sdnotify.h"
#include "util/strbuf.h"

static struct event sig_hup, sig_int, sig_term, sig_usr1, sig_usr2;
static int shutdown_signals;

/*
 * --scram-secret / --md5 USER: a password from stdin (its first line) to
 * the secret userlist.txt takes, as Postgres itself would store it: a
 * SCRAM-SHA-256 secret with a random 16-byte salt and 4096 iterations
 * (Postgres's defaults), or "md5" + md5(password || user).
 */
static int print_secret(const char *md5_user)
{
	char pw[1024];
	if (!fgets(pw, sizeof(pw), stdin)) {
		fprintf(stderr, "pgtide: no password on stdin\n");
		return 2;
	}
	size_t n = strcspn(pw, "\r\n");
	if (pw[n] == '\0' && n == sizeof(pw) - 1) {
		fprintf(stderr, "pgtide: password longer than %zu bytes\n", sizeof(pw) - 2);
		return 2;
	}
	pw[n] = '\0';
	int rc = 0;
	if (md5_user) {
		char out[36];
		md5_password_hash(pw, md5_user, out);
		printf("%s\n", out);
	} else {
		uint8_t salt[16];
		struct scram_secret s;
		char out[256];
		if (RAND_bytes(salt, sizeof(salt)) != 1 ||
		    !scram_secret_from_password(pw, salt, sizeof(salt), 4096, &s, NULL) ||
		    !scram_format_secret(&s, out, sizeof(out))) {
			fprintf(stderr, "pgtide: could not make a SCRAM secret\n");
			rc = 1;
		} else {
			printf("%s\n", out);
		}
	}
	OPENSSL_cleanse(pw, sizeof(pw));
	return rc;
}

static void usage(FILE *out)
{
	fprintf(out,
		"pgtide %s -- PostgreSQL connection pooler with tenant context and read routing\n"
		"\n"
		"Usage: pgtide [OPTION]... CONFIG\n"
		"  -d, --daemon      run in the background (needs pidfile)\n"
		"  -v, --verbose     more log output (repeat for more)\n"
		"  -q, --quiet       no log output on stderr\n"
		"  -t, --check       check CONFIG and exit: 0 when valid\n"
		"  -V, --version     print the version and exit\n"
		"  -h, --help        print this help and exit\n"
		"\n"
		"       pgtide --scram-secret     < password   print a SCRAM-SHA-256 secret for userlist.txt\n"
		"       pgtide --md5 USER         < password   print USER's md5 secret\n"
		"\n"
		"Signals: HUP reloads, INT/TERM shut down gracefully (twice: at once),\n"
		"USR1 pauses, USR2 resumes. See etc/pgtide.ini for every setting.\n",
		PACKAGE_VERSION);
}

static void print_diag(struct cfg_diag *d, FILE *out)
{
	if (d->text.len)
		fputs(d->text.data, out);
}

static void log_diag(struct cfg_diag *d)
{
	if (!d->text.len)
		return;
	char *save = NULL;
	char *copy = xstrdup(d->text.data);
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strstr(line, ": warning: "))
			log_warn("%s", line);
		else
			log_error("%s", line);
	}
	free(copy);
}

/* What a loaded config needs before it runs: its auth_file and hba file
 * read, and (tls: true) its TLS contexts built and swapped in. false with
 * diagnostics; c is then freed. */
static bool prepare_config(struct config *c, struct cfg_diag *d, struct auth_entry **auth, struct hba **hba, bool tls)
{
	*auth = NULL;
	*hba = NULL;
	if (c->s.auth_file && *c->s.auth_file) {
		char *p = config_path(c, c->s.auth_file);
		int before = d->errors;
		*auth = auth_file_load(p, d);
		free(p);
		if (d->errors > before) {
			auth_entries_free(*auth);
			*auth = NULL;
			config_free(c);
			return false;
		}
	}
	if (c->s.auth_type == AUTH_HBA && c->s.auth_hba_file && *c->s.auth_hba_file) {
		char *p = config_path(c, c->s.auth_hba_file);
		*hba = hba_load(p, d);
		free(p);
		if (!*hba) {
			auth_entries_free(*auth);
			*auth = NULL;
			config_free(c);
			return false;
		}
	}
	/* Last, because it swaps the running TLS contexts when it succeeds. */
	char err[512];
	if (tls && !tls_configure(c, err, sizeof(err), NULL)) {
		strbuf_printf(&d->text, "%s\n", err);
		d->errors++;
		auth_entries_free(*auth);
		*auth = NULL;
		hba_free(*hba);
		*hba = NULL;
		config_free(c);
		return false;
	}
	return true;
}

/* Load the config and its files; NULL with diagnostics on failure. */
static struct config *load_all(const char *path, struct cfg_diag *d, struct auth_entry **auth, struct hba **hba)
{
	struct config *c = config_load(path, d);
	if (!c || !prepare_config(c, d, auth, hba, true))
		return NULL;
	return c;
}

static void set_tenant_setting(void)
{
	free(g.tenant_setting);
	g.tenant_setting = NULL;
	const char *t = S()->tenant_setting;
	if (t && *t) {
		g.tenant_setting = xstrdup(t);
		for (char *p = g.tenant_setting; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
	}
	char err[256];
	if (!tenant_configure(err, sizeof(err)))
		log_error("tenant_pattern: %s", err); /* validated at load: not reached */
}

static void apply_logging(bool quiet, int extra_verbose)
{
	char *lf = S()->logfile && *S()->logfile ? config_path(g.cfg, S()->logfile) : NULL;
	if (!log_configure(S()->verbose + extra_verbose, quiet, lf, S()->syslog, S()->syslog_ident))
		log_error("could not open log file \"%s\": %s", lf, strerror(errno));
	free(lf);
}

static int cmdline_verbose;
static bool cmdline_quiet;

static void warn_restart(const char *name)
{
	log_warn("%s changed in the configuration; it takes effect only after a restart", name);
}

static bool reload_config(void);

/* A reload, told to systemd (Type=notify: RELOADING=1, then READY=1). */
static bool pgtide_reload(void)
{
	sdnotify("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading", (unsigned long long)now_usec());
	bool ok = reload_config();
	sdnotify("READY=1\nSTATUS=%s", ok ? "configuration reloaded" : "reload failed: running configuration kept");
	return ok;
}

static bool reload_config(void)
{
	struct cfg_diag d;
	struct auth_entry *auth;
	struct hba *hba;
	cfg_diag_init(&d, false);
	struct config *nc = load_all(g.config_path, &d, &auth, &hba);
	log_diag(&d);
	cfg_diag_free(&d);
	if (!nc) {
		log_error("reload failed: keeping the running configuration");
		return false;
	}
	/* Settings bound at start-up (sockets, pidfile) keep their running values. */
	config_carry_fixed(nc, g.cfg, warn_restart);
	struct config *old = g.cfg;
	g.cfg = nc;
	objects_apply_config(nc, auth);
	auth_entries_free(auth);
	hba_free(g.hba);
	g.hba = hba;
	config_free(old);
	set_tenant_setting();
	apply_logging(cmdline_quiet, cmdline_verbose);
	log_reopen();
	log_info("configuration reloaded");
	janitor_run();
	return true;
}

/* The first error line of d, without its FILE:LINE (a SET has none). */
static void first_error(const struct cfg_diag *d, char *msg, size_t msglen)
{
	const char *t = d->text.data ? d->text.data : "invalid value";
	const char *line = t;
	for (const char *p = t; *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : p + strlen(p)) {
		if (!strstr(p, ": warning: ")) {
			line = p;
			break;
		}
	}
	const char *colon = strstr(line, ": ");
	const char *start = line;
	if (colon && colon - line < 400 && strncmp(line, "/", 1) == 0) {
		const char *second = strstr(colon + 2, ": ");
		start = second && strchr(colon + 2, ' ') > second ? second + 2 : colon + 2;
	}
	size_t n = strcspn(start, "\n");
	snprintf(msg, msglen, "%.*s", (int)n, start);
}

/* SET: a reload with one value changed. The copy is checked, its files
 * read, its TLS contexts built and its derived state rebuilt before it
 * replaces the running configuration; anything wrong refuses the SET and
 * changes nothing, so what SET accepts is in effect. The one exception
 * (notice says so) is half of a new certificate/key pair. */
static bool pgtide_set_setting(const char *key, const char *value, char *msg, size_t msglen, char *notice, size_t nlen)
{
	notice[0] = '\0';
	struct config *nc = config_dup(g.cfg);
	if (!config_set(nc, key, value, msg, msglen)) {
		config_free(nc);
		return false;
	}
	struct cfg_diag d;
	cfg_diag_init(&d, false);
	struct auth_entry *auth = NULL;
	struct hba *hba = NULL;
	if (!config_validate(nc, &d)) {
		first_error(&d, msg, msglen);
		cfg_diag_free(&d);
		config_free(nc);
		return false;
	}
	if (!prepare_config(nc, &d, &auth, &hba, false)) {
		first_error(&d, msg, msglen);
		cfg_diag_free(&d);
		return false;
	}
	cfg_diag_free(&d);
	if (strstr(key, "_tls_")) {
		/* As a reload: what does not load is refused and nothing changes.
		 * One case is let through, as PgBouncer does, so that a
		 * certificate and its key can be replaced one SET at a time: the
		 * new half of a pair is kept while the running TLS stays on the
		 * old pair, and a NOTICE says so. */
		char err[400];
		bool mismatch;
		if (!tls_configure(nc, err, sizeof(err), &mismatch)) {
			if (!mismatch || (!strstr(key, "_tls_cert_file") && !strstr(key, "_tls_key_file"))) {
				snprintf(msg, msglen, "%s not changed: the TLS settings would not load: %s", key, err);
				auth_entries_free(auth);
				hba_free(hba);
				config_free(nc);
				return false;
			}
			snprintf(notice, nlen, "%s is set, but TLS goes on with the previous certificate and key until "
				 "the other half of the new pair is set too: %s", key, err);
			log_warn("SET %s: %s", key, notice);
		}
	}
	struct config *old = g.cfg;
	g.cfg = nc;
	objects_apply_config(nc, auth);
	auth_entries_free(auth);
	if (hba || nc->s.auth_type != AUTH_HBA) {
		hba_free(g.hba);
		g.hba = hba;
	}
	config_free(old);
	set_tenant_setting();
	apply_logging(cmdline_quiet, cmdline_verbose);
	log_info("SET %s = '%s'", key, value);
	janitor_run();
	return true;
}

static void pgtide_suspend(bool on)
{
	g.suspended = on;
	listeners_pause(on);
	log_info(on ? "SUSPEND: not accepting new clients, no new transactions" : "resuming from SUSPEND");
	pool_pause_all(on || g.paused);
}

static void pgtide_pause(bool on)
{
	log_info(on ? "pausing: no new transactions start until RESUME" : "resuming");
	pool_pause_all(on);
}

static void close_idle_for_shutdown(void)
{
	struct list *ln, *tmp;
	/* Clients that connected but were not served yet (still logging in,
	 * or no transaction run) get one transaction: a client that opens a
	 * connection per request, whose connection the old process of a
	 * restart accepted just before it was told to stop, loses nothing. */
	list_for_each_safe(ln, tmp, &g.login_clients) {
		struct client *c = container_of(ln, struct client, node);
		c->close_after_xact = true;
	}
	struct list *pn;
	list_for_each(pn, &g.pools) {
		struct pool *p = container_of(pn, struct pool, all_node);
		list_for_each_safe(ln, tmp, &p->waiting_clients) {
			struct client *c = container_of(ln, struct client, node);
			c->close_after_xact = true; /* its transaction is on its way */
		}
		list_for_each_safe(ln, tmp, &p->active_clients) {
			struct client *c = container_of(ln, struct client, node);
			bool idle = !c->server || (server_is_idle_for_txn(c->server) && !sbuf_has_output(&c->sb));
			if (idle && c->served)
				client_close(c, "57P01", "pgtide is shutting down");
			else
				c->close_after_xact = true;
		}
		list_for_each_safe(ln, tmp, &p->idle_servers) {
			struct server *s = container_of(ln, struct server, node);
			server_close(s, CR_SHUTDOWN, "shutting down");
		}
		list_for_each_safe(ln, tmp, &p->login_servers) {
			struct server *s = container_of(ln, struct server, node);
			server_close(s, CR_SHUTDOWN, "shutting down");
		}
		list_for_each_safe(ln, tmp, &p->listen_servers) {
			struct server *s = container_of(ln, struct server, node);
			server_close(s, CR_SHUTDOWN, "shutting down");
		}
		list_for_each_safe(ln, tmp, &p->check_servers) {
			struct server *s = container_of(ln, struct server, node);
			server_close(s, CR_SHUTDOWN, "shutting down");
		}
	}
}

static void pgtide_shutdown(bool immediate)
{
	if (immediate) {
		log_info("shutting down now");
		event_base_loopbreak(g.base);
		return;
	}
	if (g.shutting_down)
		return;
	g.shutting_down = true;
	sdnotify("STOPPING=1\nSTATUS=shutting down: waiting for running transactions");
	g.shutdown_deadline = now_usec() + S()->shutdown_timeout;
	log_info("shutting down: no new connections; waiting up to %lld s for running transactions",
		 (long long)(S()->shutdown_timeout / USEC));
	listeners_close();
	close_idle_for_shutdown();
	defer_call(pool_shutdown_progress, NULL);
	janitor_run();
}

/* what the admin console may ask of the daemon (see globals.c) */
static const struct daemon_ops main_ops = {
	.reload = pgtide_reload,
	.set_setting = pgtide_set_setting,
	.pause = pgtide_pause,
	.suspend = pgtide_suspend,
	.shutdown = pgtide_shutdown,
};

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	(void)arg;
	switch (sig) {
	case SIGHUP:
		log_info("SIGHUP: reloading configuration");
		pgtide_reload();
		break;
	case SIGINT:
	case SIGTERM:
		shutdown_signals++;
		pgtide_shutdown(shutdown_signals > 1);
		break;
	case SIGUSR1:
		pgtide_pause(true);
		break;
	case SIGUSR2:
		pgtide_pause(false);
		break;
	default:
		break;
	}
}

static void setup_signals(void)
{
	signal(SIGPIPE, SIG_IGN);
	evsignal_assign(&sig_hup, g.base, SIGHUP, on_signal, NULL);
	evsignal_assign(&sig_int, g.base, SIGINT, on_signal, NULL);
	evsignal_assign(&sig_term, g.base, SIGTERM, on_signal, NULL);
	evsignal_assign(&sig_usr1, g.base, SIGUSR1, on_signal, NULL);
	evsignal_assign(&sig_usr2, g.base, SIGUSR2, on_signal, NULL);
	evsignal_add(&sig_hup, NULL);
	evsignal_add(&sig_int, NULL);
	evsignal_add(&sig_term, NULL);
	evsignal_add(&sig_usr1, NULL);
	evsignal_add(&sig_usr2, NULL);
}

static void raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && (rlim_t)S()->max_client_conn + 64 > rl.rlim_cur)
		log_warn("max_client_conn (%d) is above the open-file limit (%llu): clients past the limit are refused",
			 S()->max_client_conn, (unsigned long long)rl.rlim_cur);
}

static bool write_pidfile(const char *path)
{
	FILE *f = fopen(path, "r");
	if (f) {
		int pid = 0;
		if (fscanf(f, "%d", &pid) == 1 && pid > 0 && pid != getpid() && kill(pid, 0) == 0) {
			fclose(f);
			log_error("pidfile \"%s\" names a running process (%d); is pgtide already running?", path, pid);
			return false;
		}
		fclose(f);
	}
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f) != 0 || rename(tmp, path) != 0) {
		log_error("could not write pidfile \"%s\": %s", path, strerror(errno));
		return false;
	}
	return true;
}

static bool drop_privileges(const char *user)
{
	if (!user || !*user || geteuid() != 0)
		return true;
	struct passwd *pw = getpwnam(user);
	if (!pw) {
		log_error("user \"%s\" does not exist", user);
		return false;
	}
	if (setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0) {
		log_error("could not switch to user \"%s\": %s", user, strerror(errno));
		return false;
	}
	return true;
}

/* Fork into the background; the parent waits until the child has its
 * sockets open (or failed) and exits with the child's verdict. */
static int daemonize(void)
{
	int pfd[2];
	if (pipe(pfd) < 0)
		die("pipe: %s", strerror(errno));
	pid_t pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid > 0) {
		close(pfd[1]);
		char ok = 0;
		ssize_t n = read(pfd[0], &ok, 1);
		_exit(n == 1 && ok == 1 ? 0 : 1);
	}
	close(pfd[0]);
	setsid();
	int nul = open("/dev/null", O_RDWR);
	if (nul >= 0) {
		dup2(nul, 0);
		dup2(nul, 1);
		dup2(nul, 2);
		if (nul > 2)
			close(nul);
	}
	log_stderr_off();
	return pfd[1];
}

static void report_ready(int fd, bool ok)
{
	if (fd < 0)
		return;
	char c = ok ? 1 : 0;
	if (write(fd, &c, 1) < 0) {
		/* parent is gone: nothing to report to */
	}
	close(fd);
}

static void final_cleanup(void)
{
	struct list *ln, *tmp, *pn;
	list_for_each_safe(ln, tmp, &g.admin_clients) {
		struct client *c = container_of(ln, struct client, node);
		client_close(c, "57P01", "pgtide is shutting down");
	}
	list_for_each_safe(ln, tmp, &g.login_clients) {
		struct client *c = container_of(ln, struct client, node);
		client_close(c, "57P01", "pgtide is shutting down");
	}
	list_for_each(pn, &g.pools) {
		struct pool *p = container_of(pn, struct pool, all_node);
		struct list *lists[] = { &p->waiting_clients, &p->active_clients };
		for (size_t i = 0; i < 2; i++)
			list_for_each_safe(ln, tmp, lists[i]) {
				struct client *c = container_of(ln, struct client, node);
				client_close(c, "57P01", "pgtide is shutting down");
			}
		struct list *sl[] = { &p->idle_servers, &p->active_servers, &p->tested_servers, &p->login_servers,
				      &p->listen_servers, &p->check_servers };
		for (size_t i = 0; i < 5; i++)
			list_for_each_safe(ln, tmp, sl[i]) {
				struct server *s = container_of(ln, struct server, node);
				server_close(s, CR_SHUTDOWN, "shutting down");
			}
	}
	client_free_pending();
	server_free_pending();
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "daemon", no_argument, NULL, 'd' }, { "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },  { "check", no_argument, NULL, 't' },
		{ "version", no_argument, NULL, 'V' }, { "help", no_argument, NULL, 'h' },
		{ "reboot", no_argument, NULL, 'R' },  { "scram-secret", no_argument, NULL, 'S' },
		{ "md5", required_argument, NULL, 'M' }, { NULL, 0, NULL, 0 },
	};
	bool daemon = false, check = false;
	int opt;
	daemon_ops = &main_ops;
	sdnotify_init();
	log_init();
	while ((opt = getopt_long(argc, argv, "dvqtVhR", opts, NULL)) != -1) {
		switch (opt) {
		case 'd': daemon = true; break;
		case 'v': cmdline_verbose++; break;
		case 'q': cmdline_quiet = true; break;
		case 't': check = true; break;
		case 'V': printf("pgtide %s\n", PACKAGE_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		case 'S': return print_secret(NULL);
		case 'M': return print_secret(optarg);
		case 'R':
			/* PgBouncer's socket takeover: pgtide restarts with so_reuseport instead */
			fprintf(stderr, "pgtide: -R/--reboot (taking over a running process's sockets) is not supported: "
					"start the new pgtide next to the old one with so_reuseport = 1, then stop the "
					"old one with SIGINT (README \"Restarting without downtime\")\n");
			return 2;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	g.config_path = argv[optind];

	hash_seed_random();
	params_init();
	session_module_init();

	struct cfg_diag d;
	struct auth_entry *auth = NULL;
	struct hba *hba = NULL;
	cfg_diag_init(&d, check);
	struct config *cfg = load_all(g.config_path, &d, &auth, &hba);
	if (check) {
		print_diag(&d, cfg ? stdout : stderr);
		cfg_diag_free(&d);
		if (!cfg)
			return 1;
		puts("configuration OK");
		auth_entries_free(auth);
		hba_free(hba);
		config_free(cfg);
		return 0;
	}
	if (!cfg) {
		print_diag(&d, stderr);
		cfg_diag_free(&d);
		return 1;
	}
	g.cfg = cfg;
	g.hba = hba;
	apply_logging(cmdline_quiet, cmdline_verbose);
	log_diag(&d);
	cfg_diag_free(&d);
	if (daemon && !(S()->pidfile && *S()->pidfile))
		die("-d needs pidfile to be set in the configuration");

	int ready_fd = daemon ? daemonize() : -1;
	if (S()->pidfile && *S()->pidfile) {
		char *pf = config_path(g.cfg, S()->pidfile);
		if (!write_pidfile(pf)) {
			report_ready(ready_fd, false);
			return 1;
		}
		free(pf);
	}

	struct event_config *ec = event_config_new();
	event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	event_config_set_flag(ec, EVENT_BASE_FLAG_NOLOCK);
	g.base = event_base_new_with_config(ec);
	event_config_free(ec);
	if (!g.base)
		die("could not create the event loop");
	g.start_time = wall_usec();
	g.start_mono = now_usec();
	list_init(&g.pools);
	bufpool_init((size_t)S()->pkt_buf);
	sbuf_global_init(g.base);
	dns_init(g.base);
	objects_init();
	client_module_init();
	server_module_init();
	tenant_module_init();
	objects_apply_config(g.cfg, auth);
	auth_entries_free(auth);
	set_tenant_setting();
	raise_fd_limit();
	setup_signals();

	if (!listeners_open()) {
		report_ready(ready_fd, false);
		return 1;
	}
	health_start();
	if (!metrics_start()) {
		report_ready(ready_fd, false);
		return 1;
	}
	if (!drop_privileges(S()->user)) {
		report_ready(ready_fd, false);
		return 1;
	}
	report_ready(ready_fd, true);
	janitor_start();
	log_info("pgtide %s started (pid %d)", PACKAGE_VERSION, (int)getpid());
	sdnotify("READY=1\nMAINPID=%d\nSTATUS=accepting connections", (int)getpid());

	event_base_dispatch(g.base);

	janitor_stop();
	health_stop();
	peer_shutdown();
	metrics_stop();
	listeners_close();
	final_cleanup();
	defer_run_now();
	if (S()->pidfile && *S()->pidfile) {
		char *pf = config_path(g.cfg, S()->pidfile);
		unlink(pf);
		free(pf);
	}
	log_info("pgtide stopped");
	dns_shutdown();
	tls_shutdown();
	authq_shutdown();
	hba_free(g.hba);
	g.hba = NULL;
	listeners_free();
	stats_free();
	admin_free();
	objects_free();
	tenant_module_free();
	prep_module_free();
	client_module_free();
	server_module_free();
	htab_free(&g.clients_by_id);
	free(g.tenant_setting);
	session_module_free();
	params_free();
	sbuf_linger_free();
	bufpool_free_all();
	event_base_free(g.base);
	config_free(g.cfg);
	return 0;
}
