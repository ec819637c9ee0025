/* Tests of the device selection (libcommon/device.h) and of the CUDA ops against a plain CPU reference at the real
 * sizes (the generic test_backend_ops covers every op on small random shapes): the AVSL distance ops, AdamW over a
 * flat buffer with gaps, the top-k merge and the distance Proxy-Anchor loss.
 *
 * Without a usable CUDA device (CPU-only build, or no GPU as in CI) only the refusal is checked: CUDA must report
 * itself unavailable with the right message; no op case is printed at all (the device handle and -d are tested by
 * test_device and tests/cli/device.sh). Under `make check-cuda`
 * (AVSL_DEVICE=cuda) a missing device is a failure.
 *
 * With a device, each op runs on random inputs and is compared with the reference below (double accumulation).
 * Every device output is allocated with GUARD bytes after it, filled with a pattern that must survive the op
 * (ggml's test-backend-ops idea), and padded leading dimensions are checked the same way.
 */
#define _GNU_SOURCE
#include "device.h"
#include "harness.h"
#include "rng.h"
#include "util.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { GUARD = 4096 };
#define GUARD_BYTE 0xA7

static op_ctx cuda_ctx;        /* the CUDA device when one is usable (op_ctx_init_on) */
static op_ctx *DEV;            /* = &cuda_ctx */
static char unavailable[256];  /* why CUDA is not usable */

/* ---- helpers ------------------------------------------------------------------------------------------------ */

/* An op of the contract (0, or -1 with the reason in DEV->err). */
#define CK(expr)                                                                                                   \
	do {                                                                                                       \
		int rc_ = (expr);                                                                                  \
		CHECKF(rc_ == 0, "%s", DEV->err);                                                                  \
	} while (0)
/* Device buffer of bytes + GUARD, every byte set to GUARD_BYTE; NULL on failure. */
static void *dev_alloc(size_t bytes)
{
	void *p = NULL;
	if (op_alloc(DEV, &p, bytes + GUARD))
		return NULL;
	if (op_memset(DEV, p, GUARD_BYTE, bytes + GUARD) || op_ctx_sync(DEV)) {
		op_free(DEV, p);
		return NULL;
	}
	return p;
}

static void *dev_upload(const void *host, size_t bytes)
{
	void *p = dev_alloc(bytes);
	if (p && (op_upload(DEV, p, host, bytes) || op_ctx_sync(DEV))) {
		op_free(DEV, p);
		return NULL;
	}
	return p;
}

static int dev_download(void *host, const void *dev, size_t bytes)
{
	return op_download(DEV, host, dev, bytes);
}

/* 1 if the GUARD bytes after dev[0, bytes) still hold the pattern. */
static int guard_intact(const void *dev, size_t bytes)
{
	unsigned char g[GUARD];
	if (dev_download(g, (const char *)dev + bytes, GUARD))
		return 0;
	for (int i = 0; i < GUARD; i++)
		if (g[i] != GUARD_BYTE)
			return 0;
	return 1;
}

/* 1 if every float of a (rows, ld) host copy outside the first cols columns still holds the pattern. */
static int padding_intact(const float *h, int rows, int cols, int64_t ld)
{
	for (int r = 0; r < rows; r++)
		for (int64_t c = cols; c < ld; c++) {
			const unsigned char *b = (const unsigned char *)&h[r * ld + c];
			for (int k = 0; k < 4; k++)
				if (b[k] != GUARD_BYTE)
					return 0;
		}
	return 1;
}

static float *host_floats(size_t n) { return xmalloc_array(n ? n : 1, sizeof(float)); }

static void fill_normal(rng *r, float *x, size_t n, double sd)
{
	for (size_t i = 0; i < n; i++)
		x[i] = (float)(sd * rng_normal(r));
}

static void fill_uniform(rng *r, float *x, size_t n, float lo, float hi)
{
	for (size_t i = 0; i < n; i++)
		x[i] = lo + (hi - lo) * rng_uniform(r);
}

/* ---- CPU references ----------------------------------------------------------------------------------------- */

static void ref_normalize(float *x, int64_t n, int D, float p)
{
	for (int64_t i = 0; i < n; i++) {
		double s = 0;
		for (int j = 0; j < D; j++)
			s += pow(fabs((double)x[i * D + j]), p);
		double norm = pow(s, 1.0 / p);
		if (norm < 1e-12)
			norm = 1e-12;
		for (int j = 0; j < D; j++)
			x[i * D + j] = (float)(x[i * D + j] / norm);
	}
}

static int cmp_desc(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;
	return x < y ? 1 : x > y ? -1 : 0;
}

/* method §3.3 step 4, with the threshold in float as the CUDA op computes it */
static void ref_link_prepare(const float *L, int D, int k, float *s_hat)
{
	float *col = host_floats(D), *sorted = host_floats(D);
	if (k < 1)
		k = 1;
	if (k > D)
		k = D;
	for (int n = 0; n < D; n++) {
		for (int m = 0; m < D; m++)
			col[m] = sorted[m] = L[(int64_t)m * D + n] > 0 ? L[(int64_t)m * D + n] : 0.0f;
		qsort(sorted, D, sizeof *sorted, cmp_desc);
		float thr = sorted[k - 1] - 1e-8f;
		double sum = 0;
		for (int m = 0; m < D; m++)
			if (col[m] >= thr)
				sum += col[m];
		for (int m = 0; m < D; m++)
			s_hat[(int64_t)m * D + n] = col[m] >= thr ? (float)(col[m] / (sum + 1e-8)) : 0.0f;
	}
	free(col);
	free(sorted);
}

/* method §3.3 steps 2-6, one pair at a time, dense propagation, double accumulation. */
static void ref_dist(const avsl_collector_view *c, int R, float *const *x, float *const *u, int C, float *const *y,
		     float *const *v, double *out)
{
	const int D = c->dim;
	double *H = xmalloc_array(D, sizeof *H), *T = xmalloc_array(D, sizeof *T);
	for (int r = 0; r < R; r++)
		for (int q = 0; q < C; q++) {
			for (int n = 0; n < D; n++)
				H[n] = pow(fabs((double)x[0][r * D + n] - y[0][q * D + n]), c->p);
			for (int l = 1; l < c->levels; l++) {
				const float *S = c->s_hat[l - 1];
				for (int n = 0; n < D; n++) {
					double t = 0;
					for (int m = 0; m < D; m++)
						t += H[m] * S[(int64_t)m * D + n];
					T[n] = t;
				}
				for (int n = 0; n < D; n++) {
					double uv = (double)u[l][r * D + n] * v[l][q * D + n];
					double z = c->gamma_p * (uv * c->alpha[l][n] + c->beta[l][n]);
					double pi = 1 / (1 + exp(-z));
					double delta = pow(fabs((double)x[l][r * D + n] - y[l][q * D + n]), c->p);
					H[n] = pi * delta + (1 - pi) * T[n];
				}
			}
			double s = 0;
			for (int n = 0; n < D; n++)
				s += H[n];
			out[(int64_t)r * C + q] = s;
		}
	free(H);
	free(T);
}

/* Distance Proxy-Anchor, method §4.1, straight from the formula in double (finite for the inputs used). */
static double ref_proxy_anchor(const float *d, int R, int C, const int32_t *yl, const int32_t *zl, double mp,
			       double mn, double a, double scale, double *dd)
{
	double *Sp = calloc(C, sizeof *Sp), *Sn = calloc(C, sizeof *Sn);
	int *has = calloc(C, sizeof *has);
	for (int r = 0; r < R; r++)
		for (int c = 0; c < C; c++) {
			if (yl[r] == zl[c]) {
				Sp[c] += exp(a * (d[r * C + c] - mp));
				has[c] = 1;
			} else {
				Sn[c] += exp(-a * (d[r * C + c] - mn));
			}
		}
	double pos = 0, neg = 0;
	int npos = 0;
	for (int c = 0; c < C; c++) {
		if (has[c]) {
			pos += log1p(Sp[c]);
			npos++;
		}
		neg += log1p(Sn[c]);
	}
	for (int r = 0; r < R; r++)
		for (int c = 0; c < C; c++) {
			double x = d[r * C + c];
			dd[r * C + c] = yl[r] == zl[c] ? scale / npos * a * exp(a * (x - mp)) / (1 + Sp[c])
						       : -scale / C * a * exp(-a * (x - mn)) / (1 + Sn[c]);
		}
	free(Sp);
	free(Sn);
	free(has);
	return (npos ? pos / npos : 0) + neg / C;
}

/* ---- every build, with or without a device ------------------------------------------------------------- */

TEST(cpu_backend_memory_roundtrip)
{
	char why[64];
	CHECK(avsl_backend_available(OP_DEVICE_CPU, why, sizeof why) == 1);
	op_ctx b;
	CHECK(op_ctx_init_on(&b, OP_DEVICE_CPU, 0, 1, 0) == 0 && b.device == OP_DEVICE_CPU);
	float src[100], dst[100];
	for (int i = 0; i < 100; i++)
		src[i] = (float)i * 0.5f;
	float *p = NULL;
	CHECK(op_alloc(&b, (void **)&p, sizeof src) == 0 && p && ((uintptr_t)p & 63) == 0);
	CHECK(op_memset(&b, p, 0, sizeof src) == 0 && p[7] == 0);
	CHECK(op_upload(&b, p, src, sizeof src) == 0);
	CHECK(op_download(&b, dst, p, sizeof dst) == 0 && op_ctx_sync(&b) == 0);
	CHECK(memcmp(src, dst, sizeof src) == 0);
	op_free(&b, p);
	op_ctx_free(&b);
}

TEST(cuda_unavailable_is_reported_and_refused)
{
	char why[256];
	CHECK(avsl_backend_available(OP_DEVICE_CUDA, why, sizeof why) == 0);
	/* the op context's reason: a build without CUDA, or the device/driver problem */
	CHECKF(strcmp(why, "avsl was built without CUDA (CUDA=0, or nvcc, cuDNN or cuBLAS not found at build time)") ==
			       0 ||
		       (strncmp(why, "CUDA: ", 6) == 0 && strlen(why) > 6),
	       "%s", why);
	op_ctx b;
	CHECK(op_ctx_init_on(&b, OP_DEVICE_CUDA, 0, 1, 0) == -1);
	CHECKF(strcmp(b.err, why) == 0, "%s", b.err);
}

TEST(cuda_device_present_as_required)
{
	CHECKF(0, "AVSL_DEVICE=cuda (make check-cuda) but %s", unavailable);
}

/* ---- ops on the device -------------------------------------------------------------------------------------- */

TEST(cuda_memory_roundtrip)
{
	float src[1000], dst[1000];
	for (int i = 0; i < 1000; i++)
		src[i] = (float)i - 500.5f;
	float *p = NULL;
	CHECKF(op_alloc(DEV, (void **)&p, sizeof src) == 0 && p != NULL, "%s", DEV->err);
	CHECK(op_memset(DEV, p, 0, sizeof src) == 0);
	CHECK(op_download(DEV, dst, p, sizeof dst) == 0 && op_ctx_sync(DEV) == 0);
	CHECK(dst[0] == 0 && dst[999] == 0);
	CHECK(op_upload(DEV, p, src, sizeof src) == 0);
	CHECK(op_download(DEV, dst, p, sizeof dst) == 0 && op_ctx_sync(DEV) == 0);
	CHECK(memcmp(src, dst, sizeof src) == 0);
	op_free(DEV, p);
}

/* Two GPUs from one host thread (avsl-graph -d cuda:0,1 gives each its own thread): a context's memory and ops work
 * once op_ctx_bind made its device current; on the emulator (EMU_DEVICES=2, set in main) a call while the other
 * device is current is refused, as CUDA refuses a stream of another device. */
TEST(cuda_two_devices_bind)
{
	op_ctx b;
	CHECKF(op_ctx_init_on(&b, OP_DEVICE_CUDA, 1, 1, 0) == 0, "%s", b.err); /* device 1 now current */
	float src[64], dst[64];
	for (int i = 0; i < 64; i++)
		src[i] = (float)i * 0.5f;
	float *p = NULL, *q = NULL;
	CHECKF(op_alloc(&b, (void **)&p, sizeof src) == 0, "%s", b.err);
	CHECK(op_ctx_bind(DEV) == 0);
	CHECKF(op_alloc(DEV, (void **)&q, sizeof src) == 0, "%s", DEV->err);
#ifdef AVSL_CUDA_EMU
	CHECK(op_upload(&b, p, src, sizeof src) == -1); /* b's stream and memory while device 0 is current */
	CHECK(op_upload(DEV, p, src, sizeof src) == -1); /* device 1's memory on device 0 */
#endif
	CHECK(op_ctx_bind(&b) == 0);
	CHECKF(op_upload(&b, p, src, sizeof src) == 0 && op_download(&b, dst, p, sizeof dst) == 0, "%s", b.err);
	CHECK(memcmp(src, dst, sizeof src) == 0);
	op_free(&b, p);
	CHECK(op_ctx_bind(DEV) == 0);
	CHECK(op_memset(DEV, q, 0, sizeof src) == 0 && op_download(DEV, dst, q, sizeof dst) == 0);
	CHECK(dst[0] == 0 && dst[63] == 0);
	op_free(DEV, q);
	op_ctx_free(&b);
	CHECK(op_ctx_bind(DEV) == 0);
}

static void check_normalize(float p, int64_t n, int D, const char **fail)
{
	rng r;
	rng_init(&r, 11, (uint64_t)(p * 10));
	float *x = host_floats(n * D), *got = host_floats(n * D);
	fill_normal(&r, x, n * D, 2.0);
	memset(x + 3 * D, 0, D * sizeof *x); /* an all-zero row: divided by the 1e-12 clamp, stays 0 */
	float *dx = dev_upload(x, n * D * sizeof *x);
	*fail = "alloc";
	if (!dx)
		return;
	*fail = "launch";
	if (op_avsl_normalize_rows(DEV, dx, n, D, p) || dev_download(got, dx, n * D * sizeof *got))
		return;
	ref_normalize(x, n, D, p);
	*fail = "guard";
	if (!guard_intact(dx, n * D * sizeof *x))
		return;
	/* float sums of D terms vs double: a few ulp; powf/pow for general p */
	*fail = harness_max_violation(got, x, n * D, 1e-7, 2e-5, NULL) <= 1 ? NULL : "values";
	op_free(DEV, dx);
	free(x);
	free(got);
}

TEST(cuda_normalize_rows)
{
	const char *fail;
	check_normalize(2.0f, 301, 512, &fail);
	CHECKF(!fail, "p=2: %s", fail);
	check_normalize(1.0f, 77, 100, &fail);
	CHECKF(!fail, "p=1: %s", fail);
	check_normalize(3.0f, 40, 33, &fail);
	CHECKF(!fail, "p=3: %s", fail);
}

static int link_case(const float *L, int D, int k)
{
	float *got = host_floats((size_t)D * D), *want = host_floats((size_t)D * D);
	float *dL = dev_upload(L, (size_t)D * D * sizeof *L), *dS = dev_alloc((size_t)D * D * sizeof *dS);
	int ok = dL && dS && op_avsl_link_prepare(DEV, dL, D, k, dS) == 0 &&
		 dev_download(got, dS, (size_t)D * D * sizeof *got) == 0 && guard_intact(dS, (size_t)D * D * 4);
	ref_link_prepare(L, D, k, want);
	/* column sums in a different order: a few ulp; the kept set itself must match exactly (zero vs not) */
	if (ok)
		for (size_t i = 0; i < (size_t)D * D; i++)
			if ((got[i] == 0) != (want[i] == 0))
				ok = 0;
	if (ok)
		ok = harness_max_violation(got, want, (size_t)D * D, 1e-9, 1e-5, NULL) <= 1;
	op_free(DEV, dL);
	op_free(DEV, dS);
	free(got);
	free(want);
	return ok;
}

TEST(cuda_link_prepare)
{
	rng r;
	rng_init(&r, 12, 0);
#ifdef AVSL_CUDA_EMU
	int D = 160; /* the host emulator runs one block per column: a smaller matrix, same code paths */
#else
	int D = 512;
#endif
	float *L = host_floats((size_t)512 * 512);
	fill_normal(&r, L, (size_t)D * D, 0.3);
	CHECKF(link_case(L, D, 128), "random %dx%d, k=128", D, D);
	CHECKF(link_case(L, D, 1000), "k > D keeps every positive entry");
	/* Ties: few distinct values, so columns keep more than k rows; one all-negative column gives S_hat = 0. */
	D = 64;
	for (int i = 0; i < D * D; i++)
		L[i] = 0.25f * (float)((int)rng_below(&r, 5) - 1);
	for (int m = 0; m < D; m++)
		L[m * D + 5] = -1.0f;
	CHECKF(link_case(L, D, 10), "ties, k=10");
	free(L);
}

/* Random inputs of the eval distance: L levels, dim D, R rows, C columns. */
typedef struct {
	avsl_collector_view view;  /* host pointers (reference) */
	avsl_collector_view dview; /* device pointers */
	float *x[AVSL_MAX_LEVELS], *u[AVSL_MAX_LEVELS], *y[AVSL_MAX_LEVELS], *v[AVSL_MAX_LEVELS];
	float *dx[AVSL_MAX_LEVELS], *du[AVSL_MAX_LEVELS], *dy[AVSL_MAX_LEVELS], *dv[AVSL_MAX_LEVELS];
	float *host_tables[3 * AVSL_MAX_LEVELS], *dev_tables[3 * AVSL_MAX_LEVELS];
	int ntables;
} dist_inputs;

static void *track(dist_inputs *in, float *h, float *d)
{
	in->host_tables[in->ntables] = h;
	in->dev_tables[in->ntables++] = d;
	return d;
}

static int dist_inputs_make(dist_inputs *in, int L, int D, int R, int C, float p, int self, uint64_t seed)
{
	memset(in, 0, sizeof *in);
	rng r;
	rng_init(&r, seed, 0);
	avsl_collector_view *h = &in->view;
	h->levels = L;
	h->dim = D;
	h->gamma_p = 10;
	h->p = p;
	for (int l = 0; l < L; l++) {
		in->x[l] = host_floats((size_t)R * D);
		in->u[l] = host_floats((size_t)R * D);
		fill_normal(&r, in->x[l], (size_t)R * D, 1);
		ref_normalize(in->x[l], R, D, p);
		fill_uniform(&r, in->u[l], (size_t)R * D, 0, 0.15f);
		if (self) {
			in->y[l] = in->x[l];
			in->v[l] = in->u[l];
		} else {
			in->y[l] = host_floats((size_t)C * D);
			in->v[l] = host_floats((size_t)C * D);
			fill_normal(&r, in->y[l], (size_t)C * D, 1);
			ref_normalize(in->y[l], C, D, p);
			fill_uniform(&r, in->v[l], (size_t)C * D, 0, 0.15f);
		}
		in->dx[l] = dev_upload(in->x[l], (size_t)R * D * 4);
		in->du[l] = dev_upload(in->u[l], (size_t)R * D * 4);
		in->dy[l] = dev_upload(in->y[l], (size_t)C * D * 4);
		in->dv[l] = dev_upload(in->v[l], (size_t)C * D * 4);
		if (!in->dx[l] || !in->du[l] || !in->dy[l] || !in->dv[l])
			return -1;
		float *alpha = host_floats(D), *beta = host_floats(D);
		fill_uniform(&r, alpha, D, 0.5f, 20.0f); /* wide enough that gates span (0, 1), not ~0.5 */
		fill_uniform(&r, beta, D, -0.6f, 0.4f);
		h->alpha[l] = alpha;
		h->beta[l] = beta;
		in->dview.alpha[l] = track(in, alpha, dev_upload(alpha, D * 4));
		in->dview.beta[l] = track(in, beta, dev_upload(beta, D * 4));
		if (!in->dview.alpha[l] || !in->dview.beta[l])
			return -1;
		if (l + 1 < L) {
			float *Lk = host_floats((size_t)D * D), *S = host_floats((size_t)D * D);
			fill_normal(&r, Lk, (size_t)D * D, 0.3);
			ref_link_prepare(Lk, D, D >= 512 ? 128 : D / 4, S);
			free(Lk);
			h->s_hat[l] = S;
			in->dview.s_hat[l] = track(in, S, dev_upload(S, (size_t)D * D * 4));
			if (!in->dview.s_hat[l])
				return -1;
		}
	}
	in->dview.levels = L;
	in->dview.dim = D;
	in->dview.gamma_p = h->gamma_p;
	in->dview.p = p;
	return 0;
}

static void dist_inputs_free(dist_inputs *in, int self)
{
	for (int l = 0; l < AVSL_MAX_LEVELS; l++) {
		free(in->x[l]);
		free(in->u[l]);
		if (!self) {
			free(in->y[l]);
			free(in->v[l]);
		}
		op_free(DEV, in->dx[l]);
		op_free(DEV, in->du[l]);
		op_free(DEV, in->dy[l]);
		op_free(DEV, in->dv[l]);
	}
	for (int i = 0; i < in->ntables; i++) {
		free(in->host_tables[i]);
		op_free(DEV, in->dev_tables[i]);
	}
}

/* Runs the CUDA tile with ctx and compares with the reference; returns NULL or what went wrong. */
static const char *dist_case(op_ctx *ctx, int L, int D, int R, int C, float p, int self, int64_t ldo,
			     double atol, double rtol, uint64_t seed)
{
	static char msg[320];
	dist_inputs in;
	const char *fail = NULL;
	float *out = NULL, *got = NULL, *want = NULL;
	double *ref = NULL;
	if (dist_inputs_make(&in, L, D, R, C, p, self, seed)) {
		fail = "alloc inputs";
		goto done;
	}
	size_t bytes = (size_t)R * ldo * sizeof(float);
	out = dev_alloc(bytes);
	got = host_floats((size_t)R * ldo);
	int rc = out ? op_avsl_dist_tile(ctx, &in.dview, R, (const float *const *)in.dx, (const float *const *)in.du, C,
					 (const float *const *)in.dy, (const float *const *)in.dv, out, ldo)
		     : -1;
	if (!rc)
		rc = dev_download(got, out, bytes);
	if (rc) {
		snprintf(msg, sizeof msg, "avsl_dist_tile: %s", out ? ctx->err : "alloc");
		fail = msg;
		goto done;
	}
	if (!guard_intact(out, bytes) || !padding_intact(got, R, C, ldo)) {
		fail = "wrote outside the tile";
		goto done;
	}
	ref = xmalloc_array((size_t)R * C, sizeof *ref);
	ref_dist(&in.view, R, in.x, in.u, C, in.y, in.v, ref);
	want = host_floats((size_t)R * C);
	float *packed = host_floats((size_t)R * C);
	for (int r = 0; r < R; r++)
		for (int c = 0; c < C; c++) {
			want[r * C + c] = (float)ref[r * C + c];
			packed[r * C + c] = got[r * ldo + c];
		}
	size_t worst;
	double viol = harness_max_violation(packed, want, (size_t)R * C, atol, rtol, &worst);
	if (viol > 1) {
		snprintf(msg, sizeof msg, "pair (%zu, %zu): %.9g vs reference %.9g", worst / C, worst % C,
			 (double)packed[worst], (double)want[worst]);
		fail = msg;
	}
	if (!fail && self)
		for (int r = 0; r < R && r < C; r++)
			if (packed[r * C + r] != 0) {
				snprintf(msg, sizeof msg, "self distance of row %d is %g, not 0", r,
					 (double)packed[r * C + r]);
				fail = msg;
				break;
			}
	free(packed);
done:
	op_free(DEV, out);
	free(got);
	free(want);
	free(ref);
	dist_inputs_free(&in, self);
	return fail;
}

/* FP32 GEMM and float element-wise work against double: d_f is a sum of D terms ~1e-3 each, accumulated in a
 * different order; __expf in the gate adds ~2 ulp. */
#define DIST_ATOL 2e-5
#define DIST_RTOL 1e-4

TEST(cuda_avsl_dist_tile_p2)
{
	const char *f = dist_case(DEV, 3, 512, 24, 40, 2.0f, 0, 40, DIST_ATOL, DIST_RTOL, 21);
	CHECKF(!f, "L=3 D=512 24x40: %s", f);
	f = dist_case(DEV, 3, 512, 17, 31, 2.0f, 0, 45, DIST_ATOL, DIST_RTOL, 22);
	CHECKF(!f, "ldo 45 > C 31: %s", f);
}

TEST(cuda_avsl_dist_tile_self_diagonal_zero)
{
	const char *f = dist_case(DEV, 3, 256, 30, 30, 2.0f, 1, 30, DIST_ATOL, DIST_RTOL, 23);
	CHECKF(!f, "%s", f);
}

TEST(cuda_avsl_dist_tile_levels_and_p)
{
	const char *f = dist_case(DEV, 2, 128, 13, 19, 2.0f, 0, 19, DIST_ATOL, DIST_RTOL, 26);
	CHECKF(!f, "L=2: %s", f);
	f = dist_case(DEV, 1, 128, 13, 19, 2.0f, 0, 19, DIST_ATOL, DIST_RTOL, 27);
	CHECKF(!f, "L=1: %s", f);
	f = dist_case(DEV, 3, 128, 13, 19, 1.0f, 0, 19, DIST_ATOL, DIST_RTOL, 28);
	CHECKF(!f, "p=1: %s", f);
	f = dist_case(DEV, 3, 96, 7, 9, 3.0f, 0, 9, DIST_ATOL, 3e-4, 29);
	CHECKF(!f, "p=3 (powf): %s", f);
}

TEST(cuda_avsl_dist_tile_tf32)
{
	/* A context opened with OP_CTX_TF32. TF32 rounds the GEMM inputs to 10 mantissa bits (2^-11 relative): the
	 * propagated part of d_f moves by a few 1e-4 relative. */
	op_ctx ctx;
	int rc = op_ctx_init_on(&ctx, OP_DEVICE_CUDA, 0, 1, OP_CTX_TF32);
	CHECKF(rc == 0, "%s", ctx.err);
	const char *f = dist_case(&ctx, 3, 512, 24, 40, 2.0f, 0, 40, 1e-3, 3e-3, 30);
	op_ctx_free(&ctx);
	CHECKF(!f, "%s", f);
}

/* A tile of 64 x 2000 pairs (D 512: 2 chunks of the 256 MiB distance workspace, the second partial), checked on 300
 * sampled pairs; prints the pair rate on stderr (informative, not a benchmark). */
TEST(cuda_avsl_dist_tile_large_sampled)
{
	enum { L = 3, D = 512, R = 64, C = 2000, NS = 300 };
	dist_inputs in;
	CHECK(dist_inputs_make(&in, L, D, R, C, 2.0f, 0, 31) == 0);
	float *out = dev_alloc((size_t)R * C * 4), *got = host_floats((size_t)R * C);
	CHECK(out);
	double t0 = avsl_now();
	CK(op_avsl_dist_tile(DEV, &in.dview, R, (const float *const *)in.dx, (const float *const *)in.du, C,
			     (const float *const *)in.dy, (const float *const *)in.dv, out, C));
	CK(op_ctx_sync(DEV));
	double t1 = avsl_now();
	CK(dev_download(got, out, (size_t)R * C * 4));
	CHECK(guard_intact(out, (size_t)R * C * 4));
	fprintf(stderr,
		"test_cuda: avsl_dist_tile %dx%d D=%d (first call, incl. cuBLAS warm-up): %.1f ms, %.2f Mpairs/s\n",
		R, C, D, (t1 - t0) * 1e3, R * (double)C / (t1 - t0) / 1e6);
	rng r;
	rng_init(&r, 32, 0);
	float *xs[L], *us[L], *ys[L], *vs[L];
	for (int k = 0; k < NS; k++) {
		int row = (int)rng_below(&r, R), col = (int)rng_below(&r, C);
		for (int l = 0; l < L; l++) {
			xs[l] = in.x[l] + (size_t)row * D;
			us[l] = in.u[l] + (size_t)row * D;
			ys[l] = in.y[l] + (size_t)col * D;
			vs[l] = in.v[l] + (size_t)col * D;
		}
		double want;
		ref_dist(&in.view, 1, xs, us, 1, ys, vs, &want);
		CHECK_CLOSE(got[(size_t)row * C + col], want, DIST_ATOL, DIST_RTOL);
	}
	op_free(DEV, out);
	free(got);
	dist_inputs_free(&in, 0);
}

TEST(cuda_adamw_groups_and_gaps)
{
	/* Flat buffer of 5000 floats: four segments in three groups (group 2 inactive), gaps never touched. */
	enum { TOTAL = 5000 };
	avsl_adamw_segment seg[4] = {
		{0, 1000, 0, 0, 0}, {1008, 1, 0, 1, 0}, {1024, 2500, 0, 0, 0}, {3600, 1200, 0, 2, 0}};
	avsl_adamw_group groups[3] = {{1e-3, 1e-4, 0.9, 0.999, 1e-8, 0, 1},
				      {0.1, 1e-4, 0.9, 0.999, 1e-8, 0, 1},
				      {0.5, 0.1, 0.9, 0.999, 1e-8, 0, 0}};
	rng r;
	rng_init(&r, 50, 0);
	float *p = host_floats(TOTAL), *g = host_floats(TOTAL), *m = host_floats(TOTAL), *v = host_floats(TOTAL);
	fill_normal(&r, p, TOTAL, 1);
	memset(m, 0, TOTAL * 4);
	memset(v, 0, TOTAL * 4);
	float *dp = dev_upload(p, TOTAL * 4), *dg = dev_alloc(TOTAL * 4), *dm = dev_upload(m, TOTAL * 4),
	      *dv = dev_upload(v, TOTAL * 4);
	CHECK(dp && dg && dm && dv);
	double *P = malloc(TOTAL * sizeof *P), *M = calloc(TOTAL, sizeof *M), *V = calloc(TOTAL, sizeof *V);
	for (int i = 0; i < TOTAL; i++)
		P[i] = p[i];
	int step0 = 3; /* group 1 started earlier (as embedder/collector during warm-up) */
	for (int t = 1; t <= 3; t++) {
		fill_normal(&r, g, TOTAL, 0.1);
		CK(op_upload(DEV, dg, g, TOTAL * 4));
		groups[0].step = t;
		groups[1].step = step0 + t;
		CK(op_adamw_step(DEV, dp, dg, dm, dv, seg, 4, groups, 3)); /* seg, groups: host tables */
		CK(op_ctx_sync(DEV));
		for (int s = 0; s < 4; s++) {
			const avsl_adamw_group *G = &groups[seg[s].group];
			if (!G->active)
				continue;
			double bc1 = 1 - pow(G->beta1, (double)G->step), bc2 = 1 - pow(G->beta2, (double)G->step);
			for (uint64_t e = seg[s].offset; e < seg[s].offset + seg[s].numel; e++) {
				P[e] *= 1 - (double)G->lr * G->wd;
				M[e] = G->beta1 * M[e] + (1 - G->beta1) * g[e];
				V[e] = G->beta2 * V[e] + (1 - G->beta2) * g[e] * g[e];
				P[e] -= G->lr / bc1 * M[e] / (sqrt(V[e]) / sqrt(bc2) + G->eps);
			}
		}
	}
	CK(dev_download(p, dp, TOTAL * 4));
	CK(dev_download(m, dm, TOTAL * 4));
	CHECK(guard_intact(dp, TOTAL * 4) && guard_intact(dm, TOTAL * 4) && guard_intact(dv, TOTAL * 4));
	float *want = host_floats(TOTAL), *wm = host_floats(TOTAL);
	for (int i = 0; i < TOTAL; i++) {
		want[i] = (float)P[i];
		wm[i] = (float)M[i];
	}
	/* float update vs double, three steps; Adam's m/sqrt(v) amplifies relative error of tiny v only slightly */
	CHECK_ALLCLOSE(p, want, TOTAL, 1e-6, 1e-5);
	CHECK_ALLCLOSE(m, wm, TOTAL, 1e-8, 1e-5);
	/* gaps and the inactive group are bit-identical to the start */
	rng_init(&r, 50, 0);
	fill_normal(&r, want, TOTAL, 1);
	for (int i = 1000; i < 1008; i++)
		CHECK(p[i] == want[i]);
	for (int i = 3600; i < 4800; i++)
		CHECKF(p[i] == want[i] && m[i] == 0, "inactive group changed at %d", i);
	for (int i = 4800; i < TOTAL; i++)
		CHECK(p[i] == want[i]);
	op_free(DEV, dp), op_free(DEV, dg), op_free(DEV, dm), op_free(DEV, dv);
	free(p), free(g), free(m), free(v), free(P), free(M), free(V), free(want), free(wm);
}

typedef struct {
	float d;
	int64_t i;
} cand;

static int cand_cmp(const void *a, const void *b)
{
	const cand *x = a, *y = b;
	if (x->d != y->d)
		return x->d < y->d ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

static const char *topk_case(int R, int K, int C, int ntiles, int64_t self0, int quantise, uint64_t seed)
{
	static char msg[200];
	rng r;
	rng_init(&r, seed, 0);
	const int64_t ldt = C + 3, N = (int64_t)C * ntiles;
	float *tiles = host_floats((size_t)R * ldt * ntiles);
	for (size_t i = 0; i < (size_t)R * ldt * ntiles; i++) {
		float d = 4 * rng_uniform(&r);
		tiles[i] = quantise ? floorf(d * 4) / 4 : d; /* quantised: many ties, order by index */
	}
	tiles[5] = NAN;
	tiles[ldt + 3] = tiles[ldt + 7] = INFINITY; /* row 1: +inf is a distance like any other, kept before empty slots */
	float *dt = dev_alloc((size_t)R * ldt * 4), *dd = dev_alloc((size_t)R * K * 4);
	int32_t *di = dev_alloc((size_t)R * K * 4);
	const char *fail = NULL;
	if (!dt || !dd || !di || op_topk_init(DEV, R, K, dd, di)) {
		fail = "alloc/init";
		goto done;
	}
	for (int t = 0; t < ntiles; t++) /* tiles in reverse gallery order: merging must not assume order */
		if (op_upload(DEV, dt, tiles + (size_t)(ntiles - 1 - t) * R * ldt, (size_t)R * ldt * 4) ||
		    op_ctx_sync(DEV) ||
		    op_topk_merge(DEV, dt, R, C, ldt, 1, (int64_t)(ntiles - 1 - t) * C, NULL, self0, dd, di, K) ||
		    op_ctx_sync(DEV)) {
			fail = "merge";
			goto done;
		}
	float *gd = host_floats((size_t)R * K);
	int32_t *gi = xmalloc_array((size_t)R * K, 4);
	if (dev_download(gd, dd, (size_t)R * K * 4) || dev_download(gi, di, (size_t)R * K * 4) ||
	    !guard_intact(dd, (size_t)R * K * 4) || !guard_intact(di, (size_t)R * K * 4))
		fail = "download/guard";
	cand *all = xmalloc_array(N, sizeof *all);
	for (int row = 0; row < R && !fail; row++) {
		int n = 0;
		for (int t = 0; t < ntiles; t++)
			for (int c = 0; c < C; c++) {
				float d = tiles[((size_t)t * R + row) * ldt + c];
				int64_t g = (int64_t)t * C + c;
				if (d == d && !(self0 >= 0 && g == self0 + row))
					all[n++] = (cand){d, g};
			}
		qsort(all, n, sizeof *all, cand_cmp);
		for (int j = 0; j < K; j++) {
			float wd = j < n ? all[j].d : INFINITY;
			int64_t wi = j < n ? all[j].i : -1;
			if (gd[row * K + j] != wd || gi[row * K + j] != wi) {
				snprintf(msg, sizeof msg, "row %d slot %d: (%g, %lld) vs (%g, %lld)", row, j,
					 (double)gd[row * K + j], (long long)gi[row * K + j], (double)wd,
					 (long long)wi);
				fail = msg;
				break;
			}
		}
	}
	free(all);
	free(gd);
	free(gi);
done:
	op_free(DEV, dt);
	op_free(DEV, dd);
	op_free(DEV, di);
	free(tiles);
	return fail;
}

TEST(cuda_topk_merge)
{
	const char *f = topk_case(50, 101, 700, 4, -1, 0, 60);
	CHECKF(!f, "k=101, 4 tiles of 700: %s", f);
	f = topk_case(9, 16, 3000, 2, 0, 1, 61);
	CHECKF(!f, "ties and self exclusion, tiles > 1024 columns: %s", f);
	f = topk_case(3, 1024, 2500, 1, -1, 0, 62);
	CHECKF(!f, "k = 1024: %s", f);
	f = topk_case(4, 50, 20, 1, 2, 0, 63);
	CHECKF(!f, "fewer candidates than k (empty slots): %s", f);
}

static const char *pa_case(int R, int C, int nlabels, float dlo, float dhi, float mp, float mn, float a,
			   uint64_t seed)
{
	static char msg[200];
	rng r;
	rng_init(&r, seed, 0);
	float *d = host_floats((size_t)R * C), *g = host_floats((size_t)R * C), *wg = host_floats((size_t)R * C);
	double *ref = xmalloc_array((size_t)R * C, sizeof *ref);
	int32_t *yl = xmalloc_array(R, 4), *zl = xmalloc_array(C, 4);
	fill_uniform(&r, d, (size_t)R * C, dlo, dhi);
	for (int i = 0; i < R; i++)
		yl[i] = (int32_t)rng_below(&r, nlabels);
	for (int c = 0; c < C; c++)
		zl[c] = c; /* labels >= R rows' range get no positive */
	float *dd_ = dev_upload(d, (size_t)R * C * 4), *dg = dev_alloc((size_t)R * C * 4);
	int32_t *dy = dev_upload(yl, R * 4), *dz = dev_upload(zl, C * 4);
	const char *fail = NULL;
	float loss = NAN; /* the op's loss is host memory */
	int rc = -1;
	if (dd_ && dg && dy && dz)
		rc = op_pa_dist_loss(DEV, dd_, R, C, dy, dz, mp, mn, a, dg, &loss);
	if (rc || dev_download(g, dg, (size_t)R * C * 4)) {
		fail = "run";
		goto done;
	}
	if (!guard_intact(dg, (size_t)R * C * 4)) {
		fail = "guard";
		goto done;
	}
	double want = ref_proxy_anchor(d, R, C, yl, zl, mp, mn, a, 1.0, ref);
	for (size_t i = 0; i < (size_t)R * C; i++)
		wg[i] = (float)ref[i];
	/* float log-sum-exp over <= R terms vs double */
	if (!(fabs(loss - want) <= 1e-5 + 1e-5 * fabs(want))) {
		snprintf(msg, sizeof msg, "loss %.9g vs %.9g", (double)loss, want);
		fail = msg;
	} else if (harness_max_violation(g, wg, (size_t)R * C, 1e-9, 1e-4, NULL) > 1) {
		size_t w;
		harness_max_violation(g, wg, (size_t)R * C, 1e-9, 1e-4, &w);
		snprintf(msg, sizeof msg, "grad[%zu] %.9g vs %.9g", w, (double)g[w], (double)wg[w]);
		fail = msg;
	}
done:
	op_free(DEV, dd_), op_free(DEV, dg), op_free(DEV, dy), op_free(DEV, dz);
	free(d), free(g), free(wg), free(ref), free(yl), free(zl);
	return fail;
}

TEST(cuda_proxy_anchor)
{
	const char *f = pa_case(180, 100, 100, 0.0f, 4.0f, 1.8f, 2.2f, 16, 70);
	CHECKF(!f, "180x100, CUB-like: %s", f);
	f = pa_case(180, 178, 60, 0.0f, 4.0f, 1.8f, 2.4f, 16, 71);
	CHECKF(!f, "columns without positives: %s", f);
	/* Final distances up to 12: exp(16 * (12 - 1.8)) overflows float; the reference is in double. */
	f = pa_case(64, 40, 40, 6.0f, 12.0f, 1.8f, 2.2f, 16, 72);
	CHECKF(!f, "large distances, no overflow: %s", f);
}

int main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
#ifdef AVSL_CUDA_EMU
	setenv("EMU_DEVICES", "2", 1); /* cuda_two_devices_bind */
#endif
	RUN(cpu_backend_memory_roundtrip);

	const char *env = getenv("AVSL_DEVICE");
	const int required = env && strcmp(env, "cuda") == 0;
	if (!avsl_backend_available(OP_DEVICE_CUDA, unavailable, sizeof unavailable)) {
		RUN(cuda_unavailable_is_reported_and_refused);
		if (required)
			RUN(cuda_device_present_as_required);
		else
			fprintf(stderr, "test_cuda: CUDA op tests not run: %s\n", unavailable);
		return harness_finish();
	}
	if (env && strcmp(env, "cpu") == 0) {
		fprintf(stderr, "test_cuda: AVSL_DEVICE=cpu: CUDA op tests not run\n");
		return harness_finish();
	}
	if (op_ctx_init_on(&cuda_ctx, OP_DEVICE_CUDA, 0, 1, 0)) {
		printf("FAIL cuda_backend_open: %s\n", cuda_ctx.err);
		return 1;
	}
	DEV = &cuda_ctx;
	RUN(cuda_memory_roundtrip);
	int ndev = 0;
	op_ctx probe;
	while (ndev < 2 && op_ctx_init_on(&probe, OP_DEVICE_CUDA, ndev, 1, 0) == 0) /* is there a device 1? */
		op_ctx_free(&probe), ndev++;
	op_ctx_bind(DEV);
	if (ndev >= 2)
		RUN(cuda_two_devices_bind);
	else
		fprintf(stderr, "test_cuda: one device: cuda_two_devices_bind not run\n");
	RUN(cuda_normalize_rows);
	RUN(cuda_link_prepare);
	RUN(cuda_avsl_dist_tile_p2);
	RUN(cuda_avsl_dist_tile_self_diagonal_zero);
	RUN(cuda_avsl_dist_tile_levels_and_p);
	RUN(cuda_avsl_dist_tile_tf32);
#ifndef AVSL_CUDA_EMU /* tests/cuda-emu runs kernels one CPU thread per CUDA thread: this case alone takes minutes */
	RUN(cuda_avsl_dist_tile_large_sampled);
#else
	(void)test_cuda_avsl_dist_tile_large_sampled;
#endif
	RUN(cuda_adamw_groups_and_gaps);
	RUN(cuda_topk_merge);
	RUN(cuda_proxy_anchor);
	op_ctx_free(&cuda_ctx);
	return harness_finish();
}
