/* explain_faith.c: deletion/insertion faithfulness of attribution maps for the AVSL distance (see explain.h and
 * avsl-explain(1), which gives the reason for each choice of the protocol).
 *
 * Reading the scores: deletion removes what a map ranks as the strongest evidence for the pair's similarity, so a
 * faithful map makes d_f RISE fastest (higher deletion AUC is better); insertion starts from the fill image and puts
 * that evidence back first, so a faithful map makes d_f FALL fastest (lower insertion AUC is better). Curves are
 * (d - d_0) / scale, scale = the median distance from the query to its own class.
 */
#include "explain.h"
#include "loader.h"
#include "shard.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const explain_setting_name[EXPLAIN_SETTINGS] = {"pixel-mean", "pixel-blur", "patch-mean", "patch-blur"};

int explain_shard_image(shard_reader *r, uint64_t id, image_u8 *out, int32_t *label, fmt_error *err)
{
	shard_buf buf = {0};
	shard_record rec;
	if (id >= shard_reader_count(r)) {
		shard_buf_free(&buf);
		return fmt_fail(err, "%s: record %llu: out of range (%llu records)", shard_reader_shard_path(r, 0),
				(unsigned long long)id, (unsigned long long)shard_reader_count(r));
	}
	if (shard_reader_get(r, id, &buf, &rec, err)) {
		shard_buf_free(&buf);
		return -1;
	}
	if (rec.height == 0 || rec.width == 0 || (rec.channels != 1 && rec.channels != 3)) {
		shard_buf_free(&buf);
		return fmt_fail(err, "%s: record %llu: unsupported image %ux%ux%u", shard_reader_shard_path(r, 0),
				(unsigned long long)id, rec.height, rec.width, rec.channels);
	}
	out->h = (int)rec.height;
	out->w = (int)rec.width;
	out->c = (int)rec.channels;
	size_t n = (size_t)out->h * out->w * out->c;
	out->px = xmalloc(n);
	memcpy(out->px, rec.pixels, n);
	if (label)
		*label = rec.label;
	shard_buf_free(&buf);
	return 0;
}

/* Embeddings and certainties of every record of the shard: X[l], U[l] (n, D). */
static void embed_all(explain_model *em, const char *shard, float **X, float **U, int32_t **labels, uint64_t *count)
{
	loader_config lc;
	train_config_loader(&em->cfg, 0, &lc);
	lc.batch = 128;
	loader *ld = loader_open_or_die(shard, &lc);
	uint64_t n = loader_count(ld);
	if (n > 0 && n < (uint64_t)lc.batch) { /* as avsl-embed: a batch beyond the records only costs memory */
		loader_close(ld);
		lc.batch = (int)n;
		ld = loader_open_or_die(shard, &lc);
	}
	const int L = em->L, D = em->D;
	for (int l = 0; l < L; l++) {
		X[l] = xmalloc_array((size_t)n, (size_t)D * sizeof(float));
		U[l] = xmalloc_array((size_t)n, (size_t)D * sizeof(float));
	}
	*labels = xmalloc_array((size_t)n, sizeof(int32_t));
	loader_start_epoch(ld, 0);
	const float *x;
	const int32_t *lab;
	const int64_t *ids;
	int b;
	uint64_t done = 0;
	while ((b = loader_next_borrow(ld, &x, &lab, &ids)) > 0) {
		explain_feats *f = xmalloc_array((size_t)b, sizeof *f);
		explain_forward(em, x, b, 0, f);
		for (int i = 0; i < b; i++) {
			uint64_t id = (uint64_t)ids[i];
			for (int l = 0; l < L; l++) {
				memcpy(X[l] + id * D, f[i].xh[l], D * sizeof(float));
				memcpy(U[l] + id * D, f[i].cert[l], D * sizeof(float));
			}
			(*labels)[id] = lab[i];
			explain_feats_free(&f[i]);
		}
		free(f);
		done += (uint64_t)b;
	}
	if (b < 0)
		die("%s", loader_error(ld));
	if (done != n)
		die("%s: embedded %llu of %llu records", shard, (unsigned long long)done, (unsigned long long)n);
	loader_close(ld);
	*count = n;
}

double explain_auc(const float *curve, int steps)
{
	double a = 0;
	for (int s = 0; s < steps; s++)
		a += 0.5 * ((double)curve[s] + curve[s + 1]);
	return a / steps;
}

typedef struct {
	float v, t;
	int i;
} ranked;

static float nan_last(float v) { return isnan(v) ? -INFINITY : v; }

static int cmp_ranked(const void *a, const void *b)
{
	const ranked *x = a, *y = b;
	if (x->v != y->v)
		return x->v < y->v ? 1 : -1; /* descending */
	if (x->t != y->t)
		return x->t < y->t ? 1 : -1;
	return (x->i > y->i) - (x->i < y->i);
}

/* Mean of an (S, S) map over cell (i, k) of the g's grid. */
static float cell_mean(const explain_curve_geom *g, const float *map, int i, int k)
{
	int y0, y1, x0, x1;
	explain_cell_bounds(g->S, g->gh, i, &y0, &y1);
	explain_cell_bounds(g->S, g->gw, k, &x0, &x1);
	double s = 0;
	for (int y = y0; y < y1; y++)
		for (int x = x0; x < x1; x++)
			s += map[y * g->S + x];
	return (float)(s / ((double)(y1 - y0) * (x1 - x0)));
}

int explain_rank_units(const explain_curve_geom *g, int unit, const float *map, const float *tie, int *order)
{
	int U = unit == EXPLAIN_UNIT_PATCH ? g->gh * g->gw : g->S * g->S;
	ranked *r = xmalloc_array((size_t)U, sizeof *r);
	for (int u = 0; u < U; u++) {
		float v, t;
		if (unit == EXPLAIN_UNIT_PATCH) {
			v = cell_mean(g, map, u / g->gw, u % g->gw);
			t = tie ? cell_mean(g, tie, u / g->gw, u % g->gw) : 0.0f;
		} else {
			v = map[u];
			t = tie ? tie[u] : 0.0f;
		}
		r[u] = (ranked){nan_last(v), nan_last(t), u};
	}
	qsort(r, (size_t)U, sizeof *r, cmp_ranked);
	for (int u = 0; u < U; u++)
		order[u] = r[u].i;
	free(r);
	return U;
}

void explain_fill(const explain_curve_geom *g, int fill, const float *xa, float *out)
{
	const int S = g->S;
	const size_t P = (size_t)S * S;
	if (fill == EXPLAIN_FILL_MEAN) {
		memset(out, 0, (size_t)g->C * P * sizeof(float));
		return;
	}
	int R = (int)ceilf(3.0f * g->sigma);
	float *k = xmalloc_array((size_t)2 * R + 1, sizeof(float)); /* (2R + 1) */
	double ks = 0;
	for (int i = -R; i <= R; i++)
		ks += k[i + R] = g->sigma > 0 ? expf(-0.5f * i * i / (g->sigma * g->sigma)) : (i == 0);
	for (int i = 0; i <= 2 * R; i++)
		k[i] = (float)(k[i] / ks);
	float *tmp = xmalloc_array(P, sizeof(float)); /* (S, S) */
	for (int c = 0; c < g->C; c++) {
		const float *in = xa + c * P;
		float *o = out + c * P;
		for (int y = 0; y < S; y++)
			for (int x = 0; x < S; x++) {
				double a = 0;
				for (int i = -R; i <= R; i++) {
					int xx = x + i < 0 ? 0 : (x + i >= S ? S - 1 : x + i);
					a += k[i + R] * in[y * S + xx];
				}
				tmp[y * S + x] = (float)a;
			}
		for (int y = 0; y < S; y++)
			for (int x = 0; x < S; x++) {
				double a = 0;
				for (int i = -R; i <= R; i++) {
					int yy = y + i < 0 ? 0 : (y + i >= S ? S - 1 : y + i);
					a += k[i + R] * tmp[yy * S + x];
				}
				o[y * S + x] = (float)a;
			}
	}
	free(k), free(tmp);
}

int explain_curve_steps(const explain_curve_geom *g, int unit)
{
	int cells = g->gh * g->gw;
	return unit == EXPLAIN_UNIT_PATCH && cells < g->steps ? cells : g->steps;
}

void explain_curves(const explain_curve_geom *g, int unit, int fill, const float *xa, const float *map,
		    const float *tie, explain_dist_fn f, void *ctx, float *del, float *ins)
{
	const int S = g->S, C = g->C, steps = explain_curve_steps(g, unit);
	const size_t P = (size_t)S * S, plane = (size_t)C * P;
	int *order = xmalloc_array(P, sizeof(int));
	int U = explain_rank_units(g, unit, map, tie, order);
	/* rank of each pixel's unit in the deletion order */
	int *rank = xmalloc_array(P, sizeof(int)); /* (S, S) */
	for (int r = 0; r < U; r++) {
		int u = order[r];
		if (unit == EXPLAIN_UNIT_PIXEL) {
			rank[u] = r;
			continue;
		}
		int y0, y1, x0, x1;
		explain_cell_bounds(S, g->gh, u / g->gw, &y0, &y1);
		explain_cell_bounds(S, g->gw, u % g->gw, &x0, &x1);
		for (int y = y0; y < y1; y++)
			for (int x = x0; x < x1; x++)
				rank[y * S + x] = r;
	}
	float *fl = xmalloc_array(plane, sizeof(float)); /* (C, S, S) */
	explain_fill(g, fill, xa, fl);
	const int n = 2 * (steps + 1);
	float *x = xmalloc_array((size_t)n, plane * sizeof(float)); /* (n, C, S, S): deletion steps, then insertion */
	for (int s = 0; s <= steps; s++) {
		int cut = (int)lrint((double)s * U / steps);
		float *xd = x + (size_t)s * plane, *xi = x + (size_t)(steps + 1 + s) * plane;
		for (int c = 0; c < C; c++)
			for (size_t j = 0; j < P; j++) {
				size_t q = c * P + j;
				int gone = rank[j] < cut;
				xd[q] = gone ? fl[q] : xa[q];
				xi[q] = gone ? xa[q] : fl[q];
			}
	}
	float *d = xmalloc_array((size_t)n, sizeof(float));
	f(ctx, x, n, d);
	memcpy(del, d, (size_t)(steps + 1) * sizeof(float));
	memcpy(ins, d + steps + 1, (size_t)(steps + 1) * sizeof(float));
	free(order), free(rank), free(fl), free(x), free(d);
}

void explain_faith_scores(const explain_curve_geom *g, const float *xa, const float *maps, int nmaps, int tie,
			  float d0, float scale, explain_dist_fn f, void *ctx, double *auc)
{
	const size_t P = (size_t)g->S * g->S;
	float *del = xmalloc_array((size_t)g->steps + 1, sizeof(float)), *ins = xmalloc_array((size_t)g->steps + 1,
											       sizeof(float));
	for (int s = 0; s < EXPLAIN_SETTINGS; s++) {
		int unit = s / 2, fill = s % 2, steps = explain_curve_steps(g, unit);
		for (int k = 0; k < nmaps; k++) {
			explain_curves(g, unit, fill, xa, maps + k * P, maps + (size_t)tie * P, f, ctx, del, ins);
			for (int i = 0; i <= steps; i++) {
				del[i] = (del[i] - d0) / scale;
				ins[i] = (ins[i] - d0) / scale;
			}
			auc[((size_t)s * 2 + 0) * nmaps + k] = explain_auc(del, steps);
			auc[((size_t)s * 2 + 1) * nmaps + k] = explain_auc(ins, steps);
		}
	}
	free(del), free(ins);
}

/* d_f of each of the R feature sets in f against b. */
static void dist_to(const explain_model *em, const explain_feats *f, int R, const explain_feats *b, float *out)
{
	const int L = em->L, D = em->D;
	float *X[AVSL_MAX_LEVELS], *U[AVSL_MAX_LEVELS];
	const float *Y[AVSL_MAX_LEVELS], *V[AVSL_MAX_LEVELS];
	for (int l = 0; l < L; l++) {
		X[l] = xmalloc_array((size_t)R * D, sizeof(float));
		U[l] = xmalloc_array((size_t)R * D, sizeof(float));
		for (int r = 0; r < R; r++) {
			memcpy(X[l] + (size_t)r * D, f[r].xh[l], D * sizeof(float));
			memcpy(U[l] + (size_t)r * D, f[r].cert[l], D * sizeof(float));
		}
		Y[l] = b->xh[l];
		V[l] = b->cert[l];
	}
	OP_DO(explain_ctx(em), op_avsl_dist_tile(explain_ctx(em), &em->view, R, (const float *const *)X,
						 (const float *const *)U, 1, Y, V, out, 1));
	for (int l = 0; l < L; l++)
		free(X[l]), free(U[l]);
}

typedef struct {
	explain_model *em;
	const explain_feats *fb;
} model_dist_ctx;

/* explain_dist_fn of the model: d_f of the perturbed images against the fixed partner b. */
static void model_dist(void *ctx, const float *x, int n, float *d)
{
	model_dist_ctx *c = ctx;
	explain_feats *f = xmalloc_array((size_t)n, sizeof *f);
	explain_forward(c->em, x, n, 0, f);
	dist_to(c->em, f, n, c->fb, d);
	for (int i = 0; i < n; i++)
		explain_feats_free(&f[i]);
	free(f);
}

static int cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;
	return (x > y) - (x < y);
}

int explain_find_pairs(explain_model *em, const char *shard, int npairs, explain_pair *out)
{
	const int L = em->L, D = em->D;
	float *X[AVSL_MAX_LEVELS], *U[AVSL_MAX_LEVELS];
	int32_t *labels;
	uint64_t n;
	embed_all(em, shard, X, U, &labels, &n);
	float *row = xmalloc_array((size_t)n, sizeof(float)), *same = xmalloc_array((size_t)n, sizeof(float));
	int cnt = 0;
	for (uint64_t q = 0; q < n && cnt < npairs; q++) {
		const float *xq[AVSL_MAX_LEVELS], *uq[AVSL_MAX_LEVELS];
		for (int l = 0; l < L; l++) {
			xq[l] = X[l] + q * D;
			uq[l] = U[l] + q * D;
		}
		OP_DO(explain_ctx(em), op_avsl_dist_tile(explain_ctx(em), &em->view, 1, xq, uq, (int)n,
							 (const float *const *)X, (const float *const *)U, row, (int64_t)n));
		int64_t best = -1;
		int ns = 0;
		for (uint64_t j = 0; j < n; j++)
			if (j != q && labels[j] == labels[q]) {
				same[ns++] = row[j];
				if (best < 0 || row[j] < row[best])
					best = (int64_t)j;
			}
		if (best < 0 || !(row[best] > 0))
			continue;
		qsort(same, (size_t)ns, sizeof *same, cmp_float);
		float med = ns % 2 ? same[ns / 2] : 0.5f * (same[ns / 2 - 1] + same[ns / 2]);
		out[cnt++] = (explain_pair){(int64_t)q, best, labels[q], row[best], med > 0 ? med : 1.0f};
	}
	for (int l = 0; l < L; l++)
		free(X[l]), free(U[l]);
	free(labels), free(row), free(same);
	return cnt;
}

void explain_faithfulness(explain_model *em, const char *shard, int npairs, const explain_faith_config *fc,
			  explain_faith_result *res)
{
	memset(res, 0, sizeof *res);
	explain_map_set_init(&res->ms, em->L);
	const int NM = res->ms.n, L = em->L, S = em->S;
	explain_curve_geom g = {em->Cin, S, fc->steps, em->H[L - 1], em->W[L - 1], 0.5f * (float)S / em->H[L - 1]};
	for (int s = 0; s < EXPLAIN_SETTINGS; s++)
		res->steps[s] = explain_curve_steps(&g, s / 2);
	explain_pair *pr = xmalloc_array((size_t)npairs, sizeof *pr);
	int np = explain_find_pairs(em, shard, npairs, pr);
	res->auc = xmalloc_array((size_t)(np > 0 ? np : 1) * EXPLAIN_SETTINGS * 2, (size_t)NM * sizeof(double));
	shard_reader *rd;
	fmt_error err;
	if (shard_reader_open(&rd, shard, &err))
		die("%s", err.msg);
	const size_t plane = (size_t)em->Cin * S * S;
	float *x = xmalloc_array(2, plane * sizeof(float));
	float *maps = xmalloc_array((size_t)NM * S, (size_t)S * sizeof(float)); /* (NM, S, S) */
	for (int p = 0; p < np; p++) {
		image_u8 ia = {0}, ib = {0};
		if (explain_shard_image(rd, (uint64_t)pr[p].a, &ia, NULL, &err) ||
		    explain_shard_image(rd, (uint64_t)pr[p].b, &ib, NULL, &err))
			die("%s", err.msg);
		explain_image_tensor(em, &ia, x);
		explain_image_tensor(em, &ib, x + plane);
		explain_feats f[2];
		explain_forward(em, x, 2, 1, f);
		explain_decomp d;
		explain_decompose(&em->view, (const float *const *)f[0].xh, (const float *const *)f[0].cert,
				  (const float *const *)f[1].xh, (const float *const *)f[1].cert, &d);
		explain_maps_all(em, &f[0], &f[1], &d, fc->attr_k, fc->seed + (uint64_t)pr[p].a, maps);
		model_dist_ctx ctx = {em, &f[1]};
		double *auc = res->auc + (size_t)p * EXPLAIN_SETTINGS * 2 * NM;
		explain_faith_scores(&g, x, maps, NM, res->ms.tie, d.df, pr[p].scale, model_dist, &ctx, auc);
		res->pairs++;
		if (fc->verbose)
			warn("pair %d: records %lld and %lld (class %d), d_0 %.4g, scale %.4g: pixel-mean deletion AUC "
			     "avsl %.3f random-l%d %.3f",
			     p + 1, (long long)pr[p].a, (long long)pr[p].b, pr[p].label, d.df, pr[p].scale, auc[0], L - 1,
			     auc[res->ms.tie]);
		explain_decomp_free(&d);
		explain_feats_free(&f[0]);
		explain_feats_free(&f[1]);
		image_free(&ia);
		image_free(&ib);
	}
	shard_reader_close(rd);
	free(pr), free(x), free(maps);
}

void explain_faith_free(explain_faith_result *res)
{
	free(res->auc);
	memset(res, 0, sizeof *res);
}
