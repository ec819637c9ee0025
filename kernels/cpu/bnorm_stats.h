/* bnorm_stats.h: the per-channel batch statistics shared by bnorm.c, bnorm_blocked.c and bnorm_split.c (private to
 * kernels/cpu). Two passes -- the mean, then the squared deviations from it (no cancellation for large means) --
 * with float sums within a plane and double sums across planes. */
#ifndef AVSL_BNORM_STATS_H
#define AVSL_BNORM_STATS_H

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

#endif
