/* topk.c: see topk.h. A binary max-heap of k entries; sort by heap-sort so no allocation is needed. */
#include "topk.h"

#include <math.h>

static inline float key(float d) { return isnan(d) ? __builtin_inff() : d; }

/* (d1, i1) > (d2, i2) in the lexicographic order of topk.h. */
static inline int greater(float d1, int32_t i1, float d2, int32_t i2) { return d1 > d2 || (d1 == d2 && i1 > i2); }

void topk_init(topk *t, uint32_t k, float *d, int32_t *idx)
{
	t->d = d;
	t->idx = idx;
	t->n = 0;
	t->k = k;
}

static void sift_down(float *d, int32_t *ix, uint32_t n, uint32_t i)
{
	float vd = d[i];
	int32_t vi = ix[i];
	for (;;) {
		uint32_t c = 2 * i + 1;
		if (c >= n)
			break;
		if (c + 1 < n && greater(d[c + 1], ix[c + 1], d[c], ix[c]))
			c++;
		if (!greater(d[c], ix[c], vd, vi))
			break;
		d[i] = d[c];
		ix[i] = ix[c];
		i = c;
	}
	d[i] = vd;
	ix[i] = vi;
}

void topk_push(topk *t, float dist, int32_t idx)
{
	float d = key(dist);
	if (t->k == 0)
		return;
	if (t->n < t->k) {
		uint32_t i = t->n++;
		while (i > 0) {
			uint32_t p = (i - 1) / 2;
			if (!greater(d, idx, t->d[p], t->idx[p]))
				break;
			t->d[i] = t->d[p];
			t->idx[i] = t->idx[p];
			i = p;
		}
		t->d[i] = d;
		t->idx[i] = idx;
		return;
	}
	if (!greater(t->d[0], t->idx[0], d, idx))
		return;
	t->d[0] = d;
	t->idx[0] = idx;
	sift_down(t->d, t->idx, t->n, 0);
}

void topk_merge(topk *t, const topk *src)
{
	for (uint32_t i = 0; i < src->n; i++)
		topk_push(t, src->d[i], src->idx[i]);
}

void topk_sort(topk *t)
{
	/* Heap-sort in place: repeatedly move the largest to the end. */
	for (uint32_t n = t->n; n > 1; n--) {
		float d = t->d[0];
		int32_t i = t->idx[0];
		t->d[0] = t->d[n - 1];
		t->idx[0] = t->idx[n - 1];
		t->d[n - 1] = d;
		t->idx[n - 1] = i;
		sift_down(t->d, t->idx, n - 1, 0);
	}
}
