/* explain_stats.c: the statistics of the faithfulness table and the sanity checks (see explain.h): bootstrap
 * intervals, paired win rates, Spearman rank correlation and SSIM of two maps. */
#include "explain.h"
#include "rng.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

explain_ci explain_bootstrap(const double *v, int n, int stride, int B, uint64_t seed)
{
	explain_ci ci = {NAN, NAN, NAN};
	if (n < 1)
		return ci;
	double s = 0;
	for (int i = 0; i < n; i++)
		s += v[(size_t)i * stride];
	ci.mean = s / n;
	if (B < 1) {
		ci.lo = ci.hi = ci.mean;
		return ci;
	}
	double *m = xmalloc_array((size_t)B, sizeof(double));
	rng r;
	rng_init(&r, seed, rng_stream_id(0x626f6f74, 0, 0));
	for (int b = 0; b < B; b++) {
		double a = 0;
		for (int i = 0; i < n; i++) {
			int k = (int)(rng_uniform(&r) * n);
			a += v[(size_t)(k < n ? k : n - 1) * stride];
		}
		m[b] = a / n;
	}
	qsort(m, (size_t)B, sizeof *m, cmp_double);
	/* percentile interval: the 2.5% and 97.5% order statistics */
	int lo = (int)floor(0.025 * (B - 1)), hi = (int)ceil(0.975 * (B - 1));
	ci.lo = m[lo];
	ci.hi = m[hi];
	free(m);
	return ci;
}

double explain_win_rate(const double *a, const double *b, int n, int stride, int higher_better)
{
	if (n < 1)
		return NAN;
	double w = 0;
	for (int i = 0; i < n; i++) {
		double x = a[(size_t)i * stride], y = b[(size_t)i * stride];
		if (x == y)
			w += 0.5;
		else if (higher_better ? x > y : x < y)
			w += 1;
	}
	return w / n;
}

typedef struct {
	float v;
	int i;
} valued;

static int cmp_valued(const void *a, const void *b)
{
	const valued *x = a, *y = b;
	return (x->v > y->v) - (x->v < y->v);
}

/* Average ranks (1-based) of P values: rank (P). */
static void ranks(const float *a, int P, double *rank)
{
	valued *v = xmalloc_array((size_t)P, sizeof *v);
	for (int i = 0; i < P; i++)
		v[i] = (valued){a[i], i};
	qsort(v, (size_t)P, sizeof *v, cmp_valued);
	for (int i = 0; i < P;) {
		int j = i;
		while (j + 1 < P && v[j + 1].v == v[i].v)
			j++;
		for (int k = i; k <= j; k++)
			rank[v[k].i] = 0.5 * (i + j) + 1;
		i = j + 1;
	}
	free(v);
}

double explain_spearman(const float *a, const float *b, int P)
{
	double *ra = xmalloc_array((size_t)P, sizeof(double)), *rb = xmalloc_array((size_t)P, sizeof(double));
	ranks(a, P, ra);
	ranks(b, P, rb);
	double ma = 0, mb = 0;
	for (int i = 0; i < P; i++)
		ma += ra[i], mb += rb[i];
	ma /= P, mb /= P;
	double sab = 0, saa = 0, sbb = 0;
	for (int i = 0; i < P; i++) {
		sab += (ra[i] - ma) * (rb[i] - mb);
		saa += (ra[i] - ma) * (ra[i] - ma);
		sbb += (rb[i] - mb) * (rb[i] - mb);
	}
	free(ra), free(rb);
	if (saa == 0 || sbb == 0)
		return saa == sbb ? 1.0 : 0.0;
	return sab / sqrt(saa * sbb);
}

/* min-max scaled copy of an (S, S) map: out in [0, 1]; a constant map is all 0 */
static void minmax(const float *a, int P, double *out)
{
	float mn = INFINITY, mx = -INFINITY;
	for (int i = 0; i < P; i++)
		mn = fminf(mn, a[i]), mx = fmaxf(mx, a[i]);
	for (int i = 0; i < P; i++)
		out[i] = mx > mn ? ((double)a[i] - mn) / ((double)mx - mn) : 0.0;
}

double explain_ssim(const float *a, const float *b, int S)
{
	const int P = S * S, win = S < 7 ? S : 7;
	const double C1 = 1e-4, C2 = 9e-4;
	double *x = xmalloc_array((size_t)P, sizeof(double)), *y = xmalloc_array((size_t)P, sizeof(double));
	minmax(a, P, x);
	minmax(b, P, y);
	double total = 0;
	int cnt = 0;
	const double nw = (double)win * win;
	for (int i = 0; i + win <= S; i++)
		for (int j = 0; j + win <= S; j++) {
			double mx = 0, my = 0, sxx = 0, syy = 0, sxy = 0;
			for (int u = 0; u < win; u++)
				for (int v = 0; v < win; v++) {
					double p = x[(i + u) * S + j + v], q = y[(i + u) * S + j + v];
					mx += p, my += q, sxx += p * p, syy += q * q, sxy += p * q;
				}
			mx /= nw, my /= nw;
			double vx = sxx / nw - mx * mx, vy = syy / nw - my * my, cxy = sxy / nw - mx * my;
			total += ((2 * mx * my + C1) * (2 * cxy + C2)) / ((mx * mx + my * my + C1) * (vx + vy + C2));
			cnt++;
		}
	free(x), free(y);
	return total / cnt;
}
