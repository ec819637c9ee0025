/* test_cuda_model.c: the inference data path of the tools on a CUDA device (issue 13) against the CPU: the parameters
 * uploaded once (paramset_upload), the trunk's forward-only activations in a device arena (devmem_arena), the input
 * batch uploaded and the three feature levels downloaded; and knn_device's AVSL tiles with their collector uploaded.
 * Run under the CUDA emulator by `make check` (build/cuda-emu/test_cuda_model: device memory in its own region, so a
 * host pointer reaching a device op fails the op); without a device only the CPU no-op cases run.
 *
 * Tolerances (why): features 1e-4 relative to each level's largest value: the emulated cuDNN convolution sums in
 * another order than oneDNN's (a few ulps per layer over the 9 layers of a tiny cifar_resnet18); distance tiles 1e-5
 * relative (the target; the kernel sums the dimensions in another order).
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devmem.h"
#include "harness.h"
#include "knn_device.h"
#include "ops.h"
#include "params.h"
#include "resnet.h"
#include "rng.h"

static op_ctx CPU, GPU;

TEST(cuda_model_cpu_upload_is_a_noop)
{
	paramset ps;
	paramset_init(&ps);
	int64_t shape[1] = {5};
	int i = paramset_add(&ps, "w", 1, shape, PG_TRUNK, 1);
	paramset_finalize(&ps);
	paramset_upload(&ps, &CPU);
	CHECK(ps.dev == NULL);
	CHECK(paramset_op_data(&ps, i) == paramset_data(&ps, i));
	CHECK(!devmem_is_device(&CPU));
	paramset_free(&ps);
}

/* Features of the same tiny trunk (frozen BN or eval-mode BN) on ctx: x (N, 1, 16, 16) host, feat[l] host copies. */
static void trunk_features(op_ctx *ctx, int freeze_bn, const float *x, int N, float *feat[3], size_t numel[3])
{
	paramset ps;
	paramset_init(&ps);
	resnet_config cfg = {.arch = "cifar_resnet18", .in_channels = 1, .base_width = 4, .freeze_bn = freeze_bn,
			     .ctx = ctx};
	resnet *r = resnet_create(&cfg, &ps);
	paramset_finalize(&ps);
	resnet_init(r, &ps, 11);
	/* running statistics away from (0, 1), so the folded BN matters */
	for (int i = 0; i < ps.n; i++)
		if (strstr(ps.info[i].name, "running_var") || strstr(ps.info[i].name, "running_mean"))
			for (size_t j = 0; j < ps.info[i].numel; j++)
				paramset_data(&ps, i)[j] = strstr(ps.info[i].name, "var") ? 0.5f + 0.1f * (float)(j % 7)
											 : 0.05f * (float)(j % 5);
	paramset_upload(&ps, ctx);
	resnet_plan_forward(r, N, 16, 16);
	size_t xn = (size_t)N * 16 * 16;
	float *dx = devmem_alloc(ctx, xn, sizeof(float));
	devmem_upload(ctx, dx, x, xn * sizeof(float));
	const float *f[3];
	resnet_forward(r, &ps, dx, 0, f);
	for (int l = 0; l < 3; l++) {
		int C, H, W;
		resnet_feature_shape(r, l, &C, &H, &W);
		numel[l] = (size_t)N * C * H * W;
		feat[l] = malloc(numel[l] * sizeof(float));
		devmem_download(ctx, feat[l], f[l], numel[l] * sizeof(float));
	}
	devmem_free(ctx, dx);
	resnet_free(r);
	paramset_free(&ps);
}

static void trunk_case(int freeze_bn)
{
	enum { N = 3 };
	rng g;
	rng_init(&g, 7, 1);
	float x[N * 16 * 16];
	for (int i = 0; i < N * 16 * 16; i++)
		x[i] = 2 * rng_uniform(&g) - 1;
	float *a[3], *b[3];
	size_t na[3], nb[3];
	trunk_features(&CPU, freeze_bn, x, N, a, na);
	trunk_features(&GPU, freeze_bn, x, N, b, nb);
	double worst = 0;
	for (int l = 0; l < 3; l++) {
		CHECK(na[l] == nb[l]);
		double scale = 1e-30, d = 0;
		for (size_t i = 0; i < na[l]; i++) {
			scale = fmax(scale, fabs(a[l][i]));
			d = fmax(d, fabs((double)a[l][i] - b[l][i]));
		}
		worst = fmax(worst, d / scale);
		CHECKF(d <= 1e-4 * scale && scale > 1e-3, "level %d: max difference %g of scale %g", l, d, scale);
		free(a[l]);
		free(b[l]);
	}
	fprintf(stderr, "test_cuda_model: trunk (freeze_bn %d) features cuda vs cpu: max relative %.3g\n", freeze_bn,
		worst);
}

TEST(cuda_model_trunk_frozen_bn_vs_cpu) { trunk_case(1); }
TEST(cuda_model_trunk_eval_bn_vs_cpu) { trunk_case(0); }

/* knn_device: a tile of the AVSL distance on the device vs op_avsl_dist_tile on the CPU, rows normalised both ways,
 * downloaded with a leading dimension larger than the tile. */
TEST(cuda_model_knn_device_tile_vs_cpu)
{
	enum { L = 3, D = 6, R = 5, C = 7, LDO = 9, TOPK = 3 };
	rng g;
	rng_init(&g, 9, 1);
	float emb[L][R * D], cert[L][R * D], gemb[L][C * D], gcert[L][C * D], links[L - 1][D * D], shat[L - 1][D * D];
	float alpha[L][D], beta[L][D];
	for (int l = 0; l < L; l++) {
		for (int i = 0; i < R * D; i++)
			emb[l][i] = 2 * rng_uniform(&g) - 1, cert[l][i] = rng_uniform(&g);
		for (int i = 0; i < C * D; i++)
			gemb[l][i] = 2 * rng_uniform(&g) - 1, gcert[l][i] = rng_uniform(&g);
		for (int n = 0; n < D; n++)
			alpha[l][n] = 2 * rng_uniform(&g) - 1, beta[l][n] = rng_uniform(&g) - 0.5f;
		if (l + 1 < L)
			for (int i = 0; i < D * D; i++)
				links[l][i] = 2 * rng_uniform(&g) - 1;
	}
	avsl_collector_view v = {.levels = L, .dim = D, .gamma_p = 0.5f, .p = 2.0f};
	for (int l = 0; l < L; l++) {
		if (l + 1 < L) {
			CHECK(op_avsl_link_prepare(&CPU, links[l], D, TOPK, shat[l]) == 0);
			v.s_hat[l] = shat[l];
		}
		v.alpha[l] = alpha[l];
		v.beta[l] = beta[l];
	}
	/* CPU: normalised copies, one tile */
	float *x[L], *y[L];
	const float *xc[L], *yc[L], *uc[L], *vc[L];
	for (int l = 0; l < L; l++) {
		x[l] = malloc(sizeof emb[l]);
		y[l] = malloc(sizeof gemb[l]);
		memcpy(x[l], emb[l], sizeof emb[l]);
		memcpy(y[l], gemb[l], sizeof gemb[l]);
		CHECK(op_avsl_normalize_rows(&CPU, x[l], R, D, 2.0f) == 0);
		CHECK(op_avsl_normalize_rows(&CPU, y[l], C, D, 2.0f) == 0);
		xc[l] = x[l], yc[l] = y[l], uc[l] = cert[l], vc[l] = gcert[l];
	}
	float want[R * C];
	CHECK(op_avsl_dist_tile(&CPU, &v, R, xc, uc, C, yc, vc, want, C) == 0);
	/* the device: rows uploaded and normalised there, the tile downloaded into a wider host buffer */
	knn_dev d;
	knn_dev_open(&d, &GPU, &v, R, C);
	float *dx[L], *du[L], *dy[L], *dv[L];
	const float *xd[L], *ud[L], *yd[L], *vd[L];
	for (int l = 0; l < L; l++) {
		knn_dev_rows(&GPU, emb[l], cert[l], R, D, 2.0f, &dx[l], &du[l]);
		knn_dev_rows(&GPU, gemb[l], gcert[l], C, D, 2.0f, &dy[l], &dv[l]);
		xd[l] = dx[l], ud[l] = du[l], yd[l] = dy[l], vd[l] = dv[l];
	}
	float got[R * LDO];
	for (int i = 0; i < R * LDO; i++)
		got[i] = -7.0f;
	knn_dev_tile(&d, R, xd, ud, C, yd, vd, got, LDO);
	for (int r = 0; r < R; r++) {
		for (int c = 0; c < C; c++)
			CHECK_CLOSE(got[r * LDO + c], want[r * C + c], 0, 1e-5);
		for (int c = C; c < LDO; c++)
			CHECK(got[r * LDO + c] == -7.0f); /* the padding is not written */
	}
	for (int l = 0; l < L; l++) {
		devmem_free(&GPU, dx[l]);
		devmem_free(&GPU, du[l]);
		devmem_free(&GPU, dy[l]);
		devmem_free(&GPU, dv[l]);
		free(x[l]);
		free(y[l]);
	}
	knn_dev_close(&d);
}

int main(void)
{
	if (op_ctx_init(&CPU, OP_DEVICE_CPU, 1)) {
		printf("FAIL cuda_model_cpu_context: %s\n", CPU.err);
		return 1;
	}
	RUN(cuda_model_cpu_upload_is_a_noop);
	const char *env = getenv("AVSL_DEVICE");
	if (op_ctx_init(&GPU, OP_DEVICE_CUDA, 1)) {
		fprintf(stderr, "test_cuda_model: device cases not run: %s\n", GPU.err);
	} else if (env && strcmp(env, "cpu") == 0) {
		fprintf(stderr, "test_cuda_model: AVSL_DEVICE=cpu: device cases not run\n");
		op_ctx_free(&GPU);
	} else {
		RUN(cuda_model_trunk_frozen_bn_vs_cpu);
		RUN(cuda_model_trunk_eval_bn_vs_cpu);
		RUN(cuda_model_knn_device_tile_vs_cpu);
		op_ctx_free(&GPU);
	}
	op_ctx_free(&CPU);
	return harness_finish();
}
