/* avsl_embed.c: training-time AVSL embedder ops (method §2): pooled embeddings (avg + max pool, 1x1 conv as a
 * GEMM) forward/backward, class-activation maps, certainties, batch links, row normalisation backward. */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "op_backend.h"
#include "avsl_csc.h"
#include "cpu_internal.h"

int cpu_avsl_pool_fwd(op_ctx *ctx, const float *F, int N, int C, int HW, float *g, int32_t *argmax)
{
	const int threads = ctx->threads;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 16)
	for (int64_t bk = 0; bk < (int64_t)N * C; bk++) {
		const float *f = F + bk * HW;
		double s = 0;
		float mx = f[0];
		int am = 0;
		for (int j = 0; j < HW; j++) {
			s += f[j];
			if (f[j] > mx) { /* strict: the first maximum in row-major order wins */
				mx = f[j];
				am = j;
			}
		}
		g[bk] = (float)(s / HW) + mx;
		argmax[bk] = am;
	}
	return 0;
}

int cpu_avsl_pool_bwd(op_ctx *ctx, const float *dg, const int32_t *argmax, int N, int C, int HW, float *dF)
{
	const int threads = ctx->threads;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 16)
	for (int64_t bk = 0; bk < (int64_t)N * C; bk++) {
		float *d = dF + bk * HW;
		float a = dg[bk] / HW;
		for (int j = 0; j < HW; j++)
			d[j] = a;
		d[argmax[bk]] += dg[bk];
	}
	return 0;
}

int cpu_avsl_cam_fwd(op_ctx *ctx, const float *F, const int32_t *argmax, const float *W, const float *bias, int N,
		     int C, int HW, int D, float *A)
{
	/* One GEMM for the whole batch (a per-image GEMM and a thread team per image cost more than the arithmetic at
	 * the demo's sizes): F is copied channel-major, Fc (C, N*HW), so A' = W Fc is (D, N*HW); then per (image,
	 * dimension) row A' goes back to A's (N, D, HW) layout with the linearised max added. The GEMM splits its
	 * output columns over ctx->threads (cpu_sgemm), as the copies and the scatter do. */
	const int threads = ctx->threads;
	const size_t NHW = (size_t)N * HW;
	float *Fc = cpu_scratch(ctx, sizeof(float) * (NHW * C + NHW * D)); /* (C, N*HW), then A' (D, N*HW) */
	if (!Fc)
		return -1;
	float *Ac = Fc + NHW * C;
#pragma omp parallel num_threads(threads)
	{
#pragma omp for schedule(dynamic, 16)
		for (int64_t bk = 0; bk < (int64_t)N * C; bk++) {
			int64_t b = bk / C, k = bk % C;
			memcpy(Fc + (size_t)k * NHW + (size_t)b * HW, F + bk * HW, sizeof(float) * HW);
		}
#pragma omp for schedule(dynamic, 16)
		for (int c = 0; c < D; c++) /* the bias goes in before the GEMM (beta = 1): summed first, as before */
			for (size_t j = 0; j < NHW; j++)
				Ac[(size_t)c * NHW + j] = bias[c];
	}
	cpu_sgemm(ctx, 0, 0, D, (int)NHW, C, 1.0f, W, C, Fc, (int)NHW, 1.0f, Ac, (int)NHW);
	/* the linearised max: N_i * max at the arg-max position, through the same weights, one (image, dimension)
	 * row of A per iteration */
#pragma omp parallel for num_threads(threads) schedule(dynamic, 16)
	for (int64_t bc = 0; bc < (int64_t)N * D; bc++) {
		int64_t b = bc / D, c = bc % D;
		float *ar = A + bc * HW;
		memcpy(ar, Ac + (size_t)c * NHW + (size_t)b * HW, sizeof(float) * HW);
		const float *Fb = F + (size_t)b * C * HW, *wr = W + (size_t)c * C;
		const int32_t *amb = argmax + (size_t)b * C;
		for (int k = 0; k < C; k++)
			ar[amb[k]] += wr[k] * ((float)HW * Fb[(size_t)k * HW + amb[k]]);
	}
	return 0;
}

void avsl_cam_fwd_naive(const float *F, const int32_t *argmax, const float *W, const float *bias, int N, int C,
			int HW, int D, float *A)
{
	for (int b = 0; b < N; b++)
		for (int c = 0; c < D; c++)
			for (int j = 0; j < HW; j++) {
				double s = bias[c];
				for (int k = 0; k < C; k++) {
					float f = F[((size_t)b * C + k) * HW + j];
					if (argmax[(size_t)b * C + k] == j)
						f += (float)HW * f;
					s += (double)W[(size_t)c * C + k] * f;
				}
				A[((size_t)b * D + c) * HW + j] = (float)s;
			}
}

int cpu_avsl_certainty(op_ctx *ctx, const float *A, int N, int D, int H, int W, float *u)
{
	const int HW = H * W, threads = ctx->threads;
	float *qs = cpu_scratch(ctx, (size_t)threads * HW * sizeof *qs); /* (threads, HW): one map per thread */
	if (!qs)
		return -1;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 16)
	for (int64_t bc = 0; bc < (int64_t)N * D; bc++) {
		const float *a = A + bc * HW;
		float *q = qs + (size_t)omp_get_thread_num() * HW;
		double l1 = 0;
		for (int h = 0; h < H; h++) {
			float mn = a[h * W];
			for (int w = 1; w < W; w++)
				mn = a[h * W + w] < mn ? a[h * W + w] : mn;
			for (int w = 0; w < W; w++) {
				q[h * W + w] = a[h * W + w] - mn;
				l1 += fabsf(q[h * W + w]);
			}
		}
		/* std(q / den) = std(q) / den: no division per element (the sums are double, the result float) */
		double den = l1 > 1e-12 ? l1 : 1e-12, mean = l1 / HW, ss = 0;
		for (int j = 0; j < HW; j++) {
			double d = q[j] - mean;
			ss += d * d;
		}
		/* unbiased std; a single position has no spread (torch would give NaN): 0 */
		u[bc] = HW > 1 ? (float)(sqrt(ss / (HW - 1)) / den) : 0.0f;
	}
	return 0;
}

/* Adaptive average pooling of one (Hi, Wi) map to (Ho, Wo), PyTorch's cell bounds. */
static void adaptive_avg(const float *a, int Hi, int Wi, int Ho, int Wo, float *o)
{
	for (int p = 0; p < Ho; p++) {
		int h0 = p * Hi / Ho, h1 = ((p + 1) * Hi + Ho - 1) / Ho;
		for (int q = 0; q < Wo; q++) {
			int w0 = q * Wi / Wo, w1 = ((q + 1) * Wi + Wo - 1) / Wo;
			double s = 0;
			for (int h = h0; h < h1; h++)
				for (int w = w0; w < w1; w++)
					s += a[h * Wi + w];
			o[p * Wo + q] = (float)(s / ((h1 - h0) * (w1 - w0)));
		}
	}
}

static void l2norm_vec(float *v, int M)
{
	double s = 0;
	for (int j = 0; j < M; j++)
		s += (double)v[j] * v[j];
	float n = (float)sqrt(s);
	n = n > 1e-12f ? n : 1e-12f;
	for (int j = 0; j < M; j++)
		v[j] /= n;
}

int cpu_avsl_link_batch(op_ctx *ctx, const float *lo, int Hl, int Wl, const float *hi, int Hh, int Wh, int N, int D,
			float *link)
{
	const int M = Hh * Wh, threads = ctx->threads;
	/* (D, N, M) pooled, normalised lo and normalised hi, dimension-major so that the sum over images and
	 * positions is one GEMM with K = N*M (a GEMM per image costs more than its arithmetic at the demo's sizes) */
	const size_t NM = (size_t)N * M;
	float *Lo = cpu_scratch(ctx, sizeof(float) * 2 * (size_t)D * NM);
	if (!Lo)
		return -1;
	float *Hi = Lo + (size_t)D * NM;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 16)
	for (int64_t bc = 0; bc < (int64_t)N * D; bc++) {
		int64_t b = bc / D, c = bc % D;
		float *lo_o = Lo + (size_t)c * NM + (size_t)b * M, *hi_o = Hi + (size_t)c * NM + (size_t)b * M;
		adaptive_avg(lo + bc * Hl * Wl, Hl, Wl, Hh, Wh, lo_o);
		l2norm_vec(lo_o, M);
		memcpy(hi_o, hi + bc * M, sizeof(float) * M);
		l2norm_vec(hi_o, M);
	}
	cpu_sgemm(ctx, 0, 1, D, D, (int)NM, 1.0f / N, Lo, (int)NM, Hi, (int)NM, 0.0f, link, D);
	return 0;
}

int cpu_avsl_normalize_rows_bwd(op_ctx *ctx, const float *x, const float *dxh, int64_t n, int D, float p, float *dx)
{
	(void)ctx;
	for (int64_t i = 0; i < n; i++) {
		const float *xr = x + i * D, *g = dxh + i * D;
		float *o = dx + i * D;
		float nu = avsl_pnorm(xr, D, p);
		if (!(nu > 1e-12f)) { /* clamped denominator: a constant */
			for (int j = 0; j < D; j++)
				o[j] = g[j] / 1e-12f;
			continue;
		}
		/* x_hat = x / nu; dL/dx_j = g_j / nu - (sum_i g_i x_i) / nu^2 * dnu/dx_j,
		 * dnu/dx_j = sign(x_j) |x_j|^(p-1) / nu^(p-1) */
		double gx = 0;
		for (int j = 0; j < D; j++)
			gx += (double)g[j] * xr[j];
		double inv = 1.0 / nu;
		if (p == 2.0f) {
			for (int j = 0; j < D; j++)
				o[j] = (float)(g[j] * inv - gx * inv * inv * inv * xr[j]);
		} else {
			double nup = pow(nu, p - 1.0);
			for (int j = 0; j < D; j++) {
				double dn = (xr[j] > 0 ? 1.0 : xr[j] < 0 ? -1.0 : 0.0) * pow(fabs(xr[j]), p - 1.0) / nup;
				o[j] = (float)(g[j] * inv - gx * inv * inv * dn);
			}
		}
	}
	return 0;
}
