/* bnorm_split.c: training-mode batch norm split at its per-channel sums (op_bn_stats, op_bn_bwd_data), so that a
 * caller can sum those over several processes in between (avsl-train --sync-bn, libcommon/bn_sync.c). Both
 * layouts: plain NCHW (one channel per task) and channel-blocked OP_NCHW8C (8 channels per task, one 8-lane vector
 * per pixel). The statistics are bnorm.c's (bnorm_loops.h). */
#include <math.h>

#include "op_backend.h"
#include "cpu_internal.h"
#include "bnorm_loops.h"

/* (C) vector v at the 8 channels of block cb; padding channels get 0. */
static inline void lanes8(const float *v, int C, int cb, float def, float out[8])
{
	for (int l = 0; l < 8; l++) {
		int c = cb * 8 + l;
		out[l] = c < C ? (v ? v[c] : def) : 0;
	}
}

static void stats_plain(op_ctx *ctx, const bn_shape *s, const float *x, float *mean, float *m2)
{
#pragma omp parallel for num_threads(ctx->threads) schedule(dynamic, 1)
	for (int c = 0; c < s->C; c++) {
		double sq;
		bn_chan_stats(x, s->N, s->C, s->HW, c, &mean[c], &sq);
		m2[c] = (float)sq;
	}
}

static void stats_blocked(op_ctx *ctx, const bn_shape *s, const float *x, float *mean, float *m2)
{
	const int C = s->C, CB = (C + 7) / 8;
#pragma omp parallel for num_threads(ctx->threads) schedule(dynamic, 1)
	for (int cb = 0; cb < CB; cb++) {
		float mu[8];
		double sq[8];
		bn_block_stats(x, s->N, CB, s->HW, cb, mu, sq);
		for (int l = 0; l < 8 && cb * 8 + l < C; l++) {
			mean[cb * 8 + l] = mu[l];
			m2[cb * 8 + l] = (float)sq[l];
		}
	}
}

int cpu_bn_stats(op_ctx *ctx, const bn_shape *s, const float *x, float *mean, float *m2)
{
	if (s->fmt == OP_NCHW8C)
		stats_blocked(ctx, s, x, mean, m2);
	else
		stats_plain(ctx, s, x, mean, m2);
	return 0;
}

static void bwd_data_plain(op_ctx *ctx, const bn_shape *s, const float *x, const float *dy, const float *relu_y,
			   const float *gamma, const float *mean, const float *invstd, const float *sum_g,
			   const float *sum_gxhat, double count, float *dx)
{
	const int N = s->N, C = s->C, HW = s->HW;
#pragma omp parallel for num_threads(ctx->threads) schedule(dynamic, 1)
	for (int c = 0; c < C; c++) {
		const float mu = mean[c], is = invstd[c], k = (gamma ? gamma[c] : 1.0f) * is;
		const float mg = (float)(sum_g[c] / count), mgx = (float)(sum_gxhat[c] / count);
		bn_chan_dx(x, dy, relu_y, N, C, HW, c, mu, is, k, mg, mgx, dx);
	}
}

static void bwd_data_blocked(op_ctx *ctx, const bn_shape *s, const float *x, const float *dy, const float *relu_y,
			     const float *gamma, const float *mean, const float *invstd, const float *sum_g,
			     const float *sum_gxhat, double count, float *dx)
{
	const int N = s->N, C = s->C, HW = s->HW, CB = (C + 7) / 8;
#pragma omp parallel for num_threads(ctx->threads) schedule(dynamic, 1)
	for (int cb = 0; cb < CB; cb++) {
		float mu[8], is[8], ga[8], sg[8], sgx[8], k[8], mg[8], mgx[8];
		lanes8(mean, C, cb, 0, mu);
		lanes8(invstd, C, cb, 0, is);
		lanes8(gamma, C, cb, 1, ga);
		lanes8(sum_g, C, cb, 0, sg);
		lanes8(sum_gxhat, C, cb, 0, sgx);
		for (int l = 0; l < 8; l++) {
			k[l] = ga[l] * is[l]; /* 0 in padding lanes: they stay zero */
			mg[l] = (float)(sg[l] / count);
			mgx[l] = (float)(sgx[l] / count);
		}
		bn_block_dx(x, dy, relu_y, N, CB, HW, cb, mu, is, k, mg, mgx, dx);
	}
}

int cpu_bn_bwd_data(op_ctx *ctx, const bn_shape *s, const float *x, const float *dy, const float *relu_y,
		    const float *gamma, const float *mean, const float *invstd, const float *sum_g,
		    const float *sum_gxhat, double count, float *dx)
{
	if (!(count > 0))
		return cpu_fail(ctx, "bn_bwd_data: count must be positive");
	if (s->fmt == OP_NCHW8C)
		bwd_data_blocked(ctx, s, x, dy, relu_y, gamma, mean, invstd, sum_g, sum_gxhat, count, dx);
	else
		bwd_data_plain(ctx, s, x, dy, relu_y, gamma, mean, invstd, sum_g, sum_gxhat, count, dx);
	return 0;
}
