/* Unit tests for libcommon/optim: AdamW against torch.optim.AdamW (tests/golden/optim.safetensors, written by
 * tests/reference/optim_golden.py), the StepLR-with-warm-up table, clipping. */
#define _GNU_SOURCE
#include "harness.h"
#include "test_ctx.h"
#include "optim.h"
#include "params.h"
#include "rng.h"
#include "util.h"

#include <stdint.h>
#include <string.h>

/* A minimal golden reader (exact key lookup in the safetensors JSON header), so this test does not depend on
 * formats/safetensors.c. Returns a pointer into the file's data section or NULL. */
typedef struct {
	unsigned char *buf;
	size_t len;
	const char *hdr;
	size_t hdr_len;
	const unsigned char *data;
} golden;

static int golden_open(golden *g, const char *path)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return -1;
	fseek(fp, 0, SEEK_END);
	long n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	g->buf = malloc((size_t)n + 1);
	g->len = fread(g->buf, 1, (size_t)n, fp);
	fclose(fp);
	if (g->len < 8)
		return -1;
	uint64_t h = 0;
	for (int i = 7; i >= 0; i--)
		h = h << 8 | g->buf[i];
	if (h + 8 > g->len)
		return -1;
	g->hdr = (const char *)g->buf + 8;
	g->hdr_len = h;
	g->data = g->buf + 8 + h;
	return 0;
}

/* Tensor by name; *n gets the element count for dtype size esize. */
static const void *golden_get(const golden *g, const char *name, size_t esize, size_t *n)
{
	char key[160];
	snprintf(key, sizeof key, "\"%s\":", name);
	const char *p = memmem(g->hdr, g->hdr_len, key, strlen(key));
	if (!p)
		return NULL;
	const char *o = strstr(p, "\"data_offsets\":[");
	if (!o)
		return NULL;
	unsigned long long b, e;
	if (sscanf(o + 16, "%llu,%llu", &b, &e) != 2)
		return NULL;
	*n = (size_t)(e - b) / esize;
	return g->data + b;
}

static const char *gpath(void)
{
	const char *root = getenv("AVSL_ROOT");
	static char p[4096];
	snprintf(p, sizeof p, "%s/tests/golden/optim.safetensors", root ? root : ".");
	return p;
}

static const struct {
	const char *name;
	int ndim;
	int64_t shape[2];
	param_group g;
	int trainable;
} spec[] = {
	{"trunk.w", 2, {4, 6}, PG_TRUNK, 1},	  {"trunk.bn", 1, {6}, PG_TRUNK, 0},
	{"embedder.w", 2, {5, 4}, PG_EMBEDDER, 1}, {"embedder.b", 1, {5}, PG_EMBEDDER, 1},
	{"collector.p", 2, {3, 5}, PG_COLLECTOR, 1}, {"collector.a", 1, {5}, PG_COLLECTOR, 1},
	{"buf", 1, {7}, PG_NONE, 0},
};
enum { NSPEC = sizeof spec / sizeof spec[0] };

/* Replays the golden's schedule: 5 iterations, the trunk inactive in the first two (warm-up 2), StepLR (step 1,
 * gamma 0.5) after warm-up, clipping at max norm 10 on iteration 0 only. */
TEST(adamw_matches_torch_three_optimisers)
{
	golden g;
	CHECKF(golden_open(&g, gpath()) == 0, "cannot read %s", gpath());
	paramset ps;
	paramset_init(&ps);
	for (int i = 0; i < NSPEC; i++)
		paramset_add(&ps, spec[i].name, spec[i].ndim, spec[i].shape, spec[i].g, spec[i].trainable);
	paramset_finalize(&ps);
	char key[128];
	size_t n;
	for (int i = 0; i < NSPEC; i++) {
		snprintf(key, sizeof key, "init.%s", spec[i].name);
		const float *src = golden_get(&g, key, 4, &n);
		CHECKF(src && n == ps.info[i].numel, "%s", key);
		memcpy(paramset_data(&ps, i), src, n * 4);
	}
	adamw o;
	adamw_init(&o, &ps);
	o.threads = 1;
	const double lr0[PG_COUNT] = {0, 1e-3, 5e-3, 0.1}, wd[PG_COUNT] = {0, 0.01, 1e-4, 0.1};
	for (int k = 0; k < 5; k++) {
		paramset_zero_grad(&ps);
		for (int i = 0; i < NSPEC; i++) {
			if (!spec[i].trainable)
				continue;
			snprintf(key, sizeof key, "grad%d.%s", k, spec[i].name);
			const float *src = golden_get(&g, key, 4, &n);
			CHECKF(src && n == ps.info[i].numel, "%s", key);
			memcpy(paramset_grad(&ps, i), src, n * 4);
		}
		snprintf(key, sizeof key, "lr%d", k);
		const void *lrs_raw = golden_get(&g, key, 8, &n);
		CHECK(lrs_raw && n == 3);
		double lrs[3]; /* copied: tensors in the data section are not 8-byte aligned */
		memcpy(lrs, lrs_raw, sizeof lrs);
		for (int grp = PG_TRUNK; grp < PG_COUNT; grp++) {
			o.group[grp].lr = steplr_lr(lr0[grp], k, 2, 1, 0.5);
			o.group[grp].wd = wd[grp];
			o.group[grp].active = grp != PG_TRUNK || k >= 2;
			CHECK_CLOSE(o.group[grp].lr, lrs[grp - 1], 0, 1e-15);
			if (optim_clip_due(CLIP_FIRST, k))
				grad_clip_group(adamw_ctx(&o), &ps, grp, 10.0);
		}
		adamw_step(&o);
		for (int i = 0; i < NSPEC; i++) {
			snprintf(key, sizeof key, "param%d.%s", k, spec[i].name);
			const float *want = golden_get(&g, key, 4, &n);
			CHECKF(want && n == ps.info[i].numel, "%s", key);
			/* float32 arithmetic with torch's operation order; the clip coefficient and the order of the
			 * norm accumulation differ in the last bits, amplified by at most the Adam normalisation. */
			CHECK_ALLCLOSE(paramset_data(&ps, i), want, n, 1e-6, 1e-5);
		}
	}
	CHECK(o.group[PG_TRUNK].step == 3 && o.group[PG_EMBEDDER].step == 5 && o.group[PG_COLLECTOR].step == 5);
	for (int i = 0; i < NSPEC; i++) {
		if (!spec[i].trainable)
			continue;
		snprintf(key, sizeof key, "m.%s", spec[i].name);
		const float *want = golden_get(&g, key, 4, &n);
		CHECK(want);
		CHECK_ALLCLOSE(o.m + ps.info[i].offset, want, n, 1e-7, 1e-5);
		snprintf(key, sizeof key, "v.%s", spec[i].name);
		want = golden_get(&g, key, 4, &n);
		CHECK(want);
		CHECK_ALLCLOSE(o.v + ps.info[i].offset, want, n, 1e-9, 1e-5);
	}
	adamw_free(&o);
	paramset_free(&ps);
	free(g.buf);
}

TEST(adamw_inactive_group_and_buffers_untouched)
{
	paramset ps;
	paramset_init(&ps);
	int64_t s = 3;
	int a = paramset_add(&ps, "a", 1, &s, PG_TRUNK, 1);
	int b = paramset_add(&ps, "b", 1, &s, PG_EMBEDDER, 1);
	int c = paramset_add(&ps, "c", 1, &s, PG_NONE, 0);
	int d = paramset_add(&ps, "d", 1, &s, PG_EMBEDDER, 0);
	paramset_finalize(&ps);
	for (int i = 0; i < 3; i++) {
		paramset_data(&ps, a)[i] = paramset_data(&ps, b)[i] = paramset_data(&ps, c)[i] = 1.0f + i;
		paramset_data(&ps, d)[i] = 1.0f + i;
		paramset_grad(&ps, a)[i] = paramset_grad(&ps, b)[i] = paramset_grad(&ps, c)[i] = 0.5f;
		paramset_grad(&ps, d)[i] = 0.5f;
	}
	adamw o;
	adamw_init(&o, &ps);
	o.group[PG_TRUNK].lr = o.group[PG_EMBEDDER].lr = 0.1;
	o.group[PG_TRUNK].wd = o.group[PG_EMBEDDER].wd = 0.1;
	o.group[PG_TRUNK].active = 0;
	adamw_step(&o);
	CHECK(adamw_group_numel(&o, PG_EMBEDDER) == 3 && adamw_group_numel(&o, PG_NONE) == 0);
	for (int i = 0; i < 3; i++) {
		CHECK(paramset_data(&ps, a)[i] == 1.0f + i && o.m[ps.info[a].offset + i] == 0);
		CHECK(paramset_data(&ps, c)[i] == 1.0f + i && paramset_data(&ps, d)[i] == 1.0f + i);
		/* first step: Adam moves by lr * sign(g) (|m_hat| / sqrt(v_hat) = 1) after decay */
		CHECK_CLOSE(paramset_data(&ps, b)[i], (1.0f + i) * (1 - 0.01) - 0.1, 1e-6, 1e-6);
	}
	CHECK(o.group[PG_TRUNK].step == 0 && o.group[PG_EMBEDDER].step == 1);
	adamw_free(&o);
	paramset_free(&ps);
}

TEST(steplr_matches_torch_tables)
{
	golden g;
	CHECKF(golden_open(&g, gpath()) == 0, "cannot read %s", gpath());
	size_t n;
	double sop[61], cars[61]; /* copied: the data section gives no 8-byte alignment */
	const void *raw = golden_get(&g, "steplr_sop", 8, &n);
	CHECK(raw && n == 61);
	memcpy(sop, raw, sizeof sop);
	for (int e = 0; e < 61; e++)
		CHECK_CLOSE(steplr_lr(0.06, e, 5, 15, 0.25), sop[e], 0, 1e-14);
	raw = golden_get(&g, "steplr_cars", 8, &n);
	CHECK(raw && n == 61);
	memcpy(cars, raw, sizeof cars);
	for (int e = 0; e < 61; e++)
		CHECK_CLOSE(steplr_lr(0.00025230934618157737, e, 5, 5, 0.5), cars[e], 0, 1e-14);
	free(g.buf);
}

TEST(steplr_by_hand)
{
	/* CUB AVSL: W 5, S 10, gamma 0.5: epochs 0-14 lr0, 15-24 lr0/2, ..., 55-60 lr0/32 */
	CHECK(steplr_lr(1.0, 0, 5, 10, 0.5) == 1.0 && steplr_lr(1.0, 4, 5, 10, 0.5) == 1.0);
	CHECK(steplr_lr(1.0, 14, 5, 10, 0.5) == 1.0 && steplr_lr(1.0, 15, 5, 10, 0.5) == 0.5);
	CHECK(steplr_lr(1.0, 55, 5, 10, 0.5) == 1.0 / 32 && steplr_lr(1.0, 60, 5, 10, 0.5) == 1.0 / 32);
	CHECK(steplr_lr(2.0, 3, 0, 1, 0.1) == 2.0 * 0.1 * 0.1 * 0.1);
}

TEST(clip_scales_only_above_max)
{
	paramset ps;
	paramset_init(&ps);
	int64_t s = 2;
	int a = paramset_add(&ps, "a", 1, &s, PG_COLLECTOR, 1);
	int b = paramset_add(&ps, "b", 1, &s, PG_COLLECTOR, 1);
	int c = paramset_add(&ps, "c", 1, &s, PG_TRUNK, 1);
	paramset_finalize(&ps);
	float *ga = paramset_grad(&ps, a), *gb = paramset_grad(&ps, b), *gc = paramset_grad(&ps, c);
	ga[0] = 3, ga[1] = 4, gb[0] = 0, gb[1] = 12; /* norm 13 */
	gc[0] = 30, gc[1] = 40;                        /* other group: untouched */
	op_ctx *ctx = test_ctx(2);
	CHECK_CLOSE(grad_norm_group(ctx, &ps, PG_COLLECTOR), 13.0, 0, 1e-12);
	double n = grad_clip_group(ctx, &ps, PG_COLLECTOR, 10.0);
	CHECK_CLOSE(n, 13.0, 0, 1e-12);
	CHECK_CLOSE(grad_norm_group(ctx, &ps, PG_COLLECTOR), 10.0, 1e-5, 1e-6);
	CHECK_CLOSE(ga[0], 3 * 10 / 13.0, 1e-6, 1e-6);
	CHECK(gc[0] == 30 && gc[1] == 40);
	double before = grad_norm_group(ctx, &ps, PG_COLLECTOR);
	grad_clip_group(ctx, &ps, PG_COLLECTOR, 100.0); /* below max: no change */
	CHECK(grad_norm_group(ctx, &ps, PG_COLLECTOR) == before);
	paramset_free(&ps);
}

TEST(clip_schedule_official_quirk)
{
	CHECK(optim_clip_due(CLIP_FIRST, 0) && !optim_clip_due(CLIP_FIRST, 1) && !optim_clip_due(CLIP_FIRST, 1000));
	CHECK(optim_clip_due(CLIP_EVERY, 0) && optim_clip_due(CLIP_EVERY, 77));
	CHECK(!optim_clip_due(CLIP_NEVER, 0));
	CHECK(clip_mode_parse("every") == CLIP_EVERY && clip_mode_parse("first") == CLIP_FIRST);
	CHECK(clip_mode_parse("sometimes") == -1 && strcmp(clip_mode_name(CLIP_NEVER), "never") == 0);
}

/* The segment table and group table a device step gets describe the same update as adamw_step: replay them with
 * the device kernel's formula (kernels/cuda/adamw.cu) on the host and compare. */
TEST(device_tables_describe_the_same_step)
{
	paramset a, b;
	paramset_init(&a);
	paramset_init(&b);
	for (int i = 0; i < NSPEC; i++) {
		paramset_add(&a, spec[i].name, spec[i].ndim, spec[i].shape, spec[i].g, spec[i].trainable);
		paramset_add(&b, spec[i].name, spec[i].ndim, spec[i].shape, spec[i].g, spec[i].trainable);
	}
	paramset_finalize(&a);
	paramset_finalize(&b);
	rng r;
	rng_init(&r, 3, 0);
	for (size_t i = 0; i < a.total; i++)
		a.data[i] = b.data[i] = (float)rng_normal(&r);
	adamw oa, ob;
	adamw_init(&oa, &a);
	adamw_init(&ob, &b);
	avsl_adamw_segment seg[NSPEC];
	int nseg = adamw_segments(&ob, seg);
	/* trunk.bn (frozen) and buf are not segments; adjacent tensors of one group may share one */
	CHECK(nseg >= 3 && nseg <= 5);
	size_t covered = 0;
	for (int s = 0; s < nseg; s++) {
		covered += seg[s].numel;
		CHECK(seg[s].group >= PG_TRUNK && seg[s].group < PG_COUNT);
		CHECK(s == 0 || seg[s].offset >= seg[s - 1].offset + seg[s - 1].numel);
	}
	CHECK(covered == adamw_group_numel(&ob, PG_TRUNK) + adamw_group_numel(&ob, PG_EMBEDDER) +
				 adamw_group_numel(&ob, PG_COLLECTOR));
	for (int k = 0; k < 4; k++) {
		for (size_t i = 0; i < a.total; i++)
			a.grad[i] = b.grad[i] = (float)rng_normal(&r);
		for (int g = PG_TRUNK; g < PG_COUNT; g++) {
			oa.group[g].lr = ob.group[g].lr = 0.01 * g;
			oa.group[g].wd = ob.group[g].wd = 0.05;
			oa.group[g].active = ob.group[g].active = g != PG_TRUNK || k >= 2;
		}
		adamw_step(&oa);
		avsl_adamw_group G[PG_COUNT];
		adamw_prepare_groups(&ob, G);
		CHECK(!G[PG_NONE].active && G[PG_EMBEDDER].active && G[PG_TRUNK].active == (k >= 2));
		for (int s = 0; s < nseg; s++) {
			const avsl_adamw_group *gr = &G[seg[s].group];
			if (!gr->active)
				continue;
			/* the update written out in double from the table's values */
			double step = gr->lr / (1 - pow(gr->beta1, (double)gr->step));
			double sb2 = sqrt(1 - pow(gr->beta2, (double)gr->step));
			for (uint64_t e = seg[s].offset; e < seg[s].offset + seg[s].numel; e++) {
				double mi = gr->beta1 * ob.m[e] + (1 - gr->beta1) * b.grad[e];
				double vi = gr->beta2 * ob.v[e] + (1 - gr->beta2) * b.grad[e] * (double)b.grad[e];
				ob.m[e] = (float)mi;
				ob.v[e] = (float)vi;
				b.data[e] = (float)(b.data[e] * (1 - gr->lr * gr->wd) - step * mi / (sqrt(vi) / sb2 + gr->eps));
			}
		}
		/* float32 steps against the double replay: a few ulp per step */
		CHECK_ALLCLOSE(b.data, a.data, a.total, 1e-6, 1e-5);
		CHECK_ALLCLOSE(ob.v, oa.v, a.total, 1e-9, 1e-5);
	}
	CHECK(ob.group[PG_TRUNK].step == 2 && ob.group[PG_COLLECTOR].step == 4 && oa.group[PG_TRUNK].step == 2);
	adamw_free(&oa), adamw_free(&ob);
	paramset_free(&a), paramset_free(&b);
}

int main(void)
{
	RUN(adamw_matches_torch_three_optimisers);
	RUN(adamw_inactive_group_and_buffers_untouched);
	RUN(steplr_matches_torch_tables);
	RUN(steplr_by_hand);
	RUN(clip_scales_only_above_max);
	RUN(clip_schedule_official_quirk);
	RUN(device_tables_describe_the_same_step);
	return harness_finish();
}
