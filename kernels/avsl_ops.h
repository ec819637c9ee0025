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

/* The re-ranking form (avsl-graph --rerank), CPU only: the same d_f with the columns picked by index,
 * column q = row idx[q] of y[l], v[l] ((n, D) arrays, p-normalised), so no gathered copy is made; bit-identical to
 * avsl_dist_tile on the gathered columns. The plan holds S_hat regrouped for the kernel, built once per collector
 * (c must outlive it) instead of once per call. */
typedef struct avsl_dist_plan avsl_dist_plan;
avsl_dist_plan *avsl_dist_plan_new(const avsl_collector_view *c);
void avsl_dist_plan_free(avsl_dist_plan *p);
void avsl_dist_gather(const avsl_dist_plan *p, int R, const float *const *x, const float *const *u, int C,
		      const int32_t *idx, const float *const *y, const float *const *v, float *out, int64_t ldo,
		      int threads);

/* Plain reference of avsl_dist_tile (one pair at a time, dense propagation) kept for tests. */
void avsl_dist_tile_naive(const avsl_collector_view *c, int R, const float *const *x, const float *const *u, int C,
			  const float *const *y, const float *const *v, float *out, int64_t ldo);

/* Per-level distance (--metric levels|level:N): out[r,c] = sum_n |x[r,n] - y[c,n]|^p of p-normalised embeddings.
 * x: (R, D), y: (C, D), out: (R, C) with leading dimension ldo. */
void avsl_level_dist_tile(int R, const float *x, int C, const float *y, int D, float p, float *out, int64_t ldo,
			  int threads);

/* ||x||_p of one D-vector (accumulated in double). */
float avsl_pnorm(const float *x, int D, float p);
/* Backward of avsl_normalize_rows: x (n, D) the UNnormalised input, dxh (n, D) = dL/dx_hat -> dx (n, D) = dL/dx
 * (overwritten; dx may alias x or dxh). p = 2: dx = (dxh - x_hat <x_hat, dxh>) / ||x||; general p: the p-norm
 * Jacobian; rows with ||x|| <= 1e-12 are divided by the constant 1e-12. */
void avsl_normalize_rows_bwd(const float *x, const float *dxh, int64_t n, int D, float p, float *dx);

/* ---- training-time embedder (method §2) ------------------------------------------------------------------------
 * Feature maps F: (N, C, HW) with HW = H*W spatial positions, row-major. */

/* g[b,k] = mean_j F[b,k,j] + max_j F[b,k,j]; argmax[b,k] = first arg-max in row-major order. g, argmax: (N, C). */
void avsl_pool_fwd(const float *F, int N, int C, int HW, float *g, int32_t *argmax, int threads);
/* dF[b,k,j] = dg[b,k]/HW + [j == argmax[b,k]] * dg[b,k]; dF (N, C, HW) overwritten. */
void avsl_pool_bwd(const float *dg, const int32_t *argmax, int N, int C, int HW, float *dF, int threads);
/* y = x W^T + b. x: (N, Cin), W: (Cout, Cin), b: (Cout) or NULL, y: (N, Cout). */
void avsl_linear_fwd(const float *x, int N, int Cin, const float *W, const float *b, int Cout, float *y);
/* dW += dy^T x, db += colsum(dy) (either may be NULL), dx = dy W (overwritten; NULL to skip). */
void avsl_linear_bwd(const float *x, const float *dy, int N, int Cin, const float *W, int Cout, float *dx, float *dW,
		     float *db);
/* Class-activation maps (§2.2): A[b,c,j] = sum_k W[c,k] (F[b,k,j] + HW F[b,k,argmax] [j == argmax[b,k]]) + bias[c].
 * F: (N, C, HW), argmax: (N, C) from avsl_pool_fwd, W: (D, C), bias: (D), A: (N, D, HW). */
void avsl_cam_fwd(const float *F, const int32_t *argmax, const float *W, const float *bias, int N, int C, int HW,
		  int D, float *A, int threads);
void avsl_cam_fwd_naive(const float *F, const int32_t *argmax, const float *W, const float *bias, int N, int C,
			int HW, int D, float *A);
/* Certainty (§2.3): per (b,c) map A[b,c] (H, W): subtract each row's minimum over the width, L1-normalise
 * (denominator max(sum, 1e-12)), unbiased std over the H*W values. A: (N, D, H, W), u: (N, D). */
void avsl_certainty(const float *A, int N, int D, int H, int W, float *u, int threads);
/* Batch link (§2.4): adaptive-average-pool lo (N, D, Hl, Wl) to (Hh, Wh), L2-normalise every (b, channel) over
 * space (also hi (N, D, Hh, Wh)), link[m,n] = (1/N) sum_b sum_j Lo[b,m,j] Hi[b,n,j]. link: (D, D). */
void avsl_link_batch(const float *lo, int Hl, int Wl, const float *hi, int Hh, int Wh, int N, int D, float *link,
		     int threads);

/* ---- training-time collector (§3.3-3.4) -----------------------------------------------------------------------
 * x[l]: (R, D) normalised row embeddings, u[l]: (R, D) certainties; y[l], v[l]: (C, D) the columns. */

/* d_f (R, C) (may be NULL) and the level distances dl[l] (R, C) (entries may be NULL). */
void avsl_collector_fwd(const avsl_collector_view *c, int R, const float *const *x, const float *const *u, int C,
			const float *const *y, const float *const *v, float *df, float *const *dl, int threads);
/* Backward with the spec's routing: Gf = dL/dd_f (R, C) reaches only alpha[l], beta[l] for l >= 1 (accumulated
 * into dalpha[l], dbeta[l]; every Delta, S_hat and certainty is a constant); Gl[l] = dL/dd_l (R, C) reaches the
 * normalised embeddings: dx[l] (R, D) and dy[l] (C, D), overwritten. Gf or any Gl[l] may be NULL (zero). */
void avsl_collector_bwd(const avsl_collector_view *c, int R, const float *const *x, const float *const *u, int C,
			const float *const *y, const float *const *v, const float *Gf, const float *const *Gl,
			float *const *dx, float *const *dy, float *const *dalpha, float *const *dbeta, int threads);

/* ---- losses (§4) ----------------------------------------------------------------------------------------------- */

/* Distance Proxy-Anchor (§4.1) over d (R, C), row labels ylab (R), column labels zlab (C): positives
 * Pos_c = ln(1 + sum_{y_r = z_c} exp(a (d - mpos))) averaged over columns with a positive, negatives
 * Neg_c = ln(1 + sum_{y_r != z_c} exp(-a (d - mneg))) averaged over all columns. Only unmasked terms are evaluated,
 * with a max-shifted log-sum-exp (§11-P13). grad (R, C) = dL/dd (overwritten; NULL to skip). Returns L. */
float avsl_pa_dist_loss(const float *d, int R, int C, const int32_t *ylab, const int32_t *zlab, float mpos,
			float mneg, float a, float *grad);
/* Cosine Proxy-Anchor (§4.3) over similarities s (R, C): Pos_c = ln(1 + sum_pos exp(-a (s - delta))),
 * Neg_c = ln(1 + sum_neg exp(a (s + delta))), same averaging. grad = dL/ds. */
float avsl_pa_cos_loss(const float *s, int R, int C, const int32_t *ylab, const int32_t *zlab, float delta, float a,
		       float *grad);

/* ---- AdamW over the flat parameter buffer (kernels/cuda/adamw.cu; libcommon/optim.c on the CPU) ------------- */

enum { AVSL_ADAMW_MAX_GROUPS = 8 };

/* One optimiser group (host memory, passed by value to the kernel). step is this group's own step count t >= 1
 * (groups step separately during warm-up); a group with active = 0 is left untouched (no decay, no moment update).
 * PyTorch AdamW: p -= lr*wd*p; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 *                p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps). */
typedef struct {
	float lr, wd, beta1, beta2, eps;
	int64_t step;
	int active;
} avsl_adamw_group;

/* A contiguous range of the flat buffers that belongs to one group (one trainable tensor, or several adjacent
 * ones). Ranges must not overlap. first_block is filled by avsl_adamw_plan_blocks. */
typedef struct {
	uint64_t offset;      /* in floats */
	uint64_t numel;
	uint64_t first_block; /* output of avsl_adamw_plan_blocks */
	int32_t group;        /* index into the group table */
	int32_t reserved;
} avsl_adamw_segment;

#endif
