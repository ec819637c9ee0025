// proxy_anchor.cu: the Proxy-Anchor losses of method §4.1 (distance) and §4.3 (cosine), forward and backward (the
// CPU twins are in kernels/cpu/avsl_collector.c; both ops live here because they share every kernel).
//
// Both are one form: positive logits t = ps (d - pm), negative logits t' = ns (d - nm) (distance: a, mpos, -a,
// mneg; cosine: -a, delta, a, -delta). Three launches: (1) per column, an online max-shifted log-sum-exp over the
// positive and the negative terms (only unmasked terms are ever exponentiated; double, as §11-P13 asks) gives
// Pos_c and Neg_c, each including the extra zero logit of "add_one"; (2) one block sums them in double into the
// loss and the two gradient scales scale/|P| and scale/C; (3) dd[r,c] = scale/|P| * ps * exp(t - Pos_c) for a
// positive, scale/C * ns * exp(t' - Neg_c) for a negative: exp(t - Pos_c) = e^t / (1 + S) <= 1, so nothing
// overflows. Column sums are made by a fixed tree over a fixed block shape: the same bits on every launch.
#include <cuda_runtime.h>
#include <math.h>

#include "common.cuh"
#include "cuda_internal.cuh"

namespace {

enum { COLS = 32, ROWS = 8 };

struct lse {
	double m, s; // running max and sum of exp(t - m); m = -inf when empty
};

__device__ __forceinline__ void lse_add(lse &a, double t)
{
	if (t == -INFINITY) // exp(t) = 0 exactly; also keeps -inf - -inf out of the sum
		return;
	if (t > a.m) {
		a.s = a.s * exp(a.m - t) + 1.0; // exp(-inf) = 0 for the first term
		a.m = t;
	} else {
		a.s += exp(t - a.m);
	}
}

__device__ __forceinline__ lse lse_merge(lse a, lse b)
{
	if (b.m == -INFINITY)
		return a;
	if (a.m == -INFINITY)
		return b;
	double m = fmax(a.m, b.m);
	return lse{m, a.s * exp(a.m - m) + b.s * exp(b.m - m)};
}

// ln(1 + sum exp(t)) from the running (m, s): the "1" is one more logit of value 0.
__device__ __forceinline__ double lse_log1p(lse a)
{
	if (a.m == -INFINITY)
		return 0.0;
	double m = fmax(a.m, 0.0);
	return m + log(exp(-m) + a.s * exp(a.m - m));
}

// The logits of the two sides (see the top of the file).
struct pa_form {
	float ps, pm, ns, nm;
};

// Block (COLS, ROWS): threadIdx.x = column within the block's 32 (coalesced), threadIdx.y strides the rows.
// col: (3, C) doubles = Pos_c, Neg_c, has_pos.
__global__ void pa_columns(const float *__restrict__ d, int R, int C, int64_t ldd, const int32_t *__restrict__ ylab,
			   const int32_t *__restrict__ zlab, pa_form f, double *col)
{
	__shared__ lse sp[ROWS][COLS], sn[ROWS][COLS];
	const int c = blockIdx.x * COLS + threadIdx.x;
	lse pos = {-INFINITY, 0.0}, neg = {-INFINITY, 0.0};
	if (c < C) {
		const int32_t z = zlab[c];
		for (int r = threadIdx.y; r < R; r += ROWS) {
			const float x = d[(int64_t)r * ldd + c];
			if (ylab[r] == z)
				lse_add(pos, (double)f.ps * (x - f.pm));
			else
				lse_add(neg, (double)f.ns * (x - f.nm));
		}
	}
	sp[threadIdx.y][threadIdx.x] = pos;
	sn[threadIdx.y][threadIdx.x] = neg;
	__syncthreads();
	if (threadIdx.y == 0 && c < C) {
		for (int k = 1; k < ROWS; k++) {
			pos = lse_merge(pos, sp[k][threadIdx.x]);
			neg = lse_merge(neg, sn[k][threadIdx.x]);
		}
		col[c] = lse_log1p(pos);
		col[C + c] = lse_log1p(neg);
		col[2 * C + c] = pos.m == -INFINITY ? 0.0 : 1.0;
	}
}

// One block: loss and the gradient scales g[0] = scale/|P| (0 if no column has a positive), g[1] = scale/C.
__global__ void pa_reduce(const double *col, int C, float scale, float *loss, double *g)
{
	__shared__ double s_pos[32], s_neg[32], s_cnt[32];
	double p = 0, n = 0, k = 0;
	for (int c = threadIdx.x; c < C; c += blockDim.x) {
		if (col[2 * C + c] != 0.0) {
			p += col[c];
			k += 1.0;
		}
		n += col[C + c];
	}
	p = avsl_warp_sum_d(p);
	n = avsl_warp_sum_d(n);
	k = avsl_warp_sum_d(k);
	const int w = threadIdx.x >> 5, lane = threadIdx.x & 31;
	if (lane == 0) {
		s_pos[w] = p;
		s_neg[w] = n;
		s_cnt[w] = k;
	}
	__syncthreads();
	if (w == 0) {
		const int nw = blockDim.x >> 5;
		p = lane < nw ? s_pos[lane] : 0.0;
		n = lane < nw ? s_neg[lane] : 0.0;
		k = lane < nw ? s_cnt[lane] : 0.0;
		p = avsl_warp_sum_d(p);
		n = avsl_warp_sum_d(n);
		k = avsl_warp_sum_d(k);
		if (lane == 0) {
			*loss = (float)((k > 0 ? p / k : 0.0) + n / C);
			g[0] = k > 0 ? scale / k : 0.0;
			g[1] = (double)scale / C;
		}
	}
}

// d and dd may alias: each element is read, then written, by one thread.
__global__ void pa_grad(const float *d, int R, int C, int64_t ldd, const int32_t *__restrict__ ylab,
			const int32_t *__restrict__ zlab, pa_form f, const double *__restrict__ col,
			const double *__restrict__ g, float *dd)
{
	const int c = blockIdx.x * COLS + threadIdx.x;
	if (c >= C)
		return;
	const int32_t z = zlab[c];
	const double gpos = g[0] * f.ps, gneg = g[1] * f.ns, P = col[c], N = col[C + c];
	for (int64_t r = (int64_t)blockIdx.y * ROWS + threadIdx.y; r < R; r += (int64_t)gridDim.y * ROWS) {
		const double x = d[r * ldd + c];
		dd[r * ldd + c] = (float)(ylab[r] == z ? gpos * exp(f.ps * (x - f.pm) - P)
						       : gneg * exp(f.ns * (x - f.nm) - N));
	}
}

// Workspace bytes of pa_run: three doubles per column and two more.
size_t pa_workspace_size(int C) { return ((size_t)3 * (C > 0 ? C : 0) + 2) * sizeof(double); }

// Both losses: the launches for logits f: the loss into the device float *loss and dd = scale * dL/dd (NULL: forward
// only), on stream s; ws: pa_workspace_size(C) bytes. A CUDA error code (0: launched).
int pa_run(const float *d, int R, int C, int64_t ldd, const int32_t *ylab, const int32_t *zlab, pa_form f, float scale,
	   float *loss, float *dd, void *ws, cudaStream_t s)
{
	if (R < 1 || C < 1 || ldd < C || !d || !ylab || !zlab || !loss || !ws)
		return (int)cudaErrorInvalidValue;
	double *col = (double *)ws, *g = col + (size_t)3 * C;
	const unsigned cb = (unsigned)((C + COLS - 1) / COLS);
	pa_columns<<<cb, dim3(COLS, ROWS), 0, s>>>(d, R, C, ldd, ylab, zlab, f, col);
	int rc = avsl_cuda_launch_status();
	if (rc)
		return rc;
	pa_reduce<<<1, 1024, 0, s>>>(col, C, scale, loss, g);
	rc = avsl_cuda_launch_status();
	if (rc || !dd)
		return rc;
	unsigned rb = (unsigned)((R + ROWS - 1) / ROWS);
	if (rb > 65535)
		rb = 65535;
	pa_grad<<<dim3(cb, rb), dim3(COLS, ROWS), 0, s>>>(d, R, C, ldd, ylab, zlab, f, col, g, dd);
	return avsl_cuda_launch_status();
}

// The op of the contract for logits f: the whole tile, scale 1, the loss copied to the host (the one
// synchronisation: the caller needs the number).
int pa_op(op_ctx *ctx, const char *op, const float *d, int R, int C, const int32_t *ylab, const int32_t *zlab,
	  pa_form f, float *grad, float *loss)
{
	if (R < 1 || C < 1)
		return trunk_fail(ctx, "%s: empty tile (%d x %d)", op, R, C);
	size_t ws = pa_workspace_size(C);
	void *w = trunk_workspace(ctx, ws + sizeof(float));
	if (!w)
		return -1;
	float *dloss = (float *)((char *)w + ws);
	cudaStream_t s = trunk_of(ctx)->stream;
	int rc = pa_run(d, R, C, C, ylab, zlab, f, 1.0f, dloss, grad, w, s);
	if (rc)
		return trunk_fail(ctx, "%s (R %d, C %d): %s", op, R, C, cudaGetErrorString((cudaError_t)rc));
	return trunk_cuda_check(ctx, cudaMemcpyAsync(loss, dloss, sizeof *loss, cudaMemcpyDeviceToHost, s), op) ||
	       trunk_cuda_check(ctx, cudaStreamSynchronize(s), op);
}

} // namespace

extern "C" int cuda_pa_dist_loss(op_ctx *ctx, const float *d, int R, int C, const int32_t *ylab, const int32_t *zlab,
				 float mpos, float mneg, float a, float *grad, float *loss)
{
	return pa_op(ctx, "pa_dist_loss", d, R, C, ylab, zlab, pa_form{a, mpos, -a, mneg}, grad, loss);
}

extern "C" int cuda_pa_cos_loss(op_ctx *ctx, const float *s, int R, int C, const int32_t *ylab, const int32_t *zlab,
				float delta, float a, float *grad, float *loss)
{
	return pa_op(ctx, "pa_cos_loss", s, R, C, ylab, zlab, pa_form{-a, delta, a, -delta}, grad, loss);
}
