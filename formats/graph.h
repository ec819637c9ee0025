/* graph.h: the neighbour graph (.avg): a header, then one record per query; see formats/graph.md.
 *
 * Written by avsl-graph, read by avsl-eval. Each query record carries its own label and the number of gallery items
 * that share it (self excluded), so avsl-eval computes R-Precision and MAP@R from the graph alone. Neighbours are
 * sorted by ascending distance (ties: ascending gallery index, see graph.md).
 */
#ifndef AVSL_GRAPH_H
#define AVSL_GRAPH_H

#include <stdint.h>
#include <stdio.h>

#include "fmt_error.h"

#define AVG_COUNT_UNKNOWN UINT64_MAX
enum { AVG_MAX_K = 1 << 24 };

typedef struct {
	uint32_t k;          /* neighbours per query (a record may hold fewer when the gallery is small) */
	uint64_t nq;         /* queries, or AVG_COUNT_UNKNOWN */
	char metric[32];     /* NUL-terminated: "avsl", "levels", "level:1", "l2", "cosine", ... */
} avg_header;

typedef struct {
	int64_t id;
	int32_t label;
	uint32_t n_relevant; /* gallery items with this label, the query itself excluded */
	uint32_t count;      /* neighbours that follow, <= k */
} avg_query;

typedef struct {
	int64_t id;
	int32_t label;
	float dist;
} avg_neighbour;

/* Check k (1..AVG_MAX_K) and metric (1..31 printable ASCII characters, no spaces, NUL-terminated). */
int avg_check_header(const avg_header *h, const char *name, fmt_error *err);

int avg_write_header(FILE *fp, const char *name, const avg_header *h, fmt_error *err);
int avg_write_query(FILE *fp, const char *name, const avg_header *h, const avg_query *q, const avg_neighbour *nb,
		    fmt_error *err);
int avg_read_header(FILE *fp, const char *name, avg_header *h, fmt_error *err);
/* nb has room for h->k entries. Returns 1 for a query, 0 at a clean end, -1 on error. */
int avg_read_query(FILE *fp, const char *name, const avg_header *h, uint64_t index, avg_query *q, avg_neighbour *nb,
		   fmt_error *err);

#endif
