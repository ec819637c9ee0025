/* The distance variant of the Proxy-Anchor baseline (--baseline-loss distance, method §4.3 last paragraph):
 * d = ||x/|x| - p/|p||| under the distance Proxy-Anchor, checked by central finite differences on the feature map,
 * the proxies and the linear weights (float32 forward, so the tolerance allows ~1e-2 relative on the slope), and its
 * values (loss, every gradient) against an independent float64 PyTorch golden. */
#include "baseline_head.h"
#include "golden.h"
#include "harness.h"
#include "params.h"
#include "rng.h"

#include <math.h>

enum { N = 6, C = 5, H = 3, W = 2, D = 4, K = 3 };

static float step_loss(baseline_head *h, paramset *ps, const float *feat, const int32_t *lab, float *dfeat)
{
	paramset_zero_grad(ps);
	return baseline_head_train_step(h, ps, feat, lab, N, dfeat);
}

TEST(distance_baseline_gradients_match_finite_differences)
{
	paramset ps;
	paramset_init(&ps);
	baseline_head_config cfg = {.C = C, .D = D, .K = K, .delta = 0.1f, .alpha = 32, .distance = 1,
				    .pa_pos = 0.3f, .pa_neg = 1.2f, .pa_alpha = 4, .threads = 1};
	baseline_head *h = baseline_head_create(&cfg, &ps);
	paramset_finalize(&ps);
	baseline_head_init(h, &ps, 3);
	baseline_head_plan(h, N, H, W);
	float feat[N * C * H * W], dfeat[N * C * H * W]; /* (N, C, H, W) */
	rng r;
	rng_init(&r, 11, 1);
	for (int i = 0; i < N * C * H * W; i++)
		feat[i] = (float)rng_normal(&r);
	int32_t lab[N] = {0, 1, 2, 0, 1, 1};
	float loss = step_loss(h, &ps, feat, lab, dfeat);
	CHECK(isfinite(loss) && loss > 0);
	/* analytic gradients of every parameter, saved before the probes overwrite ps.grad */
	float *g0 = malloc(ps.total * sizeof(float));
	memcpy(g0, ps.grad, ps.total * sizeof(float));
	const double eps = 1e-2;
	int checked = 0;
	for (int i = 0; i < N * C * H * W; i += 7) {
		float keep = feat[i], tmp[N * C * H * W];
		feat[i] = keep + (float)eps;
		double lp = step_loss(h, &ps, feat, lab, tmp);
		feat[i] = keep - (float)eps;
		double lm = step_loss(h, &ps, feat, lab, tmp);
		feat[i] = keep;
		double num = (lp - lm) / (2 * eps);
		CHECKF(fabs(num - dfeat[i]) <= 2e-3 + 2e-2 * fabs(num), "feat[%d]: numeric %g analytic %g", i, num,
		       (double)dfeat[i]);
		checked++;
	}
	for (int t = 0; t < ps.n; t++) {
		if (!ps.info[t].trainable)
			continue;
		float *p = paramset_data(&ps, t);
		for (size_t j = 0; j < ps.info[t].numel; j += 3) {
			float keep = p[j], tmp[N * C * H * W];
			p[j] = keep + (float)eps;
			double lp = step_loss(h, &ps, feat, lab, tmp);
			p[j] = keep - (float)eps;
			double lm = step_loss(h, &ps, feat, lab, tmp);
			p[j] = keep;
			double num = (lp - lm) / (2 * eps), ana = g0[ps.info[t].offset + j];
			CHECKF(fabs(num - ana) <= 2e-3 + 2e-2 * fabs(num), "%s[%zu]: numeric %g analytic %g",
			       ps.info[t].name, j, num, ana);
			checked++;
		}
	}
	CHECK(checked > 20);
	free(g0);
	baseline_head_free(h);
	paramset_free(&ps);
}

/* Values against tests/reference/baseline_distance_golden.py (float64 autograd): the official SOP baseline's margins
 * (1.8, 2.4, 16 on distances in [0, 2]) and small ones (0.3, 1.2, 4). */
static void golden_case(const char *prefix, char *why, size_t wl, int *bad)
{
	enum { GN = 6, GC = 16, GH = 2, GW = 2, GD = 16, GK = 4 };
	char nm[128];
	snprintf(nm, sizeof nm, "%smargins", prefix);
	float *mg = gload(nm, NULL);
	if (!mg) {
		snprintf(why, wl, "golden %s missing", nm);
		*bad = 1;
		return;
	}
	baseline_head_config cfg = {.C = GC, .D = GD, .K = GK, .delta = 0.1f, .alpha = 32, .distance = 1,
				    .pa_pos = mg[0], .pa_neg = mg[1], .pa_alpha = mg[2], .threads = 2};
	free(mg);
	paramset ps;
	paramset_init(&ps);
	baseline_head *h = baseline_head_create(&cfg, &ps);
	paramset_finalize(&ps);
	baseline_head_init(h, &ps, 3);
	for (int i = 0; i < ps.n; i++) {
		size_t n = 0;
		snprintf(nm, sizeof nm, "%s%s", prefix, ps.info[i].name);
		float *g = gload(nm, &n);
		if (!g || n != ps.info[i].numel) {
			snprintf(why, wl, "golden %s missing", nm);
			*bad = 1;
			free(g);
			return;
		}
		memcpy(paramset_data(&ps, i), g, n * sizeof(float));
		free(g);
	}
	baseline_head_plan(h, GN, GH, GW);
	snprintf(nm, sizeof nm, "%sfeat", prefix);
	float *feat = gload(nm, NULL), dfeat[GN * GC * GH * GW]; /* (N, C, H, W) */
	snprintf(nm, sizeof nm, "%slabels", prefix);
	int32_t *lab = gload_i32(nm, NULL);
	paramset_zero_grad(&ps);
	float loss = baseline_head_train_step(h, &ps, feat, lab, GN, dfeat);
	/* float32 forward; a = 16 multiplies distance rounding (~1e-7) inside exp: 1e-5 relative on the loss, 1e-3 on
	 * the gradients (sums of terms of both signs) */
	snprintf(nm, sizeof nm, "%sloss", prefix);
	*bad = golden_cmp(nm, &loss, 1, 1e-6, 1e-5, why, wl) != 0;
	for (int i = 0; !*bad && i < ps.n; i++) {
		snprintf(nm, sizeof nm, "%sgrad.%s", prefix, ps.info[i].name);
		*bad = golden_cmp(nm, paramset_grad(&ps, i), ps.info[i].numel, 1e-6, 1e-3, why, wl) != 0;
	}
	snprintf(nm, sizeof nm, "%sdfeat", prefix);
	if (!*bad)
		*bad = golden_cmp(nm, dfeat, GN * GC * GH * GW, 1e-7, 1e-3, why, wl) != 0;
	free(feat);
	free(lab);
	baseline_head_free(h);
	paramset_free(&ps);
}

TEST(distance_baseline_matches_torch)
{
	CHECK(golden_open("baseline_distance.safetensors") == 0);
	char why[256] = "";
	int bad = 0;
	golden_case("sop.", why, sizeof why, &bad);
	CHECKF(!bad, "sop margins: %s", why);
	golden_case("small.", why, sizeof why, &bad);
	CHECKF(!bad, "small margins: %s", why);
}

int main(void)
{
	RUN(distance_baseline_gradients_match_finite_differences);
	RUN(distance_baseline_matches_torch);
	return harness_finish();
}
