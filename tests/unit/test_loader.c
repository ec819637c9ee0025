/* Unit tests for libcommon/loader: determinism across thread counts, prefetching and instances; epoch
 * permutations with drop_last; eval order and last partial batch; crop boxes in range; the tensor of a sample equals
 * the image pipeline applied by hand; 1-channel and tiny images. Uses a small shard written with the shard writer. */
#include "harness.h"
#include "image.h"
#include "loader.h"
#include "shard.h"
#include "util.h"

#include <stdint.h>
#include <unistd.h>

static char dir[64];
static char shard_path[128];
enum { NREC = 37, NCLS = 5 };

static int rec_h(int i) { return 18 + (i * 7) % 23; }
static int rec_w(int i) { return 20 + (i * 11) % 19; }
static int rec_c(int i) { return i % 3 == 0 ? 1 : 3; }
static uint8_t rec_px(int i, size_t j) { return (uint8_t)((i * 37 + j * 13 + (j >> 4) * 5) & 255); }

static int make_shard(void)
{
	snprintf(dir, sizeof dir, "/tmp/avsl-test-loader-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(shard_path, sizeof shard_path, "%s/train.avs", dir);
	FILE *fp = fopen(shard_path, "wb");
	shard_writer *w;
	fmt_error err;
	if (!fp || shard_writer_open(&w, fp, shard_path, 1, &err))
		return -1;
	for (int i = 0; i < NREC; i++) {
		shard_record r = {0};
		r.label = (i * 3) % NCLS;
		r.super_label = -1;
		r.class_name = "c";
		r.path = "p";
		r.height = (uint32_t)rec_h(i), r.width = (uint32_t)rec_w(i), r.channels = (uint32_t)rec_c(i);
		size_t n = (size_t)r.height * r.width * r.channels;
		uint8_t *px = malloc(n);
		for (size_t j = 0; j < n; j++)
			px[j] = rec_px(i, j);
		r.pixels = px;
		int rc = shard_writer_add(w, &r, &err);
		free(px);
		if (rc)
			return -1;
	}
	int rc = shard_writer_finish(w, NULL, &err);
	fclose(fp);
	return rc;
}

static void small_config(loader_config *c, int train, int threads, int prefetch)
{
	loader_config_default(c);
	c->batch = 8;
	c->out_h = 12, c->out_w = 14;
	c->resize = 0;
	c->train = train;
	c->threads = threads;
	c->prefetch = prefetch;
	c->seed = 7;
}

enum { PER = 3 * 12 * 14 };

/* All batches of `epochs` epochs, concatenated. Returns images read. */
static int read_all(const loader_config *c, int epochs, float *x, int32_t *lab, int64_t *ids)
{
	loader *l = loader_open_or_die(shard_path, c);
	int total = 0;
	for (int e = 0; e < epochs; e++) {
		loader_start_epoch(l, e);
		int n;
		while ((n = loader_next(l, x + (size_t)total * PER, lab + total, ids + total)) > 0)
			total += n;
		if (n < 0)
			total = -1000000;
	}
	loader_close(l);
	return total;
}

TEST(train_identical_across_threads_prefetch_instances)
{
	enum { CAP = 3 * NREC };
	static float xa[CAP * PER], xb[CAP * PER], xc[CAP * PER];
	static int32_t la[CAP], lb[CAP], lc[CAP];
	static int64_t ia[CAP], ib[CAP], ic[CAP];
	loader_config c;
	small_config(&c, 1, 1, 0);
	int na = read_all(&c, 3, xa, la, ia);
	small_config(&c, 1, 2, 1);
	int nb = read_all(&c, 3, xb, lb, ib);
	int nc = read_all(&c, 3, xc, lc, ic); /* a second instance of the same config */
	CHECK(na == 3 * 32 && nb == na && nc == na); /* 37 records, batch 8: 4 batches, last 5 dropped */
	CHECK(memcmp(xa, xb, (size_t)na * PER * sizeof(float)) == 0 && memcmp(la, lb, (size_t)na * 4) == 0);
	CHECK(memcmp(ia, ib, (size_t)na * 8) == 0);
	CHECK(memcmp(xb, xc, (size_t)na * PER * sizeof(float)) == 0 && memcmp(ib, ic, (size_t)na * 8) == 0);
	/* every epoch: 32 distinct records, labels those of the shard, different orders across epochs */
	for (int e = 0; e < 3; e++) {
		int seen[NREC] = {0};
		for (int i = 0; i < 32; i++) {
			int64_t id = ia[e * 32 + i];
			CHECK(id >= 0 && id < NREC && !seen[id]);
			seen[id] = 1;
			CHECK(la[e * 32 + i] == (id * 3) % NCLS);
		}
	}
	CHECK(memcmp(ia, ia + 32, 32 * 8) != 0 && memcmp(ia + 32, ia + 64, 32 * 8) != 0);
	/* another seed: another order */
	small_config(&c, 1, 2, 1);
	c.seed = 8;
	static float xd[CAP * PER];
	static int32_t ld[CAP];
	static int64_t id[CAP];
	CHECK(read_all(&c, 1, xd, ld, id) == 32 && memcmp(id, ia, 32 * 8) != 0);
}

/* Two ranks with batch 4 see, together, exactly the batches of one process with batch 8, pixels included. */
TEST(ranks_partition_the_global_batches)
{
	enum { CAP = 2 * NREC };
	static float x1[CAP * PER], xr[2][CAP * PER];
	static int32_t l1[CAP], lr[2][CAP];
	static int64_t i1[CAP], ir[2][CAP];
	loader_config c;
	small_config(&c, 1, 2, 1);
	int n1 = read_all(&c, 2, x1, l1, i1);
	int nr[2];
	for (int r = 0; r < 2; r++) {
		small_config(&c, 1, 1 + r, r);
		c.batch = 8; /* the global batch: 4 images per rank */
		c.rank = r;
		c.world = 2;
		nr[r] = read_all(&c, 2, xr[r], lr[r], ir[r]);
	}
	CHECK(n1 == 64 && nr[0] == 32 && nr[1] == 32);
	for (int b = 0; b < 8; b++) /* global batch b = rank 0's batch b, then rank 1's */
		for (int r = 0; r < 2; r++) {
			CHECK(memcmp(i1 + b * 8 + r * 4, ir[r] + b * 4, 4 * 8) == 0);
			CHECK(memcmp(x1 + (size_t)(b * 8 + r * 4) * PER, xr[r] + (size_t)b * 4 * PER, 4 * PER * 4) == 0);
		}
	/* uneven: 3 ranks share each global batch of 8 as positions [0, 2), [2, 5), [5, 8) */
	static float x3[3][CAP * PER];
	static int32_t l3[3][CAP];
	static int64_t i3[3][CAP];
	int n3[3];
	for (int r = 0; r < 3; r++) {
		small_config(&c, 1, 1, 0);
		c.rank = r;
		c.world = 3;
		n3[r] = read_all(&c, 2, x3[r], l3[r], i3[r]);
	}
	CHECK(n3[0] == 16 && n3[1] == 24 && n3[2] == 24);
	static const int lo3[4] = {0, 2, 5, 8};
	for (int b = 0; b < 8; b++)
		for (int r = 0; r < 3; r++) {
			int k = lo3[r + 1] - lo3[r];
			CHECK(memcmp(i1 + b * 8 + lo3[r], i3[r] + b * k, (size_t)k * 8) == 0);
			CHECK(memcmp(x1 + (size_t)(b * 8 + lo3[r]) * PER, x3[r] + (size_t)b * k * PER, (size_t)k * PER * 4) == 0);
		}
	/* eval: whole batches of 8 of the one-process schedule (5 batches): 0..15 (2 batches) and 16..36 (3) */
	for (int r = 0; r < 2; r++) {
		small_config(&c, 0, 1, 1);
		c.rank = r;
		c.world = 2;
		nr[r] = read_all(&c, 1, xr[r], lr[r], ir[r]);
	}
	CHECK(nr[0] == 16 && nr[1] == 21 && ir[0][0] == 0 && ir[0][15] == 15 && ir[1][0] == 16 && ir[1][20] == 36);
	small_config(&c, 1, 1, 0);
	c.world = 2;
	c.rank = 2;
	fmt_error err;
	CHECK(loader_open(shard_path, &c, &err) == NULL && strstr(err.msg, "rank 2 of 2"));
}

TEST(resume_mid_epoch)
{
	loader_config c;
	small_config(&c, 1, 2, 1);
	loader *a = loader_open_or_die(shard_path, &c), *b = loader_open_or_die(shard_path, &c);
	static float xa[8 * PER], xb[8 * PER];
	int32_t la[8], lb[8];
	int64_t ia[8], ib[8];
	loader_start_epoch(a, 5);
	for (int k = 0; k < 2; k++)
		CHECK(loader_next(a, xa, la, ia) == 8);
	loader_start_epoch_at(b, 5, 2);
	int n = 0;
	for (int k = 2; k < 4; k++) {
		CHECK(loader_next(a, xa, la, ia) == 8 && loader_next(b, xb, lb, ib) == 8);
		CHECK(memcmp(ia, ib, sizeof ia) == 0 && memcmp(xa, xb, sizeof xa) == 0);
		n++;
	}
	CHECK(n == 2 && loader_next(b, xb, lb, ib) == 0 && loader_next(a, xa, la, ia) == 0);
	loader_start_epoch_at(b, 5, 4); /* past the end: an empty epoch */
	CHECK(loader_next(b, xb, lb, ib) == 0);
	loader_close(a);
	loader_close(b);
}

TEST(eval_sequential_keeps_last_partial_batch)
{
	loader_config c;
	small_config(&c, 0, 2, 1);
	loader *l = loader_open_or_die(shard_path, &c);
	CHECK(loader_count(l) == NREC && loader_num_classes(l) == NCLS && loader_num_batches(l) == 5);
	static float x[8 * PER];
	int32_t lab[8];
	int64_t ids[8];
	for (int pass = 0; pass < 2; pass++) { /* an epoch can be restarted */
		loader_start_epoch(l, pass);
		int sizes[6], nb = 0, n;
		int64_t expect = 0;
		while ((n = loader_next(l, x, lab, ids)) > 0) {
			sizes[nb++] = n;
			for (int i = 0; i < n; i++, expect++)
				CHECK(ids[i] == expect && lab[i] == (expect * 3) % NCLS);
		}
		CHECK(n == 0 && nb == 5 && sizes[0] == 8 && sizes[4] == 5 && expect == NREC);
		CHECK(loader_next(l, x, lab, ids) == 0);
	}
	loader_close(l);
}

/* Decode record i as the loader sees it (straight from the writer's pixels). */
static void record_image(int i, image_u8 *im)
{
	im->h = rec_h(i), im->w = rec_w(i), im->c = rec_c(i);
	size_t n = (size_t)im->h * im->w * im->c;
	im->px = malloc(n);
	for (size_t j = 0; j < n; j++)
		im->px[j] = rec_px(i, j);
}

TEST(sample_equals_pipeline_by_hand)
{
	loader_config c;
	small_config(&c, 1, 2, 1);
	c.resize = 16; /* exercise the resize step */
	loader *l = loader_open_or_die(shard_path, &c);
	loader_start_epoch(l, 3);
	const float *x;
	const int32_t *lab;
	const int64_t *ids;
	int n = loader_next_borrow(l, &x, &lab, &ids);
	CHECK(n == 8);
	static float want[PER];
	for (int k = 0; k < n; k++) {
		image_u8 im, rs;
		record_image((int)ids[k], &im);
		image_resize_shorter(&im, 16, &rs);
		crop_box b;
		int flip;
		loader_train_params(&c, 3, (uint64_t)ids[k], rs.h, rs.w, &b, &flip);
		image_to_tensor(&rs, b, 12, 14, flip, c.mean, c.std, 3, want);
		CHECKF(memcmp(want, x + (size_t)k * PER, sizeof want) == 0, "sample %d (record %lld)", k,
		       (long long)ids[k]);
		image_free(&im);
		image_free(&rs);
	}
	loader_close(l);
}

TEST(crop_boxes_in_range_and_flips_balanced)
{
	loader_config c;
	loader_config_default(&c);
	int flips = 0, fallback = 0;
	const int N = 2000;
	for (int i = 0; i < N; i++) {
		int H = 20 + i % 300, W = 25 + (i * 7) % 280;
		crop_box b;
		int flip;
		loader_train_params(&c, i % 5, (uint64_t)i, H, W, &b, &flip);
		CHECKF(b.h >= 1 && b.w >= 1 && b.top >= 0 && b.left >= 0 && b.top + b.h <= H && b.left + b.w <= W,
		       "box %d,%d %dx%d in %dx%d", b.top, b.left, b.h, b.w, H, W);
		double s = (double)b.h * b.w / ((double)H * W), r = (double)b.w / b.h;
		/* rounding of w and h to integers moves scale and ratio by up to ~1/side */
		double tol = 2.5 / (b.h < b.w ? b.h : b.w);
		if (s < 0.16 * (1 - tol) || r < 0.75 * (1 - tol) || r > 1.33 * (1 + tol))
			fallback++;
		flips += flip;
		crop_box b2;
		int flip2;
		loader_train_params(&c, i % 5, (uint64_t)i, H, W, &b2, &flip2);
		CHECK(memcmp(&b, &b2, sizeof b) == 0 && flip == flip2);
	}
	CHECKF(fallback <= N / 100, "%d boxes outside scale/ratio", fallback);
	CHECKF(flips > N * 0.45 && flips < N * 0.55, "%d flips of %d", flips, N);
	c.flip = 0;
	crop_box b;
	int flip = 1;
	loader_train_params(&c, 0, 1, 50, 50, &b, &flip);
	CHECK(flip == 0);
}

TEST(gray_tiny_images_eval_and_three_channels)
{
	loader_config c;
	small_config(&c, 0, 1, 0);
	c.out_h = c.out_w = 32; /* larger than some stored images: their side is cropped whole and upsampled */
	c.mean[0] = c.mean[1] = c.mean[2] = 0.5f;
	c.std[0] = c.std[1] = c.std[2] = 0.25f;
	loader *l = loader_open_or_die(shard_path, &c);
	loader_start_epoch(l, 0);
	const float *x;
	const int32_t *lab;
	const int64_t *ids;
	CHECK(loader_next_borrow(l, &x, &lab, &ids) == 8);
	size_t plane = 32 * 32;
	static float want[3 * 32 * 32];
	for (int k = 0; k < 8; k++) {
		image_u8 im;
		record_image(k, &im);
		crop_box b = center_crop_box(im.h, im.w, im.h < 32 ? im.h : 32, im.w < 32 ? im.w : 32);
		if (k == 0)
			CHECK(b.h == 18 && b.w == 20 && b.top == 0 && b.left == 0);
		image_to_tensor(&im, b, 32, 32, 0, c.mean, c.std, 3, want);
		CHECKF(memcmp(want, x + (size_t)k * 3 * plane, sizeof want) == 0, "record %d", k);
		if (im.c == 1) /* gray replicated */
			CHECK(memcmp(x + k * 3 * plane, x + k * 3 * plane + plane, plane * 4) == 0);
		image_free(&im);
	}
	loader_close(l);
	/* one output channel */
	small_config(&c, 0, 2, 1);
	c.channels = 1;
	l = loader_open_or_die(shard_path, &c);
	loader_start_epoch(l, 0);
	CHECK(loader_next_borrow(l, &x, &lab, &ids) == 8);
	image_u8 im;
	record_image(0, &im); /* gray, 18 x 20: center crop 12 x 14 at (3, 3) */
	crop_box b = center_crop_box(im.h, im.w, 12, 14);
	CHECK(b.top == 3 && b.left == 3);
	static float w1[12 * 14];
	image_to_tensor(&im, b, 12, 14, 0, c.mean, c.std, 1, w1);
	CHECK(memcmp(w1, x, sizeof w1) == 0);
	/* no resize, no scaling: the crop is copied, so the values are exact */
	CHECK_CLOSE(x[0], ((float)im.px[3 * im.w + 3] / 255.0f - 0.485f) / 0.229f, 1e-6, 0);
	image_free(&im);
	loader_close(l);
}

TEST(open_errors)
{
	loader_config c;
	small_config(&c, 1, 1, 0);
	fmt_error err;
	c.batch = 38; /* more than the 37 records */
	CHECK(loader_open(shard_path, &c, &err) == NULL && strstr(err.msg, "fewer than one training batch"));
	c.batch = 8;
	c.channels = 2;
	CHECK(loader_open(shard_path, &c, &err) == NULL && strstr(err.msg, "channels 2"));
	c.channels = 3;
	CHECK(loader_open("/nonexistent/x.avs", &c, &err) == NULL && strstr(err.msg, "/nonexistent/x.avs"));
}

TEST(corrupt_record_is_reported)
{
	char bad[160];
	snprintf(bad, sizeof bad, "%s/bad.avs", dir);
	size_t len;
	FILE *in = fopen(shard_path, "rb");
	CHECK(in);
	static unsigned char buf[1 << 20];
	len = fread(buf, 1, sizeof buf, in);
	fclose(in);
	CHECK(len > 400 && len < sizeof buf);
	buf[200] ^= 0x55; /* inside the first records (the index and class table sit at the end) */
	FILE *out = fopen(bad, "wb");
	CHECK(out && fwrite(buf, 1, len, out) == len);
	fclose(out);
	loader_config c;
	small_config(&c, 0, 2, 1);
	fmt_error err;
	loader *l = loader_open(bad, &c, &err);
	CHECKF(l, "%s", err.msg);
	loader_start_epoch(l, 0);
	static float x[8 * PER];
	int32_t lab[8];
	int n, batches = 0;
	while ((n = loader_next(l, x, lab, NULL)) > 0)
		batches++;
	CHECKF(n == -1 && strstr(loader_error(l), "bad.avs"), "n %d, error '%s'", n, loader_error(l));
	CHECK(loader_next(l, x, lab, NULL) == -1); /* stays failed */
	loader_close(l);
	unlink(bad);
}

int main(void)
{
	if (make_shard()) {
		printf("FAIL setup: cannot write the test shard\n");
		return 1;
	}
	RUN(train_identical_across_threads_prefetch_instances);
	RUN(ranks_partition_the_global_batches);
	RUN(resume_mid_epoch);
	RUN(eval_sequential_keeps_last_partial_batch);
	RUN(sample_equals_pipeline_by_hand);
	RUN(crop_boxes_in_range_and_flips_balanced);
	RUN(gray_tiny_images_eval_and_three_channels);
	RUN(open_errors);
	RUN(corrupt_record_is_reported);
	unlink(shard_path);
	rmdir(dir);
	return harness_finish();
}
