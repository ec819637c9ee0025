/* ops.c: dispatch of every op to the backend that the context selects (kernels/op_backend.h). */
#include <stdio.h>
#include <string.h>

#include "op_backend.h"

/* AVSL_HAVE_CUDA_TRUNK: the cuDNN/cuBLAS twins of the trunk ops (kernels/cuda/trunk_*.cu) are compiled in.
 * Until they are, a CUDA build dispatches only to the CPU and -d cuda reports that the trunk ops are missing. */
#if defined(AVSL_HAVE_CUDA) && defined(AVSL_HAVE_CUDA_TRUNK)
#define DISPATCH(name, ...) return ctx->device == OP_DEVICE_CUDA ? cuda_##name(__VA_ARGS__) : cpu_##name(__VA_ARGS__)
#else
#define DISPATCH(name, ...)                                                                                  \
	do {                                                                                                       \
		if (ctx->device != OP_DEVICE_CPU)                                                                  \
			return no_cuda(ctx);                                                                         \
		return cpu_##name(__VA_ARGS__);                                                                  \
	} while (0)

static int no_cuda(op_ctx *ctx)
{
	snprintf(ctx->err, sizeof ctx->err, "this build has no CUDA backend for the trunk ops");
	return -1;
}
#endif


/* The CUDA twins of the shaped ops run on plain NCHW activations only (cuDNN's NCHW path); the channel-blocked
 * layout the CPU trunk prefers is refused there with a clear reason rather than misread. */
static int cuda_needs_plain(op_ctx *ctx, const char *op, int fmt_a, int fmt_b)
{
	if (ctx->device != OP_DEVICE_CUDA || (fmt_a == OP_NCHW && fmt_b == OP_NCHW))
		return 0;
	snprintf(ctx->err, sizeof ctx->err, "%s: the CUDA backend takes NCHW activations only (got layout %d/%d)", op,
		 fmt_a, fmt_b);
	return -1;
}

int op_ctx_init(op_ctx *ctx, int device, int threads)
{
	if (device == OP_DEVICE_CUDA) {
#if defined(AVSL_HAVE_CUDA) && defined(AVSL_HAVE_CUDA_TRUNK)
		return cuda_ctx_init(ctx, threads);
#else
		memset(ctx, 0, sizeof *ctx);
		snprintf(ctx->err, sizeof ctx->err, "this build has no CUDA backend for the trunk ops");
		return -1;
#endif
	}
	return cpu_ctx_init(ctx, threads);
}

void op_ctx_free(op_ctx *ctx)
{
#if defined(AVSL_HAVE_CUDA) && defined(AVSL_HAVE_CUDA_TRUNK)
	if (ctx->device == OP_DEVICE_CUDA) {
		cuda_ctx_free(ctx);
		return;
	}
#endif
	cpu_ctx_free(ctx);
}

int op_ctx_sync(op_ctx *ctx) { DISPATCH(ctx_sync, ctx); }

int op_conv_fold_weights(op_ctx *ctx, int K, size_t CRS, const float *w, const float *scale, float *w_out)
{
	DISPATCH(conv_fold_weights, ctx, K, CRS, w, scale, w_out);
}

int op_layout_convert(op_ctx *ctx, int N, int C, int HW, const float *src, int src_fmt, float *dst, int dst_fmt,
		      int flags)
{
	DISPATCH(layout_convert, ctx, N, C, HW, src, src_fmt, dst, dst_fmt, flags);
}

int op_conv2d_fwd(op_ctx *ctx, const conv_shape *s, const float *x, const float *w, const float *bias, float *y, int flags)
{
	if (cuda_needs_plain(ctx, "conv2d_fwd", s->xfmt, s->yfmt))
		return -1;
	DISPATCH(conv2d_fwd, ctx, s, x, w, bias, y, flags);
}

int op_conv2d_bwd_data(op_ctx *ctx, const conv_shape *s, const float *dy, const float *w, float *dx, int flags)
{
	if (cuda_needs_plain(ctx, "conv2d_bwd_data", s->xfmt, s->yfmt))
		return -1;
	DISPATCH(conv2d_bwd_data, ctx, s, dy, w, dx, flags);
}

int op_conv2d_bwd_weight(op_ctx *ctx, const conv_shape *s, const float *x, const float *dy, float *dw, int flags)
{
	if (cuda_needs_plain(ctx, "conv2d_bwd_weight", s->xfmt, s->yfmt))
		return -1;
	DISPATCH(conv2d_bwd_weight, ctx, s, x, dy, dw, flags);
}

int op_bn_fold(op_ctx *ctx, int C, const float *gamma, const float *beta, const float *mean, const float *var, float eps, float *scale, float *shift, float *invstd_out)
{
	DISPATCH(bn_fold, ctx, C, gamma, beta, mean, var, eps, scale, shift, invstd_out);
}

int op_affine_act_fwd(op_ctx *ctx, const bn_shape *s, const float *x, const float *scale, const float *shift, const float *res, float *y, int flags)
{
	if (cuda_needs_plain(ctx, "affine_act_fwd", s->fmt, OP_NCHW))
		return -1;
	DISPATCH(affine_act_fwd, ctx, s, x, scale, shift, res, y, flags);
}

int op_bn_train_fwd(op_ctx *ctx, const bn_shape *s, const float *x, const float *gamma, const float *beta, float eps, float momentum, float *running_mean, float *running_var, float *mean, float *invstd, float *scale, float *shift, const float *res, float *y, int flags)
{
	if (cuda_needs_plain(ctx, "bn_train_fwd", s->fmt, OP_NCHW))
		return -1;
	DISPATCH(bn_train_fwd, ctx, s, x, gamma, beta, eps, momentum, running_mean, running_var, mean, invstd, scale, shift, res, y, flags);
}

int op_bn_bwd(op_ctx *ctx, const bn_shape *s, const float *x, const float *dy, const float *relu_y, const float *gamma, const float *mean, const float *invstd, int batch_stats, float *dx, float *dres, float *dgamma, float *dbeta)
{
	if (cuda_needs_plain(ctx, "bn_bwd", s->fmt, OP_NCHW))
		return -1;
	DISPATCH(bn_bwd, ctx, s, x, dy, relu_y, gamma, mean, invstd, batch_stats, dx, dres, dgamma, dbeta);
}

int op_relu_fwd(op_ctx *ctx, size_t nel, const float *x, float *y)
{
	DISPATCH(relu_fwd, ctx, nel, x, y);
}

int op_relu_bwd(op_ctx *ctx, size_t nel, const float *y, const float *dy, float *dx, int flags)
{
	DISPATCH(relu_bwd, ctx, nel, y, dy, dx, flags);
}

int op_add(op_ctx *ctx, size_t nel, const float *a, const float *b, float *y, int flags)
{
	DISPATCH(add, ctx, nel, a, b, y, flags);
}

int op_maxpool_fwd(op_ctx *ctx, const pool_shape *s, const float *x, float *y, int32_t *idx)
{
	if (cuda_needs_plain(ctx, "maxpool_fwd", s->fmt, OP_NCHW))
		return -1;
	DISPATCH(maxpool_fwd, ctx, s, x, y, idx);
}

int op_maxpool_bwd(op_ctx *ctx, const pool_shape *s, const float *dy, const int32_t *idx, float *dx, int flags)
{
	if (cuda_needs_plain(ctx, "maxpool_bwd", s->fmt, OP_NCHW))
		return -1;
	DISPATCH(maxpool_bwd, ctx, s, dy, idx, dx, flags);
}

int op_gavgpool_fwd(op_ctx *ctx, int N, int C, int HW, const float *x, float *y)
{
	DISPATCH(gavgpool_fwd, ctx, N, C, HW, x, y);
}

int op_gavgpool_bwd(op_ctx *ctx, int N, int C, int HW, const float *dy, float *dx, int flags)
{
	DISPATCH(gavgpool_bwd, ctx, N, C, HW, dy, dx, flags);
}

int op_gmaxpool_fwd(op_ctx *ctx, int N, int C, int HW, const float *x, float *y, int32_t *idx)
{
	DISPATCH(gmaxpool_fwd, ctx, N, C, HW, x, y, idx);
}

int op_gmaxpool_bwd(op_ctx *ctx, int N, int C, int HW, const float *dy, const int32_t *idx, float *dx, int flags)
{
	DISPATCH(gmaxpool_bwd, ctx, N, C, HW, dy, idx, dx, flags);
}

int op_adavgpool_fwd(op_ctx *ctx, const pool_shape *s, const float *x, float *y)
{
	if (cuda_needs_plain(ctx, "adavgpool_fwd", s->fmt, OP_NCHW))
		return -1;
	DISPATCH(adavgpool_fwd, ctx, s, x, y);
}

int op_adavgpool_bwd(op_ctx *ctx, const pool_shape *s, const float *dy, float *dx, int flags)
{
	if (cuda_needs_plain(ctx, "adavgpool_bwd", s->fmt, OP_NCHW))
		return -1;
	DISPATCH(adavgpool_bwd, ctx, s, dy, dx, flags);
}

int op_linear_fwd(op_ctx *ctx, int M, int F, int O, const float *x, const float *w, const float *b, float *y, int flags)
{
	DISPATCH(linear_fwd, ctx, M, F, O, x, w, b, y, flags);
}

int op_linear_bwd(op_ctx *ctx, int M, int F, int O, const float *x, const float *w, const float *dy, float *dx, float *dw, float *db)
{
	DISPATCH(linear_bwd, ctx, M, F, O, x, w, dy, dx, dw, db);
}

int op_l2norm_fwd(op_ctx *ctx, int M, int D, const float *x, float eps, float *y, float *norm)
{
	DISPATCH(l2norm_fwd, ctx, M, D, x, eps, y, norm);
}

int op_l2norm_bwd(op_ctx *ctx, int M, int D, const float *y, const float *norm, const float *dy, float eps, float *dx, int flags)
{
	DISPATCH(l2norm_bwd, ctx, M, D, y, norm, dy, eps, dx, flags);
}
