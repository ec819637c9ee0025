// ctx.cu: the CUDA op context (twin of kernels/cpu/ctx.c): stream, cuDNN and cuBLAS
// handles, workspace, error reporting.
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cuda_internal.cuh"

int trunk_fail(op_ctx *ctx, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ctx->err, sizeof ctx->err, fmt, ap);
	va_end(ap);
	return -1;
}

int trunk_cuda_check(op_ctx *ctx, cudaError_t e, const char *what)
{
	if (e == cudaSuccess)
		return 0;
	return trunk_fail(ctx, "CUDA: %s: %s", what, cudaGetErrorString(e));
}

int trunk_dnn_check(op_ctx *ctx, cudnnStatus_t st, const char *what)
{
	if (st == CUDNN_STATUS_SUCCESS)
		return 0;
	return trunk_fail(ctx, "cuDNN: %s: %s", what, cudnnGetErrorString(st));
}

int trunk_blas_check(op_ctx *ctx, cublasStatus_t st, const char *what)
{
	if (st == CUBLAS_STATUS_SUCCESS)
		return 0;
	return trunk_fail(ctx, "cuBLAS: %s: %s", what, cublasGetStatusString(st));
}

int trunk_launched_at(op_ctx *ctx, const char *fmt, ...)
{
	cudaError_t e = cudaGetLastError();
	if (e == cudaSuccess)
		return 0;
	char what[160];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	return trunk_cuda_check(ctx, e, what);
}

int trunk_blas_at(op_ctx *ctx, cublasStatus_t st, const char *fmt, ...)
{
	if (st == CUBLAS_STATUS_SUCCESS)
		return 0;
	char what[160];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	return trunk_blas_check(ctx, st, what);
}

void *trunk_workspace(op_ctx *ctx, size_t bytes)
{
	trunk_backend *b = trunk_of(ctx);
	if (bytes <= b->ws_bytes)
		return b->ws;
	// Work queued earlier may still read the old buffer: wait for it before freeing.
	if (trunk_cuda_check(ctx, cudaStreamSynchronize(b->stream), "workspace: synchronise"))
		return NULL;
	cudaFree(b->ws);
	b->ws = NULL;
	b->ws_bytes = 0;
	bytes = (bytes + ((size_t)1 << 20) - 1) & ~(((size_t)1 << 20) - 1); // whole MiB: fewer regrowths
	if (trunk_cuda_check(ctx, cudaMalloc(&b->ws, bytes), "workspace: cudaMalloc")) {
		b->ws = NULL;
		return NULL;
	}
	b->ws_bytes = bytes;
	return b->ws;
}

static void backend_destroy(trunk_backend *b)
{
	if (b->stream)
		cudaStreamSynchronize(b->stream);
	trunk_conv_cache_free(b);
	if (b->ws)
		cudaFree(b->ws);
	if (b->blas)
		cublasDestroy(b->blas);
	if (b->dnn)
		cudnnDestroy(b->dnn);
	if (b->stream)
		cudaStreamDestroy(b->stream);
	free(b);
}

extern "C" int cuda_ctx_init(op_ctx *ctx, int threads)
{
	const int index = ctx->index, tf32 = ctx->tf32; // inputs (op_ctx_init_on)
	memset(ctx, 0, sizeof *ctx);
	ctx->device = OP_DEVICE_CUDA;
	ctx->index = index;
	ctx->tf32 = tf32;
	if (threads <= 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		threads = n > 0 ? (int)n : 1;
	}
	ctx->threads = threads;

	int count = 0;
	cudaError_t e = cudaGetDeviceCount(&count);
	if (e == cudaErrorInsufficientDriver) {
		// The runtime says the same when the driver is old and when there is none at all: tell them apart.
		void *h = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
		if (!h)
			return trunk_fail(
				ctx,
				"CUDA: no usable device: no NVIDIA driver on this machine (libcuda.so.1 not found)");
		dlclose(h);
	}
	if (e != cudaSuccess)
		return trunk_fail(ctx, "CUDA: no usable device: %s", cudaGetErrorString(e));
	if (count < 1)
		return trunk_fail(ctx, "CUDA: no device found");
	if (index >= count)
		return trunk_fail(ctx, "CUDA: no device %d (%d found, numbered from 0)", index, count);

	trunk_backend *b = (trunk_backend *)calloc(1, sizeof *b);
	if (!b)
		return trunk_fail(ctx, "CUDA: out of host memory");
	b->tf32 = tf32;
	b->device = index;
	if (trunk_cuda_check(ctx, cudaSetDevice(index), "cudaSetDevice") ||
	    trunk_cuda_check(ctx, cudaDeviceGetAttribute(&b->sms, cudaDevAttrMultiProcessorCount, b->device),
			     "cudaDeviceGetAttribute") ||
	    trunk_cuda_check(ctx, cudaStreamCreateWithFlags(&b->stream, cudaStreamDefault), "cudaStreamCreate"))
		goto fail;
	if (trunk_dnn_check(ctx, cudnnCreate(&b->dnn), "cudnnCreate")) {
		b->dnn = NULL;
		goto fail;
	}
	if (trunk_dnn_check(ctx, cudnnSetStream(b->dnn, b->stream), "cudnnSetStream"))
		goto fail;
	if (trunk_blas_check(ctx, cublasCreate(&b->blas), "cublasCreate")) {
		b->blas = NULL;
		goto fail;
	}
	if (trunk_blas_check(ctx, cublasSetStream(b->blas, b->stream), "cublasSetStream") ||
	    trunk_blas_check(ctx,
			     cublasSetMathMode(b->blas, b->tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH),
			     "cublasSetMathMode"))
		goto fail;
	if (b->sms < 1)
		b->sms = 1;
	ctx->backend = b;
	return 0;
fail:
	backend_destroy(b);
	return -1;
}

extern "C" void cuda_ctx_free(op_ctx *ctx)
{
	trunk_backend *b = trunk_of(ctx);
	if (!b)
		return;
	backend_destroy(b);
	ctx->backend = NULL;
}

// The current device is per host thread in CUDA: a thread using this context makes its device current first.
extern "C" int cuda_ctx_bind(op_ctx *ctx)
{
	return trunk_cuda_check(ctx, cudaSetDevice(trunk_of(ctx)->device), "cudaSetDevice");
}

extern "C" int cuda_ctx_sync(op_ctx *ctx)
{
	return trunk_cuda_check(ctx, cudaStreamSynchronize(trunk_of(ctx)->stream), "synchronise");
}

// Device memory, and copies queued on the context's stream (a download waits for them: its result is on the host).
extern "C" int cuda_mem_alloc(op_ctx *ctx, void **p, size_t bytes)
{
	*p = NULL;
	if (trunk_cuda_check(ctx, cudaMalloc(p, bytes ? bytes : 1), "cudaMalloc")) {
		*p = NULL;
		return -1;
	}
	return 0;
}

extern "C" void cuda_mem_free(op_ctx *ctx, void *p)
{
	if (p) { // the stream may still read it
		cudaStreamSynchronize(trunk_of(ctx)->stream);
		cudaFree(p);
	}
}

extern "C" int cuda_mem_upload(op_ctx *ctx, void *dst, const void *src, size_t bytes)
{
	if (!bytes)
		return 0;
	return trunk_cuda_check(ctx, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, trunk_of(ctx)->stream),
				"upload");
}

extern "C" int cuda_mem_download(op_ctx *ctx, void *dst, const void *src, size_t bytes)
{
	if (!bytes)
		return 0;
	cudaStream_t s = trunk_of(ctx)->stream;
	return trunk_cuda_check(ctx, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s), "download") ||
	       trunk_cuda_check(ctx, cudaStreamSynchronize(s), "download: synchronise");
}

extern "C" int cuda_mem_info(op_ctx *ctx, size_t *free_bytes, size_t *total_bytes)
{
	*free_bytes = *total_bytes = 0;
	return trunk_cuda_check(ctx, cudaSetDevice(trunk_of(ctx)->device), "cudaSetDevice") ||
	       trunk_cuda_check(ctx, cudaMemGetInfo(free_bytes, total_bytes), "cudaMemGetInfo");
}

extern "C" int cuda_mem_memset(op_ctx *ctx, void *p, int byte, size_t bytes)
{
	if (!bytes)
		return 0;
	return trunk_cuda_check(ctx, cudaMemsetAsync(p, byte, bytes, trunk_of(ctx)->stream), "memset");
}
