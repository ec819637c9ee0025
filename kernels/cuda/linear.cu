// linear.cu: fully connected layer on cuBLAS sgemm (twin of kernels/cpu/linear.c).
//
// cuBLAS is column-major: a row-major (r, c) matrix is the column-major (c, r) matrix of its transpose, so each
// row-major product A B = C is issued as B^T A^T = C^T.
#include "cuda_internal.cuh"

namespace {

// y (M,O) += b[o]
__global__ void bias_rows_kernel(float *y, const float *b, int O, int64_t nel)
{
	for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < nel; i += (int64_t)gridDim.x * blockDim.x)
		y[i] += b[i % O];
}

// db[o] += sum_m dy[m, o], added in m order (as the CPU).
__global__ void colsum_kernel(const float *dy, int M, int O, float *db)
{
	for (int o = blockIdx.x * blockDim.x + threadIdx.x; o < O; o += gridDim.x * blockDim.x) {
		float acc = db[o];
		for (int m = 0; m < M; m++)
			acc += dy[(int64_t)m * O + o];
		db[o] = acc;
	}
}

int lin_shape(op_ctx *ctx, int M, int F, int O, const char *op)
{
	if (M < 0 || F < 0 || O < 0)
		return trunk_fail(ctx, "%s: invalid shape M=%d F=%d O=%d", op, M, F, O);
	return 0;
}

} // namespace

extern "C" int cuda_linear_fwd(op_ctx *ctx, int M, int F, int O, const float *x, const float *w, const float *bias,
			       float *y, int flags)
{
	trunk_backend *b = trunk_of(ctx);
	if (lin_shape(ctx, M, F, O, "linear_fwd"))
		return -1;
	if (M == 0 || O == 0)
		return 0;
	const float one = 1.0f, beta = (flags & OP_ACCUM) ? 1.0f : 0.0f;
	const int ldf = F > 0 ? F : 1;
	// y^T (O,M) = w (O,F) x^T (F,M); w row-major is w^T column-major: transpose it back.
	if (trunk_blas_check(ctx,
			     cublasSgemm(b->blas, CUBLAS_OP_T, CUBLAS_OP_N, O, M, F, &one, w, ldf, x, ldf, &beta, y, O),
			     "linear_fwd: cublasSgemm"))
		return -1;
	if (!bias)
		return 0;
	const int64_t nel = (int64_t)M * O;
	bias_rows_kernel<<<trunk_grid(b, nel, 256), 256, 0, b->stream>>>(y, bias, O, nel);
	return trunk_launched(ctx, "linear_fwd: bias");
}

extern "C" int cuda_linear_bwd(op_ctx *ctx, int M, int F, int O, const float *x, const float *w, const float *dy,
			       float *dx, float *dw, float *db)
{
	trunk_backend *b = trunk_of(ctx);
	if (lin_shape(ctx, M, F, O, "linear_bwd"))
		return -1;
	const float one = 1.0f, zero = 0.0f;
	const int ldf = F > 0 ? F : 1, ldo = O > 0 ? O : 1;
	// dx^T (F,M) = w^T (F,O) dy^T (O,M): both are the column-major views as stored.
	if (dx && M > 0 && F > 0 &&
	    trunk_blas_check(
		    ctx, cublasSgemm(b->blas, CUBLAS_OP_N, CUBLAS_OP_N, F, M, O, &one, w, ldf, dy, ldo, &zero, dx, F),
		    "linear_bwd: cublasSgemm (dx)"))
		return -1;
	// dw^T (F,O) += x^T (F,M) dy (M,O): dy's column-major view is dy^T, transpose it.
	if (dw && F > 0 && O > 0 && M > 0 &&
	    trunk_blas_check(
		    ctx, cublasSgemm(b->blas, CUBLAS_OP_N, CUBLAS_OP_T, F, O, M, &one, x, ldf, dy, ldo, &one, dw, F),
		    "linear_bwd: cublasSgemm (dw)"))
		return -1;
	if (db && O > 0 && M > 0) {
		colsum_kernel<<<trunk_grid(b, O, 128), 128, 0, b->stream>>>(dy, M, O, db);
		return trunk_launched(ctx, "linear_bwd: db");
	}
	return 0;
}
