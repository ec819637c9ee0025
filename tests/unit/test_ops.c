/* test_ops.c: every op's fast path (op_*, CPU backend) against its naive reference on random inputs, and every
 * backward against central finite differences of the forward.
 *
 * Tolerances (why):
 *   fast vs naive: the naive references accumulate in double; the fast paths accumulate in float in a different
 *   order (oneDNN blocking, OpenBLAS, SIMD reductions). With inputs in [-1, 1] and <= ~600 terms per output the
 *   float error stays below ~1e-5 absolute; we allow atol 2e-4, rtol 1e-4.
 *   finite differences: central differences (step 1e-2) of a float forward, the loss summed in double. Linear
 *   ops (conv, pooling, linear) have no truncation error, only float rounding of the outputs, ~1e-7*|y|*n/step;
 *   for the nonlinear ones (BN) the O(step^2) truncation adds ~1e-4. We allow atol 3e-3, rtol 3e-2: a
 *   missing or wrong term of the backward is off by O(0.1..1).
 * Outputs carry guard floats after their end to catch overruns (ggml's test-backend-ops does the same).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ops.h"
#include "rng.h"

static op_ctx CTX;
static rng RNG;

enum { GUARD = 16 };
static const float GUARD_VAL = 12345.678f;

static float *buf(size_t n)
{
	float *p = malloc((n + GUARD) * sizeof *p);
	for (size_t i = 0; i < n; i++)
		p[i] = 2 * rng_uniform(&RNG) - 1;
	for (int i = 0; i < GUARD; i++)
		p[n + i] = GUARD_VAL;
	return p;
}
static float *copy(const float *a, size_t n)
{
	float *p = buf(n);
	memcpy(p, a, n * sizeof *p);
	return p;
}
static int guard_ok(const float *p, size_t n)
{
	for (int i = 0; i < GUARD; i++)
		if (p[n + i] != GUARD_VAL)
			return 0;
	return 1;
}
static double dot(const float *a, const float *b, size_t n)
{
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += (double)a[i] * b[i];
	return s;
}

#define FAST_ATOL 2e-4
#define FAST_RTOL 1e-4
#define FD_ATOL 3e-3
#define FD_RTOL 3e-2
#define FD_STEP 1e-2f
#define FD_SAMPLES 12

/* ---- convolution ---------------------------------------------------------------------------------------------- */
static const int conv_cases[][9] = {
	/* N  C   H   W   K  R  S  stride pad */
	{2, 3, 9, 11, 5, 3, 3, 1, 1},  {1, 4, 13, 13, 8, 7, 7, 2, 3}, {2, 8, 7, 7, 16, 1, 1, 2, 0},
	{3, 16, 6, 6, 8, 3, 3, 2, 1},  {1, 6, 5, 5, 4, 1, 1, 1, 0},   {2, 32, 10, 10, 64, 1, 1, 1, 0},
	{1, 3, 15, 17, 16, 7, 7, 2, 3}, {2, 24, 9, 9, 24, 3, 3, 1, 1},
	/* from 4 images the CPU backend cuts the batch into pieces (conv2d.c): 7 of 2 images and a last of 1; 5 of 2
	 * and a last of 1 (stride 2); 4 of 1 */
	{13, 5, 7, 7, 6, 3, 3, 1, 1},  {9, 8, 6, 6, 8, 3, 3, 2, 1},   {4, 3, 5, 5, 4, 1, 1, 1, 0},
};
#define CONV_PIECES 8 /* the first case cut into pieces */

static void conv_case(int ci, int flags, int with_bias, char *why, size_t whylen, int *ok)
{
	const int *c = conv_cases[ci];
	conv_shape s = conv_shape_make(c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8]);
	size_t nx = (size_t)s.N * s.C * s.H * s.W, nw = (size_t)s.K * s.C * s.R * s.S, ny = (size_t)s.N * s.K * s.P * s.Q;
	float *x = buf(nx), *w = buf(nw), *b = buf(s.K), *y0 = buf(ny), *y1 = copy(y0, ny), *y2 = copy(y0, ny);
	float *dy = buf(ny), *dx0 = buf(nx), *dx1 = copy(dx0, nx), *dw0 = buf(nw), *dw1 = copy(dw0, nw);
	*ok = 0;
	if (op_conv2d_fwd(&CTX, &s, x, w, with_bias ? b : NULL, y1, flags)) {
		snprintf(why, whylen, "fwd: %s", CTX.err);
		goto out;
	}
	conv2d_fwd_naive(&s, x, w, with_bias ? b : NULL, y0, flags);
	size_t worst;
	double v = harness_max_violation(y1, y0, ny, FAST_ATOL, FAST_RTOL, &worst);
	if (v > 1 || !guard_ok(y1, ny)) {
		snprintf(why, whylen, "case %d fwd flags %d: element %zu %g vs %g", ci, flags, worst, y1[worst], y0[worst]);
		goto out;
	}
	/* second call hits the cached primitive */
	memcpy(y2, y0, 0);
	int bflags = flags & OP_ACCUM;
	if (op_conv2d_bwd_data(&CTX, &s, dy, w, dx1, bflags) || op_conv2d_bwd_weight(&CTX, &s, x, dy, dw1, bflags)) {
		snprintf(why, whylen, "bwd: %s", CTX.err);
		goto out;
	}
	conv2d_bwd_data_naive(&s, dy, w, dx0, bflags);
	conv2d_bwd_weight_naive(&s, x, dy, dw0, bflags);
	v = harness_max_violation(dx1, dx0, nx, FAST_ATOL, FAST_RTOL, &worst);
	if (v > 1 || !guard_ok(dx1, nx)) {
		snprintf(why, whylen, "case %d bwd_data: element %zu %g vs %g", ci, worst, dx1[worst], dx0[worst]);
		goto out;
	}
	/* dw sums N*P*Q terms */
	v = harness_max_violation(dw1, dw0, nw, 1e-3, FAST_RTOL, &worst);
	if (v > 1 || !guard_ok(dw1, nw)) {
		snprintf(why, whylen, "case %d bwd_weight: element %zu %g vs %g", ci, worst, dw1[worst], dw0[worst]);
		goto out;
	}
	*ok = 1;
out:
	free(x), free(w), free(b), free(y0), free(y1), free(y2), free(dy), free(dx0), free(dx1), free(dw0), free(dw1);
}

TEST(conv2d_fast_vs_naive)
{
	char why[300];
	int ok;
	for (int ci = 0; ci < (int)(sizeof conv_cases / sizeof conv_cases[0]); ci++) {
		conv_case(ci, 0, 0, why, sizeof why, &ok);
		CHECKF(ok, "%s", why);
	}
}

TEST(conv2d_fused_bias_relu_accum)
{
	char why[300];
	int ok;
	for (int ci = 0; ci < (int)(sizeof conv_cases / sizeof conv_cases[0]); ci += ci == 3 ? CONV_PIECES - 3 : 1) {
		conv_case(ci, OP_RELU, 1, why, sizeof why, &ok);
		CHECKF(ok, "%s", why);
		conv_case(ci, OP_ACCUM, 0, why, sizeof why, &ok);
		CHECKF(ok, "%s", why);
		conv_case(ci, OP_ACCUM | OP_RELU, 1, why, sizeof why, &ok);
		CHECKF(ok, "%s", why);
	}
}

/* Central differences of L = sum(g * f(...)) with respect to element i of `p`; f writes `out` (n_out floats). */
typedef void (*fwd_fn)(void *st, float *out);
static double fd(fwd_fn f, void *st, float *p, size_t i, float *out, const float *g, size_t n_out)
{
	float save = p[i];
	p[i] = save + FD_STEP;
	f(st, out);
	double lp = dot(out, g, n_out);
	p[i] = save - FD_STEP;
	f(st, out);
	double lm = dot(out, g, n_out);
	p[i] = save;
	return (lp - lm) / (2.0 * FD_STEP);
}

/* Compare analytic gradient `grad` of parameter p (np floats) with finite differences at FD_SAMPLES points. */
static int fd_check(fwd_fn f, void *st, float *p, size_t np, const float *grad, float *out, const float *g,
		    size_t n_out, char *why, size_t whylen)
{
	for (int k = 0; k < FD_SAMPLES; k++) {
		size_t i = rng_below(&RNG, (uint32_t)np);
		double num = fd(f, st, p, i, out, g, n_out);
		if (!(fabs(num - grad[i]) <= FD_ATOL + FD_RTOL * fabs(num))) {
			snprintf(why, whylen, "element %zu: analytic %.6g, finite differences %.6g", i, grad[i], num);
			return 0;
		}
	}
	return 1;
}

typedef struct {
	conv_shape s;
	float *x, *w;
} conv_st;
static void conv_f(void *v, float *out)
{
	conv_st *c = v;
	op_conv2d_fwd(&CTX, &c->s, c->x, c->w, NULL, out, 0);
}

TEST(conv2d_grad_finite_differences)
{
	char why[300];
	for (int ci = 0; ci <= CONV_PIECES; ci += ci == 3 ? CONV_PIECES - 3 : 1) {
		const int *c = conv_cases[ci];
		conv_st st = {conv_shape_make(c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8]), NULL, NULL};
		conv_shape *s = &st.s;
		size_t nx = (size_t)s->N * s->C * s->H * s->W, nw = (size_t)s->K * s->C * s->R * s->S;
		size_t ny = (size_t)s->N * s->K * s->P * s->Q;
		st.x = buf(nx), st.w = buf(nw);
		float *g = buf(ny), *y = buf(ny), *dx = buf(nx), *dw = buf(nw);
		CHECK(op_conv2d_bwd_data(&CTX, s, g, st.w, dx, 0) == 0);
		CHECK(op_conv2d_bwd_weight(&CTX, s, st.x, g, dw, 0) == 0);
		int ok = fd_check(conv_f, &st, st.x, nx, dx, y, g, ny, why, sizeof why) &&
			 fd_check(conv_f, &st, st.w, nw, dw, y, g, ny, why, sizeof why);
		free(st.x), free(st.w), free(g), free(y), free(dx), free(dw);
		CHECKF(ok, "case %d: %s", ci, why);
	}
}

/* ---- batch norm ------------------------------------------------------------------------------------------------- */
static const int bn_cases[][3] = {{2, 3, 25}, {1, 5, 49}, {4, 16, 7}, {3, 8, 1 * 1 + 3}};

TEST(bn_fast_vs_naive)
{
	for (int ci = 0; ci < 4; ci++) {
		bn_shape s = {bn_cases[ci][0], bn_cases[ci][1], bn_cases[ci][2]};
		size_t n = (size_t)s.N * s.C * s.HW;
		float *x = buf(n), *res = buf(n), *ga = buf(s.C), *be = buf(s.C), *y0 = buf(n), *y1 = buf(n);
		float *rm0 = buf(s.C), *rv0 = buf(s.C), *m0 = buf(s.C), *is0 = buf(s.C);
		float *m1 = buf(s.C), *is1 = buf(s.C), *sc = buf(s.C), *sh = buf(s.C);
		for (size_t i = 0; i < n; i++)
			x[i] = 3 * x[i] + 0.5f; /* non-zero mean */
		for (int c = 0; c < s.C; c++)
			rv0[c] = 1 + rv0[c] * rv0[c];
		float *rm1 = copy(rm0, s.C), *rv1 = copy(rv0, s.C);
		for (int fl = 0; fl < 4; fl++) {
			const float *r = (fl & 1) ? res : NULL;
			int flags = (fl & 2) ? OP_RELU : 0;
			bn_train_fwd_naive(&s, x, ga, be, 1e-5f, 0.1f, rm0, rv0, m0, is0, r, y0, flags);
			CHECK(op_bn_train_fwd(&CTX, &s, x, ga, be, 1e-5f, 0.1f, rm1, rv1, m1, is1, sc, sh, r, y1, flags) == 0);
			CHECK_ALLCLOSE(y1, y0, n, FAST_ATOL, FAST_RTOL);
			CHECK(guard_ok(y1, n));
			CHECK_ALLCLOSE(m1, m0, s.C, 1e-6, 1e-5);
			CHECK_ALLCLOSE(is1, is0, s.C, 1e-6, 1e-5);
			CHECK_ALLCLOSE(rm1, rm0, s.C, 1e-6, 1e-5);
			CHECK_ALLCLOSE(rv1, rv0, s.C, 1e-6, 1e-5);
			/* frozen: affine from running stats */
			CHECK(op_bn_fold(&CTX, s.C, ga, be, rm0, rv0, 1e-5f, sc, sh, NULL) == 0);
			affine_act_fwd_naive(&s, x, sc, sh, r, y0, flags);
			CHECK(op_affine_act_fwd(&CTX, &s, x, sc, sh, r, y1, flags) == 0);
			CHECK_ALLCLOSE(y1, y0, n, FAST_ATOL, FAST_RTOL);
		}
		/* backward, both modes, with and without the ReLU mask and residual output */
		float *dy = buf(n), *dx0 = buf(n), *dx1 = buf(n), *dr0 = buf(n), *dr1 = buf(n);
		float *dg0 = buf(s.C), *db0 = buf(s.C);
		float *dg1 = copy(dg0, s.C), *db1 = copy(db0, s.C);
		for (int mode = 0; mode < 4; mode++) {
			int bs = mode & 1;
			const float *ry = (mode & 2) ? y0 : NULL;
			bn_bwd_naive(&s, x, dy, ry, ga, m0, is0, bs, dx0, dr0, dg0, db0);
			CHECK(op_bn_bwd(&CTX, &s, x, dy, ry, ga, m0, is0, bs, dx1, dr1, dg1, db1) == 0);
			CHECK_ALLCLOSE(dx1, dx0, n, FAST_ATOL, FAST_RTOL);
			CHECK(!memcmp(dr1, dr0, n * sizeof *dr1)); /* a copy of the masked dy: exact */
			CHECK_ALLCLOSE(dg1, dg0, s.C, FAST_ATOL, FAST_RTOL);
			CHECK_ALLCLOSE(db1, db0, s.C, FAST_ATOL, FAST_RTOL);
			CHECK(guard_ok(dx1, n) && guard_ok(dg1, s.C));
		}
		free(x), free(res), free(ga), free(be), free(y0), free(y1), free(rm0), free(rv0), free(m0), free(is0);
		free(m1), free(is1), free(sc), free(sh), free(rm1), free(rv1), free(dy), free(dx0), free(dx1);
		free(dr0), free(dr1), free(dg0), free(db0), free(dg1), free(db1);
	}
}

typedef struct {
	bn_shape s;
	float *x, *ga, *be, *res, *rm, *rv;
	float m[64], is[64], sc[64], sh[64];
	int train, flags;
} bn_st;
static void bn_f(void *v, float *out)
{
	bn_st *b = v;
	if (b->train) {
		op_bn_train_fwd(&CTX, &b->s, b->x, b->ga, b->be, 1e-5f, 0.1f, NULL, NULL, b->m, b->is, b->sc, b->sh,
				b->res, out, b->flags);
	} else {
		op_bn_fold(&CTX, b->s.C, b->ga, b->be, b->rm, b->rv, 1e-5f, b->sc, b->sh, b->is);
		op_affine_act_fwd(&CTX, &b->s, b->x, b->sc, b->sh, b->res, out, b->flags);
	}
}

TEST(bn_grad_finite_differences)
{
	char why[300];
	for (int ci = 0; ci < 3; ci++)
		for (int train = 0; train < 2; train++) {
			bn_st b = {.s = {bn_cases[ci][0], bn_cases[ci][1], bn_cases[ci][2]}, .train = train};
			/* no ReLU here: its kink makes central differences of gamma/beta unreliable; the masked path is
			 * covered against the naive reference in bn_fast_vs_naive */
			size_t n = (size_t)b.s.N * b.s.C * b.s.HW;
			b.x = buf(n), b.ga = buf(b.s.C), b.be = buf(b.s.C), b.res = buf(n);
			b.rm = buf(b.s.C), b.rv = buf(b.s.C);
			for (int c = 0; c < b.s.C; c++)
				b.rv[c] = 0.5f + b.rv[c] * b.rv[c];
			float *y = buf(n), *g = buf(n), *dx = buf(n), *dr = buf(n), *out = buf(n);
			float dg[64] = {0}, db[64] = {0};
			bn_f(&b, y);
			const float *mean = train ? b.m : b.rm;
			CHECK(op_bn_bwd(&CTX, &b.s, b.x, g, NULL, b.ga, mean, b.is, train, dx, dr, dg, db) == 0);
			int ok = fd_check(bn_f, &b, b.x, n, dx, out, g, n, why, sizeof why) &&
				 fd_check(bn_f, &b, b.res, n, dr, out, g, n, why, sizeof why) &&
				 fd_check(bn_f, &b, b.ga, b.s.C, dg, out, g, n, why, sizeof why) &&
				 fd_check(bn_f, &b, b.be, b.s.C, db, out, g, n, why, sizeof why);
			free(b.x), free(b.ga), free(b.be), free(b.res), free(b.rm), free(b.rv);
			free(y), free(g), free(dx), free(dr), free(out);
			CHECKF(ok, "case %d train %d: %s", ci, train, why);
		}
}

/* conv(x, w * scale) + shift (relu) equals relu(bn_frozen(conv(x, w))) */
TEST(conv_fold_weights_equals_conv_then_bn)
{
	conv_shape s = conv_shape_make(2, 5, 7, 7, 6, 3, 3, 1, 1);
	size_t nx = (size_t)s.N * s.C * s.H * s.W, nw = (size_t)s.K * s.C * 9, ny = (size_t)s.N * s.K * s.P * s.Q;
	float *x = buf(nx), *w = buf(nw), *wf = buf(nw), *wf0 = buf(nw), *sc = buf(s.K), *sh = buf(s.K);
	float *y0 = buf(ny), *y1 = buf(ny);
	CHECK(op_conv_fold_weights(&CTX, s.K, (size_t)s.C * 9, w, sc, wf) == 0);
	conv_fold_weights_naive(s.K, (size_t)s.C * 9, w, sc, wf0);
	CHECK(!memcmp(wf, wf0, nw * sizeof *wf) && guard_ok(wf, nw));
	CHECK(op_conv2d_fwd(&CTX, &s, x, wf, sh, y1, OP_RELU) == 0);
	conv2d_fwd_naive(&s, x, w, NULL, y0, 0);
	bn_shape b = {s.N, s.K, s.P * s.Q, OP_NCHW};
	affine_act_fwd_naive(&b, y0, sc, sh, NULL, y0, OP_RELU);
	CHECK_ALLCLOSE(y1, y0, ny, FAST_ATOL, FAST_RTOL);
	free(x), free(w), free(wf), free(wf0), free(sc), free(sh), free(y0), free(y1);
}

TEST(relu_add_fast_vs_naive)
{
	size_t n = 1037;
	float *a = buf(n), *b = buf(n), *y = buf(n), *dx = buf(n), *dy = buf(n);
	CHECK(op_relu_fwd(&CTX, n, a, y) == 0);
	for (size_t i = 0; i < n; i++)
		CHECK(y[i] == (a[i] > 0 ? a[i] : 0));
	CHECK(op_relu_bwd(&CTX, n, y, dy, dx, 0) == 0);
	for (size_t i = 0; i < n; i++)
		CHECK(dx[i] == (y[i] > 0 ? dy[i] : 0));
	CHECK(op_add(&CTX, n, a, b, y, OP_RELU) == 0);
	for (size_t i = 0; i < n; i++)
		CHECK(y[i] == (a[i] + b[i] > 0 ? a[i] + b[i] : 0));
	CHECK(guard_ok(y, n) && guard_ok(dx, n));
	free(a), free(b), free(y), free(dx), free(dy);
}

/* ---- pooling ------------------------------------------------------------------------------------------------ */
static const int pool_cases[][4] = {{2, 3, 9, 11}, {1, 4, 8, 8}, {3, 2, 7, 5}, {1, 1, 3, 3}};

typedef struct {
	pool_shape s;
	float *x;
	int32_t *idx;
	int kind; /* 0 maxpool, 1 gavg, 2 gmax, 3 adaptive avg */
} pool_st;
static void pool_f(void *v, float *out)
{
	pool_st *p = v;
	const pool_shape *s = &p->s;
	switch (p->kind) {
	case 0: op_maxpool_fwd(&CTX, s, p->x, out, p->idx); break;
	case 1: op_gavgpool_fwd(&CTX, s->N, s->C, s->H * s->W, p->x, out); break;
	case 2: op_gmaxpool_fwd(&CTX, s->N, s->C, s->H * s->W, p->x, out, p->idx); break;
	default: op_adavgpool_fwd(&CTX, s, p->x, out); break;
	}
}
static void pool_naive(pool_st *p, float *out, int32_t *idx)
{
	const pool_shape *s = &p->s;
	switch (p->kind) {
	case 0: maxpool_fwd_naive(s, p->x, out, idx); break;
	case 1: gavgpool_fwd_naive(s->N, s->C, s->H * s->W, p->x, out); break;
	case 2: gmaxpool_fwd_naive(s->N, s->C, s->H * s->W, p->x, out, idx); break;
	default: adavgpool_fwd_naive(s, p->x, out); break;
	}
}
static int pool_bwd(pool_st *p, const float *dy, float *dx, int flags, int naive)
{
	const pool_shape *s = &p->s;
	int HW = s->H * s->W;
	if (naive) {
		switch (p->kind) {
		case 0: maxpool_bwd_naive(s, dy, p->idx, dx, flags); break;
		case 1: gavgpool_bwd_naive(s->N, s->C, HW, dy, dx, flags); break;
		case 2: gmaxpool_bwd_naive(s->N, s->C, HW, dy, p->idx, dx, flags); break;
		default: adavgpool_bwd_naive(s, dy, dx, flags); break;
		}
		return 0;
	}
	switch (p->kind) {
	case 0: return op_maxpool_bwd(&CTX, s, dy, p->idx, dx, flags);
	case 1: return op_gavgpool_bwd(&CTX, s->N, s->C, HW, dy, dx, flags);
	case 2: return op_gmaxpool_bwd(&CTX, s->N, s->C, HW, dy, p->idx, dx, flags);
	default: return op_adavgpool_bwd(&CTX, s, dy, dx, flags);
	}
}

TEST(pool_fast_vs_naive_and_finite_differences)
{
	char why[300];
	for (int kind = 0; kind < 4; kind++)
		for (int ci = 0; ci < 4; ci++) {
			const int *c = pool_cases[ci];
			pool_st p = {.kind = kind};
			if (kind == 0)
				p.s = pool_shape_make(c[0], c[1], c[2], c[3], 3, 3, 2, 1);
			else if (kind == 3)
				p.s = (pool_shape){c[0], c[1], c[2], c[3], 0, 0, 0, 0, (c[2] + 1) / 2 + 1, c[3] / 3 + 1};
			else
				p.s = (pool_shape){c[0], c[1], c[2], c[3], 0, 0, 0, 0, 1, 1};
			size_t nx = (size_t)p.s.N * p.s.C * p.s.H * p.s.W, ny = (size_t)p.s.N * p.s.C * p.s.P * p.s.Q;
			p.x = buf(nx);
			p.idx = malloc(ny * sizeof *p.idx);
			int32_t *idx0 = malloc(ny * sizeof *idx0);
			float *y0 = buf(ny), *y1 = buf(ny), *dy = buf(ny), *dx0 = buf(nx), *dx1 = copy(dx0, nx);
			pool_naive(&p, y0, idx0);
			pool_f(&p, y1);
			CHECKF(harness_max_violation(y1, y0, ny, FAST_ATOL, FAST_RTOL, NULL) <= 1 && guard_ok(y1, ny),
			       "kind %d case %d forward", kind, ci);
			if (kind == 0 || kind == 2)
				CHECKF(!memcmp(idx0, p.idx, ny * sizeof *idx0), "kind %d case %d argmax", kind, ci);
			for (int flags = 0; flags <= OP_ACCUM; flags += OP_ACCUM) {
				CHECK(pool_bwd(&p, dy, dx1, flags, 0) == 0);
				pool_bwd(&p, dy, dx0, flags, 1);
				CHECKF(harness_max_violation(dx1, dx0, nx, FAST_ATOL, FAST_RTOL, NULL) <= 1 &&
					       guard_ok(dx1, nx),
				       "kind %d case %d backward flags %d", kind, ci, flags);
			}
			CHECK(pool_bwd(&p, dy, dx1, 0, 0) == 0);
			/* max is piecewise linear: FD is exact away from ties (uniform random inputs: no ties within the step
			 * with high probability, but keep the step well inside by testing the average pools fully and the
			 * max pools at their argmax points) */
			int ok = fd_check(pool_f, &p, p.x, nx, dx1, y1, dy, ny, why, sizeof why);
			free(p.x), free(p.idx), free(idx0), free(y0), free(y1), free(dy), free(dx0), free(dx1);
			if (kind == 1 || kind == 3)
				CHECKF(ok, "kind %d case %d: %s", kind, ci, why);
		}
}

/* ---- linear ---------------------------------------------------------------------------------------------- */
typedef struct {
	int M, F, O;
	float *x, *w, *b;
} lin_st;
static void lin_f(void *v, float *out)
{
	lin_st *l = v;
	op_linear_fwd(&CTX, l->M, l->F, l->O, l->x, l->w, l->b, out, 0);
}

TEST(linear_fast_vs_naive_and_finite_differences)
{
	static const int cases[][3] = {{1, 7, 3}, {5, 33, 17}, {16, 64, 10}};
	char why[300];
	for (int ci = 0; ci < 3; ci++) {
		lin_st l = {cases[ci][0], cases[ci][1], cases[ci][2], NULL, NULL, NULL};
		size_t nx = (size_t)l.M * l.F, nw = (size_t)l.O * l.F, ny = (size_t)l.M * l.O;
		l.x = buf(nx), l.w = buf(nw), l.b = buf(l.O);
		float *y0 = buf(ny), *y1 = copy(y0, ny), *dy = buf(ny), *dx0 = buf(nx), *dx1 = buf(nx);
		float *dw0 = buf(nw), *dw1 = copy(dw0, nw), *db0 = buf(l.O), *db1 = copy(db0, l.O);
		linear_fwd_naive(l.M, l.F, l.O, l.x, l.w, l.b, y0, OP_ACCUM);
		CHECK(op_linear_fwd(&CTX, l.M, l.F, l.O, l.x, l.w, l.b, y1, OP_ACCUM) == 0);
		CHECK_ALLCLOSE(y1, y0, ny, FAST_ATOL, FAST_RTOL);
		linear_bwd_naive(l.M, l.F, l.O, l.x, l.w, dy, dx0, dw0, db0);
		CHECK(op_linear_bwd(&CTX, l.M, l.F, l.O, l.x, l.w, dy, dx1, dw1, db1) == 0);
		CHECK_ALLCLOSE(dx1, dx0, nx, FAST_ATOL, FAST_RTOL);
		CHECK_ALLCLOSE(dw1, dw0, nw, FAST_ATOL, FAST_RTOL);
		CHECK_ALLCLOSE(db1, db0, l.O, FAST_ATOL, FAST_RTOL);
		CHECK(guard_ok(y1, ny) && guard_ok(dx1, nx) && guard_ok(dw1, nw) && guard_ok(db1, l.O));
		memset(dw1, 0, nw * sizeof *dw1);
		memset(db1, 0, l.O * sizeof *db1);
		CHECK(op_linear_bwd(&CTX, l.M, l.F, l.O, l.x, l.w, dy, dx1, dw1, db1) == 0);
		int ok = fd_check(lin_f, &l, l.x, nx, dx1, y1, dy, ny, why, sizeof why) &&
			 fd_check(lin_f, &l, l.w, nw, dw1, y1, dy, ny, why, sizeof why) &&
			 fd_check(lin_f, &l, l.b, l.O, db1, y1, dy, ny, why, sizeof why);
		free(l.x), free(l.w), free(l.b), free(y0), free(y1), free(dy), free(dx0), free(dx1);
		free(dw0), free(dw1), free(db0), free(db1);
		CHECKF(ok, "case %d: %s", ci, why);
	}
}

/* ---- channel-blocked layout (OP_NCHW8C) ---------------------------------------------------------------------- */
/* plain (N,C,HW) -> a fresh blocked buffer (guarded) */
static float *to_blk(const float *a, int N, int C, int HW)
{
	size_t nb = op_act_numel(N, C, HW, OP_NCHW8C);
	float *b = buf(nb);
	op_layout_convert(&CTX, N, C, HW, a, OP_NCHW, b, OP_NCHW8C, 0);
	return b;
}
static float *from_blk(const float *b, int N, int C, int HW)
{
	float *a = buf((size_t)N * C * HW);
	op_layout_convert(&CTX, N, C, HW, b, OP_NCHW8C, a, OP_NCHW, 0);
	return a;
}

TEST(layout_convert_matches_index_formula)
{
	static const int cases[][3] = {{2, 5, 7}, {1, 8, 4}, {3, 13, 9}};
	for (int ci = 0; ci < 3; ci++) {
		int N = cases[ci][0], C = cases[ci][1], HW = cases[ci][2], CB = (C + 7) / 8;
		size_t n = (size_t)N * C * HW, nb = op_act_numel(N, C, HW, OP_NCHW8C);
		CHECK(nb == (size_t)N * CB * 8 * HW);
		float *a = buf(n), *b = to_blk(a, N, C, HW);
		for (int q = 0; q < N; q++)
			for (int c = 0; c < CB * 8; c++)
				for (int i = 0; i < HW; i++) {
					float want = c < C ? a[((size_t)q * C + c) * HW + i] : 0;
					CHECK(b[(((size_t)q * CB + c / 8) * HW + i) * 8 + c % 8] == want);
				}
		CHECK(guard_ok(b, nb));
		float *a2 = from_blk(b, N, C, HW);
		CHECK(!memcmp(a, a2, n * sizeof *a) && guard_ok(a2, n));
		CHECK(op_layout_convert(&CTX, N, C, HW, a, OP_NCHW, b, OP_NCHW8C, OP_ACCUM) == 0);
		float *a3 = from_blk(b, N, C, HW);
		for (size_t i = 0; i < n; i++)
			CHECK(a3[i] == 2 * a[i]);
		free(a), free(b), free(a2), free(a3);
	}
}

TEST(conv2d_blocked_layouts_vs_naive)
{
	/* plain input -> blocked output (the stem), blocked -> blocked (every other conv), odd channel counts */
	static const int cases[][10] = {
		/* N  C   H   W   K  R  S  st pad xfmt */
		{2, 3, 15, 13, 16, 7, 7, 2, 3, OP_NCHW}, {1, 1, 9, 9, 4, 3, 3, 1, 1, OP_NCHW},
		{2, 16, 7, 9, 24, 3, 3, 2, 1, OP_NCHW8C}, {2, 5, 6, 6, 12, 1, 1, 1, 0, OP_NCHW8C},
		{1, 24, 5, 5, 8, 1, 1, 2, 0, OP_NCHW8C},
		/* batches the CPU backend cuts into pieces: 3 of 2 images; 6 of 2 and a last of 1; 5 of 1 */
		{6, 3, 15, 13, 16, 7, 7, 2, 3, OP_NCHW}, {11, 16, 7, 9, 24, 3, 3, 2, 1, OP_NCHW8C},
		{5, 5, 6, 6, 12, 1, 1, 1, 0, OP_NCHW8C},
	};
	for (int ci = 0; ci < (int)(sizeof cases / sizeof cases[0]); ci++) {
		const int *c = cases[ci];
		conv_shape s = conv_shape_make(c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8]);
		s.xfmt = c[9], s.yfmt = OP_NCHW8C;
		int HWx = s.H * s.W, HWy = s.P * s.Q;
		size_t nx = (size_t)s.N * s.C * HWx, nw = (size_t)s.K * s.C * s.R * s.S, ny = (size_t)s.N * s.K * HWy;
		float *x = buf(nx), *w = buf(nw), *b = buf(s.K), *y0 = buf(ny), *dy = buf(ny), *dx0 = buf(nx);
		float *dw0 = buf(nw), *dw1 = buf(nw);
		float *xb = s.xfmt == OP_NCHW8C ? to_blk(x, s.N, s.C, HWx) : copy(x, nx);
		float *yb = to_blk(y0, s.N, s.K, HWy), *dyb = to_blk(dy, s.N, s.K, HWy);
		float *dxb = s.xfmt == OP_NCHW8C ? to_blk(dx0, s.N, s.C, HWx) : copy(dx0, nx);
		conv2d_fwd_naive(&s, x, w, b, y0, OP_RELU);
		CHECK(op_conv2d_fwd(&CTX, &s, xb, w, b, yb, OP_RELU) == 0);
		float *y1 = from_blk(yb, s.N, s.K, HWy);
		CHECKF(harness_max_violation(y1, y0, ny, FAST_ATOL, FAST_RTOL, NULL) <= 1, "case %d fwd", ci);
		conv2d_bwd_data_naive(&s, dy, w, dx0, 0);
		CHECK(op_conv2d_bwd_data(&CTX, &s, dyb, w, dxb, 0) == 0);
		float *dx1 = s.xfmt == OP_NCHW8C ? from_blk(dxb, s.N, s.C, HWx) : copy(dxb, nx);
		CHECKF(harness_max_violation(dx1, dx0, nx, FAST_ATOL, FAST_RTOL, NULL) <= 1, "case %d bwd_data", ci);
		conv2d_bwd_weight_naive(&s, x, dy, dw0, 0);
		CHECK(op_conv2d_bwd_weight(&CTX, &s, xb, dyb, dw1, 0) == 0);
		CHECKF(harness_max_violation(dw1, dw0, nw, 1e-3, FAST_RTOL, NULL) <= 1, "case %d bwd_weight", ci);
		/* accumulating data gradient in the blocked layout (the same-layout add-back path) */
		conv2d_bwd_data_naive(&s, dy, w, dx0, OP_ACCUM);
		CHECK(op_conv2d_bwd_data(&CTX, &s, dyb, w, dxb, OP_ACCUM) == 0);
		free(dx1);
		dx1 = s.xfmt == OP_NCHW8C ? from_blk(dxb, s.N, s.C, HWx) : copy(dxb, nx);
		CHECKF(harness_max_violation(dx1, dx0, nx, FAST_ATOL, FAST_RTOL, NULL) <= 1, "case %d bwd_data accum", ci);
		/* the padding channels of the blocked output stay zero */
		int CB = (s.K + 7) / 8;
		for (size_t i = 0; i < (size_t)s.N * CB * HWy * 8; i++)
			if ((int)((i / ((size_t)HWy * 8)) % CB) * 8 + (int)(i % 8) >= s.K)
				CHECKF(yb[i] == 0, "case %d: padding lane %zu = %g", ci, i, yb[i]);
		free(x), free(w), free(b), free(y0), free(dy), free(dx0), free(dw0), free(dw1);
		free(xb), free(yb), free(dyb), free(dxb), free(y1), free(dx1);
	}
}

TEST(bn_blocked_vs_naive)
{
	static const int cases[][3] = {{2, 5, 9}, {3, 16, 4}, {1, 21, 6}};
	for (int ci = 0; ci < 3; ci++) {
		bn_shape s = {cases[ci][0], cases[ci][1], cases[ci][2], OP_NCHW};
		bn_shape sb = s;
		sb.fmt = OP_NCHW8C;
		size_t n = (size_t)s.N * s.C * s.HW, nb = op_act_numel(s.N, s.C, s.HW, OP_NCHW8C);
		float *x = buf(n), *res = buf(n), *ga = buf(s.C), *be = buf(s.C), *y0 = buf(n), *dy = buf(n);
		float *m0 = buf(s.C), *is0 = buf(s.C), *m1 = buf(s.C), *is1 = buf(s.C), *sc = buf(s.C), *sh = buf(s.C);
		float *rm0 = buf(s.C), *rv0 = buf(s.C), *dx0 = buf(n), *dr0 = buf(n);
		for (int c = 0; c < s.C; c++)
			rv0[c] = 1 + rv0[c] * rv0[c];
		float *rm1 = copy(rm0, s.C), *rv1 = copy(rv0, s.C);
		float *xb = to_blk(x, s.N, s.C, s.HW), *rb = to_blk(res, s.N, s.C, s.HW), *yb = buf(nb);
		float *dyb = to_blk(dy, s.N, s.C, s.HW), *dxb = buf(nb), *drb = buf(nb);
		float dg0[32] = {0}, db0[32] = {0}, dg1[32] = {0}, db1[32] = {0};
		bn_train_fwd_naive(&s, x, ga, be, 1e-5f, 0.1f, rm0, rv0, m0, is0, res, y0, OP_RELU);
		CHECK(op_bn_train_fwd(&CTX, &sb, xb, ga, be, 1e-5f, 0.1f, rm1, rv1, m1, is1, sc, sh, rb, yb, OP_RELU) == 0);
		float *y1 = from_blk(yb, s.N, s.C, s.HW);
		CHECK_ALLCLOSE(y1, y0, n, FAST_ATOL, FAST_RTOL);
		CHECK_ALLCLOSE(m1, m0, s.C, 1e-6, 1e-5);
		CHECK_ALLCLOSE(rv1, rv0, s.C, 1e-6, 1e-5);
		for (int bs = 0; bs < 2; bs++) {
			bn_bwd_naive(&s, x, dy, y0, ga, m0, is0, bs, dx0, dr0, dg0, db0);
			CHECK(op_bn_bwd(&CTX, &sb, xb, dyb, yb, ga, m0, is0, bs, dxb, drb, dg1, db1) == 0);
			float *dx1 = from_blk(dxb, s.N, s.C, s.HW), *dr1 = from_blk(drb, s.N, s.C, s.HW);
			int ok = harness_max_violation(dx1, dx0, n, FAST_ATOL, FAST_RTOL, NULL) <= 1 &&
				 !memcmp(dr1, dr0, n * sizeof *dr0) &&
				 harness_max_violation(dg1, dg0, s.C, FAST_ATOL, FAST_RTOL, NULL) <= 1 &&
				 harness_max_violation(db1, db0, s.C, FAST_ATOL, FAST_RTOL, NULL) <= 1;
			free(dx1), free(dr1);
			CHECKF(ok, "case %d batch_stats %d backward", ci, bs);
		}
		/* frozen affine */
		affine_act_fwd_naive(&s, x, sc, sh, NULL, y0, 0);
		CHECK(op_affine_act_fwd(&CTX, &sb, xb, sc, sh, NULL, yb, 0) == 0);
		free(y1);
		y1 = from_blk(yb, s.N, s.C, s.HW);
		CHECK_ALLCLOSE(y1, y0, n, FAST_ATOL, FAST_RTOL);
		CHECK(guard_ok(yb, nb) && guard_ok(dxb, nb));
		free(x), free(res), free(ga), free(be), free(y0), free(dy), free(m0), free(is0), free(m1), free(is1);
		free(sc), free(sh), free(rm0), free(rv0), free(dx0), free(dr0), free(rm1), free(rv1), free(xb), free(rb);
		free(yb), free(dyb), free(dxb), free(drb), free(y1);
	}
}

TEST(maxpool_blocked_vs_naive)
{
	static const int cases[][4] = {{2, 5, 9, 11}, {1, 16, 8, 8}, {2, 3, 7, 5}};
	for (int ci = 0; ci < 3; ci++) {
		const int *c = cases[ci];
		pool_shape s = pool_shape_make(c[0], c[1], c[2], c[3], 3, 3, 2, 1), sb = s;
		sb.fmt = OP_NCHW8C;
		int HW = s.H * s.W, PQ = s.P * s.Q;
		size_t nx = (size_t)s.N * s.C * HW, ny = (size_t)s.N * s.C * PQ;
		size_t nyb = op_act_numel(s.N, s.C, PQ, OP_NCHW8C), nxb = op_act_numel(s.N, s.C, HW, OP_NCHW8C);
		float *x = buf(nx), *y0 = buf(ny), *dy = buf(ny), *dx0 = buf(nx), *yb = buf(nyb), *dxb = buf(nxb);
		int32_t *i0 = malloc(ny * sizeof *i0), *ib = malloc(nyb * sizeof *ib);
		float *xb = to_blk(x, s.N, s.C, HW), *dyb = to_blk(dy, s.N, s.C, PQ);
		maxpool_fwd_naive(&s, x, y0, i0);
		CHECK(op_maxpool_fwd(&CTX, &sb, xb, yb, ib) == 0);
		float *y1 = from_blk(yb, s.N, s.C, PQ);
		CHECK(!memcmp(y1, y0, ny * sizeof *y0));
		maxpool_bwd_naive(&s, dy, i0, dx0, 0);
		CHECK(op_maxpool_bwd(&CTX, &sb, dyb, ib, dxb, 0) == 0);
		float *dx1 = from_blk(dxb, s.N, s.C, HW);
		CHECK_ALLCLOSE(dx1, dx0, nx, 1e-6, 1e-6);
		CHECK(guard_ok(yb, nyb) && guard_ok(dxb, nxb));
		free(x), free(y0), free(dy), free(dx0), free(yb), free(dxb), free(i0), free(ib), free(xb), free(dyb);
		free(y1), free(dx1);
	}
}

TEST(cuda_context_refused_without_cuda)
{
#ifndef AVSL_HAVE_CUDA
	op_ctx c;
	CHECK(op_ctx_init(&c, OP_DEVICE_CUDA, 1) == -1);
	CHECK(strstr(c.err, "CUDA") != NULL);
#endif
}

/* The CPU table implements every op of the list; op_supports and op_name agree with it. */
TEST(cpu_table_has_every_op)
{
	for (int i = 0; i < OPID_COUNT; i++) {
		CHECKF(op_supports(&CTX, (op_id)i), "%s: %s", op_name((op_id)i), CTX.err);
		CHECK(strcmp(op_name((op_id)i), "?") != 0);
	}
	CHECK(strcmp(op_name(OPID_conv2d_fwd), "conv2d_fwd") == 0 && strcmp(op_name(OPID_COUNT), "?") == 0);
	CHECK(strcmp(op_backend_name(&CTX), "cpu") == 0 && op_preferred_layout(&CTX) == OP_NCHW8C);
}

int main(void)
{
	rng_init(&RNG, 1234, 1);
	if (op_ctx_init(&CTX, OP_DEVICE_CPU, 2)) {
		printf("FAIL op_ctx_init: %s\n", CTX.err);
		return 1;
	}
	RUN(conv2d_fast_vs_naive);
	RUN(conv2d_fused_bias_relu_accum);
	RUN(conv2d_grad_finite_differences);
	RUN(bn_fast_vs_naive);
	RUN(bn_grad_finite_differences);
	RUN(conv_fold_weights_equals_conv_then_bn);
	RUN(relu_add_fast_vs_naive);
	RUN(pool_fast_vs_naive_and_finite_differences);
	RUN(linear_fast_vs_naive_and_finite_differences);
	RUN(layout_convert_matches_index_formula);
	RUN(conv2d_blocked_layouts_vs_naive);
	RUN(bn_blocked_vs_naive);
	RUN(maxpool_blocked_vs_naive);
	RUN(cuda_context_refused_without_cuda);
	RUN(cpu_table_has_every_op);
	op_ctx_free(&CTX);
	return harness_finish();
}
