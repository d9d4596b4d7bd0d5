/*
 * Intrusive chained hash table and a keyed string hash.
 *
 * Owns: the bucket array only. Entries embed a struct hnode and are owned by
 * their caller. Keys hashed with a per-process random SipHash key, so names
 * chosen by clients (tenant ids, application names) cannot be crafted to
 * collide. Knows nothing about Postgres.
 */
#ifndef PGTIDE_UTIL_HASH_H
#define PGTIDE_UTIL_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hnode {
	struct hnode *next;
	uint64_t hash;
};

struct htab {
	struct hnode **buckets;
	size_t mask;   /* bucket count - 1; bucket count is a power of two */
	size_t count;
};

typedef bool (*htab_eq_fn)(const struct hnode *node, const void *key);

void hash_seed_random(void);
uint64_t hash_bytes(const void *data, size_t len);
static inline uint64_t hash_str(const char *s);
uint64_t hash_u64(uint64_t v);

void htab_init(struct htab *t);
void htab_free(struct htab *t);
struct hnode *htab_find(const struct htab *t, uint64_t hash, htab_eq_fn eq, const void *key);
void htab_insert(struct htab *t, struct hnode *n, uint64_t hash);
void htab_remove(struct htab *t, struct hnode *n);
void htab_shrink(struct htab *t);

/* Iterate: for (n = htab_next(t, NULL, &i); n; n = next) { next = htab_next(t, n, &i); ... }
 * Fetch next before removing n. Removal never resizes; htab_shrink does,
 * and must not be called while iterating. */
struct hnode *htab_next(const struct htab *t, struct hnode *cur, size_t *bucket);

#include <string.h>
static inline uint64_t hash_str(const char *s)
{
	return hash_bytes(s, strlen(s));
}

#endif
