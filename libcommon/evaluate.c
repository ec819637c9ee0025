/* evaluate.c: see evaluate.h. */
#include "evaluate.h"
#include "dist.h"
#include "knn.h"
#include "progress.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

void embed_all(model *m, loader *l, embed_batch_fn fn, void *ctx, int quiet)
{
	uint64_t n = loader_rank_count(l); /* this rank's part under mpirun */
	int L = model_levels(m), cert = model_has_cert(m), cap = m->embed_n;
	float *emb[MODEL_LEVELS] = {0}, *cr[MODEL_LEVELS] = {0};
	for (int lv = 0; lv < L; lv++) {
		emb[lv] = xmalloc_array((size_t)cap, (size_t)m->D * sizeof(float)); /* (cap, D) */
		if (cert)
			cr[lv] = xmalloc_array((size_t)cap, (size_t)m->D * sizeof(float)); /* (cap, D) */
	}
	loader_start_epoch(l, 0);
	progress pr = {0};
	progress_start(&pr, "embed", "img", n, quiet);
	const float *x;
	const int32_t *labels;
	const int64_t *ids;
	uint64_t done = 0;
	int b;
	while ((b = loader_next_borrow(l, &x, &labels, &ids)) > 0) {
		if (done + (uint64_t)b > n)
			die("internal error: the loader returned more records than it holds");
		model_embed(m, x, b, emb, cert ? cr : NULL);
		fn(ctx, b, emb, cert ? cr : NULL, labels, ids);
		done += (uint64_t)b;
		progress_add(&pr, (uint64_t)b);
	}
	if (b < 0)
		die("%s", loader_error(l));
	if (done != n)
		die("internal error: embedded %llu of %llu records", (unsigned long long)done, (unsigned long long)n);
	progress_end(&pr);
	for (int lv = 0; lv < L; lv++)
		free(emb[lv]), free(cr[lv]);
}

/* embed_all callback of evaluate_embed: append the batch to the set. */
static void append_batch(void *ctx, int b, float *const emb[], float *const cert[], const int32_t *labels,
			 const int64_t *ids)
{
	ave_set *s = ctx;
	uint64_t at = s->n;
	for (uint32_t lv = 0; lv < s->h.levels; lv++) {
		size_t D = s->h.dim[lv];
		memcpy(s->emb[lv] + at * D, emb[lv], (size_t)b * D * sizeof(float));
		if (cert)
			memcpy(s->cert[lv] + at * D, cert[lv], (size_t)b * D * sizeof(float));
	}
	memcpy(s->label + at, labels, (size_t)b * sizeof *labels);
	memcpy(s->id + at, ids, (size_t)b * sizeof *ids);
	s->n += (uint64_t)b;
}

void evaluate_embed(model *m, loader *l, ave_set *s, int quiet)
{
	memset(s, 0, sizeof *s);
	uint64_t n = loader_rank_count(l);
	int L = model_levels(m), cert = model_has_cert(m);
	s->h.levels = (uint32_t)L;
	s->h.has_cert = cert;
	s->h.kind = cert ? AVE_KIND_AVSL : AVE_KIND_BASELINE;
	s->h.count = n;
	s->id = xmalloc_array(n ? n : 1, sizeof *s->id);
	s->label = xmalloc_array(n ? n : 1, sizeof *s->label);
	for (int lv = 0; lv < L; lv++) {
		s->h.dim[lv] = (uint32_t)m->D;
		s->emb[lv] = xmalloc_array(n ? n : 1, (size_t)m->D * sizeof(float));
		if (cert)
			s->cert[lv] = xmalloc_array(n ? n : 1, (size_t)m->D * sizeof(float));
	}
	embed_all(m, l, append_batch, s, quiet); /* s->n counts the records appended */
}

static void add_query(void *ctx, uint64_t qi, const avg_query *q, const avg_neighbour *nb)
{
	(void)qi;
	metrics_add(ctx, q, nb);
}

void evaluate_metrics(const model *m, const ave_set *s, const long *ks, int nk, uint32_t k, int slices,
		      metrics_mean *global, metrics_mean *sliced, int quiet)
{
	avsl_collector_view view;
	float *s_hat = NULL;
	knn_opts o = {0};
	o.query = o.gallery = s;
	if (m->avsl) {
		s_hat = xmalloc_array((size_t)(MODEL_LEVELS - 1) * m->D, (size_t)m->D * sizeof(float));
		model_collector_view(m, &view, s_hat);
		o.metric.kind = KNN_AVSL;
		o.metric.avsl = &view;
	} else {
		o.metric.kind = KNN_L2;
	}
	o.k = k ? k : knn_default_k(s, s);
	for (int i = 0; i < nk; i++)
		if ((uint32_t)ks[i] > o.k)
			o.k = (uint32_t)ks[i];
	if (s->n > 0 && o.k > s->n - 1)
		o.k = (uint32_t)(s->n - 1);
	if (o.k < 1)
		o.k = 1;
	o.threads = m->dev->threads;
	o.ctx = &m->dev->ctx;
	/* the search runs on the model's device, every metric (knn_device.h) */
	o.tile = 256;
	o.q_begin = 0;
	o.q_end = s->n;
	o.quiet = quiet;
	o.label = "graph";
	metrics_acc acc;
	metrics_init(&acc, ks, nk);
	char err[512];
	if (knn_check(&o, err, sizeof err) || knn_run(&o, add_query, &acc, err, sizeof err))
		die("evaluation: %s", err);
	metrics_global(&acc, global);
	if (sliced && slices > 1 && metrics_sliced(&acc, (uint64_t)slices, sliced))
		die("evaluation: --test_split_num %d: more slices than the %llu queries", slices,
		    (unsigned long long)s->n);
	metrics_free(&acc);
	free(s_hat);
}

void evaluate_gather(ave_set *s)
{
	if (dist_world() == 1)
		return;
	if (s->n > (uint64_t)INT32_MAX)
		die("internal error: %llu records on one rank", (unsigned long long)s->n);
	dist_rows rows;
	dist_rows_plan(&rows, (int)s->n);
	ave_set g = {.h = s->h, .n = dist_rank() == 0 ? (uint64_t)rows.total : 0};
	g.h.count = g.n;
	size_t n = g.n ? g.n : 1;
	g.id = xmalloc_array(n, sizeof *g.id);
	g.label = xmalloc_array(n, sizeof *g.label);
	dist_gather_rows(&rows, s->id, sizeof *s->id, g.id, 0);
	dist_gather_rows(&rows, s->label, sizeof *s->label, g.label, 0);
	for (uint32_t lv = 0; lv < s->h.levels; lv++) {
		size_t row = (size_t)s->h.dim[lv] * sizeof(float);
		g.emb[lv] = xmalloc_array(n, row);
		dist_gather_rows(&rows, s->emb[lv], row, g.emb[lv], 0);
		if (s->cert[lv]) {
			g.cert[lv] = xmalloc_array(n, row);
			dist_gather_rows(&rows, s->cert[lv], row, g.cert[lv], 0);
		}
	}
	dist_rows_free(&rows);
	ave_free(s);
	*s = g;
}
