/* graph_parts.h: neighbour graphs (.avg) written whole or computed in parts: by the ranks of an mpirun job (graph_write) or by the
 * jobs of an array with --shard i/n (graph_merge). Either way the one output is byte-identical to the one-process
 * graph of the whole query range, because every query's neighbours are computed independently of the split
 * (knn.h). */
#ifndef AVSL_GRAPH_PARTS_H
#define AVSL_GRAPH_PARTS_H

#include <stdio.h>

#include "graph.h"
#include "knn.h"

/* A knn_run callback (knn.h) that appends each query's record to an open .avg stream after its header h; dies on a
 * write error (die() removes the pending temporary of the output). ctx: an avg_sink. */
typedef struct {
	FILE *fp;
	const char *path; /* named in messages */
	const avg_header *h;
} avg_sink;
void avg_sink_emit(void *ctx, uint64_t qi, const avg_query *q, const avg_neighbour *nb);

/* Write the graph of the queries [o->q_begin, o->q_end): header h, then every query's record in query order, to
 * output ("-": stdout). Under mpirun rank r computes part r of the queries (knn_shard_range), rank 0 gathers the
 * records and writes them all; the other ranks write nothing. input names the embeddings in messages. Dies on
 * errors. */
void graph_write(const knn_opts *o, const avg_header *h, const char *output, const char *input);

/* Concatenate the graphs parts[0..n) (the --shard 0/n .. n-1/n outputs, in that order) into output: the same k and
 * metric in every part, nq the sum. Dies naming the part that is unreadable or does not match. */
void graph_merge(const char *output, char *const parts[], int n);

#endif
