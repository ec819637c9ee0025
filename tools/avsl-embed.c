/* avsl-embed: checkpoint + image shards -> embeddings stream (.ave) or numpy files.
 *
 *   avsl-embed -m run/model.safetensors data/test.avs | avsl-graph -m run/model.safetensors | avsl-eval
 *
 * Uses the evaluation transform stored in the checkpoint (resize the shorter side, center crop, normalise). AVSL
 * models write three levels of embeddings with their certainties; baseline models one L2-normalised embedding.
 */
#include "checkpoint.h"
#include "devmem.h"
#include "cli.h"
#include "device.h"
#include "dist.h"
#include "emb.h"
#include "evaluate.h"
#include "loader.h"
#include "model.h"
#include "npy.h"
#include "npy_import.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void usage(FILE *fp)
{
	fprintf(fp,
		"usage: avsl-embed -m MODEL [options] SHARD\n"
		"       avsl-embed --from-npy DIR|EMB.npy[,EMB.npy...] [--labels FILE] [--cert C.npy,...] [--ids FILE]\n"
		"Embed every image of a shard or manifest with a trained model; write an embeddings stream (.ave).\n"
		"With --from-npy, convert embeddings computed elsewhere (numpy) into an embeddings stream instead.\n"
		"\n"
		"  -m, --model FILE       checkpoint written by avsl-train (model.safetensors or last.safetensors)\n"
		"  -o, --output FILE      embeddings stream (default: standard output, '-')\n"
		"      --npy DIR          also write DIR/emb{0,1,2}.npy, DIR/cert{0,1,2}.npy, labels.npy, ids.npy\n"
		"      --from-npy SPEC    convert numpy files: a directory as --npy writes it (emb0.npy..., cert0.npy...,\n"
		"                         labels.npy, ids.npy), or float32 (N, D) files, one per level, comma-separated\n"
		"      --labels FILE      with a file list: labels, an integer .npy (N) or a text file, one per line\n"
		"      --cert LIST        with a file list: certainties, one float32 (N, D) .npy per level\n"
		"      --ids FILE         with a file list: item ids, an integer .npy (N) (default 0..N-1)\n"
		"  -b, --batch-size N     images per forward pass (default: the checkpoint's test_batch_size)\n"
		"  -t, --threads N        CPU threads (default: all CPUs)\n"
		AVSL_DEVICE_HELP
		AVSL_PRECISION_HELP
		"  -q, --quiet            no progress\n"
		"  -v, --verbose          more detail\n"
		"  -h, --help             this help\n"
		"  -V, --version          print the version\n");
}

/* Open DIR/name as one more member of the output set and write its .npy header. */
static FILE *npy_open(out_set *set, const char *dir, const char *name, npy_dtype dt, int ndim, const int64_t *shape)
{
	char *path = xasprintf("%s/%s", dir, name);
	out_file *f = out_set_open(set, path, 1);
	fmt_error err;
	if (npy_write_header(f->fp, path, dt, ndim, shape, &err))
		die("%s", err.msg);
	free(path);
	return f->fp;
}

static void npy_put(FILE *fp, const char *name, npy_dtype dt, const void *data, uint64_t n)
{
	fmt_error err;
	if (npy_write_data(fp, name, dt, data, n, &err))
		die("%s", err.msg);
}

/* Where each batch goes: the .ave stream and, with --npy, the numpy files. */
typedef struct {
	FILE *fp;
	const char *path;
	const ave_header *h;
	const char *npy_dir;
	FILE *f_emb[MODEL_LEVELS], *f_cert[MODEL_LEVELS], *f_lab, *f_id;
	float *rec; /* one record: emb[0..L-1], cert[0..L-1] */
} sink;

static void write_batch(void *ctx, int b, float *const emb[], float *const cert[], const int32_t *labels,
			const int64_t *ids)
{
	sink *k = ctx;
	int L = (int)k->h->levels, D = (int)k->h->dim[0];
	fmt_error err;
	for (int i = 0; i < b; i++) {
		for (int l = 0; l < L; l++) {
			memcpy(k->rec + (size_t)l * D, emb[l] + (size_t)i * D, D * sizeof(float));
			if (cert)
				memcpy(k->rec + (size_t)(L + l) * D, cert[l] + (size_t)i * D, D * sizeof(float));
		}
		if (ave_write_record(k->fp, k->path, k->h, ids[i], labels[i], k->rec, &err))
			die("%s", err.msg);
	}
	if (!k->npy_dir)
		return;
	for (int l = 0; l < L; l++) {
		npy_put(k->f_emb[l], k->npy_dir, NPY_F32, emb[l], (uint64_t)b * D);
		if (cert)
			npy_put(k->f_cert[l], k->npy_dir, NPY_F32, cert[l], (uint64_t)b * D);
	}
	npy_put(k->f_lab, k->npy_dir, NPY_I32, labels, (uint64_t)b);
	npy_put(k->f_id, k->npy_dir, NPY_I64, ids, (uint64_t)b);
}

/* Split a comma-separated list into at most max paths (the string is modified). Returns the count. */
static int split_list(char *s, char **out, int max, const char *opt)
{
	int n = 0;
	for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ","))
		if (n < max)
			out[n++] = tok;
		else
			die_usage("%s: more than %d levels", opt, max);
	return n;
}

/* --from-npy: numpy files -> .ave (no model involved). */
static int from_npy(char *spec, char *labels, char *cert, const char *ids, const char *out_path)
{
	char *emb[AVE_MAX_LEVELS], *certs[AVE_MAX_LEVELS], *idp = NULL;
	int L = 0, nc = 0, owned = 0; /* owned: the names were built here (DIR form) and are freed at the end */
	struct stat st;
	if (stat(spec, &st) == 0 && S_ISDIR(st.st_mode)) {
		owned = 1;
		if (labels || cert || ids)
			die_usage("--from-npy DIR reads DIR/labels.npy, DIR/cert*.npy and DIR/ids.npy itself");
		for (int l = 0; l < AVE_MAX_LEVELS; l++) {
			char *e = xasprintf("%s/emb%d.npy", spec, l), *c = xasprintf("%s/cert%d.npy", spec, l);
			if (access(e, F_OK) != 0) {
				free(e);
				free(c);
				break;
			}
			emb[L++] = e;
			if (access(c, F_OK) == 0)
				certs[nc++] = c;
			else
				free(c);
		}
		if (!L)
			die("%s: no emb0.npy in this directory", spec);
		labels = xasprintf("%s/labels.npy", spec);
		idp = xasprintf("%s/ids.npy", spec);
		ids = access(idp, F_OK) == 0 ? idp : NULL;
	} else {
		L = split_list(spec, emb, AVE_MAX_LEVELS, "--from-npy");
		if (cert)
			nc = split_list(cert, certs, AVE_MAX_LEVELS, "--cert");
		if (!labels)
			die_usage("--from-npy with files needs --labels FILE");
	}
	if (nc && nc != L)
		die_usage("%d certainty files for %d embedding levels", nc, L);
	ave_set s;
	npy_import_set(L, (const char *const *)emb, nc ? (const char *const *)certs : NULL, labels, ids, &s);
	out_file o;
	out_open(&o, out_path, 1);
	fmt_error err;
	if (ave_write_set(o.fp, out_path, &s, &err) != 0) {
		out_abort(&o);
		die("%s", err.msg);
	}
	out_commit(&o);
	ave_free(&s);
	if (owned) {
		for (int l = 0; l < L; l++)
			free(emb[l]);
		for (int l = 0; l < nc; l++)
			free(certs[l]);
		free(labels);
		free(idp);
	}
	return 0;
}

int main(int argc, char **argv)
{
	cli_omp_passive(argv);
	cli_init(argv[0]);
	dist_init(&argc, &argv); /* under mpirun: the ranks share the records, rank 0 writes (man avsl-embed) */
	const char *model_path = NULL, *out_path = "-", *npy_dir = NULL, *device = NULL, *ids = NULL;
	char *from = NULL, *labels = NULL, *cert = NULL;
	int batch = 0, threads = 0, verbosity = CLI_NORMAL;
	static const struct option opts[] = {
		{"model", required_argument, 0, 'm'},   {"output", required_argument, 0, 'o'},
		{"npy", required_argument, 0, 'N'},     {"batch-size", required_argument, 0, 'b'},
		{"threads", required_argument, 0, 't'}, {"device", required_argument, 0, 'd'},
		{"quiet", no_argument, 0, 'q'},         {"verbose", no_argument, 0, 'v'},
		{"help", no_argument, 0, 'h'},          {"version", no_argument, 0, 'V'},
		{"from-npy", required_argument, 0, 'F'}, {"labels", required_argument, 0, 'L'},
		{"cert", required_argument, 0, 'C'},    {"ids", required_argument, 0, 'I'},
		{"precision", required_argument, 0, 'P'},
		{0, 0, 0, 0},
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "m:o:b:t:d:qvhV", opts, NULL)) != -1) {
		switch (ch) {
		case 'm': model_path = optarg; break;
		case 'o': out_path = optarg; break;
		case 'N': npy_dir = optarg; break;
		case 'F': from = optarg; break;
		case 'L': labels = optarg; break;
		case 'C': cert = optarg; break;
		case 'I': ids = optarg; break;
		case 'b': batch = (int)opt_long("--batch-size", optarg, 1, 1 << 16); break;
		case 't': threads = (int)opt_long("--threads", optarg, 1, 1024); break;
		case 'd': device = avsl_device_arg(optarg); break;
		case 'P': avsl_precision_arg(optarg); break;
		case 'q': verbosity = CLI_QUIET; break;
		case 'v': verbosity = CLI_VERBOSE; break;
		case 'h': usage(stdout); return 0;
		case 'V': cli_print_version(); return 0;
		default: usage(stderr); return AVSL_EXIT_USAGE;
		}
	}
	if (from) {
		if (model_path || npy_dir || optind != argc)
			die_usage("--from-npy converts numpy files: no -m, --npy or shard");
		int rc = dist_rank() == 0 ? from_npy(from, labels, cert, ids, out_path) : 0;
		dist_finalize();
		return rc;
	}
	if (labels || cert || ids)
		die_usage("--labels, --cert and --ids go with --from-npy");
	if (!model_path)
		die_usage("-m MODEL is required");
	if (optind != argc - 1)
		die_usage(optind == argc ? "a shard or manifest to embed is required" : "one shard or manifest at a time");
	const char *shard = argv[optind];
	train_config c;
	train_config_init(&c);
	checkpoint_read_config(model_path, &c);
	c.threads = threads;
	char missing[256];
	avsl_device *dev = avsl_device_open(device, threads, "embedding",
					    model_embed_cuda_missing(&c, missing, sizeof missing));
	devmem_set_hint("the batch size (-b)");

	model m;
	checkpoint_load(model_path, &c, &m, NULL, NULL, dev);
	if (!batch)
		batch = c.test_batch_size;

	/* The checkpoint's evaluation transform, as the trainer evaluated with (c.threads was set above). */
	loader_config lc;
	train_config_loader(&c, 0, &lc);
	lc.batch = batch;
	lc.rank = dist_rank(), lc.world = dist_world();
	loader *ld = loader_open_or_die(shard, &lc);
	uint64_t n = loader_count(ld);
	if (n > 0 && n < (uint64_t)lc.batch) {
		/* A batch larger than the records only costs memory: the plan (and its page faults) scale with it. One
		 * batch either way, so the numbers are the same. */
		loader_close(ld);
		lc.batch = batch = (int)n;
		ld = loader_open_or_die(shard, &lc);
	}
	model_plan_embed(&m, batch);
	int lead = dist_rank() == 0;
	if (lead && verbosity >= CLI_VERBOSE)
		fprintf(stderr, "%s: activation arena: %.1f MB (forward-only, batch %d)\n", avsl_progname(),
			m.embed_bytes / 1e6, batch);
	ave_set all = {0};
	if (dist_world() > 1) {
		/* Each rank embeds whole batches of the one-process schedule (loader.h), so every number is the one a
		 * single process computes; rank 0 gathers them in record order and writes the same bytes. */
		evaluate_embed(&m, ld, &all, verbosity == CLI_QUIET || !lead);
		evaluate_gather(&all);
	}
	if (!lead) {
		ave_free(&all); /* the gather leaves placeholder arrays on the ranks that do not write */
		loader_close(ld);
		model_free(&m);
		avsl_device_close(dev);
		train_config_free(&c);
		dist_finalize();
		return 0;
	}

	int L = model_levels(&m), has_cert = model_has_cert(&m), D = m.D;
	ave_header h = {.levels = (uint32_t)L, .has_cert = has_cert, .count = n,
			.kind = has_cert ? AVE_KIND_AVSL : AVE_KIND_BASELINE};
	for (int l = 0; l < L; l++)
		h.dim[l] = (uint32_t)D;
	/* The stream and the .npy files appear together or not at all (cli.h out_set). */
	out_set set = {0};
	out_file *o = out_set_open(&set, out_path, 1);
	const char *out_name = strcmp(out_path, "-") ? out_path : "standard output";
	fmt_error err;
	if (ave_write_header(o->fp, out_name, &h, &err))
		die("%s", err.msg);

	FILE *f_emb[MODEL_LEVELS] = {0}, *f_cert[MODEL_LEVELS] = {0}, *f_lab = NULL, *f_id = NULL;
	if (npy_dir) {
		if (mkdir(npy_dir, 0777) && errno != EEXIST)
			die("%s: cannot create: %s", npy_dir, strerror(errno));
		int64_t shape[2] = {(int64_t)n, D};
		char name[32];
		for (int l = 0; l < L; l++) {
			snprintf(name, sizeof name, "emb%d.npy", l);
			f_emb[l] = npy_open(&set, npy_dir, name, NPY_F32, 2, shape);
			if (has_cert) {
				snprintf(name, sizeof name, "cert%d.npy", l);
				f_cert[l] = npy_open(&set, npy_dir, name, NPY_F32, 2, shape);
			}
		}
		f_lab = npy_open(&set, npy_dir, "labels.npy", NPY_I32, 1, shape);
		f_id = npy_open(&set, npy_dir, "ids.npy", NPY_I64, 1, shape);
	}

	sink k = {.fp = o->fp, .path = out_name, .h = &h, .npy_dir = npy_dir, .f_lab = f_lab, .f_id = f_id};
	for (int l = 0; l < L; l++)
		k.f_emb[l] = f_emb[l], k.f_cert[l] = f_cert[l];
	k.rec = xmalloc_array((size_t)ave_record_floats(&h), sizeof(float));
	if (dist_world() > 1) {
		if (all.n > (uint64_t)INT32_MAX)
			die("%s: %llu records: too many for one gathered batch", shard, (unsigned long long)all.n);
		write_batch(&k, (int)all.n, all.emb, has_cert ? all.cert : NULL, all.label, all.id);
		ave_free(&all);
	} else {
		embed_all(&m, ld, write_batch, &k, verbosity == CLI_QUIET);
	}
	free(k.rec);
	out_set_commit(&set);
	loader_close(ld);
	model_free(&m);
	avsl_device_close(dev);
	train_config_free(&c);
	dist_finalize();
	return 0;
}
