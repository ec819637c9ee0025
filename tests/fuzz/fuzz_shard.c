/* libFuzzer harness for the image shard reader (.avs) and the shard manifest (.avsm), formats/shard.c.
 *
 * The reader opens files by path, so each input is written to a private folder (made once per process, removed at
 * exit): an input that starts with "AVSM " becomes m.avsm next to two valid shards made at start-up, a.avs (2
 * records) and b.avs (3 records), so manifests can name real shards; anything else becomes x.avs. An opened reader
 * is exercised as the tools use it: counts, labels and class names from the index, then every record (up to 64)
 * decompressed, checked and touched, then verify. Build and run: `make fuzz` (tests/fuzz/README.md).
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "shard.h"

static char dir[256];
static volatile size_t sink;

static void remove_dir(void)
{
	const char *names[] = {"a.avs", "b.avs", "m.avsm", "x.avs"};
	char path[300];
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
}

/* A valid shard of n records (labels first..first+n-1, sizes varying) named name in dir. */
static void make_shard(const char *name, int first, int n)
{
	char path[300];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *fp = fopen(path, "wb");
	shard_writer *w;
	fmt_error err;
	if (!fp || shard_writer_open(&w, fp, path, 3, &err)) {
		fprintf(stderr, "fuzz_shard: cannot make %s\n", path);
		abort();
	}
	for (int i = 0; i < n; i++) {
		uint8_t px[5 * 4 * 3];
		for (size_t j = 0; j < sizeof px; j++)
			px[j] = (uint8_t)(j * 7 + i);
		char cls[16], src[32];
		snprintf(cls, sizeof cls, "class%d", first + i);
		snprintf(src, sizeof src, "%s/img%d.png", cls, i);
		shard_record rec = {.label = first + i, .super_label = -1, .class_name = cls, .path = src,
				    .height = 4 + (uint32_t)(i & 1), .width = 4, .channels = i & 1 ? 3 : 1, .pixels = px};
		if (shard_writer_add(w, &rec, &err)) {
			fprintf(stderr, "fuzz_shard: %s\n", err.msg);
			abort();
		}
	}
	if (shard_writer_finish(w, NULL, &err) || fclose(fp)) {
		fprintf(stderr, "fuzz_shard: cannot finish %s\n", path);
		abort();
	}
}

static void setup(void)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof dir, "%s/avsl-fuzz-shard-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		perror("fuzz_shard: mkdtemp");
		abort();
	}
	atexit(remove_dir);
	make_shard("a.avs", 0, 2);
	make_shard("b.avs", 1, 3); /* labels 1 and 2 overlap a.avs's with the same class names */
}

static void exercise(shard_reader *r)
{
	size_t acc = shard_reader_count(r) + (size_t)shard_reader_num_classes(r) + shard_reader_class_count(r);
	for (int s = 0; s < shard_reader_nshards(r); s++)
		acc += strlen(shard_reader_shard_path(r, s));
	for (int32_t l = 0; l < shard_reader_num_classes(r) && l < 1024; l++) {
		const char *nm = shard_reader_class_name(r, l);
		acc += nm ? strlen(nm) : 0;
	}
	uint64_t n = shard_reader_count(r) < 64 ? shard_reader_count(r) : 64;
	shard_buf buf = {0};
	fmt_error err;
	for (uint64_t i = 0; i < n; i++) {
		acc += (size_t)shard_reader_label(r, i) + (size_t)shard_reader_super_label(r, i);
		shard_record rec;
		if (shard_reader_get(r, i, &buf, &rec, &err) == 0) {
			size_t np = (size_t)rec.height * rec.width * rec.channels;
			acc += strlen(rec.class_name) + strlen(rec.path) + (np ? rec.pixels[np - 1] + rec.pixels[0] : 0);
		}
	}
	if (shard_reader_count(r) <= 256)
		acc += shard_reader_verify(r, &err);
	shard_buf_free(&buf);
	sink = acc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!dir[0])
		setup();
	char path[300];
	snprintf(path, sizeof path, "%s/%s", dir, size >= 5 && memcmp(data, "AVSM ", 5) == 0 ? "m.avsm" : "x.avs");
	FILE *fp = fopen(path, "wb");
	if (!fp || fwrite(data, 1, size, fp) != size || fclose(fp)) {
		perror(path);
		abort();
	}
	shard_reader *r;
	fmt_error err;
	if (shard_reader_open(&r, path, &err) == 0) {
		exercise(r);
		shard_reader_close(r);
	}
	return 0;
}
