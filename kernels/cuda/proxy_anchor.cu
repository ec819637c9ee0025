// proxy_anchor.cu: the distance Proxy-Anchor loss of method §4.1, forward and backward.
//
// Three launches: (1) per column, an online max-shifted log-sum-exp over the positive and the negative terms
// (only unmasked terms are ever exponentiated) gives Pos_c and Neg_c, each including the extra zero logit of
// "add_one"; (2) one block sums them into the loss and the two gradient scales scale/|P| and scale/C;
// (3) dd[r,c] = scale/|P| * a * exp(t - Pos_c) for a positive, -scale/C * a * exp(t' - Neg_c) for a negative,
// where t, t' are the logits: exp(t - Pos_c) = e^t / (1 + S) <= 1, so nothing overflows.
#include <cuda_runtime.h>
#include <math.h>

#include "common.cuh"
#include "cuda_internal.cuh"

namespace {

enum { COLS = 32, ROWS = 8 };

struct lse {
	float m, s; // running max and sum of exp(t - m); m = -inf when empty
};

__device__ __forceinline__ void lse_add(lse &a, float t)
{
	if (t == -INFINITY) // exp(t) = 0 exactly; also keeps -inf - -inf out of the sum
		return;
	if (t > a.m) {
		a.s = a.s * expf(a.m - t) + 1.0f; // expf(-inf) = 0 for the first term
		a.m = t;
	} else {
		a.s += expf(t - a.m);
	}
}

__device__ __forceinline__ lse lse_merge(lse a, lse b)
{
	if (b.m == -INFINITY)
		return a;
	if (a.m == -INFINITY)
		return b;
	float m = fmaxf(a.m, b.m);
	return lse{m, a.s * expf(a.m - m) + b.s * expf(b.m - m)};
}

// ln(1 + sum exp(t)) from the running (m, s): the "1" is one more logit of value 0.
__device__ __forceinline__ float lse_log1p(lse a)
{
	if (a.m == -INFINITY)
		return 0.0f;
	float m = fmaxf(a.m, 0.0f);
	return m + logf(expf(-m) + a.s * expf(a.m - m));
}

// Block (COLS, ROWS): threadIdx.x = column within the block's 32 (coalesced), threadIdx.y strides the rows.
// col: (3, C) = Pos_c, Neg_c, has_pos.
__global__ void pa_columns(const float *__restrict__ d, int R, int C, int64_t ldd, const int32_t *__restrict__ ylab,
			   const int32_t *__restrict__ zlab, float mpos, float mneg, float a, float *col)
{
	__shared__ lse sp[ROWS][COLS], sn[ROWS][COLS];
	const int c = blockIdx.x * COLS + threadIdx.x;
	lse pos = {-INFINITY, 0.0f}, neg = {-INFINITY, 0.0f};
	if (c < C) {
		const int32_t z = zlab[c];
		for (int r = threadIdx.y; r < R; r += ROWS) {
			const float x = d[(int64_t)r * ldd + c];
			if (ylab[r] == z)
				lse_add(pos, a * (x - mpos));
			else
				lse_add(neg, -a * (x - mneg));
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
		col[2 * C + c] = pos.m == -INFINITY ? 0.0f : 1.0f;
	}
}

// One block: loss and the gradient scales g[0] = scale/|P| (0 if no column has a positive), g[1] = scale/C.
__global__ void pa_reduce(const float *col, int C, float scale, float *loss, float *g)
{
	__shared__ float s_pos[32], s_neg[32], s_cnt[32];
	float p = 0, n = 0, k = 0;
	for (int c = threadIdx.x; c < C; c += blockDim.x) {
		if (col[2 * C + c] != 0.0f) {
			p += col[c];
			k += 1.0f;
		}
		n += col[C + c];
	}
	p = avsl_warp_sum(p);
	n = avsl_warp_sum(n);
	k = avsl_warp_sum(k);
	const int w = threadIdx.x >> 5, lane = threadIdx.x & 31;
	if (lane == 0) {
		s_pos[w] = p;
		s_neg[w] = n;
		s_cnt[w] = k;
	}
	__syncthreads();
	if (w == 0) {
		const int nw = blockDim.x >> 5;
		p = lane < nw ? s_pos[lane] : 0.0f;
		n = lane < nw ? s_neg[lane] : 0.0f;
		k = lane < nw ? s_cnt[lane] : 0.0f;
		p = avsl_warp_sum(p);
		n = avsl_warp_sum(n);
		k = avsl_warp_sum(k);
		if (lane == 0) {
			*loss = (k > 0 ? p / k : 0.0f) + n / (float)C;
			g[0] = k > 0 ? scale / k : 0.0f;
			g[1] = scale / (float)C;
		}
	}
}

// d and dd may alias: each element is read, then written, by one thread.
__global__ void pa_grad(const float *d, int R, int C, int64_t ldd, const int32_t *__restrict__ ylab,
			const int32_t *__restrict__ zlab, float mpos, float mneg, float a,
			const float *__restrict__ col, const float *__restrict__ g, float *dd)
{
	const int c = blockIdx.x * COLS + threadIdx.x;
	if (c >= C)
		return;
	const int32_t z = zlab[c];
	const float gpos = g[0] * a, gneg = -g[1] * a, P = col[c], N = col[C + c];
	for (int64_t r = (int64_t)blockIdx.y * ROWS + threadIdx.y; r < R; r += (int64_t)gridDim.y * ROWS) {
		const float x = d[r * ldd + c];
		dd[r * ldd + c] = ylab[r] == z ? gpos * expf(a * (x - mpos) - P) : gneg * expf(-a * (x - mneg) - N);
	}
}

} // namespace

// Workspace bytes of pa_launch: three floats per column and two more.
static size_t pa_workspace_size(int C) { return ((size_t)3 * (C > 0 ? C : 0) + 2) * sizeof(float); }

// The loss of d (R, C) with leading dimension ldd into the device float *loss, and dd = scale * dL/dd (NULL: forward
// only) on stream s; ws: pa_workspace_size(C) bytes. A CUDA error code (0: launched).
static int pa_launch(const float *d, int R, int C, int64_t ldd, const int32_t *ylab, const int32_t *zlab, float mpos,
		     float mneg, float a, float scale, float *loss, float *dd, void *ws, cudaStream_t s)
{
	float *col = (float *)ws, *g = col + (size_t)3 * C;
	const unsigned cb = (unsigned)((C + COLS - 1) / COLS);
	pa_columns<<<cb, dim3(COLS, ROWS), 0, s>>>(d, R, C, ldd, ylab, zlab, mpos, mneg, a, col);
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
	pa_grad<<<dim3(cb, rb), dim3(COLS, ROWS), 0, s>>>(d, R, C, ldd, ylab, zlab, mpos, mneg, a, col, g, dd);
	return avsl_cuda_launch_status();
}

// The op of the contract (ops.h op_pa_dist_loss): the whole tile, scale 1, the loss copied to the host (the one
// synchronisation: the caller needs the number).
extern "C" int cuda_pa_dist_loss(op_ctx *ctx, const float *d, int R, int C, const int32_t *ylab, const int32_t *zlab,
				 float mpos, float mneg, float a, float *grad, float *loss)
{
	if (R < 1 || C < 1)
		return trunk_fail(ctx, "pa_dist_loss: empty tile (%d x %d)", R, C);
	size_t ws = pa_workspace_size(C);
	float *w = (float *)trunk_workspace(ctx, ws + sizeof(float)), *dloss = (float *)((char *)w + ws);
	if (!w)
		return -1;
	cudaStream_t s = trunk_of(ctx)->stream;
	if (trunk_cuda_check(ctx, (cudaError_t)pa_launch(d, R, C, C, ylab, zlab, mpos, mneg, a, 1.0f, dloss, grad, w, s),
			     "pa_dist_loss"))
		return -1;
	return trunk_cuda_check(ctx, cudaMemcpyAsync(loss, dloss, sizeof *loss, cudaMemcpyDeviceToHost, s),
				"pa_dist_loss: loss") ||
	       trunk_cuda_check(ctx, cudaStreamSynchronize(s), "pa_dist_loss: synchronise");
}
