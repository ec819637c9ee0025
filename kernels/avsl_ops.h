/* avsl_ops.h: the AVSL-specific part of the op contract (eval-time distance), shared by avsl-graph, the trainer's
 * evaluation and avsl-explain. Training-time forward/backward of the embedder, collector and losses also live in
 * this header. See ../shared/design/avsl-method.md sections 2-4 for the mathematics.
 *
 * Dimension legend: R rows (queries), C columns (gallery or proxies), D embedding dim (512), L levels (3).
 */
#ifndef AVSL_AVSL_OPS_H
#define AVSL_AVSL_OPS_H

#include <stdint.h>

enum { AVSL_MAX_LEVELS = 4 };

/* Everything the eval-time AVSL distance needs, as read from a checkpoint. Pointers are borrowed. */
typedef struct {
	int levels;                              /* L (3) */
	int dim;                                 /* D */
	float gamma_p;                           /* --prob-gamma */
	float p;                                 /* --index-p (2 has a fast path) */
	const float *s_hat[AVSL_MAX_LEVELS - 1]; /* (D, D) column-normalised top-k masked link t -> t+1; rows = lower-level dims */
	const float *alpha[AVSL_MAX_LEVELS];     /* (D) prob_coef per level (level 0 unused) */
	const float *beta[AVSL_MAX_LEVELS];      /* (D) prob_bias per level (level 0 unused) */
} avsl_collector_view;

/* S_hat (D, D) from a link buffer L (D, D): R = max(L, 0); per column n keep rows with R >= (k-th largest) - 1e-8;
 * divide each column by (its kept sum + 1e-8). (method §3.3 step 4) */
void avsl_link_prepare(const float *L, int D, int topk, float *s_hat);

/* p-normalise rows in place: x / max(||x||_p, 1e-12). x: (n, D). */
void avsl_normalize_rows(float *x, int64_t n, int D, float p);

/* Final AVSL distance d_f for a tile. x[l]: (R, D) p-normalised row embeddings, u[l]: (R, D) row certainties;
 * y[l], v[l]: (C, D) the same for the columns. out: (R, C), row-major with leading dimension ldo.
 * threads: OpenMP threads to use. */
void avsl_dist_tile(const avsl_collector_view *c, int R, const float *const *x, const float *const *u, int C,
		    const float *const *y, const float *const *v, float *out, int64_t ldo, int threads);

/* Plain reference of avsl_dist_tile (one pair at a time, dense propagation) kept for tests. */
void avsl_dist_tile_naive(const avsl_collector_view *c, int R, const float *const *x, const float *const *u, int C,
			  const float *const *y, const float *const *v, float *out, int64_t ldo);

/* Per-level distance (--metric levels|level:N): out[r,c] = sum_n |x[r,n] - y[c,n]|^p of p-normalised embeddings.
 * x: (R, D), y: (C, D), out: (R, C) with leading dimension ldo. */
void avsl_level_dist_tile(int R, const float *x, int C, const float *y, int D, float p, float *out, int64_t ldo,
			  int threads);

/* ||x||_p of one D-vector (accumulated in double). */
float avsl_pnorm(const float *x, int D, float p);

#endif
