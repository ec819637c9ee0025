/* test_ctx.h: CPU op contexts for the tests and benchmarks that call ops (kernels/ops.h) directly: one context per
 * thread count, made on first use and kept until exit. Plus the two losses as plain functions returning the loss. */
#ifndef AVSL_TEST_CTX_H
#define AVSL_TEST_CTX_H

#include <stdio.h>
#include <stdlib.h>

#include "ops.h"

enum { TEST_CTX_MAX_THREADS = 64 };

/* The CPU context with `threads` threads (<= 0: 1). Exits with the reason if it cannot be made. */
static inline op_ctx *test_ctx(int threads)
{
	static op_ctx ctx[TEST_CTX_MAX_THREADS + 1];
	static int made[TEST_CTX_MAX_THREADS + 1];
	if (threads < 1)
		threads = 1;
	if (threads > TEST_CTX_MAX_THREADS)
		threads = TEST_CTX_MAX_THREADS;
	if (!made[threads]) {
		if (op_ctx_init(&ctx[threads], OP_DEVICE_CPU, threads)) {
			fprintf(stderr, "test_ctx: %s\n", ctx[threads].err);
			exit(1);
		}
		made[threads] = 1;
	}
	return &ctx[threads];
}

/* op_pa_dist_loss / op_pa_cos_loss on test_ctx(1), returning the loss (exits on failure). */
static inline float pa_dist_loss_of(const float *d, int R, int C, const int32_t *ylab, const int32_t *zlab, float mpos,
				    float mneg, float a, float *grad)
{
	float loss;
	if (op_pa_dist_loss(test_ctx(1), d, R, C, ylab, zlab, mpos, mneg, a, grad, &loss)) {
		fprintf(stderr, "op_pa_dist_loss: %s\n", test_ctx(1)->err);
		exit(1);
	}
	return loss;
}

static inline float pa_cos_loss_of(const float *s, int R, int C, const int32_t *ylab, const int32_t *zlab, float delta,
				   float a, float *grad)
{
	float loss;
	if (op_pa_cos_loss(test_ctx(1), s, R, C, ylab, zlab, delta, a, grad, &loss)) {
		fprintf(stderr, "op_pa_cos_loss: %s\n", test_ctx(1)->err);
		exit(1);
	}
	return loss;
}

#endif
