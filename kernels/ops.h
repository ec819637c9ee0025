/* ops.h: the op contract: every op of the library, the trunk (ResNet), the dense ops around it and the AVSL ops
 * (embedder, collector, distances, Proxy-Anchor losses).
 *
 * Dimension legend
 *   N batch          C input channels      H, W input height/width
 *   K output channels (conv), R, S filter height/width, P, Q output height/width
 *   M rows of a matrix (batch of vectors), F input features, O output features
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
/* Change the CPU threads of the ops from the next op on (< 1 means 1), between ops only, never during one: the
 * CPU backend sets OpenMP's and OpenBLAS's counts at every op, and keeps a oneDNN primitive per thread count (oneDNN
 * fixes a primitive's split over threads when it is created). Sums split over threads change with the count, so
 * results computed before and after a change are not bit-identical to those of a fixed count. */
void op_ctx_set_threads(op_ctx *ctx, int threads);
/* Block until all work queued on ctx is done (no-op on the CPU). */
int op_ctx_sync(op_ctx *ctx);
/* Make ctx's device the calling thread's current device (CUDA keeps one per host thread, and op_ctx_init_on sets
 * it in the thread that opens the context). A program driving several GPUs, one context and one host thread each
 * (avsl-graph -d cuda:0,1), calls it first in every thread, and again in a thread that opened another context
 * since; ops and memory calls then run on ctx's device. No-op on the CPU. 0, or -1 with ctx->err. */
int op_ctx_bind(op_ctx *ctx);
/* "cpu" or "cuda". */
const char *op_backend_name(const op_ctx *ctx);
/* The activation layout the backend's trunk ops are fastest in (CPU: OP_NCHW8C; CUDA: OP_NCHW). A trunk builds its
 * activations in this layout; every shaped op accepts OP_NCHW, the CPU also OP_NCHW8C. */
int op_preferred_layout(const op_ctx *ctx);

/* Memory of ctx's backend (device memory for CUDA, 64-byte aligned host memory for the CPU), so code that moves
 * data does not branch on the device. Each returns 0, or -1 with ctx->err. op_alloc: *p = NULL on failure.
 * op_upload and op_memset are queued on the context's stream (the host source must stay valid until op_ctx_sync or
 * the next op_download); op_download returns once the data is on the host. op_free(ctx, NULL) does nothing. */
int op_alloc(op_ctx *ctx, void **p, size_t bytes);
void op_free(op_ctx *ctx, void *p);
int op_upload(op_ctx *ctx, void *dst, const void *src, size_t bytes);
int op_download(op_ctx *ctx, void *dst, const void *src, size_t bytes);
int op_memset(op_ctx *ctx, void *p, int byte, size_t bytes);
/* Free and total bytes of the memory ctx's ops allocate from: the CUDA device's (cudaMemGetInfo; it makes ctx's
 * device current for the calling thread, as op_ctx_bind), so a tool can refuse a plan that does not fit before
 * its first allocation. The CPU: 0 and 0 (host memory is not planned against a limit). 0, or -1 with ctx->err. */
int op_mem_info(op_ctx *ctx, size_t *free_bytes, size_t *total_bytes);

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

/* ---- AVSL: embedder, collector, distances, losses (method §2-4, ../shared/design/avsl-method.md) ------------
 * Dimension legend: N batch, C channels of a feature map F (N, C, HW) with HW = H*W positions (row-major), D
 * embedding dim (512), L levels (3), R rows (queries); in the distance and loss ops C counts the columns of the
 * tile (gallery items or proxies) instead. Level-indexed arguments are host arrays of L
 * pointers (x[l], u[l], ...), each pointing to a (rows, D) tensor of the backend.
 * Determinism: every AVSL op gives the same bits for any thread count (per-row partial sums, no atomics).
 * Precision: float32 storage; sums over long axes (pool means, p-norms, certainty, losses, collector gate
 * gradients) are accumulated in double. Scratch memory comes from the context, never from malloc in the op. */

enum { AVSL_MAX_LEVELS = 4 };

/* Everything the AVSL distance needs, as read from a checkpoint. Pointers are borrowed (backend memory). */
typedef struct {
	int levels;                              /* L (3) */
	int dim;                                 /* D */
	float gamma_p;                           /* --prob-gamma */
	float p;                                 /* --index-p (2 has a fast path) */
	const float *s_hat[AVSL_MAX_LEVELS - 1]; /* (D, D) column-normalised top-k masked link t -> t+1; rows: level t */
	const float *alpha[AVSL_MAX_LEVELS];     /* (D) prob_coef per level (level 0 unused) */
	const float *beta[AVSL_MAX_LEVELS];      /* (D) prob_bias per level (level 0 unused) */
} avsl_collector_view;

/* S_hat (D, D) from a link buffer L (D, D): R = max(L, 0); per column n keep rows with R >= (k-th largest) - 1e-8;
 * divide each column by (its kept sum + 1e-8) (method §3.3 step 4). L and s_hat must not alias. */
int op_avsl_link_prepare(op_ctx *ctx, const float *L, int D, int topk, float *s_hat);
/* p-normalise rows in place: x (n, D) = x / max(||x||_p, 1e-12), the norm accumulated in double. */
int op_avsl_normalize_rows(op_ctx *ctx, float *x, int64_t n, int D, float p);
/* Backward of op_avsl_normalize_rows: x (n, D) the UNnormalised input, dxh (n, D) = dL/dx_hat -> dx (n, D) = dL/dx
 * (overwritten; dx may alias x or dxh). p = 2: dx = (dxh - x_hat <x_hat, dxh>) / ||x||; general p: the p-norm
 * Jacobian; rows with ||x|| <= 1e-12 are divided by the constant 1e-12. */
int op_avsl_normalize_rows_bwd(op_ctx *ctx, const float *x, const float *dxh, int64_t n, int D, float p, float *dx);

/* Final AVSL distance d_f for a tile. x[l]: (R, D) p-normalised row embeddings, u[l]: (R, D) row certainties;
 * y[l], v[l]: (C, D) the same for the columns. out: (R, C), row-major with leading dimension ldo >= C; out must not
 * alias the inputs. */
int op_avsl_dist_tile(op_ctx *ctx, const avsl_collector_view *c, int R, const float *const *x, const float *const *u,
		      int C, const float *const *y, const float *const *v, float *out, int64_t ldo);
/* The re-ranking form (avsl-graph --rerank): the same d_f with the columns picked by index, column q = row idx[q]
 * of y[l], v[l] ((n, D) arrays, p-normalised), so no gathered copy is made; bit-identical to op_avsl_dist_tile on
 * the gathered columns. The plan holds S_hat regrouped for the kernel, built once per collector (c must outlive
 * it) by op_avsl_dist_plan_new, released by op_avsl_dist_plan_free (a backend object: use it with the context
 * that made it). */
typedef struct avsl_dist_plan avsl_dist_plan;
int op_avsl_dist_plan_new(op_ctx *ctx, const avsl_collector_view *c, avsl_dist_plan **plan);
int op_avsl_dist_plan_free(op_ctx *ctx, avsl_dist_plan *plan);
int op_avsl_dist_gather(op_ctx *ctx, const avsl_dist_plan *plan, int R, const float *const *x, const float *const *u,
			int C, const int32_t *idx, const float *const *y, const float *const *v, float *out,
			int64_t ldo);
/* Per-level distance (--metric levels|level:N): out[r,c] = sum_n |x[r,n] - y[c,n]|^p of p-normalised embeddings.
 * x: (R, D), y: (C, D), out: (R, C) with leading dimension ldo. */
int op_avsl_level_dist_tile(op_ctx *ctx, int R, const float *x, int C, const float *y, int D, float p, float *out,
			    int64_t ldo);

/* Embedder pooling (§2.1): g[b,k] = mean_j F[b,k,j] + max_j F[b,k,j] (mean in double); argmax[b,k] = first arg-max
 * in row-major order. F: (N, C, HW); g, argmax: (N, C). */
int op_avsl_pool_fwd(op_ctx *ctx, const float *F, int N, int C, int HW, float *g, int32_t *argmax);
/* dF[b,k,j] = dg[b,k]/HW + [j == argmax[b,k]] * dg[b,k]; dF (N, C, HW) overwritten. */
int op_avsl_pool_bwd(op_ctx *ctx, const float *dg, const int32_t *argmax, int N, int C, int HW, float *dF);
/* Class-activation maps (§2.2): A[b,c,j] = sum_k W[c,k] (F[b,k,j] + HW F[b,k,argmax] [j == argmax[b,k]]) + bias[c].
 * F: (N, C, HW), argmax: (N, C) from op_avsl_pool_fwd, W: (D, C), bias: (D), A: (N, D, HW) overwritten. Scratch:
 * C floats. */
int op_avsl_cam_fwd(op_ctx *ctx, const float *F, const int32_t *argmax, const float *W, const float *bias, int N,
		    int C, int HW, int D, float *A);
/* Certainty (§2.3): per (b,c) map A[b,c] (H, W): subtract each row's minimum over the width, L1-normalise
 * (denominator max(sum, 1e-12)), unbiased std over the H*W values (0 when H*W = 1). A: (N, D, H, W), u: (N, D).
 * Scratch: threads x H*W floats. */
int op_avsl_certainty(op_ctx *ctx, const float *A, int N, int D, int H, int W, float *u);
/* Batch link (§2.4): adaptive-average-pool lo (N, D, Hl, Wl) to (Hh, Wh), L2-normalise every (b, channel) over
 * space (also hi (N, D, Hh, Wh)), link[m,n] = (1/N) sum_b sum_j Lo[b,m,j] Hi[b,n,j]. link: (D, D) overwritten.
 * Scratch: 2 N D Hh Wh floats. */
int op_avsl_link_batch(op_ctx *ctx, const float *lo, int Hl, int Wl, const float *hi, int Hh, int Wh, int N, int D,
		       float *link);

/* Training-time collector (§3.3-3.4). x[l]: (R, D) normalised row embeddings, u[l]: (R, D) certainties;
 * y[l], v[l]: (C, D) the columns. Forward: d_f (R, C) (may be NULL) and the level distances dl[l] (R, C) (dl or
 * entries may be NULL). */
int op_avsl_collector_fwd(op_ctx *ctx, const avsl_collector_view *c, int R, const float *const *x,
			  const float *const *u, int C, const float *const *y, const float *const *v, float *df,
			  float *const *dl);
/* Backward with the spec's routing: Gf = dL/dd_f (R, C) reaches only alpha[l], beta[l] for l >= 1 (accumulated
 * into dalpha[l], dbeta[l]; every Delta, S_hat and certainty is a constant); Gl[l] = dL/dd_l (R, C) reaches the
 * normalised embeddings: dx[l] (R, D) and dy[l] (C, D), overwritten. Gf or any Gl[l] may be NULL (zero). Scratch:
 * (R, 2, L, D) doubles of per-row partial sums (so the result does not depend on scheduling) and 5 D floats per
 * thread. */
int op_avsl_collector_bwd(op_ctx *ctx, const avsl_collector_view *c, int R, const float *const *x,
			  const float *const *u, int C, const float *const *y, const float *const *v, const float *Gf,
			  const float *const *Gl, float *const *dx, float *const *dy, float *const *dalpha,
			  float *const *dbeta);

/* Distance Proxy-Anchor (§4.1) over d (R, C), row labels ylab (R), column labels zlab (C): positives
 * Pos_c = ln(1 + sum_{y_r = z_c} exp(a (d - mpos))) averaged over columns with a positive, negatives
 * Neg_c = ln(1 + sum_{y_r != z_c} exp(-a (d - mneg))) averaged over all columns. Only unmasked terms are evaluated,
 * with a max-shifted log-sum-exp in double (§11-P13). *loss (host) = L; grad (R, C) = dL/dd (overwritten; NULL to
 * skip; may not alias d). */
int op_pa_dist_loss(op_ctx *ctx, const float *d, int R, int C, const int32_t *ylab, const int32_t *zlab, float mpos,
		    float mneg, float a, float *grad, float *loss);
/* Cosine Proxy-Anchor (§4.3) over similarities s (R, C): Pos_c = ln(1 + sum_pos exp(-a (s - delta))),
 * Neg_c = ln(1 + sum_neg exp(a (s + delta))), same averaging. grad = dL/ds; *loss (host) = L. */
int op_pa_cos_loss(op_ctx *ctx, const float *s, int R, int C, const int32_t *ylab, const int32_t *zlab, float delta,
		   float a, float *grad, float *loss);

/* ---- k-NN graphs: the plain metrics' distance tiles and the running top-k (libcommon/knn.c, rerank.c) --------
 * Dimension legend: R rows (queries), C columns (gallery items of the tile), D vector length, K list length. */

enum { OP_TILE_DOT = 0, OP_TILE_COSINE = 1, OP_TILE_L2 = 2 };

/* A distance tile of two sets of vectors: a (R, D) with leading dimension lda >= D, b (C, D) with ldb >= D,
 * out (R, C) with leading dimension ldo >= C, overwritten; out must not alias a or b. mode:
 *   OP_TILE_DOT     out[r,c] = a_r . b_c
 *   OP_TILE_COSINE  1 - a_r . b_c                                 (a, b L2-normalised by the caller)
 *   OP_TILE_L2      max(|a_r|^2 + |b_c|^2 - 2 a_r . b_c, 0), as fmaf(-2, a_r . b_c, |a_r|^2 + |b_c|^2): the
 *                   squared Euclidean distance (the clamp removes the tiny negatives of near-duplicates)
 * Determinism (CPU): every dot product and squared norm is one fused multiply-add chain over k = 0 .. D-1 from 0,
 * whatever the tile, its position, the thread count or the operand order: a distance is bit-identical however a
 * graph is tiled or sharded, and d(a_r, b_c) == d(b_c, a_r) bit for bit (knn.c computes half of a symmetric graph
 * on it). dot_tile_naive is the same chain as a scalar loop: equal bit for bit. CUDA: cuBLAS sgemm and an fma
 * chain for the norms; deterministic for one device and shape, equal to the CPU within ~1e-6 relative (TF32 with
 * OP_CTX_TF32: ~1e-3), not symmetric bit for bit. Scratch: CPU (R + C) D + R C floats, rounded up to the panel
 * sizes; CUDA (R + C) floats for the L2 norms. */
int op_dot_tile(op_ctx *ctx, int R, const float *a, int64_t lda, int C, const float *b, int64_t ldb, int D, int mode,
		float *out, int64_t ldo);

enum { OP_TOPK_MAX_K = 1024 };

/* Running k smallest per row (a k-NN list per query). dist (R, K) float and idx (R, K) int32: row r's list,
 * ascending by (distance, index) -- ties by ascending index, so the lists (and their order) do not depend on the
 * order in which candidates are offered: tiles, thread counts and shards give identical lists. An empty slot is
 * (+inf, -1) and sorts after every entry (a real +inf distance included). K >= 1; CUDA: K <= OP_TOPK_MAX_K (a
 * row's list lives in shared memory). op_topk_init: every slot empty. */
int op_topk_init(op_ctx *ctx, int R, int K, float *dist, int32_t *idx);
/* Offer a tile of candidates to the lists. tile element (r, c), at tile[r * rstride + c * cstride] (a row-major
 * (R, C) tile: rstride = ldt, cstride = 1; its transpose: rstride = 1, cstride = ldt), is the distance of row r to
 * item cols[c], or col0 + c when cols is NULL (cols: (C) int32). If self0 >= 0, row r never receives item
 * self0 + r (the query itself). NaN distances are never inserted; -0 is stored as +0. Item indices lie in
 * [0, 2^31 - 1) and an item is offered to a row at most once over all merges (else it may be listed twice).
 * The lists stay sorted; the tile, cols and the lists must not alias. Determinism: exact (a selection, no
 * arithmetic), equal on every backend. Scratch: CPU threads x (64 + 1) K keys; CUDA none (the list of a row lives
 * in shared memory). */
int op_topk_merge(op_ctx *ctx, const float *tile, int R, int C, int64_t rstride, int64_t cstride, int64_t col0,
		  const int32_t *cols, int64_t self0, float *dist, int32_t *idx, int K);

/* ---- AdamW and gradient clipping over the flat parameter buffer (libcommon/optim.c) ---------------------- */

enum { AVSL_ADAMW_MAX_GROUPS = 8 };

/* One optimiser group (host memory). step is this group's own step count t >= 1 (groups step separately during
 * warm-up); a group with active = 0 is left untouched (no decay, no moment update). The hyper-parameters are
 * doubles (python floats); the op derives its float32 constants from them in double, as torch 1.13 does:
 * PyTorch AdamW: p -= lr*wd*p; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 *                p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps). */
typedef struct {
	double lr, wd, beta1, beta2, eps;
	int64_t step;
	int active;
} avsl_adamw_group;

/* A contiguous range of the flat buffers that belongs to one group (one trainable tensor, or several adjacent
 * ones). Ranges must not overlap. */
typedef struct {
	uint64_t offset;      /* in floats */
	uint64_t numel;
	uint64_t first_block; /* the CUDA backend's scratch (its copy of the table); ignored on input */
	int32_t group;        /* index into the group table */
	int32_t reserved;
} avsl_adamw_segment;

/* One AdamW step (the formula above) over the flat buffers param, grad, m, v (backend memory): the elements of
 * segment s, [offset, offset + numel), with the constants of groups[seg[s].group]; nothing outside the segments is
 * touched (frozen tensors, buffers). seg (nseg) and groups (ngroups <= AVSL_ADAMW_MAX_GROUPS): host memory.
 * Precision: float32, torch's operation order per element (_single_tensor_adamw). Determinism: an element's
 * result depends on nothing but its own values and its group (any thread count, any cut of the segments). CPU and
 * CUDA agree within a few ulp (their compilers fuse the multiply-adds differently). Scratch: CUDA nseg segments. */
int op_adamw_step(op_ctx *ctx, float *param, const float *grad, float *m, float *v, const avsl_adamw_segment *seg,
		  int nseg, const avsl_adamw_group *groups, int ngroups);
/* *sumsq (host) = sum of x[i]^2 over x (n), accumulated in double in one fixed order, so the same bits for any
 * thread count (CPU: blocks of 8192 floats, eight lanes each, the block sums in order; CUDA: its own fixed tree,
 * equal to the CPU within double rounding). The gradient norms of clipping. Scratch: CPU n / 8192 doubles, CUDA
 * 129 doubles. */
int op_sq_norm(op_ctx *ctx, const float *x, size_t n, double *sumsq);
/* x (n) *= c, in place (clipping's rescale). */
int op_scale(op_ctx *ctx, float *x, size_t n, float c);

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
void avsl_cam_fwd_naive(const float *F, const int32_t *argmax, const float *W, const float *bias, int N, int C,
			int HW, int D, float *A);
/* The fma chains of op_dot_tile as scalar loops (fmaf): equal to the CPU op bit for bit. */
void dot_tile_naive(int R, const float *a, int64_t lda, int C, const float *b, int64_t ldb, int D, int mode,
		    float *out, int64_t ldo);
/* One pair at a time, dense propagation. */
void avsl_dist_tile_naive(const avsl_collector_view *c, int R, const float *const *x, const float *const *u, int C,
			  const float *const *y, const float *const *v, float *out, int64_t ldo);

#endif
