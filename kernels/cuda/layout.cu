// layout.cu: CUDA twins of op_layout_convert and op_conv_fold_weights (kernels/ops.h).
//
// Layouts: OP_NCHW plain (n, c, hw); OP_NCHW8C channels blocked by 8: element (n, c, hw) at
// ((n * CB + c / 8) * HW + hw) * 8 + c % 8 with CB = ceil(C / 8), padding channels zero. One thread per element of
// the destination (padding included, so padding is written as zeros as every op must keep it).
#include "cuda_internal.cuh"

__device__ static inline int64_t plain_index(int64_t n, int64_t c, int64_t p, int C, int64_t HW)
{
	return (n * C + c) * HW + p;
}

__device__ static inline int64_t blocked_index(int64_t n, int64_t c, int64_t p, int CB, int64_t HW)
{
	return ((n * CB + c / 8) * HW + p) * 8 + c % 8;
}

// dst element i in dst_fmt; read the same (n, c, hw) of src in src_fmt; channels >= C (padding) are zero.
__global__ static void layout_kernel(int64_t total, int C, int CB, int64_t HW, const float *src, int src_fmt,
				     float *dst, int dst_fmt, int accum)
{
	for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
	     i += (int64_t)gridDim.x * blockDim.x) {
		int64_t n, c, p;
		if (dst_fmt == OP_NCHW8C) {
			int64_t lane = i % 8, rest = i / 8;
			p = rest % HW;
			rest /= HW;
			int64_t cb = rest % CB;
			n = rest / CB;
			c = cb * 8 + lane;
		} else {
			p = i % HW;
			int64_t rest = i / HW;
			c = rest % C;
			n = rest / C;
		}
		float v = 0.0f;
		if (c < C)
			v = src[src_fmt == OP_NCHW8C ? blocked_index(n, c, p, CB, HW) : plain_index(n, c, p, C, HW)];
		dst[i] = accum && c < C ? dst[i] + v : v;
	}
}

extern "C" int cuda_layout_convert(op_ctx *ctx, int N, int C, int HW, const float *src, int src_fmt, float *dst,
				   int dst_fmt, int flags)
{
	trunk_backend *b = trunk_of(ctx);
	if ((src_fmt != OP_NCHW && src_fmt != OP_NCHW8C) || (dst_fmt != OP_NCHW && dst_fmt != OP_NCHW8C))
		return trunk_fail(ctx, "layout_convert: unknown layout %d -> %d", src_fmt, dst_fmt);
	int CB = (C + 7) / 8;
	int64_t total = (int64_t)N * (dst_fmt == OP_NCHW8C ? (int64_t)CB * 8 : C) * HW;
	if (total == 0)
		return 0;
	layout_kernel<<<trunk_grid(b, total, 256), 256, 0, b->stream>>>(total, C, CB, HW, src, src_fmt, dst, dst_fmt,
									 (flags & OP_ACCUM) != 0);
	return trunk_launched(ctx, "layout_convert");
}

__global__ static void fold_kernel(int64_t total, int64_t CRS, const float *w, const float *scale, float *w_out)
{
	for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
	     i += (int64_t)gridDim.x * blockDim.x)
		w_out[i] = w[i] * scale[i / CRS];
}

extern "C" int cuda_conv_fold_weights(op_ctx *ctx, int K, size_t CRS, const float *w, const float *scale,
				      float *w_out)
{
	trunk_backend *b = trunk_of(ctx);
	int64_t total = (int64_t)K * (int64_t)CRS;
	if (total == 0)
		return 0;
	fold_kernel<<<trunk_grid(b, total, 256), 256, 0, b->stream>>>(total, (int64_t)CRS, w, scale, w_out);
	return trunk_launched(ctx, "conv_fold_weights");
}
