/* Unit tests for formats/shard: round trip, manifests, determinism, thread-safe reads and every rejection rule
 * of shard.md (each corrupted file must be refused with a message naming the file and the field). */
#include "harness.h"
#include "shard.h"

#include <pthread.h>
#include <stdint.h>
#include <unistd.h>
#include <zlib.h>

static char dir[64];

static char *tmp_path(const char *name)
{
	static char buf[8][256];
	static int k;
	char *p = buf[k++ % 8];
	snprintf(p, 256, "%s/%s", dir, name);
	return p;
}

static uint8_t px_of(int rec, size_t i) { return (uint8_t)(rec * 31 + i * 7 + (i >> 5)); }

/* n records: record i is (i%3+1) x (i%5+2) x (1 or 3), label i%4, class "class-<label>" */
static int write_shard(const char *path, int n, int first, int level)
{
	FILE *fp = fopen(path, "wb");
	if (!fp)
		return -1;
	shard_writer *w;
	fmt_error err;
	if (shard_writer_open(&w, fp, path, level, &err))
		return -1;
	for (int i = first; i < first + n; i++) {
		shard_record r = {0};
		char cls[32], src[64];
		r.label = i % 4;
		r.super_label = i % 2 ? -1 : i % 3;
		snprintf(cls, sizeof cls, "class-%d", r.label);
		snprintf(src, sizeof src, "images/c%d/img_%03d.jpg", r.label, i);
		r.class_name = cls;
		r.path = src;
		r.height = (uint32_t)(i % 3 + 1);
		r.width = (uint32_t)(i % 5 + 2);
		r.channels = i % 2 ? 1 : 3;
		size_t np = (size_t)r.height * r.width * r.channels;
		uint8_t *px = malloc(np);
		for (size_t j = 0; j < np; j++)
			px[j] = px_of(i, j);
		r.pixels = px;
		int rc = shard_writer_add(w, &r, &err);
		free(px);
		if (rc) {
			shard_writer_abort(w);
			fclose(fp);
			return -1;
		}
	}
	uint64_t total;
	int rc = shard_writer_finish(w, &total, &err);
	fclose(fp);
	return rc;
}

static int check_record(const shard_record *r, int i)
{
	char cls[32], src[64];
	snprintf(cls, sizeof cls, "class-%d", i % 4);
	snprintf(src, sizeof src, "images/c%d/img_%03d.jpg", i % 4, i);
	if (r->label != i % 4 || r->super_label != (i % 2 ? -1 : i % 3) || strcmp(r->class_name, cls) ||
	    strcmp(r->path, src) || r->height != (uint32_t)(i % 3 + 1) || r->width != (uint32_t)(i % 5 + 2) ||
	    r->channels != (i % 2 ? 1u : 3u))
		return -1;
	for (size_t j = 0; j < (size_t)r->height * r->width * r->channels; j++)
		if (r->pixels[j] != px_of(i, j))
			return -1;
	return 0;
}

static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return NULL;
	fseek(fp, 0, SEEK_END);
	*len = (size_t)ftell(fp);
	rewind(fp);
	unsigned char *b = malloc(*len + 1);
	if (fread(b, 1, *len, fp) != *len) {
		free(b);
		b = NULL;
	}
	fclose(fp);
	return b;
}

static void spit(const char *path, const void *b, size_t len)
{
	FILE *fp = fopen(path, "wb");
	fwrite(b, 1, len, fp);
	fclose(fp);
}

static void put32le(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}
static void put64le(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

/* Open path and return 0 when refused with a message containing every needle. */
static int refused(const char *path, const char *n1, const char *n2, char *msg, size_t cap)
{
	shard_reader *r;
	fmt_error err = {{0}};
	if (shard_reader_open(&r, path, &err) == 0) {
		shard_reader_close(r);
		snprintf(msg, cap, "accepted");
		return -1;
	}
	snprintf(msg, cap, "%.300s", err.msg);
	if (!strstr(err.msg, path) || (n1 && !strstr(err.msg, n1)) || (n2 && !strstr(err.msg, n2)))
		return -1;
	return 0;
}

TEST(round_trip)
{
	const char *p = tmp_path("rt.avs");
	CHECK(write_shard(p, 23, 0, 3) == 0);
	shard_reader *r;
	fmt_error err;
	CHECKF(shard_reader_open(&r, p, &err) == 0, "%s", err.msg);
	CHECK(shard_reader_count(r) == 23);
	CHECK(shard_reader_num_classes(r) == 4 && shard_reader_class_count(r) == 4);
	CHECK(strcmp(shard_reader_class_name(r, 2), "class-2") == 0 && shard_reader_class_name(r, 9) == NULL);
	shard_buf b = {0};
	shard_record rec;
	for (int i = 22; i >= 0; i--) { /* backwards: random access */
		CHECKF(shard_reader_get(r, (uint64_t)i, &b, &rec, &err) == 0, "%s", err.msg);
		CHECKF(check_record(&rec, i) == 0, "record %d differs", i);
		CHECK(rec.index == (uint64_t)i && shard_reader_label(r, (uint64_t)i) == i % 4);
		CHECK(shard_reader_super_label(r, (uint64_t)i) == (i % 2 ? -1 : i % 3));
	}
	CHECK(shard_reader_get(r, 23, &b, &rec, &err) == -1 && strstr(err.msg, "out of range"));
	CHECK(shard_reader_verify(r, &err) == 0);
	shard_buf_free(&b);
	shard_reader_close(r);
}

TEST(empty_shard)
{
	const char *p = tmp_path("empty.avs");
	CHECK(write_shard(p, 0, 0, 3) == 0);
	shard_reader *r;
	fmt_error err;
	CHECKF(shard_reader_open(&r, p, &err) == 0, "%s", err.msg);
	CHECK(shard_reader_count(r) == 0 && shard_reader_num_classes(r) == 0);
	shard_reader_close(r);
}

TEST(bytes_are_deterministic)
{
	const char *a = tmp_path("det_a.avs"), *b = tmp_path("det_b.avs");
	CHECK(write_shard(a, 10, 0, 5) == 0 && write_shard(b, 10, 0, 5) == 0);
	size_t la, lb;
	unsigned char *x = slurp(a, &la), *y = slurp(b, &lb);
	CHECK(x && y && la == lb && memcmp(x, y, la) == 0);
	CHECK(memcmp(x, "\x89" "AVS\r\n\x1a\n", 8) == 0);
	free(x);
	free(y);
}

TEST(manifest_spans_shards)
{
	CHECK(write_shard(tmp_path("m-0.avs"), 7, 0, 3) == 0 && write_shard(tmp_path("m-1.avs"), 9, 7, 3) == 0);
	const char *m = tmp_path("m.avsm");
	FILE *fp = fopen(m, "w");
	char *names[2] = {"m-0.avs", "m-1.avs"};
	uint64_t counts[2] = {7, 9};
	fmt_error err;
	CHECK(shard_manifest_write(fp, m, names, counts, 2, &err) == 0);
	fclose(fp);
	shard_reader *r;
	CHECKF(shard_reader_open(&r, m, &err) == 0, "%s", err.msg);
	CHECK(shard_reader_count(r) == 16 && shard_reader_nshards(r) == 2);
	shard_buf b = {0};
	shard_record rec;
	for (int i = 0; i < 16; i++) {
		CHECKF(shard_reader_get(r, (uint64_t)i, &b, &rec, &err) == 0, "%s", err.msg);
		CHECKF(check_record(&rec, i) == 0, "record %d differs", i);
	}
	shard_buf_free(&b);
	shard_reader_close(r);
	/* a count that disagrees with the shard, a path with a slash, garbage, no shards */
	char msg[400];
	spit(m, "AVSM 1.0\n7 m-0.avs\n8 m-1.avs\n", 29);
	CHECKF(refused(m, "line 3", "holds 9", msg, sizeof msg) == 0, "%s", msg);
	spit(m, "AVSM 1.0\n7 ../m-0.avs\n", 22);
	CHECKF(refused(m, "line 2", "shard name", msg, sizeof msg) == 0, "%s", msg);
	spit(m, "AVSM 1.0\nseven m-0.avs\n", 23);
	CHECKF(refused(m, "line 2", "COUNT NAME", msg, sizeof msg) == 0, "%s", msg);
	spit(m, "AVSM 1.0\n", 9);
	CHECKF(refused(m, "no shards", NULL, msg, sizeof msg) == 0, "%s", msg);
	spit(m, "AVSM 1.0\n7 m-0.avs", 18);
	CHECKF(refused(m, "no newline", NULL, msg, sizeof msg) == 0, "%s", msg);
	spit(m, "AVSM 2.0\n7 m-0.avs\n", 19);
	CHECKF(refused(m, "line 1", NULL, msg, sizeof msg) == 0, "%s", msg);
}

struct thr {
	shard_reader *r;
	int start, bad;
};

static void *reader_thread(void *arg)
{
	struct thr *t = arg;
	shard_buf b = {0};
	shard_record rec;
	fmt_error err;
	for (int k = 0; k < 400; k++) {
		int i = (t->start + k * 7) % 50;
		if (shard_reader_get(t->r, (uint64_t)i, &b, &rec, &err) || check_record(&rec, i))
			t->bad++;
	}
	shard_buf_free(&b);
	return NULL;
}

TEST(get_is_thread_safe)
{
	const char *p = tmp_path("thr.avs");
	CHECK(write_shard(p, 50, 0, 1) == 0);
	shard_reader *r;
	fmt_error err;
	CHECK(shard_reader_open(&r, p, &err) == 0);
	pthread_t th[4];
	struct thr t[4];
	for (int i = 0; i < 4; i++) {
		t[i] = (struct thr){r, i * 13, 0};
		pthread_create(&th[i], NULL, reader_thread, &t[i]);
	}
	int bad = 0;
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		bad += t[i].bad;
	}
	shard_reader_close(r);
	CHECKF(bad == 0, "%d bad reads", bad);
}

TEST(writer_rejects_bad_records)
{
	FILE *fp = fopen(tmp_path("bad.avs"), "wb");
	shard_writer *w;
	fmt_error err;
	CHECK(shard_writer_open(&w, fp, "bad.avs", 3, &err) == 0);
	uint8_t px[12] = {0};
	shard_record r = {0, 1, -1, "cat", "a.png", 2, 2, 3, px};
	CHECK(shard_writer_add(w, &r, &err) == 0);
	r.class_name = "dog"; /* label 1 already named cat */
	CHECK(shard_writer_add(w, &r, &err) == -1 && strstr(err.msg, "class name 'dog'"));
	r.class_name = "cat";
	r.channels = 2;
	CHECK(shard_writer_add(w, &r, &err) == -1 && strstr(err.msg, "channels"));
	r.channels = 3;
	r.label = -3;
	CHECK(shard_writer_add(w, &r, &err) == -1 && strstr(err.msg, "label"));
	r.label = 1;
	r.height = 0;
	CHECK(shard_writer_add(w, &r, &err) == -1 && strstr(err.msg, "size"));
	shard_writer_abort(w);
	fclose(fp);
	CHECK(shard_writer_open(&w, stdout, "x", 99, &err) == -1 && strstr(err.msg, "level"));
}

/* A valid shard, mutated in place; fix_footer recomputes the footer's checksum so a deeper check is reached. */
static unsigned char *good;
static size_t good_len;

static void fix_footer(unsigned char *b, size_t len)
{
	unsigned char *f = b + len - 64;
	put32le(f + 52, (uint32_t)crc32(0, f, 52));
}

static void fix_header(unsigned char *b) { put32le(b + 28, (uint32_t)crc32(0, b, 28)); }

TEST(rejects_truncated)
{
	const char *p = tmp_path("trunc.avs");
	char msg[400];
	size_t cuts[] = {0, 20, 95, good_len / 2, good_len - 1, good_len - 64};
	for (size_t k = 0; k < sizeof cuts / sizeof *cuts; k++) {
		spit(p, good, cuts[k]);
		CHECKF(refused(p, NULL, NULL, msg, sizeof msg) == 0, "cut at %zu: %s", cuts[k], msg);
	}
	spit(p, good, good_len / 2);
	CHECKF(refused(p, "footer", "truncated", msg, sizeof msg) == 0, "%s", msg);
	spit(p, good, 50);
	CHECKF(refused(p, "bytes", "truncated", msg, sizeof msg) == 0, "%s", msg);
}

TEST(rejects_bad_magic_version_flags)
{
	const char *p = tmp_path("mut.avs");
	unsigned char *b = malloc(good_len);
	char msg[400];
	memcpy(b, good, good_len);
	b[1] = 'X';
	spit(p, b, good_len);
	CHECKF(refused(p, "magic", NULL, msg, sizeof msg) == 0, "%s", msg);
	memcpy(b, good, good_len);
	b[8] = 2; /* major 2 */
	fix_header(b);
	spit(p, b, good_len);
	CHECKF(refused(p, "version", "2.0", msg, sizeof msg) == 0, "%s", msg);
	memcpy(b, good, good_len);
	b[12] = 1;
	fix_header(b);
	spit(p, b, good_len);
	CHECKF(refused(p, "flags", NULL, msg, sizeof msg) == 0, "%s", msg);
	memcpy(b, good, good_len);
	b[20] = 1;
	fix_header(b);
	spit(p, b, good_len);
	CHECKF(refused(p, "reserved", NULL, msg, sizeof msg) == 0, "%s", msg);
	memcpy(b, good, good_len);
	b[12] = 1; /* not fixed: the checksum catches it */
	spit(p, b, good_len);
	CHECKF(refused(p, "header: checksum", NULL, msg, sizeof msg) == 0, "%s", msg);
	/* a newer minor version is accepted (reserved fields may be used by it) */
	memcpy(b, good, good_len);
	b[10] = 3;
	b[20] = 1;
	fix_header(b);
	spit(p, b, good_len);
	shard_reader *r;
	fmt_error err;
	CHECKF(shard_reader_open(&r, p, &err) == 0, "%s", err.msg);
	shard_reader_close(r);
	free(b);
}

TEST(rejects_bad_footer_and_index)
{
	const char *p = tmp_path("mut.avs");
	unsigned char *b = malloc(good_len);
	unsigned char *f;
	char msg[400];
	size_t L = good_len;
	uint64_t idx_off = 0, ct_off = 0;
	for (int i = 0; i < 8; i++) {
		ct_off |= (uint64_t)good[L - 64 + 8 + i] << (8 * i);
		idx_off |= (uint64_t)good[L - 64 + 16 + i] << (8 * i);
	}
	/* footer checksum */
	memcpy(b, good, L);
	b[L - 64 + 3] ^= 1;
	spit(p, b, L);
	CHECKF(refused(p, "footer: checksum", NULL, msg, sizeof msg) == 0, "%s", msg);
	/* index offset past the end */
	memcpy(b, good, L);
	f = b + L - 64;
	put64le(f + 16, L + 100);
	fix_footer(b, L);
	spit(p, b, L);
	CHECKF(refused(p, "index offset", "past the end", msg, sizeof msg) == 0, "%s", msg);
	/* class table offset past the end */
	memcpy(b, good, L);
	put64le(f + 8, L * 2);
	fix_footer(b, L);
	spit(p, b, L);
	CHECKF(refused(p, "class table offset", NULL, msg, sizeof msg) == 0, "%s", msg);
	/* record count that does not fit the index */
	memcpy(b, good, L);
	put64le(f, 1000000);
	fix_footer(b, L);
	spit(p, b, L);
	CHECKF(refused(p, "record count", NULL, msg, sizeof msg) == 0, "%s", msg);
	/* index checksum */
	memcpy(b, good, L);
	b[idx_off + 5] ^= 0x40;
	spit(p, b, L);
	CHECKF(refused(p, "index: checksum", NULL, msg, sizeof msg) == 0, "%s", msg);
	/* class table checksum */
	memcpy(b, good, L);
	b[ct_off + 7] ^= 0x01;
	spit(p, b, L);
	CHECKF(refused(p, "class table: checksum", NULL, msg, sizeof msg) == 0, "%s", msg);
	/* index entry: a record offset that breaks contiguity, with both checksums fixed */
	memcpy(b, good, L);
	b[idx_off + 32] += 1; /* offset of record 1 */
	put32le(f + 36, (uint32_t)crc32(0, b + idx_off, (uInt)(L - 64 - idx_off)));
	fix_footer(b, L);
	spit(p, b, L);
	CHECKF(refused(p, "index: record 1", "offset", msg, sizeof msg) == 0, "%s", msg);
	/* index entry: a label outside the class range */
	memcpy(b, good, L);
	put32le(b + idx_off + 16, 77);
	put32le(f + 36, (uint32_t)crc32(0, b + idx_off, (uInt)(L - 64 - idx_off)));
	fix_footer(b, L);
	spit(p, b, L);
	CHECKF(refused(p, "index: record 0", "label 77", msg, sizeof msg) == 0, "%s", msg);
	free(b);
}

TEST(rejects_corrupt_record_on_read)
{
	const char *p = tmp_path("rec.avs");
	unsigned char *b = malloc(good_len);
	memcpy(b, good, good_len);
	b[32 + 9] ^= 0x10; /* inside record 0's zstd frame */
	spit(p, b, good_len);
	shard_reader *r;
	fmt_error err;
	CHECKF(shard_reader_open(&r, p, &err) == 0, "%s", err.msg); /* open checks headers and index only */
	shard_buf sb = {0};
	shard_record rec;
	CHECK(shard_reader_get(r, 0, &sb, &rec, &err) == -1 && strstr(err.msg, "record 0: checksum") &&
	      strstr(err.msg, p));
	CHECK(shard_reader_get(r, 1, &sb, &rec, &err) == 0 && check_record(&rec, 1) == 0);
	CHECK(shard_reader_verify(r, &err) == 1 && strstr(err.msg, "record 0"));
	shard_buf_free(&sb);
	shard_reader_close(r);
	free(b);
	char msg[400];
	CHECKF(refused(tmp_path("missing.avs"), "No such file", NULL, msg, sizeof msg) == 0, "%s", msg);
}

int main(void)
{
	snprintf(dir, sizeof dir, "/tmp/avsl-test-shard.XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	const char *g = tmp_path("good.avs");
	if (write_shard(g, 12, 0, 3) || !(good = slurp(g, &good_len))) {
		printf("FAIL setup: cannot write %s\n", g);
		return 1;
	}
	RUN(round_trip);
	RUN(empty_shard);
	RUN(bytes_are_deterministic);
	RUN(manifest_spans_shards);
	RUN(get_is_thread_safe);
	RUN(writer_rejects_bad_records);
	RUN(rejects_truncated);
	RUN(rejects_bad_magic_version_flags);
	RUN(rejects_bad_footer_and_index);
	RUN(rejects_corrupt_record_on_read);
	free(good);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	return harness_finish();
}
