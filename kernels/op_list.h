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
	X(bn_stats, 1, \
	  (op_ctx *ctx, const bn_shape *s, const float *x, float *mean, float *m2), \
	  (ctx, s, x, mean, m2)) \
	X(bn_bwd_data, 1, \
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
	X(avsl_link_prepare, 1, \
	  (op_ctx *ctx, const float *L, int D, int topk, float *s_hat), \
	  (ctx, L, D, topk, s_hat)) \
	X(avsl_normalize_rows, 1, \
	  (op_ctx *ctx, float *x, int64_t n, int D, float p), \
	  (ctx, x, n, D, p)) \
	X(avsl_normalize_rows_bwd, 1, \
	  (op_ctx *ctx, const float *x, const float *dxh, int64_t n, int D, float p, float *dx), \
	  (ctx, x, dxh, n, D, p, dx)) \
	X(avsl_dist_tile, 1, \
	  (op_ctx *ctx, const avsl_collector_view *c, int R, const float *const *x, const float *const *u, int C, \
	   const float *const *y, const float *const *v, float *out, int64_t ldo), \
	  (ctx, c, R, x, u, C, y, v, out, ldo)) \
	X(avsl_dist_plan_new, 1, \
	  (op_ctx *ctx, const avsl_collector_view *c, avsl_dist_plan **plan), \
	  (ctx, c, plan)) \
	X(avsl_dist_plan_free, 1, \
	  (op_ctx *ctx, avsl_dist_plan *plan), \
	  (ctx, plan)) \
	X(avsl_dist_gather, 1, \
	  (op_ctx *ctx, const avsl_dist_plan *plan, int R, const float *const *x, const float *const *u, int C, \
	   const int32_t *idx, const float *const *y, const float *const *v, float *out, int64_t ldo), \
	  (ctx, plan, R, x, u, C, idx, y, v, out, ldo)) \
	X(avsl_level_dist_tile, 1, \
	  (op_ctx *ctx, int R, const float *x, int C, const float *y, int D, float p, float *out, int64_t ldo), \
	  (ctx, R, x, C, y, D, p, out, ldo)) \
	X(avsl_pool_fwd, 1, \
	  (op_ctx *ctx, const float *F, int N, int C, int HW, float *g, int32_t *argmax), \
	  (ctx, F, N, C, HW, g, argmax)) \
	X(avsl_pool_bwd, 1, \
	  (op_ctx *ctx, const float *dg, const int32_t *argmax, int N, int C, int HW, float *dF), \
	  (ctx, dg, argmax, N, C, HW, dF)) \
	X(avsl_cam_fwd, 1, \
	  (op_ctx *ctx, const float *F, const int32_t *argmax, const float *W, const float *bias, int N, int C, \
	   int HW, int D, float *A), \
	  (ctx, F, argmax, W, bias, N, C, HW, D, A)) \
	X(avsl_certainty, 1, \
	  (op_ctx *ctx, const float *A, int N, int D, int H, int W, float *u), \
	  (ctx, A, N, D, H, W, u)) \
	X(avsl_link_batch, 1, \
	  (op_ctx *ctx, const float *lo, int Hl, int Wl, const float *hi, int Hh, int Wh, int N, int D, \
	   float *link), \
	  (ctx, lo, Hl, Wl, hi, Hh, Wh, N, D, link)) \
	X(avsl_collector_fwd, 1, \
	  (op_ctx *ctx, const avsl_collector_view *c, int R, const float *const *x, const float *const *u, int C, \
	   const float *const *y, const float *const *v, float *df, float *const *dl), \
	  (ctx, c, R, x, u, C, y, v, df, dl)) \
	X(avsl_collector_bwd, 1, \
	  (op_ctx *ctx, const avsl_collector_view *c, int R, const float *const *x, const float *const *u, int C, \
	   const float *const *y, const float *const *v, const float *Gf, const float *const *Gl, \
	   float *const *dx, float *const *dy, float *const *dalpha, float *const *dbeta), \
	  (ctx, c, R, x, u, C, y, v, Gf, Gl, dx, dy, dalpha, dbeta)) \
	X(pa_dist_loss, 1, \
	  (op_ctx *ctx, const float *d, int R, int C, const int32_t *ylab, const int32_t *zlab, float mpos, \
	   float mneg, float a, float *grad, float *loss), \
	  (ctx, d, R, C, ylab, zlab, mpos, mneg, a, grad, loss)) \
	X(pa_cos_loss, 1, \
	  (op_ctx *ctx, const float *s, int R, int C, const int32_t *ylab, const int32_t *zlab, float delta, \
	   float a, float *grad, float *loss), \
	  (ctx, s, R, C, ylab, zlab, delta, a, grad, loss)) \
	X(dot_tile, 1, \
	  (op_ctx *ctx, int R, const float *a, int64_t lda, int C, const float *b, int64_t ldb, int D, int mode, \
	   float *out, int64_t ldo), \
	  (ctx, R, a, lda, C, b, ldb, D, mode, out, ldo)) \
	X(topk_init, 1, \
	  (op_ctx *ctx, int R, int K, float *dist, int32_t *idx), \
	  (ctx, R, K, dist, idx)) \
	X(topk_merge, 1, \
	  (op_ctx *ctx, const float *tile, int R, int C, int64_t rstride, int64_t cstride, int64_t col0, \
	   const int32_t *cols, int64_t self0, float *dist, int32_t *idx, int K), \
	  (ctx, tile, R, C, rstride, cstride, col0, cols, self0, dist, idx, K)) \
	X(adamw_step, 1, \
	  (op_ctx *ctx, float *param, const float *grad, float *m, float *v, const avsl_adamw_segment *seg, \
	   int nseg, const avsl_adamw_group *groups, int ngroups), \
	  (ctx, param, grad, m, v, seg, nseg, groups, ngroups)) \
	X(sq_norm, 1, \
	  (op_ctx *ctx, const float *x, size_t n, double *sumsq), \
	  (ctx, x, n, sumsq)) \
	X(scale, 1, \
	  (op_ctx *ctx, float *x, size_t n, float c), \
	  (ctx, x, n, c)) \
	X(axpby, 1, \
	  (op_ctx *ctx, size_t n, float a, const float *x, float b, float *y), \
	  (ctx, n, a, x, b, y)) \
	X(gather_rows, 1, \
	  (op_ctx *ctx, const float *src, int D, const int32_t *idx, int n, float *dst), \
	  (ctx, src, D, idx, n, dst)) \
	X(scatter_add_rows, 1, \
	  (op_ctx *ctx, const float *src, int n, int D, const int32_t *idx, float *dst), \
	  (ctx, src, n, D, idx, dst)) \
	X(sum, 1, \
	  (op_ctx *ctx, const float *x, size_t n, double *sum), \
	  (ctx, x, n, sum)) \
	X(fill_mean, 1, \
	  (op_ctx *ctx, const double *sum, double count, float *out, size_t n), \
	  (ctx, sum, count, out, n)) \
	X(unit_dist, 1, \
	  (op_ctx *ctx, const float *s, size_t n, float *d), \
	  (ctx, s, n, d)) \
	X(unit_dist_bwd, 1, \
	  (op_ctx *ctx, const float *d, size_t n, float *g), \
	  (ctx, d, n, g))

#endif
