/* baseline_head.c: see baseline_head.h. */
#include "baseline_head.h"
#include "devmem.h"
#include "dist.h"
#include "rng.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct baseline_head {
	baseline_head_config cfg;
	op_ctx *ctx; /* cfg.ctx, or &own */
	op_ctx own;  /* the head's own CPU context when cfg.ctx is NULL */
	int iw, ib, ip;
	int N, HW;
	float *g;      /* (N, C) pooled */
	int32_t *am;   /* (N, C) */
	float *e, *xh; /* (N, D) raw and normalised embeddings */
	float *ph;     /* (K, D) normalised proxies */
	/* Data parallel (dist.h): the loss couples the global batch of NG <= N * world images; s holds every rank's
	 * similarity rows (gathered), ds the global loss gradient, of which this rank back-propagates its rows. */
	int NGmax;     /* N * world */
	int32_t *glab; /* (NG) global labels */
	float *s, *ds; /* (NG, K) similarities and dL/ds */
	float *d;      /* (NG, K) distances sqrt(2 - 2 s) (distance variant only) */
	float *dxh, *de; /* (N, D) */
	float *dph;    /* (K, D) */
	float *dg;     /* (N, C) */
	int32_t *cols; /* (K) 0..K-1, where the ops read them */
	int32_t *dlab; /* (NG) the global batch's labels, where the ops read them */
};

baseline_head *baseline_head_create(const baseline_head_config *cfg, paramset *ps)
{
	baseline_head *h = xcalloc(1, sizeof *h);
	h->cfg = *cfg;
	if (h->cfg.threads < 1)
		h->cfg.threads = 1;
	h->ctx = cfg->ctx;
	if (!h->ctx) {
		if (op_ctx_init(&h->own, OP_DEVICE_CPU, h->cfg.threads))
			die("baseline head: %s", h->own.err);
		h->ctx = &h->own;
	}
	int64_t sw[2] = {cfg->D, cfg->C}, sb[1] = {cfg->D}, sp[2] = {cfg->K, cfg->D};
	h->iw = paramset_add(ps, "embedder.linear.weight", 2, sw, PG_EMBEDDER, 1);
	h->ib = paramset_add(ps, "embedder.linear.bias", 1, sb, PG_EMBEDDER, 1);
	h->ip = paramset_add(ps, "collector.proxies", 2, sp, PG_COLLECTOR, 1);
	return h;
}

/* Every buffer but glab (MPI staging, CPU only) lives in the memory of the head's context (devmem). */
static void bplan_free(baseline_head *h)
{
	op_ctx *ctx = h->ctx;
	void **dev[] = {(void **)&h->g, (void **)&h->am, (void **)&h->e, (void **)&h->xh, (void **)&h->ph,
			(void **)&h->s, (void **)&h->ds, (void **)&h->d, (void **)&h->dxh, (void **)&h->de,
			(void **)&h->dph, (void **)&h->dg, (void **)&h->cols, (void **)&h->dlab};
	for (size_t i = 0; i < sizeof dev / sizeof *dev; i++) {
		devmem_free(ctx, *dev[i]);
		*dev[i] = NULL;
	}
	free(h->glab);
	h->glab = NULL;
}

void baseline_head_free(baseline_head *h)
{
	if (!h)
		return;
	bplan_free(h);
	if (h->ctx == &h->own)
		op_ctx_free(&h->own);
	free(h);
}

void baseline_head_init(baseline_head *h, paramset *ps, uint64_t seed)
{
	const int C = h->cfg.C, D = h->cfg.D, K = h->cfg.K;
	rng r;
	rng_init(&r, seed, rng_stream_id(0xb1, 1, 0));
	float *w = paramset_data(ps, h->iw);
	for (size_t i = 0; i < (size_t)D * C; i++)
		w[i] = (float)(rng_normal(&r) * sqrt(2.0 / D));
	memset(paramset_data(ps, h->ib), 0, sizeof(float) * D);
	rng_init(&r, seed, rng_stream_id(0xb1, 2, 0));
	float *p = paramset_data(ps, h->ip), bound = 1.0f / sqrtf((float)D);
	for (size_t i = 0; i < (size_t)K * D; i++)
		p[i] = (2.0f * rng_uniform(&r) - 1.0f) * bound;
}

void baseline_head_plan(baseline_head *h, int N, int H, int W)
{
	bplan_free(h);
	const int C = h->cfg.C, D = h->cfg.D, K = h->cfg.K;
	h->N = N;
	h->HW = H * W;
	h->NGmax = N * dist_world();
	const int NG = h->NGmax;
	op_ctx *ctx = h->ctx;
	h->g = devmem_alloc(ctx, (size_t)N * C, sizeof(float));
	h->am = devmem_alloc(ctx, (size_t)N * C, sizeof(int32_t));
	h->e = devmem_alloc(ctx, (size_t)N * D, sizeof(float));
	h->xh = devmem_alloc(ctx, (size_t)N * D, sizeof(float));
	h->ph = devmem_alloc(ctx, (size_t)K * D, sizeof(float));
	h->s = devmem_alloc(ctx, (size_t)NG * K, sizeof(float));
	h->ds = devmem_alloc(ctx, (size_t)NG * K, sizeof(float));
	h->d = devmem_alloc(ctx, (size_t)NG * K, sizeof(float));
	h->glab = xmalloc_array((size_t)NG, sizeof(int32_t));
	h->dlab = devmem_alloc(ctx, (size_t)NG, sizeof(int32_t));
	h->dxh = devmem_alloc(ctx, (size_t)N * D, sizeof(float));
	h->de = devmem_alloc(ctx, (size_t)N * D, sizeof(float));
	h->dph = devmem_alloc(ctx, (size_t)K * D, sizeof(float));
	h->dg = devmem_alloc(ctx, (size_t)N * C, sizeof(float));
	int32_t *cols = xmalloc_array((size_t)K, sizeof(int32_t));
	for (int k = 0; k < K; k++)
		cols[k] = k;
	h->cols = devmem_alloc(ctx, (size_t)K, sizeof(int32_t));
	devmem_upload(ctx, h->cols, cols, sizeof(int32_t) * (size_t)K);
	OP_DO(ctx, op_ctx_sync(ctx)); /* cols is freed next */
	free(cols);
}

static void bforward(baseline_head *h, paramset *ps, const float *feat, int N, float *g, int32_t *am, float *e,
		     float *xh)
{
	const int C = h->cfg.C, D = h->cfg.D;
	op_ctx *ctx = h->ctx;
	OP_DO(ctx, op_avsl_pool_fwd(ctx, feat, N, C, h->HW, g, am));
	OP_DO(ctx, op_linear_fwd(ctx, N, C, D, g, paramset_op_data(ps, h->iw), paramset_op_data(ps, h->ib), e, 0));
	devmem_copy(ctx, xh, e, (size_t)N * D);
	OP_DO(ctx, op_avsl_normalize_rows(ctx, xh, N, D, 2.0f));
}

float baseline_head_train_step(baseline_head *h, paramset *ps, const float *feat, const int32_t *labels, int N,
			       float *dfeat)
{
	const int C = h->cfg.C, D = h->cfg.D, K = h->cfg.K;
	op_ctx *ctx = h->ctx;
	if (N > h->N || N < 1)
		die("internal error: baseline head planned for %d images, got %d", h->N, N);
	for (int i = 0; i < N; i++)
		if (labels[i] < 0 || labels[i] >= K)
			die("label %d out of range [0, %d)", labels[i], K);
	bforward(h, ps, feat, N, h->g, h->am, h->e, h->xh);
	const float *P = paramset_op_data(ps, h->ip);
	devmem_copy(ctx, h->ph, P, (size_t)K * D);
	OP_DO(ctx, op_avsl_normalize_rows(ctx, h->ph, K, D, 2.0f));
	/* this rank's rows of s at their global place, then everyone's */
	dist_rows rows;
	dist_rows_plan(&rows, N);
	const int NG = rows.total;
	float *sl = h->s + (size_t)rows.first * K; /* (N, K) */
	/* s = xh ph^T: a linear layer with the proxies as weights, no bias */
	OP_DO(ctx, op_linear_fwd(ctx, N, D, K, h->xh, h->ph, NULL, sl, 0));
	const int32_t *glabels = labels; /* host */
	if (dist_world() > 1) { /* MPI runs on the CPU: s is host memory there */
		dist_gather_rows(&rows, labels, sizeof(int32_t), h->glab, 1);
		dist_gather_rows(&rows, sl, sizeof(float) * K, h->s, 1);
		glabels = h->glab;
	}
	devmem_upload(ctx, h->dlab, glabels, sizeof(int32_t) * (size_t)NG);
	float loss;
	if (h->cfg.distance) {
		/* The AVSL repository's proxy_anchor (§4.3 last paragraph, §11-P1): the non-squared Euclidean distance of
		 * the unit vectors, d = ||x - p|| = sqrt(2 - 2 s), under the distance Proxy-Anchor of §4.1. */
		size_t NK = (size_t)NG * K;
		OP_DO(ctx, op_unit_dist(ctx, h->s, NK, h->d));
		OP_DO(ctx, op_pa_dist_loss(ctx, h->d, NG, K, h->dlab, h->cols, h->cfg.pa_pos, h->cfg.pa_neg,
					   h->cfg.pa_alpha, h->ds, &loss));
		/* dd/ds = -1 / d; at d = 0 (x on its proxy) the derivative is unbounded: no gradient there. */
		OP_DO(ctx, op_unit_dist_bwd(ctx, h->d, NK, h->ds));
	} else {
		OP_DO(ctx, op_pa_cos_loss(ctx, h->s, NG, K, h->dlab, h->cols, h->cfg.delta, h->cfg.alpha, h->ds,
		      &loss));
	}
	/* s = xh ph^T over this rank's rows: dxh = ds ph, dph = ds^T xh (a partial sum the trainer's all-reduce
	 * completes) */
	const float *dsl = h->ds + (size_t)rows.first * K; /* (N, K) */
	dist_rows_free(&rows);
	OP_DO(ctx, op_memset(ctx, h->dph, 0, sizeof(float) * K * D)); /* the op accumulates into dw */
	OP_DO(ctx, op_linear_bwd(ctx, N, D, K, h->xh, h->ph, dsl, h->dxh, h->dph, NULL));
	OP_DO(ctx, op_avsl_normalize_rows_bwd(ctx, P, h->dph, K, D, 2.0f, h->dph));
	OP_DO(ctx, op_axpby(ctx, (size_t)K * D, 1.0f, h->dph, 1.0f, paramset_op_grad(ps, h->ip))); /* dP += dph */
	OP_DO(ctx, op_avsl_normalize_rows_bwd(ctx, h->e, h->dxh, N, D, 2.0f, h->de));
	OP_DO(ctx, op_linear_bwd(ctx, N, C, D, h->g, paramset_op_data(ps, h->iw), h->de, h->dg,
				 paramset_op_grad(ps, h->iw), paramset_op_grad(ps, h->ib)));
	OP_DO(ctx, op_avsl_pool_bwd(ctx, h->dg, h->am, N, C, h->HW, dfeat));
	return loss;
}

void baseline_head_embed(baseline_head *h, paramset *ps, const float *feat, int N, float *emb)
{
	const int C = h->cfg.C, D = h->cfg.D;
	op_ctx *ctx = h->ctx; /* feat, emb and the scratch in its memory (CUDA: device memory) */
	float *g = devmem_alloc(ctx, (size_t)N * C, sizeof(float)), *e = devmem_alloc(ctx, (size_t)N * D, sizeof(float));
	int32_t *am = devmem_alloc(ctx, (size_t)N * C, sizeof(int32_t));
	bforward(h, ps, feat, N, g, am, e, emb);
	devmem_free(ctx, g);
	devmem_free(ctx, e);
	devmem_free(ctx, am);
}
