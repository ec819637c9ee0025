// vec.cu: the small vector ops of the heads on CUDA (twin of kernels/cpu/vec.c): axpby, row gather/scatter-add, a
// double sum kept on the device and its broadcast mean, the unit-vector distance and its backward. Grid-stride
// element loops; op_sum is one block with a fixed tree (the same bits on every run and device; not the CPU's
// sequential order). op_scatter_add_rows relies on distinct indices (ops.h): one writer per element, no atomics.
#include "cuda_internal.cuh"

namespace {

enum { SUM_THREADS = 256 };

__global__ void axpby_kernel(uint64_t n, float a, const float *__restrict__ x, float b, float *__restrict__ y)
{
	for (uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (uint64_t)gridDim.x * blockDim.x)
		y[i] = b * y[i] + a * x[i];
}

__global__ void gather_rows_kernel(const float *__restrict__ src, int D, const int32_t *__restrict__ idx, int n,
				   float *__restrict__ dst)
{
	const uint64_t total = (uint64_t)n * D;
	for (uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
	     i += (uint64_t)gridDim.x * blockDim.x) {
		uint64_t r = i / D, j = i % D;
		dst[i] = src[(uint64_t)idx[r] * D + j];
	}
}

__global__ void scatter_add_rows_kernel(const float *__restrict__ src, int n, int D, const int32_t *__restrict__ idx,
					float *__restrict__ dst)
{
	const uint64_t total = (uint64_t)n * D;
	for (uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
	     i += (uint64_t)gridDim.x * blockDim.x) {
		uint64_t r = i / D, j = i % D;
		dst[(uint64_t)idx[r] * D + j] += src[i];
	}
}

// One block: thread t sums elements t, t + 256, ... in double, then a fixed tree.
__global__ void sum_kernel(const float *__restrict__ x, uint64_t n, double *sum)
{
	__shared__ double sh[SUM_THREADS];
	double acc = 0;
	for (uint64_t i = threadIdx.x; i < n; i += SUM_THREADS)
		acc += x[i];
	double s = trunk_block_tree_f64(acc, sh);
	if (threadIdx.x == 0)
		*sum = s;
}

__global__ void fill_mean_kernel(const double *sum, double count, float *out, uint64_t n)
{
	const float v = (float)(*sum / count);
	for (uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (uint64_t)gridDim.x * blockDim.x)
		out[i] = v;
}

__global__ void unit_dist_kernel(const float *s, uint64_t n, float *d)
{
	for (uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (uint64_t)gridDim.x * blockDim.x)
		d[i] = sqrtf(fmaxf(2.0f - 2.0f * s[i], 0.0f));
}

__global__ void unit_dist_bwd_kernel(const float *__restrict__ d, uint64_t n, float *__restrict__ g)
{
	for (uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (uint64_t)gridDim.x * blockDim.x)
		g[i] = d[i] > 1e-12f ? -g[i] / d[i] : 0.0f;
}

} // namespace

extern "C" int cuda_axpby(op_ctx *ctx, size_t n, float a, const float *x, float b, float *y)
{
	trunk_backend *t = trunk_of(ctx);
	if (n == 0)
		return 0;
	axpby_kernel<<<trunk_grid(t, (int64_t)n, 256), 256, 0, t->stream>>>((uint64_t)n, a, x, b, y);
	return trunk_launched_at(ctx, "axpby (n %zu)", n);
}

extern "C" int cuda_gather_rows(op_ctx *ctx, const float *src, int D, const int32_t *idx, int n, float *dst)
{
	trunk_backend *t = trunk_of(ctx);
	if (n < 0 || D < 0)
		return trunk_fail(ctx, "gather_rows: invalid shape (%d x %d)", n, D);
	if ((int64_t)n * D == 0)
		return 0;
	gather_rows_kernel<<<trunk_grid(t, (int64_t)n * D, 256), 256, 0, t->stream>>>(src, D, idx, n, dst);
	return trunk_launched_at(ctx, "gather_rows (n %d, D %d)", n, D);
}

extern "C" int cuda_scatter_add_rows(op_ctx *ctx, const float *src, int n, int D, const int32_t *idx, float *dst)
{
	trunk_backend *t = trunk_of(ctx);
	if (n < 0 || D < 0)
		return trunk_fail(ctx, "scatter_add_rows: invalid shape (%d x %d)", n, D);
	if ((int64_t)n * D == 0)
		return 0;
	scatter_add_rows_kernel<<<trunk_grid(t, (int64_t)n * D, 256), 256, 0, t->stream>>>(src, n, D, idx, dst);
	return trunk_launched_at(ctx, "scatter_add_rows (n %d, D %d)", n, D);
}

extern "C" int cuda_sum(op_ctx *ctx, const float *x, size_t n, double *sum)
{
	trunk_backend *t = trunk_of(ctx);
	sum_kernel<<<1, SUM_THREADS, 0, t->stream>>>(x, (uint64_t)n, sum);
	return trunk_launched_at(ctx, "sum (n %zu)", n);
}

extern "C" int cuda_fill_mean(op_ctx *ctx, const double *sum, double count, float *out, size_t n)
{
	trunk_backend *t = trunk_of(ctx);
	if (!(count > 0))
		return trunk_fail(ctx, "fill_mean: count %g", count);
	if (n == 0)
		return 0;
	fill_mean_kernel<<<trunk_grid(t, (int64_t)n, 256), 256, 0, t->stream>>>(sum, count, out, (uint64_t)n);
	return trunk_launched_at(ctx, "fill_mean (n %zu)", n);
}

extern "C" int cuda_unit_dist(op_ctx *ctx, const float *s, size_t n, float *d)
{
	trunk_backend *t = trunk_of(ctx);
	if (n == 0)
		return 0;
	unit_dist_kernel<<<trunk_grid(t, (int64_t)n, 256), 256, 0, t->stream>>>(s, (uint64_t)n, d);
	return trunk_launched_at(ctx, "unit_dist (n %zu)", n);
}

extern "C" int cuda_unit_dist_bwd(op_ctx *ctx, const float *d, size_t n, float *g)
{
	trunk_backend *t = trunk_of(ctx);
	if (n == 0)
		return 0;
	unit_dist_bwd_kernel<<<trunk_grid(t, (int64_t)n, 256), 256, 0, t->stream>>>(d, (uint64_t)n, g);
	return trunk_launched_at(ctx, "unit_dist_bwd (n %zu)", n);
}
