/* op_backend.h: one backend = one table of function pointers, expanded from op_list.h (ggml's backend interface,
 * with the op list written once). Only kernels/ includes this header; everything else calls the op_* functions of
 * ops.h, which dispatch through the table of the context.
 *
 * The CPU table always exists (kernels/cpu/table.c). The CUDA table (kernels/cuda/table.cu) exists in a CUDA
 * build only: op_backend_cuda is NULL otherwise. An op a backend lacks is a NULL entry; op_supports and the op_*
 * functions refuse it with a clear error, never running it elsewhere. */
#ifndef AVSL_OP_BACKEND_H
#define AVSL_OP_BACKEND_H

#include "ops.h"
#include "op_list.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct op_backend {
	const char *name; /* "cpu", "cuda" */
	int act_fmt;      /* the activation layout its trunk ops are fastest in (OP_NCHW8C, OP_NCHW) */
	/* Fill ctx (device, threads, backend) for `threads` CPU threads (<= 0: all online CPUs); 0 or -1 (ctx->err).
	 * ctx->index (device ordinal) and ctx->tf32 are inputs, set by op_ctx_init_on; everything else is cleared. */
	int (*ctx_init)(op_ctx *ctx, int threads);
	void (*ctx_free)(op_ctx *ctx);
	int (*ctx_sync)(op_ctx *ctx);
	int (*ctx_bind)(op_ctx *ctx); /* ops.h op_ctx_bind */
	/* memory of the backend (ops.h op_alloc ... op_memset) */
	int (*mem_alloc)(op_ctx *ctx, void **p, size_t bytes);
	void (*mem_free)(op_ctx *ctx, void *p);
	int (*mem_upload)(op_ctx *ctx, void *dst, const void *src, size_t bytes);
	int (*mem_download)(op_ctx *ctx, void *dst, const void *src, size_t bytes);
	int (*mem_memset)(op_ctx *ctx, void *p, int byte, size_t bytes);
	int (*mem_info)(op_ctx *ctx, size_t *free_bytes, size_t *total_bytes);
#define X(name, cuda, params, args) int(*name) params;
	OP_LIST(X)
#undef X
} op_backend;

extern const op_backend op_backend_cpu;
extern const op_backend *const op_backend_cuda; /* NULL in a build without CUDA */

/* The implementations: cpu_NAME and cuda_NAME for every entry of op_list.h (cuda only where its flag is 1). */
int cpu_ctx_init(op_ctx *ctx, int threads);
void cpu_ctx_free(op_ctx *ctx);
int cpu_ctx_sync(op_ctx *ctx);
int cpu_ctx_bind(op_ctx *ctx);
int cpu_mem_alloc(op_ctx *ctx, void **p, size_t bytes);
void cpu_mem_free(op_ctx *ctx, void *p);
int cpu_mem_upload(op_ctx *ctx, void *dst, const void *src, size_t bytes);
int cpu_mem_download(op_ctx *ctx, void *dst, const void *src, size_t bytes);
int cpu_mem_memset(op_ctx *ctx, void *p, int byte, size_t bytes);
int cpu_mem_info(op_ctx *ctx, size_t *free_bytes, size_t *total_bytes);
#define X(name, cuda, params, args) int cpu_##name params;
OP_LIST(X)
#undef X

#ifdef AVSL_HAVE_CUDA
int cuda_ctx_init(op_ctx *ctx, int threads);
void cuda_ctx_free(op_ctx *ctx);
int cuda_ctx_sync(op_ctx *ctx);
int cuda_ctx_bind(op_ctx *ctx);
int cuda_mem_alloc(op_ctx *ctx, void **p, size_t bytes);
void cuda_mem_free(op_ctx *ctx, void *p);
int cuda_mem_upload(op_ctx *ctx, void *dst, const void *src, size_t bytes);
int cuda_mem_download(op_ctx *ctx, void *dst, const void *src, size_t bytes);
int cuda_mem_memset(op_ctx *ctx, void *p, int byte, size_t bytes);
int cuda_mem_info(op_ctx *ctx, size_t *free_bytes, size_t *total_bytes);
#define OP_CUDA_DECL_1(name, params) int cuda_##name params;
#define OP_CUDA_DECL_0(name, params)
#define X(name, cuda, params, args) OP_CUDA_DECL_##cuda(name, params)
OP_LIST(X)
#undef X
#endif

#ifdef __cplusplus
}
#endif

#endif
