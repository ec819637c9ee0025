/* avsl-graph: embeddings (.ave) -> neighbour graph (.avg): the k nearest gallery items of every query, exactly.
 * See man/avsl-graph.1. The work lives in libcommon/knn.c. */
#include "cli.h"
#include "dist.h"
#include "emb.h"
#include "graph.h"
#include "graph_parts.h"
#include "knn.h"
#include "threadpool.h"
#include "util.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#if __has_include("avsl_head.h")
#include "avsl_head.h"
#include "checkpoint.h"
#include "safetensors.h"
#define GRAPH_HAVE_AVSL 1
#endif

static const char usage_text[] =
	"Usage: avsl-graph [OPTIONS] [EMBEDDINGS]\n"
	"       avsl-graph --merge [-o FILE] PART...\n"
	"Write the k nearest gallery items of every query (a .avg neighbour graph) to stdout or -o FILE.\n"
	"EMBEDDINGS is an .ave stream (default or \"-\": standard input); the gallery is the same set, the query\n"
	"itself excluded, unless -g names another.\n"
	"\n"
	"  -m, --model FILE     checkpoint with the AVSL collector (read by --metric avsl only)\n"
	"  -g, --gallery FILE   gallery embeddings (default: the queries themselves)\n"
	"  -k, --k N            neighbours per query (default: max(100, largest class size - 1), at most 1023)\n"
	"      --metric M       avsl | levels | level:N | l2 | cosine (default: avsl with a model and certainties,\n"
	"                       else l2)\n"
	"      --dense FILE     also write the full query x gallery distance matrix (.npy float32; small sets)\n"
	"      --threads N      worker threads (default: all CPUs)\n"
	"      --tile R         queries (and gallery items) per tile (default 512)\n"
	"      --shard i/n      compute only part i (0-based) of n equal query parts (for job arrays)\n"
	"      --merge          join the --shard parts PART... (in order 0/n .. n-1/n) into one graph\n"
	"  -o, --output FILE    write the graph to FILE (default: standard output)\n"
	"  -q, --quiet          no progress on stderr\n"
	"  -v, --verbose        say what is being computed\n"
	"  -V, --version        print the version and exit\n"
	"  -h, --help           print this help and exit\n";

enum { OPT_METRIC = 256, OPT_DENSE, OPT_THREADS, OPT_TILE, OPT_SHARD, OPT_MERGE };

static void load(const char *path, ave_set *s)
{
	fmt_error err;
	FILE *fp = in_open(path);
	if (ave_load(fp, strcmp(path, "-") ? path : "(stdin)", s, &err) != 0)
		die("%s", err.msg);
	in_close(fp);
}

int main(int argc, char **argv)
{
	cli_omp_passive(argv);
	cli_init(argv[0]);
	dist_init(&argc, &argv); /* under mpirun: the ranks share the queries, rank 0 writes (man avsl-graph) */
	static const struct option longopts[] = {
		{"model", required_argument, 0, 'm'}, {"gallery", required_argument, 0, 'g'},
		{"k", required_argument, 0, 'k'}, {"metric", required_argument, 0, OPT_METRIC},
		{"dense", required_argument, 0, OPT_DENSE}, {"threads", required_argument, 0, OPT_THREADS},
		{"tile", required_argument, 0, OPT_TILE}, {"shard", required_argument, 0, OPT_SHARD},
		{"merge", no_argument, 0, OPT_MERGE},
		{"output", required_argument, 0, 'o'}, {"quiet", no_argument, 0, 'q'},
		{"verbose", no_argument, 0, 'v'}, {"version", no_argument, 0, 'V'}, {"help", no_argument, 0, 'h'},
		{0, 0, 0, 0}};
	const char *model_path = NULL, *gallery = NULL, *metric_name = NULL, *dense = NULL, *output = "-";
	long k = 0, threads = avsl_cpu_count(), tile = 512;
	uint64_t shard_i = 0, shard_n = 1;
	int verbosity = CLI_NORMAL, c, merge = 0;
	knn_metric metric;
	const char *why;
	while ((c = getopt_long(argc, argv, "m:g:k:o:qvVh", longopts, NULL)) != -1) {
		switch (c) {
		case 'm': model_path = optarg; break;
		case 'g': gallery = optarg; break;
		case 'k': k = opt_long("-k", optarg, 1, 65536); break;
		case OPT_METRIC:
			if (knn_metric_parse(optarg, &metric, &why) != 0)
				die_usage("--metric %s: %s", optarg, why);
			metric_name = optarg;
			break;
		case OPT_DENSE: dense = optarg; break;
		case OPT_THREADS: threads = opt_long("--threads", optarg, 1, 1024); break;
		case OPT_TILE: tile = opt_long("--tile", optarg, 1, 8192); break;
		case OPT_SHARD:
			if (knn_shard_parse(optarg, &shard_i, &shard_n, &why) != 0)
				die_usage("--shard %s: %s", optarg, why);
			break;
		case OPT_MERGE: merge = 1; break;
		case 'o': output = optarg; break;
		case 'q': verbosity = CLI_QUIET; break;
		case 'v': verbosity = CLI_VERBOSE; break;
		case 'V': cli_print_version(); return 0;
		case 'h': fputs(usage_text, stdout); return 0;
		default: die_usage("unknown option");
		}
	}
	if (merge) {
		if (optind == argc)
			die_usage("--merge: the parts to join are missing");
		if (dist_rank() == 0)
			graph_merge(output, argv + optind, argc - optind);
		dist_finalize();
		return 0;
	}
	if (argc - optind > 1)
		die_usage("one embeddings file expected, got %d", argc - optind);
	const char *input = optind < argc ? argv[optind] : "-";
	if (dist_world() > 1 && (!strcmp(input, "-") || (gallery && !strcmp(gallery, "-"))))
		die_usage("under mpirun the embeddings must be files (only rank 0 reads standard input)");
	if (dist_world() > 1 && dense)
		die_usage("--dense: not computed under mpirun; run one process");
	if (gallery && !strcmp(gallery, "-") && !strcmp(input, "-"))
		die_usage("the queries and the gallery cannot both be standard input");

	ave_set qs, gs_own, *gs = &qs;
	load(input, &qs);
	if (gallery) {
		load(gallery, &gs_own);
		gs = &gs_own;
	}
	/* The collector is read only for the avsl metric: a baseline checkpoint has none, and its embeddings have no
	 * certainties, so `-m baseline.safetensors` falls back to l2 like a plain run. */
	if (!metric_name)
		metric.kind = model_path && qs.h.has_cert ? KNN_AVSL : KNN_L2, metric.level = 0;
	const avsl_collector_view *view = NULL;
	int use_model = model_path && metric.kind == KNN_AVSL;
#ifdef GRAPH_HAVE_AVSL
	st_file ck;
	avsl_collector_eval col;
	if (use_model) {
		fmt_error err;
		if (st_open(&ck, model_path, &err) != 0)
			die("%s", err.msg);
		/* the hyper-parameters through the one checkpoint reader every tool uses (checkpoint.h) */
		train_config tc;
		train_config_init(&tc);
		checkpoint_config_from(&ck, &tc);
		if (tc.setting != SETTING_AVSL)
			die("%s: a %s checkpoint has no AVSL collector (use --metric l2)", model_path, train_config_arch(&tc));
		avsl_head_config hc;
		checkpoint_collector_config(&tc, &hc);
		train_config_free(&tc);
		if (avsl_collector_load(&ck, &hc, &col, &err) != 0)
			die("%s", err.msg);
		view = &col.view;
	}
#else
	if (use_model)
		die("%s: this build has no AVSL collector (libcommon/avsl_head.h)", model_path);
#endif
	metric.avsl = view;

	knn_opts o = {.query = &qs, .gallery = gs, .metric = metric, .threads = (int)threads, .tile = (int)tile,
		      .quiet = verbosity == CLI_QUIET, .label = "graph"};
	o.k = k ? (uint32_t)k : knn_default_k(&qs, gs);
	knn_shard_range(qs.n, shard_i, shard_n, &o.q_begin, &o.q_end);
	char err[512], name[32];
	if (knn_check(&o, err, sizeof err) != 0)
		die("%s: %s", input, err);
	knn_metric_name(&metric, name);
	if (verbosity == CLI_VERBOSE)
		warn("%s: %llu queries [%llu, %llu) x %llu gallery items, metric %s, k %u, %ld threads, tile %ld", input,
		     (unsigned long long)qs.n, (unsigned long long)o.q_begin, (unsigned long long)o.q_end,
		     (unsigned long long)gs->n, name, o.k, threads, tile);

	if (dense) {
		out_file d;
		out_open(&d, dense, 1);
		if (knn_dense_npy(&o, d.fp, err, sizeof err) != 0) {
			out_abort(&d);
			die("%s: %s", dense, err);
		}
		out_commit(&d);
	}
	/* The header keeps the k asked for; records hold fewer when the gallery is smaller (graph.h). */
	avg_header h = {.k = o.k, .nq = o.q_end - o.q_begin};
	memcpy(h.metric, name, sizeof h.metric);
	graph_write(&o, &h, output, input); /* under mpirun: the ranks share the queries, rank 0 writes */
#ifdef GRAPH_HAVE_AVSL
	if (use_model) {
		avsl_collector_free(&col);
		st_close(&ck);
	}
#endif
	ave_free(&qs);
	if (gallery)
		ave_free(&gs_own);
	dist_finalize();
	return 0;
}
