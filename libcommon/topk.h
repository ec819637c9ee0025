/* topk.h: a running "k smallest" selection over (distance, index) pairs, one per query.
 *
 * Order is total and lexicographic: (d1, i1) < (d2, i2) when d1 < d2, or d1 == d2 and i1 < i2. So ties are broken
 * by ascending gallery index, and the selected set (and its sorted order) does not depend on the order in which
 * candidates are offered: tiles, thread counts and shards all give identical results. NaN sorts as +infinity.
 */
#ifndef AVSL_TOPK_H
#define AVSL_TOPK_H

#include <stdint.h>

typedef struct {
	float *d;    /* (k) distances: a max-heap on (d, idx) while filling, sorted ascending after topk_sort */
	int32_t *idx;/* (k) gallery indices */
	uint32_t n;  /* entries held, <= k */
	uint32_t k;
} topk;

/* Views over caller-owned storage d[k], idx[k] (so many heaps can share one allocation). */
void topk_init(topk *t, uint32_t k, float *d, int32_t *idx);
/* Offer one candidate; kept when fewer than k are held or it is smaller than the current largest. */
void topk_push(topk *t, float d, int32_t idx);
/* The largest held pair's distance (+inf while not full): candidates with d > this can be skipped cheaply. */
static inline float topk_bound(const topk *t) { return t->n < t->k ? __builtin_inff() : t->d[0]; }
/* Offer every entry held by src. */
void topk_merge(topk *t, const topk *src);
/* Sort the held entries ascending by (d, idx); the heap is no longer usable for push afterwards. */
void topk_sort(topk *t);

#endif
