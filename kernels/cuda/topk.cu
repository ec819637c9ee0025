// topk.cu: the running k smallest distances per query row (avsl-graph), merged one distance tile at a time.
//
// One block per row. The row's list (K <= 1024 entries) sits in shared memory. The tile is scanned in segments
// of SEG columns: entries better than the current worst (the list's last) are appended to a buffer (at most SEG,
// so it never overflows), the buffer is bitonic-sorted and merged with the list by rank (each element finds its
// output position by binary search in the other list), the worst is updated and the scan goes on. Once the list
// is full of good entries almost nothing passes the filter, so the cost is one read of the tile.
// Twin of kernels/cpu/topk.c: the same lists, bit for bit (a selection under a total order has one answer).
#include <math.h>

#include "cuda_internal.cuh"

namespace {

enum { TOPK_THREADS = 256, SEG = 1024 };

// Order: distance ascending, then gallery index ascending; idx -1 (empty) compares as the largest index.
__device__ __forceinline__ bool key_less(float d1, int32_t i1, float d2, int32_t i2)
{
	return d1 < d2 || (d1 == d2 && (uint32_t)i1 < (uint32_t)i2);
}

__global__ void topk_init_kernel(float *dist, int32_t *idx, int64_t n)
{
	for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
		dist[i] = INFINITY;
		idx[i] = -1;
	}
}

// One block per row r: candidate c at tile[r * rs + c * cs], item cols[c] (cols NULL: col0 + c).
__global__ void __launch_bounds__(TOPK_THREADS) topk_merge_kernel(const float *__restrict__ tile, int C, int64_t rs,
								 int64_t cs, int64_t col0,
								 const int32_t *__restrict__ cols, int64_t self0,
								 float *dist, int32_t *idx, int K)
{
	__shared__ float ld[OP_TOPK_MAX_K], bd[SEG], od[OP_TOPK_MAX_K];
	__shared__ int32_t li[OP_TOPK_MAX_K], bi[SEG], oi[OP_TOPK_MAX_K];
	__shared__ int cnt;
	const int tid = threadIdx.x;
	const int64_t r = blockIdx.x;
	float *drow = dist + r * K;
	int32_t *irow = idx + r * K;
	const float *trow = tile + r * rs;
	const int64_t self = self0 >= 0 ? self0 + r : -1;

	for (int j = tid; j < K; j += TOPK_THREADS) {
		ld[j] = drow[j];
		li[j] = irow[j];
	}
	for (int s0 = 0; s0 < C; s0 += SEG) {
		if (tid == 0)
			cnt = 0;
		__syncthreads(); // list loaded or merged, cnt reset
		const float wd = ld[K - 1];
		const int32_t wi = li[K - 1];
		const int s1 = C - s0 < SEG ? C : s0 + SEG;
		for (int c = s0 + tid; c < s1; c += TOPK_THREADS) {
			const float d = trow[c * cs] + 0.0f; // -0 -> +0, as the CPU stores it
			const int64_t g = cols ? cols[c] : col0 + c;
			if (d == d && g != self && key_less(d, (int32_t)g, wd, wi)) {
				int pos = atomicAdd(&cnt, 1);
				bd[pos] = d;
				bi[pos] = (int32_t)g;
			}
		}
		__syncthreads();
		const int n = cnt;
		__syncthreads(); // everyone has read cnt before thread 0 resets it
		if (n == 0)
			continue; // uniform: every thread read the same cnt
		int np2 = 1;
		while (np2 < n)
			np2 <<= 1;
		for (int j = n + tid; j < np2; j += TOPK_THREADS) {
			bd[j] = INFINITY;
			bi[j] = -1;
		}
		__syncthreads();
		for (int k2 = 2; k2 <= np2; k2 <<= 1) {
			for (int j = k2 >> 1; j > 0; j >>= 1) {
				for (int i = tid; i < np2; i += TOPK_THREADS) {
					const int ixj = i ^ j;
					if (ixj > i) {
						const bool up = (i & k2) == 0;
						const bool sw = up ? key_less(bd[ixj], bi[ixj], bd[i], bi[i])
								   : key_less(bd[i], bi[i], bd[ixj], bi[ixj]);
						if (sw) {
							float td = bd[i];
							bd[i] = bd[ixj];
							bd[ixj] = td;
							int32_t ti = bi[i];
							bi[i] = bi[ixj];
							bi[ixj] = ti;
						}
					}
				}
				__syncthreads();
			}
		}
		// Stable merge by rank: a list element goes after the buffer elements strictly before it, a buffer
		// element after the list elements not after it.
		for (int a = tid; a < K; a += TOPK_THREADS) {
			int lo = 0, hi = n;
			while (lo < hi) {
				int mid = (lo + hi) >> 1;
				if (key_less(bd[mid], bi[mid], ld[a], li[a]))
					lo = mid + 1;
				else
					hi = mid;
			}
			const int rank = a + lo;
			if (rank < K) {
				od[rank] = ld[a];
				oi[rank] = li[a];
			}
		}
		for (int b = tid; b < n; b += TOPK_THREADS) {
			int lo = 0, hi = K;
			while (lo < hi) {
				int mid = (lo + hi) >> 1;
				if (!key_less(bd[b], bi[b], ld[mid], li[mid]))
					lo = mid + 1;
				else
					hi = mid;
			}
			const int rank = b + lo;
			if (rank < K) {
				od[rank] = bd[b];
				oi[rank] = bi[b];
			}
		}
		__syncthreads();
		for (int j = tid; j < K; j += TOPK_THREADS) {
			ld[j] = od[j];
			li[j] = oi[j];
		}
	}
	__syncthreads();
	for (int j = tid; j < K; j += TOPK_THREADS) {
		drow[j] = ld[j];
		irow[j] = li[j];
	}
}

} // namespace

extern "C" int cuda_topk_init(op_ctx *ctx, int R, int K, float *dist, int32_t *idx)
{
	trunk_backend *b = trunk_of(ctx);
	if (R < 0 || K < 1 || K > OP_TOPK_MAX_K)
		return trunk_fail(ctx, "topk_init: invalid arguments (R %d, K %d; 1 <= K <= %d)", R, K, OP_TOPK_MAX_K);
	if (R == 0)
		return 0;
	const int64_t n = (int64_t)R * K;
	topk_init_kernel<<<trunk_grid(b, n, 256), 256, 0, b->stream>>>(dist, idx, n);
	return trunk_launched(ctx, "topk_init");
}

extern "C" int cuda_topk_merge(op_ctx *ctx, const float *tile, int R, int C, int64_t rstride, int64_t cstride,
			       int64_t col0, const int32_t *cols, int64_t self0, float *dist, int32_t *idx, int K)
{
	trunk_backend *b = trunk_of(ctx);
	if (R < 0 || C < 0 || K < 1 || K > OP_TOPK_MAX_K || col0 < 0 || col0 + C > INT32_MAX)
		return trunk_fail(ctx, "topk_merge: invalid arguments (R %d, C %d, K %d, col0 %lld)", R, C, K,
				  (long long)col0);
	if (R == 0 || C == 0)
		return 0;
	topk_merge_kernel<<<(unsigned)R, TOPK_THREADS, 0, b->stream>>>(tile, C, rstride, cstride, col0, cols, self0,
									 dist, idx, K);
	return trunk_launched(ctx, "topk_merge");
}
