/* knn.h: exact k-nearest-neighbour graphs over embedding sets, by tiles with a running top-k per query.
 *
 * Memory is O(queries * k + tile * gallery-tile * threads), never queries x gallery. Distances (smaller = nearer):
 *   avsl      the AVSL eval distance d_f (method §3.3, §3.6); needs certainties and a collector (-m checkpoint)
 *   levels    d_0 + d_1 + ... : sum over levels of squared Euclidean distances of p-normalised embeddings (p = 2)
 *   level:N   d_N alone
 *   l2        squared Euclidean distance of the L2-normalised embeddings (all levels concatenated, then
 *             normalised): the baseline evaluator's ranking (squared as in formats/graph.md and faiss IndexFlatL2)
 *   cosine    1 - cosine similarity of the same vectors
 *   avsl-linear  the AVSL distance with every gate fixed at its gallery-mean value: then d_f is linear in the
 *             per-dimension differences, sum_l sum_n w_l[n] (x_l[n] - y_l[n])^2 of the p-normalised levels (p = 2),
 *             i.e. a weighted levels distance, computed as a dot metric (rerank.h: rerank_linear_weights).
 *             Needs a collector; a cheap shortlist for --rerank that tracks the exact metric closely.
 * The plain metrics use op_dot_tile (on the CPU one fma chain per pair), so results are bit-identical for any tile
 * size, thread count or shard split. Ties are broken by ascending gallery index (op_topk_merge, kernels/ops.h). When the gallery is the query set the
 * query's own index is excluded (an exact duplicate with another index stays, and counts).
 */
#ifndef AVSL_KNN_H
#define AVSL_KNN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ops.h"
#include "emb.h"
#include "graph.h"

typedef enum { KNN_AVSL, KNN_LEVELS, KNN_LEVEL, KNN_L2, KNN_COSINE, KNN_AVSL_LINEAR } knn_metric_kind;

typedef struct {
	knn_metric_kind kind;
	int level;                         /* KNN_LEVEL: which level */
	const avsl_collector_view *avsl;   /* KNN_AVSL: the collector (borrowed); also gives p for levels */
} knn_metric;

/* Parse "avsl", "levels", "level:N", "l2", "cosine", "avsl-linear". Returns 0, or -1 with *why. */
int knn_metric_parse(const char *s, knn_metric *m, const char **why);
/* The name stored in the graph header ("level:2", ...). buf: 32 bytes. */
void knn_metric_name(const knn_metric *m, char *buf);

typedef struct knn_prepared knn_prepared;

enum { KNN_DEVICE_TILE_DEFAULT = 256 << 20 }; /* bytes */
/* Alternative sink (the re-ranker's shortlist): query qi's n nearest gallery indices and distances, ascending. */
typedef void (*knn_emit_index_fn)(void *ctx, uint64_t qi, uint32_t n_relevant, const int32_t *idx, const float *dist,
				  uint32_t n);

typedef struct {
	const ave_set *query;
	const ave_set *gallery;  /* may equal query: then the query's own index is excluded */
	knn_metric metric;
	uint32_t k;              /* neighbours per query (fewer when the gallery is smaller) */
	int threads;             /* >= 1 (the device's) */
	op_ctx *ctx;             /* the device's op context (avsl_device.ctx), borrowed; NULL: a CPU one with `threads` per
				  * run (tests of the CPU path) */
	op_ctx *more_ctx;        /* a GPU list (avsl_device.more, n_more of them; ctx the first): the row blocks are
				  * computed round robin on ctx and these, each by a host thread of its own, and emitted in
				  * query order: the same output as ctx alone. Not with .prepared (a stream: ctx only) */
	int n_more;
	int tile;                /* rows (and gallery columns) per tile, >= 1 */
	size_t device_tile_bytes; /* the AVSL metric on a device (ctx CUDA): device memory of one distance tile, which
				  * sets its gallery columns (avsl-graph --tile-budget); 0: KNN_DEVICE_TILE_DEFAULT */
	uint64_t q_begin, q_end; /* the queries to compute: [q_begin, q_end) (a --shard part) */
	int quiet;               /* no progress on stderr */
	const char *label;       /* progress label */
	/* Two-stage search (rerank.c): with rerank = C > 0 and metric avsl, the C nearest gallery items by the
	 * shortlist metric (exact tiles), then the exact metric on those C only. */
	uint32_t rerank;
	knn_metric shortlist;
	const knn_prepared *prepared; /* the gallery as knn_prepare left it (a query stream); NULL: prepared per run */
	knn_emit_index_fn emit_index; /* when set, called instead of emit (gallery indices instead of records) */
	void (*block_done)(void *ctx); /* when set, called after the last query of every row block was emitted */
} knn_opts;

/* Called once per query, in query order, as soon as its row block is finished. nb: q->count entries. */
typedef void (*knn_emit_fn)(void *ctx, uint64_t qi, const avg_query *q, const avg_neighbour *nb);

/* Check that query and gallery fit the metric (levels, dims, certainties). 0 or -1 with a message in err. */
int knn_check(const knn_opts *o, char *err, size_t errlen);
/* Compute the graph and call emit for every query in [q_begin, q_end). 0 or -1 with a message in err. */
int knn_run(const knn_opts *o, knn_emit_fn emit, void *ctx, char *err, size_t errlen);

/* Prepare o->gallery once for many knn_run calls on blocks of queries (avsl-graph -g reading a query stream):
 * the normalised copies the scanned metric needs (the shortlist metric when re-ranking) and the sorted labels.
 * Every later knn_opts must name the same gallery, metric and shortlist; set its .prepared. */
knn_prepared *knn_prepare(const knn_opts *o);
void knn_prepared_free(knn_prepared *p);
/* The re-rank stage's p-normalised gallery rows held by p (per level), or NULL. */
const float *const *knn_prepared_rows(const knn_prepared *p);
/* On a device: the certainties of those rows in device memory (per level), else NULL. */
const float *const *knn_prepared_certs(const knn_prepared *p);

/* Gallery items per query label, the query itself excluded when gallery == query: n_rel (query->n). */
void knn_relevant_counts(const ave_set *query, const ave_set *gallery, uint32_t *n_rel);
/* Default k: max(100, largest n_relevant), at most 1023 (so MAP@R is exact for classes of up to 1024 items). */
uint32_t knn_default_k(const ave_set *query, const ave_set *gallery);

/* The full (q_end - q_begin) x gallery distance matrix as .npy float32 (row-major) on fp. 0 or -1 with err. */
int knn_dense_npy(const knn_opts *o, FILE *fp, char *err, size_t errlen);

/* "--shard i/n": part i (0-based) of n; 0 or -1 with *why. Part i covers queries [i*N/n, (i+1)*N/n). */
int knn_shard_parse(const char *s, uint64_t *i, uint64_t *n, const char **why);
void knn_shard_range(uint64_t N, uint64_t i, uint64_t n, uint64_t *begin, uint64_t *end);

#endif
