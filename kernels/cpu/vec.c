/* vec.c: the small vector ops of the heads on the CPU (ops.h "small vector ops"): axpby, row gather/scatter-add,
 * a double sum and its broadcast mean, the unit-vector distance and its backward. Each is written as the host loop
 * it replaced, element for element, so a CPU run computes the same bits as before they were ops (op_sum: the same
 * sequential double sum, one thread). They are memory-bound and small (a (K, D) table, an (N, K) tile): threads only
 * for the long ones. */
#include <math.h>
#include <string.h>

#include "op_backend.h"
#include "cpu_internal.h"

int cpu_axpby(op_ctx *ctx, size_t n, float a, const float *x, float b, float *y)
{
#pragma omp parallel for simd schedule(static) num_threads(ctx->threads) if (n >= 65536)
	for (size_t i = 0; i < n; i++)
		y[i] = b * y[i] + a * x[i];
	return 0;
}

int cpu_gather_rows(op_ctx *ctx, const float *src, int D, const int32_t *idx, int n, float *dst)
{
	(void)ctx;
	for (int r = 0; r < n; r++)
		memcpy(dst + (size_t)r * D, src + (size_t)idx[r] * D, sizeof(float) * (size_t)D);
	return 0;
}

int cpu_scatter_add_rows(op_ctx *ctx, const float *src, int n, int D, const int32_t *idx, float *dst)
{
	(void)ctx;
	for (int r = 0; r < n; r++) {
		float *o = dst + (size_t)idx[r] * D;
		const float *s = src + (size_t)r * D;
		for (int j = 0; j < D; j++)
			o[j] += s[j];
	}
	return 0;
}

int cpu_sum(op_ctx *ctx, const float *x, size_t n, double *sum)
{
	(void)ctx;
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += x[i];
	*sum = s;
	return 0;
}

int cpu_fill_mean(op_ctx *ctx, const double *sum, double count, float *out, size_t n)
{
	if (!(count > 0))
		return cpu_fail(ctx, "fill_mean: count %g", count);
	float v = (float)(*sum / count);
	for (size_t i = 0; i < n; i++)
		out[i] = v;
	return 0;
}

int cpu_unit_dist(op_ctx *ctx, const float *s, size_t n, float *d)
{
	(void)ctx;
	for (size_t i = 0; i < n; i++)
		d[i] = sqrtf(fmaxf(2.0f - 2.0f * s[i], 0.0f));
	return 0;
}

int cpu_unit_dist_bwd(op_ctx *ctx, const float *d, size_t n, float *g)
{
	(void)ctx;
	for (size_t i = 0; i < n; i++)
		g[i] = d[i] > 1e-12f ? -g[i] / d[i] : 0.0f;
	return 0;
}
