/* Unit tests for libcommon/matfile: MAT 5 images assembled here byte by byte (a small writer following the published
 * layout, independent of the reader): numeric arrays in several storage types, small data elements, a character
 * matrix (column-major on disk), cell and struct arrays with an empty field, both byte orders, miCOMPRESSED elements;
 * then every truncation and every single-byte corruption of a file must give an error or a clean parse, never a
 * crash, and the errors name the file. */
#include "harness.h"
#include "matfile.h"
#include "util.h"

#include <stdint.h>
#include <zlib.h>

/* ---- a tiny MAT 5 writer ---- */
typedef struct {
	uint8_t b[8192];
	size_t n;
	int be; /* big-endian file */
} buf;

static void put(buf *o, const void *p, size_t n)
{
	memcpy(o->b + o->n, p, n);
	o->n += n;
}
static void u16(buf *o, uint32_t v)
{
	uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
	if (o->be)
		b[0] = (uint8_t)(v >> 8), b[1] = (uint8_t)v;
	put(o, b, 2);
}
static void u32(buf *o, uint32_t v)
{
	if (o->be) {
		u16(o, v >> 16), u16(o, v & 0xffff);
	} else {
		u16(o, v & 0xffff), u16(o, v >> 16);
	}
}
static void pad(buf *o)
{
	while (o->n % 8)
		o->b[o->n++] = 0;
}
/* An element with n data bytes already in file order; small (packed in the tag) when 1..4 bytes and small != 0. */
static void el(buf *o, uint32_t type, const uint8_t *data, uint32_t n, int small)
{
	if (small && n && n <= 4) {
		u32(o, n << 16 | type);
		uint8_t z[4] = {0};
		memcpy(z, data, n);
		put(o, z, 4);
		return;
	}
	u32(o, type), u32(o, n);
	put(o, data, n);
	pad(o);
}
/* Values of 1, 2, 4 or 8 bytes each into file order. */
static uint32_t pack(const buf *o, uint8_t *dst, const uint64_t *v, size_t n, int size)
{
	for (size_t i = 0; i < n; i++)
		for (int k = 0; k < size; k++)
			dst[i * size + k] = (uint8_t)(v[i] >> 8 * (o->be ? size - 1 - k : k));
	return (uint32_t)(n * (size_t)size);
}
/* Start an miMATRIX: returns the offset of its byte count, to be patched by end_matrix. */
static size_t matrix(buf *o, int cls, int flags, int r, int c, const char *name)
{
	u32(o, 14);
	size_t at = o->n;
	u32(o, 0);
	uint8_t d[8];
	uint64_t fv[2] = {(uint64_t)(flags << 8 | cls), 0};
	el(o, 6, d, pack(o, d, fv, 2, 4), 0);
	uint64_t dv[2] = {(uint64_t)r, (uint64_t)c};
	el(o, 5, d, pack(o, d, dv, 2, 4), 0);
	el(o, 1, (const uint8_t *)name, (uint32_t)strlen(name), 1);
	return at;
}
static void end_matrix(buf *o, size_t at)
{
	size_t n = o->n;
	o->n = at;
	u32(o, (uint32_t)(n - at - 4));
	o->n = n;
}
static void header(buf *o)
{
	memset(o->b, ' ', 116);
	memcpy(o->b, "MATLAB 5.0 MAT-file, test", 25);
	memset(o->b + 116, 0, 8);
	o->n = 124;
	u16(o, 0x0100);
	put(o, o->be ? "MI" : "IM", 2);
}
static void str_el(buf *o, const char *name, const char *s)
{
	size_t at = matrix(o, MX_CHAR, 0, 1, (int)strlen(s), name);
	uint8_t d[128];
	uint64_t v[64];
	for (size_t i = 0; i < strlen(s); i++)
		v[i] = (uint8_t)s[i];
	el(o, 4, d, pack(o, d, v, strlen(s), 2), 1);
	end_matrix(o, at);
}

/* The test file: x = [1 2 3; 4 5 6] (double, miDOUBLE), k = int16 [-7 300] (small element), t = ['abc'; 'def'],
 * s = 1x2 struct with fields a (uint8 scalar stored miUINT8 / empty []) and bb (strings), c = {'hi', 42}. */
static void build(buf *o, int be)
{
	memset(o, 0, sizeof *o);
	o->be = be;
	header(o);
	uint8_t d[256];
	size_t at = matrix(o, MX_DOUBLE, 0, 2, 3, "x");
	uint64_t xv[6];
	double col[6] = {1, 4, 2, 5, 3, 6}; /* column-major */
	for (int i = 0; i < 6; i++)
		memcpy(&xv[i], &col[i], 8);
	el(o, 9, d, pack(o, d, xv, 6, 8), 1);
	end_matrix(o, at);
	at = matrix(o, MX_INT16, 0, 1, 2, "k");
	uint64_t kv[2] = {(uint16_t)-7, 300};
	el(o, 3, d, pack(o, d, kv, 2, 2), 1);
	end_matrix(o, at);
	at = matrix(o, MX_CHAR, 0, 2, 3, "t");
	uint64_t tv[6] = {'a', 'd', 'b', 'e', 'c', 'f'};
	el(o, 4, d, pack(o, d, tv, 6, 2), 1);
	end_matrix(o, at);
	at = matrix(o, MX_STRUCT, 0, 1, 2, "s");
	uint64_t len = 8;
	el(o, 5, d, pack(o, d, &len, 1, 4), 1);
	el(o, 1, (const uint8_t *)"a\0\0\0\0\0\0\0bb\0\0\0\0\0\0", 16, 0);
	size_t a1 = matrix(o, MX_DOUBLE, 0, 1, 1, "");
	uint64_t one = 9;
	el(o, 2, d, pack(o, d, &one, 1, 1), 1);
	end_matrix(o, a1);
	str_el(o, "", "first");
	u32(o, 14), u32(o, 0); /* s(2).a = [] */
	str_el(o, "", "second");
	end_matrix(o, at);
	at = matrix(o, MX_CELL, 0, 1, 2, "c");
	str_el(o, "", "hi");
	size_t n1 = matrix(o, MX_UINT8, 0x02, 1, 1, ""); /* logical */
	uint64_t ft = 42;
	el(o, 2, d, pack(o, d, &ft, 1, 1), 1);
	end_matrix(o, n1);
	end_matrix(o, at);
}

static int check_vars(const mat_file *m, char *why, size_t n)
{
#define EXPECT(c)                                                                                                  \
	do {                                                                                                       \
		if (!(c)) {                                                                                        \
			snprintf(why, n, "%s", #c);                                                                \
			return 0;                                                                                  \
		}                                                                                                  \
	} while (0)
	EXPECT(m->n == 5);
	const mat_array *x = mat_var(m, "x"), *k = mat_var(m, "k"), *t = mat_var(m, "t"), *s = mat_var(m, "s");
	const mat_array *c = mat_var(m, "c");
	EXPECT(x && k && t && s && c);
	EXPECT(x->mx_class == MX_DOUBLE && x->dims[0] == 2 && x->dims[1] == 3 && x->n == 6);
	EXPECT(x->num[0] == 1 && x->num[1] == 4 && x->num[4] == 3 && x->num[5] == 6);
	EXPECT(k->mx_class == MX_INT16 && k->num[0] == -7 && k->num[1] == 300);
	EXPECT(t->mx_class == MX_CHAR && strcmp(t->str, "abcdef") == 0);
	EXPECT(s->mx_class == MX_STRUCT && s->n == 2 && s->nfields == 2);
	EXPECT(mat_field(s, 0, "a")->num[0] == 9 && strcmp(mat_field(s, 0, "bb")->str, "first") == 0);
	EXPECT(mat_field(s, 1, "a")->n == 0 && strcmp(mat_field(s, 1, "bb")->str, "second") == 0);
	EXPECT(mat_field(s, 2, "a") == NULL && mat_field(s, 0, "zz") == NULL && mat_field(x, 0, "a") == NULL);
	EXPECT(c->mx_class == MX_CELL && c->n == 2 && strcmp(c->sub[0]->str, "hi") == 0);
	EXPECT(c->sub[1]->mx_class == MX_UINT8 && c->sub[1]->logical && c->sub[1]->num[0] == 42);
	return 1;
#undef EXPECT
}

TEST(reads_little_endian)
{
	buf o;
	build(&o, 0);
	mat_file m;
	char err[512], why[128];
	CHECKF(mat_parse(o.b, o.n, "le.mat", &m, err, sizeof err) == 0, "%s", err);
	CHECKF(check_vars(&m, why, sizeof why), "%s", why);
	mat_free(&m);
}

TEST(reads_big_endian)
{
	buf o;
	build(&o, 1);
	CHECK(memcmp(o.b + 126, "MI", 2) == 0);
	mat_file m;
	char err[512], why[128];
	CHECKF(mat_parse(o.b, o.n, "be.mat", &m, err, sizeof err) == 0, "%s", err);
	CHECKF(check_vars(&m, why, sizeof why), "%s", why);
	mat_free(&m);
}

/* Every variable of the plain file wrapped in its own miCOMPRESSED element. */
static size_t compress_file(const buf *plain, uint8_t *out, size_t cap, int be)
{
	memcpy(out, plain->b, 128);
	size_t n = 128, off = 128;
	buf tmp = {.be = be};
	while (off < plain->n) {
		uint32_t len = be ? (uint32_t)plain->b[off + 4] << 24 | plain->b[off + 5] << 16 | plain->b[off + 6] << 8 |
					    plain->b[off + 7]
				  : (uint32_t)plain->b[off + 7] << 24 | plain->b[off + 6] << 16 | plain->b[off + 5] << 8 |
					    plain->b[off + 4];
		uLongf zl = (uLongf)(cap - n - 8);
		compress2(out + n + 8, &zl, plain->b + off, 8 + len, 6);
		tmp.n = 0;
		u32(&tmp, 15), u32(&tmp, (uint32_t)zl);
		memcpy(out + n, tmp.b, 8);
		n += 8 + zl;
		off += 8 + len;
	}
	return n;
}

TEST(reads_compressed_both_orders)
{
	for (int be = 0; be < 2; be++) {
		buf o;
		build(&o, be);
		static uint8_t z[16384];
		size_t zn = compress_file(&o, z, sizeof z, be);
		mat_file m;
		char err[256], why[128];
		CHECKF(mat_parse(z, zn, "z.mat", &m, err, sizeof err) == 0, "be %d: %s", be, err);
		CHECKF(check_vars(&m, why, sizeof why), "be %d: %s", be, why);
		mat_free(&m);
	}
}

/* Every proper prefix fails with a message naming the file (a prefix ending exactly between two variables is a
 * valid file with fewer variables); every single-byte corruption parses or fails, never crashes. */
TEST(truncations_and_corruptions)
{
	buf o;
	build(&o, 0);
	static uint8_t z[16384];
	size_t zn = compress_file(&o, z, sizeof z, 0);
	const uint8_t *files[2] = {o.b, z};
	size_t lens[2] = {o.n, zn};
	for (int f = 0; f < 2; f++) {
		int ok_prefixes = 0;
		for (size_t n = 0; n < lens[f]; n++) {
			mat_file m;
			char err[512] = "";
			if (mat_parse(files[f], n, "t.mat", &m, err, sizeof err) == 0) {
				ok_prefixes++;
				CHECKF(m.n < 5, "prefix %zu parsed all 5 variables", n);
				mat_free(&m);
			} else {
				CHECKF(strncmp(err, "t.mat: ", 7) == 0 && !strchr(err, '\n'), "prefix %zu: '%s'", n, err);
			}
		}
		CHECKF(ok_prefixes == 5, "file %d: %d prefixes parse (the header alone and 4 variable boundaries)", f,
		       ok_prefixes);
		uint8_t *copy = xmalloc(lens[f]);
		for (size_t i = 0; i < lens[f]; i++) {
			memcpy(copy, files[f], lens[f]);
			copy[i] ^= 0x5a;
			mat_file m;
			char err[512];
			if (mat_parse(copy, lens[f], "t.mat", &m, err, sizeof err) == 0)
				mat_free(&m);
		}
		free(copy);
	}
}

TEST(refusals)
{
	buf o;
	build(&o, 0);
	mat_file m;
	char err[512];
	CHECK(mat_parse((const uint8_t *)"MATLAB 7.3 MAT-file", 19, "h.mat", &m, err, sizeof err) == -1);
	CHECKF(strstr(err, "h.mat: a MATLAB 7.3 (HDF5) MAT-file") == err, "%s", err);
	o.b[126] = 'X';
	CHECK(mat_parse(o.b, o.n, "e.mat", &m, err, sizeof err) == -1 && strstr(err, "endian indicator"));
	build(&o, 0);
	o.b[124] = 2; /* version 0x0102 */
	CHECK(mat_parse(o.b, o.n, "v.mat", &m, err, sizeof err) == -1 && strstr(err, "version"));
	build(&o, 0);
	o.b[128 + 16] = MX_SPARSE; /* the class byte of the first variable's array flags */
	CHECK(mat_parse(o.b, o.n, "s.mat", &m, err, sizeof err) == -1);
	CHECKF(strstr(err, "s.mat: array 'x': sparse arrays are not supported"), "%s", err);
	CHECK(mat_read("/nonexistent/x.mat", &m, err, sizeof err) == -1 && strstr(err, "/nonexistent/x.mat: "));
}

int main(void)
{
	RUN(reads_little_endian);
	RUN(reads_big_endian);
	RUN(reads_compressed_both_orders);
	RUN(truncations_and_corruptions);
	RUN(refusals);
	return harness_finish();
}
