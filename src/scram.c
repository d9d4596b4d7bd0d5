/*
 * SCRAM-SHA-256 both ways, MD5 password hashes, base64.
 *
 * Owns: the arithmetic of RFC 5802/7677 and the parsing of its attribute
 * strings. Cryptography comes from OpenSSL (HMAC, SHA-256, PBKDF2, RAND).
 * Every attribute string from the wire is bounded by SCRAM_MSG_MAX and
 * parsed strictly; a malformed message ends the exchange with an error.
 */
#include "autoconf.h"

#include "scram.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stringprep.h>

static char test_nonce[64];

void scram_test_set_nonce(const char *nonce)
{
	snprintf(test_nonce, sizeof(test_nonce), "%s", nonce ? nonce : "");
}

bool ct_equal(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}

int b64_encode(const uint8_t *in, size_t len, char *out, size_t outlen)
{
	size_t need = 4 * ((len + 2) / 3) + 1;
	if (outlen < need)
		return -1;
	return EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

int b64_decode(const char *in, size_t len, uint8_t *out, size_t outlen)
{
	if (len % 4 != 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		char ch = in[i];
		bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
			  ch == '+' || ch == '/' || (ch == '=' && i >= len - 2);
		if (!ok)
			return -1;
	}
	if (len == 0)
		return 0;
	if (outlen < 3 * (len / 4))
		return -1;
	int n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)len);
	if (n < 0)
		return -1;
	if (in[len - 1] == '=')
		n--;
	if (in[len - 2] == '=')
		n--;
	return n;
}

static void sha256(const uint8_t *in, size_t len, uint8_t out[SCRAM_KEY_LEN])
{
	unsigned int olen = SCRAM_KEY_LEN;
	EVP_Digest(in, len, out, &olen, EVP_sha256(), NULL);
}

static void hmac(const uint8_t *key, size_t klen, const void *msg, size_t mlen, uint8_t out[SCRAM_KEY_LEN])
{
	unsigned int olen = SCRAM_KEY_LEN;
	HMAC(EVP_sha256(), key, (int)klen, msg, mlen, out, &olen);
}

static void hexify(const uint8_t *in, size_t len, char *out)
{
	static const char hx[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = hx[in[i] >> 4];
		out[2 * i + 1] = hx[in[i] & 15];
	}
	out[2 * len] = '\0';
}

void md5_password_hash(const char *password, const char *user, char out[36])
{
	uint8_t dig[16];
	unsigned int dlen = sizeof(dig);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
	EVP_DigestUpdate(ctx, password, strlen(password));
	EVP_DigestUpdate(ctx, user, strlen(user));
	EVP_DigestFinal_ex(ctx, dig, &dlen);
	EVP_MD_CTX_free(ctx);
	memcpy(out, "md5", 3);
	hexify(dig, 16, out + 3);
}

void md5_salted(const char *md5hash, const uint8_t salt[4], char out[36])
{
	uint8_t dig[16];
	unsigned int dlen = sizeof(dig);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
	EVP_DigestUpdate(ctx, md5hash + 3, 32);
	EVP_DigestUpdate(ctx, salt, 4);
	EVP_DigestFinal_ex(ctx, dig, &dlen);
	EVP_MD_CTX_free(ctx);
	memcpy(out, "md5", 3);
	hexify(dig, 16, out + 3);
}

/* ---- secrets ---- */

bool scram_parse_secret(const char *s, struct scram_secret *out)
{
	const char *prefix = "SCRAM-SHA-256$";
	if (strncmp(s, prefix, strlen(prefix)) != 0)
		return false;
	s += strlen(prefix);
	char *end;
	long iter = strtol(s, &end, 10);
	if (end == s || *end != ':' || iter < 1 || iter > 100000000)
		return false;
	const char *salt = end + 1;
	const char *dollar = strchr(salt, '$');
	if (!dollar)
		return false;
	const char *stored = dollar + 1;
	const char *colon = strchr(stored, ':');
	if (!colon)
		return false;
	const char *server = colon + 1;
	int n = b64_decode(salt, (size_t)(dollar - salt), out->salt, sizeof(out->salt));
	if (n <= 0)
		return false;
	out->salt_len = (size_t)n;
	uint8_t tmp[64];
	n = b64_decode(stored, (size_t)(colon - stored), tmp, sizeof(tmp));
	if (n != SCRAM_KEY_LEN)
		return false;
	memcpy(out->stored_key, tmp, SCRAM_KEY_LEN);
	n = b64_decode(server, strlen(server), tmp, sizeof(tmp));
	if (n != SCRAM_KEY_LEN)
		return false;
	memcpy(out->server_key, tmp, SCRAM_KEY_LEN);
	out->iterations = (int)iter;
	return true;
}

char *scram_saslprep(const char *password)
{
	bool ascii = true;
	for (const unsigned char *p = (const unsigned char *)password; *p; p++)
		ascii &= *p < 0x80;
	char *out = NULL;
	/* As Postgres: ASCII is used as is, and a password SASLprep refuses
	 * (not UTF-8, prohibited characters) is used as is too. Unassigned
	 * code points are allowed (stringprep's default "query" mode). */
	if (ascii || stringprep_profile(password, &out, "SASLprep", 0) != STRINGPREP_OK || !out || !*out) {
		free(out);
		return strdup(password);
	}
	return out;
}

bool scram_secret_from_password(const char *password, const uint8_t *salt, size_t salt_len, int iterations,
				struct scram_secret *out, uint8_t *client_key)
{
	uint8_t salted[SCRAM_KEY_LEN], ck[SCRAM_KEY_LEN];
	if (salt_len > SCRAM_SALT_MAX)
		return false;
	char *prepped = scram_saslprep(password);
	if (!prepped)
		return false;
	int ok = PKCS5_PBKDF2_HMAC(prepped, (int)strlen(prepped), salt, (int)salt_len, iterations, EVP_sha256(),
				   SCRAM_KEY_LEN, salted);
	OPENSSL_cleanse(prepped, strlen(prepped));
	free(prepped);
	if (!ok)
		return false;
	hmac(salted, SCRAM_KEY_LEN, "Client Key", 10, ck);
	hmac(salted, SCRAM_KEY_LEN, "Server Key", 10, out->server_key);
	sha256(ck, SCRAM_KEY_LEN, out->stored_key);
	memcpy(out->salt, salt, salt_len);
	out->salt_len = salt_len;
	out->iterations = iterations;
	if (client_key)
		memcpy(client_key, ck, SCRAM_KEY_LEN);
	OPENSSL_cleanse(salted, sizeof(salted));
	OPENSSL_cleanse(ck, sizeof(ck));
	return true;
}

bool scram_format_secret(const struct scram_secret *s, char *buf, size_t len)
{
	char salt[128], sk[64], vk[64];
	if (b64_encode(s->salt, s->salt_len, salt, sizeof(salt)) < 0 ||
	    b64_encode(s->stored_key, SCRAM_KEY_LEN, sk, sizeof(sk)) < 0 ||
	    b64_encode(s->server_key, SCRAM_KEY_LEN, vk, sizeof(vk)) < 0)
		return false;
	int n = snprintf(buf, len, "SCRAM-SHA-256$%d:%s$%s:%s", s->iterations, salt, sk, vk);
	return n > 0 && (size_t)n < len;
}

/* ---- attribute parsing ---- */

/* Printable ASCII except ',' (RFC 5802 "printable" for nonces). */
static bool nonce_valid(const char *s, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] < 0x21 || s[i] > 0x7e || s[i] == ',')
			return false;
	return true;
}

/* Read "X=value" at *p (up to end) expecting attribute letter a; value is
 * copied into out (NUL-terminated). Advances past a following ','. */
static bool take_attr(const char **p, const char *end, char a, char *out, size_t outlen)
{
	const char *s = *p;
	if (end - s < 2 || s[0] != a || s[1] != '=')
		return false;
	s += 2;
	const char *comma = memchr(s, ',', (size_t)(end - s));
	const char *vend = comma ? comma : end;
	size_t n = (size_t)(vend - s);
	if (n >= outlen)
		return false;
	memcpy(out, s, n);
	out[n] = '\0';
	*p = comma ? comma + 1 : end;
	return true;
}

static bool make_nonce(char *out, size_t outlen)
{
	if (test_nonce[0]) {
		snprintf(out, outlen, "%s", test_nonce);
		return true;
	}
	uint8_t raw[SCRAM_NONCE_LEN];
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return false;
	return b64_encode(raw, sizeof(raw), out, outlen) > 0;
}

/* ---- server side ---- */

void scram_server_init(struct scram_server *s, const struct scram_secret *secret)
{
	memset(s, 0, sizeof(*s));
	s->secret = *secret;
}

bool scram_server_first(struct scram_server *s, const char *mech, const char *in, size_t len,
			char *out, size_t outlen, const char **err)
{
	*err = "malformed SCRAM message";
	if (s->state != 0 || len >= SCRAM_MSG_MAX || memchr(in, '\0', len))
		return false;
	bool plus = strcmp(mech, "SCRAM-SHA-256-PLUS") == 0;
	if (!plus && strcmp(mech, "SCRAM-SHA-256") != 0) {
		*err = "client selected an invalid SASL authentication mechanism";
		return false;
	}
	const char *p = in, *end = in + len;
	/* gs2-header: cbind-flag "," [authzid] "," */
	if (p == end)
		return false;
	if (*p == 'n' || *p == 'y') {
		if (plus) {
			*err = "channel binding flag does not match the selected mechanism";
			return false;
		}
		if (*p == 'y' && s->cbind_offered) {
			/* The client thinks we cannot bind, yet we offered it: downgrade. */
			*err = "SCRAM channel binding negotiation error";
			return false;
		}
		s->cbind = *p == 'y' ? CBIND_CLIENT_ONLY : CBIND_NONE;
		p++;
	} else if (*p == 'p') {
		if (!plus || !s->cbind_offered) {
			*err = "channel binding was not offered";
			return false;
		}
		const char *tok = "p=tls-server-end-point";
		if ((size_t)(end - p) < strlen(tok) || strncmp(p, tok, strlen(tok)) != 0) {
			*err = "unsupported SCRAM channel-binding type";
			return false;
		}
		s->cbind = CBIND_TLS_SERVER_END_POINT;
		p += strlen(tok);
	} else {
		return false;
	}
	if (p == end || *p++ != ',')
		return false;
	if (p < end && *p == 'a') {
		*err = "client uses authorization identity, which is not supported";
		return false;
	}
	if (p == end || *p++ != ',')
		return false;
	size_t gs2_len = (size_t)(p - in);
	if (gs2_len >= sizeof(s->gs2_header))
		return false;
	memcpy(s->gs2_header, in, gs2_len);
	s->gs2_header[gs2_len] = '\0';

	const char *bare = p;
	size_t bare_len = (size_t)(end - bare);
	memcpy(s->client_first_bare, bare, bare_len);
	s->client_first_bare[bare_len] = '\0';

	if (p < end && *p == 'm') {
		*err = "client requires an unsupported SCRAM extension";
		return false;
	}
	char user[SCRAM_MSG_MAX], cnonce[SCRAM_MSG_MAX];
	if (!take_attr(&p, end, 'n', user, sizeof(user)))
		return false;
	if (!take_attr(&p, end, 'r', cnonce, sizeof(cnonce)) || !nonce_valid(cnonce, strlen(cnonce)))
		return false;
	/* extensions after r= are ignored, as RFC 5802 allows, but each must
	 * still look like one: a letter, '=', a value */
	while (p < end) {
		char ext[SCRAM_MSG_MAX];
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')) || !take_attr(&p, end, *p, ext, sizeof(ext)))
			return false;
	}

	char snonce[64], salt[128];
	if (!make_nonce(snonce, sizeof(snonce)))
		return false;
	int n = snprintf(s->nonce, sizeof(s->nonce), "%s%s", cnonce, snonce);
	if (n < 0 || (size_t)n >= sizeof(s->nonce))
		return false;
	if (b64_encode(s->secret.salt, s->secret.salt_len, salt, sizeof(salt)) < 0)
		return false;
	n = snprintf(s->server_first, sizeof(s->server_first), "r=%s,s=%s,i=%d", s->nonce, salt,
		     s->secret.iterations);
	if (n < 0 || (size_t)n >= sizeof(s->server_first) || (size_t)n >= outlen)
		return false;
	memcpy(out, s->server_first, (size_t)n + 1);
	s->state = 1;
	return true;
}

bool scram_server_final(struct scram_server *s, const char *in, size_t len, char *out, size_t outlen,
			const char **err)
{
	*err = "malformed SCRAM message";
	if (s->state != 1 || len >= SCRAM_MSG_MAX || memchr(in, '\0', len))
		return false;
	const char *p = in, *end = in + len;
	char cbind_b64[SCRAM_MSG_MAX], nonce[SCRAM_MSG_MAX], proof_b64[SCRAM_MSG_MAX];
	if (!take_attr(&p, end, 'c', cbind_b64, sizeof(cbind_b64)))
		return false;

	/* c= must carry exactly the GS2 header, plus the binding data for p=. */
	uint8_t cb[SCRAM_MSG_MAX];
	int cblen = b64_decode(cbind_b64, strlen(cbind_b64), cb, sizeof(cb));
	size_t gs2_len = strlen(s->gs2_header);
	if (cblen < 0 || (size_t)cblen < gs2_len || memcmp(cb, s->gs2_header, gs2_len) != 0) {
		*err = "SCRAM channel binding check failed";
		return false;
	}
	if (s->cbind == CBIND_TLS_SERVER_END_POINT) {
		if ((size_t)cblen != gs2_len + s->cbind_len ||
		    !ct_equal(cb + gs2_len, s->cbind_data, s->cbind_len)) {
			*err = "SCRAM channel binding check failed";
			return false;
		}
	} else if ((size_t)cblen != gs2_len) {
		*err = "SCRAM channel binding check failed";
		return false;
	}

	if (!take_attr(&p, end, 'r', nonce, sizeof(nonce)))
		return false;
	if (strcmp(nonce, s->nonce) != 0) {
		*err = "SCRAM nonce mismatch";
		return false;
	}
	/* skip extensions up to p= */
	while (p < end && !(p[0] == 'p' && p + 1 < end && p[1] == '=')) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		if (!comma)
			return false;
		p = comma + 1;
	}
	size_t without_proof_len = (size_t)(p - in);
	if (without_proof_len == 0)
		return false;
	without_proof_len--; /* the ',' before p= */
	if (!take_attr(&p, end, 'p', proof_b64, sizeof(proof_b64)) || p != end)
		return false;
	uint8_t proof[64];
	if (b64_decode(proof_b64, strlen(proof_b64), proof, sizeof(proof)) != SCRAM_KEY_LEN)
		return false;

	char auth_msg[3 * SCRAM_MSG_MAX];
	int n = snprintf(auth_msg, sizeof(auth_msg), "%s,%s,%.*s", s->client_first_bare, s->server_first,
			 (int)without_proof_len, in);
	if (n < 0 || (size_t)n >= sizeof(auth_msg))
		return false;

	uint8_t sig[SCRAM_KEY_LEN], ck[SCRAM_KEY_LEN], stored[SCRAM_KEY_LEN];
	hmac(s->secret.stored_key, SCRAM_KEY_LEN, auth_msg, (size_t)n, sig);
	for (int i = 0; i < SCRAM_KEY_LEN; i++)
		ck[i] = proof[i] ^ sig[i];
	sha256(ck, SCRAM_KEY_LEN, stored);
	if (!ct_equal(stored, s->secret.stored_key, SCRAM_KEY_LEN)) {
		*err = "password authentication failed";
		return false;
	}
	memcpy(s->client_key, ck, SCRAM_KEY_LEN);

	uint8_t ssig[SCRAM_KEY_LEN];
	char ssig_b64[64];
	hmac(s->secret.server_key, SCRAM_KEY_LEN, auth_msg, (size_t)n, ssig);
	b64_encode(ssig, SCRAM_KEY_LEN, ssig_b64, sizeof(ssig_b64));
	n = snprintf(out, outlen, "v=%s", ssig_b64);
	if (n < 0 || (size_t)n >= outlen)
		return false;
	s->state = 2;
	return true;
}

/* ---- client side ---- */

void scram_client_init_password(struct scram_client *c, const char *password)
{
	memset(c, 0, sizeof(*c));
	c->have_password = true;
	snprintf(c->password, sizeof(c->password), "%s", password);
}

void scram_client_init_keys(struct scram_client *c, const uint8_t *client_key, const struct scram_secret *secret)
{
	memset(c, 0, sizeof(*c));
	memcpy(c->client_key, client_key, SCRAM_KEY_LEN);
	c->secret = *secret;
}

void scram_client_set_cbind(struct scram_client *c, char flag, const uint8_t *data, size_t len)
{
	c->cbind_flag = flag;
	c->cbind_len = 0;
	if (flag == 'p' && data && len <= sizeof(c->cbind_data)) {
		memcpy(c->cbind_data, data, len);
		c->cbind_len = len;
	}
}

static const char *client_gs2_header(const struct scram_client *c)
{
	if (c->cbind_flag == 'p')
		return "p=tls-server-end-point,,";
	return c->cbind_flag == 'y' ? "y,," : "n,,";
}

bool scram_client_first(struct scram_client *c, char *out, size_t outlen)
{
	if (c->state != 0 || !make_nonce(c->client_nonce, sizeof(c->client_nonce)))
		return false;
	int n = snprintf(c->client_first_bare, sizeof(c->client_first_bare), "n=%s,r=%s",
			 c->username ? c->username : "", c->client_nonce);
	if (n < 0 || (size_t)n >= sizeof(c->client_first_bare))
		return false;
	n = snprintf(out, outlen, "%s%s", client_gs2_header(c), c->client_first_bare);
	if (n < 0 || (size_t)n >= outlen)
		return false;
	c->state = 1;
	return true;
}

bool scram_client_final(struct scram_client *c, const char *in, size_t len, char *out, size_t outlen,
			const char **err)
{
	*err = "malformed SCRAM message from server";
	if (c->state != 1 || len >= SCRAM_MSG_MAX || memchr(in, '\0', len))
		return false;
	const char *p = in, *end = in + len;
	char nonce[SCRAM_MSG_MAX], salt_b64[SCRAM_MSG_MAX], iter_s[32];
	if (!take_attr(&p, end, 'r', nonce, sizeof(nonce)) ||
	    !take_attr(&p, end, 's', salt_b64, sizeof(salt_b64)) ||
	    !take_attr(&p, end, 'i', iter_s, sizeof(iter_s)))
		return false;
	size_t cn = strlen(c->client_nonce);
	if (strncmp(nonce, c->client_nonce, cn) != 0 || strlen(nonce) == cn || !nonce_valid(nonce, strlen(nonce))) {
		*err = "invalid SCRAM nonce from server";
		return false;
	}
	uint8_t salt[SCRAM_SALT_MAX];
	int slen = b64_decode(salt_b64, strlen(salt_b64), salt, sizeof(salt));
	char *iend;
	long iter = strtol(iter_s, &iend, 10);
	if (slen <= 0 || *iend || iter < 1 || iter > 100000000)
		return false;

	uint8_t client_key[SCRAM_KEY_LEN], stored[SCRAM_KEY_LEN];
	if (c->have_password) {
		struct scram_secret sec;
		if (!scram_secret_from_password(c->password, salt, (size_t)slen, (int)iter, &sec, client_key))
			return false;
		memcpy(c->server_key, sec.server_key, SCRAM_KEY_LEN);
		memcpy(stored, sec.stored_key, SCRAM_KEY_LEN);
	} else {
		/* Pass-through: the keys only fit the secret they came from. */
		if ((size_t)slen != c->secret.salt_len || memcmp(salt, c->secret.salt, (size_t)slen) != 0 ||
		    iter != c->secret.iterations) {
			*err = "the server's SCRAM secret differs from the one in auth_file (salt or iterations)";
			return false;
		}
		memcpy(client_key, c->client_key, SCRAM_KEY_LEN);
		memcpy(c->server_key, c->secret.server_key, SCRAM_KEY_LEN);
		sha256(client_key, SCRAM_KEY_LEN, stored);
	}

	/* c= carries the GS2 header and, when binding, the certificate hash */
	uint8_t cb[128 + sizeof(c->cbind_data)];
	const char *gs2 = client_gs2_header(c);
	size_t gs2_len = strlen(gs2);
	memcpy(cb, gs2, gs2_len);
	memcpy(cb + gs2_len, c->cbind_data, c->cbind_len);
	char cb64[256];
	if (b64_encode(cb, gs2_len + c->cbind_len, cb64, sizeof(cb64)) < 0)
		return false;
	char without_proof[SCRAM_MSG_MAX];
	int n = snprintf(without_proof, sizeof(without_proof), "c=%s,r=%s", cb64, nonce);
	if (n < 0 || (size_t)n >= sizeof(without_proof))
		return false;
	n = snprintf(c->auth_message, sizeof(c->auth_message), "%s,%.*s,%s", c->client_first_bare, (int)len, in,
		     without_proof);
	if (n < 0 || (size_t)n >= sizeof(c->auth_message))
		return false;
	uint8_t sig[SCRAM_KEY_LEN], proof[SCRAM_KEY_LEN];
	hmac(stored, SCRAM_KEY_LEN, c->auth_message, (size_t)n, sig);
	for (int i = 0; i < SCRAM_KEY_LEN; i++)
		proof[i] = client_key[i] ^ sig[i];
	char proof_b64[64];
	b64_encode(proof, SCRAM_KEY_LEN, proof_b64, sizeof(proof_b64));
	n = snprintf(out, outlen, "%s,p=%s", without_proof, proof_b64);
	OPENSSL_cleanse(client_key, sizeof(client_key));
	if (n < 0 || (size_t)n >= outlen)
		return false;
	c->state = 2;
	return true;
}

bool scram_client_verify(struct scram_client *c, const char *in, size_t len, const char **err)
{
	*err = "malformed SCRAM message from server";
	if (c->state != 2 || len >= SCRAM_MSG_MAX)
		return false;
	const char *p = in, *end = in + len;
	char v[SCRAM_MSG_MAX];
	if (len >= 2 && in[0] == 'e' && in[1] == '=') {
		*err = "server rejected SCRAM authentication";
		return false;
	}
	if (!take_attr(&p, end, 'v', v, sizeof(v)))
		return false;
	uint8_t got[64], want[SCRAM_KEY_LEN];
	if (b64_decode(v, strlen(v), got, sizeof(got)) != SCRAM_KEY_LEN)
		return false;
	hmac(c->server_key, SCRAM_KEY_LEN, c->auth_message, strlen(c->auth_message), want);
	if (!ct_equal(got, want, SCRAM_KEY_LEN)) {
		*err = "invalid server signature in SCRAM exchange";
		return false;
	}
	c->state = 3;
	return true;
}
