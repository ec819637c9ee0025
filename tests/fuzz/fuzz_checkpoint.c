/* libFuzzer harness for the checkpoint metadata readers on top of safetensors: the format version check, the
 * training configuration (avsl.config, JSON, train_config_from_json: what checkpoint_config_from reads for every
 * tool), the integer metadata and the AVSL collector that avsl-graph loads (checkpoint_collector_config of that
 * configuration, then the link and probability tensors, avsl_collector_load). checkpoint_config_from's agreement
 * checks between avsl.config and the summary keys die on a contradiction, so they cannot run in-process here; the
 * bad-input CLI tests cover them. Build and run: `make fuzz` (tests/fuzz/README.md).
 */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz.h"
#include "avsl_head.h"
#include "checkpoint.h"
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
	int64_t v;
	if (st_meta_int(&f, "avsl.num_classes", 1, 1 << 24, &v, &err) == 0)
		sink = (double)v;
	double d;
	if (st_meta_double(&f, "avsl.avsl_m", -1e30, 1e30, &d, &err) == 0)
		sink = d;
	const char *json = st_meta(&f, "avsl.config");
	train_config c;
	char why[256];
	/* from_json starts with train_config_init: c needs no initialisation, only freeing */
	if (json && train_config_from_json(&c, json, why, sizeof why) == 0) {
		sink = train_config_check(&c, why, sizeof why) + (double)c.seed;
		/* the collector allocates about 3 D^2 floats before it looks at the tensors: keep D where one input
		 * cannot take gigabytes (the readers' own range checks come first, as in checkpoint_config_from) */
		if (c.setting == SETTING_AVSL && c.embeddings_dim >= 1 && c.embeddings_dim <= 2048) {
			avsl_head_config a;
			avsl_collector_eval col;
			checkpoint_collector_config(&c, &a);
			if (avsl_collector_load(&f, &a, &col, &err) == 0) {
				const avsl_collector_view *cv = &col.view;
				double acc = 0;
				for (int l = 0; l < cv->levels; l++)
					acc += cv->alpha[l][cv->dim - 1] + cv->beta[l][0];
				for (int l = 0; l + 1 < cv->levels; l++)
					acc += cv->s_hat[l][(size_t)cv->dim * cv->dim - 1];
				sink = acc;
				avsl_collector_free(&col);
			}
		}
	}
	if (json)
		train_config_free(&c);
	st_close(&f);
	return 0;
}
