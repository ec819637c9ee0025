// device.cu: the messages of the error codes that the raw CUDA kernels of cuda_ops.h return (the ops of the
// contract report through op_ctx.err instead).
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "common.cuh"

extern "C" const char *avsl_cuda_error_string(int code)
{
	switch (code) {
	case 0:
		return "no error";
	case AVSL_CUDA_EINVAL:
		return "invalid argument";
	default:
		break;
	}
	if (code >= AVSL_CUDA_CUBLAS_BASE) {
		switch (code - AVSL_CUDA_CUBLAS_BASE) {
		case CUBLAS_STATUS_NOT_INITIALIZED:
			return "cuBLAS: not initialised";
		case CUBLAS_STATUS_ALLOC_FAILED:
			return "cuBLAS: allocation failed";
		case CUBLAS_STATUS_INVALID_VALUE:
			return "cuBLAS: invalid value";
		case CUBLAS_STATUS_ARCH_MISMATCH:
			return "cuBLAS: architecture mismatch";
		case CUBLAS_STATUS_EXECUTION_FAILED:
			return "cuBLAS: execution failed";
		case CUBLAS_STATUS_INTERNAL_ERROR:
			return "cuBLAS: internal error";
		case CUBLAS_STATUS_NOT_SUPPORTED:
			return "cuBLAS: not supported";
		default:
			return "cuBLAS: unknown error";
		}
	}
	if (code > 0)
		return cudaGetErrorString((cudaError_t)code);
	return "unknown error";
}
