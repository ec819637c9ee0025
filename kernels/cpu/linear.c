/* linear.c: fully connected layer on OpenBLAS sgemm (the heads' embedder layer). */
#include <cblas.h>
#include <string.h>

#include "op_backend.h"
#include "cpu_internal.h"

/* OpenBLAS keeps its own (process-wide) thread count; set it only when it differs. */
static void blas_threads(const op_ctx *ctx)
{
	if (openblas_get_num_threads() != ctx->threads)
		openblas_set_num_threads(ctx->threads);
}

int cpu_linear_fwd(op_ctx *ctx, int M, int F, int O, const float *x, const float *w, const float *b, float *y,
		   int flags)
{
	blas_threads(ctx);
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
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, O, F, 1.0f, x, F, w, F, 1.0f, y, O);
	return 0;
}

int cpu_linear_bwd(op_ctx *ctx, int M, int F, int O, const float *x, const float *w, const float *dy, float *dx,
		   float *dw, float *db)
{
	blas_threads(ctx);
	if (dx)
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, F, O, 1.0f, dy, O, w, F, 0.0f, dx, F);
	if (dw)
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, O, F, M, 1.0f, dy, O, x, F, 1.0f, dw, F);
	if (db)
		for (int m = 0; m < M; m++)
			for (int o = 0; o < O; o++)
				db[o] += dy[(size_t)m * O + o];
	return 0;
}
