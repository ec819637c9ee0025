/* resnet.c: ResNet trunks on the op contract; see resnet.h.
 *
 * Activations (planned once per input shape, sliced from one arena):
 *   per conv+BN: conv_out (N,K,P,Q); bn_out (N,K,P,Q) = conv_out (BN applied in place) when BN is frozen, a
 *   separate buffer otherwise (training-mode BN backward needs the pre-BN values); the last BN of a block writes
 *   relu(bn + shortcut) straight into the block output. Backward uses four gradient buffers of the largest
 *   activation size, rotated per block (A: grad of the block output, B: ping-pong with A inside the block,
 *   C: downsample branch, D: grad of the block input).
 * A forward-only plan (resnet_plan_forward: inference) keeps nothing for a backward pass: each activation lives
 * from the op that writes it to the last op that reads it (arena.h's reuse planner), so activations that are never
 * live together share memory. The forward code is the same; only the addresses differ. Feature levels stay live
 * to the end, where they are copied into feat[].
 */
#include "resnet.h"
#include "arena.h"
#include "bn_sync.h"
#include "devmem.h"
#include "rng.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BN_EPS 1e-5f
#define BN_MOMENTUM 0.1f

typedef struct {
	int k, r, stride, pad, cin;    /* filters, size, stride, padding, input channels */
	int w, g, b, rm, rv;           /* paramset indices: conv weight, BN weight/bias/running mean/var */
	conv_shape cs;                 /* planned */
	float *conv_out, *bn_out;      /* (N,K,P,Q) */
	float *mean, *invstd, *scale, *shift; /* (K) batch mean / invstd of the last forward, folded affine */
	float *wf;                     /* (K,C,R,S) weights with the frozen BN scale folded in (frozen BN only) */
	const float *mean_used;        /* the mean the last forward normalised with (batch or running) */
	int out_id;                    /* forward-only plan: bn_out's slice id */
} convbn;

typedef struct {
	convbn c[3], ds;
	int nconv, has_ds;
	int level;       /* feature level this block ends, or -1 */
	const float *in; /* (N,Cin,H,W) block input (planned) */
	float *out;      /* (N,K,P,Q) block output */
	int out_id;      /* forward-only plan: the output's slice id */
} block;

struct resnet {
	resnet_config cfg;
	char arch[32];
	int cifar, bottleneck, layers[4], width;
	int first_param, last_param; /* [first, last) indices in ps */
	convbn stem;
	int has_pool;
	int fmt; /* activation layout inside the trunk: the backend's preferred one (op_preferred_layout) */
	pool_shape mp;
	int32_t *mp_idx;
	float *mp_out;
	block *blk;
	int nblk;
	int level_blk[3]; /* block index ending each feature level */
	int N, H, W, planned;
	int fwd_only;      /* the plan is forward-only (resnet_plan_forward): no backward */
	arena ar;
	arena_reuse reuse; /* forward-only plan: lifetimes and offsets of the activations */
	char *region;      /* forward-only plan: the arena slice the activations share */
	size_t region_bytes; /* forward-only plan: its size */
	size_t plan_bytes; /* the arena bytes the current plan needs */
	op_ctx *ctx; /* the device's (resnet_config.ctx), borrowed */
	float *gbuf[4];  /* (gmax) gradient buffers, blocked */
	float *feat[3];  /* (N,C_l,H_l,W_l) plain copies of the level outputs */
	size_t gmax;
	const float *x;
	int batch_stats;  /* last forward used batch statistics */
	int forwarded;
	void (*grad_ready)(void *ctx, size_t off); /* see resnet_set_grad_ready_hook */
	void *grad_ready_ctx;
	bn_sync sync;     /* see resnet_set_bn_sync; sync.sum NULL: each process normalises by its own batch */
};

void resnet_set_bn_sync(resnet *r, const bn_sync *sy)
{
	r->sync = sy ? *sy : (bn_sync){0};
}

void resnet_set_grad_ready_hook(resnet *r, void (*fn)(void *ctx, size_t off), void *ctx)
{
	r->grad_ready = fn;
	r->grad_ready_ctx = ctx;
}

/* Flat offset of block b's first tensor (its tensors are registered together, convolutions first). */
static size_t block_first_offset(const resnet *r, const paramset *ps, const block *b)
{
	int first = b->c[0].w;
	for (int j = 1; j < b->nconv; j++)
		first = b->c[j].w < first ? b->c[j].w : first;
	if (b->has_ds && b->ds.w < first)
		first = b->ds.w;
	(void)r;
	return ps->info[first].offset;
}

static void check(resnet *r, int rc)
{
	if (rc)
		die("resnet: %s", r->ctx->err);
}

static void add_convbn(resnet *r, paramset *ps, convbn *cb, const char *conv_name, const char *bn_name, int cin,
		       int k, int ks, int stride, int pad)
{
	char name[96];
	cb->k = k, cb->r = ks, cb->stride = stride, cb->pad = pad, cb->cin = cin;
	int64_t ws[4] = {k, cin, ks, ks}, vs[1] = {k};
	snprintf(name, sizeof name, "%s.weight", conv_name);
	cb->w = paramset_add(ps, name, 4, ws, PG_TRUNK, 1);
	int tr = !r->cfg.freeze_bn;
	snprintf(name, sizeof name, "%s.weight", bn_name);
	cb->g = paramset_add(ps, name, 1, vs, PG_TRUNK, tr);
	snprintf(name, sizeof name, "%s.bias", bn_name);
	cb->b = paramset_add(ps, name, 1, vs, PG_TRUNK, tr);
	snprintf(name, sizeof name, "%s.running_mean", bn_name);
	cb->rm = paramset_add(ps, name, 1, vs, PG_NONE, 0);
	snprintf(name, sizeof name, "%s.running_var", bn_name);
	cb->rv = paramset_add(ps, name, 1, vs, PG_NONE, 0);
}

resnet *resnet_create(const resnet_config *cfg, paramset *ps)
{
	resnet *r = xcalloc(1, sizeof *r);
	r->cfg = *cfg;
	const char *a = cfg->arch ? cfg->arch : "resnet50";
	snprintf(r->arch, sizeof r->arch, "%s", a);
	r->cfg.arch = r->arch;
	if (!strncmp(a, "cifar_", 6)) {
		r->cifar = 1;
		a += 6;
	}
	static const int l18[4] = {2, 2, 2, 2}, l34[4] = {3, 4, 6, 3};
	if (!strcmp(a, "resnet18"))
		memcpy(r->layers, l18, sizeof l18);
	else if (!strcmp(a, "resnet34") || !strcmp(a, "resnet50"))
		memcpy(r->layers, l34, sizeof l34);
	else
		die("unknown trunk architecture '%s' (resnet18, resnet34, resnet50, cifar_resnet18, ...)", cfg->arch);
	r->bottleneck = !strcmp(a, "resnet50");
	r->width = cfg->base_width > 0 ? cfg->base_width : 64;
	if (cfg->in_channels < 1)
		die("resnet: in_channels must be >= 1");
	r->ctx = cfg->ctx;
	/* the activation layout is the backend's choice (CPU: channel-blocked; CUDA: NCHW for cuDNN) */
	r->fmt = op_preferred_layout(r->ctx);
	devmem_arena(&r->ar, r->ctx); /* a CUDA device's activations live in its memory */
	r->first_param = ps->n;
	const int w0 = r->width, exp = r->bottleneck ? 4 : 1;
	if (r->cifar)
		add_convbn(r, ps, &r->stem, "conv1", "bn1", cfg->in_channels, w0, 3, 1, 1);
	else
		add_convbn(r, ps, &r->stem, "conv1", "bn1", cfg->in_channels, w0, 7, 2, 3);
	r->has_pool = !r->cifar;
	for (int l = 0; l < 4; l++)
		r->nblk += r->layers[l];
	r->blk = xcalloc((size_t)r->nblk, sizeof *r->blk);
	int inpl = w0, bi = 0;
	for (int l = 0; l < 4; l++) {
		int planes = w0 << l;
		for (int j = 0; j < r->layers[l]; j++, bi++) {
			block *b = &r->blk[bi];
			int stride = (j == 0 && l > 0) ? 2 : 1;
			char cn[64], bn[64], p[32];
			snprintf(p, sizeof p, "layer%d.%d", l + 1, j);
			b->level = -1;
			if (r->bottleneck) {
				b->nconv = 3;
				snprintf(cn, sizeof cn, "%s.conv1", p), snprintf(bn, sizeof bn, "%s.bn1", p);
				add_convbn(r, ps, &b->c[0], cn, bn, inpl, planes, 1, 1, 0);
				snprintf(cn, sizeof cn, "%s.conv2", p), snprintf(bn, sizeof bn, "%s.bn2", p);
				add_convbn(r, ps, &b->c[1], cn, bn, planes, planes, 3, stride, 1);
				snprintf(cn, sizeof cn, "%s.conv3", p), snprintf(bn, sizeof bn, "%s.bn3", p);
				add_convbn(r, ps, &b->c[2], cn, bn, planes, planes * exp, 1, 1, 0);
			} else {
				b->nconv = 2;
				snprintf(cn, sizeof cn, "%s.conv1", p), snprintf(bn, sizeof bn, "%s.bn1", p);
				add_convbn(r, ps, &b->c[0], cn, bn, inpl, planes, 3, stride, 1);
				snprintf(cn, sizeof cn, "%s.conv2", p), snprintf(bn, sizeof bn, "%s.bn2", p);
				add_convbn(r, ps, &b->c[1], cn, bn, planes, planes, 3, 1, 1);
			}
			if (stride != 1 || inpl != planes * exp) {
				b->has_ds = 1;
				snprintf(cn, sizeof cn, "%s.downsample.0", p), snprintf(bn, sizeof bn, "%s.downsample.1", p);
				add_convbn(r, ps, &b->ds, cn, bn, inpl, planes * exp, 1, stride, 0);
			}
			inpl = planes * exp;
		}
		if (l >= 1) {
			r->level_blk[l - 1] = bi - 1;
			r->blk[bi - 1].level = l - 1;
		}
	}
	r->last_param = ps->n;
	return r;
}

static void init_convbn(paramset *ps, convbn *cb, uint64_t seed)
{
	rng g;
	rng_init(&g, seed, (uint64_t)cb->w);
	const param_info *pi = &ps->info[cb->w];
	/* kaiming_normal_(mode="fan_out", nonlinearity="relu"): std = sqrt(2 / (K R S)) */
	double std = sqrt(2.0 / (double)(pi->shape[0] * pi->shape[2] * pi->shape[3]));
	float *w = paramset_data(ps, cb->w);
	for (size_t i = 0; i < pi->numel; i++)
		w[i] = (float)(std * rng_normal(&g));
	for (int c = 0; c < cb->k; c++) {
		paramset_data(ps, cb->g)[c] = 1;
		paramset_data(ps, cb->b)[c] = 0;
		paramset_data(ps, cb->rm)[c] = 0;
		paramset_data(ps, cb->rv)[c] = 1;
	}
}

void resnet_init(resnet *r, paramset *ps, uint64_t seed)
{
	init_convbn(ps, &r->stem, seed);
	for (int i = 0; i < r->nblk; i++) {
		for (int j = 0; j < r->blk[i].nconv; j++)
			init_convbn(ps, &r->blk[i].c[j], seed);
		if (r->blk[i].has_ds)
			init_convbn(ps, &r->blk[i].ds, seed);
	}
}

int resnet_load_torchvision(resnet *r, paramset *ps, const st_file *f, fmt_error *err)
{
	for (int i = r->first_param; i < r->last_param; i++) {
		const param_info *pi = &ps->info[i];
		if (st_load_f32(f, pi->name, pi->ndim, pi->shape, paramset_data(ps, i), err))
			return -1;
	}
	return 0;
}

/* An activation of n floats: a slice of its own in a training plan (everything is kept for the backward pass); in a
 * forward-only plan, a slice written at the current step whose bytes are shared with slices not live with it. *id
 * names it for act_read (-1 in a training plan). */
static float *act(resnet *r, size_t n, int *id)
{
	if (!r->fwd_only) {
		*id = -1;
		return arena_floats(&r->ar, n);
	}
	*id = reuse_new(&r->reuse, n);
	return reuse_ptr(&r->reuse, r->region, *id);
}

/* The current step reads activation id (forward-only plan: it stays live until here). */
static void act_read(resnet *r, int id)
{
	if (id >= 0)
		reuse_read(&r->reuse, id);
}

/* The next op of the forward pass. */
static void act_step(resnet *r)
{
	if (r->fwd_only)
		reuse_step(&r->reuse);
}

/* Plan one conv+BN on input (N,cin,h,w) (slice in_id) as one step of the forward pass; into: the block whose
 * output the BN writes (NULL: its own bn_out); res_id: the residual the BN adds (-1: none or a training plan).
 * (into, not the output pointer: that is NULL while measuring, which must still not count a slice of its own.) */
static void plan_convbn(resnet *r, convbn *cb, int h, int w, const block *into, int in_id, int res_id)
{
	arena *a = &r->ar;
	float *dst = into ? into->out : NULL;
	int tmp_id;
	cb->out_id = into ? into->out_id : -1;
	act_step(r);
	act_read(r, in_id);
	act_read(r, res_id);
	act_read(r, cb->out_id); /* a frozen-BN conv accumulates into the block output */
	cb->cs = conv_shape_make(r->N, cb->cin, h, w, cb->k, cb->r, cb->r, cb->stride, cb->pad);
	cb->cs.xfmt = cb == &r->stem ? OP_NCHW : r->fmt; /* the input image is plain, the rest in the trunk's layout */
	cb->cs.yfmt = r->fmt;
	size_t n = op_act_numel(r->N, cb->k, cb->cs.P * cb->cs.Q, r->fmt);
	if (n > r->gmax)
		r->gmax = n;
	if (r->cfg.freeze_bn) {
		/* BN folded into the conv: one buffer, written post-BN (post-ReLU) by the conv itself */
		cb->conv_out = cb->bn_out = into ? dst : act(r, n, &cb->out_id);
		cb->wf = act(r, (size_t)cb->k * cb->cin * cb->r * cb->r, &tmp_id); /* folded anew by every forward */
	} else {
		cb->conv_out = act(r, n, &tmp_id);
		cb->bn_out = into ? dst : act(r, n, &cb->out_id);
	}
	cb->mean = arena_floats(a, cb->k);
	cb->invstd = arena_floats(a, cb->k);
	cb->scale = arena_floats(a, cb->k);
	cb->shift = arena_floats(a, cb->k);
}

/* One recording of the plan, its calls in the order of the forward pass (resnet_forward). */
static void plan_pass(resnet *r)
{
	arena *a = &r->ar;
	arena_begin(a);
	if (r->fwd_only && r->reuse.placed) { /* second recording: the shared slice first, then the kept ones */
		r->region = (char *)arena_floats(a, r->region_bytes / sizeof(float));
		reuse_rewind(&r->reuse);
	}
	r->gmax = 0;
	plan_convbn(r, &r->stem, r->H, r->W, NULL, -1, -1);
	int C = r->stem.k, h = r->stem.cs.P, w = r->stem.cs.Q;
	const float *cur = r->stem.bn_out;
	int cur_id = r->stem.out_id, idx_id;
	if (r->has_pool) {
		r->mp = pool_shape_make(r->N, C, h, w, 3, 3, 2, 1);
		r->mp.fmt = r->fmt;
		size_t n = op_act_numel(r->N, C, r->mp.P * r->mp.Q, r->fmt);
		act_step(r);
		act_read(r, cur_id);
		r->mp_out = act(r, n, &cur_id);
		r->mp_idx = (int32_t *)act(r, n, &idx_id); /* read only by the backward pass */
		h = r->mp.P, w = r->mp.Q;
		cur = r->mp_out;
	}
	for (int i = 0; i < r->nblk; i++) {
		block *b = &r->blk[i];
		b->in = cur;
		convbn *last = &b->c[b->nconv - 1];
		int hh = h, ww = w;
		/* block output first, written by the shortcut (copy or frozen downsample), read by the last BN */
		conv_shape os = conv_shape_make(r->N, 1, h, w, 1, 1, 1, b->has_ds ? b->ds.stride : 1, 0);
		act_step(r);
		act_read(r, cur_id);
		b->out = act(r, op_act_numel(r->N, last->k, os.P * os.Q, r->fmt), &b->out_id);
		int res_id = r->cfg.freeze_bn ? -1 : cur_id; /* frozen: the shortcut is already in the block output */
		if (b->has_ds) { /* frozen: the folded downsample conv writes the shortcut straight into the block output */
			plan_convbn(r, &b->ds, h, w, r->cfg.freeze_bn ? b : NULL, cur_id, -1);
			res_id = b->ds.out_id;
		}
		int in_id = cur_id;
		for (int j = 0; j < b->nconv; j++) {
			convbn *cb = &b->c[j];
			int is_last = j == b->nconv - 1;
			plan_convbn(r, cb, hh, ww, is_last ? b : NULL, in_id, is_last ? res_id : -1);
			hh = cb->cs.P, ww = cb->cs.Q;
			in_id = cb->out_id;
		}
		if (hh != os.P || ww != os.Q)
			die("internal error: resnet block %d output %dx%d, shortcut %dx%d", i, hh, ww, os.P, os.Q);
		cur = b->out;
		cur_id = b->out_id;
		C = last->k, h = hh, w = ww;
	}
	for (int k = 0; k < 4; k++) /* a forward-only plan has no backward pass */
		r->gbuf[k] = r->fwd_only ? NULL : arena_floats(a, r->gmax);
	act_step(r); /* the level outputs are copied into feat[] after the last block */
	for (int l = 0; l < 3; l++) {
		int fc, fh, fw, id;
		resnet_feature_shape(r, l, &fc, &fh, &fw);
		act_read(r, r->blk[r->level_blk[l]].out_id);
		r->feat[l] = act(r, (size_t)r->N * fc * fh * fw, &id);
	}
}

static void plan(resnet *r, int N, int H, int W, int fwd_only)
{
	if (r->planned && r->N == N && r->H == H && r->W == W && r->fwd_only == fwd_only)
		return;
	if (N < 1 || H < 1 || W < 1)
		die("resnet: bad input shape %dx%dx%d", N, H, W);
	r->N = N, r->H = H, r->W = W;
	r->fwd_only = fwd_only;
	reuse_free(&r->reuse);
	r->region = NULL;
	arena_measure(&r->ar); /* the block is kept when the new plan fits */
	plan_pass(r);
	if (fwd_only) { /* the activations' shared slice, after the ones kept for the whole pass */
		r->region_bytes = reuse_place(&r->reuse);
		arena_floats(&r->ar, r->region_bytes / sizeof(float));
	}
	r->plan_bytes = r->ar.used;
	arena_commit(&r->ar);
	plan_pass(r);
	r->planned = 1;
	r->forwarded = 0;
}

void resnet_plan(resnet *r, int N, int H, int W) { plan(r, N, H, W, 0); }

void resnet_plan_forward(resnet *r, int N, int H, int W) { plan(r, N, H, W, 1); }

size_t resnet_plan_bytes(const resnet *r) { return r->plan_bytes; }

void resnet_feature_shape(const resnet *r, int level, int *C, int *H, int *W)
{
	const block *b = &r->blk[r->level_blk[level]];
	const convbn *last = &b->c[b->nconv - 1];
	*C = last->k;
	*H = last->cs.P;
	*W = last->cs.Q;
}

/* conv, then BN (batch or running statistics) [+ res] [relu] into cb->bn_out. */
static void fwd_convbn(resnet *r, paramset *ps, convbn *cb, const float *in, const float *res, int relu)
{
	op_ctx *c = r->ctx;
	check(r, op_conv2d_fwd(c, &cb->cs, in, paramset_op_data(ps, cb->w), NULL, cb->conv_out, 0));
	bn_shape s = {cb->cs.N, cb->cs.K, cb->cs.P * cb->cs.Q, r->fmt};
	int flags = relu ? OP_RELU : 0;
	/* training with batch statistics writes the running statistics where the ops keep them (a device's copy) */
	float *g = paramset_op_mut(ps, cb->g), *b = paramset_op_mut(ps, cb->b);
	float *rm = paramset_op_mut(ps, cb->rm), *rv = paramset_op_mut(ps, cb->rv);
	if (r->batch_stats && r->sync.sum) {
		check(r, bn_sync_train_fwd(c, &r->sync, &s, cb->conv_out, g, b, BN_EPS, BN_MOMENTUM, rm, rv, cb->mean,
					   cb->invstd, cb->scale, cb->shift, res, cb->bn_out, flags));
		cb->mean_used = cb->mean;
	} else if (r->batch_stats) {
		check(r, op_bn_train_fwd(c, &s, cb->conv_out, g, b, BN_EPS, BN_MOMENTUM, rm, rv, cb->mean, cb->invstd,
					 cb->scale, cb->shift, res, cb->bn_out, flags));
		cb->mean_used = cb->mean;
	} else {
		/* eval: the parameters where the ops read them (a CUDA device's copy, paramset_upload) */
		const float *rmo = paramset_op_data(ps, cb->rm);
		check(r, op_bn_fold(c, cb->k, paramset_op_data(ps, cb->g), paramset_op_data(ps, cb->b), rmo,
				    paramset_op_data(ps, cb->rv), BN_EPS, cb->scale, cb->shift, cb->invstd));
		check(r, op_affine_act_fwd(c, &s, cb->conv_out, cb->scale, cb->shift, res, cb->bn_out, flags));
		cb->mean_used = rmo;
	}
}

/* Frozen BN folded into the conv: y = act(conv(in, w * scale) + shift [+ y if OP_ACCUM]). */
static void fwd_convbn_folded(resnet *r, paramset *ps, convbn *cb, const float *in, int flags)
{
	op_ctx *c = r->ctx;
	const param_info *pi = &ps->info[cb->w];
	check(r, op_bn_fold(c, cb->k, paramset_op_data(ps, cb->g), paramset_op_data(ps, cb->b),
			    paramset_op_data(ps, cb->rm), paramset_op_data(ps, cb->rv), BN_EPS, cb->scale, cb->shift,
			    cb->invstd));
	check(r, op_conv_fold_weights(c, cb->k, pi->numel / (size_t)cb->k, paramset_op_data(ps, cb->w), cb->scale,
				      cb->wf));
	check(r, op_conv2d_fwd(c, &cb->cs, in, cb->wf, cb->shift, cb->conv_out, flags));
	cb->mean_used = paramset_op_data(ps, cb->rm);
}

static void forward_frozen(resnet *r, paramset *ps, const float *x)
{
	fwd_convbn_folded(r, ps, &r->stem, x, OP_RELU);
	if (r->has_pool)
		check(r, op_maxpool_fwd(r->ctx, &r->mp, r->stem.bn_out, r->mp_out, r->mp_idx));
	for (int i = 0; i < r->nblk; i++) {
		block *b = &r->blk[i];
		convbn *last = &b->c[b->nconv - 1];
		if (b->has_ds)
			fwd_convbn_folded(r, ps, &b->ds, b->in, 0); /* into b->out */
		else
			check(r, op_layout_convert(r->ctx, r->N, last->k, last->cs.P * last->cs.Q, b->in, r->fmt, b->out,
						   r->fmt, 0));
		const float *cur = b->in;
		for (int j = 0; j < b->nconv; j++) {
			int is_last = j == b->nconv - 1;
			fwd_convbn_folded(r, ps, &b->c[j], cur, is_last ? OP_ACCUM | OP_RELU : OP_RELU);
			cur = b->c[j].bn_out;
		}
	}
}

void resnet_forward(resnet *r, paramset *ps, const float *x, int train, const float *feat[3])
{
	if (!r->planned)
		die("internal error: resnet_forward before resnet_plan");
	r->x = x;
	r->batch_stats = train && !r->cfg.freeze_bn;
	if (r->cfg.freeze_bn) {
		forward_frozen(r, ps, x);
		goto features;
	}
	fwd_convbn(r, ps, &r->stem, x, NULL, 1);
	if (r->has_pool)
		check(r, op_maxpool_fwd(r->ctx, &r->mp, r->stem.bn_out, r->mp_out, r->mp_idx));
	for (int i = 0; i < r->nblk; i++) {
		block *b = &r->blk[i];
		const float *cur = b->in;
		const float *shortcut = b->in;
		if (b->has_ds) {
			fwd_convbn(r, ps, &b->ds, b->in, NULL, 0);
			shortcut = b->ds.bn_out;
		}
		for (int j = 0; j < b->nconv; j++) {
			int last = j == b->nconv - 1;
			fwd_convbn(r, ps, &b->c[j], cur, last ? shortcut : NULL, 1);
			cur = b->c[j].bn_out;
		}
	}
features:
	for (int l = 0; l < 3; l++) {
		const convbn *last = &r->blk[r->level_blk[l]].c[r->blk[r->level_blk[l]].nconv - 1];
		check(r, op_layout_convert(r->ctx, r->N, last->k, last->cs.P * last->cs.Q, r->blk[r->level_blk[l]].out,
					   r->fmt, r->feat[l], OP_NCHW, 0));
		if (feat)
			feat[l] = r->feat[l];
	}
	r->forwarded = 1;
}

/* BN backward of cb: dy -> dx (and dres), masked by relu_y when the BN fed a ReLU. */
static void bwd_bn(resnet *r, paramset *ps, convbn *cb, const float *dy, const float *relu_y, float *dx, float *dres,
		   int want)
{
	bn_shape s = {cb->cs.N, cb->cs.K, cb->cs.P * cb->cs.Q, r->fmt};
	int tr = want && !r->cfg.freeze_bn;
	/* with frozen BN the pre-BN values may have been overwritten in place; they are only needed for dgamma or
	 * batch statistics, neither of which exists then */
	const float *x = r->cfg.freeze_bn ? NULL : cb->conv_out;
	float *dg = tr ? paramset_op_grad(ps, cb->g) : NULL, *db = tr ? paramset_op_grad(ps, cb->b) : NULL;
	if (r->batch_stats && r->sync.sum)
		check(r, bn_sync_bwd(r->ctx, &r->sync, &s, x, dy, relu_y, paramset_op_data(ps, cb->g), cb->mean_used,
				     cb->invstd, dx, dres, dg, db));
	else
		check(r, op_bn_bwd(r->ctx, &s, x, dy, relu_y, paramset_op_data(ps, cb->g), cb->mean_used, cb->invstd,
				   r->batch_stats, dx, dres, dg, db));
}

/* conv backward: weight grad (accumulated) and, when dx != NULL, data grad (flags: OP_ACCUM or 0). */
static void bwd_conv(resnet *r, paramset *ps, convbn *cb, const float *in, const float *dy, float *dx, int flags,
		     int want)
{
	if (want)
		check(r, op_conv2d_bwd_weight(r->ctx, &cb->cs, in, dy, paramset_op_grad(ps, cb->w), OP_ACCUM));
	if (dx)
		check(r, op_conv2d_bwd_data(r->ctx, &cb->cs, dy, paramset_op_data(ps, cb->w), dx, flags));
}

void resnet_backward(resnet *r, paramset *ps, const float *const dfeat[3], int want)
{
	if (!r->forwarded)
		die("internal error: resnet_backward without a forward");
	if (r->fwd_only)
		die("internal error: resnet_backward on a forward-only plan");
	int top = -1;
	for (int l = 2; l >= 0; l--)
		if (dfeat && dfeat[l]) {
			top = l;
			break;
		}
	if (top < 0)
		return;
	float *A = r->gbuf[0], *B = r->gbuf[1], *C = r->gbuf[2], *D = r->gbuf[3];
	op_ctx *c = r->ctx;
	int started = 0;
	for (int i = r->level_blk[top]; i >= 0; i--) {
		block *b = &r->blk[i];
		convbn *last = &b->c[b->nconv - 1];
		if (b->level >= 0 && dfeat[b->level])
			check(r, op_layout_convert(c, r->N, last->k, last->cs.P * last->cs.Q, dfeat[b->level], OP_NCHW, A,
						   r->fmt, started ? OP_ACCUM : 0));
		started = 1;
		/* A: grad of b->out. Last BN: relu mask of the block output; residual grad to C (downsample) or D. */
		float *short_g = b->has_ds ? C : D;
		bwd_bn(r, ps, last, A, b->out, B, short_g, want);
		if (b->has_ds) {
			bwd_bn(r, ps, &b->ds, C, NULL, C, NULL, want);
			bwd_conv(r, ps, &b->ds, b->in, C, D, 0, want);
		}
		float *cur = B, *other = A;
		for (int j = b->nconv - 1; j >= 0; j--) {
			convbn *cb = &b->c[j];
			if (j < b->nconv - 1)
				bwd_bn(r, ps, cb, cur, cb->bn_out, cur, NULL, want);
			const float *in = j ? b->c[j - 1].bn_out : b->in;
			if (j > 0) {
				bwd_conv(r, ps, cb, in, cur, other, 0, want);
				float *t = cur;
				cur = other, other = t;
			} else {
				bwd_conv(r, ps, cb, in, cur, D, OP_ACCUM, want);
			}
		}
		/* D is now the grad of b->in = the previous block's output */
		float *t = A;
		A = D, D = t;
		if (r->grad_ready && want)
			r->grad_ready(r->grad_ready_ctx, block_first_offset(r, ps, b));
	}
	/* stem: A is the grad of the max-pool output (or of the stem output without a pool) */
	convbn *st = &r->stem;
	float *g = A;
	if (r->has_pool) {
		check(r, op_maxpool_bwd(c, &r->mp, A, r->mp_idx, B, 0));
		g = B;
	}
	bwd_bn(r, ps, st, g, st->bn_out, g, NULL, want);
	bwd_conv(r, ps, st, r->x, g, NULL, 0, want);
	if (r->grad_ready && want)
		r->grad_ready(r->grad_ready_ctx, ps->info[r->first_param].offset);
}

double resnet_flops_per_image(const resnet *r)
{
	double f = 0;
	const convbn *all[1] = {&r->stem};
	(void)all;
#define CONV_FLOPS(cb) (2.0 * (cb)->cs.K * (cb)->cs.P * (cb)->cs.Q * (double)(cb)->cs.C * (cb)->cs.R * (cb)->cs.S)
	f += CONV_FLOPS(&r->stem);
	for (int i = 0; i < r->nblk; i++) {
		for (int j = 0; j < r->blk[i].nconv; j++)
			f += CONV_FLOPS(&r->blk[i].c[j]);
		if (r->blk[i].has_ds)
			f += CONV_FLOPS(&r->blk[i].ds);
	}
	return f;
}

op_ctx *resnet_ctx(resnet *r) { return r->ctx; }

void resnet_free(resnet *r)
{
	if (!r)
		return;
	arena_free(&r->ar);
	reuse_free(&r->reuse);
	free(r->blk);
	free(r);
}
