/* dot_tile.h: a deterministic dot-product tile, out[r][c] = sum_k a[r][k] * b[c][k].
 *
 * Every output element is one fused multiply-add chain over k = 0..D-1 starting from 0, whichever tile it falls in,
 * whichever row/column panel edge handles it and however many threads run: so a distance is bit-identical whether
 * the graph is computed in one piece, in tiles, in shards or with the roles of a and b swapped (a*b == b*a). BLAS
 * gives no such promise (blocking and small-matrix paths change the summation order), which is why avsl-graph does
 * not use it for the plain metrics.
 */
#ifndef AVSL_DOT_TILE_H
#define AVSL_DOT_TILE_H

#include <stddef.h>
#include <stdint.h>

/* Floats of scratch dot_tile needs for an (R, C) tile of dimension D. */
size_t dot_tile_scratch(int R, int C, int D);

/* a: (R, D) rows with leading dimension lda; b: (C, D) with ldb; out: (R, C) with leading dimension ldo.
 * scratch: dot_tile_scratch(R, C, D) floats, 32-byte aligned. Single-threaded (callers run tiles in parallel). */
void dot_tile(int R, const float *a, int64_t lda, int C, const float *b, int64_t ldb, int D, float *out, int64_t ldo,
	      float *scratch);

/* The plain reference: the same chain written as a scalar loop (fmaf). Kept for tests. */
void dot_tile_naive(int R, const float *a, int64_t lda, int C, const float *b, int64_t ldb, int D, float *out,
		    int64_t ldo);

#endif
