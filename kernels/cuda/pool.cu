// pool.cu: max-pooling (windowed, global) and average pooling (global, adaptive), forward and backward
// (twin of kernels/cpu/pool.c, same argmax conventions).
//
// Windowed max-pool backward scatters with atomicAdd (windows overlap when stride < R), so the order of the few
// additions into one input element is not fixed: results may differ from the CPU in the last bit. Every other op
// here is deterministic; the adaptive average backward gathers in the CPU's order.
#include <float.h>

#include "cuda_internal.cuh"

namespace {

// One thread per output. The window is clamped to the image (padding never wins); the winner is the first maximum
// in row-major order, a NaN wins (the last NaN, as the CPU and PyTorch), an empty window gives -FLT_MAX at the
// clamped corner.
__global__ void maxpool_fwd_kernel(const float *x, int H, int W, int P, int Q, int R, int S, int stride, int pad,
				   int64_t nout, float *y, int32_t *idx)
{
	for (int64_t o = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; o < nout;
	     o += (int64_t)gridDim.x * blockDim.x) {
		const int64_t pl = o / ((int64_t)P * Q);
		const int pq = (int)(o - pl * P * Q), p = pq / Q, q = pq - p * Q;
		int h0 = p * stride - pad, h1 = h0 + R, w0 = q * stride - pad, w1 = w0 + S;
		h0 = h0 < 0 ? 0 : h0;
		h1 = h1 > H ? H : h1;
		w0 = w0 < 0 ? 0 : w0;
		w1 = w1 > W ? W : w1;
		const float *xp = x + pl * H * W;
		float m = -FLT_MAX;
		int mi = h0 * W + w0;
		for (int h = h0; h < h1; h++)
			for (int w = w0; w < w1; w++) {
				const float v = xp[h * W + w];
				if (v > m || v != v) {
					m = v;
					mi = h * W + w;
				}
			}
		y[o] = m;
		idx[o] = mi;
	}
}

__global__ void maxpool_bwd_kernel(const float *dy, const int32_t *idx, int64_t HW, int64_t PQ, int64_t nout, float *dx)
{
	for (int64_t o = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; o < nout; o += (int64_t)gridDim.x * blockDim.x)
		atomicAdd(dx + (o / PQ) * HW + idx[o], dy[o]);
}

// One warp per plane.
__global__ void gavgpool_fwd_kernel(const float *x, int64_t planes, int HW, float inv, float *y)
{
	const int lane = threadIdx.x & 31;
	const int64_t warps = (int64_t)gridDim.x * (blockDim.x >> 5);
	for (int64_t pl = (int64_t)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5); pl < planes; pl += warps) {
		const float *p = x + pl * HW;
		float acc = 0;
		for (int i = lane; i < HW; i += 32)
			acc += p[i];
		acc = trunk_warp_sum(acc);
		if (lane == 0)
			y[pl] = acc * inv;
	}
}

__global__ void gavgpool_bwd_kernel(const float *dy, int HW, float inv, int64_t nel, float *dx, int accum)
{
	for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < nel;
	     i += (int64_t)gridDim.x * blockDim.x) {
		const float g = dy[i / HW] * inv;
		dx[i] = accum ? dx[i] + g : g;
	}
}

// One warp per plane. Same result as the CPU's sequential scan "m = p[0]; if (p[i] > m) take": a NaN at p[0]
// stays (index 0), any later NaN is never taken, ties go to the lowest index.
__global__ void gmaxpool_fwd_kernel(const float *x, int64_t planes, int HW, float *y, int32_t *idx)
{
	const int lane = threadIdx.x & 31;
	const int64_t warps = (int64_t)gridDim.x * (blockDim.x >> 5);
	for (int64_t pl = (int64_t)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5); pl < planes; pl += warps) {
		const float *p = x + pl * HW;
		float m = -INFINITY;
		int mi = INT32_MAX;
		for (int i = lane; i < HW; i += 32) {
			const float v = p[i];
			if (v > m || (v == m && i < mi)) {
				m = v;
				mi = i;
			}
		}
		for (int o = 16; o > 0; o >>= 1) {
			const float v = __shfl_xor_sync(0xffffffffu, m, o);
			const int i = __shfl_xor_sync(0xffffffffu, mi, o);
			if (v > m || (v == m && i < mi)) {
				m = v;
				mi = i;
			}
		}
		if (lane == 0) {
			const float p0 = p[0];
			if (p0 != p0 || mi == INT32_MAX) { // NaN first element, or nothing but NaN after it
				m = p0;
				mi = 0;
			}
			y[pl] = m;
			idx[pl] = mi;
		}
	}
}

__global__ void gmaxpool_bwd_kernel(const float *dy, const int32_t *idx, int HW, int64_t nel, float *dx, int accum)
{
	for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < nel;
	     i += (int64_t)gridDim.x * blockDim.x) {
		const int64_t pl = i / HW;
		const float g = (int)(i - pl * HW) == idx[pl] ? dy[pl] : 0.0f;
		dx[i] = accum ? dx[i] + g : g;
	}
}

// torch adaptive pooling window of output i: [floor(i*L/O), ceil((i+1)*L/O))
__device__ __forceinline__ int ad_lo(int i, int L, int O) { return (int)(((long long)i * L) / O); }
__device__ __forceinline__ int ad_hi(int i, int L, int O) { return (int)(((long long)(i + 1) * L + O - 1) / O); }

__global__ void adavgpool_fwd_kernel(const float *x, int H, int W, int P, int Q, int64_t nout, float *y)
{
	for (int64_t o = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; o < nout;
	     o += (int64_t)gridDim.x * blockDim.x) {
		const int64_t pl = o / ((int64_t)P * Q);
		const int pq = (int)(o - pl * P * Q), p = pq / Q, q = pq - p * Q;
		const int h0 = ad_lo(p, H, P), h1 = ad_hi(p, H, P), w0 = ad_lo(q, W, Q), w1 = ad_hi(q, W, Q);
		const float *xp = x + pl * H * W;
		float acc = 0;
		for (int h = h0; h < h1; h++)
			for (int w = w0; w < w1; w++)
				acc += xp[h * W + w];
		y[o] = acc / (float)((h1 - h0) * (w1 - w0));
	}
}

// One thread per input element: gathers the outputs whose window holds it, in the CPU's (p, q) order. Output p
// holds row h iff ad_lo(p) <= h < ad_hi(p), which only p in [floor(h*P/H) - 1, floor((h+1)*P/H)] can satisfy.
__global__ void adavgpool_bwd_kernel(const float *dy, int H, int W, int P, int Q, int64_t nel, float *dx, int accum)
{
	for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < nel;
	     i += (int64_t)gridDim.x * blockDim.x) {
		const int64_t pl = i / ((int64_t)H * W);
		const int hw = (int)(i - pl * H * W), h = hw / W, w = hw - h * W;
		int p0 = (int)(((long long)h * P) / H) - 1, p1 = (int)(((long long)(h + 1) * P) / H);
		int q0 = (int)(((long long)w * Q) / W) - 1, q1 = (int)(((long long)(w + 1) * Q) / W);
		p0 = p0 < 0 ? 0 : p0;
		q0 = q0 < 0 ? 0 : q0;
		p1 = p1 > P - 1 ? P - 1 : p1;
		q1 = q1 > Q - 1 ? Q - 1 : q1;
		const float *g = dy + pl * P * Q;
		float acc = accum ? dx[i] : 0.0f;
		for (int p = p0; p <= p1; p++) {
			const int h0 = ad_lo(p, H, P), h1 = ad_hi(p, H, P);
			if (h < h0 || h >= h1)
				continue;
			for (int q = q0; q <= q1; q++) {
				const int w0 = ad_lo(q, W, Q), w1 = ad_hi(q, W, Q);
				if (w < w0 || w >= w1)
					continue;
				acc += g[p * Q + q] / (float)((h1 - h0) * (w1 - w0));
			}
		}
		dx[i] = acc;
	}
}

int check_pool(op_ctx *ctx, const pool_shape *s, const char *op)
{
	if (s->N < 0 || s->C < 0 || s->H < 1 || s->W < 1 || s->P < 1 || s->Q < 1)
		return trunk_fail(ctx, "%s: invalid shape N=%d C=%d H=%d W=%d P=%d Q=%d", op, s->N, s->C, s->H, s->W,
				  s->P, s->Q);
	return 0;
}

} // namespace

extern "C" int cuda_maxpool_fwd(op_ctx *ctx, const pool_shape *s, const float *x, float *y, int32_t *idx)
{
	if (trunk_needs_plain(ctx, "maxpool_fwd", s->fmt, OP_NCHW))
		return -1;
	trunk_backend *b = trunk_of(ctx);
	if (check_pool(ctx, s, "maxpool_fwd"))
		return -1;
	if (s->R < 1 || s->S < 1 || s->stride < 1 || s->pad < 0)
		return trunk_fail(ctx, "maxpool_fwd: invalid window R=%d S=%d stride=%d pad=%d", s->R, s->S, s->stride,
				  s->pad);
	const int64_t nout = (int64_t)s->N * s->C * s->P * s->Q;
	if (nout == 0)
		return 0;
	maxpool_fwd_kernel<<<trunk_grid(b, nout, 256), 256, 0, b->stream>>>(x, s->H, s->W, s->P, s->Q, s->R, s->S,
									    s->stride, s->pad, nout, y, idx);
	return trunk_launched(ctx, "maxpool_fwd");
}

extern "C" int cuda_maxpool_bwd(op_ctx *ctx, const pool_shape *s, const float *dy, const int32_t *idx, float *dx,
				int flags)
{
	if (trunk_needs_plain(ctx, "maxpool_bwd", s->fmt, OP_NCHW))
		return -1;
	trunk_backend *b = trunk_of(ctx);
	if (check_pool(ctx, s, "maxpool_bwd"))
		return -1;
	const int64_t HW = (int64_t)s->H * s->W, PQ = (int64_t)s->P * s->Q, planes = (int64_t)s->N * s->C;
	if (planes == 0)
		return 0;
	if (!(flags & OP_ACCUM) &&
	    trunk_cuda_check(ctx, cudaMemsetAsync(dx, 0, (size_t)(planes * HW) * sizeof *dx, b->stream),
			     "maxpool_bwd: cudaMemsetAsync"))
		return -1;
	maxpool_bwd_kernel<<<trunk_grid(b, planes * PQ, 256), 256, 0, b->stream>>>(dy, idx, HW, PQ, planes * PQ, dx);
	return trunk_launched(ctx, "maxpool_bwd");
}

extern "C" int cuda_gavgpool_fwd(op_ctx *ctx, int N, int C, int HW, const float *x, float *y)
{
	trunk_backend *b = trunk_of(ctx);
	const int64_t planes = (int64_t)N * C;
	if (N < 0 || C < 0 || HW < 1)
		return trunk_fail(ctx, "gavgpool_fwd: invalid shape N=%d C=%d HW=%d", N, C, HW);
	if (planes == 0)
		return 0;
	gavgpool_fwd_kernel<<<trunk_grid(b, planes, 8), 256, 0, b->stream>>>(x, planes, HW, 1.0f / HW, y);
	return trunk_launched(ctx, "gavgpool_fwd");
}

extern "C" int cuda_gavgpool_bwd(op_ctx *ctx, int N, int C, int HW, const float *dy, float *dx, int flags)
{
	trunk_backend *b = trunk_of(ctx);
	const int64_t nel = (int64_t)N * C * HW;
	if (N < 0 || C < 0 || HW < 1)
		return trunk_fail(ctx, "gavgpool_bwd: invalid shape N=%d C=%d HW=%d", N, C, HW);
	if (nel == 0)
		return 0;
	gavgpool_bwd_kernel<<<trunk_grid(b, nel, 256), 256, 0, b->stream>>>(dy, HW, 1.0f / HW, nel, dx,
									    (flags & OP_ACCUM) != 0);
	return trunk_launched(ctx, "gavgpool_bwd");
}

extern "C" int cuda_gmaxpool_fwd(op_ctx *ctx, int N, int C, int HW, const float *x, float *y, int32_t *idx)
{
	trunk_backend *b = trunk_of(ctx);
	const int64_t planes = (int64_t)N * C;
	if (N < 0 || C < 0 || HW < 1)
		return trunk_fail(ctx, "gmaxpool_fwd: invalid shape N=%d C=%d HW=%d", N, C, HW);
	if (planes == 0)
		return 0;
	gmaxpool_fwd_kernel<<<trunk_grid(b, planes, 8), 256, 0, b->stream>>>(x, planes, HW, y, idx);
	return trunk_launched(ctx, "gmaxpool_fwd");
}

extern "C" int cuda_gmaxpool_bwd(op_ctx *ctx, int N, int C, int HW, const float *dy, const int32_t *idx, float *dx,
				 int flags)
{
	trunk_backend *b = trunk_of(ctx);
	const int64_t nel = (int64_t)N * C * HW;
	if (N < 0 || C < 0 || HW < 1)
		return trunk_fail(ctx, "gmaxpool_bwd: invalid shape N=%d C=%d HW=%d", N, C, HW);
	if (nel == 0)
		return 0;
	gmaxpool_bwd_kernel<<<trunk_grid(b, nel, 256), 256, 0, b->stream>>>(dy, idx, HW, nel, dx,
									    (flags & OP_ACCUM) != 0);
	return trunk_launched(ctx, "gmaxpool_bwd");
}

extern "C" int cuda_adavgpool_fwd(op_ctx *ctx, const pool_shape *s, const float *x, float *y)
{
	if (trunk_needs_plain(ctx, "adavgpool_fwd", s->fmt, OP_NCHW))
		return -1;
	trunk_backend *b = trunk_of(ctx);
	if (check_pool(ctx, s, "adavgpool_fwd"))
		return -1;
	const int64_t nout = (int64_t)s->N * s->C * s->P * s->Q;
	if (nout == 0)
		return 0;
	adavgpool_fwd_kernel<<<trunk_grid(b, nout, 256), 256, 0, b->stream>>>(x, s->H, s->W, s->P, s->Q, nout, y);
	return trunk_launched(ctx, "adavgpool_fwd");
}

extern "C" int cuda_adavgpool_bwd(op_ctx *ctx, const pool_shape *s, const float *dy, float *dx, int flags)
{
	if (trunk_needs_plain(ctx, "adavgpool_bwd", s->fmt, OP_NCHW))
		return -1;
	trunk_backend *b = trunk_of(ctx);
	if (check_pool(ctx, s, "adavgpool_bwd"))
		return -1;
	const int64_t nel = (int64_t)s->N * s->C * s->H * s->W;
	if (nel == 0)
		return 0;
	adavgpool_bwd_kernel<<<trunk_grid(b, nel, 256), 256, 0, b->stream>>>(dy, s->H, s->W, s->P, s->Q, nel, dx,
									     (flags & OP_ACCUM) != 0);
	return trunk_launched(ctx, "adavgpool_bwd");
}
