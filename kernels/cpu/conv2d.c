/* conv2d.c: convolution forward, backward-data and backward-weight on oneDNN (the CPU counterpart of cuDNN).
 *
 * The user tensors are plain NCHW / KCRS. Each primitive is created once per (kind, shape, flags) with
 * format_tag_any so oneDNN picks its fastest (blocked) layout; operands are reordered into the context scratch
 * and back. The thread count is part of the key: oneDNN splits a primitive's work for the OpenMP thread count at
 * its creation and runs that many threads whatever the count at execution (op_ctx_set_threads). Primitives, memory objects and reorders live in a cache inside the context (no global state);
 * after the first call of a shape nothing is allocated.
 */
#include <stdlib.h>
#include <string.h>

#include "op_backend.h"
#include "cpu_internal.h"

enum { K_FWD = 0, K_BWD_DATA = 1, K_BWD_WEIGHT = 2 };

/* One operand: the user's plain memory, the primitive's layout, and the reorders between them. */
typedef struct {
	dnnl_memory_t user, inner;
	dnnl_primitive_t to_inner; /* user -> inner (inputs, and the fwd dst when accumulating), or NULL */
	dnnl_primitive_t to_user;  /* inner -> user (outputs; with a sum post-op when accumulating), or NULL */
	size_t off, bytes;         /* inner buffer in the scratch; bytes == 0: inner aliases the user buffer */
	int add_back;              /* same layout, accumulating output: user += inner by a vector loop (oneDNN's
				      same-layout reorder with a sum post-op is a slow generic kernel) */
} dnn_arg;

typedef struct conv_prim {
	int kind, flags, has_bias;
	int threads; /* ctx->threads when created (cpu_set_threads had set OpenMP's count to it) */
	conv_shape s;
	dnnl_primitive_t prim;
	dnn_arg a[4]; /* fwd: src wei dst bias; bwd_data: diff_dst wei diff_src; bwd_weight: src diff_dst diff_wei */
	int nargs;
	size_t scratch_bytes;
	struct conv_prim *next;
} conv_prim;

#define DNN(call)                                                                                                  \
	do {                                                                                                       \
		dnnl_status_t st_ = (call);                                                                        \
		if (st_ != dnnl_success) {                                                                         \
			cpu_fail(ctx, "oneDNN: %s failed (status %d)", #call, (int)st_);                           \
			goto fail;                                                                                 \
		}                                                                                                  \
	} while (0)

static void arg_free(dnn_arg *a)
{
	if (a->user)
		dnnl_memory_destroy(a->user);
	if (a->inner)
		dnnl_memory_destroy(a->inner);
	if (a->to_inner)
		dnnl_primitive_destroy(a->to_inner);
	if (a->to_user)
		dnnl_primitive_destroy(a->to_user);
	memset(a, 0, sizeof *a);
}

static void prim_free(conv_prim *p)
{
	for (int i = 0; i < 4; i++)
		arg_free(&p->a[i]);
	if (p->prim)
		dnnl_primitive_destroy(p->prim);
	free(p);
}

void cpu_conv_cache_free(cpu_backend *b)
{
	conv_prim *p = b->conv_cache, *n;
	for (; p; p = n) {
		n = p->next;
		prim_free(p);
	}
	b->conv_cache = NULL;
}

static dnnl_status_t make_reorder(dnnl_primitive_t *out, dnnl_engine_t eng, const dnnl_memory_desc_t *from,
				  const dnnl_memory_desc_t *to, int sum)
{
	dnnl_primitive_attr_t attr = NULL;
	dnnl_post_ops_t po = NULL;
	dnnl_primitive_desc_t pd = NULL;
	dnnl_status_t st;
	if (sum) {
		if ((st = dnnl_primitive_attr_create(&attr)) || (st = dnnl_post_ops_create(&po)) ||
		    (st = dnnl_post_ops_append_sum(po, 1.0f)) || (st = dnnl_primitive_attr_set_post_ops(attr, po)))
			goto out;
	}
	if ((st = dnnl_reorder_primitive_desc_create(&pd, from, eng, to, eng, attr)))
		goto out;
	st = dnnl_primitive_create(out, pd);
out:
	if (pd)
		dnnl_primitive_desc_destroy(pd);
	if (po)
		dnnl_post_ops_destroy(po);
	if (attr)
		dnnl_primitive_attr_destroy(attr);
	return st;
}

/* Set up an operand: dir 0 input, 1 output; accum 1: output accumulates through the to_user reorder (bwd);
 * accum 2: fwd dst read in before the primitive (sum post-op inside the primitive). */
static int arg_setup(op_ctx *ctx, conv_prim *p, dnn_arg *a, int ndims, const dnnl_dims_t dims,
		     dnnl_format_tag_t tag, const dnnl_memory_desc_t *inner_md, int dir, int accum)
{
	cpu_backend *b = ctx->backend;
	dnnl_memory_desc_t umd;
	DNN(dnnl_memory_desc_init_by_tag(&umd, ndims, dims, dnnl_f32, tag));
	DNN(dnnl_memory_create(&a->user, &umd, b->eng, DNNL_MEMORY_NONE));
	DNN(dnnl_memory_create(&a->inner, inner_md, b->eng, DNNL_MEMORY_NONE));
	int same = dnnl_memory_desc_equal(&umd, inner_md);
	if (same && accum != 1)
		return 0;
	a->bytes = dnnl_memory_desc_get_size(inner_md);
	a->off = p->scratch_bytes;
	p->scratch_bytes += (a->bytes + 63) & ~(size_t)63;
	if (dir == 0 || accum == 2)
		DNN(make_reorder(&a->to_inner, b->eng, &umd, inner_md, 0));
	if (dir == 1 && same)
		a->add_back = 1;
	else if (dir == 1)
		DNN(make_reorder(&a->to_user, b->eng, inner_md, &umd, accum == 1));
	return 0;
fail:
	return -1;
}

static conv_prim *conv_lookup(op_ctx *ctx, int kind, const conv_shape *s, int flags, int has_bias)
{
	cpu_backend *b = ctx->backend;
	for (conv_prim *p = b->conv_cache; p; p = p->next)
		if (p->kind == kind && p->flags == flags && p->has_bias == has_bias && p->threads == ctx->threads &&
		    !memcmp(&p->s, s, sizeof *s))
			return p;

	conv_prim *p = calloc(1, sizeof *p);
	dnnl_primitive_desc_t fwd_pd = NULL, pd = NULL;
	dnnl_primitive_attr_t attr = NULL;
	dnnl_post_ops_t po = NULL;
	if (!p) {
		cpu_fail(ctx, "out of memory");
		return NULL;
	}
	p->kind = kind;
	p->flags = flags;
	p->has_bias = has_bias;
	p->threads = ctx->threads;
	p->s = *s;
	dnnl_dims_t xd = {s->N, s->C, s->H, s->W}, wd = {s->K, s->C, s->R, s->S}, yd = {s->N, s->K, s->P, s->Q};
	dnnl_dims_t bd = {s->K}, strides = {s->stride, s->stride};
	/* right padding so that the output size matches P, Q exactly */
	dnnl_dims_t pl = {s->pad, s->pad};
	dnnl_dims_t pr = {(s->P - 1) * s->stride + s->R - s->H - s->pad, (s->Q - 1) * s->stride + s->S - s->W - s->pad};
	const dnnl_format_tag_t xt = s->xfmt == OP_NCHW8C ? dnnl_nChw8c : dnnl_nchw;
	const dnnl_format_tag_t yt = s->yfmt == OP_NCHW8C ? dnnl_nChw8c : dnnl_nchw;
	dnnl_memory_desc_t xa, wa, ya, ba;
	DNN(dnnl_memory_desc_init_by_tag(&xa, 4, xd, dnnl_f32, dnnl_format_tag_any));
	DNN(dnnl_memory_desc_init_by_tag(&wa, 4, wd, dnnl_f32, dnnl_format_tag_any));
	DNN(dnnl_memory_desc_init_by_tag(&ya, 4, yd, dnnl_f32, dnnl_format_tag_any));
	DNN(dnnl_memory_desc_init_by_tag(&ba, 1, bd, dnnl_f32, dnnl_a));

	dnnl_convolution_desc_t fd;
	DNN(dnnl_convolution_forward_desc_init(&fd, kind == K_FWD ? dnnl_forward_inference : dnnl_forward_training,
					       dnnl_convolution_direct, &xa, &wa, has_bias ? &ba : NULL, &ya,
					       strides, pl, pr));
	if (kind == K_FWD && (flags & (OP_ACCUM | OP_RELU))) {
		DNN(dnnl_primitive_attr_create(&attr));
		DNN(dnnl_post_ops_create(&po));
		if (flags & OP_ACCUM)
			DNN(dnnl_post_ops_append_sum(po, 1.0f));
		if (flags & OP_RELU)
			DNN(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f));
		DNN(dnnl_primitive_attr_set_post_ops(attr, po));
	}
	cpu_backend *bk = ctx->backend;
	DNN(dnnl_primitive_desc_create(&fwd_pd, &fd, attr, bk->eng, NULL));
	if (kind == K_FWD) {
		pd = fwd_pd;
		fwd_pd = NULL;
		if (arg_setup(ctx, p, &p->a[0], 4, xd, xt, dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0),
			      0, 0) ||
		    arg_setup(ctx, p, &p->a[1], 4, wd, dnnl_oihw,
			      dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0), 0, 0) ||
		    arg_setup(ctx, p, &p->a[2], 4, yd, yt, dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0),
			      1, (flags & OP_ACCUM) ? 2 : 0))
			goto fail;
		if (has_bias && arg_setup(ctx, p, &p->a[3], 1, bd, dnnl_a,
					  dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 1), 0, 0))
			goto fail;
		p->nargs = has_bias ? 4 : 3;
	} else if (kind == K_BWD_DATA) {
		dnnl_convolution_desc_t bdsc;
		DNN(dnnl_convolution_backward_data_desc_init(&bdsc, dnnl_convolution_direct, &xa, &wa, &ya, strides, pl,
							     pr));
		DNN(dnnl_primitive_desc_create(&pd, &bdsc, NULL, bk->eng, fwd_pd));
		if (arg_setup(ctx, p, &p->a[0], 4, yd, yt,
			      dnnl_primitive_desc_query_md(pd, dnnl_query_diff_dst_md, 0), 0, 0) ||
		    arg_setup(ctx, p, &p->a[1], 4, wd, dnnl_oihw,
			      dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0), 0, 0) ||
		    arg_setup(ctx, p, &p->a[2], 4, xd, xt,
			      dnnl_primitive_desc_query_md(pd, dnnl_query_diff_src_md, 0), 1, (flags & OP_ACCUM) ? 1 : 0))
			goto fail;
		p->nargs = 3;
	} else {
		dnnl_convolution_desc_t bdsc;
		DNN(dnnl_convolution_backward_weights_desc_init(&bdsc, dnnl_convolution_direct, &xa, &wa, NULL, &ya,
								strides, pl, pr));
		DNN(dnnl_primitive_desc_create(&pd, &bdsc, NULL, bk->eng, fwd_pd));
		if (arg_setup(ctx, p, &p->a[0], 4, xd, xt, dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0),
			      0, 0) ||
		    arg_setup(ctx, p, &p->a[1], 4, yd, yt,
			      dnnl_primitive_desc_query_md(pd, dnnl_query_diff_dst_md, 0), 0, 0) ||
		    arg_setup(ctx, p, &p->a[2], 4, wd, dnnl_oihw,
			      dnnl_primitive_desc_query_md(pd, dnnl_query_diff_weights_md, 0), 1,
			      (flags & OP_ACCUM) ? 1 : 0))
			goto fail;
		p->nargs = 3;
	}
	DNN(dnnl_primitive_create(&p->prim, pd));
	dnnl_primitive_desc_destroy(pd);
	if (fwd_pd)
		dnnl_primitive_desc_destroy(fwd_pd);
	if (po)
		dnnl_post_ops_destroy(po);
	if (attr)
		dnnl_primitive_attr_destroy(attr);
	if (!cpu_scratch(ctx, p->scratch_bytes)) {
		prim_free(p);
		return NULL;
	}
	p->next = bk->conv_cache;
	bk->conv_cache = p;
	return p;
fail:
	if (pd)
		dnnl_primitive_desc_destroy(pd);
	if (fwd_pd)
		dnnl_primitive_desc_destroy(fwd_pd);
	if (po)
		dnnl_post_ops_destroy(po);
	if (attr)
		dnnl_primitive_attr_destroy(attr);
	prim_free(p);
	return NULL;
}

static int reorder(op_ctx *ctx, dnnl_primitive_t r, dnnl_memory_t from, dnnl_memory_t to)
{
	cpu_backend *b = ctx->backend;
	dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
	if (dnnl_primitive_execute(r, b->strm, 2, args) != dnnl_success)
		return cpu_fail(ctx, "oneDNN: reorder failed");
	return 0;
}

/* Bind user pointers, reorder inputs in, run, reorder outputs back. ptr[i] for p->a[i]; out_first: index of the
 * first output operand. */
static int conv_run(op_ctx *ctx, conv_prim *p, void *const ptr[4], const int argkind[4], int out_first)
{
	cpu_backend *b = ctx->backend;
	char *scr = b->scratch;
	dnnl_exec_arg_t args[4];
	for (int i = 0; i < p->nargs; i++) {
		dnn_arg *a = &p->a[i];
		dnnl_memory_set_data_handle(a->user, ptr[i]);
		dnnl_memory_set_data_handle(a->inner, a->bytes ? scr + a->off : ptr[i]);
		if (a->to_inner && reorder(ctx, a->to_inner, a->user, a->inner))
			return -1;
		args[i].arg = argkind[i];
		args[i].memory = a->inner;
	}
	if (dnnl_primitive_execute(p->prim, b->strm, p->nargs, args) != dnnl_success)
		return cpu_fail(ctx, "oneDNN: convolution failed");
	for (int i = out_first; i < p->nargs; i++) {
		dnn_arg *a = &p->a[i];
		if (a->to_user && reorder(ctx, a->to_user, a->inner, a->user))
			return -1;
		if (a->add_back) {
			float *dst = ptr[i];
			const float *src = (const float *)(scr + a->off);
			size_t n = a->bytes / sizeof(float);
#pragma omp parallel for simd num_threads(ctx->threads) schedule(static)
			for (size_t k = 0; k < n; k++)
				dst[k] += src[k];
		}
	}
	return 0;
}

int cpu_conv2d_fwd(op_ctx *ctx, const conv_shape *s, const float *x, const float *w, const float *bias, float *y,
		   int flags)
{
	cpu_set_threads(ctx);
	conv_prim *p = conv_lookup(ctx, K_FWD, s, flags & (OP_ACCUM | OP_RELU), bias != NULL);
	if (!p)
		return -1;
	void *ptr[4] = {(void *)x, (void *)w, y, (void *)bias};
	const int ak[4] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST, DNNL_ARG_BIAS};
	/* the bias (index 3) is an input; dst (index 2) is the only output */
	if (conv_run(ctx, p, ptr, ak, 2))
		return -1;
	return 0;
}

int cpu_conv2d_bwd_data(op_ctx *ctx, const conv_shape *s, const float *dy, const float *w, float *dx, int flags)
{
	cpu_set_threads(ctx);
	conv_prim *p = conv_lookup(ctx, K_BWD_DATA, s, flags & OP_ACCUM, 0);
	if (!p)
		return -1;
	void *ptr[4] = {(void *)dy, (void *)w, dx, NULL};
	const int ak[4] = {DNNL_ARG_DIFF_DST, DNNL_ARG_WEIGHTS, DNNL_ARG_DIFF_SRC, 0};
	return conv_run(ctx, p, ptr, ak, 2);
}

int cpu_conv2d_bwd_weight(op_ctx *ctx, const conv_shape *s, const float *x, const float *dy, float *dw, int flags)
{
	cpu_set_threads(ctx);
	conv_prim *p = conv_lookup(ctx, K_BWD_WEIGHT, s, flags & OP_ACCUM, 0);
	if (!p)
		return -1;
	void *ptr[4] = {(void *)x, (void *)dy, dw, NULL};
	const int ak[4] = {DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_WEIGHTS, 0};
	return conv_run(ctx, p, ptr, ak, 2);
}
