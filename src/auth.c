/*
 * Authentication: auth_file, client password checks, server logins.
 *
 * Owns: struct login_state's authentication half (the auth_file parser is
 * authfile.c).
 * A user that does not exist goes through the same exchange as one with a
 * wrong password and gets the same error, so a client cannot probe for
 * user names. Secrets never reach the log.
 */
#include "autoconf.h"

#include "auth.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "admin.h"
#include "authq.h"
#include "client.h"
#include "hba.h"
#include "log.h"
#include "pool.h"
#include "server.h"
#include "tls.h"
#include "util/strbuf.h"

void auth_free_state(struct login_state *l)
{
	if (!l)
		return;
	free(l->user_name);
	free(l->db_name);
	for (int i = 0; i < NPARAMS; i++)
		free(l->values[i]);
	free(l->tenant);
	for (int i = 0; i < l->n_sets; i++) {
		free(l->set_names[i]);
		free(l->set_values[i]);
	}
	free(l->set_names);
	free(l->set_values);
	if (l->scram) {
		memset(l->scram, 0, sizeof(*l->scram));
		free(l->scram);
	}
	free(l);
}

/* ---- client side ---- */

static bool send_auth(struct client *c, uint32_t code, const void *data, size_t len)
{
	struct pktbuf pb;
	if (!sbuf_gen_begin(&c->sb, &pb))
		return false;
	pkt_auth(&pb, code, data, len);
	if (pb.failed)
		return false;
	sbuf_gen_commit(&c->sb, &pb);
	return true;
}

static void auth_failed(struct client *c)
{
	struct login_state *l = c->login;
	client_login_fail(c, "28P01", "password authentication failed for user \"%s\"", l->user_name);
}

/* A secret for a user that does not exist: same work, never matches. */
static void fake_scram_secret(struct scram_secret *s)
{
	uint8_t salt[16];
	RAND_bytes(salt, sizeof(salt));
	memset(s, 0, sizeof(*s));
	memcpy(s->salt, salt, sizeof(salt));
	s->salt_len = sizeof(salt);
	s->iterations = SCRAM_DEFAULT_ITERATIONS;
	RAND_bytes(s->stored_key, sizeof(s->stored_key));
	RAND_bytes(s->server_key, sizeof(s->server_key));
}

static bool start_scram(struct client *c)
{
	struct login_state *l = c->login;
	struct user *u = c->user;
	struct scram_secret sec;
	l->method = AUTH_SCRAM;
	if (l->unknown_user || !u || u->kind == SECRET_NONE || u->kind == SECRET_MD5) {
		/* no usable secret: the exchange runs and fails at the end */
		fake_scram_secret(&sec);
		l->unknown_user = true;
	} else if (u->kind == SECRET_SCRAM) {
		sec = u->scram;
	} else {
		uint8_t salt[16];
		RAND_bytes(salt, sizeof(salt));
		if (!scram_secret_from_password(u->secret, salt, sizeof(salt), SCRAM_DEFAULT_ITERATIONS, &sec, NULL))
			return false;
		l->scram_from_plain = true;
	}
	l->scram = xcalloc(1, sizeof(*l->scram));
	scram_server_init(l->scram, &sec);
	/* On TLS, offer channel binding to our certificate: a client that
	 * uses it knows no one in the middle relays its proof. */
	size_t cb_len = c->sb.tls ? tls_end_point_hash(c->sb.tls, true, l->cbind, sizeof(l->cbind)) : 0;
	if (cb_len) {
		l->scram->cbind_offered = true;
		l->scram->cbind_data = l->cbind;
		l->scram->cbind_len = cb_len;
		static const char mechs_plus[] = "SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0";
		return send_auth(c, AUTH_REQ_SASL, mechs_plus, sizeof(mechs_plus));
	}
	static const char mechs[] = "SCRAM-SHA-256\0";
	return send_auth(c, AUTH_REQ_SASL, mechs, sizeof(mechs));
}

static const char *client_host(const struct client *c, char *buf, size_t len)
{
	if (c->family == AF_UNIX)
		return "[local]";
	inet_ntop(c->family, c->addr, buf, (socklen_t)len);
	return buf;
}

/* auth_type = hba: the first matching line names the method, as in
 * Postgres, with Postgres's messages when none matches or it rejects. */
static int hba_method(struct client *c)
{
	struct login_state *l = c->login;
	int line;
	enum hba_method m = hba_match(g.hba, c->family, c->addr, c->sb.tls != NULL, l->db_name, l->user_name, &line);
	char host[64];
	const char *enc = c->sb.tls ? "SSL encryption" : "no encryption";
	switch (m) {
	case HBA_NONE:
		client_login_fail(c, "28000", "no pg_hba.conf entry for host \"%s\", user \"%s\", database \"%s\", %s",
				  client_host(c, host, sizeof(host)), l->user_name, l->db_name, enc);
		return -1;
	case HBA_REJECT:
		client_login_fail(c, "28000", "pg_hba.conf rejects connection for host \"%s\", user \"%s\", database \"%s\", %s",
				  client_host(c, host, sizeof(host)), l->user_name, l->db_name, enc);
		return -1;
	case HBA_TRUST: return AUTH_TRUST;
	case HBA_MD5: return AUTH_MD5;
	case HBA_SCRAM: return AUTH_SCRAM;
	case HBA_PASSWORD: return AUTH_PLAIN;
	case HBA_CERT: return AUTH_CERT;
	}
	return -1;
}

/* The client certificate names the user (hba "cert", verify-full). */
static bool cert_matches(struct client *c)
{
	char cn[256];
	return c->sb.tls && tls_peer_cn(c->sb.tls, cn, sizeof(cn)) && strcmp(cn, c->login->user_name) == 0;
}

bool auth_begin(struct client *c)
{
	struct login_state *l = c->login;
	const char *name = l->user_name;
	int type = S()->auth_type;
	bool has_file = S()->auth_file && *S()->auth_file;

	/* As PgBouncer: over the unix socket, a process of pgtide's own OS
	 * user reaches the console as "pgbouncer" or "pgtide" with no password
	 * (ops scripts and PgBouncer's test suite rely on it). */
	if (c->family == AF_UNIX && (strcmp(name, "pgbouncer") == 0 || strcmp(name, "pgtide") == 0) &&
	    admin_is_console_db(l->db_name ? l->db_name : name)) {
		struct ucred cred;
		socklen_t clen = sizeof(cred);
		if (getsockopt(c->sb.fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0 && cred.uid == geteuid()) {
			l->peer_admin = true;
			c->user = user_find_or_add(name);
			client_auth_done(c);
			return c->state != CL_JUSTFREE;
		}
	}
	if (c->sb.tls && S()->client_tls_sslmode == TLS_VERIFY_FULL && !cert_matches(c)) {
		client_login_fail(c, "28000", "certificate authentication failed for user \"%s\"", name);
		return false;
	}
	if (type == AUTH_HBA && (type = hba_method(c)) < 0)
		return false;
	if (type == AUTH_CERT) {
		/* The certificate is the credential; pgtide's own login to
		 * Postgres uses whatever auth_file or the database line has. */
		if (!cert_matches(c)) {
			client_login_fail(c, "28000", "certificate authentication failed for user \"%s\"", name);
			return false;
		}
		struct user *cu = user_find(name);
		c->user = cu ? cu : user_find_or_add(name);
		client_auth_done(c);
		return c->state != CL_JUSTFREE;
	}

	/* Users not in auth_file: their secret comes from auth_query first. */
	if (type != AUTH_ANY && type != AUTH_TRUST && !l->authq_done && authq_wanted(c))
		return authq_start(c);

	/* The console is reached as any other database; its users need not
	 * be in auth_file under trust. */
	struct user *u = user_find(name);
	if (type == AUTH_ANY || (type == AUTH_TRUST && !has_file)) {
		c->user = u ? u : user_find_or_add(name);
		client_auth_done(c);
		return c->state != CL_JUSTFREE;
	}
	if (u && (u->in_auth_file || u->secret))
		c->user = u;
	else
		l->unknown_user = true;

	switch (type) {
	case AUTH_TRUST:
		if (l->unknown_user) {
			/* Postgres's words for a role it does not know */
			client_login_fail(c, "28000", "role \"%s\" does not exist", name);
			return false;
		}
		client_auth_done(c);
		return c->state != CL_JUSTFREE;
	case AUTH_PLAIN:
		l->method = AUTH_PLAIN;
		return send_auth(c, AUTH_REQ_PASSWORD, NULL, 0) || (client_close(c, "53200", "out of memory"), false);
	case AUTH_MD5:
		/* Like Postgres: a user whose secret is SCRAM logs in with SCRAM. */
		if (c->user && c->user->kind == SECRET_SCRAM)
			return start_scram(c);
		l->method = AUTH_MD5;
		RAND_bytes(l->md5_salt, sizeof(l->md5_salt));
		return send_auth(c, AUTH_REQ_MD5, l->md5_salt, sizeof(l->md5_salt));
	case AUTH_SCRAM:
		return start_scram(c);
	default:
		client_login_fail(c, "28000", "auth_type %s is not available", auth_type_name(type));
		return false;
	}
}

/* Does a cleartext password match the user's secret, whatever its form?
 * For a SCRAM secret the password also yields ClientKey, which lets pgtide
 * log in to a Postgres that stores the same secret. */
static bool password_matches(struct user *u, const char *pw)
{
	switch (u->kind) {
	case SECRET_PLAIN:
		return strlen(pw) == strlen(u->secret) && ct_equal(pw, u->secret, strlen(pw));
	case SECRET_MD5: {
		char h[36];
		md5_password_hash(pw, u->name, h);
		return ct_equal(h, u->secret, 35);
	}
	case SECRET_SCRAM: {
		struct scram_secret s;
		uint8_t ck[SCRAM_KEY_LEN];
		if (!scram_secret_from_password(pw, u->scram.salt, u->scram.salt_len, u->scram.iterations, &s, ck))
			return false;
		bool ok = ct_equal(s.stored_key, u->scram.stored_key, SCRAM_KEY_LEN) &&
			  ct_equal(s.server_key, u->scram.server_key, SCRAM_KEY_LEN);
		if (ok) {
			memcpy(u->client_key, ck, SCRAM_KEY_LEN);
			u->have_client_key = true;
		}
		return ok;
	}
	default:
		return false;
	}
}

static enum sb_verdict done_ok(struct client *c)
{
	client_auth_done(c);
	return c->state == CL_JUSTFREE ? SB_CLOSED : SB_DROP;
}

enum sb_verdict auth_on_message(struct client *c, const struct pmsg *m)
{
	struct login_state *l = c->login;
	struct preader r;
	preader_init(&r, m->body, m->body_len);

	switch (l->method) {
	case AUTH_PLAIN: {
		const char *pw = preader_cstr(&r);
		if (!pw || !preader_done(&r)) {
			client_close(c, "08P01", "malformed password message");
			return SB_CLOSED;
		}
		if (l->unknown_user || !password_matches(c->user, pw)) {
			auth_failed(c);
			return SB_CLOSED;
		}
		return done_ok(c);
	}
	case AUTH_MD5: {
		const char *resp = preader_cstr(&r);
		if (!resp || !preader_done(&r)) {
			client_close(c, "08P01", "malformed password message");
			return SB_CLOSED;
		}
		if (l->unknown_user || strlen(resp) != 35) {
			auth_failed(c);
			return SB_CLOSED;
		}
		char hash[36], want[36];
		const struct user *u = c->user;
		if (u->kind == SECRET_MD5)
			memcpy(hash, u->secret, 36);
		else if (u->kind == SECRET_PLAIN)
			md5_password_hash(u->secret, u->name, hash);
		else {
			auth_failed(c);
			return SB_CLOSED;
		}
		md5_salted(hash, l->md5_salt, want);
		if (!ct_equal(want, resp, 35)) {
			auth_failed(c);
			return SB_CLOSED;
		}
		return done_ok(c);
	}
	case AUTH_SCRAM: {
		char out[SCRAM_MSG_MAX];
		const char *err = NULL;
		if (l->step == 0) {
			const char *mech = preader_cstr(&r);
			uint32_t len = preader_int32(&r);
			const uint8_t *data = (len == 0xFFFFFFFFu) ? NULL : preader_bytes(&r, len);
			if (!mech || r.bad || !data || !preader_done(&r)) {
				client_close(c, "08P01", "malformed SASLInitialResponse message");
				return SB_CLOSED;
			}
			if (!scram_server_first(l->scram, mech, (const char *)data, len, out, sizeof(out), &err)) {
				client_close(c, "08P01", "%s", err);
				return SB_CLOSED;
			}
			l->step = 1;
			if (!send_auth(c, AUTH_REQ_SASL_CONT, out, strlen(out))) {
				client_close(c, "53200", "out of memory");
				return SB_CLOSED;
			}
			return SB_DROP;
		}
		size_t len = m->body_len;
		if (!scram_server_final(l->scram, (const char *)m->body, len, out, sizeof(out), &err) ||
		    l->unknown_user) {
			if (err && strcmp(err, "password authentication failed") != 0 && !l->unknown_user) {
				client_close(c, "08P01", "%s", err);
				return SB_CLOSED;
			}
			auth_failed(c);
			return SB_CLOSED;
		}
		/* The proof revealed ClientKey: with it pgtide can log in to a
		 * Postgres that stores the same SCRAM secret (pass-through). */
		struct user *u = c->user;
		if (u->kind == SECRET_SCRAM && !l->scram_from_plain) {
			memcpy(u->client_key, l->scram->client_key, SCRAM_KEY_LEN);
			u->have_client_key = true;
		}
		client_log(c, LV_DEBUG, "SCRAM login%s", l->scram->cbind == CBIND_TLS_SERVER_END_POINT
							     ? " with channel binding (SCRAM-SHA-256-PLUS)" : "");
		if (!send_auth(c, AUTH_REQ_SASL_FIN, out, strlen(out))) {
			client_close(c, "53200", "out of memory");
			return SB_CLOSED;
		}
		return done_ok(c);
	}
	default:
		client_close(c, "08P01", "unexpected password message");
		return SB_CLOSED;
	}
}

/* ---- server side: pgtide logging in to Postgres ---- */

static bool send_password_msg(struct server *s, const char *pw)
{
	struct pktbuf pb;
	if (!sbuf_gen_begin(&s->sb, &pb))
		return false;
	pkt_password(&pb, pw);
	if (pb.failed)
		return false;
	sbuf_gen_commit(&s->sb, &pb);
	return true;
}

bool auth_server_request(struct server *s, const struct pmsg *m, const char **err)
{
	uint32_t code;
	const uint8_t *data;
	size_t len;
	static char msg[256];
	if (!proto_parse_auth(m, &code, &data, &len)) {
		*err = "malformed authentication request from server";
		return false;
	}
	struct pool *p = s->pool;
	struct user *u = p->user;
	const char *dbpw = p->db->cfg->password;
	const char *plain = dbpw ? dbpw : (u->kind == SECRET_PLAIN ? u->secret : NULL);

	switch (code) {
	case AUTH_REQ_OK:
		return true;
	case AUTH_REQ_PASSWORD:
		if (!plain) {
			snprintf(msg, sizeof(msg),
				 "server asks for a cleartext password for user \"%s\", but pgtide has none", u->name);
			*err = msg;
			return false;
		}
		return send_password_msg(s, plain);
	case AUTH_REQ_MD5: {
		if (len != 4) {
			*err = "malformed MD5 request from server";
			return false;
		}
		char hash[36], out[36];
		if (plain)
			md5_password_hash(plain, u->name, hash);
		else if (u->kind == SECRET_MD5)
			memcpy(hash, u->secret, 36);
		else {
			snprintf(msg, sizeof(msg),
				 "server asks for an MD5 password for user \"%s\", but pgtide has no usable secret", u->name);
			*err = msg;
			return false;
		}
		md5_salted(hash, data, out);
		return send_password_msg(s, out);
	}
	case AUTH_REQ_SASL: {
		bool found = false, plus = false;
		struct preader r;
		preader_init(&r, data, len);
		for (;;) {
			const char *mech = preader_cstr(&r);
			if (!mech || !*mech)
				break;
			if (strcmp(mech, "SCRAM-SHA-256") == 0)
				found = true;
			else if (strcmp(mech, "SCRAM-SHA-256-PLUS") == 0)
				plus = true;
		}
		if (!found && !plus) {
			*err = "server offers no SASL mechanism pgtide supports";
			return false;
		}
		struct scram_client *sc = server_scram(s);
		if (plain) {
			scram_client_init_password(sc, plain);
		} else if (u->kind == SECRET_SCRAM && u->have_client_key) {
			scram_client_init_keys(sc, u->client_key, &u->scram);
		} else {
			/* PgBouncer's words first ("wrong password type"), then why */
			if (u->kind == SECRET_SCRAM)
				snprintf(msg, sizeof(msg),
					 "cannot log in to the server as \"%s\" with SCRAM: wrong password type: a SCRAM "
					 "secret serves only once a client has logged in with SCRAM and so provided the "
					 "keys; give the password on the database line", u->name);
			else
				snprintf(msg, sizeof(msg),
					 "cannot log in to the server as \"%s\" with SCRAM: wrong password type: %s",
					 u->name, u->kind == SECRET_MD5 ? "an MD5 secret cannot answer SCRAM" : "no password");
			*err = msg;
			return false;
		}
		/* On TLS, bind to the server's certificate when it offers that
		 * (it proves no one relays our login); else say we could have. */
		uint8_t cb[64];
		size_t cb_len = (s->sb.tls && plus) ? tls_end_point_hash(s->sb.tls, false, cb, sizeof(cb)) : 0;
		scram_client_set_cbind(sc, cb_len ? 'p' : s->sb.tls ? 'y' : 'n', cb, cb_len);
		char first[SCRAM_MSG_MAX];
		if (!scram_client_first(sc, first, sizeof(first))) {
			*err = "could not start SCRAM exchange";
			return false;
		}
		struct pktbuf pb;
		if (!sbuf_gen_begin(&s->sb, &pb))
			return false;
		pkt_sasl_initial(&pb, cb_len ? "SCRAM-SHA-256-PLUS" : "SCRAM-SHA-256", first, strlen(first));
		server_log(s, LV_DEBUG, "logging in with %s", cb_len ? "SCRAM-SHA-256-PLUS (channel binding)" : "SCRAM-SHA-256");
		sbuf_gen_commit(&s->sb, &pb);
		return !pb.failed;
	}
	case AUTH_REQ_SASL_CONT: {
		struct scram_client *sc = server_scram(s);
		char final[SCRAM_MSG_MAX];
		if (!sc || !scram_client_final(sc, (const char *)data, len, final, sizeof(final), err))
			return false;
		struct pktbuf pb;
		if (!sbuf_gen_begin(&s->sb, &pb))
			return false;
		pkt_sasl_response(&pb, final, strlen(final));
		sbuf_gen_commit(&s->sb, &pb);
		return !pb.failed;
	}
	case AUTH_REQ_SASL_FIN: {
		struct scram_client *sc = server_scram(s);
		return sc && scram_client_verify(sc, (const char *)data, len, err);
	}
	default:
		snprintf(msg, sizeof(msg), "server requested an unsupported authentication method (%u)", code);
		*err = msg;
		return false;
	}
}
