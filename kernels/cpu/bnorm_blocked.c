/* bnorm_blocked.c: batch norm ops on channel-blocked (OP_NCHW8C) activations: each pixel holds 8 channels, so
 * every inner loop is one 8-lane vector with its own per-channel scale (one AVX2 register). Padding lanes get
 * scale = shift = 0 and stay zero. */
#include <math.h>
#include <string.h>

#include "op_backend.h"
#include "cpu_internal.h"
#include "bnorm_blocked.h"
#include "bnorm_loops.h"

/* the 8 per-channel values of block cb (0 for padding channels) */
static inline void lanes(const float *v, int C, int cb, float def, float out[8])
{
	for (int l = 0; l < 8; l++) {
		int c = cb * 8 + l;
		out[l] = c < C ? (v ? v[c] : def) : 0;
	}
}

int blk_affine_act_fwd(op_ctx *ctx, const bn_shape *s, const float *x, const float *scale, const float *shift,
		       const float *res, float *y, int flags)
{
	const int CB = (s->C + 7) / 8, HW = s->HW, relu = !!(flags & OP_RELU);
	const long blocks = (long)s->N * CB;
	/* dynamic: a thread that shares its core with another process leaves its blocks to the others */
#pragma omp parallel for num_threads(ctx->threads) schedule(dynamic, 8)
	for (long nb = 0; nb < blocks; nb++) {
		float a[8], b[8];
		lanes(scale, s->C, (int)(nb % CB), 1, a);
		lanes(shift, s->C, (int)(nb % CB), 0, b);
		size_t o = (size_t)nb * HW * 8;
		const float *xp = x + o, *rp = res ? res + o : NULL;
		float *yp = y + o;
		for (int i = 0; i < HW; i++) {
			float v[8];
#pragma omp simd
			for (int l = 0; l < 8; l++)
				v[l] = xp[i * 8 + l] * a[l] + b[l];
			if (rp) {
#pragma omp simd
				for (int l = 0; l < 8; l++)
					v[l] += rp[i * 8 + l];
			}
			if (relu) {
#pragma omp simd
				for (int l = 0; l < 8; l++)
					v[l] = v[l] > 0 ? v[l] : 0;
			}
#pragma omp simd
			for (int l = 0; l < 8; l++)
				yp[i * 8 + l] = v[l];
		}
	}
	return 0;
}

int blk_bn_train_fwd(op_ctx *ctx, const bn_shape *s, const float *x, const float *gamma, const float *beta,
		     float eps, float momentum, float *running_mean, float *running_var, float *mean, float *invstd,
		     float *scale, float *shift, const float *res, float *y, int flags)
{
	const int N = s->N, C = s->C, HW = s->HW, CB = (C + 7) / 8;
	const double M = (double)N * HW;
#pragma omp parallel for num_threads(ctx->threads) schedule(dynamic, 1)
	for (int cb = 0; cb < CB; cb++) {
		double sq[8];
		float mu[8];
		bn_block_stats(x, N, CB, HW, cb, mu, sq);
		for (int l = 0; l < 8; l++) {
			int c = cb * 8 + l;
			if (c >= C)
				break;
			double var = sq[l] / M;
			float is = (float)(1.0 / sqrt(var + eps));
			mean[c] = mu[l];
			invstd[c] = is;
			float sc = (gamma ? gamma[c] : 1.0f) * is;
			scale[c] = sc;
			shift[c] = (beta ? beta[c] : 0.0f) - mu[l] * sc;
			if (running_mean)
				running_mean[c] = (1 - momentum) * running_mean[c] + momentum * mu[l];
			if (running_var)
				running_var[c] = (float)((1 - momentum) * running_var[c] +
							 momentum * (M > 1 ? sq[l] / (M - 1) : var));
		}
	}
	return blk_affine_act_fwd(ctx, s, x, scale, shift, res, y, flags);
}

/* The backward pass runs over (channel block, piece of the batch) tasks taken dynamically, not over channel blocks
 * alone: the demo's first stage has 16 channels, 2 blocks, and a static split of 2 tasks over 2 threads waits for
 * the thread that shares its core with another process. The pieces depend on N only (BN_PIECES, fewer when N is
 * smaller) and their sums are added in piece order: the same bits for every thread count. */
enum { BN_PIECES = 8 };

int blk_bn_bwd(op_ctx *ctx, const bn_shape *s, const float *x, const float *dy, const float *relu_y,
	       const float *gamma, const float *mean, const float *invstd, int batch_stats, float *dx, float *dres,
	       float *dgamma, float *dbeta)
{
	const int N = s->N, C = s->C, HW = s->HW, CB = (C + 7) / 8;
	const int need_sums = batch_stats || dgamma || dbeta;
	const float invM = 1.0f / ((float)N * HW);
	if (!x && (batch_stats || dgamma))
		return cpu_fail(ctx, "bn_bwd: x is needed for batch statistics or dgamma");
	const int ch = (N + BN_PIECES - 1) / BN_PIECES, np = (N + ch - 1) / ch;
	const size_t blk = (size_t)CB * HW * 8; /* floats per image */
	/* (CB, np, 2, 8) partial sums of g and g (x - mean) per piece, then (CB, 2, 8) their totals */
	double *part = cpu_scratch(ctx, sizeof(double) * (size_t)CB * (np + 1) * 16);
	if (!part)
		return -1;
	double *tot = part + (size_t)CB * np * 16;
	if (need_sums || dres) {
#pragma omp parallel for num_threads(ctx->threads) schedule(dynamic, 1)
		for (int t = 0; t < CB * np; t++) {
			const int cb = t / np, p = t % np, n1 = (p + 1) * ch < N ? (p + 1) * ch : N;
			float mu[8];
			lanes(mean, C, cb, 0, mu);
			double sg[8] = {0}, sgx[8] = {0};
			for (int n = p * ch; n < n1; n++) {
				size_t o = (size_t)n * blk + (size_t)cb * HW * 8;
				const float *g = dy + o, *yy = relu_y ? relu_y + o : NULL, *xx = x ? x + o : NULL;
				float *r = dres ? dres + o : NULL;
				float a[8] = {0}, b[8] = {0};
				for (int i = 0; i < HW; i++) {
#pragma omp simd
					for (int l = 0; l < 8; l++) {
						float gi = yy ? (yy[i * 8 + l] > 0 ? g[i * 8 + l] : 0) : g[i * 8 + l];
						if (r)
							r[i * 8 + l] = gi;
						a[l] += gi;
						if (xx)
							b[l] += gi * (xx[i * 8 + l] - mu[l]);
					}
				}
				for (int l = 0; l < 8; l++)
					sg[l] += a[l], sgx[l] += b[l];
			}
			double *q = part + (size_t)t * 16;
			for (int l = 0; l < 8; l++)
				q[l] = sg[l], q[8 + l] = sgx[l];
		}
	}
	for (int cb = 0; cb < CB; cb++) {
		float is[8];
		lanes(invstd, C, cb, 0, is);
		double *q = tot + (size_t)cb * 16;
		for (int l = 0; l < 16; l++)
			q[l] = 0;
		if (need_sums || dres)
			for (int p = 0; p < np; p++) /* piece order */
				for (int l = 0; l < 16; l++)
					q[l] += part[((size_t)cb * np + p) * 16 + l];
		for (int l = 0; l < 8; l++)
			q[8 + l] *= is[l];
		for (int l = 0; l < 8 && cb * 8 + l < C; l++) {
			if (dgamma)
				dgamma[cb * 8 + l] += (float)q[8 + l];
			if (dbeta)
				dbeta[cb * 8 + l] += (float)q[l];
		}
	}
	if (!dx)
		return 0;
#pragma omp parallel for num_threads(ctx->threads) schedule(dynamic, 1)
	for (int t = 0; t < CB * np; t++) {
		const int cb = t / np, p = t % np, n0 = p * ch, n1 = (p + 1) * ch < N ? (p + 1) * ch : N;
		float mu[8], is[8], ga[8];
		lanes(mean, C, cb, 0, mu);
		lanes(invstd, C, cb, 0, is);
		lanes(gamma, C, cb, 1, ga);
		const double *q = tot + (size_t)cb * 16;
		float k[8], mg[8], mgx[8];
		for (int l = 0; l < 8; l++) {
			k[l] = ga[l] * is[l]; /* 0 in padding lanes */
			mg[l] = (float)q[l] * invM;
			mgx[l] = (float)q[8 + l] * invM;
		}
		const size_t o0 = (size_t)n0 * blk;
		if (batch_stats) {
			bn_block_dx(x + o0, dy + o0, relu_y ? relu_y + o0 : NULL, n1 - n0, CB, HW, cb, mu, is, k, mg, mgx,
				    dx + o0);
			continue;
		}
		for (int n = n0; n < n1; n++) {
			size_t o = (size_t)n * blk + (size_t)cb * HW * 8;
			const float *g = dy + o, *yy = relu_y ? relu_y + o : NULL;
			float *d = dx + o;
			for (int i = 0; i < HW; i++)
#pragma omp simd
				for (int l = 0; l < 8; l++) {
					float gi = yy ? (yy[i * 8 + l] > 0 ? g[i * 8 + l] : 0) : g[i * 8 + l];
					d[i * 8 + l] = k[l] * gi;
				}
		}
	}
	return 0;
}
