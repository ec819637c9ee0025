/* graph_parts.c: see graph_parts.h. */
#include "graph_parts.h"
#include "cli.h"
#include "dist.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void avg_sink_emit(void *ctx, uint64_t qi, const avg_query *q, const avg_neighbour *nb)
{
	avg_sink *s = ctx;
	fmt_error err;
	(void)qi;
	if (avg_write_query(s->fp, s->path, s->h, q, nb, &err) != 0)
		die("%s", err.msg);
}

/* Open output (temporary name until out_commit) and write the header. */
static void open_graph(out_file *out, const char *output, const avg_header *h)
{
	fmt_error err;
	out_open(out, output, 1);
	if (avg_write_header(out->fp, out->path, h, &err) != 0) {
		out_abort(out);
		die("%s", err.msg);
	}
}

/* One process: the records straight into the output. */
static void write_one(const knn_opts *o, const avg_header *h, const char *output, const char *input)
{
	out_file out;
	open_graph(&out, output, h);
	avg_sink s = {out.fp, out.path, h};
	char err[512];
	if (knn_run(o, avg_sink_emit, &s, err, sizeof err) != 0) {
		out_abort(&out);
		die("%s: %s", input, err);
	}
	out_commit(&out);
}

void graph_write(const knn_opts *o, const avg_header *h, const char *output, const char *input)
{
	if (dist_world() == 1) {
		write_one(o, h, output, input);
		return;
	}
	/* this rank's queries, written as records into memory */
	knn_opts mine = *o;
	uint64_t n = o->q_end - o->q_begin;
	knn_shard_range(n, (uint64_t)dist_rank(), (uint64_t)dist_world(), &mine.q_begin, &mine.q_end);
	mine.q_begin += o->q_begin, mine.q_end += o->q_begin;
	mine.quiet = o->quiet || dist_rank() != 0;
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&buf, &len);
	if (!mem)
		die("out of memory for the graph records");
	avg_sink s = {mem, output, h};
	char err[512];
	if (knn_run(&mine, avg_sink_emit, &s, err, sizeof err) != 0)
		die("%s: %s", input, err);
	if (fclose(mem) != 0)
		die("out of memory for the graph records");
	if (len > (size_t)INT32_MAX)
		die("%s: a rank's part of the graph is over 2 GB; use more ranks", input);
	/* rank 0 gathers the bytes in rank (= query) order */
	dist_rows rows;
	dist_rows_plan(&rows, (int)len);
	char *all = dist_rank() == 0 ? xmalloc((size_t)rows.total + 1) : NULL;
	dist_gather_rows(&rows, buf, 1, all, 0);
	if (dist_rank() == 0) {
		out_file out;
		open_graph(&out, output, h);
		if (fwrite(all, 1, (size_t)rows.total, out.fp) != (size_t)rows.total) {
			out_abort(&out);
			die("%s: write error", output);
		}
		out_commit(&out);
	}
	dist_rows_free(&rows);
	free(all);
	free(buf);
}

void graph_merge(const char *output, char *const parts[], int n)
{
	avg_header h = {0}, p;
	fmt_error err;
	/* headers first: nothing is written unless every part fits */
	for (int i = 0; i < n; i++) {
		FILE *fp = in_open(parts[i]);
		if (avg_read_header(fp, parts[i], &p, &err) != 0)
			die("%s", err.msg);
		in_close(fp);
		if (p.nq == AVG_COUNT_UNKNOWN)
			die("%s: the query count is unknown; --merge needs parts written by avsl-graph", parts[i]);
		if (i == 0) {
			h = p;
			h.nq = 0;
		} else if (p.k != h.k || strcmp(p.metric, h.metric) != 0) {
			die("%s: k %u, metric %s; %s has k %u, metric %s", parts[i], p.k, p.metric, parts[0], h.k, h.metric);
		}
		h.nq += p.nq;
	}
	out_file out;
	open_graph(&out, output, &h);
	avg_neighbour *nb = xmalloc_array(h.k, sizeof *nb);
	for (int i = 0; i < n; i++) {
		FILE *fp = in_open(parts[i]);
		if (avg_read_header(fp, parts[i], &p, &err) != 0)
			die("%s", err.msg);
		avg_query q;
		uint64_t j = 0;
		int r;
		while ((r = avg_read_query(fp, parts[i], &p, j, &q, nb, &err)) == 1) {
			if (avg_write_query(out.fp, out.path, &h, &q, nb, &err) != 0) {
				out_abort(&out);
				die("%s", err.msg);
			}
			j++;
		}
		if (r < 0) {
			out_abort(&out);
			die("%s", err.msg);
		}
		if (j != p.nq) {
			out_abort(&out);
			die("%s: %llu of %llu queries", parts[i], (unsigned long long)j, (unsigned long long)p.nq);
		}
		in_close(fp);
	}
	free(nb);
	out_commit(&out);
}
