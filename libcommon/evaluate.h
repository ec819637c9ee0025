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

/* Embed every record of an eval-mode loader into s (ids = record indexes). batch <= the model's planned batch. */
void evaluate_embed(model *m, loader *l, ave_set *s, int quiet);

/* Build the graph with k neighbours (0: the default of knn.h) and fill the metric means (sliced may be NULL; with
 * slices > 1 it gets the official SOP slice mean). threads: CPU threads. */
void evaluate_metrics(const model *m, const ave_set *s, const long *ks, int nk, uint32_t k, int threads,
		      int slices, metrics_mean *global, metrics_mean *sliced, int quiet);

#endif
