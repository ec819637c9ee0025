/* libFuzzer harness for the .ave and .avg stream readers: the first input byte picks the reader, the rest is the
 * stream (read through fmemopen, like a pipe: no seeking).
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iformats tests/fuzz/fuzz_streams.c formats/emb.c \
 *         formats/graph.c -lm -o /tmp/fuzz_streams
 *   /tmp/fuzz_streams -max_total_time=60
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "emb.h"
#include "graph.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	FILE *fp = fmemopen((void *)(data + 1), size - 1, "rb");
	if (!fp)
		return 0;
	fmt_error err;
	if (data[0] & 1) {
		ave_set s;
		if (ave_load(fp, "fuzz", &s, &err) == 0)
			ave_free(&s);
	} else {
		avg_header h;
		if (avg_read_header(fp, "fuzz", &h, &err) == 0 && h.k <= 4096) {
			avg_query q;
			avg_neighbour *nb = malloc(h.k * sizeof *nb);
			for (uint64_t i = 0; nb && avg_read_query(fp, "fuzz", &h, i, &q, nb, &err) == 1; i++)
				;
			free(nb);
		}
	}
	fclose(fp);
	return 0;
}
