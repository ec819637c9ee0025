/* avsl_head.h: the AVSL head (embedder + collector + losses, method §2-4) as the trainer and avsl-embed use it,
 * on top of the trunk's three feature maps F_l (N, C_l, H_l, W_l).
 *
 * Tensors registered in the paramset (checkpoint names, formats/checkpoint.md):
 *   embedder.conv.{l}.weight (D, C_l, 1, 1), embedder.conv.{l}.bias (D)          PG_EMBEDDER, trainable
 *   collector.proxies.{l} (K, D)                                                PG_COLLECTOR, trainable
 *   collector.prob_coef.{l}, collector.prob_bias.{l} (D)                        PG_COLLECTOR; trainable for l >= 1;
 *       level 0 is registered (and saved) with trainable = 0: it is never used, so it never gets a gradient
 *       and the optimiser must not decay it (method §5).
 *   collector.links.{t} (D, D), t = 0..levels-2                                 PG_NONE buffer (persistent)
 * Dimension legend: N batch, C_l channels, H_l/W_l spatial, D embedding dim, K classes, L levels.
 */
#ifndef AVSL_AVSL_HEAD_H
#define AVSL_AVSL_HEAD_H

#include <stdint.h>

#include "ops.h"
#include "params.h"
#include "safetensors.h"

typedef struct {
	int levels;          /* L (3) */
	int C[AVSL_MAX_LEVELS]; /* channels of F_l */
	int D;               /* --embeddings-dim */
	int K;               /* --num-classes */
	float avsl_m;        /* link EMA momentum (0.5) */
	int topk;            /* --topk-corr (128) */
	float prob_gamma;    /* gamma_p (10) */
	float index_p;       /* p (2) */
	float pa_pos, pa_neg, pa_alpha;                   /* level losses m+, m-, a */
	float final_pa_pos, final_pa_neg, final_pa_alpha; /* final loss */
	float loss_w[AVSL_MAX_LEVELS];                    /* w_l of the level losses (the final weight is 1) */
	int batch_classes_above; /* columns = sorted unique batch labels when K > this (§3.5: 1000); 0 -> 1000 */
	int threads;             /* CPU threads of the head's own context (when ctx is NULL) */
	op_ctx *ctx;             /* the device's op context (model_create), borrowed; NULL: the head makes a CPU one */
} avsl_head_config;

typedef struct avsl_head avsl_head;

/* Register the head's tensors (before paramset_finalize). */
avsl_head *avsl_head_create(const avsl_head_config *cfg, paramset *ps);
void avsl_head_free(avsl_head *h);
/* Spec initialisation (after finalize): conv W ~ N(0, 2/D), b = 0; proxies ~ N(0, 1/(3D)); coef 1, bias 0;
 * links 0 and links_initialised = 0. Philox stream per tensor, so it is independent of the thread count. */
void avsl_head_init(avsl_head *h, paramset *ps, uint64_t seed);
/* Size the step buffers for batches of up to N images with level-l maps H[l] x W[l]. */
void avsl_head_plan(avsl_head *h, int N, const int H[], const int W[]);

/* One training step of the head: forward, link EMA update (before the distances; the first step copies), distances
 * against the proxies, the four Proxy-Anchor losses, their weighted sum and the backward pass. Accumulates the
 * parameter gradients into ps->grad and writes dfeat[l] (N, C_l, H_l, W_l) = dL/dF_l. loss_terms (may be NULL):
 * [0] final loss, [1 + l] level-l loss, unweighted. Labels in [0, K). Returns the total loss. */
float avsl_head_train_step(avsl_head *h, paramset *ps, const float *const feat[], const int32_t *labels, int N,
			   float *const dfeat[], float loss_terms[]);

/* Eval: embeddings emb[l] (N, D) (not normalised) and certainties cert[l] (N, D). Any N (works in chunks). */
void avsl_head_embed(avsl_head *h, paramset *ps, const float *const feat[], int N, float *const emb[],
		     float *const cert[]);

int avsl_head_links_initialised(const avsl_head *h);
void avsl_head_set_links_initialised(avsl_head *h, int v);

/* The eval collector from a checkpoint's tensors: links -> s_hat (top-k prepared), prob_coef/prob_bias, with the
 * hyper-parameters cfg->levels, D, topk, prob_gamma, index_p as the one checkpoint reader found them
 * (checkpoint_read_config + checkpoint_collector_config); tensor shapes must match them. */
typedef struct {
	avsl_collector_view view;
	float *storage;
} avsl_collector_eval;
int avsl_collector_load(const st_file *ck, const avsl_head_config *cfg, avsl_collector_eval *out, fmt_error *err);
/* The collector view of D-dimensional links (levels - 1 of them, each (D, D), host memory): s_hat prepared by
 * op_avsl_link_prepare into s_hat_storage ((levels - 1) * D * D floats, the caller's), alpha/beta borrowed. The one
 * builder of the view (avsl_collector_load, model_collector_view, the training step and avsl-explain use it). 0 or
 * -1 (ctx->err). */
int avsl_collector_view_build(op_ctx *ctx, avsl_collector_view *v, int levels, int D, int topk, float gamma_p,
			      float p, const float *const links[], const float *const alpha[], const float *const beta[],
			      float *s_hat_storage);
void avsl_collector_free(avsl_collector_eval *c);
/* The metadata avsl_collector_load needs, for the checkpoint writer: fills up to 5 key/value pairs (values in
 * val[i], 32 bytes each) and returns their count. */
int avsl_head_metadata(const avsl_head_config *cfg, const char *key[5], char val[5][32]);

/* Debug/test access to the last step's intermediate tensors (owned by the head; valid until the next call). */
typedef struct {
	int ncols;                        /* columns used in the last step */
	const int32_t *cols;              /* (ncols) column class labels */
	const float *emb[AVSL_MAX_LEVELS];  /* (N, D) */
	const float *cert[AVSL_MAX_LEVELS]; /* (N, D) */
	const float *batch_link[AVSL_MAX_LEVELS - 1]; /* (D, D) this batch's link */
	const float *s_hat[AVSL_MAX_LEVELS - 1];      /* (D, D) */
	const float *df;                  /* (N, ncols) */
	const float *dl[AVSL_MAX_LEVELS]; /* (N, ncols) */
} avsl_head_debug;
void avsl_head_get_debug(const avsl_head *h, avsl_head_debug *d);

#endif
