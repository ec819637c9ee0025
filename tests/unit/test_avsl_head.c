/* AVSL head against the PyTorch goldens of tests/reference/avsl_golden.py (float64 reference, stored as float32):
 * two training steps (link copy, then EMA), the K-above-threshold batch-classes path, the eval collector loaded
 * from a checkpoint-style file, and the embed path. */
#include "test_ctx.h"
#include "avsl_head.h"
#include "baseline_head.h"
#include "golden.h"
#include "harness.h"
#include "rng.h"
#include "safetensors.h"

#include <stdint.h>

static const int HH[3] = {8, 4, 2}, WW[3] = {8, 4, 2};

static avsl_head_config golden_cfg(int K, int threshold)
{
	avsl_head_config c = {.levels = 3, .C = {8, 12, 16}, .D = 16, .K = K, .avsl_m = 0.5f, .topk = 5,
			      .prob_gamma = 10.0f, .index_p = 2.0f, .pa_pos = 1.8f, .pa_neg = 2.2f, .pa_alpha = 16.0f,
			      .final_pa_pos = 1.8f, .final_pa_neg = 2.2f, .final_pa_alpha = 16.0f,
			      .loss_w = {0.5f, 1.0f, 0.5f}, .batch_classes_above = threshold, .threads = 2};
	return c;
}

/* Runs the steps of one head golden and compares everything. */
static void head_golden(const char *file, int K, int threshold, int steps)
{
	CHECKF(golden_open(file) == 0, "cannot open %s", file);
	enum { N = 6, L = 3, D = 16 };
	avsl_head_config cfg = golden_cfg(K, threshold);
	paramset ps;
	paramset_init(&ps);
	avsl_head *h = avsl_head_create(&cfg, &ps);
	paramset_finalize(&ps);
	avsl_head_init(h, &ps, 1);
	for (int i = 0; i < ps.n; i++) {
		char nm[128];
		snprintf(nm, sizeof nm, "param.%s", ps.info[i].name);
		size_t n;
		float *g = gload(nm, &n);
		if (!g)
			continue; /* links: start at zero */
		CHECK(n == ps.info[i].numel);
		memcpy(paramset_data(&ps, i), g, n * sizeof(float));
		free(g);
	}
	avsl_head_plan(h, N, HH, WW);
	for (int s = 1; s <= steps; s++) {
		char nm[128];
		float *feat[L], *dfeat[L];
		for (int l = 0; l < L; l++) {
			size_t n;
			snprintf(nm, sizeof nm, "s%d.feat.%d", s, l);
			feat[l] = gload(nm, &n);
			CHECK(feat[l]);
			dfeat[l] = malloc(n * sizeof(float));
		}
		size_t nl;
		snprintf(nm, sizeof nm, "s%d.labels", s);
		int32_t *lab = gload_i32(nm, &nl);
		CHECK(lab && nl == N);
		paramset_zero_grad(&ps);
		float terms[4];
		float total = avsl_head_train_step(h, &ps, (const float *const *)feat, lab, N, dfeat, terms);
		CHECK(avsl_head_links_initialised(h));
		avsl_head_debug dbg;
		avsl_head_get_debug(h, &dbg);
		float losses[5] = {total, terms[0], terms[1], terms[2], terms[3]};
		/* Forward values: float32 sums of <= 1024 terms vs float64: ~1e-6 relative; the losses go through
		 * exp(16 d): 16 * 1e-6 * 4 relative -> 1e-4 is a safe bound. */
		snprintf(nm, sizeof nm, "s%d.losses", s);
		CMP(nm, losses, 5, 1e-5, 1e-4);
		snprintf(nm, sizeof nm, "s%d.cols", s);
		size_t nc;
		int32_t *cols = gload_i32(nm, &nc);
		CHECKF(cols && (int)nc == dbg.ncols, "columns %d vs golden %zu", dbg.ncols, nc);
		for (int c = 0; c < dbg.ncols; c++)
			CHECK(cols[c] == dbg.cols[c]);
		int C = dbg.ncols;
		snprintf(nm, sizeof nm, "s%d.df", s);
		CMP(nm, dbg.df, (size_t)N * C, 1e-5, 1e-5);
		for (int l = 0; l < L; l++) {
			snprintf(nm, sizeof nm, "s%d.emb.%d", s, l);
			CMP(nm, dbg.emb[l], N * D, 1e-5, 1e-5);
			/* certainties are ~1e-2 with a cancellation (q - mean) inside: absolute 1e-6 */
			snprintf(nm, sizeof nm, "s%d.cert.%d", s, l);
			CMP(nm, dbg.cert[l], N * D, 1e-6, 1e-4);
			snprintf(nm, sizeof nm, "s%d.dl.%d", s, l);
			CMP(nm, dbg.dl[l], (size_t)N * C, 1e-5, 1e-5);
			snprintf(nm, sizeof nm, "s%d.dfeat.%d", s, l);
			CMP(nm, dfeat[l], (size_t)N * cfg.C[l] * HH[l] * WW[l], 1e-6, 2e-3);
		}
		for (int t = 0; t < L - 1; t++) {
			snprintf(nm, sizeof nm, "s%d.batch_link.%d", s, t);
			CMP(nm, dbg.batch_link[t], D * D, 1e-6, 1e-5);
			snprintf(nm, sizeof nm, "s%d.link.%d", s, t);
			snprintf(nm + 64, 64, "collector.links.%d", t);
			CMP(nm, paramset_data(&ps, paramset_find(&ps, nm + 64)), D * D, 1e-6, 1e-5);
			snprintf(nm, sizeof nm, "s%d.s_hat.%d", s, t);
			CMP(nm, dbg.s_hat[t], D * D, 1e-6, 1e-5);
		}
		/* Gradients: products of the loss' exp terms (a = 16) with float32 distances: 2e-3 relative, plus an
		 * absolute floor for entries that are sums of cancelling terms. */
		for (int i = 0; i < ps.n; i++) {
			if (ps.info[i].group == PG_NONE)
				continue;
			snprintf(nm, sizeof nm, "s%d.grad.%s", s, ps.info[i].name);
			CMP(nm, paramset_grad(&ps, i), ps.info[i].numel, 2e-6, 2e-3);
		}
		for (int l = 0; l < L; l++) {
			free(feat[l]);
			free(dfeat[l]);
		}
		free(lab);
		free(cols);
	}
	/* the level-0 gate is registered but never trained */
	CHECK(!ps.info[paramset_find(&ps, "collector.prob_coef.0")].trainable);
	CHECK(ps.info[paramset_find(&ps, "collector.prob_coef.1")].trainable);
	avsl_head_free(h);
	paramset_free(&ps);
}

TEST(head_two_steps_match_torch) { head_golden("avsl_head_step.safetensors", 4, 1000, 2); }

TEST(head_batch_classes_match_torch) { head_golden("avsl_head_batchcls.safetensors", 7, 5, 1); }

TEST(head_embed_matches_train_forward)
{
	CHECK(golden_open("avsl_head_step.safetensors") == 0);
	enum { N = 6, L = 3, D = 16 };
	avsl_head_config cfg = golden_cfg(4, 1000);
	paramset ps;
	paramset_init(&ps);
	avsl_head *h = avsl_head_create(&cfg, &ps);
	paramset_finalize(&ps);
	for (int i = 0; i < ps.n; i++) {
		char nm[128];
		snprintf(nm, sizeof nm, "param.%s", ps.info[i].name);
		size_t n;
		float *g = gload(nm, &n);
		if (g) {
			memcpy(paramset_data(&ps, i), g, n * sizeof(float));
			free(g);
		}
	}
	avsl_head_plan(h, N, HH, WW);
	float *feat[L], *emb[L], *cert[L];
	for (int l = 0; l < L; l++) {
		char nm[64];
		snprintf(nm, sizeof nm, "s1.feat.%d", l);
		feat[l] = gload(nm, NULL);
		emb[l] = malloc(sizeof(float) * N * D);
		cert[l] = malloc(sizeof(float) * N * D);
	}
	avsl_head_embed(h, &ps, (const float *const *)feat, N, emb, cert);
	for (int l = 0; l < L; l++) {
		char nm[64];
		snprintf(nm, sizeof nm, "s1.emb.%d", l);
		CMP(nm, emb[l], N * D, 1e-5, 1e-5);
		snprintf(nm, sizeof nm, "s1.cert.%d", l);
		CMP(nm, cert[l], N * D, 1e-6, 1e-4);
		free(feat[l]);
		free(emb[l]);
		free(cert[l]);
	}
	avsl_head_free(h);
	paramset_free(&ps);
}

/* The golden files carry the collector's numbers as plain metadata keys (no avsl.config). */
static int golden_collector_cfg(const st_file *f, avsl_head_config *c, fmt_error *err)
{
	int64_t lv, d, k;
	double g, p;
	memset(c, 0, sizeof *c);
	if (st_meta_int(f, "avsl.levels", 1, AVSL_MAX_LEVELS, &lv, err) || st_meta_int(f, "avsl.embeddings_dim", 1, 65536, &d, err) ||
	    st_meta_int(f, "avsl.topk_corr", 1, 65536, &k, err) || st_meta_double(f, "avsl.prob_gamma", -1e30, 1e30, &g, err) ||
	    st_meta_double(f, "avsl.index_p", 1e-6, 1e6, &p, err))
		return -1;
	c->levels = (int)lv, c->D = (int)d, c->topk = (int)k, c->prob_gamma = (float)g, c->index_p = (float)p;
	return 0;
}

TEST(collector_load_and_eval_distance_match_torch)
{
	CHECK(golden_open("avsl_dist.safetensors") == 0);
	avsl_collector_eval ce;
	fmt_error err;
	avsl_head_config gc;
	CHECKF(golden_collector_cfg(&gf, &gc, &err) == 0, "%s", err.msg);
	CHECKF(avsl_collector_load(&gf, &gc, &ce, &err) == 0, "%s", err.msg);
	CHECK(ce.view.levels == 3 && ce.view.dim == 16 && ce.view.p == 2.0f && ce.view.gamma_p == 10.0f);
	enum { R = 5, C = 7, L = 3 };
	float *x[L], *u[L], *y[L], *v[L];
	for (int l = 0; l < L; l++) {
		char nm[32];
		snprintf(nm, sizeof nm, "x.%d", l);
		x[l] = gload(nm, NULL);
		snprintf(nm, sizeof nm, "xu.%d", l);
		u[l] = gload(nm, NULL);
		snprintf(nm, sizeof nm, "y.%d", l);
		y[l] = gload(nm, NULL);
		snprintf(nm, sizeof nm, "yu.%d", l);
		v[l] = gload(nm, NULL);
	}
	float out[R * C], out2[R * C];
	op_avsl_dist_tile(test_ctx(2), &ce.view, R, (const float *const *)x, (const float *const *)u, C,
			  (const float *const *)y, (const float *const *)v, out, C);
	avsl_dist_tile_naive(&ce.view, R, (const float *const *)x, (const float *const *)u, C,
			     (const float *const *)y, (const float *const *)v, out2, C);
	/* float32 vs float64 reference over 3 x 16-term sums */
	CMP("d_f", out, R * C, 1e-6, 1e-5);
	CMP("d_f", out2, R * C, 1e-6, 1e-5);
	for (int l = 0; l < L; l++) {
		free(x[l]);
		free(u[l]);
		free(y[l]);
		free(v[l]);
	}
	avsl_collector_free(&ce);
}

TEST(collector_load_rejects_shapes_other_than_the_config)
{
	CHECK(golden_open("avsl_dist.safetensors") == 0);
	avsl_collector_eval ce;
	fmt_error err;
	avsl_head_config gc;
	CHECKF(golden_collector_cfg(&gf, &gc, &err) == 0, "%s", err.msg);
	gc.D = 32; /* the file's tensors are (16) and (16, 16) */
	gc.topk = 4;
	CHECK(avsl_collector_load(&gf, &gc, &ce, &err) == -1);
	CHECKF(strstr(err.msg, "collector.") != NULL, "%s", err.msg);
	CHECK(ce.storage == NULL);
	gc.D = 16, gc.topk = 17; /* topk_corr above D */
	CHECK(avsl_collector_load(&gf, &gc, &ce, &err) == -1 && strstr(err.msg, "topk_corr"));
}

/* A head's tensors + avsl_head_metadata written with the safetensors writer load back as the eval collector. */
TEST(collector_load_roundtrip_from_head_checkpoint)
{
	avsl_head_config cfg = golden_cfg(4, 1000);
	cfg.topk = 3;
	paramset ps;
	paramset_init(&ps);
	avsl_head *h = avsl_head_create(&cfg, &ps);
	paramset_finalize(&ps);
	avsl_head_init(h, &ps, 11);
	rng r;
	rng_init(&r, 5, 5);
	for (int i = 0; i < ps.n; i++)
		if (strstr(ps.info[i].name, "links") || strstr(ps.info[i].name, "prob_"))
			for (size_t j = 0; j < ps.info[i].numel; j++)
				paramset_data(&ps, i)[j] = (float)rng_normal(&r);
	st_writer *w = st_writer_new();
	for (int i = 0; i < ps.n; i++)
		st_writer_add(w, ps.info[i].name, ST_F32, ps.info[i].ndim, ps.info[i].shape, paramset_data(&ps, i));
	const char *key[5];
	char val[5][32];
	int nm = avsl_head_metadata(&cfg, key, val);
	for (int i = 0; i < nm; i++)
		st_writer_meta(w, key[i], val[i]);
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);
	fmt_error err;
	CHECKF(st_writer_write(w, fp, "mem", &err) == 0, "%s", err.msg);
	fclose(fp);
	st_writer_free(w);
	st_file f;
	CHECKF(st_open_memory(&f, buf, len, "mem", &err) == 0, "%s", err.msg);
	avsl_collector_eval ce;
	CHECKF(avsl_collector_load(&f, &cfg, &ce, &err) == 0, "%s", err.msg);
	CHECK(ce.view.levels == 3 && ce.view.dim == 16 && ce.view.gamma_p == 10.0f && ce.view.p == 2.0f);
	float S[16 * 16];
	for (int t = 0; t < 2; t++) {
		char nmb[64];
		snprintf(nmb, sizeof nmb, "collector.links.%d", t);
		op_avsl_link_prepare(test_ctx(1), paramset_data(&ps, paramset_find(&ps, nmb)), 16, 3, S);
		CHECK(memcmp(S, ce.view.s_hat[t], sizeof S) == 0);
	}
	for (int l = 0; l < 3; l++) {
		char nmb[64];
		snprintf(nmb, sizeof nmb, "collector.prob_bias.%d", l);
		CHECK(memcmp(paramset_data(&ps, paramset_find(&ps, nmb)), ce.view.beta[l], 16 * sizeof(float)) == 0);
	}
	avsl_collector_free(&ce);
	st_close(&f);
	free(buf);
	avsl_head_free(h);
	paramset_free(&ps);
}

TEST(baseline_head_matches_torch)
{
	CHECK(golden_open("baseline_head.safetensors") == 0);
	enum { N = 6, C = 16, H = 2, W = 2, D = 16, K = 4 };
	baseline_head_config cfg = {.C = C, .D = D, .K = K, .delta = 0.1f, .alpha = 32.0f, .threads = 2};
	paramset ps;
	paramset_init(&ps);
	baseline_head *h = baseline_head_create(&cfg, &ps);
	paramset_finalize(&ps);
	baseline_head_init(h, &ps, 3);
	for (int i = 0; i < ps.n; i++) {
		size_t n;
		float *g = gload(ps.info[i].name, &n);
		CHECK(g && n == ps.info[i].numel);
		memcpy(paramset_data(&ps, i), g, n * sizeof(float));
		free(g);
	}
	baseline_head_plan(h, N, H, W);
	float *feat = gload("feat", NULL), dfeat[N * C * H * W], emb[N * D];
	size_t nl;
	int32_t *lab = gload_i32("labels", &nl);
	float loss = baseline_head_train_step(h, &ps, feat, lab, N, dfeat);
	/* a = 32 amplifies float32 similarity rounding (~1e-7) by 32 inside exp: 1e-4 relative is ample */
	CMP("loss", &loss, 1, 1e-5, 1e-4);
	for (int i = 0; i < ps.n; i++) {
		char nm[128];
		snprintf(nm, sizeof nm, "grad.%s", ps.info[i].name);
		CMP(nm, paramset_grad(&ps, i), ps.info[i].numel, 1e-6, 2e-3);
	}
	CMP("dfeat", dfeat, N * C * H * W, 1e-7, 2e-3);
	baseline_head_embed(h, &ps, feat, N, emb);
	CMP("emb", emb, N * D, 1e-6, 1e-5);
	free(feat);
	free(lab);
	baseline_head_free(h);
	paramset_free(&ps);
}

int main(void)
{
	RUN(head_two_steps_match_torch);
	RUN(head_batch_classes_match_torch);
	RUN(head_embed_matches_train_forward);
	RUN(collector_load_and_eval_distance_match_torch);
	RUN(collector_load_rejects_shapes_other_than_the_config);
	RUN(collector_load_roundtrip_from_head_checkpoint);
	RUN(baseline_head_matches_torch);
	if (gf_open)
		st_close(&gf);
	return harness_finish();
}
