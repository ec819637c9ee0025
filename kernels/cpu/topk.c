/* topk.c: op_topk_init and op_topk_merge on the CPU (ops.h): the running k smallest (distance, index) pairs per row.
 *
 * Each pair is one 64-bit key (order-preserving bits of the distance, then the index), so a comparison is one
 * integer compare; the empty slot (+inf, -1) is the largest key of all. A merge keeps the row's list as it is and
 * collects the tile's candidates in a binary max-heap of at most K keys (the K best new ones; a candidate must
 * beat both the list's last entry and, once the heap is full, the heap's top -- most candidates fail the first
 * test, made 8 floats at a time); then the heap is sorted (heap-sort, in place) and merged into the list's tail. A
 * row the tile does not improve is not written.
 *
 * A row-major tile (cstride 1) is scanned row by row, threads sharing the rows. A transposed tile (rstride 1: the
 * column side of a symmetric graph tile) is scanned a strip of STRIP rows at a time, tile row by tile row, so the
 * reads stay contiguous; each row of the strip has its own heap.
 */
#include <omp.h>
#include <string.h>

#include "op_backend.h"
#include "cpu_internal.h"

#ifdef __AVX2__
#include <immintrin.h>
#endif

enum { STRIP = 64 };

/* The key of (d, i): NaN as +inf, -0 as +0; i = -1 (empty) gives the largest key of its distance. */
static inline uint64_t key_of(float d, int32_t i)
{
	uint32_t u;
	if (d != d)
		d = __builtin_inff();
	d += 0.0f; /* -0 -> +0 */
	memcpy(&u, &d, 4);
	u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
	return (uint64_t)u << 32 | (uint32_t)i;
}
static inline float key_dist(uint64_t key)
{
	uint32_t u = (uint32_t)(key >> 32);
	u = (u & 0x80000000u) ? (u & 0x7fffffffu) : ~u;
	float d;
	memcpy(&d, &u, 4);
	return d;
}
static inline int32_t key_index(uint64_t key) { return (int32_t)(uint32_t)key; }

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

/* The new candidates of one row: a max-heap h of n <= K keys, and the bound a candidate must stay under. */
typedef struct {
	uint64_t *h;
	uint32_t n;
	uint64_t lim;   /* keys >= lim cannot make the list: the list's last key, or the heap's top once full */
	float bound;    /* key_dist(lim): the float prefilter (d <= bound) */
} cand;

static void cand_start(cand *s, uint64_t *h, const float *dist, const int32_t *idx, int K)
{
	s->h = h;
	s->n = 0;
	s->lim = key_of(dist[K - 1], idx[K - 1]);
	s->bound = key_dist(s->lim);
}

/* Offer key (already known to pass the float bound). */
static inline void cand_push(cand *s, uint64_t key, uint32_t K)
{
	if (key >= s->lim)
		return;
	if (s->n < K) {
		uint32_t i = s->n++;
		while (i > 0) {
			uint32_t p = (i - 1) / 2;
			if (s->h[p] >= key)
				break;
			s->h[i] = s->h[p];
			i = p;
		}
		s->h[i] = key;
		if (s->n < K)
			return;
	} else {
		s->h[0] = key;
		sift_down(s->h, s->n, 0);
	}
	s->lim = s->h[0]; /* full: the heap's top is below the list's last (everything in it was) */
	s->bound = key_dist(s->lim);
}

/* Sort the heap and merge it into the list (ascending both): the K smallest of the two. Only the list's tail from
 * the first entry the smallest candidate beats is rewritten (candidates mostly just beat the last entries).
 * out: K keys scratch. */
static void cand_finish(cand *s, float *dist, int32_t *idx, uint32_t K, uint64_t *out)
{
	if (s->n == 0)
		return;
	for (uint32_t n = s->n; n > 1; n--) {
		uint64_t top = s->h[0];
		s->h[0] = s->h[n - 1];
		s->h[n - 1] = top;
		sift_down(s->h, n - 1, 0);
	}
	uint32_t lo = 0, hi = K; /* the first list entry above the smallest candidate */
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		if (key_of(dist[mid], idx[mid]) < s->h[0])
			lo = mid + 1;
		else
			hi = mid;
	}
	uint32_t nt = K - lo, a = 0, b = 0;
	for (uint32_t i = 0; i < nt; i++)
		out[i] = key_of(dist[lo + i], idx[lo + i]);
	for (uint32_t o = lo; o < K; o++) {
		uint64_t key = b < s->n && (a >= nt || s->h[b] < out[a]) ? s->h[b++] : out[a++];
		int32_t i = key_index(key);
		dist[o] = i < 0 ? __builtin_inff() : key_dist(key);
		idx[o] = i;
	}
}

int cpu_topk_init(op_ctx *ctx, int R, int K, float *dist, int32_t *idx)
{
	if (R < 0 || K < 1)
		return cpu_fail(ctx, "topk_init: invalid arguments (R %d, K %d)", R, K);
	for (size_t i = 0; i < (size_t)R * K; i++) {
		dist[i] = __builtin_inff();
		idx[i] = -1;
	}
	return 0;
}

/* Candidate c of a tile line t (stride st): its index, or -1 when it is the row's own item. */
static inline int64_t item_of(int c, int64_t col0, const int32_t *cols, int64_t self)
{
	int64_t g = cols ? cols[c] : col0 + c;
	return g == self ? -1 : g;
}

/* One list row against its tile line t[c * st], c < C. */
static void merge_line(const float *t, int64_t st, int C, int64_t col0, const int32_t *cols, int64_t self,
		       float *dist, int32_t *idx, uint32_t K, uint64_t *heap, uint64_t *out)
{
	cand s;
	cand_start(&s, heap, dist, idx, (int)K);
	int c = 0;
#ifdef __AVX2__
	if (st == 1)
		for (; c + 8 <= C; c += 8) {
			unsigned m = (unsigned)_mm256_movemask_ps(
				_mm256_cmp_ps(_mm256_loadu_ps(t + c), _mm256_set1_ps(s.bound), _CMP_LE_OQ));
			while (m) {
				int j = c + __builtin_ctz(m);
				m &= m - 1;
				int64_t g = item_of(j, col0, cols, self);
				if (g >= 0 && t[j] <= s.bound)
					cand_push(&s, key_of(t[j], (int32_t)g), K);
			}
		}
#endif
	for (; c < C; c++) {
		float d = t[c * st];
		if (!(d <= s.bound))
			continue; /* NaN never passes */
		int64_t g = item_of(c, col0, cols, self);
		if (g >= 0)
			cand_push(&s, key_of(d, (int32_t)g), K);
	}
	cand_finish(&s, dist, idx, K, out);
}

/* Rows [r0, r0 + n) (n <= STRIP) of a tile whose rows are contiguous in r (rstride 1): candidate c of row r at
 * t[r + c * cs]. */
static void merge_strip(const float *t, int64_t cs, int n, int C, int64_t col0, const int32_t *cols, int64_t self,
			float *dist, int32_t *idx, uint32_t K, uint64_t *heaps, uint64_t *out)
{
	cand s[STRIP];
	float bound[STRIP];
	for (int r = 0; r < n; r++) {
		cand_start(&s[r], heaps + (size_t)r * K, dist + (size_t)r * K, idx + (size_t)r * K, (int)K);
		bound[r] = s[r].bound;
	}
	for (int c = 0; c < C; c++) {
		const float *line = t + c * cs;
		int r = 0;
#ifdef __AVX2__
		for (; r + 8 <= n; r += 8) {
			unsigned m = (unsigned)_mm256_movemask_ps(
				_mm256_cmp_ps(_mm256_loadu_ps(line + r), _mm256_loadu_ps(bound + r), _CMP_LE_OQ));
			while (m) {
				int j = r + __builtin_ctz(m);
				m &= m - 1;
				int64_t g = item_of(c, col0, cols, self >= 0 ? self + j : -1);
				if (g >= 0) {
					cand_push(&s[j], key_of(line[j], (int32_t)g), K);
					bound[j] = s[j].bound;
				}
			}
		}
#endif
		for (; r < n; r++) {
			if (!(line[r] <= bound[r]))
				continue;
			int64_t g = item_of(c, col0, cols, self >= 0 ? self + r : -1);
			if (g >= 0) {
				cand_push(&s[r], key_of(line[r], (int32_t)g), K);
				bound[r] = s[r].bound;
			}
		}
	}
	for (int r = 0; r < n; r++)
		cand_finish(&s[r], dist + (size_t)r * K, idx + (size_t)r * K, K, out);
}

int cpu_topk_merge(op_ctx *ctx, const float *tile, int R, int C, int64_t rstride, int64_t cstride, int64_t col0,
		   const int32_t *cols, int64_t self0, float *dist, int32_t *idx, int K)
{
	if (R < 0 || C < 0 || K < 1 || col0 < 0 || col0 + C > INT32_MAX)
		return cpu_fail(ctx, "topk_merge: invalid arguments (R %d, C %d, K %d, col0 %lld)", R, C, K,
				(long long)col0);
	if (R == 0 || C == 0)
		return 0;
	int strips = rstride == 1 && cstride != 1; /* a transposed tile */
	int per = strips ? STRIP + 1 : 2;          /* heap keys per thread, in units of K */
	uint64_t *scr = cpu_scratch(ctx, (size_t)ctx->threads * per * K * sizeof(uint64_t));
	if (!scr)
		return -1;
	if (strips) {
		int ns = (R + STRIP - 1) / STRIP;
#pragma omp parallel for schedule(dynamic, 1) num_threads(ctx->threads)
		for (int i = 0; i < ns; i++) {
			uint64_t *h = scr + (size_t)omp_get_thread_num() * per * K;
			int r0 = i * STRIP, n = R - r0 < STRIP ? R - r0 : STRIP;
			merge_strip(tile + r0, cstride, n, C, col0, cols, self0 >= 0 ? self0 + r0 : -1,
				    dist + (size_t)r0 * K, idx + (size_t)r0 * K, (uint32_t)K, h, h + (size_t)STRIP * K);
		}
		return 0;
	}
#pragma omp parallel for schedule(dynamic, 4) num_threads(ctx->threads)
	for (int r = 0; r < R; r++) {
		uint64_t *h = scr + (size_t)omp_get_thread_num() * per * K;
		merge_line(tile + r * rstride, cstride, C, col0, cols, self0 >= 0 ? self0 + r : -1,
			   dist + (size_t)r * K, idx + (size_t)r * K, (uint32_t)K, h, h + K);
	}
	return 0;
}
