/* image.c: see image.h. Decoding is stb_image; resizing reproduces PIL 9.4's ImagingResample for 8-bit images
 * (Resample.c): a separable triangle filter whose support grows with the reduction factor, coefficients normalised
 * in double and then rounded to 22-bit fixed point, the horizontal pass first into an 8-bit intermediate image
 * (rounded and clipped, as PIL does), then the vertical pass. Matching those roundings is what makes the result
 * equal to PIL's, not merely close.
 */
#include "image.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* stb is a library here: its own warnings are not ours to fix */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wshadow"
#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_STDIO
#define STBI_FAILURE_USERMSG
#include "stb_image.h"

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO
#include "stb_image_write.h"
#pragma GCC diagnostic pop

void image_free(image_u8 *im)
{
	free(im->px);
	im->px = NULL;
	im->h = im->w = im->c = 0;
}

/* PIL's "L" conversion (ITU-R 601-2 luma in 16-bit fixed point, Convert.c L24). */
static uint8_t luma(const uint8_t *p) { return (uint8_t)((p[0] * 19595 + p[1] * 38470 + p[2] * 7471 + 0x8000) >> 16); }

int image_decode(const void *buf, size_t len, int want_c, image_u8 *out, char *why, size_t why_len)
{
	memset(out, 0, sizeof *out);
	if (len > INT32_MAX) {
		snprintf(why, why_len, "file too large to decode");
		return -1;
	}
	int w, h, n;
	unsigned char *px = stbi_load_from_memory(buf, (int)len, &w, &h, &n, 0);
	if (!px) {
		snprintf(why, why_len, "%s", stbi_failure_reason() ? stbi_failure_reason() : "unknown decoder error");
		return -1;
	}
	int gray_in = n <= 2;
	int c = want_c ? want_c : (gray_in ? 1 : 3);
	size_t npx = (size_t)w * h;
	uint8_t *o = xmalloc_array(npx, (size_t)c);
	for (size_t i = 0; i < npx; i++) {
		const uint8_t *s = px + i * n;
		if (c == 1)
			o[i] = gray_in ? s[0] : luma(s);
		else if (gray_in)
			o[3 * i] = o[3 * i + 1] = o[3 * i + 2] = s[0];
		else
			memcpy(o + 3 * i, s, 3); /* alpha dropped, as PIL's RGBA -> RGB does */
	}
	stbi_image_free(px);
	out->h = h;
	out->w = w;
	out->c = c;
	out->px = o;
	return 0;
}

int image_encode_png(const image_u8 *im, unsigned char **png, size_t *len)
{
	int n = 0;
	unsigned char *p = stbi_write_png_to_mem(im->px, im->w * im->c, im->w, im->h, im->c, &n);
	if (!p)
		return -1;
	*png = xmalloc((size_t)n);
	memcpy(*png, p, (size_t)n);
	STBIW_FREE(p);
	*len = (size_t)n;
	return 0;
}

struct jpg_ctx {
	unsigned char *p;
	size_t n, cap;
};

static void jpg_write(void *ctx, void *data, int size)
{
	struct jpg_ctx *j = ctx;
	if (j->n + (size_t)size > j->cap) {
		j->cap = 2 * (j->n + (size_t)size);
		j->p = xrealloc(j->p, j->cap);
	}
	memcpy(j->p + j->n, data, (size_t)size);
	j->n += (size_t)size;
}

int image_encode_jpeg(const image_u8 *im, int quality, unsigned char **jpg, size_t *len)
{
	struct jpg_ctx j = {0};
	if (!stbi_write_jpg_to_func(jpg_write, &j, im->w, im->h, im->c, im->px, quality)) {
		free(j.p);
		return -1;
	}
	*jpg = j.p;
	*len = j.n;
	return 0;
}

/* ---- PIL bilinear resampling ---------------------------------------------------------------------------- */

#define PRECISION_BITS (32 - 8 - 2)

typedef struct {
	int ksize;
	int *bounds; /* (out, 2): first input index, number of taps */
	int32_t *k;  /* (out, ksize): fixed-point weights */
} coeffs;

static double triangle(double x)
{
	if (x < 0)
		x = -x;
	return x < 1 ? 1 - x : 0;
}

/* PIL precompute_coeffs + normalize_coeffs_8bpc for the bilinear filter (support 1). */
static void precompute(int in_size, int out_size, coeffs *c)
{
	double scale = (double)in_size / out_size, filterscale = scale < 1 ? 1 : scale;
	double support = 1.0 * filterscale;
	int ksize = (int)ceil(support) * 2 + 1;
	double *kd = xmalloc_array((size_t)ksize, sizeof *kd);
	c->ksize = ksize;
	c->bounds = xmalloc_array((size_t)out_size * 2, sizeof *c->bounds);
	c->k = xmalloc_array((size_t)out_size * ksize, sizeof *c->k);
	for (int xx = 0; xx < out_size; xx++) {
		double center = (xx + 0.5) * scale, ww = 0, ss = 1.0 / filterscale;
		int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
		if (xmin < 0)
			xmin = 0;
		if (xmax > in_size)
			xmax = in_size;
		xmax -= xmin;
		for (int x = 0; x < xmax; x++) {
			kd[x] = triangle((x + xmin - center + 0.5) * ss);
			ww += kd[x];
		}
		int32_t *k = c->k + (size_t)xx * ksize;
		for (int x = 0; x < ksize; x++) {
			double v = x < xmax ? (ww != 0 ? kd[x] / ww : kd[x]) : 0;
			k[x] = v < 0 ? (int32_t)(-0.5 + v * (1 << PRECISION_BITS)) : (int32_t)(0.5 + v * (1 << PRECISION_BITS));
		}
		c->bounds[2 * xx] = xmin;
		c->bounds[2 * xx + 1] = xmax;
	}
	free(kd);
}

static void coeffs_free(coeffs *c)
{
	free(c->bounds);
	free(c->k);
}

static inline uint8_t clip8(int32_t v)
{
	if (v >= (1 << PRECISION_BITS << 8))
		return 255;
	if (v <= 0)
		return 0;
	return (uint8_t)(v >> PRECISION_BITS);
}

/* Horizontal pass: rows [y0, y0 + nrows) of the box, columns [left, left + bw) resampled to ow. */
static void resample_h(const image_u8 *in, int y0, int nrows, int left, const coeffs *c, int ow, uint8_t *dst)
{
	int ch = in->c;
	for (int y = 0; y < nrows; y++) {
		const uint8_t *row = in->px + ((size_t)(y0 + y) * in->w + left) * ch;
		uint8_t *o = dst + (size_t)y * ow * ch;
		for (int xx = 0; xx < ow; xx++) {
			int xmin = c->bounds[2 * xx], n = c->bounds[2 * xx + 1];
			const int32_t *k = c->k + (size_t)xx * c->ksize;
			const uint8_t *s = row + (size_t)xmin * ch;
			if (ch == 3) {
				int32_t a = 1 << (PRECISION_BITS - 1), b = a, d = a;
				for (int x = 0; x < n; x++) {
					a += s[3 * x] * k[x];
					b += s[3 * x + 1] * k[x];
					d += s[3 * x + 2] * k[x];
				}
				o[3 * xx] = clip8(a);
				o[3 * xx + 1] = clip8(b);
				o[3 * xx + 2] = clip8(d);
			} else {
				int32_t a = 1 << (PRECISION_BITS - 1);
				for (int x = 0; x < n; x++)
					a += s[x] * k[x];
				o[xx] = clip8(a);
			}
		}
	}
}

/* Vertical pass: src rows are `rowlen` bytes apart; ymin of the bounds is relative to src. */
static void resample_v(const uint8_t *src, size_t stride, size_t rowlen, const coeffs *c, int oh, uint8_t *dst)
{
	int32_t *acc = xmalloc_array(rowlen, sizeof *acc);
	for (int yy = 0; yy < oh; yy++) {
		int ymin = c->bounds[2 * yy], n = c->bounds[2 * yy + 1];
		const int32_t *k = c->k + (size_t)yy * c->ksize;
		for (size_t i = 0; i < rowlen; i++)
			acc[i] = 1 << (PRECISION_BITS - 1);
		for (int y = 0; y < n; y++) {
			const uint8_t *s = src + (size_t)(ymin + y) * stride;
			int32_t kv = k[y];
			for (size_t i = 0; i < rowlen; i++)
				acc[i] += s[i] * kv;
		}
		uint8_t *o = dst + (size_t)yy * rowlen;
		for (size_t i = 0; i < rowlen; i++)
			o[i] = clip8(acc[i]);
	}
	free(acc);
}

void image_resize_box(const image_u8 *in, int top, int left, int bh, int bw, int oh, int ow, image_u8 *out)
{
	if (top < 0 || left < 0 || bh < 1 || bw < 1 || top + bh > in->h || left + bw > in->w || oh < 1 || ow < 1)
		die("image_resize_box: box (%d, %d, %d, %d) or size %dx%d outside a %dx%d image", top, left, bh, bw, oh,
		    ow, in->h, in->w);
	int ch = in->c;
	out->h = oh;
	out->w = ow;
	out->c = ch;
	out->px = xmalloc_array((size_t)oh * ow, (size_t)ch);
	int need_h = ow != bw, need_v = oh != bh;
	coeffs cv = {0};
	if (need_v)
		precompute(bh, oh, &cv);
	if (!need_h) {
		if (!need_v) {
			for (int y = 0; y < oh; y++)
				memcpy(out->px + (size_t)y * ow * ch, in->px + ((size_t)(top + y) * in->w + left) * ch,
				       (size_t)ow * ch);
			return;
		}
		resample_v(in->px + ((size_t)top * in->w + left) * ch, (size_t)in->w * ch, (size_t)ow * ch, &cv, oh,
			   out->px);
		coeffs_free(&cv);
		return;
	}
	coeffs chz;
	precompute(bw, ow, &chz);
	if (!need_v) {
		resample_h(in, top, bh, left, &chz, ow, out->px);
		coeffs_free(&chz);
		return;
	}
	/* only the rows the vertical pass reads go through the horizontal pass (PIL's ybox_first/last) */
	int first = cv.bounds[0], last = cv.bounds[2 * oh - 2] + cv.bounds[2 * oh - 1];
	for (int i = 0; i < oh; i++)
		cv.bounds[2 * i] -= first;
	uint8_t *tmp = xmalloc_array((size_t)(last - first) * ow, (size_t)ch);
	resample_h(in, top + first, last - first, left, &chz, ow, tmp);
	resample_v(tmp, (size_t)ow * ch, (size_t)ow * ch, &cv, oh, out->px);
	free(tmp);
	coeffs_free(&chz);
	coeffs_free(&cv);
}

void image_resize_shorter(const image_u8 *in, int shorter, image_u8 *out)
{
	int oh, ow;
	if (in->h <= in->w) {
		oh = shorter;
		ow = (int)((int64_t)shorter * in->w / in->h);
	} else {
		ow = shorter;
		oh = (int)((int64_t)shorter * in->h / in->w);
	}
	if (oh < 1)
		oh = 1;
	if (ow < 1)
		ow = 1;
	image_resize_box(in, 0, 0, in->h, in->w, oh, ow, out);
}

/* ---- crops ----------------------------------------------------------------------------------------------- */

/* Python's round(): half to even. */
static long round_half_even(double x)
{
	double f = floor(x), d = x - f;
	long r = (long)f;
	if (d > 0.5 || (d == 0.5 && (r & 1)))
		r++;
	return r;
}

crop_box random_resized_crop_box(int H, int W, float scale_lo, float scale_hi, float ratio_lo, float ratio_hi,
				 rng *r)
{
	double area = (double)H * W;
	/* torchvision: log_ratio = torch.log(torch.tensor(ratio)) is float32; uniform_ and exp run in float32 */
	float lr0 = logf(ratio_lo), lr1 = logf(ratio_hi);
	for (int attempt = 0; attempt < 10; attempt++) {
		float s = scale_lo + (scale_hi - scale_lo) * rng_uniform(r);
		float ar = expf(lr0 + (lr1 - lr0) * rng_uniform(r));
		double target = area * (double)s;
		long w = round_half_even(sqrt(target * (double)ar));
		long h = round_half_even(sqrt(target / (double)ar));
		if (w > 0 && w <= W && h > 0 && h <= H) {
			crop_box b;
			b.h = (int)h;
			b.w = (int)w;
			b.top = (int)rng_below(r, (uint32_t)(H - h + 1));
			b.left = (int)rng_below(r, (uint32_t)(W - w + 1));
			return b;
		}
	}
	double in_ratio = (double)W / H, rmin = fmin(ratio_lo, ratio_hi), rmax = fmax(ratio_lo, ratio_hi);
	crop_box b;
	if (in_ratio < rmin) {
		b.w = W;
		b.h = (int)round_half_even(W / rmin);
	} else if (in_ratio > rmax) {
		b.h = H;
		b.w = (int)round_half_even(H * rmax);
	} else {
		b.w = W;
		b.h = H;
	}
	b.top = (H - b.h) / 2;
	b.left = (W - b.w) / 2;
	return b;
}

crop_box center_crop_box(int H, int W, int ch, int cw)
{
	crop_box b = {(int)round_half_even((H - ch) / 2.0), (int)round_half_even((W - cw) / 2.0), ch, cw};
	return b;
}

void image_to_tensor(const image_u8 *im, crop_box box, int oh, int ow, int flip, const float *mean, const float *std,
		     int out_c, float *out)
{
	image_u8 gray = {0}, res;
	const image_u8 *src = im;
	crop_box b = box;
	if (im->c == 3 && out_c == 1) { /* PIL converts to L before any resizing */
		gray.h = box.h;
		gray.w = box.w;
		gray.c = 1;
		gray.px = xmalloc_array((size_t)box.h, (size_t)box.w);
		for (int y = 0; y < box.h; y++)
			for (int x = 0; x < box.w; x++)
				gray.px[(size_t)y * box.w + x] =
					luma(im->px + ((size_t)(box.top + y) * im->w + box.left + x) * 3);
		src = &gray;
		b.top = b.left = 0;
	}
	image_resize_box(src, b.top, b.left, b.h, b.w, oh, ow, &res);
	size_t plane = (size_t)oh * ow;
	for (int c = 0; c < out_c; c++) {
		int sc = res.c == 1 ? 0 : c;
		float m = mean[c], sd = std[c];
		float *o = out + c * plane; /* (oh, ow) */
		for (int y = 0; y < oh; y++) {
			const uint8_t *row = res.px + (size_t)y * ow * res.c;
			for (int x = 0; x < ow; x++) {
				int sx = flip ? ow - 1 - x : x;
				float v = (float)row[(size_t)sx * res.c + sc] / 255.0f;
				o[(size_t)y * ow + x] = (v - m) / sd;
			}
		}
	}
	image_free(&res);
	image_free(&gray);
}
