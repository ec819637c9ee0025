/* baseline_head.h: the Proxy-Anchor baseline head (method §4.3, gedml's cosine version): global avg + max pool of
 * the last feature map, Linear C -> D, L2-normalise, cosine similarity to K L2-normalised proxies, Proxy-Anchor
 * loss with margin delta (0.1) and scale a (32); all K proxies are columns every step.
 *
 * Tensors (checkpoint names): embedder.linear.weight (D, C), embedder.linear.bias (D) PG_EMBEDDER;
 * collector.proxies (K, D) PG_COLLECTOR. Legend: N batch, C channels, H/W spatial, D embedding dim, K classes.
 */
#ifndef AVSL_BASELINE_HEAD_H
#define AVSL_BASELINE_HEAD_H

#include <stdint.h>

#include "ops.h"
#include "params.h"

typedef struct {
	int C, D, K;
	float delta, alpha; /* --proxyanchor-margin 0.1, --proxyanchor-alpha 32 */
	int distance;       /* 1: the AVSL repository's variant: distance PA (§4.1) on ||x - p|| (--baseline-loss distance) */
	float pa_pos, pa_neg, pa_alpha; /* its margins and scale (--pa_pos_margin, --pa_neg_margin, --pa_alpha) */
	int threads;        /* CPU threads of the head's own context (when ctx is NULL) */
	op_ctx *ctx;        /* the device's op context (model_create), borrowed; NULL: the head makes a CPU one */
} baseline_head_config;

typedef struct baseline_head baseline_head;

baseline_head *baseline_head_create(const baseline_head_config *cfg, paramset *ps);
void baseline_head_free(baseline_head *h);
/* W ~ N(0, 2/D) (Kaiming-normal fan_out), b = 0, proxies ~ U(-1/sqrt(D), 1/sqrt(D)) (Kaiming-uniform a = sqrt(5)). */
void baseline_head_init(baseline_head *h, paramset *ps, uint64_t seed);
void baseline_head_plan(baseline_head *h, int N, int H, int W);
/* Forward + cosine PA loss + backward: accumulates parameter gradients, writes dfeat (N, C, H, W). Returns loss. */
float baseline_head_train_step(baseline_head *h, paramset *ps, const float *feat, const int32_t *labels, int N,
			       float *dfeat);
/* Eval: L2-normalised embeddings emb (N, D). */
void baseline_head_embed(baseline_head *h, paramset *ps, const float *feat, int N, float *emb);

#endif
