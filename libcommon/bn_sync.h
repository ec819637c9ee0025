/* bn_sync.h: training-mode batch norm over a batch spread across several processes (avsl-train --sync-bn; PyTorch's
 * SyncBatchNorm). Each process holds a slice of the global batch; the per-channel sums a batch norm needs are summed
 * over the processes between two ops, so every process normalises its slice with the mean and variance of the whole
 * global batch and back-propagates with the whole batch's sums:
 *
 *   forward:  op_bn_stats (slice mean, sum of squared deviations) -> sum over processes (count, count*mean, m2,
 *             count*mean^2: Chan's exact combination) -> mean, biased variance (normalising) and unbiased variance
 *             (running statistics, with the global count) -> op_affine_act_fwd.
 *   backward: op_bn_bwd with dx = NULL (slice sums of g and g*xhat, dres) -> the slice sums are added to
 *             dgamma/dbeta (parameter gradients are partial sums, completed by the gradient all-reduce) -> sum over
 *             processes -> op_bn_bwd_data.
 *
 * With one participant the results equal op_bn_train_fwd / op_bn_bwd up to float rounding (not bit for bit: the
 * trainer does not use this path for one process). Host memory only (the statistics are combined on the host): a
 * context on another device is refused.
 */
#ifndef AVSL_BN_SYNC_H
#define AVSL_BN_SYNC_H

#include <stddef.h>

#include "ops.h"

/* Sum buf[0, n) over every participant, in place, identically on each (dist_allreduce_f64 in avsl-train). */
typedef struct {
	void (*sum)(double *buf, size_t n, void *arg);
	void *arg;
} bn_sync;

/* op_bn_train_fwd over the global batch: same arguments and outputs (mean/invstd (C) are the global batch's;
 * running_mean/var updated with the global unbiased variance; scale/shift (C) scratch). Returns 0 or -1 (ctx->err). */
int bn_sync_train_fwd(op_ctx *ctx, const bn_sync *sy, const bn_shape *s, const float *x, const float *gamma,
		      const float *beta, float eps, float momentum, float *running_mean, float *running_var, float *mean,
		      float *invstd, float *scale, float *shift, const float *res, float *y, int flags);
/* op_bn_bwd with batch statistics over the global batch (mean/invstd from bn_sync_train_fwd): dx (N,C,HW) from the
 * global sums, dres as op_bn_bwd, dgamma/dbeta (C, may be NULL) accumulate this slice's part only. */
int bn_sync_bwd(op_ctx *ctx, const bn_sync *sy, const bn_shape *s, const float *x, const float *dy,
		const float *relu_y, const float *gamma, const float *mean, const float *invstd, float *dx, float *dres,
		float *dgamma, float *dbeta);

#endif
