/* safetensors_write.c: the safetensors writer (layout: formats/checkpoint.md, "Writing").
 *
 * The JSON header holds "__metadata__" first (keys sorted), then the tensors sorted by name, each as
 * {"dtype":"F32","shape":[..],"data_offsets":[b,e]}: the reference implementation's compact form. It is padded with
 * spaces to a multiple of 8 bytes. Tensor data follows in the order the tensors were added. Problems found while
 * adding (a bad shape, a duplicate name, out of memory) are kept and reported by st_writer_write, so the add calls
 * need no error handling.
 */
#include "safetensors.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

typedef struct {
	char *name;
	st_dtype dtype;
	int ndim;
	int64_t shape[ST_MAX_DIMS];
	uint64_t bytes;
	const void *data;
	uint64_t begin;
} wtensor;

struct st_writer {
	wtensor *t;
	int n, cap;
	char **mk, **mv;
	int n_meta, cap_meta;
	char problem[300]; /* first problem found while adding, reported by st_writer_write */
};

typedef struct {
	char *p;
	size_t n, cap;
	int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->n + n + 1 > b->cap) {
		size_t nc = b->cap ? b->cap : 256;
		while (nc < b->n + n + 1 && nc < SIZE_MAX / 2)
			nc *= 2;
		char *np = nc >= b->n + n + 1 ? realloc(b->p, nc) : NULL;
		if (!np) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap = nc;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = 0;
}

static void sb_str(sbuf *b, const char *s)
{
	sb_put(b, s, strlen(s));
}

/* A JSON string literal; s is valid UTF-8 (checked by the caller), so only '"', '\\' and controls need escapes. */
static void sb_json_str(sbuf *b, const char *s)
{
	sb_put(b, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[8];
		if (c == '"' || c == '\\') {
			esc[0] = '\\', esc[1] = (char)c;
			sb_put(b, esc, 2);
		} else if (c < 0x20) {
			snprintf(esc, sizeof esc, "\\u%04x", c);
			sb_put(b, esc, 6);
		} else {
			sb_put(b, s, 1);
		}
	}
	sb_put(b, "\"", 1);
}

static void sb_u64(sbuf *b, uint64_t v)
{
	char num[24];
	snprintf(num, sizeof num, "%llu", (unsigned long long)v);
	sb_str(b, num);
}

st_writer *st_writer_new(void)
{
	return calloc(1, sizeof(st_writer));
}

static void problem(st_writer *w, const char *fmt, const char *name)
{
	if (!w->problem[0])
		snprintf(w->problem, sizeof w->problem, fmt, name);
}

static int valid_text(const char *s)
{
	return json_utf8_invalid_at((const unsigned char *)s, strlen(s)) < 0;
}

void st_writer_add(st_writer *w, const char *name, st_dtype dtype, int ndim, const int64_t *shape, const void *data)
{
	if (!w)
		return;
	if (!name || !*name || !valid_text(name) || strcmp(name, "__metadata__") == 0) {
		problem(w, "tensor name '%.100s': empty, reserved or not valid UTF-8", name ? name : "(null)");
		return;
	}
	if ((unsigned)dtype >= ST_DTYPE_COUNT || ndim < 0 || ndim > ST_MAX_DIMS) {
		problem(w, "tensor '%.100s': bad dtype or more than 8 dimensions", name);
		return;
	}
	uint64_t numel = 1;
	for (int i = 0; i < ndim; i++) {
		if (shape[i] < 0) {
			problem(w, "tensor '%.100s': negative dimension", name);
			return;
		}
		if (shape[i] && numel > UINT64_MAX / (uint64_t)shape[i]) {
			problem(w, "tensor '%.100s': shape overflows 64 bits", name);
			return;
		}
		numel *= (uint64_t)shape[i];
	}
	if (numel > UINT64_MAX / st_dtype_size(dtype)) {
		problem(w, "tensor '%.100s': shape overflows 64 bits", name);
		return;
	}
	if (numel && !data) {
		problem(w, "tensor '%.100s': no data", name);
		return;
	}
	for (int i = 0; i < w->n; i++)
		if (strcmp(w->t[i].name, name) == 0) {
			problem(w, "tensor '%.100s': added twice", name);
			return;
		}
	if (w->n == w->cap) {
		int nc = w->cap ? w->cap * 2 : 16;
		wtensor *nt = nc > 0 && (size_t)nc < SIZE_MAX / sizeof *nt ? realloc(w->t, nc * sizeof *nt) : NULL;
		if (!nt) {
			problem(w, "tensor '%.100s': out of memory", name);
			return;
		}
		w->t = nt;
		w->cap = nc;
	}
	wtensor *t = &w->t[w->n];
	memset(t, 0, sizeof *t);
	t->name = strdup(name);
	if (!t->name) {
		problem(w, "tensor '%.100s': out of memory", name);
		return;
	}
	t->dtype = dtype;
	t->ndim = ndim;
	for (int i = 0; i < ndim; i++)
		t->shape[i] = shape[i];
	t->bytes = numel * st_dtype_size(dtype);
	t->data = data;
	w->n++;
}

void st_writer_meta(st_writer *w, const char *key, const char *value)
{
	if (!w)
		return;
	if (!key || !value || !valid_text(key) || !valid_text(value)) {
		problem(w, "metadata key '%.100s': key or value missing or not valid UTF-8", key ? key : "(null)");
		return;
	}
	for (int i = 0; i < w->n_meta; i++)
		if (strcmp(w->mk[i], key) == 0) { /* setting a key again replaces its value */
			char *v = strdup(value);
			if (!v) {
				problem(w, "metadata key '%.100s': out of memory", key);
				return;
			}
			free(w->mv[i]);
			w->mv[i] = v;
			return;
		}
	if (w->n_meta == w->cap_meta) {
		int nc = w->cap_meta ? w->cap_meta * 2 : 16;
		char **a = realloc(w->mk, nc * sizeof *a);
		if (a)
			w->mk = a;
		char **b = realloc(w->mv, nc * sizeof *b);
		if (b)
			w->mv = b;
		if (!a || !b) {
			problem(w, "metadata key '%.100s': out of memory", key);
			return;
		}
		w->cap_meta = nc;
	}
	w->mk[w->n_meta] = strdup(key);
	w->mv[w->n_meta] = strdup(value);
	if (!w->mk[w->n_meta] || !w->mv[w->n_meta]) {
		free(w->mk[w->n_meta]);
		free(w->mv[w->n_meta]);
		problem(w, "metadata key '%.100s': out of memory", key);
		return;
	}
	w->n_meta++;
}

void st_writer_free(st_writer *w)
{
	if (!w)
		return;
	for (int i = 0; i < w->n; i++)
		free(w->t[i].name);
	free(w->t);
	for (int i = 0; i < w->n_meta; i++) {
		free(w->mk[i]);
		free(w->mv[i]);
	}
	free(w->mk);
	free(w->mv);
	free(w);
}

static int cmp_str_ptr(const void *a, const void *b)
{
	return strcmp(**(char *const *const *)a, **(char *const *const *)b);
}

static int host_is_le(void)
{
	const uint16_t one = 1;
	return *(const unsigned char *)&one == 1;
}

/* Write n bytes of elements of size esz in little-endian order. */
static int write_le(FILE *fp, const unsigned char *p, uint64_t n, size_t esz)
{
	if (host_is_le() || esz == 1)
		return n == 0 || fwrite(p, 1, n, fp) == n ? 0 : -1;
	unsigned char buf[4096];
	while (n) {
		size_t chunk = n < sizeof buf ? (size_t)n : sizeof buf;
		for (size_t i = 0; i < chunk; i += esz)
			for (size_t j = 0; j < esz; j++)
				buf[i + j] = p[i + esz - 1 - j];
		if (fwrite(buf, 1, chunk, fp) != chunk)
			return -1;
		p += chunk;
		n -= chunk;
	}
	return 0;
}

int st_writer_write(st_writer *w, FILE *fp, const char *path_for_errors, fmt_error *err)
{
	const char *fn = path_for_errors ? path_for_errors : "(output)";
	if (!w)
		return fmt_fail(err, "%s: out of memory", fn);
	if (w->problem[0])
		return fmt_fail(err, "%s: %s", fn, w->problem);
	uint64_t off = 0;
	for (int i = 0; i < w->n; i++) {
		w->t[i].begin = off;
		if (w->t[i].bytes > UINT64_MAX - off)
			return fmt_fail(err, "%s: tensor '%s': data section larger than 2^64 bytes", fn, w->t[i].name);
		off += w->t[i].bytes;
	}
	int nm = w->n_meta, nt = w->n;
	char ***mkeys = malloc((nm + 1) * sizeof *mkeys);
	char ***tkeys = malloc((nt + 1) * sizeof *tkeys);
	sbuf b = {0};
	int rc = -1;
	if (!mkeys || !tkeys) {
		fmt_fail(err, "%s: out of memory", fn);
		goto out;
	}
	/* Sort pointers to the name fields; the index back into the arrays is recovered by pointer arithmetic. */
	for (int i = 0; i < nm; i++)
		mkeys[i] = &w->mk[i];
	for (int i = 0; i < nt; i++)
		tkeys[i] = &w->t[i].name;
	qsort(mkeys, nm, sizeof *mkeys, cmp_str_ptr);
	qsort(tkeys, nt, sizeof *tkeys, cmp_str_ptr);
	sb_str(&b, "{");
	if (nm) {
		sb_str(&b, "\"__metadata__\":{");
		for (int i = 0; i < nm; i++) {
			int k = (int)(mkeys[i] - w->mk);
			if (i)
				sb_str(&b, ",");
			sb_json_str(&b, w->mk[k]);
			sb_str(&b, ":");
			sb_json_str(&b, w->mv[k]);
		}
		sb_str(&b, "}");
	}
	for (int i = 0; i < nt; i++) {
		const wtensor *t = (const wtensor *)((const char *)tkeys[i] - offsetof(wtensor, name));
		if (i || nm)
			sb_str(&b, ",");
		sb_json_str(&b, t->name);
		sb_str(&b, ":{\"dtype\":\"");
		sb_str(&b, st_dtype_name(t->dtype));
		sb_str(&b, "\",\"shape\":[");
		for (int d = 0; d < t->ndim; d++) {
			if (d)
				sb_str(&b, ",");
			sb_u64(&b, (uint64_t)t->shape[d]);
		}
		sb_str(&b, "],\"data_offsets\":[");
		sb_u64(&b, t->begin);
		sb_str(&b, ",");
		sb_u64(&b, t->begin + t->bytes);
		sb_str(&b, "]}");
	}
	sb_str(&b, "}");
	while (!b.oom && b.n % 8)
		sb_str(&b, " ");
	if (b.oom) {
		fmt_fail(err, "%s: out of memory", fn);
		goto out;
	}
	unsigned char len8[8];
	for (int i = 0; i < 8; i++)
		len8[i] = (unsigned char)((uint64_t)b.n >> (8 * i));
	errno = 0;
	if (fwrite(len8, 1, 8, fp) != 8 || fwrite(b.p, 1, b.n, fp) != b.n)
		goto ioerr;
	for (int i = 0; i < nt; i++)
		if (write_le(fp, w->t[i].data, w->t[i].bytes, st_dtype_size(w->t[i].dtype)) < 0)
			goto ioerr;
	if (fflush(fp) != 0)
		goto ioerr;
	rc = 0;
	goto out;
ioerr:
	fmt_fail(err, "%s: write failed: %s", fn, errno ? strerror(errno) : "I/O error");
out:
	free(mkeys);
	free(tkeys);
	free(b.p);
	return rc;
}
