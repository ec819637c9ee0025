/* eltwise.c: ReLU forward/backward and the residual add alone (twin of kernels/cuda/eltwise.cu); the fused forms
 * live in bnorm.c. Memory-bound: one parallel vectorised loop each; every op may run in place. */
#include <stddef.h>

#include "op_backend.h"

int cpu_relu_fwd(op_ctx *ctx, size_t nel, const float *x, float *y)
{
#pragma omp parallel for simd num_threads(ctx->threads) schedule(static)
	for (size_t i = 0; i < nel; i++)
		y[i] = x[i] > 0 ? x[i] : 0;
	return 0;
}

int cpu_relu_bwd(op_ctx *ctx, size_t nel, const float *y, const float *dy, float *dx, int flags)
{
	if (flags & OP_ACCUM) {
#pragma omp parallel for simd num_threads(ctx->threads) schedule(static)
		for (size_t i = 0; i < nel; i++)
			dx[i] += y[i] > 0 ? dy[i] : 0;
	} else {
#pragma omp parallel for simd num_threads(ctx->threads) schedule(static)
		for (size_t i = 0; i < nel; i++)
			dx[i] = y[i] > 0 ? dy[i] : 0;
	}
	return 0;
}

int cpu_add(op_ctx *ctx, size_t nel, const float *a, const float *b, float *y, int flags)
{
	if (flags & OP_RELU) {
#pragma omp parallel for simd num_threads(ctx->threads) schedule(static)
		for (size_t i = 0; i < nel; i++) {
			float v = a[i] + b[i];
			y[i] = v > 0 ? v : 0;
		}
	} else {
#pragma omp parallel for simd num_threads(ctx->threads) schedule(static)
		for (size_t i = 0; i < nel; i++)
			y[i] = a[i] + b[i];
	}
	return 0;
}
