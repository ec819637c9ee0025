/* mkave: write an .ave embeddings stream for the CLI tests and benchmarks, through formats/emb.h (so the tests do
 * not depend on the byte layout). Compiled by the test scripts against build/libavsl.a.
 *
 *   mkave [--stream] < TEXT > OUT.ave      TEXT: first line "LEVELS DIM0 ... has_cert", then one line per record
 *                                          "id label values..." (sum of dims values, then as many certainties)
 *   mkave --raw N D DATA.f32 LABELS.i32    N x D raw little-endian float32 rows and N int32 labels (one level)
 * --stream writes the count as unknown (a pipe-style stream). */
#include "emb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fail(const char *what)
{
	fprintf(stderr, "mkave: %s\n", what);
	exit(1);
}

int main(int argc, char **argv)
{
	ave_header h = {0};
	fmt_error err;
	h.kind = AVE_KIND_PLAIN;
	if (argc == 6 && !strcmp(argv[1], "--raw")) {
		long n = atol(argv[2]), d = atol(argv[3]);
		FILE *fd = fopen(argv[4], "rb"), *fl = fopen(argv[5], "rb");
		if (!fd || !fl || n <= 0 || d <= 0)
			fail("bad --raw arguments");
		h.levels = 1;
		h.dim[0] = (uint32_t)d;
		h.count = (uint64_t)n;
		h.kind = AVE_KIND_BASELINE;
		if (ave_write_header(stdout, "stdout", &h, &err))
			fail(err.msg);
		float *v = malloc((size_t)d * sizeof *v);
		for (long i = 0; i < n; i++) {
			int32_t lab;
			if (fread(v, sizeof *v, (size_t)d, fd) != (size_t)d || fread(&lab, 4, 1, fl) != 1)
				fail("short raw input");
			if (ave_write_record(stdout, "stdout", &h, i, lab, v, &err))
				fail(err.msg);
		}
		free(v);
		return fflush(stdout) ? 1 : 0;
	}
	int stream = argc == 2 && !strcmp(argv[1], "--stream");
	if (argc > 1 && !stream)
		fail("usage: mkave [--stream] < TEXT | mkave --raw N D DATA LABELS");
	unsigned levels;
	if (scanf("%u", &levels) != 1 || levels < 1 || levels > AVE_MAX_LEVELS)
		fail("bad header line");
	h.levels = levels;
	for (unsigned l = 0; l < levels; l++)
		if (scanf("%u", &h.dim[l]) != 1)
			fail("bad dims");
	if (scanf("%d", &h.has_cert) != 1)
		fail("bad has_cert");
	size_t nf = (size_t)ave_record_floats(&h), cap = 16, n = 0;
	float *vals = malloc(cap * nf * sizeof *vals);
	long long *ids = malloc(cap * sizeof *ids);
	int *labels = malloc(cap * sizeof *labels);
	long long id;
	int label;
	while (scanf("%lld %d", &id, &label) == 2) {
		if (n == cap) {
			cap *= 2;
			vals = realloc(vals, cap * nf * sizeof *vals);
			ids = realloc(ids, cap * sizeof *ids);
			labels = realloc(labels, cap * sizeof *labels);
		}
		for (size_t j = 0; j < nf; j++)
			if (scanf("%f", &vals[n * nf + j]) != 1)
				fail("short record");
		ids[n] = id;
		labels[n++] = label;
	}
	h.count = stream ? AVE_COUNT_UNKNOWN : n;
	if (ave_write_header(stdout, "stdout", &h, &err))
		fail(err.msg);
	for (size_t i = 0; i < n; i++)
		if (ave_write_record(stdout, "stdout", &h, ids[i], labels[i], vals + i * nf, &err))
			fail(err.msg);
	free(vals), free(ids), free(labels);
	return fflush(stdout) ? 1 : 0;
}
