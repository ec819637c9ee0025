/* explain_faith.c: deletion/insertion faithfulness of attribution maps for the AVSL distance (see explain.h).
 *
 * Reading the scores: deletion removes the pixels a map ranks as the strongest evidence for the pair's similarity,
 * so a faithful map makes d_f RISE fastest (higher deletion AUC is better); insertion starts from the all-mean image
 * and adds those pixels back first, so a faithful map makes d_f FALL fastest (lower insertion AUC is better). Both
 * curves are divided by the unperturbed d_f (1 = unchanged).
 */
#include "explain.h"
#include "loader.h"
#include "shard.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const explain_faith_method_name[EXPLAIN_FAITH_METHODS] = {"avsl", "cam-last", "random"};

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

double explain_auc(const float *curve, int steps)
{
	double a = 0;
	for (int s = 0; s < steps; s++)
		a += 0.5 * ((double)curve[s] + curve[s + 1]);
	return a / steps;
}

typedef struct {
	float v;
	int i;
} ranked;

static int cmp_ranked(const void *a, const void *b)
{
	const ranked *x = a, *y = b;
	if (x->v != y->v)
		return x->v < y->v ? 1 : -1; /* descending */
	return (x->i > y->i) - (x->i < y->i);
}

void explain_rank_pixels(const float *map, int P, int *order)
{
	ranked *r = xmalloc_array((size_t)P, sizeof *r);
	for (int i = 0; i < P; i++)
		r[i] = (ranked){isnan(map[i]) ? -INFINITY : map[i], i};
	qsort(r, (size_t)P, sizeof *r, cmp_ranked);
	for (int i = 0; i < P; i++)
		order[i] = r[i].i;
	free(r);
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
	avsl_dist_tile(&em->view, R, (const float *const *)X, (const float *const *)U, 1, Y, V, out, 1,
		       em->cfg.threads > 0 ? em->cfg.threads : 1);
	for (int l = 0; l < L; l++)
		free(X[l]), free(U[l]);
}

int explain_faith_pair(explain_model *em, const explain_faith_config *fc, const float *xa, const explain_feats *fa,
		       const explain_feats *fb, float *del, float *ins, double del_auc[], double ins_auc[])
{
	const int S = em->S, P = S * S, C = em->Cin, steps = fc->steps, M = EXPLAIN_FAITH_METHODS;
	const size_t plane = (size_t)C * P;
	explain_decomp d;
	explain_decompose(&em->view, (const float *const *)fa->xh, (const float *const *)fa->cert,
			  (const float *const *)fb->xh, (const float *const *)fb->cert, &d);
	float d0 = d.df;
	if (!(d0 > 0)) {
		explain_decomp_free(&d);
		return -1;
	}
	float *e = xmalloc_array((size_t)em->L * em->D, sizeof(float));
	explain_evidence(&d, fa, fb, e);
	float *map = xmalloc_array((size_t)M * P, sizeof(float));
	explain_map_avsl(em, fa, e, fc->attr_k, map);
	explain_map_cam(em, fa, map + P);
	explain_map_random(S, fc->seed, map + 2 * P);

	/* Per method: deletion steps 0..steps, then insertion steps 0..steps. */
	const int per = 2 * (steps + 1), R = M * per;
	float *x = xmalloc_array((size_t)R, plane * sizeof(float));
	int *order = xmalloc_array((size_t)P, sizeof(int));
	for (int k = 0; k < M; k++) {
		explain_rank_pixels(map + (size_t)k * P, P, order);
		for (int s = 0; s <= steps; s++) {
			int cut = (int)lrint((double)s * P / steps);
			float *xd = x + ((size_t)k * per + s) * plane, *xi = x + ((size_t)k * per + steps + 1 + s) * plane;
			memcpy(xd, xa, plane * sizeof(float));
			memset(xi, 0, plane * sizeof(float));
			for (int q = 0; q < cut; q++)
				for (int c = 0; c < C; c++) {
					size_t j = (size_t)c * P + order[q];
					xd[j] = 0.0f;
					xi[j] = xa[j];
				}
		}
	}
	/* One method per forward pass, so the trunk's activations stay small for ResNet-50 at 224 px. */
	explain_feats *f = xmalloc_array((size_t)R, sizeof *f);
	float *dist = xmalloc_array((size_t)R, sizeof(float));
	for (int k = 0; k < M; k++) {
		explain_forward(em, x + (size_t)k * per * plane, per, 0, f + (size_t)k * per);
		dist_to(em, f + (size_t)k * per, per, fb, dist + (size_t)k * per);
	}
	for (int k = 0; k < M; k++) {
		for (int s = 0; s <= steps; s++) {
			del[(size_t)k * (steps + 1) + s] = dist[(size_t)k * per + s] / d0;
			ins[(size_t)k * (steps + 1) + s] = dist[(size_t)k * per + steps + 1 + s] / d0;
		}
		del_auc[k] = explain_auc(del + (size_t)k * (steps + 1), steps);
		ins_auc[k] = explain_auc(ins + (size_t)k * (steps + 1), steps);
	}
	for (int r = 0; r < R; r++)
		explain_feats_free(&f[r]);
	free(f), free(dist), free(x), free(order), free(map), free(e);
	explain_decomp_free(&d);
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

void explain_faithfulness(explain_model *em, const char *shard, int npairs, const explain_faith_config *fc,
			  explain_faith_result *res, float *mean_del, float *mean_ins)
{
	const int L = em->L, D = em->D, M = EXPLAIN_FAITH_METHODS, K1 = fc->steps + 1;
	float *X[AVSL_MAX_LEVELS], *U[AVSL_MAX_LEVELS];
	int32_t *labels;
	uint64_t n;
	embed_all(em, shard, X, U, &labels, &n);
	shard_reader *rd;
	fmt_error err;
	if (shard_reader_open(&rd, shard, &err))
		die("%s", err.msg);

	memset(res, 0, sizeof *res);
	double s1d[EXPLAIN_FAITH_METHODS] = {0}, s2d[EXPLAIN_FAITH_METHODS] = {0};
	double s1i[EXPLAIN_FAITH_METHODS] = {0}, s2i[EXPLAIN_FAITH_METHODS] = {0};
	double wd[EXPLAIN_FAITH_METHODS] = {0}, wi[EXPLAIN_FAITH_METHODS] = {0};
	const int RND = EXPLAIN_FAITH_METHODS - 1; /* the random map is the last method */
	float *del = xmalloc_array((size_t)M * K1, sizeof(float)), *ins = xmalloc_array((size_t)M * K1, sizeof(float));
	if (mean_del)
		memset(mean_del, 0, (size_t)M * K1 * sizeof(float));
	if (mean_ins)
		memset(mean_ins, 0, (size_t)M * K1 * sizeof(float));
	float *row = xmalloc_array((size_t)n, sizeof(float));
	float *x = xmalloc_array((size_t)2 * em->Cin * em->S, (size_t)em->S * sizeof(float));
	for (uint64_t q = 0; q < n && res->pairs < npairs; q++) {
		const float *xq[AVSL_MAX_LEVELS], *uq[AVSL_MAX_LEVELS];
		for (int l = 0; l < L; l++) {
			xq[l] = X[l] + q * D;
			uq[l] = U[l] + q * D;
		}
		avsl_dist_tile(&em->view, 1, xq, uq, (int)n, (const float *const *)X, (const float *const *)U, row,
			       (int64_t)n, em->cfg.threads > 0 ? em->cfg.threads : 1);
		int64_t best = -1;
		for (uint64_t j = 0; j < n; j++)
			if (j != q && labels[j] == labels[q] && (best < 0 || row[j] < row[best]))
				best = (int64_t)j;
		if (best < 0)
			continue;
		image_u8 ia = {0}, ib = {0};
		if (explain_shard_image(rd, q, &ia, NULL, &err) || explain_shard_image(rd, (uint64_t)best, &ib, NULL, &err))
			die("%s", err.msg);
		size_t plane = (size_t)em->Cin * em->S * em->S;
		explain_image_tensor(em, &ia, x);
		explain_image_tensor(em, &ib, x + plane);
		explain_feats f[2];
		explain_forward(em, x, 2, 1, f);
		explain_faith_config pc = *fc;
		pc.seed = fc->seed + q; /* a different random map per pair */
		double da[EXPLAIN_FAITH_METHODS], ia_[EXPLAIN_FAITH_METHODS];
		if (explain_faith_pair(em, &pc, x, &f[0], &f[1], del, ins, da, ia_) == 0) {
			res->pairs++;
			if (fc->verbose)
				warn("pair %d: records %llu and %lld (class %d): deletion AUC avsl %.3f random %.3f, "
				     "insertion AUC avsl %.3f random %.3f",
				     res->pairs, (unsigned long long)q, (long long)best, labels[q], da[0], da[RND], ia_[0],
				     ia_[RND]);
			for (int k = 0; k < M; k++) {
				s1d[k] += da[k], s2d[k] += da[k] * da[k];
				s1i[k] += ia_[k], s2i[k] += ia_[k] * ia_[k];
				wd[k] += da[k] > da[RND];
				wi[k] += ia_[k] < ia_[RND];
				if (k == 0) {
					res->avsl_over_cam_del += da[0] > da[1];
					res->avsl_over_cam_ins += ia_[0] < ia_[1];
				}
			}
			for (int i = 0; i < M * K1; i++) {
				if (mean_del)
					mean_del[i] += del[i];
				if (mean_ins)
					mean_ins[i] += ins[i];
			}
		}
		explain_feats_free(&f[0]);
		explain_feats_free(&f[1]);
		image_free(&ia);
		image_free(&ib);
	}
	int np = res->pairs;
	for (int k = 0; k < M && np > 0; k++) {
		res->del_auc[k] = s1d[k] / np;
		res->ins_auc[k] = s1i[k] / np;
		if (k == 0) {
			res->avsl_over_cam_del /= np;
			res->avsl_over_cam_ins /= np;
		}
		res->del_win[k] = wd[k] / np;
		res->ins_win[k] = wi[k] / np;
		res->del_sd[k] = sqrt(fmax(0.0, s2d[k] / np - res->del_auc[k] * res->del_auc[k]));
		res->ins_sd[k] = sqrt(fmax(0.0, s2i[k] / np - res->ins_auc[k] * res->ins_auc[k]));
	}
	for (int i = 0; i < M * K1 && np > 0; i++) {
		if (mean_del)
			mean_del[i] /= np;
		if (mean_ins)
			mean_ins[i] /= np;
	}
	shard_reader_close(rd);
	for (int l = 0; l < L; l++)
		free(X[l]), free(U[l]);
	free(labels), free(del), free(ins), free(row), free(x);
}
