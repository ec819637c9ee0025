/* optim.c: see optim.h. */
#include "optim.h"
#include "devmem.h"
#include "threadpool.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static float *alloc_like(const paramset *ps)
{
	size_t bytes;
	if (size_mul(ps->total ? ps->total : 16, sizeof(float), &bytes))
		die("optimiser state too large");
	float *p = aligned_alloc(64, bytes);
	if (!p)
		die("out of memory allocating %zu bytes of optimiser state", bytes);
	memset(p, 0, bytes);
	return p;
}

static int in_group(const param_info *p, param_group g) { return p->trainable && p->group == g && g != PG_NONE; }

/* The trainable tensors as segments: one range per run of adjacent tensors of one group, in offset order. seg: at
 * least ps->n entries. */
static int make_segments(const paramset *ps, avsl_adamw_segment *seg)
{
	int n = 0;
	for (int i = 0; i < ps->n; i++) {
		const param_info *pi = &ps->info[i];
		if (!in_group(pi, pi->group) || pi->numel == 0)
			continue;
		if (n > 0 && seg[n - 1].group == (int32_t)pi->group && seg[n - 1].offset + seg[n - 1].numel == pi->offset) {
			seg[n - 1].numel += pi->numel;
			continue;
		}
		memset(&seg[n], 0, sizeof seg[n]);
		seg[n].offset = pi->offset;
		seg[n].numel = pi->numel;
		seg[n].group = (int32_t)pi->group;
		n++;
	}
	return n;
}

void adamw_init(adamw *o, paramset *ps)
{
	if (!ps->finalized)
		die("internal error: adamw_init before paramset_finalize");
	memset(o, 0, sizeof *o);
	o->ps = ps;
	o->beta1 = 0.9;
	o->beta2 = 0.999;
	o->eps = 1e-8;
	for (int g = 0; g < PG_COUNT; g++)
		o->group[g].active = 1;
	o->m = alloc_like(ps);
	o->v = alloc_like(ps);
	o->seg = xmalloc_array(ps->n ? (size_t)ps->n : 1, sizeof *o->seg);
	o->nseg = make_segments(ps, o->seg);
}

void adamw_free(adamw *o)
{
	if (o->dev_m) {
		op_free(o->ctx, o->dev_m);
		op_free(o->ctx, o->dev_v);
	}
	free(o->m);
	free(o->v);
	free(o->seg);
	if (o->own_open)
		op_ctx_free(&o->own);
	memset(o, 0, sizeof *o);
}

op_ctx *adamw_ctx(adamw *o)
{
	if (o->ctx)
		return o->ctx;
	if (!o->own_open) {
		if (op_ctx_init(&o->own, OP_DEVICE_CPU, o->threads > 0 ? o->threads : avsl_cpu_count()))
			die("%s", o->own.err);
		o->own_open = 1;
	}
	return &o->own;
}

void adamw_to_device(adamw *o, op_ctx *ctx)
{
	o->ctx = ctx;
	if (ctx->device == OP_DEVICE_CPU)
		return;
	size_t bytes = (o->ps->total ? o->ps->total : 16) * sizeof(float);
	if ((!o->dev_m && op_alloc(ctx, (void **)&o->dev_m, bytes)) || (!o->dev_v && op_alloc(ctx, (void **)&o->dev_v,
											       bytes)))
		devmem_die_no_room(ctx, "the Adam moments", 2 * bytes);
	OP_DO(ctx, op_upload(ctx, o->dev_m, o->m, bytes));
	OP_DO(ctx, op_upload(ctx, o->dev_v, o->v, bytes));
	OP_DO(ctx, op_ctx_sync(ctx));
}

void adamw_download(adamw *o)
{
	if (!o->dev_m)
		return;
	size_t bytes = o->ps->total * sizeof(float);
	OP_DO(o->ctx, op_download(o->ctx, o->m, o->dev_m, bytes));
	OP_DO(o->ctx, op_download(o->ctx, o->v, o->dev_v, bytes));
}

size_t adamw_group_numel(const adamw *o, param_group g)
{
	size_t n = 0;
	for (int i = 0; i < o->ps->n; i++)
		if (in_group(&o->ps->info[i], g))
			n += o->ps->info[i].numel;
	return n;
}

void adamw_step(adamw *o)
{
	avsl_adamw_group G[PG_COUNT];
	adamw_prepare_groups(o, G);
	op_ctx *ctx = adamw_ctx(o);
	paramset *ps = o->ps;
	float *m = o->dev_m ? o->dev_m : o->m, *v = o->dev_v ? o->dev_v : o->v;
	OP_DO(ctx, op_adamw_step(ctx, paramset_op_values(ps), paramset_op_grads(ps), m, v, o->seg, o->nseg, G,
				 PG_COUNT));
}

void adamw_prepare_groups(adamw *o, avsl_adamw_group groups[PG_COUNT])
{
	memset(groups, 0, PG_COUNT * sizeof *groups);
	for (int g = 1; g < PG_COUNT; g++) {
		adamw_group *gr = &o->group[g];
		if (!gr->active)
			continue;
		gr->step++;
		groups[g].lr = gr->lr;
		groups[g].wd = gr->wd;
		groups[g].beta1 = o->beta1;
		groups[g].beta2 = o->beta2;
		groups[g].eps = o->eps;
		groups[g].step = gr->step;
		groups[g].active = 1;
	}
}

int adamw_segments(const adamw *o, avsl_adamw_segment *seg)
{
	memcpy(seg, o->seg, (size_t)o->nseg * sizeof *seg);
	return o->nseg;
}

double steplr_lr(double lr0, int epoch, int warm_up, int step, double gamma)
{
	if (epoch < warm_up)
		return lr0;
	if (step < 1)
		step = 1;
	int k = (epoch - warm_up) / step;
	double lr = lr0;
	/* Repeated multiplication like torch's chained StepLR (lr *= gamma at each boundary). */
	for (int i = 0; i < k; i++)
		lr *= gamma;
	return lr;
}

/* The squared norms of group g's trainable tensors, summed in tensor order (each by op_sq_norm: deterministic). */
static double group_sumsq(op_ctx *ctx, const paramset *ps, param_group g)
{
	double ss = 0;
	for (int i = 0; i < ps->n; i++) {
		const param_info *pi = &ps->info[i];
		if (!in_group(pi, g))
			continue;
		double s;
		OP_DO(ctx, op_sq_norm(ctx, paramset_op_grad(ps, i), pi->numel, &s));
		ss += s;
	}
	return ss;
}

double grad_norm_group(op_ctx *ctx, const paramset *ps, param_group g) { return sqrt(group_sumsq(ctx, ps, g)); }

double grad_clip_group(op_ctx *ctx, paramset *ps, param_group g, double max_norm)
{
	double norm = grad_norm_group(ctx, ps, g);
	double coef = max_norm / (norm + 1e-6);
	if (coef >= 1.0)
		return norm;
	for (int i = 0; i < ps->n; i++) {
		const param_info *pi = &ps->info[i];
		if (in_group(pi, g))
			OP_DO(ctx, op_scale(ctx, paramset_op_grad(ps, i), pi->numel, (float)coef));
	}
	return norm;
}

int optim_clip_due(clip_mode mode, int64_t iter)
{
	switch (mode) {
	case CLIP_FIRST: return iter == 0;
	case CLIP_EVERY: return 1;
	default: return 0;
	}
}

static const char *const clip_names[] = {"first", "every", "never"};

int clip_mode_parse(const char *s)
{
	for (int i = 0; i < 3; i++)
		if (strcmp(s, clip_names[i]) == 0)
			return i;
	return -1;
}

const char *clip_mode_name(clip_mode m) { return (unsigned)m < 3 ? clip_names[m] : "?"; }
