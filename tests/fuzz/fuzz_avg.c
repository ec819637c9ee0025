/* libFuzzer harness for the neighbour graph reader (.avg, formats/graph.c): the input is the stream, read through
 * fmemopen (no seeking, like a pipe) header first, then query by query as avsl-eval and avsl-explain read it.
 * Build and run: `make fuzz` (tests/fuzz/README.md).
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"
#include "graph.h"

static volatile float sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0; /* fmemopen refuses a zero-size buffer */
	FILE *fp = fmemopen((void *)data, size, "rb");
	if (!fp)
		return 0;
	fmt_error err;
	avg_header h;
	/* the reader trusts the caller's nb to hold h.k entries: a real k of 2^24 is a 256 MB buffer, so keep it small */
	if (avg_read_header(fp, "fuzz.avg", &h, &err) == 0 && h.k <= 4096) {
		avg_query q;
		avg_neighbour *nb = malloc(h.k * sizeof *nb);
		for (uint64_t i = 0; nb && avg_read_query(fp, "fuzz.avg", &h, i, &q, nb, &err) == 1; i++) {
			float acc = (float)q.label + (float)q.n_relevant;
			for (uint32_t j = 0; j < q.count; j++)
				acc += nb[j].dist + (float)nb[j].label;
			sink = acc;
		}
		free(nb);
	}
	fclose(fp);
	return 0;
}
