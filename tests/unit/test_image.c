/* Unit tests for libcommon/image: PIL goldens for the resize, torchvision crop semantics, flip, normalisation,
 * decoding. Goldens come from tests/reference/image_golden.py (PIL 9.4), committed under tests/golden/image. */
#include "harness.h"
#include "image.h"
#include "rng.h"
#include "util.h"

#include <stdint.h>

#ifndef GOLDEN_DIR
#define GOLDEN_DIR "tests/golden/image"
#endif

/* Binary PGM/PPM as PIL writes them: "P5|P6\nW H\n255\n" then the pixels. */
static int read_pnm(const char *path, image_u8 *im)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return -1;
	char kind[3] = {0};
	int w, h, maxv;
	if (fscanf(fp, "%2s %d %d %d", kind, &w, &h, &maxv) != 4 || maxv != 255 || fgetc(fp) != '\n') {
		fclose(fp);
		return -1;
	}
	im->c = strcmp(kind, "P6") == 0 ? 3 : 1;
	im->h = h;
	im->w = w;
	size_t n = (size_t)h * w * im->c;
	im->px = xmalloc(n);
	size_t got = fread(im->px, 1, n, fp);
	fclose(fp);
	return got == n ? 0 : -1;
}

TEST(resize_matches_pil_goldens)
{
	FILE *fp = fopen(GOLDEN_DIR "/cases.txt", "r");
	CHECKF(fp, "cannot open " GOLDEN_DIR "/cases.txt (run from the repository root)");
	char in_name[128], out_name[128];
	int top, left, bh, bw, oh, ow, ncases = 0;
	while (fscanf(fp, "%127s %127s %d %d %d %d %d %d", in_name, out_name, &top, &left, &bh, &bw, &oh, &ow) == 8) {
		char p1[400], p2[400];
		snprintf(p1, sizeof p1, "%s/%s", GOLDEN_DIR, in_name);
		snprintf(p2, sizeof p2, "%s/%s", GOLDEN_DIR, out_name);
		image_u8 in, want, got;
		CHECKF(read_pnm(p1, &in) == 0 && read_pnm(p2, &want) == 0, "reading %.150s / %.150s", p1, p2);
		CHECKF(want.h == oh && want.w == ow && want.c == in.c, "%s: golden shape", out_name);
		image_resize_box(&in, top, left, bh, bw, oh, ow, &got);
		int maxd = 0;
		size_t ndiff = 0, n = (size_t)oh * ow * in.c;
		for (size_t i = 0; i < n; i++) {
			int d = abs((int)got.px[i] - (int)want.px[i]);
			maxd = d > maxd ? d : maxd;
			ndiff += d != 0;
		}
		/* the fixed-point arithmetic is PIL's own, so the result is expected to be identical; the issue allows
		 * one grey level, which is the tolerance checked */
		CHECKF(maxd <= 1, "%s: max |diff| %d over %zu of %zu values", out_name, maxd, ndiff, n);
		/* and no systematic off-by-one (a missing rounding term shows up as ~half the values off by 1) */
		CHECKF(ndiff * 100 <= n, "%s: %zu of %zu values off by one", out_name, ndiff, n);
		if (ndiff)
			printf("# %s: %zu of %zu values differ by 1\n", out_name, ndiff, n);
		image_free(&in);
		image_free(&want);
		image_free(&got);
		ncases++;
	}
	fclose(fp);
	CHECKF(ncases >= 9, "only %d golden cases read", ncases);
}

TEST(resize_shorter_uses_torchvision_sizes)
{
	image_u8 in = {375, 500, 3, xcalloc(375 * 500, 3)}, out;
	image_resize_shorter(&in, 256, &out);
	CHECKF(out.h == 256 && out.w == 341, "%dx%d", out.h, out.w); /* floor(256*500/375) = 341.33 -> 341 */
	image_free(&out);
	image_u8 tall = {700, 299, 1, xcalloc(700, 299)};
	image_resize_shorter(&tall, 256, &out);
	CHECKF(out.h == 599 && out.w == 256, "%dx%d", out.h, out.w); /* 256*700/299 = 599.33 */
	image_free(&out);
	/* already the right size: an exact copy */
	image_u8 same = {256, 300, 1, xmalloc(256 * 300)};
	for (int i = 0; i < 256 * 300; i++)
		same.px[i] = (uint8_t)(i * 7);
	image_resize_shorter(&same, 256, &out);
	CHECK(out.h == 256 && out.w == 300 && memcmp(out.px, same.px, 256 * 300) == 0);
	image_free(&out);
	image_free(&in);
	image_free(&tall);
	image_free(&same);
}

TEST(resize_constant_image_stays_constant)
{
	image_u8 in = {33, 47, 3, xmalloc(33 * 47 * 3)}, out;
	memset(in.px, 200, 33 * 47 * 3);
	image_resize_box(&in, 3, 5, 20, 30, 11, 64, &out);
	for (int i = 0; i < 11 * 64 * 3; i++)
		CHECKF(out.px[i] == 200, "value %d at %d", out.px[i], i);
	image_free(&out);
	image_free(&in);
}

TEST(center_crop_rounds_half_to_even)
{
	crop_box b = center_crop_box(257, 256, 224, 224); /* (33/2 = 16.5 -> 16, 32/2 = 16) */
	CHECKF(b.top == 16 && b.left == 16 && b.h == 224 && b.w == 224, "%d %d", b.top, b.left);
	b = center_crop_box(259, 261, 224, 224); /* 17.5 -> 18, 18.5 -> 18 */
	CHECKF(b.top == 18 && b.left == 18, "%d %d", b.top, b.left);
	b = center_crop_box(224, 225, 224, 224); /* 0, 0.5 -> 0 */
	CHECKF(b.top == 0 && b.left == 0, "%d %d", b.top, b.left);
	b = center_crop_box(256, 341, 224, 224); /* 16, 58.5 -> 58 */
	CHECKF(b.top == 16 && b.left == 58, "%d %d", b.top, b.left);
}

TEST(random_resized_crop_fallbacks)
{
	rng r;
	rng_init(&r, 1, 2);
	/* wide: every attempt is too tall -> h = H, w = round(H * 1.33) = round(13.3) = 13, centred */
	crop_box b = random_resized_crop_box(10, 1000, 1.0f, 1.0f, 0.75f, 1.33f, &r);
	CHECKF(b.h == 10 && b.w == 13 && b.top == 0 && b.left == 493, "%d %d %d %d", b.top, b.left, b.h, b.w);
	/* tall: w = W, h = round(10 / 0.75) = 13, top = (1000 - 13) // 2 = 493 */
	b = random_resized_crop_box(1000, 10, 1.0f, 1.0f, 0.75f, 1.33f, &r);
	CHECKF(b.w == 10 && b.h == 13 && b.top == 493 && b.left == 0, "%d %d %d %d", b.top, b.left, b.h, b.w);
	/* scale 2 can never fit: the ratio is inside the range, so the whole image */
	b = random_resized_crop_box(10, 12, 2.0f, 2.0f, 0.75f, 1.33f, &r);
	CHECKF(b.w == 12 && b.h == 10 && b.top == 0 && b.left == 0, "%d %d %d %d", b.top, b.left, b.h, b.w);
	/* round(7.5/0.75 = 10.0) exactly; and half-to-even: H * 1.25 = 2.5 -> 2 */
	b = random_resized_crop_box(2, 1000, 1.0f, 1.0f, 0.75f, 1.25f, &r);
	CHECKF(b.h == 2 && b.w == 2 && b.left == 499, "%d %d %d %d", b.top, b.left, b.h, b.w);
}

TEST(random_resized_crop_follows_get_params)
{
	/* replay the same stream by hand: per attempt scale then log-ratio, then top then left */
	for (uint64_t seed = 0; seed < 200; seed++) {
		rng a, b;
		rng_init(&a, 7, seed);
		rng_init(&b, 7, seed);
		int H = 256, W = 341 + (int)seed % 50;
		crop_box box = random_resized_crop_box(H, W, 0.16f, 1.0f, 0.75f, 1.33f, &a);
		crop_box want = {-1, -1, -1, -1};
		for (int t = 0; t < 10; t++) {
			float s = 0.16f + (1.0f - 0.16f) * rng_uniform(&b);
			float lr0 = logf(0.75f), lr1 = logf(1.33f);
			float ar = expf(lr0 + (lr1 - lr0) * rng_uniform(&b));
			double area = (double)H * W * s;
			double wf = sqrt(area * ar), hf = sqrt(area / ar);
			int w = (int)nearbyint(wf), h = (int)nearbyint(hf); /* default rounding mode: half to even */
			if (w > 0 && w <= W && h > 0 && h <= H) {
				want.h = h;
				want.w = w;
				want.top = (int)rng_below(&b, (uint32_t)(H - h + 1));
				want.left = (int)rng_below(&b, (uint32_t)(W - w + 1));
				break;
			}
		}
		CHECKF(want.h > 0, "seed %llu: no attempt accepted", (unsigned long long)seed);
		CHECKF(memcmp(&box, &want, sizeof box) == 0, "seed %llu: (%d %d %d %d) vs (%d %d %d %d)",
		       (unsigned long long)seed, box.top, box.left, box.h, box.w, want.top, want.left, want.h, want.w);
		CHECK(box.top + box.h <= H && box.left + box.w <= W);
		CHECK(box.h * box.w >= 0.16 * H * W * 0.9);
	}
}

TEST(to_tensor_flip_and_normalise)
{
	image_u8 im = {6, 8, 3, xmalloc(6 * 8 * 3)};
	for (int i = 0; i < 6 * 8 * 3; i++)
		im.px[i] = (uint8_t)(i * 37 + 11);
	const float mean[3] = {0.485f, 0.456f, 0.406f}, sd[3] = {0.229f, 0.224f, 0.225f};
	crop_box box = {1, 2, 4, 5};
	float a[3 * 4 * 5], b[3 * 4 * 5];
	/* same size as the box: no resampling, so every value is a known pixel */
	image_to_tensor(&im, box, 4, 5, 0, mean, sd, 3, a);
	image_to_tensor(&im, box, 4, 5, 1, mean, sd, 3, b);
	for (int c = 0; c < 3; c++)
		for (int y = 0; y < 4; y++)
			for (int x = 0; x < 5; x++) {
				uint8_t p = im.px[((1 + y) * 8 + 2 + x) * 3 + c];
				float want = ((float)p / 255.0f - mean[c]) / sd[c];
				CHECK_CLOSE(a[(c * 4 + y) * 5 + x], want, 0, 0);
				CHECK_CLOSE(b[(c * 4 + y) * 5 + (4 - x)], want, 0, 0);
			}
	/* resized: the tensor equals the resized pixels, normalised */
	float t[3 * 3 * 3];
	image_u8 res;
	image_resize_box(&im, 1, 2, 4, 5, 3, 3, &res);
	image_to_tensor(&im, box, 3, 3, 0, mean, sd, 3, t);
	for (int c = 0; c < 3; c++)
		for (int i = 0; i < 9; i++)
			CHECK_CLOSE(t[c * 9 + i], ((float)res.px[i * 3 + c] / 255.0f - mean[c]) / sd[c], 0, 0);
	image_free(&res);
	image_free(&im);
}

TEST(to_tensor_gray_replicated)
{
	image_u8 im = {2, 2, 1, xmalloc(4)};
	uint8_t v[4] = {0, 85, 170, 255};
	memcpy(im.px, v, 4);
	const float mean[3] = {0.5f, 0.5f, 0.5f}, sd[3] = {0.5f, 0.5f, 0.5f};
	float t[12];
	image_to_tensor(&im, (crop_box){0, 0, 2, 2}, 2, 2, 0, mean, sd, 3, t);
	for (int c = 0; c < 3; c++)
		for (int i = 0; i < 4; i++)
			CHECK_CLOSE(t[c * 4 + i], (v[i] / 255.0f - 0.5f) / 0.5f, 1e-7, 0);
	image_free(&im);
}

TEST(decode_png_round_trip_and_channels)
{
	image_u8 rgb = {5, 7, 3, xmalloc(5 * 7 * 3)}, gray = {4, 3, 1, xmalloc(12)}, d;
	for (int i = 0; i < 5 * 7 * 3; i++)
		rgb.px[i] = (uint8_t)(i * 13);
	for (int i = 0; i < 12; i++)
		gray.px[i] = (uint8_t)(i * 20);
	unsigned char *png;
	size_t len;
	char why[128];
	CHECK(image_encode_png(&rgb, &png, &len) == 0);
	CHECK(image_decode(png, len, 0, &d, why, sizeof why) == 0);
	CHECK(d.h == 5 && d.w == 7 && d.c == 3 && memcmp(d.px, rgb.px, 105) == 0);
	image_free(&d);
	/* RGB -> gray: PIL's L = (19595 R + 38470 G + 7471 B + 0x8000) >> 16 */
	CHECK(image_decode(png, len, 1, &d, why, sizeof why) == 0 && d.c == 1);
	for (int i = 0; i < 35; i++) {
		const uint8_t *p = rgb.px + 3 * i;
		CHECK(d.px[i] == (uint8_t)((p[0] * 19595 + p[1] * 38470 + p[2] * 7471 + 0x8000) >> 16));
	}
	image_free(&d);
	free(png);
	CHECK(image_encode_png(&gray, &png, &len) == 0);
	CHECK(image_decode(png, len, 0, &d, why, sizeof why) == 0 && d.c == 1 && memcmp(d.px, gray.px, 12) == 0);
	image_free(&d);
	CHECK(image_decode(png, len, 3, &d, why, sizeof why) == 0 && d.c == 3);
	for (int i = 0; i < 12; i++)
		CHECK(d.px[3 * i] == gray.px[i] && d.px[3 * i + 1] == gray.px[i] && d.px[3 * i + 2] == gray.px[i]);
	image_free(&d);
	/* corrupt: truncated PNG and garbage give an error with the decoder's reason */
	why[0] = 0;
	CHECK(image_decode(png, len / 2, 0, &d, why, sizeof why) == -1 && why[0] != 0);
	CHECK(image_decode("not an image at all", 19, 0, &d, why, sizeof why) == -1 && why[0] != 0);
	free(png);
	image_free(&rgb);
	image_free(&gray);
}

TEST(decode_jpeg_close_to_source)
{
	image_u8 im = {32, 48, 3, xmalloc(32 * 48 * 3)}, d;
	for (int y = 0; y < 32; y++)
		for (int x = 0; x < 48; x++)
			for (int c = 0; c < 3; c++)
				im.px[(y * 48 + x) * 3 + c] = (uint8_t)(x * 4 + y * 2 + c * 30);
	unsigned char *jpg;
	size_t len;
	char why[128];
	CHECK(image_encode_jpeg(&im, 95, &jpg, &len) == 0);
	CHECK(image_decode(jpg, len, 0, &d, why, sizeof why) == 0 && d.h == 32 && d.w == 48 && d.c == 3);
	double err = 0;
	for (int i = 0; i < 32 * 48 * 3; i++)
		err += abs((int)d.px[i] - (int)im.px[i]);
	CHECKF(err / (32 * 48 * 3) < 4, "mean abs error %.2f", err / (32 * 48 * 3));
	free(jpg);
	image_free(&d);
	image_free(&im);
}

int main(void)
{
	RUN(resize_matches_pil_goldens);
	RUN(resize_shorter_uses_torchvision_sizes);
	RUN(resize_constant_image_stays_constant);
	RUN(center_crop_rounds_half_to_even);
	RUN(random_resized_crop_fallbacks);
	RUN(random_resized_crop_follows_get_params);
	RUN(to_tensor_flip_and_normalise);
	RUN(to_tensor_gray_replicated);
	RUN(decode_png_round_trip_and_channels);
	RUN(decode_jpeg_close_to_source);
	return harness_finish();
}
