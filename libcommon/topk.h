/* topk.h: a running "k smallest" selection over (distance, index) pairs, one per query.
 *
 * Order is total and lexicographic: (d1, i1) < (d2, i2) when d1 < d2, or d1 == d2 and i1 < i2. So ties are broken
 * by ascending gallery index, and the selected set (and its sorted order) does not depend on the order in which
 * candidates are offered: tiles, thread counts and shards all give identical results. NaN sorts as +infinity,
 * -0 as +0. Each pair is one 64-bit key (order-preserving bits of d, then the index), so a comparison is one
 * integer compare.
 */
#ifndef AVSL_TOPK_H
#define AVSL_TOPK_H

#include <stdint.h>
#include <string.h>

typedef struct {
	uint64_t *key; /* (k) a max-heap while filling, ascending after topk_sort */
	uint32_t n;    /* entries held, <= k */
	uint32_t k;
} topk;

/* The key of (d, idx); idx >= 0. */
static inline uint64_t topk_key(float d, int32_t idx)
{
	uint32_t u;
	if (d != d)
		d = __builtin_inff();
	d += 0.0f; /* -0 -> +0 */
	memcpy(&u, &d, 4);
	u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
	return (uint64_t)u << 32 | (uint32_t)idx;
}
static inline float topk_key_dist(uint64_t key)
{
	uint32_t u = (uint32_t)(key >> 32);
	u = (u & 0x80000000u) ? (u & 0x7fffffffu) : ~u;
	float d;
	memcpy(&d, &u, 4);
	return d;
}
static inline int32_t topk_key_index(uint64_t key) { return (int32_t)(uint32_t)key; }

/* A view over caller-owned storage key[k] (so many heaps can share one allocation). */
void topk_init(topk *t, uint32_t k, uint64_t *key);
/* Offer one candidate; kept when fewer than k are held or it is smaller than the current largest. */
void topk_push_key(topk *t, uint64_t key);
static inline void topk_push(topk *t, float d, int32_t idx) { topk_push_key(t, topk_key(d, idx)); }
/* The largest held distance (+inf while not full): candidates with a larger distance can be skipped. */
static inline float topk_bound(const topk *t) { return t->n < t->k ? __builtin_inff() : topk_key_dist(t->key[0]); }
/* Offer every entry held by src. */
void topk_merge(topk *t, const topk *src);
/* Sort the held entries ascending; the heap is no longer usable for push afterwards. */
void topk_sort(topk *t);

#endif
