/* avsl-eval: neighbour graph(s) (.avg) -> Recall@K, Precision@K, R-Precision, MAP@R (global and slice mean).
 * With --emb it builds the l2/cosine graph itself (one-step baseline evaluation). See man/avsl-eval.1; the work
 * lives in libcommon/metrics.c and libcommon/knn.c. */
#include "cli.h"
#include "device.h"
#include "emb.h"
#include "graph.h"
#include "kmeans.h"
#include "knn.h"
#include "metrics.h"
#include "npy_import.h"
#include "threadpool.h"
#include "util.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
	"Usage: avsl-eval [OPTIONS] [GRAPH...]\n"
	"       avsl-eval [OPTIONS] --emb EMBEDDINGS\n"
	"       avsl-eval [OPTIONS] --neighbours INDICES.npy --labels LABELS [--gallery-labels LABELS]\n"
	"Print Recall@K, R-Precision and MAP@R of neighbour graphs (.avg; default or \"-\": standard input). Several\n"
	"graphs (the parts of avsl-graph --shard) are read one after another as one graph. Values are percentages.\n"
	"\n"
	"  -k, --k LIST         K values for Recall@K (and Precision@K), comma-separated (default 1,2,4,8)\n"
	"  -p, --precision      also print Precision@K\n"
	"      --slice-mean S   also print the mean over S query slices (SOP protocol: S = 100)\n"
	"      --json           one JSON object instead of the text table (values as fractions in [0, 1])\n"
	"      --fraction       print fractions (0.9833) instead of percentages (98.33)\n"
	"      --emb FILE       evaluate embeddings directly: build the graph in memory\n"
	"      --metric M       with --emb: l2 | cosine | levels | level:N (default l2)\n"
	"      --threads N      with --emb: worker threads (default: all CPUs)\n"
	"      --tile R         with --emb: rows per tile (default 512)\n"
	AVSL_DEVICE_HELP
	"      --nmi            with --emb: also the NMI of a k-means clustering of the last level (k = classes)\n"
	"      --seed N         with --nmi: the k-means seed (default 0)\n"
	"      --clusters FILE  with --nmi: write the k-means cluster of every item (.npy int32)\n"
	"      --neighbours F   score a neighbour-index matrix (.npy integers, queries x K: faiss I, torch topk)\n"
	"      --labels FILE    with --neighbours: query labels (.npy integers or a text file, one per line)\n"
	"      --gallery-labels FILE  with --neighbours: gallery labels (default: the gallery is the query set,\n"
	"                       and a query's own index is dropped from its row)\n"
	"  -o, --output FILE    write the table to FILE (default: standard output)\n"
	"  -q, --quiet          no progress or warnings on stderr\n"
	"  -v, --verbose        more detail on stderr\n"
	"  -V, --version        print the version and exit\n"
	"  -h, --help           print this help and exit\n";

enum { OPT_SLICE = 256, OPT_JSON, OPT_EMB, OPT_METRIC, OPT_THREADS, OPT_TILE, OPT_FRACTION, OPT_NMI, OPT_SEED,
       OPT_CLUSTERS, OPT_NEIGHBOURS, OPT_LABELS, OPT_GLABELS };

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

/* --neighbours: a (queries, K) integer matrix of gallery indices as faiss's search or torch.topk return them. With
 * no gallery labels the gallery is the query set: a row's own index is dropped (faiss finds the query itself
 * first), and rows without it lose their last entry, so every row keeps K - 1 neighbours (search K + 1 for K).
 * Negative indices (faiss's -1: fewer results than asked) end a row. */
static void read_indices(const char *path, const char *labels, const char *glabels, metrics_acc *m, long kmax)
{
	npy_array a;
	npy_import_load(path, &a);
	if (a.is_float || a.ndim != 2)
		die("%s: expected an integer array of shape (queries, K)", path);
	uint64_t nq, ng, K = (uint64_t)a.shape[1];
	int32_t *ql = npy_import_labels(labels, &nq), *gl = glabels ? npy_import_labels(glabels, &ng) : ql;
	if (!glabels)
		ng = nq;
	if (nq != (uint64_t)a.shape[0])
		die("%s: %llu labels for %lld query rows in %s", labels, (unsigned long long)nq, (long long)a.shape[0],
		    path);
	uint64_t keep = glabels ? K : K - (K > 0);
	if ((long)keep < kmax)
		die("%s: Recall@%ld needs %ld neighbours per query, the matrix has %llu%s", path, kmax, kmax,
		    (unsigned long long)keep, glabels ? "" : " (its own index dropped)");
	/* n_relevant from the gallery labels (ave_set views of the label arrays: knn_relevant_counts) */
	ave_set qv = {.n = nq, .label = ql}, gv = {.n = ng, .label = gl};
	uint32_t *n_rel = xmalloc_array(nq ? nq : 1, sizeof *n_rel);
	knn_relevant_counts(&qv, glabels ? &gv : &qv, n_rel);
	avg_neighbour *nb = xmalloc_array(K ? K : 1, sizeof *nb);
	for (uint64_t i = 0; i < nq; i++) {
		const int64_t *row = a.i + i * K;
		uint32_t cnt = 0;
		for (uint64_t j = 0; j < K && cnt < keep; j++) {
			if (row[j] < 0)
				break;
			if ((uint64_t)row[j] >= ng)
				die("%s: row %llu: index %lld outside the %llu gallery items", path, (unsigned long long)i,
				    (long long)row[j], (unsigned long long)ng);
			if (!glabels && (uint64_t)row[j] == i)
				continue;
			nb[cnt].id = row[j];
			nb[cnt].label = gl[row[j]];
			nb[cnt].dist = (float)cnt;
			cnt++;
		}
		avg_query q = {.id = (int64_t)i, .label = ql[i], .n_relevant = n_rel[i], .count = cnt};
		metrics_add(m, &q, nb);
	}
	free(nb);
	free(n_rel);
	if (gl != ql)
		free(gl);
	free(ql);
	npy_free(&a);
}

/* --nmi: k-means (k = distinct labels) on the L2-normalised last-level embeddings, NMI against the labels. */
static double cluster_nmi(const ave_set *s, const char *name, uint64_t seed, int threads, const char *clusters)
{
	uint32_t L = s->h.levels, D = s->h.dim[L - 1];
	float *x = xmalloc_array(s->n ? s->n : 1, (size_t)D * sizeof(float));
	memcpy(x, s->emb[L - 1], s->n * D * sizeof(float));
	for (uint64_t i = 0; i < s->n; i++) {
		float *r = x + i * D;
		double q = 0;
		for (uint32_t j = 0; j < D; j++)
			q += (double)r[j] * r[j];
		float inv = (float)(1.0 / (sqrt(q) > 1e-12 ? sqrt(q) : 1e-12));
		for (uint32_t j = 0; j < D; j++)
			r[j] *= inv;
	}
	uint32_t *rel = xmalloc_array(s->n ? s->n : 1, sizeof *rel);
	knn_relevant_counts(s, s, rel);
	double classes = 0; /* sum over items of 1 / class size = the number of classes */
	for (uint64_t i = 0; i < s->n; i++)
		classes += 1.0 / (rel[i] + 1.0);
	uint32_t k = (uint32_t)llround(classes);
	free(rel);
	if (k < 1 || k > s->n)
		die("%s: --nmi: %u classes for %llu items", name, k, (unsigned long long)s->n);
	int32_t *assign = xmalloc_array(s->n ? s->n : 1, sizeof *assign);
	kmeans(x, s->n, (int)D, k, 20, seed, threads, assign);
	double v = nmi(s->label, assign, s->n);
	if (clusters) {
		out_file o;
		out_open(&o, clusters, 1);
		int64_t shape[1] = {(int64_t)s->n};
		fmt_error err;
		if (npy_write(o.fp, clusters, NPY_I32, 1, shape, assign, &err) != 0) {
			out_abort(&o);
			die("%s", err.msg);
		}
		out_commit(&o);
	}
	free(assign);
	free(x);
	return v;
}

int main(int argc, char **argv)
{
	cli_init(argv[0]);
	static const struct option longopts[] = {
		{"k", required_argument, 0, 'k'}, {"precision", no_argument, 0, 'p'},
		{"slice-mean", required_argument, 0, OPT_SLICE}, {"json", no_argument, 0, OPT_JSON},
		{"emb", required_argument, 0, OPT_EMB}, {"metric", required_argument, 0, OPT_METRIC},
		{"threads", required_argument, 0, OPT_THREADS}, {"tile", required_argument, 0, OPT_TILE},
		{"fraction", no_argument, 0, OPT_FRACTION}, {"nmi", no_argument, 0, OPT_NMI},
		{"seed", required_argument, 0, OPT_SEED}, {"clusters", required_argument, 0, OPT_CLUSTERS},
		{"neighbours", required_argument, 0, OPT_NEIGHBOURS}, {"labels", required_argument, 0, OPT_LABELS},
		{"gallery-labels", required_argument, 0, OPT_GLABELS}, {"device", required_argument, 0, 'd'},
		{"output", required_argument, 0, 'o'}, {"quiet", no_argument, 0, 'q'},
		{"verbose", no_argument, 0, 'v'}, {"version", no_argument, 0, 'V'}, {"help", no_argument, 0, 'h'},
		{0, 0, 0, 0}};
	long ks[METRICS_MAX_K] = {1, 2, 4, 8}, threads = avsl_cpu_count(), tile = 512, slices = 0;
	int nk = 4, precision = 0, json = 0, verbosity = CLI_NORMAL, c, percent = 1, want_nmi = 0;
	long seed = 0;
	const char *emb = NULL, *output = "-", *why, *clusters = NULL, *neighbours = NULL, *labels = NULL,
		   *glabels = NULL, *device = NULL;
	knn_metric metric = {.kind = KNN_L2};
	while ((c = getopt_long(argc, argv, "k:po:d:qvVh", longopts, NULL)) != -1) {
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
		case OPT_FRACTION: percent = 0; break;
		case OPT_NMI: want_nmi = 1; break;
		case OPT_SEED: seed = opt_long("--seed", optarg, 0, 1L << 62); break;
		case OPT_CLUSTERS: clusters = optarg; break;
		case OPT_NEIGHBOURS: neighbours = optarg; break;
		case OPT_LABELS: labels = optarg; break;
		case OPT_GLABELS: glabels = optarg; break;
		case 'd': device = avsl_device_arg(optarg); break;
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
	if (neighbours && (emb || optind < argc))
		die_usage("--neighbours excludes --emb and graph files");
	if (neighbours && !labels)
		die_usage("--neighbours needs --labels FILE");
	if ((labels || glabels) && !neighbours)
		die_usage("--labels and --gallery-labels go with --neighbours");
	if (want_nmi && !emb)
		die_usage("--nmi clusters embeddings: it needs --emb FILE");
	if ((clusters || seed) && !want_nmi)
		die_usage("--seed and --clusters go with --nmi");
	long kmax = 0;
	for (int i = 0; i < nk; i++)
		kmax = ks[i] > kmax ? ks[i] : kmax;

	/* --emb computes its graph on the device (knn_run on its context: every metric of avsl-eval runs on CUDA);
	 * graphs and --neighbours are read and scored on the host, and --nmi's k-means is host code on the device's CPU
	 * threads. The device is opened in every mode, so -d means the same everywhere (an unusable one is refused). */
	avsl_device *dev = avsl_device_open(device, (int)threads, "evaluation", NULL);
	metrics_acc m;
	metrics_init(&m, ks, nk);
	const char *what = emb ? emb : neighbours ? neighbours : optind < argc ? argv[optind] : "(stdin)";
	double nmi_value;
	if (neighbours) {
		read_indices(neighbours, labels, glabels, &m, kmax);
	} else if (emb) {
		ave_set s;
		fmt_error ferr;
		FILE *fp = in_open(emb);
		if (ave_load(fp, strcmp(emb, "-") ? emb : "(stdin)", &s, &ferr) != 0)
			die("%s", ferr.msg);
		in_close(fp);
		knn_opts o = {.query = &s, .gallery = &s, .metric = metric, .threads = dev->threads, .tile = (int)tile,
			      .q_begin = 0, .q_end = s.n, .quiet = verbosity == CLI_QUIET, .label = "eval", .ctx = &dev->ctx};
		uint32_t kd = knn_default_k(&s, &s);
		o.k = (uint32_t)kmax > kd ? (uint32_t)kmax : kd;
		char err[512];
		if (knn_run(&o, add_query, &m, err, sizeof err) != 0)
			die("%s: %s", emb, err);
		if (want_nmi)
			nmi_value = cluster_nmi(&s, emb, (uint64_t)seed, dev->threads, clusters);
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
	metrics_print(out.fp, &m, &g, slices ? &s : NULL, (uint64_t)slices, precision, json, percent,
		      want_nmi ? &nmi_value : NULL);
	out_commit(&out);
	metrics_free(&m);
	avsl_device_close(dev);
	return 0;
}
