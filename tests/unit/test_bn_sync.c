/* test_bn_sync.c: synchronised batch norm (bn_sync.h, avsl-train --sync-bn) with R participants simulated by R
 * threads, each holding a slice of one batch and its own op context, the "all-reduce" a barrier that sums the
 * participants' buffers in rank order. R slices together must give what one batch norm over the whole batch gives
 * (op_bn_train_fwd / op_bn_bwd, themselves tested against naive loops in test_ops and test_backend_ops): outputs,
 * batch mean/invstd, running statistics, input gradient, residual gradient, and dgamma/dbeta once the slices' partial
 * sums are added (the trainer's gradient all-reduce). Both activation layouts, even and uneven slices.
 *
 * Tolerances: the same sums in another order (slice sums, then across slices; Chan's combination of the variance):
 * float rounding of O(1) values over <= 100 terms, ~1e-6; we allow 2e-5 absolute + 1e-5 relative on the forward and
 * on the statistics, 1e-4 + 1e-4 on gradients (two sums deep). A missing sum over the slices is off by O(0.1). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "bn_sync.h"
#include "harness.h"
#include "ops.h"
#include "rng.h"

enum { MAXR = 3, N = 6, C = 11, HW = 9 }; /* C not a multiple of 8: the blocked layout has padding lanes */

typedef struct {
	pthread_barrier_t bar;
	double *slot[MAXR];
	int R, isolated; /* isolated: no summing (each slice alone, as without --sync-bn) */
} group;

typedef struct {
	group *g;
	int rank, n0, n;          /* this slice: images [n0, n0 + n) */
	int fmt;
	const float *x, *res, *dy; /* (N,C,HW) whole batch in fmt; the slice is contiguous in both layouts */
	const float *gamma, *beta;
	float rm[C], rv[C], mean[C], invstd[C], scale[C], shift[C], dgamma[C], dbeta[C]; /* (C) */
	float *y, *dx, *dres;     /* (N,C,HW) whole-batch buffers; this thread writes its slice */
	int rc;
	char err[256];
} part;

static size_t per_image(int fmt) { return op_act_numel(1, C, HW, fmt); }

static void barrier_sum(double *buf, size_t n, void *arg)
{
	part *p = arg;
	group *g = p->g;
	if (g->isolated)
		return;
	double *tmp = malloc(n * sizeof *tmp);
	g->slot[p->rank] = buf;
	pthread_barrier_wait(&g->bar);
	for (size_t i = 0; i < n; i++) {
		tmp[i] = 0;
		for (int r = 0; r < g->R; r++)
			tmp[i] += g->slot[r][i];
	}
	pthread_barrier_wait(&g->bar); /* everyone has read every slot */
	memcpy(buf, tmp, n * sizeof *buf);
	free(tmp);
}

static void *run_part(void *arg)
{
	part *p = arg;
	op_ctx ctx;
	if (op_ctx_init(&ctx, OP_DEVICE_CPU, 1)) {
		p->rc = -1;
		snprintf(p->err, sizeof p->err, "%s", ctx.err);
		return NULL;
	}
	bn_sync sy = {barrier_sum, p};
	bn_shape s = {p->n, C, HW, p->fmt};
	size_t o = (size_t)p->n0 * per_image(p->fmt);
	p->rc = bn_sync_train_fwd(&ctx, &sy, &s, p->x + o, p->gamma, p->beta, 1e-5f, 0.1f, p->rm, p->rv, p->mean,
				  p->invstd, p->scale, p->shift, p->res + o, p->y + o, OP_RELU);
	if (!p->rc)
		p->rc = bn_sync_bwd(&ctx, &sy, &s, p->x + o, p->dy + o, p->y + o, p->gamma, p->mean, p->invstd, p->dx + o,
				    p->dres + o, p->dgamma, p->dbeta);
	if (p->rc)
		snprintf(p->err, sizeof p->err, "%s", ctx.err);
	op_ctx_free(&ctx);
	return NULL;
}

static float *rnd(rng *r, size_t n, float offset)
{
	float *a = malloc(n * sizeof *a);
	for (size_t i = 0; i < n; i++)
		a[i] = offset + (float)rng_normal(r);
	return a;
}

static int close_enough(const float *a, const float *b, size_t n, double atol, double rtol, char *why,
			const char *what)
{
	for (size_t i = 0; i < n; i++)
		if (!(fabs((double)a[i] - b[i]) <= atol + rtol * fabs((double)b[i]))) {
			snprintf(why, 200, "%s[%zu] = %.9g, one batch %.9g", what, i, (double)a[i], (double)b[i]);
			return 0;
		}
	return 1;
}

/* R slices of sizes `sizes` in layout fmt against one batch norm over all N images. Returns 1 if every output
 * matches, else 0 with why. isolated: no summing between the slices (the test must then see a difference). */
static int slices_match_one_batch(int fmt, int R, const int *sizes, int isolated, char *why)
{
	rng r;
	rng_init(&r, 11, (uint64_t)(fmt * 10 + R));
	op_ctx ctx;
	if (op_ctx_init(&ctx, OP_DEVICE_CPU, 1)) {
		snprintf(why, 200, "%.150s", ctx.err);
		return 0;
	}
	const size_t np = (size_t)N * C * HW, nb = op_act_numel(N, C, HW, fmt);
	/* whole-batch inputs, plain then in fmt (the blocked padding lanes zero) */
	float *xp = rnd(&r, np, 2), *resp = rnd(&r, np, 0), *dyp = rnd(&r, np, 0);
	float *x = calloc(nb, sizeof *x), *res = calloc(nb, sizeof *res), *dy = calloc(nb, sizeof *dy);
	op_layout_convert(&ctx, N, C, HW, xp, OP_NCHW, x, fmt, 0);
	op_layout_convert(&ctx, N, C, HW, resp, OP_NCHW, res, fmt, 0);
	op_layout_convert(&ctx, N, C, HW, dyp, OP_NCHW, dy, fmt, 0);
	float *gamma = rnd(&r, C, 1), *beta = rnd(&r, C, 0), *rm0 = rnd(&r, C, 0), *rv0 = rnd(&r, C, 0);
	for (int c = 0; c < C; c++)
		rv0[c] = 0.5f + rv0[c] * rv0[c];
	/* one batch */
	float rm[C], rv[C], mean[C], invstd[C], sc[C], sh[C], dg[C] = {0}, db[C] = {0};
	memcpy(rm, rm0, sizeof rm), memcpy(rv, rv0, sizeof rv);
	float *y = calloc(nb, sizeof *y), *dx = calloc(nb, sizeof *dx), *dres = calloc(nb, sizeof *dres);
	bn_shape s = {N, C, HW, fmt};
	int ok = op_bn_train_fwd(&ctx, &s, x, gamma, beta, 1e-5f, 0.1f, rm, rv, mean, invstd, sc, sh, res, y, OP_RELU) ==
			 0 &&
		 op_bn_bwd(&ctx, &s, x, dy, y, gamma, mean, invstd, 1, dx, dres, dg, db) == 0;
	if (!ok)
		snprintf(why, 200, "one batch: %.150s", ctx.err);
	/* R slices */
	group g = {.R = R, .isolated = isolated};
	pthread_barrier_init(&g.bar, NULL, (unsigned)R);
	part parts[MAXR];
	pthread_t th[MAXR];
	float *ys = calloc(nb, sizeof *ys), *dxs = calloc(nb, sizeof *dxs), *dress = calloc(nb, sizeof *dress);
	for (int k = 0, n0 = 0; k < R; n0 += sizes[k], k++) {
		part *p = &parts[k];
		memset(p, 0, sizeof *p);
		*p = (part){.g = &g, .rank = k, .n0 = n0, .n = sizes[k], .fmt = fmt, .x = x, .res = res, .dy = dy,
			    .gamma = gamma, .beta = beta, .y = ys, .dx = dxs, .dres = dress};
		memcpy(p->rm, rm0, sizeof p->rm), memcpy(p->rv, rv0, sizeof p->rv);
		pthread_create(&th[k], NULL, run_part, p);
	}
	for (int k = 0; k < R; k++)
		pthread_join(th[k], NULL);
	pthread_barrier_destroy(&g.bar);
	float dgs[C] = {0}, dbs[C] = {0};
	for (int k = 0; ok && k < R; k++) {
		part *p = &parts[k];
		if (p->rc) {
			snprintf(why, 200, "slice %d: %.150s", k, p->err);
			ok = 0;
			break;
		}
		ok = close_enough(p->mean, mean, C, 2e-5, 1e-5, why, "mean") &&
		     close_enough(p->invstd, invstd, C, 2e-5, 1e-5, why, "invstd") &&
		     close_enough(p->rm, rm, C, 2e-5, 1e-5, why, "running_mean") &&
		     close_enough(p->rv, rv, C, 2e-5, 1e-5, why, "running_var");
		for (int c = 0; c < C; c++)
			dgs[c] += p->dgamma[c], dbs[c] += p->dbeta[c];
	}
	ok = ok && close_enough(ys, y, nb, 2e-5, 1e-5, why, "y") && close_enough(dress, dres, nb, 0, 0, why, "dres") &&
	     close_enough(dxs, dx, nb, 1e-4, 1e-4, why, "dx") && close_enough(dgs, dg, C, 1e-4, 1e-4, why, "dgamma") &&
	     close_enough(dbs, db, C, 1e-4, 1e-4, why, "dbeta");
	op_ctx_free(&ctx);
	free(xp), free(resp), free(dyp), free(x), free(res), free(dy), free(gamma), free(beta), free(rm0), free(rv0);
	free(y), free(dx), free(dres), free(ys), free(dxs), free(dress);
	return ok;
}

static const int one[1] = {N}, even[2] = {3, 3}, uneven[3] = {1, 2, 3};

TEST(bn_sync_one_participant_is_one_batch_norm)
{
	char why[256] = "";
	CHECKF(slices_match_one_batch(OP_NCHW, 1, one, 0, why), "plain: %s", why);
	CHECKF(slices_match_one_batch(OP_NCHW8C, 1, one, 0, why), "blocked: %s", why);
}

TEST(bn_sync_two_slices_equal_one_batch)
{
	char why[256] = "";
	CHECKF(slices_match_one_batch(OP_NCHW, 2, even, 0, why), "plain: %s", why);
	CHECKF(slices_match_one_batch(OP_NCHW8C, 2, even, 0, why), "blocked: %s", why);
}

TEST(bn_sync_three_uneven_slices_equal_one_batch)
{
	char why[256] = "";
	CHECKF(slices_match_one_batch(OP_NCHW, 3, uneven, 0, why), "plain: %s", why);
	CHECKF(slices_match_one_batch(OP_NCHW8C, 3, uneven, 0, why), "blocked: %s", why);
}

/* the same comparison without summing (each slice's own statistics, as without --sync-bn) must fail */
TEST(bn_sync_unsummed_slices_differ)
{
	char why[256] = "";
	CHECK(!slices_match_one_batch(OP_NCHW, 2, even, 1, why));
	CHECK(!slices_match_one_batch(OP_NCHW8C, 3, uneven, 1, why));
}

TEST(bn_sync_slice_stats_naive)
{
	/* op_bn_stats / op_bn_bwd_data in the blocked layout against the naive references (plain: test_backend_ops) */
	rng r;
	rng_init(&r, 5, 0);
	op_ctx ctx;
	CHECK(op_ctx_init(&ctx, OP_DEVICE_CPU, 2) == 0);
	const size_t np = (size_t)N * C * HW, nb = op_act_numel(N, C, HW, OP_NCHW8C);
	float *x = rnd(&r, np, 3), *dy = rnd(&r, np, 0), *ry = rnd(&r, np, 0), *ga = rnd(&r, C, 1);
	float *sg = rnd(&r, C, 0), *sgx = rnd(&r, C, 0), *is = rnd(&r, C, 0);
	for (int c = 0; c < C; c++)
		is[c] = 0.5f + fabsf(is[c]);
	float *xb = calloc(nb, sizeof *xb), *dyb = calloc(nb, sizeof *dyb), *ryb = calloc(nb, sizeof *ryb);
	float *dxb = calloc(nb, sizeof *dxb), *dx1 = malloc(np * sizeof *dx1), *dx0 = malloc(np * sizeof *dx0);
	op_layout_convert(&ctx, N, C, HW, x, OP_NCHW, xb, OP_NCHW8C, 0);
	op_layout_convert(&ctx, N, C, HW, dy, OP_NCHW, dyb, OP_NCHW8C, 0);
	op_layout_convert(&ctx, N, C, HW, ry, OP_NCHW, ryb, OP_NCHW8C, 0);
	bn_shape s = {N, C, HW, OP_NCHW8C};
	float m0[C], q0[C], m1[C], q1[C];
	bn_stats_naive(&s, x, m0, q0);
	CHECK(op_bn_stats(&ctx, &s, xb, m1, q1) == 0);
	char why[256] = "";
	CHECKF(close_enough(m1, m0, C, 1e-5, 1e-5, why, "mean") && close_enough(q1, q0, C, 1e-4, 1e-5, why, "m2"),
	       "%s", why);
	bn_bwd_data_naive(&s, x, dy, ry, ga, m0, is, sg, sgx, 2.0 * N * HW, dx0);
	CHECK(op_bn_bwd_data(&ctx, &s, xb, dyb, ryb, ga, m0, is, sg, sgx, 2.0 * N * HW, dxb) == 0);
	op_layout_convert(&ctx, N, C, HW, dxb, OP_NCHW8C, dx1, OP_NCHW, 0);
	CHECKF(close_enough(dx1, dx0, np, 1e-5, 1e-5, why, "dx"), "%s", why);
	op_ctx_free(&ctx);
	free(x), free(dy), free(ry), free(ga), free(sg), free(sgx), free(is), free(xb), free(dyb), free(ryb);
	free(dxb), free(dx1), free(dx0);
}

int main(void)
{
	RUN(bn_sync_one_participant_is_one_batch_norm);
	RUN(bn_sync_two_slices_equal_one_batch);
	RUN(bn_sync_three_uneven_slices_equal_one_batch);
	RUN(bn_sync_unsummed_slices_differ);
	RUN(bn_sync_slice_stats_naive);
	return harness_finish();
}
