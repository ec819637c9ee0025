/* Unit tests for the attribution checks of avsl-explain (libcommon/explain_{grad,maps,faith,stats,sanity}.c): the
 * gradient of d_f against finite differences, the faithfulness protocol's fixed points on a synthetic model whose
 * true pixel importance is known (that map wins; a constant map ties the smooth random control), the statistics,
 * and the sanity checks (maps of a randomised model differ; a map that ignores the parameters fails). */
#include "test_ctx.h"
#include "explain_tiny.h"
#include "harness.h"

#include <math.h>
#include <string.h>

/* d_f of a with level `lev` replaced by (xl, ul) against b, through the decomposition (the naive kernel's order). */
static double df_with(const explain_feats *a, const explain_feats *b, int lev, const float *xl, const float *ul)
{
	const float *x[3], *u[3];
	for (int l = 0; l < 3; l++) {
		x[l] = l == lev ? xl : a->xh[l];
		u[l] = l == lev ? ul : a->cert[l];
	}
	explain_decomp d;
	explain_decompose(&tm.view, x, u, (const float *const *)b->xh, (const float *const *)b->cert, &d);
	double df = d.df;
	explain_decomp_free(&d);
	return df;
}

/* A random pair of the tiny model with its decomposition and dd_f/dx_l, dd_f/du_l of the first image. */
static void pair_feats(explain_feats f[2], explain_decomp *d, uint64_t stream, float dx[3][TD], float du[3][TD])
{
	float x[2 * TS * TS];
	tiny_inputs(x, stream);
	explain_forward(&tm, x, 2, 1, f);
	explain_decompose(&tm.view, (const float *const *)f[0].xh, (const float *const *)f[0].cert,
			  (const float *const *)f[1].xh, (const float *const *)f[1].cert, d);
	float *pdx[3] = {dx[0], dx[1], dx[2]}, *pdu[3] = {du[0], du[1], du[2]};
	explain_df_grad(&tm.view, d, (const float *const *)f[0].xh, (const float *const *)f[1].xh,
			(const float *const *)f[1].cert, pdx, pdu);
}

TEST(df_grad_matches_finite_differences)
{
	CHECK(tiny_model() == 0);
	explain_feats f[2];
	explain_decomp d;
	float dx[3][TD], du[3][TD];
	pair_feats(f, &d, 21, dx, du);
	const float h = 1e-3f;
	int nonzero = 0;
	for (int l = 0; l < 3; l++)
		for (int n = 0; n < TD; n++) {
			float xl[TD], ul[TD];
			memcpy(xl, f[0].xh[l], sizeof xl);
			memcpy(ul, f[0].cert[l], sizeof ul);
			xl[n] += h;
			double p = df_with(&f[0], &f[1], l, xl, ul);
			xl[n] -= 2 * h;
			double m = df_with(&f[0], &f[1], l, xl, ul);
			/* float32 d_f of ~1 over 2h = 2e-3: the difference quotient is good to ~1e-4 */
			CHECK_CLOSE(dx[l][n], (p - m) / (2 * h), 5e-4, 1e-2);
			xl[n] += h;
			ul[n] += h;
			p = df_with(&f[0], &f[1], l, xl, ul);
			ul[n] -= 2 * h;
			m = df_with(&f[0], &f[1], l, xl, ul);
			CHECK_CLOSE(du[l][n], (p - m) / (2 * h), 5e-4, 1e-2);
			nonzero += fabsf(du[l][n]) > 1e-6f;
		}
	CHECKF(nonzero > TD, "the certainties reach d_f through the gates: %d nonzero", nonzero);
	explain_decomp_free(&d);
	explain_feats_free(&f[0]);
	explain_feats_free(&f[1]);
}

/* sum_n gx[n] xh_l[n] + gu[n] u_l[n] for level-l features F (1 image): the function whose gradient explain_level_grad
 * gives for upstream (gx, gu). */
static double head_dot(int l, const float *F, float *A, const float *gx, const float *gu)
{
	float emb[TD], u[TD];
	explain_head(&tm, l, F, 1, emb, A, u);
	op_avsl_normalize_rows(test_ctx(1), emb, 1, TD, tm.view.p);
	double s = 0;
	for (int n = 0; n < TD; n++)
		s += (double)gx[n] * emb[n] + (double)gu[n] * u[n];
	return s;
}

/* Each path on its own (embedding, certainty) and both together, upstream from d_f: dF against central differences
 * of head_dot, at elements away from the max-pool's kink. */
TEST(level_grad_matches_finite_differences)
{
	CHECK(tiny_model() == 0);
	explain_feats f[2];
	explain_decomp d;
	float dx[3][TD], du[3][TD];
	pair_feats(f, &d, 22, dx, du);
	float zero[TD] = {0}, ones[TD];
	for (int n = 0; n < TD; n++)
		ones[n] = n % 2 ? 1.0f : -1.0f;
	for (int l = 0; l < 3; l++) {
		const int C = f[0].C[l], HW = f[0].H[l] * f[0].W[l];
		float *dF = xmalloc_array((size_t)C * HW, sizeof(float)), *F = xmalloc_array((size_t)C * HW, sizeof(float));
		float *A = xmalloc_array((size_t)TD * HW, sizeof(float));
		const float *up[3][2] = {{ones, zero}, {zero, ones}, {dx[l], du[l]}}; /* embedding, certainty, d_f */
		for (int path = 0; path < 3; path++) {
			explain_level_grad(&tm, l, &f[0], up[path][0], up[path][1], dF);
			float gmax = 0;
			for (int i = 0; i < C * HW; i++)
				gmax = fmaxf(gmax, fabsf(dF[i]));
			CHECKF(gmax > 0, "level %d path %d: the gradient is zero", l, path);
			int tested = 0;
			for (int i = 0; i < C * HW && tested < 24; i += 7) {
				int k = i / HW;
				const float *Fk = f[0].feat[l] + (size_t)k * HW;
				float mx = -INFINITY, second = -INFINITY;
				for (int j = 0; j < HW; j++)
					if (Fk[j] > mx)
						second = mx, mx = Fk[j];
					else if (Fk[j] > second)
						second = Fk[j];
				const float h = 1e-3f;
				if (Fk[i % HW] == mx ? mx - second < 10 * h : mx - Fk[i % HW] < 10 * h)
					continue;
				double v[2];
				for (int sgn = 0; sgn < 2; sgn++) {
					memcpy(F, f[0].feat[l], (size_t)C * HW * sizeof(float));
					F[i] += sgn ? -h : h;
					v[sgn] = head_dot(l, F, A, up[path][0], up[path][1]);
				}
				/* float32 head (pooling, CAMs, certainty) over 2h = 2e-3: ~1e-4 absolute noise in the
				 * quotient, and 1% of the gradient's scale for the row-minimum and sum rounding */
				CHECKF(fabs(dF[i] - (v[0] - v[1]) / (2 * h)) <= 2e-4 + 1e-2 * gmax + 2e-2 * fabs(dF[i]),
				       "level %d path %d element %d: %g vs %g", l, path, i, dF[i], (v[0] - v[1]) / (2 * h));
				tested++;
			}
			CHECKF(tested >= 8, "level %d: %d elements tested", l, tested);
		}
		free(dF), free(F), free(A);
	}
	/* the gradient map is -sum_c dF F per position, upsampled: finite everywhere and not constant */
	float map[TS * TS];
	explain_map_grad(&tm, &f[0], &f[1], &d, -1, map);
	float lo = map[0], hi = map[0];
	for (int j = 0; j < TS * TS; j++)
		lo = fminf(lo, map[j]), hi = fmaxf(hi, map[j]);
	CHECK(isfinite(lo) && isfinite(hi) && hi > lo);
	explain_decomp_free(&d);
	explain_feats_free(&f[0]);
	explain_feats_free(&f[1]);
}

/* ---- a synthetic model with a known pixel importance ---------------------------------------------------------
 * d(x) = sum_j w_j (x_j - b_j)^2 against a fixed partner b. Filling pixel j of a with 0 (the mean fill) raises d by
 * exactly imp_j = w_j (b_j^2 - (a_j - b_j)^2), independently of the other pixels, so ranking by imp is the best
 * possible deletion (and insertion) order, pixel by pixel and cell by cell (the cells have equal sizes here). */
enum { SS = 16, SP = SS * SS, NPAIR = 24, SMAPS = 6 };

typedef struct {
	const float *b, *w;
} synth_ctx;

static void synth_dist(void *ctx, const float *x, int n, float *d)
{
	const synth_ctx *c = ctx;
	for (int i = 0; i < n; i++) {
		double s = 0;
		for (int j = 0; j < SP; j++)
			s += (double)c->w[j] * (x[(size_t)i * SP + j] - c->b[j]) * (x[(size_t)i * SP + j] - c->b[j]);
		d[i] = (float)s;
	}
}

TEST(synthetic_true_importance_wins_and_constant_ties)
{
	explain_curve_geom g = {1, SS, 16, 4, 4, 2.0f};
	static double auc[NPAIR][EXPLAIN_SETTINGS * 2 * SMAPS];
	float a[SP], b[SP], w[SP], maps[SMAPS * SP];
	for (int p = 0; p < NPAIR; p++) {
		rng r;
		rng_init(&r, 77, rng_stream_id(1, (uint64_t)p, 0));
		float smooth[SP];
		explain_map_random(SS, 4, 4, 1000 + p, 0, smooth); /* importance with some spatial structure */
		for (int j = 0; j < SP; j++) {
			a[j] = 0.5f + rng_uniform(&r);
			b[j] = a[j] + 0.2f * (rng_uniform(&r) - 0.5f);
			w[j] = 0.05f + smooth[j] * rng_uniform(&r);
		}
		/* 0: the true importance, 1: a constant map, 2..5: the controls; ties broken by map 3 */
		for (int j = 0; j < SP; j++) {
			maps[j] = w[j] * (b[j] * b[j] - (a[j] - b[j]) * (a[j] - b[j]));
			maps[SP + j] = 1.0f;
		}
		explain_map_random(SS, SS, SS, p, 0, maps + 2 * SP);
		explain_map_random(SS, 4, 4, p, 1, maps + 3 * SP);
		explain_map_random(SS, 8, 8, p, 2, maps + 4 * SP);
		explain_map_random_cells(SS, 4, 4, p, maps + 5 * SP);
		synth_ctx c = {b, w};
		float d0;
		synth_dist(&c, a, 1, &d0);
		if (p == 0) {
			/* curve end points: deletion starts at a, everything deleted = nothing inserted */
			float del[17], ins[17];
			for (int unit = 0; unit < 2; unit++) {
				CHECK(explain_curve_steps(&g, unit) == 16);
				explain_curves(&g, unit, EXPLAIN_FILL_MEAN, a, maps, maps + 3 * SP, synth_dist, &c, del, ins);
				CHECK(del[0] == d0 && ins[16] == d0 && del[16] == ins[0]);
				for (int s = 0; s < 16; s++)
					CHECK(del[s + 1] >= del[s] - 1e-4f); /* the best order only ever adds distance */
			}
		}
		explain_faith_scores(&g, a, maps, SMAPS, 3, d0, 1.0f, synth_dist, &c, auc[p]);
	}
	const int stride = EXPLAIN_SETTINGS * 2 * SMAPS;
	for (int s = 0; s < EXPLAIN_SETTINGS; s++)
		for (int cv = 0; cv < 2; cv++) {
			const double *base = &auc[0][(s * 2 + cv) * SMAPS];
			for (int k = 2; k < SMAPS; k++) {
				/* the mean fill is what imp describes: it beats every control on every pair */
				if (s % 2 == EXPLAIN_FILL_MEAN) {
					double wr = explain_win_rate(base, base + k, NPAIR, stride, cv == 0);
					CHECKF(wr == 1.0, "setting %d curve %d control %d: win %.2f", s, cv, k, wr);
				}
			}
			/* the constant map ranks exactly like the tie-breaking smooth control: identical AUCs */
			for (int p = 0; p < NPAIR; p++)
				CHECK(base[(size_t)p * stride + 1] == base[(size_t)p * stride + 3]);
			CHECK(explain_win_rate(base + 1, base + 3, NPAIR, stride, cv == 0) == 0.5);
		}
	/* and the bootstrap interval of the true map's advantage over a control excludes 0 */
	double diff[NPAIR];
	for (int p = 0; p < NPAIR; p++)
		diff[p] = auc[p][0] - auc[p][4];
	explain_ci ci = explain_bootstrap(diff, NPAIR, 1, 1000, 3);
	CHECK(ci.lo > 0 && ci.lo <= ci.mean && ci.mean <= ci.hi);
}

TEST(rank_units_pixels_and_cells)
{
	explain_curve_geom g = {1, 4, 4, 2, 2, 1.0f};
	const float m[16] = {0, 0, 5, 5, 0, 0, 5, 5, 1, 1, 2, NAN, 1, 1, 2, 2};
	const float tie[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
	int o[16];
	CHECK(explain_rank_units(&g, EXPLAIN_UNIT_PATCH, m, tie, o) == 4);
	/* cell means: 0, 5, 1, NaN (the NaN cell ranks last) */
	CHECK(o[0] == 1 && o[1] == 2 && o[2] == 0 && o[3] == 3);
	CHECK(explain_rank_units(&g, EXPLAIN_UNIT_PIXEL, m, tie, o) == 16);
	/* 5s first, larger tie value first; NaN last */
	CHECK(o[0] == 7 && o[1] == 6 && o[2] == 3 && o[3] == 2 && o[4] == 15 && o[5] == 14 && o[15] == 11);
	/* blur fill keeps a constant image and the mean of a varying one */
	float x[16], y[16];
	for (int j = 0; j < 16; j++)
		x[j] = 3.0f;
	explain_fill(&g, EXPLAIN_FILL_BLUR, x, y);
	for (int j = 0; j < 16; j++)
		CHECK_CLOSE(y[j], 3.0, 1e-6, 0);
	explain_fill(&g, EXPLAIN_FILL_MEAN, x, y);
	CHECK(y[0] == 0 && y[15] == 0);
}

TEST(statistics)
{
	double v[100], c[10];
	for (int i = 0; i < 100; i++)
		v[i] = i;
	for (int i = 0; i < 10; i++)
		c[i] = 2.5;
	explain_ci ci = explain_bootstrap(c, 10, 1, 500, 1);
	CHECK(ci.mean == 2.5 && ci.lo == 2.5 && ci.hi == 2.5);
	ci = explain_bootstrap(v, 100, 1, 4000, 1);
	/* normal approximation: 2 * 1.96 * 28.87 / sqrt(100) = 11.3 wide; the percentile interval within 15% */
	CHECK_CLOSE(ci.mean, 49.5, 1e-12, 0);
	CHECKF(ci.lo < 49.5 && ci.hi > 49.5 && fabs((ci.hi - ci.lo) - 11.3) < 1.7, "[%g, %g]", ci.lo, ci.hi);
	/* stride: every second value */
	ci = explain_bootstrap(v, 50, 2, 0, 1);
	CHECK_CLOSE(ci.mean, 49.0, 1e-12, 0);
	const double a[4] = {1, 2, 3, 4}, b[4] = {0, 2, 5, 1};
	CHECK(explain_win_rate(a, b, 4, 1, 1) == (1 + 0.5 + 0 + 1) / 4.0);
	CHECK(explain_win_rate(a, b, 4, 1, 0) == (0 + 0.5 + 1 + 0) / 4.0);
	float m[49], r[49], q[49], k[49];
	for (int i = 0; i < 49; i++) {
		m[i] = sinf(0.3f * i) + 0.01f * i;
		r[i] = -m[i];
		q[i] = 3.0f * m[i] * m[i] * m[i] + 1.0f; /* monotone in m */
		k[i] = 1.0f;
	}
	CHECK_CLOSE(explain_spearman(m, m, 49), 1.0, 1e-12, 0);
	CHECK_CLOSE(explain_spearman(m, r, 49), -1.0, 1e-12, 0);
	CHECK_CLOSE(explain_spearman(m, q, 49), 1.0, 1e-12, 0);
	CHECK(explain_spearman(k, k, 49) == 1.0 && explain_spearman(k, m, 49) == 0.0);
	CHECK_CLOSE(explain_ssim(m, m, 7), 1.0, 1e-9, 0);
	CHECK_CLOSE(explain_ssim(m, q, 7), explain_ssim(q, m, 7), 1e-12, 0);
	float s2[49];
	for (int i = 0; i < 49; i++)
		s2[i] = 10.0f * m[i] - 4.0f; /* min-max scaling makes SSIM blind to an affine change */
	CHECK_CLOSE(explain_ssim(m, s2, 7), 1.0, 1e-6, 0);
	CHECK(explain_ssim(m, r, 7) < 0);
}

TEST(sanity_randomised_maps_change_and_parameter_free_maps_fail)
{
	CHECK(tiny_model() == 0);
	enum { NP = 3 };
	float x[NP * 2 * TS * TS];
	for (int p = 0; p < NP; p++)
		tiny_inputs(x + p * 2 * TS * TS, 40 + p);
	explain_feats before[2], after[2];
	explain_forward(&tm, x, 2, 0, before);
	explain_sanity_result r;
	explain_sanity(&tm, x, NP, 4, 1, &r);
	explain_forward(&tm, x, 2, 0, after);
	/* the parameters are restored: the same embeddings bit for bit */
	for (int l = 0; l < 3; l++)
		CHECK(memcmp(before[0].emb[l], after[0].emb[l], TD * sizeof(float)) == 0);
	CHECK(r.nsteps[0] == 6 && strcmp(r.step[0][0], "embedder") == 0 && strcmp(r.step[0][5], "+stem") == 0);
	CHECK(r.nsteps[1] == 2 && strcmp(r.step[1][0], "links") == 0);
	CHECK(strcmp(r.ms.name[0], "avsl") == 0 && strcmp(r.ms.name[1], "cam-last") == 0 && strcmp(r.ms.name[2], "grad") == 0);
	/* a randomised trunk gives different maps: the model-dependent methods pass */
	for (int k = 0; k < 3; k++)
		CHECKF(r.pass[0][k] && r.rho[0][5][k] < EXPLAIN_SANITY_RHO, "%s: rho %.3f", r.ms.name[k], r.rho[0][5][k]);
	/* the last-level CAM never reads the collector: its maps stay identical, and the check reports it failing */
	CHECK(r.rho[1][0][1] == 1.0 && r.rho[1][1][1] == 1.0 && !r.pass[1][1]);
	CHECK_CLOSE(r.ssim[1][1][1], 1.0, 1e-9, 0);
	/* the pair maps do read it */
	CHECK(r.rho[1][1][0] < 1.0 && r.rho[1][1][2] < 1.0);
	CHECK(!explain_sanity_pass(1.0) && explain_sanity_pass(0.2));
	for (int i = 0; i < 2; i++) {
		explain_feats_free(&before[i]);
		explain_feats_free(&after[i]);
	}
}

int main(void)
{
	RUN(df_grad_matches_finite_differences);
	RUN(level_grad_matches_finite_differences);
	RUN(synthetic_true_importance_wins_and_constant_ties);
	RUN(rank_units_pixels_and_cells);
	RUN(statistics);
	RUN(sanity_randomised_maps_change_and_parameter_free_maps_fail);
	tiny_model_free();
	return harness_finish();
}
