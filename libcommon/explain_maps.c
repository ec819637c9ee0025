/* explain_maps.c: every attribution map and control map of a pair, in one fixed order (see explain.h). */
#include "explain.h"
#include "rng.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

void explain_map_set_init(explain_map_set *ms, int L)
{
	memset(ms, 0, sizeof *ms);
	int n = 0;
	snprintf(ms->name[n++], sizeof ms->name[0], "avsl");
	snprintf(ms->name[n++], sizeof ms->name[0], "cam-last");
	snprintf(ms->name[n++], sizeof ms->name[0], "grad");
	for (int l = 0; l < L; l++)
		snprintf(ms->name[n++], sizeof ms->name[0], "avsl-l%d", l);
	ms->methods = n;
	snprintf(ms->name[n++], sizeof ms->name[0], "random-pixel");
	for (int l = 0; l < L; l++)
		snprintf(ms->name[n++], sizeof ms->name[0], "random-l%d", l);
	ms->tie = n - 1;
	snprintf(ms->name[n++], sizeof ms->name[0], "random-patch");
	ms->n = n;
}

void explain_cell_bounds(int S, int n, int i, int *start, int *end)
{
	*start = (int)((int64_t)i * S / n);
	*end = (int)((int64_t)(i + 1) * S / n);
}

void explain_map_random(int S, int h, int w, uint64_t seed, int purpose, float *map)
{
	rng r;
	rng_init(&r, seed, rng_stream_id(0x657870, 0x72616e64, (uint64_t)purpose));
	float *m = xmalloc_array((size_t)h * w, sizeof(float)); /* (h, w) */
	for (int j = 0; j < h * w; j++)
		m[j] = rng_uniform(&r);
	explain_upsample(m, h, w, map, S, S);
	free(m);
}

void explain_map_random_cells(int S, int h, int w, uint64_t seed, float *map)
{
	rng r;
	rng_init(&r, seed, rng_stream_id(0x657870, 0x63656c6c, 0));
	for (int i = 0; i < h; i++) {
		int y0, y1;
		explain_cell_bounds(S, h, i, &y0, &y1);
		for (int k = 0; k < w; k++) {
			int x0, x1;
			explain_cell_bounds(S, w, k, &x0, &x1);
			float v = rng_uniform(&r);
			for (int y = y0; y < y1; y++)
				for (int x = x0; x < x1; x++)
					map[y * S + x] = v;
		}
	}
}

void explain_maps_all(const explain_model *em, const explain_feats *fa, const explain_feats *fb,
		      const explain_decomp *d, int attr_k, uint64_t seed, float *maps)
{
	const int L = em->L, S = em->S;
	const size_t P = (size_t)S * S;
	float *e = xmalloc_array((size_t)L * em->D, sizeof(float)); /* (L, D) */
	explain_evidence(d, fa, fb, e);
	int k = 0;
	explain_map_avsl(em, fa, e, attr_k, maps + k++ * P);
	explain_map_cam(em, fa, maps + k++ * P);
	explain_map_grad(em, fa, fb, d, -1, maps + k++ * P);
	for (int l = 0; l < L; l++)
		explain_map_avsl_level(em, fa, e, attr_k, l, maps + k++ * P);
	explain_map_random(S, S, S, seed, 0, maps + k++ * P);
	for (int l = 0; l < L; l++)
		explain_map_random(S, fa->H[l], fa->W[l], seed, 1 + l, maps + k++ * P);
	explain_map_random_cells(S, fa->H[L - 1], fa->W[L - 1], seed, maps + k++ * P);
	free(e);
}
