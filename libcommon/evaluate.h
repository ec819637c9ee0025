/* evaluate.h: retrieval evaluation of a model on a split, in memory: embed every image, build the exact k-NN graph
 * by the model's own distance (the AVSL distance of its current collector, or Euclidean on L2-normalised baseline
 * embeddings) and average Recall@K / R-Precision / MAP@R. The same numbers as the avsl-embed | avsl-graph |
 * avsl-eval pipeline, without files; avsl-train uses it for its evaluation every --interval epochs.
 */
#ifndef AVSL_EVALUATE_H
#define AVSL_EVALUATE_H

#include "emb.h"
#include "loader.h"
#include "metrics.h"
#include "model.h"

/* One batch of embed_all: b records with embeddings emb[l] (b, D) and certainties cert[l] (b, D) (AVSL; NULL for
 * the baseline), their labels (b) and ids (b). The buffers are reused for the next batch. */
typedef void (*embed_batch_fn)(void *ctx, int b, float *const emb[], float *const cert[], const int32_t *labels,
			       const int64_t *ids);
/* Run the model in eval mode over every record of an eval-mode loader, in order, calling fn per batch; progress on
 * stderr unless quiet. Dies on a loader error or a short read. The loader's batch <= the model's planned batch. */
void embed_all(model *m, loader *l, embed_batch_fn fn, void *ctx, int quiet);

/* Embed every record of an eval-mode loader into s (ids = record indexes). batch <= the model's planned batch.
 * Under mpirun (a loader opened with this rank's rank/world): this rank's records only; see evaluate_gather. */
void evaluate_embed(model *m, loader *l, ave_set *s, int quiet);
/* Under mpirun: replace every rank's part by the whole set, in record order, on rank 0 (the other ranks are left
 * with an empty set). One process: nothing to do. */
void evaluate_gather(ave_set *s);

/* Build the graph with k neighbours (0: the default of knn.h) on m's device and fill the metric means (sliced may
 * be NULL; with slices > 1 it gets the official SOP slice mean). */
void evaluate_metrics(const model *m, const ave_set *s, const long *ks, int nk, uint32_t k, int slices,
		      metrics_mean *global, metrics_mean *sliced, int quiet);

#endif
