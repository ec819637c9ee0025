/* explain.h: attribution for the AVSL distance (avsl-explain): the decomposition of d_f into per-level,
 * per-attribute parts, the class-activation maps behind them, pictures (heat maps, retrieval boards) and a
 * deletion/insertion faithfulness score. Mathematics: ../shared/design/avsl-method.md §2-3.
 *
 * Decomposition of one pair (a, b) (method §3.3, p-normalised embeddings x_l, y_l, certainties u_l, v_l):
 *   Delta_l[n] = |x_l[n] - y_l[n]|^p,  H_0 = Delta_0,
 *   T_l[n] = sum_m H_{l-1}[m] S_hat_{l-1}[m,n],  pi_l[n] = sigmoid(gamma (u_l[n] v_l[n] alpha_l[n] + beta_l[n])),
 *   H_l = pi_l Delta_l + (1 - pi_l) T_l,  d_f = sum_n H_{L-1}[n].
 * Unrolling the propagation gives the SOURCE form used for the level shares and the attribution map:
 *   d_f = sum_l sum_n w_l[n] pi_l[n] Delta_l[n]   (pi_0 = 1),
 *   w_{L-1}[n] = 1,  w_{l}[m] = sum_n S_hat_l[m,n] (1 - pi_{l+1}[n]) w_{l+1}[n],
 * i.e. w_l[n] is how much one unit of level-l difference in dimension n reaches d_f.
 *
 * Dimension legend: N images, D embedding dim, L levels, H_l/W_l CAM size of level l, S network input size,
 * Cin input channels.
 */
#ifndef AVSL_EXPLAIN_H
#define AVSL_EXPLAIN_H

#include <stdint.h>
#include <stdio.h>

#include "avsl_ops.h"
#include "cli.h"
#include "fmt_error.h"
#include "image.h"
#include "model.h"
#include "train_config.h"

/* ---- model and features ------------------------------------------------------------------------------------ */

typedef struct {
	train_config cfg;
	model m;
	avsl_collector_view view;  /* borrows m and s_hat */
	float *s_hat;              /* (L - 1, D, D) */
	int L, D, S, Cin;
	int H[AVSL_MAX_LEVELS], W[AVSL_MAX_LEVELS];
	int planned;               /* batch the trunk is planned for */
} explain_model;

/* Load an AVSL checkpoint (dies naming the file when it is not one). threads <= 0: all CPUs. */
void explain_model_load(explain_model *em, const char *path, int threads);
/* Adopt a model built in memory (tests): takes ownership of *m and of cfg's strings. */
void explain_model_adopt(explain_model *em, model *m, const train_config *cfg);
void explain_model_free(explain_model *em);

/* The checkpoint's eval transform (method §1.3: Resize of the shorter side unless resize = 0 or already so,
 * CenterCrop, /255, (x - mean) / std), exactly as the eval loader applies it. x: (Cin, S, S). */
void explain_image_tensor(const explain_model *em, const image_u8 *im, float *x);
/* Back to displayable 8-bit pixels ((S, S, Cin), Cin = 1 or 3): x * std + mean, clamped. */
void explain_tensor_image(const explain_model *em, const float *x, image_u8 *out);

typedef struct {
	int L, D;
	float *emb[AVSL_MAX_LEVELS];  /* (D) embedding, not normalised */
	float *xh[AVSL_MAX_LEVELS];   /* (D) p-normalised embedding */
	float *cert[AVSL_MAX_LEVELS]; /* (D) certainty u_l */
	float *cam[AVSL_MAX_LEVELS];  /* (D, H_l, W_l) class-activation maps A_l, or NULL when not asked for */
	int H[AVSL_MAX_LEVELS], W[AVSL_MAX_LEVELS];
} explain_feats;

/* Eval forward of N images x (N, Cin, S, S) into out[0..N-1] (allocated here; free with explain_feats_free).
 * with_cam = 0 skips keeping the CAMs (they are still computed: the certainties need them). */
void explain_forward(explain_model *em, const float *x, int N, int with_cam, explain_feats *out);
void explain_feats_free(explain_feats *f);

/* ---- decomposition ----------------------------------------------------------------------------------------- */

typedef struct {
	int L, D;
	float df;                        /* the final distance, computed like avsl_dist_tile_naive */
	double sum_h;                    /* sum_n H_{L-1}[n] accumulated in double (the check: = df) */
	double d[AVSL_MAX_LEVELS];       /* level distances sum_n Delta_l[n] */
	double src[AVSL_MAX_LEVELS];     /* sum_n w_l pi_l Delta_l: the part of d_f that starts at level l */
	float *delta[AVSL_MAX_LEVELS];   /* (D) */
	float *t[AVSL_MAX_LEVELS];       /* (D) propagated part T_l (0 at level 0) */
	float *pi[AVSL_MAX_LEVELS];      /* (D) gate (1 at level 0) */
	float *h[AVSL_MAX_LEVELS];       /* (D) H_l */
	float *w[AVSL_MAX_LEVELS];       /* (D) reach of level l's own term into d_f (see the top of this file) */
	float *ua[AVSL_MAX_LEVELS], *ub[AVSL_MAX_LEVELS]; /* (D) borrowed certainties */
} explain_decomp;

/* Decompose the distance between a (x[l], u[l]) and b (y[l], v[l]), all (D) per level, x and y p-normalised. */
void explain_decompose(const avsl_collector_view *c, const float *const x[], const float *const u[],
		       const float *const y[], const float *const v[], explain_decomp *out);
void explain_decomp_free(explain_decomp *d);

/* Indices of the k largest score[0..n-1], largest first (ties: lower index first). Returns min(k, n). */
int explain_top(const float *score, int n, int k, int *idx);

/* A path of dimensions through the levels (dim[l] at level l) and the part of d_f that flows along it:
 * Delta_0[j] S_0[j,m] (1 - pi_1[m]) S_1[m,n] (1 - pi_2[n]) for three levels. */
typedef struct {
	int dim[AVSL_MAX_LEVELS];
	float flow;
} explain_path;

/* The strongest `per` paths into each of the nt top-level dimensions target[] (three levels only; returns 0
 * otherwise). out has room for nt * per paths; returns the count written (grouped by target, strongest first). */
int explain_paths(const avsl_collector_view *c, const explain_decomp *d, const int *target, int nt, int per,
		  explain_path *out);

/* ---- attribution maps (input resolution S x S) ------------------------------------------------------------- */

/* Similarity evidence of attribute (l, n) for the pair: e_l[n] = 2 w_l[n] pi_l[n] x_l[n] y_l[n], the amount by
 * which the agreement of a and b in that dimension lowers d_f (Delta = x^2 + y^2 - 2xy for p = 2). e: (L, D). */
void explain_evidence(const explain_decomp *d, const explain_feats *a, const explain_feats *b, float *e);

/* Bilinear upsampling (half-pixel centres, edge clamped) of a (h, w) map to (oh, ow). */
void explain_upsample(const float *in, int h, int w, float *out, int oh, int ow);

/* The AVSL attribution map of image a (with respect to b): over every level l and its k attributes of largest
 * positive evidence e_l[n], sum e_l[n] * M_l[n], where M_l[n] is the CAM A_l[n] oriented by the sign of a's
 * embedding (s A_l[n], s = sign x_l[n]), shifted to a minimum of 0, L1-normalised over its H_l x W_l positions and
 * upsampled to S x S. map: (S, S). */
void explain_map_avsl(const explain_model *em, const explain_feats *a, const float *e, int k, float *map);
/* Control: the plain last-level CAM, sum over all D dims of max(A_{L-1}[n], 0), upsampled. map: (S, S). */
void explain_map_cam(const explain_model *em, const explain_feats *a, float *map);
/* Control: uniform random values (Philox stream of seed). map: (S, S). */
void explain_map_random(int S, uint64_t seed, float *map);

/* ---- pictures (explain_draw.c) ----------------------------------------------------------------------------- */

typedef struct {
	int w, h;
	uint8_t *px; /* (h, w, 3) RGB */
} canvas;

void canvas_init(canvas *cv, int w, int h, const uint8_t bg[3]);
void canvas_free(canvas *cv);
void canvas_rect(canvas *cv, int x, int y, int w, int h, const uint8_t rgb[3]);
/* A frame of thickness t inside the box (x, y, w, h). */
void canvas_frame(canvas *cv, int x, int y, int w, int h, int t, const uint8_t rgb[3]);
/* Text in the built-in 5x7 font (digits, letters (lower case drawn as upper), ". , : ; - + = # / ( ) _ % < > ' *"),
 * each glyph scaled by `scale`, advancing 6 * scale pixels; unknown characters draw as a box. Returns the width. */
int canvas_text(canvas *cv, int x, int y, int scale, const uint8_t rgb[3], const char *s);
int canvas_text_width(int scale, const char *s);
/* Draw an 8-bit image (c = 1 or 3) scaled to (w, h) with nearest-neighbour sampling at (x, y). */
void canvas_image(canvas *cv, int x, int y, int w, int h, const image_u8 *im);
/* The same image with a heat map over it: heat (hh, hw) in [0, 1] (bilinear to (w, h)), colour explain_colormap,
 * blended with opacity alpha over the gray version of the image. */
void canvas_heat(canvas *cv, int x, int y, int w, int h, const image_u8 *im, const float *heat, int hh, int hw,
		 float alpha);
/* Write as PNG (atomically; dies naming the path on error). */
/* Encode and write the picture; with set it joins that output set (renamed by the caller), else committed now. */
void canvas_write_png(const canvas *cv, const char *path, out_set *set);

/* The colour map: t in [0, 1] (clamped) -> RGB; dark blue-black at 0 through purple, red and orange to pale yellow
 * at 1, with lightness increasing monotonically (piecewise linear between 9 fixed points). */
void explain_colormap(float t, uint8_t rgb[3]);

/* ---- reports (explain_report.c) ----------------------------------------------------------------------------- */

typedef struct {
	const char *name_a, *name_b;  /* how the two images were given ("FILE", "SHARD:ID") */
	int label_a, label_b;         /* -1: unknown */
	int top;                      /* attributes per level (5) */
	int paths_per;                /* paths into each of the top 3 last-level attributes (3) */
	double graph_dist;            /* the distance a neighbour graph stored for the pair, or NAN */
} explain_report_opts;

/* The decomposition as text (default) or one JSON object (json = 1) on fp. Attributes of each level are ranked by
 * their part of H_l; the check line prints d_f and the double-precision sum of H_{L-1}. */
void explain_report(FILE *fp, const explain_model *em, const explain_decomp *d, const explain_report_opts *o,
		    int json);

/* The pair picture: a title line, the two images, then one row per (level, attribute) for the `per_level`
 * attributes of largest H_l of each level: a label and the CAM A_l[n] of a and of b as heat maps over the images
 * (colour scale shared by the row: min..max over both maps), tile x tile pixels each; a last row with each image's
 * similarity-evidence map (explain_map_avsl, 8 attributes per level, scaled to its own maximum).
 * disp_a/disp_b: the network's view of the images. */
void explain_pair_png(const explain_model *em, const image_u8 *disp_a, const image_u8 *disp_b, const explain_feats *fa,
		      const explain_feats *fb, const explain_decomp *d, const explain_report_opts *o, int per_level,
		      int tile, const char *path, out_set *set);

/* A retrieval board: the query and its first k neighbours (disp[0] the query, disp[1..k] the neighbours), green
 * frames for the query's class, red otherwise, the distance and id under each tile. */
void explain_board_png(const image_u8 *disp, const int64_t *ids, const int32_t *labels, const float *dist, int k,
		       int tile, const char *metric, const char *path);

/* ---- faithfulness (explain_faith.c) ------------------------------------------------------------------------ */

enum { EXPLAIN_FAITH_METHODS = 3 }; /* 0 avsl, 1 last-level CAM, 2 random */
extern const char *const explain_faith_method_name[EXPLAIN_FAITH_METHODS];

typedef struct {
	int steps;           /* fractions 0, 1/steps, ..., 1 of the pixels (16) */
	int attr_k;          /* attributes per level in the AVSL map (8) */
	uint64_t seed;       /* random map */
	int verbose;         /* explain_faithfulness: a line on stderr per pair */
} explain_faith_config;

typedef struct {
	int pairs;
	double del_auc[EXPLAIN_FAITH_METHODS], ins_auc[EXPLAIN_FAITH_METHODS]; /* mean over pairs */
	double del_sd[EXPLAIN_FAITH_METHODS], ins_sd[EXPLAIN_FAITH_METHODS];   /* standard deviation over pairs */
	/* paired comparison with the random map: fraction of pairs where the method's deletion AUC is higher (its
	 * insertion AUC lower) than the random map's for the same pair */
	double del_win[EXPLAIN_FAITH_METHODS], ins_win[EXPLAIN_FAITH_METHODS];
	double avsl_over_cam_del, avsl_over_cam_ins; /* the same, avsl map against the last-level CAM */
} explain_faith_result;

/* Deletion and insertion curves of one pair: a (Cin, S, S) is perturbed, b's features are fixed. For each method,
 * pixels of a are ranked by its map (largest first); deletion step s sets the first round(s P / steps) of the
 * P = S*S pixels to 0 (the dataset mean after normalisation) in every channel, insertion starts from all-zero and
 * copies them back. del/ins: (methods, steps + 1) distances divided by the unperturbed d_f; the AUC is the
 * trapezoid mean of a curve. Returns 0, or -1 when d_f(a, b) is 0 (no curve). */
int explain_faith_pair(explain_model *em, const explain_faith_config *fc, const float *xa, const explain_feats *fa,
		       const explain_feats *fb, float *del, float *ins, double del_auc[], double ins_auc[]);
double explain_auc(const float *curve, int steps);
/* Pixel order of a map (P values), strongest first; ties in raster order; NaN ranks last. order: (P). */
void explain_rank_pixels(const float *map, int P, int *order);

/* The whole protocol on a shard: embed every record (eval transform), pair each of the first npairs records (in
 * shard order) with its nearest other record of the same class under d_f, and average explain_faith_pair over the
 * pairs (a pair whose d_f is 0 or whose class has no other record is skipped). mean_del/mean_ins (may be NULL):
 * (methods, steps + 1) mean curves. Dies naming the shard on a read error. */
void explain_faithfulness(explain_model *em, const char *shard, int npairs, const explain_faith_config *fc,
			  explain_faith_result *res, float *mean_del, float *mean_ins);

/* Decoded pixels of record id of an open shard (copied into out) and its label. Returns 0, or -1 with err. */
struct shard_reader;
int explain_shard_image(struct shard_reader *r, uint64_t id, image_u8 *out, int32_t *label, fmt_error *err);

#endif
