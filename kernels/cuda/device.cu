// device.cu: CUDA devices, memory, streams and the op context; defines the table avsl_cuda_api_table that
// kernels/cuda_backend.c publishes as avsl_cuda_api.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>

#include "common.cuh"
#include "ctx.cuh"
#include "device_api.h"

extern "C" const char *avsl_cuda_error_string(int code)
{
	switch (code) {
	case 0:
		return "no error";
	case AVSL_CUDA_EINVAL:
		return "invalid argument";
	case AVSL_CUDA_ENOWORKSPACE:
		return "workspace too small for one unit of work";
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

extern "C" int avsl_cuda_device_count(int *count)
{
	int n = 0;
	cudaError_t e = cudaGetDeviceCount(&n);
	*count = e == cudaSuccess ? n : 0;
	return (int)e;
}

extern "C" int avsl_cuda_set_device(int index) { return (int)cudaSetDevice(index); }

extern "C" int avsl_cuda_device_describe(int index, char *buf, size_t n)
{
	cudaDeviceProp p;
	AVSL_CUDA_TRY(cudaGetDeviceProperties(&p, index));
	snprintf(buf, n, "%s, sm_%d%d, %.1f GiB", p.name, p.major, p.minor, p.totalGlobalMem / 1073741824.0);
	return 0;
}

extern "C" int avsl_cuda_alloc(void **p, size_t bytes)
{
	*p = NULL;
	return (int)cudaMalloc(p, bytes ? bytes : 1);
}

extern "C" int avsl_cuda_free(void *p) { return (int)cudaFree(p); }

extern "C" int avsl_cuda_host_alloc(void **p, size_t bytes)
{
	*p = NULL;
	return (int)cudaMallocHost(p, bytes ? bytes : 1);
}

extern "C" int avsl_cuda_host_free(void *p) { return (int)cudaFreeHost(p); }

extern "C" int avsl_cuda_memset_async(void *p, int byte, size_t bytes, void *stream)
{
	return (int)cudaMemsetAsync(p, byte, bytes, avsl_stream(stream));
}

extern "C" int avsl_cuda_copy_h2d_async(void *dst, const void *src, size_t bytes, void *stream)
{
	return (int)cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, avsl_stream(stream));
}

extern "C" int avsl_cuda_copy_d2h_async(void *dst, const void *src, size_t bytes, void *stream)
{
	return (int)cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, avsl_stream(stream));
}

extern "C" int avsl_cuda_copy_d2d_async(void *dst, const void *src, size_t bytes, void *stream)
{
	return (int)cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, avsl_stream(stream));
}

extern "C" int avsl_cuda_stream_create(void **stream)
{
	cudaStream_t s = NULL;
	cudaError_t e = cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
	*stream = e == cudaSuccess ? (void *)s : NULL;
	return (int)e;
}

extern "C" int avsl_cuda_stream_destroy(void *stream) { return (int)cudaStreamDestroy(avsl_stream(stream)); }

extern "C" int avsl_cuda_stream_synchronize(void *stream) { return (int)cudaStreamSynchronize(avsl_stream(stream)); }

extern "C" int avsl_cuda_ctx_create(avsl_cuda_ctx **out, void *stream, size_t workspace_bytes)
{
	*out = NULL;
	avsl_cuda_ctx *c = (avsl_cuda_ctx *)calloc(1, sizeof *c);
	if (!c)
		return (int)cudaErrorMemoryAllocation;
	c->stream = avsl_stream(stream);
	c->ws_bytes = workspace_bytes ? workspace_bytes : (size_t)256 << 20;
	cublasStatus_t st = cublasCreate(&c->blas);
	if (st != CUBLAS_STATUS_SUCCESS) {
		free(c);
		return AVSL_CUDA_CUBLAS_BASE + (int)st;
	}
	st = cublasSetStream(c->blas, c->stream);
	if (st == CUBLAS_STATUS_SUCCESS)
		st = cublasSetMathMode(c->blas, CUBLAS_DEFAULT_MATH); // FP32 unless asked: see avsl_cuda_ctx_set_tf32
	if (st != CUBLAS_STATUS_SUCCESS) {
		cublasDestroy(c->blas);
		free(c);
		return AVSL_CUDA_CUBLAS_BASE + (int)st;
	}
	cudaError_t e = cudaMalloc(&c->ws, c->ws_bytes);
	if (e != cudaSuccess) {
		cublasDestroy(c->blas);
		free(c);
		return (int)e;
	}
	*out = c;
	return 0;
}

extern "C" void avsl_cuda_ctx_destroy(avsl_cuda_ctx *c)
{
	if (!c)
		return;
	cudaFree(c->ws);
	cublasDestroy(c->blas);
	free(c);
}

extern "C" void *avsl_cuda_ctx_stream(const avsl_cuda_ctx *c) { return (void *)c->stream; }

extern "C" int avsl_cuda_ctx_set_tf32(avsl_cuda_ctx *c, int on)
{
	cublasStatus_t st = cublasSetMathMode(c->blas, on ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH);
	if (st != CUBLAS_STATUS_SUCCESS)
		return AVSL_CUDA_CUBLAS_BASE + (int)st;
	c->tf32 = on != 0;
	return 0;
}

extern "C" const avsl_device_api avsl_cuda_api_table = {
	"cuda",
	avsl_cuda_error_string,
	avsl_cuda_device_count,
	avsl_cuda_set_device,
	avsl_cuda_device_describe,
	avsl_cuda_alloc,
	avsl_cuda_free,
	avsl_cuda_host_alloc,
	avsl_cuda_host_free,
	avsl_cuda_memset_async,
	avsl_cuda_copy_h2d_async,
	avsl_cuda_copy_d2h_async,
	avsl_cuda_copy_d2d_async,
	avsl_cuda_stream_create,
	avsl_cuda_stream_destroy,
	avsl_cuda_stream_synchronize,
	avsl_cuda_ctx_create,
	avsl_cuda_ctx_destroy,
	avsl_cuda_ctx_stream,
	avsl_cuda_ctx_set_tf32,
	avsl_dist_tile_cuda,
	avsl_link_prepare_cuda,
	avsl_normalize_rows_cuda,
	l2norm_fwd_cuda,
	l2norm_bwd_cuda,
	avsl_adamw_plan_blocks,
	adamw_step_cuda,
	topk_init_cuda,
	topk_merge_cuda,
	proxy_anchor_cuda_workspace_size,
	proxy_anchor_cuda,
};
