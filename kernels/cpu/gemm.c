/* gemm.c: the CPU backend's sgemm: OpenBLAS on one thread per call, the output split into panels that OpenMP
 * threads take dynamically.
 *
 * Why not OpenBLAS's own threads: Debian's libopenblas0-pthread keeps its worker threads spinning on sched_yield
 * for a while after every call; beside our OpenMP threads that is a third busy thread on the cores (perf on the
 * demo's training, 2 cores: a third of all samples in the spinning worker), and a static split in any case waits
 * for the thread that shares its core with another process. Panels of the output (columns when the output is
 * wider than tall, rows otherwise) are independent GEMMs with the same K loop, so the result does not depend on
 * the thread count or on which thread takes which panel. */
#include <cblas.h>

#include "op_backend.h"
#include "cpu_internal.h"

/* Panels per call: more than the threads, so a thread that loses its core leaves only a panel to the others;
 * a fixed count (not one per thread) keeps the split independent of the thread count. */
enum { PANELS = 8, PANEL_MIN = 16 };

void cpu_blas_single(void)
{
	if (openblas_get_num_threads() != 1)
		openblas_set_num_threads(1);
}

void cpu_sgemm(const op_ctx *ctx, int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
	       const float *B, int ldb, float beta, float *C, int ldc)
{
	cpu_blas_single();
	const enum CBLAS_TRANSPOSE cta = ta ? CblasTrans : CblasNoTrans, ctb = tb ? CblasTrans : CblasNoTrans;
	const int by_cols = N >= M, len = by_cols ? N : M;
	/* panel width: len / PANELS rounded up to a multiple of PANEL_MIN (the kernels' vector width times two) */
	int w = (len + PANELS - 1) / PANELS;
	w = (w + PANEL_MIN - 1) / PANEL_MIN * PANEL_MIN;
	const int np = (len + w - 1) / w;
	/* a GEMM under a million FLOP stays on the calling thread: waking a thread team would cost more */
	const int threads = np > 1 && 2.0 * M * N * K > 1e6 ? ctx->threads : 1;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
	for (int p = 0; p < np; p++) {
		const int j0 = p * w, n = len - j0 < w ? len - j0 : w;
		if (by_cols) /* C(:, j0:j0+n) = op(A) op(B)(:, j0:j0+n) */
			cblas_sgemm(CblasRowMajor, cta, ctb, M, n, K, alpha, A, lda, tb ? B + (size_t)j0 * ldb : B + j0,
				    ldb, beta, C + j0, ldc);
		else /* C(j0:j0+n, :) = op(A)(j0:j0+n, :) op(B) */
			cblas_sgemm(CblasRowMajor, cta, ctb, n, N, K, alpha, ta ? A + j0 : A + (size_t)j0 * lda, lda, B,
				    ldb, beta, C + (size_t)j0 * ldc, ldc);
	}
}
