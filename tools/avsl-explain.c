/* avsl-explain: why two images are close or far under a trained AVSL model: the decomposition of d_f into levels
 * and attributes, heat-map pictures, retrieval boards, and a deletion/insertion faithfulness table.
 * See man/avsl-explain.1. The work lives in libcommon/explain*.c. */
#include "cli.h"
#include "device.h"
#include "explain.h"
#include "graph.h"
#include "shard.h"
#include "util.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
	"Usage: avsl-explain -m MODEL (--images A B | --shard S --pair I J | --shard S --graph G --query I --rank K)\n"
	"                    [--json] [--png FILE] [options]\n"
	"       avsl-explain board -m MODEL --shard S --graph G --query I [-k N] --png FILE\n"
	"       avsl-explain faithfulness -m MODEL --shard S [--pairs N] [--steps N] [--resamples N] [--json]\n"
	"       avsl-explain sanity -m MODEL --shard S [--pairs N] [--json]\n"
	"Explain the AVSL distance d_f of a pair: per level the attributes (embedding dims) with the largest part\n"
	"of H_l, their difference Delta, propagated part T, gate pi and both certainties, and the strongest\n"
	"level 0 -> 1 -> 2 paths through the links. The parts sum to d_f.\n"
	"\n"
	"  -m, --model FILE     AVSL checkpoint written by avsl-train\n"
	"      --images A B     two image files (any format stb_image reads)\n"
	"      --shard S        shard or manifest holding the images (records by id)\n"
	"      --pair I J       two record ids of the shard\n"
	"      --graph G        neighbour graph (.avg, from avsl-graph) over the shard's records\n"
	"      --query I        the query record id in the graph\n"
	"      --rank K         its K-th neighbour (1 = nearest) (default 1)\n"
	"      --json           one JSON object instead of the text table\n"
	"      --top N          attributes listed per level (default 5)\n"
	"      --paths N        paths shown into each of the top 3 last-level attributes (default 3)\n"
	"      --png FILE       pair: heat maps of the top attributes' CAMs; board: the retrieval grid\n"
	"      --png-attrs N    pair picture: attributes per level (default 2)\n"
	"      --tile N         picture tile size in pixels (default: pair auto from the image size, board 112)\n"
	"  -k, --k N            board: neighbours shown (default 8)\n"
	"      --pairs N        faithfulness, sanity: queries (the first N records) (default 50)\n"
	"      --steps N        faithfulness: deletion/insertion steps (default 16)\n"
	"      --resamples N    faithfulness: bootstrap resamples of the 95% intervals (default 2000)\n"
	"      --attr-k N       faithfulness, sanity: attributes per level in the AVSL maps (default 8)\n"
	"      --seed N         faithfulness, sanity: seed of the controls, bootstrap and randomisation (default 0)\n"
	"  -t, --threads N      CPU threads (default: all CPUs)\n"
	AVSL_DEVICE_HELP
	"  -o, --output FILE    write the text or JSON to FILE (default: standard output)\n"
	"  -q, --quiet          no diagnostics on stderr\n"
	"  -v, --verbose        say what is being computed\n"
	"  -V, --version        print the version and exit\n"
	"  -h, --help           print this help and exit\n";

enum { MODE_PAIR, MODE_BOARD, MODE_FAITH, MODE_SANITY };

typedef struct {
	int mode;
	const char *model, *img[2], *shard, *graph, *png, *out, *device;
	int64_t pair[2], query;
	int rank, json, top, paths, png_attrs, tile, k, pairs, steps, resamples, attr_k, threads, verbosity;
	uint64_t seed;
} opts;

static void parse(opts *o, int argc, char **argv)
{
	enum { O_IMAGES = 256, O_SHARD, O_PAIR, O_GRAPH, O_QUERY, O_RANK, O_JSON, O_TOP, O_PATHS, O_PNG, O_PNGA, O_TILE,
	       O_PAIRS, O_STEPS, O_RESAMPLES, O_ATTRK, O_SEED };
	static const struct option lo[] = {
		{"model", required_argument, 0, 'm'},   {"images", required_argument, 0, O_IMAGES},
		{"shard", required_argument, 0, O_SHARD}, {"pair", required_argument, 0, O_PAIR},
		{"graph", required_argument, 0, O_GRAPH}, {"query", required_argument, 0, O_QUERY},
		{"rank", required_argument, 0, O_RANK},   {"json", no_argument, 0, O_JSON},
		{"top", required_argument, 0, O_TOP},     {"paths", required_argument, 0, O_PATHS},
		{"png", required_argument, 0, O_PNG},     {"png-attrs", required_argument, 0, O_PNGA},
		{"tile", required_argument, 0, O_TILE},   {"k", required_argument, 0, 'k'},
		{"pairs", required_argument, 0, O_PAIRS}, {"steps", required_argument, 0, O_STEPS},
		{"attr-k", required_argument, 0, O_ATTRK}, {"seed", required_argument, 0, O_SEED},
		{"resamples", required_argument, 0, O_RESAMPLES},
		{"threads", required_argument, 0, 't'},   {"output", required_argument, 0, 'o'},
		{"device", required_argument, 0, 'd'},
		{"quiet", no_argument, 0, 'q'},           {"verbose", no_argument, 0, 'v'},
		{"help", no_argument, 0, 'h'},            {"version", no_argument, 0, 'V'},
		{0, 0, 0, 0},
	};
	/* "+": no permutation, so the second word of --images/--pair is taken from argv in order. */
	int ch;
	while ((ch = getopt_long(argc, argv, "+m:k:t:o:d:qvhV", lo, NULL)) != -1) {
		switch (ch) {
		case 'm': o->model = optarg; break;
		case O_IMAGES:
		case O_PAIR:
			if (optind >= argc || (argv[optind][0] == '-' && argv[optind][1]))
				die_usage("--%s needs two arguments", ch == O_IMAGES ? "images" : "pair");
			if (ch == O_IMAGES) {
				o->img[0] = optarg;
				o->img[1] = argv[optind++];
			} else {
				o->pair[0] = opt_long("--pair", optarg, 0, INT64_MAX);
				o->pair[1] = opt_long("--pair", argv[optind++], 0, INT64_MAX);
			}
			break;
		case O_SHARD: o->shard = optarg; break;
		case O_GRAPH: o->graph = optarg; break;
		case O_QUERY: o->query = opt_long("--query", optarg, 0, INT64_MAX); break;
		case O_RANK: o->rank = (int)opt_long("--rank", optarg, 1, AVG_MAX_K); break;
		case O_JSON: o->json = 1; break;
		case O_TOP: o->top = (int)opt_long("--top", optarg, 1, 4096); break;
		case O_PATHS: o->paths = (int)opt_long("--paths", optarg, 0, 100); break;
		case O_PNG: o->png = optarg; break;
		case O_PNGA: o->png_attrs = (int)opt_long("--png-attrs", optarg, 1, 16); break;
		case O_TILE: o->tile = (int)opt_long("--tile", optarg, 16, 1024); break;
		case 'k': o->k = (int)opt_long("-k", optarg, 1, 64); break;
		case O_PAIRS: o->pairs = (int)opt_long("--pairs", optarg, 1, 1000000); break;
		case O_STEPS: o->steps = (int)opt_long("--steps", optarg, 1, 256); break;
		case O_RESAMPLES: o->resamples = (int)opt_long("--resamples", optarg, 0, 1000000); break;
		case O_ATTRK: o->attr_k = (int)opt_long("--attr-k", optarg, 1, 65536); break;
		case O_SEED: o->seed = opt_size("--seed", optarg, 0, UINT64_MAX); break;
		case 't': o->threads = (int)opt_long("--threads", optarg, 1, 1024); break;
		case 'o': o->out = optarg; break;
		case 'd': o->device = avsl_device_arg(optarg); break;
		case 'q': o->verbosity = CLI_QUIET; break;
		case 'v': o->verbosity = CLI_VERBOSE; break;
		case 'h': fputs(usage_text, stdout); exit(0);
		case 'V': cli_print_version(); exit(0);
		default: fputs("Try 'avsl-explain --help'.\n", stderr); exit(AVSL_EXIT_USAGE);
		}
	}
	if (optind != argc)
		die_usage("unexpected argument '%s'", argv[optind]);
	if (!o->model)
		die_usage("-m MODEL is required");
	int by_images = o->img[0] != NULL, by_pair = o->pair[0] >= 0, by_graph = o->graph != NULL;
	if (o->mode == MODE_PAIR) {
		if (by_images + by_pair + by_graph != 1)
			die_usage("give exactly one pair: --images A B, --shard S --pair I J, or --graph G --query I");
		if ((by_pair || by_graph) && !o->shard)
			die_usage("--shard S is required with --%s", by_pair ? "pair" : "graph");
		if (by_graph && o->query < 0)
			die_usage("--query I is required with --graph");
	} else if (o->mode == MODE_BOARD) {
		if (!o->shard || !o->graph || o->query < 0 || !o->png)
			die_usage("board needs --shard S --graph G --query I --png FILE");
	} else if (!o->shard) {
		die_usage("%s needs --shard S", o->mode == MODE_FAITH ? "faithfulness" : "sanity");
	}
}

/* A graph record's id and label must be those of the shard's record: a graph of another set would explain
 * unrelated images without a word. */
static void graph_check_record(const char *graph, const char *shard, shard_reader *rd, uint64_t q, int64_t id,
			       int32_t label, const char *what)
{
	uint64_t n = shard_reader_count(rd);
	if (id < 0 || (uint64_t)id >= n)
		die("%s: query %llu: %s id %lld is not a record of %s (%llu records): graph and shard do not match",
		    graph, (unsigned long long)q, what, (long long)id, shard, (unsigned long long)n);
	int32_t sl = shard_reader_label(rd, (uint64_t)id);
	if (sl != label)
		die("%s: query %llu: %s id %lld has label %d, but record %lld of %s has label %d: graph and shard do not "
		    "match", graph, (unsigned long long)q, what, (long long)id, label, (long long)id, shard, sl);
}

/* The graph record of query id (its neighbours in nb, room for h.k). Every record of the graph is checked
 * against the shard (ids and labels), so the first mismatch is named whichever query is asked for. */
static void graph_find(const char *path, const char *shard, shard_reader *rd, int64_t id, avg_header *h, avg_query *q,
		       avg_neighbour **nb)
{
	FILE *fp = in_open(path);
	fmt_error err;
	if (avg_read_header(fp, path, h, &err))
		die("%s", err.msg);
	*nb = xmalloc_array(h->k, sizeof **nb);
	avg_neighbour *cur = xmalloc_array(h->k, sizeof *cur);
	avg_query c;
	int r, found = 0;
	for (uint64_t i = 0; (r = avg_read_query(fp, path, h, i, &c, cur, &err)) == 1; i++) {
		graph_check_record(path, shard, rd, i, c.id, c.label, "query");
		for (uint32_t j = 0; j < c.count; j++)
			graph_check_record(path, shard, rd, i, cur[j].id, cur[j].label, "neighbour");
		if (c.id == id && !found) {
			*q = c;
			memcpy(*nb, cur, (size_t)c.count * sizeof *cur);
			found = 1;
		}
	}
	if (r < 0)
		die("%s", err.msg);
	free(cur);
	in_close(fp);
	if (!found)
		die("%s: query %lld: not in the graph", path, (long long)id);
}

static void shard_image(shard_reader *rd, const char *shard, int64_t id, image_u8 *im, int32_t *label)
{
	fmt_error err;
	if (id < 0 || (uint64_t)id >= shard_reader_count(rd))
		die("%s: record %lld: out of range (%llu records)", shard, (long long)id,
		    (unsigned long long)shard_reader_count(rd));
	if (explain_shard_image(rd, (uint64_t)id, im, label, &err))
		die("%s", err.msg);
}

static void file_image(const char *path, image_u8 *im)
{
	size_t len;
	unsigned char *buf = read_whole_file(path, &len);
	char why[128];
	if (image_decode(buf, len, 0, im, why, sizeof why))
		die("%s: cannot decode image: %s", path, why);
	free(buf);
}

static void run_pair(const opts *o, explain_model *em)
{
	image_u8 im[2] = {{0}};
	int32_t lab[2] = {-1, -1};
	char name[2][64];
	const char *names[2];
	double gdist = NAN;
	if (o->img[0]) {
		for (int i = 0; i < 2; i++) {
			file_image(o->img[i], &im[i]);
			names[i] = o->img[i];
		}
	} else {
		shard_reader *rd;
		fmt_error err;
		if (shard_reader_open(&rd, o->shard, &err))
			die("%s", err.msg);
		int64_t id[2] = {o->pair[0], o->pair[1]};
		if (o->graph) {
			avg_header h;
			avg_query q;
			avg_neighbour *nb;
			graph_find(o->graph, o->shard, rd, o->query, &h, &q, &nb);
			if ((uint32_t)o->rank > q.count)
				die("%s: query %lld has %u neighbours; --rank %d", o->graph, (long long)o->query, q.count,
				    o->rank);
			id[0] = o->query;
			id[1] = nb[o->rank - 1].id;
			gdist = nb[o->rank - 1].dist;
			free(nb);
		}
		for (int i = 0; i < 2; i++) {
			shard_image(rd, o->shard, id[i], &im[i], &lab[i]);
			snprintf(name[i], sizeof name[i], "record %lld", (long long)id[i]);
			names[i] = name[i];
		}
		shard_reader_close(rd);
	}
	size_t plane = (size_t)em->Cin * em->S * em->S;
	float *x = xmalloc_array(2, plane * sizeof(float));
	for (int i = 0; i < 2; i++)
		explain_image_tensor(em, &im[i], x + i * plane);
	explain_feats f[2];
	explain_forward(em, x, 2, 1, f);
	explain_decomp d;
	explain_decompose(&em->view, (const float *const *)f[0].xh, (const float *const *)f[0].cert,
			  (const float *const *)f[1].xh, (const float *const *)f[1].cert, &d);
	explain_report_opts ro = {names[0], names[1], lab[0], lab[1], o->top, o->paths, gdist};
	/* The text and the picture appear together or not at all (cli.h out_set). */
	out_set set = {0};
	out_file *of = out_set_open(&set, o->out, 0);
	explain_report(of->fp, em, &d, &ro, o->json);
	if (o->png) {
		image_u8 disp[2];
		for (int i = 0; i < 2; i++)
			explain_tensor_image(em, x + i * plane, &disp[i]);
		explain_pair_png(em, &disp[0], &disp[1], &f[0], &f[1], &d, &ro, o->png_attrs, o->tile, o->png, &set);
		image_free(&disp[0]);
		image_free(&disp[1]);
	}
	out_set_commit(&set);
	explain_decomp_free(&d);
	for (int i = 0; i < 2; i++) {
		explain_feats_free(&f[i]);
		image_free(&im[i]);
	}
	free(x);
}

static void run_board(const opts *o, explain_model *em)
{
	avg_header h;
	avg_query q;
	avg_neighbour *nb;
	shard_reader *rd;
	fmt_error err;
	if (shard_reader_open(&rd, o->shard, &err))
		die("%s", err.msg);
	graph_find(o->graph, o->shard, rd, o->query, &h, &q, &nb);
	int k = (uint32_t)o->k < q.count ? o->k : (int)q.count;
	image_u8 *disp = xcalloc((size_t)k + 1, sizeof *disp);
	int64_t *ids = xmalloc_array((size_t)k + 1, sizeof *ids);
	int32_t *labels = xmalloc_array((size_t)k + 1, sizeof *labels);
	float *dist = xmalloc_array((size_t)k + 1, sizeof *dist);
	float *x = xmalloc_array((size_t)em->Cin * em->S, (size_t)em->S * sizeof(float));
	for (int i = 0; i <= k; i++) {
		ids[i] = i ? nb[i - 1].id : q.id;
		dist[i] = i ? nb[i - 1].dist : 0.0f;
		image_u8 im;
		shard_image(rd, o->shard, ids[i], &im, &labels[i]);
		explain_image_tensor(em, &im, x);
		explain_tensor_image(em, x, &disp[i]);
		image_free(&im);
	}
	explain_board_png(disp, ids, labels, dist, k, o->tile > 0 ? o->tile : 112, h.metric, o->png);
	if (o->verbosity >= CLI_VERBOSE)
		warn("%s: query %lld and %d neighbours", o->png, (long long)q.id, k);
	for (int i = 0; i <= k; i++)
		image_free(&disp[i]);
	free(disp), free(ids), free(labels), free(dist), free(x), free(nb);
	shard_reader_close(rd);
}

static void run_faith(const opts *o, explain_model *em)
{
	explain_faith_config fc = {o->steps, o->attr_k, o->seed, o->resamples, o->verbosity >= CLI_VERBOSE};
	explain_faith_result r;
	explain_faithfulness(em, o->shard, o->pairs, &fc, &r);
	if (r.pairs == 0)
		die("%s: no pair with a same-class neighbour and a distance above 0", o->shard);
	out_file of;
	out_open(&of, o->out, 0);
	explain_faith_print(of.fp, &r, &fc, o->json);
	out_commit(&of);
	explain_faith_free(&r);
}

static void run_sanity(const opts *o, explain_model *em)
{
	explain_pair *pr = xmalloc_array((size_t)o->pairs, sizeof *pr);
	int np = explain_find_pairs(em, o->shard, o->pairs, pr);
	if (np == 0)
		die("%s: no pair with a same-class neighbour and a distance above 0", o->shard);
	float *x = xmalloc_array((size_t)np * 2 * em->Cin, (size_t)em->S * em->S * sizeof(float));
	explain_pair_images(em, o->shard, pr, np, x);
	explain_sanity_result r;
	explain_sanity(em, x, np, o->attr_k, o->seed, &r);
	out_file of;
	out_open(&of, o->out, 0);
	explain_sanity_print(of.fp, &r, o->json);
	out_commit(&of);
	free(pr), free(x);
}

int main(int argc, char **argv)
{
	cli_omp_passive(argv);
	cli_init(argv[0]);
	opts o = {.mode = MODE_PAIR, .pair = {-1, -1}, .query = -1, .rank = 1, .top = 5, .paths = 3, .png_attrs = 2,
		  .tile = 0, .k = 8, .pairs = 50, .steps = 16, .resamples = 2000, .attr_k = 8, .out = "-", .verbosity = CLI_NORMAL};
	int skip = 0;
	if (argc > 1 && strcmp(argv[1], "board") == 0)
		o.mode = MODE_BOARD, skip = 1;
	else if (argc > 1 && strcmp(argv[1], "faithfulness") == 0)
		o.mode = MODE_FAITH, skip = 1;
	else if (argc > 1 && strcmp(argv[1], "sanity") == 0)
		o.mode = MODE_SANITY, skip = 1;
	/* getopt sees the words after the mode behind the program name (a copy: argv itself is left alone). */
	char **av = xmalloc_array((size_t)argc + 1, sizeof *av);
	av[0] = argv[0];
	for (int i = 1 + skip; i <= argc; i++)
		av[i - skip] = argv[i];
	parse(&o, argc - skip, av);
	explain_model em;
	/* On a device the trunk's forward runs there; the attribution passes run on the host (explain.h). */
	avsl_device *dev = avsl_device_open(o.device, o.threads, "explanation", NULL);
	explain_model_load(&em, o.model, dev);
	em.verbose = o.verbosity >= CLI_VERBOSE;
	if (o.verbosity >= CLI_VERBOSE)
		warn("%s: %d levels, D %d, input %d x %d x %d, top-k links %d", o.model, em.L, em.D, em.Cin, em.S, em.S,
		     em.cfg.topk_corr);
	if (o.mode == MODE_PAIR)
		run_pair(&o, &em);
	else if (o.mode == MODE_BOARD)
		run_board(&o, &em);
	else if (o.mode == MODE_FAITH)
		run_faith(&o, &em);
	else
		run_sanity(&o, &em);
	explain_model_free(&em);
	avsl_device_close(dev);
	free(av);
	return 0;
}
