/* adamw.c: op_adamw_step on the CPU (ops.h): one streaming pass over the four flat buffers.
 *
 * The trainable ranges (segments) are laid end to end and the threads split that concatenation into equal
 * contiguous chunks (static: each thread streams its own part of the four arrays, the same part every step, so
 * the pages stay where the first step touched them); a chunk walks the segments it covers, each with its group's
 * constants, in one vectorised loop. The per-element arithmetic is torch 1.13's _single_tensor_adamw in float32
 * (the constants derived in double as python does), the same operations in the same order for every element, so
 * the result does not depend on the thread count or on how the segments are cut.
 */
#include <math.h>
#include <omp.h>

#include "op_backend.h"
#include "cpu_internal.h"

/* One group's constants for this step. */
typedef struct {
	float decay, b1, omb1, b2, omb2, bc2_sqrt, eps, neg_step;
	int active;
} group_k;

static void adamw_range(float *restrict p, const float *restrict g, float *restrict m, float *restrict v, size_t n,
			const group_k *k)
{
	const float decay = k->decay, b1 = k->b1, omb1 = k->omb1, b2 = k->b2, omb2 = k->omb2;
	const float bc2_sqrt = k->bc2_sqrt, eps = k->eps, neg_step = k->neg_step;
#pragma omp simd
	for (size_t i = 0; i < n; i++) {
		float gi = g[i];
		float pi = p[i] * decay;
		float mi = m[i] * b1 + omb1 * gi;
		float vi = v[i] * b2 + omb2 * gi * gi;
		float denom = sqrtf(vi) / bc2_sqrt + eps;
		m[i] = mi;
		v[i] = vi;
		p[i] = pi + neg_step * (mi / denom);
	}
}

int cpu_adamw_step(op_ctx *ctx, float *param, const float *grad, float *m, float *v, const avsl_adamw_segment *seg,
		   int nseg, const avsl_adamw_group *groups, int ngroups)
{
	if (nseg < 0 || ngroups < 0 || ngroups > AVSL_ADAMW_MAX_GROUPS)
		return cpu_fail(ctx, "adamw_step: invalid arguments (%d segments, %d groups)", nseg, ngroups);
	group_k K[AVSL_ADAMW_MAX_GROUPS];
	for (int i = 0; i < ngroups; i++) {
		const avsl_adamw_group *q = &groups[i];
		K[i].active = q->active != 0;
		if (!K[i].active)
			continue;
		if (q->step < 1)
			return cpu_fail(ctx, "adamw_step: group %d is active with step %lld (steps count from 1)", i,
					(long long)q->step);
		/* python floats: bias corrections in double; torch rounds each constant to float where it meets a
		 * float32 tensor */
		double bc1 = 1.0 - pow(q->beta1, (double)q->step), bc2 = 1.0 - pow(q->beta2, (double)q->step);
		K[i].decay = (float)(1.0 - q->lr * q->wd);
		K[i].b1 = (float)q->beta1, K[i].omb1 = (float)(1.0 - q->beta1);
		K[i].b2 = (float)q->beta2, K[i].omb2 = (float)(1.0 - q->beta2);
		K[i].bc2_sqrt = (float)sqrt(bc2);
		K[i].eps = (float)q->eps;
		K[i].neg_step = (float)(-(q->lr / bc1));
	}
	uint64_t total = 0;
	for (int s = 0; s < nseg; s++) {
		if (seg[s].group < 0 || seg[s].group >= ngroups)
			return cpu_fail(ctx, "adamw_step: segment %d names group %d of %d", s, seg[s].group, ngroups);
		total += seg[s].numel;
	}
	if (total == 0)
		return 0;
	int nt = ctx->threads;
	if ((uint64_t)nt > total / 65536 + 1) /* a small step is not worth waking threads for */
		nt = (int)(total / 65536 + 1);
#pragma omp parallel num_threads(nt)
	{
		int t = omp_get_thread_num(), T = omp_get_num_threads();
		uint64_t lo = total * t / T, hi = total * (t + 1) / T, base = 0; /* this thread's part of the concatenation */
		for (int s = 0; s < nseg && base < hi; base += seg[s].numel, s++) {
			uint64_t a = lo > base ? lo - base : 0, b = hi - base < seg[s].numel ? hi - base : seg[s].numel;
			const group_k *k = &K[seg[s].group];
			if (a >= b || !k->active)
				continue;
			uint64_t o = seg[s].offset + a;
			adamw_range(param + o, grad + o, m + o, v + o, b - a, k);
		}
	}
	return 0;
}
