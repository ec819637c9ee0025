// common.cuh: helpers shared by the .cu files of kernels/cuda (internal, C++ only).
#ifndef AVSL_CUDA_COMMON_CUH
#define AVSL_CUDA_COMMON_CUH

#include <cuda_runtime.h>
#include <stdint.h>


// Return the error of the last launch (0 if none); used right after every <<<>>>.
static inline int avsl_cuda_launch_status(void) { return (int)cudaGetLastError(); }

#define AVSL_CUDA_TRY(expr)                                                                                      \
	do {                                                                                                     \
		cudaError_t e_ = (expr);                                                                         \
		if (e_ != cudaSuccess)                                                                           \
			return (int)e_;                                                                          \
	} while (0)

static inline cudaStream_t avsl_stream(void *s) { return (cudaStream_t)s; }

// Blocks for n items at t per block, capped to the grid limit (kernels then loop with a grid stride).
static inline unsigned avsl_blocks(int64_t n, int t)
{
	int64_t b = (n + t - 1) / t;
	if (b < 1)
		b = 1;
	if (b > 1 << 30)
		b = 1 << 30;
	return (unsigned)b;
}

__device__ __forceinline__ float avsl_warp_sum(float v)
{
	for (int o = 16; o > 0; o >>= 1)
		v += __shfl_xor_sync(0xffffffffu, v, o);
	return v;
}

__device__ __forceinline__ float avsl_warp_max(float v)
{
	for (int o = 16; o > 0; o >>= 1)
		v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
	return v;
}

// Sum in double over the warp (sums the contract wants in double: pool means, norms, certainties).
__device__ __forceinline__ double avsl_warp_sum_d(double v)
{
	for (int o = 16; o > 0; o >>= 1)
		v += __shfl_xor_sync(0xffffffffu, v, o);
	return v;
}

#endif
