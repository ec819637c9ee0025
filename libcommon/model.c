/* model.c: see model.h. The composition only: the mathematics lives in resnet.c, avsl_head.c, baseline_head.c. */
#include "model.h"
#include "devmem.h"
#include "dist.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void model_create(model *m, const train_config *c, int K, avsl_device *dev)
{
	memset(m, 0, sizeof *m);
	m->dev = dev;
	m->setting = c->setting;
	m->in_channels = c->channels;
	m->input_size = c->input_size;
	m->D = c->embeddings_dim;
	m->K = K;
	paramset_init(&m->ps);
	resnet_config rc = {
		.arch = train_config_arch(c),
		.in_channels = c->channels,
		.base_width = c->base_width,
		.freeze_bn = !c->not_freeze_bn,
		.ctx = &dev->ctx,
	};
	m->trunk = resnet_create(&rc, &m->ps);
	int first_head = m->ps.n;
	/* Channels of the three levels do not depend on the input size: plan a tiny batch to read them. */
	resnet_plan(m->trunk, 1, c->input_size, c->input_size);
	for (int l = 0; l < MODEL_LEVELS; l++)
		resnet_feature_shape(m->trunk, l, &m->C[l], &m->H[l], &m->W[l]);
	if (m->setting == SETTING_AVSL) {
		avsl_head_config *a = &m->acfg;
		a->levels = MODEL_LEVELS;
		for (int l = 0; l < MODEL_LEVELS; l++) {
			a->C[l] = m->C[l];
			/* --feature_dim_list names the embedder inputs; the trunk decides them, so a mismatch is a mistake
			 * in the command line (e.g. resnet50 channels with a resnet18 trunk). */
			static const int official[MODEL_LEVELS] = {512, 1024, 2048};
			int given = c->feature_dim_list[0] != official[0] || c->feature_dim_list[1] != official[1] ||
				    c->feature_dim_list[2] != official[2];
			if (given && c->feature_dim_list[l] != m->C[l])
				warn("--feature_dim_list: level %d has %d channels in %s, not %d; using %d", l, m->C[l],
				     rc.arch, c->feature_dim_list[l], m->C[l]);
		}
		a->D = c->embeddings_dim;
		a->K = K;
		a->avsl_m = (float)c->avsl_m;
		a->topk = c->topk_corr;
		a->prob_gamma = (float)c->prob_gamma;
		a->index_p = (float)c->index_p;
		a->pa_pos = (float)c->pa_pos_margin;
		a->pa_neg = (float)c->pa_neg_margin;
		a->pa_alpha = (float)c->pa_alpha;
		a->final_pa_pos = (float)c->final_pa_pos_margin;
		a->final_pa_neg = (float)c->final_pa_neg_margin;
		a->final_pa_alpha = (float)c->final_pa_alpha;
		for (int l = 0; l < MODEL_LEVELS; l++)
			a->loss_w[l] = (float)c->loss_weight[l];
		a->batch_classes_above = 1000;
		a->threads = dev->threads;
		a->ctx = &dev->ctx;
		m->avsl = avsl_head_create(a, &m->ps);
	} else {
		baseline_head_config *b = &m->bcfg;
		b->C = m->C[MODEL_LEVELS - 1];
		b->D = c->embeddings_dim;
		b->K = K;
		b->delta = (float)c->proxyanchor_margin;
		b->alpha = (float)c->proxyanchor_alpha;
		b->distance = c->baseline_distance;
		b->pa_pos = (float)c->pa_pos_margin;
		b->pa_neg = (float)c->pa_neg_margin;
		b->pa_alpha = (float)c->pa_alpha;
		b->threads = dev->threads;
		b->ctx = &dev->ctx;
		m->base = baseline_head_create(b, &m->ps);
	}
	paramset_finalize(&m->ps);
	m->head_off = first_head < m->ps.n ? m->ps.info[first_head].offset : m->ps.total;
}

static void free_device_io(model *m)
{
	op_ctx *ctx = &m->dev->ctx;
	devmem_free(ctx, m->dx);
	m->dx = NULL;
	m->dx_n = 0;
	for (int l = 0; l < MODEL_LEVELS; l++) {
		devmem_free(ctx, m->demb[l]);
		devmem_free(ctx, m->dcert[l]);
		m->demb[l] = m->dcert[l] = NULL;
	}
}

void model_free(model *m)
{
	if (m->dev) {
		free_device_io(m);
		for (int l = 0; l < MODEL_LEVELS; l++)
			devmem_free(&m->dev->ctx, m->dfeat[l]);
	}
	if (m->avsl)
		avsl_head_free(m->avsl);
	if (m->base)
		baseline_head_free(m->base);
	resnet_free(m->trunk);
	paramset_free(&m->ps);
	memset(m, 0, sizeof *m);
}

void model_init_random(model *m, uint64_t seed)
{
	/* Distinct streams per part so changing one part's initialisation never shifts another's. */
	resnet_init(m->trunk, &m->ps, seed * 3 + 1);
	if (m->avsl)
		avsl_head_init(m->avsl, &m->ps, seed * 3 + 2);
	else
		baseline_head_init(m->base, &m->ps, seed * 3 + 2);
}

void model_load_trunk(model *m, const char *path)
{
	st_file f;
	fmt_error err;
	if (st_open(&f, path, &err))
		die("%s", err.msg);
	if (resnet_load_torchvision(m->trunk, &m->ps, &f, &err))
		die("%s", err.msg);
	st_close(&f);
}

/* The head serves training and inference: planned for the larger of the two batches. */
static void head_plan(model *m, int N)
{
	if (N <= m->head_n)
		return;
	if (m->avsl)
		avsl_head_plan(m->avsl, N, m->H, m->W);
	else
		baseline_head_plan(m->base, N, m->H[MODEL_LEVELS - 1], m->W[MODEL_LEVELS - 1]);
	m->head_n = N;
}

/* The device's input buffer for batches of up to N images (a no-op on the CPU, where the ops read the batch). */
static void plan_input(model *m, int N)
{
	op_ctx *ctx = &m->dev->ctx;
	if (!devmem_is_device(ctx) || N <= m->dx_n)
		return;
	devmem_free(ctx, m->dx);
	m->dx = devmem_alloc(ctx, (size_t)N * m->in_channels, (size_t)m->input_size * m->input_size * sizeof(float));
	m->dx_n = N;
}

void model_plan(model *m, int N)
{
	resnet_plan(m->trunk, N, m->input_size, m->input_size);
	m->train_bytes = resnet_plan_bytes(m->trunk);
	if (N <= m->planned_n)
		return;
	op_ctx *ctx = &m->dev->ctx;
	for (int l = 0; l < MODEL_LEVELS; l++) {
		resnet_feature_shape(m->trunk, l, &m->C[l], &m->H[l], &m->W[l]);
		devmem_free(ctx, m->dfeat[l]);
		m->dfeat[l] = devmem_alloc(ctx, (size_t)N * m->C[l], (size_t)m->H[l] * m->W[l] * sizeof(float));
	}
	head_plan(m, N);
	plan_input(m, N);
	m->planned_n = N;
}

void model_to_device(model *m)
{
	op_ctx *ctx = &m->dev->ctx;
	if (!devmem_is_device(ctx))
		return;
	paramset_to_device(&m->ps, ctx);
	m->params_on_device = 1;
}

/* AVSL_FULL_PLAN=1: inference on the training plan (every activation kept), to compare the two plans' outputs and
 * memory; the numbers are the same either way. */
static int full_plan(void)
{
	const char *e = getenv("AVSL_FULL_PLAN");
	return e && strcmp(e, "1") == 0;
}

static void trunk_plan_embed(model *m, int N)
{
	if (full_plan())
		resnet_plan(m->trunk, N, m->input_size, m->input_size);
	else
		resnet_plan_forward(m->trunk, N, m->input_size, m->input_size);
}

void model_plan_embed(model *m, int N)
{
	trunk_plan_embed(m, N);
	m->embed_bytes = resnet_plan_bytes(m->trunk);
	if (N <= m->embed_n)
		return;
	head_plan(m, N);
	m->embed_n = N;
	op_ctx *ctx = &m->dev->ctx;
	if (!devmem_is_device(ctx))
		return;
	plan_input(m, N);
	for (int l = 0; l < model_levels(m); l++) {
		devmem_free(ctx, m->demb[l]);
		devmem_free(ctx, m->dcert[l]);
		m->demb[l] = devmem_alloc(ctx, (size_t)N, (size_t)m->D * sizeof(float));
		if (model_has_cert(m))
			m->dcert[l] = devmem_alloc(ctx, (size_t)N, (size_t)m->D * sizeof(float));
	}
}

const char *model_embed_cuda_missing(const train_config *c, char *buf, size_t cap)
{
	/* the trunk's forward (frozen BN folded into the convolutions, or BN in eval mode), then the head's */
	static const op_id trunk[] = {OPID_bn_fold, OPID_conv_fold_weights, OPID_conv2d_fwd, OPID_affine_act_fwd,
				      OPID_maxpool_fwd, OPID_layout_convert};
	static const op_id avsl[] = {OPID_avsl_pool_fwd, OPID_linear_fwd, OPID_avsl_cam_fwd, OPID_avsl_certainty};
	static const op_id base[] = {OPID_avsl_pool_fwd, OPID_linear_fwd, OPID_avsl_normalize_rows};
	enum { NT = sizeof trunk / sizeof *trunk };
	op_id ops[NT + 4];
	int n = 0;
	for (int i = 0; i < NT; i++)
		ops[n++] = trunk[i];
	int is_avsl = c->setting == SETTING_AVSL;
	const op_id *head = is_avsl ? avsl : base;
	int nh = is_avsl ? (int)(sizeof avsl / sizeof *avsl) : (int)(sizeof base / sizeof *base);
	for (int i = 0; i < nh; i++)
		ops[n++] = head[i];
	return avsl_cuda_missing_ops(ops, n, buf, cap);
}

int model_levels(const model *m) { return m->avsl ? MODEL_LEVELS : 1; }
int model_has_cert(const model *m) { return m->avsl != NULL; }

/* The trunk computes exactly the batch it was planned for (its BN statistics and backward cover every planned
 * image), so a batch of another size or the other kind (a training step after an evaluation, a last partial
 * batch) re-plans it; the arena only grows, to the larger of the two plans. */
static void trunk_batch(model *m, int N, int embed)
{
	int cap = embed ? m->embed_n : m->planned_n;
	if (N > cap)
		die("internal error: batch of %d images, planned for %d", N, cap);
	if (embed)
		trunk_plan_embed(m, N);
	else
		resnet_plan(m->trunk, N, m->input_size, m->input_size);
}

/* resnet grad-ready hook: trunk gradients [off, sync_pending) are final; start them once a bucket is big enough
 * (or the stem is done), else let MPI move the started ones along. */
static void grad_ready(void *ctx, size_t off)
{
	model *m = ctx;
	if (m->sync_pending - off >= m->bucket_floats || off == 0) {
		dist_bucket_start(m->ps.grad + off, m->sync_pending - off);
		m->sync_pending = off;
	} else {
		dist_progress();
	}
}

void model_set_grad_sync(model *m, int on, int overlap)
{
	m->grad_sync = on && dist_world() > 1;
	m->overlap = overlap;
	m->bucket_floats = (size_t)1 << 20; /* 4 MB: few enough messages, early enough starts */
	resnet_set_grad_ready_hook(m->trunk, m->grad_sync && overlap ? grad_ready : NULL, m);
}

static void bn_sum(double *buf, size_t n, void *arg)
{
	(void)arg;
	dist_allreduce_f64(buf, n);
}

void model_set_sync_bn(model *m, int on)
{
	const bn_sync sy = {bn_sum, NULL};
	/* one process: the plain BN ops (bit-identical to a run without --sync-bn) */
	resnet_set_bn_sync(m->trunk, on && dist_world() > 1 ? &sy : NULL);
}

float model_train_step(model *m, const float *x, const int32_t *labels, int N, int trunk_grads, float loss_terms[4])
{
	trunk_batch(m, N, 0);
	op_ctx *ctx = &m->dev->ctx;
	if (devmem_is_device(ctx)) {
		/* the batch is normalised on the host by the loader and uploaded as float32 (the parameters are there:
		 * model_to_device) */
		if (!m->ps.dev_grad)
			die("internal error: model_train_step on %s before model_to_device", op_backend_name(ctx));
		devmem_upload(ctx, m->dx, x, (size_t)N * m->in_channels * m->input_size * m->input_size * sizeof(float));
		x = m->dx;
	}
	const float *feat[MODEL_LEVELS];
	resnet_forward(m->trunk, &m->ps, x, 1, feat);
	float loss;
	const float *dfeat[MODEL_LEVELS] = {NULL, NULL, NULL};
	if (m->avsl) {
		loss = avsl_head_train_step(m->avsl, &m->ps, feat, labels, N, m->dfeat, loss_terms);
		for (int l = 0; l < MODEL_LEVELS; l++)
			dfeat[l] = m->dfeat[l];
	} else {
		/* The baseline reads only the last level (layer4). */
		loss = baseline_head_train_step(m->base, &m->ps, feat[MODEL_LEVELS - 1], labels, N,
						m->dfeat[MODEL_LEVELS - 1]);
		loss_terms[0] = loss;
		dfeat[MODEL_LEVELS - 1] = m->dfeat[MODEL_LEVELS - 1];
	}
	if (m->grad_sync && m->overlap) {
		/* the head's gradients are final: sum them while the trunk runs backward */
		dist_bucket_start(m->ps.grad + m->head_off, m->ps.total - m->head_off);
		m->sync_pending = m->head_off;
	}
	if (trunk_grads)
		resnet_backward(m->trunk, &m->ps, dfeat, 1);
	if (m->grad_sync) {
		if (!m->overlap) {
			/* without trunk gradients (warm-up) its part of the buffer is zero everywhere: skip it */
			size_t from = trunk_grads ? 0 : m->head_off;
			dist_allreduce_f32(m->ps.grad + from, m->ps.total - from);
		} else if (trunk_grads && m->sync_pending > 0)
			dist_bucket_start(m->ps.grad, m->sync_pending);
		dist_bucket_wait_all();
	}
	return loss;
}

void model_embed(model *m, const float *x, int N, float *const emb[], float *const cert[])
{
	trunk_batch(m, N, 1);
	op_ctx *ctx = &m->dev->ctx;
	int on_dev = devmem_is_device(ctx);
	float *const *e = emb, *const *u = cert;
	if (on_dev) {
		/* the batch is normalised on the host by the loader (as on the CPU) and uploaded as float32 */
		if (!m->params_on_device) {
			paramset_upload(&m->ps, ctx);
			m->params_on_device = 1;
		}
		devmem_upload(ctx, m->dx, x, (size_t)N * m->in_channels * m->input_size * m->input_size * sizeof(float));
		x = m->dx;
		e = m->demb;
		u = m->dcert;
	}
	const float *feat[MODEL_LEVELS];
	resnet_forward(m->trunk, &m->ps, x, 0, feat);
	if (m->avsl)
		avsl_head_embed(m->avsl, &m->ps, feat, N, e, u);
	else
		baseline_head_embed(m->base, &m->ps, feat[MODEL_LEVELS - 1], N, e[0]);
	if (!on_dev)
		return;
	for (int l = 0; l < model_levels(m); l++) {
		devmem_download(ctx, emb[l], m->demb[l], (size_t)N * m->D * sizeof(float));
		if (cert && model_has_cert(m))
			devmem_download(ctx, cert[l], m->dcert[l], (size_t)N * m->D * sizeof(float));
	}
}

static const float *named(const model *m, const char *name)
{
	int i = paramset_find(&m->ps, name);
	if (i < 0)
		die("internal error: no tensor %s", name);
	return paramset_data(&m->ps, i);
}

void model_collector_view(const model *m, avsl_collector_view *v, float *s_hat_storage)
{
	const avsl_head_config *a = &m->acfg;
	const float *links[AVSL_MAX_LEVELS - 1], *alpha[AVSL_MAX_LEVELS], *beta[AVSL_MAX_LEVELS];
	char name[64];
	for (int l = 0; l < a->levels; l++) {
		if (l + 1 < a->levels) {
			snprintf(name, sizeof name, "collector.links.%d", l);
			links[l] = named(m, name);
		}
		snprintf(name, sizeof name, "collector.prob_coef.%d", l);
		alpha[l] = named(m, name);
		snprintf(name, sizeof name, "collector.prob_bias.%d", l);
		beta[l] = named(m, name);
	}
	/* The view is host memory (the values above, s_hat_storage): built on the CPU whatever the model's device; a
	 * search on a device uploads it (knn_device.h). */
	op_ctx *mctx = resnet_ctx(m->trunk), cpu, *ctx = mctx;
	if (devmem_is_device(mctx)) {
		if (op_ctx_init(&cpu, OP_DEVICE_CPU, m->dev->threads))
			die("%s", cpu.err);
		ctx = &cpu;
	}
	OP_DO(ctx, avsl_collector_view_build(ctx, v, a->levels, a->D, a->topk, a->prob_gamma, a->index_p, links, alpha,
					     beta, s_hat_storage));
	if (ctx != mctx)
		op_ctx_free(&cpu);
}
