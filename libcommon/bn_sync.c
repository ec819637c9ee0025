/* bn_sync.c: see bn_sync.h. */
#include "bn_sync.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>

static int host_only(op_ctx *ctx)
{
	if (ctx->device == OP_DEVICE_CPU)
		return 0;
	snprintf(ctx->err, sizeof ctx->err, "synchronised batch norm (--sync-bn) runs on the cpu backend only, not %s",
		 op_backend_name(ctx));
	return -1;
}

int bn_sync_train_fwd(op_ctx *ctx, const bn_sync *sy, const bn_shape *s, const float *x, const float *gamma,
		      const float *beta, float eps, float momentum, float *running_mean, float *running_var, float *mean,
		      float *invstd, float *scale, float *shift, const float *res, float *y, int flags)
{
	const int C = s->C;
	float *m2 = scale; /* (C) this slice's sum of squared deviations (scale is scratch until the end) */
	if (host_only(ctx) || op_bn_stats(ctx, s, x, mean, m2))
		return -1;
	/* b = [count | count*mean (C) | m2 (C) | count*mean^2 (C)], summed over the slices. Chan's combination:
	 * M2 = sum_r m2_r + sum_r n_r (mean_r - mu)^2 and sum_r n_r (mean_r - mu)^2 = sum_r n_r mean_r^2 - n mu^2. */
	double *b = xmalloc_array(3 * (size_t)C + 1, sizeof *b);
	const double n = (double)s->N * s->HW;
	b[0] = n;
	for (int c = 0; c < C; c++) {
		b[1 + c] = n * mean[c];
		b[1 + C + c] = m2[c];
		b[1 + 2 * C + c] = n * mean[c] * (double)mean[c];
	}
	sy->sum(b, 3 * (size_t)C + 1, sy->arg);
	const double M = b[0];
	float *var = xmalloc_array((size_t)C, sizeof *var); /* (C) biased: what the batch is normalised with */
	for (int c = 0; c < C; c++) {
		double mu = b[1 + c] / M, between = b[1 + 2 * C + c] - M * mu * mu;
		double sq = b[1 + C + c] + (between > 0 ? between : 0);
		mean[c] = (float)mu;
		var[c] = (float)(sq / M);
		/* running statistics as op_bn_train_fwd updates them (unbiased variance, global count) */
		if (running_mean)
			running_mean[c] = (1 - momentum) * running_mean[c] + momentum * mean[c];
		if (running_var)
			running_var[c] = (float)((1 - momentum) * running_var[c] + momentum * (M > 1 ? sq / (M - 1) : sq / M));
	}
	int rc = op_bn_fold(ctx, C, gamma, beta, mean, var, eps, scale, shift, invstd);
	free(var);
	free(b);
	return rc ? rc : op_affine_act_fwd(ctx, s, x, scale, shift, res, y, flags);
}

int bn_sync_bwd(op_ctx *ctx, const bn_sync *sy, const bn_shape *s, const float *x, const float *dy,
		const float *relu_y, const float *gamma, const float *mean, const float *invstd, float *dx, float *dres,
		float *dgamma, float *dbeta)
{
	const int C = s->C;
	if (host_only(ctx))
		return -1;
	float *sums = xcalloc(2 * (size_t)C, sizeof *sums); /* (2, C): this slice's sum of g xhat, sum of g */
	float *sgx = sums, *sg = sums + C;
	if (op_bn_bwd(ctx, s, x, dy, relu_y, gamma, mean, invstd, 0, NULL, dres, sgx, sg)) {
		free(sums);
		return -1;
	}
	/* b = [sum g xhat (C) | sum g (C) | count], summed over the slices */
	double *b = xmalloc_array(2 * (size_t)C + 1, sizeof *b);
	for (int c = 0; c < C; c++) {
		if (dgamma)
			dgamma[c] += sgx[c];
		if (dbeta)
			dbeta[c] += sg[c];
		b[c] = sgx[c], b[C + c] = sg[c];
	}
	b[2 * C] = (double)s->N * s->HW;
	sy->sum(b, 2 * (size_t)C + 1, sy->arg);
	for (int c = 0; c < C; c++)
		sgx[c] = (float)b[c], sg[c] = (float)b[C + c];
	int rc = op_bn_bwd_data(ctx, s, x, dy, relu_y, gamma, mean, invstd, sg, sgx, b[2 * C], dx);
	free(b);
	free(sums);
	return rc;
}
