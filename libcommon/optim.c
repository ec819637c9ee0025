/* optim.c: see optim.h. */
#include "optim.h"
#include "threadpool.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static float *alloc_like(const paramset *ps)
{
	size_t bytes;
	if (size_mul(ps->total ? ps->total : 16, sizeof(float), &bytes))
		die("optimiser state too large");
	float *p = aligned_alloc(64, bytes);
	if (!p)
		die("out of memory allocating %zu bytes of optimiser state", bytes);
	memset(p, 0, bytes);
	return p;
}

void adamw_init(adamw *o, paramset *ps)
{
	if (!ps->finalized)
		die("internal error: adamw_init before paramset_finalize");
	memset(o, 0, sizeof *o);
	o->ps = ps;
	o->beta1 = 0.9;
	o->beta2 = 0.999;
	o->eps = 1e-8;
	for (int g = 0; g < PG_COUNT; g++)
		o->group[g].active = 1;
	o->m = alloc_like(ps);
	o->v = alloc_like(ps);
}

void adamw_free(adamw *o)
{
	free(o->m);
	free(o->v);
	memset(o, 0, sizeof *o);
}

static int in_group(const param_info *p, param_group g) { return p->trainable && p->group == g && g != PG_NONE; }

size_t adamw_group_numel(const adamw *o, param_group g)
{
	size_t n = 0;
	for (int i = 0; i < o->ps->n; i++)
		if (in_group(&o->ps->info[i], g))
			n += o->ps->info[i].numel;
	return n;
}

/* The arithmetic of torch 1.13 _single_tensor_adamw in float32: python-float hyper-parameters are rounded to float
 * where torch passes them to a tensor op, bias corrections are computed in double like python does. */
static void adamw_tensor(float *restrict p, const float *restrict g, float *restrict m, float *restrict v, size_t n,
			 float decay, float b1, float one_minus_b1, float b2, float one_minus_b2, float bc2_sqrt,
			 float eps, float neg_step_size, int threads)
{
#pragma omp parallel for schedule(static) num_threads(threads) if (n >= 65536)
	for (size_t i = 0; i < n; i++) {
		float gi = g[i];
		float pi = p[i] * decay;
		float mi = m[i] * b1 + one_minus_b1 * gi;
		float vi = v[i] * b2 + one_minus_b2 * gi * gi;
		float denom = sqrtf(vi) / bc2_sqrt + eps;
		m[i] = mi;
		v[i] = vi;
		p[i] = pi + neg_step_size * (mi / denom);
	}
}

void adamw_step(adamw *o)
{
	paramset *ps = o->ps;
	int threads = o->threads > 0 ? o->threads : avsl_cpu_count();
	for (int g = 1; g < PG_COUNT; g++) {
		adamw_group *gr = &o->group[g];
		if (!gr->active)
			continue;
		gr->step++;
		double bc1 = 1.0 - pow(o->beta1, (double)gr->step);
		double bc2 = 1.0 - pow(o->beta2, (double)gr->step);
		float decay = (float)(1.0 - gr->lr * gr->wd);
		float neg_step_size = (float)(-(gr->lr / bc1));
		float bc2_sqrt = (float)sqrt(bc2);
		for (int i = 0; i < ps->n; i++) {
			const param_info *pi = &ps->info[i];
			if (!in_group(pi, (param_group)g))
				continue;
			size_t off = pi->offset;
			adamw_tensor(ps->data + off, ps->grad + off, o->m + off, o->v + off, pi->numel, decay,
				     (float)o->beta1, (float)(1.0 - o->beta1), (float)o->beta2, (float)(1.0 - o->beta2),
				     bc2_sqrt, (float)o->eps, neg_step_size, threads);
		}
	}
}

double steplr_lr(double lr0, int epoch, int warm_up, int step, double gamma)
{
	if (epoch < warm_up)
		return lr0;
	if (step < 1)
		step = 1;
	int k = (epoch - warm_up) / step;
	double lr = lr0;
	/* Repeated multiplication like torch's chained StepLR (lr *= gamma at each boundary). */
	for (int i = 0; i < k; i++)
		lr *= gamma;
	return lr;
}

double grad_norm_group(const paramset *ps, param_group g)
{
	double ss = 0;
	for (int i = 0; i < ps->n; i++) {
		const param_info *pi = &ps->info[i];
		if (!in_group(pi, g))
			continue;
		const float *gr = ps->grad + pi->offset;
		double s = 0;
		for (size_t j = 0; j < pi->numel; j++)
			s += (double)gr[j] * gr[j];
		ss += s;
	}
	return sqrt(ss);
}

double grad_clip_group(paramset *ps, param_group g, double max_norm)
{
	double norm = grad_norm_group(ps, g);
	double coef = max_norm / (norm + 1e-6);
	if (coef >= 1.0)
		return norm;
	float c = (float)coef;
	for (int i = 0; i < ps->n; i++) {
		const param_info *pi = &ps->info[i];
		if (!in_group(pi, g))
			continue;
		float *gr = ps->grad + pi->offset;
		for (size_t j = 0; j < pi->numel; j++)
			gr[j] *= c;
	}
	return norm;
}

int optim_clip_due(clip_mode mode, int64_t iter)
{
	switch (mode) {
	case CLIP_FIRST: return iter == 0;
	case CLIP_EVERY: return 1;
	default: return 0;
	}
}

static const char *const clip_names[] = {"first", "every", "never"};

int clip_mode_parse(const char *s)
{
	for (int i = 0; i < 3; i++)
		if (strcmp(s, clip_names[i]) == 0)
			return i;
	return -1;
}

const char *clip_mode_name(clip_mode m) { return (unsigned)m < 3 ? clip_names[m] : "?"; }
