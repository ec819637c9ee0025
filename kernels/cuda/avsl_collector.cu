// avsl_collector.cu: CUDA twins of the training-time collector of kernels/cpu/avsl_collector.c (method §3.3-3.4).
//
// Forward: d_f by cuda_avsl_dist_tile and each d_l by cuda_avsl_level_dist_tile (avsl_dist.cu).
//
// Backward, level paths: dx[l][r, n] = sum_q Gl[r, q] d|x - y|^p/dx and dy[l][q, n] = -sum_r ...: one thread per
// output element summing over the other side in index order (float, as the CPU, skipping zero gradients as it
// does); a warp holds 32 consecutive n, so x and y reads are coalesced and the gradient is a broadcast.
//
// Backward, final path (only the gates alpha, beta of levels >= 1 receive Gf): the pairs of the tile run in chunks
// of P (workspace), like the distance tile. Per chunk the forward is recomputed with GEMMs against the dense S_hat
// and the per-level T (P, D) kept:
//   H = |x0 - y0|^p;  T_l = H x S_{l-1};  H = pi_l |x_l - y_l|^p + (1 - pi_l) T_l        (levels 1 .. L-1)
// then from gH = Gf (broadcast over n), for l = L-1 down to 1:
//   dz = gH (d_l - T_l) pi (1 - pi) gamma, summed per query row r into acc (R, 2, L, D) doubles;
//   dT = gH (1 - pi);  gH = dT x S_{l-1}^T                                                  (while l >= 2)
// The per-row sums are made by one thread per (row, n) walking that row's pairs in column order, and the rows are
// added in row order at the end: the CPU's summation order, independent of the chunk size and of the launch
// configuration (no atomics). pi is recomputed from u, v, alpha, beta wherever it is needed instead of stored.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <math.h>

#include "common.cuh"
#include "cuda_internal.cuh"

// The final-path chunk buffers' share of the workspace (the per-row double sums come on top). Under the emulator a
// few KiB, so that the tests' small tiles run in several chunks, some splitting a row.
#ifdef AVSL_CUDA_EMU
static const size_t COLLECTOR_WS_BYTES = (size_t)4 << 10;
#else
static const size_t COLLECTOR_WS_BYTES = (size_t)256 << 20;
#endif

namespace {

// Level-indexed tensors, passed to the kernels by value (the op receives host arrays of device pointers).
struct lv_ptrs {
	const float *x[AVSL_MAX_LEVELS], *y[AVSL_MAX_LEVELS], *u[AVSL_MAX_LEVELS], *v[AVSL_MAX_LEVELS];
	const float *alpha[AVSL_MAX_LEVELS], *beta[AVSL_MAX_LEVELS];
};

__device__ __forceinline__ float pdiff(float a, float b, float p)
{
	const float d = a - b;
	return p == 2.0f ? d * d : powf(fabsf(d), p);
}

// d/da |a - b|^p
__device__ __forceinline__ float pdiff_grad(float a, float b, float p)
{
	const float d = a - b;
	if (p == 2.0f)
		return 2.0f * d;
	return p * powf(fabsf(d), p - 1.0f) * (d > 0 ? 1.0f : d < 0 ? -1.0f : 0.0f);
}

// The gate pi of level l at (row r, column c, dimension n), as the CPU computes it.
__device__ __forceinline__ float gate(const lv_ptrs &t, int l, int64_t ir, int64_t ic, int n, float gam)
{
	const float z = gam * fmaf(t.u[l][ir] * t.v[l][ic], t.alpha[l][n], t.beta[l][n]);
	return 1.0f / (1.0f + expf(-z));
}

// dx (R, D) = sum_q G[r, q] dpdiff(x[r], y[q]) (ROWS) or dy (C, D) = -sum_r ... (!ROWS); G NULL: zeros.
template <bool ROWS>
__global__ void level_grad_kernel(const float *__restrict__ x, const float *__restrict__ y,
				  const float *__restrict__ G, int R, int C, int D, float p, float *__restrict__ out)
{
	const int64_t n_out = (int64_t)(ROWS ? R : C) * D;
	for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n_out; i += (int64_t)gridDim.x * blockDim.x) {
		const int64_t k = i / D;
		const int n = (int)(i - k * D);
		float acc = 0.0f;
		if (G) {
			const int other = ROWS ? C : R;
			for (int j = 0; j < other; j++) {
				const float g = ROWS ? G[k * C + j] : G[(int64_t)j * C + k];
				if (g == 0.0f)
					continue;
				if (ROWS)
					acc += g * pdiff_grad(x[k * D + n], y[(int64_t)j * D + n], p);
				else
					acc -= g * pdiff_grad(x[(int64_t)j * D + n], y[k * D + n], p);
			}
		}
		out[i] = acc;
	}
}

// Element-wise over the chunk's (np, D) buffer, pair w = q0 + w of the tile (r = q / C, c = q % C):
//   MODE_H0:    H = |x0 - y0|^p
//   MODE_BLEND: H = pi (d_l - T) + T   (fmaf, as the CPU)
//   MODE_GH:    gH = Gf[q]
//   MODE_DT:    dT = gH (1 - pi)      (in place over gH is not allowed: dT is its own buffer)
enum { MODE_H0, MODE_BLEND, MODE_GH, MODE_DT };

template <int MODE>
__global__ void chunk_kernel(lv_ptrs t, int l, float gam, float p, int C, int D, int64_t q0, int64_t np,
			     const float *__restrict__ Gf, const float *__restrict__ in, float *__restrict__ out)
{
	const int64_t nel = np * D;
	for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < nel; i += (int64_t)gridDim.x * blockDim.x) {
		const int64_t w = i / D, q = q0 + w, r = q / C, c = q - r * C;
		const int n = (int)(i - w * D);
		const int64_t ir = r * D + n, ic = c * D + n;
		if (MODE == MODE_H0) {
			out[i] = pdiff(t.x[0][ir], t.y[0][ic], p);
		} else if (MODE == MODE_BLEND) {
			const float pi = gate(t, l, ir, ic, n, gam), tt = in[i];
			out[i] = fmaf(pi, pdiff(t.x[l][ir], t.y[l][ic], p) - tt, tt);
		} else if (MODE == MODE_GH) {
			out[i] = Gf[q];
		} else {
			out[i] = in[i] * (1.0f - gate(t, l, ir, ic, n, gam));
		}
	}
}

// acc[r][0][l][n] += sum over the chunk's pairs of row r (column order) of dz u v, acc[r][1][l][n] += dz, with
// dz = gH (d_l - T_l) pi (1 - pi) gamma; pairs with Gf = 0 are skipped (the CPU's rule). One thread per (row, n)
// of the rows the chunk touches.
__global__ void gate_acc_kernel(lv_ptrs t, int l, int L, float gam, float p, int C, int D, int64_t q0, int64_t np,
				const float *__restrict__ Gf, const float *__restrict__ T, const float *__restrict__ gH,
				double *__restrict__ acc)
{
	const int64_t r0 = q0 / C, r1 = (q0 + np - 1) / C, nel = (r1 - r0 + 1) * D;
	for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < nel; i += (int64_t)gridDim.x * blockDim.x) {
		const int64_t r = r0 + i / D;
		const int n = (int)(i % D);
		const int64_t c0 = q0 > r * C ? q0 - r * C : 0, c1 = q0 + np < (r + 1) * C ? q0 + np - r * C : C;
		double *da = acc + (r * 2 * L + l) * D + n, *db = da + (int64_t)L * D;
		double sa = *da, sb = *db;
		for (int64_t c = c0; c < c1; c++) {
			const int64_t q = r * C + c, w = q - q0;
			if (Gf[q] == 0.0f)
				continue;
			const int64_t ir = r * D + n, ic = c * D + n;
			const float uv = t.u[l][ir] * t.v[l][ic];
			const float pi = 1.0f / (1.0f + expf(-gam * fmaf(uv, t.alpha[l][n], t.beta[l][n])));
			const float dpi = gH[w * D + n] * (pdiff(t.x[l][ir], t.y[l][ic], p) - T[w * D + n]);
			const double dz = (double)dpi * pi * (1.0f - pi) * gam;
			sa += dz * uv;
			sb += dz;
		}
		*da = sa;
		*db = sb;
	}
}

// dalpha[l][n] += sum_r acc[r][0][l][n], dbeta likewise, rows in order (levels 1 .. L-1; NULL outputs skipped).
struct gate_out {
	float *dalpha[AVSL_MAX_LEVELS], *dbeta[AVSL_MAX_LEVELS];
};

__global__ void gate_sum_kernel(const double *__restrict__ acc, int R, int L, int D, gate_out o)
{
	const int nel = (L - 1) * D;
	for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < nel; i += gridDim.x * blockDim.x) {
		const int l = 1 + i / D, n = i % D;
		double sa = 0, sb = 0;
		for (int r = 0; r < R; r++) {
			sa += acc[((int64_t)r * 2 * L + l) * D + n];
			sb += acc[((int64_t)r * 2 * L + L + l) * D + n];
		}
		if (o.dalpha[l])
			o.dalpha[l][n] += (float)sa;
		if (o.dbeta[l])
			o.dbeta[l][n] += (float)sb;
	}
}

int check_view(op_ctx *ctx, const char *op, const avsl_collector_view *c, int R, int C)
{
	if (!c || R < 0 || C < 0 || c->levels < 1 || c->levels > AVSL_MAX_LEVELS || c->dim < 1 || !(c->p > 0))
		return trunk_fail(ctx, "%s: invalid arguments (R %d, C %d)", op, R, C);
	return 0;
}

} // namespace

extern "C" int cuda_avsl_collector_fwd(op_ctx *ctx, const avsl_collector_view *c, int R, const float *const *x,
				       const float *const *u, int C, const float *const *y, const float *const *v,
				       float *df, float *const *dl)
{
	if (check_view(ctx, "avsl_collector_fwd", c, R, C))
		return -1;
	if (df && cuda_avsl_dist_tile(ctx, c, R, x, u, C, y, v, df, C))
		return -1;
	for (int l = 0; l < c->levels; l++)
		if (dl && dl[l] && cuda_avsl_level_dist_tile(ctx, R, x[l], C, y[l], c->dim, c->p, dl[l], C))
			return -1;
	return 0;
}

extern "C" int cuda_avsl_collector_bwd(op_ctx *ctx, const avsl_collector_view *c, int R, const float *const *x,
				       const float *const *u, int C, const float *const *y, const float *const *v,
				       const float *Gf, const float *const *Gl, float *const *dx, float *const *dy,
				       float *const *dalpha, float *const *dbeta)
{
	if (check_view(ctx, "avsl_collector_bwd", c, R, C))
		return -1;
	trunk_backend *b = trunk_of(ctx);
	cudaStream_t s = b->stream;
	const int D = c->dim, L = c->levels;
	const float gam = c->gamma_p, pe = c->p;
	for (int l = 0; l < L; l++) {
		const float *G = Gl ? Gl[l] : NULL;
		if (dx && dx[l] && R > 0)
			level_grad_kernel<true><<<trunk_grid(b, (int64_t)R * D, 256), 256, 0, s>>>(x[l], y[l], G, R, C, D,
												     pe, dx[l]);
		if (dy && dy[l] && C > 0)
			level_grad_kernel<false><<<trunk_grid(b, (int64_t)C * D, 256), 256, 0, s>>>(x[l], y[l], G, R, C,
												      D, pe, dy[l]);
		if (trunk_launched_at(ctx, "avsl_collector_bwd: level %d (R %d, C %d, D %d)", l, R, C, D))
			return -1;
	}
	if (!Gf || L < 2 || R == 0 || C == 0)
		return 0;

	lv_ptrs t = {};
	gate_out o = {};
	for (int l = 0; l < L; l++) {
		t.x[l] = x[l], t.y[l] = y[l], t.u[l] = u[l], t.v[l] = v[l], t.alpha[l] = c->alpha[l],
		t.beta[l] = c->beta[l];
		o.dalpha[l] = dalpha ? dalpha[l] : NULL, o.dbeta[l] = dbeta ? dbeta[l] : NULL;
	}
	const int64_t pairs = (int64_t)R * C;
	const size_t nacc = (size_t)R * 2 * L * D;
	// Buffers per chunk: H, T_1 .. T_{L-1}, gH, dT, each (P, D).
	int64_t P = (int64_t)(COLLECTOR_WS_BYTES / ((size_t)(L + 2) * D * sizeof(float)));
	P = P < 1 ? 1 : P > pairs ? pairs : P;
	if (P > INT32_MAX)
		P = INT32_MAX;
	double *acc = (double *)trunk_workspace(ctx, nacc * sizeof(double) + (size_t)(L + 2) * P * D * sizeof(float));
	if (!acc)
		return -1;
	float *H = (float *)(acc + nacc), *T[AVSL_MAX_LEVELS] = {NULL};
	for (int l = 1; l < L; l++)
		T[l] = H + (size_t)l * P * D;
	float *gH = H + (size_t)L * P * D, *dT = gH + (size_t)P * D;
	if (trunk_cuda_check(ctx, cudaMemsetAsync(acc, 0, nacc * sizeof(double), s), "avsl_collector_bwd: memset"))
		return -1;
	const float one = 1.0f, zero = 0.0f;
	for (int64_t q0 = 0; q0 < pairs; q0 += P) {
		const int64_t np = pairs - q0 < P ? pairs - q0 : P;
		const unsigned g = trunk_grid(b, np * D, 256);
		chunk_kernel<MODE_H0><<<g, 256, 0, s>>>(t, 0, gam, pe, C, D, q0, np, NULL, NULL, H);
		for (int l = 1; l < L; l++) {
			// T_l[q, n] = sum_m H[q, m] S[m, n]; column-major: T^T (D, np) = S^T (D, D) H^T (D, np)
			if (trunk_launched_at(ctx, "avsl_collector_bwd: forward (R %d, C %d, D %d)", R, C, D) ||
			    trunk_blas_at(ctx,
					  cublasSgemm(b->blas, CUBLAS_OP_N, CUBLAS_OP_N, D, (int)np, D, &one, c->s_hat[l - 1],
						      D, H, D, &zero, T[l], D),
					  "avsl_collector_bwd: propagation GEMM (R %d, C %d, D %d)", R, C, D))
				return -1;
			if (l + 1 < L)
				chunk_kernel<MODE_BLEND><<<g, 256, 0, s>>>(t, l, gam, pe, C, D, q0, np, NULL, T[l], H);
		}
		chunk_kernel<MODE_GH><<<g, 256, 0, s>>>(t, 0, gam, pe, C, D, q0, np, Gf, NULL, gH);
		const int64_t rows = (q0 + np - 1) / C - q0 / C + 1;
		for (int l = L - 1; l >= 1; l--) {
			gate_acc_kernel<<<trunk_grid(b, rows * D, 256), 256, 0, s>>>(t, l, L, gam, pe, C, D, q0, np, Gf,
										       T[l], gH, acc);
			if (l >= 2) {
				chunk_kernel<MODE_DT><<<g, 256, 0, s>>>(t, l, gam, pe, C, D, q0, np, NULL, gH, dT);
				// gH[q, m] = sum_n S[m, n] dT[q, n]; column-major: gH^T = S (D, D) dT^T
				if (trunk_launched_at(ctx, "avsl_collector_bwd: backward (R %d, C %d, D %d)", R, C, D) ||
				    trunk_blas_at(ctx,
						  cublasSgemm(b->blas, CUBLAS_OP_T, CUBLAS_OP_N, D, (int)np, D, &one,
							      c->s_hat[l - 1], D, dT, D, &zero, gH, D),
						  "avsl_collector_bwd: backward GEMM (R %d, C %d, D %d)", R, C, D))
					return -1;
			}
		}
		if (trunk_launched_at(ctx, "avsl_collector_bwd: gates (R %d, C %d, D %d)", R, C, D))
			return -1;
	}
	gate_sum_kernel<<<trunk_grid(b, (int64_t)(L - 1) * D, 256), 256, 0, s>>>(acc, R, L, D, o);
	return trunk_launched_at(ctx, "avsl_collector_bwd: gate sums (R %d, C %d, D %d)", R, C, D);
}
