/* bnorm_loops.h: the per-channel loops shared by bnorm.c, bnorm_blocked.c and bnorm_split.c (private to kernels/cpu):
 * the batch statistics -- two passes, the mean, then the squared deviations from it (no cancellation for large
 * means), float sums within a plane and double sums across planes -- and the training-mode data gradient. */
#ifndef AVSL_BNORM_LOOPS_H
#define AVSL_BNORM_LOOPS_H

#include <stddef.h>

/* Channel c of x (N,C,HW) plain: *mu = mean (rounded to float), *sq = sum of (x - *mu)^2. */
static inline void bn_chan_stats(const float *x, int N, int C, int HW, int c, float *mu, double *sq)
{
	double sum = 0, q = 0;
	for (int n = 0; n < N; n++) {
		const float *p = x + ((size_t)n * C + c) * HW;
		float acc = 0;
#pragma omp simd reduction(+ : acc)
		for (int i = 0; i < HW; i++)
			acc += p[i];
		sum += acc;
	}
	const float m = (float)(sum / ((double)N * HW));
	for (int n = 0; n < N; n++) {
		const float *p = x + ((size_t)n * C + c) * HW;
		float acc = 0;
#pragma omp simd reduction(+ : acc)
		for (int i = 0; i < HW; i++) {
			float d = p[i] - m;
			acc += d * d;
		}
		q += acc;
	}
	*mu = m;
	*sq = q;
}

/* The 8 channels of block cb of x (N,CB,HW,8) blocked: mu[l] = mean, sq[l] = sum of (x - mu[l])^2. */
static inline void bn_block_stats(const float *x, int N, int CB, int HW, int cb, float mu[8], double sq[8])
{
	double sum[8] = {0};
	for (int n = 0; n < N; n++) {
		const float *p = x + ((size_t)n * CB + cb) * HW * 8;
		float acc[8] = {0};
		for (int i = 0; i < HW; i++)
#pragma omp simd
			for (int l = 0; l < 8; l++)
				acc[l] += p[i * 8 + l];
		for (int l = 0; l < 8; l++)
			sum[l] += acc[l];
	}
	for (int l = 0; l < 8; l++) {
		mu[l] = (float)(sum[l] / ((double)N * HW));
		sq[l] = 0;
	}
	for (int n = 0; n < N; n++) {
		const float *p = x + ((size_t)n * CB + cb) * HW * 8;
		float acc[8] = {0};
		for (int i = 0; i < HW; i++)
#pragma omp simd
			for (int l = 0; l < 8; l++) {
				float d = p[i * 8 + l] - mu[l];
				acc[l] += d * d;
			}
		for (int l = 0; l < 8; l++)
			sq[l] += acc[l];
	}
}

/* Training-mode data gradient of channel c, x/dy/relu_y/dx (N,C,HW) plain: dx = k (g - mg - xhat mgx) with
 * g = dy masked by relu_y > 0 (relu_y NULL: no mask), xhat = (x - mu) is. dx may equal dy. */
static inline void bn_chan_dx(const float *x, const float *dy, const float *relu_y, int N, int C, int HW, int c,
			      float mu, float is, float k, float mg, float mgx, float *dx)
{
	for (int n = 0; n < N; n++) {
		size_t o = ((size_t)n * C + c) * HW;
		const float *g = dy + o, *yy = relu_y ? relu_y + o : NULL, *xx = x + o;
		float *d = dx + o;
#pragma omp simd
		for (int i = 0; i < HW; i++) {
			float gi = yy ? (yy[i] > 0 ? g[i] : 0) : g[i];
			float xh = (xx[i] - mu) * is;
			d[i] = k * (gi - mg - xh * mgx);
		}
	}
}

/* The same for the 8 channels of block cb, (N,CB,HW,8) blocked, one value per lane in mu..mgx. */
static inline void bn_block_dx(const float *x, const float *dy, const float *relu_y, int N, int CB, int HW, int cb,
			       const float mu[8], const float is[8], const float k[8], const float mg[8],
			       const float mgx[8], float *dx)
{
	for (int n = 0; n < N; n++) {
		size_t o = ((size_t)n * CB + cb) * HW * 8;
		const float *g = dy + o, *yy = relu_y ? relu_y + o : NULL, *xx = x + o;
		float *d = dx + o;
		for (int i = 0; i < HW; i++)
#pragma omp simd
			for (int l = 0; l < 8; l++) {
				float gi = yy ? (yy[i * 8 + l] > 0 ? g[i * 8 + l] : 0) : g[i * 8 + l];
				float xh = (xx[i * 8 + l] - mu[l]) * is[l];
				d[i * 8 + l] = k[l] * (gi - mg[l] - xh * mgx[l]);
			}
	}
}

#endif
