/* knn_device.c: see knn_device.h. */
#include "knn_device.h"
#include "devmem.h"
#include "util.h"

#include <string.h>

int knn_dev_cols(size_t budget, int rows, uint64_t n_cols)
{
	uint64_t c = budget / ((size_t)(rows > 0 ? rows : 1) * sizeof(float));
	if (c > n_cols)
		c = n_cols;
	if (c > INT32_MAX / 2)
		c = INT32_MAX / 2;
	return c < 1 ? 1 : (int)c;
}

void knn_dev_open(knn_dev *d, op_ctx *ctx, const avsl_collector_view *v, int rows, int cols)
{
	memset(d, 0, sizeof *d);
	d->ctx = ctx;
	d->view = *v;
	d->rows = rows;
	d->cols = cols;
	const int L = v->levels;
	const size_t D = (size_t)v->dim, links = (size_t)(L - 1) * D * D;
	/* one block: s_hat per transition, then alpha and beta per level (level 0's are unused by the kernel, but
	 * present: the view names them) */
	d->buf = devmem_alloc(ctx, links + 2 * (size_t)L * D, sizeof(float));
	float *p = d->buf;
	for (int t = 0; t + 1 < L; t++, p += D * D) {
		devmem_upload(ctx, p, v->s_hat[t], D * D * sizeof(float));
		d->view.s_hat[t] = p;
	}
	for (int l = 0; l < L; l++, p += 2 * D) {
		if (v->alpha[l])
			devmem_upload(ctx, p, v->alpha[l], D * sizeof(float));
		if (v->beta[l])
			devmem_upload(ctx, p + D, v->beta[l], D * sizeof(float));
		d->view.alpha[l] = v->alpha[l] ? p : NULL;
		d->view.beta[l] = v->beta[l] ? p + D : NULL;
	}
	d->tile = devmem_alloc(ctx, (size_t)rows * cols, sizeof(float));
	OP_DO(ctx, op_ctx_sync(ctx)); /* the host sources may go */
}

void knn_dev_close(knn_dev *d)
{
	if (!d->ctx)
		return;
	devmem_free(d->ctx, d->buf);
	devmem_free(d->ctx, d->tile);
	memset(d, 0, sizeof *d);
}

void knn_dev_rows(op_ctx *ctx, const float *emb, const float *cert, uint64_t n, int D, float p, float **lv,
		  float **cu)
{
	size_t bytes = n * (size_t)D * sizeof(float);
	*lv = devmem_alloc(ctx, n, (size_t)D * sizeof(float));
	*cu = devmem_alloc(ctx, n, (size_t)D * sizeof(float));
	if (!n)
		return;
	devmem_upload(ctx, *lv, emb, bytes);
	devmem_upload(ctx, *cu, cert, bytes);
	OP_DO(ctx, op_avsl_normalize_rows(ctx, *lv, (int64_t)n, D, p));
	OP_DO(ctx, op_ctx_sync(ctx));
}

void knn_dev_tile(knn_dev *d, int R, const float *const *x, const float *const *u, int C, const float *const *y,
		  const float *const *v, float *out, int64_t ldo)
{
	if (R > d->rows || C > d->cols)
		die("internal error: device tile %dx%d, planned %dx%d", R, C, d->rows, d->cols);
	OP_DO(d->ctx, op_avsl_dist_tile(d->ctx, &d->view, R, x, u, C, y, v, d->tile, C));
	if (ldo == C) {
		devmem_download(d->ctx, out, d->tile, (size_t)R * C * sizeof(float));
		return;
	}
	for (int r = 0; r < R; r++)
		devmem_download(d->ctx, out + r * ldo, d->tile + (size_t)r * C, (size_t)C * sizeof(float));
}
