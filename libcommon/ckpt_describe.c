/* ckpt_describe.c: see ckpt_describe.h. The roles follow formats/checkpoint.md ("What each tool reads"). */
#include "ckpt_describe.h"
#include "avsl_head.h"
#include "checkpoint.h"

#include <string.h>

static int starts(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

/* The tool that reads a metadata key, and how. */
static const char *meta_role(const char *k)
{
	static const char *graph[] = {"avsl.levels", "avsl.embeddings_dim", "avsl.topk_corr", "avsl.prob_gamma",
				      "avsl.index_p"};
	for (size_t i = 0; i < sizeof graph / sizeof *graph; i++)
		if (!strcmp(k, graph[i]))
			return "avsl-graph (avsl metric), avsl-embed, avsl-train";
	if (!strcmp(k, "avsl.input") || !strcmp(k, "avsl.config") || !strcmp(k, "avsl.setting") ||
	    !strcmp(k, "avsl.arch") || !strcmp(k, "avsl.format_version"))
		return "avsl-embed, avsl-train (model and transform)";
	if (starts(k, "avsl."))
		return "avsl-train (resume, bookkeeping)";
	return "ignored (not an avsl key)";
}

static const char *tensor_role(const char *n)
{
	if (starts(n, "collector.links."))
		return "avsl-graph: RAW link EMA buffer; ReLU, top-k (avsl.topk_corr) and column sums applied on load";
	if (!strcmp(n, "collector.prob_coef.0") || !strcmp(n, "collector.prob_bias.0"))
		return "avsl-graph: required but UNUSED (level 0 has no certainty gate)";
	if (starts(n, "collector.prob_coef."))
		return "avsl-graph: certainty gate coefficient alpha of this level";
	if (starts(n, "collector.prob_bias."))
		return "avsl-graph: certainty gate bias beta of this level";
	if (starts(n, "collector.proxies"))
		return "avsl-train only (proxies of the loss)";
	if (starts(n, "optim."))
		return "avsl-train only (optimiser state for --resume)";
	if (starts(n, "embedder."))
		return "avsl-embed (embedder)";
	if (starts(n, "fc."))
		return "ignored (torchvision classifier)";
	return "avsl-embed (trunk)";
}

int ckpt_describe(FILE *fp, const st_file *ck)
{
	fprintf(fp, "checkpoint %s: %d metadata keys, %d tensors\n", ck->path, ck->n_meta, ck->n);
	fprintf(fp, "metadata:\n");
	for (int i = 0; i < ck->n_meta; i++) {
		const char *v = ck->meta_val[i];
		int len = (int)strlen(v);
		fprintf(fp, "  %-24s %-14.*s%s  %s\n", ck->meta_key[i], len > 40 ? 40 : len, v, len > 40 ? "..." : "",
			meta_role(ck->meta_key[i]));
	}
	fprintf(fp, "tensors:\n");
	for (int i = 0; i < ck->n; i++) {
		const st_tensor *t = &ck->t[i];
		char shape[128];
		int o = snprintf(shape, sizeof shape, "[");
		for (int d = 0; d < t->ndim && o < (int)sizeof shape; d++)
			o += snprintf(shape + o, sizeof shape - o, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
		if (o < (int)sizeof shape)
			snprintf(shape + o, sizeof shape - o, "]");
		fprintf(fp, "  %-40s %-4s %-18s %s\n", t->name, st_dtype_name(t->dtype), shape, tensor_role(t->name));
	}
	/* the one hyper-parameter reader (checkpoint.h): it dies with its own message on a checkpoint it refuses */
	fflush(fp);
	train_config tc;
	train_config_init(&tc);
	checkpoint_config_from(ck, &tc);
	if (tc.setting != SETTING_AVSL) {
		fprintf(fp, "avsl-graph --metric avsl: not usable: a %s checkpoint has no AVSL collector\n",
			train_config_arch(&tc));
		train_config_free(&tc);
		return 1;
	}
	avsl_head_config hc;
	checkpoint_collector_config(&tc, &hc);
	train_config_free(&tc);
	avsl_collector_eval col;
	fmt_error err;
	if (avsl_collector_load(ck, &hc, &col, &err) != 0) {
		fprintf(fp, "avsl-graph --metric avsl: not usable: %s\n", err.msg);
		return 1;
	}
	fprintf(fp, "avsl-graph --metric avsl: usable: %d levels of %d, p = %g, prob_gamma = %g\n", col.view.levels,
		col.view.dim, (double)col.view.p, (double)col.view.gamma_p);
	avsl_collector_free(&col);
	return 0;
}
