/* golden.h: reading the committed goldens of tests/golden/ (written by the scripts in tests/reference/) in unit tests.
 *
 *   CHECK(golden_open("x.safetensors") == 0);   float *t = gload("name", &n);   CMP("name", buf, n, atol, rtol);
 *
 * One golden file is open at a time. Paths are relative to $AVSL_ROOT (default: the current directory).
 */
#ifndef AVSL_TESTS_GOLDEN_H
#define AVSL_TESTS_GOLDEN_H

#include "harness.h"
#include "safetensors.h"

#include <stdint.h>

#ifndef GOLDEN_DIR
#define GOLDEN_DIR "tests/golden"
#endif

static st_file gf;
static int gf_open;

static inline int golden_open(const char *name)
{
	if (gf_open)
		st_close(&gf);
	gf_open = 0;
	char path[256];
	const char *root = getenv("AVSL_ROOT");
	snprintf(path, sizeof path, "%s/%s/%s", root ? root : ".", GOLDEN_DIR, name);
	fmt_error err;
	if (st_open(&gf, path, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		return -1;
	}
	gf_open = 1;
	return 0;
}

/* A golden tensor as float32 (malloc'd), or NULL; *n = element count. */
static inline float *gload(const char *name, size_t *n)
{
	const st_tensor *t = st_find(&gf, name);
	if (!t)
		return NULL;
	float *o = malloc(sizeof(float) * (t->numel ? t->numel : 1));
	fmt_error err;
	if (st_read_f32(&gf, t, o, t->numel, &err)) {
		free(o);
		return NULL;
	}
	if (n)
		*n = t->numel;
	return o;
}

/* An integer golden tensor as int64 (malloc'd), or NULL: I32 and I64 (little-endian) exactly, float tensors
 * through gload. */
static inline int64_t *gload_i64(const char *name, size_t *n)
{
	const st_tensor *t = st_find(&gf, name);
	if (!t)
		return NULL;
	if (t->dtype != ST_I32 && t->dtype != ST_I64) {
		size_t m = 0;
		float *f = gload(name, &m);
		if (!f)
			return NULL;
		int64_t *o = malloc(sizeof(int64_t) * (m ? m : 1));
		for (size_t i = 0; i < m; i++)
			o[i] = (int64_t)f[i];
		free(f);
		if (n)
			*n = m;
		return o;
	}
	int64_t *o = malloc(sizeof(int64_t) * (t->numel ? t->numel : 1));
	const unsigned char *p = gf.data + t->begin;
	int sz = t->dtype == ST_I32 ? 4 : 8;
	for (uint64_t i = 0; i < t->numel; i++) {
		uint64_t v = 0;
		for (int k = sz - 1; k >= 0; k--)
			v = v << 8 | p[i * sz + k];
		o[i] = sz == 4 ? (int64_t)(int32_t)(uint32_t)v : (int64_t)v;
	}
	if (n)
		*n = t->numel;
	return o;
}

static inline int32_t *gload_i32(const char *name, size_t *n)
{
	size_t m = 0;
	int64_t *v = gload_i64(name, &m);
	if (!v)
		return NULL;
	int32_t *o = malloc(sizeof(int32_t) * (m ? m : 1));
	for (size_t i = 0; i < m; i++)
		o[i] = (int32_t)v[i];
	free(v);
	if (n)
		*n = m;
	return o;
}

/* Compare a C buffer with golden "name" (|a - g| <= atol + rtol |g|); fills why on failure. */
static inline int golden_cmp(const char *name, const float *a, size_t n, double atol, double rtol, char *why, size_t wl)
{
	size_t gn = 0;
	float *g = gload(name, &gn);
	if (!g) {
		snprintf(why, wl, "golden %s missing", name);
		return -1;
	}
	if (gn != n) {
		snprintf(why, wl, "%s: %zu elements, golden %zu", name, n, gn);
		free(g);
		return -1;
	}
	size_t w;
	double v = harness_max_violation(a, g, n, atol, rtol, &w);
	int bad = v > 1.0;
	if (bad)
		snprintf(why, wl, "%s[%zu]: %.9g vs golden %.9g", name, w, (double)a[w], (double)g[w]);
	free(g);
	return bad ? -1 : 0;
}

#define CMP(name, a, n, atol, rtol)                                                                                \
	do {                                                                                                       \
		char why_[256];                                                                                    \
		int bad_ = golden_cmp((name), (a), (n), (atol), (rtol), why_, sizeof why_);                        \
		CHECKF(!bad_, "%s", why_);                                                                         \
	} while (0)

#endif
