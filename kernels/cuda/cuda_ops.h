/* cuda_ops.h: the raw CUDA kernels that are not (yet) ops of the contract kernels/ops.h, callable from C: AdamW over
 * the flat parameter buffer and the Proxy-Anchor loss with a leading dimension and a
 * gradient scale (cuda_pa_dist_loss, the op, wraps it). No CUDA type appears here: streams are opaque pointers.
 * These symbols exist in a CUDA build only; the ops of the contract reach the other .cu files through the CUDA
 * backend table (kernels/op_backend.h).
 *
 * Conventions
 *   - Every pointer named *_dev, and every tensor argument unless said otherwise, is device memory.
 *   - Work is queued on `stream` (a cudaStream_t; NULL = the legacy default stream) and is asynchronous: the
 *     caller synchronises before reading results on the host.
 *   - Every entry point returns 0 on success or an error code that avsl_cuda_error_string() explains:
 *     a CUDA runtime error (cudaError_t, > 0), a cuBLAS error (AVSL_CUDA_CUBLAS_BASE + cublasStatus_t), or one of
 *     the negative codes below. Launch errors are reported at once; execution errors by a later synchronise.
 *
 * Dimension legend: R rows (queries), C columns (gallery or proxies), D embedding dim, L levels, K list length.
 */
#ifndef AVSL_CUDA_OPS_H
#define AVSL_CUDA_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "ops.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
	AVSL_CUDA_EINVAL = -1,        /* an argument out of range (negative size, k too large, NULL, ...) */
	AVSL_CUDA_CUBLAS_BASE = 100000
};

/* Human-readable message for a code returned by any function of this header (static storage). */
const char *avsl_cuda_error_string(int code);

/* ---- AdamW over the flat parameter buffer (kernels/cuda/adamw.cu) -------------------------------------------- */

/* avsl_adamw_group, avsl_adamw_segment: kernels/ops.h. */

/* Host function: assigns each segment its first thread block; returns the number of blocks adamw_step_cuda
 * launches (copy seg to the device after this, once: the layout never changes during a run). */
uint64_t avsl_adamw_plan_blocks(avsl_adamw_segment *seg, int nseg);
/* One AdamW step on every segment. param, grad, m, v: the flat buffers (total floats); seg_dev: device copy of
 * the planned segments; groups: host table of ngroups <= AVSL_ADAMW_MAX_GROUPS. */
int adamw_step_cuda(float *param, const float *grad, float *m, float *v, const avsl_adamw_segment *seg_dev,
		    int nseg, uint64_t nblocks, const avsl_adamw_group *groups, int ngroups, void *stream);

/* ---- distance Proxy-Anchor loss (kernels/cuda/proxy_anchor.cu), method §4.1 ---------------------------------- */

/* Pos_c = ln(1 + sum_{r: y_r = z_c} exp(a (d[r,c] - mpos))),
 * Neg_c = ln(1 + sum_{r: y_r != z_c} exp(-a (d[r,c] - mneg))),
 * L = mean over columns with a positive of Pos_c + mean over all columns of Neg_c.
 * Computed as a max-shifted log-sum-exp over the unmasked terms only (never overflows; equal to the reference
 * wherever that is finite, §11-P13). d, dd: (R, C) with leading dimension ldd; ylab: (R); zlab: (C);
 * loss: one device float. dd = scale * dL/dd (overwritten; dd may be NULL for forward only, or d itself).
 * ws: device workspace of proxy_anchor_cuda_workspace_size(C) bytes. */
size_t proxy_anchor_cuda_workspace_size(int C);
int proxy_anchor_cuda(const float *d, int R, int C, int64_t ldd, const int32_t *ylab, const int32_t *zlab, float mpos,
		      float mneg, float a, float scale, float *loss, float *dd, void *ws, void *stream);

#ifdef __cplusplus
}
#endif

#endif
