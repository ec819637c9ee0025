/* avsl_dist.c: the eval-time AVSL distance (method §3.3) and its helpers: link preparation (top-k mask + column
 * normalisation), row p-normalisation, the naive per-pair reference and the fast tiled version.
 *
 * Fast path layout. Work item = one query row r against a block of P consecutive columns ("pairs" p = 0..P-1).
 * Every per-pair vector over the D dimensions is stored transposed, dimension-major: H[m][p]. Then
 *   T[n][p] = sum_{m kept in column n of S_hat} S_hat[m,n] * H[m][p]
 * is a sparse(CSC) x dense product whose inner loop is a scaled add of a contiguous P-float row (8-wide FMAs with
 * P/8 accumulators held in registers), i.e. the k=128 sparsity of S_hat is exploited at near-GEMM efficiency.
 * The gate, blend and final sum run on the same rows right after they are produced, so T is never stored.
 * Column embeddings/certainties are transposed once per call into blocks (nb, D, PB): contiguous, cache-resident.
 * All per-call memory (those blocks, the per-thread H and T buffers, the regrouped S_hat of avsl_dist_tile) is
 * carved from the context scratch (cpu_scratch), so no call allocates once the scratch has grown.
 * Speed (tests/bench/avsl_dist.sh, Zen 3): about 45% of the FMA peak. The inner loop is bound by its instructions
 * (offset and value loads, shuffles) rather than memory: with H made L1-resident it reaches ~50%; splitting the
 * input dimensions so an H chunk stays in L1, wider P, and fusing the gates of a group did not measurably help.
 *
 * Exactness: per pair every sum runs in a fixed order and the gate argument is gamma*fma(u*v, alpha, beta) with
 * u*v commutative, so d(x,y) == d(y,x) bitwise and d(x,x) == 0 exactly, whatever the tiling.
 */
#include "op_backend.h"
#include "avsl_csc.h"
#include "cpu_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define AVSL_HAVE_AVX2 1
#endif

/* ---- S_hat ---------------------------------------------------------------------------------------------------- */

static int cmp_desc(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;
	return (x < y) - (x > y);
}

int cpu_avsl_link_prepare(op_ctx *ctx, const float *L, int D, int topk, float *s_hat)
{
	float *col = cpu_scratch(ctx, (size_t)D * sizeof *col); /* (D) one column, sorted */
	if (!col)
		return -1;
	int k = topk < 1 ? 1 : (topk > D ? D : topk);
	for (int n = 0; n < D; n++) {
		for (int m = 0; m < D; m++) {
			float r = L[(size_t)m * D + n];
			col[m] = r > 0.0f ? r : 0.0f;
		}
		qsort(col, (size_t)D, sizeof *col, cmp_desc);
		float tau = col[k - 1] - 1e-8f; /* k-th largest counting multiplicity */
		float sum = 0.0f;
		for (int m = 0; m < D; m++) {
			float r = L[(size_t)m * D + n];
			r = r > 0.0f ? r : 0.0f;
			float s = r >= tau ? r : 0.0f;
			s_hat[(size_t)m * D + n] = s;
			sum += s;
		}
		float den = sum + 1e-8f;
		for (int m = 0; m < D; m++)
			s_hat[(size_t)m * D + n] /= den;
	}
	return 0;
}

/* ---- normalisation -------------------------------------------------------------------------------------------- */

float avsl_pnorm(const float *x, int D, float p)
{
	double s = 0;
	if (p == 2.0f) {
		for (int j = 0; j < D; j++)
			s += (double)x[j] * x[j];
		return (float)sqrt(s);
	}
	for (int j = 0; j < D; j++)
		s += pow(fabs((double)x[j]), p);
	return (float)pow(s, 1.0 / p);
}

int cpu_avsl_normalize_rows(op_ctx *ctx, float *x, int64_t n, int D, float p)
{
	(void)ctx; /* serial: one pass over memory, not worth a thread team */
	for (int64_t i = 0; i < n; i++) {
		float *r = x + i * D;
		float nr = avsl_pnorm(r, D, p);
		float den = nr > 1e-12f ? nr : 1e-12f;
		for (int j = 0; j < D; j++)
			r[j] /= den;
	}
	return 0;
}

/* ---- naive reference ------------------------------------------------------------------------------------------ */

static inline float pdiff(float a, float b, float p)
{
	float d = a - b;
	return p == 2.0f ? d * d : powf(fabsf(d), p);
}

static inline float gate(float gamma, float u, float v, float alpha, float beta)
{
	float z = gamma * fmaf(u * v, alpha, beta);
	return 1.0f / (1.0f + expf(-z));
}

void avsl_dist_tile_naive(const avsl_collector_view *c, int R, const float *const *x, const float *const *u, int C,
			  const float *const *y, const float *const *v, float *out, int64_t ldo)
{
	const int D = c->dim, L = c->levels;
	float *H = malloc((size_t)D * sizeof *H), *T = malloc((size_t)D * sizeof *T);
	for (int r = 0; r < R; r++)
		for (int q = 0; q < C; q++) {
			for (int n = 0; n < D; n++)
				H[n] = pdiff(x[0][(size_t)r * D + n], y[0][(size_t)q * D + n], c->p);
			for (int l = 1; l < L; l++) {
				const float *S = c->s_hat[l - 1];
				for (int n = 0; n < D; n++) {
					float t = 0.0f;
					for (int m = 0; m < D; m++)
						t += H[m] * S[(size_t)m * D + n];
					T[n] = t;
				}
				for (int n = 0; n < D; n++) {
					size_t ir = (size_t)r * D + n, iq = (size_t)q * D + n;
					float pi = gate(c->gamma_p, u[l][ir], v[l][iq], c->alpha[l][n], c->beta[l][n]);
					float dl = pdiff(x[l][ir], y[l][iq], c->p);
					H[n] = pi * dl + (1.0f - pi) * T[n];
				}
			}
			float s = 0.0f;
			for (int n = 0; n < D; n++)
				s += H[n];
			out[(size_t)r * ldo + q] = s;
		}
	free(H);
	free(T);
}

/* ---- fast path ------------------------------------------------------------------------------------------------ */

#ifndef AVSL_DIST_P
#define AVSL_DIST_P 16 /* pairs per work item; H blocks are D*P floats (32 KiB at D=512) */
#endif
enum { PB = AVSL_DIST_P };

int avsl_csc_nnz(const float *S, int D)
{
	int nnz = 0;
	for (size_t i = 0; i < (size_t)D * D; i++)
		nnz += S[i] != 0.0f;
	return nnz;
}

void avsl_csc_fill(const float *S, int D, csc *o)
{
	int k = 0;
	for (int n = 0; n < D; n++) {
		o->ptr[n] = k;
		for (int m = 0; m < D; m++) {
			float s = S[(size_t)m * D + n];
			if (s != 0.0f) {
				o->row[k] = m;
				o->val[k++] = s;
			}
		}
	}
	o->ptr[D] = k;
}

#ifdef AVSL_HAVE_AVX2
/* exp(x) for 8 floats, Cephes-style: round(x/ln2) range reduction, degree-6 polynomial; ~1 ulp relative error
 * over the clamped range [-87.3, 88.3] (the sigmoid only needs ~1e-6). */
static inline __m256 exp8(__m256 x)
{
	x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.3f));
	__m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
				   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
	__m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
	r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
	__m256 q = _mm256_set1_ps(1.9875691500E-4f);
	q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(1.3981999507E-3f));
	q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(8.3334519073E-3f));
	q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(4.1665795894E-2f));
	q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(1.6666665459E-1f));
	q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(5.0000001201E-1f));
	q = _mm256_fmadd_ps(q, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
	__m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
	return _mm256_mul_ps(q, _mm256_castsi256_ps(e));
}
#endif

/* S_hat regrouped for the fast path: NB output columns ("slots") advance in lockstep (NB*PB/8 independent
 * accumulator chains instead of PB/8), each slot's entries padded to the group's longest with (row 0, value 0);
 * adding 0*h leaves every sum bitwise unchanged. Columns are put in slots sorted by entry count (a top-k column has
 * k entries unless values tie), so a group pads little. Per column the entries run in ascending m. Rows are stored
 * pre-multiplied by PB (float offsets into an H block). */
#ifndef AVSL_DIST_NB
#define AVSL_DIST_NB 4
#endif
enum { NB = AVSL_DIST_NB };
#ifndef AVSL_DIST_QUAD
#define AVSL_DIST_QUAD (AVSL_DIST_NB % 4 == 0)
#endif

typedef struct {
	int ng;       /* groups of NB slots */
	int *perm;    /* (ng*NB) output column of each slot, -1 past D */
	int *gptr;    /* (ng+1) start of group gi, in units of NB entries */
	int32_t *off; /* (gptr[ng]*NB) row offsets m*PB */
	float *val;   /* (gptr[ng]*NB) */
} gcsc;

static int gcsc_groups(int D)
{
	return (D + NB - 1) / NB;
}

/* Fills g->perm and g->gptr (caller's arrays of ng*NB and ng+1 ints) from the dense (D, D) S; returns the number of
 * NB-entry rows that off and val need. */
static int gcsc_plan(const float *S, int D, gcsc *g)
{
	int cnt[D]; /* (D) entries of column n; D is at most a few thousand */
	for (int n = 0; n < D; n++)
		cnt[n] = 0;
	for (int m = 0; m < D; m++)
		for (int n = 0; n < D; n++)
			cnt[n] += S[(size_t)m * D + n] != 0.0f;
	g->ng = gcsc_groups(D);
	int s = 0; /* slots sorted by count, ties in column order (a counting sort) */
	for (int k = 0; k <= D; k++)
		for (int n = 0; n < D; n++)
			if (cnt[n] == k)
				g->perm[s++] = n;
	for (; s < g->ng * NB; s++)
		g->perm[s] = -1;
	int tot = 0;
	for (int gi = 0; gi < g->ng; gi++) {
		g->gptr[gi] = tot;
		int len = 0;
		for (int i = 0; i < NB; i++) {
			int n = g->perm[gi * NB + i];
			if (n >= 0 && cnt[n] > len)
				len = cnt[n];
		}
		tot += len;
	}
	g->gptr[g->ng] = tot;
	return tot;
}

/* Fills g->off and g->val (gptr[ng]*NB entries each) after gcsc_plan. */
static void gcsc_fill(const float *S, int D, gcsc *g)
{
	size_t tot = (size_t)g->gptr[g->ng] * NB;
	memset(g->off, 0, tot * sizeof *g->off);
	memset(g->val, 0, tot * sizeof *g->val);
	for (int gi = 0; gi < g->ng; gi++)
		for (int i = 0; i < NB; i++) {
			int n = g->perm[gi * NB + i];
			if (n < 0)
				continue;
			size_t e = (size_t)g->gptr[gi] * NB + i;
			for (int m = 0; m < D; m++) {
				float v = S[(size_t)m * D + n];
				if (v != 0.0f) {
					g->off[e] = m * PB;
					g->val[e] = v;
					e += NB;
				}
			}
		}
}

/* T[i][p] = sum_j val * H[row][p] for the NB slots of group gi. T: (NB, PB). */
static inline void spmm_group(const gcsc *g, int gi, const float *H, float *T)
{
	int j0 = g->gptr[gi], j1 = g->gptr[gi + 1];
	const int32_t *off = g->off + (size_t)j0 * NB;
	const float *val = g->val + (size_t)j0 * NB;
#ifdef AVSL_HAVE_AVX2
	__m256 acc[NB][PB / 8];
#pragma GCC unroll 16
	for (int i = 0; i < NB; i++)
#pragma GCC unroll 16
		for (int k = 0; k < PB / 8; k++)
			acc[i][k] = _mm256_setzero_ps();
#if AVSL_DIST_QUAD
	/* NB a multiple of 4: four values per 128-bit broadcast load, spread with in-lane shuffles (no load port),
	 * and two row offsets per 64-bit load: ~1.25 loads per FMA instead of 2. */
	for (int j = j0; j < j1; j++, off += NB, val += NB) {
#pragma GCC unroll 16
		for (int i4 = 0; i4 < NB; i4 += 4) {
			__m256 q = _mm256_broadcast_ps((const __m128 *)(val + i4));
			uint64_t o01, o23;
			memcpy(&o01, off + i4, 8);
			memcpy(&o23, off + i4 + 2, 8);
			const float *h0 = H + (uint32_t)o01, *h1 = H + (uint32_t)(o01 >> 32);
			const float *h2 = H + (uint32_t)o23, *h3 = H + (uint32_t)(o23 >> 32);
			__m256 s0 = _mm256_shuffle_ps(q, q, 0x00), s1 = _mm256_shuffle_ps(q, q, 0x55);
			__m256 s2 = _mm256_shuffle_ps(q, q, 0xaa), s3 = _mm256_shuffle_ps(q, q, 0xff);
#pragma GCC unroll 16
			for (int k = 0; k < PB / 8; k++) {
				acc[i4][k] = _mm256_fmadd_ps(s0, _mm256_load_ps(h0 + 8 * k), acc[i4][k]);
				acc[i4 + 1][k] = _mm256_fmadd_ps(s1, _mm256_load_ps(h1 + 8 * k), acc[i4 + 1][k]);
				acc[i4 + 2][k] = _mm256_fmadd_ps(s2, _mm256_load_ps(h2 + 8 * k), acc[i4 + 2][k]);
				acc[i4 + 3][k] = _mm256_fmadd_ps(s3, _mm256_load_ps(h3 + 8 * k), acc[i4 + 3][k]);
			}
		}
	}
#else
	for (int j = j0; j < j1; j++, off += NB, val += NB) {
#pragma GCC unroll 16
		for (int i = 0; i < NB; i++) {
			__m256 s = _mm256_broadcast_ss(val + i);
			const float *h = H + off[i];
#pragma GCC unroll 16
			for (int k = 0; k < PB / 8; k++)
				acc[i][k] = _mm256_fmadd_ps(s, _mm256_load_ps(h + 8 * k), acc[i][k]);
		}
	}
#endif
#pragma GCC unroll 16
	for (int i = 0; i < NB; i++)
#pragma GCC unroll 16
		for (int k = 0; k < PB / 8; k++)
			_mm256_store_ps(T + i * PB + 8 * k, acc[i][k]);
#else
	for (int p = 0; p < NB * PB; p++)
		T[p] = 0.0f;
	for (int j = j0; j < j1; j++, off += NB, val += NB)
		for (int i = 0; i < NB; i++)
			for (int p = 0; p < PB; p++)
				T[i * PB + p] = fmaf(val[i], H[off[i] + p], T[i * PB + p]);
#endif
}

/* h[p] = t[p] + pi[p]*(dl[p] - t[p]) with pi = sigmoid(gamma*fma(ur*v[p], alpha, beta)), dl = (xr - y[p])^p. */
static inline void gate_blend(float gamma, float ur, float alpha, float beta, float xr, const float *y,
			      const float *v, float pexp, const float *t, float *h)
{
#ifdef AVSL_HAVE_AVX2
	if (pexp == 2.0f) {
		__m256 g = _mm256_set1_ps(-gamma), U = _mm256_set1_ps(ur), A = _mm256_set1_ps(alpha),
		       B = _mm256_set1_ps(beta), X = _mm256_set1_ps(xr), one = _mm256_set1_ps(1.0f);
		for (int p = 0; p < PB; p += 8) {
			__m256 z = _mm256_mul_ps(g, _mm256_fmadd_ps(_mm256_mul_ps(U, _mm256_load_ps(v + p)), A, B));
			/* 1/(1+e): 12-bit reciprocal + one Newton step (~1e-7 relative), cheaper than a divide */
			__m256 den = _mm256_add_ps(one, exp8(z)), rc = _mm256_rcp_ps(den);
			__m256 pi = _mm256_mul_ps(rc, _mm256_fnmadd_ps(den, rc, _mm256_set1_ps(2.0f)));
			__m256 d = _mm256_sub_ps(X, _mm256_load_ps(y + p));
			__m256 dl = _mm256_mul_ps(d, d);
			__m256 tt = _mm256_load_ps(t + p);
			_mm256_store_ps(h + p, _mm256_fmadd_ps(pi, _mm256_sub_ps(dl, tt), tt));
		}
		return;
	}
#endif
	for (int p = 0; p < PB; p++) {
		float pi = gate(gamma, ur, v[p], alpha, beta);
		float dl = pdiff(xr, y[p], pexp);
		h[p] = fmaf(pi, dl - t[p], t[p]);
	}
}

/* Per-thread buffers, carved from the context scratch. */
typedef struct {
	float *Ha, *Hb; /* (D, PB) H of the current and the next level */
	float *T;       /* (NB, PB) products of one group */
} scratch;

/* Row r against the PB columns of one block of transposed column arrays: yT[l], vT[l] (D, PB) (vT[0] unused). */
static void dist_block(const avsl_collector_view *c, const gcsc *S, const float *const *x, const float *const *u,
		       int r, float *const *yT, float *const *vT, scratch *w, float *res)
{
	const int D = c->dim, L = c->levels;
	const float pexp = c->p;
	float *Hp = w->Ha, *Hn = w->Hb;
	const float *x0 = x[0] + (size_t)r * D;
	for (int m = 0; m < D; m++) {
		const float *yy = yT[0] + (size_t)m * PB;
		float *h = Hp + (size_t)m * PB;
		float xm = x0[m];
		if (pexp == 2.0f) {
			for (int p = 0; p < PB; p++) {
				float d = xm - yy[p];
				h[p] = d * d;
			}
		} else {
			for (int p = 0; p < PB; p++)
				h[p] = pdiff(xm, yy[p], pexp);
		}
	}
	for (int p = 0; p < PB; p++)
		res[p] = 0.0f;
	if (L == 1) {
		for (int m = 0; m < D; m++)
			for (int p = 0; p < PB; p++)
				res[p] += Hp[(size_t)m * PB + p];
		return;
	}
	for (int l = 1; l < L; l++) {
		const gcsc *g = &S[l - 1];
		const float *xl = x[l] + (size_t)r * D, *ul = u[l] + (size_t)r * D;
		const float *al = c->alpha[l], *bl = c->beta[l];
		int last = l == L - 1;
		for (int gi = 0; gi < g->ng; gi++) {
			spmm_group(g, gi, Hp, w->T);
			for (int i = 0; i < NB; i++) {
				int n = g->perm[gi * NB + i];
				if (n < 0)
					continue;
				float *t = w->T + i * PB, *h = last ? t : Hn + (size_t)n * PB;
				gate_blend(c->gamma_p, ul[n], al[n], bl[n], xl[n], yT[l] + (size_t)n * PB,
					   vT[l] + (size_t)n * PB, pexp, t, h);
				if (last)
					for (int p = 0; p < PB; p++)
						res[p] += h[p];
			}
		}
		float *tmp = Hp;
		Hp = Hn;
		Hn = tmp;
	}
}

/* S_hat of every link, regrouped once (avsl_dist_plan_new) or per call (avsl_dist_tile, in the context scratch). */
struct avsl_dist_plan {
	const avsl_collector_view *c;
	gcsc S[AVSL_MAX_LEVELS - 1];
};

static size_t align64(size_t bytes)
{
	return (bytes + 63) & ~(size_t)63;
}

int cpu_avsl_dist_plan_new(op_ctx *ctx, const avsl_collector_view *c, avsl_dist_plan **plan)
{
	/* a long-lived object of the caller's, not scratch: one block holding the struct and every array */
	const int D = c->dim, ng = gcsc_groups(D);
	size_t head = align64(sizeof(avsl_dist_plan)), meta = align64((size_t)(ng * NB + ng + 1) * sizeof(int));
	avsl_dist_plan *p = malloc(head + (AVSL_MAX_LEVELS - 1) * meta);
	*plan = p;
	if (!p)
		return cpu_fail(ctx, "out of memory (AVSL distance plan)");
	p->c = c;
	size_t bytes = head + (AVSL_MAX_LEVELS - 1) * meta;
	int tot[AVSL_MAX_LEVELS - 1];
	for (int l = 0; l + 1 < c->levels; l++) {
		gcsc *g = &p->S[l];
		g->perm = (int *)((char *)p + head + l * meta);
		g->gptr = g->perm + ng * NB;
		tot[l] = gcsc_plan(c->s_hat[l], D, g);
		bytes += 2 * align64((size_t)tot[l] * NB * sizeof(float));
	}
	avsl_dist_plan *q = realloc(p, bytes); /* now that the entry counts are known */
	if (!q) {
		free(p);
		*plan = NULL;
		return cpu_fail(ctx, "out of memory (AVSL distance plan)");
	}
	*plan = p = q;
	char *at = (char *)p + head + (AVSL_MAX_LEVELS - 1) * meta;
	for (int l = 0; l + 1 < c->levels; l++) {
		gcsc *g = &p->S[l];
		g->perm = (int *)((char *)p + head + l * meta);
		g->gptr = g->perm + ng * NB;
		g->off = (int32_t *)at;
		at += align64((size_t)tot[l] * NB * sizeof(float));
		g->val = (float *)at;
		at += align64((size_t)tot[l] * NB * sizeof(float));
		gcsc_fill(c->s_hat[l], D, g);
	}
	return 0;
}

int cpu_avsl_dist_plan_free(op_ctx *ctx, avsl_dist_plan *p)
{
	(void)ctx;
	free(p);
	return 0;
}

/* Bytes of tile_core's work memory: column blocks yB[l] (nb, D, PB) for every level and vB[l] for the gated ones
 * (level 0 has no gate, its certainties are never read), then per thread Ha, Hb (D, PB) and T (ng*NB, PB). */
static size_t tile_bytes(int D, int L, int C, int threads)
{
	size_t nb = (size_t)(C + PB - 1) / PB;
	size_t blk = align64(nb * D * PB * sizeof(float)), hb = align64((size_t)D * PB * sizeof(float));
	size_t tb = align64((size_t)NB * PB * sizeof(float));
	return (2 * (size_t)L - 1) * blk + (size_t)threads * (2 * hb + tb);
}

/* The tile body: column q is row (idx ? idx[q] : q) of y[l], v[l]; mem: tile_bytes(D, L, C, threads), 64-aligned. */
static void tile_core(const avsl_dist_plan *plan, char *mem, int R, const float *const *x, const float *const *u,
		      int C, const int32_t *idx, const float *const *y, const float *const *v, float *out, int64_t ldo,
		      int threads)
{
	const avsl_collector_view *c = plan->c;
	const gcsc *S = plan->S;
	const int D = c->dim, L = c->levels;
	int sym = R == C && !idx;
	for (int l = 0; l < L; l++)
		sym = sym && x[l] == y[l] && (l == 0 || u[l] == v[l]);

	/* Column data transposed into blocks of PB columns, block-major, zero-padded, so one block's slices (D*PB
	 * floats per level and array) are contiguous and stay cached while rows stream by. */
	const int nb = (C + PB - 1) / PB;
	size_t blk = align64((size_t)nb * D * PB * sizeof(float)), hb = align64((size_t)D * PB * sizeof(float));
	size_t tb = align64((size_t)NB * PB * sizeof(float));
	float *yB[AVSL_MAX_LEVELS], *vB[AVSL_MAX_LEVELS] = {NULL};
	for (int l = 0; l < L; l++) {
		yB[l] = (float *)mem;
		mem += blk;
		if (l) {
			vB[l] = (float *)mem;
			mem += blk;
		}
	}
#pragma omp parallel for num_threads(threads) schedule(static)
	for (int b = 0; b < nb; b++)
		for (int l = 0; l < L; l++)
			for (int p = 0; p < PB; p++) {
				int q = b * PB + p;
				const float *ys = q < C ? y[l] + (size_t)(idx ? idx[q] : q) * D : NULL;
				float *yo = yB[l] + (size_t)b * D * PB + p;
				for (int n = 0; n < D; n++)
					yo[(size_t)n * PB] = ys ? ys[n] : 0.0f;
				if (!l)
					continue;
				const float *vs = q < C ? v[l] + (size_t)(idx ? idx[q] : q) * D : NULL;
				float *vo = vB[l] + (size_t)b * D * PB + p;
				for (int n = 0; n < D; n++)
					vo[(size_t)n * PB] = vs ? vs[n] : 0.0f;
			}

	/* Work items (column block, chunk of RB rows), block-major so a thread keeps one block's column data hot.
	 * With X == Y only the upper triangle is computed (mirrored below). */
	enum { RB = 8 };
	const int nrc = (R + RB - 1) / RB;
	int64_t nitems = (int64_t)nb * nrc;
#pragma omp parallel num_threads(threads)
	{
		char *mine = mem + (size_t)omp_get_thread_num() * (2 * hb + tb);
		scratch w = {.Ha = (float *)mine, .Hb = (float *)(mine + hb), .T = (float *)(mine + 2 * hb)};
		float res[PB];
#pragma omp for schedule(dynamic, 1)
		for (int64_t it = 0; it < nitems; it++) {
			int b = (int)(it / nrc), r0 = (int)(it % nrc) * RB;
			int c0 = b * PB, cn = C - c0 < PB ? C - c0 : PB;
			float *yb[AVSL_MAX_LEVELS], *vb[AVSL_MAX_LEVELS] = {NULL};
			for (int l = 0; l < L; l++) {
				yb[l] = yB[l] + (size_t)b * D * PB;
				if (l)
					vb[l] = vB[l] + (size_t)b * D * PB;
			}
			for (int r = r0; r < r0 + RB && r < R; r++) {
				if (sym && c0 + cn <= r)
					break;
				dist_block(c, S, x, u, r, yb, vb, &w, res);
				float *o = out + (size_t)r * ldo;
				for (int p = 0; p < cn; p++)
					if (!sym || c0 + p >= r)
						o[c0 + p] = res[p];
			}
		}
	}
	if (sym) { /* lower triangle from the upper, in 64x64 tiles so both sides stay cache-friendly */
		enum { TB = 64 };
		const int nt = (R + TB - 1) / TB;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
		for (int ti = 0; ti < nt; ti++)
			for (int tj = 0; tj <= ti; tj++)
				for (int r = ti * TB; r < (ti + 1) * TB && r < R; r++)
					for (int q = tj * TB; q < (tj + 1) * TB && q < r; q++)
						out[(size_t)r * ldo + q] = out[(size_t)q * ldo + r];
	}
}

int cpu_avsl_dist_tile(op_ctx *ctx, const avsl_collector_view *c, int R, const float *const *x, const float *const *u,
		       int C, const float *const *y, const float *const *v, float *out, int64_t ldo)
{
	if (R <= 0 || C <= 0)
		return 0;
	/* the plan of this call: slot and group tables on the stack, the entries in the context scratch */
	const int D = c->dim, ng = gcsc_groups(D), threads = ctx->threads < 1 ? 1 : ctx->threads;
	int meta[AVSL_MAX_LEVELS - 1][ng * NB + ng + 1];
	avsl_dist_plan plan = {.c = c};
	size_t ptot = 0;
	for (int l = 0; l + 1 < c->levels; l++) {
		plan.S[l].perm = meta[l];
		plan.S[l].gptr = meta[l] + ng * NB;
		ptot += 2 * align64((size_t)gcsc_plan(c->s_hat[l], D, &plan.S[l]) * NB * sizeof(float));
	}
	char *mem = cpu_scratch(ctx, ptot + tile_bytes(D, c->levels, C, threads));
	if (!mem)
		return -1;
	char *at = mem;
	for (int l = 0; l + 1 < c->levels; l++) {
		gcsc *g = &plan.S[l];
		size_t bytes = align64((size_t)g->gptr[ng] * NB * sizeof(float));
		g->off = (int32_t *)at;
		g->val = (float *)(at + bytes);
		at += 2 * bytes;
		gcsc_fill(c->s_hat[l], D, g);
	}
	tile_core(&plan, at, R, x, u, C, NULL, y, v, out, ldo, threads);
	return 0;
}

int cpu_avsl_dist_gather(op_ctx *ctx, const avsl_dist_plan *p, int R, const float *const *x, const float *const *u,
			 int C, const int32_t *idx, const float *const *y, const float *const *v, float *out,
			 int64_t ldo)
{
	if (R <= 0 || C <= 0)
		return 0;
	const int threads = ctx->threads < 1 ? 1 : ctx->threads;
	char *mem = cpu_scratch(ctx, tile_bytes(p->c->dim, p->c->levels, C, threads));
	if (!mem)
		return -1;
	tile_core(p, mem, R, x, u, C, idx, y, v, out, ldo, threads);
	return 0;
}

/* ---- per-level distance --------------------------------------------------------------------------------------- */

int cpu_avsl_level_dist_tile(op_ctx *ctx, int R, const float *x, int C, const float *y, int D, float p, float *out,
			     int64_t ldo)
{
	const int threads = ctx->threads;
#pragma omp parallel for num_threads(threads) schedule(static)
	for (int r = 0; r < R; r++)
		for (int q = 0; q < C; q++) {
			const float *a = x + (size_t)r * D, *b = y + (size_t)q * D;
			float s = 0.0f;
			if (p == 2.0f) {
				for (int n = 0; n < D; n++) {
					float d = a[n] - b[n];
					s += d * d;
				}
			} else {
				for (int n = 0; n < D; n++)
					s += pdiff(a[n], b[n], p);
			}
			out[(size_t)r * ldo + q] = s;
		}
	return 0;
}
