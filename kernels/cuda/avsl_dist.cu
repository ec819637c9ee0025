// avsl_dist.cu: CUDA twins of kernels/cpu/avsl_dist.c (op contract kernels/ops.h, method §3.3): the AVSL distance
// tile and its gathered form (re-ranking), the per-level distance, link preparation, row p-normalisation.
//
// cuda_avsl_dist_tile walks the R*C pairs of a tile in chunks of P pairs (P from the context's workspace: two
// (P, D) float buffers, at most AVSL_DIST_WS_BYTES). Per chunk:
//   H (P, D) = |x0 - y0|^p                                   one warp per pair
//   for each transition t = 0 .. L-2:
//     T (P, D) = H (P, D) x S_hat_t (D, D)                  cuBLAS SGEMM (FP32; TF32 on request)
//     H = pi * |x_{t+1} - y_{t+1}|^p + (1 - pi) * T          in place, one warp per pair; the last level is summed
//                                                            over n straight into out[r, c] instead of stored
// The dense GEMM costs 2 D^2 flops per pair and transition (§10) but runs on tensor cores / SGEMM at a large
// fraction of peak, which beats a 128-term gather per output on current GPUs.
// cuda_avsl_dist_gather is the same code with column q read from row idx[q] of y and v (the pair kernel indexes
// through idx), so it is bit-identical to the tile on a gathered copy; its plan holds only the collector view (the
// dense S_hat needs no regrouping). cuda_avsl_level_dist_tile is the tile's first step alone (one warp per pair).
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdlib.h>

#include "common.cuh"
#include "cuda_internal.cuh"

// The distance's share of the context workspace: bounds memory for any R and C (a larger tile runs in chunks).
static const size_t AVSL_DIST_WS_BYTES = (size_t)256 << 20;

namespace {

enum { P_GENERAL = 0, P_ONE = 1, P_TWO = 2 };

template <int PM> __device__ __forceinline__ float absdiff_pow(float a, float b, float p)
{
	float d = a - b;
	if (PM == P_TWO)
		return d * d;
	if (PM == P_ONE)
		return fabsf(d);
	return powf(fabsf(d), p);
}

// One warp per pair q in [q0, q0 + P) of the tile; buffer row q - q0. Column c is row idx[c] of y and v (row c
// when idx is NULL).
//   BLEND = false: Delta = |x - y|^p;  BLEND = true: pi * Delta + (1 - pi) * T[row]
//   SUM = false: store into H[row];    SUM = true: out[r * ldo + c] = sum over n
// T and H may alias (each element is read and written by the same thread).
template <int PM, bool BLEND, bool SUM>
__global__ void pair_kernel(const float *__restrict__ x, const float *__restrict__ y, const float *__restrict__ u,
			    const float *__restrict__ v, const float *__restrict__ alpha,
			    const float *__restrict__ beta,
			    const int32_t *__restrict__ idx, float gamma, float p, int C, int D, int64_t q0, int64_t P,
			    const float *T, float *H, float *__restrict__ out, int64_t ldo)
{
	const int lane = threadIdx.x & 31;
	const int64_t warps = (int64_t)gridDim.x * (blockDim.x >> 5);
	for (int64_t w = (int64_t)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5); w < P; w += warps) {
		const int64_t q = q0 + w;
		const int64_t r = q / C, c = q % C, cy = idx ? idx[c] : c;
		const float *xr = x + r * D, *yc = y + cy * D;
		float acc = 0;
		for (int n = lane; n < D; n += 32) {
			float h = absdiff_pow<PM>(xr[n], yc[n], p);
			if (BLEND) {
				float z = gamma * (u[r * D + n] * v[cy * D + n] * alpha[n] + beta[n]);
				float pi = 1.0f / (1.0f + __expf(-z));
				h = pi * h + (1.0f - pi) * T[w * D + n];
			}
			if (SUM)
				acc += h;
			else
				H[w * D + n] = h;
		}
		if (SUM) {
			acc = avsl_warp_sum(acc);
			if (lane == 0)
				out[r * ldo + c] = acc;
		}
	}
}

struct level_args {
	const float *x, *y, *u, *v, *alpha, *beta;
	const int32_t *idx; // column gather (NULL: none)
};

template <bool BLEND, bool SUM>
void launch_pairs(int pm, const level_args &a, float gamma, float p, int C, int D, int64_t q0, int64_t P,
		  const float *T, float *H, float *out, int64_t ldo, cudaStream_t s)
{
	const int threads = 256; // 8 pairs per block
	unsigned blocks = avsl_blocks(P, threads / 32);
	if (pm == P_TWO)
		pair_kernel<P_TWO, BLEND, SUM><<<blocks, threads, 0, s>>>(a.x, a.y, a.u, a.v, a.alpha, a.beta, a.idx, gamma, p,
									   C, D, q0, P, T, H, out, ldo);
	else if (pm == P_ONE)
		pair_kernel<P_ONE, BLEND, SUM><<<blocks, threads, 0, s>>>(a.x, a.y, a.u, a.v, a.alpha, a.beta, a.idx, gamma, p,
									   C, D, q0, P, T, H, out, ldo);
	else
		pair_kernel<P_GENERAL, BLEND, SUM><<<blocks, threads, 0, s>>>(a.x, a.y, a.u, a.v, a.alpha, a.beta,
									       a.idx, gamma, p, C, D, q0, P, T, H, out, ldo);
}

// x (n, D) in place: x / max(||x||_p, 1e-12); one warp per row.
template <int PM> __global__ void normalize_kernel(float *x, int64_t n, int D, float p)
{
	const int lane = threadIdx.x & 31;
	const int64_t warps = (int64_t)gridDim.x * (blockDim.x >> 5);
	for (int64_t row = (int64_t)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5); row < n; row += warps) {
		float *xr = x + row * D;
		float s = 0;
		for (int j = lane; j < D; j += 32)
			s += PM == P_TWO ? xr[j] * xr[j] : PM == P_ONE ? fabsf(xr[j]) : powf(fabsf(xr[j]), p);
		s = avsl_warp_sum(s);
		float norm = PM == P_TWO ? sqrtf(s) : PM == P_ONE ? s : powf(s, 1.0f / p);
		float inv = 1.0f / fmaxf(norm, 1e-12f);
		for (int j = lane; j < D; j += 32)
			xr[j] *= inv;
	}
}

// One block per column n of L (D, D): R = max(L, 0), tau = k-th largest of R[., n], keep R >= tau - 1e-8,
// divide the kept entries by their sum + 1e-8. The column lives in shared memory (D <= LINK_MAX_D floats).
enum { LINK_MAX_D = 4096 }; // the column in shared memory: 16 KiB

__global__ void link_prepare_kernel(const float *__restrict__ L, int D, int k, float *__restrict__ s_hat)
{
	__shared__ float col[LINK_MAX_D];
	__shared__ float tau_s;
	__shared__ float part[32];
	const int n = blockIdx.x;
	for (int m = threadIdx.x; m < D; m += blockDim.x)
		col[m] = fmaxf(L[(int64_t)m * D + n], 0.0f);
	__syncthreads();
	// tau is the value t with #(> t) < k <= #(>= t); every thread holding such a value writes the same t.
	for (int m = threadIdx.x; m < D; m += blockDim.x) {
		float t = col[m];
		int gt = 0, ge = 0;
		for (int j = 0; j < D; j++) {
			gt += col[j] > t;
			ge += col[j] >= t;
		}
		if (gt < k && ge >= k)
			tau_s = t;
	}
	__syncthreads();
	const float thr = tau_s - 1e-8f;
	float s = 0;
	for (int m = threadIdx.x; m < D; m += blockDim.x)
		if (col[m] >= thr)
			s += col[m];
	s = avsl_warp_sum(s);
	if ((threadIdx.x & 31) == 0)
		part[threadIdx.x >> 5] = s;
	__syncthreads();
	if (threadIdx.x < 32) {
		float t = threadIdx.x < (blockDim.x >> 5) ? part[threadIdx.x] : 0.0f;
		t = avsl_warp_sum(t);
		if (threadIdx.x == 0)
			part[0] = t;
	}
	__syncthreads();
	const float denom = part[0] + 1e-8f;
	for (int m = threadIdx.x; m < D; m += blockDim.x)
		s_hat[(int64_t)m * D + n] = col[m] >= thr ? col[m] / denom : 0.0f;
}

int p_mode(float p) { return p == 2.0f ? P_TWO : p == 1.0f ? P_ONE : P_GENERAL; }

// The tile, or with idx the gathered tile; op names the op in errors.
int dist_core(op_ctx *ctx, const char *op, const avsl_collector_view *cv, int R, const float *const *x,
	      const float *const *u, int C, const int32_t *idx, const float *const *y, const float *const *v,
	      float *out, int64_t ldo)
{
	if (!cv || R < 0 || C < 0 || cv->levels < 1 || cv->levels > AVSL_MAX_LEVELS || cv->dim < 1 || ldo < C ||
	    !(cv->p > 0))
		return trunk_fail(ctx, "%s: invalid arguments (R %d, C %d, ldo %lld)", op, R, C, (long long)ldo);
	if (R == 0 || C == 0)
		return 0;
	trunk_backend *b = trunk_of(ctx);
	const int D = cv->dim, L = cv->levels, pm = p_mode(cv->p);
	const int64_t pairs = (int64_t)R * C;
	cudaStream_t s = b->stream;
	level_args lv[AVSL_MAX_LEVELS];
	for (int l = 0; l < L; l++)
		lv[l] = level_args{x[l], y[l], u[l], v[l], cv->alpha[l], cv->beta[l], idx};

	if (L == 1) { // no propagation: d_f = d_0
		launch_pairs<false, true>(pm, lv[0], 0, cv->p, C, D, 0, pairs, NULL, NULL, out, ldo, s);
		return trunk_launched_at(ctx, "%s (R %d, C %d, D %d, L %d)", op, R, C, D, L);
	}
	int64_t P = (int64_t)(AVSL_DIST_WS_BYTES / (2 * (size_t)D * sizeof(float)));
	if (P < 1)
		P = 1;
	if (P > pairs)
		P = pairs;
	if (P > INT32_MAX)
		P = INT32_MAX;
	float *bufA = (float *)trunk_workspace(ctx, (size_t)P * 2 * D * sizeof(float)), *bufB = bufA + P * D;
	if (!bufA)
		return -1;
	const float one = 1.0f, zero = 0.0f;
	for (int64_t q0 = 0; q0 < pairs; q0 += P) {
		const int64_t np = pairs - q0 < P ? pairs - q0 : P;
		float *H = bufA, *T = bufB;
		launch_pairs<false, false>(pm, lv[0], 0, cv->p, C, D, q0, np, NULL, H, NULL, 0, s);
		if (trunk_launched_at(ctx, "%s (R %d, C %d, D %d, L %d)", op, R, C, D, L))
			return -1;
		for (int t = 0; t + 1 < L; t++) {
			// Column-major view: T^T (D, np) = S_hat^T (D, D) * H^T (D, np),
			// i.e. T[q, n] = sum_m H[q, m] S[m, n].
			if (trunk_blas_at(ctx,
					  cublasSgemm(b->blas, CUBLAS_OP_N, CUBLAS_OP_N, D, (int)np, D, &one, cv->s_hat[t],
						      D, H, D, &zero, T, D),
					  "%s: propagation GEMM (R %d, C %d, D %d)", op, R, C, D))
				return -1;
			const level_args &lt = lv[t + 1];
			if (t + 2 < L)
				launch_pairs<true, false>(pm, lt, cv->gamma_p, cv->p, C, D, q0, np, T, T, NULL, 0, s);
			else
				launch_pairs<true, true>(pm, lt, cv->gamma_p, cv->p, C, D, q0, np, T, NULL, out, ldo,
							 s);
			if (trunk_launched_at(ctx, "%s (R %d, C %d, D %d, L %d)", op, R, C, D, L))
				return -1;
			float *tmp = H;
			H = T;
			T = tmp;
		}
	}
	return 0;
}

} // namespace

extern "C" int cuda_avsl_dist_tile(op_ctx *ctx, const avsl_collector_view *cv, int R, const float *const *x,
				   const float *const *u, int C, const float *const *y, const float *const *v, float *out,
				   int64_t ldo)
{
	return dist_core(ctx, "avsl_dist_tile", cv, R, x, u, C, NULL, y, v, out, ldo);
}

// The plan of the contract: on the GPU the propagation multiplies by the dense S_hat, so there is nothing to
// regroup; the plan keeps a copy of the view (whose tensors the caller keeps alive). A host object, not scratch.
struct avsl_dist_plan {
	avsl_collector_view c;
};

extern "C" int cuda_avsl_dist_plan_new(op_ctx *ctx, const avsl_collector_view *c, avsl_dist_plan **plan)
{
	*plan = NULL;
	if (!c || c->levels < 1 || c->levels > AVSL_MAX_LEVELS || c->dim < 1)
		return trunk_fail(ctx, "avsl_dist_plan_new: invalid collector view");
	avsl_dist_plan *p = (avsl_dist_plan *)malloc(sizeof *p);
	if (!p)
		return trunk_fail(ctx, "avsl_dist_plan_new: out of host memory");
	p->c = *c;
	*plan = p;
	return 0;
}

extern "C" int cuda_avsl_dist_plan_free(op_ctx *ctx, avsl_dist_plan *plan)
{
	(void)ctx;
	free(plan);
	return 0;
}

extern "C" int cuda_avsl_dist_gather(op_ctx *ctx, const avsl_dist_plan *plan, int R, const float *const *x,
				     const float *const *u, int C, const int32_t *idx, const float *const *y,
				     const float *const *v, float *out, int64_t ldo)
{
	if (!plan || !idx)
		return trunk_fail(ctx, "avsl_dist_gather: no plan or no index");
	return dist_core(ctx, "avsl_dist_gather", &plan->c, R, x, u, C, idx, y, v, out, ldo);
}

// d_l alone: the tile's first pair pass, summed straight into out.
extern "C" int cuda_avsl_level_dist_tile(op_ctx *ctx, int R, const float *x, int C, const float *y, int D, float p,
					 float *out, int64_t ldo)
{
	if (R < 0 || C < 0 || D < 1 || ldo < C || !(p > 0))
		return trunk_fail(ctx, "avsl_level_dist_tile: invalid arguments (R %d, C %d, D %d, ldo %lld)", R, C, D,
				  (long long)ldo);
	if (R == 0 || C == 0)
		return 0;
	const level_args a{x, y, NULL, NULL, NULL, NULL, NULL};
	launch_pairs<false, true>(p_mode(p), a, 0, p, C, D, 0, (int64_t)R * C, NULL, NULL, out, ldo,
				  trunk_of(ctx)->stream);
	return trunk_launched_at(ctx, "avsl_level_dist_tile (R %d, C %d, D %d)", R, C, D);
}

// The threshold is compared in float (tau_n - 1e-8f), as the CPU kernel does.
extern "C" int cuda_avsl_link_prepare(op_ctx *ctx, const float *L, int D, int topk, float *s_hat)
{
	if (D < 1 || D > LINK_MAX_D)
		return trunk_fail(ctx, "avsl_link_prepare: D = %d out of range [1, %d]", D, (int)LINK_MAX_D);
	int k = topk < 1 ? 1 : topk > D ? D : topk;
	link_prepare_kernel<<<D, 256, 0, trunk_of(ctx)->stream>>>(L, D, k, s_hat);
	return trunk_launched(ctx, "avsl_link_prepare");
}

extern "C" int cuda_avsl_normalize_rows(op_ctx *ctx, float *x, int64_t n, int D, float p)
{
	if (n < 0 || D < 1 || !(p > 0))
		return trunk_fail(ctx, "avsl_normalize_rows: invalid arguments (n %lld, D %d, p %g)", (long long)n, D,
				  (double)p);
	if (n == 0)
		return 0;
	unsigned blocks = avsl_blocks(n, 8);
	cudaStream_t s = trunk_of(ctx)->stream;
	int pm = p_mode(p);
	if (pm == P_TWO)
		normalize_kernel<P_TWO><<<blocks, 256, 0, s>>>(x, n, D, p);
	else if (pm == P_ONE)
		normalize_kernel<P_ONE><<<blocks, 256, 0, s>>>(x, n, D, p);
	else
		normalize_kernel<P_GENERAL><<<blocks, 256, 0, s>>>(x, n, D, p);
	return trunk_launched(ctx, "avsl_normalize_rows");
}
