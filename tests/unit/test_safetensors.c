/* Unit tests for formats/safetensors (reader, writer, the rules of formats/checkpoint.md) and formats/json.
 *
 * Goldens (tests/reference/st_golden.py): st_python.safetensors was written by Python (st_write.save); we read it.
 * st_c.safetensors was written by our writer and checked by Python (st_write.load); we check our writer still
 * produces it byte for byte. AVSL_REGEN_GOLDEN=1 rewrites st_c.safetensors (then run st_golden.py check).
 */
#include "harness.h"
#include "json.h"
#include "safetensors.h"

#include <stdint.h>
#include <unistd.h>

#define GOLDEN_DIR "tests/golden/"

static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return NULL;
	fseek(fp, 0, SEEK_END);
	long n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	unsigned char *b = malloc(n > 0 ? n : 1);
	if (b && fread(b, 1, n, fp) != (size_t)n) {
		free(b);
		b = NULL;
	}
	fclose(fp);
	*len = (size_t)n;
	return b;
}

/* Write w into memory (tmpfile, no seeking needed by the writer). Returns the bytes or NULL. */
static unsigned char *write_to_mem(st_writer *w, size_t *len, fmt_error *err)
{
	FILE *fp = tmpfile();
	if (!fp)
		return NULL;
	unsigned char *b = NULL;
	if (st_writer_write(w, fp, "mem", err) == 0) {
		long n = ftell(fp);
		rewind(fp);
		b = malloc(n > 0 ? n : 1);
		if (b && fread(b, 1, n, fp) != (size_t)n) {
			free(b);
			b = NULL;
		}
		*len = (size_t)n;
	}
	fclose(fp);
	return b;
}

/* A file made of an explicit header (padded to 8 with spaces) and data_len bytes of data (0x11 each). */
static unsigned char *mk(const char *json, size_t data_len, size_t *len)
{
	size_t n = strlen(json), padded = (n + 7) / 8 * 8;
	*len = 8 + padded + data_len;
	unsigned char *b = malloc(*len);
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)((uint64_t)padded >> (8 * i));
	memcpy(b + 8, json, n);
	memset(b + 8 + n, ' ', padded - n);
	memset(b + 8 + padded, 0x11, data_len);
	return b;
}

/* Open json+data in memory; passes when it fails and the message contains want. */
static int rejects(const char *json, size_t data_len, const char *want, char *got, size_t got_len)
{
	size_t len;
	unsigned char *b = mk(json, data_len, &len);
	st_file f;
	fmt_error err = {{0}};
	int rc = st_open_memory(&f, b, len, "t.safetensors", &err);
	free(b);
	snprintf(got, got_len, "%s", rc == 0 ? "(accepted)" : err.msg);
	if (rc == 0) {
		st_close(&f);
		return 0;
	}
	return strncmp(err.msg, "t.safetensors: ", 15) == 0 && strstr(err.msg, want) != NULL;
}

#define REJECTS(json, data_len, want)                                                                              \
	do {                                                                                                       \
		char got_[600];                                                                                    \
		CHECKF(rejects(json, data_len, want, got_, sizeof got_), "%.150s -> '%.200s', expected '%.80s'", json, got_,  \
		       want);                                                                                      \
	} while (0)

#define T1 "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}"

TEST(json_accepts_valid)
{
	char why[200];
	const char *txt = " {\"a\":[1,-2.5e3,0,true,false,null,\"x\\u00e9\\ud83d\\ude00\\n\\/\"],\"b\":{},\"c\":[]} ";
	json_value *v = json_parse(txt, strlen(txt), why, sizeof why);
	CHECKF(v, "%s", why);
	const json_value *a = json_get(v, "a");
	int ok = a && a->type == JSON_ARRAY && a->n == 7 && a->items[0].is_uint && a->items[0].u == 1 &&
		 !a->items[1].is_uint && a->items[1].num == -2500 && a->items[2].is_uint && a->items[2].u == 0 &&
		 a->items[3].type == JSON_TRUE && a->items[5].type == JSON_NULL &&
		 strcmp(a->items[6].str, "x\xc3\xa9\xf0\x9f\x98\x80\n/") == 0;
	ok = ok && json_get(v, "b")->type == JSON_OBJECT && json_get(v, "c")->n == 0 && !json_get(v, "d");
	json_free(v);
	CHECK(ok);
	v = json_parse("\"a\\u0000b\"", 10, why, sizeof why);
	CHECK(v && v->str_len == 3 && strlen(v->str) == 1);
	json_free(v);
	v = json_parse("18446744073709551615", 20, why, sizeof why);
	CHECK(v && v->is_uint && v->u == UINT64_MAX);
	json_free(v);
	v = json_parse("18446744073709551616", 20, why, sizeof why);
	CHECK(v && !v->is_uint);
	json_free(v);
}

TEST(json_rejects_invalid)
{
	static const char *bad[] = {
		"",	   "{",	      "{\"a\":1,}", "[1,]",	 "[01]",	"[1.]",	       "[.5]",	  "[+1]",
		"[1e]",	   "[-]",     "{\"a\" 1}",  "{1:2}",	 "[1] x",	"\"abc",       "\"\\x\"", "\"\\u12g4\"",
		"\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"", "\"a\tb\"", "tru", "nul", "[1 2]", "\"\xc3\"",
		"\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"", "{\"a\":1}}", "\"\\",
	};
	char why[200];
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		json_value *v = json_parse(bad[i], strlen(bad[i]), why, sizeof why);
		CHECKF(!v && strncmp(why, "byte ", 5) == 0, "case %zu '%s' accepted", i, bad[i]);
	}
}

TEST(json_nesting_limit)
{
	char buf[2 * JSON_MAX_DEPTH + 10], why[200];
	for (int depth = JSON_MAX_DEPTH; depth <= JSON_MAX_DEPTH + 1; depth++) {
		int n = 0;
		for (int i = 0; i < depth; i++)
			buf[n++] = '[';
		for (int i = 0; i < depth; i++)
			buf[n++] = ']';
		json_value *v = json_parse(buf, n, why, sizeof why);
		CHECKF((v != NULL) == (depth == JSON_MAX_DEPTH), "depth %d: %s", depth, v ? "accepted" : why);
		json_free(v);
	}
}

TEST(json_value_limit)
{
	char why[200];
	json_value *v = json_parse_limited("[1,[2],3]", 9, 4, why, sizeof why);
	CHECK(!v && strstr(why, "more than 4 values"));
	v = json_parse_limited("[1,[2],3]", 9, 5, why, sizeof why);
	CHECK(v && v->n == 3 && v->items[1].items[0].u == 2);
	json_free(v);
}

TEST(golden_python_file_reads)
{
	st_file f;
	fmt_error err;
	CHECKF(st_open(&f, GOLDEN_DIR "st_python.safetensors", &err) == 0, "%s", err.msg);
	float buf[24];
	int ok = f.n == 8 && f.mapped;
	const st_tensor *t = st_find(&f, "conv1.weight");
	int64_t sh[4] = {2, 3, 2, 2};
	ok = ok && t && t->dtype == ST_F32 && st_load_f32(&f, "conv1.weight", 4, sh, buf, &err) == 0;
	for (int i = 0; ok && i < 24; i++)
		ok = buf[i] == i * 0.25f - 3;
	ok = ok && st_read_f32(&f, st_find(&f, "bn1.num_batches_tracked"), buf, 1, &err) == 0 && buf[0] == 1234567;
	ok = ok && st_find(&f, "bn1.num_batches_tracked")->dtype == ST_I64;
	ok = ok && st_read_f32(&f, st_find(&f, "f64"), buf, 3, &err) == 0 && buf[0] == 1.5f && buf[1] == -2.25f &&
	     buf[2] == 1e-3f;
	ok = ok && st_read_f32(&f, st_find(&f, "i32"), buf, 3, &err) == 0 && buf[0] == -7 && buf[2] == 2147483647.0f;
	ok = ok && st_read_f32(&f, st_find(&f, "u8"), buf, 3, &err) == 0 && buf[2] == 255;
	ok = ok && st_read_f32(&f, st_find(&f, "f16"), buf, 6, &err) == 0 && buf[0] == 1 && buf[1] == -0.5f &&
	     buf[2] == 65504 && buf[3] == 6.103515625e-05f && buf[4] == 5.960464477539063e-08f && buf[5] == 0;
	t = st_find(&f, "caf\xc3\xa9.\xf0\x9f\x98\x80");
	ok = ok && t && st_read_f32(&f, t, buf, 1, &err) == 0 && buf[0] == 42;
	t = st_find(&f, "empty");
	ok = ok && t && t->numel == 0 && t->ndim == 2 && t->shape[0] == 0 && t->shape[1] == 3;
	ok = ok && f.n_meta == 2 && st_meta(&f, "avsl.format_version") && !strcmp(st_meta(&f, "avsl.format_version"), "1.0");
	ok = ok && st_meta(&f, "note") &&
	     !strcmp(st_meta(&f, "note"), "quote \" backslash \\ newline \n tab \t caf\xc3\xa9") && !st_meta(&f, "x");
	st_close(&f);
	CHECKF(ok, "%s", err.msg);
}

/* Must match c_expected() in tests/reference/st_golden.py. */
static st_writer *c_golden_writer(float *a, int64_t *b, float *c)
{
	for (int i = 0; i < 12; i++)
		a[i] = (i - 5.5f) / 4;
	b[0] = -1, b[1] = 0, b[2] = 1, b[3] = (int64_t)1 << 40;
	*c = 3.25f;
	st_writer *w = st_writer_new();
	st_writer_add(w, "zeta.weight", ST_F32, 2, (int64_t[]){3, 4}, a);
	st_writer_add(w, "alpha", ST_I64, 1, (int64_t[]){4}, b);
	st_writer_add(w, "mid.scalar", ST_F32, 0, NULL, c);
	st_writer_meta(w, "text", "a \"q\" \\ \n");
	st_writer_meta(w, "avsl.setting", "avsl_proxyanchor");
	st_writer_meta(w, "avsl.format_version", "1.0");
	return w;
}

TEST(golden_c_file_bytes)
{
	float a[12], c;
	int64_t b[4];
	st_writer *w = c_golden_writer(a, b, &c);
	size_t len, glen;
	fmt_error err;
	unsigned char *got = write_to_mem(w, &len, &err);
	st_writer_free(w);
	CHECKF(got, "%s", err.msg);
	if (getenv("AVSL_REGEN_GOLDEN")) {
		FILE *fp = fopen(GOLDEN_DIR "st_c.safetensors", "wb");
		fwrite(got, 1, len, fp);
		fclose(fp);
	}
	unsigned char *want = slurp(GOLDEN_DIR "st_c.safetensors", &glen);
	int same = want && glen == len && memcmp(got, want, len) == 0;
	/* The layout promised by checkpoint.md: metadata first and sorted, tensors sorted, data in added order. */
	const char *hdr = "{\"__metadata__\":{\"avsl.format_version\":\"1.0\",\"avsl.setting\":\"avsl_proxyanchor\","
			  "\"text\":\"a \\\"q\\\" \\\\ \\u000a\"},\"alpha\":{\"dtype\":\"I64\",\"shape\":[4],"
			  "\"data_offsets\":[48,80]},\"mid.scalar\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[80,84]},"
			  "\"zeta.weight\":{\"dtype\":\"F32\",\"shape\":[3,4],\"data_offsets\":[0,48]}}";
	size_t hl = strlen(hdr);
	int layout = len > 8 + hl && memcmp(got + 8, hdr, hl) == 0 && got[0] % 8 == 0 && got[8 + hl] == ' ';
	free(got);
	free(want);
	CHECKF(layout, "header layout differs");
	CHECKF(same, "our writer no longer reproduces %sst_c.safetensors", GOLDEN_DIR);
}

TEST(roundtrip_file_mmap)
{
	char path[] = "/tmp/avsl_st_XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	FILE *fp = fdopen(fd, "wb");
	float w1[6] = {1, -2, 3.5f, 0, 1e-20f, 6};
	int32_t ids[3] = {5, -6, 7};
	uint16_t h[4] = {0x3c00, 0x7c00, 0x0001, 0xfe00}; /* 1, +inf, smallest subnormal, NaN */
	uint16_t bf[2] = {0x3f80, 0xc040};               /* 1, -3 */
	int8_t i8[2] = {-128, 127};
	int16_t i16[2] = {-32768, 300};
	unsigned char bo[2] = {0, 1};
	st_writer *w = st_writer_new();
	st_writer_add(w, "w1", ST_F32, 2, (int64_t[]){2, 3}, w1);
	st_writer_add(w, "ids", ST_I32, 1, (int64_t[]){3}, ids);
	st_writer_add(w, "h", ST_F16, 1, (int64_t[]){4}, h);
	st_writer_add(w, "bf", ST_BF16, 1, (int64_t[]){2}, bf);
	st_writer_add(w, "i8", ST_I8, 1, (int64_t[]){2}, i8);
	st_writer_add(w, "i16", ST_I16, 1, (int64_t[]){2}, i16);
	st_writer_add(w, "bo", ST_BOOL, 1, (int64_t[]){2}, bo);
	st_writer_meta(w, "k", "v1");
	st_writer_meta(w, "k", "v2"); /* replaces */
	fmt_error err;
	int rc = st_writer_write(w, fp, path, &err);
	st_writer_free(w);
	fclose(fp);
	CHECKF(rc == 0, "%s", err.msg);
	st_file f;
	rc = st_open(&f, path, &err);
	unlink(path);
	CHECKF(rc == 0, "%s", err.msg);
	float o[6];
	int ok = f.n == 7 && f.mapped && !strcmp(f.t[0].name, "bf") && st_meta(&f, "k") && !strcmp(st_meta(&f, "k"), "v2");
	ok = ok && st_load_f32(&f, "w1", 2, (int64_t[]){2, 3}, o, &err) == 0 && !memcmp(o, w1, sizeof w1);
	ok = ok && st_find(&f, "w1")->begin == 0 && st_find(&f, "ids")->begin == 24; /* data in added order */
	ok = ok && st_read_f32(&f, st_find(&f, "ids"), o, 3, &err) == 0 && o[0] == 5 && o[1] == -6;
	ok = ok && st_read_f32(&f, st_find(&f, "h"), o, 4, &err) == 0 && o[0] == 1 && isinf(o[1]) &&
	     o[2] == 5.9604644775390625e-08f && isnan(o[3]);
	ok = ok && st_read_f32(&f, st_find(&f, "bf"), o, 2, &err) == 0 && o[0] == 1 && o[1] == -3;
	ok = ok && st_read_f32(&f, st_find(&f, "i8"), o, 2, &err) == 0 && o[0] == -128 && o[1] == 127;
	ok = ok && st_read_f32(&f, st_find(&f, "i16"), o, 2, &err) == 0 && o[0] == -32768 && o[1] == 300;
	ok = ok && st_read_f32(&f, st_find(&f, "bo"), o, 2, &err) == 0 && o[0] == 0 && o[1] == 1;
	st_close(&f);
	CHECKF(ok, "%s", err.msg);
}

TEST(load_f32_names_missing_and_misshaped)
{
	size_t len;
	unsigned char *b = mk("{\"layer1.0.conv1.weight\":{\"dtype\":\"F32\",\"shape\":[64,64,3,3],\"data_offsets\":"
			      "[0,147456]}}",
			      147456, &len);
	st_file f;
	fmt_error err;
	int rc = st_open_memory(&f, b, len, "m.safetensors", &err);
	free(b);
	CHECKF(rc == 0, "%s", err.msg);
	float *out = malloc(147456);
	rc = st_load_f32(&f, "layer1.0.conv1.weight", 4, (int64_t[]){64, 64, 1, 1}, out, &err);
	int ok = rc == -1 && !strcmp(err.msg, "m.safetensors: tensor 'layer1.0.conv1.weight': shape [64, 64, 3, 3] "
					      "expected [64, 64, 1, 1]");
	ok = ok && st_load_f32(&f, "x", 1, (int64_t[]){1}, out, &err) == -1 &&
	     !strcmp(err.msg, "m.safetensors: missing tensor 'x'");
	ok = ok && st_read_f32(&f, &f.t[0], out, 5, &err) == -1 && strstr(err.msg, "caller expected 5");
	ok = ok && st_load_f32(&f, "layer1.0.conv1.weight", 4, (int64_t[]){64, 64, 3, 3}, out, &err) == 0 &&
	     out[0] != 0;
	free(out);
	st_close(&f);
	CHECKF(ok, "%s", err.msg);
}

TEST(rejects_short_and_truncated_files)
{
	size_t len;
	unsigned char *good = slurp(GOLDEN_DIR "st_python.safetensors", &len);
	CHECK(good && len > 100);
	st_file f;
	fmt_error err;
	/* Every proper prefix must fail: the header length, the JSON and the data coverage each catch some. */
	for (size_t cut = 0; cut < len; cut++) {
		int rc = st_open_memory(&f, good, cut, "t.safetensors", &err);
		if (rc == 0)
			st_close(&f);
		CHECKF(rc == -1, "prefix of %zu bytes accepted", cut);
	}
	CHECKF(st_open_memory(&f, good, len, "t.safetensors", &err) == 0, "%s", err.msg);
	st_close(&f);
	st_open_memory(&f, good, 7, "t.safetensors", &err);
	CHECK(strstr(err.msg, "file is 7 bytes, expected at least 8"));
	st_open_memory(&f, good, 100, "t.safetensors", &err);
	CHECK(strstr(err.msg, "truncated file?"));
	free(good);
}

TEST(rejects_bad_header_length)
{
	unsigned char b[16] = {0};
	st_file f;
	fmt_error err;
	b[3] = 0x10; /* 2^28 > 100 MB */
	CHECK(st_open_memory(&f, b, 16, "t.safetensors", &err) == -1 && strstr(err.msg, "at most 100000000"));
	memset(b, 0xff, 8);
	CHECK(st_open_memory(&f, b, 16, "t.safetensors", &err) == -1);
	memset(b, 0, 16);
	b[0] = 8;
	memcpy(b + 8, "[]      ", 8);
	CHECK(st_open_memory(&f, b, 16, "t.safetensors", &err) == -1 && strstr(err.msg, "does not start with '{'"));
	CHECK(st_open(&f, "/nonexistent/x.safetensors", &err) == -1 && strstr(err.msg, "No such file"));
	CHECK(st_open(&f, "-", &err) == -1);
	/* an empty file cannot be mapped: the read fallback runs, then the size check */
	char path[] = "/tmp/avsl_st_empty_XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	close(fd);
	int rc = st_open(&f, path, &err);
	unlink(path);
	CHECKF(rc == -1 && strstr(err.msg, "file is 0 bytes, expected at least 8"), "%s", err.msg);
	CHECK(st_open(&f, "/tmp", &err) == -1 && strstr(err.msg, "not a regular file"));
}

TEST(rejects_bad_json_and_utf8)
{
	REJECTS("{\"a\":1,}", 0, "bad JSON");
	REJECTS("{" T1 "} x", 8, "trailing characters");
	REJECTS("{\"a\xff\":{}}", 0, "invalid UTF-8 at header byte 3");
	REJECTS("{\"\\ud800\":{}}", 0, "surrogate");
	REJECTS("{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
		"]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
		0, "nesting deeper");
}

TEST(rejects_bad_tensor_entries)
{
	REJECTS("{\"a\":{\"dtype\":\"F8\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2, "dtype 'F8' not supported");
	REJECTS("{\"a\":{\"dtype\":32,\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "dtype (not a string) not supported");
	REJECTS("{\"a\":[1]}", 0, "tensor 'a': entry is not a JSON object");
	REJECTS("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "missing field 'data_offsets'");
	REJECTS("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1}}", 8, "unknown field 'x'");
	REJECTS("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
		"field 'dtype' given twice");
	REJECTS("{\"a\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}}", 8, "shape is not an array");
	REJECTS("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "shape[0] is not a non-negative");
	REJECTS("{\"a\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", 8, "shape[0] is not");
	REJECTS("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,2],\"data_offsets\":[0,8]}}", 8,
		"shape has 9 dimensions, at most 8");
	REJECTS("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", 8,
		"more bytes than 2^64");
	REJECTS("{\"a\":{\"dtype\":\"F64\",\"shape\":[2305843009213693952,1],\"data_offsets\":[0,8]}}", 8,
		"more bytes than 2^64");
	REJECTS("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967297],\"data_offsets\":[0,8]}}", 8,
		"more bytes than 2^64");
	REJECTS("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8, "data_offsets is not an array");
	REJECTS("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,-8]}}", 8, "data_offsets[1] is not");
	REJECTS("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "has begin > end");
	REJECTS("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,16]}}", 8, "end 16 is past the data section");
	REJECTS("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,18446744073709551615]}}", 8,
		"is past the data section");
	REJECTS("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "span 8 bytes, expected 12");
	REJECTS("{\"\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "tensor name: empty");
	REJECTS("{\"a\\u0000b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "NUL");
	/* a zero dimension makes the product 0 even beside a huge one */
	size_t len;
	unsigned char *b = mk("{\"z\":{\"dtype\":\"F32\",\"shape\":[0,18446744073709551615],\"data_offsets\":[0,0]}}", 0,
			      &len);
	st_file f;
	fmt_error err;
	int rc = st_open_memory(&f, b, len, "t", &err);
	free(b);
	CHECKF(rc == -1 && strstr(err.msg, "shape[1] is not a non-negative integer below 2^63"), "%s", err.msg);
}

TEST(rejects_overlap_gap_trailing_duplicates)
{
	REJECTS("{" T1 ",\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
		"tensor 'b': data_offsets [4, 8] overlap tensor 'a'");
	REJECTS("{" T1 ",\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "overlap");
	REJECTS("{" T1 ",\"b\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]}}", 8, "overlap");
	REJECTS("{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "leaves a gap");
	REJECTS("{" T1 "}", 9, "trailing bytes");
	REJECTS("{" T1 "," T1 "}", 8, "tensor 'a': name given twice");
	REJECTS("{" T1 ",\"__metadata__\":{},\"__metadata__\":{}}", 8, "__metadata__: given twice");
}

TEST(rejects_bad_metadata)
{
	REJECTS("{" T1 ",\"__metadata__\":{\"k\":1}}", 8, "__metadata__: key 'k': value is not a string");
	REJECTS("{" T1 ",\"__metadata__\":{\"k\":{\"x\":\"y\"}}}", 8, "key 'k': value is not a string");
	REJECTS("{" T1 ",\"__metadata__\":[\"k\"]}", 8, "__metadata__: not a JSON object");
	REJECTS("{" T1 ",\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", 8, "key 'k' given twice");
	REJECTS("{" T1 ",\"__metadata__\":{\"k\":\"a\\u0000\"}}", 8, "value contains a NUL");
}

TEST(accepts_empty_and_zero_size)
{
	size_t len;
	st_file f;
	fmt_error err;
	unsigned char *b = mk("{}", 0, &len);
	int rc = st_open_memory(&f, b, len, "t", &err);
	free(b);
	CHECKF(rc == 0 && f.n == 0 && f.n_meta == 0, "%s", err.msg);
	st_close(&f);
	b = mk("{\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,8]}," T1 ",\"__metadata__\":{}}", 8, &len);
	rc = st_open_memory(&f, b, len, "t", &err);
	free(b);
	CHECKF(rc == 0 && f.n == 2, "%s", err.msg);
	st_close(&f);
}

TEST(writer_reports_bad_input)
{
	float x[2] = {1, 2};
	fmt_error err;
	size_t len;
	const char *cases[] = {"added twice", "empty, reserved", "negative dimension", "more than 8 dimensions",
			       "no data", "shape overflows"};
	for (int c = 0; c < 6; c++) {
		st_writer *w = st_writer_new();
		st_writer_add(w, "a", ST_F32, 1, (int64_t[]){2}, x);
		if (c == 0)
			st_writer_add(w, "a", ST_F32, 1, (int64_t[]){2}, x);
		if (c == 1)
			st_writer_add(w, "__metadata__", ST_F32, 1, (int64_t[]){2}, x);
		if (c == 2)
			st_writer_add(w, "b", ST_F32, 1, (int64_t[]){-2}, x);
		if (c == 3)
			st_writer_add(w, "b", ST_F32, 9, (int64_t[]){1, 1, 1, 1, 1, 1, 1, 1, 1}, x);
		if (c == 4)
			st_writer_add(w, "b", ST_F32, 1, (int64_t[]){2}, NULL);
		if (c == 5)
			st_writer_add(w, "b", ST_F32, 2, (int64_t[]){INT64_MAX, 4}, x);
		unsigned char *out = write_to_mem(w, &len, &err);
		st_writer_free(w);
		free(out);
		CHECKF(!out && strstr(err.msg, cases[c]), "case %d: %.300s", c, out ? "written" : err.msg);
	}
}

TEST(typed_metadata_and_version)
{
	st_writer *w = st_writer_new();
	const char *kv[][2] = {{"avsl.format_version", "1.3"}, {"avsl.levels", "3"}, {"neg", "-9223372036854775808"},
			       {"big", "9223372036854775808"}, {"junk", "3x"}, {"space", " 3"}, {"gamma", "0.5"},
			       {"inf", "inf"}, {"hex", "0x10"}, {"empty", ""}};
	for (size_t i = 0; i < sizeof kv / sizeof *kv; i++)
		st_writer_meta(w, kv[i][0], kv[i][1]);
	size_t len;
	fmt_error err;
	unsigned char *b = write_to_mem(w, &len, &err);
	st_writer_free(w);
	CHECK(b);
	st_file f;
	int rc = st_open_memory(&f, b, len, "c.st", &err);
	free(b);
	CHECKF(rc == 0, "%s", err.msg);
	int64_t i;
	double d;
	int ok = st_check_avsl_version(&f, &err) == 0;
	ok = ok && st_meta_int(&f, "avsl.levels", 1, 8, &i, &err) == 0 && i == 3;
	ok = ok && st_meta_int(&f, "avsl.levels", 4, 8, &i, &err) == -1 &&
	     !strcmp(err.msg, "c.st: __metadata__: key 'avsl.levels': '3' out of range [4, 8]");
	ok = ok && st_meta_int(&f, "neg", INT64_MIN, 0, &i, &err) == 0 && i == INT64_MIN;
	ok = ok && st_meta_int(&f, "big", INT64_MIN, INT64_MAX, &i, &err) == -1 && strstr(err.msg, "out of range");
	ok = ok && st_meta_int(&f, "junk", 0, 9, &i, &err) == -1 && strstr(err.msg, "'3x' is not a decimal integer");
	ok = ok && st_meta_int(&f, "space", 0, 9, &i, &err) == -1 && st_meta_int(&f, "empty", 0, 9, &i, &err) == -1;
	ok = ok && st_meta_int(&f, "nope", 0, 9, &i, &err) == -1 &&
	     !strcmp(err.msg, "c.st: __metadata__: key 'nope' missing");
	ok = ok && st_meta_double(&f, "gamma", 0, 1, &d, &err) == 0 && d == 0.5;
	ok = ok && st_meta_double(&f, "inf", -1e300, 1e300, &d, &err) == -1 &&
	     st_meta_double(&f, "hex", 0, 100, &d, &err) == -1 && st_meta_double(&f, "space", 0, 9, &d, &err) == -1;
	st_close(&f);
	CHECKF(ok, "%s", err.msg);
	const char *bad[] = {"2.0", "1", "1.x", "a.1", "1.0 ", "01234.0"};
	for (int c = 0; c < 6; c++) {
		w = st_writer_new();
		st_writer_meta(w, "avsl.format_version", bad[c]);
		b = write_to_mem(w, &len, &err);
		st_writer_free(w);
		CHECK(st_open_memory(&f, b, len, "c.st", &err) == 0);
		free(b);
		rc = st_check_avsl_version(&f, &err);
		st_close(&f);
		CHECKF(rc == -1 && strstr(err.msg, "avsl.format_version"), "'%s' accepted", bad[c]);
	}
}

int main(void)
{
	RUN(json_accepts_valid);
	RUN(json_rejects_invalid);
	RUN(json_nesting_limit);
	RUN(json_value_limit);
	RUN(golden_python_file_reads);
	RUN(golden_c_file_bytes);
	RUN(roundtrip_file_mmap);
	RUN(load_f32_names_missing_and_misshaped);
	RUN(rejects_short_and_truncated_files);
	RUN(rejects_bad_header_length);
	RUN(rejects_bad_json_and_utf8);
	RUN(rejects_bad_tensor_entries);
	RUN(rejects_overlap_gap_trailing_duplicates);
	RUN(rejects_bad_metadata);
	RUN(accepts_empty_and_zero_size);
	RUN(writer_reports_bad_input);
	RUN(typed_metadata_and_version);
	return harness_finish();
}
