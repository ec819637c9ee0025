// Host stand-in for cudnn.h (tests/cuda-emu): exactly the convolution entry points kernels/cuda/conv2d.cu
// calls, computed with the naive CPU references of kernels/ops.h (conv2d_*_naive: plain loops, double sums). Every
// tensor pointer must be emulated device memory (emu_is_device), so a host pointer passed to cuDNN is caught.
#pragma once
#include <stdlib.h>
#include <string.h>

#include "cuda_runtime.h"

extern "C" {
#include "ops.h"
}

typedef enum {
	CUDNN_STATUS_SUCCESS = 0,
	CUDNN_STATUS_NOT_INITIALIZED = 1,
	CUDNN_STATUS_ALLOC_FAILED = 2,
	CUDNN_STATUS_BAD_PARAM = 3,
	CUDNN_STATUS_NOT_SUPPORTED = 9
} cudnnStatus_t;
typedef enum { CUDNN_TENSOR_NCHW = 0 } cudnnTensorFormat_t;
typedef enum { CUDNN_DATA_FLOAT = 0 } cudnnDataType_t;
typedef enum { CUDNN_CONVOLUTION = 0, CUDNN_CROSS_CORRELATION = 1 } cudnnConvolutionMode_t;
typedef enum {
	CUDNN_DEFAULT_MATH = 0,
	CUDNN_TENSOR_OP_MATH = 1,
	CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION = 2,
	CUDNN_FMA_MATH = 3
} cudnnMathType_t;
typedef int cudnnConvolutionFwdAlgo_t;
typedef int cudnnConvolutionBwdDataAlgo_t;
typedef int cudnnConvolutionBwdFilterAlgo_t;

struct emu_dnn {
	cudaStream_t stream;
};
struct emu_tensor4d {
	int n, c, h, w; // tensors: (N, C, H, W); filters: (K, C, R, S)
};
struct emu_convdesc {
	int pad_h, pad_w, u, v, dil_h, dil_w, mode;
	cudnnMathType_t math;
};
typedef emu_dnn *cudnnHandle_t;
typedef emu_tensor4d *cudnnTensorDescriptor_t;
typedef emu_tensor4d *cudnnFilterDescriptor_t;
typedef emu_convdesc *cudnnConvolutionDescriptor_t;

template <typename A> struct emu_algo_perf {
	A algo;
	cudnnStatus_t status;
	float time;
	size_t memory;
	int determinism;
	cudnnMathType_t mathType;
};
typedef emu_algo_perf<cudnnConvolutionFwdAlgo_t> cudnnConvolutionFwdAlgoPerf_t;
typedef emu_algo_perf<cudnnConvolutionBwdDataAlgo_t> cudnnConvolutionBwdDataAlgoPerf_t;
typedef emu_algo_perf<cudnnConvolutionBwdFilterAlgo_t> cudnnConvolutionBwdFilterAlgoPerf_t;

inline const char *cudnnGetErrorString(cudnnStatus_t s) { return s ? "emulated cuDNN error" : "CUDNN_STATUS_SUCCESS"; }
inline cudnnStatus_t cudnnCreate(cudnnHandle_t *h)
{
	*h = (cudnnHandle_t)calloc(1, sizeof(emu_dnn));
	return *h ? CUDNN_STATUS_SUCCESS : CUDNN_STATUS_ALLOC_FAILED;
}
inline cudnnStatus_t cudnnDestroy(cudnnHandle_t h) { free(h); return CUDNN_STATUS_SUCCESS; }
inline cudnnStatus_t cudnnSetStream(cudnnHandle_t h, cudaStream_t s) { h->stream = s; return CUDNN_STATUS_SUCCESS; }

inline cudnnStatus_t cudnnCreateTensorDescriptor(cudnnTensorDescriptor_t *d)
{
	*d = (emu_tensor4d *)calloc(1, sizeof(emu_tensor4d));
	return CUDNN_STATUS_SUCCESS;
}
inline cudnnStatus_t cudnnDestroyTensorDescriptor(cudnnTensorDescriptor_t d) { free(d); return CUDNN_STATUS_SUCCESS; }
inline cudnnStatus_t cudnnCreateFilterDescriptor(cudnnFilterDescriptor_t *d) { return cudnnCreateTensorDescriptor(d); }
inline cudnnStatus_t cudnnDestroyFilterDescriptor(cudnnFilterDescriptor_t d) { free(d); return CUDNN_STATUS_SUCCESS; }
inline cudnnStatus_t cudnnSetTensor4dDescriptor(cudnnTensorDescriptor_t d, cudnnTensorFormat_t f, cudnnDataType_t t,
						int n, int c, int h, int w)
{
	if (f != CUDNN_TENSOR_NCHW || t != CUDNN_DATA_FLOAT || n < 1 || c < 1 || h < 1 || w < 1)
		return CUDNN_STATUS_BAD_PARAM;
	*d = emu_tensor4d{n, c, h, w};
	return CUDNN_STATUS_SUCCESS;
}
inline cudnnStatus_t cudnnSetFilter4dDescriptor(cudnnFilterDescriptor_t d, cudnnDataType_t t, cudnnTensorFormat_t f,
						int k, int c, int r, int s)
{
	return cudnnSetTensor4dDescriptor(d, f, t, k, c, r, s);
}
inline cudnnStatus_t cudnnCreateConvolutionDescriptor(cudnnConvolutionDescriptor_t *d)
{
	*d = (emu_convdesc *)calloc(1, sizeof(emu_convdesc));
	return CUDNN_STATUS_SUCCESS;
}
inline cudnnStatus_t cudnnDestroyConvolutionDescriptor(cudnnConvolutionDescriptor_t d)
{
	free(d);
	return CUDNN_STATUS_SUCCESS;
}
inline cudnnStatus_t cudnnSetConvolution2dDescriptor(cudnnConvolutionDescriptor_t d, int ph, int pw, int u, int v,
						     int dh, int dw, cudnnConvolutionMode_t m, cudnnDataType_t t)
{
	if (t != CUDNN_DATA_FLOAT || u < 1 || v < 1 || dh < 1 || dw < 1 || ph < 0 || pw < 0)
		return CUDNN_STATUS_BAD_PARAM;
	d->pad_h = ph, d->pad_w = pw, d->u = u, d->v = v, d->dil_h = dh, d->dil_w = dw, d->mode = m;
	return CUDNN_STATUS_SUCCESS;
}
inline cudnnStatus_t cudnnSetConvolutionMathType(cudnnConvolutionDescriptor_t d, cudnnMathType_t m)
{
	d->math = m;
	return CUDNN_STATUS_SUCCESS;
}
inline cudnnStatus_t cudnnGetConvolution2dForwardOutputDim(cudnnConvolutionDescriptor_t d, cudnnTensorDescriptor_t x,
							   cudnnFilterDescriptor_t w, int *n, int *k, int *p, int *q)
{
	if (x->c != w->c)
		return CUDNN_STATUS_BAD_PARAM;
	*n = x->n, *k = w->n;
	*p = (x->h + 2 * d->pad_h - d->dil_h * (w->h - 1) - 1) / d->u + 1;
	*q = (x->w + 2 * d->pad_w - d->dil_w * (w->w - 1) - 1) / d->v + 1;
	return CUDNN_STATUS_SUCCESS;
}

// The subset the naive references compute: square stride and padding, no dilation, cross-correlation.
inline int emu_conv_shape(cudnnConvolutionDescriptor_t d, cudnnTensorDescriptor_t x, cudnnFilterDescriptor_t w,
			  cudnnTensorDescriptor_t y, conv_shape *s)
{
	if (d->pad_h != d->pad_w || d->u != d->v || d->dil_h != 1 || d->dil_w != 1 ||
	    d->mode != CUDNN_CROSS_CORRELATION)
		return -1;
	*s = conv_shape_make(x->n, x->c, x->h, x->w, w->n, w->h, w->w, d->u, d->pad_h);
	return s->P == y->h && s->Q == y->w && s->K == y->c && s->N == y->n ? 0 : -1;
}

// One candidate, as cudnnFind* / cudnnGet*_v7 report: FP32 math, a small workspace so that the caller's workspace
// path is exercised (the stand-in checks it received one that large).
enum { EMU_CONV_WS = 4096 };
template <typename P> cudnnStatus_t emu_one_algo(int want, int *n, P *perf)
{
	if (want < 1)
		return CUDNN_STATUS_BAD_PARAM;
	memset(perf, 0, sizeof *perf);
	perf->status = CUDNN_STATUS_SUCCESS;
	perf->memory = EMU_CONV_WS;
	perf->mathType = CUDNN_FMA_MATH;
	*n = 1;
	return CUDNN_STATUS_SUCCESS;
}
#define EMU_FIND(name, P)                                                                                            \
	inline cudnnStatus_t name(cudnnHandle_t, const void *, const void *, cudnnConvolutionDescriptor_t,         \
				  const void *, int want, int *n, P *perf)                                         \
	{                                                                                                          \
		return emu_one_algo(want, n, perf);                                                              \
	}
EMU_FIND(cudnnFindConvolutionForwardAlgorithm, cudnnConvolutionFwdAlgoPerf_t)
EMU_FIND(cudnnGetConvolutionForwardAlgorithm_v7, cudnnConvolutionFwdAlgoPerf_t)
EMU_FIND(cudnnFindConvolutionBackwardDataAlgorithm, cudnnConvolutionBwdDataAlgoPerf_t)
EMU_FIND(cudnnGetConvolutionBackwardDataAlgorithm_v7, cudnnConvolutionBwdDataAlgoPerf_t)
EMU_FIND(cudnnFindConvolutionBackwardFilterAlgorithm, cudnnConvolutionBwdFilterAlgoPerf_t)
EMU_FIND(cudnnGetConvolutionBackwardFilterAlgorithm_v7, cudnnConvolutionBwdFilterAlgoPerf_t)
#undef EMU_FIND

// out (n) = alpha * r + beta * out, cuDNN's blending (beta = 0 never reads out).
inline void emu_blend(float *out, const float *r, size_t n, float alpha, float beta)
{
	for (size_t i = 0; i < n; i++)
		out[i] = alpha * r[i] + (beta != 0.0f ? beta * out[i] : 0.0f);
}

inline cudnnStatus_t emu_conv_check(const void *ws, size_t ws_bytes, const void *a, const void *b, const void *out)
{
	if (!emu_is_device(a) || !emu_is_device(b) || !emu_is_device(out) || ws_bytes < EMU_CONV_WS ||
	    !emu_is_device(ws))
		return CUDNN_STATUS_BAD_PARAM;
	return CUDNN_STATUS_SUCCESS;
}

// Check the shape and the pointers, compute the naive result into a temporary (n floats) and blend it into out.
template <typename F>
cudnnStatus_t emu_conv(cudnnConvolutionDescriptor_t cd, cudnnTensorDescriptor_t xd, cudnnFilterDescriptor_t wd,
		       cudnnTensorDescriptor_t yd, const void *ws, size_t ws_bytes, const void *a, const void *b,
		       void *out, const void *alpha, const void *beta, size_t (*count)(const conv_shape *),
		       F naive)
{
	conv_shape s;
	if (emu_conv_shape(cd, xd, wd, yd, &s) || emu_conv_check(ws, ws_bytes, a, b, out))
		return CUDNN_STATUS_BAD_PARAM;
	size_t n = count(&s);
	float *r = (float *)malloc(n * sizeof(float));
	naive(&s, r);
	emu_blend((float *)out, r, n, *(const float *)alpha, *(const float *)beta);
	free(r);
	return CUDNN_STATUS_SUCCESS;
}
inline size_t emu_numel_x(const conv_shape *s) { return (size_t)s->N * s->C * s->H * s->W; }
inline size_t emu_numel_y(const conv_shape *s) { return (size_t)s->N * s->K * s->P * s->Q; }
inline size_t emu_numel_w(const conv_shape *s) { return (size_t)s->K * s->C * s->R * s->S; }

inline cudnnStatus_t cudnnConvolutionForward(cudnnHandle_t, const void *alpha, cudnnTensorDescriptor_t xd,
					     const void *x, cudnnFilterDescriptor_t wd, const void *w,
					     cudnnConvolutionDescriptor_t cd, cudnnConvolutionFwdAlgo_t, void *ws,
					     size_t ws_bytes, const void *beta, cudnnTensorDescriptor_t yd, void *y)
{
	auto naive = [&](conv_shape *s, float *r) {
		conv2d_fwd_naive(s, (const float *)x, (const float *)w, NULL, r, 0);
	};
	return emu_conv(cd, xd, wd, yd, ws, ws_bytes, x, w, y, alpha, beta, emu_numel_y, naive);
}

inline cudnnStatus_t cudnnConvolutionBackwardData(cudnnHandle_t, const void *alpha, cudnnFilterDescriptor_t wd,
						  const void *w, cudnnTensorDescriptor_t dyd, const void *dy,
						  cudnnConvolutionDescriptor_t cd, cudnnConvolutionBwdDataAlgo_t,
						  void *ws, size_t ws_bytes, const void *beta,
						  cudnnTensorDescriptor_t dxd, void *dx)
{
	auto naive = [&](conv_shape *s, float *r) {
		conv2d_bwd_data_naive(s, (const float *)dy, (const float *)w, r, 0);
	};
	return emu_conv(cd, dxd, wd, dyd, ws, ws_bytes, w, dy, dx, alpha, beta, emu_numel_x, naive);
}

inline cudnnStatus_t cudnnConvolutionBackwardFilter(cudnnHandle_t, const void *alpha, cudnnTensorDescriptor_t xd,
						    const void *x, cudnnTensorDescriptor_t dyd, const void *dy,
						    cudnnConvolutionDescriptor_t cd, cudnnConvolutionBwdFilterAlgo_t,
						    void *ws, size_t ws_bytes, const void *beta,
						    cudnnFilterDescriptor_t dwd, void *dw)
{
	auto naive = [&](conv_shape *s, float *r) {
		conv2d_bwd_weight_naive(s, (const float *)x, (const float *)dy, r, 0);
	};
	return emu_conv(cd, xd, dwd, dyd, ws, ws_bytes, x, dy, dw, alpha, beta, emu_numel_w, naive);
}
