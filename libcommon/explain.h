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

#include "ops.h"
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
	int verbose;               /* say on stderr when the trunk's plan grows (its activation memory) */
	/* On a CUDA device the trunk's forward runs there and its level features come back to the host; the
	 * attribution passes (embedder, CAMs, certainties, decomposition, maps, faithfulness) are host code and run on
	 * this CPU context. Unused (not opened) on the CPU. */
	op_ctx host;
	int host_open;
	float *feat_host[AVSL_MAX_LEVELS]; /* (planned, C_l, H_l, W_l) the downloaded features */
} explain_model;

/* The op context of the attribution passes: the trunk's on the CPU, the host context on a device. */
static inline op_ctx *explain_ctx(const explain_model *em)
{
	return em->host_open ? (op_ctx *)&em->host : resnet_ctx(em->m.trunk);
}

/* Load an AVSL checkpoint onto dev (borrowed; dies naming the file when it is not one). */
void explain_model_load(explain_model *em, const char *path, avsl_device *dev);
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
	float *feat[AVSL_MAX_LEVELS]; /* (C_l, H_l, W_l) the trunk's level features F_l, kept with the CAMs */
	int C[AVSL_MAX_LEVELS], H[AVSL_MAX_LEVELS], W[AVSL_MAX_LEVELS];
} explain_feats;

/* Eval forward of N images x (N, Cin, S, S) into out[0..N-1] (allocated here; free with explain_feats_free).
 * with_cam = 0 skips keeping the CAMs (they are still computed: the certainties need them). */
void explain_forward(explain_model *em, const float *x, int N, int with_cam, explain_feats *out);
void explain_feats_free(explain_feats *f);
/* The level-l head on N feature maps F (N, C_l, H_l, W_l): embeddings emb (N, D) (not normalised), CAMs A (N, D,
 * H_l, W_l) and certainties u (N, D), exactly as explain_forward computes them (the gradient test re-runs it). */
void explain_head(const explain_model *em, int l, const float *F, int N, float *emb, float *A, float *u);

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
/* The avsl map restricted to level `level` (all levels when level < 0). */
void explain_map_avsl_level(const explain_model *em, const explain_feats *a, const float *e, int k, int level,
			    float *map);

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

/* The pair picture: a title line, both names in full (wrapped, never cut), the two images, then one row per
 * (level, attribute) for the `per_level` attributes of largest H_l of each level: a label and the CAM A_l[n] of a
 * and of b as heat maps over the images (colour scale shared by the row: min..max over both maps), tile x tile
 * pixels each (explain_pair_tile); a last row with both images' similarity-evidence maps (explain_map_avsl, 8
 * attributes per level, one scale 0..max). Every row has a colour bar with its numbers (top, middle, bottom).
 * disp_a/disp_b: the network's view of the images. */
void explain_pair_png(const explain_model *em, const image_u8 *disp_a, const image_u8 *disp_b, const explain_feats *fa,
		      const explain_feats *fb, const explain_decomp *d, const explain_report_opts *o, int per_level,
		      int tile, const char *path, out_set *set);

/* The pair picture's tile: tile itself when > 0, else (auto) S for S >= 112 and the first whole multiple of S at or
 * above 112 otherwise, so a 224 px image is shown at 224 px and a 28 px one at 112 px. */
int explain_pair_tile(int S, int tile);

/* A retrieval board: the query and its first k neighbours (disp[0] the query, disp[1..k] the neighbours), green
 * frames for the query's class, red otherwise, the distance and id under each tile. */
void explain_board_png(const image_u8 *disp, const int64_t *ids, const int32_t *labels, const float *dist, int k,
		       int tile, const char *metric, const char *path);

/* ---- gradient of d_f (explain_grad.c) ------------------------------------------------------------------------
 * No stop-gradient at explanation time: d_f reaches image a's embeddings through every Delta_l (direct and
 * propagated), and its certainties u_l through the gates pi_l; the certainties reach the CAMs and so the features. */

/* dd_f/dx_l (the p-normalised embedding) and dd_f/du_l of image a for the decomposed pair (b fixed): dx[l], du[l]
 * (D), overwritten. x: a's p-normalised embeddings, y, v: b's embeddings and certainties. */
void explain_df_grad(const avsl_collector_view *c, const explain_decomp *d, const float *const x[],
		     const float *const y[], const float *const v[], float *const dx[], float *const du[]);
/* dd_f/dF_l of a's level features through level l's own head (F_l held as the variable, the other levels fixed):
 * dF (C_l, H_l, W_l). fa needs its CAMs and features (explain_forward with_cam = 1). */
void explain_level_grad(const explain_model *em, int l, const explain_feats *fa, const float *dx, const float *du,
			float *dF);
/* The gradient map: sum over levels of -sum_c dF_l[c, j] F_l[c, j] (the first-order increase of d_f when the
 * features at position j are removed), upsampled to S x S. Level l alone when level >= 0. map: (S, S). */
void explain_map_grad(const explain_model *em, const explain_feats *fa, const explain_feats *fb,
		      const explain_decomp *d, int level, float *map);

/* ---- every map of a pair (explain_maps.c) -------------------------------------------------------------------
 * Methods: avsl (the evidence-weighted attribute CAMs of every level), cam-last (plain last-level CAM), grad (the
 * gradient map), avsl-l0 .. avsl-l<L-1> (the avsl map of one level). Controls: random-pixel (i.i.d. per pixel),
 * random-l0 .. random-l<L-1> (i.i.d. at level l's map resolution, upsampled like the maps), random-patch (a random
 * order of the last level's cells). */
enum { EXPLAIN_MAX_MAPS = 3 + AVSL_MAX_LEVELS + 1 + AVSL_MAX_LEVELS + 1 };
typedef struct {
	int n, methods;                    /* maps; the first `methods` are attribution methods, the rest controls */
	int tie;                           /* the control whose values break ties (random-l<L-1>) */
	char name[EXPLAIN_MAX_MAPS][24];
} explain_map_set;

void explain_map_set_init(explain_map_set *ms, int L);
/* Every map of the pair (fa with CAMs and features), in the order of explain_map_set_init. seed: the pair's
 * control stream. maps: (n, S, S). */
void explain_maps_all(const explain_model *em, const explain_feats *fa, const explain_feats *fb,
		      const explain_decomp *d, int attr_k, uint64_t seed, float *maps);
/* Control: uniform random values at (h, w) (Philox stream of seed and purpose), bilinear to (S, S) like the maps;
 * h = w = S is the per-pixel control. map: (S, S). */
void explain_map_random(int S, int h, int w, uint64_t seed, int purpose, float *map);
/* Control: a random value per cell of an (h, w) grid of S x S (explain_cell_bounds), constant inside a cell. */
void explain_map_random_cells(int S, int h, int w, uint64_t seed, float *map);
/* Cell i of n along a side of S pixels: [start, end). Cells of a side differ by at most one pixel. */
void explain_cell_bounds(int S, int n, int i, int *start, int *end);

/* ---- deletion / insertion (explain_faith.c) -------------------------------------------------------------------
 * Deletion removes the units (pixels or grid cells) a map ranks highest from image a, step by step, replacing them
 * by a fill image; a faithful map makes d_f rise fastest. Insertion starts from the fill image and puts them back;
 * a faithful map makes d_f fall fastest. Curves are (d - d_0) / scale with scale the median d_f from the query to
 * its own class (not d_0: near-duplicate neighbours have d_0 near 0). */
enum { EXPLAIN_UNIT_PIXEL = 0, EXPLAIN_UNIT_PATCH = 1, EXPLAIN_FILL_MEAN = 0, EXPLAIN_FILL_BLUR = 1 };
enum { EXPLAIN_SETTINGS = 4 }; /* setting s: unit s / 2, fill s % 2 */
extern const char *const explain_setting_name[EXPLAIN_SETTINGS];

/* d_f of each of n perturbed images x (n, Cin, S, S) against the fixed partner: d (n). */
typedef void (*explain_dist_fn)(void *ctx, const float *x, int n, float *d);

typedef struct {
	int C, S;      /* image channels and size */
	int steps;     /* steps of a pixel curve; a patch curve has min(steps, cells) */
	int gh, gw;    /* the patch grid (the last level's map size) */
	float sigma;   /* blur fill: Gaussian sigma in pixels */
} explain_curve_geom;

/* Order of the units of a map, strongest first: pixels (S * S) or cells (gh * gw, by the mean of the map over the
 * cell); ties by the tie map (same rule), then by index; NaN ranks last. Returns the count of units. */
int explain_rank_units(const explain_curve_geom *g, int unit, const float *map, const float *tie, int *order);
/* The fill image of a (C, S, S): 0 (the dataset mean after normalisation) or a blurred with sigma (separable
 * Gaussian, radius ceil(3 sigma), edges clamped). */
void explain_fill(const explain_curve_geom *g, int fill, const float *xa, float *out);
/* Curve steps of a setting (steps + 1 points). */
int explain_curve_steps(const explain_curve_geom *g, int unit);
/* Both curves of one map in one setting: del, ins (steps + 1) raw distances from f (one batched call). */
void explain_curves(const explain_curve_geom *g, int unit, int fill, const float *xa, const float *map,
		    const float *tie, explain_dist_fn f, void *ctx, float *del, float *ins);
/* Trapezoid mean of a curve of steps + 1 points. */
double explain_auc(const float *curve, int steps);
/* Deletion and insertion AUCs of every map of one pair in every setting: auc (EXPLAIN_SETTINGS, 2, nmaps), curves
 * (d - d0) / scale. maps (nmaps, S, S); tie indexes the tie-breaking map. */
void explain_faith_scores(const explain_curve_geom *g, const float *xa, const float *maps, int nmaps, int tie,
			  float d0, float scale, explain_dist_fn f, void *ctx, double *auc);

/* ---- statistics (explain_stats.c) ---------------------------------------------------------------------------- */

typedef struct {
	double mean, lo, hi; /* mean and its percentile-bootstrap 95% interval */
} explain_ci;
/* Percentile bootstrap of the mean of v (n values, stride apart): B resamples of n pairs with replacement, drawn
 * from the Philox stream of seed. */
explain_ci explain_bootstrap(const double *v, int n, int stride, int B, uint64_t seed);
/* Paired win rate of a over b (both n values, stride apart): fraction of pairs where a beats b (a > b when
 * higher_better, else a < b); ties count one half. */
double explain_win_rate(const double *a, const double *b, int n, int stride, int higher_better);
/* Spearman rank correlation of two maps of P values (average ranks for ties); a constant map: 1 if both are
 * constant, 0 otherwise. */
double explain_spearman(const float *a, const float *b, int P);
/* Mean SSIM of two (S, S) maps, each min-max scaled to [0, 1] first (a constant map is all 0), over every win x win
 * window (win = min(7, S)), C1 = 0.01^2, C2 = 0.03^2. */
double explain_ssim(const float *a, const float *b, int S);

/* ---- the protocol on a shard (explain_faith.c) --------------------------------------------------------------- */

typedef struct {
	int steps;           /* pixel curve steps (16) */
	int attr_k;          /* attributes per level in the avsl maps (8) */
	uint64_t seed;       /* control maps (pair q uses seed + q) and bootstrap */
	int resamples;       /* bootstrap resamples (2000) */
	int verbose;         /* a line on stderr per pair */
} explain_faith_config;

/* Query record q of the shard (in order) paired with its nearest other record of the same class under d_f; d0 their
 * distance and scale the median d_f from q to the other records of its class. Pairs with d0 = 0 or no class mate
 * are skipped. Returns the count (<= npairs). Dies naming the shard on a read error. */
typedef struct {
	int64_t a, b;
	int32_t label;
	float d0, scale;
} explain_pair;
int explain_find_pairs(explain_model *em, const char *shard, int npairs, explain_pair *out);

typedef struct {
	explain_map_set ms;
	int pairs, steps[EXPLAIN_SETTINGS];
	double *auc; /* (pairs, EXPLAIN_SETTINGS, 2, ms.n): deletion (0) and insertion (1) AUC per map */
} explain_faith_result;

/* The whole protocol: explain_find_pairs, then explain_faith_scores on each pair. Free with explain_faith_free. */
void explain_faithfulness(explain_model *em, const char *shard, int npairs, const explain_faith_config *fc,
			  explain_faith_result *res);
void explain_faith_free(explain_faith_result *res);
/* The table (text) or one JSON object: per setting and curve, each map's mean with its bootstrap 95% interval and
 * each method's paired win rate (and mean difference with its interval) against every control. */
void explain_faith_print(FILE *fp, const explain_faith_result *r, const explain_faith_config *fc, int json);

/* ---- sanity checks (explain_sanity.c), after Adebayo et al. 2018 ---------------------------------------------
 * Cascading randomisation: the trunk cascade re-initialises, from the top down and cumulatively, the embedder heads,
 * then each ResNet stage from layer4 down to the stem, with the model's own initialiser (another seed); the collector
 * cascade shuffles the trained links (rows and columns permuted at random), then also the gates (alpha, beta
 * permuted over dimensions), keeping the distribution of values but not what was learned. After each step the
 * methods' maps of the same pairs are compared with the trained model's: Spearman rank correlation and SSIM. */
enum { EXPLAIN_SANITY_MAX_STEPS = 10 };
#define EXPLAIN_SANITY_RHO 0.5 /* a method whose maps keep a mean Spearman >= this after a full cascade fails */

typedef struct {
	explain_map_set ms;             /* the methods are ms.name[0 .. ms.methods - 1] */
	int pairs;
	int nsteps[2];                  /* cascade 0: trunk, 1: collector */
	char step[2][EXPLAIN_SANITY_MAX_STEPS][24];
	double rho[2][EXPLAIN_SANITY_MAX_STEPS][EXPLAIN_MAX_MAPS];  /* mean Spearman over pairs */
	double ssim[2][EXPLAIN_SANITY_MAX_STEPS][EXPLAIN_MAX_MAPS]; /* mean SSIM over pairs */
	int pass[2][EXPLAIN_MAX_MAPS];  /* 1: maps changed (rho < EXPLAIN_SANITY_RHO after the last step) */
} explain_sanity_result;

/* The eval-transformed images of the pairs: x (npairs, 2, Cin, S, S). Dies naming the shard on a read error. */
void explain_pair_images(const explain_model *em, const char *shard, const explain_pair *pairs, int npairs,
			 float *x);
/* Run both cascades on the image pairs x (npairs, 2, Cin, S, S); em's parameters are restored afterwards. */
void explain_sanity(explain_model *em, const float *x, int npairs, int attr_k, uint64_t seed,
		    explain_sanity_result *res);
/* Verdict of one cascade for a method from its last step (the rule above). */
int explain_sanity_pass(double rho_last);
void explain_sanity_print(FILE *fp, const explain_sanity_result *r, int json);

/* Decoded pixels of record id of an open shard (copied into out) and its label. Returns 0, or -1 with err. */
struct shard_reader;
int explain_shard_image(struct shard_reader *r, uint64_t id, image_u8 *out, int32_t *label, fmt_error *err);

#endif
