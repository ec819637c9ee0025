// avsl_embed.cu: CUDA twins of kernels/cpu/avsl_embed.c (op contract kernels/ops.h, method §2): the embedder's
// pooling forward/backward, class-activation maps, certainties, batch links and the backward of row normalisation.
//
// Every reduction here runs over one short axis (a map's HW positions, a row's D values) and is given to one warp:
// lane l takes positions l, l + 32, ... in order and the warp adds its 32 partial sums by a butterfly, so the result
// depends only on the warp width, never on the grid or block size (the contract's determinism), and every lane ends
// with the same value. The sums the contract wants in double (pool means, norms, certainty moments) are double in
// the lanes and in the butterfly. The two matrix products (CAM: W x F per image; link: Lo x Hi^T over the batch) go
// to cuBLAS, which is deterministic for a given device and math mode.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <limits.h>
#include <math.h>

#include "common.cuh"
#include "cuda_internal.cuh"

// Workspace bound of op_avsl_cam_fwd's boosted copy of F: larger batches run in chunks of images. Under the emulator
// a few KiB, so that the tests' small batches run in several chunks.
#ifdef AVSL_CUDA_EMU
static const size_t CAM_WS_BYTES = (size_t)2 << 10;
#else
static const size_t CAM_WS_BYTES = (size_t)64 << 20;
#endif

namespace {

enum { WARPS = 8, THREADS = WARPS * 32 }; // one warp per row/map, 8 per block

// Global warp index and warp count of a grid-stride loop over warps.
__device__ __forceinline__ int64_t warp_id(void) { return (int64_t)blockIdx.x * WARPS + (threadIdx.x >> 5); }
__device__ __forceinline__ int64_t warp_count(void) { return (int64_t)gridDim.x * WARPS; }

// g[bk] = mean_j F[bk, j] (double) + max_j F[bk, j]; argmax[bk] = the first maximum. One warp per (b, k) row: each
// lane keeps its first maximum, the butterfly keeps the larger value and on a tie the smaller index, so the winner
// is the first maximum in row-major order whatever the lane split. NaN never wins a comparison, as in the CPU's
// strict `>` scan that starts from F[bk, 0]: only a NaN at position 0 is kept (then g is NaN and argmax 0).
__global__ void pool_fwd_kernel(const float *__restrict__ F, int64_t rows, int HW, float *__restrict__ g,
				int32_t *__restrict__ argmax)
{
	const int lane = threadIdx.x & 31;
	for (int64_t row = warp_id(); row < rows; row += warp_count()) {
		const float *f = F + row * HW;
		double s = 0;
		float mx = -INFINITY;
		int am = INT_MAX;
		for (int j = lane; j < HW; j += 32) {
			const float v = f[j];
			s += v;
			if (v > mx || (v == mx && j < am)) {
				mx = v;
				am = j;
			}
		}
		for (int o = 16; o > 0; o >>= 1) {
			const float ov = __shfl_xor_sync(0xffffffffu, mx, o);
			const int oa = __shfl_xor_sync(0xffffffffu, am, o);
			if (ov > mx || (ov == mx && oa < am)) {
				mx = ov;
				am = oa;
			}
		}
		s = avsl_warp_sum_d(s);
		if (f[0] != f[0]) { // NaN first: the CPU's scan never leaves it
			mx = f[0];
			am = 0;
		}
		if (lane == 0) {
			g[row] = (float)(s / HW) + mx;
			argmax[row] = am;
		}
	}
}

// dF[bk, j] = dg[bk] / HW, plus dg[bk] at the arg-max: element-wise, one thread per element of dF (coalesced writes).
__global__ void pool_bwd_kernel(const float *__restrict__ dg, const int32_t *__restrict__ argmax, int64_t nel, int HW,
				float *__restrict__ dF)
{
	for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < nel; i += (int64_t)gridDim.x * blockDim.x) {
		const int64_t bk = i / HW;
		const float a = dg[bk] / HW;
		dF[i] = (int)(i - bk * HW) == argmax[bk] ? a + dg[bk] : a;
	}
}

// Fm (nb, C, HW) = F with the linearised max folded in: F[b,k,j] (1 + HW) at j = argmax[b,k] (the CAM's
// F + HW F [j == argmax], written as the naive reference writes it), so one GEMM gives the whole map. Element-wise.
__global__ void cam_boost_kernel(const float *__restrict__ F, const int32_t *__restrict__ argmax, int64_t nel, int HW,
				 float *__restrict__ Fm)
{
	for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < nel; i += (int64_t)gridDim.x * blockDim.x) {
		const int64_t bk = i / HW;
		float f = F[i];
		if ((int)(i - bk * HW) == argmax[bk])
			f += (float)HW * f;
		Fm[i] = f;
	}
}

// A (nb, D, HW) = bias[c] broadcast: the GEMM then adds W x Fm into it (beta = 1), as the CPU does.
__global__ void cam_bias_kernel(const float *__restrict__ bias, int64_t nel, int D, int HW, float *__restrict__ A)
{
	for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < nel; i += (int64_t)gridDim.x * blockDim.x)
		A[i] = bias[(i / HW) % D];
}

// The minimum of row h of a (H, W) map over the width, as the CPU scans it (a NaN first stays).
__device__ __forceinline__ float row_min(const float *r, int W)
{
	float mn = r[0];
	for (int w = 1; w < W; w++)
		mn = r[w] < mn ? r[w] : mn;
	return mn;
}

// u[bc] = unbiased std of the L1-normalised, row-min-shifted map A[bc] (H, W). One warp per map; lanes take
// positions (not rows), so the warp is full even for 7-wide maps, and each lane recomputes the minimum of its
// position's row (W loads, from cache) instead of staging the map: three passes (L1 norm, mean, squared
// deviations), each summed in double.
__global__ void certainty_kernel(const float *__restrict__ A, int64_t maps, int H, int W, float *__restrict__ u)
{
	const int lane = threadIdx.x & 31, HW = H * W;
	for (int64_t bc = warp_id(); bc < maps; bc += warp_count()) {
		const float *a = A + bc * HW;
		double l1 = 0;
		for (int j = lane; j < HW; j += 32)
			l1 += fabsf(a[j] - row_min(a + j / W * W, W));
		l1 = avsl_warp_sum_d(l1);
		const double den = l1 > 1e-12 ? l1 : 1e-12;
		double mean = 0;
		for (int j = lane; j < HW; j += 32)
			mean += (a[j] - row_min(a + j / W * W, W)) / den;
		mean = avsl_warp_sum_d(mean) / HW;
		double ss = 0;
		for (int j = lane; j < HW; j += 32) {
			const double d = (a[j] - row_min(a + j / W * W, W)) / den - mean;
			ss += d * d;
		}
		ss = avsl_warp_sum_d(ss);
		if (lane == 0)
			u[bc] = HW > 1 ? (float)sqrt(ss / (HW - 1)) : 0.0f;
	}
}

// For every (b, c): Lo = adaptive average of lo[b, c] (Hl, Wl) over the (Hh, Wh) cells (PyTorch's bounds, double
// sums), Hi = hi[b, c]; each L2-normalised over its M = Hh Wh values (double sum of squares, float divide, as the
// CPU). Written in (D, N, M) order, so that Lo and Hi are (D, N M) matrices and the link is one GEMM over N M. One
// warp per (b, c); a lane rescales exactly the values it wrote, so no barrier is needed.
__global__ void link_norm_kernel(const float *__restrict__ lo, int Hl, int Wl, const float *__restrict__ hi, int Hh,
				 int Wh, int N, int D, float *__restrict__ Lo, float *__restrict__ Hi)
{
	const int lane = threadIdx.x & 31, M = Hh * Wh;
	for (int64_t bc = warp_id(); bc < (int64_t)N * D; bc += warp_count()) {
		const int64_t b = bc / D, c = bc - b * D;
		const float *src = lo + bc * Hl * Wl, *hs = hi + bc * M;
		float *lo_out = Lo + (c * N + b) * M, *hi_out = Hi + (c * N + b) * M;
		double sl = 0, sh = 0;
		for (int j = lane; j < M; j += 32) {
			const int p = j / Wh, q = j - p * Wh;
			const int h0 = p * Hl / Hh, h1 = ((p + 1) * Hl + Hh - 1) / Hh;
			const int w0 = q * Wl / Wh, w1 = ((q + 1) * Wl + Wh - 1) / Wh;
			double s = 0;
			for (int h = h0; h < h1; h++)
				for (int w = w0; w < w1; w++)
					s += src[h * Wl + w];
			const float vl = (float)(s / ((h1 - h0) * (w1 - w0))), vh = hs[j];
			lo_out[j] = vl;
			hi_out[j] = vh;
			sl += (double)vl * vl;
			sh += (double)vh * vh;
		}
		const float nl = fmaxf((float)sqrt(avsl_warp_sum_d(sl)), 1e-12f);
		const float nh = fmaxf((float)sqrt(avsl_warp_sum_d(sh)), 1e-12f);
		for (int j = lane; j < M; j += 32) {
			lo_out[j] /= nl;
			hi_out[j] /= nh;
		}
	}
}

// Backward of x / max(||x||_p, 1e-12) per row; one warp per row, norm and <g, x> summed in double. dx may alias x
// or dxh: a lane reads x[j], dxh[j] and then writes dx[j] at the same j, after the warp's sums are complete.
template <bool P2> __global__ void normalize_bwd_kernel(const float *x, const float *dxh, int64_t n, int D, float p,
							float *dx)
{
	const int lane = threadIdx.x & 31;
	for (int64_t row = warp_id(); row < n; row += warp_count()) {
		const float *xr = x + row * D, *g = dxh + row * D;
		float *o = dx + row * D;
		double s = 0, gx = 0;
		for (int j = lane; j < D; j += 32) {
			s += P2 ? (double)xr[j] * xr[j] : pow(fabs((double)xr[j]), (double)p);
			gx += (double)g[j] * xr[j];
		}
		s = avsl_warp_sum_d(s);
		gx = avsl_warp_sum_d(gx);
		const float nu = P2 ? (float)sqrt(s) : (float)pow(s, 1.0 / p); // the CPU's avsl_pnorm, rounded to float
		if (!(nu > 1e-12f)) { // clamped denominator: a constant
			for (int j = lane; j < D; j += 32)
				o[j] = g[j] / 1e-12f;
			continue;
		}
		const double inv = 1.0 / nu, nup = P2 ? 1.0 : pow((double)nu, p - 1.0);
		for (int j = lane; j < D; j += 32) {
			const double xj = xr[j], gj = g[j];
			if (P2) {
				o[j] = (float)(gj * inv - gx * inv * inv * inv * xj);
			} else {
				const double dn = (xj > 0 ? 1.0 : xj < 0 ? -1.0 : 0.0) * pow(fabs(xj), p - 1.0) / nup;
				o[j] = (float)(gj * inv - gx * inv * inv * dn);
			}
		}
	}
}

} // namespace

extern "C" int cuda_avsl_pool_fwd(op_ctx *ctx, const float *F, int N, int C, int HW, float *g, int32_t *argmax)
{
	if (N < 0 || C < 0 || HW < 1)
		return trunk_fail(ctx, "avsl_pool_fwd: invalid shape (N %d, C %d, HW %d)", N, C, HW);
	const int64_t rows = (int64_t)N * C;
	if (rows == 0)
		return 0;
	trunk_backend *b = trunk_of(ctx);
	pool_fwd_kernel<<<trunk_grid(b, rows, WARPS), THREADS, 0, b->stream>>>(F, rows, HW, g, argmax);
	return trunk_launched_at(ctx, "avsl_pool_fwd (N %d, C %d, HW %d)", N, C, HW);
}

extern "C" int cuda_avsl_pool_bwd(op_ctx *ctx, const float *dg, const int32_t *argmax, int N, int C, int HW, float *dF)
{
	if (N < 0 || C < 0 || HW < 1)
		return trunk_fail(ctx, "avsl_pool_bwd: invalid shape (N %d, C %d, HW %d)", N, C, HW);
	const int64_t nel = (int64_t)N * C * HW;
	if (nel == 0)
		return 0;
	trunk_backend *b = trunk_of(ctx);
	pool_bwd_kernel<<<trunk_grid(b, nel, 256), 256, 0, b->stream>>>(dg, argmax, nel, HW, dF);
	return trunk_launched_at(ctx, "avsl_pool_bwd (N %d, C %d, HW %d)", N, C, HW);
}

// Per chunk of nb images: boost F into the workspace, fill A with the bias, then one strided-batched GEMM
// A[b] (D, HW) += W (D, C) x Fm[b] (C, HW). Column-major view for cuBLAS: A[b]^T (HW, D) = Fm[b]^T (HW, C) x W^T.
extern "C" int cuda_avsl_cam_fwd(op_ctx *ctx, const float *F, const int32_t *argmax, const float *W,
				 const float *bias, int N, int C, int HW, int D, float *A)
{
	if (N < 0 || C < 1 || HW < 1 || D < 0)
		return trunk_fail(ctx, "avsl_cam_fwd: invalid shape (N %d, C %d, HW %d, D %d)", N, C, HW, D);
	if (N == 0 || D == 0)
		return 0;
	trunk_backend *b = trunk_of(ctx);
	const size_t per_image = (size_t)C * HW * sizeof(float);
	int nb = (int)(CAM_WS_BYTES / per_image);
	nb = nb < 1 ? 1 : nb > N ? N : nb;
	float *Fm = (float *)trunk_workspace(ctx, nb * per_image); // (nb, C, HW)
	if (!Fm)
		return -1;
	const float one = 1.0f;
	for (int b0 = 0; b0 < N; b0 += nb) {
		const int m = N - b0 < nb ? N - b0 : nb;
		const int64_t nf = (int64_t)m * C * HW, na = (int64_t)m * D * HW;
		float *Ab = A + (int64_t)b0 * D * HW;
		cam_boost_kernel<<<trunk_grid(b, nf, 256), 256, 0, b->stream>>>(F + (int64_t)b0 * C * HW,
										 argmax + (int64_t)b0 * C, nf, HW, Fm);
		cam_bias_kernel<<<trunk_grid(b, na, 256), 256, 0, b->stream>>>(bias, na, D, HW, Ab);
		if (trunk_launched_at(ctx, "avsl_cam_fwd (N %d, C %d, HW %d, D %d)", N, C, HW, D) ||
		    trunk_blas_at(ctx,
				  cublasSgemmStridedBatched(b->blas, CUBLAS_OP_N, CUBLAS_OP_N, HW, D, C, &one, Fm, HW,
							    (long long)C * HW, W, C, 0, &one, Ab, HW, (long long)D * HW,
							    m),
				  "avsl_cam_fwd: GEMM (N %d, C %d, HW %d, D %d)", N, C, HW, D))
			return -1;
	}
	return 0;
}

extern "C" int cuda_avsl_certainty(op_ctx *ctx, const float *A, int N, int D, int H, int W, float *u)
{
	if (N < 0 || D < 0 || H < 1 || W < 1)
		return trunk_fail(ctx, "avsl_certainty: invalid shape (N %d, D %d, H %d, W %d)", N, D, H, W);
	const int64_t maps = (int64_t)N * D;
	if (maps == 0)
		return 0;
	trunk_backend *b = trunk_of(ctx);
	certainty_kernel<<<trunk_grid(b, maps, WARPS), THREADS, 0, b->stream>>>(A, maps, H, W, u);
	return trunk_launched_at(ctx, "avsl_certainty (N %d, D %d, H %d, W %d)", N, D, H, W);
}

// Workspace: Lo, Hi (D, N, M) each. link (D, D) row-major = (1/N) Lo Hi^T; for column-major cuBLAS that is
// link^T = Hi Lo^T with both read transposed from their (N M)-long rows.
extern "C" int cuda_avsl_link_batch(op_ctx *ctx, const float *lo, int Hl, int Wl, const float *hi, int Hh, int Wh,
				    int N, int D, float *link)
{
	if (N < 1 || D < 1 || Hh < 1 || Wh < 1 || Hl < Hh || Wl < Wh)
		return trunk_fail(ctx, "avsl_link_batch: invalid shape (N %d, D %d, lo %dx%d, hi %dx%d)", N, D, Hl, Wl,
				  Hh, Wh);
	trunk_backend *b = trunk_of(ctx);
	const int64_t K = (int64_t)N * Hh * Wh;
	if (K > INT_MAX)
		return trunk_fail(ctx, "avsl_link_batch: N Hh Wh = %lld exceeds a GEMM dimension", (long long)K);
	float *Lo = (float *)trunk_workspace(ctx, (size_t)2 * D * K * sizeof(float)), *Hi = Lo + (size_t)D * K;
	if (!Lo)
		return -1;
	const int64_t rows = (int64_t)N * D;
	link_norm_kernel<<<trunk_grid(b, rows, WARPS), THREADS, 0, b->stream>>>(lo, Hl, Wl, hi, Hh, Wh, N, D, Lo, Hi);
	if (trunk_launched_at(ctx, "avsl_link_batch (N %d, D %d, lo %dx%d, hi %dx%d)", N, D, Hl, Wl, Hh, Wh))
		return -1;
	const float inv_n = 1.0f / N, zero = 0.0f;
	return trunk_blas_at(ctx,
			     cublasSgemm(b->blas, CUBLAS_OP_T, CUBLAS_OP_N, D, D, (int)K, &inv_n, Hi, (int)K, Lo, (int)K,
					 &zero, link, D),
			     "avsl_link_batch: GEMM (N %d, D %d, hi %dx%d)", N, D, Hh, Wh);
}

extern "C" int cuda_avsl_normalize_rows_bwd(op_ctx *ctx, const float *x, const float *dxh, int64_t n, int D, float p,
					    float *dx)
{
	if (n < 0 || D < 1 || !(p > 0))
		return trunk_fail(ctx, "avsl_normalize_rows_bwd: invalid arguments (n %lld, D %d, p %g)", (long long)n,
				  D, (double)p);
	if (n == 0)
		return 0;
	trunk_backend *b = trunk_of(ctx);
	const unsigned g = trunk_grid(b, n, WARPS);
	if (p == 2.0f)
		normalize_bwd_kernel<true><<<g, THREADS, 0, b->stream>>>(x, dxh, n, D, p, dx);
	else
		normalize_bwd_kernel<false><<<g, THREADS, 0, b->stream>>>(x, dxh, n, D, p, dx);
	return trunk_launched_at(ctx, "avsl_normalize_rows_bwd (n %lld, D %d)", (long long)n, D);
}
