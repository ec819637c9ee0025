/* libFuzzer harness for the safetensors reader (and, through it, formats/json.c). Build and run: `make fuzz`
 * (tests/fuzz/README.md); `make check` replays tests/fuzz/corpus/safetensors/.
 *
 * Every accepted file is also read back in full (st_read_f32 of every tensor), which must stay inside the input.
 */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz.h"
#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	st_file f;
	fmt_error err;
	if (st_open_memory(&f, data, size, "fuzz", &err) < 0)
		return 0;
	for (int i = 0; i < f.n; i++) {
		const st_tensor *t = &f.t[i];
		if (t->numel > (1u << 20))
			continue;
		float *out = malloc((t->numel ? t->numel : 1) * sizeof *out);
		if (out)
			st_read_f32(&f, t, out, t->numel, &err);
		free(out);
		(void)st_find(&f, t->name);
	}
	for (int i = 0; i < f.n_meta; i++)
		(void)st_meta(&f, f.meta_key[i]);
	st_close(&f);
	return 0;
}
