// adamw.cu: one AdamW step over the flat parameter buffers (params.h), PyTorch semantics, per-group lr/wd.
//
// The trainable part of the buffer is described by segments (offset, numel, group). Each thread block updates
// ADAMW_BLOCK_ELEMS consecutive floats of one segment; avsl_adamw_plan_blocks numbers the blocks once, and a block
// finds its segment by binary search on first_block, so there is no per-element table and buffers (PG_NONE) and
// never-trained tensors are skipped simply by not being listed.
#include <cuda_runtime.h>
#include <math.h>

#include "common.cuh"

namespace {

enum { ADAMW_THREADS = 256, ADAMW_PER_THREAD = 4, ADAMW_BLOCK_ELEMS = ADAMW_THREADS * ADAMW_PER_THREAD };

struct group_table {
	float lr[AVSL_ADAMW_MAX_GROUPS], decay[AVSL_ADAMW_MAX_GROUPS]; // decay = 1 - lr * wd
	float b1[AVSL_ADAMW_MAX_GROUPS], b2[AVSL_ADAMW_MAX_GROUPS], eps[AVSL_ADAMW_MAX_GROUPS];
	float step_size[AVSL_ADAMW_MAX_GROUPS];  // lr / (1 - b1^t)
	float inv_sqrt_bc2[AVSL_ADAMW_MAX_GROUPS]; // 1 / sqrt(1 - b2^t)
	int active[AVSL_ADAMW_MAX_GROUPS];
};

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
		if (gi < 0 || gi >= AVSL_ADAMW_MAX_GROUPS || !G.active[gi])
			continue;
		const uint64_t start = (b - s.first_block) * ADAMW_BLOCK_ELEMS;
		const float b1 = G.b1[gi], b2 = G.b2[gi], eps = G.eps[gi], decay = G.decay[gi];
		const float step = G.step_size[gi], isb = G.inv_sqrt_bc2[gi];
		for (int k = 0; k < ADAMW_PER_THREAD; k++) {
			const uint64_t e = start + (uint64_t)k * ADAMW_THREADS + threadIdx.x;
			if (e >= s.numel)
				break;
			const uint64_t i = s.offset + e;
			const float gr = g[i];
			const float mi = b1 * m[i] + (1.0f - b1) * gr;
			const float vi = b2 * v[i] + (1.0f - b2) * gr * gr;
			m[i] = mi;
			v[i] = vi;
			p[i] = p[i] * decay - step * mi / (sqrtf(vi) * isb + eps);
		}
	}
}

} // namespace

extern "C" uint64_t avsl_adamw_plan_blocks(avsl_adamw_segment *seg, int nseg)
{
	uint64_t b = 0;
	for (int i = 0; i < nseg; i++) {
		seg[i].first_block = b;
		b += (seg[i].numel + ADAMW_BLOCK_ELEMS - 1) / ADAMW_BLOCK_ELEMS;
	}
	return b;
}

extern "C" int adamw_step_cuda(float *param, const float *grad, float *m, float *v, const avsl_adamw_segment *seg_dev,
			       int nseg, uint64_t nblocks, const avsl_adamw_group *groups, int ngroups, void *stream)
{
	if (nseg < 0 || ngroups < 0 || ngroups > AVSL_ADAMW_MAX_GROUPS || (nseg > 0 && (!seg_dev || !groups)))
		return AVSL_CUDA_EINVAL;
	if (nseg == 0 || nblocks == 0)
		return 0;
	group_table G = {};
	for (int i = 0; i < ngroups; i++) {
		const avsl_adamw_group *q = &groups[i];
		if (q->active && q->step < 1)
			return AVSL_CUDA_EINVAL;
		G.active[i] = q->active != 0;
		if (!G.active[i])
			continue;
		// Bias corrections in double: 1 - 0.999^t loses digits in float for small t.
		double bc1 = 1.0 - pow((double)q->beta1, (double)q->step);
		double bc2 = 1.0 - pow((double)q->beta2, (double)q->step);
		G.lr[i] = q->lr;
		G.decay[i] = (float)(1.0 - (double)q->lr * q->wd);
		G.b1[i] = q->beta1;
		G.b2[i] = q->beta2;
		G.eps[i] = q->eps;
		G.step_size[i] = (float)(q->lr / bc1);
		G.inv_sqrt_bc2[i] = (float)(1.0 / sqrt(bc2));
	}
	unsigned grid = nblocks > (1u << 30) ? (1u << 30) : (unsigned)nblocks;
	adamw_kernel<<<grid, ADAMW_THREADS, 0, avsl_stream(stream)>>>(param, grad, m, v, seg_dev, nseg, nblocks, G);
	return avsl_cuda_launch_status();
}
