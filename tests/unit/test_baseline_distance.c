/* The distance variant of the Proxy-Anchor baseline (--baseline-loss distance, method §4.3 last paragraph):
 * d = ||x/|x| - p/|p||| under the distance Proxy-Anchor, checked by central finite differences on the feature map,
 * the proxies and the linear weights (float32 forward, so the tolerance allows ~1e-2 relative on the slope). */
#include "baseline_head.h"
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

TEST(distance_and_cosine_variants_differ)
{
	float loss[2];
	for (int v = 0; v < 2; v++) {
		paramset ps;
		paramset_init(&ps);
		baseline_head_config cfg = {.C = C, .D = D, .K = K, .delta = 0.1f, .alpha = 32, .distance = v,
					    .pa_pos = 1.8f, .pa_neg = 2.2f, .pa_alpha = 16, .threads = 1};
		baseline_head *h = baseline_head_create(&cfg, &ps);
		paramset_finalize(&ps);
		baseline_head_init(h, &ps, 3);
		baseline_head_plan(h, N, H, W);
		float feat[N * C * H * W], dfeat[N * C * H * W];
		for (int i = 0; i < N * C * H * W; i++)
			feat[i] = (float)((i * 37) % 11) / 11.0f;
		int32_t lab[N] = {0, 1, 2, 0, 1, 1};
		loss[v] = step_loss(h, &ps, feat, lab, dfeat);
		baseline_head_free(h);
		paramset_free(&ps);
	}
	CHECK(isfinite(loss[0]) && isfinite(loss[1]) && fabs(loss[0] - loss[1]) > 1e-3);
}

int main(void)
{
	RUN(distance_baseline_gradients_match_finite_differences);
	RUN(distance_and_cosine_variants_differ);
	return harness_finish();
}
