/* rerank.c: see rerank.h. The shortlist stage (knn_run, k = C) hands over each query's candidates in query order;
 * they are buffered for the row block, and when the block ends its queries are re-ranked in parallel, one query per
 * thread (a single query, as in a --tile 1 stream, gets every thread inside the kernel), then emitted in order.
 * Per query: gather the candidates' rows, p-normalise them, run the AVSL kernel on the (1, C) tile, keep the k
 * nearest. Memory: O(threads * C * levels * D) for gathered rows plus O(tile * C) candidate indices.
 *
 * On a device (knn_opts.ctx CUDA) stage 2 runs there too: the collector, the p-normalised query and gallery rows and
 * their certainties are uploaded once; per row block the candidate indices go up in one copy, each query's
 * op_avsl_dist_gather and op_topk_merge run on the device, and only the block's (tile, k) lists come back. */
#include "rerank.h"
#include "devmem.h"
#include "knn_device.h"
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
	const float *const *rows;   /* rows[l]: (gallery n, D) p-normalised gallery embeddings (ctx0's memory) */
	const float *const *certs;  /* certs[l]: (gallery n, D) their certainties (ctx0's memory) */
	float *own[AVSL_MAX_LEVELS]; /* the rows when this run built them */
	float *own_cert[AVSL_MAX_LEVELS]; /* and on a device their certainties */
	/* a device stage 2 (dev: ctx0 is a CUDA context) */
	int dev;
	knn_dev dv;                 /* the collector uploaded (its view serves the plan) */
	float *qrows[AVSL_MAX_LEVELS], *qcert[AVSL_MAX_LEVELS]; /* (q_end - q_begin, D) queries, normalised; certainties */
	int32_t *dcand;             /* (tile, C) candidate indices */
	float *dd;                  /* (tile, C) their distances */
	float *dld;                 /* (tile, k) lists: distances */
	int32_t *dli;               /* (tile, k) and gallery indices */
	float *hld;                 /* (tile, k) host copies of the lists */
	int32_t *hli;
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

void rerank_gallery_rows(const knn_opts *o, op_ctx *ctx, float **rows, float **certs)
{
	const ave_set *gs = o->gallery;
	const avsl_collector_view *c = o->metric.avsl;
	for (int l = 0; l < c->levels; l++) {
		certs[l] = NULL;
		if (devmem_is_device(ctx)) { /* the same op on device copies */
			knn_dev_rows(ctx, gs->emb[l], gs->cert[l], gs->n, c->dim, c->p, &rows[l], &certs[l]);
			continue;
		}
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

/* Re-rank the buffered block on the device: per query the gathered tile and its merge, one download per block. */
static void rerank_block_device(stage2 *s)
{
	op_ctx *ctx = s->ctx0;
	const ave_set *gs = s->o->gallery;
	const size_t C = s->C, k = s->k;
	devmem_upload(ctx, s->dcand, s->cand, (size_t)s->nq * C * sizeof *s->dcand);
	OP_DO(ctx, op_topk_init(ctx, s->nq, (int)k, s->dld, s->dli));
	for (int j = 0; j < s->nq; j++) {
		const uint32_t n = s->n_cand[j];
		if (!n)
			continue;
		const uint64_t r = (s->qi[j] - s->o->q_begin) * (uint64_t)s->D;
		const float *x[AVSL_MAX_LEVELS], *u[AVSL_MAX_LEVELS];
		for (int l = 0; l < s->L; l++)
			x[l] = s->qrows[l] + r, u[l] = s->qcert[l] + r;
		const int32_t *idx = s->dcand + (size_t)j * C;
		float *d = s->dd + (size_t)j * C;
		OP_DO(ctx, op_avsl_dist_gather(ctx, s->plan, 1, x, u, (int)n, idx, s->rows, s->certs, d, (int64_t)n));
		OP_DO(ctx, op_topk_merge(ctx, d, 1, (int)n, (int64_t)n, 1, 0, idx, -1, s->dld + (size_t)j * k,
					 s->dli + (size_t)j * k, (int)k));
	}
	devmem_download(ctx, s->hld, s->dld, (size_t)s->nq * k * sizeof *s->hld);
	devmem_download(ctx, s->hli, s->dli, (size_t)s->nq * k * sizeof *s->hli);
	for (int j = 0; j < s->nq; j++) {
		const float *ld = s->hld + (size_t)j * k;
		const int32_t *li = s->hli + (size_t)j * k;
		avg_neighbour *nb = s->res + (size_t)j * k;
		uint32_t m = 0;
		for (; m < k && li[m] >= 0; m++) {
			nb[m].id = gs->id[li[m]];
			nb[m].label = gs->label[li[m]];
			nb[m].dist = ld[m];
		}
		s->n_res[j] = m;
	}
}

static void rerank_block(void *ctx)
{
	stage2 *s = ctx;
	const ave_set *qs = s->o->query;
	if (s->dev) {
		rerank_block_device(s);
	} else if (s->nq == 1) {
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
	op_ctx own;
	s.ctx0 = knn_ctx_open(o, &own);
	s.dev = devmem_is_device(s.ctx0);
	if (s.dev) /* one stream of device ops: no CPU workers */
		s.nt = 0;
	s.w = xcalloc((size_t)(s.nt ? s.nt : 1), sizeof *s.w);
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
	s.qi = xmalloc_array(T, sizeof *s.qi);
	s.n_rel = xmalloc_array(T, sizeof *s.n_rel);
	s.n_cand = xmalloc_array(T, sizeof *s.n_cand);
	s.n_res = xmalloc_array(T, sizeof *s.n_res);
	s.cand = xmalloc_array(T * s.C, sizeof *s.cand);
	s.res = xmalloc_array(T * s.k, sizeof *s.res);

	/* on the CPU the plan is host memory the CPU kernel reads (every worker context is a CPU one); on a device it
	 * is the device's, over the collector uploaded */
	const avsl_collector_view *pc = c;
	if (s.dev) {
		knn_dev_open(&s.dv, s.ctx0, c, 1, 1);
		pc = &s.dv.view;
		const ave_set *qs = o->query;
		for (int l = 0; l < s.L; l++)
			knn_dev_rows(s.ctx0, qs->emb[l] + o->q_begin * s.D, qs->cert[l] + o->q_begin * s.D,
				     o->q_end - o->q_begin, s.D, c->p, &s.qrows[l], &s.qcert[l]);
		s.dcand = devmem_alloc(s.ctx0, T * s.C, sizeof *s.dcand);
		s.dd = devmem_alloc(s.ctx0, T * s.C, sizeof *s.dd);
		s.dld = devmem_alloc(s.ctx0, T * s.k, sizeof *s.dld);
		s.dli = devmem_alloc(s.ctx0, T * s.k, sizeof *s.dli);
		s.hld = xmalloc_array(T * s.k, sizeof *s.hld);
		s.hli = xmalloc_array(T * s.k, sizeof *s.hli);
	}
	avsl_dist_plan *plan;
	OP_DO(s.ctx0, op_avsl_dist_plan_new(s.ctx0, pc, &plan));
	s.plan = plan;
	s.rows = knn_prepared_rows(o->prepared);
	s.certs = knn_prepared_certs(o->prepared);
	if (!s.rows) {
		rerank_gallery_rows(o, s.ctx0, s.own, s.own_cert);
		s.rows = (const float *const *)s.own;
		s.certs = (const float *const *)s.own_cert;
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
	for (int l = 0; l < s.L; l++) {
		if (s.dev) {
			devmem_free(s.ctx0, s.own[l]);
			devmem_free(s.ctx0, s.own_cert[l]);
			devmem_free(s.ctx0, s.qrows[l]);
			devmem_free(s.ctx0, s.qcert[l]);
		} else {
			free(s.own[l]);
		}
	}
	if (s.dev) {
		knn_dev_close(&s.dv);
		devmem_free(s.ctx0, s.dcand);
		devmem_free(s.ctx0, s.dd);
		devmem_free(s.ctx0, s.dld);
		devmem_free(s.ctx0, s.dli);
		free(s.hld);
		free(s.hli);
	}
	knn_ctx_close(s.ctx0, &own);
	free(s.qi);
	free(s.n_rel);
	free(s.n_cand);
	free(s.n_res);
	free(s.cand);
	free(s.res);
	return rc;
}

