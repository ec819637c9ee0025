/* npy_read.c: the .npy reader (see npy.h): header dict parsed field by field, then the data converted to float32
 * or int64 in one pass. Never trusts the shape for an allocation before checking it against the bytes present. */
#include "npy.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
	char code;  /* 'f', 'i', 'u' */
	int size;   /* bytes */
	int swap;   /* big-endian on a little-endian host */
} elem;

/* The value text after 'key': in the dict, or NULL. */
static const char *field(const char *dict, const char *key)
{
	char pat[32];
	snprintf(pat, sizeof pat, "'%s'", key);
	const char *p = strstr(dict, pat);
	if (!p)
		return NULL;
	p += strlen(pat);
	while (*p == ' ')
		p++;
	if (*p != ':')
		return NULL;
	p++;
	while (*p == ' ')
		p++;
	return p;
}

static int parse_descr(const char *v, elem *e)
{
	if (!v || (*v != '\'' && *v != '"'))
		return -1;
	char q = *v++;
	const char *end = strchr(v, q);
	if (!end || end - v < 3 || end - v > 4)
		return -1;
	char order = v[0];
	e->code = v[1];
	e->size = atoi(v + 2);
	if (order != '<' && order != '>' && order != '|' && order != '=')
		return -1;
	e->swap = order == '>' && e->size > 1;
	if (e->code == 'f')
		return e->size == 4 || e->size == 8 ? 0 : -1;
	if (e->code == 'i' || e->code == 'u')
		return e->size == 1 || e->size == 2 || e->size == 4 || (e->size == 8 && e->code == 'i') ? 0 : -1;
	return -1;
}

static int parse_shape(const char *v, npy_array *a)
{
	if (!v || *v != '(')
		return -1;
	v++;
	a->ndim = 0;
	a->n = 1;
	for (;;) {
		while (*v == ' ' || *v == ',')
			v++;
		if (*v == ')')
			return 0;
		if (*v < '0' || *v > '9' || a->ndim == NPY_MAX_DIMS)
			return -1;
		char *end;
		unsigned long long d = strtoull(v, &end, 10);
		if (d > (1ULL << 40))
			return -1;
		a->shape[a->ndim++] = (int64_t)d;
		if (d && a->n > UINT64_MAX / d)
			return -1;
		a->n *= d;
		v = end;
	}
}

static void swap_bytes(unsigned char *b, int size)
{
	for (int i = 0; i < size / 2; i++) {
		unsigned char t = b[i];
		b[i] = b[size - 1 - i];
		b[size - 1 - i] = t;
	}
}

int npy_load(FILE *fp, const char *name, npy_array *a, fmt_error *err)
{
	memset(a, 0, sizeof *a);
	unsigned char pre[12];
	if (fread(pre, 1, 10, fp) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0)
		return fmt_fail(err, "%s: not a .npy file (no \\x93NUMPY magic)", name);
	uint32_t hlen;
	if (pre[6] == 1) {
		hlen = pre[8] | (uint32_t)pre[9] << 8;
	} else if (pre[6] == 2 || pre[6] == 3) {
		if (fread(pre + 10, 1, 2, fp) != 2)
			return fmt_fail(err, "%s: truncated .npy header", name);
		hlen = pre[8] | (uint32_t)pre[9] << 8 | (uint32_t)pre[10] << 16 | (uint32_t)pre[11] << 24;
	} else {
		return fmt_fail(err, "%s: .npy format version %u.%u, expected 1.0, 2.0 or 3.0", name, pre[6], pre[7]);
	}
	if (hlen > (1u << 20))
		return fmt_fail(err, "%s: .npy header of %u bytes, expected at most 1 MiB", name, hlen);
	char *dict = malloc((size_t)hlen + 1);
	if (!dict)
		return fmt_fail(err, "%s: out of memory", name);
	if (fread(dict, 1, hlen, fp) != hlen) {
		free(dict);
		return fmt_fail(err, "%s: truncated .npy header", name);
	}
	dict[hlen] = 0;
	elem e = {0};
	const char *fo = field(dict, "fortran_order");
	int bad_descr = parse_descr(field(dict, "descr"), &e), bad_shape = parse_shape(field(dict, "shape"), a);
	int fortran = fo && !strncmp(fo, "True", 4);
	free(dict);
	if (bad_descr)
		return fmt_fail(err, "%s: .npy dtype: expected float32/float64 or an integer type (<f4, <f8, <i4, <i8, ...)",
				name);
	if (bad_shape)
		return fmt_fail(err, "%s: .npy shape: expected a tuple of at most %d dimensions", name, NPY_MAX_DIMS);
	if (!fo || fortran)
		return fmt_fail(err, "%s: .npy fortran_order: only C order is read (np.ascontiguousarray first)", name);
	a->is_float = e.code == 'f';
	if (a->is_float)
		a->f = malloc((a->n ? a->n : 1) * sizeof *a->f);
	else
		a->i = malloc((a->n ? a->n : 1) * sizeof *a->i);
	if (a->n > (1ULL << 34) || (a->is_float ? !a->f : !a->i)) {
		npy_free(a);
		return fmt_fail(err, "%s: .npy array of %llu elements: out of memory", name, (unsigned long long)a->n);
	}
	unsigned char buf[8 * 4096];
	uint64_t done = 0;
	while (done < a->n) {
		size_t want = a->n - done < 4096 ? (size_t)(a->n - done) : 4096;
		if (fread(buf, (size_t)e.size, want, fp) != want) {
			npy_free(a);
			return fmt_fail(err, "%s: .npy data truncated after %llu of %llu elements", name,
					(unsigned long long)done, (unsigned long long)a->n);
		}
		for (size_t j = 0; j < want; j++) {
			unsigned char *b = buf + j * e.size;
			if (e.swap)
				swap_bytes(b, e.size);
			if (e.code == 'f') {
				if (e.size == 4) {
					memcpy(&a->f[done + j], b, 4);
				} else {
					double d;
					memcpy(&d, b, 8);
					a->f[done + j] = (float)d;
				}
				continue;
			}
			int64_t v = 0;
			if (e.code == 'i') {
				switch (e.size) {
				case 1: v = (int8_t)b[0]; break;
				case 2: { int16_t t; memcpy(&t, b, 2); v = t; } break;
				case 4: { int32_t t; memcpy(&t, b, 4); v = t; } break;
				default: memcpy(&v, b, 8); break;
				}
			} else {
				switch (e.size) {
				case 1: v = b[0]; break;
				case 2: { uint16_t t; memcpy(&t, b, 2); v = t; } break;
				default: { uint32_t t; memcpy(&t, b, 4); v = t; } break;
				}
			}
			a->i[done + j] = v;
		}
		done += want;
	}
	if (fgetc(fp) != EOF) {
		npy_free(a);
		return fmt_fail(err, "%s: .npy: bytes after the %llu elements the shape holds", name,
				(unsigned long long)a->n);
	}
	return 0;
}

void npy_free(npy_array *a)
{
	free(a->f);
	free(a->i);
	memset(a, 0, sizeof *a);
}
