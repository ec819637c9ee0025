/* The trainer's schedule against tests/reference/schedule_golden.py (PyTorch's AdamW, StepLR and clip_grad_norm_
 * driven as the official trainer drives them): five short epochs of a tiny exact model with one tensor per group,
 * through the functions trainer.c calls (train_config_apply_epoch, train_config_update, train_config_eval_due,
 * early_stop_update): warm-up gating (the trunk does not step in epoch 0), the lr of every group in every epoch,
 * clipping on iteration 0 only, the evaluation epochs and the early stop. */
#include "golden.h"
#include "harness.h"
#include "optim.h"
#include "params.h"
#include "train_config.h"

static const char *const gname[PG_COUNT] = {"", "trunk", "embedder", "collector"};

TEST(schedule_matches_torch)
{
	CHECK(golden_open("schedule.safetensors") == 0);
	train_config c;
	train_config_init(&c);
	char *argv[] = {"t", "--data_path", "x", "--lr_trunk", "0.01", "--lr_embedder", "0.02", "--lr_collector", "0.05",
			"--wd", "0.05", "--warm_up", "1", "--warm_up_list", "embedder", "collector", "--step", "2",
			"--gamma", "0.5", "--epochs", "5", "--interval", "2", "--patience", "4"};
	char err[256];
	CHECKF(train_config_parse(&c, sizeof argv / sizeof *argv, argv, err, sizeof err) == TC_OK, "%s", err);
	CHECK(c.clip_mode == CLIP_FIRST && c.clip_norm == 10);
	paramset ps;
	paramset_init(&ps);
	static const int64_t sizes[PG_COUNT] = {0, 6, 4, 5};
	for (int g = PG_TRUNK; g < PG_COUNT; g++)
		paramset_add(&ps, gname[g], 1, &sizes[g], (param_group)g, 1);
	paramset_finalize(&ps);
	float *x[PG_COUNT] = {0};
	for (int g = PG_TRUNK; g < PG_COUNT; g++) {
		char nm[64];
		snprintf(nm, sizeof nm, "init.%s", gname[g]);
		float *v = gload(nm, NULL);
		snprintf(nm, sizeof nm, "x.%s", gname[g]);
		x[g] = gload(nm, NULL); /* (iterations, n) */
		CHECK(v && x[g]);
		memcpy(paramset_data(&ps, g - 1), v, sizes[g] * sizeof(float));
		free(v);
	}
	float *scale = gload("scale", NULL), *lr = gload("lr", NULL), *active = gload("active", NULL);
	float *clipped = gload("clipped", NULL);
	CHECK(scale && lr && active && clipped);
	adamw o;
	adamw_init(&o, &ps);
	int64_t it = 0;
	enum { ITERS = 2 };
	for (int e = 0; e < c.epochs; e++) {
		train_config_apply_epoch(&c, &o, e);
		for (int g = PG_TRUNK; g < PG_COUNT; g++) {
			CHECK_CLOSE(o.group[g].lr, lr[e * 3 + g - 1], 0, 1e-7);
			CHECKF(o.group[g].active == (active[e * 3 + g - 1] != 0), "epoch %d group %s", e, gname[g]);
		}
		for (int s = 0; s < ITERS; s++, it++) {
			/* loss = sum_g a_g / 2 ||w_g - x_g||^2 -> grad a_g (w_g - x_g) */
			float before[PG_COUNT][8];
			for (int g = PG_TRUNK; g < PG_COUNT; g++) {
				float *w = paramset_data(&ps, g - 1), *gr = paramset_grad(&ps, g - 1);
				for (int i = 0; i < sizes[g]; i++)
					before[g][i] = gr[i] = scale[it * 3 + g - 1] * (w[i] - x[g][it * sizes[g] + i]);
			}
			train_config_update(&c, &o, it, NULL);
			for (int g = PG_TRUNK; g < PG_COUNT; g++) {
				int changed = memcmp(before[g], paramset_grad(&ps, g - 1), sizes[g] * sizeof(float)) != 0;
				CHECKF(changed == (clipped[it * 3 + g - 1] != 0), "iteration %lld group %s: clipped %d",
				       (long long)it, gname[g], changed);
			}
		}
		for (int g = PG_TRUNK; g < PG_COUNT; g++) {
			char nm[64];
			snprintf(nm, sizeof nm, "after.e%d.%s", e, gname[g]);
			/* float32 AdamW against float64 torch: updates of ~lr, rounding ~1e-7 relative per step */
			CMP(nm, paramset_data(&ps, g - 1), (size_t)sizes[g], 1e-6, 1e-5);
		}
	}
	/* evaluation epochs and the early stop on three R@1 sequences */
	size_t ne;
	int32_t *ev = gload_i32("eval_epochs", &ne);
	CHECK(ev);
	size_t k = 0;
	for (int e = 0; e < c.epochs; e++)
		if (train_config_eval_due(&c, e)) {
			CHECKF(k < ne && ev[k] == e, "evaluation after epoch %d", e);
			k++;
		}
	CHECK(k == ne);
	for (const char *seq = "abc"; *seq; seq++) {
		char nm[32];
		size_t nr;
		snprintf(nm, sizeof nm, "r1.%c", *seq);
		float *r1 = gload(nm, &nr);
		snprintf(nm, sizeof nm, "best.%c", *seq);
		float *best = gload(nm, NULL);
		snprintf(nm, sizeof nm, "stop.%c", *seq);
		int32_t *stop = gload_i32(nm, NULL);
		CHECK(r1 && best && stop);
		early_stop es;
		early_stop_init(&es);
		int stopped = -1;
		for (size_t i = 0; i < nr && stopped < 0; i++) {
			int st = 0;
			int b = early_stop_update(&es, &c, ev[i], r1[i], &st);
			CHECKF(b == (best[i] != 0), "sequence %c evaluation %zu: best %d", *seq, i, b);
			if (st)
				stopped = ev[i];
		}
		CHECKF(stopped == stop[0], "sequence %c: stopped after %d, golden %d", *seq, stopped, stop[0]);
		free(r1), free(best), free(stop);
	}
	free(ev);
	for (int g = PG_TRUNK; g < PG_COUNT; g++)
		free(x[g]);
	free(scale), free(lr), free(active), free(clipped);
	adamw_free(&o);
	paramset_free(&ps);
	train_config_free(&c);
}

int main(void)
{
	RUN(schedule_matches_torch);
	return harness_finish();
}
