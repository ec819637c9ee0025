/* avsl-prep: pack an image dataset into zstd shards (.avs); list or verify shards. See avsl-prep(1). */
#include "cli.h"
#include "datasets.h"
#include "image.h"
#include "prep.h"
#include "shard.h"
#include "threadpool.h"
#include "util.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void usage(void)
{
	printf("usage: avsl-prep [options] -o OUT ROOT\n"
	       "       avsl-prep --list FILE\n"
	       "       avsl-prep --verify FILE\n"
	       "Pack the images of a dataset into zstd shards (.avs) for avsl-train and avsl-embed.\n\n"
	       "  -o, --output OUT       OUT.avs: one shard (one split); otherwise a prefix: OUT-SPLIT-NNNNN.avs\n"
	       "                         shards and a manifest OUT-SPLIT.avsm per split\n"
	       "      --layout L         imagefolder, cub, sop, cars, idx (default: detected)\n"
	       "      --split S          train, test or both (default: both)\n"
	       "      --classes LIST     keep only these labels, e.g. 0-4 or 0,2,5-7\n"
	       "      --per-class N      keep only the first N images of every class (default: all)\n"
	       "      --shard-size N     records per shard, or bytes with a K/M/G suffix (default: one shard)\n"
	       "      --level N          zstd level 1..19 (default 1)\n"
	       "      --resize N         shorter side in pixels, PIL antialiased bilinear (default 256; idx: none)\n"
	       "      --no-resize        keep the decoded size\n"
	       "      --threads N        worker threads (default: all CPUs); output is identical for any N\n"
	       "      --strict           a corrupt image is an error (default: warn and skip)\n"
	       "      --max-pixels N     refuse (skip) an image of more than N pixels (default 89478485)\n"
	       "      --max-image-bytes N  refuse (skip) an image that decodes to more than N bytes (default 1G)\n"
	       "      --list FILE        print the records of a shard or manifest\n"
	       "      --verify FILE      check every checksum of a shard or manifest\n"
	       "  -q, --quiet            no progress or summary\n"
	       "  -v, --verbose          more detail\n"
	       "  -h, --help             this help\n"
	       "  -V, --version          print the version\n");
}

static int list_or_verify(const char *path, int verify)
{
	shard_reader *r;
	fmt_error err;
	if (shard_reader_open(&r, path, &err))
		die("%s", err.msg);
	shard_buf b = {0};
	shard_record rec;
	uint64_t n = shard_reader_count(r), bad = 0;
	for (uint64_t i = 0; i < n; i++) {
		if (shard_reader_get(r, i, &b, &rec, &err)) {
			if (!verify)
				die("%s", err.msg);
			warn("%s", err.msg);
			bad++;
			continue;
		}
		if (!verify)
			printf("%llu\t%d\t%s\t%s\t%ux%ux%u\n", (unsigned long long)i, (int)rec.label, rec.class_name, rec.path,
			       rec.height, rec.width, rec.channels);
	}
	shard_buf_free(&b);
	if (verify) {
		if (bad)
			die("%s: %llu of %llu records failed verification", path, (unsigned long long)bad,
			    (unsigned long long)n);
		printf("%s: OK, %llu records, %d shard%s, %u classes\n", path, (unsigned long long)n,
		       shard_reader_nshards(r), shard_reader_nshards(r) == 1 ? "" : "s", shard_reader_class_count(r));
	}
	shard_reader_close(r);
	return 0;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

int main(int argc, char **argv)
{
	cli_init(argv[0]);
	enum { O_LAYOUT = 256, O_SPLIT, O_CLASSES, O_PER_CLASS, O_SHARD_SIZE, O_LEVEL, O_RESIZE, O_NO_RESIZE, O_THREADS, O_STRICT,
	       O_LIST, O_VERIFY, O_MAX_PIXELS, O_MAX_BYTES };
	static const struct option opts[] = {
		{"output", required_argument, 0, 'o'},      {"layout", required_argument, 0, O_LAYOUT},
		{"split", required_argument, 0, O_SPLIT},   {"classes", required_argument, 0, O_CLASSES},
		{"per-class", required_argument, 0, O_PER_CLASS},
		{"shard-size", required_argument, 0, O_SHARD_SIZE}, {"level", required_argument, 0, O_LEVEL},
		{"resize", required_argument, 0, O_RESIZE}, {"no-resize", no_argument, 0, O_NO_RESIZE},
		{"threads", required_argument, 0, O_THREADS}, {"strict", no_argument, 0, O_STRICT},
		{"max-pixels", required_argument, 0, O_MAX_PIXELS}, {"max-image-bytes", required_argument, 0, O_MAX_BYTES},
		{"list", required_argument, 0, O_LIST},     {"verify", required_argument, 0, O_VERIFY},
		{"quiet", no_argument, 0, 'q'},             {"verbose", no_argument, 0, 'v'},
		{"help", no_argument, 0, 'h'},              {"version", no_argument, 0, 'V'},
		{0, 0, 0, 0}};
	size_t per_class = 0;
	const char *out = NULL, *split = "both", *classes = NULL, *list = NULL, *verify = NULL, *shard_size = NULL;
	int layout = DS_AUTO, resize = -1;
	uint64_t max_pixels = IMAGE_DEFAULT_MAX_PIXELS, max_bytes = IMAGE_DEFAULT_MAX_BYTES;
	prep_opts o = {.level = 1, .threads = avsl_cpu_count(), .verbosity = CLI_NORMAL};
	int c;
	while ((c = getopt_long(argc, argv, "o:qvhV", opts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case O_LAYOUT:
			if ((layout = ds_layout_parse(optarg)) < 0)
				die_usage("--layout: '%s', expected imagefolder, cub, sop, cars or idx", optarg);
			break;
		case O_SPLIT:
			if (strcmp(optarg, "train") && strcmp(optarg, "test") && strcmp(optarg, "both"))
				die_usage("--split: '%s', expected train, test or both", optarg);
			split = optarg;
			break;
		case O_CLASSES: classes = optarg; break;
		case O_PER_CLASS: per_class = (size_t)opt_long("--per-class", optarg, 1, 1L << 40); break;
		case O_SHARD_SIZE: shard_size = optarg; break;
		case O_LEVEL: o.level = (int)opt_long("--level", optarg, 1, 19); break;
		case O_RESIZE: resize = (int)opt_long("--resize", optarg, 1, 65535); break;
		case O_NO_RESIZE: resize = 0; break;
		case O_THREADS: o.threads = (int)opt_long("--threads", optarg, 1, 1024); break;
		case O_STRICT: o.strict = 1; break;
		case O_MAX_PIXELS: max_pixels = opt_size("--max-pixels", optarg, 1, 1ull << 40); break;
		case O_MAX_BYTES: max_bytes = opt_size("--max-image-bytes", optarg, 1, 1ull << 46); break;
		case O_LIST: list = optarg; break;
		case O_VERIFY: verify = optarg; break;
		case 'q': o.verbosity = CLI_QUIET; break;
		case 'v': o.verbosity = CLI_VERBOSE; break;
		case 'h': usage(); return 0;
		case 'V': cli_print_version(); return 0;
		default: die_usage("unknown option");
		}
	}
	if (list || verify) {
		if (optind != argc || out || (list && verify))
			die_usage("--list and --verify take one FILE and no other arguments");
		return list_or_verify(list ? list : verify, verify != NULL);
	}
	image_set_limits(max_pixels, max_bytes);
	if (optind + 1 != argc)
		die_usage(optind == argc ? "missing the dataset ROOT" : "one dataset ROOT expected");
	if (!out)
		die_usage("missing -o OUT");
	const char *root = argv[optind];
	if (shard_size) {
		/* a plain number counts records; a K/M/G suffix makes it a byte budget */
		char last = shard_size[strlen(shard_size) - 1];
		uint64_t v = opt_size("--shard-size", shard_size, 1, UINT64_MAX);
		if (last >= '0' && last <= '9')
			o.shard_records = v;
		else
			o.shard_bytes = v;
	}
	int single = ends_with(out, ".avs");
	if (single && !strcmp(split, "both"))
		die_usage("-o %s names one shard: choose --split train or --split test, or give a prefix", out);
	if (single && shard_size)
		die_usage("--shard-size needs an output prefix, not a single shard (%s)", out);
	if (layout == DS_AUTO)
		layout = ds_detect(root);
	o.resize = resize >= 0 ? resize : (layout == DS_IDX ? 0 : 256);
	ds_filter filter = {0};
	if (classes) {
		const char *why;
		if (ds_filter_parse(classes, 1 << 20, &filter, &why))
			die_usage("--classes: '%s': %s", classes, why);
	}
	const char *splits[2] = {"train", "test"};
	out_set set = {0}; /* every shard and manifest of the run, renamed together at the end */
	for (int k = 0; k < 2; k++) {
		if (strcmp(split, "both") && strcmp(split, splits[k]))
			continue;
		ds_split s;
		ds_load(root, layout, splits[k], classes ? &filter : NULL, o.strict, &s);
		if (per_class)
			ds_split_limit_per_class(&s, per_class);
		if (s.n == 0)
			die("%s: no images in the %s split%s", root, splits[k], classes ? " (after --classes)" : "");
		if (o.verbosity == CLI_VERBOSE)
			warn("%s: %s layout, %s split: %zu images", root, ds_layout_name(layout), splits[k], s.n);
		char *dst = single ? xstrdup(out) : xasprintf("%s-%s", out, splits[k]);
		prep_stats st;
		prep_split_into(&s, dst, !single, &o, &st, &set);
		st.skipped += s.skipped;
		if (o.verbosity != CLI_QUIET)
			warn("%s: %llu images, %zu classes, %llu skipped, %llu bytes in, %llu bytes out (%llu shard%s), "
			     "%.1f images/s", single ? dst : splits[k], (unsigned long long)st.images, st.classes,
			     (unsigned long long)st.skipped, (unsigned long long)st.bytes_in,
			     (unsigned long long)st.bytes_out, (unsigned long long)st.shards, st.shards == 1 ? "" : "s",
			     st.seconds > 0 ? (double)(st.images + st.skipped) / st.seconds : 0.0);
		free(dst);
		ds_split_free(&s);
	}
	out_set_commit(&set);
	ds_filter_free(&filter);
	return 0;
}
