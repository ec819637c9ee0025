/* knn.c: see knn.h.
 *
 * Plan: the query range is cut into row blocks of `tile` rows and the gallery into column blocks. For each row
 * block, every column block gives one distance tile (op_dot_tile for the plain metrics, op_avsl_dist_tile for avsl)
 * that op_topk_merge offers to the block's running lists; when the last column block is merged the lists are
 * fetched and emitted in query order. Every computation is an op of the context (knn_opts.ctx, the device's), which
 * runs the context's threads inside each tile; the sets, tiles and lists live in the backend's memory. Because the
 * top-k under the (distance, index) order is unique, the order of the merges does not matter.
 *
 * When the gallery is the query set and the whole set is wanted (no shard) with a symmetric plain metric, only the
 * tiles on and above the diagonal are computed: a tile (I, J > I) is also merged, transposed, into the lists of the
 * rows of block J (the column side), which stay alive until block J is emitted. That halves the work; memory
 * becomes O(N * k). On the CPU the distances are the same numbers either way (op_dot_tile is symmetric bit for
 * bit), so the graph is identical.
 */
#define _GNU_SOURCE
#include "knn.h"
#include "devmem.h"
#include "knn_device.h"
#include "npy.h"
#include "progress.h"
#include "rerank.h"
#include "util.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>


/* Per set: what the tile computation reads, in the backend memory of the context that built it. */
typedef struct {
	op_ctx *ctx;                        /* whose memory (a CPU context: host memory) */
	int D;                              /* dot metrics: vector length */
	float *x;                           /* (n, D) transformed embeddings */
	float *lv[AVSL_MAX_LEVELS];         /* avsl: (n, dim) p-normalised embeddings per level */
	const float *cert[AVSL_MAX_LEVELS]; /* avsl: (n, dim) certainties (the set's own on the CPU) */
	float *cert_own[AVSL_MAX_LEVELS];   /* avsl: the backend copies of the certainties (NULL on the CPU) */
} prep;

/* A gallery prepared once (knn_prepare): its tile inputs and its labels sorted (for n_relevant). */
struct knn_prepared {
	const ave_set *gallery;
	prep p;            /* the scanned metric's vectors: o->metric, or o->shortlist when re-ranking */
	int32_t *sorted;   /* (gallery n) labels, ascending */
	float *rows[AVSL_MAX_LEVELS]; /* re-rank: (gallery n, D) p-normalised rows per level (rerank_gallery_rows) */
	float *certs[AVSL_MAX_LEVELS]; /* re-rank on a device: (gallery n, D) certainties (device), else NULL */
};

const float *const *knn_prepared_rows(const knn_prepared *p)
{
	return p && p->rows[0] ? (const float *const *)p->rows : NULL;
}

const float *const *knn_prepared_certs(const knn_prepared *p)
{
	return p && p->certs[0] ? (const float *const *)p->certs : NULL;
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
	if (o->ctx && devmem_is_device(o->ctx)) { /* a row's running list lives in the top-k kernel's shared memory */
		if (o->k > OP_TOPK_MAX_K)
			return fail(err, errlen, "k %u: at most %d neighbours per query on a CUDA device", o->k,
				    OP_TOPK_MAX_K);
		if (o->rerank > OP_TOPK_MAX_K)
			return fail(err, errlen, "--rerank %u: at most %d candidates per query on a CUDA device",
				    o->rerank, OP_TOPK_MAX_K);
	}
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

/* Backend memory of ctx holding bytes of host data h (queued; h must stay until the next download or sync). */
static void *backend_copy(op_ctx *ctx, const void *h, size_t bytes)
{
	void *d;
	OP_DO(ctx, op_alloc(ctx, &d, bytes ? bytes : 1));
	if (bytes)
		OP_DO(ctx, op_upload(ctx, d, h, bytes));
	return d;
}

/* The host array h (from alloc_aligned) as backend memory of ctx: h itself on the CPU, else a copy (h freed). */
static float *backend_adopt(op_ctx *ctx, float *h, size_t bytes)
{
	if (ctx->device == OP_DEVICE_CPU)
		return h;
	float *d = backend_copy(ctx, h, bytes);
	OP_DO(ctx, op_ctx_sync(ctx));
	free(h);
	return d;
}

/* The set's vectors as the metric reads them, in ctx's memory. */
static void prep_build(const knn_opts *o, op_ctx *ctx, const ave_set *s, prep *p)
{
	memset(p, 0, sizeof *p);
	p->ctx = ctx;
	const ave_header *h = &s->h;
	if (o->metric.kind == KNN_AVSL) {
		for (uint32_t l = 0; l < h->levels; l++) {
			size_t bytes = s->n * h->dim[l] * sizeof(float);
			p->lv[l] = backend_copy(ctx, s->emb[l], bytes);
			OP_DO(ctx, op_avsl_normalize_rows(ctx, p->lv[l], (int64_t)s->n, (int)h->dim[l],
			      o->metric.avsl->p));
			if (ctx->device == OP_DEVICE_CPU)
				p->cert[l] = s->cert[l];
			else
				p->cert[l] = p->cert_own[l] = backend_copy(ctx, s->cert[l], bytes);
		}
		OP_DO(ctx, op_ctx_sync(ctx));
		return;
	}
	uint32_t l0 = 0, l1 = h->levels;
	if (o->metric.kind == KNN_LEVEL)
		l0 = (uint32_t)o->metric.level, l1 = l0 + 1;
	int D = 0;
	for (uint32_t l = l0; l < l1; l++)
		D += (int)h->dim[l];
	p->D = D;
	float *x = alloc_aligned(s->n ? s->n : 1, (size_t)(D ? D : 1) * sizeof(float));
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
		float *row = x + i * D;
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
	}
	free(sw);
	p->x = backend_adopt(ctx, x, s->n * (size_t)D * sizeof(float));
}

/* Release p's memory (ctx NULL: host memory of a CPU context no longer open). */
static void release(op_ctx *ctx, void *m)
{
	if (ctx)
		op_free(ctx, m);
	else
		free(m);
}

static void prep_free(prep *p)
{
	release(p->ctx, p->x);
	for (int l = 0; l < AVSL_MAX_LEVELS; l++) {
		release(p->ctx, p->lv[l]);
		release(p->ctx, p->cert_own[l]);
	}
	memset(p, 0, sizeof *p);
}

/* Distances of queries [r0, r0+R) (of pq) against gallery [c0, c0+C) (of pg) into out (R, C), leading dim ldo
 * (backend memory of ctx). cv: the AVSL metric's collector in ctx's memory (on a device: knn_dev's upload). */
static void tile_dist(const knn_opts *o, op_ctx *ctx, const avsl_collector_view *cv, const prep *pq, const prep *pg,
		      uint64_t r0, int R, uint64_t c0, int C, float *out, int64_t ldo)
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
		OP_DO(ctx, op_avsl_dist_tile(ctx, cv, R, x, u, C, y, v, out, ldo));
		return;
	}
	/* squared Euclidean (l2, levels, level:N, avsl-linear: on transformed vectors) or 1 - cosine */
	int D = pq->D, mode = o->metric.kind == KNN_COSINE ? OP_TILE_COSINE : OP_TILE_L2;
	OP_DO(ctx, op_dot_tile(ctx, R, pq->x + r0 * D, D, C, pg->x + c0 * D, D, D, mode, out, ldo));
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
	/* o->ctx: the device's, which outlives p; a CPU context of our own is closed here, its memory (host) stays
	 * valid and is freed through the CPU context of the run that frees p */
	op_ctx own, *ctx = knn_ctx_open(o, &own);
	prep_build(&s, ctx, o->gallery, &p->p);
	if (ctx == &own)
		p->p.ctx = NULL;
	p->sorted = sorted_labels(o->gallery);
	if (o->rerank) /* the second stage reads p-normalised rows (and the raw certainties) */
		rerank_gallery_rows(o, ctx, p->rows, p->certs);
	knn_ctx_close(ctx, &own);
	return p;
}

void knn_prepared_free(knn_prepared *p)
{
	if (!p)
		return;
	for (int l = 0; l < AVSL_MAX_LEVELS; l++) {
		if (p->certs[l]) { /* device copies, of the run's context p->p.ctx */
			devmem_free(p->p.ctx, p->rows[l]);
			devmem_free(p->p.ctx, p->certs[l]);
		} else {
			free(p->rows[l]);
		}
	}
	prep_free(&p->p);
	free(p->sorted);
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

/* One device's share of a run (several with a GPU list, knn_opts.more_ctx): its tile inputs, tile and lists. */
typedef struct {
	op_ctx *ctx;
	knn_dev dv;                     /* the AVSL metric on a device: its collector and tile */
	const avsl_collector_view *cv;  /* the collector in ctx's memory */
	prep pq, pg_own;
	const prep *pg;                 /* the gallery's: pg_own, pq (gallery = queries) or the prepared one */
	float *dist, *tile;             /* (nlist, kk) running lists: distances; (rows, CT) one distance tile */
	int32_t *idx;                   /* (nlist, kk) and gallery indices */
	float *hd;                      /* (T, kk) host copy of a finished block's lists */
	int32_t *hi;
	uint64_t r0;                    /* the block of this round: rows [r0, r0 + R); R = 0: none */
	int R;
} knn_part;

/* What every part of a run shares. */
typedef struct {
	const knn_opts *o;
	int same, sym, T, CT, kk, rows;
	uint64_t nlist;                 /* rows of the lists: all queries in symmetric mode, else T */
} knn_plan;

static void part_open(const knn_plan *pl, knn_part *p, op_ctx *ctx)
{
	const knn_opts *o = pl->o;
	memset(p, 0, sizeof *p);
	p->ctx = ctx;
	p->cv = o->metric.avsl;
	if (o->metric.kind == KNN_AVSL && devmem_is_device(ctx)) {
		knn_dev_open(&p->dv, ctx, o->metric.avsl, pl->rows, pl->CT);
		p->cv = &p->dv.view;
	}
	prep_build(o, ctx, o->query, &p->pq);
	p->pg = &p->pq;
	if (o->prepared) {
		p->pg = &o->prepared->p;
	} else if (!pl->same) {
		prep_build(o, ctx, o->gallery, &p->pg_own);
		p->pg = &p->pg_own;
	}
	size_t n = (pl->nlist ? pl->nlist : 1) * (size_t)pl->kk;
	p->hd = xmalloc_array((size_t)pl->T * pl->kk, sizeof *p->hd);
	p->hi = xmalloc_array((size_t)pl->T * pl->kk, sizeof *p->hi);
	OP_DO(ctx, op_alloc(ctx, (void **)&p->dist, n * sizeof *p->dist));
	OP_DO(ctx, op_alloc(ctx, (void **)&p->idx, n * sizeof *p->idx));
	if (p->dv.tile)
		p->tile = p->dv.tile;
	else
		OP_DO(ctx, op_alloc(ctx, (void **)&p->tile, (size_t)pl->rows * pl->CT * sizeof *p->tile));
	if (pl->sym)
		OP_DO(ctx, op_topk_init(ctx, (int)pl->nlist, pl->kk, p->dist, p->idx));
}

static void part_close(const knn_plan *pl, knn_part *p)
{
	if (p->tile != p->dv.tile)
		op_free(p->ctx, p->tile);
	knn_dev_close(&p->dv);
	op_free(p->ctx, p->dist);
	op_free(p->ctx, p->idx);
	free(p->hd);
	free(p->hi);
	prep_free(&p->pq);
	if (!pl->same && !pl->o->prepared)
		prep_free(&p->pg_own);
}

/* The lists of rows [p->r0, p->r0 + p->R): every column block's tile merged, then fetched into p->hd/hi. */
static void part_block(const knn_plan *pl, knn_part *p)
{
	const knn_opts *o = pl->o;
	op_ctx *ctx = p->ctx;
	const uint64_t r0 = p->r0, ng = o->gallery->n;
	const int R = p->R, kk = pl->kk, CT = pl->CT;
	float *bd = p->dist + (pl->sym ? r0 : 0) * kk;
	int32_t *bi = p->idx + (pl->sym ? r0 : 0) * kk;
	if (!pl->sym)
		OP_DO(ctx, op_topk_init(ctx, R, kk, bd, bi));
	for (uint64_t c0 = pl->sym ? r0 : 0; c0 < ng; c0 += (uint64_t)CT) {
		int C = ng - c0 < (uint64_t)CT ? (int)(ng - c0) : CT;
		tile_dist(o, ctx, p->cv, &p->pq, p->pg, r0, R, c0, C, p->tile, C);
		/* the query's own index is excluded when the gallery is the query set */
		OP_DO(ctx, op_topk_merge(ctx, p->tile, R, C, C, 1, (int64_t)c0, NULL, pl->same ? (int64_t)r0 : -1, bd,
					 bi, kk));
		if (pl->sym && c0 != r0) /* column side: the rows of block J take the tile transposed */
			OP_DO(ctx, op_topk_merge(ctx, p->tile, C, R, 1, C, (int64_t)r0, NULL, -1, p->dist + c0 * kk,
						 p->idx + c0 * kk, kk));
	}
	OP_DO(ctx, op_download(ctx, p->hd, bd, (size_t)R * kk * sizeof *p->hd));
	OP_DO(ctx, op_download(ctx, p->hi, bi, (size_t)R * kk * sizeof *p->hi));
}

/* Emit the finished block of p, in query order. */
static void part_emit(const knn_plan *pl, const knn_part *p, uint32_t k, const uint32_t *n_rel, avg_neighbour *nb,
		      knn_emit_fn emit, void *ctx)
{
	const knn_opts *o = pl->o;
	const ave_set *qs = o->query, *gs = o->gallery;
	for (int r = 0; r < p->R; r++) {
		uint64_t qi = p->r0 + r;
		const float *ld = p->hd + (size_t)r * pl->kk;
		const int32_t *li = p->hi + (size_t)r * pl->kk;
		uint32_t n = 0; /* filled slots come first; a row misses some only when distances were NaN */
		while (n < k && li[n] >= 0)
			n++;
		if (o->emit_index) {
			o->emit_index(ctx, qi, n_rel[qi], li, ld, n);
			continue;
		}
		for (uint32_t j = 0; j < n; j++) {
			nb[j].id = gs->id[li[j]];
			nb[j].label = gs->label[li[j]];
			nb[j].dist = ld[j];
		}
		avg_query q = {.id = qs->id[qi], .label = qs->label[qi], .n_relevant = n_rel[qi], .count = n};
		emit(ctx, qi, &q, nb);
	}
}

/* A further GPU of a list: its own host thread, bound to its device, computing the blocks main hands it round by
 * round (end, once: its part is open; then per round start: the round's blocks are assigned; end: computed). */
typedef struct {
	const knn_plan *pl;
	knn_part *part;
	op_ctx *ctx;
	pthread_barrier_t *start, *end;
	const int *stop;
} knn_worker;

static void *worker_main(void *arg)
{
	knn_worker *w = arg;
	OP_DO(w->ctx, op_ctx_bind(w->ctx));
	part_open(w->pl, w->part, w->ctx);
	pthread_barrier_wait(w->end); /* ready: main assigns the first round only now */
	for (;;) {
		pthread_barrier_wait(w->start);
		if (*w->stop)
			break;
		if (w->part->R)
			part_block(w->pl, w->part);
		pthread_barrier_wait(w->end);
	}
	part_close(w->pl, w->part);
	return NULL;
}

/* Device bytes of a set's prepared vectors (prep_build): per level the p-normalised rows and the certainties for the
 * AVSL metric, else the transformed rows of the levels the metric reads. */
static double prep_bytes(const knn_opts *o, const ave_set *s)
{
	const ave_header *h = &s->h;
	if (o->metric.kind == KNN_LEVEL)
		return (double)s->n * h->dim[o->metric.level] * sizeof(float);
	double d = 0;
	for (uint32_t l = 0; l < h->levels; l++)
		d += h->dim[l];
	return (double)s->n * d * sizeof(float) * (o->metric.kind == KNN_AVSL ? 2 : 1);
}

/* Check, before any allocation, that one part of the run fits on each device of ctxs (n of them; the calling
 * thread's current device is ctxs[0]'s again afterwards): the prepared sets, the tile, the lists, the collector and
 * the kernels' scratch, plus a margin for allocation rounding. 0, or -1 with a one-line reason naming the flag to
 * lower. */
static int device_fit(const knn_plan *pl, op_ctx *const *ctxs, int n, char *err, size_t errlen)
{
	const knn_opts *o = pl->o;
	const double MiB = 1 << 20;
	double sets = prep_bytes(o, o->query) + (!pl->same && !o->prepared ? prep_bytes(o, o->gallery) : 0);
	double tile = (double)pl->rows * pl->CT * sizeof(float), lists = (double)pl->nlist * pl->kk * 8, scratch;
	if (o->metric.kind == KNN_AVSL) { /* the collector, and the CUDA kernel's chunk buffers (<= 256 MiB) */
		const avsl_collector_view *c = o->metric.avsl;
		double D = c->dim, pairs = (double)pl->rows * pl->CT;
		sets += ((c->levels - 1) * D * D + 2 * c->levels * D) * sizeof(float);
		scratch = fmin(256 * MiB, pairs * 2 * D * sizeof(float));
	} else { /* the row norms of op_dot_tile */
		scratch = (double)(pl->rows + pl->CT) * sizeof(float);
	}
	double need = sets + tile + lists + scratch + 16 * MiB;
	for (int i = 0; i < n; i++) {
		size_t avail, total;
		if (op_mem_info(ctxs[i], &avail, &total) != 0)
			return fail(err, errlen, "cuda:%d: %s", ctxs[i]->index, ctxs[i]->err);
		if (total && need > (double)avail) {
			fail(err, errlen,
			     "cuda:%d: the graph needs about %.1f MiB of device memory (embeddings %.1f, distance tile %.1f, "
			     "top-k lists %.1f, kernel scratch %.1f MiB) and %.1f MiB are free: lower --tile-budget (now "
			     "%.1f MiB) or --tile (%d)", ctxs[i]->index, need / MiB, sets / MiB, tile / MiB, lists / MiB,
			     scratch / MiB, (double)avail / MiB, (double)knn_tile_budget(o) / MiB, pl->T);
			op_ctx_bind(ctxs[0]);
			return -1;
		}
	}
	return op_ctx_bind(ctxs[0]) ? fail(err, errlen, "cuda:%d: %s", ctxs[0]->index, ctxs[0]->err) : 0;
}

int knn_run(const knn_opts *o, knn_emit_fn emit, void *ctx, char *err, size_t errlen)
{
	if (knn_check(o, err, errlen) != 0)
		return -1;
	if (o->rerank)
		return knn_rerank_run(o, emit, ctx, err, errlen);
	const ave_set *qs = o->query, *gs = o->gallery;
	knn_plan pl = {.o = o, .same = qs == gs, .T = o->tile};
	uint64_t ng = gs->n, q0 = o->q_begin, q1 = o->q_end;
	uint64_t avail = ng - (pl.same && ng > 0 ? 1 : 0);
	uint32_t k = o->k < avail ? o->k : (uint32_t)avail;
	int T = o->tile;
	op_ctx own, *octx = knn_ctx_open(o, &own);
	int dev = devmem_is_device(octx);
	/* A GPU list splits the row blocks over its devices, round robin (not a prepared gallery's stream: that is
	 * prepared on the first GPU only). */
	int nparts = dev && !o->prepared ? 1 + o->n_more : 1;
	/* The shortlist of a re-rank keeps its C candidates per row only until the row block is emitted. Not on a
	 * device: there every row block computes its whole row, so a run split over several devices (each block on
	 * one) gives the same bits as one device (cuBLAS does not promise a tile and its transpose equal). */
	pl.sym = pl.same && q0 == 0 && q1 == qs->n && o->metric.kind != KNN_AVSL && !o->emit_index && !dev;
	/* Gallery columns per tile: the row tile in symmetric mode (blocks must line up), else at least 512 pairs
	 * wide; a small row tile (--tile 1, one query at a time from a stream) gets about 256K pairs per tile, e.g. a
	 * whole 5,000-item gallery for one query, since each op runs the context's threads and costs a few parallel
	 * regions (slow on a busy machine). On a device: as many as the device tile budget holds (knn_device.h), for
	 * every metric. */
	pl.CT = pl.sym || T >= 512 ? T : 512;
	if (!pl.sym && T < 512)
		pl.CT = (int)(ng < (uint64_t)(262144 / T) ? (ng > 512 ? ng : 512) : (uint64_t)(262144 / T));
	pl.rows = q1 - q0 < (uint64_t)T ? (int)(q1 - q0) : T;
	if (pl.rows < 1)
		pl.rows = 1;
	if (dev)
		pl.CT = knn_dev_cols(knn_tile_budget(o), pl.rows, ng ? ng : 1);
	pl.kk = k ? (int)k : 1; /* k = 0 (a one-item set against itself): one slot that stays empty */
	pl.nlist = pl.sym ? qs->n : (uint64_t)T;
	if (dev) {
		op_ctx **ctxs = xcalloc((size_t)nparts, sizeof *ctxs);
		for (int i = 0; i < nparts; i++)
			ctxs[i] = i ? &o->more_ctx[i - 1] : octx;
		int rc = device_fit(&pl, ctxs, nparts, err, errlen);
		free(ctxs);
		if (rc) {
			knn_ctx_close(octx, &own);
			return -1;
		}
	}

	uint32_t *n_rel = xmalloc_array(qs->n ? qs->n : 1, sizeof *n_rel);
	if (o->prepared)
		count_relevant(o->prepared->sorted, gs->n, qs, 0, n_rel);
	else
		knn_relevant_counts(qs, gs, n_rel);
	avg_neighbour *nb = xmalloc_array((size_t)pl.kk, sizeof *nb);

	knn_part *parts = xcalloc((size_t)nparts, sizeof *parts);
	knn_worker *ws = xcalloc((size_t)nparts, sizeof *ws);
	pthread_t *th = xcalloc((size_t)nparts, sizeof *th);
	pthread_barrier_t start, end;
	int stop = 0;
	part_open(&pl, &parts[0], octx);
	if (nparts > 1) {
		pthread_barrier_init(&start, NULL, (unsigned)nparts);
		pthread_barrier_init(&end, NULL, (unsigned)nparts);
		for (int i = 1; i < nparts; i++) {
			ws[i] = (knn_worker){&pl, &parts[i], &o->more_ctx[i - 1], &start, &end, &stop};
			if (pthread_create(&th[i], NULL, worker_main, &ws[i]))
				die("cannot start a thread for GPU %d", o->more_ctx[i - 1].index);
		}
		pthread_barrier_wait(&end); /* every part opened */
	}

	progress pr = {0};
	progress_start(&pr, o->label ? o->label : "graph", "queries", q1 - q0, o->quiet);
	for (uint64_t r0 = q0; r0 < q1;) {
		for (int i = 0; i < nparts; i++) { /* this round: the next nparts blocks, one per device */
			knn_part *p = &parts[i];
			p->r0 = r0;
			p->R = r0 >= q1 ? 0 : q1 - r0 < (uint64_t)T ? (int)(q1 - r0) : T;
			r0 += (uint64_t)p->R;
		}
		if (nparts > 1)
			pthread_barrier_wait(&start);
		part_block(&pl, &parts[0]);
		if (nparts > 1)
			pthread_barrier_wait(&end);
		for (int i = 0; i < nparts && parts[i].R; i++) {
			part_emit(&pl, &parts[i], k, n_rel, nb, emit, ctx);
			if (o->block_done)
				o->block_done(ctx);
			progress_add(&pr, (uint64_t)parts[i].R);
		}
	}
	progress_end(&pr);

	if (nparts > 1) {
		stop = 1;
		pthread_barrier_wait(&start);
		for (int i = 1; i < nparts; i++)
			pthread_join(th[i], NULL);
		pthread_barrier_destroy(&start);
		pthread_barrier_destroy(&end);
	}
	part_close(&pl, &parts[0]);
	free(parts);
	free(ws);
	free(th);
	free(nb);
	free(n_rel);
	knn_ctx_close(octx, &own);
	return 0;
}

int knn_dense_npy(const knn_opts *o, FILE *fp, char *err, size_t errlen)
{
	if (knn_check(o, err, errlen) != 0)
		return -1;
	const ave_set *qs = o->query, *gs = o->gallery;
	uint64_t ng = gs->n, q0 = o->q_begin, q1 = o->q_end;
	int T = o->tile;
	op_ctx own, *octx = knn_ctx_open(o, &own);
	knn_dev dv = {0}; /* the AVSL metric on a device: its collector uploaded (knn_device.h) */
	const avsl_collector_view *cv = o->metric.avsl;
	if (o->metric.kind == KNN_AVSL && devmem_is_device(octx)) {
		knn_dev_open(&dv, octx, o->metric.avsl, 1, 1);
		cv = &dv.view;
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
	/* a block of T rows x the whole gallery, computed in (T, T) tiles, fetched and written */
	float *blk, *hblk = xmalloc_array((size_t)T * (ng ? ng : 1), sizeof *hblk);
	OP_DO(octx, op_alloc(octx, (void **)&blk, (size_t)T * (ng ? ng : 1) * sizeof *blk));
	for (uint64_t r0 = q0; r0 < q1 && !bad; r0 += (uint64_t)T) {
		int R = q1 - r0 < (uint64_t)T ? (int)(q1 - r0) : T;
		for (uint64_t c0 = 0; c0 < ng; c0 += (uint64_t)T) {
			int C = ng - c0 < (uint64_t)T ? (int)(ng - c0) : T;
			tile_dist(o, octx, cv, &pq, pg, r0, R, c0, C, blk + c0, (int64_t)ng);
		}
		OP_DO(octx, op_download(octx, hblk, blk, (size_t)R * ng * sizeof *hblk));
		bad = npy_write_data(fp, "dense", NPY_F32, hblk, (uint64_t)R * ng, &ferr) != 0;
	}
	op_free(octx, blk);
	free(hblk);
	knn_dev_close(&dv);
	prep_free(&pq);
	if (qs != gs)
		prep_free(&pg_own);
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
