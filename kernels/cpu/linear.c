/* linear.c: fully connected layer on OpenBLAS sgemm through cpu_sgemm (gemm.c) (the heads' embedder layer). */
#include <string.h>

#include "op_backend.h"
#include "cpu_internal.h"

int cpu_linear_fwd(op_ctx *ctx, int M, int F, int O, const float *x, const float *w, const float *b, float *y,
		   int flags)
{
	/* the bias goes in before the GEMM (beta = 1), so it is summed first: the rounding of the heads' embedder
	 * layer, which the training goldens pin */
	for (int m = 0; m < M; m++) {
		float *yr = y + (size_t)m * O;
		if (!(flags & OP_ACCUM))
			for (int o = 0; o < O; o++)
				yr[o] = b ? b[o] : 0.0f;
		else if (b)
			for (int o = 0; o < O; o++)
				yr[o] += b[o];
	}
	cpu_sgemm(ctx, 0, 1, M, O, F, 1.0f, x, F, w, F, 1.0f, y, O);
	return 0;
}

int cpu_linear_bwd(op_ctx *ctx, int M, int F, int O, const float *x, const float *w, const float *dy, float *dx,
		   float *dw, float *db)
{
	if (dx)
		cpu_sgemm(ctx, 0, 0, M, F, O, 1.0f, dy, O, w, F, 0.0f, dx, F);
	if (dw)
		cpu_sgemm(ctx, 1, 0, O, F, M, 1.0f, dy, O, x, F, 1.0f, dw, F);
	if (db)
		for (int m = 0; m < M; m++)
			for (int o = 0; o < O; o++)
				db[o] += dy[(size_t)m * O + o];
	return 0;
}
