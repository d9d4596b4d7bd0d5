/*
 * Intrusive chained hash table and SipHash-2-4.
 *
 * Owns: bucket arrays. Must not touch the entries beyond their hnode.
 */
#include "autoconf.h"

#include "util/hash.h"

#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

static uint64_t sip_k0 = 0x0706050403020100ULL;
static uint64_t sip_k1 = 0x0f0e0d0c0b0a0908ULL;

void hash_seed_random(void)
{
	uint64_t k[2];
	if (RAND_bytes((unsigned char *)k, sizeof(k)) == 1) {
		sip_k0 = k[0];
		sip_k1 = k[1];
	}
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                               \
	do {                                                                   \
		v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);      \
		v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                         \
		v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                         \
		v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);      \
	} while (0)

uint64_t hash_bytes(const void *data, size_t len)
{
	const unsigned char *in = data;
	uint64_t v0 = 0x736f6d6570736575ULL ^ sip_k0;
	uint64_t v1 = 0x646f72616e646f6dULL ^ sip_k1;
	uint64_t v2 = 0x6c7967656e657261ULL ^ sip_k0;
	uint64_t v3 = 0x7465646279746573ULL ^ sip_k1;
	uint64_t b = ((uint64_t)len) << 56;
	const unsigned char *end = in + len - (len % 8);

	for (; in != end; in += 8) {
		uint64_t m;
		memcpy(&m, in, 8); /* little-endian hosts; value only needs to be stable */
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	switch (len & 7) {
	case 7: b |= ((uint64_t)in[6]) << 48; /* fall through */
	case 6: b |= ((uint64_t)in[5]) << 40; /* fall through */
	case 5: b |= ((uint64_t)in[4]) << 32; /* fall through */
	case 4: b |= ((uint64_t)in[3]) << 24; /* fall through */
	case 3: b |= ((uint64_t)in[2]) << 16; /* fall through */
	case 2: b |= ((uint64_t)in[1]) << 8;  /* fall through */
	case 1: b |= ((uint64_t)in[0]);       break;
	case 0: break;
	}
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

uint64_t hash_u64(uint64_t v)
{
	return hash_bytes(&v, sizeof(v));
}

#define HTAB_MIN 16

void htab_init(struct htab *t)
{
	t->buckets = calloc(HTAB_MIN, sizeof(*t->buckets));
	if (!t->buckets)
		abort();
	t->mask = HTAB_MIN - 1;
	t->count = 0;
}

void htab_free(struct htab *t)
{
	free(t->buckets);
	t->buckets = NULL;
	t->mask = 0;
	t->count = 0;
}

struct hnode *htab_find(const struct htab *t, uint64_t hash, htab_eq_fn eq, const void *key)
{
	for (struct hnode *n = t->buckets[hash & t->mask]; n; n = n->next)
		if (n->hash == hash && eq(n, key))
			return n;
	return NULL;
}

static void htab_resize(struct htab *t, size_t nbuckets)
{
	struct hnode **nb = calloc(nbuckets, sizeof(*nb));
	if (!nb)
		return; /* keep the old, longer chains: slower, still correct */
	for (size_t i = 0; i <= t->mask; i++) {
		struct hnode *n = t->buckets[i];
		while (n) {
			struct hnode *next = n->next;
			size_t j = n->hash & (nbuckets - 1);
			n->next = nb[j];
			nb[j] = n;
			n = next;
		}
	}
	free(t->buckets);
	t->buckets = nb;
	t->mask = nbuckets - 1;
}

void htab_insert(struct htab *t, struct hnode *n, uint64_t hash)
{
	n->hash = hash;
	n->next = t->buckets[hash & t->mask];
	t->buckets[hash & t->mask] = n;
	if (++t->count > t->mask + 1)
		htab_resize(t, (t->mask + 1) * 2);
}

void htab_remove(struct htab *t, struct hnode *n)
{
	struct hnode **pp = &t->buckets[n->hash & t->mask];
	while (*pp) {
		if (*pp == n) {
			*pp = n->next;
			n->next = NULL;
			t->count--;
			return;
		}
		pp = &(*pp)->next;
	}
}

struct hnode *htab_next(const struct htab *t, struct hnode *cur, size_t *bucket)
{
	if (cur && cur->next)
		return cur->next;
	size_t i = cur ? *bucket + 1 : 0;
	for (; i <= t->mask; i++) {
		if (t->buckets[i]) {
			*bucket = i;
			return t->buckets[i];
		}
	}
	return NULL;
}

void htab_shrink(struct htab *t)
{
	size_t n = t->mask + 1;
	while (n > HTAB_MIN && t->count < n / 8)
		n /= 2;
	if (n != t->mask + 1)
		htab_resize(t, n);
}
