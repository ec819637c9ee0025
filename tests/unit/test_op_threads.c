/* Unit tests for op_ctx_set_threads (kernels/ops.h): after a change of the thread count the CPU ops run on the new
 * count -- the oneDNN convolutions included, whose primitives fix their thread split when created -- and still
 * compute the same thing (against the naive loops; the convolutions to the bit). The probe is CPU-time accounting, not speed: the time of the
 * calling thread (CLOCK_THREAD_CPUTIME_ID) against the whole process's (CLOCK_PROCESS_CPUTIME_ID). */
#include "harness.h"
#include "ops.h"

#include <time.h>

static double clock_s(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float *filled(size_t n, unsigned seed)
{
	float *p = malloc(n * sizeof *p);
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (float)((seed >> 9) & 0xffff) / 32768.0f - 1.0f;
	}
	return p;
}

typedef struct {
	conv_shape s;
	float *x, *w, *y, *dx, *dw;
} conv_case;

/* forward, backward-data and backward-weight, `reps` times; returns -1 on an op failure */
static int run_convs(op_ctx *ctx, conv_case *c, int reps)
{
	for (int r = 0; r < reps; r++)
		if (op_conv2d_fwd(ctx, &c->s, c->x, c->w, NULL, c->y, 0) ||
		    op_conv2d_bwd_data(ctx, &c->s, c->y, c->w, c->dx, 0) ||
		    op_conv2d_bwd_weight(ctx, &c->s, c->x, c->y, c->dw, 0))
			return -1;
	return 0;
}

/* CPU seconds spent by threads other than the caller while running the convolutions */
static double others_cpu(op_ctx *ctx, conv_case *c, int reps, double *mine)
{
	double p0 = clock_s(CLOCK_PROCESS_CPUTIME_ID), t0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
	if (run_convs(ctx, c, reps))
		return -1;
	double t1 = clock_s(CLOCK_THREAD_CPUTIME_ID), p1 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
	*mine = t1 - t0;
	return (p1 - p0) - (t1 - t0);
}

/* Wait until the other threads are idle: OpenMP's idle threads may spin a while after a parallel region (the
 * default wait policy), later still on a loaded machine where they wait for a core. Up to 5 s. */
static void settle(void)
{
	struct timespec ts = {0, 50 * 1000 * 1000};
	for (int i = 0; i < 100; i++) {
		double a = clock_s(CLOCK_PROCESS_CPUTIME_ID) - clock_s(CLOCK_THREAD_CPUTIME_ID);
		nanosleep(&ts, NULL);
		if (clock_s(CLOCK_PROCESS_CPUTIME_ID) - clock_s(CLOCK_THREAD_CPUTIME_ID) - a < 1e-4)
			return;
	}
}

TEST(conv_follows_the_thread_count)
{
	op_ctx ctx;
	CHECK(op_ctx_init(&ctx, OP_DEVICE_CPU, 2) == 0);
	/* 3 images: under 4 one oneDNN primitive covers the batch, split over the threads when it is created (from 4
	 * the pieces of conv2d.c go to the threads dynamically: how many the second thread gets is timing, not a
	 * probe; conv_pieces_same_for_every_thread_count checks those) */
	conv_case c = {.s = conv_shape_make(3, 32, 40, 40, 32, 3, 3, 1, 1)};
	size_t nx = (size_t)3 * 32 * 40 * 40, nw = (size_t)32 * 32 * 9;
	c.x = filled(nx, 1), c.w = filled(nw, 2), c.y = malloc(nx * sizeof(float));
	c.dx = malloc(nx * sizeof(float)), c.dw = malloc(nw * sizeof(float));
	float *ref = malloc(nx * sizeof(float));
	double mine, others;

	CHECK(run_convs(&ctx, &c, 1) == 0); /* the 2-thread primitives */
	others = others_cpu(&ctx, &c, 3, &mine);
	CHECKF(others > 0.2 * (mine + others), "2 threads: other threads %.4f s of %.4f s", others, mine + others);

	op_ctx_set_threads(&ctx, 1);
	CHECK(ctx.threads == 1);
	settle();
	others = others_cpu(&ctx, &c, 3, &mine);
	CHECKF(others >= 0 && others < 0.02 * mine + 2e-3, "1 thread: other threads %.4f s beside %.4f s", others,
	       mine);
	conv2d_fwd_naive(&c.s, c.x, c.w, NULL, ref, 0);
	CHECK(harness_max_violation(c.y, ref, nx, 1e-4, 1e-4, NULL) <= 1);

	op_ctx_set_threads(&ctx, 0); /* < 1 means 1 */
	CHECK(ctx.threads == 1);
	op_ctx_set_threads(&ctx, 2); /* and back: the 2-thread primitives again */
	others = others_cpu(&ctx, &c, 3, &mine);
	CHECKF(others > 0.2 * (mine + others), "2 threads again: other threads %.4f s of %.4f s", others,
	       mine + others);
	CHECK(harness_max_violation(c.y, ref, nx, 1e-4, 1e-4, NULL) <= 1);
	op_ctx_free(&ctx);
	free(c.x), free(c.w), free(c.y), free(c.dx), free(c.dw), free(ref);
}

/* From 4 images the CPU convolutions cut the batch into pieces that depend on N only (kernels/cpu/conv2d.c) and add
 * the backward-weight partial sums in piece order: 1, 2 and 3 threads give the same bits, and the naive loops'
 * values. N 13: 7 pieces of 2 and a last of 1; OP_ACCUM on every output. */
TEST(conv_pieces_same_for_every_thread_count)
{
	conv_shape s = conv_shape_make(13, 8, 10, 10, 8, 3, 3, 1, 1);
	const size_t nx = (size_t)13 * 8 * 100, nw = (size_t)8 * 8 * 9;
	float *x = filled(nx, 3), *w = filled(nw, 4), *bias = filled(8, 5), *dy = filled(nx, 6);
	float *out[3][3], *ref[3] = {filled(nx, 7), filled(nx, 8), filled(nw, 9)};
	for (int t = 0; t < 3; t++) {
		op_ctx ctx;
		CHECK(op_ctx_init(&ctx, OP_DEVICE_CPU, t + 1) == 0);
		out[t][0] = filled(nx, 7), out[t][1] = filled(nx, 8), out[t][2] = filled(nw, 9);
		CHECK(op_conv2d_fwd(&ctx, &s, x, w, bias, out[t][0], OP_ACCUM) == 0);
		CHECK(op_conv2d_bwd_data(&ctx, &s, dy, w, out[t][1], OP_ACCUM) == 0);
		CHECK(op_conv2d_bwd_weight(&ctx, &s, x, dy, out[t][2], OP_ACCUM) == 0);
		op_ctx_free(&ctx);
	}
	conv2d_fwd_naive(&s, x, w, bias, ref[0], OP_ACCUM);
	conv2d_bwd_data_naive(&s, dy, w, ref[1], OP_ACCUM);
	conv2d_bwd_weight_naive(&s, x, dy, ref[2], OP_ACCUM);
	const size_t n[3] = {nx, nx, nw};
	for (int k = 0; k < 3; k++) {
		CHECKF(harness_max_violation(out[0][k], ref[k], n[k], 1e-3, 1e-4, NULL) <= 1, "output %d vs naive", k);
		for (int t = 1; t < 3; t++)
			CHECKF(!memcmp(out[t][k], out[0][k], n[k] * sizeof(float)), "output %d: %d threads differ from 1", k,
			       t + 1);
	}
	for (int t = 0; t < 3; t++)
		for (int k = 0; k < 3; k++)
			free(out[t][k]);
	for (int k = 0; k < 3; k++)
		free(ref[k]);
	free(x), free(w), free(bias), free(dy);
}

/* The blocked batch-norm backward also cuts the batch into pieces by N only (kernels/cpu/bnorm_blocked.c): 1, 2 and
 * 3 threads give the same dx, dres, dgamma, dbeta bits (N 13 over 8 pieces, 12 channels: a padded second block) */
TEST(bn_bwd_pieces_same_for_every_thread_count)
{
	const bn_shape s = {13, 12, 9, OP_NCHW8C};
	const size_t n = op_act_numel(13, 12, 9, OP_NCHW8C);
	float *x = filled(n, 11), *dy = filled(n, 12), *ry = filled(n, 13), *ga = filled(12, 14), *mu = filled(12, 15);
	float *is = filled(12, 16);
	for (size_t i = 0; i < 12; i++)
		is[i] = 1.5f + is[i];
	for (size_t i = 0; i < n; i++) /* padding lanes (channels 12..15) are zero in a blocked tensor */
		if ((i / (9 * 8)) % 2 && i % 8 >= 4)
			x[i] = dy[i] = ry[i] = 0;
	float *out[3][4];
	for (int t = 0; t < 3; t++) {
		op_ctx ctx;
		CHECK(op_ctx_init(&ctx, OP_DEVICE_CPU, t + 1) == 0);
		out[t][0] = calloc(n, sizeof(float)), out[t][1] = calloc(n, sizeof(float));
		out[t][2] = calloc(12, sizeof(float)), out[t][3] = calloc(12, sizeof(float));
		CHECK(op_bn_bwd(&ctx, &s, x, dy, ry, ga, mu, is, 1, out[t][0], out[t][1], out[t][2], out[t][3]) == 0);
		op_ctx_free(&ctx);
	}
	const size_t len[4] = {n, n, 12, 12};
	for (int k = 0; k < 4; k++)
		for (int t = 1; t < 3; t++)
			CHECKF(!memcmp(out[t][k], out[0][k], len[k] * sizeof(float)), "output %d: %d threads differ from 1", k,
			       t + 1);
	for (int t = 0; t < 3; t++)
		for (int k = 0; k < 4; k++)
			free(out[t][k]);
	free(x), free(dy), free(ry), free(ga), free(mu), free(is);
}

int main(void)
{
	RUN(conv_follows_the_thread_count);
	RUN(conv_pieces_same_for_every_thread_count);
	RUN(bn_bwd_pieces_same_for_every_thread_count);
	return harness_finish();
}
