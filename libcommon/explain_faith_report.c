/* explain_faith_report.c: the faithfulness table (text or JSON) from the per-pair AUCs (see explain.h). */
#include "explain.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>

/* Paired difference a - b over the pairs (stride apart) with its bootstrap interval. */
static explain_ci diff_ci(const double *a, const double *b, int n, int stride, int B, uint64_t seed)
{
	double *d = xmalloc_array((size_t)(n > 0 ? n : 1), sizeof(double));
	for (int i = 0; i < n; i++)
		d[i] = a[(size_t)i * stride] - b[(size_t)i * stride];
	explain_ci ci = explain_bootstrap(d, n, 1, B, seed);
	free(d);
	return ci;
}

void explain_faith_print(FILE *fp, const explain_faith_result *r, const explain_faith_config *fc, int json)
{
	const explain_map_set *ms = &r->ms;
	const int NM = ms->n, n = r->pairs, stride = EXPLAIN_SETTINGS * 2 * NM, B = fc->resamples;
	const uint64_t seed = fc->seed;
	if (json)
		fprintf(fp, "{\"pairs\":%d,\"attr_k\":%d,\"resamples\":%d,\"seed\":%llu,\"scale\":\"median same-class d_f\","
			    "\"settings\":[",
			n, fc->attr_k, B, (unsigned long long)seed);
	else {
		fprintf(fp, "# faithfulness over %d pairs (query: the shard's first records; partner: its nearest same-class "
			    "record under d_f)\n", n);
		fprintf(fp, "# curves: (d_f - d_0) / median d_f from the query to its class; AUC = mean over the curve\n");
		fprintf(fp, "# deletion: higher is better; insertion: lower is better; [lo, hi]: bootstrap 95%% interval "
			    "of the mean (%d resamples, seed %llu)\n", B, (unsigned long long)seed);
		fprintf(fp, "# vs CONTROL: paired win rate (ties 1/2); all: the paired difference's 95%% interval lies on "
			    "the better side against every control\n");
	}
	for (int s = 0; s < EXPLAIN_SETTINGS; s++)
		for (int c = 0; c < 2; c++) {
			const int hb = c == 0; /* deletion: higher is better */
			const double *base = r->auc + ((size_t)s * 2 + c) * NM;
			if (json)
				fprintf(fp, "%s{\"setting\":\"%s\",\"curve\":\"%s\",\"steps\":%d,\"higher_better\":%s,\"maps\":[",
					s || c ? "," : "", explain_setting_name[s], c ? "insertion" : "deletion", r->steps[s / 2],
					hb ? "true" : "false");
			else {
				fprintf(fp, "\n## %s %s (%d steps)\n%-13s %8s %19s", explain_setting_name[s],
					c ? "insertion" : "deletion", r->steps[s / 2], "map", "mean", "95% interval");
				for (int j = ms->methods; j < NM; j++)
					fprintf(fp, " %12s", ms->name[j]);
				fprintf(fp, " %4s\n", "all");
			}
			for (int k = 0; k < NM; k++) {
				explain_ci ci = explain_bootstrap(base + k, n, stride, B, seed);
				int all = 1, listed = 0;
				if (json)
					fprintf(fp, "%s{\"map\":\"%s\",\"control\":%s,\"mean\":%.6f,\"lo\":%.6f,\"hi\":%.6f,\"vs\":[",
						k ? "," : "", ms->name[k], k >= ms->methods ? "true" : "false", ci.mean, ci.lo,
						ci.hi);
				else
					fprintf(fp, "%-13s %8.4f [%8.4f, %8.4f]", ms->name[k], ci.mean, ci.lo, ci.hi);
				for (int j = ms->methods; j < NM; j++) {
					if (j == k) {
						if (!json)
							fprintf(fp, " %12s", "-");
						continue;
					}
					double w = explain_win_rate(base + k, base + j, n, stride, hb);
					explain_ci d = diff_ci(base + k, base + j, n, stride, B, seed);
					if (!(hb ? d.lo > 0 : d.hi < 0))
						all = 0;
					if (json)
						fprintf(fp, "%s{\"control\":\"%s\",\"win\":%.4f,\"diff\":%.6f,\"diff_lo\":%.6f,"
							    "\"diff_hi\":%.6f}",
							listed++ ? "," : "",
							ms->name[j], w, d.mean, d.lo, d.hi);
					else
						fprintf(fp, " %12.2f", w);
				}
				if (json)
					fprintf(fp, "],\"beats_all_controls\":%s}", all ? "true" : "false");
				else
					fprintf(fp, " %4s\n", all ? "yes" : "no");
			}
			if (json)
				fprintf(fp, "]}");
		}
	if (json)
		fprintf(fp, "]}\n");
}
