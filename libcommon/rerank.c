/* rerank.c: see rerank.h. The shortlist stage (knn_run, k = C) hands over each query's candidates in query order;
 * they are buffered for the row block, and when the block ends its queries are re-ranked in parallel, one query per
 * thread (a single query, as in a --tile 1 stream, gets every thread inside the kernel), then emitted in order.
 * Per query: gather the candidates' rows, p-normalise them, run the AVSL kernel on the (1, C) tile, keep the k
 * nearest. Memory: O(threads * C * levels * D) for gathered rows plus O(tile * C) candidate indices. */
#include "rerank.h"
#include "util.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
	op_ctx ctx;                 /* one-thread CPU context of the worker (queries re-ranked in parallel) */
	float *x[AVSL_MAX_LEVELS];  /* (1, D) the query, p-normalised */
	float *d;                   /* (C) the candidates' AVSL distances */
	float *ld;                  /* (k) the query's list: distances (op_topk_merge) */
	int32_t *li;                /* (k) and gallery indices */
} worker;

typedef struct {
	const knn_opts *o;
	knn_emit_fn emit;
	void *ctx;
	int L, D, nt;
	size_t C, k;
	op_ctx *ctx0;               /* the run's context (o->ctx or its own): a single query gets its threads */
	const avsl_dist_plan *plan;
	const float *const *rows;   /* rows[l]: (gallery n, D) p-normalised gallery embeddings */
	float *own[AVSL_MAX_LEVELS]; /* the rows when this run built them */
	worker *w;                  /* (nt) */
	/* the current row block */
	int nq;
	uint64_t *qi;               /* (tile) query indices */
	uint32_t *n_rel, *n_cand;   /* (tile) */
	int32_t *cand;              /* (tile, C) candidate gallery indices */
	avg_neighbour *res;         /* (tile, k) results */
	uint32_t *n_res;            /* (tile) */
} stage2;

static void buffer_query(void *ctx, uint64_t qi, uint32_t n_relevant, const int32_t *idx, const float *dist,
			 uint32_t n)
{
	stage2 *s = ctx;
	(void)dist;
	int j = s->nq++;
	s->qi[j] = qi;
	s->n_rel[j] = n_relevant;
	s->n_cand[j] = n;
	memcpy(s->cand + (size_t)j * s->C, idx, n * sizeof *idx);
}

void rerank_gallery_rows(const knn_opts *o, op_ctx *ctx, float **rows)
{
	const ave_set *gs = o->gallery;
	const avsl_collector_view *c = o->metric.avsl;
	for (int l = 0; l < c->levels; l++) {
		rows[l] = xmalloc_array(gs->n ? gs->n : 1, (size_t)c->dim * sizeof(float));
		memcpy(rows[l], gs->emb[l], gs->n * (size_t)c->dim * sizeof(float));
		/* the exact graph's normalisation (knn.c prep_build), row by row: the same bits */
		OP_DO(ctx, op_avsl_normalize_rows(ctx, rows[l], (int64_t)gs->n, c->dim, c->p));
	}
}

void rerank_linear_weights(const avsl_collector_view *c, const ave_set *gs, float *w)
{
	const int L = c->levels, D = c->dim;
	double *g = xcalloc((size_t)D, sizeof *g), *h = xcalloc((size_t)D, sizeof *h);
	double *ubar = xcalloc((size_t)D, sizeof *ubar); /* (D) mean certainty of level l over the gallery */
	for (int n = 0; n < D; n++)
		g[n] = 1.0;
	for (int l = L - 1; l >= 1; l--) {
		memset(ubar, 0, (size_t)D * sizeof *ubar);
		for (uint64_t i = 0; i < gs->n; i++)
			for (int n = 0; n < D; n++)
				ubar[n] += gs->cert[l][i * D + n];
		for (int n = 0; n < D; n++) {
			double u = gs->n ? ubar[n] / (double)gs->n : 0;
			double pi = 1.0 / (1.0 + exp(-(double)c->gamma_p * (u * u * c->alpha[l][n] + c->beta[l][n])));
			w[(size_t)l * D + n] = (float)(g[n] * pi);
			h[n] = g[n] * (1.0 - pi);
		}
		const float *S = c->s_hat[l - 1]; /* (D, D): rows = level l-1 dims, columns = level l dims */
		for (int m = 0; m < D; m++) {
			double acc = 0;
			for (int n = 0; n < D; n++)
				acc += (double)S[(size_t)m * D + n] * h[n];
			g[m] = acc;
		}
	}
	for (int n = 0; n < D; n++)
		w[n] = (float)g[n];
	free(g);
	free(h);
	free(ubar);
}

/* Re-rank buffered query j with worker w, its ops on ctx. */
static void rerank_one(stage2 *s, int j, worker *w, op_ctx *ctx)
{
	const ave_set *qs = s->o->query, *gs = s->o->gallery;
	const avsl_collector_view *c = s->o->metric.avsl;
	const int D = s->D;
	const uint64_t qi = s->qi[j];
	const uint32_t n = s->n_cand[j];
	const int32_t *idx = s->cand + (size_t)j * s->C;
	const float *x[AVSL_MAX_LEVELS], *u[AVSL_MAX_LEVELS], *v[AVSL_MAX_LEVELS];
	for (int l = 0; l < s->L; l++) {
		memcpy(w->x[l], qs->emb[l] + qi * D, (size_t)D * sizeof(float));
		OP_DO(ctx, op_avsl_normalize_rows(ctx, w->x[l], 1, D, c->p));
		x[l] = w->x[l];
		u[l] = qs->cert[l] + qi * D;
		v[l] = gs->cert[l];
	}
	OP_DO(ctx, op_avsl_dist_gather(ctx, s->plan, 1, x, u, (int)n, idx, s->rows, v, w->d, (int64_t)n));
	OP_DO(ctx, op_topk_init(ctx, 1, (int)s->k, w->ld, w->li));
	OP_DO(ctx, op_topk_merge(ctx, w->d, 1, (int)n, (int64_t)n, 1, 0, idx, -1, w->ld, w->li, (int)s->k));
	avg_neighbour *nb = s->res + (size_t)j * s->k;
	uint32_t m = 0;
	for (; m < s->k && w->li[m] >= 0; m++) {
		int32_t g = w->li[m];
		nb[m].id = gs->id[g];
		nb[m].label = gs->label[g];
		nb[m].dist = w->ld[m];
	}
	s->n_res[j] = m;
}

static void rerank_block(void *ctx)
{
	stage2 *s = ctx;
	const ave_set *qs = s->o->query;
	if (s->nq == 1) {
		rerank_one(s, 0, &s->w[0], s->ctx0);
	} else {
#pragma omp parallel for num_threads(s->nt) schedule(dynamic, 1)
		for (int j = 0; j < s->nq; j++)
		{
			worker *w = &s->w[omp_get_thread_num()];
			rerank_one(s, j, w, &w->ctx);
		}
	}
	for (int j = 0; j < s->nq; j++) {
		uint64_t qi = s->qi[j];
		avg_query q = {.id = qs->id[qi], .label = qs->label[qi], .n_relevant = s->n_rel[j], .count = s->n_res[j]};
		s->emit(s->ctx, qi, &q, s->res + (size_t)j * s->k);
	}
	s->nq = 0;
}

int knn_rerank_run(const knn_opts *o, knn_emit_fn emit, void *ctx, char *err, size_t errlen)
{
	const avsl_collector_view *c = o->metric.avsl;
	/* the shortlist holds at least k items, so a re-rank never returns fewer neighbours than the exact graph */
	stage2 s = {.o = o, .emit = emit, .ctx = ctx, .L = c->levels, .D = c->dim,
		    .nt = o->threads > 0 ? o->threads : 1, .C = o->rerank > o->k ? o->rerank : o->k,
		    .k = o->k ? o->k : 1};
	size_t T = (size_t)(o->tile > 0 ? o->tile : 1);
	s.w = xcalloc((size_t)s.nt, sizeof *s.w);
	for (int t = 0; t < s.nt; t++) {
		worker *w = &s.w[t];
		for (int l = 0; l < s.L; l++)
			w->x[l] = xmalloc_array((size_t)s.D, sizeof(float));
		w->d = xmalloc_array(s.C, sizeof(float));
		w->ld = xmalloc_array(s.k, sizeof *w->ld);
		w->li = xmalloc_array(s.k, sizeof *w->li);
		if (op_ctx_init(&w->ctx, OP_DEVICE_CPU, 1))
			die("%s", w->ctx.err);
	}
	op_ctx own;
	s.ctx0 = knn_ctx_open(o, &own);
	s.qi = xmalloc_array(T, sizeof *s.qi);
	s.n_rel = xmalloc_array(T, sizeof *s.n_rel);
	s.n_cand = xmalloc_array(T, sizeof *s.n_cand);
	s.n_res = xmalloc_array(T, sizeof *s.n_res);
	s.cand = xmalloc_array(T * s.C, sizeof *s.cand);
	s.res = xmalloc_array(T * s.k, sizeof *s.res);

	/* the plan is host memory the CPU kernel reads; every worker context is a CPU one */
	avsl_dist_plan *plan;
	OP_DO(s.ctx0, op_avsl_dist_plan_new(s.ctx0, c, &plan));
	s.plan = plan;
	s.rows = knn_prepared_rows(o->prepared);
	if (!s.rows) {
		rerank_gallery_rows(o, s.ctx0, s.own);
		s.rows = (const float *const *)s.own;
	}

	knn_opts first = *o;
	first.rerank = 0;
	first.metric = o->shortlist;
	first.metric.avsl = c;
	first.k = (uint32_t)s.C;
	first.emit_index = buffer_query;
	first.block_done = rerank_block;
	int rc = knn_run(&first, NULL, &s, err, errlen);

	for (int t = 0; t < s.nt; t++) {
		worker *w = &s.w[t];
		for (int l = 0; l < s.L; l++)
			free(w->x[l]);
		free(w->d);
		free(w->ld);
		free(w->li);
		op_ctx_free(&w->ctx);
	}
	free(s.w);
	op_avsl_dist_plan_free(s.ctx0, plan);
	knn_ctx_close(s.ctx0, &own);
	for (int l = 0; l < s.L; l++)
		free(s.own[l]);
	free(s.qi);
	free(s.n_rel);
	free(s.n_cand);
	free(s.n_res);
	free(s.cand);
	free(s.res);
	return rc;
}

