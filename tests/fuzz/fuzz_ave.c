/* libFuzzer harness for the embeddings stream reader (.ave, formats/emb.c). The input is the stream, read twice
 * through fmemopen (no seeking, like a pipe): once whole (ave_load, what avsl-graph does) and once record by record
 * (ave_read_header/ave_read_record, what avsl-eval and avsl-explain do). Every value handed back is touched so a
 * sanitizer build sees a read outside what the reader allocated. Build and run: `make fuzz` (tests/fuzz/README.md).
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"
#include "emb.h"

static volatile float sink;

static void load_whole(const uint8_t *data, size_t size)
{
	FILE *fp = fmemopen((void *)data, size, "rb");
	if (!fp)
		return;
	fmt_error err;
	ave_set s;
	if (ave_load(fp, "fuzz.ave", &s, &err) == 0) {
		float acc = 0;
		for (uint64_t i = 0; i < s.n; i++) {
			acc += (float)s.id[i] + (float)s.label[i];
			for (uint32_t l = 0; l < s.h.levels; l++) {
				acc += s.emb[l][i * s.h.dim[l] + s.h.dim[l] - 1];
				if (s.cert[l])
					acc += s.cert[l][i * s.h.dim[l]];
			}
		}
		sink = acc;
		ave_free(&s);
	}
	fclose(fp);
}

static void read_records(const uint8_t *data, size_t size)
{
	FILE *fp = fmemopen((void *)data, size, "rb");
	if (!fp)
		return;
	fmt_error err;
	ave_header h;
	if (ave_read_header(fp, "fuzz.ave", &h, &err) == 0 && ave_record_floats(&h) <= (1u << 20)) {
		uint64_t nf = ave_record_floats(&h);
		float *vals = malloc(nf * sizeof *vals);
		int64_t id;
		int32_t label;
		for (uint64_t i = 0; vals && ave_read_record(fp, "fuzz.ave", &h, i, &id, &label, vals, &err) == 1; i++)
			sink = vals[nf - 1] + (float)label;
		free(vals);
	}
	fclose(fp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0; /* fmemopen refuses a zero-size buffer */
	load_whole(data, size);
	read_records(data, size);
	return 0;
}
