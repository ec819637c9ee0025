// eltwise.cu: ReLU forward/backward and the residual add (twins of kernels/cpu/eltwise.c). Grid-stride loops;
// every op may run in place (each element is read, then written, by one thread).
#include "cuda_internal.cuh"

namespace {

__global__ void relu_fwd_kernel(int64_t nel, const float *x, float *y)
{
	for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < nel; i += (int64_t)gridDim.x * blockDim.x)
		y[i] = x[i] > 0 ? x[i] : 0;
}

__global__ void relu_bwd_kernel(int64_t nel, const float *y, const float *dy, float *dx, int accum)
{
	for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < nel;
	     i += (int64_t)gridDim.x * blockDim.x) {
		const float g = y[i] > 0 ? dy[i] : 0;
		dx[i] = accum ? dx[i] + g : g;
	}
}

__global__ void add_kernel(int64_t nel, const float *a, const float *b, float *y, int relu)
{
	for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < nel;
	     i += (int64_t)gridDim.x * blockDim.x) {
		const float v = a[i] + b[i];
		y[i] = relu ? (v > 0 ? v : 0) : v;
	}
}

} // namespace

extern "C" int cuda_relu_fwd(op_ctx *ctx, size_t nel, const float *x, float *y)
{
	trunk_backend *b = trunk_of(ctx);
	if (nel == 0)
		return 0;
	relu_fwd_kernel<<<trunk_grid(b, (int64_t)nel, 256), 256, 0, b->stream>>>((int64_t)nel, x, y);
	return trunk_launched(ctx, "relu_fwd");
}

extern "C" int cuda_relu_bwd(op_ctx *ctx, size_t nel, const float *y, const float *dy, float *dx, int flags)
{
	trunk_backend *b = trunk_of(ctx);
	if (nel == 0)
		return 0;
	relu_bwd_kernel<<<trunk_grid(b, (int64_t)nel, 256), 256, 0, b->stream>>>((int64_t)nel, y, dy, dx,
										 (flags & OP_ACCUM) != 0);
	return trunk_launched(ctx, "relu_bwd");
}

extern "C" int cuda_add(op_ctx *ctx, size_t nel, const float *a, const float *bb, float *y, int flags)
{
	trunk_backend *b = trunk_of(ctx);
	if (nel == 0)
		return 0;
	add_kernel<<<trunk_grid(b, (int64_t)nel, 256), 256, 0, b->stream>>>((int64_t)nel, a, bb, y,
									    (flags & OP_RELU) != 0);
	return trunk_launched(ctx, "add");
}
