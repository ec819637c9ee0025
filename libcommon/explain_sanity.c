/* explain_sanity.c: model-parameter randomisation tests of the attribution maps (Adebayo et al. 2018, "Sanity checks
 * for saliency maps"), see explain.h. A map that explains the model must change when what the model learned is
 * destroyed; one that stays the same shows the input (edges, the object's outline), not the model. */
#include "explain.h"
#include "rng.h"
#include "shard.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int explain_sanity_pass(double rho_last) { return rho_last < EXPLAIN_SANITY_RHO; }

/* Copy every tensor whose name starts with prefix from src to dst (same architecture). Returns the count. */
static int copy_prefix(paramset *dst, const paramset *src, const char *prefix)
{
	int cnt = 0;
	for (int i = 0; i < dst->n; i++) {
		const param_info *pi = &dst->info[i];
		if (strncmp(pi->name, prefix, strlen(prefix)) != 0)
			continue;
		int j = paramset_find(src, pi->name);
		if (j < 0)
			die("internal error: %s: not in the fresh model", pi->name);
		memcpy(paramset_data(dst, i), paramset_data(src, j), pi->numel * sizeof(float));
		cnt++;
	}
	return cnt;
}

static void shuffle(int *perm, int n, rng *r)
{
	for (int i = 0; i < n; i++)
		perm[i] = i;
	for (int i = n - 1; i > 0; i--) {
		int j = (int)(rng_uniform(r) * (i + 1));
		j = j > i ? i : j;
		int t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
	}
}

/* The methods' maps of every pair under the current parameters: maps (npairs, methods, S, S); non-finite values
 * (a randomised model may overflow) become 0. */
static void pair_maps(explain_model *em, const float *x, int npairs, int attr_k, uint64_t seed, int nmaps, int methods,
		      float *maps)
{
	const int S = em->S;
	const size_t P = (size_t)S * S, plane = (size_t)em->Cin * P;
	float *all = xmalloc_array((size_t)nmaps, P * sizeof(float)); /* (nmaps, S, S) */
	for (int p = 0; p < npairs; p++) {
		explain_feats f[2];
		explain_forward(em, x + (size_t)p * 2 * plane, 2, 1, f);
		explain_decomp d;
		explain_decompose(&em->view, (const float *const *)f[0].xh, (const float *const *)f[0].cert,
				  (const float *const *)f[1].xh, (const float *const *)f[1].cert, &d);
		explain_maps_all(em, &f[0], &f[1], &d, attr_k, seed, all);
		float *o = maps + (size_t)p * methods * P;
		for (size_t j = 0; j < (size_t)methods * P; j++)
			o[j] = isfinite(all[j]) ? all[j] : 0.0f;
		explain_decomp_free(&d);
		explain_feats_free(&f[0]);
		explain_feats_free(&f[1]);
	}
	free(all);
}

static void compare(explain_sanity_result *res, int cas, int step, const float *orig, const float *now, int npairs,
		    int S)
{
	const int M = res->ms.methods;
	const size_t P = (size_t)S * S;
	for (int k = 0; k < M; k++) {
		double r = 0, s = 0;
		for (int p = 0; p < npairs; p++) {
			const float *a = orig + ((size_t)p * M + k) * P, *b = now + ((size_t)p * M + k) * P;
			r += explain_spearman(a, b, (int)P);
			s += explain_ssim(a, b, S);
		}
		res->rho[cas][step][k] = r / npairs;
		res->ssim[cas][step][k] = s / npairs;
	}
}

void explain_pair_images(const explain_model *em, const char *shard, const explain_pair *pairs, int npairs,
			 float *x)
{
	const size_t plane = (size_t)em->Cin * em->S * em->S;
	shard_reader *rd;
	fmt_error err;
	if (shard_reader_open(&rd, shard, &err))
		die("%s", err.msg);
	for (int p = 0; p < npairs; p++)
		for (int i = 0; i < 2; i++) {
			image_u8 im = {0};
			if (explain_shard_image(rd, (uint64_t)(i ? pairs[p].b : pairs[p].a), &im, NULL, &err))
				die("%s", err.msg);
			explain_image_tensor(em, &im, x + ((size_t)p * 2 + i) * plane);
			image_free(&im);
		}
	shard_reader_close(rd);
}

/* The host values changed: a device's copy is stale, so the next trunk forward uploads them again. */
static void params_changed(explain_model *em) { em->m.params_on_device = 0; }

void explain_sanity(explain_model *em, const float *x, int npairs, int attr_k, uint64_t seed,
		    explain_sanity_result *res)
{
	memset(res, 0, sizeof *res);
	explain_map_set_init(&res->ms, em->L);
	const int M = res->ms.methods, S = em->S, D = em->D;
	const size_t P = (size_t)S * S;
	res->pairs = npairs;
	float *orig = xmalloc_array((size_t)npairs * M, P * sizeof(float)); /* (npairs, M, S, S) */
	float *now = xmalloc_array((size_t)npairs * M, P * sizeof(float));
	pair_maps(em, x, npairs, attr_k, seed, res->ms.n, M, orig);
	paramset *ps = &em->m.ps;
	float *saved = xmalloc_array(ps->total, sizeof(float));
	memcpy(saved, ps->data, ps->total * sizeof(float));

	/* cascade 0: the trunk from the top down, re-initialised by the model's own initialiser */
	model fresh;
	model_create(&fresh, &em->cfg, em->m.K, em->m.dev);
	model_init_random(&fresh, seed + 0x5eed);
	static const char *const stage[][3] = {{"embedder", "embedder.", NULL}, {"layer4", "layer4.", NULL},
					       {"layer3", "layer3.", NULL},     {"layer2", "layer2.", NULL},
					       {"layer1", "layer1.", NULL},     {"stem", "conv1.", "bn1."}};
	int ns = 0;
	for (size_t i = 0; i < sizeof stage / sizeof stage[0]; i++) {
		int cnt = 0;
		for (int j = 1; j < 3 && stage[i][j]; j++)
			cnt += copy_prefix(ps, &fresh.ps, stage[i][j]);
		if (cnt == 0)
			continue; /* a stage this trunk does not have */
		params_changed(em);
		snprintf(res->step[0][ns], sizeof res->step[0][ns], "%s%s", ns ? "+" : "", stage[i][0]);
		pair_maps(em, x, npairs, attr_k, seed, res->ms.n, M, now);
		compare(res, 0, ns++, orig, now, npairs, S);
	}
	res->nsteps[0] = ns;
	model_free(&fresh);
	memcpy(ps->data, saved, ps->total * sizeof(float));
	params_changed(em);

	/* cascade 1: the collector; links shuffled (rows and columns permuted), then the gates too */
	rng r;
	rng_init(&r, seed, rng_stream_id(0x73616e, 0x697479, 0));
	int *perm = xmalloc_array((size_t)D, sizeof(int)), *perm2 = xmalloc_array((size_t)D, sizeof(int));
	float *tmp = xmalloc_array((size_t)D * D, sizeof(float));
	char name[64];
	for (int t = 0; t + 1 < em->L; t++) {
		snprintf(name, sizeof name, "collector.links.%d", t);
		float *lk = paramset_data(ps, paramset_find(ps, name)); /* (D, D) */
		shuffle(perm, D, &r);
		shuffle(perm2, D, &r);
		for (int i = 0; i < D; i++)
			for (int j = 0; j < D; j++)
				tmp[(size_t)i * D + j] = lk[(size_t)perm[i] * D + perm2[j]];
		memcpy(lk, tmp, (size_t)D * D * sizeof(float));
	}
	params_changed(em);
	model_collector_view(&em->m, &em->view, em->s_hat);
	snprintf(res->step[1][0], sizeof res->step[1][0], "links");
	pair_maps(em, x, npairs, attr_k, seed, res->ms.n, M, now);
	compare(res, 1, 0, orig, now, npairs, S);
	for (int l = 1; l < em->L; l++) {
		shuffle(perm, D, &r);
		const char *what[2] = {"collector.prob_coef.%d", "collector.prob_bias.%d"};
		for (int w = 0; w < 2; w++) {
			snprintf(name, sizeof name, what[w], l);
			float *g = paramset_data(ps, paramset_find(ps, name)); /* (D) */
			for (int n = 0; n < D; n++)
				tmp[n] = g[perm[n]];
			memcpy(g, tmp, (size_t)D * sizeof(float));
		}
	}
	params_changed(em);
	model_collector_view(&em->m, &em->view, em->s_hat);
	snprintf(res->step[1][1], sizeof res->step[1][1], "+gates");
	pair_maps(em, x, npairs, attr_k, seed, res->ms.n, M, now);
	compare(res, 1, 1, orig, now, npairs, S);
	res->nsteps[1] = 2;
	memcpy(ps->data, saved, ps->total * sizeof(float));
	params_changed(em);
	model_collector_view(&em->m, &em->view, em->s_hat);

	for (int c = 0; c < 2; c++)
		for (int k = 0; k < M; k++)
			res->pass[c][k] = explain_sanity_pass(res->rho[c][res->nsteps[c] - 1][k]);
	free(perm), free(perm2), free(tmp), free(saved), free(orig), free(now);
}

void explain_sanity_print(FILE *fp, const explain_sanity_result *r, int json)
{
	const int M = r->ms.methods;
	static const char *const cname[2] = {"trunk", "collector"};
	if (json)
		fprintf(fp, "{\"pairs\":%d,\"threshold\":%.2f,\"cascades\":[", r->pairs, EXPLAIN_SANITY_RHO);
	else {
		fprintf(fp, "# sanity checks (cascading randomisation, Adebayo et al. 2018) over %d pairs\n", r->pairs);
		fprintf(fp, "# each row: the parameters randomised so far (cumulative); Spearman rank correlation / SSIM of "
			    "the maps with the trained model's (1 = unchanged)\n");
		fprintf(fp, "# a method FAILS a cascade when its mean Spearman after the last step is still >= %.2f\n",
			EXPLAIN_SANITY_RHO);
	}
	for (int c = 0; c < 2; c++) {
		if (json)
			fprintf(fp, "%s{\"cascade\":\"%s\",\"steps\":[", c ? "," : "", cname[c]);
		else {
			fprintf(fp, "\n## %s cascade: spearman / ssim\n%-18s", cname[c], "randomised");
			for (int k = 0; k < M; k++)
				fprintf(fp, " %15s", r->ms.name[k]);
			fputc('\n', fp);
		}
		for (int s = 0; s < r->nsteps[c]; s++) {
			if (json)
				fprintf(fp, "%s{\"randomised\":\"%s\",\"maps\":[", s ? "," : "", r->step[c][s]);
			else
				fprintf(fp, "%-18s", r->step[c][s]);
			for (int k = 0; k < M; k++) {
				if (json)
					fprintf(fp, "%s{\"map\":\"%s\",\"spearman\":%.4f,\"ssim\":%.4f}", k ? "," : "",
						r->ms.name[k], r->rho[c][s][k], r->ssim[c][s][k]);
				else
					fprintf(fp, "     %5.2f / %5.2f", r->rho[c][s][k], r->ssim[c][s][k]);
			}
			if (json)
				fprintf(fp, "]}");
			else
				fputc('\n', fp);
		}
		if (json) {
			fprintf(fp, "],\"verdict\":[");
			for (int k = 0; k < M; k++)
				fprintf(fp, "%s{\"map\":\"%s\",\"pass\":%s}", k ? "," : "", r->ms.name[k],
					r->pass[c][k] ? "true" : "false");
			fprintf(fp, "]}");
		} else {
			fprintf(fp, "%-18s", "verdict");
			for (int k = 0; k < M; k++)
				fprintf(fp, " %15s", r->pass[c][k] ? "pass" : "FAIL");
			fputc('\n', fp);
		}
	}
	if (json)
		fprintf(fp, "]}\n");
}
