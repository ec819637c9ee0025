/* npy_import.c: see npy_import.h. */
#include "npy_import.h"
#include "cli.h"
#include "util.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void npy_import_load(const char *path, npy_array *a)
{
	fmt_error err;
	FILE *fp = in_open(path);
	if (npy_load(fp, strcmp(path, "-") ? path : "(stdin)", a, &err) != 0)
		die("%s", err.msg);
	in_close(fp);
}

static int is_npy(const char *path)
{
	FILE *fp = fopen(path, "rb");
	char m[6] = {0};
	int yes = fp && fread(m, 1, 6, fp) == 6 && !memcmp(m, "\x93NUMPY", 6);
	if (fp)
		fclose(fp);
	return yes;
}

int32_t *npy_import_labels(const char *path, uint64_t *n)
{
	if (is_npy(path)) {
		npy_array a;
		npy_import_load(path, &a);
		if (a.is_float || !(a.ndim == 1 || (a.ndim == 2 && a.shape[1] == 1)))
			die("%s: labels: expected an integer array of shape (N) or (N, 1)", path);
		int32_t *lab = xmalloc_array(a.n ? a.n : 1, sizeof *lab);
		for (uint64_t i = 0; i < a.n; i++) {
			if (a.i[i] < INT32_MIN || a.i[i] > INT32_MAX)
				die("%s: label %llu: %lld does not fit in 32 bits", path, (unsigned long long)i,
				    (long long)a.i[i]);
			lab[i] = (int32_t)a.i[i];
		}
		*n = a.n;
		npy_free(&a);
		return lab;
	}
	FILE *fp = in_open(path);
	uint64_t cap = 1024, cnt = 0, line = 0;
	int32_t *lab = xmalloc_array(cap, sizeof *lab);
	char buf[256];
	while (fgets(buf, sizeof buf, fp)) {
		line++;
		char *p = buf;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '#' || *p == '\n' || *p == '\r' || !*p)
			continue;
		char *end;
		errno = 0;
		long long v = strtoll(p, &end, 10);
		while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
			end++;
		if (end == p || *end || errno || v < INT32_MIN || v > INT32_MAX)
			die("%s: line %llu: expected one integer label (32 bits)", path, (unsigned long long)line);
		if (cnt == cap)
			lab = xrealloc(lab, (cap *= 2) * sizeof *lab);
		lab[cnt++] = (int32_t)v;
	}
	if (ferror(fp))
		die("%s: read error", path);
	in_close(fp);
	*n = cnt;
	return lab;
}

/* One (N, dim) float array into dst (freshly allocated); checks N and (when dim_want > 0) the dimension. */
static float *load_matrix(const char *path, uint64_t *N, uint32_t *dim)
{
	npy_array a;
	npy_import_load(path, &a);
	if (!a.is_float || a.ndim != 2)
		die("%s: expected a float32 array of shape (N, D)", path);
	if (*N != UINT64_MAX && (uint64_t)a.shape[0] != *N)
		die("%s: %lld rows, expected %llu (as the first embeddings file)", path, (long long)a.shape[0],
		    (unsigned long long)*N);
	if (*dim && (uint32_t)a.shape[1] != *dim)
		die("%s: dimension %lld, expected %u (as the embeddings of this level)", path, (long long)a.shape[1], *dim);
	if (a.shape[1] < 1 || a.shape[1] > 65536)
		die("%s: dimension %lld, expected 1..65536", path, (long long)a.shape[1]);
	for (uint64_t i = 0; i < a.n; i++)
		if (!isfinite(a.f[i]))
			die("%s: element %llu is not finite", path, (unsigned long long)i);
	*N = (uint64_t)a.shape[0];
	*dim = (uint32_t)a.shape[1];
	float *f = a.f;
	a.f = NULL;
	npy_free(&a);
	return f;
}

void npy_import_set(int L, const char *const *emb_paths, const char *const *cert_paths, const char *labels_path,
		    const char *ids_path, ave_set *s)
{
	memset(s, 0, sizeof *s);
	if (L < 1 || L > AVE_MAX_LEVELS)
		die("%d embedding levels, expected 1..%d", L, AVE_MAX_LEVELS);
	uint64_t N = UINT64_MAX;
	s->h.levels = (uint32_t)L;
	s->h.has_cert = cert_paths != NULL;
	s->h.kind = cert_paths ? AVE_KIND_AVSL : AVE_KIND_PLAIN;
	for (int l = 0; l < L; l++)
		s->emb[l] = load_matrix(emb_paths[l], &N, &s->h.dim[l]);
	if (cert_paths)
		for (int l = 0; l < L; l++)
			s->cert[l] = load_matrix(cert_paths[l], &N, &s->h.dim[l]);
	s->n = s->h.count = N;
	uint64_t nl;
	s->label = npy_import_labels(labels_path, &nl);
	if (nl != N)
		die("%s: %llu labels for %llu embeddings", labels_path, (unsigned long long)nl, (unsigned long long)N);
	s->id = xmalloc_array(N ? N : 1, sizeof *s->id);
	if (ids_path) {
		npy_array a;
		npy_import_load(ids_path, &a);
		if (a.is_float || a.ndim != 1 || (uint64_t)a.shape[0] != N)
			die("%s: ids: expected an integer array of shape (%llu)", ids_path, (unsigned long long)N);
		memcpy(s->id, a.i, N * sizeof *s->id);
		npy_free(&a);
	} else {
		for (uint64_t i = 0; i < N; i++)
			s->id[i] = (int64_t)i;
	}
}

int ave_write_set(FILE *fp, const char *name, const ave_set *s, fmt_error *err)
{
	ave_header h = s->h;
	h.count = s->n;
	if (ave_write_header(fp, name, &h, err) != 0)
		return -1;
	float *vals = xmalloc_array(ave_record_floats(&h), sizeof *vals);
	int rc = 0;
	for (uint64_t i = 0; i < s->n && !rc; i++) {
		float *v = vals;
		for (int part = 0; part < (h.has_cert ? 2 : 1); part++)
			for (uint32_t l = 0; l < h.levels; l++) {
				memcpy(v, (part ? s->cert[l] : s->emb[l]) + i * h.dim[l], h.dim[l] * sizeof(float));
				v += h.dim[l];
			}
		rc = ave_write_record(fp, name, &h, s->id[i], s->label[i], vals, err);
	}
	free(vals);
	return rc;
}
