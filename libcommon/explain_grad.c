/* explain_grad.c: the gradient of d_f with respect to image a's level features, with no stop-gradient (see
 * explain.h). Training stops the gradient of d_f at every Delta and certainty (method §3.4, P2); an explanation asks
 * how d_f itself responds, so here every path counts: Delta_l (directly and through the propagation T), the gates
 * through the certainties, the certainties through the CAMs, the CAMs and the pooled embedding through F_l. */
#include "explain.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void explain_df_grad(const avsl_collector_view *c, const explain_decomp *d, const float *const x[],
		     const float *const y[], const float *const v[], float *const dx[], float *const du[])
{
	const int L = d->L, D = d->D;
	const float p = c->p;
	for (int l = 0; l < L; l++)
		for (int n = 0; n < D; n++) {
			/* w_l[n] = dd_f/dH_l[n] (the reach, see explain.h); H_l = pi Delta + (1 - pi) T */
			float w = d->w[l][n], pi = d->pi[l][n];
			float diff = x[l][n] - y[l][n];
			float dDelta = p == 2.0f ? 2.0f * diff
						 : (diff == 0.0f ? 0.0f
								 : p * powf(fabsf(diff), p - 1.0f) * (diff > 0 ? 1.0f : -1.0f));
			dx[l][n] = w * pi * dDelta;
			if (l == 0) {
				du[l][n] = 0.0f; /* level 0 has no gate */
				continue;
			}
			float dpi = w * (d->delta[l][n] - d->t[l][n]);
			float dz = dpi * pi * (1.0f - pi);
			du[l][n] = dz * c->gamma_p * v[l][n] * c->alpha[l][n];
		}
}

/* Backward of avsl_certainty for one map a (H, W) with upstream du: dA (H, W) overwritten. */
static void certainty_bwd(const float *a, int H, int W, float du, float *dA)
{
	const int HW = H * W;
	memset(dA, 0, (size_t)HW * sizeof(float));
	if (HW < 2)
		return;
	double *q = xmalloc_array((size_t)HW, sizeof(double));
	int *amin = xmalloc_array((size_t)H, sizeof(int));
	double l1 = 0;
	for (int h = 0; h < H; h++) {
		int k = h * W; /* the first minimum of the row, as the kernel picks it */
		for (int w = 1; w < W; w++)
			if (a[h * W + w] < a[k])
				k = h * W + w;
		amin[h] = k;
		for (int w = 0; w < W; w++) {
			q[h * W + w] = (double)a[h * W + w] - a[k];
			l1 += q[h * W + w];
		}
	}
	double den = l1 > 1e-12 ? l1 : 1e-12, mean = 0, ss = 0;
	for (int j = 0; j < HW; j++)
		mean += q[j] / den;
	mean /= HW;
	for (int j = 0; j < HW; j++)
		ss += (q[j] / den - mean) * (q[j] / den - mean);
	double u = sqrt(ss / (HW - 1));
	if (u > 0) {
		/* u = sqrt(sum (P - mean)^2 / (HW - 1)), P = q / den: dP_j = du (P_j - mean) / ((HW - 1) u) */
		double dot = 0;
		double *dP = xmalloc_array((size_t)HW, sizeof(double));
		for (int j = 0; j < HW; j++) {
			dP[j] = du * (q[j] / den - mean) / ((HW - 1) * u);
			dot += dP[j] * q[j] / den;
		}
		/* dq_j = (dP_j - sum_k dP_k P_k) / den while den = l1 (the sum of q); a constant below 1e-12 */
		for (int h = 0; h < H; h++) {
			double rs = 0;
			for (int w = 0; w < W; w++) {
				int j = h * W + w;
				double dq = l1 > 1e-12 ? (dP[j] - dot) / den : dP[j] / den;
				dA[j] += (float)dq;
				rs += dq;
			}
			dA[amin[h]] -= (float)rs; /* q = a - a[row minimum] */
		}
		free(dP);
	}
	free(q), free(amin);
}

void explain_level_grad(const explain_model *em, int l, const explain_feats *fa, const float *dx, const float *du,
			float *dF)
{
	const model *m = &em->m;
	const int C = fa->C[l], HW = fa->H[l] * fa->W[l], D = em->D;
	const float *F = fa->feat[l]; /* (C, HW) */
	char name[64];
	snprintf(name, sizeof name, "embedder.conv.%d.weight", l);
	const float *Wt = paramset_data(&m->ps, paramset_find(&m->ps, name)); /* (D, C) */
	float *g = xmalloc_array((size_t)C, sizeof(float));      /* (C) */
	int32_t *am = xmalloc_array((size_t)C, sizeof(int32_t)); /* (C) */
	float *de = xmalloc_array((size_t)D, sizeof(float));     /* (D) */
	float *dg = xmalloc_array((size_t)C, sizeof(float));     /* (C) */
	op_ctx *ctx = explain_ctx(em);
	OP_DO(ctx, op_avsl_pool_fwd(ctx, F, 1, C, HW, g, am));
	/* embedding path: x = normalise(e), e = W g + b, g = mean + max pooling of F */
	OP_DO(ctx, op_avsl_normalize_rows_bwd(ctx, fa->emb[l], dx, 1, D, em->view.p, de));
	OP_DO(ctx, op_linear_bwd(ctx, 1, C, D, g, Wt, de, dg, NULL, NULL));
	OP_DO(ctx, op_avsl_pool_bwd(ctx, dg, am, 1, C, HW, dF));
	/* certainty path: u = certainty(A), A[c, j] = sum_k W[c, k] (F[k, j] + HW F[k, am_k] [j == am_k]) + b[c] */
	float *dA = xmalloc_array((size_t)D, (size_t)HW * sizeof(float)); /* (D, HW) */
	for (int n = 0; n < D; n++)
		certainty_bwd(fa->cam[l] + (size_t)n * HW, fa->H[l], fa->W[l], du[n], dA + (size_t)n * HW);
	float *wda = xcalloc((size_t)C * HW, sizeof(float)); /* (C, HW) = W^T dA */
	for (int n = 0; n < D; n++) {
		const float *an = dA + (size_t)n * HW;
		for (int k = 0; k < C; k++) {
			float w = Wt[(size_t)n * C + k];
			float *o = wda + (size_t)k * HW;
			for (int j = 0; j < HW; j++)
				o[j] += w * an[j];
		}
	}
	for (int k = 0; k < C; k++) {
		for (int j = 0; j < HW; j++)
			dF[(size_t)k * HW + j] += wda[(size_t)k * HW + j];
		dF[(size_t)k * HW + am[k]] += (float)HW * wda[(size_t)k * HW + am[k]];
	}
	free(g), free(am), free(de), free(dg), free(dA), free(wda);
}

void explain_map_grad(const explain_model *em, const explain_feats *fa, const explain_feats *fb,
		      const explain_decomp *d, int level, float *map)
{
	const int L = em->L, D = em->D, S = em->S;
	float *dx[AVSL_MAX_LEVELS] = {0}, *du[AVSL_MAX_LEVELS] = {0};
	for (int l = 0; l < L; l++) {
		dx[l] = xmalloc_array((size_t)D, sizeof(float));
		du[l] = xmalloc_array((size_t)D, sizeof(float));
	}
	explain_df_grad(&em->view, d, (const float *const *)fa->xh, (const float *const *)fb->xh,
			(const float *const *)fb->cert, dx, du);
	memset(map, 0, (size_t)S * S * sizeof(float));
	float *up = xmalloc_array((size_t)S * S, sizeof(float));
	for (int l = 0; l < L; l++) {
		if (level >= 0 && l != level)
			continue;
		const int C = fa->C[l], HW = fa->H[l] * fa->W[l];
		float *dF = xmalloc_array((size_t)C, (size_t)HW * sizeof(float)); /* (C, HW) */
		float *g = xcalloc((size_t)HW, sizeof(float));                    /* (H_l, W_l) */
		explain_level_grad(em, l, fa, dx[l], du[l], dF);
		for (int k = 0; k < C; k++)
			for (int j = 0; j < HW; j++)
				g[j] -= dF[(size_t)k * HW + j] * fa->feat[l][(size_t)k * HW + j];
		explain_upsample(g, fa->H[l], fa->W[l], up, S, S);
		for (int j = 0; j < S * S; j++)
			map[j] += up[j];
		free(dF), free(g);
	}
	free(up);
	for (int l = 0; l < L; l++)
		free(dx[l]), free(du[l]);
}
