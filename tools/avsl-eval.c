/* avsl-eval: neighbour graph(s) (.avg) -> Recall@K, Precision@K, R-Precision, MAP@R (global and slice mean).
 * With --emb it builds the l2/cosine graph itself (one-step baseline evaluation). See man/avsl-eval.1; the work
 * lives in libcommon/metrics.c and libcommon/knn.c. */
#include "cli.h"
#include "emb.h"
#include "graph.h"
#include "knn.h"
#include "metrics.h"
#include "threadpool.h"
#include "util.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
	"Usage: avsl-eval [OPTIONS] [GRAPH...]\n"
	"       avsl-eval [OPTIONS] --emb EMBEDDINGS\n"
	"Print Recall@K, R-Precision and MAP@R of neighbour graphs (.avg; default or \"-\": standard input). Several\n"
	"graphs (the parts of avsl-graph --shard) are read one after another as one graph.\n"
	"\n"
	"  -k, --k LIST         K values for Recall@K (and Precision@K), comma-separated (default 1,2,4,8)\n"
	"  -p, --precision      also print Precision@K\n"
	"      --slice-mean S   also print the mean over S query slices (SOP protocol: S = 100)\n"
	"      --json           one JSON object instead of the text table\n"
	"      --emb FILE       evaluate embeddings directly: build the graph in memory\n"
	"      --metric M       with --emb: l2 | cosine | levels | level:N (default l2)\n"
	"      --threads N      with --emb: worker threads (default: all CPUs)\n"
	"      --tile R         with --emb: rows per tile (default 512)\n"
	"  -o, --output FILE    write the table to FILE (default: standard output)\n"
	"  -q, --quiet          no progress or warnings on stderr\n"
	"  -v, --verbose        more detail on stderr\n"
	"  -V, --version        print the version and exit\n"
	"  -h, --help           print this help and exit\n";

enum { OPT_SLICE = 256, OPT_JSON, OPT_EMB, OPT_METRIC, OPT_THREADS, OPT_TILE };

static void add_query(void *ctx, uint64_t qi, const avg_query *q, const avg_neighbour *nb)
{
	(void)qi;
	metrics_add(ctx, q, nb);
}

/* Read one graph file into the accumulator; checks that it holds enough neighbours for every K asked. */
static void read_graph(const char *path, metrics_acc *m, long kmax, char *metric_seen)
{
	const char *name = strcmp(path, "-") ? path : "(stdin)";
	FILE *fp = in_open(path);
	avg_header h;
	fmt_error err;
	if (avg_read_header(fp, name, &h, &err) != 0)
		die("%s", err.msg);
	if ((long)h.k < kmax)
		die("%s: Recall@%ld needs %ld neighbours per query, the graph has k = %u", name, kmax, kmax, h.k);
	if (*metric_seen && strcmp(metric_seen, h.metric) != 0)
		die("%s: metric %s differs from the previous graph's %s", name, h.metric, metric_seen);
	memcpy(metric_seen, h.metric, sizeof h.metric);
	avg_neighbour *nb = xmalloc_array(h.k ? h.k : 1, sizeof *nb);
	avg_query q;
	int r;
	for (uint64_t i = 0; (r = avg_read_query(fp, name, &h, i, &q, nb, &err)) == 1; i++)
		metrics_add(m, &q, nb);
	if (r < 0)
		die("%s", err.msg);
	free(nb);
	in_close(fp);
}

int main(int argc, char **argv)
{
	cli_init(argv[0]);
	static const struct option longopts[] = {
		{"k", required_argument, 0, 'k'}, {"precision", no_argument, 0, 'p'},
		{"slice-mean", required_argument, 0, OPT_SLICE}, {"json", no_argument, 0, OPT_JSON},
		{"emb", required_argument, 0, OPT_EMB}, {"metric", required_argument, 0, OPT_METRIC},
		{"threads", required_argument, 0, OPT_THREADS}, {"tile", required_argument, 0, OPT_TILE},
		{"output", required_argument, 0, 'o'}, {"quiet", no_argument, 0, 'q'},
		{"verbose", no_argument, 0, 'v'}, {"version", no_argument, 0, 'V'}, {"help", no_argument, 0, 'h'},
		{0, 0, 0, 0}};
	long ks[METRICS_MAX_K] = {1, 2, 4, 8}, threads = avsl_cpu_count(), tile = 512, slices = 0;
	int nk = 4, precision = 0, json = 0, verbosity = CLI_NORMAL, c;
	const char *emb = NULL, *output = "-", *why;
	knn_metric metric = {.kind = KNN_L2};
	while ((c = getopt_long(argc, argv, "k:po:qvVh", longopts, NULL)) != -1) {
		switch (c) {
		case 'k':
			nk = parse_long_list(optarg, 1, 65536, ks, METRICS_MAX_K, &why);
			if (nk < 1)
				die_usage("-k %s: %s", optarg, why);
			break;
		case 'p': precision = 1; break;
		case OPT_SLICE: slices = opt_long("--slice-mean", optarg, 1, 1L << 30); break;
		case OPT_JSON: json = 1; break;
		case OPT_EMB: emb = optarg; break;
		case OPT_METRIC:
			if (knn_metric_parse(optarg, &metric, &why) != 0)
				die_usage("--metric %s: %s", optarg, why);
			if (metric.kind == KNN_AVSL)
				die_usage("--metric avsl: use avsl-graph -m MODEL, then avsl-eval on its graph");
			break;
		case OPT_THREADS: threads = opt_long("--threads", optarg, 1, 1024); break;
		case OPT_TILE: tile = opt_long("--tile", optarg, 1, 8192); break;
		case 'o': output = optarg; break;
		case 'q': verbosity = CLI_QUIET; break;
		case 'v': verbosity = CLI_VERBOSE; break;
		case 'V': cli_print_version(); return 0;
		case 'h': fputs(usage_text, stdout); return 0;
		default: die_usage("unknown option");
		}
	}
	if (emb && optind < argc)
		die_usage("--emb and graph files exclude each other");
	long kmax = 0;
	for (int i = 0; i < nk; i++)
		kmax = ks[i] > kmax ? ks[i] : kmax;

	metrics_acc m;
	metrics_init(&m, ks, nk);
	const char *what = emb ? emb : optind < argc ? argv[optind] : "(stdin)";
	if (emb) {
		ave_set s;
		fmt_error ferr;
		FILE *fp = in_open(emb);
		if (ave_load(fp, strcmp(emb, "-") ? emb : "(stdin)", &s, &ferr) != 0)
			die("%s", ferr.msg);
		in_close(fp);
		knn_opts o = {.query = &s, .gallery = &s, .metric = metric, .threads = (int)threads, .tile = (int)tile,
			      .q_begin = 0, .q_end = s.n, .quiet = verbosity == CLI_QUIET, .label = "eval"};
		uint32_t kd = knn_default_k(&s, &s);
		o.k = (uint32_t)kmax > kd ? (uint32_t)kmax : kd;
		char err[512];
		if (knn_run(&o, add_query, &m, err, sizeof err) != 0)
			die("%s: %s", emb, err);
		ave_free(&s);
	} else {
		char metric_seen[32] = "";
		if (optind == argc)
			read_graph("-", &m, kmax, metric_seen);
		for (int i = optind; i < argc; i++)
			read_graph(argv[i], &m, kmax, metric_seen);
	}
	if (m.n == 0)
		die("%s: no queries", what);
	if (slices && (uint64_t)slices > m.n)
		die("%s: --slice-mean %ld: only %llu queries", what, slices, (unsigned long long)m.n);
	if (verbosity != CLI_QUIET) {
		if (m.n_lone)
			warn("%llu of %llu queries have no other item of their class (lone): excluded from the means",
			     (unsigned long long)m.n_lone, (unsigned long long)m.n);
		if (m.n_trunc)
			warn("%llu queries have more relevant items than neighbours in the graph: R-Precision and MAP@R "
			     "use the neighbours available (raise avsl-graph -k)", (unsigned long long)m.n_trunc);
	}
	if (m.n_lone == m.n)
		die("%s: every query is lone (no class has two items): nothing to evaluate", what);
	metrics_mean g, s;
	metrics_global(&m, &g);
	if (slices)
		metrics_sliced(&m, (uint64_t)slices, &s);
	out_file out;
	out_open(&out, output, 0);
	metrics_print(out.fp, &m, &g, slices ? &s : NULL, (uint64_t)slices, precision, json);
	out_commit(&out);
	metrics_free(&m);
	return 0;
}
