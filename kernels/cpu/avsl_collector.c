/* avsl_collector.c: training-time AVSL collector forward/backward (method §3.3-3.4) and the Proxy-Anchor losses
 * (§4.1 distance version, §4.3 cosine version). */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "op_backend.h"
#include "avsl_csc.h"
#include "cpu_internal.h"

int cpu_avsl_collector_fwd(op_ctx *ctx, const avsl_collector_view *c, int R, const float *const *x,
			   const float *const *u, int C, const float *const *y, const float *const *v, float *df,
			   float *const *dl)
{
	if (df && cpu_avsl_dist_tile(ctx, c, R, x, u, C, y, v, df, C))
		return -1;
	for (int l = 0; l < c->levels; l++)
		if (dl && dl[l] && cpu_avsl_level_dist_tile(ctx, R, x[l], C, y[l], c->dim, c->p, dl[l], C))
			return -1;
	return 0;
}

static inline float pdiff(float a, float b, float p)
{
	float d = a - b;
	return p == 2.0f ? d * d : powf(fabsf(d), p);
}

/* d/da |a - b|^p */
static inline float pdiff_grad(float a, float b, float p)
{
	float d = a - b;
	if (p == 2.0f)
		return 2.0f * d;
	return p * powf(fabsf(d), p - 1.0f) * (d > 0 ? 1.0f : d < 0 ? -1.0f : 0.0f);
}

int cpu_avsl_collector_bwd(op_ctx *ctx, const avsl_collector_view *c, int R, const float *const *x,
			   const float *const *u, int C, const float *const *y, const float *const *v, const float *Gf,
			   const float *const *Gl, float *const *dx, float *const *dy, float *const *dalpha,
			   float *const *dbeta)
{
	const int D = c->dim, L = c->levels, threads = ctx->threads;
	const float gam = c->gamma_p, pe = c->p;

	/* level paths: d_l = sum_n |x_hat - y_hat|^p */
	for (int l = 0; l < L; l++) {
		const float *G = Gl ? Gl[l] : NULL;
		if (dx && dx[l]) {
#pragma omp parallel for num_threads(threads) schedule(dynamic, 4)
			for (int r = 0; r < R; r++) {
				float *o = dx[l] + (size_t)r * D;
				memset(o, 0, sizeof(float) * D);
				if (!G)
					continue;
				for (int q = 0; q < C; q++) {
					float g = G[(size_t)r * C + q];
					if (g == 0.0f)
						continue;
					for (int n = 0; n < D; n++)
						o[n] += g * pdiff_grad(x[l][(size_t)r * D + n], y[l][(size_t)q * D + n], pe);
				}
			}
		}
		if (dy && dy[l]) {
#pragma omp parallel for num_threads(threads) schedule(dynamic, 4)
			for (int q = 0; q < C; q++) {
				float *o = dy[l] + (size_t)q * D;
				memset(o, 0, sizeof(float) * D);
				if (!G)
					continue;
				for (int r = 0; r < R; r++) {
					float g = G[(size_t)r * C + q];
					if (g == 0.0f)
						continue;
					for (int n = 0; n < D; n++)
						o[n] -= g * pdiff_grad(x[l][(size_t)r * D + n], y[l][(size_t)q * D + n], pe);
				}
			}
		}
	}
	if (!Gf || L < 2)
		return 0;

	/* final path: only the gates. Recompute each pair's forward (H, T, pi per level), then run §3.4 backward. */
	/* Per query row: dalpha[l][n], dbeta[l][n] of row r, summed over the rows in row order below. Rows are handed
	 * to threads dynamically (load balance), so per-thread partial sums would depend on the scheduling: the same
	 * run could round differently twice. Per-row partials make the result independent of scheduling and of the
	 * thread count. (R, 2, L, D) doubles: 180 x 2 x 3 x 512 x 8 B = 4.4 MB for the official batch. Then the
	 * per-thread work rows and S_hat in CSC form, all in the context scratch. */
	const size_t nacc = (size_t)R * 2 * L * D, per_thread = (size_t)3 * L * D + 2 * (size_t)D;
	int nnz[AVSL_MAX_LEVELS - 1];
	size_t sbytes = 0;
	for (int l = 0; l + 1 < L; l++) {
		nnz[l] = avsl_csc_nnz(c->s_hat[l], D);
		sbytes += (size_t)(D + 1) * sizeof(int) + (size_t)nnz[l] * (sizeof(int) + sizeof(float));
	}
	double *acc = cpu_scratch(ctx, nacc * sizeof(double) + (size_t)threads * per_thread * sizeof(float) + sbytes);
	if (!acc)
		return -1;
	float *work = (float *)(acc + nacc); /* (threads, per_thread) */
	csc S[AVSL_MAX_LEVELS - 1];
	char *at = (char *)(work + (size_t)threads * per_thread);
	for (int l = 0; l + 1 < L; l++) {
		S[l].val = (float *)at;
		S[l].ptr = (int *)(S[l].val + nnz[l]);
		S[l].row = S[l].ptr + D + 1;
		at = (char *)(S[l].row + nnz[l]);
		avsl_csc_fill(c->s_hat[l], D, &S[l]);
	}
	memset(acc, 0, nacc * sizeof *acc);
#pragma omp parallel num_threads(threads)
	{
		float *H = work + (size_t)omp_get_thread_num() * per_thread; /* (L, D) per-level H of one pair */
		float *T = H + (size_t)L * D, *P = T + (size_t)L * D;          /* (L, D) propagated T, gates pi */
		float *gH = P + (size_t)L * D, *dT = gH + D;                   /* (D) gradients on the way down */
#pragma omp for schedule(dynamic, 1)
		for (int r = 0; r < R; r++) {
			double *da = acc + (size_t)r * 2 * L * D, *db = da + (size_t)L * D;
			for (int q = 0; q < C; q++) {
				float G = Gf[(size_t)r * C + q];
				if (G == 0.0f)
					continue;
				for (int n = 0; n < D; n++)
					H[n] = pdiff(x[0][(size_t)r * D + n], y[0][(size_t)q * D + n], pe);
				for (int l = 1; l < L; l++) {
					const csc *s = &S[l - 1];
					float *Hp = H + (size_t)(l - 1) * D, *Hl = H + (size_t)l * D;
					float *Tl = T + (size_t)l * D, *Pl = P + (size_t)l * D;
					for (int n = 0; n < D; n++) {
						float t = 0.0f;
						for (int j = s->ptr[n]; j < s->ptr[n + 1]; j++)
							t += s->val[j] * Hp[s->row[j]];
						size_t ir = (size_t)r * D + n, iq = (size_t)q * D + n;
						float z = gam * fmaf(u[l][ir] * v[l][iq], c->alpha[l][n], c->beta[l][n]);
						float pi = 1.0f / (1.0f + expf(-z));
						float dl = pdiff(x[l][ir], y[l][iq], pe);
						Tl[n] = t;
						Pl[n] = pi;
						Hl[n] = fmaf(pi, dl - t, t);
					}
				}
				for (int n = 0; n < D; n++)
					gH[n] = G;
				for (int l = L - 1; l >= 1; l--) {
					float *Tl = T + (size_t)l * D, *Pl = P + (size_t)l * D;
					for (int n = 0; n < D; n++) {
						size_t ir = (size_t)r * D + n, iq = (size_t)q * D + n;
						float dl = pdiff(x[l][ir], y[l][iq], pe);
						float pi = Pl[n];
						float dpi = gH[n] * (dl - Tl[n]);
						dT[n] = gH[n] * (1.0f - pi);
						double dz = (double)dpi * pi * (1.0f - pi) * gam;
						da[(size_t)l * D + n] += dz * (u[l][ir] * v[l][iq]);
						db[(size_t)l * D + n] += dz;
					}
					if (l >= 2) { /* dL/dH_{l-1}[m] = sum_n S[m,n] dT[n] */
						const csc *s = &S[l - 1];
						memset(gH, 0, sizeof(float) * D);
						for (int n = 0; n < D; n++)
							for (int j = s->ptr[n]; j < s->ptr[n + 1]; j++)
								gH[s->row[j]] += s->val[j] * dT[n];
					}
				}
			}
		}
	}
	for (int l = 1; l < L; l++)
		for (int n = 0; n < D; n++) {
			double sa = 0, sb = 0;
			for (int r = 0; r < R; r++) {
				sa += acc[(size_t)r * 2 * L * D + (size_t)l * D + n];
				sb += acc[(size_t)r * 2 * L * D + (size_t)(L + l) * D + n];
			}
			if (dalpha && dalpha[l])
				dalpha[l][n] += (float)sa;
			if (dbeta && dbeta[l])
				dbeta[l][n] += (float)sb;
		}
	return 0;
}

/* Shared Proxy-Anchor form: positive logits ps*(d - pm), negative logits ns*(d - nm); per column
 * ln(1 + sum exp(logit)) over its positives / negatives, averaged as in §4.1. */
static float pa_generic(const float *d, int R, int C, const int32_t *ylab, const int32_t *zlab, float ps, float pm,
			float ns, float nm, float *grad)
{
	int npos_cols = 0;
	for (int q = 0; q < C; q++)
		for (int r = 0; r < R; r++)
			if (ylab[r] == zlab[q]) {
				npos_cols++;
				break;
			}
	double pos_sum = 0, neg_sum = 0;
	for (int q = 0; q < C; q++) {
		/* max-shifted: ln(1 + sum e^z) = M + ln(e^-M + sum e^(z-M)), M = max(0, max z) */
		double mp = 0, mn = 0;
		int hasp = 0;
		for (int r = 0; r < R; r++) {
			double z;
			if (ylab[r] == zlab[q]) {
				z = (double)ps * (d[(size_t)r * C + q] - pm);
				mp = z > mp ? z : mp;
				hasp = 1;
			} else {
				z = (double)ns * (d[(size_t)r * C + q] - nm);
				mn = z > mn ? z : mn;
			}
		}
		double sp = exp(-mp), sn = exp(-mn);
		for (int r = 0; r < R; r++) {
			if (ylab[r] == zlab[q])
				sp += exp((double)ps * (d[(size_t)r * C + q] - pm) - mp);
			else
				sn += exp((double)ns * (d[(size_t)r * C + q] - nm) - mn);
		}
		if (hasp)
			pos_sum += mp + log(sp);
		neg_sum += mn + log(sn);
		if (grad)
			for (int r = 0; r < R; r++) {
				double g;
				if (ylab[r] == zlab[q])
					g = ps * exp((double)ps * (d[(size_t)r * C + q] - pm) - mp) / sp / npos_cols;
				else
					g = ns * exp((double)ns * (d[(size_t)r * C + q] - nm) - mn) / sn / C;
				grad[(size_t)r * C + q] = (float)g;
			}
	}
	return (float)((npos_cols ? pos_sum / npos_cols : 0.0) + neg_sum / C);
}

int cpu_pa_dist_loss(op_ctx *ctx, const float *d, int R, int C, const int32_t *ylab, const int32_t *zlab, float mpos,
		     float mneg, float a, float *grad, float *loss)
{
	(void)ctx;
	*loss = pa_generic(d, R, C, ylab, zlab, a, mpos, -a, mneg, grad);
	return 0;
}

int cpu_pa_cos_loss(op_ctx *ctx, const float *s, int R, int C, const int32_t *ylab, const int32_t *zlab, float delta,
		    float a, float *grad, float *loss)
{
	(void)ctx;
	*loss = pa_generic(s, R, C, ylab, zlab, -a, delta, a, -delta, grad);
	return 0;
}
