/* pool.c: max-pooling (windowed, global), average pooling (global, adaptive): forward and backward.
 * Loops over (n, c) planes in parallel; the windowed max-pool keeps the argmax for the backward. */
#include <float.h>
#include <string.h>

#include "op_backend.h"
#include "cpu_internal.h"

/* OP_NCHW8C: 8 channels per pixel, one vector max per window element; idx per lane as in the plain layout */
static int maxpool_fwd_blocked(op_ctx *ctx, const pool_shape *s, const float *x, float *y, int32_t *idx)
{
	const int CB = (s->C + 7) / 8, H = s->H, W = s->W, P = s->P, Q = s->Q;
	const long blocks = (long)s->N * CB;
#pragma omp parallel for num_threads(ctx->threads) schedule(dynamic, 16)
	for (long nb = 0; nb < blocks; nb++) {
		const float *xp = x + (size_t)nb * H * W * 8;
		float *yp = y + (size_t)nb * P * Q * 8;
		int32_t *ip = idx + (size_t)nb * P * Q * 8;
		for (int p = 0; p < P; p++) {
			int h0 = p * s->stride - s->pad, h1 = h0 + s->R;
			h0 = h0 < 0 ? 0 : h0, h1 = h1 > H ? H : h1;
			for (int q = 0; q < Q; q++) {
				int w0 = q * s->stride - s->pad, w1 = w0 + s->S;
				w0 = w0 < 0 ? 0 : w0, w1 = w1 > W ? W : w1;
				float m[8];
				int32_t mi[8];
				for (int l = 0; l < 8; l++)
					m[l] = xp[(h0 * W + w0) * 8 + l], mi[l] = h0 * W + w0;
				for (int h = h0; h < h1; h++)
					for (int w = w0; w < w1; w++) {
						const float *v = xp + (size_t)(h * W + w) * 8;
#pragma omp simd
						for (int l = 0; l < 8; l++)
							if (v[l] > m[l]) {
								m[l] = v[l];
								mi[l] = h * W + w;
							}
					}
				for (int l = 0; l < 8; l++)
					yp[(p * Q + q) * 8 + l] = m[l], ip[(p * Q + q) * 8 + l] = mi[l];
			}
		}
	}
	return 0;
}

static int maxpool_bwd_blocked(op_ctx *ctx, const pool_shape *s, const float *dy, const int32_t *idx, float *dx,
			       int flags)
{
	const int CB = (s->C + 7) / 8;
	const size_t HW = (size_t)s->H * s->W, PQ = (size_t)s->P * s->Q;
	const long blocks = (long)s->N * CB;
#pragma omp parallel for num_threads(ctx->threads) schedule(dynamic, 16)
	for (long nb = 0; nb < blocks; nb++) {
		float *dp = dx + nb * HW * 8;
		if (!(flags & OP_ACCUM))
			memset(dp, 0, HW * 8 * sizeof *dp);
		const float *g = dy + nb * PQ * 8;
		const int32_t *ip = idx + nb * PQ * 8;
		for (size_t i = 0; i < PQ; i++)
			for (int l = 0; l < 8; l++)
				dp[(size_t)ip[i * 8 + l] * 8 + l] += g[i * 8 + l];
	}
	return 0;
}

int cpu_maxpool_fwd(op_ctx *ctx, const pool_shape *s, const float *x, float *y, int32_t *idx)
{
	if (s->fmt == OP_NCHW8C)
		return maxpool_fwd_blocked(ctx, s, x, y, idx);
	const long planes = (long)s->N * s->C;
	const int H = s->H, W = s->W, P = s->P, Q = s->Q;
#pragma omp parallel for num_threads(ctx->threads) schedule(dynamic, 16)
	for (long pl = 0; pl < planes; pl++) {
		const float *xp = x + (size_t)pl * H * W;
		float *yp = y + (size_t)pl * P * Q;
		int32_t *ip = idx + (size_t)pl * P * Q;
		for (int p = 0; p < P; p++) {
			int h0 = p * s->stride - s->pad, h1 = h0 + s->R;
			if (h0 < 0)
				h0 = 0;
			if (h1 > H)
				h1 = H;
			for (int q = 0; q < Q; q++) {
				int w0 = q * s->stride - s->pad, w1 = w0 + s->S;
				if (w0 < 0)
					w0 = 0;
				if (w1 > W)
					w1 = W;
				float m = -FLT_MAX;
				int mi = h0 * W + w0;
				for (int h = h0; h < h1; h++)
					for (int w = w0; w < w1; w++) {
						float v = xp[h * W + w];
						if (v > m || v != v) {
							m = v;
							mi = h * W + w;
						}
					}
				yp[p * Q + q] = m;
				ip[p * Q + q] = mi;
			}
		}
	}
	return 0;
}

int cpu_maxpool_bwd(op_ctx *ctx, const pool_shape *s, const float *dy, const int32_t *idx, float *dx, int flags)
{
	if (s->fmt == OP_NCHW8C)
		return maxpool_bwd_blocked(ctx, s, dy, idx, dx, flags);
	const long planes = (long)s->N * s->C;
	const size_t HW = (size_t)s->H * s->W, PQ = (size_t)s->P * s->Q;
#pragma omp parallel for num_threads(ctx->threads) schedule(dynamic, 16)
	for (long pl = 0; pl < planes; pl++) {
		float *dp = dx + pl * HW;
		if (!(flags & OP_ACCUM))
			memset(dp, 0, HW * sizeof *dp);
		const float *g = dy + pl * PQ;
		const int32_t *ip = idx + pl * PQ;
		for (size_t i = 0; i < PQ; i++)
			dp[ip[i]] += g[i];
	}
	return 0;
}

int cpu_gavgpool_fwd(op_ctx *ctx, int N, int C, int HW, const float *x, float *y)
{
	const long planes = (long)N * C;
	const float inv = 1.0f / HW;
#pragma omp parallel for num_threads(ctx->threads) schedule(dynamic, 16)
	for (long pl = 0; pl < planes; pl++) {
		const float *p = x + (size_t)pl * HW;
		float acc = 0;
#pragma omp simd reduction(+ : acc)
		for (int i = 0; i < HW; i++)
			acc += p[i];
		y[pl] = acc * inv;
	}
	return 0;
}

int cpu_gavgpool_bwd(op_ctx *ctx, int N, int C, int HW, const float *dy, float *dx, int flags)
{
	const long planes = (long)N * C;
	const float inv = 1.0f / HW;
#pragma omp parallel for num_threads(ctx->threads) schedule(dynamic, 16)
	for (long pl = 0; pl < planes; pl++) {
		float *p = dx + (size_t)pl * HW, g = dy[pl] * inv;
		if (flags & OP_ACCUM) {
#pragma omp simd
			for (int i = 0; i < HW; i++)
				p[i] += g;
		} else {
#pragma omp simd
			for (int i = 0; i < HW; i++)
				p[i] = g;
		}
	}
	return 0;
}

int cpu_gmaxpool_fwd(op_ctx *ctx, int N, int C, int HW, const float *x, float *y, int32_t *idx)
{
	const long planes = (long)N * C;
#pragma omp parallel for num_threads(ctx->threads) schedule(dynamic, 16)
	for (long pl = 0; pl < planes; pl++) {
		const float *p = x + (size_t)pl * HW;
		float m = p[0];
		int mi = 0;
		for (int i = 1; i < HW; i++)
			if (p[i] > m) {
				m = p[i];
				mi = i;
			}
		y[pl] = m;
		idx[pl] = mi;
	}
	return 0;
}

int cpu_gmaxpool_bwd(op_ctx *ctx, int N, int C, int HW, const float *dy, const int32_t *idx, float *dx, int flags)
{
	const long planes = (long)N * C;
#pragma omp parallel for num_threads(ctx->threads) schedule(dynamic, 16)
	for (long pl = 0; pl < planes; pl++) {
		float *p = dx + (size_t)pl * HW;
		if (!(flags & OP_ACCUM))
			memset(p, 0, (size_t)HW * sizeof *p);
		p[idx[pl]] += dy[pl];
	}
	return 0;
}

/* torch adaptive pooling window of output i: [floor(i*L/O), ceil((i+1)*L/O)) */
static inline int ad_lo(int i, int L, int O) { return (int)(((long)i * L) / O); }
static inline int ad_hi(int i, int L, int O) { return (int)(((long)(i + 1) * L + O - 1) / O); }

int cpu_adavgpool_fwd(op_ctx *ctx, const pool_shape *s, const float *x, float *y)
{
	const long planes = (long)s->N * s->C;
	const int H = s->H, W = s->W, P = s->P, Q = s->Q;
#pragma omp parallel for num_threads(ctx->threads) schedule(dynamic, 16)
	for (long pl = 0; pl < planes; pl++) {
		const float *xp = x + (size_t)pl * H * W;
		float *yp = y + (size_t)pl * P * Q;
		for (int p = 0; p < P; p++) {
			int h0 = ad_lo(p, H, P), h1 = ad_hi(p, H, P);
			for (int q = 0; q < Q; q++) {
				int w0 = ad_lo(q, W, Q), w1 = ad_hi(q, W, Q);
				float acc = 0;
				for (int h = h0; h < h1; h++)
					for (int w = w0; w < w1; w++)
						acc += xp[h * W + w];
				yp[p * Q + q] = acc / (float)((h1 - h0) * (w1 - w0));
			}
		}
	}
	return 0;
}

int cpu_adavgpool_bwd(op_ctx *ctx, const pool_shape *s, const float *dy, float *dx, int flags)
{
	const long planes = (long)s->N * s->C;
	const int H = s->H, W = s->W, P = s->P, Q = s->Q;
#pragma omp parallel for num_threads(ctx->threads) schedule(dynamic, 16)
	for (long pl = 0; pl < planes; pl++) {
		float *dp = dx + (size_t)pl * H * W;
		const float *g = dy + (size_t)pl * P * Q;
		if (!(flags & OP_ACCUM))
			memset(dp, 0, (size_t)H * W * sizeof *dp);
		for (int p = 0; p < P; p++) {
			int h0 = ad_lo(p, H, P), h1 = ad_hi(p, H, P);
			for (int q = 0; q < Q; q++) {
				int w0 = ad_lo(q, W, Q), w1 = ad_hi(q, W, Q);
				float v = g[p * Q + q] / (float)((h1 - h0) * (w1 - w0));
				for (int h = h0; h < h1; h++)
					for (int w = w0; w < w1; w++)
						dp[h * W + w] += v;
			}
		}
	}
	return 0;
}
