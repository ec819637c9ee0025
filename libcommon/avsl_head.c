/* avsl_head.c: see avsl_head.h. */
#include "avsl_head.h"
#include "devmem.h"
#include "dist.h"
#include "rng.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct avsl_head {
	avsl_head_config cfg;
	op_ctx *ctx;    /* cfg.ctx, or &own */
	op_ctx own;     /* the head's own CPU context when cfg.ctx is NULL */
	int iw[AVSL_MAX_LEVELS], ib[AVSL_MAX_LEVELS], ip[AVSL_MAX_LEVELS], ia[AVSL_MAX_LEVELS], ibe[AVSL_MAX_LEVELS];
	int il[AVSL_MAX_LEVELS - 1];
	int links_init;
	/* plan */
	int N, H[AVSL_MAX_LEVELS], W[AVSL_MAX_LEVELS];
	float *g[AVSL_MAX_LEVELS];      /* (N, C_l) pooled features */
	int32_t *am[AVSL_MAX_LEVELS];   /* (N, C_l) arg-max positions */
	float *e[AVSL_MAX_LEVELS];      /* (N, D) embeddings */
	float *xh[AVSL_MAX_LEVELS];     /* (N, D) normalised */
	float *A[AVSL_MAX_LEVELS];      /* (N, D, H_l W_l) CAMs */
	float *u[AVSL_MAX_LEVELS];      /* (N, D) certainties */
	float *yh[AVSL_MAX_LEVELS];     /* (K, D) normalised proxy columns */
	float *v[AVSL_MAX_LEVELS];      /* (K, D) proxy certainty (one scalar per level, broadcast) */
	float *blink[AVSL_MAX_LEVELS - 1]; /* (D, D) batch links, consecutive in blink_all (one all-reduce) */
	float *blink_all;                  /* (L - 1, D, D) */
	float *shat[AVSL_MAX_LEVELS - 1];  /* (D, D), consecutive in shat_all */
	float *shat_all;                   /* (L - 1, D, D) */
	avsl_collector_view cv;            /* this step's collector: shat_all, the coef/bias parameters */
	float *df, *dl[AVSL_MAX_LEVELS];   /* (N, K) this rank's distances */
	/* Data parallel (dist.h): the losses couple the whole global batch of NG <= N * world images, so every rank
	 * gathers the distances and labels of all of them, computes the global loss and back-propagates its own rows.
	 * One process: the g* pointers are the local buffers. */
	int NGmax;                         /* N * world */
	float *gdf, *gdl[AVSL_MAX_LEVELS]; /* (NG, K) global distances (world > 1) */
	int32_t *glab;                     /* (NG) global labels (world > 1) */
	float *stage, *gstage;             /* (N, 1 + L, K), (NG, 1 + L, K): the distance rows packed for one gather */
	float *Gf, *Gl[AVSL_MAX_LEVELS];   /* (NG, K) loss gradients */
	float *dxh[AVSL_MAX_LEVELS], *dyh[AVSL_MAX_LEVELS]; /* (N, D), (K, D) */
	float *tmpK;                    /* (K, D) */
	float *de, *dg;                 /* (N, D), (N, max C) */
	int32_t *cols;                  /* (max(K, NG)) host: the step's columns */
	int ncols;
	int32_t *dcols;                 /* (max(K, NG)) the columns where the ops read them */
	int32_t *dlab;                  /* (NG) the global batch's labels where the ops read them */
	double *dusum;                  /* (L) certainty sums where the ops keep them */
};

static void reg(paramset *ps, int *idx, const char *fmt, int l, int ndim, const int64_t *shape, param_group g, int tr)
{
	char name[96];
	snprintf(name, sizeof name, fmt, l);
	*idx = paramset_add(ps, name, ndim, shape, g, tr);
}

avsl_head *avsl_head_create(const avsl_head_config *cfg, paramset *ps)
{
	if (cfg->levels < 1 || cfg->levels > AVSL_MAX_LEVELS || cfg->D < 1 || cfg->K < 1)
		die("internal error: avsl head: bad configuration (levels %d, D %d, K %d)", cfg->levels, cfg->D, cfg->K);
	avsl_head *h = xcalloc(1, sizeof *h);
	h->cfg = *cfg;
	if (h->cfg.batch_classes_above <= 0)
		h->cfg.batch_classes_above = 1000;
	if (h->cfg.threads < 1)
		h->cfg.threads = 1;
	h->ctx = cfg->ctx;
	if (!h->ctx) {
		if (op_ctx_init(&h->own, OP_DEVICE_CPU, h->cfg.threads))
			die("avsl head: %s", h->own.err);
		h->ctx = &h->own;
	}
	const int64_t D = cfg->D, K = cfg->K;
	for (int l = 0; l < cfg->levels; l++) {
		int64_t sw[4] = {D, cfg->C[l], 1, 1}, sd[1] = {D}, sp[2] = {K, D};
		reg(ps, &h->iw[l], "embedder.conv.%d.weight", l, 4, sw, PG_EMBEDDER, 1);
		reg(ps, &h->ib[l], "embedder.conv.%d.bias", l, 1, sd, PG_EMBEDDER, 1);
		reg(ps, &h->ip[l], "collector.proxies.%d", l, 2, sp, PG_COLLECTOR, 1);
		reg(ps, &h->ia[l], "collector.prob_coef.%d", l, 1, sd, PG_COLLECTOR, l > 0);
		reg(ps, &h->ibe[l], "collector.prob_bias.%d", l, 1, sd, PG_COLLECTOR, l > 0);
	}
	for (int t = 0; t + 1 < cfg->levels; t++) {
		int64_t s[2] = {D, D};
		reg(ps, &h->il[t], "collector.links.%d", t, 2, s, PG_NONE, 0);
	}
	return h;
}

/* The buffers the ops use live in the memory of the head's context (devmem: host memory on the CPU, device memory
 * on CUDA); the data-parallel staging (gdl, gdf, stage, gstage, glab: MPI, CPU only) and cols are host memory. */
static void plan_free(avsl_head *h)
{
	op_ctx *ctx = h->ctx;
	for (int l = 0; l < AVSL_MAX_LEVELS; l++) {
		devmem_free(ctx, h->g[l]);
		devmem_free(ctx, h->am[l]);
		devmem_free(ctx, h->e[l]);
		devmem_free(ctx, h->xh[l]);
		devmem_free(ctx, h->A[l]);
		devmem_free(ctx, h->u[l]);
		devmem_free(ctx, h->yh[l]);
		devmem_free(ctx, h->v[l]);
		devmem_free(ctx, h->dl[l]);
		free(h->gdl[l]);
		devmem_free(ctx, h->Gl[l]);
		devmem_free(ctx, h->dxh[l]);
		devmem_free(ctx, h->dyh[l]);
	}
	devmem_free(ctx, h->shat_all);
	devmem_free(ctx, h->df);
	free(h->gdf);
	devmem_free(ctx, h->blink_all);
	free(h->stage);
	free(h->gstage);
	free(h->glab);
	devmem_free(ctx, h->Gf);
	devmem_free(ctx, h->tmpK);
	devmem_free(ctx, h->de);
	devmem_free(ctx, h->dg);
	free(h->cols);
	devmem_free(ctx, h->dcols);
	devmem_free(ctx, h->dlab);
	devmem_free(ctx, h->dusum);
}

void avsl_head_free(avsl_head *h)
{
	if (!h)
		return;
	plan_free(h);
	if (h->ctx == &h->own)
		op_ctx_free(&h->own);
	free(h);
}

void avsl_head_init(avsl_head *h, paramset *ps, uint64_t seed)
{
	const int D = h->cfg.D, K = h->cfg.K;
	for (int l = 0; l < h->cfg.levels; l++) {
		rng r;
		float *w = paramset_data(ps, h->iw[l]);
		rng_init(&r, seed, rng_stream_id(0xa5, 1, l));
		double sw = sqrt(2.0 / D); /* Kaiming-normal, fan_out = D*1*1 */
		for (size_t i = 0; i < (size_t)D * h->cfg.C[l]; i++)
			w[i] = (float)(rng_normal(&r) * sw);
		memset(paramset_data(ps, h->ib[l]), 0, sizeof(float) * D);
		float *p = paramset_data(ps, h->ip[l]);
		rng_init(&r, seed, rng_stream_id(0xa5, 2, l));
		double sp = sqrt(1.0 / (3.0 * D)); /* Kaiming-normal a = sqrt(5), fan_in = D */
		for (size_t i = 0; i < (size_t)K * D; i++)
			p[i] = (float)(rng_normal(&r) * sp);
		float *a = paramset_data(ps, h->ia[l]);
		for (int n = 0; n < D; n++)
			a[n] = 1.0f;
		memset(paramset_data(ps, h->ibe[l]), 0, sizeof(float) * D);
	}
	for (int t = 0; t + 1 < h->cfg.levels; t++)
		memset(paramset_data(ps, h->il[t]), 0, sizeof(float) * D * D);
	h->links_init = 0;
}

void avsl_head_plan(avsl_head *h, int N, const int H[], const int W[])
{
	plan_free(h);
	const int L = h->cfg.levels, D = h->cfg.D, K = h->cfg.K, world = dist_world();
	op_ctx *ctx = h->ctx;
	int cmax = 1;
	h->N = N;
	h->NGmax = N * world;
	const int NG = h->NGmax;
	for (int l = 0; l < L; l++) {
		h->H[l] = H[l];
		h->W[l] = W[l];
		size_t HW = (size_t)H[l] * W[l];
		cmax = h->cfg.C[l] > cmax ? h->cfg.C[l] : cmax;
		h->g[l] = devmem_alloc(ctx, (size_t)N * h->cfg.C[l], sizeof(float));
		h->am[l] = devmem_alloc(ctx, (size_t)N * h->cfg.C[l], sizeof(int32_t));
		h->e[l] = devmem_alloc(ctx, (size_t)N * D, sizeof(float));
		h->xh[l] = devmem_alloc(ctx, (size_t)N * D, sizeof(float));
		h->A[l] = devmem_alloc(ctx, (size_t)N * D * HW, sizeof(float));
		h->u[l] = devmem_alloc(ctx, (size_t)N * D, sizeof(float));
		h->yh[l] = devmem_alloc(ctx, (size_t)K * D, sizeof(float));
		h->v[l] = devmem_alloc(ctx, (size_t)K * D, sizeof(float));
		h->dl[l] = devmem_alloc(ctx, (size_t)N * K, sizeof(float));
		h->gdl[l] = world > 1 ? xmalloc_array((size_t)NG * K, sizeof(float)) : NULL;
		h->Gl[l] = devmem_alloc(ctx, (size_t)NG * K, sizeof(float));
		h->dxh[l] = devmem_alloc(ctx, (size_t)N * D, sizeof(float));
		h->dyh[l] = devmem_alloc(ctx, (size_t)K * D, sizeof(float));
		if (l + 1 < L) {
			h->blink[l] = NULL; /* set below, in blink_all */
			h->shat[l] = NULL; /* set below, in shat_all */
		}
	}
	h->shat_all = devmem_alloc(ctx, (size_t)(L > 1 ? L - 1 : 1) * D, (size_t)D * sizeof(float));
	for (int t = 0; t + 1 < L; t++)
		h->shat[t] = h->shat_all + (size_t)t * D * D;
	h->df = devmem_alloc(ctx, (size_t)N * K, sizeof(float));
	h->gdf = world > 1 ? xmalloc_array((size_t)NG * K, sizeof(float)) : NULL;
	h->stage = world > 1 ? xmalloc_array((size_t)N * (1 + L), (size_t)K * sizeof(float)) : NULL;
	h->gstage = world > 1 ? xmalloc_array((size_t)NG * (1 + L), (size_t)K * sizeof(float)) : NULL;
	h->blink_all = devmem_alloc(ctx, (size_t)(L > 1 ? L - 1 : 1) * D, (size_t)D * sizeof(float));
	for (int t = 0; t + 1 < L; t++)
		h->blink[t] = h->blink_all + (size_t)t * D * D;
	h->glab = world > 1 ? xmalloc_array((size_t)NG, sizeof(int32_t)) : NULL;
	h->Gf = devmem_alloc(ctx, (size_t)NG * K, sizeof(float));
	h->tmpK = devmem_alloc(ctx, (size_t)K * D, sizeof(float));
	h->de = devmem_alloc(ctx, (size_t)N * D, sizeof(float));
	h->dg = devmem_alloc(ctx, (size_t)N * cmax, sizeof(float));
	h->cols = xmalloc_array((size_t)(K > NG ? K : NG), sizeof(int32_t)); /* batch labels are sorted in place */
	h->dcols = devmem_alloc(ctx, (size_t)(K > NG ? K : NG), sizeof(int32_t));
	h->dlab = devmem_alloc(ctx, (size_t)NG, sizeof(int32_t));
	h->dusum = devmem_alloc(ctx, (size_t)L, sizeof(double));
}

static int cmp_i32(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
	return (x > y) - (x < y);
}

/* Embeddings, CAMs and certainties of N images (the A buffers hold N images). */
static void embed_fwd(avsl_head *h, paramset *ps, const float *const feat[], int N, const int H[], const int W[],
		      float *const g[], int32_t *const am[], float *const e[], float *const A[], float *const u[])
{
	const int D = h->cfg.D;
	op_ctx *ctx = h->ctx;
	for (int l = 0; l < h->cfg.levels; l++) {
		int C = h->cfg.C[l], HW = H[l] * W[l];
		const float *Wt = paramset_op_data(ps, h->iw[l]), *b = paramset_op_data(ps, h->ib[l]);
		OP_DO(ctx, op_avsl_pool_fwd(ctx, feat[l], N, C, HW, g[l], am[l]));
		OP_DO(ctx, op_linear_fwd(ctx, N, C, D, g[l], Wt, b, e[l], 0));
		OP_DO(ctx, op_avsl_cam_fwd(ctx, feat[l], am[l], Wt, b, N, C, HW, D, A[l]));
		OP_DO(ctx, op_avsl_certainty(ctx, A[l], N, D, H[l], W[l], u[l]));
	}
}

float avsl_head_train_step(avsl_head *h, paramset *ps, const float *const feat[], const int32_t *labels, int N,
			   float *const dfeat[], float loss_terms[])
{
	const avsl_head_config *cf = &h->cfg;
	const int L = cf->levels, D = cf->D, K = cf->K;
	op_ctx *ctx = h->ctx;
	if (N > h->N || N < 1)
		die("internal error: avsl head planned for %d images, got %d", h->N, N);
	for (int i = 0; i < N; i++)
		if (labels[i] < 0 || labels[i] >= K)
			die("label %d out of range [0, %d)", labels[i], K);

	/* embedder forward */
	embed_fwd(h, ps, feat, N, h->H, h->W, h->g, h->am, h->e, h->A, h->u);

	/* The global batch: this rank's rows [first, first + N) of NG, the labels of all (world 1: the local ones). */
	dist_rows rows;
	dist_rows_plan(&rows, N);
	const int NG = rows.total;
	const int32_t *glabels = labels; /* host */
	if (dist_world() > 1) {
		dist_gather_rows(&rows, labels, sizeof(int32_t), h->glab, 1);
		glabels = h->glab;
	}
	devmem_upload(ctx, h->dlab, glabels, sizeof(int32_t) * (size_t)NG);

	/* links: batch link, EMA (first step copies), then S_hat for this step's distances */
	for (int t = 0; t + 1 < L; t++)
		OP_DO(ctx, op_avsl_link_batch(ctx, h->A[t], h->H[t], h->W[t], h->A[t + 1], h->H[t + 1], h->W[t + 1], N,
		      D,
					      h->blink[t]));
	if (dist_world() > 1) {
		/* The batch link is a mean over images: the global one is the sum of the ranks' means weighted N / NG. */
		for (size_t i = 0; i < (size_t)(L - 1) * D * D; i++)
			h->blink_all[i] *= (float)N / (float)NG;
		dist_allreduce_f32(h->blink_all, (size_t)(L - 1) * D * D);
	}
	const float *links[AVSL_MAX_LEVELS - 1], *alpha[AVSL_MAX_LEVELS], *beta[AVSL_MAX_LEVELS];
	for (int t = 0; t + 1 < L; t++) {
		/* L = m L + (1 - m) batch link (the official update order), where the ops keep the parameters */
		float *Lt = paramset_op_mut(ps, h->il[t]);
		if (h->links_init)
			OP_DO(ctx, op_axpby(ctx, (size_t)D * D, 1.0f - cf->avsl_m, h->blink[t], cf->avsl_m, Lt));
		else
			devmem_copy(ctx, Lt, h->blink[t], (size_t)D * D);
		links[t] = Lt;
	}
	h->links_init = 1;
	for (int l = 0; l < L; l++) {
		alpha[l] = paramset_op_data(ps, h->ia[l]);
		beta[l] = paramset_op_data(ps, h->ibe[l]);
	}
	OP_DO(ctx, avsl_collector_view_build(ctx, &h->cv, L, D, cf->topk, cf->prob_gamma, cf->index_p, links, alpha,
					     beta, h->shat_all));

	/* columns: all K proxies, or the sorted unique batch labels when K is large (§3.5) */
	int C = 0;
	if (K > cf->batch_classes_above) {
		memcpy(h->cols, glabels, sizeof(int32_t) * NG);
		qsort(h->cols, (size_t)NG, sizeof(int32_t), cmp_i32);
		for (int i = 0; i < NG; i++)
			if (i == 0 || h->cols[i] != h->cols[C - 1])
				h->cols[C++] = h->cols[i];
	} else {
		for (int k = 0; k < K; k++)
			h->cols[C++] = k;
	}
	h->ncols = C;
	devmem_upload(ctx, h->dcols, h->cols, sizeof(int32_t) * (size_t)C);
	/* proxy certainty: mean over all global batch images and dims (§3.5, §11-P5), summed where the ops run */
	for (int l = 0; l < L; l++)
		OP_DO(ctx, op_sum(ctx, h->u[l], (size_t)N * D, h->dusum + l));
	if (dist_world() > 1) { /* MPI runs on the CPU: dusum is host memory there */
		dist_allreduce_f64(h->dusum, (size_t)L);
	}
	for (int l = 0; l < L; l++) {
		OP_DO(ctx, op_gather_rows(ctx, paramset_op_data(ps, h->ip[l]), D, h->dcols, C, h->yh[l]));
		OP_DO(ctx, op_avsl_normalize_rows(ctx, h->yh[l], C, D, cf->index_p));
		devmem_copy(ctx, h->xh[l], h->e[l], (size_t)N * D);
		OP_DO(ctx, op_avsl_normalize_rows(ctx, h->xh[l], N, D, cf->index_p));
		OP_DO(ctx, op_fill_mean(ctx, h->dusum + l, (double)NG * D, h->v[l], (size_t)C * D));
	}

	/* distances and losses */
	const avsl_collector_view *cv = &h->cv;
	const float *X[AVSL_MAX_LEVELS], *U[AVSL_MAX_LEVELS], *Y[AVSL_MAX_LEVELS], *V[AVSL_MAX_LEVELS];
	for (int l = 0; l < L; l++) {
		X[l] = h->xh[l];
		U[l] = h->u[l];
		Y[l] = h->yh[l];
		V[l] = h->v[l];
	}
	OP_DO(ctx, op_avsl_collector_fwd(ctx, cv, N, X, U, C, Y, V, h->df, h->dl));
	/* Proxy-Anchor log-sum-exps run over the global batch: gather every rank's distance rows. */
	const float *gdf = h->df, *gdl[AVSL_MAX_LEVELS];
	for (int l = 0; l < L; l++)
		gdl[l] = h->dl[l];
	if (dist_world() > 1) {
		/* one gather: row i of stage is [df_i, dl_0,i, ..., dl_L-1,i] */
		const size_t row = (size_t)(1 + L) * C;
		for (int i = 0; i < N; i++) {
			memcpy(h->stage + i * row, h->df + (size_t)i * C, sizeof(float) * C);
			for (int l = 0; l < L; l++)
				memcpy(h->stage + i * row + (size_t)(1 + l) * C, h->dl[l] + (size_t)i * C, sizeof(float) * C);
		}
		dist_gather_rows(&rows, h->stage, sizeof(float) * row, h->gstage, 1);
		for (int i = 0; i < NG; i++) {
			memcpy(h->gdf + (size_t)i * C, h->gstage + i * row, sizeof(float) * C);
			for (int l = 0; l < L; l++)
				memcpy(h->gdl[l] + (size_t)i * C, h->gstage + i * row + (size_t)(1 + l) * C, sizeof(float) * C);
		}
		gdf = h->gdf;
		for (int l = 0; l < L; l++)
			gdl[l] = h->gdl[l];
	}
	float lf;
	OP_DO(ctx, op_pa_dist_loss(ctx, gdf, NG, C, h->dlab, h->dcols, cf->final_pa_pos, cf->final_pa_neg,
				   cf->final_pa_alpha, h->Gf, &lf));
	float total = lf;
	if (loss_terms)
		loss_terms[0] = lf;
	for (int l = 0; l < L; l++) {
		float ll;
		OP_DO(ctx, op_pa_dist_loss(ctx, gdl[l], NG, C, h->dlab, h->dcols, cf->pa_pos, cf->pa_neg, cf->pa_alpha,
					   h->Gl[l], &ll));
		OP_DO(ctx, op_scale(ctx, h->Gl[l], (size_t)NG * C, cf->loss_w[l]));
		total += cf->loss_w[l] * ll;
		if (loss_terms)
			loss_terms[1 + l] = ll;
	}

	/* backward of this rank's rows: the parameter gradients are partial sums over them, which the trainer's
	 * all-reduce completes */
	float *da[AVSL_MAX_LEVELS] = {0}, *dbe[AVSL_MAX_LEVELS] = {0};
	const float *Gf = h->Gf + (size_t)rows.first * C, *Gl[AVSL_MAX_LEVELS];
	for (int l = 0; l < L; l++)
		Gl[l] = h->Gl[l] + (size_t)rows.first * C;
	for (int l = 1; l < L; l++) {
		da[l] = paramset_op_grad(ps, h->ia[l]);
		dbe[l] = paramset_op_grad(ps, h->ibe[l]);
	}
	dist_rows_free(&rows);
	OP_DO(ctx, op_avsl_collector_bwd(ctx, cv, N, X, U, C, Y, V, Gf, Gl, h->dxh, h->dyh, da, dbe));
	for (int l = 0; l < L; l++) {
		int Cl = cf->C[l], HW = h->H[l] * h->W[l];
		/* proxies: through the normalisation of the gathered rows, scattered back by class */
		OP_DO(ctx, op_gather_rows(ctx, paramset_op_data(ps, h->ip[l]), D, h->dcols, C, h->tmpK));
		OP_DO(ctx, op_avsl_normalize_rows_bwd(ctx, h->tmpK, h->dyh[l], C, D, cf->index_p, h->tmpK));
		OP_DO(ctx, op_scatter_add_rows(ctx, h->tmpK, C, D, h->dcols, paramset_op_grad(ps, h->ip[l])));
		/* embeddings -> conv -> pooled features -> maps */
		OP_DO(ctx, op_avsl_normalize_rows_bwd(ctx, h->e[l], h->dxh[l], N, D, cf->index_p, h->de));
		OP_DO(ctx, op_linear_bwd(ctx, N, Cl, D, h->g[l], paramset_op_data(ps, h->iw[l]), h->de, h->dg,
					 paramset_op_grad(ps, h->iw[l]), paramset_op_grad(ps, h->ib[l])));
		OP_DO(ctx, op_avsl_pool_bwd(ctx, h->dg, h->am[l], N, Cl, HW, dfeat[l]));
	}
	return total;
}

void avsl_head_embed(avsl_head *h, paramset *ps, const float *const feat[], int N, float *const emb[],
		     float *const cert[])
{
	enum { CHUNK = 32 }; /* images per CAM buffer */
	const int L = h->cfg.levels, D = h->cfg.D;
	if (!h->N)
		die("internal error: avsl_head_embed before avsl_head_plan");
	op_ctx *ctx = h->ctx; /* feat, emb, cert and the scratch in its memory (CUDA: device memory) */
	float *g[AVSL_MAX_LEVELS], *A[AVSL_MAX_LEVELS];
	int32_t *am[AVSL_MAX_LEVELS];
	for (int l = 0; l < L; l++) {
		g[l] = devmem_alloc(ctx, (size_t)CHUNK * h->cfg.C[l], sizeof(float));
		am[l] = devmem_alloc(ctx, (size_t)CHUNK * h->cfg.C[l], sizeof(int32_t));
		A[l] = devmem_alloc(ctx, (size_t)CHUNK * D * h->H[l] * h->W[l], sizeof(float));
	}
	for (int b0 = 0; b0 < N; b0 += CHUNK) {
		int nb = N - b0 < CHUNK ? N - b0 : CHUNK;
		const float *f[AVSL_MAX_LEVELS];
		float *e[AVSL_MAX_LEVELS], *u[AVSL_MAX_LEVELS];
		for (int l = 0; l < L; l++) {
			f[l] = feat[l] + (size_t)b0 * h->cfg.C[l] * h->H[l] * h->W[l];
			e[l] = emb[l] + (size_t)b0 * D;
			u[l] = cert[l] + (size_t)b0 * D;
		}
		embed_fwd(h, ps, f, nb, h->H, h->W, g, am, e, A, u);
	}
	for (int l = 0; l < L; l++) {
		devmem_free(ctx, g[l]);
		devmem_free(ctx, am[l]);
		devmem_free(ctx, A[l]);
	}
}

int avsl_head_links_initialised(const avsl_head *h) { return h->links_init; }
void avsl_head_set_links_initialised(avsl_head *h, int v) { h->links_init = v != 0; }

void avsl_head_get_debug(const avsl_head *h, avsl_head_debug *d)
{
	memset(d, 0, sizeof *d);
	d->ncols = h->ncols;
	d->cols = h->cols;
	d->df = h->df;
	for (int l = 0; l < h->cfg.levels; l++) {
		d->emb[l] = h->e[l];
		d->cert[l] = h->u[l];
		d->dl[l] = h->dl[l];
		if (l + 1 < h->cfg.levels) {
			d->batch_link[l] = h->blink[l];
			d->s_hat[l] = h->shat[l];
		}
	}
}

int avsl_head_metadata(const avsl_head_config *cfg, const char *key[5], char val[5][32])
{
	key[0] = "avsl.levels";
	snprintf(val[0], 32, "%d", cfg->levels);
	key[1] = "avsl.embeddings_dim";
	snprintf(val[1], 32, "%d", cfg->D);
	key[2] = "avsl.topk_corr";
	snprintf(val[2], 32, "%d", cfg->topk);
	key[3] = "avsl.prob_gamma";
	snprintf(val[3], 32, "%.9g", cfg->prob_gamma);
	key[4] = "avsl.index_p";
	snprintf(val[4], 32, "%.9g", cfg->index_p);
	return 5;
}

int avsl_collector_load(const st_file *ck, const avsl_head_config *cfg, avsl_collector_eval *out, fmt_error *err)
{
	memset(out, 0, sizeof *out);
	if (cfg->levels < 1 || cfg->levels > AVSL_MAX_LEVELS || cfg->D < 1 || cfg->topk < 1 || cfg->topk > cfg->D)
		return fmt_fail(err, "%s: collector: levels %d, D %d, topk_corr %d: out of range", ck->path, cfg->levels,
				cfg->D, cfg->topk);
	const int L = cfg->levels, D = cfg->D;
	/* st: s_hat (L-1, D, D) | alpha (L, D) | beta (L, D) | raw links (L-1, D, D), read then prepared */
	size_t nf = 2 * (size_t)(L - 1) * D * D + 2 * (size_t)L * D;
	float *st = malloc(nf * sizeof(float));
	if (!st)
		return fmt_fail(err, "%s: out of memory for the collector (D = %d)", ck->path, D);
	float *alpha = st + (size_t)(L - 1) * D * D, *beta = alpha + (size_t)L * D, *raw = beta + (size_t)L * D;
	const float *a[AVSL_MAX_LEVELS], *b[AVSL_MAX_LEVELS], *links[AVSL_MAX_LEVELS - 1];
	char name[64];
	int64_t sd[1] = {D}, sl[2] = {D, D};
	for (int l = 0; l < L; l++) {
		a[l] = alpha + (size_t)l * D;
		b[l] = beta + (size_t)l * D;
		snprintf(name, sizeof name, "collector.prob_coef.%d", l);
		if (st_load_f32(ck, name, 1, sd, alpha + (size_t)l * D, err))
			goto fail;
		snprintf(name, sizeof name, "collector.prob_bias.%d", l);
		if (st_load_f32(ck, name, 1, sd, beta + (size_t)l * D, err))
			goto fail;
		if (l + 1 < L) {
			links[l] = raw + (size_t)l * D * D;
			snprintf(name, sizeof name, "collector.links.%d", l);
			if (st_load_f32(ck, name, 2, sl, raw + (size_t)l * D * D, err))
				goto fail;
		}
	}
	op_ctx ctx; /* host memory, once per load: a one-thread CPU context of its own */
	if (op_ctx_init(&ctx, OP_DEVICE_CPU, 1)) {
		fmt_fail(err, "%s: %s", ck->path, ctx.err);
		goto fail;
	}
	int rc = avsl_collector_view_build(&ctx, &out->view, L, D, cfg->topk, cfg->prob_gamma, cfg->index_p, links, a,
					   b, st);
	if (rc)
		fmt_fail(err, "%s: collector: %s", ck->path, ctx.err);
	op_ctx_free(&ctx);
	if (rc)
		goto fail;
	out->storage = st;
	return 0;
fail:
	free(st);
	memset(out, 0, sizeof *out);
	return -1;
}

int avsl_collector_view_build(op_ctx *ctx, avsl_collector_view *v, int levels, int D, int topk, float gamma_p,
			      float p, const float *const links[], const float *const alpha[], const float *const beta[],
			      float *s_hat_storage)
{
	memset(v, 0, sizeof *v);
	v->levels = levels;
	v->dim = D;
	v->gamma_p = gamma_p;
	v->p = p;
	for (int l = 0; l < levels; l++) {
		v->alpha[l] = alpha[l];
		v->beta[l] = beta[l];
		if (l + 1 < levels) {
			float *s = s_hat_storage + (size_t)l * D * D;
			if (op_avsl_link_prepare(ctx, links[l], D, topk, s))
				return -1;
			v->s_hat[l] = s;
		}
	}
	return 0;
}

void avsl_collector_free(avsl_collector_eval *c)
{
	free(c->storage);
	memset(c, 0, sizeof *c);
}
