// cuda_internal.cuh: the CUDA backend behind op_ctx.backend (twin of kernels/cpu/cpu_internal.h); internal to the
// kernels/cuda/*.cu files (C++ only).
//
// One trunk_backend per op_ctx, nothing global: a stream owned by the context, a cuDNN and a cuBLAS handle bound to
// it, one device workspace grown on demand (convolution workspaces and the per-channel partial sums of batch norm
// share it: ops run one after the other on the stream), and a cache of cuDNN descriptors and algorithms keyed by
// (kind, shape). After the first call of each shape, no op allocates.
//
// The stream is created blocking (cudaStreamDefault): a plain cudaMemcpy on the legacy default stream by the caller
// is ordered with the ops, so callers that do not know the stream still see consistent data.
//
// Precision: FP32 everywhere by default (cuDNN CUDNN_FMA_MATH, cuBLAS CUBLAS_DEFAULT_MATH), as the CPU backend.
// A context opened with OP_CTX_TF32 (op_ctx_init_on; the tools set it from AVSL_TF32=1) allows TF32 tensor cores in
// its convolutions and GEMMs (inputs rounded to 10 mantissa bits: results differ from FP32 by ~1e-3 relative).
#ifndef AVSL_CUDA_INTERNAL_CUH
#define AVSL_CUDA_INTERNAL_CUH

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#include <stddef.h>
#include <stdint.h>

extern "C" {
#include "op_backend.h"
}

struct trunk_conv; // one cached cuDNN convolution setup (conv2d.cu)

struct trunk_backend {
	int device;          // CUDA device index (op_ctx.index), made current at op_ctx_init_on
	int sms;             // its multiprocessor count (grid sizing)
	int tf32;            // op_ctx.tf32: TF32 tensor cores allowed
	cudaStream_t stream; // owned
	cudnnHandle_t dnn;   // bound to stream
	cublasHandle_t blas; // bound to stream
	void *ws;            // device workspace, ws_bytes; grows, never shrinks
	size_t ws_bytes;
	trunk_conv *convs; // descriptor/algorithm cache keyed by (kind, shape)
};

static inline trunk_backend *trunk_of(op_ctx *ctx) { return (trunk_backend *)ctx->backend; }

// Fill ctx->err; always returns -1.
int trunk_fail(op_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
// 0, or -1 with "CUDA: what: reason" (resp. cuDNN, cuBLAS) in ctx->err.
int trunk_cuda_check(op_ctx *ctx, cudaError_t e, const char *what);
int trunk_dnn_check(op_ctx *ctx, cudnnStatus_t st, const char *what);
int trunk_blas_check(op_ctx *ctx, cublasStatus_t st, const char *what);
// The CUDA twins run on plain NCHW activations only (cuDNN's NCHW path; op_preferred_layout says so): the CPU's
// channel-blocked layout is refused with a clear reason rather than misread. 0, or -1 with ctx->err.
static inline int trunk_needs_plain(op_ctx *ctx, const char *op, int fmt_a, int fmt_b)
{
	if (fmt_a == OP_NCHW && fmt_b == OP_NCHW)
		return 0;
	return trunk_fail(ctx, "%s: the CUDA backend takes NCHW activations only (got layout %d/%d)", op, fmt_a, fmt_b);
}
// The error of the last kernel launch, as trunk_cuda_check.
static inline int trunk_launched(op_ctx *ctx, const char *what)
{
	return trunk_cuda_check(ctx, cudaGetLastError(), what);
}
// The same two checks naming the op and its shapes, printf-style ("avsl_pool_fwd (N %d, C %d, HW %d)"), so a CUDA
// error at run time says which op on which tensors failed.
int trunk_launched_at(op_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int trunk_blas_at(op_ctx *ctx, cublasStatus_t st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
// The context workspace grown to at least bytes (synchronises the stream when it grows); NULL with ctx->err.
void *trunk_workspace(op_ctx *ctx, size_t bytes);
// Free the convolution cache (conv2d.cu).
void trunk_conv_cache_free(trunk_backend *b);

// Blocks for a grid-stride loop over n items with t threads per block: enough to fill the device, no more.
static inline unsigned trunk_grid(const trunk_backend *b, int64_t n, int t)
{
	int64_t g = (n + t - 1) / t, cap = (int64_t)b->sms * 16;
	if (g > cap)
		g = cap;
	return g < 1 ? 1u : (unsigned)g;
}

// Whether a tensor of n elements can use 32-bit unsigned indexing in a grid-stride loop (i + stride never wraps).
static inline int trunk_small(int64_t n) { return n < ((int64_t)1 << 31); }

// Sum of v over the block in double by a fixed tree (blockDim.x a power of two; sh: __shared__ double[blockDim.x]):
// the same bits on every run and device. The result is in thread 0's return value.
__device__ __forceinline__ double trunk_block_tree_f64(double v, double *sh)
{
	sh[threadIdx.x] = v;
	__syncthreads();
	for (int s = blockDim.x / 2; s > 0; s >>= 1) {
		if ((int)threadIdx.x < s)
			sh[threadIdx.x] += sh[threadIdx.x + s];
		__syncthreads();
	}
	return sh[0];
}

// Sum of v over the block (blockDim.x a multiple of 32, <= 1024); the result is valid in every thread.
// sh: __shared__ float[32]. Ends with a barrier, so sh may be reused right away.
__device__ __forceinline__ float trunk_block_sum(float v, float *sh)
{
	for (int o = 16; o > 0; o >>= 1)
		v += __shfl_xor_sync(0xffffffffu, v, o);
	const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
	if (lane == 0)
		sh[warp] = v;
	__syncthreads();
	v = lane < nw ? sh[lane] : 0.0f;
	for (int o = 16; o > 0; o >>= 1)
		v += __shfl_xor_sync(0xffffffffu, v, o);
	__syncthreads();
	return v;
}

__device__ __forceinline__ float trunk_warp_sum(float v)
{
	for (int o = 16; o > 0; o >>= 1)
		v += __shfl_xor_sync(0xffffffffu, v, o);
	return v;
}

#endif
