/* test_resnet.c: ResNet trunks against PyTorch goldens (tests/reference/resnet_golden.py): the three feature maps
 * and every parameter gradient for a fixed upstream gradient, with frozen BN and with training-mode BN (plus the
 * updated running statistics). The weights come from the golden through resnet_load_torchvision.
 *
 * Tolerance: float32 through ~20-50 convolutions; oneDNN and PyTorch sum in different orders, and training-mode
 * BN on tiny batches amplifies rounding (1/sqrt(var) of a few elements). Each tensor must satisfy
 * |ours - torch| <= tol * max|torch| + tol * |torch| with tol = 1e-4 for frozen features, 1e-3 for frozen
 * gradients, training-mode features and running stats (the batch variance deep in the net comes from 8 values per
 * channel after ~50 float32 layers), and 1e-2 for training-mode gradients: there the
 * stem BN weight of resnet50_w2 is ill-conditioned (PyTorch's own float32 result is 7.4e-3 of max away from
 * the float64 golden; ours ~8e-4). A wrong layer, stride, BN mode or gradient path is off by O(max|torch|).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "harness.h"
#include "params.h"
#include "resnet.h"
#include "safetensors.h"

typedef struct {
	const char *file, *arch;
	int width, cin, N, H, W;
} golden;

static const golden GOLDENS[] = {
	{"resnet_resnet18_w4", "resnet18", 4, 3, 2, 64, 64},
	{"resnet_resnet50_w2", "resnet50", 2, 3, 2, 64, 64},
	{"resnet_cifar_resnet18_w4", "cifar_resnet18", 4, 1, 2, 28, 28},
};

static avsl_device *dev1, *dev2; /* the CPU with 1 and 2 threads */
static char golden_path[512];
static const char *gpath(const char *name)
{
	const char *root = getenv("AVSL_ROOT");
	snprintf(golden_path, sizeof golden_path, "%s/tests/golden/%s.safetensors", root ? root : ".", name);
	return golden_path;
}

/* Load a tensor of n floats by name into a fresh buffer (NULL if absent or mis-sized). */
static float *load(const st_file *f, const char *name, size_t n)
{
	const st_tensor *t = st_find(f, name);
	if (!t || t->numel != n)
		return NULL;
	float *p = malloc(n * sizeof *p);
	fmt_error err;
	if (st_read_f32(f, t, p, n, &err)) {
		free(p);
		return NULL;
	}
	return p;
}

static double worst_seen; /* largest violation of a run (printed on stderr: the headroom of the tolerance) */
static char worst_name[160];
static const char *cur_name = "";
static double rel_violation(const float *a, const float *b, size_t n, double tol)
{
	double mx = 0;
	for (size_t i = 0; i < n; i++)
		mx = fmax(mx, fabs(b[i]));
	double v = harness_max_violation(a, b, n, tol * mx + 1e-30, tol, NULL);
	if (v > worst_seen) {
		worst_seen = v;
		snprintf(worst_name, sizeof worst_name, "%s", cur_name);
	}
	return v;
}

/* Runs one golden in one mode; fills why on failure, returns number of tensors compared. */
static int run_golden(const golden *g, int train, char *why, size_t whylen)
{
	st_file f;
	fmt_error err;
	int compared = -1;
	if (st_open(&f, gpath(g->file), &err)) {
		snprintf(why, whylen, "%s", err.msg);
		return -1;
	}
	paramset ps;
	paramset_init(&ps);
	resnet_config cfg = {g->arch, g->cin, g->width, !train, &dev2->ctx};
	resnet *r = resnet_create(&cfg, &ps);
	paramset_finalize(&ps);
	float *x = NULL, *gr[3] = {0}, *ref = NULL;
	if (resnet_load_torchvision(r, &ps, &f, &err)) {
		snprintf(why, whylen, "load: %s", err.msg);
		goto out;
	}
	size_t nx = (size_t)g->N * g->cin * g->H * g->W;
	x = load(&f, "input", nx);
	if (!x) {
		snprintf(why, whylen, "golden has no input of %zu floats", nx);
		goto out;
	}
	resnet_plan(r, g->N, g->H, g->W);
	const float *feat[3];
	resnet_forward(r, &ps, x, 1, feat);
	const char *mode = train ? "train" : "frozen";
	int n_cmp = 0;
	for (int l = 0; l < 3; l++) {
		int C, H, W;
		resnet_feature_shape(r, l, &C, &H, &W);
		size_t n = (size_t)g->N * C * H * W;
		char name[128];
		snprintf(name, sizeof name, "%s.feat%d", mode, l);
		ref = load(&f, name, n);
		cur_name = name;
		char gname[16];
		snprintf(gname, sizeof gname, "g%d", l);
		gr[l] = load(&f, gname, n);
		if (!ref || !gr[l]) {
			snprintf(why, whylen, "%s: missing or mis-shaped feat%d/g%d (%d,%d,%d,%d)", mode, l, l, g->N, C, H, W);
			goto out;
		}
		double v = rel_violation(feat[l], ref, n, train ? 1e-3 : 1e-4);
		free(ref);
		ref = NULL;
		if (v > 1) {
			snprintf(why, whylen, "%s feat%d: violation %.3g", mode, l, v);
			goto out;
		}
		n_cmp++;
	}
	paramset_zero_grad(&ps);
	resnet_backward(r, &ps, (const float *const *)gr, 1);
	for (int i = 0; i < ps.n; i++) {
		const param_info *pi = &ps.info[i];
		char name[160];
		if (pi->trainable) {
			snprintf(name, sizeof name, "%s.grad.%s", mode, pi->name);
			ref = load(&f, name, pi->numel);
			if (!ref) {
				snprintf(why, whylen, "golden lacks %s", name);
				goto out;
			}
			cur_name = name;
			double v = rel_violation(paramset_grad(&ps, i), ref, pi->numel, train ? 1e-2 : 1e-3);
			free(ref);
			ref = NULL;
			if (v > 1) {
				snprintf(why, whylen, "%s: violation %.3g", name, v);
				goto out;
			}
			n_cmp++;
		} else if (st_find(&f, (snprintf(name, sizeof name, "%s.grad.%s", mode, pi->name), name))) {
			snprintf(why, whylen, "%s is not trainable here but torch has a gradient", pi->name);
			goto out;
		}
		if (train && pi->group == PG_NONE) {
			snprintf(name, sizeof name, "train.rs.%s", pi->name);
			ref = load(&f, name, pi->numel);
			if (!ref) {
				snprintf(why, whylen, "golden lacks %s", name);
				goto out;
			}
			cur_name = name;
			double v = rel_violation(paramset_data(&ps, i), ref, pi->numel, 1e-3);
			free(ref);
			ref = NULL;
			if (v > 1) {
				snprintf(why, whylen, "%s: violation %.3g", name, v);
				goto out;
			}
			n_cmp++;
		}
	}
	compared = n_cmp;
out:
	free(x), free(ref);
	for (int l = 0; l < 3; l++)
		free(gr[l]);
	resnet_free(r);
	paramset_free(&ps);
	st_close(&f);
	return compared;
}

#define GOLDEN_TEST(idx, train, tname)                                                                             \
	TEST(tname)                                                                                                \
	{                                                                                                          \
		char why[600] = "";                                                                                \
		worst_seen = 0;                                                                                    \
		int n = run_golden(&GOLDENS[idx], train, why, sizeof why);                                          \
		fprintf(stderr, "%s: %d tensors, worst %.3g of the tolerance (%s)\n", #tname, n, worst_seen, worst_name); \
		CHECKF(n > 0, "%s", why);                                                                          \
	}

GOLDEN_TEST(0, 0, resnet18_frozen_bn_matches_torch)
GOLDEN_TEST(0, 1, resnet18_train_bn_matches_torch)
GOLDEN_TEST(1, 0, resnet50_frozen_bn_matches_torch)
GOLDEN_TEST(1, 1, resnet50_train_bn_matches_torch)
GOLDEN_TEST(2, 0, cifar_resnet18_frozen_bn_matches_torch)
GOLDEN_TEST(2, 1, cifar_resnet18_train_bn_matches_torch)

/* A mis-shaped tensor is named in the error (cifar stem is 3x3, resnet18's 7x7). */
TEST(load_names_mis_shaped_tensor)
{
	st_file f;
	fmt_error err;
	CHECKF(st_open(&f, gpath(GOLDENS[2].file), &err) == 0, "%s", err.msg);
	paramset ps;
	paramset_init(&ps);
	resnet_config cfg = {"resnet18", 1, 4, 1, &dev1->ctx};
	resnet *r = resnet_create(&cfg, &ps);
	paramset_finalize(&ps);
	int rc = resnet_load_torchvision(r, &ps, &f, &err);
	resnet_free(r);
	paramset_free(&ps);
	st_close(&f);
	CHECK(rc == -1);
	CHECKF(strstr(err.msg, "conv1.weight") != NULL, "%s", err.msg);
}

/* Backward with only some levels given equals backward with zero gradients on the others. */
TEST(backward_skips_missing_levels)
{
	paramset ps;
	paramset_init(&ps);
	resnet_config cfg = {"cifar_resnet18", 3, 4, 0, &dev2->ctx};
	resnet *r = resnet_create(&cfg, &ps);
	paramset_finalize(&ps);
	resnet_init(r, &ps, 7);
	resnet_plan(r, 2, 16, 16);
	float *x = malloc(2 * 3 * 16 * 16 * sizeof *x), *zero[3], *g1 = NULL;
	for (int i = 0; i < 2 * 3 * 16 * 16; i++)
		x[i] = sinf(0.37f * i);
	const float *feat[3];
	resnet_forward(r, &ps, x, 1, feat);
	for (int l = 0; l < 3; l++) {
		int C, H, W;
		resnet_feature_shape(r, l, &C, &H, &W);
		zero[l] = calloc((size_t)2 * C * H * W, sizeof(float));
		if (l == 1) {
			g1 = malloc((size_t)2 * C * H * W * sizeof *g1);
			for (int i = 0; i < 2 * C * H * W; i++)
				g1[i] = cosf(0.11f * i);
		}
	}
	const float *only[3] = {NULL, g1, NULL}, *full[3] = {zero[0], g1, zero[2]};
	paramset_zero_grad(&ps);
	resnet_backward(r, &ps, only, 1);
	float *a = malloc(ps.total * sizeof *a);
	memcpy(a, ps.grad, ps.total * sizeof *a);
	paramset_zero_grad(&ps);
	resnet_backward(r, &ps, full, 1);
	double v = harness_max_violation(a, ps.grad, ps.total, 1e-6, 1e-5, NULL);
	int nonzero = 0;
	for (size_t i = 0; i < ps.total; i++)
		nonzero += a[i] != 0;
	free(a), free(x), free(g1);
	for (int l = 0; l < 3; l++)
		free(zero[l]);
	resnet_free(r);
	paramset_free(&ps);
	CHECK(nonzero > 0);
	CHECK(v <= 1);
}

/* Kaiming normal (fan_out): the sample std of a conv weight is close to sqrt(2 / (K R S)); BN is identity. */
TEST(init_matches_torchvision_rule)
{
	paramset ps;
	paramset_init(&ps);
	resnet_config cfg = {"resnet50", 3, 0, 1, &dev1->ctx};
	resnet *r = resnet_create(&cfg, &ps);
	paramset_finalize(&ps);
	resnet_init(r, &ps, 1);
	int i = paramset_find(&ps, "layer3.0.conv2.weight");
	CHECK(i >= 0);
	const param_info *pi = &ps.info[i];
	double s = 0;
	const float *w = paramset_data(&ps, i);
	for (size_t k = 0; k < pi->numel; k++)
		s += (double)w[k] * w[k];
	double std = sqrt(s / pi->numel), want = sqrt(2.0 / (256 * 9));
	int j = paramset_find(&ps, "layer4.2.bn3.running_var");
	CHECK(j >= 0 && paramset_data(&ps, j)[5] == 1 && !ps.info[j].trainable && ps.info[j].group == PG_NONE);
	int k = paramset_find(&ps, "layer2.0.downsample.1.weight");
	CHECK(k >= 0 && !ps.info[k].trainable && ps.info[k].group == PG_TRUNK);
	size_t total = 0;
	for (int q = 0; q < ps.n; q++)
		total += ps.info[q].numel;
	resnet_free(r);
	paramset_free(&ps);
	CHECK_CLOSE(std, want, 0, 0.02);
	/* torchvision resnet50 without fc: 25,557,032 - 2,049,000 parameters + 53,120 BN running stats */
	CHECKF(total == 25557032 - 2049000 + 53120, "total %zu", total);
}

int main(void)
{
	dev1 = avsl_device_open("cpu", 1, "the trunk tests", NULL);
	dev2 = avsl_device_open("cpu", 2, "the trunk tests", NULL);
	RUN(resnet18_frozen_bn_matches_torch);
	RUN(resnet18_train_bn_matches_torch);
	RUN(resnet50_frozen_bn_matches_torch);
	RUN(resnet50_train_bn_matches_torch);
	RUN(cifar_resnet18_frozen_bn_matches_torch);
	RUN(cifar_resnet18_train_bn_matches_torch);
	RUN(load_names_mis_shaped_tensor);
	RUN(backward_skips_missing_levels);
	RUN(init_matches_torchvision_rule);
	avsl_device_close(dev1);
	avsl_device_close(dev2);
	return harness_finish();
}
