/* rerank.h: two-stage search (avsl-graph --rerank C): a shortlist of the C nearest gallery items by a cheap plain
 * metric, then the exact AVSL distance on those C only.
 *
 * Stage 1 is pluggable: today it is knn_run itself under the shortlist metric (exact GEMM tiles, k = C); an
 * approximate index (IVF, HNSW, a faiss index file) would be another function with the same contract (the C
 * candidates of each query, in query order). Stage 2 computes d_f for the query against its C candidates with the
 * same kernel and the same per-row normalisation as the exact graph, so every distance written is bit-identical
 * to the exact graph's, and the result equals the exact top-k whenever the exact top-k lies inside the shortlist:
 * the shortlist's recall of the exact neighbours is the ceiling of the result (man/avsl-graph.1).
 */
#ifndef AVSL_RERANK_H
#define AVSL_RERANK_H

#include "knn.h"

/* The context of the AVSL ops for a run of o: o->ctx, or *own made as a CPU context with o->threads threads (dies
 * if it cannot be made). Release with knn_ctx_close(ctx, own). */
op_ctx *knn_ctx_open(const knn_opts *o, op_ctx *own);
void knn_ctx_close(op_ctx *ctx, op_ctx *own);

/* knn_run for o->rerank > 0 (knn_check already passed): emits every query of [q_begin, q_end) in order. */
int knn_rerank_run(const knn_opts *o, knn_emit_fn emit, void *ctx, char *err, size_t errlen);

/* The gallery's rows p-normalised per level as stage 2 reads them: rows[l] (gallery n, D) (built once per run, or
 * once per stream by knn_prepare). On the CPU malloc'd, certs[l] NULL (stage 2 reads the set's own); on a device
 * (ctx CUDA) both are device copies (devmem_alloc) of ctx. */
void rerank_gallery_rows(const knn_opts *o, op_ctx *ctx, float **rows, float **certs);

/* The weights of --shortlist avsl-linear: w (L * D), level-major. The exact d_f with each gate pi_l[n] replaced
 * by pi_bar_l[n] = sigmoid(gamma * (ubar_l[n]^2 * alpha_l[n] + beta_l[n])), ubar the gallery's mean certainty,
 * is sum_l w_l . Delta_l with (g_{L-1} = 1; for l = L-1..1: w_l = g_l * pi_bar_l, g_{l-1} = S_hat_{l-1} (g_l *
 * (1 - pi_bar_l)); w_0 = g_0), which is the top-down propagation of method 3.3 step 5 run on the coefficients. */
void rerank_linear_weights(const avsl_collector_view *c, const ave_set *gallery, float *w);

#endif
