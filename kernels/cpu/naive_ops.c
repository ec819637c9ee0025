/* naive_ops.c: plain references of batch norm, pooling and linear (double accumulation, no threads). */
#include <float.h>
#include <math.h>
#include <string.h>

#include "ops.h"

void conv_fold_weights_naive(int K, size_t CRS, const float *w, const float *scale, float *w_out)
{
	for (int k = 0; k < K; k++)
		for (size_t i = 0; i < CRS; i++)
			w_out[(size_t)k * CRS + i] = w[(size_t)k * CRS + i] * scale[k];
}

void affine_act_fwd_naive(const bn_shape *s, const float *x, const float *scale, const float *shift,
			  const float *res, float *y, int flags)
{
	for (int n = 0; n < s->N; n++)
		for (int c = 0; c < s->C; c++)
			for (int i = 0; i < s->HW; i++) {
				size_t o = ((size_t)n * s->C + c) * s->HW + i;
				double v = (double)x[o] * scale[c] + shift[c] + (res ? res[o] : 0);
				if ((flags & OP_RELU) && v < 0)
					v = 0;
				y[o] = (float)v;
			}
}

/* Channel c of x (N,C,HW): *mu = mean, *sq = sum of (x - mean)^2 (two passes, double). */
static void chan_stats_naive(const bn_shape *s, const float *x, int c, double *mu, double *sq)
{
	double sum = 0, q = 0;
	for (int n = 0; n < s->N; n++)
		for (int i = 0; i < s->HW; i++)
			sum += x[((size_t)n * s->C + c) * s->HW + i];
	*mu = sum / ((double)s->N * s->HW);
	for (int n = 0; n < s->N; n++)
		for (int i = 0; i < s->HW; i++) {
			double d = x[((size_t)n * s->C + c) * s->HW + i] - *mu;
			q += d * d;
		}
	*sq = q;
}

void bn_train_fwd_naive(const bn_shape *s, const float *x, const float *gamma, const float *beta, float eps,
			float momentum, float *running_mean, float *running_var, float *mean, float *invstd,
			const float *res, float *y, int flags)
{
	double M = (double)s->N * s->HW;
	for (int c = 0; c < s->C; c++) {
		double mu, sq;
		chan_stats_naive(s, x, c, &mu, &sq);
		double is = 1.0 / sqrt(sq / M + eps);
		mean[c] = (float)mu;
		invstd[c] = (float)is;
		if (running_mean)
			running_mean[c] = (float)((1 - momentum) * running_mean[c] + momentum * mu);
		if (running_var)
			running_var[c] = (float)((1 - momentum) * running_var[c] + momentum * sq / (M - 1));
		double g = gamma ? gamma[c] : 1, b = beta ? beta[c] : 0;
		for (int n = 0; n < s->N; n++)
			for (int i = 0; i < s->HW; i++) {
				size_t o = ((size_t)n * s->C + c) * s->HW + i;
				double v = (x[o] - mu) * is * g + b + (res ? res[o] : 0);
				if ((flags & OP_RELU) && v < 0)
					v = 0;
				y[o] = (float)v;
			}
	}
}

void bn_bwd_naive(const bn_shape *s, const float *x, const float *dy, const float *relu_y, const float *gamma,
		  const float *mean, const float *invstd, int batch_stats, float *dx, float *dres, float *dgamma,
		  float *dbeta)
{
	double M = (double)s->N * s->HW;
	for (int c = 0; c < s->C; c++) {
		double sg = 0, sgx = 0, is = invstd[c], g = gamma ? gamma[c] : 1;
		for (int n = 0; n < s->N; n++)
			for (int i = 0; i < s->HW; i++) {
				size_t o = ((size_t)n * s->C + c) * s->HW + i;
				double gi = (relu_y && !(relu_y[o] > 0)) ? 0 : dy[o];
				sg += gi;
				if (x)
					sgx += gi * (x[o] - mean[c]) * is;
			}
		if (dgamma)
			dgamma[c] += (float)sgx;
		if (dbeta)
			dbeta[c] += (float)sg;
		for (int n = 0; n < s->N; n++)
			for (int i = 0; i < s->HW; i++) {
				size_t o = ((size_t)n * s->C + c) * s->HW + i;
				double gi = (relu_y && !(relu_y[o] > 0)) ? 0 : dy[o];
				double d = batch_stats ? g * is * (gi - sg / M - (x[o] - mean[c]) * is * sgx / M) : g * is * gi;
				if (dres)
					dres[o] = (float)gi;
				if (dx)
					dx[o] = (float)d;
			}
	}
}

void bn_stats_naive(const bn_shape *s, const float *x, float *mean, float *m2)
{
	for (int c = 0; c < s->C; c++) {
		double mu, sq;
		chan_stats_naive(s, x, c, &mu, &sq);
		mean[c] = (float)mu;
		m2[c] = (float)sq;
	}
}

void bn_bwd_data_naive(const bn_shape *s, const float *x, const float *dy, const float *relu_y, const float *gamma,
		       const float *mean, const float *invstd, const float *sum_g, const float *sum_gxhat, double count,
		       float *dx)
{
	for (int c = 0; c < s->C; c++) {
		double is = invstd[c], k = (gamma ? gamma[c] : 1) * is;
		for (int n = 0; n < s->N; n++)
			for (int i = 0; i < s->HW; i++) {
				size_t o = ((size_t)n * s->C + c) * s->HW + i;
				double gi = (relu_y && !(relu_y[o] > 0)) ? 0 : dy[o];
				double xh = (x[o] - mean[c]) * is;
				dx[o] = (float)(k * (gi - sum_g[c] / count - xh * sum_gxhat[c] / count));
			}
	}
}

void maxpool_fwd_naive(const pool_shape *s, const float *x, float *y, int32_t *idx)
{
	for (long pl = 0; pl < (long)s->N * s->C; pl++)
		for (int p = 0; p < s->P; p++)
			for (int q = 0; q < s->Q; q++) {
				float m = -FLT_MAX;
				int mi = -1;
				for (int r = 0; r < s->R; r++)
					for (int t = 0; t < s->S; t++) {
						int h = p * s->stride - s->pad + r, w = q * s->stride - s->pad + t;
						if (h < 0 || h >= s->H || w < 0 || w >= s->W)
							continue;
						float v = x[(size_t)pl * s->H * s->W + h * s->W + w];
						if (mi < 0 || v > m) {
							m = v;
							mi = h * s->W + w;
						}
					}
				y[(size_t)pl * s->P * s->Q + p * s->Q + q] = m;
				idx[(size_t)pl * s->P * s->Q + p * s->Q + q] = mi;
			}
}

void maxpool_bwd_naive(const pool_shape *s, const float *dy, const int32_t *idx, float *dx, int flags)
{
	size_t HW = (size_t)s->H * s->W, PQ = (size_t)s->P * s->Q;
	if (!(flags & OP_ACCUM))
		memset(dx, 0, (size_t)s->N * s->C * HW * sizeof *dx);
	for (long pl = 0; pl < (long)s->N * s->C; pl++)
		for (size_t i = 0; i < PQ; i++)
			dx[pl * HW + idx[pl * PQ + i]] += dy[pl * PQ + i];
}

void gavgpool_fwd_naive(int N, int C, int HW, const float *x, float *y)
{
	for (long pl = 0; pl < (long)N * C; pl++) {
		double acc = 0;
		for (int i = 0; i < HW; i++)
			acc += x[pl * HW + i];
		y[pl] = (float)(acc / HW);
	}
}

void gavgpool_bwd_naive(int N, int C, int HW, const float *dy, float *dx, int flags)
{
	for (long pl = 0; pl < (long)N * C; pl++)
		for (int i = 0; i < HW; i++)
			dx[pl * HW + i] = (float)(((flags & OP_ACCUM) ? dx[pl * HW + i] : 0) + (double)dy[pl] / HW);
}

void gmaxpool_fwd_naive(int N, int C, int HW, const float *x, float *y, int32_t *idx)
{
	for (long pl = 0; pl < (long)N * C; pl++) {
		int mi = 0;
		for (int i = 1; i < HW; i++)
			if (x[pl * HW + i] > x[pl * HW + mi])
				mi = i;
		y[pl] = x[pl * HW + mi];
		idx[pl] = mi;
	}
}

void gmaxpool_bwd_naive(int N, int C, int HW, const float *dy, const int32_t *idx, float *dx, int flags)
{
	for (long pl = 0; pl < (long)N * C; pl++)
		for (int i = 0; i < HW; i++)
			dx[pl * HW + i] = ((flags & OP_ACCUM) ? dx[pl * HW + i] : 0) + (i == idx[pl] ? dy[pl] : 0);
}

void adavgpool_fwd_naive(const pool_shape *s, const float *x, float *y)
{
	for (long pl = 0; pl < (long)s->N * s->C; pl++)
		for (int p = 0; p < s->P; p++)
			for (int q = 0; q < s->Q; q++) {
				int h0 = (int)floor((double)p * s->H / s->P), h1 = (int)ceil((double)(p + 1) * s->H / s->P);
				int w0 = (int)floor((double)q * s->W / s->Q), w1 = (int)ceil((double)(q + 1) * s->W / s->Q);
				double acc = 0;
				for (int h = h0; h < h1; h++)
					for (int w = w0; w < w1; w++)
						acc += x[(size_t)pl * s->H * s->W + h * s->W + w];
				y[(size_t)pl * s->P * s->Q + p * s->Q + q] = (float)(acc / ((h1 - h0) * (w1 - w0)));
			}
}

void adavgpool_bwd_naive(const pool_shape *s, const float *dy, float *dx, int flags)
{
	size_t HW = (size_t)s->H * s->W;
	if (!(flags & OP_ACCUM))
		memset(dx, 0, (size_t)s->N * s->C * HW * sizeof *dx);
	for (long pl = 0; pl < (long)s->N * s->C; pl++)
		for (int p = 0; p < s->P; p++)
			for (int q = 0; q < s->Q; q++) {
				int h0 = (int)floor((double)p * s->H / s->P), h1 = (int)ceil((double)(p + 1) * s->H / s->P);
				int w0 = (int)floor((double)q * s->W / s->Q), w1 = (int)ceil((double)(q + 1) * s->W / s->Q);
				double g = dy[(size_t)pl * s->P * s->Q + p * s->Q + q] / ((h1 - h0) * (w1 - w0));
				for (int h = h0; h < h1; h++)
					for (int w = w0; w < w1; w++)
						dx[pl * HW + h * s->W + w] += (float)g;
			}
}

void linear_fwd_naive(int M, int F, int O, const float *x, const float *w, const float *b, float *y, int flags)
{
	for (int m = 0; m < M; m++)
		for (int o = 0; o < O; o++) {
			double acc = b ? b[o] : 0;
			for (int f = 0; f < F; f++)
				acc += (double)x[(size_t)m * F + f] * w[(size_t)o * F + f];
			if (flags & OP_ACCUM)
				acc += y[(size_t)m * O + o];
			y[(size_t)m * O + o] = (float)acc;
		}
}

void linear_bwd_naive(int M, int F, int O, const float *x, const float *w, const float *dy, float *dx, float *dw,
		      float *db)
{
	if (dx)
		for (int m = 0; m < M; m++)
			for (int f = 0; f < F; f++) {
				double acc = 0;
				for (int o = 0; o < O; o++)
					acc += (double)dy[(size_t)m * O + o] * w[(size_t)o * F + f];
				dx[(size_t)m * F + f] = (float)acc;
			}
	if (dw)
		for (int o = 0; o < O; o++)
			for (int f = 0; f < F; f++) {
				double acc = dw[(size_t)o * F + f];
				for (int m = 0; m < M; m++)
					acc += (double)dy[(size_t)m * O + o] * x[(size_t)m * F + f];
				dw[(size_t)o * F + f] = (float)acc;
			}
	if (db)
		for (int o = 0; o < O; o++) {
			double acc = db[o];
			for (int m = 0; m < M; m++)
				acc += dy[(size_t)m * O + o];
			db[o] = (float)acc;
		}
}

/* op_dot_tile's chains written as scalar loops (fmaf, not double: the CPU op must equal this bit for bit). */
static float dot_chain_naive(const float *x, const float *y, int D)
{
	float acc = 0.0f;
	for (int k = 0; k < D; k++)
		acc = fmaf(x[k], y[k], acc);
	return acc;
}

void dot_tile_naive(int R, const float *a, int64_t lda, int C, const float *b, int64_t ldb, int D, int mode,
		    float *out, int64_t ldo)
{
	for (int r = 0; r < R; r++)
		for (int c = 0; c < C; c++) {
			const float *x = a + r * lda, *y = b + c * ldb;
			float d = dot_chain_naive(x, y, D);
			if (mode == OP_TILE_COSINE) {
				d = 1.0f - d;
			} else if (mode == OP_TILE_L2) {
				d = fmaf(-2.0f, d, dot_chain_naive(x, x, D) + dot_chain_naive(y, y, D));
				d = d > 0.0f ? d : 0.0f;
			}
			out[r * ldo + c] = d;
		}
}
