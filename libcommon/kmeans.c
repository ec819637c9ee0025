/* kmeans.c: see kmeans.h. */
#include "kmeans.h"
#include "ops.h"
#include "rng.h"
#include "util.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

enum { KM_TILE = 256 };

static float sqn(const float *x, int D)
{
	float acc = 0.0f;
	for (int j = 0; j < D; j++)
		acc = fmaf(x[j], x[j], acc);
	return acc;
}

/* Nearest centroid of every point: assign (n), dist (n) its squared distance. Returns how many assignments
 * changed. */
static uint64_t assign_step(const float *x, const float *xs, uint64_t n, int D, const float *c, uint32_t k,
			    int threads, int32_t *assign, float *dist)
{
	uint64_t changed = 0;
	float *cs = xmalloc_array(k, sizeof *cs);
	for (uint32_t j = 0; j < k; j++)
		cs[j] = sqn(c + (size_t)j * D, D);
	long nb = (long)((n + KM_TILE - 1) / KM_TILE);
#pragma omp parallel num_threads(threads) reduction(+ : changed)
	{
		/* each thread its own one-thread CPU context (a context serves one thread at a time) */
		op_ctx ctx;
		if (op_ctx_init(&ctx, OP_DEVICE_CPU, 1))
			die("%s", ctx.err);
		float *tile = xmalloc_array((size_t)KM_TILE * KM_TILE, sizeof *tile);
		float *best = xmalloc_array(KM_TILE, sizeof *best);
		int32_t *arg = xmalloc_array(KM_TILE, sizeof *arg);
#pragma omp for schedule(dynamic, 1)
		for (long b = 0; b < nb; b++) {
			uint64_t r0 = (uint64_t)b * KM_TILE;
			int R = n - r0 < KM_TILE ? (int)(n - r0) : KM_TILE;
			for (int r = 0; r < R; r++)
				best[r] = INFINITY, arg[r] = 0;
			for (uint32_t c0 = 0; c0 < k; c0 += KM_TILE) {
				int C = k - c0 < KM_TILE ? (int)(k - c0) : KM_TILE;
				OP_DO(&ctx, op_dot_tile(&ctx, R, x + r0 * D, D, C, c + (size_t)c0 * D, D, D, OP_TILE_DOT,
							tile, C));
				for (int r = 0; r < R; r++)
					for (int q = 0; q < C; q++) {
						float d = fmaf(-2.0f, tile[(size_t)r * C + q], xs[r0 + r] + cs[c0 + q]);
						if (d < best[r]) /* strict: ties keep the lowest centroid index */
							best[r] = d, arg[r] = (int32_t)(c0 + q);
					}
			}
			for (int r = 0; r < R; r++) {
				changed += assign[r0 + r] != arg[r];
				assign[r0 + r] = arg[r];
				dist[r0 + r] = best[r];
			}
		}
		free(tile);
		op_ctx_free(&ctx);
		free(best);
		free(arg);
	}
	free(cs);
	return changed;
}

int kmeans(const float *x, uint64_t n, int D, uint32_t k, int iters, uint64_t seed, int threads, int32_t *assign)
{
	float *c = xmalloc_array((size_t)k * D, sizeof *c), *xs = xmalloc_array(n ? n : 1, sizeof *xs);
	float *dist = xmalloc_array(n ? n : 1, sizeof *dist);
	double *sum = xmalloc_array((size_t)k * D, sizeof *sum);
	uint64_t *cnt = xmalloc_array(k, sizeof *cnt);
	for (uint64_t i = 0; i < n; i++)
		xs[i] = sqn(x + i * D, D);
	/* k distinct points, uniformly: a partial Fisher-Yates shuffle of the indices */
	uint32_t *perm = xmalloc_array(n ? n : 1, sizeof *perm);
	for (uint64_t i = 0; i < n; i++)
		perm[i] = (uint32_t)i;
	rng r;
	rng_init(&r, seed, rng_stream_id(0x6b6d65616e73ULL, 0, 0)); /* "kmeans" */
	for (uint32_t j = 0; j < k; j++) {
		uint32_t t = j + rng_below(&r, (uint32_t)(n - j));
		uint32_t tmp = perm[j];
		perm[j] = perm[t];
		perm[t] = tmp;
		memcpy(c + (size_t)j * D, x + (size_t)perm[j] * D, (size_t)D * sizeof(float));
	}
	free(perm);
	for (uint64_t i = 0; i < n; i++)
		assign[i] = -1;
	int it = 0;
	for (; it < iters; it++) {
		if (assign_step(x, xs, n, D, c, k, threads, assign, dist) == 0)
			break;
		/* update: the mean of each cluster (sums in double, in point order: independent of the threads) */
		memset(sum, 0, (size_t)k * D * sizeof *sum);
		memset(cnt, 0, k * sizeof *cnt);
		for (uint64_t i = 0; i < n; i++) {
			double *s = sum + (size_t)assign[i] * D;
			const float *p = x + i * D;
			for (int j = 0; j < D; j++)
				s[j] += p[j];
			cnt[assign[i]]++;
		}
		for (uint32_t j = 0; j < k; j++) {
			if (cnt[j] == 0) {
				/* empty: take the point farthest from its centroid (then it is no longer far) */
				uint64_t far = 0;
				for (uint64_t i = 1; i < n; i++)
					if (dist[i] > dist[far])
						far = i;
				memcpy(c + (size_t)j * D, x + far * D, (size_t)D * sizeof(float));
				dist[far] = -1.0f;
				continue;
			}
			for (int q = 0; q < D; q++)
				c[(size_t)j * D + q] = (float)(sum[(size_t)j * D + q] / (double)cnt[j]);
		}
	}
	if (it == iters) /* the last update moved the centroids: assign once more to the final ones */
		assign_step(x, xs, n, D, c, k, threads, assign, dist);
	free(c);
	free(xs);
	free(dist);
	free(sum);
	free(cnt);
	return it;
}

static int cmp_i32(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
	return (x > y) - (x < y);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* Relabel v (n) as dense 0..m-1 (order of first value); returns m. */
static uint32_t densify(const int32_t *v, uint64_t n, uint32_t *out)
{
	int32_t *s = xmalloc_array(n ? n : 1, sizeof *s);
	memcpy(s, v, n * sizeof *s);
	qsort(s, n, sizeof *s, cmp_i32);
	uint64_t m = 0;
	for (uint64_t i = 0; i < n; i++)
		if (i == 0 || s[i] != s[i - 1])
			s[m++] = s[i];
	for (uint64_t i = 0; i < n; i++) {
		int32_t *p = bsearch(&v[i], s, m, sizeof *s, cmp_i32);
		out[i] = (uint32_t)(p - s);
	}
	free(s);
	return (uint32_t)m;
}

double nmi(const int32_t *a, const int32_t *b, uint64_t n)
{
	if (n == 0)
		return 1.0;
	uint32_t *da = xmalloc_array(n, sizeof *da), *db = xmalloc_array(n, sizeof *db);
	uint32_t ma = densify(a, n, da), mb = densify(b, n, db);
	/* the contingency table as sorted (a, b) pairs: memory O(n), not O(ma * mb) */
	uint64_t *pair = xmalloc_array(n, sizeof *pair), *ca = xcalloc(ma, sizeof *ca), *cb = xcalloc(mb, sizeof *cb);
	for (uint64_t i = 0; i < n; i++) {
		pair[i] = (uint64_t)da[i] << 32 | db[i];
		ca[da[i]]++;
		cb[db[i]]++;
	}
	qsort(pair, n, sizeof *pair, cmp_u64);
	double N = (double)n, mi = 0, ha = 0, hb = 0;
	for (uint64_t i = 0; i < n;) {
		uint64_t j = i;
		while (j < n && pair[j] == pair[i])
			j++;
		double nij = (double)(j - i);
		uint32_t x = (uint32_t)(pair[i] >> 32), y = (uint32_t)pair[i];
		mi += nij / N * log(nij * N / ((double)ca[x] * (double)cb[y]));
		i = j;
	}
	for (uint32_t i = 0; i < ma; i++)
		ha -= (double)ca[i] / N * log((double)ca[i] / N);
	for (uint32_t i = 0; i < mb; i++)
		hb -= (double)cb[i] / N * log((double)cb[i] / N);
	free(da);
	free(db);
	free(pair);
	free(ca);
	free(cb);
	if (ha == 0 && hb == 0)
		return 1.0; /* both a single class: identical labelings (sklearn's convention) */
	double v = mi / ((ha + hb) / 2);
	return v < 0 ? 0 : v > 1 ? 1 : v;
}
