/*
 * SCRAM-SHA-256 (RFC 5802, RFC 7677) for both sides of pgtide, and the
 * helpers around it: base64, secrets, MD5 password hashing.
 *
 * Owns: the short-lived exchange states (allocated by the caller for the
 * duration of one login). Knows the SASL message formats, not the Postgres
 * framing around them (auth.c and server.c wrap them in 'R'/'p' messages).
 */
#ifndef PGTIDE_SCRAM_H
#define PGTIDE_SCRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCRAM_KEY_LEN 32
#define SCRAM_SALT_MAX 64
#define SCRAM_NONCE_LEN 18   /* raw bytes, sent base64-encoded (24 chars) */
#define SCRAM_DEFAULT_ITERATIONS 4096
#define SCRAM_MSG_MAX 1024   /* longest SASL message either side accepts */

struct scram_secret {
	int iterations;
	uint8_t salt[SCRAM_SALT_MAX];
	size_t salt_len;
	uint8_t stored_key[SCRAM_KEY_LEN];
	uint8_t server_key[SCRAM_KEY_LEN];
};

/* RFC 4013 SASLprep of a password, the way Postgres applies it; a new
 * string (the password itself when it cannot be prepared), NULL on OOM. */
char *scram_saslprep(const char *password);

/* "SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>" */
bool scram_parse_secret(const char *s, struct scram_secret *out);
/* Derive a secret from a password; client_key (may be NULL) receives ClientKey. */
bool scram_secret_from_password(const char *password, const uint8_t *salt, size_t salt_len, int iterations,
				struct scram_secret *out, uint8_t *client_key);
/* Format a secret the way Postgres stores it; returns false if buf is too small. */
bool scram_format_secret(const struct scram_secret *s, char *buf, size_t len);

/* Channel binding the client asked for in its GS2 header. */
enum scram_cbind { CBIND_NONE, CBIND_CLIENT_ONLY, CBIND_TLS_SERVER_END_POINT };

/* pgtide as the SCRAM server (checking a client's password). */
struct scram_server {
	int state;                 /* 0: want client-first; 1: want client-final; 2: done */
	struct scram_secret secret;
	bool cbind_offered;        /* SCRAM-SHA-256-PLUS was offered (TLS) */
	const uint8_t *cbind_data; /* tls-server-end-point hash when on TLS */
	size_t cbind_len;
	enum scram_cbind cbind;
	char gs2_header[128];
	char client_first_bare[SCRAM_MSG_MAX];
	char server_first[SCRAM_MSG_MAX];
	char nonce[128];           /* client nonce + server nonce */
	uint8_t client_key[SCRAM_KEY_LEN]; /* recovered from the proof on success */
};

void scram_server_init(struct scram_server *s, const struct scram_secret *secret);
/* client-first in, server-first out. false with *err on a bad message. */
bool scram_server_first(struct scram_server *s, const char *mech, const char *in, size_t len,
			char *out, size_t outlen, const char **err);
/* client-final in, server-final out. false with *err if the proof is wrong. */
bool scram_server_final(struct scram_server *s, const char *in, size_t len, char *out, size_t outlen,
			const char **err);

/* pgtide as the SCRAM client (logging in to Postgres). */
struct scram_client {
	int state;
	bool have_password;
	char password[256];
	uint8_t client_key[SCRAM_KEY_LEN];   /* pass-through: learned from a client */
	struct scram_secret secret;          /* pass-through: server key to verify */
	const char *username;                /* sent in n=; Postgres ignores it */
	char cbind_flag;                     /* 'n', 'y' or 'p' (RFC 5802 gs2-cbind-flag) */
	uint8_t cbind_data[64];              /* tls-server-end-point hash for 'p' */
	size_t cbind_len;
	char client_nonce[64];
	char client_first_bare[SCRAM_MSG_MAX];
	char auth_message[3 * SCRAM_MSG_MAX];
	uint8_t server_key[SCRAM_KEY_LEN];
};

void scram_client_init_password(struct scram_client *c, const char *password);
void scram_client_init_keys(struct scram_client *c, const uint8_t *client_key, const struct scram_secret *secret);
/* Channel binding, after init: 'p' binds to data (SCRAM-SHA-256-PLUS);
 * 'y' says we could bind but the server did not offer it; 'n' not on TLS. */
void scram_client_set_cbind(struct scram_client *c, char flag, const uint8_t *data, size_t len);
bool scram_client_first(struct scram_client *c, char *out, size_t outlen);
bool scram_client_final(struct scram_client *c, const char *in, size_t len, char *out, size_t outlen,
			const char **err);
bool scram_client_verify(struct scram_client *c, const char *in, size_t len, const char **err);

/* Tests pin the random nonce to reproduce RFC 7677's exchange. */
void scram_test_set_nonce(const char *nonce);

/* base64 (standard alphabet, padded). Return length or -1. */
int b64_encode(const uint8_t *in, size_t len, char *out, size_t outlen);
int b64_decode(const char *in, size_t len, uint8_t *out, size_t outlen);

/* Postgres md5 password: "md5" + hex(md5(password || user)). out: 36 bytes. */
void md5_password_hash(const char *password, const char *user, char out[36]);
/* Response to an MD5 challenge from an "md5..." hash: "md5" + hex(md5(hash_hex || salt)). */
void md5_salted(const char *md5hash /* "md5" + 32 hex */, const uint8_t salt[4], char out[36]);

/* Constant-time comparison. */
bool ct_equal(const void *a, const void *b, size_t len);

#endif
