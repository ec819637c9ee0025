/* mkcorpus: write the generated part of the fuzz seed corpora (tests/fuzz/corpus/NAME/gen-*), small valid files
 * of every format made through the project's own writers, so the fuzzers start from inputs that reach deep into the
 * readers. Run by tests/fuzz/mkcorpus.sh; the hand-made edge cases (edge-*) are committed beside them.
 *
 *   mkcorpus CORPUS_DIR
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emb.h"
#include "graph.h"
#include "image.h"
#include "safetensors.h"
#include "shard.h"
#include "train_config.h"

static const char *root;

static FILE *out(const char *harness, const char *name)
{
	char *path;
	if (asprintf(&path, "%s/%s/gen-%s", root, harness, name) < 0)
		abort();
	FILE *fp = fopen(path, "wb");
	if (!fp) {
		perror(path);
		exit(1);
	}
	free(path);
	return fp;
}

static void done(FILE *fp, int rc, const char *what)
{
	if (rc != 0 || fclose(fp) != 0) {
		fprintf(stderr, "mkcorpus: cannot write %s\n", what);
		exit(1);
	}
}

static void bytes(const char *harness, const char *name, const void *p, size_t n)
{
	FILE *fp = out(harness, name);
	done(fp, fwrite(p, 1, n, fp) != n, name);
}

/* ---- .ave: plain one level, AVSL three levels with certainties, a stream of unknown count ---- */
static void ave(const char *name, uint32_t levels, uint32_t d, int cert, int stream, int n)
{
	ave_header h = {.levels = levels, .has_cert = cert, .kind = levels > 1 ? AVE_KIND_AVSL : AVE_KIND_PLAIN,
			.count = stream ? AVE_COUNT_UNKNOWN : (uint64_t)n};
	for (uint32_t l = 0; l < levels; l++)
		h.dim[l] = d + l;
	FILE *fp = out("ave", name);
	fmt_error err;
	int rc = ave_write_header(fp, name, &h, &err);
	float vals[64]; /* (ave_record_floats) */
	for (int i = 0; i < n && !rc; i++) {
		for (uint64_t j = 0; j < ave_record_floats(&h); j++)
			vals[j] = (float)(i + 1) * 0.25f - (float)j * 0.125f;
		rc = ave_write_record(fp, name, &h, 100 + i, i % 3, vals, &err);
	}
	done(fp, rc, name);
}

/* ---- .avg ---- */
static void avg(const char *name, uint32_t k, int nq, int stream, const char *metric)
{
	avg_header h = {.k = k, .nq = stream ? AVG_COUNT_UNKNOWN : (uint64_t)nq};
	snprintf(h.metric, sizeof h.metric, "%s", metric);
	FILE *fp = out("avg", name);
	fmt_error err;
	int rc = avg_write_header(fp, name, &h, &err);
	for (int i = 0; i < nq && !rc; i++) {
		avg_neighbour nb[8];
		avg_query q = {.id = i, .label = i % 2, .n_relevant = 1, .count = k < 8 ? k : 8};
		for (uint32_t j = 0; j < q.count; j++)
			nb[j] = (avg_neighbour){.id = (i + j + 1) % nq, .label = (int32_t)((i + j + 1) % 2), .dist = 0.5f * j};
		rc = avg_write_query(fp, name, &h, &q, nb, &err);
	}
	done(fp, rc, name);
}

/* ---- safetensors / checkpoint ---- */
static void checkpoint(const char *harness, const char *name, int levels, int d, int with_config)
{
	st_writer *w = st_writer_new();
	float buf[3][64]; /* per level: (D) coef, (D) bias, (D, D) link; D <= 5 */
	char names[3][3][32], val[5][32];
	int64_t sd[1] = {d}, sl[2] = {d, d};
	for (int l = 0; l < levels; l++) {
		for (int j = 0; j < 64; j++)
			buf[l][j] = 0.1f * (float)((j * 7 + l) % 11) - 0.5f;
		snprintf(names[l][0], 32, "collector.prob_coef.%d", l);
		snprintf(names[l][1], 32, "collector.prob_bias.%d", l);
		snprintf(names[l][2], 32, "collector.links.%d", l);
		st_writer_add(w, names[l][0], ST_F32, 1, sd, buf[l]);
		st_writer_add(w, names[l][1], ST_F32, 1, sd, buf[l] + d);
		if (l + 1 < levels)
			st_writer_add(w, names[l][2], ST_F32, 2, sl, buf[l] + 2 * d);
	}
	int64_t s3[3] = {2, 1, 2};
	static const int32_t small[4] = {1, -2, 3, -4};
	st_writer_add(w, "other.i32", ST_I32, 3, s3, small);
	st_writer_meta(w, "avsl.format_version", "1.0");
	st_writer_meta(w, "avsl.setting", "avsl_proxyanchor");
	st_writer_meta(w, "avsl.num_classes", "5");
	snprintf(val[0], 32, "%d", levels);
	snprintf(val[1], 32, "%d", d);
	st_writer_meta(w, "avsl.levels", val[0]);
	st_writer_meta(w, "avsl.embeddings_dim", val[1]);
	st_writer_meta(w, "avsl.topk_corr", "2");
	st_writer_meta(w, "avsl.prob_gamma", "1.5");
	st_writer_meta(w, "avsl.index_p", "2");
	st_writer_meta(w, "avsl.avsl_m", "0.5");
	char *json = NULL;
	train_config c;
	if (with_config) {
		train_config_init(&c);
		/* the configuration agrees with the summary keys and the tensors (formats/checkpoint.md) */
		c.embeddings_dim = d, c.topk_corr = 2, c.prob_gamma = 1.5, c.index_p = 2, c.avsl_m = 0.5;
		json = train_config_to_json(&c);
		st_writer_meta(w, "avsl.config", json);
	}
	FILE *fp = out(harness, name);
	fmt_error err;
	done(fp, st_writer_write(w, fp, name, &err), name);
	st_writer_free(w);
	if (with_config) {
		bytes("json", "config.json", json, strlen(json));
		free(json);
		train_config_free(&c);
	}
}

/* ---- images (first byte: channels asked for) ---- */
static void image(const char *name, int want, int h, int w, int c, int jpeg)
{
	image_u8 im = {.h = h, .w = w, .c = c, .px = malloc((size_t)h * w * c)};
	for (int i = 0; i < h * w * c; i++)
		im.px[i] = (uint8_t)(i * 37 + 11);
	unsigned char *enc;
	size_t len;
	if ((jpeg ? image_encode_jpeg(&im, 80, &enc, &len) : image_encode_png(&im, &enc, &len)) != 0) {
		fprintf(stderr, "mkcorpus: cannot encode %s\n", name);
		exit(1);
	}
	FILE *fp = out("image", name);
	done(fp, fputc(want, fp) == EOF || fwrite(enc, 1, len, fp) != len, name);
	free(enc);
	free(im.px);
}

/* ---- IDX: 2-byte label-file length, images file, labels file ---- */
static void idx(const char *name, uint32_t n, uint32_t h, uint32_t w)
{
	size_t il = 16 + (size_t)n * h * w, ll = 8 + n;
	unsigned char *b = calloc(2 + il + ll, 1);
	b[0] = (unsigned char)ll, b[1] = (unsigned char)(ll >> 8);
	unsigned char *img = b + 2, *lab = b + 2 + il;
	const uint32_t hdr[4] = {0x803, n, h, w};
	for (int i = 0; i < 4; i++)
		for (int k = 0; k < 4; k++)
			img[4 * i + k] = (unsigned char)(hdr[i] >> (24 - 8 * k));
	for (size_t i = 16; i < il; i++)
		img[i] = (unsigned char)(i * 13);
	const uint32_t lh[2] = {0x801, n};
	for (int i = 0; i < 2; i++)
		for (int k = 0; k < 4; k++)
			lab[4 * i + k] = (unsigned char)(lh[i] >> (24 - 8 * k));
	for (uint32_t i = 0; i < n; i++)
		lab[8 + i] = (unsigned char)(i % 10);
	bytes("idx", name, b, 2 + il + ll);
	free(b);
}

/* ---- shards: one written here; manifests name the harness's own a.avs (2 records) and b.avs (3) ---- */
static void shard(const char *name, int n, int level)
{
	FILE *fp = out("shard", name);
	shard_writer *w;
	fmt_error err;
	int rc = shard_writer_open(&w, fp, name, level, &err);
	for (int i = 0; i < n && !rc; i++) {
		uint8_t px[6 * 5 * 3];
		for (size_t j = 0; j < sizeof px; j++)
			px[j] = (uint8_t)(j * 5 + i * 3);
		char cls[16], src[32];
		snprintf(cls, sizeof cls, "c%d", i % 3);
		snprintf(src, sizeof src, "%s/%d.jpg", cls, i);
		shard_record rec = {.label = i % 3, .super_label = i % 2 ? -1 : 0, .class_name = cls, .path = src,
				    .height = 5 + (uint32_t)(i % 2), .width = 5, .channels = i % 2 ? 3 : 1, .pixels = px};
		rc = shard_writer_add(w, &rec, &err);
	}
	if (!rc)
		rc = shard_writer_finish(w, NULL, &err);
	done(fp, rc, name);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: mkcorpus CORPUS_DIR\n");
		return 2;
	}
	root = argv[1];
	ave("plain.ave", 1, 4, 0, 0, 3);
	ave("avsl.ave", 3, 2, 1, 0, 2);
	ave("stream.ave", 2, 3, 0, 1, 2);
	ave("empty.ave", 1, 1, 0, 0, 0);
	avg("l2.avg", 3, 4, 0, "l2");
	avg("stream.avg", 2, 3, 1, "avsl");
	avg("k1.avg", 1, 1, 0, "level:1");
	checkpoint("checkpoint", "avsl.safetensors", 3, 4, 1);
	checkpoint("checkpoint", "l2.safetensors", 2, 3, 0);
	checkpoint("safetensors", "avsl.safetensors", 3, 4, 1);
	image("gray.png", 0, 5, 7, 1, 0);
	image("rgb.png", 3, 6, 4, 3, 0);
	image("rgb-to-gray.png", 1, 9, 9, 3, 0);
	image("gray.jpg", 3, 8, 8, 1, 1);
	image("rgb.jpg", 0, 11, 6, 3, 1);
	idx("three.idx", 3, 2, 3);
	idx("one.idx", 1, 1, 1);
	shard("one.avs", 1, 1);
	shard("five.avs", 5, 3);
	bytes("shard", "a-b.avsm", "AVSM 1.0\n2 a.avs\n3 b.avs\n", 25);
	bytes("shard", "a.avsm", "AVSM 1.0\n2 a.avs\n", 17);
	return 0;
}
