// adamw.cu: op_adamw_step on CUDA (twin of kernels/cpu/adamw.c): one AdamW step over the flat parameter buffers
// (params.h), PyTorch semantics, per-group lr/wd.
//
// The trainable part of the buffer is described by segments (offset, numel, group), copied to the context's
// workspace each step (a few KB). Each thread block updates ADAMW_BLOCK_ELEMS consecutive floats of one segment;
// a one-thread kernel numbers the blocks (first_block), and a block finds its segment by binary search on
// first_block, so there is no per-element table and buffers (PG_NONE) and never-trained tensors are skipped simply
// by not being listed. The group constants are derived in double as on the CPU.
#include <math.h>

#include "cuda_internal.cuh"

namespace {

enum { ADAMW_THREADS = 256, ADAMW_PER_THREAD = 4, ADAMW_BLOCK_ELEMS = ADAMW_THREADS * ADAMW_PER_THREAD };

struct group_table {
	float decay[AVSL_ADAMW_MAX_GROUPS]; // 1 - lr * wd
	float b1[AVSL_ADAMW_MAX_GROUPS], omb1[AVSL_ADAMW_MAX_GROUPS], b2[AVSL_ADAMW_MAX_GROUPS],
		omb2[AVSL_ADAMW_MAX_GROUPS], eps[AVSL_ADAMW_MAX_GROUPS];
	float neg_step[AVSL_ADAMW_MAX_GROUPS]; // -lr / (1 - b1^t)
	float bc2_sqrt[AVSL_ADAMW_MAX_GROUPS]; // sqrt(1 - b2^t)
	int active[AVSL_ADAMW_MAX_GROUPS];
};

// first_block of every segment: the running sum of their block counts (thread 0 of one warp).
__global__ void plan_kernel(avsl_adamw_segment *seg, int nseg)
{
	if (threadIdx.x != 0)
		return;
	uint64_t b = 0;
	for (int i = 0; i < nseg; i++) {
		seg[i].first_block = b;
		b += (seg[i].numel + ADAMW_BLOCK_ELEMS - 1) / ADAMW_BLOCK_ELEMS;
	}
}

__global__ void adamw_kernel(float *__restrict__ p, const float *__restrict__ g, float *__restrict__ m,
			     float *__restrict__ v, const avsl_adamw_segment *__restrict__ seg, int nseg,
			     uint64_t nblocks, group_table G)
{
	for (uint64_t b = blockIdx.x; b < nblocks; b += gridDim.x) {
		int lo = 0, hi = nseg - 1; // last segment with first_block <= b
		while (lo < hi) {
			int mid = (lo + hi + 1) >> 1;
			if (seg[mid].first_block <= b)
				lo = mid;
			else
				hi = mid - 1;
		}
		const avsl_adamw_segment s = seg[lo];
		const int gi = s.group;
		if (!G.active[gi])
			continue;
		const uint64_t start = (b - s.first_block) * ADAMW_BLOCK_ELEMS;
		const float b1 = G.b1[gi], omb1 = G.omb1[gi], b2 = G.b2[gi], omb2 = G.omb2[gi], eps = G.eps[gi];
		const float decay = G.decay[gi], neg_step = G.neg_step[gi], bc2_sqrt = G.bc2_sqrt[gi];
		for (int k = 0; k < ADAMW_PER_THREAD; k++) {
			const uint64_t e = start + (uint64_t)k * ADAMW_THREADS + threadIdx.x;
			if (e >= s.numel)
				break;
			const uint64_t i = s.offset + e;
			const float gr = g[i];
			const float pi = p[i] * decay;
			const float mi = m[i] * b1 + omb1 * gr;
			const float vi = v[i] * b2 + omb2 * gr * gr;
			m[i] = mi;
			v[i] = vi;
			p[i] = pi + neg_step * (mi / (sqrtf(vi) / bc2_sqrt + eps));
		}
	}
}

} // namespace

extern "C" int cuda_adamw_step(op_ctx *ctx, float *param, const float *grad, float *m, float *v,
			       const avsl_adamw_segment *seg, int nseg, const avsl_adamw_group *groups, int ngroups)
{
	trunk_backend *t = trunk_of(ctx);
	if (nseg < 0 || ngroups < 0 || ngroups > AVSL_ADAMW_MAX_GROUPS)
		return trunk_fail(ctx, "adamw_step: invalid arguments (%d segments, %d groups)", nseg, ngroups);
	group_table G = {};
	for (int i = 0; i < ngroups; i++) {
		const avsl_adamw_group *q = &groups[i];
		G.active[i] = q->active != 0;
		if (!G.active[i])
			continue;
		if (q->step < 1)
			return trunk_fail(ctx, "adamw_step: group %d is active with step %lld (steps count from 1)", i,
					  (long long)q->step);
		// Bias corrections in double: 1 - 0.999^t loses digits in float for small t.
		double bc1 = 1.0 - pow(q->beta1, (double)q->step), bc2 = 1.0 - pow(q->beta2, (double)q->step);
		G.decay[i] = (float)(1.0 - q->lr * q->wd);
		G.b1[i] = (float)q->beta1, G.omb1[i] = (float)(1.0 - q->beta1);
		G.b2[i] = (float)q->beta2, G.omb2[i] = (float)(1.0 - q->beta2);
		G.eps[i] = (float)q->eps;
		G.neg_step[i] = (float)(-(q->lr / bc1));
		G.bc2_sqrt[i] = (float)sqrt(bc2);
	}
	uint64_t nblocks = 0;
	for (int s = 0; s < nseg; s++) {
		if (seg[s].group < 0 || seg[s].group >= ngroups)
			return trunk_fail(ctx, "adamw_step: segment %d names group %d of %d", s, seg[s].group, ngroups);
		nblocks += (seg[s].numel + ADAMW_BLOCK_ELEMS - 1) / ADAMW_BLOCK_ELEMS;
	}
	if (nblocks == 0)
		return 0;
	avsl_adamw_segment *dseg = (avsl_adamw_segment *)trunk_workspace(ctx, (size_t)nseg * sizeof *seg);
	if (!dseg || trunk_cuda_check(ctx, cudaMemcpyAsync(dseg, seg, (size_t)nseg * sizeof *seg,
							   cudaMemcpyHostToDevice, t->stream),
				      "adamw_step: segments"))
		return -1;
	plan_kernel<<<1, 32, 0, t->stream>>>(dseg, nseg);
	if (trunk_launched(ctx, "adamw_step: plan"))
		return -1;
	unsigned grid = nblocks > (1u << 30) ? (1u << 30) : (unsigned)nblocks;
	adamw_kernel<<<grid, ADAMW_THREADS, 0, t->stream>>>(param, grad, m, v, dseg, nseg, nblocks, G);
	return trunk_launched(ctx, "adamw_step");
}
