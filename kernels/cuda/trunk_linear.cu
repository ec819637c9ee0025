// trunk_linear.cu: fully connected layer on cuBLAS sgemm, and row-wise L2 normalisation with eps (twin of
// kernels/cpu/linear.c; the eps-free l2norm_*_cuda of l2norm.cu is a different contract).
//
// cuBLAS is column-major: a row-major (r, c) matrix is the column-major (c, r) matrix of its transpose, so each
// row-major product A B = C is issued as B^T A^T = C^T.
#include "trunk.cuh"

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

// One warp per row: norm = max(||x||, eps), y = x * (1 / norm).
__global__ void l2norm_eps_fwd_kernel(int M, int D, const float *x, float eps, float *y, float *norm)
{
	const int lane = threadIdx.x & 31;
	const int warps = gridDim.x * (blockDim.x >> 5);
	for (int m = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5); m < M; m += warps) {
		const float *r = x + (int64_t)m * D;
		float acc = 0;
		for (int i = lane; i < D; i += 32)
			acc += r[i] * r[i];
		acc = trunk_warp_sum(acc);
		float nr = sqrtf(acc);
		if (nr < eps)
			nr = eps;
		const float inv = 1.0f / nr;
		float *o = y + (int64_t)m * D;
		for (int i = lane; i < D; i += 32)
			o[i] = r[i] * inv;
		if (lane == 0)
			norm[m] = nr;
	}
}

// dx = (dy - y (y . dy)) / norm; rows clamped to eps are the linear map x / eps: dx = dy / eps.
__global__ void l2norm_eps_bwd_kernel(int M, int D, const float *y, const float *norm, const float *dy, float eps,
				      float *dx, int accum)
{
	const int lane = threadIdx.x & 31;
	const int warps = gridDim.x * (blockDim.x >> 5);
	for (int m = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5); m < M; m += warps) {
		const float *yr = y + (int64_t)m * D, *g = dy + (int64_t)m * D;
		float *o = dx + (int64_t)m * D;
		const float nr = norm[m], inv = 1.0f / nr;
		float dot = 0;
		if (nr > eps) {
			for (int i = lane; i < D; i += 32)
				dot += yr[i] * g[i];
			dot = trunk_warp_sum(dot);
		}
		for (int i = lane; i < D; i += 32) {
			const float v = (g[i] - yr[i] * dot) * inv;
			o[i] = accum ? o[i] + v : v;
		}
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

extern "C" int cuda_l2norm_fwd(op_ctx *ctx, int M, int D, const float *x, float eps, float *y, float *norm)
{
	trunk_backend *b = trunk_of(ctx);
	if (M < 0 || D < 0)
		return trunk_fail(ctx, "l2norm_fwd: invalid shape M=%d D=%d", M, D);
	if (M == 0)
		return 0;
	l2norm_eps_fwd_kernel<<<trunk_grid(b, M, 8), 256, 0, b->stream>>>(M, D, x, eps, y, norm);
	return trunk_launched(ctx, "l2norm_fwd");
}

extern "C" int cuda_l2norm_bwd(op_ctx *ctx, int M, int D, const float *y, const float *norm, const float *dy, float eps,
			       float *dx, int flags)
{
	trunk_backend *b = trunk_of(ctx);
	if (M < 0 || D < 0)
		return trunk_fail(ctx, "l2norm_bwd: invalid shape M=%d D=%d", M, D);
	if (M == 0)
		return 0;
	l2norm_eps_bwd_kernel<<<trunk_grid(b, M, 8), 256, 0, b->stream>>>(M, D, y, norm, dy, eps, dx,
									  (flags & OP_ACCUM) != 0);
	return trunk_launched(ctx, "l2norm_bwd");
}
