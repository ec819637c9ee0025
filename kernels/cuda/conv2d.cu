// conv2d.cu: convolution forward, backward-data and backward-weight on cuDNN (twin of kernels/cpu/conv2d.c).
//
// Plain NCHW / KCRS float32 tensors. For each (kind, shape) the descriptors are created and the algorithm chosen
// once (cudnnFind*, which times the candidates; cudnnGet*_v7 heuristics if Find fails, e.g. out of memory for its
// trial buffers) and kept in the context's cache. OP_ACCUM is cuDNN's beta = 1; the bias and OP_RELU of the forward
// run as one epilogue kernel after it (y = relu(conv + y_old + bias), the order of the contract).
#include <stdlib.h>
#include <string.h>

#include "cuda_internal.cuh"

namespace {

enum { K_FWD = 0, K_BWD_DATA = 1, K_BWD_WEIGHT = 2 };

} // namespace

struct trunk_conv {
	int kind;
	conv_shape s;
	cudnnTensorDescriptor_t x, y; // (N,C,H,W), (N,K,P,Q)
	cudnnFilterDescriptor_t w;    // (K,C,R,S)
	cudnnConvolutionDescriptor_t cd;
	int algo;        // cudnnConvolution{Fwd,BwdData,BwdFilter}Algo_t of kind
	size_t ws_bytes; // workspace the algorithm needs
	trunk_conv *next;
};

static void conv_free(trunk_conv *c)
{
	if (c->x)
		cudnnDestroyTensorDescriptor(c->x);
	if (c->y)
		cudnnDestroyTensorDescriptor(c->y);
	if (c->w)
		cudnnDestroyFilterDescriptor(c->w);
	if (c->cd)
		cudnnDestroyConvolutionDescriptor(c->cd);
	free(c);
}

void trunk_conv_cache_free(trunk_backend *b)
{
	for (trunk_conv *c = b->convs, *n; c; c = n) {
		n = c->next;
		conv_free(c);
	}
	b->convs = NULL;
}

// Whether a perf result may be used: it ran, and it does not use TF32 tensor cores unless the context allows it.
static int usable(cudnnStatus_t st, cudnnMathType_t m, int tf32)
{
	return st == CUDNN_STATUS_SUCCESS &&
	       (tf32 || (m != CUDNN_TENSOR_OP_MATH && m != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION));
}

// Pick the algorithm of kind for c: the fastest usable one that cudnnFind* timed, else the first usable heuristic.
template <typename Perf> static int pick(const Perf *perf, int n, int tf32, int *algo, size_t *ws, cudnnMathType_t *m)
{
	for (int i = 0; i < n; i++)
		if (usable(perf[i].status, perf[i].mathType, tf32)) {
			*algo = (int)perf[i].algo;
			*ws = perf[i].memory;
			*m = perf[i].mathType;
			return 0;
		}
	return -1;
}

static int choose_algo(op_ctx *ctx, trunk_conv *c)
{
	trunk_backend *b = trunk_of(ctx);
	enum { NA = 16 };
	int n = 0, rc = -1;
	cudnnMathType_t m = CUDNN_FMA_MATH;
	if (c->kind == K_FWD) {
		cudnnConvolutionFwdAlgoPerf_t perf[NA];
		if (cudnnFindConvolutionForwardAlgorithm(b->dnn, c->x, c->w, c->cd, c->y, NA, &n, perf) ==
		    CUDNN_STATUS_SUCCESS)
			rc = pick(perf, n, b->tf32, &c->algo, &c->ws_bytes, &m);
		if (rc &&
		    trunk_dnn_check(
			    ctx, cudnnGetConvolutionForwardAlgorithm_v7(b->dnn, c->x, c->w, c->cd, c->y, NA, &n, perf),
			    "cudnnGetConvolutionForwardAlgorithm_v7") == 0)
			rc = pick(perf, n, b->tf32, &c->algo, &c->ws_bytes, &m);
	} else if (c->kind == K_BWD_DATA) {
		cudnnConvolutionBwdDataAlgoPerf_t perf[NA];
		if (cudnnFindConvolutionBackwardDataAlgorithm(b->dnn, c->w, c->y, c->cd, c->x, NA, &n, perf) ==
		    CUDNN_STATUS_SUCCESS)
			rc = pick(perf, n, b->tf32, &c->algo, &c->ws_bytes, &m);
		if (rc && trunk_dnn_check(ctx,
					  cudnnGetConvolutionBackwardDataAlgorithm_v7(b->dnn, c->w, c->y, c->cd, c->x,
										      NA, &n, perf),
					  "cudnnGetConvolutionBackwardDataAlgorithm_v7") == 0)
			rc = pick(perf, n, b->tf32, &c->algo, &c->ws_bytes, &m);
	} else {
		cudnnConvolutionBwdFilterAlgoPerf_t perf[NA];
		if (cudnnFindConvolutionBackwardFilterAlgorithm(b->dnn, c->x, c->y, c->cd, c->w, NA, &n, perf) ==
		    CUDNN_STATUS_SUCCESS)
			rc = pick(perf, n, b->tf32, &c->algo, &c->ws_bytes, &m);
		if (rc && trunk_dnn_check(ctx,
					  cudnnGetConvolutionBackwardFilterAlgorithm_v7(b->dnn, c->x, c->y, c->cd, c->w,
											NA, &n, perf),
					  "cudnnGetConvolutionBackwardFilterAlgorithm_v7") == 0)
			rc = pick(perf, n, b->tf32, &c->algo, &c->ws_bytes, &m);
	}
	// cudnnFind* allocates trial buffers itself; a failed cudaMalloc there must not be reported by the next
	// kernel launch check of an unrelated op.
	(void)cudaGetLastError();
	if (rc)
		return trunk_fail(ctx, "cuDNN: no usable %s algorithm for this shape%s",
				  c->kind == K_FWD        ? "forward"
				  : c->kind == K_BWD_DATA ? "backward-data"
							  : "backward-filter",
				  b->tf32 ? "" : " in FP32 (AVSL_TF32=1 allows TF32)");
	// Run with the math type the algorithm was timed with; FP32-only contexts never get a tensor-op type here.
	return trunk_dnn_check(ctx, cudnnSetConvolutionMathType(c->cd, b->tf32 ? m : CUDNN_FMA_MATH),
			       "cudnnSetConvolutionMathType");
}

// The cached setup of (kind, s), created on first use; NULL with ctx->err.
static trunk_conv *conv_lookup(op_ctx *ctx, int kind, const conv_shape *s)
{
	trunk_backend *b = trunk_of(ctx);
	for (trunk_conv *c = b->convs; c; c = c->next)
		if (c->kind == kind && !memcmp(&c->s, s, sizeof *s))
			return c;
	if (s->N < 1 || s->C < 1 || s->K < 1 || s->H < 1 || s->W < 1 || s->R < 1 || s->S < 1 || s->stride < 1 ||
	    s->pad < 0 || s->P < 1 || s->Q < 1) {
		trunk_fail(ctx, "conv2d: invalid shape N=%d C=%d H=%d W=%d K=%d R=%d S=%d stride=%d pad=%d", s->N, s->C,
			   s->H, s->W, s->K, s->R, s->S, s->stride, s->pad);
		return NULL;
	}
	trunk_conv *c = (trunk_conv *)calloc(1, sizeof *c);
	if (!c) {
		trunk_fail(ctx, "CUDA: out of host memory");
		return NULL;
	}
	c->kind = kind;
	c->s = *s;
	int n = 0, k = 0, p = 0, q = 0;
	if (trunk_dnn_check(ctx, cudnnCreateTensorDescriptor(&c->x), "cudnnCreateTensorDescriptor") ||
	    trunk_dnn_check(ctx, cudnnCreateTensorDescriptor(&c->y), "cudnnCreateTensorDescriptor") ||
	    trunk_dnn_check(ctx, cudnnCreateFilterDescriptor(&c->w), "cudnnCreateFilterDescriptor") ||
	    trunk_dnn_check(ctx, cudnnCreateConvolutionDescriptor(&c->cd), "cudnnCreateConvolutionDescriptor") ||
	    trunk_dnn_check(
		    ctx, cudnnSetTensor4dDescriptor(c->x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, s->N, s->C, s->H, s->W),
		    "cudnnSetTensor4dDescriptor(x)") ||
	    trunk_dnn_check(
		    ctx, cudnnSetTensor4dDescriptor(c->y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, s->N, s->K, s->P, s->Q),
		    "cudnnSetTensor4dDescriptor(y)") ||
	    trunk_dnn_check(
		    ctx, cudnnSetFilter4dDescriptor(c->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, s->K, s->C, s->R, s->S),
		    "cudnnSetFilter4dDescriptor") ||
	    trunk_dnn_check(ctx,
			    cudnnSetConvolution2dDescriptor(c->cd, s->pad, s->pad, s->stride, s->stride, 1, 1,
							    CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
			    "cudnnSetConvolution2dDescriptor") ||
	    trunk_dnn_check(ctx, cudnnSetConvolutionMathType(c->cd, b->tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH),
			    "cudnnSetConvolutionMathType") ||
	    trunk_dnn_check(ctx, cudnnGetConvolution2dForwardOutputDim(c->cd, c->x, c->w, &n, &k, &p, &q),
			    "cudnnGetConvolution2dForwardOutputDim"))
		goto fail;
	if (n != s->N || k != s->K || p != s->P || q != s->Q) {
		trunk_fail(ctx, "conv2d: output %dx%d in the shape, cuDNN computes %dx%d", s->P, s->Q, p, q);
		goto fail;
	}
	if (choose_algo(ctx, c))
		goto fail;
	c->next = b->convs;
	b->convs = c;
	return c;
fail:
	conv_free(c);
	return NULL;
}

namespace {

// y (N,K,PQ) = act(y + bias[k]); bias may be NULL.
template <typename I> __global__ void bias_act_kernel(float *y, const float *bias, int K, I PQ, I nel, int relu)
{
	for (I i = (I)blockIdx.x * blockDim.x + threadIdx.x; i < nel; i += (I)gridDim.x * blockDim.x) {
		float v = y[i];
		if (bias)
			v += bias[(i / PQ) % (I)K];
		y[i] = relu ? (v > 0 ? v : 0) : v;
	}
}

} // namespace

extern "C" int cuda_conv2d_fwd(op_ctx *ctx, const conv_shape *s, const float *x, const float *w, const float *bias,
			       float *y, int flags)
{
	if (trunk_needs_plain(ctx, "conv2d_fwd", s->xfmt, s->yfmt))
		return -1;
	trunk_backend *b = trunk_of(ctx);
	trunk_conv *c = conv_lookup(ctx, K_FWD, s);
	if (!c)
		return -1;
	void *ws = trunk_workspace(ctx, c->ws_bytes);
	if (!ws && c->ws_bytes)
		return -1;
	const float one = 1.0f, beta = (flags & OP_ACCUM) ? 1.0f : 0.0f;
	if (trunk_dnn_check(ctx,
			    cudnnConvolutionForward(b->dnn, &one, c->x, x, c->w, w, c->cd,
						    (cudnnConvolutionFwdAlgo_t)c->algo, ws, c->ws_bytes, &beta, c->y,
						    y),
			    "cudnnConvolutionForward"))
		return -1;
	if (bias || (flags & OP_RELU)) {
		const int64_t PQ = (int64_t)s->P * s->Q, nel = (int64_t)s->N * s->K * PQ;
		const unsigned g = trunk_grid(b, nel, 256);
		const int relu = (flags & OP_RELU) != 0;
		if (trunk_small(nel))
			bias_act_kernel<uint32_t>
				<<<g, 256, 0, b->stream>>>(y, bias, s->K, (uint32_t)PQ, (uint32_t)nel, relu);
		else
			bias_act_kernel<int64_t><<<g, 256, 0, b->stream>>>(y, bias, s->K, PQ, nel, relu);
		return trunk_launched(ctx, "conv2d_fwd: bias/relu kernel");
	}
	return 0;
}

extern "C" int cuda_conv2d_bwd_data(op_ctx *ctx, const conv_shape *s, const float *dy, const float *w, float *dx,
				    int flags)
{
	if (trunk_needs_plain(ctx, "conv2d_bwd_data", s->xfmt, s->yfmt))
		return -1;
	trunk_backend *b = trunk_of(ctx);
	trunk_conv *c = conv_lookup(ctx, K_BWD_DATA, s);
	if (!c)
		return -1;
	void *ws = trunk_workspace(ctx, c->ws_bytes);
	if (!ws && c->ws_bytes)
		return -1;
	const float one = 1.0f, beta = (flags & OP_ACCUM) ? 1.0f : 0.0f;
	return trunk_dnn_check(ctx,
			       cudnnConvolutionBackwardData(b->dnn, &one, c->w, w, c->y, dy, c->cd,
							    (cudnnConvolutionBwdDataAlgo_t)c->algo, ws, c->ws_bytes,
							    &beta, c->x, dx),
			       "cudnnConvolutionBackwardData");
}

extern "C" int cuda_conv2d_bwd_weight(op_ctx *ctx, const conv_shape *s, const float *x, const float *dy, float *dw,
				      int flags)
{
	if (trunk_needs_plain(ctx, "conv2d_bwd_weight", s->xfmt, s->yfmt))
		return -1;
	trunk_backend *b = trunk_of(ctx);
	trunk_conv *c = conv_lookup(ctx, K_BWD_WEIGHT, s);
	if (!c)
		return -1;
	void *ws = trunk_workspace(ctx, c->ws_bytes);
	if (!ws && c->ws_bytes)
		return -1;
	const float one = 1.0f, beta = (flags & OP_ACCUM) ? 1.0f : 0.0f;
	return trunk_dnn_check(ctx,
			       cudnnConvolutionBackwardFilter(b->dnn, &one, c->x, x, c->y, dy, c->cd,
							      (cudnnConvolutionBwdFilterAlgo_t)c->algo, ws, c->ws_bytes,
							      &beta, c->w, dw),
			       "cudnnConvolutionBackwardFilter");
}
