/* Unit tests for formats/emb (the .ave embeddings stream, formats/emb.md): round trips through a file and a pipe,
 * the exact header bytes, and one case per rejection rule. */
#include "emb.h"
#include "harness.h"

#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

#define feed harness_feed

static float val(uint64_t rec, uint64_t j)
{
	return (float)((rec * 131 + j * 7) % 97) / 8 - 5;
}

static ave_header small_header(uint64_t count)
{
	ave_header h = {.levels = 2, .dim = {2, 3}, .has_cert = 0, .kind = AVE_KIND_AVSL, .count = count};
	return h;
}

/* A valid stream of n records under header h into a malloc'd buffer. */
static unsigned char *make_stream(const ave_header *h, uint64_t n, size_t *len)
{
	FILE *fp = tmpfile();
	fmt_error err;
	float vals[64];
	ave_write_header(fp, "t", h, &err);
	for (uint64_t r = 0; r < n; r++) {
		for (uint64_t j = 0; j < ave_record_floats(h); j++)
			vals[j] = val(r, j);
		ave_write_record(fp, "t", h, 1000 + (int64_t)r, (int32_t)r % 3, vals, &err);
	}
	*len = (size_t)ftell(fp);
	rewind(fp);
	unsigned char *b = malloc(*len);
	if (fread(b, 1, *len, fp) != *len)
		*len = 0;
	fclose(fp);
	return b;
}

/* ave_load of b[n]; returns its status and leaves the message in err. */
static int load(const void *b, size_t n, ave_set *s, fmt_error *err)
{
	FILE *fp = feed(b, n);
	int rc = ave_load(fp, "e.ave", s, err);
	fclose(fp);
	return rc;
}

static int load_fails_with(const void *b, size_t n, const char *want, char *got, size_t gl)
{
	ave_set s;
	fmt_error err = {{0}};
	int rc = load(b, n, &s, &err);
	snprintf(got, gl, "%.400s", rc == 0 ? "(accepted)" : err.msg);
	if (rc == 0)
		ave_free(&s);
	return rc == -1 && strncmp(err.msg, "e.ave: ", 7) == 0 && strstr(err.msg, want);
}

#define LOAD_FAILS(b, n, want)                                                                                     \
	do {                                                                                                       \
		char got_[420];                                                                                    \
		CHECKF(load_fails_with(b, n, want, got_, sizeof got_), "got '%s', expected '%s'", got_, want);     \
	} while (0)

TEST(header_bytes_are_the_documented_layout)
{
	ave_header h = {.levels = 3, .dim = {512, 256, 128}, .has_cert = 1, .kind = AVE_KIND_AVSL, .count = 258};
	static const unsigned char want[64] = {
		0x89, 'A', 'V', 'E', '\r', '\n', 0x1a, '\n', /* magic */
		1, 0, 0, 0,                                  /* major 1, minor 0 */
		1, 0, 3, 0,                                  /* kind avsl, levels 3 */
		1, 0, 0, 0, 0, 0, 0, 0,                      /* flags: has_cert, reserved */
		2, 1, 0, 0, 0, 0, 0, 0,                      /* count 258 */
		0, 2, 0, 0, 0, 1, 0, 0, 128, 0, 0, 0,        /* dims 512, 256, 128 */
	};
	FILE *fp = tmpfile();
	fmt_error err;
	CHECK(ave_write_header(fp, "t", &h, &err) == 0 && ftell(fp) == 64);
	unsigned char got[64];
	rewind(fp);
	CHECK(fread(got, 1, 64, fp) == 64);
	fclose(fp);
	CHECK(memcmp(got, want, 64) == 0);
	CHECK(ave_record_floats(&h) == 2 * 896);
}

TEST(roundtrip_file_records_and_load)
{
	ave_header h = {.levels = 3, .dim = {4, 3, 2}, .has_cert = 1, .kind = AVE_KIND_AVSL, .count = 5};
	FILE *fp = tmpfile();
	fmt_error err;
	float v[18], r[18];
	CHECK(ave_write_header(fp, "t", &h, &err) == 0);
	for (int i = 0; i < 5; i++) {
		for (int j = 0; j < 18; j++)
			v[j] = val(i, j);
		CHECKF(ave_write_record(fp, "t", &h, -3 + i, 10 * i, v, &err) == 0, "%s", err.msg);
	}
	CHECK(ftell(fp) == 64 + 5 * (16 + 18 * 4));
	rewind(fp);
	ave_header g;
	CHECKF(ave_read_header(fp, "t", &g, &err) == 0, "%s", err.msg);
	CHECK(g.levels == 3 && g.dim[2] == 2 && g.has_cert && g.kind == AVE_KIND_AVSL && g.count == 5);
	for (uint64_t i = 0; i < 5; i++) {
		int64_t id;
		int32_t label;
		CHECKF(ave_read_record(fp, "t", &g, i, &id, &label, r, &err) == 1, "%s", err.msg);
		CHECK(id == -3 + (int64_t)i && label == 10 * (int32_t)i);
		for (int j = 0; j < 18; j++)
			CHECK(r[j] == val(i, j));
	}
	int64_t id;
	int32_t label;
	CHECKF(ave_read_record(fp, "t", &g, 5, &id, &label, r, &err) == 0, "%s", err.msg);
	rewind(fp);
	ave_set s;
	CHECKF(ave_load(fp, "t", &s, &err) == 0, "%s", err.msg);
	fclose(fp);
	int ok = s.n == 5 && s.id[4] == 1 && s.label[4] == 40;
	/* per level contiguous: emb[1] row i = values 4..6 of record i; cert[0] row i = values 9..12 */
	for (int i = 0; ok && i < 5; i++) {
		ok = s.emb[1][i * 3 + 2] == val(i, 6) && s.cert[0][i * 4 + 3] == val(i, 12) &&
		     s.cert[2][i * 2 + 1] == val(i, 17) && s.emb[0][i * 4] == val(i, 0);
	}
	ave_free(&s);
	CHECK(ok);
}

struct writer_arg {
	int fd;
	int n;
};

static void *pipe_writer(void *p)
{
	struct writer_arg *a = p;
	FILE *fp = fdopen(a->fd, "wb");
	ave_header h = {.levels = 1, .dim = {32}, .kind = AVE_KIND_BASELINE, .count = AVE_COUNT_UNKNOWN};
	fmt_error err;
	float v[32];
	ave_write_header(fp, "pipe", &h, &err);
	for (int i = 0; i < a->n; i++) {
		for (int j = 0; j < 32; j++)
			v[j] = val(i, j);
		ave_write_record(fp, "pipe", &h, i, i % 10, v, &err);
	}
	fclose(fp);
	return NULL;
}

TEST(roundtrip_pipe_until_end)
{
	/* 3000 records of 144 bytes: several times a pipe's buffer, so reader and writer really stream */
	int fds[2];
	CHECK(pipe(fds) == 0);
	struct writer_arg a = {fds[1], 3000};
	pthread_t th;
	CHECK(pthread_create(&th, NULL, pipe_writer, &a) == 0);
	FILE *in = fdopen(fds[0], "rb");
	ave_set s;
	fmt_error err;
	int rc = ave_load(in, "pipe", &s, &err);
	pthread_join(th, NULL);
	fclose(in);
	CHECKF(rc == 0, "%s", err.msg);
	int ok = s.n == 3000 && s.h.count == AVE_COUNT_UNKNOWN && s.h.kind == AVE_KIND_BASELINE && !s.cert[0];
	for (int i = 0; ok && i < 3000; i++)
		ok = s.id[i] == i && s.label[i] == i % 10 && s.emb[0][i * 32 + 31] == val(i, 31);
	ave_free(&s);
	CHECK(ok);
}

TEST(rejects_bad_magic_version_and_header_fields)
{
	ave_header h = small_header(3);
	size_t n;
	unsigned char *good = make_stream(&h, 3, &n), b[256];
	CHECK(n == 64 + 3 * 36);
	ave_set s;
	fmt_error err;
	CHECKF(load(good, n, &s, &err) == 0 && s.n == 3, "%s", err.msg);
	ave_free(&s);
#define MUTATE(off, value, want)                                                                                   \
	do {                                                                                                       \
		memcpy(b, good, n);                                                                                \
		b[off] = (value);                                                                                  \
		LOAD_FAILS(b, n, want);                                                                            \
	} while (0)
	MUTATE(1, 'X', "magic: not an embeddings stream");
	MUTATE(8, 2, "version: major 2, this reader knows 1");
	MUTATE(12, 0, "kind: 0, expected 1 (avsl)");
	MUTATE(12, 4, "kind: 4");
	MUTATE(14, 0, "levels: 0, expected 1..8");
	MUTATE(14, 9, "levels: 9, expected 1..8");
	MUTATE(16, 2, "flags: 0x00000002 has reserved bits set");
	MUTATE(19, 0x80, "flags: 0x80000000");
	MUTATE(20, 1, "reserved field at byte 20: 1, expected 0");
	MUTATE(32, 0, "dim[0]: 0, expected 1..65536");
	memcpy(b, good, n);
	b[36] = 1, b[37] = 0, b[38] = 1, b[39] = 0; /* 65537 */
	LOAD_FAILS(b, n, "dim[1]: 65537, expected 1..65536");
	MUTATE(40, 5, "dim[2]: 5 beyond levels 2, expected 0");
	MUTATE(63, 1, "dim[7]: 16777216 beyond levels 2");
	/* a newer minor version of major 1 is read */
	memcpy(b, good, n);
	b[10] = 7;
	CHECKF(load(b, n, &s, &err) == 0, "%s", err.msg);
	ave_free(&s);
	LOAD_FAILS("GIF89a..", 8, "magic: not an embeddings stream");
	LOAD_FAILS("\x89" "AVX", 4, "magic");
	free(good);
}

TEST(rejects_truncation_anywhere)
{
	ave_header h = small_header(3);
	size_t n;
	unsigned char *good = make_stream(&h, 3, &n);
	for (size_t cut = 0; cut < 64; cut++)
		LOAD_FAILS(good, cut, "header: truncated after");
	LOAD_FAILS(good, 64, "record 0: end of file, the header promised 3 records");
	LOAD_FAILS(good, 64 + 36, "record 1: end of file, the header promised 3 records");
	LOAD_FAILS(good, 64 + 5, "record 0: truncated after 5 of 36 bytes (end of file)");
	LOAD_FAILS(good, 64 + 36 + 20, "record 1: truncated after 20 of 36 bytes");
	LOAD_FAILS(good, n - 1, "record 2: truncated after 35 of 36 bytes");
	free(good);
	/* until end: a clean end anywhere between records, a cut inside one is an error */
	h = small_header(AVE_COUNT_UNKNOWN);
	good = make_stream(&h, 3, &n);
	ave_set s;
	fmt_error err;
	CHECKF(load(good, 64 + 36, &s, &err) == 0 && s.n == 1, "%s", err.msg);
	ave_free(&s);
	CHECKF(load(good, 64, &s, &err) == 0 && s.n == 0, "%s", err.msg);
	ave_free(&s);
	LOAD_FAILS(good, n - 4, "record 2: truncated after 32 of 36 bytes");
	free(good);
}

TEST(rejects_extra_records_and_bad_values)
{
	ave_header h3 = small_header(3);
	size_t n;
	unsigned char *good = make_stream(&h3, 3, &n), b[256];
	memcpy(b, good, n);
	b[24] = 2; /* header says 2, three follow */
	LOAD_FAILS(b, n, "record 2: more records than the header's count 2");
	memcpy(b, good, n);
	b[n] = 0;  /* one stray byte after the last record */
	LOAD_FAILS(b, n + 1, "record 3: more records than the header's count 3");
	float nan = NAN, inf = -INFINITY;
	memcpy(b, good, n);
	memcpy(b + 64 + 36 + 16 + 4 * 3, &nan, 4);
	LOAD_FAILS(b, n, "record 1 (id 1001): level 1 embedding [1] is NaN, expected a finite value");
	memcpy(b, good, n);
	memcpy(b + 64 + 16, &inf, 4);
	LOAD_FAILS(b, n, "record 0 (id 1000): level 0 embedding [0] is infinite");
	memcpy(b, good, n);
	b[64 + 36 * 2 + 12] = 1;
	LOAD_FAILS(b, n, "record 2: reserved field: 1, expected 0");
	free(good);
}

TEST(certainty_values_located_in_messages)
{
	ave_header h = {.levels = 2, .dim = {2, 3}, .has_cert = 1, .kind = AVE_KIND_AVSL, .count = 1};
	float v[10] = {0};
	v[8] = NAN; /* certainties start at 5: level 1 certainty [1] */
	FILE *fp = tmpfile();
	fmt_error err;
	ave_write_header(fp, "w.ave", &h, &err);
	CHECK(ave_write_record(fp, "w.ave", &h, 77, 1, v, &err) == -1);
	CHECKF(!strcmp(err.msg, "w.ave: record id 77: level 1 certainty [1] is NaN, expected a finite value"), "%s",
	       err.msg);
	CHECK(ftell(fp) == 64); /* nothing written for a refused record */
	fclose(fp);
}

TEST(writer_refuses_bad_headers)
{
	FILE *fp = tmpfile();
	fmt_error err;
	ave_header h = small_header(1);
	h.levels = 9;
	CHECK(ave_write_header(fp, "w", &h, &err) == -1 && strstr(err.msg, "levels: 9"));
	h = small_header(1);
	h.dim[1] = 0;
	CHECK(ave_write_header(fp, "w", &h, &err) == -1 && strstr(err.msg, "dim[1]: 0"));
	h = small_header(1);
	h.kind = (ave_kind)0;
	CHECK(ave_write_header(fp, "w", &h, &err) == -1 && strstr(err.msg, "kind: 0"));
	CHECK(ftell(fp) == 0);
	fclose(fp);
}

int main(void)
{
	RUN(header_bytes_are_the_documented_layout);
	RUN(roundtrip_file_records_and_load);
	RUN(roundtrip_pipe_until_end);
	RUN(rejects_bad_magic_version_and_header_fields);
	RUN(rejects_truncation_anywhere);
	RUN(rejects_extra_records_and_bad_values);
	RUN(certainty_values_located_in_messages);
	RUN(writer_refuses_bad_headers);
	return harness_finish();
}
