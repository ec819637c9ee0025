/* clip.c: the ops of gradient clipping on the CPU (ops.h): op_sq_norm (the squared L2 norm of a range, in double)
 * and op_scale.
 *
 * op_sq_norm's sum has one fixed shape, whatever the thread count: the range is cut into blocks of SQ_BLOCK
 * floats; within a block element j goes to accumulator j % 8 (eight independent chains, which also keeps the
 * adder pipelined), the eight are added pairwise ((0+1)+(2+3))+((4+5)+(6+7)); the block sums are added in block
 * order. Threads only decide who computes which block.
 */
#include <omp.h>

#include "op_backend.h"
#include "cpu_internal.h"

enum { SQ_BLOCK = 8192 };

static double block_sq(const float *x, size_t n)
{
	double a[8] = {0};
	size_t j = 0;
	for (; j + 8 <= n; j += 8)
		for (int l = 0; l < 8; l++)
			a[l] += (double)x[j + l] * x[j + l];
	for (int l = 0; j < n; j++, l++)
		a[l] += (double)x[j] * x[j];
	return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

int cpu_sq_norm(op_ctx *ctx, const float *x, size_t n, double *sumsq)
{
	size_t nb = (n + SQ_BLOCK - 1) / SQ_BLOCK;
	double *part = cpu_scratch(ctx, (nb ? nb : 1) * sizeof *part);
	if (!part)
		return -1;
#pragma omp parallel for schedule(static) num_threads(ctx->threads) if (nb > 8)
	for (size_t b = 0; b < nb; b++)
		part[b] = block_sq(x + b * SQ_BLOCK, n - b * SQ_BLOCK < SQ_BLOCK ? n - b * SQ_BLOCK : SQ_BLOCK);
	double s = 0;
	for (size_t b = 0; b < nb; b++)
		s += part[b];
	*sumsq = s;
	return 0;
}

int cpu_scale(op_ctx *ctx, float *x, size_t n, float c)
{
#pragma omp parallel for simd schedule(static) num_threads(ctx->threads) if (n >= 65536)
	for (size_t i = 0; i < n; i++)
		x[i] *= c;
	return 0;
}
