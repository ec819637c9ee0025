/* libFuzzer harness for the checkpoint metadata readers on top of safetensors: the format version check, the
 * training configuration (avsl.config, JSON, read by avsl-embed, avsl-explain and --resume), the integer metadata
 * and the AVSL collector (avsl-graph: levels, embeddings_dim, topk_corr, ... plus the link and probability tensors).
 * Only the readers that report errors (rather than die) can be fuzzed in-process; checkpoint_read_config is
 * train_config_from_json behind st_open. Build and run: `make fuzz` (tests/fuzz/README.md).
 */
#include <stdint.h>
#include <stdlib.h>

#include "avsl_head.h"
#include "safetensors.h"
#include "train_config.h"

static volatile double sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	st_file f;
	fmt_error err;
	if (st_open_memory(&f, data, size, "fuzz.safetensors", &err) < 0)
		return 0;
	sink = st_check_avsl_version(&f, &err);
	const char *json = st_meta(&f, "avsl.config");
	if (json) {
		train_config c;
		char why[256];
		/* from_json starts with train_config_init: c needs no initialisation, only freeing */
		if (train_config_from_json(&c, json, why, sizeof why) == 0)
			sink = train_config_check(&c, why, sizeof why) + (double)c.seed;
		train_config_free(&c);
	}
	int64_t v;
	if (st_meta_int(&f, "avsl.num_classes", 1, 1 << 24, &v, &err) == 0)
		sink = (double)v;
	double d;
	if (st_meta_double(&f, "avsl.avsl_m", -1e30, 1e30, &d, &err) == 0)
		sink = d;
	/* the collector allocates (L-1)*D*D + 2*L*D + D*D floats from the metadata before it finds the tensors
	 * missing: keep D where one input cannot take gigabytes */
	if (st_meta_int(&f, "avsl.embeddings_dim", 1, 2048, &v, &err) == 0) {
		avsl_collector_eval col;
		if (avsl_collector_load(&f, &col, &err) == 0) {
			const avsl_collector_view *cv = &col.view;
			double acc = 0;
			for (int l = 0; l < cv->levels; l++)
				acc += cv->alpha[l][cv->dim - 1] + cv->beta[l][0];
			sink = acc;
			avsl_collector_free(&col);
		}
	}
	st_close(&f);
	return 0;
}
