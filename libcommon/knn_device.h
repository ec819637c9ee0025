/* knn_device.h: the AVSL metric of knn.c on a device (a CUDA op context): the collector's tensors uploaded once, the
 * embeddings p-normalised in device memory, each distance tile computed there (op_avsl_dist_tile) into a device
 * buffer bounded by a byte budget (avsl-graph --tile-budget). knn.c merges each tile into the running top-k lists on
 * the device (op_topk_merge) and downloads only the lists of a finished row block; knn_dev_tile (a tile downloaded
 * to the host) serves the tests.
 */
#ifndef AVSL_KNN_DEVICE_H
#define AVSL_KNN_DEVICE_H

#include <stddef.h>
#include <stdint.h>

#include "ops.h"

typedef struct {
	op_ctx *ctx;              /* borrowed; a device (devmem_is_device) */
	avsl_collector_view view; /* the host view with its s_hat/alpha/beta pointing into buf */
	float *buf;               /* device: ((L-1) D D + 2 L D) floats */
	float *tile;              /* device: (rows, cols) one distance tile */
	int rows, cols;
} knn_dev;

/* Columns per device tile of `rows` rows within budget bytes (>= 1, <= n_cols, n_cols >= 1). */
int knn_dev_cols(size_t budget, int rows, uint64_t n_cols);
/* Upload the collector v to ctx and allocate a (rows, cols) tile. Dies on a device error. */
void knn_dev_open(knn_dev *d, op_ctx *ctx, const avsl_collector_view *v, int rows, int cols);
void knn_dev_close(knn_dev *d);
/* Rows of n embeddings (n, D) and their certainties into new device buffers: *lv p-normalised (as the CPU path's
 * op_avsl_normalize_rows), *cert a copy. */
void knn_dev_rows(op_ctx *ctx, const float *emb, const float *cert, uint64_t n, int D, float p, float **lv,
		  float **cu);
/* d_f of the R x C tile (device inputs x/u rows, y/v columns) into the device tile, then into out (host, (R, C) with
 * leading dimension ldo). */
void knn_dev_tile(knn_dev *d, int R, const float *const *x, const float *const *u, int C, const float *const *y,
		  const float *const *v, float *out, int64_t ldo);

#endif
