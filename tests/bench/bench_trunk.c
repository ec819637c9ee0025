/* bench_trunk: images/s of a ResNet trunk forward and forward+backward (frozen BN unless --train-bn), and the
 * OpenBLAS sgemm rate of this machine. tests/bench/trunk.sh runs it beside tests/bench/trunk_torch.py and prints
 * the table; alone it prints one line:
 *   trunk ARCH N SIZE MODE IMG_PER_S GFLOP_PER_S        (MODE fwd or fwdbwd; best iteration after a warm-up)
 *   sgemm M GFLOP_PER_S
 * Usage: bench_trunk [-a ARCH] [-n BATCH] [-s SIZE] [-c IN_CHANNELS] [-t THREADS] [-i ITERS] [-m fwd|fwdbwd]
 *                    [--train-bn] | --sgemm M
 */
#include <cblas.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "params.h"
#include "resnet.h"
#include "util.h"

static void sgemm_rate(int M, int threads, int iters)
{
	openblas_set_num_threads(threads);
	float *a = xmalloc_array((size_t)M * M, sizeof(float)), *b = xmalloc_array((size_t)M * M, sizeof(float));
	float *c = xmalloc_array((size_t)M * M, sizeof(float));
	for (size_t i = 0; i < (size_t)M * M; i++)
		a[i] = (float)(i % 7) * 0.1f, b[i] = (float)(i % 5) * 0.1f;
	double best = 1e30;
	for (int it = 0; it <= iters; it++) {
		double t0 = avsl_now();
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, M, M, 1.0f, a, M, b, M, 0.0f, c, M);
		double t = avsl_now() - t0;
		if (it && t < best)
			best = t;
	}
	printf("sgemm %d %.1f\n", M, 2.0 * M * (double)M * M / best * 1e-9);
	free(a), free(b), free(c);
}

int main(int argc, char **argv)
{
	avsl_set_progname("bench_trunk");
	const char *arch = "resnet50", *mode = "fwd";
	int N = 8, S = 224, cin = 3, threads = 2, iters = 2, train_bn = 0, sgemm = 0;
	static const struct option lo[] = {{"train-bn", no_argument, NULL, 'B'}, {"sgemm", required_argument, NULL, 'G'},
					   {NULL, 0, NULL, 0}};
	int o;
	while ((o = getopt_long(argc, argv, "a:n:s:c:t:i:m:", lo, NULL)) != -1) {
		switch (o) {
		case 'a': arch = optarg; break;
		case 'n': N = (int)opt_long("-n", optarg, 1, 4096); break;
		case 's': S = (int)opt_long("-s", optarg, 8, 4096); break;
		case 'c': cin = (int)opt_long("-c", optarg, 1, 16); break;
		case 't': threads = (int)opt_long("-t", optarg, 1, 1024); break;
		case 'i': iters = (int)opt_long("-i", optarg, 1, 1000); break;
		case 'm': mode = optarg; break;
		case 'B': train_bn = 1; break;
		case 'G': sgemm = (int)opt_long("--sgemm", optarg, 16, 16384); break;
		default: die_usage("bad option");
		}
	}
	if (sgemm) {
		sgemm_rate(sgemm, threads, iters);
		return 0;
	}
	int bwd = !strcmp(mode, "fwdbwd");
	if (!bwd && strcmp(mode, "fwd"))
		die_usage("-m: fwd or fwdbwd");
	paramset ps;
	paramset_init(&ps);
	avsl_device *dev = avsl_device_open("cpu", threads, "the trunk benchmark", NULL); /* the peer is PyTorch on the CPU */
	resnet_config cfg = {arch, cin, 0, !train_bn, &dev->ctx};
	resnet *r = resnet_create(&cfg, &ps);
	paramset_finalize(&ps);
	resnet_init(r, &ps, 1);
	resnet_plan(r, N, S, S);
	size_t nx = (size_t)N * cin * S * S;
	float *x = xmalloc_array(nx, sizeof *x), *g[3];
	for (size_t i = 0; i < nx; i++)
		x[i] = (float)((i * 2654435761u) % 1000) * 0.002f - 1.0f;
	for (int l = 0; l < 3; l++) {
		int C, H, W;
		resnet_feature_shape(r, l, &C, &H, &W);
		size_t n = (size_t)N * C * H * W;
		g[l] = xmalloc_array(n, sizeof(float));
		for (size_t i = 0; i < n; i++)
			g[l][i] = (float)((i * 40503u) % 1000) * 1e-6f;
	}
	const float *feat[3];
	double best = 1e30;
	for (int it = 0; it <= iters; it++) {
		double t0 = avsl_now();
		resnet_forward(r, &ps, x, bwd, feat);
		if (bwd)
			resnet_backward(r, &ps, (const float *const *)g, 1);
		double t = avsl_now() - t0;
		if (it && t < best) /* iteration 0 is the warm-up (primitive creation) */
			best = t;
	}
	/* backward: data grad + weight grad = 2x the forward convolution FLOPs (the stem has no data grad) */
	double flops = resnet_flops_per_image(r) * (bwd ? 3 : 1) * N;
	printf("trunk %s %d %d %s %.2f %.1f\n", arch, N, S, mode, N / best, flops / best * 1e-9);
	for (int l = 0; l < 3; l++)
		free(g[l]);
	free(x);
	resnet_free(r);
	paramset_free(&ps);
	avsl_device_close(dev);
	return 0;
}
