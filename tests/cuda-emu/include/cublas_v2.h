// Host stand-in for cublas_v2.h (tests/cuda-emu): SGEMM through OpenBLAS; TF32 mode rounds the inputs to TF32
// (10 mantissa bits, round to nearest even) so the test's TF32 tolerance is exercised too.
#pragma once
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_runtime.h"

typedef enum {
	CUBLAS_STATUS_SUCCESS = 0,
	CUBLAS_STATUS_NOT_INITIALIZED = 1,
	CUBLAS_STATUS_ALLOC_FAILED = 3,
	CUBLAS_STATUS_INVALID_VALUE = 7,
	CUBLAS_STATUS_ARCH_MISMATCH = 8,
	CUBLAS_STATUS_EXECUTION_FAILED = 13,
	CUBLAS_STATUS_INTERNAL_ERROR = 14,
	CUBLAS_STATUS_NOT_SUPPORTED = 15
} cublasStatus_t;
typedef enum { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 } cublasOperation_t;
typedef enum { CUBLAS_DEFAULT_MATH = 0, CUBLAS_TF32_TENSOR_OP_MATH = 3 } cublasMath_t;
struct emu_cublas {
	int math;
};
typedef emu_cublas *cublasHandle_t;

inline const char *cublasGetStatusString(cublasStatus_t s)
{
	return s ? "emulated cuBLAS error" : "CUBLAS_STATUS_SUCCESS";
}
inline cublasStatus_t cublasCreate(cublasHandle_t *h)
{
	*h = (cublasHandle_t)calloc(1, sizeof(emu_cublas));
	return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasDestroy(cublasHandle_t h) { free(h); return CUBLAS_STATUS_SUCCESS; }
inline cublasStatus_t cublasSetStream(cublasHandle_t, cudaStream_t) { return CUBLAS_STATUS_SUCCESS; }
inline cublasStatus_t cublasSetMathMode(cublasHandle_t h, cublasMath_t m) { h->math = m; return CUBLAS_STATUS_SUCCESS; }

inline float emu_tf32(float x)
{
	uint32_t u;
	memcpy(&u, &x, 4);
	u += 0xfffu + ((u >> 13) & 1u);
	u &= ~0x1fffu;
	memcpy(&x, &u, 4);
	return x;
}

inline cublasStatus_t cublasSgemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
				  const float *alpha, const float *A, int lda, const float *B, int ldb, const float *beta,
				  float *C, int ldc)
{
	if (m < 0 || n < 0 || k < 0)
		return CUBLAS_STATUS_INVALID_VALUE;
	if (!emu_is_device(A) || !emu_is_device(B) || !emu_is_device(C)) {
		fprintf(stderr, "cuda-emu: cublasSgemm with a host matrix\n");
		return CUBLAS_STATUS_INVALID_VALUE;
	}
	pthread_mutex_lock(&emu_launch_lock); // one device computes at a time (cuda_runtime.h)
	if (h->math == CUBLAS_TF32_TENSOR_OP_MATH) {
		size_t na = (size_t)lda * (ta == CUBLAS_OP_N ? k : m), nb = (size_t)ldb * (tb == CUBLAS_OP_N ? n : k);
		float *a = (float *)malloc(na * 4), *b = (float *)malloc(nb * 4);
		for (size_t i = 0; i < na; i++)
			a[i] = emu_tf32(A[i]);
		for (size_t i = 0; i < nb; i++)
			b[i] = emu_tf32(B[i]);
		cblas_sgemm(CblasColMajor, ta == CUBLAS_OP_N ? CblasNoTrans : CblasTrans,
			    tb == CUBLAS_OP_N ? CblasNoTrans : CblasTrans, m, n, k, *alpha, a, lda, b, ldb, *beta, C, ldc);
		free(a);
		free(b);
	} else {
		cblas_sgemm(CblasColMajor, ta == CUBLAS_OP_N ? CblasNoTrans : CblasTrans,
			    tb == CUBLAS_OP_N ? CblasNoTrans : CblasTrans, m, n, k, *alpha, A, lda, B, ldb, *beta, C, ldc);
	}
	pthread_mutex_unlock(&emu_launch_lock);
	return CUBLAS_STATUS_SUCCESS;
}

// batchCount independent SGEMMs, matrix i at A + i strideA, B + i strideB, C + i strideC (a stride may be 0: the
// same matrix for every product), each exactly as cublasSgemm above.
inline cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m,
						int n, int k, const float *alpha, const float *A, int lda,
						long long strideA, const float *B, int ldb, long long strideB,
						const float *beta, float *C, int ldc, long long strideC, int batchCount)
{
	if (batchCount < 0)
		return CUBLAS_STATUS_INVALID_VALUE;
	for (int i = 0; i < batchCount; i++) {
		cublasStatus_t st = cublasSgemm(h, ta, tb, m, n, k, alpha, A + i * strideA, lda, B + i * strideB, ldb,
						beta, C + i * strideC, ldc);
		if (st != CUBLAS_STATUS_SUCCESS)
			return st;
	}
	return CUBLAS_STATUS_SUCCESS;
}
