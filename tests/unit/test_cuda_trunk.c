/* test_cuda_trunk.c: every trunk op of kernels/ops.h on the CUDA backend against the same op on the CPU backend.
 *
 * Without a usable CUDA device (CPU-only build, or no GPU as on the build machine and in CI) only the refusal is
 * checked: op_ctx_init(OP_DEVICE_CUDA) must fail with a one-line reason naming CUDA, and no op case is printed.
 * Under `make check-cuda` (AVSL_DEVICE=cuda) a missing device is a failure; with AVSL_DEVICE=cpu the op cases are
 * skipped.
 *
 * With a device, each op runs on random inputs in [-1, 1] (quantised to a few levels for the max-pools, so that
 * ties exercise the first-maximum argmax convention) on both backends, flags OP_ACCUM / OP_RELU and the in-place
 * variants included. Every device buffer carries GUARD bytes after its end, filled with a pattern that must
 * survive the op (ggml's test-backend-ops idea).
 *
 * Tolerances (why):
 *   exact: relu, add, max-pool forward and argmax, global max-pool, the masks — no arithmetic or a single
 *   rounding that both backends do the same way.
 *   1e-6 / 1e-5: element-wise affine maps, pool averages, max-pool backward (atomicAdd order), batch norm
 *   statistics: same formulas, FMA contraction and reduction order differ by a few ulps.
 *   linear 1e-4 / 1e-4: cuBLAS and OpenBLAS sum the F (or M) products in different orders; <= ~300 terms of
 *   magnitude <= 1 keep the float error below ~1e-5.
 *   conv 1e-3 / 1e-3: cuDNN may choose Winograd or FFT algorithms whose float rounding differs from direct
 *   summation by ~1e-5 of the output magnitude (outputs here are up to ~10). With AVSL_TF32=1 (TF32 tensor cores,
 *   10-bit mantissa inputs) the conv and linear tolerances become 2e-2.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ops.h"
#include "rng.h"

enum { GUARD = 256 };
#define GUARD_BYTE 0xA7

static op_ctx CPU, GPU;
static rng RNG;
static double CONV_TOL = 1e-3, LIN_TOL = 1e-4;

/* ---- host and device buffers ---------------------------------------------------------------------------------- */

static float *hbuf(size_t n)
{
	float *p = malloc((n ? n : 1) * sizeof *p);
	for (size_t i = 0; i < n; i++)
		p[i] = 2 * rng_uniform(&RNG) - 1;
	return p;
}

/* Values in {-1, -0.75, ..., 1}: many ties. */
static float *hbuf_ties(size_t n)
{
	float *p = hbuf(n);
	for (size_t i = 0; i < n; i++)
		p[i] = floorf(p[i] * 4) / 4;
	return p;
}

static float *hcopy(const void *a, size_t bytes)
{
	float *p = malloc(bytes ? bytes : 1);
	memcpy(p, a, bytes);
	return p;
}

/* Device copy of host[0, bytes) followed by GUARD pattern bytes; NULL on failure. */
static void *dput(const void *host, size_t bytes)
{
	unsigned char *t = malloc(bytes + GUARD);
	void *d = NULL;
	if (!t)
		return NULL;
	memcpy(t, host, bytes);
	memset(t + bytes, GUARD_BYTE, GUARD);
	if (op_alloc(&GPU, &d, bytes + GUARD) == 0 &&
	    (op_upload(&GPU, d, t, bytes + GUARD) || op_ctx_sync(&GPU))) {
		op_free(&GPU, d);
		d = NULL;
	}
	free(t);
	return d;
}

/* Waits for the CUDA context, copies dev[0, bytes) to host; 1 if the guard after it is intact, 0 if not, -1 if the
 * copy failed. */
static int dget(void *host, const void *dev, size_t bytes)
{
	unsigned char *t = malloc(bytes + GUARD);
	int rc = -1;
	if (t && op_download(&GPU, t, dev, bytes + GUARD) == 0) {
		memcpy(host, t, bytes);
		rc = 1;
		for (int i = 0; i < GUARD; i++)
			if (t[bytes + i] != GUARD_BYTE)
				rc = 0;
	}
	free(t);
	return rc;
}

static void dfree(void *d)
{
	if (d)
		op_free(&GPU, d);
}

#define F(n) ((size_t)(n) * sizeof(float))
#define CPU_OK(call) CHECKF((call) == 0, "CPU: %s", CPU.err)
#define GPU_OK(call) CHECKF((call) == 0, "CUDA: %s", GPU.err)
/* Download n floats of device d into host h (allocated here) and check the guard. */
#define GET(h, d, n)                                                                                                   \
	do {                                                                                                           \
		h = malloc(F(n) + sizeof(float));                                                                      \
		int g_ = dget(h, d, F(n));                                                                             \
		CHECKF(g_ >= 0, "download of %s failed: %s", #d, GPU.err);                                             \
		CHECKF(g_ == 1, "guard bytes after %s overwritten", #d);                                               \
	} while (0)

/* a[i] == b[i] for every i (harness_max_violation divides by the tolerance, so it cannot express "exact"). */
static int same_f32(const float *a, const float *b, size_t n, size_t *at)
{
	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i]) {
			*at = i;
			return 0;
		}
	return 1;
}

#define CHECK_EXACT(a, b, n)                                                                                           \
	do {                                                                                                           \
		size_t at_ = 0;                                                                                        \
		CHECKF(same_f32((a), (b), (n), &at_), "element %zu: %.9g vs CPU %.9g", at_, (double)(a)[at_],          \
		       (double)(b)[at_]);                                                                              \
	} while (0)

static int same_i32(const int32_t *a, const int32_t *b, size_t n, size_t *at)
{
	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i]) {
			*at = i;
			return 0;
		}
	return 1;
}

/* ---- convolution ---------------------------------------------------------------------------------------------- */

static const int conv_cases[][9] = {
	/* N  C   H   W   K  R  S  stride pad */
	{2, 3, 9, 11, 5, 3, 3, 1, 1},    {1, 4, 13, 13, 8, 7, 7, 2, 3},   {2, 8, 7, 7, 16, 1, 1, 2, 0},
	{3, 16, 6, 6, 8, 3, 3, 2, 1},    {2, 32, 10, 10, 64, 1, 1, 1, 0}, {2, 24, 9, 9, 24, 3, 3, 1, 1},
	{4, 64, 14, 14, 64, 3, 3, 1, 1},
};

/* One conv case with the given flags and bias; fails the test with the case index. */
static void conv_case(int ci, int flags, int with_bias, char *why, size_t n_why)
{
	const int *c = conv_cases[ci];
	conv_shape s = conv_shape_make(c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8]);
	size_t nx = (size_t)s.N * s.C * s.H * s.W, nw = (size_t)s.K * s.C * s.R * s.S,
	       ny = (size_t)s.N * s.K * s.P * s.Q;
	float *x = hbuf(nx), *w = hbuf(nw), *b = hbuf(s.K), *y = hbuf(ny), *dy = hbuf(ny), *dx = hbuf(nx),
	      *dw = hbuf(nw);
	float *y0 = hcopy(y, F(ny)), *dx0 = hcopy(dx, F(nx)), *dw0 = hcopy(dw, F(nw));
	float *gx = dput(x, F(nx)), *gw = dput(w, F(nw)), *gb = dput(b, F(s.K)), *gy = dput(y, F(ny)),
	      *gdy = dput(dy, F(ny)), *gdx = dput(dx, F(nx)), *gdw = dput(dw, F(nw));
	float *hy = NULL, *hdx = NULL, *hdw = NULL;
	const char *bad = NULL;
	snprintf(why, n_why, "case %d flags %d bias %d: ", ci, flags, with_bias);
	size_t at = strlen(why);
	if (!gx || !gw || !gb || !gy || !gdy || !gdx || !gdw)
		bad = "device allocation failed";
	else if (op_conv2d_fwd(&CPU, &s, x, w, with_bias ? b : NULL, y0, flags) ||
		 op_conv2d_bwd_data(&CPU, &s, dy, w, dx0, flags & OP_ACCUM) ||
		 op_conv2d_bwd_weight(&CPU, &s, x, dy, dw0, flags & OP_ACCUM))
		bad = CPU.err;
	else if (op_conv2d_fwd(&GPU, &s, gx, gw, with_bias ? gb : NULL, gy, flags) ||
		 op_conv2d_bwd_data(&GPU, &s, gdy, gw, gdx, flags & OP_ACCUM) ||
		 op_conv2d_bwd_weight(&GPU, &s, gx, gdy, gdw, flags & OP_ACCUM))
		bad = GPU.err;
	else {
		hy = malloc(F(ny)), hdx = malloc(F(nx)), hdw = malloc(F(nw));
		size_t wi;
		if (dget(hy, gy, F(ny)) != 1 || dget(hdx, gdx, F(nx)) != 1 || dget(hdw, gdw, F(nw)) != 1)
			bad = "download failed or guard bytes overwritten";
		else if (harness_max_violation(hy, y0, ny, CONV_TOL, CONV_TOL, &wi) > 1)
			snprintf(why + at, n_why - at, "y[%zu] %.7g vs CPU %.7g", wi, hy[wi], y0[wi]);
		else if (harness_max_violation(hdx, dx0, nx, CONV_TOL, CONV_TOL, &wi) > 1)
			snprintf(why + at, n_why - at, "dx[%zu] %.7g vs CPU %.7g", wi, hdx[wi], dx0[wi]);
		else if (harness_max_violation(hdw, dw0, nw, CONV_TOL, CONV_TOL, &wi) > 1)
			snprintf(why + at, n_why - at, "dw[%zu] %.7g vs CPU %.7g", wi, hdw[wi], dw0[wi]);
		else
			why[0] = 0;
	}
	if (bad)
		snprintf(why + at, n_why - at, "%s", bad);
	free(x), free(w), free(b), free(y), free(dy), free(dx), free(dw), free(y0), free(dx0), free(dw0);
	free(hy), free(hdx), free(hdw);
	dfree(gx), dfree(gw), dfree(gb), dfree(gy), dfree(gdy), dfree(gdx), dfree(gdw);
}

TEST(cuda_conv2d_vs_cpu)
{
	char why[512];
	for (int ci = 0; ci < (int)(sizeof conv_cases / sizeof conv_cases[0]); ci++) {
		conv_case(ci, 0, 0, why, sizeof why);
		CHECKF(!why[0], "%s", why);
	}
}

TEST(cuda_conv2d_bias_relu_accum_vs_cpu)
{
	char why[512];
	static const int variants[][2] = {{OP_RELU, 1}, {OP_ACCUM, 0}, {OP_ACCUM | OP_RELU, 1}, {0, 1}};
	for (int ci = 0; ci < (int)(sizeof conv_cases / sizeof conv_cases[0]); ci++)
		for (int v = 0; v < 4; v++) {
			conv_case(ci, variants[v][0], variants[v][1], why, sizeof why);
			CHECKF(!why[0], "%s", why);
		}
}

TEST(cuda_conv2d_algorithm_cache_reuse)
{
	/* the same shape twice (cache hit) must give the same result as the first call */
	char why[512];
	conv_case(2, 0, 0, why, sizeof why);
	CHECKF(!why[0], "%s", why);
	conv_case(2, OP_ACCUM, 0, why, sizeof why);
	CHECKF(!why[0], "%s", why);
}

/* ---- batch norm ----------------------------------------------------------------------------------------------- */

static const int bn_cases[][3] = {{2, 3, 25}, {1, 5, 49}, {4, 16, 7}, {3, 8, 4}, {8, 64, 196}, {2, 4, 3000}};

TEST(cuda_bn_fold_affine_vs_cpu)
{
	for (int ci = 0; ci < (int)(sizeof bn_cases / sizeof bn_cases[0]); ci++) {
		bn_shape s = {bn_cases[ci][0], bn_cases[ci][1], bn_cases[ci][2]};
		const int C = s.C;
		size_t n = (size_t)s.N * C * s.HW;
		float *ga = hbuf(C), *be = hbuf(C), *mu = hbuf(C), *var = hbuf(C), *x = hbuf(n), *res = hbuf(n);
		for (int c = 0; c < C; c++)
			var[c] = var[c] + 1.5f;
		float sc[64], sh[64], is[64], *y = malloc(F(n)), *y2 = malloc(F(n));
		CPU_OK(op_bn_fold(&CPU, C, ga, be, mu, var, 1e-5f, sc, sh, is));
		float *gga = dput(ga, F(C)), *gbe = dput(be, F(C)), *gmu = dput(mu, F(C)), *gvar = dput(var, F(C));
		float *gsc = dput(sc, F(C)), *gsh = dput(sh, F(C)), *gis = dput(is, F(C)), *gx = dput(x, F(n)),
		      *gres = dput(res, F(n)), *gy = dput(x, F(n));
		CHECK(gga && gbe && gmu && gvar && gsc && gsh && gis && gx && gres && gy);
		GPU_OK(op_bn_fold(&GPU, C, gga, gbe, gmu, gvar, 1e-5f, gsc, gsh, gis));
		float *h;
		GET(h, gsc, C);
		CHECK_ALLCLOSE(h, sc, C, 1e-6, 1e-6);
		free(h);
		GET(h, gsh, C);
		CHECK_ALLCLOSE(h, sh, C, 1e-6, 1e-6);
		free(h);
		GET(h, gis, C);
		CHECK_ALLCLOSE(h, is, C, 1e-6, 1e-6);
		free(h);
		/* NULL gamma/beta, no invstd */
		CPU_OK(op_bn_fold(&CPU, C, NULL, NULL, mu, var, 1e-3f, sc, sh, NULL));
		GPU_OK(op_bn_fold(&GPU, C, NULL, NULL, gmu, gvar, 1e-3f, gsc, gsh, NULL));
		GET(h, gsc, C);
		CHECK_ALLCLOSE(h, sc, C, 1e-6, 1e-6);
		free(h);
		GET(h, gsh, C);
		CHECK_ALLCLOSE(h, sh, C, 1e-6, 1e-6);
		free(h);
		/* affine + residual + relu, then plain affine in place */
		CPU_OK(op_affine_act_fwd(&CPU, &s, x, sc, sh, res, y, OP_RELU));
		GPU_OK(op_affine_act_fwd(&GPU, &s, gx, gsc, gsh, gres, gy, OP_RELU));
		GET(h, gy, n);
		CHECK_ALLCLOSE(h, y, n, 1e-6, 1e-5);
		free(h);
		memcpy(y2, x, F(n));
		CPU_OK(op_affine_act_fwd(&CPU, &s, y2, sc, sh, NULL, y2, 0));
		GPU_OK(op_affine_act_fwd(&GPU, &s, gx, gsc, gsh, NULL, gx, 0));
		GET(h, gx, n);
		CHECK_ALLCLOSE(h, y2, n, 1e-6, 1e-5);
		free(h);
		free(ga), free(be), free(mu), free(var), free(x), free(res), free(y), free(y2);
		dfree(gga), dfree(gbe), dfree(gmu), dfree(gvar), dfree(gsc), dfree(gsh), dfree(gis), dfree(gx);
		dfree(gres), dfree(gy);
	}
}

TEST(cuda_bn_train_fwd_vs_cpu)
{
	for (int ci = 0; ci < (int)(sizeof bn_cases / sizeof bn_cases[0]); ci++)
		for (int v = 0; v < 2; v++) {
			bn_shape s = {bn_cases[ci][0], bn_cases[ci][1], bn_cases[ci][2]};
			const int C = s.C;
			size_t n = (size_t)s.N * C * s.HW;
			float *x = hbuf(n), *ga = hbuf(C), *be = hbuf(C), *rm = hbuf(C), *rv = hbuf(C), *res = hbuf(n);
			for (size_t i = 0; i < n; i++)
				x[i] = 3 + 2 * x[i]; /* a mean far from 0: the two-pass variance matters */
			for (int c = 0; c < C; c++)
				rv[c] += 1.5f;
			float *mu = hbuf(C), *is = hbuf(C), *sc = hbuf(C), *sh = hbuf(C), *y = hbuf(n);
			float *rm0 = hcopy(rm, F(C)), *rv0 = hcopy(rv, F(C));
			float *gx = dput(x, F(n)), *gga = dput(ga, F(C)), *gbe = dput(be, F(C)), *grm = dput(rm, F(C)),
			      *grv = dput(rv, F(C)), *gres = dput(res, F(n)), *gmu = dput(mu, F(C)),
			      *gis = dput(is, F(C)), *gsc = dput(sc, F(C)), *gsh = dput(sh, F(C)), *gy = dput(y, F(n));
			CHECK(gx && gga && gbe && grm && grv && gres && gmu && gis && gsc && gsh && gy);
			if (v == 0) {
				CPU_OK(op_bn_train_fwd(&CPU, &s, x, ga, be, 1e-5f, 0.1f, rm0, rv0, mu, is, sc, sh, res,
						       y, OP_RELU));
				GPU_OK(op_bn_train_fwd(&GPU, &s, gx, gga, gbe, 1e-5f, 0.1f, grm, grv, gmu, gis, gsc,
						       gsh, gres, gy, OP_RELU));
			} else { /* no affine, no running stats, no residual, in place */
				memcpy(y, x, F(n));
				CPU_OK(op_bn_train_fwd(&CPU, &s, y, NULL, NULL, 1e-3f, 0.1f, NULL, NULL, mu, is, sc, sh,
						       NULL, y, 0));
				GPU_OK(op_bn_train_fwd(&GPU, &s, gx, NULL, NULL, 1e-3f, 0.1f, NULL, NULL, gmu, gis, gsc,
						       gsh, NULL, gx, 0));
				dfree(gy);
				gy = gx;
				gx = NULL;
			}
			float *h;
			GET(h, gmu, C);
			CHECK_ALLCLOSE(h, mu, C, 1e-6, 1e-5);
			free(h);
			GET(h, gis, C);
			CHECK_ALLCLOSE(h, is, C, 1e-6, 1e-5);
			free(h);
			GET(h, gsc, C);
			CHECK_ALLCLOSE(h, sc, C, 1e-6, 1e-5);
			free(h);
			GET(h, gsh, C);
			CHECK_ALLCLOSE(h, sh, C, 1e-5, 1e-5);
			free(h);
			GET(h, gy, n);
			CHECK_ALLCLOSE(h, y, n, 1e-5, 1e-5);
			free(h);
			GET(h, grm, C);
			CHECK_ALLCLOSE(h, rm0, C, 1e-6, 1e-5);
			free(h);
			GET(h, grv, C);
			CHECK_ALLCLOSE(h, rv0, C, 1e-6, 1e-5);
			free(h);
			free(x), free(ga), free(be), free(rm), free(rv), free(res), free(mu), free(is), free(sc),
				free(sh);
			free(y), free(rm0), free(rv0);
			dfree(gx), dfree(gga), dfree(gbe), dfree(grm), dfree(grv), dfree(gres), dfree(gmu), dfree(gis);
			dfree(gsc), dfree(gsh), dfree(gy);
		}
}

/* Variants of the backward: v bit 0 batch_stats, bit 1 relu mask, bit 2 dres, bit 3 dx in place (on dy). */
TEST(cuda_bn_bwd_vs_cpu)
{
	/* Under the host emulator (tests/cuda-emu) 4 of the 16 variants, which still set every flag both ways. */
#ifdef AVSL_CUDA_EMU
	const int vstep = 5;
#else
	const int vstep = 1;
#endif
	for (int ci = 0; ci < (int)(sizeof bn_cases / sizeof bn_cases[0]); ci++)
		for (int v = 0; v < 16; v += vstep) {
			const int bs = v & 1, relu = (v >> 1) & 1, with_dres = (v >> 2) & 1, inplace = (v >> 3) & 1;
			bn_shape s = {bn_cases[ci][0], bn_cases[ci][1], bn_cases[ci][2]};
			const int C = s.C;
			size_t n = (size_t)s.N * C * s.HW;
			float *x = hbuf(n), *dy = hbuf(n), *ry = hbuf(n), *ga = hbuf(C), *mu = hbuf(C), *is = hbuf(C);
			for (int c = 0; c < C; c++)
				is[c] = 0.5f + fabsf(is[c]);
			float *dx = hbuf(n), *dres = hbuf(n), *dg = hbuf(C), *db = hbuf(C);
			float *gx = dput(x, F(n)), *gdy = dput(dy, F(n)), *gry = dput(ry, F(n)), *gga = dput(ga, F(C)),
			      *gmu = dput(mu, F(C)), *gis = dput(is, F(C)), *gdx = dput(dx, F(n)),
			      *gdres = dput(dres, F(n)), *gdg = dput(dg, F(C)), *gdb = dput(db, F(C));
			CHECK(gx && gdy && gry && gga && gmu && gis && gdx && gdres && gdg && gdb);
			float *cdx = inplace ? dy : dx, *gcdx = inplace ? gdy : gdx;
			CPU_OK(op_bn_bwd(&CPU, &s, x, dy, relu ? ry : NULL, ga, mu, is, bs, cdx,
					 with_dres ? dres : NULL, dg, db));
			GPU_OK(op_bn_bwd(&GPU, &s, gx, gdy, relu ? gry : NULL, gga, gmu, gis, bs, gcdx,
					 with_dres ? gdres : NULL, gdg, gdb));
			float *h;
			GET(h, gcdx, n);
			CHECKF(harness_max_violation(h, cdx, n, 1e-5, 1e-4, NULL) <= 1, "case %d variant %d: dx", ci,
			       v);
			free(h);
			if (with_dres) {
				GET(h, gdres, n);
				CHECKF(same_f32(h, dres, n, &(size_t){0}), "case %d variant %d: dres", ci, v);
				free(h);
			}
			GET(h, gdg, C);
			CHECKF(harness_max_violation(h, dg, C, 1e-4, 1e-4, NULL) <= 1, "case %d variant %d: dgamma", ci,
			       v);
			free(h);
			GET(h, gdb, C);
			CHECKF(harness_max_violation(h, db, C, 1e-4, 1e-4, NULL) <= 1, "case %d variant %d: dbeta", ci,
			       v);
			free(h);
			free(x), free(dy), free(ry), free(ga), free(mu), free(is), free(dx), free(dres), free(dg),
				free(db);
			dfree(gx), dfree(gdy), dfree(gry), dfree(gga), dfree(gmu), dfree(gis), dfree(gdx), dfree(gdres);
			dfree(gdg), dfree(gdb);
		}
}

TEST(cuda_bn_bwd_frozen_without_x)
{
	/* batch_stats = 0, no dgamma: x may be NULL; with dgamma it must be refused as on the CPU */
	bn_shape s = {2, 6, 10};
	size_t n = 120;
	float *dy = hbuf(n), *ga = hbuf(6), *mu = hbuf(6), *is = hbuf(6), *dx = hbuf(n), *db = hbuf(6);
	float *gdy = dput(dy, F(n)), *gga = dput(ga, F(6)), *gmu = dput(mu, F(6)), *gis = dput(is, F(6)),
	      *gdx = dput(dx, F(n)), *gdb = dput(db, F(6));
	CHECK(gdy && gga && gmu && gis && gdx && gdb);
	CPU_OK(op_bn_bwd(&CPU, &s, NULL, dy, NULL, ga, mu, is, 0, dx, NULL, NULL, db));
	GPU_OK(op_bn_bwd(&GPU, &s, NULL, gdy, NULL, gga, gmu, gis, 0, gdx, NULL, NULL, gdb));
	float *h;
	GET(h, gdx, n);
	CHECK_ALLCLOSE(h, dx, n, 1e-6, 1e-6);
	free(h);
	GET(h, gdb, 6);
	CHECK_ALLCLOSE(h, db, 6, 1e-6, 1e-5);
	free(h);
	CHECK(op_bn_bwd(&GPU, &s, NULL, gdy, NULL, gga, gmu, gis, 1, gdx, NULL, NULL, NULL) == -1);
	CHECKF(strstr(GPU.err, "x is needed") != NULL, "%s", GPU.err);
	free(dy), free(ga), free(mu), free(is), free(dx), free(db);
	dfree(gdy), dfree(gga), dfree(gmu), dfree(gis), dfree(gdx), dfree(gdb);
}

/* ---- element-wise --------------------------------------------------------------------------------------------- */

TEST(cuda_relu_add_vs_cpu)
{
	static const size_t sizes[] = {1, 31, 1000, 100003};
	for (int si = 0; si < 4; si++) {
		size_t n = sizes[si];
		float *a = hbuf(n), *b = hbuf(n), *y = hbuf(n), *dx = hbuf(n);
		float *ga = dput(a, F(n)), *gb = dput(b, F(n)), *gy = dput(y, F(n)), *gdx = dput(dx, F(n));
		CHECK(ga && gb && gy && gdx);
		float *h;
		CPU_OK(op_relu_fwd(&CPU, n, a, y));
		GPU_OK(op_relu_fwd(&GPU, n, ga, gy));
		GET(h, gy, n);
		CHECK_EXACT(h, y, n);
		free(h);
		CPU_OK(op_relu_bwd(&CPU, n, y, b, dx, OP_ACCUM));
		GPU_OK(op_relu_bwd(&GPU, n, gy, gb, gdx, OP_ACCUM));
		GET(h, gdx, n);
		CHECK_EXACT(h, dx, n);
		free(h);
		CPU_OK(op_relu_bwd(&CPU, n, y, b, dx, 0));
		GPU_OK(op_relu_bwd(&GPU, n, gy, gb, gdx, 0));
		GET(h, gdx, n);
		CHECK_EXACT(h, dx, n);
		free(h);
		CPU_OK(op_add(&CPU, n, a, b, y, OP_RELU));
		GPU_OK(op_add(&GPU, n, ga, gb, gy, OP_RELU));
		GET(h, gy, n);
		CHECK_EXACT(h, y, n);
		free(h);
		CPU_OK(op_add(&CPU, n, a, b, a, 0)); /* in place */
		GPU_OK(op_add(&GPU, n, ga, gb, ga, 0));
		GET(h, ga, n);
		CHECK_EXACT(h, a, n);
		free(h);
		CPU_OK(op_relu_fwd(&CPU, n, a, a)); /* in place */
		GPU_OK(op_relu_fwd(&GPU, n, ga, ga));
		GET(h, ga, n);
		CHECK_EXACT(h, a, n);
		free(h);
		free(a), free(b), free(y), free(dx);
		dfree(ga), dfree(gb), dfree(gy), dfree(gdx);
	}
}

/* Layout conversion both ways (padding channels must come out zero) and weight folding: exact (data movement and
 * one multiply per element). */
TEST(cuda_layout_convert_and_fold_vs_cpu)
{
	static const int shapes[][3] = {{2, 3, 5}, {1, 8, 49}, {3, 13, 7}};
	for (int si = 0; si < 3; si++) {
		int N = shapes[si][0], C = shapes[si][1], HW = shapes[si][2];
		size_t np = (size_t)N * C * HW, nb = op_act_numel(N, C, HW, OP_NCHW8C);
		float *x = hbuf(np), *xb = hbuf(nb), *back = hbuf(np);
		float *gx = dput(x, F(np)), *gxb = dput(xb, F(nb)), *gback = dput(back, F(np));
		CHECK(gx && gxb && gback);
		float *h;
		CPU_OK(op_layout_convert(&CPU, N, C, HW, x, OP_NCHW, xb, OP_NCHW8C, 0));
		GPU_OK(op_layout_convert(&GPU, N, C, HW, gx, OP_NCHW, gxb, OP_NCHW8C, 0));
		GET(h, gxb, nb);
		CHECK_EXACT(h, xb, nb);
		free(h);
		CPU_OK(op_layout_convert(&CPU, N, C, HW, xb, OP_NCHW8C, back, OP_NCHW, OP_ACCUM));
		GPU_OK(op_layout_convert(&GPU, N, C, HW, gxb, OP_NCHW8C, gback, OP_NCHW, OP_ACCUM));
		GET(h, gback, np);
		CHECK_EXACT(h, back, np);
		free(h);
		free(x), free(xb), free(back);
		dfree(gx), dfree(gxb), dfree(gback);
	}
	int K = 6;
	size_t CRS = 27;
	float *w = hbuf((size_t)K * CRS), *sc = hbuf((size_t)K), *wo = hbuf((size_t)K * CRS);
	float *gw = dput(w, F((size_t)K * CRS)), *gs = dput(sc, F((size_t)K)), *gwo = dput(wo, F((size_t)K * CRS));
	CHECK(gw && gs && gwo);
	CPU_OK(op_conv_fold_weights(&CPU, K, CRS, w, sc, wo));
	GPU_OK(op_conv_fold_weights(&GPU, K, CRS, gw, gs, gwo));
	float *h;
	GET(h, gwo, (size_t)K * CRS);
	CHECK_EXACT(h, wo, (size_t)K * CRS);
	free(h);
	free(w), free(sc), free(wo);
	dfree(gw), dfree(gs), dfree(gwo);
}

/* ---- pooling -------------------------------------------------------------------------------------------------- */

static const int pool_cases[][8] = {
	/* N C  H   W  R  S stride pad */
	{2, 3, 9, 11, 3, 3, 2, 1}, {1, 4, 8, 8, 2, 2, 2, 0},    {3, 2, 7, 5, 3, 3, 1, 1},
	{1, 1, 3, 3, 3, 3, 1, 1},  {4, 16, 56, 56, 3, 3, 2, 1},
};

TEST(cuda_maxpool_vs_cpu)
{
	for (int ci = 0; ci < (int)(sizeof pool_cases / sizeof pool_cases[0]); ci++)
		for (int flags = 0; flags <= OP_ACCUM; flags += OP_ACCUM) {
			const int *c = pool_cases[ci];
			pool_shape s = pool_shape_make(c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]);
			size_t nx = (size_t)s.N * s.C * s.H * s.W, ny = (size_t)s.N * s.C * s.P * s.Q;
			float *x = hbuf_ties(nx), *y = hbuf(ny), *dy = hbuf(ny), *dx = hbuf(nx);
			int32_t *idx = calloc(ny, sizeof *idx), *hidx = calloc(ny, sizeof *hidx);
			float *gx = dput(x, F(nx)), *gy = dput(y, F(ny)), *gdy = dput(dy, F(ny)),
			      *gdx = dput(dx, F(nx));
			int32_t *gidx = dput(idx, ny * sizeof *idx);
			CHECK(gx && gy && gdy && gdx && gidx);
			CPU_OK(op_maxpool_fwd(&CPU, &s, x, y, idx));
			GPU_OK(op_maxpool_fwd(&GPU, &s, gx, gy, gidx));
			float *h;
			GET(h, gy, ny);
			CHECK_EXACT(h, y, ny);
			free(h);
			int g = dget(hidx, gidx, ny * sizeof *hidx);
			CHECK(g == 1);
			size_t at = 0;
			CHECKF(same_i32(hidx, idx, ny, &at), "case %d: idx[%zu] %d vs CPU %d", ci, at, hidx[at],
			       idx[at]);
			CPU_OK(op_maxpool_bwd(&CPU, &s, dy, idx, dx, flags));
			GPU_OK(op_maxpool_bwd(&GPU, &s, gdy, gidx, gdx, flags));
			GET(h, gdx, nx);
			CHECK_ALLCLOSE(h, dx, nx, 1e-6, 1e-6);
			free(h);
			free(x), free(y), free(dy), free(dx), free(idx), free(hidx);
			dfree(gx), dfree(gy), dfree(gdy), dfree(gdx), dfree(gidx);
		}
}

TEST(cuda_global_pools_vs_cpu)
{
	static const int cases[][3] = {{2, 3, 49}, {1, 5, 1}, {4, 64, 7}, {2, 8, 1000}, {3, 2, 33}};
	for (int ci = 0; ci < 5; ci++)
		for (int flags = 0; flags <= OP_ACCUM; flags += OP_ACCUM) {
			const int N = cases[ci][0], C = cases[ci][1], HW = cases[ci][2];
			size_t nx = (size_t)N * C * HW, ny = (size_t)N * C;
			float *x = hbuf_ties(nx), *y = hbuf(ny), *dy = hbuf(ny), *dx = hbuf(nx);
			int32_t *idx = calloc(ny, sizeof *idx), *hidx = calloc(ny, sizeof *hidx);
			float *gx = dput(x, F(nx)), *gy = dput(y, F(ny)), *gdy = dput(dy, F(ny)),
			      *gdx = dput(dx, F(nx));
			int32_t *gidx = dput(idx, ny * sizeof *idx);
			CHECK(gx && gy && gdy && gdx && gidx);
			float *h;
			CPU_OK(op_gavgpool_fwd(&CPU, N, C, HW, x, y));
			GPU_OK(op_gavgpool_fwd(&GPU, N, C, HW, gx, gy));
			GET(h, gy, ny);
			CHECK_ALLCLOSE(h, y, ny, 1e-6, 1e-5);
			free(h);
			CPU_OK(op_gavgpool_bwd(&CPU, N, C, HW, dy, dx, flags));
			GPU_OK(op_gavgpool_bwd(&GPU, N, C, HW, gdy, gdx, flags));
			GET(h, gdx, nx);
			CHECK_ALLCLOSE(h, dx, nx, 1e-7, 1e-6);
			free(h);
			CPU_OK(op_gmaxpool_fwd(&CPU, N, C, HW, x, y, idx));
			GPU_OK(op_gmaxpool_fwd(&GPU, N, C, HW, gx, gy, gidx));
			GET(h, gy, ny);
			CHECK_EXACT(h, y, ny);
			free(h);
			CHECK(dget(hidx, gidx, ny * sizeof *hidx) == 1);
			size_t at = 0;
			CHECKF(same_i32(hidx, idx, ny, &at), "case %d: idx[%zu] %d vs CPU %d", ci, at, hidx[at],
			       idx[at]);
			CPU_OK(op_gmaxpool_bwd(&CPU, N, C, HW, dy, idx, dx, flags));
			GPU_OK(op_gmaxpool_bwd(&GPU, N, C, HW, gdy, gidx, gdx, flags));
			GET(h, gdx, nx);
			CHECK_EXACT(h, dx, nx);
			free(h);
			free(x), free(y), free(dy), free(dx), free(idx), free(hidx);
			dfree(gx), dfree(gy), dfree(gdy), dfree(gdx), dfree(gidx);
		}
}

TEST(cuda_adavgpool_vs_cpu)
{
	/* N C H W P Q: divisible, overlapping windows (H % P != 0), upsampling (P > H) */
	static const int cases[][6] = {
		{2, 3, 14, 14, 7, 7}, {1, 4, 10, 7, 3, 4}, {2, 2, 3, 5, 5, 7}, {1, 8, 7, 7, 1, 1}};
	for (int ci = 0; ci < 4; ci++)
		for (int flags = 0; flags <= OP_ACCUM; flags += OP_ACCUM) {
			const int *c = cases[ci];
			pool_shape s = {c[0], c[1], c[2], c[3], 0, 0, 0, 0, c[4], c[5]};
			size_t nx = (size_t)s.N * s.C * s.H * s.W, ny = (size_t)s.N * s.C * s.P * s.Q;
			float *x = hbuf(nx), *y = hbuf(ny), *dy = hbuf(ny), *dx = hbuf(nx);
			float *gx = dput(x, F(nx)), *gy = dput(y, F(ny)), *gdy = dput(dy, F(ny)),
			      *gdx = dput(dx, F(nx));
			CHECK(gx && gy && gdy && gdx);
			float *h;
			CPU_OK(op_adavgpool_fwd(&CPU, &s, x, y));
			GPU_OK(op_adavgpool_fwd(&GPU, &s, gx, gy));
			GET(h, gy, ny);
			CHECK_ALLCLOSE(h, y, ny, 1e-6, 1e-5);
			free(h);
			CPU_OK(op_adavgpool_bwd(&CPU, &s, dy, dx, flags));
			GPU_OK(op_adavgpool_bwd(&GPU, &s, gdy, gdx, flags));
			GET(h, gdx, nx);
			CHECK_ALLCLOSE(h, dx, nx, 1e-6, 1e-5);
			free(h);
			free(x), free(y), free(dy), free(dx);
			dfree(gx), dfree(gy), dfree(gdy), dfree(gdx);
		}
}

/* ---- dense ---------------------------------------------------------------------------------------------------- */

TEST(cuda_linear_vs_cpu)
{
	static const int cases[][3] = {{1, 1, 1}, {4, 7, 5}, {32, 512, 128}, {17, 300, 3}, {128, 64, 256}};
	for (int ci = 0; ci < 5; ci++)
		for (int v = 0; v < 4; v++) {
			const int M = cases[ci][0], Fd = cases[ci][1], O = cases[ci][2];
			const int flags = (v & 1) ? OP_ACCUM : 0, with_b = (v >> 1) & 1;
			size_t nx = (size_t)M * Fd, nw = (size_t)O * Fd, ny = (size_t)M * O;
			float *x = hbuf(nx), *w = hbuf(nw), *b = hbuf(O), *y = hbuf(ny), *dy = hbuf(ny), *dx = hbuf(nx),
			      *dw = hbuf(nw), *db = hbuf(O);
			float *gx = dput(x, F(nx)), *gw = dput(w, F(nw)), *gb = dput(b, F(O)), *gy = dput(y, F(ny)),
			      *gdy = dput(dy, F(ny)), *gdx = dput(dx, F(nx)), *gdw = dput(dw, F(nw)),
			      *gdb = dput(db, F(O));
			CHECK(gx && gw && gb && gy && gdy && gdx && gdw && gdb);
			float *h;
			CPU_OK(op_linear_fwd(&CPU, M, Fd, O, x, w, with_b ? b : NULL, y, flags));
			GPU_OK(op_linear_fwd(&GPU, M, Fd, O, gx, gw, with_b ? gb : NULL, gy, flags));
			GET(h, gy, ny);
			CHECK_ALLCLOSE(h, y, ny, LIN_TOL, LIN_TOL);
			free(h);
			/* v selects which gradients are asked for: all, or dx only / dw and db only */
			const int want_dx = v != 2, want_dwb = v != 1;
			CPU_OK(op_linear_bwd(&CPU, M, Fd, O, x, w, dy, want_dx ? dx : NULL, want_dwb ? dw : NULL,
					     want_dwb ? db : NULL));
			GPU_OK(op_linear_bwd(&GPU, M, Fd, O, gx, gw, gdy, want_dx ? gdx : NULL, want_dwb ? gdw : NULL,
					     want_dwb ? gdb : NULL));
			GET(h, gdx, nx);
			CHECK_ALLCLOSE(h, dx, nx, LIN_TOL, LIN_TOL);
			free(h);
			GET(h, gdw, nw);
			CHECK_ALLCLOSE(h, dw, nw, LIN_TOL, LIN_TOL);
			free(h);
			GET(h, gdb, O);
			CHECK_ALLCLOSE(h, db, O, 1e-5, 1e-5);
			free(h);
			free(x), free(w), free(b), free(y), free(dy), free(dx), free(dw), free(db);
			dfree(gx), dfree(gw), dfree(gb), dfree(gy), dfree(gdy), dfree(gdx), dfree(gdw), dfree(gdb);
		}
}

/* ---- context ---------------------------------------------------------------------------------------------------- */

TEST(cuda_trunk_context_two_independent)
{
	/* two contexts never share a cache: the same conv shape on both, then one freed, the other still works */
	op_ctx b;
	CHECKF(op_ctx_init(&b, OP_DEVICE_CUDA, 1) == 0, "%s", b.err);
	conv_shape s = conv_shape_make(1, 4, 8, 8, 4, 3, 3, 1, 1);
	size_t nx = 256, nw = 144;
	float *x = hbuf(nx), *w = hbuf(nw), *y0 = hbuf(nx), *y1 = hbuf(nx);
	float *gx = dput(x, F(nx)), *gw = dput(w, F(nw)), *gy = dput(y0, F(nx));
	int ok = gx && gw && gy && op_conv2d_fwd(&b, &s, gx, gw, NULL, gy, 0) == 0 && op_ctx_sync(&b) == 0;
	op_ctx_free(&b);
	CHECKF(ok, "second context: %s", b.err);
	CHECK(b.backend == NULL);
	CHECK(dget(y0, gy, F(nx)) == 1);
	GPU_OK(op_conv2d_fwd(&GPU, &s, gx, gw, NULL, gy, 0));
	CHECK(dget(y1, gy, F(nx)) == 1);
	CHECK_ALLCLOSE(y1, y0, nx, CONV_TOL, CONV_TOL); /* each context times its own algorithm choice */
	free(x), free(w), free(y0), free(y1);
	dfree(gx), dfree(gw), dfree(gy);
}

/* ---- without a device ----------------------------------------------------------------------------------------- */

static char unavailable[256]; /* why there is no device: what op_ctx_init must say */

TEST(cuda_trunk_context_refused_without_device)
{
	op_ctx c;
	memset(&c, 0x5A, sizeof c);
	CHECK(op_ctx_init(&c, OP_DEVICE_CUDA, 1) == -1);
	CHECK(c.backend == NULL);
	CHECKF(strlen(c.err) > 0 && strlen(c.err) < sizeof c.err && !strchr(c.err, '\n'), "%s", c.err);
	CHECKF(strncmp(c.err, "avsl was built without CUDA", 27) == 0 ||
		       strncmp(c.err, "CUDA: no usable device: ", 24) == 0 || strcmp(c.err, "CUDA: no device found") == 0,
	       "%s", c.err);
	snprintf(unavailable, sizeof unavailable, "%s", c.err);
	/* the CPU context still works */
	CHECK(op_ctx_init(&c, OP_DEVICE_CPU, 1) == 0);
	op_ctx_free(&c);
}

TEST(cuda_trunk_device_present_as_required)
{
	CHECKF(0, "AVSL_DEVICE=cuda (make check-cuda) but op_ctx_init(OP_DEVICE_CUDA): %s", unavailable);
}

static int device_present(void)
{
	op_ctx c;
	if (op_ctx_init(&c, OP_DEVICE_CUDA, 1))
		return 0;
	op_ctx_free(&c);
	return 1;
}

int main(void)
{
	rng_init(&RNG, 4321, 1);
	const char *env = getenv("AVSL_DEVICE");
	const int required = env && strcmp(env, "cuda") == 0;
	if (!device_present()) {
		RUN(cuda_trunk_context_refused_without_device);
		if (required)
			RUN(cuda_trunk_device_present_as_required);
		else
			fprintf(stderr, "test_cuda_trunk: CUDA trunk op tests not run: %s\n",
				unavailable[0] ? unavailable : "no CUDA device");
		return harness_finish();
	}
	if (env && strcmp(env, "cpu") == 0) {
		fprintf(stderr, "test_cuda_trunk: AVSL_DEVICE=cpu: CUDA trunk op tests not run\n");
		return harness_finish();
	}
	/* AVSL_TF32=1 runs the CUDA side with TF32 tensor cores (the context flag the tools set from it) */
	const char *tf = getenv("AVSL_TF32");
	const int tf32 = tf && tf[0] == '1';
	if (tf32)
		CONV_TOL = LIN_TOL = 2e-2;
	if (op_ctx_init(&CPU, OP_DEVICE_CPU, 0)) {
		printf("FAIL cuda_trunk_cpu_context: %s\n", CPU.err);
		return 1;
	}
	if (op_ctx_init_on(&GPU, OP_DEVICE_CUDA, 0, 0, tf32 ? OP_CTX_TF32 : 0)) {
		printf("FAIL cuda_trunk_context: %s\n", GPU.err);
		return 1;
	}
	RUN(cuda_conv2d_vs_cpu);
	RUN(cuda_conv2d_bias_relu_accum_vs_cpu);
	RUN(cuda_conv2d_algorithm_cache_reuse);
	RUN(cuda_bn_fold_affine_vs_cpu);
	RUN(cuda_bn_train_fwd_vs_cpu);
	RUN(cuda_bn_bwd_vs_cpu);
	RUN(cuda_bn_bwd_frozen_without_x);
	RUN(cuda_relu_add_vs_cpu);
	RUN(cuda_layout_convert_and_fold_vs_cpu);
	RUN(cuda_maxpool_vs_cpu);
	RUN(cuda_global_pools_vs_cpu);
	RUN(cuda_adavgpool_vs_cpu);
	RUN(cuda_linear_vs_cpu);
	RUN(cuda_trunk_context_two_independent);
	op_ctx_free(&GPU);
	op_ctx_free(&CPU);
	return harness_finish();
}
