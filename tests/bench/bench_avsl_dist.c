/* bench_avsl_dist: pairs/s of avsl_dist_tile (D=512, 3 levels, top-k 128, p=2) on an N x N symmetric tile
 * (X == Y, as avsl-graph does on the diagonal) and on a rectangular R x C tile (no symmetry), and the FMA peak of
 * the same thread count measured in the same run (a register-resident FMA loop, before and after the kernel; the
 * higher is kept). Useful work per pair = 2 flops per nonzero of every S_hat (the sparse products; the gates and
 * differences, ~5% more, are not counted), so "% of peak" is a lower bound of the FMA units' occupancy.
 * Usage: bench_avsl_dist [N [threads [R]]]. Prints machine-readable lines "ours_sym PAIRS_PER_S" etc.
 */
#include "ops.h"
#include "rng.h"
#include "test_ctx.h"
#include "util.h"

#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <time.h>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

/* CPU seconds of this process (all threads): with other jobs sharing the cores, wall time alone misleads. */
static double cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* FMA peak in flops per wall second and per CPU second: every thread runs 12 independent chains of 8-wide FMAs held
 * in registers (more chains than FMA latency x FMA ports on current x86 cores), no memory traffic. */
static void fma_peak(int threads, double *wall, double *cpu)
{
	const long iters = 20000000;
	double t0 = avsl_now(), c0 = cpu_now();
	float sink = 0.0f;
#pragma omp parallel num_threads(threads) reduction(+ : sink)
	{
#if defined(__AVX2__) && defined(__FMA__)
		enum { K = 12 };
		__m256 acc[K], m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(1e-7f);
		for (int k = 0; k < K; k++)
			acc[k] = _mm256_set1_ps((float)k);
		for (long i = 0; i < iters; i++) {
#pragma GCC unroll 12
			for (int k = 0; k < K; k++)
				acc[k] = _mm256_fmadd_ps(acc[k], m, a);
			__asm__ volatile("" : "+x"(m)); /* keep m opaque: no hoisting or folding across iterations */
		}
		float f[8];
		for (int k = 1; k < K; k++)
			acc[0] = _mm256_add_ps(acc[0], acc[k]);
		_mm256_storeu_ps(f, acc[0]);
		sink += f[0];
#else
		float acc[8] = {0};
		for (long i = 0; i < iters; i++)
			for (int k = 0; k < 8; k++)
				acc[k] = fmaf(acc[k], 0.999999f, 1e-7f);
		for (int k = 0; k < 8; k++)
			sink += acc[k];
#endif
	}
#if defined(__AVX2__) && defined(__FMA__)
	double flops = (double)threads * iters * 12 * 8 * 2;
#else
	double flops = (double)threads * iters * 8 * 2;
#endif
	double dt = avsl_now() - t0, dc = cpu_now() - c0;
	if (sink == 12345.0f) /* never true; keeps the loop's result alive */
		fputs("", stderr);
	*wall = flops / dt;
	*cpu = flops / dc;
}

int main(int argc, char **argv)
{
	int N = argc > 1 ? atoi(argv[1]) : 1200;
	int threads = argc > 2 ? atoi(argv[2]) : 2;
	int R = argc > 3 ? atoi(argv[3]) : 64;
	enum { L = 3, D = 512, K = 128 };
	rng g;
	rng_init(&g, 1234, 0);
	float *links = malloc(sizeof(float) * 2 * D * D), *shat = malloc(sizeof(float) * 2 * D * D);
	float *ab = malloc(sizeof(float) * 2 * L * D);
	for (size_t i = 0; i < 2 * (size_t)D * D; i++)
		links[i] = (float)rng_normal(&g) * 0.2f;
	for (int i = 0; i < 2 * L * D; i++)
		ab[i] = i < L * D ? 1.0f + 0.1f * (float)rng_normal(&g) : 0.1f * (float)rng_normal(&g);
	avsl_collector_view c = {.levels = L, .dim = D, .gamma_p = 10.0f, .p = 2.0f};
	for (int l = 0; l < L; l++) {
		c.alpha[l] = ab + l * D;
		c.beta[l] = ab + (L + l) * D;
		if (l < 2) {
			op_avsl_link_prepare(test_ctx(1), links + (size_t)l * D * D, D, K, shat + (size_t)l * D * D);
			c.s_hat[l] = shat + (size_t)l * D * D;
		}
	}
	float *e[L], *u[L];
	for (int l = 0; l < L; l++) {
		e[l] = malloc(sizeof(float) * (size_t)N * D);
		u[l] = malloc(sizeof(float) * (size_t)N * D);
		for (size_t i = 0; i < (size_t)N * D; i++) {
			e[l][i] = (float)rng_normal(&g);
			u[l][i] = 0.05f * rng_uniform(&g);
		}
		op_avsl_normalize_rows(test_ctx(1), e[l], N, D, 2.0f);
	}
	double nnz = 0; /* nonzeros of both S_hat: 2 flops each per pair */
	for (size_t i = 0; i < 2 * (size_t)D * D; i++)
		nnz += shat[i] != 0.0f;
	float *out = malloc(sizeof(float) * (size_t)N * N);
	op_ctx *ctx = test_ctx(threads); /* made before any timing */
	if (argc > 4) { /* "rect": only the rectangular tile (for profiling) */
		op_avsl_dist_tile(ctx, &c, R, (const float *const *)e, (const float *const *)u, N,
				  (const float *const *)e,
				  (const float *const *)u, out, N);
		return 0;
	}
	double pw0, pc0;
	fma_peak(threads, &pw0, &pc0);
	double t0 = avsl_now(), c0 = cpu_now();
	op_avsl_dist_tile(ctx, &c, N, (const float *const *)e, (const float *const *)u, N, (const float *const *)e,
			  (const float *const *)u, out, N);
	double ts = avsl_now() - t0, cs = cpu_now() - c0;
	/* pairs of the full N x N matrix delivered per second (symmetry used internally); then per CPU-second */
	printf("ours_sym %d %.6f %.0f %.0f\n", N, ts, (double)N * N / ts, (double)N * N / cs);
	if (R > N)
		R = N;
	t0 = avsl_now();
	c0 = cpu_now();
	op_avsl_dist_tile(ctx, &c, R, (const float *const *)e, (const float *const *)u, N, (const float *const *)e + 0,
			  (const float *const *)u, out, N);
	/* first R rows vs all: not detected as symmetric since R != N */
	double tr = avsl_now() - t0, cr = cpu_now() - c0;
	printf("ours_rect %d %.6f %.0f %.0f\n", R * N, tr, (double)R * N / tr, (double)R * N / cr);
	double pw1, pc1;
	fma_peak(threads, &pw1, &pc1);
	/* peak flops per wall and per CPU second (the higher of the two measurements), useful flops per pair */
	printf("peak %.0f %.0f %.0f\n", pw0 > pw1 ? pw0 : pw1, pc0 > pc1 ? pc0 : pc1, 2 * nnz);
	/* checksum against the naive reference on a few rows */
	float *ref = malloc(sizeof(float) * 2 * N);
	avsl_dist_tile_naive(&c, 2, (const float *const *)e, (const float *const *)u, N, (const float *const *)e,
			     (const float *const *)u, ref, N);
	double md = 0;
	for (int i = 0; i < 2 * N; i++) {
		double d = fabs(ref[i] - out[i]) / (1e-6 + fabs(ref[i]));
		md = d > md ? d : md;
	}
	printf("maxrel_vs_naive %.3g\n", md);
	return 0;
}
