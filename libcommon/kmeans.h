/* kmeans.h: k-means clustering and the NMI of a clustering against class labels (avsl-eval --nmi), as metric
 * learning papers report it (pytorch-metric-learning's AccuracyCalculator: faiss k-means with k = the number of
 * classes, then sklearn's normalized_mutual_info_score).
 *
 * k-means here follows faiss's Clustering defaults: k distinct points drawn uniformly at random as the initial
 * centroids (Philox, stream fixed by the seed: the same clusters for any thread count), then `iters` Lloyd steps
 * (20 in faiss), stopping early once no assignment changes (a fixed point; further steps change nothing).
 * Ties go to the lowest centroid index. A centroid left empty takes the point farthest from its own centroid (one
 * point per empty cluster, in centroid order), so every cluster stays populated (faiss splits a large one instead).
 * Distances are squared Euclidean, |x|^2 + |c|^2 - 2 x.c with op_dot_tile (deterministic for any tiling).
 */
#ifndef AVSL_KMEANS_H
#define AVSL_KMEANS_H

#include <stdint.h>

/* x: (n, D) points; k: 1..n clusters. assign: (n) cluster of each point, in [0, k). Returns the iterations run. */
int kmeans(const float *x, uint64_t n, int D, uint32_t k, int iters, uint64_t seed, int threads, int32_t *assign);

/* NMI of two labelings of n items: I(A; B) / ((H(A) + H(B)) / 2) (sklearn's default "arithmetic" average), in
 * [0, 1]; 1 when both labelings are a single class or identical up to renaming. */
double nmi(const int32_t *a, const int32_t *b, uint64_t n);

#endif
