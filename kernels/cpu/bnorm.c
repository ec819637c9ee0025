/* bnorm.c: batch norm (frozen and training mode) fused with the residual add and ReLU (ReLU and add alone:
 * eltwise.c). Memory-bound passes: one parallel loop over channels (or planes), vectorised inner loops over HW. */
#include <math.h>
#include <string.h>

#include "op_backend.h"
#include "cpu_internal.h"
#include "bnorm_blocked.h"
#include "bnorm_loops.h"

int cpu_bn_fold(op_ctx *ctx, int C, const float *gamma, const float *beta, const float *mean, const float *var,
		float eps, float *scale, float *shift, float *invstd_out)
{
	(void)ctx;
	for (int c = 0; c < C; c++) {
		float is = 1.0f / sqrtf(var[c] + eps);
		float sc = (gamma ? gamma[c] : 1.0f) * is;
		scale[c] = sc;
		shift[c] = (beta ? beta[c] : 0.0f) - mean[c] * sc;
		if (invstd_out)
			invstd_out[c] = is;
	}
	return 0;
}

int cpu_conv_fold_weights(op_ctx *ctx, int K, size_t CRS, const float *w, const float *scale, float *w_out)
{
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
	for (int k = 0; k < K; k++) {
		const float a = scale[k], *src = w + (size_t)k * CRS;
		float *dst = w_out + (size_t)k * CRS;
#pragma omp simd
		for (size_t i = 0; i < CRS; i++)
			dst[i] = src[i] * a;
	}
	return 0;
}

static inline void affine_plane(int HW, const float *x, float a, float b, const float *r, float *y, int relu)
{
	if (r && relu) {
#pragma omp simd
		for (int i = 0; i < HW; i++) {
			float v = x[i] * a + b + r[i];
			y[i] = v > 0 ? v : 0;
		}
	} else if (r) {
#pragma omp simd
		for (int i = 0; i < HW; i++)
			y[i] = x[i] * a + b + r[i];
	} else if (relu) {
#pragma omp simd
		for (int i = 0; i < HW; i++) {
			float v = x[i] * a + b;
			y[i] = v > 0 ? v : 0;
		}
	} else {
#pragma omp simd
		for (int i = 0; i < HW; i++)
			y[i] = x[i] * a + b;
	}
}

int cpu_affine_act_fwd(op_ctx *ctx, const bn_shape *s, const float *x, const float *scale, const float *shift,
		       const float *res, float *y, int flags)
{
	if (s->fmt == OP_NCHW8C)
		return blk_affine_act_fwd(ctx, s, x, scale, shift, res, y, flags);
	const long planes = (long)s->N * s->C;
	const int HW = s->HW, C = s->C, relu = !!(flags & OP_RELU);
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
	for (long pl = 0; pl < planes; pl++) {
		int c = (int)(pl % C);
		size_t o = (size_t)pl * HW;
		affine_plane(HW, x + o, scale[c], shift[c], res ? res + o : NULL, y + o, relu);
	}
	return 0;
}

int cpu_bn_train_fwd(op_ctx *ctx, const bn_shape *s, const float *x, const float *gamma, const float *beta,
		     float eps, float momentum, float *running_mean, float *running_var, float *mean, float *invstd,
		     float *scale, float *shift, const float *res, float *y, int flags)
{
	if (s->fmt == OP_NCHW8C)
		return blk_bn_train_fwd(ctx, s, x, gamma, beta, eps, momentum, running_mean, running_var, mean, invstd,
					scale, shift, res, y, flags);
	const int N = s->N, C = s->C, HW = s->HW;
	const double M = (double)N * HW;
#pragma omp parallel for num_threads(ctx->threads) schedule(dynamic, 1)
	for (int c = 0; c < C; c++) {
		float muf;
		double sq;
		bn_chan_stats(x, N, C, HW, c, &muf, &sq);
		double var = sq / M;
		float is = (float)(1.0 / sqrt(var + eps));
		mean[c] = muf;
		invstd[c] = is;
		float sc = (gamma ? gamma[c] : 1.0f) * is;
		scale[c] = sc;
		shift[c] = (beta ? beta[c] : 0.0f) - muf * sc;
		if (running_mean)
			running_mean[c] = (1 - momentum) * running_mean[c] + momentum * muf;
		if (running_var)
			running_var[c] = (float)((1 - momentum) * running_var[c] + momentum * (M > 1 ? sq / (M - 1) : var));
	}
	return cpu_affine_act_fwd(ctx, s, x, scale, shift, res, y, flags);
}

int cpu_bn_bwd(op_ctx *ctx, const bn_shape *s, const float *x, const float *dy, const float *relu_y,
	       const float *gamma, const float *mean, const float *invstd, int batch_stats, float *dx, float *dres,
	       float *dgamma, float *dbeta)
{
	if (s->fmt == OP_NCHW8C)
		return blk_bn_bwd(ctx, s, x, dy, relu_y, gamma, mean, invstd, batch_stats, dx, dres, dgamma, dbeta);
	const int N = s->N, C = s->C, HW = s->HW;
	const int need_sums = batch_stats || dgamma || dbeta;
	const float invM = 1.0f / ((float)N * HW);
	if (need_sums && !x && (batch_stats || dgamma))
		return cpu_fail(ctx, "bn_bwd: x is needed for batch statistics or dgamma");
#pragma omp parallel for num_threads(ctx->threads) schedule(dynamic, 1)
	for (int c = 0; c < C; c++) {
		const float mu = mean[c], is = invstd[c], ga = gamma ? gamma[c] : 1.0f;
		double sg = 0, sgx = 0;
		if (need_sums || dres) {
			for (int n = 0; n < N; n++) {
				size_t o = ((size_t)n * C + c) * HW;
				const float *g = dy + o, *yy = relu_y ? relu_y + o : NULL, *xx = x ? x + o : NULL;
				float *r = dres ? dres + o : NULL;
				float a = 0, b = 0;
				if (xx) {
#pragma omp simd reduction(+ : a, b)
					for (int i = 0; i < HW; i++) {
						float gi = yy ? (yy[i] > 0 ? g[i] : 0) : g[i];
						if (r)
							r[i] = gi;
						a += gi;
						b += gi * (xx[i] - mu);
					}
				} else {
#pragma omp simd reduction(+ : a)
					for (int i = 0; i < HW; i++) {
						float gi = yy ? (yy[i] > 0 ? g[i] : 0) : g[i];
						if (r)
							r[i] = gi;
						a += gi;
					}
				}
				sg += a;
				sgx += b;
			}
			sgx *= is; /* sum of g * xhat */
		}
		if (dgamma)
			dgamma[c] += (float)sgx;
		if (dbeta)
			dbeta[c] += (float)sg;
		if (!dx)
			continue;
		const float k = ga * is;
		if (batch_stats) {
			bn_chan_dx(x, dy, relu_y, N, C, HW, c, mu, is, k, (float)sg * invM, (float)sgx * invM, dx);
		} else {
			for (int n = 0; n < N; n++) {
				size_t o = ((size_t)n * C + c) * HW;
				const float *g = dy + o, *yy = relu_y ? relu_y + o : NULL;
				float *d = dx + o;
#pragma omp simd
				for (int i = 0; i < HW; i++) {
					float gi = yy ? (yy[i] > 0 ? g[i] : 0) : g[i];
					d[i] = k * gi;
				}
			}
		}
	}
	return 0;
}
