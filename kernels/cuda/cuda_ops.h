/* cuda_ops.h: the CUDA entry points of avsl (the .cu files in kernels/cuda), callable from C. No CUDA type appears
 * here: streams, BLAS handles and contexts are opaque pointers, so this header compiles without the CUDA toolkit.
 *
 * Code outside kernels/ should not call these symbols directly (they only exist in a CUDA build): it goes through
 * the table avsl_cuda_api (kernels/device_api.h), which is NULL in a build without CUDA.
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
	AVSL_CUDA_ENOWORKSPACE = -2,  /* the context's workspace cannot hold even one unit of work */
	AVSL_CUDA_ENODRIVER = -3,     /* no NVIDIA driver (libcuda.so.1) on this machine */
	AVSL_CUDA_CUBLAS_BASE = 100000
};

/* Human-readable message for a code returned by any function of this header (static storage). */
const char *avsl_cuda_error_string(int code);

/* ---- devices, memory, streams (kernels/cuda/device.cu) ------------------------------------------------------- */

/* Number of visible devices. On failure sets *count = 0 and returns AVSL_CUDA_ENODRIVER when there is no driver at
 * all, else the CUDA error (cudaErrorNoDevice, cudaErrorInsufficientDriver for an old driver, ...). */
int avsl_cuda_device_count(int *count);
int avsl_cuda_set_device(int index);
/* "NVIDIA H100 80GB HBM3, sm_90, 79.1 GiB" into buf. */
int avsl_cuda_device_describe(int index, char *buf, size_t n);
int avsl_cuda_alloc(void **p, size_t bytes);
int avsl_cuda_free(void *p);
/* Page-locked host memory: the only host memory that copies truly overlap with. */
int avsl_cuda_host_alloc(void **p, size_t bytes);
int avsl_cuda_host_free(void *p);
int avsl_cuda_memset_async(void *p, int byte, size_t bytes, void *stream);
int avsl_cuda_copy_h2d_async(void *dst_dev, const void *src_host, size_t bytes, void *stream);
int avsl_cuda_copy_d2h_async(void *dst_host, const void *src_dev, size_t bytes, void *stream);
int avsl_cuda_copy_d2d_async(void *dst_dev, const void *src_dev, size_t bytes, void *stream);
int avsl_cuda_stream_create(void **stream);
int avsl_cuda_stream_destroy(void *stream);
int avsl_cuda_stream_synchronize(void *stream);

/* An op context: a stream (borrowed), a cuBLAS handle bound to it and a device workspace of workspace_bytes that
 * bounds the memory of avsl_dist_tile_cuda (0 = 256 MiB). Create one per stream; never share one between threads. */
typedef struct avsl_cuda_ctx avsl_cuda_ctx;
int avsl_cuda_ctx_create(avsl_cuda_ctx **ctx, void *stream, size_t workspace_bytes);
void avsl_cuda_ctx_destroy(avsl_cuda_ctx *ctx);
void *avsl_cuda_ctx_stream(const avsl_cuda_ctx *ctx);
/* Allow TF32 tensor cores in the propagation GEMMs (default off: plain FP32, as the CPU). TF32 rounds the GEMM
 * inputs to 10 mantissa bits: d_f then differs from FP32 by ~1e-3 relative, enough to reorder near-ties in a
 * ranking. Returns 0 or a cuBLAS error. */
int avsl_cuda_ctx_set_tf32(avsl_cuda_ctx *ctx, int on);

/* ---- AVSL eval distance (kernels/cuda/avsl_dist.cu), twins of kernels/avsl_ops.h ----------------------------- */

/* Same as avsl_dist_tile: the struct and the pointer arrays x/u/y/v are host memory; every float array they point
 * to (s_hat, alpha, beta, x[l], u[l], y[l], v[l]) and out are device memory. The propagation runs as one FP32
 * cuBLAS GEMM ((pairs, D) x (D, D)) per transition over chunks of pairs that fit the context's workspace, so
 * memory stays bounded for any R and C. */
int avsl_dist_tile_cuda(avsl_cuda_ctx *ctx, const avsl_collector_view *c, int R, const float *const *x,
			const float *const *u, int C, const float *const *y, const float *const *v, float *out,
			int64_t ldo);
/* Same as avsl_link_prepare (device L and s_hat, (D, D)): kept[m,n] = R[m,n] >= tau_n - 1e-8f (float arithmetic),
 * tau_n the k-th largest of column n counting multiplicity; k is clamped to [1, D]. D <= 4096. */
int avsl_link_prepare_cuda(const float *L, int D, int topk, float *s_hat, void *stream);
/* Same as avsl_normalize_rows, in place on device x (n, D). */
int avsl_normalize_rows_cuda(float *x, int64_t n, int D, float p, void *stream);

/* ---- L2 normalisation with backward (kernels/cuda/l2norm.cu) ------------------------------------------------- */

/* y = x / max(||x||_2, 1e-12) per row; norm[i] = ||x_i||_2 (unclamped) kept for the backward. x, y: (N, D);
 * norm: (N). y may alias x. */
int l2norm_fwd_cuda(const float *x, int64_t N, int D, float *y, float *norm, void *stream);
/* dx = (dy - y (y . dy)) / ||x|| where ||x|| > 1e-12, else dy / 1e-12 (the clamp's own derivative, as PyTorch's
 * F.normalize). y, dy, dx: (N, D); dx may alias dy. */
int l2norm_bwd_cuda(const float *y, const float *norm, const float *dy, int64_t N, int D, float *dx, void *stream);

/* ---- AdamW over the flat parameter buffer (kernels/cuda/adamw.cu) -------------------------------------------- */

/* avsl_adamw_group, avsl_adamw_segment: kernels/avsl_ops.h. */

/* Host function: assigns each segment its first thread block; returns the number of blocks adamw_step_cuda
 * launches (copy seg to the device after this, once: the layout never changes during a run). */
uint64_t avsl_adamw_plan_blocks(avsl_adamw_segment *seg, int nseg);
/* One AdamW step on every segment. param, grad, m, v: the flat buffers (total floats); seg_dev: device copy of
 * the planned segments; groups: host table of ngroups <= AVSL_ADAMW_MAX_GROUPS. */
int adamw_step_cuda(float *param, const float *grad, float *m, float *v, const avsl_adamw_segment *seg_dev,
		    int nseg, uint64_t nblocks, const avsl_adamw_group *groups, int ngroups, void *stream);

/* ---- running top-k per query row (kernels/cuda/topk.cu) ------------------------------------------------------ */

enum { AVSL_TOPK_MAX_K = 1024 };

/* Empty lists: dist = +inf, idx = -1. dist, idx: (R, K). */
int topk_init_cuda(float *dist, int64_t *idx, int R, int K, void *stream);
/* Merge a distance tile into the running lists. tile: (R, C), leading dimension ldt; column c is gallery item
 * col0 + c. Lists stay sorted by (distance, gallery index) ascending; an empty slot (idx -1) sorts after every
 * entry. If self0 >= 0, row r never receives gallery item self0 + r (the query itself). NaN distances are never
 * inserted. K <= AVSL_TOPK_MAX_K. A gallery index must be merged at most once per row. */
int topk_merge_cuda(const float *tile, int R, int C, int64_t ldt, int64_t col0, int64_t self0, float *dist,
		    int64_t *idx, int K, void *stream);

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
