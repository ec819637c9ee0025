// ctx.cuh: the definition of the opaque avsl_cuda_ctx (internal to kernels/cuda).
#ifndef AVSL_CUDA_CTX_CUH
#define AVSL_CUDA_CTX_CUH

#include <cublas_v2.h>
#include <cuda_runtime.h>

struct avsl_cuda_ctx {
	cudaStream_t stream;  // borrowed
	cublasHandle_t blas;  // bound to stream
	void *ws;             // device workspace, ws_bytes
	size_t ws_bytes;
	int tf32;
};

#endif
