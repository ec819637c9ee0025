/* conv2d.c: convolution forward, backward-data and backward-weight on oneDNN (the CPU counterpart of cuDNN).
 *
 * The user tensors are plain NCHW (or nChw8c) / KCRS. Each primitive is created once per (kind, shape, flags,
 * thread count) with format_tag_any so oneDNN picks its fastest (blocked) layout; operands are reordered into the
 * context scratch and back. oneDNN splits a primitive's work for the OpenMP thread count at its creation, so the
 * count is part of the key: 1 for the primitives of a batch's pieces (below), ctx->threads for a whole small batch
 * (op_ctx_set_threads). Primitives, memory objects and reorders live in a cache inside the context (no global
 * state); after the first call of a shape and thread count nothing is allocated.
 */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "op_backend.h"
#include "cpu_internal.h"

enum { K_FWD = 0, K_BWD_DATA = 1, K_BWD_WEIGHT = 2 };

/* How a call is cut: CHUNKS pieces of the batch (fewer when N is smaller), each run by a single-threaded primitive
 * (oneDNN runs a primitive created for one thread on the calling thread), the pieces taken by the OpenMP threads
 * dynamically. A thread that loses its core to another process then holds up at most one piece, where a primitive
 * split statically over the threads waits for that thread's whole share. The cut depends on N only, so every thread
 * count computes the same thing: the backward-weight partial sums (one per piece) are added in piece order. Under
 * MIN_CHUNKED images one primitive covers the whole batch, split by oneDNN over ctx->threads (a piece of one image
 * leaves a thread idle). */
enum { CHUNKS = 8, MIN_CHUNKED = 4 };

/* One operand: descriptors and reorders, shared by the threads (the memory objects are per thread, mem_set:
 * binding a buffer to one is a write). */
typedef struct {
	dnnl_memory_desc_t umd, imd; /* the user's layout, the primitive's */
	dnnl_primitive_t to_inner;   /* user -> inner (inputs, and the fwd dst when accumulating), or NULL */
	dnnl_primitive_t to_user;    /* inner -> user (outputs; with a sum post-op when accumulating), or NULL */
	size_t off, bytes;           /* inner buffer in its scratch region; bytes == 0: inner aliases the user buffer */
	size_t img_bytes;            /* user bytes per image of an (N, ...) operand; 0 for weights and bias */
	int shared;                  /* an input that is the same for every piece (weights, bias): reordered once per
					call into the shared region; the others go into the running thread's region */
	int add_back;                /* same layout, accumulating output: user += inner by a vector loop (oneDNN's
					same-layout reorder with a sum post-op is a slow generic kernel) */
} dnn_arg;

/* One thread's memory objects and stream for a primitive */
typedef struct {
	dnnl_memory_t user[4], inner[4], pad;
	dnnl_stream_t strm;
} mem_set;

typedef struct conv_prim {
	int kind, flags, has_bias;
	int threads;  /* OpenMP's count when created: 1 for a piece, ctx->threads for a whole batch */
	conv_shape s; /* s.N: the images of one execution */
	dnnl_primitive_t prim;
	dnn_arg a[4]; /* fwd: src wei dst bias; bwd_data: diff_dst wei diff_src; bwd_weight: src diff_dst diff_wei */
	int nargs;
	dnnl_memory_desc_t pad_md; /* the primitive's scratchpad (user-provided, in the thread's region) */
	size_t pad_off;
	size_t shared_bytes, thread_bytes; /* scratch of the shared operands; of one thread's operands + scratchpad */
	mem_set *sets;                     /* per thread, nsets made so far */
	int nsets;
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
	if (a->to_inner)
		dnnl_primitive_destroy(a->to_inner);
	if (a->to_user)
		dnnl_primitive_destroy(a->to_user);
	memset(a, 0, sizeof *a);
}

static void set_free(mem_set *m)
{
	for (int i = 0; i < 4; i++) {
		if (m->user[i])
			dnnl_memory_destroy(m->user[i]);
		if (m->inner[i])
			dnnl_memory_destroy(m->inner[i]);
	}
	if (m->pad)
		dnnl_memory_destroy(m->pad);
	if (m->strm)
		dnnl_stream_destroy(m->strm);
}

static void prim_free(conv_prim *p)
{
	for (int i = 0; i < 4; i++)
		arg_free(&p->a[i]);
	for (int t = 0; t < p->nsets; t++)
		set_free(&p->sets[t]);
	free(p->sets);
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
 * accum 2: fwd dst read in before the primitive (sum post-op inside the primitive). batch: an (N, ...) tensor. */
static int arg_setup(op_ctx *ctx, conv_prim *p, dnn_arg *a, int ndims, const dnnl_dims_t dims,
		     dnnl_format_tag_t tag, const dnnl_memory_desc_t *inner_md, int dir, int accum, int batch)
{
	cpu_backend *b = ctx->backend;
	DNN(dnnl_memory_desc_init_by_tag(&a->umd, ndims, dims, dnnl_f32, tag));
	a->imd = *inner_md;
	a->img_bytes = batch ? dnnl_memory_desc_get_size(&a->umd) / (size_t)p->s.N : 0;
	a->shared = dir == 0 && !batch;
	int same = dnnl_memory_desc_equal(&a->umd, inner_md);
	if (same && accum != 1)
		return 0;
	a->bytes = dnnl_memory_desc_get_size(inner_md);
	size_t *region = a->shared ? &p->shared_bytes : &p->thread_bytes;
	a->off = *region;
	*region += (a->bytes + 63) & ~(size_t)63;
	if (dir == 0 || accum == 2)
		DNN(make_reorder(&a->to_inner, b->eng, &a->umd, inner_md, 0));
	if (dir == 1 && same)
		a->add_back = 1;
	else if (dir == 1)
		DNN(make_reorder(&a->to_user, b->eng, inner_md, &a->umd, accum == 1));
	return 0;
fail:
	return -1;
}

/* Memory objects and streams for threads [p->nsets, n) (once per thread count reached) */
static int sets_ensure(op_ctx *ctx, conv_prim *p, int n)
{
	cpu_backend *b = ctx->backend;
	if (n <= p->nsets)
		return 0;
	mem_set *sets = realloc(p->sets, (size_t)n * sizeof *sets);
	if (!sets)
		return cpu_fail(ctx, "out of memory");
	p->sets = sets;
	for (; p->nsets < n; p->nsets++) {
		mem_set *m = &sets[p->nsets];
		memset(m, 0, sizeof *m);
		for (int i = 0; i < p->nargs; i++) {
			DNN(dnnl_memory_create(&m->user[i], &p->a[i].umd, b->eng, DNNL_MEMORY_NONE));
			DNN(dnnl_memory_create(&m->inner[i], &p->a[i].imd, b->eng, DNNL_MEMORY_NONE));
		}
		DNN(dnnl_memory_create(&m->pad, &p->pad_md, b->eng, DNNL_MEMORY_NONE));
		DNN(dnnl_stream_create(&m->strm, b->eng, dnnl_stream_default_flags));
	}
	return 0;
fail:
	set_free(&p->sets[p->nsets]);
	return -1;
}

/* The primitive of (kind, shape, flags, bias) for `threads` OpenMP threads; s->N: the images of one execution */
static conv_prim *conv_lookup(op_ctx *ctx, int kind, const conv_shape *s, int flags, int has_bias, int threads)
{
	cpu_backend *b = ctx->backend;
	for (conv_prim *p = b->conv_cache; p; p = p->next)
		if (p->kind == kind && p->flags == flags && p->has_bias == has_bias && p->threads == threads &&
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
	/* oneDNN reads OpenMP's count when it creates the primitive (cpu_set_threads restores ctx->threads) */
	omp_set_num_threads(threads);
	p->kind = kind;
	p->flags = flags;
	p->has_bias = has_bias;
	p->threads = threads;
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
	/* the scratchpad is ours (a region per thread: the threads run the same primitive at once) */
	DNN(dnnl_primitive_attr_create(&attr));
	DNN(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user));
	if (kind == K_FWD && (flags & (OP_ACCUM | OP_RELU))) {
		DNN(dnnl_post_ops_create(&po));
		if (flags & OP_ACCUM)
			DNN(dnnl_post_ops_append_sum(po, 1.0f));
		if (flags & OP_RELU)
			DNN(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f));
		DNN(dnnl_primitive_attr_set_post_ops(attr, po));
	}
	DNN(dnnl_primitive_desc_create(&fwd_pd, &fd, attr, b->eng, NULL));
	if (kind == K_FWD) {
		pd = fwd_pd;
		fwd_pd = NULL;
		if (arg_setup(ctx, p, &p->a[0], 4, xd, xt, dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0),
			      0, 0, 1) ||
		    arg_setup(ctx, p, &p->a[1], 4, wd, dnnl_oihw,
			      dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0), 0, 0, 0) ||
		    arg_setup(ctx, p, &p->a[2], 4, yd, yt, dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0),
			      1, (flags & OP_ACCUM) ? 2 : 0, 1))
			goto fail;
		if (has_bias && arg_setup(ctx, p, &p->a[3], 1, bd, dnnl_a,
					  dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 1), 0, 0, 0))
			goto fail;
		p->nargs = has_bias ? 4 : 3;
	} else if (kind == K_BWD_DATA) {
		dnnl_convolution_desc_t bdsc;
		DNN(dnnl_convolution_backward_data_desc_init(&bdsc, dnnl_convolution_direct, &xa, &wa, &ya, strides, pl,
							     pr));
		DNN(dnnl_primitive_desc_create(&pd, &bdsc, attr, b->eng, fwd_pd));
		if (arg_setup(ctx, p, &p->a[0], 4, yd, yt,
			      dnnl_primitive_desc_query_md(pd, dnnl_query_diff_dst_md, 0), 0, 0, 1) ||
		    arg_setup(ctx, p, &p->a[1], 4, wd, dnnl_oihw,
			      dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0), 0, 0, 0) ||
		    arg_setup(ctx, p, &p->a[2], 4, xd, xt,
			      dnnl_primitive_desc_query_md(pd, dnnl_query_diff_src_md, 0), 1, (flags & OP_ACCUM) ? 1 : 0,
			      1))
			goto fail;
		p->nargs = 3;
	} else {
		dnnl_convolution_desc_t bdsc;
		DNN(dnnl_convolution_backward_weights_desc_init(&bdsc, dnnl_convolution_direct, &xa, &wa, NULL, &ya,
								strides, pl, pr));
		DNN(dnnl_primitive_desc_create(&pd, &bdsc, attr, b->eng, fwd_pd));
		if (arg_setup(ctx, p, &p->a[0], 4, xd, xt, dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0),
			      0, 0, 1) ||
		    arg_setup(ctx, p, &p->a[1], 4, yd, yt,
			      dnnl_primitive_desc_query_md(pd, dnnl_query_diff_dst_md, 0), 0, 0, 1) ||
		    arg_setup(ctx, p, &p->a[2], 4, wd, dnnl_oihw,
			      dnnl_primitive_desc_query_md(pd, dnnl_query_diff_weights_md, 0), 1,
			      (flags & OP_ACCUM) ? 1 : 0, 0))
			goto fail;
		p->nargs = 3;
	}
	p->pad_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
	p->pad_off = p->thread_bytes;
	p->thread_bytes += (dnnl_memory_desc_get_size(&p->pad_md) + 63) & ~(size_t)63;
	DNN(dnnl_primitive_create(&p->prim, pd));
	dnnl_primitive_desc_destroy(pd);
	if (fwd_pd)
		dnnl_primitive_desc_destroy(fwd_pd);
	if (po)
		dnnl_post_ops_destroy(po);
	dnnl_primitive_attr_destroy(attr);
	cpu_set_threads(ctx);
	p->next = b->conv_cache;
	b->conv_cache = p;
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
	cpu_set_threads(ctx);
	prim_free(p);
	return NULL;
}

static int reorder(op_ctx *ctx, dnnl_stream_t strm, dnnl_primitive_t r, dnnl_memory_t from, dnnl_memory_t to)
{
	dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
	if (dnnl_primitive_execute(r, strm, 2, args) != dnnl_success)
		return cpu_fail(ctx, "oneDNN: reorder failed");
	return 0;
}

/* One execution of p on thread set m: ptr[i] the user buffer of p->a[i] for this piece; shared: the region of the
 * weights (already reordered), mine: the thread's region. Outputs are p->a[out_first..]. */
static int piece_run(op_ctx *ctx, conv_prim *p, mem_set *m, char *const ptr[4], const int argkind[4], int out_first,
		     char *shared, char *mine)
{
	dnnl_exec_arg_t args[5];
	for (int i = 0; i < p->nargs; i++) {
		dnn_arg *a = &p->a[i];
		dnnl_memory_set_data_handle(m->user[i], ptr[i]);
		dnnl_memory_set_data_handle(m->inner[i], a->bytes ? (a->shared ? shared : mine) + a->off : ptr[i]);
		if (!a->shared && a->to_inner && reorder(ctx, m->strm, a->to_inner, m->user[i], m->inner[i]))
			return -1;
		args[i].arg = argkind[i];
		args[i].memory = m->inner[i];
	}
	dnnl_memory_set_data_handle(m->pad, mine + p->pad_off);
	args[p->nargs].arg = DNNL_ARG_SCRATCHPAD;
	args[p->nargs].memory = m->pad;
	if (dnnl_primitive_execute(p->prim, m->strm, p->nargs + 1, args) != dnnl_success)
		return cpu_fail(ctx, "oneDNN: convolution failed");
	for (int i = out_first; i < p->nargs; i++) {
		dnn_arg *a = &p->a[i];
		if (a->to_user && reorder(ctx, m->strm, a->to_user, m->inner[i], m->user[i]))
			return -1;
		if (a->add_back) {
			float *dst = (float *)ptr[i];
			const float *src = (const float *)(mine + a->off);
			size_t n = a->bytes / sizeof(float);
#pragma omp simd
			for (size_t k = 0; k < n; k++)
				dst[k] += src[k];
		}
	}
	return 0;
}

/* Reorder p's shared inputs (weights, bias) into the shared region, on thread set 0 */
static int shared_in(op_ctx *ctx, conv_prim *p, char *const ptr[4], char *shared)
{
	mem_set *m = &p->sets[0];
	for (int i = 0; i < p->nargs; i++) {
		dnn_arg *a = &p->a[i];
		if (!a->shared || !a->to_inner)
			continue;
		dnnl_memory_set_data_handle(m->user[i], ptr[i]);
		dnnl_memory_set_data_handle(m->inner[i], shared + a->off);
		if (reorder(ctx, m->strm, a->to_inner, m->user[i], m->inner[i]))
			return -1;
	}
	return 0;
}

/* Run a convolution: ptr[i] the whole batch's user buffer of operand i, out_first the first output. kind
 * K_BWD_WEIGHT's output (index 2) is a sum over the batch: each piece writes its partial sum (plain KCRS) into the
 * scratch, and they are added in piece order. */
static int conv_exec(op_ctx *ctx, int kind, const conv_shape *s, int flags, int has_bias, void *const ptr[4],
		     const int argkind[4], int out_first)
{
	cpu_set_threads(ctx);
	const int N = s->N;
	if (N < MIN_CHUNKED) { /* the whole batch in one multi-threaded primitive */
		conv_prim *p = conv_lookup(ctx, kind, s, flags, has_bias, ctx->threads);
		if (!p || sets_ensure(ctx, p, 1))
			return -1;
		char *scr = cpu_scratch(ctx, p->shared_bytes + p->thread_bytes);
		if (!scr || shared_in(ctx, p, (char *const *)ptr, scr))
			return -1;
		return piece_run(ctx, p, &p->sets[0], (char *const *)ptr, argkind, out_first, scr,
				 scr + p->shared_bytes);
	}
	/* pieces of ch images (the last one of tail images), a primitive for each size */
	const int ch = (N + CHUNKS - 1) / CHUNKS, npieces = (N + ch - 1) / ch, tail = N - (npieces - 1) * ch;
	const int pflags = kind == K_BWD_WEIGHT ? 0 : flags; /* partial sums overwrite; the sum accumulates */
	conv_shape sc = *s, st = *s;
	sc.N = ch;
	st.N = tail;
	conv_prim *pc = conv_lookup(ctx, kind, &sc, pflags, has_bias, 1);
	conv_prim *pt = pc ? (tail == ch ? pc : conv_lookup(ctx, kind, &st, pflags, has_bias, 1)) : NULL;
	const int nt = ctx->threads < npieces ? ctx->threads : npieces;
	if (!pt || sets_ensure(ctx, pc, nt) || sets_ensure(ctx, pt, nt))
		return -1;
	const size_t stride = pc->thread_bytes > pt->thread_bytes ? pc->thread_bytes : pt->thread_bytes;
	const size_t nw = (size_t)s->K * s->C * s->R * s->S, wbytes = (nw * sizeof(float) + 63) & ~(size_t)63;
	const size_t shared_bytes = pc->shared_bytes + (pt != pc ? pt->shared_bytes : 0);
	const size_t part_off = shared_bytes + (size_t)nt * stride;
	char *scr = cpu_scratch(ctx, part_off + (kind == K_BWD_WEIGHT ? (size_t)npieces * wbytes : 0));
	if (!scr || shared_in(ctx, pc, (char *const *)ptr, scr) ||
	    (pt != pc && shared_in(ctx, pt, (char *const *)ptr, scr + pc->shared_bytes)))
		return -1;
	int failed = 0;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
	for (int c = 0; c < npieces; c++) {
		const int t = omp_get_thread_num();
		conv_prim *p = c == npieces - 1 ? pt : pc;
		char *piece[4];
		for (int i = 0; i < p->nargs; i++)
			piece[i] = p->a[i].img_bytes ? (char *)ptr[i] + (size_t)c * ch * p->a[i].img_bytes : ptr[i];
		if (kind == K_BWD_WEIGHT)
			piece[2] = scr + part_off + (size_t)c * wbytes;
		char *shared = p == pc ? scr : scr + pc->shared_bytes;
		if (piece_run(ctx, p, &p->sets[t], piece, argkind, out_first, shared, scr + shared_bytes + t * stride))
#pragma omp atomic write
			failed = 1;
	}
	if (failed)
		return -1;
	if (kind == K_BWD_WEIGHT) { /* dw (+)= the pieces' partial sums, in piece order */
		float *dw = ptr[2];
		const float *part = (const float *)(scr + part_off);
		const size_t pstride = wbytes / sizeof(float);
		const int accum = flags & OP_ACCUM;
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
		for (size_t k = 0; k < nw; k++) {
			float v = accum ? dw[k] : 0.0f;
			for (int c = 0; c < npieces; c++)
				v += part[c * pstride + k];
			dw[k] = v;
		}
	}
	return 0;
}

int cpu_conv2d_fwd(op_ctx *ctx, const conv_shape *s, const float *x, const float *w, const float *bias, float *y,
		   int flags)
{
	void *ptr[4] = {(void *)x, (void *)w, y, (void *)bias};
	const int ak[4] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST, DNNL_ARG_BIAS};
	/* the bias (index 3) is an input; dst (index 2) is the only output */
	return conv_exec(ctx, K_FWD, s, flags & (OP_ACCUM | OP_RELU), bias != NULL, ptr, ak, 2);
}

int cpu_conv2d_bwd_data(op_ctx *ctx, const conv_shape *s, const float *dy, const float *w, float *dx, int flags)
{
	void *ptr[4] = {(void *)dy, (void *)w, dx, NULL};
	const int ak[4] = {DNNL_ARG_DIFF_DST, DNNL_ARG_WEIGHTS, DNNL_ARG_DIFF_SRC, 0};
	return conv_exec(ctx, K_BWD_DATA, s, flags & OP_ACCUM, 0, ptr, ak, 2);
}

int cpu_conv2d_bwd_weight(op_ctx *ctx, const conv_shape *s, const float *x, const float *dy, float *dw, int flags)
{
	void *ptr[4] = {(void *)x, (void *)dy, dw, NULL};
	const int ak[4] = {DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_WEIGHTS, 0};
	return conv_exec(ctx, K_BWD_WEIGHT, s, flags & OP_ACCUM, 0, ptr, ak, 2);
}
