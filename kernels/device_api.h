/* device_api.h: the accelerator backend as a table of function pointers (ggml style), so that no public struct
 * and no caller changes with build flags: a build without CUDA has the same symbols, the table pointer is NULL.
 *
 *     if (!avsl_cuda_api) ... "built without CUDA";  else avsl_cuda_api->alloc(&p, bytes) ...
 *
 * Every function follows the conventions of kernels/cuda/cuda_ops.h (device pointers, opaque void *stream,
 * 0 or an error code explained by error_string). libcommon/device.h wraps this table for tools.
 */
#ifndef AVSL_DEVICE_API_H
#define AVSL_DEVICE_API_H

#include <stddef.h>
#include <stdint.h>

#include "ops.h"
#include "cuda/cuda_ops.h"

typedef struct avsl_device_api {
	const char *name; /* "cuda" */
	const char *(*error_string)(int code);

	/* devices */
	int (*device_count)(int *count);
	int (*set_device)(int index);
	int (*device_describe)(int index, char *buf, size_t n);

	/* memory and streams */
	int (*alloc)(void **p, size_t bytes);
	int (*free)(void *p);
	int (*host_alloc)(void **p, size_t bytes);
	int (*host_free)(void *p);
	int (*memset_async)(void *p, int byte, size_t bytes, void *stream);
	int (*copy_h2d_async)(void *dst_dev, const void *src_host, size_t bytes, void *stream);
	int (*copy_d2h_async)(void *dst_host, const void *src_dev, size_t bytes, void *stream);
	int (*copy_d2d_async)(void *dst_dev, const void *src_dev, size_t bytes, void *stream);
	int (*stream_create)(void **stream);
	int (*stream_destroy)(void *stream);
	int (*stream_synchronize)(void *stream);

	/* op context (stream + BLAS handle + workspace) */
	int (*ctx_create)(avsl_cuda_ctx **ctx, void *stream, size_t workspace_bytes);
	void (*ctx_destroy)(avsl_cuda_ctx *ctx);
	void *(*ctx_stream)(const avsl_cuda_ctx *ctx);
	int (*ctx_set_tf32)(avsl_cuda_ctx *ctx, int on);

	/* ops */
	int (*avsl_dist_tile)(avsl_cuda_ctx *ctx, const avsl_collector_view *c, int R, const float *const *x,
			      const float *const *u, int C, const float *const *y, const float *const *v, float *out,
			      int64_t ldo);
	int (*avsl_link_prepare)(const float *L, int D, int topk, float *s_hat, void *stream);
	int (*avsl_normalize_rows)(float *x, int64_t n, int D, float p, void *stream);
	int (*l2norm_fwd)(const float *x, int64_t N, int D, float *y, float *norm, void *stream);
	int (*l2norm_bwd)(const float *y, const float *norm, const float *dy, int64_t N, int D, float *dx,
			  void *stream);
	uint64_t (*adamw_plan_blocks)(avsl_adamw_segment *seg, int nseg);
	int (*adamw_step)(float *param, const float *grad, float *m, float *v, const avsl_adamw_segment *seg_dev,
			  int nseg, uint64_t nblocks, const avsl_adamw_group *groups, int ngroups, void *stream);
	int (*topk_init)(float *dist, int64_t *idx, int R, int K, void *stream);
	int (*topk_merge)(const float *tile, int R, int C, int64_t ldt, int64_t col0, int64_t self0, float *dist,
			  int64_t *idx, int K, void *stream);
	size_t (*proxy_anchor_workspace_size)(int C);
	int (*proxy_anchor)(const float *d, int R, int C, int64_t ldd, const int32_t *ylab, const int32_t *zlab,
			    float mpos, float mneg, float a, float scale, float *loss, float *dd, void *ws,
			    void *stream);
} avsl_device_api;

/* The CUDA backend, or NULL when avsl was built without CUDA (kernels/cuda_backend.c). */
extern const avsl_device_api *const avsl_cuda_api;

#endif
