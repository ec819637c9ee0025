/* matfile.c: see matfile.h. One cursor walks the file (or an inflated miCOMPRESSED element); every read is bounds
 * checked against the element that contains it, so a malformed file gives a message, never a crash. */
#include "matfile.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* Data types of the element tags. */
enum {
	MI_INT8 = 1, MI_UINT8 = 2, MI_INT16 = 3, MI_UINT16 = 4, MI_INT32 = 5, MI_UINT32 = 6, MI_SINGLE = 7,
	MI_DOUBLE = 9, MI_INT64 = 12, MI_UINT64 = 13, MI_MATRIX = 14, MI_COMPRESSED = 15, MI_UTF8 = 16, MI_UTF16 = 17,
	MI_UTF32 = 18
};
enum { HEADER_LEN = 128, MAX_DEPTH = 32, FLAG_COMPLEX = 0x08, FLAG_LOGICAL = 0x02 };

typedef struct {
	const uint8_t *base; /* the buffer walked: the file, or one inflated element */
	size_t off, end;     /* position and end of the enclosing element, offsets into base */
	int le;              /* the file is little-endian ("IM" indicator) */
	int inflated;        /* base is an inflated miCOMPRESSED element (offsets are within it) */
	size_t zat;          /* file offset of that compressed element */
	const char *what;
	char *err;
	size_t errlen;
} cur;

typedef struct {
	uint32_t type, nbytes;
	const uint8_t *data;
	size_t at; /* offset of the tag */
} elem;

static int fail(const cur *c, size_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(const cur *c, size_t at, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (c->inflated)
		snprintf(c->err, c->errlen, "%s: %s (at byte %zu of the compressed element at byte %zu)", c->what, msg, at,
			 c->zat);
	else
		snprintf(c->err, c->errlen, "%s: %s (at byte %zu)", c->what, msg, at);
	return -1;
}

static uint16_t rd16(const cur *c, const uint8_t *p) { return c->le ? (uint16_t)(p[0] | p[1] << 8) : (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t rd32(const cur *c, const uint8_t *p)
{
	return c->le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
		     : (uint32_t)p[3] | (uint32_t)p[2] << 8 | (uint32_t)p[1] << 16 | (uint32_t)p[0] << 24;
}
static uint64_t rd64(const cur *c, const uint8_t *p)
{
	uint64_t a = rd32(c, p), b = rd32(c, p + 4);
	return c->le ? b << 32 | a : a << 32 | b;
}

/* The next element inside [off, end): a normal tag (8 bytes, data padded to 8) or a small one (data in the tag). */
static int next_elem(cur *c, elem *e)
{
	e->at = c->off;
	if (c->end - c->off < 8)
		return fail(c, c->off, "truncated data element tag (%zu bytes left)", c->end - c->off);
	const uint8_t *p = c->base + c->off;
	uint32_t w0 = rd32(c, p);
	if (w0 >> 16) {
		e->type = w0 & 0xffff;
		e->nbytes = w0 >> 16;
		if (e->nbytes > 4)
			return fail(c, c->off, "small data element claims %u bytes (at most 4)", e->nbytes);
		e->data = p + 4;
		c->off += 8;
		return 0;
	}
	e->type = w0;
	e->nbytes = rd32(c, p + 4);
	if (e->nbytes > c->end - c->off - 8)
		return fail(c, c->off, "data element of type %u and %u bytes runs past its end (%zu bytes left)", e->type,
			    e->nbytes, c->end - c->off - 8);
	e->data = p + 8;
	c->off += 8 + (size_t)e->nbytes;
	/* Padding to 8 bytes (compressed elements are written unpadded; a last element may lack it). */
	size_t pad = (8 - e->nbytes % 8) % 8;
	if (e->type != MI_COMPRESSED)
		c->off += pad < c->end - c->off ? pad : c->end - c->off;
	return 0;
}

static int want(cur *c, elem *e, uint32_t type, const char *what)
{
	if (next_elem(c, e))
		return -1;
	if (e->type != type)
		return fail(c, e->at, "%s: element type %u, expected %u", what, e->type, type);
	return 0;
}

static size_t mi_size(uint32_t t)
{
	switch (t) {
	case MI_INT8: case MI_UINT8: case MI_UTF8: return 1;
	case MI_INT16: case MI_UINT16: case MI_UTF16: return 2;
	case MI_INT32: case MI_UINT32: case MI_SINGLE: case MI_UTF32: return 4;
	case MI_DOUBLE: case MI_INT64: case MI_UINT64: return 8;
	default: return 0;
	}
}

/* a->n numbers of any numeric storage type into a->num (doubles), allocated once the count is known to match. */
static int read_numbers(cur *c, const elem *e, mat_array *a)
{
	size_t sz = mi_size(e->type), n = a->n;
	if (!sz || e->type == MI_UTF8 || e->type == MI_UTF16 || e->type == MI_UTF32)
		return fail(c, e->at, "numeric data of element type %u", e->type);
	if (e->nbytes % sz || e->nbytes / sz != n)
		return fail(c, e->at, "%u bytes of type %u for %zu elements", e->nbytes, e->type, n);
	double *out = a->num = xmalloc_array(n ? n : 1, sizeof *a->num);
	for (size_t i = 0; i < n; i++) {
		const uint8_t *p = e->data + i * sz;
		double v;
		switch (e->type) {
		case MI_INT8: v = (int8_t)p[0]; break;
		case MI_UINT8: v = p[0]; break;
		case MI_INT16: v = (int16_t)rd16(c, p); break;
		case MI_UINT16: v = rd16(c, p); break;
		case MI_INT32: v = (int32_t)rd32(c, p); break;
		case MI_UINT32: v = rd32(c, p); break;
		case MI_INT64: v = (double)(int64_t)rd64(c, p); break;
		case MI_UINT64: v = (double)rd64(c, p); break;
		case MI_SINGLE: {
			uint32_t u = rd32(c, p);
			float f;
			memcpy(&f, &u, 4);
			v = f;
			break;
		}
		default: { /* MI_DOUBLE */
			uint64_t u = rd64(c, p);
			memcpy(&v, &u, 8);
			break;
		}
		}
		out[i] = v;
	}
	return 0;
}

static size_t utf8_put(char *o, uint32_t u)
{
	if (u >= 0xd800 && u < 0xe000)
		u = '?'; /* a lone surrogate half: not a character */
	if (u < 0x80) {
		o[0] = (char)u;
		return 1;
	}
	if (u < 0x800) {
		o[0] = (char)(0xc0 | u >> 6), o[1] = (char)(0x80 | (u & 0x3f));
		return 2;
	}
	if (u < 0x10000) {
		o[0] = (char)(0xe0 | u >> 12), o[1] = (char)(0x80 | (u >> 6 & 0x3f)), o[2] = (char)(0x80 | (u & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | u >> 18), o[1] = (char)(0x80 | (u >> 12 & 0x3f));
	o[2] = (char)(0x80 | (u >> 6 & 0x3f)), o[3] = (char)(0x80 | (u & 0x3f));
	return 4;
}

/* Characters: one code unit per element (miUINT16/miUTF16, miUINT8/miINT8, miUTF32), stored column-major and
 * returned row by row; miUTF8 text (variable width) is taken as it is. */
static int read_chars(cur *c, const elem *e, mat_array *a)
{
	if (e->type == MI_UTF8) {
		a->str = xmalloc((size_t)e->nbytes + 1);
		memcpy(a->str, e->data, e->nbytes);
		a->str[e->nbytes] = 0;
		return 0;
	}
	size_t sz = e->type == MI_UINT16 || e->type == MI_UTF16 ? 2
		    : e->type == MI_UINT8 || e->type == MI_INT8 ? 1
		    : e->type == MI_UTF32 || e->type == MI_UINT32 ? 4 : 0;
	if (!sz)
		return fail(c, e->at, "character data of element type %u", e->type);
	if (e->nbytes % sz || e->nbytes / sz != a->n)
		return fail(c, e->at, "%u bytes of characters for %zu elements", e->nbytes, a->n);
	int64_t rows = a->dims[0], cols = rows ? (int64_t)a->n / rows : 0;
	char *o = a->str = xmalloc(a->n * 4 + 1);
	for (int64_t r = 0; r < rows; r++)
		for (int64_t k = 0; k < cols; k++) {
			const uint8_t *p = e->data + (size_t)(k * rows + r) * sz; /* column-major */
			uint32_t u = sz == 1 ? p[0] : sz == 2 ? rd16(c, p) : rd32(c, p);
			o += utf8_put(o, u > 0x10ffff ? '?' : u);
		}
	*o = 0;
	return 0;
}

static void array_free(mat_array *a)
{
	if (!a)
		return;
	size_t ns = a->mx_class == MX_CELL ? a->n : a->mx_class == MX_STRUCT ? a->n * (size_t)a->nfields : 0;
	for (size_t i = 0; a->sub && i < ns; i++)
		array_free(a->sub[i]);
	free(a->sub);
	free(a->fields);
	free(a->num);
	free(a->str);
	free(a);
}

static int parse_matrix(cur *outer, const elem *m, int depth, mat_array **out);

/* The sub-elements of one miMATRIX element m (its data is base[m->data .. + nbytes]). */
static int parse_body(cur *c, int depth, mat_array *a)
{
	elem e;
	if (want(c, &e, MI_UINT32, "array flags"))
		return -1;
	if (e.nbytes != 8)
		return fail(c, e.at, "array flags of %u bytes, expected 8", e.nbytes);
	uint32_t flags = rd32(c, e.data);
	a->mx_class = (int)(flags & 0xff);
	a->logical = (flags >> 8 & FLAG_LOGICAL) != 0;
	int complex = (flags >> 8 & FLAG_COMPLEX) != 0;
	if (want(c, &e, MI_INT32, "dimensions"))
		return -1;
	if (e.nbytes % 4 || e.nbytes / 4 < 2 || e.nbytes / 4 > MAT_MAX_DIMS)
		return fail(c, e.at, "dimensions: %u bytes (2 to %d int32 values expected)", e.nbytes, MAT_MAX_DIMS);
	a->ndims = (int)(e.nbytes / 4);
	a->n = 1;
	for (int i = 0; i < a->ndims; i++) {
		int32_t d = (int32_t)rd32(c, e.data + 4 * i);
		if (d < 0)
			return fail(c, e.at, "negative dimension %d", d);
		a->dims[i] = d;
		if (d && a->n > ((size_t)1 << 40) / (size_t)d)
			return fail(c, e.at, "too many elements");
		a->n *= (size_t)d;
	}
	if (next_elem(c, &e))
		return -1;
	if (e.type != MI_INT8 && e.type != MI_UINT8)
		return fail(c, e.at, "array name: element type %u, expected 1", e.type);
	size_t nl = e.nbytes < MAT_NAME_LEN - 1 ? e.nbytes : MAT_NAME_LEN - 1;
	memcpy(a->name, e.data, nl);
	a->name[nl] = 0;
	switch (a->mx_class) {
	case MX_DOUBLE: case MX_SINGLE: case MX_INT8: case MX_UINT8: case MX_INT16: case MX_UINT16: case MX_INT32:
	case MX_UINT32: case MX_INT64: case MX_UINT64:
		if (next_elem(c, &e) || read_numbers(c, &e, a))
			return -1;
		if (complex && next_elem(c, &e)) /* the imaginary part: checked for bounds, not kept */
			return -1;
		return 0;
	case MX_CHAR:
		if (next_elem(c, &e))
			return -1;
		return read_chars(c, &e, a);
	case MX_CELL:
	case MX_STRUCT: {
		if (a->mx_class == MX_STRUCT) {
			if (want(c, &e, MI_INT32, "field name length"))
				return -1;
			if (e.nbytes != 4)
				return fail(c, e.at, "field name length: %u bytes, expected 4", e.nbytes);
			uint32_t len = rd32(c, e.data);
			if (len < 1 || len > 4096)
				return fail(c, e.at, "field name length %u", len);
			if (next_elem(c, &e))
				return -1;
			if ((e.type != MI_INT8 && e.type != MI_UINT8) || e.nbytes % len)
				return fail(c, e.at, "field names: %u bytes of type %u for names of %u bytes", e.nbytes,
					    e.type, len);
			a->nfields = (int)(e.nbytes / len);
			a->fields = xcalloc((size_t)a->nfields ? (size_t)a->nfields : 1, sizeof *a->fields);
			for (int f = 0; f < a->nfields; f++) {
				const uint8_t *nm = e.data + (size_t)f * len;
				size_t k = 0;
				while (k < len && k < MAT_NAME_LEN - 1 && nm[k])
					k++;
				memcpy(a->fields[f], nm, k);
			}
		}
		size_t ns = a->mx_class == MX_CELL ? a->n : a->n * (size_t)a->nfields;
		if (ns > (c->end - c->off) / 8) /* every sub-array takes a tag of 8 bytes at least */
			return fail(c, c->off, "%zu sub-arrays cannot fit in the %zu bytes left", ns, c->end - c->off);
		a->sub = xcalloc(ns ? ns : 1, sizeof *a->sub);
		for (size_t i = 0; i < ns; i++) {
			if (want(c, &e, MI_MATRIX, a->mx_class == MX_CELL ? "cell" : "struct field"))
				return -1;
			if (parse_matrix(c, &e, depth + 1, &a->sub[i]))
				return -1;
		}
		return 0;
	}
	case MX_SPARSE: return fail(c, c->off, "array '%s': sparse arrays are not supported", a->name);
	case MX_OBJECT: return fail(c, c->off, "array '%s': objects are not supported", a->name);
	default: return fail(c, c->off, "array '%s': unknown class %d", a->name, a->mx_class);
	}
}

static int parse_matrix(cur *outer, const elem *m, int depth, mat_array **out)
{
	mat_array *a = *out = xcalloc(1, sizeof *a);
	if (depth > MAX_DEPTH)
		return fail(outer, m->at, "arrays nested more than %d deep", MAX_DEPTH);
	if (m->nbytes == 0) { /* an empty array ([] in a struct field): MATLAB writes a bare tag */
		a->mx_class = MX_DOUBLE;
		a->ndims = 2;
		return 0;
	}
	cur c = *outer;
	c.off = (size_t)(m->data - c.base);
	c.end = c.off + m->nbytes;
	return parse_body(&c, depth, a);
}

/* Inflate a whole zlib stream. Returns the buffer, or NULL with *why. */
static uint8_t *inflate_all(const uint8_t *src, size_t n, size_t *outlen, const char **why)
{
	z_stream z;
	memset(&z, 0, sizeof z);
	if (inflateInit(&z) != Z_OK) {
		*why = "cannot initialise zlib";
		return NULL;
	}
	size_t cap = n < 1024 ? 4096 : 4 * n, len = 0;
	uint8_t *out = xmalloc(cap);
	z.next_in = (Bytef *)src;
	int rc = Z_OK;
	size_t left = n;
	while (rc != Z_STREAM_END) {
		if (len == cap) {
			if (cap > ((size_t)1 << 32)) {
				rc = Z_MEM_ERROR;
				break;
			}
			cap *= 2;
			out = xrealloc(out, cap);
		}
		uInt chunk_in = left > (1u << 30) ? 1u << 30 : (uInt)left;
		size_t room = cap - len;
		z.avail_in = chunk_in;
		z.next_out = out + len;
		z.avail_out = room > (1u << 30) ? 1u << 30 : (uInt)room;
		uInt before_out = z.avail_out;
		rc = inflate(&z, Z_NO_FLUSH);
		left -= chunk_in - z.avail_in;
		len += before_out - z.avail_out;
		if (rc == Z_BUF_ERROR && left == 0 && z.avail_out)
			break; /* input used up before the end of the stream */
		if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
			break;
	}
	if (rc != Z_STREAM_END) {
		*why = rc == Z_BUF_ERROR ? "truncated zlib stream" : rc == Z_MEM_ERROR ? "zlib stream too large"
								    : "corrupt zlib stream";
		inflateEnd(&z);
		free(out);
		return NULL;
	}
	inflateEnd(&z);
	*outlen = len;
	return out;
}

static void push_var(mat_file *f, mat_array *a)
{
	f->vars = xrealloc_array(f->vars, f->n + 1, sizeof *f->vars);
	f->vars[f->n++] = a;
}

int mat_parse(const uint8_t *buf, size_t len, const char *what, mat_file *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	cur c = {.base = buf, .off = 0, .end = len, .what = what, .err = err, .errlen = errlen};
	if (len >= 10 && memcmp(buf, "MATLAB 7.3", 10) == 0)
		return fail(&c, 0, "a MATLAB 7.3 (HDF5) MAT-file; save it again with -v7");
	if (len < HEADER_LEN || memcmp(buf, "MATLAB", 6) != 0)
		return fail(&c, 0, "not a MAT-file (no 128-byte header starting 'MATLAB')");
	if (buf[126] == 'I' && buf[127] == 'M')
		c.le = 1;
	else if (!(buf[126] == 'M' && buf[127] == 'I'))
		return fail(&c, 126, "endian indicator '%c%c', expected 'IM' or 'MI' (a Level 4 MAT-file?)", buf[126],
			    buf[127]);
	if (rd16(&c, buf + 124) != 0x0100)
		return fail(&c, 124, "version 0x%04x, expected 0x0100", rd16(&c, buf + 124));
	c.off = HEADER_LEN;
	while (c.off < c.end) {
		elem e;
		if (next_elem(&c, &e))
			goto bad;
		if (e.type == MI_MATRIX) {
			mat_array *a;
			int rc = parse_matrix(&c, &e, 0, &a);
			push_var(out, a);
			if (rc)
				goto bad;
		} else if (e.type == MI_COMPRESSED) {
			const char *why = NULL;
			size_t zlen = 0;
			uint8_t *z = inflate_all(e.data, e.nbytes, &zlen, &why);
			if (!z) {
				fail(&c, e.at, "compressed element: %s", why);
				goto bad;
			}
			cur zc = c;
			zc.base = z, zc.off = 0, zc.end = zlen, zc.inflated = 1, zc.zat = e.at;
			elem m;
			int rc = want(&zc, &m, MI_MATRIX, "compressed element");
			mat_array *a = NULL;
			if (!rc) {
				rc = parse_matrix(&zc, &m, 0, &a);
				push_var(out, a);
			}
			free(z);
			if (rc)
				goto bad;
		} else {
			fail(&c, e.at, "top-level element of type %u (expected a matrix or a compressed matrix)", e.type);
			goto bad;
		}
	}
	return 0;
bad:
	mat_free(out);
	return -1;
}

int mat_read(const char *path, mat_file *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	FILE *fp = fopen(path, "rb");
	if (!fp) {
		snprintf(err, errlen, "%s: cannot open: %m", path);
		return -1;
	}
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0, got;
	do {
		if (len == cap) {
			cap = cap ? 2 * cap : 1 << 16;
			buf = xrealloc(buf, cap);
		}
		got = fread(buf + len, 1, cap - len, fp);
		len += got;
	} while (got > 0);
	int bad = ferror(fp);
	fclose(fp);
	if (bad) {
		free(buf);
		snprintf(err, errlen, "%s: read error", path);
		return -1;
	}
	int rc = mat_parse(buf, len, path, out, err, errlen);
	free(buf);
	return rc;
}

void mat_free(mat_file *f)
{
	for (size_t i = 0; i < f->n; i++)
		array_free(f->vars[i]);
	free(f->vars);
	f->vars = NULL;
	f->n = 0;
}

const mat_array *mat_var(const mat_file *f, const char *name)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->vars[i]->name, name) == 0)
			return f->vars[i];
	return NULL;
}

const mat_array *mat_field(const mat_array *s, size_t elem_i, const char *field)
{
	if (!s || s->mx_class != MX_STRUCT || elem_i >= s->n)
		return NULL;
	for (int f = 0; f < s->nfields; f++)
		if (strcmp(s->fields[f], field) == 0)
			return s->sub[elem_i * (size_t)s->nfields + (size_t)f];
	return NULL;
}
