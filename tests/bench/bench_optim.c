/* bench_optim: seconds per AdamW step (adamw_step) over a ResNet-50-sized parameter set (161 tensors, 25.6M floats)
 * in three groups. Usage: bench_optim [threads [steps]]. Prints "ours SECONDS_PER_STEP FLOATS". */
#include "optim.h"
#include "params.h"
#include "rng.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	int threads = argc > 1 ? atoi(argv[1]) : 2;
	int steps = argc > 2 ? atoi(argv[2]) : 5;
	paramset ps;
	paramset_init(&ps);
	/* 158 trunk tensors of ResNet-50 shapes are approximated by 53 convs of 480k floats and 105 vectors of 1k;
	 * embedder 3 convs; collector 3 proxy tables of 100 x 512 */
	char name[64];
	for (int i = 0; i < 53; i++) {
		int64_t s[4] = {480, 1000, 1, 1};
		snprintf(name, sizeof name, "trunk.conv%d", i);
		paramset_add(&ps, name, 4, s, PG_TRUNK, 1);
	}
	for (int i = 0; i < 105; i++) {
		int64_t s[1] = {1024};
		snprintf(name, sizeof name, "trunk.bn%d", i);
		paramset_add(&ps, name, 1, s, PG_TRUNK, 1);
	}
	int64_t we[2][2] = {{512, 1024}, {512, 2048}};
	paramset_add(&ps, "embedder.0", 2, (int64_t[]){512, 512}, PG_EMBEDDER, 1);
	paramset_add(&ps, "embedder.1", 2, we[0], PG_EMBEDDER, 1);
	paramset_add(&ps, "embedder.2", 2, we[1], PG_EMBEDDER, 1);
	for (int i = 0; i < 3; i++) {
		snprintf(name, sizeof name, "collector.proxies.%d", i);
		paramset_add(&ps, name, 2, (int64_t[]){100, 512}, PG_COLLECTOR, 1);
	}
	paramset_finalize(&ps);
	rng r;
	rng_init(&r, 1, 0);
	for (size_t i = 0; i < ps.total; i++) {
		ps.data[i] = (float)rng_normal(&r);
		ps.grad[i] = 0.01f * (float)rng_normal(&r);
	}
	adamw o;
	adamw_init(&o, &ps);
	o.threads = threads;
	for (int g = PG_TRUNK; g < PG_COUNT; g++)
		o.group[g].lr = 1e-4, o.group[g].wd = 1e-4;
	adamw_step(&o); /* warm the pages */
	double best = 1e30;
	for (int s = 0; s < steps; s++) {
		double t0 = avsl_now();
		adamw_step(&o);
		double t = avsl_now() - t0;
		best = t < best ? t : best;
	}
	printf("ours %.6f %zu\n", best, paramset_trainable_count(&ps));
	adamw_free(&o);
	paramset_free(&ps);
	return 0;
}
