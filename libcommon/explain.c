/* explain.c: see explain.h. Model loading, the eval forward with CAMs, the decomposition and the attribution maps. */
#include "explain.h"
#include "checkpoint.h"
#include "devmem.h"
#include "rng.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void finish_setup(explain_model *em)
{
	model *m = &em->m;
	if (!m->avsl)
		die("internal error: explain needs an AVSL model");
	em->L = model_levels(m);
	em->D = m->D;
	em->S = m->input_size;
	em->Cin = m->in_channels;
	for (int l = 0; l < em->L; l++) {
		em->H[l] = m->H[l];
		em->W[l] = m->W[l];
	}
	em->s_hat = xmalloc_array((size_t)(em->L - 1) * em->D, (size_t)em->D * sizeof(float));
	model_collector_view(m, &em->view, em->s_hat);
	em->planned = 0;
	if (devmem_is_device(resnet_ctx(m->trunk))) {
		if (op_ctx_init(&em->host, OP_DEVICE_CPU, m->dev->threads))
			die("%s", em->host.err);
		em->host_open = 1;
	}
}

void explain_model_load(explain_model *em, const char *path, avsl_device *dev)
{
	memset(em, 0, sizeof *em);
	train_config_init(&em->cfg);
	checkpoint_read_config(path, &em->cfg);
	if (em->cfg.setting != SETTING_AVSL)
		die("%s: a baseline (proxy_anchor) checkpoint has no AVSL distance to explain", path);
	em->cfg.threads = dev->threads;
	checkpoint_load(path, &em->cfg, &em->m, NULL, NULL, dev);
	finish_setup(em);
}

void explain_model_adopt(explain_model *em, model *m, const train_config *cfg)
{
	memset(em, 0, sizeof *em);
	em->cfg = *cfg;
	em->m = *m;
	memset(m, 0, sizeof *m);
	finish_setup(em);
}

void explain_model_free(explain_model *em)
{
	for (int l = 0; l < AVSL_MAX_LEVELS; l++)
		free(em->feat_host[l]);
	if (em->host_open)
		op_ctx_free(&em->host);
	model_free(&em->m);
	train_config_free(&em->cfg);
	free(em->s_hat);
	memset(em, 0, sizeof *em);
}

void explain_image_tensor(const explain_model *em, const image_u8 *im, float *x)
{
	const train_config *c = &em->cfg;
	image_u8 resized = {0};
	const image_u8 *src = im;
	int shorter = im->h < im->w ? im->h : im->w;
	if (c->resize > 0 && shorter != c->resize) {
		image_resize_shorter(im, c->resize, &resized);
		src = &resized;
	}
	int S = em->S;
	crop_box box = center_crop_box(src->h, src->w, S < src->h ? S : src->h, S < src->w ? S : src->w);
	image_to_tensor(src, box, S, S, 0, c->mean, c->std, em->Cin, x);
	image_free(&resized);
}

void explain_tensor_image(const explain_model *em, const float *x, image_u8 *out)
{
	int S = em->S, C = em->Cin;
	out->h = out->w = S;
	out->c = C;
	out->px = xmalloc_array((size_t)S * S, (size_t)C);
	for (int ch = 0; ch < C; ch++)
		for (int i = 0; i < S * S; i++) {
			float v = (x[(size_t)ch * S * S + i] * em->cfg.std[ch] + em->cfg.mean[ch]) * 255.0f;
			v = v < 0 ? 0 : (v > 255 ? 255 : v);
			out->px[(size_t)i * C + ch] = (uint8_t)lrintf(v);
		}
}

void explain_forward(explain_model *em, const float *x, int N, int with_cam, explain_feats *out)
{
	model *m = &em->m;
	const int L = em->L, D = em->D;
	op_ctx *tctx = resnet_ctx(m->trunk);
	if (N > em->planned) {
		model_plan_embed(m, N);
		em->planned = N;
		if (em->verbose)
			warn("activation arena: %.1f MB (forward-only, batch %d)", m->embed_bytes / 1e6, N);
		for (int l = 0; l < L && em->host_open; l++) {
			free(em->feat_host[l]);
			em->feat_host[l] = xmalloc_array((size_t)N * m->C[l], (size_t)em->H[l] * em->W[l] * sizeof(float));
		}
	}
	model_plan_embed(m, N); /* the trunk computes exactly the planned batch */
	const float *feat[MODEL_LEVELS];
	if (em->host_open) {
		/* the trunk on the device: the parameters uploaded once, the batch in, the level features back */
		if (!m->params_on_device) {
			paramset_upload(&m->ps, tctx);
			m->params_on_device = 1;
		}
		devmem_upload(tctx, m->dx, x, (size_t)N * em->Cin * em->S * em->S * sizeof(float));
		resnet_forward(m->trunk, &m->ps, m->dx, 0, feat);
		for (int l = 0; l < L; l++) {
			devmem_download(tctx, em->feat_host[l], feat[l],
					(size_t)N * m->C[l] * em->H[l] * em->W[l] * sizeof(float));
			feat[l] = em->feat_host[l];
		}
	} else {
		resnet_forward(m->trunk, &m->ps, x, 0, feat);
	}
	for (int i = 0; i < N; i++) {
		memset(&out[i], 0, sizeof out[i]);
		out[i].L = L;
		out[i].D = D;
	}
	for (int l = 0; l < L; l++) {
		int C = m->C[l], HW = em->H[l] * em->W[l];
		float *e = xmalloc_array((size_t)N * D, sizeof(float));              /* (N, D) */
		float *A = xmalloc_array((size_t)N * D, (size_t)HW * sizeof(float)); /* (N, D, H_l, W_l) */
		float *u = xmalloc_array((size_t)N * D, sizeof(float));              /* (N, D) */
		explain_head(em, l, feat[l], N, e, A, u);
		for (int i = 0; i < N; i++) {
			explain_feats *f = &out[i];
			f->C[l] = C;
			f->H[l] = em->H[l];
			f->W[l] = em->W[l];
			f->emb[l] = xmalloc_array((size_t)D, sizeof(float));
			f->xh[l] = xmalloc_array((size_t)D, sizeof(float));
			f->cert[l] = xmalloc_array((size_t)D, sizeof(float));
			memcpy(f->emb[l], e + (size_t)i * D, D * sizeof(float));
			memcpy(f->xh[l], e + (size_t)i * D, D * sizeof(float));
			OP_DO(explain_ctx(em), op_avsl_normalize_rows(explain_ctx(em), f->xh[l], 1, D, em->view.p));
			memcpy(f->cert[l], u + (size_t)i * D, D * sizeof(float));
			if (with_cam) {
				f->cam[l] = xmalloc_array((size_t)D * HW, sizeof(float));
				memcpy(f->cam[l], A + (size_t)i * D * HW, (size_t)D * HW * sizeof(float));
				f->feat[l] = xmalloc_array((size_t)C * HW, sizeof(float));
				memcpy(f->feat[l], feat[l] + (size_t)i * C * HW, (size_t)C * HW * sizeof(float));
			}
		}
		free(e), free(A), free(u);
	}
}

void explain_head(const explain_model *em, int l, const float *F, int N, float *emb, float *A, float *u)
{
	const model *m = &em->m;
	const int C = m->C[l], HW = em->H[l] * em->W[l], D = em->D;
	char name[64];
	snprintf(name, sizeof name, "embedder.conv.%d.weight", l);
	const float *Wt = paramset_data(&m->ps, paramset_find(&m->ps, name)); /* (D, C_l) */
	snprintf(name, sizeof name, "embedder.conv.%d.bias", l);
	const float *bias = paramset_data(&m->ps, paramset_find(&m->ps, name)); /* (D) */
	float *g = xmalloc_array((size_t)N * C, sizeof(float));      /* (N, C) */
	int32_t *am = xmalloc_array((size_t)N * C, sizeof(int32_t)); /* (N, C) */
	op_ctx *ctx = explain_ctx(em);
	OP_DO(ctx, op_avsl_pool_fwd(ctx, F, N, C, HW, g, am));
	OP_DO(ctx, op_linear_fwd(ctx, N, C, D, g, Wt, bias, emb, 0));
	OP_DO(ctx, op_avsl_cam_fwd(ctx, F, am, Wt, bias, N, C, HW, D, A));
	OP_DO(ctx, op_avsl_certainty(ctx, A, N, D, em->H[l], em->W[l], u));
	free(g), free(am);
}

void explain_feats_free(explain_feats *f)
{
	for (int l = 0; l < AVSL_MAX_LEVELS; l++) {
		free(f->emb[l]);
		free(f->xh[l]);
		free(f->cert[l]);
		free(f->cam[l]);
		free(f->feat[l]);
	}
	memset(f, 0, sizeof *f);
}

/* ---- decomposition ----------------------------------------------------------------------------------------- */

static inline float pdiff(float a, float b, float p)
{
	float d = a - b;
	return p == 2.0f ? d * d : powf(fabsf(d), p);
}

void explain_decompose(const avsl_collector_view *c, const float *const x[], const float *const u[],
		       const float *const y[], const float *const v[], explain_decomp *o)
{
	const int L = c->levels, D = c->dim;
	memset(o, 0, sizeof *o);
	o->L = L;
	o->D = D;
	for (int l = 0; l < L; l++) {
		o->delta[l] = xcalloc((size_t)D, sizeof(float));
		o->t[l] = xcalloc((size_t)D, sizeof(float));
		o->pi[l] = xcalloc((size_t)D, sizeof(float));
		o->h[l] = xcalloc((size_t)D, sizeof(float));
		o->w[l] = xcalloc((size_t)D, sizeof(float));
		o->ua[l] = (float *)u[l];
		o->ub[l] = (float *)v[l];
		double dl = 0;
		for (int n = 0; n < D; n++) {
			o->delta[l][n] = pdiff(x[l][n], y[l][n], c->p);
			dl += o->delta[l][n];
		}
		o->d[l] = dl;
	}
	/* Forward exactly as avsl_dist_tile_naive (float, same order), so df is that function's value. */
	for (int n = 0; n < D; n++) {
		o->h[0][n] = o->delta[0][n];
		o->pi[0][n] = 1.0f;
	}
	for (int l = 1; l < L; l++) {
		const float *S = c->s_hat[l - 1];
		for (int n = 0; n < D; n++) {
			float t = 0.0f;
			for (int m = 0; m < D; m++)
				t += o->h[l - 1][m] * S[(size_t)m * D + n];
			o->t[l][n] = t;
		}
		for (int n = 0; n < D; n++) {
			float z = c->gamma_p * fmaf(u[l][n] * v[l][n], c->alpha[l][n], c->beta[l][n]);
			float pi = 1.0f / (1.0f + expf(-z));
			o->pi[l][n] = pi;
			o->h[l][n] = pi * o->delta[l][n] + (1.0f - pi) * o->t[l][n];
		}
	}
	float s = 0.0f;
	double sd = 0;
	for (int n = 0; n < D; n++) {
		s += o->h[L - 1][n];
		sd += o->h[L - 1][n];
	}
	o->df = s;
	o->sum_h = sd;
	/* Reach of each level's own term, top-down: w_{L-1} = 1, w_l[m] = sum_n S_l[m,n] (1 - pi_{l+1}[n]) w_{l+1}[n]. */
	for (int n = 0; n < D; n++)
		o->w[L - 1][n] = 1.0f;
	for (int l = L - 2; l >= 0; l--) {
		const float *S = c->s_hat[l];
		for (int m = 0; m < D; m++) {
			double a = 0;
			for (int n = 0; n < D; n++)
				a += (double)S[(size_t)m * D + n] * (1.0 - o->pi[l + 1][n]) * o->w[l + 1][n];
			o->w[l][m] = (float)a;
		}
	}
	for (int l = 0; l < L; l++) {
		double a = 0;
		for (int n = 0; n < D; n++)
			a += (double)o->w[l][n] * o->pi[l][n] * o->delta[l][n];
		o->src[l] = a;
	}
}

void explain_decomp_free(explain_decomp *d)
{
	for (int l = 0; l < AVSL_MAX_LEVELS; l++) {
		free(d->delta[l]);
		free(d->t[l]);
		free(d->pi[l]);
		free(d->h[l]);
		free(d->w[l]);
	}
	memset(d, 0, sizeof *d);
}

int explain_top(const float *score, int n, int k, int *idx)
{
	if (k > n)
		k = n;
	int cnt = 0;
	/* Insertion into a sorted prefix: k is small (a handful of attributes). */
	for (int i = 0; i < n; i++) {
		float s = score[i];
		int pos = cnt;
		while (pos > 0 && score[idx[pos - 1]] < s)
			pos--;
		if (pos >= k)
			continue;
		int end = cnt < k ? cnt : k - 1;
		for (int j = end; j > pos; j--)
			idx[j] = idx[j - 1];
		idx[pos] = i;
		if (cnt < k)
			cnt++;
	}
	return cnt;
}

int explain_paths(const avsl_collector_view *c, const explain_decomp *d, const int *target, int nt, int per,
		  explain_path *out)
{
	if (c->levels != 3 || per < 1)
		return 0;
	const int D = c->dim;
	const float *S0 = c->s_hat[0], *S1 = c->s_hat[1];
	int cnt = 0;
	explain_path *best = xmalloc_array((size_t)per, sizeof *best);
	for (int t = 0; t < nt; t++) {
		int n = target[t], nb = 0;
		float g2 = 1.0f - d->pi[2][n];
		for (int m = 0; m < D; m++) {
			float s1 = S1[(size_t)m * D + n];
			if (s1 == 0.0f)
				continue;
			float g1 = g2 * s1 * (1.0f - d->pi[1][m]);
			for (int j = 0; j < D; j++) {
				float s0 = S0[(size_t)j * D + m];
				if (s0 == 0.0f)
					continue;
				float f = g1 * s0 * d->delta[0][j];
				if (nb == per && !(f > best[nb - 1].flow))
					continue;
				int pos = nb < per ? nb++ : per - 1;
				while (pos > 0 && best[pos - 1].flow < f) {
					best[pos] = best[pos - 1];
					pos--;
				}
				best[pos] = (explain_path){.dim = {j, m, n}, .flow = f};
			}
		}
		memcpy(out + cnt, best, (size_t)nb * sizeof *best);
		cnt += nb;
	}
	free(best);
	return cnt;
}

/* ---- attribution maps ------------------------------------------------------------------------------------ */

void explain_evidence(const explain_decomp *d, const explain_feats *a, const explain_feats *b, float *e)
{
	for (int l = 0; l < d->L; l++)
		for (int n = 0; n < d->D; n++)
			e[(size_t)l * d->D + n] = 2.0f * d->w[l][n] * d->pi[l][n] * a->xh[l][n] * b->xh[l][n];
}

void explain_upsample(const float *in, int h, int w, float *out, int oh, int ow)
{
	for (int y = 0; y < oh; y++) {
		float sy = ((float)y + 0.5f) * h / oh - 0.5f;
		sy = sy < 0 ? 0 : (sy > h - 1 ? h - 1 : sy);
		int y0 = (int)sy, y1 = y0 + 1 < h ? y0 + 1 : y0;
		float fy = sy - y0;
		for (int x = 0; x < ow; x++) {
			float sx = ((float)x + 0.5f) * w / ow - 0.5f;
			sx = sx < 0 ? 0 : (sx > w - 1 ? w - 1 : sx);
			int x0 = (int)sx, x1 = x0 + 1 < w ? x0 + 1 : x0;
			float fx = sx - x0;
			float top = in[y0 * w + x0] * (1 - fx) + in[y0 * w + x1] * fx;
			float bot = in[y1 * w + x0] * (1 - fx) + in[y1 * w + x1] * fx;
			out[y * ow + x] = top * (1 - fy) + bot * fy;
		}
	}
}

void explain_map_avsl(const explain_model *em, const explain_feats *a, const float *e, int k, float *map)
{
	explain_map_avsl_level(em, a, e, k, -1, map);
}

void explain_map_avsl_level(const explain_model *em, const explain_feats *a, const float *e, int k, int level,
			    float *map)
{
	const int S = em->S, D = em->D;
	memset(map, 0, (size_t)S * S * sizeof(float));
	int *idx = xmalloc_array((size_t)(k > 0 ? k : 1), sizeof(int));
	float *up = xmalloc_array((size_t)S * S, sizeof(float));
	for (int l = 0; l < em->L; l++) {
		if (level >= 0 && l != level)
			continue;
		int HW = a->H[l] * a->W[l];
		float *m = xmalloc_array((size_t)HW, sizeof(float));
		int nk = explain_top(e + (size_t)l * D, D, k, idx);
		for (int i = 0; i < nk; i++) {
			int n = idx[i];
			float ev = e[(size_t)l * D + n];
			if (!(ev > 0.0f))
				break;
			float s = a->xh[l][n] < 0 ? -1.0f : 1.0f;
			const float *A = a->cam[l] + (size_t)n * HW;
			float mn = INFINITY;
			for (int j = 0; j < HW; j++)
				mn = fminf(mn, s * A[j]);
			double sum = 0;
			for (int j = 0; j < HW; j++) {
				m[j] = s * A[j] - mn;
				sum += m[j];
			}
			if (!(sum > 0))
				continue;
			for (int j = 0; j < HW; j++)
				m[j] = (float)(m[j] / sum);
			explain_upsample(m, a->H[l], a->W[l], up, S, S);
			for (int j = 0; j < S * S; j++)
				map[j] += ev * up[j];
		}
		free(m);
	}
	free(idx);
	free(up);
}

void explain_map_cam(const explain_model *em, const explain_feats *a, float *map)
{
	int l = em->L - 1, HW = a->H[l] * a->W[l];
	float *m = xcalloc((size_t)HW, sizeof(float));
	for (int n = 0; n < em->D; n++)
		for (int j = 0; j < HW; j++) {
			float v = a->cam[l][(size_t)n * HW + j];
			m[j] += v > 0 ? v : 0;
		}
	explain_upsample(m, a->H[l], a->W[l], map, em->S, em->S);
	free(m);
}
