/* avsl-graph: embeddings (.ave) -> neighbour graph (.avg): the k nearest gallery items of every query, exactly.
 * See man/avsl-graph.1. The work lives in libcommon/knn.c. */
#include "cli.h"
#include "device.h"
#include "dist.h"
#include "emb.h"
#include "graph.h"
#include "graph_parts.h"
#include "knn.h"
#include "progress.h"
#include "threadpool.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "avsl_head.h"
#include "checkpoint.h"
#include "ckpt_describe.h"
#include "safetensors.h"

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
	"      --metric M       avsl | levels | level:N | l2 | cosine | avsl-linear (default: avsl with a model and\n"
	"                       certainties, else l2)\n"
	"      --rerank C       two stages: the C nearest by --shortlist, then the exact avsl metric on those only\n"
	"      --shortlist M    the shortlist metric of --rerank: avsl-linear | levels | level:N | l2 | cosine\n"
	"                       (default avsl-linear)\n"
	"      --dense FILE     also write the full query x gallery distance matrix (.npy float32; small sets)\n"
	"      --threads N      worker threads (default: all CPUs)\n"
	AVSL_DEVICE_HELP
	"                       or a GPU list cuda:N,M,...: the query blocks split over those GPUs\n"
	AVSL_PRECISION_HELP
	"      --tile R         queries per tile (default 512); with -g, queries are read and answered R at a time\n"
	"                       (--tile 1: each query as soon as it arrives)\n"
	"      --tile-budget SIZE  device memory of one distance tile with -d cuda: SIZE in MB, or with a suffix K, M\n"
	"                       or G (default 256M); sets the gallery columns of a tile\n"
	"      --shard i/n      compute only part i (0-based) of n equal query parts (for job arrays)\n"
	"      --merge          join the --shard parts PART... (in order 0/n .. n-1/n) into one graph\n"
	"  -o, --output FILE    write the graph to FILE (default: standard output)\n"
	"      --print-checkpoint  print what the -m checkpoint holds (metadata, tensors, who reads each) and exit\n"
	"  -q, --quiet          no progress on stderr\n"
	"  -v, --verbose        say what is being computed\n"
	"  -V, --version        print the version and exit\n"
	"  -h, --help           print this help and exit\n";

enum {
	OPT_METRIC = 256,
	OPT_DENSE,
	OPT_THREADS,
	OPT_TILE,
	OPT_TILE_BUDGET,
	OPT_SHARD,
	OPT_RERANK,
	OPT_SHORTLIST,
	OPT_PRINT_CK,
	OPT_MERGE,
	OPT_PRECISION
};

/* --tile-budget SIZE: bytes; a number of MB, or with a suffix K, M or G (1K .. 1024G). Dies with a usage error. */
static size_t parse_budget(const char *s)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	int shift = 20;
	if (end != s && *end && !end[1]) {
		const char *units = "KMG", *u = strchr(units, *end);
		shift = u ? 10 * (int)(u - units + 1) : -1;
		end += u != NULL;
	}
	if (end == s || *end || errno || shift < 0 || v < 1 || v > (1LL << 40 >> shift))
		die_usage("--tile-budget: expected a size of 1K to 1024G (a number of MB, or with K, M or G), got '%s'", s);
	return (size_t)v << shift;
}

/* What of this search has no CUDA implementation (avsl_device_open's cuda_missing), or NULL: every metric's tiles
 * (op_dot_tile for the plain ones, op_avsl_dist_tile for avsl), the running top-k and the re-ranking's gathered
 * tiles (op_avsl_dist_gather) run on the device; the ops' flags in op_list.h decide. */
static const char *cuda_missing(const knn_metric *metric, long rerank, char *buf, size_t cap)
{
	op_id ops[6];
	int n = 0;
	ops[n++] = OPID_topk_init;
	ops[n++] = OPID_topk_merge;
	if (metric->kind == KNN_AVSL && !rerank) {
		ops[n++] = OPID_avsl_normalize_rows;
		ops[n++] = OPID_avsl_dist_tile;
	} else {
		ops[n++] = OPID_dot_tile;
		if (rerank) { /* the second stage: the candidates' exact distances */
			ops[n++] = OPID_avsl_normalize_rows;
			ops[n++] = OPID_avsl_dist_gather;
		}
	}
	return avsl_cuda_missing_ops(ops, n, buf, cap);
}

static void load(const char *path, ave_set *s)
{
	fmt_error err;
	FILE *fp = in_open(path);
	if (ave_load(fp, strcmp(path, "-") ? path : "(stdin)", s, &err) != 0)
		die("%s", err.msg);
	in_close(fp);
}

/* Default k for a query stream: max(100, largest gallery class), at most 1023 (knn_default_k's rule when every
 * gallery label may come up as a query's). */
static uint32_t gallery_default_k(const ave_set *gs)
{
	uint32_t k = knn_default_k(gs, gs) + 1; /* the self-excluded count of the largest class, plus the self */
	return k > 1023 ? 1023 : k < 100 ? 100 : k;
}

/* Answer a query stream block by block: read up to o->tile queries, search, write and flush their records, so a
 * reader at the other end of a pipe gets each block's neighbours as soon as they are computed. The gallery is
 * prepared once. */
static void serve(const knn_opts *o0, FILE *fp, const char *name, out_file *out, avg_sink *s, int quiet)
{
	knn_opts o = *o0;
	knn_prepared *prep = knn_prepare(&o);
	ave_set blk = {.h = o0->query->h};
	progress pr = {0};
	progress_start(&pr, "graph", "queries", blk.h.count == AVE_COUNT_UNKNOWN ? 0 : blk.h.count, quiet);
	char err[512];
	fmt_error ferr;
	int64_t n;
	uint64_t done = 0;
	while ((n = ave_load_block(fp, name, &blk, done, (uint64_t)o.tile, &ferr)) > 0) {
		o.query = &blk;
		o.q_begin = 0;
		o.q_end = (uint64_t)n;
		o.quiet = 1;
		o.prepared = prep;
		if (knn_run(&o, avg_sink_emit, s, err, sizeof err) != 0) {
			out_abort(out);
			die("%s: %s", name, err);
		}
		if (fflush(out->fp) != 0) {
			out_abort(out);
			die("%s: write failed", out->path);
		}
		done += (uint64_t)n;
		progress_add(&pr, (uint64_t)n);
	}
	if (n < 0) {
		out_abort(out);
		die("%s", ferr.msg);
	}
	progress_end(&pr);
	ave_free(&blk);
	knn_prepared_free(prep);
}

int main(int argc, char **argv)
{
	cli_omp_passive(argv);
	cli_init(argv[0]);
	dist_init(&argc, &argv); /* under mpirun: the ranks share the queries, rank 0 writes (man avsl-graph) */
	/* The AVSL kernel allocates its transposed column blocks (megabytes) per call, and a re-rank or a query stream
	 * calls it once per query: keep freed memory in the process instead of returning it to the kernel and
	 * faulting it back in every time (glibc would otherwise mmap/trim blocks of this size). */
	mallopt(M_MMAP_THRESHOLD, 256 << 20);
	mallopt(M_TRIM_THRESHOLD, 1 << 30);
	static const struct option longopts[] = {
		{"model", required_argument, 0, 'm'}, {"gallery", required_argument, 0, 'g'},
		{"k", required_argument, 0, 'k'}, {"metric", required_argument, 0, OPT_METRIC},
		{"dense", required_argument, 0, OPT_DENSE}, {"threads", required_argument, 0, OPT_THREADS},
		{"tile", required_argument, 0, OPT_TILE}, {"tile-budget", required_argument, 0, OPT_TILE_BUDGET},
		{"shard", required_argument, 0, OPT_SHARD},
		{"rerank", required_argument, 0, OPT_RERANK}, {"shortlist", required_argument, 0, OPT_SHORTLIST},
		{"print-checkpoint", no_argument, 0, OPT_PRINT_CK},
		{"merge", no_argument, 0, OPT_MERGE},
		{"device", required_argument, 0, 'd'}, {"precision", required_argument, 0, OPT_PRECISION},
		{"output", required_argument, 0, 'o'}, {"quiet", no_argument, 0, 'q'},
		{"verbose", no_argument, 0, 'v'}, {"version", no_argument, 0, 'V'}, {"help", no_argument, 0, 'h'},
		{0, 0, 0, 0}};
	const char *model_path = NULL, *gallery = NULL, *metric_name = NULL, *dense = NULL, *output = "-", *device = NULL;
	long k = 0, threads = avsl_cpu_count(), tile = 512;
	size_t tile_budget = KNN_DEVICE_TILE_DEFAULT;
	uint64_t shard_i = 0, shard_n = 1;
	int verbosity = CLI_NORMAL, c, sharded = 0, print_ck = 0, merge = 0;
	long rerank = 0;
	knn_metric metric, shortlist = {.kind = KNN_AVSL_LINEAR};
	const char *why;
	while ((c = getopt_long(argc, argv, "m:g:k:o:d:qvVh", longopts, NULL)) != -1) {
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
		case OPT_TILE_BUDGET: tile_budget = parse_budget(optarg); break;
		case OPT_SHARD:
			if (knn_shard_parse(optarg, &shard_i, &shard_n, &why) != 0)
				die_usage("--shard %s: %s", optarg, why);
			sharded = 1;
			break;
		case OPT_PRINT_CK: print_ck = 1; break;
		case OPT_RERANK: rerank = opt_long("--rerank", optarg, 1, 1L << 24); break;
		case OPT_SHORTLIST:
			if (knn_metric_parse(optarg, &shortlist, &why) != 0)
				die_usage("--shortlist %s: %s", optarg, why);
			if (shortlist.kind == KNN_AVSL)
				die_usage("--shortlist avsl: the shortlist must be a cheap plain metric");
			break;
		case OPT_MERGE: merge = 1; break;
		case 'd': device = avsl_device_arg(optarg); break;
		case OPT_PRECISION: avsl_precision_arg(optarg); break;
		case 'o': output = optarg; break;
		case 'q': verbosity = CLI_QUIET; break;
		case 'v': verbosity = CLI_VERBOSE; break;
		case 'V': cli_print_version(); return 0;
		case 'h': fputs(usage_text, stdout); return 0;
		default: die_usage("unknown option");
		}
	}
	if (print_ck) {
		if (!model_path || optind < argc)
			die_usage("--print-checkpoint needs -m MODEL and nothing else");
		st_file ck;
		fmt_error err;
		if (st_open(&ck, model_path, &err) != 0)
			die("%s", err.msg);
		int rc = dist_rank() == 0 ? ckpt_describe(stdout, &ck) : 0;
		st_close(&ck);
		dist_finalize();
		return rc;
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
	if (rerank && metric_name && metric.kind != KNN_AVSL)
		die_usage("--rerank re-ranks by the avsl metric, not --metric %s", metric_name);

	/* With a separate gallery the queries are a stream, answered block by block (serve()); otherwise the whole set
	 * is loaded first (the gallery is the query set, or the run is sharded or writes --dense). */
	int streaming = gallery && !sharded && !dense && dist_world() == 1;
	ave_set qs, gs_own, *gs = &qs;
	FILE *qfp = NULL;
	const char *qname = strcmp(input, "-") ? input : "(stdin)";
	if (gallery) {
		load(gallery, &gs_own);
		gs = &gs_own;
	}
	if (streaming) {
		fmt_error err;
		memset(&qs, 0, sizeof qs);
		qfp = in_open(input);
		if (ave_read_header(qfp, qname, &qs.h, &err) != 0)
			die("%s", err.msg);
	} else {
		load(input, &qs);
	}
	/* The collector is read only for the avsl metric: a baseline checkpoint has none, and its embeddings have no
	 * certainties, so `-m baseline.safetensors` falls back to l2 like a plain run. */
	if (!metric_name)
		metric.kind = model_path && qs.h.has_cert ? KNN_AVSL : KNN_L2, metric.level = 0;
	if (rerank && metric.kind != KNN_AVSL)
		die("%s: --rerank needs the avsl metric: a model (-m) and embeddings with certainties", qname);
	const avsl_collector_view *view = NULL;
	int use_model = model_path && (metric.kind == KNN_AVSL || metric.kind == KNN_AVSL_LINEAR);
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
	metric.avsl = view;
	/* opened once the metric is known: it decides what runs on CUDA */
	char missing[256];
	avsl_device *dev = avsl_device_open_list(device, (int)threads, "the neighbour search",
						 cuda_missing(&metric, rerank, missing, sizeof missing));
	if (dev->n_more && streaming) {
		avsl_device_close(dev);
		die_usage("-g reads the queries as a stream, answered on one device (with a GPU list add --shard 0/1: "
			  "the queries are then read whole and split)");
	}

	shortlist.avsl = view;
	knn_opts o = {.query = &qs, .gallery = gs, .metric = metric, .threads = dev->threads, .tile = (int)tile,
		      .quiet = verbosity == CLI_QUIET, .label = "graph", .rerank = (uint32_t)rerank,
		      .shortlist = shortlist, .ctx = &dev->ctx, .more_ctx = dev->more, .n_more = dev->n_more,
		      .device_tile_bytes = tile_budget};
	/* a stream's labels are not known in advance: k covers the largest gallery class */
	o.k = k ? (uint32_t)k : streaming ? gallery_default_k(gs) : knn_default_k(&qs, gs);
	knn_shard_range(qs.n, shard_i, shard_n, &o.q_begin, &o.q_end);
	char err[512], name[32];
	if (knn_check(&o, err, sizeof err) != 0)
		die("%s: %s", qname, err);
	knn_metric_name(&metric, name);
	if (verbosity == CLI_VERBOSE) {
		char sl[32];
		knn_metric_name(&shortlist, sl);
		if (streaming)
			warn("%s: a query stream x %llu gallery items, metric %s, k %u, %ld threads, %ld queries at a time",
			     qname, (unsigned long long)gs->n, name, o.k, threads, tile);
		else
			warn("%s: %llu queries [%llu, %llu) x %llu gallery items, metric %s, k %u, %ld threads, tile %ld",
			     qname, (unsigned long long)qs.n, (unsigned long long)o.q_begin, (unsigned long long)o.q_end,
			     (unsigned long long)gs->n, name, o.k, threads, tile);
		if (rerank)
			warn("re-rank: the %ld nearest by %s, then the exact %s distance on those", rerank, sl, name);
	}

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
	avg_header h = {.k = o.k, .nq = streaming ? qs.h.count : o.q_end - o.q_begin};
	memcpy(h.metric, name, sizeof h.metric);
	if (streaming) {
		out_file out;
		out_open(&out, output, 1);
		fmt_error ferr;
		if (avg_write_header(out.fp, out.path, &h, &ferr) != 0) {
			out_abort(&out);
			die("%s", ferr.msg);
		}
		avg_sink s = {out.fp, out.path, &h};
		serve(&o, qfp, qname, &out, &s, verbosity == CLI_QUIET);
		in_close(qfp);
		out_commit(&out);
	} else {
		graph_write(&o, &h, output, input); /* under mpirun: the ranks share the queries, rank 0 writes */
	}
	if (use_model) {
		avsl_collector_free(&col);
		st_close(&ck);
	}
	if (!streaming)
		ave_free(&qs);
	if (gallery)
		ave_free(&gs_own);
	avsl_device_close(dev);
	dist_finalize();
	return 0;
}
