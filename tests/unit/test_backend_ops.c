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

#include "device_api.h"
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

static int on_cuda(void) { return CTX->device == OP_DEVICE_CUDA; }

static void put(void *dst, const void *src, size_t bytes)
{
	if (on_cuda()) {
		avsl_cuda_api->copy_h2d_async(dst, src, bytes, NULL);
		avsl_cuda_api->stream_synchronize(NULL);
	} else {
		memcpy(dst, src, bytes);
	}
}

static void get(void *dst, const void *src, size_t bytes)
{
	op_ctx_sync(CTX);
	if (on_cuda()) {
		avsl_cuda_api->copy_d2h_async(dst, src, bytes, NULL);
		avsl_cuda_api->stream_synchronize(NULL);
	} else {
		memcpy(dst, src, bytes);
	}
}

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
	if (on_cuda())
		avsl_cuda_api->alloc(&base, tot * 4);
	else
		base = malloc(tot * 4);
	put(base, pat, tot * 4);
	free(pat);
	bufs[nbufs++] = base;
	return (char *)base + GUARD * 4;
}

static void release(void)
{
	op_ctx_sync(CTX);
	for (int i = 0; i < nbufs; i++)
		on_cuda() ? (void)avsl_cuda_api->free(bufs[i]) : free(bufs[i]);
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

static int case_l2norm_fwd(void)
{
	int M = rint_in(1, 9), D = rint_in(1, 300);
	float *x = hrand((size_t)M * D), *ry = host((size_t)M * D), *rn = host(M);
	for (int d = 0; d < D; d++)
		x[d] *= 1e-9f; /* row 0 under eps: the clamp */
	float *y = dev(NULL, (size_t)M * D), *nrm = dev(NULL, M);
	RUN_OP(op_l2norm_fwd(CTX, M, D, dev(x, (size_t)M * D), 1e-6f, y, nrm));
	l2norm_fwd_naive(M, D, x, 1e-6f, ry, rn);
	return same("y", y, ry, (size_t)M * D, 1e-5, 1e-5) || same("norm", nrm, rn, M, 1e-6, 1e-5);
}

static int case_l2norm_bwd(void)
{
	int M = rint_in(1, 9), D = rint_in(1, 300), flags = (int)rng_below(&RNG, 2);
	size_t n = (size_t)M * D;
	float *x = hrand(n), *y = host(n), *nrm = host(M), *g = hrand(n), *dx = hrand(n), *ref = copy(dx, n);
	l2norm_fwd_naive(M, D, x, 1e-6f, y, nrm);
	float *ddx = dev(dx, n);
	RUN_OP(op_l2norm_bwd(CTX, M, D, dev(y, n), dev(nrm, M), dev(g, n), 1e-6f, ddx, flags));
	l2norm_bwd_naive(M, D, y, nrm, g, 1e-6f, ref, flags);
	return same("dx", ddx, ref, n, 1e-5, 1e-4);
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
	[OPID_l2norm_fwd] = case_l2norm_fwd,
	[OPID_l2norm_bwd] = case_l2norm_bwd,
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
