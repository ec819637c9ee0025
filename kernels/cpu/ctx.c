/* ctx.c: the CPU backend's context: oneDNN engine and stream, primitive cache, scratch. */
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "op_backend.h"
#include "cpu_internal.h"

int cpu_fail(op_ctx *ctx, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ctx->err, sizeof ctx->err, fmt, ap);
	va_end(ap);
	return -1;
}

void cpu_set_threads(const op_ctx *ctx)
{
	if (omp_get_max_threads() != ctx->threads)
		omp_set_num_threads(ctx->threads);
}

void *cpu_scratch(op_ctx *ctx, size_t bytes)
{
	cpu_backend *b = ctx->backend;
	if (bytes <= b->scratch_bytes)
		return b->scratch;
	free(b->scratch);
	bytes = (bytes + 4095) & ~(size_t)4095;
	b->scratch = aligned_alloc(64, bytes);
	if (!b->scratch) {
		b->scratch_bytes = 0;
		cpu_fail(ctx, "out of memory (%zu bytes of convolution scratch)", bytes);
		return NULL;
	}
	b->scratch_bytes = bytes;
	return b->scratch;
}

int cpu_ctx_init(op_ctx *ctx, int threads)
{
	memset(ctx, 0, sizeof *ctx);
	ctx->device = OP_DEVICE_CPU;
	if (threads <= 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		threads = n > 0 ? (int)n : 1;
	}
	ctx->threads = threads;
	cpu_backend *b = calloc(1, sizeof *b);
	if (!b)
		return cpu_fail(ctx, "out of memory");
	ctx->backend = b;
	if (dnnl_engine_create(&b->eng, dnnl_cpu, 0) != dnnl_success) {
		free(b);
		ctx->backend = NULL;
		return cpu_fail(ctx, "oneDNN: cannot create a CPU engine");
	}
	if (dnnl_stream_create(&b->strm, b->eng, dnnl_stream_default_flags) != dnnl_success) {
		dnnl_engine_destroy(b->eng);
		free(b);
		ctx->backend = NULL;
		return cpu_fail(ctx, "oneDNN: cannot create a stream");
	}
	return 0;
}

void cpu_ctx_free(op_ctx *ctx)
{
	cpu_backend *b = ctx->backend;
	if (!b)
		return;
	cpu_conv_cache_free(b);
	dnnl_stream_destroy(b->strm);
	dnnl_engine_destroy(b->eng);
	free(b->scratch);
	free(b);
	ctx->backend = NULL;
}

int cpu_ctx_sync(op_ctx *ctx)
{
	(void)ctx;
	return 0;
}

int cpu_ctx_bind(op_ctx *ctx)
{
	(void)ctx;
	return 0;
}

/* Host memory: 64-byte aligned (one cache line, one AVX-512 vector), the copies are plain memcpy. */
int cpu_mem_alloc(op_ctx *ctx, void **p, size_t bytes)
{
	*p = aligned_alloc(64, ((bytes ? bytes : 1) + 63) & ~(size_t)63);
	return *p ? 0 : cpu_fail(ctx, "out of memory (%zu bytes)", bytes);
}

void cpu_mem_free(op_ctx *ctx, void *p)
{
	(void)ctx;
	free(p);
}

int cpu_mem_upload(op_ctx *ctx, void *dst, const void *src, size_t bytes)
{
	(void)ctx;
	if (bytes)
		memcpy(dst, src, bytes);
	return 0;
}

int cpu_mem_download(op_ctx *ctx, void *dst, const void *src, size_t bytes)
{
	return cpu_mem_upload(ctx, dst, src, bytes);
}

int cpu_mem_memset(op_ctx *ctx, void *p, int byte, size_t bytes)
{
	(void)ctx;
	if (bytes)
		memset(p, byte, bytes);
	return 0;
}

int cpu_mem_info(op_ctx *ctx, size_t *free_bytes, size_t *total_bytes)
{
	(void)ctx;
	*free_bytes = *total_bytes = 0;
	return 0;
}
