// dot_tile.cu: op_dot_tile on cuBLAS sgemm (twin of kernels/cpu/dot_tile.c), with a small kernel for the squared
// norms of the L2 mode and one for the epilogue of the cosine and L2 modes.
//
// cuBLAS is column-major: the row-major (R, C) out is the column-major (C, R) matrix out^T = b a^T, i.e.
// sgemm(T, N, C, R, D) over b and a as stored (row-major (n, D) with leading dimension ld is the column-major
// (D, n) matrix with leading dimension ld).
#include "cuda_internal.cuh"

namespace {

// sq[i] = |x_i|^2 as one fma chain (the CPU's chain) for the R rows of a, then the C rows of b.
__global__ void sq_norms_kernel(const float *a, int64_t lda, int R, const float *b, int64_t ldb, int C, int D,
				float *sq)
{
	for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < R + C; i += gridDim.x * blockDim.x) {
		const float *x = i < R ? a + (int64_t)i * lda : b + (int64_t)(i - R) * ldb;
		float acc = 0.0f;
		for (int k = 0; k < D; k++)
			acc = fmaf(x[k], x[k], acc);
		sq[i] = acc;
	}
}

// out (R, C) ldo: the dot products in place -> 1 - dot (cosine) or max(fmaf(-2, dot, |a|^2 + |b|^2), 0) (L2).
__global__ void epilogue_kernel(float *out, int64_t ldo, int R, int C, int mode, const float *sq)
{
	const int64_t n = (int64_t)R * C;
	for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
		const int r = (int)(i / C), c = (int)(i % C);
		float *o = out + r * ldo + c;
		if (mode == OP_TILE_COSINE) {
			*o = 1.0f - *o;
		} else {
			const float v = fmaf(-2.0f, *o, sq[r] + sq[R + c]);
			*o = v > 0.0f ? v : 0.0f;
		}
	}
}

} // namespace

extern "C" int cuda_dot_tile(op_ctx *ctx, int R, const float *a, int64_t lda, int C, const float *b, int64_t ldb, int D,
			     int mode, float *out, int64_t ldo)
{
	trunk_backend *t = trunk_of(ctx);
	if (R < 0 || C < 0 || D < 0 || lda < D || ldb < D || ldo < C || mode < OP_TILE_DOT || mode > OP_TILE_L2 ||
	    lda > INT32_MAX || ldb > INT32_MAX || ldo > INT32_MAX)
		return trunk_fail(ctx, "dot_tile: invalid arguments (R %d, C %d, D %d, lda %lld, ldb %lld, ldo %lld, mode %d)",
				  R, C, D, (long long)lda, (long long)ldb, (long long)ldo, mode);
	if (R == 0 || C == 0)
		return 0;
	const float one = 1.0f, zero = 0.0f;
	if (D == 0) {
		for (int r = 0; r < R; r++)
			if (trunk_cuda_check(ctx, cudaMemsetAsync(out + r * ldo, 0, (size_t)C * sizeof(float), t->stream),
					     "dot_tile: cudaMemsetAsync"))
				return -1;
	} else if (trunk_blas_check(ctx,
				    cublasSgemm(t->blas, CUBLAS_OP_T, CUBLAS_OP_N, C, R, D, &one, b, (int)(ldb ? ldb : 1),
						a, (int)(lda ? lda : 1), &zero, out, (int)ldo),
				    "dot_tile: cublasSgemm")) {
		return -1;
	}
	if (mode == OP_TILE_DOT)
		return 0;
	float *sq = NULL;
	if (mode == OP_TILE_L2) {
		sq = (float *)trunk_workspace(ctx, (size_t)(R + C) * sizeof(float));
		if (!sq)
			return -1;
		sq_norms_kernel<<<trunk_grid(t, R + C, 128), 128, 0, t->stream>>>(a, lda, R, b, ldb, C, D, sq);
		if (trunk_launched(ctx, "dot_tile: norms"))
			return -1;
	}
	const int64_t n = (int64_t)R * C;
	epilogue_kernel<<<trunk_grid(t, n, 256), 256, 0, t->stream>>>(out, ldo, R, C, mode, sq);
	return trunk_launched(ctx, "dot_tile: epilogue");
}
