/* ops.h: the op contract of the trunk (ResNet) and of the small dense ops around it.
 *
 * Dimension legend
 *   N batch          C input channels      H, W input height/width
 *   K output channels (conv), R, S filter height/width, P, Q output height/width
 *   M rows of a matrix (batch of vectors), F input features, O output features, D vector length (l2norm)
 *   HW = H*W, PQ = P*Q, nel = number of elements of an element-wise op
 *
 * Conventions
 *   - Tensors are float32, row-major, contiguous; conv weights (K, C, R, S); linear weights (O, F).
 *   - Activation layouts (fmt fields of the shape structs; 0 = OP_NCHW by default):
 *       OP_NCHW    plain (n, c, h, w).
 *       OP_NCHW8C  channels blocked by 8 (oneDNN's nChw8c; one AVX2 register per pixel): element (n, c, h, w)
 *                  at (((n * CB + c / 8) * H + h) * W + w) * 8 + c % 8 with CB = ceil(C / 8); the padding
 *                  channels C..8*CB-1 hold zeros (every op keeps them zero). The trunk runs in this layout so
 *                  that no convolution needs a reorder; op_layout_convert moves data between the two.
 *   - Every pointer is a device pointer of the backend that ctx selects (host memory for the CPU backend).
 *   - Ops return 0, or -1 with a one-line reason in ctx->err (never exit).
 *   - flags: OP_ACCUM adds the result into the output instead of overwriting it; OP_RELU applies max(., 0) last.
 *   - Each op has a `_naive` twin (kernels/cpu/naive_*.c): plain loops, double accumulation, no threads, used as
 *     the test reference only.
 *
 * Backends. op_ctx carries the backend: the thread count, an opaque handle (CPU: oneDNN engine/stream and the
 * primitive cache keyed by shape; CUDA: cuDNN/cuBLAS handles and a stream), and scratch memory owned by the
 * context. There is no global mutable state: two contexts never share a cache. Every op_* function is one lookup in
 * the context's backend table (kernels/op_backend.h, expanded from the single op list kernels/op_list.h) and runs
 * cpu_NAME (kernels/cpu) or cuda_NAME (kernels/cuda). An op the backend lacks fails with "the cuda backend has no
 * implementation of op NAME" (op_supports asks first); it is never run on another device behind the caller's back.
 * A context is used by one thread at a time.
 */
#ifndef AVSL_OPS_H
#define AVSL_OPS_H

#include <stddef.h>
#include <stdint.h>

enum { OP_DEVICE_CPU = 0, OP_DEVICE_CUDA = 1 };
enum { OP_ACCUM = 1, OP_RELU = 2 };
enum { OP_NCHW = 0, OP_NCHW8C = 1 };

typedef struct op_ctx {
	int device;                      /* OP_DEVICE_CPU or OP_DEVICE_CUDA */
	int index;                       /* device ordinal (CUDA); 0 for the CPU */
	int threads;                     /* CPU threads the ops may use */
	int tf32;                        /* OP_CTX_TF32 given: CUDA convolutions and GEMMs may use TF32 tensor cores */
	void *backend;                   /* opaque: primitive cache, handles, stream, scratch (owned by the context) */
	const struct op_backend *table;  /* the backend's ops (kernels/op_backend.h) */
	char err[256];                   /* reason of the last failure */
} op_ctx;

/* Create a context for device with `threads` CPU threads (<= 0: all online CPUs). Returns 0 or -1 (ctx->err);
 * OP_DEVICE_CUDA in a build without CUDA fails with "avsl was built without CUDA (...)". Same as
 * op_ctx_init_on(ctx, device, 0, threads, 0). */
int op_ctx_init(op_ctx *ctx, int device, int threads);
/* op_ctx_init on device ordinal `index` (CUDA; the CPU has only 0) with flags: OP_CTX_TF32 lets the CUDA
 * convolutions and GEMMs use TF32 tensor cores (inputs rounded to 10 mantissa bits, ~1e-3 relative; the CPU ignores
 * it). The tools reach this through libcommon's avsl_device_open, which reads AVSL_TF32; nothing in kernels/ reads
 * the environment. */
enum { OP_CTX_TF32 = 1 };
int op_ctx_init_on(op_ctx *ctx, int device, int index, int threads, int flags);
void op_ctx_free(op_ctx *ctx);
/* Block until all work queued on ctx is done (no-op on the CPU). */
int op_ctx_sync(op_ctx *ctx);
/* "cpu" or "cuda". */
const char *op_backend_name(const op_ctx *ctx);
/* The activation layout the backend's trunk ops are fastest in (CPU: OP_NCHW8C; CUDA: OP_NCHW). A trunk builds its
 * activations in this layout; every shaped op accepts OP_NCHW, the CPU also OP_NCHW8C. */
int op_preferred_layout(const op_ctx *ctx);

/* Floats of an (N, C, HW) activation in layout fmt (padding included). */
size_t op_act_numel(int N, int C, int HW, int fmt);
/* dst (N,C,HW in dst_fmt) = src (N,C,HW in src_fmt) [+ dst if OP_ACCUM]. */
int op_layout_convert(op_ctx *ctx, int N, int C, int HW, const float *src, int src_fmt, float *dst, int dst_fmt,
		      int flags);

/* ---- convolution (no bias needed by ResNet; optional bias for folded BN) ----------------------------------- */
typedef struct {
	int N, C, H, W; /* input */
	int K, R, S;    /* filters */
	int stride, pad;
	int P, Q;       /* output: P = (H + 2 pad - R) / stride + 1 */
	int xfmt, yfmt; /* layouts of x/dx and y/dy (OP_NCHW or OP_NCHW8C) */
} conv_shape;

conv_shape conv_shape_make(int N, int C, int H, int W, int K, int R, int S, int stride, int pad);

/* y (N,K,P,Q) = conv(x (N,C,H,W), w (K,C,R,S)) [+ bias (K)] [+ y if OP_ACCUM] [relu if OP_RELU] */
int op_conv2d_fwd(op_ctx *ctx, const conv_shape *s, const float *x, const float *w, const float *bias, float *y,
		  int flags);
/* dx (N,C,H,W) = conv_transpose(dy (N,K,P,Q), w (K,C,R,S)); OP_ACCUM adds into dx */
int op_conv2d_bwd_data(op_ctx *ctx, const conv_shape *s, const float *dy, const float *w, float *dx, int flags);
/* dw (K,C,R,S) = sum_n x (N,C,H,W) (*) dy (N,K,P,Q); OP_ACCUM adds into dw */
int op_conv2d_bwd_weight(op_ctx *ctx, const conv_shape *s, const float *x, const float *dy, float *dw, int flags);

/* ---- batch norm and the element-wise ops around it ---------------------------------------------------------- */
typedef struct {
	int N, C, HW;
	int fmt; /* OP_NCHW or OP_NCHW8C (then every (N,C,HW) tensor is blocked, (C) vectors stay plain) */
} bn_shape;

/* Per-channel affine from statistics: scale = gamma * invstd, shift = beta - mean * scale, with
 * invstd = 1 / sqrt(var + eps). gamma/beta may be NULL (1/0). invstd_out (C) may be NULL. All (C). */
int op_bn_fold(op_ctx *ctx, int C, const float *gamma, const float *beta, const float *mean, const float *var,
	       float eps, float *scale, float *shift, float *invstd_out);
/* Fold a per-output-channel scale into conv weights: w_out (K, CRS) = w (K, CRS) * scale[k] (frozen BN folded into
 * the preceding conv: conv(x, w * scale) + shift == bn(conv(x, w))). */
int op_conv_fold_weights(op_ctx *ctx, int K, size_t CRS, const float *w, const float *scale, float *w_out);
/* y (N,C,HW) = act(x * scale[c] + shift[c] [+ res]); res may be NULL; y may equal x (in place). */
int op_affine_act_fwd(op_ctx *ctx, const bn_shape *s, const float *x, const float *scale, const float *shift,
		      const float *res, float *y, int flags);
/* Training-mode batch statistics over (N, HW) per channel: mean (C), biased variance for normalising -> invstd (C);
 * running_mean/var (C) updated in place with momentum (torch: r = (1-m) r + m stat, unbiased variance) when not
 * NULL. Then y as in op_affine_act_fwd with scale = gamma*invstd, shift = beta - mean*scale (scale/shift (C) are
 * written too, they are scratch for the caller). */
int op_bn_train_fwd(op_ctx *ctx, const bn_shape *s, const float *x, const float *gamma, const float *beta,
		    float eps, float momentum, float *running_mean, float *running_var, float *mean, float *invstd,
		    float *scale, float *shift, const float *res, float *y, int flags);
/* Backward of y = act(bn(x) + res).
 *   dy (N,C,HW): gradient w.r.t. y. relu_y: the forward output y when act was ReLU (gradient masked by y > 0),
 *   else NULL. dres (N,C,HW): receives the masked gradient (the residual branch's gradient), or NULL.
 *   batch_stats = 1: mean/invstd are the batch statistics of x (training-mode BN, full backward);
 *   batch_stats = 0: they are the running statistics (frozen/eval BN: dx = g * gamma * invstd).
 *   dx (N,C,HW) may equal dy or dres (in place). dgamma/dbeta (C) are accumulated when not NULL (they need x).
 *   gamma may be NULL (1). dx may be NULL: then only dres and the per-channel sums dgamma += sum g xhat,
 *   dbeta += sum g are produced (with batch_stats = 0), the first half of a backward whose sums span several
 *   processes (op_bn_bwd_data, libcommon/bn_sync.h). */
int op_bn_bwd(op_ctx *ctx, const bn_shape *s, const float *x, const float *dy, const float *relu_y,
	      const float *gamma, const float *mean, const float *invstd, int batch_stats, float *dx, float *dres,
	      float *dgamma, float *dbeta);
/* Batch norm split at its statistics, for batches spread over several processes (avsl-train --sync-bn; the
 * combining over ranks is libcommon/bn_sync.c, between these ops):
 * op_bn_stats: mean (C) and m2 (C) = sum of (x - mean)^2 of this slice x (N,C,HW), over its N*HW values per
 *   channel (two passes, double sums). The combined mean/variance then go through op_affine_act_fwd. */
int op_bn_stats(op_ctx *ctx, const bn_shape *s, const float *x, float *mean, float *m2);
/* op_bn_bwd_data: dx (N,C,HW) = gamma invstd (g - sum_g / count - xhat sum_gxhat / count), the training-mode data
 *   gradient from sums over the whole batch: g = dy masked by relu_y > 0 (relu_y NULL: no mask), xhat = (x - mean)
 *   invstd; sum_g, sum_gxhat (C) the sums of g and g xhat over every slice (what op_bn_bwd with dx = NULL
 *   accumulates into dbeta, dgamma, summed over the processes), count the values per channel over every slice.
 *   gamma may be NULL (1); dx may equal dy (in place). */
int op_bn_bwd_data(op_ctx *ctx, const bn_shape *s, const float *x, const float *dy, const float *relu_y,
		   const float *gamma, const float *mean, const float *invstd, const float *sum_g,
		   const float *sum_gxhat, double count, float *dx);

/* y (nel) = max(x, 0); in place allowed. */
int op_relu_fwd(op_ctx *ctx, size_t nel, const float *x, float *y);
/* dx (nel) = dy * (y > 0) [+ dx if OP_ACCUM]; in place allowed. */
int op_relu_bwd(op_ctx *ctx, size_t nel, const float *y, const float *dy, float *dx, int flags);
/* y (nel) = a + b (residual add); in place allowed. With OP_RELU: max(a + b, 0). */
int op_add(op_ctx *ctx, size_t nel, const float *a, const float *b, float *y, int flags);

/* ---- pooling ------------------------------------------------------------------------------------------------ */
typedef struct {
	int N, C, H, W;
	int R, S, stride, pad; /* window (max-pool); padding never wins */
	int P, Q;              /* output */
	int fmt;               /* OP_NCHW, or OP_NCHW8C (max-pool only; idx then has the blocked size) */
} pool_shape;

pool_shape pool_shape_make(int N, int C, int H, int W, int R, int S, int stride, int pad);

/* y (N,C,P,Q) = max over windows of x (N,C,H,W); idx (N,C,P,Q) the winning offset h*W+w in the plane (first
 * maximum in row-major order, as PyTorch). */
int op_maxpool_fwd(op_ctx *ctx, const pool_shape *s, const float *x, float *y, int32_t *idx);
/* dx (N,C,H,W) = scatter-add of dy (N,C,P,Q) at idx; OP_ACCUM adds into dx, else dx is overwritten. */
int op_maxpool_bwd(op_ctx *ctx, const pool_shape *s, const float *dy, const int32_t *idx, float *dx, int flags);

/* Global pooling over HW: x (N,C,HW) -> y (N,C). Max-pool also writes idx (N,C) (first maximum). */
int op_gavgpool_fwd(op_ctx *ctx, int N, int C, int HW, const float *x, float *y);
int op_gavgpool_bwd(op_ctx *ctx, int N, int C, int HW, const float *dy, float *dx, int flags);
int op_gmaxpool_fwd(op_ctx *ctx, int N, int C, int HW, const float *x, float *y, int32_t *idx);
int op_gmaxpool_bwd(op_ctx *ctx, int N, int C, int HW, const float *dy, const int32_t *idx, float *dx, int flags);

/* Adaptive average pooling (torch semantics: window [floor(i*H/P), ceil((i+1)*H/P))):
 * x (N,C,H,W) -> y (N,C,P,Q). Only N, C, H, W, P, Q of s are used. */
int op_adavgpool_fwd(op_ctx *ctx, const pool_shape *s, const float *x, float *y);
int op_adavgpool_bwd(op_ctx *ctx, const pool_shape *s, const float *dy, float *dx, int flags);

/* ---- dense ---------------------------------------------------------------------------------------------------- */
/* y (M,O) = x (M,F) w^T (w (O,F)) [+ b (O)] [+ y if OP_ACCUM] */
int op_linear_fwd(op_ctx *ctx, int M, int F, int O, const float *x, const float *w, const float *b, float *y,
		  int flags);
/* dx (M,F) = dy w (overwritten; skipped if NULL); dw (O,F) += dy^T x, db (O) += sum_m dy (each if not NULL). */
int op_linear_bwd(op_ctx *ctx, int M, int F, int O, const float *x, const float *w, const float *dy, float *dx,
		  float *dw, float *db);

/* y (M,D) = x / max(||x||_2, eps) per row; norm (M) keeps max(||x||, eps) for the backward. */
int op_l2norm_fwd(op_ctx *ctx, int M, int D, const float *x, float eps, float *y, float *norm);
/* dx (M,D) = (dy - y (y . dy)) / norm  (rows where ||x|| < eps: dx = dy / eps). OP_ACCUM adds into dx. */
int op_l2norm_bwd(op_ctx *ctx, int M, int D, const float *y, const float *norm, const float *dy, float eps,
		  float *dx, int flags);

/* ---- op ids: one per entry of op_list.h (OPID_conv2d_fwd, ...) ---------------------------------------------- */
#include "op_list.h"
typedef enum {
#define X(name, cuda, params, args) OPID_##name,
	OP_LIST(X)
#undef X
	OPID_COUNT
} op_id;
/* "conv2d_fwd" for OPID_conv2d_fwd. */
const char *op_name(op_id op);
/* 1 if ctx's backend implements op; else 0 with "the cuda backend has no implementation of op NAME" in ctx->err. */
int op_supports(op_ctx *ctx, op_id op);

/* ---- naive references (kernels/cpu/naive_*.c): same arguments, no ctx ----------------------------------------- */
void conv2d_fwd_naive(const conv_shape *s, const float *x, const float *w, const float *bias, float *y, int flags);
void conv2d_bwd_data_naive(const conv_shape *s, const float *dy, const float *w, float *dx, int flags);
void conv2d_bwd_weight_naive(const conv_shape *s, const float *x, const float *dy, float *dw, int flags);
void conv_fold_weights_naive(int K, size_t CRS, const float *w, const float *scale, float *w_out);
void affine_act_fwd_naive(const bn_shape *s, const float *x, const float *scale, const float *shift,
			  const float *res, float *y, int flags);
void bn_train_fwd_naive(const bn_shape *s, const float *x, const float *gamma, const float *beta, float eps,
			float momentum, float *running_mean, float *running_var, float *mean, float *invstd,
			const float *res, float *y, int flags);
void bn_bwd_naive(const bn_shape *s, const float *x, const float *dy, const float *relu_y, const float *gamma,
		  const float *mean, const float *invstd, int batch_stats, float *dx, float *dres, float *dgamma,
		  float *dbeta);
void bn_stats_naive(const bn_shape *s, const float *x, float *mean, float *m2);
void bn_bwd_data_naive(const bn_shape *s, const float *x, const float *dy, const float *relu_y, const float *gamma,
		       const float *mean, const float *invstd, const float *sum_g, const float *sum_gxhat, double count,
		       float *dx);
void maxpool_fwd_naive(const pool_shape *s, const float *x, float *y, int32_t *idx);
void maxpool_bwd_naive(const pool_shape *s, const float *dy, const int32_t *idx, float *dx, int flags);
void gavgpool_fwd_naive(int N, int C, int HW, const float *x, float *y);
void gavgpool_bwd_naive(int N, int C, int HW, const float *dy, float *dx, int flags);
void gmaxpool_fwd_naive(int N, int C, int HW, const float *x, float *y, int32_t *idx);
void gmaxpool_bwd_naive(int N, int C, int HW, const float *dy, const int32_t *idx, float *dx, int flags);
void adavgpool_fwd_naive(const pool_shape *s, const float *x, float *y);
void adavgpool_bwd_naive(const pool_shape *s, const float *dy, float *dx, int flags);
void linear_fwd_naive(int M, int F, int O, const float *x, const float *w, const float *b, float *y, int flags);
void linear_bwd_naive(int M, int F, int O, const float *x, const float *w, const float *dy, float *dx, float *dw,
		      float *db);
void l2norm_fwd_naive(int M, int D, const float *x, float eps, float *y, float *norm);
void l2norm_bwd_naive(int M, int D, const float *y, const float *norm, const float *dy, float eps, float *dx,
		      int flags);

#endif
