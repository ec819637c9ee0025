/* cpu_internal.h: state of the CPU backend behind op_ctx.backend (private to kernels/cpu). */
#ifndef AVSL_CPU_INTERNAL_H
#define AVSL_CPU_INTERNAL_H

#include <stddef.h>

#include <oneapi/dnnl/dnnl.h>

#include "ops.h"

struct conv_prim;

typedef struct cpu_backend {
	dnnl_engine_t eng;
	dnnl_stream_t strm;
	struct conv_prim *conv_cache; /* oneDNN convolution primitives keyed by (kind, shape, flags) */
	void *scratch;                /* inner-layout copies of conv operands; grows on a cache miss only */
	size_t scratch_bytes;
} cpu_backend;

/* Grow the context scratch to at least `bytes`; returns it or NULL (ctx->err filled). */
void *cpu_scratch(op_ctx *ctx, size_t bytes);
int cpu_fail(op_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Set the OpenMP thread count of the calling thread for the op (oneDNN follows it). */
void cpu_set_threads(const op_ctx *ctx);
void cpu_conv_cache_free(cpu_backend *b);
/* OpenBLAS on the calling thread only (its pthread workers spin between calls): every GEMM goes through cpu_sgemm */
void cpu_blas_single(void);
/* Row-major C = alpha op(A) op(B) + beta C (op: transposed when ta / tb), split into output panels that
 * ctx->threads OpenMP threads take dynamically; the result does not depend on the thread count. */
void cpu_sgemm(const op_ctx *ctx, int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
	       const float *B, int ldb, float beta, float *C, int ldc);

#endif
