/*
 * libFuzzer: SCRAM as both ends parse it - a client's messages to pgtide
 * (server side), a server's messages to pgtide (client side), stored
 * secrets, and base64. The first byte picks which.
 */
#include "autoconf.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scram.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	char *in = malloc(size);
	memcpy(in, data + 1, size - 1);
	in[size - 1] = '\0';
	size_t n = size - 1;
	char out[2048];
	const char *err = NULL;
	static struct scram_secret secret;
	static bool have;
	if (!have) {
		uint8_t salt[16] = "0123456789abcdef";
		scram_secret_from_password("pencil", salt, sizeof(salt), 4096, &secret, NULL);
		have = true;
	}
	switch (data[0] % 5) {
	case 0: { /* client-first then client-final, split at the first newline */
		struct scram_server s;
		scram_server_init(&s, &secret);
		char *nl = memchr(in, '\n', n);
		size_t first = nl ? (size_t)(nl - in) : n;
		if (scram_server_first(&s, "SCRAM-SHA-256", in, first, out, sizeof(out), &err) && nl) {
			(void)scram_server_final(&s, nl + 1, n - first - 1, out, sizeof(out), &err);
		}
		break;
	}
	case 1: { /* server-first then server-final, as pgtide the client reads them */
		struct scram_client c;
		scram_client_init_password(&c, "pencil");
		if (scram_client_first(&c, out, sizeof(out))) {
			char *nl = memchr(in, '\n', n);
			size_t first = nl ? (size_t)(nl - in) : n;
			if (scram_client_final(&c, in, first, out, sizeof(out), &err) && nl)
				(void)scram_client_verify(&c, nl + 1, n - first - 1, &err);
		}
		break;
	}
	case 2: {
		struct scram_secret s;
		if (scram_parse_secret(in, &s)) {
			char back[512];
			if (!scram_format_secret(&s, back, sizeof(back)))
				__builtin_trap();
		}
		break;
	}
	case 3: {
		uint8_t raw[1024];
		(void)b64_decode(in, n, raw, sizeof(raw));
		break;
	}
	default: {
		char *p = scram_saslprep(in);
		free(p);
		break;
	}
	}
	free(in);
	return 0;
}
