/* op_list.h: every op of the contract (ops.h), once. The backend table type (op_backend.h), the per-backend
 * prototypes, the dispatching op_* functions (ops.c), the op ids of op_supports and the tables themselves are all
 * expanded from this list, so adding an op is one entry here, its documented prototype in ops.h (the compiler
 * checks the two agree: ops.c defines op_NAME from this list), and its implementations.
 *
 *     X(name, cuda, (parameters), (arguments))
 *
 * name: the op is op_NAME in ops.h, cpu_NAME in kernels/cpu, cuda_NAME in kernels/cuda.
 * cuda: 1 if kernels/cuda implements it, 0 if not (the CUDA table then holds NULL and op_supports refuses it).
 * Every op takes the context first and returns 0, or -1 with the reason in ctx->err.
 */
#ifndef AVSL_OP_LIST_H
#define AVSL_OP_LIST_H

#define OP_LIST(X) \
	X(conv_fold_weights, 1, \
	  (op_ctx *ctx, int K, size_t CRS, const float *w, const float *scale, float *w_out), \
	  (ctx, K, CRS, w, scale, w_out)) \
	X(layout_convert, 1, \
	  (op_ctx *ctx, int N, int C, int HW, const float *src, int src_fmt, float *dst, int dst_fmt, \
	   int flags), \
	  (ctx, N, C, HW, src, src_fmt, dst, dst_fmt, flags)) \
	X(conv2d_fwd, 1, \
	  (op_ctx *ctx, const conv_shape *s, const float *x, const float *w, const float *bias, float *y, \
	   int flags), \
	  (ctx, s, x, w, bias, y, flags)) \
	X(conv2d_bwd_data, 1, \
	  (op_ctx *ctx, const conv_shape *s, const float *dy, const float *w, float *dx, int flags), \
	  (ctx, s, dy, w, dx, flags)) \
	X(conv2d_bwd_weight, 1, \
	  (op_ctx *ctx, const conv_shape *s, const float *x, const float *dy, float *dw, int flags), \
	  (ctx, s, x, dy, dw, flags)) \
	X(bn_fold, 1, \
	  (op_ctx *ctx, int C, const float *gamma, const float *beta, const float *mean, const float *var, \
	   float eps, float *scale, float *shift, float *invstd_out), \
	  (ctx, C, gamma, beta, mean, var, eps, scale, shift, invstd_out)) \
	X(affine_act_fwd, 1, \
	  (op_ctx *ctx, const bn_shape *s, const float *x, const float *scale, const float *shift, \
	   const float *res, float *y, int flags), \
	  (ctx, s, x, scale, shift, res, y, flags)) \
	X(bn_train_fwd, 1, \
	  (op_ctx *ctx, const bn_shape *s, const float *x, const float *gamma, const float *beta, float eps, \
	   float momentum, float *running_mean, float *running_var, float *mean, float *invstd, float *scale, \
	   float *shift, const float *res, float *y, int flags), \
	  (ctx, s, x, gamma, beta, eps, momentum, running_mean, running_var, mean, invstd, scale, shift, res, y, flags)) \
	X(bn_bwd, 1, \
	  (op_ctx *ctx, const bn_shape *s, const float *x, const float *dy, const float *relu_y, \
	   const float *gamma, const float *mean, const float *invstd, int batch_stats, float *dx, float *dres, \
	   float *dgamma, float *dbeta), \
	  (ctx, s, x, dy, relu_y, gamma, mean, invstd, batch_stats, dx, dres, dgamma, dbeta)) \
	X(bn_stats, 0, \
	  (op_ctx *ctx, const bn_shape *s, const float *x, float *mean, float *m2), \
	  (ctx, s, x, mean, m2)) \
	X(bn_bwd_data, 0, \
	  (op_ctx *ctx, const bn_shape *s, const float *x, const float *dy, const float *relu_y, \
	   const float *gamma, const float *mean, const float *invstd, const float *sum_g, const float *sum_gxhat, \
	   double count, float *dx), \
	  (ctx, s, x, dy, relu_y, gamma, mean, invstd, sum_g, sum_gxhat, count, dx)) \
	X(relu_fwd, 1, \
	  (op_ctx *ctx, size_t nel, const float *x, float *y), \
	  (ctx, nel, x, y)) \
	X(relu_bwd, 1, \
	  (op_ctx *ctx, size_t nel, const float *y, const float *dy, float *dx, int flags), \
	  (ctx, nel, y, dy, dx, flags)) \
	X(add, 1, \
	  (op_ctx *ctx, size_t nel, const float *a, const float *b, float *y, int flags), \
	  (ctx, nel, a, b, y, flags)) \
	X(maxpool_fwd, 1, \
	  (op_ctx *ctx, const pool_shape *s, const float *x, float *y, int32_t *idx), \
	  (ctx, s, x, y, idx)) \
	X(maxpool_bwd, 1, \
	  (op_ctx *ctx, const pool_shape *s, const float *dy, const int32_t *idx, float *dx, int flags), \
	  (ctx, s, dy, idx, dx, flags)) \
	X(gavgpool_fwd, 1, \
	  (op_ctx *ctx, int N, int C, int HW, const float *x, float *y), \
	  (ctx, N, C, HW, x, y)) \
	X(gavgpool_bwd, 1, \
	  (op_ctx *ctx, int N, int C, int HW, const float *dy, float *dx, int flags), \
	  (ctx, N, C, HW, dy, dx, flags)) \
	X(gmaxpool_fwd, 1, \
	  (op_ctx *ctx, int N, int C, int HW, const float *x, float *y, int32_t *idx), \
	  (ctx, N, C, HW, x, y, idx)) \
	X(gmaxpool_bwd, 1, \
	  (op_ctx *ctx, int N, int C, int HW, const float *dy, const int32_t *idx, float *dx, int flags), \
	  (ctx, N, C, HW, dy, idx, dx, flags)) \
	X(adavgpool_fwd, 1, \
	  (op_ctx *ctx, const pool_shape *s, const float *x, float *y), \
	  (ctx, s, x, y)) \
	X(adavgpool_bwd, 1, \
	  (op_ctx *ctx, const pool_shape *s, const float *dy, float *dx, int flags), \
	  (ctx, s, dy, dx, flags)) \
	X(linear_fwd, 1, \
	  (op_ctx *ctx, int M, int F, int O, const float *x, const float *w, const float *b, float *y, \
	   int flags), \
	  (ctx, M, F, O, x, w, b, y, flags)) \
	X(linear_bwd, 1, \
	  (op_ctx *ctx, int M, int F, int O, const float *x, const float *w, const float *dy, float *dx, \
	   float *dw, float *db), \
	  (ctx, M, F, O, x, w, dy, dx, dw, db)) \
	X(l2norm_fwd, 1, \
	  (op_ctx *ctx, int M, int D, const float *x, float eps, float *y, float *norm), \
	  (ctx, M, D, x, eps, y, norm)) \
	X(l2norm_bwd, 1, \
	  (op_ctx *ctx, int M, int D, const float *y, const float *norm, const float *dy, float eps, float *dx, \
	   int flags), \
	  (ctx, M, D, y, norm, dy, eps, dx, flags))

#endif
