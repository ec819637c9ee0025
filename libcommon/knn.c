/* knn.c: see knn.h.
 *
 * Plan: the query range is cut into row blocks of `tile` rows and the gallery into column blocks of `tile` columns.
 * For each row block, the column blocks are shared out to the threads (OpenMP, dynamic); a thread computes one
 * (rows x columns) distance tile into its own buffer and offers every entry to its own per-row heaps; at the end of
 * the block the per-thread heaps are merged into the block's result, sorted and emitted in query order. Because the
 * top-k under the (distance, index) order is unique, the merge order does not matter.
 *
 * When the gallery is the query set and the whole set is wanted (no shard) with a symmetric plain metric, only the
 * tiles on and above the diagonal are computed: a tile (I, J > I) also feeds the heaps of the rows of block J (the
 * column side), which stay alive until block J is emitted. That halves the work; memory becomes O(N * k). The
 * distances are the same numbers either way (dot_tile is symmetric bit for bit), so the graph is identical.
 */
#define _GNU_SOURCE
#include "knn.h"
#include "devmem.h"
#include "dot_tile.h"
#include "knn_device.h"
#include "npy.h"
#include "progress.h"
#include "rerank.h"
#include "topk.h"
#include "util.h"

#include <math.h>
#include <omp.h>
#ifdef __AVX2__
#include <immintrin.h>
#endif
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>


/* Per set: what the tile computation reads. */
typedef struct {
	int D;                              /* dot metrics: vector length */
	float *x;                           /* (n, D) transformed embeddings */
	float *sq;                          /* (n) squared norms of the rows of x (the same fma chain as dot_tile) */
	float *lv[AVSL_MAX_LEVELS];         /* avsl: (n, dim) p-normalised embeddings per level */
	const float *cert[AVSL_MAX_LEVELS]; /* avsl: (n, dim) certainties (borrowed; on a device: dcert) */
	op_ctx *dctx;                       /* avsl on a device: lv and dcert are its memory (knn_device.h) */
	float *dcert[AVSL_MAX_LEVELS];      /* avsl on a device: (n, dim) the certainties uploaded */
} prep;

/* A gallery prepared once (knn_prepare): its tile inputs and its labels sorted (for n_relevant). */
struct knn_prepared {
	const ave_set *gallery;
	prep p;            /* the scanned metric's vectors: o->metric, or o->shortlist when re-ranking */
	int32_t *sorted;   /* (gallery n) labels, ascending */
	float *rows[AVSL_MAX_LEVELS]; /* re-rank: (gallery n, D) p-normalised rows per level (rerank_gallery_rows) */
};

const float *const *knn_prepared_rows(const knn_prepared *p)
{
	return p && p->rows[0] ? (const float *const *)p->rows : NULL;
}

int knn_metric_parse(const char *s, knn_metric *m, const char **why)
{
	memset(m, 0, sizeof *m);
	if (!strcmp(s, "avsl"))
		m->kind = KNN_AVSL;
	else if (!strcmp(s, "levels"))
		m->kind = KNN_LEVELS;
	else if (!strcmp(s, "l2"))
		m->kind = KNN_L2;
	else if (!strcmp(s, "cosine"))
		m->kind = KNN_COSINE;
	else if (!strcmp(s, "avsl-linear"))
		m->kind = KNN_AVSL_LINEAR;
	else if (!strncmp(s, "level:", 6)) {
		long v;
		if (parse_long(s + 6, 0, AVE_MAX_LEVELS - 1, &v, why) != 0)
			return -1;
		m->kind = KNN_LEVEL;
		m->level = (int)v;
	} else {
		*why = "expected avsl, levels, level:N, l2, cosine or avsl-linear";
		return -1;
	}
	return 0;
}

void knn_metric_name(const knn_metric *m, char *buf)
{
	static const char *names[] = {"avsl", "levels", "level", "l2", "cosine", "avsl-linear"};
	if (m->kind == KNN_LEVEL)
		snprintf(buf, 32, "level:%d", m->level);
	else
		snprintf(buf, 32, "%s", names[m->kind]);
}

static int fail(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -1;
}

int knn_check(const knn_opts *o, char *err, size_t errlen)
{
	const ave_header *q = &o->query->h, *g = &o->gallery->h;
	if (q->levels != g->levels)
		return fail(err, errlen, "query has %u levels, gallery %u", q->levels, g->levels);
	for (uint32_t l = 0; l < q->levels; l++)
		if (q->dim[l] != g->dim[l])
			return fail(err, errlen, "level %u: query dimension %u, gallery %u", l, q->dim[l], g->dim[l]);
	if (o->k < 1)
		return fail(err, errlen, "k must be at least 1");
	if (o->q_begin > o->q_end || o->q_end > o->query->n)
		return fail(err, errlen, "query range [%llu, %llu) outside the %llu queries",
			    (unsigned long long)o->q_begin, (unsigned long long)o->q_end,
			    (unsigned long long)o->query->n);
	if (o->gallery->n > INT32_MAX)
		return fail(err, errlen, "gallery of %llu items: at most %d supported", (unsigned long long)o->gallery->n,
			    INT32_MAX);
	if (o->prepared && (o->prepared->gallery != o->gallery || o->query == o->gallery))
		return fail(err, errlen, "internal: a prepared gallery serves only the set it was prepared for");
	if (o->rerank) {
		if (o->metric.kind != KNN_AVSL)
			return fail(err, errlen, "--rerank re-ranks by the avsl metric (got a plain --metric)");
		if (o->shortlist.kind == KNN_AVSL)
			return fail(err, errlen, "--shortlist avsl: the shortlist must be a plain metric");
		knn_opts s = *o;
		s.rerank = 0;
		s.metric = o->shortlist;
		s.metric.avsl = o->metric.avsl;
		s.prepared = NULL;
		if (knn_check(&s, err, errlen) != 0)
			return -1;
	}
	const avsl_collector_view *c = o->metric.avsl;
	switch (o->metric.kind) {
	case KNN_LEVEL:
		if ((uint32_t)o->metric.level >= q->levels)
			return fail(err, errlen, "metric level:%d: the embeddings have %u level(s)", o->metric.level,
				    q->levels);
		break;
	case KNN_LEVELS:
		if (c && c->p != 2.0f)
			return fail(err, errlen, "metric levels: only p = 2 is supported (the model has p = %g)",
				    (double)c->p);
		break;
	case KNN_AVSL_LINEAR:
		if (!c)
			return fail(err, errlen, "metric avsl-linear needs a model (-m)");
		if (!g->has_cert)
			return fail(err, errlen, "metric avsl-linear needs gallery embeddings with certainties");
		if (c->p != 2.0f)
			return fail(err, errlen, "metric avsl-linear: only p = 2 is supported (the model has p = %g)",
				    (double)c->p);
		if ((int)q->levels != c->levels || (int)q->dim[0] != c->dim)
			return fail(err, errlen, "metric avsl-linear: the embeddings do not match the model's %d levels of %d",
				    c->levels, c->dim);
		break;
	case KNN_AVSL:
		if (!c)
			return fail(err, errlen, "metric avsl needs a model (-m)");
		if (!q->has_cert || !g->has_cert)
			return fail(err, errlen, "metric avsl needs embeddings with certainties");
		if ((int)q->levels != c->levels)
			return fail(err, errlen, "metric avsl: embeddings have %u levels, the model %d", q->levels,
				    c->levels);
		for (uint32_t l = 0; l < q->levels; l++)
			if ((int)q->dim[l] != c->dim)
				return fail(err, errlen, "metric avsl: level %u has dimension %u, the model %d", l,
					    q->dim[l], c->dim);
		break;
	default:
		break;
	}
	return 0;
}

static float sq_norm(const float *x, int D)
{
	float acc = 0.0f;
	for (int k = 0; k < D; k++)
		acc = fmaf(x[k], x[k], acc);
	return acc;
}

/* x / max(||x||_2, 1e-12) in place (method §3.3 step 1 with p = 2). */
static void l2_normalise(float *x, int D)
{
	double s = 0;
	for (int k = 0; k < D; k++)
		s += (double)x[k] * x[k];
	double n = sqrt(s);
	float inv = (float)(1.0 / (n > 1e-12 ? n : 1e-12));
	for (int k = 0; k < D; k++)
		x[k] *= inv;
}

static void *alloc_aligned(size_t count, size_t size)
{
	size_t n;
	if (size_mul(count, size, &n) != 0)
		die("allocation size overflow");
	n = (n + 63) / 64 * 64;
	void *p = aligned_alloc(64, n ? n : 64);
	if (!p)
		die("out of memory (%zu bytes)", n);
	return p;
}

/* Device memory for distance tiles (knn_opts.device_tile_bytes; 0: the default). */
static size_t knn_tile_budget(const knn_opts *o)
{
	return o->device_tile_bytes ? o->device_tile_bytes : KNN_DEVICE_TILE_DEFAULT;
}

op_ctx *knn_ctx_open(const knn_opts *o, op_ctx *own)
{
	if (o->ctx)
		return o->ctx;
	if (op_ctx_init(own, OP_DEVICE_CPU, o->threads > 0 ? o->threads : 1))
		die("%s", own->err);
	return own;
}

void knn_ctx_close(op_ctx *ctx, op_ctx *own)
{
	if (ctx == own)
		op_ctx_free(own);
}

/* ctx: the AVSL metric's context (unused by the other metrics, may be NULL for them). */
static void prep_build(const knn_opts *o, op_ctx *ctx, const ave_set *s, prep *p)
{
	memset(p, 0, sizeof *p);
	const ave_header *h = &s->h;
	if (o->metric.kind == KNN_AVSL && ctx && devmem_is_device(ctx)) {
		p->dctx = ctx;
		for (uint32_t l = 0; l < h->levels; l++) {
			knn_dev_rows(ctx, s->emb[l], s->cert[l], s->n, (int)h->dim[l], o->metric.avsl->p, &p->lv[l],
				     &p->dcert[l]);
			p->cert[l] = p->dcert[l];
		}
		return;
	}
	if (o->metric.kind == KNN_AVSL) {
		for (uint32_t l = 0; l < h->levels; l++) {
			p->lv[l] = alloc_aligned(s->n, (size_t)h->dim[l] * sizeof(float));
			memcpy(p->lv[l], s->emb[l], s->n * h->dim[l] * sizeof(float));
			OP_DO(ctx, op_avsl_normalize_rows(ctx, p->lv[l], (int64_t)s->n, (int)h->dim[l],
			      o->metric.avsl->p));
			p->cert[l] = s->cert[l];
		}
		return;
	}
	uint32_t l0 = 0, l1 = h->levels;
	if (o->metric.kind == KNN_LEVEL)
		l0 = (uint32_t)o->metric.level, l1 = l0 + 1;
	int D = 0;
	for (uint32_t l = l0; l < l1; l++)
		D += (int)h->dim[l];
	p->D = D;
	p->x = alloc_aligned(s->n, (size_t)D * sizeof(float));
	p->sq = alloc_aligned(s->n ? s->n : 1, sizeof(float));
	int whole = o->metric.kind == KNN_L2 || o->metric.kind == KNN_COSINE;
	/* avsl-linear: sqrt of the per-dimension weights (from the collector and the gallery's certainties, so query
	 * and gallery get the same), applied after the per-level normalisation */
	float *sw = NULL;
	if (o->metric.kind == KNN_AVSL_LINEAR) {
		sw = xmalloc_array((size_t)D, sizeof *sw);
		rerank_linear_weights(o->metric.avsl, o->gallery, sw);
		for (int j = 0; j < D; j++)
			sw[j] = sqrtf(sw[j]);
	}
#pragma omp parallel for num_threads(o->threads) schedule(static)
	for (uint64_t i = 0; i < s->n; i++) {
		float *row = p->x + i * D;
		int off = 0;
		for (uint32_t l = l0; l < l1; l++) {
			memcpy(row + off, s->emb[l] + i * h->dim[l], h->dim[l] * sizeof(float));
			if (!whole)
				l2_normalise(row + off, (int)h->dim[l]);
			off += (int)h->dim[l];
		}
		if (whole)
			l2_normalise(row, D);
		if (sw)
			for (int j = 0; j < D; j++)
				row[j] *= sw[j];
		p->sq[i] = sq_norm(row, D);
	}
	free(sw);
}

static void prep_free(prep *p)
{
	free(p->x);
	free(p->sq);
	for (int l = 0; l < AVSL_MAX_LEVELS; l++) {
		if (p->dctx) {
			devmem_free(p->dctx, p->lv[l]);
			devmem_free(p->dctx, p->dcert[l]);
		} else {
			free(p->lv[l]);
		}
	}
	memset(p, 0, sizeof *p);
}

/* Per-thread scratch: the distance tile and dot_tile's packing space. */
typedef struct {
	float *tile;    /* (tile, tile) */
	float *scratch; /* dot_tile_scratch */
	float *cb;      /* (tile) column-side heap bounds */
} worker;

/* Distances of queries [r0, r0+R) (of pq) against gallery [c0, c0+C) (of pg) into out (R, C), leading dim ldo.
 * dv: the AVSL metric on a device (its tile is computed there and downloaded into out), else NULL. */
static void tile_dist(const knn_opts *o, op_ctx *ctx, knn_dev *dv, const prep *pq, const prep *pg, uint64_t r0, int R,
		      uint64_t c0, int C, float *out, int64_t ldo, float *scratch)
{
	if (o->metric.kind == KNN_AVSL) {
		const float *x[AVSL_MAX_LEVELS], *u[AVSL_MAX_LEVELS], *y[AVSL_MAX_LEVELS], *v[AVSL_MAX_LEVELS];
		int L = o->metric.avsl->levels, D = o->metric.avsl->dim;
		for (int l = 0; l < L; l++) {
			x[l] = pq->lv[l] + r0 * D;
			u[l] = pq->cert[l] + r0 * D;
			y[l] = pg->lv[l] + c0 * D;
			v[l] = pg->cert[l] + c0 * D;
		}
		if (dv) {
			knn_dev_tile(dv, R, x, u, C, y, v, out, ldo);
			return;
		}
		/* not inside a parallel region: the kernel runs ctx's threads itself */
		OP_DO(ctx, op_avsl_dist_tile(ctx, o->metric.avsl, R, x, u, C, y, v, out, ldo));
		return;
	}
	int D = pq->D;
	dot_tile(R, pq->x + r0 * D, D, C, pg->x + c0 * D, D, D, out, ldo, scratch);
	const float *sr = pq->sq + r0, *sc = pg->sq + c0;
	knn_metric_kind kind = o->metric.kind;
	for (int r = 0; r < R; r++) {
		float *row = out + r * ldo;
		if (kind == KNN_COSINE) {
			for (int c = 0; c < C; c++)
				row[c] = 1.0f - row[c];
			continue;
		}
		for (int c = 0; c < C; c++) {
			/* |x|^2 + |y|^2 - 2 x.y, written as one fma so every path rounds it the same way. */
			float v = fmaf(-2.0f, row[c], sr[r] + sc[c]);
			v = v > 0.0f ? v : 0.0f; /* cancellation can leave tiny negatives for near-duplicates */
			row[c] = v;
		}
	}
}

/* Offer row[0..C) (gallery indices base + c) to t, except index skip and anything above gb. Most candidates fail
 * the bound test, so it is done 8 at a time and only the lanes that pass reach the heap. NaN never passes. */
static void offer_row(topk *t, const float *row, int C, int64_t base, int64_t skip, float gb)
{
	float lb = topk_bound(t), b = lb < gb ? lb : gb;
	int c = 0;
#ifdef __AVX2__
	for (; c + 8 <= C; c += 8) {
		unsigned m = (unsigned)_mm256_movemask_ps(
			_mm256_cmp_ps(_mm256_loadu_ps(row + c), _mm256_set1_ps(b), _CMP_LE_OQ));
		while (m) {
			int j = c + __builtin_ctz(m);
			m &= m - 1;
			if (!(row[j] <= b) || base + j == skip)
				continue;
			topk_push(t, row[j], (int32_t)(base + j));
			lb = topk_bound(t);
			b = lb < gb ? lb : gb;
		}
	}
#endif
	for (; c < C; c++) {
		if (!(row[c] <= b) || base + c == skip)
			continue;
		topk_push(t, row[c], (int32_t)(base + c));
		lb = topk_bound(t);
		b = lb < gb ? lb : gb;
	}
}

/* The column side of a symmetric tile: entry (r, c) goes to the heap of gallery row c as neighbour base_r + r.
 * cb: (C) scratch for the heaps' bounds. */
static void offer_columns(topk *heaps, const float *tl, int R, int C, int64_t base_r, float *cb)
{
	for (int c = 0; c < C; c++)
		cb[c] = topk_bound(&heaps[c]);
	for (int r = 0; r < R; r++) {
		const float *row = tl + (size_t)r * C;
		int c = 0;
#ifdef __AVX2__
		for (; c + 8 <= C; c += 8) {
			unsigned m = (unsigned)_mm256_movemask_ps(
				_mm256_cmp_ps(_mm256_loadu_ps(row + c), _mm256_loadu_ps(cb + c), _CMP_LE_OQ));
			while (m) {
				int j = c + __builtin_ctz(m);
				m &= m - 1;
				topk_push(&heaps[j], row[j], (int32_t)(base_r + r));
				cb[j] = topk_bound(&heaps[j]);
			}
		}
#endif
		for (; c < C; c++)
			if (row[c] <= cb[c]) {
				topk_push(&heaps[c], row[c], (int32_t)(base_r + r));
				cb[c] = topk_bound(&heaps[c]);
			}
	}
}

static int cmp_i32(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
	return (x > y) - (x < y);
}

static int32_t *sorted_labels(const ave_set *gallery)
{
	uint64_t ng = gallery->n;
	int32_t *sorted = xmalloc_array(ng ? ng : 1, sizeof *sorted);
	memcpy(sorted, gallery->label, ng * sizeof *sorted);
	qsort(sorted, ng, sizeof *sorted, cmp_i32);
	return sorted;
}

/* n_rel from the gallery's sorted labels (two binary searches per query). */
static void count_relevant(const int32_t *sorted, uint64_t ng, const ave_set *query, int same, uint32_t *n_rel)
{
	for (uint64_t i = 0; i < query->n; i++) {
		int32_t v = query->label[i];
		uint64_t lo = 0, hi = ng;
		while (lo < hi) { /* first >= v */
			uint64_t m = (lo + hi) / 2;
			if (sorted[m] < v)
				lo = m + 1;
			else
				hi = m;
		}
		uint64_t a = lo;
		hi = ng;
		while (lo < hi) { /* first > v */
			uint64_t m = (lo + hi) / 2;
			if (sorted[m] <= v)
				lo = m + 1;
			else
				hi = m;
		}
		uint64_t cnt = lo - a;
		if (same && cnt > 0)
			cnt--;
		n_rel[i] = cnt > UINT32_MAX ? UINT32_MAX : (uint32_t)cnt;
	}
}

void knn_relevant_counts(const ave_set *query, const ave_set *gallery, uint32_t *n_rel)
{
	int32_t *sorted = sorted_labels(gallery);
	count_relevant(sorted, gallery->n, query, query == gallery, n_rel);
	free(sorted);
}

knn_prepared *knn_prepare(const knn_opts *o)
{
	knn_prepared *p = xcalloc(1, sizeof *p);
	knn_opts s = *o;
	if (o->rerank) {
		s.metric = o->shortlist;
		s.metric.avsl = o->metric.avsl;
	}
	p->gallery = o->gallery;
	op_ctx own, *ctx = s.metric.kind == KNN_AVSL || o->rerank ? knn_ctx_open(o, &own) : NULL;
	prep_build(&s, ctx, o->gallery, &p->p);
	p->sorted = sorted_labels(o->gallery);
	if (o->rerank) /* the second stage reads p-normalised rows (and the raw certainties) */
		rerank_gallery_rows(o, ctx, p->rows);
	if (ctx)
		knn_ctx_close(ctx, &own);
	return p;
}

void knn_prepared_free(knn_prepared *p)
{
	if (!p)
		return;
	prep_free(&p->p);
	free(p->sorted);
	for (int l = 0; l < AVSL_MAX_LEVELS; l++)
		free(p->rows[l]);
	free(p);
}

uint32_t knn_default_k(const ave_set *query, const ave_set *gallery)
{
	uint32_t *rel = xmalloc_array(query->n ? query->n : 1, sizeof *rel), m = 0;
	knn_relevant_counts(query, gallery, rel);
	for (uint64_t i = 0; i < query->n; i++)
		if (rel[i] > m)
			m = rel[i];
	free(rel);
	uint32_t k = m > 100 ? m : 100;
	return k > 1023 ? 1023 : k;
}

int knn_run(const knn_opts *o, knn_emit_fn emit, void *ctx, char *err, size_t errlen)
{
	if (knn_check(o, err, errlen) != 0)
		return -1;
	if (o->rerank)
		return knn_rerank_run(o, emit, ctx, err, errlen);
	const ave_set *qs = o->query, *gs = o->gallery;
	int same = qs == gs;
	uint64_t ng = gs->n, q0 = o->q_begin, q1 = o->q_end;
	uint64_t avail = ng - (same && ng > 0 ? 1 : 0);
	uint32_t k = o->k < avail ? o->k : (uint32_t)avail;
	int T = o->tile, nt = o->threads > 0 ? o->threads : 1;
	/* The shortlist of a re-rank keeps its C candidates per row only until the row block is emitted. */
	int sym = same && q0 == 0 && q1 == qs->n && o->metric.kind != KNN_AVSL && !o->emit_index;
	int par = o->metric.kind != KNN_AVSL; /* the AVSL kernel parallelises inside a tile itself */
	/* Gallery columns per tile: the row tile in symmetric mode (blocks must line up), else at least 512 so that a
	 * small row tile (--tile 1, one query at a time from a stream) still meets the gallery in large tiles. The AVSL
	 * kernel parallelises inside one call and each call costs a few parallel regions (slow on a busy machine): a
	 * small row tile gets about 256K pairs per call, e.g. a whole 5,000-item gallery for one query. */
	int CT = sym || T >= 512 ? T : 512;
	if (!sym && !par && T < 512)
		CT = (int)(ng < (uint64_t)(262144 / T) ? (ng > 512 ? ng : 512) : (uint64_t)(262144 / T));

	op_ctx own, *octx = par ? NULL : knn_ctx_open(o, &own); /* the AVSL metric's ops */
	knn_dev dv = {0}, *dvp = NULL;
	if (octx && devmem_is_device(octx)) { /* the columns of a device tile: as many as the budget holds */
		int rows = q1 - q0 < (uint64_t)T ? (int)(q1 - q0) : T;
		CT = knn_dev_cols(knn_tile_budget(o), rows, ng);
		knn_dev_open(&dv, octx, o->metric.avsl, rows > 0 ? rows : 1, CT);
		dvp = &dv;
	}
	prep pq, pg_own, *pg = &pq;
	prep_build(o, octx, qs, &pq);
	if (o->prepared) {
		pg = (prep *)&o->prepared->p;
	} else if (!same) {
		prep_build(o, octx, gs, &pg_own);
		pg = &pg_own;
	}
	uint32_t *n_rel = xmalloc_array(qs->n ? qs->n : 1, sizeof *n_rel);
	if (o->prepared)
		count_relevant(o->prepared->sorted, gs->n, qs, 0, n_rel);
	else
		knn_relevant_counts(qs, gs, n_rel);

	/* Result heaps: all rows in symmetric mode (the column side feeds later blocks), else one block. */
	uint64_t nheap = sym ? qs->n : (uint64_t)T;
	size_t kk = k ? k : 1;
	uint64_t *hk = xmalloc_array(nheap * kk, sizeof *hk);
	topk *heap = xmalloc_array(nheap ? nheap : 1, sizeof *heap);
	if (sym)
		for (uint64_t i = 0; i < nheap; i++)
			topk_init(&heap[i], k, hk + i * kk);
	/* Per-thread row heaps for the current block. */
	uint64_t *lk = xmalloc_array((size_t)nt * T * kk, sizeof *lk);
	topk *loc = xmalloc_array((size_t)nt * T, sizeof *loc);
	worker *w = xcalloc((size_t)nt, sizeof *w);
	for (int t = 0; t < nt; t++) {
		w[t].tile = alloc_aligned((size_t)T * CT, sizeof(float));
		w[t].scratch = alloc_aligned(dot_tile_scratch(T, CT, pq.D ? pq.D : 1), sizeof(float));
		w[t].cb = alloc_aligned((size_t)T, sizeof(float));
	}
	avg_neighbour *nb = xmalloc_array(kk, sizeof *nb);
	int32_t *nbi = xmalloc_array(kk, sizeof *nbi);
	float *nbd = xmalloc_array(kk, sizeof *nbd);

	progress pr = {0};
	progress_start(&pr, o->label ? o->label : "graph", "queries", q1 - q0, o->quiet);
	for (uint64_t r0 = q0; r0 < q1; r0 += (uint64_t)T) {
		int R = q1 - r0 < (uint64_t)T ? (int)(q1 - r0) : T;
		uint64_t cstart = sym ? r0 : 0;
		long ncb = ng > cstart ? (long)((ng - cstart + CT - 1) / CT) : 0;
		for (size_t i = 0; i < (size_t)nt * T; i++)
			topk_init(&loc[i], k, lk + i * kk);
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt) if (par)
		for (long jb = 0; jb < ncb; jb++) {
			int tid = omp_get_thread_num();
			uint64_t c0 = cstart + (uint64_t)jb * CT;
			int C = ng - c0 < (uint64_t)CT ? (int)(ng - c0) : CT;
			float *tl = w[tid].tile;
			tile_dist(o, octx, dvp, &pq, pg, r0, R, c0, C, tl, C, w[tid].scratch);
			topk *mine = loc + (size_t)tid * T;
			for (int r = 0; r < R; r++) {
				const float *row = tl + (size_t)r * C;
				topk *t = &mine[r];
				/* In symmetric mode the row's result heap already holds the earlier blocks' candidates (and
				 * nobody writes it during this block): nothing beyond its bound can make the final cut. */
				const topk *res = sym ? &heap[r0 + r] : NULL;
				float gb = res ? topk_bound(res) : __builtin_inff();
				/* the query's own index is excluded when the gallery is the query set */
				offer_row(t, row, C, (int64_t)c0, same ? (int64_t)(r0 + r) : -1, gb);
			}
			if (sym && c0 != r0) /* column side: rows of block J, owned by this thread for this block */
				offer_columns(&heap[c0], tl, R, C, (int64_t)r0, w[tid].cb);
		}
		for (int r = 0; r < R; r++) {
			uint64_t qi = r0 + r;
			topk *res = sym ? &heap[qi] : &heap[r];
			if (!sym)
				topk_init(res, k, hk + r * kk);
			for (int t = 0; t < nt; t++)
				topk_merge(res, &loc[(size_t)t * T + r]);
			topk_sort(res);
			if (o->emit_index) {
				for (uint32_t j = 0; j < res->n; j++) {
					nbi[j] = topk_key_index(res->key[j]);
					nbd[j] = topk_key_dist(res->key[j]);
				}
				o->emit_index(ctx, qi, n_rel[qi], nbi, nbd, res->n);
				continue;
			}
			for (uint32_t j = 0; j < res->n; j++) {
				int32_t g = topk_key_index(res->key[j]);
				nb[j].id = gs->id[g];
				nb[j].label = gs->label[g];
				nb[j].dist = topk_key_dist(res->key[j]);
			}
			avg_query q = {.id = qs->id[qi], .label = qs->label[qi], .n_relevant = n_rel[qi], .count = res->n};
			emit(ctx, qi, &q, nb);
		}
		if (o->block_done)
			o->block_done(ctx);
		progress_add(&pr, (uint64_t)R);
	}
	progress_end(&pr);

	for (int t = 0; t < nt; t++) {
		free(w[t].tile);
		free(w[t].scratch);
		free(w[t].cb);
	}
	free(w);
	free(nb);
	free(nbi);
	free(nbd);
	free(loc);
	free(lk);
	free(heap);
	free(hk);
	free(n_rel);
	prep_free(&pq);
	if (!same && !o->prepared)
		prep_free(&pg_own);
	knn_dev_close(&dv);
	if (octx)
		knn_ctx_close(octx, &own);
	return 0;
}

int knn_dense_npy(const knn_opts *o, FILE *fp, char *err, size_t errlen)
{
	if (knn_check(o, err, errlen) != 0)
		return -1;
	const ave_set *qs = o->query, *gs = o->gallery;
	uint64_t ng = gs->n, q0 = o->q_begin, q1 = o->q_end;
	int T = o->tile, nt = o->threads > 0 ? o->threads : 1, par = o->metric.kind != KNN_AVSL;
	op_ctx own, *octx = par ? NULL : knn_ctx_open(o, &own); /* the AVSL metric's ops */
	knn_dev dv = {0}, *dvp = NULL;
	if (octx && devmem_is_device(octx)) { /* tiles of T x T, as on the host */
		knn_dev_open(&dv, octx, o->metric.avsl, T, T);
		dvp = &dv;
	}
	prep pq, pg_own, *pg = &pq;
	prep_build(o, octx, qs, &pq);
	if (qs != gs) {
		prep_build(o, octx, gs, &pg_own);
		pg = &pg_own;
	}
	int64_t shape[2] = {(int64_t)(q1 - q0), (int64_t)ng};
	fmt_error ferr;
	int bad = npy_write_header(fp, "dense", NPY_F32, 2, shape, &ferr) != 0;
	float *blk = alloc_aligned((size_t)T * (ng ? ng : 1), sizeof(float));
	float **scr = xcalloc((size_t)nt, sizeof *scr);
	for (int t = 0; t < nt; t++)
		scr[t] = alloc_aligned(dot_tile_scratch(T, T, pq.D ? pq.D : 1), sizeof(float));
	for (uint64_t r0 = q0; r0 < q1 && !bad; r0 += (uint64_t)T) {
		int R = q1 - r0 < (uint64_t)T ? (int)(q1 - r0) : T;
		long ncb = (long)((ng + T - 1) / T);
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt) if (par)
		for (long jb = 0; jb < ncb; jb++) {
			uint64_t c0 = (uint64_t)jb * T;
			int C = ng - c0 < (uint64_t)T ? (int)(ng - c0) : T;
			tile_dist(o, octx, dvp, &pq, pg, r0, R, c0, C, blk + c0, (int64_t)ng, scr[omp_get_thread_num()]);
		}
		bad = npy_write_data(fp, "dense", NPY_F32, blk, (uint64_t)R * ng, &ferr) != 0;
	}
	for (int t = 0; t < nt; t++)
		free(scr[t]);
	free(scr);
	free(blk);
	prep_free(&pq);
	if (qs != gs)
		prep_free(&pg_own);
	knn_dev_close(&dv);
	if (octx)
		knn_ctx_close(octx, &own);
	if (bad)
		return fail(err, errlen, "write failed");
	return 0;
}

int knn_shard_parse(const char *s, uint64_t *i, uint64_t *n, const char **why)
{
	const char *slash = strchr(s, '/');
	long a, b;
	if (!slash) {
		*why = "expected i/n, e.g. 0/4";
		return -1;
	}
	char head[32];
	size_t len = (size_t)(slash - s);
	if (len == 0 || len >= sizeof head) {
		*why = "expected i/n, e.g. 0/4";
		return -1;
	}
	memcpy(head, s, len);
	head[len] = 0;
	if (parse_long(slash + 1, 1, 1L << 20, &b, why) != 0 || parse_long(head, 0, b - 1, &a, why) != 0)
		return -1;
	*i = (uint64_t)a;
	*n = (uint64_t)b;
	return 0;
}

void knn_shard_range(uint64_t N, uint64_t i, uint64_t n, uint64_t *begin, uint64_t *end)
{
	*begin = N * i / n;
	*end = N * (i + 1) / n;
}
