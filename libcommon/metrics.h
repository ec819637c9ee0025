/* metrics.h: retrieval metrics from a neighbour graph: Recall@K, Precision@K, R-Precision, MAP@R.
 *
 * Definitions (method §7.1; "A Metric Learning Reality Check", Musgrave et al. 2020). For a query q with label y,
 * R = n_relevant (gallery items labelled y, q itself excluded) and neighbours 1..n in graph order:
 *   match_j      = [label of neighbour j == y]
 *   Recall@K     = [some match_j = 1 for j <= K]
 *   Precision@K  = (sum_{j <= K} match_j) / K
 *   R-Precision  = (sum_{j <= R} match_j) / R
 *   MAP@R        = (1/R) sum_{j <= R} match_j * (sum_{i <= j} match_i) / j
 * Lone queries (R = 0) are excluded from every mean and counted. When the graph holds fewer than R neighbours for a
 * query ("truncated"), R-Precision and MAP@R use the neighbours available (a lower bound) and are counted.
 * Means: the global mean over evaluated queries, and the slice mean (SOP protocol, method §7.3): the queries in
 * input order cut into S slices of floor(N/S) rows plus one remainder slice, each slice averaged over its evaluated
 * queries, then the unweighted mean over the slices that have any.
 */
#ifndef AVSL_METRICS_H
#define AVSL_METRICS_H

#include <stdint.h>
#include <stdio.h>

#include "graph.h"

enum { METRICS_MAX_K = 32 };

typedef struct {
	int nk;
	long ks[METRICS_MAX_K];
	uint64_t n;        /* queries added (lone included) */
	uint64_t cap;
	float *v;          /* (n, 2 * nk + 2) per query: recall@k..., precision@k..., R-Precision, MAP@R */
	uint8_t *lone;     /* (n) */
	uint64_t n_lone, n_trunc;
} metrics_acc;

typedef struct {
	double recall[METRICS_MAX_K], precision[METRICS_MAX_K], r_precision, map_at_r;
	uint64_t evaluated; /* global: queries averaged; slices: slices averaged */
	uint64_t slices;    /* slices formed (slice mean only) */
} metrics_mean;

/* ks: the K list (each >= 1), nk <= METRICS_MAX_K. */
void metrics_init(metrics_acc *m, const long *ks, int nk);
void metrics_free(metrics_acc *m);
/* One query record and its q->count neighbours (graph order). */
void metrics_add(metrics_acc *m, const avg_query *q, const avg_neighbour *nb);
/* Global mean over the evaluated (non-lone) queries. */
void metrics_global(const metrics_acc *m, metrics_mean *out);
/* Slice mean with S slices (1 <= S <= n). Returns 0, or -1 when S is out of range. */
int metrics_sliced(const metrics_acc *m, uint64_t S, metrics_mean *out);

/* Print the table (text) or one JSON object on fp. sliced may be NULL (no --slice-mean); S its slice count.
 * Text values are percentages (2 decimals) when percent is set, else fractions (4 decimals); JSON values are always
 * fractions in [0, 1]. nmi: the k-means NMI (a fraction; kmeans.h) or NULL. */
void metrics_print(FILE *fp, const metrics_acc *m, const metrics_mean *global, const metrics_mean *sliced,
		   uint64_t S, int precision, int json, int percent, const double *nmi);

#endif
