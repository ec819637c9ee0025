/* op_backend.h: the per-backend entry points behind ops.h (generated from ops.h: same names with cpu_/cuda_
 * prefixes, same arguments). Only kernels/ops.c and the backends include it. */
#ifndef AVSL_OP_BACKEND_H
#define AVSL_OP_BACKEND_H

#include "ops.h"

int cpu_ctx_init(op_ctx *ctx, int threads);
void cpu_ctx_free(op_ctx *ctx);
int cpu_ctx_sync(op_ctx *ctx);
int cpu_conv_fold_weights(op_ctx *ctx, int K, size_t CRS, const float *w, const float *scale, float *w_out);
int cpu_layout_convert(op_ctx *ctx, int N, int C, int HW, const float *src, int src_fmt, float *dst, int dst_fmt, int flags);
int cpu_conv2d_fwd(op_ctx *ctx, const conv_shape *s, const float *x, const float *w, const float *bias, float *y, int flags);
int cpu_conv2d_bwd_data(op_ctx *ctx, const conv_shape *s, const float *dy, const float *w, float *dx, int flags);
int cpu_conv2d_bwd_weight(op_ctx *ctx, const conv_shape *s, const float *x, const float *dy, float *dw, int flags);
int cpu_bn_fold(op_ctx *ctx, int C, const float *gamma, const float *beta, const float *mean, const float *var, float eps, float *scale, float *shift, float *invstd_out);
int cpu_affine_act_fwd(op_ctx *ctx, const bn_shape *s, const float *x, const float *scale, const float *shift, const float *res, float *y, int flags);
int cpu_bn_train_fwd(op_ctx *ctx, const bn_shape *s, const float *x, const float *gamma, const float *beta, float eps, float momentum, float *running_mean, float *running_var, float *mean, float *invstd, float *scale, float *shift, const float *res, float *y, int flags);
int cpu_bn_bwd(op_ctx *ctx, const bn_shape *s, const float *x, const float *dy, const float *relu_y, const float *gamma, const float *mean, const float *invstd, int batch_stats, float *dx, float *dres, float *dgamma, float *dbeta);
int cpu_relu_fwd(op_ctx *ctx, size_t nel, const float *x, float *y);
int cpu_relu_bwd(op_ctx *ctx, size_t nel, const float *y, const float *dy, float *dx, int flags);
int cpu_add(op_ctx *ctx, size_t nel, const float *a, const float *b, float *y, int flags);
int cpu_maxpool_fwd(op_ctx *ctx, const pool_shape *s, const float *x, float *y, int32_t *idx);
int cpu_maxpool_bwd(op_ctx *ctx, const pool_shape *s, const float *dy, const int32_t *idx, float *dx, int flags);
int cpu_gavgpool_fwd(op_ctx *ctx, int N, int C, int HW, const float *x, float *y);
int cpu_gavgpool_bwd(op_ctx *ctx, int N, int C, int HW, const float *dy, float *dx, int flags);
int cpu_gmaxpool_fwd(op_ctx *ctx, int N, int C, int HW, const float *x, float *y, int32_t *idx);
int cpu_gmaxpool_bwd(op_ctx *ctx, int N, int C, int HW, const float *dy, const int32_t *idx, float *dx, int flags);
int cpu_adavgpool_fwd(op_ctx *ctx, const pool_shape *s, const float *x, float *y);
int cpu_adavgpool_bwd(op_ctx *ctx, const pool_shape *s, const float *dy, float *dx, int flags);
int cpu_linear_fwd(op_ctx *ctx, int M, int F, int O, const float *x, const float *w, const float *b, float *y, int flags);
int cpu_linear_bwd(op_ctx *ctx, int M, int F, int O, const float *x, const float *w, const float *dy, float *dx, float *dw, float *db);
int cpu_l2norm_fwd(op_ctx *ctx, int M, int D, const float *x, float eps, float *y, float *norm);
int cpu_l2norm_bwd(op_ctx *ctx, int M, int D, const float *y, const float *norm, const float *dy, float eps, float *dx, int flags);

#ifdef AVSL_HAVE_CUDA
int cuda_ctx_init(op_ctx *ctx, int threads);
void cuda_ctx_free(op_ctx *ctx);
int cuda_ctx_sync(op_ctx *ctx);
int cuda_conv_fold_weights(op_ctx *ctx, int K, size_t CRS, const float *w, const float *scale, float *w_out);
int cuda_layout_convert(op_ctx *ctx, int N, int C, int HW, const float *src, int src_fmt, float *dst, int dst_fmt, int flags);
int cuda_conv2d_fwd(op_ctx *ctx, const conv_shape *s, const float *x, const float *w, const float *bias, float *y, int flags);
int cuda_conv2d_bwd_data(op_ctx *ctx, const conv_shape *s, const float *dy, const float *w, float *dx, int flags);
int cuda_conv2d_bwd_weight(op_ctx *ctx, const conv_shape *s, const float *x, const float *dy, float *dw, int flags);
int cuda_bn_fold(op_ctx *ctx, int C, const float *gamma, const float *beta, const float *mean, const float *var, float eps, float *scale, float *shift, float *invstd_out);
int cuda_affine_act_fwd(op_ctx *ctx, const bn_shape *s, const float *x, const float *scale, const float *shift, const float *res, float *y, int flags);
int cuda_bn_train_fwd(op_ctx *ctx, const bn_shape *s, const float *x, const float *gamma, const float *beta, float eps, float momentum, float *running_mean, float *running_var, float *mean, float *invstd, float *scale, float *shift, const float *res, float *y, int flags);
int cuda_bn_bwd(op_ctx *ctx, const bn_shape *s, const float *x, const float *dy, const float *relu_y, const float *gamma, const float *mean, const float *invstd, int batch_stats, float *dx, float *dres, float *dgamma, float *dbeta);
int cuda_relu_fwd(op_ctx *ctx, size_t nel, const float *x, float *y);
int cuda_relu_bwd(op_ctx *ctx, size_t nel, const float *y, const float *dy, float *dx, int flags);
int cuda_add(op_ctx *ctx, size_t nel, const float *a, const float *b, float *y, int flags);
int cuda_maxpool_fwd(op_ctx *ctx, const pool_shape *s, const float *x, float *y, int32_t *idx);
int cuda_maxpool_bwd(op_ctx *ctx, const pool_shape *s, const float *dy, const int32_t *idx, float *dx, int flags);
int cuda_gavgpool_fwd(op_ctx *ctx, int N, int C, int HW, const float *x, float *y);
int cuda_gavgpool_bwd(op_ctx *ctx, int N, int C, int HW, const float *dy, float *dx, int flags);
int cuda_gmaxpool_fwd(op_ctx *ctx, int N, int C, int HW, const float *x, float *y, int32_t *idx);
int cuda_gmaxpool_bwd(op_ctx *ctx, int N, int C, int HW, const float *dy, const int32_t *idx, float *dx, int flags);
int cuda_adavgpool_fwd(op_ctx *ctx, const pool_shape *s, const float *x, float *y);
int cuda_adavgpool_bwd(op_ctx *ctx, const pool_shape *s, const float *dy, float *dx, int flags);
int cuda_linear_fwd(op_ctx *ctx, int M, int F, int O, const float *x, const float *w, const float *b, float *y, int flags);
int cuda_linear_bwd(op_ctx *ctx, int M, int F, int O, const float *x, const float *w, const float *dy, float *dx, float *dw, float *db);
int cuda_l2norm_fwd(op_ctx *ctx, int M, int D, const float *x, float eps, float *y, float *norm);
int cuda_l2norm_bwd(op_ctx *ctx, int M, int D, const float *y, const float *norm, const float *dy, float eps, float *dx, int flags);
#endif

#endif
