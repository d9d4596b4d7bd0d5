/*
 * TLS contexts and certificate checks for both sides of pgtide.
 *
 * Owns: the accept (client-facing) and connect (server-facing) SSL_CTX.
 * A reload builds fresh contexts and swaps them in only when every file
 * loaded; an SSL object holds a reference to its context, so connections
 * that started under the old certificates finish under them. Must not read
 * or write sockets: that is sbuf.c's job, one event at a time.
 */
#include "autoconf.h"

#include "tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

static SSL_CTX *accept_ctx;   /* NULL: client_tls_sslmode = disable */
static SSL_CTX *connect_ctx;  /* NULL: server_tls_sslmode = disable */
static int accept_mode, connect_mode;
static char *libpq_ca, *libpq_cert, *libpq_key; /* resolved paths for libpq */

bool tls_parse_protocols(const char *list, int *min_version, int *max_version)
{
	static const struct { const char *name; int lo, hi; } words[] = {
		{ "tlsv1.0", TLS1_VERSION, TLS1_VERSION },   { "tlsv1.1", TLS1_1_VERSION, TLS1_1_VERSION },
		{ "tlsv1.2", TLS1_2_VERSION, TLS1_2_VERSION }, { "tlsv1.3", TLS1_3_VERSION, TLS1_3_VERSION },
		{ "secure", TLS1_2_VERSION, TLS1_3_VERSION },  { "all", TLS1_VERSION, TLS1_3_VERSION },
		{ "legacy", TLS1_VERSION, TLS1_3_VERSION },    { "default", TLS1_2_VERSION, TLS1_3_VERSION },
	};
	int lo = 0, hi = 0;
	const char *p = list ? list : "";
	while (*p) {
		while (*p == ',' || *p == ':' || *p == ' ' || *p == '\t')
			p++;
		size_t n = strcspn(p, ", :\t");
		if (n == 0)
			break;
		bool found = false;
		for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
			if (strlen(words[i].name) == n && strncasecmp(p, words[i].name, n) == 0) {
				if (!lo || words[i].lo < lo)
					lo = words[i].lo;
				if (words[i].hi > hi)
					hi = words[i].hi;
				found = true;
			}
		}
		if (!found)
			return false;
		p += n;
	}
	if (!lo)
		return false;
	*min_version = lo;
	*max_version = hi;
	return true;
}

/* PgBouncer's cipher keywords, then OpenSSL's own syntax. TLS 1.3 suites
 * keep OpenSSL's defaults, which are all strong. */
static const char *cipher_list(const char *s)
{
	if (!s || !*s || !strcasecmp(s, "default") || !strcasecmp(s, "secure") || !strcasecmp(s, "fast") ||
	    !strcasecmp(s, "normal"))
		return "HIGH:!aNULL:!eNULL:!MD5:!RC4:!3DES";
	if (!strcasecmp(s, "all"))
		return "ALL:!aNULL:!eNULL";
	return s;
}

static void ssl_errors(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();
	if (!e) {
		snprintf(buf, len, "unknown TLS error");
		return;
	}
	ERR_error_string_n(e, buf, len);
	ERR_clear_error();
}

/* What both contexts share: protocol range, ciphers, certificates. */
static SSL_CTX *ctx_build(const struct config *c, bool accepting, const char *side, const char *protocols,
			  const char *ciphers, const char *cert, const char *key, const char *ca, int mode, char *err,
			  size_t errlen, bool *mismatch)
{
	char why[256];
	SSL_CTX *ctx = SSL_CTX_new(accepting ? TLS_server_method() : TLS_client_method());
	if (!ctx) {
		ssl_errors(why, sizeof(why));
		snprintf(err, errlen, "could not create the %s TLS context: %s", side, why);
		return NULL;
	}
	int lo, hi;
	if (!tls_parse_protocols(protocols, &lo, &hi)) {
		snprintf(err, errlen, "%s_tls_protocols: unknown protocol list \"%s\"", side, protocols);
		goto fail;
	}
	SSL_CTX_set_min_proto_version(ctx, lo);
	SSL_CTX_set_max_proto_version(ctx, hi);
	if (lo < TLS1_2_VERSION)
		SSL_CTX_set_security_level(ctx, 0); /* old protocols were asked for */
	if (SSL_CTX_set_cipher_list(ctx, cipher_list(ciphers)) != 1) {
		snprintf(err, errlen, "%s_tls_ciphers: OpenSSL accepts no cipher in \"%s\"", side, ciphers);
		goto fail;
	}
	/* Partial writes and a moving buffer let sbuf.c retry a write from
	 * its queue; released buffers keep an idle TLS connection small; an
	 * EOF without close_notify (psql does that) is a plain close. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				      SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION);

	char *path;
	if (cert && *cert) {
		path = config_path(c, cert);
		int ok = SSL_CTX_use_certificate_chain_file(ctx, path);
		if (ok != 1) {
			ssl_errors(why, sizeof(why));
			snprintf(err, errlen, "%s: could not load %s_tls_cert_file: %s", path, side, why);
			free(path);
			goto fail;
		}
		free(path);
		path = config_path(c, key && *key ? key : cert);
		if (SSL_CTX_use_PrivateKey_file(ctx, path, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
			/* both load, they are not a pair */
			*mismatch = ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH;
			ssl_errors(why, sizeof(why));
			snprintf(err, errlen, "%s: could not load %s_tls_key_file: %s", path, side, why);
			free(path);
			goto fail;
		}
		free(path);
	}
	if (ca && *ca) {
		path = config_path(c, ca);
		if (SSL_CTX_load_verify_locations(ctx, path, NULL) != 1) {
			ssl_errors(why, sizeof(why));
			snprintf(err, errlen, "%s: could not load %s_tls_ca_file: %s", path, side, why);
			free(path);
			goto fail;
		}
		if (accepting) {
			STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(path);
			if (names)
				SSL_CTX_set_client_CA_list(ctx, names);
		}
		free(path);
	} else if (!accepting && mode >= TLS_VERIFY_CA && SSL_CTX_set_default_verify_paths(ctx) != 1) {
		/* no server_tls_ca_file: the system's trusted CAs, as libpq's
		 * sslrootcert=system and PgBouncer do */
		ssl_errors(why, sizeof(why));
		snprintf(err, errlen, "could not load the system's trusted CA certificates: %s", why);
		goto fail;
	}
	if (accepting) {
		/* verify-ca/verify-full: a client certificate is required. With a
		 * CA file under the other modes one is asked for, for hba "cert". */
		if (mode >= TLS_VERIFY_CA)
			SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
		else if (ca && *ca)
			SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
		SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
		SSL_CTX_set_num_tickets(ctx, 0);
	} else {
		SSL_CTX_set_verify(ctx, mode >= TLS_VERIFY_CA ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

bool tls_configure(const struct config *c, char *err, size_t errlen, bool *mismatch)
{
	bool ignored;
	if (!mismatch)
		mismatch = &ignored;
	*mismatch = false;
	const struct settings *s = &c->s;
	SSL_CTX *a = NULL, *k = NULL;
	if (s->client_tls_sslmode != TLS_DISABLE) {
		a = ctx_build(c, true, "client", s->client_tls_protocols, s->client_tls_ciphers, s->client_tls_cert_file,
			      s->client_tls_key_file, s->client_tls_ca_file, s->client_tls_sslmode, err, errlen, mismatch);
		if (!a)
			return false;
	}
	if (s->server_tls_sslmode != TLS_DISABLE) {
		k = ctx_build(c, false, "server", s->server_tls_protocols, s->server_tls_ciphers, s->server_tls_cert_file,
			      s->server_tls_key_file, s->server_tls_ca_file, s->server_tls_sslmode, err, errlen, mismatch);
		if (!k) {
			SSL_CTX_free(a);
			return false;
		}
	}
	SSL_CTX_free(accept_ctx);
	SSL_CTX_free(connect_ctx);
	accept_ctx = a;
	connect_ctx = k;
	accept_mode = s->client_tls_sslmode;
	connect_mode = s->server_tls_sslmode;
	free(libpq_ca);
	free(libpq_cert);
	free(libpq_key);
	libpq_ca = *s->server_tls_ca_file ? config_path(c, s->server_tls_ca_file)
	: s->server_tls_sslmode >= TLS_VERIFY_CA ? xstrdup(X509_get_default_cert_file()) : NULL;
	libpq_cert = *s->server_tls_cert_file ? config_path(c, s->server_tls_cert_file) : NULL;
	libpq_key = *s->server_tls_key_file ? config_path(c, s->server_tls_key_file) : NULL;
	return true;
}

int tls_libpq_params(const char **keys, const char **vals, int n, const char *host)
{
	static const char *modes[] = { "disable", "prefer", "prefer", "require", "verify-ca", "verify-full" };
	keys[n] = "sslmode", vals[n++] = connect_ctx ? modes[connect_mode] : "disable";
	if (!connect_ctx)
		return n;
	/* libpq treats require plus a root certificate as verify-ca; pgtide's
	 * own connections do not, so the CA goes along only when checked. */
	if (connect_mode >= TLS_VERIFY_CA && libpq_ca)
		keys[n] = "sslrootcert", vals[n++] = libpq_ca;
	if (libpq_cert)
		keys[n] = "sslcert", vals[n++] = libpq_cert;
	if (libpq_key)
		keys[n] = "sslkey", vals[n++] = libpq_key;
	if (connect_mode == TLS_VERIFY_FULL && host && host[0] != '/')
		keys[n] = "host", vals[n++] = host;
	return n;
}

void tls_shutdown(void)
{
	free(libpq_ca);
	free(libpq_cert);
	free(libpq_key);
	libpq_ca = libpq_cert = libpq_key = NULL;
	SSL_CTX_free(accept_ctx);
	SSL_CTX_free(connect_ctx);
	accept_ctx = connect_ctx = NULL;
}

bool tls_client_enabled(void)
{
	return accept_ctx != NULL;
}

bool tls_server_enabled(void)
{
	return connect_ctx != NULL;
}

struct ssl_st *tls_accept_new(int fd)
{
	if (!accept_ctx)
		return NULL;
	SSL *ssl = SSL_new(accept_ctx);
	if (!ssl)
		return NULL;
	if (SSL_set_fd(ssl, fd) != 1) {
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_accept_state(ssl);
	return ssl;
}

struct ssl_st *tls_connect_new(int fd, const char *host)
{
	if (!connect_ctx)
		return NULL;
	SSL *ssl = SSL_new(connect_ctx);
	if (!ssl)
		return NULL;
	if (SSL_set_fd(ssl, fd) != 1)
		goto fail;
	unsigned char ip[16];
	bool is_ip = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
	if (!is_ip)
		SSL_set_tlsext_host_name(ssl, host); /* SNI, for proxies in front of Postgres */
	if (connect_mode == TLS_VERIFY_FULL) {
		X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
		int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, host) : SSL_set1_host(ssl, host);
		if (ok != 1)
			goto fail;
	}
	SSL_set_connect_state(ssl);
	return ssl;
fail:
	SSL_free(ssl);
	return NULL;
}

bool tls_peer_cn(struct ssl_st *ssl, char *out, size_t len)
{
	X509 *peer = SSL_get0_peer_certificate(ssl);
	if (!peer || SSL_get_verify_result(ssl) != X509_V_OK)
		return false;
	int n = X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, out, (int)len);
	/* A CN with an embedded NUL would compare as a shorter name. */
	return n > 0 && (size_t)n < len && strlen(out) == (size_t)n;
}

size_t tls_end_point_hash(struct ssl_st *ssl, bool accepted, uint8_t *out, size_t len)
{
	X509 *cert = accepted ? SSL_get_certificate(ssl) : SSL_get0_peer_certificate(ssl);
	if (!cert)
		return 0;
	/* RFC 5929: the certificate's own signature hash, but at least SHA-256. */
	int md_nid = NID_undef;
	const EVP_MD *md = NULL;
	if (X509_get_signature_info(cert, &md_nid, NULL, NULL, NULL) == 1 && md_nid != NID_undef &&
	    md_nid != NID_md5 && md_nid != NID_sha1)
		md = EVP_get_digestbynid(md_nid);
	if (!md)
		md = EVP_sha256();
	unsigned int n = 0;
	if ((size_t)EVP_MD_get_size(md) > len || X509_digest(cert, md, out, &n) != 1)
		return 0;
	return n;
}

const char *tls_verify_error(struct ssl_st *ssl)
{
	long r = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
	return r == X509_V_OK ? NULL : X509_verify_cert_error_string(r);
}

const char *tls_describe(struct ssl_st *ssl, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", SSL_get_version(ssl), SSL_get_cipher_name(ssl));
	return buf;
}
