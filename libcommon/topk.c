/* topk.c: see topk.h. A binary max-heap of k 64-bit keys; sorted by heap-sort so no allocation is needed. */
#include "topk.h"

void topk_init(topk *t, uint32_t k, uint64_t *key)
{
	t->key = key;
	t->n = 0;
	t->k = k;
}

static void sift_down(uint64_t *h, uint32_t n, uint32_t i)
{
	uint64_t v = h[i];
	for (;;) {
		uint32_t c = 2 * i + 1;
		if (c >= n)
			break;
		c += c + 1 < n && h[c + 1] > h[c];
		if (h[c] <= v)
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = v;
}

void topk_push_key(topk *t, uint64_t key)
{
	if (t->n < t->k) {
		uint32_t i = t->n++;
		while (i > 0) {
			uint32_t p = (i - 1) / 2;
			if (t->key[p] >= key)
				break;
			t->key[i] = t->key[p];
			i = p;
		}
		t->key[i] = key;
		return;
	}
	if (t->k == 0 || key >= t->key[0])
		return;
	t->key[0] = key;
	sift_down(t->key, t->n, 0);
}

void topk_merge(topk *t, const topk *src)
{
	for (uint32_t i = 0; i < src->n; i++)
		topk_push_key(t, src->key[i]);
}

void topk_sort(topk *t)
{
	for (uint32_t n = t->n; n > 1; n--) {
		uint64_t top = t->key[0];
		t->key[0] = t->key[n - 1];
		t->key[n - 1] = top;
		sift_down(t->key, n - 1, 0);
	}
}
