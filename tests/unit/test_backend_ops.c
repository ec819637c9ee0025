/* test_backend_ops.c: one generic test of every backend (ggml's test-backend-ops, in C). It walks the op table
 * (OPID_0 .. OPID_COUNT-1 of kernels/op_list.h) and runs each op on every available backend -- the CPU always, CUDA
 * when a device is there (on machines without a GPU: the host emulator, build/cuda-emu) -- on random shapes and
 * random inputs, comparing with the naive CPU reference (plain loops, double sums: kernels/cpu/naive_*.c, or the
 * formula written out below). Every output buffer lies between guard zones filled with a NaN pattern, checked
 * after the op: a write out of bounds fails the case. An op without a case here fails too, so a new op in the
 * list cannot go untested. A backend that does not implement an op must refuse it (op_supports).
 *
 * Tolerances: outputs are sums of at most a few hundred products of O(1) numbers computed in float (CPU: oneDNN
 * or OpenMP reductions in another order; CUDA: cuDNN/cuBLAS/tree reductions) against a double reference, so
 * errors are ~1e-6 relative; 1e-4 absolute + 1e-4 relative leaves margin without hiding an indexing bug (those
 * are O(1)). Arg-max indices and element-wise ops must match exactly. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "rng.h"

enum { GUARD = 64 };                       /* floats of guard on each side of a device buffer */
static const uint32_t GUARD_BITS = 0x7fc0dead; /* a NaN no op writes */

static op_ctx *CTX; /* the backend under test */
static rng RNG;
static char ERR[512];

/* ---- memory on the backend under test (host memory for the CPU), every buffer guarded ----------------------- */
enum { MAXBUF = 64 };
static void *bufs[MAXBUF], *hosts[MAXBUF];
static int nbufs, nhosts;

/* The backend's own memory functions (op_alloc, op_upload, op_download): a failure is a failed test. */
static void must(int rc)
{
	if (rc) {
		printf("FAIL backend_ops_%s_memory: %s\n", op_backend_name(CTX), CTX->err);
		exit(1);
	}
}

static void put(void *dst, const void *src, size_t bytes)
{
	must(op_upload(CTX, dst, src, bytes));
	must(op_ctx_sync(CTX));
}

static void get(void *dst, const void *src, size_t bytes) { must(op_download(CTX, dst, src, bytes)); }

static float *host(size_t n)
{
	float *p = malloc((n + 1) * sizeof *p);
	hosts[nhosts++] = p;
	return p;
}

/* A random host array (normal, sd 1). */
static float *hrand(size_t n)
{
	float *p = host(n);
	for (size_t i = 0; i < n; i++)
		p[i] = (float)rng_normal(&RNG);
	return p;
}

/* A backend buffer of n 4-byte elements holding h (or only guards/NaN pattern when h is NULL). */
static void *dev(const void *h, size_t n)
{
	size_t tot = n + 2 * GUARD;
	uint32_t *pat = malloc(tot * 4);
	for (size_t i = 0; i < tot; i++)
		pat[i] = GUARD_BITS;
	if (h)
		memcpy(pat + GUARD, h, n * 4);
	void *base = NULL;
	must(op_alloc(CTX, &base, tot * 4));
	put(base, pat, tot * 4);
	free(pat);
	bufs[nbufs++] = base;
	return (char *)base + GUARD * 4;
}

static void release(void)
{
	op_ctx_sync(CTX);
	for (int i = 0; i < nbufs; i++)
		op_free(CTX, bufs[i]);
	for (int i = 0; i < nhosts; i++)
		free(hosts[i]);
	nbufs = nhosts = 0;
}

/* Fetch d (n elements) and check its guards. Returns the host copy, or NULL with ERR. */
static void *fetch(const char *what, const void *d, size_t n)
{
	size_t tot = n + 2 * GUARD;
	uint32_t *all = malloc(tot * 4);
	get(all, (const char *)d - GUARD * 4, tot * 4);
	for (size_t i = 0; i < GUARD; i++)
		if (all[i] != GUARD_BITS || all[GUARD + n + i] != GUARD_BITS) {
			snprintf(ERR, sizeof ERR, "%s: written out of bounds (%s guard, element %zu)", what,
				 all[i] != GUARD_BITS ? "front" : "back", i);
			free(all);
			return NULL;
		}
	float *h = host(n);
	memcpy(h, all + GUARD, n * 4);
	free(all);
	return h;
}

/* 0 if the backend's d equals ref within atol + rtol |ref| (both 0: exactly), else -1 with ERR. */
static int same(const char *what, const void *d, const float *ref, size_t n, double atol, double rtol)
{
	const float *h = fetch(what, d, n);
	if (!h)
		return -1;
	for (size_t i = 0; i < n; i++) {
		double e = fabs((double)h[i] - ref[i]);
		if (!(e <= atol + rtol * fabs(ref[i])) && !(atol == 0 && memcmp(&h[i], &ref[i], 4) == 0)) {
			snprintf(ERR, sizeof ERR, "%s[%zu] = %.9g, reference %.9g", what, i, (double)h[i],
				 (double)ref[i]);
			return -1;
		}
	}
	return 0;
}

static int same_i32(const char *what, const void *d, const int32_t *ref, size_t n)
{
	const int32_t *h = fetch(what, d, n);
	if (!h)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (h[i] != ref[i]) {
			snprintf(ERR, sizeof ERR, "%s[%zu] = %d, reference %d", what, i, h[i], ref[i]);
			return -1;
		}
	return 0;
}

static float *copy(const float *h, size_t n)
{
	float *p = host(n);
	memcpy(p, h, n * sizeof *p);
	return p;
}

static int rint_in(int lo, int hi) { return lo + (int)rng_below(&RNG, (uint32_t)(hi - lo + 1)); }

#define TOL 1e-4, 1e-4
#define RUN_OP(call)                                                                                               \
	do {                                                                                                       \
		if ((call) != 0) {                                                                                 \
			snprintf(ERR, sizeof ERR, "%s", CTX->err);                                                 \
			return -1;                                                                                 \
		}                                                                                                  \
	} while (0)

/* ---- one case per op: random shape, the backend against the reference ---------------------------------------- */

static conv_shape rand_conv(void)
{
	int R = rint_in(1, 3), stride = rint_in(1, 2);
	return conv_shape_make(rint_in(1, 3), rint_in(1, 9), rint_in(R, 9), rint_in(R, 9), rint_in(1, 10), R, R,
			       stride, rint_in(0, R / 2));
}
static size_t conv_xn(const conv_shape *s) { return (size_t)s->N * s->C * s->H * s->W; }
static size_t conv_yn(const conv_shape *s) { return (size_t)s->N * s->K * s->P * s->Q; }
static size_t conv_wn(const conv_shape *s) { return (size_t)s->K * s->C * s->R * s->S; }

static int case_conv2d_fwd(void)
{
	conv_shape s = rand_conv();
	int flags = (int)rng_below(&RNG, 4); /* OP_ACCUM, OP_RELU */
	float *x = hrand(conv_xn(&s)), *w = hrand(conv_wn(&s)), *b = rng_below(&RNG, 2) ? hrand(s.K) : NULL,
	      *y = hrand(conv_yn(&s)), *ref = copy(y, conv_yn(&s));
	float *dy = dev(y, conv_yn(&s));
	RUN_OP(op_conv2d_fwd(CTX, &s, dev(x, conv_xn(&s)), dev(w, conv_wn(&s)), b ? dev(b, s.K) : NULL, dy, flags));
	conv2d_fwd_naive(&s, x, w, b, ref, flags);
	return same("y", dy, ref, conv_yn(&s), TOL);
}

static int case_conv2d_bwd_data(void)
{
	conv_shape s = rand_conv();
	int flags = (int)rng_below(&RNG, 2);
	float *g = hrand(conv_yn(&s)), *w = hrand(conv_wn(&s)), *dx = hrand(conv_xn(&s)), *ref = copy(dx, conv_xn(&s));
	float *ddx = dev(dx, conv_xn(&s));
	RUN_OP(op_conv2d_bwd_data(CTX, &s, dev(g, conv_yn(&s)), dev(w, conv_wn(&s)), ddx, flags));
	conv2d_bwd_data_naive(&s, g, w, ref, flags);
	return same("dx", ddx, ref, conv_xn(&s), TOL);
}

static int case_conv2d_bwd_weight(void)
{
	conv_shape s = rand_conv();
	int flags = (int)rng_below(&RNG, 2);
	float *x = hrand(conv_xn(&s)), *g = hrand(conv_yn(&s)), *dw = hrand(conv_wn(&s)), *ref = copy(dw, conv_wn(&s));
	float *ddw = dev(dw, conv_wn(&s));
	RUN_OP(op_conv2d_bwd_weight(CTX, &s, dev(x, conv_xn(&s)), dev(g, conv_yn(&s)), ddw, flags));
	conv2d_bwd_weight_naive(&s, x, g, ref, flags);
	return same("dw", ddw, ref, conv_wn(&s), TOL);
}

static int case_conv_fold_weights(void)
{
	int K = rint_in(1, 12);
	size_t CRS = (size_t)rint_in(1, 40);
	float *w = hrand(K * CRS), *sc = hrand(K), *ref = host(K * CRS);
	float *dw = dev(NULL, K * CRS);
	RUN_OP(op_conv_fold_weights(CTX, K, CRS, dev(w, K * CRS), dev(sc, K), dw));
	conv_fold_weights_naive(K, CRS, w, sc, ref);
	return same("w_out", dw, ref, K * CRS, 0, 0);
}

static int case_layout_convert(void)
{
	int N = rint_in(1, 3), C = rint_in(1, 19), HW = rint_in(1, 20), CB = (C + 7) / 8;
	int to_blocked = (int)rng_below(&RNG, 2);
	size_t np = (size_t)N * C * HW, nb = op_act_numel(N, C, HW, OP_NCHW8C);
	float *plain = hrand(np), *blocked = host(nb);
	for (size_t i = 0; i < nb; i++)
		blocked[i] = 0; /* padding channels hold zeros */
	for (int n = 0; n < N; n++)
		for (int c = 0; c < C; c++)
			for (int j = 0; j < HW; j++)
				blocked[(((size_t)n * CB + c / 8) * HW + j) * 8 + c % 8] = plain[((size_t)n * C + c) * HW + j];
	float *out = dev(NULL, to_blocked ? nb : np);
	if (to_blocked) {
		RUN_OP(op_layout_convert(CTX, N, C, HW, dev(plain, np), OP_NCHW, out, OP_NCHW8C, 0));
		return same("blocked", out, blocked, nb, 0, 0);
	}
	RUN_OP(op_layout_convert(CTX, N, C, HW, dev(blocked, nb), OP_NCHW8C, out, OP_NCHW, 0));
	return same("plain", out, plain, np, 0, 0);
}

static bn_shape rand_bn(void) { return (bn_shape){rint_in(1, 4), rint_in(1, 12), rint_in(1, 30), OP_NCHW}; }
static size_t bnn(const bn_shape *s) { return (size_t)s->N * s->C * s->HW; }
static float *positive(int n)
{
	float *p = hrand(n);
	for (int i = 0; i < n; i++)
		p[i] = 0.5f + fabsf(p[i]);
	return p;
}

static int case_bn_fold(void)
{
	int C = rint_in(1, 40);
	float eps = 1e-5f, *g = hrand(C), *b = hrand(C), *mu = hrand(C), *var = positive(C);
	float *rs = host(C), *rh = host(C), *ri = host(C);
	for (int c = 0; c < C; c++) {
		double is = 1.0 / sqrt((double)var[c] + eps);
		ri[c] = (float)is, rs[c] = (float)(g[c] * is), rh[c] = (float)(b[c] - mu[c] * (g[c] * is));
	}
	float *sc = dev(NULL, C), *sh = dev(NULL, C), *is = dev(NULL, C);
	RUN_OP(op_bn_fold(CTX, C, dev(g, C), dev(b, C), dev(mu, C), dev(var, C), eps, sc, sh, is));
	return same("scale", sc, rs, C, 1e-6, 1e-5) || same("shift", sh, rh, C, 1e-5, 1e-5) ||
	       same("invstd", is, ri, C, 1e-6, 1e-5);
}

static int case_affine_act_fwd(void)
{
	bn_shape s = rand_bn();
	size_t n = bnn(&s);
	int flags = (int)rng_below(&RNG, 2) * OP_RELU;
	float *x = hrand(n), *sc = hrand(s.C), *sh = hrand(s.C), *res = rng_below(&RNG, 2) ? hrand(n) : NULL;
	float *ref = host(n), *y = dev(NULL, n);
	RUN_OP(op_affine_act_fwd(CTX, &s, dev(x, n), dev(sc, s.C), dev(sh, s.C), res ? dev(res, n) : NULL, y, flags));
	affine_act_fwd_naive(&s, x, sc, sh, res, ref, flags);
	return same("y", y, ref, n, 1e-5, 1e-5);
}

static int case_bn_train_fwd(void)
{
	bn_shape s = rand_bn();
	size_t n = bnn(&s);
	int C = s.C, flags = (int)rng_below(&RNG, 2) * OP_RELU;
	float *x = hrand(n), *g = hrand(C), *b = hrand(C), *rm = hrand(C), *rv = positive(C);
	float *res = rng_below(&RNG, 2) ? hrand(n) : NULL;
	float *rrm = copy(rm, C), *rrv = copy(rv, C), *rmu = host(C), *ris = host(C), *ry = host(n);
	float *drm = dev(rm, C), *drv = dev(rv, C), *mu = dev(NULL, C), *is = dev(NULL, C), *y = dev(NULL, n);
	RUN_OP(op_bn_train_fwd(CTX, &s, dev(x, n), dev(g, C), dev(b, C), 1e-5f, 0.1f, drm, drv, mu, is,
			       dev(NULL, C), dev(NULL, C), res ? dev(res, n) : NULL, y, flags));
	bn_train_fwd_naive(&s, x, g, b, 1e-5f, 0.1f, rrm, rrv, rmu, ris, res, ry, flags);
	return same("y", y, ry, n, TOL) || same("mean", mu, rmu, C, TOL) || same("invstd", is, ris, C, TOL) ||
	       same("running_mean", drm, rrm, C, TOL) || same("running_var", drv, rrv, C, TOL);
}

static int case_bn_bwd(void)
{
	bn_shape s = rand_bn();
	size_t n = bnn(&s);
	int C = s.C, bs = (int)rng_below(&RNG, 2), relu = (int)rng_below(&RNG, 2), wres = (int)rng_below(&RNG, 2);
	float *x = hrand(n), *g = hrand(n), *ry = hrand(n), *ga = hrand(C), *mu = hrand(C), *is = positive(C);
	float *dg = hrand(C), *db = hrand(C), *rdg = copy(dg, C), *rdb = copy(db, C), *rdx = host(n), *rdres = host(n);
	int sums_only = !bs && rng_below(&RNG, 2); /* dx = NULL: the sums alone (the first half of --sync-bn) */
	float *ddx = sums_only ? NULL : dev(NULL, n), *ddres = wres ? dev(NULL, n) : NULL, *ddg = dev(dg, C);
	float *ddb = dev(db, C);
	RUN_OP(op_bn_bwd(CTX, &s, dev(x, n), dev(g, n), relu ? dev(ry, n) : NULL, dev(ga, C), dev(mu, C), dev(is, C),
			 bs, ddx, ddres, ddg, ddb));
	bn_bwd_naive(&s, x, g, relu ? ry : NULL, ga, mu, is, bs, rdx, wres ? rdres : NULL, rdg, rdb);
	return (!sums_only && same("dx", ddx, rdx, n, 1e-4, 1e-3)) || (wres && same("dres", ddres, rdres, n, 0, 0)) ||
	       same("dgamma", ddg, rdg, C, 1e-4, 1e-3) || same("dbeta", ddb, rdb, C, 1e-4, 1e-3);
}

static int case_bn_stats(void)
{
	bn_shape s = rand_bn();
	size_t n = bnn(&s);
	float *x = hrand(n), *rmu = host(s.C), *rm2 = host(s.C);
	for (size_t i = 0; i < n; i++)
		x[i] += 3; /* an offset: the squared deviations must be taken from the mean */
	float *mu = dev(NULL, s.C), *m2 = dev(NULL, s.C);
	RUN_OP(op_bn_stats(CTX, &s, dev(x, n), mu, m2));
	bn_stats_naive(&s, x, rmu, rm2);
	return same("mean", mu, rmu, s.C, TOL) || same("m2", m2, rm2, s.C, TOL);
}

static int case_bn_bwd_data(void)
{
	bn_shape s = rand_bn();
	size_t n = bnn(&s);
	int C = s.C, relu = (int)rng_below(&RNG, 2);
	double count = (double)n / C * rint_in(1, 3); /* this slice's values per channel, or those of 2-3 slices */
	float *x = hrand(n), *g = hrand(n), *ry = hrand(n), *ga = hrand(C), *mu = hrand(C), *is = positive(C);
	float *sg = hrand(C), *sgx = hrand(C), *rdx = host(n), *ddx = dev(NULL, n);
	RUN_OP(op_bn_bwd_data(CTX, &s, dev(x, n), dev(g, n), relu ? dev(ry, n) : NULL, dev(ga, C), dev(mu, C),
			      dev(is, C), dev(sg, C), dev(sgx, C), count, ddx));
	bn_bwd_data_naive(&s, x, g, relu ? ry : NULL, ga, mu, is, sg, sgx, count, rdx);
	return same("dx", ddx, rdx, n, 1e-4, 1e-3);
}

static int case_relu_fwd(void)
{
	size_t n = (size_t)rint_in(1, 3000);
	float *x = hrand(n), *ref = host(n), *y = dev(NULL, n);
	for (size_t i = 0; i < n; i++)
		ref[i] = x[i] > 0 ? x[i] : 0;
	RUN_OP(op_relu_fwd(CTX, n, dev(x, n), y));
	return same("y", y, ref, n, 0, 0);
}

static int case_relu_bwd(void)
{
	size_t n = (size_t)rint_in(1, 3000);
	int flags = (int)rng_below(&RNG, 2);
	float *y = hrand(n), *g = hrand(n), *dx = hrand(n), *ref = copy(dx, n), *ddx = dev(dx, n);
	for (size_t i = 0; i < n; i++)
		ref[i] = (flags ? ref[i] : 0) + (y[i] > 0 ? g[i] : 0);
	RUN_OP(op_relu_bwd(CTX, n, dev(y, n), dev(g, n), ddx, flags));
	return same("dx", ddx, ref, n, 0, 0);
}

static int case_add(void)
{
	size_t n = (size_t)rint_in(1, 3000);
	int flags = (int)rng_below(&RNG, 2) * OP_RELU;
	float *a = hrand(n), *b = hrand(n), *ref = host(n), *y = dev(NULL, n);
	for (size_t i = 0; i < n; i++) {
		float v = a[i] + b[i];
		ref[i] = (flags & OP_RELU) && v < 0 ? 0 : v;
	}
	RUN_OP(op_add(CTX, n, dev(a, n), dev(b, n), y, flags));
	return same("y", y, ref, n, 0, 0);
}

static pool_shape rand_pool(void)
{
	int R = rint_in(1, 3);
	return pool_shape_make(rint_in(1, 3), rint_in(1, 9), rint_in(R, 12), rint_in(R, 12), R, R, rint_in(1, 2),
			       rint_in(0, R / 2));
}
static size_t pin(const pool_shape *s) { return (size_t)s->N * s->C * s->H * s->W; }
static size_t pout(const pool_shape *s) { return (size_t)s->N * s->C * s->P * s->Q; }

static int case_maxpool_fwd(void)
{
	pool_shape s = rand_pool();
	float *x = hrand(pin(&s)), *ref = host(pout(&s)), *y = dev(NULL, pout(&s));
	int32_t *ridx = (int32_t *)host(pout(&s)), *idx = dev(NULL, pout(&s));
	RUN_OP(op_maxpool_fwd(CTX, &s, dev(x, pin(&s)), y, idx));
	maxpool_fwd_naive(&s, x, ref, ridx);
	return same("y", y, ref, pout(&s), 0, 0) || same_i32("idx", idx, ridx, pout(&s));
}

static int case_maxpool_bwd(void)
{
	pool_shape s = rand_pool();
	int flags = (int)rng_below(&RNG, 2);
	float *x = hrand(pin(&s)), *y = host(pout(&s)), *g = hrand(pout(&s)), *dx = hrand(pin(&s)),
	      *ref = copy(dx, pin(&s));
	int32_t *idx = (int32_t *)host(pout(&s));
	maxpool_fwd_naive(&s, x, y, idx);
	float *ddx = dev(dx, pin(&s));
	RUN_OP(op_maxpool_bwd(CTX, &s, dev(g, pout(&s)), dev(idx, pout(&s)), ddx, flags));
	maxpool_bwd_naive(&s, g, idx, ref, flags);
	return same("dx", ddx, ref, pin(&s), 1e-5, 1e-5);
}

static int case_gavgpool_fwd(void)
{
	int N = rint_in(1, 4), C = rint_in(1, 20), HW = rint_in(1, 60);
	float *x = hrand((size_t)N * C * HW), *ref = host(N * C), *y = dev(NULL, N * C);
	RUN_OP(op_gavgpool_fwd(CTX, N, C, HW, dev(x, (size_t)N * C * HW), y));
	gavgpool_fwd_naive(N, C, HW, x, ref);
	return same("y", y, ref, N * C, 1e-5, 1e-5);
}

static int case_gavgpool_bwd(void)
{
	int N = rint_in(1, 4), C = rint_in(1, 20), HW = rint_in(1, 60), flags = (int)rng_below(&RNG, 2);
	size_t n = (size_t)N * C * HW;
	float *g = hrand(N * C), *dx = hrand(n), *ref = copy(dx, n), *ddx = dev(dx, n);
	RUN_OP(op_gavgpool_bwd(CTX, N, C, HW, dev(g, N * C), ddx, flags));
	gavgpool_bwd_naive(N, C, HW, g, ref, flags);
	return same("dx", ddx, ref, n, 1e-6, 1e-5);
}

static int case_gmaxpool_fwd(void)
{
	int N = rint_in(1, 4), C = rint_in(1, 20), HW = rint_in(1, 60);
	size_t n = (size_t)N * C * HW;
	float *x = hrand(n), *ref = host(N * C), *y = dev(NULL, N * C);
	int32_t *ridx = (int32_t *)host(N * C), *idx = dev(NULL, N * C);
	RUN_OP(op_gmaxpool_fwd(CTX, N, C, HW, dev(x, n), y, idx));
	gmaxpool_fwd_naive(N, C, HW, x, ref, ridx);
	return same("y", y, ref, N * C, 0, 0) || same_i32("idx", idx, ridx, N * C);
}

static int case_gmaxpool_bwd(void)
{
	int N = rint_in(1, 4), C = rint_in(1, 20), HW = rint_in(1, 60), flags = (int)rng_below(&RNG, 2);
	size_t n = (size_t)N * C * HW;
	float *g = hrand(N * C), *dx = hrand(n), *ref = copy(dx, n), *ddx = dev(dx, n);
	int32_t *idx = (int32_t *)host(N * C);
	for (int i = 0; i < N * C; i++)
		idx[i] = (int32_t)rng_below(&RNG, (uint32_t)HW);
	RUN_OP(op_gmaxpool_bwd(CTX, N, C, HW, dev(g, N * C), dev(idx, N * C), ddx, flags));
	gmaxpool_bwd_naive(N, C, HW, g, idx, ref, flags);
	return same("dx", ddx, ref, n, 0, 0);
}

static pool_shape rand_adpool(void)
{
	pool_shape s = {.N = rint_in(1, 3), .C = rint_in(1, 8), .H = rint_in(1, 13), .W = rint_in(1, 13)};
	s.P = rint_in(1, s.H), s.Q = rint_in(1, s.W);
	return s;
}

static int case_adavgpool_fwd(void)
{
	pool_shape s = rand_adpool();
	float *x = hrand(pin(&s)), *ref = host(pout(&s)), *y = dev(NULL, pout(&s));
	RUN_OP(op_adavgpool_fwd(CTX, &s, dev(x, pin(&s)), y));
	adavgpool_fwd_naive(&s, x, ref);
	return same("y", y, ref, pout(&s), 1e-5, 1e-5);
}

static int case_adavgpool_bwd(void)
{
	pool_shape s = rand_adpool();
	int flags = (int)rng_below(&RNG, 2);
	float *g = hrand(pout(&s)), *dx = hrand(pin(&s)), *ref = copy(dx, pin(&s)), *ddx = dev(dx, pin(&s));
	RUN_OP(op_adavgpool_bwd(CTX, &s, dev(g, pout(&s)), ddx, flags));
	adavgpool_bwd_naive(&s, g, ref, flags);
	return same("dx", ddx, ref, pin(&s), 1e-5, 1e-5);
}

static int case_linear_fwd(void)
{
	int M = rint_in(1, 9), F = rint_in(1, 70), O = rint_in(1, 30), flags = (int)rng_below(&RNG, 2);
	float *x = hrand((size_t)M * F), *w = hrand((size_t)O * F), *b = rng_below(&RNG, 2) ? hrand(O) : NULL;
	float *y = hrand((size_t)M * O), *ref = copy(y, (size_t)M * O), *dy = dev(y, (size_t)M * O);
	RUN_OP(op_linear_fwd(CTX, M, F, O, dev(x, (size_t)M * F), dev(w, (size_t)O * F), b ? dev(b, O) : NULL, dy,
			     flags));
	linear_fwd_naive(M, F, O, x, w, b, ref, flags);
	return same("y", dy, ref, (size_t)M * O, TOL);
}

static int case_linear_bwd(void)
{
	int M = rint_in(1, 9), F = rint_in(1, 70), O = rint_in(1, 30);
	size_t nx = (size_t)M * F, nw = (size_t)O * F, ny = (size_t)M * O;
	float *x = hrand(nx), *w = hrand(nw), *g = hrand(ny), *dw = hrand(nw), *db = hrand(O);
	float *rdx = host(nx), *rdw = copy(dw, nw), *rdb = copy(db, O);
	float *ddx = dev(NULL, nx), *ddw = dev(dw, nw), *ddb = dev(db, O);
	RUN_OP(op_linear_bwd(CTX, M, F, O, dev(x, nx), dev(w, nw), dev(g, ny), ddx, ddw, ddb));
	linear_bwd_naive(M, F, O, x, w, g, rdx, rdw, rdb);
	return same("dx", ddx, rdx, nx, TOL) || same("dw", ddw, rdw, nw, TOL) || same("db", ddb, rdb, O, TOL);
}

/* ---- AVSL ops: references written out in double below, or the kernels' naive twins --------------------------- */

/* Levels as backend arrays: dev copies of the host arrays h[l] (n floats each). */
static void dev_levels(int L, float *const *h, size_t n, const float **d)
{
	for (int l = 0; l < L; l++)
		d[l] = dev(h[l], n);
}

/* Reference S_hat of a link (method §3.3 step 4): the k-th largest of max(L, 0) per column by counting. */
static void ref_link_prepare(const float *Lk, int D, int k, float *S)
{
	for (int n = 0; n < D; n++) {
		float tau = 0;
		for (int m = 0; m < D; m++) { /* the k-th largest: a value with < k larger ones and >= k not smaller */
			float r = fmaxf(Lk[(size_t)m * D + n], 0.0f);
			int above = 0, atleast = 0;
			for (int j = 0; j < D; j++) {
				float o = fmaxf(Lk[(size_t)j * D + n], 0.0f);
				above += o > r, atleast += o >= r;
			}
			if (above < k && atleast >= k)
				tau = r;
		}
		double sum = 0;
		for (int m = 0; m < D; m++) {
			float r = fmaxf(Lk[(size_t)m * D + n], 0.0f);
			S[(size_t)m * D + n] = r >= tau - 1e-8f ? r : 0.0f;
			sum += S[(size_t)m * D + n];
		}
		for (int m = 0; m < D; m++)
			S[(size_t)m * D + n] = (float)(S[(size_t)m * D + n] / (sum + 1e-8));
	}
}

static double ref_pnorm(const float *x, int D, double p)
{
	double s = 0;
	for (int j = 0; j < D; j++)
		s += pow(fabs((double)x[j]), p);
	return pow(s, 1.0 / p);
}

static float rand_p(void) { return rng_below(&RNG, 2) ? 2.0f : 1.5f; }

static int case_avsl_link_prepare(void)
{
	int D = rint_in(1, 40), k = rint_in(1, D);
	float *Lk = hrand((size_t)D * D), *ref = host((size_t)D * D), *s = dev(NULL, (size_t)D * D);
	RUN_OP(op_avsl_link_prepare(CTX, dev(Lk, (size_t)D * D), D, k, s));
	ref_link_prepare(Lk, D, k, ref);
	return same("s_hat", s, ref, (size_t)D * D, 1e-6, 1e-5);
}

static int case_avsl_normalize_rows(void)
{
	int n = rint_in(1, 9), D = rint_in(1, 100);
	float p = rand_p(), *x = hrand((size_t)n * D), *ref = copy(x, (size_t)n * D), *dx = dev(x, (size_t)n * D);
	for (int j = 0; j < D; j++)
		x[j] = ref[j] = 0; /* row 0 zero: the 1e-12 clamp */
	put(dx, x, (size_t)D * 4);
	for (int i = 0; i < n; i++) {
		double nr = fmax(ref_pnorm(ref + (size_t)i * D, D, p), 1e-12);
		for (int j = 0; j < D; j++)
			ref[(size_t)i * D + j] = (float)(ref[(size_t)i * D + j] / nr);
	}
	RUN_OP(op_avsl_normalize_rows(CTX, dx, n, D, p));
	return same("x", dx, ref, (size_t)n * D, 1e-6, 1e-5);
}

static int case_avsl_normalize_rows_bwd(void)
{
	int n = rint_in(1, 9), D = rint_in(1, 100);
	size_t nn = (size_t)n * D;
	float p = rand_p(), *x = hrand(nn), *g = hrand(nn), *ref = host(nn), *dx = dev(NULL, nn);
	for (int i = 0; i < n; i++) { /* the Jacobian of x / ||x||_p, in double */
		const float *xr = x + (size_t)i * D, *gr = g + (size_t)i * D;
		double nu = ref_pnorm(xr, D, p), gx = 0;
		for (int j = 0; j < D; j++)
			gx += (double)gr[j] * xr[j];
		for (int j = 0; j < D; j++) {
			double sg = xr[j] > 0 ? 1 : xr[j] < 0 ? -1 : 0;
			double dn = sg * pow(fabs((double)xr[j]), p - 1) / pow(nu, p - 1);
			ref[(size_t)i * D + j] = (float)(gr[j] / nu - gx / (nu * nu) * dn);
		}
	}
	RUN_OP(op_avsl_normalize_rows_bwd(CTX, dev(x, nn), dev(g, nn), n, D, p, dx));
	return same("dx", dx, ref, nn, 1e-4, 1e-4);
}

/* A random collector and the row/column embeddings of a tile, on the host (h*) and the backend (d*). */
typedef struct {
	int L, D, R, C;
	avsl_collector_view hv, dv;
	float *x[AVSL_MAX_LEVELS], *u[AVSL_MAX_LEVELS], *y[AVSL_MAX_LEVELS], *v[AVSL_MAX_LEVELS];
	const float *dx[AVSL_MAX_LEVELS], *du[AVSL_MAX_LEVELS], *dy[AVSL_MAX_LEVELS], *dvv[AVSL_MAX_LEVELS];
} tile_in;

static void tile_make(tile_in *t, int R, int C)
{
	memset(t, 0, sizeof *t);
	t->L = rint_in(1, 3), t->D = rint_in(1, 24), t->R = R, t->C = C;
	int L = t->L, D = t->D;
	t->hv.levels = t->dv.levels = L;
	t->hv.dim = t->dv.dim = D;
	t->hv.gamma_p = t->dv.gamma_p = 10.0f;
	t->hv.p = t->dv.p = rand_p();
	for (int l = 0; l < L; l++) {
		float *a = hrand(D), *b = hrand(D);
		t->hv.alpha[l] = a, t->hv.beta[l] = b;
		t->dv.alpha[l] = dev(a, D), t->dv.beta[l] = dev(b, D);
		if (l + 1 < L) {
			float *s = host((size_t)D * D);
			ref_link_prepare(hrand((size_t)D * D), D, rint_in(1, D), s);
			t->hv.s_hat[l] = s, t->dv.s_hat[l] = dev(s, (size_t)D * D);
		}
		t->x[l] = hrand((size_t)R * D), t->y[l] = hrand((size_t)C * D);
		t->u[l] = positive(R * D), t->v[l] = positive(C * D);
		for (size_t i = 0; i < (size_t)R * D; i++)
			t->u[l][i] *= 0.05f;
		for (size_t i = 0; i < (size_t)C * D; i++)
			t->v[l][i] *= 0.05f;
	}
	dev_levels(L, t->x, (size_t)R * D, t->dx);
	dev_levels(L, t->u, (size_t)R * D, t->du);
	dev_levels(L, t->y, (size_t)C * D, t->dy);
	dev_levels(L, t->v, (size_t)C * D, t->dvv);
}
#define TILE_H(t) (const float *const *)(t).x, (const float *const *)(t).u
#define TILE_HC(t) (const float *const *)(t).y, (const float *const *)(t).v

static int case_avsl_dist_tile(void)
{
	tile_in t;
	tile_make(&t, rint_in(1, 7), rint_in(1, 7));
	int64_t ldo = t.C + rint_in(0, 3);
	float *ref = host((size_t)t.R * ldo), *out = dev(NULL, (size_t)t.R * ldo);
	for (size_t i = 0; i < (size_t)t.R * ldo; i++)
		ref[i] = __builtin_nanf("0x1dead"); /* the padding between rows stays untouched */
	put(out, ref, (size_t)t.R * ldo * 4);
	RUN_OP(op_avsl_dist_tile(CTX, &t.dv, t.R, t.dx, t.du, t.C, t.dy, t.dvv, out, ldo));
	avsl_dist_tile_naive(&t.hv, t.R, TILE_H(t), t.C, TILE_HC(t), ref, ldo);
	const float *h = fetch("out", out, (size_t)t.R * ldo);
	if (!h)
		return -1;
	for (int r = 0; r < t.R; r++)
		for (int64_t c = 0; c < ldo; c++) {
			size_t i = (size_t)r * ldo + c;
			int pad = c >= t.C;
			int ok = pad ? memcmp(&h[i], &ref[i], 4) == 0 : fabs(h[i] - ref[i]) <= 1e-4 + 1e-4 * fabs(ref[i]);
			if (!ok) {
				snprintf(ERR, sizeof ERR, "out[%d,%lld] = %.9g, reference %.9g", r, (long long)c, h[i],
					 ref[i]);
				return -1;
			}
		}
	return 0;
}

/* op_avsl_dist_plan_new, op_avsl_dist_gather and op_avsl_dist_plan_free together: gathered columns (repeats and
 * any order) against the naive distance on the gathered copy. */
static int case_avsl_dist_gather(void)
{
	tile_in t;
	int n = rint_in(1, 9), C = rint_in(1, 9);
	tile_make(&t, rint_in(1, 5), n);
	int32_t *idx = (int32_t *)host(C);
	float *gy[AVSL_MAX_LEVELS], *gv[AVSL_MAX_LEVELS];
	for (int q = 0; q < C; q++)
		idx[q] = (int32_t)rng_below(&RNG, (uint32_t)n);
	for (int l = 0; l < t.L; l++) {
		gy[l] = host((size_t)C * t.D), gv[l] = host((size_t)C * t.D);
		for (int q = 0; q < C; q++) {
			memcpy(gy[l] + (size_t)q * t.D, t.y[l] + (size_t)idx[q] * t.D, t.D * sizeof(float));
			memcpy(gv[l] + (size_t)q * t.D, t.v[l] + (size_t)idx[q] * t.D, t.D * sizeof(float));
		}
	}
	float *ref = host((size_t)t.R * C), *out = dev(NULL, (size_t)t.R * C);
	avsl_dist_plan *plan = NULL;
	RUN_OP(op_avsl_dist_plan_new(CTX, &t.dv, &plan));
	int rc = op_avsl_dist_gather(CTX, plan, t.R, t.dx, t.du, C, dev(idx, C), t.dy, t.dvv, out, C);
	if (rc)
		snprintf(ERR, sizeof ERR, "%s", CTX->err);
	RUN_OP(op_avsl_dist_plan_free(CTX, plan));
	if (rc)
		return -1;
	avsl_dist_tile_naive(&t.hv, t.R, TILE_H(t), C, (const float *const *)gy, (const float *const *)gv, ref, C);
	return same("out", out, ref, (size_t)t.R * C, TOL);
}

static double ref_pdiff(float a, float b, double p) { return pow(fabs((double)a - b), p); }
static double ref_pdiff_grad(float a, float b, double p)
{
	double d = (double)a - b;
	return p * pow(fabs(d), p - 1) * (d > 0 ? 1 : d < 0 ? -1 : 0);
}

static void ref_level_dist(int R, const float *x, int C, const float *y, int D, float p, float *out, int64_t ldo)
{
	for (int r = 0; r < R; r++)
		for (int q = 0; q < C; q++) {
			double s = 0;
			for (int n = 0; n < D; n++)
				s += ref_pdiff(x[(size_t)r * D + n], y[(size_t)q * D + n], p);
			out[(size_t)r * ldo + q] = (float)s;
		}
}

static int case_avsl_level_dist_tile(void)
{
	int R = rint_in(1, 9), C = rint_in(1, 9), D = rint_in(1, 60);
	float p = rand_p(), *x = hrand((size_t)R * D), *y = hrand((size_t)C * D), *ref = host((size_t)R * C);
	float *out = dev(NULL, (size_t)R * C);
	RUN_OP(op_avsl_level_dist_tile(CTX, R, dev(x, (size_t)R * D), C, dev(y, (size_t)C * D), D, p, out, C));
	ref_level_dist(R, x, C, y, D, p, ref, C);
	return same("out", out, ref, (size_t)R * C, TOL);
}

static int case_avsl_pool_fwd(void)
{
	int N = rint_in(1, 4), C = rint_in(1, 20), HW = rint_in(1, 60);
	size_t n = (size_t)N * C * HW;
	float *F = hrand(n), *rg = host(N * C), *g = dev(NULL, N * C);
	int32_t *ram = (int32_t *)host(N * C), *am = dev(NULL, N * C);
	if (rng_below(&RNG, 2)) /* small integers: ties, so the first maximum must win across a parallel scan */
		for (size_t i = 0; i < n; i++)
			F[i] = rintf(F[i]);
	for (int i = 0; i < N * C; i++) {
		const float *f = F + (size_t)i * HW;
		double s = 0;
		int a = 0;
		for (int j = 0; j < HW; j++)
			s += f[j], a = f[j] > f[a] ? j : a;
		rg[i] = (float)(s / HW + f[a]), ram[i] = a;
	}
	RUN_OP(op_avsl_pool_fwd(CTX, dev(F, n), N, C, HW, g, am));
	return same("g", g, rg, N * C, 1e-5, 1e-5) || same_i32("argmax", am, ram, N * C);
}

static int case_avsl_pool_bwd(void)
{
	int N = rint_in(1, 4), C = rint_in(1, 20), HW = rint_in(1, 60);
	size_t n = (size_t)N * C * HW;
	float *dg = hrand(N * C), *ref = host(n), *dF = dev(NULL, n);
	int32_t *am = (int32_t *)host(N * C);
	for (int i = 0; i < N * C; i++) {
		am[i] = (int32_t)rng_below(&RNG, (uint32_t)HW);
		for (int j = 0; j < HW; j++)
			ref[(size_t)i * HW + j] = (float)((double)dg[i] / HW + (j == am[i] ? dg[i] : 0.0));
	}
	RUN_OP(op_avsl_pool_bwd(CTX, dev(dg, N * C), dev(am, N * C), N, C, HW, dF));
	return same("dF", dF, ref, n, 1e-6, 1e-5);
}

static int case_avsl_cam_fwd(void)
{
	int N = rint_in(1, 3), C = rint_in(1, 20), HW = rint_in(1, 30), D = rint_in(1, 20);
	size_t nf = (size_t)N * C * HW, na = (size_t)N * D * HW;
	float *F = hrand(nf), *W = hrand((size_t)D * C), *b = hrand(D), *ref = host(na), *A = dev(NULL, na);
	int32_t *am = (int32_t *)host(N * C);
	for (int i = 0; i < N * C; i++)
		am[i] = (int32_t)rng_below(&RNG, (uint32_t)HW);
	RUN_OP(op_avsl_cam_fwd(CTX, dev(F, nf), dev(am, N * C), dev(W, (size_t)D * C), dev(b, D), N, C, HW, D, A));
	avsl_cam_fwd_naive(F, am, W, b, N, C, HW, D, ref);
	return same("A", A, ref, na, 1e-4, 1e-4);
}

static int case_avsl_certainty(void)
{
	int N = rint_in(1, 3), D = rint_in(1, 12), H = rint_in(1, 9), W = rint_in(1, 9), HW = H * W;
	size_t na = (size_t)N * D * HW;
	float *A = hrand(na), *ref = host(N * D), *u = dev(NULL, N * D);
	for (int i = 0; i < N * D; i++) {
		double q[81], l1 = 0, mean = 0, ss = 0;
		const float *a = A + (size_t)i * HW;
		for (int h = 0; h < H; h++) {
			double mn = a[h * W];
			for (int w = 0; w < W; w++)
				mn = fmin(mn, a[h * W + w]);
			for (int w = 0; w < W; w++)
				q[h * W + w] = a[h * W + w] - mn, l1 += q[h * W + w];
		}
		for (int j = 0; j < HW; j++)
			mean += q[j] / fmax(l1, 1e-12) / HW;
		for (int j = 0; j < HW; j++)
			ss += (q[j] / fmax(l1, 1e-12) - mean) * (q[j] / fmax(l1, 1e-12) - mean);
		ref[i] = HW > 1 ? (float)sqrt(ss / (HW - 1)) : 0.0f;
	}
	RUN_OP(op_avsl_certainty(CTX, dev(A, na), N, D, H, W, u));
	return same("u", u, ref, N * D, 1e-6, 1e-4);
}

static int case_avsl_link_batch(void)
{
	int N = rint_in(1, 3), D = rint_in(1, 12), Hh = rint_in(1, 5), Wh = rint_in(1, 5);
	int Hl = rint_in(Hh, 11), Wl = rint_in(Wh, 11), M = Hh * Wh;
	size_t nl = (size_t)N * D * Hl * Wl, nh = (size_t)N * D * M;
	float *lo = hrand(nl), *hi = hrand(nh), *ref = host((size_t)D * D), *link = dev(NULL, (size_t)D * D);
	double *Lo = calloc(nh, sizeof *Lo), *Hi = calloc(nh, sizeof *Hi);
	for (size_t bc = 0; bc < (size_t)N * D; bc++) { /* adaptive average pool (torch cells), then L2 over space */
		double nl2 = 0, nh2 = 0;
		for (int p = 0; p < Hh; p++)
			for (int q = 0; q < Wh; q++) {
				int h0 = p * Hl / Hh, h1 = ((p + 1) * Hl + Hh - 1) / Hh;
				int w0 = q * Wl / Wh, w1 = ((q + 1) * Wl + Wh - 1) / Wh;
				double s = 0;
				for (int h = h0; h < h1; h++)
					for (int w = w0; w < w1; w++)
						s += lo[bc * Hl * Wl + (size_t)h * Wl + w];
				Lo[bc * M + p * Wh + q] = s / ((h1 - h0) * (w1 - w0));
			}
		for (int j = 0; j < M; j++)
			Hi[bc * M + j] = hi[bc * M + j], nl2 += Lo[bc * M + j] * Lo[bc * M + j],
				    nh2 += Hi[bc * M + j] * Hi[bc * M + j];
		for (int j = 0; j < M; j++)
			Lo[bc * M + j] /= fmax(sqrt(nl2), 1e-12), Hi[bc * M + j] /= fmax(sqrt(nh2), 1e-12);
	}
	for (int m = 0; m < D; m++)
		for (int n = 0; n < D; n++) {
			double s = 0;
			for (int b = 0; b < N; b++)
				for (int j = 0; j < M; j++)
					s += Lo[((size_t)b * D + m) * M + j] * Hi[((size_t)b * D + n) * M + j];
			ref[(size_t)m * D + n] = (float)(s / N);
		}
	free(Lo), free(Hi);
	RUN_OP(op_avsl_link_batch(CTX, dev(lo, nl), Hl, Wl, dev(hi, nh), Hh, Wh, N, D, link));
	return same("link", link, ref, (size_t)D * D, 1e-5, 1e-4);
}

static int case_avsl_collector_fwd(void)
{
	tile_in t;
	tile_make(&t, rint_in(1, 7), rint_in(1, 7));
	size_t n = (size_t)t.R * t.C;
	int with_df = (int)rng_below(&RNG, 2) || t.L == 1;
	float *rdf = host(n), *df = with_df ? dev(NULL, n) : NULL, *rdl[AVSL_MAX_LEVELS], *dl[AVSL_MAX_LEVELS] = {0};
	for (int l = 0; l < t.L; l++)
		if (rng_below(&RNG, 4)) /* some level outputs not asked for */
			rdl[l] = host(n), dl[l] = dev(NULL, n);
	RUN_OP(op_avsl_collector_fwd(CTX, &t.dv, t.R, t.dx, t.du, t.C, t.dy, t.dvv, df, dl));
	avsl_dist_tile_naive(&t.hv, t.R, TILE_H(t), t.C, TILE_HC(t), rdf, t.C);
	if (with_df && same("df", df, rdf, n, TOL))
		return -1;
	for (int l = 0; l < t.L; l++) {
		if (!dl[l])
			continue;
		ref_level_dist(t.R, t.x[l], t.C, t.y[l], t.D, t.hv.p, rdl[l], t.C);
		if (same("dl", dl[l], rdl[l], n, TOL))
			return -1;
	}
	return 0;
}

/* The collector backward written out pair by pair in double (method §3.4 with the spec's routing). */
static void ref_collector_bwd(const tile_in *t, const float *Gf, float *const *Gl, double *dx, double *dy,
			      double *da, double *db)
{
	const int L = t->L, D = t->D, R = t->R, C = t->C;
	const double p = t->hv.p, gam = t->hv.gamma_p;
	for (int l = 0; l < L; l++)
		for (int r = 0; r < R; r++)
			for (int q = 0; q < C; q++)
				for (int n = 0; n < D; n++) {
					double g = Gl[l] ? Gl[l][(size_t)r * C + q] : 0;
					size_t ir = (size_t)r * D + n, iq = (size_t)q * D + n;
					double d = g * ref_pdiff_grad(t->x[l][ir], t->y[l][iq], p);
					dx[((size_t)l * R + r) * D + n] += d;
					dy[((size_t)l * C + q) * D + n] -= d;
				}
	if (!Gf || L < 2)
		return;
	double H[AVSL_MAX_LEVELS][24], T[AVSL_MAX_LEVELS][24], P[AVSL_MAX_LEVELS][24], gH[24], dT[24];
	for (int r = 0; r < R; r++)
		for (int q = 0; q < C; q++) {
			for (int n = 0; n < D; n++)
				H[0][n] = ref_pdiff(t->x[0][(size_t)r * D + n], t->y[0][(size_t)q * D + n], p);
			for (int l = 1; l < L; l++)
				for (int n = 0; n < D; n++) {
					size_t ir = (size_t)r * D + n, iq = (size_t)q * D + n;
					double s = 0;
					for (int m = 0; m < D; m++)
						s += t->hv.s_hat[l - 1][(size_t)m * D + n] * H[l - 1][m];
					double uv = (double)t->u[l][ir] * t->v[l][iq];
					double z = gam * (uv * t->hv.alpha[l][n] + t->hv.beta[l][n]);
					double pi = 1 / (1 + exp(-z)), dl = ref_pdiff(t->x[l][ir], t->y[l][iq], p);
					T[l][n] = s, P[l][n] = pi, H[l][n] = pi * dl + (1 - pi) * s;
				}
			for (int n = 0; n < D; n++)
				gH[n] = Gf[(size_t)r * C + q];
			for (int l = L - 1; l >= 1; l--) {
				for (int n = 0; n < D; n++) {
					size_t ir = (size_t)r * D + n, iq = (size_t)q * D + n;
					double pi = P[l][n], dl = ref_pdiff(t->x[l][ir], t->y[l][iq], p);
					double dz = gH[n] * (dl - T[l][n]) * pi * (1 - pi) * gam;
					dT[n] = gH[n] * (1 - pi);
					da[(size_t)l * D + n] += dz * t->u[l][ir] * t->v[l][iq];
					db[(size_t)l * D + n] += dz;
				}
				for (int m = 0; m < D; m++) {
					gH[m] = 0;
					for (int n = 0; n < D; n++)
						gH[m] += t->hv.s_hat[l - 1][(size_t)m * D + n] * dT[n];
				}
			}
		}
}

static float *to_float(const double *d, size_t n)
{
	float *h = host(n);
	for (size_t i = 0; i < n; i++)
		h[i] = (float)d[i];
	return h;
}

static int case_avsl_collector_bwd(void)
{
	tile_in t;
	tile_make(&t, rint_in(1, 6), rint_in(1, 6));
	const int L = t.L, D = t.D, R = t.R, C = t.C;
	size_t n = (size_t)R * C;
	float *Gf = rng_below(&RNG, 4) ? hrand(n) : NULL, *Gl[AVSL_MAX_LEVELS] = {0};
	const float *dGl[AVSL_MAX_LEVELS] = {0};
	float *ddx[AVSL_MAX_LEVELS] = {0}, *ddy[AVSL_MAX_LEVELS] = {0}, *dda[AVSL_MAX_LEVELS] = {0},
	      *ddb[AVSL_MAX_LEVELS] = {0}, *a0[AVSL_MAX_LEVELS] = {0}, *b0[AVSL_MAX_LEVELS] = {0};
	double *rx = calloc((size_t)L * R * D, sizeof *rx), *ry = calloc((size_t)L * C * D, sizeof *ry);
	double *ra = calloc((size_t)L * D, sizeof *ra), *rb = calloc((size_t)L * D, sizeof *rb);
	for (int l = 0; l < L; l++) {
		if (rng_below(&RNG, 4))
			Gl[l] = hrand(n), dGl[l] = dev(Gl[l], n);
		ddx[l] = dev(NULL, (size_t)R * D), ddy[l] = dev(NULL, (size_t)C * D);
		if (l >= 1) { /* accumulated into: start from random values */
			a0[l] = hrand(D), b0[l] = hrand(D);
			dda[l] = dev(a0[l], D), ddb[l] = dev(b0[l], D);
			for (int j = 0; j < D; j++)
				ra[(size_t)l * D + j] = a0[l][j], rb[(size_t)l * D + j] = b0[l][j];
		}
	}
	int rc = op_avsl_collector_bwd(CTX, &t.dv, R, t.dx, t.du, C, t.dy, t.dvv, Gf ? dev(Gf, n) : NULL, dGl, ddx, ddy,
				       dda, ddb);
	if (rc)
		snprintf(ERR, sizeof ERR, "%s", CTX->err);
	ref_collector_bwd(&t, Gf, Gl, rx, ry, ra, rb);
	for (int l = 0; l < L && !rc; l++) {
		rc = same("dx", ddx[l], to_float(rx + (size_t)l * R * D, (size_t)R * D), (size_t)R * D, 1e-4, 1e-3) ||
		     same("dy", ddy[l], to_float(ry + (size_t)l * C * D, (size_t)C * D), (size_t)C * D, 1e-4, 1e-3);
		if (!rc && l >= 1)
			rc = same("dalpha", dda[l], to_float(ra + (size_t)l * D, D), D, 1e-4, 1e-3) ||
			     same("dbeta", ddb[l], to_float(rb + (size_t)l * D, D), D, 1e-4, 1e-3);
	}
	free(rx), free(ry), free(ra), free(rb);
	return rc ? -1 : 0;
}

/* Proxy-Anchor written out without the max shift, in double (inputs kept small: no overflow). ps/pm, ns/nm: the
 * positive and negative logits' scale and offset (distance: a, mpos, -a, mneg; cosine: -a, delta, a, -delta). */
static float ref_pa(const float *d, int R, int C, const int32_t *yl, const int32_t *zl, double ps, double pm,
		    double ns, double nm, float *grad)
{
	int npos = 0;
	for (int q = 0; q < C; q++)
		for (int r = 0; r < R; r++)
			if (yl[r] == zl[q]) {
				npos++;
				break;
			}
	double L = 0;
	for (int q = 0; q < C; q++) {
		double sp = 0, sn = 0;
		for (int r = 0; r < R; r++)
			if (yl[r] == zl[q])
				sp += exp(ps * (d[(size_t)r * C + q] - pm));
			else
				sn += exp(ns * (d[(size_t)r * C + q] - nm));
		L += (npos ? log1p(sp) / npos : 0) + log1p(sn) / C;
		for (int r = 0; r < R; r++) {
			double dr = d[(size_t)r * C + q];
			grad[(size_t)r * C + q] = (float)(yl[r] == zl[q] ? ps * exp(ps * (dr - pm)) / (1 + sp) / npos
								: ns * exp(ns * (dr - nm)) / (1 + sn) / C);
		}
	}
	return (float)L;
}

static int pa_case(int cosine)
{
	int R = rint_in(1, 12), C = rint_in(1, 8), K = rint_in(1, 6);
	size_t n = (size_t)R * C;
	float *d = host(n), *ref = host(n), *grad = dev(NULL, n), *loss = host(1), rl;
	int32_t *yl = (int32_t *)host(R), *zl = (int32_t *)host(C);
	for (size_t i = 0; i < n; i++)
		d[i] = cosine ? 2 * rng_uniform(&RNG) - 1 : 2 * rng_uniform(&RNG);
	for (int r = 0; r < R; r++)
		yl[r] = (int32_t)rng_below(&RNG, (uint32_t)K);
	for (int q = 0; q < C; q++)
		zl[q] = (int32_t)rng_below(&RNG, (uint32_t)K);
	if (cosine) {
		RUN_OP(op_pa_cos_loss(CTX, dev(d, n), R, C, dev(yl, R), dev(zl, C), 0.1f, 4.0f, grad, loss));
		rl = ref_pa(d, R, C, yl, zl, -4.0, 0.1, 4.0, -0.1, ref);
	} else {
		RUN_OP(op_pa_dist_loss(CTX, dev(d, n), R, C, dev(yl, R), dev(zl, C), 1.8f, 2.2f, 4.0f, grad, loss));
		rl = ref_pa(d, R, C, yl, zl, 4.0, 1.8, -4.0, 2.2, ref);
	}
	if (!(fabs(*loss - rl) <= 1e-5 + 1e-5 * fabs(rl))) {
		snprintf(ERR, sizeof ERR, "loss = %.9g, reference %.9g", *loss, rl);
		return -1;
	}
	return same("grad", grad, ref, n, 1e-6, 1e-4);
}
static int case_pa_dist_loss(void) { return pa_case(0); }
static int case_pa_cos_loss(void) { return pa_case(1); }

/* ---- k-NN: distance tiles and the running top-k ------------------------------------------------------------ */

/* A random tile with leading dimensions larger than needed; the rows' gaps must stay as they were. CPU: equal to
 * the naive chains bit for bit (the contract); CUDA (cuBLAS): TOL. */
static int case_dot_tile(void)
{
	int R = rint_in(1, 20), C = rint_in(1, 40), D = rint_in(0, 40), mode = rint_in(OP_TILE_DOT, OP_TILE_L2);
	int64_t lda = D + rint_in(0, 3), ldb = D + rint_in(0, 3), ldo = C + rint_in(0, 5);
	float *a = hrand((size_t)R * lda), *b = hrand((size_t)C * ldb), *o = hrand((size_t)R * ldo);
	float *ref = copy(o, (size_t)R * ldo), *dout = dev(o, (size_t)R * ldo);
	RUN_OP(op_dot_tile(CTX, R, dev(a, (size_t)R * lda), lda, C, dev(b, (size_t)C * ldb), ldb, D, mode, dout, ldo));
	dot_tile_naive(R, a, lda, C, b, ldb, D, mode, ref, ldo);
	if (CTX->device == OP_DEVICE_CPU)
		return same("out", dout, ref, (size_t)R * ldo, 0, 0);
	return same("out", dout, ref, (size_t)R * ldo, TOL);
}

static int case_topk_init(void)
{
	int R = rint_in(1, 9), K = rint_in(1, 40);
	size_t n = (size_t)R * K;
	float *dd = dev(NULL, n), *ref = host(n);
	int32_t *di = dev(NULL, n), *iref = (int32_t *)host(n);
	RUN_OP(op_topk_init(CTX, R, K, dd, di));
	for (size_t i = 0; i < n; i++)
		ref[i] = INFINITY, iref[i] = -1;
	if (same("dist", dd, ref, n, 0, 0))
		return -1;
	return same_i32("idx", di, iref, n);
}

typedef struct {
	float d;
	int32_t i;
} knn_cand;

static int cand_cmp(const void *x, const void *y)
{
	const knn_cand *a = x, *b = y;
	if (a->d != b->d)
		return a->d < b->d ? -1 : 1;
	return (a->i > b->i) - (a->i < b->i);
}

/* Three tiles merged into R lists: row-major or transposed, items named by col0 or by an index list, ties, NaN,
 * +inf, -0 and the row's own item among the candidates; the reference sorts every candidate of a row. */
static int case_topk_merge(void)
{
	enum { NT = 3 };
	int R = rint_in(1, 20), K = rint_in(1, 40), self = rng_below(&RNG, 2);
	int64_t self0 = self ? 1000 + rint_in(0, 5) : -1; /* row r's own item: 1000 + (self0 - 1000) + r, in tile 0 */
	size_t n = (size_t)R * K;
	float *dd = dev(NULL, n);
	int32_t *di = dev(NULL, n);
	RUN_OP(op_topk_init(CTX, R, K, dd, di));
	knn_cand *all = (knn_cand *)host((size_t)R * NT * 64 * 2);
	int *na = (int *)host((size_t)R);
	memset(na, 0, (size_t)R * sizeof *na);
	for (int t = 0; t < NT; t++) {
		int C = rint_in(1, 60), trans = rng_below(&RNG, 2), named = rng_below(&RNG, 2);
		int64_t ld = (trans ? R : C) + rint_in(0, 3), col0 = 1000 * (t + 1);
		int64_t rs = trans ? 1 : ld, cs = trans ? ld : 1;
		size_t tn = (size_t)(trans ? C : R) * ld;
		float *tile = host(tn);
		int32_t *cols = named ? (int32_t *)host((size_t)C) : NULL;
		for (size_t i = 0; i < tn; i++)
			tile[i] = (float)rint_in(0, 12) / 4; /* many ties */
		if (named) /* the items of this tile in a random order */
			for (int c = 0; c < C; c++) {
				int j = rint_in(0, c);
				cols[c] = cols[j];
				cols[j] = (int32_t)(col0 + c);
			}
		tile[0] = NAN;
		tile[tn - 1] = INFINITY;
		tile[tn / 2] = -0.0f;
		for (int r = 0; r < R; r++)
			for (int c = 0; c < C; c++) {
				float d = tile[r * rs + c * cs];
				int32_t g = (int32_t)(cols ? cols[c] : col0 + c);
				if (d == d && !(self0 >= 0 && g == self0 + r))
					all[(size_t)r * NT * 64 + na[r]++] = (knn_cand){d + 0.0f, g};
			}
		/* the own items lie in tile 0's range; later tiles pass self0 = -1 */
		RUN_OP(op_topk_merge(CTX, dev(tile, tn), R, C, rs, cs, col0, named ? dev(cols, (size_t)C) : NULL,
				     t == 0 ? self0 : -1, dd, di, K));
	}
	float *ref = host(n);
	int32_t *iref = (int32_t *)host(n);
	for (int r = 0; r < R; r++) {
		knn_cand *c = all + (size_t)r * NT * 64;
		qsort(c, (size_t)na[r], sizeof *c, cand_cmp);
		for (int j = 0; j < K; j++) {
			ref[(size_t)r * K + j] = j < na[r] ? c[j].d : INFINITY;
			iref[(size_t)r * K + j] = j < na[r] ? c[j].i : -1;
		}
	}
	if (same("dist", dd, ref, n, 0, 0))
		return -1;
	return same_i32("idx", di, iref, n);
}

/* ---- AdamW and clipping ------------------------------------------------------------------------------------ */

/* Up to four segments with gaps between them, three groups (one maybe inactive), moments from earlier steps; the
 * reference is the update in double from the table's values (float32 vs double: TOL). Gaps and inactive segments
 * must not change at all. */
static int case_adamw_step(void)
{
	int nseg = rint_in(1, 4), total = 0;
	avsl_adamw_segment seg[4];
	avsl_adamw_group G[3];
	for (int i = 0; i < 3; i++)
		G[i] = (avsl_adamw_group){.lr = 0.01 * rint_in(1, 20), .wd = 0.01 * rint_in(0, 5), .beta1 = 0.9,
					  .beta2 = 0.999, .eps = 1e-8, .step = rint_in(1, 6), .active = rint_in(0, 3) > 0};
	for (int s = 0; s < nseg; s++) {
		total += rint_in(0, 5); /* a gap */
		seg[s] = (avsl_adamw_segment){.offset = (uint64_t)total, .numel = (uint64_t)rint_in(1, 300),
					      .first_block = 77, .group = rint_in(0, 2)};
		total += (int)seg[s].numel;
	}
	total += rint_in(0, 5);
	float *p = hrand((size_t)total), *g = hrand((size_t)total), *m = hrand((size_t)total), *v = hrand((size_t)total);
	for (int i = 0; i < total; i++)
		v[i] = fabsf(v[i]) + 0.01f;
	float *rp = copy(p, (size_t)total), *rm = copy(m, (size_t)total), *rv = copy(v, (size_t)total);
	float *dp = dev(p, (size_t)total), *dm = dev(m, (size_t)total), *dv = dev(v, (size_t)total);
	RUN_OP(op_adamw_step(CTX, dp, dev(g, (size_t)total), dm, dv, seg, nseg, G, 3));
	for (int s = 0; s < nseg; s++) {
		const avsl_adamw_group *q = &G[seg[s].group];
		if (!q->active)
			continue;
		double bc1 = 1 - pow(q->beta1, (double)q->step), bc2 = 1 - pow(q->beta2, (double)q->step);
		for (uint64_t e = seg[s].offset; e < seg[s].offset + seg[s].numel; e++) {
			double mi = q->beta1 * m[e] + (1 - q->beta1) * g[e];
			double vi = q->beta2 * v[e] + (1 - q->beta2) * (double)g[e] * g[e];
			rm[e] = (float)mi;
			rv[e] = (float)vi;
			rp[e] = (float)(p[e] * (1 - q->lr * q->wd) - q->lr / bc1 * mi / (sqrt(vi) / sqrt(bc2) + q->eps));
		}
	}
	if (same("m", dm, rm, (size_t)total, TOL) || same("v", dv, rv, (size_t)total, TOL))
		return -1;
	return same("param", dp, rp, (size_t)total, TOL);
}

/* Up to three blocks of the CPU's summation; against a plain double sum: another order of n positive terms,
 * within n ulp (1e-11 relative for n <= 20000). */
static int case_sq_norm(void)
{
	size_t n = (size_t)rint_in(0, 20000);
	float *x = hrand(n);
	double got = -1, want = 0;
	RUN_OP(op_sq_norm(CTX, dev(x, n), n, &got));
	for (size_t i = 0; i < n; i++)
		want += (double)x[i] * x[i];
	if (!(fabs(got - want) <= 1e-11 * want + 1e-300)) {
		snprintf(ERR, sizeof ERR, "sum of squares = %.17g, reference %.17g", got, want);
		return -1;
	}
	return 0;
}

/* One float multiplication per element: exact. */
static int case_scale(void)
{
	size_t n = (size_t)rint_in(1, 3000);
	float *x = hrand(n), *ref = copy(x, n), *dx = dev(x, n), c = (float)rng_normal(&RNG);
	RUN_OP(op_scale(CTX, dx, n, c));
	for (size_t i = 0; i < n; i++)
		ref[i] *= c;
	return same("x", dx, ref, n, 0, 0);
}

/* One multiply-add per element, in the op's written order (b*y + a*x): CPU exact; CUDA may fuse it (a few ulp). */
static int case_axpby(void)
{
	size_t n = (size_t)rint_in(1, 3000);
	float *x = hrand(n), *y = hrand(n), *ref = copy(y, n), *dy = dev(y, n);
	float a = (float)rng_normal(&RNG), b = (float)rng_normal(&RNG);
	RUN_OP(op_axpby(CTX, n, a, dev(x, n), b, dy));
	for (size_t i = 0; i < n; i++)
		ref[i] = (float)((double)b * y[i] + (double)a * x[i]);
	return same("y", dy, ref, n, 1e-6, 1e-6);
}

/* A random subset of rows (distinct indices, shuffled): gather copies them exactly; scatter-add adds each once. */
static int32_t *rand_rows(int n, int K)
{
	int32_t *all = (int32_t *)host((size_t)K);
	for (int k = 0; k < K; k++)
		all[k] = k;
	for (int k = K - 1; k > 0; k--) {
		int j = rint_in(0, k);
		int32_t t = all[k];
		all[k] = all[j], all[j] = t;
	}
	(void)n; /* the first n are the subset */
	return all;
}

static int case_gather_rows(void)
{
	int K = rint_in(1, 40), n = rint_in(0, K), D = rint_in(1, 33);
	float *src = hrand((size_t)K * D), *ref = host((size_t)n * D + 1), *dd = dev(NULL, (size_t)n * D);
	int32_t *idx = rand_rows(n, K);
	RUN_OP(op_gather_rows(CTX, dev(src, (size_t)K * D), D, dev(idx, (size_t)n), n, dd));
	for (int r = 0; r < n; r++)
		memcpy(ref + (size_t)r * D, src + (size_t)idx[r] * D, sizeof(float) * D);
	return same("dst", dd, ref, (size_t)n * D, 0, 0);
}

static int case_scatter_add_rows(void)
{
	int K = rint_in(1, 40), n = rint_in(0, K), D = rint_in(1, 33);
	float *src = hrand((size_t)n * D), *dst = hrand((size_t)K * D), *ref = copy(dst, (size_t)K * D);
	float *dd = dev(dst, (size_t)K * D);
	int32_t *idx = rand_rows(n, K);
	RUN_OP(op_scatter_add_rows(CTX, dev(src, (size_t)n * D), n, D, dev(idx, (size_t)n), dd));
	for (int r = 0; r < n; r++)
		for (int j = 0; j < D; j++)
			ref[(size_t)idx[r] * D + j] += src[(size_t)r * D + j];
	return same("dst", dd, ref, (size_t)K * D, 0, 0);
}

/* The sum stays in backend memory (one double = two 4-byte elements); against a plain double sum: another order
 * of n terms of mixed sign, within n ulp of the sum of magnitudes. Then op_fill_mean broadcasts sum / count. */
static int case_sum(void)
{
	size_t n = (size_t)rint_in(0, 20000), m = (size_t)rint_in(1, 500);
	float *x = hrand(n), *ref = host(m);
	void *ds = dev(NULL, 2);
	float *dout = dev(NULL, m);
	double count = 1 + rint_in(0, 100);
	RUN_OP(op_sum(CTX, dev(x, n), n, (double *)ds));
	RUN_OP(op_fill_mean(CTX, (const double *)ds, count, dout, m));
	double got, want = 0, mag = 0;
	const float *h = fetch("sum", ds, 2);
	if (!h)
		return -1;
	memcpy(&got, h, sizeof got);
	for (size_t i = 0; i < n; i++)
		want += x[i], mag += fabs(x[i]);
	if (!(fabs(got - want) <= 1e-13 * mag + 1e-300)) {
		snprintf(ERR, sizeof ERR, "sum = %.17g, reference %.17g", got, want);
		return -1;
	}
	for (size_t i = 0; i < m; i++)
		ref[i] = (float)(got / count);
	return same("mean", dout, ref, m, 0, 0);
}

/* fill_mean is checked inside case_sum (it reads the device sum). */
static int case_fill_mean(void) { return case_sum(); }

/* Cosines in [-1.2, 1.2] (past 1: clamped to distance 0); the gradient's zero branch is hit by s = 1 exactly. */
static int case_unit_dist(void)
{
	size_t n = (size_t)rint_in(1, 3000);
	float *s = host(n), *ref = host(n);
	for (size_t i = 0; i < n; i++)
		s[i] = i % 7 == 0 ? 1.0f : (float)(2.4 * rng_uniform(&RNG) - 1.2);
	float *dd = dev(NULL, n);
	RUN_OP(op_unit_dist(CTX, dev(s, n), n, dd));
	for (size_t i = 0; i < n; i++)
		ref[i] = (float)sqrt(fmax(2.0 - 2.0 * (double)s[i], 0.0));
	return same("d", dd, ref, n, 1e-6, 1e-6);
}

static int case_unit_dist_bwd(void)
{
	size_t n = (size_t)rint_in(1, 3000);
	float *d = host(n), *g = hrand(n), *ref = host(n);
	for (size_t i = 0; i < n; i++)
		d[i] = i % 5 == 0 ? 0.0f : (float)(2.0 * rng_uniform(&RNG) + 1e-3);
	float *dg = dev(g, n);
	RUN_OP(op_unit_dist_bwd(CTX, dev(d, n), n, dg));
	for (size_t i = 0; i < n; i++)
		ref[i] = d[i] > 1e-12f ? (float)(-(double)g[i] / d[i]) : 0.0f;
	return same("g", dg, ref, n, 0, 1e-6);
}

/* Indexed by op id: an op of the list without an entry here is a failed case. */
static int (*const cases[OPID_COUNT])(void) = {
	[OPID_conv2d_fwd] = case_conv2d_fwd,
	[OPID_conv2d_bwd_data] = case_conv2d_bwd_data,
	[OPID_conv2d_bwd_weight] = case_conv2d_bwd_weight,
	[OPID_conv_fold_weights] = case_conv_fold_weights,
	[OPID_layout_convert] = case_layout_convert,
	[OPID_bn_fold] = case_bn_fold,
	[OPID_affine_act_fwd] = case_affine_act_fwd,
	[OPID_bn_train_fwd] = case_bn_train_fwd,
	[OPID_bn_bwd] = case_bn_bwd,
	[OPID_bn_stats] = case_bn_stats,
	[OPID_bn_bwd_data] = case_bn_bwd_data,
	[OPID_relu_fwd] = case_relu_fwd,
	[OPID_relu_bwd] = case_relu_bwd,
	[OPID_add] = case_add,
	[OPID_maxpool_fwd] = case_maxpool_fwd,
	[OPID_maxpool_bwd] = case_maxpool_bwd,
	[OPID_gavgpool_fwd] = case_gavgpool_fwd,
	[OPID_gavgpool_bwd] = case_gavgpool_bwd,
	[OPID_gmaxpool_fwd] = case_gmaxpool_fwd,
	[OPID_gmaxpool_bwd] = case_gmaxpool_bwd,
	[OPID_adavgpool_fwd] = case_adavgpool_fwd,
	[OPID_adavgpool_bwd] = case_adavgpool_bwd,
	[OPID_linear_fwd] = case_linear_fwd,
	[OPID_linear_bwd] = case_linear_bwd,
	[OPID_avsl_link_prepare] = case_avsl_link_prepare,
	[OPID_avsl_normalize_rows] = case_avsl_normalize_rows,
	[OPID_avsl_normalize_rows_bwd] = case_avsl_normalize_rows_bwd,
	[OPID_avsl_dist_tile] = case_avsl_dist_tile,
	[OPID_avsl_dist_plan_new] = case_avsl_dist_gather,
	[OPID_avsl_dist_plan_free] = case_avsl_dist_gather,
	[OPID_avsl_dist_gather] = case_avsl_dist_gather,
	[OPID_avsl_level_dist_tile] = case_avsl_level_dist_tile,
	[OPID_avsl_pool_fwd] = case_avsl_pool_fwd,
	[OPID_avsl_pool_bwd] = case_avsl_pool_bwd,
	[OPID_avsl_cam_fwd] = case_avsl_cam_fwd,
	[OPID_avsl_certainty] = case_avsl_certainty,
	[OPID_avsl_link_batch] = case_avsl_link_batch,
	[OPID_avsl_collector_fwd] = case_avsl_collector_fwd,
	[OPID_avsl_collector_bwd] = case_avsl_collector_bwd,
	[OPID_pa_dist_loss] = case_pa_dist_loss,
	[OPID_pa_cos_loss] = case_pa_cos_loss,
	[OPID_dot_tile] = case_dot_tile,
	[OPID_topk_init] = case_topk_init,
	[OPID_topk_merge] = case_topk_merge,
	[OPID_adamw_step] = case_adamw_step,
	[OPID_sq_norm] = case_sq_norm,
	[OPID_scale] = case_scale,
	[OPID_axpby] = case_axpby,
	[OPID_gather_rows] = case_gather_rows,
	[OPID_scatter_add_rows] = case_scatter_add_rows,
	[OPID_sum] = case_sum,
	[OPID_fill_mean] = case_fill_mean,
	[OPID_unit_dist] = case_unit_dist,
	[OPID_unit_dist_bwd] = case_unit_dist_bwd,
};

enum { TRIALS = 4 }; /* random shapes per op and backend */

static int test_backend(op_ctx *ctx)
{
	int failed = 0;
	CTX = ctx;
	for (int op = 0; op < OPID_COUNT; op++) {
		const char *be = op_backend_name(ctx), *name = op_name((op_id)op);
		if (!cases[op]) {
			printf("FAIL backend_ops_%s_%s: no test case for this op in test_backend_ops.c\n", be, name);
			failed++;
			continue;
		}
		if (!op_supports(ctx, (op_id)op)) {
			/* refused, with the reason: the table has no entry, and the op_* call says so too */
			int ok = strstr(ctx->err, name) != NULL;
			printf(ok ? "PASS backend_ops_%s_%s_refused\n" : "FAIL backend_ops_%s_%s_refused: %s\n", be,
			       name, ctx->err);
			failed += !ok;
			continue;
		}
		rng_init(&RNG, 77, (uint64_t)op);
		int rc = 0;
		for (int t = 0; t < TRIALS && !rc; t++) {
			rc = cases[op]();
			release();
		}
		if (rc)
			printf("FAIL backend_ops_%s_%s: %s\n", be, name, ERR);
		else
			printf("PASS backend_ops_%s_%s\n", be, name);
		failed += rc != 0;
	}
	return failed;
}

int main(void)
{
	op_ctx cpu, gpu;
	int failed = 0;
	if (op_ctx_init(&cpu, OP_DEVICE_CPU, 2)) {
		printf("FAIL backend_ops_cpu_context: %s\n", cpu.err);
		return 1;
	}
	failed += test_backend(&cpu);
	op_ctx_free(&cpu);
	if (op_ctx_init(&gpu, OP_DEVICE_CUDA, 2) == 0) {
		failed += test_backend(&gpu);
		op_ctx_free(&gpu);
	} else {
		fprintf(stderr, "test_backend_ops: no CUDA backend here (%s)\n", gpu.err);
	}
	return failed ? 1 : 0;
}
