// l2norm.cu: row-wise L2 normalisation and its backward (one warp per row), as PyTorch's F.normalize(eps=1e-12).
#include <cuda_runtime.h>
#include <math.h>

#include "common.cuh"

namespace {

__global__ void l2norm_fwd_kernel(const float *x, int64_t N, int D, float *y, float *norm)
{
	const int lane = threadIdx.x & 31;
	const int64_t warps = (int64_t)gridDim.x * (blockDim.x >> 5);
	for (int64_t i = (int64_t)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5); i < N; i += warps) {
		const float *xi = x + i * D;
		float s = 0;
		for (int j = lane; j < D; j += 32)
			s += xi[j] * xi[j];
		s = avsl_warp_sum(s);
		const float nr = sqrtf(s), inv = 1.0f / fmaxf(nr, 1e-12f);
		float *yi = y + i * D;
		for (int j = lane; j < D; j += 32)
			yi[j] = xi[j] * inv;
		if (lane == 0 && norm)
			norm[i] = nr;
	}
}

__global__ void l2norm_bwd_kernel(const float *y, const float *norm, const float *dy, int64_t N, int D, float *dx)
{
	const int lane = threadIdx.x & 31;
	const int64_t warps = (int64_t)gridDim.x * (blockDim.x >> 5);
	for (int64_t i = (int64_t)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5); i < N; i += warps) {
		const float *yi = y + i * D, *gi = dy + i * D;
		float *di = dx + i * D;
		const float nr = norm[i];
		if (nr > 1e-12f) {
			float dot = 0;
			for (int j = lane; j < D; j += 32)
				dot += yi[j] * gi[j];
			dot = avsl_warp_sum(dot);
			const float inv = 1.0f / nr;
			for (int j = lane; j < D; j += 32)
				di[j] = (gi[j] - yi[j] * dot) * inv;
		} else {
			for (int j = lane; j < D; j += 32)
				di[j] = gi[j] * 1e12f;
		}
	}
}

} // namespace

extern "C" int l2norm_fwd_cuda(const float *x, int64_t N, int D, float *y, float *norm, void *stream)
{
	if (N < 0 || D < 1 || !x || !y)
		return AVSL_CUDA_EINVAL;
	if (N == 0)
		return 0;
	l2norm_fwd_kernel<<<avsl_blocks(N, 8), 256, 0, avsl_stream(stream)>>>(x, N, D, y, norm);
	return avsl_cuda_launch_status();
}

extern "C" int l2norm_bwd_cuda(const float *y, const float *norm, const float *dy, int64_t N, int D, float *dx,
			       void *stream)
{
	if (N < 0 || D < 1 || !y || !norm || !dy || !dx)
		return AVSL_CUDA_EINVAL;
	if (N == 0)
		return 0;
	l2norm_bwd_kernel<<<avsl_blocks(N, 8), 256, 0, avsl_stream(stream)>>>(y, norm, dy, N, D, dx);
	return avsl_cuda_launch_status();
}
