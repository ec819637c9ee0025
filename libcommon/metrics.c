/* metrics.c: see metrics.h. Per-query values are kept (float, 4*(2K+2) bytes a query) so the slice mean can be
 * formed after a stream of unknown length has ended; the means are summed in double. */
#include "metrics.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

static int nv(const metrics_acc *m) { return 2 * m->nk + 2; }

void metrics_init(metrics_acc *m, const long *ks, int nk)
{
	memset(m, 0, sizeof *m);
	m->nk = nk;
	memcpy(m->ks, ks, (size_t)nk * sizeof *ks);
}

void metrics_free(metrics_acc *m)
{
	free(m->v);
	free(m->lone);
	memset(m, 0, sizeof *m);
}

void metrics_add(metrics_acc *m, const avg_query *q, const avg_neighbour *nb)
{
	if (m->n == m->cap) {
		m->cap = m->cap ? 2 * m->cap : 1024;
		m->v = xrealloc_array(m->v, m->cap, (size_t)nv(m) * sizeof *m->v);
		m->lone = xrealloc_array(m->lone, m->cap, 1);
	}
	float *v = m->v + m->n * (uint64_t)nv(m);
	uint8_t *lone = &m->lone[m->n++];
	uint32_t R = q->n_relevant, n = q->count;
	*lone = R == 0;
	if (*lone) {
		m->n_lone++;
		memset(v, 0, (size_t)nv(m) * sizeof *v);
		return;
	}
	if (n < R)
		m->n_trunc++;
	for (int i = 0; i < m->nk; i++) {
		long K = m->ks[i];
		uint32_t hits = 0;
		for (uint32_t j = 0; j < n && j < (uint64_t)K; j++)
			hits += nb[j].label == q->label;
		v[i] = hits > 0;
		v[m->nk + i] = (float)((double)hits / (double)K);
	}
	uint32_t hits = 0;
	double ap = 0;
	for (uint32_t j = 0; j < n && j < R; j++)
		if (nb[j].label == q->label) {
			hits++;
			ap += (double)hits / (double)(j + 1);
		}
	v[2 * m->nk] = (float)((double)hits / R);
	v[2 * m->nk + 1] = (float)(ap / R);
}

/* Mean of the per-query values of queries [a, b) that are not lone; returns how many were averaged. */
static uint64_t range_mean(const metrics_acc *m, uint64_t a, uint64_t b, double *sum /* (nv) */)
{
	int w = nv(m);
	uint64_t cnt = 0;
	for (int i = 0; i < w; i++)
		sum[i] = 0;
	for (uint64_t q = a; q < b; q++) {
		if (m->lone[q])
			continue;
		const float *v = m->v + q * (uint64_t)w;
		for (int i = 0; i < w; i++)
			sum[i] += v[i];
		cnt++;
	}
	if (cnt)
		for (int i = 0; i < w; i++)
			sum[i] /= (double)cnt;
	return cnt;
}

static void to_mean(const metrics_acc *m, const double *s, metrics_mean *out)
{
	for (int i = 0; i < m->nk; i++) {
		out->recall[i] = s[i];
		out->precision[i] = s[m->nk + i];
	}
	out->r_precision = s[2 * m->nk];
	out->map_at_r = s[2 * m->nk + 1];
}

void metrics_global(const metrics_acc *m, metrics_mean *out)
{
	double s[2 * METRICS_MAX_K + 2];
	memset(out, 0, sizeof *out);
	out->evaluated = range_mean(m, 0, m->n, s);
	out->slices = 1;
	to_mean(m, s, out);
}

int metrics_sliced(const metrics_acc *m, uint64_t S, metrics_mean *out)
{
	memset(out, 0, sizeof *out);
	if (S < 1 || S > m->n)
		return -1;
	int w = nv(m);
	double s[2 * METRICS_MAX_K + 2], acc[2 * METRICS_MAX_K + 2] = {0};
	uint64_t rows = m->n / S, used = 0, formed = 0;
	for (uint64_t a = 0; a < m->n; a += rows) {
		uint64_t b = a + rows;
		if (b > m->n || formed == S) /* the remainder slice: everything after S full slices */
			b = m->n;
		formed++;
		if (range_mean(m, a, b, s)) {
			for (int i = 0; i < w; i++)
				acc[i] += s[i];
			used++;
		}
		if (b == m->n)
			break;
	}
	if (used)
		for (int i = 0; i < w; i++)
			acc[i] /= (double)used;
	to_mean(m, acc, out);
	out->evaluated = used;
	out->slices = formed;
	return 0;
}

/* Text values: percentages with 2 decimals (paper tables), or fractions with 4 (--fraction). JSON: fractions. */
static int text_percent;

static void row(FILE *fp, const char *name, double g, const metrics_mean *sl, double s, int json, int *first,
		const char *key)
{
	if (json) {
		fprintf(fp, "%s\"%s\": %.6f", *first ? "" : ", ", key, sl ? s : g);
		*first = 0;
		return;
	}
	const char *f = text_percent ? "%8.2f" : "%8.4f";
	double k = text_percent ? 100.0 : 1.0;
	fprintf(fp, "%-14s ", name);
	fprintf(fp, f, k * g);
	if (sl) {
		fputc(' ', fp);
		fprintf(fp, f, k * s);
	}
	fputc('\n', fp);
}

static void block(FILE *fp, const metrics_acc *m, const metrics_mean *g, const metrics_mean *sl, int precision,
		  int json)
{
	char name[48], key[48];
	int first = 1;
	for (int i = 0; i < m->nk; i++) {
		snprintf(name, sizeof name, "Recall@%ld", m->ks[i]);
		snprintf(key, sizeof key, "recall@%ld", m->ks[i]);
		row(fp, name, g->recall[i], sl, sl ? sl->recall[i] : 0, json, &first, key);
	}
	if (precision)
		for (int i = 0; i < m->nk; i++) {
			snprintf(name, sizeof name, "Precision@%ld", m->ks[i]);
			snprintf(key, sizeof key, "precision@%ld", m->ks[i]);
			row(fp, name, g->precision[i], sl, sl ? sl->precision[i] : 0, json, &first, key);
		}
	row(fp, "R-Precision", g->r_precision, sl, sl ? sl->r_precision : 0, json, &first, "r_precision");
	row(fp, "MAP@R", g->map_at_r, sl, sl ? sl->map_at_r : 0, json, &first, "map_at_r");
}

void metrics_print(FILE *fp, const metrics_acc *m, const metrics_mean *global, const metrics_mean *sliced,
		   uint64_t S, int precision, int json, int percent, const double *nmi)
{
	text_percent = percent;
	if (json) {
		fprintf(fp, "{\"queries\": %llu, \"evaluated\": %llu, \"lone\": %llu, \"truncated\": %llu, \"global\": {",
			(unsigned long long)m->n, (unsigned long long)global->evaluated,
			(unsigned long long)m->n_lone, (unsigned long long)m->n_trunc);
		block(fp, m, global, NULL, precision, 1);
		fprintf(fp, "}");
		if (sliced) {
			fprintf(fp, ", \"slice_mean\": {\"slices\": %llu, \"formed\": %llu, \"averaged\": %llu, ",
				(unsigned long long)S, (unsigned long long)sliced->slices,
				(unsigned long long)sliced->evaluated);
			block(fp, m, global, sliced, precision, 1);
			fprintf(fp, "}");
		}
		if (nmi)
			fprintf(fp, ", \"nmi\": %.6f", *nmi);
		fprintf(fp, "}\n");
		return;
	}
	const char *head = percent ? "metric (%)" : "metric";
	if (sliced) {
		char hdr[48];
		snprintf(hdr, sizeof hdr, "slices/%llu", (unsigned long long)S);
		fprintf(fp, "%-14s %8s %8s\n", head, "global", hdr);
	} else
		fprintf(fp, "%-14s %8s\n", head, "global");
	block(fp, m, global, sliced, precision, 0);
	if (nmi) {
		int first = 0;
		row(fp, "NMI", *nmi, NULL, 0, 0, &first, "nmi");
	}
	fprintf(fp, "%-14s %8llu\n", "queries", (unsigned long long)m->n);
	fprintf(fp, "%-14s %8llu\n", "evaluated", (unsigned long long)global->evaluated);
	fprintf(fp, "%-14s %8llu\n", "lone", (unsigned long long)m->n_lone);
}
