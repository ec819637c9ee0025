// clip.cu: the ops of gradient clipping on CUDA (twin of kernels/cpu/clip.c): op_sq_norm and op_scale.
//
// op_sq_norm: a fixed launch (SQ_BLOCKS x SQ_THREADS, whatever the device) whose threads each sum a strided part of
// the range in double; each block adds its threads' sums in a fixed tree, then one block adds the block sums the
// same way. So the result is the same bits on every run and every device size (not the CPU's bits: another
// order of the same double additions).
#include "cuda_internal.cuh"

namespace {

enum { SQ_BLOCKS = 128, SQ_THREADS = 256 };

__global__ void sq_part_kernel(const float *__restrict__ x, uint64_t n, double *part)
{
	__shared__ double sh[SQ_THREADS];
	double acc = 0;
	for (uint64_t i = (uint64_t)blockIdx.x * SQ_THREADS + threadIdx.x; i < n; i += (uint64_t)SQ_BLOCKS * SQ_THREADS)
		acc += (double)x[i] * x[i];
	double s = trunk_block_tree_f64(acc, sh);
	if (threadIdx.x == 0)
		part[blockIdx.x] = s;
}

__global__ void sq_total_kernel(double *part)
{
	__shared__ double sh[SQ_THREADS];
	double s = trunk_block_tree_f64((int)threadIdx.x < SQ_BLOCKS ? part[threadIdx.x] : 0.0, sh);
	if (threadIdx.x == 0)
		part[SQ_BLOCKS] = s;
}

__global__ void scale_kernel(float *x, uint64_t n, float c)
{
	for (uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (uint64_t)gridDim.x * blockDim.x)
		x[i] *= c;
}

} // namespace

extern "C" int cuda_sq_norm(op_ctx *ctx, const float *x, size_t n, double *sumsq)
{
	trunk_backend *t = trunk_of(ctx);
	double *part = (double *)trunk_workspace(ctx, (SQ_BLOCKS + 1) * sizeof(double));
	if (!part)
		return -1;
	sq_part_kernel<<<SQ_BLOCKS, SQ_THREADS, 0, t->stream>>>(x, n, part);
	if (trunk_launched(ctx, "sq_norm"))
		return -1;
	sq_total_kernel<<<1, SQ_THREADS, 0, t->stream>>>(part);
	if (trunk_launched(ctx, "sq_norm: total"))
		return -1;
	if (trunk_cuda_check(ctx, cudaMemcpyAsync(sumsq, part + SQ_BLOCKS, sizeof *sumsq, cudaMemcpyDeviceToHost,
						  t->stream), "sq_norm: download"))
		return -1;
	return trunk_cuda_check(ctx, cudaStreamSynchronize(t->stream), "sq_norm: synchronise");
}

extern "C" int cuda_scale(op_ctx *ctx, float *x, size_t n, float c)
{
	trunk_backend *t = trunk_of(ctx);
	if (n == 0)
		return 0;
	scale_kernel<<<trunk_grid(t, (int64_t)n, 256), 256, 0, t->stream>>>(x, (uint64_t)n, c);
	return trunk_launched(ctx, "scale");
}
