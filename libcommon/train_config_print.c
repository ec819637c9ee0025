/* train_config_print.c: avsl-train --print-config, the resolved configuration as "key value" lines. It prints what
 * the trainer will do, not merely what was typed: the loss form a setting resolves to, the per-epoch learning rate of
 * every optimiser group, the epochs that evaluate, how the reported figure is formed. tests/cli/official.sh pastes
 * the official commands and compares these lines with avsl-method.md §8. */
#include "train_config.h"
#include "optim.h"
#include "util.h"

#include <string.h>

/* The AVSL collector compares with the proxies of the batch's labels above this many classes (§3.5, §11-P12);
 * model.c passes the same number to the head. */
enum { PROXY_SUBSET_ABOVE = 1000 };

static void key(FILE *fp, const char *k) { fprintf(fp, "%-20s", k); }

static void pa_line(FILE *fp, const char *k, double pos, double neg, double alpha)
{
	key(fp, k);
	fprintf(fp, "pos_margin %g neg_margin %g alpha %g\n", pos, neg, alpha);
}

/* Epoch ranges with the same lr and the same active flag: "0-4:off 5-14:1e-05 15-24:5e-06 ..."; "off" = the group's
 * optimiser does not step (warm-up). */
static void lr_schedule(FILE *fp, const train_config *c, param_group g)
{
	int start = 0;
	for (int e = 0; e < c->epochs; e++) {
		double lr = steplr_lr(train_config_lr0(c, g), e, c->warm_up, c->step, c->gamma);
		int act = train_config_group_active(c, g, e);
		int last = e + 1 == c->epochs;
		if (!last) {
			double nlr = steplr_lr(train_config_lr0(c, g), e + 1, c->warm_up, c->step, c->gamma);
			if (nlr == lr && train_config_group_active(c, g, e + 1) == act)
				continue;
		}
		fprintf(fp, start ? " " : "");
		if (start == e)
			fprintf(fp, "%d:", start);
		else
			fprintf(fp, "%d-%d:", start, e);
		if (act)
			fprintf(fp, "%.10g", lr);
		else
			fputs("off", fp);
		start = e + 1;
	}
	fputc('\n', fp);
}

void train_config_print(const train_config *c, FILE *fp)
{
	int avsl = c->setting == SETTING_AVSL;
	key(fp, "setting");
	fprintf(fp, "%s\n", avsl ? "avsl_proxyanchor" : "proxy_anchor");
	key(fp, "dataset");
	fprintf(fp, "%s\n", c->dataset ? c->dataset : "-");
	key(fp, "model");
	fprintf(fp, "%s\n", train_config_arch(c));
	key(fp, "batch_size");
	fprintf(fp, "%d\n", c->batch_size);
	key(fp, "test_batch_size");
	fprintf(fp, "%d\n", c->test_batch_size);
	key(fp, "embeddings_dim");
	fprintf(fp, "%d\n", c->embeddings_dim);
	key(fp, "num_classes");
	if (c->num_classes)
		fprintf(fp, "%d\n", c->num_classes);
	else
		fputs("from the training data\n", fp);

	/* ---- head and losses (§2-§4) ---- */
	if (avsl) {
		key(fp, "feature_dim_list");
		fprintf(fp, "%d %d %d\n", c->feature_dim_list[0], c->feature_dim_list[1], c->feature_dim_list[2]);
		key(fp, "loss");
		fputs("avsl: distance Proxy-Anchor on squared unit-vector distances, final + 3 levels\n", fp);
		pa_line(fp, "level_pa", c->pa_pos_margin, c->pa_neg_margin, c->pa_alpha);
		pa_line(fp, "final_pa", c->final_pa_pos_margin, c->final_pa_neg_margin, c->final_pa_alpha);
		key(fp, "loss_weights");
		fprintf(fp, "final 1 level0 %g level1 %g level2 %g\n", c->loss_weight[0], c->loss_weight[1],
			c->loss_weight[2]);
		key(fp, "avsl");
		fprintf(fp, "avsl_m %g topk_corr %d prob_gamma %g index_p %g\n", c->avsl_m, c->topk_corr, c->prob_gamma,
			c->index_p);
		key(fp, "use_proxy");
		fputs("yes\n", fp); /* --no-use-proxy is accepted and ignored (train_config_notices) */
		key(fp, "proxy_columns");
		if (c->num_classes > PROXY_SUBSET_ABOVE)
			fprintf(fp, "batch labels (num_classes %d > %d)\n", c->num_classes, PROXY_SUBSET_ABOVE);
		else if (c->num_classes)
			fputs("all\n", fp);
		else
			fprintf(fp, "all up to %d classes, else batch labels\n", PROXY_SUBSET_ABOVE);
		key(fp, "proxy_certainty");
		fputs("batch mean\n", fp);
	} else if (c->baseline_distance) {
		key(fp, "loss");
		fputs("baseline: distance Proxy-Anchor on Euclidean (non-squared) unit-vector distances\n", fp);
		pa_line(fp, "baseline_pa", c->pa_pos_margin, c->pa_neg_margin, c->pa_alpha);
		key(fp, "proxy_columns");
		fputs("all\n", fp);
	} else {
		key(fp, "loss");
		fputs("baseline: cosine Proxy-Anchor\n", fp);
		key(fp, "baseline_pa");
		fprintf(fp, "margin %g alpha %g\n", c->proxyanchor_margin, c->proxyanchor_alpha);
		key(fp, "proxy_columns");
		fputs("all\n", fp);
	}

	/* ---- optimisation (§5) ---- */
	key(fp, "optimizer");
	fprintf(fp, "adamw betas 0.9 0.999 eps 1e-08 weight_decay %g\n", c->wd);
	key(fp, "lr");
	fprintf(fp, "trunk %.10g embedder %.10g collector %.10g\n", c->lr_trunk, c->lr_embedder, c->lr_collector);
	key(fp, "step_gamma");
	fprintf(fp, "step %d gamma %g\n", c->step, c->gamma);
	key(fp, "warm_up");
	fprintf(fp, "%d epochs, stepping:", c->warm_up);
	if (!c->warm_up_groups)
		fputs(" none", fp);
	for (int g = PG_TRUNK; g < PG_COUNT; g++)
		if (c->warm_up_groups >> g & 1u)
			fprintf(fp, " %s", g == PG_TRUNK ? "trunk" : g == PG_EMBEDDER ? "embedder" : "collector");
	fputc('\n', fp);
	static const char *const gname[PG_COUNT] = {"", "lr_trunk_epochs", "lr_embedder_epochs", "lr_collector_epochs"};
	for (int g = PG_TRUNK; g < PG_COUNT; g++) {
		key(fp, gname[g]);
		lr_schedule(fp, c, (param_group)g);
	}
	key(fp, "clip");
	fprintf(fp, "%s norm %g per group\n", clip_mode_name((clip_mode)c->clip_mode), c->clip_norm);
	key(fp, "batch_norm");
	fputs(!c->not_freeze_bn ? "frozen\n" : c->sync_bn ? "trained (batch statistics of the global batch, --sync-bn)\n"
								   : "trained (batch statistics)\n", fp);
	key(fp, "epochs");
	fprintf(fp, "%d\n", c->epochs);

	/* ---- evaluation (§5, §7) ---- */
	key(fp, "splits_to_eval");
	fprintf(fp, "%s\n", c->splits_to_eval == SPLIT_TEST ? "test" : c->splits_to_eval == SPLIT_TRAIN ? "train"
												  : "test train");
	key(fp, "eval_epochs");
	for (int e = 0; e < c->epochs; e++)
		if (train_config_eval_due(c, e))
			fprintf(fp, "%s%d", e ? " " : "", e);
	fputc('\n', fp);
	key(fp, "eval_distance");
	fputs(avsl ? "avsl final distance\n" : "euclidean on L2-normalised embeddings\n", fp);
	key(fp, "k_list");
	for (int i = 0; i < c->n_k_list; i++)
		fprintf(fp, "%s%d", i ? " " : "", c->k_list[i]);
	fputc('\n', fp);
	key(fp, "k");
	if (c->k)
		fprintf(fp, "%d\n", c->k);
	else
		fputs("auto\n", fp);
	key(fp, "reported_figure");
	int s = train_config_slices(c);
	if (s)
		fprintf(fp, "mean over %d query slices + the remainder slice\n", s);
	else
		fputs("global\n", fp);
	key(fp, "selection");
	fprintf(fp, "test recall@1 (%s) patience %d or <= 0.6 x best\n", s ? "slice mean" : "global", c->patience);
	key(fp, "eval_exclude");
	for (int i = 0; i < c->n_eval_exclude; i++)
		fprintf(fp, "%s%s", i ? " " : "", c->eval_exclude[i]);
	fputs(c->n_eval_exclude ? "\n" : "-\n", fp);
	key(fp, "seed");
	fprintf(fp, "%llu\n", (unsigned long long)c->seed);
}
