/* bnorm_blocked.h: the OP_NCHW8C paths of bnorm.c (private to kernels/cpu). */
#ifndef AVSL_BNORM_BLOCKED_H
#define AVSL_BNORM_BLOCKED_H

#include "ops.h"

int blk_affine_act_fwd(op_ctx *ctx, const bn_shape *s, const float *x, const float *scale, const float *shift,
		       const float *res, float *y, int flags);
int blk_bn_train_fwd(op_ctx *ctx, const bn_shape *s, const float *x, const float *gamma, const float *beta,
		     float eps, float momentum, float *running_mean, float *running_var, float *mean, float *invstd,
		     float *scale, float *shift, const float *res, float *y, int flags);
int blk_bn_bwd(op_ctx *ctx, const bn_shape *s, const float *x, const float *dy, const float *relu_y,
	       const float *gamma, const float *mean, const float *invstd, int batch_stats, float *dx, float *dres,
	       float *dgamma, float *dbeta);

#endif
