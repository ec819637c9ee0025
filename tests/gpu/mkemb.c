/* mkemb: synthetic AVSL embeddings for tests/gpu/run.sh's graph rows, through formats/emb.h.
 *
 *   mkemb N LEVELS DIM CLASSES SEED > OUT.ave
 *
 * N records (id i, label i % CLASSES), LEVELS levels of DIM floats with certainties: each class has a random centre
 * per level, each record that centre plus noise of the same size; certainties uniform in [0, 1). Only the shapes
 * matter to the timings (the graph's work does not depend on the values); the clusters keep the top-k lists
 * realistic. Built with plain cc against build/libavsl.a (formats/ only). */
#include "emb.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static uint64_t state;

static double unif(void)
{
	state = state * 6364136223846793005ull + 1442695040888963407ull;
	return ((double)(state >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static float normal(void)
{
	return (float)(sqrt(-2.0 * log(unif())) * cos(6.283185307179586 * unif()));
}

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: mkemb N LEVELS DIM CLASSES SEED > OUT.ave\n");
		return 2;
	}
	long n = atol(argv[1]), levels = atol(argv[2]), dim = atol(argv[3]), classes = atol(argv[4]);
	state = (uint64_t)atoll(argv[5]) * 2654435761u + 1;
	if (n < 1 || levels < 1 || levels > AVE_MAX_LEVELS || dim < 1 || classes < 1) {
		fprintf(stderr, "mkemb: bad arguments\n");
		return 2;
	}
	ave_header h = {.kind = AVE_KIND_PLAIN, .levels = (uint32_t)levels, .has_cert = 1, .count = (uint64_t)n};
	for (long l = 0; l < levels; l++)
		h.dim[l] = (uint32_t)dim;
	size_t ld = (size_t)levels * dim;
	float *centre = malloc((size_t)classes * ld * sizeof *centre), *rec = malloc(2 * ld * sizeof *rec);
	if (!centre || !rec) {
		fprintf(stderr, "mkemb: out of memory\n");
		return 1;
	}
	for (size_t i = 0; i < (size_t)classes * ld; i++)
		centre[i] = normal();
	fmt_error err;
	if (ave_write_header(stdout, "stdout", &h, &err)) {
		fprintf(stderr, "mkemb: %s\n", err.msg);
		return 1;
	}
	for (long i = 0; i < n; i++) {
		const float *c = centre + (size_t)(i % classes) * ld;
		for (size_t j = 0; j < ld; j++) {
			rec[j] = c[j] + normal();
			rec[ld + j] = (float)unif();
		}
		if (ave_write_record(stdout, "stdout", &h, i, (int32_t)(i % classes), rec, &err)) {
			fprintf(stderr, "mkemb: %s\n", err.msg);
			return 1;
		}
	}
	free(centre);
	free(rec);
	return fflush(stdout) ? 1 : 0;
}
