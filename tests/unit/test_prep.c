/* Unit tests for libcommon/datasets and prep: the pixels read back from a shard are exactly what stb_image + the
 * PIL resize give for the source file, the output does not depend on the thread count, class filters parse. */
#include "cli.h"
#include "datasets.h"
#include "harness.h"
#include "image.h"
#include "prep.h"
#include "shard.h"
#include "util.h"

#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static void write_file(const char *path, const unsigned char *b, size_t n)
{
	FILE *fp = fopen(path, "wb");
	if (fp) {
		fwrite(b, 1, n, fp);
		fclose(fp);
	}
}

static image_u8 synth(int h, int w, int c, int seed)
{
	image_u8 im = {h, w, c, xmalloc((size_t)h * w * c)};
	for (int i = 0; i < h * w * c; i++)
		im.px[i] = (uint8_t)(i * (seed + 3) + (i / 7) * seed);
	return im;
}

/* dir/train/{a,b}/ with a JPEG, a gray PNG and an RGB PNG */
static void make_dataset(void)
{
	char p[256];
	snprintf(p, sizeof p, "%s/train", dir);
	mkdir(p, 0755);
	snprintf(p, sizeof p, "%s/train/a", dir);
	mkdir(p, 0755);
	snprintf(p, sizeof p, "%s/train/b", dir);
	mkdir(p, 0755);
	unsigned char *b;
	size_t n;
	image_u8 im = synth(60, 45, 3, 1);
	image_encode_jpeg(&im, 90, &b, &n);
	snprintf(p, sizeof p, "%s/train/a/1.jpg", dir);
	write_file(p, b, n);
	free(b);
	image_free(&im);
	im = synth(20, 31, 1, 2);
	image_encode_png(&im, &b, &n);
	snprintf(p, sizeof p, "%s/train/a/2.png", dir);
	write_file(p, b, n);
	free(b);
	image_free(&im);
	im = synth(33, 33, 3, 3);
	image_encode_png(&im, &b, &n);
	snprintf(p, sizeof p, "%s/train/b/3.png", dir);
	write_file(p, b, n);
	free(b);
	image_free(&im);
}

TEST(round_trip_pixels_equal_decode_plus_resize)
{
	ds_split s;
	ds_load(dir, DS_IMAGEFOLDER, "train", NULL, 0, &s);
	CHECK(s.n == 3);
	char out[256];
	snprintf(out, sizeof out, "%s/rt.avs", dir);
	prep_opts o = {.level = 3, .resize = 24, .threads = 2, .verbosity = CLI_QUIET};
	prep_stats st;
	prep_split(&s, out, 0, &o, &st);
	CHECK(st.images == 3 && st.skipped == 0 && st.classes == 2 && st.shards == 1);
	shard_reader *r;
	fmt_error err;
	CHECKF(shard_reader_open(&r, out, &err) == 0, "%s", err.msg);
	shard_buf b = {0};
	shard_record rec;
	for (size_t i = 0; i < s.n; i++) {
		CHECK(shard_reader_get(r, i, &b, &rec, &err) == 0);
		size_t len;
		unsigned char *data = read_whole_file(s.items[i].file, &len);
		image_u8 im, small;
		char why[128];
		CHECK(image_decode(data, len, 0, &im, why, sizeof why) == 0);
		image_resize_shorter(&im, 24, &small);
		CHECKF(rec.height == (uint32_t)small.h && rec.width == (uint32_t)small.w &&
			       rec.channels == (uint32_t)small.c,
		       "record %zu: %ux%ux%u vs %dx%dx%d", i, rec.height, rec.width, rec.channels, small.h, small.w,
		       small.c);
		CHECKF(memcmp(rec.pixels, small.px, (size_t)small.h * small.w * small.c) == 0, "record %zu pixels", i);
		CHECK(rec.label == s.items[i].label && strcmp(rec.path, s.items[i].rel) == 0);
		free(data);
		image_free(&im);
		image_free(&small);
	}
	CHECK(shard_reader_get(r, 1, &b, &rec, &err) == 0 && rec.channels == 1); /* gray PNG stays 1-channel */
	shard_buf_free(&b);
	shard_reader_close(r);
	ds_split_free(&s);
}

static unsigned char *slurp(const char *path, size_t *n)
{
	return read_whole_file(path, n);
}

TEST(threads_do_not_change_bytes)
{
	ds_split s;
	ds_load(dir, DS_AUTO, "train", NULL, 0, &s);
	char a[128], b[128], am[256], bm[256];
	snprintf(a, sizeof a, "%s/t1", dir);
	snprintf(b, sizeof b, "%s/t3", dir);
	prep_opts o = {.level = 5, .resize = 20, .threads = 1, .verbosity = CLI_QUIET, .shard_records = 2};
	prep_stats st;
	prep_split(&s, a, 1, &o, &st);
	o.threads = 3;
	prep_split(&s, b, 1, &o, &st);
	CHECK(st.shards == 2);
	for (int k = 0; k < 2; k++) {
		snprintf(am, sizeof am, "%s-%05d.avs", a, k);
		snprintf(bm, sizeof bm, "%s-%05d.avs", b, k);
		size_t la, lb;
		unsigned char *x = slurp(am, &la), *y = slurp(bm, &lb);
		CHECKF(la == lb && memcmp(x, y, la) == 0, "shard %d differs", k);
		free(x);
		free(y);
	}
	ds_split_free(&s);
}

TEST(class_filter_parses_lists)
{
	ds_filter f;
	const char *why;
	CHECK(ds_filter_parse("0,2,5-7", 9, &f, &why) == 0);
	int want[10] = {1, 0, 1, 0, 0, 1, 1, 1, 0, 0};
	for (int i = 0; i < 10; i++)
		CHECK(f.keep[i] == want[i]);
	ds_filter_free(&f);
	CHECK(ds_filter_parse("0-4", 9, &f, &why) == 0 && f.keep[4] && !f.keep[5]);
	ds_filter_free(&f);
	CHECK(ds_filter_parse("5-2", 9, &f, &why) == -1);
	CHECK(ds_filter_parse("1,", 9, &f, &why) == -1);
	CHECK(ds_filter_parse("a", 9, &f, &why) == -1);
	CHECK(ds_filter_parse("", 9, &f, &why) == -1);
	CHECK(ds_filter_parse("3-12", 9, &f, &why) == -1);
}

int main(void)
{
	snprintf(dir, sizeof dir, "/tmp/avsl-test-prep.XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	make_dataset();
	RUN(round_trip_pixels_equal_decode_plus_resize);
	RUN(threads_do_not_change_bytes);
	RUN(class_filter_parses_lists);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	return harness_finish();
}
